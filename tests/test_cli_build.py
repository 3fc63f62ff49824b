"""`ingc build` on the command line: the exit-code table, where output goes, the diagnostics formats,
stdin, ``python -m ingc`` and ``--version``.

Most tests run in-process through click's ``CliRunner``; the ones about real processes (a terminal on
stdin, ``python -m ingc`` versus the ``ingc`` script, an internal error in a child) use subprocesses.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import stat
import subprocess
import sys
import textwrap
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import ingc
from ingc.cli import main

REPO = Path(__file__).resolve().parent.parent
ORIGINAL = REPO / "examples" / "original"
TLS_CASE = REPO / "tests" / "cases" / "tls-redirect" / "manifests.yaml"
SUMMARY = re.compile(r"^ingc: compiled (\d+) Ingress\(es\) into (.+) \((\d+) servers, (\d+) upstreams\); "
                     r"(\d+) errors, (\d+) warnings$")

BAD_SERVICE = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata:
      name: broken
      namespace: apps
    spec:
      ports:
        - port: eighty
    """)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, prog_name="ingc")


def ingc_script() -> str:
    """The installed ``ingc`` console script (next to this Python first, then PATH)."""
    here = Path(sys.executable).with_name("ingc")
    found = str(here) if here.exists() else shutil.which("ingc")
    if found is None:
        pytest.fail("the ingc console script is not installed: run pip install -e '.[test]'")
    return found


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)
    env["NO_COLOR"] = "1"
    return env


