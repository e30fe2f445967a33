#!/bin/bash
# node.verify running the RDMA admission check itself (loomd.conf names
# rdma.tool and rdma.peer; reconcile = no, no target is driven).
#
# No RDMA data path runs on this machine (no HCA, no IB kernel stack, no
# rdma_rxe): rdma.tool is a stand-in script in place of ib_write_bw.  It
# takes the same argv (both ends run locally: no rdma.runner), the server
# end waits for its client like the real one, and the client prints
# ib_write_bw's report (tests/golden/rdma/ndr_4qp_gbits.txt) with the
# bandwidth this test chooses per device.  What runs for real: loomd's
# worker thread, rdma_bw_run, the parser, the judge against each port's
# rate from the topology, the store, and the lifecycle moves.
. "$(dirname "$0")/lib.sh"
t_plan 18

GOLDEN=$top_srcdir/tests/golden/rdma
FAKE=$T_DIR/fake-bw
cat >"$FAKE" <<EOS
#!/bin/sh
# Stand-in for ib_write_bw (see the top of api_verify_rdma.sh).
d=\$(dirname "\$0")
dev=
prev=
for a; do [ "\$prev" = -d ] && dev=\$a; prev=\$a; last=\$a; done
case \$last in -F|--report_gbits) role=server ;; *) role=client ;; esac
echo "\$role \$*" >>"\$d/calls"
if [ \$role = server ]; then
	i=0; while [ ! -e "\$d/connected" ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i+1)); done
	rm -f "\$d/connected"; cat "$GOLDEN/server_no_rows.txt"; exit 0
fi
[ -e "\$d/slow" ] && sleep 2
g=391.77
[ -e "\$d/gbps.\$dev" ] && g=\$(cat "\$d/gbps.\$dev")
touch "\$d/connected"
sed "s/391.77/\$g/" "$GOLDEN/ndr_4qp_gbits.txt"
EOS
chmod +x "$FAKE"

loomd_config "$top_srcdir/tests/integration/data/topo-api.json" \
	"rdma.tool = $FAKE" "rdma.peer = gpu-e4" "rdma.peer_address = 192.0.2.44" \
	"rdma.min_gbps.400 = 380" "fault.critical = record" "fault.warning = cordon"
loomd_start
t_ok $? "loomd starts with rdma.tool (a stand-in) and rdma.peer = gpu-e4"
state() { $LOOMCTL -o json node show "$1" | jq -r .state; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

$LOOMCTL node register gpu-e1 >/dev/null
t0=$(ms)
out=$($LOOMCTL -o json node verify gpu-e1)
t1=$(ms)
t_is "$(echo "$out" | jq -r '.state + " " + (.rdma_running|tostring)')" "verifying true" \
	"node verify returns at once ($((t1 - t0)) ms) with the node verifying and the check running"
t_wait 30 sh -c "[ \"\$($LOOMCTL -o json node show gpu-e1 | jq -r .state)\" = available ]"
t_ok $? "the check passed on both HCA ports: gpu-e1 available"
show=$($LOOMCTL -o json node show gpu-e1)
t_is "$(echo "$show" | jq -c '[.rdma[] | [.port, .gbps, .pass, .peer, .threshold_gbps]]')" \
	'[["mlx5_0/1",391.77,true,"gpu-e4",380],["mlx5_1/1",391.77,true,"gpu-e4",380]]' \
	"node show: each port judged against its 400 Gb/s rate with loomd.conf's rdma.min_gbps.400 = 380"
t_is "$(grep -c '^server -d mlx5_0 -i 1 .* --report_gbits -F$' "$T_DIR/calls"):$(grep -c '^client -d mlx5_1 -i 1 .* 192.0.2.44$' "$T_DIR/calls")" \
	"1:1" "each end ran with the port's device and number; the client connects to rdma.peer_address"
t_is "$($LOOMCTL -o json node history gpu-e1 | jq -r '.[-1].event + ": " + .[-1].reason')" \
	"verify-pass: every HCA port passed the RDMA check" "the history says why"
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method == "node.verify")] | .[-1].params' | jq -r .source)" \
	"rdma-check" "the result is audited as node.verify, source rdma-check"

