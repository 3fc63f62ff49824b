"""The annotation handler interface: keys with validators, a parse step per Ingress, apply steps per IR node."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingc.settings import BadValue

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location, NginxConfig, Server, Upstream
    from ingc.model import Ingress

# What an invalid value does, as ingress-nginx's parser for that annotation does:
FALLBACK = "fallback"  # warning; the default applies
REJECT = "reject"  # error; the whole Ingress is not compiled
DENY = "deny"  # error; the Ingress's locations answer 503

# ingress-nginx's character classes (parser/validators.go)
ALNUM = r"\-\.\_\~a-zA-Z0-9\/:"
URL_CHARS = r",:?&="
MALICIOUS = re.compile(r"[\r\n]")


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[str], Any]
    doc: str
    default: Any = None
    invalid: str = REJECT
    scope: str = "location"  # location | server | upstream | ingress


def regex_value(pattern: str, what: str, strip_spaces: bool = False) -> Callable[[str], str]:
    rx = re.compile(pattern)

    def parse(v: str) -> str:
        if MALICIOUS.search(v):
            raise BadValue("line breaks are not allowed")
        s = re.sub(r"\s", "", v) if strip_spaces else v
        if not rx.fullmatch(s):
            raise BadValue(f"{v!r} is not {what}")
        return s

    return parse


def options(*allowed: str, lower: bool = True) -> Callable[[str], str]:
    def parse(v: str) -> str:
        s = v.strip().lower() if lower else v.strip()
        if s not in allowed:
            raise BadValue(f"{v!r} must be one of {', '.join(allowed)}")
        return s

    return parse


@dataclass
class Values:
    """One Ingress's values for one handler's keys, parsed; ``None`` for absent keys."""

    ing: Ingress
    prefix: str
    parsed: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)
    invalid: set[str] = field(default_factory=set)

    def has(self, name: str) -> bool:
        return name in self.parsed and name not in self.invalid

    def get(self, name: str, default: Any = None) -> Any:
        return self.parsed[name] if self.has(name) else default

    def loc(self, name: str) -> Any:
        return self.ing.loc("metadata", "annotations", self.prefix + name)


class Handler:
    """One annotation group.  Subclasses set ``name`` and ``keys`` and override what they need."""

    name: str = ""
    keys: tuple[Key, ...] = ()
    always: bool = False  # parse even when none of the keys is present (ConfigMap defaults)

    def parse(self, v: Values, ctx: Ctx) -> Any:
        return None

    def location(self, feature: Any, loc: Location, ctx: Ctx) -> None:
        pass

    def server(self, feature: Any, server: Server, ctx: Ctx) -> None:
        pass

    def upstream(self, feature: Any, up: Upstream, ctx: Ctx) -> None:
        pass

    def http(self, feature: Any, config: NginxConfig, ctx: Ctx) -> None:
        pass
