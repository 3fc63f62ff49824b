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


def verify(text: str, cfg: NginxConfig, diags: Diagnostics) -> bool:
    payload = parse_text(text)
    if payload["status"] != "ok":
        for err in payload["errors"]:
            diags.error("N100", f"internal error: generated nginx.conf does not parse: {err['error']} "
                        f"(line {err.get('line')})")
        return False
    parsed = payload["config"][0]["parsed"]
    stmts: list[dict[str, Any]] = []
    _walk(parsed, stmts)
    ok = True
    for st in stmts:
        name = st["directive"]
        if name in FORBIDDEN or "_by_lua" in name:
            diags.error("N101", f"internal error: generated nginx.conf contains forbidden directive {name!r}")
            ok = False
    http = [s for s in parsed if s["directive"] == "http"]
    if len(http) != 1:
        diags.error("N102", "internal error: generated nginx.conf must have exactly one http block")
        return False
    servers = [s for s in http[0]["block"] if s["directive"] == "server"]
    upstreams = [s for s in http[0]["block"] if s["directive"] == "upstream"]
    want_up = sum(1 for u in cfg.upstreams if not (u.needs_dns and cfg.resolver))
    if len(servers) != len(cfg.servers) or len(upstreams) != want_up:
        diags.error("N103", f"internal error: generated nginx.conf has {len(servers)} servers and {len(upstreams)} "
                    f"upstreams; the IR has {len(cfg.servers)} and {want_up}")
        return False
    for got, srv in zip(servers, cfg.servers, strict=True):
        locs = [s for s in got["block"] if s["directive"] == "location"]
        if len(locs) != len(srv.locations):
            diags.error("N103", f"internal error: server {srv.hostname} has {len(locs)} locations in nginx.conf, "
                        f"{len(srv.locations)} in the IR")
            ok = False
            continue
        for lo, want in zip(locs, srv.locations, strict=True):
            pass_count = sum(1 for s in lo["block"] if s["directive"] in ("proxy_pass", "grpc_pass", "fastcgi_pass",
                                                                         "return"))
            if pass_count < 1:
                diags.error("N104", f"internal error: location {want.match!r} on {srv.hostname} neither proxies "
                            "nor returns")
                ok = False
    return ok
