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
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
HA_TTL=2
. "$(dirname "$0")/ha_lib.sh"
AGENT=$top_builddir/loom-agent
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
t_plan 10

etcd_cluster c 3 || exit 1
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
