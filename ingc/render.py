"""Pass 6, render: print the prepared IR through the jinja2 templates.  Decides nothing."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import IO

import jinja2

from ingc import __version__
from ingc.ir import NginxConfig
from ingc.resources import templates_dir


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _stream(cfg: NginxConfig) -> Iterator[str]:
    upstreams = [u for u in cfg.upstreams if not (u.needs_dns and cfg.resolver)]
    tmpl = environment().get_template("nginx.conf.j2")
    return tmpl.generate(config=cfg, settings=cfg.settings, upstreams=upstreams, version=__version__)


def render(cfg: NginxConfig) -> str:
    """nginx.conf for a prepared config (see ingc.prepare)."""
    return "".join(_stream(cfg))


def render_to(cfg: NginxConfig, fh: IO[str], chunk: int = 1 << 16) -> None:
    """Stream nginx.conf into a file without holding every template fragment in memory."""
    buf: list[str] = []
    size = 0
    for piece in _stream(cfg):
        buf.append(piece)
        size += len(piece)
        if size >= chunk:
            fh.write("".join(buf))
            buf, size = [], 0
    fh.write("".join(buf))
