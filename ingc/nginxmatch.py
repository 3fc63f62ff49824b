"""A model of nginx's own request routing: URI normalisation, virtual server selection by Host, and
location selection (exact, longest prefix, regexes in file order, automatic 301).

It reads what the renderer prints (prepared ``server_name`` arguments, location modifiers and match
strings) and decides the way nginx 1.22 does (``ngx_http_parse_complex_uri``,
``ngx_http_find_virtual_server``, ``ngx_http_core_find_location``).  It knows nothing of Kubernetes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ingc.ir import Location, Server


class BadRequest(ValueError):
    """nginx would answer 400 before any server or location is chosen."""


# --- tokens -----------------------------------------------------------------------------------

def unquote(token: str) -> str:
    """One nginx argument as nginx reads it: surrounding quotes removed, ``\\"`` and ``\\\\`` unescaped."""
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        body = token[1:-1]
        out: list[str] = []
        i = 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body) and body[i + 1] in "\"'\\":
                out.append(body[i + 1])
                i += 2
                continue
            out.append(c)
            i += 1
        return "".join(out)
    return token


def pcre_to_python(pattern: str) -> str:
    """The PCRE constructs the compiler emits, in Python ``re`` syntax (named groups)."""
    return re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)


def compile_regex(pattern: str, caseless: bool) -> re.Pattern[str] | None:
    try:
        return re.compile(pcre_to_python(pattern), re.IGNORECASE if caseless else 0)
    except re.error:
        return None


# --- URIs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A request target split the way nginx splits it."""

    raw: str  # $request_uri: exactly as sent
    uri: str  # $uri: decoded and normalised
    args: str  # $args: after the first '?'
    has_args: bool  # a '?' was present (even with empty args)


def _pct_decode(path: str) -> str:
    out = bytearray()
    raw = path.encode("utf-8", errors="surrogateescape")
    i = 0
    while i < len(raw):
        b = raw[i]
        if b == 0x25 and re.fullmatch(rb"[0-9A-Fa-f]{2}", raw[i + 1:i + 3]):
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
            continue
        out.append(b)
        i += 1
    return out.decode("utf-8", errors="surrogateescape")


def normalize_uri(raw: str, merge_slashes: bool = True) -> Target:
    """nginx's $uri for a request target: percent-decoded, ``//`` merged, ``.`` and ``..`` resolved."""
    if not raw.startswith("/"):
        raise BadRequest(f"request target {raw!r} does not start with '/'")
    path, sep, args = raw.partition("?")
    if re.search(r"%(?![0-9A-Fa-f]{2})", path):
        raise BadRequest(f"invalid percent-encoding in {path!r}")
    decoded = _pct_decode(path)
    if "\x00" in decoded:
        raise BadRequest("NUL in the URI")
    if merge_slashes:
        decoded = re.sub(r"/{2,}", "/", decoded)
    segments: list[str] = []
    parts = decoded.split("/")[1:]
    for i, seg in enumerate(parts):
        last = i == len(parts) - 1
        if seg == ".":
            if last:
                segments.append("")
            continue
        if seg == "..":
            if not segments:
                raise BadRequest(f"{path!r} climbs above the root")
            segments.pop()
            if last:
                segments.append("")
            continue
        segments.append(seg)
    uri = "/" + "/".join(segments)
    return Target(raw, uri, args, bool(sep))


# nginx's NGX_ESCAPE_URI set: what proxy_pass escapes when it sends a rewritten $uri.
def escape_uri(uri: str) -> str:
    out: list[str] = []
    for b in uri.encode("utf-8", errors="surrogateescape"):
        if b <= 0x20 or b >= 0x7F or chr(b) in "#%?":
            out.append(f"%{b:02X}")
        else:
            out.append(chr(b))
    return "".join(out)


# --- hosts --------------------------------------------------------------------------------------

HOST_CHARS = re.compile(r"^[^\x00-\x20/\\\x7f]*$")


def request_host(host_header: str | None) -> str | None:
    """``$host`` from a Host header as ``ngx_http_validate_host`` leaves it (lower case, no port, no
    trailing dot); ``None`` when there is no Host; raises ``BadRequest`` for an invalid one."""
    if host_header is None:
        return None
    h = host_header.strip()
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            raise BadRequest(f"invalid Host {host_header!r}")
        name = h[:end + 1]
    else:
        name = h.split(":", 1)[0] if h.count(":") <= 1 else h
    if not HOST_CHARS.match(name) or ".." in name or name.startswith("."):
        raise BadRequest(f"invalid Host {host_header!r}")
    name = name.rstrip(".") if name.endswith(".") else name
    if not name:
        raise BadRequest(f"invalid Host {host_header!r}")
    return name.lower()


@dataclass
class NameEntry:
    server: Server
    arg: str  # the server_name argument as written in nginx.conf
    kind: str  # exact | wildcard-head | wildcard-tail | regex
    value: str  # the name or the regex (unquoted, '~' removed)
    order: int  # position in the file (servers in order, names in order)
    regex: re.Pattern[str] | None = None


@dataclass
class NameCheck:
    entry: NameEntry
    matched: bool
    note: str


