"""The one place that finds the templates, schemas and data shipped with ingc."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PKG = Path(__file__).resolve().parent


@cache
def _find(checkout_name: str, package: str) -> Path:
    # An installed wheel keeps them inside the package (ingc/_templates, ingc/_schemas).  Checked first,
    # so that an unrelated top-level "templates" directory next to site-packages/ingc is never used.
    installed = _PKG / package.rpartition(".")[2]
    if installed.is_dir():
        return installed
    # A source checkout (editable install, tests) keeps them at the top level.
    candidate = _PKG.parent / checkout_name
    if candidate.is_dir():
        return candidate
    # Anything else (a zip import, an unusual layout): ask the import system.  These are namespace
    # packages (no __init__.py), so importlib.resources would give a MultiplexedPath whose str() is not
    # a path; the spec's search locations are real directories.
    import importlib.util

    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise FileNotFoundError(f"ingc: cannot find its {checkout_name} (package {package}); reinstall ingc")
    return Path(locations[0])


def templates_dir() -> Path:
    return _find("templates", "ingc._templates")


def schemas_dir() -> Path:
    return _find("schemas", "ingc._schemas")


def data_file(name: str) -> Path:
    return _PKG / "data" / name
