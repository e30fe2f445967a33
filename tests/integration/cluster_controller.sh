#!/bin/bash
# loomd in cluster mode against a real etcd, with loom-agents on the null
# target, on what the controller itself does with etcd:
#   - an agent that has not connected since loomd started is waited for
#     (cluster.lease_ttl + 1 s) by `-w`; one that never comes is then
#     unreachable, and one whose lease expired is unreachable at once;
#   - a desired/NAME value written or deleted by hand is put back, without
#     a loop, and a change costs the agent one put (one notification);
#   - signals under signal/AGENT/SEQ written by hand: a good one takes the
#     node.fault path (cordon, audit, history) once, also when written
#     again or read again by a restarted loomd; a repeat inside the
#     hold-down is recorded only; malformed values, unknown agents, nodes
#     and ports are refused naming the field and change nothing.
# The real watchers writing these signals are in lab_cluster_faults.sh
# (carrier, VTEP namespaces) and cluster_ib.sh (HCA, OpenSM on ibsim).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
AGENT=$top_builddir/loom-agent
TOPO=$top_srcdir/tests/integration/data/topo-api.json
TTL=2		# the agents' lease
GRACE_TTL=4	# loomd's cluster.lease_ttl: not connected agents waited for 5 s
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
command -v sqlite3 >/dev/null || { echo "1..1"; echo "not ok 1 - sqlite3 is not installed: run tools/install-deps"; exit 1; }
t_plan 33

etcd_cluster c 1 || exit 1
EP=$c_EPS
b64() { printf '%s' "$1" | base64 -w0; }
etcd_kv() {	# etcd_kv KEY: the kv object as JSON ("" when absent)
	curl -sf -X POST "$EP/v3/kv/range" -d "{\"key\":\"$(b64 "$1")\"}" | jq -c '.kvs[0] // empty'
}
etcd_value() { etcd_kv "$1" | jq -r '.value // empty' | base64 -d 2>/dev/null; }
etcd_version() { etcd_kv "$1" | jq -r '.version // "0"'; }
etcd_put_raw() { curl -sf -X POST "$EP/v3/kv/put" -d "{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" >/dev/null; }
etcd_del() { curl -sf -X POST "$EP/v3/kv/deleterange" -d "{\"key\":\"$(b64 "$1")\"}" >/dev/null; }
alive() { [ -n "$(etcd_value "/loom/v1/alive/$1")" ]; }

agent_conf() {	# agent_conf NAME KIND
	printf '%s\n' "name = $1" "kind = $2" "cluster.etcd = $EP" "cluster.lease_ttl = $TTL" \
		"topology = $TOPO" "targets = null" "log_level = info" >"$T_DIR/$1.conf"
}
declare -A APID
agent_start() {
	"$AGENT" -c "$T_DIR/$1.conf" 2>>"$T_DIR/$1.log" &
	APID[$1]=$!
	T_PIDS="$T_PIDS $!"
}
target_error() {	# target_error NAME: its target-wide error in status
	$LOOMCTL -o json status | jq -r --arg n "$1" '.targets[] | select(.name == $n) | .error'
}

