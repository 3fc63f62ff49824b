"""`ingc rules`: every rule `ingc check` reports, with its code, default severity and one-line doc."""

from __future__ import annotations

import json

import click


@click.command(name="rules")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("codes", nargs=-1, metavar="[CODE|PREFIX]...")
def command(fmt: str, codes: tuple[str, ...]) -> None:
    """List the rules of `ingc check` (all, or those whose code starts with one of CODES).

    Each line is CODE, the severity check reports it at by default ("varies" when the pass that finds
    it decides), and its one-line doc."""
    from ingc.check import rules_table

    rows = rules_table()
    if codes:
        wanted = tuple(c.upper() for c in codes)
        rows = [r for r in rows if r["code"].startswith(wanted)]
    if fmt == "json":
        click.echo(json.dumps({"rules": rows}, indent=2))
        return
    for r in rows:
        click.echo(f"{r['code']}  {r['severity']:<7}  {r['doc']}")
