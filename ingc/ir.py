"""The intermediate representation: what nginx will do, named after nginx and Kubernetes concepts.

Every node knows where it came from (``Origin``).  Resolve fills it and sorts it; annotations add
prepared directives; render prints it; routes/explain/diff read it.  Directive arguments stored here
are final nginx tokens (already validated and quoted), so templates make no decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingc.diagnostics import Loc, ObjRef, Span

Directive = tuple[str, ...]  # ("proxy_set_header", "Host", "$best_http_host")


@dataclass(slots=True)
class Origin:
    obj: ObjRef
    loc: Loc | None = None

    @property
    def span(self) -> Span | None:
        return self.loc.span() if self.loc else None


@dataclass(slots=True)
class Upstream:
    name: str
    namespace: str
    service: str
    port: str
    servers: list[str]  # "10.0.0.1:8080", "[fd00::1]:8080", "svc.ns.svc.cluster.local:80"
    origin: Origin
    needs_dns: bool = False
    kind: str = "endpoints"  # endpoints | endpoints-v1 | cluster-ip | dns | external-name | override
    directives: list[Directive] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)  # annotations: load-balance, hash, affinity owner


@dataclass(slots=True)
class Location:
    path: str  # the Ingress path as written ("/" for the placeholder)
    path_type: str  # Exact | Prefix (ImplementationSpecific is normalised to Prefix, as ingress-nginx)
    modifier: str  # "=", "" or "~*"
    match: str  # the path nginx matches (e.g. "/foo/" for Prefix /foo), unquoted
    origin: Origin | None
    upstream: str | None = None  # upstream name, or None when `status` answers
    status: int | None = None  # return code when no backend (404 placeholder, 503 missing service)
    status_reason: str = ""
    proxy_target: str = ""  # "http://apps-appsvc-80" or "http://$ingc_backend"
    backend_dns: str = ""  # host:port resolved at request time (with --resolver)
    service: str = ""
    service_port: str = ""
    namespace: str = ""
    ingress: str = ""
    is_placeholder: bool = False
    twin_of: str | None = None  # the location path this one duplicates (exact twins)
    written_path_type: str = ""  # pathType as written in the Ingress
    rewrite: tuple[str, str] | None = None  # (regex, replacement), unquoted
    ssl_redirect: bool = False
    force_ssl_redirect: bool = False
    preserve_trailing_slash: bool = False
    regex_forced: bool = False  # became a regex because of the host-wide switch
    return_directive: Directive | None = None  # redirects (permanent/temporal) answer before proxying
    proxy: ProxySettings = field(default_factory=lambda: ProxySettings())
    access: list[Directive] = field(default_factory=list)  # allow/deny/auth/limits: before proxy settings
    directives: list[Directive] = field(default_factory=list)  # extra prepared directives (annotations)
    blocks: list[Block] = field(default_factory=list)  # nested blocks (if, ...) emitted before proxying
    out: list[Directive | Block | str] = field(default_factory=list)  # final body, filled by the prepare pass
    text: list[Any] = field(default_factory=list)  # `out` as printed text (str lines and Blocks), for render
    features: dict[str, Any] = field(default_factory=dict)  # for routes/explain (auth, limits, ...)
    port_in_redirect: bool = False  # use-port-in-redirects
    internal: bool = False  # an internal helper location (auth subrequest, error page, mirror): not a route
    raw: list[Directive | Block] | None = None  # internal locations: the prepared body, printed as is
    extra: list[Location] = field(default_factory=list)  # internal locations this location needs

    @property
    def key(self) -> tuple[str, str]:
        return (self.modifier, self.match)


@dataclass(slots=True)
class Block:
    """A prepared nginx block: `name args { directives }`."""

    name: str
    args: tuple[str, ...]
    directives: list[Directive]


@dataclass(slots=True)
class Tls:
    secret: str  # "ns/name", or "" for the default certificate
    file: str  # bundle-relative path of the PEM (cert + key)
    is_default: bool = False


@dataclass(slots=True)
class Server:
    hostname: str
    aliases: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    tls: Tls | None = None
    origin: Origin | None = None
    regex: bool = False  # the host-wide regex switch is on
    is_default: bool = False
    server_name_args: list[str] = field(default_factory=list)  # prepared, quoted
    directives: list[Directive] = field(default_factory=list)  # server-level, prepared
    blocks: list[Block] = field(default_factory=list)
    features: dict[str, Any] = field(default_factory=dict)
    text: list[Any] = field(default_factory=list)  # prepared server-level lines, for render


@dataclass
class NginxConfig:
    upstreams: list[Upstream]
    servers: list[Server]
    settings: Any  # ingc.settings.Settings
    http_directives: list[Directive] = field(default_factory=list)
    http_blocks: list[Block] = field(default_factory=list)
    http_text: list[Any] = field(default_factory=list)  # prepared http-level lines, for render
    files: dict[str, bytes] = field(default_factory=dict)  # bundle-relative path -> content
    http_port: int = 80
    https_port: int = 443
    ipv6: bool = False
    resolver: str = ""

    def server(self, hostname: str) -> Server | None:
        for s in self.servers:
            if s.hostname == hostname:
                return s
        return None



@dataclass(slots=True)
class ProxySettings:
    """Per-location proxy settings: ConfigMap defaults, overridden by annotations."""

    body_size: str = "1m"
    connect_timeout: int = 5
    send_timeout: int = 60
    read_timeout: int = 60
    buffering: str = "off"
    buffer_size: str = "4k"
    buffers_number: int = 4
    busy_buffers_size: str = ""
    max_temp_file_size: str = "1024m"
    request_buffering: str = "on"
    http_version: str = "1.1"
    next_upstream: str = "error timeout"
    next_upstream_timeout: int = 0
    next_upstream_tries: int = 3
    cookie_domain: str = "off"
    cookie_path: str = "off"
    redirect: tuple[str, ...] = ("off",)
    client_body_buffer_size: str = ""
    host_header: str = "$best_http_host"
    connection_header: str = "$connection_upgrade"
    protocol: str = "HTTP"  # HTTP | HTTPS | AUTO_HTTP | GRPC | GRPCS | FCGI
