#!/usr/bin/env bash
# Loads data shaped like a shop's into a fresh tallyd with its default flags and prints what it costs:
# tallyd's events per CPU-second while taking NDJSON batches of 1 000, resident memory and disk per event,
# how long a stop and a restart (until /readyz answers 200) take, and sampled hours', top lists' and the
# whole month's answers checked exact against an independent count of the same events (python3, first
# arrival of an event id wins; bench/shop_counts.py), with the time the whole month's unique users take.
#
# Usage: bench/storage_shapes.sh [events=5000000] [products=20000] [stores=200] [users=250000] [days=30]
# The month of a mid-size shop: the defaults. The large case: bench/storage_shapes.sh 100000000 20000 200 1000000
# (its generated file alone is ~13 GB, the data directory some 30 GB more; the count in python3 takes
# about 12 minutes, the whole run about an hour).
# TALLY_BENCH_BUILD=DIR runs the tallyd and tally of another build (to compare two versions side by side);
# TALLY_BENCH_FLAGS="--threads 1 --shards 1" adds flags to tallyd (default: none, tallyd's defaults).
# TALLY_BENCH_ORDER=time sends the month as a live stream arrives, in time order with the late events among
# them (default: shuffled, each event anywhere in the month; bench/common.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-5000000}"
products="${2:-20000}"
stores="${3:-200}"
users="${4:-250000}"
days="${5:-30}"
late=0.03
duplicates=0.01
now=1793527200000 # 2026-11-01T10:00:00Z: the same options give the same events
source bench/common.sh
bench_binaries
bench_work_dir shapes
port=18913

# tallyd's CPU, with its checkpoint writers' (forked children, counted once they ended).
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15 + $16 + $17) / hz}' "/proc/$1/stat"; }

echo "# command: bench/storage_shapes.sh $events $products $stores $users $days"
echo "# build: $bin ($(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo ?)), $(grep CMAKE_BUILD_TYPE:STRING "$bin/CMakeCache.txt" | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# tallyd flags: ${TALLY_BENCH_FLAGS:-(defaults)}"
echo "# data: $events events over $days days, $products products, $stores stores, $users users, ${late} late (1-24 h), ${duplicates} re-sent ids, ${TALLY_BENCH_ORDER:-shuffled} order"
"$bin/tally" generate --events "$events" --out "$work/events.ndjson" --products "$products" --stores "$stores" \
  --users "$users" --late "$late" --duplicates "$duplicates" --spread-hours $((days * 24)) --now "$now" \
  $(event_order_flag) >/dev/null
# The independent count, before tallyd starts so that it takes no CPU from it.
python3 bench/shop_counts.py expect "$work/events.ndjson" "$now" "$days" >"$work/expected.json"

"$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" ${TALLY_BENCH_FLAGS:-} >"$work/tallyd.log" 2>&1 &
pid=$!
wait_ready
cpu_before="$(cpu_seconds "$pid")"
started="$(now_s)"
"$bin/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >"$work/send.log" 2>&1
elapsed="$(awk -v a="$started" -v b="$(now_s)" 'BEGIN {print b - a}')"
cpu="$(awk -v a="$cpu_before" -v b="$(cpu_seconds "$pid")" 'BEGIN {print b - a}')"
rss_kb="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
anon_kb="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
# Quiet hours are sealed after --seal-after (10 s by default): the answers below then come from the sealed
# indexes (and the memory figure includes them). A large load takes longer to seal: wait until no hour is
# hot (up to 10 minutes).
sleep 15
for _ in $(seq 1 600); do
  [ "$(curl -s 127.0.0.1:$port/metrics | awk '/^tally_hours\{tier="hot"\}/ {print $2}')" = 0 ] && break
  sleep 1
done
sealed_rss_kb="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
sealed_anon_kb="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
sealed_file_kb="$(awk '/RssFile/ {print $2}' "/proc/$pid/status")"
# The passes after the last seal freeze the hours' user sets and give the sealing's copies back: the
# anonymous memory 30 s later.
sleep 30
sealed_settled_kb="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
cold_bytes="$(curl -s 127.0.0.1:$port/metrics | awk '/^tally_cold_chunk_bytes / {print $2}')"

check_status=0
python3 bench/shop_counts.py check "$work/expected.json" "$port" >"$work/check.log" || check_status=$?
held="$(curl -s 127.0.0.1:$port/v1/admin/digest | sed 's/.*"lsn":\([0-9]*\).*/\1/')"

