"""Issue 6, no injection: every field class that reaches nginx.conf, fed hostile strings.

Each value is either refused (exit 1, nothing written, an error at the value's file:line:col) or compiled
into exactly the nginx.conf structure of a baseline build (see tests/security/fields.py ``check``).  The
annotation keys are read from ``ingc.annotations.HANDLERS`` at test time and the ConfigMap keys from
``ingc.settings``, so keys added later are fuzzed too.  Traffic checks (the literal value reaches the
backend or the client) are in test_security_traffic.py; the long campaign is benchmarks/security_campaign.py.
"""

from __future__ import annotations

import os
import re
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security import tree
from tests.security.corpus import (
    CVE_ANNOTATIONS,
    CVE_HEADER_CONFIGMAP,
    CVE_PATHS,
    EXPLICIT,
    hostile,
)
from tests.security.fields import (
    RISK_ALL,
    annotation_keys,
    check,
    configmap_classes,
    field_classes,
    make_all_annotations,
    settings_keys,
)
from tests.security.manifests import (
    CONFIGMAP_ARGS,
    PREFIX,
    base_docs,
    compile_docs,
    configmap,
    emit,
    run_cli,
)


def budget(n: int) -> settings:
    """CI-bounded hypothesis settings (the campaign script runs the same checks with far more examples)."""
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# Payloads every annotation key and ConfigMap key gets (the full EXPLICIT list goes to the other fields).
KILLERS = ['"; } location /pwn { return 200 pwned; } #', "x\\", "x\ny", "$http_authorization", "x\u2028y\ty\x85",
           "#x;", "x\\'; } #", "${x", "a" * 5000 + '"']


# --------------------------------------------------------------------------- property tests


@pytest.mark.parametrize("fc", field_classes(), ids=lambda fc: fc.id)
@budget(12)
@given(data=st.data())
def test_hostile_value_in_field_is_refused_or_inert(fc, data) -> None:  # type: ignore[no-untyped-def]
    value = data.draw(hostile(fc.prefix), label="value")
    check(fc.make(value))


@budget(250)
@given(data=st.data())
def test_hostile_annotation_value_is_refused_or_inert(data) -> None:  # type: ignore[no-untyped-def]
    from tests.security.fields import _annotation

    key = data.draw(st.sampled_from(annotation_keys()), label="key")
    value = data.draw(hostile(), label="value")
    check(_annotation(key, companions=data.draw(st.booleans(), label="companions"))(value))


@budget(15)
@given(data=st.data())
def test_every_annotation_hostile_at_once(data) -> None:  # type: ignore[no-untyped-def]
    keys = data.draw(st.lists(st.sampled_from(annotation_keys()), min_size=2, max_size=12, unique=True), label="keys")
    values = {k: data.draw(hostile(), label=k) for k in keys}
    check(make_all_annotations(values))


@budget(60)
@given(data=st.data())
def test_hostile_configmap_value_is_refused_or_inert(data) -> None:  # type: ignore[no-untyped-def]
    from tests.security.fields import _configmap

    key = data.draw(st.sampled_from([k for k in settings_keys() if f"configmap:{k}" not in KNOWN_ISSUES]),
                    label="key")
    check(_configmap(key)(data.draw(hostile(), label="value")))


# --------------------------------------------------------------------------- explicit corpus


@pytest.mark.parametrize("value", EXPLICIT, ids=lambda v: repr(v[:24]))
@pytest.mark.parametrize("fc", field_classes(), ids=lambda fc: fc.id)
def test_explicit_payload_in_field(fc, value: str) -> None:  # type: ignore[no-untyped-def]
    check(fc.make(fc.prefix + value))


@pytest.mark.parametrize("key", annotation_keys())
def test_explicit_payloads_in_every_annotation(key: str) -> None:
    from tests.security.fields import _annotation, handler_keys, known_values

    group = next((g for g in handler_keys().values() if key in g), [key])
    has_companions = any(known_values().get(k) for k in group if k != key)
    failures = []
    for companions in (False, True) if has_companions else (False,):
        for value in KILLERS[:5]:
            try:
                check(_annotation(key, companions)(value))
            except AssertionError as exc:
                failures.append(f"{value[:40]!r} companions={companions}: {str(exc)[:600]}")
    assert not failures, "\n".join(failures)


