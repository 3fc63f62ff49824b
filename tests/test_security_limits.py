"""Issue 6, bounded resources: alias bombs, deep nesting, oversized files and very long values are refused
quickly, with a clear error and bounded memory.

Documented limits (SECURITY.md): --max-file-size (default 32 MiB, also the most text aliases may expand a
file to), --max-depth (default 64 nesting levels, checked before libyaml's recursive composer runs), and
2,000,000 nodes per document after alias expansion.

Peak memory of a refusal is measured in a subprocess: a wrapper process runs ``ingc build`` as its child and
reports ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``; the bound is the same measurement for a trivial
valid build plus a margin far below what expanding the bomb would take.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingc.load import Limits, _may_nest_deeper
from tests.security.fields import all_classes, annotation_keys, check, settings_keys
from tests.security.manifests import (
    CONFIGMAP_ARGS,
    PREFIX,
    base_docs,
    compile_docs,
    compile_text,
    configmap,
    emit,
)

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024

BILLION_LAUGHS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: lol, namespace: shop}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def text_bomb(copies: int = 2000, size: int = 100_000) -> str:
    """One long valid path, aliased into many Ingresses of one kind: List (few nodes, much text)."""
    lines = ["apiVersion: v1", "kind: List", "items:",
             "- {apiVersion: v1, kind: Service, metadata: {name: api, namespace: shop}, "
             "spec: {clusterIP: 10.0.0.1, ports: [{port: 80}]}}"]
    for i in range(copies):
        path = f"&p /{'a' * size}" if i == 0 else "*p"
        lines.append(f"- apiVersion: networking.k8s.io/v1\n  kind: Ingress\n  metadata: {{name: i{i}, namespace: shop}}\n"
                     f"  spec:\n    rules:\n    - host: h{i}.example.com\n      http:\n        paths:\n"
                     f"        - path: {path}\n          pathType: ImplementationSpecific\n"
                     "          backend: {service: {name: api, port: {number: 80}}}")
    return "\n".join(lines) + "\n"


def node_bomb() -> str:
    """Aliases of aliases of small mappings: ~10^7 nodes once expanded."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: n, namespace: shop}", "x:",
             "  l0: &l0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    for i in range(1, 8):
        prev = f"*l{i - 1}"
        lines.append(f"  l{i}: &l{i} [{', '.join([prev] * 10)}]")
    return "\n".join(lines) + "\n"


def deep_text(n: int = 100_000) -> str:
    return "[" * n


