"""The rules a schema cannot express, run by ``ingc check`` after the compile pipeline.

Each rule reads the inventory, the resolved IR and the documents and appends findings with a ``C``
code (see ``ingc.codes``).  Where the resolve pass already reported a finding less precisely, the rule
replaces that finding instead of adding a second one about the same thing (C101 replaces R303 for the
same backend, C301 replaces R304 for the same path, C501 replaces V130 for the same document).
Nothing here prints or exits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ingc import x509
from ingc.diagnostics import Diagnostics, Loc, ObjRef
from ingc.endpoints import find_service_port
from ingc.model import Ingress, Inventory, secret_data

if TYPE_CHECKING:
    from ingc.ir import Location, NginxConfig, Server
    from ingc.options import Options
    from ingc.pipeline import CompileResult

# (apiVersion, kind) -> (deprecated in, removed in, replacement): the kinds ingc reads.
API_LIFECYCLE: dict[tuple[str, str], tuple[tuple[int, int], tuple[int, int], str]] = {
    ("extensions/v1beta1", "Ingress"): ((1, 14), (1, 22), "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "Ingress"): ((1, 19), (1, 22), "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "IngressClass"): ((1, 19), (1, 22), "networking.k8s.io/v1"),
    ("discovery.k8s.io/v1beta1", "EndpointSlice"): ((1, 21), (1, 25), "discovery.k8s.io/v1"),
}

REGEX_CHARS = re.compile(r"[()\[\]{}*+?^$|\\]")
CAPTURE_REF = re.compile(r"\$([1-9])(?![0-9])")
K8S_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")


def parse_kubernetes_version(text: str) -> tuple[int, int]:
    """``1.29``, ``v1.29`` or ``1.29.3`` -> (1, 29); ValueError otherwise."""
    m = K8S_VERSION.match(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a Kubernetes version such as 1.29")
    return int(m.group(1)), int(m.group(2))


@dataclass
class LintOptions:
    kubernetes_version: tuple[int, int] | None = None
    cert_expiry_days: int = 30
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def _pcre(pattern: str) -> re.Pattern[str] | None:
    """Python's reading of a PCRE pattern (named groups converted), or None when it does not compile."""
    try:
        return re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern), re.IGNORECASE)
    except re.error:
        return None


