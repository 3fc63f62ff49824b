"""`ingc check`: validate manifests for CI and pre-commit; renders and verifies the would-be nginx.conf
but writes nothing."""

from __future__ import annotations

import sys
from typing import Any

import click

from ingc.cli import EXIT_NOTHING, EXIT_USAGE, common_options, internal_errors, make_options, use_color

FORMAT_CHOICES = ["text", "json", "junit", "github", "sarif", "tap", "auto"]

EPILOG = """\b
Exit codes:
  0  no error-level finding (warnings allowed)
  1  error-level findings (with --fail-on warning: warnings too)
  2  usage error (bad option, bad .ingc.yaml)
  3  nothing to check: no manifest of a kind ingc reads, or no input could be read
     (--allow-empty: exit 0 when the input was readable but held nothing to check)
  70 internal error (a bug in ingc)
"""


def _prescan(args: list[str]) -> tuple[str | None, bool]:
    """--config FILE / --no-config, read before parsing so the file can supply option defaults."""
    path: str | None = None
    disabled = False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            break
        if a == "--no-config":
            disabled = True
        elif a == "--config" and i + 1 < len(args):
            path = args[i + 1]
            i += 1
        elif a.startswith("--config="):
            path = a.split("=", 1)[1]
        i += 1
    return path, disabled


class ConfigCommand(click.Command):
    """A command whose option defaults come from `.ingc.yaml` (searched upward) or --config FILE."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not any(a in ("-h", "--help") for a in args):
            from ingc.config import ConfigError, load_config

            path, disabled = _prescan(args)
            try:
                cfg = load_config(path, search=not disabled)
            except ConfigError as exc:
                if ctx.resilient_parsing:  # shell completion: never fail on a bad configuration
                    return super().parse_args(ctx, args)
                raise click.UsageError(str(exc), ctx) from None
            params = {o[2:]: p for p in self.params if isinstance(p, click.Option) and p.name
                      for o in p.opts if o.startswith("--") and o not in ("--config", "--no-config")}
            defaults: dict[str, Any] = {}
            for key, value in cfg.options.items():
                param = params.get(key)
                if param is None or param.name is None:
                    if ctx.resilient_parsing:
                        continue
                    raise click.UsageError(f"{cfg.path}: options.{key}: no such option of ingc {ctx.info_name}",
                                           ctx)
                if param.multiple and not isinstance(value, list):
                    value = [value]
                defaults[param.name] = value
            ctx.default_map = {**(ctx.default_map or {}), **defaults}
            ctx.meta["ingc.config"] = cfg
        return super().parse_args(ctx, args)


def _kubernetes_version(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int] | None:
    if not value:
        return None
    from ingc.lint import parse_kubernetes_version

    try:
        return parse_kubernetes_version(str(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _reports(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for spec in value or ():
        fmt, sep, path = spec.partition("=")
        if not sep or not path or fmt not in FORMAT_CHOICES[:-1]:
            raise click.BadParameter(f"{spec!r} is not FMT=FILE with FMT one of {', '.join(FORMAT_CHOICES[:-1])}")
        out.append((fmt, path))
    return out


@click.command(cls=ConfigCommand, name="check", epilog=EPILOG)
@click.argument("paths", nargs=-1, metavar="[PATH|-]...")
@common_options
@click.option("-f", "--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="text", show_default=True,
              help="Report format (auto: github under GITHUB_ACTIONS=true, else text).  text goes to stderr "
                   "plus the summary line on stdout; every other format goes to stdout alone.")
@click.option("--report", "reports", multiple=True, metavar="FMT=FILE", callback=_reports,
              help="Also write the report in FMT to FILE (repeatable).")
@click.option("--strict", is_flag=True, help="Every warning is an error.")
@click.option("--require-references", is_flag=True,
              help="A Service or TLS Secret missing from the checked files is an error, not a warning.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True,
              help="Lowest severity that makes the exit code 1.")
@click.option("--allow-empty", is_flag=True, help="Exit 0 when there is nothing to check (pre-commit).")
@click.option("--kubernetes-version", default="", metavar="X.Y", callback=_kubernetes_version,
              help="Target cluster version: apiVersions removed by then are errors (C501).")
@click.option("--cert-expiry-days", type=click.IntRange(0), default=30, show_default=True,
              help="Warn about certificates that expire within this many days (C203).")
@click.option("--nginx", "run_nginx", is_flag=True,
              help="Also run the real `nginx -t` on a private copy of the would-be bundle.")
@click.option("--nginx-binary", default="", metavar="PATH", help="nginx for --nginx (default: $INGC_NGINX, PATH).")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Colour text findings (auto: only on a terminal, never under NO_COLOR).")
@click.option("-q", "--quiet", is_flag=True, help="Hide info-level findings in text output.")
@click.option("--config", "config_path", default=None, metavar="FILE",
              help="Configuration file (default: the nearest .ingc.yaml upward from the working directory).")
@click.option("--no-config", is_flag=True, help="Do not read any .ingc.yaml.")
@internal_errors
def command(paths: tuple[str, ...], fmt: str, reports: list[tuple[str, str]], strict: bool,
            require_references: bool, fail_on: str, allow_empty: bool, kubernetes_version: tuple[int, int] | None,
            cert_expiry_days: int, run_nginx: bool, nginx_binary: str, color: str, quiet: bool,
            config_path: str | None, no_config: bool, **kw: Any) -> None:
    """Check manifests (files, directories, - for stdin) the way `ingc build` compiles them, plus rules
    a schema cannot express; writes nothing.  `ingc rules` lists every rule."""
    from ingc.check import CheckOptions, render_report, run_check, text_lines
    from ingc.config import Config
    from ingc.diagnostics import Severity
    from ingc.lint import LintOptions
    from ingc.load import NothingToRead
    from ingc.report import resolve_format

    ctx = click.get_current_context()
    cfg: Config = ctx.meta.get("ingc.config") or Config()
    opts = make_options(kw, verify=True)
    copts = CheckOptions(strict=strict, require_references=require_references, fail_on=fail_on,
                         allow_empty=allow_empty, lint=LintOptions(kubernetes_version, cert_expiry_days),
                         nginx=run_nginx, nginx_binary=nginx_binary, config=cfg)
    try:
        report = run_check(paths, opts, copts)
    except NothingToRead as exc:
        click.echo(f"ingc: {exc}", err=True)
        sys.exit(EXIT_NOTHING)
    fmt = resolve_format(fmt)
    for extra_fmt, path in reports:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(render_report(report, extra_fmt))
        except OSError as exc:
            click.echo(f"ingc: --report {extra_fmt}={path}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_USAGE)
    if fmt == "text":
        colored = use_color(color, sys.stderr)
        for line in text_lines(report, colored, Severity.WARNING if quiet else Severity.INFO):
            click.echo(line, err=True, color=colored)
        click.echo(report.summary_line())
    else:
        click.echo(render_report(report, fmt), nl=False)
    code = report.exit_code(copts)
    if report.unreadable:
        click.echo("ingc: nothing to check: no input could be read", err=True)
    elif report.nothing and not allow_empty:
        click.echo("ingc: nothing to check: no Kubernetes manifest of a kind ingc reads was found "
                   "(--allow-empty makes this exit 0)", err=True)
    sys.exit(code)
