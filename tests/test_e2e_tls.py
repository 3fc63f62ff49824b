"""End to end: TLS with SNI, the plain-HTTP 308 redirect, its exemptions and annotations, and HSTS.

One bundle (no default backend: unknown hosts get 404) built by ``ingc build`` and run by one real
nginx for the whole module; requests go over plain HTTP and HTTPS with chosen SNI names.
"""

from __future__ import annotations

import os
import re
import select
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.build import (
    BuildResult,
    Doc,
    backend_service,
    build_bundle,
    ingress,
    path,
    rule,
    tls_secret,
)
from tests.support.certs import cert_info
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import Response, request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

pytestmark = pytest.mark.nginx

REPO = Path(__file__).resolve().parent.parent
FAKE_CN = "ingc default fake certificate (not for production)"
HSTS = "max-age=31536000; includeSubDomains"
BACKENDS = ("site", "acme", "open", "force", "plain")

# An echo backend that also sends its own Strict-Transport-Security header (ingress-nginx replaces it).
_HSTS_BACKEND = """
import sys
from tests.support import echo

class Handler(echo.EchoHandler):
    def end_headers(self):
        self.send_header("Strict-Transport-Security", "max-age=1")
        super().end_headers()

echo.EchoHandler = Handler
sys.exit(echo.main(sys.argv[1:]))
"""


def start_hsts_backend(name: str, timeout: float = 10.0) -> EchoBackend:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(
        [sys.executable, "-c", _HSTS_BACKEND, "--port", "0", "--name", name],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO, env=env,
    )
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    try:
        while not line.endswith(b"\n"):
            if not select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError(f"backend {name!r} did not start")
            chunk = os.read(proc.stdout.fileno(), 256)
            if not chunk:
                raise RuntimeError(f"backend {name!r} exited early")
            line += chunk
    except BaseException:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise
    return EchoBackend(name, int(line.split()[1]), proc, tls=False)


@dataclass
class Env:
    http: int
    https: int
    build: BuildResult
    runner: NginxRunner


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str) -> Iterator[Env]:
    started: list[EchoBackend] = []
    runner: NginxRunner | None = None
    try:
        for name in BACKENDS:
            started.append(start_echo(name))
        started.append(start_hsts_backend("sends-hsts"))
        b = {x.name: x for x in started}
        http_port, https_port = free_ports(2)
        secret_a, _ = tls_secret("tls-a", ["a.tls.test"], key_index=1)
        secret_b, _ = tls_secret("tls-b", ["b.tls.test"], cn="b-cert", key_index=2)
        secret_w, _ = tls_secret("tls-wild", ["*.tls.test"], cn="wildcard-cert", key_index=3)
        docs: list[Doc] = [secret_a, secret_b, secret_w]
        for name in BACKENDS:
            docs += backend_service(name, b[name])
        docs += backend_service("sends-hsts", b["sends-hsts"])
        docs += [
            # the certificate named for each host; a missing secret falls back to the default certificate;
            # covered.tls.test is not listed under spec.tls: a listed secret whose certificate covers it
            ingress("site", tls=[(["a.tls.test"], "tls-a"), (["b.tls.test"], "tls-b"),
                                 (["nosecret.tls.test"], "missing"), (["elsewhere.tls.test"], "tls-wild")],
                    rules=[rule(h, path("/", "site")) for h in
                           ("a.tls.test", "b.tls.test", "nosecret.tls.test", "covered.tls.test")]),
            # an ACME HTTP-01 solver on a redirected host (no tls of its own: cert-manager's shape)
            ingress("acme", rules=[rule("a.tls.test", path("/.well-known/acme-challenge/token1", "acme",
                                                           path_type="ImplementationSpecific"))]),
            # ssl-redirect "false" on one Ingress of a redirected host: only its paths stay on HTTP
            ingress("open", annotations={"ssl-redirect": "false"},
                    rules=[rule("a.tls.test", path("/open", "open"))]),
            # force-ssl-redirect without any certificate for the host
            ingress("force", annotations={"force-ssl-redirect": "true"},
                    rules=[rule("force.test", path("/", "force"))]),
            # no TLS at all: served on HTTP, and on HTTPS with the default certificate
            ingress("plain", rules=[rule("plain.test", path("/", "plain"), path("/sts", "sends-hsts"))]),
            ingress("hsts", tls=[(["hsts.tls.test"], "tls-wild")],
                    rules=[rule("hsts.tls.test", path("/", "sends-hsts"))]),
        ]
        res = build_bundle(tmp_path_factory.mktemp("e2e-tls") / "bundle", docs,
                           http_port=http_port, https_port=https_port)
        runner = NginxRunner(res.bundle, binary=nginx_bin, port=http_port)
        runner.assert_config_ok()
        runner.start()
        yield Env(http_port, https_port, res, runner)
    finally:
        if runner is not None:
            runner.stop()
        for x in started:
            x.stop()


