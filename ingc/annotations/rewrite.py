"""rewrite-target, use-regex, x-forwarded-prefix: the host-wide regex switch and the rewrite line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote
from ingc.annotations.base import FALLBACK, PATH_WITH_CAPTURE, Handler, Key, Values, regex_value
from ingc.ir import Block
from ingc.settings import BadValue, parse_bool

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location, Server


@dataclass(frozen=True)
class Rewrite:
    target: str | None
    use_regex: bool
    forwarded_prefix: str | None
    app_root: str | None = None

    def effective(self, path: str) -> bool:
        """ingress-nginx rewrites only when the target differs from the path."""
        return bool(self.target) and self.target != path


def parse_target(v: str) -> str:
    """A path; ``$`` only as the captures ``$1``..``$9``."""
    s = regex_value(PATH_WITH_CAPTURE, "a path (captures $1..$9 allowed)")(v)
    if re.search(r"\$(?![1-9](?![0-9]))", s):
        raise BadValue(f"{v!r}: only the captures $1..$9 may follow '$'")
    return s


class RewriteHandler(Handler):
    name = "rewrite"
    keys = (
        Key("rewrite-target", parse_target,
            "URI the backend receives; captures $1..$9 come from the path regex", invalid=FALLBACK,
            nginx='rewrite "(?i)<path>" "<target>" break (regex locations for the whole host)'),
        Key("use-regex", parse_bool, "treat paths as case-insensitive regexes (host-wide)", default=False,
            invalid=FALLBACK, nginx='location ~* "^<path>" for every path of the host'),
        Key("x-forwarded-prefix", regex_value(PATH_WITH_CAPTURE, "a path"),
            "X-Forwarded-Prefix header sent with a rewritten request",
            nginx='proxy_set_header X-Forwarded-Prefix "<value>" (literal $)'),
        Key("app-root", regex_value(PATH_WITH_CAPTURE, "an absolute path"),
            "redirect requests for / to this path", invalid=FALLBACK, scope="server",
            nginx='if ($uri = /) { return 302 "$scheme://$http_host<app-root>"; } in the server'),
    )

    def parse(self, v: Values, ctx: Ctx) -> Rewrite | None:
        app_root = v.get("app-root")
        if app_root is not None and not app_root.startswith("/"):
            ctx.diags.warning("A110", f"annotation 'app-root': {app_root!r} is not an absolute path; ignored",
                              loc=v.loc("app-root"), obj=v.ing.ref)
            ctx.note(v.ing.ref, "app-root", "defaulted", "not an absolute path")
            app_root = None
        rw = Rewrite(v.get("rewrite-target"), bool(v.get("use-regex", False)), v.get("x-forwarded-prefix"), app_root)
        return rw if (rw.target or rw.use_regex or rw.forwarded_prefix or rw.app_root) else None

    def server(self, feature: Rewrite, server: Server, ctx: Ctx) -> None:
        if not feature.app_root:
            return
        target = "$scheme://$http_host" + feature.app_root.replace("$", "${literal_dollar}")
        block = Block("if", ("($uri", "=", "/)"), [("return", "302", quote.ngx_quote(target))])
        if block not in server.blocks:
            server.blocks.append(block)
            server.features.setdefault("app_root", feature.app_root)

    def location(self, feature: Rewrite, loc: Location, ctx: Ctx) -> None:
        if feature.target and feature.effective(loc.path) and not loc.is_placeholder:
            loc.rewrite = ("(?i)" + loc.path, feature.target)
            if feature.forwarded_prefix:
                loc.features["x_forwarded_prefix"] = feature.forwarded_prefix
