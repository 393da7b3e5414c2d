# Sourced by the benchmark scripts: the binaries to run, a work directory removed on exit (with every
# process started in the background), waiting for a server to be ready, wall-clock arithmetic, and the
# shop-shaped events several of them load.

# Sets `bin` to the directory of the tallyd and tally to run: TALLY_BENCH_BUILD (another build, to compare
# two versions side by side), else build/, set up (and built) first.
bench_binaries() {
  bin="${TALLY_BENCH_BUILD:-build}"
  [ -n "${TALLY_BENCH_BUILD:-}" ] || scripts/setup.sh >/dev/null
}

# Sets `work` to a fresh directory /tmp/tally-NAME-XXXXXX, removed (and the background jobs killed) on exit;
# TALLY_BENCH_KEEP=1 keeps it (to look again at the data directory a run left).
bench_work_dir() {
  work="$(mktemp -d "/tmp/tally-$1-XXXXXX")"
  if [ -n "${TALLY_BENCH_KEEP:-}" ]; then
    echo "# work directory kept: $work"
    trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
  else
    trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
  fi
}

# Waits up to SECONDS (default 60) for 127.0.0.1:PORT/readyz (default: $port) to answer 200.
wait_ready() {
  for _ in $(seq 1 $((${2:-60} * 100))); do
    curl -sf "127.0.0.1:${1:-$port}/readyz" >/dev/null 2>&1 && return 0
    sleep 0.01
  done
  return 1
}

# The (shard, hour) pairs tallyd on $port counts in a tier of /metrics' tally_hours (hot, sealed,
# sealed_late_rows).
hours_of_tier() { curl -s "127.0.0.1:$port/metrics" | awk -v t="tally_hours{tier=\"$1\"}" '$1 == t {print $2}'; }

now_s() { date +%s.%N; }
# Seconds since a now_s value, to two decimals.
seconds_since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN {printf "%.2f", b - a}'; }

# The order of the events `tally generate` writes: TALLY_BENCH_ORDER=time stamps them in the order they are
# sent, as a live stream arrives over the month (late ones set back 1-24 h); by default (shuffled) each is
# stamped anywhere in the month, a backfill in which every batch touches most hours.
event_order_flag() {
  case "${1:-${TALLY_BENCH_ORDER:-shuffled}}" in
  time) echo --in-time-order ;;
  shuffled) ;;
  *) echo "event order: time or shuffled, not $1" >&2 && return 1 ;;
  esac
}

# Writes $1 events shaped like a shop's month to the file $2: 20 000 products, 200 stores, 250 000 users,
# over 720 hours, 3 % late, 1 % re-sent ids; $3 the order (event_order_flag).
generate_shop_events() {
  local order
  order="$(event_order_flag "${3:-}")"
  "$bin/tally" generate --events "$1" --out "$2" --products 20000 --stores 200 --users 250000 \
    --late 0.03 --duplicates 0.01 --spread-hours 720 --now 1793527200000 $order >/dev/null
}
