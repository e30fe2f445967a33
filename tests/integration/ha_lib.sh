# tests/integration/ha_lib.sh: highly available loomds (cluster.ha) on a
# real etcd cluster of three (etcd_lib.sh), each with its own socket,
# database and log under $T_DIR.  Source after lib.sh and etcd_lib.sh.

HA_TOPO=${HA_TOPO:-$top_srcdir/tests/integration/data/topo-api.json}
HA_TTL=${HA_TTL:-2}

b64() { printf '%s' "$1" | base64 -w0; }

# ha_conf N [extra lines...]: $T_DIR/N.conf for controller ctlN.
ha_conf() {
	local n=$1; shift
	{
		echo "socket = $T_DIR/$n.sock"
		echo "database = $T_DIR/$n.db"
		echo "topology = $HA_TOPO"
		echo "log_level = info"
		echo "reconcile = no"
		echo "cluster.etcd = $c_EPS"
		echo "cluster.ha = yes"
		echo "cluster.name = ctl$n"
		echo "cluster.leader_ttl = $HA_TTL"
		for l in "$@"; do echo "$l"; done
	} >"$T_DIR/$n.conf"
}

declare -A HPID
ha_start() {	# ha_start N: starts ctlN in the background (no wait)
	"$LOOMD" -f -c "$T_DIR/$1.conf" 2>>"$T_DIR/$1.log" &
	HPID[$1]=$!
	T_PIDS="$T_PIDS $!"
}
ha_up() {	# ha_up N: waits until ctlN answers
	t_wait 15 ctl "$1" info >/dev/null || { echo "# ctl$1 did not come up:"; sed 's/^/#   /' "$T_DIR/$1.log"; return 1; }
}
ha_stop() {	# ha_stop N [SIGNAL]
	kill "-${2:-TERM}" "${HPID[$1]}" 2>/dev/null
	wait "${HPID[$1]}" 2>/dev/null
	T_PIDS=$(echo "$T_PIDS" | sed "s/ ${HPID[$1]}\b//")
}
ctl() { local n=$1; shift; LOOM_SOCKET=$T_DIR/$n.sock "$LOOMCTL" "$@"; }
ha_info() { ctl "$1" -o json info 2>/dev/null | jq -r ".cluster.$2"; }	# ha_info N FIELD
leader_of() { ha_info "$1" leader; }
# ha_dump N: every row of ctlN's replica (its log position aside, the same everywhere).
ha_dump() { sqlite3 "$T_DIR/$1.db" .dump; }
ha_same() {	# ha_same A B: both replicas hold the same rows
	[ "$(ha_info "$1" log_seq)" = "$(ha_info "$2" log_seq)" ] && [ "$(ha_dump "$1" | sha256sum)" = "$(ha_dump "$2" | sha256sum)" ]
}
# etcd_range_json KEY [PREFIX=1]: the raw range answer from member 2.
etcd_range_json() {
	local k=$1 body
	if [ "${2:-1}" = 1 ]; then
		local end
		end=$(printf '%s' "$k" | python3 -c 'import sys,base64; k=sys.stdin.buffer.read(); print(base64.b64encode(k[:-1]+bytes([k[-1]+1])).decode())')
		body="{\"key\":\"$(b64 "$k")\",\"range_end\":\"$end\"}"
	else
		body="{\"key\":\"$(b64 "$k")\"}"
	fi
	curl -sf -X POST "http://127.0.0.1:$c_CLIENT_2/v3/kv/range" -d "$body"
}
# log_writers: one line per log entry, "SEQ NAME" (the controller that appended it).
log_writers() {
	etcd_range_json /loom/v1/ha/log/ | jq -r '.kvs[]? | .key + " " + .value' |
		while read -r k v; do
			printf '%s %s\n' "$(printf '%s' "$k" | base64 -d | sed 's|.*/||')" \
				"$(printf '%s' "$v" | base64 -d 2>/dev/null | head -c 200 | head -1 | cut -d' ' -f2)"
		done
}
