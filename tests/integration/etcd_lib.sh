# tests/integration/etcd_lib.sh: real etcd members on loopback for the tests,
# each in a private data folder under $T_DIR, stopped by the EXIT trap.
# Ports are picked free at random (t_free_port) so that tests can run side
# by side.

ETCD_BIN=${ETCD_BIN:-etcd}

etcd_free_port() { t_free_port; }	# (lib.sh)

# etcd_cluster NAME N: starts N members; sets ${NAME}_EPS (client URLs,
# comma-separated), ${NAME}_PIDS and ${NAME}_CLIENT_i / ${NAME}_PEER_i.
etcd_cluster() {
	local name=$1 n=$2 i initial="" eps="" pids=""
	for i in $(seq "$n"); do
		eval "${name}_CLIENT_$i=$(etcd_free_port)"
		eval "${name}_PEER_$i=$(etcd_free_port)"
		eval "initial=\"\${initial:+\$initial,}${name}$i=http://127.0.0.1:\${${name}_PEER_$i}\""
	done
	for i in $(seq "$n"); do
		local c p
		eval "c=\${${name}_CLIENT_$i}; p=\${${name}_PEER_$i}"
		etcd_member_start "$name" "$i" "$c" "$p" "$initial"
		eps="${eps:+$eps,}http://127.0.0.1:$c"
	done
	eval "${name}_EPS=$eps"
	etcd_wait_healthy "$eps" || return 1
}

# etcd_member_start NAME I CLIENT_PORT PEER_PORT INITIAL_CLUSTER [TOKEN]
# (the token makes the cluster id: a new token, another cluster)
etcd_member_start() {
	local name=$1 i=$2 c=$3 p=$4 initial=$5 token=${6:-loomtest-$1-$$}
	mkdir -p "$T_DIR/etcd-$name$i"
	"$ETCD_BIN" --name "$name$i" --data-dir "$T_DIR/etcd-$name$i/data" \
		--listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
		--listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
		--initial-cluster "$initial" --initial-cluster-state new \
		--initial-cluster-token "$token" \
		--heartbeat-interval 100 --election-timeout 1000 --pre-vote \
		--experimental-watch-progress-notify-interval 1s \
		>"$T_DIR/etcd-$name$i/log" 2>&1 &
	eval "${name}_PID_$i=$!"
	T_PIDS="$T_PIDS $!"
}

etcd_wait_healthy() {	# etcd_wait_healthy EPS: every member answers a linearizable read
	local ep
	for ep in $(echo "$1" | tr ',' ' '); do
		t_wait 60 curl -sf -X POST "$ep/v3/kv/range" -d '{"key":"AA=="}' || {
			echo "# etcd at $ep did not come up; the members' logs end:"
			tail -n 5 "$T_DIR"/etcd-*/log 2>/dev/null | sed 's/^/#   /'
			return 1; }
	done
}
