"""Mutation fuzzing of valid manifests: the "no traceback" property of issue 6.

``fuzz_input()`` is a hypothesis strategy of (input bytes, CLI arguments, via stdin?) made by mutating a
valid manifest set: wrong types at any position, deleted and unknown keys, truncation, binary bytes,
invalid UTF-8, deep nesting, huge numbers, duplicate keys, YAML tags/anchors/merge keys, JSON, BOM, CRLF.

``run_one()`` runs ``ingc build`` in-process (click entry, ``catch_exceptions=False``) and checks the
outcome: exit code 0, 1, 2 or 3, no traceback or "internal error", and every error finding positioned.
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.security.corpus import ATOMS
from tests.security.fields import certificate
from tests.security.manifests import (
    PREFIX,
    base_docs,
    configmap,
    emit,
    ingress,
    run_cli,
    service,
    tls_secret,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXIT_OK = {0, 1, 2, 3}
POSITIONED = re.compile(r"^(?:\S.*?):(\d+):(\d+): error\[", re.M)
ERROR_LINE = re.compile(r"^(.*?)error\[([A-Z]\d{3})\]", re.M)
# Findings about a whole file, the command line or the output (no document to point into).
FILE_LEVEL = {"L001", "L002", "L003", "L004", "L010", "B101", "S103", "S104", "R345", "R346"}


def seeds() -> list[list[dict[str, Any]]]:
    """Valid manifest sets to mutate: built here, plus every golden case's input."""
    cert, key = certificate()
    legacy = ingress()
    legacy["apiVersion"] = "extensions/v1beta1"
    legacy["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {"serviceName": "api", "servicePort": 80}
    endpoints_v1 = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "api", "namespace": "shop"},
                    "subsets": [{"addresses": [{"ip": "10.0.0.7"}], "ports": [{"port": 8080}]}]}
    klass = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"},
             "spec": {"controller": "k8s.io/ingress-nginx"}}
    out: list[list[dict[str, Any]]] = [
        base_docs(),
        [*base_docs(tls_secret="tls"), tls_secret("tls", "shop", cert, key)],
        base_docs(annotations={PREFIX + "rewrite-target": "/$1", PREFIX + "use-regex": "true"}, path="/a(/|$)(.*)",
                  path_type="ImplementationSpecific"),
        [legacy, service(), endpoints_v1, klass],
        [*base_docs(), configmap({"proxy-body-size": "8m", "ssl-redirect": "false"})],
        [{"apiVersion": "v1", "kind": "List", "items": base_docs()}],
    ]
    for f in sorted(glob.glob(os.path.join(REPO, "tests", "cases", "*", "*.y*ml"))):
        try:
            with open(f, encoding="utf-8") as fh:
                docs = [d for d in yaml.safe_load_all(fh) if isinstance(d, dict)]
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if docs:
            out.append(docs)
    return out


# --------------------------------------------------------------------------- data-level mutations


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _deep(depth: int, leaf: Any = "x") -> Any:
    v: Any = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


wrong_value = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([10**30, -(10**30), 2**63, -(2**63) - 1, 10**400]),
    st.floats(), st.sampled_from([float("inf"), float("-inf"), float("nan")]),
    st.text(max_size=30), st.sampled_from(ATOMS), st.binary(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(40, 90).map(_deep), st.just({}), st.just([]), st.just(""),
)


@dataclass
class Mutation:
    name: str
    apply: Callable[[list[Any]], list[Any]]


def data_mutations(draw: Any, docs: list[Any]) -> list[Any]:
    docs = copy.deepcopy(docs)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(docs) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _get(docs, path[:-1])
        op = draw(st.sampled_from(["set", "set", "set", "delete", "add", "dup"]))
        if op == "set":
            parent[path[-1]] = draw(wrong_value)
        elif op == "delete":
            if isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent.pop(path[-1])
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.text(max_size=10), st.sampled_from(["apiVersion", "kind", "metadata", "spec",
                                                                          "status", "<<"])))] = draw(wrong_value)
        elif op == "dup" and isinstance(parent, list) and parent:
            parent.append(copy.deepcopy(parent[-1]))
    return docs


def _dump(docs: list[Any], draw: Any) -> bytes:
    style = draw(st.sampled_from(["ingc", "block", "flow", "json", "json-lines"]))
    if style == "ingc":
        return emit(docs)[0].encode("utf-8", "surrogatepass")
    if style in ("block", "flow"):
        return yaml.safe_dump_all(_yamlable(docs), default_flow_style=(style == "flow"), allow_unicode=True).encode(
            "utf-8", "surrogatepass")
    if style == "json":
        return json.dumps(docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs},
                          default=repr).encode()
    return "\n---\n".join(json.dumps(d, default=repr) for d in docs).encode()


