"""`ingc check --nginx`: the real `nginx -t` on a private copy of the would-be bundle, its messages mapped
back to the Ingress that produced the offending line (the golden case n200-nginx-rejects covers a
rejection); a clean bundle passes; a missing binary is reported, not fatal; includes are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingc.check import line_origins
from ingc.cli import main

GOOD = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: nginx
  tls:
  - hosts: [shop.example.com]
    secretName: missing-tls
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
  clusterIP: 10.0.0.10
  ports:
  - port: 80
"""


def check(tmp_path: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    (tmp_path / "web.yaml").write_text(GOOD)
    r = CliRunner().invoke(main, ["check", "--no-config", "-f", "json", *args, str(tmp_path / "web.yaml")])
    return r.exit_code, json.loads(r.stdout)


def rules(data: dict) -> list[str]:  # type: ignore[type-arg]
    return [f["rule"] for r in data["resources"] for f in r["findings"]] + [f["rule"] for f in data["findings"]]


def test_nginx_accepts_a_good_bundle(tmp_path: Path, nginx_bin: str) -> None:
    code, data = check(tmp_path, "--nginx", "--nginx-binary", nginx_bin)
    assert code == 0
    assert not {"N200", "N201", "C600"} & set(rules(data))


def test_missing_nginx_binary_is_a_warning(tmp_path: Path) -> None:
    code, data = check(tmp_path, "--nginx", "--nginx-binary", str(tmp_path / "no-such-nginx"))
    assert code == 0
    (finding,) = [f for f in data["findings"] if f["rule"] == "C600"]
    assert finding["severity"] == "warning" and "cannot run" in finding["message"]


def test_line_origins_refuses_includes_and_module_loading(tmp_path: Path) -> None:
    from ingc.ir import NginxConfig

    conf = tmp_path / "nginx.conf"
    cfg = NginxConfig([], [], None)
    conf.write_text("events {}\nhttp {\n    include /etc/nginx/mime.types;\n}\n")
    assert line_origins(str(conf), cfg) is None
    conf.write_text("load_module modules/x.so;\nevents {}\nhttp {\n}\n")
    assert line_origins(str(conf), cfg) is None
    conf.write_text("events {}\nhttp {\n}\n")
    assert line_origins(str(conf), cfg) == []


@pytest.mark.nginx
def test_nginx_messages_map_to_the_ingress_path(tmp_path: Path, nginx_bin: str) -> None:
    (tmp_path / "web.yaml").write_text(GOOD.replace("      - path: /\n        pathType: Prefix",
                                                    "      - path: /a\\u0041\n        pathType: ImplementationSpecific")
                                       .replace("spec:\n  ingressClassName",
                                                "  annotations:\n    nginx.ingress.kubernetes.io/use-regex: \"true\"\n"
                                                "spec:\n  ingressClassName", 1))
    r = CliRunner().invoke(main, ["check", "--no-config", "--nginx", "--nginx-binary", nginx_bin,
                                  str(tmp_path / "web.yaml")])
    assert r.exit_code == 1
    (line,) = [x for x in r.stderr.splitlines() if "[N200]" in x]
    assert line.startswith(f"{tmp_path / 'web.yaml'}:17:15: error[N200]: nginx -t: pcre2_compile() failed")
    assert line.endswith("(Ingress shop/web)") and "nginx.conf line" in line and "ingc-nginx-t" not in line
