"""Issue 6, nothing half-written, and keys kept secret.

* ``ingc build`` is killed with SIGKILL at random moments while it writes, with no hook in ingc: the test
  watches the bundle directory for ingc's temporary files and kills after a random delay, or at a random
  time of the whole run.  Every time, the directory holds the previous bundle or the new one - nginx.conf
  byte for byte one of the two, every file it references present and complete - and no partial file
  under a final name.
* Two builds into one directory at once leave exactly one complete bundle.
* A rebuild under a running nginx, then a reload, serves the new routes; a failed build changes nothing.
* Key and htpasswd files are 0600 in 0700 directories (whatever the umask); key material never reaches
  stdout, stderr, any diagnostics format, the annotation report or nginx's logs.
"""

from __future__ import annotations

import base64
import os
import random
import re
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.security.manifests import PREFIX, emit, endpoint_slice, ingress, run_cli, service, tls_secret
from tests.support.certs import make_cert
from tests.support.echo import start_echo
from tests.support.http import request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

REPO = Path(__file__).resolve().parent.parent
HTPASSWD = "alice:$apr1$Qx7e0gUi$C4m4Tq4gUQJ1Jq0JcV2eH/\nbob:{SHA}fEqNCco3Yq9h5ZUglD3CZJT4lBs=\n"
KILL_ITERATIONS = int(os.environ.get("INGC_KILL_ITERATIONS", "24"))


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


@dataclass
class Variant:
    """One manifest set, written to a file, with the bundle it must produce."""

    name: str
    src: Path
    conf: bytes
    files: dict[str, bytes]  # bundle-relative path -> content


def manifests(tag: str, hosts: int) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [service(), endpoint_slice()]
    for i in range(hosts):
        host = f"{tag}{i}.example.com"
        cert, key = make_cert([host])
        docs.append(ingress(name=f"{tag}{i}", host=host, path=f"/{tag}", tls_secret=f"{tag}{i}",
                            annotations={PREFIX + "auth-type": "basic", PREFIX + "auth-secret": f"{tag}-users"}
                            if i == 0 else None))
        docs.append(tls_secret(f"{tag}{i}", "shop", cert, key))
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{tag}-users", "namespace": "shop"},
                 "data": {"auth": base64.b64encode((HTPASSWD + f"{tag}:x\n").encode()).decode()}})
    return docs


def read_bundle(d: Path) -> tuple[bytes, dict[str, bytes]]:
    conf = (d / "nginx.conf").read_bytes()
    files = {}
    for sub in ("ssl", "auth"):
        for f in sorted((d / sub).iterdir()) if (d / sub).is_dir() else []:
            if not f.name.startswith(".ingc-tmp-"):
                files[f"{sub}/{f.name}"] = f.read_bytes()
    return conf, files


REFERENCE = re.compile(rb'(?:ssl_certificate(?:_key)?|auth_basic_user_file)\s+"?((?:ssl|auth)/[^\s;"]+)')


def referenced(conf: bytes) -> set[str]:
    """Bundle files nginx.conf names."""
    return {m.decode() for m in REFERENCE.findall(conf)}


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Variant]:
    tmp = tmp_path_factory.mktemp("variants")
    out: dict[str, Variant] = {}
    for tag, hosts in (("a", 12), ("b", 16)):
        src = tmp / f"{tag}.yaml"
        src.write_text(emit(manifests(tag, hosts))[0])
        d = tmp / f"ref-{tag}"
        code, _, err = run_cli(["build", str(src), "-o", str(d)])
        assert code == 0, err
        conf, files = read_bundle(d)
        out[tag] = Variant(tag, src, conf, files)
    assert referenced(out["a"].conf) and referenced(out["a"].conf) != referenced(out["b"].conf)
    assert any(p.startswith("auth/") for p in out["a"].files)
    return out


