#!/usr/bin/env bash
# icount.sh: instructions per cycle of the fast paths (bench/icount_driver.cpp)
# under callgrind: exact, so an A/B of two builds shows what a change costs
# where timings on a VM move by +-5 ns between runs.
# Usage: bench/icount.sh [DRIVER...]   (default build/release/bench/berth_icount_driver)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "icount.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
drivers=("$@")
[ ${#drivers[@]} -gt 0 ] || drivers=(build/release/bench/berth_icount_driver)
n=100000
for d in "${drivers[@]}"; do
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$d" "$n" >/dev/null 2>&1
  echo "== $d"
  callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
    awk -v n="$n" '/cycles_(blocking|callback|post_only) / { gsub(",", "", $1); f = $0; sub(/.*cycles_/, "cycles_", f); sub(/ .*/, "", f); printf "  %-18s %6.1f instructions per cycle\n", f, $1 / n }'
  rm -f "$out"
done
