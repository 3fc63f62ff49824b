"""Balancing: load-balance, upstream-hash-by, service-upstream, and session affinity (affinity: cookie with the
session-cookie-* keys) as a stock-nginx approximation.

Upstream-level: the first Ingress (oldest) that proxies to an upstream decides its balancing, as ingress-nginx;
later different values are reported as ignored.

- load-balance: round_robin is nginx's default; ewma, chash, chashsubset and the sticky modes are Lua balancers
  (ignored with a warning: round robin applies).
- upstream-hash-by: ``hash <key> consistent;`` in the upstream (nginx variables from the allowlist).
- service-upstream: the upstream's only server is the Service's ClusterIP and port.
- affinity cookie: ingress-nginx's Lua balancer picks an endpoint and issues a cookie naming it.  ingc hashes
  the upstream on the cookie (``hash $ingc_aff_key_<id> consistent;``) and issues the cookie itself on a
  request that has none (``Set-Cookie: <name>=<request id>``, the same value the first request was hashed
  on), so a client keeps landing on the same endpoint while the endpoint set does not change.  affinity-mode
  (balanced/persistent), affinity-canary-behavior and session-cookie-change-on-failure have no stock
  equivalent; session-cookie-expires becomes Max-Age.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote
from ingc.annotations.base import (
    BASIC_CHARS,
    FALLBACK,
    URL_IS_VALID,
    Handler,
    Key,
    Values,
    any_value,
    check_variables,
    options,
    regex_value,
    register_setting,
    setting,
)
from ingc.ir import Block
from ingc.names import short_hash
from ingc.settings import BadValue, parse_bool

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Location, NginxConfig, Upstream

ALGORITHMS = ("round_robin", "chash", "chashsubset", "sticky_balanced", "sticky_persistent", "ewma")
STRICT_PATH = re.compile(r"/[A-Za-z0-9._\-/]*")

register_setting("load-balance", options(*ALGORITHMS))
register_setting("service-upstream", parse_bool)


def parse_hash_by(v: str) -> str:
    s = regex_value(r"[A-Za-z0-9\-_${}]*", "an nginx variable expression", strip_spaces=True)(v)
    if not s:
        raise BadValue("empty hash key")
    return check_variables(s)


def parse_expires(v: str) -> int:
    s = v.strip()
    if not re.fullmatch(r"0|-?[1-9]\d{0,9}", s):
        raise BadValue(f"{v!r} is not a number of seconds")
    return int(s)


def upstream_once(up: Upstream, key: str, value: object, ctx: Ctx, annotation: str) -> bool:
    """True when this Ingress decides ``key`` for the upstream (the first one, or the same value again)."""
    ing = ctx.ing
    who = f"{ing.namespace}/{ing.name}" if ing is not None else "?"
    owner = up.features.get(f"{key}_by")
    if owner is None:
        up.features[f"{key}_by"] = who
        up.features[key] = value
        return True
    if owner != who and up.features.get(key) != value and ing is not None:
        ctx.diags.warning("A124", f"{annotation} of upstream {up.name} is already decided by Ingress {owner}; "
                          "ignored here", loc=ing.loc("metadata", "annotations"), obj=ing.ref)
        ctx.note(ing.ref, annotation, "ignored", f"upstream {up.name}: decided by {owner}")
    return False


@dataclass(frozen=True)
class Affinity:
    ident: str
    name: str
    path: str | None
    domain: str
    max_age: int | None
    secure: bool
    samesite: str


@dataclass(frozen=True)
class Balance:
    algorithm: str = "round_robin"
    hash_by: str = ""
    service_upstream: bool = False
    affinity: Affinity | None = None


class BalanceHandler(Handler):
    name = "balance"
    always = True  # the ConfigMap's service-upstream applies to every upstream
    keys = (
        Key("load-balance", options(*ALGORITHMS), "balancing algorithm (round_robin; the others need Lua)",
            scope="upstream", nginx="nothing for round_robin (nginx's default)"),
        Key("upstream-hash-by", parse_hash_by, "consistent hashing key (nginx variables)", scope="upstream",
            nginx="hash <key> consistent; in the upstream"),
        Key("upstream-hash-by-subset", any_value, "hash to a subset of endpoints",
            unsupported="Lua balancer (chashsubset)", restrictive=False),
        Key("upstream-hash-by-subset-size", any_value, "size of the subsets",
            unsupported="Lua balancer (chashsubset)", restrictive=False),
        Key("service-upstream", parse_bool, "proxy to the Service's ClusterIP instead of its endpoints",
            invalid=FALLBACK, scope="upstream", nginx="upstream { server <clusterIP>:<port>; }"),
        Key("affinity", options("cookie"), "sticky sessions by cookie (stock approximation)", invalid=FALLBACK,
            scope="upstream", nginx="hash $ingc_aff_key_<id> consistent; add_header Set-Cookie $ingc_aff_set_<id>"),
        Key("affinity-mode", options("balanced", "persistent"), "how sessions move when endpoints change",
            default="balanced", invalid=FALLBACK, nginx="none: consistent hashing behaves like balanced"),
        Key("affinity-canary-behavior", any_value, "stickiness towards canaries",
            unsupported="Lua balancer: canary selection is per request", restrictive=False),
        Key("session-cookie-name", regex_value(BASIC_CHARS, "a cookie name", strip_spaces=True), "cookie name",
            default="INGRESSCOOKIE", invalid=FALLBACK, nginx="the cookie hashed on and issued"),
        Key("session-cookie-path", regex_value(URL_IS_VALID, "a path", strip_spaces=True), "cookie Path",
            invalid=FALLBACK, nginx="Path=<value> (default: the location path)"),
        Key("session-cookie-domain", regex_value(BASIC_CHARS, "a domain", strip_spaces=True), "cookie Domain",
            invalid=FALLBACK, nginx="Domain=<value>"),
        Key("session-cookie-max-age", parse_expires, "cookie Max-Age (seconds)", invalid=FALLBACK,
            nginx="Max-Age=<n>"),
        Key("session-cookie-expires", parse_expires, "cookie lifetime (seconds)", invalid=FALLBACK,
            nginx="Max-Age=<n> (stock nginx cannot compute an Expires date)"),
        Key("session-cookie-secure", parse_bool, "cookie Secure flag", invalid=FALLBACK, nginx="; Secure"),
        Key("session-cookie-samesite", options("none", "lax", "strict"), "cookie SameSite", invalid=FALLBACK,
            nginx="; SameSite=<value>"),
        Key("session-cookie-conditional-samesite-none", any_value, "omit SameSite=None for old browsers",
            unsupported="needs user-agent detection in Lua", restrictive=False),
        Key("session-cookie-change-on-failure", any_value, "issue a new cookie when the endpoint fails",
            unsupported="Lua balancer", restrictive=False),
    )

    def parse(self, v: Values, ctx: Ctx) -> Balance | None:
        algo = v.get("load-balance") or setting(ctx, "load-balance", options(*ALGORITHMS), "round_robin")
        if algo != "round_robin" and v.has("load-balance"):
            ctx.diags.warning("A102", f"load-balance {algo!r} is a Lua balancer in ingress-nginx; ingc keeps round "
                              "robin", loc=v.loc("load-balance"), obj=v.ing.ref)
            ctx.note(v.ing.ref, "load-balance", "unsupported", f"{algo} needs the Lua balancer; round robin applies")
            algo = "round_robin"
        affinity = None
        if v.get("affinity") == "cookie":
            samesite = v.get("session-cookie-samesite", "")
            affinity = Affinity(
                ident=short_hash(f"{v.ing.namespace}/{v.ing.name}"),
                name=v.get("session-cookie-name") or "INGRESSCOOKIE", path=v.get("session-cookie-path"),
                domain=v.get("session-cookie-domain", ""),
                max_age=v.get("session-cookie-max-age", v.get("session-cookie-expires")),
                secure=bool(v.get("session-cookie-secure", False)),
                samesite={"none": "None", "lax": "Lax", "strict": "Strict"}.get(samesite, ""))
            ctx.diags.info("A127", "affinity: cookie is approximated on stock nginx (consistent hashing on the "
                           "cookie, issued by nginx)", loc=v.loc("affinity"), obj=v.ing.ref)
        b = Balance(algo, v.get("upstream-hash-by", ""),
                    bool(v.get("service-upstream", setting(ctx, "service-upstream", parse_bool, False))), affinity)
        return None if b == Balance() else b

    def upstream(self, feature: Balance, up: Upstream, ctx: Ctx) -> None:
        key = ""
        if feature.affinity is not None:
            key = f"$ingc_aff_key_{feature.affinity.ident}"
        elif feature.hash_by:
            key = feature.hash_by
        if key and upstream_once(up, "hash", key, ctx, "affinity" if feature.affinity else "upstream-hash-by"):
            up.directives.append(("hash", quote.ngx_quote(key), "consistent"))
        if feature.service_upstream and upstream_once(up, "service_upstream", True, ctx, "service-upstream"):
            svc = ctx.inventory.services.get((up.namespace, up.service))
            spec = (svc.data.get("spec") or {}) if svc else {}
            cip = str(spec.get("clusterIP") or "")
            port = next((p.get("port") for p in spec.get("ports") or []
                         if str(p.get("port")) == up.port or p.get("name") == up.port
                         or str(p.get("targetPort", "")) == up.port), None)
            if cip and cip != "None" and isinstance(port, int):
                up.servers = [f"[{cip}]:{port}" if ":" in cip else f"{cip}:{port}"]
                up.kind = "cluster-ip"
            else:
                ing = ctx.ing
                ctx.diags.warning("A124", f"service-upstream: service {up.namespace}/{up.service} has no ClusterIP "
                                  "and port; its endpoints are used", obj=ing.ref if ing else None,
                                  loc=ing.loc("metadata", "annotations") if ing else None)

    def location(self, feature: Balance, loc: Location, ctx: Ctx) -> None:
        a = feature.affinity
        if a is None or loc.upstream is None:
            return
        path = a.path or (loc.path if STRICT_PATH.fullmatch(loc.path) else "/")
        attrs = f"; Path={path}"
        if a.domain:
            attrs += f"; Domain={a.domain}"
        if a.max_age is not None:
            attrs += f"; Max-Age={a.max_age}"
        if a.secure:
            attrs += "; Secure"
        if a.samesite:
            attrs += f"; SameSite={a.samesite}"
        attrs += "; HttpOnly"
        cookies: dict[str, tuple[Affinity, str]] = ctx.state.setdefault("affinity", {})
        set_id = short_hash(a.ident + attrs)
        cookies[set_id] = (a, attrs)
        loc.directives.append(("add_header", "Set-Cookie", f"$ingc_aff_set_{set_id}"))
        loc.features["affinity"] = {"cookie": a.name, "approximation": "consistent hash on the cookie"}

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        algo = setting(ctx, "load-balance", options(*ALGORITHMS), "round_robin")
        if algo != "round_robin":
            ctx.diags.warning("A102", f"ConfigMap load-balance {algo!r} is a Lua balancer in ingress-nginx; ingc "
                              "keeps round robin")
        cookies: dict[str, tuple[Affinity, str]] = ctx.state.get("affinity", {})
        done: set[str] = set()
        for set_id in sorted(cookies):
            a, attrs = cookies[set_id]
            value, key = f"$ingc_aff_v_{a.ident}", f"$ingc_aff_key_{a.ident}"
            if a.ident not in done:
                done.add(a.ident)
                rx = f"~(?:^|;\\s*){re.escape(a.name)}=(?<ingc_aff_c_{a.ident}>[^;]+)"
                config.http_blocks += [
                    Block("map", ("$http_cookie", value), [("default", '""'),
                                                           (quote.ngx_quote(rx), f"$ingc_aff_c_{a.ident}")]),
                    Block("map", (value, key), [('""', "$request_id"), ("default", value)]),
                ]
            config.http_blocks.append(Block("map", (value, f"$ingc_aff_set_{set_id}"), [
                ('""', quote.literal(f"{a.name}=") [:-1] + '$request_id' + quote.literal(attrs)[1:]),
                ("default", '""')]))
