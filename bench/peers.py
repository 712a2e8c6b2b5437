#!/usr/bin/env python3
"""peers.py: runs berth beside its peers on one workload and tabulates them.

The orchestrator of issue 9's side-by-side harness (bench/peers/README.md
has the driver protocol). Every run is a fresh process running one driver
at one point; within each repetition the pools run one after another at
each point (A B C ... A B C ...), so machine drift hits every pool alike;
each figure is the median over the repetitions.

Points: threads {1,2,4,8,16,32,64,128} x scenario {unconstrained: 32
connections; constrained: max(1, threads/2) connections} x hold {0, 1000 ns}.

Usage:
  python3 bench/peers.py --quick                       # ~40 s summary
  python3 bench/peers.py --json peers.json --markdown peers.md [--seconds 2 --reps 3]
  python3 bench/peers.py --threads 1,8,128 --pools berth-release,mutex --reps 1 --seconds 0.2

Needs the drivers built: cmake --preset release && cmake --build --preset
release --target berth_peers. A pool whose driver is missing (SOCI without
libsoci-dev, HikariCP without bench/peers/hikaricp/run-hikaricp) is skipped
with a note. Prints the tables (markdown) on stdout and progress on stderr.
Exits non-zero if any run failed or reported errors. Python 3 standard
library only.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# id -> (label, driver path relative to <build>/bench/peers, CMake target).
# The HikariCP driver is a script in the source tree (bench/peers/hikaricp).
CPP_POOLS = {
    "berth-O2": ("berth -O2", "user_flags/berth_peer_berth_O2", "berth_peer_berth_O2"),
    "berth-O2-NDEBUG": ("berth -O2 -DNDEBUG", "user_flags/berth_peer_berth_O2_NDEBUG", "berth_peer_berth_O2_NDEBUG"),
    "berth-release": ("berth release", "berth_peer_berth_release", "berth_peer_berth_release"),
    "mutex": ("mutex pool", "berth_peer_mutex", "berth_peer_mutex"),
    "moodycamel": ("moodycamel queue", "berth_peer_moodycamel", "berth_peer_moodycamel"),
    "soci": ("SOCI", "berth_peer_soci", "berth_peer_soci"),
    "cas-pair": ("CAS pair (floor)", "berth_peer_cas_pair", "berth_peer_cas_pair"),
    "cas-store": ("CAS + store (floor)", "berth_peer_cas_store", "berth_peer_cas_store"),
}
HIKARI = "hikaricp"
HIKARI_SCRIPT = os.path.join(REPO, "bench", "peers", "hikaricp", "run-hikaricp")
ALL_POOLS = list(CPP_POOLS) + [HIKARI]
LABELS = {**{k: v[0] for k, v in CPP_POOLS.items()}, HIKARI: "HikariCP"}
# Source file of each C++ driver, to find its compile command.
DRIVER_SOURCE = {
    "berth-O2": "berth_peer.cpp", "berth-O2-NDEBUG": "berth_peer.cpp", "berth-release": "berth_peer.cpp",
    "mutex": "mutex_peer.cpp", "moodycamel": "moodycamel_peer.cpp", "soci": "soci_peer.cpp",
    "cas-pair": "cas_peer.cpp", "cas-store": "cas_peer.cpp",
}
REFERENCE = "berth-release"

THREADS = [1, 2, 4, 8, 16, 32, 64, 128]
SCENARIOS = ["unconstrained", "constrained"]
HOLDS = [0, 1000]
QUICK_THREADS = [1, 8, 128]
QUICK_POOLS = ["berth-O2", "berth-O2-NDEBUG", "berth-release", "mutex", HIKARI]
QUICK_SECONDS = 0.3
QUICK_WARMUP = 0.1
QUICK_HIKARI_WARMUP = 2.0
# Assumed for the time estimate when --hikari-warmup is not given.
HIKARI_WARMUP_GUESS = 5.0


def connections_for(scenario, threads):
    return 32 if scenario == "unconstrained" else max(1, threads // 2)


def int_list(s):
    return [int(x) for x in s.split(",") if x]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "release"),
                    help="the release preset's build directory (default build/release)")
    ap.add_argument("--seconds", type=float, help="measured seconds per run (default 2, --quick 0.3)")
    ap.add_argument("--warmup", type=float,
                    help="C++ drivers' warm-up seconds (default: the drivers' 0.2, --quick 0.1)")
    ap.add_argument("--hikari-warmup", type=float,
                    help="HikariCP driver's warm-up seconds (default: the driver's own, --quick 2)")
    ap.add_argument("--reps", type=int, help="repetitions (default 3, --quick 1); medians over them")
    ap.add_argument("--threads", type=int_list, help="thread counts, e.g. 1,8,128 (default 1..128)")
    ap.add_argument("--holds", type=int_list, help="hold times in ns, e.g. 0,1000 (default both)")
    ap.add_argument("--scenarios", help="unconstrained,constrained (default both)")
    ap.add_argument("--pools", help="comma-separated subset of: " + ",".join(ALL_POOLS))
    ap.add_argument("--quick", action="store_true",
                    help="short summary: threads 1,8,128, hold 0, berth x3 + mutex + HikariCP, 1 rep, 0.3 s")
    ap.add_argument("--json", metavar="OUT", help="write every run, the medians and the machine here")
    ap.add_argument("--markdown", metavar="OUT", help="write the tables here")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds a run may take beyond its warm-up and window (default 120)")
    a = ap.parse_args(argv)
    q = a.quick
    a.seconds = a.seconds if a.seconds is not None else (QUICK_SECONDS if q else 2.0)
    a.warmup = a.warmup if a.warmup is not None else (QUICK_WARMUP if q else None)
    a.hikari_warmup = a.hikari_warmup if a.hikari_warmup is not None else (QUICK_HIKARI_WARMUP if q else None)
    a.reps = a.reps if a.reps is not None else (1 if q else 3)
    a.threads = a.threads or (QUICK_THREADS if q else THREADS)
    a.holds = a.holds if a.holds is not None else ([0] if q else HOLDS)
    a.scenarios = a.scenarios.split(",") if a.scenarios else SCENARIOS
    a.pools = a.pools.split(",") if a.pools else (QUICK_POOLS if q else ALL_POOLS)
    for p in a.pools:
        if p not in ALL_POOLS:
            ap.error(f"unknown pool {p!r}; known: {', '.join(ALL_POOLS)}")
    for s in a.scenarios:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; known: {', '.join(SCENARIOS)}")
    if a.reps < 1 or a.seconds <= 0 or any(t < 1 for t in a.threads) or any(h < 0 for h in a.holds):
        ap.error("reps and threads must be >= 1, seconds > 0, holds >= 0")
    return a


# ---- the machine ------------------------------------------------------------------------------

def command_output(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def compile_flags(build_dir):
    """pool id -> the driver's compile command (from compile_commands.json),
    without the per-file output and dependency-file arguments."""
    path = os.path.join(build_dir, "compile_commands.json")
    try:
        with open(path) as f:
            entries = json.load(f)
    except (OSError, ValueError):
        return {}
    out = {}

    def clean(cmd):
        toks, keep, skip = shlex.split(cmd), [], False
        for t in toks[1:]:
            if skip:
                skip = False
            elif t in ("-o", "-MT", "-MF", "-c"):
                skip = True
            elif t != "-MD":
                keep.append(t)
        return " ".join([os.path.basename(toks[0])] + keep)

    targets = {pid: CPP_POOLS[pid][2] for pid in CPP_POOLS}
    targets["berth_core (linked by berth-release)"] = "berth_core"
    for pid, target in targets.items():
        src = DRIVER_SOURCE.get(pid, "pool_core.cpp")
        for e in entries:
            cmd = e.get("command") or " ".join(e.get("arguments", []))
            if f"/{target}.dir/" in cmd and e.get("file", "").endswith("/" + src):
                out[pid] = clean(cmd)
                break
    return out


def machine_info(build_dir, pools):
    m = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": cpu_model(),
        "compiler": (command_output(["g++", "--version"]) or "").splitlines()[:1],
        "git_commit": command_output(["git", "-C", REPO, "rev-parse", "HEAD"]),
        "git_dirty": bool(command_output(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])),
        "flags": compile_flags(build_dir),
    }
    m["compiler"] = m["compiler"][0] if m["compiler"] else None
    if HIKARI in pools:
        java = command_output(["java", "-version"])
        m["java"] = java.splitlines()[0] if java else None
    return m


# ---- running --------------------------------------------------------------------------------

def driver_command(pool, args):
    """(argv prefix, None) or (None, why it is skipped)."""
    if pool == HIKARI:
        if os.path.isfile(HIKARI_SCRIPT) and os.access(HIKARI_SCRIPT, os.X_OK):
            return [HIKARI_SCRIPT], None
        return None, ("bench/peers/hikaricp/run-hikaricp is missing or not executable: HikariCP skipped "
                      "(it needs openjdk-17-jdk-headless, libhikaricp-java and libslf4j-java: "
                      "scripts/deps.sh berth_install_bench_deps)")
    path = os.path.join(args.build_dir, "bench", "peers", CPP_POOLS[pool][1])
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return [path], None
    why = f"{os.path.relpath(path, REPO)} not built"
    if pool == "soci":
        why += (" (SOCI not found at configure time: install libsoci-dev, re-run cmake --preset release,"
                " build berth_peers): SOCI skipped")
    else:
        why += " (cmake --build --preset release --target berth_peers)"
    return None, why


def run_one(prefix, pool, threads, conns, hold, args):
    cmd = prefix + ["--threads", str(threads), "--connections", str(conns), "--hold-ns", str(hold),
                    "--seconds", str(args.seconds)]
    warm = args.hikari_warmup if pool == HIKARI else args.warmup
    if warm is not None:
        cmd += ["--warmup-seconds", str(warm)]
    limit = args.seconds + (warm if warm is not None else 30.0) + args.timeout
    rec = {"pool": pool, "threads": threads, "connections": conns, "hold_ns": hold, "command": cmd[1:]}
    t0 = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        rec["failure"] = f"timed out after {limit:.0f} s"
        return rec
    rec["process_seconds"] = round(time.monotonic() - t0, 3)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    if r.returncode != 0 or len(lines) != 1:
        rec["failure"] = (f"exit {r.returncode}, {len(lines)} stdout lines; stderr: "
                          + r.stderr.strip()[-500:])
        return rec
    try:
        rec["result"] = json.loads(lines[0])
    except ValueError as e:
        rec["failure"] = f"bad JSON ({e}): {lines[0][:200]}"
    return rec


def estimate_seconds(args, pools, npoints):
    per = {p: args.seconds + (args.warmup if args.warmup is not None else 0.2) + 0.1 for p in pools}
    if HIKARI in pools:
        per[HIKARI] = args.seconds + (args.hikari_warmup if args.hikari_warmup is not None
                                      else HIKARI_WARMUP_GUESS) + 0.7
    return args.reps * npoints * sum(per.values())


# ---- summaries ------------------------------------------------------------------------------

def run_metrics(res):
    per = sorted(res["per_thread_cycles"])
    med = statistics.median(per) if per else 0
    lo, hi = (per[0], per[-1]) if per else (0, 0)
    lat = res.get("latency_ns", {})
    return {
        "cycles_per_s": res["cycles_per_s"],
        "p50": lat.get("p50"), "p99": lat.get("p99"), "p999": lat.get("p999"), "max": lat.get("max"),
        "thread_min": lo, "thread_median": med, "thread_max": hi,
        "spread": (hi / lo) if lo > 0 else float("inf"),
        "share_below_tenth": (sum(1 for c in per if c < med / 10) / len(per)) if per else 0.0,
        "errors": res.get("errors", 0),
    }


def median_metrics(runs):
    ms = [run_metrics(r["result"]) for r in runs if "result" in r]
    if not ms:
        return None
    out = {}
    for k in ms[0]:
        vals = [m[k] for m in ms if m[k] is not None]
        out[k] = statistics.median(vals) if vals else None
    out["runs"] = len(ms)
    return out


def point_key(scenario, hold, threads):
    return f"{scenario}/hold{hold}/T{threads}"


def jsonable(x):
    """inf (a spread whose slowest thread did nothing) becomes null in JSON."""
    if isinstance(x, float) and x == float("inf"):
        return None
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    return x


def fmt_ns(ns):
    if ns is None:
        return "-"
    if ns < 10_000:
        return f"{ns:.0f}"
    if ns < 10_000_000:
        return f"{ns / 1e3:.0f}µ"
    return f"{ns / 1e6:.0f}m"


def fmt_count(n):
    if n is None:
        return "-"
    if n >= 10_000_000:
        return f"{n / 1e6:.0f}M"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k"
    return f"{n:.0f}"


def fmt_spread(x):
    if x is None or x == float("inf"):
        return "∞"
    return f"{x:.1f}x" if x < 100 else fmt_count(x) + "x"


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(data, brief=False):
    """The tables; brief (--quick) leaves out the per-thread cycle counts (the spread stays)."""
    m, pools = data["machine"], data["pools_run"]
    out = ["# berth beside its peers (bench/peers.py)", ""]
    out.append(f"- Machine: {m['nproc']} CPUs, {m['cpu_model']}; {m['compiler']}"
               + (f"; {m['java']}" if m.get("java") else ""))
    out.append(f"- Commit: {m['git_commit']}" + (" (with uncommitted changes)" if m["git_dirty"] else "")
               + f"; {m['date']}")
    out.append(f"- Command: `{data['command']}`")
    st = data["settings"]
    out.append(f"- {st['reps']} repetition(s), {st['seconds']} s measured per run, pools interleaved; "
               "medians over repetitions. Connections: unconstrained 32, constrained max(1, threads/2).")
    # Flags that change code (no warnings, includes or definitions of the harness itself), grouped.
    groups = {}
    for pid, flags in m["flags"].items():
        short = " ".join(t for t in flags.split()
                         if not t.startswith(("-W", "-I", "-DBERTH_PEER_", "-DBOOST_")))
        groups.setdefault(short, []).append(pid)
    for short, pids in groups.items():
        out.append(f"- Compiled as `{short}`: {', '.join(pids)} (full commands in the JSON)"
                   + ("; SOCI's library is Debian's build" if "soci" in pids else ""))
    for w in data.get("warnings", []):
        out.append(f"- **Warning**: {w}")
    for note in data["skipped"].values():
        out.append(f"- Skipped: {note}")
    mem = data.get("memory")
    if mem and "result" in mem:
        r = mem["result"]
        out.append(f"- Memory (berth_peer_memory): {r['heap_bytes_per_slot_beyond_connection']:.0f} heap bytes "
                   f"per slot beyond the connection (slot metadata {r['slot_meta_bytes']}, connection wrapper "
                   f"{r['connection_wrapper_bytes']}, idle ring {r['ring_bytes_per_slot']:.0f}, other "
                   f"{r['other_bytes_per_slot']:.0f}); a pool of {r['connections']} null connections: VmRSS "
                   f"{r['rss_before_kb']} -> {r['rss_after_kb']} kB ({r['rss_delta_bytes_per_connection']:.0f} "
                   "bytes per connection)")
    out.append("")
    out.append("Latency cells: sampled acquire p50 / p99 / p99.9 / max in ns (µ = µs, m = ms), 1 acquire in 64 "
               "timed; each includes one clock read (the C++ drivers report its cost as timer_ns in the JSON); starving threads take fewer samples. Per-thread cells: cycles of the slowest / median / "
               "fastest thread. Spread = fastest / slowest; starved = share of threads below a tenth of the "
               "median.")
    med = data["medians"]
    labels = [LABELS[p] for p in pools]
    for scenario in st["scenarios"]:
        for hold in st["holds"]:
            keys = [(t, point_key(scenario, hold, t)) for t in st["threads"]]
            conn = lambda t: connections_for(scenario, t)
            cell = lambda pool, key: (med.get(pool) or {}).get(key)
            out += ["", f"## {scenario}, hold {hold} ns", ""]
            rows = [[f"{t} ({conn(t)})"] + [f"{c['cycles_per_s'] / 1e6:.1f}" if (c := cell(p, k)) else "-"
                                             for p in pools] for t, k in keys]
            out += ["Total cycles/s (M), threads (connections):", "", table(["threads"] + labels, rows), ""]
            for ref, name in ((REFERENCE, LABELS[REFERENCE]), (HIKARI, "HikariCP")):
                if ref not in pools:
                    continue
                rows = []
                for t, k in keys:
                    r = cell(ref, k)
                    rows.append([str(t)] + [f"{c['cycles_per_s'] / r['cycles_per_s']:.2f}"
                                            if (c := cell(p, k)) and r and r["cycles_per_s"] else "-"
                                            for p in pools])
                out += [f"Cycles/s relative to {name}:", "", table(["threads"] + labels, rows), ""]
            rows = [[str(t)] + [" / ".join(fmt_ns(c[x]) for x in ("p50", "p99", "p999", "max"))
                                if (c := cell(p, k)) else "-" for p in pools] for t, k in keys]
            out += ["Acquire latency, ns (p50 / p99 / p99.9 / max):", "", table(["threads"] + labels, rows), ""]
            rows = [[str(t)] + [" / ".join(fmt_count(c[x]) for x in ("thread_min", "thread_median", "thread_max"))
                                if (c := cell(p, k)) else "-" for p in pools] for t, k in keys]
            if not brief:
                out += ["Per-thread cycles (slowest / median / fastest):", "", table(["threads"] + labels, rows), ""]
            rows = [[str(t)] + [(fmt_spread(c["spread"])
                                 + f", {c['share_below_tenth'] * 100:.0f}%") if (c := cell(p, k)) else "-"
                                for p in pools] for t, k in keys]
            out += ["Per-thread spread, starved:", "", table(["threads"] + labels, rows)]
            if brief:
                # A 0.3 s window is shorter than the scheduler's rotation
                # through 128 runnable threads on 2 cores: some have not run.
                out += ["", "(--quick: with windows this short, threads that the OS has not yet scheduled count "
                        "as starved; judge fairness by the full run, BENCHMARKS.md.)"]
    return "\n".join(out) + "\n"


# ---- main -----------------------------------------------------------------------------------

def main(argv):
    args = parse_args(argv)
    prefixes, skipped = {}, {}
    for p in args.pools:
        prefix, why = driver_command(p, args)
        if prefix:
            prefixes[p] = prefix
        else:
            skipped[p] = why
            print(f"peers: {why}", file=sys.stderr)
    pools = [p for p in args.pools if p in prefixes]
    if not pools:
        print("peers: no driver to run", file=sys.stderr)
        return 1
    points = [(s, h, t) for s in args.scenarios for h in args.holds for t in args.threads]
    total = args.reps * len(points) * len(pools)
    est = estimate_seconds(args, pools, len(points))
    print(f"peers: {total} runs ({len(pools)} pools x {len(points)} points x {args.reps} reps), "
          f"about {est / 60:.1f} min", file=sys.stderr)

    data = {"command": "python3 bench/peers.py " + " ".join(shlex.quote(a) for a in argv),
            "machine": machine_info(args.build_dir, pools),
            "settings": {"seconds": args.seconds, "warmup": args.warmup, "hikari_warmup": args.hikari_warmup,
                         "reps": args.reps, "threads": args.threads, "holds": args.holds,
                         "scenarios": args.scenarios},
            "pools_run": pools, "labels": {p: LABELS[p] for p in pools}, "skipped": skipped, "runs": []}

    mem_path = os.path.join(args.build_dir, "bench", "peers", "berth_peer_memory")
    if os.access(mem_path, os.X_OK):
        r = subprocess.run([mem_path], capture_output=True, text=True, timeout=120)
        try:
            data["memory"] = {"result": json.loads(r.stdout.strip().splitlines()[-1])}
        except (ValueError, IndexError):
            data["memory"] = {"failure": f"exit {r.returncode}: {r.stderr.strip()[-300:]}"}
    else:
        data["memory"] = {"failure": "berth_peer_memory not built"}

    failures, n, t_start = 0, 0, time.monotonic()
    for rep in range(args.reps):
        for scenario, hold, threads in points:
            conns = connections_for(scenario, threads)
            for pool in pools:
                n += 1
                rec = run_one(prefixes[pool], pool, threads, conns, hold, args)
                rec.update(rep=rep, scenario=scenario)
                data["runs"].append(rec)
                res = rec.get("result")
                if res is None or res.get("errors", 0):
                    failures += 1
                what = (f"{res['cycles_per_s'] / 1e6:8.2f} M/s  p99.9 {fmt_ns(res['latency_ns']['p999'])}"
                        + (f"  ERRORS {res['errors']}" if res.get("errors") else "")) if res else \
                    "FAILED: " + rec["failure"]
                print(f"[{n}/{total} {time.monotonic() - t_start:5.0f}s] rep {rep + 1} {scenario:13} "
                      f"hold {hold:4} T {threads:3} C {conns:2} {pool:16} {what}", file=sys.stderr)

    # Only release-preset numbers may be quoted: flag any driver built otherwise.
    warnings = sorted({f"{r['pool']} was built as {r['result'].get('variant')!r}, not 'release': "
                       "build with the release preset before quoting these numbers"
                       for r in data["runs"] if "result" in r and r["pool"] in CPP_POOLS
                       and not r["pool"].startswith("berth-O2") and r["result"].get("variant") != "release"})
    for w in warnings:
        print(f"peers: WARNING: {w}", file=sys.stderr)
    data["warnings"] = warnings

    medians = {}
    for pool in pools:
        for scenario, hold, threads in points:
            runs = [r for r in data["runs"] if r["pool"] == pool and r["scenario"] == scenario
                    and r["hold_ns"] == hold and r["threads"] == threads]
            mm = median_metrics(runs)
            if mm:
                medians.setdefault(pool, {})[point_key(scenario, hold, threads)] = mm
    data["medians"] = medians
    ratios = {}
    for pool in pools:
        for key, mm in medians.get(pool, {}).items():
            for ref, name in ((REFERENCE, "to_berth_release"), (HIKARI, "to_hikaricp")):
                r = medians.get(ref, {}).get(key)
                if r and r["cycles_per_s"]:
                    ratios.setdefault(pool, {}).setdefault(key, {})[name] = mm["cycles_per_s"] / r["cycles_per_s"]
    data["ratios"] = ratios

    md = markdown(data, brief=args.quick)
    sys.stdout.write(md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(jsonable(data), f, indent=1)
            f.write("\n")
    print(f"peers: done in {time.monotonic() - t_start:.0f} s; {failures} failed or erroring run(s)",
          file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
