"""The nginx.conf ingc wrote, as crossplane sees it: shapes to compare, arguments to search."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import crossplane

# Directives whose argument count legitimately follows a value (a list of protocols, of conditions...).
VARIADIC = {"ssl_protocols", "proxy_next_upstream", "server_name", "proxy_cookie_domain", "proxy_cookie_path",
            "resolver", "proxy_redirect", "listen"}

# Directives ingc must never write from input (IngressNightmare: they run code or read files at load time).
FORBIDDEN = {"load_module", "ssl_engine", "include", "perl", "perl_modules", "perl_require", "js_import",
             "js_include", "js_path", "env", "lua_package_path", "lua_package_cpath", "alias", "root"}
FORBIDDEN_SUBSTRINGS = ("_by_lua", "_by_js")

Shape = tuple[Any, ...]


def parse(text: str) -> dict[str, Any]:
    """crossplane's payload for one config text (single file, comments dropped)."""
    fd, path = tempfile.mkstemp(prefix="ingc-sec-", suffix=".conf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        payload: dict[str, Any] = crossplane.parse(path, single=True, comments=False)
    finally:
        os.unlink(path)
    return payload


def parsed(text: str) -> list[dict[str, Any]]:
    payload = parse(text)
    assert payload["status"] == "ok", payload["errors"]
    stmts: list[dict[str, Any]] = payload["config"][0]["parsed"]
    return stmts


# Blocks whose entries are data (a map's keys), not directives: crossplane reports each key as a directive.
DATA_BLOCKS = {"map", "geo", "split_clients", "types", "charset_map"}


def shape(stmts: list[dict[str, Any]], data: bool = False) -> Shape:
    """Directive names, nesting and (for fixed-arity directives) argument counts, in order.

    Entries of map-like blocks count by number and argument count, not by their key (a map key may carry a
    user value, e.g. a cookie name in a regex).
    """
    out: list[Any] = []
    for st in stmts:
        name = "<entry>" if data else st["directive"]
        n = None if name in VARIADIC else len(st["args"])
        if "block" in st:
            out.append((name, n, shape(st["block"], data=st["directive"] in DATA_BLOCKS)))
        else:
            out.append((name, n))
    return tuple(out)


def shape_of(text: str) -> Shape:
    return shape(parsed(text))


def walk(stmts: list[dict[str, Any]], ctx: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    for st in stmts:
        yield ctx, st
        if "block" in st:
            yield from walk(st["block"], (*ctx, st["directive"]))


def unescape(arg: str) -> str:
    """An argument as nginx reads it: crossplane keeps ``\\\\`` but drops the backslash of ``\\"``."""
    out: list[str] = []
    i = 0
    while i < len(arg):
        c = arg[i]
        if c == "\\" and i + 1 < len(arg) and arg[i + 1] in "\\\"'":
            out.append(arg[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def directives(text: str) -> set[str]:
    return {st["directive"] for _, st in walk(parsed(text))}


def forbidden_in(text: str) -> set[str]:
    return {d for d in directives(text) if d in FORBIDDEN or any(s in d for s in FORBIDDEN_SUBSTRINGS)}


def all_args(text: str) -> list[str]:
    return [unescape(a) for _, st in walk(parsed(text)) for a in st["args"]]


def literal_forms(value: str) -> set[str]:
    """How a literal value may appear as one argument: as is, or with ``$`` -> ``${literal_dollar}``."""
    return {value, value.replace("$", "${literal_dollar}")}


def find(stmts: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    """Statements at the path ``names`` (e.g. ``find(p, "http", "server", "location")``)."""
    level = stmts
    found: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        found = [st for st in level if st["directive"] == name]
        if i < len(names) - 1:
            level = [c for st in found for c in st.get("block", [])]
    return found
