#!/usr/bin/env bash
# What a checkpoint costs, and who pays it: a shop-shaped load into tallyd (one shard), then
#   1. with checkpoints on (the defaults): CPU-seconds of the server and of its checkpoint children, and
#      the server's minor page faults, over the load;
#   2. with --checkpoint-every 0: the one checkpoint a stop writes with the server idle (tallyd's log line).
#
# Usage: bench/checkpoint_cost.sh [events=2000000]
# TALLY_BENCH_BUILD=DIR runs the tallyd and tally of another build (to compare two versions side by side).
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-2000000}"
source bench/common.sh
bench_binaries
bench_work_dir checkpoint-cost
port=18916
hz="$(getconf CLK_TCK)"

echo "# command: bench/checkpoint_cost.sh $events"
echo "# build: $bin ($(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo ?))"
generate_shop_events "$events" "$work/events.ndjson"

# /proc/PID/stat: 10 minor faults, 14-15 the server's CPU, 16-17 its ended children's.
stat_of() { awk '{print $10, $14 + $15, $16 + $17}' "/proc/$1/stat"; }

run() {  # $1: extra tallyd flags; loads the events, prints what it cost, stops the server
  rm -rf "$work/data"
  "$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" --threads 1 --shards 1 $1 >"$work/tallyd.log" 2>&1 &
  pid=$!
  wait_ready
  read -r faults0 server0 children0 < <(stat_of "$pid")
  "$bin/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
  sleep 8 # a checkpoint started at the end of the load ends
  read -r faults1 server1 children1 < <(stat_of "$pid")
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  awk -v f="$((faults1 - faults0))" -v s="$((server1 - server0))" -v c="$((children1 - children0))" -v hz="$hz" \
    -v n="$(grep -c 'checkpoint of' "$work/tallyd.log" || true)" 'BEGIN {
      printf "server %.2f CPU-s, checkpoint children %.2f CPU-s, server minor faults %d; checkpoints written (the stop'"'"'s too): %d\n",
        s / hz, c / hz, f, n }'
}

echo "with checkpoints during the load:"
run ""
echo "the stop's checkpoint after a load without checkpoints (the server idle):"
run "--checkpoint-every 0" >/dev/null
grep -o 'checkpoint of [^"]* ms' "$work/tallyd.log" | tail -1
