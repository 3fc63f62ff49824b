"""Every field class of the input that reaches nginx.conf, and the one check every hostile value must pass.

A ``FieldClass`` turns one value into a ``Case``: the manifests carrying the value, the JSON paths where a
refusal may point, the CLI arguments, and baselines (the same manifests with a benign value, or without
the value) whose nginx.conf structure a compiled hostile build must have exactly.

``check(case)`` is the property of issue 6, "no injection": the build either

* is refused - exit 1, nothing on stdout, and an error at the ``file:line:col`` of one of the fields; or
* compiles - exit 0, crossplane parses the output, no forbidden directive, and the tree has exactly the
  directives and blocks (names, nesting, argument counts) of a baseline build.

Annotation keys come from ``ingc.annotations.HANDLERS`` when the classes are listed, so handlers added later
are covered without touching this file.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.security import tree
from tests.security.corpus import benign
from tests.security.manifests import (
    CONFIGMAP_ARGS,
    PREFIX,
    Outcome,
    PathT,
    base_docs,
    compile_docs,
    configmap,
    endpoint_slice,
    ingress,
    service,
    tls_secret,
)

RISK_ALL = ("--annotations-risk-level", "Critical")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

Docs = list[dict[str, Any]]


@dataclass
class Case:
    docs: Docs
    fields: list[tuple[int, PathT]]  # where a refusal may point: (document index, JSON path)
    args: tuple[str, ...] = ()
    baselines: list[Docs] = field(default_factory=list)  # a compiled hostile build has one of their shapes
    value: str = ""


@dataclass(frozen=True)
class FieldClass:
    id: str
    prefix: str  # put before a hostile string, to make it plausible (a path starts with /)
    make: Callable[[str], Case]


class InjectionFailure(AssertionError):
    pass


@functools.lru_cache(maxsize=512)
def certificate(*hosts: str) -> tuple[str, str]:
    """A certificate for the hosts (``app.example.com`` by default) and its key, made once per process."""
    from tests.support.certs import make_cert

    return make_cert(list(hosts or ("app.example.com",)))


@functools.lru_cache(maxsize=256)
def _baseline_shape(key: str) -> tree.Shape | None:
    docs, args = json.loads(key)
    o = compile_docs(docs, tuple(args))
    if o.exit_code != 0:
        return None
    return tree.shape_of(o.stdout)


def baseline_shape(docs: Docs, args: Sequence[str]) -> tree.Shape | None:
    return _baseline_shape(json.dumps([docs, list(args)], sort_keys=True))


def check(case: Case) -> Outcome:
    """The no-injection property for one case; raises InjectionFailure (an AssertionError) when it fails."""
    o = compile_docs(case.docs, case.args)
    where = f"value {case.value[:200]!r} (len {len(case.value)}); args {case.args}\n--- stderr ---\n{o.stderr[-3000:]}"
    if o.exit_code not in (0, 1):
        raise InjectionFailure(f"exit {o.exit_code}: {where}")
    if "Traceback" in o.stderr or "internal error" in o.stderr:
        raise InjectionFailure(f"internal error: {where}")
    if o.exit_code == 1:
        if o.stdout:
            raise InjectionFailure(f"refused but wrote to stdout: {where}")
        lines = {o.line_of(d, *p) for d, p in case.fields if (d, tuple(p)) in o.lines}
        if not any(e.line in lines and e.file == o.file for e in o.errors()):
            raise InjectionFailure(f"refused without an error at lines {sorted(lines)} of {o.file}: {where}")
        return o
    payload = tree.parse(o.stdout)
    if payload["status"] != "ok":
        raise InjectionFailure(f"output does not parse: {payload['errors']}: {where}")
    got = tree.shape(payload["config"][0]["parsed"])
    bad = tree.forbidden_in(o.stdout)
    if bad:
        raise InjectionFailure(f"forbidden directives {sorted(bad)} in the output: {where}")
    baselines = list(case.baselines)
    for key in sorted(set(DENIED.findall(o.stderr))):
        # An invalid value of a DENY key makes the Ingress's locations answer 503 (ingress-nginx's
        # LocationDenied): compare with the same outcome reached through a harmless invalid value.
        denied = denied_baseline(key)
        if denied is not None:
            baselines.append(denied)
    shapes = [s for s in (baseline_shape(b, case.args) for b in baselines) if s is not None]
    if not shapes:
        raise InjectionFailure(f"no baseline compiles (test bug?): {where}")
    if got not in shapes:
        raise InjectionFailure(f"compiled into a structure no baseline has: {where}\n" + _diff(got, shapes[0]))
    return o


DENIED = re.compile(r"warning\[A112\]: annotation '([a-z0-9-]+)'")
# Harmless invalid values: none of them means anything to nginx's tokenizer.
HARMLESS_INVALID = ["%", "!", "^", "x y", "@@", "~~~", "(", "é", "-1", "99999999999999999999"]


@functools.lru_cache(maxsize=512)
def denied_baseline(key: str) -> Docs | None:
    """The base manifests with ``key`` set to a harmless value that makes ingc deny the Ingress's locations."""
    for bad in HARMLESS_INVALID:
        docs = base_docs(annotations={PREFIX + key: bad})
        o = compile_docs(docs, RISK_ALL)
        if o.exit_code == 0 and f"warning[A112]: annotation '{key}'" in o.stderr:
            return docs
    return None


