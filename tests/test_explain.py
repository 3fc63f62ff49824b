"""`ingc explain` and the nginx model under it: server_name and location selection, URI normalisation,
and the directive interpreter (redirects, rewrites, access, auth, maps), plus the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingc.cli import main
from ingc.diagnostics import ObjRef
from ingc.explain import UsageError, explain, parse_request
from ingc.ir import Block, Location, NginxConfig, Origin, Server, Upstream
from ingc.nginxmatch import (
    BadRequest,
    escape_uri,
    normalize_uri,
    request_host,
    select_location,
    select_server,
)
from ingc.settings import Settings

# --- the nginx model -------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "uri", "args"), [
    pytest.param("/a//b/", "/a/b/", "", id="merge-slashes"),
    pytest.param("/a/./b/../c?x=1", "/a/c", "x=1", id="dots"),
    pytest.param("/%41b%2fc", "/Ab/c", "", id="percent-decoded"),
    pytest.param("/a/..", "/", "", id="dotdot-last"),
    pytest.param("/?", "/", "", id="empty-args"),
])
def test_normalize_uri(raw: str, uri: str, args: str) -> None:
    t = normalize_uri(raw)
    assert (t.uri, t.args, t.raw) == (uri, args, raw)


def test_normalize_uri_refuses_climbing_above_root() -> None:
    with pytest.raises(BadRequest):
        normalize_uri("/../etc")


@pytest.mark.parametrize(("header", "host"), [
    ("A.Test", "a.test"), ("a.test:8080", "a.test"), ("a.test.", "a.test"), ("[::1]:80", "[::1]"), (None, None)])
def test_request_host(header: str | None, host: str | None) -> None:
    assert request_host(header) == host


def test_escape_uri_is_nginx_uri_escaping() -> None:
    assert escape_uri("/a b/%/?#/é") == "/a%20b/%25/%3F%23/%C3%A9"


def srv(name: str, *aliases: str, default: bool = False, args: list[str] | None = None) -> Server:
    s = Server(name, list(aliases), is_default=default)
    s.server_name_args = args or []
    return s


def test_server_selection_order() -> None:
    catch = srv("_", default=True)
    wild = srv("*.w.test", args=['"~^(?<subdomain>[\\w-]+)\\.w\\.test$"'])
    exact = srv("x.w.test")
    head = srv("h", args=['"*.h.test"', '"mail.*"'])
    servers = [catch, wild, exact, head]
    assert select_server(servers, "x.w.test").server is exact
    c = select_server(servers, "q.w.test")
    assert (c.server, c.by) == (wild, "regex")
    assert select_server(servers, "a.b.w.test").by == "default"  # one label only
    assert select_server(servers, "w.test").server is catch
    assert select_server(servers, "deep.a.h.test").by == "wildcard"
    assert select_server(servers, "mail.example").server is head
    assert select_server(servers, None).by == "no-host"


def loc(modifier: str, match: str, upstream: str | None = "up", status: int | None = None) -> Location:
    lo = Location(match, "Prefix", modifier, match, None, upstream=upstream, status=status)
    lo.proxy_target = f"http://{upstream}" if upstream else ""
    return lo


def test_location_selection_follows_nginx_precedence() -> None:
    root, foo, foo_exact, rx1, rx2 = loc("", "/"), loc("", "/foo/"), loc("=", "/foo"), loc("~*", "^/foo/b"), \
        loc("~*", "^/f")
    locs = [foo_exact, foo, rx1, rx2, root]
    assert select_location(locs, "/foo").location is foo_exact  # exact wins, no regex evaluated
    assert select_location(locs, "/FOO/bar").location is rx1  # regexes before prefixes, case-insensitive
    assert select_location(locs, "/fx").location is rx2
    assert select_location(locs, "/x").location is root
    choice = select_location([foo, root], "/foo")
    assert choice.auto_redirect and choice.location is foo  # nginx's 301 to "/foo/"
    assert not select_location([loc("", "/foo/", upstream=None, status=404), root], "/foo").auto_redirect
    notes = {c.location.match: c.note for c in select_location(locs, "/foo/bar").candidates}
    assert notes["^/f"] == "matches, but an earlier regular expression matched first"
    assert notes["/foo/"].startswith("longest matching prefix, but a regular expression matched")


# --- the interpreter on hand-built IR --------------------------------------------------------------

def config(*locations: Location, blocks: list[Block] | None = None) -> NginxConfig:
    s = Server("a.test", locations=list(locations))
    s.server_name_args = ['"a.test"']
    catch = Server("_", is_default=True, locations=[loc("", "/", upstream=None, status=404)])
    catch.locations[0].out = [("return", "404")]
    up = Upstream("up", "ns", "svc", "80", ["10.0.0.1:80"], Origin(ObjRef("Service", "ns", "svc")))
    canary = Upstream("up-canary", "ns", "svc2", "80", ["10.0.0.2:80"], Origin(ObjRef("Service", "ns", "svc2")))
    cfg = NginxConfig([up, canary], [catch, s], Settings(), http_blocks=blocks or [])
    return cfg


def test_source_ranges_and_basic_auth_from_access_directives() -> None:
    lo = loc("", "/")
    lo.out = [("allow", "10.0.0.0/8"), ("deny", "all"), ("auth_basic", '"Staff"'),
              ("auth_basic_user_file", "auth/x.passwd"), ("proxy_pass", "http://up")]
    cfg = config(lo)
    ex = explain(cfg, parse_request("http://a.test/x", client_ip="192.0.2.1"))
    assert (ex.outcome.action, ex.outcome.status) == ("deny", 403)
    ex = explain(cfg, parse_request("http://a.test/x", client_ip="10.1.2.3"))
    assert (ex.outcome.status, ex.outcome.headers) == (401, {"WWW-Authenticate": 'Basic realm="Staff"'})
    ex = explain(cfg, parse_request("http://a.test/x", headers=["Authorization: Basic eDp5"], client_ip="10.1.2.3"))
    assert ex.outcome.action == "proxy" and ex.outcome.endpoints == ["10.0.0.1:80"]


def test_return_in_rewrite_phase_comes_before_access() -> None:
    lo = loc("", "/")
    lo.out = [("deny", "all"), ("return", "301", '"https://moved.test/x"')]
    ex = explain(config(lo), parse_request("http://a.test/"))
    assert (ex.outcome.status, ex.outcome.location_header) == (301, "https://moved.test/x")


def test_map_chosen_upstream_is_followed_like_a_canary_by_header() -> None:
    m = Block("map", ("$http_x_canary", "$ingc_target"), [("default", "up"), ('"always"', "up-canary")])
    lo = loc("", "/")
    lo.out = [("proxy_pass", "http://$ingc_target")]
    cfg = config(lo, blocks=[m])
    assert explain(cfg, parse_request("http://a.test/")).outcome.upstream == "up"
    ex = explain(cfg, parse_request("http://a.test/", headers=["X-Canary: always"]))
    assert (ex.outcome.upstream, ex.outcome.endpoints) == ("up-canary", ["10.0.0.2:80"])


def test_rewrite_captures_and_query_string() -> None:
    lo = loc("~*", "^/api(/|$)(.*)")
    lo.out = [("rewrite", '"(?i)/api(/|$)(.*)"', '"/$2"', "break"), ("proxy_pass", "http://up")]
    ex = explain(config(lo), parse_request("http://a.test/API/v1/x%20y?q=1"))
    assert ex.outcome.backend_uri == "/v1/x%20y?q=1"
    lo.out = [("rewrite", '"(?i)/api(/|$)(.*)"', '"$3"', "break"), ("proxy_pass", "http://up")]
    assert explain(config(lo), parse_request("http://a.test/api")).outcome.status == 500  # empty URI


def test_unparsed_uri_is_sent_when_not_rewritten() -> None:
    lo = loc("", "/")
    lo.out = [("proxy_pass", "http://up")]
    assert explain(config(lo), parse_request("http://a.test/a//b/./c?")).outcome.backend_uri == "/a//b/./c?"


@pytest.mark.parametrize("url", ["ftp://a/", "a.test/x", "http://a.test:99999/"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(UsageError):
        parse_request(url)


# --- the command line on real manifests --------------------------------------------------------------

MANIFESTS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  tls: [{hosts: [shop.test]}]
  rules:
    - host: shop.test
      http:
        paths:
          - {path: /docs/, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /gone, pathType: Prefix, backend: {service: {name: nothere, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: shop
  annotations: {nginx.ingress.kubernetes.io/rewrite-target: /$2}
spec:
  rules:
    - host: api.test
      http:
        paths:
          - {path: /v1(/|$)(.*), pathType: ImplementationSpecific,
             backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.0.0.3, ports: [{port: 80}]}
"""


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    f = tmp_path / "shop.yaml"
    f.write_text(MANIFESTS)
    return f


