"""The examples in ``examples/`` build, parse back, pass real ``nginx -t``, and their READMEs tell the truth.

Each example's README shows the command (the first ``ingc build`` line of a ``sh`` block), the findings
it prints (a ``text`` block) and parts of the nginx.conf (``nginx`` blocks, with ``...`` for lines left
out).  The tests run that command (with the bundle in a temporary directory and free ports) and check
the findings and the excerpts against what ingc really writes.  The original example's claims about
its rewrite are checked against a real nginx and an echo backend.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import crossplane
import pytest
from click.testing import CliRunner

from ingc.cli import main
from tests.support.echo import EchoBackend
from tests.support.http import request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (REPO / "examples").iterdir() if (p / "README.md").is_file())
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(readme: str, lang: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(readme) if m.group(1) == lang]


def build_command(readme: str) -> list[str]:
    """The first ``ingc build`` command of the README's sh blocks, continuation lines joined."""
    for block in blocks(readme, "sh"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("ingc build "):
                return shlex.split(line)[1:]
    raise AssertionError("README shows no `ingc build` command")


def with_output(args: list[str], out: Path) -> tuple[list[str], str]:
    """Replace the command's ``-o DIR``; returns the new args and the DIR the README used."""
    i = args.index("-o")
    return [*args[:i], "-o", str(out), *args[i + 2:]], args[i + 1]


@dataclass
class Built:
    readme: str
    exit_code: int
    stderr: str
    out: Path
    readme_out: str

    @property
    def conf(self) -> str:
        return (self.out / "nginx.conf").read_text(encoding="utf-8")


def build_example(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Built:
    readme = (REPO / "examples" / name / "README.md").read_text(encoding="utf-8")
    args, readme_out = with_output(build_command(readme), tmp_path / "bundle")
    monkeypatch.chdir(REPO)  # README commands are written from the repository root
    res = CliRunner().invoke(main, [*args, "--color", "never", *extra], prog_name="ingc")
    return Built(readme, res.exit_code, res.stderr, tmp_path / "bundle", readme_out)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_builds_and_parses(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = build_example(name, tmp_path, monkeypatch)
    assert b.exit_code == 0, b.stderr
    payload = crossplane.parse(str(b.out / "nginx.conf"))
    assert payload["status"] == "ok", payload["errors"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_findings_are_what_ingc_prints(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b = build_example(name, tmp_path, monkeypatch)
    shown = [line for block in blocks(b.readme, "text") for line in block.splitlines() if line.strip()]
    assert shown, "README shows no findings block"
    actual = b.stderr.splitlines()
    for line in shown:
        if line.startswith("ingc: compiled "):
            line = line.replace(f" into {b.readme_out.rstrip('/')}/nginx.conf ", f" into {b.out}/nginx.conf ")
        assert line in actual, f"README line not printed by ingc:\n{line}\nactual:\n" + "\n".join(actual)
    assert len(shown) == len(actual), "the README leaves out findings:\n" + "\n".join(actual)


@pytest.mark.parametrize("name", EXAMPLES)
def test_readme_excerpts_are_in_the_config(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``nginx`` block is pieces of the real config: the lines between ``...`` appear in it as
    consecutive lines (indentation included), and the pieces appear in order."""
    b = build_example(name, tmp_path, monkeypatch)
    conf = [line.rstrip() for line in b.conf.splitlines()]
    excerpts = blocks(b.readme, "nginx")
    assert excerpts, "README shows no nginx.conf excerpt"
    for excerpt in excerpts:
        pieces: list[list[str]] = [[]]
        for line in excerpt.splitlines():
            if line.strip() == "...":
                pieces.append([])
            else:
                pieces[-1].append(line.rstrip())
        at = 0
        for piece in (p for p in pieces if p):
            found = next((i for i in range(at, len(conf) - len(piece) + 1) if conf[i:i + len(piece)] == piece), None)
            shown = "\n".join(piece)
            assert found is not None, f"README excerpt not in the config (after line {at}):\n{shown}"
            at = found + len(piece)


@pytest.mark.nginx
@pytest.mark.parametrize("name", EXAMPLES)
def test_example_passes_nginx_t(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                nginx_runner: Callable[..., NginxRunner]) -> None:
    http_port, https_port = free_ports(2)
    b = build_example(name, tmp_path, monkeypatch, "--http-port", str(http_port), "--https-port", str(https_port))
    assert b.exit_code == 0, b.stderr
    assert f"listen {http_port} default_server;" in b.conf
    nginx_runner(b.out).assert_config_ok()


@pytest.mark.nginx
def test_original_example_rewrite_against_real_nginx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     nginx_runner: Callable[..., NginxRunner],
                                                     echo_backends: Callable[..., EchoBackend]) -> None:
    """What examples/original/README.md promises: /app/x arrives as /, the query string is kept, the
    host-wide regex switch makes /APP and /application match, anything else on the host is 404."""
    app = echo_backends("appsvc")
    http_port, https_port = free_ports(2)
    b = build_example("original", tmp_path, monkeypatch, "--http-port", str(http_port), "--https-port",
                      str(https_port), "--endpoint", f"apps/appsvc={app.address}")
    assert b.exit_code == 0, b.stderr
    nginx = nginx_runner(b.out, port=http_port).start()
    host = "kubernetes.foo.bar"
    for sent, received in [("/app", "/"), ("/app/", "/"), ("/app/x", "/"), ("/app/x/y?q=1", "/?q=1"),
                           ("/APP/x", "/"), ("/application", "/")]:
        r = request(http_port, sent, host=host)
        assert r.status == 200, (sent, r.status)
        echo = r.json()
        assert echo["backend"] == "appsvc"
        assert echo["uri"] == received, sent
        assert echo["headers"]["host"] == host
    assert request(http_port, "/other", host=host).status == 404
    assert request(http_port, "/app/x", host="unknown.example").status == 404
    assert request(http_port, "/healthz", host="unknown.example").status == 200
    assert nginx.running
