from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ingc.bundle import LOCK, MARKER, TMP_PREFIX, BundleError, BundleResult, write_bundle
from ingc.resources import data_file

REPO = Path(__file__).resolve().parent.parent


def conf_for(files: dict[str, bytes]) -> str:
    """A config that names its files, so a bundle can be checked for consistency."""
    lines = ["events {}", "http {"]
    lines += [f"    # uses {p}" for p in sorted(files)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def files_named_in(conf: str) -> set[str]:
    return {line.split("# uses ", 1)[1] for line in conf.splitlines() if "# uses " in line}


def key_files(d: Path) -> set[str]:
    return {f"{top}/{p.name}" for top in ("ssl", "auth") if (d / top).is_dir() for p in (d / top).iterdir()}


def snapshot(d: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under d: mode and, for files, contents (symlinks not followed)."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for root, dirs, names in os.walk(d):
        for n in dirs + names:
            p = Path(root, n)
            st = p.lstat()
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
            out[str(p.relative_to(d))] = (st.st_mode, data)
    return out


def without_temps(snap: dict[str, tuple[int, bytes | None]]) -> dict[str, tuple[int, bytes | None]]:
    return {k: v for k, v in snap.items() if not Path(k).name.startswith(TMP_PREFIX)}


GEN1 = {"ssl/apps-tls-1111.pem": b"cert+key one\n", "auth/apps-basic-aaaa": b"user:{PLAIN}pw\n"}
GEN2 = {"ssl/apps-tls-2222.pem": b"cert+key two\n", "ssl/other-tls-3333.pem": b"three\n"}


def test_fresh_directory_parents_created(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "bundle"
    res = write_bundle(str(out), conf_for(GEN1), GEN1)
    assert isinstance(res, BundleResult)
    assert (out / "nginx.conf").read_text() == conf_for(GEN1)
    for p, data in GEN1.items():
        assert (out / p).read_bytes() == data
    for d in ("ssl", "auth", "logs", "tmp"):
        assert (out / d).is_dir()
    assert "format=1" in (out / MARKER).read_text()
    assert res.written == sorted([MARKER, "nginx.conf", *GEN1])
    assert res.removed == []
    assert not [p for p in snapshot(out) if TMP_PREFIX in p]


def test_empty_directory_is_fine(tmp_path: Path) -> None:
    write_bundle(str(tmp_path), conf_for({}), {})
    assert (tmp_path / "nginx.conf").is_file()
    assert (tmp_path / MARKER).is_file()


def test_non_empty_unmarked_directory_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(BundleError, match="non-empty directory"):
        write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    assert snapshot(tmp_path) == before


def test_out_dir_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(BundleError, match="not a directory"):
        write_bundle(str(tmp_path / "f"), "", {})


def test_foreign_marker_refused(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("something else\n")
    with pytest.raises(BundleError, match="not an ingc bundle marker"):
        write_bundle(str(tmp_path), "", {})
    (tmp_path / MARKER).write_text("from the future format=99\n")
    with pytest.raises(BundleError, match="newer ingc"):
        write_bundle(str(tmp_path), "", {})


def test_rebuild_removes_stale_keeps_nginx_state(tmp_path: Path) -> None:
    write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    (tmp_path / "nginx.pid").write_text("4242\n")
    (tmp_path / "logs" / "error.log").write_text("log line\n")
    (tmp_path / "tmp" / "client_body").mkdir()
    (tmp_path / "ssl" / "stray-dir").mkdir()
    (tmp_path / "ssl" / "stray-dir" / "k").write_text("k")

    keep = {"ssl/apps-tls-1111.pem": GEN1["ssl/apps-tls-1111.pem"]}
    files = {**keep, **GEN2}
    res = write_bundle(str(tmp_path), conf_for(files), files)

    assert key_files(tmp_path) == set(files)
    assert res.removed == ["auth/apps-basic-aaaa", "ssl/stray-dir"]
    assert res.unchanged == ["ssl/apps-tls-1111.pem"]
    assert res.written == sorted(["nginx.conf", *GEN2])
    assert (tmp_path / "nginx.pid").read_text() == "4242\n"
    assert (tmp_path / "logs" / "error.log").read_text() == "log line\n"
    assert (tmp_path / "tmp" / "client_body").is_dir()
    assert (tmp_path / "nginx.conf").read_text() == conf_for(files)

    write_bundle(str(tmp_path), conf_for({}), {})
    assert key_files(tmp_path) == set()
    assert (tmp_path / "auth").is_dir() and (tmp_path / "ssl").is_dir()


def test_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
        (tmp_path / "ssl").chmod(0o755)
        (tmp_path / "ssl" / "apps-tls-1111.pem").chmod(0o644)
        write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    finally:
        os.umask(old)
    for d in ("ssl", "auth"):
        assert stat.S_IMODE((tmp_path / d).stat().st_mode) == 0o700
    for p in GEN1:
        assert stat.S_IMODE((tmp_path / p).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "nginx.conf").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "ssl/../nginx.conf", "../ssl/x", "ssl/a/../../x", "nginx.conf", "logs/x", "x.pem",
     "ssl/", "ssl", "ssl/sub/x.pem", "ssl//x", "./ssl/x", "ssl/.", "ssl/.ingc-tmp-x", "ssl/a\nb", ""],
)
def test_bad_paths_refused(tmp_path: Path, path: str) -> None:
    out = tmp_path / "b"
    with pytest.raises(BundleError):
        write_bundle(str(out), "", {path: b"x"})
    assert not out.exists()


@pytest.mark.parametrize("name", ["ssl", "auth", "nginx.conf"])
def test_symlinks_refused(tmp_path: Path, name: str) -> None:
    out = tmp_path / "b"
    write_bundle(str(out), conf_for(GEN1), GEN1)
    target = tmp_path / "elsewhere"
    if name == "nginx.conf":
        target.write_text("outside\n")
        (out / name).unlink()
    else:
        target.mkdir()
        for p in (out / name).iterdir():
            p.rename(target / p.name)
        (out / name).rmdir()
    (out / name).symlink_to(target)
    before_out, before_target = snapshot(out), snapshot(tmp_path)
    with pytest.raises(BundleError, match="symlink"):
        write_bundle(str(out), conf_for(GEN2), GEN2)
    assert snapshot(out) == before_out
    assert snapshot(tmp_path) == before_target


def test_stray_temps_cleaned(tmp_path: Path) -> None:
    write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    for p in (tmp_path / ".ingc-tmp-dead", tmp_path / "ssl" / ".ingc-tmp-dead"):
        p.write_text("partial")
    write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    assert not [p for p in snapshot(tmp_path) if TMP_PREFIX in p]


def test_unmarked_dir_with_only_ingc_leftovers_is_fine(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("")
    (tmp_path / ".ingc-tmp-0123").write_text("partial")
    write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    assert (tmp_path / MARKER).is_file()
    assert not (tmp_path / ".ingc-tmp-0123").exists()


def test_lock_timeout(tmp_path: Path) -> None:
    import fcntl

    write_bundle(str(tmp_path), "", {})
    fd = os.open(tmp_path / LOCK, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(BundleError, match="timed out"):
            write_bundle(str(tmp_path), conf_for(GEN1), GEN1, lock_timeout=0.2)
    finally:
        os.close(fd)
    assert key_files(tmp_path) == set()


def test_concurrent_writers_leave_one_consistent_bundle(tmp_path: Path) -> None:
    out = tmp_path / "b"
    errors: list[BaseException] = []
    expected: dict[str, bytes] = {}
    start = threading.Barrier(6)

    def writer(i: int) -> None:
        try:
            start.wait()
            for j in range(6):
                files = {f"ssl/w{i}-{j}-{k}.pem": f"{i}/{j}/{k}\n".encode() * 1000 for k in range(3)}
                files[f"auth/w{i}-{j}"] = f"user{i}{j}:pw\n".encode()
                expected.update(files)
                write_bundle(str(out), conf_for(files), files)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    listed = files_named_in((out / "nginx.conf").read_text())
    assert len(listed) == 4
    assert key_files(out) == listed
    for p in listed:
        assert (out / p).read_bytes() == expected[p]
    assert not [p for p in snapshot(out) if TMP_PREFIX in p]


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {repo!r})
    from ingc.bundle import write_bundle

    real_replace = os.replace
    calls = []

    def slow_replace(src, dst, *args, **kwargs):
        calls.append(dst)
        if {when!r} == "first" and len(calls) == 1 or {when!r} == "commit" and dst == "nginx.conf":
            print("paused", flush=True)
            time.sleep(60)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = slow_replace
    files = {files!r}
    write_bundle({out!r}, {conf!r}, files)
    print("finished", flush=True)
    """
)


def _kill_mid_build(out: Path, when: str, files: dict[str, bytes]) -> None:
    script = _CHILD.format(repo=str(REPO), when=when, files=files, out=str(out), conf=conf_for(files))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "paused"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL


def test_sigkill_before_renames_leaves_bundle_identical(tmp_path: Path) -> None:
    write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    (tmp_path / "nginx.pid").write_text("77\n")
    before = snapshot(tmp_path)

    _kill_mid_build(tmp_path, "first", GEN2)

    after = snapshot(tmp_path)
    assert without_temps(after) == before
    assert any(Path(p).name.startswith(TMP_PREFIX) for p in after)  # it did get that far

    write_bundle(str(tmp_path), conf_for(GEN2), GEN2)
    assert key_files(tmp_path) == set(GEN2)
    assert not [p for p in snapshot(tmp_path) if TMP_PREFIX in p]


def test_sigkill_at_commit_leaves_previous_bundle_intact(tmp_path: Path) -> None:
    write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    before = snapshot(tmp_path)

    _kill_mid_build(tmp_path, "commit", GEN2)

    after = without_temps(snapshot(tmp_path))
    # Everything the old bundle had is byte-identical (the directories' own modes included) ...
    assert {k: after[k] for k in before} == before
    assert (tmp_path / "nginx.conf").read_text() == conf_for(GEN1)
    # ... and the only additions are the new build's own content-addressed files, unreferenced.
    assert set(after) - set(before) <= set(GEN2)

    write_bundle(str(tmp_path), conf_for(GEN1), GEN1)
    assert snapshot(tmp_path) == before


@pytest.mark.nginx
@pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx")
def test_stock_nginx_accepts_the_bundle(tmp_path: Path) -> None:
    pem = data_file("default-fake-certificate.pem").read_bytes()
    conf = textwrap.dedent(
        """\
        pid nginx.pid;
        error_log logs/error.log;
        events {}
        http {
            access_log logs/access.log;
            client_body_temp_path tmp/client_body;
            proxy_temp_path tmp/proxy;
            fastcgi_temp_path tmp/fastcgi;
            uwsgi_temp_path tmp/uwsgi;
            scgi_temp_path tmp/scgi;
            server {
                listen 127.0.0.1:8443 ssl;
                ssl_certificate ssl/default-fake.pem;
                ssl_certificate_key ssl/default-fake.pem;
                auth_basic "x";
                auth_basic_user_file auth/basic.htpasswd;
            }
        }
        """
    )
    write_bundle(str(tmp_path), conf, {"ssl/default-fake.pem": pem, "auth/basic.htpasswd": b"u:{PLAIN}p\n"})
    r = subprocess.run(
        ["nginx", "-e", "stderr", "-t", "-q", "-p", f"{tmp_path}/", "-c", "nginx.conf"],
        capture_output=True, text=True, timeout=30,
    )
    assert r.returncode == 0, r.stderr
