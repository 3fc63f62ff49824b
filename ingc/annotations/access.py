"""allowlist-source-range (alias whitelist-source-range), denylist-source-range, satisfy.

``deny <cidr>;`` lines first, then ``allow <cidr>; ... deny all;``.  The annotation replaces the ConfigMap's
whitelist-source-range / denylist-source-range (no merging), as ingress-nginx.  An invalid list denies the
Ingress's locations (503), never an open location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc.annotations.base import DENY, FALLBACK, Handler, Key, Values, parse_cidrs, register_setting, setting
from ingc.settings import BadValue

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location

register_setting("whitelist-source-range", parse_cidrs)
register_setting("denylist-source-range", parse_cidrs)


def parse_satisfy(v: str) -> str:
    s = v.strip().lower()
    if s not in ("any", "all"):
        raise BadValue(f"{v!r} must be any or all")
    return s


@dataclass(frozen=True)
class Access:
    allow: tuple[str, ...]
    deny: tuple[str, ...]


class SourceRangeHandler(Handler):
    name = "source-range"
    always = True  # the ConfigMap's whitelist-source-range / denylist-source-range apply to every location
    keys = (
        Key("allowlist-source-range", parse_cidrs, "only these client addresses (CIDRs or IPs) may connect",
            invalid=DENY, nginx="allow <cidr>; ... deny all;"),
        Key("denylist-source-range", parse_cidrs, "these client addresses (CIDRs or IPs) are refused",
            invalid=DENY, nginx="deny <cidr>; ... (before the allow list)"),
    )

    def parse(self, v: Values, ctx: Ctx) -> Access | None:
        allow = v.get("allowlist-source-range") or setting(ctx, "whitelist-source-range", parse_cidrs, ())
        deny = v.get("denylist-source-range") or setting(ctx, "denylist-source-range", parse_cidrs, ())
        if not allow and not deny:
            return None
        return Access(tuple(sorted(allow)), tuple(sorted(deny)))

    def location(self, feature: Access, loc: Location, ctx: Ctx) -> None:
        loc.access += [("deny", c) for c in feature.deny]
        if feature.allow:
            loc.access += [("allow", c) for c in feature.allow]
            loc.access.append(("deny", "all"))
        loc.features["source_range"] = {"allow": list(feature.allow), "deny": list(feature.deny)}


class SatisfyHandler(Handler):
    name = "satisfy"
    keys = (
        Key("satisfy", parse_satisfy, "with several access checks: any one (any) or all of them (all) must pass",
            invalid=FALLBACK, nginx="satisfy any|all"),
    )

    def parse(self, v: Values, ctx: Ctx) -> str | None:
        s: str | None = v.get("satisfy")
        return s

    def location(self, feature: str, loc: Location, ctx: Ctx) -> None:
        loc.access.append(("satisfy", feature))
        loc.features["satisfy"] = feature
