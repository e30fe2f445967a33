#!/bin/bash
# `-w` through a follower (cluster.ha): two controllers in cluster mode on a
# real etcd cluster of three, with loom-agents on the null target.  A write
# with -w through the follower is answered only once the leader's targets
# (the agents) took it: its answer says converged, and by then the agent
# has reported the VNI programmed in etcd; the leader puts how far it
# converged, and how each generation went, under PREFIX/ha/converged
# (fenced, like its other writes).
# With the agent paused the follower's -w waits out its deadline and says
# not converged; the agent running again, the next -w converges.
# The leader puts its word on a thread of its own: with every request it
# sends to etcd held (ctl1 reaches etcd through stall_proxy.py, which then
# still passes the watch streams back), it learns that its targets took a
# write and answers reads at once while the put of its word waits; once
# its requests flow again the word lands and the follower's -w converges.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
# Long enough that the leader keeps its lease through the stall below.
HA_TTL=10
. "$(dirname "$0")/ha_lib.sh"
AGENT=$top_builddir/loom-agent
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
t_plan 14

etcd_cluster c 3 || exit 1
# ctl1 reaches etcd (member 1) only through the proxy.
PPORT=$(t_free_port)
python3 "$top_srcdir/tests/integration/stall_proxy.py" "$PPORT" "$c_CLIENT_1" 2>>"$T_DIR/proxy.log" &
PROXY=$!
T_PIDS="$T_PIDS $PROXY"
t_wait 10 curl -sf -X POST "http://127.0.0.1:$PPORT/v3/kv/range" -d '{"key":"AA=="}' ||
	{ echo "# stall_proxy.py did not come up:"; sed 's/^/#   /' "$T_DIR/proxy.log"; exit 1; }
b64() { printf '%s' "$1" | base64 -w0; }
etcd_value() { etcd_range_json "$1" 0 | jq -r '.kvs[0].value // empty' | base64 -d 2>/dev/null; }
role_is() { [ "$(ha_info "$1" role)" = "$2" ]; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# One agent per VTEP of the topology, on the null target.
declare -A APID
for a in vt-e1 vt-e2; do
	{
		echo "name = $a"
		echo "kind = vtep"
		echo "cluster.etcd = $c_EPS"
		echo "cluster.lease_ttl = 10"
		echo "topology = $HA_TOPO"
		echo "targets = null"
		echo "log_level = info"
	} >"$T_DIR/$a.conf"
	"$AGENT" -c "$T_DIR/$a.conf" 2>>"$T_DIR/$a.log" &
	APID[$a]=$!
	T_PIDS="$T_PIDS $!"
done
alive() { [ -n "$(etcd_value "/loom/v1/alive/$1")" ]; }
t_wait 10 alive vt-e1 && t_wait 10 alive vt-e2
t_ok $? "two agents (null target) hold their leases"

ha_conf 1 "reconcile = yes"; ha_conf 2 "reconcile = yes"
sed -i "s|^cluster.etcd = .*|cluster.etcd = http://127.0.0.1:$PPORT|" "$T_DIR/1.conf"
ha_start 1; ha_up 1 || exit 1
t_wait 10 role_is 1 leader
ha_start 2; ha_up 2 || exit 1
t_wait 10 role_is 2 follower
t_ok $? "ctl1 leads, ctl2 follows"

ctl 2 tenant create acme --site east >/dev/null && ctl 2 segment create acme/s1 --type ethernet >/dev/null
out=$(ctl 2 -o json -w 20 attach acme/s1 gpu-e1 2>>"$T_DIR/ctl.err")
rc=$?
vni=$(ctl 2 -o json segment show acme/s1 | jq -r .vni)
st=$(etcd_value /loom/v1/status/vt-e1)
t_is "$rc $(echo "$out" | jq -r '.wait.converged' 2>/dev/null)" "0 true" \
	"attach -w 20 through the follower: converged"
t_is "$(echo "$st" | jq -r '[.items[].state] | unique | join(",")')" \
	"programmed" "  ...and vt-e1's agent had reported its items (VNI $vni) programmed by then"
conv=$(etcd_value /loom/v1/ha/converged)
t_ok "$(echo "$conv" | jq -e --argjson s "$(ha_info 2 log_seq)" '.seq >= $s and ([.posts[] | select(.[0] >= $s)][0][1])' >/dev/null; echo $?)" \
	"  ...the leader's word: $conv (the follower's log entry $(ha_info 2 log_seq))"

# The same through the leader, for comparison: the same answer.
ctl 1 segment create acme/s2 --type ethernet >/dev/null
out=$(ctl 1 -o json -w 20 attach acme/s2 gpu-e2 2>>"$T_DIR/ctl.err")
t_is "$? $(echo "$out" | jq -r '.wait.converged' 2>/dev/null)" "0 true" "attach -w through the leader: converged, the same answer"

# The agent paused: the follower's -w waits out its deadline.
kill -STOP "${APID[vt-e1]}"
ctl 2 segment create acme/s3 --type ethernet >/dev/null
t0=$(now_ms)
out=$(ctl 2 -o json -w 3 attach acme/s3 gpu-e3 2>"$T_DIR/s3.err")
rc=$?
dt=$(( $(now_ms) - t0 ))
case $rc:$(cat "$T_DIR/s3.err") in 6:*"stored, but not every target converged within 3 s"*) r=0 ;; *) r=1 ;; esac
t_ok $r "vt-e1's agent paused: attach -w 3 through the follower says not converged (exit $rc: $(head -c 120 "$T_DIR/s3.err"))"
t_ok "$([ "$dt" -ge 2900 ]; echo $?)" "  ...after waiting out its deadline ($dt ms)"
t_ok "$(ctl 2 -o json segment show acme/s3 | jq -e '.attachments | length == 1' >/dev/null; echo $?)" \
	"  ...the write itself is stored"