def assert_consistent(d: Path, variants: dict[str, Variant]) -> str:
    """The bundle in ``d`` is exactly one of the variants (leftover temporary files aside); returns which."""
    conf = (d / "nginx.conf").read_bytes()
    match = [v for v in variants.values() if v.conf == conf]
    assert match, f"nginx.conf is neither bundle ({len(conf)} bytes)"
    v = match[0]
    known: dict[str, set[bytes]] = {}
    for other in variants.values():
        for k, data in other.files.items():
            known.setdefault(k, set()).add(data)
    for rel in referenced(conf):
        assert (d / rel).is_file(), f"{rel} referenced by nginx.conf ({v.name}) is missing"
        assert (d / rel).read_bytes() == v.files[rel], f"{rel} is not complete"
    for sub in ("ssl", "auth"):
        for f in (d / sub).iterdir() if (d / sub).is_dir() else []:
            if f.name.startswith(".ingc-tmp-"):
                continue
            rel = f"{sub}/{f.name}"
            # Files of the other build may be left (renamed in before a kill at the commit point) - but
            # never a partial one under a final name.
            assert rel in known and f.read_bytes() in known[rel], f"{rel}: partial or unknown file in place"
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, rel
    assert "format=" in (d / ".ingc-bundle").read_text()
    return v.name


