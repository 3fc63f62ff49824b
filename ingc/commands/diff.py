"""`ingc diff OLD NEW`: the routing difference between two sets of manifests (paths or git:REV)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import click

from ingc.cli import EXIT_NOTHING, EXIT_OK, EXIT_USAGE, common_options, internal_errors, make_options
from ingc.diagnostics import Diagnostics, Severity
from ingc.options import Options

EXIT_CHANGED = 1
EXIT_FINDINGS = 4  # either side has error-level findings
GIT_PREFIX = "git:"


class GitError(Exception):
    pass


@dataclass
class Side:
    label: str  # as the user wrote it
    paths: list[str]
    relabel: Callable[[str], str] | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None

    def close(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()


def repo_root() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise GitError(f"git is not available: {exc}") from None
    if out.returncode != 0:
        raise GitError("git:REV needs the current directory to be inside a git repository")
    return out.stdout.strip()


def git_side(spec: str, paths: Sequence[str]) -> Side:
    """The repository's tree at REV (``git archive``), restricted to ``paths`` (relative to the cwd)."""
    rev = spec[len(GIT_PREFIX):]
    if not rev:
        raise GitError(f"{spec!r}: say which revision, as in git:HEAD or git:main")
    root = repo_root()
    ok = subprocess.run(["git", "-C", root, "rev-parse", "--verify", "--quiet", rev + "^{tree}"],
                        capture_output=True, text=True, timeout=30)
    if ok.returncode != 0:
        raise GitError(f"{spec!r}: no such revision in {root}")
    rels: list[str] = []
    for p in paths or ["."]:
        if p == "-":
            raise GitError("git:REV cannot be compared with stdin; give a path")
        rel = os.path.relpath(os.path.abspath(p), root)
        if rel.startswith(".."):
            raise GitError(f"{p!r} is outside the repository {root}")
        rels.append(rel)
    tmp = tempfile.TemporaryDirectory(prefix="ingc-diff-")
    present: list[str] = []
    for rel in rels:
        arch = subprocess.run(["git", "-C", root, "archive", "--format=tar", rev, "--", rel],
                              capture_output=True, timeout=120)
        if arch.returncode != 0:
            continue  # the path does not exist at REV: that side has nothing there
        with tarfile.open(fileobj=io.BytesIO(arch.stdout)) as tf:
            tf.extractall(tmp.name, filter="data")
        present.append(os.path.join(tmp.name, rel) if rel != "." else tmp.name)
    base = tmp.name.rstrip("/") + "/"

    def relabel(where: str) -> str:
        return f"{rev}:{where[len(base):]}" if where.startswith(base) else where

    return Side(spec, present, relabel, tmp)


def make_side(spec: str, other: str, paths: Sequence[str]) -> Side:
    if spec.startswith(GIT_PREFIX):
        if paths:
            return git_side(spec, paths)
        if other.startswith(GIT_PREFIX):
            return git_side(spec, ["."])
        return git_side(spec, [other])
    return Side(spec, [spec])


def compile_side(side: Side, opts: Options, diags: Diagnostics) -> Any:
    from ingc.pipeline import compile_sources

    if not side.paths:
        from ingc.ir import NginxConfig

        empty = compile_sources([], replace(opts, verify=False), diags)  # nothing read: catch-all only
        return empty.config if empty.config is not None else NginxConfig([], [], None)
    return compile_sources(side.paths, replace(opts, verify=False), diags).config


@click.command("diff")
@click.argument("old")
@click.argument("new")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True)
@common_options
@internal_errors
def command(old: str, new: str, paths: tuple[str, ...], fmt: str, **kw: Any) -> None:
    """Show how routing differs between OLD and NEW: routes added, removed and changed (backend,
    rewrite, redirect, TLS, auth, limits), each with its source.  OLD and NEW are paths, or git:REV for
    the repository's tree at REV (restricted to PATHs, or to the other side's path).  Exit 0 when routing
    is unchanged, 1 when it changed, 4 when either side has error-level findings."""
    sys.exit(run_diff(old, new, paths, make_options(kw, verify=False), fmt))


def run_diff(old: str, new: str, paths: Sequence[str], opts: Options, fmt: str = "text") -> int:
    from ingc.diffing import compare, render
    from ingc.load import NothingToRead

    if old == "-" and new == "-":
        click.echo("ingc: OLD and NEW cannot both be stdin", err=True)
        return EXIT_USAGE
    sides: list[Side] = []
    try:
        try:
            sides = [make_side(old, new, paths), make_side(new, old, paths)]
        except GitError as exc:
            click.echo(f"ingc: {exc}", err=True)
            return EXIT_USAGE
        results = []
        findings = False
        for name, side in zip(("old", "new"), sides, strict=True):
            diags = Diagnostics()
            try:
                cfg = compile_side(side, opts, diags)
            except NothingToRead as exc:
                click.echo(f"ingc: {exc}", err=True)
                return EXIT_NOTHING
            for finding in diags.sorted():
                if finding.severity >= Severity.WARNING:
                    line = finding.format()
                    if side.relabel is not None:
                        line = side.relabel(line)
                    click.echo(f"{name}: {line}", err=True)
            findings = findings or diags.has_errors
            results.append(cfg)
        if all(not s.paths for s in sides):
            click.echo("ingc: nothing to compare: neither side has manifests", err=True)
            return EXIT_NOTHING
        d = compare(results[0], results[1], sides[0].relabel, sides[1].relabel)
        click.echo(render(d, fmt, {"old": old, "new": new}), nl=False)
        if findings:
            click.echo("ingc: error-level findings on at least one side (exit 4)", err=True)
            return EXIT_FINDINGS
        return EXIT_CHANGED if d.changed else EXIT_OK
    finally:
        for s in sides:
            s.close()
