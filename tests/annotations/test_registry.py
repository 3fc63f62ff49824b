"""The registry: every key ingress-nginx registers is known to ingc (handled, unsupported with a reason, or a
removed name), every handler key is documented in README.md and has parse cases and a golden case."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingc.annotations import HANDLERS
from ingc.annotations.catalog import ALIASES, RISK
from ingc.annotations.docs import END, START, generated, update
from tests.annotations.cases import INVALID, VALID

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "README.md"
KEYS = {k.name: (h, k) for h in HANDLERS for k in h.keys}


def test_every_catalog_key_has_a_handler() -> None:
    missing = sorted(set(RISK) - set(KEYS) - set(ALIASES))
    assert missing == [], f"ingress-nginx keys without a handler or an unsupported reason: {missing}"


def test_keys_are_declared_once() -> None:
    names = [k.name for h in HANDLERS for k in h.keys]
    assert len(names) == len(set(names))


def test_docs_page_is_generated_from_the_registry() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert START in text and END in text
    assert update(text) == text, "run: python -m ingc.annotations.docs README.md"
    for name, (_, key) in KEYS.items():
        assert f"`{name}`" in generated()
        if key.unsupported:
            assert key.unsupported in text


@pytest.mark.parametrize("name", sorted(n for n, (_, k) in KEYS.items() if not k.unsupported))
def test_supported_key_has_parse_cases(name: str) -> None:
    assert VALID.get(name), f"{name}: no valid value in tests/annotations/cases.py"
    assert INVALID.get(name), f"{name}: no invalid value in tests/annotations/cases.py"


def test_every_handler_has_a_golden_case() -> None:
    cases = ROOT / "tests" / "cases"
    text = "".join(p.read_text(encoding="utf-8") for p in cases.glob("annotation-*/*.yaml"))
    missing = [h.name for h in HANDLERS if h.name != "unsupported"
               and not any(f"nginx.ingress.kubernetes.io/{k.name}" in text for k in h.keys if not k.unsupported)]
    assert missing == [], f"handlers without a golden case under tests/cases/annotation-*: {missing}"
