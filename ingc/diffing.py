"""`ingc diff`: the routing difference between two compiled configurations (not the text difference).

Both sides are compiled to the IR `ingc build` renders; their routing tables (``ingc.routes``) are
compared location by location (host, modifier, match): routes added, removed, or changed in backend,
endpoints, rewrite, redirects, TLS, auth, limits, source ranges, other annotation features, or in
their order among the host's regular expressions.  Servers are compared for aliases and TLS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ingc.ir import NginxConfig
from ingc.routes import Relabel, Route, build_routes, feature_summary, jsonable, match_label, md_cell


@dataclass
class FieldChange:
    name: str
    old: str
    new: str


@dataclass
class RouteChange:
    kind: str  # added | removed | changed
    host: str
    matches: list[str]  # nginx locations (twins folded together)
    path: str
    path_type: str
    source: str  # where the rule is now (the old place for a removed route)
    old_source: str = ""
    changes: list[FieldChange] = field(default_factory=list)
    summary: str = ""  # backend/behaviour of an added or removed route

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.kind, "host": self.host, "locations": self.matches, "path": self.path,
                "path_type": self.path_type, "source": self.source, "old_source": self.old_source,
                "fields": [{"field": c.name, "old": c.old, "new": c.new} for c in self.changes],
                "summary": self.summary}


@dataclass
class ServerChange:
    kind: str  # added | removed | changed
    host: str
    changes: list[FieldChange] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"change": self.kind, "host": self.host,
                "fields": [{"field": c.name, "old": c.old, "new": c.new} for c in self.changes]}


@dataclass
class RoutingDiff:
    servers: list[ServerChange]
    routes: list[RouteChange]

    @property
    def changed(self) -> bool:
        return bool(self.servers or self.routes)

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0}
        for r in self.routes:
            out[r.kind] += 1
        return out


def _group(items: list[str], prefix: str) -> str:
    return "; ".join(i for i in items if i.startswith(prefix)) or "-"


def facts(r: Route) -> dict[str, str]:
    """What a route does, field by field, as comparable text."""
    if r.status is not None:
        backend = f"return {r.status}" + (f" ({r.status_reason})" if r.status_reason else "")
    else:
        backend = f"{r.service} -> {r.upstream}" if r.service else str(r.upstream)
    behaviour = r.behaviour
    access = r.access
    # features the access-phase directives already describe would only repeat them
    shown = {k: v for k, v in r.features.items()
             if not (access and any(w in k for w in ("source_range", "auth", "rate_limit", "satisfy")))}
    features = feature_summary(shown)
    return {
        "backend": backend,
        "endpoints": ", ".join(sorted(r.endpoints)) or "-",
        "rewrite": _group(behaviour, "rewrite "),
        "redirect": _group(behaviour, "redirect "),
        "ssl-redirect": "; ".join(b for b in behaviour if "ssl-redirect" in b) or "-",
        "tls": r.tls or "-",
        "auth": "; ".join(a for a in access if a.startswith("auth ") or a.startswith("satisfy")) or "-",
        "source ranges": _group(access, "source ranges"),
        "limits": "; ".join(a for a in access if a.startswith("limit-")) or "-",
        "features": "; ".join(features) or "-",
        "match kind": r.kind,
    }


def regex_order(routes: list[Route], common: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    per_host: dict[str, int] = {}
    for r in routes:
        if r.kind == "regex" and r.key in common:
            per_host[r.host] = per_host.get(r.host, 0) + 1
            out[r.key] = per_host[r.host]
    return out


def summary(r: Route) -> str:
    parts = [r.backend] + r.behaviour
    return "; ".join(parts)


def compare(old: NginxConfig, new: NginxConfig, old_relabel: Relabel | None = None,
            new_relabel: Relabel | None = None) -> RoutingDiff:
    a = build_routes(old, relabel=old_relabel)
    b = build_routes(new, relabel=new_relabel)
    servers = compare_servers(old, new)
    amap = {r.key: r for r in a}
    bmap = {r.key: r for r in b}
    common = set(amap) & set(bmap)
    aorder, border = regex_order(a, common), regex_order(b, common)
    changes: list[RouteChange] = []
    for r in b:
        if r.key not in amap:
            changes.append(RouteChange("added", r.host, [match_label(r)], r.path, r.path_type, r.source,
                                       summary=summary(r)))
            continue
        o = amap[r.key]
        fo, fn = facts(o), facts(r)
        diffs = [FieldChange(k, fo[k], fn[k]) for k in fn if fo[k] != fn[k]]
        if aorder.get(r.key) != border.get(r.key):
            diffs.append(FieldChange("regex order", f"#{aorder.get(r.key)}", f"#{border.get(r.key)}"))
        if diffs:
            changes.append(RouteChange("changed", r.host, [match_label(r)], r.path, r.path_type, r.source,
                                       o.source, diffs))
    for r in a:
        if r.key not in bmap:
            changes.append(RouteChange("removed", r.host, [match_label(r)], r.path, r.path_type, r.source,
                                       r.source, summary=summary(r)))
    return RoutingDiff(servers, fold_twins(pair_moves(changes, amap, bmap)))


def pair_moves(changes: list[RouteChange], amap: dict[tuple[str, str, str], Route],
               bmap: dict[tuple[str, str, str], Route]) -> list[RouteChange]:
    """A path that changed its match kind (Exact -> Prefix, regex switch on the host) is one nginx
    location removed and another added: report it as the same rule changed."""
    del amap, bmap
    removed = {(c.host, c.path, c.path_type): c for c in changes if c.kind == "removed"}
    out: list[RouteChange] = []
    used: set[int] = set()
    for c in changes:
        if c.kind != "added":
            continue
        cands = [r for (h, p, _), r in removed.items() if h == c.host and p == c.path and id(r) not in used]
        same_type = [r for r in cands if r.path_type == c.path_type]
        pool = same_type or cands
        if not pool:
            continue
        match = pool[0]
        used.add(id(match))
        fields = [FieldChange("location", " + ".join(match.matches), " + ".join(c.matches))]
        if match.path_type != c.path_type:
            fields.append(FieldChange("path type", match.path_type, c.path_type))
        if match.summary != c.summary:
            fields.append(FieldChange("behaviour", match.summary, c.summary))
        c.kind, c.old_source, c.changes, c.summary = "changed", match.source, fields, ""
    for c in changes:
        if id(c) not in used:
            out.append(c)
    return out


def fold_twins(changes: list[RouteChange]) -> list[RouteChange]:
    """A Prefix path is two nginx locations ("/foo/" and its exact twin "= /foo"): one entry for both."""
    out: list[RouteChange] = []
    index: dict[tuple[Any, ...], RouteChange] = {}
    for c in changes:
        key = (c.kind, c.host, c.path, c.path_type, c.source,
               tuple((f.name, f.old, f.new) for f in c.changes), c.summary)
        if key in index:
            index[key].matches += c.matches
            continue
        index[key] = c
        out.append(c)
    return out


def compare_servers(old: NginxConfig, new: NginxConfig) -> list[ServerChange]:
    a = {s.hostname: s for s in old.servers}
    b = {s.hostname: s for s in new.servers}
    out: list[ServerChange] = []
    for host, s in b.items():
        if host not in a:
            fields = [FieldChange("tls", "-", (s.tls.secret or "default certificate") if s.tls else "-")]
            if s.aliases:
                fields.append(FieldChange("aliases", "-", ", ".join(sorted(s.aliases))))
            out.append(ServerChange("added", host, fields))
            continue
        o = a[host]
        diffs = []
        if sorted(o.aliases) != sorted(s.aliases):
            diffs.append(FieldChange("aliases", ", ".join(sorted(o.aliases)) or "-",
                                     ", ".join(sorted(s.aliases)) or "-"))
        ot = (o.tls.secret or "default certificate") if o.tls else "-"
        nt = (s.tls.secret or "default certificate") if s.tls else "-"
        if ot != nt:
            diffs.append(FieldChange("tls", ot, nt))
        of, nf = "; ".join(feature_summary(o.features)), "; ".join(feature_summary(s.features))
        if of != nf:
            diffs.append(FieldChange("features", of or "-", nf or "-"))
        if diffs:
            out.append(ServerChange("changed", host, diffs))
    for host in a:
        if host not in b:
            out.append(ServerChange("removed", host))
    return out


# --- output ---------------------------------------------------------------------------------------

SIGN = {"added": "+", "removed": "-", "changed": "~"}


def headline(d: RoutingDiff) -> str:
    if not d.changed:
        return "routing unchanged"
    c = d.counts()
    s = f"routing changed: {c['added']} added, {c['removed']} removed, {c['changed']} changed"
    if d.servers:
        s += f"; {len(d.servers)} server change(s)"
    return s


def render_text(d: RoutingDiff) -> str:
    lines = [headline(d)]
    for s in d.servers:
        lines.append(f"{SIGN[s.kind]} server {s.host}")
        lines += [f"      {c.name}: {c.old}  =>  {c.new}" for c in s.changes]
    for r in d.routes:
        where = r.source or "-"
        if r.kind == "changed" and r.old_source and r.old_source != r.source:
            where += f" (was {r.old_source})"
        label = f"{r.path} ({r.path_type})" if r.path_type else r.path
        lines.append(f"{SIGN[r.kind]} {r.host}  {' + '.join(r.matches)}  {label}  {where}")
        if r.summary:
            lines.append(f"      {r.summary}")
        lines += [f"      {c.name}: {c.old}  =>  {c.new}" for c in r.changes]
    return "\n".join(lines) + "\n"


def render_markdown(d: RoutingDiff) -> str:
    lines = [f"### ingc: {headline(d)}", ""]
    if not d.changed:
        return "\n".join(lines)
    if d.servers:
        lines += ["| | server | change |", "|---|---|---|"]
        for s in d.servers:
            what = "<br>".join(f"{md_cell(c.name)}: {md_cell(c.old)} → {md_cell(c.new)}" for c in s.changes)
            lines.append(f"| {SIGN[s.kind]} | {md_cell(s.host)} | {what or s.kind} |")
        lines.append("")
    if d.routes:
        lines += ["| | host | location | path | change | source |", "|---|---|---|---|---|---|"]
        for r in d.routes:
            if r.changes:
                what = "<br>".join(f"**{md_cell(c.name)}**: {md_cell(c.old)} → {md_cell(c.new)}" for c in r.changes)
            else:
                what = f"{r.kind}: {md_cell(r.summary)}"
            loc = "<br>".join(f"`{md_cell(m)}`" for m in r.matches)
            lines.append(f"| {SIGN[r.kind]} | {md_cell(r.host)} | {loc} | `{md_cell(r.path)}` ({r.path_type}) | "
                         f"{what} | {md_cell(r.source)} |")
    return "\n".join(lines) + "\n"


def render_json(d: RoutingDiff, extra: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"changed": d.changed, "summary": d.counts(),
                            "servers": [s.as_dict() for s in d.servers], "routes": [r.as_dict() for r in d.routes]}
    if extra:
        body.update(jsonable(extra))
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def render(d: RoutingDiff, fmt: str, extra: dict[str, Any] | None = None) -> str:
    if fmt == "json":
        return render_json(d, extra)
    if fmt == "markdown":
        return render_markdown(d)
    return render_text(d)
