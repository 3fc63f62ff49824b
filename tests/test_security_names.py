"""Issue 6, unique names: generated upstream, certificate-file, htpasswd and zone names never collide across
namespaces, so one namespace is never served another's endpoints or key.

Namespace/name pairs are drawn to collide when joined with '-' (team-a/api vs team/a-api), and an attacker
identity is added whose *canonical* name equals the hash-suffixed name the allocator gives a colliding one
(the names are public: sha256 of "service NS/NAME port P").  The property: every host's location proxies to
an upstream whose only server is its own Service's endpoint, and serves its own certificate.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security import tree
from tests.security.fields import certificate
from tests.security.manifests import PREFIX, emit, endpoint_slice, ingress, run_cli, service, tls_secret

TOKENS = ["a", "b", "api", "a-api", "team", "team-a", "x-80", "web", "80", "a-b"]


@dataclass(frozen=True)
class Identity:
    namespace: str
    service: str
    port: int | str  # number, or a port name
    secret: str


def short_hash(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:8]


def attackers(ids: list[Identity]) -> list[Identity]:
    """For each identity, one whose canonical names equal the names the allocator would give it on collision."""
    out: list[Identity] = []
    for i in ids:
        h_up = short_hash(f"service {i.namespace}/{i.service} port {i.port}")
        h_cert = short_hash(f"secret {i.namespace}/{i.secret}")
        svc = f"{i.service}-{i.port}"
        if not any(c.isalpha() for c in h_up) or not svc[0].isalpha() or len(svc) > 63:
            continue
        out.append(Identity(i.namespace, svc, h_up, f"{i.secret}-{h_cert}"))
    return out


def _name(tokens: list[str], first_letter: bool = False) -> str:
    s = "-".join(tokens)
    return ("s" + s) if first_letter and not s[0].isalpha() else s


identity = st.builds(
    lambda ns, svc, port, secret: Identity(_name(ns), _name(svc, first_letter=True), port, _name(secret)),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=2),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=2),
    st.one_of(st.sampled_from([80, 8080]), st.sampled_from(["http", "web", "a-80"])),
    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=2),
)

_LETTER_TOKENS = [t for t in TOKENS if t[0].isalpha()]
# Two identities whose joined names are equal: a-b/c and a/b-c (Service, port and secret names alike).
colliding_pair = st.builds(
    lambda a, b, c, port: [Identity(f"{a}-{b}", c, port, c), Identity(a, f"{b}-{c}", port, f"{b}-{c}")],
    st.sampled_from(TOKENS), st.sampled_from(_LETTER_TOKENS), st.sampled_from(_LETTER_TOKENS),
    st.one_of(st.sampled_from([80, 8080]), st.sampled_from(["http", "web"])),
)


def manifests(ids: list[Identity]) -> tuple[list[dict[str, Any]], dict[str, tuple[Identity, str, str]]]:
    """Documents for the identities; {host: (identity, endpoint "ip:port", certificate PEM)}.

    Identities of one namespace naming the same secret share it (one certificate for all their hosts).
    """
    docs: list[dict[str, Any]] = []
    hosts: dict[tuple[str, str], list[str]] = {}
    for n, i in enumerate(ids):
        hosts.setdefault((i.namespace, i.secret), []).append(f"h{n}.example.com")
    certs = {k: certificate(*v) for k, v in hosts.items()}
    want: dict[str, tuple[Identity, str, str]] = {}
    for n, i in enumerate(ids):
        host = f"h{n}.example.com"
        ip, port = f"10.1.{n // 250}.{n % 250 + 1}", 9000 + n
        number = i.port if isinstance(i.port, int) else 80
        pname = i.port if isinstance(i.port, str) else None
        docs.append(ingress(name=i.service, namespace=i.namespace, host=host, path="/", service=i.service,
                            port=i.port, tls_secret=i.secret,
                            annotations={PREFIX + "limit-rps": "5", PREFIX + "auth-type": "basic",
                                         PREFIX + "auth-secret": f"{i.secret}-users"}))
        docs.append(service(name=i.service, namespace=i.namespace, port=number, port_name=pname))
        docs.append(endpoint_slice(service_name=i.service, namespace=i.namespace, addresses=[ip], port=port,
                                   port_name=pname, name=f"{i.service}-{n}"))
        want[host] = (i, f"{ip}:{port}", certs[(i.namespace, i.secret)][0])
    for (ns, name), (cert, key) in certs.items():
        docs.append(tls_secret(name, ns, cert, key))
        docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-users", "namespace": ns},
                     "data": {"auth": base64.b64encode(htpasswd(ns, name).encode()).decode()}})
    return docs, want


def htpasswd(ns: str, secret: str) -> str:
    """Users unique to one namespace's secret: a file served to another namespace would show it."""
    return f"user-{ns}-{secret}:{{SHA}}fEqNCco3Yq9h5ZUglD3CZJT4lBs=\n"