kill -CONT "${APID[vt-e1]}"
ctl 2 segment create acme/s4 --type ethernet >/dev/null
out=$(ctl 2 -o json -w 20 attach acme/s4 gpu-e4 2>>"$T_DIR/ctl.err")
t_is "$? $(echo "$out" | jq -r '.wait.converged' 2>/dev/null)" "0 true" \
	"the agent running again: the next -w through the follower converges"

# The leader's etcd stalled while its targets take a write through the
# follower: vt-e1's agent paused, gpu-e1 detached with -w (in the
# background), the leader posts it; then every request ctl1 sends is held
# and the agent continues: it reports to etcd, the leader's watch brings
# the report, and the word waits on ctl1's stalled request.
desired_gen() { etcd_value /loom/v1/desired/vt-e1 | jq -r '.generation // 0'; }
conv_seq() { etcd_value /loom/v1/ha/converged | jq -r '.seq // -1'; }
gen0=$(desired_gen)
kill -STOP "${APID[vt-e1]}"
( ctl 2 -o json -w 30 detach acme/s1 gpu-e1 >"$T_DIR/d.out" 2>"$T_DIR/d.err"; echo $? >"$T_DIR/d.rc" ) &
DPID=$!
gen_after() { [ "$(desired_gen)" -gt "$gen0" ]; }
t_wait 10 gen_after || t_diag "the leader did not publish the detach (desired/vt-e1 generation $(desired_gen))"
gen=$(desired_gen)
entry=$(ha_info 2 log_seq)
# The leader has vt-e1's report: the target ran the generation, and the
# item it removed is gone from what it reports.
took_gen() {
	ctl 1 -o json status | jq -e --argjson g "$gen" \
		'.targets[] | select(.name == "vt-e1") | .generation >= $g and (.busy | not) and .not_programmed == 0' >/dev/null &&
	ctl 1 -o json status acme/s1 | jq -e '[.segments[] | select(.target == "vt-e1")] == []' >/dev/null
}
kill -USR1 "$PROXY"
t_stall=$(now_ms)
kill -CONT "${APID[vt-e1]}"
max=0 reads=0 learned=""
while :; do
	t0=$(now_ms)
	took_gen && [ -z "$learned" ] && learned=$(( $(now_ms) - t_stall ))
	ctl 1 info >/dev/null 2>&1
	dt=$(( $(now_ms) - t0 )) reads=$((reads + 1))
	[ "$dt" -gt "$max" ] && max=$dt
	since=$(( $(now_ms) - t_stall ))
	# Reads for 1.5 s after the leader learned it (6 s at most).
	[ -n "$learned" ] && [ "$since" -ge $((learned + 1500)) ] && break
	[ "$since" -ge 6000 ] && break
	sleep 0.05
done
conv_stalled=$(conv_seq)
[ -f "$T_DIR/d.rc" ]; answered=$?
kill -USR2 "$PROXY"
t_ok "$([ -n "$learned" ] && [ "$max" -lt 1000 ]; echo $?)" \
	"ctl1's etcd stalled: it learned vt-e1 took generation $gen (after ${learned:-?} ms) and answered $reads rounds of status and info reads, each round within 1 s (slowest: $max ms)"
t_ok "$([ "$conv_stalled" -lt "$entry" ]; echo $?)" \
	"  ...while its word on entry $entry was not put (ha/converged at entry $conv_stalled)"
t_ok "$([ "$answered" -ne 0 ]; echo $?)" "  ...and the follower's -w waited for it"
wait "$DPID"
t_is "$(cat "$T_DIR/d.rc") $(jq -r '.wait.converged' "$T_DIR/d.out" 2>/dev/null) $([ "$(conv_seq)" -ge "$entry" ]; echo $?)" "0 true 0" \
	"ctl1's requests flowing again: its word is put (ha/converged at entry $(conv_seq)), the follower's detach -w converged"