@dataclass
class ServerChoice:
    server: Server | None
    by: str  # exact | wildcard | regex | default | no-host
    name: str  # the server_name that matched ("" for the default server)
    host: str | None
    checks: list[NameCheck] = field(default_factory=list)


def server_names(servers: list[Server]) -> list[NameEntry]:
    """Every server_name of the config, in file order, classified as nginx classifies it."""
    out: list[NameEntry] = []
    order = 0
    for srv in servers:
        args = srv.server_name_args or [f'"{n}"' for n in [srv.hostname, *srv.aliases]]
        for arg in args:
            name = unquote(arg)
            order += 1
            if name.startswith("~"):
                pattern = name[1:]
                caseless = any("A" <= c <= "Z" for c in pattern)
                out.append(NameEntry(srv, arg, "regex", pattern, order, compile_regex(pattern, caseless)))
            elif name.startswith("*.") or name.startswith("."):
                out.append(NameEntry(srv, arg, "wildcard-head", name.lower(), order))
                if name.startswith("."):
                    out.append(NameEntry(srv, arg, "exact", name[1:].lower(), order))
            elif name.endswith(".*"):
                out.append(NameEntry(srv, arg, "wildcard-tail", name.lower(), order))
            else:
                out.append(NameEntry(srv, arg, "exact", name.lower(), order))
    return out


def _head_match(pattern: str, host: str) -> bool:
    suffix = pattern[1:] if pattern.startswith("*") else pattern  # ".example.com"
    return host.endswith(suffix) and len(host) > len(suffix)


def _tail_match(pattern: str, host: str) -> bool:
    prefix = pattern[:-1]  # "mail."
    return host.startswith(prefix) and len(host) > len(prefix)


def default_server(servers: list[Server]) -> Server | None:
    for srv in servers:
        if srv.is_default:
            return srv
    return servers[0] if servers else None


def select_server(servers: list[Server], host: str | None) -> ServerChoice:
    """nginx's choice: exact name, longest leading wildcard, longest trailing wildcard, first regex in
    file order, else the default server of the listening port."""
    entries = server_names(servers)
    if host is None:
        return ServerChoice(default_server(servers), "no-host", "", None,
                            [NameCheck(e, False, "no Host: names are not consulted") for e in entries])
    checks: list[NameCheck] = []
    exact = [e for e in entries if e.kind == "exact" and e.value == host]
    heads = sorted((e for e in entries if e.kind == "wildcard-head" and _head_match(e.value, host)),
                   key=lambda e: -len(e.value))
    tails = sorted((e for e in entries if e.kind == "wildcard-tail" and _tail_match(e.value, host)),
                   key=lambda e: -len(e.value))
    regex_hit: NameEntry | None = None
    for e in entries:
        if e.kind == "regex" and e.regex is not None and e.regex.search(host) and regex_hit is None:
            regex_hit = e
    winner: NameEntry | None = exact[0] if exact else heads[0] if heads else tails[0] if tails else regex_hit
    by = "exact" if exact else "wildcard" if heads or tails else "regex" if regex_hit else "default"
    for e in entries:
        if e is winner:
            note = {"exact": "exact name", "wildcard": "longest wildcard name",
                    "regex": "first regular expression (file order) that matches"}[by]
            checks.append(NameCheck(e, True, note))
            continue
        if e.kind == "exact":
            checks.append(NameCheck(e, e.value == host, "same name listed earlier" if e.value == host
                                    else "different name"))
        elif e.kind in ("wildcard-head", "wildcard-tail"):
            hit = e in heads or e in tails
            checks.append(NameCheck(e, hit, "shorter wildcard" if hit and by == "wildcard"
                                    else "lost to an exact name" if hit else "wildcard does not cover the host"))
        else:
            hit = e.regex is not None and bool(e.regex.search(host))
            if e.regex is None:
                note = "regular expression not understood by this model"
            elif not hit:
                note = "regular expression does not match"
            elif by in ("exact", "wildcard"):
                note = f"matches, but {by} names are checked before regular expressions"
            else:
                note = "matches, but a regular expression earlier in the file matched first"
            checks.append(NameCheck(e, hit, note))
    if winner is None:
        return ServerChoice(default_server(servers), "default", "", host, checks)
    return ServerChoice(winner.server, by, unquote(winner.arg), host, checks)


# --- locations ----------------------------------------------------------------------------------

@dataclass
class Candidate:
    location: Location
    rank: int
    kind: str  # exact | prefix | regex
    matched: bool
    chosen: bool
    note: str
    captures: tuple[str | None, ...] = ()


@dataclass
class LocationChoice:
    location: Location | None
    candidates: list[Candidate]
    auto_redirect: bool = False  # nginx answers 301 to the slash-terminated location name
    captures: tuple[str | None, ...] = ()
    named: dict[str, str | None] = field(default_factory=dict)


def location_kind(loc: Location) -> str:
    return {"=": "exact", "": "prefix", "^~": "prefix", "~": "regex", "~*": "regex"}.get(loc.modifier, "prefix")