def compile_bundle(docs: list[dict[str, Any]]) -> tuple[int, str, str, dict[str, bytes]]:
    text, _ = emit(docs)
    tmp = tempfile.mkdtemp(prefix="ingc-sec-names-")
    try:
        src = os.path.join(tmp, "in.yaml")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(text)
        out = os.path.join(tmp, "out")
        code, _, err = run_cli(["build", src, "-o", out, "--color", "never"])
        files: dict[str, bytes] = {}
        conf = ""
        if code == 0:
            with open(os.path.join(out, "nginx.conf"), encoding="utf-8") as fh:
                conf = fh.read()
            for sub in ("ssl", "auth"):
                d = os.path.join(out, sub)
                for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                    with open(os.path.join(d, f), "rb") as fh:
                        files[f"{sub}/{f}"] = fh.read()
        return code, conf, err, files
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_isolation(ids: list[Identity]) -> None:
    docs, want = manifests(ids)
    code, conf, err, files = compile_bundle(docs)
    assert code == 0, err
    stmts = tree.parsed(conf)
    upstreams: dict[str, list[str]] = {}
    for up in tree.find(stmts, "http", "upstream"):
        name = up["args"][0]
        assert name not in upstreams, f"upstream {name} defined twice"
        upstreams[name] = sorted(st["args"][0] for st in up["block"] if st["directive"] == "server")
    zones: dict[str, str] = {}
    for _, stmt in tree.walk(stmts):
        if stmt["directive"] in ("limit_req_zone", "limit_conn_zone"):
            zone = next(a for a in stmt["args"] if a.startswith("zone="))
            zname = zone[5:].split(":")[0]
            assert zname not in zones, f"zone {zname} declared twice"
            zones[zname] = stmt["directive"]
    zone_owner: dict[str, str] = {}
    checked = {"auth": 0, "zones": 0}
    auth_owner: dict[str, str] = {}
    seen_hosts = set()
    for srv in tree.find(stmts, "http", "server"):
        names = [tree.unescape(a) for st in srv["block"] if st["directive"] == "server_name" for a in st["args"]]
        host = names[0]
        if host not in want:
            continue
        seen_hosts.add(host)
        ident, endpoint, cert = want[host]
        certs = [st["args"][0] for st in srv["block"] if st["directive"] == "ssl_certificate"]
        assert certs, f"{host}: no ssl_certificate"
        pem = files.get(certs[0])
        assert pem is not None and cert.encode().strip() in pem, \
            f"{host} ({ident}) serves {certs[0]}, which is not its own secret's certificate"
        locs = [st for st in srv["block"] if st["directive"] == "location"]
        for loc in locs:
            body = loc["block"]
            passes = [st["args"][0] for st in body if st["directive"] == "proxy_pass"]
            for target in passes:
                up = target.split("://", 1)[1]
                assert upstreams.get(up) == [endpoint], \
                    f"{host} ({ident}) proxies to upstream {up} = {upstreams.get(up)}, not its own {endpoint}"
            for stmt in body:
                if stmt["directive"] in ("limit_req", "limit_conn"):
                    z = next((a[5:] for a in stmt["args"] if a.startswith("zone=")), stmt["args"][0])
                    owner = zone_owner.setdefault(z, f"{ident.namespace}/{ident.service}")
                    assert owner == f"{ident.namespace}/{ident.service}", \
                        f"zone {z} shared by Ingresses {owner} and {ident.namespace}/{ident.service}"
                    assert z in zones, f"zone {z} used but not declared"
                if stmt["directive"] == "auth_basic_user_file":
                    f = tree.unescape(stmt["args"][0]).strip('"')
                    owner = auth_owner.setdefault(f, ident.namespace)
                    assert owner == ident.namespace, f"htpasswd file {f} shared by namespaces {owner} and " \
                                                     f"{ident.namespace}"
                    assert files.get(f, b"").decode() == htpasswd(ident.namespace, ident.secret), \
                        f"{host} ({ident}) checks passwords against {f}, not its own namespace's users"
                    checked["auth"] += 1
                if stmt["directive"] == "limit_req":
                    checked["zones"] += 1
    assert seen_hosts == set(want), f"hosts missing from nginx.conf: {set(want) - seen_hosts}"
    from ingc.annotations import KNOWN_KEYS

    if "auth-secret" in KNOWN_KEYS:
        assert checked["auth"] >= len(want), "basic auth was not applied: the htpasswd check did not run"
    if "limit-rps" in KNOWN_KEYS:
        assert checked["zones"] >= len(want), "limit-rps was not applied: the zone check did not run"


