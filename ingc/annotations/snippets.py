"""configuration-snippet, server-snippet, auth-snippet: raw nginx configuration, only with
``--allow-snippet-annotations`` (and ``--annotations-risk-level Critical``, as ingress-nginx 1.12+).

Refused by the engine otherwise.  When allowed, the snippet is parsed as an nginx configuration fragment first:
it must be balanced (it cannot close the block it is pasted into) and may not use a directive ingc never emits
(load_module, include, ssl_engine, perl, *_by_lua, ...); then its statements are pasted into their block -
every location of the Ingress, the host's server (first Ingress wins) or the Ingress's auth subrequest location -
and reported.  Arguments are re-quoted by ingc (same meaning, normalised spelling).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingc import quote
from ingc.annotations.base import Handler, Key, Values, any_value
from ingc.ir import Block, Location
from ingc.settings import BadValue

if TYPE_CHECKING:
    from ingc.annotations.engine import Ctx
    from ingc.ir import Directive, NginxConfig, Server

DEEP_INSPECT = [re.compile(p, re.S) for p in (
    r"\balias\s", r"\broot\s", r"/etc/(passwd|shadow|group|nginx|ingress-controller)", r"/var/run/secrets",
    r"_by_lua")]
FORBIDDEN = {"load_module", "ssl_engine", "include", "perl", "perl_modules", "perl_require", "js_import",
             "js_include", "env", "daemon", "master_process", "user", "pid", "error_log", "working_directory"}


def _arg(token: str, quoted: bool) -> str:
    """A token re-emitted with its meaning: crossplane's lexer keeps escapes except the quote's own."""
    if quoted:
        return '"' + token.replace('"', '\\"') + '"'
    return token


def _statements(tokens: list[tuple[str, int, bool]], pos: int, depth: int) -> tuple[list[Directive | Block], int]:
    out: list[Directive | Block] = []
    words: list[tuple[str, bool]] = []
    while pos < len(tokens):
        tok, _, quoted = tokens[pos]
        pos += 1
        if not quoted and tok.startswith("#"):
            continue
        if not quoted and tok == ";":
            out.append(_directive(words))
            words = []
        elif not quoted and tok == "{":
            name = _name(words)
            body, pos = _statements(tokens, pos, depth + 1)
            out.append(Block(name, tuple(_arg(t, q) for t, q in words[1:]), body))  # type: ignore[arg-type]
            words = []
        elif not quoted and tok == "}":
            if depth == 0 or words:
                raise BadValue("unbalanced '}'")
            return out, pos
        else:
            words.append((tok, quoted))
    if depth or words:
        raise BadValue("unterminated statement or block")
    return out, pos


def _name(words: list[tuple[str, bool]]) -> str:
    if not words or words[0][1]:
        raise BadValue("a statement must start with a directive name")
    name = words[0][0]
    if name in FORBIDDEN or "_by_lua" in name or not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise BadValue(f"directive {name!r} is not allowed in a snippet")
    return name


def _directive(words: list[tuple[str, bool]]) -> Directive:
    return (_name(words), *(_arg(t, q) for t, q in words[1:]))


def parse_snippet(text: str) -> list[Directive | Block]:
    """The snippet's statements; BadValue when it does not parse on its own or uses a forbidden directive."""
    import crossplane

    quote.check_no_control(text.replace("\n", " ").replace("\r", " ").replace("\t", " "))
    for rx in DEEP_INSPECT:  # ingress-nginx's deep inspection (CVE-2021-25742 and follow-ups)
        if rx.search(text):
            raise BadValue(f"refused by deep inspection (matches {rx.pattern!r})")
    fd, path = tempfile.mkstemp(prefix="ingc-snippet-", suffix=".conf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        payload = crossplane.parse(path, single=True, check_ctx=False, check_args=False, comments=False)
        if payload["status"] != "ok":
            err = payload["errors"][0]["error"].replace(path, "snippet")
            raise BadValue(f"does not parse as nginx configuration: {err}")
        tokens = list(crossplane.lex(path))
    finally:
        os.unlink(path)
    stmts, _ = _statements(tokens, 0, 0)
    if not stmts:
        raise BadValue("empty snippet")
    return stmts


@dataclass(frozen=True)
class Snippets:
    location: tuple[Directive | Block, ...] = ()
    server: tuple[Directive | Block, ...] = ()


class SnippetHandler(Handler):
    name = "snippets"
    keys = (
        Key("configuration-snippet", any_value, "raw nginx configuration for every location of the Ingress",
            nginx="pasted into each location (with --allow-snippet-annotations)"),
        Key("server-snippet", any_value, "raw nginx configuration for the host's server (first Ingress wins)",
            scope="server", nginx="pasted into the server (with --allow-snippet-annotations)"),
        Key("auth-snippet", any_value, "raw nginx configuration for the auth-url subrequest location",
            nginx="pasted into the auth location (with --allow-snippet-annotations)"),
        Key("stream-snippet", any_value, "raw nginx configuration for the stream block",
            unsupported="ingc emits no stream block (the stream module is not loaded on stock Debian nginx)",
            restrictive=False),
        Key("modsecurity-snippet", any_value, "ModSecurity rules", unsupported="needs the ModSecurity module",
            restrictive=False),
    )

    def parse(self, v: Values, ctx: Ctx) -> Snippets | None:
        parts: dict[str, tuple[Directive | Block, ...]] = {}
        for key in ("configuration-snippet", "server-snippet", "auth-snippet"):
            text = v.get(key)
            if not text:
                continue
            try:
                parts[key] = tuple(parse_snippet(text))
            except (BadValue, quote.UnsafeValue) as exc:
                ctx.diags.error("A115", f"annotation {key!r}: {exc}; the Ingress is not compiled", loc=v.loc(key),
                                obj=v.ing.ref)
                ctx.note(v.ing.ref, key, "invalid", str(exc))
                raise BadValue(f"{key} refused") from None
            ctx.diags.warning("A114", f"annotation {key!r}: raw nginx configuration pasted verbatim "
                              f"({len(parts[key])} statement(s))", loc=v.loc(key), obj=v.ing.ref)
            ctx.note(v.ing.ref, key, "applied", "snippet: raw nginx configuration pasted verbatim")
        if "auth-snippet" in parts:
            ctx.state[("auth-snippet", v.ing.ref)] = parts["auth-snippet"]
        if not parts.get("configuration-snippet") and not parts.get("server-snippet"):
            return None
        return Snippets(parts.get("configuration-snippet", ()), parts.get("server-snippet", ()))

    def location(self, feature: Snippets, loc: Location, ctx: Ctx) -> None:
        for st in feature.location:
            if isinstance(st, Block):
                loc.blocks.append(st)
            else:
                loc.directives.append(st)
        if feature.location:
            loc.features["snippet"] = True

    def server(self, feature: Snippets, server: Server, ctx: Ctx) -> None:
        if not feature.server:
            return
        ing = ctx.ing
        owner = server.features.get("server_snippet_by")
        who = f"{ing.namespace}/{ing.name}" if ing is not None else "?"
        if owner is not None and owner != who:
            if ing is not None:
                ctx.diags.warning("A121", f"server-snippet for host {server.hostname} is already set by Ingress "
                                  f"{owner}; ignored here", loc=ing.loc("metadata", "annotations"), obj=ing.ref)
                ctx.note(ing.ref, "server-snippet", "ignored", f"host {server.hostname}: set by {owner}")
            return
        server.features["server_snippet_by"] = who
        for st in feature.server:
            if isinstance(st, Block) and st.name == "location":
                server.features.setdefault("snippet_locations", []).append(st)
            elif isinstance(st, Block):
                server.blocks.append(st)
            else:
                server.directives.append(st)

    def finish(self, config: NginxConfig, ctx: Ctx) -> None:
        for srv in config.servers:
            for st in srv.features.get("snippet_locations", []):
                args = [unquote(a) for a in st.args]
                modifier, match = (args[0], args[1]) if len(args) > 1 else ("", args[0])
                loc = Location(match, "Exact", modifier, match, None, internal=True, raw=list(st.directives))
                loc.features["snippet"] = True
                srv.locations.append(loc)


def unquote(a: str) -> str:
    if len(a) >= 2 and a[0] == '"' and a[-1] == '"':
        return a[1:-1].replace('\\"', '"')
    return a
