#!/bin/bash
# API benchmark: durable creates/s and read latency with 1, 8 and 32 clients
# against a real loomd on a temporary database (WAL, synchronous=FULL).
# Usage: bench/api.sh [SECONDS]   (run from the top of the tree after tools/build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${top_builddir:-$top/build}
dir=$(mktemp -d /tmp/loombench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
cat >"$dir/loomd.conf" <<CONF
socket = $dir/loomd.sock
database = $dir/loom.db
topology = $top/tests/integration/data/topo-api.json
log_level = warn
CONF
"$b/loomd" -f -c "$dir/loomd.conf" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/loomd.sock" ] && break; sleep 0.05; done
"$b/bench/bench_api" "$dir/loomd.sock" "${1:-3}" 1 8 32
LOOM_SOCKET=$dir/loomd.sock "$b/loomctl" -o json info | jq -c '{batches, batched_writes}'
