#!/usr/bin/env bash
# What late events cost once their hours are sealed: a day of a busy shop (EVENTS over 24 hours, so each
# hour holds EVENTS/24) is loaded into a one-shard tallyd and every hour sealed; then, for
# SECONDS_OF_TRICKLE, one late event goes to each of the day's hours every PERIOD seconds (slower than
# --seal-after, so each hour turns quiet between two of them, as a trickle of late events from phones that
# were offline does).
# Printed per build: tallyd's CPU-seconds and the bytes it wrote to disk during the trickle and until every
# hour is sealed whole again (a few late rows wait 60 x SEAL_AFTER beside their hour's seal), per late
# event, and that every hour still answers exactly (its counts before the trickle plus the late events);
# then tallyd's anonymous memory 30 s later and the sealed hour files' bytes, per event held.
# CORRECTIONS=1: the trickle corrects events of the day instead (version 2 of an event already in a sealed
# hour, the same user and time, another type, product and store): each hour keeps its counts, and the
# day's top 100 products are checked against the events file with the corrections applied.
# LATE_PER_HOUR=N: N late events to each hour every PERIOD seconds instead of one (bursts, as a batch of
# phones coming back online sends), each of a user of its own.
# "Sealed whole again" includes a sealed hour's parts merged into one (after 60 x SEAL_AFTER of quiet),
# for builds that seal late events as parts (tally_sealed_parts in /metrics).
#
# Usage: bench/late_trickle.sh BUILD... (each a directory holding tallyd and tally)
# Environment: EVENTS (3000000), SECONDS_OF_TRICKLE (60), PERIOD (4), SEAL_AFTER (2), ROUNDS (1),
#              CORRECTIONS (0), LATE_PER_HOUR (1)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bench_work_dir late-trickle
port=18923
events="${EVENTS:-3000000}"
trickle_seconds="${SECONDS_OF_TRICKLE:-60}"
period="${PERIOD:-4}"
seal_after="${SEAL_AFTER:-2}"
rounds="${ROUNDS:-1}"
corrections="${CORRECTIONS:-0}"
per_hour="${LATE_PER_HOUR:-1}"
now_ms=1793527200000
hz="$(getconf CLK_TCK)"
first_hour=$((now_ms / 3600000 - 24))

"$1/tally" generate --events "$events" --out "$work/events.ndjson" --products 20000 --stores 200 \
  --users 250000 --late 0 --duplicates 0 --spread-hours 24 --now "$now_ms" >/dev/null

day_from=$((first_hour * 3600000))
day_to=$(((first_hour + 24) * 3600000))
if [ "$corrections" = 1 ]; then
  # Events to correct: per hour of the day, in file order, events of the 100 products with the most events
  # (so that the top list checked after shows what the corrections took away), one line each: hour,
  # event id, user, time.
  python3 - "$work/events.ndjson" "$day_from" >"$work/to_correct.tsv" <<'PY'
import collections, json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
popular = {p for p, _ in collections.Counter(e.get("product_id") for e in events).most_common(101) if p}
taken = {}
for event in events:
    hour = (event["timestamp"] - int(sys.argv[2])) // 3600000
    if 0 <= hour < 24 and event.get("product_id") in popular and taken.get(hour, 0) < 1000:
        taken[hour] = taken.get(hour, 0) + 1
        print(hour, event["event_id"], event["user_id"], event["timestamp"])
PY
fi
# The trickle's batch for tick $1 of round $2: one late event, or one correction, to each hour.
trickle_batch() {
  if [ "$corrections" = 1 ]; then
    awk -v t="$1" '{n[$1]++} n[$1] == t + 1 {printf "{\"event_id\":\"%s\",\"version\":2,\"type\":\"click\",\"user_id\":\"%s\",\"timestamp\":%s,\"product_id\":\"p-late\",\"store_id\":\"s-late\"}\n", $2, $3, $4}' "$work/to_correct.tsv"
    return
  fi
  awk -v tick="$1" -v round="$2" -v n="$per_hour" -v first="$first_hour" 'BEGIN {
    for (hour = 0; hour < 24; hour++)
      for (k = 0; k < n; k++)
        printf "{\"event_id\":\"late-%d-%d-%d-%d\",\"type\":\"click\",\"user_id\":\"late-user-%d-%d\",\"timestamp\":%.0f,\"product_id\":\"p-late\",\"store_id\":\"s-late\"}\n",
          round, tick, hour, k, tick, k, (first + hour) * 3600000 + 1000 + tick * n + k
  }'
}
# The day's top 100 products from the events file with the first `ticks` corrections of each hour applied,
# as the server prints them.
expected_top() {
  python3 - "$work/events.ndjson" "$work/to_correct.tsv" "$1" <<'PY'
import json, sys
corrected, seen = {}, {}
for line in open(sys.argv[2]):
    hour, event_id, user, timestamp = line.split()
    seen[hour] = seen.get(hour, 0) + 1
    if seen[hour] <= int(sys.argv[3]):
        corrected[event_id] = user
products = {}
for line in open(sys.argv[1]):
    event = json.loads(line)
    product = "p-late" if event["event_id"] in corrected else event.get("product_id")
    if product is not None:
        entry = products.setdefault(product, [0, set()])
        entry[0] += 1
        entry[1].add(event["user_id"])
top = sorted(products.items(), key=lambda item: (-item[1][0], item[0]))[:100]
print(" ".join(f"{key}:{events}/{len(users)}" for key, (events, users) in top))
PY
}
served_top() {
  curl -sf "127.0.0.1:$port/v1/top?by=product_id&from=$day_from&to=$day_to&limit=100" |
    python3 -c 'import json,sys; print(" ".join("%s:%d/%d" % (e["key"], e["events"], e["unique_users"]) for e in json.load(sys.stdin)["top"]))'
}

