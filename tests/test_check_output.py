"""`ingc check` output formats, each read back by a real reader: json (json.loads + the published JSON
schema), sarif (the SARIF 2.1.0 schema), junit (xml.etree), github (exact lines), tap (a strict TAP 13
grammar), text (exact lines on stderr, the summary on stdout); --report, colour and NO_COLOR."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from ingc.cli import main

REPO = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = json.loads((REPO / "tests/data/sarif-schema-2.1.0.json").read_text())
REPORT_SCHEMA = json.loads((REPO / "docs/check-report.schema.json").read_text())

BAD = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              name: admin
      - path: /docs
        pathType: Prefix
        backend:
          service:
            name: docs
            port:
              number: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  clusterIP: 10.0.0.10
  ports:
  - name: http
    port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
"""

GOOD = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  ports:
  - port: 80
---
apiVersion: v1
kind: Endpoints
metadata:
  name: web
  namespace: shop
subsets:
- addresses: [{ip: 10.1.0.7}]
  ports: [{port: 80}]
"""

R302 = "bad.yaml:16:19: error[R302]: service \"web\" has no port 'admin': path '/' answers 503 (Ingress shop/web)"
R301 = ("bad.yaml:23:19: warning[R301]: service \"docs\" not found in namespace \"shop\": path '/docs' answers 503 "
        "(Ingress shop/web)")
V001 = "bad.yaml:39:7: info[V001]: skipped: kind Deployment is not read by ingc (Deployment shop/web)"
L004 = "broken.yaml:2:1: error[L004]: malformed YAML: did not find expected ',' or ']'"
SUMMARY = "Summary: 4 resources found in 2 files - Valid: 1, Invalid: 1, Errors: 1, Skipped: 1"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "broken.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "good.yaml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def check(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["check", "--no-config", *args], env=env, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_text(workdir: Path) -> None:
    code, out, err = check("bad.yaml", "broken.yaml")
    assert code == 1
    assert err.splitlines() == [R302, R301, V001, L004]
    assert out == SUMMARY + "\n"


def test_text_quiet_hides_info(workdir: Path) -> None:
    _, _, err = check("-q", "bad.yaml", "broken.yaml")
    assert err.splitlines() == [R302, R301, L004]


def test_json_keys_and_schema(workdir: Path) -> None:
    code, out, err = check("-f", "json", "bad.yaml", "broken.yaml")
    assert code == 1 and err == ""
    data = json.loads(out)
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(data)
    assert data["summary"] == {"resources": 4, "files": 2, "valid": 1, "invalid": 1, "errors": 1, "skipped": 1,
                               "suppressed": 0}
    ing, svc, dep, broken = data["resources"]
    for r in data["resources"]:
        assert {"filename", "kind", "name", "version", "status", "msg", "validationErrors"} <= set(r)
    assert (ing["kind"], ing["name"], ing["version"], ing["status"]) == \
        ("Ingress", "web", "networking.k8s.io/v1", "statusInvalid")
    assert ing["msg"] == "service \"web\" has no port 'admin': path '/' answers 503"
    assert [(f["line"], f["column"], f["rule"], f["severity"]) for f in ing["findings"]] == \
        [(16, 19, "R302", "error"), (23, 19, "R301", "warning")]
    assert svc["status"] == "statusValid" and svc["msg"] == "" and svc["findings"] == []
    assert dep["status"] == "statusSkipped"
    assert (broken["filename"], broken["kind"], broken["status"]) == ("broken.yaml", "", "statusError")


def test_json_schema_errors_carry_a_json_pointer(workdir: Path) -> None:
    (workdir / "typo.yaml").write_text(GOOD.replace("pathType: Prefix", "pathTyp: Prefix"))
    data = json.loads(check("-f", "json", "typo.yaml")[1])
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(data)
    ing = data["resources"][0]
    assert ing["status"] == "statusInvalid"
    assert [e["path"] for e in ing["validationErrors"]] == ["/spec/rules/0/http/paths/0/pathTyp"]


def test_json_summary_present_when_clean_and_when_empty(workdir: Path) -> None:
    data = json.loads(check("-f", "json", "good.yaml")[1])
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(data)
    assert data["summary"]["valid"] == 3 and data["summary"]["invalid"] == 0
    (workdir / "empty").mkdir()
    code, out, _ = check("-f", "json", "empty")
    assert code == 3
    assert json.loads(out)["summary"]["resources"] == 0


def test_sarif_validates_with_real_regions(workdir: Path) -> None:
    code, out, err = check("-f", "sarif", "bad.yaml", "broken.yaml")
    assert code == 1 and err == ""
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    run = log["runs"][0]
    regions = [(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
                r["locations"][0]["physicalLocation"]["region"]["startColumn"]) for r in run["results"]]
    assert regions == [("R302", "error", "bad.yaml", 16, 19), ("R301", "warning", "bad.yaml", 23, 19),
                       ("V001", "note", "bad.yaml", 39, 7), ("L004", "error", "broken.yaml", 2, 1)]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])


def test_sarif_clean_run_has_an_empty_results_array(workdir: Path) -> None:
    code, out, _ = check("-f", "sarif", "-q", "good.yaml")
    log = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert code == 0 and log["runs"][0]["results"] == []


def test_junit_is_one_testcase_per_resource(workdir: Path) -> None:
    code, out, _ = check("-f", "junit", "bad.yaml", "broken.yaml")
    assert code == 1
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    cases = root.findall("testsuite/testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [
        ("Ingress@networking.k8s.io/v1", "shop/web"), ("Service@v1", "shop/web"), ("Deployment@apps/v1", "shop/web"),
        ("file", "broken.yaml")]
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("type") == "R302"
    assert (failure.text or "").splitlines() == [R302, R301]
    assert cases[1].find("failure") is None and cases[2].find("skipped") is not None
    error = cases[3].find("error")
    assert error is not None and error.get("type") == "L004"


def test_github_lines_exactly(workdir: Path) -> None:
    code, out, err = check("-f", "github", "bad.yaml", "broken.yaml")
    assert code == 1 and err == ""
    assert out.splitlines() == [
        "::error file=bad.yaml,line=16,col=19,title=R302::service \"web\" has no port 'admin': path '/' answers 503 "
        "(Ingress shop/web)",
        "::warning file=bad.yaml,line=23,col=19,title=R301::service \"docs\" not found in namespace \"shop\": path "
        "'/docs' answers 503 (Ingress shop/web)",
        "::notice file=bad.yaml,line=39,col=7,title=V001::skipped: kind Deployment is not read by ingc "
        "(Deployment shop/web)",
        "::error file=broken.yaml,line=2,col=1,title=L004::malformed YAML: did not find expected ',' or ']'",
    ]


def test_auto_is_github_under_github_actions(workdir: Path) -> None:
    _, out, _ = check("-f", "auto", "bad.yaml", env={"GITHUB_ACTIONS": "true"})
    assert out.startswith("::error file=bad.yaml,line=16,col=19,title=R302::")
    code, out, err = check("-f", "auto", "bad.yaml", env={"GITHUB_ACTIONS": ""})
    assert err.startswith("bad.yaml:16:19: error[R302]")


TAP_LINE = re.compile(r"^(ok|not ok) (\d+) - ([^#]*?)(?: # (SKIP|TODO)\b.*)?$")


def read_tap(text: str) -> list[tuple[bool, int, str, str | None, list[str]]]:
    """A strict TAP 13 reader: version line, plan, test lines, indented YAML blocks, comments."""
    import yaml

    lines = text.splitlines()
    assert lines[0] == "TAP version 13"
    plan = re.fullmatch(r"1\.\.(\d+)", lines[1])
    assert plan, lines[1]
    tests: list[tuple[bool, int, str, str | None, list[str]]] = []
    i = 2
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            i += 1
            continue
        m = TAP_LINE.match(line)
        assert m, line
        findings: list[str] = []
        if i + 1 < len(lines) and lines[i + 1] == "  ---":
            end = lines.index("  ...", i + 1)
            block = yaml.safe_load("\n".join(x[2:] for x in lines[i + 2:end]))
            findings = block["findings"]
            i = end
        tests.append((m.group(1) == "ok", int(m.group(2)), m.group(3), m.group(4), findings))
        i += 1
    assert [t[1] for t in tests] == list(range(1, int(plan.group(1)) + 1))
    return tests


def test_tap(workdir: Path) -> None:
    code, out, _ = check("-f", "tap", "bad.yaml", "broken.yaml")
    assert code == 1
    tests = read_tap(out)
    assert [(ok, desc, directive) for ok, _, desc, directive, _ in tests] == [
        (False, "bad.yaml (Ingress shop/web)", None), (True, "bad.yaml (Service shop/web)", None),
        (True, "bad.yaml (Deployment shop/web)", "SKIP"), (False, "broken.yaml", None)]
    assert tests[0][4] == [R302, R301]
    assert out.splitlines()[-1] == "# " + SUMMARY


def test_report_writes_extra_formats_in_the_same_run(workdir: Path) -> None:
    code, out, err = check("-f", "text", "--report", "sarif=out.sarif", "--report", "junit=out.xml",
                           "--report", "json=out.json", "--report", "text=out.txt", "bad.yaml", "broken.yaml")
    assert code == 1 and out == SUMMARY + "\n"
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(json.loads((workdir / "out.sarif").read_text()))
    assert ET.parse(workdir / "out.xml").getroot().get("tests") == "4"
    assert json.loads((workdir / "out.json").read_text())["summary"]["invalid"] == 1
    assert (workdir / "out.txt").read_text().splitlines() == [R302, R301, V001, L004, SUMMARY]


def test_report_rejects_a_bad_spec(workdir: Path) -> None:
    code, _, err = check("--report", "yaml=x", "bad.yaml")
    assert code == 2 and "FMT=FILE" in err


def test_color_always_and_never(workdir: Path) -> None:
    _, _, err = check("--color", "always", "bad.yaml")
    assert "\x1b[1;31merror[R302]\x1b[0m" in err
    _, _, err = check("--color", "never", "bad.yaml")
    assert "\x1b[" not in err
    _, _, err = check("--color", "always", "bad.yaml", env={"NO_COLOR": "1"})  # the flag overrides the variable
    assert "\x1b[1;31merror[R302]\x1b[0m" in err
    _, _, err = check("bad.yaml", env={"NO_COLOR": "1"})
    assert "\x1b[" not in err


def run_on_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run ingc with stderr on a pseudo-terminal; returns what it wrote there."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "ingc", *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=slave, env=env, cwd=cwd, timeout=60)
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.returncode == 1
        return b"".join(chunks).decode()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_color_on_a_terminal_but_never_under_no_color(workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "GITHUB_ACTIONS")}
    env["PYTHONPATH"] = str(REPO)
    args = ["check", "--no-config", "bad.yaml"]
    assert "\x1b[1;31merror[R302]\x1b[0m" in run_on_terminal(args, env, workdir)
    plain = run_on_terminal(args, {**env, "NO_COLOR": "1"}, workdir)
    assert "error[R302]" in plain and "\x1b[" not in plain


def test_stdin_filename_names_stdin(workdir: Path) -> None:
    r = CliRunner().invoke(main, ["check", "--no-config", "--stdin-filename", "piped.yaml", "-"], input=BAD)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[0] == R302.replace("bad.yaml", "piped.yaml")
