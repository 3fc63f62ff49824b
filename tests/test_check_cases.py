"""Golden inputs for `ingc check`, one per rule, with inline expectations.

Each ``tests/check_cases/*.yaml`` holds the manifests and marks the offending line with
``# expect: CODE`` (several: ``# expect: CODE, CODE``).  Header comments ``# args: ...`` add options
and ``# needs: nginx`` marks a case that runs the real nginx.  The case passes when the warnings and
errors `ingc check -f json` reports are exactly the expected (file, line, code) set, every expected
info finding is there too, and each finding's column points at the start of a token on that line.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingc.cli import main
from ingc.codes import CODES

CASES_DIR = Path(__file__).parent / "check_cases"
CASES = sorted(CASES_DIR.glob("*.yaml"))
EXPECT = re.compile(r"#\s*expect:\s*([A-Z][0-9]{3}(?:\s*,\s*[A-Z][0-9]{3})*)\s*$")


def parse_case(path: Path) -> tuple[list[str], bool, set[tuple[int, str]]]:
    args: list[str] = []
    needs_nginx = False
    expected: set[tuple[int, str]] = set()
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("# args:"):
            args += shlex.split(line.split(":", 1)[1])
        elif line.startswith("# needs: nginx"):
            needs_nginx = True
        m = EXPECT.search(line)
        if m:
            expected |= {(n, c.strip()) for c in m.group(1).split(",")}
    return args, needs_nginx, expected


def run_case(path: Path, args: list[str]) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["check", "--no-config", "-f", "json", *args, str(path)],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    assert result.exit_code == (1 if data["summary"]["invalid"] + data["summary"]["errors"] else 0)
    return data  # type: ignore[no-any-return]


def all_findings(data: dict) -> list[dict]:  # type: ignore[type-arg]
    out = [f for r in data["resources"] for f in r["findings"]]
    return out + data["findings"]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_check_case(case: Path, request: pytest.FixtureRequest) -> None:
    args, needs_nginx, expected = parse_case(case)
    assert expected, f"{case.name} has no '# expect:' line"
    if needs_nginx:
        request.getfixturevalue("nginx_bin")
    data = run_case(case, args)
    findings = [f for f in all_findings(data) if not f.get("suppressed")]
    expected_codes = {code for _, code in expected}
    got = {(f["line"], f["rule"]) for f in findings
           if f["file"] == str(case) and (f["severity"] != "info" or f["rule"] in expected_codes)}
    assert got == expected, "\n".join(f"{f['file']}:{f['line']}:{f['column']}: {f['severity']}[{f['rule']}]: "
                                      f"{f['message']}" for f in findings)
    assert not [f for f in findings if f["file"] != str(case) and f["severity"] != "info"]
    lines = case.read_text().splitlines()
    for f in findings:
        if (f["line"], f["rule"]) in expected:
            text = lines[f["line"] - 1]
            col = f["column"]
            assert 1 <= col <= len(text), f
            assert text[col - 1] != " " and (col == 1 or text[col - 2] in " -\"'"), (f, text)


def test_every_check_rule_has_a_golden_case() -> None:
    covered = set()
    for case in CASES:
        covered |= {code for _, code in parse_case(case)[2]}
    rules = {c for c in CODES if c.startswith("C") and c not in ("C600",)}  # C600: nginx missing (tested apart)
    issue_rules = {"R301", "R302", "R303", "R304", "R305", "R340", "R342", "R343", "V141", "A100", "A101", "A104",
                   "A105", "A110", "V130", "R100", "N200"}
    assert rules | issue_rules <= covered, sorted((rules | issue_rules) - covered)
