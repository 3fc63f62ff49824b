"""Hostile strings: a fixed corpus (including the ingress-nginx CVE payloads) and hypothesis strategies."""

from __future__ import annotations

from hypothesis import strategies as st

# Pieces that break nginx's tokenizer, crossplane's builder or an HTTP header when spliced in unquoted.
ATOMS = [
    '"', "'", "\\", "\\\\", '\\"', "#", ";", "{", "}", "$", "${", "${host}", "$host", "$1", "$http_authorization",
    "${literal_dollar}", "\r", "\n", "\r\n", "\x00", "\t", "\x0b", "\x0c", "\x7f", "\u0085", "\u2028", "\u2029",
    " ", "  ", "%0d%0a", "%00", "..", "../", "/..", "//", "~", "~*", "^", "(", ")", "[", "]", "*", "?", "&", "=",
    ",", ":", "@", "!", "|", "<", ">", "`", "é", "\u202e", "\ufeff", "\U0001f600",
    '"; } location /pwn { return 200 pwned; } #',
    "'; } location /pwn { return 200 pwned; } #",
    "}; return 200 pwned; #",
    "\\'; } location /pwn { #",
    "load_module /tmp/x.so;",
    "ssl_engine /tmp/x.so;",
    "include /etc/passwd;",
    "content_by_lua_block { os.execute('id') }",
    "alias /var/run/secrets/;",
    "root /;",
    "/etc/nginx",
    "\n}\nserver { listen 81; }\n#",
    "\r\nSet-Cookie: injected=1",
]

# Characters hypothesis mixes in around the atoms.
_ALPHABET = st.characters(codec="utf-8")  # every code point but surrogates

hostile_fragment = st.one_of(st.sampled_from(ATOMS), st.text(_ALPHABET, max_size=4),
                             st.text("abcxyz019-_./", min_size=1, max_size=6))

hostile_text = st.one_of(
    st.lists(hostile_fragment, min_size=1, max_size=8).map("".join),
    st.text(_ALPHABET, min_size=1, max_size=40),
)

# Very long values: nginx has no argument length limit below 4 KiB per line buffer issues in some tools.
long_text = st.builds(lambda n, tail: "a" * n + tail, st.integers(1000, 20000), st.sampled_from(ATOMS))


def hostile(prefix: str = "") -> st.SearchStrategy[str]:
    """A hostile string, optionally behind a prefix that makes it plausible for its field (``/`` for paths)."""
    return st.one_of(hostile_text, long_text).map(lambda s: prefix + s)


def benign(value: str, keep: str = "/._-") -> str:
    """The same string with every character that could matter to nginx or HTTP replaced by ``x``.

    Keeps ASCII letters and digits and the characters in ``keep``, so structure-relevant features (a leading
    or trailing ``/``, the length) survive and the benign build is comparable.
    """
    return "".join(c if (c.isascii() and c.isalnum()) or c in keep else "x" for c in value)


# --------------------------------------------------------------------------- explicit payloads

# Hostile values every test runs as explicit examples, whatever hypothesis draws.
EXPLICIT = [
    'x"', "x\\", 'x\\"', "x'", "#x", "x#y", "x;y", "x{y}", "x}", "$x", "${x}", "$host", "${literal_dollar}",
    "x\ny", "x\r\ny", "x\x00y", "x\u2028y", "x\u0085y", "x\ty",
    '"; } location /pwn { return 200 pwned; } #',
    "x\\'; } location /pwn { return 200 pwned; } location /zz { #",
    "a" * 20000 + '"',
]

