#!/usr/bin/env python3
"""Runs the SQLite benchmarks and prints berth against no pool.

Usage:
  bench/sqlite_report.py build/release/bench [--min-time 0.3]

Runs berth_sqlite_bench (the statement cycle on a WAL file and on berth's
shared in-memory database, whose adapter keeps one connection open so that a
new connection joins it: a prepared SELECT 1 and a small indexed read, each
through berth's pool, through one dedicated handle per thread opened once, and
through a new connection per query) and berth_sqlite_mix_bench (100 threads
on berth::sqlite::database: one writer, 4 readers, 30% writes), then prints
two tables. ns/op is the time per operation of the whole system (all threads
together, wall clock); berth overhead = berth ns/op / dedicated ns/op - 1;
raw C API = SQLite's C API alone on a statement prepared once (the adapter's
cost is dedicated - raw; berth vs raw = berth ns/op / raw ns/op - 1);
2-CAS floor = the same for the dedicated handle plus one CAS before and one
after each query (the least any pool with an atomic acquire and release adds).
Then the prepared SELECT 1's overhead again, measured by
berth_sqlite_interleave (bench/sqlite_interleave.cpp): --interleave-rounds
rounds in which dedicated, berth and the controls each run 1000 queries in
turn inside one process; the median of the rounds' ratios and its 95%
interval, which a VM's drift between two single runs does not move.
Exits non-zero if a binary fails or reports an error, or if any
SQLITE_BUSY/LOCKED reached a caller in the mix. Python 3 standard library only.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (shares the runner and table printer)
import subprocess  # noqa: E402


def run_binary(path, min_time, filter=None):
    return report.run(argparse.Namespace(binary=path, min_time=min_time, filter=filter))


def ns(run):
    r = report.rate(run)
    return 1e9 / r if r else None


def fmt(x, digits=0):
    return ("%." + str(digits) + "f") % x if x is not None else "-"


def parse_interleave(text):
    """berth_sqlite_interleave's table: {variant: (ns/query, overhead %, low %, high %)}; dedicated has
    (ns/query, 0, 0, 0)."""
    rows = {}
    for line in text.splitlines():
        f = line.replace("(", " ").replace(")", " ").replace("..", " ").replace("%", " ").split()
        if len(f) == 3 and f[0] == "dedicated" and f[2] == "-":
            rows["dedicated"] = (float(f[1]), 0.0, 0.0, 0.0)
        elif len(f) == 5 and f[0] in ("berth", "cas_floor", "nullpool", "raw", "held"):
            try:
                rows[f[0]] = tuple(float(x) for x in f[1:])
            except ValueError:
                pass
    return rows


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench_dir", help="directory holding berth_sqlite_bench and berth_sqlite_mix_bench")
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--interleave-rounds", type=int, default=3000,
                   help="rounds of berth_sqlite_interleave for the SELECT 1 overhead; 0: skip; default 3000")
    args = p.parse_args(argv)
    if 0 < args.interleave_rounds < 20:
        p.error("--interleave-rounds: 0 (skip) or at least 20 (a 95% interval for the median needs them)")

    cycle, errors = report.index_runs(run_binary(os.path.join(args.bench_dir, "berth_sqlite_bench"), args.min_time,
                                              # the 2-thread controls (busy_floor, jitter_floor, nullpool, ownpool) are not in the table
                                              "-(busy|jitter|nullpool|ownpool)"))
    mix, mix_errors = report.index_runs(
        run_binary(os.path.join(args.bench_dir, "berth_sqlite_mix_bench"), max(args.min_time, 1.0)))
    errors += mix_errors

    print("SQLite statement cycle (statements prepared once per connection and cached)")
    rows = []
    for database, prefix in (("WAL file", "BM_sqlite"), ("in-memory", "BM_sqlite_mem")):
        for query, name in (("SELECT 1", "select1"), ("indexed read", "point_read")):
            fam = prefix + "_" + name
            for threads in (1, 2, 8):
                d = ns(cycle.get((fam + "_dedicated", threads)))
                b = ns(cycle.get((fam + "_berth", threads)))
                n = ns(cycle.get((fam + "_new_conn", threads)))
                f = ns(cycle.get((fam + "_cas_floor", threads)))
                r = ns(cycle.get((fam + "_raw", threads)))
                if d is None and b is None:
                    continue
                over = "%+.1f%%" % ((b / d - 1) * 100) if b and d else "-"
                floor = "%+.1f%%" % ((f / d - 1) * 100) if f and d else "-"
                over_raw = "%+.1f%%" % ((b / r - 1) * 100) if b and r else "-"
                rows.append((database, query, threads, fmt(r), fmt(d), fmt(b), over, over_raw, floor, fmt(n)))
    report.print_table(("database", "query", "threads", "raw C API ns/op", "dedicated handle ns/op",
                        "berth pool ns/op", "berth overhead", "berth vs raw", "2-CAS floor",
                        "new connection per query ns/op"), rows, label_column=2)
    print()

    if args.interleave_rounds > 0:
        # One run per row (above) moves by several points between runs on a
        # VM whose speed drifts; blocks alternating inside one process cancel the drift.
        print("Prepared SELECT 1: berth's overhead over a dedicated handle, %d rounds of 1000 queries per variant "
              "alternating in one process (median of the rounds' ratios, 95%% interval; "
              "berth_sqlite_interleave)" % args.interleave_rounds)
        rows = []
        unlock_notify = False
        binary = os.path.join(args.bench_dir, "berth_sqlite_interleave")
        for database, db in (("WAL file", "file"), ("in-memory", "mem")):
            for threads in (1, 2):
                cmd = [binary, "--db", db, "--threads", str(threads), "--rounds", str(args.interleave_rounds)]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode != 0:
                    errors.append("%s failed (%d): %s" % (" ".join(cmd), out.returncode, out.stderr.strip()))
                    continue
                v = parse_interleave(out.stdout)
                unlock_notify = unlock_notify or "SQLITE_ENABLE_UNLOCK_NOTIFY" in out.stdout
                if "dedicated" not in v or "berth" not in v:
                    errors.append("%s: unexpected output: %s" % (" ".join(cmd), out.stdout.strip()))
                    continue
                b, f = v["berth"], v.get("cas_floor")
                rows.append((database, threads, fmt(v["dedicated"][0], 1), fmt(b[0], 1), "%+.2f%%" % b[1],
                             "%+.2f%% .. %+.2f%%" % (b[2], b[3]), "%+.2f%%" % f[1] if f else "-"))
        report.print_table(("database", "threads", "dedicated ns/query", "berth ns/query", "berth overhead",
                            "95% interval", "2-CAS floor"), rows, label_column=1)
        if unlock_notify:
            print("Note: this libsqlite3 is built with SQLITE_ENABLE_UNLOCK_NOTIFY (Debian's is), so every statement "
                  "that ends outside\nan explicit transaction takes one process-global mutex: at 2 threads the "
                  "queries queue on it and the\nrows compare contention more than the pool (BENCHMARKS.md, "
                  "\"What two threads share\").")
        print()

    print("SQLite single writer, 100 threads on berth::sqlite::database (1 writer, 4 readers, 30% writes)")
    m = mix.get(("BM_sqlite_database_mix", 100))
    escapes = None
    if m:
        escapes = int(round(m.get("busy_escapes", -1)))
        report.print_table(("operations/s", "reads/s", "writes/s", "BUSY/LOCKED escapes"),
                           [(fmt(report.rate(m)), fmt(m.get("reads")), fmt(m.get("writes")), escapes)])
    print()
    for e in errors:
        print("ERROR " + e)
    if errors or not m:
        return 1
    if escapes != 0:
        print("ERROR %s SQLITE_BUSY/LOCKED (or other errors) reached callers" % escapes)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
