#!/usr/bin/python3
"""plot_peers.py: PNG plots from the JSON that bench/peers.py --json writes.

Usage:
  /usr/bin/python3 bench/plot_peers.py peers.json [--out-dir DIR]

Writes, for each scenario (unconstrained, constrained) and hold time in the
run, into DIR (default: the JSON file's directory):
  peers_throughput_<scenario>_hold<ns>.png   total cycles/s vs threads, per pool
  peers_latency_<scenario>_hold<ns>.png      sampled acquire p99 and p99.9 vs threads
  peers_spread_<scenario>_hold<ns>.png       per-thread spread (fastest / slowest
                                             thread's cycles) vs threads
Every value is the median over the run's repetitions. A spread whose slowest
thread completed no cycle is infinite: drawn as a marker on the top edge.

Needs matplotlib: Debian's python3-matplotlib, installed for /usr/bin/python3
(scripts/deps.sh, berth_install_bench_deps). Started by another python3
without it (a pyenv one, say), the script re-runs itself with /usr/bin/python3.
"""

import argparse
import json
import os
import sys

SYSTEM_PYTHON = "/usr/bin/python3"

try:
    import matplotlib
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.access(SYSTEM_PYTHON, os.X_OK):
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("plot_peers.py: matplotlib is missing. Install Debian's python3-matplotlib "
             "(apt-get install python3-matplotlib, or scripts/deps.sh's berth_install_bench_deps) "
             f"and run this script with {SYSTEM_PYTHON}.")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

FLOORS = ("cas-pair", "cas-store")


def style(pool):
    """Line style: berth's builds thick, HikariCP black, the floors dashed."""
    if pool.startswith("berth"):
        return {"linewidth": 2.4, "marker": "o"}
    if pool == "hikaricp":
        return {"linewidth": 2.0, "marker": "D", "color": "black"}
    if pool in FLOORS:
        return {"linewidth": 1.0, "linestyle": "--", "marker": "."}
    return {"linewidth": 1.4, "marker": "s", "markersize": 4}


def series(data, pool, scenario, hold, metric):
    xs, ys = [], []
    for t in data["settings"]["threads"]:
        m = data["medians"].get(pool, {}).get(f"{scenario}/hold{hold}/T{t}")
        if m is not None:
            xs.append(t)
            ys.append(m.get(metric))
    return xs, ys


def setup_axis(ax, threads, ylabel):
    ax.set_xscale("log", base=2)
    ax.set_xticks(threads)
    ax.set_xticklabels([str(t) for t in threads])
    ax.set_xlabel("threads")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)


def title(data, scenario, hold):
    conns = "32 connections" if scenario == "unconstrained" else "connections = threads / 2"
    m = data["machine"]
    return (f"{scenario} ({conns}), hold {hold} ns\n"
            f"{m.get('nproc')} CPUs, {m.get('cpu_model')}, commit {str(m.get('git_commit'))[:10]}")


def plot_metric(data, scenario, hold, metrics, ylabel, scale, path):
    threads = data["settings"]["threads"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(7 * len(metrics), 5), squeeze=False)
    for ax, (metric, name) in zip(axes[0], metrics):
        top = []
        for pool in data["pools_run"]:
            xs, ys = series(data, pool, scenario, hold, metric)
            finite = [(x, y * scale) for x, y in zip(xs, ys) if y is not None and y > 0]
            infinite = [x for x, y in zip(xs, ys) if y is None]
            if finite:
                line, = ax.plot(*zip(*finite), label=data["labels"].get(pool, pool), **style(pool))
                top.append((infinite, line.get_color()))
            elif infinite:
                top.append((infinite, None))
        setup_axis(ax, threads, ylabel)
        ax.set_title(name)
        ymax = ax.get_ylim()[1]
        for xs, color in top:
            if xs:
                ax.plot(xs, [ymax] * len(xs), linestyle="none", marker="^", color=color, clip_on=False)
        ax.legend(fontsize=8)
    fig.suptitle(title(data, scenario, hold), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv):
    ap = argparse.ArgumentParser(description="PNG plots from bench/peers.py --json output.")
    ap.add_argument("json", help="the file bench/peers.py --json wrote")
    ap.add_argument("--out-dir", help="where to write the PNGs (default: the JSON file's directory)")
    args = ap.parse_args(argv)
    with open(args.json) as f:
        data = json.load(f)
    out_dir = args.out_dir or os.path.dirname(os.path.abspath(args.json))
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for scenario in data["settings"]["scenarios"]:
        for hold in data["settings"]["holds"]:
            tag = f"{scenario}_hold{hold}"
            jobs = [
                (f"peers_throughput_{tag}.png", [("cycles_per_s", "total cycles/s (all threads)")],
                 "M cycles/s", 1e-6),
                (f"peers_latency_{tag}.png", [("p99", "sampled acquire p99"), ("p999", "sampled acquire p99.9")],
                 "ns", 1.0),
                (f"peers_spread_{tag}.png", [("spread", "per-thread spread: fastest / slowest thread's cycles "
                                                        "(▲ = slowest did none)")], "max / min cycles", 1.0),
            ]
            for name, metrics, ylabel, scale in jobs:
                path = os.path.join(out_dir, name)
                plot_metric(data, scenario, hold, metrics, ylabel, scale, path)
                written.append(path)
    for p in written:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