def _diff(got: tree.Shape, want: tree.Shape) -> str:
    import difflib

    def lines(s: tree.Shape, ind: str = "") -> list[str]:
        out = []
        for item in s:
            out.append(f"{ind}{item[0]} /{item[1]}")
            if len(item) == 3:
                out += lines(item[2], ind + "  ")
        return out

    return "\n".join(difflib.unified_diff(lines(want), lines(got), "baseline", "hostile", lineterm="", n=2))


# --------------------------------------------------------------------------- the field classes

ING_PATH: PathT = ("spec", "rules", 0, "http", "paths", 0, "path")
ING_HOST: PathT = ("spec", "rules", 0, "host")
ING_SVC: PathT = ("spec", "rules", 0, "http", "paths", 0, "backend", "service", "name")
ING_PORT_NAME: PathT = ("spec", "rules", 0, "http", "paths", 0, "backend", "service", "port", "name")
ANN: PathT = ("metadata", "annotations")


def _host(v: str) -> Case:
    return Case(base_docs(host=v), [(0, ING_HOST)], baselines=[base_docs(host=benign(v).lower()), base_docs()],
                value=v)


def _path(path_type: str, regex: bool = False) -> Callable[[str], Case]:
    ann = {PREFIX + "use-regex": "true"} if regex else None

    def make(v: str) -> Case:
        return Case(base_docs(path=v, path_type=path_type, annotations=ann), [(0, ING_PATH)],
                    baselines=[base_docs(path=benign(v), path_type=path_type, annotations=ann)], value=v)

    return make


def _tls_host(v: str) -> Case:
    cert, key = certificate()
    docs = [*base_docs(tls_secret="tls"), tls_secret("tls", "shop", cert, key)]
    docs[0]["spec"]["tls"][0]["hosts"] = [v]
    good = [*base_docs(tls_secret="tls"), tls_secret("tls", "shop", cert, key)]
    other = [*base_docs(tls_secret="tls"), tls_secret("tls", "shop", cert, key)]
    other[0]["spec"]["tls"][0]["hosts"] = ["other.example.com"]
    return Case(docs, [(0, ("spec", "tls", 0, "hosts", 0))], baselines=[good, other], value=v)


def _secret_name(v: str) -> Case:
    cert, key = certificate()
    docs = [*base_docs(tls_secret=v), tls_secret(v, "shop", cert, key)]
    good = [*base_docs(tls_secret="tls"), tls_secret("tls", "shop", cert, key)]
    missing = base_docs(tls_secret="missing")
    return Case(docs, [(0, ("spec", "tls", 0, "secretName")), (3, ("metadata", "name"))],
                baselines=[good, missing], value=v)


def _service_name(v: str) -> Case:
    docs = [ingress(service=v), service(name=v), endpoint_slice(service_name=v)]
    return Case(docs, [(0, ING_SVC), (1, ("metadata", "name")), (2, ("metadata", "labels",
                                                                      "kubernetes.io/service-name"))],
                baselines=[base_docs(), [ingress(service="missing"), service(), endpoint_slice()]], value=v)


