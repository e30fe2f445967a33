#!/bin/bash
# loomd in cluster mode and loom-agents on the null target, through a real
# etcd cluster of three: a change converges and `-w` waits for the agents;
# an agent killed -9 is shown unreachable within its lease TTL + 1 s and
# converges again after a restart, reading its one key; one etcd member of
# three stopped changes nothing; an agent whose name is not in the
# topology, an agent on another etcd cluster and a malformed value written
# by hand into its desired key give clear errors and tear nothing down.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
AGENT=$top_builddir/loom-agent
TOPO=$top_srcdir/tests/integration/data/topo-api.json
TTL=2
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
t_plan 36

etcd_cluster c 3 || exit 1
# The test's own reads and writes go to member 2 (member 1 is stopped later).
EP1=http://127.0.0.1:$c_CLIENT_2

b64() { printf '%s' "$1" | base64 -w0; }
# etcd_value KEY: the value of KEY, "" when absent.
etcd_value() {
	curl -sf -X POST "$EP1/v3/kv/range" -d "{\"key\":\"$(b64 "$1")\"}" |
		jq -r '.kvs[0].value // empty' | base64 -d 2>/dev/null
}
etcd_put_raw() { curl -sf -X POST "$EP1/v3/kv/put" -d "{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" >/dev/null; }
alive() { [ -n "$(etcd_value "/loom/v1/alive/$1")" ]; }

agent_conf() {	# agent_conf NAME KIND [extra lines...]: writes $T_DIR/NAME.conf
	local name=$1 kind=$2; shift 2
	{
		echo "name = $name"
		echo "kind = $kind"
		echo "cluster.etcd = $c_EPS"
		echo "cluster.lease_ttl = $TTL"
		echo "topology = $TOPO"
		echo "targets = null"
		echo "log_level = info"
		for l in "$@"; do echo "$l"; done
	} >"$T_DIR/$name.conf"
}
declare -A APID
agent_start() {	# agent_start NAME
	"$AGENT" -c "$T_DIR/$1.conf" 2>>"$T_DIR/$1.log" &
	APID[$1]=$!
	T_PIDS="$T_PIDS $!"
}

for a in vt-e1 vt-e2 vt-w1; do agent_conf "$a" vtep; agent_start "$a"; done
for a in sm-east sm-west; do agent_conf "$a" sm; agent_start "$a"; done
ok=0
for a in vt-e1 vt-e2 vt-w1 sm-east sm-west; do t_wait 10 alive "$a" || ok=1; done
t_ok $ok "five agents hold a lease and their alive key"

loomd_config "$TOPO" "cluster.etcd = $c_EPS"
sed -i 's/^reconcile = no/reconcile = yes/' "$LOOM_CONF"
loomd_start || exit 1

$LOOMCTL tenant create acme --site east >/dev/null && $LOOMCTL segment create acme/s1 --type ethernet >/dev/null
$LOOMCTL -w 20 attach acme/s1 gpu-e1 >"$T_DIR/attach.out" 2>&1
t_is "$?" "0" "attach -w returns once the agents reported it"
vni=$($LOOMCTL -o json segment show acme/s1 | jq -r '.vni // .id // empty')
st=$(etcd_value /loom/v1/status/vt-e1)
t_is "$(echo "$st" | jq -r '.items[0].state')" "programmed" "vt-e1's agent reported its VNI programmed"
t_is "$(echo "$st" | jq -r '.items[0].layer')" "null" "  ...by the target code it runs (null)"
t_is "$(echo "$st" | jq -r '.error')" "" "  ...with no error"
des=$(etcd_value /loom/v1/desired/vt-e1)
t_is "$(echo "$des" | jq -r '.slice.vnis | length')" "1" "desired/vt-e1 holds the slice with its VNI"
t_is "$(echo "$des" | jq -r '.generation')" "$(echo "$st" | jq -r '.generation')" "  ...and status/vt-e1 the same generation"
t_is "$(etcd_value /loom/v1/desired/vt-w1 | jq -r '.slice.vnis | length')" "0" "vt-w1's slice is empty (the segment is east)"
$LOOMCTL -o json status >"$T_DIR/status.json"
t_is "$(jq -r '[.segments[] | select(.target == "vt-e1") | .state] | unique | join(",")' "$T_DIR/status.json")" \
	"programmed" "loomctl status shows vt-e1 programmed"
t_is "$(jq -r '.targets[] | select(.name == "vt-e1") | .kind' "$T_DIR/status.json")" "remote" \
	"  ...as a remote target"

