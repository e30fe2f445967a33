#!/bin/bash
# tests/integration/lab_replace.sh: a failed node replaced, for real, on
# both fabrics (the replacement's lab test).  The EVPN lab (lab/loom-lab: 3 VTEPs
# with FRR, 2 hosts each) and the InfiniBand lab (lab/ib-lab: ibsim +
# OpenSM, one HCA per host) under one topology, loomd driving every VTEP and
# the subnet manager (reconcile = yes, under the umad2sim preload), with
# fault.critical = replace.
#
# Tenant acme on h11 h21 h31 (an Ethernet segment and an InfiniBand
# partition).  A critical fault on h21: loomd cordons it, detaches it, waits
# until every target verified it out, fails it, picks h22 (the spare on the
# same VTEP and subnet manager), attaches it and waits until it is verified
# in.  Checked from outside loom: h21's host no longer reaches acme and its
# HCA port no longer carries acme's P_Key (read from the fabric with
# smpquery); h22's host reaches acme's hosts and its port carries the
# P_Key; h11 and h31 kept reaching each other all along (a ping running in
# the background through the whole replacement).  Then loomd is killed
# (SIGKILL) in the middle of a second replacement, h31 by h32, right after
# h31 was verified out and before h32 was assigned; the restarted loomd
# finishes it.  Last, OpenSM stopped during a third replacement (h11 by
# h12): it waits at verify-removed, h12 gets nothing and is reserved, and it
# ends once OpenSM is back.
set -u
. "$(dirname "$0")/lib.sh"
ELAB=$top_srcdir/lab/loom-lab
IBLAB=$top_srcdir/lab/ib-lab
SIM_SO=${LOOM_UMAD2SIM:-/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so}
P=lrp-l$(printf %03x $(($$ % 4096)))
IB=/tmp/lrp-ib-$$

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v jq >/dev/null ||
	! command -v ibsim >/dev/null || ! command -v opensm >/dev/null ||
	! command -v smpquery >/dev/null || [ ! -f "$SIM_SO" ]; then
	echo "1..0 # SKIP needs root, FRR, jq, ibsim, opensm, infiniband-diags and umad2sim"
	exit 0