def _port_name(v: str) -> Case:
    docs = [ingress(port=v), service(port_name=v), endpoint_slice(port_name=v)]
    good = [ingress(port="http"), service(port_name="http"), endpoint_slice(port_name="http")]
    return Case(docs, [(0, ING_PORT_NAME), (1, ("spec", "ports", 0, "name")), (2, ("ports", 0, "name"))],
                baselines=[good, [ingress(port="missing"), service(port_name="http"), endpoint_slice()]], value=v)


def _target_port(v: str) -> Case:
    docs = [ingress(port=v), service(port_name="http", target_port=v), endpoint_slice(port_name="http")]
    good = [ingress(port="http"), service(port_name="http", target_port="http"), endpoint_slice(port_name="http")]
    return Case(docs, [(0, ING_PORT_NAME), (1, ("spec", "ports", 0, "targetPort"))],
                baselines=[good, [ingress(port="missing"), service(port_name="http"), endpoint_slice()]], value=v)


def _namespace(v: str) -> Case:
    docs = [ingress(namespace=v), service(namespace=v), endpoint_slice(namespace=v)]
    return Case(docs, [(i, ("metadata", "namespace")) for i in range(3)], baselines=[base_docs()], value=v)


def _ingress_name(v: str) -> Case:
    return Case(base_docs(name=v), [(0, ("metadata", "name"))], baselines=[base_docs()], value=v)


def _address(address_type: str) -> Callable[[str], Case]:
    def make(v: str) -> Case:
        docs = [ingress(), service(), endpoint_slice(addresses=[v], address_type=address_type)]
        ok = "10.0.0.9" if address_type != "FQDN" else "backend.example.com"
        return Case(docs, [(2, ("endpoints", 0, "addresses", 0))],
                    baselines=[[ingress(), service(), endpoint_slice(addresses=[ok], address_type=address_type)],
                               [ingress(), service(), endpoint_slice(addresses=[], address_type=address_type)]],
                    value=v)

    return make


def _external_name(v: str) -> Case:
    svc = service()
    svc["spec"] = {"type": "ExternalName", "externalName": v, "ports": [{"port": 80}]}
    good = service()
    good["spec"] = {"type": "ExternalName", "externalName": "backend.example.com", "ports": [{"port": 80}]}
    return Case([ingress(), svc], [(1, ("spec", "externalName"))],
                baselines=[[ingress(), good], [ingress(service="missing"), good]], value=v)


def _cluster_ip(v: str) -> Case:
    return Case([ingress(), service(cluster_ip=v)], [(1, ("spec", "clusterIP"))],
                baselines=[[ingress(), service(cluster_ip="10.96.0.9")], [ingress(), service(cluster_ip="None")]],
                value=v)


def annotation_keys() -> list[str]:
    """Every annotation key a handler declares (read now, so new handlers are covered)."""
    from ingc.annotations import HANDLERS

    return sorted({k.name for h in HANDLERS for k in h.keys})


def handler_keys() -> dict[str, list[str]]:
    from ingc.annotations import HANDLERS

    return {h.name: [k.name for k in h.keys] for h in HANDLERS}


@functools.lru_cache(maxsize=1)
def known_values() -> dict[str, list[str]]:
    """Valid values of annotation keys, as the golden cases and examples use them (companions)."""
    found: dict[str, set[str]] = {}
    files = glob.glob(os.path.join(REPO, "tests", "cases", "**", "*.y*ml"), recursive=True)
    files += glob.glob(os.path.join(REPO, "examples", "**", "*.y*ml"), recursive=True)
    for f in sorted(files):
        try:
            with open(f, encoding="utf-8") as fh:
                docs = list(yaml.safe_load_all(fh))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        for d in docs:
            md = d.get("metadata") if isinstance(d, dict) else None
            ann = md.get("annotations") if isinstance(md, dict) else None
            if isinstance(ann, dict):
                for k, v in ann.items():
                    if isinstance(k, str) and k.startswith(PREFIX) and isinstance(v, str):
                        found.setdefault(k[len(PREFIX):], set()).add(v)
    return {k: sorted(v) for k, v in found.items()}


