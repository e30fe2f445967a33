#!/bin/bash
# tests/integration/lab_ib.sh: InfiniBand partitions end to end through
# loomd.  A real ibsim fabric with a real OpenSM (lab/ib-lab, 6 HCAs: hca1
# is where OpenSM and loomd attach, hca2..hca6 are tenants' nodes), loomd
# under the umad2sim preload with its reconciler on, driven with loomctl
# only.  Every claim about a port is read back from the fabric with
# smpquery (infiniband-diags), or, during a move, with pkey_watch (SMPs in
# a tight loop), never taken from loom's own status or the file.
#
# Covers: create / grow / shrink / delete partitions (full and limited
# members), moving a node between tenants (by two commands and by one
# declarative apply), releasing a node (detach, tenant delete --cascade)
# verified on the port when -w returns, the operator's own partition kept
# byte for byte and on its ports, P_Key table capacity (pool_exhausted),
# OpenSM restarted / down / back, the partitions file edited by hand, and
# bad input (P_Key 0x0000 / 0x7fff / 0xffff / 0x8001 / duplicate, a GUID
# that is not in the fabric).  TAP output; needs root, ibsim, opensm.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

. "$top_srcdir/tests/integration/ib_lib.sh"
WATCH=$top_builddir/tests/integration/pkey_watch
ib_skip_unless
ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(ms)
lap() { t_diag "time: $1: $(( $(ms) - LAP )) ms"; LAP=$(ms); }
LAP=$T0

# ---- the fabric, the topology, loomd ---------------------------------------

ib_up lmi-ib 6
GHOST=0x00000000001000f1	# a port GUID no HCA of this fabric has

# The lab's nodes, the site they sit at, and one node whose GUID is not in
# the fabric (an inventory mistake loom must catch).
jq --arg g "$GHOST" '.nodes += [{name: "ghost", site: "lab",
		    hca_ports: [{name: "ibsim0/1", guid: $g, rate_gbps: 10, sm: "ib-lab"}]}]' \
	"$T_DIR/topology.json" >"$T_DIR/t.json" && mv "$T_DIR/t.json" "$T_DIR/topology.json"

# The operator's own partition, outside loom's section, before loomd starts:
# hca4 full, hca5 limited.  P_Key 0x0050 lies outside loom's pool.
printf '%s\n' "ops=0x0050, ipoib : ${GUID[hca4]}=full, ${GUID[hca5]}=limited;  # the operator's own" \
	>>"$IB/partitions.conf"
cp "$IB/partitions.conf" "$T_DIR/operator.conf"
# Make OpenSM program it (it sweeps only when told).
sweep

loomd_config "$T_DIR/topology.json" "reconcile = yes" "resync_interval = 3600" \
	"pkey_range = 0x0100-0x01ff"
ib_loomd
t_ok $? "loomd up under the umad2sim preload, reconcile on"

# has NODE ENTRY: the table carries ENTRY exactly (0x8000 bit = full).
has() { case " $(pk "$1") " in *" $2 "*) return 0 ;; esac; return 1; }
# carries NODE PKEY: the table carries PKEY with either membership.
carries() {
	local t; t=" $(pk "$1") "
	case "$t" in *" $2 "*|*" $(printf '0x%04x' $(( $2 | 0x8000 ))) "*) return 0 ;; esac
	return 1
}

section() { sed -n '/^# BEGIN loom-managed/,/^# END loom-managed/p' "$IB/partitions.conf"; }
outside() { sed '/^# BEGIN loom-managed/,/^# END loom-managed/d' "$IB/partitions.conf"; }
# The operator's lines byte for byte, and their P_Keys on their ports.
ops_intact() {
	cmp -s <(outside) "$T_DIR/operator.conf" &&
		has hca4 0x8050 && has hca5 0x0050 && ! carries hca2 0x0050 && ! carries hca6 0x0050
}
all_programmed() {
	ctl -o json status | jq -e '(.segments | all(.state == "programmed"))
		and (.targets | all(.error == "" and .busy == false))' >/dev/null
}
state_of() {	# state_of TENANT/SEGMENT: its opensm status line as "state reason"
	ctl -o json status "$1" | jq -r '.segments[] | select(.layer == "opensm") | "\(.state) \(.reason)"'
}

