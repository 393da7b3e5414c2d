#!/usr/bin/env bash
# What the limits cost on the hottest path: POST /analytics on two tallyd (one thread each), one with every
# limit at its default (head checks, the per-address ingest-rate bucket: one shared lock per request) and
# one with the rate limit off (--ingest-rate 0), interleaved, several rounds; prints req/s of each and the
# ratio per round and its median.
#
# Usage: bench/limits_cost.sh [rounds=3] [seconds=10] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
seconds="${2:-10}"
connections="${3:-64}"
scripts/setup.sh wrk >/dev/null
work="$(mktemp -d /tmp/tally-bench-XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
build/tallyd --listen 127.0.0.1:18911 --data "$work/limited" --threads 1 >"$work/limited.log" 2>&1 &
build/tallyd --listen 127.0.0.1:18912 --data "$work/open" --threads 1 --ingest-rate 0 >"$work/open.log" 2>&1 &
for log in limited open; do
  for _ in $(seq 1 100); do grep -q listening "$work/$log.log" && break; sleep 0.1; done
done
echo "# build: $(grep CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load: wrk -t1 -c$connections -d${seconds}s POST /analytics; tallyd --threads 1 --sync interval"
ratios=()
for round in $(seq 1 "$rounds"); do
  limited=$(wrk -t1 -c"$connections" -d"${seconds}s" -s bench/post_analytics.lua http://127.0.0.1:18911 | awk '/Requests\/sec/ {print $2}')
  open=$(wrk -t1 -c"$connections" -d"${seconds}s" -s bench/post_analytics.lua http://127.0.0.1:18912 | awk '/Requests\/sec/ {print $2}')
  ratio=$(awk "BEGIN {printf \"%.3f\", $limited / $open}")
  ratios+=("$ratio")
  echo "round $round: limits on $limited req/s, rate limit off $open req/s, ratio $ratio"
done
echo "median ratio (limits on / rate limit off): $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")"
