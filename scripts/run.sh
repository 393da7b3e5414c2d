#!/usr/bin/env bash
# Sets everything up and runs tallyd on its embedded default (127.0.0.1:8080, data in ./tally-data).
# Any arguments are passed to tallyd, e.g. scripts/run.sh --sync always.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/tallyd "$@"