# Known problems owned by other work in progress (strict: the mark must go when they are fixed).
KNOWN_ISSUES: dict[str, str] = {}


def _known(fc):  # type: ignore[no-untyped-def]
    reason = KNOWN_ISSUES.get(fc.id)
    return pytest.param(fc, marks=pytest.mark.xfail(strict=True, reason=reason), id=fc.id) if reason else \
        pytest.param(fc, id=fc.id)


@pytest.mark.parametrize("fc", [_known(fc) for fc in configmap_classes()])
def test_explicit_payloads_in_every_configmap_key(fc) -> None:  # type: ignore[no-untyped-def]
    failures = []
    for value in KILLERS[:5] + ["x\x00y"]:
        try:
            check(fc.make(value))
        except AssertionError as exc:
            failures.append(f"{value[:40]!r}: {str(exc)[:600]}")
    assert not failures, "\n".join(failures)


# Inputs that make a backtracking regex explode (exponential in the repeated part: 40 repeats is forever).
BACKTRACKERS = [r * 40 + tail for r in ("a", "a,", "a ", "1", "a.", "a:1", "a-", "aA", "a_", "*.", "x://", "/", "a/",
                                        "@STRENGTH", "a=b&", "$a") for tail in ("!", '"')]


@pytest.mark.parametrize("value", BACKTRACKERS, ids=lambda v: repr(v[:6] + v[-1]))
def test_validators_run_in_linear_time(value: str) -> None:
    # ingress-nginx's validators use Go's RE2 (linear); copied into Python's backtracking re, nested
    # quantifiers like ([A-Za-z]+,?\s?)+ take exponential time on "aaaa...!" - an Ingress author could hang
    # the compiler.  Every key's validator runs (all keys in one Ingress, all keys in one ConfigMap); run_cli
    # turns a build stuck for HANG_SECONDS into a failure.
    keys = [k for k in annotation_keys() if not k.endswith("-snippet")]  # a snippet rejects before parsing
    compile_docs(base_docs(annotations={PREFIX + k: value for k in keys}), RISK_ALL)
    compile_docs([*base_docs(), configmap({k: value for k in settings_keys()})], CONFIGMAP_ARGS)


# --------------------------------------------------------------------------- the ingress-nginx CVE payloads


def _build_dir(docs, args=()):  # type: ignore[no-untyped-def]
    """Build into a fresh -o DIR; returns (exit code, stderr, DIR exists, nginx.conf text or "")."""
    text, lines = emit(docs)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.yaml")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(text)
        out = os.path.join(tmp, "out")
        code, stdout, stderr = run_cli(["build", src, "-o", out, "--color", "never", *args])
        conf = ""
        if os.path.exists(os.path.join(out, "nginx.conf")):
            with open(os.path.join(out, "nginx.conf"), encoding="utf-8") as fh:
                conf = fh.read()
        return code, stderr.replace(src, "in.yaml"), os.path.exists(out), conf, lines


def _assert_refused_or_inert(docs, args, value_path, baseline, also_docs=()):  # type: ignore[no-untyped-def]
    """Refused with an error at the value (or inside one of the documents ``also_docs``), or inert."""
    code, err, exists, conf, lines = _build_dir(docs, args)
    assert code in (0, 1), err
    assert "internal error" not in err and "Traceback" not in err, err
    if code == 1:
        assert not exists, "refused, yet the bundle directory was created"
        want = {lines[value_path]} | {n for (d, _), n in lines.items() if d in also_docs}
        got = {int(m) for m in re.findall(r"^in\.yaml:(\d+):\d+: error\[", err, re.M)}
        assert got & want, f"no error at in.yaml lines {sorted(want)}:\n{err}"
        return "refused"
    assert not tree.forbidden_in(conf)
    assert "pwned" not in tree.directives(conf)
    base = compile_docs(baseline, args)
    assert base.exit_code == 0, base.stderr
    assert tree.shape_of(conf) == tree.shape_of(base.stdout), "structure differs from the baseline"
    return "inert"


