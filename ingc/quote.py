"""The one quoting function every user-derived nginx argument passes through, and its validators.

nginx un-escapes ``\\"`` and ``\\\\`` inside double quotes and turns ``\\n``/``\\r``/``\\t`` into control
characters, so values are validated first (control characters refused), then wrapped in double quotes
with ``\\`` and ``"`` escaped.  ``$`` has no escape in nginx: literal fields rewrite it to
``${literal_dollar}`` (a ``geo`` variable that yields ``$``), capture fields allow only ``$1``-``$9``.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
CAPTURE_DOLLAR = re.compile(r"\$(?![1-9](?![0-9]))")


class UnsafeValue(ValueError):
    """A value that cannot be placed in nginx.conf safely."""


def check_no_control(value: str) -> None:
    m = CONTROL.search(value)
    if m:
        raise UnsafeValue(f"control character U+{ord(m.group()):04X} is not allowed")


def ngx_quote(value: str) -> str:
    """Double-quote one argument; refuses control characters.  Does not touch ``$``."""
    check_no_control(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """A value nginx must print literally: ``$`` becomes ``${literal_dollar}``, then quoted."""
    check_no_control(value)
    return ngx_quote(value.replace("$", "${literal_dollar}"))


def capture(value: str) -> str:
    """A value that may reference regex captures ``$1``..``$9`` and nothing else."""
    if CAPTURE_DOLLAR.search(value):
        raise UnsafeValue("only $1..$9 may follow '$'")
    return ngx_quote(value)


def regex(value: str) -> str:
    """A PCRE pattern (location, rewrite, server_name): quoted, ``$`` only as an anchor."""
    check_no_control(value)
    if re.search(r"\$(?=[A-Za-z_{])", value):
        raise UnsafeValue("'$' may only be a regex anchor here")
    return ngx_quote(value)
