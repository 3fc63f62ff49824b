"""TLS: ssl-ciphers, ssl-prefer-server-ciphers, client certificates (auth-tls-*) and certificates towards the
backends (proxy-ssl-*).

All of them are server-level in ingress-nginx: the first Ingress (oldest) that sets them for a host wins and
later ones are reported as ignored.  auth-tls-secret's ``ca.crt`` (and ``ca.crl``) and proxy-ssl-secret's
certificate, key and CA are written into the bundle under ``ssl/`` (0600), named after their content.  A
missing or unusable Secret denies the Ingress's locations and, for auth-tls, makes the whole server answer 403
- as ingress-nginx.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote, x509
from ingc.annotations.base import (
    BASIC_CHARS,
    FALLBACK,
    IS_VALID_REGEX,
    Denied,
    Handler,
    Key,
    Values,
    namespaced_ref,
    options,
    regex_value,
    register_setting,
    setting,
)
from ingc.ir import Block
from ingc.model import secret_data
from ingc.names import NameAllocator
from ingc.settings import BadValue, parse_bool, parse_int

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Directive, Location, NginxConfig, Server

SSL_CIPHERS = re.compile(r"(?:[A-Za-z0-9!:+\-_]|@STRENGTH|@SECLEVEL=[0-5])*")  # linear form of ingress-nginx's
PROXY_CIPHERS = re.compile(r"[A-Za-z0-9+:_\-!]*")
ERROR_PAGE = re.compile(r"(@[A-Za-z0-9_-]+|((https?://)?[A-Za-z0-9\-.]+(:\d+)?)?(/[A-Za-z0-9\-_.]+)*/?)")

register_setting("proxy-ssl-location-only", parse_bool)


def parse_ciphers(v: str) -> str:
    s = re.sub(r"\s", "", v)
    if not s or not SSL_CIPHERS.fullmatch(s):
        raise BadValue(f"{v!r} is not an OpenSSL cipher list")
    return s


def parse_match_cn(v: str) -> str:
    s = v.strip()
    if not s.startswith("CN="):
        raise BadValue(f"{v!r} must start with CN=")
    if "\n" in s or "\r" in s:
        raise BadValue("line breaks are not allowed")
    try:
        re.compile(s[3:])
    except re.error as exc:
        raise BadValue(f"{v!r} is not a valid regex: {exc}") from None
    if re.search(r"\$(?=[A-Za-z_{])", s):
        raise BadValue(f"{v!r}: '$' may only be a regex anchor")
    return s


def parse_error_page(v: str) -> str:
    s = re.sub(r"\s", "", v)
    if not s or not ERROR_PAGE.fullmatch(s):
        raise BadValue(f"{v!r} is not a URL, path or @named location")
    return s


def parse_proxy_protocols(v: str) -> str:
    if not re.fullmatch(r"(TLSv1\.2|TLSv1\.3| )*", v) or not v.strip():
        raise BadValue(f"{v!r} must list TLSv1.2 and/or TLSv1.3")
    return " ".join(sorted(set(v.split())))


def bundle_file(ctx: Ctx, kind: str, ns: str, name: str, data: bytes, where: object, obj: object) -> str:
    """``ssl/<kind>-<ns>-<name>-<sha>.pem`` (collision-free prefix, content-addressed), registered for the bundle."""
    names: NameAllocator = ctx.state.setdefault("tls-file-names", NameAllocator("TLS file", ctx.diags))
    base = names.name(f"ssl/{kind}-{ns}-{name}", f"{kind} {ns}/{name}")
    path = f"{base}-{hashlib.sha256(data).hexdigest()[:12]}.pem"
    files: dict[str, bytes] = ctx.state.setdefault("files", {})
    files[path] = data
    return path


def server_once(server: Server, key: str, ctx: Ctx, annotation: str) -> bool:
    """True for the first Ingress that sets ``key`` on this server; later ones are reported as ignored."""
    ing = ctx.ing
    who = f"{ing.namespace}/{ing.name}" if ing is not None else "?"
    owner = server.features.get(f"{key}_by")
    if owner is None:
        server.features[f"{key}_by"] = who
        return True
    if owner != who and ing is not None:
        ctx.diags.warning("A121", f"{annotation} for host {server.hostname} is already set by Ingress {owner}; "
                          "ignored here", loc=ing.loc("metadata", "annotations"), obj=ing.ref)
        ctx.note(ing.ref, annotation, "ignored", f"host {server.hostname}: set by {owner}")
    return False


@dataclass(frozen=True)
class SslCipher:
    ciphers: str | None
    prefer: bool | None


class SslCipherHandler(Handler):
    name = "ssl-cipher"
    keys = (
        Key("ssl-ciphers", parse_ciphers, "OpenSSL ciphers of the host's TLS listener", scope="server",
            nginx="ssl_ciphers \"<value>\" in the server"),
        Key("ssl-prefer-server-ciphers", parse_bool, "prefer the server's cipher order", scope="server",
            invalid=FALLBACK, nginx="ssl_prefer_server_ciphers on|off in the server"),
    )

    def parse(self, v: Values, ctx: Ctx) -> SslCipher | None:
        c = SslCipher(v.get("ssl-ciphers"), v.get("ssl-prefer-server-ciphers"))
        return None if c == SslCipher(None, None) else c

    def server(self, feature: SslCipher, server: Server, ctx: Ctx) -> None:
        if feature.ciphers and server_once(server, "ssl_ciphers", ctx, "ssl-ciphers"):
            server.directives.append(("ssl_ciphers", quote.ngx_quote(feature.ciphers)))
        if feature.prefer is not None and server_once(server, "ssl_prefer", ctx, "ssl-prefer-server-ciphers"):
            server.directives.append(("ssl_prefer_server_ciphers", "on" if feature.prefer else "off"))


@dataclass(frozen=True)
class AuthTls:
    error: str = ""
    ca_file: str = ""
    crl_file: str = ""
    verify: str = "on"
    depth: int = 1
    error_page: str = ""
    pass_cert: bool = False
    match_cn: str = ""


class AuthTlsHandler(Handler):
    name = "auth-tls"
    keys = (
        Key("auth-tls-secret", regex_value(BASIC_CHARS, "a Secret reference", strip_spaces=True),
            "Secret whose ca.crt verifies client certificates", scope="server",
            nginx="ssl_client_certificate ssl/ca-<ns>-<name>-<sha>.pem; ssl_verify_client; ssl_verify_depth"),
        Key("auth-tls-verify-client", options("on", "off", "optional", "optional_no_ca"),
            "whether a client certificate is required", default="on", invalid=FALLBACK, scope="server",
            nginx="ssl_verify_client <value>"),
        Key("auth-tls-verify-depth", parse_int, "verification depth of the client chain", default=1,
            invalid=FALLBACK, scope="server", nginx="ssl_verify_depth <n>"),
        Key("auth-tls-error-page", parse_error_page, "where to send clients whose certificate fails",
            scope="server", nginx="error_page 495 496 = \"<url>\""),
        Key("auth-tls-pass-certificate-to-upstream", parse_bool, "pass the client certificate to the backend",
            scope="server", nginx="proxy_set_header ssl-client-cert $ssl_client_escaped_cert"),
        Key("auth-tls-match-cn", parse_match_cn, "client certificate subject must match CN=<regex>",
            scope="server", nginx="if ($ssl_client_s_dn !~ \"CN=...\") { return 403 ...; }"),
    )

    def parse(self, v: Values, ctx: Ctx) -> AuthTls | None:
        ref = v.get("auth-tls-secret")
        if not ref:
            return None
        try:
            ns, name = namespaced_ref(ref, v.ing, ctx, "auth-tls-secret")
            obj = ctx.inventory.secrets.get((ns, name))
            if obj is None:
                raise Denied(f"auth-tls-secret {ns}/{name} not found")
            data = secret_data(obj)
            ca = data.get("ca.crt")
            if not ca or x509.parse_certificate(ca) is None:
                raise Denied(f"secret {ns}/{name} has no valid ca.crt")
        except Denied as exc:
            ctx.diags.warning("A113", f"auth-tls: {exc}; the host answers 403 and the Ingress's locations 503",
                              loc=v.loc("auth-tls-secret"), obj=v.ing.ref)
            ctx.note(v.ing.ref, "auth-tls-secret", "invalid", f"{exc}; locations answer 503")
            return AuthTls(error=str(exc))
        where = v.loc("auth-tls-secret")
        ca_file = bundle_file(ctx, "ca", ns, name, ca.rstrip(b"\n") + b"\n", where, v.ing.ref)
        crl = data.get("ca.crl")
        crl_file = bundle_file(ctx, "crl", ns, name, crl, where, v.ing.ref) if crl else ""
        depth = v.get("auth-tls-verify-depth", 1)
        return AuthTls(ca_file=ca_file, crl_file=crl_file, verify=v.get("auth-tls-verify-client", "on"),
                       depth=depth if depth > 0 else 1, error_page=v.get("auth-tls-error-page", ""),
                       pass_cert=bool(v.get("auth-tls-pass-certificate-to-upstream", False)),
                       match_cn=v.get("auth-tls-match-cn", ""))

    def server(self, feature: AuthTls, server: Server, ctx: Ctx) -> None:
        if not server_once(server, "auth_tls", ctx, "auth-tls-secret"):
            return
        server.features["auth_tls"] = feature
        if feature.error:
            server.directives.append(("return", "403"))
            return
        if feature.match_cn:
            server.blocks.append(Block("if", ("($ssl_client_s_dn", "!~", f"{quote.regex(feature.match_cn)})"),
                                       [("return", "403", '"client certificate unauthorized"')]))
        server.directives += [("ssl_client_certificate", quote.ngx_quote(feature.ca_file)),
                              ("ssl_verify_client", feature.verify), ("ssl_verify_depth", str(feature.depth))]
        if feature.crl_file:
            server.directives.append(("ssl_crl", quote.ngx_quote(feature.crl_file)))
        if feature.error_page:
            server.directives.append(("error_page", "495", "496", "=", quote.ngx_quote(feature.error_page)))

    def location(self, feature: AuthTls, loc: Location, ctx: Ctx) -> None:
        if feature.error:
            loc.status, loc.status_reason, loc.upstream = 503, feature.error, None
            loc.features["denied"] = feature.error

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        for srv in config.servers:
            a: AuthTls | None = srv.features.get("auth_tls")
            if a is None or a.error:
                continue
            for loc in srv.locations:
                if loc.internal or loc.status is not None:
                    continue
                hdr = "grpc_set_header" if loc.proxy.protocol in ("GRPC", "GRPCS") else "proxy_set_header"
                out: list[Directive] = []
                if a.pass_cert:
                    out.append((hdr, "ssl-client-cert", "$ssl_client_escaped_cert"))
                out += [(hdr, "ssl-client-verify", "$ssl_client_verify"),
                        (hdr, "ssl-client-subject-dn", "$ssl_client_s_dn"),
                        (hdr, "ssl-client-issuer-dn", "$ssl_client_i_dn")]
                loc.directives += out


@dataclass(frozen=True)
class ProxySsl:
    error: str = ""
    pem: str = ""
    ca: str = ""
    ciphers: str = "DEFAULT"
    protocols: str = "TLSv1.2"
    name: str = ""
    verify: str = "off"
    depth: int = 1
    server_name: str = "off"

    def directives(self) -> list[Directive]:
        out: list[Directive] = []
        if self.ca:
            out += [("proxy_ssl_trusted_certificate", quote.ngx_quote(self.ca)),
                    ("proxy_ssl_ciphers", quote.ngx_quote(self.ciphers)),
                    ("proxy_ssl_protocols", *self.protocols.split()), ("proxy_ssl_verify", self.verify),
                    ("proxy_ssl_verify_depth", str(self.depth))]
            if self.verify == "on":
                # nginx keeps one TLS session per upstream server for every location proxying to it; a session
                # made by a location that does not verify would be reused here unverified (and refused)
                out.append(("proxy_ssl_session_reuse", "off"))
        if self.name:
            out.append(("proxy_ssl_name", quote.ngx_quote(self.name)))
        out.append(("proxy_ssl_server_name", self.server_name))
        if self.pem:
            out += [("proxy_ssl_certificate", quote.ngx_quote(self.pem)),
                    ("proxy_ssl_certificate_key", quote.ngx_quote(self.pem))]
        return out


class ProxySslHandler(Handler):
    name = "proxy-ssl"
    keys = (
        Key("proxy-ssl-secret", regex_value(BASIC_CHARS, "a Secret reference", strip_spaces=True),
            "Secret with tls.crt/tls.key (client certificate) and ca.crt (trusted CA) for HTTPS backends",
            scope="server", nginx="proxy_ssl_certificate(_key), proxy_ssl_trusted_certificate (ssl/ files)"),
        Key("proxy-ssl-ciphers", regex_value(r"[A-Za-z0-9+:_\-!]*", "an OpenSSL cipher list", strip_spaces=True),
            "ciphers towards the backend", default="DEFAULT", invalid=FALLBACK, scope="server",
            nginx="proxy_ssl_ciphers \"<value>\""),
        Key("proxy-ssl-protocols", parse_proxy_protocols, "TLS versions towards the backend", default="TLSv1.2",
            invalid=FALLBACK, scope="server", nginx="proxy_ssl_protocols <versions>"),
        Key("proxy-ssl-name", regex_value(IS_VALID_REGEX.replace("$", ""), "a server name"),
            "server name checked in the backend's certificate and sent as SNI", invalid=FALLBACK, scope="server",
            nginx="proxy_ssl_name \"<value>\""),
        Key("proxy-ssl-verify", options("on", "off"), "verify the backend's certificate", default="off",
            invalid=FALLBACK, scope="server", nginx="proxy_ssl_verify on|off"),
        Key("proxy-ssl-verify-depth", parse_int, "verification depth of the backend chain", default=1,
            invalid=FALLBACK, scope="server", nginx="proxy_ssl_verify_depth <n>"),
        Key("proxy-ssl-server-name", options("on", "off"), "send SNI to the backend", default="off",
            invalid=FALLBACK, scope="server", nginx="proxy_ssl_server_name on|off"),
    )

    def parse(self, v: Values, ctx: Ctx) -> ProxySsl | None:
        ref = v.get("proxy-ssl-secret")
        if not ref:
            return None
        ns, name = namespaced_ref(ref, v.ing, ctx, "proxy-ssl-secret")
        obj = ctx.inventory.secrets.get((ns, name))
        if obj is None:
            raise Denied(f"proxy-ssl-secret {ns}/{name} not found")
        data = secret_data(obj)
        where = v.loc("proxy-ssl-secret")
        pem = ca = ""
        crt, key = data.get("tls.crt"), data.get("tls.key")
        if crt and key:
            problem = x509.check_pair(crt, key)
            if problem:
                raise Denied(f"secret {ns}/{name}: {problem}")
            pem = bundle_file(ctx, "proxy", ns, name, crt.rstrip(b"\n") + b"\n" + key.rstrip(b"\n") + b"\n", where,
                              v.ing.ref)
        if data.get("ca.crt"):
            if x509.parse_certificate(data["ca.crt"]) is None:
                raise Denied(f"secret {ns}/{name}: ca.crt is not a certificate")
            ca = bundle_file(ctx, "proxy-ca", ns, name, data["ca.crt"].rstrip(b"\n") + b"\n", where, v.ing.ref)
        if not pem and not ca:
            raise Denied(f"secret {ns}/{name} has neither tls.crt/tls.key nor ca.crt")
        depth = v.get("proxy-ssl-verify-depth", 1)
        return ProxySsl(pem=pem, ca=ca, ciphers=v.get("proxy-ssl-ciphers") or "DEFAULT",
                        protocols=v.get("proxy-ssl-protocols", "TLSv1.2"), name=v.get("proxy-ssl-name", ""),
                        verify=v.get("proxy-ssl-verify", "off"), depth=depth if depth > 0 else 1,
                        server_name=v.get("proxy-ssl-server-name", "off"))

    def server(self, feature: ProxySsl, server: Server, ctx: Ctx) -> None:
        if setting(ctx, "proxy-ssl-location-only", parse_bool, False):
            return
        if server_once(server, "proxy_ssl", ctx, "proxy-ssl-secret"):
            server.directives += feature.directives()

    def location(self, feature: ProxySsl, loc: Location, ctx: Ctx) -> None:
        if setting(ctx, "proxy-ssl-location-only", parse_bool, False):
            loc.directives += feature.directives()
        loc.features["proxy_ssl"] = {"verify": feature.verify, "name": feature.name}
