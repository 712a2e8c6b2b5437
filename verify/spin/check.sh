#!/usr/bin/env bash
# check.sh: model-checks the hand-off protocol (handoff.pml) with spin, over
# every interleaving of each configuration below (exhaustive searches:
# -DCOLLAPSE compresses states losslessly; no bit-state hashing).
#   current protocol:  every configuration must pass (no assertion fails, no
#                      invalid end state, the search complete).
#   -DPRE_FIX (9b69ded): spin must report the lost wake-up, and the trail
#                      must be the interleaving of the regression test it
#                      corresponds to (waiter_queue_test.cpp); the trail is
#                      kept and its key steps printed.
# Exits non-zero on any other outcome. See README.md beside it.
# Usage: verify/spin/check.sh [--full] [--out DIR]
#   --full  also the larger configurations (minutes, not for CI)
#   --out   keep the work files (pan sources, trails) in DIR; default: a
#           temporary directory, removed at exit (the pre-fix trails are
#           printed either way)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
full=0
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --full) full=1 ;;
    --out) out=$2; shift ;;
    *) echo "check.sh: unknown argument '$1' (usage: check.sh [--full] [--out DIR])" >&2; exit 2 ;;
  esac
  shift
done

for tool in spin gcc; do
  if ! command -v "$tool" >/dev/null; then
    echo "check.sh: '$tool' not found (Debian packages spin and gcc; scripts/deps.sh installs them)" >&2
    exit 2
  fi
done

if [ -z "$out" ]; then
  out=$(mktemp -d "${TMPDIR:-/tmp}/berth-spin.XXXXXX")
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The machine is shared: lowest priority for the compiler and the search.
run_low() { nice -n 19 "$@"; }

failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# prepare NAME DEFINES...: a work directory with the model and pan.c.
prepare() {
  local name=$1; shift
  local dir=$out/$name
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$here/handoff.pml" "$dir/"
  (cd "$dir" && spin "$@" -a handoff.pml >spin.log 2>&1) || { cat "$dir/spin.log"; return 1; }
}

# search NAME MODE(safety|cycles|bug) MEMLIM_MB DEFINES...: compiles pan
# and runs it; leaves pan.out. Returns non-zero if the search was cut short
# (except by the error a bug search looks for).
search() {
  local name=$1 mode=$2 mem=$3; shift 3
  local dir=$out/$name
  prepare "$name" "$@" || return 1
  local cflags=(-O0 -DCOLLAPSE "-DMEMLIM=$mem") runflags=(-m400000 -w22)
  if [ "$mode" = cycles ]; then
    cflags+=(-DNP) runflags+=(-l)  # no progress label: any cycle is reported
  else
    cflags+=(-DSAFETY)
  fi
  (cd "$dir" && run_low gcc "${cflags[@]}" -o pan pan.c 2>gcc.log) || { cat "$dir/gcc.log"; return 1; }
  (cd "$dir" && run_low ./pan "${runflags[@]}" >pan.out 2>&1) || true
  # An error found also ends the search ("Search not completed"): that is
  # a result, not a cut.
  local cut="max search depth too small|reached -DMEMLIM bound|out of memory"
  grep -q "errors: 0" "$dir/pan.out" && cut="$cut|Search not completed"
  if grep -qE "$cut" "$dir/pan.out"; then
    grep -E "$cut" "$dir/pan.out" | head -3
    return 1
  fi
}

summary() {  # NAME: states and time of a finished search
  local f=$out/$1/pan.out
  local states time
  states=$(awk '/states, stored/ {print $1; exit}' "$f")
  time=$(awk '/pan: elapsed time/ {print $4; exit}' "$f")
  echo "${states:-?} states, ${time:-?} s"
}

# expect_pass NAME MODE MEMLIM DEFINES...
expect_pass() {
  local name=$1 mode=$2 mem=$3; shift 3
  if ! search "$name" "$mode" "$mem" "$@"; then
    fail "$name: search incomplete ($*)"
    return
  fi
  local f=$out/$name/pan.out
  if grep -q "errors: 0" "$f"; then
    echo "ok   $name: $(summary "$name")  [$*]"
  else
    fail "$name: spin reports an error ($*):"
    grep -E "^pan:|errors:" "$f" | head -5
    (cd "$out/$name" && spin -t "$@" handoff.pml | grep -E "EV |assert" | sed 's/^ */    /' | tail -60) || true
  fi
}

# expect_bug NAME AWK-PATTERN-CHECK DEFINES...: spin must find the lost
# wake-up, and the trail must match the check (an awk program over the
# trail's EV lines that prints "match").
expect_bug() {
  local name=$1 check=$2; shift 2
  if ! search "$name" bug 1024 "$@"; then
    fail "$name: search incomplete ($*)"
    return
  fi
  local dir=$out/$name
  if ! grep -q 'assertion violated  !(lost_wakeup)' "$dir/pan.out"; then
    fail "$name: spin did not report the lost wake-up on the pre-fix protocol ($*):"
    grep -E "^pan:|errors:" "$dir/pan.out" | head -5
    return
  fi
  (cd "$dir" && spin -t "$@" handoff.pml >trail.txt 2>&1) || true
  grep -E "^ *EV " "$dir/trail.txt" | sed 's/^ *//' >"$dir/events.txt"
  if [ "$(awk "$check" "$dir/events.txt")" != match ]; then
    fail "$name: spin found a lost wake-up, but not the expected interleaving ($*); trail:"
    sed 's/^/    /' "$dir/events.txt"
    return
  fi
  echo "ok   $name: lost wake-up found as expected after $(summary "$name")  [$*]"
  echo "     trail (EV lines of spin -t; T: thread, W: waiter):"
  sed 's/^/       /' "$dir/events.txt"
  echo "       => assertion violated !(lost_wakeup): a waiter asleep, a slot idle, nothing left to run"
}

