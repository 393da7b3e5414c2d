#!/usr/bin/env bash
# Runs a local cluster on loopback until Ctrl-C: 3 nats-server (one JetStream cluster, the stream with 3
# replicas) and 3 tallyd nodes on http://127.0.0.1:8081, :8082 and :8083. Any node takes writes; every
# node answers every query (add ?consistency=strong to wait for the latest writes of the others).
#
# Usage: scripts/cluster.sh [directory=/tmp/tally-cluster]   (data survives a restart of the script)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
dir="${1:-/tmp/tally-cluster}"
mkdir -p "$dir"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM

# shellcheck source=scripts/lib/nats_cluster.sh
source scripts/lib/nats_cluster.sh
start_nats_cluster "$dir" tally 14222 16222 18222
urls="$NATS_URLS"
for i in 1 2 3; do
  build/tallyd --listen "127.0.0.1:$((8080 + i))" --data "$dir/tally$i" --nats "$urls" --node "t$i" \
    >"$dir/tally$i.log" 2>&1 &
done
for i in 1 2 3; do
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$((8080 + i))/readyz" >/dev/null && break
    sleep 0.1
  done
done
echo "tally cluster up: http://127.0.0.1:8081 http://127.0.0.1:8082 http://127.0.0.1:8083 (logs and data in $dir); Ctrl-C stops it"
wait
