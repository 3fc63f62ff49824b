"""External authentication with auth_request: auth-url, auth-method, auth-signin (+ auth-signin-redirect-param),
auth-response-headers, auth-request-redirect, auth-always-set-cookie, auth-proxy-set-headers, enable-global-auth
and the ConfigMap's global-auth-* keys.

Every protected location gets ``auth_request /_external-auth-<base64url(path)>-<pathType>;`` and that internal
location proxies the subrequest to the auth service.  Differences from ingress-nginx (stock nginx only):
auth-keepalive* and auth-cache-* need Lua and are ignored with a warning (authentication still happens, each
request asks the auth service); the auth-signin redirect carries ``$request_uri`` unescaped, because stock nginx
has no ``set_escape_uri`` (set-misc module): a query string in the original URL becomes extra parameters of the
sign-in URL.  Where ingress-nginx would silently drop the whole group because of one bad value (an invalid
auth-request-redirect, auth-always-set-cookie or auth-cache-duration), ingc denies instead (fail closed).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from ingc import quote
from ingc.annotations.base import (
    BASIC_CHARS,
    DENY,
    FALLBACK,
    HEADERS_VARIABLE,
    URL_IS_VALID,
    URL_WITH_VARIABLE,
    Denied,
    Handler,
    Key,
    Values,
    any_value,
    check_variables,
    namespaced_ref,
    regex_value,
    register_setting,
    setting,
)
from ingc.annotations.basicauth import no_auth
from ingc.endpoints import valid_address
from ingc.ir import Block, Directive, Location
from ingc.settings import BadValue, parse_bool

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import NginxConfig

HEADER_NAME = re.compile(r"[a-zA-Z\d\-_]+")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE")
LUA_ONLY = "needs Lua in ingress-nginx; authentication still applies, without this optimisation"


def parse_url(v: str) -> str:
    s = regex_value(URL_WITH_VARIABLE.replace(" ", ""), "a URL (nginx variables allowed)")(v.strip())
    return check_variables(s)


def parse_method(v: str) -> str:
    s = v.strip()
    if s not in METHODS:
        raise BadValue(f"{v!r} must be one of {', '.join(METHODS)}")
    return s


def parse_headers(v: str) -> tuple[str, ...]:
    regex_value(HEADERS_VARIABLE, "a comma-separated list of header names", strip_spaces=True)(v)
    out = tuple(h.strip() for h in v.split(",") if h.strip())
    for h in out:
        if not HEADER_NAME.fullmatch(h):
            raise BadValue(f"{h!r} is not a header name")
    return out


def check_auth_url(url: str) -> str:
    """ingress-nginx's StringToURL: a scheme and a host are required (else the locations are denied)."""
    u = urlsplit(url)
    if not u.scheme or not u.netloc:
        raise Denied(f"auth-url {url!r} needs a scheme and a host")
    if ".." in u.netloc or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]${}_]+", u.netloc):
        raise Denied(f"auth-url {url!r} has an invalid host")
    return u.hostname or ""


for _key, _parser in (("global-auth-url", parse_url), ("global-auth-method", parse_method),
                      ("global-auth-signin", parse_url),
                      ("global-auth-signin-redirect-param", regex_value(URL_IS_VALID, "a parameter name")),
                      ("global-auth-response-headers", parse_headers),
                      ("global-auth-request-redirect", regex_value(URL_IS_VALID, "a URL")),
                      ("global-auth-always-set-cookie", parse_bool),
                      ("global-auth-cache-key", any_value), ("global-auth-cache-duration", any_value),
                      ("global-auth-snippet", any_value), ("enable-auth-access-log", parse_bool)):
    register_setting(_key, _parser)


@dataclass(frozen=True)
class ExtAuth:
    url: str
    host: str
    method: str = ""
    signin: str = ""
    signin_param: str = ""
    response_headers: tuple[str, ...] = ()
    request_redirect: str = ""
    always_set_cookie: bool = False
    proxy_set_headers: tuple[tuple[str, str], ...] = ()
    snippet: tuple[Directive | Block, ...] = ()
    is_global: bool = False


