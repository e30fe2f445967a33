#!/bin/bash
# The lab VM boots Debian's full kernel and has what the host kernel lacks
# and loom's VM tests need: bridge VLAN filtering, 802.1Q, VRF, dummy,
# soft-RoCE.  One boot, few process starts (each costs ~100 ms under TCG).
. "$(dirname "$0")/vmlib.sh"
vm_enter 120
. "$top_srcdir/tests/integration/lib.sh"
t_plan 16

t_ok "$([ -n "$VMLAB_GUEST" ]; echo $?)" "inside the lab VM, kernel $(uname -r)"
ip -batch - >"$T_DIR/ip.out" 2>&1 <<IPB
link add vmk0 type bridge vlan_filtering 1 vlan_default_pvid 0
link add vmk1 type dummy
link add vmk2 type vrf table 1001
link set vmk1 master vmk0
link add link vmk1 name vmk1.100 type vlan id 100
IPB
t_ok $? "ip -batch: a VLAN-filtering bridge, dummy, VRF and an 802.1Q sub-interface$(sed 's/^/; /' "$T_DIR/ip.out" | tr -d '\n')"
t_is "$(cat /sys/class/net/vmk0/bridge/vlan_filtering)" 1 "the bridge filters VLANs"
t_ok "$(bridge vlan add vid 100 dev vmk1 >/dev/null 2>&1; echo $?)" "bridge vlan add vid 100 on a port"
ip link del vmk0; ip link del vmk1; ip link del vmk2
modprobe rdma_rxe && ip link add vmk3 type veth peer name vmk4 && ip link set vmk3 up &&
	ip link set vmk4 up && rdma link add vmkrxe type rxe netdev vmk3
t_ok $? "rdma_rxe: a soft-RoCE device on a veth"
t_is "$(cat /sys/class/infiniband/vmkrxe/ports/1/state 2>/dev/null)" "4: ACTIVE" "its port is ACTIVE"
rdma link del vmkrxe 2>/dev/null; ip link del vmk3

# loomd's kernel VTEP probe (overlay/kvtep.c, through kernel_tool): with
# this kernel, mode auto sees VLAN filtering and picks vlan-aware.
NS=vmkvt$$
ip netns add $NS && ip -n $NS link set lo up
KT=$top_builddir/tests/integration/kernel_tool
"$KT" probe $NS 203.0.113.1 auto >"$T_DIR/p1" 2>&1
t_diag "$(tr '\n' ' ' <"$T_DIR/p1")"
t_ok "$(grep -q '^caps bridge=1 vxlan=1 neigh_suppress=1 vlan_filtering=1 vnifilter=1 vrf=1$' "$T_DIR/p1"; echo $?)" \
	"the probe finds bridge VLAN filtering, vnifilter and VRF"
t_ok "$(grep -q '^reason auto chose vlan-aware: the kernel has bridge VLAN filtering$' "$T_DIR/p1"; echo $?)" \
	"mode auto picks vlan-aware and says why"
t_is "$(ip -n $NS -o link | grep -c loomprobe)" 0 "the probe left no device behind"

# The vlan-aware layout through kvtep_sync (no FRR here: vm_evpn.sh runs
# it under loomd with FRR): one VLAN-filtering bridge, a VXLAN device per
# VNI with the VNI's VLAN as PVID, each access port in its VLAN alone.
ip -n $NS link add p1 type veth peer name q1 && ip -n $NS link add p2 type veth peer name q2 &&
	ip -n $NS link add p3 type veth peer name q3
vlans() {	# "dev=vid[P][U] ..." sorted: one bridge(8) call
	bridge -n $NS -j vlan show | jq -r '[.[] | .ifname as $i | .vlans[]
		| "\($i)=\(.vlan)" + (if (.flags // []) | index("PVID") then "P" else "" end)
		+ (if (.flags // []) | index("Egress Untagged") then "U" else "" end)] | sort | join(" ")'
}
"$KT" sync $NS 203.0.113.1 auto 100:1500:t/a:p1,p2 200:1500:t/b:p3 >"$T_DIR/s1" 2>&1
t_is "$(grep -c programmed "$T_DIR/s1") $(vlans)" "2 lx100=2PU lx200=3PU p1=2PU p2=2PU p3=3PU" \
	"create: VNIs 100 and 200 in VLANs 2 and 3 of bridge lbv, ports untagged in theirs"
t_is "$(ip -n $NS -d -j link show lbv | jq -r '.[0].linkinfo.info_data | "\(.vlan_filtering) \(.vlan_default_pvid)"')" \
	"1 0" "lbv filters VLANs, default PVID 0 (a port joins no VLAN by itself)"
"$KT" sync $NS 203.0.113.1 auto 100:1500:t/a:p1 200:1500:t/b:p2,p3 >"$T_DIR/s2" 2>&1
t_is "$(grep -c '^act' "$T_DIR/s2") $(vlans)" "2 lx100=2PU lx200=3PU p1=2PU p2=3PU p3=3PU" \
	"a port moved between VNIs: out of VLAN 2, into 3 (2 actions), the VNIs keep their VLANs"
bridge -n $NS vlan add vid 2 dev p3
"$KT" sync $NS 203.0.113.1 auto 100:1500:t/a:p1 200:1500:t/b:p2,p3 >"$T_DIR/s3" 2>&1
t_is "$(vlans)" "lx100=2PU lx200=3PU p1=2PU p2=3PU p3=3PU" "a VLAN added to a port by hand is removed again"
"$KT" sync $NS 203.0.113.1 traditional 100:1500:t/a:p1 200:1500:t/b:p2,p3 >"$T_DIR/s4" 2>&1 &&
	"$KT" sync $NS 203.0.113.1 vlan-aware 100:1500:t/a:p1 200:1500:t/b:p2,p3 >"$T_DIR/s5" 2>&1
t_is "$(grep -c programmed "$T_DIR/s5") $(ip -n $NS -o link | grep -c ' lb[0-9]') $(vlans)" \
	"2 0 lx100=2PU lx200=3PU p1=2PU p2=3PU p3=3PU" \
	"traditional, then vlan-aware again: the per-VNI bridges go, the VXLAN devices are kept"
"$KT" sync $NS 203.0.113.1 vlan-aware 100:1500:t/a:p1,p3@7 200:1500:t/b:p2,p3@8 >"$T_DIR/s6" 2>&1
t_is "$(grep -c programmed "$T_DIR/s6") $(vlans)" "2 lx100=2PU lx200=3PU p1=2PU p2=3PU p3.7=2PU p3.8=3PU" \
	"p3 shared by both VNIs, tagged 7 and 8: loom's sub-interfaces p3.7 and p3.8 in their VLANs, p3 out of the bridge"
"$KT" sync $NS 203.0.113.1 vlan-aware >"$T_DIR/s6" 2>&1
t_is "$(ip -n $NS -o link | grep -c 'lbv\| lx[0-9]\|p3\.')" 0 "nothing desired: the bridge, VXLAN devices and sub-interfaces are gone"
ip netns del $NS
t_done
