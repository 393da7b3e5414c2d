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
#
# Usage: bench/late_trickle.sh BUILD... (each a directory holding tallyd and tally)
# Environment: EVENTS (3000000), SECONDS_OF_TRICKLE (60), PERIOD (4), SEAL_AFTER (2), ROUNDS (1)
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
now_ms=1793527200000
hz="$(getconf CLK_TCK)"
first_hour=$((now_ms / 3600000 - 24))

"$1/tally" generate --events "$events" --out "$work/events.ndjson" --products 20000 --stores 200 \
  --users 250000 --late 0 --duplicates 0 --spread-hours 24 --now "$now_ms" >/dev/null

# (shard, hour) pairs not sealed whole: hot, or sealed but for a few late rows (builds before 2026-12-04
# have no such tier).
unsealed_hours() {
  curl -s "127.0.0.1:$port/metrics" |
    awk '/^tally_hours\{tier="(hot|sealed_late_rows)"\}/ {n += $2} END {print n + 0}'
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
  curl -sf "127.0.0.1:$port/v1/stats?from=$((first_hour * 3600000))&to=$(((first_hour + 24) * 3600000))&bucket=hour" |
    python3 -c 'import json,sys; print(" ".join(str(b["events"]) + "/" + str(b["unique_users"]) for b in json.load(sys.stdin)["buckets"]))'
}

echo "# command: EVENTS=$events SECONDS_OF_TRICKLE=$trickle_seconds PERIOD=$period SEAL_AFTER=$seal_after ROUNDS=$rounds bench/late_trickle.sh $*"
echo "# $((events / 24)) events an hour; one late event to each of 24 hours every $period s for $trickle_seconds s"
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
      batch=""
      for hour in $(seq 0 23); do
        batch+="{\"event_id\":\"late-$round-$tick-$hour\",\"type\":\"click\",\"user_id\":\"late-user-$tick\",\"timestamp\":$(((first_hour + hour) * 3600000 + 1000 + tick)),\"product_id\":\"p-late\",\"store_id\":\"s-late\"}"$'\n'
      done
      curl -sf -X POST "127.0.0.1:$port/v1/events" -H "Content-Type: application/x-ndjson" --data-binary "$batch" >/dev/null
      sent=$((sent + 24))
      tick=$((tick + 1))
      sleep "$period"
    done
    sleep "$((seal_after + 2))"
    wait_sealed
    ticks="$(($(cpu_ticks "$pid") - ticks_before))"
    bytes="$(($(written "$pid") - written_before))"
    # Each hour gained `tick` events and `tick` new users.
    expected="$(echo "$before_counts" | tr ' ' '\n' |
      awk -F/ -v t="$tick" '{printf "%s%d/%d", (NR > 1 ? " " : ""), $1 + t, $2 + t}')"
    # And the late product's events and users over the day, through the hours' sealed indexes.
    late_product="$(curl -sf "127.0.0.1:$port/v1/stats?from=$((first_hour * 3600000))&to=$(((first_hour + 24) * 3600000))&product_id=p-late" |
      python3 -c 'import json,sys; t = json.load(sys.stdin)["total"]; print(t["events"], t["unique_users"])')"
    exact=no
    [ "$(day_counts)" = "$expected" ] && [ "$late_product" = "$sent $tick" ] && exact=yes
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