# kill -9 an agent: shown unreachable within TTL + 1 s, never programmed.
kill -KILL "${APID[vt-e1]}"; wait "${APID[vt-e1]}" 2>/dev/null
t0=$(date +%s%N)
unreachable() {
	$LOOMCTL -o json status | jq -e '.targets[] | select(.name == "vt-e1") | .error | startswith("unreachable (since ")' >/dev/null
}
t_wait $((TTL + 3)) unreachable; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
t_ok $rc "an agent killed -9 shows as unreachable (since ...) in status"
t_ok $([ "$ms" -le $(( (TTL + 1) * 1000 )) ] && echo 0 || echo 1) "  ...within TTL + 1 s (${ms} ms, TTL ${TTL} s)"
t_is "$($LOOMCTL -o json status | jq -r '[.segments[] | select(.target == "vt-e1") | .state] | unique | join(",")')" \
	"error" "  ...its items in error, not programmed"
lines=$(wc -l <"$T_DIR/vt-e1.log")
agent_start vt-e1
t_wait 10 alive vt-e1
converged() {
	$LOOMCTL -o json status | jq -e '[.segments[] | select(.target == "vt-e1") | .state] | unique == ["programmed"]' >/dev/null
}
t_wait 10 converged
t_ok $? "restarted, it converges again"
t_is "$(tail -n +$((lines + 1)) "$T_DIR/vt-e1.log" | grep -c 'generation [0-9]* applied')" "1" \
	"  ...having read and applied its slice once"

# An agent cut off (SIGSTOP, then its connections cut) while its slice
# changes, one etcd member of three stopped and the history compacted: on
# return it reads its key again and converges; the controller carries on.
kill -STOP "${APID[vt-e1]}"
gen_before=$(etcd_value /loom/v1/desired/vt-e1 | jq -r .generation)
# Its connections cut first (as a network path lost), so that nothing of
# what follows is queued on them and its watch must resume from a
# revision that will be gone.
for port in $(ss -tnpH state established | grep "pid=${APID[vt-e1]}," | awk '{print $3}' | sed 's/.*://'); do
	ss -K -tn "sport = :$port" >/dev/null 2>&1
done
kill -TERM "$c_PID_1"; wait "$c_PID_1" 2>/dev/null
$LOOMCTL attach acme/s1 gpu-e3 >/dev/null 2>&1
changed() { [ "$(etcd_value /loom/v1/desired/vt-e1 | jq -r .generation)" != "$gen_before" ]; }
t_wait 10 changed
t_ok $? "with one etcd member of three stopped, the controller publishes a change"
for i in 1 2 3; do etcd_put_raw /test/filler "$i"; done
rev=$(curl -sf -X POST "$EP1/v3/kv/range" -d '{"key":"AA=="}' | jq -r .header.revision)
curl -sf -X POST "$EP1/v3/kv/compaction" -d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
t_ok $? "  ...etcd compacted to revision $rev while the agent is stopped"
kill -CONT "${APID[vt-e1]}"
caught_up() {
	[ "$(etcd_value /loom/v1/status/vt-e1 | jq -r .generation)" = "$(etcd_value /loom/v1/desired/vt-e1 | jq -r .generation)" ]
}
t_wait 15 caught_up
t_ok $? "  ...resumed, the agent reads its key again and reports the new generation"
grep -q 'compacted' "$T_DIR/vt-e1.log"
t_ok $? "  ...after its watch found the revision compacted"
t_wait 10 converged
t_ok $? "  ...and the controller shows it converged"
$LOOMCTL -w 20 attach acme/s1 gpu-e2 >/dev/null 2>&1
t_is "$?" "0" "with one etcd member of three stopped, attach -w converges"
t_is "$(etcd_value /loom/v1/status/vt-e2 | jq -r '.items | length')" "1" "  ...and vt-e2 reports it"