# One port slow: quarantined, and a waiting verify returns with the outcome.
echo 120.5 >"$T_DIR/gbps.mlx5_1"
$LOOMCTL node register gpu-e2 >/dev/null
out=$($LOOMCTL -o json -w 30 node verify gpu-e2)
t_is "$(echo "$out" | jq -r '.state + " " + (.rdma_running|tostring)')" "quarantined false" \
	"node verify -w waits for the check: gpu-e2 quarantined"
case $(echo "$out" | jq -r .reason) in
*"mlx5_1/1"*"120.5"*) t_ok 0 "the reason names the slow port and its bandwidth" ;;
*) t_ok 1 "the reason names the slow port"; t_diag "$(echo "$out" | jq -r .reason)" ;;
esac
rm -f "$T_DIR/gbps.mlx5_1"

# The event loop is not blocked while a check runs; a second verify is refused.
touch "$T_DIR/slow"
$LOOMCTL node register gpu-e3 >/dev/null
$LOOMCTL node verify gpu-e3 >/dev/null
t0=$(ms)
$LOOMCTL node list >/dev/null
t1=$(ms)
t_ok $([ $((t1 - t0)) -lt 1000 ]; echo $?) "loomd answers while the check runs (node list took $((t1 - t0)) ms)"
out=$($LOOMCTL node verify gpu-e3 2>&1)
t_ok "$(echo "$out" | grep -q "running already"; echo $?)" "a second verify while the check runs is refused"
rm -f "$T_DIR/slow"
t_wait 30 sh -c "[ \"\$($LOOMCTL -o json node show gpu-e3 | jq -r .state)\" = available ]"
t_ok $? "the slow check finishes: gpu-e3 available"

out=$($LOOMCTL node verify gpu-e4 2>&1)
t_ok "$(echo "$out" | grep -q "reference peer"; echo $?)" "the reference peer cannot be verified against itself"

# loomd killed while a check runs: the node stays verifying (a check writes
# nothing until it ends), and the restarted loomd runs the check again.
touch "$T_DIR/slow"
node=gpu-e2	# quarantined above; verify starts over
$LOOMCTL node verify "$node" >/dev/null
loomd_stop KILL
# The stand-in's two ends, orphaned by the kill, end by themselves (the
# server gives up on its client after 10 s): wait for them, kill nothing.
t_wait 20 sh -c "! pgrep -f '$FAKE' >/dev/null"
rm -f "$T_DIR/connected"
# Still slow: the check the restarted loomd runs again must not finish
# before the state is read (a slower loomd, e.g. under sanitizers).
loomd_start
t_is "$($LOOMCTL -o json node show "$node" | jq -r .state)" "verifying" "after kill -9 mid-check, $node is still verifying"
rm -f "$T_DIR/slow"
t_wait 30 sh -c "[ \"\$($LOOMCTL -o json node show $node | jq -r .state)\" = available ]"
t_ok $? "the restarted loomd ran the check again: $node available"
grep -q "node $node is verifying: its RDMA check, cut short by a restart, runs again" "$T_DIR/loomd.log"
t_ok $? "loomd says it resumed the check"

# The fault policy comes from loomd.conf too: critical records, warning cordons.
out=$($LOOMCTL -o json node fault gpu-e1 --component psu --severity critical --text "PSU 2 lost")
t_is "$(echo "$out" | jq -r '.decision.action + " " + .state')" "record available" \
	"fault.critical = record: a critical fault is recorded only"
out=$($LOOMCTL -o json node fault gpu-e1 --component gpu --severity warning --text "XID 79")
t_is "$(echo "$out" | jq -r '.decision.action + " " + .state')" "cordon cordoned" \
	"fault.warning = cordon: a warning cordons"
t_done
