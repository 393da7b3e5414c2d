#!/usr/bin/env bash
# What a restart from a checkpoint costs: a shop-shaped load into tallyd, a clean stop (which writes the
# checkpoint), then `restarts` starts of the same data directory, each timed to /readyz 200, with tallyd's
# CPU-seconds at that moment, its anonymous and file-backed resident memory then and 5 s later, and the
# digest checked equal to the one before the stop.
#
# Usage: bench/restart_cost.sh [events=2000000] [restarts=3]
# TALLY_BENCH_BUILD=DIR runs the tallyd and tally of another build; TALLY_BENCH_FLAGS adds tallyd flags
# (e.g. "--threads 1 --shards 1").
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-2000000}"
restarts="${2:-3}"
flags="${TALLY_BENCH_FLAGS:-}"
source bench/common.sh
bench_binaries
bench_work_dir restart-cost
port=18917
hz="$(getconf CLK_TCK)"

echo "# command: bench/restart_cost.sh $events $restarts (flags: ${flags:-none})"
echo "# build: $bin ($(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo ?))"
generate_shop_events "$events" "$work/events.ndjson"

start_server() {
  # shellcheck disable=SC2086
  "$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" --checkpoint-every 0 $flags >"$work/tallyd.log" 2>&1 &
  pid=$!
}
digest() { curl -sf "127.0.0.1:$port/v1/admin/digest"; }
memory() { awk '/RssAnon/ {a = int($2 / 1024)} /RssFile/ {f = int($2 / 1024)} END {printf "anon %d MiB, file %d MiB", a, f}' "/proc/$pid/status"; }

start_server
wait_ready
"$bin/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
expected="$(digest)"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
echo "checkpoint: $(du -m "$work/data/checkpoints" | cut -f1) MiB for $events events"
for round in $(seq 1 "$restarts"); do
  started="$(now_s)"
  start_server
  wait_ready
  ready="$(seconds_since "$started")"
  cpu="$(awk -v hz="$hz" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$pid/stat")"
  at_ready="$(memory)"
  sleep 5
  later="$(memory)"
  [ "$(digest)" = "$expected" ] && same=same || same=DIFFERENT
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  echo "restart $round: ready after $ready s, $cpu CPU-s; at ready $at_ready; 5 s later $later; digest $same"
done
