#!/usr/bin/env python3
"""peers_ab.py: two or more builds of a peer driver, interleaved, at a few points.

A before/after comparison of one pool (say berth at two commits) on the peers
workload (bench/peers/README.md), without the rest of peers.py: each
repetition runs every driver once per point, rotating which goes first, and
the medians over repetitions are printed per point and driver.

  python3 bench/peers_ab.py --reps 5 --points 128:64,128:32,2:1 \\
      before=/path/to/old/berth_peer_berth_O2 after=build/release/bench/peers/user_flags/berth_peer_berth_O2

Columns: spread (fastest / slowest thread's cycles; each repetition's value
in brackets), the worst slowest / median thread over the repetitions, total
cycles/s, and the sampled p99 and p99.9 acquire latency (ns).
"""
import argparse
import json
import statistics
import subprocess
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("drivers", nargs="+", help="NAME=PATH of a peer driver binary")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--points", default="128:64,128:32", help="THREADS:CONNECTIONS,...")
    ap.add_argument("--hold-ns", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=2.0)
    a = ap.parse_args()
    drivers = []
    for d in a.drivers:
        name, sep, path = d.partition("=")
        if not sep or not name or not path:
            ap.error(f"driver '{d}': expected NAME=PATH")
        drivers.append((name, path))
    try:
        points = [tuple(int(x) for x in p.split(":")) for p in a.points.split(",")]
    except ValueError:
        ap.error(f"--points '{a.points}': expected THREADS:CONNECTIONS,...")
    res = {}
    for r in range(a.reps):
        for t, c in points:
            k = r % len(drivers)
            for name, path in drivers[k:] + drivers[:k]:
                cmd = [path, "--threads", str(t), "--connections", str(c), "--hold-ns", str(a.hold_ns),
                       "--seconds", str(a.seconds)]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"peers_ab: {' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}", file=sys.stderr)
                    return 1
                d = json.loads(out.stdout.strip().splitlines()[-1])
                pc = sorted(d["per_thread_cycles"])
                res.setdefault((t, c, name), []).append(
                    (pc[-1] / max(pc[0], 1), pc[0] / statistics.median(pc), d["cycles_per_s"] / 1e6,
                     d["latency_ns"]["p99"], d["latency_ns"]["p999"]))
    for t, c in points:
        for name, _ in drivers:
            v = res[(t, c, name)]
            med = lambda k: statistics.median(x[k] for x in v)
            runs = ", ".join(f"{x[0]:.2f}" for x in v)
            print(f"{t}:{c} {name:10} spread {med(0):.2f} [{runs}] worst min/median {min(x[1] for x in v):.3f} "
                  f"cycles/s {med(2):.3f} M p99 {med(3):.0f} p99.9 {med(4):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
