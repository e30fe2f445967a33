#!/bin/bash
# tests/integration/lab_contain_vtep.sh: a VTEP in error, or a segment
# that cannot be applied on a VTEP, never holds up another tenant or a
# node's lifecycle.  The EVPN lab (lab/loom-lab: 3 VTEPs with FRR, 2 hosts
# each) with loomd driving every VTEP, under a topology that adds a fourth
# VTEP whose namespace does not exist (an unreachable leaf) and a node
# whose access port does not exist on vt1; fault.critical = replace.
#
# Covers: -w on a write that changes no network state (cordon of a node in
# no segment) answers at once, exit 0; with an operator's VXLAN device
# holding a segment's VNI on vt3 and a missing access port on vt1, each of
# those segments alone is in error with its reason while another tenant's
# attach on the same VTEPs converges with -w (and its hosts reach each
# other); a VNI whose statements FRR refuses (a stand-in in front of vtysh
# refuses them) is the only one in error on its VTEP, whose other VNIs are
# applied and verified; `node fail -w 15` reaches failed; a critical fault is replaced
# and the spare joins, all with the unreachable VTEP in error.
# TAP output; needs root, FRR and jq.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab_evpn_lib.sh"
P=lcv-l$(printf %03x $(($$ % 4096)))

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, FRR and jq"
	exit 0
fi
pings() { # FROM TO-ADDRESS: poll until one ping answers (10 s)
	for _ in $(seq 1 20); do
		ip netns exec "$P-$1" ping -c1 -W0.5 -q "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}
layer_of() {	# layer_of TENANT/SEGMENT LAYER: "state reason" of its items on that layer
	ctl -o json status "$1" | jq -r --arg l "$2" '.segments[] | select(.layer == $l) | "\(.state) \(.reason)"'
}
node_state() { ctl -o json node show "$1" | jq -r .state; }

t_plan 16
lab_up
t_ok $? "lab up ($P)" || { sed 's/^/#   /' "$T_DIR/lab-up.log"; exit 1; }
# hy: a node on vt1 whose access port is a veth of vt1's own.
ip -n "$(vt_ns 1)" link add acc-hy type veth peer name hy-peer &&
	ip -n "$(vt_ns 1)" link set acc-hy up && ip -n "$(vt_ns 1)" link set hy-peer up
jq --arg p "$P" '.vteps += [{name: "vt9", site: $p, vtep_ip: "10.255.255.9", asn: 65099,
		vty_dir: "/var/run/frr/\($p)-vt9", netns: "\($p)-vt9"}] |
	.nodes += [{name: "hx", site: $p, nic_ports: [{name: "eth0", mac: "02:00:00:00:99:01", vtep: "vt1",
		access_port: "acc-nope"}], hca_ports: [], gpus: []},
		{name: "hy", site: $p, nic_ports: [{name: "eth0", mac: "02:00:00:00:99:02", vtep: "vt1",
		access_port: "acc-hy"}], hca_ports: [], gpus: []}]' \
	"$LAB_DIR/topology.json" >"$T_DIR/topology.json"
# A STAND-IN in front of vtysh: it refuses a batch that configures the VNI
# named in $T_DIR/bad_vni, as FRR refuses a statement it cannot take, and
# hands everything else to the real vtysh.
mkdir -p "$T_DIR/bin"
cat >"$T_DIR/bin/vtysh" <<EOS
#!/bin/sh
bad=\$(cat "$T_DIR/bad_vni" 2>/dev/null)
if [ -n "\$bad" ]; then
	prev=
	for a; do
		[ "\$a" = "vni \$bad" ] && { echo "% Malformed Route Target list"; exit 1; }
		[ "\$prev" = -f ] && grep -q "^ *vni \$bad\$" "\$a" && { echo "line 3: % Malformed Route Target list"; exit 1; }
		prev=\$a
	done
fi
exec $(command -v vtysh) "\$@"
EOS
chmod +x "$T_DIR/bin/vtysh"
PATH=$T_DIR/bin:$PATH lab_loomd "$T_DIR/topology.json" "fault.critical = replace" "frr_apply = vtysh"
t_ok $? "loomd up; vt9's namespace does not exist"
t_wait 10 sh -c "$LOOMCTL -o json status | jq -e '.targets[] | select(.name == \"vt9\") | .error != \"\"'"
t_ok $? "vt9 is in error ($(ctl -o json status | jq -r '.targets[] | select(.name == "vt9") | .error' | cut -c1-80))"

# ---- a write that changes no network state ---------------------------------
t0=$(now_ms)
ctl -w 5 node cordon h12 --reason "no segment" >/dev/null
r=$?
t1=$(now_ms)
[ "$r" = 0 ] && [ $((t1 - t0)) -lt 3000 ]
t_ok $? "node cordon -w 5 of a node in no segment: exit $r in $((t1 - t0)) ms, vt9 in error"
ctl node uncordon h12 >/dev/null

