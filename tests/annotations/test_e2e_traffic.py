"""End to end through real nginx: canary (header, cookie, weight), cookie affinity, client certificates
(auth-tls-*), HTTPS backends with proxy-ssl-* and load balancing by hash.  One bundle, one nginx.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.annotations._support import secret
from tests.support.build import BuildResult, Doc, backend_service, build_bundle, ingress, path, rule
from tests.support.certs import make_ca, make_cert, tls_secret_yaml, write_cert
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import Response, request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

pytestmark = pytest.mark.nginx

OLD = "2020-01-01T00:00:00Z"
CA = make_ca("ingc client CA")
OTHER_CA = make_ca("another CA", key_type="rsa")
BACKEND_CA = make_ca("backend CA")


class Recorder(ThreadingHTTPServer):
    """The mirror target: records (method, path, Host, body) of every request it gets."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []
        super().__init__(("127.0.0.1", 0), RecordHandler)


class RecordHandler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.record()

    def do_POST(self) -> None:
        self.record()

    def record(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        self.server.seen.append((self.command, self.path, self.headers.get("Host", ""), body))
        self.send_response(204)
        self.end_headers()


@dataclass
class Env:
    http: int
    https: int
    build: BuildResult
    runner: NginxRunner
    backends: dict[str, EchoBackend]
    certs: Path
    recorder: Recorder


def manifests(b: dict[str, EchoBackend], mirror_port: int) -> list[Doc]:
    docs: list[Doc] = []
    for name in ("stable", "canary", "tlsback"):
        docs += backend_service(name, b[name])
    docs += backend_service("pair", b["one"], b["two"])
    server_crt, server_key = make_cert(["mtls.test", "mtlscn.test"], issuer=CA)
    docs += [
        tls_secret_yaml("default", "mtls-cert", server_crt, server_key),
        secret("client-ca", {"ca.crt": CA[0]}),
        secret("backend-trust", {"ca.crt": BACKEND_CA[0]}),
        # canary by header, then cookie, then weight
        ingress("main", created=OLD, rules=[rule("canary.test", path("/", "stable"))]),
        ingress("main-canary", annotations={"canary": "true", "canary-by-header": "X-Canary",
                                            "canary-by-cookie": "canary_flag", "canary-weight": "50"},
                rules=[rule("canary.test", path("/", "canary"))]),
        ingress("value", created=OLD, rules=[rule("value.test", path("/", "stable"))]),
        ingress("value-canary", annotations={"canary": "true", "canary-by-header": "X-Env",
                                             "canary-by-header-value": "beta"},
                rules=[rule("value.test", path("/", "canary"))]),
        ingress("pattern", created=OLD, rules=[rule("pattern.test", path("/", "stable"))]),
        ingress("pattern-canary", annotations={"canary": "true", "canary-by-header": "X-Env",
                                               "canary-by-header-pattern": "^(alpha|beta)$"},
                rules=[rule("pattern.test", path("/", "canary"))]),
        # affinity and hashing over two endpoints
        ingress("sticky", annotations={"affinity": "cookie", "session-cookie-name": "route",
                                       "session-cookie-max-age": "600"}, rules=[rule("sticky.test", path("/", "pair"))]),
        # client certificates
        ingress("mtls", annotations={"auth-tls-secret": "client-ca", "auth-tls-verify-depth": "1",
                                     "auth-tls-pass-certificate-to-upstream": "true"},
                tls=[(["mtls.test"], "mtls-cert")], rules=[rule("mtls.test", path("/", "stable"))]),
        ingress("mtlscn", annotations={"auth-tls-secret": "client-ca", "auth-tls-match-cn": "CN=alice$"},
                tls=[(["mtlscn.test"], "mtls-cert")], rules=[rule("mtlscn.test", path("/", "stable"))]),
        # HTTPS backends, verified against their CA
        ingress("tlsback", annotations={"backend-protocol": "HTTPS"}, rules=[rule("tlsback.test",
                                                                                   path("/", "tlsback"))]),
        ingress("verified", annotations={"backend-protocol": "HTTPS", "proxy-ssl-secret": "backend-trust",
                                         "proxy-ssl-verify": "on", "proxy-ssl-name": "backend.internal",
                                         "proxy-ssl-server-name": "on"},
                rules=[rule("verified.test", path("/", "tlsback"))]),
        ingress("mirrored", annotations={"mirror-target": f"http://127.0.0.1:{mirror_port}$request_uri",
                                         "mirror-host": "copy.internal"},
                rules=[rule("mirror.test", path("/", "stable"))]),
        ingress("mirrored-nobody", annotations={"mirror-target": f"http://127.0.0.1:{mirror_port}/nobody",
                                                "mirror-request-body": "off"},
                rules=[rule("mirror2.test", path("/", "stable"))]),
        ingress("wrongname", annotations={"backend-protocol": "HTTPS", "proxy-ssl-secret": "backend-trust",
                                          "proxy-ssl-verify": "on", "proxy-ssl-name": "other.internal"},
                rules=[rule("wrongname.test", path("/", "tlsback"))]),
    ]
    return docs


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("e2e-traffic")
    certs = root / "certs"
    crt, key = write_cert(certs, "backend", *make_cert(["backend.internal"], issuer=BACKEND_CA))
    specs = [("stable", None), ("canary", None), ("one", None), ("two", None), ("tlsback", (crt, key))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = list(pool.map(lambda s: start_echo(s[0], tls=s[1]), specs))
    backends = {b.name: b for b in started}
    write_cert(certs, "alice", *make_cert(["alice"], cn="alice", issuer=CA))
    write_cert(certs, "bob", *make_cert(["bob"], cn="bob", issuer=CA))
    write_cert(certs, "mallory", *make_cert(["alice"], cn="alice", issuer=OTHER_CA))
    recorder = Recorder()
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    runner: NginxRunner | None = None
    try:
        http_port, https_port = free_ports(2)
        res = build_bundle(root / "bundle", manifests(backends, recorder.server_address[1]), http_port=http_port,
                           https_port=https_port)
        runner = NginxRunner(res.bundle, binary=nginx_bin, port=http_port)
        runner.assert_config_ok()
        runner.start()
        yield Env(http_port, https_port, res, runner, backends, certs, recorder)
    finally:
        if runner is not None:
            runner.stop()
        for b in started:
            b.stop()
        recorder.shutdown()
        recorder.server_close()


def get(env: Env, host: str, target: str = "/", **kw: object) -> Response:
    return request(env.http, target, host=host, **kw)  # type: ignore[arg-type]


def backend_of(r: Response) -> str:
    assert r.status == 200, (r.status, r.text[:300])
    return str(r.json()["backend"])


def client(env: Env, name: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if name:
        ctx.load_cert_chain(env.certs / f"{name}.crt", env.certs / f"{name}.key")
    return ctx


def test_canary_by_header(env: Env) -> None:
    assert all(backend_of(get(env, "canary.test", headers={"X-Canary": "always"})) == "canary" for _ in range(10))
    assert all(backend_of(get(env, "canary.test", headers={"X-Canary": "never"})) == "stable" for _ in range(10))


def test_canary_header_beats_cookie_and_cookie_beats_weight(env: Env) -> None:
    both = {"X-Canary": "never", "Cookie": "canary_flag=always"}
    assert all(backend_of(get(env, "canary.test", headers=both)) == "stable" for _ in range(10))
    for _ in range(10):
        assert backend_of(get(env, "canary.test", headers={"Cookie": "a=1; canary_flag=always"})) == "canary"
        assert backend_of(get(env, "canary.test", headers={"Cookie": "canary_flag=never"})) == "stable"


def test_canary_weight_within_bounds(env: Env) -> None:
    counts = Counter(backend_of(get(env, "canary.test")) for _ in range(300))
    # weight 50: 150 expected; outside 90..210 has probability below 1e-11
    assert 90 <= counts["canary"] <= 210, counts
    assert counts["canary"] + counts["stable"] == 300


def test_canary_by_header_value_and_pattern(env: Env) -> None:
    assert backend_of(get(env, "value.test", headers={"X-Env": "beta"})) == "canary"
    assert backend_of(get(env, "value.test", headers={"X-Env": "always"})) == "stable"  # only the value counts
    assert backend_of(get(env, "value.test")) == "stable"  # weight 0
    assert backend_of(get(env, "pattern.test", headers={"X-Env": "alpha"})) == "canary"
    assert backend_of(get(env, "pattern.test", headers={"X-Env": "gamma"})) == "stable"


def test_affinity_cookie_is_issued_and_sticks(env: Env) -> None:
    first = get(env, "sticky.test")
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith("route=") and "Max-Age=600" in cookie and "Path=/" in cookie
    value = cookie.split(";", 1)[0]
    chosen = backend_of(first)
    for _ in range(10):
        r = get(env, "sticky.test", headers={"Cookie": value})
        assert backend_of(r) == chosen
        assert "Set-Cookie" not in r.headers  # the client already has it
    seen = {backend_of(get(env, "sticky.test", headers={"Cookie": f"route=client-{i}"})) for i in range(40)}
    assert seen == {"one", "two"}  # different sessions spread over both endpoints


def test_client_certificate_required(env: Env) -> None:
    none = request(env.https, "/", host="mtls.test", https=True, ssl_context=client(env, None))
    assert none.status == 400
    ok = request(env.https, "/", host="mtls.test", https=True, ssl_context=client(env, "alice"))
    assert backend_of(ok) == "stable"
    h = ok.json()["headers"]
    assert h["ssl-client-verify"] == "SUCCESS" and "CN=alice" in h["ssl-client-subject-dn"]
    assert "BEGIN%20CERTIFICATE" in h["ssl-client-cert"]
    wrong = request(env.https, "/", host="mtls.test", https=True, ssl_context=client(env, "mallory"))
    assert wrong.status == 400


def test_client_certificate_match_cn(env: Env) -> None:
    alice = request(env.https, "/", host="mtlscn.test", https=True, ssl_context=client(env, "alice"))
    assert backend_of(alice) == "stable"
    bob = request(env.https, "/", host="mtlscn.test", https=True, ssl_context=client(env, "bob"))
    assert bob.status == 403 and "client certificate unauthorized" in bob.text


def test_https_backend(env: Env) -> None:
    assert backend_of(get(env, "tlsback.test")) == "tlsback"


def test_https_backend_verified(env: Env) -> None:
    assert backend_of(get(env, "verified.test")) == "tlsback"
    assert get(env, "wrongname.test").status == 502


def wait_for(pred: Any, tries: int = 200) -> bool:
    """Poll (the mirror subrequest may finish after the client's response); bounded by tries, not time."""
    for _ in range(tries):
        if pred():
            return True
        time.sleep(0.01)
    return bool(pred())


def test_mirror_copies_requests(env: Env) -> None:
    r = get(env, "mirror.test", "/orders?id=7", method="POST", body="payload")
    assert backend_of(r) == "stable" and r.json()["body"] == "payload"
    assert wait_for(lambda: ("POST", "/orders?id=7", "copy.internal", "payload") in env.recorder.seen), \
        env.recorder.seen
    get(env, "mirror2.test", "/x", method="POST", body="secret")
    assert wait_for(lambda: any(p == "/nobody" for _, p, _, _ in env.recorder.seen)), env.recorder.seen
    copy = next(s for s in env.recorder.seen if s[1] == "/nobody")
    assert copy[3] == "" and copy[2] == "127.0.0.1"  # mirror-request-body off; Host from the target
