"""Typed views of validated manifests: the Inventory resolve works from.

Legacy Ingress versions are converted to networking.k8s.io/v1 shape here (with a deprecation
warning); objects without a namespace get the default one; the same kind/namespace/name twice is an
error naming both places.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ingc.diagnostics import Diagnostics, Loc, ObjRef
from ingc.source import Document

LEGACY_INGRESS = ("networking.k8s.io/v1beta1", "extensions/v1beta1")
HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
CONTROLLER = "k8s.io/ingress-nginx"
# Kubernetes' name rules (apimachinery validation).  The API server enforces them; offline, ingc must: names
# end up in nginx.conf (upstream names, certificate file names) where a `;` or `}` would be configuration.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
DNS1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
PORT_NAME = re.compile(r"^(?=.{1,15}\Z)(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")  # IANA_SVC_NAME
OLDEST = datetime.min.replace(tzinfo=timezone.utc)


@dataclass
class Obj:
    doc: Document
    kind: str
    namespace: str
    name: str
    data: dict[str, Any]

    @property
    def ref(self) -> ObjRef:
        return ObjRef(self.kind, self.namespace, self.name)

    @property
    def metadata(self) -> dict[str, Any]:
        md = self.data.get("metadata")
        return md if isinstance(md, dict) else {}

    @property
    def annotations(self) -> dict[str, str]:
        a = self.metadata.get("annotations")
        return a if isinstance(a, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        a = self.metadata.get("labels")
        return a if isinstance(a, dict) else {}

    def loc(self, *path: str | int, key: bool = False) -> Loc:
        return self.doc.loc(*path, key=key)


@dataclass
class Ingress(Obj):
    spec: dict[str, Any] = field(default_factory=dict)  # v1 shape
    legacy: bool = False
    created: datetime = OLDEST

    def backend_loc(self, base: tuple[str | int, ...], part: str) -> Loc:
        """Position of a backend's service name or port, in v1 or legacy shape."""
        if self.legacy:
            if base[:2] == ("spec", "defaultBackend"):  # legacy spelling: spec.backend
                base = ("spec", "backend", *base[2:])
            return self.loc(*base, "serviceName" if part == "name" else "servicePort")
        return self.loc(*base, "service", "name" if part == "name" else "port")


@dataclass
class Inventory:
    ingresses: list[Ingress] = field(default_factory=list)
    services: dict[tuple[str, str], Obj] = field(default_factory=dict)
    slices: dict[tuple[str, str], list[Obj]] = field(default_factory=dict)  # by (ns, service name)
    endpoints: dict[tuple[str, str], Obj] = field(default_factory=dict)
    secrets: dict[tuple[str, str], Obj] = field(default_factory=dict)
    classes: dict[str, Obj] = field(default_factory=dict)
    configmaps: dict[tuple[str, str], Obj] = field(default_factory=dict)


def _convert_backend(b: Any) -> Any:
    if not isinstance(b, dict):
        return b
    if "serviceName" in b or "servicePort" in b:
        port = b.get("servicePort")
        out: dict[str, Any] = {"service": {"name": b.get("serviceName"),
                                           "port": {"name": port} if isinstance(port, str) and not port.isdigit()
                                           else {"number": int(port) if port is not None else 0}}}
        if "resource" in b:
            out["resource"] = b["resource"]
        return out
    return b


