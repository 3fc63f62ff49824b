"""Every annotation key ingress-nginx registers, with its risk level (for --annotations-risk-level).

Transcribed from ingress-nginx's final release (see the reference notes); one line per key:
``name risk [alias]``.
"""

from __future__ import annotations

RISK_LEVELS = {"Low": 1, "Medium": 2, "High": 3, "Critical": 4}

_TABLE = """
server-alias High
auth-secret Medium
auth-secret-type Low
auth-realm Medium
auth-type Low
auth-url High
auth-method Low
auth-signin High
auth-signin-redirect-param Medium
auth-snippet Critical
auth-cache-key Medium
auth-keepalive Low
auth-keepalive-share-vars Low
auth-keepalive-requests Low
auth-keepalive-timeout Low
auth-cache-duration Medium
auth-response-headers Medium
auth-proxy-set-headers Medium
auth-request-redirect Medium
auth-always-set-cookie Low
enable-global-auth Low
auth-tls-secret Medium
auth-tls-verify-client Medium
auth-tls-verify-depth Low
auth-tls-error-page High
auth-tls-pass-certificate-to-upstream Low
auth-tls-match-cn High
backend-protocol Low
canary Low
canary-weight Low
canary-weight-total Low
canary-by-header Medium
canary-by-header-value Medium
canary-by-header-pattern Medium
canary-by-cookie Medium
client-body-buffer-size Low
connection-proxy-header Low
enable-cors Low
cors-allow-origin Medium
cors-allow-headers Medium
cors-allow-methods Medium
cors-allow-credentials Low
cors-expose-headers Medium
cors-max-age Low
custom-headers Medium
custom-http-errors Low
default-backend Low
disable-proxy-intercept-errors Low
fastcgi-index Medium
fastcgi-params-configmap Medium
http2-push-preload Low
allowlist-source-range Medium whitelist-source-range
denylist-source-range Medium
load-balance Low
enable-access-log Low
enable-rewrite-log Low
mirror-request-body Low
mirror-target High
mirror-host High
enable-modsecurity Low
enable-owasp-core-rules Low
modsecurity-transaction-id High
modsecurity-snippet Critical
enable-opentelemetry Low
opentelemetry-trust-incoming-span Low
opentelemetry-operation-name Medium
use-port-in-redirects Low
proxy-connect-timeout Low
proxy-send-timeout Low
proxy-read-timeout Low
proxy-buffers-number Low
proxy-buffer-size Low
proxy-busy-buffers-size Low
proxy-cookie-path Medium
proxy-cookie-domain Medium
proxy-body-size Medium
proxy-next-upstream Medium
proxy-next-upstream-timeout Low
proxy-next-upstream-tries Low
proxy-request-buffering Low
proxy-redirect-from Medium
proxy-redirect-to Medium
proxy-buffering Low
proxy-http-version Low
proxy-max-temp-file-size Low
proxy-ssl-secret Medium
proxy-ssl-ciphers Medium
proxy-ssl-protocols Low
proxy-ssl-name High
proxy-ssl-verify Low
proxy-ssl-verify-depth Low
proxy-ssl-server-name Low
limit-rate Low
limit-rate-after Low
limit-rpm Low
limit-rps Low
limit-connections Low
limit-burst-multiplier Low
limit-allowlist Low limit-whitelist
from-to-www-redirect Low
temporal-redirect Medium
temporal-redirect-code Low
permanent-redirect Medium
permanent-redirect-code Low
relative-redirects Low
rewrite-target Medium
ssl-redirect Low
preserve-trailing-slash Medium
force-ssl-redirect Medium
use-regex Low
app-root Medium
satisfy Low
server-snippet Critical
service-upstream Low
affinity Low
affinity-mode Medium
affinity-canary-behavior Low
session-cookie-name Medium
session-cookie-secure Low
session-cookie-expires Medium
session-cookie-max-age Medium
session-cookie-path Medium
session-cookie-domain Medium
session-cookie-samesite Low
session-cookie-conditional-samesite-none Low
session-cookie-change-on-failure Low
configuration-snippet Critical
ssl-prefer-server-ciphers Low
ssl-ciphers Low
ssl-passthrough Low
stream-snippet Critical
upstream-hash-by High
upstream-hash-by-subset Low
upstream-hash-by-subset-size Low
upstream-vhost Low
x-forwarded-prefix Medium
"""

RISK: dict[str, int] = {}
ALIASES: dict[str, str] = {}  # alias -> canonical name
for _line in _TABLE.split("\n"):
    if _line.strip():
        _parts = _line.split()
        RISK[_parts[0]] = RISK_LEVELS[_parts[1]]
        if len(_parts) > 2:
            ALIASES[_parts[2]] = _parts[0]
            RISK[_parts[2]] = RISK_LEVELS[_parts[1]]

# Removed or renamed keys (kubectl ingress-nginx lint), with what to do instead.
REMOVED = {
    "secure-backends": "use backend-protocol: HTTPS",
    "grpc-backend": "use backend-protocol: GRPC",
    "add-base-url": "removed in ingress-nginx 0.22",
    "base-url-scheme": "removed in ingress-nginx 0.22",
    "session-cookie-hash": "removed in ingress-nginx 0.24",
    "mirror-uri": "use mirror-target",
    "enable-influxdb": "removed",
    "influxdb-measurement": "removed",
    "influxdb-port": "removed",
    "influxdb-host": "removed",
    "influxdb-server-name": "removed",
    "secure-verify-ca-secret": "use proxy-ssl-secret",
    "upstream-max-fails": "removed; no equivalent",
    "upstream-fail-timeout": "removed; no equivalent",
    "enable-opentracing": "use enable-opentelemetry",
    "global-rate-limit": "removed in ingress-nginx 1.12",
    "global-rate-limit-window": "removed in ingress-nginx 1.12",
    "global-rate-limit-key": "removed in ingress-nginx 1.12",
    "global-rate-limit-ignored-cidrs": "removed in ingress-nginx 1.12",
}

# Annotations that restrict access or traffic: when ingc cannot apply one, that is an error (fail closed),
# never a silently open location.
RESTRICTIVE_PREFIXES = ("auth-", "limit-")
RESTRICTIVE_SUFFIXES = ("-source-range",)
RESTRICTIVE = {"satisfy", "enable-modsecurity", "enable-owasp-core-rules", "whitelist-source-range"}


def is_restrictive(key: str) -> bool:
    return key in RESTRICTIVE or key.startswith(RESTRICTIVE_PREFIXES) or key.endswith(RESTRICTIVE_SUFFIXES)
