#!/usr/bin/env bash
# What sealing buys: the same per-product and per-store questions asked of the same month of a shop's
# events, first with every hour hot (rows scanned), then with every hour sealed (the frozen index read).
# tallyd starts with --seal-after 86400 (nothing sealed), takes the events, answers; is stopped and started
# again from its checkpoint with --seal-after 0, waits until tally_hours{tier="hot"} is 0, answers again.
# Each question is timed over HTTP (curl's total time, median of 7) and both answers must be equal.
#
# Usage: bench/sealed_queries.sh [events=5000000] [products=20000] [stores=200] [users=250000] [days=30]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-5000000}"
products="${2:-20000}"
stores="${3:-200}"
users="${4:-250000}"
days="${5:-30}"
now=1793527200000 # 2026-11-01T10:00:00Z
scripts/setup.sh >/dev/null
source bench/common.sh
bench_work_dir sealed
port=18915

median() { printf "%s\n" "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

last_hour=$((now / 3600000 - 1))
first_hour=$((last_hour - days * 24 + 1))
hour_ms=3600000
questions=(
  "top products, 1 hour|/v1/top?by=product_id&limit=10&from=$((last_hour * hour_ms))&to=$(((last_hour + 1) * hour_ms))"
  "top products, 24 hours|/v1/top?by=product_id&limit=10&from=$(((last_hour - 23) * hour_ms))&to=$(((last_hour + 1) * hour_ms))"
  "top products, $days days|/v1/top?by=product_id&limit=10&from=$((first_hour * hour_ms))&to=$(((last_hour + 1) * hour_ms))"
  "top stores, $days days|/v1/top?by=store_id&limit=10&from=$((first_hour * hour_ms))&to=$(((last_hour + 1) * hour_ms))"
  "one store by day, $days days|/v1/stats?store_id=s7&bucket=day&from=$((first_hour * hour_ms))&to=$(((last_hour + 1) * hour_ms))"
  "one product by hour, $days days|/v1/stats?product_id=p42&bucket=hour&from=$((first_hour * hour_ms))&to=$(((last_hour + 1) * hour_ms))"
)
ask_all() { # tier-name -> writes "$work/<tier>.<i>" answers, prints medians
  local i=0
  for entry in "${questions[@]}"; do
    local target="${entry#*|}" times=()
    curl -s "127.0.0.1:$port$target" >"$work/$1.$i"
    for _ in 1 2 3 4 5 6 7; do
      times+=("$(curl -s -o /dev/null -w '%{time_total}' "127.0.0.1:$port$target")")
    done
    echo "$(median "${times[@]}")" >"$work/$1.$i.ms"
    i=$((i + 1))
  done
}

echo "# command: bench/sealed_queries.sh $events $products $stores $users $days"
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
build/tally generate --events "$events" --out "$work/events.ndjson" --products "$products" --stores "$stores" \
  --users "$users" --late 0.03 --duplicates 0.01 --spread-hours $((days * 24)) --now "$now" >/dev/null
build/tallyd --listen 127.0.0.1:$port --data "$work/data" --seal-after 86400 >"$work/hot.log" 2>&1 &
pid=$!
wait_ready
build/tally send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
echo "hot:    $(hours_of_tier hot) hot and $(hours_of_tier sealed) sealed (shard, hour) pairs"
ask_all hot
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
build/tallyd --listen 127.0.0.1:$port --data "$work/data" --seal-after 0 >"$work/sealed.log" 2>&1 &
pid=$!
wait_ready
for _ in $(seq 1 600); do [ "$(hours_of_tier hot)" = "0" ] && break; sleep 0.1; done
echo "sealed: $(hours_of_tier hot) hot and $(hours_of_tier sealed) sealed (shard, hour) pairs, index $(curl -s 127.0.0.1:$port/metrics | awk '$1 == "tally_sealed_index_bytes" {printf "%.0f MiB", $2 / 1048576}')"
ask_all sealed
printf "%-34s %12s %12s %8s  %s\n" question "hot ms" "sealed ms" "ratio" answers
status=0
for i in "${!questions[@]}"; do
  same="equal"
  cmp -s "$work/hot.$i" "$work/sealed.$i" || { same="DIFFERENT"; status=1; }
  awk -v q="${questions[$i]%%|*}" -v h="$(cat "$work/hot.$i.ms")" -v s="$(cat "$work/sealed.$i.ms")" -v same="$same" \
    'BEGIN {printf "%-34s %12.2f %12.2f %7.1fx  %s\n", q, h * 1000, s * 1000, h / s, same}'
done
exit "$status"
