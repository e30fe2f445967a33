#!/bin/bash
# tests/integration/lab_cluster_faults.sh: the carrier watcher of a VTEP's
# loom-agent feeding the controller's fault path.  The EVPN lab (3 VTEP
# namespaces with real zebra + bgpd), one etcd member, one loom-agent per
# VTEP on real targets, loomd in cluster mode (default fault policy:
# critical cordons, hold-down 300 s).  Taking h21's eth0 down takes the
# carrier off acc-h21 in vt2's namespace: vt2's agent sees it on its
# netlink socket and writes signal/vt2/SEQ; loomd reads it and cordons h21
# through node.fault's path (reason, audit, history).  After an uncordon, a
# second loss inside the hold-down is recorded only; the agent killed -9
# and restarted counts its signals on from etcd; a restarted loomd acts on
# none of them again.
# Needs root, FRR, jq, etcd.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/etcd_lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v "$ETCD_BIN" >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq and etcd"
	exit 0
fi
P=lmf-c$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
AGENT=$top_builddir/loom-agent
t_plan 15

lab_up
t_ok $? "lab up ($P): 3 VTEPs with FRR, 6 hosts" || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }
etcd_cluster c 1 || exit 1
declare -A APID
agent_start() {	# agent_start VTEP-NUMBER
	local n=vt$1
	printf '%s\n' "name = $n" "kind = vtep" "cluster.etcd = $c_EPS" "cluster.lease_ttl = 3" \
		"topology = $LAB_DIR/topology.json" "targets = real" "resync_interval = 3600" >"$T_DIR/$n.conf"
	"$AGENT" -c "$T_DIR/$n.conf" 2>>"$T_DIR/$n.log" &
	APID[$1]=$!
	T_PIDS="$T_PIDS $!"
}
for v in 1 2 3; do agent_start $v; done
lab_loomd "$LAB_DIR/topology.json" "cluster.etcd = $c_EPS" "cluster.lease_ttl = 3"

state_is() { [ "$(ctl -o json node show "$1" | jq -r .state)" = "$2" ]; }
history() { ctl -o json node history h21; }
n_events() { history | jq --arg e "$1" '[.[] | select(.event == $e)] | length'; }
eth0() { ip netns exec "$P-h21" ip link set eth0 "$1"; }
carrier_is() { [ "$(ip netns exec "$(vt_ns 2)" cat /sys/class/net/acc-h21/carrier 2>/dev/null)" = "$1" ]; }
signals() {	# the SEQs under signal/vt2/, as decimal numbers
	curl -sf -X POST "$c_EPS/v3/kv/range" -d "{\"key\":\"$(printf /loom/v1/signal/vt2/ | base64 -w0)\",\"range_end\":\"$(printf /loom/v1/signal/vt20 | base64 -w0)\",\"keys_only\":true}" |
		jq -r '.kvs[]?.key' | while read -r k; do printf '%d\n' "0x$(echo "$k" | base64 -d | sed 's|.*/||')"; done
}

rc=0
ctl tenant create acme --site "$P" >/dev/null || rc=1
ctl segment create acme/train --type ethernet --mtu 1500 --subnet 192.0.2.0/24 >/dev/null || rc=1
ctl -w 30 attach acme/train h11 >/dev/null && ctl -w 30 attach acme/train h21 >/dev/null || rc=1
t_ok $rc "acme/train on h11 and h21 through the agents, converged; h21 assigned"

t0=$(date +%s%N)
eth0 down
t_wait 15 state_is h21 cordoned
t_ok $? "h21's eth0 down: vt2's agent signals the carrier loss, loomd cordons h21 ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
reason=$(ctl -o json node show h21 | jq -r .reason)
case $reason in
*"carrier lost on h21's access port eth0 (vt2 acc-h21) (agent vt2)"*) t_ok 0 "the reason names the port and the agent: $reason" ;;
*) t_ok 1 "the reason names the port and the agent"; t_diag "reason: $reason" ;;
esac
t_is "$(ctl -o json audit list | jq -r '[.[] | select(.method == "node.fault")] | .[-1].params' | jq -r '.source + " " + (.signal | sub("[0-9a-f]{16}$"; "SEQ"))')" \
	"carrier /loom/v1/signal/vt2/SEQ" "audited as node.fault, source carrier, with the agent's signal key"

