"""`ingc routes`: the routing table the manifests produce, read from the IR the renderer prints.

One row per nginx location: host (aliases, wildcards as written), path, match kind, rank in nginx's
precedence, upstream and endpoints, the effective behaviour (rewrite, redirects, auth, source ranges,
limits, canary and whatever else annotations recorded in ``Location.features``) and the source
``file:line`` of the rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from ingc.ir import Block, Directive, Location, NginxConfig, Server
from ingc.nginxmatch import location_kind, ranked, select_server, unquote

Relabel = Callable[[str], str]
# Location.features keys that are bookkeeping between passes, not behaviour
INTERNAL_FEATURES = frozenset({"args", "annotated"})


@dataclass
class Route:
    host: str
    aliases: list[str]
    wildcard: bool
    default_server: bool
    tls: str | None  # "ns/secret", "default certificate" or None
    rank: int
    kind: str  # exact | prefix | regex
    modifier: str
    match: str
    path: str
    path_type: str
    upstream: str | None
    service: str  # "ns/name:port" or ""
    endpoints: list[str]
    status: int | None
    status_reason: str
    behaviour: list[str]
    features: dict[str, Any]
    source: str
    ingress: str
    twin_of: str | None = None
    placeholder: bool = False
    access: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.host, self.modifier, self.match)

    @property
    def backend(self) -> str:
        if self.status is not None:
            return f"return {self.status}" + (f" ({self.status_reason})" if self.status_reason else "")
        svc = f"{self.service} -> " if self.service else ""
        return f"{svc}{self.upstream} [{', '.join(self.endpoints)}]"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = jsonable(self.features)
        d["backend"] = self.backend
        return d


def jsonable(value: Any) -> Any:
    """Features are whatever annotation handlers stored: make them JSON (dataclasses, sets, tuples)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _short(value: Any) -> str:
    v = jsonable(value)
    if isinstance(v, dict):
        return ", ".join(f"{k}={_short(x)}" for k, x in v.items() if x not in (None, "", [], {}, False))
    if isinstance(v, list):
        return ", ".join(_short(x) for x in v)
    return str(v)


