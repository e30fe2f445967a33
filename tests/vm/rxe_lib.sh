# tests/vm/rxe_lib.sh: two soft-RoCE devices that talk over a veth, inside
# the lab VM (sourced by tests/vm/vm_rdma_admit.sh and bench/vm_rdma.sh).
#
# The kernel's rxe (6.1) routes and receives its RoCE packets in the
# initial network namespace only: rxe devices in other namespaces connect
# their queue pairs over the tool's TCP exchange, then no RoCE packet
# arrives anywhere (UdpInDatagrams stays 0 in every namespace), which is
# why ib_write_bw between two namespaces never reports.  So both devices
# live in the initial namespace, one on each end of a veth pair, with
# per-device routing rules (oif, ahead of the local table) that send each
# side's packets through the veth rather than the loopback; `tc` on an end
# then shapes what that side sends.  MTU 9000 gives RoCE 4096-byte packets:
# under TCG every packet costs CPU, so fewer is faster (~2.5x over 1500).
#
#   rxe_pair_up NODE_DEV PEER_DEV  sets up NODE_DEV on veth vmrn (192.0.2.1)
#                                  and PEER_DEV on vmrp (192.0.2.2)
#   rxe_pair_down                  removes all of it
#   rxe_gid DEV                    the GID index of DEV's IPv4 address
RXE_NODE_IP=192.0.2.1
RXE_PEER_IP=192.0.2.2

rxe_pair_up() {
	RXE_DEVS="$1 $2"
	modprobe rdma_rxe || return 1
	ip -batch - <<IPB || return 1
link add vmrn mtu 9000 type veth peer name vmrp mtu 9000
addr add $RXE_NODE_IP/32 dev vmrn
addr add $RXE_PEER_IP/32 dev vmrp
link set vmrn up
link set vmrp up
route add $RXE_PEER_IP dev vmrn table 101
route add $RXE_NODE_IP dev vmrp table 102
rule add pref 100 oif vmrn lookup 101
rule add pref 101 oif vmrp lookup 102
rule add pref 200 lookup local
rule del pref 0
IPB
	for k in all vmrn vmrp; do
		sysctl -qw net.ipv4.conf.$k.accept_local=1 net.ipv4.conf.$k.rp_filter=0 || return 1
	done
	rdma link add "$1" type rxe netdev vmrn && rdma link add "$2" type rxe netdev vmrp
}

rxe_pair_down() {
	for d in $RXE_DEVS; do rdma link del "$d" 2>/dev/null; done
	ip link del vmrn 2>/dev/null
	ip rule del pref 100 2>/dev/null; ip rule del pref 101 2>/dev/null
	ip rule add pref 0 lookup local 2>/dev/null && ip rule del pref 200 2>/dev/null
}

# RoCE v2 over IPv4: the GID that maps the address (::ffff:c000:02xx).
rxe_gid() {
	local f
	f=$(grep -l "ffff:c000:02" /sys/class/infiniband/"$1"/ports/1/gids/* 2>/dev/null | head -n 1)
	[ -n "$f" ] && echo "${f##*/}"
}
