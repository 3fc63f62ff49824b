"""ingress-nginx annotations: an explicit registry of handlers (one module per group).

Adding an annotation touches its module, its table test, one golden case and this list; see README.md
in this directory.  Order matters where handlers build on each other: default-backend before
custom-http-errors (the error pages go to the Ingress's default backend).
"""

from __future__ import annotations

from ingc.annotations.access import SatisfyHandler, SourceRangeHandler
from ingc.annotations.alias import AliasHandler
from ingc.annotations.balance import BalanceHandler
from ingc.annotations.base import Handler
from ingc.annotations.basicauth import BasicAuthHandler
from ingc.annotations.canary import CanaryHandler
from ingc.annotations.errors import CustomErrorsHandler, DefaultBackendHandler
from ingc.annotations.extauth import ExtAuthHandler
from ingc.annotations.headers import CorsHandler, CustomHeadersHandler
from ingc.annotations.mirror import MirrorHandler
from ingc.annotations.protocol import ProtocolHandler
from ingc.annotations.proxy import MiscHandler, ProxyHandler
from ingc.annotations.ratelimit import RateLimitHandler
from ingc.annotations.redirect import RedirectHandler
from ingc.annotations.rewrite import RewriteHandler
from ingc.annotations.snippets import SnippetHandler
from ingc.annotations.sslredirect import SslRedirectHandler
from ingc.annotations.tls import AuthTlsHandler, ProxySslHandler, SslCipherHandler
from ingc.annotations.unsupported import UnsupportedHandler

HANDLERS: list[Handler] = [
    RewriteHandler(),
    SslRedirectHandler(),
    RedirectHandler(),
    AliasHandler(),
    ProxyHandler(),
    MiscHandler(),
    ProtocolHandler(),
    DefaultBackendHandler(),
    CustomErrorsHandler(),
    SourceRangeHandler(),
    BasicAuthHandler(),
    SnippetHandler(),  # before external-auth: auth-snippet goes into the auth location
    ExtAuthHandler(),
    SatisfyHandler(),
    RateLimitHandler(),
    CorsHandler(),
    CustomHeadersHandler(),
    SslCipherHandler(),
    AuthTlsHandler(),
    ProxySslHandler(),
    BalanceHandler(),
    MirrorHandler(),
    CanaryHandler(),
    UnsupportedHandler(),
]

KNOWN_KEYS = {k.name for h in HANDLERS for k in h.keys}