def start_build(src: Path, out: Path, umask: int | None = None) -> subprocess.Popen[bytes]:
    def pre() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.Popen([sys.executable, "-m", "ingc", "build", str(src), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(), preexec_fn=pre)


def temp_files(d: Path) -> bool:
    for sub in (d, d / "ssl", d / "auth"):
        try:
            if any(n.startswith(".ingc-tmp-") for n in os.listdir(sub)):
                return True
        except FileNotFoundError:
            pass
    return False


def kill_during_writes(p: subprocess.Popen[bytes], d: Path, rnd: random.Random, window: float) -> bool:
    """Wait for ingc's first temporary file, sleep a random part of ``window``, SIGKILL.

    Returns whether temporary files were there at the moment of the kill (a kill in the middle of writing).
    """
    while p.poll() is None and not temp_files(d):
        time.sleep(0.0002)
    time.sleep(rnd.uniform(0, window))
    writing = temp_files(d)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()
    return writing and p.returncode == -signal.SIGKILL


def test_sigkill_at_random_points_leaves_a_complete_bundle(tmp_path: Path, variants: dict[str, Variant]) -> None:
    rnd = random.Random(int(os.environ.get("INGC_KILL_SEED", "6")))
    d = tmp_path / "bundle"
    code, _, err = run_cli(["build", str(variants["a"].src), "-o", str(d)])
    assert code == 0, err
    # Calibration (not an assertion): how long a whole build runs, and how long its writing phase lasts.
    t0 = time.monotonic()
    p = start_build(variants["b"].src, d)
    while p.poll() is None and not temp_files(d):
        time.sleep(0.0002)
    t1 = time.monotonic()
    p.wait()
    t2 = time.monotonic()
    assert p.returncode == 0
    whole, window = t2 - t0, max(t2 - t1, 0.001)
    current = assert_consistent(d, variants)
    stats = {"killed": 0, "killed while writing": 0, "completed": 0, "old bundle after": 0, "new bundle after": 0}
    for i in range(KILL_ITERATIONS):
        target = "a" if current == "b" else "b"
        p = start_build(variants[target].src, d)
        if i % 3 == 2:  # anywhere in the run: imports, parsing, locking, writing
            time.sleep(rnd.uniform(0, whole))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
        else:
            stats["killed while writing"] += kill_during_writes(p, d, rnd, window)
        stats["killed"] += p.returncode == -signal.SIGKILL
        stats["completed"] += p.returncode == 0
        previous, current = current, assert_consistent(d, variants)
        stats["new bundle after" if current == target else "old bundle after"] += 1
        if p.returncode == 0:
            assert current == target
        del previous
    # The next normal build cleans up what killed ones left.
    code, _, err = run_cli(["build", str(variants["a"].src), "-o", str(d)])
    assert code == 0, err
    assert assert_consistent(d, variants) == "a" and not temp_files(d)
    assert set(read_bundle(d)[1]) == set(variants["a"].files), "stale files left after a clean build"
    print(f"\nkill campaign: {KILL_ITERATIONS} runs: {stats}")
    # How many kills land inside the writing phase depends on the machine (a fast disk makes it a few
    # milliseconds): the consistency checks above are the property; at least one mid-write kill shows the
    # campaign exercised it (benchmarks/security_campaign.py runs many more).
    assert stats["killed while writing"] >= 1, f"no kill landed while writing: {stats}"


def test_concurrent_builds_leave_one_complete_bundle(tmp_path: Path, variants: dict[str, Variant]) -> None:
    for i in range(4):
        d = tmp_path / f"bundle{i}"
        if i % 2:
            code, _, err = run_cli(["build", str(variants["a"].src), "-o", str(d)])
            assert code == 0, err
        procs = [start_build(variants["a"].src, d), start_build(variants["b"].src, d)]
        for p in procs:
            _, err_b = p.communicate(timeout=300)
            assert p.returncode == 0, err_b.decode()
        assert assert_consistent(d, variants) in ("a", "b")
        assert not temp_files(d)
        conf, files = read_bundle(d)
        assert set(files) == referenced(conf), "files of the losing build left in place"


@pytest.mark.nginx
def test_rebuild_under_running_nginx_serves_new_routes(tmp_path: Path, nginx_bin: str) -> None:
    echo_a, echo_b = start_echo("old"), start_echo("new")
    http, https = free_ports(2)
    d = tmp_path / "bundle"

    def build(docs: list[dict[str, Any]]) -> tuple[int, str]:
        src = tmp_path / "in.yaml"
        src.write_text(emit(docs)[0])
        code, _, err = run_cli(["build", str(src), "-o", str(d), "--http-port", str(http), "--https-port",
                                str(https)])
        return code, err

    old = [ingress(path="/old", service="old"), service("old"), endpoint_slice("old", addresses=["127.0.0.1"],
                                                                               port=echo_a.port)]
    new = [ingress(path="/new", service="new"), service("new"), endpoint_slice("new", addresses=["127.0.0.1"],
                                                                               port=echo_b.port)]
    runner = None
    try:
        assert build(old)[0] == 0
        runner = NginxRunner(d, port=http, binary=nginx_bin).start()
        assert request(http, "/old", host="app.example.com").headers.get("X-Echo-Backend") == "old"
        before = (d / "nginx.conf").read_bytes()
        bad = [dict(new[0], spec={"rules": "not a list"}), *new[1:]]
        code, err = build(bad)
        assert code == 1 and (d / "nginx.conf").read_bytes() == before, err
        assert build(new)[0] == 0
        runner.reload()
        r = request(http, "/new", host="app.example.com")
        assert r.status == 200 and r.headers.get("X-Echo-Backend") == "new"
        assert request(http, "/old", host="app.example.com").status == 404
    finally:
        if runner is not None:
            runner.stop()
        echo_a.stop()
        echo_b.stop()


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_key_files_are_private_whatever_the_umask(tmp_path: Path, variants: dict[str, Variant], umask: int) -> None:
    d = tmp_path / "bundle"
    p = start_build(variants["a"].src, d, umask=umask)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0, err.decode()
    for sub in ("ssl", "auth"):
        assert stat.S_IMODE((d / sub).stat().st_mode) == 0o700, sub
        names = os.listdir(d / sub)
        assert names, sub
        for n in names:
            st = (d / sub / n).lstat()
            assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, f"{sub}/{n}"


def secret_needles(key_pem: str) -> list[str]:
    """Pieces of a private key that must never be printed: PEM body lines and base64 runs of the Secret."""
    body = [ln for ln in key_pem.splitlines() if ln and not ln.startswith("-----")]
    b64 = base64.b64encode(key_pem.encode()).decode()
    return [ln for ln in body if len(ln) >= 16] + [b64[i:i + 24] for i in range(0, len(b64) - 24, 24)]


def leak_cases() -> tuple[list[tuple[str, list[dict[str, Any]]]], str]:
    cert, key = make_cert(["app.example.com"])
    other_cert, _ = make_cert(["other.example.com"])
    b64 = base64.b64encode(key.encode()).decode()
    base = [ingress(tls_secret="tls", annotations={PREFIX + "auth-type": "basic", PREFIX + "auth-secret": "users"}),
            service(), endpoint_slice(),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "users", "namespace": "shop"},
             "data": {"auth": base64.b64encode(HTPASSWD.encode()).decode()}}]
    ok = tls_secret("tls", "shop", cert, key)
    mismatch = tls_secret("tls", "shop", other_cert, key)
    not_b64 = dict(ok, data={"tls.crt": ok["data"]["tls.crt"], "tls.key": b64[:-3] + "!!!"})
    wrong_type = dict(ok, data={"tls.crt": ok["data"]["tls.crt"], "tls.key": [b64]})
    string_data = {**{k: v for k, v in ok.items() if k != "data"}, "stringData": {"tls.crt": cert, "tls.key": key}}
    garbage_key = dict(ok, data={"tls.crt": ok["data"]["tls.crt"],
                                 "tls.key": base64.b64encode(key.replace("A", "#").encode()).decode()})
    unknown_field = dict(ok, extra={"copy": b64})
    wrong_kind = dict(ok, kind="Secrets")
    return [("ok", [*base, ok]), ("mismatch", [*base, mismatch]), ("not-base64", [*base, not_b64]),
            ("wrong-type", [*base, wrong_type]), ("stringData", [*base, string_data]),
            ("garbage-key", [*base, garbage_key]), ("unknown-field", [*base, unknown_field]),
            ("wrong-kind", [*base, wrong_kind]), ("broken-yaml", [*base, ok])], key


