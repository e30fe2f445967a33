#!/bin/bash
# tests/integration/kernel.sh: the kernel VTEP target (overlay/kvtep) against
# the real kernel, in network namespaces this script creates (lmk-*).
# Needs root.  Every namespace and file it makes is removed on exit.
set -u

B=${top_builddir:-.}
S=${top_srcdir:-.}
T=$B/tests/integration/kernel_tool
G=$S/tests/golden/netlink
ID=$$
VT=lmk-vt-$ID
GN=lmk-g-$ID
H1=lmk-h1-$ID
H2=lmk-h2-$ID
H3=lmk-h3-$ID
TMP=$(mktemp -d /tmp/lmk-kernel.XXXXXX)
IP=192.0.2.1
WATCH_PID=
MON_PID=

cleanup() {
	[ -n "$WATCH_PID" ] && kill "$WATCH_PID" 2>/dev/null
	[ -n "$MON_PID" ] && kill "$MON_PID" 2>/dev/null
	for ns in $VT $GN $H1 $H2 $H3; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/# /' "$2"; }
check() { # check "what" command...
	local what=$1; shift
	if "$@" >"$TMP/check" 2>&1; then ok "$what"; else fail "$what" "$TMP/check"; fi
}
# Is `ip -d link show DEV` in namespace NS matching every pattern?
link_has() {
	local ns=$1 dev=$2; shift 2
	local out
	out=$(ip -n "$ns" -d link show "$dev" 2>&1) || { echo "$out"; return 1; }
	for p in "$@"; do
		grep -qE -- "$p" <<<"$out" || { echo "missing '$p' in: $out"; return 1; }
	done
}
no_link() { ! ip -n "$1" link show "$2" >/dev/null 2>&1; }
sync_ok() { # sync_ok OUTFILE SPEC... : every VNI programmed
	local out=$1; shift
	"$T" sync "$VT" "$IP" auto "$@" >"$out" 2>&1
}
# Wait (bounded) until a file exists.
wait_file() {
	local i
	for i in $(seq 1 200); do [ -e "$1" ] && return 0; sleep 0.05; done
	return 1
}

if [ "$(id -u)" != 0 ] || ! ip netns add "$VT" 2>/dev/null; then
	echo "1..0 # SKIP needs root and network namespaces"
	exit 0
fi
echo "1..38"
ip -n "$VT" link set lo up

# --- the golden messages say what we think: send them to a fresh namespace
ip netns add "$GN"
"$T" golden "$GN" "$G"/trad-0[1-4]*.hex >"$TMP/g1" 2>&1
check "golden create messages accepted by the kernel" test "$(grep -c ': ok$' "$TMP/g1")" = 4
check "golden vxlan: VNI, local, dstport, nolearning, master, up, MTU, group, alias" \
	link_has "$GN" lx100 "vxlan id 100 local 192.0.2.1 " "dstport 4789" "nolearning" \
	"master lb100" ",UP" "mtu 1450" "group 1819242349" "alias loom:tenant-a/seg-1" \
	"neigh_suppress on" "learning off"
"$T" golden "$GN" "$G"/trad-0[5-8]*.hex >"$TMP/g2" 2>&1
check "golden set mtu / up / master" link_has "$GN" lb200 "mtu 1400" ",UP"
check "golden set master moved lx100 to lb200" link_has "$GN" lx100 "master lb200"
"$T" golden "$GN" "$G"/trad-09*.hex "$G"/trad-1[0-3]*.hex >"$TMP/g3" 2>&1
check "golden nomaster / group / delete-by-group / delete accepted" \
	test "$(grep -c ': ok$' "$TMP/g3")" = 5
check "golden deletions left no device" bash -c "no_link() { ! ip -n $GN link show \$1 >/dev/null 2>&1; }; no_link lb100 && no_link lb200 && no_link lx100"
"$T" golden "$GN" "$G"/trad-1[4-6]*.hex >"$TMP/g4" 2>&1
check "golden vnifilter device and RTM_NEWTUNNEL entries accepted" \
	bash -c "test \$(grep -c ': ok\$' $TMP/g4) = 3 && bridge -n $GN vni show dev lxall | grep -q 1000-1009 && bridge -n $GN vni show dev lxall | grep -q 2000"
# A bridge created with its MAC keeps it when a port with a lower MAC joins
# (one link event fewer per port; see docs/overlay.md).
"$T" golden "$GN" "$G"/trad-17*.hex >"$TMP/g5" 2>&1
ip -n "$GN" link add lmkmac0 address 00:00:00:00:00:01 type veth peer name lmkmac1 >>"$TMP/g5" 2>&1
ip -n "$GN" link set lmkmac0 master lb300 >>"$TMP/g5" 2>&1
check "golden bridge with a MAC: accepted, keeps 02:00:02:00:01:2c with a port in it" \
	bash -c "grep -q ': ok\$' $TMP/g5 && ip -n $GN link show lb300 | grep -q 'link/ether 02:00:02:00:01:2c'"

# --- probe and mode
"$T" probe "$VT" "$IP" auto >"$TMP/p1" 2>&1
check "auto picks traditional and says why" grep -q "^reason auto chose traditional: .*VLAN filtering" "$TMP/p1"
"$T" probe "$VT" "$IP" vlan-aware >"$TMP/p2" 2>&1
check "vlan-aware on this kernel: backend_unavailable" grep -q "^open error backend_unavailable: vlan-aware" "$TMP/p2"
# The probe agrees with iproute2 trying the same things in another namespace.
want_caps() {
	local vf=0 vrf=0 vnif=0
	ip -n "$GN" link add lmkpvf type bridge vlan_filtering 1 2>/dev/null && vf=1
	ip -n "$GN" link add lmkpvrf type vrf table 4242 2>/dev/null && vrf=1
	ip -n "$GN" link add lmkpvn type vxlan external vnifilter local $IP dstport 4790 2>/dev/null &&
		ip -n "$GN" -d link show lmkpvn | grep -q vnifilter && vnif=1
	for d in lmkpvf lmkpvrf lmkpvn; do ip -n "$GN" link del $d 2>/dev/null; done
	echo "vlan_filtering=$vf vnifilter=$vnif vrf=$vrf"
}
want=$(want_caps)
check "probe agrees with iproute2 ($want)" \
	bash -c "grep -q 'caps bridge=1 vxlan=1 neigh_suppress=1 .*' $TMP/p1 && [ \"\$(grep -o 'vlan_filtering=[01] vnifilter=[01] vrf=[01]' $TMP/p1)\" = '$want' ]"
"$T" probe lmk-nosuch-$ID "$IP" auto >"$TMP/p3" 2>&1
check "a VTEP namespace that does not exist: not_found naming it" \
	grep -q "^open error not_found: network namespace \"lmk-nosuch-$ID\" does not exist" "$TMP/p3"
check "probe left no device behind" bash -c "! ip -n $VT link | grep -q loomprobe"

# --- the operator's own devices, and hosts
ip -n "$VT" link add opbr0 type bridge
ip -n "$VT" link add opvx0 type vxlan id 777 local $IP dstport 4789
ip -n "$VT" link add lb500 type bridge
ip -n "$VT" link set opvx0 master opbr0
for i in 1 2 3; do
	h=lmk-h$i-$ID
	ip netns add "$h"
	ip -n "$VT" link add p$i type veth peer name eth0 netns "$h"
	ip -n "$h" link set lo up
	ip -n "$h" addr add 198.51.100.$i/24 dev eth0
	ip -n "$h" link set eth0 up
done
ip -n "$VT" -d link show opbr0 >"$TMP/op.before"
ip -n "$VT" -d link show opvx0 >>"$TMP/op.before"
ip -n "$VT" -d link show lb500 >>"$TMP/op.before"

# --- create
sync_ok "$TMP/s1" 100:1450:ta/s1:p1,p2 200:9000:tb/s2
check "create two VNIs: all programmed" \
	bash -c "grep -q '^vni 100 programmed' $TMP/s1 && grep -q '^vni 200 programmed' $TMP/s1"
check "VNI 100: bridge and vxlan as specified, ports enslaved" \
	bash -c "$(declare -f link_has); link_has $VT lx100 'vxlan id 100 local $IP ' 'dstport 4789' nolearning 'master lb100' 'neigh_suppress on' 'learning off' 'mtu 1450' && link_has $VT lb100 ',UP' 'mtu 1450' 'alias loom:ta/s1' && link_has $VT p1 'master lb100' && link_has $VT p2 'master lb100'"
check "hosts on one VNI ping each other through the loom bridge" \
	ip netns exec "$H1" ping -c 1 -W 2 198.51.100.2
sync_ok "$TMP/s2" 100:1450:ta/s1:p1,p2 200:9000:tb/s2
check "resync without change plans nothing" grep -q "^plan 0$" "$TMP/s2"

# --- grow, move a port, isolation
sync_ok "$TMP/s3" 100:1450:ta/s1:p1 200:9000:tb/s2 300:1500:tc/s3:p2,p3
check "grow to three VNIs and move p2 from VNI 100 to 300" \
	bash -c "grep -c programmed $TMP/s3 | grep -qx 3 && ip -n $VT link show p2 | grep -q 'master lb300'"
check "the port is released before it is enslaved elsewhere" \
	bash -c "grep -n '^act' $TMP/s3 | grep -q 'release port p2' && [ \$(grep -n 'release port p2' $TMP/s3 | cut -d: -f1) -lt \$(grep -n 'enslave port p2' $TMP/s3 | cut -d: -f1) ]"
check "hosts on different VNIs cannot reach each other" \
	bash -c "! ip netns exec $H1 ping -c 1 -W 1 198.51.100.2 >/dev/null"
check "hosts moved to VNI 300 reach each other" ip netns exec "$H2" ping -c 1 -W 2 198.51.100.3

# --- errors for one VNI do not stop the others
sync_ok "$TMP/s4" 100:1450:ta/s1:p1 200:9000:tb/s2 300:1500:tc/s3:p2,p3 \
	777:1500:td/s4 500:1500:te/s5 600:1500:tf/s6:nosuchport
check "VNI colliding with an operator's vxlan: conflict for that VNI only" \
	bash -c "grep -q '^vni 777 error conflict: VNI 777 is already used by VXLAN device opvx0' $TMP/s4 && grep -q '^vni 300 programmed' $TMP/s4"
check "name taken by an operator's device: conflict" grep -q "^vni 500 error conflict: device name lb500" "$TMP/s4"
check "missing access port: not_found for that VNI, its devices still made" \
	bash -c "grep -q '^vni 600 error not_found: access port nosuchport' $TMP/s4 && ip -n $VT link show lx600 >/dev/null"

# --- drift: seen on the event fd and repaired
drift() { # drift WHAT ip-args...
	local what=$1; shift
	rm -f "$TMP/ready"
	"$T" watch "$VT" "$IP" "$TMP/ready" 10 100:1450:ta/s1:p1 200:9000:tb/s2 \
		300:1500:tc/s3:p2,p3 >"$TMP/w" 2>&1 &
	WATCH_PID=$!
	if ! wait_file "$TMP/ready"; then
		kill "$WATCH_PID"; wait "$WATCH_PID"; WATCH_PID=
		fail "$what" "$TMP/w"; return
	fi
	ip -n "$VT" "$@"
	wait "$WATCH_PID"
	local rc=$?
	WATCH_PID=
	if [ $rc = 0 ] && grep -q '^drift$' "$TMP/w"; then ok "$what"; else fail "$what (rc $rc)" "$TMP/w"; fi
}
drift "drift: deleted loom bridge seen and repaired" link del lb200
drift "drift: vxlan set down seen and repaired" link set lx300 down
drift "drift: access port moved out of its bridge seen and repaired" link set p3 nomaster
drift "drift: loom vxlan re-parented to another bridge seen and repaired" link set lx100 master lb200
check "after repair lx100 is back in lb100, and lb200 holds only lx200" \
	bash -c "ip -n $VT link show lx100 | grep -q 'master lb100' && [ \$(ip -n $VT -o link show master lb200 | wc -l) = 1 ]"
check "after repair p3 is back in lb300 and lx300 is up" \
	bash -c "ip -n $VT link show p3 | grep -q 'master lb300' && ip -n $VT link show lx300 | grep -q ',UP'"

# --- shrink and delete everything
sync_ok "$TMP/s5" 300:1500:tc/s3:p2,p3
check "shrink: VNIs 100/200/600 gone, p1 released" \
	bash -c "! ip -n $VT link show lb100 2>/dev/null && ! ip -n $VT link show lx200 2>/dev/null && ! ip -n $VT link show lb600 2>/dev/null && ! ip -n $VT link show p1 | grep -q master"
"$T" sync "$VT" "$IP" auto >"$TMP/s6" 2>&1
check "empty desired state removes every loom device" \
	bash -c "! ip -n $VT -d link | grep -qE 'group 1819242349|group 1819242340|alias loom:'"
ip -n "$VT" -d link show opbr0 >"$TMP/op.after"
ip -n "$VT" -d link show opvx0 >>"$TMP/op.after"
ip -n "$VT" -d link show lb500 >>"$TMP/op.after"
check "the operator's bridge and vxlan devices are untouched throughout" \
	diff "$TMP/op.before" "$TMP/op.after"

# --- loom's own apply is not drift: the event socket drained on a thread
# beside the sync, as loomd's main loop does beside its worker.  40 VNIs,
# then their ports rotated (each released and enslaved elsewhere) and half
# of them replaced by others: every passing state is covered by the
# verdict's dump, so none of it may report drift (a resync for nothing).
for i in $(seq 1 40); do echo "link add dd$i type veth peer name de$i"; done | ip -n "$VT" -batch -
own1=() own2=()
for i in $(seq 1 40); do
	own1+=("$((900 + i)):1500:td/s$i:dd$i")
	own2+=("$((900 + i + (i > 20 ? 100 : 0))):1500:td/s$i:dd$((i % 40 + 1))")
done
KERNEL_TOOL_DRAIN=1 "$T" sync "$VT" "$IP" auto "${own1[@]}" -- "${own2[@]}" >"$TMP/own" 2>&1
check "loom's own apply (40 ports moved, 20 VNIs replaced) is no drift to the drain beside it" \
	bash -c "[ \$(grep -c ' programmed\$' $TMP/own) = 80 ] && [ \"\$(grep '^drain drift' $TMP/own | sort -u)\" = 'drain drift 0' ] && ip -n $VT link show dd1 | grep -q 'master lb1040'"

# --- the live gate (kvtep_set_live_gate): FRR's statements wait there for
# a large batch of new VNIs (targets/vtep.c).  It must run once, after the
# devices exist and the ports are in their bridges, before any VNI is up:
# zebra tells bgpd of a VNI only once its VXLAN device is up.  The bridges
# are up by then (with carrier, before anything joins them: enum kv_stage).
# The link events of this sync are kept for the order check below; p1 is up
# (so live when it joins lb700), lb800 gets no port.
ip -n "$VT" link set p1 up
ip -n "$VT" monitor link >"$TMP/mon" 2>&1 &
MON_PID=$!
# The monitor listens once a marker (lo's MTU) shows.
for i in $(seq 1 100); do
	ip -n "$VT" link set lo mtu $((65000 + i))
	[ -s "$TMP/mon" ] && break
	sleep 0.05
done
GATE="echo vx_all \$(ip -n $VT -o link show type vxlan | grep -c ' lx[78]00'); \
echo vx_up \$(ip -n $VT -o link show type vxlan up | grep -c ' lx[78]00'); \
echo br_up \$(ip -n $VT -o link show type bridge up | grep -c ' lb[78]00'); \
echo p1 \$(ip -n $VT -o link show p1 | grep -o 'master lb[0-9]*'); \
ip -n $H3 link set eth0 down; \
for i in \$(seq 100); do ip -n $VT link show p3 | grep -q LOWERLAYERDOWN && break; sleep 0.02; done"
# The gate also takes p3's carrier away (its peer down), with p3's carrier
# watched and no drain thread: only the worker's own read before its
# verdict's dump (kv_observe_start) sees that event, and must queue it.
KERNEL_TOOL_CARRIER=p3 KERNEL_TOOL_GATE=$GATE "$T" sync "$VT" "$IP" auto 700:1500:tg/s7:p1 800:1500:tg/s8 >"$TMP/gate" 2>&1
ip -n "$H3" link set eth0 up
check "live gate: run once, the new VNIs' devices made and p1 in its bridge, no VXLAN device up yet" \
	bash -c "[ \$(grep -c '^gate\$' $TMP/gate) = 1 ] && grep -qx 'vx_all 2' $TMP/gate && grep -qx 'vx_up 0' $TMP/gate && grep -qx 'br_up 2' $TMP/gate && grep -qx 'p1 master lb700' $TMP/gate && ! grep -q 'gate command exited' $TMP/gate"
check "live gate: after it, both VNIs programmed and up" \
	bash -c "grep -q '^vni 700 programmed' $TMP/gate && grep -q '^vni 800 programmed' $TMP/gate && link_has_up() { ip -n $VT link show \$1 | grep -q ',UP'; } && link_has_up lx700 && link_has_up lx800 && link_has_up lb700"
check "a carrier loss the worker read before its verdict is queued for the fault watcher" \
	grep -qx 'carrier p3 lost' "$TMP/gate"
ip -n "$VT" link set lo mtu 65535
for i in $(seq 1 100); do
	grep -q 'lo: .*mtu 65535' "$TMP/mon" && break
	sleep 0.05
done
kill "$MON_PID" 2>/dev/null
wait "$MON_PID" 2>/dev/null
MON_PID=
# FRR 8.4's zebra walks every interface for each update of a bridge that is
# not up with carrier: lb700 must come up with carrier before p1 and lx700
# join it, and never show up without it (one walk for the VNI, not three).
check "a new bridge is up with carrier before its port and VXLAN device join, and keeps it" \
	awk '/^[0-9]+: lb700: / { n++; if ($0 ~ /,UP/ && ($0 !~ /LOWER_UP/ || $0 ~ /NO-CARRIER/)) bad = bad " " NR
			if ($0 ~ /,UP/ && !up) up = NR }
		/^[0-9]+: p1[:@].* master lb700/ && !port { port = NR }
		/^[0-9]+: lx700: / && !vx { vx = NR }
		END { if (!n || !up || !port || !vx || bad != "" || up > port || up > vx) {
			printf "lb700 first up with carrier at line %d, p1 joined at %d, lx700 made at %d; up without carrier at:%s\n", up, port, vx, bad; exit 1 } }' "$TMP/mon"