eth0 up
t_wait 10 carrier_is 1
ctl node uncordon h21 >/dev/null && state_is h21 assigned
t_ok $? "carrier back, operator uncordons h21: assigned again"
faults0=$(n_events fault)
eth0 down
t_wait 5 carrier_is 0 || t_diag "acc-h21 still has carrier after eth0 down"
t_wait 15 sh -c "test \$($LOOMCTL -o json node history h21 | jq '[.[] | select(.event == \"fault\")] | length') -gt $faults0"
t_ok $? "a second loss inside the hold-down is recorded (a fault event)"
t_is "$(ctl -o json node show h21 | jq -r .state):$(n_events cordon)" "assigned:1" \
	"  ...and does not act again: h21 stays assigned, one cordon in its history"
t_is "$(history | jq -r '[.[] | select(.event == "fault")] | .[-1].reason' | grep -c 'held down')" "1" \
	"  ...the recorded repeat says it was held down"
eth0 up
t_wait 10 carrier_is 1
four() { [ "$(signals | wc -l)" -ge 4 ]; }
t_wait 10 four
t_ok $? "vt2's agent wrote four signals (lost, back, lost, back)"

# The agent killed -9 and restarted: its next signal follows its last in etcd.
# (A loss before its first run's dump is its starting point, not a loss:
# wait for the run, which ends with a status write.)
last=$(signals | tail -1)
status_version() {
	curl -sf -X POST "$c_EPS/v3/kv/range" -d "{\"key\":\"$(printf /loom/v1/status/vt2 | base64 -w0)\"}" |
		jq -r '.kvs[0].version // "0"'
}
v0=$(status_version)
kill -KILL "${APID[2]}"; wait "${APID[2]}" 2>/dev/null
agent_start 2
t_wait 20 sh -c "test \$(curl -sf -X POST '$c_EPS/v3/kv/range' -d '{\"key\":\"$(printf /loom/v1/status/vt2 | base64 -w0)\"}' | jq -r '.kvs[0].version // \"0\"') -gt $v0"
faults1=$(n_events fault)
eth0 down
t_wait 15 sh -c "test \$($LOOMCTL -o json node history h21 | jq '[.[] | select(.event == \"fault\")] | length') -gt $faults1"
t_ok $? "the agent killed -9 and restarted: a loss is signalled and recorded (held down)"
t_is "$(signals | tail -1)" "$((last + 1))" "  ...its SEQ is one more than the last before the restart"

# The key the agent will use next, taken by a value written by hand: its
# conditional put fails, and it writes its signal after the last key in
# etcd instead (nothing overwritten, nothing lost).
next=$(( $(signals | tail -1) + 1 ))
curl -sf -X POST "$c_EPS/v3/kv/put" -d "{\"key\":\"$(printf /loom/v1/signal/vt2/%016x "$next" | base64 -w0)\",\"value\":\"$(printf '{"by":"hand"}' | base64 -w0)\"}" >/dev/null
eth0 up
after_hand() { [ "$(signals | tail -1)" = "$((next + 1))" ]; }
t_wait 10 after_hand
t_ok $? "a hand-written value on the agent's next SEQ: the agent's signal goes after it, nothing overwritten"
grep -q "holds another signal" "$T_DIR/vt2.log"
t_ok $? "  ...and the agent says so"

# loomd restarted: every signal is read again, none acted on twice.
faults2=$(n_events fault)
loomd_stop
loomd_start || exit 1
sleep 2
t_is "$(n_events fault):$(n_events cordon):$(ctl -o json node show h21 | jq -r .state)" "$faults2:1:assigned" \
	"loomd restarted: it reads the agents' signals again and acts on none twice"
[ "$T_FAILED" -eq 0 ] || { grep -v "run of generation" "$T_DIR/vt2.log" | tail -40 | sed 's/^/# vt2: /'; grep -E 'signal|fault|carrier' "$T_DIR/loomd.log" | tail -10 | sed 's/^/# /'; }
t_done
