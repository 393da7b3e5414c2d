#!/usr/bin/env bash
# Two builds side by side on the batch path: each round loads the same shop-shaped events (20 000
# products, 200 stores, 250 000 users over 720 hours, 3 % late, 1 % re-sent) into a fresh one-shard tallyd
# of each build in turn, as NDJSON batches of 1 000, and prints tallyd's events per CPU-second and its
# anonymous memory at the end, then the median ratio.
#
# Usage: bench/ingest_rounds.sh BEFORE_DIR AFTER_DIR [rounds=5] [events=2000000]
# (a DIR holds tallyd and tally: a build directory, or binaries copied aside so a rebuild cannot change
# them mid-run)
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"
after="$2"
rounds="${3:-5}"
events="${4:-2000000}"
source bench/common.sh
bench_work_dir ingest-rounds
port=18919
bin="$before"
generate_shop_events "$events" "$work/events.ndjson"

# One load: "<events per CPU-second> <anonymous KiB>".
load() {
  rm -rf "$work/data"
  "$1/tallyd" --threads 1 --shards 1 --checkpoint-every 0 --data "$work/data" --listen 127.0.0.1:$port \
    >"$work/tallyd.log" 2>&1 &
  local pid=$!
  wait_ready
  local cpu_before
  cpu_before="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
  "$1/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
  local ticks anon
  ticks=$(($(awk '{print $14 + $15}' "/proc/$pid/stat") - cpu_before))
  anon="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  awk -v e="$events" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v a="$anon" 'BEGIN {printf "%.0f %d", e / (t / hz), a}'
}

echo "# command: bench/ingest_rounds.sh $before $after $rounds $events"
echo "round  before events/CPU-s  anon MiB   after events/CPU-s  anon MiB   ratio"
ratios=()
for round in $(seq 1 "$rounds"); do
  read -r rate_before anon_before <<<"$(load "$before")"
  read -r rate_after anon_after <<<"$(load "$after")"
  ratio="$(awk -v a="$rate_after" -v b="$rate_before" 'BEGIN {printf "%.2f", a / b}')"
  ratios+=("$ratio")
  printf "%-6s %20s %9d %20s %9d %7s\n" "$round" "$rate_before" $((anon_before / 1024)) "$rate_after" \
    $((anon_after / 1024)) "$ratio"
done
printf "%s\n" "${ratios[@]}" | sort -n | awk '{r[NR] = $1} END {print "median ratio after/before: " r[int((NR + 1) / 2)]}'
