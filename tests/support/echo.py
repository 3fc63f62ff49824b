"""A tiny echo backend for end-to-end tests.

Run as its own process::

    python -m tests.support.echo --port P --name NAME [--tls CERT KEY] [--status N]

or from tests with :func:`start_echo`, which spawns it on a free port and waits
until it accepts connections.

Every method and path gets a JSON answer (status 200 unless ``--status``)::

    {"backend": NAME, "method": ..., "uri": raw request target incl. query,
     "path": ..., "query": ..., "headers": {lowercased name: value},
     "header_list": [[name, value], ...], "body": request body text}

Duplicate request headers are joined with ", " in ``headers`` and kept one by
one in ``header_list``.  A request to ``/__status/NNN`` (any method, any query)
is answered with status NNN instead.  Responses carry ``Content-Length`` and an
``X-Echo-Backend: NAME`` header; 204 and 304 have no body.  With ``--port 0``
the server picks a port; it always prints ``READY <port>`` on stdout once it
listens.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["EchoBackend", "EchoServer", "main", "start_echo"]

_STATUS_PATH = re.compile(r"^/__status/(\d{3})(?:[/?]|$)")
_NO_BODY_STATUSES = {204, 304}


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        port: int,
        name: str,
        *,
        status: int = 200,
        tls: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.name = name
        self.status = status
        self.ssl_context: ssl.SSLContext | None = None
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            self.ssl_context = ctx
        super().__init__((host, port), EchoHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the per-connection thread, so a slow TLS handshake never
        # blocks the accept loop.
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Quiet: clients (nginx health checks, tests) may drop connections.
        pass


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EchoServer
    server_version = "ingc-echo"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler dispatches to do_<METHOD>: accept any method.
        if name.startswith("do_"):
            return self._echo
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks: list[bytes] = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section up to the empty line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        return b""

    def _echo(self) -> None:
        body = self._read_body()
        uri = self.path
        split = urlsplit(uri) if "://" in uri else None
        if split is not None:
            path, query = split.path, split.query
        else:
            path, _, query = uri.partition("?")
        headers: dict[str, str] = {}
        header_list: list[list[str]] = []
        for key, value in self.headers.items():
            lname = key.lower()
            header_list.append([lname, value])
            headers[lname] = f"{headers[lname]}, {value}" if lname in headers else value

        status = self.server.status
        m = _STATUS_PATH.match(path)
        if m:
            status = int(m.group(1))
        if not 200 <= status <= 599:
            status = 500

        payload = {
            "backend": self.server.name,
            "method": self.command,
            "uri": uri,
            "path": path,
            "query": query,
            "headers": headers,
            "header_list": header_list,
            "body": body.decode("utf-8", errors="replace"),
        }
        out = (json.dumps(payload, indent=1) + "\n").encode()
        self.send_response(status)
        self.send_header("X-Echo-Backend", self.server.name)
        if status not in _NO_BODY_STATUSES:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if status not in _NO_BODY_STATUSES and self.command != "HEAD":
            self.wfile.write(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ingc test echo backend")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = parser.parse_args(argv)
    server = EchoServer(
        args.port,
        args.name,
        status=args.status,
        tls=(args.tls[0], args.tls[1]) if args.tls else None,
        host=args.host,
    )
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# ---------------------------------------------------------------------------
# Spawning from tests

_REPO_ROOT = Path(__file__).resolve().parents[2]
_LIVE: set[EchoBackend] = set()


class EchoBackend:
    """A running echo backend process.  Use as a context manager or call ``stop()``."""

    def __init__(self, name: str, port: int, proc: subprocess.Popen[bytes], tls: bool) -> None:
        self.name = name
        self.port = port
        self.proc = proc
        self.tls = tls

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, ready for an nginx ``server`` line."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        _LIVE.discard(self)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> EchoBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"EchoBackend(name={self.name!r}, port={self.port}, tls={self.tls})"


def start_echo(
    name: str,
    *,
    port: int = 0,
    status: int | None = None,
    tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
    timeout: float = 10.0,
) -> EchoBackend:
    """Spawn an echo backend process and wait until it accepts connections.

    ``port=0`` (default) lets the backend bind a free port itself (no race);
    ``tls=(cert_path, key_path)`` makes it speak HTTPS.
    """
    args = ["--port", str(port), "--name", name]
    if status is not None:
        args += ["--status", str(status)]
    if tls is not None:
        args += ["--tls", os.fspath(tls[0]), os.fspath(tls[1])]
    proc, actual = spawn_ready("tests.support.echo", args, f"echo backend {name!r}", timeout)
    backend = EchoBackend(name, actual, proc, tls is not None)
    _LIVE.add(backend)
    return backend


def track(backend: EchoBackend) -> None:
    """Stop ``backend`` at interpreter exit if a test forgot to."""
    _LIVE.add(backend)


def spawn_ready(module: str, args: list[str], what: str, timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    """Run ``python -m MODULE ARGS`` from the repository root, wait for its ``READY <port>`` line and for the
    port to accept connections; returns the process and the port.  Kills the process on any failure."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=_REPO_ROOT, env=env)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    try:
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{what} did not start within {timeout}s")
            ready, _, _ = select.select([proc.stdout], [], [], remaining)
            if ready:
                chunk = os.read(proc.stdout.fileno(), 256)
                if not chunk:
                    raise RuntimeError(f"{what} exited early (rc={proc.wait()})")
                line += chunk
        text = line.decode().strip()
        if not text.startswith("READY "):
            raise RuntimeError(f"{what}: unexpected output {text!r}")
        actual = int(text.split()[1])
        while True:
            try:
                socket.create_connection(("127.0.0.1", actual), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{what} does not accept connections") from None
                time.sleep(0.02)
        return proc, actual
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        raise


@atexit.register
def _stop_leftovers() -> None:
    for backend in list(_LIVE):
        backend.stop()


if __name__ == "__main__":
    raise SystemExit(main())
