#!/usr/bin/env bash
# Cluster mode on this machine: 3 nats-server (JetStream, R3) and 3 tallyd on loopback. Loads N events
# (NDJSON batches of 1 000, one load generator per tallyd at once), reports the cluster's ingest events/s,
# checks that the three nodes agree (digest with consistency=strong), then starts a fourth tallyd on an
# empty directory and times how long it takes to catch up with the whole stream (/readyz answers 200).
#
# Usage: bench/cluster.sh [events=10000000]
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-10000000}"
scripts/setup.sh >/dev/null
work="$(mktemp -d /tmp/tally-cluster-bench-XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

echo "# command: bench/cluster.sh $events"
echo "# build: $(grep CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); all 7 processes and the load generators on it"
# shellcheck source=scripts/lib/nats_cluster.sh
source scripts/lib/nats_cluster.sh
start_nats_cluster "$work" bench 24222 26222 28222
urls="$NATS_URLS"
wait_ready() { for _ in $(seq 1 6000); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.05; done; return 1; }
for i in 1 2 3; do
  build/tallyd --listen "127.0.0.1:$((19080 + i))" --data "$work/tally$i" --nats "$urls" --node "t$i" \
    --stream bench >"$work/tally$i.log" 2>&1 &
done
for i in 1 2 3; do wait_ready $((19080 + i)); done

start=$(date +%s.%N)
for i in 1 2 3; do
  build/tally load --server "127.0.0.1:$((19080 + i))" --batch 1000 --connections 2 \
    --events $((events / 3)) --seed "$i" --seconds 100000 >"$work/load$i.txt" &
done
wait $(jobs -p | tail -3)
end=$(date +%s.%N)
sent=$(cat "$work"/load*.txt | awk '/^events/ {sum += $2} END {print sum}')
echo "ingest: $sent events through 3 nodes in $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s = $(awk -v n="$sent" -v a="$start" -v b="$end" 'BEGIN {printf "%d", n / (b - a)}') events/s"
grep -h "errors" "$work"/load*.txt | sort | uniq -c
digests=$(for i in 1 2 3; do curl -fs "http://127.0.0.1:$((19080 + i))/v1/admin/digest?consistency=strong"; echo; done | sort -u)
echo "digests of the 3 nodes (one line = all equal):"
echo "$digests"

start=$(date +%s.%N)
build/tallyd --listen 127.0.0.1:19084 --data "$work/tally4" --nats "$urls" --node t4 --stream bench \
  >"$work/tally4.log" 2>&1 &
wait_ready 19084
end=$(date +%s.%N)
echo "new node caught up with the stream ($sent events) in $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}') s; digest $(curl -fs http://127.0.0.1:19084/v1/admin/digest)"
