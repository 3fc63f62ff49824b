"""Sources (files or stdin) and the documents in them, with lazily computed positions.

Loading uses libyaml's C loader and keeps no node tree.  When a finding needs a line and column, the
document's text is composed once (C composer) and the node at the finding's JSON path gives the mark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ingc.diagnostics import Loc, ObjRef, Path, Span

_HELM_SOURCE = re.compile(r"^# Source: (\S.*?)\s*$")


@dataclass(eq=False)
class Source:
    name: str  # as shown in diagnostics
    text: str
    _nodes: list[yaml.Node] | None = field(default=None, repr=False)
    _helm: list[tuple[int, str]] | None = field(default=None, repr=False)

    def nodes(self) -> list[yaml.Node]:
        if self._nodes is None:
            try:
                self._nodes = [n for n in yaml.compose_all(self.text, Loader=yaml.CSafeLoader) if n is not None]
            except yaml.YAMLError:
                self._nodes = []
        return self._nodes

    def template_origin(self, line: int) -> Span | None:
        """Helm output: ``# Source: chart/templates/x.yaml`` before a document names its template."""
        if self._helm is None:
            self._helm = []
            if "# Source: " in self.text:
                for i, text_line in enumerate(self.text.splitlines(), start=1):
                    m = _HELM_SOURCE.match(text_line)
                    if m:
                        self._helm.append((i, m.group(1)))
        best: tuple[int, str] | None = None
        for start, name in self._helm:
            if start < line:
                best = (start, name)
        if best is None:
            return None
        return Span(best[1], line - best[0], 0)


@dataclass(eq=False)
class Document:
    source: Source
    index: int  # document number within the source (0-based)
    data: dict[str, Any]
    prefix: Path = ()  # JSON path of this object inside the document (kind: List items)
    node_index: int = -1  # index among non-empty composed documents

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def metadata(self) -> dict[str, Any]:
        md = self.data.get("metadata")
        return md if isinstance(md, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))

    @property
    def ref(self) -> ObjRef:
        return ObjRef(self.kind, self.namespace, self.name)

    def loc(self, *path: str | int, key: bool = False) -> Loc:
        return Loc(self, tuple(path), key)

    def span(self, path: Path = (), key: bool = False) -> Span:
        nodes = self.source.nodes()
        if self.node_index < 0 or self.node_index >= len(nodes):
            return Span(self.source.name, 1, 1)
        node = nodes[self.node_index]
        mark = node.start_mark
        for part in self.prefix + tuple(path):
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        nxt = (k, v)
                if nxt is None:
                    break
                mark = nxt[0].start_mark
                node = nxt[1]
                continue
            if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                mark = node.start_mark
                continue
            break
        else:
            if not key:
                mark = node.start_mark
        return Span(self.source.name, mark.line + 1, mark.column + 1)
