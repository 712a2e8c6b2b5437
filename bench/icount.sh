#!/usr/bin/env bash
# icount.sh: instructions per cycle of the fast paths (bench/icount_driver.cpp)
# and per query of issue 8's SQLite statement cycle (bench/sqlite_icount_driver.cpp:
# the raw C API, the adapter on a dedicated connection, and through a pool)
# under callgrind: exact, so an A/B of two builds shows what a change costs
# where timings on a VM move by +-5 ns between runs.
# Usage: bench/icount.sh [DRIVER...]
#   (default build/release/bench/berth_icount_driver, and
#    build/release/bench/berth_sqlite_icount_driver when it is built)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "icount.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
drivers=("$@")
if [ ${#drivers[@]} -eq 0 ]; then
  drivers=(build/release/bench/berth_icount_driver)
  [ -x build/release/bench/berth_sqlite_icount_driver ] && drivers+=(build/release/bench/berth_sqlite_icount_driver)
fi
n=100000
for d in "${drivers[@]}"; do
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$d" "$n" >/dev/null 2>&1
  echo "== $d"
  callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
    awk -v n="$n" '
      /(cycles_(blocking|callback|post_only)|queries_(raw|dedicated|berth)) / {
        gsub(",", "", $1); f = $0; sub(/ \[.*/, "", f); sub(/.*:/, "", f)
        v[f] = $1 / n
        printf "  %-18s %8.1f instructions per %s\n", f, v[f], f ~ /^queries_/ ? "query" : "cycle"
      }
      END {
        if (("queries_dedicated" in v) && ("queries_berth" in v))
          printf "  berth on the query: %+.1f instructions, %+.2f%%\n", v["queries_berth"] - v["queries_dedicated"],
                 (v["queries_berth"] / v["queries_dedicated"] - 1) * 100
        # The floor: SQLite alone. The adapter is dedicated - raw; both
        # costs also as a share of raw, so that neither hides in the other.
        if (("queries_raw" in v) && ("queries_dedicated" in v)) {
          r = v["queries_raw"]
          printf "  adapter over raw:   %+.1f instructions, %+.2f%% of raw\n", v["queries_dedicated"] - r,
                 (v["queries_dedicated"] / r - 1) * 100
          if ("queries_berth" in v)
            printf "  berth over raw:     %+.1f instructions, %+.2f%% of raw (pool %+.2f%%, adapter %+.2f%%)\n",
                   v["queries_berth"] - r, (v["queries_berth"] / r - 1) * 100,
                   (v["queries_berth"] - v["queries_dedicated"]) / r * 100, (v["queries_dedicated"] / r - 1) * 100
        }
      }'
  rm -f "$out"
done
