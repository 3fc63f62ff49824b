"""Pass 6, render: print the prepared IR through the jinja2 templates.  Decides nothing."""

from __future__ import annotations

from functools import cache

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


def render(cfg: NginxConfig) -> str:
    """nginx.conf for a prepared config (see ingc.prepare)."""
    upstreams = [u for u in cfg.upstreams if not (u.needs_dns and cfg.resolver)]
    tmpl = environment().get_template("nginx.conf.j2")
    return tmpl.render(config=cfg, settings=cfg.settings, upstreams=upstreams, version=__version__)
