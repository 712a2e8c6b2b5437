#!/usr/bin/env python3
"""Runs berth_cycle_bench and prints berth against the mutex pool.

Usage:
  bench/report.py build/release/bench/berth_cycle_bench [--min-time 0.2] [--filter REGEX]

Runs the binary with --benchmark_format=json (Google Benchmark 1.7.1 takes
--benchmark_min_time as plain seconds), then prints, for the 32- and
8-connection pools, one row per thread count:

  threads | berth ns/cycle | berth Mcycles/s | mutex ns/cycle | mutex Mcycles/s | speed-up

followed by the bare-CAS floor and berth's single-thread cost relative to it.

items_per_second is cycles per second of the whole pool, all threads together;
ns/cycle = 1e9 / items_per_second is the pool's time per cycle, not the
latency one thread sees. speed-up = berth cycles/s / mutex cycles/s.

Exits non-zero if the binary fails, prints no JSON, or reports a benchmark
error. Python 3 standard library only.
"""

import argparse
import json
import subprocess
import sys

# (title, berth family, mutex family)
POOLS = [
    ("pool of 32 connections", "BM_berth_cycle", "BM_mutex_pool_cycle"),
    ("pool of 8 connections (threads beyond 8 wait)", "BM_berth_cycle_pool8", "BM_mutex_pool_cycle_pool8"),
]
FLOOR = "BM_bare_cas_pair"
SINGLE_THREAD_EXTRAS = [
    ("BM_berth_try_acquire_cycle", "berth try_acquire() + release (acquire() without its deadline)"),
    ("BM_berth_try_acquire_miss", "berth try_acquire() on an exhausted pool (would_block)"),
]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binary", help="path to berth_cycle_bench")
    p.add_argument("--min-time", type=float, default=0.2,
                   help="seconds per benchmark run (--benchmark_min_time); default 0.2")
    p.add_argument("--filter", default=None,
                   help="regex passed as --benchmark_filter; default: all benchmarks")
    args = p.parse_args(argv)
    if args.min_time <= 0:
        p.error("--min-time must be > 0")
    return args


def run(args, extra_flags=()):
    """Runs args.binary and returns its JSON; extra_flags are appended to the
    command line (e.g. --benchmark_repetitions=5)."""
    cmd = [args.binary, "--benchmark_format=json", "--benchmark_min_time=%g" % args.min_time]
    if args.filter:
        cmd.append("--benchmark_filter=" + args.filter)
    cmd.extend(extra_flags)
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as e:
        sys.exit("report.py: cannot run %s: %s" % (args.binary, e))
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        sys.exit("report.py: %s exited with status %d" % (args.binary, proc.returncode))
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        sys.stderr.write(proc.stderr)
        sys.exit("report.py: %s printed no valid JSON: %s" % (args.binary, e))


def index_runs(data):
    """{(family, threads): run} for plain iteration runs (no aggregates)."""
    runs = {}
    errors = []
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        if b.get("error_occurred"):
            errors.append("%s: %s" % (b["name"], b.get("error_message", "error")))
            continue
        family = b["name"].split("/")[0]
        runs[(family, int(b.get("threads", 1)))] = b
    return runs, errors


def rate(run):
    """Cycles per second of the whole pool, or None."""
    if run is None:
        return None
    r = run.get("items_per_second")
    return r if r and r > 0 else None


def fmt_ns(r):
    return "%.1f" % (1e9 / r) if r else "-"


def fmt_mcps(r):
    return "%.2f" % (r / 1e6) if r else "-"


def print_table(header, rows, label_column=False):
    """Numbers right-aligned; with label_column, the first column left-aligned
    (an int n: the first n columns)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(cells):
        return " | ".join(str(c).ljust(w) if i < int(label_column) else str(c).rjust(w)
                          for i, (c, w) in enumerate(zip(cells, widths)))

    print(fmt(header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))


def print_context(data, args, title="berth cycle benchmark"):
    c = data.get("context", {})
    print("%s: %s" % (title, args.binary))
    print("  date %s, host %s, %s CPUs at %s MHz, CPU scaling %s, load avg %s"
          % (c.get("date", "?"), c.get("host_name", "?"), c.get("num_cpus", "?"),
             c.get("mhz_per_cpu", "?"),
             "on" if c.get("cpu_scaling_enabled") else "off",
             " ".join("%.2f" % x for x in c.get("load_avg", [])) or "?"))
    print("  Google Benchmark library build: %s; --benchmark_min_time=%g"
          % (c.get("library_build_type", "?"), args.min_time))
    if c.get("library_build_type") == "debug":
        print("  note: the benchmark *library* reports a debug build (its timing loop is inline"
              " in the header and compiled with the project's flags)")
    print()


def main(argv):
    args = parse_args(argv)
    data = run(args)
    runs, errors = index_runs(data)
    print_context(data, args)
    cpus = data.get("context", {}).get("num_cpus")

    for title, berth, mutex in POOLS:
        threads = sorted({t for (f, t) in runs if f in (berth, mutex)})
        if not threads:
            continue
        rows = []
        for t in threads:
            b = rate(runs.get((berth, t)))
            m = rate(runs.get((mutex, t)))
            speedup = "%.2fx" % (b / m) if b and m else "-"
            mark = "*" if cpus and t > cpus else ""
            rows.append([str(t) + mark, fmt_ns(b), fmt_mcps(b), fmt_ns(m), fmt_mcps(m), speedup])
        print("%s (%s vs %s)" % (title, berth, mutex))
        print_table(["threads", "berth ns/cycle", "berth Mcycles/s", "mutex ns/cycle",
                     "mutex Mcycles/s", "speed-up"], rows)
        print()

    floor = rate(runs.get((FLOOR, 1)))
    berth1 = rate(runs.get(("BM_berth_cycle", 1)))
    mutex1 = rate(runs.get(("BM_mutex_pool_cycle", 1)))
    if floor or berth1:
        print("single thread")
        rows = []
        for label, r in [("bare CAS pair (floor: CAS 0->1, CAS 1->0)", floor),
                         ("bare CAS + store (CAS 0->1, store 0)", rate(runs.get(("BM_bare_cas_store", 1)))),
                         ("berth acquire() + release, pool 32", berth1),
                         ("mutex pool acquire() + release, pool 32", mutex1)] + \
                [(label, rate(runs.get((family, 1)))) for family, label in SINGLE_THREAD_EXTRAS]:
            if r:
                rows.append([label, fmt_ns(r), fmt_mcps(r)])
        print_table(["benchmark", "ns/op", "Mops/s"], rows, label_column=True)
        if floor and berth1:
            print("berth single-thread / bare CAS pair: %.2fx (target: within 2x)" % (floor / berth1))
        print()

    if cpus:
        print("* more threads than the %s CPUs: the rows measure the pool under"
              " preemption, not parallel speed." % cpus)
    print("ns/cycle = 1e9 / items_per_second: time per cycle of the whole pool (all threads"
          " together), measured on wall-clock time per run.")
    if errors:
        print()
        for e in errors:
            print("ERROR " + e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