def _version(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


class Linter:
    def __init__(self, result: CompileResult, opts: Options, lopts: LintOptions, diags: Diagnostics) -> None:
        self.result = result
        self.opts = opts
        self.lopts = lopts
        self.diags = diags
        self.inv: Inventory = result.inventory or Inventory()
        resolved = result.resolved
        compiled = set(resolved.compiled) if resolved else set()
        self.ingresses = [i for i in self.inv.ingresses if i.ref in compiled]
        self.config: NginxConfig | None = resolved.config if resolved else None

    def run(self) -> None:
        self.api_versions()
        self.named_target_ports()
        self.tls()
        self.conflicting_backends()
        self.paths()
        self.rewrite_captures()
        if self.config is not None:
            self.regex_shadowing(self.config)
            self.wildcard_shadowing(self.config)

    # --- helpers -------------------------------------------------------------------------------
    def drop(self, code: str, loc: Loc | None = None, obj: ObjRef | None = None, doc: Any = None) -> None:
        """Remove the resolve pass's finding that a more precise rule replaces."""
        keep = []
        for d in self.diags.items:
            same = d.code == code and (loc is None or d.loc == loc) and (obj is None or d.obj == obj) and \
                (doc is None or (d.loc is not None and d.loc.doc is doc))
            if not same:
                keep.append(d)
        self.diags.items[:] = keep

    @staticmethod
    def backends(ing: Ingress) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
        """(JSON path of the backend, backend) for every service backend of an Ingress."""
        dbe = ing.spec.get("defaultBackend")
        if isinstance(dbe, dict) and dbe.get("service"):
            yield ("spec", "defaultBackend"), dbe
        for i, rule in enumerate(ing.spec.get("rules") or []):
            for j, p in enumerate(((rule.get("http") or {}).get("paths")) or []):
                b = p.get("backend") or {}
                if isinstance(b, dict) and b.get("service"):
                    yield ("spec", "rules", i, "http", "paths", j, "backend"), b

    @staticmethod
    def service_port(backend: dict[str, Any]) -> tuple[str, int | str]:
        svc = backend.get("service") or {}
        port = svc.get("port") or {}
        number = port.get("number")
        return str(svc.get("name", "")), number if isinstance(number, int) and number else str(port.get("name", ""))

    # --- API versions (C501, C502) -------------------------------------------------------------
    def api_versions(self) -> None:
        target = self.lopts.kubernetes_version
        for doc in self.result.documents:
            life = API_LIFECYCLE.get((doc.api_version, doc.kind))
            if life is None:
                continue
            deprecated, removed, replacement = life
            ns = "" if doc.kind == "IngressClass" else doc.namespace or self.opts.namespace
            ref = ObjRef(doc.kind, ns, doc.name)
            if target is not None and target >= removed:
                self.drop("V130", doc=doc)
                self.diags.error("C501", f"{doc.api_version} {doc.kind} was removed in Kubernetes "
                                 f"{_version(removed)} (--kubernetes-version {_version(target)}): use "
                                 f"{replacement}", loc=doc.loc("apiVersion"), obj=ref)
            elif doc.kind != "Ingress":  # the model pass reports deprecated Ingress versions (V130)
                self.diags.warning("C502", f"{doc.api_version} {doc.kind} is deprecated since Kubernetes "
                                   f"{_version(deprecated)} and removed in {_version(removed)}: use {replacement}",
                                   loc=doc.loc("apiVersion"), obj=ref)

    # --- references (C101) ---------------------------------------------------------------------
    def named_target_ports(self) -> None:
        for ing in self.ingresses:
            for base, backend in self.backends(ing):
                name, port = self.service_port(backend)
                if f"{ing.namespace}/{name}" in self.opts.endpoints:
                    continue
                svc = self.inv.services.get((ing.namespace, name))
                slices = self.inv.slices.get((ing.namespace, name))
                if svc is None or not slices or (svc.data.get("spec") or {}).get("type") == "ExternalName":
                    continue
                sp = find_service_port(svc, port)
                target = sp.get("targetPort") if sp else None
                if not isinstance(target, str) or target.isdigit():
                    continue
                sp_name = str(sp.get("name") or "") if sp else ""
                resolved = any(isinstance(p.get("port"), int) and str(p.get("name") or "") == sp_name and
                               (p.get("protocol") or "TCP") == "TCP"
                               for sl in slices for p in (sl.data.get("ports") or []))
                if resolved:
                    continue
                self.drop("R303", loc=ing.backend_loc(base, "name"), obj=ing.ref)
                port_label = f"port {sp_name!r}" if sp_name else "the unnamed port"
                self.diags.warning("C101", f"targetPort {target!r} of service {ing.namespace}/{name} "
                                   f"({port_label}) is resolved by no EndpointSlice: none of its slices has a "
                                   f"port named {sp_name!r}, so the location answers 503",
                                   loc=ing.backend_loc(base, "name"), obj=ing.ref)

    # --- TLS (C201-C204) -----------------------------------------------------------------------
    def tls(self) -> None:
        now = self.lopts.now
        for ing in self.ingresses:
            rule_hosts = {str(r.get("host")).lower() for r in ing.spec.get("rules") or [] if r.get("host")}
            for i, t in enumerate(ing.spec.get("tls") or []):
                for j, host in enumerate(t.get("hosts") or []):
                    if str(host).lower() not in rule_hosts:
                        self.diags.warning("C204", f"TLS host {host} has no rule in this Ingress: no server "
                                           "is made for it from here, so its certificate is not used for it",
                                           loc=ing.loc("spec", "tls", i, "hosts", j), obj=ing.ref)
                secret_name = t.get("secretName")
                if not secret_name:
                    continue
                obj = self.inv.secrets.get((ing.namespace, str(secret_name)))
                if obj is None:
                    continue  # R340 (unplaced reference)
                where = ing.loc("spec", "tls", i, "secretName")
                stype = obj.data.get("type")
                if stype != "kubernetes.io/tls":
                    self.diags.warning("C201", f"secret {ing.namespace}/{secret_name} has type "
                                       f"{stype or 'Opaque'!r}, not kubernetes.io/tls", loc=where, obj=ing.ref)
                crt = secret_data(obj).get("tls.crt")
                info = x509.parse_certificate(crt) if crt else None
                if info is None:
                    continue  # R341/R342 when a host uses it
                after = info.not_after.strftime("%Y-%m-%d %H:%M:%S UTC")
                if now > info.not_after:
                    self.diags.error("C202", f"certificate in secret {ing.namespace}/{secret_name} expired on "
                                     f"{after}", loc=where, obj=ing.ref)
                elif now < info.not_before:
                    before = info.not_before.strftime("%Y-%m-%d %H:%M:%S UTC")
                    self.diags.error("C202", f"certificate in secret {ing.namespace}/{secret_name} is not valid "
                                     f"before {before}", loc=where, obj=ing.ref)
                elif (info.not_after - now).total_seconds() < self.lopts.cert_expiry_days * 86400:
                    days = int((info.not_after - now).total_seconds() // 86400)
                    self.diags.warning("C203", f"certificate in secret {ing.namespace}/{secret_name} expires on "
                                       f"{after}, in {days} day(s) (--cert-expiry-days "
                                       f"{self.lopts.cert_expiry_days})", loc=where, obj=ing.ref)

    # --- routing (C301-C303) -------------------------------------------------------------------
    def conflicting_backends(self) -> None:
        from ingc.resolve import sort_ingresses

        first: dict[tuple[str, str, str], tuple[Ingress, str, Loc]] = {}
        for ing in sort_ingresses(self.ingresses):
            for i, rule in enumerate(ing.spec.get("rules") or []):
                host = str(rule.get("host") or "")
                for j, p in enumerate(((rule.get("http") or {}).get("paths")) or []):
                    backend = p.get("backend") or {}
                    if not isinstance(backend, dict) or not backend.get("service"):
                        continue
                    path = p.get("path") or "/"
                    ptype = "Exact" if p.get("pathType") == "Exact" else "Prefix"
                    name, port = self.service_port(backend)
                    target = f"{ing.namespace}/{name}:{port}"
                    where = ing.loc("spec", "rules", i, "http", "paths", j, "path")
                    key = (host, path, ptype)
                    if key not in first:
                        first[key] = (ing, target, where)
                        continue
                    winner, won_target, won_at = first[key]
                    if won_target == target:
                        continue  # the same route twice: R304 says so
                    self.drop("R304", loc=where, obj=ing.ref)
                    self.diags.error("C301", f"host {host or '*'} path {path!r} ({ptype}) routes to service "
                                     f"{target} here but to {won_target} in Ingress {winner.namespace}/"
                                     f"{winner.name} at {won_at.span()}; that one wins because "
                                     f"{self.why_first(winner, ing)}", loc=where, obj=ing.ref)

    @staticmethod
    def why_first(a: Ingress, b: Ingress) -> str:
        if a is b:
            return "it comes first in this Ingress"
        if a.created != b.created:
            return "it is older (metadata.creationTimestamp)"
        return ("both have the same creationTimestamp and ingress-nginx then takes namespace/name in "
                "descending order")

    def regex_shadowing(self, cfg: NginxConfig) -> None:
        for srv in cfg.servers:
            if not srv.regex:
                continue
            earlier: list[tuple[Location, re.Pattern[str]]] = []
            for loc in srv.locations:
                if loc.modifier != "~*" or getattr(loc, "internal", False):
                    continue
                if loc.origin is not None and loc.origin.loc is not None and not loc.is_placeholder and \
                        not REGEX_CHARS.search(loc.path):
                    for prev, rx in earlier:
                        if rx.match(loc.path) and prev.path != loc.path:
                            who = f" of Ingress {prev.origin.obj.namespace}/{prev.origin.obj.name}" \
                                if prev.origin else ""
                            self.diags.warning("C302", f"path {loc.path!r} on host {srv.hostname} is shadowed: "
                                               f"nginx tries regex locations in order and the earlier "
                                               f"\"{prev.match}\" (path {prev.path!r}{who}) already matches it",
                                               loc=loc.origin.loc, obj=loc.origin.obj)
                            break
                compiled = _pcre(loc.match)
                if compiled is not None:
                    earlier.append((loc, compiled))

    def wildcard_shadowing(self, cfg: NginxConfig) -> None:
        def routes(srv: Server) -> dict[tuple[str, str], Location]:
            return {(lo.path, lo.path_type): lo for lo in srv.locations
                    if lo.origin is not None and not lo.is_placeholder and lo.twin_of is None
                    and not getattr(lo, "internal", False)}

        exact = [s for s in cfg.servers if not s.hostname.startswith("*.") and s.hostname != "_"]
        for wild in cfg.servers:
            if not wild.hostname.startswith("*.") or wild.origin is None or wild.origin.loc is None:
                continue
            suffix = wild.hostname[1:]
            wild_routes = routes(wild)
            for srv in exact:
                label = srv.hostname[: -len(suffix)] if srv.hostname.endswith(suffix) else ""
                if not label or "." in label:
                    continue
                missing = sorted(p for p in wild_routes if p not in routes(srv))
                if not missing:
                    continue
                owner = f" (Ingress {srv.origin.obj.namespace}/{srv.origin.obj.name})" if srv.origin else ""
                shown = ", ".join(f"{p!r}" for p, _ in missing)
                self.diags.warning("C303", f"host {srv.hostname} has its own rule{owner}, so requests for it "
                                   f"never reach wildcard rule {wild.hostname}: its path(s) {shown} are not "
                                   f"served for {srv.hostname}", loc=wild.origin.loc, obj=wild.origin.obj)

    # --- paths (C401, C402) --------------------------------------------------------------------
    def paths(self) -> None:
        if self.config is None:
            return
        for srv in self.config.servers:
            if srv.regex:
                continue  # every path of the host is a regex already (R320 says so)
            for loc in srv.locations:
                if loc.origin is None or loc.origin.loc is None or loc.is_placeholder or loc.twin_of is not None:
                    continue
                if REGEX_CHARS.search(loc.path):
                    self.diags.warning("C401", f"path {loc.path!r} looks like a regex but nginx matches it as a "
                                       f"literal {'path' if loc.modifier == '=' else 'prefix'}: set "
                                       f"{self.opts.annotations_prefix}/use-regex: \"true\" to match it as a "
                                       "regex", loc=loc.origin.loc, obj=loc.origin.obj)

    def rewrite_captures(self) -> None:
        key = f"{self.opts.annotations_prefix}/rewrite-target"
        for ing in self.ingresses:
            target = ing.annotations.get(key)
            if not isinstance(target, str):
                continue
            refs = [int(n) for n in CAPTURE_REF.findall(target)]
            if not refs:
                continue
            need = max(refs)
            short = []
            for rule in ing.spec.get("rules") or []:
                for p in ((rule.get("http") or {}).get("paths")) or []:
                    path = p.get("path") or "/"
                    rx = _pcre(path)
                    if rx is not None and rx.groups < need and path not in short:
                        short.append(path)
            if short:
                shown = ", ".join(f"{p!r}" for p in short)
                self.diags.warning("C402", f"rewrite-target {target!r} uses ${need} but path(s) {shown} have "
                                   f"fewer than {need} capture group(s): nginx puts an empty string there",
                                   loc=ing.loc("metadata", "annotations", key), obj=ing.ref)


def lint(result: CompileResult, opts: Options, lopts: LintOptions, diags: Diagnostics) -> None:
    """Run every check rule over a compiled result; findings go to ``diags``."""
    Linter(result, opts, lopts, diags).run()
