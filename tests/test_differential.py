"""Differential proof: ``ingc explain`` predicts what real nginx does.

hypothesis generates Ingress sets (wildcard hosts, overlapping Exact/Prefix/ImplementationSpecific and
regex paths, rewrites, use-regex, default backends, TLS, ssl-redirect switches, and aliases, redirects and
canaries when the annotation registry has them) and requests (scheme, host case and trailing dot, paths
with case changes, trailing slashes, doubled slashes, queries).  Each example is built with
``ingc build``, served by ONE real nginx with one echo backend per Service, and every request's status,
backend, Location header and backend URI must equal explain's prediction.  The CI run is bounded
(derandomized, a fixed number of examples); ``benchmarks/differential_campaign.py`` runs large campaigns.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests.support.build import ingress, rule
from tests.support.explainrig import Req, Rig, Scenario, has, scenarios

pytestmark = pytest.mark.nginx

EXAMPLES = 30


def p(path: str, svc: str, ptype: str = "Prefix") -> dict[str, object]:
    return {"path": path, "pathType": ptype, "backend": {"service": {"name": svc, "port": {"number": 80}}}}


# Cases that once disagreed or that random generation reaches rarely; hypothesis runs them first.
AUTO_301 = Scenario(
    [ingress("i", rules=[rule("a.test", p("/foo/", "svc-a"), p("/bar/", "svc-b", "Exact"), p("/baz", "svc-c"))])],
    [Req("http", "a.test", "/foo"), Req("http", "a.test", "/foo?x=1"), Req("http", "a.test", "/bar"),
     Req("http", "a.test", "/bar/"), Req("http", "a.test", "/baz"), Req("http", "a.test", "/baz/"),
     Req("http", "a.test", "/bazz"), Req("https", "A.TEST", "/foo")])
TLS_REWRITE = Scenario(
    [ingress("r", rules=[rule("*.w.test", p("/foo(/|$)(.*)", "svc-a", "ImplementationSpecific"),
                              p("/bar", "svc-b", "Exact"))],
             annotations={"rewrite-target": "/$2"}, tls=[(["*.w.test"], "tls-all")]),
     ingress("s", rules=[rule("x.w.test", p("/", "svc-c"))], created="2024-01-02T00:00:00Z")],
    [Req("http", "q.w.test", "/foo/"), Req("https", "q.w.test", "/FOO/a/b?z=1"), Req("https", "q.w.test", "/foo"),
     Req("https", "q.w.test", "/barx"), Req("https", "a.b.w.test", "/foo/x"), Req("https", "x.w.test", "/foo/x"),
     Req("http", "Q.W.TEST.", "/bar/"), Req("https", "q.w.test", "//foo//x")])
DEFAULTS = Scenario(
    [ingress("d", default_backend=("svc-b", 80)),
     ingress("e", rules=[rule("b.test", p("/x", "svc-ghost"))], default_backend=("svc-c", 80),
             annotations={"force-ssl-redirect": "true", "preserve-trailing-slash": "true"})],
    [Req("http", "other.test", "/a/"), Req("http", "b.test", "/x/"), Req("https", "b.test", "/x"),
     Req("https", "b.test", "/y/"), Req("http", "b.test", "/"), Req("https", "b.test", "/healthz")])

# Disagreement found by the campaign (fixed in explain): a rewrite whose result equals the request's
# own URI still makes nginx send the normalised, re-escaped $uri ("/%2F" arrives as "/").
REWRITE_SAME_URI = Scenario(
    [ingress("r", rules=[rule(None, p("/", "svc-a"))], annotations={"rewrite-target": "/$2"})],
    [Req("http", "a.b.w.test.:80", "/%2F"), Req("http", "other.test", "/x//y?"),
     Req("http", "other.test", "/__status/503")])


@pytest.fixture(scope="module")
def rig(nginx_bin: str) -> Iterator[Rig]:
    with Rig(nginx_bin) as r:
        yield r


def check(rig: Rig, sc: Scenario) -> None:
    verdicts = rig.run(sc)
    if verdicts is None:  # ingc refused the manifests (an error finding): nothing to compare
        return
    bad = [v for v in verdicts if not v.ok]
    if bad:
        from ingc.explain import text

        detail = "".join(v.report() + text(v.explanation) for v in bad)
        pytest.fail(f"explain disagrees with nginx on {len(bad)} of {len(verdicts)} requests\n"
                    f"{sc.describe()}\n{detail}", pytrace=False)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(sc=scenarios())
@example(sc=AUTO_301)
@example(sc=TLS_REWRITE)
@example(sc=DEFAULTS)
@example(sc=REWRITE_SAME_URI)
def test_explain_predicts_nginx(rig: Rig, sc: Scenario) -> None:
    check(rig, sc)


def test_fixed_cases_are_served(rig: Rig) -> None:
    """The hand-written cases really reach the interesting outcomes (so the differential is not vacuous)."""
    verdicts = rig.run(AUTO_301)
    assert verdicts is not None
    statuses = {(v.req.target, v.req.scheme): v.real.status for v in verdicts}
    assert statuses[("/foo", "http")] == 301
    assert statuses[("/bar", "http")] == 404
    assert statuses[("/baz/", "http")] == 200
    assert all(v.ok for v in verdicts)
    verdicts = rig.run(TLS_REWRITE)
    assert verdicts is not None
    assert {v.real.status for v in verdicts} >= {200, 308}
    assert any(v.real.uri == "/a/b?z=1" for v in verdicts)
    assert all(v.ok for v in verdicts)


def test_canary_by_header(rig: Rig) -> None:
    """A header-forced canary: explain follows the compiled maps to the same upstream nginx picks."""
    if not (has("canary") and has("canary-by-header")):
        pytest.skip("no canary annotations in the registry")
    sc = Scenario(
        [ingress("main", rules=[rule("a.test", p("/", "svc-a"), p("/x", "svc-c"))]),
         ingress("can", rules=[rule("a.test", p("/", "svc-b"))], created="2024-02-01T00:00:00Z",
                 annotations={"canary": "true", "canary-by-header": "X-Canary"})],
        [Req("http", "a.test", "/y", (("X-Canary", "always"),)), Req("http", "a.test", "/y", (("X-Canary", "never"),)),
         Req("http", "a.test", "/y"), Req("http", "a.test", "/x/1", (("X-Canary", "always"),))])
    verdicts = rig.run(sc)
    assert verdicts is not None
    assert [v.real.backend for v in verdicts] == ["svc-b", "svc-a", "svc-a", "svc-c"]
    assert all(v.ok for v in verdicts), "".join(v.report() for v in verdicts if not v.ok)
