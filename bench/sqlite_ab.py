#!/usr/bin/env python3
"""sqlite_ab.py: berth's overhead on a SQLite statement, in paired rounds.

Issue 8's target (a pooled prepared `SELECT 1` within 5% of a dedicated
handle) is a few nanoseconds on a ~100 to 250 ns statement. On a VM whose
speed drifts by 10 to 20% over seconds, two medians taken minutes apart
cannot resolve it. This runs the two benchmarks in short alternating runs
(pairs whose order alternates, AB then BA, so that a steady drift cancels over
the rounds), takes the ratio of each round's pair, and reports the median ratio with a distribution-free 95%
confidence interval (order statistics of the binomial, no normality assumed).

  python3 bench/sqlite_ab.py build/release/bench/berth_sqlite_bench --rounds 30 --threads 1,2 \\
      --variants berth,cas_floor --db file,mem

Each variant is compared with `dedicated` (one connection per thread, no
pool) of the same database and thread count. Exits non-zero if a run fails or
reports an error. Each round is one pair, its order alternating from round to
round (AB, BA, ...): use an even --rounds so that both orders count alike.
"""
import argparse
import json
import math
import statistics
import subprocess
import sys


def run(binary, name, min_time):
    cmd = [binary, f"--benchmark_filter=^{name}$", f"--benchmark_min_time={min_time}", "--benchmark_format=json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"sqlite_ab: {' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()}")
    runs = [b for b in json.loads(out.stdout)["benchmarks"] if b.get("run_type") == "iteration"]
    if len(runs) != 1:
        sys.exit(f"sqlite_ab: {name}: expected one benchmark, got {len(runs)} (is the name right?)")
    b = runs[0]
    if b.get("error_occurred") or not b.get("real_time"):
        sys.exit(f"sqlite_ab: {name} reported an error: {b.get('error_message', 'no time measured')}")
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
    return b["real_time"] * scale


def median_ci(xs, conf=0.95):
    """A distribution-free confidence interval for the median: the k-th
    smallest and k-th largest values, with k from Binomial(n, 1/2)."""
    xs = sorted(xs)
    n = len(xs)
    if n < 6:  # even (min, max) covers less than 95% of the median below 6 values
        raise ValueError(f"a 95% interval for the median needs at least 6 values, got {n}")
    cdf, k = 0.0, 0
    for j in range(n + 1):
        p = math.comb(n, j) / 2 ** n
        if cdf + p > (1 - conf) / 2:
            k = j
            break
        cdf += p
    if k == 0:
        return xs[0], xs[-1]
    return xs[k - 1], xs[n - k]


def paired(binary, base, other, rounds, min_time):
    """Runs benchmarks `base` and `other` of `binary` in `rounds` pairs, the
    order alternating (AB, BA, ...); returns the (base, other) ns/op pairs, the median of other / base
    - 1 and its 95% interval."""
    pairs = []
    for r in range(rounds):
        order = [base, other] if r % 2 == 0 else [other, base]
        got = {n: run(binary, n, min_time) for n in order}
        pairs.append((got[base], got[other]))
    ratios = [o / b - 1 for b, o in pairs]
    return pairs, statistics.median(ratios), median_ci(ratios)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", help="berth_sqlite_bench")
    ap.add_argument("--rounds", type=int, default=20, help="pairs per comparison, order alternating (default 20)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--variants", default="berth", help="compared with dedicated: berth, cas_floor, busy_floor/10, ...")
    ap.add_argument("--db", default="file", help="file, mem or both (file,mem)")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds per run (default 0.1)")
    ap.add_argument("--json", help="write every run's ns/op here")
    a = ap.parse_args()
    if a.rounds < 6:
        ap.error("--rounds: at least 6 (a 95% interval for the median needs them)")
    prefix = {"file": "BM_sqlite_select1_", "mem": "BM_sqlite_mem_select1_"}
    results = []
    print(f"{'database':8} {'threads':>7} {'variant':14} {'dedicated ns':>12} {'variant ns':>10} "
          f"{'overhead (median of ratios)':>28} {'95% CI':>18}")
    for db in a.db.split(","):
        if db not in prefix:
            ap.error(f"--db '{db}': expected file or mem")
        for t in a.threads.split(","):
            for v in a.variants.split(","):
                base = f"{prefix[db]}dedicated/manual_time/threads:{t}"
                other = f"{prefix[db]}{v}/manual_time/threads:{t}"
                pairs, med, (lo, hi) = paired(a.binary, base, other, a.rounds, a.min_time)
                print(f"{db:8} {t:>7} {v:14} {statistics.median(b for b, _ in pairs):12.1f} "
                      f"{statistics.median(o for _, o in pairs):10.1f} {med * 100:+27.1f}% "
                      f"{lo * 100:+8.1f}% .. {hi * 100:+.1f}%")
                sys.stdout.flush()
                results.append({"db": db, "threads": int(t), "variant": v, "pairs_ns": pairs,
                                "median_overhead": med, "ci95": [lo, hi]})
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rounds": a.rounds, "min_time": a.min_time, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