def http(env: Env, host: str, target: str, method: str = "GET") -> Response:
    return request(env.http, target, host=host, method=method)


def https(env: Env, host: str, target: str = "/", sni: str | None = None) -> Response:
    return request(env.https, target, host=host, https=True, sni=sni)


def assert_served(r: Response, backend: str, uri: str, host: str) -> None:
    assert r.status == 200, (r.status, r.headers, r.text[:300])
    data = r.json()
    assert (data["backend"], data["uri"], data["headers"]["host"]) == (backend, uri, host)


# --- the bundle -----------------------------------------------------------------------------------


def test_bundle_is_clean(env: Env) -> None:
    env.runner.assert_config_ok()
    env.build.crossplane()
    conf = env.build.conf.read_text()
    assert "PRIVATE KEY" not in conf
    keys = env.build.key_files()
    # one file per secret actually used (content-addressed), plus the shipped default certificate
    assert {re.sub(r"-[0-9a-f]{12}\.pem$", "", k) for k in keys} == {
        "ssl/default-fake-certificate.pem", "ssl/default-tls-a", "ssl/default-tls-b", "ssl/default-tls-wild",
    }
    for k in keys:
        assert stat.S_IMODE((env.build.bundle / k).stat().st_mode) == 0o600
        assert k in conf
    assert env.build.has("R340") and env.build.has("R344")  # missing secret -> default certificate


# --- certificates by SNI --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "cn", "sans"),
    [
        ("a.tls.test", "a.tls.test", ["a.tls.test"]),
        ("b.tls.test", "b-cert", ["b.tls.test"]),
        ("covered.tls.test", "wildcard-cert", ["*.tls.test"]),
        ("nosecret.tls.test", FAKE_CN, ["ingress.local"]),
        ("plain.test", FAKE_CN, ["ingress.local"]),
        ("unknown.example", FAKE_CN, ["ingress.local"]),
    ],
)
def test_certificate_follows_sni(env: Env, host: str, cn: str, sans: list[str]) -> None:
    r = https(env, host, "/")
    assert (r.cert_cn, r.cert_sans) == (cn, sans)
    if host != "unknown.example":
        assert r.status == 200 and r.json()["headers"]["host"] == host


def test_no_sni_gets_the_default_certificate(env: Env) -> None:
    r = https(env, "a.tls.test", "/x", sni="")
    assert r.cert_cn == FAKE_CN
    assert_served(r, "site", "/x", "a.tls.test")  # routing follows Host


def test_https_serves_the_host(env: Env) -> None:
    assert_served(https(env, "a.tls.test", "/p/q?x=1"), "site", "/p/q?x=1", "a.tls.test")
    assert_served(https(env, "force.test", "/f"), "force", "/f", "force.test")


def test_unknown_host_404_on_both_schemes(env: Env) -> None:
    for r in (http(env, "unknown.example", "/"), https(env, "unknown.example", "/x")):
        assert r.status == 404 and "X-Echo-Backend" not in r.headers
    r = http(env, "unknown.example", "/healthz")
    assert r.status == 200 and r.body == b""