# LostWakeupWhenPoolTurnsStrictBug: the head W pops the ring and finds it
# empty; a barger's release pushes; W then turns the pool strict (handoff
# bit) and, woken by that release, does not pop because the pool is strict.
turns_strict='
  /^EV pop-empty T=[0-9]+ head=1/ { split($3, a, "="); w = a[2]; pe[w] = NR; next }
  /^EV push T=/ { split($3, a, "="); p = a[2]; for (x in pe) if (x != p && pe[x] && !pu[x]) pu[x] = NR; next }
  /^EV turn-strict T=/ { split($3, a, "="); w = a[2]; if (pu[w]) ts[w] = NR; next }
  /^EV no-pop-strict T=[0-9]+ head=1/ { split($3, a, "="); w = a[2]; if (ts[w]) ok = 1; next }
  /^EV took T=/ { split($3, a, "="); w = a[2]; pe[w] = 0; pu[w] = 0; ts[w] = 0 }
  END { if (ok) print "match" }'
# LostWakeupWhenSecondWaiterTimesOutBug: a release in throughput mode
# pushes; before anyone pops, a waiter times out and leaves (unlinks
# itself); the lone waiter left, woken, sees "strict" (a lone waiter was)
# and does not pop. The handoff bit is never set (handoff_after never
# reached), so this is the other switch to strict.
second_times_out='
  /^EV push T=/ { pending = 1; next }
  /^EV ring-pop T=/ { pending = 0; next }
  /^EV leave T=/ { split($3, a, "="); leaving[a[2]] = 1; next }
  /^EV unlink T=/ {
    split($3, a, "="); split($4, b, "=")
    if (a[2] == b[2] && (a[2] in leaving) && pending) { armed = 1; gone[a[2]] = 1 }
    next
  }
  /^EV no-pop-strict T=[0-9]+ head=1/ { split($3, a, "="); if (armed && !(a[2] in gone)) ok = 1; next }
  /^EV turn-strict/ { strict = 1 }
  END { if (ok && !strict) print "match" }'

start=$(date +%s)
echo "== berth: spin $(spin -V | awk '{print $3}') on verify/spin/handoff.pml, work files in $out"

# The current protocol. G1_ANY: the fast path's relaxed gate load may read
# any value (it includes the seq_cst reading). Thread 2 of 3 (or 1 of 2)
# and thread 1 may have deadlines (TO_MASK); thread 0 never has.
expect_pass strict safety 1024 -DG1_ANY -DHANDOFF=0 -DTO_MASK=6 -DSPURIOUS=1
expect_pass handoff safety 1024 -DG1_ANY -DHANDOFF=1 -DTO_MASK=6 -DSPURIOUS=1
expect_pass creator safety 1024 -DG1_ANY -DNT=2 -DNS=2 -DACQ0=1 -DACQ1=2 -DCREATOR=1 -DTO_MASK=2
expect_pass reaper safety 1024 -DG1_ANY -DNT=2 -DNS=1 -DACQ0=2 -DACQ1=2 -DREAPER=1 -DTO_MASK=2
# No cycle at all in the state graph: every execution ends, so the end
# checks above cover every waiter's fate (liveness, not only safety).
expect_pass no-cycles cycles 1024 -DHANDOFF=1 -DTO_MASK=4
if [ "$full" = 1 ]; then
  expect_pass long-runs safety 4096 -DG1_ANY -DACQ0=2 -DACQ1=2 -DACQ2=2 -DHANDOFF=1 -DTO_MASK=4
  expect_pass creator-spurious safety 4096 -DG1_ANY -DNT=2 -DNS=2 -DACQ0=2 -DACQ1=2 -DCREATOR=1 -DTO_MASK=2 -DSPURIOUS=1
  expect_pass reaper-spurious safety 4096 -DG1_ANY -DNT=2 -DNS=1 -DACQ0=2 -DACQ1=2 -DREAPER=1 -DTO_MASK=2 -DSPURIOUS=1
  expect_pass reaper-3 safety 4096 -DG1_ANY -DNT=3 -DNS=1 -DREAPER=1 -DTO_MASK=4
  expect_pass handoff-2 safety 4096 -DG1_ANY -DHANDOFF=1 -DTO_MASK=6 -DSPURIOUS=2
  expect_pass no-cycles-full cycles 4096 -DG1_ANY -DHANDOFF=1 -DTO_MASK=6 -DSPURIOUS=1
fi

# The protocol before the fix (9b69ded): the two lost wake-ups of 954acc2.
expect_bug pre-fix-turns-strict "$turns_strict" -DPRE_FIX -DHANDOFF=1
expect_bug pre-fix-second-times-out "$second_times_out" -DPRE_FIX -DHANDOFF=2 -DTO_MASK=4

echo "== berth: spin checks done in $(($(date +%s) - start)) s, $failures failure(s)"
[ "$failures" -eq 0 ]
