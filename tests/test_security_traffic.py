"""Issue 6, no injection, shown by traffic: hostile values ingc accepts reach real nginx and come out literally.

One nginx and one echo backend for the module; every example rebuilds the bundle in place and reloads.

* paths (ImplementationSpecific: anything but control characters) with quotes, backslashes, ``#``, ``;``,
  braces, ``$``, spaces and non-ASCII: each request reaches the backend through its own location, and the
  backend receives exactly the path;
* header values: ``x-forwarded-prefix`` (``$`` is literal) reaches the backend as written, and custom-headers
  values (quotes, ``;``, braces, ``#``, ``$``, backslashes...) reach the client as written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote as urlquote
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.corpus import CVE_PATHS
from tests.security.manifests import (
    PREFIX,
    compile_docs,
    configmap,
    emit,
    endpoint_slice,
    ingress,
    run_cli,
    service,
)
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

pytestmark = pytest.mark.nginx

HOST = "app.example.com"
CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


@dataclass
class Env:
    dir: Path
    echo: EchoBackend
    http: int
    https: int
    runner: NginxRunner | None = None

    def backend(self, name: str = "api") -> list[dict[str, Any]]:
        return [service(name), endpoint_slice(name, addresses=["127.0.0.1"], port=self.echo.port)]

    def deploy(self, docs: list[dict[str, Any]], args: tuple[str, ...] = ()) -> None:
        text, _ = emit(docs)
        src = self.dir / "in.yaml"
        src.write_text(text, encoding="utf-8")
        code, _, err = run_cli(["build", str(src), "-o", str(self.dir / "bundle"), "--http-port", str(self.http),
                                "--https-port", str(self.https), "--color", "never", *args])
        assert code == 0, err
        if self.runner is None:
            self.runner = NginxRunner(self.dir / "bundle", port=self.http).start()
        else:
            self.runner.reload()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, nginx_bin: str) -> Iterator[Env]:
    echo = start_echo("sec")
    http, https = free_ports(2)
    e = Env(tmp_path_factory.mktemp("sec-traffic"), echo, http, https)
    try:
        yield e
    finally:
        if e.runner is not None:
            e.runner.stop()
        echo.stop()


# Paths: anything ingc accepts for ImplementationSpecific, minus what nginx normalises before matching
# (`//`, `/./`, `/../`, a trailing `/.` or `/..`), which is routing semantics, not injection.
path_char = st.one_of(st.sampled_from(list("\"'\\#;{}$ ~*^()[]|&=?%@!,:<>`+é€") + ["${", "$host", "\ufeff"]),
                      st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]),
                      st.sampled_from(list("abcXYZ019-_./")))
path_tail = st.lists(path_char, min_size=1, max_size=12).map("".join)


def routable(p: str) -> bool:
    return not (CONTROL.search(p) or "//" in p or "/./" in p or "/../" in p or p.endswith(("/.", "/..")))


def accepted(p: str) -> bool:
    return compile_docs([ingress(path=p, path_type="ImplementationSpecific"), service(), endpoint_slice()]).exit_code == 0


def check_paths(env: Env, tails: list[str]) -> int:
    """Route every accepted, routable path to the echo backend; returns how many were checked."""
    paths = [f"/t{i:02d}-{t}" for i, t in enumerate(tails)]
    paths = [p for p in paths if routable(p) and accepted(p)]
    if not paths:
        return 0
    ing = ingress(path=paths[0], path_type="ImplementationSpecific",
                  extra_paths=[(p, "ImplementationSpecific", "api", 80) for p in paths[1:]])
    env.deploy([ing, *env.backend()])
    for p in paths:
        target = urlquote(p.encode("utf-8"), safe="/")
        r = request(env.http, target, host=HOST)
        assert r.status == 200, f"{p!r} (sent as {target}): {r.status} {r.text[:200]}"
        got = r.json()
        assert r.headers.get("X-Echo-Backend") == "sec"
        assert unquote(got["path"], errors="strict") == p, f"backend saw {got['path']!r} for {p!r}"
    return len(paths)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                HealthCheck.function_scoped_fixture])
@given(tails=st.lists(path_tail, min_size=4, max_size=12))
def test_hostile_paths_reach_the_backend_literally(env: Env, tails: list[str]) -> None:
    check_paths(env, tails)


def test_corpus_paths_reach_the_backend_literally(env: Env) -> None:
    tails = ['x"y', "x\\", 'x\\"', "a;b", "a{b}c", "#frag", "a #b", "$host", "${host}", "sp ace", "é€", "q?x",
             "pct%41", "semi;}{", "x'y", "~*^a$"]
    tails += [p[1:] for _, p, t in CVE_PATHS if t == "ImplementationSpecific"]
    assert check_paths(env, tails) >= 16  # the hand-written ones are all accepted; deep inspection drops some CVEs


HEADER_VALUE_CHARS = "abcXYZ019_ :;.,\\/\"'?!(){}[]@<>=-+*#$&`|~^%"
header_value = st.text(alphabet=HEADER_VALUE_CHARS, min_size=1, max_size=40).map(str.strip).filter(bool)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(values=st.lists(header_value, min_size=1, max_size=6))
def test_custom_header_values_reach_the_client_literally(env: Env, values: list[str]) -> None:
    check_custom_headers(env, values)


def test_corpus_custom_header_values_reach_the_client_literally(env: Env) -> None:
    check_custom_headers(env, ['x"; } location /pwn { return 200 pwned; } #', "x\\", '\\"', "$http_authorization",
                               "${host}", "a;b{c}#d", "`id`", "100%"])


def check_custom_headers(env: Env, values: list[str]) -> None:
    names = [f"X-Lit-{i}" for i in range(len(values))]
    docs = [ingress(annotations={PREFIX + "custom-headers": "shop/headers"}), *env.backend(),
            configmap(dict(zip(names, values, strict=True)), name="headers", namespace="shop"),
            configmap({"global-allowed-response-headers": ",".join(names)})]
    probe = compile_docs(docs, ("--configmap", "ingress-nginx/ingress-nginx-controller"))
    if probe.exit_code != 0 or "A11" in probe.stderr or "A12" in probe.stderr:
        pytest.skip(f"custom-headers not applied: {probe.stderr[-500:]}")
    env.deploy(docs, ("--configmap", "ingress-nginx/ingress-nginx-controller"))
    r = request(env.http, "/api", host=HOST, headers={"Authorization": "Bearer SECRET"})
    assert r.status == 200
    for name, value in zip(names, values, strict=True):
        assert r.headers.get(name) == value, f"{name}: sent {r.headers.get(name)!r}, configured {value!r}"
    assert "SECRET" not in str([(k, r.headers.get_all(k)) for k in r.headers])


prefix_value = st.text(alphabet="abcXYZ019-._~/:$", min_size=1, max_size=30).map(lambda s: "/" + s)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(value=prefix_value)
def test_forwarded_prefix_reaches_the_backend_literally(env: Env, value: str) -> None:
    check_forwarded_prefix(env, value)


def test_corpus_forwarded_prefix(env: Env) -> None:
    check_forwarded_prefix(env, "/a$host$1$http_authorization$")


def check_forwarded_prefix(env: Env, value: str) -> None:
    docs = [ingress(path="/xfp", annotations={PREFIX + "rewrite-target": "/",
                                              PREFIX + "x-forwarded-prefix": value}), *env.backend()]
    o = compile_docs(docs)
    assert o.exit_code == 0, o.stderr
    if "A110" in o.stderr:  # refused with a warning (the default applies): nothing to observe
        return
    env.deploy(docs)
    r = request(env.http, "/xfp", host=HOST, headers={"Authorization": "Bearer SECRET"})
    assert r.status == 200, r.text
    assert r.json()["headers"].get("x-forwarded-prefix") == value


def test_no_injected_location_answers(env: Env) -> None:
    # After all the above, the CVE path payloads compiled into this nginx: /pwn was never a location.
    env.deploy([ingress(path="/t00-x", path_type="ImplementationSpecific",
                        extra_paths=[(p, t, "api", 80) for _, p, t in CVE_PATHS
                                     if routable(p) and accepted(p) and t == "ImplementationSpecific"]),
                *env.backend()])
    r = request(env.http, "/pwn", host=HOST)
    assert r.status == 404 and "pwned" not in r.text
    assert os.path.exists(env.dir / "bundle" / "nginx.conf")
