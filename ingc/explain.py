"""`ingc explain`: what nginx does with one request, read from the prepared IR the renderer prints.

Server and location selection come from ``ingc.nginxmatch``; then the location's prepared body (the
directives nginx runs: rewrite-phase ``set``/``if``/``return``/``rewrite``, access-phase ``allow``/
``deny``/``auth_basic``/``auth_request``, content-phase ``proxy_pass``) is interpreted with nginx's phase
order, and ``map``/``geo`` variables are evaluated the way nginx evaluates them.  Nothing here looks at a
manifest.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from ingc.ir import Block, Directive, Location, NginxConfig, Server
from ingc.nginxmatch import (
    BadRequest,
    LocationChoice,
    ServerChoice,
    Target,
    compile_regex,
    escape_uri,
    normalize_uri,
    request_host,
    select_location,
    select_server,
    unquote,
)

REDIRECT_CODES = (301, 302, 303, 307, 308)
VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([1-9])|([A-Za-z_][A-Za-z0-9_]*))")
MAX_CYCLES = 10  # nginx: "rewrite or internal redirection cycle" after 10 URI changes


class UsageError(ValueError):
    """The URL or an option cannot describe a request."""


@dataclass
class Request:
    scheme: str  # http | https
    port: int
    target: str  # request target as sent: path and query
    host_header: str | None
    method: str = "GET"
    headers: list[tuple[str, str]] = field(default_factory=list)  # without Host
    client_ip: str = "127.0.0.1"
    url: str = ""
    backend_status: int | None = None  # what-if: the status the backend answers (custom-http-errors)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        if lname == "host":
            return self.host_header
        vals = [v for k, v in self.headers if k.lower() == lname]
        if not vals:
            return None
        return ", ".join(vals) if lname != "cookie" else "; ".join(vals)

    def as_dict(self) -> dict[str, Any]:
        return {"url": self.url, "scheme": self.scheme, "port": self.port, "target": self.target,
                "host": self.host_header, "method": self.method,
                "headers": [[k, v] for k, v in self.headers], "client_ip": self.client_ip,
                "backend_status": self.backend_status}


def parse_request(url: str, method: str = "GET", headers: list[str] | tuple[str, ...] = (),
                  cookies: list[str] | tuple[str, ...] = (), client_ip: str = "127.0.0.1",
                  backend_status: int | None = None) -> Request:
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^#]*)", url)
    if not m:
        raise UsageError(f"{url!r} is not an http:// or https:// URL")
    scheme = m.group(1).lower()
    if scheme not in ("http", "https"):
        raise UsageError(f"{url!r}: only http and https URLs can be explained")
    netloc = m.group(2).rpartition("@")[2]
    target = m.group(3) or "/"
    if target.startswith("?"):
        target = "/" + target
    port = 443 if scheme == "https" else 80
    pm = re.search(r":(\d*)$", netloc) if not netloc.endswith("]") else None
    if pm:
        if pm.group(1):
            port = int(pm.group(1))
            if not 0 < port < 65536:
                raise UsageError(f"{url!r}: port {port} is out of range")
    host: str | None = netloc or None
    hdrs: list[tuple[str, str]] = []
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep or not name.strip() or re.search(r"\s", name.strip()):
            raise UsageError(f"header {h!r} is not 'Name: value'")
        if name.strip().lower() == "host":
            host = value.strip()
            continue
        hdrs.append((name.strip(), value.strip()))
    if cookies:
        hdrs.append(("Cookie", "; ".join(c.strip() for c in cookies)))
    try:
        ipaddress.ip_address(client_ip)
    except ValueError:
        raise UsageError(f"--client-ip {client_ip!r} is not an IP address") from None
    return Request(scheme, port, target, host, method.upper(), hdrs, client_ip, url, backend_status)


@dataclass
class Outcome:
    action: str  # proxy | redirect | return | deny | auth | error | refused
    status: int | None  # None: the backend answers
    reason: str
    location_header: str | None = None
    upstream: str | None = None
    endpoints: list[str] = field(default_factory=list)
    backend_uri: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "status": self.status, "reason": self.reason,
                "location": self.location_header, "upstream": self.upstream, "endpoints": self.endpoints,
                "backend_uri": self.backend_uri, "headers": self.headers}


@dataclass
class Explanation:
    request: Request
    host: str | None
    server: ServerChoice | None
    choice: LocationChoice | None
    outcome: Outcome
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def location(self) -> Location | None:
        return self.choice.location if self.choice else None


# --- variables ------------------------------------------------------------------------------------

class Variables:
    """nginx variables for one request: built-ins, ``set``, ``map`` and ``geo`` (lazily, like nginx)."""

    def __init__(self, cfg: NginxConfig, req: Request, target: Target, host: str | None, server: Server | None):
        self.cfg = cfg
        self.req = req
        self.target = target
        self.host = host
        self.server = server
        self.uri = target.uri
        self.args = target.args
        self.has_args = target.has_args
        self.rewritten = False
        self.captures: tuple[str | None, ...] = ()
        self.named: dict[str, str | None] = {}
        self.set: dict[str, str] = {}
        self.unknown: set[str] = set()
        self.maps: dict[str, Block] = {}
        self.notes: list[str] = []
        self.evaluated: dict[str, str] = {}  # map/geo/split_clients variables, in evaluation order
        for b in cfg.http_blocks:
            if b.name in ("map", "geo", "split_clients") and b.args:
                self.maps[b.args[-1].lstrip("$")] = b

    def capture(self, m: re.Match[str]) -> None:
        self.captures = m.groups()
        self.named.update(m.groupdict())

    def get(self, name: str) -> str:
        if name.isdigit():
            i = int(name)
            return (self.captures[i - 1] or "") if 0 < i <= len(self.captures) else ""
        if name in self.set:
            return self.set[name]
        if name in self.named:
            return self.named[name] or ""
        req = self.req
        builtin: dict[str, str | None] = {
            "scheme": req.scheme,
            "https": "on" if req.scheme == "https" else "",
            "host": self.host if self.host is not None else (self.server.hostname if self.server else ""),
            "request_uri": self.target.raw,
            "uri": self.uri,
            "document_uri": self.uri,
            "args": self.args,
            "query_string": self.args,
            "is_args": "?" if self.args else "",
            "remote_addr": req.client_ip,
            "binary_remote_addr": req.client_ip,
            "request_method": req.method,
            "server_port": str(req.port),
            "server_name": self.server.hostname if self.server else "",
            "request_id": "<request_id>",
        }
        if name in builtin:
            return builtin[name] or ""
        if name.startswith("http_"):
            return self.req.header(name[5:].replace("_", "-")) or ""
        if name.startswith("cookie_"):
            return self.cookie(name[7:]) or ""
        if name.startswith("arg_"):
            for part in self.args.split("&"):
                k, _, v = part.partition("=")
                if k.lower() == name[4:].lower():
                    return v
            return ""
        if name in self.maps:
            value = self.map_value(self.maps[name])
            self.evaluated[name] = value
            return value
        self.unknown.add(name)
        return ""

    def cookie(self, name: str) -> str | None:
        raw = self.req.header("cookie")
        if raw is None:
            return None
        for part in re.split(r";\s*", raw):
            k, sep, v = part.partition("=")
            if sep and k.strip() == name:
                return v
        return None

    def expand(self, token: str) -> str:
        text = unquote(token)
        return VAR.sub(lambda m: self.get(m.group(1) or m.group(2) or m.group(3)), text)

    def map_value(self, block: Block) -> str:
        if block.name == "geo":
            return self.geo_value(block)
        if block.name == "split_clients":
            return self.split_value(block)
        source = self.expand(block.args[0])
        default = ""
        hostnames = False
        exact: dict[str, str] = {}
        regexes: list[tuple[re.Pattern[str] | None, str]] = []
        for d in block.directives:
            if not d:
                continue
            key = unquote(d[0])
            val = d[1] if len(d) > 1 else '""'
            if len(d) == 1 and key == "hostnames":
                hostnames = True
                continue
            if len(d) == 1 and key == "volatile":
                continue
            if d[0] == "default":
                default = val
            elif key.startswith("~*"):
                regexes.append((compile_regex(key[2:], True), val))
            elif key.startswith("~"):
                regexes.append((compile_regex(key[1:], False), val))
            else:
                exact[key.lower()] = val
        probe = source.lower()
        if hostnames:
            probe = probe.rstrip(".")
        if probe in exact:
            return self.expand(exact[probe])
        for rx, val in regexes:
            m = rx.search(source) if rx is not None else None
            if m is not None:
                self.capture(m)
                return self.expand(val)
        return self.expand(default)

    def split_value(self, block: Block) -> str:
        """split_clients hashes its key (here random per request): the likeliest share is shown."""
        shares: list[tuple[float, str]] = []
        used = 0.0
        for d in block.directives:
            if len(d) < 2:
                continue
            key = unquote(d[0])
            if key == "*":
                shares.append((-1.0, d[1]))
            elif key.endswith("%"):
                try:
                    pct = float(key[:-1])
                except ValueError:
                    continue
                used += pct
                shares.append((pct, d[1]))
        resolved = [(max(0.0, 100.0 - used) if pct < 0 else pct, val) for pct, val in shares]
        if not resolved:
            return ""
        pct, val = max(resolved, key=lambda pv: pv[0])
        if sum(1 for p, _ in resolved if p > 0) > 1:
            parts = ", ".join(f"{p:g}% -> {self.expand(v)}" for p, v in resolved)
            self.notes.append(f"split_clients {block.args[0]} ${block.args[-1].lstrip('$')}: {parts} (decided per "
                              f"request; the likelier, {pct:g}%, is shown)")
        return self.expand(val)

    def geo_value(self, block: Block) -> str:
        src = self.expand(block.args[0]) if len(block.args) > 1 else self.req.client_ip
        default = ""
        best: tuple[int, str] | None = None
        try:
            addr = ipaddress.ip_address(src)
        except ValueError:
            addr = None
        for d in block.directives:
            if len(d) < 2:
                continue
            key, val = unquote(d[0]), unquote(d[1])
            if key == "default":
                default = val
                continue
            try:
                net = ipaddress.ip_network(key, strict=False)
            except ValueError:
                continue
            if addr is not None and addr.version == net.version and addr in net:
                if best is None or net.prefixlen > best[0]:
                    best = (net.prefixlen, val)
        return best[1] if best else default


# --- the interpreter ------------------------------------------------------------------------------

Item = Directive | Block
TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|[{};]|[^\s{};"\']+')


def parse_text(text: str) -> list[Item]:
    """Pre-printed nginx text (the prepare pass keeps shared proxy settings as text) as directives."""
    stack: list[tuple[list[Item], list[str]]] = [([], [])]
    for tok in TOKEN.findall(text):
        items, words = stack[-1]
        if tok == ";":
            if words:
                items.append(tuple(words))
            words.clear()
        elif tok == "{":
            stack.append(([], list(words)))
            words.clear()
        elif tok == "}" and len(stack) > 1:
            body, head = stack.pop()
            stack[-1][0].append(Block(head[0] if head else "", tuple(head[1:]), [d for d in body
                                                                                if not isinstance(d, Block)]))
        else:
            words.append(tok)
    return stack[0][0]


def body_items(items: Any) -> list[Item]:
    """A prepared body as directive tuples and Blocks, whatever mix of text the prepare pass left."""
    out: list[Item] = []
    for it in items or []:
        if isinstance(it, Block):
            out.append(it)
        elif isinstance(it, str):
            out += parse_text(it)
        elif isinstance(it, tuple):
            out.append(it)
    return out


@dataclass
class Flow:
    outcome: Outcome | None = None
    stop: bool = False  # `break`, or `rewrite ... break`
    research: bool = False  # the URI changed without `break`: find the location again
    content: list[Item] = field(default_factory=list)  # directives of an `if` that became current


def split_condition(args: tuple[str, ...]) -> list[str]:
    text = " ".join(args).strip()
    if text.startswith("("):
        text = text[1:]
    if text.endswith(")"):
        text = text[:-1]
    tokens: list[str] = []
    for m in re.finditer(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|\S+', text):
        tokens.append(m.group(0))
    return tokens


class Interpreter:
    def __init__(self, cfg: NginxConfig, req: Request, vars_: Variables, steps: list[str], notes: list[str]):
        self.cfg = cfg
        self.req = req
        self.vars = vars_
        self.steps = steps
        self.notes = notes

    def condition(self, args: tuple[str, ...]) -> bool | None:
        t = split_condition(args)
        if len(t) == 1:
            v = self.vars.expand(t[0])
            return v not in ("", "0")
        if len(t) == 3:
            left = self.vars.expand(t[0])
            op, right = t[1], t[2]
            if op in ("=", "!="):
                eq = left == self.vars.expand(right)
                return eq if op == "=" else not eq
            if op in ("~", "~*", "!~", "!~*"):
                rx = compile_regex(unquote(right), op.endswith("*"))
                if rx is None:
                    return None
                m = rx.search(left)
                if m is not None and not op.startswith("!"):
                    self.vars.capture(m)
                return (m is not None) != op.startswith("!")
        return None

    def redirect_target(self, url: str, items: list[Item]) -> str:
        if url.startswith("/") and self.absolute_redirect(items):
            host = self.vars.host if self.vars.host is not None else (
                self.vars.server.hostname if self.vars.server else "")
            return f"{self.req.scheme}://{host}{url}"
        return url

    def absolute_redirect(self, items: list[Item]) -> bool:
        value = "on"
        for d in self.cfg.http_directives:
            if d[:1] == ("absolute_redirect",) and len(d) > 1:
                value = d[1]
        for it in items:
            if not isinstance(it, Block) and it[:1] == ("absolute_redirect",) and len(it) > 1:
                value = it[1]
        return value != "off"

    def do_return(self, d: Directive, items: list[Item]) -> Outcome:
        args = d[1:]
        if len(args) == 1 and not args[0].isdigit():
            url = self.vars.expand(args[0])
            return Outcome("redirect", 302, f"`return {args[0]}`", self.redirect_target(url, items))
        code = int(args[0]) if args and args[0].isdigit() else 500
        text = self.vars.expand(args[1]) if len(args) > 1 else None
        if code in REDIRECT_CODES:
            loc = self.redirect_target(text, items) if text is not None else None
            return Outcome("redirect", code, f"`{' '.join(d)}`", loc)
        if code == 444:
            return Outcome("return", None, "`return 444`: nginx closes the connection without a response")
        return Outcome("return", code, f"`{' '.join(d)}`")

    def do_rewrite(self, d: Directive, items: list[Item]) -> Flow:
        pattern = unquote(d[1]) if len(d) > 1 else ""
        replacement = d[2] if len(d) > 2 else '""'
        flag = d[3] if len(d) > 3 else ""
        rx = compile_regex(pattern, False)
        if rx is None:
            self.notes.append(f"rewrite regex {pattern!r} is not understood by this model; URI left as is")
            return Flow()
        m = rx.search(self.vars.uri)
        if m is None:
            self.steps.append(f"rewrite {d[1]}: does not match {self.vars.uri!r}; URI unchanged")
            return Flow()
        self.vars.capture(m)
        raw_rep = unquote(replacement)
        new = self.vars.expand(replacement)
        keep_args = True
        if raw_rep.endswith("?"):
            new, keep_args = new[:-1], False
        if re.match(r"^(https?://|\$scheme)", raw_rep) or flag in ("redirect", "permanent"):
            code = 301 if flag == "permanent" else 302
            url = new
            if keep_args and self.vars.args:
                url += ("&" if "?" in url else "?") + self.vars.args
            return Flow(Outcome("redirect", code, f"`{' '.join(d)}`", self.redirect_target(url, items)))
        if "?" in new:
            new, _, extra = new.partition("?")
            self.vars.args = extra + ("&" + self.vars.args if keep_args and self.vars.args else "")
        elif not keep_args:
            self.vars.args = ""
        if not new:
            self.steps.append(f"rewrite {d[1]} {replacement}: the rewritten URI is empty")
            return Flow(Outcome("error", 500, "the rewritten URI has a zero length (nginx answers 500)"))
        self.steps.append(f"rewrite {d[1]} {replacement} {flag}".rstrip() + f": URI {self.vars.uri!r} -> {new!r}")
        self.vars.uri = new
        self.vars.rewritten = True  # nginx no longer sends the request's own URI (valid_unparsed_uri = 0)
        if flag == "break":
            return Flow(stop=True)
        return Flow(research=True, stop=flag == "last")

    def rewrite_phase(self, items: list[Item], where: str) -> Flow:
        flow = Flow()
        for it in items:
            if isinstance(it, Block):
                if it.name != "if":
                    continue
                cond = self.condition(it.args)
                shown = " ".join(it.args)
                if cond is None:
                    self.notes.append(f"{where}: condition `if {shown}` is not understood by this model; "
                                      "taken as false")
                    continue
                if not cond:
                    continue
                self.steps.append(f"{where}: `if {shown}` is true")
                inner = self.rewrite_phase(list(it.directives), where)
                flow.content = list(it.directives)
                if inner.outcome is not None or inner.stop:
                    inner.content = flow.content
                    return inner
                flow.research = flow.research or inner.research
                continue
            name = it[0] if it else ""
            if name == "set" and len(it) >= 3:
                self.vars.set[it[1].lstrip("$")] = self.vars.expand(it[2])
            elif name == "return":
                out = self.do_return(it, items)
                self.steps.append(f"{where}: {out.reason} answers {out.status if out.status else 'nothing'}"
                                  + (f" with Location {out.location_header}" if out.location_header else ""))
                return Flow(out)
            elif name == "rewrite":
                res = self.do_rewrite(it, items)
                if res.outcome is not None or res.stop:
                    return res
                flow.research = flow.research or res.research
            elif name == "break":
                return Flow(stop=True)
        return flow

    def access_phase(self, items: list[Item], loc: Location) -> Outcome | None:
        satisfy = "all"
        rules: list[tuple[str, str]] = []
        basic: str | None = None
        basic_file = ""
        auth_request: str | None = None
        for it in items:
            if isinstance(it, Block):
                continue
            name = it[0] if it else ""
            if name == "satisfy" and len(it) > 1:
                satisfy = it[1]
            elif name in ("allow", "deny") and len(it) > 1:
                rules.append((name, unquote(it[1])))
            elif name == "auth_basic" and len(it) > 1:
                basic = None if it[1] == "off" else self.vars.expand(it[1])
            elif name == "auth_basic_user_file" and len(it) > 1:
                basic_file = unquote(it[1])
            elif name == "auth_request" and len(it) > 1:
                auth_request = None if it[1] == "off" else unquote(it[1])
            elif name in ("limit_req", "limit_conn"):
                self.notes.append(f"`{' '.join(it)}`: requests over the limit are rejected (503 by default, "
                                  "limit_req_status/limit_conn_status); a single request passes")
        access_ok = True
        if rules:
            verdict = self.access_rules(rules)
            access_ok = verdict
        auth_out: Outcome | None = None
        if basic is not None:
            creds = self.req.header("authorization")
            if creds is None or not creds.lower().startswith("basic "):
                auth_out = Outcome("auth", 401, f"auth_basic: no credentials (realm {basic!r})",
                                   headers={"WWW-Authenticate": f'Basic realm="{basic}"'})
            else:
                self.notes.append(f"auth_basic: the credentials are checked against {basic_file or 'the user file'}"
                                  " at request time; assumed valid here")
        elif auth_request is not None:
            self.notes.append(f"auth_request {auth_request}: a subrequest decides; 2xx lets the request through, "
                              "401/403 are returned to the client (assumed 2xx here)")
        if satisfy == "any" and (rules or basic is not None or auth_request is not None):
            if access_ok and rules:
                self.steps.append("access: satisfy any: the client address is allowed")
                return None
            if auth_out is None and (basic is not None or auth_request is not None):
                return None
            if not rules:
                return auth_out
            return auth_out or Outcome("deny", 403, f"access: client {self.req.client_ip} is denied (satisfy any)")
        if not access_ok:
            return Outcome("deny", 403, f"access: client {self.req.client_ip} is denied by the allow/deny rules")
        if rules:
            self.steps.append(f"access: client {self.req.client_ip} is allowed by the allow/deny rules")
        return auth_out

    def access_rules(self, rules: list[tuple[str, str]]) -> bool:
        try:
            addr = ipaddress.ip_address(self.req.client_ip)
        except ValueError:
            return True
        for action, spec in rules:
            if spec == "all":
                self.steps.append(f"access: `{action} all` decides for {addr}")
                return action == "allow"
            if spec.startswith("unix:"):
                continue
            try:
                net = ipaddress.ip_network(spec, strict=False)
            except ValueError:
                continue
            if addr.version == net.version and addr in net:
                self.steps.append(f"access: `{action} {spec}` matches {addr}")
                return action == "allow"
        return True

    def content_phase(self, items: list[Item], loc: Location) -> Outcome:
        for it in reversed(items):
            if isinstance(it, Block):
                continue
            name = it[0] if it else ""
            if name in ("proxy_pass", "grpc_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass") and len(it) > 1:
                return self.proxy(it, loc)
        return Outcome("return", 404, "no content handler: nginx looks for a static file under its root (404)")

    def proxy(self, d: Directive, loc: Location) -> Outcome:
        raw = self.vars.expand(d[1])
        m = re.match(r"^([a-z]+)://([^/]*)(.*)$", raw)
        scheme, name, path = (m.group(1), m.group(2), m.group(3)) if m else ("", raw, "")
        if d[0] == "fastcgi_pass" or d[0] == "uwsgi_pass" or d[0] == "scgi_pass":
            name, path = raw, ""
        upstream = next((u for u in self.cfg.upstreams if u.name == name), None)
        endpoints = list(upstream.servers) if upstream else [name]
        if self.vars.rewritten or path:
            if path:
                self.notes.append(f"{d[0]} with a URI part ({path!r}) is not modelled; the URI shown is nginx's $uri")
            uri = escape_uri(self.vars.uri) + (f"?{self.vars.args}" if self.vars.args else "")
        else:
            uri = self.vars.target.raw
        if "$" in d[1]:
            chain = ", ".join(f"${k} = {v!r}" for k, v in self.vars.evaluated.items())
            self.steps.append(f"`{d[0]} {d[1]}`: the target comes from variables ({chain})")
        what = f"upstream {name}" if upstream else name
        reason = f"`{d[0]} {d[1]}` -> {what}" + (f" ({scheme})" if scheme and scheme != "http" else "")
        if upstream is None and self.cfg.upstreams and not re.match(r"^[\d.\[\]:]+$", name):
            self.notes.append(f"{name!r} is not an upstream of this config: nginx resolves it at start-up")
        return Outcome("proxy", None, reason, upstream=name, endpoints=endpoints, backend_uri=uri)


# --- the whole explanation ------------------------------------------------------------------------

def listener_problem(cfg: NginxConfig, req: Request) -> Outcome | None:
    if req.scheme == "http" and req.port == cfg.https_port and req.port != cfg.http_port:
        return Outcome("error", 400, "plain HTTP sent to the HTTPS port: nginx answers 400 "
                       "(The plain HTTP request was sent to HTTPS port)")
    if req.scheme == "https" and req.port == cfg.http_port and req.port != cfg.https_port:
        return Outcome("refused", None, "TLS handshake sent to the plain HTTP port: the connection fails")
    return None


def explain(cfg: NginxConfig, req: Request) -> Explanation:
    steps: list[str] = []
    notes: list[str] = []
    problem = listener_problem(cfg, req)
    if problem is not None:
        return Explanation(req, None, None, None, problem, steps, notes)
    listen = cfg.https_port if req.scheme == "https" else cfg.http_port
    if req.port != listen:
        notes.append(f"nginx listens for {req.scheme} on port {listen}; the request is taken as reaching it")
    try:
        host = request_host(req.host_header)
        target = normalize_uri(req.target)
    except BadRequest as exc:
        return Explanation(req, None, None, None, Outcome("error", 400, f"bad request: {exc}"), steps, notes)
    if host is None and req.host_header is None:
        notes.append("no Host header: an HTTP/1.1 request without Host gets 400; this is HTTP/1.0")
    choice = select_server(cfg.servers, host)
    srv = choice.server
    if srv is None:
        return Explanation(req, host, choice, None, Outcome("refused", None, "no server listens"), steps, notes)
    if choice.by == "default":
        steps.append(f"server: no server_name matches {host!r}: the default server {srv.hostname!r} answers")
    else:
        steps.append(f"server: {srv.hostname!r} (server_name {choice.name!r}, {choice.by} match)")
    v = Variables(cfg, req, target, host, srv)
    interp = Interpreter(cfg, req, v, steps, notes)
    server_items: list[Item] = body_items([*srv.directives, *srv.blocks])
    flow = interp.rewrite_phase(server_items, "server")
    if flow.outcome is not None:
        return Explanation(req, host, choice, None, flow.outcome, steps, notes)
    lchoice: LocationChoice | None = None
    outcome: Outcome | None = None
    for _ in range(MAX_CYCLES + 1):
        lchoice = select_location(srv.locations, v.uri)
        loc = lchoice.location
        if loc is None:
            outcome = Outcome("return", 404, "no location matches: nginx serves static files from its root (404)")
            break
        steps.append(f"location: {describe_location(loc)} for URI {v.uri!r}")
        if lchoice.auto_redirect:
            url = loc.match + (f"?{v.args}" if v.args else "")
            outcome = Outcome("redirect", 301, "nginx's automatic redirect: the URI is a proxied location's name "
                              "without its trailing '/'", interp.redirect_target(url, body_items(loc.out)))
            steps.append(f"nginx answers 301 with Location {outcome.location_header}")
            break
        if lchoice.captures or lchoice.named:
            v.captures = lchoice.captures
            v.named.update(lchoice.named)
        body = body_items(loc.out) if loc.out else fallback_body(loc)
        if is_internal(loc, body):
            outcome = Outcome("return", 404, "the location is internal: nginx answers 404 to a client request")
            steps.append(outcome.reason)
            break
        outcome = run_location(interp, loc, srv, body)
        if outcome.action == "proxy" and req.backend_status is not None:
            outcome.status = req.backend_status
            outcome.reason += f"; the backend answers {req.backend_status}"
            if intercepts(cfg, srv, body):
                outcome = error_page(interp, cfg, srv, body, outcome)
        elif outcome.action != "proxy":
            outcome = error_page(interp, cfg, srv, body, outcome)
        if outcome.action == "research":
            steps.append("the URI changed: nginx searches the locations again")
            continue
        break
    else:
        outcome = Outcome("error", 500, "rewrite or internal redirection cycle")
    assert outcome is not None
    notes += v.notes
    if v.unknown:
        notes.append("variables not modelled (taken as empty): " + ", ".join(sorted("$" + n for n in v.unknown)))
    return Explanation(req, host, choice, lchoice, outcome, steps, notes)


def run_location(interp: Interpreter, loc: Location, srv: Server, body: list[Item]) -> Outcome:
    """One location's phases: rewrite, access, content ("research" when the URI changed without break)."""
    steps = interp.steps
    flow = interp.rewrite_phase(body, "location")
    if flow.outcome is not None:
        annotate_redirect(flow.outcome, loc, srv, steps)
        return flow.outcome
    if flow.research and not flow.stop:
        return Outcome("research", None, "URI changed")
    denied = interp.access_phase(body + flow.content, loc)
    if denied is not None:
        steps.append(f"{denied.reason}: {denied.status}")
        return denied
    outcome = interp.content_phase(body if not has_pass(flow.content) else flow.content, loc)
    if outcome.action == "proxy":
        eps = ", ".join(outcome.endpoints)
        steps.append(f"proxy: {outcome.reason} [{eps}] receives {outcome.backend_uri}")
    return outcome


