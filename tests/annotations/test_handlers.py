"""What each handler puts into nginx.conf, checked on the crossplane tree: ConfigMap defaults, first-Ingress-wins
server and upstream settings, internal locations, and the handlers' special cases."""

from __future__ import annotations

from typing import Any

from tests.annotations._support import (
    PREFIX,
    Compiled,
    blocks,
    compile_docs,
    configmap,
    directives,
    http,
    ing,
    location,
    server,
    svc,
)

OLD, NEW = "2020-01-01T00:00:00Z", "2024-01-01T00:00:00Z"


def a(**kw: str) -> dict[str, str]:
    return {PREFIX + k.replace("_", "-"): v for k, v in kw.items()}


def build(*docs: Any, settings: dict[str, str] | None = None, **opts: Any) -> Compiled:
    return compile_docs([*svc("web"), *docs], settings=settings, **opts)


def test_relative_redirects_and_codes() -> None:
    c = build(ing("r", annotations=a(permanent_redirect="https://x.example/", permanent_redirect_code="399",
                                     relative_redirects="true")))
    loc = c.location("a.test", "/")
    assert directives(loc, "return") == [["301", "https://x.example/"]]  # out of range: the default code
    assert directives(loc, "absolute_redirect") == [["off"]]
    assert c.status("permanent-redirect-code") == "defaulted" and "A110" in c.codes


def test_redirect_with_non_http_scheme_falls_back() -> None:
    c = build(ing("r", annotations=a(permanent_redirect="ftp://x.example/", relative_redirects="true")))
    assert "A110" in c.codes
    loc = c.location("a.test", "/")
    assert not directives(loc, "return") and not directives(loc, "absolute_redirect")  # the whole group is ignored


def test_server_level_first_ingress_wins() -> None:
    c = build(ing("new", paths=(("/b", "web"),), created=NEW, annotations=a(ssl_ciphers="LOW")),
              ing("old", paths=(("/a", "web"),), created=OLD, annotations=a(ssl_ciphers="HIGH")))
    assert directives(c.server("a.test"), "ssl_ciphers") == [["HIGH"]]
    assert "A121" in c.codes
    assert c.status("ssl-ciphers", "new") == "ignored"


def test_upstream_level_first_ingress_wins() -> None:
    c = build(ing("new", paths=(("/b", "web"),), created=NEW, annotations=a(upstream_hash_by="$remote_addr")),
              ing("old", paths=(("/a", "web"),), created=OLD, annotations=a(upstream_hash_by="$request_uri")))
    up = next(s for s in http(c.tree()) if s["directive"] == "upstream")
    assert directives(up["block"], "hash") == [["$request_uri", "consistent"]]
    assert c.status("upstream-hash-by", "new") == "ignored"


def test_configmap_source_ranges_apply_and_annotation_replaces() -> None:
    c = build(ing("plain"), ing("own", host="b.test", annotations=a(whitelist_source_range="10.1.0.0/16")),
              settings={"whitelist-source-range": "10.0.0.0/8", "denylist-source-range": "10.9.0.0/16"})
    assert directives(c.location("a.test", "/"), "allow") == [["10.0.0.0/8"]]
    assert directives(c.location("a.test", "/"), "deny") == [["10.9.0.0/16"], ["all"]]
    assert directives(c.location("b.test", "/"), "allow") == [["10.1.0.0/16"]]


def test_global_auth_and_opt_out() -> None:
    settings = {"global-auth-url": "http://127.0.0.1:9/auth", "global-auth-response-headers": "X-User"}
    c = build(ing("on"), ing("off", host="b.test", annotations=a(enable_global_auth="false")), settings=settings)
    on = c.location("a.test", "/")
    assert directives(on, "auth_request")[0][0].startswith("/_external-auth-")
    assert ["$authHeader0", "$upstream_http_x_user"] in directives(on, "auth_request_set")
    assert not directives(c.location("b.test", "/"), "auth_request")


def test_no_auth_locations_skip_authentication() -> None:
    c = build(ing("acme", paths=(("/.well-known/acme-challenge", "web"), ("/", "web")),
                  annotations=a(auth_url="http://127.0.0.1:9/auth")))
    assert not directives(c.location("a.test", "/.well-known/acme-challenge/"), "auth_request")
    assert directives(c.location("a.test", "/"), "auth_request")


def test_external_auth_location() -> None:
    c = build(ing("x", annotations=a(auth_url="http://127.0.0.1:9/check?h=$host", auth_method="POST",
                                     auth_request_redirect="https://back.example/")))
    auth = next(s for s in c.server("a.test") if s["directive"] == "location" and "_external-auth" in s["args"][-1])
    body = auth["block"]
    assert directives(body, "internal") == [[]]
    assert directives(body, "proxy_method") == [["POST"]]
    assert directives(body, "set") == [["$proxy_upstream_name", "default-web-80"],
                                       ["$target", "http://127.0.0.1:9/check?h=$host"]]
    assert directives(body, "proxy_pass") == [["$target"]]
    assert ["X-Auth-Request-Redirect", "https://back.example/"] in directives(body, "proxy_set_header")


