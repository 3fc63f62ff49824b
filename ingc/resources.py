"""The one place that finds the templates, schemas and data shipped with ingc."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def _find(checkout_name: str, package: str) -> Path:
    # A source checkout (editable install, tests) keeps them at the top level.
    candidate = _PKG.parent / checkout_name
    if candidate.is_dir():
        return candidate
    import importlib.resources

    return Path(str(importlib.resources.files(package)))


def templates_dir() -> Path:
    return _find("templates", "ingc._templates")


def schemas_dir() -> Path:
    return _find("schemas", "ingc._schemas")


def data_file(name: str) -> Path:
    return _PKG / "data" / name
