"""ingress-nginx annotations: an explicit registry of handlers (one module per group).

Adding an annotation touches its module, its table test, one golden case and this list; see README.md
in this directory.
"""

from __future__ import annotations

from ingc.annotations.base import Handler
from ingc.annotations.rewrite import RewriteHandler
from ingc.annotations.sslredirect import SslRedirectHandler

HANDLERS: list[Handler] = [
    RewriteHandler(),
    SslRedirectHandler(),
]

KNOWN_KEYS = {k.name for h in HANDLERS for k in h.keys}
