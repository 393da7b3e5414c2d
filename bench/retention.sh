#!/usr/bin/env bash
# What --retention frees on a shop's month arriving in time order (3 % of events 1-24 h late, 1 % of ids
# re-sent): the month is loaded into a tallyd without retention, which is then restarted with
# --retention KEEP_DAYS: the first pass drops the older hours and deletes the log segments that held only
# them. Prints memory and disk per event before, right after the pass (same process) and after another
# restart (the steady state of a server keeping KEEP_DAYS), the restart times, and sampled hours checked
# exact: the dropped ones answer zero, the kept ones what an independent count (python3) says.
#
# Usage: bench/retention.sh [events=5000000] [keep_days=7] [products=20000] [stores=200] [users=250000] [days=30]
# TALLY_BENCH_BUILD=DIR runs the tallyd and tally of another build.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-5000000}"
keep_days="${2:-7}"
products="${3:-20000}"
stores="${4:-200}"
users="${5:-250000}"
days="${6:-30}"
# The month ends at the current hour, so that the retention window falls inside it.
now=$(($(date +%s) / 3600 * 3600 * 1000))
source bench/common.sh
bench_binaries
bench_work_dir retention
port=18914

anon_kb() { awk '/RssAnon/ {print $2}' "/proc/$1/status"; }
disk() { (du -s -B1 "$work/data/$1" 2>/dev/null || echo 0) | cut -f1; }
# Segments of 32 MiB (the default is 128 MiB): retention deletes whole segments, and a month of this size
# needs several for that to show.
start_tallyd() {
  "$bin/tallyd" --listen 127.0.0.1:$port --data "$work/data" --segment-bytes 33554432 "$@" >>"$work/tallyd.log" 2>&1 &
  pid=$!
  started="$(now_s)"
  wait_ready
  ready_seconds="$(seconds_since "$started")"
}
stop_tallyd() {
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
}
report() {  # label, anonymous KiB, events it is divided by
  printf "%s: %d MiB anonymous (%.0f bytes per event of the %d), data directory %.0f MiB: log %.0f, sealed hour files %.0f, checkpoints %.0f bytes per event\n" \
    "$1" $(($2 / 1024)) "$(awk -v kb="$2" -v e="$3" 'BEGIN {print kb * 1024 / e}')" "$3" \
    "$(awk -v b="$(disk .)" 'BEGIN {print b / 1048576}')" "$(awk -v b="$(disk log)" -v e="$3" 'BEGIN {print b / e}')" \
    "$(awk -v b="$(disk segments)" -v e="$3" 'BEGIN {print b / e}')" \
    "$(awk -v b="$(disk checkpoints)" -v e="$3" 'BEGIN {print b / e}')"
}

echo "# command: bench/retention.sh $events $keep_days $products $stores $users $days"
echo "# build: $bin ($(git -C "$bin/.." log -1 --format=%h 2>/dev/null || echo ?)), $(grep CMAKE_BUILD_TYPE:STRING "$bin/CMakeCache.txt" | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$bin/tally" generate --events "$events" --out "$work/generated.ndjson" --products "$products" --stores "$stores" \
  --users "$users" --late 0 --duplicates 0.01 --spread-hours $((days * 24)) --now "$now" >/dev/null
# In time order, as a live shop sends them; 3 % arrive 1-24 hours after their time.
python3 - "$work/generated.ndjson" "$work/events.ndjson" <<'PY'
import json, random, sys
random.seed(7)
keyed = []
with open(sys.argv[1]) as lines:
    for line in lines:
        timestamp = json.loads(line)["timestamp"]
        arrival = timestamp + (random.randint(3_600_000, 86_400_000) if random.random() < 0.03 else 0)
        keyed.append((arrival, line))
keyed.sort(key=lambda item: item[0])
with open(sys.argv[2], "w") as out:
    out.writelines(line for _, line in keyed)
PY
rm "$work/generated.ndjson"

start_tallyd
"$bin/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >"$work/send.log" 2>&1
sleep 15 # quiet hours are sealed after --seal-after (10 s)
loaded_anon="$(anon_kb "$pid")"
held="$(curl -s 127.0.0.1:$port/metrics | awk '/^tally_log_records / {print $2}')"
stop_tallyd
report "the whole month loaded, hours sealed" "$loaded_anon" "$held"

start_tallyd --retention "${keep_days}d"
pass_started="$started"
for _ in $(seq 1 1200); do
  grep -q "retention: hours dropped" "$work/tallyd.log" && break
  sleep 0.1
done
pass_seconds="$(seconds_since "$pass_started")"
sleep 2
kept="$(curl -s "127.0.0.1:$port/v1/stats?from=0&to=253402300800000&bucket=all" | sed 's/.*"events":\([0-9]*\).*/\1/')"
dropped_anon="$(anon_kb "$pid")"
grep "retention:" "$work/tallyd.log" | tail -1 | sed 's/^/# /'
echo "first start with --retention ${keep_days}d: /readyz after ${ready_seconds} s, the pass done ${pass_seconds} s after the start; $kept of the month's current events kept"
report "right after the pass (the same process: the heap keeps some of what it freed)" "$dropped_anon" "$kept"
stop_tallyd

start_tallyd --retention "${keep_days}d"
steady_anon="$(anon_kb "$pid")"
echo "restart with --retention ${keep_days}d: /readyz after ${ready_seconds} s"
report "after that restart" "$steady_anon" "$kept"

check_status=0
python3 - "$work/events.ndjson" "$port" "$now" "$keep_days" <<'PY' || check_status=$?
import json, sys, urllib.request
sys.path.insert(0, "bench")
from shop_counts import HOUR_MS as hour_ms, count
path, port, now, keep_days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
first_kept = (now - keep_days * 24 * hour_ms) // hour_ms
counted = count(path)
events, users = counted.events, counted.users
hours = sorted(events)
sampled = hours[:: max(1, len(hours) // 24)] + [hours[-1]]
wrong = 0
for hour in sampled:
    url = f"http://127.0.0.1:{port}/v1/stats?from={hour * hour_ms}&to={(hour + 1) * hour_ms}&bucket=all"
    total = json.load(urllib.request.urlopen(url))["total"]
    kept = hour >= first_kept
    expected = (events[hour], len(users[hour])) if kept else (0, 0)
    if (total["events"], total["unique_users"]) != expected:
        wrong += 1
        print(f"hour {hour} ({'kept' if kept else 'dropped'}): server {total} expected {expected}")
dropped = sum(1 for hour in sampled if hour < first_kept)
print(f"sampled {len(sampled)} hours ({dropped} dropped, {len(sampled) - dropped} kept): "
      f"{len(sampled) - wrong} exact, {wrong} wrong")
sys.exit(1 if wrong else 0)
PY
stop_tallyd
exit "$check_status"
