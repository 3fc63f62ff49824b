"""Run a generated bundle in a real nginx on loopback.

``NginxRunner(bundle_dir)`` drives ``nginx -p DIR/ -c nginx.conf``: config
test, foreground start (the config has ``daemon off;``), reload and stop.  It
never leaves a process behind: ``__exit__`` (and an ``atexit`` hook) stop it,
and a master that does not quit in time is killed together with its workers.

When the tests run as root, workers would run as ``nobody`` and could not
read files under pytest's 0700 temp directories (htpasswd files, temp files
for large bodies), so the runner adds ``-g "user root;"`` then, unless the
config has its own ``user`` directive or ``root_workers=False`` is given.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .ports import port_open

__all__ = [
    "ConfigInfo",
    "Listen",
    "NginxError",
    "NginxRunner",
    "nginx_binary",
    "nginx_version",
    "read_config",
]

_PROBLEM = re.compile(r"\[(warn|error|crit|alert|emerg)\]")
_LIVE: set[NginxRunner] = set()


class NginxError(RuntimeError):
    """nginx failed to start, reload or stop as expected."""


def nginx_binary() -> str | None:
    """Path of the nginx binary: ``$INGC_NGINX``, then ``PATH``, then the usual sbin dirs."""
    env = os.environ.get("INGC_NGINX")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@functools.cache
def nginx_version(binary: str) -> tuple[int, ...]:
    """``(1, 22, 1)`` from ``nginx -v``; ``()`` when it can't be read."""
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10)
    m = re.search(r"nginx/(\d+(?:\.\d+)*)", out.stderr + out.stdout)
    return tuple(int(x) for x in m.group(1).split(".")) if m else ()


def _supports_error_log_flag(binary: str) -> bool:
    return nginx_version(binary) >= (1, 19, 5)


# ---------------------------------------------------------------------------
# Reading the bundle's config


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    ssl: bool

    @property
    def connect_host(self) -> str:
        """Address to connect to for this listen socket."""
        if self.host in ("*", "0.0.0.0", "localhost", ""):
            return "127.0.0.1"
        if self.host == "::":
            return "::1"
        return self.host


@dataclass(frozen=True)
class ConfigInfo:
    listens: tuple[Listen, ...]
    pid: str | None
    error_logs: tuple[str, ...]
    has_user: bool


def _parse_listen(args: list[str]) -> Listen | None:
    if not args or args[0].startswith("unix:"):
        return None
    arg = args[0]
    is_ssl = "ssl" in args[1:]
    try:
        if arg.startswith("["):
            host, _, rest = arg[1:].partition("]")
            return Listen(host, int(rest[1:]) if rest.startswith(":") else 80, is_ssl)
        if arg.isdigit():
            return Listen("*", int(arg), is_ssl)
        if ":" in arg:
            host, port = arg.rsplit(":", 1)
            return Listen(host, int(port), is_ssl)
        return Listen(arg, 80, is_ssl)
    except ValueError:
        return None


def _walk(payload: dict[str, Any]) -> Iterator[tuple[dict[str, Any], tuple[str, ...]]]:
    configs = payload["config"]

    def walk(block: list[dict[str, Any]], ctx: tuple[str, ...], depth: int) -> Iterator[Any]:
        if depth > 50:
            return
        for d in block:
            yield d, ctx
            if d.get("directive") == "include":
                for idx in d.get("includes", []):
                    yield from walk(configs[idx].get("parsed", []), ctx, depth + 1)
            if "block" in d:
                yield from walk(d["block"], ctx + (d["directive"],), depth + 1)

    if configs:
        yield from walk(configs[0].get("parsed", []), (), 0)


def read_config(conf_path: str | os.PathLike[str]) -> ConfigInfo:
    """Listen sockets (http context, in order), pid file, main error logs, ``user`` presence."""
    listens: list[Listen] = []
    pid: str | None = None
    error_logs: list[str] = []
    has_user = False
    try:
        import crossplane

        payload = crossplane.parse(os.fspath(conf_path), check_ctx=False, check_args=False)
        directives = list(_walk(payload))
    except Exception:  # fall back to a plain scan of the main file
        text = Path(conf_path).read_text()
        directives = [
            (
                {"directive": m.group(1), "args": m.group(2).split()},
                ("http", "server") if m.group(1) == "listen" else (),
            )
            for m in re.finditer(r"^\s*(listen|pid|error_log|user)\s+([^;]*);", text, re.M)
        ]
    for d, ctx in directives:
        name, args = d.get("directive"), d.get("args", [])
        if name == "listen" and ctx[:1] == ("http",):
            listen = _parse_listen(args)
            if listen is not None:
                listens.append(listen)
        elif ctx == () and name == "pid" and args:
            pid = args[0]
        elif ctx == () and name == "error_log" and args:
            error_logs.append(args[0])
        elif ctx == () and name == "user":
            has_user = True
    return ConfigInfo(tuple(listens), pid, tuple(error_logs), has_user)


