#!/usr/bin/env bash
# The same events loaded into tally, PostgreSQL (Debian's postgresql, COPY of a CSV file) and ClickHouse
# (Debian's clickhouse-server 18.16, HTTP INSERT ... FORMAT JSONEachRow into a MergeTree partitioned by
# hour), then the exact one-hour question (unique users, clicks, impressions) asked of each. The answers
# are checked equal before any timing is printed.
#
# Usage: bench/vs_databases.sh [events=5000000] [queries=20]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-5000000}"
queries="${2:-20}"
scripts/setup.sh postgresql clickhouse-server clickhouse-client >/dev/null
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
work="$(mktemp -d /tmp/tally-vs-pg-XXXXXX)"
chmod 755 "$work"
pg_port=18932
tally_port=18933
ch_port=18943
cleanup() {
  [ -n "${ch_pid:-}" ] && kill "$ch_pid" 2>/dev/null || true
  [ -n "${tally_pid:-}" ] && kill "$tally_pid" 2>/dev/null || true
  su postgres -s /bin/sh -c "$pg_bin/pg_ctl -D $work/pg -m immediate stop" >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now=1793527200000  # the data: 24 hours before 2026-11-01T10:00Z, fixed so every run loads the same events
mix=(--seed 11 --users 200000 --impressions 0.7 --late 0 --duplicates 0 --spread-hours 24 --now "$now")
hour=$((now - 5 * 3600000))  # an hour inside the data

echo "# command: bench/vs_databases.sh $events $queries"
echo "# build: $(grep CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# data: $events events over 24 hours, 200 000 users, 70 % impressions (tally generate ${mix[*]})"
build/tally generate --events "$events" --out "$work/events.csv" --format csv "${mix[@]}" >/dev/null
chmod 644 "$work/events.csv"
build/tally generate --events "$events" --out "$work/events.ndjson" "${mix[@]}" >/dev/null

# PostgreSQL: its own cluster on a loopback port, loaded with COPY, indexed by time after the load.
mkdir -p "$work/pg" "$work/pg-run"
chown postgres "$work/pg" "$work/pg-run"
su postgres -s /bin/sh -c "$pg_bin/initdb -D $work/pg -A trust -U postgres" >/dev/null
su postgres -s /bin/sh -c "$pg_bin/pg_ctl -D $work/pg -o '-p $pg_port -k $work/pg-run -c listen_addresses=127.0.0.1' -l $work/pg-run/pg.log start -w" >/dev/null
psql=(psql -h 127.0.0.1 -p "$pg_port" -U postgres -X -q -t -A)
"${psql[@]}" -c "CREATE TABLE events (event_id text, type text, user_id text, ts bigint, product_id text, store_id text)"
start=$(date +%s.%N)
"${psql[@]}" -c "\\copy events FROM '$work/events.csv' WITH (FORMAT csv)"
"${psql[@]}" -c "CREATE INDEX events_ts ON events (ts); ANALYZE events"
pg_load=$(echo "$(date +%s.%N) - $start" | bc)
query="SELECT count(DISTINCT user_id), count(*) FILTER (WHERE type = 'click'), count(*) FILTER (WHERE type = 'impression') FROM events WHERE ts >= $hour AND ts < $((hour + 3600000))"
pg_answer=$("${psql[@]}" -c "$query" | tr '|' ',')

# ClickHouse: its own server on loopback ports, configured from the package's config with private paths.
ch="$work/ch"
mkdir -p "$ch/data/tmp" "$ch/data/user_files" "$ch/data/format_schemas" "$ch/log"
sed -e "s#<log>.*</log>#<log>$ch/log/ch.log</log>#; s#<errorlog>.*</errorlog>#<errorlog>$ch/log/ch.err.log</errorlog>#" \
    -e "s#<http_port>8123</http_port>#<http_port>$ch_port</http_port>#; s#<tcp_port>9000</tcp_port>#<tcp_port>$((ch_port + 1))</tcp_port>#" \
    -e "s#<interserver_http_port>9009</interserver_http_port>#<interserver_http_port>$((ch_port + 2))</interserver_http_port>#" \
    -e "s#<listen_host>::1</listen_host>##; s#/var/lib/clickhouse/#$ch/data/#g" \
    /etc/clickhouse-server/config.xml >"$ch/config.xml"
cp /etc/clickhouse-server/users.xml "$ch/"
(cd "$ch" && exec clickhouse-server --config-file="$ch/config.xml" >"$ch/log/stdout.log" 2>&1) &
ch_pid=$!
ch_query() { curl -sS --fail "http://127.0.0.1:$ch_port/" --data-binary "$1"; }
for _ in $(seq 1 100); do ch_query "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
ch_query "CREATE TABLE events (event_id String, type String, user_id String, timestamp UInt64, product_id String, store_id String) ENGINE = MergeTree() PARTITION BY intDiv(timestamp, 3600000) ORDER BY (timestamp)"
start=$(date +%s.%N)
curl -sS --fail "http://127.0.0.1:$ch_port/?query=INSERT%20INTO%20events%20FORMAT%20JSONEachRow" --data-binary @"$work/events.ndjson"
ch_load=$(echo "$(date +%s.%N) - $start" | bc)
ch_sql="SELECT uniqExact(user_id), countIf(type = 'click'), countIf(type = 'impression') FROM events WHERE timestamp >= $hour AND timestamp < $((hour + 3600000))"
ch_answer=$(ch_query "$ch_sql FORMAT CSV" | tr -d '\r')

# tally: the same events over HTTP as NDJSON batches of 1 000.
build/tallyd --listen 127.0.0.1:$tally_port --data "$work/tally" --threads 1 >"$work/tallyd.log" 2>&1 &
tally_pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/tallyd.log" && break; sleep 0.1; done
tally_load_line=$(build/tally load --server 127.0.0.1:$tally_port --batch 1000 --connections 4 --events "$events" "${mix[@]}" | grep '^events')
tally_answer=$(curl -s "http://127.0.0.1:$tally_port/analytics?timestamp=$hour" | cut -d, -f2 | paste -sd,)

echo "answer for the hour starting $hour: tally $tally_answer, PostgreSQL $pg_answer, ClickHouse $ch_answer"
if [ "$tally_answer" != "$pg_answer" ] || [ "$tally_answer" != "$ch_answer" ]; then
  echo "ERROR: the answers differ" >&2
  exit 1
fi

# Query latency: `queries` runs each, median (curl's total time; psql's \timing for PostgreSQL).
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
tally_ms=$(for _ in $(seq 1 "$queries"); do curl -s -o /dev/null -w "%{time_total}\n" "http://127.0.0.1:$tally_port/analytics?timestamp=$hour"; done | awk '{print $1 * 1000}' | median)
pg_ms=$( (echo "\\timing on"; for _ in $(seq 1 "$queries"); do echo "$query;"; done) | "${psql[@]}" | awk '/^Time:/ {print $2}' | median)
ch_ms=$(for _ in $(seq 1 "$queries"); do curl -s -o /dev/null -w "%{time_total}\n" "http://127.0.0.1:$ch_port/" --data-binary "$ch_sql"; done | awk '{print $1 * 1000}' | median)
echo "load:  tally ${tally_load_line#events }"
echo "       PostgreSQL $(echo "$events / $pg_load" | bc) rows/s (COPY + index, $pg_load s)"
echo "       ClickHouse $(echo "$events / $ch_load" | bc) rows/s (INSERT FORMAT JSONEachRow over HTTP, $ch_load s)"
echo "query (median of $queries): tally ${tally_ms} ms, ClickHouse ${ch_ms} ms (both HTTP round trips), PostgreSQL ${pg_ms} ms (server time)"
# What each holds for the events, after the queries: bytes per event on disk (tally's data directory, the
# log included; ClickHouse's table directory; PostgreSQL's table and index) and the servers' memory.
per_event() { awk -v b="$1" -v e="$events" 'BEGIN {printf "%.0f", b / e}'; }
tally_disk=$(du -sb "$work/tally" | cut -f1)
ch_disk=$(du -sb "$ch/data/data/default/events" | cut -f1)
pg_disk=$("${psql[@]}" -c "SELECT pg_total_relation_size('events')")
echo "disk per event: tally $(per_event "$tally_disk") B (its data directory), ClickHouse $(per_event "$ch_disk") B (the table), PostgreSQL $(per_event "$pg_disk") B (table and index)"
kib() { awk -v f="$2" '$1 == f {print $2}' "/proc/$1/status"; }
echo "memory per event: tally $(per_event $(($(kib "$tally_pid" RssAnon:) * 1024))) B anonymous, $(per_event $(($(kib "$tally_pid" VmRSS:) * 1024))) B resident; ClickHouse $(per_event $(($(kib "$ch_pid" VmRSS:) * 1024))) B resident"
