"""Generated names (upstreams, certificate files, zones) that never collide across namespaces."""

from __future__ import annotations

import hashlib

from ingc.diagnostics import Diagnostics, Loc, ObjRef


def short_hash(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


class NameAllocator:
    """The canonical name for the first identity that asks; a stable hash suffix for later ones."""

    def __init__(self, what: str, diags: Diagnostics) -> None:
        self.what = what
        self.diags = diags
        self.owner: dict[str, str] = {}  # name -> identity
        self.given: dict[str, str] = {}  # identity -> name

    def name(self, canonical: str, identity: str, loc: Loc | None = None, obj: ObjRef | None = None) -> str:
        if identity in self.given:
            return self.given[identity]
        name = canonical
        if name in self.owner:
            name = f"{canonical}-{short_hash(identity)}"
            n = 1
            while name in self.owner:  # another identity's canonical name may equal this suffixed one
                n += 1
                name = f"{canonical}-{short_hash(f'{identity}#{n}')}"
            self.diags.warning("R330", f"{self.what} name {canonical!r} for {identity} is already used by "
                               f"{self.owner[canonical]}; using {name!r}", loc=loc, obj=obj)
        self.owner[name] = identity
        self.given[identity] = name
        return name
