"""The parse-back gate: a generated config that crossplane cannot read back is an internal error."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from ingc import verify
from ingc.cli import main
from ingc.diagnostics import Diagnostics
from ingc.ir import NginxConfig
from ingc.settings import Settings

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "original")


def test_unparsable_output_exits_70_and_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    real = verify.verify

    def broken(conf: bytes | str, cfg: NginxConfig, diags: Diagnostics) -> bool:
        text = conf.decode() if isinstance(conf, bytes) else conf
        return real(text.replace("location", "location {", 1), cfg, diags)

    monkeypatch.setattr(verify, "verify", broken)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["build", EXAMPLE, "-o", str(out)])
    assert res.exit_code == 70, res.output
    assert "N100" in res.output
    assert not out.exists() or os.listdir(out) == []


def test_verify_counts_servers_and_locations() -> None:
    diags = Diagnostics()
    cfg = NginxConfig([], [], Settings())
    text = "events {}\nhttp {\n    server {\n        listen 80;\n    }\n}\n"
    assert not verify.verify(text, cfg, diags)
    assert [d.code for d in diags] == ["N103"]


def test_verify_rejects_forbidden_directive() -> None:
    diags = Diagnostics()
    cfg = NginxConfig([], [], Settings())
    assert not verify.verify("load_module x.so;\nevents {}\nhttp {\n}\n", cfg, diags)
    assert "N101" in [d.code for d in diags]


def test_chunks_cover_every_server() -> None:
    servers = "".join(f"    server {{\n        listen {8000 + i};\n    }}\n\n" for i in range(450))
    conf = ("events {}\nhttp {\n    map $a $b { default 1; }\n\n" + servers + "}\n").encode()
    pieces = list(verify._chunks(conf))
    assert len(pieces) == 1 + 3  # head and tail, then batches of 200
    assert sum(p.count(b"    server {\n") for p, _ in pieces[1:]) == 450
    import crossplane  # every piece is a complete config on its own

    for piece, _ in pieces:
        payload = verify.parse_text(piece)
        assert payload["status"] == "ok", payload["errors"]
    assert crossplane is not None
