"""The annotation report of ``ingc build``: ``--annotation-report`` (table on stderr) and
``--annotation-report-json FILE``, with the statuses applied, defaulted, unsupported, invalid, ignored and
refused; exit codes for fallbacks and denials (0, bundle written) and rejections (1, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ingc.cli import main
from tests.annotations._support import PREFIX, ing, svc, write_docs

OLD = "2020-01-01T00:00:00Z"


def run(tmp_path: Path, docs: list[dict[str, Any]], *args: str) -> tuple[int, str, dict[str, Any], Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = write_docs(tmp_path / "in.yaml", docs)
    out = tmp_path / "bundle"
    report = tmp_path / "report.json"
    r = CliRunner().invoke(main, ["build", str(src), "-o", str(out), "--color", "never", "--annotation-report",
                                  "--annotation-report-json", str(report), *args], catch_exceptions=False)
    return r.exit_code, r.stderr, json.loads(report.read_text()), out


def entries(data: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    return {(e["ingress"]["name"], e["annotation"]): (e["status"], e["reason"]) for e in data["annotations"]}


def test_statuses_and_exit_zero_for_fallbacks_and_denials(tmp_path: Path) -> None:
    docs = [*svc("web"),
            ing("one", annotations={PREFIX + "proxy-read-timeout": "120", PREFIX + "proxy-body-size": "huge",
                                    PREFIX + "enable-opentelemetry": "true", PREFIX + "no-such-thing": "1",
                                    PREFIX + "server-alias": "one.example"}, created=OLD),
            ing("two", annotations={PREFIX + "whitelist-source-range": "not-an-ip",
                                    PREFIX + "server-alias": "two.example"}, created="2024-01-01T00:00:00Z")]
    code, err, data, out = run(tmp_path, docs)
    assert code == 0, err
    assert (out / "nginx.conf").exists()
    e = entries(data)
    assert e[("one", "proxy-read-timeout")] == ("applied", "")
    assert e[("one", "proxy-body-size")][0] == "defaulted"
    assert e[("one", "enable-opentelemetry")][0] == "unsupported"
    assert "OpenTelemetry" in e[("one", "enable-opentelemetry")][1]
    assert e[("one", "no-such-thing")] == ("unsupported", "unknown annotation")
    assert e[("one", "server-alias")] == ("applied", "")
    assert e[("two", "server-alias")][0] == "ignored"  # the older Ingress set the host's aliases
    assert e[("two", "allowlist-source-range")][0] == "invalid"
    lines = [ln for ln in err.splitlines() if ln.startswith(("INGRESS", "default/"))]
    assert lines[0].split() == ["INGRESS", "ANNOTATION", "STATUS", "REASON"]
    row = next(ln for ln in lines if "proxy-body-size" in ln)
    assert row.split()[:3] == ["default/one", "proxy-body-size", "defaulted"]


def test_rejection_exits_one_and_writes_nothing(tmp_path: Path) -> None:
    docs = [*svc("web"), ing("bad", annotations={PREFIX + "permanent-redirect": "https://x/ y;"})]
    code, err, data, out = run(tmp_path, docs)
    assert code == 1
    assert not (out / "nginx.conf").exists()
    assert entries(data)[("bad", "permanent-redirect")][0] == "invalid"
    assert "error[A111]" in err


def test_snippets_refused_then_flagged(tmp_path: Path) -> None:
    docs = [*svc("web"), ing("snip", annotations={PREFIX + "configuration-snippet": "add_header X-A 1;"})]
    code, err, data, _ = run(tmp_path / "a", docs)
    assert code == 1 and "error[A104]" in err
    assert entries(data)[("snip", "configuration-snippet")][0] == "refused"
    code, err, data, _ = run(tmp_path / "b", docs, "--allow-snippet-annotations")
    assert code == 1 and "error[A105]" in err  # Critical risk, above the default High
    code, err, data, out = run(tmp_path / "c", docs, "--allow-snippet-annotations", "--annotations-risk-level",
                               "Critical")
    assert code == 0, err
    assert "warning[A114]" in err
    assert entries(data)[("snip", "configuration-snippet")] == ("applied", "snippet: raw nginx configuration "
                                                                           "pasted verbatim")
    assert "add_header X-A 1;" in (out / "nginx.conf").read_text()


def test_htpasswd_file_in_bundle_is_private(tmp_path: Path) -> None:
    docs = [*svc("web"), {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "users", "namespace": "default"},
                          "stringData": {"auth": "alice:{PLAIN}x"}},
            ing("auth", annotations={PREFIX + "auth-type": "basic", PREFIX + "auth-secret": "users"})]
    code, err, _, out = run(tmp_path, docs)
    assert code == 0, err
    files = list((out / "auth").iterdir())
    assert len(files) == 1 and files[0].name.startswith("default-users-") and files[0].suffix == ".htpasswd"
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert files[0].read_text() == "alice:{PLAIN}x\n"
    assert f'auth_basic_user_file "auth/{files[0].name}";' in (out / "nginx.conf").read_text()