t_wait 10 has hca4 0x8050
t_ok $? "the operator's partition is on its ports before loomd does anything (hca4 full)"
lap "setup"

# ---- create, grow, shrink, delete ----------------------------------------------

ctl tenant create acme --isolation strict --site lab >/dev/null &&
	ctl tenant create blue --isolation soft --site lab >/dev/null &&
	ctl segment create acme/ib --type infiniband --pkey 0x0110 --ipoib --membership full >/dev/null &&
	ctl segment create acme/st --type infiniband --pkey 0x0111 --membership limited >/dev/null &&
	ctl segment create blue/ib --type infiniband --pkey 0x0120 --membership limited >/dev/null
t_ok $? "tenants acme (strict) and blue (soft) with three infiniband segments"

ctl -w 20 attach acme/ib hca2 >/dev/null
r=$?
t_is "$r $(pk hca2)" "0 0x8110 0xffff" "create: attach -w returns converged and hca2 carries 0x8110 (full)"
ctl -w 20 attach blue/ib hca4 >/dev/null
r=$?
t_is "$r $(pk hca4)" "0 0x0120 0x8050 0xffff" \
	"create: a limited segment: hca4 carries 0x0120 (no 0x8000 bit) next to the operator's 0x8050"
ctl -w 20 attach acme/ib hca3 --membership limited >/dev/null &&
	ctl -w 20 attach acme/st hca2 >/dev/null
r=$?
t_is "$r $(pk hca3) / $(pk hca2)" "0 0x0110 0xffff / 0x0111 0x8110 0xffff" \
	"grow: hca3 joins acme/ib as a limited member (0x0110), hca2 joins acme/st (limited 0x0111)"
all_programmed
t_ok $? "status: every segment programmed on ib-lab"
section | grep -q "^acme_ib=0x0110, ipoib" && section | grep -q "^blue_ib=0x0120[ ,]"
t_ok $? "loom's section holds acme_ib (ipoib) and blue_ib"
ops_intact
t_ok $? "the operator's lines are byte for byte as written and its P_Keys on hca4/hca5"
lap "create and grow"

