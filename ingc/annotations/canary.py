"""Canary releases on stock nginx: canary, canary-weight(-total), canary-by-header(-value, -pattern),
canary-by-cookie.

A canary Ingress never makes servers or locations: each of its paths attaches to the main Ingress's location of
the same host, path and pathType (at most one canary per location), whose ``proxy_pass`` then goes to
``http://$ingc_canary_<id>`` - a variable that names one of the two upstream blocks.  At http level:

    map $http_<header> $ingc_canary_<id> { default $ingc_canary_c_<id>; "always" <canary>; "never" <main>; }
    map $http_cookie $ingc_canary_c_<id> { default $ingc_canary_w_<id>; "~(^|;\\s*)<cookie>=always(;|$)" <canary>;
                                           "~(^|;\\s*)<cookie>=never(;|$)" <main>; }
    split_clients "$request_id" $ingc_canary_w_<id> { <weight>% <canary>; * <main>; }

so the precedence is ingress-nginx's: header, then cookie, then weight.  With canary-by-header-value (or
-pattern) a matching header selects the canary and any other value falls through to the cookie and the weight.
The weight draw is per request (``$request_id`` is random), like ingress-nginx's Lua balancer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingc import quote
from ingc.annotations.base import (
    BASIC_CHARS,
    FALLBACK,
    IS_VALID_REGEX,
    Fallback,
    Handler,
    Key,
    Values,
    regex_value,
)
from ingc.annotations.engine import STATE_DEFAULTS, apply_upstream, parse_annotations
from ingc.ir import Block
from ingc.names import short_hash
from ingc.settings import BadValue, parse_bool, parse_int

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Directive, Location, NginxConfig
    from ingc.model import Ingress

CANARY_KEYS = ("canary", "canary-weight", "canary-weight-total", "canary-by-header", "canary-by-header-value",
               "canary-by-header-pattern", "canary-by-cookie")
HEADER = re.compile(r"[A-Za-z0-9_\-]+")


def parse_pattern(v: str) -> str:
    s = regex_value(IS_VALID_REGEX, "a regular expression")(v)
    try:
        re.compile(s)
    except re.error as exc:
        raise BadValue(f"{v!r} is not a regular expression: {exc}") from None
    if re.search(r"\$(?=[A-Za-z_{])", s):
        raise BadValue(f"{v!r}: '$' may only be a regex anchor")
    return s


@dataclass(frozen=True)
class Canary:
    weight: int = 0
    total: int = 100
    header: str = ""
    header_value: str = ""
    header_pattern: str = ""
    cookie: str = ""


class CanaryHandler(Handler):
    name = "canary"
    keys = (
        Key("canary", parse_bool, "this Ingress is a canary of the Ingress with the same host and path",
            default=False, invalid=FALLBACK, scope="ingress", nginx="proxy_pass http://$ingc_canary_<id> in the main "
            "location"),
        Key("canary-weight", parse_int, "share of requests sent to the canary (out of canary-weight-total)",
            default=0, invalid=FALLBACK, scope="ingress",
            nginx="split_clients \"$request_id\" $ingc_canary_w_<id> { <w>% <canary>; * <main>; }"),
        Key("canary-weight-total", parse_int, "total weight", default=100, invalid=FALLBACK, scope="ingress",
            nginx="the percentage of split_clients"),
        Key("canary-by-header", regex_value(BASIC_CHARS, "a header name", strip_spaces=True),
            "header selecting the canary (always) or the main backend (never)", invalid=FALLBACK, scope="ingress",
            nginx="map $http_<header> $ingc_canary_<id> { always <canary>; never <main>; }"),
        Key("canary-by-header-value", regex_value(BASIC_CHARS, "a header value", strip_spaces=True),
            "header value selecting the canary", invalid=FALLBACK, scope="ingress",
            nginx="map $http_<header> ... { \"<value>\" <canary>; }"),
        Key("canary-by-header-pattern", parse_pattern, "regex on the header selecting the canary", invalid=FALLBACK,
            scope="ingress", nginx="map $http_<header> ... { \"~<pattern>\" <canary>; }"),
        Key("canary-by-cookie", regex_value(BASIC_CHARS, "a cookie name", strip_spaces=True),
            "cookie selecting the canary (always) or the main backend (never)", invalid=FALLBACK, scope="ingress",
            nginx="map $http_cookie $ingc_canary_c_<id> { \"~<cookie>=always\" <canary>; ... }"),
    )

    def parse(self, v: Values, ctx: Ctx) -> Canary | None:
        enabled = bool(v.get("canary", False))
        c = Canary(weight=v.get("canary-weight", 0), total=v.get("canary-weight-total", 100),
                   header=v.get("canary-by-header", ""), header_value=v.get("canary-by-header-value", ""),
                   header_pattern=v.get("canary-by-header-pattern", ""), cookie=v.get("canary-by-cookie", ""))
        if not enabled:
            if c != Canary(total=c.total):
                raise Fallback("canary-* annotations need canary: \"true\"")
            return None
        if c.header and not HEADER.fullmatch(c.header):
            ctx.diags.warning("A110", f"canary-by-header {c.header!r} cannot be an nginx variable name; ignored",
                              loc=v.loc("canary-by-header"), obj=v.ing.ref)
            ctx.note(v.ing.ref, "canary-by-header", "defaulted", "not usable as an nginx header variable")
            c = Canary(c.weight, c.total, "", "", "", c.cookie)
        if c.total <= 0:
            c = Canary(c.weight, 100, c.header, c.header_value, c.header_pattern, c.cookie)
        return c

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        entries: list[tuple[str, str, str, Canary]] = ctx.state.get("canary-maps", [])
        for ident, main, alt, c in sorted(entries, key=lambda e: e[0]):
            m, a = quote.ngx_quote(main), quote.ngx_quote(alt)
            weight_var = m
            if c.weight > 0:
                share = min(c.weight, c.total) * 100 / c.total
                if share >= 100:
                    weight_var = a
                else:
                    weight_var = f"$ingc_canary_w_{ident}"
                    pct = f"{share:.2f}".rstrip("0").rstrip(".")
                    config.http_blocks.append(Block("split_clients", ('"$request_id"', weight_var),
                                                    [(f"{pct}%", a), ("*", m)]))
            cookie_var = weight_var
            if c.cookie:
                cookie_var = f"$ingc_canary_c_{ident}"
                name = re.escape(c.cookie)
                config.http_blocks.append(Block("map", ("$http_cookie", cookie_var), [
                    ("default", weight_var),
                    (quote.ngx_quote(f"~(?:^|;\\s*){name}=always(?:;|$)"), a),
                    (quote.ngx_quote(f"~(?:^|;\\s*){name}=never(?:;|$)"), m)]))
            final = f"$ingc_canary_{ident}"
            if c.header:
                var = "$http_" + c.header.lower().replace("-", "_")
                rows: list[Directive] = [("default", cookie_var)]
                if c.header_value:
                    rows.append((map_key(c.header_value), a))
                elif c.header_pattern:
                    rows.append((quote.ngx_quote("~" + c.header_pattern), a))
                else:
                    rows += [('"always"', a), ('"never"', m)]
                config.http_blocks.append(Block("map", (var, final), rows))
            else:
                config.http_blocks.append(Block("map", ('""', final), [("default", cookie_var)]))


def map_key(value: str) -> str:
    """A literal map key: a leading ``~`` or a map keyword is escaped with ``\\``."""
    if value.startswith("~") or value in ("default", "hostnames", "include", "volatile"):
        value = "\\" + value
    return quote.ngx_quote(value)


def attach_canary(resolver: Any, ing: Ingress) -> None:
    """Merge a canary Ingress into the main Ingresses' locations (called by the resolve pass)."""
    ctx: Ctx = resolver.ctx
    handlers = [h for h in resolver_handlers()]
    parsed = parse_annotations(ing, handlers, ctx)
    if parsed is None:
        ctx.diags.info("R101", "Ingress not compiled because of the errors above", loc=ing.loc("metadata", "name"),
                       obj=ing.ref)
        resolver.result.skipped.append(ing.ref)
        return
    for e in ctx.report:
        if e.ingress == ing.ref and e.key not in CANARY_KEYS and e.status == "applied":
            e.status, e.reason = "ignored", "canary Ingress: only the canary-* annotations apply"
    feature: Canary | None = parsed.feature("canary")
    if feature is None or not resolver.check_paths(ing):
        resolver.result.skipped.append(ing.ref)
        return
    if feature.weight == 0 and not feature.header and not feature.cookie:
        ctx.diags.warning("A125", "canary Ingress with neither weight, header nor cookie: it never receives "
                          "traffic", loc=ing.loc("metadata", "annotations"), obj=ing.ref)
    resolver.result.compiled.append(ing.ref)
    ctx.ing = ing
    for i, rule in enumerate(ing.spec.get("rules") or []):
        host = str(rule.get("host") or "") or "_"
        for j, p in enumerate(((rule.get("http") or {}).get("paths")) or []):
            path = p.get("path") or "/"
            ptype = "Exact" if p.get("pathType") == "Exact" else "Prefix"
            where = ing.loc("spec", "rules", i, "http", "paths", j, "path")
            base = ("spec", "rules", i, "http", "paths", j, "backend")
            found = resolver.paths.get(host, {}).get((path, ptype))
            if found is None:
                ctx.diags.warning("A125", f"canary path {path!r} ({ptype}) on host {host} has no main Ingress path to "
                                  "attach to; ignored", loc=where, obj=ing.ref)
                continue
            loc: Location = found[0]
            if "canary" in loc.features:
                ctx.diags.warning("A126", f"host {host} path {path!r} already has the canary "
                                  f"{loc.features['canary']['ingress']}; ignored", loc=where, obj=ing.ref)
                continue
            if loc.upstream is None or loc.proxy_target != f"http://{loc.upstream}":
                ctx.diags.warning("A125", f"the main location {path!r} on host {host} has no upstream block to "
                                  "switch from; canary ignored", loc=where, obj=ing.ref)
                continue
            alt, problem = resolver.backend(ing, p.get("backend") or {}, base)
            if alt is None:
                ctx.diags.warning("A125", f"canary backend: {problem}; canary ignored", loc=where, obj=ing.ref)
                continue
            if alt == loc.upstream:
                continue
            apply_upstream(parsed, resolver.upstreams[alt], ctx)
            ident = short_hash(f"{host} {path} {ptype}")
            loc.proxy_target = f"http://$ingc_canary_{ident}"
            loc.features["canary"] = {"ingress": f"{ing.namespace}/{ing.name}", "upstream": alt,
                                      "weight": feature.weight, "total": feature.total, "header": feature.header,
                                      "cookie": feature.cookie}
            entries: list[tuple[str, str, str, Canary]] = ctx.state.setdefault("canary-maps", [])
            entries.append((ident, loc.upstream, alt, feature))
            ctx.diags.info("A127", f"canary of host {host} path {path!r}: split with nginx maps (header, cookie, "
                           "weight)", loc=where, obj=ing.ref)


def resolver_handlers() -> list[Handler]:
    from ingc.annotations import HANDLERS

    return HANDLERS


STATE_DEFAULTS["canary_supported"] = True
STATE_DEFAULTS["canary_attach"] = attach_canary
