"""End to end: every path and host rule of the issue, served by real nginx to real echo backends.

One bundle with many hosts is built by ``ingc build`` and run by one nginx for the whole module; each
test sends plain-HTTP requests and asserts the status, which backend answered, and the URI and Host
the backend received.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.build import BuildResult, Doc, backend_service, build_bundle, ingress, path, rule, service
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import Response, raw_request, request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

pytestmark = pytest.mark.nginx

REPO = Path(__file__).resolve().parent.parent
BACKENDS = (
    "root", "foo", "foobar", "exact", "exactpre", "impl", "case", "exslash", "preslash",
    "wild", "dflt", "app", "winner", "loser",
)
OLD, NEW = "2020-01-01T00:00:00Z", "2024-06-01T12:00:00Z"


@dataclass
class Env:
    port: int
    build: BuildResult
    runner: NginxRunner
    backends: dict[str, EchoBackend]


def manifests(b: dict[str, EchoBackend]) -> list[Doc]:
    docs: list[Doc] = []
    for name in ("root", "foo", "foobar", "exact", "exactpre", "impl", "case", "exslash", "preslash", "wild",
                 "dflt", "winner", "loser"):
        docs += backend_service(name, b[name])
    # --- paths.test: every path rule in one Ingress, deliberately listed longest-last/shuffled -----------
    docs.append(ingress("paths", rules=[rule(
        "paths.test",
        path("/foo/bar", "foobar"),
        path("/", "root"),
        path("/exact", "exact", path_type="Exact"),
        path("/foo", "foo"),
        path("/exact", "exactpre"),
        path("/impl", "impl", path_type="ImplementationSpecific"),
        path("/Case", "case"),
        path("/exslash/", "exslash", path_type="Exact"),
        path("/preslash/", "preslash"),
    )]))
    # --- order.test: the shorter prefix in the older Ingress, the longer one in a newer Ingress ---------
    docs.append(ingress("order-a", created=OLD, rules=[rule("order.test", path("/foo", "foo"), path("/", "root"))]))
    docs.append(ingress("order-b", created=NEW, rules=[rule("order.test", path("/foo/bar", "foobar"))]))
    # --- noroot.test: no "/" path, so the host's own "/" answers 404 (not the catch-all backend) ------
    docs.append(ingress("noroot", rules=[rule(
        "noroot.test", path("/only/", "exslash", path_type="Exact"), path("/dir/", "preslash"))]))
    # --- wildcard hosts: one label only; an exact name beats the wildcard ---------------------------
    docs.append(ingress("wild", rules=[rule("*.wild.test", path("/", "wild")),
                                       rule("x.wild.test", path("/", "foo"))]))
    # --- the catch-all: a rule-less Ingress's spec.defaultBackend serves unknown hosts ---------------
    docs.append(ingress("fallback", default_backend=("dflt", 80)))
    # --- 503s: a missing Service, a Service without the port, a Service without ready endpoints ------
    docs += backend_service("notready", b["root"], ready=False)
    docs.append(service("noslices"))  # no ClusterIP, no endpoints in the input: a DNS name, not used here
    docs.append(ingress("broken", rules=[rule(
        "broken.test",
        path("/missing", "nosuch"),
        path("/noport", "foo", port=8080),
        path("/notready", "notready"),
        path("/", "root"),
    )]))
    # --- rewrite-target: the original example (legacy API, rewrite "/") with its Service's endpoints --
    docs.append((REPO / "examples" / "original" / "ingress.yaml").read_text())
    docs.append({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "appsvc-1", "namespace": "apps", "labels": {"kubernetes.io/service-name": "appsvc"}},
        "addressType": "IPv4",
        "ports": [{"port": b["app"].port, "protocol": "TCP"}],  # unnamed, as the Service port
        "endpoints": [{"addresses": ["127.0.0.1"]}],  # ready unset counts as ready
    })
    # --- capture groups, and a second Ingress on the same host that the regex switch takes over ------
    docs.append(ingress("capture", annotations={"rewrite-target": "/$2"}, rules=[rule(
        "capture.test", path("/something(/|$)(.*)", "foo", path_type="ImplementationSpecific"))]))
    docs.append(ingress("capture-plain", rules=[rule("capture.test", path("/exact", "exact", path_type="Exact"))]))
    # --- duplicate host+path+pathType across Ingresses: the oldest wins ----------------------------
    docs.append(ingress("dup-newer", created=NEW, rules=[rule("dup.test", path("/dup", "loser"))]))
    docs.append(ingress("dup-older", created=OLD, rules=[rule("dup.test", path("/dup", "winner"))]))
    # a missing creationTimestamp counts as the oldest
    docs.append(ingress("dup2-stamped", created=OLD, rules=[rule("dup2.test", path("/", "loser"))]))
    docs.append(ingress("dup2-unstamped", rules=[rule("dup2.test", path("/", "winner"))]))
    # equal timestamps: namespace/name compared descending (ingress-nginx's sortIngressSlice)
    docs.append(ingress("dup3-aaa", created=OLD, rules=[rule("dup3.test", path("/", "loser"))]))
    docs.append(ingress("dup3-zzz", created=OLD, rules=[rule("dup3.test", path("/", "winner"))]))
    return docs


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str) -> Iterator[Env]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = list(pool.map(start_echo, BACKENDS))
    backends = {b.name: b for b in started}
    runner: NginxRunner | None = None
    try:
        http_port, https_port = free_ports(2)
        root = tmp_path_factory.mktemp("e2e-routing")
        res = build_bundle(root / "bundle", manifests(backends), http_port=http_port, https_port=https_port)
        runner = NginxRunner(res.bundle, binary=nginx_bin, port=http_port)
        runner.assert_config_ok()
        runner.start()
        yield Env(http_port, res, runner, backends)
    finally:
        if runner is not None:
            runner.stop()
        for b in started:
            b.stop()


def get(env: Env, host: str, target: str) -> Response:
    return request(env.port, target, host=host)


def assert_served(r: Response, backend: str, uri: str, host: str) -> None:
    """200 from ``backend``, which received ``uri`` (path and query) and the Host header ``host``."""
    assert r.status == 200, (r.status, r.text[:300])
    data = r.json()
    assert (data["backend"], data["uri"], data["headers"]["host"]) == (backend, uri, host)


def assert_not_proxied(r: Response, status: int) -> None:
    assert r.status == status, (r.status, r.text[:300])
    assert "X-Echo-Backend" not in r.headers


# --- the bundle itself -----------------------------------------------------------------------------


def test_bundle_is_clean(env: Env) -> None:
    env.runner.assert_config_ok()
    payload = env.build.crossplane()
    http = [d for d in payload["config"][0]["parsed"] if d["directive"] == "http"][0]["block"]
    names = sorted(d["args"][0] for d in http if d["directive"] == "server"
                   for d in d["block"] if d["directive"] == "server_name")
    # (crossplane keeps a quoted argument's backslash escapes as written)
    assert names == sorted([
        "_", "paths.test", "order.test", "noroot.test", r"~^(?<subdomain>[\\w-]+)\\.wild\\.test$", "x.wild.test",
        "broken.test", "kubernetes.foo.bar", "capture.test", "dup.test", "dup2.test", "dup3.test",
    ])
    # the findings that explain the behaviour below were reported
    for code in ("R301", "R302", "R303", "R304", "R320", "V130"):
        assert env.build.has(code), (code, env.build.stderr)


# --- Exact, Prefix, ImplementationSpecific, longest prefix, case ------------------------------------

PATH_CASES = [
    # Prefix /foo: element-wise
    ("/foo", "foo"), ("/foo/", "foo"), ("/foo/x", "foo"), ("/foo/x/y?q=1", "foo"), ("/foobar", "root"),
    ("/foo.txt", "root"),
    # the longest prefix wins whatever the rule order, element-wise too
    ("/foo/bar", "foobar"), ("/foo/bar/", "foobar"), ("/foo/bar/baz", "foobar"), ("/foo/barbaz", "foo"),
    # Exact beats Prefix on the same path; Exact is exact
    ("/exact", "exact"), ("/exact?x=1", "exact"), ("/exact/", "exactpre"), ("/exact/more", "exactpre"),
    ("/exactly", "root"),
    # ImplementationSpecific behaves as Prefix
    ("/impl", "impl"), ("/impl/", "impl"), ("/impl/a/b", "impl"), ("/implant", "root"),
    # case-sensitive
    ("/Case", "case"), ("/Case/x", "case"), ("/case", "root"), ("/CASE/x", "root"),
    # Exact written with a trailing "/": only that URI; the bare one goes to the next best prefix, no 301
    ("/exslash/", "exslash"), ("/exslash", "root"), ("/exslash/x", "root"),
    # Prefix written with a trailing "/"
    ("/preslash/", "preslash"), ("/preslash/x", "preslash"), ("/preslashed", "root"),
    # everything else: the "/" path
    ("/", "root"), ("/nothing/here", "root"), ("/healthz", "root"),
]


@pytest.mark.parametrize(("target", "backend"), PATH_CASES, ids=[c[0] for c in PATH_CASES])
def test_paths(env: Env, target: str, backend: str) -> None:
    assert_served(get(env, "paths.test", target), backend, target, "paths.test")


@pytest.mark.parametrize(
    ("target", "backend"),
    [("/foo", "foo"), ("/foo/x", "foo"), ("/foo/bar", "foobar"), ("/foo/bar/x", "foobar"), ("/foo/barx", "foo"),
     ("/foobar", "root")],
)
def test_longest_prefix_across_ingresses(env: Env, target: str, backend: str) -> None:
    assert_served(get(env, "order.test", target), backend, target, "order.test")


def test_exact_trailing_slash_without_prefix_is_404_not_301(env: Env) -> None:
    assert_served(get(env, "noroot.test", "/only/"), "exslash", "/only/", "noroot.test")
    assert_not_proxied(get(env, "noroot.test", "/only"), 404)  # ingress-nginx: 301 to /only/
    assert_not_proxied(get(env, "noroot.test", "/only/x"), 404)
    # the host's own "/" is a 404: the rule-less Ingress's defaultBackend serves unknown hosts only
    assert_not_proxied(get(env, "noroot.test", "/"), 404)
    assert_not_proxied(get(env, "noroot.test", "/other"), 404)


def test_prefix_with_trailing_slash(env: Env) -> None:
    assert_served(get(env, "noroot.test", "/dir/"), "preslash", "/dir/", "noroot.test")
    assert_served(get(env, "noroot.test", "/dir/a/b"), "preslash", "/dir/a/b", "noroot.test")
    assert_not_proxied(get(env, "noroot.test", "/dirx"), 404)
    # As ingress-nginx: location "/dir/" makes nginx answer the bare path with its own 301.
    r = get(env, "noroot.test", "/dir")
    assert_not_proxied(r, 301)
    assert r.headers["Location"] == "http://noroot.test/dir/"


# --- hosts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "backend"),
    [("a.wild.test", "wild"), ("other-1.wild.test", "wild"), ("x.wild.test", "foo"),
     ("a.b.wild.test", "dflt"), ("wild.test", "dflt"), ("awild.test", "dflt")],
)
def test_wildcard_matches_one_label(env: Env, host: str, backend: str) -> None:
    assert_served(get(env, host, "/p?q"), backend, "/p?q", host)


def test_unknown_host_gets_the_default_backend(env: Env) -> None:
    assert_served(get(env, "unknown.example", "/any/path?x=1"), "dflt", "/any/path?x=1", "unknown.example")
    # no Host at all (HTTP/1.0): the catch-all server too
    raw = raw_request(env.port, b"GET /x HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200 ") and b'"backend": "dflt"' in raw and b'"uri": "/x"' in raw


def test_healthz_on_the_catch_all(env: Env) -> None:
    r = get(env, "unknown.example", "/healthz")
    assert_not_proxied(r, 200)
    assert r.body == b""
    assert_served(get(env, "unknown.example", "/healthz/x"), "dflt", "/healthz/x", "unknown.example")


# --- 503s -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/missing", "/missing/x", "/noport", "/notready", "/notready/x"])
def test_503_without_a_backend(env: Env, target: str) -> None:
    assert_not_proxied(get(env, "broken.test", target), 503)


def test_503_does_not_spill_over(env: Env) -> None:
    assert_served(get(env, "broken.test", "/missingx"), "root", "/missingx", "broken.test")
    assert_served(get(env, "broken.test", "/"), "root", "/", "broken.test")


# --- rewrite-target and the regex switch ----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "uri"),
    [("/app/x", "/"), ("/app", "/"), ("/app/x/y?q=1", "/?q=1"), ("/APP", "/"), ("/application", "/"),
     ("/App/deep/path", "/")],
)
def test_original_example_rewrite(env: Env, target: str, uri: str) -> None:
    assert_served(get(env, "kubernetes.foo.bar", target), "app", uri, "kubernetes.foo.bar")


def test_original_example_other_paths_404(env: Env) -> None:
    assert_not_proxied(get(env, "kubernetes.foo.bar", "/"), 404)
    assert_not_proxied(get(env, "kubernetes.foo.bar", "/ap"), 404)


@pytest.mark.parametrize(
    ("target", "uri"),
    [("/something", "/"), ("/something/", "/"), ("/something/new", "/new"), ("/something/a/b?x=1", "/a/b?x=1"),
     ("/SOMETHING/new", "/new")],
)
def test_rewrite_capture_groups(env: Env, target: str, uri: str) -> None:
    assert_served(get(env, "capture.test", target), "foo", uri, "capture.test")


def test_regex_switch_takes_over_other_ingresses(env: Env) -> None:
    # "/somethingelse" does not match "^/something(/|$)(.*)" and the host has no "/" path
    assert_not_proxied(get(env, "capture.test", "/somethingelse"), 404)
    # Exact "/exact" of another Ingress on the host became the case-insensitive prefix regex "^/exact"
    for target in ("/exact", "/EXACT", "/exactly", "/exact/x"):
        assert_served(get(env, "capture.test", target), "exact", target, "capture.test")
    # while on a host without the switch it stays exact and case-sensitive
    assert_served(get(env, "paths.test", "/EXACT"), "root", "/EXACT", "paths.test")


# --- duplicates across Ingresses ------------------------------------------------------------------


@pytest.mark.parametrize(("host", "target"), [("dup.test", "/dup"), ("dup.test", "/dup/x"), ("dup2.test", "/"),
                                              ("dup2.test", "/y"), ("dup3.test", "/")])
def test_duplicate_path_first_ingress_wins(env: Env, host: str, target: str) -> None:
    assert_served(get(env, host, target), "winner", target, host)
