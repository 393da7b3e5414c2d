#!/usr/bin/env bash
# POST /v1/events NDJSON batches of 1 000 into tallyd with different (threads, shards), taking turns in
# each round so that the ratios come from the same minutes of this shared machine: events/s per run,
# medians, and the ratio to one thread with one shard. Each run starts a fresh server on an empty data
# directory. The load generator shares the machine (it builds every body as it goes), so on few cores the
# wall-clock rate is bounded by it; "per CPU-second" divides the events by the CPU time tallyd itself used
# (user + system, from /proc), the figure that the "per core" target is about.
#
# Usage: bench/shards.sh [rounds=5] [seconds=6] [configs="1:1 2:1 2:2"]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
seconds="${2:-6}"
read -r -a configs <<<"${3:-1:1 2:1 2:2}"
scripts/setup.sh >/dev/null
work="$(mktemp -d /tmp/tally-shards-XXXXXX)"
port=18912
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

echo "# command: bench/shards.sh $rounds $seconds \"${configs[*]}\""
echo "# build: $(grep CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load: tally load --batch 1000 --connections 4 --seconds $seconds (200 000 users, 10 000 products, 1 % duplicates, 5 % late), on the same machine"
median() { printf "%s\n" "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
wait_listening() { for _ in $(seq 1 600); do grep -q "listening" "$1" && return 0; sleep 0.1; done; return 1; }
declare -A rates per_cpu
for round in $(seq 1 "$rounds"); do
  for config in "${configs[@]}"; do
    threads="${config%%:*}"
    shards="${config##*:}"
    rm -rf "$work/data"
    build/tallyd --listen 127.0.0.1:$port --data "$work/data" --threads "$threads" --shards "$shards" \
      --checkpoint-every 0 >"$work/tallyd.log" 2>&1 &
    pid=$!
    wait_listening "$work/tallyd.log"
    load="$(build/tally load --server 127.0.0.1:$port --batch 1000 --connections 4 --seconds "$seconds" \
      --seed "$round" | awk '/^events/ {print $2, int($6)}')"
    ticks="$(awk '{print $14 + $15 + $16 + $17}' /proc/$pid/stat)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rates[$config]="${rates[$config]:-} ${load#* }"
    per_cpu[$config]="${per_cpu[$config]:-} $(awk -v e="${load% *}" -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%d", e / (t / hz)}')"
  done
done
base=""
for config in "${configs[@]}"; do
  # shellcheck disable=SC2086
  m="$(median ${rates[$config]})"
  # shellcheck disable=SC2086
  c="$(median ${per_cpu[$config]})"
  [ -z "$base" ] && base="$m" && base_cpu="$c"
  echo "threads=${config%%:*} shards=${config##*:}  events/s per run:${rates[$config]}  median $m ($(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')x)"
  echo "threads=${config%%:*} shards=${config##*:}  events per tallyd CPU-second:${per_cpu[$config]}  median $c ($(awk -v a="$c" -v b="$base_cpu" 'BEGIN {printf "%.2f", a / b}')x)"
done
