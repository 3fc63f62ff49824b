"""End to end: rebuild a bundle under a running nginx, then ``nginx -s reload``.

One nginx for the module.  The second build changes routes, endpoints, hosts and a certificate; until
the reload the running nginx keeps serving the first build (its old key file is already gone, which
must not matter), after it the new routes and the new certificate are served by the same master.  A
failed build leaves the bundle byte for byte as it was; a last build changes the controller ConfigMap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.build import (
    BuildResult,
    Doc,
    backend_service,
    build_bundle,
    ingress,
    path,
    rule,
    tls_secret,
)
from tests.support.echo import EchoBackend, start_echo
from tests.support.http import Response, request
from tests.support.nginx import NginxRunner
from tests.support.ports import free_ports

pytestmark = pytest.mark.nginx

FAKE = "ssl/default-fake-certificate.pem"


@dataclass
class Env:
    http: int
    https: int
    out: Path
    one: EchoBackend
    two: EchoBackend
    secrets: dict[str, str]  # Secret YAML by certificate CN, made once (a new certificate each time otherwise)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    one = start_echo("one")
    try:
        two = start_echo("two")
    except BaseException:
        one.stop()
        raise
    try:
        http_port, https_port = free_ports(2)
        secrets = {
            "r-v1": tls_secret("tls-r", ["r.test"], cn="r-v1", key_index=11)[0],
            "r-v2": tls_secret("tls-r", ["r.test"], cn="r-v2", key_index=12)[0],  # renewed: new certificate and key
        }
        yield Env(http_port, https_port, tmp_path_factory.mktemp("e2e-reload") / "bundle", one, two, secrets)
    finally:
        one.stop()
        two.stop()


def generation_1(env: Env) -> list[Doc]:
    return [
        env.secrets["r-v1"],
        *backend_service("web", env.one),
        *backend_service("old", env.one),
        ingress("app", tls=[(["r.test"], "tls-r")],
                rules=[rule("r.test", path("/old", "old"), path("/", "web"))]),
        ingress("side", rules=[rule("kept.test", path("/", "web")), rule("gone.test", path("/", "web"))]),
    ]


def generation_2(env: Env) -> list[Doc]:
    return [
        env.secrets["r-v2"],
        *backend_service("web", env.two),  # the Service's endpoints moved
        *backend_service("new", env.two),
        ingress("app", tls=[(["r.test"], "tls-r")], rules=[rule("r.test", path("/new", "new"))]),
        ingress("side", rules=[rule("kept.test", path("/", "web")), rule("added.test", path("/", "new"))]),
    ]


def generation_3(env: Env) -> list[Doc]:
    """The controller ConfigMap turns ssl-redirect off; one Ingress turns it back on for its path."""
    configmap = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
        "data": {"ssl-redirect": "false"},
    }
    return [
        *generation_2(env),
        configmap,
        ingress("secure", annotations={"ssl-redirect": "true"}, rules=[rule("r.test", path("/secure", "new"))]),
    ]


def build(env: Env, docs: list[Doc], expect_exit: int = 0, args: tuple[str, ...] = ()) -> BuildResult:
    return build_bundle(env.out, docs, http_port=env.http, https_port=env.https, expect_exit=expect_exit, args=args)


def get(env: Env, host: str, target: str) -> Response:
    return request(env.http, target, host=host)


def served_by(r: Response) -> tuple[int, str | None, str | None]:
    if r.status != 200 or "X-Echo-Backend" not in r.headers:
        return r.status, None, None
    data = r.json()
    return r.status, data["backend"], data["uri"]


def tls_r_file(keys: set[str]) -> str:
    (name,) = [k for k in keys if re.fullmatch(r"ssl/default-tls-r-[0-9a-f]{12}\.pem", k)]
    return name


def test_rebuild_under_running_nginx_then_reload(env: Env, nginx_bin: str) -> None:
    first = build(env, generation_1(env))
    first.crossplane()
    keys_1 = first.key_files()
    old_key = tls_r_file(keys_1)
    assert keys_1 == {FAKE, old_key}

    with NginxRunner(env.out, binary=nginx_bin, port=env.http) as runner:
        runner.assert_config_ok()
        master = runner.pid
        assert served_by(get(env, "r.test", "/old/x")) == (308, None, None)
        assert served_by(request(env.https, "/old/x", host="r.test", https=True)) == (200, "one", "/old/x")
        assert request(env.https, "/", host="r.test", https=True).cert_cn == "r-v1"
        assert served_by(get(env, "kept.test", "/k")) == (200, "one", "/k")
        assert served_by(get(env, "gone.test", "/g")) == (200, "one", "/g")
        assert served_by(get(env, "added.test", "/a")) == (404, None, None)

        # --- rebuild while nginx runs -------------------------------------------------------------
        second = build(env, generation_2(env))
        second.crossplane()
        keys_2 = second.key_files()
        new_key = tls_r_file(keys_2)
        assert new_key != old_key
        assert keys_2 == {FAKE, new_key}  # the old key file is removed, the new one present
        assert not (env.out / old_key).exists()
        conf = second.conf.read_text()
        assert new_key in conf and old_key not in conf
        runner.assert_config_ok()

        # not reloaded yet: the running nginx still serves the first build (and its certificate, from memory)
        assert served_by(get(env, "gone.test", "/g")) == (200, "one", "/g")
        assert request(env.https, "/", host="r.test", https=True).cert_cn == "r-v1"

        runner.reload()
        assert runner.pid == master

        # --- the second build is served ---------------------------------------------------------
        assert served_by(request(env.https, "/new/x?q=1", host="r.test", https=True)) == (200, "two", "/new/x?q=1")
        assert served_by(get(env, "r.test", "/new")) == (308, None, None)
        assert request(env.https, "/", host="r.test", https=True).cert_cn == "r-v2"
        assert served_by(request(env.https, "/old/x", host="r.test", https=True)) == (404, None, None)
        assert served_by(get(env, "kept.test", "/k")) == (200, "two", "/k")  # new endpoints
        assert served_by(get(env, "added.test", "/a")) == (200, "two", "/a")
        assert served_by(get(env, "gone.test", "/g")) == (404, None, None)  # catch-all

        # --- a failed build changes nothing, and nginx keeps serving ------------------------------
        before = {p: (env.out / p).read_bytes() for p in ("nginx.conf", *keys_2)}
        bad = generation_2(env)
        bad.append("apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\nspec:\n  portz: []\n")
        failed = build(env, bad, expect_exit=1)
        assert re.search(r"error\[V\d+\]: .*portz", failed.stderr) and "nothing written" in failed.stderr, failed.stderr
        assert second.key_files() == keys_2
        assert {p: (env.out / p).read_bytes() for p in before} == before
        runner.reload()
        assert served_by(get(env, "added.test", "/a")) == (200, "two", "/a")

        # --- controller settings change with a rebuild too: ConfigMap ssl-redirect "false" ----------------
        third = build(env, generation_3(env), args=("--configmap", "ingress-nginx/ingress-nginx-controller"))
        third.crossplane()
        assert third.key_files() == keys_2  # same secret, same file
        runner.assert_config_ok()
        assert served_by(get(env, "r.test", "/new")) == (308, None, None)
        runner.reload()
        assert served_by(get(env, "r.test", "/new/n")) == (200, "two", "/new/n")
        r = get(env, "r.test", "/secure/")
        assert (r.status, r.headers.get("Location")) == (308, "https://r.test/secure")

        assert "[emerg]" not in runner.error_log() and "[alert]" not in runner.error_log()
        access = (env.out / "logs" / "access.log").read_text()
    # logs survive rebuilds: requests from before the first rebuild are still in the log
    assert '"GET /g HTTP/1.1" 200' in access and '"GET /a HTTP/1.1" 200' in access
    assert (env.out / "logs").is_dir() and (env.out / "tmp").is_dir()
