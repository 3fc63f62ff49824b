"""Build ingc bundles for end-to-end tests.

Manifests are plain dicts (or YAML text) made with the small constructors below; a Service's
endpoints are EndpointSlices that point at running echo backends (address ``127.0.0.1``, port = the
backend's port).  :func:`build_bundle` writes them into a directory and compiles them with
``ingc build`` through the real command line (click's in-process ``CliRunner``), on the given
``--http-port``/``--https-port``, and returns a :class:`BuildResult` with the bundle directory::

    docs = [*backend_service("web", alpha), ingress("web", rules=[rule("a.test", path("/", "web"))])]
    res = build_bundle(tmp_path / "b1", docs, http_port=p1, https_port=p2)
    runner = NginxRunner(res.bundle)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from .certs import make_cert, tls_secret_yaml
from .echo import EchoBackend

__all__ = [
    "BuildResult",
    "Doc",
    "backend_service",
    "build_bundle",
    "endpoint_slice",
    "ingress",
    "path",
    "rule",
    "run_build",
    "service",
    "tls_secret",
    "write_manifests",
]

Doc = Mapping[str, Any] | str  # a manifest as a dict, or YAML text (one or more documents)

DEFAULT_SETTINGS = {"worker-processes": "1"}  # the test machines are small; every other key as shipped


# ---------------------------------------------------------------------------
# Manifests


def service(
    name: str,
    *,
    namespace: str = "default",
    port: int = 80,
    port_name: str | None = "http",
    target_port: int | str | None = None,
    cluster_ip: str | None = None,
) -> dict[str, Any]:
    """A ``v1`` Service with one TCP port."""
    sp: dict[str, Any] = {"port": port, "protocol": "TCP"}
    if port_name is not None:
        sp["name"] = port_name
    if target_port is not None:
        sp["targetPort"] = target_port
    spec: dict[str, Any] = {"ports": [sp]}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def endpoint_slice(
    service_name: str,
    backend: EchoBackend | int,
    *,
    namespace: str = "default",
    port_name: str | None = "http",
    ready: bool | None = True,
    name: str | None = None,
) -> dict[str, Any]:
    """An EndpointSlice of ``service_name`` with one endpoint ``127.0.0.1`` on the backend's port.

    ``ready=None`` leaves the ready condition unset (which counts as ready).
    """
    port = backend.port if isinstance(backend, EchoBackend) else int(backend)
    conditions: dict[str, Any] = {} if ready is None else {"ready": ready}
    sp: dict[str, Any] = {"port": port, "protocol": "TCP"}
    if port_name is not None:
        sp["name"] = port_name
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name or f"{service_name}-{port}",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [sp],
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": conditions}],
    }


def backend_service(
    name: str,
    *backends: EchoBackend,
    namespace: str = "default",
    port: int = 80,
    port_name: str | None = "http",
    ready: bool | None = True,
) -> list[dict[str, Any]]:
    """A Service named ``name`` plus EndpointSlices making the given echo backends its endpoints."""
    docs: list[dict[str, Any]] = [service(name, namespace=namespace, port=port, port_name=port_name)]
    for b in backends:
        docs.append(
            endpoint_slice(name, b, namespace=namespace, port_name=port_name, ready=ready)
        )
    return docs


def path(
    path_: str, service_name: str, port: int | str = 80, path_type: str = "Prefix"
) -> dict[str, Any]:
    """One ``spec.rules[].http.paths[]`` entry (a numeric or named Service port)."""
    port_ref: dict[str, Any] = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": path_, "pathType": path_type, "backend": {"service": {"name": service_name, "port": port_ref}}}


def rule(host: str | None, *paths: Mapping[str, Any]) -> dict[str, Any]:
    """One ``spec.rules[]`` entry; ``host=None`` for a host-less rule."""
    r: dict[str, Any] = {"http": {"paths": [dict(p) for p in paths]}}
    if host is not None:
        r["host"] = host
    return r


def ingress(
    name: str,
    *,
    namespace: str = "default",
    rules: Iterable[Mapping[str, Any]] = (),
    annotations: Mapping[str, str] | None = None,
    tls: Iterable[tuple[Sequence[str], str | None]] = (),
    default_backend: tuple[str, int | str] | None = None,
    created: str | None = None,
    ingress_class: str | None = None,
) -> dict[str, Any]:
    """A ``networking.k8s.io/v1`` Ingress.

    Annotation keys without a ``/`` get the ``nginx.ingress.kubernetes.io/`` prefix.  ``tls`` is a list of
    ``(hosts, secretName)``; ``default_backend`` is ``(service, port)``; ``created`` is the
    creationTimestamp (RFC 3339).
    """
    md: dict[str, Any] = {"name": name, "namespace": namespace}
    if created is not None:
        md["creationTimestamp"] = created
    if annotations:
        md["annotations"] = {
            (k if "/" in k else f"nginx.ingress.kubernetes.io/{k}"): v for k, v in annotations.items()
        }
    spec: dict[str, Any] = {}
    if ingress_class is not None:
        spec["ingressClassName"] = ingress_class
    if default_backend is not None:
        svc, port = default_backend
        spec["defaultBackend"] = {
            "service": {"name": svc, "port": {"number": port} if isinstance(port, int) else {"name": port}}
        }
    tls_list = []
    for hosts, secret in tls:
        entry: dict[str, Any] = {"hosts": list(hosts)}
        if secret is not None:
            entry["secretName"] = secret
        tls_list.append(entry)
    if tls_list:
        spec["tls"] = tls_list
    rules_list = [dict(r) for r in rules]
    if rules_list:
        spec["rules"] = rules_list
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": md, "spec": spec}


def tls_secret(
    name: str, hosts: Sequence[str], *, namespace: str = "default", cn: str | None = None, key_index: int = 0
) -> tuple[str, str]:
    """A fresh self-signed certificate for ``hosts`` as a TLS Secret: ``(secret_yaml, cert_pem)``."""
    from .certs import private_key

    cert_pem, key_pem = make_cert(list(hosts), cn=cn, key=private_key("ec", key_index))
    return tls_secret_yaml(namespace, name, cert_pem, key_pem), cert_pem


# ---------------------------------------------------------------------------
# Building


@dataclass
class BuildResult:
    bundle: Path  # the bundle directory (nginx.conf, ssl/, ...)
    exit_code: int
    stdout: str
    stderr: str  # diagnostics and the summary line
    manifests: Path  # the manifest file compiled

    @property
    def conf(self) -> Path:
        return self.bundle / "nginx.conf"

    def key_files(self) -> set[str]:
        """Bundle-relative names of the files in ssl/ (certificates with their keys)."""
        d = self.bundle / "ssl"
        return {f"ssl/{p.name}" for p in d.iterdir()} if d.is_dir() else set()

    def crossplane(self) -> dict[str, Any]:
        """The bundle's nginx.conf parsed by crossplane (status must be ok)."""
        import crossplane

        payload: dict[str, Any] = crossplane.parse(os.fspath(self.conf), single=True, comments=False)
        if payload["status"] != "ok":
            raise AssertionError(f"crossplane cannot parse {self.conf}: {payload['errors']}")
        return payload

    def has(self, code: str) -> bool:
        """True when a diagnostic with this code was reported."""
        return f"[{code}]" in self.stderr