def _proxy_set_headers(ref: str, v: Values, ctx: Ctx) -> tuple[tuple[str, str], ...]:
    ns, name = namespaced_ref(ref, v.ing, ctx, "auth-proxy-set-headers ConfigMap")
    cm = ctx.inventory.configmaps.get((ns, name))
    if cm is None:
        raise Denied(f"auth-proxy-set-headers ConfigMap {ns}/{name} not found")
    out = []
    for k, val in sorted((cm.data.get("data") or {}).items()):
        if not HEADER_NAME.fullmatch(str(k)):
            raise Denied(f"ConfigMap {ns}/{name}: {k!r} is not a header name")
        try:
            check_variables(str(val))
            quote.check_no_control(str(val))
        except (BadValue, quote.UnsafeValue) as exc:
            raise Denied(f"ConfigMap {ns}/{name}: header {k}: {exc}") from None
        out.append((str(k), str(val)))
    return tuple(out)


class ExtAuthHandler(Handler):
    name = "external-auth"
    always = True  # the ConfigMap's global-auth-url protects every location
    keys = (
        Key("auth-url", parse_url, "URL of the auth service: 2xx lets the request through, 401/403 refuse it",
            nginx="auth_request /_external-auth-...; location = /_external-auth-... { proxy_pass <url>; }"),
        Key("auth-method", parse_method, "HTTP method of the auth subrequest", invalid=DENY,
            nginx="proxy_method <method> in the auth location"),
        Key("auth-signin", parse_url, "where to send the client when the auth service answers 401",
            invalid=FALLBACK, nginx="error_page 401 = @signin; return 302 \"<signin>?rd=$scheme://$http_host"
            "$request_uri\""),
        Key("auth-signin-redirect-param", regex_value(URL_IS_VALID, "a parameter name"),
            "name of the sign-in URL's parameter carrying the original URL", default="rd", invalid=FALLBACK,
            nginx="the ?<param>= of the sign-in redirect"),
        Key("auth-response-headers", parse_headers, "headers of the auth response passed on to the backend",
            invalid=DENY, nginx="auth_request_set $authHeaderN $upstream_http_<h>; proxy_set_header <H> $authHeaderN"),
        Key("auth-request-redirect", regex_value(URL_IS_VALID, "a URL", strip_spaces=True),
            "X-Auth-Request-Redirect sent to the auth service", invalid=DENY,
            nginx="proxy_set_header X-Auth-Request-Redirect \"<value>\""),
        Key("auth-always-set-cookie", parse_bool, "pass the auth service's Set-Cookie on every response",
            invalid=DENY, nginx="add_header Set-Cookie $auth_cookie always"),
        Key("auth-proxy-set-headers", regex_value(BASIC_CHARS, "a ConfigMap reference", strip_spaces=True),
            "ConfigMap of headers sent to the auth service", invalid=FALLBACK,
            nginx="proxy_set_header \"<name>\" \"<value>\" in the auth location"),
        Key("enable-global-auth", parse_bool, "apply the ConfigMap's global-auth-url to this Ingress",
            default=True, invalid=FALLBACK, nginx="no auth_request when false"),
        Key("auth-cache-key", any_value, "auth response cache key", unsupported=LUA_ONLY, restrictive=False),
        Key("auth-cache-duration", any_value, "auth response cache durations", unsupported=LUA_ONLY,
            restrictive=False),
        Key("auth-keepalive", any_value, "keepalive connections to the auth service", unsupported=LUA_ONLY,
            restrictive=False),
        Key("auth-keepalive-share-vars", any_value, "share variables with the auth subrequest",
            unsupported=LUA_ONLY, restrictive=False),
        Key("auth-keepalive-requests", any_value, "requests per auth keepalive connection", unsupported=LUA_ONLY,
            restrictive=False),
        Key("auth-keepalive-timeout", any_value, "auth keepalive idle timeout", unsupported=LUA_ONLY,
            restrictive=False),
    )

    def parse(self, v: Values, ctx: Ctx) -> ExtAuth | None:
        url = v.get("auth-url")
        if url is None:
            if not v.get("enable-global-auth", True):
                return None
            return self.global_auth(ctx)
        host = check_auth_url(url)
        if "$" in url and not ctx.options.resolver and not valid_address(host.strip("[]")):
            ctx.diags.warning("A128", f"auth-url {url!r} has nginx variables and the host name {host}: nginx needs "
                              "--resolver to reach it", loc=v.loc("auth-url"), obj=v.ing.ref)
        psh = v.get("auth-proxy-set-headers")
        return ExtAuth(
            url=url, host=host, method=v.get("auth-method", ""), signin=v.get("auth-signin", ""),
            signin_param=v.get("auth-signin-redirect-param", "") or "rd",
            response_headers=v.get("auth-response-headers", ()), request_redirect=v.get("auth-request-redirect", ""),
            always_set_cookie=bool(v.get("auth-always-set-cookie", False)),
            proxy_set_headers=_proxy_set_headers(psh, v, ctx) if psh else (),
            snippet=ctx.state.get(("auth-snippet", v.ing.ref), ()),
        )

    def global_auth(self, ctx: Ctx) -> ExtAuth | None:
        key = "global-auth"
        if key not in ctx.state:
            url = setting(ctx, "global-auth-url", parse_url, "")
            found = None
            if url:
                try:
                    host = check_auth_url(url)
                except Denied as exc:
                    ctx.diags.error("A130", f"ConfigMap global-auth-url: {exc}",
                                    loc=ctx.settings.locs.get("global-auth-url"))
                    host = ""
                if host:
                    found = ExtAuth(
                        url=url, host=host, method=setting(ctx, "global-auth-method", parse_method, ""),
                        signin=setting(ctx, "global-auth-signin", parse_url, ""),
                        signin_param=setting(ctx, "global-auth-signin-redirect-param", str, "") or "rd",
                        response_headers=setting(ctx, "global-auth-response-headers", parse_headers, ()),
                        request_redirect=setting(ctx, "global-auth-request-redirect", str, ""),
                        always_set_cookie=setting(ctx, "global-auth-always-set-cookie", parse_bool, False),
                        is_global=True)
                for k in ("global-auth-cache-key", "global-auth-cache-duration", "global-auth-snippet"):
                    if ctx.settings.raw.get(k):
                        ctx.diags.warning("A131", f"ConfigMap key {k!r} is not applied by ingc (Lua or raw "
                                          "configuration)")
            ctx.state[key] = found
        found_auth: ExtAuth | None = ctx.state[key]
        return found_auth

    def location(self, feature: ExtAuth, loc: Location, ctx: Ctx) -> None:
        if no_auth(loc, ctx) or loc.internal:
            return
        grpc = loc.proxy.protocol in ("GRPC", "GRPCS")
        hdr = "grpc_set_header" if grpc else "proxy_set_header"
        path_type = loc.path_type
        auth_path = f"/_external-auth-{base64.urlsafe_b64encode(loc.path.encode()).decode().rstrip('=')}-{path_type}"
        loc.access.append(("auth_request", quote.ngx_quote(auth_path)))
        loc.access.append(("auth_request_set", "$auth_cookie", "$upstream_http_set_cookie"))
        loc.directives.append(("add_header", "Set-Cookie", "$auth_cookie", *(("always",) if feature.always_set_cookie
                                                                             else ())))
        for i, h in enumerate(feature.response_headers):
            var = "$upstream_http_" + h.lower().replace("-", "_")
            loc.access.append(("auth_request_set", f"$authHeader{i}", var))
            loc.directives.append((hdr, quote.ngx_quote(h), f"$authHeader{i}"))
        loc.extra.append(self.auth_location(feature, loc, auth_path))
        if feature.signin:
            name = "@ingc_signin_" + hashlib.sha1((loc.path + feature.signin).encode()).hexdigest()[:16]
            loc.directives.append(("error_page", "401", "=", quote.ngx_quote(name)))
            signin = Location(name, "Exact", "", name, None, internal=True,
                              raw=[("internal",), ("add_header", "Set-Cookie", "$auth_cookie"),
                                   ("return", "302", quote.ngx_quote(self.signin_url(feature)))])
            loc.extra.append(signin)
        loc.features["external_auth"] = {"url": feature.url, "location": auth_path, "global": feature.is_global}

    @staticmethod
    def signin_url(a: ExtAuth) -> str:
        param = a.signin_param or "rd"
        query = urlsplit(a.signin).query
        if not query:
            return f"{a.signin}?{param}=$scheme://$http_host$request_uri"
        if parse_qs(query).get(param):
            return a.signin
        return f"{a.signin}&{param}=$scheme://$http_host$request_uri"

    def auth_location(self, a: ExtAuth, loc: Location, auth_path: str) -> Location:
        p = loc.proxy
        body: list[Directive | Block] = [("internal",)]
        body.append(("access_log", "off"))
        body += [
            ("set", "$proxy_upstream_name", quote.literal(loc.upstream or "-")),
            ("proxy_intercept_errors", "off"),
            ("proxy_pass_request_body", "off"),
            ("proxy_set_header", "Content-Length", '""'),
            ("proxy_set_header", "X-Forwarded-Proto", '""'),
            ("proxy_set_header", "X-Request-ID", "$req_id"),
        ]
        if a.method:
            body += [("proxy_method", a.method), ("proxy_set_header", "X-Original-URI", "$request_uri"),
                     ("proxy_set_header", "X-Scheme", "$scheme")]
        body += [
            ("proxy_set_header", "Host", quote.ngx_quote(a.host)),
            ("proxy_set_header", "X-Original-URL", '"$scheme://$http_host$request_uri"'),
            ("proxy_set_header", "X-Original-Method", "$request_method"),
            ("proxy_set_header", "X-Sent-From", '"nginx-ingress-controller"'),
            ("proxy_set_header", "X-Real-IP", "$remote_addr"),
            ("proxy_set_header", "X-Forwarded-For", "$remote_addr"),
            ("proxy_set_header", "X-Auth-Request-Redirect",
             quote.ngx_quote(a.request_redirect) if a.request_redirect else "$request_uri"),
            ("proxy_buffering", p.buffering),
            ("proxy_buffer_size", p.buffer_size),
            ("proxy_buffers", str(p.buffers_number), p.buffer_size),
        ]
        if p.busy_buffers_size:
            body.append(("proxy_busy_buffers_size", p.busy_buffers_size))
        body += [
            ("proxy_request_buffering", p.request_buffering),
            ("proxy_ssl_server_name", "on"),
            ("proxy_pass_request_headers", "on"),
            ("client_max_body_size", p.body_size),
        ]
        if p.client_body_buffer_size:
            body.append(("client_body_buffer_size", p.client_body_buffer_size))
        body += [("proxy_set_header", quote.ngx_quote(k), quote.ngx_quote(val)) for k, val in a.proxy_set_headers]
        body += a.snippet
        body.append(("proxy_http_version", p.http_version))
        if "$" in a.url:
            body += [("set", "$target", quote.ngx_quote(a.url)), ("proxy_pass", "$target")]
        else:
            body.append(("proxy_pass", quote.ngx_quote(a.url)))
        out = Location(auth_path, "Exact", "=", auth_path, None, internal=True, raw=list(body))
        out.features["auth_for"] = loc.path
        return out

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        pass