def ranked(locations: list[Location]) -> list[tuple[int, Location]]:
    """Locations in nginx's precedence: exact, then regexes in file order, then prefixes longest first.

    Among the locations that match a URI, nginx serves the one with the lowest rank (except for the
    automatic 301, see ``select_location``)."""
    locations = [lo for lo in locations if not lo.match.startswith("@")]
    exact = [lo for lo in locations if lo.modifier == "="]
    regex = [lo for lo in locations if lo.modifier in ("~", "~*")]
    prefix = sorted((lo for lo in locations if lo.modifier in ("", "^~")), key=lambda lo: -len(lo.match))
    stop = [lo for lo in prefix if lo.modifier == "^~"]
    plain = [lo for lo in prefix if lo.modifier != "^~"]
    order = exact + stop + regex + plain
    return [(i + 1, lo) for i, lo in enumerate(order)]


def auto_redirects(loc: Location) -> bool:
    """nginx sets auto_redirect on a location whose name ends in '/' and that proxy_passes."""
    if loc.modifier not in ("=", "", "^~") or not loc.match.endswith("/"):
        return False
    return loc.status is None and bool(loc.upstream or loc.proxy_target)


def select_location(locations: list[Location], uri: str) -> LocationChoice:
    locations = [lo for lo in locations if not lo.match.startswith("@")]  # named: never matched by URI
    order = ranked(locations)
    exact = next((lo for lo in locations if lo.modifier == "=" and lo.match == uri), None)
    prefixes = [lo for lo in locations if lo.modifier in ("", "^~") and uri.startswith(lo.match)]
    longest = max(prefixes, key=lambda lo: len(lo.match)) if prefixes else None
    redirect: Location | None = None
    if exact is None:
        # nginx keeps one tree node per name (exact and prefix joined); the node redirects when either
        # of its locations proxies, and the redirect is answered with the exact location's settings.
        node = [lo for lo in locations if lo.modifier in ("=", "", "^~") and lo.match == uri + "/"]
        if any(auto_redirects(lo) for lo in node):
            redirect = next((lo for lo in node if lo.modifier == "="), node[0])
    regex_first: Location | None = None
    regex_caps: tuple[str | None, ...] = ()
    regex_named: dict[str, str | None] = {}
    evaluate_regex = exact is None and redirect is None and not (longest is not None and longest.modifier == "^~")
    matches: dict[int, re.Match[str] | None] = {}
    for lo in locations:
        if lo.modifier in ("~", "~*"):
            rx = compile_regex(lo.match, lo.modifier == "~*")
            m = rx.search(uri) if rx is not None else None
            matches[id(lo)] = m
            if evaluate_regex and m is not None and regex_first is None:
                regex_first = lo
                regex_caps = m.groups()
                regex_named = m.groupdict()
    if exact is not None:
        chosen: Location | None = exact
    elif redirect is not None:
        chosen = redirect
    elif regex_first is not None:
        chosen = regex_first
    else:
        chosen = longest
    cands: list[Candidate] = []
    for rank, lo in order:
        kind = location_kind(lo)
        is_chosen = lo is chosen
        if kind == "exact":
            matched = lo.match == uri
            if is_chosen and redirect is lo:
                note = "URI is this exact location's name without its trailing '/': nginx answers 301"
            elif is_chosen:
                note = "exact match: nginx stops searching"
            else:
                note = "matches exactly, but an earlier location won" if matched else "URI is not exactly this path"
        elif kind == "prefix":
            matched = uri.startswith(lo.match)
            if is_chosen and redirect is lo:
                note = "URI is this prefix without its trailing '/' and the location proxies: nginx answers 301"
            elif is_chosen:
                note = "longest matching prefix, and no regular expression matched"
            elif not matched:
                note = "not a prefix of the URI"
            elif exact is not None:
                note = "prefix matches, but an exact location matched"
            elif redirect is not None:
                note = "prefix matches, but nginx redirects to the slash-terminated location"
            elif lo is not longest:
                note = f"prefix matches, but {longest.match!r} is longer" if longest else "prefix matches"
            else:
                note = "longest matching prefix, but a regular expression matched (regexes win over prefixes)"
        else:
            m = matches.get(id(lo))
            matched = m is not None
            if is_chosen:
                note = "first regular expression (file order) that matches"
            elif exact is not None:
                note = "not evaluated: an exact location matched first"
            elif redirect is not None:
                note = "not evaluated: nginx answers the automatic 301 first"
            elif longest is not None and longest.modifier == "^~":
                note = "not evaluated: the longest prefix is ^~"
            elif regex_first is not None and matched:
                note = "matches, but an earlier regular expression matched first"
            elif compile_regex(lo.match, lo.modifier == "~*") is None:
                note = "regular expression not understood by this model"
            else:
                note = "regular expression does not match" + (" (case-insensitive)" if lo.modifier == "~*" else "")
        hit = matches.get(id(lo)) if kind == "regex" else None
        caps = tuple(hit.groups()) if hit is not None else ()
        cands.append(Candidate(lo, rank, kind, matched, is_chosen, note, caps))
    return LocationChoice(chosen, cands, redirect is not None, regex_caps if chosen is regex_first else (),
                          regex_named if chosen is regex_first else {})
