"""permanent-redirect(-code), temporal-redirect(-code), relative-redirects, from-to-www-redirect.

ingress-nginx's redirect parser: a value that fails its validator rejects the Ingress; a URL whose scheme is
not http(s) makes the whole group ignored (with a warning); a code out of range falls back to the default
(302 for temporal, 301 for permanent).  The temporal redirect wins over the permanent one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingc import quote
from ingc.annotations.base import URL_IS_VALID, Fallback, Handler, Key, Values, regex_value, register_setting
from ingc.ir import Server
from ingc.settings import parse_bool, parse_int

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location, NginxConfig

register_setting("relative-redirects", parse_bool)


@dataclass(frozen=True)
class Redirect:
    url: str
    code: int
    from_to_www: bool
    relative: bool


def _url(v: str) -> str:
    return regex_value(URL_IS_VALID, "a URL (letters, digits and -._~/:,?&= only)")(v)


class RedirectHandler(Handler):
    name = "redirect"
    keys = (
        Key("temporal-redirect", _url, "answer every request with a temporary redirect to this URL",
            nginx="return <code> \"<url>\""),
        Key("temporal-redirect-code", parse_int, "status of the temporal redirect (300-307, else 302)", default=302,
            nginx="the <code> of return"),
        Key("permanent-redirect", _url, "answer every request with a permanent redirect to this URL",
            nginx="return <code> \"<url>\""),
        Key("permanent-redirect-code", parse_int, "status of the permanent redirect (300-308, else 301)",
            default=301, nginx="the <code> of return"),
        Key("relative-redirects", parse_bool, "redirects nginx issues keep a relative Location", default=False,
            nginx="absolute_redirect off"),
        Key("from-to-www-redirect", parse_bool, "redirect www.<host> to <host> (or the reverse)", default=False,
            nginx="server { server_name \"www.<host>\"; return 308 \"$scheme://<host>:$server_port...\"; }"),
    )

    def parse(self, v: Values, ctx: Ctx) -> Redirect | None:
        www = bool(v.get("from-to-www-redirect", False))
        rel = bool(v.get("relative-redirects", False))
        url, code = "", 0
        if v.get("temporal-redirect"):
            url = v.get("temporal-redirect")
            code = self.code(v, ctx, "temporal-redirect-code", 302, 307)
        elif v.get("permanent-redirect"):
            url = v.get("permanent-redirect")
            code = self.code(v, ctx, "permanent-redirect-code", 301, 308)
        if url and not urlsplit(url).scheme.startswith("http"):
            raise Fallback(f"redirect URL {url!r}: only http and https URLs are valid")
        if not (url or www or rel):
            return None
        return Redirect(url, code, www, rel)

    @staticmethod
    def code(v: Values, ctx: Ctx, key: str, default: int, highest: int) -> int:
        """ingress-nginx silently uses the default for a code outside 300..highest; ingc reports it."""
        code: int = v.get(key, default)
        if 300 <= code <= highest:
            return code
        ctx.diags.warning("A110", f"annotation {key!r}: {code} is not between 300 and {highest}; using {default}",
                          loc=v.loc(key), obj=v.ing.ref)
        ctx.note(v.ing.ref, key, "defaulted", f"{code} is not between 300 and {highest}")
        return default

    def location(self, feature: Redirect, loc: Location, ctx: Ctx) -> None:
        if loc.features.get("catch_all"):
            return  # ingress-nginx keeps redirects off the catch-all default backend
        if feature.url:
            loc.return_directive = ("return", str(feature.code), quote.ngx_quote(feature.url))
            loc.features["redirect"] = (feature.code, feature.url)
        if feature.relative:
            loc.directives.append(("absolute_redirect", "off"))

    def server(self, feature: Redirect, server: Server, ctx: Ctx) -> None:
        if feature.from_to_www:
            server.features["from_to_www"] = True

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        from ingc import x509
        from ingc.ir import Tls

        if ctx.settings.raw.get("relative-redirects", "").strip().lower() in ("true", "1", "t"):
            config.http_directives.append(("absolute_redirect", "off"))
        names = {s.hostname for s in config.servers} | {a for s in config.servers for a in s.aliases}
        for srv in list(config.servers):
            if not srv.features.get("from_to_www") or srv.hostname.startswith("*") or srv.is_default:
                continue
            host = srv.hostname
            other = host[4:] if host.startswith("www.") else f"www.{host}"
            if other in names:
                ctx.diags.info("A120", f"from-to-www-redirect: a server {other} already exists; no redirect server "
                               "added", obj=srv.origin.obj if srv.origin else None,
                               loc=srv.origin.loc if srv.origin else None)
                continue
            names.add(other)
            target = quote.ngx_quote(f"$scheme://{host}:$server_port$ingc_redirect_uri")
            red = Server(other, origin=srv.origin)
            red.features["redirect_to"] = host
            red.directives.append(("return", str(ctx.settings.http_redirect_code), target))
            if srv.tls is not None and not srv.tls.is_default:
                pem = config.files.get(srv.tls.file, b"")
                info = x509.parse_certificate(pem) if pem else None
                if info is not None and x509.covers(info, other):
                    red.tls = Tls(srv.tls.secret, srv.tls.file)
            config.servers.append(red)
