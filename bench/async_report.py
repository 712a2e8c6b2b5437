#!/usr/bin/env python3
"""Runs berth_async_bench and prints async acquire beside blocking acquire.

Usage:
  bench/async_report.py build/release/bench/berth_async_bench [--repetitions 5] [--min-time 0.3]
                        [--filter REGEX]

Runs the binary with --benchmark_format=json, --benchmark_repetitions and
--benchmark_min_time (Google Benchmark 1.7.1 takes plain seconds), takes the
median of the repetitions of every number, and prints:

  1. The fast path (one thread, a connection idle): ns per acquire + release
     cycle of each variant, its ratio to BM_blocking_cycle, and allocations
     per cycle. Variants that go through an executor are also shown net of
     that executor's own post + run (BM_executor_post_only, BM_asio_post_only,
     BM_asio_awaitable_post_only), which is the user's event loop's cost, not
     berth's.
  2. Issue 10's target, "the async fast path within 10% of the blocking fast
     path", for the coroutine and the callback paths (see TARGET_NOTE).
  3. Wait latency: the hand-off ping-pong on a pool of one connection, per
     waiter kind, mode and hold: the round trip, hand-offs per second and the
     release-to-receipt latency (mean, p50, p99).

ns/cycle = 1e9 / items_per_second. Exits non-zero if the binary fails,
prints no JSON or reports an error. Python 3 standard library only.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (shares the runner and table printer)

TARGET = 1.10  # issue 10: within 10% of the blocking fast path

# Which path the target applies to, and why (printed under the verdicts).
# The coroutine path is the like-for-like one: with a connection idle,
# co_await pool.acquire_async() takes it in await_ready() and does not
# suspend, so the cycle holds no executor hop, just as acquire() holds none.
# The callback path cannot be compared raw: berth never completes inline
# (executor.hpp), so every callback acquire includes one post + run on the
# user's executor, a cost the blocking path does not have and berth does not
# control; its verdict is therefore given net of that executor's own post +
# run of a task of the same size.
TARGET_NOTE = [
    "The target applies to the coroutine path as it stands: with a connection idle, co_await",
    "acquire_async() takes it in await_ready() and does not suspend, so there is no executor hop",
    "and the cycle compares directly with acquire(). GCC keeps a coroutine's locals in its frame,",
    "so the same loop costs more inside a coroutine whatever it calls; the second coroutine line",
    "compares with acquire() called in the same coroutine, which isolates the awaiter's own cost.",
    "The callback path always includes one post + run on the user's executor (berth never",
    "completes inline, by contract), which the blocking path does not have: its raw ratio is",
    "shown, but the target is judged net of that executor's own post + run (a task of the same size).",
]

# (label, benchmark, executor baseline or None)
FAST_PATH = [
    ("blocking: acquire() + release", "BM_blocking_cycle", None),
    ("coroutine: co_await acquire_async()", "BM_coroutine_cycle", None),
    ("coroutine control: acquire() in the same coroutine loop", "BM_coroutine_blocking_cycle", None),
    ("callback: async_acquire() + ring executor", "BM_callback_cycle", "BM_executor_post_only"),
    ("  ring executor alone: post + run a trivial task", "BM_executor_post_only", None),
    ("asio callback: berth::asio::async_acquire, chained", "BM_asio_callback_cycle", "BM_asio_post_only"),
    ("  asio alone: asio::post + run, chained", "BM_asio_post_only", None),
    ("asio awaitable: co_await async_acquire(use_awaitable)", "BM_asio_awaitable_cycle", "BM_asio_awaitable_post_only"),
    ("  asio alone: co_await asio::post(use_awaitable)", "BM_asio_awaitable_post_only", None),
]
BASELINE = "BM_blocking_cycle"

HANDOFF = [
    ("blocking: acquire()", "BM_handoff_blocking"),
    ("async: cv executor, deadline", "BM_handoff_async"),
    ("async: cv executor, no deadline", "BM_handoff_async_no_deadline"),
    ("asio: io_context, deadline", "BM_handoff_asio"),
]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("binary", help="path to berth_async_bench")
    p.add_argument("--repetitions", type=int, default=5, help="--benchmark_repetitions; default 5")
    p.add_argument("--min-time", type=float, default=0.3,
                   help="seconds per repetition (--benchmark_min_time); default 0.3")
    p.add_argument("--filter", default=None, help="regex passed as --benchmark_filter; default: all")
    args = p.parse_args(argv)
    if args.min_time <= 0 or args.repetitions < 1:
        p.error("--min-time must be > 0 and --repetitions >= 1")
    return args


def base_name(run):
    """The benchmark's name with its arguments, without the timing suffix:
    BM_handoff_async/strict:0/hold_us:20."""
    name = run.get("run_name", run["name"])
    for suffix in ("/real_time", "/manual_time"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def medians(data):
    """{name: {field: median over repetitions}} of the iteration runs, and
    the errors reported."""
    reps, errors = {}, []
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue  # Google Benchmark's own aggregates: recomputed below for every field
        if b.get("error_occurred"):
            errors.append("%s: %s" % (b["name"], b.get("error_message", "error")))
            continue
        reps.setdefault(base_name(b), []).append(b)
    out = {}
    for name, runs in reps.items():
        fields = {}
        for key in set().union(*runs):
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
            if len(values) == len(runs):
                fields[key] = statistics.median(values)
        fields["repetitions"] = len(runs)
        out[name] = fields
    return out, errors


def ns_per_item(m):
    r = m.get("items_per_second") if m else None
    return 1e9 / r if r else None


def fmt(x, digits=1, suffix=""):
    return ("%." + str(digits) + "f%s") % (x, suffix) if x is not None else "-"


def ratio(x, base):
    return x / base if x is not None and base else None


def print_fast_path(m):
    base = ns_per_item(m.get(BASELINE))
    rows = []
    for label, name, executor in FAST_PATH:
        ns = ns_per_item(m.get(name))
        if ns is None:
            continue
        allocs = m[name].get("allocs_per_cycle")
        rows.append([label, fmt(ns), fmt(ratio(ns, base), 2, "x"), fmt(allocs, 3) if allocs is not None else "-"])
        if executor:
            ex = ns_per_item(m.get(executor))
            if ex is not None:
                rows.append(["  net of the executor's post + run", fmt(ns - ex), fmt(ratio(ns - ex, base), 2, "x"), ""])
    print("Fast path: one thread, pool of 32 null connections, a connection idle (medians)")
    report.print_table(["variant", "ns/cycle", "vs blocking", "allocs/cycle"], rows, label_column=True)
    allocating = [name for _, name, _ in FAST_PATH
                  if name in m and (m[name].get("allocs_per_cycle") or 0) > 0.01]
    if allocating:
        print("ALLOCATES on the fast path (allocs/cycle > 0.01): " + ", ".join(allocating))
    print()


def verdict(r):
    if r is None:
        return "-"
    return "met" if r <= TARGET else "missed"


def print_target(m):
    base = ns_per_item(m.get(BASELINE))
    coro = ns_per_item(m.get("BM_coroutine_cycle"))
    coro_ctl = ns_per_item(m.get("BM_coroutine_blocking_cycle"))
    cb = ns_per_item(m.get("BM_callback_cycle"))
    ex = ns_per_item(m.get("BM_executor_post_only"))
    rows = []
    r = ratio(coro, base)
    rows.append(["coroutine vs acquire()", fmt(r, 2, "x"), verdict(r)])
    r = ratio(coro, coro_ctl)
    rows.append(["coroutine vs acquire() in the same coroutine (the awaiter's own cost)", fmt(r, 2, "x"), verdict(r)])
    r = ratio(cb, base)
    rows.append(["callback vs acquire(), raw (includes one executor post + run)", fmt(r, 2, "x"), "n/a"])
    r = ratio(cb - ex, base) if cb is not None and ex is not None else None
    rows.append(["callback net of the executor's post + run vs acquire()", fmt(r, 2, "x"), verdict(r)])
    print("Issue 10's target: the async fast path within %d%% of the blocking fast path (ratio <= %.2f)"
          % (round((TARGET - 1) * 100), TARGET))
    report.print_table(["path", "ratio", "target"], rows, label_column=True)
    for line in TARGET_NOTE:
        print("  " + line)
    print()


def print_handoff(m):
    rows = []
    for label, family in HANDOFF:
        for strict in (0, 1):
            for hold in (0, 20):
                h = m.get("%s/strict:%d/hold_us:%d" % (family, strict, hold))
                if not h:
                    continue
                base = m.get("BM_handoff_blocking/strict:%d/hold_us:%d" % (strict, hold))
                p50, base_p50 = h.get("handoff_p50_ns"), base.get("handoff_p50_ns") if base else None
                us = (lambda ns: ns / 1e3 if ns is not None else None)
                rows.append([label, "strict" if strict else "throughput", "%d us" % hold,
                             fmt(us(h.get("real_time")), 2), fmt((h.get("items_per_second") or 0) / 1e3, 1),
                             fmt(us(h.get("handoff_mean_ns")), 2), fmt(us(p50), 2),
                             fmt(us(h.get("handoff_p99_ns")), 2), fmt(ratio(p50, base_p50), 2, "x")])
    if not rows:
        return
    print("Wait latency: two parties hand a pool's only connection back and forth (medians)")
    report.print_table(["waiter", "mode", "hold", "round trip us", "k hand-offs/s", "mean us", "p50 us",
                        "p99 us", "p50 vs blocking"], rows, label_column=3)
    print("  latency: from the releaser's stamp just before release() to the waiter holding the lease")
    print("  (acquire() returned, or the handler entered). mode: throughput = default handoff_after (the")
    print("  release wakes the head waiter, which takes the connection); strict = handoff_after 0 (the")
    print("  releaser hands it over under the pool's mutex). hold 20 us: the holder keeps the connection")
    print("  20 us after the other party queued, so that party is asleep when the release comes; hold 0:")
    print("  it may still be on its way to sleep (the saturated round trip).")
    print()


def main(argv):
    args = parse_args(argv)
    data = report.run(args, ["--benchmark_repetitions=%d" % args.repetitions])
    m, errors = medians(data)
    report.print_context(data, args, title="berth async acquire benchmark")
    print("  medians of %d repetitions" % args.repetitions)
    print()
    if BASELINE in m:
        print_fast_path(m)
        print_target(m)
    print_handoff(m)
    for e in errors:
        print("ERROR " + e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
