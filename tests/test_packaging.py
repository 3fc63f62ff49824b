"""The wheel is complete: built from (a copy of) this checkout, installed into a fresh virtualenv, its
``ingc`` compiles the bundled example with templates and schemas loaded from the installed package.

Slow-ish (a wheel build, a venv and a pip install: a few seconds) but part of the default run: CI must
prove that ``pip install .`` gives a working ``ingc``, not only the editable install the tests use.

No network is needed when this Python can build wheels itself (setuptools >= 70.1, or an older
setuptools >= 68 with ``wheel``): then the build runs with ``--no-isolation``.  Otherwise ``build``
makes its isolated environment from the configured package index.  The venv sees this environment's
packages (``--system-site-packages``) for ingc's dependencies, and the wheel is installed with
``--no-deps``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "ingc", "templates", "schemas")
TIMEOUT = 600


def _version_tuple(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def can_build_without_isolation() -> bool:
    try:
        st = _version_tuple(dist_version("setuptools"))
    except PackageNotFoundError:
        return False
    if st >= (70, 1):
        return True
    try:
        dist_version("wheel")
    except PackageNotFoundError:
        return False
    return st >= (68,)


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["NO_COLOR"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env, **kw)  # type: ignore[call-overload]


def copy_sources(dest: Path) -> Path:
    """A clean copy of what the wheel is built from (no build/, egg-info or caches in the checkout)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".mypy_cache", ".ruff_cache")
    dest.mkdir(parents=True)
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = copy_sources(base / "src")
    dist = base / "dist"
    modes = ["--no-isolation", ""] if can_build_without_isolation() else ["", "--no-isolation"]
    failures = []
    for mode in modes:
        cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)]
        if mode:
            cmd[4:4] = [mode, "--skip-dependency-check"]
        proc = run(cmd, cwd=base)
        wheels = sorted(dist.glob("ingc-*.whl"))
        if proc.returncode == 0 and wheels:
            return wheels[-1]
        failures.append(f"$ {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    pytest.fail("could not build the wheel:\n" + "\n".join(failures))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    d = tmp_path_factory.mktemp("venv") / "env"
    proc = run([sys.executable, "-m", "venv", "--system-site-packages", str(d)])
    assert proc.returncode == 0, proc.stderr
    pip = run([str(d / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall",
               str(wheel)])
    assert pip.returncode == 0, pip.stdout + pip.stderr
    yield d


def test_wheel_ships_templates_schemas_and_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {f"ingc/_templates/{p.relative_to(REPO / 'templates')}" for p in (REPO / "templates").rglob("*.j2")}
    schemas = {f"ingc/_schemas/{p.name}" for p in (REPO / "schemas").glob("*.json")}
    assert "ingc/_templates/nginx.conf.j2" in templates
    assert len(schemas) >= 6
    assert templates <= names, sorted(templates - names)
    assert schemas <= names, sorted(schemas - names)
    assert "ingc/data/default-fake-certificate.pem" in names
    assert "ingc/__main__.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    m = re.search(r'^ingc\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    assert m is not None, "pyproject.toml declares no ingc script"
    target = m.group(1)
    assert f"ingc = {target}" in zipfile.ZipFile(wheel).read(entry_points).decode().splitlines()


def test_installed_ingc_compiles_the_example(venv: Path, tmp_path: Path) -> None:
    # Run far from the checkout, on a copy of the example: nothing may come from the source tree.
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples" / "original", work / "original")
    py, script = venv / "bin" / "python", venv / "bin" / "ingc"
    assert script.exists(), "the wheel installed no ingc console script"

    where = run([str(py), "-c", "import ingc, ingc.resources as r; "
                 "print(ingc.__file__); print(r.templates_dir()); print(r.schemas_dir()); "
                 "print(r.data_file('default-fake-certificate.pem'))"], cwd=work)
    assert where.returncode == 0, where.stderr
    module, templates, schemas, cert = (Path(line).resolve() for line in where.stdout.split("\n")[:4])
    installed = venv.resolve()
    for p in (module, templates, schemas, cert):
        assert installed in p.parents, f"{p} is not inside the venv {installed}"
        assert REPO not in p.parents, f"{p} comes from the checkout"
    assert (templates / "nginx.conf.j2").is_file()
    assert any(schemas.glob("*Ingress.json"))

    proc = run([str(script), "build", "original", "-o", "out"], cwd=work)
    assert proc.returncode == 0, proc.stderr
    conf = (work / "out" / "nginx.conf").read_text(encoding="utf-8")
    assert "upstream apps-appsvc-80 {" in conf
    assert 'rewrite "(?i)/app" "/" break;' in conf
    assert (work / "out" / "ssl" / "default-fake-certificate.pem").is_file()

    # the same bytes as the checkout's ingc produces
    here = run([sys.executable, "-m", "ingc", "build", str(work / "original"), "-o", "-"], cwd=work)
    assert here.returncode == 0, here.stderr
    assert here.stdout == conf


def test_installed_python_m_ingc_and_version(venv: Path, tmp_path: Path) -> None:
    py = venv / "bin" / "python"
    proc = run([str(py), "-m", "ingc", "--version"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    import ingc

    assert proc.stdout == f"ingc, version {ingc.__version__}\n"
    proc = run([str(venv / "bin" / "ingc"), "build", "--help"], cwd=tmp_path)
    assert proc.returncode == 0
    assert "-o, --output" in proc.stdout
