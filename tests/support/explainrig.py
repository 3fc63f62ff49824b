"""Differential rig: generated Ingress sets and requests, real nginx, and ``ingc explain``'s prediction.

:func:`scenarios` is a hypothesis strategy of :class:`Scenario` (Ingresses with wildcard hosts,
overlapping Exact/Prefix/ImplementationSpecific/regex paths, rewrites, use-regex, default backends,
TLS, ssl-redirect switches and, when the registry has them, aliases, redirects and canaries) and the
requests to send.  :class:`Rig` owns one echo backend per Service name (named after it) and a pair of
ports; ``Rig.run(scenario)`` builds the bundle with ``ingc build``, compiles the same manifests to the
IR explain reads, starts ONE nginx, sends every request, and returns one :class:`Verdict` per request:
what nginx did, what explain predicted, and the fields on which they disagree.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from ingc.annotations import KNOWN_KEYS
from ingc.diagnostics import Diagnostics
from ingc.explain import Explanation, explain, parse_request
from ingc.ir import NginxConfig
from ingc.options import Options

from .build import DEFAULT_SETTINGS, backend_service, build_bundle, ingress, rule, tls_secret
from .echo import EchoBackend, start_echo
from .http import request
from .nginx import NginxRunner
from .ports import free_ports

SERVICES = ("svc-a", "svc-b", "svc-c")
GHOST = "svc-ghost"  # referenced, never defined: its locations answer 503
HOSTS = ("a.test", "b.test", "*.w.test", "x.w.test")
REQUEST_HOSTS = ("a.test", "b.test", "x.w.test", "q.w.test", "a.b.w.test", "w.test", "other.test", "www.a.test",
                 "alias.test")
BASIC_AUTH = "Basic " + base64.b64encode(b"user:secret").decode()  # valid for the basic-auth Secret
PLAIN_PATHS = ("/", "/foo", "/foo/", "/foo/bar", "/foo/bar/", "/bar", "/fo", "/foo.bar", "/Foo", "/bar/baz")
REGEX_PATHS = ("/foo(/|$)(.*)", "/ba.", "/foo/.*", "/[a-z]+/bar", "/(foo|bar)/(.*)", "/foo/bar/(.+)", "/b(a|o)r")
TARGETS = ("/", "/$1", "/$2", "/new/$1", "/x/$2", "/foo")
SEGMENTS = ("foo", "bar", "baz", "fo", "foo.bar", "x", "new", "foobar")
PREFIX = "nginx.ingress.kubernetes.io/"


def has(key: str) -> bool:
    """The annotation is in ingc's registry (so generated manifests may use it)."""
    return key in KNOWN_KEYS


# --- scenarios ------------------------------------------------------------------------------------

@dataclass
class Req:
    scheme: str
    host: str  # Host header as sent
    target: str
    headers: tuple[tuple[str, str], ...] = ()

    def url(self, http_port: int, https_port: int) -> str:
        port = https_port if self.scheme == "https" else http_port
        return f"{self.scheme}://{self.host.split(':')[0]}:{port}{self.target}"


@dataclass
class Scenario:
    docs: list[dict[str, Any]]
    requests: list[Req]
    tls_hosts: list[str] = field(default_factory=list)

    def describe(self) -> str:
        import yaml

        return yaml.safe_dump_all(self.docs, sort_keys=False) + "requests:\n" + "".join(
            f"  {r.scheme} {r.host} {r.target} {list(r.headers) or ''}\n" for r in self.requests)