# watch_start NODE: pkey_watch reads NODE's table in a loop until stopped.
watch_start() {
	: >"$T_DIR/watch.out"
	( cd "$IB" && exec env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" "$WATCH" \
		--partitions "$IB/partitions.conf" --pid-file "$IB/opensm.pid" \
		--guid "${GUID[$1]}" --max-ms 30000 ) >"$T_DIR/watch.out" 2>"$T_DIR/watch.err" &
	WATCH_PID=$!
	T_PIDS="$T_PIDS $WATCH_PID"
	t_wait 10 grep -q '^ready' "$T_DIR/watch.out"
}
watch_stop() {
	kill -TERM "$WATCH_PID" 2>/dev/null
	wait "$WATCH_PID" 2>/dev/null
	local p rest=""
	for p in $T_PIDS; do [ "$p" = "$WATCH_PID" ] || rest="$rest $p"; done
	T_PIDS=$rest
}
# joined A B: a sample of the watched table carried P_Keys A and B at once.
joined() {
	local a=${1#0x} b=${2#0x}
	grep '^[0-9]' "$T_DIR/watch.out" | grep -Ei "0x[08]${a:1}( |$)" | grep -Eqi "0x[08]${b:1}( |$)"
}

# released PKEY T_RET: the watched port carried PKEY in its first sample and
# was seen without it no later than T_RET (+20 ms for one read in flight).
released() {
	local a=${1#0x} first at
	first=$(grep -m1 '^[0-9]' "$T_DIR/watch.out")
	at=$(grep '^[0-9]' "$T_DIR/watch.out" | grep -Eiv "0x[08]${a:1}( |$)" | head -1 | cut -d' ' -f1)
	LEFT_BEFORE=$(( $2 - ${at:-$2} ))
	echo "$first" | grep -Eqi "0x[08]${a:1}( |$)" && [ -n "$at" ] && [ "$at" -le $(( $2 + 20 )) ]
}

watch_start hca3
ctl -w 20 detach acme/ib hca3 >/dev/null
r=$?
t_ret=$(ms)
t=$(pk hca3)	# read at once: -w must not return before the port is out
watch_stop
t_is "$r $t" "0 0xffff" "shrink: detach -w returns once hca3 no longer carries 0x0110"
released 0x0110 "$t_ret"
t_ok $? "shrink: the watcher saw 0x0110 leave hca3 before detach -w returned ($LEFT_BEFORE ms before)"
t_is "$(pk hca2)" "0x0111 0x8110 0xffff" "shrink: hca2 keeps its entries"

ctl -w 20 segment delete acme/st --cascade >/dev/null
r=$?
t=$(pk hca2)
t_is "$r $t" "0 0x8110 0xffff" "delete: segment delete --cascade -w returns with 0x0111 gone from hca2"
! section | grep -q "0x0111"
t_ok $? "delete: the partition left loom's section"
lap "shrink and delete"

# ---- moving a node between tenants -----------------------------------------------

watch_start hca2
t_ok $? "pkey_watch reads hca2's table from the fabric"
ctl -w 20 detach acme/ib hca2 >/dev/null && ctl -w 20 attach blue/ib hca2 >/dev/null
r=$?
watch_stop
t_is "$r $(pk hca2)" "0 0x0120 0xffff" "move acme -> blue (detach, attach): hca2 ends with blue's 0x0120 only"
samples=$(sed -n 's/^samples \([0-9]*\).*/\1/p' "$T_DIR/watch.out")
! joined 0x0110 0x0120 && [ "${samples:-0}" -gt 10 ] && [ "$(grep -c '^[0-9]' "$T_DIR/watch.out")" -ge 2 ]
t_ok $? "move acme -> blue: in $samples reads during the move hca2 never carried both tenants' P_Keys"
t_diag "hca2's tables during the move: $(grep '^[0-9]' "$T_DIR/watch.out" | tr '\n' '|')"

# The other way in one request: the declarative file names both tenants, so
# the move is one transaction and one write of the partitions file.
cat >"$T_DIR/move.json" <<EOF
{"tenants": [
 {"name": "acme", "isolation": "strict", "sites": ["lab"], "segments": [
   {"name": "ib", "type": "infiniband", "pkey": "0x0110", "ipoib": true, "membership": "full",
    "attachments": [{"node": "hca2"}]}]},
 {"name": "blue", "isolation": "soft", "sites": ["lab"], "segments": [
   {"name": "ib", "type": "infiniband", "pkey": "0x0120", "membership": "limited",
    "attachments": [{"node": "hca4"}]}]}]}
EOF
watch_start hca2
ctl -w 20 apply -f "$T_DIR/move.json" >"$T_DIR/apply.out" 2>&1
r=$?
watch_stop
t_is "$r $(pk hca2)" "0 0x8110 0xffff" "move blue -> acme in one apply -f: hca2 ends with acme's 0x8110 only"
samples=$(sed -n 's/^samples \([0-9]*\).*/\1/p' "$T_DIR/watch.out")
! joined 0x0110 0x0120 && [ "${samples:-0}" -gt 10 ] && [ "$(grep -c '^[0-9]' "$T_DIR/watch.out")" -ge 2 ]
t_ok $? "move in one request: in $samples reads hca2 never carried both tenants' P_Keys"
t_diag "hca2's tables during the move: $(grep '^[0-9]' "$T_DIR/watch.out" | tr '\n' '|')"
ctl diff -f "$T_DIR/move.json" >/dev/null
t_ok $? "diff -f after apply: nothing left to change"
ops_intact
t_ok $? "the operator's partition unchanged after the moves"
lap "moves"

# ---- releasing a node: tenant delete --cascade ---------------------------------

ctl tenant create tmp --site lab >/dev/null && ctl segment create tmp/ib --type infiniband >/dev/null &&
	ctl -w 20 attach tmp/ib hca5 >/dev/null
r=$?
tmp_pkey=$(ctl -o json segment show tmp/ib | jq -r '.pkey')
: "${tmp_pkey:=0}"
t_ok $(( r != 0 || tmp_pkey < 0x100 || tmp_pkey > 0x1ff )) \
	"tenant tmp: a segment with an allocated P_Key ($(printf '0x%04x' "$tmp_pkey")) attached to hca5"
has hca5 "$(printf '0x%04x' $((tmp_pkey | 0x8000)))"
t_ok $? "hca5 carries tmp's P_Key as a full member"
watch_start hca5
ctl -w 20 tenant delete tmp --cascade >/dev/null
r=$?
t_ret=$(ms)
t=$(pk hca5)
watch_stop
t_is "$r $t" "0 0x0050 0xffff" "release: tenant delete --cascade -w returns with tmp's P_Key gone from hca5 (operator's 0x0050 stays)"
released "$(printf '0x%04x' "$tmp_pkey")" "$t_ret"
t_ok $? "release: the watcher saw tmp's P_Key leave hca5 before tenant delete -w returned ($LEFT_BEFORE ms before)"
lap "release"

# ---- P_Key table capacity --------------------------------------------------------

# hca6 carries Default; 63 of loom's partitions fill its 64 entries.
jq -n '{tenants: [{name: "cap", isolation: "soft", sites: ["lab"],
	segments: [range(1; 64) as $i | {name: "p\($i)", type: "infiniband", attachments: [{node: "hca6"}]}]}]}' \
	>"$T_DIR/cap.json"
