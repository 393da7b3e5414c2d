#!/usr/bin/env bash
# Dashboard questions (`GET /v1/stats`, `GET /v1/top`) over a month of a data directory that is already
# there, two (or more) builds alternating: each build starts on the directory, is asked a month's top
# products and a store's days first (so that its heap is not fresh), then each question below; every
# question is timed over HTTP (curl's total time, median of 5 after a first time, which is printed too) and
# its answer must be the same byte for byte for every build.
#
# Usage: bench/questions_ab.sh ROUNDS DATA_DIR BUILD BUILD...
# (a BUILD holds tallyd: a build directory, or binaries copied aside; the builds must read the directory's
# checkpoint format). A data directory: the one bench/storage_shapes.sh leaves with TALLY_BENCH_KEEP=1,
# e.g. TALLY_BENCH_KEEP=1 bench/storage_shapes.sh 100000000 20000 200 1000000 (its month ends at
# 2026-11-01T10:00Z; its busiest store is s157 and product p14889).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="$1"
data="$2"
shift 2
source bench/common.sh
bench_work_dir questions-ab
port=18922

month="from=2026-10-01T00:00:00Z&to=2027-01-01T00:00:00Z"
questions=(
  "month by hour|/v1/stats?$month&bucket=hour"
  "month by day|/v1/stats?$month&bucket=day"
  "month whole|/v1/stats?$month&bucket=all"
  "month by hour, clicks|/v1/stats?$month&bucket=hour&type=click"
  "month by day, a store|/v1/stats?$month&bucket=day&store_id=s157"
  "month by hour, a product|/v1/stats?$month&bucket=hour&product_id=p14889"
  "two days cutting hours, by hour|/v1/stats?from=2026-10-10T07:30:00Z&to=2026-10-12T07:30:00Z&bucket=hour"
  "top products, month|/v1/top?by=product_id&limit=10&$month"
  "top products, month, clicks|/v1/top?by=product_id&limit=10&$month&type=click"
  "top stores, month|/v1/top?by=store_id&limit=10&$month"
  "top products, a day|/v1/top?by=product_id&limit=10&from=2026-10-31T00:00:00Z&to=2026-11-01T00:00:00Z"
)

echo "# command: bench/questions_ab.sh $rounds $data $*"
for round in $(seq 1 "$rounds"); do
  for build in "$@"; do
    "$build/tallyd" --listen 127.0.0.1:$port --data "$data" >"$work/tallyd.log" 2>&1 &
    pid=$!
    wait_ready $port 600
    sleep 3 # (the sealed hour files are installed just after /readyz)
    curl -sf -o /dev/null "127.0.0.1:$port/v1/top?by=product_id&limit=10&$month"
    curl -sf -o /dev/null "127.0.0.1:$port/v1/stats?$month&bucket=day&store_id=s1"
    for i in "${!questions[@]}"; do
      path="${questions[$i]#*|}"
      answer="$work/answer-$i"
      first="$(curl -sf -w "%{time_total}" -o "$answer.new" "127.0.0.1:$port$path" | awk '{printf "%.1f", $1 * 1000}')"
      if [ -f "$answer" ] && ! cmp -s "$answer" "$answer.new"; then
        echo "DIFFERENT ANSWER: $build, ${questions[$i]%%|*}"
        exit 1
      fi
      mv "$answer.new" "$answer"
      ms="$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w "%{time_total}\n" "127.0.0.1:$port$path"; done |
        sort -n | awk 'NR == 3 {printf "%.1f", $1 * 1000}')"
      echo "$round $build $i $ms" >>"$work/times"
      echo "round $round  $build  ${questions[$i]%%|*}: $ms ms (the first time: $first ms)"
    done
    sums="$(curl -s "127.0.0.1:$port/metrics" | awk '$1 == "tally_top_day_sums_bytes" {printf "%.1f", $2 / 1048576}')"
    [ -n "$sums" ] && echo "round $round  $build  top lists' day sums kept: $sums MiB"
    kill -TERM $pid
    wait $pid || true
  done
done
echo "# medians over the rounds (ms); every answer the same for every build"
for i in "${!questions[@]}"; do
  line="${questions[$i]%%|*}:"
  for build in "$@"; do
    line="$line $(awk -v b="$build" -v q="$i" '$2 == b && $3 == q {print $4}' "$work/times" | sort -n |
      awk '{v[NR] = $1} END {printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')"
  done
  echo "$line"
done