def is_internal(loc: Location, body: list[Item]) -> bool:
    return loc.internal or any(not isinstance(d, Block) and d[:1] == ("internal",) for d in body)


def intercepts(cfg: NginxConfig, srv: Server, body: list[Item]) -> bool:
    """proxy_intercept_errors, inherited from server and http unless the location sets it."""
    for items in (body, body_items([*srv.directives, *srv.blocks]), body_items(cfg.http_directives)):
        for d in items:
            if not isinstance(d, Block) and d[:1] == ("proxy_intercept_errors",) and len(d) > 1:
                return d[1] == "on"
    return False


def error_pages(items: list[Item]) -> dict[int, tuple[str, str]]:
    """``error_page CODE... [=[RESPONSE]] URI`` directives: code -> (response, uri)."""
    out: dict[int, tuple[str, str]] = {}
    for d in items:
        if isinstance(d, Block) or d[:1] != ("error_page",) or len(d) < 3:
            continue
        args = [unquote(a) for a in d[1:]]
        uri, resp = args[-1], ""
        codes = args[:-1]
        if codes and codes[-1].startswith("="):
            resp = codes.pop()
        for c in codes:
            if c.isdigit():
                out[int(c)] = (resp, uri)
    return out


def error_page(interp: Interpreter, cfg: NginxConfig, srv: Server, body: list[Item], outcome: Outcome) -> Outcome:
    """nginx's error_page: an error nginx itself answers (return, deny, auth) goes to the named location
    or URI configured for its code (location level, else server, else http: nginx does not merge)."""
    if outcome.status is None or outcome.status < 300 or outcome.action in ("redirect", "research"):
        return outcome
    pages = error_pages(body) or error_pages(body_items([*srv.directives, *srv.blocks])) or \
        error_pages(body_items(cfg.http_directives))
    target = pages.get(outcome.status)
    if target is None:
        return outcome
    resp, uri = target
    interp.steps.append(f"error_page {outcome.status} {resp + ' ' if resp else ''}{uri}: nginx serves the "
                        f"{outcome.status} from {uri}")
    if uri.startswith("@"):
        named = next((lo for lo in srv.locations if lo.match == uri), None)
        if named is None:
            interp.notes.append(f"error_page target {uri} not found in server {srv.hostname}")
            return outcome
        result = run_location(interp, named, srv, body_items(named.out) if named.out else fallback_body(named))
    else:
        interp.vars.uri = uri
        interp.vars.rewritten = True
        choice = select_location(srv.locations, uri)
        if choice.location is None:
            return outcome
        result = run_location(interp, choice.location, srv, body_items(choice.location.out))
    if resp == "=":
        return result
    result.status = int(resp[1:]) if resp[1:].isdigit() else outcome.status
    if result.action == "proxy":
        result.reason += f" (the client gets status {result.status})"
    return result


