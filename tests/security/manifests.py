"""Manifests as Python data, written as YAML whose every value's line is known, and compiled in-process.

``emit(docs)`` writes block-style YAML with every scalar JSON-quoted (so a hostile string always stays on
one line: control characters, quotes and backslashes are escaped) and returns the line of every JSON path,
so a test can check that a refusal points at the right ``file:line:col``.

``compile_docs(docs, args)`` runs ``ingc build`` through the click entry in-process with
``catch_exceptions=False`` (an escaping exception fails the test with its traceback) and returns the exit
code, stdout, stderr and the diagnostics with their positions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from click.testing import CliRunner

from ingc.cli import main

PathT = tuple[str | int, ...]
PREFIX = "nginx.ingress.kubernetes.io/"

DIAG = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning|info)\[(?P<code>[A-Z]\d{3})\]",
                  re.M)
DIAG_ANY = re.compile(r"(?P<sev>error|warning|info)\[(?P<code>[A-Z]\d{3})\]")


# --------------------------------------------------------------------------- YAML with a line map


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int | float):
        return json.dumps(v)
    return json.dumps(str(v), ensure_ascii=True)


def emit(docs: Sequence[Any]) -> tuple[str, dict[tuple[int, PathT], int]]:
    """YAML text for ``docs`` (one document each) and {(doc index, JSON path): 1-based line}."""
    lines: list[str] = []
    where: dict[tuple[int, PathT], int] = {}

    def node(v: Any, indent: int, path: PathT, d: int) -> None:
        pad = " " * indent
        if isinstance(v, dict):
            for k, item in v.items():
                key = _scalar(k) if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", str(k)) else str(k)
                where[(d, (*path, k))] = len(lines) + 1
                if isinstance(item, dict | list) and item:
                    lines.append(f"{pad}{key}:")
                    node(item, indent + 2, (*path, k), d)
                else:
                    lines.append(f"{pad}{key}: {_inline(item)}")
        elif isinstance(v, list):
            for i, item in enumerate(v):
                where[(d, (*path, i))] = len(lines) + 1
                if isinstance(item, dict) and item:
                    start = len(lines)
                    node(item, indent + 2, (*path, i), d)
                    lines[start] = f"{pad}- " + lines[start][indent + 2:]
                elif isinstance(item, list) and item:
                    lines.append(f"{pad}-")
                    node(item, indent + 2, (*path, i), d)
                else:
                    lines.append(f"{pad}- {_inline(item)}")
        else:
            lines.append(pad + _inline(v))

    for d, doc in enumerate(docs):
        if d:
            lines.append("---")
        where[(d, ())] = len(lines) + 1
        node(doc, 0, (), d)
    return "\n".join(lines) + "\n", where


def _inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


# --------------------------------------------------------------------------- a valid base set


def ingress(name: str = "web", namespace: str = "shop", host: str = "app.example.com", path: str = "/api",
            path_type: str = "Prefix", service: str = "api", port: int | str = 80,
            annotations: dict[str, str] | None = None, tls_secret: str | None = None,
            extra_paths: Sequence[tuple[str, str, str, int | str]] = ()) -> dict[str, Any]:
    port_spec: dict[str, Any] = {"number": port} if isinstance(port, int) else {"name": port}
    paths: list[dict[str, Any]] = [
        {"path": path, "pathType": path_type, "backend": {"service": {"name": service, "port": port_spec}}}]
    for p, pt, svc, prt in extra_paths:
        ps: dict[str, Any] = {"number": prt} if isinstance(prt, int) else {"name": prt}
        paths.append({"path": p, "pathType": pt, "backend": {"service": {"name": svc, "port": ps}}})
    md: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        md["annotations"] = dict(annotations)
    spec: dict[str, Any] = {"rules": [{"host": host, "http": {"paths": paths}}]}
    if tls_secret is not None:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": md, "spec": spec}


def service(name: str = "api", namespace: str = "shop", port: int = 80, port_name: str | None = None,
            cluster_ip: str | None = None, target_port: int | str | None = None) -> dict[str, Any]:
    sp: dict[str, Any] = {"port": port}
    if port_name is not None:
        sp["name"] = port_name
    if target_port is not None:
        sp["targetPort"] = target_port
    spec: dict[str, Any] = {"ports": [sp]}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def endpoint_slice(service_name: str = "api", namespace: str = "shop", addresses: Sequence[str] = ("10.0.0.1",),
                   port: int = 8080, port_name: str | None = None, name: str | None = None,
                   address_type: str = "IPv4") -> dict[str, Any]:
    p: dict[str, Any] = {"port": port, "protocol": "TCP"}
    if port_name is not None:
        p["name"] = port_name
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name or f"{service_name}-abc", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service_name}},
        "addressType": address_type,
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        "ports": [p],
    }


def tls_secret(name: str, namespace: str, cert_pem: str, key_pem: str) -> dict[str, Any]:
    import base64

    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(cert_pem.encode()).decode(),
                     "tls.key": base64.b64encode(key_pem.encode()).decode()}}


def configmap(data: dict[str, str], name: str = "ingress-nginx-controller",
              namespace: str = "ingress-nginx") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": dict(data)}


def base_docs(**ing: Any) -> list[dict[str, Any]]:
    """A small valid set: one Ingress, its Service and an EndpointSlice."""
    return [ingress(**ing), service(), endpoint_slice()]


# --------------------------------------------------------------------------- compiling in-process


@dataclass
class Diag:
    file: str
    line: int
    col: int
    severity: str
    code: str
    text: str


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    yaml_text: str = ""
    lines: dict[tuple[int, PathT], int] = field(default_factory=dict)
    file: str = ""

    @property
    def diags(self) -> list[Diag]:
        out = []
        for m in DIAG.finditer(self.stderr):
            end = self.stderr.find("\n", m.start())
            text = self.stderr[m.start(): end if end >= 0 else None]
            out.append(Diag(m.group("file"), int(m.group("line")), int(m.group("col")), m.group("sev"),
                            m.group("code"), text))
        return out

    def errors(self) -> list[Diag]:
        return [d for d in self.diags if d.severity == "error"]

    def codes(self, severity: str | None = None) -> set[str]:
        return {m.group("code") for m in DIAG_ANY.finditer(self.stderr)
                if severity is None or m.group("sev") == severity}

    def line_of(self, doc: int, *path: str | int) -> int:
        return self.lines[(doc, tuple(path))]

    def error_at(self, doc: int, *path: str | int) -> bool:
        """Some error points at the line of ``path`` in document ``doc`` (of this file)."""
        want = self.line_of(doc, *path)
        return any(d.line == want and d.file == self.file for d in self.errors())


_RUNNER = CliRunner()

# A guard, not a performance threshold: a build that has not finished after this long is stuck (for example in
# a regex that backtracks exponentially); the test fails instead of hanging CI.  Linear work on the inputs the
# tests use takes milliseconds.
HANG_SECONDS = 120


class Hang(AssertionError):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Hang(f"ingc did not finish within {HANG_SECONDS}s (catastrophic backtracking or a loop?)")


def run_cli(args: Sequence[str], input_text: str | bytes | None = None) -> tuple[int, str, str]:
    """``ingc ARGS`` in-process; an exception escaping the CLI propagates (catch_exceptions=False)."""
    use_alarm = threading.current_thread() is threading.main_thread()
    if use_alarm:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(HANG_SECONDS)
    try:
        res = _RUNNER.invoke(main, list(args), input=input_text, catch_exceptions=False)
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    if res.exit_code == 70 and "Hang:" in res.stderr:
        raise Hang(res.stderr)
    return res.exit_code, res.stdout, res.stderr


def compile_docs(docs: Sequence[Any], args: Sequence[str] = (), out: str = "-") -> Outcome:
    """Write ``docs`` to a temporary file and run ``ingc build FILE -o OUT ARGS`` in-process."""
    text, lines = emit(docs)
    return compile_text(text, args, out, lines)


def compile_text(text: str | bytes, args: Sequence[str] = (), out: str = "-",
                 lines: dict[tuple[int, PathT], int] | None = None, name: str = "in.yaml") -> Outcome:
    tmp = tempfile.mkdtemp(prefix="ingc-sec-")
    try:
        path = os.path.join(tmp, name)
        with open(path, "wb") as fh:
            fh.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        code, so, se = run_cli(["build", path, "-o", out, "--color", "never", *args])
        shown = text if isinstance(text, str) else text.decode("utf-8", "replace")
        return Outcome(code, so, se, shown, lines or {}, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


CONFIGMAP_ARGS = ("--configmap", "ingress-nginx/ingress-nginx-controller")
