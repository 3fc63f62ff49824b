"""Helpers for the annotation tests: compile manifests in-process and walk the result.

``compile_docs(docs)`` runs the whole pipeline (through ``ingc.pipeline.compile_sources``) on manifests given
as dicts, returns the diagnostics, the IR and the nginx.conf text; ``tree(text)`` parses the text with
crossplane; ``location(tree, host, path)`` finds one ``location`` block's statements, ``directives`` lists a
directive's argument lists (un-escaped as nginx reads them).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossplane
import yaml

from ingc.annotations.engine import ReportEntry
from ingc.diagnostics import Diagnostics, Severity
from ingc.ir import NginxConfig
from ingc.options import Options
from ingc.pipeline import compile_sources
from tests.support.build import backend_service, ingress, path, rule, service  # noqa: F401  (re-exported)

PREFIX = "nginx.ingress.kubernetes.io/"


@dataclass
class Compiled:
    diags: Diagnostics
    config: NginxConfig | None
    text: str | None
    report: list[ReportEntry]

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diags.items]

    @property
    def errors(self) -> list[str]:
        return [d.format() for d in self.diags.items if d.severity == Severity.ERROR]

    def status(self, key: str, ingress_name: str | None = None) -> str:
        found = [e for e in self.report if e.key == key and (ingress_name is None or e.ingress.name == ingress_name)]
        assert found, f"no report entry for {key}"
        return found[0].status

    def tree(self) -> list[dict[str, Any]]:
        assert self.text is not None, self.errors
        return tree(self.text)

    def location(self, host: str, match: str) -> list[dict[str, Any]]:
        return location(self.tree(), host, match)

    def server(self, host: str) -> list[dict[str, Any]]:
        return server(self.tree(), host)


def write_docs(dest: Path, docs: Iterable[Mapping[str, Any] | str]) -> Path:
    parts = [d if isinstance(d, str) else yaml.safe_dump(dict(d), sort_keys=False) for d in docs]
    dest.write_text("---\n".join(p if p.endswith("\n") else p + "\n" for p in parts))
    return dest


def compile_docs(docs: Iterable[Mapping[str, Any] | str], settings: Mapping[str, str] | None = None,
                 **options: Any) -> Compiled:
    """Compile manifests with ``Options(**options)``; ``settings`` are controller ConfigMap keys."""
    with tempfile.TemporaryDirectory(prefix="ingc-ann-") as tmp:
        src = write_docs(Path(tmp) / "in.yaml", docs)
        opts = Options(**options)
        if settings:
            cfg = Path(tmp) / "controller.yaml"
            cfg.write_text(yaml.safe_dump(dict(settings)))
            opts.controller_config = os.fspath(cfg)
        diags = Diagnostics()
        res = compile_sources([os.fspath(src)], opts, diags)
    report = res.resolved.ctx.report if res.resolved else []
    return Compiled(diags, res.config, res.text, report)


def tree(text: str) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as fh:
        fh.write(text)
        name = fh.name
    try:
        payload = crossplane.parse(name, single=True, comments=False)
    finally:
        os.unlink(name)
    assert payload["status"] == "ok", payload["errors"]
    parsed: list[dict[str, Any]] = payload["config"][0]["parsed"]
    return parsed


def unescape(arg: str) -> str:
    out, i = [], 0
    while i < len(arg):
        if arg[i] == "\\" and i + 1 < len(arg) and arg[i + 1] in "\\\"'":
            out.append(arg[i + 1])
            i += 2
            continue
        out.append(arg[i])
        i += 1
    return "".join(out)


def http(t: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return next(s["block"] for s in t if s["directive"] == "http")


def server(t: list[dict[str, Any]], host: str) -> list[dict[str, Any]]:
    for s in http(t):
        if s["directive"] == "server":
            names = [unescape(a) for st in s["block"] if st["directive"] == "server_name" for a in st["args"]]
            if host in names:
                return list(s["block"])
    raise AssertionError(f"no server {host}")


def location(t: list[dict[str, Any]], host: str, match: str) -> list[dict[str, Any]]:
    for st in server(t, host):
        if st["directive"] == "location" and unescape(st["args"][-1]) == match:
            return list(st["block"])
    raise AssertionError(f"no location {match} in server {host}")


def directives(stmts: list[dict[str, Any]], name: str) -> list[list[str]]:
    return [[unescape(a) for a in s["args"]] for s in stmts if s["directive"] == name]


def blocks(stmts: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [s for s in stmts if s["directive"] == name]


def ing(name: str, host: str = "a.test", paths: Iterable[tuple[str, str]] = (("/", "web"),),
        annotations: Mapping[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    """An Ingress with one rule; ``paths`` are (path, service) pairs (Prefix, port 80)."""
    return ingress(name, rules=[rule(host, *[path(p, s) for p, s in paths])], annotations=annotations, **kw)


def svc(name: str, *ports: int, namespace: str = "default", ip: str = "10.0.0.1") -> list[dict[str, Any]]:
    """A Service with an EndpointSlice at ``ip`` (one port 80 -> 8080 unless given)."""
    port = ports[0] if ports else 8080
    return [
        service(name, namespace=namespace, port=80, port_name="http"),
        {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{name}-1", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
        },
    ]


def secret(name: str, data: Mapping[str, str], namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque", "stringData": dict(data)}


def configmap(name: str, data: Mapping[str, str], namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": dict(data)}