def _unique(ids: list[Identity]) -> list[Identity]:
    seen: set[tuple[str, str]] = set()
    out = []
    for i in ids:
        if (i.namespace, i.service) not in seen:
            seen.add((i.namespace, i.service))
            out.append(i)
    return out


def test_crafted_hash_suffix_cannot_take_over_a_colliding_upstream() -> None:
    # team/a-api and team-a/api both want "team-a-api-80"; the one processed second is suffixed with the
    # (public) hash of its identity; a third Service is named so that its canonical name is that suffix.
    victim = Identity("team-a", "api", 80, "tls")
    ids = [victim, Identity("team", "a-api", 80, "tls"), *attackers([victim])]
    assert len(ids) == 3
    check_isolation(ids)
    check_isolation(list(reversed(ids)))


def test_default_backend_upstream_name_is_reserved() -> None:
    # A Service whose canonical upstream name is "upstream-default-backend" (upstream/default port "backend")
    # must not replace the --default-backend-service upstream.
    docs = [
        service(name="fallback", namespace="infra", port=80), endpoint_slice("fallback", "infra", ["10.9.9.9"], 8080),
        ingress(name="x", namespace="upstream", host="h0.example.com", path="/", service="default", port="backend"),
        service(name="default", namespace="upstream", port=80, port_name="backend"),
        endpoint_slice("default", "upstream", ["10.6.6.6"], 8080, port_name="backend"),
    ]
    text, _ = emit(docs)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.yaml")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(text)
        code, out, err = run_cli(["build", src, "-o", "-", "--default-backend-service", "infra/fallback"])
    assert code == 0, err
    ups = {u["args"][0]: [s["args"][0] for s in u["block"]] for u in tree.find(tree.parsed(out), "http", "upstream")}
    assert ups["upstream-default-backend"] == ["10.9.9.9:8080"]
    assert ["10.6.6.6:8080"] in ups.values()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=st.lists(identity, max_size=4), pairs=st.lists(colliding_pair, min_size=1, max_size=2),
       with_attackers=st.booleans(), order=st.randoms(use_true_random=False))
def test_generated_names_never_collide_across_namespaces(ids: list[Identity], pairs: list[list[Identity]],
                                                         with_attackers: bool, order: Any) -> None:
    ids = _unique([i for p in pairs for i in p] + ids)
    if with_attackers:
        ids = _unique(ids + attackers(ids))
    order.shuffle(ids)
    check_isolation(ids)
