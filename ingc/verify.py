"""Pass 7, verify: parse the rendered nginx.conf back with crossplane and check it is exactly what the
IR intended — same servers, locations and upstreams, no directive ingc never emits from input."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

from ingc.diagnostics import Diagnostics
from ingc.ir import NginxConfig

FORBIDDEN = {"load_module", "ssl_engine", "include", "perl", "perl_modules", "perl_require", "js_import",
             "js_include", "env"}


def _walk(stmts: list[dict[str, Any]], out: list[dict[str, Any]]) -> None:
    for st in stmts:
        out.append(st)
        if "block" in st:
            _walk(st["block"], out)


def parse_text(text: str | bytes) -> dict[str, Any]:
    import crossplane

    fd, path = tempfile.mkstemp(prefix="ingc-verify-", suffix=".conf")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        payload: dict[str, Any] = crossplane.parse(path, single=True, comments=False)
    finally:
        os.unlink(path)
    return payload


SERVER_START = b"\n    server {\n"
BATCH = 200


def _chunks(conf: bytes) -> Iterator[tuple[bytes, int]]:
    """The config cut at top-level server blocks into parseable pieces (with their first line number),
    one batch at a time so memory stays bounded.

    Cutting is safe: user data is always quoted and never contains a line break, so a line that is
    exactly `    server {` is ours.  Each batch is wrapped in `http { }` so crossplane checks contexts.
    """
    first = conf.find(SERVER_START)
    if first < 0:
        yield conf, 1
        return
    end = conf.rstrip().rfind(b"\n}")
    yield conf[:first + 1] + conf[end + 1:], 1
    line = conf.count(b"\n", 0, first + 1) + 1
    pos = first + 1
    while pos < end:
        stop = pos
        for _ in range(BATCH):
            nxt = conf.find(SERVER_START, stop + 1, end)
            if nxt < 0:
                stop = end
                break
            stop = nxt + 1
        piece = conf[pos:stop]
        yield b"http {\n" + piece + b"}\n", line - 1
        line += piece.count(b"\n")
        pos = stop


def verify(conf: str | bytes, cfg: NginxConfig, diags: Diagnostics) -> bool:
    """Parse piece by piece (bounded memory) and compare each piece with the IR as it goes."""
    want_up = sum(1 for u in cfg.upstreams if not (u.needs_dns and cfg.resolver))
    servers = iter(cfg.servers)
    n_http = n_servers = n_upstreams = 0
    ok = True
    if isinstance(conf, str):
        conf = conf.encode("utf-8")
    for piece, first_line in _chunks(conf):
        payload = parse_text(piece)
        if payload["status"] != "ok":
            for err in payload["errors"]:
                line = (err.get("line") or 0) + first_line - 1
                diags.error("N100", f"internal error: generated nginx.conf does not parse: {err['error']} "
                            f"(near line {line})")
            return False
        parsed = payload["config"][0]["parsed"]
        stmts: list[dict[str, Any]] = []
        _walk(parsed, stmts)
        for st in stmts:
            name = st["directive"]
            if name in FORBIDDEN or "_by_lua" in name:
                diags.error("N101", f"internal error: generated nginx.conf contains forbidden directive {name!r}")
                ok = False
        for top in parsed:
            if top["directive"] != "http":
                continue
            n_http += 1
            for st in top["block"]:
                if st["directive"] == "upstream":
                    n_upstreams += 1
                elif st["directive"] == "server":
                    n_servers += 1
                    srv = next(servers, None)
                    if srv is None:
                        continue
                    ok = _check_server(st, srv, diags) and ok
    if n_servers != len(cfg.servers) or n_upstreams != want_up:
        diags.error("N103", f"internal error: generated nginx.conf has {n_servers} servers and {n_upstreams} "
                    f"upstreams; the IR has {len(cfg.servers)} and {want_up}")
        return False
    return ok


def _check_server(st: dict[str, Any], srv: Any, diags: Diagnostics) -> bool:
    locs = [s for s in st["block"] if s["directive"] == "location"]
    if len(locs) != len(srv.locations):
        diags.error("N103", f"internal error: server {srv.hostname} has {len(locs)} locations in nginx.conf, "
                    f"{len(srv.locations)} in the IR")
        return False
    ok = True
    seen: set[tuple[str, ...]] = set()
    for lo in locs:  # nginx refuses a second exact or prefix location with the same path
        key = tuple(lo["args"])
        if key and key[0] not in ("~", "~*") and key in seen:
            diags.error("N102", f"internal error: server {srv.hostname} has location {' '.join(key)} twice")
            ok = False
        seen.add(key)
    for lo, want in zip(locs, srv.locations, strict=True):
        if not any(s["directive"] in ("proxy_pass", "grpc_pass", "fastcgi_pass", "return") for s in lo["block"]):
            diags.error("N104", f"internal error: location {want.match!r} on {srv.hostname} neither proxies "
                        "nor returns")
            ok = False
    return ok