@pytest.mark.parametrize("cve,key,value", CVE_ANNOTATIONS, ids=[c[0] for c in CVE_ANNOTATIONS])
@pytest.mark.parametrize("risk", ["default", "Critical"])
def test_ingress_nginx_cve_annotation_payloads(cve: str, key: str, value: str, risk: str) -> None:
    args = RISK_ALL if risk == "Critical" else ()
    docs = [*base_docs(annotations={PREFIX + key: value}),
            configmap(CVE_HEADER_CONFIGMAP, name="headers", namespace="shop")]
    baseline = [*base_docs(), configmap({"X-Ok": "v"}, name="headers", namespace="shop")]
    _assert_refused_or_inert(docs, args, (0, ("metadata", "annotations", PREFIX + key)), baseline, also_docs=(3,))


@pytest.mark.parametrize("key", ["configuration-snippet", "server-snippet", "auth-snippet", "stream-snippet",
                                 "modsecurity-snippet"])
def test_snippets_are_refused_unless_explicitly_allowed(key: str) -> None:
    docs = base_docs(annotations={PREFIX + key: "return 200 pwned;"})
    code, err, exists, _, lines = _build_dir(docs, RISK_ALL)
    assert code == 1 and not exists
    assert f"in.yaml:{lines[(0, ('metadata', 'annotations', PREFIX + key))]}:" in err
    assert "error[A104]" in err or "error[A105]" in err, err


@pytest.mark.parametrize("cve,path,path_type", CVE_PATHS, ids=[c[0] for c in CVE_PATHS])
def test_ingress_nginx_cve_path_payloads(cve: str, path: str, path_type: str) -> None:
    from tests.security.corpus import benign

    docs = base_docs(path=path, path_type=path_type)
    outcome = _assert_refused_or_inert(docs, (), (0, ("spec", "rules", 0, "http", "paths", 0, "path")),
                                       base_docs(path=benign(path), path_type=path_type))
    if any(w in path for w in ("alias", "root ", "/etc/", "_by_lua", "\n", "\r", "\x00", "\u2028")):
        assert outcome == "refused", f"{path!r} must be refused (deep inspection / control characters)"


def test_cve_2025_15566_header_configmap_values() -> None:
    # auth-proxy-set-headers and custom-headers read header names and values from a ConfigMap: a value or a
    # name carrying configuration must be refused or quoted, never spliced.
    for key in ("custom-headers", "auth-proxy-set-headers"):
        ann = {PREFIX + key: "shop/headers"}
        if key == "auth-proxy-set-headers":
            ann[PREFIX + "auth-url"] = "http://auth.example.com/check"
        for hname, hvalue in CVE_HEADER_CONFIGMAP.items():
            if hname == "X-Ok":
                continue
            docs = [*base_docs(annotations=ann), configmap({"X-Ok": "v", hname: hvalue}, name="headers",
                                                           namespace="shop")]
            o = compile_docs(docs, RISK_ALL)
            assert o.exit_code in (0, 1), o.stderr
            assert "internal error" not in o.stderr
            if o.exit_code == 0:
                assert not tree.forbidden_in(o.stdout)
                # Same number of headers, harmless; or refused the same way (a control character: denied).
                shapes = set()
                for other in ("v", "\r"):
                    base = compile_docs([*base_docs(annotations=ann), configmap(
                        {"X-Ok": "v", "X-Other": other}, name="headers", namespace="shop")], RISK_ALL)
                    assert base.exit_code == 0, base.stderr
                    shapes.add(tree.shape_of(base.stdout))
                assert tree.shape_of(o.stdout) in shapes, (key, hname, hvalue)
            else:
                assert o.stdout == ""
                assert o.errors(), o.stderr


def test_refusal_points_at_the_value_and_writes_nothing() -> None:
    # One worked example of the refusal contract, readable as documentation.
    docs = base_docs(path="/x\n}\nlocation /pwn { return 200 pwned; }\n#", path_type="ImplementationSpecific")
    code, err, exists, conf, lines = _build_dir(docs)
    assert code == 1 and not exists and conf == ""
    line = lines[(0, ("spec", "rules", 0, "http", "paths", 0, "path"))]
    assert f"in.yaml:{line}:" in err and "error[V141]" in err and "control character" in err


def test_configmap_refusal_has_a_position() -> None:
    o = compile_docs([*base_docs(), configmap({"proxy-body-size": '1m"; } location /pwn {'})], CONFIGMAP_ARGS)
    assert o.exit_code == 1
    assert o.error_at(3, "data", "proxy-body-size"), o.stderr


# --------------------------------------------------------------------------- diagnostics cannot forge CI output

