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
Then the prepared SELECT 1's overhead again, measured in --ab-rounds paired
rounds of 0.1 s alternating dedicated and berth (bench/sqlite_ab.py): the
median of the rounds' ratios and its 95% interval, which a VM's drift between
two single runs does not move.
Exits non-zero if a binary fails or reports an error, or if any
SQLITE_BUSY/LOCKED reached a caller in the mix. Python 3 standard library only.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (shares the runner and table printer)
import sqlite_ab  # noqa: E402  (paired rounds)


def run_binary(path, min_time, filter=None):
    return report.run(argparse.Namespace(binary=path, min_time=min_time, filter=filter))


def ns(run):
    r = report.rate(run)
    return 1e9 / r if r else None


def fmt(x, digits=0):
    return ("%." + str(digits) + "f") % x if x is not None else "-"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench_dir", help="directory holding berth_sqlite_bench and berth_sqlite_mix_bench")
    p.add_argument("--min-time", type=float, default=0.3)
    p.add_argument("--ab-rounds", type=int, default=10,
                   help="paired rounds for the SELECT 1 overhead (bench/sqlite_ab.py); 0: skip; default 10")
    args = p.parse_args(argv)
    if 0 < args.ab_rounds < 6:
        p.error("--ab-rounds: 0 (skip) or at least 6 (a 95% interval for the median needs them)")

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

    if args.ab_rounds > 0:
        # One run per row (above) moves by several points between runs on a
        # VM whose speed drifts; short runs paired, their order alternating, cancel the drift.
        print("Prepared SELECT 1: berth's overhead over a dedicated handle in %d paired rounds of 0.1 s "
              "(median of the rounds' ratios, 95%% interval; bench/sqlite_ab.py)" % args.ab_rounds)
        rows = []
        binary = os.path.join(args.bench_dir, "berth_sqlite_bench")
        for database, prefix in (("WAL file", "BM_sqlite"), ("in-memory", "BM_sqlite_mem")):
            for threads in (1, 2):
                fam = "%s_select1_%%s/manual_time/threads:%d" % (prefix, threads)
                pairs, med, (lo, hi) = sqlite_ab.paired(binary, fam % "dedicated", fam % "berth", args.ab_rounds, 0.1)
                rows.append((database, threads, fmt(statistics.median(d for d, _ in pairs)),
                             fmt(statistics.median(b for _, b in pairs)), "%+.1f%%" % (med * 100),
                             "%+.1f%% .. %+.1f%%" % (lo * 100, hi * 100)))
        report.print_table(("database", "threads", "dedicated ns/op", "berth ns/op", "berth overhead",
                            "95% interval"), rows, label_column=1)
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
