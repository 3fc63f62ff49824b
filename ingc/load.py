"""Pass 1, load: files, directories and stdin into Documents (multi-document YAML, ``kind: List``, JSON).

libyaml's C loader does the parsing; a small constructor subclass records duplicate keys and keeps
timestamps as strings (Kubernetes' JSON types).  Limits refuse oversized files, alias bombs and deep
nesting before anything else looks at the data.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ingc.diagnostics import Diagnostics, Span
from ingc.source import Document, Source

EXTENSIONS = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 32 * 1024 * 1024
    max_nodes: int = 2_000_000  # after alias expansion, per document
    max_depth: int = 64


class NothingToRead(Exception):
    """stdin is a terminal (exit 3)."""


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(yaml.CSafeLoader):
    """libyaml's C parser and composer with a lean constructor.

    Builds plain dicts/lists/scalars directly from the node tree (shared nodes stay shared, so aliases
    never expand), records duplicate keys instead of silently keeping the last one, and memoises scalar
    tag resolution.  Anything unusual (merge keys, explicit tags) goes through PyYAML's own constructor.
    """

    duplicates: list[tuple[yaml.Mark, str]]
    _tags: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            tag = self._tags.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(self._tags) < 65536:
                    self._tags[value] = tag
            return tag
        return super().resolve(kind, value, implicit)

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:  # no path resolvers
        pass

    def ascend_resolver(self) -> None:
        pass

    def construct_document(self, node: yaml.Node) -> Any:
        memo: dict[int, Any] = {}
        try:
            return self._build(node, memo)
        finally:
            self.constructed_objects = {}
            self.recursive_objects = {}

    def _build(self, node: yaml.Node, memo: dict[int, Any]) -> Any:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            return self.construct_object(node, deep=True)
        found = memo.get(id(node))
        if found is not None:
            return found
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            out: dict[Any, Any] = {}
            memo[id(node)] = out
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                    del memo[id(node)]
                    out.clear()
                    value = self.construct_object(node, deep=True)
                    memo[id(node)] = value
                    return value
                key = self._build(key_node, memo)
                if key in out:
                    self.duplicates.append((key_node.start_mark, str(key_node.value)))
                out[key] = self._build(value_node, memo)
            return out
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            items: list[Any] = []
            memo[id(node)] = items
            for child in node.value:
                items.append(self._build(child, memo))
            return items
        value = self.construct_object(node, deep=True)
        memo[id(node)] = value
        return value

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # PyYAML's scalar constructors raise plain Python errors on bad input (`!!timestamp` alone, `!!bool
        # maybe`, an int of 5,000 digits): make them YAML errors with the node's position.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
            shown = node.value if isinstance(node.value, str) else ""
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown!r} as {node.tag.rsplit(':', 1)[-1]} ({type(exc).__name__})",
                node.start_mark) from exc

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE:
                    if key_node.value in seen:
                        self.duplicates.append((key_node.start_mark, key_node.value))
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


# Kubernetes objects are JSON: keep timestamps as strings.
_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)  # type: ignore[type-var]

_QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")


def looks_like_go_template(text: str) -> bool:
    if "{{" not in text:
        return False
    for line in text.splitlines():
        if "{{" in line and "{{" in _QUOTED.sub("", line.split(" #", 1)[0]):
            return True
    return False


def expand_paths(paths: Iterable[str], diags: Diagnostics) -> tuple[list[str], int]:
    """Files to read, in order, de-duplicated; also how many given paths existed."""
    out: list[str] = []
    seen: set[str] = set()
    existing = 0

    def add(p: str) -> None:
        key = p if p == STDIN else os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)

    for p in paths:
        if p == STDIN:
            existing += 1
            add(p)
            continue
        if os.path.isdir(p):
            existing += 1
            found: list[str] = []
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in files:
                    if f.endswith(EXTENSIONS) and not f.startswith("."):
                        found.append(os.path.normpath(os.path.join(root, f)))
            for f in sorted(found):
                add(f)
        elif os.path.exists(p):
            existing += 1
            add(p)
        else:
            diags.error("L001", f"no such file or directory: {p}", file=p)
    return out, existing


def read_source(path: str, diags: Diagnostics, limits: Limits, stdin_name: str = "<stdin>") -> Source | None:
    if path == STDIN:
        if sys.stdin is None or sys.stdin.isatty():
            raise NothingToRead("stdin is a terminal; pipe manifests in or pass paths")
        raw = sys.stdin.buffer.read(limits.max_file_bytes + 1)
        name = stdin_name
    else:
        name = path
        try:
            size = os.path.getsize(path)
            if size > limits.max_file_bytes:
                diags.error("L010", f"file is {size} bytes, over the limit of {limits.max_file_bytes} "
                            "(--max-file-size)", file=name)
                return None
            with open(path, "rb") as fh:
                raw = fh.read(limits.max_file_bytes + 1)
        except OSError as exc:
            diags.error("L002", f"cannot read file: {exc.strerror or exc}", file=name)
            return None
    if len(raw) > limits.max_file_bytes:
        diags.error("L010", f"input is over the limit of {limits.max_file_bytes} bytes (--max-file-size)", file=name)
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        d = diags.error("L003", f"invalid UTF-8 (byte 0x{raw[exc.start]:02x})", file=name)
        d._span = Span(name, line, col)
        return None
    return Source(name, text)


def _measure(obj: Any, limits: Limits, spent: list[int] | None = None) -> str | None:
    """Size after alias expansion and depth, without expanding (memoised over shared objects).

    ``spent`` accumulates, over the documents of one source, the characters of every key and string the
    expansion holds: aliases may not make a file hold more text than --max-file-size allows a file to have
    (a 100 KB string aliased 2,000 times made an 800 MB nginx.conf from a 700 KB file).
    """
    memo: dict[int, tuple[int, int, int]] = {}

    def walk(o: Any, depth: int) -> tuple[int, int, int]:
        if depth > limits.max_depth:
            raise _TooDeep
        if isinstance(o, dict):
            items: Iterable[Any] = o.values()
        elif isinstance(o, list):
            items = o
        else:
            return 1, 0, len(o) if isinstance(o, str) else 1
        cached = memo.get(id(o))
        if cached is not None:
            return cached
        n, d, b = 1, 0, sum(len(k) for k in o if isinstance(k, str)) if isinstance(o, dict) else 0
        for v in items:
            cn, cd, cb = walk(v, depth + 1)
            n += cn
            d = max(d, cd + 1)
            b += cb
        memo[id(o)] = (n, d, b)
        return n, d, b

    try:
        n, _, b = walk(obj, 0)
    except _TooDeep:
        return f"nesting deeper than {limits.max_depth} levels (--max-depth)"
    if n > limits.max_nodes:
        return f"document expands to {n} nodes through aliases, over the limit of {limits.max_nodes}"
    if spent is not None:
        spent[0] += b
        if spent[0] > limits.max_file_bytes:
            return (f"aliases expand this file to over {spent[0]} characters of text, over the limit of "
                    f"{limits.max_file_bytes} (--max-file-size)")
    return None


class _TooDeep(Exception):
    pass


# libyaml's composer (and PyYAML's C binding) recurse once per nesting level: some 25,000 levels of
# `[`, `{a: ` or `- ` crash the interpreter (SIGSEGV) before any Python check runs.  So nesting is bounded
# before composing: cheaply from the text (a document's nesting is at most the number of `[`/`{` in it plus
# twice the widest run of indentation and `- `/`? `/`: ` indicators starting a line, since every block
# collection starts at a greater column than its parent's, or shares it once as an indentless sequence);
# only when that bound is over --max-depth is the exact depth measured, on libyaml's event stream (which
# does not recurse).
_DOC_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|\Z)", re.M)
_START_EVENTS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_END_EVENTS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _may_nest_deeper(text: str, limit: int) -> bool:
    bounds = [0] + [m.start() for m in _DOC_MARKER.finditer(text)] + [len(text)]
    for start, end in zip(bounds, bounds[1:], strict=False):
        room = limit - text.count("[", start, end) - text.count("{", start, end)
        if room < 0:
            return True
        if re.compile(rf"^[ \t?:-]{{{room // 2},}}", re.M).search(text, start, end):
            return True
    return False


def _too_deep(text: str, limit: int) -> tuple[int, int] | None:
    """Where (0-based line, column) nesting first goes deeper than ``limit`` collections, or None."""
    if not _may_nest_deeper(text, limit):
        return None
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, _START_EVENTS):
                depth += 1
                if depth > limit:
                    mark = event.start_mark
                    return (mark.line, mark.column) if mark is not None else (0, 0)
            elif isinstance(event, _END_EVENTS):
                depth -= 1
    except yaml.YAMLError as exc:
        # libyaml >= 0.2.6 (PyYAML 6.0.4 wheels) has its own nesting limit: that is "too deep" as well.
        mark = getattr(exc, "problem_mark", None)
        if "nesting depth" in str(getattr(exc, "problem", "") or exc):
            return (mark.line, mark.column) if mark is not None else (0, 0)
        # otherwise the composer stops at the same error, no deeper than what was seen; parsing reports it
    return None


def parse_source(src: Source, diags: Diagnostics, limits: Limits) -> list[Document]:
    deep = _too_deep(src.text, limits.max_depth)
    if deep is not None:
        d = diags.error("L012", f"nesting deeper than {limits.max_depth} levels (--max-depth)", file=src.name)
        d._span = Span(src.name, deep[0] + 1, deep[1] + 1)
        return []
    loader = _Loader(src.text)
    loader.duplicates = []
    docs: list[Document] = []
    index = 0
    node_index = 0
    check_aliases = "*" in src.text
    spent = [0]  # text held by the documents so far, aliases expanded
    try:
        while loader.check_data():
            data = loader.get_data()
            if data is not None:
                docs.extend(_split(src, index, node_index, data, diags, limits, check_aliases, spent))
                node_index += 1
            index += 1
    except RecursionError:
        diags.error("L012", f"nesting deeper than the parser can follow (--max-depth {limits.max_depth})",
                    file=src.name)
        return []
    except yaml.MarkedYAMLError as exc:
        if looks_like_go_template(src.text):
            diags.info("L008", "skipped: looks like a Go template ({{ }} outside strings); render it first",
                       file=src.name)
            return []
        mark = exc.problem_mark or exc.context_mark
        msg = (exc.problem or "invalid YAML") + (f" {exc.context}" if exc.context and not exc.problem else "")
        d = diags.error("L004", f"malformed YAML: {msg}", file=src.name)
        if mark is not None:
            d._span = Span(src.name, mark.line + 1, mark.column + 1)
        return []
    except yaml.YAMLError as exc:
        diags.error("L004", f"malformed YAML: {exc}", file=src.name)
        return []
    finally:
        loader.dispose()
    for mark, key in loader.duplicates:
        d = diags.error("L005", f"duplicate key {key!r}", file=src.name)
        d._span = Span(src.name, mark.line + 1, mark.column + 1)
    return docs


def _split(src: Source, index: int, node_index: int, data: Any, diags: Diagnostics, limits: Limits,
           check_aliases: bool, spent: list[int] | None = None) -> list[Document]:
    doc = Document(src, index, data if isinstance(data, dict) else {}, (), node_index)
    if check_aliases or isinstance(data, (dict, list)):
        problem = _measure(data, limits, spent) if check_aliases else None
        if problem:
            diags.error("L011", problem, loc=doc.loc())
            return []
    if not isinstance(data, dict):
        diags.warning("L006", f"document is a {type(data).__name__}, not a Kubernetes object; skipped",
                      loc=doc.loc())
        return []
    kind, api = data.get("kind"), data.get("apiVersion")
    if kind is None and api is None:
        diags.info("L007", "skipped: document has no apiVersion or kind (not a Kubernetes manifest)", loc=doc.loc())
        return []
    if isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list):
        out = []
        for i, item in enumerate(data["items"]):
            item_doc = Document(src, index, item if isinstance(item, dict) else {}, ("items", i), node_index)
            if not isinstance(item, dict):
                diags.error("L006", "list item is not an object", loc=item_doc.loc())
                continue
            out.append(item_doc)
        return out
    return [doc]


def load_documents(paths: Iterable[str], diags: Diagnostics, limits: Limits | None = None,
                   stdin_name: str = "<stdin>") -> tuple[list[Document], int]:
    """Read every path; returns the documents and the number of sources read."""
    limits = limits or Limits()
    files, _ = expand_paths(paths, diags)
    docs: list[Document] = []
    read = 0
    for f in files:
        src = read_source(f, diags, limits, stdin_name)
        if src is None:
            continue
        read += 1
        docs.extend(parse_source(src, diags, limits))
    return docs, read
