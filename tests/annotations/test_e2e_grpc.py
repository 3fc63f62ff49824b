"""End to end through real nginx: gRPC backends (backend-protocol GRPC and GRPCS) called with a grpcio client.

The client speaks to nginx's TLS listener (HTTP/2 by ALPN): on nginx 1.22 a plaintext ``http2`` listener would
turn the whole port into h2c, so ingc's plaintext port stays HTTP/1.x and gRPC clients use the TLS port.  The
backends (tests/support/grpc_backend.py) are grpcio servers with generic handlers over raw bytes: one
plaintext (``grpc_pass grpc://``), one TLS (``grpc_pass grpcs://``).  One bundle, one nginx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.build import BuildResult, Doc, build_bundle, endpoint_slice, ingress, path, rule, service
from tests.support.certs import make_ca, make_cert, tls_secret_yaml, write_cert
from tests.support.grpc_backend import GrpcBackend, start_grpc
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

try:
    import grpc
except ImportError:  # the only skip: nginx missing fails under INGC_REQUIRE_NGINX=1 like every e2e test
    pytest.skip("grpcio cannot be imported (pip install grpcio)", allow_module_level=True)

pytestmark = pytest.mark.nginx

CA = make_ca("ingc gRPC test CA")
BACKEND_CA = make_ca("gRPC backend CA")
HOSTS = ["grpc.test", "grpcs.test", "plain.test"]
TIMEOUT = 5.0


@dataclass
class Env:
    http: int
    https: int
    build: BuildResult
    runner: NginxRunner
    backends: dict[str, GrpcBackend]


def backend_docs(name: str, backend: GrpcBackend) -> list[Doc]:
    return [service(name, port=50051, port_name="grpc"), endpoint_slice(name, backend.port, port_name="grpc")]


def manifests(b: dict[str, GrpcBackend]) -> list[Doc]:
    crt, key = make_cert(HOSTS, issuer=CA)
    return [
        *backend_docs("greeter", b["greeter"]),
        *backend_docs("secure-greeter", b["secure-greeter"]),
        tls_secret_yaml("default", "grpc-cert", crt, key),
        ingress("grpc", annotations={"backend-protocol": "GRPC"}, tls=[(["grpc.test"], "grpc-cert")],
                rules=[rule("grpc.test", path("/", "greeter", 50051))]),
        ingress("grpcs", annotations={"backend-protocol": "GRPCS"}, tls=[(["grpcs.test"], "grpc-cert")],
                rules=[rule("grpcs.test", path("/", "secure-greeter", 50051))]),
        # the same plaintext gRPC backend behind a default (HTTP/1.1 proxy_pass) Ingress: gRPC needs grpc_pass
        ingress("plain", tls=[(["plain.test"], "grpc-cert")], rules=[rule("plain.test", path("/", "greeter", 50051))]),
    ]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("e2e-grpc")
    crt, key = write_cert(root / "certs", "backend", *make_cert(["backend.internal"], issuer=BACKEND_CA))
    specs: list[tuple[str, Any]] = [("greeter", None), ("secure-greeter", (crt, key))]
    started: list[GrpcBackend] = []
    runner: NginxRunner | None = None
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for fut in [pool.submit(start_grpc, name, tls=tls) for name, tls in specs]:
                started.append(fut.result())
        backends = {b.name: b for b in started}
        http_port, https_port = free_ports(2)
        res = build_bundle(root / "bundle", manifests(backends), http_port=http_port, https_port=https_port)
        runner = NginxRunner(res.bundle, binary=nginx_bin, port=http_port)
        runner.assert_config_ok()
        runner.start()
        yield Env(http_port, https_port, res, runner, backends)
    finally:
        if runner is not None:
            runner.stop()
        for b in started:
            b.stop()


@pytest.fixture(scope="module")
def channels(env: Env) -> Iterator[dict[str, Any]]:
    """One grpcio channel per virtual host, all to nginx's TLS port, trusting the test CA."""
    made: dict[str, Any] = {}
    creds = grpc.ssl_channel_credentials(root_certificates=CA[0].encode())
    for host in HOSTS:
        made[host] = grpc.secure_channel(
            f"127.0.0.1:{env.https}", creds,
            options=[("grpc.ssl_target_name_override", host), ("grpc.default_authority", host)],
        )
    yield made
    for ch in made.values():
        ch.close()


