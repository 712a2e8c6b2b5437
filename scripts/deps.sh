#!/usr/bin/env bash
# deps.sh: installs the Debian packages berth builds, tests and benchmarks
# with, if any is missing. Sourced by run-tests and run-bench; safe to re-run.
set -euo pipefail

BERTH_PACKAGES=(
  g++ cmake ninja-build python3
  libgtest-dev libgmock-dev libbenchmark-dev libconcurrentqueue-dev
  libboost-stacktrace-dev libsqlite3-dev
  postgresql libpq-dev
  pkgconf libsqlitecpp-dev libpqxx-dev   # examples/ (libpqxx is found through pkg-config)
)

berth_missing_packages() {
  local p
  for p in "${BERTH_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

berth_install_deps() {
  local missing
  missing=$(berth_missing_packages | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  echo "berth: installing missing packages: $missing"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then sudo="sudo"; else
      echo "berth: need root (or sudo) to install: $missing" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing
}
