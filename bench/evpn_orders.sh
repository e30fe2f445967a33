# bench/evpn_orders.sh: sourced by bench/frr_learn.sh and bench/link_events.sh.
# The same kernel objects for N VNIs (bridge lbV, VXLAN device lxV, access
# port xaI, V = 20000 + I, VTEP address 203.0.113.1) made in different
# orders, as `ip -batch` lines: evpn_order_lines ORDER N.
#   ip        6 lines a VNI in the order (bench/lab_evpn.sh's
#             baseline): bridge, vxlan, vxlan master, port master, bridge up, vxlan up
#   loomorder kvtep's stage order until 2026-12-07: bridges (with a MAC),
#             VXLAN devices with their master, ports, then bridge up + vxlan up
#   brfirst   bridges (with a MAC), ports, bridges up, then VXLAN devices
#             created up with their master (the VNI is whole the moment zebra sees it)
#   brup      bridges (with a MAC), bridges up, ports, VXLAN devices with
#             their master, then VXLAN devices up.  A bridge given its MAC
#             comes up without carrier until its port joins (6.18)
#   brup0     brup with bridges that pick their own MAC: such a bridge comes
#             up with carrier, so it is up with carrier before anything
#             joins it (and takes its port's MAC when the port joins).
#             kvtep's order since 2026-12-07 (it also turns IPv6 off on
#             each device before it comes up)

evpn_mac() { printf '02:c2:01:00:%02x:%02x' $(($1 / 256 % 256)) $(($1 % 256)); }
evpn_vx() { echo "type vxlan id $1 local 203.0.113.1 dstport 4789 nolearning"; }

# Returns 1 for an order it does not know.
evpn_order_lines() {
	local n=$2 i v
	case $1 in
	ip)
		for i in $(seq 1 "$n"); do
			v=$((20000 + i))
			echo "link add lb$v group 77 type bridge"
			echo "link add lx$v group 77 $(evpn_vx $v)"
			echo "link set lx$v master lb$v"
			echo "link set xa$i master lb$v"
			echo "link set lb$v up"
			echo "link set lx$v up"
		done ;;
	loomorder)
		for i in $(seq 1 "$n"); do v=$((20000 + i)); echo "link add lb$v group 77 address $(evpn_mac $v) type bridge"; done
		for i in $(seq 1 "$n"); do v=$((20000 + i)); echo "link add lx$v group 77 master lb$v $(evpn_vx $v)"; done
		for i in $(seq 1 "$n"); do echo "link set xa$i master lb$((20000 + i))"; done
		for i in $(seq 1 "$n"); do v=$((20000 + i)); echo "link set lb$v up"; echo "link set lx$v up"; done ;;
	brfirst)
		for i in $(seq 1 "$n"); do v=$((20000 + i)); echo "link add lb$v group 77 address $(evpn_mac $v) type bridge"; done
		for i in $(seq 1 "$n"); do echo "link set xa$i master lb$((20000 + i))"; done
		for i in $(seq 1 "$n"); do echo "link set lb$((20000 + i)) up"; done
		for i in $(seq 1 "$n"); do v=$((20000 + i)); echo "link add lx$v group 77 master lb$v up $(evpn_vx $v)"; done ;;
	brup | brup0)
		for i in $(seq 1 "$n"); do
			v=$((20000 + i))
			if [ "$1" = brup ]; then
				echo "link add lb$v group 77 address $(evpn_mac $v) type bridge"
			else
				echo "link add lb$v group 77 type bridge"
			fi
		done
		for i in $(seq 1 "$n"); do echo "link set lb$((20000 + i)) up"; done
		for i in $(seq 1 "$n"); do echo "link set xa$i master lb$((20000 + i))"; done
		for i in $(seq 1 "$n"); do v=$((20000 + i)); echo "link add lx$v group 77 master lb$v $(evpn_vx $v)"; done
		for i in $(seq 1 "$n"); do echo "link set lx$((20000 + i)) up"; done ;;
	*) return 1 ;;
	esac
}

# N veth access ports xa1..xaN in namespace NS, their peers in NS-h, all up,
# with IPv6 off on both ends: evpn_access_ports NS N.
evpn_access_ports() {
	local ns=$1 n=$2 i
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$ns-h" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	for i in $(seq 1 "$n"); do echo "link add xa$i type veth peer name xb$i netns $ns-h"; echo "link set xa$i up"; done |
		ip -n "$ns" -batch - || return 1
	for i in $(seq 1 "$n"); do echo "link set xb$i up"; done | ip -n "$ns-h" -batch - || return 1
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=0
}