def has_pass(items: list[Item]) -> bool:
    return any(not isinstance(it, Block) and it and it[0].endswith("_pass") for it in items)


def fallback_body(loc: Location) -> list[Item]:
    """A location the prepare pass has not seen (tests building IR by hand): its meaning as directives."""
    out: list[Item] = []
    if loc.return_directive is not None:
        out.append(loc.return_directive)
    if loc.status is not None:
        out.append(("return", str(loc.status)))
        return out
    out += loc.access
    if loc.rewrite is not None:
        out.append(("rewrite", '"' + loc.rewrite[0] + '"', '"' + loc.rewrite[1] + '"', "break"))
    out.append(("proxy_pass", loc.proxy_target or f"http://{loc.upstream}"))
    return out


def annotate_redirect(out: Outcome, loc: Location, srv: Server, steps: list[str]) -> None:
    if out.action != "redirect" or not loc.ssl_redirect or not (out.location_header or "").startswith("https://"):
        return
    if loc.force_ssl_redirect:
        why = "force-ssl-redirect"
    elif srv.tls is not None:
        why = f"ssl-redirect: host {srv.hostname} has a certificate ({srv.tls.secret or 'default certificate'})"
    else:
        why = "ssl-redirect"
    out.reason = f"HTTP -> HTTPS redirect ({why})"