def test_fastcgi_params() -> None:
    c = build(configmap("fcgi", {"SCRIPT_FILENAME": "/srv/www$fastcgi_script_name", "HTTPS": "on"}),
              ing("php", annotations=a(backend_protocol="FCGI", fastcgi_index="index.php",
                                       fastcgi_params_configmap="fcgi")))
    loc = c.location("a.test", "/")
    params = dict((p[0], p[1:]) for p in directives(loc, "fastcgi_param"))
    assert params["SCRIPT_FILENAME"] == ["/srv/www$fastcgi_script_name"]
    assert params["HTTPS"] == ["on"]  # the ConfigMap replaces the standard parameter
    assert params["REQUEST_METHOD"] == ["$request_method"]
    assert directives(loc, "fastcgi_index") == [["index.php"]]
    assert directives(loc, "fastcgi_pass") == [["default-web-80"]]
    assert not directives(loc, "include")


def test_grpc_backend() -> None:
    loc = build(ing("g", annotations=a(backend_protocol="GRPCS", proxy_read_timeout="30"))).location("a.test", "/")
    assert directives(loc, "grpc_pass") == [["grpcs://default-web-80"]]
    assert directives(loc, "grpc_read_timeout") == [["30s"]]


def test_configmap_custom_http_errors() -> None:
    c = build(ing("e"), settings={"custom-http-errors": "404"})
    assert ["404", "=", "@custom_upstream-default-backend_404"] in directives(http(c.tree()), "error_page")
    named = location(c.tree(), "a.test", "@custom_upstream-default-backend_404")
    assert directives(named, "return") == [["404"]]  # no default backend Service: ingress-nginx's 404


def test_limit_zones_are_collision_free() -> None:
    c = build(ing("a-b", namespace="default", annotations=a(limit_rps="5")),
              ing("b", namespace="default-a", host="b.test", annotations=a(limit_rpm="60")),
              *svc("web", namespace="default-a"))
    zones = [d[1] for d in directives(http(c.tree()), "limit_req_zone")]
    assert len(set(zones)) == 2
    assert directives(c.location("a.test", "/"), "limit_req") != directives(c.location("b.test", "/"), "limit_req")


def test_configmap_limit_rate_applies_everywhere() -> None:
    c = build(ing("x"), settings={"limit-rate": "100", "limit-rate-after": "50"})
    loc = c.location("a.test", "/")
    assert directives(loc, "limit_rate") == [["100k"]] and directives(loc, "limit_rate_after") == [["50k"]]


def test_canary_without_main_is_reported() -> None:
    c = build(ing("c", annotations=a(canary="true", canary_weight="10")))
    assert "A125" in c.codes
    assert not [s for s in (c.config.servers if c.config else []) if s.hostname == "a.test"]


def test_canary_keys_without_canary_fall_back() -> None:
    c = build(ing("c", annotations=a(canary_weight="10")))
    assert "A110" in c.codes and c.status("canary-weight") == "defaulted"
    assert directives(c.location("a.test", "/"), "proxy_pass") == [["http://default-web-80"]]


def test_canary_full_weight_needs_no_split() -> None:
    c = build(*svc("new", ip="10.0.0.2"), ing("main", created=OLD),
              ing("canary", paths=(("/", "new"),), annotations=a(canary="true", canary_weight="100")))
    assert not blocks(http(c.tree()), "split_clients")
    m = next(b for b in blocks(http(c.tree()), "map") if b["args"][1].startswith("$ingc_canary_"))
    assert directives(m["block"], "default") == [["default-new-80"]]


def test_load_balance_lua_algorithm_is_unsupported() -> None:
    c = build(ing("x", annotations=a(load_balance="ewma")))
    assert c.status("load-balance") == "unsupported"
    assert "A102" in c.codes


def test_service_upstream_uses_cluster_ip() -> None:
    docs = svc("cip")
    docs[0]["spec"]["clusterIP"] = "10.96.1.1"
    c = build(*docs, ing("x", paths=(("/", "cip"),), annotations=a(service_upstream="true")))
    up = next(s for s in http(c.tree()) if s["directive"] == "upstream" and s["args"] == ["default-cip-80"])
    assert directives(up["block"], "server") == [["10.96.1.1:80"]]


def test_modsecurity_switched_on_denies() -> None:
    c = build(ing("waf", annotations=a(enable_modsecurity="true")))
    assert "A103" in c.codes and not c.errors
    assert directives(c.location("a.test", "/"), "return") == [["503"]]
    off = build(ing("waf", annotations=a(enable_modsecurity="false")))
    assert "A102" in off.codes
    assert directives(off.location("a.test", "/"), "proxy_pass")


def test_server_snippet_location_is_verified() -> None:
    c = build(ing("s", annotations=a(server_snippet='location = /ping { return 200 "pong"; }')),
              allow_snippet_annotations=True, risk_level=4)
    assert not c.errors, c.errors
    assert directives(location(c.tree(), "a.test", "/ping"), "return") == [["200", "pong"]]


def test_host_default_location_gets_the_annotations() -> None:
    c = build(ing("x", paths=(("/api", "web"),), annotations=a(whitelist_source_range="10.0.0.0/8")))
    assert directives(c.location("a.test", "/"), "deny") == [["all"]]  # ingress-nginx: the host's default / too


def test_denied_ingress_location_is_only_a_503() -> None:
    c = build(ing("x", annotations=a(custom_headers="missing", enable_cors="true", limit_rps="3")))
    loc = c.location("a.test", "/")
    assert directives(loc, "return") == [["503"]]
    assert not directives(loc, "limit_req") and not directives(loc, "proxy_pass")
    assert not [s for s in server(c.tree(), "a.test") if s["directive"] == "if"]
