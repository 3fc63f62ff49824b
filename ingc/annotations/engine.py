"""Parse one Ingress's annotations through the registry: classify every key, validate values,
enforce snippets and risk levels, and record the annotation report."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from ingc.annotations import catalog
from ingc.annotations.base import DENY, FALLBACK, REJECT, Handler, Values
from ingc.diagnostics import Diagnostics, ObjRef
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


@dataclass
class Ctx:
    settings: Settings
    diags: Diagnostics
    options: Any  # ingc.pipeline.Options
    inventory: Any  # ingc.model.Inventory
    report: list[ReportEntry] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # per-compilation scratch for handlers


@dataclass
class Parsed:
    features: list[tuple[Handler, Any]]
    deny: str = ""  # non-empty: every location of the Ingress answers 503 (LocationDenied)

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
                diags.error("A103", f"annotation {name!r} restricts access or traffic but ingc cannot apply it; "
                            "refusing to compile an open location", loc=loc, obj=ing.ref)
                ctx.report.append(ReportEntry(ing.ref, name, value, "unsupported", "restrictive; not applied"))
                rejected = True
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

    parsed = Parsed([])
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
                    diags.error("A112", f"annotation {k.name!r}: {exc}; the Ingress's locations answer 503",
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
        try:
            feature = h.parse(v, ctx)
        except BadValue as exc:
            diags.error("A111", f"annotations of {h.name}: {exc}; the Ingress is not compiled",
                        loc=ing.loc("metadata", "annotations"), obj=ing.ref)
            rejected = True
            continue
        if feature is not None:
            parsed.features.append((h, feature))
    return None if rejected else parsed
