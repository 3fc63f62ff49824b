"""`ingc routes`: print the routing table the manifests produce (from the IR `ingc build` renders)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from ingc.cli import EXIT_ERRORS, EXIT_NOTHING, EXIT_OK, common_options, internal_errors, make_options
from ingc.diagnostics import Diagnostics, Severity
from ingc.options import Options
from ingc.pipeline import CompileResult

FORMATS = ("text", "json", "markdown")


def compile_ir(paths: Sequence[str], opts: Options, diags: Diagnostics) -> CompileResult | None:
    """The prepared IR `ingc build` renders (no crossplane parse-back); None when nothing was read."""
    from dataclasses import replace

    from ingc.load import NothingToRead
    from ingc.pipeline import compile_sources

    try:
        result = compile_sources(list(paths) or ["-"], replace(opts, verify=False), diags)
    except NothingToRead as exc:
        click.echo(f"ingc: {exc}", err=True)
        return None
    if result.sources == 0 or result.nothing and not diags.has_errors:
        for d in diags.sorted():
            click.echo(d.format(), err=True)
        click.echo("ingc: nothing to compile: no Kubernetes manifest of a kind ingc reads was found", err=True)
        return None
    return result


def show_findings(diags: Diagnostics, quiet: bool = True) -> None:
    floor = Severity.WARNING if quiet else Severity.INFO
    for d in diags.sorted():
        if d.severity >= floor:
            click.echo(d.format(), err=True)


@click.command("routes")
@click.argument("paths", nargs=-1, metavar="[PATH|-]...")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="Only the server(s) for HOST: by name or alias, or the server nginx picks for it (repeatable).")
@common_options
@internal_errors
def command(paths: tuple[str, ...], fmt: str, hosts: tuple[str, ...], **kw: Any) -> None:
    """Print the routing table: per host, every nginx location in nginx's precedence (rank), its match
    kind, backend and endpoints, effective behaviour and the source file:line of the rule."""
    sys.exit(run_routes(paths, make_options(kw, verify=False), fmt, hosts))


def run_routes(paths: Sequence[str], opts: Options, fmt: str, hosts: tuple[str, ...] = ()) -> int:
    from ingc.routes import build_routes, render

    diags = Diagnostics()
    result = compile_ir(paths, opts, diags)
    if result is None or result.config is None:
        return EXIT_NOTHING
    show_findings(diags)
    routes = build_routes(result.config, hosts)
    click.echo(render(routes, fmt), nl=False)
    return EXIT_ERRORS if diags.has_errors else EXIT_OK
