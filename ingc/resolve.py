"""Pass 3, resolve: Ingresses x Services x EndpointSlices x Secrets -> the IR, as ingress-nginx would.

Order (creationTimestamp, then namespace/name descending), class filtering, upstream naming,
first-wins merging of hosts and paths, the Prefix exact twins, the host-wide regex switch, TLS
certificate selection and the catch-all server.  Ends by sorting, so output never depends on input order.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ingc import quote, x509
from ingc.annotations import HANDLERS
from ingc.annotations.engine import (
    Ctx,
    Parsed,
    apply_location,
    apply_server,
    apply_upstream,
    finish_annotations,
    parse_annotations,
)
from ingc.annotations.rewrite import Rewrite
from ingc.diagnostics import Diagnostics, Loc, ObjRef
from ingc.endpoints import resolve_backend
from ingc.ir import Location, NginxConfig, Origin, ProxySettings, Server, Tls, Upstream
from ingc.model import CONTROLLER, Ingress, Inventory, secret_data
from ingc.names import NameAllocator
from ingc.options import Options
from ingc.resources import data_file
from ingc.settings import Settings

STRICT_PATH = re.compile(r"^/[A-Za-z0-9._\-/]*\Z")
# ingress-nginx's deep-inspection rules (shown in findings), in forms that run in linear time: searched with
# Python's backtracking re, `.*_by_lua.*` is quadratic in the path length (a 100 KB path took seconds, and
# YAML aliases repeat it for free).  `\A(?:(?!alias).)*alias.*;` = "alias", then a ";" somewhere after.
DEEP_SHOWN = {r"\A(?:(?!alias).)*alias.*;": r"\s*alias\s*.*;", r"\A(?:(?!root).)*root.*;": r"\s*root\s*.*;",
              r"_by_lua": r".*_by_lua.*"}
DEEP_INSPECT = [re.compile(p, re.S) for p in (
    r"\A(?:(?!alias).)*alias.*;", r"\A(?:(?!root).)*root.*;", r"/etc/(passwd|shadow|group|nginx|ingress-controller)",
    r"/var/run/secrets", r"_by_lua")]
CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
DEFAULT_CERT = "ssl/default-fake-certificate.pem"
CATCH_ALL = "_"
CANARY_KEY = "canary"


@dataclass
class Result:
    config: NginxConfig
    ctx: Ctx
    compiled: list[ObjRef] = field(default_factory=list)
    skipped: list[ObjRef] = field(default_factory=list)


def sort_ingresses(ings: list[Ingress]) -> list[Ingress]:
    """ingress-nginx's order: creationTimestamp ascending; equal times by namespace/name descending."""
    by_name = sorted(ings, key=lambda i: f"{i.namespace}/{i.name}", reverse=True)
    return sorted(by_name, key=lambda i: i.created)


def proxy_defaults(s: Settings) -> ProxySettings:
    return ProxySettings(
        body_size=s.proxy_body_size, connect_timeout=s.proxy_connect_timeout, send_timeout=s.proxy_send_timeout,
        read_timeout=s.proxy_read_timeout, buffering=s.proxy_buffering, buffer_size=s.proxy_buffer_size,
        buffers_number=s.proxy_buffers_number, busy_buffers_size=s.proxy_busy_buffers_size,
        max_temp_file_size=s.proxy_max_temp_file_size, request_buffering=s.proxy_request_buffering,
        http_version=s.proxy_http_version, next_upstream=s.proxy_next_upstream,
        next_upstream_timeout=s.proxy_next_upstream_timeout, next_upstream_tries=s.proxy_next_upstream_tries,
    )


def pcre_ok(pattern: str) -> str | None:
    """Best-effort PCRE check with Python's re (named groups converted), and ingc's quoting rule for regexes."""
    try:
        quote.regex(pattern)  # '$' only as an anchor: refused here with a position, not later by prepare
    except quote.UnsafeValue as exc:
        return str(exc)
    try:
        re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern))
    except re.error as exc:
        return str(exc)
    return None


def clone_location(loc: Location) -> Location:
    """A copy of a location that shares no mutable state with it (prepare writes into ``features``)."""
    twin = copy.copy(loc)
    twin.features = dict(loc.features)
    twin.access, twin.directives, twin.blocks = list(loc.access), list(loc.directives), list(loc.blocks)
    return twin


