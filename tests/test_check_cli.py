"""`ingc check` behaviour: every row of the exit-code table, --strict / --require-references / --fail-on,
`.ingc.yaml` (search, options, disable, severity, per-path overrides), `ingc.dev/ignore` suppression,
Helm `# Source:` mapping, `ingc rules` and `ingc completion`."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from ingc.cli import main

REPO = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = json.loads((REPO / "tests/data/sarif-schema-2.1.0.json").read_text())


def ingress(backend: str = "web", port: str = "number: 80", annotations: str = "") -> str:
    ann = f"  annotations:\n{annotations}" if annotations else ""
    return f"""\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
{ann}spec:
  ingressClassName: nginx
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: {backend}
            port:
              {port}
"""


SERVICE = """\
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
"""
GOOD = ingress() + "---\n" + SERVICE
WARN_ONLY = ingress(backend="elsewhere")  # R301: the Service is not among the checked files
ERROR = ingress(port="name: admin") + "---\n" + SERVICE  # R302: the Service has no port "admin"
DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in {"good.yaml": GOOD, "warn.yaml": WARN_ONLY, "error.yaml": ERROR, "deploy.yaml": DEPLOYMENT,
                       "compose.yaml": "services:\n  web:\n    image: nginx\n",
                       "broken.yaml": "kind: [unclosed\n"}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    for var in ("GITHUB_ACTIONS", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def check(*args: str, input: str | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["check", *args], input=input)
    return r.exit_code, r.stdout, r.stderr


# --- exit codes ----------------------------------------------------------------------------------

EXIT_ROWS = [
    pytest.param(["good.yaml"], 0, id="0-clean"),
    pytest.param(["warn.yaml"], 0, id="0-warnings-allowed"),
    pytest.param(["error.yaml"], 1, id="1-error-finding"),
    pytest.param(["--fail-on", "warning", "warn.yaml"], 1, id="1-fail-on-warning"),
    pytest.param(["--fail-on", "warning", "good.yaml"], 0, id="0-fail-on-warning-clean"),
    pytest.param(["--strict", "warn.yaml"], 1, id="1-strict"),
    pytest.param(["--require-references", "warn.yaml"], 1, id="1-require-references"),
    pytest.param(["broken.yaml"], 1, id="1-malformed"),
    pytest.param(["--allow-empty", "broken.yaml"], 1, id="1-malformed-never-0-even-allow-empty"),
    pytest.param(["--bogus", "good.yaml"], 2, id="2-unknown-option"),
    pytest.param(["-f", "xml", "good.yaml"], 2, id="2-unknown-format"),
    pytest.param(["--kubernetes-version", "latest", "good.yaml"], 2, id="2-bad-kubernetes-version"),
    pytest.param(["--config", "missing.yaml", "good.yaml"], 2, id="2-config-not-found"),
    pytest.param(["empty"], 3, id="3-empty-directory"),
    pytest.param(["deploy.yaml"], 3, id="3-no-kind-ingc-reads"),
    pytest.param(["compose.yaml"], 3, id="3-not-a-manifest"),
    pytest.param(["missing.yaml"], 3, id="3-unreadable"),
    pytest.param(["--allow-empty", "missing.yaml"], 3, id="3-unreadable-never-0"),
    pytest.param(["--allow-empty", "empty"], 0, id="0-allow-empty-directory"),
    pytest.param(["--allow-empty", "deploy.yaml", "compose.yaml"], 0, id="0-allow-empty-no-manifest"),
    pytest.param(["--allow-empty", "good.yaml", "compose.yaml"], 0, id="0-allow-empty-with-manifests"),
]


@pytest.mark.parametrize(("args", "code"), EXIT_ROWS)
def test_exit_code(tree: Path, args: list[str], code: int) -> None:
    got, out, err = check("--no-config", *args)
    assert got == code, out + err


def test_nothing_to_check_says_so(tree: Path) -> None:
    code, out, err = check("--no-config", "deploy.yaml")
    assert code == 3
    assert out == "Summary: 1 resource found in 1 file - Valid: 0, Invalid: 0, Errors: 0, Skipped: 1\n"
    assert err.splitlines()[-1] == ("ingc: nothing to check: no Kubernetes manifest of a kind ingc reads was found "
                                    "(--allow-empty makes this exit 0)")


def test_strict_turns_warnings_into_errors(tree: Path) -> None:
    code, out, err = check("--no-config", "--strict", "warn.yaml")
    assert err.startswith("warn.yaml:16:19: error[R301]")
    assert "Invalid: 1" in out


def test_exit_3_when_stdin_is_a_terminal(tree: Path) -> None:
    master, slave = pty.openpty()
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.run([sys.executable, "-m", "ingc", "check", "--no-config"], stdin=slave,
                              capture_output=True, text=True, timeout=60, env=env, cwd=tree)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 3
    assert "stdin is a terminal" in proc.stderr


def test_exit_70_on_an_internal_error(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingc.check

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ingc.check, "run_check", boom)
    code, _, err = check("--no-config", "good.yaml")
    assert code == 70
    assert err.strip().startswith("ingc: internal error: RuntimeError: boom")


def test_fail_on_warning_keeps_statuses(tree: Path) -> None:
    code, out, _ = check("--no-config", "--fail-on", "warning", "-f", "json", "warn.yaml")
    assert code == 1
    assert json.loads(out)["resources"][0]["status"] == "statusValid"


# --- .ingc.yaml ----------------------------------------------------------------------------------

def test_config_is_found_upward_and_supplies_options(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tree / ".ingc.yaml").write_text("options:\n  strict: true\n")
    sub = tree / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    assert check("../../warn.yaml")[0] == 1
    assert check("--no-config", "../../warn.yaml")[0] == 0


def test_config_disable_severity_and_overrides(tree: Path) -> None:
    (tree / "legacy").mkdir()
    (tree / "legacy" / "old.yaml").write_text(WARN_ONLY.replace("name: web\n", "name: old\n", 1)
                                              .replace("shop.example.com", "old.example.com"))
    (tree / "cfg.yaml").write_text(
        "severity:\n  R301: error\n"
        "overrides:\n  - files: ['legacy/**']\n    disable: [R301]\n")
    code, out, err = check("--config", "cfg.yaml", "warn.yaml", "legacy")
    assert code == 1
    assert [line.split(": ")[1] for line in err.splitlines()] == ["error[R301]"]
    assert err.startswith("warn.yaml:16:19:")
    (tree / "cfg.yaml").write_text("disable: [R301]\n")
    code, out, err = check("--config", "cfg.yaml", "warn.yaml", "legacy")
    assert (code, err) == (0, "")


def test_config_options_use_the_long_option_names(tree: Path) -> None:
    (tree / "cfg.yaml").write_text("options:\n  require-references: true\n  format: json\n")
    code, out, _ = check("--config", "cfg.yaml", "warn.yaml")
    assert code == 1 and json.loads(out)["summary"]["invalid"] == 1


@pytest.mark.parametrize("text", ["options:\n  no-such-option: 1\n", "rules: []\n", "disable: [not-a-code]\n",
                                  "severity:\n  R301: fatal\n", "overrides:\n  - disable: [R301]\n", "[1, 2\n"],
                         ids=["unknown-option", "unknown-key", "bad-code", "bad-level", "override-no-files",
                              "malformed"])
def test_a_bad_config_is_a_usage_error(tree: Path, text: str) -> None:
    (tree / ".ingc.yaml").write_text(text)
    code, _, err = check("good.yaml")
    assert code == 2
    assert ".ingc.yaml" in err


# --- suppression ---------------------------------------------------------------------------------

IGNORED = ingress(port="name: admin", annotations="    ingc.dev/ignore: R302\n") + "---\n" + SERVICE


def test_ignore_annotation_suppresses_and_reports_suppressed(tree: Path) -> None:
    (tree / "ignored.yaml").write_text(IGNORED)
    code, out, err = check("--no-config", "ignored.yaml")
    assert (code, err) == (0, "")
    data = json.loads(check("--no-config", "-f", "json", "ignored.yaml")[1])
    assert data["summary"]["suppressed"] == 1 and data["summary"]["invalid"] == 0
    finding = data["resources"][0]["findings"][0]
    assert (finding["rule"], finding["suppressed"]) == ("R302", True)
    log = json.loads(check("--no-config", "-f", "sarif", "ignored.yaml")[1])
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "R302" and result["suppressions"][0]["kind"] == "inSource"


def test_ignore_annotation_only_covers_its_codes(tree: Path) -> None:
    (tree / "ignored.yaml").write_text(IGNORED.replace("ingc.dev/ignore: R302", "ingc.dev/ignore: R301"))
    assert check("--no-config", "ignored.yaml")[0] == 1


# --- Helm ----------------------------------------------------------------------------------------

HELM = """\
---
# Source: shop/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: shop-web
  namespace: shop
  labels:
    app.kubernetes.io/managed-by: Helm