ctl -w 30 apply -f "$T_DIR/cap.json" >/dev/null
r=$?
n=$(pk hca6 | wc -w)
t_is "$r $n" "0 64" "capacity: 63 partitions on hca6 converged; its table holds 64 entries (Default + 63)"
ctl segment create cap/p64 --type infiniband >/dev/null
before=$(db_state)
sum=$(md5sum <"$IB/partitions.conf")
out=$(ctl -o json attach cap/p64 hca6 2>/dev/null)
r=$?
t_is "$r $(echo "$out" | jq -r '.data.name')" "1 pool_exhausted" "capacity: the 64th attachment is refused with pool_exhausted"
echo "$out" | jq -r .message | grep -q "${GUID[hca6]#0x}" && echo "$out" | jq -r .message | grep -q "64 entries"
t_ok $? "capacity: the error names the port ($(echo "$out" | jq -r .message))"
echo "$out" | jq -r .message | grep -qF "would need 65 P_Key entries (64 for loom's partitions, 1 for others such as Default), but its P_Key table holds 64 entries"
t_ok $? "capacity: the API counts as the subnet-manager target does (every entry: 64 of loom's + Default = 65 > 64)"
t_is "$(db_state) $(md5sum <"$IB/partitions.conf")" "$before $sum" "capacity: nothing stored, the file untouched"
jq '.tenants[0].segments += [{name: "p64", type: "infiniband", attachments: [{node: "hca6"}]}]' \
	"$T_DIR/cap.json" >"$T_DIR/cap65.json"
out=$(ctl -o json apply -f "$T_DIR/cap65.json" 2>/dev/null)
r=$?
t_is "$r $(echo "$out" | jq -r '.data.name') $(db_state)" "1 pool_exhausted $before" \
	"capacity: the same through apply -f is refused as a whole, nothing stored"
lap "capacity"

# A full table (two blocks of 32 entries, which OpenSM sets with two SMPs)
# moved to another tenant in one request: cap keeps its segments, hca6 goes
# to blue/ib.  hca6 carries nothing but Default and cap's P_Keys before, so
# a sample with 0x0120 and more than Default next to it joined two tenants.
jq '.tenants[0].segments |= (map(.attachments = []) + [{name: "p64", type: "infiniband"}]) |
    .tenants += [{name: "blue", isolation: "soft", sites: ["lab"], segments: [
	{name: "ib", type: "infiniband", pkey: "0x0120", membership: "limited",
	 attachments: [{node: "hca4"}, {node: "hca6"}]}]}]' "$T_DIR/cap.json" >"$T_DIR/capmove.json"
