#!/usr/bin/env bash
# Micro-benchmarks of the hot paths: medians of 5 repetitions. Usage: bench/micro.sh [benchmark filter]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
echo "# command: bench/micro.sh ${1:-}"
echo "# build: $(grep CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt | cut -d= -f2), -march=$(grep TALLY_MARCH:STRING build/CMakeCache.txt | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
build/tally_micro --benchmark_filter="${1:-.}" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_display_aggregates_only=true 2>&1 | grep -E "^(BM_|-|Benchmark)" | grep -v "_stddev\|_cv"