def test_key_material_never_reaches_output(tmp_path: Path) -> None:
    cases, key = leak_cases()
    needles = secret_needles(key) + [ln for ln in HTPASSWD.splitlines()] + ["$apr1$Qx7e0gUi"]
    for name, docs in cases:
        text = emit(docs)[0]
        if name == "broken-yaml":
            text = text.replace("kind: \"Secret\"", "kind: [\"Secret\"", 1) + "\n: :\n"
        src = tmp_path / f"{name}.yaml"
        src.write_text(text)
        report = tmp_path / f"{name}-report.json"
        runs = [["-o", str(tmp_path / f"out-{name}")], ["-o", "-"], ["-o", "-", "-f", "json"],
                ["-o", "-", "-f", "sarif"], ["-o", "-", "-f", "github"],
                ["-o", "-", "--annotation-report", "--annotation-report-json", str(report)]]
        for args in runs:
            code, out, err = run_cli(["build", str(src), "--color", "never", *args])
            assert code in (0, 1), (name, args, err)
            blob = out + err + (report.read_text() if report.exists() else "")
            for n in needles:
                assert n not in blob, f"{name} {args}: key material {n[:12]}... printed"


@pytest.mark.nginx
def test_key_material_never_reaches_nginx_logs(tmp_path: Path, nginx_bin: str) -> None:
    cases, key = leak_cases()
    src = tmp_path / "ok.yaml"
    src.write_text(emit(cases[0][1])[0])
    http, https = free_ports(2)
    d = tmp_path / "bundle"
    code, _, err = run_cli(["build", str(src), "-o", str(d), "--http-port", str(http), "--https-port", str(https)])
    assert code == 0, err
    runner = NginxRunner(d, port=http, binary=nginx_bin)
    rc, out = runner.test()
    assert rc == 0, out
    with runner:
        request(http, "/api", host="app.example.com")
        request(https, "/api", host="app.example.com", https=True)
        logs = runner.output() + "".join(p.read_text(errors="replace") for p in (d / "logs").glob("*"))
    for n in secret_needles(key):
        assert n not in logs + out
