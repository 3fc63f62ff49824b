"""A small, literal HTTP(S) client for end-to-end tests (no redirects, no magic)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from .certs import cert_info

__all__ = ["Headers", "Response", "raw_request", "request"]


class Headers:
    """Response headers: case-insensitive lookup, raw ``(name, value)`` list kept in order."""

    def __init__(self, raw: Iterable[tuple[str, str]]) -> None:
        self.raw: list[tuple[str, str]] = list(raw)

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.raw if k.lower() == lname]

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.get_all(name)
        return values[0] if values else default

    def __getitem__(self, name: str) -> str:
        values = self.get_all(name)
        if not values:
            raise KeyError(name)
        return values[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for k, _ in self.raw:
            if k.lower() not in seen:
                seen.append(k.lower())
        return iter(seen)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


@dataclass
class Response:
    status: int
    reason: str
    headers: Headers
    body: bytes
    version: int = 11
    peer_cert_der: bytes | None = None
    tls_version: str | None = None
    _cert: Any = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def cert(self) -> x509.Certificate | None:
        """The server's certificate (https only), decoded with ``cryptography``."""
        if self.peer_cert_der is None:
            return None
        if self._cert is None:
            self._cert = x509.load_der_x509_certificate(self.peer_cert_der)
        return self._cert

    @property
    def cert_cn(self) -> str | None:
        """Subject CN of the served certificate (None for plain http)."""
        cert = self.cert
        return cert_info(cert)[0] if cert is not None else None

    @property
    def cert_sans(self) -> list[str]:
        """DNS and IP subjectAltNames of the served certificate."""
        cert = self.cert
        return cert_info(cert)[1] if cert is not None else []


HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]] | None


def _client_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _sni_name(host: str | None, sni: str | None) -> str | None:
    if sni is not None:
        return sni or None  # "" means: send no SNI
    if not host:
        return None
    if host.startswith("["):
        return None  # IPv6 literal: no SNI
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def request(
    port: int,
    path: str = "/",
    host: str | None = "localhost",
    method: str = "GET",
    headers: HeaderInput = None,
    body: bytes | str | None = None,
    https: bool = False,
    sni: str | None = None,
    timeout: float = 5,
    *,
    address: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
) -> Response:
    """Send one request to ``address:port`` and return the whole response.

    ``path`` is sent verbatim as the request target.  ``host`` is the Host
    header (``None`` sends none).  ``headers`` may be a mapping or a list of
    pairs (for duplicates).  With ``https=True`` TLS is used without
    verification; SNI is ``sni`` if given (``""`` sends no SNI), else ``host``
    without its port.  Redirects are never followed.
    """
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    if https:
        # Open the TLS socket ourselves so the SNI can differ from the address.
        raw = socket.create_connection((address, port), timeout=timeout)
        try:
            conn.sock = (ssl_context or _client_context()).wrap_socket(
                raw, server_hostname=_sni_name(host, sni)
            )
        except BaseException:
            raw.close()
            raise
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        if host is not None:
            conn.putheader("Host", host)
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        names = {k.lower() for k, _ in pairs}
        data = body.encode() if isinstance(body, str) else body
        if data is not None and "content-length" not in names and "transfer-encoding" not in names:
            conn.putheader("Content-Length", str(len(data)))
        for k, v in pairs:
            conn.putheader(k, v)
        conn.endheaders(data)
        resp = conn.getresponse()
        payload = resp.read()
        peer_der: bytes | None = None
        tls_version: str | None = None
        if isinstance(conn.sock, ssl.SSLSocket):
            peer_der = conn.sock.getpeercert(binary_form=True)
            tls_version = conn.sock.version()
        return Response(
            status=resp.status,
            reason=resp.reason,
            headers=Headers(resp.getheaders()),
            body=payload,
            version=resp.version,
            peer_cert_der=peer_der,
            tls_version=tls_version,
        )
    finally:
        conn.close()


def raw_request(
    port: int,
    data: bytes,
    *,
    https: bool = False,
    sni: str | None = None,
    timeout: float = 5,
    address: str = "127.0.0.1",
) -> bytes:
    """Send raw bytes and return everything the server sends until it closes.

    For requests the http.client API refuses (odd targets, bad framing).
    Include ``Connection: close`` or the read ends only at ``timeout``.
    """
    sock: socket.socket = socket.create_connection((address, port), timeout=timeout)
    try:
        if https:
            sock = _client_context().wrap_socket(sock, server_hostname=sni or None)
        sock.sendall(data)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        sock.close()