def describe_location(loc: Location) -> str:
    mod = f"{loc.modifier} " if loc.modifier else ""
    return f'location {mod}"{loc.match}"'


# --- output ---------------------------------------------------------------------------------------

def origin_text(loc: Location | None, relabel: Any = None) -> str:
    if loc is None or loc.origin is None:
        return ""
    sp = loc.origin.span
    where = str(sp) if sp else ""
    if relabel is not None and where:
        where = relabel(where)
    return f"{where} ({loc.origin.obj})" if where else str(loc.origin.obj)


def features_of(loc: Location) -> dict[str, Any]:
    from ingc.routes import INTERNAL_FEATURES

    return {k: v for k, v in loc.features.items() if k not in INTERNAL_FEATURES}


def as_dict(ex: Explanation) -> dict[str, Any]:
    from ingc.routes import jsonable

    out: dict[str, Any] = {"request": ex.request.as_dict(), "host": ex.host}
    if ex.server is not None:
        out["server"] = {
            "hostname": ex.server.server.hostname if ex.server.server else None,
            "matched_by": ex.server.by, "server_name": ex.server.name,
            "candidates": [{"server": c.entry.server.hostname, "server_name": unquote(c.entry.arg),
                            "kind": c.entry.kind, "matched": c.matched, "note": c.note} for c in ex.server.checks],
        }
    else:
        out["server"] = None
    if ex.choice is not None:
        loc = ex.choice.location
        out["location"] = None if loc is None else {
            "modifier": loc.modifier, "match": loc.match, "path": loc.path, "path_type": loc.written_path_type,
            "source": origin_text(loc), "features": jsonable(features_of(loc)),
            "auto_redirect": ex.choice.auto_redirect,
        }
        out["candidates"] = [{"rank": c.rank, "kind": c.kind, "modifier": c.location.modifier,
                              "match": c.location.match, "matched": c.matched, "chosen": c.chosen, "note": c.note,
                              "source": origin_text(c.location)} for c in ex.choice.candidates]
    else:
        out["location"] = None
        out["candidates"] = []
    out["outcome"] = ex.outcome.as_dict()
    out["steps"] = ex.steps
    out["notes"] = ex.notes
    return out