for a in vt-e1 vt-e2 vt-w1 sm-east sm-west; do agent_conf "$a" "$([ "${a#sm}" != "$a" ] && echo sm || echo vtep)"; done
for a in vt-e1 vt-e2 sm-east; do agent_start "$a"; done
ok=0
for a in vt-e1 vt-e2 sm-east; do t_wait 10 alive "$a" || ok=1; done
t_ok $ok "three agents of five up (vt-w1 and sm-west not started)"

# ---- -w and agents that have not connected yet ----
loomd_config "$TOPO" "cluster.etcd = $EP" "cluster.lease_ttl = $GRACE_TTL"
sed -i 's/^reconcile = no/reconcile = yes/' "$LOOM_CONF"
t0=$(date +%s%N)
loomd_start || exit 1
$LOOMCTL tenant create west --site west >/dev/null && $LOOMCTL segment create west/s --type ethernet >/dev/null
(sleep 1; agent_start vt-w1; echo "${APID[vt-w1]}" >"$T_DIR/vt-w1.pid") &
late=$!
$LOOMCTL -w 30 attach west/s gpu-w1 >"$T_DIR/w1.out" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$late"
APID[vt-w1]=$(cat "$T_DIR/vt-w1.pid")
T_PIDS="$T_PIDS ${APID[vt-w1]}"
t_is "$rc" "0" "attach -w reaching vt-w1, whose agent starts after loomd: waited for, converged (${ms} ms after loomd's start)"
t_ok $([ "$ms" -lt $(( (GRACE_TTL + 1) * 1000 + 3000 )) ] && echo 0 || echo 1) \
	"  ...within cluster.lease_ttl + 1 s of loomd's start, plus the run"
gone() { case "$(target_error sm-west)" in "unreachable (since "*) return 0 ;; esac; return 1; }
t_wait $((GRACE_TTL + 4)) gone
t_ok $? "sm-west, whose agent never connected, is unreachable once the grace is over"
$LOOMCTL segment create west/ib --type infiniband >/dev/null
t1=$(date +%s%N)
$LOOMCTL -w 20 attach west/ib gpu-w1 >"$T_DIR/w2.out" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t1) / 1000000 ))
t_ok $([ "$rc" != 0 ] && grep -q 'unreachable' "$T_DIR/w2.out" && echo 0 || echo 1) \
	"  ...and attach -w reaching it fails at once, saying unreachable (${ms} ms, rc $rc)" || sed 's/^/# /' "$T_DIR/w2.out"
agent_start sm-west
t_wait 10 alive sm-west
west_ok() { [ -z "$(target_error sm-west)" ]; }
t_wait 10 west_ok
t_ok $? "  ...started later, it converges"
kill -KILL "${APID[vt-w1]}"; wait "${APID[vt-w1]}" 2>/dev/null
lost() { case "$(target_error vt-w1)" in "unreachable (since "*) return 0 ;; esac; return 1; }
t_wait $((TTL + 3)) lost
t_ok $? "vt-w1's agent killed -9: unreachable when its lease expires"
t1=$(date +%s%N)
$LOOMCTL -w 20 detach west/s gpu-w1 >"$T_DIR/w3.out" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t1) / 1000000 ))
t_ok $([ "$rc" != 0 ] && [ "$ms" -lt 4500 ] && echo 0 || echo 1) \
	"  ...and -w on a change reaching it fails at once, with no grace (${ms} ms, rc $rc)"

# ---- desired/NAME written or deleted by hand: put back ----
$LOOMCTL tenant create acme --site east >/dev/null && $LOOMCTL segment create acme/s1 --type ethernet >/dev/null
$LOOMCTL -w 20 attach acme/s1 gpu-e1 >/dev/null
t_is "$?" "0" "acme/s1 on gpu-e1 through vt-e1's agent"
K=/loom/v1/desired/vt-e1
ours=$(etcd_value $K)
v0=$(etcd_version $K)
applied0=$(grep -c 'generation [0-9]* applied' "$T_DIR/vt-e1.log")
$LOOMCTL -w 20 attach acme/s1 gpu-e2 >/dev/null
t_is "$(( $(etcd_version $K) - v0 )):$(( $(grep -c 'generation [0-9]* applied' "$T_DIR/vt-e1.log") - applied0 ))" "1:1" \
	"a change costs vt-e1's key one put, and its agent one notification (no echo of the controller's watch)"
