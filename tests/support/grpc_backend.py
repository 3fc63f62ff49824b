"""A tiny gRPC backend for end-to-end tests (grpcio generic handlers, raw bytes: no protoc, no generated code).

Run as its own process::

    python -m tests.support.grpc_backend --port P --name NAME [--tls CERT KEY]

or from tests with :func:`start_grpc`, which spawns it on a free port and waits until it accepts
connections.  With ``--port 0`` the server picks a port; it always prints ``READY <port>`` once it listens.

Methods of the service ``echo.Echo`` (request and response messages are raw bytes):

``/echo.Echo/Say`` (unary)
    answers JSON ``{"backend": NAME, "method": ..., "payload": request text,
    "metadata": [[key, value], ...]}`` (the invocation metadata as received, in order; binary ``-bin``
    values as latin-1 text), sends the initial metadata ``x-backend: NAME`` and the trailing metadata
    ``x-trailer: NAME``.
``/echo.Echo/Fail`` (unary)
    ends with status NOT_FOUND and the details ``no such thing: <payload>``.
``/echo.Echo/Count`` (server streaming)
    the payload is a number N; streams the messages ``NAME 0`` ... ``NAME N-1``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any

from tests.support.echo import EchoBackend, spawn_ready, track

__all__ = ["SERVICE", "GrpcBackend", "main", "make_server", "start_grpc"]

SERVICE = "echo.Echo"


def _metadata(context: Any) -> list[list[str]]:
    out: list[list[str]] = []
    for item in context.invocation_metadata():
        value = item.value
        out.append([item.key, value.decode("latin-1") if isinstance(value, bytes) else str(value)])
    return out


def make_server(name: str, port: int, *, tls: tuple[str, str] | None = None,
                host: str = "127.0.0.1") -> tuple[Any, int]:
    """A started-to-be ``grpc.Server`` serving ``echo.Echo`` on ``host:port``; returns ``(server, bound_port)``."""
    import grpc

    def say(request: bytes, context: Any) -> bytes:
        context.send_initial_metadata((("x-backend", name),))
        context.set_trailing_metadata((("x-trailer", name),))
        answer = {"backend": name, "method": "Say", "payload": request.decode("utf-8", errors="replace"),
                  "metadata": _metadata(context)}
        return json.dumps(answer).encode()

    def fail(request: bytes, context: Any) -> bytes:
        context.abort(grpc.StatusCode.NOT_FOUND, f"no such thing: {request.decode('utf-8', errors='replace')}")
        raise AssertionError("abort returned")  # pragma: no cover - abort always raises

    def count(request: bytes, context: Any) -> Iterator[bytes]:
        for i in range(int(request or b"0")):
            yield f"{name} {i}".encode()

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Say": grpc.unary_unary_rpc_method_handler(say),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
        "Count": grpc.unary_stream_rpc_method_handler(count),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=(handler,))
    address = f"{host}:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        key = Path(tls[1]).read_bytes()
        cert = Path(tls[0]).read_bytes()
        bound = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
    if not bound:
        raise OSError(f"cannot listen on {address}")
    return server, bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ingc test gRPC backend")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args(argv)
    server, port = make_server(args.name, args.port, tls=(args.tls[0], args.tls[1]) if args.tls else None,
                               host=args.host)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    print(f"READY {port}", flush=True)
    while not done.wait(0.2):
        pass
    server.stop(grace=0.5).wait()
    return 0


# ---------------------------------------------------------------------------
# Spawning from tests

class GrpcBackend(EchoBackend):
    """A running gRPC backend process (same lifecycle as an echo backend).  Use as a context manager or call
    ``stop()``; ``address`` (``127.0.0.1:PORT``) is a gRPC target or an nginx ``server`` line."""

    def __repr__(self) -> str:
        return f"GrpcBackend(name={self.name!r}, port={self.port}, tls={self.tls})"


def start_grpc(
    name: str,
    *,
    port: int = 0,
    tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    timeout: float = 15.0,
) -> GrpcBackend:
    """Spawn a gRPC backend process and wait until it accepts connections.

    ``port=0`` (default) lets the backend bind a free port itself (no race);
    ``tls=(cert_path, key_path)`` makes it serve gRPC over TLS.
    """
    args = ["--port", str(port), "--name", name]
    if tls is not None:
        args += ["--tls", os.fspath(tls[0]), os.fspath(tls[1])]
    proc, actual = spawn_ready("tests.support.grpc_backend", args, f"gRPC backend {name!r}", timeout)
    backend = GrpcBackend(name, actual, proc, tls is not None)
    track(backend)
    return backend


if __name__ == "__main__":
    raise SystemExit(main())