watch_start hca6
ctl -w 30 apply -f "$T_DIR/capmove.json" >/dev/null
r=$?
watch_stop
t_is "$r $(pk hca6)" "0 0x0120 0xffff" "move a full table (64 entries) cap -> blue in one apply -f: hca6 ends with 0x0120 only"
samples=$(sed -n 's/^samples \([0-9]*\).*/\1/p' "$T_DIR/watch.out")
joined_full=$(grep '^[0-9]' "$T_DIR/watch.out" | grep -Ei "0x[08]120( |$)" | awk 'NF > 3' | wc -l)
[ "$joined_full" = 0 ] && [ "${samples:-0}" -gt 10 ] && [ "$(grep -c '^[0-9]' "$T_DIR/watch.out")" -ge 2 ]
t_ok $? "move of a full table: in $samples reads hca6 never carried cap's and blue's P_Keys at once"
t_diag "hca6's tables during the move (entry counts): $(grep '^[0-9]' "$T_DIR/watch.out" | awk '{print NF - 1}' | tr '\n' ' ')"
ctl -w 30 tenant delete cap --cascade >/dev/null && ctl -w 20 detach blue/ib hca6 >/dev/null
r=$?
t_is "$r $(pk hca6)" "0 0xffff" "tenant cap deleted and hca6 detached: hca6 back to Default alone"
ops_intact
t_ok $? "the operator's partition unchanged after filling, moving and emptying a table"
lap "full-table move"

# ---- the partitions file edited by hand ------------------------------------------

good_section=$(section)
# Someone demotes hca2 to a limited member in loom's section, and tells OpenSM.
sed -i "s/${GUID[hca2]}=full/${GUID[hca2]}=limited/" "$IB/partitions.conf"
sweep
t0=$(ms)
repaired() { [ "$(section)" = "$good_section" ] && has hca2 0x8110 && ! has hca2 0x0110; }
t_wait 15 repaired
t_ok $? "hand edit: loom rewrote its section and hca2 is a full member again ($(( $(ms) - t0 )) ms)"
grep -q "edited by hand" "$T_DIR/loomd.log"
t_ok $? "hand edit: loomd logged that its section was edited by hand"
ops_intact
t_ok $? "hand edit: the operator's lines untouched by the repair"
lap "hand edit"

# ---- OpenSM restarted, OpenSM down -------------------------------------------------

runs() { ctl -o json status | jq '.targets[] | select(.name == "ib-lab") | .runs'; }
runs0=$(runs)
"$LAB" sm-restart --dir "$IB" >/dev/null 2>&1
t0=$(ms)
restarted_seen() { grep -q "OpenSM restarted" "$T_DIR/loomd.log" && [ "$(runs)" -gt "$runs0" ] && all_programmed; }
t_wait 15 restarted_seen
t_ok $? "OpenSM restarted: loomd noticed, verified again, status programmed ($(( $(ms) - t0 )) ms)"
t_is "$(pk hca2) / $(pk hca4)" "0x8110 0xffff / 0x0120 0x8050 0xffff" "OpenSM restarted: the P_Keys are still right"

"$LAB" sm-stop --dir "$IB" >/dev/null 2>&1
t0=$(ms)
down_seen() { state_of acme/ib | grep -q "^error .*not running"; }
t_wait 10 down_seen
t_ok $? "OpenSM down: status error without any change made ($(( $(ms) - t0 )) ms): $(state_of acme/ib)"
ctl -w 3 attach acme/ib hca3 >/dev/null 2>&1
r=$?
t_is "$r" 6 "OpenSM down: attach -w stores the change but reports not converged (exit 6)"
"$LAB" sm-start --dir "$IB" >/dev/null 2>&1
t0=$(ms)
t_wait 15 all_programmed
t_ok $? "OpenSM back: status programmed again ($(( $(ms) - t0 )) ms)"
t_is "$(pk hca3) / $(pk hca2)" "0x8110 0xffff / 0x8110 0xffff" \
	"OpenSM back: hca3, attached while OpenSM was down, carries 0x8110"
