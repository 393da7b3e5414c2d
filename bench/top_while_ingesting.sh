#!/usr/bin/env bash
# What a dashboard's top lists cost the events coming in: a month of a shop's events (20 000 products,
# 200 stores, 250 000 users over 720 hours) is loaded and sealed once; then, for each build in turn, a
# tallyd on a copy of that data directory answers the month's top products to one client asking again
# and again while another sends single events (POST /v1/events, one at a time, each its own connection).
# Prints the events' latency (median, 99th percentile, largest) and the top list's (median), per round,
# and the top list's median asked alone (15 times, before the events); tallyd's anonymous memory at the end
# and the data directory's bytes, per event loaded.
#
# Usage: bench/top_while_ingesting.sh BEFORE_DIR AFTER_DIR [rounds=3] [events=5000000] [posts=400]
# (a DIR holds tallyd and tally: a build directory, or binaries copied aside)
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"
after="$2"
rounds="${3:-3}"
events="${4:-5000000}"
posts="${5:-400}"
source bench/common.sh
bench_work_dir top-ingest
port=18923
bin="$after"
generate_shop_events "$events" "$work/events.ndjson"

# Every hour sealed (or its few late rows waiting beside its seal), at most 600 s.
wait_sealed() {
  for _ in $(seq 1 6000); do
    [ "$(hours_of_tier hot)" = "0" ] && [ "$(hours_of_tier sealed)" != "0" ] && return 0
    sleep 0.1
  done
  return 1
}
percentile() { # P then values -> the value at that percentile (nearest rank)
  local p="$1"
  shift
  printf "%s\n" "$@" | sort -n | awk -v p="$p" '{v[NR]=$1} END {i=int((NR*p+99)/100); if (i<1) i=1; print v[i]}'
}
ms() { awk -v s="$1" 'BEGIN {printf "%.2f", s * 1000}'; }

"$after/tallyd" --data "$work/data" --listen 127.0.0.1:$port >"$work/load.log" 2>&1 &
pid=$!
wait_ready
"$after/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
wait_sealed
kill "$pid"
wait "$pid" 2>/dev/null || true

top_target="/v1/top?by=product_id&limit=10&from=$(((1793527200000 / 3600000 - 720) * 3600000))&to=1793527200000"
# One round of one build: "<post p50 ms> <post p99 ms> <post max ms> <top median ms> <tops asked>
# <top alone median ms> <anonymous memory at the end, bytes per event loaded>".
measure() {
  rm -rf "$work/run"
  cp -a "$work/data" "$work/run"
  "$1/tallyd" --data "$work/run" --listen 127.0.0.1:$port >"$work/run.log" 2>&1 &
  local server=$!
  wait_ready
  for _ in $(seq 1 3000); do # the sealed hour files installed (the start log says so)
    grep -q "sealed hour file(s) mapped" "$work/run.log" && break
    sleep 0.01
  done
  curl -s -o /dev/null "127.0.0.1:$port$top_target"
  local alone=()
  for _ in $(seq 1 15); do alone+=("$(curl -s -o /dev/null -w '%{time_total}' "127.0.0.1:$port$top_target")"); done
  : >"$work/tops"
  (while :; do curl -s -o /dev/null -w '%{time_total}\n' "127.0.0.1:$port$top_target" >>"$work/tops"; done) &
  local asker=$!
  sleep 1
  local latencies=() now_ms
  for i in $(seq 1 "$posts"); do
    now_ms=$(($(date +%s%3N)))
    latencies+=("$(curl -s -o /dev/null -w '%{time_total}' -X POST "127.0.0.1:$port/v1/events" \
      -d "{\"event_id\":\"bench-$i-$RANDOM$RANDOM\",\"type\":\"click\",\"user_id\":\"u$i\",\"timestamp\":$now_ms,\"product_id\":\"p$((i % 50))\"}")")
  done
  kill "$asker"
  wait "$asker" 2>/dev/null || true
  mapfile -t tops <"$work/tops"
  local anon
  anon="$(awk '/RssAnon/ {print $2}' "/proc/$server/status")"
  kill "$server"
  wait "$server" 2>/dev/null || true
  echo "$(ms "$(percentile 50 "${latencies[@]}")") $(ms "$(percentile 99 "${latencies[@]}")")" \
    "$(ms "$(percentile 100 "${latencies[@]}")") $(ms "$(percentile 50 "${tops[@]}")") ${#tops[@]}" \
    "$(ms "$(percentile 50 "${alone[@]}")") $(awk -v a="$anon" -v e="$events" 'BEGIN {printf "%.1f", a * 1024 / e}')"
}

echo "# command: bench/top_while_ingesting.sh $before $after $rounds $events $posts"
echo "# $(grep -c . "$work/events.ndjson") events loaded; $posts single-event POSTs per run while the month's top 10 products is asked again and again"
echo "# data directory after the load and sealing: $(du -sb "$work/data" | awk -v e="$events" '{printf "%.1f", $1 / e}') bytes per event"
echo "round  build   POST p50 ms  POST p99 ms  POST max ms  top median ms  tops asked  top alone ms  anon B/event"
for round in $(seq 1 "$rounds"); do
  for build in before after; do
    dir="$before"
    [ "$build" = after ] && dir="$after"
    read -r p50 p99 worst top asked alone anon <<<"$(measure "$dir")"
    printf "%-6s %-7s %11s  %11s  %11s  %13s  %10s  %12s  %12s\n" "$round" "$build" "$p50" "$p99" "$worst" \
      "$top" "$asked" "$alone" "$anon"
  done
done
