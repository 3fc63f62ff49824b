"""The long security campaign of issue 6: the checks of tests/test_security_*.py on many more inputs.

    python benchmarks/security_campaign.py                 # default sizes (about a quarter of an hour)
    python benchmarks/security_campaign.py --scale 0.1     # a quick pass
    python benchmarks/security_campaign.py --only fuzz,kill --scale 4

Parts (sizes at --scale 1):
  injection    hostile values in every field class, every annotation key and every ConfigMap key:
               300 generated values per field class and 60 per key, plus the explicit corpus everywhere
  fuzz         20,000 mutated manifest sets through the CLI (no traceback, exit 0-3, positions)
  commands     5,000 of them through check, routes, explain and diff
  names        400 generated namespace/name sets built to collide, with attacker identities
  kill         300 SIGKILLs of `ingc build` at random points while it writes
  determinism  200 generated manifest sets, each in 5 random file/document layouts
  long         every field class with 300,000-character values (linear time)

Every failure is printed with its input (hypothesis does not shrink here, to keep the campaign fast; the
CI tests shrink).  The exit code is 1 when anything failed.  The summary lists inputs tried per part.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _settings(n: int, seed: int) -> Callable[[Any], Any]:
    return settings(max_examples=max(1, n), deadline=None, database=None, derandomize=False,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


class Part:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tried = 0
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.seconds = 0.0

    def fail(self, what: str) -> None:
        self.failures.append(what)
        print(f"  FAIL [{self.name}] {what[:3000]}", flush=True)


def run_property(part: Part, label: str, strategy: Any, fn: Callable[[Any], object], n: int, seed: int) -> None:
    """Run ``fn`` on ``n`` drawn values; count them; record the first failure (hypothesis stops there)."""

    @_settings(n, seed)
    @given(strategy)
    def prop(value: Any) -> None:
        part.tried += 1
        fn(value)

    try:
        prop()
    except Exception as exc:  # an AssertionError from a check, or anything else: both are findings
        part.fail(f"{label}: {type(exc).__name__}: {exc}")


def part_injection(scale: float, seed: int) -> Part:
    from tests.security.corpus import EXPLICIT, hostile
    from tests.security.fields import all_classes, check

    part = Part("injection")
    classes = all_classes()
    for fc in classes:
        n = int((300 if ":" not in fc.id else 60) * scale)
        def one(v: str, fc: Any = fc) -> None:
            check(fc.make(v))

        run_property(part, fc.id, hostile(fc.prefix), one, n, seed)
        for v in EXPLICIT:
            part.tried += 1
            try:
                check(fc.make(fc.prefix + v))
            except AssertionError as exc:
                part.fail(f"{fc.id} explicit {v[:40]!r}: {exc}")
    part.notes.append(f"{len(classes)} field classes")
    return part


def part_fuzz(scale: float, seed: int) -> Part:
    from tests.security.fuzz import fuzz_input, run_one, seeds

    part = Part("fuzz")
    exits: dict[int, int] = {}
    seed_sets = seeds()

    def one(case: tuple[bytes, list[str], bool]) -> None:
        r = run_one(*case)
        exits[r.exit_code] = exits.get(r.exit_code, 0) + 1

    total = int(20_000 * scale)
    batch = 1000
    for i in range(0, total, batch):  # batches: one failure does not end the whole fuzz run
        run_property(part, f"batch {i // batch}", fuzz_input(seed_sets), one, min(batch, total - i), seed + i)
    part.notes.append(f"exit codes {dict(sorted(exits.items()))}; {len(seed_sets)} seed sets")
    return part


def part_commands(scale: float, seed: int) -> Part:
    """check, routes, explain and diff on mutated manifests."""
    from tests.security.fuzz import FuzzResult, check_result, fuzz_input, seeds
    from tests.security.manifests import run_cli

    part = Part("commands")
    urls = ["http://app.example.com/api", "https://h0.example.com/x?y#z", "/", "x", "http://[::1"]
    strategy = st.tuples(fuzz_input(seeds()), st.sampled_from(["check", "routes", "explain", "diff"]),
                         st.sampled_from(urls))

    def one(v: Any) -> None:
        (raw, _, _), command, url = v
        with tempfile.TemporaryDirectory(prefix="ingc-campaign-") as tmp:
            src = os.path.join(tmp, "in.yaml")
            Path(src).write_bytes(raw)
            other = os.path.join(tmp, "other.yaml")
            Path(other).write_text("apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\n")
            argv = {"check": ["check", src, "--no-config"], "routes": ["routes", src],
                    "explain": ["explain", url, src], "diff": ["diff", other, src]}[command]
            code, out, err = run_cli([*argv, "--color", "never"])
            check_result(FuzzResult(code, out, err), raw, argv[:1], os.path.join(tmp, "none"))

    total = int(5000 * scale)
    for i in range(0, total, 1000):
        run_property(part, f"batch {i // 1000}", strategy, one, min(1000, total - i), seed + i)
    return part


def part_names(scale: float, seed: int) -> Part:
    from tests.test_security_names import _unique, attackers, check_isolation, colliding_pair, identity

    part = Part("names")
    strategy = st.tuples(st.lists(identity, max_size=4), st.lists(colliding_pair, min_size=1, max_size=3),
                         st.booleans(), st.randoms(use_true_random=False))

    def one(v: Any) -> None:
        ids, pairs, with_attackers, order = v
        ids = _unique([i for p in pairs for i in p] + ids)
        if with_attackers:
            ids = _unique(ids + attackers(ids))
        order.shuffle(ids)
        check_isolation(ids)

    run_property(part, "isolation", strategy, one, int(400 * scale), seed)
    return part


def part_kill(scale: float, seed: int) -> Part:
    import signal

    from tests.security.manifests import emit, run_cli
    from tests.test_security_bundle import (
        Variant,
        assert_consistent,
        kill_during_writes,
        manifests,
        read_bundle,
        start_build,
        temp_files,
    )

    part = Part("kill")
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="ingc-kill-") as t:
        tmp = Path(t)
        variants: dict[str, Variant] = {}
        for tag, hosts in (("a", 12), ("b", 16)):
            src = tmp / f"{tag}.yaml"
            src.write_text(emit(manifests(tag, hosts))[0])
            code, _, err = run_cli(["build", str(src), "-o", str(tmp / f"ref-{tag}")])
            assert code == 0, err
            conf, files = read_bundle(tmp / f"ref-{tag}")
            variants[tag] = Variant(tag, src, conf, files)
        d = tmp / "bundle"
        run_cli(["build", str(variants["a"].src), "-o", str(d)])
        t0 = time.monotonic()
        p = start_build(variants["b"].src, d)
        while p.poll() is None and not temp_files(d):
            time.sleep(0.0002)
        t1 = time.monotonic()
        p.wait()
        whole, window = time.monotonic() - t0, max(time.monotonic() - t1, 0.001)
        current = assert_consistent(d, variants)
        stats = {"killed": 0, "killed while writing": 0, "completed": 0}
        for i in range(int(300 * scale)):
            target = "a" if current == "b" else "b"
            p = start_build(variants[target].src, d)
            if i % 3 == 2:
                time.sleep(rnd.uniform(0, whole))
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                p.wait()
            else:
                stats["killed while writing"] += kill_during_writes(p, d, rnd, window)
            stats["killed"] += p.returncode == -signal.SIGKILL
            stats["completed"] += p.returncode == 0
            part.tried += 1
            try:
                current = assert_consistent(d, variants)
                if p.returncode == 0 and current != target:
                    part.fail(f"run {i}: build exited 0 but the bundle is not the new one")
            except AssertionError as exc:
                part.fail(f"run {i}: {exc}")
                run_cli(["build", str(variants["a"].src), "-o", str(d)])
                current = "a"
        part.notes.append(str(stats))
    return part


def part_determinism(scale: float, seed: int) -> Part:
    from tests.test_security_determinism import build, layout, manifest_set

    part = Part("determinism")

    def one(v: Any) -> None:
        docs, s = v
        rnd = random.Random(s)
        first = build(layout(docs, rnd, rnd.randint(1, 4)), bundle=True)
        for _ in range(4):
            again = build(layout(docs, rnd, rnd.randint(1, 4)), bundle=True)
            assert again[:3] == first[:3], "different bytes for another order of files and documents"

    run_property(part, "layouts", st.tuples(manifest_set(), st.integers(0, 2**32)), one, int(200 * scale), seed)
    part.notes.append("5 layouts per set")
    return part


def part_long(scale: float, seed: int) -> Part:
    from tests.security.fields import all_classes, check

    part = Part("long")
    size = max(10_000, int(300_000 * min(scale, 1.0)))
    for fc in all_classes()[:17]:
        for tail in ("!", '"', "_by_lu", "alias;", "aA"):
            part.tried += 1
            t = time.monotonic()
            try:
                check(fc.make(fc.prefix + "a" * size + tail))
            except AssertionError as exc:
                part.fail(f"{fc.id} {size} chars + {tail!r}: {str(exc)[:500]}")
            dt = time.monotonic() - t
            if dt > 30:
                part.notes.append(f"{fc.id}+{tail!r}: {dt:.1f}s")
    part.notes.append(f"values of {size} characters")
    return part


PARTS = {"injection": part_injection, "fuzz": part_fuzz, "commands": part_commands, "names": part_names, "kill": part_kill,
         "determinism": part_determinism, "long": part_long}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size (default 1)")
    ap.add_argument("--only", default="", help="comma-separated parts: " + ",".join(PARTS))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("INGC_CAMPAIGN_SEED", "0")) or 20261207)
    args = ap.parse_args(argv)
    chosen = [p for p in (args.only.split(",") if args.only else PARTS) if p]
    results: list[Part] = []
    for name in chosen:
        print(f"== {name} (scale {args.scale})", flush=True)
        t = time.monotonic()
        try:
            part = PARTS[name](args.scale, args.seed)
        except Exception:
            part = Part(name)
            part.fail(traceback.format_exc())
        part.seconds = time.monotonic() - t
        results.append(part)
        print(f"   {part.tried} inputs, {len(part.failures)} failures, {part.seconds:.0f}s {'; '.join(part.notes)}",
              flush=True)
    print("\n| part | inputs | failures | seconds | notes |\n|---|---:|---:|---:|---|")
    for p in results:
        print(f"| {p.name} | {p.tried} | {len(p.failures)} | {p.seconds:.0f} | {'; '.join(p.notes)} |")
    return 1 if any(p.failures for p in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
