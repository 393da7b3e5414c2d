#!/usr/bin/env bash
# Sets everything up and runs every test with ctest (unit tests, HTTP tests against the real tallyd, the
# Python client's tests, the browser tests in headless Chromium):
# first on the Release build, then on an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan)
# and a ThreadSanitizer build (build-tsan; the tests labelled one_thread, whose code starts no thread,
# skipped there), whose reports, also those of every tallyd a test starts, fail
# the tests; last, the libFuzzer targets for a bounded time each (scripts/fuzz.sh, clang).
# TALLY_SKIP_SANITIZERS=1 runs the Release build only; TALLY_SKIP_FUZZ=1 skips the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/browser_setup.sh
# h2o's own allocations held until exit are not tally's leaks.
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
(cd build && ctest --output-on-failure --parallel "$(nproc)" --timeout 600 "$@")
if [ "${TALLY_SKIP_SANITIZERS:-0}" != "1" ]; then
  echo "== the same tests under AddressSanitizer and UndefinedBehaviorSanitizer"
  TALLY_SANITIZE=1 TALLY_BUILD_TYPE=RelWithDebInfo TALLY_BUILD_DIR=build-asan scripts/setup.sh
  (cd build-asan && ctest --output-on-failure --parallel "$(nproc)" --timeout 600 "$@")
  echo "== the same tests under ThreadSanitizer"
  TALLY_TSAN=1 TALLY_BUILD_TYPE=RelWithDebInfo TALLY_BUILD_DIR=build-tsan scripts/setup.sh
  (cd build-tsan && TSAN_OPTIONS="suppressions=$PWD/../tests/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}" \
    ctest --output-on-failure --parallel "$(nproc)" --timeout 600 --label-exclude one_thread "$@")
fi
if [ "${TALLY_SKIP_FUZZ:-0}" != "1" ]; then
  echo "== fuzzing: each libFuzzer target for ${TALLY_FUZZ_SECONDS:-20} s"
  scripts/fuzz.sh
fi
