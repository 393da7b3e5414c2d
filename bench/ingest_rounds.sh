#!/usr/bin/env bash
# Two builds side by side on the batch path: each round loads the same shop-shaped events (20 000
# products, 200 stores, 250 000 users over 720 hours, 3 % late, 1 % re-sent) into a fresh one-shard tallyd
# of each build in turn, as NDJSON batches of 1 000, and prints tallyd's events per CPU-second and its
# anonymous memory at the end, then the median ratio.
# TALLY_BENCH_SEALED=1: each load also waits until every hour is sealed (its file written) and counts that
# CPU too, and prints the sealed hour files' bytes per event.
#
# Usage: bench/ingest_rounds.sh BEFORE_DIR[@ORDER] AFTER_DIR[@ORDER] [rounds=5] [events=2000000]
# (a DIR holds tallyd and tally: a build directory, or binaries copied aside so a rebuild cannot change
# them mid-run; ORDER is how the events are stamped, shuffled (the default) or time, see bench/common.sh:
# `bench/ingest_rounds.sh build build@time` compares the two shapes on one build)
set -euo pipefail
cd "$(dirname "$0")/.."
before="${1%@*}"
after="${2%@*}"
order_before="$([[ "$1" == *@* ]] && echo "${1##*@}" || echo shuffled)"
order_after="$([[ "$2" == *@* ]] && echo "${2##*@}" || echo shuffled)"
rounds="${3:-5}"
events="${4:-2000000}"
source bench/common.sh
bench_work_dir ingest-rounds
port=18919
bin="$before"
for order in $order_before $order_after; do
  [ -f "$work/$order.ndjson" ] || generate_shop_events "$events" "$work/$order.ndjson" "$order"
done

# Every hour sealed: tallyd's metrics count no hot hour (at most 300 s).
wait_sealed() {
  for _ in $(seq 1 3000); do
    curl -sf "127.0.0.1:$port/metrics" | grep -q '^tally_hours{tier="hot"} 0$' && return 0
    sleep 0.1
  done
  return 1
}

# One load of build $1 with the events in order $2: "<events per CPU-second> <anonymous KiB> <sealed files'
# bytes per event>".
load() {
  rm -rf "$work/data"
  "$1/tallyd" --threads 1 --shards 1 --checkpoint-every 0 --data "$work/data" --listen 127.0.0.1:$port \
    >"$work/tallyd.log" 2>&1 &
  local pid=$!
  wait_ready
  local cpu_before
  cpu_before="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
  "$1/tally" send "$work/$2.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
  [ "${TALLY_BENCH_SEALED:-0}" = "1" ] && wait_sealed
  local ticks anon sealed
  sealed="$(du -sb "$work/data/segments" 2>/dev/null | cut -f1)"
  ticks=$(($(awk '{print $14 + $15}' "/proc/$pid/stat") - cpu_before))
  anon="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  awk -v e="$events" -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v a="$anon" -v s="${sealed:-0}" \
    'BEGIN {printf "%.0f %d %.1f", e / (t / hz), a, s / e}'
}

echo "# command: bench/ingest_rounds.sh $1 $2 $rounds $events"
echo "# sealed: ${TALLY_BENCH_SEALED:-0} (1: every hour sealed and its CPU counted)"
echo "round  before events/CPU-s  anon MiB  sealed B/ev   after events/CPU-s  anon MiB  sealed B/ev   ratio"
ratios=()
for round in $(seq 1 "$rounds"); do
  read -r rate_before anon_before sealed_before <<<"$(load "$before" "$order_before")"
  read -r rate_after anon_after sealed_after <<<"$(load "$after" "$order_after")"
  ratio="$(awk -v a="$rate_after" -v b="$rate_before" 'BEGIN {printf "%.2f", a / b}')"
  ratios+=("$ratio")
  printf "%-6s %20s %9d %12s %20s %9d %12s %7s\n" "$round" "$rate_before" $((anon_before / 1024)) \
    "$sealed_before" "$rate_after" $((anon_after / 1024)) "$sealed_after" "$ratio"
done
printf "%s\n" "${ratios[@]}" | sort -n | awk '{r[NR] = $1} END {print "median ratio after/before: " r[int((NR + 1) / 2)]}'
