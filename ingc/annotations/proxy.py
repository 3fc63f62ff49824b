"""Proxy tuning: every proxy-* key, client-body-buffer-size, connection-proxy-header, upstream-vhost,
use-port-in-redirects, enable-access-log, enable-rewrite-log.

ingress-nginx falls back to the ConfigMap default for every invalid proxy-* value (and for the port and log
switches); an invalid client-body-buffer-size, connection-proxy-header or upstream-vhost rejects the Ingress.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingc import quote
from ingc.annotations.base import (
    FALLBACK,
    IS_VALID_REGEX,
    URL_IS_VALID,
    Handler,
    Key,
    Values,
    check_variables,
    options,
    regex_value,
    register_setting,
    setting,
)
from ingc.settings import BadValue, parse_bool, parse_next_upstream

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location

SIZE = re.compile(r"(?i)\d+[bkmg]?")


def parse_size(v: str) -> str:
    s = re.sub(r"\s", "", v)
    if not SIZE.fullmatch(s):
        raise BadValue(f"{v!r} is not a size (like 8k, 1m, 512)")
    return s[:-1] if s[-1] in "bB" else s  # nginx has no "b" suffix: a plain number is bytes


def parse_seconds(v: str) -> int:
    s = v.strip()
    if not re.fullmatch(r"\d{1,9}", s):
        raise BadValue(f"{v!r} is not a number of seconds")
    return int(s)


def parse_count(v: str) -> int:
    return parse_seconds(v)


def _pair(pattern: str, what: str) -> Any:
    check = regex_value(pattern, what, strip_spaces=True)

    def parse(v: str) -> str:
        check(v)
        parts = v.split()
        if not parts or len(parts) > 2:
            raise BadValue(f"{v!r} must be 'off' or two values 'from to'")
        return " ".join(parts)

    return parse


parse_cookie_path = _pair(URL_IS_VALID, "a cookie path rewrite")
parse_redirect_part = _pair(URL_IS_VALID, "a URL")
_cookie_domain_rx = re.compile(rf"off|[{URL_IS_VALID[1:-2]}]+\s+[{URL_IS_VALID[1:-2]}]+")


def parse_cookie_domain(v: str) -> str:
    if not _cookie_domain_rx.fullmatch(v.strip()):
        raise BadValue(f"{v!r} must be 'off' or 'from-domain to-domain'")
    return " ".join(v.split())


for _k, _p in (("proxy-cookie-path", parse_cookie_path), ("proxy-cookie-domain", parse_cookie_domain),
               ("proxy-redirect-from", parse_redirect_part), ("proxy-redirect-to", parse_redirect_part)):
    register_setting(_k, _p)


def _set_pair(value: str) -> tuple[str, ...]:
    parts = value.split()
    if parts == ["off"]:
        return ("off",)
    return tuple(quote.literal(p) for p in parts)


@dataclass(frozen=True)
class Proxy:
    values: dict[str, Any] = field(default_factory=dict)  # ProxySettings field -> value
    redirect_from: str | None = None
    redirect_to: str | None = None


FIELDS = {
    "proxy-connect-timeout": ("connect_timeout", parse_seconds, "proxy_connect_timeout <n>s (grpc_connect_timeout)"),
    "proxy-send-timeout": ("send_timeout", parse_seconds, "proxy_send_timeout <n>s"),
    "proxy-read-timeout": ("read_timeout", parse_seconds, "proxy_read_timeout <n>s"),
    "proxy-buffers-number": ("buffers_number", parse_count, "proxy_buffers <n> <size>"),
    "proxy-buffer-size": ("buffer_size", parse_size, "proxy_buffer_size <size>; proxy_buffers <n> <size>"),
    "proxy-busy-buffers-size": ("busy_buffers_size", parse_size, "proxy_busy_buffers_size <size>"),
    "proxy-body-size": ("body_size", parse_size, "client_max_body_size <size> (413 above it)"),
    "proxy-max-temp-file-size": ("max_temp_file_size", parse_size, "proxy_max_temp_file_size <size>"),
    "proxy-buffering": ("buffering", options("on", "off"), "proxy_buffering on|off"),
    "proxy-request-buffering": ("request_buffering", options("on", "off"), "proxy_request_buffering on|off"),
    "proxy-http-version": ("http_version", options("1.0", "1.1"), "proxy_http_version 1.0|1.1"),
    "proxy-next-upstream": ("next_upstream", parse_next_upstream, "proxy_next_upstream <conditions>"),
    "proxy-next-upstream-timeout": ("next_upstream_timeout", parse_seconds, "proxy_next_upstream_timeout <n>"),
    "proxy-next-upstream-tries": ("next_upstream_tries", parse_count, "proxy_next_upstream_tries <n>"),
    "proxy-cookie-path": ("cookie_path", parse_cookie_path, "proxy_cookie_path off|\"<from>\" \"<to>\""),
    "proxy-cookie-domain": ("cookie_domain", parse_cookie_domain, "proxy_cookie_domain off|\"<from>\" \"<to>\""),
}
DOCS = {
    "proxy-connect-timeout": "seconds to wait for the connection to the backend",
    "proxy-send-timeout": "seconds between two writes to the backend",
    "proxy-read-timeout": "seconds between two reads from the backend",
    "proxy-buffers-number": "number of response buffers",
    "proxy-buffer-size": "size of the response header buffer (and of each buffer)",
    "proxy-busy-buffers-size": "size of buffers busy sending to the client",
    "proxy-body-size": "largest request body accepted",
    "proxy-max-temp-file-size": "largest temporary file for a buffered response",
    "proxy-buffering": "buffer responses from the backend",
    "proxy-request-buffering": "buffer the request body before proxying",
    "proxy-http-version": "HTTP version spoken to the backend",
    "proxy-next-upstream": "when to try the next endpoint",
    "proxy-next-upstream-timeout": "time limit for trying further endpoints (0: none)",
    "proxy-next-upstream-tries": "how many endpoints to try (0: no limit)",
    "proxy-cookie-path": "rewrite the path of Set-Cookie headers ('from to' or off)",
    "proxy-cookie-domain": "rewrite the domain of Set-Cookie headers ('from to' or off)",
}


class ProxyHandler(Handler):
    name = "proxy"
    always = True  # proxy-cookie-*/proxy-redirect-* may come from the ConfigMap
    keys = (
        *(Key(k, p, DOCS[k], invalid=FALLBACK, nginx=n) for k, (_, p, n) in FIELDS.items()),
        Key("proxy-redirect-from", parse_redirect_part, "first argument of proxy_redirect (off, default or a URL)",
            invalid=FALLBACK, nginx="proxy_redirect off|default|\"<from>\" \"<to>\""),
        Key("proxy-redirect-to", parse_redirect_part, "second argument of proxy_redirect", invalid=FALLBACK,
            nginx="proxy_redirect \"<from>\" \"<to>\""),
    )

    def parse(self, v: Values, ctx: Ctx) -> Proxy | None:
        values: dict[str, Any] = {}
        for key, (attr, parser, _) in FIELDS.items():
            if v.has(key):
                values[attr] = v.get(key)
            elif key in ("proxy-cookie-path", "proxy-cookie-domain"):
                d = setting(ctx, key, parser, None)
                if d is not None:
                    values[attr] = d
        rfrom = v.get("proxy-redirect-from") or setting(ctx, "proxy-redirect-from", parse_redirect_part, None)
        rto = v.get("proxy-redirect-to") or setting(ctx, "proxy-redirect-to", parse_redirect_part, None)
        if not values and rfrom is None and rto is None:
            return None
        return Proxy(values, rfrom, rto)

    def location(self, feature: Proxy, loc: Location, ctx: Ctx) -> None:
        p = loc.proxy
        for attr, value in feature.values.items():
            setattr(p, attr, value)  # cookie_path/cookie_domain are quoted by the prepare pass
        rfrom, rto = feature.redirect_from or "off", feature.redirect_to or "off"
        if rfrom in ("off", "default"):
            p.redirect = (rfrom,)
        elif rto != "off":
            p.redirect = (*_set_pair(rfrom), *_set_pair(rto))
        else:
            p.redirect = ("default",)  # ingress-nginx emits nothing: nginx's default applies


@dataclass(frozen=True)
class Misc:
    body_buffer: str | None = None
    connection: str | None = None
    vhost: str | None = None
    port_in_redirect: bool = False
    access_log: bool = True
    rewrite_log: bool = False
    push_preload: bool = False


class MiscHandler(Handler):
    name = "location-misc"
    always = True  # use-port-in-redirects comes from the ConfigMap
    keys = (
        Key("client-body-buffer-size", parse_size, "buffer size for reading the request body",
            nginx="client_body_buffer_size <size>"),
        Key("connection-proxy-header", options("close", "keep-alive"), "Connection header sent to the backend",
            nginx="proxy_set_header Connection <value>"),
        Key("upstream-vhost", lambda s: check_variables(regex_value(IS_VALID_REGEX, "a server name")(s)),
            "Host header sent to the backend", nginx="proxy_set_header Host \"<value>\" (allowlisted variables)"),
        Key("use-port-in-redirects", parse_bool, "keep the port in redirects nginx issues", invalid=FALLBACK,
            nginx="port_in_redirect on"),
        Key("enable-access-log", parse_bool, "log requests of these locations", default=True, invalid=FALLBACK,
            nginx="access_log off when false"),
        Key("enable-rewrite-log", parse_bool, "log rewrite decisions (notice level)", default=False,
            invalid=FALLBACK, nginx="rewrite_log on"),
        Key("http2-push-preload", parse_bool, "HTTP/2 server push of Link: preload resources (nginx < 1.25.1)",
            default=False, nginx="http2_push_preload on"),
    )

    def parse(self, v: Values, ctx: Ctx) -> Misc | None:
        m = Misc(
            body_buffer=v.get("client-body-buffer-size"),
            connection=v.get("connection-proxy-header"),
            vhost=v.get("upstream-vhost"),
            port_in_redirect=bool(v.get("use-port-in-redirects", ctx.settings.use_port_in_redirects)),
            access_log=bool(v.get("enable-access-log", True)),
            rewrite_log=bool(v.get("enable-rewrite-log", False)),
            push_preload=bool(v.get("http2-push-preload", False)),
        )
        return None if m == Misc() else m

    def location(self, feature: Misc, loc: Location, ctx: Ctx) -> None:
        if feature.body_buffer:
            loc.proxy.client_body_buffer_size = feature.body_buffer
        if feature.connection:
            loc.proxy.connection_header = feature.connection
        if feature.vhost:
            loc.proxy.host_header = quote.ngx_quote(feature.vhost)
        loc.port_in_redirect = feature.port_in_redirect
        if not feature.access_log:
            loc.directives.append(("access_log", "off"))
        if feature.rewrite_log:
            loc.directives.append(("rewrite_log", "on"))
        if feature.push_preload:
            loc.directives.append(("http2_push_preload", "on"))