@st.composite
def ingress_paths(draw: st.DrawFn, regex_ok: bool) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        ptype = draw(st.sampled_from(("Exact", "Prefix", "ImplementationSpecific")))
        pool = PLAIN_PATHS + (REGEX_PATHS if ptype == "ImplementationSpecific" and regex_ok else ())
        p = draw(st.sampled_from(pool))
        svc = draw(st.sampled_from(SERVICES + (GHOST,)))
        out.append({"path": p, "pathType": ptype, "backend": {"service": {"name": svc, "port": {"number": 80}}}})
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    docs: list[dict[str, Any]] = []
    tls_hosts: set[str] = set()
    n = draw(st.integers(1, 4))
    for i in range(n):
        ann: dict[str, str] = {}
        regexy = draw(st.sampled_from(("none", "none", "rewrite", "use-regex", "both")))
        if regexy in ("rewrite", "both"):
            ann["rewrite-target"] = draw(st.sampled_from(TARGETS))
        if regexy in ("use-regex", "both"):
            ann["use-regex"] = "true"
        if draw(st.integers(0, 5)) == 0:
            ann["ssl-redirect"] = "false"
        if draw(st.integers(0, 5)) == 0:
            ann["force-ssl-redirect"] = "true"
        if draw(st.integers(0, 5)) == 0:
            ann["preserve-trailing-slash"] = "true"
        if has("server-alias") and draw(st.integers(0, 4)) == 0:
            ann["server-alias"] = draw(st.sampled_from(("alias.test", "b.test", "al.w.test")))
        if has("permanent-redirect") and draw(st.integers(0, 8)) == 0:
            ann["permanent-redirect"] = draw(st.sampled_from(("https://moved.test/there", "http://m.test")))
            if has("permanent-redirect-code") and draw(st.booleans()):
                ann["permanent-redirect-code"] = draw(st.sampled_from(("308", "302", "399")))
        if has("temporal-redirect") and draw(st.integers(0, 8)) == 0:
            ann["temporal-redirect"] = "https://tmp.test/x?y=1"
        if has("app-root") and draw(st.integers(0, 8)) == 0:
            ann["app-root"] = "/foo"
        if has("from-to-www-redirect") and draw(st.integers(0, 8)) == 0:
            ann["from-to-www-redirect"] = "true"
        if has("use-port-in-redirects") and draw(st.integers(0, 8)) == 0:
            ann["use-port-in-redirects"] = "true"
        if has("allowlist-source-range") and draw(st.integers(0, 6)) == 0:
            ann["allowlist-source-range"] = draw(st.sampled_from(("127.0.0.1/32", "10.0.0.0/8", "127.0.0.0/8,::1")))
        if has("denylist-source-range") and draw(st.integers(0, 8)) == 0:
            ann["denylist-source-range"] = draw(st.sampled_from(("127.0.0.1", "192.0.2.0/24")))
        if has("auth-secret") and draw(st.integers(0, 6)) == 0:
            ann.update({"auth-type": "basic", "auth-secret": "basic-auth", "auth-realm": "Staff only"})
        if has("custom-http-errors") and draw(st.integers(0, 6)) == 0:
            ann["custom-http-errors"] = draw(st.sampled_from(("404,503", "503", "404")))
            if has("default-backend") and draw(st.booleans()):
                ann["default-backend"] = draw(st.sampled_from(SERVICES))
        rules = []
        hosts: list[str | None] = []
        for _ in range(draw(st.integers(1, 2))):
            host = draw(st.sampled_from(HOSTS + (None,)))
            if host in hosts:
                continue
            hosts.append(host)
            rules.append(rule(host, *draw(ingress_paths(regex_ok=True))))
        tls: list[tuple[list[str], str | None]] = []
        named = [h for h in hosts if h]
        if named and draw(st.integers(0, 2)) == 0:
            tls = [(named, "tls-all")]
            tls_hosts.update(named)
        default_backend = None
        if draw(st.integers(0, 4)) == 0:
            default_backend = (draw(st.sampled_from(SERVICES)), 80)
            if draw(st.booleans()):
                rules = []  # a catch-all Ingress
        doc = ingress(f"ing-{i}", rules=rules, annotations=ann, tls=tls, default_backend=default_backend,
                      created=f"2024-01-0{i + 1}T00:00:00Z")
        docs.append(doc)
    if has("canary") and has("canary-by-header") and draw(st.integers(0, 2)) == 0:
        main = draw(st.sampled_from(docs))
        rules = main["spec"].get("rules") or []
        if rules and rules[0].get("host"):
            p = rules[0]["http"]["paths"][0]
            canary = ingress("canary", rules=[rule(rules[0]["host"], {**p, "backend": {"service": {
                "name": draw(st.sampled_from(SERVICES)), "port": {"number": 80}}}})],
                annotations={"canary": "true", "canary-by-header": "X-Canary"}, created="2024-02-01T00:00:00Z")
            docs.append(canary)
    used_hosts = sorted({str(r.get("host")) for d in docs for r in d["spec"].get("rules") or [] if r.get("host")})
    used_paths = sorted({str(p.get("path")) for d in docs for r in d["spec"].get("rules") or []
                         for p in (r.get("http") or {}).get("paths") or []})
    reqs: list[Req] = []
    for _ in range(draw(st.integers(4, 10))):
        scheme = draw(st.sampled_from(("http", "https")))
        if used_hosts and draw(st.integers(0, 2)) > 0:
            host = draw(st.sampled_from(used_hosts)).replace("*", draw(st.sampled_from(("q", "x", "a-b", "a.b"))))
        else:
            host = draw(st.sampled_from(REQUEST_HOSTS))
        if draw(st.integers(0, 4)) == 0:
            host = host.upper()
        if scheme == "http" and draw(st.integers(0, 8)) == 0:
            host += "."
        if used_paths and draw(st.integers(0, 2)) > 0:
            target = sample_path(draw(st.sampled_from(used_paths)))
            mutation = draw(st.sampled_from(("", "", "strip/", "add/", "upper", "child", "longer")))
            if mutation == "strip/" and len(target) > 1:
                target = target.rstrip("/") or "/"
            elif mutation == "add/" and not target.endswith("/"):
                target += "/"
            elif mutation == "upper":
                target = target.upper()
            elif mutation == "child":
                target = target.rstrip("/") + "/" + draw(st.sampled_from(SEGMENTS))
            elif mutation == "longer":
                target += draw(st.sampled_from(("x", "o", ".bar")))
        else:
            segs = draw(st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=3))
            if segs and draw(st.integers(0, 3)) == 0:
                i = draw(st.integers(0, len(segs) - 1))
                segs[i] = segs[i].capitalize() if draw(st.booleans()) else segs[i].upper()
            target = "/" + "/".join(segs)
            if segs and draw(st.booleans()):
                target += "/"
        if draw(st.integers(0, 6)) == 0:
            target = "/" + target
        odd = draw(st.integers(0, 12))
        if odd == 0 and len(target) > 1:  # percent-encode one character of the path
            i = draw(st.integers(1, len(target) - 1))
            target = target[:i] + f"%{ord(target[i]):02X}" + target[i + 1:]
        elif odd == 1:
            target = draw(st.sampled_from(("/./", "/x/../", "/a%20b/"))) + target.lstrip("/")
        if draw(st.integers(0, 6)) == 0:
            host += ":" + str(draw(st.sampled_from((80, 443, 8080))))
        if draw(st.integers(0, 4)) == 0:
            target += draw(st.sampled_from(("?q=1", "?a=b&c=d", "?", "?next=/")))
        if draw(st.integers(0, 8)) == 0:  # the echo backend answers these with that status
            target = draw(st.sampled_from(("/__status/404", "/__status/503", "/__status/500")))
        headers: tuple[tuple[str, str], ...] = ()
        if draw(st.integers(0, 3)) == 0:
            headers = (("X-Canary", draw(st.sampled_from(("always", "never", "x")))),)
        if draw(st.integers(0, 3)) == 0:
            headers += (("Authorization", BASIC_AUTH),)
        reqs.append(Req(scheme, host, target, headers))
    return Scenario(docs, reqs, sorted(tls_hosts))


