#!/usr/bin/env bash
# POST and GET /analytics on tallyd (one thread) against nginx answering a static 204 (one worker), on the
# same machine, interleaved, several rounds. Prints req/s, p99 and server CPU per request for each, and
# the tallyd/nginx ratios with their medians.
#
# Usage: bench/take_home_vs_nginx.sh [rounds=3] [seconds=10] [connections=64]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
seconds="${2:-10}"
connections="${3:-64}"
preload="${PRELOAD_EVENTS:-1000000}"

scripts/setup.sh nginx-light wrk >/dev/null
work="$(mktemp -d /tmp/tally-bench-XXXXXX)"
nginx_port=18901
tally_port=18902
cleanup() {
  [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null || true
  [ -n "${tally_pid:-}" ] && kill "$tally_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 204; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
build/tallyd --listen "127.0.0.1:$tally_port" --data "$work/tally-data" --threads 1 >"$work/tallyd.log" 2>&1 &
tally_pid=$!
sleep 1
# nginx runs a master and one worker: measure the worker, which answers the requests.
nginx_worker="$(pgrep -P "$nginx_pid" | head -1)"

echo "# command: bench/take_home_vs_nginx.sh $rounds $seconds $connections (PRELOAD_EVENTS=$preload)"
echo "# build: $(grep CMAKE_BUILD_TYPE:STRING build/CMakeCache.txt | cut -d= -f2); machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(uname -r)"
echo "# load: wrk -t1 -c$connections -d${seconds}s keep-alive; nginx 1 worker (return 204) vs tallyd --threads 1 --sync interval"

cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
ticks_per_second="$(getconf CLK_TCK)"

# run_wrk NAME PID PORT SCRIPT -> prints "req_per_s p99_ms cpu_us_per_request"
run_wrk() {
  local pid="$2" port="$3" script="$4"
  local before after output rps p99 requests
  sleep 2  # let the previous run's log writeback finish: its fsync and flusher threads share these 2 cores
  before="$(cpu_ticks "$pid")"
  output="$(wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$script" "http://127.0.0.1:$port")"
  after="$(cpu_ticks "$pid")"
  rps="$(echo "$output" | awk '/Requests\/sec/ {print $2}')"
  requests="$(echo "$output" | awk '/requests in/ {print $1}')"
  p99="$(echo "$output" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}')"
  if echo "$output" | grep -q "Non-2xx"; then echo "ERROR: non-2xx answers from port $port" >&2; echo "$output" >&2; exit 1; fi
  local cpu_us
  cpu_us="$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v n="$requests" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')"
  echo "$rps $p99 $cpu_us"
}

hour_events() {
  curl -s "http://127.0.0.1:$tally_port/analytics?timestamp=$(($(date +%s) * 1000))" |
    awk -F, '$1 == "clicks" || $1 == "impressions" {n += $2} END {print n + 0}'
}
echo "# preloading $preload events into the current hour of tallyd"
wrk -t1 -c"$connections" -d600s -s bench/preload.lua "http://127.0.0.1:$tally_port" >/dev/null &
preload_pid=$!
while [ "$(hour_events)" -lt "$preload" ]; do sleep 0.2; done
kill "$preload_pid"; wait "$preload_pid" 2>/dev/null || true
echo "# current hour now: $(curl -s "http://127.0.0.1:$tally_port/analytics?timestamp=$(($(date +%s) * 1000))" | tr '\n' ' ')"

printf "%-6s %-5s %-8s %12s %9s %12s\n" round kind server "req/s" "p99 ms" "cpu us/req"
declare -a post_ratios get_ratios
for round in $(seq 1 "$rounds"); do
  for kind in POST GET; do
    script=bench/post_analytics.lua
    [ "$kind" = GET ] && script=bench/get_analytics.lua
    read -r n_rps n_p99 n_cpu < <(run_wrk nginx "$nginx_worker" "$nginx_port" "$script")
    read -r t_rps t_p99 t_cpu < <(run_wrk tallyd "$tally_pid" "$tally_port" "$script")
    printf "%-6s %-5s %-8s %12s %9s %12s\n" "$round" "$kind" nginx "$n_rps" "$n_p99" "$n_cpu"
    printf "%-6s %-5s %-8s %12s %9s %12s\n" "$round" "$kind" tallyd "$t_rps" "$t_p99" "$t_cpu"
    ratio="$(awk -v a="$t_rps" -v b="$n_rps" 'BEGIN {printf "%.3f", a / b}')"
    if [ "$kind" = POST ]; then post_ratios+=("$ratio"); else get_ratios+=("$ratio"); fi
  done
done
median() { printf "%s\n" "$@" | sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "tallyd/nginx req/s ratio, POST: ${post_ratios[*]} -> median $(median "${post_ratios[@]}")"
echo "tallyd/nginx req/s ratio, GET:  ${get_ratios[*]} -> median $(median "${get_ratios[@]}")"
echo "events held by tallyd after the run: $(curl -s "http://127.0.0.1:$tally_port/analytics?timestamp=$(($(date +%s) * 1000))" | tr '\n' ' ')"
