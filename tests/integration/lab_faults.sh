#!/bin/bash
# tests/integration/lab_faults.sh: loomd's carrier watcher, for real.  The
# EVPN lab (lab/loom-lab, own prefix lwt-cNNN) with loomd driving every VTEP
# (reconcile = yes, default fault policy: critical cordons, hold-down
# 300 s).  Taking a host's eth0 down takes the carrier off its access port
# on the VTEP (acc-h21 in PREFIX-vt2): the RTM_NEWLINK on loomd's event
# socket becomes a carrier fault through the same path as node.fault, and
# h21 is cordoned with a reason naming the port.  After an uncordon, a
# second flap inside the hold-down is recorded but does not cordon again.
set -u
. "$(dirname "$0")/lib.sh"
LAB=$top_srcdir/lab/loom-lab
P=lwt-c$(printf %03x $(($$ % 4096)))

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, FRR and jq"
	exit 0
fi
lab_down() { "$LAB" -p "$P" -d "$T_DIR/lab" down >/dev/null 2>&1; }
t_cleanup_add lab_down

state_is() { # node state
	[ "$($LOOMCTL -o json node show "$1" | jq -r .state)" = "$2" ]
}
history() { $LOOMCTL -o json node history h21; }
n_events() { # event -> how many h21 has
	history | jq --arg e "$1" '[.[] | select(.event == $e)] | length'
}
eth0() { ip netns exec "$P-h21" ip link set eth0 "$1"; }
# The VTEP end sees the loss (IFF_LOWER_UP off) / the carrier back.
carrier_is() { # 0|1
	[ "$(ip netns exec "$P-vt2" cat /sys/class/net/acc-h21/carrier 2>/dev/null)" = "$1" ]
}

t_plan 11
out=$("$LAB" -p "$P" -d "$T_DIR/lab" up 2>&1)
t_ok $? "lab up ($P)" || { echo "$out" | sed 's/^/#   /'; exit 1; }

loomd_config "$T_DIR/lab/topology.json" "vni_range = 10200-10299" "reconcile = yes"
loomd_start
t_ok $? "loomd drives the three VTEPs"

$LOOMCTL tenant create acme --site "$P" >/dev/null &&
	$LOOMCTL segment create acme/train --type ethernet --mtu 1500 --subnet 192.0.2.0/24 >/dev/null &&
	$LOOMCTL -w 30 attach acme/train h11 >/dev/null && $LOOMCTL -w 30 attach acme/train h21 >/dev/null
t_ok $? "acme/train on h11 and h21, converged; h21 assigned"

eth0 down
t_wait 10 state_is h21 cordoned
t_ok $? "h21's eth0 down: carrier lost on acc-h21, h21 cordoned"
reason=$($LOOMCTL -o json node show h21 | jq -r .reason)
case $reason in
*"carrier lost on h21's access port eth0 (vt2 acc-h21)"*) t_ok 0 "the reason names the port: $reason" ;;
*) t_ok 1 "the reason names the port"; t_diag "reason: $reason" ;;
esac
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method == "node.fault")] | .[-1].params' | jq -r .source)" \
	"carrier" "the fault is audited as node.fault with source carrier"

eth0 up
t_wait 10 carrier_is 1
$LOOMCTL node uncordon h21 >/dev/null && state_is h21 assigned
t_ok $? "carrier back, operator uncordons h21: assigned again"

faults_before=$(n_events fault)
eth0 down
t_wait 10 sh -c "test \$($LOOMCTL -o json node history h21 | jq '[.[] | select(.event == \"fault\")] | length') -gt $faults_before"
t_ok $? "a second flap inside the hold-down is recorded (a fault event)"
t_is "$($LOOMCTL -o json node show h21 | jq -r .state):$(n_events cordon)" "assigned:1" \
	"... and does not act again: h21 stays assigned, one cordon in its history"
t_is "$(history | jq -r '[.[] | select(.event == "fault")] | .[-1].reason' | grep -c 'held down')" "1" \
	"the recorded repeat says it was held down"
eth0 up
# loom releasing an access port from its bridge (the bridge's AF_BRIDGE
# RTM_DELLINK for the port) is no carrier loss.
$LOOMCTL -w 30 detach acme/train h11 >/dev/null &&
	$LOOMCTL -w 30 attach acme/train h11 >/dev/null && $LOOMCTL -w 30 detach acme/train h11 >/dev/null
t_is "$($LOOMCTL -o json node history h11 | jq '[.[] | select(.event == "fault" or .event == "cordon")] | length'):$($LOOMCTL -o json node show h11 | jq -r .state)" \
	"0:assigned" "detaching h11 (its port released from the bridge, the bridge deleted) raises no fault"
t_diag "h21 history: $(history | jq -c '[.[] | .event + ":" + .to]')"
grep -E "fault|carrier" "$T_DIR/loomd.log" | sed 's/^/#   /'

t_done
