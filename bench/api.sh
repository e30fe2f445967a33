#!/bin/bash
# API benchmark: durable creates/s and read latency with 1, 8 and 32 clients
# against a real loomd on a temporary database (WAL, synchronous=FULL).
# Usage: bench/api.sh [SECONDS [CLIENTS...]]   (from the top of the tree after
# tools/build; clients default to 1 8 32; BENCH_API_OPS=create runs only creates)
# Prints loomd's batches and its CPU over the run (clock ticks, user and system).
# BENCH_API_METRICS=PORT serves metrics on 127.0.0.1:PORT and scrapes them
# every second during the run (the cost of being watched by Prometheus).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${top_builddir:-$top/build}
dir=$(mktemp -d /tmp/loombench.XXXXXX)
pid=
cleanup() {
	[ -n "${scraper:-}" ] && kill "$scraper" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
cat >"$dir/loomd.conf" <<CONF
socket = $dir/loomd.sock
database = $dir/loom.db
topology = $top/tests/integration/data/topo-api.json
log_level = warn
CONF
[ -n "${BENCH_API_METRICS:-}" ] && echo "metrics.listen = 127.0.0.1:$BENCH_API_METRICS" >>"$dir/loomd.conf"
scraper=
"$b/loomd" -f -c "$dir/loomd.conf" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/loomd.sock" ] && break; sleep 0.05; done
secs=${1:-3}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] || set -- 1 8 32
if [ -n "${BENCH_API_METRICS:-}" ]; then
	( while :; do curl -s -o /dev/null "http://127.0.0.1:$BENCH_API_METRICS/metrics"; sleep 1; done ) &
	scraper=$!
fi
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
"$b/bench/bench_api" "$dir/loomd.sock" "$secs" "$@"
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
LOOM_SOCKET=$dir/loomd.sock "$b/loomctl" -o json info |
	jq -c --argjson u $((u1 - u0)) --argjson s $((s1 - s0)) '{batches, batched_writes, cpu_ticks: {user: $u, sys: $s}}'
