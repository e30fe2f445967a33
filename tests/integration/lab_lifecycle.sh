#!/bin/bash
# tests/integration/lab_lifecycle.sh: a failed node is cut off from its
# tenant, for real.  The EVPN lab (lab/loom-lab, own prefix lmw-lNNN) with
# loomd driving every VTEP (kernel + FRR, reconcile = yes): tenant acme on
# h11 h21 h31; `loomctl -w node fail h21` detaches h21 and returns once every
# VTEP verified the removal, with h21 already `failed`; then h21's host
# cannot reach h11 any more while h11 and h31 still reach each other.
# Ethernet only: the InfiniBand side is not part of this test.
set -u
. "$(dirname "$0")/lib.sh"
LAB=$top_srcdir/lab/loom-lab
P=lmw-l$(printf %03x $(($$ % 4096)))

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, FRR and jq"
	exit 0
fi
lab_down() { "$LAB" -p "$P" -d "$T_DIR/lab" down >/dev/null 2>&1; }
t_cleanup_add lab_down

pings() { # from to-address: poll until one ping answers (10 s)
	for _ in $(seq 1 20); do
		ip netns exec "$P-$1" ping -c1 -W0.5 -q "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}
never_pings() { ! ip netns exec "$P-$1" ping -c3 -i0.2 -W0.5 -q "$2" >/dev/null 2>&1; }

t_plan 13
out=$("$LAB" -p "$P" -d "$T_DIR/lab" up 2>&1)
t_ok $? "lab up ($P)" || { echo "$out" | sed 's/^/#   /'; exit 1; }

loomd_config "$T_DIR/lab/topology.json" "vni_range = 10100-10199" "reconcile = yes" \
	"provisioning_segment = infra/pxe"
loomd_start
t_ok $? "loomd drives the three VTEPs"

$LOOMCTL tenant create acme --site "$P" >/dev/null &&
	$LOOMCTL segment create acme/train --type ethernet --mtu 1500 --subnet 192.0.2.0/24 >/dev/null &&
	$LOOMCTL -w 30 attach acme/train h11 >/dev/null && $LOOMCTL -w 30 attach acme/train h21 >/dev/null &&
	$LOOMCTL -w 30 attach acme/train h31 >/dev/null
t_ok $? "acme/train on h11 h21 h31, converged"
pings h21 192.0.2.11 && pings h11 192.0.2.31
t_ok $? "h21 reaches h11 and h11 reaches h31 across VTEPs"

out=$($LOOMCTL -o json -w 30 node fail h21 --reason "GPU fell off the bus")
t_is "$?:$(echo "$out" | jq -r '.wait.converged')" "0:true" "node fail -w returns once every target converged"
t_is "$($LOOMCTL -o json node show h21 | jq -r '.state + " " + (.attachments|length|tostring)')" "failed 0" \
	"h21 is failed (the removal confirmed) and holds no attachment"
never_pings h21 192.0.2.11
t_ok $? "h21's host can no longer reach its tenant's hosts"
pings h11 192.0.2.31
t_ok $? "h11 and h31 still reach each other"
# A node in no segment: no target changes, the removal is verified at once.
$LOOMCTL node retire h32 >/dev/null
t_wait 10 sh -c "$LOOMCTL -o json node show h32 | jq -e '.state == \"retired\"'"
t_ok $? "retire a node in no segment: retired without waiting for a change"
t_diag "h21 history: $($LOOMCTL -o json node history h21 | jq -c '[.[] | .event + ":" + .to]')"

# The provisioning segment (loomd.conf): registered nodes sit in it, for
# real, and nowhere else; a node leaving those states leaves it.
$LOOMCTL tenant create infra --site "$P" >/dev/null &&
	$LOOMCTL segment create infra/pxe --type ethernet --mtu 1500 >/dev/null &&
	$LOOMCTL -w 30 node register h12 >/dev/null && $LOOMCTL -w 30 node register h22 >/dev/null
t_ok $? "h12 and h22 registered, converged (provisioning_segment = infra/pxe)"
pings h12 192.0.2.22
t_ok $? "registered h12 and h22 reach each other through the provisioning segment"
never_pings h12 192.0.2.11
t_ok $? "...and no tenant's host"
$LOOMCTL -w 30 node fail h22 --reason "no boot" >/dev/null && never_pings h12 192.0.2.22
t_ok $? "h22 failed: out of the provisioning segment, h12 no longer reaches it"

t_done
