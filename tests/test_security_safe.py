"""Issue 6, safe to run on untrusted input.

* ingc never emits ``load_module``, ``ssl_engine``, ``include``, ``perl*``, ``js_*`` or ``*_by_lua*`` - not
  in any golden output or example, not from any fuzzed input (the injection and fuzz tests check every
  output); and its own verify pass refuses output that would contain one (exit 70, nothing written).
* Paths and names cannot reach outside the bundle directory: bundle file names with ``../``, absolute
  paths and subdirectories are refused; symlinks in DIR are refused or replaced, never written through;
  every file path in nginx.conf is relative and inside the bundle.
* ``ingc check --nginx`` runs nginx on a private copy of the bundle (a fresh 0700 temporary directory, not
  the input or output directory), with a configuration that loads no module and includes no file, and a
  clean environment (no OPENSSL_CONF, which can load an OpenSSL engine - IngressNightmare's vector).
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingc import verify
from ingc.bundle import BundleError, write_bundle
from tests.security import tree
from tests.security.fields import certificate
from tests.security.fuzz import seeds
from tests.security.manifests import PREFIX, base_docs, emit, ingress, run_cli, tls_secret

REPO = Path(__file__).resolve().parent.parent
ISSUE_FORBIDDEN = ["load_module", "ssl_engine", "include", "content_by_lua_block", "access_by_lua",
                   "perl_modules", "perl_require", "js_import"]
# Directives whose argument is a file nginx opens (relative paths resolve under the -p prefix).
FILE_ARGS = {"ssl_certificate": [0], "ssl_certificate_key": [0], "ssl_client_certificate": [0],
             "ssl_trusted_certificate": [0], "ssl_crl": [0], "proxy_ssl_certificate": [0],
             "proxy_ssl_certificate_key": [0], "proxy_ssl_trusted_certificate": [0], "auth_basic_user_file": [0],
             "pid": [0], "error_log": [0], "access_log": [0], "client_body_temp_path": [0], "proxy_temp_path": [0],
             "fastcgi_temp_path": [0], "uwsgi_temp_path": [0], "scgi_temp_path": [0], "root": [0], "alias": [0],
             "ssl_dhparam": [0], "grpc_ssl_certificate": [0], "grpc_ssl_certificate_key": [0],
             "grpc_ssl_trusted_certificate": [0]}


def outputs() -> list[tuple[str, str]]:
    """nginx.conf texts: every golden case, and the seeds of the fuzzer built now."""
    out = [(p, Path(p).read_text(encoding="utf-8")) for p in sorted(glob.glob(str(REPO / "tests/cases/*/expected.conf")))]
    for i, docs in enumerate(seeds()):
        text, _ = emit(docs)
        with open(os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ingc-safe-{os.getpid()}.yaml"), "w") as fh:
            fh.write(text)
            name = fh.name
        try:
            code, conf, _ = run_cli(["build", name, "-o", "-"])
        finally:
            os.unlink(name)
        if code == 0:
            out.append((f"seed {i}", conf))
    return out


def test_the_verify_pass_forbids_what_the_issue_lists() -> None:
    for d in ISSUE_FORBIDDEN:
        assert d in verify.FORBIDDEN or "_by_lua" in d, d


def test_no_output_loads_code_or_reads_files_outside_the_bundle() -> None:
    found = outputs()
    assert len(found) > 5
    for where, conf in found:
        assert not tree.forbidden_in(conf), (where, tree.forbidden_in(conf))
        for _, st in tree.walk(tree.parsed(conf)):
            for i in FILE_ARGS.get(st["directive"], []):
                if i >= len(st["args"]):
                    continue
                arg = tree.unescape(st["args"][i]).strip('"')
                if arg in ("off", "stderr") or arg.startswith(("syslog:", "memory:")):
                    continue
                assert not os.path.isabs(arg) and ".." not in arg.split("/"), (where, st["directive"], arg)


def _inject(monkeypatch: pytest.MonkeyPatch, directive: str) -> None:
    """Make the renderer put ``directive`` at the top of nginx.conf (it streams the template's pieces)."""
    import ingc.render

    real = ingc.render._stream

    def evil(cfg: Any) -> Iterator[str]:
        return itertools.chain([directive + "\n"], real(cfg))

    monkeypatch.setattr(ingc.render, "_stream", evil)


@pytest.mark.parametrize("directive", ["load_module /tmp/pwn.so;", "ssl_engine pwn;", "include /etc/passwd;",
                                       "env LD_PRELOAD=/tmp/pwn.so;", "perl_modules /tmp;",
                                       "js_import /tmp/pwn.js;"])
def test_verify_refuses_output_that_would_load_code(directive: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Defence in depth: were a bug to let input place one of these in nginx.conf, the build still fails.
    _inject(monkeypatch, directive)
    src = tmp_path / "in.yaml"
    src.write_text(emit(base_docs())[0])
    code, out, err = run_cli(["build", str(src), "-o", str(tmp_path / "out")])
    assert code != 0 and not (tmp_path / "out" / "nginx.conf").exists(), err
    assert "N101" in err or "N100" in err, err


@pytest.mark.parametrize("name", ["../x.pem", "ssl/../../x.pem", "/etc/x.pem", "ssl/a/b.pem", "ssl/", "ssl/.",
                                  "ssl/..", "ssl/.ingc-tmp-x", "ssl/a\nb", "other/x.pem", "auth/../nginx.conf", ""])
def test_bundle_file_names_cannot_leave_the_bundle(name: str, tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        write_bundle(str(tmp_path / "out"), "events {}\n", {name: b"x"})
    assert not (tmp_path / "out").exists() or not (tmp_path / "out" / "nginx.conf").exists()
    assert not (tmp_path / "x.pem").exists()


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    cert, key = certificate()
    src = tmp_path / "in.yaml"
    src.write_text(emit([*base_docs(tls_secret="tls"), tls_secret("tls", "shop", cert, key)])[0])
    d = tmp_path / "bundle"
    code, _, err = run_cli(["build", str(src), "-o", str(d)])
    assert code == 0, err
    return d


def _rebuild(bundle: Path) -> tuple[int, str]:
    src = bundle.parent / "in.yaml"
    code, _, err = run_cli(["build", str(src), "-o", str(bundle)])
    return code, err


@pytest.mark.parametrize("entry", ["nginx.conf", "ssl", "auth", ".ingc-bundle", ".ingc-lock"])
def test_symlinks_in_the_bundle_are_never_written_through(entry: str, bundle: Path) -> None:
    outside = bundle.parent / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("precious\n")
    target = outside if entry in ("ssl", "auth") else victim
    p = bundle / entry
    if p.is_dir() and not p.is_symlink():
        for f in p.iterdir():
            f.unlink()
        p.rmdir()
    elif p.exists() or p.is_symlink():
        p.unlink()
    p.symlink_to(target)
    code, err = _rebuild(bundle)
    assert code == 1 and "B101" in err, err
    assert victim.read_text() == "precious\n"
    assert sorted(x.name for x in outside.iterdir()) == ["victim"]


def test_a_symlinked_key_file_is_replaced_not_followed(bundle: Path) -> None:
    outside = bundle.parent / "victim.pem"
    outside.write_text("precious\n")
    pem = next((bundle / "ssl").glob("shop-tls-*.pem"))
    pem.unlink()
    pem.symlink_to(outside)
    code, err = _rebuild(bundle)
    assert code == 0, err
    assert outside.read_text() == "precious\n"
    assert not pem.is_symlink() and stat.S_IMODE(pem.stat().st_mode) == 0o600


def test_a_symlinked_temp_name_is_removed_not_followed(bundle: Path) -> None:
    outside = bundle.parent / "victim"
    outside.write_text("precious\n")
    (bundle / ".ingc-tmp-0123456789abcdef").symlink_to(outside)
    (bundle / "ssl" / ".ingc-tmp-0123456789abcdef").symlink_to(outside)
    code, err = _rebuild(bundle)
    assert code == 0, err
    assert outside.read_text() == "precious\n"
    assert not list(bundle.glob(".ingc-tmp-*")) and not list((bundle / "ssl").glob(".ingc-tmp-*"))


def test_hostile_names_never_become_paths(tmp_path: Path) -> None:
    # Secret and namespace names become file names under ssl/ and auth/: Kubernetes' name rules refuse the
    # ones that could traverse ("..", "/", absolute), at their position.
    cert, key = certificate()
    for ns, name in (("shop", "../../etc/x"), ("shop", "a/b"), ("..", "tls"), ("shop", ".."), ("shop", "/abs")):
        docs = [ingress(namespace=ns, tls_secret=name), *base_docs()[1:], tls_secret(name, ns, cert, key)]
        for d in docs:
            d["metadata"]["namespace"] = ns
        src = tmp_path / "in.yaml"
        src.write_text(emit(docs)[0])
        code, _, err = run_cli(["build", str(src), "-o", str(tmp_path / "out")])
        assert code == 1 and "V110" in err, (ns, name, err)
        assert not (tmp_path / "out").exists() and not (tmp_path / "etc").exists()


# --------------------------------------------------------------------------- ingc check --nginx

FAKE_NGINX = """#!{python}
import json, os, shutil, sys
record = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}
if "-p" in sys.argv:
    prefix = sys.argv[sys.argv.index("-p") + 1]
    conf = sys.argv[sys.argv.index("-c") + 1]
    record["prefix"] = prefix
    record["prefix_mode"] = oct(os.stat(os.path.dirname(prefix.rstrip("/"))).st_mode & 0o777)
    record["conf"] = open(os.path.join(prefix, conf)).read()
with open({log!r}, "a") as fh:
    fh.write(json.dumps(record) + "\\n")
os.execv({nginx!r}, [{nginx!r}] + sys.argv[1:])
"""


@pytest.mark.nginx
def test_check_nginx_runs_on_a_private_copy_without_modules(tmp_path: Path, nginx_bin: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    help_code, help_text, _ = run_cli(["check", "--help"])
    if help_code != 0 or "--nginx" not in help_text:
        pytest.skip("ingc check --nginx is not there")
    log = tmp_path / "calls.jsonl"
    fake = tmp_path / "nginx"
    fake.write_text(FAKE_NGINX.format(python=sys.executable, log=str(log), nginx=nginx_bin))
    fake.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    src = work / "in.yaml"
    cert, key = certificate()
    src.write_text(emit([*base_docs(tls_secret="tls", annotations={PREFIX + "proxy-body-size": "8m"}),
                         tls_secret("tls", "shop", cert, key)])[0])
    before = sorted(p.name for p in work.iterdir())
    monkeypatch.setenv("OPENSSL_CONF", str(tmp_path / "evil.cnf"))
    monkeypatch.setenv("LD_PRELOAD", "")
    monkeypatch.chdir(work)
    code, out, err = run_cli(["check", str(src), "--nginx", "--nginx-binary", str(fake), "--no-config"])
    assert code == 0, out + err
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls, "nginx was not run"
    for c in calls:
        assert "-t" in c["argv"]
        prefix = c.get("prefix")
        if prefix is None:
            continue
        assert not Path(prefix).resolve().is_relative_to(work.resolve()), prefix
        assert c["prefix_mode"] == "0o700", c["prefix_mode"]
        assert not tree.forbidden_in(c["conf"]), tree.forbidden_in(c["conf"])
        assert "OPENSSL_CONF" not in c["env"] and "LD_PRELOAD" not in c["env"], sorted(c["env"])
        assert "-g" not in c["argv"], c["argv"]
        assert not Path(prefix).exists(), "the private copy was left behind"
    assert sorted(p.name for p in work.iterdir()) == before, "check wrote into the input directory"


@pytest.mark.nginx
def test_check_nginx_is_not_run_on_output_that_failed_verification(tmp_path: Path, nginx_bin: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    help_code, help_text, _ = run_cli(["check", "--help"])
    if help_code != 0 or "--nginx" not in help_text:
        pytest.skip("ingc check --nginx is not there")
    _inject(monkeypatch, "load_module /tmp/pwn.so;")
    log = tmp_path / "calls.jsonl"
    fake = tmp_path / "nginx"
    fake.write_text(FAKE_NGINX.format(python=sys.executable, log=str(log), nginx=nginx_bin))
    fake.chmod(0o755)
    src = tmp_path / "in.yaml"
    src.write_text(emit(base_docs())[0])
    code, out, err = run_cli(["check", str(src), "--nginx", "--nginx-binary", str(fake), "--no-config"])
    assert code != 0
    assert not log.exists(), "nginx -t ran on a configuration that loads a module"
