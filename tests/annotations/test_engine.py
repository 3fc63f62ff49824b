"""The engine's classification of every key: unknown, removed, legacy or foreign prefix, risk level, snippets,
empty values, aliases, and the custom annotation prefix."""

from __future__ import annotations

import pytest

from tests.annotations._support import PREFIX, Compiled, compile_docs, directives, ing, svc


def build(ann: dict[str, str], **opts: object) -> Compiled:
    return compile_docs([*svc("web"), ing("t", annotations=ann)], verify=False, **opts)  # type: ignore[arg-type]


@pytest.mark.parametrize("ann,code,status", [
    ({PREFIX + "proxy-read-timout": "5"}, "A100", "unsupported"),
    ({PREFIX + "secure-backends": "true"}, "A101", "unsupported"),
    ({"ingress.kubernetes.io/rewrite-target": "/"}, "A106", "ignored"),
    ({"nginx.org/rewrites": "x"}, "A107", None),
    ({PREFIX + "proxy-body-size": ""}, "A110", "defaulted"),
])
def test_classification(ann: dict[str, str], code: str, status: str | None) -> None:
    c = build(ann)
    assert code in c.codes, c.codes
    assert not c.errors
    if status:
        assert c.report[0].status == status


def test_unknown_key_suggests_the_closest() -> None:
    c = build({PREFIX + "proxy-read-timout": "5"})
    msg = next(d.message for d in c.diags.items if d.code == "A100")
    assert "did you mean 'proxy-read-timeout'" in msg


def test_risk_level_refuses_the_ingress() -> None:
    c = build({PREFIX + "auth-url": "http://127.0.0.1:9/auth"}, risk_level=2)
    assert "A105" in c.codes and c.errors
    assert c.report[0].status == "refused"
    assert "A105" not in build({PREFIX + "auth-url": "http://127.0.0.1:9/auth"}).codes


def test_alias_is_risk_checked_and_applied() -> None:
    c = build({PREFIX + "whitelist-source-range": "10.0.0.0/8"}, risk_level=1)
    assert "A105" in c.codes
    ok = build({PREFIX + "whitelist-source-range": "10.0.0.0/8"})
    assert directives(ok.location("a.test", "/"), "allow") == [["10.0.0.0/8"]]


def test_custom_prefix() -> None:
    c = build({"example.com/proxy-body-size": "2m", PREFIX + "proxy-read-timeout": "9"},
              annotations_prefix="example.com")
    loc = c.location("a.test", "/")
    assert directives(loc, "client_max_body_size") == [["2m"]]
    assert directives(loc, "proxy_read_timeout") == [["60s"]]  # the default prefix is not read


def test_restrictive_unknown_to_ingc_denies_not_rejects() -> None:
    c = build({PREFIX + "enable-owasp-core-rules": "true"})
    assert "A103" in c.codes and not c.errors
    assert directives(c.location("a.test", "/"), "return") == [["503"]]