def feature_summary(features: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key in sorted(features):
        if key in INTERNAL_FEATURES:
            continue
        value = features[key]
        name = key.replace("_", "-")
        if value is True:
            out.append(name)
        elif value in (None, False, "", [], {}):
            continue
        else:
            out.append(f"{name}: {_short(value)}")
    return out


def access_summary(items: Sequence[Directive | Block]) -> list[str]:
    """The access-phase directives of a location in words (whatever annotation emitted them)."""
    allow: list[str] = []
    deny: list[str] = []
    out: list[str] = []
    for it in items:
        if isinstance(it, Block):
            continue
        name, args = (it[0], [unquote(a) for a in it[1:]]) if it else ("", [])
        if name == "allow":
            allow += args
        elif name == "deny":
            deny += args
        elif name == "auth_basic" and args and args[0] != "off":
            out.append(f"auth basic (realm {args[0]!r})")
        elif name == "auth_request" and args and args[0] != "off":
            out.append(f"auth request {args[0]}")
        elif name == "limit_req":
            out.append("limit-req " + " ".join(args))
        elif name == "limit_conn":
            out.append("limit-conn " + " ".join(args))
        elif name == "limit_rate":
            out.append("limit-rate " + " ".join(args))
        elif name == "satisfy":
            out.append("satisfy " + " ".join(args))
    if allow or deny:
        parts = [f"allow {', '.join(allow)}"] if allow else []
        parts += [f"deny {', '.join(deny)}"] if deny else []
        out.insert(0, "source ranges: " + "; ".join(parts))
    return out


def behaviour(cfg: NginxConfig, srv: Server, loc: Location) -> list[str]:
    out: list[str] = []
    s = cfg.settings
    if loc.ssl_redirect:
        why = "force-ssl-redirect" if loc.force_ssl_redirect else "ssl-redirect"
        code = getattr(s, "http_redirect_code", 308)
        out.append(f"{why}: http -> https {code}" + (" (keeps trailing /)" if loc.preserve_trailing_slash else ""))
    if loc.return_directive is not None:
        args = [unquote(a) for a in loc.return_directive[1:]]
        out.append("redirect " + " ".join(args))
    if loc.rewrite is not None:
        out.append(f"rewrite {loc.rewrite[0]} -> {loc.rewrite[1]}")
    if loc.regex_forced:
        out.append("matched as a regex (host-wide use-regex/rewrite)")
    out += access_summary(list(loc.access) + list(loc.directives))
    out += feature_summary(loc.features)
    return out


def source_of(loc: Location, relabel: Relabel | None = None) -> str:
    if loc.origin is None:
        return ""
    sp = loc.origin.span
    where = str(sp) if sp else ""
    return relabel(where) if relabel and where else where


def tls_of(srv: Server) -> str | None:
    if srv.tls is None:
        return None
    return srv.tls.secret or "default certificate"


def build_routes(cfg: NginxConfig, hosts: tuple[str, ...] = (), relabel: Relabel | None = None) -> list[Route]:
    wanted = select_servers(cfg, hosts)
    ups = {u.name: u for u in cfg.upstreams}
    routes: list[Route] = []
    for srv in cfg.servers:
        if wanted is not None and srv not in wanted:
            continue
        for rank, loc in ranked(srv.locations):
            if loc.internal:  # auth subrequests, error pages: helpers, not routes
                continue
            up = ups.get(loc.upstream) if loc.upstream else None
            service = ""
            if loc.service:
                service = f"{loc.namespace}/{loc.service}:{loc.service_port}"
            elif up is not None:
                service = f"{up.namespace}/{up.service}:{up.port}"
            endpoints = list(up.servers) if up else ([loc.backend_dns] if loc.backend_dns else [])
            ing = ""
            if loc.origin is not None:
                ing = f"{loc.origin.obj.namespace}/{loc.origin.obj.name}"
            routes.append(Route(
                host=srv.hostname, aliases=list(srv.aliases), wildcard=srv.hostname.startswith("*."),
                default_server=srv.is_default, tls=tls_of(srv), rank=rank, kind=location_kind(loc),
                modifier=loc.modifier, match=loc.match, path=loc.path,
                path_type=loc.written_path_type or loc.path_type, upstream=loc.upstream, service=service,
                endpoints=endpoints, status=loc.status, status_reason=loc.status_reason,
                behaviour=behaviour(cfg, srv, loc), features=dict((k, v) for k, v in loc.features.items()
                                                                  if k not in INTERNAL_FEATURES),
                source=source_of(loc, relabel), ingress=ing, twin_of=loc.twin_of, placeholder=loc.is_placeholder,
                access=access_summary(list(loc.access)),
            ))
    return routes


def select_servers(cfg: NginxConfig, hosts: tuple[str, ...]) -> list[Server] | None:
    """Servers named by --host: by hostname or alias as written, or the server nginx picks for it."""
    if not hosts:
        return None
    out: list[Server] = []
    for h in hosts:
        for srv in cfg.servers:
            if h.lower() in [n.lower() for n in [srv.hostname, *srv.aliases]] and srv not in out:
                out.append(srv)
        choice = select_server(cfg.servers, h.lower())
        if choice.server is not None and choice.by != "default" and choice.server not in out:
            out.append(choice.server)
        if choice.server is not None and choice.by == "default" and not out:
            out.append(choice.server)
    return out


# --- output ---------------------------------------------------------------------------------------

def host_label(r: Route) -> str:
    label = r.host
    if r.host == "_":
        label = "_ (default server: any other host)"
    elif r.wildcard:
        label = f"{r.host} (wildcard: one label)"
    if r.aliases:
        label += f"  aliases: {', '.join(r.aliases)}"
    label += f"  TLS: {r.tls}" if r.tls else "  TLS: none"
    return label


def match_label(r: Route) -> str:
    mod = f"{r.modifier} " if r.modifier else ""
    return f'{mod}"{r.match}"'


def path_label(r: Route) -> str:
    if r.placeholder and r.status is not None:
        return "(default backend)"
    if r.placeholder:
        return f"{r.path} (default backend)"
    if r.twin_of is not None and r.twin_of == r.path:
        return f"{r.path} ({r.path_type}, exact twin)"
    label = f"{r.path} ({r.path_type})" if r.path_type else r.path
    if r.twin_of is not None:
        label += f" guard, copy of {r.twin_of}"
    return label


def render_text(routes: list[Route]) -> str:
    lines: list[str] = []
    host = None
    header = ("RANK", "MATCH", "KIND", "PATH", "BACKEND", "BEHAVIOUR", "SOURCE")
    groups: list[tuple[str, list[tuple[str, ...]]]] = []
    for r in routes:
        if r.host != host:
            host = r.host
            groups.append((host_label(r), []))
        groups[-1][1].append((f"#{r.rank}", match_label(r), r.kind, path_label(r), r.backend,
                              "; ".join(r.behaviour) or "-", r.source or "-"))
    if not groups:
        return "no routes\n"
    all_rows = [header] + [row for _, rows in groups for row in rows]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        return "  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip()

    for label, rows in groups:
        lines.append(label)
        lines.append(fmt(header))
        lines += [fmt(row) for row in rows]
        lines.append("")
    return "\n".join(lines)


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") or "-"


def render_markdown(routes: list[Route]) -> str:
    lines = ["| host | rank | match | kind | path | backend | behaviour | source |",
             "|---|---|---|---|---|---|---|---|"]
    for r in routes:
        host = r.host + (f" (aliases: {', '.join(r.aliases)})" if r.aliases else "") + (" (TLS)" if r.tls else "")
        lines.append("| " + " | ".join(md_cell(c) for c in (
            host, str(r.rank), f"`{match_label(r)}`", r.kind, f"`{path_label(r)}`", r.backend,
            "; ".join(r.behaviour), r.source)) + " |")
    return "\n".join(lines) + "\n"


def render_json(routes: list[Route]) -> str:
    return json.dumps({"routes": [r.as_dict() for r in routes]}, indent=2, sort_keys=True) + "\n"


def render(routes: list[Route], fmt: str) -> str:
    if fmt == "json":
        return render_json(routes)
    if fmt == "markdown":
        return render_markdown(routes)
    return render_text(routes)
