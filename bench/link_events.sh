#!/bin/bash
# bench/link_events.sh: how many link events (RTM_NEWLINK / RTM_DELLINK, as
# `ip monitor link` prints them) one VNI costs, loom's kernel target against
# `ip -batch` making the same objects.  FRR's zebra and bgpd walk every
# interface of the namespace per such event, so this count times the number
# of VNIs is what they work through on a large apply.
#
#   bench/link_events.sh [N=200] [BUILDDIR]
#
# Per mode, a fresh namespace (le2-ev-PID) with N veth access ports (their
# peers in le2-ev-PID-h, IPv6 off on both, made before the monitor starts),
# then:
#   loom: tests/integration/kernel_tool sync with N VNIs, one port each
#         (the capability probe runs once before the monitor starts);
#   ip:   ip -batch: bridge add, vxlan add (id, local, dstport, nolearning),
#         vxlan master, port master, bridge up, vxlan up (6 lines a VNI).
# Prints events and events per VNI for each.  Needs root; removes what it made.
set -u
N=${1:-200}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${2:-${top_builddir:-$top/build}}
T=$B/tests/integration/kernel_tool
W=$(mktemp -d /tmp/le2-ev.XXXXXX)
NS=
MP=

cleanup() {
	[ -n "$MP" ] && kill "$MP" 2>/dev/null
	[ -n "$NS" ] && { ip netns del "$NS" 2>/dev/null; ip netns del "$NS-h" 2>/dev/null; }
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "link_events: needs root" >&2; exit 1; }
[ -x "$T" ] || { echo "link_events: no $T (make -C BUILDDIR tests/integration/kernel_tool)" >&2; exit 1; }

count() { grep -acE '^([0-9]+:|Deleted)' "$1"; }

one() { # mode
	local mode=$1 specs=() i v c t0 t1
	NS=le2-ev-$$
	ip netns add "$NS" && ip netns add "$NS-h" || exit 1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$NS-h" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	for i in $(seq 1 "$N"); do
		echo "link add p$i type veth peer name q$i netns $NS-h"
		echo "link set p$i up"
	done | ip -n "$NS" -batch - || exit 1
	for i in $(seq 1 "$N"); do echo "link set q$i up"; done | ip -n "$NS-h" -batch - || exit 1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=0
	ip -n "$NS" addr add 192.0.2.1/32 dev lo && ip -n "$NS" link set lo up
	for i in $(seq 1 "$N"); do specs+=("$((100 + i)):1500:ta/s$i:p$i"); done
	# The probe makes and deletes devices of its own: not counted.
	[ "$mode" = loom ] && "$T" sync "$NS" 192.0.2.1 auto >/dev/null 2>&1
	ip -n "$NS" monitor link >"$W/mon" 2>&1 &
	MP=$!
	# The monitor is listening once a marker event shows up in its output.
	for i in $(seq 1 100); do
		ip -n "$NS" link set lo mtu $((65000 + i))
		[ -s "$W/mon" ] && break
		sleep 0.05
	done
	c=$(count "$W/mon")
	t0=$(date +%s%N)
	if [ "$mode" = loom ]; then
		"$T" sync "$NS" 192.0.2.1 auto "${specs[@]}" >"$W/out" 2>&1 ||
			{ echo "link_events: kernel_tool sync failed:"; cat "$W/out"; exit 1; }
	else
		for i in $(seq 1 "$N"); do
			v=$((100 + i))
			echo "link add lb$v type bridge"
			echo "link add lx$v type vxlan id $v local 192.0.2.1 dstport 4789 nolearning"
			echo "link set lx$v master lb$v"
			echo "link set p$i master lb$v"
			echo "link set lb$v up"
			echo "link set lx$v up"
		done >"$W/batch"
		ip -n "$NS" -batch "$W/batch" || exit 1
	fi
	t1=$(date +%s%N)
	# An end marker: every event before it has been written once it shows.
	ip -n "$NS" link set lo mtu 65535
	for i in $(seq 1 100); do
		grep -aq 'lo: .*mtu 65535' "$W/mon" && break
		sleep 0.05
	done
	kill "$MP" 2>/dev/null
	MP=
	# Subtract the start markers and the end marker.
	c=$(($(count "$W/mon") - c - 1))
	printf '%-5s N=%d events=%d per_vni=%s ms=%d\n' "$mode" "$N" "$c" \
		"$(awk -v c="$c" -v n="$N" 'BEGIN {printf "%.2f", c / n}')" $(((t1 - t0) / 1000000))
	ip netns del "$NS"; ip netns del "$NS-h"; NS=
	rm -f "$W/mon"
}

one loom
one ip