def snapshot(d: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every entry under d: mode, mtime and, for files, contents."""
    out: dict[str, tuple[int, int, bytes | None]] = {}
    for root, dirs, names in os.walk(d):
        for n in dirs + names:
            p = Path(root, n)
            st = p.lstat()
            out[str(p.relative_to(d))] = (st.st_mode, st.st_mtime_ns,
                                          p.read_bytes() if stat.S_ISREG(st.st_mode) else None)
    return out


# ---------------------------------------------------------------------------------------------- exit 0 / 1


def test_success_with_warnings_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    res = run("build", str(ORIGINAL), "-o", str(out))
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert any("warning[V130]" in line for line in lines)  # extensions/v1beta1 is deprecated
    m = SUMMARY.match(lines[-1])
    assert m is not None, lines[-1]
    assert m.group(1, 2, 3, 4, 5, 6) == ("1", f"{out}/nginx.conf", "2", "1", "0", "2")
    assert (out / "nginx.conf").is_file()
    assert (out / "ssl" / "default-fake-certificate.pem").is_file()


def test_fail_on_warning_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    res = run("build", str(ORIGINAL), "-o", str(out), "--fail-on", "warning")
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1] == "ingc: 0 errors, 2 warnings; nothing written"
    assert not out.exists()
    # warnings alone, without --fail-on warning, are fine
    assert run("build", str(ORIGINAL), "-o", str(out), "--fail-on", "error").exit_code == 0


def test_errors_exit_1_and_leave_the_bundle_untouched(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    assert run("build", str(ORIGINAL), "-o", str(out)).exit_code == 0
    before = snapshot(out)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SERVICE, encoding="utf-8")
    res = run("build", str(ORIGINAL), str(bad), "-o", str(out))
    assert res.exit_code == 1
    assert f"{bad}:8:13: error[V110]" in res.stderr
    assert res.stderr.splitlines()[-1].endswith("; nothing written")
    assert snapshot(out) == before


def test_errors_exit_1_without_creating_the_bundle(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SERVICE, encoding="utf-8")
    out = tmp_path / "bundle"
    res = run("build", str(bad), "-o", str(out))
    assert res.exit_code == 1
    assert not out.exists()


def test_refused_bundle_directory_exits_1(tmp_path: Path) -> None:
    """A non-empty directory that ingc does not own is refused (B101), and left alone."""
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = snapshot(out)
    res = run("build", str(ORIGINAL), "-o", str(out))
    assert res.exit_code == 1
    assert "error[B101]" in res.stderr
    assert snapshot(out) == before


# ---------------------------------------------------------------------------------------------- exit 2


@pytest.mark.parametrize("args", [
    pytest.param([], id="missing-o"),
    pytest.param(["-o", "{out}", "--endpoint", "apps/appsvc"], id="endpoint-without-address"),
    pytest.param(["-o", "{out}", "--endpoint", "appsvc=10.0.0.1:80"], id="endpoint-without-namespace"),
    pytest.param(["-o", "{out}", "--endpoint", "apps/appsvc=appsvc.local:80"], id="endpoint-not-an-ip"),
    pytest.param(["-o", "{out}", "--endpoint", "apps/appsvc=10.0.0.1:70000"], id="endpoint-bad-port"),
    pytest.param(["-o", "{out}", "--configmap", "ingress-nginx"], id="configmap-not-ns-name"),
    pytest.param(["-o", "{out}", "--default-ssl-certificate", "a/b/c"], id="default-cert-not-ns-name"),
    pytest.param(["-o", "{out}", "--http-port", "0"], id="port-out-of-range"),
    pytest.param(["-o", "{out}", "-f", "xml"], id="unknown-format"),
    pytest.param(["-o", "{out}", "--fail-on", "info"], id="unknown-fail-on"),
    pytest.param(["-o", "{out}", "--no-such-flag"], id="unknown-flag"),
])
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    res = run("build", str(ORIGINAL), *[a.replace("{out}", str(out)) for a in args])
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("Usage: ingc build")
    assert "Error:" in res.stderr
    assert res.stdout == ""
    assert not out.exists()


def test_unknown_command_exits_2() -> None:
    res = run("bulid")
    assert res.exit_code == 2
    assert "No such command" in res.stderr


# ---------------------------------------------------------------------------------------------- exit 3


def test_no_existing_path_exits_3(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    res = run("build", str(missing), "-o", str(tmp_path / "bundle"))
    assert res.exit_code == 3
    assert res.stderr.splitlines() == [
        f"{missing}: error[L001]: no such file or directory: {missing}",
        "ingc: nothing to compile: none of the given paths exists",
    ]
    assert not (tmp_path / "bundle").exists()


def test_one_missing_path_among_existing_ones_is_an_error(tmp_path: Path) -> None:
    res = run("build", str(ORIGINAL), str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "bundle"))
    assert res.exit_code == 1
    assert "error[L001]" in res.stderr
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("name,content,note", [
    pytest.param("empty.yaml", "", None, id="empty-file"),
    pytest.param("comments.yaml", "# nothing here\n---\n---\n", None, id="only-comments"),
    pytest.param("values.yaml", "replicaCount: 2\nimage:\n  tag: v1\n", "info[L007]", id="helm-values"),
    pytest.param("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "info[V001]", id="other-kind"),
])
def test_no_manifest_exits_3(name: str, content: str, note: str | None, tmp_path: Path) -> None:
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    res = run("build", str(f), "-o", str(tmp_path / "bundle"))
    assert res.exit_code == 3, res.stderr
    lines = res.stderr.splitlines()
    assert lines[-1] == "ingc: nothing to compile: no Kubernetes manifest of a kind ingc reads was found"
    if note:
        assert note in lines[0]
    assert not (tmp_path / "bundle").exists()


def test_empty_directory_exits_3(tmp_path: Path) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "README.md").write_text("not a manifest\n", encoding="utf-8")
    res = run("build", str(d), "-o", str(tmp_path / "bundle"))
    assert res.exit_code == 3


def test_empty_stdin_exits_3(tmp_path: Path) -> None:
    res = run("build", "-", "-o", str(tmp_path / "bundle"), input="")
    assert res.exit_code == 3
    assert "nothing to compile" in res.stderr


@pytest.mark.parametrize("paths", [pytest.param(["-"], id="dash"), pytest.param([], id="no-paths")])
def test_stdin_terminal_exits_3_without_waiting(paths: list[str], tmp_path: Path) -> None:
    """A terminal on stdin is a clear error, not a hang waiting for input (a hang fails on the timeout)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run([ingc_script(), "build", *paths, "-o", str(tmp_path / "bundle")], stdin=follower,
                              capture_output=True, text=True, timeout=60, env=subprocess_env())
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr == "ingc: stdin is a terminal; pipe manifests in or pass paths\n"
    assert not (tmp_path / "bundle").exists()


# ---------------------------------------------------------------------------------------------- exit 70


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom in resolve")


def test_internal_error_exits_70_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingc.pipeline.resolve", _boom)
    out = tmp_path / "bundle"
    res = run("build", str(ORIGINAL), "-o", str(out))
    assert res.exit_code == 70
    assert res.stdout == ""
    assert res.stderr.splitlines() == [
        "ingc: internal error: RuntimeError: boom in resolve -- this is a bug, please report it with the input "
        "that caused it"]
    assert not out.exists()


def test_internal_error_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    code = ("import sys, ingc.resolve\n"
            "def boom(*a, **k):\n"
            "    raise KeyError('resolver state')\n"
            "ingc.resolve.resolve = boom\n"
            "import ingc.pipeline\n"
            "ingc.pipeline.resolve = boom\n"
            "from ingc.cli import main\n"
            "sys.argv = ['ingc'] + sys.argv[1:]\n"
            "main()\n")
    out = tmp_path / "bundle"
    proc = subprocess.run([sys.executable, "-c", code, "build", str(ORIGINAL), "-o", str(out)],
                          capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert proc.returncode == 70
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("ingc: internal error: KeyError: 'resolver state' -- this is a bug")
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- -o -


def test_output_dash_prints_nginx_conf_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    bundle = run("build", str(TLS_CASE), "-o", str(tmp_path / "bundle"))
    assert bundle.exit_code == 0
    res = run("build", str(TLS_CASE), "-o", "-")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == (tmp_path / "bundle" / "nginx.conf").read_text(encoding="utf-8")
    assert "PRIVATE KEY" not in res.stdout
    b100 = [line for line in res.stderr.splitlines() if "warning[B100]" in line]
    assert len(b100) == 1
    written = sorted(p.name for p in (tmp_path / "bundle" / "ssl").iterdir())
    assert b100[0] == ("warning[B100]: nginx.conf references files that -o - does not write: "
                       + ", ".join(f"ssl/{n}" for n in written))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # nothing else written


def test_output_dash_with_json_findings_keeps_streams_apart(tmp_path: Path) -> None:
    res = run("build", str(ORIGINAL), "-o", "-", "-f", "json")
    assert res.exit_code == 0
    assert res.stdout.startswith("# Generated by ingc")
    body = json.loads(res.stderr)
    assert {d["code"] for d in body["diagnostics"]} >= {"V130", "B100"}


def test_output_dash_writes_nothing_on_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_SERVICE, encoding="utf-8")
    res = run("build", str(ORIGINAL), str(bad), "-o", "-")
    assert res.exit_code == 1
    assert res.stdout == ""


# ---------------------------------------------------------------------------------------------- formats


def _findings_text(tmp_path: Path) -> set[tuple[str, int, int, str]]:
    res = run("build", str(ORIGINAL), "-o", str(tmp_path / "text"))
    out = set()
    for line in res.stderr.splitlines():
        m = re.match(r"^(.+?):(\d+):(\d+): (error|warning|info)\[(\w+)\]: ", line)
        if m:
            out.add((m.group(1), int(m.group(2)), int(m.group(3)), m.group(5)))
    assert out, res.stderr
    return out


def test_format_json(tmp_path: Path) -> None:
    res = run("build", str(ORIGINAL), "-o", str(tmp_path / "bundle"), "-f", "json")
    assert res.exit_code == 0
    assert res.stdout == ""
    body = json.loads(res.stderr)  # the whole of stderr is one JSON document
    assert body["summary"] == {"errors": 0, "warnings": 2, "infos": 1}
    got = {(d["file"], d["line"], d["column"], d["code"]) for d in body["diagnostics"]}
    assert got == _findings_text(tmp_path)
    v130 = next(d for d in body["diagnostics"] if d["code"] == "V130")
    assert v130["severity"] == "warning"
    assert v130["object"] == {"kind": "Ingress", "namespace": "apps", "name": "web-ingress"}
    assert (tmp_path / "bundle" / "nginx.conf").is_file()


def test_format_sarif(tmp_path: Path) -> None:
    res = run("build", str(ORIGINAL), "-o", str(tmp_path / "bundle"), "-f", "sarif")
    assert res.exit_code == 0
    assert res.stdout == ""
    log = json.loads(res.stderr)
    assert log["version"] == "2.1.0"
    (run_,) = log["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "ingc"
    rules = [r["id"] for r in driver["rules"]]
    got = set()
    for r in run_["results"]:
        assert rules[r["ruleIndex"]] == r["ruleId"]
        assert r["level"] in ("error", "warning", "note")
        loc = r["locations"][0]["physicalLocation"]
        got.add((loc["artifactLocation"]["uri"], loc["region"]["startLine"], loc["region"]["startColumn"],
                 r["ruleId"]))
    assert got == _findings_text(tmp_path)


def test_format_sarif_without_findings_still_has_results(tmp_path: Path) -> None:
    f = tmp_path / "clean.yaml"
    f.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Service
        metadata: {name: s, namespace: n}
        spec: {ports: [{port: 80}]}
        """), encoding="utf-8")
    res = run("build", str(f), "-o", str(tmp_path / "bundle"), "-f", "sarif")
    assert res.exit_code == 0
    assert json.loads(res.stderr)["runs"][0]["results"] == []


_GH = re.compile(r"^::(?P<level>error|warning|notice) (?P<props>[^:]*)::(?P<msg>.*)$")


def _gh_unescape(s: str) -> str:
    return s.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def test_format_github(tmp_path: Path) -> None:
    """Workflow commands as GitHub's runner reads them: ``::level k=v,k=v::message``, values escaped."""
    res = run("build", str(ORIGINAL), "-o", str(tmp_path / "bundle"), "-f", "github")
    assert res.exit_code == 0
    assert res.stdout == ""
    got = set()
    for line in res.stderr.splitlines():
        m = _GH.match(line)
        assert m is not None, line
        props = dict(kv.split("=", 1) for kv in m.group("props").split(","))
        assert m.group("msg")
        got.add((_gh_unescape(props["file"]), int(props["line"]), int(props["col"]), props["title"]))
    assert got == _findings_text(tmp_path)


def test_format_auto_is_github_on_github_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    res = run("build", str(ORIGINAL), "-o", str(tmp_path / "bundle"), "-f", "auto")
    assert res.exit_code == 0
    assert all(line.startswith("::") for line in res.stderr.splitlines())


def test_quiet_hides_info_notes(tmp_path: Path) -> None:
    res = run("build", str(ORIGINAL), "-o", str(tmp_path / "bundle"), "-q")
    assert res.exit_code == 0
    assert "info[" not in res.stderr
    assert "warning[V130]" in res.stderr


# ---------------------------------------------------------------------------------------------- stdin


def test_stdin_with_stdin_filename(tmp_path: Path) -> None:
    text = (ORIGINAL / "ingress.yaml").read_text(encoding="utf-8")
    out = tmp_path / "bundle"
    res = run("build", "-", "-o", str(out), "--stdin-filename", "deploy/web.yaml", input=text)
    assert res.exit_code == 0, res.stderr
    assert "deploy/web.yaml:3:13: warning[V130]: extensions/v1beta1 Ingress is deprecated" in res.stderr
    from_file = run("build", str(ORIGINAL), "-o", str(tmp_path / "from-file"))
    assert (out / "nginx.conf").read_bytes() == (tmp_path / "from-file" / "nginx.conf").read_bytes()
    assert from_file.exit_code == 0


def test_stdin_is_read_without_paths_and_named_stdin_by_default(tmp_path: Path) -> None:
    text = (ORIGINAL / "ingress.yaml").read_text(encoding="utf-8")
    res = run("build", "-o", str(tmp_path / "bundle"), input=text)
    assert res.exit_code == 0
    assert "<stdin>:3:13: warning[V130]" in res.stderr


def test_stdin_together_with_files(tmp_path: Path) -> None:
    """The Service comes from a file, the Ingress from stdin."""
    text = (ORIGINAL / "ingress.yaml").read_text(encoding="utf-8")
    ingress_doc, service_doc = text.split("\n---\n")
    svc = tmp_path / "service.yaml"
    svc.write_text(service_doc, encoding="utf-8")
    res = run("build", "-", str(svc), "-o", "-", input=ingress_doc)
    assert res.exit_code == 0
    assert "server 10.96.0.80:80;" in res.stdout


def test_stdin_through_a_pipe(tmp_path: Path) -> None:
    text = (ORIGINAL / "ingress.yaml").read_text(encoding="utf-8")
    proc = subprocess.run([ingc_script(), "build", "-", "-o", "-", "--stdin-filename", "piped.yaml"],
                          input=text, capture_output=True, text=True, timeout=60, env=subprocess_env())
    assert proc.returncode == 0
    assert proc.stdout.startswith("# Generated by ingc")
    assert "piped.yaml:3:13: warning[V130]" in proc.stderr


# ---------------------------------------------------------------------------------------------- entry points


def test_python_m_ingc_works_like_the_script(tmp_path: Path) -> None:
    args = ["build", str(ORIGINAL), "-o", "-"]
    script = subprocess.run([ingc_script(), *args], capture_output=True, text=True, timeout=60,
                            env=subprocess_env(), cwd=tmp_path)
    module = subprocess.run([sys.executable, "-m", "ingc", *args], capture_output=True, text=True, timeout=60,
                            env=subprocess_env(), cwd=tmp_path)
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout
    assert script.stdout.startswith("# Generated by ingc")
    assert script.stderr == module.stderr
    bad = subprocess.run([sys.executable, "-m", "ingc", "build", str(ORIGINAL)], capture_output=True, text=True,
                         timeout=60, env=subprocess_env(), cwd=tmp_path)
    assert bad.returncode == 2


def test_version() -> None:
    res = run("--version")
    assert res.exit_code == 0
    assert res.stdout == f"ingc, version {ingc.__version__}\n"
    assert dist_version("ingc") == ingc.__version__
    proc = subprocess.run([ingc_script(), "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout == f"ingc, version {ingc.__version__}\n"


def test_help_lists_build() -> None:
    res = run("--help")
    assert res.exit_code == 0
    assert re.search(r"^\s+build\s+Compile manifests", res.stdout, re.M)
    res = run("build", "--help")
    assert res.exit_code == 0
    assert "-o, --output DIR|-" in res.stdout
