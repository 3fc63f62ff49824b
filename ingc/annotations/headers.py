"""enable-cors with every cors-* key, and custom-headers (a ConfigMap of response headers).

ingress-nginx sets these headers with headers-more's ``more_set_headers``; stock nginx has ``add_header ...
always`` (plus ``proxy_hide_header`` so the backend's own copy does not appear twice, which is what "set"
means).  CORS with an origin list: an http-level ``map $http_origin`` yields the request's Origin when it is
allowed (``""`` otherwise) and every CORS header takes its value from maps keyed on it, so a refused origin gets
no CORS header (``add_header`` skips empty values) - no ``if`` block carrying add_header, which would drop
the location's other headers.  A preflight (OPTIONS from an allowed origin) is answered 204 by
``if ($ingc_cors_pre_<id>) { return 204; }``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote
from ingc.annotations.base import (
    BASIC_CHARS,
    FALLBACK,
    Denied,
    Handler,
    Key,
    Values,
    namespaced_ref,
    regex_value,
    register_setting,
    setting,
)
from ingc.ir import Block
from ingc.settings import BadValue, parse_bool, parse_int

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Directive, Location, NginxConfig

DEFAULT_METHODS = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
DEFAULT_HEADERS = ("DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,"
                   "Authorization")
DEFAULT_MAX_AGE = 1728000
# Linear-time forms of ingress-nginx's validators (Go's RE2 is linear; their nested quantifiers backtrack
# exponentially in Python's re): same languages, every character matched by exactly one branch.
ORIGIN_LIST = re.compile(r"(?:\*\.|[A-Za-z0-9\-.]|:\d|(?<=[a-z])://|,)*|\*")
ORIGIN = re.compile(r"([a-z]+://(\*\.)?[A-Za-z0-9\-.]*(:\d+)?|\*|null)?")
METHODS = re.compile(r"[A-Za-z]+(?:(?:, ?| )[A-Za-z]+)*(?:, ?| )?")  # spaces only: no line breaks, no tabs
EXPOSE = re.compile(r"[A-Za-z0-9\-_*]+(?:(?:, ?| )[A-Za-z0-9\-_*]+)*(?:, ?| )?")
HEADER_NAME = re.compile(r"[a-zA-Z\d\-_]+")
HEADER_VALUE = re.compile(r"[a-zA-Z\d_ :;.,\\/\"'?!(){}\[\]@<>=\-+*#$&`|~^%]+")


def parse_origins(v: str) -> tuple[str, ...]:
    s = re.sub(r"\s", "", v)
    if not ORIGIN_LIST.fullmatch(s):
        raise BadValue(f"{v!r} is not a list of origins (scheme://[*.]host[:port], * or null)")
    out: list[str] = []
    for o in (p.strip() for p in v.split(",")):
        if not o:
            continue
        if o == "*":
            return ("*",)
        if ORIGIN.fullmatch(o) and (o == "null" or "://" in o):
            out.append(o)  # ingress-nginx skips origins without a scheme
    return tuple(out)


def parse_methods(v: str) -> str:
    if not METHODS.fullmatch(v.strip()):
        raise BadValue(f"{v!r} is not a list of HTTP methods")
    return v.strip()


def parse_allow_headers(v: str) -> str:
    return regex_value(r"[A-Za-z0-9\-_, ]*", "a list of header names")(v).strip()


def parse_expose(v: str) -> str:
    if not EXPOSE.fullmatch(v.strip()):
        raise BadValue(f"{v!r} is not a list of header names")
    return v.strip()


def parse_allowed_headers(v: str) -> tuple[str, ...]:
    out = tuple(h.strip() for h in v.split(",") if h.strip())
    for h in out:
        if not HEADER_NAME.fullmatch(h):
            raise BadValue(f"{h!r} is not a header name")
    return out


register_setting("global-allowed-response-headers", parse_allowed_headers)


@dataclass(frozen=True)
class Cors:
    origins: tuple[str, ...]
    methods: str
    headers: str
    credentials: bool
    expose: str
    max_age: int

    @property
    def ident(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:10]


def origin_regex(origins: tuple[str, ...]) -> str:
    parts = []
    for o in origins:
        rx = re.escape(o).replace(r"\*", r"[A-Za-z0-9\-]+", 1)
        parts.append(f"({rx})")
    return "~*^(" + "|".join(parts) + ")$"


class CorsHandler(Handler):
    name = "cors"
    keys = (
        Key("enable-cors", parse_bool, "answer CORS requests and preflights", default=False, invalid=FALLBACK,
            nginx="add_header Access-Control-Allow-* ... always; if ($ingc_cors_pre_<id>) { return 204; }"),
        Key("cors-allow-origin", parse_origins, "allowed origins (scheme://[*.]host[:port], * or null)",
            default="*", invalid=FALLBACK, nginx="map $http_origin $ingc_cors_origin_<id> { \"~*^(...)$\" "
            "$http_origin; }"),
        Key("cors-allow-methods", parse_methods, "Access-Control-Allow-Methods", default=DEFAULT_METHODS,
            invalid=FALLBACK, nginx="add_header Access-Control-Allow-Methods \"<value>\" always"),
        Key("cors-allow-headers", parse_allow_headers, "Access-Control-Allow-Headers", default=DEFAULT_HEADERS,
            invalid=FALLBACK, nginx="add_header Access-Control-Allow-Headers \"<value>\" always"),
        Key("cors-allow-credentials", parse_bool, "Access-Control-Allow-Credentials: true", default=True,
            invalid=FALLBACK, nginx="add_header Access-Control-Allow-Credentials \"true\" always"),
        Key("cors-expose-headers", parse_expose, "Access-Control-Expose-Headers", default="", invalid=FALLBACK,
            nginx="add_header Access-Control-Expose-Headers \"<value>\" always"),
        Key("cors-max-age", parse_int, "Access-Control-Max-Age (seconds)", default=DEFAULT_MAX_AGE,
            invalid=FALLBACK, nginx="add_header Access-Control-Max-Age <n> always"),
    )

    def parse(self, v: Values, ctx: Ctx) -> Cors | None:
        if not v.get("enable-cors", False):
            return None
        return Cors(origins=v.get("cors-allow-origin") or ("*",), methods=v.get("cors-allow-methods", DEFAULT_METHODS),
                    headers=v.get("cors-allow-headers") or DEFAULT_HEADERS,
                    credentials=bool(v.get("cors-allow-credentials", True)), expose=v.get("cors-expose-headers", ""),
                    max_age=v.get("cors-max-age", DEFAULT_MAX_AGE))

    def headers(self, c: Cors) -> list[tuple[str, str]]:
        out = [("Access-Control-Allow-Origin", "*" if c.origins == ("*",) else "$http_origin")]
        if c.credentials:
            out.append(("Access-Control-Allow-Credentials", "true"))
        out += [("Access-Control-Allow-Methods", c.methods), ("Access-Control-Allow-Headers", c.headers)]
        if c.expose:
            out.append(("Access-Control-Expose-Headers", c.expose))
        out.append(("Access-Control-Max-Age", str(c.max_age)))
        return out

    def location(self, feature: Cors, loc: Location, ctx: Ctx) -> None:
        out: list[Directive] = []
        if feature.origins == ("*",):
            for name, value in self.headers(feature):
                out += [("proxy_hide_header", name), ("add_header", name, quote.ngx_quote(value), "always")]
            loc.blocks.append(Block("if", ("($request_method", "=", "OPTIONS)"), [("return", "204")]))
        else:
            ident = feature.ident
            configs: dict[str, Cors] = ctx.state.setdefault("cors", {})
            configs[ident] = feature
            for i, (name, _) in enumerate(self.headers(feature)):
                var = f"$ingc_cors_origin_{ident}" if i == 0 else f"$ingc_cors_{ident}_{i}"
                out += [("proxy_hide_header", name), ("add_header", name, var, "always")]
            loc.blocks.append(Block("if", (f"($ingc_cors_pre_{ident})",), [("return", "204")]))
        loc.directives += out
        loc.features["cors"] = {"origins": list(feature.origins), "methods": feature.methods}

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        configs: dict[str, Cors] = ctx.state.get("cors", {})
        for ident in sorted(configs):
            c = configs[ident]
            origin = f"$ingc_cors_origin_{ident}"
            config.http_blocks.append(Block("map", ("$http_origin", origin), [
                ("default", '""'), (quote.ngx_quote(origin_regex(c.origins)), "$http_origin")]))
            for i, (_, value) in enumerate(self.headers(c)):
                if i == 0:
                    continue
                config.http_blocks.append(Block("map", (origin, f"$ingc_cors_{ident}_{i}"), [
                    ('""', '""'), ("default", quote.ngx_quote(value))]))
            config.http_blocks.append(Block("map", (f'"$request_method:{origin}"', f"$ingc_cors_pre_{ident}"), [
                ("default", "0"), ('"~^OPTIONS:."', "1")]))


@dataclass(frozen=True)
class CustomHeaders:
    headers: tuple[tuple[str, str], ...]


class CustomHeadersHandler(Handler):
    name = "custom-headers"
    keys = (
        Key("custom-headers", regex_value(BASIC_CHARS, "a ConfigMap reference", strip_spaces=True),
            "ConfigMap of response headers (each must be in the ConfigMap's global-allowed-response-headers)",
            invalid=FALLBACK, nginx="add_header <name> \"<value>\" always (literal $); proxy_hide_header <name>"),
    )

    def parse(self, v: Values, ctx: Ctx) -> CustomHeaders | None:
        ref = v.get("custom-headers")
        if not ref:
            return None
        ns, name = namespaced_ref(ref, v.ing, ctx, "custom-headers ConfigMap")
        cm = ctx.inventory.configmaps.get((ns, name))
        if cm is None:
            raise Denied(f"custom-headers ConfigMap {ns}/{name} not found")
        allowed = setting(ctx, "global-allowed-response-headers", parse_allowed_headers, ())
        out = []
        for k, val in sorted((cm.data.get("data") or {}).items()):
            k, val = str(k), str(val)
            if not HEADER_NAME.fullmatch(k):
                raise Denied(f"ConfigMap {ns}/{name}: {k!r} is not a header name")
            if not HEADER_VALUE.fullmatch(val):
                raise Denied(f"ConfigMap {ns}/{name}: the value of {k} has characters that are not allowed")
            if k not in allowed:
                raise Denied(f"header {k} is not in the ConfigMap's global-allowed-response-headers")
            out.append((k, val))
        return CustomHeaders(tuple(out))

    def location(self, feature: CustomHeaders, loc: Location, ctx: Ctx) -> None:
        for k, val in feature.headers:
            loc.directives += [("proxy_hide_header", k), ("add_header", k, quote.literal(val), "always")]
        loc.features["custom_headers"] = dict(feature.headers)
