#!/bin/bash
# tests/integration/isolation_lab.sh: the isolation check against a real
# fabric.  A private lab (lab/loom-lab: 3 VTEP namespaces with zebra and
# bgpd, 6 hosts), loomd programs two tenants' segments and is stopped, so
# that nothing repairs what the test then does by hand.  The check
# (tools/isolation-check, reading the kernel over netlink and FRR's
# running-config) must find nothing on the fabric as loomd left it, and
# then exactly the one path planted by hand, each in turn:
#   an operator's veth in a loom bridge          foreign_port
#   another tenant's access port in a bridge     port_wrong_bridge
#   a route-target import of the other tenant    rt_cross_tenant
#   an operator's VXLAN device (advertise-all-vni) vni_unknown
#   a segment's VXLAN device where none needs it vni_not_needed
#   an FDB entry into the other tenant's VNI     fdb_vni
# and the report signed with an EC key checks with `openssl dgst -verify`.
# Needs root, FRR, jq, openssl.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v openssl >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq and openssl"
	exit 0
fi
P=lmx-i$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
. "$top_srcdir/tests/integration/isolation_lib.sh"
trap 't_cleanup; echo "1..$T_N"' EXIT

lab_up
t_ok $? "lab up ($P): 3 VTEPs with FRR, 6 hosts"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }
lab_loomd
t_ok $? "loomd up on the lab (reconcile = yes)"

iso_two_tenants
seg_ids acme/eth && seg_ids globex/eth
A=${VNI_OF[acme/eth]}
G=${VNI_OF[globex/eth]}
loomd_stop
t_ok $? "loomd stopped: what follows stays as the test leaves it"

NS1=$(vt_ns 1)
NS3=$(vt_ns 3)

expect "" "the fabric as loomd left it: clean, exit 0"
t_is "$(jq -c .targets "$T_DIR/report.json")" '{"gpus":0,"hca_ports":0,"vteps":3}' \
	"the report counts the three VTEPs it read"

# ---- planted by hand, one at a time ---------------------------------------
ip -n "$NS1" link add opv0 type veth peer name opv1 && ip -n "$NS1" link set opv0 master "lb$A"
t_ok $? "plant: an operator's veth opv0 in acme's bridge lb$A on vt1"
expect "foreign_port vt1 opv0" "found: foreign_port vt1 opv0, and nothing else"
ip -n "$NS1" link del opv0

ip -n "$NS1" link set acc-h12 master "lb$A"
t_ok $? "plant: globex's access port acc-h12 moved into acme's bridge on vt1"
expect "port_wrong_bridge vt1 acc-h12" "found: port_wrong_bridge vt1 acc-h12, and nothing else"
ip -n "$NS1" link set acc-h12 master "lb$G"
expect "" "put back: clean again"

vtysh --vty_socket "$(vty 1)" -c 'configure terminal' -c "router bgp 65001" \
	-c 'address-family l2vpn evpn' -c "vni $A" -c "route-target import ${RT_OF[globex/eth]}" \
	>/dev/null 2>&1
t_ok $? "plant: vni $A on vt1 imports globex's RT ${RT_OF[globex/eth]}"
expect "rt_cross_tenant vt1 vni $A" "found: rt_cross_tenant vt1 vni $A, and nothing else"
vtysh --vty_socket "$(vty 1)" -c 'configure terminal' -c "router bgp 65001" \
	-c 'address-family l2vpn evpn' -c "vni $A" -c "no route-target import ${RT_OF[globex/eth]}" \
	>/dev/null 2>&1

ip -n "$NS1" link add opvx0 type vxlan id 10950 local 203.0.113.1 dstport 4789 nolearning &&
	ip -n "$NS1" link set opvx0 up
t_ok $? "plant: an operator's VXLAN device opvx0 (VNI 10950) on vt1, under advertise-all-vni"
expect "vni_unknown vt1 vni 10950" "found: vni_unknown vt1 vni 10950, and nothing else"
ip -n "$NS1" link del opvx0

ip -n "$NS3" link add "lx$G" type vxlan id "$G" local 203.0.113.3 dstport 4789 nolearning
t_ok $? "plant: globex's VNI $G on vt3, where no globex node is"
expect "vni_not_needed vt3 vni $G" "found: vni_not_needed vt3 vni $G, and nothing else"
ip -n "$NS3" link del "lx$G"

bridge -n "$NS1" fdb add 02:00:00:00:99:01 dev "lx$A" dst 203.0.113.2 vni "$G" self permanent
t_ok $? "plant: an FDB entry on lx$A that sends into globex's VNI $G"
expect "fdb_vni vt1 lx$A" "found: fdb_vni vt1 lx$A, and nothing else"
bridge -n "$NS1" fdb del 02:00:00:00:99:01 dev "lx$A" dst 203.0.113.2 vni "$G" self

expect "" "everything taken back: clean again"

# ---- the signed report -----------------------------------------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_DIR/key.pem" 2>/dev/null &&
	openssl pkey -in "$T_DIR/key.pem" -pubout -out "$T_DIR/pub.pem" 2>/dev/null
"$CHECK" -c "$LOOM_CONF" --out "$T_DIR/signed.json" --sign "$T_DIR/key.pem" 2>"$T_DIR/check.err"
t_ok $? "signed report written, clean"
openssl dgst -sha256 -verify "$T_DIR/pub.pem" -signature "$T_DIR/signed.json.sig" \
	"$T_DIR/signed.json" >/dev/null
t_ok $? "openssl dgst -verify accepts the signature"
sed -i 's/"clean": true/"clean": false/' "$T_DIR/signed.json"
! openssl dgst -sha256 -verify "$T_DIR/pub.pem" -signature "$T_DIR/signed.json.sig" \
	"$T_DIR/signed.json" >/dev/null 2>&1
t_ok $? "and refuses it once the report is altered"
t_is "$(jq -r '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' "$T_DIR/signed.json")" true \
	"the report carries its UTC timestamp"

# ---- a VTEP that cannot be read -----------------------------------------
jq '.vteps[2].netns = "lmx-nonexistent"' "$LAB_DIR/topology.json" >"$T_DIR/topo-bad.json"
sed "s|^topology = .*|topology = $T_DIR/topo-bad.json|" "$LOOM_CONF" >"$T_DIR/bad.conf"
"$CHECK" -c "$T_DIR/bad.conf" --out "$T_DIR/bad.json" 2>/dev/null
t_is "$? $(jq -r '[.findings[] | "\(.kind) \(.target) \(.object)"] | join(";")' "$T_DIR/bad.json")" \
	"1 unreadable vt3 kernel" "a VTEP whose namespace is gone is unreadable, not clean (exit 1)"
