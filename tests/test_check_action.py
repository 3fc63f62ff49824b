"""action.yml (composite GitHub Action): its shape, and its check step run for real with bash."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((REPO / "action.yml").read_text())

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
            name: missing
            port:
              number: 80
"""


def test_action_is_a_composite_that_never_interpolates_inputs_into_scripts() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) >= {"paths", "args", "sarif-file"}
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], step["name"]  # inputs reach scripts through env only


def test_check_step_annotates_and_writes_sarif(tmp_path: Path) -> None:
    step = next(s for s in ACTION["runs"]["steps"] if s.get("id") == "check")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "ingc"
    shim.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m ingc \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "web.yaml").write_text(BAD)
    out_file = tmp_path / "github_output"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "GITHUB_ACTIONS": "true",
           "GITHUB_OUTPUT": str(out_file), "INGC_PATHS": "deploy", "INGC_ARGS": "--strict --no-config",
           "INGC_SARIF": "ingc.sarif"}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "::error file=deploy/web.yaml,line=16,col=19,title=R301::service \"missing\" not found in namespace "
        "\"shop\": path '/' answers 503 (Ingress shop/web)"]
    schema = json.loads((REPO / "tests/data/sarif-schema-2.1.0.json").read_text())
    log = json.loads((tmp_path / "ingc.sarif").read_text())
    jsonschema.Draft4Validator(schema).validate(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["R301"]
    assert out_file.read_text() == "sarif-file=ingc.sarif\n"
