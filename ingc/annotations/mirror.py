"""mirror-target, mirror-host, mirror-request-body: a copy of every request goes to another URL (stock mirror).

``mirror "/_mirror-<id>"; mirror_request_body on|off;`` in the locations and an internal
``location = "/_mirror-<id>" { proxy_set_header Host "<host>"; proxy_pass "<target>"; }``.  Both values are
quoted (the 2025 injection through these annotations is inert); the target may use allowlisted nginx variables
(e.g. ``$request_uri``), and a host name in it needs ``--resolver`` when it has variables, as any proxy_pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingc import quote
from ingc.annotations.base import (
    FALLBACK,
    IS_VALID_REGEX,
    Handler,
    Key,
    Values,
    check_variables,
    options,
    regex_value,
)
from ingc.endpoints import valid_address
from ingc.ir import Location
from ingc.names import short_hash
from ingc.settings import BadValue

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Directive


def parse_target(v: str) -> str:
    s = regex_value(IS_VALID_REGEX, "a URL")(v.strip())
    u = urlsplit(s.split("$", 1)[0])
    if u.scheme not in ("http", "https") or not u.hostname:
        raise BadValue(f"{v!r} is not an http(s) URL")
    return check_variables(s)


@dataclass(frozen=True)
class Mirror:
    ident: str
    target: str
    host: str
    body: str


class MirrorHandler(Handler):
    name = "mirror"
    keys = (
        Key("mirror-target", parse_target, "URL receiving a copy of every request", invalid=FALLBACK,
            nginx="mirror \"/_mirror-<id>\"; location = \"/_mirror-<id>\" { proxy_pass \"<target>\"; }"),
        Key("mirror-host", regex_value(IS_VALID_REGEX.replace("$", ""), "a host name"),
            "Host header of the mirrored request (default: the target's host)", invalid=FALLBACK,
            nginx="proxy_set_header Host \"<value>\" in the mirror location"),
        Key("mirror-request-body", options("on", "off"), "mirror the request body too", default="on",
            invalid=FALLBACK, nginx="mirror_request_body on|off"),
    )

    def parse(self, v: Values, ctx: Ctx) -> Mirror | None:
        target = v.get("mirror-target")
        if not target:
            return None
        host = v.get("mirror-host") or (urlsplit(target.split("$", 1)[0]).hostname or "")
        if "$" in target and not ctx.options.resolver:
            hostname = urlsplit(target.split("$", 1)[0]).hostname or ""
            if not valid_address(hostname):
                ctx.diags.warning("A128", f"mirror-target {target!r} has variables and the host name {hostname}: nginx "
                                  "needs --resolver to reach it", loc=v.loc("mirror-target"), obj=v.ing.ref)
        return Mirror(short_hash(f"{v.ing.namespace}/{v.ing.name}"), target, host, v.get("mirror-request-body", "on"))

    def location(self, feature: Mirror, loc: Location, ctx: Ctx) -> None:
        if loc.status is not None:
            return
        source = f"/_mirror-{feature.ident}"
        loc.directives += [("mirror", quote.ngx_quote(source)), ("mirror_request_body", feature.body)]
        body: list[Directive] = [("internal",), ("proxy_set_header", "Host", quote.ngx_quote(feature.host))]
        if feature.body == "off":  # nginx's documented form: otherwise the copy announces a body it never sends
            body += [("proxy_pass_request_body", "off"), ("proxy_set_header", "Content-Length", '""')]
        body.append(("proxy_pass", quote.ngx_quote(feature.target)))
        loc.extra.append(Location(source, "Exact", "=", source, None, internal=True, raw=list(body)))
        loc.features["mirror"] = {"target": feature.target, "host": feature.host}