ours=$(etcd_value $K)
hand=$(echo "$ours" | jq -c '.generation = 999 | .slice.vnis = []')
etcd_put_raw $K "$hand"
back() { [ "$(etcd_value $K)" = "$ours" ]; }
t_wait 5 back
t_ok $? "a different slice written by hand into desired/vt-e1: the controller puts its own value back"
grep -q "desired/vt-e1 was written by someone else.*putting loomd's value back" "$T_DIR/loomd.log"
t_ok $? "  ...saying so"
etcd_del $K
t_wait 5 back
t_ok $? "desired/vt-e1 deleted by hand: put back"
sleep 2
v1=$(etcd_version $K)
sleep 2
t_is "$(etcd_version $K)" "$v1" "  ...and no loop: the key stays as it is"
conv() { $LOOMCTL -o json status | jq -e '[.segments[] | select(.target == "vt-e1") | .state] | unique == ["programmed"]' >/dev/null; }
t_wait 10 conv
t_ok $? "  ...and vt-e1 converges on loomd's slice"

# ---- signals written by hand ----
state_of() { $LOOMCTL -o json node show "$1" | jq -r .state; }
n_faults() { $LOOMCTL -o json node history "$1" | jq '[.[] | select(.event == "fault")] | length'; }
sig() {	# sig AGENT SEQ(hex) JSON
	etcd_put_raw "/loom/v1/signal/$1/$(printf %016x "$2")" "$3"
}
now=$(date +%s)
carrier() {	# carrier SEQ PREV PORT UP
	printf '{"seq":%d,"previous":%d,"time":%d,"kind":"carrier","vtep":"vt-e1","access_port":"%s","up":%s}' \
		"$1" "$2" "$now" "$3" "$4"
}
t_is "$(state_of gpu-e1)" "assigned" "gpu-e1 is assigned"
db0=$(db_state)
refused() { grep -q "signal /loom/v1/signal/$1 refused: .*(field $2)" "$T_DIR/loomd.log"; }
sig vt-e1 1 '{"seq":1,"previous":0,"time":"now","kind":"carrier","vtep":"vt-e1","access_port":"acc-e1-0","up":false}'
t_wait 5 refused vt-e1/0000000000000001 time
t_ok $? "a malformed signal value: refused, naming the field (time)"
sig vt-e1 2 "$(carrier 2 1 acc-zz false)"
t_wait 5 refused vt-e1/0000000000000002 access_port
t_ok $? "a carrier signal for an access port no node is cabled to: refused (access_port)"
sig sm-east 1 "{\"seq\":1,\"previous\":0,\"time\":$now,\"kind\":\"hca_port\",\"sm\":\"sm-east\",\"node\":\"gpu-zz\",\"port\":\"mlx5_0/1\",\"result\":0,\"state\":1}"
t_wait 5 refused sm-east/0000000000000001 node
t_ok $? "an HCA signal for a node the topology does not have: refused (node)"
sig sm-east 2 "{\"seq\":2,\"previous\":1,\"time\":$now,\"kind\":\"hca_port\",\"sm\":\"sm-east\",\"node\":\"gpu-w1\",\"port\":\"mlx5_0/1\",\"result\":0,\"state\":1}"
t_wait 5 refused sm-east/0000000000000002 port
t_ok $? "an HCA signal for a port under another subnet manager: refused (port)"
sig sm-east 3 "{\"seq\":3,\"previous\":2,\"time\":$now,\"kind\":\"hca_port\",\"sm\":\"sm-east\",\"node\":\"gpu-e1\",\"port\":\"mlx5_9/1\",\"result\":0,\"state\":1}"
t_wait 5 refused sm-east/0000000000000003 port
t_ok $? "an HCA signal for a port the node does not have: refused (port)"
etcd_put_raw /loom/v1/signal/vt-zz/0000000000000001 "$(carrier 1 0 acc-e1-0 false)"
t_wait 5 refused vt-zz/0000000000000001 key
t_ok $? "a signal of an agent the topology does not have: refused (key)"
etcd_put_raw /loom/v1/signal/vt-e1/seven "$(carrier 7 0 acc-e1-0 false)"
t_wait 5 refused vt-e1/seven key
t_ok $? "a signal whose SEQ is not 16 hex digits: refused (key)"
sleep 0.5
t_is "$(db_state):$(state_of gpu-e1)" "$db0:assigned" "  ...none of them changed anything (store, node state)"