spec:
  type: ClusterIP
  clusterIP: 10.0.0.10
  ports:
    - port: 80
      targetPort: http
      protocol: TCP
      name: http
---
# Source: shop/templates/ingress.yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop-web
  namespace: shop
  labels:
    app.kubernetes.io/managed-by: Helm
spec:
  ingressClassName: nginx
  rules:
    - host: "shop.example.com"
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: shop-web
                port:
                  name: https
"""


def test_helm_source_mapping_names_both_places(tree: Path) -> None:
    code, _, err = check("--no-config", "--stdin-filename", "rendered.yaml", "-", input=HELM)
    assert code == 1
    assert err.splitlines() == [
        "rendered.yaml:37:23: error[R302]: service \"shop-web\" has no port 'https': path '/' answers 503 "
        "(Ingress shop/shop-web) [from shop/templates/ingress.yaml:18]"]
    data = json.loads(check("--no-config", "-f", "json", "--stdin-filename", "rendered.yaml", "-", input=HELM)[1])
    finding = data["resources"][1]["findings"][0]
    assert (finding["file"], finding["line"], finding["template"]) == \
        ("rendered.yaml", 37, {"file": "shop/templates/ingress.yaml", "line": 18})
    log = json.loads(check("--no-config", "-f", "sarif", "--stdin-filename", "rendered.yaml", "-", input=HELM)[1])
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    related = log["runs"][0]["results"][0]["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"]["uri"] == "shop/templates/ingress.yaml"
    assert related["region"]["startLine"] == 18


# --- rules and completion ------------------------------------------------------------------------

def test_rules_text_and_json() -> None:
    r = CliRunner().invoke(main, ["rules"])
    assert r.exit_code == 0
    assert "C301  error    the same host and path route to different backends: the oldest Ingress wins" in \
        r.stdout.splitlines()
    r = CliRunner().invoke(main, ["rules", "-f", "json", "R30"])
    rules = json.loads(r.stdout)["rules"]
    assert rules[0] == {"code": "R301", "severity": "warning", "group": "resolve",
                        "doc": "backend Service not found: the location answers 503"}
    assert all(rule["code"].startswith("R30") for rule in rules)


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o nosort -F _ingc_completion ingc"),
                                               ("zsh", "compdef _ingc_completion ingc"),
                                               ("fish", "complete --no-files --command ingc")])
def test_completion_scripts(shell: str, marker: str) -> None:
    r = CliRunner().invoke(main, ["completion", shell])
    assert r.exit_code == 0 and marker in r.stdout


def test_completion_completes_check_options() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "_INGC_COMPLETE": "bash_complete", "COMP_WORDS": "ingc check --str",
           "COMP_CWORD": "2"}
    proc = subprocess.run([sys.executable, "-c", "from ingc.cli import main; main(prog_name='ingc')"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert "plain,--strict" in proc.stdout.splitlines()
