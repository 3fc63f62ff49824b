"""Pass 5, prepare: turn the IR's meaning into final directive lists (all quoting happens here or in
handlers, through ingc.quote).  Templates then print these lists and decide nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from ingc import quote
from ingc.ir import Block, Directive, Location, NginxConfig, ProxySettings, Server

REDIRECT_URI = "$ingc_redirect_uri"


def _next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def http_level(cfg: NginxConfig) -> None:
    s = cfg.settings
    d: list[Directive] = [
        ("default_type", "text/html"),
        ("server_tokens", "on" if s.server_tokens else "off"),
        ("keepalive_timeout", f"{s.keep_alive}s"),
        ("keepalive_requests", str(s.keep_alive_requests)),
        ("client_body_buffer_size", s.client_body_buffer_size),
        ("client_body_temp_path", "tmp/client_body"),
        ("proxy_temp_path", "tmp/proxy"),
        ("fastcgi_temp_path", "tmp/fastcgi"),
        ("uwsgi_temp_path", "tmp/uwsgi"),
        ("scgi_temp_path", "tmp/scgi"),
    ]
    names = [n for srv in cfg.servers for n in [srv.hostname, *srv.aliases]]
    longest = max((len(n) for n in names), default=1) + 20  # regex forms of wildcards are longer
    d.append(("server_names_hash_bucket_size", str(max(64, _next_pow2(longest + 2)))))
    d.append(("server_names_hash_max_size", str(max(1024, _next_pow2(2 * len(names))))))
    d.append(("map_hash_bucket_size", "64"))
    d.append(("log_format", "upstreaminfo", quote.ngx_quote(s.log_format_upstream)))
    d.append(("access_log", "off") if s.disable_access_log else ("access_log", "logs/access.log", "upstreaminfo"))
    d += [
        ("ssl_protocols", *s.ssl_protocols.split()),
        ("ssl_ciphers", quote.ngx_quote(s.ssl_ciphers)),
        ("ssl_prefer_server_ciphers", "on"),
        ("ssl_session_cache", f"shared:SSL:{s.ssl_session_cache_size}"),
        ("ssl_session_timeout", s.ssl_session_timeout),
        ("ssl_session_tickets", "off"),
        ("ssl_certificate", default_cert(cfg)),
        ("ssl_certificate_key", default_cert(cfg)),
    ]
    if cfg.resolver:
        d.append(("resolver", *[quote.ngx_quote(r) for r in cfg.resolver.split()], "valid=30s"))
    cfg.http_directives = d + cfg.http_directives
    hsts = f"max-age={s.hsts_max_age}" + ("; includeSubDomains" if s.hsts_include_subdomains else "") + \
        ("; preload" if s.hsts_preload else "")
    cfg.http_blocks = [
        Block("map", ("$http_upgrade", "$connection_upgrade"), [("default", "upgrade"), ('""', "close")]),
        Block("map", ("$http_host", "$best_http_host"), [("default", "$http_host"), ('""', "$host")]),
        Block("map", ("$http_x_request_id", "$req_id"), [("default", "$http_x_request_id"), ('""', "$request_id")]),
        Block("map", ("$request_uri", REDIRECT_URI), [("default", "$request_uri"),
                                                      ('"~^(?<ingc_rp>.*)/$"', "$ingc_rp")]),
        Block("map", ("$scheme", "$ingc_hsts"), [("default", '""'), ("https", quote.ngx_quote(hsts))]),
        Block("geo", ("$literal_dollar",), [("default", '"$"')]),
        *cfg.http_blocks,
    ]


def default_cert(cfg: NginxConfig) -> str:
    return next((p for p in cfg.files if p.startswith("ssl/default-")), "ssl/default-fake-certificate.pem")


def listen(cfg: NginxConfig, srv: Server) -> list[Directive]:
    s = cfg.settings
    flag = ("default_server",) if srv.is_default else ()
    http2 = ("http2",) if s.use_http2 else ()
    out: list[Directive] = [("listen", str(cfg.http_port), *flag), ("listen", str(cfg.https_port), "ssl", *http2, *flag)]
    if cfg.ipv6:
        out += [("listen", f"[::]:{cfg.http_port}", *flag), ("listen", f"[::]:{cfg.https_port}", "ssl", *http2, *flag)]
    return out


def server_name(name: str) -> str:
    if name.startswith("*."):
        rest = name[2:].replace(".", "\\.")
        return quote.ngx_quote(f"~^(?<subdomain>[\\w-]+)\\.{rest}$")
    return quote.ngx_quote(name)


def proxy_directives(p: ProxySettings, loc: Location) -> list[Directive]:
    grpc = p.protocol in ("GRPC", "GRPCS")
    hdr = "grpc_set_header" if grpc else "proxy_set_header"
    out: list[Directive] = [
        (hdr, "Host", p.host_header),
        (hdr, "Upgrade", "$http_upgrade"),
        # HTTP/2 forbids connection-specific headers: gRPC servers (grpc-go, gRFC A41) reject a request with
        # Connection as malformed, so gRPC sends none (ingress-nginx's map gives "" with upstream keepalive).
        (hdr, "Connection", '""' if grpc and p.connection_header == "$connection_upgrade" else p.connection_header),
        (hdr, "X-Request-ID", "$req_id"),
        (hdr, "X-Real-IP", "$remote_addr"),
        (hdr, "X-Forwarded-For", "$remote_addr"),
        (hdr, "X-Forwarded-Host", "$best_http_host"),
        (hdr, "X-Forwarded-Port", "$server_port"),
        (hdr, "X-Forwarded-Proto", "$scheme"),
        (hdr, "X-Forwarded-Scheme", "$scheme"),
        (hdr, "X-Scheme", "$scheme"),
        (hdr, "X-Original-Forwarded-For", "$http_x_forwarded_for"),
        (hdr, "Proxy", '""'),
    ]
    if loc.rewrite is not None and "x_forwarded_prefix" in loc.features:
        out.append((hdr, "X-Forwarded-Prefix", quote.literal(loc.features["x_forwarded_prefix"])))
    if grpc:
        out += [("grpc_connect_timeout", f"{p.connect_timeout}s"), ("grpc_send_timeout", f"{p.send_timeout}s"),
                ("grpc_read_timeout", f"{p.read_timeout}s")]
        return out
    out += [
        ("proxy_connect_timeout", f"{p.connect_timeout}s"),
        ("proxy_send_timeout", f"{p.send_timeout}s"),
        ("proxy_read_timeout", f"{p.read_timeout}s"),
        ("proxy_buffering", p.buffering),
        ("proxy_buffer_size", p.buffer_size),
        ("proxy_buffers", str(p.buffers_number), p.buffer_size),
    ]
    if p.busy_buffers_size:
        out.append(("proxy_busy_buffers_size", p.busy_buffers_size))
    out += [
        ("proxy_max_temp_file_size", p.max_temp_file_size),
        ("proxy_request_buffering", p.request_buffering),
        ("proxy_http_version", p.http_version),
        ("proxy_cookie_domain", *p.cookie_domain.split()) if p.cookie_domain == "off"
        else ("proxy_cookie_domain", *[quote.literal(x) for x in p.cookie_domain.split()]),
        ("proxy_cookie_path", *p.cookie_path.split()) if p.cookie_path == "off"
        else ("proxy_cookie_path", *[quote.literal(x) for x in p.cookie_path.split()]),
        ("proxy_next_upstream", *p.next_upstream.split()),
        ("proxy_next_upstream_timeout", str(p.next_upstream_timeout)),
        ("proxy_next_upstream_tries", str(p.next_upstream_tries)),
        ("proxy_redirect", *p.redirect),
    ]
    return out


_PROXY_CACHE: dict[tuple[object, ...], Raw] = {}
_PROXY_FIELDS = tuple(f.name for f in fields(ProxySettings))


class Raw(str):
    """Lines already printed and indented for a location body (shared by many locations)."""


LOCATION_INDENT = " " * 12


def _proxy_cached(loc: Location) -> Raw:
    """Most locations share their proxy settings: print (and keep) each distinct text once."""
    if "x_forwarded_prefix" in loc.features and loc.rewrite is not None:
        return Raw(_lines(proxy_directives(loc.proxy, loc), LOCATION_INDENT))
    p = loc.proxy
    key = tuple(getattr(p, name) for name in _PROXY_FIELDS)
    found = _PROXY_CACHE.get(key)
    if found is None:
        if len(_PROXY_CACHE) > 4096:
            _PROXY_CACHE.clear()
        found = _PROXY_CACHE[key] = Raw(_lines(proxy_directives(p, loc), LOCATION_INDENT))
    return found


def location_body(cfg: NginxConfig, loc: Location) -> list[Directive | Block | str]:
    s = cfg.settings
    out: list[Directive | Block | str] = []
    if loc.namespace:
        out += [
            ("set", "$namespace", quote.literal(loc.namespace)),
            ("set", "$ingress_name", quote.literal(loc.ingress)),
            ("set", "$service_name", quote.literal(loc.service)),
            ("set", "$service_port", quote.literal(loc.service_port)),
            ("set", "$location_path", quote.literal(loc.path)),
        ]
    out.append(("set", "$proxy_upstream_name", quote.literal(loc.upstream or "-")))
    if loc.backend_dns:
        out.append(("set", "$ingc_backend", quote.literal(loc.backend_dns)))
    if loc.ssl_redirect:
        port = f":{cfg.https_port}" if s.use_port_in_redirects else ""
        uri = "$request_uri" if loc.preserve_trailing_slash else REDIRECT_URI
        out.append(Block("if", ("($scheme", "=", '"http")'),
                         [("return", str(s.http_redirect_code), f'"https://$host{port}{uri}"')]))
    if loc.return_directive is not None:
        out.append(loc.return_directive)
    out.append(("port_in_redirect", "on" if loc.port_in_redirect else "off"))
    if s.hsts:
        out.append(("add_header", "Strict-Transport-Security", "$ingc_hsts", "always"))
    if loc.status is not None:
        if loc.status == 200:
            out.append(("access_log", "off"))
        out += loc.access if loc.status != 200 else []
        out += loc.directives
        out += loc.blocks
        out.append(("return", str(loc.status)))
        return out
    out += loc.access
    out.append(("client_max_body_size", loc.proxy.body_size))
    if loc.proxy.client_body_buffer_size:
        out.append(("client_body_buffer_size", loc.proxy.client_body_buffer_size))
    if s.hsts:
        out.append(("proxy_hide_header", "Strict-Transport-Security"))
    out.append(_proxy_cached(loc))
    out += loc.directives
    out += loc.blocks
    if loc.rewrite is not None:
        out.append(("rewrite", quote.regex(loc.rewrite[0]), quote.capture(loc.rewrite[1]), "break"))
    p = loc.proxy.protocol
    if p in ("GRPC", "GRPCS"):
        out.append(("grpc_pass", f"{'grpcs' if p == 'GRPCS' else 'grpc'}://{loc.proxy_target.split('://', 1)[1]}"))
    elif p == "FCGI":
        out.append(("fastcgi_pass", loc.proxy_target.split("://", 1)[1]))
    else:
        scheme = {"HTTPS": "https", "AUTO_HTTP": "$scheme"}.get(p, "http")
        out.append(("proxy_pass", f"{scheme}://{loc.proxy_target.split('://', 1)[1]}"))
    return out


def _lines(items: Sequence[Directive | Block | str], ind: str) -> str:
    """Directives and blocks printed as nginx text at one indentation."""
    parts: list[str] = []
    for it in items:
        if isinstance(it, Raw):
            parts.append(it)
        elif isinstance(it, str):
            parts.append(f"{ind}{it};\n")
        elif isinstance(it, Block):
            parts.append(f"{ind}{it.name} {' '.join(it.args)} {{\n{_lines(it.directives, ind + '    ')}{ind}}}\n")
        else:
            parts.append(f"{ind}{' '.join(it)};\n")
    return "".join(parts)


def _segments(items: Sequence[Directive | Block | str], ind: str) -> list[str]:
    """Like _lines, but shared Raw texts stay separate objects (memory: one copy for all locations)."""
    out: list[str] = []
    run: list[Directive | Block | str] = []
    for it in items:
        if isinstance(it, Raw):
            if run:
                out.append(_lines(run, ind))
                run = []
            out.append(it)
        else:
            run.append(it)
    if run:
        out.append(_lines(run, ind))
    return out


def location_args(loc: Location) -> tuple[str, ...]:
    arg = quote.regex(loc.match) if loc.modifier == "~*" else quote.ngx_quote(loc.match)
    return (loc.modifier, arg) if loc.modifier else (arg,)


def prepare(cfg: NginxConfig) -> NginxConfig:
    http_level(cfg)
    for srv in cfg.servers:
        srv.server_name_args = [server_name(n) for n in [srv.hostname, *srv.aliases]]
        head: list[Directive] = listen(cfg, srv)
        head.append(("set", "$proxy_upstream_name", "\"-\""))
        head.append(("set", "$proxy_alternative_upstream_name", "\"\""))
        if srv.tls is not None and not srv.tls.is_default:
            head += [("ssl_certificate", srv.tls.file), ("ssl_certificate_key", srv.tls.file)]
        srv.directives = head + srv.directives
        srv.text = _segments([*srv.directives, *srv.blocks], " " * 8)
        for loc in srv.locations:
            loc.out = list(loc.raw) if loc.raw is not None else location_body(cfg, loc)
            loc.text = _segments(loc.out, LOCATION_INDENT)
            loc.features["args"] = " ".join(location_args(loc))
    cfg.http_text = _segments([*cfg.http_directives, *cfg.http_blocks], " " * 4)
    return cfg
