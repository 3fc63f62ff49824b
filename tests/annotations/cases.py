"""The parse table: for every annotation key ingc knows, valid values, invalid values and what they need.

``VALID[key]`` and ``INVALID[key]`` list raw annotation values; ``NEEDS[key]`` adds the companion annotations and
manifests a value needs to take effect (a Secret, a ConfigMap, auth-type for auth-secret, ...).  The outcome of
an invalid value is the key's declared one (``Key.invalid``): fallback, deny or reject.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tests.annotations._support import configmap, ing, secret, svc
from tests.support.certs import make_ca, make_cert

HTPASSWD = "alice:{SHA}" + base64.b64encode(hashlib.sha1(b"wonderland").digest()).decode()

VALID: dict[str, list[str]] = {
    # routing and rewriting
    "rewrite-target": ["/", "/new/$1", "/$2"],
    "use-regex": ["true", "false"],
    "x-forwarded-prefix": ["/api"],
    "app-root": ["/app", "/app/index.html"],
    "permanent-redirect": ["https://example.com/new?a=1&b=2"],
    "permanent-redirect-code": ["308", "300"],
    "temporal-redirect": ["http://example.com/"],
    "temporal-redirect-code": ["307"],
    "relative-redirects": ["true"],
    "from-to-www-redirect": ["true"],
    "server-alias": ["b.test", "b.test, c.test", "*.d.test"],
    "default-backend": ["errors"],
    "custom-http-errors": ["404", "404, 500,503"],
    "disable-proxy-intercept-errors": ["true"],
    "upstream-vhost": ["internal.example", "$host"],
    "use-port-in-redirects": ["true"],
    "ssl-redirect": ["false"],
    "force-ssl-redirect": ["true"],
    "preserve-trailing-slash": ["true"],
    # proxy tuning
    "proxy-connect-timeout": ["10"],
    "proxy-send-timeout": ["30"],
    "proxy-read-timeout": ["3600"],
    "proxy-buffers-number": ["8"],
    "proxy-buffer-size": ["16k", "8K"],
    "proxy-busy-buffers-size": ["32k"],
    "proxy-body-size": ["8m", "1024", "0", "100b"],
    "proxy-max-temp-file-size": ["0", "2g"],
    "proxy-buffering": ["on", "OFF"],
    "proxy-request-buffering": ["off"],
    "proxy-http-version": ["1.0"],
    "proxy-next-upstream": ["error timeout http_502", "off"],
    "proxy-next-upstream-timeout": ["5"],
    "proxy-next-upstream-tries": ["1"],
    "proxy-cookie-path": ["/ /app", "off"],
    "proxy-cookie-domain": ["internal.example example.com", "off"],
    "proxy-redirect-from": ["http://internal/", "default", "off"],
    "proxy-redirect-to": ["https://example.com/"],
    "client-body-buffer-size": ["16k"],
    "connection-proxy-header": ["keep-alive", "close"],
    "enable-access-log": ["false"],
    "enable-rewrite-log": ["true"],
    "backend-protocol": ["HTTPS", "grpc", "GRPCS", "AUTO_HTTP", "FCGI", "HTTP"],
    "fastcgi-index": ["index.php"],
    "fastcgi-params-configmap": ["fcgi"],
    # access
    "allowlist-source-range": ["10.0.0.0/8, 192.168.1.1", "::1"],
    "whitelist-source-range": ["10.0.0.0/8"],
    "denylist-source-range": ["10.1.0.0/16"],
    "auth-type": ["basic"],
    "auth-secret": ["users", "default/users"],
    "auth-secret-type": ["auth-file", "auth-map"],
    "auth-realm": ["Authentication Required - ok"],
    "auth-url": ["http://auth.example:8080/verify", "https://auth.example/check?host=$host&u=$request_uri"],
    "auth-method": ["POST"],
    "auth-signin": ["https://login.example/start", "https://login.example/start?rd=$scheme://$host"],
    "auth-signin-redirect-param": ["return_to"],
    "auth-response-headers": ["X-User, X-Email"],
    "auth-request-redirect": ["https://example.com/back"],
    "auth-always-set-cookie": ["true"],
    "auth-proxy-set-headers": ["authheaders"],
    "enable-global-auth": ["false"],
    "satisfy": ["any", "all"],
    # limits
    "limit-rps": ["10"],
    "limit-rpm": ["100"],
    "limit-connections": ["5"],
    "limit-burst-multiplier": ["2"],
    "limit-rate": ["512"],
    "limit-rate-after": ["1024"],
    "limit-allowlist": ["10.0.0.0/8"],
    "limit-whitelist": ["127.0.0.1"],
    # headers
    "enable-cors": ["true", "false"],
    "cors-allow-origin": ["*", "https://a.example, https://*.b.example:8443", "null"],
    "cors-allow-methods": ["GET, POST"],
    "cors-allow-headers": ["X-Custom, Content-Type"],
    "cors-allow-credentials": ["false"],
    "cors-expose-headers": ["X-Total, *"],
    "cors-max-age": ["600"],
    "custom-headers": ["headers"],
}

INVALID: dict[str, list[str]] = {
    "rewrite-target": ["/a b", "/x;return 200", "/$host"],
    "use-regex": ["yes"],
    "x-forwarded-prefix": ["/a b"],
    "app-root": ["/a b", "http://x/"],
    "permanent-redirect": ["https://x/$request_uri", "https://x/a b", "https://x/\";}"],
    "permanent-redirect-code": ["abc"],
    "temporal-redirect": ["https://x/%41"],
    "temporal-redirect-code": ["3o2"],
    "relative-redirects": ["maybe"],
    "from-to-www-redirect": ["yes"],
    "server-alias": ["b.test;", "a b.test"],
    "default-backend": ["Not_A_Name"],
    "custom-http-errors": ["200", "404;"],
    "disable-proxy-intercept-errors": ["yes"],
    "upstream-vhost": ["a b", "$secret_var"],
    "use-port-in-redirects": ["yes"],
    "ssl-redirect": ["yes"],
    "force-ssl-redirect": ["yes"],
    "preserve-trailing-slash": ["yes"],
    "proxy-connect-timeout": ["5s", "-1"],
    "proxy-send-timeout": ["x"],
    "proxy-read-timeout": ["1h"],
    "proxy-buffers-number": ["many"],
    "proxy-buffer-size": ["4kb"],
    "proxy-busy-buffers-size": ["big"],
    "proxy-body-size": ["8 m;", "1t"],
    "proxy-max-temp-file-size": ["1x"],
    "proxy-buffering": ["yes"],
    "proxy-request-buffering": ["maybe"],
    "proxy-http-version": ["2"],
    "proxy-next-upstream": ["error; return"],
    "proxy-next-upstream-timeout": ["x"],
    "proxy-next-upstream-tries": ["x"],
    "proxy-cookie-path": ["/ /a$x"],
    "proxy-cookie-domain": ["one"],
    "proxy-redirect-from": ["http://a/$x"],
    "proxy-redirect-to": ["http://a/ b/ c/"],
    "client-body-buffer-size": ["1x"],
    "connection-proxy-header": ["upgrade"],
    "enable-access-log": ["nope"],
    "enable-rewrite-log": ["nope"],
    "backend-protocol": ["SPDY"],
    "fastcgi-index": ["index;php"],
    "fastcgi-params-configmap": ["a;b"],
    "allowlist-source-range": ["10.0.0.0/33", "nope"],
    "whitelist-source-range": ["999.1.1.1"],
    "denylist-source-range": ["x"],
    "auth-type": ["ntlm"],
    "auth-secret": ["a;b"],
    "auth-secret-type": ["auth-db"],
    "auth-realm": ["a\"b", "a;b"],
    "auth-url": ["http://a b", "http://auth/$secret_variable"],
    "auth-method": ["FETCH"],
    "auth-signin": ["https://x/ y"],
    "auth-signin-redirect-param": ["r d"],
    "auth-response-headers": ["X-User;", "X User"],
    "auth-request-redirect": ["https://x/$y"],
    "auth-always-set-cookie": ["sometimes"],
    "auth-proxy-set-headers": ["a;b"],
    "enable-global-auth": ["nope"],
    "satisfy": ["none"],
    "limit-rps": ["ten"],
    "limit-rpm": ["1.5"],
    "limit-connections": ["x"],
    "limit-burst-multiplier": ["x"],
    "limit-rate": ["fast"],
    "limit-rate-after": ["x"],
    "limit-allowlist": ["10.0.0.0/99"],
    "limit-whitelist": ["x"],
    "enable-cors": ["yes"],
    "cors-allow-origin": ["https://a.example/path", "ftp//x"],
    "cors-allow-methods": ["GET;"],
    "cors-allow-headers": ["X-A;"],
    "cors-allow-credentials": ["yes"],
    "cors-expose-headers": ["X-A;"],
    "cors-max-age": ["forever"],
    "custom-headers": ["a;b"],
}

VALID.update({
    # TLS
    "ssl-ciphers": ["HIGH:!aNULL:!MD5", "ECDHE-RSA-AES128-GCM-SHA256@SECLEVEL=1"],
    "ssl-prefer-server-ciphers": ["true", "false"],
    "auth-tls-secret": ["ca", "default/ca"],
    "auth-tls-verify-client": ["optional", "optional_no_ca", "off"],
    "auth-tls-verify-depth": ["2"],
    "auth-tls-error-page": ["https://errors.example/cert", "/cert-error.html", "@named"],
    "auth-tls-pass-certificate-to-upstream": ["true"],
    "auth-tls-match-cn": ["CN=client", "CN=(alice|bob)\\.example$"],
    "proxy-ssl-secret": ["client"],
    "proxy-ssl-ciphers": ["HIGH:!aNULL"],
    "proxy-ssl-protocols": ["TLSv1.2 TLSv1.3"],
    "proxy-ssl-name": ["backend.internal"],
    "proxy-ssl-verify": ["on"],
    "proxy-ssl-verify-depth": ["3"],
    "proxy-ssl-server-name": ["on"],
    # traffic
    "load-balance": ["round_robin"],
    "upstream-hash-by": ["$request_uri", "$binary_remote_addr", "${http_x_user}$arg_id"],
    "service-upstream": ["true"],
    "affinity": ["cookie"],
    "affinity-mode": ["persistent"],
    "session-cookie-name": ["route"],
    "session-cookie-path": ["/app"],
    "session-cookie-domain": ["example.com"],
    "session-cookie-max-age": ["3600"],
    "session-cookie-expires": ["172800"],
    "session-cookie-secure": ["true"],
    "session-cookie-samesite": ["Lax", "none"],
    "mirror-target": ["http://10.0.0.7:8080", "https://10.0.0.7$request_uri"],
    "mirror-host": ["mirror.example"],
    "mirror-request-body": ["off"],
    "canary": ["true", "false"],
    "canary-weight": ["30", "0"],
    "canary-weight-total": ["1000"],
    "canary-by-header": ["X-Canary"],
    "canary-by-header-value": ["yes-please"],
    "canary-by-header-pattern": ["^(beta|alpha)$"],
    "canary-by-cookie": ["canary_cookie", "my-canary"],
    # snippets and the rest
    "configuration-snippet": ['add_header X-Snippet "on";', "if ($arg_debug) { return 418; }"],
    "server-snippet": ["add_header X-Server 1;", 'location = /status { return 200 "ok"; }'],
    "auth-snippet": ['proxy_set_header X-Auth-Snippet "1";'],
    "http2-push-preload": ["true"],
})

INVALID.update({
    "ssl-ciphers": ["HIGH;return 200", "HIGH aNULL\"x"],
    "ssl-prefer-server-ciphers": ["yes"],
    "auth-tls-secret": ["a;b"],
    "auth-tls-verify-client": ["required"],
    "auth-tls-verify-depth": ["deep"],
    "auth-tls-error-page": ["https://x/$host", "https://x/a b;"],
    "auth-tls-pass-certificate-to-upstream": ["yes"],
    "auth-tls-match-cn": ["client", 'CN=x") { return 200; } if ($a ~ "', "CN=(unclosed", "CN=$host"],
    "proxy-ssl-secret": ["a;b"],
    "proxy-ssl-ciphers": ["HIGH;x"],
    "proxy-ssl-protocols": ["SSLv3"],
    "proxy-ssl-name": ["a b;"],
    "proxy-ssl-verify": ["yes"],
    "proxy-ssl-verify-depth": ["x"],
    "proxy-ssl-server-name": ["yes"],
    "load-balance": ["random"],
    "upstream-hash-by": ["$request_uri;", "$secret", "$upstream_addr"],
    "service-upstream": ["yes"],
    "affinity": ["ip"],
    "affinity-mode": ["sticky"],
    "session-cookie-name": ["a;b"],
    "session-cookie-path": ["/a b$x"],
    "session-cookie-domain": ["a;b"],
    "session-cookie-max-age": ["1h"],
    "session-cookie-expires": ["soon"],
    "session-cookie-secure": ["yes"],
    "session-cookie-samesite": ["Sometimes"],
    "mirror-target": ["http://10.0.0.7/;return 200", "ftp://x", "http://10.0.0.7/$secret"],
    "mirror-host": ["a b", "x;y"],
    "mirror-request-body": ["maybe"],
    "canary": ["yes"],
    "canary-weight": ["half"],
    "canary-weight-total": ["x"],
    "canary-by-header": ["X;Canary"],
    "canary-by-header-value": ["a b;"],
    "canary-by-header-pattern": ["(unclosed", "a;b"],
    "canary-by-cookie": ["a;b"],
    "configuration-snippet": ["}", "load_module /tmp/x.so;", "content_by_lua_block { }", "add_header X"],
    "server-snippet": ["} server { listen 1;", "include /etc/passwd;"],
    "auth-snippet": ["{"],
    "http2-push-preload": ["yes"],
})

# What a value needs to be applied: companion annotations and extra manifests.
NEEDS: dict[str, tuple[dict[str, str], list[dict[str, Any]]]] = {
    "x-forwarded-prefix": ({"rewrite-target": "/"}, []),
    "permanent-redirect-code": ({"permanent-redirect": "https://example.com/"}, []),
    "temporal-redirect-code": ({"temporal-redirect": "https://example.com/"}, []),
    "default-backend": ({}, svc("errors", ip="10.0.0.9")),
    "disable-proxy-intercept-errors": ({"custom-http-errors": "503"}, []),
    "fastcgi-index": ({"backend-protocol": "FCGI"}, []),
    "fastcgi-params-configmap": ({"backend-protocol": "FCGI"},
                                 [configmap("fcgi", {"SCRIPT_FILENAME": "/srv/$fastcgi_script_name"})]),
    "auth-type": ({"auth-secret": "users"}, [secret("users", {"auth": HTPASSWD})]),
    "auth-secret": ({"auth-type": "basic"}, [secret("users", {"auth": HTPASSWD})]),
    "auth-secret-type": ({"auth-type": "basic", "auth-secret": "users"},
                         [secret("users", {"auth": HTPASSWD, "bob": HTPASSWD.split(":", 1)[1]})]),
    "auth-realm": ({"auth-type": "basic", "auth-secret": "users"}, [secret("users", {"auth": HTPASSWD})]),
    "auth-method": ({"auth-url": "http://127.0.0.1:9/auth"}, []),
    "auth-signin": ({"auth-url": "http://127.0.0.1:9/auth"}, []),
    "auth-signin-redirect-param": ({"auth-url": "http://127.0.0.1:9/auth", "auth-signin": "https://l.example/"}, []),
    "auth-response-headers": ({"auth-url": "http://127.0.0.1:9/auth"}, []),
    "auth-request-redirect": ({"auth-url": "http://127.0.0.1:9/auth"}, []),
    "auth-always-set-cookie": ({"auth-url": "http://127.0.0.1:9/auth"}, []),
    "auth-proxy-set-headers": ({"auth-url": "http://127.0.0.1:9/auth"},
                               [configmap("authheaders", {"X-Tenant": "blue", "X-Host": "$host"})]),
    "satisfy": ({"whitelist-source-range": "10.0.0.0/8"}, []),
    "limit-burst-multiplier": ({"limit-rps": "5"}, []),
    "limit-allowlist": ({"limit-rps": "5"}, []),
    "limit-whitelist": ({"limit-rps": "5"}, []),
    "cors-allow-origin": ({"enable-cors": "true"}, []),
    "cors-allow-methods": ({"enable-cors": "true"}, []),
    "cors-allow-headers": ({"enable-cors": "true"}, []),
    "cors-allow-credentials": ({"enable-cors": "true"}, []),
    "cors-expose-headers": ({"enable-cors": "true"}, []),
    "cors-max-age": ({"enable-cors": "true"}, []),
    "custom-headers": ({}, [configmap("headers", {"X-Frame-Options": "DENY"})]),
}

CA_CRT, CA_KEY = make_ca()
CLIENT_CRT, CLIENT_KEY = make_cert(["client.example"], issuer=(CA_CRT, CA_KEY))
CA_SECRET = secret("ca", {"ca.crt": CA_CRT})
CLIENT_SECRET = secret("client", {"tls.crt": CLIENT_CRT, "tls.key": CLIENT_KEY, "ca.crt": CA_CRT})
MAIN = [*svc("stable", ip="10.0.0.8"), ing("main", paths=(("/", "stable"),), created="2020-01-01T00:00:00Z")]
for _k in ("auth-tls-verify-client", "auth-tls-verify-depth", "auth-tls-error-page",
           "auth-tls-pass-certificate-to-upstream", "auth-tls-match-cn"):
    NEEDS[_k] = ({"auth-tls-secret": "ca"}, [CA_SECRET])
NEEDS["auth-tls-secret"] = ({}, [CA_SECRET])
NEEDS["proxy-ssl-secret"] = ({"backend-protocol": "HTTPS"}, [CLIENT_SECRET])
for _k in ("proxy-ssl-ciphers", "proxy-ssl-protocols", "proxy-ssl-name", "proxy-ssl-verify", "proxy-ssl-verify-depth",
           "proxy-ssl-server-name"):
    NEEDS[_k] = ({"proxy-ssl-secret": "client", "backend-protocol": "HTTPS"}, [CLIENT_SECRET])
for _k in ("affinity-mode", "session-cookie-name", "session-cookie-path", "session-cookie-domain",
           "session-cookie-max-age", "session-cookie-expires", "session-cookie-secure", "session-cookie-samesite"):
    NEEDS[_k] = ({"affinity": "cookie"}, [])
NEEDS["mirror-host"] = ({"mirror-target": "http://10.0.0.7:8080"}, [])
NEEDS["mirror-request-body"] = ({"mirror-target": "http://10.0.0.7:8080"}, [])
NEEDS["canary"] = ({}, MAIN)
for _k in ("canary-weight", "canary-weight-total", "canary-by-header", "canary-by-header-value",
           "canary-by-header-pattern", "canary-by-cookie"):
    NEEDS[_k] = ({"canary": "true"}, MAIN)
NEEDS["canary-by-header-value"] = ({"canary": "true", "canary-by-header": "X-Canary"}, MAIN)
NEEDS["canary-by-header-pattern"] = ({"canary": "true", "canary-by-header": "X-Canary"}, MAIN)
NEEDS["auth-snippet"] = ({"auth-url": "http://127.0.0.1:9/auth"}, [])

# Options some keys need (snippets are refused unless allowed).
OPTIONS: dict[str, dict[str, Any]] = {k: {"allow_snippet_annotations": True}
                                      for k in ("configuration-snippet", "server-snippet", "auth-snippet")}

# Settings (ConfigMap keys) some values need.
SETTINGS: dict[str, dict[str, str]] = {
    "custom-headers": {"global-allowed-response-headers": "X-Frame-Options"},
}

# Keys whose value is "applied" only in combination (the report says applied; the output depends on others).
ALIASES = {"whitelist-source-range": "allowlist-source-range", "limit-whitelist": "limit-allowlist"}

# Values that pass validation but cannot be used (a missing Secret or ConfigMap, a malformed reference): the
# Ingress's locations answer 503 - never an open location.
DENIED: dict[str, list[str]] = {
    "auth-secret": ["missing", "ns/a/b", "other/users"],
    "auth-type": ["digest"],
    "auth-proxy-set-headers": ["missing", "ns/a/b"],
    "custom-headers": ["missing", "ns/a/b"],
    "fastcgi-params-configmap": ["missing"],
    "auth-url": ["auth.example/path", "http:///path"],
    "auth-tls-secret": ["missing"],
    "proxy-ssl-secret": ["missing", "ca"],
}
