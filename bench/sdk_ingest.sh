#!/usr/bin/env bash
# The same shop-shaped events sent in each wire format tallyd takes, each into a fresh tallyd, the formats
# alternating round by round: native NDJSON (POST /v1/events), Segment's batch (POST /v1/batch, plain and
# gzip) and PostHog's batch (POST /batch/, gzip, as posthog-node sends it). Bodies of 1 000 events over one
# keep-alive connection (bench/sdk_bodies.py, built before the clock starts): one, so that every run sees
# the events in the file's order and the re-sent ids (which the generator re-sends with other contents)
# resolve alike, and the answers can be compared. Prints, per format and
# round: events per tallyd CPU-second, events/s wall, the bytes sent per event, anonymous memory and disk
# (data directory) per event, and whether the answers (all-time total, top products) equal the native
# run's.
#
# Usage: bench/sdk_ingest.sh [events=1000000] [rounds=3]
# TALLY_BENCH_BUILD=DIR runs another build's binaries; TALLY_BENCH_FLAGS adds tallyd flags.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-1000000}"
rounds="${2:-3}"
flags="${TALLY_BENCH_FLAGS:-}"
source bench/common.sh
bench_binaries
bench_work_dir sdk-ingest
port=18921
hz="$(getconf CLK_TCK)"

echo "# command: bench/sdk_ingest.sh $events $rounds (flags: ${flags:-none})"
echo "# build: $bin ($(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo ?))"
generate_shop_events "$events" "$work/events.ndjson"
answers() {
  curl -sf "127.0.0.1:$port/v1/stats?from=0&to=253402300800000&bucket=all" | sed 's/.*"total"://'
  curl -sf "127.0.0.1:$port/v1/top?by=product_id&from=0&to=253402300800000&limit=20"
}
expected=""
for round in $(seq 1 "$rounds"); do
  for format in native segment segment-gzip posthog-gzip; do
    rm -rf "$work/data"
    # shellcheck disable=SC2086
    "$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" --checkpoint-every 0 $flags >"$work/tallyd.log" 2>&1 &
    pid=$!
    wait_ready
    before="$(awk '{print $14 + $15}' "/proc/$pid/stat")"
    read -r seconds bytes < <(python3 bench/sdk_bodies.py "$work/events.ndjson" $port "$format" 1)
    cpu="$(awk -v b="$before" -v hz="$hz" '{printf "%.2f", ($14 + $15 - b) / hz}' "/proc/$pid/stat")"
    anon_kib="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
    got="$(answers)"
    [ -n "$expected" ] || expected="$got"
    [ "$got" = "$expected" ] && same=same || same=DIFFERENT
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    disk_bytes="$(du -s -B1 "$work/data" | cut -f1)"
    awk -v f="$format" -v r="$round" -v n="$events" -v cpu="$cpu" -v s="$seconds" -v b="$bytes" \
        -v anon="$anon_kib" -v disk="$disk_bytes" -v same="$same" 'BEGIN {
      printf "round %d %-13s %8.0f events/CPU-s %8.0f events/s wall  sent %4.0f B/event  anon %4.0f B/event  disk %4.0f B/event  answers %s\n",
        r, f, n / cpu, n / s, b / n, anon * 1024 / n, disk / n, same }'
  done
done
