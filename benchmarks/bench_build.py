"""Benchmark `ingc build` against the cost of merely loading the same YAML with libyaml's C loader (P).

Generates N Ingresses with their Services and EndpointSlices, then measures in separate processes (so
peak memory is per measurement): P, build without verify, build with verify; prints ratios and peak
RSS.  Usage: python benchmarks/bench_build.py [--sizes 1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

LOAD_ONLY = (
    "import sys, yaml\n"
    "for p in sys.argv[1:]:\n"
    "    with open(p, 'rb') as fh:\n"
    "        list(yaml.load_all(fh.read().decode(), Loader=yaml.CSafeLoader))\n"
)


def generate(n: int, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            ns = f"team{i % 50}"
            fh.write(f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app{i}
  namespace: {ns}
  annotations:
    nginx.ingress.kubernetes.io/ssl-redirect: "false"
spec:
  ingressClassName: nginx
  rules:
    - host: app{i}.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: svc{i}
                port:
                  number: 80
          - path: /api
            pathType: Exact
            backend:
              service:
                name: svc{i}
                port:
                  name: http
---
apiVersion: v1
kind: Service
metadata:
  name: svc{i}
  namespace: {ns}
spec:
  selector:
    app: app{i}
  ports:
    - name: http
      port: 80
      targetPort: 8080
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc{i}-abc
  namespace: {ns}
  labels:
    kubernetes.io/service-name: svc{i}
addressType: IPv4
ports:
  - name: http
    port: 8080
    protocol: TCP
endpoints:
  - addresses: ["10.{(i >> 8) & 255}.{i & 255}.1"]
    conditions:
      ready: true
---
""")


def measure(cmd: list[str]) -> tuple[float, float]:
    """(CPU seconds of the child, peak RSS MiB of the child)."""
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.ru_utime + r.ru_stime, r.ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], check=True, capture_output=True, text=True).stdout
    cpu, rss = out.split()
    return float(cpu), float(rss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ingc = [sys.executable, "-m", "ingc"]
    print(f"{'N':>6} {'P (load)':>9} {'build':>8} {'ratio':>6} {'+verify':>8} {'ratio':>6} "
          f"{'RSS build':>10} {'RSS +verify':>12} {'mem target':>10}")
    for n in [int(s) for s in args.sizes.split(",") if s]:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "in.yaml")
            generate(n, src)
            out = os.path.join(tmp, "out")
            runs: dict[str, list[tuple[float, float]]] = {"p": [], "nv": [], "v": []}
            for _ in range(args.repeat):
                runs["p"].append(measure([sys.executable, "-c", LOAD_ONLY, src]))
                runs["nv"].append(measure([*ingc, "build", src, "-o", out, "-q", "--no-verify"]))
                runs["v"].append(measure([*ingc, "build", src, "-o", out, "-q"]))
            p = statistics.median(c for c, _ in runs["p"])
            nv = statistics.median(c for c, _ in runs["nv"])
            v = statistics.median(c for c, _ in runs["v"])
            rss_nv = max(r for _, r in runs["nv"])
            rss_v = max(r for _, r in runs["v"])
            target = 40 + 30 * n / 1000
            print(f"{n:>6} {p:>8.2f}s {nv:>7.2f}s {nv / p:>5.2f}x {v:>7.2f}s {v / p:>5.2f}x "
                  f"{rss_nv:>8.0f}MiB {rss_v:>10.0f}MiB {target:>8.0f}MiB", flush=True)
    print("times are CPU seconds (user+sys) of the child process, median of --repeat runs; "
          "P = yaml.load_all with CSafeLoader of the same file")


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"benchmark wall time {time.time() - t0:.0f}s")
