#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UndefinedBehaviorSanitizer) in build-fuzz
# and runs each for TALLY_FUZZ_SECONDS (default 20) from its seed corpus in tests/fuzz_corpus/, with ctest.
# Any crash, sanitizer report, leak or broken invariant fails; the input is left in build-fuzz/findings/.
# Usage: scripts/fuzz.sh [ctest arguments...]   e.g. TALLY_FUZZ_SECONDS=600 scripts/fuzz.sh -R json
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/packages.sh
install_missing clang libclang-rt-14-dev
seconds="${TALLY_FUZZ_SECONDS:-20}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALLY_FUZZ=ON \
  -DTALLY_FUZZ_SECONDS="$seconds" >/dev/null
cmake --build build-fuzz --parallel "$(nproc)"
(cd build-fuzz && ctest --output-on-failure --parallel "$(nproc)" "$@")
