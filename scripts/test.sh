#!/usr/bin/env bash
# Sets everything up and runs every test with ctest (unit tests, and HTTP tests against the real tallyd).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Sanitizer builds (TALLY_SANITIZE=1 TALLY_BUILD_DIR=build-asan scripts/test.sh) report into each tallyd's
# log, which the HTTP tests read; h2o's own allocations held until exit are not tally's leaks.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
cd "${TALLY_BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)" --timeout 600 "$@"
