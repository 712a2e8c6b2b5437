#!/usr/bin/env bash
# deps.sh: installs the Debian packages berth builds, tests and benchmarks
# with, if any is missing. Sourced by run-tests and run-bench; safe to re-run.
# berth_install_deps: what builds and tests need (run-tests, run-bench).
# berth_install_bench_deps: the benchmarks' peers and plotting (run-bench).
set -euo pipefail

BERTH_PACKAGES=(
  g++ cmake ninja-build python3
  make git                          # scripts/check-package: the pkg-config consumer's Makefile, FetchContent
  libgtest-dev libgmock-dev libbenchmark-dev libconcurrentqueue-dev
  libboost-stacktrace-dev libsqlite3-dev
  postgresql libpq-dev
  pgbouncer                         # tests/support/pgbouncer (tests and bench/postgres_report.py)
  pkgconf libsqlitecpp-dev libpqxx-dev   # examples/ (libpqxx through pkg-config), examples/consumer/Makefile
  libasio-dev                       # berth::asio (integrations/asio), its tests and examples/asio_server
  prometheus-cpp-dev                # berth::prometheus (integrations/prometheus), examples/prometheus_exporter
  prometheus                        # the real-scrape test (tests/integrations/prometheus/scrape_test.cpp)
  chromium                          # tests/tools/live: renders the HTML run reports headless (report_render_test)
  clang-15                          # the fuzz preset (fuzz/); libFuzzer comes with it (libclang-common-15-dev).
                                    # Not Debian's default clang 14: it lacks __builtin_source_location, so
                                    # libstdc++ 12 has no std::source_location, which berth's core uses
  spin                              # verify/spin/check.sh: the hand-off protocol model-checked (CTest spin_handoff_model)
  gcovr                             # scripts/coverage: line coverage of core/ and adapters/ (run-tests' debug stage)
)

# Used only by the benchmarks (scripts/run-bench): peers that berth is
# measured against and the plotting tool. Optional: one that cannot be
# installed is reported, and the bench skips what needs it with a note.
BERTH_BENCH_PACKAGES=(
  libsoci-dev                       # bench/peers: SOCI's connection_pool
  python3-matplotlib                # bench/plot_peers.py (run by /usr/bin/python3)
  openjdk-17-jdk-headless libhikaricp-java libslf4j-java   # bench/peers/hikaricp
)

# berth_missing_packages PKG...: prints those of PKG not installed.
berth_missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# berth_apt_install optional|required PKG...: installs the missing ones.
# required: any failure exits. optional: tries them all at once, then one at
# a time, and reports each that could not be installed; never fails.
berth_apt_install() {
  local mode=$1; shift
  local missing
  missing=$(berth_missing_packages "$@" | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  echo "berth: installing missing packages: $missing"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "berth: need root (or sudo) to install: $missing" >&2
      [ "$mode" = required ] && exit 1
      return 0
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ "$mode" = required ]; then
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing
    return 0
  fi
  $sudo apt-get update -qq || true
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing && return 0
  local p
  for p in $missing; do
    $sudo apt-get install -y -qq --no-install-recommends "$p" ||
      echo "berth: could not install $p; the bench skips what needs it" >&2
  done
  return 0
}

berth_install_deps() {
  berth_apt_install required "${BERTH_PACKAGES[@]}"
}

berth_install_bench_deps() {
  berth_apt_install optional "${BERTH_BENCH_PACKAGES[@]}"
}