ops_intact
t_ok $? "the operator's partition survived OpenSM's restart and outage"
lap "OpenSM restart and outage"

# ---- bad input ------------------------------------------------------------------------

before=$(db_state)
sum=$(md5sum <"$IB/partitions.conf")
for p in 0x0000 0x7fff 0xffff 0x8001; do
	out=$(ctl -o json segment create blue/bad --type infiniband --pkey "$p" 2>/dev/null)
	r=$?
	t_is "$r $(echo "$out" | jq -r '.data.name') $(echo "$out" | jq -r '.data.field')" "1 out_of_range pkey" \
		"P_Key $p refused: $(echo "$out" | jq -r .message)"
done
out=$(ctl -o json segment create blue/dup --type infiniband --pkey 0x0110 2>/dev/null)
r=$?
t_is "$r $(echo "$out" | jq -r '.data.name')" "1 conflict" "a duplicate P_Key refused: $(echo "$out" | jq -r .message)"
out=$(ctl -o json segment create blue/op --type infiniband --pkey 0x0050 2>/dev/null)
r=$?
t_is "$r $(echo "$out" | jq -r '.data.name')" "1 out_of_range" "the operator's P_Key (outside loom's pool) refused"
t_is "$(db_state) $(md5sum <"$IB/partitions.conf")" "$before $sum" "bad P_Keys: nothing stored, the file untouched"

tables=$(for n in hca2 hca3 hca4 hca5 hca6; do pk $n; echo; done)
ctl -w 5 attach blue/ib ghost >/dev/null 2>&1
r=$?
t_is "$r" 6 "unknown GUID: attach -w is stored but does not converge (exit 6)"
st=$(state_of blue/ib)
case "$st" in error*"${GHOST#0x}"*"not in the fabric"*) r=0 ;; *) r=1 ;; esac
t_ok $r "unknown GUID: status is error naming the GUID: $st"
t_is "$(md5sum <"$IB/partitions.conf")" "$sum" "unknown GUID: the partitions file was not written (not half-written)"
t_is "$(for n in hca2 hca3 hca4 hca5 hca6; do pk $n; echo; done)" "$tables" "unknown GUID: no port's table changed"
# One bad member must not hold back the other partitions of this OpenSM.
# (-w still exits 6: the target it reaches reports blue/ib's error with it.)
ctl segment create blue/side --type infiniband >/dev/null && ctl -w 20 attach blue/side hca4 >/dev/null 2>&1
side=$(ctl -o json segment show blue/side | jq -r '.pkey')
case "$(state_of blue/side) $(pk hca4)" in
programmed*"$(printf '0x%04x' $((side | 0x8000)))"*) r=0 ;; *) r=1 ;; esac
t_ok $r "unknown GUID in blue/ib: another partition on the same OpenSM is programmed and on its port ($(state_of blue/side))"
ctl -w 20 detach blue/ib ghost >/dev/null
r=$?
all_programmed
t_ok $(( r || $? )) "unknown GUID: detaching it converges, every segment programmed again"
lap "bad input"

# ---- everything removed -------------------------------------------------------------

ctl -w 20 tenant delete acme --cascade >/dev/null && ctl -w 20 tenant delete blue --cascade >/dev/null
r=$?
t_is "$r $(pk hca2) / $(pk hca3) / $(pk hca4)" "0 0xffff / 0xffff / 0x8050 0xffff" \
	"all tenants deleted: only Default and the operator's partition left on the ports"
[ "$(section | grep -vc '^#')" = 0 ]
t_ok $? "loom's section is empty"
ops_intact
t_ok $? "the operator's partition survived every change, byte for byte and on its ports"
lap "teardown"
t_diag "time: total $(( $(ms) - T0 )) ms"

t_plan "$T_N"
t_done
