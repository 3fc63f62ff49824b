"""limit-rps, limit-rpm, limit-connections, limit-burst-multiplier, limit-rate, limit-rate-after, limit-allowlist
(alias limit-whitelist).

Per Ingress, at http level: ``geo $remote_addr $ingc_allow_<id>`` (the allowlist), ``map`` to the key
``$ingc_limit_<id>`` (empty for allowlisted clients, so they are never counted) and the zones
``limit_req_zone``/``limit_conn_zone`` named ``<ns>_<name>_rps|rpm|conn`` (a hash suffix when two Ingresses
would share a name).  In the locations: ``limit_conn``, ``limit_req zone=... burst=<limit x multiplier>
nodelay``, ``limit_rate_after``, ``limit_rate``.  An invalid limit or allowlist rejects the Ingress, as
ingress-nginx; an invalid limit-rate(-after) or burst multiplier falls back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc.annotations.base import FALLBACK, Handler, Key, Values, parse_cidrs, register_setting, setting
from ingc.ir import Block
from ingc.names import NameAllocator, short_hash
from ingc.settings import BadValue, parse_int

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location, NginxConfig

ZONE_SIZE = "5m"


def parse_status(v: str) -> int:
    n = parse_int(v)
    if not 400 <= n <= 599:
        raise BadValue(f"{v!r} must be a 4xx or 5xx status")
    return n


def parse_zone_variable(v: str) -> str:
    if not re.fullmatch(r"\$[a-z_]+", v.strip()):
        raise BadValue(f"{v!r} is not an nginx variable")
    return v.strip()


register_setting("limit-rate", parse_int)
register_setting("limit-rate-after", parse_int)
register_setting("limit-req-status-code", parse_status)
register_setting("limit-conn-status-code", parse_status)
register_setting("limit-conn-zone-variable", parse_zone_variable)


@dataclass(frozen=True)
class RateLimit:
    ident: str  # ns/name
    rps: int = 0
    rpm: int = 0
    conn: int = 0
    multiplier: int = 5
    rate: int = 0
    rate_after: int = 0
    allowlist: tuple[str, ...] = ()

    @property
    def zoned(self) -> bool:
        return self.rps > 0 or self.rpm > 0 or self.conn > 0


class RateLimitHandler(Handler):
    name = "rate-limit"
    always = True  # the ConfigMap's limit-rate / limit-rate-after apply to every location
    keys = (
        Key("limit-rps", parse_int, "requests per second per client address",
            nginx="limit_req_zone ... rate=<n>r/s; limit_req zone=<ns>_<name>_rps burst=<n*mult> nodelay"),
        Key("limit-rpm", parse_int, "requests per minute per client address",
            nginx="limit_req_zone ... rate=<n>r/m; limit_req zone=<ns>_<name>_rpm burst=<n*mult> nodelay"),
        Key("limit-connections", parse_int, "concurrent connections per client address",
            nginx="limit_conn_zone ...; limit_conn <ns>_<name>_conn <n>"),
        Key("limit-burst-multiplier", parse_int, "burst size = limit x multiplier", default=5, invalid=FALLBACK,
            nginx="the burst= of limit_req"),
        Key("limit-rate", parse_int, "response rate limit in KB/s (0: none)", default=0, invalid=FALLBACK,
            nginx="limit_rate <n>k"),
        Key("limit-rate-after", parse_int, "KB sent before limit-rate applies", default=0, invalid=FALLBACK,
            nginx="limit_rate_after <n>k"),
        Key("limit-allowlist", parse_cidrs, "client addresses exempt from the limits",
            nginx="geo $remote_addr $ingc_allow_<id> { <cidr> 1; }"),
    )

    def parse(self, v: Values, ctx: Ctx) -> RateLimit | None:
        mult = v.get("limit-burst-multiplier", 5)
        rl = RateLimit(
            ident=f"{v.ing.namespace}/{v.ing.name}",
            rps=max(0, v.get("limit-rps", 0)), rpm=max(0, v.get("limit-rpm", 0)),
            conn=max(0, v.get("limit-connections", 0)), multiplier=mult if mult > 0 else 5,
            rate=max(0, v.get("limit-rate", setting(ctx, "limit-rate", parse_int, 0))),
            rate_after=max(0, v.get("limit-rate-after", setting(ctx, "limit-rate-after", parse_int, 0))),
            allowlist=tuple(sorted(v.get("limit-allowlist", ()))),
        )
        if not rl.zoned and not rl.rate and not rl.rate_after:
            return None
        return rl

    def names(self, rl: RateLimit, ctx: Ctx) -> tuple[str, str]:
        """(zone base name, variable suffix) for this Ingress, collision-free."""
        alloc: NameAllocator = ctx.state.setdefault("limit-zone-names", NameAllocator("rate limit zone", ctx.diags))
        ns, name = rl.ident.split("/", 1)
        base = alloc.name(re.sub(r"[^A-Za-z0-9._-]", "_", f"{ns}_{name}"), rl.ident)
        return base, short_hash(rl.ident)

    def location(self, feature: RateLimit, loc: Location, ctx: Ctx) -> None:
        if feature.zoned:
            base, _ = self.names(feature, ctx)
            zones: dict[str, RateLimit] = ctx.state.setdefault("limit-zones", {})
            zones[feature.ident] = feature
            if feature.conn:
                loc.access.append(("limit_conn", f"{base}_conn", str(feature.conn)))
            if feature.rps:
                loc.access.append(("limit_req", f"zone={base}_rps", f"burst={feature.rps * feature.multiplier}",
                                   "nodelay"))
            if feature.rpm:
                loc.access.append(("limit_req", f"zone={base}_rpm", f"burst={feature.rpm * feature.multiplier}",
                                   "nodelay"))
        if feature.rate_after:
            loc.access.append(("limit_rate_after", f"{feature.rate_after}k"))
        if feature.rate:
            loc.access.append(("limit_rate", f"{feature.rate}k"))
        loc.features["rate_limit"] = {"rps": feature.rps, "rpm": feature.rpm, "connections": feature.conn,
                                      "burst_multiplier": feature.multiplier, "rate": feature.rate,
                                      "rate_after": feature.rate_after, "allowlist": list(feature.allowlist)}

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        zones: dict[str, RateLimit] = ctx.state.get("limit-zones", {})
        if not zones:
            return
        key_var = setting(ctx, "limit-conn-zone-variable", parse_zone_variable, "$binary_remote_addr")
        config.http_directives += [
            ("limit_req_status", str(setting(ctx, "limit-req-status-code", parse_status, 503))),
            ("limit_conn_status", str(setting(ctx, "limit-conn-status-code", parse_status, 503))),
        ]
        for ident in sorted(zones):
            rl = zones[ident]
            base, suffix = self.names(rl, ctx)
            var = f"$ingc_limit_{suffix}"
            if rl.allowlist:
                allow = f"$ingc_allow_{suffix}"
                config.http_blocks.append(Block("geo", ("$remote_addr", allow),
                                                [("default", "0"), *[(c, "1") for c in rl.allowlist]]))
                config.http_blocks.append(Block("map", (allow, var), [("0", key_var), ("1", '""')]))
            else:
                config.http_blocks.append(Block("map", ("$remote_addr", var), [("default", key_var)]))
            if rl.conn:
                config.http_directives.append(("limit_conn_zone", var, f"zone={base}_conn:{ZONE_SIZE}"))
            if rl.rps:
                config.http_directives.append(("limit_req_zone", var, f"zone={base}_rps:{ZONE_SIZE}",
                                               f"rate={rl.rps}r/s"))
            if rl.rpm:
                config.http_directives.append(("limit_req_zone", var, f"zone={base}_rpm:{ZONE_SIZE}",
                                               f"rate={rl.rpm}r/m"))