def peak_rss_kib(args: list[str], tmp: Path) -> tuple[int, int, str]:
    """(exit code, peak RSS of the ingc process in KiB, stderr), measured by a wrapper process."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    p = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "ingc", *args], capture_output=True,
                       text=True, env=env, timeout=600, cwd=tmp)
    code, rss = (int(x) for x in p.stdout.split())
    return code, rss, p.stderr


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory) -> int:
    tmp = tmp_path_factory.mktemp("rss")
    f = tmp / "ok.yaml"
    f.write_text(emit(base_docs())[0])
    code, rss, err = peak_rss_kib(["build", str(f), "-o", "-"], tmp)
    assert code == 0, err
    return rss


MARGIN_KIB = 64 * 1024  # expanding any of these bombs takes gigabytes; refusing them takes what a build takes


BOMBS = {"billion-laughs": (lambda: BILLION_LAUGHS, "L011"), "node-bomb": (node_bomb, "L011"),
         "text-bomb": (text_bomb, "L011"), "deep-nesting": (deep_text, "L012")}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_are_refused_with_bounded_memory(name: str, tmp_path: Path, baseline_rss: int) -> None:
    make, code = BOMBS[name]
    text = make()
    f = tmp_path / f"{name}.yaml"
    f.write_text(text)
    exit_code, rss, err = peak_rss_kib(["build", str(f), "-o", str(tmp_path / "out")], tmp_path)
    assert exit_code == 1, err[-2000:]
    assert f"error[{code}]" in err and f"{f}:" in err, err[-2000:]
    assert not (tmp_path / "out").exists()
    assert rss <= baseline_rss + MARGIN_KIB, f"{name}: peak RSS {rss} KiB, a trivial build takes {baseline_rss} KiB"


def test_limit_messages_name_the_option() -> None:
    o = compile_text(BILLION_LAUGHS)
    assert o.exit_code == 1 and "L011" in o.stderr and "aliases" in o.stderr
    o = compile_text(text_bomb(copies=50, size=20_000), ("--max-file-size", "500000"))
    assert o.exit_code == 1 and "--max-file-size" in o.stderr
    o = compile_text("a: " + "[" * 70 + "]" * 70 + "\n")
    assert o.exit_code == 1 and "error[L012]" in o.stderr and "--max-depth" in o.stderr
    assert f"{o.file}:1:" in o.stderr  # the position of the first level too deep


def test_max_depth_is_overridable() -> None:
    nested = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: shop}\nx: " + "[" * 70 + "]" * 70 + "\n"
    assert "L012" in compile_text(nested).stderr
    o = compile_text(nested, ("--max-depth", "100"))
    assert "L012" not in o.stderr and "L011" not in o.stderr


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    big = emit(base_docs())[0] + "#" + "x" * 5000 + "\n"
    o = compile_text(big, ("--max-file-size", "1000"))
    assert o.exit_code == 1 and "error[L010]" in o.stderr and "--max-file-size" in o.stderr
    from tests.security.manifests import run_cli

    code, out, err = run_cli(["build", "-", "-o", "-", "--max-file-size", "1000"], input_text=big.encode())
    assert code == 1 and "L010" in err and out == ""


def test_default_limits_are_the_documented_ones() -> None:
    lim = Limits()
    assert (lim.max_file_bytes, lim.max_depth, lim.max_nodes) == (32 * MIB, 64, 2_000_000)
    security = (REPO / "SECURITY.md").read_text()
    for text in ("--max-file-size", "--max-depth", "2,000,000", "32 MiB", "64"):
        assert text in security


# --------------------------------------------------------------------------- the nesting pre-scan is sound


def _nest(depth: int, style: int) -> object:
    v: object = "x"
    for i in range(depth):
        v = [v] if (i + style) % 2 else {"k": v}
    return v


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 40), style=st.integers(0, 1), flow=st.sampled_from([None, True, False]),
       indent=st.integers(2, 9), limit=st.integers(1, 40), compact=st.booleans(), docs=st.integers(1, 3))
def test_nesting_prescan_never_underestimates(depth: int, style: int, flow: bool | None, indent: int, limit: int,
                                              compact: bool, docs: int) -> None:
    # _may_nest_deeper must say "maybe" whenever a document really nests deeper than the limit (else the
    # recursive composer could run unchecked); the exact event count then decides.
    data = _nest(depth, style)
    if compact:
        text = "- " * depth + "x\n"
        real = depth
    else:
        text = yaml.safe_dump(data, default_flow_style=flow, indent=indent)
        real = depth
    text = "---\n".join([text] * docs)
    if real > limit:
        assert _may_nest_deeper(text, limit), (real, limit, text[:200])


@pytest.mark.parametrize("fc", all_classes()[:17], ids=lambda fc: fc.id)
def test_very_long_values_are_handled_in_linear_time(fc) -> None:  # type: ignore[no-untyped-def]
    # 150,000 characters: anything quadratic (a backtracking regex, repeated string building) would not
    # finish before run_cli's hang guard; linear work takes well under a second.
    for tail in ("!", '"', "_by_lu"):
        check(fc.make(fc.prefix + "a" * 150_000 + tail))


def test_very_long_annotation_and_configmap_values() -> None:
    for tail in ("!", ";", "aA"):
        value = "a" * 150_000 + tail
        compile_docs(base_docs(annotations={PREFIX + k: value for k in annotation_keys()
                                            if not k.endswith("-snippet")}), ("--annotations-risk-level", "Critical"))
        compile_docs([*base_docs(), configmap({k: value for k in settings_keys()})], CONFIGMAP_ARGS)
