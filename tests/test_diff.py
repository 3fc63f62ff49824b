"""`ingc diff`: the routing difference, paths and git:REV, formats and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingc.cli import main

BASE = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  rules:
    - host: shop.test
      http:
        paths:
          - {path: /cart, pathType: Prefix, backend: {service: {name: cart, port: {number: 80}}}}
          - {path: /old, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
          - {path: /kind, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {clusterIP: 10.0.0.2, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.0.0.3, ports: [{port: 80}]}
"""

CHANGED = BASE.replace("/old, pathType: Exact", "/new, pathType: Exact") \
    .replace("{name: cart, port", "{name: web, port") \
    .replace("/kind, pathType: Exact", "/kind, pathType: Prefix") \
    .replace("metadata: {name: web, namespace: shop}\nspec:\n",
             "metadata: {name: web, namespace: shop}\nspec:\n  tls: [{hosts: [shop.test]}]\n", 1)


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["diff", *args], catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(BASE)
    b.write_text(CHANGED)
    return a, b


def test_unchanged_exits_0(pair: tuple[Path, Path]) -> None:
    a, _ = pair
    code, out, _ = run(str(a), str(a))
    assert (code, out) == (0, "routing unchanged\n")


def test_changes_json(pair: tuple[Path, Path]) -> None:
    a, b = pair
    code, out, _ = run(str(a), str(b), "-f", "json")
    assert code == 1
    data = json.loads(out)
    assert data["changed"] is True
    routes = {(r["change"], r["path"]): r for r in data["routes"]}
    added = routes[("added", "/new")]
    assert added["locations"] == ['= "/new"'] and added["source"] == f"{b}:11:20"
    assert routes[("removed", "/old")]["source"] == f"{a}:10:20"
    cart = routes[("changed", "/cart")]
    assert sorted(cart["locations"]) == ['"/cart/"', '= "/cart"']  # the twin folded in
    fields = {f["field"]: (f["old"], f["new"]) for f in cart["fields"]}
    assert fields["backend"] == ("shop/cart:80 -> shop-cart-80", "shop/web:80 -> shop-web-80")
    assert fields["tls"] == ("-", "default certificate")
    assert fields["ssl-redirect"][0] == "-" and "308" in fields["ssl-redirect"][1]
    # Exact /kind -> Prefix /kind: "= /kind" stays (now the Prefix's exact twin), "/kind/" is new
    assert routes[("added", "/kind")]["locations"] == ['"/kind/"']
    assert {f["field"] for f in routes[("changed", "/kind")]["fields"]} == {"tls", "ssl-redirect"}
    servers = {s["host"]: s for s in data["servers"]}
    assert servers["shop.test"]["fields"] == [{"field": "tls", "old": "-", "new": "default certificate"}]


def test_text_and_markdown(pair: tuple[Path, Path]) -> None:
    a, b = pair
    code, out, _ = run(str(a), str(b))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("routing changed: ")
    assert any(line.startswith("~ shop.test  \"/cart/\" + = \"/cart\"") or
               line.startswith("~ shop.test  = \"/cart\" + \"/cart/\"") for line in lines)
    assert "      backend: shop/cart:80 -> shop-cart-80  =>  shop/web:80 -> shop-web-80" in lines
    code, md, _ = run(str(a), str(b), "-f", "markdown")
    assert md.startswith("### ingc: routing changed")
    assert "| ~ | shop.test |" in md


def test_error_findings_exit_4(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("/old, pathType: Exact", "/o ld, pathType: Exact"))
    code, _, err = run(str(a), str(bad))
    assert code == 4 and "new: " in err and "error[" in err


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)

    git("init", "-q")
    (root / "deploy" / "shop.yaml").write_text(BASE)
    git("add", ".")
    git("commit", "-qm", "one")
    (root / "deploy" / "shop.yaml").write_text(CHANGED)
    git("commit", "-qam", "two")
    monkeypatch.chdir(root)
    yield root


def test_git_revisions(repo: Path) -> None:
    code, out, _ = run("git:HEAD~1", "git:HEAD", "deploy", "-f", "json")
    assert code == 1
    data = json.loads(out)
    added = next(r for r in data["routes"] if r["change"] == "added")
    assert added["source"] == "HEAD:deploy/shop.yaml:11:20"
    removed = next(r for r in data["routes"] if r["change"] == "removed")
    assert removed["source"] == "HEAD~1:deploy/shop.yaml:10:20"
    # git:REV against the working tree uses the same relative path
    code, out, _ = run("git:HEAD", "deploy")
    assert (code, out) == (0, "routing unchanged\n")
    code, out, _ = run("git:HEAD~1", "deploy/shop.yaml")
    assert code == 1


def test_git_path_missing_at_rev_is_an_empty_side(repo: Path) -> None:
    (repo / "more").mkdir()
    (repo / "more" / "x.yaml").write_text(BASE)
    code, out, _ = run("git:HEAD", "more", "-f", "json")
    assert code == 1
    assert {r["change"] for r in json.loads(out)["routes"]} == {"added"}


def test_git_usage_errors(repo: Path) -> None:
    assert run("git:nope", "deploy")[0] == 2
    assert run("git:", "deploy")[0] == 2
