"""`ingc explain URL`: which server and location nginx picks for a request, why, and what happens."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from ingc.cli import (
    EXIT_ERRORS,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_USAGE,
    common_options,
    internal_errors,
    make_options,
)
from ingc.commands.routes import compile_ir, show_findings
from ingc.diagnostics import Diagnostics
from ingc.options import Options


@click.command("explain")
@click.argument("url")
@click.argument("paths", nargs=-1, metavar="[PATH|-]...")
@click.option("-X", "--request", "method", default="GET", show_default=True, metavar="METHOD")
@click.option("-H", "--header", "headers", multiple=True, metavar="'Name: value'",
              help="Request header (repeatable); 'Host: x' overrides the URL's host.")
@click.option("--cookie", "cookies", multiple=True, metavar="NAME=VALUE", help="Cookie (repeatable).")
@click.option("--client-ip", default="127.0.0.1", show_default=True, help="The client's address (source ranges).")
@click.option("--backend-status", type=click.IntRange(100, 599), default=None, metavar="CODE",
              help="What if the backend answers CODE (custom-http-errors, proxy_intercept_errors).")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common_options
@internal_errors
def command(url: str, paths: tuple[str, ...], method: str, headers: tuple[str, ...], cookies: tuple[str, ...],
            client_ip: str, backend_status: int | None, fmt: str, **kw: Any) -> None:
    """Explain what nginx does with the request URL: the server (server_name selection), the location
    (candidates in nginx's precedence and why each lost) and the result (redirect, auth, denial,
    rewrite, canary, upstream and endpoint, or the default 404/503)."""
    sys.exit(run_explain(url, paths, make_options(kw, verify=False), method, headers, cookies, client_ip, fmt,
                         backend_status))


def run_explain(url: str, paths: Sequence[str], opts: Options, method: str = "GET",
                headers: Sequence[str] = (), cookies: Sequence[str] = (), client_ip: str = "127.0.0.1",
                fmt: str = "text", backend_status: int | None = None) -> int:
    from ingc.explain import UsageError, as_dict, explain, parse_request, text

    try:
        req = parse_request(url, method, tuple(headers), tuple(cookies), client_ip, backend_status)
    except UsageError as exc:
        click.echo(f"ingc: {exc}", err=True)
        return EXIT_USAGE
    diags = Diagnostics()
    result = compile_ir(paths, opts, diags)
    if result is None or result.config is None:
        return EXIT_NOTHING
    show_findings(diags)
    ex = explain(result.config, req)
    if fmt == "json":
        click.echo(json.dumps(as_dict(ex), indent=2, sort_keys=True))
    else:
        click.echo(text(ex), nl=False)
    return EXIT_ERRORS if diags.has_errors else EXIT_OK
