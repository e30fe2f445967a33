#!/bin/bash
# cluster/etcd.c against real etcd 3.4 members on loopback: key-value,
# transactions, leases, watches with compaction; another cluster behind the
# same address refused; a member of three killed; a member that stalls.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
DRV=$top_builddir/tests/integration/etcd_driver
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
t_plan 35

# The driver prints TAP of its own; its lines join this test's numbering.
emit() {	# emit FILE
	while IFS= read -r line; do
		case "$line" in
		"ok "*) t_ok 0 "${line#* - }" ;;
		"not ok "*) t_ok 1 "${line#* - }" ;;
		*) echo "$line" ;;
		esac
	done <"$1"
}

etcd_cluster one 1 || exit 1
"$DRV" basic "$one_EPS" >"$T_DIR/basic.tap" 2>&1
emit "$T_DIR/basic.tap"
"$DRV" stalled "$one_EPS" "$one_PID_1" >"$T_DIR/stalled.tap" 2>&1
emit "$T_DIR/stalled.tap"

# Another cluster behind the same address: the driver says when it is
# ready, the member is replaced by a new cluster's, then it goes on.
"$DRV" foreign "$one_EPS" "$T_DIR/go" >"$T_DIR/foreign.tap" 2>&1 &
drv=$!
T_PIDS="$T_PIDS $drv"
t_wait 30 grep -q '^# ready' "$T_DIR/foreign.tap"
kill "$one_PID_1"; wait "$one_PID_1" 2>/dev/null
rm -rf "$T_DIR/etcd-one1"
etcd_member_start one 1 "$one_CLIENT_1" "$one_PEER_1" "one1=http://127.0.0.1:$one_PEER_1" "loomtest-other-$$"
etcd_wait_healthy "$one_EPS" && touch "$T_DIR/go"
wait "$drv"
emit "$T_DIR/foreign.tap"

etcd_cluster three 3 || exit 1
"$DRV" failover "$three_EPS" "$three_PID_2" >"$T_DIR/failover.tap" 2>&1
emit "$T_DIR/failover.tap"
exit 0
