#!/bin/bash
# tests/integration/lab_ib_contain.sh: one tenant's problem on a subnet
# manager never stalls another tenant.  A real ibsim fabric with a real
# OpenSM (lab/ib-lab, 4 HCAs, PartitionCap 64), loomd under the umad2sim
# preload with its reconciler on, driven with loomctl; P_Key tables are read
# back from the fabric with smpquery.
#
# Covers: a burst of attachments without -w (many clients at once) against
# a port near capacity accepts exactly the ones that fit, and the refusal
# leaves the database byte-identical; then, with a port over capacity
# (forced by hand in the database), an operator's line taking a P_Key loom
# already uses and a member GUID the fabric does not have all present at
# once, each concerned segment alone is in error with its reason, the port
# over capacity keeps the P_Keys it carries, and another tenant's attach
# converges with -w.  TAP output; needs root, ibsim, opensm, sqlite3.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/ib_lib.sh"
ib_skip_unless sqlite3
db_bytes() { cat "$LOOM_DB" "$LOOM_DB-wal" 2>/dev/null | sha256sum | cut -d' ' -f1; }

t_plan 17
ib_up lco-ib 4 || exit 1
GHOST=0x00000000001000f1	# a port GUID no HCA of this fabric has
jq --arg g "$GHOST" '.nodes += [{name: "ghost", site: "lab",
		    hca_ports: [{name: "ibsim0/1", guid: $g, rate_gbps: 10, sm: "ib-lab"}]}]' \
	"$T_DIR/topology.json" >"$T_DIR/t.json" && mv "$T_DIR/t.json" "$T_DIR/topology.json"

pk_count_is() { [ "$(pk "$1" | wc -w)" = "$2" ]; }
hexkey() { ctl -o json segment show "$1" | jq -r .pkey | xargs printf '0x%04x'; }
state_of() {	# state_of TENANT/SEGMENT: its opensm status as "state reason"
	ctl -o json status "$1" | jq -r '.segments[] | select(.layer == "opensm") | "\(.state) \(.reason)"'
}

loomd_config "$T_DIR/topology.json" "reconcile = yes" "resync_interval = 3600" \
	"pkey_range = 0x0100-0x01ff"
ib_loomd
t_ok $? "loomd up under the umad2sim preload, reconcile on"

# ---- a burst against a port near capacity -----------------------------------

# hca2 carries Default and p0: 62 of the next 63 fit its 64 entries.
jq -n '{tenants: [{name: "cap", isolation: "soft", sites: ["lab"],
	segments: [range(0; 64) as $i | {name: "p\($i)", type: "infiniband"}]}]}' >"$T_DIR/cap.json"
ctl -w 30 apply -f "$T_DIR/cap.json" >/dev/null && ctl -w 20 attach cap/p0 hca2 >/dev/null
t_is "$? $(pk hca2 | wc -w)" "0 2" "hca2 carries Default and cap/p0"
burst=""
for i in $(seq 1 63); do
	( ctl -o json attach "cap/p$i" hca2 >"$T_DIR/burst.$i" 2>/dev/null; echo $? >"$T_DIR/burst.$i.rc" ) &
	burst="$burst $!"
done
# shellcheck disable=SC2086  # one PID each
wait $burst
ok=0 refused=0 other=0
for i in $(seq 1 63); do
	case "$(cat "$T_DIR/burst.$i.rc") $(jq -r '.data.name // "ok"' "$T_DIR/burst.$i" 2>/dev/null)" in
	"0 ok") ok=$((ok + 1)) ;;
	"1 pool_exhausted") refused=$((refused + 1)); LOST=$i ;;
	*) other=$((other + 1)) ;;
	esac
done
t_is "$ok $refused $other" "62 1 0" "63 attachments at once without -w: exactly the 62 that fit accepted, one pool_exhausted"
grep -hF "would need 65 P_Key entries (64 for loom's partitions, 1 for others such as Default)" \
	"$T_DIR/burst.$LOST" >/dev/null
t_ok $? "the refusal counts what was accepted but not yet verified ($(jq -r .message "$T_DIR/burst.$LOST"))"
t_wait 60 pk_count_is hca2 64
t_ok $? "the 62 converge: hca2 holds 64 entries (Default + 63 of loom's)"
before=$(db_bytes)
out=$(ctl -o json attach "cap/p$LOST" hca2 2>/dev/null)
t_is "$? $(echo "$out" | jq -r .data.name) $(db_bytes)" "1 pool_exhausted $before" \
	"attaching the last one again: refused, the database byte-identical"

ctl tenant create blue --site lab >/dev/null && ctl segment create blue/ib --type infiniband >/dev/null
ctl -w 20 attach blue/ib hca3 >/dev/null
t_is "$? $(pk hca3)" "0 $(printf '0x%04x' $((0x8000 | $(hexkey blue/ib)))) 0xffff" \
	"another tenant's attach -w on hca3 converges"

# ---- three problems at once: over capacity, an operator's P_Key, an unknown GUID ----

# An unknown member: its partition's other member is programmed.
ctl segment create blue/gh --type infiniband >/dev/null
ctl attach blue/gh ghost >/dev/null && ctl attach blue/gh hca3 >/dev/null
gh=$(printf '0x%04x' $((0x8000 | $(hexkey blue/gh))))
carries() { pk "$1" | grep -qw "$2"; }
t_wait 20 carries hca3 "$gh"
t_ok $? "blue/gh: hca3 carries $gh although ghost is not in the fabric"

# The operator takes blue/ib's P_Key in a line of its own, outside loom's section.
printf '%s\n' "taken=$(hexkey blue/ib) : ${GUID[hca4]}=limited;  # the operator's own" >>"$IB/partitions.conf"
sweep
# Over capacity by hand: the refused attachment put straight into the database.
loomd_stop
sqlite3 "$LOOM_DB" "INSERT INTO attachments (tenant, segment, node, port, membership)
	VALUES ('cap', 'p$LOST', 'hca2', '', 'default');"
ib_loomd
t_ok $? "loomd restarted with cap/p$LOST attached to hca2 by hand (65 entries needed)"

ctl tenant create green --site lab >/dev/null && ctl segment create green/ib --type infiniband >/dev/null
ctl -w 30 attach green/ib hca4 >/dev/null
r=$?
green=$(printf '0x%04x' $((0x8000 | $(hexkey green/ib))))
carries hca4 "$green"
t_is "$r $?" "0 0" "with all three present, another tenant's attach -w converges ($green on hca4)"
in_error() { [ "$(state_of "$1" | cut -d' ' -f1)" = error ]; }
t_wait 30 in_error "cap/p$LOST"
t_ok $? "cap/p$LOST (over capacity) is in error"
state_of "cap/p$LOST" | grep -qF "would need 65 P_Key entries"
t_ok $? "... with the capacity reason ($(state_of "cap/p$LOST" | cut -c1-120))"
t_is "$(pk hca2 | wc -w)" "64" "hca2 keeps the 64 entries it carried"
state_of blue/ib | grep -q "^error .*operator's partition 'taken'"
t_ok $? "blue/ib (its P_Key taken by the operator) is in error naming the operator's partition"
state_of blue/gh | grep -q "^error .*$(echo "${GHOST#0x}" | sed 's/^0*//').*not in the fabric"
t_ok $? "blue/gh is in error naming the unknown GUID ($(state_of blue/gh | cut -c1-100))"
n_ok=$(ctl -o json status | jq '[.segments[] | select(.layer == "opensm" and .state == "programmed" and (.segment | startswith("cap/")))] | length')
t_is "$n_ok" "63" "cap's 63 other partitions stay programmed"
t_done