def _annotation(key: str, companions: bool) -> Callable[[str], Case]:
    def make(v: str) -> Case:
        others: dict[str, str] = {}
        if companions:
            known = known_values()
            for group in handler_keys().values():
                if key in group:
                    others = {PREFIX + k: known[k][0] for k in group if k != key and known.get(k)}
        hostile = {**others, PREFIX + key: v}
        docs = base_docs(annotations=hostile)
        baselines = [base_docs(annotations=others or None),
                     base_docs(annotations={**others, PREFIX + key: benign(v)})]
        for good in known_values().get(key, [])[:3]:
            baselines.append(base_docs(annotations={**others, PREFIX + key: good}))
        return Case(docs, [(0, (*ANN, PREFIX + key)), (0, ANN)], RISK_ALL, baselines, value=v)

    return make


def _all_annotations(values: dict[str, str]) -> Case:
    """Every key of every handler at once, each with its own hostile value."""
    ann = {PREFIX + k: v for k, v in values.items()}
    baselines = [base_docs()] + [base_docs(annotations={PREFIX + k: v}) for k, v in values.items()]
    return Case(base_docs(annotations=ann), [(0, (*ANN, k)) for k in ann] + [(0, ANN)], RISK_ALL, baselines,
                value=repr(values)[:400])


def settings_keys() -> list[str]:
    import ingc.annotations  # noqa: F401 - handlers register the ConfigMap keys they read when imported
    from ingc.settings import EXTRA_KEYS, FIELD_BY_KEY

    return sorted(set(FIELD_BY_KEY) | set(EXTRA_KEYS))


def _configmap(key: str) -> Callable[[str], Case]:
    def make(v: str) -> Case:
        docs = [*base_docs(), configmap({key: v})]
        return Case(docs, [(3, ("data", key))], CONFIGMAP_ARGS,
                    [[*base_docs(), configmap({})], [*base_docs(), configmap({key: benign(v, "/._- ")})]],
                    value=v)

    return make


def _header_configmap(v: str) -> Case:
    """Header names and values from a ConfigMap referenced by custom-headers / auth-proxy-set-headers."""
    name = v.replace("/", "x")[:60] or "x"
    docs = [*base_docs(annotations={PREFIX + "custom-headers": "shop/headers"}),
            configmap({"X-Ok": "1", "X-Value": v, name: "1"}, name="headers", namespace="shop")]
    base = [*base_docs(annotations={PREFIX + "custom-headers": "shop/headers"}),
            configmap({"X-Ok": "1", "X-Value": "1", "X-Name": "1"}, name="headers", namespace="shop")]
    denied = [*base_docs(annotations={PREFIX + "custom-headers": "shop/headers"}),
              configmap({"X-Ok": "1", "X-Value": "\r", "X-Name": "1"}, name="headers", namespace="shop")]
    return Case(docs, [(3, ("data", "X-Value")), (3, ("data", name)), (3, ("data",)),
                       (0, (*ANN, PREFIX + "custom-headers")), (0, ANN)],
                RISK_ALL, [base, denied, base_docs()], value=v)


def field_classes() -> list[FieldClass]:
    out = [
        FieldClass("host", "", _host),
        FieldClass("tls-host", "", _tls_host),
        FieldClass("path-Exact", "/", _path("Exact")),
        FieldClass("path-Prefix", "/", _path("Prefix")),
        FieldClass("path-ImplementationSpecific", "/", _path("ImplementationSpecific")),
        FieldClass("path-regex", "/", _path("ImplementationSpecific", regex=True)),
        FieldClass("secret-name", "", _secret_name),
        FieldClass("service-name", "", _service_name),
        FieldClass("service-port-name", "", _port_name),
        FieldClass("service-target-port", "", _target_port),
        FieldClass("namespace", "", _namespace),
        FieldClass("ingress-name", "", _ingress_name),
        FieldClass("endpointslice-address-IPv4", "", _address("IPv4")),
        FieldClass("endpointslice-address-FQDN", "", _address("FQDN")),
        FieldClass("externalName", "", _external_name),
        FieldClass("clusterIP", "", _cluster_ip),
        FieldClass("header-configmap", "", _header_configmap),
    ]
    return out


def annotation_classes(companions: bool = True) -> list[FieldClass]:
    return [FieldClass(f"annotation:{k}", "", _annotation(k, companions)) for k in annotation_keys()]


def configmap_classes() -> list[FieldClass]:
    return [FieldClass(f"configmap:{k}", "", _configmap(k)) for k in settings_keys()]


def all_classes() -> list[FieldClass]:
    return field_classes() + annotation_classes() + configmap_classes()


def make_all_annotations(values: dict[str, str]) -> Case:
    return _all_annotations(values)