sig vt-e1 3 "$(carrier 3 2 acc-e1-0 false)"
t_wait 5 sh -c "test \"\$($LOOMCTL -o json node show gpu-e1 | jq -r .state)\" = cordoned"
t_ok $? "a good carrier-lost signal: gpu-e1 cordoned through the fault path"
reason=$($LOOMCTL -o json node show gpu-e1 | jq -r .reason)
case $reason in
*"carrier lost on gpu-e1's access port eth0 (vt-e1 acc-e1-0)"*"(agent vt-e1)"*) t_ok 0 "  ...the reason names the port and the agent" ;;
*) t_ok 1 "  ...the reason names the port and the agent"; t_diag "reason: $reason" ;;
esac
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method == "node.fault")] | .[-1].params' | jq -r '.source + " " + .signal')" \
	"carrier /loom/v1/signal/vt-e1/0000000000000003" "  ...audited as node.fault, with the signal's key"
f1=$(n_faults gpu-e1)
sig vt-e1 3 "$(carrier 3 2 acc-e1-0 false)"
sleep 1
t_is "$(n_faults gpu-e1)" "$f1" "the same signal written again: not acted on twice"
$LOOMCTL node uncordon gpu-e1 >/dev/null
sig vt-e1 4 "$(carrier 4 3 acc-e1-0 true)"
sig vt-e1 5 "$(carrier 5 4 acc-e1-0 false)"
t_wait 5 sh -c "test \$($LOOMCTL -o json node history gpu-e1 | jq '[.[] | select(.event == \"fault\")] | length') -gt $f1"
t_is "$(state_of gpu-e1)" "assigned" "uncordoned, a second carrier loss inside the hold-down: gpu-e1 stays assigned"
t_is "$($LOOMCTL -o json node history gpu-e1 | jq -r '[.[] | select(.event == "fault")] | .[-1].reason' | grep -c 'held down')" \
	"1" "  ...recorded only, held down"
f2=$(n_faults gpu-e1)
# What the agents were given, and how often they applied it, before loomd restarts.
before=""
for a in vt-e1 vt-e2; do
	before="$before $a:$(etcd_version /loom/v1/desired/$a):$(grep -c 'generation [0-9]* applied' "$T_DIR/$a.log")"
done
loomd_stop
loomd_start || exit 1
# Read again: what was refused is refused again (logged, nothing changed).
t_wait 10 sh -c "grep -c 'signal /loom/v1/signal/sm-east/0000000000000001 refused' '$T_DIR/loomd.log' | grep -qx 2"
sleep 1
t_is "$(n_faults gpu-e1):$(state_of gpu-e1)" "$f2:assigned" \
	"loomd restarted: it reads the signals again and acts on none twice"
$LOOMCTL -w 20 attach acme/s1 gpu-e1 >/dev/null 2>&1	# already there: -w waits for the agents' reports
after=""
for a in vt-e1 vt-e2; do
	after="$after $a:$(etcd_version /loom/v1/desired/$a):$(grep -c 'generation [0-9]* applied' "$T_DIR/$a.log")"
done
t_is "$after" "$before" \
	"  ...and no agent was given anything again or applied anything (desired/ versions, agents' applies)"
sig vt-e1 6 "$(carrier 6 5 acc-e2-0 false)"
t_wait 5 sh -c "test \"\$($LOOMCTL -o json node show gpu-e2 | jq -r .state)\" = cordoned"
t_ok $? "  ...and acts on the next one (gpu-e2 cordoned)"
[ "$T_FAILED" -eq 0 ] || grep -E 'signal|remote|fault' "$T_DIR/loomd.log" | tail -20 | sed 's/^/# /'
t_done
