# Sourced by scripts/cluster.sh and bench/cluster.sh: starts a 3-node nats-server JetStream cluster on
# loopback and waits for its meta leader.
#
# start_nats_cluster DIR NAME CLIENT_PORT CLUSTER_PORT HTTP_PORT: node i (1..3) listens on PORT + i - 1
# for each; sets NATS_URLS to the comma-separated client URLs. The caller's trap stops the servers.
start_nats_cluster() {
  local dir="$1" name="$2" client="$3" cluster="$4" http="$5" i routes=""
  for i in 0 1 2; do routes+="${routes:+,}\"nats-route://127.0.0.1:$((cluster + i))\""; done
  NATS_URLS=""
  for i in 0 1 2; do
    cat >"$dir/n$((i + 1)).conf" <<CONF
server_name: n$((i + 1))
listen: 127.0.0.1:$((client + i))
http: 127.0.0.1:$((http + i))
jetstream { store_dir: "$dir/n$((i + 1))", max_memory_store: 256MB, max_file_store: 64GB }
cluster { name: $name, listen: 127.0.0.1:$((cluster + i)), routes: [$routes] }
CONF
    nats-server -c "$dir/n$((i + 1)).conf" -l "$dir/n$((i + 1)).log" &
    NATS_URLS+="${NATS_URLS:+,}nats://127.0.0.1:$((client + i))"
  done
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$http/jsz" | grep -q '"leader"' && return 0
    sleep 0.2
  done
  echo "nats-server: no JetStream leader after 20 s (logs in $dir)" >&2
  return 1
}
