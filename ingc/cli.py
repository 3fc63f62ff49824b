"""The command line: click options -> Options -> pipeline -> reporter -> exit code.  Nothing else."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from ingc import __version__

HARD_EXIT = False  # set by run(): the process ends with os._exit, so large results need not be freed

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_NOTHING, EXIT_INTERNAL = 0, 1, 2, 3, 70
RISK_CHOICES = ("Low", "Medium", "High", "Critical")


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Input and compilation options shared by build, check, routes, explain and diff."""
    opts = [
        click.option("-n", "--namespace", default="default", show_default=True,
                     help="Namespace for objects without metadata.namespace."),
        click.option("--ingress-class", default="nginx", show_default=True, help="Ingress class to compile."),
        click.option("--watch-ingress-without-class/--no-watch-ingress-without-class", default=True,
                     show_default=True, help="Compile Ingresses that have no class (ingress-nginx's default: no)."),
        click.option("--annotations-prefix", default="nginx.ingress.kubernetes.io", show_default=True),
        click.option("--allow-snippet-annotations", is_flag=True, help="Accept *-snippet annotations (raw nginx)."),
        click.option("--annotations-risk-level", type=click.Choice(RISK_CHOICES, case_sensitive=False),
                     default="High", show_default=True, help="Highest annotation risk level accepted."),
        click.option("--configmap", metavar="NS/NAME", default="", help="Controller ConfigMap among the inputs."),
        click.option("--controller-config", metavar="FILE", default="",
                     help="Controller ConfigMap keys as a plain key/value YAML file."),
        click.option("--http-port", type=click.IntRange(1, 65535), default=80, show_default=True),
        click.option("--https-port", type=click.IntRange(1, 65535), default=443, show_default=True),
        click.option("--enable-ipv6", is_flag=True, help="Also listen on IPv6."),
        click.option("--cluster-domain", default="cluster.local", show_default=True),
        click.option("--resolver", default="", metavar="ADDR",
                     help="DNS resolver for Service names resolved at request time."),
        click.option("--endpoint", "endpoint", multiple=True, metavar="NS/SVC=IP:PORT",
                     help="Override a Service's endpoints (repeatable)."),
        click.option("--default-backend-service", default="", metavar="NS/NAME"),
        click.option("--default-ssl-certificate", default="", metavar="NS/NAME"),
        click.option("--disable-catch-all", is_flag=True, help="Ignore spec.defaultBackend of rule-less Ingresses."),
        click.option("--stdin-filename", default="<stdin>", metavar="NAME", help="Name stdin in findings."),
        click.option("--max-file-size", type=click.IntRange(1), default=32 * 1024 * 1024, show_default=True,
                     help="Refuse input files larger than this many bytes."),
        click.option("--max-depth", type=click.IntRange(1, 10_000), default=64, show_default=True,
                     help="Refuse documents nested deeper than this."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def make_options(kw: dict[str, Any], verify: bool = True) -> Any:
    from ingc.annotations.catalog import RISK_LEVELS
    from ingc.load import Limits
    from ingc.options import Options

    endpoints: dict[str, list[str]] = {}
    for spec in kw.get("endpoint") or ():
        import ipaddress

        key, sep, addr = spec.partition("=")
        host, _, port = addr.rpartition(":")
        try:
            ipaddress.ip_address(host.strip("[]"))
            ok = sep and "/" in key and port.isdigit() and 0 < int(port) < 65536
        except ValueError:
            ok = False
        if not ok:
            raise click.BadParameter(f"{spec!r} is not NS/SVC=IP:PORT", param_hint="--endpoint")
        endpoints.setdefault(key, []).append(addr)
    for flag in ("configmap", "default_backend_service", "default_ssl_certificate"):
        v = kw.get(flag) or ""
        if v and v.count("/") != 1:
            raise click.BadParameter(f"{v!r} is not NS/NAME", param_hint="--" + flag.replace("_", "-"))
    return Options(
        namespace=kw["namespace"], ingress_class=kw["ingress_class"],
        watch_without_class=kw["watch_ingress_without_class"], annotations_prefix=kw["annotations_prefix"],
        allow_snippet_annotations=kw["allow_snippet_annotations"],
        risk_level=RISK_LEVELS[kw["annotations_risk_level"].capitalize()],
        configmap=kw["configmap"], controller_config=kw["controller_config"], http_port=kw["http_port"],
        https_port=kw["https_port"], enable_ipv6=kw["enable_ipv6"], cluster_domain=kw["cluster_domain"],
        resolver=kw["resolver"], endpoints=endpoints, default_backend_service=kw["default_backend_service"],
        default_ssl_certificate=kw["default_ssl_certificate"], disable_catch_all=kw["disable_catch_all"],
        verify=verify, stdin_filename=kw["stdin_filename"],
        limits=Limits(max_file_bytes=kw["max_file_size"], max_depth=kw["max_depth"]),
    )


def use_color(mode: str, stream: Any) -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def internal_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:  # the only place a bug may land: one line, exit 70
            click.echo(f"ingc: internal error: {type(exc).__name__}: {exc} -- this is a bug, please report it "
                       "with the input that caused it", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper


def exit_code(diags: Any, fail_on: str) -> int:
    from ingc.diagnostics import Severity

    if diags.has_errors:
        return EXIT_ERRORS
    if fail_on == "warning" and diags.count(Severity.WARNING):
        return EXIT_ERRORS
    return EXIT_OK


def emit_diagnostics(diags: Any, fmt: str, color: str, quiet: bool = False,
                     extra: dict[str, Any] | None = None, to_stderr: bool = False) -> None:
    """Text findings always go to stderr; machine formats to stdout, or stderr with ``to_stderr``."""
    from ingc.diagnostics import Severity
    from ingc.report import render_diagnostics, resolve_format, text_lines

    fmt = resolve_format(fmt)
    if fmt == "text":
        err = sys.stderr
        for line in text_lines(diags, Severity.WARNING if quiet else Severity.INFO, use_color(color, err)):
            click.echo(line, err=True)
    else:
        click.echo(render_diagnostics(diags, fmt, extra), nl=False, err=to_stderr)


# Commands living in their own modules (ingc/commands/<module>.py exposing `command`), imported only when
# used so that `ingc --help` and one `ingc check` stay fast.
LAZY_COMMANDS = {
    "check": ("ingc.commands.check", "Validate manifests for CI and pre-commit; writes nothing."),
    "rules": ("ingc.commands.rules", "List every check rule with its code, severity and doc."),
    "routes": ("ingc.commands.routes", "Print the routing table the manifests produce."),
    "explain": ("ingc.commands.explain", "Explain which server and location serve a URL, and what happens."),
    "diff": ("ingc.commands.diff", "Show the routing difference between two sets of manifests."),
    "completion": ("ingc.commands.completion", "Print a shell completion script (bash, zsh, fish)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        import importlib.util

        lazy = [n for n, (mod, _) in LAZY_COMMANDS.items() if importlib.util.find_spec(mod) is not None]
        return sorted(set(super().list_commands(ctx)) | set(lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            import importlib

            try:
                module = importlib.import_module(LAZY_COMMANDS[name][0])
            except ModuleNotFoundError:
                return None
            cmd: click.Command = module.command
            return cmd
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in LAZY_COMMANDS:
                rows.append((name, LAZY_COMMANDS[name][1]))
            else:
                cmd = super().get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit=80)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="ingc")
def main() -> None:
    """ingc compiles Kubernetes Ingress manifests into an nginx configuration that stock nginx runs,
    behaving as the ingress-nginx controller would -- offline, without a cluster."""


@main.command()
@click.argument("paths", nargs=-1, metavar="[PATH|-]...")
@click.option("-o", "--output", required=True, metavar="DIR|-",
              help="Bundle directory to write (nginx.conf, ssl/, ...), or - for nginx.conf on stdout.")
@common_options
@click.option("--no-verify", is_flag=True, help="Skip the crossplane parse-back of the output.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json", "github", "sarif", "auto"]),
              default="text", show_default=True, help="Format of the diagnostics.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default="error", show_default=True)
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Hide info-level notes.")
@click.option("--annotation-report", is_flag=True, help="Print the per-Ingress annotation table to stderr.")
@click.option("--annotation-report-json", metavar="FILE", default="", help="Write the annotation report as JSON.")
@internal_errors
def build(paths: tuple[str, ...], output: str, no_verify: bool, fmt: str, fail_on: str, color: str, quiet: bool,
          annotation_report: bool, annotation_report_json: str, **kw: Any) -> None:
    """Compile manifests (files, directories, - for stdin) into an nginx bundle."""
    from ingc.commands.build import run_build

    opts = make_options(kw, verify=not no_verify)
    sys.exit(run_build(paths, output, opts, fmt, fail_on, color, quiet, annotation_report, annotation_report_json))


def run() -> None:
    """Console entry point: like main(), but exits without freeing every object one by one (a large
    compilation's data would otherwise cost a noticeable share of the run to deallocate)."""
    global HARD_EXIT
    HARD_EXIT = True
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            click.echo(str(exc.code), err=True)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
