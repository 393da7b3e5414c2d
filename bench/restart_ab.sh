#!/usr/bin/env bash
# Restarts of a data directory that is already there, two (or more) builds alternating: each start is
# timed to /readyz 200 and printed with tallyd's CPU-seconds then, the start log's figures (the
# checkpoint's load, the sealed hour files' check) and when the sealed hour files were in; then the median
# of each build. Nothing is sent: with no new record and no hour sealed since the last checkpoint a stop
# writes no checkpoint, so every start finds the same files (the first start of a round may find them out
# of the page cache, and the first stop of a directory whose last checkpoint came before its seals writes
# one; the medians are what to compare).
#
# Usage: bench/restart_ab.sh ROUNDS BUILD[:DATA_DIR] BUILD[:DATA_DIR]...
# A BUILD holds tallyd (a build directory, or binaries copied aside); DATA_DIR defaults to TALLY_BENCH_DATA.
# Builds whose checkpoint formats differ need a data directory each (a copy, started once by that build
# with one new event, so that its stop writes a checkpoint in its format).
# A data directory to use: the one bench/storage_shapes.sh leaves with TALLY_BENCH_KEEP=1, e.g.
#   TALLY_BENCH_KEEP=1 bench/storage_shapes.sh 100000000 20000 200 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="$1"
shift
source bench/common.sh
bench_work_dir restart-ab
port=18921
hz="$(getconf CLK_TCK)"

echo "# command: bench/restart_ab.sh $rounds $*"
for round in $(seq 1 "$rounds"); do
  for pair in "$@"; do
    build="${pair%%:*}"
    data="${TALLY_BENCH_DATA:-}"
    [ "$pair" != "$build" ] && data="${pair#*:}"
    started="$(now_s)"
    "$build/tallyd" --listen 127.0.0.1:$port --data "$data" >"$work/tallyd.log" 2>&1 &
    pid=$!
    wait_ready $port 600
    seconds="$(seconds_since "$started")"
    cpu="$(awk -v hz="$hz" '{print ($14 + $15) / hz}' "/proc/$pid/stat")"
    # The sealed hour files are installed once the server runs (builds before 2026-12-04: before /readyz):
    # wait for the start log's line, so that the stop does not cut that short, and say when it came.
    installed="-"
    if ls "$data/segments/"*.seg >/dev/null 2>&1; then
      for _ in $(seq 1 1200); do
        if grep -q 'sealed hour file(s) mapped' "$work/tallyd.log"; then
          installed="$(seconds_since "$started")"
          break
        fi
        sleep 0.05
      done
    fi
    kill -TERM $pid
    wait $pid || true
    echo "$round $build $seconds s to /readyz, $cpu CPU-s, sealed files in by $installed s; $(grep -ho 'records in [0-9]* ms\|[0-9]* sealed hour file(s) mapped[^"]*' "$work/tallyd.log" | tr '\n' ' ')"
    echo "$build $seconds" >>"$work/times"
  done
done
for pair in "$@"; do
  build="${pair%%:*}"
  awk -v b="$build" '$1 == b {print $2}' "$work/times" | sort -n |
    awk -v b="$build" '{v[NR] = $1} END {printf "median %s: %.2f s of %d\n", b, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), NR}'
done
