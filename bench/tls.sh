#!/bin/bash
# The API over mutual TLS against the Unix socket: reads and durable
# creates per second with p50/p99 for 1 and 32 clients on each, their
# ratio, and full TLS 1.3 handshakes per second (with a request each),
# against a real loomd on a temporary database.  Certificates are made
# with openssl (P-256) as in the tests.
# Usage: bench/tls.sh [SECONDS] [CLIENTS...]  (from the top of the tree after tools/build)
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
b=${top_builddir:-$top/build}
dir=$(mktemp -d /tmp/loombench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
. "$top/tests/integration/tls_lib.sh"
tls_pki "$dir/pki" && tls_cert "$dir/pki" bench "/CN=bench"
port=$(tls_free_port)
cat >"$dir/loomd.conf" <<CONF
socket = $dir/loomd.sock
database = $dir/loom.db
topology = $top/tests/integration/data/topo-api.json
log_level = warn
reconcile = no
listen = tls://127.0.0.1:$port
tls.cert = $dir/pki/server.pem
tls.key = $dir/pki/server.key
tls.ca = $dir/pki/ca.pem
principal = cn:bench admin
CONF
"$b/loomd" -f -c "$dir/loomd.conf" &
pid=$!
for _ in $(seq 100); do [ -S "$dir/loomd.sock" ] && break; sleep 0.05; done
LOOM_SOCKET=$dir/loomd.sock "$b/loomctl" tenant create bench >/dev/null
secs=${1:-3}
shift || true
"$b/bench/bench_tls" "$dir/loomd.sock" 127.0.0.1 "$port" "$dir/pki/bench.pem" "$dir/pki/bench.key" \
	"$dir/pki/ca.pem" "$secs" ${@:-1 32}
