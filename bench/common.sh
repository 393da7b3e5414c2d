# Sourced by the benchmark scripts: a work directory removed on exit (with every process started in the
# background), waiting for a server to be ready, and wall-clock arithmetic.

# Sets `work` to a fresh directory /tmp/tally-NAME-XXXXXX, removed (and the background jobs killed) on exit.
bench_work_dir() {
  work="$(mktemp -d "/tmp/tally-$1-XXXXXX")"
  trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
}

# Waits up to 60 s for 127.0.0.1:PORT/readyz (default: $port) to answer 200.
wait_ready() {
  for _ in $(seq 1 6000); do
    curl -sf "127.0.0.1:${1:-$port}/readyz" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  return 1
}

now_s() { date +%s.%N; }
# Seconds since a now_s value, to two decimals.
seconds_since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN {printf "%.2f", b - a}'; }
