#!/bin/bash
# tests/integration/frr_lab.sh: the lab end to end (own copy, prefix lmf-lNNN).
# Until loomd drives the kernel side, the VXLAN devices are made here with
# `ip`; loom's FRR target programs the EVPN statements on all three VTEPs
# (VNI 100 for tenant A: hosts h11 h21 h31; VNI 200 for tenant B: h12 h22
# h32).  Then: zebra learns the remote VTEPs, hosts of one VNI ping each
# other across VTEPs, hosts of different VNIs do not (same IP subnet, so only
# the overlay keeps them apart).  Needs root, FRR, jq, ping.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
LAB=$top_srcdir/lab/loom-lab
DRIVE=$top_builddir/tests/integration/frr_drive
# Unique per run (3 hex digits of the pid): another build tree may run
# the same test at the same time.
P=lmf-l$(printf %03x $(($$ % 4096)))
F=lmf-f$(printf %03x $(($$ % 4096)))

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v ping >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq and ping"
	exit 0
fi

WORK=$(mktemp -d /tmp/lmf-frr-lab.XXXXXX)
chmod 755 "$WORK"	# the FRR daemons run as user frr
cleanup() {
	"$LAB" -p $P -d "$WORK/lab" down >/dev/null 2>&1
	"$LAB" -p $F -d "$WORK/half" down >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }

vty() { echo "/var/run/frr/$P-vt$1"; }
want() { # vtep -> VNI specs (RD = VTEP IP:VNI, RT shared by the tenant)
	echo "100,203.0.113.$1:100,65000:100 200,203.0.113.$1:200,65000:200"
}
pings() { # from to-address: poll until one ping answers (10 s)
	for _ in $(seq 1 20); do
		ip netns exec "$P-$1" ping -c1 -W0.5 -q "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}
never_pings() { # from to-address: three tries, none may answer
	! ip netns exec "$P-$1" ping -c3 -i0.2 -W0.5 -q "$2" >/dev/null 2>&1
}

echo "1..13"

if out=$("$LAB" -p $P -d "$WORK/lab" up 2>&1); then ok "lab up: 3 VTEPs with zebra+bgpd, eBGP sessions established"; else
	nok "lab up" "$out"
	exit 1
fi

T=$WORK/lab/topology.json
if jq -e '(.vteps | length) == 3 and (.nodes | length) == 6 and .vteps[0].asn == 65001
	and .vteps[2].vty_dir == "/var/run/frr/'$P'-vt3" and .vteps[1].netns == "'$P'-vt2"
	and .nodes[0].nic_ports[0].access_port == "acc-h11" and .nodes[5].nic_ports[0].vtep == "vt3"' "$T" >/dev/null; then
	ok "topology.json describes the lab"
else
	nok "topology.json describes the lab" "$(cat "$T")"
fi

# The kernel side (loomd's kernel target will do this): traditional mode,
# one bridge and one VXLAN device per VNI, the access ports enslaved.
out=""
for v in 1 2 3; do
	out+=$(for vni in 100 200; do
		h=$([ $vni = 100 ] && echo 1 || echo 2)
		echo "link add br$vni type bridge"
		echo "link add vx$vni type vxlan id $vni local 203.0.113.$v dstport 4789 nolearning"
		echo "link set vx$vni master br$vni"
		echo "link set acc-h$v$h master br$vni"
		echo "link set vx$vni up"
		echo "link set br$vni up"
	done | ip -n "$P-vt$v" -batch - 2>&1)
done
if [ -z "$out" ]; then ok "VXLAN devices for VNI 100 and 200 on every VTEP"; else nok "VXLAN devices" "$out"; fi

out=""
for v in 1 2 3; do
	# shellcheck disable=SC2046
	r=$("$DRIVE" "$(vty "$v")" $((65000 + v)) sync $(want "$v") 2>&1) || out+="vt$v: $r "
done
if [ -z "$out" ]; then ok "loom's EVPN statements applied on the 3 VTEPs"; else nok "statements applied" "$out"; fi

# Verified: RD/RT right and the VNI in the kernel, on every VTEP (poll).
verified=0
for _ in $(seq 1 50); do
	verified=1
	for v in 1 2 3; do
		# shellcheck disable=SC2046
		"$DRIVE" -k "$(vty "$v")" $((65000 + v)) verify $(want "$v") >/dev/null 2>&1 || verified=0
	done
	[ $verified = 1 ] && break
	sleep 0.2
done
if [ $verified = 1 ]; then ok "frr_verify with kernel devices: all VNIs verified on all VTEPs"; else
	# shellcheck disable=SC2046
	nok "frr_verify" "$("$DRIVE" -k "$(vty 1)" 65001 verify $(want 1) 2>&1)"
fi

# zebra installs both remote VTEPs for each VNI (type-3 routes imported
# through loom's RTs).
remote=0
for _ in $(seq 1 100); do
	remote=1
	for v in 1 2 3; do
		vtysh --vty_socket "$(vty "$v")" -c 'show evpn vni json' |
			jq -e '."100".numRemoteVteps == 2 and ."200".numRemoteVteps == 2' >/dev/null || remote=0
	done
	[ $remote = 1 ] && break
	sleep 0.2
done
if [ $remote = 1 ]; then ok "zebra has 2 remote VTEPs per VNI on every VTEP"; else
	nok "remote VTEPs" "$(vtysh --vty_socket "$(vty 1)" -c 'show evpn vni json')"
fi
fdb=$(ip netns exec "$P-vt1" bridge fdb show dev vx100 | grep -c '^00:00:00:00:00:00 dst 203.0.113.[23] self permanent')
if [ "$fdb" = 2 ]; then ok "remote VTEPs in vx100's FDB on vt1"; else
	nok "remote VTEPs in the FDB" "$(ip netns exec "$P-vt1" bridge fdb show dev vx100)"
fi

# Reachability matrix.
if pings h11 192.0.2.21 && pings h11 192.0.2.31 && pings h21 192.0.2.31; then
	ok "tenant A (VNI 100): h11, h21, h31 reach each other across VTEPs"
else
	nok "tenant A reachability"
fi
if pings h12 192.0.2.22 && pings h12 192.0.2.32 && pings h22 192.0.2.32; then
	ok "tenant B (VNI 200): h12, h22, h32 reach each other across VTEPs"
else
	nok "tenant B reachability"
fi
if never_pings h11 192.0.2.12 && never_pings h11 192.0.2.22 && never_pings h21 192.0.2.32 &&
	never_pings h32 192.0.2.31; then
	ok "tenants A and B do not reach each other (same VTEP or across)"
else
	nok "tenant isolation"
fi

"$LAB" -p $P -d "$WORK/lab" status >"$WORK/status" 2>&1
if [ "$(grep -c 'evpn-peers-established=2' "$WORK/status")" = 3 ]; then ok "lab status"; else nok "lab status" "$(cat "$WORK/status")"; fi

"$LAB" -p $P -d "$WORK/lab" down >/dev/null 2>&1
if [ "$(ip netns list | grep -c "^$P-")" = 0 ] && [ ! -e "$WORK/lab" ] && [ ! -e "$(vty 1)" ] &&
	! pgrep -f "$WORK/lab/" >/dev/null; then
	ok "lab down removed namespaces, daemons and files"
else
	nok "lab down" "$(ip netns list)"
fi

# A half-finished up (the daemons cannot start) is undone by down too.
FRR_BIN=$WORK/no-frr "$LAB" -p $F -d "$WORK/half" up >/dev/null 2>&1
half=$?
made=$(ip netns list | grep -c "^$F-")
"$LAB" -p $F -d "$WORK/half" down >/dev/null 2>&1
if [ $half != 0 ] && [ "$made" -gt 0 ] && [ "$(ip netns list | grep -c "^$F-")" = 0 ] &&
	[ ! -e "$WORK/half" ] && [ ! -e /var/run/frr/$F-vt1 ]; then
	ok "down after a failed up removes what it had made ($made namespaces)"
else
	nok "down after a failed up" "up rc $half, made $made" "$(ip netns list)"
fi
exit 0
