"""backend-protocol (HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS, FCGI), fastcgi-index, fastcgi-params-configmap.

FCGI locations get the standard CGI parameters written out (stock nginx's ``fastcgi_params`` file, which ingc
never includes), then fastcgi_index and the ConfigMap's parameters.  A missing parameters ConfigMap denies the
locations (503); an invalid key or value in it rejects the Ingress, as ingress-nginx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote
from ingc.annotations.base import (
    BASIC_CHARS,
    FALLBACK,
    Denied,
    Fallback,
    Handler,
    Key,
    Values,
    check_variables,
    namespaced_ref,
    regex_value,
)
from ingc.settings import BadValue

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Directive, Location

PROTOCOLS = ("HTTP", "HTTPS", "AUTO_HTTP", "GRPC", "GRPCS", "FCGI")
FCGI_KEY = re.compile(r"[A-Za-z0-9.\-_]+")
FCGI_VALUE = re.compile(r"[A-Za-z0-9\-_${}/.]*")
FCGI_VARIABLES = frozenset({"document_root", "fastcgi_script_name", "fastcgi_path_info", "request_filename",
                            "content_type", "content_length", "server_protocol", "https", "nginx_version",
                            "remote_user", "realpath_root"})

# The parameters of stock nginx's fastcgi_params file (ingc never emits `include`).
STANDARD_PARAMS: tuple[tuple[str, ...], ...] = (
    ("QUERY_STRING", "$query_string"),
    ("REQUEST_METHOD", "$request_method"),
    ("CONTENT_TYPE", "$content_type"),
    ("CONTENT_LENGTH", "$content_length"),
    ("SCRIPT_NAME", "$fastcgi_script_name"),
    ("REQUEST_URI", "$request_uri"),
    ("DOCUMENT_URI", "$document_uri"),
    ("DOCUMENT_ROOT", "$document_root"),
    ("SERVER_PROTOCOL", "$server_protocol"),
    ("REQUEST_SCHEME", "$scheme"),
    ("HTTPS", "$https", "if_not_empty"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx/$nginx_version"),
    ("REMOTE_ADDR", "$remote_addr"),
    ("REMOTE_PORT", "$remote_port"),
    ("REMOTE_USER", "$remote_user"),
    ("SERVER_ADDR", "$server_addr"),
    ("SERVER_PORT", "$server_port"),
    ("SERVER_NAME", "$server_name"),
    ("REDIRECT_STATUS", "200"),
)


def parse_protocol(v: str) -> str:
    s = v.strip().upper()
    if s not in PROTOCOLS:
        raise BadValue(f"{v!r} must be one of {', '.join(PROTOCOLS)}")
    return s


@dataclass(frozen=True)
class Protocol:
    protocol: str
    fcgi_index: str | None = None
    fcgi_params: tuple[tuple[str, str], ...] = ()


class ProtocolHandler(Handler):
    name = "backend-protocol"
    keys = (
        Key("backend-protocol", parse_protocol, "protocol spoken to the backend", default="HTTP", invalid=FALLBACK,
            nginx="proxy_pass http://|https://|$scheme://; grpc_pass grpc(s)://; fastcgi_pass + fastcgi_param"),
        Key("fastcgi-index", regex_value(r"[A-Za-z0-9.\-_]+", "a file name", strip_spaces=True),
            "FastCGI index file name", nginx="fastcgi_index \"<value>\""),
        Key("fastcgi-params-configmap", regex_value(BASIC_CHARS, "a ConfigMap reference", strip_spaces=True),
            "ConfigMap (same namespace) with FastCGI parameters", nginx="fastcgi_param <key> \"<value>\" per key"),
    )

    def parse(self, v: Values, ctx: Ctx) -> Protocol | None:
        proto = v.get("backend-protocol", "HTTP")
        index = v.get("fastcgi-index")
        params: list[tuple[str, str]] = []
        ref = v.get("fastcgi-params-configmap")
        if ref:
            try:
                ns, name = namespaced_ref(ref, v.ing, ctx, "fastcgi-params-configmap")
            except Denied as exc:  # ingress-nginx: a plain error, the FastCGI parameters are ignored
                raise Fallback(str(exc)) from None
            cm = ctx.inventory.configmaps.get((ns, name))
            if cm is None:
                raise Denied(f"fastcgi-params-configmap {ns}/{name} not found")
            for k, val in sorted((cm.data.get("data") or {}).items()):
                val = str(val)
                if not FCGI_KEY.fullmatch(str(k)) or not FCGI_VALUE.fullmatch(val):
                    raise BadValue(f"ConfigMap {ns}/{name}: FastCGI parameter {k!r}={val!r} has invalid characters")
                check_variables(val, FCGI_VARIABLES)
                params.append((str(k), val))
        if proto == "HTTP" and index is None and not params:
            return None
        return Protocol(proto, index, tuple(params))

    def location(self, feature: Protocol, loc: Location, ctx: Ctx) -> None:
        loc.proxy.protocol = feature.protocol
        if feature.protocol != "FCGI":
            return
        own = {k for k, _ in feature.fcgi_params}
        out: list[Directive] = [("fastcgi_param", *p) for p in STANDARD_PARAMS if p[0] not in own]
        if feature.fcgi_index:
            out.append(("fastcgi_index", quote.ngx_quote(feature.fcgi_index)))
        out += [("fastcgi_param", k, quote.ngx_quote(val)) for k, val in feature.fcgi_params]
        loc.directives += out
        loc.features["fastcgi"] = True
