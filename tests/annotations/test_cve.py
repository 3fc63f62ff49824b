"""Regression test for the payloads of ingress-nginx's annotation injection CVEs: each one is refused with a clear
error, or rendered inert - the crossplane tree holds exactly the intended directives (no extra location, no
injected ``return``) and, where traffic can show it, real nginx serves the literal value."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.annotations._support import (
    PREFIX,
    Compiled,
    compile_docs,
    configmap,
    directives,
    ing,
    location,
    secret,
    server,
    svc,
    tree,
)
from tests.annotations.cases import CA_CRT
from tests.support.build import backend_service, build_bundle
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

BREAKOUT = '"; } location /pwn { return 200 "pwned"; } #'
NEWLINE = "x\n}\nlocation /pwn { return 200 pwned; }\n#"


def walk(stmts: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for st in stmts:
        yield st
        yield from walk(st.get("block", []))


def assert_no_injection(c: Compiled) -> None:
    assert c.text is not None, c.errors
    t = tree(c.text)
    for st in walk(t):
        assert not (st["directive"] == "location" and st["args"] and "/pwn" in st["args"][-1]), st
        assert not (st["directive"] == "return" and any("pwned" == a for a in st["args"])), st


def build(ann: dict[str, str], docs: list[dict[str, Any]] | None = None, **kw: Any) -> Compiled:
    return compile_docs([*svc("web"), *(docs or []), ing("evil", annotations={PREFIX + k: v for k, v in ann.items()})],
                        **kw)


REFUSED = [
    pytest.param({"configuration-snippet": "content_by_lua_block { ngx.say(io.open('/var/run/secrets/x'):read()) }"},
                 {}, "A104", id="CVE-2021-25742 snippet, not allowed"),
    pytest.param({"configuration-snippet": "alias /var/run/secrets/;"},
                 {"allow_snippet_annotations": True, "risk_level": 4}, "A115", id="CVE-2021-25742 snippet, allowed"),
    pytest.param({"server-snippet": "} server { listen 1; location /pwn { return 200 pwned; } #"},
                 {"allow_snippet_annotations": True, "risk_level": 4}, "A115", id="snippet breaking out"),
    pytest.param({"permanent-redirect": "https://x.example/;}location ~* ^/(.*) {return 200 pwned;}#"}, {}, "A111",
                 id="CVE-2023-5044 permanent-redirect"),
    pytest.param({"permanent-redirect": NEWLINE}, {}, "A111", id="permanent-redirect newline"),
    pytest.param({"auth-url": "http://x.example/#;\n}\nlocation /pwn { return 200 pwned; }"}, {}, "A111",
                 id="CVE-2025-24514 auth-url"),
    pytest.param({"auth-url": 'http://x.example/";return 200 pwned;#'}, {}, "A111", id="auth-url quote"),
    pytest.param({"auth-tls-secret": "ca", "auth-tls-match-cn": "CN=abc #(\n){ }}}; return 200 pwned; #"}, {},
                 "A111", id="CVE-2025-1097 auth-tls-match-cn newline"),
    pytest.param({"rewrite-target": "/x;return 200 pwned;#"}, {}, "A110", id="rewrite-target"),
    pytest.param({"auth-method": "GET;return 200 pwned"}, {}, "A112", id="CVE-2026-1580 auth-method"),
]


@pytest.mark.parametrize("ann,opts,code", REFUSED)
def test_payload_refused(ann: dict[str, str], opts: dict[str, Any], code: str) -> None:
    c = build(ann, [secret("ca", {"ca.crt": CA_CRT})], **opts)
    assert code in c.codes, c.codes
    assert_no_injection(c) if c.text is not None else None


def test_match_cn_quote_is_inert() -> None:
    payload = 'CN=a") { return 200 "pwned"; } if ($host ~ "x'
    c = build({"auth-tls-secret": "ca", "auth-tls-match-cn": payload}, [secret("ca", {"ca.crt": CA_CRT})])
    if "A111" in c.codes:
        return  # refused is fine too
    assert_no_injection(c)
    ifs = [s for s in server(tree(c.text or ""), "a.test") if s["directive"] == "if"]
    assert len(ifs) == 1 and [d["directive"] for d in ifs[0]["block"]] == ["return"]


def test_mirror_target_and_host_are_inert() -> None:
    c = build({"mirror-target": "http://10.0.0.7/${request_uri}", "mirror-host": "a{b}c"})
    assert_no_injection(c)
    loc = location(c.tree(), "a.test", next(m for m in [f"/_mirror-{h}" for h in _mirror_ids(c)]))
    assert directives(loc, "proxy_set_header") == [["Host", "a{b}c"]]
    refused = build({"mirror-target": "http://10.0.0.7/;}location /pwn {return 200 pwned;}#"})
    assert "A110" in refused.codes  # ingress-nginx falls back: no mirror at all
    assert_no_injection(refused)
    assert "mirror" not in (refused.text or "")


def _mirror_ids(c: Compiled) -> list[str]:
    assert c.config is not None
    return [lo.match.removeprefix("/_mirror-") for s in c.config.servers for lo in s.locations
            if lo.match.startswith("/_mirror-")]


def test_auth_proxy_set_headers_value_is_inert() -> None:
    c = build({"auth-url": "http://127.0.0.1:9/auth", "auth-proxy-set-headers": "h"},
              [configmap("h", {"X-Evil": BREAKOUT})])
    assert_no_injection(c)
    auth = next(s for s in server(c.tree(), "a.test") if s["directive"] == "location" and "_external-auth" in
                s["args"][-1])
    assert ["X-Evil", BREAKOUT] in directives(auth["block"], "proxy_set_header")


def test_header_name_with_breakout_denies() -> None:
    c = build({"auth-url": "http://127.0.0.1:9/auth", "auth-proxy-set-headers": "h"},
              [configmap("h", {"X-A; return 200 pwned": "x"})])
    assert "A113" in c.codes
    assert_no_injection(c)


def test_path_injection_on_a_regex_host_is_inert() -> None:
    docs = [*svc("web"), ing("evil", paths=((r'/x" { return 200 "pwned"; } location "/y', "web"),),
                             annotations={PREFIX + "use-regex": "true"})]
    docs[-1]["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "ImplementationSpecific"
    c = compile_docs(docs)
    if c.text is not None:
        assert_no_injection(c)


@pytest.fixture(scope="module")
def literal_env(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str) -> Iterator[tuple[int, EchoBackend]]:
    web = start_echo("web")
    runner: NginxRunner | None = None
    try:
        http, https = free_ports(2)
        docs = [*backend_service("web", web), configmap("h", {"X-Evil": BREAKOUT, "X-Var": "$http_authorization"}),
                ing("lit", host="lit.test", paths=(("/x", "web"),), annotations={PREFIX + "custom-headers": "h",
                                                         PREFIX + "x-forwarded-prefix": "/$1$host",
                                                         PREFIX + "rewrite-target": "/"})]
        res = build_bundle(tmp_path_factory.mktemp("cve") / "b", docs, http_port=http, https_port=https,
                           settings={"global-allowed-response-headers": "X-Evil,X-Var"})
        runner = NginxRunner(res.bundle, binary=nginx_bin, port=http)
        runner.assert_config_ok()
        runner.start()
        yield http, web
    finally:
        if runner is not None:
            runner.stop()
        web.stop()


@pytest.mark.nginx
def test_nginx_serves_the_literal_values(literal_env: tuple[int, EchoBackend]) -> None:
    port, _ = literal_env
    r = request(port, "/x", host="lit.test", headers={"Authorization": "Bearer SECRET"})
    assert r.status == 200
    assert r.headers["X-Evil"] == BREAKOUT
    assert r.headers["X-Var"] == "$http_authorization"  # not interpolated: no leak of the request's secret
    assert r.json()["headers"]["x-forwarded-prefix"] == "/$1$host"
    assert r.json()["uri"] == "/"
    assert request(port, "/pwn", host="lit.test").status == 404  # no injected location answers


def test_no_user_data_in_comments() -> None:
    """CVE-2026-4342: ingc writes no comment but its own first line, so no value can break out of one."""
    from pathlib import Path

    cases = Path(__file__).resolve().parents[1] / "cases"
    for conf in sorted(cases.glob("annotation-*/expected.conf")):
        comments = [ln for ln in conf.read_text().splitlines() if ln.lstrip().startswith("#")]
        assert comments == [comments[0]] and comments[0].startswith("# Generated by ingc"), conf
