"""End to end through real nginx: redirects, app-root, rewrite, body size, source ranges, basic auth, external
auth, CORS, custom headers, custom error pages, upstream-vhost and rate limiting.

One bundle (``ingc build``) with one host per behaviour, served by one nginx for the whole module; echo
backends show what they received.  The auth service is an echo backend too: ``/__status/200`` lets a request
through, ``/__status/401`` refuses it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.annotations._support import configmap, secret
from tests.support.build import BuildResult, Doc, backend_service, build_bundle, ingress, path, rule
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import Response, request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

pytestmark = pytest.mark.nginx

BACKENDS = ("web", "errors", "auth", "other")
SHA = "{SHA}" + base64.b64encode(hashlib.sha1(b"wonderland").digest()).decode()


@dataclass
class Env:
    port: int
    build: BuildResult
    runner: NginxRunner
    backends: dict[str, EchoBackend]


def host(name: str, annotations: dict[str, str], *paths: dict[str, object], **kw: object) -> Doc:
    return ingress(name, annotations=annotations, rules=[rule(f"{name}.test", *(paths or (path("/", "web"),)))],
                   **kw)  # type: ignore[arg-type]


def manifests(b: dict[str, EchoBackend]) -> list[Doc]:
    auth = f"http://127.0.0.1:{b['auth'].port}"
    docs: list[Doc] = []
    for name in ("web", "errors", "auth", "other"):
        docs += backend_service(name, b[name])
    docs += [
        secret("users", {"auth": f"alice:{SHA}"}),
        secret("usermap", {"bob": SHA}),
        configmap("resp-headers", {"X-Frame-Options": "DENY", "X-Literal": "cost: $5 for $remote_addr"}),
        configmap("auth-headers", {"X-Tenant": "blue"}),
        host("perm", {"permanent-redirect": "https://example.com/moved?a=1", "permanent-redirect-code": "308"}),
        host("temp", {"temporal-redirect": "http://example.org/tmp", "permanent-redirect": "https://x.example/"}),
        host("approot", {"app-root": "/app"}),
        host("fromto", {"from-to-www-redirect": "true"}),
        host("rewrite", {"rewrite-target": "/new/$2"},
             path("/old(/|$)(.*)", "web", path_type="ImplementationSpecific")),
        host("body", {"proxy-body-size": "1k"}),
        host("allow", {"whitelist-source-range": "10.0.0.0/8"}),
        host("allowme", {"allowlist-source-range": "127.0.0.1/32, 10.0.0.0/8"}),
        host("deny", {"denylist-source-range": "127.0.0.0/8"}),
        host("basic", {"auth-type": "basic", "auth-secret": "users", "auth-realm": "Wonderland"}),
        host("basicmap", {"auth-type": "basic", "auth-secret": "usermap", "auth-secret-type": "auth-map"}),
        host("nosecret", {"auth-type": "basic", "auth-secret": "missing"}),
        host("extok", {"auth-url": f"{auth}/__status/200", "auth-response-headers": "X-Echo-Backend",
                       "auth-proxy-set-headers": "auth-headers"}),
        host("extno", {"auth-url": f"{auth}/__status/401"}),
        host("extsignin", {"auth-url": f"{auth}/__status/401", "auth-signin": "https://login.example/start"}),
        host("cors", {"enable-cors": "true"}),
        host("corslist", {"enable-cors": "true", "cors-allow-origin": "https://app.example, https://*.good.example",
                          "cors-allow-credentials": "false", "cors-max-age": "60"}),
        host("headers", {"custom-headers": "resp-headers"}),
        host("errors", {"custom-http-errors": "503,404", "default-backend": "errors"},
             path("/", "web"), path("/gone", "nosuch")),
        host("vhost", {"upstream-vhost": "internal.example"}),
        host("limited", {"limit-rps": "1", "limit-burst-multiplier": "1"}),
        host("allowlisted", {"limit-rps": "1", "limit-burst-multiplier": "1", "limit-allowlist": "127.0.0.1"}),
    ]
    return docs


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str) -> Iterator[Env]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = list(pool.map(start_echo, BACKENDS))
    backends = {b.name: b for b in started}
    runner: NginxRunner | None = None
    try:
        http_port, https_port = free_ports(2)
        root = tmp_path_factory.mktemp("e2e-annotations")
        res = build_bundle(root / "bundle", manifests(backends), http_port=http_port, https_port=https_port,
                           settings={"global-allowed-response-headers": "X-Frame-Options,X-Literal",
                                     "limit-req-status-code": "429"})
        runner = NginxRunner(res.bundle, binary=nginx_bin, port=http_port)
        runner.assert_config_ok()
        runner.start()
        yield Env(http_port, res, runner, backends)
    finally:
        if runner is not None:
            runner.stop()
        for b in started:
            b.stop()


def get(env: Env, name: str, target: str = "/", **kw: object) -> Response:
    return request(env.port, target, host=f"{name}.test", **kw)  # type: ignore[arg-type]


def backend_of(r: Response) -> str:
    assert r.status == 200, (r.status, r.text[:300])
    return str(r.json()["backend"])


def test_permanent_redirect(env: Env) -> None:
    r = get(env, "perm", "/anything")
    assert (r.status, r.headers["Location"]) == (308, "https://example.com/moved?a=1")


def test_temporal_redirect_wins_over_permanent(env: Env) -> None:
    r = get(env, "temp")
    assert (r.status, r.headers["Location"]) == (302, "http://example.org/tmp")


def test_app_root(env: Env) -> None:
    r = get(env, "approot", "/")
    assert (r.status, r.headers["Location"]) == (302, "http://approot.test/app")
    assert backend_of(get(env, "approot", "/app")) == "web"


def test_from_to_www_redirect(env: Env) -> None:
    r = request(env.port, "/some/path/?q=1", host="www.fromto.test")
    assert r.status == 308
    assert r.headers["Location"] == f"http://fromto.test:{env.port}/some/path/?q=1"
    r = request(env.port, "/dir/", host="www.fromto.test")
    assert r.headers["Location"] == f"http://fromto.test:{env.port}/dir"  # one trailing / is dropped
    assert backend_of(get(env, "fromto")) == "web"


def test_rewrite_target_capture(env: Env) -> None:
    r = get(env, "rewrite", "/old/deep/x?q=1")
    assert r.json()["uri"] == "/new/deep/x?q=1"


def test_body_size_limit(env: Env) -> None:
    assert get(env, "body", "/", method="POST", body="x" * 512).status == 200
    assert get(env, "body", "/", method="POST", body="x" * 4096).status == 413


def test_source_ranges(env: Env) -> None:
    assert get(env, "allow").status == 403
    assert backend_of(get(env, "allowme")) == "web"
    assert get(env, "deny").status == 403


def test_basic_auth(env: Env) -> None:
    r = get(env, "basic")
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Wonderland"'
    bad = base64.b64encode(b"alice:wrong").decode()
    assert get(env, "basic", headers={"Authorization": f"Basic {bad}"}).status == 401
    good = base64.b64encode(b"alice:wonderland").decode()
    r = get(env, "basic", headers={"Authorization": f"Basic {good}"})
    assert backend_of(r) == "web"
    assert "authorization" not in r.json()["headers"]  # not passed on to the backend
    bob = base64.b64encode(b"bob:wonderland").decode()
    assert backend_of(get(env, "basicmap", headers={"Authorization": f"Basic {bob}"})) == "web"


def test_basic_auth_missing_secret_denies(env: Env) -> None:
    r = get(env, "nosecret")
    assert r.status == 503
    assert "X-Echo-Backend" not in r.headers


def test_external_auth_allows_and_passes_headers(env: Env) -> None:
    r = get(env, "extok", "/page?x=1")
    assert backend_of(r) == "web"
    # auth-response-headers: the auth service's X-Echo-Backend header reaches the backend
    assert r.json()["headers"]["x-echo-backend"] == "auth"


def test_external_auth_denies(env: Env) -> None:
    r = get(env, "extno")
    assert r.status == 401
    assert r.headers.get("X-Echo-Backend") is None


def test_external_auth_signin_redirect(env: Env) -> None:
    r = get(env, "extsignin", "/private")
    assert r.status == 302
    assert r.headers["Location"] == "https://login.example/start?rd=http://extsignin.test/private"


def test_cors_wildcard_and_preflight(env: Env) -> None:
    r = get(env, "cors", headers={"Origin": "https://any.example"})
    assert backend_of(r) == "web"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    pre = get(env, "cors", method="OPTIONS", headers={"Origin": "https://any.example"})
    assert pre.status == 204
    assert pre.headers["Access-Control-Allow-Methods"] == "GET, PUT, POST, DELETE, PATCH, OPTIONS"
    assert pre.headers["Access-Control-Max-Age"] == "1728000"
    assert "X-Echo-Backend" not in pre.headers


def test_cors_origin_list(env: Env) -> None:
    ok = get(env, "corslist", headers={"Origin": "https://api.good.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://api.good.example"
    assert ok.headers["Access-Control-Max-Age"] == "60"
    assert "Access-Control-Allow-Credentials" not in ok.headers
    bad = get(env, "corslist", headers={"Origin": "https://evil.example"})
    assert backend_of(bad) == "web"
    assert "Access-Control-Allow-Origin" not in bad.headers and "Access-Control-Max-Age" not in bad.headers
    nested = get(env, "corslist", headers={"Origin": "https://a.b.good.example"})  # one label only
    assert "Access-Control-Allow-Origin" not in nested.headers
    pre = get(env, "corslist", method="OPTIONS", headers={"Origin": "https://app.example"})
    assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    refused = get(env, "corslist", method="OPTIONS", headers={"Origin": "https://evil.example"})
    assert backend_of(refused) == "web"  # not a CORS preflight for ingress-nginx: proxied


def test_custom_headers_are_literal(env: Env) -> None:
    r = get(env, "headers")
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Literal"] == "cost: $5 for $remote_addr"


def test_custom_http_errors_from_default_backend(env: Env) -> None:
    r = get(env, "errors", "/__status/503")
    assert backend_of(r) == "errors"
    h = r.json()["headers"]
    assert (h["x-code"], h["x-original-uri"], h["x-service-name"]) == ("503", "/__status/503", "web")
    assert r.json()["uri"] == "/"
    assert get(env, "errors", "/__status/500").status == 500  # not in the list: the backend's answer
    gone = get(env, "errors", "/gone")  # its Service is missing: the default backend serves, X-Code 503
    assert backend_of(gone) == "errors" and gone.json()["headers"]["x-code"] == "503"


def test_upstream_vhost(env: Env) -> None:
    assert get(env, "vhost").json()["headers"]["host"] == "internal.example"


def test_rate_limit_after_burst(env: Env) -> None:
    statuses = [get(env, "limited", f"/{i}").status for i in range(6)]
    assert statuses[0] == 200
    assert 429 in statuses, statuses  # limit-req-status-code from the ConfigMap
    assert all(s in (200, 429) for s in statuses)
    assert all(get(env, "allowlisted", f"/{i}").status == 200 for i in range(6))
