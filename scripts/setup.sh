#!/usr/bin/env bash
# Installs what tally needs from Debian's archive (only what is missing), then configures and builds.
# Usage: scripts/setup.sh [extra Debian packages...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh

packages=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libh2o-evloop-dev libssl-dev zlib1g-dev
  libroaring-dev libsimdjson-dev libxxhash-dev libzstd-dev libabsl-dev
  libcli11-dev libspdlog-dev libfmt-dev
  libnats-dev nats-server curl
  python3-prometheus-client
  "$@"
)

install_missing "${packages[@]}"

build_type="${TALLY_BUILD_TYPE:-Release}"
build_dir="${TALLY_BUILD_DIR:-build}"
extra_cmake=()
[ "${TALLY_SANITIZE:-0}" = "1" ] && extra_cmake+=(-DTALLY_SANITIZE=ON)
[ "${TALLY_TSAN:-0}" = "1" ] && extra_cmake+=(-DTALLY_TSAN=ON)
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" "${extra_cmake[@]}" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)"