def run_json(*args: str) -> tuple[int, dict[str, object]]:
    res = CliRunner().invoke(main, ["explain", *args, "-f", "json"], catch_exceptions=False)
    return res.exit_code, json.loads(res.stdout) if res.stdout.strip() else {}


def outcome(data: dict[str, object]) -> dict[str, object]:
    out = data["outcome"]
    assert isinstance(out, dict)
    return out


def test_ssl_redirect_depends_on_scheme(manifests: Path) -> None:
    code, data = run_json("http://Shop.Test/docs/a/", str(manifests))
    assert code == 0
    o = outcome(data)
    assert (o["status"], o["location"]) == (308, "https://shop.test/docs/a")
    assert "ssl-redirect" in str(o["reason"])
    code, data = run_json("https://shop.test/docs/a/", str(manifests))
    assert outcome(data)["backend_uri"] == "/docs/a/" and outcome(data)["endpoints"] == ["10.0.0.3:80"]


def test_auto_301_default_404_and_503(manifests: Path) -> None:
    _, data = run_json("https://shop.test/docs?x=1", str(manifests))
    assert (outcome(data)["status"], outcome(data)["location"]) == (301, "https://shop.test/docs/?x=1")
    _, data = run_json("https://shop.test/other", str(manifests))
    assert outcome(data)["status"] == 404
    _, data = run_json("https://shop.test/gone/x", str(manifests))
    assert outcome(data)["status"] == 503
    _, data = run_json("http://unknown.test/", str(manifests))
    server = data["server"]
    assert isinstance(server, dict) and server["hostname"] == "_" and server["matched_by"] == "default"


def test_rewrite_prediction_and_candidates(manifests: Path) -> None:
    _, data = run_json("http://api.test/V1/users?id=7", str(manifests))
    assert outcome(data)["backend_uri"] == "/users?id=7"
    cands = data["candidates"]
    assert isinstance(cands, list)
    assert [(c["rank"], c["match"], c["chosen"]) for c in cands] == [(1, "^/v1(/|$)(.*)", True), (2, "^/", False)]


def test_text_output_and_usage_errors(manifests: Path) -> None:
    res = CliRunner().invoke(main, ["explain", "http://shop.test/docs/", str(manifests)], catch_exceptions=False)
    assert res.exit_code == 0
    assert "=> #" in res.stdout and "Location: https://shop.test/docs" in res.stdout
    res = CliRunner().invoke(main, ["explain", "shop.test/docs", str(manifests)], catch_exceptions=False)
    assert res.exit_code == 2
    res = CliRunner().invoke(main, ["explain", "http://a/", str(manifests), "-H", "bad header"],
                             catch_exceptions=False)
    assert res.exit_code == 2
