"""Golden cases: ``tests/cases/<name>/`` holds input manifests, an optional ``args`` file (extra CLI
arguments, one line), ``expected.conf`` (the nginx.conf ``ingc build`` writes) and ``expected.diag`` (its
text diagnostics, one per line, in the order ingc prints them, without the summary line).

Every case is compiled through the real CLI entry point from inside its own directory, so the file
names in the diagnostics are the case's own.  Beyond the comparison, every case must:

* parse back with crossplane (status ok),
* compile to identical bytes a second time,
* compile to identical bytes with the input files given in reverse order, and with every document of
  every input re-serialised in reverse order into one file.

``pytest --update-goldens`` rewrites ``expected.conf`` and ``expected.diag`` from the current output;
review the diff before committing it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossplane
import pytest
import yaml
from click.testing import CliRunner

from ingc.cli import main
from tests.support.nginx import NginxRunner

CASES_DIR = Path(__file__).resolve().parent / "cases"
INPUT_SUFFIXES = (".yaml", ".yml", ".json")
SUMMARY_PREFIX = "ingc: "


def case_names() -> list[str]:
    return sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir() and not p.name.startswith("."))


def case_inputs(case: Path) -> list[str]:
    """The case's manifests, sorted; files whose name starts with ``extra-`` are referenced by ``args``."""
    return sorted(p.name for p in case.iterdir()
                  if p.is_file() and p.name.endswith(INPUT_SUFFIXES) and not p.name.startswith("extra-"))


def case_args(case: Path) -> list[str]:
    f = case / "args"
    return shlex.split(f.read_text(encoding="utf-8")) if f.exists() else []


@dataclass
class Build:
    exit_code: int
    stdout: str
    stderr: str
    bundle: Path

    @property
    def conf(self) -> bytes:
        return (self.bundle / "nginx.conf").read_bytes()

    @property
    def diag_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line and not line.startswith(SUMMARY_PREFIX)]

    def files(self) -> dict[str, bytes]:
        """Everything ingc writes from the manifests (ssl/ and auth/), by bundle-relative path."""
        out: dict[str, bytes] = {}
        for top in ("ssl", "auth"):
            d = self.bundle / top
            if d.is_dir():
                for p in sorted(d.iterdir()):
                    out[f"{top}/{p.name}"] = p.read_bytes()
        return out


def build(inputs: list[str], args: list[str], out: Path) -> Build:
    runner = CliRunner()
    result = runner.invoke(main, ["build", *inputs, "-o", str(out), "--color", "never", *args],
                           catch_exceptions=False)
    return Build(result.exit_code, result.stdout, result.stderr, out)