# The ingress-nginx CVE payloads, by the annotation (or field) they abused.  Each must be refused, or
# compiled into exactly the structure of the same manifests without it.
PWN = "} } load_module /tmp/pwn.so; ssl_engine /tmp/pwn.so; http { server { location /pwn { return 200 pwned; #"
CVE_ANNOTATIONS: list[tuple[str, str, str]] = [
    # (id, annotation key, value)
    ("CVE-2021-25742-configuration-snippet", "configuration-snippet",
     "more_set_headers \"X: $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)\";"),
    ("CVE-2023-5043-configuration-snippet", "configuration-snippet", "} location /pwn { return 200 pwned; "),
    ("CVE-2021-25742-server-snippet", "server-snippet", "location /pwn { alias /var/run/secrets/; }"),
    ("auth-snippet", "auth-snippet", "} load_module /tmp/pwn.so; #"),
    ("stream-snippet", "stream-snippet", "server { listen 9999; proxy_pass 127.0.0.1:22; }"),
    ("modsecurity-snippet", "modsecurity-snippet", "SecRuleEngine Off"),
    ("CVE-2023-5044-permanent-redirect", "permanent-redirect", "https://example.com/;" + PWN),
    ("CVE-2023-5044-permanent-redirect-newline", "permanent-redirect", "https://example.com/\n}" + PWN),
    ("temporal-redirect", "temporal-redirect", "https://example.com/\";" + PWN),
    ("CVE-2025-24514-auth-url", "auth-url", "http://example.com/#;\n" + PWN),
    ("CVE-2025-24514-auth-url-quote", "auth-url", 'http://example.com/"; ' + PWN),
    ("auth-signin", "auth-signin", "https://example.com/$host\";" + PWN),
    ("CVE-2025-1097-auth-tls-match-cn", "auth-tls-match-cn", 'CN=x") { } } ' + PWN),
    ("CVE-2025-1097-auth-tls-match-cn-newline", "auth-tls-match-cn", "CN=x\n" + PWN),
    ("CVE-2025-1098-mirror-target", "mirror-target", 'http://example.com/"; ' + PWN),
    ("CVE-2025-1098-mirror-target-brace", "mirror-target", "http://example.com/ { } " + PWN),
    ("CVE-2025-1098-mirror-host", "mirror-host", 'example.com"; ' + PWN),
    ("CVE-2025-15566-auth-proxy-set-headers", "auth-proxy-set-headers", "shop/headers"),
    ("custom-headers", "custom-headers", "shop/headers"),
    ("auth-tls-error-page", "auth-tls-error-page", "https://example.com/\";" + PWN),
    ("upstream-vhost", "upstream-vhost", 'x"; ' + PWN),
    ("proxy-ssl-name", "proxy-ssl-name", "x; " + PWN),
    ("server-alias", "server-alias", 'x"; ' + PWN),
    ("x-forwarded-prefix", "x-forwarded-prefix", '/x"; ' + PWN),
    ("rewrite-target", "rewrite-target", '/x"; ' + PWN),
    ("rewrite-target-variable", "rewrite-target", "/$http_authorization"),
    ("app-root", "app-root", '/x"; ' + PWN),
    ("cors-allow-origin", "cors-allow-origin", 'https://x.example.com"; ' + PWN),
    ("cors-allow-headers", "cors-allow-headers", "X-Ok\r\nSet-Cookie: a=b"),
    ("proxy-cookie-path", "proxy-cookie-path", '/ /x"; ' + PWN),
    ("session-cookie-name", "session-cookie-name", 'x"; ' + PWN),
    ("auth-realm", "auth-realm", 'realm"; ' + PWN),
    ("auth-cache-key", "auth-cache-key", "$http_authorization${ " + PWN),
    ("default-backend", "default-backend", "x; " + PWN),
    ("limit-allowlist", "limit-allowlist", "10.0.0.0/8; " + PWN),
    ("allowlist-source-range", "allowlist-source-range", "10.0.0.0/8; " + PWN),
]

# Header values the CVE-2025-15566 ConfigMap carried (referenced by auth-proxy-set-headers/custom-headers).
CVE_HEADER_CONFIGMAP = {
    "X-Ok": "value",
    "X-Pwn": '"; } } ' + PWN,
    "X-Newline": "a\r\nSet-Cookie: injected=1",
    "X-Dollar": "$http_authorization",
    "X-Pwn\"; load_module /tmp/pwn.so; #": "v",
}

# Path injections (CVE-2021-25745, CVE-2026-24512, comment injection CVE-2026-4342).
CVE_PATHS: list[tuple[str, str, str]] = [
    ("CVE-2021-25745-alias", "/bla{alias /var/run/secrets/;}location ~* ^/abcd", "ImplementationSpecific"),
    ("CVE-2021-25745-alias-prefix", "/bla{alias /var/run/secrets/;}location ~* ^/abcd", "Prefix"),
    ("CVE-2021-25745-root", "/x;root /etc/;", "ImplementationSpecific"),
    ("deep-inspect-etc", "/etc/nginx", "ImplementationSpecific"),
    ("deep-inspect-lua", "/x/content_by_lua_block", "ImplementationSpecific"),
    ("CVE-2026-24512-quote", '/x" { return 200 pwned; } location "/y', "ImplementationSpecific"),
    ("CVE-2026-24512-backslash", "/x\\", "ImplementationSpecific"),
    ("CVE-2026-24512-backslash-quote", '/x\\"; return 200 pwned; #', "ImplementationSpecific"),
    ("CVE-2026-4342-comment-newline", "/x\n}\nlocation /pwn { return 200 pwned; }\n#", "ImplementationSpecific"),
    ("CVE-2026-4342-comment-cr", "/x\r}\rlocation /pwn { return 200 pwned; }\r#", "ImplementationSpecific"),
    ("comment-u2028", "/x\u2028} location /pwn { return 200 pwned; }", "ImplementationSpecific"),
    ("comment-hash", "/x #} location /pwn { return 200 pwned; }", "ImplementationSpecific"),
    ("dollar-variable", "/x$http_authorization", "ImplementationSpecific"),
    ("nul", "/x\x00y", "ImplementationSpecific"),
]