stop_started="$(now_s)"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
stop_seconds="$(seconds_since "$stop_started")"
# Disk blocks in use (the cold chunk files are sparse: places given back are punched out).
disk_bytes="$(du -s -B1 "$work/data" | cut -f1)"
log_bytes="$(du -s -B1 "$work/data/log" | cut -f1)"
segment_bytes="$( (du -s -B1 "$work/data/segments" 2>/dev/null || echo 0) | cut -f1)"
cold_disk_bytes="$( (du -c -B1 "$work/data/checkpoints"/cold-* 2>/dev/null || echo 0) | tail -1 | cut -f1)"

restart_started="$(now_s)"
"$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" ${TALLY_BENCH_FLAGS:-} >"$work/restart.log" 2>&1 &
pid=$!
wait_ready "$port" 900
restart_seconds="$(seconds_since "$restart_started")"
restart_rss_kb="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
# The sealer's first passes move the views' older chunks out of the heap again: anonymous memory 5 s
# after /readyz, and once it stops falling (sampled every 5 s, at most a minute).
sleep 5
restart_anon_kb="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
settled_anon_kb="$restart_anon_kb"
for _ in $(seq 1 12); do
  sleep 5
  anon_now="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
  [ "$anon_now" -lt "$settled_anon_kb" ] || break
  settled_anon_kb="$anon_now"
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true

awk -v e="$events" -v held="$held" -v cpu="$cpu" -v wall="$elapsed" -v rss="$rss_kb" -v anon="$anon_kb" \
  -v disk="$disk_bytes" -v logb="$log_bytes" -v segb="$segment_bytes" -v coldb="$cold_disk_bytes" -v stop="$stop_seconds" -v restart="$restart_seconds" \
  -v rrss="$restart_rss_kb" -v srss="$sealed_rss_kb" -v sanon="$sealed_anon_kb" -v ssettled="$sealed_settled_kb" -v sfile="$sealed_file_kb" \
  -v cold="${cold_bytes:-0}" -v ranon="$restart_anon_kb" -v settled="$settled_anon_kb" 'BEGIN {
  printf "ingest: %d events sent in %.1f s wall, tallyd %.1f CPU-s: %.0f events per tallyd CPU-second, %.0f events/s wall\n", e, wall, cpu, e / cpu, e / wall
  printf "memory: %d MiB resident (%d MiB anonymous) for %d log records: %.0f bytes per event (%.0f anonymous)\n", rss / 1024, anon / 1024, held, rss * 1024 / e, anon * 1024 / e
  printf "memory once the hours are sealed: %d MiB resident (%d MiB anonymous): %.0f bytes per event (%.0f anonymous); 30 s later %d MiB anonymous (%.1f bytes per event)\n", srss / 1024, sanon / 1024, srss * 1024 / e, sanon * 1024 / e, ssettled / 1024, ssettled * 1024 / e
  printf "  file-backed (page cache, mapped): %d MiB, of which the cold chunk file %d MiB (%.0f bytes per event)\n", sfile / 1024, cold / 1048576, cold / e
  printf "disk: %.0f MiB in the data directory, %.0f bytes per event (log %.0f, sealed hour files %.0f, cold chunk files %.0f, checkpoints %.0f)\n", disk / 1048576, disk / e, logb / e, segb / e, coldb / e, (disk - logb - segb - coldb) / e
  printf "stop (SIGTERM to exit): %s s; restart (start to /readyz 200): %s s, then %d MiB resident; 5 s later %d MiB anonymous, settled %d MiB (%.1f bytes per event)\n", stop, restart, rrss / 1024, ranon / 1024, settled / 1024, settled * 1024 / e
}'
# tallyd's own account: each checkpoint (the fork ingest waits for, then the child's write) and what the restart loaded.
# (A large load writes many checkpoints: their number and the last three.)
echo "  tallyd: $(grep -c 'checkpoint of ' "$work/tallyd.log" || true) checkpoints written during the load and the stop"
grep -ho 'checkpoint of [^"]* ms' "$work/tallyd.log" | tail -3 | tr -d '"' | sed 's/^/  tallyd: /' || true
grep -ho 'loaded checkpoint [^"]* ms\|[0-9]* sealed hour file(s) mapped[^"]*\|[0-9]* MiB of the checkpoint.s chunks used[^"]*' "$work/restart.log" | tr -d '"' |
  sed 's/^/  tallyd: /' || true
cat "$work/check.log"
exit "$check_status"