def say(channel: Any, payload: bytes, metadata: tuple[tuple[str, str], ...] = ()) -> tuple[dict[str, Any], Any]:
    raw, call = channel.unary_unary("/echo.Echo/Say").with_call(payload, metadata=metadata, timeout=TIMEOUT)
    answer: dict[str, Any] = json.loads(raw)
    return answer, call


def received(answer: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in answer["metadata"]}


def test_config_uses_grpc_pass(env: Env) -> None:
    text = env.build.conf.read_text()
    assert "grpc_pass grpc://" in text and "grpc_pass grpcs://" in text
    assert f"listen {env.https} ssl http2" in text and f"listen {env.http} http2" not in text


@pytest.mark.parametrize(("host", "backend"), [("grpc.test", "greeter"), ("grpcs.test", "secure-greeter")])
def test_unary_call_reaches_backend_with_payload_and_metadata(
    env: Env, channels: dict[str, Any], host: str, backend: str
) -> None:
    payload = "héllo gRPC ✓".encode()
    answer, call = say(channels[host], payload, (("x-client-token", "t0ken"), ("x-trace", "1, 2")))
    assert answer["backend"] == backend and answer["method"] == "Say"
    assert answer["payload"] == payload.decode()
    meta = received(answer)
    assert meta["x-client-token"] == "t0ken" and meta["x-trace"] == "1, 2"  # client metadata arrives
    # ingress-nginx's forwarded headers, sent with grpc_set_header
    assert meta["x-forwarded-host"] == host and meta["x-forwarded-proto"] == "https"
    assert meta["x-real-ip"] == "127.0.0.1" and meta["x-forwarded-port"] == str(env.https)
    assert len(meta["x-request-id"]) == 32
    assert meta.get("host", host) == host  # nginx 1.22 sends grpc_set_header Host as host, without :authority
    # no connection-specific header over HTTP/2: grpc-go (gRFC A41) rejects a request with Connection
    assert "connection" not in meta and "upgrade" not in meta and "proxy" not in meta
    # the backend's initial and trailing metadata come back, and the call ends OK
    assert (("x-backend", backend) in [(m.key, m.value) for m in call.initial_metadata()])
    assert (("x-trailer", backend) in [(m.key, m.value) for m in call.trailing_metadata()])
    assert call.code() == grpc.StatusCode.OK


@pytest.mark.parametrize("host", ["grpc.test", "grpcs.test"])
def test_error_status_and_details_pass_through(channels: dict[str, Any], host: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        channels[host].unary_unary("/echo.Echo/Fail")(b"order-42", timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert info.value.details() == "no such thing: order-42"


@pytest.mark.parametrize(("host", "backend"), [("grpc.test", "greeter"), ("grpcs.test", "secure-greeter")])
def test_server_streaming(channels: dict[str, Any], host: str, backend: str) -> None:
    got = list(channels[host].unary_stream("/echo.Echo/Count")(b"5", timeout=TIMEOUT))
    assert got == [f"{backend} {i}".encode() for i in range(5)]


def test_unknown_method_is_unimplemented(channels: dict[str, Any]) -> None:
    with pytest.raises(grpc.RpcError) as info:
        channels["grpc.test"].unary_unary("/echo.Echo/Nope")(b"", timeout=TIMEOUT)
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_concurrent_calls(channels: dict[str, Any]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: say(channels["grpcs.test"], str(i).encode())[0], range(40)))
    assert sorted(int(a["payload"]) for a in answers) == list(range(40))
    assert {a["backend"] for a in answers} == {"secure-greeter"}


def test_without_the_annotation_grpc_fails(channels: dict[str, Any]) -> None:
    # plain.test proxies HTTP/1.1 (proxy_pass) to the same gRPC backend, which does not speak HTTP/1.1: the
    # call fails (what nginx makes of the backend's answer carries no grpc-status)
    with pytest.raises(grpc.RpcError) as info:
        say(channels["plain.test"], b"x")
    assert info.value.code() != grpc.StatusCode.OK


@pytest.mark.parametrize("host", ["grpc.test", "grpcs.test"])
def test_large_message(channels: dict[str, Any], host: str) -> None:
    # several HTTP/2 DATA frames and flow-control windows each way; below client_max_body_size (1m)
    payload = b"0123456789abcdef" * (600 * 1024 // 16)
    answer, _ = say(channels[host], payload)
    assert answer["payload"].encode() == payload
