"""server-alias: extra names on the host's server_name (first Ingress per host wins).

An alias equal to the host itself or to another server's host name is dropped, as ingress-nginx does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingc.annotations.base import IS_VALID_REGEX, Handler, Key, Values, regex_value

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import NginxConfig, Server

_valid = regex_value(IS_VALID_REGEX, "a server name")


def parse_aliases(v: str) -> tuple[str, ...]:
    out: set[str] = set()
    for part in v.split(","):
        a = part.strip()
        if a:
            out.add(_valid(a))
    return tuple(sorted(out))


class AliasHandler(Handler):
    name = "alias"
    keys = (
        Key("server-alias", parse_aliases, "extra host names for the Ingress's hosts", scope="server",
            nginx="server_name \"<host>\" \"<alias>\" ..."),
    )

    def parse(self, v: Values, ctx: Ctx) -> tuple[str, ...] | None:
        return v.get("server-alias") or None

    def server(self, feature: tuple[str, ...], server: Server, ctx: Ctx) -> None:
        owner = server.features.get("aliases_by")
        if owner is not None:
            ing = ctx.ing
            ctx.diags.warning("A121", f"server-alias for host {server.hostname} is already set by Ingress {owner}; "
                              "ignored here", obj=ing.ref if ing else None,
                              loc=ing.loc("metadata", "annotations") if ing else None)
            if ing is not None:
                ctx.note(ing.ref, "server-alias", "ignored", f"host {server.hostname}: aliases set by {owner}")
            return
        ing = ctx.ing
        server.features["aliases_by"] = f"{ing.namespace}/{ing.name}" if ing else "?"
        server.aliases = [a for a in feature if a != server.hostname]

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        hosts = {s.hostname for s in config.servers}
        seen: set[str] = set()
        for srv in config.servers:
            kept = []
            for a in srv.aliases:
                if a in hosts or a in seen:
                    ctx.diags.warning("A122", f"server-alias {a!r} of host {srv.hostname} is already a host name; "
                                      "dropped", obj=srv.origin.obj if srv.origin else None,
                                      loc=srv.origin.loc if srv.origin else None)
                    continue
                seen.add(a)
                kept.append(a)
            srv.aliases = kept
