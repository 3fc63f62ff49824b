"""How fast `ingc check` of one small file and `ingc --help` start, as ratios to their floors.

Measures, interleaved and as medians of --runs (default 10) wall-clock runs each, in fresh processes:
  check   `ingc check one-ingress.yaml`
  help    `ingc --help`
  floor   `python -c "import click, yaml, jinja2, jsonschema, crossplane"` (the libraries alone)
  click   `python -c "import click"`
and prints check/floor (target <= 1.25) and help/click (target <= 1.2).  The machine is shared and
noisy, hence ratios of interleaved runs.  Usage: python benchmarks/bench_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ONE_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  ingressClassName: nginx
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
"""


def ingc_command() -> list[str]:
    """The installed `ingc` script next to this interpreter (not a version manager's shim, which
    would add its own start-up), else `python -m ingc`."""
    here = os.path.join(os.path.dirname(sys.executable), "ingc")
    if os.access(here, os.X_OK):
        return [here]
    found = shutil.which("ingc")
    if found and "shims" not in found:
        return [found]
    return [sys.executable, "-m", "ingc"]


# pip compiles an installed package's .pyc files, and the floor libraries have theirs: give ingc the
# same footing even where PYTHONDONTWRITEBYTECODE is set (the warm-up run writes them).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, env=ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    ingc = ingc_command()
    with tempfile.TemporaryDirectory(prefix="ingc-bench-") as tmp:
        with open(os.path.join(tmp, "one-ingress.yaml"), "w", encoding="utf-8") as fh:
            fh.write(ONE_INGRESS)
        commands = {
            "check": [*ingc, "check", "--no-config", "one-ingress.yaml"],
            "help": [*ingc, "--help"],
            "floor": [sys.executable, "-c", "import click, yaml, jinja2, jsonschema, crossplane"],
            "click": [sys.executable, "-c", "import click"],
        }
        for cmd in commands.values():  # warm the OS page cache, .pyc files and ingc's template cache
            timed(cmd, tmp)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, tmp))
    med = {name: statistics.median(values) for name, values in samples.items()}
    for name, cmd in commands.items():
        shown = " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))
        print(f"{name:<6} median {med[name] * 1000:7.1f} ms  (min {min(samples[name]) * 1000:6.1f})  {shown}")
    check_ratio = med["check"] / med["floor"]
    help_ratio = med["help"] / med["click"]
    print(f"check / floor = {check_ratio:.2f}  (target <= 1.25: {'ok' if check_ratio <= 1.25 else 'MISSED'})")
    print(f"help  / click = {help_ratio:.2f}  (target <= 1.20: {'ok' if help_ratio <= 1.2 else 'MISSED'})")


if __name__ == "__main__":
    main()
