"""rewrite-target, use-regex, x-forwarded-prefix: the host-wide regex switch and the rewrite line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc.annotations.base import ALNUM, FALLBACK, Handler, Key, Values, regex_value
from ingc.settings import parse_bool

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location

PATH_WITH_CAPTURE = rf"/?[{ALNUM}\$]*"


@dataclass(frozen=True)
class Rewrite:
    target: str | None
    use_regex: bool
    forwarded_prefix: str | None

    def effective(self, path: str) -> bool:
        """ingress-nginx rewrites only when the target differs from the path."""
        return bool(self.target) and self.target != path


class RewriteHandler(Handler):
    name = "rewrite"
    keys = (
        Key("rewrite-target", regex_value(PATH_WITH_CAPTURE, "a path (captures $1..$9 allowed)"),
            "URI the backend receives; captures $1..$9 come from the path regex", invalid=FALLBACK),
        Key("use-regex", parse_bool, "treat paths as case-insensitive regexes (host-wide)", default=False,
            invalid=FALLBACK),
        Key("x-forwarded-prefix", regex_value(PATH_WITH_CAPTURE, "a path"),
            "X-Forwarded-Prefix header sent with a rewritten request", invalid=FALLBACK),
    )

    def parse(self, v: Values, ctx: Ctx) -> Rewrite:
        return Rewrite(v.get("rewrite-target"), bool(v.get("use-regex", False)), v.get("x-forwarded-prefix"))

    def location(self, feature: Rewrite, loc: Location, ctx: Ctx) -> None:
        if feature.target and feature.effective(loc.path) and not loc.is_placeholder:
            loc.rewrite = ("(?i)" + loc.path, feature.target)
            if feature.forwarded_prefix:
                loc.features["x_forwarded_prefix"] = feature.forwarded_prefix
