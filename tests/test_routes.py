"""`ingc routes`: the routing table read from the IR (CliRunner, exact lines and JSON fields)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingc.cli import main
from ingc.diagnostics import Diagnostics
from ingc.nginxmatch import ranked, select_location
from ingc.options import Options
from ingc.pipeline import compile_sources

MANIFESTS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  tls:
    - hosts: [shop.test]
  rules:
    - host: shop.test
      http:
        paths:
          - path: /cart
            pathType: Prefix
            backend: {service: {name: cart, port: {number: 80}}}
          - path: /
            pathType: Exact
            backend: {service: {name: web, port: {number: 80}}}
    - host: "*.shop.test"
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: missing, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api
  namespace: shop
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  rules:
    - host: api.test
      http:
        paths:
          - path: /v1(/|$)(.*)
            pathType: ImplementationSpecific
            backend: {service: {name: cart, port: {number: 80}}}
          - path: /v1/admin
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
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


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    f = tmp_path / "shop.yaml"
    f.write_text(MANIFESTS)
    return f


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def test_json_rows_carry_match_rank_backend_and_source(manifests: Path) -> None:
    code, out, _ = run("routes", str(manifests), "-f", "json")
    assert code == 0
    rows = json.loads(out)["routes"]
    shop = [r for r in rows if r["host"] == "shop.test"]
    assert [(r["rank"], r["modifier"], r["match"]) for r in shop] == [
        (1, "=", "/cart"), (2, "=", "/"), (3, "", "/cart/"), (4, "", "/")]
    cart = next(r for r in shop if r["match"] == "/cart/")
    assert cart["kind"] == "prefix" and cart["upstream"] == "shop-cart-80"
    assert cart["endpoints"] == ["10.0.0.2:80"] and cart["service"] == "shop/cart:80"
    assert cart["source"] == f"{manifests}:13:19"
    assert cart["tls"] == "default certificate"
    assert any(b.startswith("ssl-redirect: http -> https 308") for b in cart["behaviour"])
    twin = next(r for r in shop if r["match"] == "/cart")
    assert twin["twin_of"] == "/cart" and twin["kind"] == "exact"
    wild = [r for r in rows if r["host"] == "*.shop.test"]
    assert wild[0]["wildcard"] is True and wild[-1]["status"] == 503
    api = [r for r in rows if r["host"] == "api.test"]
    # regexes in file order: the longer path first (ingress-nginx sorts by length, then descending)
    assert [(r["rank"], r["match"]) for r in api] == [(1, "^/v1(/|$)(.*)"), (2, "^/v1/admin"), (3, "^/")]
    assert "rewrite (?i)/v1(/|$)(.*) -> /$2" in api[0]["behaviour"]
    assert any("matched as a regex" in b for b in api[1]["behaviour"])


def test_text_table_groups_by_host(manifests: Path) -> None:
    code, out, _ = run("routes", str(manifests), "--host", "shop.test")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "shop.test  TLS: default certificate"
    assert lines[1].split() == ["RANK", "MATCH", "KIND", "PATH", "BACKEND", "BEHAVIOUR", "SOURCE"]
    assert lines[2].split()[:4] == ["#1", "=", '"/cart"', "exact"]
    assert "*.shop.test" not in out and "api.test" not in out


def test_host_filter_finds_the_wildcard_server_nginx_would_pick(manifests: Path) -> None:
    code, out, _ = run("routes", str(manifests), "--host", "a.shop.test", "-f", "json")
    assert code == 0
    assert {r["host"] for r in json.loads(out)["routes"]} == {"*.shop.test"}
    code, out, _ = run("routes", str(manifests), "--host", "nowhere.test", "-f", "json")
    assert {r["host"] for r in json.loads(out)["routes"]} == {"_"}


def test_markdown_is_one_table(manifests: Path) -> None:
    code, out, _ = run("routes", str(manifests), "-f", "markdown")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "| host | rank | match | kind | path | backend | behaviour | source |"
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert any('`~* "^/v1(/|$)(.*)"`'.replace("|", "\\|") in line for line in lines)


def test_errors_in_manifests_exit_1_and_nothing_read_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x}\nspec:\n  rules:\n"
                   "  - host: a.test\n    http:\n      paths:\n      - path: /a b\n        pathType: Exact\n"
                   "        backend: {service: {name: s, port: {number: 80}}}\n")
    code, out, err = run("routes", str(bad))
    assert code == 1 and "error[V141]" in err
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    code, out, err = run("routes", str(empty))
    assert code == 3


def test_rank_is_nginx_precedence(manifests: Path) -> None:
    """Among the locations matching a URI, nginx serves the lowest rank (property over every URI here)."""
    res = compile_sources([str(manifests)], Options(verify=False), Diagnostics())
    assert res.config is not None
    uris = ["/", "/cart", "/cart/", "/cart/x", "/CART", "/v1", "/V1/admin/x", "/v1/adminx", "/x", "/v1x"]
    for srv in res.config.servers:
        order = ranked(srv.locations)
        for uri in uris:
            choice = select_location(srv.locations, uri)
            if choice.auto_redirect or choice.location is None:
                continue
            matching = [rank for rank, c in zip([r for r, _ in order], choice.candidates, strict=True) if c.matched]
            chosen = next(c.rank for c in choice.candidates if c.chosen)
            assert chosen == min(matching), (srv.hostname, uri)
