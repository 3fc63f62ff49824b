"""Bad input through ``ingc build``: every kind of broken file gives its code at the right line and column
and the right exit code, and nothing is written when the build fails.

Each case writes its files into a fresh directory, runs the CLI from there (so findings name the files
as given) and compares the finding lines, not just codes.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ingc import load
from ingc.cli import main
from ingc.diagnostics import Diagnostics

SERVICE = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata:
      name: web
      namespace: shop
    spec:
      clusterIP: 10.96.0.10
      ports:
        - port: 80
    """)

INGRESS = textwrap.dedent("""\
    apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata:
      name: web
      namespace: shop
    spec:
      rules:
        - host: shop.example.com
          http:
            paths:
              - path: /
                pathType: Prefix
                backend:
                  service:
                    name: web
                    port:
                      number: 80
    """)


@dataclass
class Case:
    files: dict[str, bytes | str]
    exit_code: int
    findings: list[str]  # the finding lines that must appear (exact), in output order
    args: list[str] = field(default_factory=list)
    only: bool = False  # the findings above are all the findings


def _b(s: str) -> bytes:
    return s.encode()


CASES = {
    "malformed-yaml": Case(
        {"bad.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a: b\n"}, 1,
        ["bad.yaml:4:10: error[L004]: malformed YAML: mapping values are not allowed in this context"], only=True),
    "malformed-flow": Case(
        {"bad.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: [x\nspec: {}\n"}, 1,
        ["bad.yaml:6:5: error[L004]: malformed YAML: did not find expected ',' or ']'"], only=True),
    "tab-indentation": Case(
        {"bad.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n"}, 1,
        ["bad.yaml:4:1: error[L004]: malformed YAML: found character that cannot start any token"], only=True),
    "malformed-second-file": Case(
        {"a.yaml": SERVICE, "b.yaml": INGRESS.replace("host: shop.example.com", "host: shop.example.com: 80")}, 1,
        ["b.yaml:8:29: error[L004]: malformed YAML: mapping values are not allowed in this context"], only=True),
    "wrong-type": Case(
        {"svc.yaml": SERVICE.replace("port: 80", "port: eighty")}, 1,
        ['svc.yaml:9:13: error[V110]: spec.ports[0].port: expected integer, got string "eighty" (Service shop/web)'],
        only=True),
    "wrong-type-map-for-list": Case(
        {"svc.yaml": SERVICE.replace("  ports:\n    - port: 80", "  ports:\n    port: 80")}, 1,
        ["svc.yaml:9:5: error[V110]: spec.ports: expected array, got object (Service shop/web)"], only=True),
    "unknown-field": Case(
        {"ing.yaml": INGRESS.replace("name: web\n                port", "servicName: web\n                port"),
         "svc.yaml": SERVICE}, 1,
        ['ing.yaml:15:17: error[V110]: missing required field "name" in spec.rules[0].http.paths[0].backend.service'
         " (Ingress shop/web)",
         'ing.yaml:15:17: error[V111]: unknown field "servicName" in spec.rules[0].http.paths[0].backend.service'
         " (Ingress shop/web)"], only=True),
    "missing-kind": Case(
        {"svc.yaml": SERVICE.replace("kind: Service\n", "")}, 1,
        ['svc.yaml:1:1: error[V101]: missing required field "kind" (shop/web)'], only=True),
    "missing-apiversion": Case(
        {"svc.yaml": SERVICE.replace("apiVersion: v1\n", "")}, 1,
        ['svc.yaml:1:1: error[V101]: missing required field "apiVersion" (Service shop/web)'], only=True),
    "unsupported-apiversion": Case(
        {"ing.yaml": INGRESS.replace("networking.k8s.io/v1", "networking.k8s.io/v2")}, 1,
        ['ing.yaml:1:13: error[V102]: apiVersion "networking.k8s.io/v2" is not supported for Ingress; use one of '
         "networking.k8s.io/v1, networking.k8s.io/v1beta1, extensions/v1beta1 (Ingress shop/web)"]),
    "duplicate-key": Case(
        {"svc.yaml": SERVICE.replace("  namespace: shop\n", "  namespace: shop\n  name: web2\n")}, 1,
        ["svc.yaml:6:3: error[L005]: duplicate key 'name'"], only=True),
    "duplicate-object-across-files": Case(
        {"a.yaml": SERVICE, "b.yaml": "# the same Service again\n" + SERVICE}, 1,
        ["b.yaml:5:9: error[V120]: duplicate object: Service shop/web is also defined at a.yaml:1:1 "
         "(Service shop/web)"], only=True),
    "duplicate-object-in-one-file": Case(
        {"a.yaml": SERVICE + "---\n" + SERVICE}, 1,
        ["a.yaml:14:9: error[V120]: duplicate object: Service shop/web is also defined at a.yaml:1:1 "
         "(Service shop/web)"], only=True),
    "duplicate-object-default-namespace": Case(
        {"a.yaml": SERVICE.replace("  namespace: shop\n", ""),
         "b.yaml": SERVICE.replace("namespace: shop", "namespace: default")}, 1,
        ["b.yaml:4:9: error[V120]: duplicate object: Service default/web is also defined at a.yaml:1:1 "
         "(Service default/web)"], only=True),
    "invalid-utf8": Case(
        {"svc.yaml": _b(SERVICE).replace(b"name: web", b"name: caf\xe9")}, 1,
        ["svc.yaml:4:12: error[L003]: invalid UTF-8 (byte 0xe9)"], only=True),
    "invalid-utf8-in-second-file": Case(
        {"a.yaml": SERVICE, "b.yaml": b"# \xff\xfe\n" + _b(INGRESS)}, 1,
        ["b.yaml:1:3: error[L003]: invalid UTF-8 (byte 0xff)"], only=True),
    "not-an-object": Case(
        {"a.yaml": "- just\n- a list\n"}, 3,
        ["a.yaml:1:1: warning[L006]: document is a list, not a Kubernetes object; skipped"], only=True),
    "list-item-not-an-object": Case(
        {"a.yaml": "apiVersion: v1\nkind: List\nitems:\n  - 42\n"}, 1,
        ["a.yaml:4:5: error[L006]: list item is not an object"], only=True),
    "kind-case": Case(
        {"a.yaml": INGRESS.replace("kind: Ingress", "kind: ingress")}, 3,
        ['a.yaml:2:7: warning[V001]: skipped: kind ingress is not read by ingc (did you mean "Ingress"? kinds are '
         "case-sensitive) (ingress shop/web)"], only=True),
    "json-wrong-type": Case(
        {"svc.json": '{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"},\n'
                     ' "spec": {"ports": [{"port": "x"}]}}\n'}, 1,
        ['svc.json:2:30: error[V110]: spec.ports[0].port: expected integer, got string "x" (Service j)']),
    "go-template": Case(
        {"tpl.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Values.name }}\n"
                     "  labels:\n    {{- include \"labels\" . | nindent 4 }}\n"}, 3,
        ["tpl.yaml: info[L008]: skipped: looks like a Go template ({{ }} outside strings); render it first"],
        only=True),
    "go-template-next-to-manifests": Case(
        {"svc.yaml": SERVICE, "ing.yaml": INGRESS,
         "tpl.yaml": "apiVersion: v1\nkind: ConfigMap\ndata:\n  {{- range .Values.keys }}\n  x: y\n  {{- end }}\n"},
        0, ["tpl.yaml: info[L008]: skipped: looks like a Go template ({{ }} outside strings); render it first"]),
    "template-braces-in-strings-are-fine": Case(
        {"svc.yaml": SERVICE.replace("namespace: shop\n", "namespace: shop\n  annotations:\n"
                                     "    note: \"{{ not a template }}\"\n"), "ing.yaml": INGRESS}, 0, []),
    "helm-values": Case(
        {"values.yaml": "replicaCount: 2\nimage:\n  repository: web\n  tag: v1\n"}, 3,
        ["values.yaml:1:1: info[L007]: skipped: document has no apiVersion or kind (not a Kubernetes manifest)"],
        only=True),
    "helm-values-next-to-manifests": Case(
        {"svc.yaml": SERVICE, "ing.yaml": INGRESS, "values.yaml": "ingress:\n  enabled: true\n"}, 0,
        ["values.yaml:1:1: info[L007]: skipped: document has no apiVersion or kind (not a Kubernetes manifest)"]),
    "ci-workflow": Case(
        {"ci.yml": "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"}, 3,
        ["ci.yml:1:1: info[L007]: skipped: document has no apiVersion or kind (not a Kubernetes manifest)"],
        only=True),
    "empty-file": Case({"empty.yaml": ""}, 3, [], only=True),
    "whitespace-and-separators": Case({"empty.yaml": "\n# comment\n---\n...\n---\n"}, 3, [], only=True),
    "error-plus-valid-documents": Case(
        {"all.yaml": INGRESS + "---\n" + SERVICE.replace("port: 80", "port: -1")}, 1,
        ["all.yaml:27:13: error[V110]: spec.ports[0].port: must be between 1 and 65535, got -1 (Service shop/web)"]),
}


