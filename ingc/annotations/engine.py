"""Parse one Ingress's annotations through the registry: classify every key, validate values,
enforce snippets and risk levels, and record the annotation report."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ingc.annotations import catalog
from ingc.annotations.base import DENY, FALLBACK, REJECT, Denied, Fallback, Handler, Values
from ingc.diagnostics import Diagnostics, ObjRef
from ingc.ir import Location, NginxConfig, Server, Upstream
from ingc.settings import BadValue, Settings

LEGACY_PREFIX = "ingress.kubernetes.io/"
FOREIGN_PREFIXES = ("nginx.org/", "nginx.com/")


@dataclass
class ReportEntry:
    ingress: ObjRef
    key: str
    value: str
    status: str  # applied | defaulted | unsupported | invalid | ignored | refused
    reason: str = ""


# Initial ``Ctx.state`` entries handlers register at import time (e.g. canary support for resolve).
STATE_DEFAULTS: dict[str, Any] = {}


@dataclass
class Ctx:
    settings: Settings
    diags: Diagnostics
    options: Any  # ingc.pipeline.Options
    inventory: Any  # ingc.model.Inventory
    report: list[ReportEntry] = field(default_factory=list)
    state: dict[Any, Any] = field(default_factory=dict)  # per-compilation scratch for handlers
    resolver: Any = None  # ingc.resolve.Resolver: upstreams and paths for default-backend and canary
    ing: Any = None  # the Ingress whose features the hooks are applying (ingc.model.Ingress)

    def __post_init__(self) -> None:
        for k, v in STATE_DEFAULTS.items():
            self.state.setdefault(k, v)

    def note(self, ing: ObjRef, key: str, status: str, reason: str) -> None:
        """Change the report status of one annotation after parsing (ignored, invalid, ...)."""
        for e in self.report:
            if e.ingress == ing and e.key == key:
                e.status, e.reason = status, reason
                return


@dataclass
class Parsed:
    features: list[tuple[Handler, Any]]
    deny: str = ""  # non-empty: every location of the Ingress answers 503 (LocationDenied)
    ing: Any = None  # the Ingress (ingc.model.Ingress)

    def feature(self, name: str) -> Any:
        for h, f in self.features:
            if h.name == name:
                return f
        return None


def parse_annotations(ing: Any, handlers: list[Handler], ctx: Ctx) -> Parsed | None:
    """None when the Ingress is rejected (an error was reported)."""
    opts = ctx.options
    prefix = opts.annotations_prefix.rstrip("/") + "/"
    ann: dict[str, str] = ing.annotations
    diags = ctx.diags
    by_key: dict[str, Handler] = {k.name: h for h in handlers for k in h.keys}
    present: dict[str, dict[str, tuple[str, str]]] = {}  # handler name -> canonical key -> (raw key, value)
    rejected = False
    deny = ""
    for raw_key in sorted(ann):
        value = ann[raw_key]
        loc = ing.loc("metadata", "annotations", raw_key, key=True)
        if not raw_key.startswith(prefix):
            if raw_key.startswith(LEGACY_PREFIX) and prefix != LEGACY_PREFIX:
                diags.warning("A106", f"annotation {raw_key!r} uses the legacy prefix {LEGACY_PREFIX!r} and is "
                              f"ignored; use {prefix}{raw_key[len(LEGACY_PREFIX):]}", loc=loc, obj=ing.ref)
                ctx.report.append(ReportEntry(ing.ref, raw_key, value, "ignored", "legacy prefix"))
            elif raw_key.startswith(FOREIGN_PREFIXES):
                diags.warning("A107", f"annotation {raw_key!r} belongs to the F5 NGINX Ingress Controller, not "
                              "ingress-nginx; ignored", loc=loc, obj=ing.ref)
            continue
        name = raw_key[len(prefix):]
        canonical = catalog.ALIASES.get(name, name)
        risk = catalog.RISK.get(name, 0)
        if name in catalog.REMOVED:
            diags.warning("A101", f"annotation {name!r} was removed from ingress-nginx ({catalog.REMOVED[name]}); "
                          "ignored", loc=loc, obj=ing.ref)
            ctx.report.append(ReportEntry(ing.ref, name, value, "unsupported", "removed from ingress-nginx"))
            continue
        if name.endswith("-snippet"):
            if not opts.allow_snippet_annotations:
                diags.error("A104", f"snippet annotation {name!r} is refused (raw nginx configuration); pass "
                            "--allow-snippet-annotations to accept it", loc=loc, obj=ing.ref)
                ctx.report.append(ReportEntry(ing.ref, name, value, "refused", "snippets are not allowed"))
                rejected = True
                continue
        if risk > opts.risk_level:
            level = {v: k for k, v in catalog.RISK_LEVELS.items()}
            diags.error("A105", f"annotation {name!r} has risk level {level[risk]}, above the accepted "
                        f"{level[opts.risk_level]} (--annotations-risk-level)", loc=loc, obj=ing.ref)
            ctx.report.append(ReportEntry(ing.ref, name, value, "refused", "risk level"))
            rejected = True
            continue
        handler = by_key.get(canonical)
        if handler is not None:
            present.setdefault(handler.name, {})[canonical] = (raw_key, value)
            continue
        if canonical in catalog.RISK:
            if catalog.is_restrictive(canonical):
                diags.warning("A103", f"annotation {name!r} restricts access or traffic but ingc cannot apply it; "
                              "the Ingress's locations answer 503 (fail closed)", loc=loc, obj=ing.ref)
                ctx.report.append(ReportEntry(ing.ref, name, value, "unsupported",
                                              "restricts access but cannot be applied; locations answer 503"))
                deny = deny or f"{name} cannot be applied"
            else:
                diags.warning("A102", f"annotation {name!r} is not supported by ingc (no stock nginx equivalent); "
                              "ignored", loc=loc, obj=ing.ref)
                ctx.report.append(ReportEntry(ing.ref, name, value, "unsupported", "not supported by ingc"))
            continue
        close = difflib.get_close_matches(name, list(catalog.RISK), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        diags.warning("A100", f"unknown annotation {raw_key!r}{hint}", loc=loc, obj=ing.ref)
        ctx.report.append(ReportEntry(ing.ref, name, value, "unsupported", "unknown annotation"))
    if rejected:
        return None

    parsed = Parsed([], deny, ing)
    for h in handlers:
        keys = present.get(h.name, {})
        if not keys and not h.always:
            continue
        v = Values(ing, prefix)
        for k in h.keys:
            if k.name not in keys:
                continue
            raw_key, value = keys[k.name]
            v.raw[k.name] = value
            loc = ing.loc("metadata", "annotations", raw_key)
            if k.unsupported:
                restrictive = catalog.is_restrictive(k.name) if k.restrictive is None else k.restrictive
                if restrictive and value.strip().lower() not in ("", "false", "0", "off", "f"):
                    diags.warning("A103", f"annotation {k.name!r} restricts access or traffic but ingc cannot apply "
                                  f"it ({k.unsupported}); the Ingress's locations answer 503 (fail closed)",
                                  loc=loc, obj=ing.ref)
                    ctx.report.append(ReportEntry(ing.ref, k.name, value, "unsupported",
                                                  f"{k.unsupported}; locations answer 503"))
                    parsed.deny = parsed.deny or f"{k.name} cannot be applied"
                else:
                    diags.warning("A102", f"annotation {k.name!r} is not supported by ingc ({k.unsupported}); "
                                  "ignored", loc=loc, obj=ing.ref)
                    ctx.report.append(ReportEntry(ing.ref, k.name, value, "unsupported", k.unsupported))
                v.invalid.add(k.name)
                continue
            if not value.strip():
                diags.warning("A110", f"annotation {k.name!r} is empty; ignored", loc=loc, obj=ing.ref)
                ctx.report.append(ReportEntry(ing.ref, k.name, value, "defaulted", "empty value"))
                v.invalid.add(k.name)
                continue
            try:
                v.parsed[k.name] = k.parse(value)
                ctx.report.append(ReportEntry(ing.ref, k.name, value, "applied"))
            except BadValue as exc:
                v.parsed[k.name] = None
                v.invalid.add(k.name)
                if k.invalid == FALLBACK:
                    diags.warning("A110", f"annotation {k.name!r}: {exc}; using the default", loc=loc, obj=ing.ref)
                    ctx.report.append(ReportEntry(ing.ref, k.name, value, "defaulted", str(exc)))
                elif k.invalid == DENY:
                    diags.warning("A112", f"annotation {k.name!r}: {exc}; the Ingress's locations answer 503",
                                  loc=loc, obj=ing.ref)
                    ctx.report.append(ReportEntry(ing.ref, k.name, value, "invalid", str(exc)))
                    parsed.deny = parsed.deny or f"invalid {k.name}"
                else:
                    assert k.invalid == REJECT
                    diags.error("A111", f"annotation {k.name!r}: {exc}; the Ingress is not compiled",
                                loc=loc, obj=ing.ref)
                    ctx.report.append(ReportEntry(ing.ref, k.name, value, "invalid", str(exc)))
                    rejected = True
        if rejected:
            continue
        if all(k.name in v.invalid for k in h.keys if k.name in v.raw) and not h.always:
            continue  # only unsupported or invalid-with-fallback keys: nothing to apply
        first = next((raw for raw, _ in keys.values()), None)
        where = ing.loc("metadata", "annotations", first) if first else ing.loc("metadata", "annotations")
        try:
            feature = h.parse(v, ctx)
        except Denied as exc:
            diags.warning("A113", f"{h.name}: {exc}; the Ingress's locations answer 503", loc=where, obj=ing.ref)
            for key in v.raw:
                ctx.note(ing.ref, key, "invalid", f"{exc}; locations answer 503")
            parsed.deny = parsed.deny or str(exc)
            continue
        except Fallback as exc:
            diags.warning("A110", f"{h.name}: {exc}; the annotations of this group are ignored", loc=where,
                          obj=ing.ref)
            for key in v.raw:
                if key not in v.invalid:
                    ctx.note(ing.ref, key, "defaulted", str(exc))
            continue
        except BadValue as exc:
            diags.error("A111", f"{h.name}: {exc}; the Ingress is not compiled", loc=where, obj=ing.ref)
            for key in v.raw:
                ctx.note(ing.ref, key, "invalid", str(exc))
            rejected = True
            continue
        if feature is not None:
            parsed.features.append((h, feature))
    return None if rejected else parsed


# --- applying the parsed features to the IR (called by the resolve pass) ------------------------------


def apply_server(parsed: Parsed, srv: Server, ctx: Ctx) -> None:
    ctx.ing = parsed.ing
    for h, f in parsed.features:
        h.server(f, srv, ctx)


def apply_location(parsed: Parsed, loc: Location, ctx: Ctx) -> None:
    """Every handler's location hook; a denied Ingress's location then answers 503 and nothing else."""
    ctx.ing = parsed.ing
    for h, f in parsed.features:
        h.location(f, loc, ctx)
    if parsed.deny:
        loc.status, loc.status_reason, loc.upstream = 503, parsed.deny, None
        loc.access, loc.directives, loc.blocks, loc.extra, loc.return_directive = [], [], [], [], None
        loc.features["denied"] = parsed.deny


def apply_upstream(parsed: Parsed, up: Upstream, ctx: Ctx) -> None:
    ctx.ing = parsed.ing
    for h, f in parsed.features:
        h.upstream(f, up, ctx)


def finish_annotations(config: NginxConfig, parsed: dict[ObjRef, Parsed], handlers: list[Handler],
                       ctx: Ctx) -> None:
    """After resolve: internal locations join their servers, then the http and finish hooks run."""
    for srv in config.servers:
        seen = {lo.key for lo in srv.locations}
        extra: list[Location] = []
        for lo in srv.locations:
            for x in lo.extra:
                if x.key not in seen:
                    seen.add(x.key)
                    extra.append(x)
        srv.locations.extend(extra)
    for ref in sorted(parsed):
        ctx.ing = parsed[ref].ing
        for h, f in parsed[ref].features:
            h.http(f, config, ctx)
    ctx.ing = None
    for h in handlers:
        h.finish(config, ctx)
    config.files.update(ctx.state.get("files", {}))  # htpasswd, CA and client certificate files
    config.servers.sort(key=lambda s: s.hostname)
    config.upstreams.sort(key=lambda u: u.name)
    config.files = dict(sorted(config.files.items()))
