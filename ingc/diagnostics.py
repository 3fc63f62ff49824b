"""Diagnostics: every pass appends findings to one collector; nothing below the CLI prints.

A finding carries a code, a severity, a message, the object it is about and a location.  The
location is lazy: a ``Loc`` names a document and a JSON path, and is turned into ``file:line:col``
only when a reporter asks, so the happy path never composes YAML node trees.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingc.source import Document


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True)
class Span:
    """A 1-based position in an input file."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.col <= 0:  # a line without a column (Helm template origins)
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.col}"


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def visible(text: str) -> str:
    """One line of text with control characters escaped (``\\n``, ``\\x1b``): file names, kinds and keys
    come from the input, and a raw line break would let them forge a line (a CI workflow command)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


@dataclass(frozen=True, order=True, slots=True)
class ObjRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        ref = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {ref}" if self.kind else ref  # a document without kind: just its name


Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Loc:
    """A place in a document: resolved to a Span on demand."""

    doc: Document
    path: Path = ()
    key: bool = False  # point at the mapping key rather than its value

    def span(self) -> Span:
        return self.doc.span(self.path, key=self.key)


@dataclass
class Diagnostic:
    code: str
    severity: Severity
    message: str
    loc: Loc | None = None
    obj: ObjRef | None = None
    file: str | None = None  # for findings about a whole file (no document)
    suppressed: bool = False
    _span: Span | None = field(default=None, repr=False, compare=False)

    @property
    def span(self) -> Span | None:
        if self._span is None:
            if self.loc is not None:
                self._span = self.loc.span()
            elif self.file is not None:
                self._span = Span(self.file)
        return self._span

    @property
    def template_origin(self) -> Span | None:
        """For Helm output: the template file and line this finding came from."""
        if self.loc is None:
            return None
        sp = self.span
        return self.loc.doc.source.template_origin(sp.line) if sp else None

    def sort_key(self) -> tuple[str, int, int, str, str]:
        sp = self.span
        return (sp.file if sp else "", sp.line if sp else 0, sp.col if sp else 0, self.code, self.message)

    def format(self) -> str:
        sp = self.span
        where = f"{sp}: " if sp else ""
        obj = f" ({self.obj})" if self.obj else ""
        text = f"{where}{self.severity.label}[{self.code}]: {self.message}{obj}"
        origin = self.template_origin
        if origin is not None:
            text += f" [from {origin}]"
        return visible(text)


class Diagnostics:
    """The one collector every pass appends to."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(
        self,
        code: str,
        severity: Severity,
        message: str,
        loc: Loc | None = None,
        obj: ObjRef | None = None,
        file: str | None = None,
    ) -> Diagnostic:
        d = Diagnostic(code, severity, message, loc, obj, file)
        self.items.append(d)
        return d

    def error(self, code: str, message: str, loc: Loc | None = None, obj: ObjRef | None = None,
              file: str | None = None) -> Diagnostic:
        return self.add(code, Severity.ERROR, message, loc, obj, file)

    def warning(self, code: str, message: str, loc: Loc | None = None, obj: ObjRef | None = None,
                file: str | None = None) -> Diagnostic:
        return self.add(code, Severity.WARNING, message, loc, obj, file)

    def info(self, code: str, message: str, loc: Loc | None = None, obj: ObjRef | None = None,
             file: str | None = None) -> Diagnostic:
        return self.add(code, Severity.INFO, message, loc, obj, file)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def active(self) -> list[Diagnostic]:
        return [d for d in self.items if not d.suppressed]

    def count(self, severity: Severity) -> int:
        return sum(1 for d in self.items if d.severity == severity and not d.suppressed)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == Severity.ERROR and not d.suppressed for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.active(), key=Diagnostic.sort_key)

    def codes(self) -> list[str]:
        return [d.code for d in self.sorted()]