class _KeepTimestamps(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings (as ingc and Kubernetes do)."""


_KeepTimestamps.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def reversed_documents(case: Path, inputs: list[str]) -> str:
    """Every document of every input, last first (``kind: List`` items reversed too), as YAML text."""
    docs: list[Any] = []
    for name in inputs:
        with open(case / name, encoding="utf-8") as fh:
            docs.extend(d for d in yaml.load_all(fh, Loader=_KeepTimestamps) if d is not None)
    docs.reverse()
    for d in docs:
        if isinstance(d, dict) and str(d.get("kind", "")).endswith("List") and isinstance(d.get("items"), list):
            d["items"] = list(reversed(d["items"]))
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in docs)


CASES = case_names()


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_goldens: bool) -> None:
    case = CASES_DIR / name
    inputs, args = case_inputs(case), case_args(case)
    assert inputs, f"case {name} has no input manifests"
    monkeypatch.chdir(case)

    first = build(inputs, args, tmp_path / "first")
    assert first.exit_code == 0, f"exit {first.exit_code}\n{first.stderr}"
    assert first.stdout == ""
    conf, diag = first.conf, "".join(line + "\n" for line in first.diag_lines)

    expected_conf, expected_diag = case / "expected.conf", case / "expected.diag"
    if update_goldens:
        expected_conf.write_bytes(conf)
        expected_diag.write_text(diag, encoding="utf-8")
    else:
        assert expected_conf.exists(), f"run pytest {__file__} --update-goldens to create {expected_conf}"
        assert conf.decode() == expected_conf.read_text(encoding="utf-8")
        assert diag == expected_diag.read_text(encoding="utf-8")

    payload = crossplane.parse(str(first.bundle / "nginx.conf"))
    assert payload["status"] == "ok", json.dumps(payload["errors"], indent=1)

    second = build(inputs, args, tmp_path / "second")
    assert second.exit_code == 0
    assert second.conf == conf, "a second compilation gave different bytes"
    assert second.files() == first.files()

    if len(inputs) > 1:
        files_reversed = build(list(reversed(inputs)), args, tmp_path / "files-reversed")
        assert files_reversed.exit_code == 0, files_reversed.stderr
        assert files_reversed.conf == conf, "input files in reverse order gave different bytes"
        assert files_reversed.files() == first.files()

    rev = tmp_path / "reversed-documents.yaml"
    rev.write_text(reversed_documents(case, inputs), encoding="utf-8")
    docs_reversed = build([str(rev)], args, tmp_path / "docs-reversed")
    assert docs_reversed.exit_code == 0, docs_reversed.stderr
    assert docs_reversed.conf == conf, "documents in reverse order gave different bytes"
    assert docs_reversed.files() == first.files()
    # the same findings, only their positions differ
    assert sorted(_codes(docs_reversed.diag_lines)) == sorted(_codes(first.diag_lines))


@pytest.mark.nginx
@pytest.mark.parametrize("name", CASES)
def test_golden_nginx_accepts(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              nginx_runner: Callable[..., NginxRunner]) -> None:
    """Real ``nginx -t`` accepts every golden output (``nginx -t`` binds no port, so 80/443 are fine).

    Cases whose upstream blocks hold DNS names (finding R311) are skipped: nginx resolves those when it
    loads the configuration, and the names are made up.
    """
    case = CASES_DIR / name
    if "[R311]" in (case / "expected.diag").read_text(encoding="utf-8"):
        pytest.skip("upstream names need DNS at load time (R311)")
    monkeypatch.chdir(case)
    result = build(case_inputs(case), case_args(case), tmp_path / "bundle")
    assert result.exit_code == 0, result.stderr
    nginx_runner(result.bundle).assert_config_ok()


def test_verify_refuses_a_duplicate_exact_location() -> None:
    """Regression: the multi-host case once rendered ``location = "/api"`` twice (an exact twin shared
    its prefix location's state), which crossplane parses but nginx refuses.  The verify pass catches it."""
    from ingc.diagnostics import Diagnostics
    from ingc.options import Options
    from ingc.pipeline import compile_sources
    from ingc.verify import verify

    case = CASES_DIR / "multi-host"
    result = compile_sources([str(case / f) for f in case_inputs(case)], Options())
    assert result.config is not None and result.conf is not None
    assert not [d for d in result.diags if d.code.startswith("N")]
    text = result.conf.decode()
    assert text.count('location "/api/" {') == 1
    broken = text.replace('location "/api/" {', 'location = "/api" {')
    diags = Diagnostics()
    assert not verify(broken, result.config, diags)
    assert [d.code for d in diags] == ["N102"]
    assert 'location = /api twice' in diags.items[0].message


def _codes(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        head = line.split("]: ", 1)[0]
        out.append(head.rsplit(" ", 1)[-1])
    return out


def test_cases_are_complete() -> None:
    """Every case directory has inputs and both expected files (a forgotten --update-goldens fails here)."""
    for name in CASES:
        case = CASES_DIR / name
        assert case_inputs(case), name
        assert (case / "expected.conf").is_file(), name
        assert (case / "expected.diag").is_file(), name


def test_reversed_documents_really_reverses(tmp_path: Path) -> None:
    """The helper the order checks rely on: documents come out last first, timestamps stay strings."""
    (tmp_path / "a.yaml").write_text(
        "kind: A\nmetadata: {creationTimestamp: 2024-01-01T00:00:00Z}\n---\nkind: B\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("kind: List\nitems: [{kind: C}, {kind: D}]\n", encoding="utf-8")
    docs = list(yaml.load_all(reversed_documents(tmp_path, ["a.yaml", "b.yaml"]), Loader=_KeepTimestamps))
    assert [d["kind"] for d in docs] == ["List", "B", "A"]
    assert [i["kind"] for i in docs[0]["items"]] == ["D", "C"]
    assert docs[2]["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"
