"""Shared pytest configuration and fixtures for ingc tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_REPO_ROOT = Path(__file__).resolve().parent.parent
if str(_REPO_ROOT) not in sys.path:
    # Makes ``tests.support`` importable however pytest was launched.
    sys.path.insert(0, str(_REPO_ROOT))

from tests.support.echo import EchoBackend, start_echo  # noqa: E402
from tests.support.nginx import NginxRunner, nginx_binary  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite golden files from the current output instead of comparing",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.update_goldens = bool(config.getoption("--update-goldens"))  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def update_goldens(pytestconfig: pytest.Config) -> bool:
    """True when run with ``--update-goldens``."""
    return bool(pytestconfig.getoption("--update-goldens"))


def _nginx_or_skip() -> str:
    path = nginx_binary()
    if path is None:
        msg = "nginx binary not found (PATH, /usr/sbin/nginx, $INGC_NGINX)"
        if os.environ.get("INGC_REQUIRE_NGINX") == "1":
            pytest.fail(f"{msg}, but INGC_REQUIRE_NGINX=1", pytrace=False)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    """Path of nginx; skips the test without one, fails instead when INGC_REQUIRE_NGINX=1."""
    return _nginx_or_skip()


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Tests marked ``@pytest.mark.nginx`` get the same skip/fail rule.
    if item.get_closest_marker("nginx") is not None:
        _nginx_or_skip()


@pytest.fixture
def echo_backends() -> Iterator[Callable[..., EchoBackend]]:
    """Factory ``echo_backends(name, *, status=None, tls=None, port=0) -> EchoBackend``.

    Every backend it started is stopped at teardown.
    """
    started: list[EchoBackend] = []

    def start(name: str, **kwargs: Any) -> EchoBackend:
        backend = start_echo(name, **kwargs)
        started.append(backend)
        return backend

    yield start
    for backend in reversed(started):
        backend.stop()


@pytest.fixture
def nginx_runner(nginx_bin: str) -> Iterator[Callable[..., NginxRunner]]:
    """Factory ``nginx_runner(bundle_dir, **kwargs) -> NginxRunner`` (not started).

    Every runner it made is stopped at teardown.
    """
    made: list[NginxRunner] = []

    def make(bundle_dir: str | os.PathLike[str], **kwargs: Any) -> NginxRunner:
        kwargs.setdefault("binary", nginx_bin)
        runner = NginxRunner(bundle_dir, **kwargs)
        made.append(runner)
        return runner

    yield make
    for runner in reversed(made):
        runner.stop()
