#!/bin/bash
# tests/integration/lab_gpu.sh: two soft tenants share a GPU node, each on
# its own rail, for real.  The EVPN lab (lab/loom-lab -g, prefix lgw-NNN)
# with loomd driving every VTEP: node g1 has two ports (eth0 on vt1, eth1 on
# vt2) paired with GPU 0 and GPU 1.  acme (hosts h21 h31) and beta (h11
# h32) each get a MIG instance on g1; loom attaches each instance's rail
# port to its tenant's segment.  From g1, each port reaches its own
# tenant's hosts, across VXLAN, and never the other's, not even on the same
# VTEP.  No GPU here: the instances are planned and recorded (no NVML is
# named for g1), the network is real.
set -u
. "$(dirname "$0")/lib.sh"
LAB=$top_srcdir/lab/loom-lab
P=lgw-$(printf %03x $(($$ % 4096)))

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, FRR and jq"
	exit 0
fi
lab_down() { "$LAB" -p "$P" -d "$T_DIR/lab" down >/dev/null 2>&1; }
t_cleanup_add lab_down

pings() { # ns dev to: poll until one ping answers (10 s)
	for _ in $(seq 1 20); do
		ip netns exec "$P-$1" ping -I "$2" -c1 -W0.5 -q "$3" >/dev/null 2>&1 && return 0
	done
	return 1
}
never_pings() { ! ip netns exec "$P-$1" ping -I "$2" -c3 -i0.2 -W0.5 -q "$3" >/dev/null 2>&1; }

t_plan 16
out=$("$LAB" -p "$P" -d "$T_DIR/lab" -g up 2>&1)
t_ok $? "lab up with the two-port GPU node ($P)" || { echo "$out" | sed 's/^/#   /'; exit 1; }

loomd_config "$T_DIR/lab/topology.json" "vni_range = 10200-10299" "reconcile = yes"
loomd_start
t_ok $? "loomd drives the three VTEPs"

$LOOMCTL tenant create acme --site "$P" >/dev/null && $LOOMCTL tenant create beta --site "$P" >/dev/null &&
	$LOOMCTL segment create acme/train --type ethernet >/dev/null &&
	$LOOMCTL segment create beta/train --type ethernet >/dev/null &&
	$LOOMCTL -w 30 attach acme/train h21 >/dev/null && $LOOMCTL -w 30 attach acme/train h31 >/dev/null &&
	$LOOMCTL -w 30 attach beta/train h11 >/dev/null && $LOOMCTL -w 30 attach beta/train h32 >/dev/null
t_ok $? "acme/train on h21 h31, beta/train on h11 h32, converged"

out=$($LOOMCTL -o json -w 30 gpu apply acme 1g.10gb --node g1)
t_is "$?:$(echo "$out" | jq -r '.placements[0] | "gpu\(.gpu) \(.network[0].port)"')" "0:gpu0 eth0" \
	"acme's MIG instance on g1 GPU 0; its rail port eth0 joins acme/train (-w: programmed)"
out=$($LOOMCTL -o json -w 30 gpu apply beta 1g.10gb --node g1)
t_is "$?:$(echo "$out" | jq -r '.placements[0] | "gpu\(.gpu) \(.network[0].port)"')" "0:gpu1 eth1" \
	"beta's instance on the same node lands on GPU 1, whose rail (eth1) no other tenant holds"
t_is "$($LOOMCTL -o json node show g1 | jq -r '.state + " " + (.tenants | join(","))')" "assigned acme,beta" \
	"g1 is assigned and shared by the two soft tenants"
t_is "$($LOOMCTL -o json status | jq -r '[.gpus[] | select(.target == "g1") | .state] | unique | join(",")')" "unmanaged" \
	"status: the GPUs are planned, not applied (no NVML reachable for g1)"

pings g1 eth0 192.0.2.21
t_ok $? "g1 eth0 (acme) reaches acme's h21 on vt2, over VXLAN"
pings g1 eth0 192.0.2.31
t_ok $? "g1 eth0 (acme) reaches acme's h31 on vt3"
pings g1 eth1 192.0.2.11
t_ok $? "g1 eth1 (beta) reaches beta's h11 on vt1, over VXLAN"
pings g1 eth1 192.0.2.32
t_ok $? "g1 eth1 (beta) reaches beta's h32 on vt3"
never_pings g1 eth0 192.0.2.11 && never_pings g1 eth0 192.0.2.32
t_ok $? "g1 eth0 never reaches beta's hosts (h11 shares its VTEP)"
never_pings g1 eth1 192.0.2.21 && never_pings g1 eth1 192.0.2.31
t_ok $? "g1 eth1 never reaches acme's hosts (h21 shares its VTEP)"

out=$($LOOMCTL -o json -w 30 gpu release acme --node g1)
t_is "$?:$(echo "$out" | jq -r '[.detached[] | "\(.segment) \(.port)"] | join(",")')" "0:acme/train eth0" \
	"releasing acme's instance detaches its rail port (-w: verified)"
never_pings g1 eth0 192.0.2.21
t_ok $? "g1 eth0 no longer reaches acme"
pings g1 eth1 192.0.2.11
t_ok $? "beta's port is untouched"

t_done
