#!/bin/bash
# bench/frr_learn.sh: how long FRR (zebra, then bgpd) takes to learn N new
# VNIs after the kernel has them, for different orders of making the same
# kernel objects, without loomd: what is left of the 1,000-VNI create time
# once loom's own work is done.
#
#   bench/frr_learn.sh [-n N] [-b BUILDDIR] RECIPE...
#
# A lab (lab/loom-lab) with N veth access ports on vt1 (peers in a
# namespace of their own, IPv6 off); for each RECIPE, in the order given:
# vt1's zebra and bgpd restarted (each recipe meets a fresh zebra), the
# objects made, then polled until zebra counts N VNIs (`show evpn json`)
# and bgpd shows all N `inKernel` (the last VNI polled alone, then
# `show bgp l2vpn evpn vni json` read whole) by `frr_drive learned`, every
# 20 ms on the daemons' vty sockets as loomd reads them; each recipe starts
# once the restarted daemons have their BGP sessions up and are idle.  (Until
# 2026-12-07 this polled with vtysh and jq every 50 ms: about 55 ms of
# vtysh's start-up CPU a poll, most of a core beside zebra and bgpd, which
# made the floor slower than it is.)
# Prints per recipe: the time to make them, zebra's and bgpd's lag after
# that, and the CPU zebra and bgpd used; then removes them (by group: the
# floor of a removal) and prints how long the kernel took and zebra after it.
#
# Recipes (bridge lbV, VXLAN device lxV, access port xaI, V = 20000 + I):
#   loom      tests/integration/kernel_tool sync: loom's kvtep, as loomd runs it
#   loom+cfg  the same, with bgpd given loom's `vni` blocks (rd, route-target
#             both) through `vtysh -f` beside it
#   cfg,loom  the same, the blocks first (what loomd did for large batches)
#   cfg|loom  the same, the blocks beside the devices' creation and the kernel
#             waiting for them before any VNI goes up (kernel_tool's
#             KERNEL_TOOL_GATE): what loomd does for large batches
#   ip, loomorder, brfirst, brup, brup0
#             ip -batch in the orders of bench/evpn_orders.sh
# Needs root; removes what it made.
set -u
N=1000
top=$(cd "$(dirname "$0")/.." && pwd)
B=${top_builddir:-$top/build}
while getopts n:b: o; do
	case $o in
	n) N=$OPTARG ;;
	b) B=$OPTARG ;;
	*) echo "usage: $0 [-n N] [-b BUILDDIR] RECIPE..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- loom ip
[ "$(id -u)" = 0 ] || { echo "frr_learn: needs root" >&2; exit 1; }
KT=$B/tests/integration/kernel_tool
FD=$B/tests/integration/frr_drive
for x in "$KT" "$FD"; do
	[ -x "$x" ] || { echo "frr_learn: no $x (make check builds it; give -b BUILDDIR)" >&2; exit 1; }
done

. "$top/bench/evpn_orders.sh"
PFX=lfl-$(($$ % 10000))
W=$(mktemp -d /tmp/lfl.XXXXXX)
chmod 755 "$W"
LAB=$W/eth
NS=$PFX-vt1
VTY=/var/run/frr/$NS
cleanup() {
	"$top/lab/loom-lab" -p "$PFX" -d "$LAB" down >/dev/null 2>&1
	ip netns del "$NS-h" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "frr_learn: $*" >&2; exit 1; }
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$(cat "$LAB/vt1/$1.pid")/stat"; }
zcount() { vtysh --vty_socket "$VTY" -c 'show evpn json' 2>/dev/null | jq '.numL2Vnis // 0'; }
peers_up() {
	vtysh --vty_socket "$VTY" -c 'show bgp l2vpn evpn summary json' 2>/dev/null |
		jq '[.. | objects | select(.state? == "Established")] | length'
}
# After a restart: zebra and bgpd done starting (the BGP sessions up and
# both daemons idle, under 20 ms of CPU in 0.5 s), as in a lab that runs,
# so the recipe is not measured against their start-up work (up to 20 s).
settle() {
	local c0 c1 i s0
	s0=$(now)
	for i in $(seq 40); do
		[ "$(peers_up)" -ge 2 ] || { sleep 0.5; continue; }
		c0=$(($(cpu zebra) + $(cpu bgpd)))
		sleep 0.5
		c1=$(($(cpu zebra) + $(cpu bgpd)))
		[ $((c1 - c0)) -le 20 ] && { echo "# vt1's FRR settled in $(ms "$s0" "$(now)") ms"; return 0; }
	done
	echo "frr_learn: vt1's FRR did not settle in 20 s; measuring anyway" >&2
}

