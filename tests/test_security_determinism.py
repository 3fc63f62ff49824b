"""Issue 6, determinism: the same manifests give the same bytes, whatever the order and the environment.

Manifest sets are generated (several Ingresses competing for the same hosts and paths with equal
creation times, Services with several EndpointSlices, TLS Secrets, annotations, a controller ConfigMap),
then split into files and shuffled: every permutation of files and of documents must give the same
nginx.conf and the same bundle files.  A small set is checked over *every* permutation; generated sets
over random ones.  Subprocesses then vary the working directory, LANG/LC_ALL, TZ and PYTHONHASHSEED.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.security.fields import certificate
from tests.security.manifests import (
    PREFIX,
    configmap,
    emit,
    endpoint_slice,
    ingress,
    run_cli,
    service,
    tls_secret,
)

REPO = Path(__file__).resolve().parent.parent
CM_ARGS = ["--configmap", "ingress-nginx/ingress-nginx-controller"]

HOSTS = ["a.example.com", "b.example.com", "*.example.com", "c.example.org"]
PATHS = [("/", "Prefix"), ("/api", "Prefix"), ("/api", "Exact"), ("/api/v1", "ImplementationSpecific"),
         ("/x/", "Prefix"), ("/(.*)", "ImplementationSpecific")]
ANNOTATIONS = [{}, {"rewrite-target": "/"}, {"use-regex": "true"}, {"ssl-redirect": "false"},
               {"proxy-body-size": "8m"}, {"enable-cors": "true"}, {"limit-rps": "5"},
               {"auth-type": "basic", "auth-secret": "users"}, {"server-alias": "alias.example.com"},
               {"permanent-redirect": "https://example.com/"}, {"custom-http-errors": "404,503"}]
TIMES = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "2023-06-01T12:00:00Z", None]


@st.composite
def manifest_set(draw: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    services = draw(st.lists(st.sampled_from(["api", "web", "db"]), min_size=1, max_size=3, unique=True))
    for svc in services:
        docs.append(service(svc))
        n = draw(st.integers(1, 3))
        for j in range(n):
            addrs = draw(st.lists(st.sampled_from([f"10.0.{j}.{k}" for k in range(1, 6)]), min_size=1, max_size=3,
                                  unique=True))
            docs.append(endpoint_slice(svc, addresses=addrs, name=f"{svc}-{j}"))
    for i in range(draw(st.integers(1, 5))):
        host = draw(st.sampled_from(HOSTS))
        path, ptype = draw(st.sampled_from(PATHS))
        extra = draw(st.lists(st.sampled_from(PATHS), max_size=2))
        ann = {PREFIX + k: v for k, v in draw(st.sampled_from(ANNOTATIONS)).items()}
        tls = draw(st.booleans()) and not host.startswith("*")
        ing = ingress(name=f"ing{i}", host=host, path=path, path_type=ptype, service=draw(st.sampled_from(services)),
                      annotations=ann or None, tls_secret=f"tls-{host.split('.')[0]}" if tls else None,
                      extra_paths=[(p, t, draw(st.sampled_from(services)), 80) for p, t in extra])
        created = draw(st.sampled_from(TIMES))
        if created:
            ing["metadata"]["creationTimestamp"] = created
        docs.append(ing)
        if tls and not any(d["kind"] == "Secret" and d["metadata"]["name"] == f"tls-{host.split('.')[0]}"
                           for d in docs):
            cert, key = certificate(host)
            docs.append(tls_secret(f"tls-{host.split('.')[0]}", "shop", cert, key))
    import base64

    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "users", "namespace": "shop"},
                 "data": {"auth": base64.b64encode(b"alice:{SHA}fEqNCco3Yq9h5ZUglD3CZJT4lBs=\n").decode()}})
    docs.append(configmap({"proxy-read-timeout": "30", "hsts": "false"}))
    return docs


def layout(docs: list[dict[str, Any]], rnd: random.Random, files: int) -> list[tuple[str, str]]:
    """Shuffle the documents into ``files`` files (sometimes as a kind: List), in a shuffled file order."""
    order = list(docs)
    rnd.shuffle(order)
    buckets: list[list[dict[str, Any]]] = [[] for _ in range(files)]
    for d in order:
        buckets[rnd.randrange(files)].append(d)
    out = []
    for i, b in enumerate(buckets):
        if not b:
            continue
        if rnd.random() < 0.25:
            b = [{"apiVersion": "v1", "kind": "List", "items": b}]
        out.append((f"f{rnd.randrange(10**6)}-{i}.yaml", emit(b)[0]))
    rnd.shuffle(out)
    return out


def build(files: list[tuple[str, str]], bundle: bool = False,
          args: list[str] = CM_ARGS) -> tuple[int, str, dict[str, bytes], str]:
    tmp = tempfile.mkdtemp(prefix="ingc-det-")
    try:
        paths = []
        for name, text in files:
            p = os.path.join(tmp, name)
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(text)
            paths.append(p)
        out = os.path.join(tmp, "out") if bundle else "-"
        code, stdout, err = run_cli(["build", *paths, "-o", out, *args])
        blobs: dict[str, bytes] = {}
        if bundle and code == 0:
            stdout = Path(out, "nginx.conf").read_text(encoding="utf-8")
            for sub in ("ssl", "auth"):
                for f in sorted(Path(out, sub).iterdir()):
                    blobs[f"{sub}/{f.name}"] = f.read_bytes()
        return code, stdout, blobs, err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_every_permutation_of_a_small_set() -> None:
    cert, key = certificate("a.example.com")
    docs = [
        ingress(name="one", host="a.example.com", path="/api", tls_secret="tls"),
        ingress(name="two", host="a.example.com", path="/api", service="web"),  # same path: oldest (name) wins
        service("api"), endpoint_slice("api", addresses=["10.0.0.2", "10.0.0.1"], name="api-b"),
        service("web"),
        tls_secret("tls", "shop", cert, key),
    ]
    outputs = set()
    for perm in itertools.permutations(docs):
        code, conf, _, err = build([("all.yaml", emit(list(perm))[0])], args=[])
        assert code == 0, err
        outputs.add(conf)
    assert len(outputs) == 1, f"{len(outputs)} different outputs over {len(list(itertools.permutations(docs)))} orders"
    # ... and every order of three files.
    files = [("x.yaml", emit(docs[:2])[0]), ("y.yaml", emit(docs[2:4])[0]), ("z.yaml", emit(docs[4:])[0])]
    for file_order in itertools.permutations(files):
        code, conf, _, err = build(list(file_order), args=[])
        assert code == 0, err
        outputs.add(conf)
    assert len(outputs) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(docs=manifest_set(), seed=st.integers(0, 2**32), files=st.integers(1, 4))
def test_generated_sets_give_the_same_bytes_in_any_order(docs: list[dict[str, Any]], seed: int, files: int) -> None:
    rnd = random.Random(seed)
    first = build(layout(docs, rnd, files), bundle=True)
    event(f"exit {first[0]}")
    for _ in range(3):
        again = build(layout(docs, rnd, rnd.randint(1, 4)), bundle=True)
        assert again[0] == first[0], (first[3], again[3])
        assert again[1] == first[1], "nginx.conf differs with another order of files and documents"
        assert again[2] == first[2], "bundle files differ with another order of files and documents"


def _subprocess_build(src: Path, cwd: Path, env: dict[str, str], out: Path) -> tuple[bytes, dict[str, bytes]]:
    full = dict(os.environ, PYTHONPATH=str(REPO), **env)
    rel = os.path.relpath(src, cwd)
    p = subprocess.run([sys.executable, "-m", "ingc", "build", rel, "-o", str(out), *CM_ARGS], cwd=cwd, env=full,
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    blobs = {f"{s}/{f.name}": f.read_bytes() for s in ("ssl", "auth") for f in sorted((out / s).iterdir())}
    return (out / "nginx.conf").read_bytes(), blobs


def test_same_bytes_in_any_directory_locale_timezone_and_hash_seed(tmp_path: Path) -> None:
    rnd = random.Random(7)
    cert, key = certificate("a.example.com")
    docs = [ingress(name="one", host="a.example.com", path="/api", tls_secret="tls",
                    annotations={PREFIX + "auth-type": "basic", PREFIX + "auth-secret": "users"}),
            ingress(name="two", host="b.example.com", path="/é/x", path_type="ImplementationSpecific",
                    annotations={PREFIX + "enable-cors": "true", PREFIX + "limit-rps": "3"}),
            service("api"), endpoint_slice("api", addresses=["10.0.0.3", "10.0.0.1", "10.0.0.2"]),
            tls_secret("tls", "shop", cert, key),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "users", "namespace": "shop"},
             "data": {"auth": "YWxpY2U6e1NIQX1mRXFOQ0NvM1lxOWg1WlVnbEQzQ1pKVDRsQnM9Cg=="}},
            configmap({"proxy-read-timeout": "30"})]
    rnd.shuffle(docs)
    src_dir = tmp_path / "src" / "deep" / "er"
    src_dir.mkdir(parents=True)
    src = src_dir / "in.yaml"
    src.write_text(emit(docs)[0], encoding="utf-8")
    runs = [
        (tmp_path, {}),
        (Path("/"), {"PYTHONHASHSEED": "0"}),
        (src_dir, {"PYTHONHASHSEED": "1", "LANG": "C", "LC_ALL": "C"}),
        (tmp_path / "src", {"PYTHONHASHSEED": "12345", "LC_ALL": "tr_TR.UTF-8", "LANG": "tr_TR.UTF-8"}),
        (tmp_path, {"PYTHONHASHSEED": "random", "LC_ALL": "POSIX", "TZ": "Asia/Kolkata"}),
        (tmp_path, {"LC_ALL": "C.UTF-8", "TZ": "America/St_Johns", "PYTHONUTF8": "1"}),
    ]
    results = [_subprocess_build(src, cwd, env, tmp_path / f"out{i}") for i, (cwd, env) in enumerate(runs)]
    for (cwd, env), r in zip(runs[1:], results[1:], strict=True):
        assert r[0] == results[0][0], f"nginx.conf differs with cwd={cwd} env={env}"
        assert r[1] == results[0][1], f"bundle files differ with cwd={cwd} env={env}"
