"""Pass 7, verify: parse the rendered nginx.conf back with crossplane and check it is exactly what the
IR intended — same servers, locations and upstreams, no directive ingc never emits from input."""

from __future__ import annotations

import os
import tempfile
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


def parse_text(text: str) -> dict[str, Any]:
    import crossplane

    fd, path = tempfile.mkstemp(prefix="ingc-verify-", suffix=".conf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        payload: dict[str, Any] = crossplane.parse(path, single=True, comments=False)
    finally:
        os.unlink(path)
    return payload


SERVER_START = "\n    server {\n"
BATCH = 200


def _chunks(text: str) -> list[tuple[str, int]]:
    """The config cut at top-level server blocks into parseable pieces (with their first line number).

    Cutting is safe: user data is always quoted and never contains a line break, so a line that is
    exactly `    server {` is ours.  Each piece is wrapped in `http { }` so crossplane checks contexts.
    """
    parts = text.split(SERVER_START)
    head, servers = parts[0], parts[1:]
    if not servers:
        return [(text, 1)]
    last = servers[-1]
    end = last.rstrip().rfind("\n}")
    tail = last[end:] if end >= 0 else ""
    servers[-1] = last[:end] if end >= 0 else last
    out = [(head + tail, 1)]
    line = head.count("\n") + 2
    for i in range(0, len(servers), BATCH):
        group = servers[i:i + BATCH]
        body = "http {\n" + "".join("    server {\n" + s + ("\n" if not s.endswith("\n") else "") for s in group)
        out.append((body + "}\n", line - 1))
        line += sum(s.count("\n") + 1 for s in group)
    return out


def verify(text: str, cfg: NginxConfig, diags: Diagnostics) -> bool:
    """Parse piece by piece (bounded memory) and compare each piece with the IR as it goes."""
    want_up = sum(1 for u in cfg.upstreams if not (u.needs_dns and cfg.resolver))
    servers = iter(cfg.servers)
    n_http = n_servers = n_upstreams = 0
    ok = True
    for piece, first_line in _chunks(text):
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
    for lo, want in zip(locs, srv.locations, strict=True):
        if not any(s["directive"] in ("proxy_pass", "grpc_pass", "fastcgi_pass", "return") for s in lo["block"]):
            diags.error("N104", f"internal error: location {want.match!r} on {srv.hostname} neither proxies "
                        "nor returns")
            ok = False
    return ok
