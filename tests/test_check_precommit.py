"""The real `pre-commit` runs this checkout's `.pre-commit-hooks.yaml` in a temporary git repository:
a bad Ingress fails the commit (naming its file and line), a fixed one and a non-manifest YAML pass.

The hook repository is a snapshot of this checkout's working tree (tracked and untracked, minus what
.gitignore ignores) committed into a temporary repository, so the test checks the code under test
even before it is committed.  pre-commit installs ingc from it into a fresh virtualenv (pip; needs the
package index the machine is configured with).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

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
"""


def git(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def snapshot(dest: Path, env: dict[str, str]) -> str:
    """Commit this checkout's working tree into a new repository at ``dest``; returns the commit sha."""
    files = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).stdout.split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git("init", "-q", cwd=dest, env=env)
    git("add", "-A", cwd=dest, env=env)
    assert git("commit", "-q", "-m", "snapshot", cwd=dest, env=env).returncode == 0
    return git("rev-parse", "HEAD", cwd=dest, env=env).stdout.strip()


@pytest.mark.slow
def test_pre_commit_hook_fails_a_bad_ingress(tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "PRE_COMMIT_COLOR": "never", "NO_COLOR": "1"}
    env.pop("GIT_INDEX_FILE", None)
    hooks_repo = tmp_path / "hooks"
    hooks_repo.mkdir()
    sha = snapshot(hooks_repo, env)
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work, env=env)
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks_repo}\n    rev: {sha}\n    hooks:\n      - id: ingc-check\n")
    install = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=work, env=env,
                             capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stdout + install.stderr

    (work / "deploy").mkdir()
    (work / "deploy" / "ingress.yaml").write_text(BAD)
    git("add", ".", cwd=work, env=env)
    commit = subprocess.run(["git", "commit", "-m", "add ingress"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=900)
    output = commit.stdout + commit.stderr
    assert commit.returncode != 0, output
    assert "ingc check (changed manifests)" in output and "Failed" in output
    assert ("deploy/ingress.yaml:16:19: error[R302]: service \"web\" has no port 'admin': path '/' answers 503 "
            "(Ingress shop/web)") in output
    assert git("rev-parse", "--verify", "-q", "HEAD", cwd=work, env=env).returncode != 0  # nothing committed

    (work / "deploy" / "ingress.yaml").write_text(BAD.replace("name: admin", "name: http"))
    git("add", ".", cwd=work, env=env)
    commit = subprocess.run(["git", "commit", "-m", "add ingress"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=300)
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert "ingc check (changed manifests)" in commit.stderr and "Passed" in commit.stderr

    # A commit touching only YAML that is no manifest: nothing to check, and --allow-empty lets it pass.
    (work / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n")
    git("add", ".", cwd=work, env=env)
    commit = subprocess.run(["git", "commit", "-m", "compose"], cwd=work, env=env, capture_output=True,
                            text=True, timeout=300)
    assert commit.returncode == 0, commit.stdout + commit.stderr
