#!/usr/bin/env bash
# run_fuzzer.sh BINARY NAME SECONDS WORKDIR [libFuzzer flag...]: the CTest
# test of one fuzz target (label fuzz), and the way to fuzz it at length.
#   1. every input of fuzz/corpus/NAME/ and fuzz/regressions/NAME/ once
#      (-runs=0): the seeds and the kept crashers must pass;
#   2. SECONDS of fuzzing from them (skipped when SECONDS is 0). New inputs go
#      to WORKDIR/corpus (kept between runs, so a long session resumes), a
#      crasher to WORKDIR/artifacts/; the sources are never written.
# Example, an hour on one target (see fuzz/README.md):
#   nice -n 19 fuzz/run_fuzzer.sh build/fuzz/fuzz/fuzz_url_parse url_parse 3600 build/fuzz/fuzz/work/url_parse
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 BINARY NAME SECONDS WORKDIR [libFuzzer flag...]" >&2; exit 2; }
binary=$1 name=$2 seconds=$3 work=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus/$name
regressions=$here/regressions/$name
[ -d "$corpus" ] || { echo "run_fuzzer: no corpus $corpus" >&2; exit 2; }
seeds=("$corpus")
[ -d "$regressions" ] && seeds+=("$regressions")
# Symbolized reports: the sanitizers reject llvm-symbolizer through Debian's
# /usr/bin symlink ("invalid path to external symbolizer"); give them the file.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH; ASAN_SYMBOLIZER_PATH=$(readlink -f "$(command -v llvm-symbolizer)")
fi
# The target's own dictionary (NAME.dict) when it has one, else the URLs'.
dict=$here/$name.dict
[ -f "$dict" ] || dict=$here/url.dict
# -timeout: an input runs in milliseconds; 60 s (wall clock) only catches a hang,
# never a run starved of CPU on a busy machine.
flags=(-dict="$dict" -max_len=512 -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 "$@")

echo "=== fuzz $name: the corpus and kept crashers (${seeds[*]}) ==="
"$binary" "${flags[@]}" -runs=0 "${seeds[@]}"

[ "$seconds" -gt 0 ] || exit 0
mkdir -p "$work/corpus" "$work/artifacts"
echo "=== fuzz $name: ${seconds} s of fuzzing; new inputs in $work/corpus, crashers in $work/artifacts ==="
if ! "$binary" "${flags[@]}" -max_total_time="$seconds" -artifact_prefix="$work/artifacts/" \
     "$work/corpus" "${seeds[@]}"; then
  echo "run_fuzzer: $name failed; the input is in $work/artifacts/. Minimize it with" >&2
  echo "  $binary -minimize_crash=1 -runs=100000 $work/artifacts/<crash-file>" >&2
  echo "then keep it in fuzz/regressions/$name/ with a regression test (fuzz/README.md)." >&2
  exit 1
fi
