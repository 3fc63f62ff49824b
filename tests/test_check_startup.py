"""Start-up: `ingc --help`, `--version` and `check --help` load none of jinja2, jsonschema, crossplane or the
validator; compiled templates are cached (and the cache is refused when others could write to it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("jinja2", "jsonschema", "crossplane", "ingc.validate", "ingc.pipeline", "ingc.render", "ingc.resolve")

PROBE = """
import json, sys
code = 0
sys.argv = ["ingc", *sys.argv[1:]]
from ingc.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted(m for m in HEAVY if m in sys.modules)}), file=sys.stderr)
""".replace("HEAVY", repr(HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["check", "--help"], ["rules"],
                                  ["completion", "bash"]], ids=" ".join)
def test_light_commands_do_not_import_the_compiler(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=60, cwd=REPO)
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    assert probe["code"] in (0, None)
    assert probe["loaded"] == []


def test_check_does_import_them() -> None:
    """The probe can see a heavy import (so the test above can fail)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", PROBE, "check", "--no-config", "examples/original"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=REPO)
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    assert {"jinja2", "crossplane", "ingc.validate"} <= set(probe["loaded"])


def test_templates_are_compiled_once_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingc import render

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("INGC_NO_CACHE", raising=False)
    render.environment.cache_clear()
    try:
        render.environment().get_template("nginx.conf.j2")
        (cache_dir,) = (tmp_path / "ingc").iterdir()
        assert cache_dir.stat().st_mode & 0o777 == 0o700
        assert list(cache_dir.iterdir()), "no compiled template was written"
        render.environment.cache_clear()

        def no_compile(*args: object, **kwargs: object) -> None:
            raise AssertionError("template compiled again instead of loaded from the cache")

        monkeypatch.setattr(jinja2.Environment, "compile", no_compile)
        render.environment().get_template("nginx.conf.j2")
    finally:
        render.environment.cache_clear()


def test_cache_refused_when_others_can_write_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingc import render

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert render.bytecode_cache() is not None
    (cache_dir,) = (tmp_path / "ingc").iterdir()
    cache_dir.chmod(0o777)
    assert render.bytecode_cache() is None
    monkeypatch.setenv("INGC_NO_CACHE", "1")
    cache_dir.chmod(0o700)
    assert render.bytecode_cache() is None