# A malformed value written by hand into an agent's desired key (the
# controller puts its own value back at once: the agent's log and the
# controller's say what happened).
before=$(etcd_value /loom/v1/status/vt-e2 | jq -c '.items')
des_before=$(etcd_value /loom/v1/desired/vt-e2)
etcd_put_raw /loom/v1/desired/vt-e2 '{"generation":999,"kind":"vtep","slice":{"vtep":"vt-e2","vnis":[{"vni":"ten"}]}}'
t_wait 5 grep -q 'slice.vnis\[0\].vni: not an integer.*keeping what is programmed' "$T_DIR/vt-e2.log"
t_ok $? "a malformed desired value: the agent logs the field at fault, keeping what is programmed"
restored() { [ "$(etcd_value /loom/v1/desired/vt-e2)" = "$des_before" ]; }
t_wait 5 restored
t_ok $? "  ...and the controller puts its own value back"
t_is "$(etcd_value /loom/v1/status/vt-e2 | jq -c '.items')" "$before" "  ...its items unchanged (nothing torn down)"
kill -0 "${APID[vt-e2]}"
t_ok $? "  ...and it keeps running"

# A removal through an agent that has not reported it: -w waits for the
# agent (the slice without the segment has no item of its own for it).
# vt-w1's agent again with a 10 s lease, so that it is stopped, not lost.
kill -TERM "${APID[vt-w1]}"; wait "${APID[vt-w1]}" 2>/dev/null
agent_conf vt-w1 vtep "cluster.lease_ttl = 10"
agent_start vt-w1
t_wait 10 alive vt-w1
$LOOMCTL tenant create west --site west >/dev/null && $LOOMCTL segment create west/r --type ethernet >/dev/null &&
	$LOOMCTL -w 20 attach west/r gpu-w1 >/dev/null
t_is "$?" "0" "a segment on vt-w1 (agent with a 10 s lease) converges"
kill -STOP "${APID[vt-w1]}"
$LOOMCTL -w 5 detach west/r gpu-w1 >/dev/null 2>&1
t_is "$?" "6" "detach -w 5 while vt-w1's agent is stopped: not converged (exit 6), not taken as done after the 3 s wait"
t_is "$($LOOMCTL -o json status | jq -r '[.segments[] | select(.target == "vt-w1") | .state] | unique | join(",")')" \
	"pending" "  ...the removed segment's item pending on vt-w1 until its agent says it is gone"
kill -CONT "${APID[vt-w1]}"
gone() { [ "$($LOOMCTL -o json status | jq '[.segments[] | select(.target == "vt-w1")] | length')" = 0 ]; }
t_wait 10 gone
t_ok $? "  ...continued, the agent reports it and the item is gone"

# An agent whose name is not in the topology.
agent_conf vt-zz vtep
"$AGENT" -c "$T_DIR/vt-zz.conf" >"$T_DIR/zz.out" 2>&1
t_is "$?" "1" "an agent whose name is not in the topology exits 1"
grep -q 'the topology has no VTEP "vt-zz"' "$T_DIR/zz.out"
t_ok $? "  ...saying so"
"$AGENT" -n -c "$T_DIR/vt-zz.conf" >/dev/null 2>&1
t_is "$?" "1" "  ...and so does loom-agent -n"
"$AGENT" -n -c "$T_DIR/vt-w1.conf" >/dev/null 2>&1
t_is "$?" "0" "loom-agent -n passes a good configuration"

# An agent pointed at another etcd cluster.
etcd_cluster other 1 || exit 1
cid=$(curl -sf -X POST "$EP1/v3/kv/range" -d '{"key":"AA=="}' | jq -r '.header.cluster_id')
cid_hex=$(printf '%x' "$cid" 2>/dev/null || python3 -c "print('%x' % $cid)")
agent_conf vt-w1b vtep
sed -i "s|^name = .*|name = vt-w1|; s|^cluster.etcd = .*|cluster.etcd = $other_EPS|" "$T_DIR/vt-w1b.conf"
echo "cluster.id = $cid_hex" >>"$T_DIR/vt-w1b.conf"
"$AGENT" -c "$T_DIR/vt-w1b.conf" 2>"$T_DIR/vt-w1b.log" &
pid=$!; T_PIDS="$T_PIDS $pid"
t_wait 5 grep -q "not cluster.id $cid_hex" "$T_DIR/vt-w1b.log"
t_ok $? "an agent pointed at another etcd cluster says so (cluster.id)"
sleep 0.5
t_is "$(curl -sf -X POST "$other_EPS/v3/kv/range" -d "{\"key\":\"$(b64 /)\",\"range_end\":\"$(b64 0)\"}" | jq -r '.count // 0')" \
	"0" "  ...and writes nothing there"
kill -TERM "$pid"; wait "$pid" 2>/dev/null
[ "$T_FAILED" -eq 0 ] || for a in vt-e1 vt-e2; do tail -5 "$T_DIR/$a.log" | sed "s/^/# $a: /"; done

t_done