# --- the HTTP -> HTTPS redirect -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "target", "location"),
    [
        ("a.tls.test", "/", "https://a.tls.test"),
        ("a.tls.test", "/path", "https://a.tls.test/path"),
        ("a.tls.test", "/path/", "https://a.tls.test/path"),
        ("a.tls.test", "/path//", "https://a.tls.test/path/"),
        ("a.tls.test", "/path/?q=1", "https://a.tls.test/path/?q=1"),
        ("a.tls.test", "/p?x=1&y=2", "https://a.tls.test/p?x=1&y=2"),
        ("a.tls.test:8080", "/p", "https://a.tls.test/p"),
        ("b.tls.test", "/", "https://b.tls.test"),
        ("nosecret.tls.test", "/d/", "https://nosecret.tls.test/d"),  # default certificate: still redirected
        ("covered.tls.test", "/", "https://covered.tls.test"),
        # the exemption goes by location path (as ingress-nginx): this URI is served by the "/" path
        ("a.tls.test", "/.well-known/acme-challenge", "https://a.tls.test/.well-known/acme-challenge"),
        ("a.tls.test", "/opener", "https://a.tls.test/opener"),
        ("force.test", "/", "https://force.test"),  # force-ssl-redirect, no certificate
        ("force.test", "/a/b/", "https://force.test/a/b"),
    ],
)
def test_plain_http_redirects_with_308(env: Env, host: str, target: str, location: str) -> None:
    for method in ("GET", "POST"):
        r = http(env, host, target, method=method)
        assert r.status == 308, (r.status, r.text[:200])
        assert r.headers["Location"] == location
        assert "X-Echo-Backend" not in r.headers
        assert "Strict-Transport-Security" not in r.headers


def test_acme_challenge_is_exempt(env: Env) -> None:
    target = "/.well-known/acme-challenge/token1"
    assert_served(http(env, "a.tls.test", target), "acme", target, "a.tls.test")


def test_ssl_redirect_false_acts_per_ingress(env: Env) -> None:
    for target in ("/open", "/open/", "/open/x?y=1"):
        r = http(env, "a.tls.test", target)
        assert_served(r, "open", target, "a.tls.test")
        assert "Strict-Transport-Security" not in r.headers
    assert http(env, "a.tls.test", "/other").status == 308  # the other Ingress's path on the same host
    r = https(env, "a.tls.test", "/open")
    assert_served(r, "open", "/open", "a.tls.test")
    assert r.headers.get_all("Strict-Transport-Security") == [HSTS]


def test_host_without_certificate_is_not_redirected(env: Env) -> None:
    r = http(env, "plain.test", "/")
    assert_served(r, "plain", "/", "plain.test")
    assert "Strict-Transport-Security" not in r.headers


# --- HSTS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["a.tls.test", "nosecret.tls.test", "plain.test", "force.test"])
def test_hsts_on_https_only(env: Env, host: str) -> None:
    r = https(env, host, "/")
    assert r.status == 200
    assert r.headers.get_all("Strict-Transport-Security") == [HSTS]


def test_hsts_on_https_error_answers_too(env: Env) -> None:
    r = https(env, "unknown.example", "/")
    assert r.status == 404
    assert r.headers.get_all("Strict-Transport-Security") == [HSTS]


def test_upstream_hsts_is_replaced(env: Env) -> None:
    direct = request(_upstream_port(env, "default-sends-hsts-80"), "/")
    assert direct.headers.get_all("Strict-Transport-Security") == ["max-age=1"]  # the backend does send one
    for r in (https(env, "hsts.tls.test", "/h"), https(env, "plain.test", "/sts")):
        assert r.status == 200 and r.json()["backend"] == "sends-hsts"
        assert r.headers.get_all("Strict-Transport-Security") == [HSTS]


def _upstream_port(env: Env, name: str) -> int:
    payload = env.build.crossplane()
    http_block = [d for d in payload["config"][0]["parsed"] if d["directive"] == "http"][0]["block"]
    for d in http_block:
        if d["directive"] == "upstream" and d["args"] == [name]:
            server = [s for s in d["block"] if s["directive"] == "server"][0]
            return int(server["args"][0].rsplit(":", 1)[1])
    raise AssertionError(f"no upstream {name}")


def test_certificate_files_match_the_secrets(env: Env) -> None:
    conf = env.build.crossplane()
    servers = [d for d in conf["config"][0]["parsed"] if d["directive"] == "http"][0]["block"]
    certs = {}
    for s in servers:
        if s["directive"] != "server":
            continue
        name = [d["args"][0] for d in s["block"] if d["directive"] == "server_name"][0]
        files = [d["args"][0] for d in s["block"] if d["directive"] == "ssl_certificate"]
        certs[name] = files[0] if files else None
    # hosts with their own certificate name the file; default-certificate hosts inherit the http-level one
    assert certs["nosecret.tls.test"] is None and certs["plain.test"] is None and certs["_"] is None
    for host, cn in (("a.tls.test", "a.tls.test"), ("b.tls.test", "b-cert"), ("covered.tls.test", "wildcard-cert")):
        file = certs[host]
        assert file is not None and file.startswith("ssl/")
        assert cert_info((env.build.bundle / file).read_text())[0] == cn
