"""default-backend, custom-http-errors, disable-proxy-intercept-errors (and the ConfigMap's custom-http-errors).

default-backend names a Service of the Ingress's namespace: its first port becomes the upstream
``custom-default-backend-<ns>-<svc>`` (only when it has endpoints, as ingress-nginx).  It serves the Ingress's
locations whose own Service has no endpoint, and it answers the custom error pages.

custom-http-errors: ``proxy_intercept_errors on; error_page <code> = @custom_<upstream>_<code>;`` and one named
location per code that proxies to the default backend with the X-Code, X-Format, ... headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote
from ingc.annotations.base import (
    FALLBACK,
    Fallback,
    Handler,
    Key,
    Values,
    regex_value,
    register_setting,
    setting,
)
from ingc.endpoints import resolve_backend
from ingc.ir import Directive, Location, Origin, Upstream
from ingc.settings import BadValue, parse_bool

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import NginxConfig

DEFAULT_UPSTREAM = "upstream-default-backend"
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def parse_codes(v: str) -> tuple[int, ...]:
    s = regex_value(r"(?:[45]\d{2},?)*", "a comma-separated list of 4xx/5xx codes", strip_spaces=True)(v)
    codes = sorted({int(c) for c in s.split(",") if c})
    if not codes:
        raise BadValue(f"{v!r} lists no status code")
    return tuple(codes)


def parse_service_name(v: str) -> str:
    s = v.strip()
    if not DNS_1035.fullmatch(s):
        raise BadValue(f"{v!r} is not a Service name (DNS-1035 label)")
    return s


register_setting("custom-http-errors", parse_codes)
register_setting("disable-proxy-intercept-errors", parse_bool)


def error_location(upstream: str, code: int, exists: bool) -> Location:
    """The named location ``@custom_<upstream>_<code>`` that asks the default backend for the error page."""
    name = f"@custom_{upstream}_{code}"
    body: list[Directive] = [("internal",)]
    if exists:
        body += [
            ("proxy_intercept_errors", "off"),
            ("proxy_set_header", "X-Code", str(code)),
            ("proxy_set_header", "X-Format", "$http_accept"),
            ("proxy_set_header", "X-Original-URI", "$request_uri"),
            ("proxy_set_header", "X-Namespace", "$namespace"),
            ("proxy_set_header", "X-Ingress-Name", "$ingress_name"),
            ("proxy_set_header", "X-Service-Name", "$service_name"),
            ("proxy_set_header", "X-Service-Port", "$service_port"),
            ("proxy_set_header", "X-Request-ID", "$req_id"),
            ("proxy_set_header", "X-Forwarded-For", "$remote_addr"),
            ("proxy_set_header", "Host", "$best_http_host"),
            ("set", "$proxy_upstream_name", quote.ngx_quote(upstream)),
            ("rewrite", '"(.*)"', "/", "break"),
            ("proxy_pass", f"http://{upstream}"),
        ]
    else:  # no default backend Service: ingress-nginx's built-in default backend answers 404
        body += [("set", "$proxy_upstream_name", quote.ngx_quote(upstream)), ("return", "404")]
    loc = Location(name, "Exact", "", name, None, internal=True, raw=list(body))
    loc.features["error_page"] = (upstream, code)
    return loc


@dataclass(frozen=True)
class DefaultBackend:
    namespace: str
    service: str


class DefaultBackendHandler(Handler):
    name = "default-backend"
    keys = (
        Key("default-backend", parse_service_name, "Service (same namespace) answering when the backend has no "
            "endpoint, and serving custom error pages",
            nginx="upstream custom-default-backend-<ns>-<svc>; proxy_pass to it (X-Code: 503) when the Service has "
            "no endpoint"),
    )

    def parse(self, v: Values, ctx: Ctx) -> DefaultBackend | None:
        name = v.get("default-backend")
        if not name:
            return None
        ns = v.ing.namespace
        svc = ctx.inventory.services.get((ns, name))
        if svc is None:
            raise Fallback(f"service {ns}/{name} not found")
        return DefaultBackend(ns, name)

    def upstream_for(self, feature: DefaultBackend, ctx: Ctx) -> str | None:
        key = ("default-backend", feature.namespace, feature.service)
        if key in ctx.state:
            return str(ctx.state[key]) if ctx.state[key] else None
        ctx.state[key] = ""
        svc = ctx.inventory.services[(feature.namespace, feature.service)]
        ports = (svc.data.get("spec") or {}).get("ports") or []
        ing = ctx.ing
        where = ing.loc("metadata", "annotations") if ing else None
        if not ports:
            ctx.diags.warning("A123", f"default-backend service {feature.namespace}/{feature.service} has no port; "
                              "ignored", loc=where, obj=ing.ref if ing else None)
            return None
        res = resolve_backend(ctx.inventory, ctx.options, feature.namespace, feature.service, ports[0].get("port"))
        if res.problem or not res.servers:
            ctx.diags.warning("A123", f"default-backend: {res.problem or 'no endpoint'}; ignored", loc=where,
                              obj=ing.ref if ing else None)
            return None
        resolver = ctx.resolver
        canonical = f"custom-default-backend-{feature.namespace}-{feature.service}"
        name = resolver.upstream_names.name(canonical, f"default backend {feature.namespace}/{feature.service}",
                                            where, ing.ref if ing else None) if resolver else canonical
        up = Upstream(name, feature.namespace, feature.service, str(ports[0].get("port")), res.servers,
                      Origin(ing.ref if ing else svc.ref, where), res.needs_dns, res.kind)
        if resolver is not None:
            resolver.upstreams[name] = up
        ctx.state[key] = name
        return name

    def location(self, feature: DefaultBackend, loc: Location, ctx: Ctx) -> None:
        name = self.upstream_for(feature, ctx)
        if name is None:
            return
        loc.features["default_backend_upstream"] = name
        if loc.status == 503 and loc.upstream is None and not loc.is_placeholder:
            loc.status, loc.status_reason = None, ""
            loc.upstream, loc.proxy_target = name, f"http://{name}"
            loc.features["served_by_default_backend"] = name
            loc.directives += [
                ("proxy_set_header", "X-Code", "503"),
                ("proxy_set_header", "X-Format", "$http_accept"),
                ("proxy_set_header", "X-Namespace", "$namespace"),
                ("proxy_set_header", "X-Ingress-Name", "$ingress_name"),
                ("proxy_set_header", "X-Service-Name", "$service_name"),
                ("proxy_set_header", "X-Service-Port", "$service_port"),
                ("proxy_set_header", "X-Request-ID", "$req_id"),
            ]


@dataclass(frozen=True)
class CustomErrors:
    codes: tuple[int, ...]
    no_intercept: bool


class CustomErrorsHandler(Handler):
    name = "custom-http-errors"
    keys = (
        Key("custom-http-errors", parse_codes, "status codes answered by the default backend's error pages",
            nginx="proxy_intercept_errors on; error_page <code> = @custom_<upstream>_<code>; + named locations"),
        Key("disable-proxy-intercept-errors", parse_bool, "do not intercept the backend's own error responses",
            default=False, invalid=FALLBACK, nginx="no proxy_intercept_errors on"),
    )

    def parse(self, v: Values, ctx: Ctx) -> CustomErrors | None:
        codes = v.get("custom-http-errors")
        if not codes:
            return None
        return CustomErrors(codes, bool(v.get("disable-proxy-intercept-errors", False)))

    def location(self, feature: CustomErrors, loc: Location, ctx: Ctx) -> None:
        if loc.status is not None and loc.status != 503:
            return
        up = loc.features.get("default_backend_upstream") or DEFAULT_UPSTREAM
        exists = up != DEFAULT_UPSTREAM or (ctx.resolver is not None and ctx.resolver.global_default is not None)
        if not feature.no_intercept:
            loc.directives.append(("proxy_intercept_errors", "on"))
        for code in feature.codes:
            loc.directives.append(("error_page", str(code), "=", quote.ngx_quote(f"@custom_{up}_{code}")))
            loc.extra.append(error_location(up, code, exists))
        loc.features["custom_http_errors"] = feature.codes

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        codes: tuple[int, ...] = setting(ctx, "custom-http-errors", parse_codes, ())
        if not codes:
            return
        if not setting(ctx, "disable-proxy-intercept-errors", parse_bool, False):
            config.http_directives.append(("proxy_intercept_errors", "on"))
        for code in codes:
            config.http_directives.append(("error_page", str(code), "=",
                                           quote.ngx_quote(f"@custom_{DEFAULT_UPSTREAM}_{code}")))
        exists = any(u.name == DEFAULT_UPSTREAM for u in config.upstreams)
        for srv in config.servers:
            have = {lo.match for lo in srv.locations}
            for code in codes:
                el = error_location(DEFAULT_UPSTREAM, code, exists)
                if el.match not in have:
                    srv.locations.append(el)