"$top/lab/loom-lab" -p "$PFX" -d "$LAB" up >"$W/lab.log" 2>&1 || { cat "$W/lab.log"; die "lab did not come up"; }
ip netns add "$NS-h" || die "netns"
evpn_access_ports "$NS" "$N" || die "veths"

asn=$(sed -n 's/^router bgp \([0-9]*\).*/\1/p' "$LAB/vt1/frr.conf" 2>/dev/null | head -1)
[ -n "$asn" ] || asn=65001
specs=()
for i in $(seq 1 "$N"); do specs+=("$((20000 + i)):1500:bench/s$i:xa$i"); done
{
	echo "router bgp $asn"
	echo " address-family l2vpn evpn"
	for i in $(seq 1 "$N"); do
		echo "  vni $((20000 + i))"
		echo "   rd 203.0.113.1:$i"
		echo "   route-target both 65535:$((20000 + i))"
		echo "  exit-vni"
	done
	echo " exit-address-family"
	echo "exit"
} >"$W/cfg"
for o in ip loomorder brfirst brup brup0; do evpn_order_lines "$o" "$N" >"$W/$o"; done

# kernel_tool's own CPU (user + system, ms) goes to $W/kt.cpu.
kt() {
	local TIMEFORMAT='%3U %3S' rc
	{ time "$KT" sync "$NS" 203.0.113.1 auto "${specs[@]}" >"$W/kt.out" 2>&1; } 2>"$W/kt.time"
	rc=$?
	awk '{print int(($1 + $2) * 1000)}' "$W/kt.time" >"$W/kt.cpu"
	[ $rc = 0 ] || { cat "$W/kt.out"; die "kernel_tool sync"; }
}
cfg() { vtysh --vty_socket "$VTY" -f "$W/cfg" >"$W/cfg.out" 2>&1 || { tail -3 "$W/cfg.out"; die "vtysh -f"; }; }

echo "# $(date -u +%FT%TZ) kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); N=$N"
for recipe in "$@"; do
	"$top/lab/loom-lab" -p "$PFX" -d "$LAB" restart vt1 >/dev/null 2>&1 || die "restart vt1"
	for _ in $(seq 100); do [ "$(zcount)" = 0 ] && break; sleep 0.1; done
	settle
	z0=$(cpu zebra); b0=$(cpu bgpd)
	echo 0 >"$W/kt.cpu"
	t0=$(now)
	case $recipe in
	loom) kt ;;
	loom+cfg) cfg & c=$!; kt; wait $c ;;
	cfg,loom) cfg; kt ;;
	'cfg|loom')
		rm -f "$W/cfg.done"
		{ cfg; touch "$W/cfg.done"; } & c=$!
		KERNEL_TOOL_GATE="for i in \$(seq 6000); do [ -e '$W/cfg.done' ] && break; sleep 0.01; done" kt
		wait $c ;;
	ip | loomorder | brfirst | brup | brup0) ip -n "$NS" -batch "$W/$recipe" || die "ip -batch $recipe" ;;
	*) die "unknown recipe $recipe" ;;
	esac
	t1=$(now)
	"$FD" "$VTY" "$asn" learned "$N" $((20000 + N)) >"$W/learned" 2>&1 ||
		die "$recipe: FRR never showed all $N VNIs in the kernel: $(cat "$W/learned")"
	t3=$(now)
	read -r _ zms _ <"$W/learned"
	t2=$((t1 + zms * 1000000))
	printf '%-9s made in %5d ms; zebra has all +%5d ms, bgpd +%5d ms (total %5d ms); CPU zebra %5d ms, bgpd %5d ms, kernel_tool %5d ms\n' \
		"$recipe" "$(ms "$t0" "$t1")" "$(ms "$t1" "$t2")" "$(ms "$t1" "$t3")" "$(ms "$t0" "$t3")" \
		$(($(cpu zebra) - z0)) $(($(cpu bgpd) - b0)) "$(cat "$W/kt.cpu")"
	# Removal's floor: the kernel deleting them all in one request (by group).
	t4=$(now)
	ip -n "$NS" link del group 77 2>/dev/null
	ip -n "$NS" link del group 1819242349 2>/dev/null	# loom's devices ("loom" as a number)
	t5=$(now)
	for _ in $(seq 1200); do [ "$(zcount)" = 0 ] && break; sleep 0.05; done
	printf '%-9s removed by group in %5d ms; zebra has none +%5d ms\n' "$recipe" "$(ms "$t4" "$t5")" "$(ms "$t5" "$(now)")"
done