# (shard, hour) pairs not sealed whole: hot, or sealed but for a few late rows (builds before 2026-12-04
# have no such tier).
unsealed_hours() {
  curl -s "127.0.0.1:$port/metrics" |
    awk '/^tally_hours\{tier="(hot|sealed_late_rows)"\}/ {n += $2}
         /^tally_hours\{tier="sealed"\}/ {sealed = $2}
         /^tally_sealed_parts / {parts = $2; with_parts = 1}
         END {print n + (with_parts ? parts - sealed : 0)}'
}
wait_sealed() {
  for _ in $(seq 1 6000); do
    [ "$(unsealed_hours)" = 0 ] && return 0
    sleep 0.1
  done
  echo "hours still not sealed whole after 600 s" >&2
  return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
written() { awk '/^write_bytes/ {print $2}' "/proc/$1/io"; }
# Every hour's events and unique users, as one line.
day_counts() {
  curl -sf "127.0.0.1:$port/v1/stats?from=$day_from&to=$day_to&bucket=hour" |
    python3 -c 'import json,sys; print(" ".join(str(b["events"]) + "/" + str(b["unique_users"]) for b in json.load(sys.stdin)["buckets"]))'
}

echo "# command: EVENTS=$events SECONDS_OF_TRICKLE=$trickle_seconds PERIOD=$period SEAL_AFTER=$seal_after ROUNDS=$rounds CORRECTIONS=$corrections LATE_PER_HOUR=$per_hour bench/late_trickle.sh $*"
what="one late event"
[ "$corrections" = 1 ] && what="one correction of an event"
[ "$per_hour" != 1 ] && what="$per_hour late events"
echo "# $((events / 24)) events an hour; $what to each of 24 hours every $period s for $trickle_seconds s"
echo "build  round  late events  tallyd CPU-s  ms CPU/late event  MiB written  KiB written/late event  exact  anon MiB  anon B/event  sealed files B/event"
for round in $(seq 1 "$rounds"); do
  for build in "$@"; do
    rm -rf "$work/data"
    "$build/tallyd" --threads 1 --shards 1 --checkpoint-every 0 --seal-after "$seal_after" \
      --data "$work/data" --listen 127.0.0.1:$port >"$work/tallyd.log" 2>&1 &
    pid=$!
    wait_ready
    "$build/tally" send "$work/events.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
    sleep "$((seal_after + 2))"
    wait_sealed
    before_counts="$(day_counts)"
    ticks_before="$(cpu_ticks "$pid")"
    written_before="$(written "$pid")"
    sent=0
    started="$(now_s)"
    tick=0
    while awk -v s="$(seconds_since "$started")" -v d="$trickle_seconds" 'BEGIN {exit !(s < d)}'; do
      if [ "$per_hour" = 1 ]; then
        trickle_batch "$tick" "$round" |
          curl -sf -X POST "127.0.0.1:$port/v1/events" -H "Content-Type: application/x-ndjson" --data-binary @- >/dev/null
      else  # (in batches of 1000, under the request's size limit)
        trickle_batch "$tick" "$round" >"$work/burst.ndjson"
        "$build/tally" send "$work/burst.ndjson" --batch 1000 --server 127.0.0.1:$port >/dev/null 2>&1
      fi
      sent=$((sent + 24 * per_hour))
      tick=$((tick + 1))
      sleep "$period"
    done
    sleep "$((seal_after + 2))"
    wait_sealed
    ticks="$(($(cpu_ticks "$pid") - ticks_before))"
    bytes="$(($(written "$pid") - written_before))"
    exact=no
    if [ "$corrections" = 1 ]; then
      # Each hour kept its events and users; the day's products are those of the file, corrected.
      [ "$(day_counts)" = "$before_counts" ] && [ "$(served_top)" = "$(expected_top "$tick")" ] && exact=yes
    else
      # Each hour gained `tick` x LATE_PER_HOUR events and as many new users.
      expected="$(echo "$before_counts" | tr ' ' '\n' |
        awk -F/ -v t="$((tick * per_hour))" '{printf "%s%d/%d", (NR > 1 ? " " : ""), $1 + t, $2 + t}')"
      # And the late product's events and users over the day, through the hours' sealed indexes.
      late_product="$(curl -sf "127.0.0.1:$port/v1/stats?from=$day_from&to=$day_to&product_id=p-late" |
        python3 -c 'import json,sys; t = json.load(sys.stdin)["total"]; print(t["events"], t["unique_users"])')"
      [ "$(day_counts)" = "$expected" ] && [ "$late_product" = "$sent $((tick * per_hour))" ] && exact=yes
    fi
    # Anonymous memory once the passes after the last seal have given the sealing's copies back.
    sleep 30
    anon_kb="$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")"
    sealed_bytes="$(du -sb "$work/data/segments" | cut -f1)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    awk -v b="$build" -v r="$round" -v n="$sent" -v t="$ticks" -v hz="$hz" -v w="$bytes" -v e="$exact" \
      -v a="$anon_kb" -v s="$sealed_bytes" -v total="$((events + sent))" \
      'BEGIN {printf "%s  %d  %d  %.2f  %.2f  %.1f  %.1f  %s  %.0f  %.1f  %.1f\n", b, r, n, t / hz,
              1000 * t / hz / n, w / 1048576, w / 1024 / n, e, a / 1024, a * 1024 / total, s / total}'
  done
done