FORGE = "x\n::error file=a,line=1::forged\r\n%0A::add-mask::y\u2028z\x1b[31m"


@pytest.mark.parametrize("fmt", ["github", "json", "sarif", "text"])
def test_hostile_values_cannot_forge_diagnostic_lines(fmt: str) -> None:
    # Findings quote input values; in CI their lines become workflow commands (GitHub) or are parsed (JSON,
    # SARIF).  A value must not start a line of its own, nor break the document.
    keys = [k for k in annotation_keys() if not k.endswith("-snippet")]
    docs = base_docs(annotations={PREFIX + k: FORGE for k in keys}, path="/p" + FORGE,
                     path_type="ImplementationSpecific")
    docs[0]["metadata"]["annotations"][PREFIX + "unknown" + FORGE] = FORGE
    docs[1]["spec"]["ports"][0]["name"] = FORGE
    o = compile_docs(docs, (*RISK_ALL, "-f", fmt))
    assert o.exit_code == 1 and "internal error" not in o.stderr
    assert "\x1b" not in o.stderr
    if fmt == "github":
        lines = [ln for ln in o.stderr.splitlines() if ln]
        assert lines and all(ln.startswith("::") for ln in lines), [ln for ln in lines if not ln.startswith("::")]
        assert "::error file=a,line=1::forged" not in o.stderr.replace("%0A", "\n").splitlines()
    elif fmt in ("json", "sarif"):
        import json

        json.loads(o.stderr)
    else:
        for ln in o.stderr.splitlines():
            assert re.match(r"^(\S.*?: )?(error|warning|info)\[[A-Z]\d{3}\]|^ingc: ", ln), ln


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_hostile_file_names_kinds_and_keys_cannot_forge_lines(fmt: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # In GitOps the file names, kinds, apiVersions and annotation keys are written by the pull request too.
    d = tmp_path / "repo"
    d.mkdir()
    docs = base_docs(annotations={PREFIX + "unknown-key" + FORGE: "v", "x" + FORGE: "v"}, path="/p" + FORGE,
                     path_type="ImplementationSpecific")
    docs.append({"apiVersion": "v1" + FORGE, "kind": "Service", "metadata": {"name": "x"}})
    docs.append({"apiVersion": "v1", "kind": "Thing" + FORGE, "metadata": {"name": "x"}})
    (d / ("a" + FORGE.replace("/", "_") + ".yaml")).write_text(emit(docs)[0])
    report = tmp_path / "report.json"
    code, out, err = run_cli(["build", str(d), "-o", "-", "-f", fmt, "--annotation-report",
                              "--annotation-report-json", str(report), "--color", "never"])
    assert code == 1 and "internal error" not in err
    assert "\x1b" not in err and "\u2028" not in err
    for ln in err.splitlines():
        if ln.startswith(("INGRESS ", "shop/web ")):  # the --annotation-report table
            continue
        if fmt == "github":
            assert ln.startswith("::"), ln
        else:
            assert re.match(r"^(\S.*?: )?(error|warning|info)\[[A-Z]\d{3}\]|^ingc: ", ln), ln


@pytest.mark.parametrize("fmt", ["text", "tap", "github", "junit", "json", "sarif"])
def test_check_reports_cannot_be_forged_by_file_names(fmt: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    help_code, help_text, _ = run_cli(["check", "--help"])
    if help_code != 0:
        pytest.skip("no ingc check")
    d = tmp_path / "repo"
    d.mkdir()
    docs = base_docs(path="/p" + FORGE, path_type="ImplementationSpecific")
    docs.append({"apiVersion": "v1", "kind": "Thing" + FORGE, "metadata": {"name": "x"}})
    (d / ("a" + FORGE.replace("/", "_") + ".yaml")).write_text(emit(docs)[0])
    code, out, err = run_cli(["check", str(d), "-f", fmt, "--no-config", "--color", "never"])
    assert code == 1 and "internal error" not in err, err
    text = out + err
    assert "\x1b" not in text and "\u2028" not in text
    if fmt == "json" or fmt == "sarif":
        import json

        json.loads(out)
    elif fmt == "junit":
        import xml.etree.ElementTree as ET

        ET.fromstring(out)
    else:
        for ln in text.splitlines():
            assert not ln.startswith("::error file=a,line=1::forged"), ln
            assert not ln.startswith("%0A::add-mask"), ln