def _run(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str], Path]:
    work = tmp_path / "in"
    work.mkdir()
    for name, content in case.files.items():
        (work / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    monkeypatch.chdir(work)
    out = tmp_path / "bundle"
    res = CliRunner().invoke(main, ["build", *sorted(case.files), "-o", str(out), "--color", "never", *case.args],
                             prog_name="ingc")
    assert res.stdout == ""
    findings = [line for line in res.stderr.splitlines() if not line.startswith("ingc: ")]
    return res.exit_code, findings, out


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    code, findings, out = _run(case, tmp_path, monkeypatch)
    if case.only:
        assert findings == case.findings
    else:
        missing = [f for f in case.findings if f not in findings]
        assert not missing, "\n".join(["missing:", *missing, "got:", *findings])
    assert code == case.exit_code, "\n".join(findings)
    assert (out / "nginx.conf").exists() == (case.exit_code == 0)


def test_schema_error_positions_point_into_the_document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every schema finding points at the exact node: here three errors in a three-document file."""
    text = (SERVICE.replace("port: 80", "port: eighty") + "---\n"
            + INGRESS.replace("pathType: Prefix", "pathType: Regex") + "---\n"
            + SERVICE.replace("name: web", "name: api").replace("clusterIP: 10.96.0.10", "clusterIP: [10]"))
    case = Case({"all.yaml": text}, 1, [])
    code, findings, _ = _run(case, tmp_path, monkeypatch)
    assert code == 1
    positions = [f.split(": ", 1)[0] for f in findings if "[V110]" in f]
    assert positions == ["all.yaml:9:13", "all.yaml:22:23", "all.yaml:35:14"], findings


def test_unreadable_file_in_a_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the walk finds but cannot read (a broken symlink, or mode 000 when not root) is an error."""
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "ing.yaml").write_text(INGRESS, encoding="utf-8")
    (d / "svc.yaml").write_text(SERVICE, encoding="utf-8")
    os.symlink(tmp_path / "gone" / "target.yaml", d / "x.yaml")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bundle"
    res = CliRunner().invoke(main, ["build", "manifests", "-o", str(out)], prog_name="ingc")
    assert res.exit_code == 1
    assert "manifests/x.yaml: error[L002]: cannot read file: No such file or directory" in res.stderr.splitlines()
    assert not out.exists()