fi
labs_down() {
	"$IBLAB" down --dir "$IB" >/dev/null 2>&1
	"$ELAB" -p "$P" -d "$T_DIR/lab" down >/dev/null 2>&1
}
t_cleanup_add labs_down
ctl() { "$LOOMCTL" "$@"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

pings() { # FROM TO-ADDRESS: poll until one ping answers (10 s)
	for _ in $(seq 1 20); do
		ip netns exec "$P-$1" ping -c1 -W0.5 -q "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}
never_pings() { ! ip netns exec "$P-$1" ping -c3 -i0.2 -W0.5 -q "$2" >/dev/null 2>&1; }

# loomd under ibsim's preload (it speaks umad to the fabric), reconcile on.
# Extra arguments are environment assignments for it.
loomd_lab_start() {
	( cd "$IB" && . "$IB/env" && exec env "$@" "$LOOMD" -f -c "$LOOM_CONF" ) 2>>"$T_DIR/loomd.log" &
	LOOMD_PID=$!
	T_PIDS="$T_PIDS $LOOMD_PID"
	t_wait 10 ctl info
}

t_plan 36
out=$("$ELAB" -p "$P" -d "$T_DIR/lab" up 2>&1)
t_ok $? "EVPN lab up ($P: 3 VTEPs with FRR, 6 hosts)" || { echo "$out" | sed 's/^/#   /'; exit 1; }
out=$("$IBLAB" up --dir "$IB" --hcas 7 2>&1)
t_ok $? "InfiniBand lab up (ibsim, OpenSM, 7 HCAs)" || { echo "$out" | sed 's/^/#   /'; exit 1; }
SOCK=$(sed -n 's/^export IBSIM_SOCKNAME=//p' "$IB/env")

# One topology: each host gets an HCA (hca1 is where OpenSM and loomd attach).
jq -s --arg site "$P" '.[0] as $e | .[1] as $ib |
	$e + {subnet_managers: [$ib.subnet_managers[] | .site = $site],
	      nodes: [$e.nodes | to_entries[] | .value + {hca_ports: $ib.nodes[.key + 1].hca_ports}]}' \
	"$T_DIR/lab/topology.json" "$IB/topology.json" >"$T_DIR/topology.json"
declare -A LID
while read -r name lid; do LID[$name]=$lid; done < <(jq -r '.nodes[] | "\(.name) \(.hca_ports[0].lid)"' "$T_DIR/topology.json")

# A port's P_Key table as the fabric reports it (smpquery by LID): the non-zero entries.
pk() {
	(cd "$IB" && env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" smpquery pkeys "${LID[$1]}" 1 2>/dev/null) |
		tr ' ' '\n' | grep '^0x' | grep -v '^0x0000$' | sort | tr '\n' ' ' | sed 's/ $//'
}
carries() { case " $(pk "$1") " in *" $2 "*) return 0 ;; esac; return 1; }

loomd_config "$T_DIR/topology.json" "vni_range = 10100-10199" "pkey_range = 0x0100-0x01ff" \
	"reconcile = yes" "fault.critical = replace"
loomd_lab_start
t_ok $? "loomd drives the three VTEPs and OpenSM (fault.critical = replace)"

ctl tenant create acme --isolation strict --site "$P" >/dev/null &&
	ctl segment create acme/train --type ethernet --mtu 1500 --subnet 192.0.2.0/24 >/dev/null &&
	ctl segment create acme/ib --type infiniband --pkey 0x0130 --membership full >/dev/null &&
	for h in h11 h21 h31; do ctl -w 30 attach acme/train $h >/dev/null && ctl -w 30 attach acme/ib $h >/dev/null || exit 1; done
t_ok $? "acme/train and acme/ib (P_Key 0x0130) on h11 h21 h31, converged"
pings h21 192.0.2.11 && pings h11 192.0.2.31 && carries h21 0x8130 && ! carries h22 0x8130
t_ok $? "before: h21 reaches h11, h11 reaches h31; h21's HCA carries 0x8130, the spare h22's does not"

# ---- a critical fault: replaced from the pool ---------------------------------
ip netns exec "$P-h11" ping -i 0.1 -W 1 192.0.2.31 >"$T_DIR/bgping" 2>&1 &
BGPING=$!
T_PIDS="$T_PIDS $BGPING"
pings h11 192.0.2.31 >/dev/null
t0=$(ms)
out=$(ctl -o json -w 90 node fault h21 --component gpu --severity critical --text "XID 79: GPU fell off the bus")
r=$?
t1=$(ms)
kill -INT "$BGPING"
wait "$BGPING" 2>/dev/null
t_is "$r:$(echo "$out" | jq -r '.decision.action + " " + .replacement.new + " " + .replacement.state')" "0:replace h22 done" \
	"node fault -w (critical): replaced by h22, the compatible spare, in $(( t1 - t0 )) ms"
t_diag "steps: $(echo "$out" | jq -r '[.replacement.steps[] | "\(.step) \(.kind) \(.ms|floor) ms"] | join("; ")')"
tx=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$T_DIR/bgping")
read -r sent got <<<"${tx:-0 -1}"
t_ok $(( sent < 2 || sent != got )) "during the replacement h11 kept reaching h31: $got of $sent pings answered"
t_is "$(ctl -o json node show h21 | jq -r '.state + " " + (.attachments|length|tostring)')" "failed 0" \
	"h21 is failed and holds no attachment"
never_pings h21 192.0.2.11
t_ok $? "h21's host can no longer reach acme (h11)"
! carries h21 0x8130 && ! carries h21 0x0130
t_ok $? "h21's HCA port no longer carries acme's P_Key (fabric: $(pk h21))"
t_is "$(ctl -o json node show h22 | jq -c '[.state, ([.attachments[].segment] | sort)]')" '["assigned",["acme/ib","acme/train"]]' \
	"h22 is assigned, in acme/train and acme/ib"
carries h22 0x8130
t_ok $? "h22's HCA port carries acme's P_Key as a full member (fabric: $(pk h22))"
pings h22 192.0.2.11 && pings h22 192.0.2.31 && pings h11 192.0.2.22
t_ok $? "acme's hosts reach the replacement h22 (and it reaches them)"
never_pings h22 192.0.2.12
t_ok $? "h22 does not reach h12 (a spare in no tenant)"
t_is "$(ctl -o json node history h21 | jq -r '[.[].event] | join(",")')" "assign,fault,cordon,fail,confirm" \
	"h21's history: the fault, cordon, fail, and the removal confirmed by the targets"
t_is "$(ctl -o json replace show h22 | jq -r '[.steps[] | .kind + ":" + .state] | join(",")')" \
	"cordon-old:done,detach:done,detach:done,verify-removed:done,assign-new:done,attach:done,attach:done,verify-attached:done" \
	"replace show h22: every step done, in order"
ctl -o json replace show h22 | jq -e '[.steps[] | select(.kind == "verify-removed")][0].done_ns <=
	([.steps[] | select(.kind == "assign-new")][0].started_ns)' >/dev/null
t_ok $? "h22 was assigned only after every target had verified h21 out"

# ---- killed in the middle, resumed ---------------------------------------------
loomd_stop
loomd_lab_start LOOMD_CRASH_AFTER_REPLACE_STEP=4
t_ok $? "loomd restarted with a crash point after step 4 (verify-removed)"
ctl node replace h31 >/dev/null 2>&1
t_wait 60 sh -c "! kill -0 $LOOMD_PID"
t_ok $? "node replace h31: loomd killed itself after h31 was verified out"
loomd_stop
rec=$(sqlite3 "$LOOM_DB" "SELECT value FROM kv WHERE key = 'replace.h31'")
t_is "$(echo "$rec" | jq -r '.new + " " + .state + " " + (.done_steps|tostring)')" "h32 running 4" \
	"the store: replacing h31 by h32, running, 4 steps done"
never_pings h31 192.0.2.11 && ! carries h31 0x8130 && ! carries h32 0x8130 && never_pings h32 192.0.2.11
t_ok $? "while loomd is down: h31 is out of acme on both fabrics and h32 not yet in"
loomd_lab_start
t_ok $? "loomd started again"
t_wait 60 sh -c "$LOOMCTL -o json replace show h31 | jq -e '.state == \"done\"'"
t_ok $? "the restarted loomd resumed the replacement and finished it"
t_is "$(ctl -o json node show h31 | jq -r .state):$(ctl -o json node show h32 | jq -r .state)" "failed:assigned" \
	"h31 failed, h32 assigned"
carries h32 0x8130 && pings h32 192.0.2.11 && pings h22 192.0.2.32
t_ok $? "h32 carries acme's P_Key and reaches acme's hosts"
pings h11 192.0.2.22
t_ok $? "h11 and h22 still reach each other"
grep -q "replacement of h31 by h32: resuming after step 4 of 8" "$T_DIR/loomd.log"
t_ok $? "loomd logged where it resumed"

# ---- OpenSM down during a replacement: it waits, NEW gets nothing ------------
"$IBLAB" sm-stop --dir "$IB" >/dev/null 2>&1
msg=$(ctl -w 3 node replace h11 h12 2>&1 >/dev/null)
t_is "$?" "6" "OpenSM down: node replace -w 3 h11 h12 stores the plan but does not end in time (exit 6)"
t_diag "loomctl said: $(echo "$msg" | tr '\n' '|')"
echo "$msg" | grep -q "the replacement of h11 by h12 is running after 3 s, at: wait until every target verified h11 out"
t_ok $? "loomctl says where the replacement stands and why (the subnet manager's error)"
t_is "$(ctl -o json replace show h11 | jq -r '.state + " " + ([.steps[] | select(.state == "running")][0].kind)')" \
	"running verify-removed" "the replacement waits at verify-removed (the subnet manager cannot verify h11 out)"
t_is "$(ctl -o json node show h12 | jq -r '.state + " " + (.attachments|length|tostring)')" "available 0" \
	"h12 got nothing while h11 is not verified out"
never_pings h11 192.0.2.31
t_ok $? "h11's host is already cut off from acme on Ethernet"
out=$(ctl -o json attach acme/train h12 2>/dev/null)
t_ok "$(echo "$out" | jq -r .message | grep -q "node h12 is reserved: it replaces h11"; echo $?)" \
	"attaching the reserved h12 by hand is refused ($(echo "$out" | jq -r .message))"
out=$(ctl -o json node replace h11 2>/dev/null)
t_ok "$(echo "$out" | jq -r .message | grep -q "a replacement of h11 (by h12) is running already"; echo $?)" \
	"a second replacement of h11 is refused ($(echo "$out" | jq -r .message))"
"$IBLAB" sm-start --dir "$IB" >/dev/null 2>&1
t_wait 60 sh -c "$LOOMCTL -o json replace show h11 | jq -e '.state == \"done\"'"
t_ok $? "OpenSM back: the replacement goes on and ends done"
! carries h11 0x8130 && carries h12 0x8130 && pings h12 192.0.2.22 && pings h32 192.0.2.12
t_ok $? "h11's P_Key gone, h12 carries it and reaches acme's hosts"

t_done
