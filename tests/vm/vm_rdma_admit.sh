#!/bin/bash
# RDMA admission for real, in the lab VM: node.verify runs the real
# ib_write_bw between the node's soft-RoCE device and the reference peer's
# (rdma_rxe), loomd judges the measured rate against the port's pass mark.
# The topology (tests/vm/data/topo-rxe.json) is a RoCE-only site: no subnet
# manager, HCA ports without one.
#
# The two devices' plumbing, and why it is shaped so: tests/vm/rxe_lib.sh.
#
# True negative: a tbf on the node's link fails admission, naming the port,
# the measured and the required rate; lifted, the node passes.  The check
# runs with ib_write_bw's -t 4 (rdma.tx_depth): with its default of 128
# sends in flight, a shaped run here once left the client hung after its
# report and once panicked 6.1's rxe (packets still queued behind a
# destroyed queue pair); with 4 the queue drains before the run ends.
# Each check runs 5 s: ib_write_bw then leaves a margin of 1 s at each
# end out of its average (duration / 4; with 3 s there was none), so the
# connection's start is not sampled.  Once, in CI's plain suite with the
# host busy, a 3 s unshaped run averaged 0 Gb/s where it measures
# 0.06-0.34 otherwise; the cause is not known, so check 8 says how long
# the whole run took beside the average (the tool leaves its peak at 0
# in a timed run).
# A peer without its RDMA device is the peer's fault: the node stays
# verifying.
. "$(dirname "$0")/vmlib.sh"
vm_enter 400
. "$top_srcdir/tests/integration/lib.sh"
t_plan 12

. "$top_srcdir/tests/vm/rxe_lib.sh"
PEER_IP=$RXE_PEER_IP
PASS_MARK=0.03	# Gb/s; unshaped: 0.06-0.28 here, by load; the tbf lets 0.02 through
t_cleanup_add rxe_pair_down
rxe_pair_up rxen1 rxeref
t_ok $? "soft-RoCE on each end of a veth: rxen1 (node n1) and rxeref (peer ref)"
gid=$(rxe_gid rxen1)
t_ok "$([ -n "$gid" ]; echo $?)" "rxen1's IPv4 GID is index ${gid:-none}"

loomd_config "$top_srcdir/tests/vm/data/topo-rxe.json" \
	"rdma.tool = ib_write_bw" "rdma.peer = ref" "rdma.peer_address = $PEER_IP" \
	"rdma.qps = 1" "rdma.size = 65536" "rdma.duration = 5" "rdma.gid_index = ${gid:-1}" \
	"rdma.tx_depth = 4" "rdma.timeout = 40" "rdma.min_gbps.10 = $PASS_MARK"
loomd_start
t_ok $? "loomd starts with the real ib_write_bw as rdma.tool"
ms() { echo $(( $(date +%s%N) / 1000000 )); }

$LOOMCTL node register n1 >/dev/null
tc qdisc add dev vmrn root tbf rate 20mbit burst 64kb limit 4mb
t0=$(ms)
out=$($LOOMCTL -o json -w 90 node verify n1)
t1=$(ms)
t_is "$(echo "$out" | jq -r .state)" quarantined "with n1's link shaped to 20 Mbit/s, admission fails ($((t1 - t0)) ms)"
reason=$(echo "$out" | jq -r .reason)
t_diag "reason: $reason"
case $reason in
*rxen1/1*" Gb/s"*"pass mark is $PASS_MARK"*) t_ok 0 "the reason names the port, the measured and the required rate" ;;
*) t_ok 1 "the reason names the port, the measured and the required rate" ;;
esac
# A measurement, not a failed run: under heavy load few or no messages
# complete within the 5 s through the shaper, so 0 is a possible rate.
t_is "$(echo "$out" | jq -r ".rdma[0].gbps != null and .rdma[0].fault == null and .rdma[0].gbps < $PASS_MARK and .rdma[0].threshold_gbps == $PASS_MARK")" true \
	"ib_write_bw measured $(echo "$out" | jq -r .rdma[0].gbps) Gb/s through the shaper"

tc qdisc del dev vmrn root
t0=$(ms)
out=$($LOOMCTL -o json -w 90 node verify n1)
t1=$(ms)
t_is "$(echo "$out" | jq -r .state)" available "shaper lifted: n1 admitted ($((t1 - t0)) ms for the check)"
t_is "$(echo "$out" | jq -r ".rdma[0].gbps >= $PASS_MARK and .rdma[0].peer == \"ref\"")" true \
	"ib_write_bw over rxe measured $(echo "$out" | jq -r '.rdma[0] | "\(.gbps) Gb/s in a \(.duration_s) s run"') against ref (pass mark $PASS_MARK)"

# The peer loses its RDMA device: its server end fails, the node is not blamed.
rdma link del rxeref
$LOOMCTL node register n2 >/dev/null
out=$($LOOMCTL -o json -w 90 node verify n2)
t_is "$(echo "$out" | jq -r '.state + " " + .rdma[0].fault')" "verifying peer" \
	"the peer without an RDMA device: n2 stays verifying, the fault is the peer's"
t_ok "$(grep -q 'node n2 stays verifying, to be checked again: a reference peer failed (RDMA check of rxen1/1 against ref failed' "$T_DIR/loomd.log"; echo $?)" \
	"loomd says the peer failed and the node waits for a retry"
rdma link add rxeref type rxe netdev vmrp
# The kernel fills a new device's GID table from the netdev's addresses in
# a work item of its own: the peer is back once its IPv4 GID is.
peer_gid() { [ "$(rxe_gid rxeref)" = "${gid:-1}" ]; }
t_wait 10 peer_gid
# And it carries RDMA again: a short run of the same tool between the two
# devices, outside loomd, moves data (up to 3 tries).  Once, in CI's plain
# suite, loomd's first check after the device came back measured 0 Gb/s
# over its whole run, and the node was quarantined for the peer's state.
peer_carries() {
	local port=$((18515 + RANDOM % 1000)) out srv
	ib_write_bw -d rxeref -x "${gid:-1}" -s 65536 -D 2 -t 4 -F --report_gbits -p $port >/dev/null 2>&1 &
	srv=$!
	sleep 0.5
	out=$(timeout 30 ib_write_bw -d rxen1 -x "${gid:-1}" -s 65536 -D 2 -t 4 -F --report_gbits -p $port "$PEER_IP" 2>&1)
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	awk '$1 == 65536 && $4 + 0 > 0 { ok = 1 } END { exit !ok }' <<<"$out"
}
carried=no
for _ in 1 2 3; do peer_carries && { carried=yes; break; }; done
echo "# the peer carries RDMA again, by the tool run outside loomd: $carried"
out=$($LOOMCTL -o json -w 90 node verify n2)
t_is "$(echo "$out" | jq -r .state)" available "the peer's device back (its IPv4 GID index $(rxe_gid rxeref)): verify again admits n2 ($(echo "$out" | jq -r '.rdma[0] | "\(.gbps) Gb/s in a \(.duration_s) s run\(if .fault then ", fault: " + .fault else "" end)"'))"
t_is "$($LOOMCTL -o json node show n1 | jq -r .state)" available "n1 stays available"
if [ "$T_FAILED" -ne 0 ]; then
	t_diag "loomd's log:"; tail -n 40 "$T_DIR/loomd.log" | sed 's/^/#   /'
	ps -eo pid,stat,etimes,args | grep '[i]b_write_bw' | sed 's/^/#   /'
fi
t_done
