"""The end-to-end harness itself: real nginx, real backends, real HTTP(S)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support.certs import cert_info, make_ca, make_cert, tls_secret_yaml, write_cert
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import raw_request, request
from tests.support.nginx import NginxError, NginxRunner, read_config
from tests.support.ports import free_ports, port_open

MAIN = """\
daemon off;
pid nginx.pid;
error_log logs/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log logs/access.log;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    include conf.d/*.conf;
}}
"""

SERVERS = """\
upstream alpha {{ server {alpha}; }}
upstream beta {{ server {beta}; }}
server {{
    listen 127.0.0.1:{http} default_server;
    server_name _;
    location / {{ proxy_pass http://alpha; }}
    {extra}
}}
server {{
    listen 127.0.0.1:{https} ssl default_server;
    server_name a.example.com;
    ssl_certificate certs/a.crt;
    ssl_certificate_key certs/a.key;
    location / {{ proxy_pass http://alpha; }}
}}
server {{
    listen 127.0.0.1:{https} ssl;
    server_name b.example.com;
    ssl_certificate certs/b.crt;
    ssl_certificate_key certs/b.key;
    location / {{ proxy_pass http://beta; }}
}}
"""


def write_bundle(
    root: Path, alpha: EchoBackend, beta: EchoBackend, http: int, https: int, extra: str = ""
) -> Path:
    for sub in ("logs", "tmp", "conf.d", "certs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "nginx.conf").write_text(MAIN.format())
    (root / "conf.d" / "servers.conf").write_text(
        SERVERS.format(alpha=alpha.address, beta=beta.address, http=http, https=https, extra=extra)
    )
    return root


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    write_cert(d, "a", *make_cert(["a.example.com"], cn="a.example.com"))
    write_cert(d, "b", *make_cert(["b.example.com", "*.b.example.com"], cn="b.example.com"))
    return d


def _install_certs(bundle: Path, certs_dir: Path) -> None:
    (bundle / "certs").mkdir(parents=True, exist_ok=True)
    for f in certs_dir.iterdir():
        (bundle / "certs" / f.name).write_bytes(f.read_bytes())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert not any(port_open(p) for p in ports)


def test_echo_backend(echo_backends: Callable[..., EchoBackend]) -> None:
    echo = echo_backends("solo")
    r = request(
        echo.port,
        "/some/path?x=1&y=%20",
        host="h.example",
        method="POST",
        headers=[("X-Dup", "1"), ("X-Dup", "2")],
        body="hello",
    )
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["backend"] == "solo"
    assert data["method"] == "POST"
    assert data["uri"] == "/some/path?x=1&y=%20"
    assert data["path"] == "/some/path"
    assert data["headers"]["host"] == "h.example"
    assert data["headers"]["x-dup"] == "1, 2"
    assert data["body"] == "hello"

    assert request(echo.port, "/__status/503?q").status == 503
    r = request(echo.port, "/__status/204")
    assert (r.status, r.body) == (204, b"")
    r = request(echo.port, "/x", method="HEAD")
    assert r.status == 200 and r.body == b"" and int(r.headers["Content-Length"]) > 0
    r = request(echo.port, "/x", method="PROPFIND")
    assert r.json()["method"] == "PROPFIND"

    raw = raw_request(echo.port, b"GET /raw?a HTTP/1.1\r\nHost: r\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and b'"uri": "/raw?a"' in raw


def test_echo_status_option_and_tls(tmp_path: Path) -> None:
    crt, key = write_cert(tmp_path, "echo", *make_cert(["127.0.0.1"], cn="echo-tls", key_type="rsa"))
    with start_echo("teapot", status=418, tls=(crt, key)) as echo:
        r = request(echo.port, "/", https=True)
        assert r.status == 418
        assert r.json()["backend"] == "teapot"
        assert r.cert_cn == "echo-tls"
        assert r.cert_sans == ["127.0.0.1"]
        proc = echo.proc
    assert proc.poll() is not None


def test_certs_and_secret() -> None:
    ca_pem, ca_key = make_ca()
    cert_pem, key_pem = make_cert(["x.example.com", "10.0.0.1"], issuer=(ca_pem, ca_key))
    assert cert_info(cert_pem) == ("x.example.com", ["x.example.com", "10.0.0.1"])
    doc = yaml.safe_load(tls_secret_yaml("ns1", "tls-x", cert_pem, key_pem, ca_pem=ca_pem))
    assert doc["kind"] == "Secret" and doc["type"] == "kubernetes.io/tls"
    assert doc["metadata"] == {"name": "tls-x", "namespace": "ns1"}
    assert base64.b64decode(doc["data"]["tls.crt"]).decode() == cert_pem
    assert base64.b64decode(doc["data"]["tls.key"]).decode() == key_pem
    assert base64.b64decode(doc["data"]["ca.crt"]).decode() == ca_pem


def test_nginx_end_to_end(
    tmp_path: Path,
    nginx_bin: str,
    echo_backends: Callable[..., EchoBackend],
    certs_dir: Path,
) -> None:
    alpha, beta = echo_backends("alpha"), echo_backends("beta")
    http_port, https_port = free_ports(2)
    bundle = write_bundle(tmp_path / "bundle", alpha, beta, http_port, https_port)
    _install_certs(bundle, certs_dir)

    info = read_config(bundle / "nginx.conf")
    assert [(x.port, x.ssl) for x in info.listens] == [
        (http_port, False),
        (https_port, True),
        (https_port, True),
    ]

    runner = NginxRunner(bundle, binary=nginx_bin)
    assert runner.port == http_port
    runner.assert_config_ok()
    with runner:
        master = runner.pid
        assert master is not None
        workers = runner.worker_pids()
        assert workers

        r = request(http_port, "/hello?x=1", host="www.example.com")
        assert r.status == 200
        data = r.json()
        assert data["backend"] == "alpha"
        assert data["uri"] == "/hello?x=1"
        assert data["headers"]["host"] == "alpha"  # proxy_pass default: $proxy_host
        assert r.headers["Server"].startswith("nginx")

        r = request(https_port, "/secure", host="b.example.com", https=True)
        assert r.status == 200 and r.json()["backend"] == "beta"
        assert r.cert_cn == "b.example.com"
        assert "*.b.example.com" in r.cert_sans
        r = request(https_port, "/", host="b.example.com", https=True, sni="a.example.com")
        assert r.cert_cn == "a.example.com"  # certificate follows SNI ...
        assert r.json()["backend"] == "beta"  # ... routing follows Host
        r = request(https_port, "/", host="unknown.example", https=True)
        assert r.cert_cn == "a.example.com"  # default_server

        assert request(http_port, "/new").json()["path"] == "/new"
        write_bundle(
            bundle,
            alpha,
            beta,
            http_port,
            https_port,
            extra="location /new { proxy_pass http://beta; proxy_set_header Host $host; }",
        )
        runner.reload()
        r = request(http_port, "/new?z", host="reloaded.example")
        assert r.json()["backend"] == "beta"
        assert r.json()["headers"]["host"] == "reloaded.example"
        assert request(http_port, "/other").json()["backend"] == "alpha"
        assert not set(workers) & set(runner.worker_pids())

        # An invalid config is refused and the old one keeps serving.
        (bundle / "conf.d" / "broken.conf").write_text("this is not nginx;\n")
        with pytest.raises(NginxError, match="invalid"):
            runner.reload()
        (bundle / "conf.d" / "broken.conf").unlink()
        assert request(http_port, "/new").json()["backend"] == "beta"

    assert runner.pid is None and runner.returncode == 0
    assert not _alive(master)
    assert not any(_alive(w) for w in workers)
    assert not (bundle / "nginx.pid").exists()
    pgrep = subprocess.run(["pgrep", "-f", str(bundle)], capture_output=True, text=True)
    assert pgrep.stdout.strip() == "", pgrep.stdout
    assert not port_open(http_port) and not port_open(https_port)
    assert "[emerg]" not in runner.error_log()


def test_nginx_config_problems(
    tmp_path: Path, nginx_bin: str, echo_backends: Callable[..., EchoBackend], certs_dir: Path
) -> None:
    alpha = echo_backends("alpha")
    http_port, https_port = free_ports(2)
    bundle = write_bundle(
        tmp_path / "warn",
        alpha,
        alpha,
        http_port,
        https_port,
        extra=f"}} server {{ listen 127.0.0.1:{http_port}; server_name _;",
    )
    _install_certs(bundle, certs_dir)
    runner = NginxRunner(bundle, binary=nginx_bin)
    rc, out = runner.test()
    assert rc == 0 and "[warn]" in out and "conflicting server name" in out
    with pytest.raises(AssertionError, match="conflicting server name"):
        runner.assert_config_ok()

    # A start that fails reports nginx's own words (here: no certificates).
    bundle2 = write_bundle(tmp_path / "nocerts", alpha, alpha, http_port, https_port)
    runner2 = NginxRunner(bundle2, binary=nginx_bin)
    with pytest.raises(NginxError, match="cannot load certificate"):
        runner2.start()
    assert runner2.pid is None and runner2.returncode == 1


def test_nginx_stop_kills_a_stuck_master(
    tmp_path: Path, nginx_bin: str, echo_backends: Callable[..., EchoBackend], certs_dir: Path
) -> None:
    alpha = echo_backends("alpha")
    http_port, https_port = free_ports(2)
    bundle = write_bundle(tmp_path / "stuck", alpha, alpha, http_port, https_port)
    _install_certs(bundle, certs_dir)
    runner = NginxRunner(bundle, binary=nginx_bin).start()
    master, workers = runner.pid, runner.worker_pids()
    assert master is not None and workers
    os.kill(master, signal.SIGSTOP)  # ignores SIGQUIT until killed
    runner.stop(timeout=0.3)
    assert runner.pid is None and runner.returncode == -signal.SIGKILL
    assert not _alive(master)
    assert not any(_alive(w) for w in workers)
