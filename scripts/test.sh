#!/usr/bin/env bash
# Sets everything up and runs every test with ctest (unit tests, and HTTP tests against the real tallyd).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure --parallel "$(nproc)" --timeout 600 "$@"
