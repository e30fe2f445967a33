#!/bin/bash
# Limits per principal over TLS: a flood from one principal is refused
# (rate_limited) beyond limit.requests_per_second while another principal
# is served within its usual latency; limit.connections refuses a
# principal's extra connections with a clear error, and nobody else's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"
t_plan 9

P=$T_DIR/pki
tls_pki "$P" && tls_cert "$P" bulk "/CN=bulk" && tls_cert "$P" prov "/CN=prov" ||
	{ echo "Bail out! cannot make the test PKI"; exit 1; }
PORT=$(tls_free_port) || { echo "Bail out! no free port"; exit 1; }
URL=tls://127.0.0.1:$PORT
RPS=50
loomd_config "$top_srcdir/tests/integration/data/topo-api.json" \
	"listen = $URL" "tls.cert = $P/server.pem" "tls.key = $P/server.key" "tls.ca = $P/ca.pem" \
	"principal = cn:bulk admin" "principal = cn:prov admin" \
	"limit.requests_per_second = $RPS" "limit.connections = 4"
loomd_start || exit 1

as() { _c=$1; shift; "$LOOMCTL" -s "$URL" --cert "$P/$_c.pem" --key "$P/$_c.key" --ca "$P/ca.pem" "$@"; }
# Milliseconds one `loomctl tenant list` as prov takes.
lat() { _s=$(date +%s%N); as prov tenant list >/dev/null || echo fail; echo $(( ($(date +%s%N) - _s) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
flood() {	# flood N: N requests on one connection as bulk, replies to stdout
	yes '{"jsonrpc":"2.0","method":"tenant.list","id":1}' | head -n "$1" |
		timeout 60 openssl s_client -connect "127.0.0.1:$PORT" -cert "$P/bulk.pem" -key "$P/bulk.key" \
			-CAfile "$P/ca.pem" -quiet -ign_eof 2>/dev/null | head -n "$1"
}

as prov tenant create acme >/dev/null
base=$(for i in $(seq 10); do lat; done | median)
t_diag "prov's median latency alone: $base ms"

# One connection, 3000 requests at once: about RPS pass, the rest are refused.
flood 3000 >"$T_DIR/flood1"
ok=$(grep -c '"result"' "$T_DIR/flood1"); limited=$(grep -c '"code":1018' "$T_DIR/flood1")
t_is "$((ok + limited))" "3000" "every request of the flood is answered"
t_ok $(( ok >= RPS / 2 && ok <= RPS * 3 ? 0 : 1 )) "  ...about $RPS a second pass (got $ok)"
t_ok $(( limited > 2000 ? 0 : 1 )) "  ...the rest are refused with rate_limited (got $limited)"
grep -m1 '"code":1018' "$T_DIR/flood1" | grep -q "cn:bulk is over $RPS requests per second (limit.requests_per_second)"
t_ok $? "  ...saying whose limit and which"
grep -q "cn:bulk is over limit.requests_per_second = $RPS: refusing its requests" "$T_DIR/loomd.log"
t_ok $? "  ...and loomd logs it once, not per request"
t_is "$(grep -c 'cn:bulk is over limit.requests_per_second' "$T_DIR/loomd.log")" "1" "  ...(one line)"

# While three connections keep flooding, prov is served as usual.
for i in 1 2 3; do flood 200000 >/dev/null & T_PIDS="$T_PIDS $!"; done
sleep 1
under=$(for i in $(seq 10); do lat; done)
echo "$under" | grep -q fail
t_ok $((1 - $?)) "prov's requests all succeed during the flood ($(echo $under) ms)"
med=$(echo "$under" | grep -v fail | median)
t_diag "prov's median latency during the flood: $med ms (alone: $base ms)"
t_ok $(( med <= base * 3 + 100 ? 0 : 1 )) "  ...within their usual latency (median $med ms, alone $base ms)"

# limit.connections: bulk holds 4 connections (the floods and one more); a fifth is refused.
(sleep 20 | openssl s_client -connect "127.0.0.1:$PORT" -cert "$P/bulk.pem" -key "$P/bulk.key" \
	-CAfile "$P/ca.pem" -quiet >/dev/null 2>&1) & T_PIDS="$T_PIDS $!"
sleep 1
out=$(as bulk tenant list 2>&1 >/dev/null)
case "$out" in *"cn:bulk has more than 4 connections open (limit.connections)"*rate_limited*) t_ok 0 "a fifth connection of bulk is refused, saying why" ;;
	*) t_ok 1 "a fifth connection of bulk is refused, saying why (got: $out)" ;; esac
t_done
