"""Reporters: diagnostics in the formats CI tools read (text, json, github, sarif, junit, tap)."""

from __future__ import annotations

import json
import os
from typing import Any

from ingc import __version__
from ingc.diagnostics import Diagnostic, Diagnostics, Severity, visible

FORMATS = ("text", "json", "github", "sarif")


def resolve_format(fmt: str) -> str:
    if fmt == "auto":
        return "github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text"
    return fmt


def summary_counts(diags: Diagnostics) -> dict[str, int]:
    return {"errors": diags.count(Severity.ERROR), "warnings": diags.count(Severity.WARNING),
            "infos": diags.count(Severity.INFO)}


def diag_dict(d: Diagnostic) -> dict[str, Any]:
    sp = d.span
    out: dict[str, Any] = {
        "code": d.code, "severity": d.severity.label, "message": d.message,
        "file": sp.file if sp else None, "line": sp.line if sp else None, "column": sp.col if sp else None,
        "object": {"kind": d.obj.kind, "namespace": d.obj.namespace, "name": d.obj.name} if d.obj else None,
    }
    origin = d.template_origin
    if origin is not None:
        out["template"] = {"file": origin.file, "line": origin.line}
    if d.suppressed:
        out["suppressed"] = True
    return out


def colorize(text: str, d: Diagnostic, color: bool) -> str:
    if not color:
        return text
    code = {Severity.ERROR: "31", Severity.WARNING: "33", Severity.INFO: "36"}[d.severity]
    label = f"{d.severity.label}[{d.code}]"
    return text.replace(label, f"\x1b[1;{code}m{label}\x1b[0m", 1)


def text_lines(diags: Diagnostics, min_severity: Severity = Severity.INFO, color: bool = False) -> list[str]:
    return [colorize(d.format(), d, color) for d in diags.sorted() if d.severity >= min_severity]


def _gh_escape(s: str, prop: bool = False) -> str:
    s = visible(s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))  # other controls: \x1b
    if prop:
        s = s.replace(":", "%3A").replace(",", "%2C")
    return s


def github_lines(diags: Diagnostics) -> list[str]:
    out = []
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
    for d in diags.sorted():
        sp = d.span
        props = []
        if sp:
            props.append(f"file={_gh_escape(sp.file, True)}")
            if sp.line:
                props += [f"line={sp.line}", f"col={sp.col}"]
        props.append(f"title={_gh_escape(d.code, True)}")
        obj = f" ({d.obj})" if d.obj else ""
        out.append(f"::{level[d.severity]} {','.join(props)}::{_gh_escape(d.message + obj)}")
    return out


def sarif(diags: Diagnostics, rules_doc: dict[str, str] | None = None) -> dict[str, Any]:
    rules_doc = rules_doc or {}
    results = []
    codes = sorted({d.code for d in diags.items})
    for d in diags.sorted():
        sp = d.span
        res: dict[str, Any] = {
            "ruleId": d.code, "ruleIndex": codes.index(d.code),
            "level": {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}[d.severity],
            "message": {"text": d.message + (f" ({d.obj})" if d.obj else "")},
        }
        if sp:
            phys: dict[str, Any] = {"artifactLocation": {"uri": sp.file}}
            if sp.line:
                phys["region"] = {"startLine": sp.line, "startColumn": max(sp.col, 1)}
            res["locations"] = [{"physicalLocation": phys}]
        results.append(res)
    for d in diags.items:
        if d.suppressed:
            sp = d.span
            res = {"ruleId": d.code, "ruleIndex": codes.index(d.code), "level": "note",
                   "message": {"text": d.message}, "suppressions": [{"kind": "inSource"}]}
            if sp and sp.line:
                res["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": sp.file},
                                                          "region": {"startLine": sp.line,
                                                                     "startColumn": max(sp.col, 1)}}}]
            results.append(res)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "ingc", "version": __version__, "informationUri": "https://github.com/ingc/ingc",
                                "rules": [{"id": c, "shortDescription": {"text": rules_doc.get(c, c)}} for c in codes]}},
            "results": results,
        }],
    }


def render_diagnostics(diags: Diagnostics, fmt: str, extra: dict[str, Any] | None = None) -> str:
    """The diagnostics of one run in a machine format (json, github, sarif)."""
    if fmt == "json":
        body = {"diagnostics": [diag_dict(d) for d in diags.sorted()], "summary": summary_counts(diags)}
        if extra:
            body.update(extra)
        return json.dumps(body, indent=2, sort_keys=True) + "\n"
    if fmt == "github":
        lines = github_lines(diags)
        return "".join(line + "\n" for line in lines)
    if fmt == "sarif":
        from ingc.codes import CODES

        return json.dumps(sarif(diags, CODES), indent=2) + "\n"
    raise ValueError(fmt)
