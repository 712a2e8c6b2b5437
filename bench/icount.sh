#!/usr/bin/env bash
# icount.sh: instructions per cycle of the fast paths (bench/icount_driver.cpp)
# and per query of issue 8's SQLite statement cycle (bench/sqlite_icount_driver.cpp)
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
      /(cycles_(blocking|callback|post_only)|queries_(dedicated|berth)) / {
        gsub(",", "", $1); f = $0; sub(/ \[.*/, "", f); sub(/.*:/, "", f)
        v[f] = $1 / n
        printf "  %-18s %8.1f instructions per %s\n", f, v[f], f ~ /^queries_/ ? "query" : "cycle"
      }
      END {
        if (("queries_dedicated" in v) && ("queries_berth" in v))
          printf "  berth on the query: %+.1f instructions, %+.2f%%\n", v["queries_berth"] - v["queries_dedicated"],
                 (v["queries_berth"] / v["queries_dedicated"] - 1) * 100
      }'
  rm -f "$out"
done
