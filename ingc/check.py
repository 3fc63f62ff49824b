"""`ingc check`: the compile pipeline plus the lint rules, a severity policy, suppression, per-resource
results in kubeconform's shape, and the reporters CI tools read.  Nothing here prints or exits.

Policy, in order (every step is documented in the README, section "Checking"):
1. the pipeline and the rules run and append findings;
2. findings that only restate another one are dropped (R344 next to R340-R343 for the same Ingress);
3. each code gets at least its default severity (``DEFAULT_SEVERITY``; check is stricter than build
   where a mistake is certain, e.g. a Service that exists but lacks the port);
4. unplaced references (R301 Service, R340 Secret not in the checked files) are warnings, errors with
   ``--require-references``;
5. ``.ingc.yaml`` severities, disabled rules and per-path overrides;
6. ``--strict``: every warning becomes an error;
7. ``ingc.dev/ignore: CODE[,CODE...]`` on an object suppresses its findings with those codes (they stay
   in json and sarif, marked suppressed, and count for nothing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingc import __version__
from ingc.codes import CODES
from ingc.config import Config
from ingc.diagnostics import Diagnostic, Diagnostics, ObjRef, Severity, visible
from ingc.lint import LintOptions, lint

if TYPE_CHECKING:
    from ingc.ir import NginxConfig, Origin
    from ingc.options import Options
    from ingc.pipeline import CompileResult
    from ingc.source import Document

FORMATS = ("text", "json", "junit", "github", "sarif", "tap")
IGNORE_ANNOTATION = "ingc.dev/ignore"
UNPLACED = ("R301", "R340")  # references to objects that are not in the checked files
E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO

# The severity `ingc check` reports each code at, at least (a pass may report some of them higher).
DEFAULT_SEVERITY: dict[str, Severity] = {
    "L001": E, "L002": E, "L003": E, "L004": E, "L005": E, "L006": W, "L007": N, "L008": N, "L010": E,
    "L011": E, "L012": E,
    "V001": N, "V101": E, "V102": E, "V110": E, "V111": E, "V120": E, "V125": E, "V130": W, "V131": E,
    "V140": E, "V141": E, "V142": E,
    "S100": W, "S101": E, "S102": N, "S103": E, "S104": E,
    "R100": N, "R101": N, "R102": W, "R120": N, "R301": W, "R302": E, "R303": W, "R304": W, "R305": W,
    "R306": N, "R307": N, "R310": N, "R311": W, "R312": W, "R320": W, "R321": E, "R330": W, "R340": W,
    "R341": E, "R342": E, "R343": E, "R344": W, "R345": E, "R346": E,
    "A100": W, "A101": W, "A102": W, "A103": E, "A104": E, "A105": E, "A106": W, "A107": W, "A110": W,
    "A111": E, "A112": E,
    "B100": W, "B101": E,
    "N100": E, "N101": E, "N102": E, "N103": E, "N104": E, "N200": E, "N201": W,
    "C101": W, "C201": W, "C202": E, "C203": W, "C204": W, "C301": E, "C302": W, "C303": W, "C401": W,
    "C402": W, "C501": E, "C502": W, "C600": W, "C901": W,
}
LEVELS = {"error": E, "warning": W, "info": N}

STATUS_VALID, STATUS_INVALID, STATUS_ERROR, STATUS_SKIPPED = "statusValid", "statusInvalid", "statusError", \
    "statusSkipped"
SCHEMA_CODES = ("V101", "V102", "V110", "V111")


@dataclass
class CheckOptions:
    strict: bool = False
    require_references: bool = False
    fail_on: str = "error"  # error | warning
    allow_empty: bool = False
    lint: LintOptions = field(default_factory=LintOptions)
    nginx: bool = False
    nginx_binary: str = ""
    config: Config = field(default_factory=Config)


@dataclass
class Resource:
    """One Kubernetes object (or, with ``doc`` None and status statusError, one file that could not be
    read or parsed) and its findings."""

    filename: str
    kind: str = ""
    name: str = ""
    namespace: str = ""
    version: str = ""
    doc: Document | None = None
    findings: list[Diagnostic] = field(default_factory=list)
    skipped: bool = False

    @property
    def active(self) -> list[Diagnostic]:
        return [d for d in self.findings if not d.suppressed]

    @property
    def status(self) -> str:
        errors = [d for d in self.active if d.severity == E]
        if self.doc is None or any(d.code.startswith("L") for d in errors):
            return STATUS_ERROR
        if errors:
            return STATUS_INVALID
        return STATUS_SKIPPED if self.skipped else STATUS_VALID

    @property
    def msg(self) -> str:
        if self.status in (STATUS_ERROR, STATUS_INVALID):
            return "; ".join(d.message for d in sorted(self.active, key=Diagnostic.sort_key) if d.severity == E)
        if self.status == STATUS_SKIPPED:
            return next((d.message for d in self.findings if d.code in ("V001", "R100")), "skipped")
        return ""

    @property
    def label(self) -> str:
        if not self.kind:
            return self.filename
        who = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {who}".rstrip()


@dataclass
class CheckReport:
    resources: list[Resource]
    general: list[Diagnostic]  # findings about no object (options, files without documents, ...)
    files: int
    diags: Diagnostics
    unreadable: bool = False  # nothing could be read and something failed: never exit 0

    @property
    def checked(self) -> list[Resource]:
        """Resources of a kind ingc reads, and files that failed to load."""
        return [r for r in self.resources if not (r.skipped and r.status == STATUS_SKIPPED)]

    @property
    def nothing(self) -> bool:
        return not self.checked and not any(d.severity == E for d in self.general if not d.suppressed)

    def counts(self) -> dict[str, int]:
        statuses = [r.status for r in self.resources]
        return {
            "resources": len(self.resources), "files": self.files,
            "valid": statuses.count(STATUS_VALID), "invalid": statuses.count(STATUS_INVALID),
            "errors": statuses.count(STATUS_ERROR), "skipped": statuses.count(STATUS_SKIPPED),
            "suppressed": sum(1 for d in self.diags.items if d.suppressed),
        }

    def summary_line(self) -> str:
        c = self.counts()
        res = "resource" if c["resources"] == 1 else "resources"
        files = "file" if c["files"] == 1 else "files"
        return (f"Summary: {c['resources']} {res} found in {c['files']} {files} - Valid: {c['valid']}, "
                f"Invalid: {c['invalid']}, Errors: {c['errors']}, Skipped: {c['skipped']}")

    def active(self) -> list[Diagnostic]:
        return self.diags.sorted()

    def exit_code(self, copts: CheckOptions) -> int:
        if self.unreadable:
            return 3
        if self.nothing:
            return 0 if copts.allow_empty else 3
        if self.diags.has_errors:
            return 1
        if copts.fail_on == "warning" and self.diags.count(W):
            return 1
        return 0


# --- running -------------------------------------------------------------------------------------


def run_check(paths: Sequence[str], opts: Options, copts: CheckOptions) -> CheckReport:
    """Compile (writing nothing), lint, optionally run nginx -t, apply the policy; raises
    ``ingc.load.NothingToRead`` when stdin is a terminal."""
    from ingc.pipeline import compile_sources

    diags = Diagnostics()
    result = compile_sources(list(paths) or ["-"], opts, diags)
    lint(result, opts, copts.lint, diags)
    if copts.nginx:
        nginx_test(result, copts.nginx_binary, diags)
    apply_policy(diags, copts)
    report = attribute(result, diags, opts)
    suppress(report, diags)
    return report


def apply_policy(diags: Diagnostics, copts: CheckOptions) -> None:
    tls_problems = {d.obj for d in diags.items if d.code in ("R340", "R341", "R342", "R343")}
    kept: list[Diagnostic] = []
    for d in diags.items:
        if d.code == "R344" and d.obj in tls_problems:
            continue  # "falls back to the default certificate" restates R340-R343
        floor = DEFAULT_SEVERITY.get(d.code)
        if floor is not None and d.severity < floor:
            d.severity = floor
        if d.code in UNPLACED and copts.require_references:
            d.severity = E
        sp = d.span if copts.config.overrides else None
        level = copts.config.level_for(d.code, sp.file if sp else None)
        if level == "off":
            continue
        if level is not None:
            d.severity = LEVELS[level]
        if copts.strict and d.severity == W:
            d.severity = E
        kept.append(d)
    diags.items[:] = kept


def _doc_is_resource(doc: Document) -> bool:
    return bool(doc.data) and ("kind" in doc.data or "apiVersion" in doc.data)


def attribute(result: CompileResult, diags: Diagnostics, opts: Options) -> CheckReport:
    """One Resource per document (and per file that failed to load), each with its findings."""
    by_doc: dict[int, Resource] = {}
    by_ref: dict[ObjRef, Resource] = {}
    valid_ids = {id(doc) for doc in result.documents}

    def resource(doc: Document) -> Resource:
        r = by_doc.get(id(doc))
        if r is None:
            r = Resource(doc.source.name, doc.kind, doc.name, doc.namespace, doc.api_version, doc,
                         skipped=False)
            by_doc[id(doc)] = r
            by_ref.setdefault(ObjRef(doc.kind, doc.namespace or opts.namespace, doc.name), r)
            by_ref.setdefault(ObjRef(doc.kind, doc.namespace, doc.name), r)
        return r

    for doc in result.documents:
        resource(doc)
    for d in diags.items:
        if d.loc is not None and _doc_is_resource(d.loc.doc):
            resource(d.loc.doc)
    file_entries: dict[str, Resource] = {}
    general: list[Diagnostic] = []
    by_source: dict[str, list[Resource]] = {}
    for r in by_doc.values():
        by_source.setdefault(r.filename, []).append(r)
    for d in diags.items:
        target: Resource | None = None
        if d.loc is not None and id(d.loc.doc) in by_doc:
            target = by_doc[id(d.loc.doc)]
        elif d.obj is not None and d.obj in by_ref:
            target = by_ref[d.obj]
        elif d.loc is None and d.file is not None and d.span is not None and d.span.line > 0:
            target = _by_line(by_source.get(d.file, []), d.span.line)
        if target is not None:
            target.findings.append(d)
            continue
        sp = d.span
        if d.severity == E and sp is not None and sp.file:
            entry = file_entries.get(sp.file)
            if entry is None:
                entry = file_entries[sp.file] = Resource(sp.file)
            entry.findings.append(d)
        else:
            general.append(d)
    for r in by_doc.values():
        assert r.doc is not None
        if id(r.doc) not in valid_ids and any(d.code == "V001" for d in r.findings):
            r.skipped = True
        if any(d.code == "R100" for d in r.findings):
            r.skipped = True
    resources = sorted(by_doc.values(), key=lambda r: (r.filename, r.doc.index if r.doc else 0,
                                                       tuple(map(str, r.doc.prefix)) if r.doc else ()))
    resources += [file_entries[f] for f in sorted(file_entries)]
    failed = {f for f, e in file_entries.items() if any(d.code in ("L001", "L002", "L003", "L010")
                                                        for d in e.findings)}
    report = CheckReport(resources, general, result.sources + len(failed), diags)
    report.unreadable = result.sources == 0 and bool(failed)
    return report


def _by_line(candidates: list[Resource], line: int) -> Resource | None:
    """The document of a file that spans ``line`` (for file-level findings such as duplicate keys)."""
    for r in candidates:
        assert r.doc is not None
        nodes = r.doc.source.nodes()
        if 0 <= r.doc.node_index < len(nodes):
            node = nodes[r.doc.node_index]
            if node.start_mark.line + 1 <= line <= node.end_mark.line + 1:
                return r
    return None


def suppress(report: CheckReport, diags: Diagnostics) -> None:
    """``ingc.dev/ignore: CODE[,CODE...]`` on an object suppresses its findings with those codes."""
    for r in report.resources:
        if r.doc is None:
            continue
        md = r.doc.data.get("metadata")
        ann = md.get("annotations") if isinstance(md, dict) else None
        value = ann.get(IGNORE_ANNOTATION) if isinstance(ann, dict) else None
        if value is None:
            continue
        codes = {c.strip().upper() for c in str(value).split(",") if c.strip()}
        for code in sorted(codes - set(CODES)):
            d = diags.warning("C901", f"{IGNORE_ANNOTATION} names unknown rule {code!r}",
                              loc=r.doc.loc("metadata", "annotations", IGNORE_ANNOTATION),
                              obj=ObjRef(r.kind, r.namespace, r.name))
            r.findings.append(d)
        for d in r.findings:
            if d.code in codes:
                d.suppressed = True


# --- nginx -t ------------------------------------------------------------------------------------

_NGINX_LINE = re.compile(r"\[(emerg|alert|crit|error|warn|notice)\] (?:\d+#\d+: )?(.*)$")
_IN_FILE = re.compile(r" in (\S+):(\d+)$")
FORBIDDEN = ("load_module", "include", "ssl_engine", "env", "perl_modules", "perl_require", "js_import")


def find_nginx() -> str | None:
    import shutil

    env = os.environ.get("INGC_NGINX")
    if env:
        return env if os.access(env, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def nginx_test(result: CompileResult, binary: str, diags: Diagnostics) -> None:
    """Run the real ``nginx -t`` on a private copy of the would-be bundle; map its messages back."""
    cfg = result.config
    if result.text is None or cfg is None:
        return
    if any(d.code.startswith("N1") for d in diags.items):
        diags.warning("C600", "--nginx: nginx -t not run: the generated configuration failed verification")
        return
    nginx = binary or find_nginx()
    if not nginx:
        diags.warning("C600", "--nginx: no nginx binary found (PATH, /usr/sbin/nginx, $INGC_NGINX); nginx -t "
                      "was not run")
        return
    import subprocess
    import tempfile

    from ingc.bundle import BundleError, write_bundle

    with tempfile.TemporaryDirectory(prefix="ingc-nginx-t-") as tmp:  # mode 0700: private
        bundle = os.path.join(tmp, "bundle")
        try:
            write_bundle(bundle, result.text, cfg.files)
            for d in ("logs", "tmp"):
                os.makedirs(os.path.join(bundle, d), exist_ok=True)
        except (BundleError, OSError) as exc:
            diags.warning("C600", f"--nginx: cannot write the temporary bundle: {exc}")
            return
        conf = os.path.join(bundle, "nginx.conf")
        origins = line_origins(conf, cfg)
        if origins is None:
            diags.warning("C600", "--nginx: nginx -t not run: the configuration loads modules or includes files")
            return
        base = [nginx, "-t", "-p", bundle + "/", "-c", "nginx.conf"]
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LC_ALL": "C"}
        try:
            proc = subprocess.run([*base, "-e", "stderr"], capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL, env=env)
            if "invalid option" in proc.stderr:  # nginx before 1.19.5 has no -e
                proc = subprocess.run(base, capture_output=True, text=True, timeout=60,
                                      stdin=subprocess.DEVNULL, env=env)
        except (OSError, subprocess.TimeoutExpired) as exc:
            diags.warning("C600", f"--nginx: cannot run {nginx} -t: {exc}")
            return
        reported = False
        for line in (proc.stderr + proc.stdout).splitlines():
            m = _NGINX_LINE.search(line)
            if m is None or m.group(1) == "notice":
                continue
            text = m.group(2)
            where = _IN_FILE.search(text)
            conf_line = 0
            if where is not None:
                conf_line = int(where.group(2))
                text = text[: where.start()]
            text = text.replace(bundle + "/", "")
            origin = _origin_at(origins, conf_line)
            code, add = ("N201", diags.warning) if m.group(1) == "warn" else ("N200", diags.error)
            at = f" (nginx.conf line {conf_line})" if conf_line else ""
            add(code, f"nginx -t: {text}{at}", loc=origin.loc if origin else None,
                obj=origin.obj if origin else None)
            reported = reported or code == "N200"
        if proc.returncode != 0 and not reported:
            diags.error("N200", f"nginx -t failed (exit {proc.returncode}): "
                        f"{(proc.stderr.strip().splitlines() or ['no message'])[-1]}")


def _unescape(arg: str) -> str:
    return re.sub(r'\\(["\\])', r"\1", arg)


def line_origins(conf: str, cfg: NginxConfig) -> list[tuple[int, int, Origin]] | None:
    """(first line, last line, origin) of every upstream, server and location block of nginx.conf,
    innermost last; None when the file loads modules or includes other files."""
    import crossplane

    payload = crossplane.parse(conf, single=True, comments=False, check_ctx=False, check_args=False)
    if payload["status"] != "ok" or not payload["config"]:
        return []
    parsed = payload["config"][0]["parsed"]
    spans: list[tuple[int, int, Origin]] = []

    def last_line(st: dict[str, Any]) -> int:
        end = int(st["line"])
        for child in st.get("block") or []:
            end = max(end, last_line(child) + (1 if "block" in child else 0))
        return end

    def forbidden(stmts: Iterable[dict[str, Any]]) -> bool:
        return any(st["directive"] in FORBIDDEN or forbidden(st.get("block") or []) for st in stmts)

    if forbidden(parsed):
        return None
    upstreams = {u.name: u for u in cfg.upstreams}
    servers = iter(cfg.servers)
    for http in (st for st in parsed if st["directive"] == "http"):
        for st in http.get("block") or []:
            if st["directive"] == "upstream" and st["args"]:
                up = upstreams.get(_unescape(st["args"][0]))
                if up is not None:
                    spans.append((st["line"], last_line(st) + 1, up.origin))
            elif st["directive"] == "server":
                srv = next(servers, None)
                if srv is None:
                    continue
                if srv.origin is not None:
                    spans.append((st["line"], last_line(st) + 1, srv.origin))
                by_key = {(lo.modifier, lo.match): lo for lo in srv.locations}
                for lst in st.get("block") or []:
                    if lst["directive"] != "location":
                        continue
                    args = [_unescape(a) for a in lst["args"]]
                    key = (args[0], args[1]) if len(args) == 2 else ("", args[0] if args else "")
                    lo = by_key.get(key)
                    if lo is not None and lo.origin is not None:
                        spans.append((lst["line"], last_line(lst) + 1, lo.origin))
    return spans


def _origin_at(spans: list[tuple[int, int, Origin]], line: int) -> Origin | None:
    best: tuple[int, Origin] | None = None
    for start, end, origin in spans:
        if start <= line <= end and (best is None or end - start < best[0]):
            best = (end - start, origin)
    return best[1] if best else None


# --- reporters -----------------------------------------------------------------------------------


def text_lines(report: CheckReport, color: bool = False, min_severity: Severity = N) -> list[str]:
    from ingc.report import colorize

    return [colorize(d.format(), d, color) for d in report.active() if d.severity >= min_severity]


def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def finding_dict(d: Diagnostic) -> dict[str, Any]:
    sp = d.span
    out: dict[str, Any] = {
        "file": sp.file if sp else None,
        "line": sp.line if sp and sp.line else None,
        "column": sp.col if sp and sp.line else None,
        "rule": d.code, "severity": d.severity.label, "message": d.message,
    }
    origin = d.template_origin
    if origin is not None:
        out["template"] = {"file": origin.file, "line": origin.line}
    if d.suppressed:
        out["suppressed"] = True
    return out


def to_json(report: CheckReport) -> dict[str, Any]:
    resources = []
    for r in report.resources:
        errors = [{"path": _pointer(d.loc.path) if d.loc else "", "msg": d.message}
                  for d in sorted(r.findings, key=Diagnostic.sort_key)
                  if d.code in SCHEMA_CODES and not d.suppressed]
        resources.append({
            "filename": r.filename, "kind": r.kind, "name": r.name, "namespace": r.namespace,
            "version": r.version, "status": r.status, "msg": r.msg, "validationErrors": errors,
            "findings": [finding_dict(d) for d in sorted(r.findings, key=Diagnostic.sort_key)],
        })
    return {"resources": resources, "findings": [finding_dict(d) for d in sorted(report.general,
                                                                                   key=Diagnostic.sort_key)],
            "summary": report.counts()}


def _level(sev: Severity) -> str:
    return {E: "error", W: "warning", N: "note"}[sev]


def _uri(path: str) -> str:
    from urllib.parse import quote as url_quote

    return url_quote(path.replace(os.sep, "/"), safe="/")


def to_sarif(report: CheckReport) -> dict[str, Any]:
    diags = sorted(report.diags.items, key=Diagnostic.sort_key)
    codes = sorted({d.code for d in diags})
    rules = []
    for c in codes:
        rule: dict[str, Any] = {"id": c, "shortDescription": {"text": CODES.get(c, c)}}
        if c in DEFAULT_SEVERITY:
            rule["defaultConfiguration"] = {"level": _level(DEFAULT_SEVERITY[c])}
        rules.append(rule)
    results = []
    for d in diags:
        res: dict[str, Any] = {
            "ruleId": d.code, "ruleIndex": codes.index(d.code), "level": _level(d.severity),
            "message": {"text": d.message + (f" ({d.obj})" if d.obj else "")},
        }
        sp = d.span
        if sp is not None and sp.file:
            if os.path.isabs(sp.file):
                phys: dict[str, Any] = {"artifactLocation": {"uri": "file://" + _uri(sp.file)}}
            else:
                phys = {"artifactLocation": {"uri": _uri(sp.file), "uriBaseId": "SRCROOT"}}
            if sp.line > 0:
                phys["region"] = {"startLine": sp.line, "startColumn": max(sp.col, 1)}
            res["locations"] = [{"physicalLocation": phys}]
        origin = d.template_origin
        if origin is not None:
            res["relatedLocations"] = [{
                "id": 1, "message": {"text": "Helm template"},
                "physicalLocation": {"artifactLocation": {"uri": _uri(origin.file)},
                                     "region": {"startLine": max(origin.line, 1)}},
            }]
        if d.suppressed:
            res["suppressions"] = [{"kind": "inSource", "justification": f"{IGNORE_ANNOTATION} annotation"}]
        results.append(res)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "ingc", "version": __version__, "semanticVersion": __version__,
                                "informationUri": "https://github.com/ingc/ingc", "rules": rules}},
            "originalUriBaseIds": {"SRCROOT": {"uri": "file://" + _uri(os.getcwd().rstrip("/") + "/")}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def to_junit(report: CheckReport) -> str:
    import xml.etree.ElementTree as ET

    counts = report.counts()
    root = ET.Element("testsuites", name="ingc", tests=str(counts["resources"]), failures=str(counts["invalid"]),
                      errors=str(counts["errors"]), disabled=str(counts["skipped"]))
    suites: dict[str, ET.Element] = {}
    for r in report.resources:
        suite = suites.get(r.filename)
        if suite is None:
            suite = ET.SubElement(root, "testsuite", name=r.filename, id=str(len(suites) + 1), tests="0",
                                  failures="0", errors="0", skipped="0")
            suites[r.filename] = suite
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        name = f"{r.namespace}/{r.name}" if r.namespace else r.name or r.filename
        case = ET.SubElement(suite, "testcase", name=name, classname=f"{r.kind}@{r.version}" if r.kind else "file")
        findings = [d.format() for d in sorted(r.active, key=Diagnostic.sort_key)]
        status = r.status
        if status in (STATUS_INVALID, STATUS_ERROR):
            tag = "failure" if status == STATUS_INVALID else "error"
            first = next((d.code for d in sorted(r.active, key=Diagnostic.sort_key) if d.severity == E), "")
            el = ET.SubElement(case, tag, message=r.msg, type=first)
            el.text = "\n".join(findings)
            key = "failures" if tag == "failure" else "errors"
            suite.set(key, str(int(suite.get(key, "0")) + 1))
        elif status == STATUS_SKIPPED:
            ET.SubElement(case, "skipped", message=r.msg)
            suite.set("skipped", str(int(suite.get("skipped", "0")) + 1))
        elif findings:
            ET.SubElement(case, "system-out").text = "\n".join(findings)
    if report.general:
        ET.SubElement(root, "properties")
        props = root.find("properties")
        assert props is not None
        for i, d in enumerate(sorted(report.general, key=Diagnostic.sort_key), 1):
            if not d.suppressed:
                ET.SubElement(props, "property", name=f"finding.{i}", value=d.format())
    ET.indent(root, "  ")
    body = ET.tostring(root, encoding="unicode")  # control characters from file names/kinds: not XML 1.0
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0085\u2028\u2029]",
                                                            lambda m: visible(m.group()), body) + "\n"


def _tap_yaml(data: dict[str, Any]) -> list[str]:
    import yaml

    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1 << 16)
    return ["  ---", *("  " + line for line in text.splitlines()), "  ..."]


def to_tap(report: CheckReport) -> str:
    lines = ["TAP version 13", f"1..{len(report.resources)}"]
    for i, r in enumerate(report.resources, 1):
        desc = f"{r.filename} ({r.label})" if r.kind else r.filename
        desc = visible(desc).replace("#", "\\#")  # a file name may hold a line break
        status = r.status
        if status == STATUS_SKIPPED:
            lines.append(f"ok {i} - {desc} # SKIP {visible(r.msg).replace('#', '')}")
            continue
        lines.append(f"{'not ok' if status in (STATUS_INVALID, STATUS_ERROR) else 'ok'} {i} - {desc}")
        active = sorted(r.active, key=Diagnostic.sort_key)
        if active:
            lines += _tap_yaml({"status": status, "findings": [d.format() for d in active]})
    for d in sorted(report.general, key=Diagnostic.sort_key):
        if not d.suppressed:
            lines.append(f"# {d.format()}")
    lines.append(f"# {report.summary_line()}")
    return "\n".join(lines) + "\n"


def to_github(report: CheckReport) -> str:
    from ingc.report import github_lines

    active = Diagnostics()
    active.items = report.active()
    return "".join(line + "\n" for line in github_lines(active))


def render_report(report: CheckReport, fmt: str) -> str:
    """The whole report in one format (text: findings and the summary line, without colour)."""
    import json

    if fmt == "json":
        return json.dumps(to_json(report), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(report), indent=2) + "\n"
    if fmt == "junit":
        return to_junit(report)
    if fmt == "tap":
        return to_tap(report)
    if fmt == "github":
        return to_github(report)
    if fmt == "text":
        return "".join(line + "\n" for line in [*text_lines(report), report.summary_line()])
    raise ValueError(fmt)


def rules_table() -> list[dict[str, str]]:
    """Every code `ingc check` can report: code, default severity (as reported by its pass when the
    table has none), group and one-line doc."""
    groups = {"L": "load", "V": "validate", "S": "settings", "R": "resolve", "A": "annotations", "B": "bundle",
              "N": "nginx", "C": "check"}
    return [{"code": c, "severity": DEFAULT_SEVERITY[c].label if c in DEFAULT_SEVERITY else "varies",
             "group": groups.get(c[0], "other"), "doc": doc} for c, doc in sorted(CODES.items())]
