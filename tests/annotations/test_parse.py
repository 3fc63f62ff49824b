"""Table-driven parse tests for every annotation handler: valid values are applied, absent keys change nothing,
and every kind of invalid value has its declared outcome (fallback / deny / reject), as ingress-nginx."""

from __future__ import annotations

from typing import Any

import pytest

from ingc.annotations import HANDLERS
from ingc.annotations.base import DENY, FALLBACK, REJECT, Key
from ingc.annotations.catalog import RISK
from tests.annotations._support import PREFIX, Compiled, compile_docs, directives, ing, location, svc, tree
from tests.annotations.cases import ALIASES, DENIED, INVALID, NEEDS, OPTIONS, SETTINGS, VALID

KEYS: dict[str, Key] = {k.name: k for h in HANDLERS for k in h.keys}
SUPPORTED = sorted(k for k, key in KEYS.items() if not key.unsupported)


def key_of(name: str) -> Key:
    return KEYS[ALIASES.get(name, name)]


def build(key: str, value: str, extra: dict[str, str] | None = None) -> Compiled:
    companions, docs = NEEDS.get(key, ({}, []))
    ann = {PREFIX + k: v for k, v in {**companions, **(extra or {}), key: value}.items()}
    return compile_docs([*svc("web"), *docs, ing("t", annotations=ann)], settings=SETTINGS.get(key), verify=False,
                        risk_level=4, **OPTIONS.get(key, {}))


def root(c: Compiled) -> list[dict[str, Any]]:
    assert c.text is not None, c.errors
    t = tree(c.text)
    try:
        return location(t, "a.test", "/")
    except AssertionError:
        return location(t, "a.test", "^/")  # regex host (rewrite-target, use-regex)


def test_every_supported_key_is_in_the_table() -> None:
    missing = [k for k in SUPPORTED if k not in VALID or k not in INVALID]
    assert not missing, f"keys without parse cases: {missing}"


def test_every_key_is_an_ingress_nginx_key() -> None:
    assert sorted(k for k in KEYS if k not in RISK) == []


@pytest.mark.parametrize("key,value", [(k, v) for k in sorted(VALID) for v in VALID[k]])
def test_valid_value_is_applied(key: str, value: str) -> None:
    c = build(key, value)
    assert not c.errors, c.errors
    assert c.status(ALIASES.get(key, key)) == "applied"
    assert not [d for d in c.diags.items if d.code in ("A110", "A111", "A112", "A113")], c.codes
    body = root(c)
    assert directives(body, "return") != [["503"]], "a valid value must not deny the location"


@pytest.mark.parametrize("key,value", [(k, v) for k in sorted(INVALID) for v in INVALID[k]])
def test_invalid_value_has_its_outcome(key: str, value: str) -> None:
    c = build(key, value)
    name = ALIASES.get(key, key)
    outcome = key_of(key).invalid
    if outcome == FALLBACK:
        assert c.status(name) == "defaulted", c.report
        assert "A110" in c.codes
        assert not c.errors, c.errors
        assert directives(root(c), "return") != [["503"]]
    elif outcome == DENY:
        assert c.status(name) == "invalid"
        assert "A112" in c.codes and not c.errors, c.codes
        assert directives(root(c), "return") == [["503"]]
    else:
        assert outcome == REJECT
        assert c.status(name) == "invalid"
        assert "A111" in c.codes and c.errors
        assert c.config is not None
        assert not [s for s in c.config.servers if s.hostname == "a.test"], "a rejected Ingress makes no server"


@pytest.mark.parametrize("key,value", [(k, v) for k in sorted(DENIED) for v in DENIED[k]])
def test_unusable_value_denies(key: str, value: str) -> None:
    c = build(key, value)
    assert not c.errors, c.errors
    assert "A113" in c.codes, c.codes
    assert c.status(key) == "invalid"
    assert directives(root(c), "return") == [["503"]]
    assert not directives(root(c), "proxy_pass")


def test_auth_secret_without_auth_type_denies() -> None:
    c = compile_docs([*svc("web"), ing("t", annotations={PREFIX + "auth-secret": "users"})], verify=False)
    assert "A113" in c.codes
    assert directives(root(c), "return") == [["503"]]


def test_absent_keys_leave_the_default_location() -> None:
    plain = root(build("proxy-read-timeout", "60"))
    assert directives(plain, "proxy_read_timeout") == [["60s"]]
    assert not directives(plain, "auth_basic") and not directives(plain, "auth_request")
    assert not directives(plain, "limit_req") and not directives(plain, "add_header")[1:]


@pytest.mark.parametrize("name", [h.name for h in HANDLERS])
def test_handlers_document_their_keys(name: str) -> None:
    h = next(h for h in HANDLERS if h.name == name)
    for k in h.keys:
        assert k.doc, k.name
        assert k.nginx or k.unsupported, f"{k.name}: no nginx output documented"
        assert k.invalid in (FALLBACK, DENY, REJECT)
