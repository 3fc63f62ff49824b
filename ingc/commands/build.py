"""`ingc build`: compile, report, write the bundle (or nginx.conf to stdout)."""

from __future__ import annotations

import json
import sys

import click

from ingc import cli
from ingc.annotations.engine import ReportEntry
from ingc.cli import EXIT_ERRORS, EXIT_INTERNAL, EXIT_NOTHING, EXIT_OK, emit_diagnostics, exit_code
from ingc.diagnostics import Diagnostics, Severity, visible
from ingc.load import NothingToRead
from ingc.options import Options
from ingc.report import resolve_format

_RETAINED: list[object] = []
VERIFY_CODES = {"N100", "N101", "N102", "N103", "N104"}


def annotation_table(entries: list[ReportEntry]) -> str:
    rows = [("INGRESS", "ANNOTATION", "STATUS", "REASON")]
    rows += [(visible(str(e.ingress).removeprefix("Ingress ")), visible(e.key), e.status, visible(e.reason))
             for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows)


def report_json(entries: list[ReportEntry]) -> str:
    data = [{"ingress": {"namespace": e.ingress.namespace, "name": e.ingress.name}, "annotation": e.key,
             "value": e.value, "status": e.status, "reason": e.reason} for e in entries]
    return json.dumps({"annotations": data}, indent=2, sort_keys=True) + "\n"


def run_build(paths: tuple[str, ...], output: str, opts: Options, fmt: str, fail_on: str, color: str, quiet: bool,
              annotation_report: bool = False, annotation_report_json: str = "") -> int:
    from ingc.pipeline import compile_sources

    diags = Diagnostics()
    if not paths:
        paths = ("-",)
    try:
        result = compile_sources(paths, opts, diags, lean=True)
    except NothingToRead as exc:
        click.echo(f"ingc: {exc}", err=True)
        return EXIT_NOTHING
    if cli.HARD_EXIT:
        _RETAINED.append(result)  # freed by process exit, not object by object (see cli.run)
    entries: list[ReportEntry] = []
    if (annotation_report or annotation_report_json) and result.resolved:
        entries = sorted(result.resolved.ctx.report, key=lambda e: (e.ingress, e.key))
    if annotation_report and entries:
        click.echo(annotation_table(entries), err=True)
    if annotation_report_json:
        with open(annotation_report_json, "w", encoding="utf-8") as fh:
            fh.write(report_json(entries))
    # Findings go to stderr in every format: stdout is for nginx.conf (-o -) alone.
    text = resolve_format(fmt) == "text"
    if result.nothing and not diags.has_errors:
        emit_diagnostics(diags, fmt, color, quiet, to_stderr=True)
        if text:
            click.echo("ingc: nothing to compile: no Kubernetes manifest of a kind ingc reads was found", err=True)
        return EXIT_NOTHING
    if result.sources == 0:
        emit_diagnostics(diags, fmt, color, quiet, to_stderr=True)
        if any(d.code != "L001" for d in diags.active() if d.severity == Severity.ERROR):
            return EXIT_ERRORS  # something exists but cannot be read: an error, not "nothing"
        if text:
            click.echo("ingc: nothing to compile: none of the given paths exists", err=True)
        return EXIT_NOTHING
    code = exit_code(diags, fail_on)
    if any(d.code in VERIFY_CODES for d in diags):
        code = EXIT_INTERNAL  # our own output failed its parse-back: a bug, never the user's input
    cfg = result.config
    written = ""
    if code == EXIT_OK and cfg is not None and result.conf is not None:
        if output == "-":
            sys.stdout.flush()
            sys.stdout.buffer.write(result.conf)
            sys.stdout.buffer.flush()
            if cfg.files:
                diags.warning("B100", "nginx.conf references files that -o - does not write: "
                              + ", ".join(sorted(cfg.files)))
        else:
            from ingc.bundle import BundleError, write_bundle

            try:
                write_bundle(output, result.conf, cfg.files)
                written = f"{output.rstrip('/')}/nginx.conf"
            except BundleError as exc:
                diags.error("B101", str(exc), file=output)
                code = EXIT_ERRORS
    emit_diagnostics(diags, fmt, color, quiet, to_stderr=True)
    if text:
        n_ing = len(result.resolved.compiled) if result.resolved else 0
        errors = diags.count(Severity.ERROR)
        warnings = diags.count(Severity.WARNING)
        if written and cfg is not None:
            click.echo(f"ingc: compiled {n_ing} Ingress(es) into {written} ({len(cfg.servers)} servers, "
                       f"{len(cfg.upstreams)} upstreams); {errors} errors, {warnings} warnings", err=True)
        elif code != EXIT_OK:
            click.echo(f"ingc: {errors} errors, {warnings} warnings; nothing written", err=True)
    return code
