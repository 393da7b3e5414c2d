#!/usr/bin/env bash
# POST /v1/events NDJSON batches of 1 000 into tallyd --threads 1, for each durability mode: events/s of
# several consecutive runs on one server and their median, resident memory per event held, and the time
# a restart takes to recover that log.
#
# Usage: bench/ingest_batches.sh [runs=5] [seconds=6]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
seconds="${2:-6}"
scripts/setup.sh >/dev/null
work="$(mktemp -d /tmp/tally-ingest-XXXXXX)"
port=18911
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

echo "# command: bench/ingest_batches.sh $runs $seconds"
echo "# build: $(grep CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load: tally load --batch 1000 --connections 4 --seconds $seconds (200 000 users, 10 000 products, 1 % duplicates, 5 % late), the load generator on the other core"
median() { printf "%s\n" "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
wait_listening() { for _ in $(seq 1 600); do grep -q "listening" "$1" && return 0; sleep 0.1; done; return 1; }
for sync in interval always; do
  rm -rf "$work/data"
  build/tallyd --listen 127.0.0.1:$port --data "$work/data" --threads 1 --sync "$sync" >"$work/tallyd.log" 2>&1 &
  pid=$!
  wait_listening "$work/tallyd.log"
  rates=()
  for run in $(seq 1 "$runs"); do
    rate="$(build/tally load --server 127.0.0.1:$port --batch 1000 --connections 4 --seconds "$seconds" --seed "$run" |
      awk '/^events/ {print int($6)}')"
    rates+=("$rate")
  done
  events="$(curl -s 127.0.0.1:$port/v1/admin/digest | sed 's/.*"lsn":\([0-9]*\).*/\1/')"
  rss_kb="$(awk '/VmRSS/ {print $2}' /proc/$pid/status)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  build/tallyd --listen 127.0.0.1:$port --data "$work/data" --threads 1 >"$work/restart.log" 2>&1 &
  pid=$!
  wait_listening "$work/restart.log"
  recovered="$(grep -o 'recovered .* ms' "$work/restart.log")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "sync=$sync  events/s per run: ${rates[*]}  median $(median "${rates[@]}")"
  echo "sync=$sync  held $events records, RSS $((rss_kb / 1024)) MiB = $((rss_kb * 1024 / events)) bytes per record; restart: $recovered"
done