REGEX_SAMPLES = {"(/|$)": "/", "(.*)": "x/y", ".*": "z", "[a-z]+": "abc", "(foo|bar)": "bar", "(.+)": "q",
                 "(a|o)": "o", "ba.": "baz"}


def sample_path(path: str) -> str:
    """A concrete request path for an Ingress path (regex constructs replaced by text they match)."""
    for k, v in REGEX_SAMPLES.items():
        path = path.replace(k, v)
    return path


# --- running --------------------------------------------------------------------------------------

@dataclass
class Observed:
    status: int | None
    backend: str | None  # echo backend name (= Service name)
    location: str | None
    uri: str | None  # the request target the backend received

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.status, self.backend, self.location, self.uri)


@dataclass
class Verdict:
    req: Req
    real: Observed
    predicted: Observed
    explanation: Explanation

    @property
    def fields(self) -> list[str]:
        names = ("status", "backend", "location", "uri")
        return [n for n, a, b in zip(names, self.real.as_tuple(), self.predicted.as_tuple(), strict=True) if a != b]

    @property
    def ok(self) -> bool:
        return not self.fields

    def klass(self) -> str:
        """A disagreement class: which fields differ, and the outcome kinds on both sides."""
        return f"{'+'.join(self.fields)}: nginx {self.real.status} / explain {self.predicted.status} " \
               f"({self.explanation.outcome.action})"

    def report(self) -> str:
        return (f"{self.req.scheme} Host={self.req.host} {self.req.target} {list(self.req.headers)}\n"
                f"  nginx:   {self.real}\n  explain: {self.predicted}\n")


def echo_view(uri: str | None) -> str | None:
    """The target as the echo backend reports it: Python's http.server collapses leading slashes
    (``//x`` -> ``/x``, an open-redirect guard), so a prediction is compared through the same lens."""
    if uri is not None and uri.startswith("//"):
        return "/" + uri.lstrip("/")
    return uri


def backend_status(uri: str | None) -> int | None:
    m = re.match(r"^/__status/(\d{3})(?:[/?]|$)", echo_view(uri) or "")
    return int(m.group(1)) if m else None


