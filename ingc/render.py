"""Pass 6, render: print the prepared IR through the jinja2 templates.  Decides nothing."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import IO

import jinja2

from ingc import __version__
from ingc.ir import NginxConfig
from ingc.resources import templates_dir


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """A cache that never fails a render: an unwritable cache only costs the compile."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates under ``$XDG_CACHE_HOME/ingc`` (default ``~/.cache/ingc``), one directory per
    ingc version; jinja2 checks each entry against its template's source.  None (compile every time)
    with ``INGC_NO_CACHE`` set, or when the directory cannot be made private to this user."""
    import os

    if os.environ.get("INGC_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "ingc", f"jinja2-{__version__}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o022:  # someone else could plant bytecode there
        return None
    return _QuietBytecodeCache(path)


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=bytecode_cache(),
    )


def _stream(cfg: NginxConfig) -> Iterator[str]:
    upstreams = [u for u in cfg.upstreams if not (u.needs_dns and cfg.resolver)]
    tmpl = environment().get_template("nginx.conf.j2")
    return tmpl.generate(config=cfg, settings=cfg.settings, upstreams=upstreams, version=__version__)


def render(cfg: NginxConfig) -> str:
    """nginx.conf for a prepared config (see ingc.prepare)."""
    return "".join(_stream(cfg))


def render_to(cfg: NginxConfig, fh: IO[bytes], chunk: int = 1 << 16) -> None:
    """Stream nginx.conf (UTF-8) into a binary file without holding every template fragment in memory."""
    buf: list[str] = []
    size = 0
    for piece in _stream(cfg):
        buf.append(piece)
        size += len(piece)
        if size >= chunk:
            fh.write("".join(buf).encode("utf-8"))
            buf, size = [], 0
    fh.write("".join(buf).encode("utf-8"))
