"""Controller-wide settings: ingress-nginx's ConfigMap keys (``--configmap ns/name`` or
``--controller-config FILE``), validated by type, with ingress-nginx's defaults."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ingc.diagnostics import Diagnostics, Loc

SIZE = re.compile(r"^(?i:\d+[bkmg]?)\Z")
DURATION = re.compile(r"^\d+(ms|s|m|h|d)?\Z")
PROTOCOLS = {"SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
CIPHERS = re.compile(r"^[A-Za-z0-9!:+\-_@=]+\Z")
NEXT_UPSTREAM = re.compile(
    r"^((error|timeout|invalid_header|http_500|http_502|http_503|http_504|http_403|http_404|http_429"
    r"|non_idempotent|off)\s?)+$")

DEFAULT_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"
)
DEFAULT_LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] '
    "$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"
)


class BadValue(ValueError):
    pass


def parse_bool(v: str) -> bool:
    if v in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if v in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise BadValue(f"{v!r} is not a boolean (true/false)")


def parse_int(v: str) -> int:
    if not re.fullmatch(r"-?\d{1,9}", v.strip()):
        raise BadValue(f"{v!r} is not an integer")
    return int(v.strip())


def parse_nonneg(v: str) -> int:
    n = parse_int(v)
    if n < 0:
        raise BadValue(f"{v!r} must not be negative")
    return n


def parse_size(v: str) -> str:
    if not SIZE.match(v.strip()):
        raise BadValue(f"{v!r} is not a size (like 1m, 512k, 8192)")
    return v.strip()


def parse_onoff(v: str) -> str:
    if v.strip().lower() not in ("on", "off"):
        raise BadValue(f"{v!r} must be on or off")
    return v.strip().lower()


def parse_http_version(v: str) -> str:
    if v.strip() not in ("1.0", "1.1"):
        raise BadValue(f"{v!r} must be 1.0 or 1.1")
    return v.strip()


def parse_protocols(v: str) -> str:
    parts = v.split()
    bad = [p for p in parts if p not in PROTOCOLS]
    if not parts or bad:
        raise BadValue(f"{v!r} is not a list of TLS protocol names ({', '.join(sorted(PROTOCOLS))})")
    return " ".join(parts)


def parse_ciphers(v: str) -> str:
    if not CIPHERS.match(v.strip()):
        raise BadValue(f"{v!r} is not an OpenSSL cipher list")
    return v.strip()


def parse_workers(v: str) -> str:
    if v.strip() == "auto":
        return "auto"
    return str(parse_nonneg(v))


def parse_redirect_code(v: str) -> int:
    n = parse_int(v)
    if n not in (301, 302, 307, 308):
        raise BadValue(f"{v!r} must be one of 301, 302, 307, 308")
    return n


def parse_log_format(v: str) -> str:
    if re.search(r"[\x00-\x1f\x7f\u0085\u2028\u2029]", v):  # what ingc.quote refuses
        raise BadValue("control characters and line separators are not allowed")
    return v


def parse_path_list(v: str) -> tuple[str, ...]:
    items = tuple(p.strip() for p in v.split(",") if p.strip())
    for p in items:
        if not re.fullmatch(r"/[A-Za-z0-9._~\-/]*", p):
            raise BadValue(f"{p!r} is not a path")
    return items


def parse_next_upstream(v: str) -> str:
    if not NEXT_UPSTREAM.match(v.strip()):
        raise BadValue(f"{v!r} is not a proxy_next_upstream list")
    return " ".join(v.split())


def parse_duration(v: str) -> str:
    if not DURATION.match(v.strip()):
        raise BadValue(f"{v!r} is not a duration (like 60, 10m, 1h)")
    return v.strip()


def _key(parser: Callable[[str], Any], default: Any, name: str = "") -> Any:
    return field(default=default, metadata={"parser": parser, "key": name})


@dataclass
class Settings:
    proxy_body_size: str = _key(parse_size, "1m")
    proxy_connect_timeout: int = _key(parse_nonneg, 5)
    proxy_send_timeout: int = _key(parse_nonneg, 60)
    proxy_read_timeout: int = _key(parse_nonneg, 60)
    proxy_buffering: str = _key(parse_onoff, "off")
    proxy_buffer_size: str = _key(parse_size, "4k")
    proxy_buffers_number: int = _key(parse_nonneg, 4)
    proxy_busy_buffers_size: str = _key(parse_size, "")
    proxy_max_temp_file_size: str = _key(parse_size, "1024m")
    proxy_request_buffering: str = _key(parse_onoff, "on")
    proxy_http_version: str = _key(parse_http_version, "1.1")
    proxy_next_upstream: str = _key(parse_next_upstream, "error timeout")
    proxy_next_upstream_timeout: int = _key(parse_nonneg, 0)
    proxy_next_upstream_tries: int = _key(parse_nonneg, 3)
    client_body_buffer_size: str = _key(parse_size, "8k")
    ssl_redirect: bool = _key(parse_bool, True)
    force_ssl_redirect: bool = _key(parse_bool, False)
    preserve_trailing_slash: bool = _key(parse_bool, False)
    use_port_in_redirects: bool = _key(parse_bool, False)
    http_redirect_code: int = _key(parse_redirect_code, 308)
    hsts: bool = _key(parse_bool, True)
    hsts_max_age: int = _key(parse_nonneg, 31536000)
    hsts_include_subdomains: bool = _key(parse_bool, True)
    hsts_preload: bool = _key(parse_bool, False)
    ssl_protocols: str = _key(parse_protocols, "TLSv1.2 TLSv1.3")
    ssl_ciphers: str = _key(parse_ciphers, DEFAULT_CIPHERS)
    ssl_session_cache_size: str = _key(parse_size, "10m")
    ssl_session_timeout: str = _key(parse_duration, "10m")
    server_tokens: bool = _key(parse_bool, False)
    use_http2: bool = _key(parse_bool, True)
    keep_alive: int = _key(parse_nonneg, 75)
    keep_alive_requests: int = _key(parse_nonneg, 1000)
    worker_processes: str = _key(parse_workers, "auto")
    max_worker_connections: int = _key(parse_nonneg, 16384)
    log_format_upstream: str = _key(parse_log_format, DEFAULT_LOG_FORMAT)
    no_tls_redirect_locations: tuple[str, ...] = _key(parse_path_list, ("/.well-known/acme-challenge",))
    disable_access_log: bool = _key(parse_bool, False)
    raw: dict[str, str] = field(default_factory=dict, metadata={"key": None})
    locs: dict[str, Loc | None] = field(default_factory=dict, metadata={"key": None})  # where each key was set


# Keys ingress-nginx reads that ingc knows about but deliberately does not apply (no stock equivalent or
# runtime-only); reported as such instead of "unknown".
IGNORED_KEYS = {
    "enable-opentelemetry", "enable-modsecurity", "enable-owasp-modsecurity-crs", "use-geoip2", "enable-brotli",
    "lua-shared-dicts", "enable-ocsp", "plugins", "allow-snippet-annotations", "annotations-risk-level",
    "annotation-value-word-blocklist", "strict-validate-path-type", "enable-real-ip", "use-forwarded-headers",
    "compute-full-forwarded-for", "forwarded-for-header", "proxy-real-ip-cidr", "use-proxy-protocol",
    "generate-request-id", "error-log-level", "access-log-path", "error-log-path", "reuse-port",
    "worker-shutdown-timeout", "enable-multi-accept", "global-allowed-response-headers",
    "allow-cross-namespace-resources", "load-balance", "upstream-keepalive-connections",
    "upstream-keepalive-timeout", "upstream-keepalive-requests", "upstream-keepalive-time", "ssl-ecdh-curve",
    "ssl-buffer-size", "ssl-session-cache", "ssl-session-tickets", "ssl-early-data", "ssl-dh-param",
    "ssl-reject-handshake", "disable-ipv6", "disable-ipv6-dns", "variables-hash-bucket-size",
    "variables-hash-max-size", "map-hash-bucket-size", "proxy-headers-hash-max-size",
    "proxy-headers-hash-bucket-size", "server-name-hash-max-size", "server-name-hash-bucket-size",
}

FIELD_BY_KEY = {f.name.replace("_", "-"): f for f in fields(Settings) if f.metadata.get("key") is not None}
KNOWN_KEYS = set(FIELD_BY_KEY) | IGNORED_KEYS

# Keys consumed by annotation handlers as global defaults (they register here at import time).
EXTRA_KEYS: dict[str, Callable[[str], Any]] = {}


def parse_settings(values: dict[str, str], diags: Diagnostics, loc_of: Callable[[str], Loc | None],
                   source: str = "ConfigMap") -> Settings:
    s = Settings()
    s.raw = dict(values)
    s.locs = {key: loc_of(key) for key in values}
    for key in sorted(values):
        value = values[key]
        loc = loc_of(key)
        if not isinstance(value, str):
            diags.error("S101", f"{source} key {key!r}: value must be a string", loc=loc)
            continue
        f = FIELD_BY_KEY.get(key)
        if f is not None:
            try:
                setattr(s, f.name, f.metadata["parser"](value))
            except BadValue as exc:
                diags.error("S101", f"{source} key {key!r}: {exc}", loc=loc)
            continue
        extra = EXTRA_KEYS.get(key)
        if extra is not None:
            try:
                extra(value)
            except BadValue as exc:
                diags.error("S101", f"{source} key {key!r}: {exc}", loc=loc)
            continue
        if key in IGNORED_KEYS:
            diags.info("S102", f"{source} key {key!r} is not applied by ingc (no stock nginx equivalent or "
                       "runtime-only)", loc=loc)
            continue
        close = difflib.get_close_matches(key, sorted(KNOWN_KEYS | set(EXTRA_KEYS)), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        diags.warning("S100", f"unknown {source} key {key!r}{hint}", loc=loc)
    return s