class Resolver:
    def __init__(self, inv: Inventory, opts: Options, settings: Settings, diags: Diagnostics) -> None:
        self.inv = inv
        self.opts = opts
        self.settings = settings
        self.diags = diags
        self.ctx = Ctx(settings, diags, opts, inv)
        self.ctx.resolver = self
        self.upstream_names = NameAllocator("upstream", diags)
        self.cert_names = NameAllocator("certificate file", diags)
        self.upstreams: dict[str, Upstream] = {}
        self.backends: dict[tuple[str, str, str], tuple[str | None, str]] = {}
        self.servers: dict[str, Server] = {}
        self.first_ing: dict[str, Ingress] = {}
        self.parsed: dict[ObjRef, Parsed] = {}
        self.paths: dict[str, dict[tuple[str, str], tuple[Location, Ingress]]] = {}
        self.files: dict[str, bytes] = {}
        self.result = Result(NginxConfig([], [], settings), self.ctx)
        self.catch_all_owner: str | None = None
        self.global_default: str | None = None
        self.default_cert = DEFAULT_CERT

    # --- classes -------------------------------------------------------------------------------
    def accepted_classes(self) -> set[str]:
        names = {self.opts.ingress_class}
        for name, ic in self.inv.classes.items():
            if (ic.data.get("spec") or {}).get("controller") == CONTROLLER:
                names.add(name)
        return names

    def default_class_claims(self) -> bool:
        for ic in self.inv.classes.values():
            if (ic.data.get("spec") or {}).get("controller") == CONTROLLER and \
                    ic.annotations.get("ingressclass.kubernetes.io/is-default-class") == "true":
                return True
        return False

    def class_ok(self, ing: Ingress, accepted: set[str], default_claims: bool) -> bool:
        cls = ing.spec.get("ingressClassName")
        where: Loc = ing.loc("spec", "ingressClassName")
        if cls is None:
            cls = ing.annotations.get("kubernetes.io/ingress.class")
            where = ing.loc("metadata", "annotations", "kubernetes.io/ingress.class")
        if cls is None:
            if self.opts.watch_without_class or default_claims:
                return True
            self.diags.info("R100", "Ingress skipped: it has no class and --no-watch-ingress-without-class is set",
                            loc=ing.loc("metadata", "name"), obj=ing.ref)
            return False
        if cls in accepted:
            return True
        self.diags.info("R100", f"Ingress skipped: class {cls!r} is not handled (--ingress-class "
                        f"{self.opts.ingress_class})", loc=where, obj=ing.ref)
        return False

    # --- upstreams -----------------------------------------------------------------------------
    def backend(self, ing: Ingress, backend: dict[str, Any], base: tuple[str | int, ...]) -> tuple[str | None, str]:
        svc = backend.get("service") or {}
        name = str(svc.get("name", ""))
        port_spec = svc.get("port") or {}
        number = port_spec.get("number")
        port: int | str = number if isinstance(number, int) and number else str(port_spec.get("name", ""))
        key = (ing.namespace, name, str(port))
        if key in self.backends:
            return self.backends[key]
        res = resolve_backend(self.inv, self.opts, ing.namespace, name, port)
        for addr in res.bad:
            self.diags.warning("R312", f"endpoint address {addr!r} of service {ing.namespace}/{name} is not an IP "
                               "address; ignored", loc=ing.backend_loc(base, "name"), obj=ing.ref)
        if res.problem:
            self.backends[key] = (None, res.problem)
            return self.backends[key]
        canonical = f"{ing.namespace}-{name}-{port}"
        up_name = self.upstream_names.name(canonical, f"service {ing.namespace}/{name} port {port}",
                                           ing.backend_loc(base, "name"), ing.ref)
        origin = Origin(ing.ref, ing.backend_loc(base, "name"))
        self.upstreams[up_name] = Upstream(up_name, ing.namespace, name, str(port), res.servers, origin,
                                           res.needs_dns, res.kind)
        if res.needs_dns and not self.opts.resolver:
            self.diags.warning("R311", f"upstream {up_name} uses DNS name(s) {', '.join(res.servers)}: nginx -t "
                               "will need them resolvable (or pass --resolver ADDR)",
                               loc=ing.backend_loc(base, "name"), obj=ing.ref)
        elif res.kind in ("cluster-ip",):
            self.diags.info("R310", f"service {ing.namespace}/{name} has no endpoint data in the input; using its "
                            f"ClusterIP {res.servers[0]}", loc=ing.backend_loc(base, "name"), obj=ing.ref)
        self.backends[key] = (up_name, "")
        return self.backends[key]

    def bind(self, loc: Location, ing: Ingress, backend: dict[str, Any], base: tuple[str | int, ...]) -> None:
        svc = backend.get("service") or {}
        port_spec = svc.get("port") or {}
        loc.service = str(svc.get("name", ""))
        loc.service_port = str(port_spec.get("number") or port_spec.get("name", ""))
        loc.namespace = ing.namespace
        loc.ingress = ing.name
        up, problem = self.backend(ing, backend, base)
        if up is None:
            loc.status = 503
            loc.status_reason = problem
            self.diags.warning(self.problem_code(problem), f"{problem}: path {loc.path!r} answers 503",
                               loc=ing.backend_loc(base, "name"), obj=ing.ref)
            return
        loc.upstream = up
        u = self.upstreams[up]
        if u.needs_dns and self.opts.resolver:
            loc.backend_dns = u.servers[0]
            loc.proxy_target = "http://$ingc_backend"
        else:
            loc.proxy_target = f"http://{up}"

    @staticmethod
    def problem_code(problem: str) -> str:
        if "not found" in problem:
            return "R301"
        if "no port" in problem:
            return "R302"
        return "R303"

    # --- servers and locations -----------------------------------------------------------------
    def placeholder(self, host: str, ing: Ingress | None) -> Location:
        loc = Location("/", "Prefix", "", "/", Origin(ing.ref, ing.loc("metadata", "name")) if ing else None,
                       is_placeholder=True, written_path_type="Prefix")
        loc.proxy = proxy_defaults(self.settings)
        loc.ssl_redirect = self.settings.ssl_redirect
        loc.force_ssl_redirect = self.settings.force_ssl_redirect
        loc.preserve_trailing_slash = self.settings.preserve_trailing_slash
        default_backend = ing.spec.get("defaultBackend") if ing else None
        if ing is not None and isinstance(default_backend, dict) and default_backend.get("service"):
            self.bind(loc, ing, default_backend, ("spec", "defaultBackend"))
        elif self.global_default is not None:
            loc.upstream, loc.proxy_target = self.global_default, f"http://{self.global_default}"
        else:
            loc.status = 404
            loc.status_reason = "default backend"
        return loc

    def server_for(self, host: str, ing: Ingress, rule_index: int) -> Server:
        key = host or CATCH_ALL
        srv = self.servers.get(key)
        if srv is None:
            srv = Server(key, origin=Origin(ing.ref, ing.loc("spec", "rules", rule_index, "host")))
            srv.locations.append(self.placeholder(key, ing))
            self.servers[key] = srv
            self.first_ing[key] = ing
            self.paths[key] = {}
        return srv

    def check_paths(self, ing: Ingress) -> bool:
        ok = True
        for i, rule in enumerate(ing.spec.get("rules") or []):
            for j, p in enumerate(((rule.get("http") or {}).get("paths")) or []):
                path = p.get("path") or "/"
                ptype = p.get("pathType") or "Prefix"
                where = ing.loc("spec", "rules", i, "http", "paths", j, "path")
                if CONTROL.search(path):
                    self.diags.error("V141", f"path {path!r} contains a control character", loc=where, obj=ing.ref)
                    ok = False
                    continue
                if not path.startswith("/"):
                    self.diags.error("V141", f"path {path!r} must start with '/'", loc=where, obj=ing.ref)
                    ok = False
                    continue
                if ptype in ("Exact", "Prefix") and not STRICT_PATH.match(path):
                    self.diags.error("V141", f"path {path!r} cannot be used with pathType {ptype}: only letters, "
                                     "digits and . _ - / are allowed (use ImplementationSpecific for regexes)",
                                     loc=where, obj=ing.ref)
                    ok = False
                    continue
                for rx in DEEP_INSPECT:
                    if rx.search(path):
                        self.diags.error("V142", f"path {path!r} is refused by deep inspection (matches "
                                         f"{DEEP_SHOWN.get(rx.pattern, rx.pattern)!r})", loc=where, obj=ing.ref)
                        ok = False
                        break
        return ok

    def add_ingress(self, ing: Ingress) -> None:
        parsed = parse_annotations(ing, HANDLERS, self.ctx)
        if parsed is None:
            self.diags.info("R101", "Ingress not compiled because of the errors above", loc=ing.loc("metadata", "name"),
                            obj=ing.ref)
            self.result.skipped.append(ing.ref)
            return
        if not self.check_paths(ing):
            self.result.skipped.append(ing.ref)
            return
        self.parsed[ing.ref] = parsed
        self.result.compiled.append(ing.ref)
        rules = ing.spec.get("rules") or []
        dbe = ing.spec.get("defaultBackend")
        if not rules and isinstance(dbe, dict):
            self.catch_all_backend(ing, dbe)
        hosts_done: set[str] = set()
        for i, rule in enumerate(rules):
            host = str(rule.get("host") or "")
            srv = self.server_for(host, ing, i)
            if srv.hostname not in hosts_done:
                hosts_done.add(srv.hostname)
                apply_server(parsed, srv, self.ctx)
                if self.first_ing.get(srv.hostname) is ing and srv.locations and srv.locations[0].is_placeholder \
                        and "annotated" not in srv.locations[0].features:
                    srv.locations[0].features["annotated"] = True  # the host's default / gets the annotations
                    apply_location(parsed, srv.locations[0], self.ctx)
            known = self.paths[srv.hostname]
            for j, p in enumerate(((rule.get("http") or {}).get("paths")) or []):
                base = ("spec", "rules", i, "http", "paths", j, "backend")
                path = p.get("path") or "/"
                written = p.get("pathType") or "Prefix"
                ptype = "Exact" if written == "Exact" else "Prefix"
                where = ing.loc("spec", "rules", i, "http", "paths", j, "path")
                backend = p.get("backend") or {}
                if not backend.get("service"):
                    self.diags.info("R307", f"path {path!r} has a resource backend; skipped", loc=where, obj=ing.ref)
                    continue
                prev = known.get((path, ptype))
                if prev is not None:
                    other = prev[1]
                    self.diags.warning("R304", f"host {host or '*'} path {path!r} ({ptype}) is already defined by "
                                       f"Ingress {other.namespace}/{other.name} at {prev[0].origin.span if prev[0].origin else '?'}"
                                       "; that one wins (it comes first in ingress-nginx's order: older creationTimestamp, ties by "
                                       "namespace/name descending)", loc=where, obj=ing.ref)
                    continue
                loc = Location(path, ptype, "", path, Origin(ing.ref, where), written_path_type=written)
                loc.proxy = proxy_defaults(self.settings)
                self.bind(loc, ing, backend, base)
                apply_location(parsed, loc, self.ctx)
                if loc.upstream in self.upstreams:
                    apply_upstream(parsed, self.upstreams[loc.upstream], self.ctx)
                known[(path, ptype)] = (loc, ing)
                if ptype == "Prefix" and path == "/" and srv.locations and srv.locations[0].is_placeholder:
                    srv.locations[0] = loc
                else:
                    srv.locations.append(loc)

    def catch_all_backend(self, ing: Ingress, dbe: dict[str, Any]) -> None:
        if self.opts.disable_catch_all:
            self.diags.info("R306", "spec.defaultBackend ignored (--disable-catch-all)",
                            loc=ing.loc("spec", "defaultBackend"), obj=ing.ref)
            return
        srv = self.servers[CATCH_ALL]
        root = srv.locations[-1]
        if not root.is_placeholder or self.catch_all_owner is not None:
            owner = self.catch_all_owner
            self.diags.warning("R305", f"default backend already defined by Ingress {owner}; this one is ignored",
                               loc=ing.loc("spec", "defaultBackend"), obj=ing.ref)
            return
        self.catch_all_owner = f"{ing.namespace}/{ing.name}"
        loc = Location("/", "Prefix", "", "/", Origin(ing.ref, ing.loc("spec", "defaultBackend")),
                       written_path_type="Prefix", is_placeholder=True)
        loc.proxy = proxy_defaults(self.settings)
        self.bind(loc, ing, dbe, ("spec", "defaultBackend"))
        loc.features["catch_all"] = True  # ingress-nginx skips redirect and rewrite here
        apply_location(self.parsed[ing.ref], loc, self.ctx)
        srv.locations[-1] = loc

    # --- TLS -----------------------------------------------------------------------------------
    def assign_tls(self, ings: list[Ingress]) -> None:
        certs: dict[tuple[str, str], tuple[str, x509.CertInfo | None] | None] = {}

        def load(ns: str, name: str, ing: Ingress, where: Loc) -> tuple[str, x509.CertInfo | None] | None:
            if (ns, name) in certs:
                return certs[(ns, name)]
            obj = self.inv.secrets.get((ns, name))
            out: tuple[str, x509.CertInfo | None] | None = None
            if obj is None:
                self.diags.warning("R340", f'TLS secret "{name}" not found in namespace "{ns}"; hosts using it get '
                                   "the default certificate", loc=where, obj=ing.ref)
            else:
                data = secret_data(obj, self.diags)
                crt, key = data.get("tls.crt"), data.get("tls.key")
                if not crt or not key:
                    self.diags.warning("R341", f"secret {ns}/{name} has no tls.crt/tls.key; default certificate "
                                       "used", loc=where, obj=ing.ref)
                else:
                    problem = x509.check_pair(crt, key)
                    if problem:
                        self.diags.warning("R342", f"secret {ns}/{name}: {problem}; default certificate used",
                                           loc=where, obj=ing.ref)
                    else:
                        pem = crt.rstrip(b"\n") + b"\n" + key.rstrip(b"\n") + b"\n"
                        digest = hashlib.sha256(pem).hexdigest()[:12]
                        fname = self.cert_names.name(f"ssl/{ns}-{name}", f"secret {ns}/{name}", where, ing.ref)
                        path = f"{fname}-{digest}.pem"
                        self.files[path] = pem
                        out = (path, x509.parse_certificate(crt))
            certs[(ns, name)] = out
            return out

        assigned: set[str] = set()
        for ing in ings:
            if ing.ref not in self.parsed:
                continue
            tls_list = ing.spec.get("tls") or []
            if not tls_list:
                continue
            hosts = [str(r.get("host")) for r in ing.spec.get("rules") or [] if r.get("host")]
            for host in hosts:
                if host in assigned or host not in self.servers:
                    continue
                assigned.add(host)
                chosen: tuple[str, str, Loc] | None = None
                for i, t in enumerate(tls_list):
                    if host.lower() in [h.lower() for h in t.get("hosts") or []] and t.get("secretName"):
                        chosen = (ing.namespace, str(t["secretName"]), ing.loc("spec", "tls", i, "secretName"))
                        break
                cert = load(chosen[0], chosen[1], ing, chosen[2]) if chosen else None
                if chosen and cert is not None and cert[1] is not None and not x509.covers(cert[1], host):
                    self.diags.warning("R343", f"certificate in secret {chosen[0]}/{chosen[1]} does not cover host "
                                       f"{host}; default certificate used", loc=chosen[2], obj=ing.ref)
                    cert = None
                if cert is None and chosen is None:
                    for i, t in enumerate(tls_list):
                        if not t.get("secretName"):
                            continue
                        c = load(ing.namespace, str(t["secretName"]), ing, ing.loc("spec", "tls", i, "secretName"))
                        if c is not None and c[1] is not None and x509.covers(c[1], host):
                            cert, chosen = c, (ing.namespace, str(t["secretName"]), ing.loc("spec", "tls", i))
                            break
                srv = self.servers[host]
                if cert is None:
                    self.diags.warning("R344", f"host {host} gets the default certificate", loc=ing.loc("spec", "tls"),
                                       obj=ing.ref)
                    srv.tls = Tls("", self.default_cert, is_default=True)
                else:
                    assert chosen is not None
                    srv.tls = Tls(f"{chosen[0]}/{chosen[1]}", cert[0])

    # --- the whole pass ------------------------------------------------------------------------
    def run(self) -> Result:
        self.setup_defaults()
        accepted, claims = self.accepted_classes(), self.default_class_claims()
        ings = sort_ingresses(self.inv.ingresses)
        catch_all = Server(CATCH_ALL, is_default=True)
        catch_all.locations = [self.placeholder(CATCH_ALL, None)]
        self.servers[CATCH_ALL] = catch_all
        self.paths[CATCH_ALL] = {}
        canaries: list[Ingress] = []
        for ing in ings:
            if not self.class_ok(ing, accepted, claims):
                self.result.skipped.append(ing.ref)
                continue
            if ing.annotations.get(f"{self.opts.annotations_prefix}/{CANARY_KEY}", "").strip().lower() == "true":
                if not self.ctx.state.get("canary_supported"):
                    self.diags.warning("R102", "canary Ingress not compiled: canary is not supported yet",
                                       loc=ing.loc("metadata", "annotations"), obj=ing.ref)
                    self.result.skipped.append(ing.ref)
                else:
                    canaries.append(ing)  # merged into the main Ingresses' locations once they all exist
                continue
            self.add_ingress(ing)
        for ing in canaries:
            self.ctx.state["canary_attach"](self, ing)
        self.assign_tls(ings)
        self.rewrites: dict[ObjRef, Rewrite | None] = {r: p.feature("rewrite") for r, p in self.parsed.items()}
        servers = [self.finish_server(s) for s in self.servers.values()]
        servers.sort(key=lambda s: s.hostname)
        cfg = self.result.config
        cfg.servers = servers
        cfg.upstreams = sorted(self.upstreams.values(), key=lambda u: u.name)
        cfg.files = dict(sorted(self.files.items()))
        cfg.http_port, cfg.https_port = self.opts.http_port, self.opts.https_port
        cfg.ipv6, cfg.resolver = self.opts.enable_ipv6, self.opts.resolver
        finish_annotations(cfg, self.parsed, HANDLERS, self.ctx)
        return self.result

    def setup_defaults(self) -> None:
        if self.opts.default_ssl_certificate:
            ns, _, name = self.opts.default_ssl_certificate.partition("/")
            obj = self.inv.secrets.get((ns, name))
            data = secret_data(obj) if obj else {}
            crt, key = data.get("tls.crt"), data.get("tls.key")
            if crt and key and not x509.check_pair(crt, key):
                self.files["ssl/default-certificate.pem"] = crt.rstrip(b"\n") + b"\n" + key.rstrip(b"\n") + b"\n"
                self.default_cert = "ssl/default-certificate.pem"
            else:
                self.diags.error("R345", f"--default-ssl-certificate {self.opts.default_ssl_certificate}: no valid TLS "
                                 "secret of that name in the input")
        if self.default_cert == DEFAULT_CERT:
            self.files[DEFAULT_CERT] = data_file("default-fake-certificate.pem").read_bytes()
        if self.opts.default_backend_service:
            ns, _, name = self.opts.default_backend_service.partition("/")
            svc = self.inv.services.get((ns, name))
            ports = ((svc.data.get("spec") or {}).get("ports") or []) if svc else []
            if not ports:
                self.diags.error("R346", f"--default-backend-service {self.opts.default_backend_service}: no such "
                                 "Service with a port in the input")
                return
            res = resolve_backend(self.inv, self.opts, ns, name, ports[0].get("port"))
            if res.problem:
                self.diags.warning(res.code, f"default backend: {res.problem}; unknown hosts answer 404")
                return
            self.upstream_names.name("upstream-default-backend", f"default backend service {ns}/{name}")  # reserved
            up = Upstream("upstream-default-backend", ns, name, str(ports[0].get("port")), res.servers,
                          Origin(svc.ref, svc.loc("metadata", "name")) if svc else Origin(ObjRef("Service", ns, name)),
                          res.needs_dns, res.kind)
            self.upstreams[up.name] = up
            self.global_default = up.name

    def finish_server(self, srv: Server) -> Server:
        """Regex switch, nginx locations (exact twins), ordering, redirects."""
        rewrites = self.rewrites
        switch_by: str = ""
        for loc in srv.locations:
            rw = rewrites.get(loc.origin.obj) if loc.origin and not loc.is_placeholder else None
            if rw is not None and (rw.use_regex or rw.effective(loc.path)):
                switch_by = f"{loc.origin.obj.namespace}/{loc.origin.obj.name}" if loc.origin else ""
                break
        srv.regex = bool(switch_by)
        ssl = srv.tls is not None
        no_redirect = self.settings.no_tls_redirect_locations
        final: list[Location] = []
        if srv.regex:
            ordered = sorted(srv.locations, key=lambda lo: lo.path, reverse=True)
            ordered.sort(key=lambda lo: len(lo.path), reverse=True)
            seen: set[str] = set()
            for loc in ordered:
                loc.modifier, loc.match = "~*", "^" + loc.path
                problem = pcre_ok(loc.match)
                obj = loc.origin.obj if loc.origin else None
                if problem:
                    self.diags.error("R321", f"path {loc.path!r} is not a valid regex ({problem}) but host "
                                     f"{srv.hostname} matches every path as a regex", loc=loc.origin.loc if loc.origin
                                     else None, obj=obj)
                    continue
                if loc.match in seen:
                    continue
                seen.add(loc.match)
                rw = rewrites.get(obj) if obj else None
                if not loc.is_placeholder and not (rw and rw.use_regex):
                    loc.regex_forced = True
                    self.diags.warning("R320", f"path {loc.path!r} ({loc.written_path_type}) on host {srv.hostname} is "
                                       f"matched as the case-insensitive regex \"^{loc.path}\" because Ingress "
                                       f"{switch_by} uses rewrite-target or use-regex on this host",
                                       loc=loc.origin.loc if loc.origin else None, obj=obj)
                final.append(loc)
        else:
            final = self.plain_locations(srv)
        for loc in final:
            exempt = any(loc.path.startswith(p) for p in no_redirect)
            loc.ssl_redirect = not exempt and (loc.force_ssl_redirect or (loc.ssl_redirect and ssl))
        if srv.is_default:
            health = Location("/healthz", "Exact", "=", "/healthz", None, status=200, status_reason="health check")
            final.insert(0, health)
        srv.locations = final
        return srv

    def plain_locations(self, srv: Server) -> list[Location]:
        by_key: dict[tuple[str, str], Location] = {}
        twins: list[Location] = []
        for loc in srv.locations:
            if loc.path_type == "Exact":
                loc.modifier, loc.match = "=", loc.path
            elif loc.path == "/" or loc.path.endswith("/"):
                loc.modifier, loc.match = "", loc.path
            else:
                loc.modifier, loc.match = "", loc.path + "/"
                twin = clone_location(loc)
                twin.modifier, twin.match, twin.twin_of = "=", loc.path, loc.path
                twins.append(twin)
            prev = by_key.get(loc.key)
            if prev is not None:
                if loc.origin and prev.origin:
                    self.diags.warning("R306", f"paths {prev.path!r} and {loc.path!r} both become location "
                                       f"\"{loc.match}\" on host {srv.hostname}; the first wins", loc=loc.origin.loc,
                                       obj=loc.origin.obj)
                continue
            by_key[loc.key] = loc
        for twin in twins:
            by_key.setdefault(twin.key, twin)
        # An Exact path written with a trailing '/' must not answer the path without it (nginx's automatic
        # 301 would): give "/x" an exact twin of whatever prefix location would otherwise serve it.
        prefixes = sorted((lo for lo in by_key.values() if lo.modifier == ""), key=lambda lo: len(lo.match),
                          reverse=True)
        for loc in list(by_key.values()):
            if loc.modifier == "=" and len(loc.match) > 1 and loc.match.endswith("/") and loc.status is None:
                bare = loc.match[:-1]
                if ("=", bare) in by_key:
                    continue
                best = next((p for p in prefixes if bare.startswith(p.match)), None)
                if best is None:
                    continue
                fix = clone_location(best)
                fix.modifier, fix.match, fix.twin_of = "=", bare, best.path
                by_key[fix.key] = fix
        out = list(by_key.values())
        out.sort(key=lambda lo: (lo.match, lo.modifier), reverse=True)
        out.sort(key=lambda lo: len(lo.match), reverse=True)
        return out


def resolve(inv: Inventory, opts: Options, settings: Settings, diags: Diagnostics) -> Result:
    return Resolver(inv, opts, settings, diags).run()
