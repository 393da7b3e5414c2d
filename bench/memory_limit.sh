#!/usr/bin/env bash
# Serves a shop's data from a tallyd whose memory is capped below what its views need: loads the events,
# restarts tallyd inside a memory cgroup, lets the sealing passes move the views' older part to the cold
# chunk file, then caps the cgroup at tallyd's anonymous memory plus 24 MiB, so the kernel must drop
# and re-read the cold chunks and the sealed hour files. Asks the same questions (users' timelines and
# event lookups over the whole month) before and under the cap: the answers must be identical; prints
# how long each round took. Needs root and the cgroup memory controller (v1 or v2).
#
# Usage: bench/memory_limit.sh [events=2000000]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-2000000}"
source bench/common.sh
bench_binaries
bench_work_dir memlimit
port=18914

if [ -d /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/tally-bench-$$
  limit_file=memory.limit_in_bytes
elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cg=/sys/fs/cgroup/tally-bench-$$
  echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
  limit_file=memory.max
else
  echo "no cgroup memory controller here" >&2
  exit 2
fi
mkdir "$cg"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rmdir "$cg" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "# command: bench/memory_limit.sh $events"
echo "# build: $bin ($(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo ?)); machine: $(nproc) cores"
"$bin/tally" generate --events "$events" --out "$work/events.ndjson" --products 20000 --stores 200 \
  --users 250000 --late 0.03 --duplicates 0.01 --spread-hours 720 --now 1793527200000 >/dev/null
"$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" >"$work/tallyd.log" 2>&1 &
pid=$!
wait_ready
"$bin/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
sleep 20 # the hours are sealed
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true

(
  echo "$BASHPID" >"$cg/cgroup.procs"
  exec "$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" >"$work/restart.log" 2>&1
) &
pid=$!
wait_ready
sleep 8 # the first passes move the views' older part out again
kib() { awk -v key="$1:" '$1 == key {print $2}' "/proc/$pid/status"; }
anon_kb="$(kib RssAnon)"
cold_mib="$(curl -s 127.0.0.1:$port/metrics | awk '/^tally_cold_chunk_bytes / {printf "%d", $2 / 1048576}')"
echo "settled: $((anon_kb / 1024)) MiB anonymous, $(($(kib RssFile) / 1024)) MiB file-backed; the cold chunk file ${cold_mib} MiB"

# 3 000 users' timelines and 300 event lookups spread over the month: rows, ids and log records.
for u in $(seq 1 83 249000); do echo "http://127.0.0.1:$port/v1/users/u$u/events?limit=50"; done >"$work/urls"
for e in $(seq 1 6661 $((events - 1))); do echo "http://127.0.0.1:$port/v1/events/e1-$e"; done >>"$work/urls"
ask() {
  local started
  started="$(now_s)"
  xargs -n 50 curl -s <"$work/urls" >"$work/$1"
  echo "$1: $(wc -c <"$work/$1") bytes of answers in $(seconds_since "$started") s"
}
ask uncapped
limit=$((anon_kb * 1024 + 24 * 1048576))
sync
echo "$limit" >"$cg/$limit_file"
echo "capped at $((limit / 1048576)) MiB (anonymous + 24 MiB)"
ask capped
ask capped-again
kill -0 "$pid"
echo "major page faults: $(awk '{print $12}' "/proc/$pid/stat")"
cmp "$work/uncapped" "$work/capped" && cmp "$work/uncapped" "$work/capped-again" && echo "answers identical"