# ---------------------------------------------------------------------------
# /proc helpers (Linux); elsewhere they return nothing and callers fall back.


def _proc_stats() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, ppid, pgrp) of every process."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        yield int(entry), fields[0], int(fields[1]), int(fields[2])


def _children(pid: int) -> list[int]:
    return sorted(p for p, state, ppid, _ in _proc_stats() if ppid == pid and state != "Z")


def _group_members(pgid: int) -> list[int]:
    return sorted(p for p, state, _, pgrp in _proc_stats() if pgrp == pgid and state != "Z")


class NginxRunner:
    """Run the bundle in ``bundle_dir`` with ``nginx -p DIR/ -c CONF``.

    ``port`` is the http port to wait for; by default the first non-ssl
    ``listen`` of the http context (else the first listen).
    """

    def __init__(
        self,
        bundle_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        conf: str = "nginx.conf",
        binary: str | None = None,
        root_workers: bool = True,
        start_timeout: float = 10.0,
    ) -> None:
        self.prefix = Path(bundle_dir).resolve()
        self.conf = conf
        found = binary or nginx_binary()
        if found is None:
            raise NginxError("nginx binary not found (PATH, /usr/sbin/nginx, $INGC_NGINX)")
        self.binary = found
        self._port = port
        self.root_workers = root_workers
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self._output: IO[bytes] | None = None
        self._last_output = ""

    # -- config ------------------------------------------------------------

    @property
    def conf_path(self) -> Path:
        return self.prefix / self.conf

    def config(self) -> ConfigInfo:
        return read_config(self.conf_path)

    @property
    def port(self) -> int:
        """The http port waited for on start."""
        if self._port is not None:
            return self._port
        listens = self.config().listens
        plain = [item for item in listens if not item.ssl]
        chosen = (plain or list(listens))[:1]
        if not chosen:
            raise NginxError(f"no listen directive in {self.conf_path}; pass port=")
        return chosen[0].port

    def _connect_host(self) -> str:
        for item in self.config().listens:
            if item.port == self.port:
                return item.connect_host
        return "127.0.0.1"

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.prefix / p

    @property
    def pid_path(self) -> Path | None:
        pid = self.config().pid
        return self._resolve(pid) if pid else None

    @property
    def error_log_path(self) -> Path | None:
        for log in self.config().error_logs:
            if log != "stderr" and not log.startswith(("syslog:", "memory:")):
                return self._resolve(log)
        return None

    def error_log(self) -> str:
        """Content of the bundle's error log file ("" when absent)."""
        path = self.error_log_path
        try:
            return path.read_text(errors="replace") if path else ""
        except OSError:
            return ""

    def output(self) -> str:
        """What the nginx process wrote to stdout/stderr so far (or before it stopped)."""
        if self._output is None:
            return self._last_output
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def base_cmd(self) -> list[str]:
        cmd = [self.binary, "-p", f"{self.prefix}/", "-c", self.conf]
        if _supports_error_log_flag(self.binary):
            cmd += ["-e", "stderr"]
        if self.root_workers and os.geteuid() == 0 and not self.config().has_user:
            cmd += ["-g", "user root;"]
        return cmd

    # -- config test -------------------------------------------------------

    def test(self) -> tuple[int, str]:
        """Run ``nginx -t``; returns ``(returncode, stderr)``."""
        proc = subprocess.run(
            [*self.base_cmd(), "-t"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        return proc.returncode, proc.stderr + proc.stdout

    def assert_config_ok(self) -> str:
        """``nginx -t`` must succeed with no ``[warn]``/``[error]``/``[emerg]``...; returns its output."""
        rc, out = self.test()
        problems = [line for line in out.splitlines() if _PROBLEM.search(line)]
        if rc != 0 or problems:
            raise AssertionError(f"nginx -t failed (rc={rc}) for {self.conf_path}:\n{out}")
        return out

    # -- lifecycle ---------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Master pid while running."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def worker_pids(self) -> list[int]:
        """Children of the master (workers, cache manager/loader); Linux only."""
        pid = self.pid
        return _children(pid) if pid is not None else []

    def _failure(self, what: str) -> NginxError:
        log = self.error_log()
        return NginxError(
            f"{what}\ncommand: {' '.join(self.base_cmd())}\n"
            f"--- nginx output ---\n{self.output()[-4000:]}\n"
            f"--- {self.error_log_path} ---\n{log[-4000:]}"
        )

    def _ready(self, proc: subprocess.Popen[bytes]) -> bool:
        pid_path = self.pid_path
        if pid_path is not None:
            try:
                if pid_path.read_text().strip() != str(proc.pid):
                    return False
            except OSError:
                return False
        return port_open(self.port, self._connect_host(), timeout=0.2)

    def start(self) -> NginxRunner:
        """Start nginx in the foreground; return once the http port accepts connections."""
        if self.running:
            raise NginxError("already running")
        cmd = self.base_cmd()
        self._output = tempfile.TemporaryFile()
        self.returncode = None
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: workers can be killed with it
        )
        _LIVE.add(self)
        proc = self.proc
        deadline = time.monotonic() + self.start_timeout
        while True:
            rc = proc.poll()
            if rc is not None:
                err = self._failure(f"nginx exited with status {rc} while starting")
                self.stop()
                raise err
            if self._ready(proc):
                return self
            if time.monotonic() > deadline:
                err = self._failure(
                    f"nginx did not accept connections on port {self.port} in {self.start_timeout}s"
                )
                self.stop()
                raise err
            time.sleep(0.02)

    def reload(self, *, probe: Callable[[], bool] | None = None, timeout: float = 10.0) -> None:
        """``nginx -s reload`` and wait until only new workers run (and ``probe()`` is true).

        The new config is tested first; an invalid one raises :class:`NginxError`
        (nginx would keep serving the old one).
        """
        master = self.pid
        if master is None:
            raise NginxError("not running")
        rc, out = self.test()
        if rc != 0:
            raise NginxError(f"new config is invalid, not reloading:\n{out}")
        old = set(_children(master))
        log_path = self.error_log_path
        log_size = log_path.stat().st_size if log_path and log_path.exists() else 0
        sig = subprocess.run(
            [*self.base_cmd(), "-s", "reload"],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        if sig.returncode != 0:
            raise self._failure(f"nginx -s reload failed (rc={sig.returncode}):\n{sig.stderr}")
        deadline = time.monotonic() + timeout
        have_proc = os.path.isdir("/proc")
        if not have_proc:
            time.sleep(0.5)
        while have_proc:
            if not self.running:
                raise self._failure("nginx master exited during reload")
            new = set(_children(master))
            if new and not (new & old):
                break
            if log_path is not None:
                try:
                    with open(log_path, "rb") as f:
                        f.seek(log_size)
                        fresh = f.read().decode(errors="replace")
                except OSError:
                    fresh = ""
                if "[emerg]" in fresh:
                    raise NginxError(f"reload failed:\n{fresh}")
            if time.monotonic() > deadline:
                raise self._failure(f"reload: old workers {sorted(old)} still running after {timeout}s")
            time.sleep(0.02)
        if probe is not None:
            while not probe():
                if time.monotonic() > deadline:
                    raise self._failure("reload: probe never succeeded")
                time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGQUIT (graceful), wait up to ``timeout``, then SIGKILL the whole process group."""
        proc = self.proc
        _LIVE.discard(self)
        if proc is None:
            return
        pgid = proc.pid  # start_new_session: the master leads its own group
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGQUIT)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        # Workers orphaned by a killed master still carry the group id.
        for pid in _group_members(pgid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.returncode = proc.returncode
        self._last_output = self.output()
        if self._output is not None:
            self._output.close()
            self._output = None
        self.proc = None

    def __enter__(self) -> NginxRunner:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NginxRunner({str(self.prefix)!r}, pid={self.pid})"


@atexit.register
def _stop_leftovers() -> None:
    for runner in list(_LIVE):
        runner.stop()
