#!/usr/bin/env bash
# Soak test (not part of the test command): tallyd under mixed load for MINUTES (default 10) with hostile
# clients among the good ones (slowloris, garbage bytes, oversize bodies and headers, header floods,
# connection floods, invalid and too-deep events), then checks that the server counts exactly what it
# acknowledged and that its memory stays flat while only hostile clients are at it.
# Usage: scripts/soak.sh [MINUTES] [extra tallyd flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
shift || true
scripts/setup.sh >/dev/null
work="$(mktemp -d /tmp/tally-soak-XXXXXX)"
port=$((20000 + RANDOM % 20000))
build/tallyd --listen "127.0.0.1:$port" --data "$work/data" --idle-timeout 5 "$@" >"$work/tallyd.log" 2>&1 &
tallyd_pid=$!
trap 'kill "$tallyd_pid" 2>/dev/null || true; wait "$tallyd_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do grep -q "listening" "$work/tallyd.log" && break; sleep 0.1; done
echo "soak: tallyd pid $tallyd_pid on port $port for $minutes minute(s); data in $work"
status=0
/usr/bin/python3 scripts/soak.py "$port" "$tallyd_pid" "$(awk "BEGIN{print $minutes * 60}")" || status=$?
if grep -E "ERROR: AddressSanitizer|runtime error:" "$work/tallyd.log"; then status=1; fi
exit "$status"
