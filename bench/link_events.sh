#!/bin/bash
# bench/link_events.sh: the link messages (RTM_NEWLINK/DELLINK, all
# families) that making N VNIs sends to every listener, zebra among them,
# for different orders of making the same objects; and how many of them
# make zebra walk all its interfaces for a bridge.
#
#   bench/link_events.sh [-n N] [-b BUILDDIR] RECIPE...
#   bench/link_events.sh [N [BUILDDIR]]      (as before: recipes loom and ip)
#
# Per recipe: a fresh namespace with N veth access ports (peers in another
# namespace), `ip monitor link` running, the objects made, then counted:
# messages a VNI, those of the AF_UNSPEC family (zebra looks each one's
# interface up by name, walking its interface table: FRR 8.4's
# if_lookup_by_name_per_ns), and the bridge "SVI walks": FRR 8.4's zebra
# calls if_down() for every update of a bridge that is not operative (up
# with carrier) and if_up() when it becomes so, and both walk every
# interface to find the bridge's VXLAN device (zebra_evpn_from_svi).  That
# count is a model of zebra's code, read from FRR 8.4's source, not a
# measurement of zebra.
#
# Recipes: loom (tests/integration/kernel_tool sync: loom's kvtep), and the
# ip -batch orders of bench/evpn_orders.sh (bench/frr_learn.sh's too): ip,
# loomorder, brfirst, brup, brup0.
# Needs root; removes what it made.
set -u
N=200
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
# The first form of this script: N and BUILDDIR by position.
if [ $# -gt 0 ] && [ -z "${1//[0-9]/}" ]; then
	N=$1
	shift
	[ $# -gt 0 ] && [ -d "$1" ] && { B=$1; shift; }
fi
[ $# -gt 0 ] || set -- loom ip
[ "$(id -u)" = 0 ] || { echo "link_events: needs root" >&2; exit 1; }
KT=$B/tests/integration/kernel_tool
[ -x "$KT" ] || { echo "link_events: no $KT (make check builds it; give -b BUILDDIR)" >&2; exit 1; }
. "$top/bench/evpn_orders.sh"
NS=lle-$$
W=$(mktemp -d /tmp/lle.XXXXXX)
mon=
cleanup() {
	[ -n "$mon" ] && kill "$mon" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NS-h" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "link_events: $*" >&2; exit 1; }

# Counts from `ip monitor link` output (see the head of this file).
count() {
	awk -v n="$N" '
	/^(Deleted )?[0-9]+: / {
		msgs++
		if ($0 !~ / qdisc /) next		# AF_BRIDGE: zebra finds those by index
		unspec++
		name = $2; sub(/^Deleted /, "", name); sub(/@.*/, "", name); sub(/:$/, "", name)
		if ($1 == "Deleted") { name = $3; sub(/@.*/, "", name); sub(/:$/, "", name) }
		if (name !~ /^lb/) next
		flags = $0; sub(/^[^<]*</, "", flags); sub(/>.*/, "", flags)
		now = (flags ~ /(^|,)UP(,|$)/ && flags ~ /LOWER_UP/ && flags !~ /NO-CARRIER/)
		if (!(name in oper)) { oper[name] = now; next }	# new: if_add_update, no walk
		if (!oper[name] || !now) walks++
		oper[name] = now
	}
	END { printf "%d messages (%.1f a VNI), %d AF_UNSPEC (%.1f a VNI), %d bridge SVI walks (%.2f a VNI)", msgs, msgs / n, unspec, unspec / n, walks, walks / n }' "$1"
}

for recipe in "$@"; do
	ip netns del "$NS" 2>/dev/null; ip netns del "$NS-h" 2>/dev/null
	ip netns add "$NS" && ip netns add "$NS-h" || die "netns"
	ip -n "$NS" link set lo up
	ip -n "$NS" addr add 203.0.113.1/32 dev lo
	evpn_access_ports "$NS" "$N" || die "veths"
	ip -n "$NS" monitor link >"$W/mon" 2>&1 & mon=$!
	# Start and end markers (lo's MTU): the monitor is listening once the
	# first shows, and has written every message before the last.
	for i in $(seq 1 100); do
		ip -n "$NS" link set lo mtu $((65000 + i))
		[ -s "$W/mon" ] && break
		sleep 0.05
	done
	t0=$(date +%s%N)
	if [ "$recipe" = loom ]; then
		specs=()
		for i in $(seq 1 "$N"); do specs+=("$((20000 + i)):1500:bench/s$i:xa$i"); done
		"$KT" sync "$NS" 203.0.113.1 auto "${specs[@]}" >"$W/kt.out" 2>&1 || { cat "$W/kt.out"; die "kernel_tool sync"; }
	else
		evpn_order_lines "$recipe" "$N" >"$W/batch" || die "unknown recipe $recipe"
		ip -n "$NS" -batch "$W/batch" || die "ip -batch $recipe"
	fi
	t1=$(date +%s%N)
	ip -n "$NS" link set lo mtu 65535
	for i in $(seq 1 200); do
		grep -aq 'lo: .*mtu 65535' "$W/mon" && break
		sleep 0.05
	done
	kill "$mon"; wait "$mon" 2>/dev/null; mon=
	sed -i '/^[0-9]*: lo: /,+1d' "$W/mon"	# the markers
	printf '%-9s N=%d made in %5d ms: %s\n' "$recipe" "$N" $(((t1 - t0) / 1000000)) "$(count "$W/mon")"
done