def write_manifests(path_: Path, docs: Iterable[Doc]) -> Path:
    """Write ``docs`` as one multi-document YAML file at ``path_``."""
    parts = []
    for d in docs:
        parts.append(d if isinstance(d, str) else yaml.safe_dump(dict(d), sort_keys=False))
    path_.parent.mkdir(parents=True, exist_ok=True)
    path_.write_text("---\n".join(p if p.endswith("\n") else p + "\n" for p in parts))
    return path_


def run_build(args: Sequence[str]) -> tuple[int, str, str]:
    """``ingc ARGS`` in-process through click; returns ``(exit_code, stdout, stderr)``."""
    from ingc.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def build_bundle(
    out: Path,
    docs: Iterable[Doc],
    *,
    http_port: int,
    https_port: int,
    args: Sequence[str] = (),
    settings: Mapping[str, str] | None = None,
    manifests: Path | None = None,
    expect_exit: int | None = 0,
) -> BuildResult:
    """Write ``docs`` and run ``ingc build MANIFESTS -o OUT --http-port P --https-port Q ARGS``.

    ``settings`` are ConfigMap keys (passed with ``--controller-config``) on top of
    :data:`DEFAULT_SETTINGS`.  The manifests go to ``manifests`` (default: ``OUT`` + ``.yaml`` next to
    the bundle).  Fails unless the exit code is ``expect_exit`` (``None`` accepts any).
    """
    out = Path(out)
    mf = manifests or out.with_name(out.name + ".yaml")
    write_manifests(mf, docs)
    cfg = mf.with_name(mf.stem + ".controller.yaml")
    cfg.write_text(yaml.safe_dump({**DEFAULT_SETTINGS, **(settings or {})}))
    argv = [
        "build", os.fspath(mf), "-o", os.fspath(out),
        "--http-port", str(http_port), "--https-port", str(https_port),
        "--controller-config", os.fspath(cfg), "--color", "never",
        *args,
    ]
    code, stdout, stderr = run_build(argv)
    if expect_exit is not None and code != expect_exit:
        raise AssertionError(f"ingc {' '.join(argv)} exited {code}, expected {expect_exit}:\n{stderr}")
    return BuildResult(out, code, stdout, stderr, mf)