def test_only_unreadable_inputs_exit_1_not_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    os.symlink(tmp_path / "gone.yaml", d / "x.yaml")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["build", "manifests", "-o", str(tmp_path / "bundle")], prog_name="ingc")
    assert res.exit_code == 1
    assert "error[L002]" in res.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "secret.yaml"
    f.write_text(SERVICE, encoding="utf-8")
    f.chmod(0)
    try:
        monkeypatch.chdir(tmp_path)
        res = CliRunner().invoke(main, ["build", "secret.yaml", "-o", str(tmp_path / "bundle")], prog_name="ingc")
    finally:
        f.chmod(0o600)
    assert res.exit_code == 1
    assert "secret.yaml: error[L002]: cannot read file: Permission denied" in res.stderr.splitlines()


def test_directory_named_like_a_manifest_is_walked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory called x.yaml is a directory: walked, never read as a file."""
    d = tmp_path / "x.yaml"
    d.mkdir()
    (d / "svc.yaml").write_text(SERVICE, encoding="utf-8")
    (d / "ing.yaml").write_text(INGRESS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, ["build", "x.yaml", "-o", str(tmp_path / "bundle")], prog_name="ingc")
    assert res.exit_code == 0, res.stderr


def test_empty_stdin(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["build", "-", "-o", str(tmp_path / "bundle")], input="", prog_name="ingc")
    assert res.exit_code == 3


def test_malformed_stdin_uses_stdin_filename(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["build", "-", "-o", str(tmp_path / "bundle"), "--stdin-filename", "helm.yaml"],
                             input="apiVersion: v1\nkind: Service\nmetadata:\n  name: a: b\n", prog_name="ingc")
    assert res.exit_code == 1
    assert res.stderr.splitlines()[0] == (
        "helm.yaml:4:10: error[L004]: malformed YAML: mapping values are not allowed in this context")


# ---------------------------------------------------------------------------------------------- the C loader


def test_the_c_loader_is_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml's C parser does the loading: the loader class is a CSafeLoader subclass, and the load pass
    really instantiates it (a spy subclass counts the instances)."""
    assert yaml.__with_libyaml__
    assert issubclass(load._Loader, yaml.CSafeLoader)
    assert yaml._yaml.CParser in load._Loader.__mro__  # libyaml's parser, from the C extension
    assert not issubclass(load._Loader, yaml.reader.Reader)  # the pure-Python reader is not in the chain

    made: list[object] = []

    class Spy(load._Loader):
        def __init__(self, stream: str) -> None:
            made.append(self)
            super().__init__(stream)

    monkeypatch.setattr(load, "_Loader", Spy)
    f = tmp_path / "all.yaml"
    f.write_text(SERVICE + "---\n" + INGRESS, encoding="utf-8")
    docs, read = load.load_documents([str(f)], Diagnostics())
    assert read == 1
    assert [d.kind for d in docs] == ["Service", "Ingress"]
    assert len(made) == 1
    assert all(isinstance(m, yaml.CSafeLoader) for m in made)