def _yamlable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {(_yamlable(k) if isinstance(k, str | int | float | bool) or k is None else repr(k)): _yamlable(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_yamlable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj  # !!binary
    return obj


# --------------------------------------------------------------------------- text-level mutations

YAML_SNIPPETS = [
    b"!!python/object/apply:os.system ['echo pwned']", b"!!python/name:os.system", b"!!binary aGVsbG8=",
    b"!!set {a, b}", b"!!omap [a: 1]", b"!!timestamp 2001-12-14", b"!foo bar", b"&a x", b"*a", b"*undefined",
    b"<<: *a", b"<<: [*a, *a]", b"? [a, b]\n: c", b"%YAML 1.1\n---", b"%TAG ! tag:example.com,2000:\n---",
    b"---", b"...", b"\xef\xbb\xbf", b"\t", b"\r\n", b"{{ .Values.x }}", b"[" * 200, b"- " * 200,
    b"a: &x [*x]", b"@", b"`", b"%", b"|\n  x", b">-\n  x", b"'unterminated", b'"unterminated',
    b"1e999", b"0x" + b"f" * 60, b".nan", b"-.inf", b"0o777", b"2001-12-14t21:59:43.10-05:00",
]
RAW_BYTES = st.one_of(st.binary(min_size=1, max_size=16),
                      st.sampled_from([b"\xff", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80",
                                       b"\xc0\xaf", b"\x1b[31m", b"\x7f", b"\xe2\x80\xa8"]))


def text_mutations(draw: Any, raw: bytes) -> bytes:
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["truncate", "insert", "dupline", "replace-line", "snippet", "crlf", "bom",
                                   "indent"]))
        pos = draw(st.integers(0, len(raw)))
        lines = raw.split(b"\n")
        if op == "truncate":
            raw = raw[:pos]
        elif op == "insert":
            raw = raw[:pos] + draw(RAW_BYTES) + raw[pos:]
        elif op == "dupline" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            raw = b"\n".join(lines[: i + 1] + [lines[i]] + lines[i + 1:])
        elif op == "replace-line" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = indent + draw(st.sampled_from(YAML_SNIPPETS + [b"key: value", b"- item", b"x:"]))
            raw = b"\n".join(lines)
        elif op == "snippet":
            raw = raw[:pos] + draw(st.sampled_from(YAML_SNIPPETS)) + raw[pos:]
        elif op == "crlf":
            raw = raw.replace(b"\n", b"\r\n")
        elif op == "bom":
            raw = b"\xef\xbb\xbf" + raw
        elif op == "indent" and lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = b" " * draw(st.integers(0, 9)) + lines[i].lstrip()
            raw = b"\n".join(lines)
    return raw


@st.composite
def fuzz_input(draw: Any, seed_sets: list[list[dict[str, Any]]] | None = None) -> tuple[bytes, list[str], bool]:
    """(input bytes, extra CLI args, read from stdin?)"""
    docs = draw(st.sampled_from(seed_sets or seeds()))
    if draw(st.booleans()):
        docs = data_mutations(draw, docs)
    raw = _dump(docs, draw)
    raw = text_mutations(draw, raw)
    args = draw(st.sampled_from([[], ["-f", "json"], ["-f", "sarif"], ["-f", "github"], ["--no-verify"],
                                 ["--annotations-risk-level", "Critical"], ["--allow-snippet-annotations"],
                                 ["--configmap", "ingress-nginx/ingress-nginx-controller"], ["--max-depth", "8"],
                                 ["--max-file-size", "200"], ["--annotation-report"]]))
    return raw, args, draw(st.booleans())


# --------------------------------------------------------------------------- running one input


@dataclass
class FuzzResult:
    exit_code: int
    stdout: str
    stderr: str


class FuzzFailure(AssertionError):
    pass


def run_one(raw: bytes, args: list[str], stdin: bool) -> FuzzResult:
    tmp = tempfile.mkdtemp(prefix="ingc-fuzz-")
    try:
        out = os.path.join(tmp, "out")
        if stdin:
            code, so, se = run_cli(["build", "-", "-o", out, "--color", "never", *args], input_text=raw)
        else:
            src = os.path.join(tmp, "in.yaml")
            with open(src, "wb") as fh:
                fh.write(raw)
            code, so, se = run_cli(["build", src, "-o", out, "--color", "never", *args])
        result = FuzzResult(code, so, se)
        check_result(result, raw, args, out)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_result(r: FuzzResult, raw: bytes, args: list[str], out: str) -> None:
    where = f"input {raw[:300]!r}... ({len(raw)} bytes), args {args}\n--- stderr ---\n{r.stderr[-2000:]}"
    if r.exit_code not in EXIT_OK:
        raise FuzzFailure(f"exit {r.exit_code}: {where}")
    for text in (r.stdout, r.stderr):
        if "Traceback" in text or "internal error" in text:
            raise FuzzFailure(f"traceback / internal error: {where}")
    if r.exit_code == 1 and os.path.exists(os.path.join(out, "nginx.conf")) and "B101" not in r.stderr:
        raise FuzzFailure(f"exit 1 but a bundle was written: {where}")
    if "-f" not in args:
        for m in ERROR_LINE.finditer(r.stderr):
            head, code = m.group(1), m.group(2)
            if code in FILE_LEVEL:
                continue
            if not re.match(r"^.+:\d+:\d+: $", head):
                raise FuzzFailure(f"error[{code}] without file:line:col: {where}")
