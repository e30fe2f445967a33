#!/bin/bash
# The lab VM boots Debian's full kernel and has what the host kernel lacks
# and loom's VM tests need: bridge VLAN filtering, 802.1Q, VRF, dummy,
# soft-RoCE.  One boot, few process starts (each costs ~100 ms under TCG).
. "$(dirname "$0")/vmlib.sh"
vm_enter 120
. "$top_srcdir/tests/integration/lib.sh"
t_plan 10

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
# this kernel, mode auto sees VLAN filtering, vnifilter and VRF, and says
# vlan-aware could run but its reconciler is not built yet.
NS=vmkvt$$
ip netns add $NS && ip -n $NS link set lo up
KT=$top_builddir/tests/integration/kernel_tool
"$KT" probe $NS 203.0.113.1 auto >"$T_DIR/p1" 2>&1
t_diag "$(tr '\n' ' ' <"$T_DIR/p1")"
t_ok "$(grep -q '^caps bridge=1 vxlan=1 neigh_suppress=1 vlan_filtering=1 vnifilter=1 vrf=1$' "$T_DIR/p1"; echo $?)" \
	"the probe finds bridge VLAN filtering, vnifilter and VRF"
t_ok "$(grep -q '^reason auto chose traditional: the kernel could do vlan-aware' "$T_DIR/p1"; echo $?)" \
	"mode auto sees that the kernel could do vlan-aware, and says why it stays traditional"
"$KT" probe $NS 203.0.113.1 vlan-aware >"$T_DIR/p2" 2>&1
t_ok "$(grep -q "^open error backend_unavailable: the kernel supports vlan-aware mode but loom's vlan-aware reconciler is not built yet" "$T_DIR/p2"; echo $?)" \
	"mode vlan-aware: the kernel has it, loom says its reconciler is missing, not the kernel"
t_is "$(ip -n $NS -o link | grep -c loomprobe)" 0 "the probe left no device behind"
ip netns del $NS
t_done