def text(ex: Explanation) -> str:
    lines: list[str] = []
    r = ex.request
    lines.append(f"{r.method} {r.url or r.target}  (Host: {r.host_header}, client {r.client_ip})")
    if ex.server is not None and ex.server.server is not None:
        s = ex.server
        srv = s.server
        assert srv is not None
        how = {"exact": "exact server_name", "wildcard": "wildcard server_name",
               "regex": "regular-expression server_name", "default": "no server_name matched: default server",
               "no-host": "no Host header: default server"}[s.by]
        lines.append(f"server   {srv.hostname}  ({how}{': ' + s.name if s.name and s.by != 'default' else ''})")
        for c in s.checks:
            if c.entry.server is srv and c.matched:
                continue
            if c.matched or c.entry.kind != "exact":
                lines.append(f"         - {unquote(c.entry.arg)} ({c.entry.server.hostname}): {c.note}")
    if ex.choice is not None:
        lines.append("location candidates (nginx precedence: exact, regexes in file order, longest prefix):")
        for cand in ex.choice.candidates:
            mark = "=>" if cand.chosen else "  "
            lines.append(f"  {mark} #{cand.rank:<2} {describe_location(cand.location):<36} {cand.note}")
            src = origin_text(cand.location)
            if cand.chosen and src:
                lines.append(f"           from {src}")
        loc = ex.choice.location
        if loc is not None:
            feats = features_of(loc)
            if feats:
                from ingc.routes import feature_summary

                lines.append("features " + "; ".join(feature_summary(feats)))
    lines.append("steps:")
    lines += [f"  - {s}" for s in ex.steps]
    o = ex.outcome
    lines.append("result:")
    if o.action == "proxy":
        lines.append(f"  proxied to upstream {o.upstream} [{', '.join(o.endpoints)}]"
                     + (f"; the client gets {o.status}" if o.status is not None else ""))
        lines.append(f"  backend receives {r.method} {o.backend_uri}")
    else:
        lines.append(f"  {o.status if o.status is not None else '-'} {o.reason}")
        if o.location_header:
            lines.append(f"  Location: {o.location_header}")
        for k, v in o.headers.items():
            lines.append(f"  {k}: {v}")
    if ex.notes:
        lines.append("notes:")
        lines += [f"  - {n}" for n in ex.notes]
    return "\n".join(lines) + "\n"
