#!/usr/bin/env python3
"""Runs the PostgreSQL benchmark and prints berth against no pool, on loopback and through PgBouncer.

Usage (release preset; not part of scripts/run-bench, which must stay short:
this run takes about half a minute plus the server's start):
  cmake --preset release && cmake --build --preset release --target berth_postgres_bench
  python3 bench/postgres_report.py build/release/bench [--min-time 0.5]

Runs berth_postgres_bench, which starts its own PostgreSQL 15 server on
127.0.0.1 (password authentication) and, in front of it, a PgBouncer in
transaction pooling mode (tests/support/pgbouncer.hpp; Debian package
pgbouncer, installed by scripts/deps.sh's bench list). Prints one table, a
row per route and thread count:

  route | threads | dedicated handle us/op | berth pool us/op | berth overhead | new connection per query us/op

us/op is the time per query of the whole system (all threads together, wall
clock): 1e6 / queries per second. berth overhead = berth / dedicated - 1.
Each query is `SELECT $1::int8`: on loopback a named prepared statement
(cached per connection), through PgBouncer an unnamed one, parsed on every
call (statement_mode::unnamed: transaction mode cannot keep named prepared
statements; see bench/postgres_bench.cpp), so compare the routes with each
other only roughly.

When pgbouncer is not installed, its rows are left out with a note and the
exit status stays 0. Exits non-zero if the binary fails or reports any
other error. Python 3 standard library only.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (shares the runner and table printer)

ROUTES = [
    ("loopback", "BM_pg_select1"),
    ("PgBouncer (transaction mode)", "BM_pg_select1_pgbouncer"),
]
SKIPPED = "skipped: "  # how postgres_bench.cpp marks a run it could not do


def us(run):
    r = report.rate(run)
    return 1e6 / r if r else None


def fmt(x):
    return "%.1f" % x if x is not None else "-"


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench_dir", help="directory holding berth_postgres_bench")
    p.add_argument("--min-time", type=float, default=0.5,
                   help="seconds per benchmark run (--benchmark_min_time); default 0.5")
    args = p.parse_args(argv)
    if args.min_time <= 0:
        p.error("--min-time must be > 0")

    data = report.run(argparse.Namespace(binary=os.path.join(args.bench_dir, "berth_postgres_bench"),
                                         min_time=args.min_time, filter=None))
    runs, errors = report.index_runs(data)
    notes = sorted({e.split(": ", 1)[1] for e in errors if SKIPPED in e})
    errors = [e for e in errors if SKIPPED not in e]

    c = data.get("context", {})
    print("PostgreSQL statement cycle: %s CPUs, load avg %s, --benchmark_min_time=%g"
          % (c.get("num_cpus", "?"), " ".join("%.2f" % x for x in c.get("load_avg", [])) or "?", args.min_time))
    rows = []
    for route, prefix in ROUTES:
        for threads in (1, 2, 8):
            d = us(runs.get((prefix + "_dedicated", threads)))
            b = us(runs.get((prefix + "_berth", threads)))
            n = us(runs.get((prefix + "_new_conn", threads)))
            if d is None and b is None and n is None:
                continue
            over = "%+.1f%%" % ((b / d - 1) * 100) if b and d else "-"
            rows.append((route, threads, fmt(d), fmt(b), over, fmt(n)))
    report.print_table(("route", "threads", "dedicated handle us/op", "berth pool us/op", "berth overhead",
                        "new connection per query us/op"), rows, label_column=True)
    print()
    print("us/op = 1e6 / queries per second of all threads together (wall clock); a new connection per query"
          " is measured at 1 and 2 threads only.")
    for n in notes:
        print("NOTE " + n)
    for e in errors:
        print("ERROR " + e)
    return 1 if errors or not rows else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
