#!/bin/bash
# tests/integration/frr_target.sh: the FRR target against real FRR 8.4 in
# the lab's namespaces (own copy, prefix lmf-tNNN): apply, verify from FRR's
# JSON, grow, shrink, idempotence, the operator's config untouched, FRR's
# refusals reported, restart detected and re-applied, FRR down reported.
# Needs root and FRR; skips (TAP "1..0 # SKIP") otherwise.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
LAB=$top_srcdir/lab/loom-lab
DRIVE=$top_builddir/tests/integration/frr_drive
# Unique per run (3 hex digits of the pid): another build tree may run
# the same test at the same time.
P=lmf-t$(printf %03x $(($$ % 4096)))

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, FRR and jq"
	exit 0
fi

WORK=$(mktemp -d /tmp/lmf-frr-target.XXXXXX)
chmod 755 "$WORK"	# the FRR daemons run as user frr
COPROC_PID=
cleanup() {
	[ -n "$COPROC_PID" ] && kill "$COPROC_PID" 2>/dev/null
	"$LAB" -p $P -d "$WORK/lab" down >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { # description command...
	local d=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$d"; else nok "$d" "$out"; fi
}

VTY=/var/run/frr/$P-vt1
V() { vtysh --vty_socket "$VTY" "$@"; }
drive() { "$DRIVE" "$VTY" 65001 "$@"; }
# The operator's part of the config: everything but loom's vni blocks.
operator_conf() {
	V -c 'show running-config bgpd' | awk '
		/^frr version|^Building|^Current configuration/ { next }
		/^  vni [0-9]+$/ { skip = 1; next }
		skip && /^  exit-vni$/ { skip = 0; next }
		!skip { print }'
}
# jq over `show bgp l2vpn evpn vni json`, retried until it holds (5 s).
bgp_vni_is() { # jq-filter
	for _ in $(seq 1 50); do
		V -c 'show bgp l2vpn evpn vni json' | jq -e "$1" >/dev/null && return 0
		sleep 0.1
	done
	V -c 'show bgp l2vpn evpn vni json'
	return 1
}

echo "1..20"

if out=$("$LAB" -p $P -d "$WORK/lab" up 2>&1); then ok "lab up ($P)"; else
	nok "lab up ($P)" "$out"
	exit 1
fi
BEFORE=$(operator_conf)

A="100,203.0.113.1:100,65000:100 200,203.0.113.1:200,65000:200"
out=$(drive sync $A 2>&1)
if [ "$out" = "changes 6" ]; then ok "sync two VNIs: 6 changes (vni, rd, route-target both)"; else nok "sync two VNIs" "$out"; fi

check "BGP JSON shows the VNIs with loom's RD and RTs" bgp_vni_is \
	'."100".rd == "203.0.113.1:100" and ."100".importRTs == ["65000:100"] and ."100".exportRTs == ["65000:100"]
	 and ."200".rd == "203.0.113.1:200" and ."200".importRTs == ["65000:200"] and ."200".exportRTs == ["65000:200"]'
check "frr_verify: both VNIs verified" drive verify $A

out=$(drive sync $A 2>&1)
if [ "$out" = "changes 0" ]; then ok "second sync changes nothing"; else nok "second sync changes nothing" "$out"; fi

# Grow: a third VNI with FRR-derived RD/RT, and 200 moves to another RT.
B="100,203.0.113.1:100,65000:100 200,203.0.113.1:200,65000:201 300,-,-"
out=$("$DRIVE" -m file "$VTY" 65001 sync $B 2>&1)
if [ "$out" = "changes 4" ]; then ok "grow + change RT (vtysh -f mode): 4 changes"; else nok "grow + change RT" "$out"; fi
check "BGP JSON after grow" bgp_vni_is \
	'."200".importRTs == ["65000:201"] and ."200".exportRTs == ["65000:201"] and has("300") and ."100".rd == "203.0.113.1:100"'

# Shrink to one VNI, applied with vtysh -c sequences this time.
C="200,203.0.113.1:200,65000:201"
out=$("$DRIVE" -m args "$VTY" 65001 sync $C 2>&1)
if [ "$out" = "changes 2" ]; then ok "shrink (vtysh -c mode): 2 changes"; else nok "shrink" "$out"; fi
check "BGP JSON after shrink: only 200" bgp_vni_is '(has("100") | not) and (has("300") | not) and has("200")'
check "running-config has no vni 100/300" bash -c "! vtysh --vty_socket $VTY -c 'show running-config bgpd' | grep -Eq '^  vni (100|300)$'"

AFTER=$(operator_conf)
if [ "$BEFORE" = "$AFTER" ]; then ok "operator's underlay config untouched"; else
	nok "operator's underlay config untouched" "$(diff <(echo "$BEFORE") <(echo "$AFTER"))"
fi

out=$("$DRIVE" -m vty "$VTY" 65001 sync "$C" 16777216,-,- 2>&1)
if [ $? = 2 ] && echo "$out" | grep -q "error conflict:.*% \[BGP\] Unknown command: vni 16777216"; then
	ok "FRR's refusal is an error carrying FRR's message (bgpd's vty)"
else
	nok "FRR's refusal is an error (bgpd's vty)" "$out"
fi
out=$("$DRIVE" -m session "$VTY" 65001 sync "$C" 16777216,-,- 2>&1)
if [ $? = 2 ] && echo "$out" | grep -q "error conflict:.*% Unknown command: vni 16777216"; then
	ok "FRR's refusal is an error carrying FRR's message (vtysh session, the default)"
else
	nok "FRR's refusal is an error (vtysh session)" "$out"
fi
out=$("$DRIVE" -m file "$VTY" 65001 sync 200,1.2.3.4.5:1,65000:201 2>&1)
if [ $? = 2 ] && echo "$out" | grep -q "error conflict:.*% Malformed Route Distinguisher"; then
	ok "a refused value is an error even though vtysh exits 0 for it (-f)"
else
	nok "a refused value is an error (-f)" "$out"
fi

out=$("$DRIVE" "$VTY" 65009 sync $C 2>&1)
if [ $? = 2 ] && echo "$out" | grep -q "error conflict: FRR runs router bgp 65001 but the topology says 65009"; then
	ok "ASN mismatch refused"
else
	nok "ASN mismatch refused" "$out"
fi

# A statement of loom's removed by hand is found by the next full read.
V -c 'configure terminal' -c 'router bgp 65001' -c 'address-family l2vpn evpn' -c 'no vni 200' >/dev/null
out=$(drive sync $C 2>&1)
if [ "$out" = "changes 3" ] && bgp_vni_is '."200".importRTs == ["65000:201"]' >/dev/null; then
	ok "VNI removed by hand is re-applied on the next sync"
else
	nok "VNI removed by hand is re-applied" "$out"
fi

# Restart: the watcher records the pids and syncs, bgpd is restarted (its
# config file has none of loom's statements), the watcher must notice and
# re-apply.
coproc WATCH { "$DRIVE" "$VTY" 65001 watch $A 2>"$WORK/watch.err"; }
COPROC_PID=$WATCH_PID
read -r -t 20 line <&"${WATCH[0]}"
"$LAB" -p $P -d "$WORK/lab" restart vt1 bgpd >/dev/null 2>&1
echo go >&"${WATCH[1]}"
read -r -t 30 line2 <&"${WATCH[0]}"
wait "$COPROC_PID" 2>/dev/null
COPROC_PID=
case "$line2" in
"restarted bgpd "*" changes "[1-9]*) ok "bgpd restart detected and statements re-applied ($line -> $line2)" ;;
*) nok "bgpd restart detected" "$line" "$line2" ;;
esac
check "after restart: verified again" drive verify $A

# FRR down: a clear error naming the vty dir.
"$LAB" -p $P -d "$WORK/lab" stop vt1 >/dev/null 2>&1
out=$(drive sync $A 2>&1)
if [ $? = 2 ] && echo "$out" | grep -q "error backend_unavailable: .*$VTY"; then
	ok "FRR down: backend_unavailable with the vty dir"
else
	nok "FRR down: backend_unavailable" "$out"
fi

"$LAB" -p $P -d "$WORK/lab" down >/dev/null 2>&1
left=$(ip netns list | grep -c "^$P-")
if [ "$left" = 0 ] && [ ! -e "$WORK/lab" ] && [ ! -e "$VTY" ]; then ok "lab down removed everything"; else
	nok "lab down removed everything" "$(ip netns list)"
fi
exit 0