def prediction(ex: Explanation, cfg: NginxConfig) -> Observed:
    o = ex.outcome
    if o.action == "proxy":
        up = next((u for u in cfg.upstreams if u.name == o.upstream), None)
        status = o.status if o.status is not None else 200  # the echo backend answers 200
        return Observed(status, up.service if up else o.upstream, None, echo_view(o.backend_uri))
    return Observed(o.status, None, o.location_header, None)


class Rig:
    """Echo backends (one per Service name), two ports, a work directory; one nginx per scenario."""

    def __init__(self, nginx_bin: str | None = None, workdir: str | None = None) -> None:
        self.nginx_bin = nginx_bin
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ingc-diff-"))
        self._own_dir = workdir is None
        self.backends: dict[str, EchoBackend] = {}
        self.http_port, self.https_port = free_ports(2)
        self.secret = ""
        self.count = 0
        self.refusals: Counter[str] = Counter()  # error codes of scenarios ingc refused

    def __enter__(self) -> Rig:
        try:
            for name in SERVICES:
                self.backends[name] = start_echo(name)
            self.secret = tls_secret("tls-all", ["a.test", "b.test", "*.w.test", "x.w.test", "alias.test",
                                                   "www.a.test"])[0]
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for b in self.backends.values():
            b.stop()
        self.backends.clear()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def manifests(self, sc: Scenario) -> list[Any]:
        docs: list[Any] = []
        for name, b in self.backends.items():
            docs += backend_service(name, b)
        docs.append(self.secret)
        sha = base64.b64encode(hashlib.sha1(b"secret").digest()).decode()
        docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "basic-auth", "namespace": "default"},
                     "type": "Opaque", "stringData": {"auth": f"user:{{SHA}}{sha}\n"}})
        docs += sc.docs
        return docs

    def compile(self, mf: Path, cfg_file: Path) -> tuple[NginxConfig | None, Diagnostics]:
        from ingc.pipeline import compile_sources

        diags = Diagnostics()
        opts = Options(http_port=self.http_port, https_port=self.https_port, controller_config=str(cfg_file),
                       verify=False)
        res = compile_sources([str(mf)], opts, diags)
        return res.config, diags

    def run(self, sc: Scenario) -> list[Verdict] | None:
        """None when ingc refuses the manifests (errors): nothing to compare."""
        self.count += 1
        out = self.workdir / f"s{self.count}"
        built = build_bundle(out, self.manifests(sc), http_port=self.http_port, https_port=self.https_port,
                             expect_exit=None)
        if built.exit_code != 0:
            self.refusals.update(set(re.findall(r"error\[(\w+)\]", built.stderr)))
            return None
        cfg, _ = self.compile(built.manifests, built.manifests.with_name(built.manifests.stem + ".controller.yaml"))
        assert cfg is not None
        verdicts: list[Verdict] = []
        runner = NginxRunner(out, binary=self.nginx_bin, port=self.http_port)
        runner.start()
        try:
            for r in sc.requests:
                real = self.send(r)
                req = parse_request(r.url(self.http_port, self.https_port), "GET",
                                    [f"Host: {r.host}", *[f"{k}: {v}" for k, v in r.headers]])
                ex = explain(cfg, req)
                status = backend_status(ex.outcome.backend_uri) if ex.outcome.action == "proxy" else None
                if status is not None:  # the echo backend answers /__status/NNN with NNN
                    req.backend_status = status
                    ex = explain(cfg, req)
                verdicts.append(Verdict(r, real, prediction(ex, cfg), ex))
        finally:
            runner.stop()
            shutil.rmtree(out, ignore_errors=True)
        return verdicts

    def send(self, r: Req) -> Observed:
        https = r.scheme == "https"
        port = self.https_port if https else self.http_port
        sni = r.host.split(":")[0].rstrip(".") or None
        resp = request(port, r.target, host=r.host, headers=list(r.headers), https=https, sni=sni)
        backend = resp.headers.get("X-Echo-Backend")
        uri = None
        if backend is not None:
            try:
                uri = resp.json().get("uri")
            except ValueError:
                uri = None
        return Observed(resp.status, backend, resp.headers.get("Location"), uri)


def tally(verdicts: list[Verdict]) -> Iterator[tuple[str, int]]:
    counts = Counter(v.klass() for v in verdicts if not v.ok)
    yield from sorted(counts.items(), key=lambda kv: -kv[1])


__all__ = ["DEFAULT_SETTINGS", "Observed", "Req", "Rig", "Scenario", "Verdict", "prediction", "scenarios",
           "tally"]