# ---- segments that cannot be applied, next to one that can --------------------
ctl tenant create bad --site "$P" >/dev/null &&
	ctl segment create bad/op --type ethernet --mtu 1500 >/dev/null &&
	ctl segment create bad/np --type ethernet --mtu 1500 >/dev/null
op_vni=$(ctl -o json segment show bad/op | jq -r .vni)
# The operator's own VXLAN device holds bad/op's VNI on vt3.
ip -n "$(vt_ns 3)" link add opvx0 type vxlan id "$op_vni" dstport 4789 nolearning
ctl attach bad/op h32 >/dev/null && ctl attach bad/np hx >/dev/null
t_wait 20 sh -c "$LOOMCTL -o json status bad/np | jq -e '[.segments[] | select(.layer == \"kernel\")][0].state == \"error\"'"
layer_of bad/np kernel | grep -q "^error .*acc-nope"
t_ok $? "bad/np (its access port missing on vt1) is in error naming the port"
t_wait 20 sh -c "$LOOMCTL -o json status bad/op | jq -e '[.segments[] | select(.layer == \"kernel\")][0].state == \"error\"'"
t_ok $? "bad/op (VNI $op_vni held by the operator's device on vt3) is in error ($(layer_of bad/op kernel | cut -c1-100))"

ctl tenant create green --site "$P" >/dev/null &&
	ctl segment create green/net --type ethernet --mtu 1500 --subnet 192.0.2.0/24 >/dev/null &&
	ctl -w 30 attach green/net h11 >/dev/null && ctl -w 30 attach green/net h31 >/dev/null
t_ok $? "another tenant's attach -w on vt1 and vt3 converges next to them"
pings h11 192.0.2.31
t_ok $? "green's h11 reaches h31"
t_is "$(ip -n "$(vt_ns 3)" -j -d link show opvx0 | jq -r '.[0].linkinfo.info_data.id')" "$op_vni" \
	"the operator's device on vt3 is untouched"

# FRR refuses one VNI's statements on vt1: only that VNI is in error there.
ctl tenant create red --site "$P" >/dev/null && ctl segment create red/frr --type ethernet --mtu 1500 >/dev/null
ctl -o json segment show red/frr | jq -r .vni >"$T_DIR/bad_vni"
ctl attach red/frr hy >/dev/null
t_wait 20 sh -c "$LOOMCTL -o json status red/frr | jq -e '[.segments[] | select(.layer == \"frr\")][0].state == \"error\"'"
r=$?
layer_of red/frr frr | grep -q "^error frr refused VNI $(cat "$T_DIR/bad_vni")'s statements.*Malformed"
t_is "$r $?" "0 0" "red/frr (FRR refuses its statements on vt1) is in error with FRR's message"
t_is "$(layer_of green/net frr | cut -d' ' -f1 | sort -u) $(ctl -o json status | jq -r '.targets[] | select(.name == "vt1") | .error')" \
	"programmed " "green/net stays programmed in FRR, vt1 has no target-wide error"

# ---- the lifecycle with vt9 in error ------------------------------------------
ctl tenant create acme --site "$P" >/dev/null &&
	ctl segment create acme/train --type ethernet --mtu 1500 --subnet 198.51.100.0/24 >/dev/null &&
	ctl -w 30 attach acme/train h21 >/dev/null && ctl -w 30 attach acme/train h12 >/dev/null
t_ok $? "acme/train on h21 and h12 (vt1, next to red/frr's refused VNI), converged"
t_is "$(layer_of acme/train frr | cut -d' ' -f1 | sort -u)" "programmed" "acme/train programmed in FRR on vt1 and vt2"
ctl -w 15 node fail h12 --reason "test" >/dev/null
r=$?
t_wait 15 sh -c "[ \"\$($LOOMCTL -o json node show h12 | jq -r .state)\" = failed ]"
t_is "$r $(node_state h12)" "0 failed" "node fail -w 15 h12: failed, although vt9 is in error"
out=$(ctl -o json -w 60 node fault h21 --component gpu --severity critical --text "XID 79")
t_is "$?:$(echo "$out" | jq -r '.decision.action + " " + .replacement.new + " " + .replacement.state')" \
	"0:replace h22 done" "a critical fault on h21: replaced by the spare h22, although vt9 is in error"
t_is "$(node_state h21) $(ctl -o json node show h22 | jq -r '.state + " " + (.attachments | length | tostring)')" \
	"failed assigned 1" "h21 failed, h22 joined acme/train"
t_diag "h22 history: $(ctl -o json node history h22 | jq -c '[.[] | .event + ":" + .to]')"
t_done
