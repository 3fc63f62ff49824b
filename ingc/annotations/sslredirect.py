"""ssl-redirect, force-ssl-redirect, preserve-trailing-slash: the HTTP -> HTTPS redirect, per location."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc.annotations.base import FALLBACK, Handler, Key, Values
from ingc.settings import parse_bool

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location


@dataclass(frozen=True)
class SslRedirect:
    ssl_redirect: bool
    force: bool
    preserve_trailing_slash: bool


class SslRedirectHandler(Handler):
    name = "ssl-redirect"
    always = True
    keys = (
        Key("ssl-redirect", parse_bool, "redirect HTTP to HTTPS when the host has a certificate", invalid=FALLBACK,
            nginx='if ($scheme = "http") { return 308 "https://$host$ingc_redirect_uri"; }'),
        Key("force-ssl-redirect", parse_bool, "redirect HTTP to HTTPS even without a certificate",
            invalid=FALLBACK, nginx="the same redirect on hosts without a certificate"),
        Key("preserve-trailing-slash", parse_bool, "keep a trailing / in the HTTPS redirect", invalid=FALLBACK,
            nginx="$request_uri instead of $ingc_redirect_uri in the redirect"),
    )

    def parse(self, v: Values, ctx: Ctx) -> SslRedirect:
        s = ctx.settings
        return SslRedirect(
            v.get("ssl-redirect", s.ssl_redirect),
            v.get("force-ssl-redirect", s.force_ssl_redirect),
            v.get("preserve-trailing-slash", s.preserve_trailing_slash),
        )

    def location(self, feature: SslRedirect, loc: Location, ctx: Ctx) -> None:
        loc.ssl_redirect = feature.ssl_redirect
        loc.force_ssl_redirect = feature.force
        loc.preserve_trailing_slash = feature.preserve_trailing_slash
