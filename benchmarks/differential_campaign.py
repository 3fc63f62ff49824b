"""A large differential campaign: ``ingc explain`` against real nginx on generated Ingress sets.

    python benchmarks/differential_campaign.py --examples 2000 [--seed N] [--show 3]

Same generator and rig as tests/test_differential.py (tests/support/explainrig.py), without its CI
bound: prints how many scenarios and requests ran, how many scenarios ingc refused (error findings),
the outcome mix, and every disagreement class with its count and the first examples.  Exit 1 when any
request disagrees.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hseed  # noqa: E402

from tests.support.explainrig import Rig, Scenario, Verdict, scenarios, tally  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=500, help="generated scenarios (one nginx each)")
    ap.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    ap.add_argument("--show", type=int, default=2, help="examples printed per disagreement class")
    args = ap.parse_args(argv)

    verdicts: list[Verdict] = []
    bad: list[tuple[Scenario, Verdict]] = []
    stats = Counter[str]()
    started = time.monotonic()
    with Rig() as rig:

        @settings(max_examples=args.examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(sc=scenarios())
        def campaign(sc: Scenario) -> None:
            stats["scenarios"] += 1
            got = rig.run(sc)
            if got is None:
                stats["refused by ingc"] += 1
                return
            verdicts.extend(got)
            bad.extend((sc, v) for v in got if not v.ok)

        if args.seed is not None:
            campaign = hseed(args.seed)(campaign)
        campaign()
        refusals = dict(rig.refusals)
    elapsed = time.monotonic() - started
    print(f"scenarios: {stats['scenarios']}  refused by ingc: {stats['refused by ingc']}  "
          f"requests: {len(verdicts)}  disagreements: {len(bad)}  ({elapsed:.0f}s)")
    if refusals:
        print("refusal codes: " + ", ".join(f"{k} x{n}" for k, n in sorted(refusals.items())))
    mix = Counter(f"{v.explanation.outcome.action} {v.real.status}" for v in verdicts)
    print("outcomes: " + ", ".join(f"{k} x{n}" for k, n in sorted(mix.items(), key=lambda kv: -kv[1])))
    for klass, n in tally([v for _, v in bad]):
        print(f"\n[{n}] {klass}")
        shown = 0
        for sc, v in bad:
            if v.klass() == klass and shown < args.show:
                shown += 1
                print(v.report() + sc.describe())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
