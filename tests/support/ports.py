"""Free loopback TCP ports for end-to-end tests."""

from __future__ import annotations

import socket

__all__ = ["free_port", "free_ports", "port_open"]


def free_ports(n: int) -> list[int]:
    """Return ``n`` distinct TCP ports that are currently free on 127.0.0.1.

    Every socket stays bound until all ports are chosen, so the ports are
    distinct; they are closed before returning, so a small race with other
    processes remains (callers that can bind port 0 themselves should).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """Return one free TCP port on 127.0.0.1."""
    return free_ports(1)[0]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