def convert_legacy_spec(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    if "backend" in out:
        out["defaultBackend"] = _convert_backend(out.pop("backend"))
    rules = []
    for r in out.get("rules") or []:
        r = dict(r)
        http = r.get("http")
        if isinstance(http, dict):
            http = dict(http)
            http["paths"] = [dict(p, backend=_convert_backend(p.get("backend"))) for p in http.get("paths") or []]
            r["http"] = http
        rules.append(r)
    if "rules" in out:
        out["rules"] = rules
    return out


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def secret_data(obj: Obj, diags: Diagnostics | None = None) -> dict[str, bytes]:
    """A Secret's data (base64-decoded) merged with stringData (which wins, as the API server does)."""
    out: dict[str, bytes] = {}
    for k, v in (obj.data.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(str(v), validate=True)
        except (binascii.Error, ValueError):
            if diags is not None:
                diags.error("V125", f"Secret data key {k!r} is not valid base64", loc=obj.loc("data", k), obj=obj.ref)
    for k, v in (obj.data.get("stringData") or {}).items():
        out[k] = str(v).encode()
    return out


def build_inventory(docs: list[Document], diags: Diagnostics, default_namespace: str = "default") -> Inventory:
    inv = Inventory()
    seen: dict[tuple[str, str, str], Document] = {}
    for doc in docs:
        md = doc.metadata
        ns = str(md.get("namespace") or default_namespace)
        name = str(md.get("name", ""))
        kind = doc.kind
        key = (kind, ns, name)
        if kind in ("IngressClass",):
            key = (kind, "", name)
        if not _names_ok(doc, kind, ns, name, diags):
            continue
        first = seen.get(key)
        if first is not None:
            where = first.span()
            diags.error("V120", f"duplicate object: {kind} {ns}/{name} is also defined at {where}",
                        loc=doc.loc("metadata", "name"), obj=ObjRef(kind, ns, name))
            continue
        seen[key] = doc
        if kind == "Ingress":
            ing = _ingress(doc, ns, name, diags)
            if ing is not None:
                inv.ingresses.append(ing)
        elif kind == "Service":
            inv.services[(ns, name)] = Obj(doc, kind, ns, name, doc.data)
        elif kind == "EndpointSlice":
            o = Obj(doc, kind, ns, name, doc.data)
            svc = o.labels.get("kubernetes.io/service-name")
            if svc:
                inv.slices.setdefault((ns, svc), []).append(o)
            else:
                diags.info("R120", "EndpointSlice has no kubernetes.io/service-name label; not used",
                           loc=doc.loc("metadata"), obj=o.ref)
        elif kind == "Endpoints":
            inv.endpoints[(ns, name)] = Obj(doc, kind, ns, name, doc.data)
        elif kind == "Secret":
            inv.secrets[(ns, name)] = Obj(doc, kind, ns, name, doc.data)
        elif kind == "IngressClass":
            inv.classes[name] = Obj(doc, kind, "", name, doc.data)
        elif kind == "ConfigMap":
            inv.configmaps[(ns, name)] = Obj(doc, kind, ns, name, doc.data)
    for lst in inv.slices.values():
        lst.sort(key=lambda o: o.name)
    return inv


def _names_ok(doc: Document, kind: str, ns: str, name: str, diags: Diagnostics) -> bool:
    """metadata.namespace/name, and a Service's port names, as the API server would accept them."""
    ref = ObjRef(kind, ns, name)
    md = doc.metadata
    problems: list[tuple[Loc, str]] = []
    if not DNS1123_LABEL.match(ns):
        where = doc.loc("metadata", "namespace") if "namespace" in md else doc.loc("metadata")
        problems.append((where, f"invalid namespace {ns!r}: must be a DNS-1123 label (lowercase letters, digits "
                                "and '-', at most 63 characters)"))
    rule, what = (DNS1035_LABEL, "a DNS-1035 label (a lowercase letter, then lowercase letters, digits and '-', "
                  "at most 63 characters)") if kind == "Service" else \
        (DNS1123_SUBDOMAIN, "a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')")
    if not rule.match(name):
        where = doc.loc("metadata", "name") if "name" in md else doc.loc("metadata")
        problems.append((where, f"invalid {kind} name {name!r}: must be {what}"))
    if kind == "Service":
        spec = doc.data.get("spec")
        for i, sp in enumerate((spec.get("ports") or []) if isinstance(spec, dict) else []):
            if not isinstance(sp, dict):
                continue
            pname, target = sp.get("name"), sp.get("targetPort")
            if pname not in (None, "") and not DNS1123_LABEL.match(str(pname)):
                problems.append((doc.loc("spec", "ports", i, "name"),
                                 f"invalid port name {pname!r}: must be a DNS-1123 label"))
            if isinstance(target, str) and not target.isdigit() and not PORT_NAME.match(target):
                problems.append((doc.loc("spec", "ports", i, "targetPort"),
                                 f"invalid targetPort {target!r}: must be a number or an IANA service name "
                                 "(at most 15 lowercase letters, digits and '-')"))
    for where, text in problems:
        diags.error("V110", text, loc=where, obj=ref)
    return not problems


def _backend_names_ok(doc: Document, spec: dict[str, Any], legacy: bool, ref: ObjRef, diags: Diagnostics) -> bool:
    """Backend service names and port names (they become upstream names)."""
    bases: list[tuple[tuple[str | int, ...], Any]] = []
    if legacy:
        bases.append((("spec", "backend"), spec.get("defaultBackend")))
    else:
        bases.append((("spec", "defaultBackend"), spec.get("defaultBackend")))
    for i, rule in enumerate(spec.get("rules") or []):
        http = rule.get("http") if isinstance(rule, dict) else None
        for j, p in enumerate((http.get("paths") or []) if isinstance(http, dict) else []):
            if isinstance(p, dict):
                bases.append((("spec", "rules", i, "http", "paths", j, "backend"), p.get("backend")))
    ok = True
    for base, backend in bases:
        svc = backend.get("service") if isinstance(backend, dict) else None
        if not isinstance(svc, dict):
            continue
        sname, port = svc.get("name"), svc.get("port")
        if sname is not None and not DNS1035_LABEL.match(str(sname)):
            where = doc.loc(*base, "serviceName") if legacy else doc.loc(*base, "service", "name")
            diags.error("V110", f"invalid backend service name {sname!r}: must be a DNS-1035 label (a lowercase "
                        "letter, then lowercase letters, digits and '-')", loc=where, obj=ref)
            ok = False
        pname = port.get("name") if isinstance(port, dict) else None
        if pname is not None and not PORT_NAME.match(str(pname)):
            where = doc.loc(*base, "servicePort") if legacy else doc.loc(*base, "service", "port", "name")
            diags.error("V110", f"invalid backend port name {pname!r}: must be an IANA service name (at most 15 "
                        "lowercase letters, digits and '-')", loc=where, obj=ref)
            ok = False
    return ok


def _ingress(doc: Document, ns: str, name: str, diags: Diagnostics) -> Ingress | None:
    spec = doc.data.get("spec") or {}
    legacy = doc.api_version in LEGACY_INGRESS
    ref = ObjRef("Ingress", ns, name)
    if legacy:
        diags.warning("V130", f"{doc.api_version} Ingress is deprecated (removed in Kubernetes 1.22); "
                      "converted to networking.k8s.io/v1", loc=doc.loc("apiVersion"), obj=ref)
        spec = convert_legacy_spec(spec)
    created = OLDEST
    ts = doc.metadata.get("creationTimestamp")
    if ts is not None:
        t = parse_time(ts)
        if t is None:
            diags.error("V131", f"creationTimestamp {ts!r} is not an RFC 3339 time",
                        loc=doc.loc("metadata", "creationTimestamp"), obj=ref)
            return None
        created = t
    ok = _backend_names_ok(doc, spec, legacy, ref, diags)
    for i, rule in enumerate(spec.get("rules") or []):
        host = rule.get("host")
        if host is not None and not HOST.fullmatch(str(host)):
            diags.error("V140", f"invalid host {host!r}: must be a lowercase DNS name, optionally starting "
                        "with a '*.' label", loc=doc.loc("spec", "rules", i, "host"), obj=ref)
            ok = False
    for i, tls in enumerate(spec.get("tls") or []):
        for j, host in enumerate(tls.get("hosts") or []):
            if not HOST.fullmatch(str(host)):
                diags.error("V140", f"invalid TLS host {host!r}", loc=doc.loc("spec", "tls", i, "hosts", j), obj=ref)
                ok = False
    if not ok:
        return None
    return Ingress(doc, "Ingress", ns, name, doc.data, spec=spec, legacy=legacy, created=created)
