"""The annotation handler interface: keys with validators, a parse step per Ingress, apply steps per IR node.

A handler declares its keys (``Key``): the value validator, the one-line doc, what an invalid value does
(``FALLBACK``/``DENY``/``REJECT``, as ingress-nginx's parser for that key), the scope and the nginx output
(for README.md).  A key ingc knows but cannot express on stock nginx carries ``unsupported``
(the reason); the engine reports it and, when it restricts access, denies the Ingress's locations.

Hooks, in the order the resolve pass calls them:

* ``parse(values, ctx)`` once per Ingress -> a frozen feature object, or None (absent).  Raising
  ``BadValue`` rejects the Ingress, ``Fallback`` ignores the group with a warning, ``Denied`` makes every
  location of the Ingress answer 503;
* ``server(feature, server, ctx)`` once per (Ingress, host) - server-level keys, first Ingress wins;
* ``location(feature, location, ctx)`` for every location the Ingress makes (and its host's default ``/``);
* ``upstream(feature, upstream, ctx)`` for every upstream a location of the Ingress proxies to;
* ``http(feature, config, ctx)`` once per Ingress after all servers are final;
* ``finish(config, ctx)`` once per handler at the very end (http-level zones, maps, extra servers).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingc.settings import EXTRA_KEYS, BadValue

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location, NginxConfig, Server, Upstream
    from ingc.model import Ingress

# What an invalid value does, as ingress-nginx's parser for that annotation does:
FALLBACK = "fallback"  # warning; the default applies
REJECT = "reject"  # error; the whole Ingress is not compiled
DENY = "deny"  # warning; the Ingress's locations answer 503

# ingress-nginx's character classes (parser/validators.go)
ALNUM = r"\-\.\_\~a-zA-Z0-9\/:"
EXT_ALNUM = ALNUM + r", "
REGEX_CHARS = r"\^\$\[\]\(\)\{\}\*\+\?\|&=\\"
URL_CHARS = r",:?&="
MALICIOUS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")  # ingress-nginx: \r|\n; ingc.quote refuses all

IS_VALID_REGEX = rf"[/{ALNUM}{REGEX_CHARS}]*"  # server names, aliases, mirror targets, header patterns
URL_IS_VALID = rf"[{ALNUM}{URL_CHARS}]*"  # redirect URLs, cookie paths, proxy_redirect
BASIC_CHARS = rf"[/{ALNUM}]*"  # secret/configmap refs, header and cookie names
CHARS_WITH_SPACE = rf"[/{ALNUM} ]*"  # auth-realm
HEADERS_VARIABLE = r"[A-Za-z0-9\-_, ]*"  # header name lists
URL_WITH_VARIABLE = rf"[{EXT_ALNUM}{URL_CHARS}$]*"  # auth-url, auth-signin
PATH_WITH_CAPTURE = rf"/?[{ALNUM}\$]*"  # rewrite-target, app-root, x-forwarded-prefix


class Fallback(BadValue):
    """Raised by ``Handler.parse``: the group is ignored (its defaults apply), with a warning."""


class Denied(BadValue):
    """Raised by ``Handler.parse``: every location of the Ingress answers 503 (ingress-nginx LocationDenied)."""


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[str], Any]
    doc: str
    default: Any = None
    invalid: str = REJECT
    scope: str = "location"  # location | server | upstream | ingress
    nginx: str = ""  # the nginx output, for the documentation table
    unsupported: str = ""  # non-empty: ingc cannot express it on stock nginx (the reason)
    restrictive: bool | None = None  # None: the catalog decides (auth-*, limit-*, *-source-range, ...)


def regex_value(pattern: str, what: str, strip_spaces: bool = False) -> Callable[[str], str]:
    rx = re.compile(pattern)

    def parse(v: str) -> str:
        if MALICIOUS.search(v):
            raise BadValue("line breaks and control characters are not allowed")
        s = re.sub(r"\s", "", v) if strip_spaces else v
        if not rx.fullmatch(s):
            raise BadValue(f"{v!r} is not {what}")
        return v.strip() if strip_spaces else s  # ingress-nginx validates without spaces, then uses the value

    return parse


def options(*allowed: str, lower: bool = True) -> Callable[[str], str]:
    def parse(v: str) -> str:
        s = v.strip().lower() if lower else v.strip()
        if s not in allowed:
            raise BadValue(f"{v!r} must be one of {', '.join(allowed)}")
        return s

    return parse


def any_value(v: str) -> str:
    """Keys that are never parsed (unsupported ones): accept anything."""
    return v


def parse_cidrs(v: str) -> tuple[str, ...]:
    """A comma-separated list of CIDRs or IP addresses (net.ParseCIDRs), normalised."""
    out: list[str] = []
    for part in v.split(","):
        p = part.strip()
        if not p:
            continue
        try:
            if "/" in p:
                out.append(str(ipaddress.ip_network(p, strict=False)))
            else:
                out.append(str(ipaddress.ip_address(p)))
        except ValueError:
            raise BadValue(f"{p!r} is not an IP address or CIDR") from None
    if not out:
        raise BadValue(f"{v!r} is not a list of CIDRs")
    return tuple(out)


# nginx variables a "variable field" may use (auth-url, auth-signin, upstream-hash-by, ...): the request's
# own data, never anything that reveals configuration or other requests.
VARIABLE_NAMES = {
    "host", "http_host", "best_http_host", "request_uri", "uri", "args", "query_string", "scheme", "request_method",
    "remote_addr", "binary_remote_addr", "remote_port", "server_name", "server_port", "request_id", "req_id",
    "document_uri", "is_args", "server_addr", "proxy_upstream_name",
    "namespace", "ingress_name", "service_name", "service_port", "location_path", "ssl_client_s_dn",
    "ssl_client_i_dn", "ssl_client_verify", "ssl_client_escaped_cert", "ssl_server_name", "hostname",
}
VARIABLE_PREFIXES = ("http_", "cookie_", "arg_")
VARIABLE = re.compile(r"\$(\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]*))")


def check_variables(value: str, extra: frozenset[str] = frozenset()) -> str:
    """A value that may use nginx variables from the allowlist; anything else after ``$`` is refused."""
    for m in VARIABLE.finditer(value):
        name = m.group(2) if m.group(2) is not None else m.group(3)
        if not name:
            raise BadValue("'$' must start an nginx variable name")
        if name in VARIABLE_NAMES or name in extra or (name.startswith(VARIABLE_PREFIXES) and
                                                       re.fullmatch(r"[a-z0-9_]+", name)):
            continue
        if re.fullmatch(r"[0-9]", name):
            continue
        raise BadValue(f"variable ${name} is not allowed here")
    return value


def register_setting(key: str, parser: Callable[[str], Any]) -> None:
    """A ConfigMap key an annotation handler reads as its global default."""
    EXTRA_KEYS[key] = parser


def setting(ctx: Ctx, key: str, parser: Callable[[str], Any], default: Any) -> Any:
    """The ConfigMap value of ``key`` (already validated by the settings pass), or ``default``."""
    raw = ctx.settings.raw.get(key)
    if raw is None or raw == "":
        return default
    try:
        return parser(str(raw))
    except BadValue:
        return default


def namespaced_ref(value: str, ing: Ingress, ctx: Ctx, what: str) -> tuple[str, str]:
    """``name`` or ``ns/name``; another namespace only with the ConfigMap's allow-cross-namespace-resources."""
    ns, sep, name = value.partition("/")
    if not sep:
        ns, name = ing.namespace, value
    if not ns or not name or "/" in name:
        raise Denied(f"{value!r} is not a {what} reference (name or namespace/name)")
    if ns != ing.namespace and not setting(ctx, "allow-cross-namespace-resources", _bool, False):
        raise Denied(f"{what} {ns}/{name} is in another namespace (allow-cross-namespace-resources is false)")
    return ns, name


def _bool(v: str) -> bool:
    from ingc.settings import parse_bool

    return parse_bool(v)


register_setting("allow-cross-namespace-resources", _bool)


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

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        pass
