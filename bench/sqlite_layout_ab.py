#!/usr/bin/env python3
"""sqlite_layout_ab.py: issue 8's SELECT 1 overhead (bench/sqlite_interleave.cpp)
compared between builds across code layouts and the VM's speed states.

Why: on this VM one binary's berth row moves by 1 to 3 points with where its
code lands (two lines added to the tool's main() moved it from +3% to +8%),
and the VM alternates between a fast state (a dedicated SELECT 1 at 60 to 70
ns) and a slow one (105 to 120 ns) in which the pool's cycle costs twice as
much. A change judged on one binary and one run is judged on its layout and
the minute it ran in. This script builds the interleave tool of each source
tree at several layouts (PAD bytes of code placed before everything in the
tool's translation unit, which shifts the tool and the libraries linked after
it), runs all the binaries round-robin for a while with address-space
randomization off (setarch -R, so stack and heap addresses repeat), and
prints, per build, per layout and per VM state, the median of berth's and
nullpool's overhead with its quartiles.

Usage: python3 bench/sqlite_layout_ab.py [--seconds S] [--pads 0,16,32,48]
           [--db file|mem] [--rounds R] NAME=SRC_ROOT ...
Each SRC_ROOT is a checkout (a git worktree of the commit to compare) whose
build/release tree has libberth_core.a and libberth_sqlite.a built
(`cmake --preset release && cmake --build build/release --target
berth_sqlite_interleave`). The tool is compiled with the release preset's
optimization flags (-O3 -DNDEBUG). Exit 2 on bad arguments, 1 if a build or
run fails.
"""
import argparse
import collections
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FAST_STATE_MAX_NS = 85.0  # a dedicated SELECT 1 below this: the VM's fast state


def build(name, root, pad, out_dir):
    """The interleave tool of `root` with `pad` bytes of code before its TU; returns its path."""
    rel = os.path.join(root, "build", "release")
    libs = [os.path.join(rel, "core", "libberth_core.a"), os.path.join(rel, "adapters", "sqlite", "libberth_sqlite.a")]
    for lib in libs:
        if not os.path.exists(lib):
            raise SystemExit("sqlite_layout_ab: %s is missing: build %s's release preset first" % (lib, root))
    header = os.path.join(out_dir, "pad%d.h" % pad)
    with open(header, "w") as f:
        if pad > 0:
            f.write('__attribute__((used, noinline)) static void berth_layout_pad() { asm volatile(".skip %d, 0x90"); }\n'
                    % pad)
    obj = os.path.join(out_dir, "%s_%d.o" % (name, pad))
    exe = os.path.join(out_dir, "%s_%d" % (name, pad))
    subprocess.run(["g++", "-O3", "-DNDEBUG", "-std=c++20", "-I" + os.path.join(root, "core", "include"),
                    "-I" + os.path.join(root, "adapters", "sqlite", "include"), "-I" + os.path.join(root, "bench"),
                    "-include", header, "-c", os.path.join(root, "bench", "sqlite_interleave.cpp"), "-o", obj],
                   check=True)
    stacktrace = subprocess.run(["g++", "-print-file-name=libboost_stacktrace_backtrace.so"], capture_output=True,
                                text=True, check=True).stdout.strip()
    if not os.path.isabs(stacktrace):  # g++ prints the bare name when it finds no such library
        raise SystemExit("sqlite_layout_ab: libboost_stacktrace_backtrace.so not found (apt-get install "
                         "libboost-stacktrace-dev)")
    subprocess.run(["g++", "-O3", obj, "-o", exe] + libs + [libs[0], stacktrace, "-ldl", "-lsqlite3", "-lpthread"],
                   check=True)
    return exe


def parse(out):
    """{variant: (ns/query, overhead %)} from the tool's table (dedicated's overhead is 0)."""
    v = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[0] in ("dedicated", "berth", "nullpool", "cas_floor"):
            v[f[0]] = (float(f[1]), 0.0 if f[2] == "-" else float(f[2].rstrip("%")))
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=300)
    p.add_argument("--pads", default="0,16,32,48")
    p.add_argument("--db", choices=("file", "mem"), default="file")
    p.add_argument("--rounds", type=int, default=600)
    p.add_argument("builds", nargs="+", metavar="NAME=SRC_ROOT")
    a = p.parse_args()
    try:
        pads = sorted({int(x) for x in a.pads.split(",")})
    except ValueError:
        p.error("--pads takes comma-separated byte counts, e.g. 0,16,32,48")
    if any(x < 0 or x > 4096 for x in pads):
        p.error("--pads: each between 0 and 4096")
    if not math.isfinite(a.seconds) or a.seconds <= 0 or a.rounds < 20:
        p.error("--seconds must be a positive number and --rounds at least 20")
    builds = []
    for b in a.builds:
        name, sep, root = b.partition("=")
        if not sep or not name or not os.path.isdir(root):
            p.error("%r: expected NAME=SRC_ROOT with an existing directory" % b)
        if os.sep in name or name in (n for n, _ in builds):
            p.error("%r: each NAME must be unique and contain no %r" % (b, os.sep))
        builds.append((name, os.path.abspath(root)))
    if not shutil.which("setarch"):
        raise SystemExit("sqlite_layout_ab: setarch (util-linux) is needed")
    work = tempfile.mkdtemp(prefix="berth-layout-ab-")
    try:
        exes = [((name, pad), build(name, root, pad, work)) for name, root in builds for pad in pads]
        results = collections.defaultdict(list)
        end = time.monotonic() + a.seconds
        while time.monotonic() < end:
            for key, exe in exes:
                out = subprocess.run(["setarch", "-R", exe, "--db", a.db, "--rounds", str(a.rounds)],
                                     capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit("sqlite_layout_ab: %s failed: %s" % (exe, out.stderr.strip()))
                v = parse(out.stdout)
                if not all(k in v for k in ("dedicated", "berth", "nullpool")):
                    raise SystemExit("sqlite_layout_ab: %s printed no dedicated/berth/nullpool rows:\n%s" %
                                     (exe, out.stdout))
                state = "fast" if v["dedicated"][0] < FAST_STATE_MAX_NS else "slow"
                results[(state,) + key].append((v["berth"][1], v["nullpool"][1], v["dedicated"][0]))
        print("%s database, %d rounds per run, runs alternating for %.0f s; medians (quartiles) per build, layout"
              " and VM state (fast: dedicated < %.0f ns)" % (a.db, a.rounds, a.seconds, FAST_STATE_MAX_NS))
        print("%-5s %-12s %5s %5s %12s %26s %10s" % ("state", "build", "pad", "runs", "dedicated", "berth", "nullpool"))
        for state in ("fast", "slow"):
            for key, _ in exes:
                xs = results.get((state,) + key)
                if not xs:
                    continue
                berth = sorted(x[0] for x in xs)
                q = len(berth) // 4
                print("%-5s %-12s %5d %5d %9.1f ns %+8.2f%% (%+.2f .. %+.2f) %+9.2f%%" % (
                    state, key[0], key[1], len(xs), statistics.median(x[2] for x in xs), statistics.median(berth),
                    berth[q], berth[-1 - q], statistics.median(x[1] for x in xs)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
