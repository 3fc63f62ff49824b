"""Annotations ingress-nginx implements with modules stock nginx does not have (or that no longer exist).

Each is reported as ``unsupported`` with its reason, never silently dropped.  A restrictive one (a web
application firewall) that is switched on denies the Ingress's locations (503) instead of leaving them open.
"""

from __future__ import annotations

from ingc.annotations.base import Handler, Key, any_value

MODSECURITY = "needs the ModSecurity module (not in stock nginx)"
OTEL = "needs the OpenTelemetry module (not in stock nginx)"


class UnsupportedHandler(Handler):
    name = "unsupported"
    keys = (
        Key("enable-modsecurity", any_value, "ModSecurity web application firewall", unsupported=MODSECURITY,
            restrictive=True),
        Key("enable-owasp-core-rules", any_value, "OWASP core rule set for ModSecurity", unsupported=MODSECURITY,
            restrictive=True),
        Key("modsecurity-transaction-id", any_value, "ModSecurity transaction id", unsupported=MODSECURITY,
            restrictive=False),
        Key("enable-opentelemetry", any_value, "OpenTelemetry tracing", unsupported=OTEL, restrictive=False),
        Key("opentelemetry-trust-incoming-span", any_value, "trust incoming trace spans", unsupported=OTEL,
            restrictive=False),
        Key("opentelemetry-operation-name", any_value, "trace operation name", unsupported=OTEL, restrictive=False),
        Key("ssl-passthrough", any_value, "pass TLS through to the backend by SNI",
            unsupported="needs the stream module and ingress-nginx's TCP proxy (not loaded on stock Debian nginx)",
            restrictive=False),
    )
