#!/bin/bash
# tests/integration/isolation_daemon.sh: the isolation check inside loomd,
# against the real lab (lab/loom-lab: 3 VTEP namespaces with zebra and
# bgpd, 6 hosts; the setup of isolation_lab.sh).  loomd programs two
# tenants' segments, then runs on with reconcile = no (so that nothing
# repairs the planted path), isolation.interval = 1 and a signing key:
#   clean: `loomctl verify isolation` exits 0;
#   an operator's veth planted in acme's bridge: the periodic run finds it
#   unasked (an audit record, source periodic), `loomctl verify isolation`
#   reports exactly it (exit 7), `loomctl events` shows it once, and the
#   signed report checks with `openssl dgst -verify`;
#   taken away: clean again, exit 0.
# Needs root, FRR, jq, openssl.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v openssl >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq and openssl"
	exit 0
fi
P=lmx-d$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
. "$top_srcdir/tests/integration/isolation_lib.sh"
trap 't_cleanup; echo "1..$T_N"' EXIT

lab_up
t_ok $? "lab up ($P): 3 VTEPs with FRR, 6 hosts"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }
lab_loomd
t_ok $? "loomd up on the lab (reconcile = yes)"

iso_two_tenants
seg_ids acme/eth
A=${VNI_OF[acme/eth]}
loomd_stop

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T_DIR/key.pem" 2>/dev/null &&
	openssl pkey -in "$T_DIR/key.pem" -pubout -out "$T_DIR/pub.pem" 2>/dev/null
lab_loomd "$LAB_DIR/topology.json" "reconcile = no" "isolation.interval = 1" \
	"isolation.key = $T_DIR/key.pem"
t_ok $? "loomd again, reconcile = no, isolation.interval = 1, isolation.key set"

# verify isolation -o json: its findings as "kind target object" lines,
# joined with ';', into GOT, its exit status into RC.
verify() {
	ctl -o json verify isolation "$@" >"$T_DIR/report.json" 2>"$T_DIR/verify.err"
	RC=$?
	GOT=$(jq -r '.findings[] | "\(.kind) \(.target) \(.object)"' "$T_DIR/report.json" 2>/dev/null |
		sort | paste -sd';')
}
audit_isolation() {	# the isolation.verify audit records, "source n_findings" lines
	ctl -o json audit list --limit 100000 |
		jq -r '.[] | select(.method == "isolation.verify") | "\(.params.source) \(.result.findings | length)"'
}
periodic_found() { audit_isolation | grep -q "^periodic "; }

t0=$(now_ms)
verify
ms=$(( $(now_ms) - t0 ))
t_is "$GOT rc=$RC" " rc=0" "loomctl verify isolation: clean, exit 0 (${ms} ms, loomctl included)"
t_is "$(jq -c .targets "$T_DIR/report.json")" '{"gpus":0,"hca_ports":0,"vteps":3}' \
	"the report counts the three VTEPs loomd read"
ctl verify isolation >"$T_DIR/table.txt"
t_is "$?$(grep -c '^isolation: clean' "$T_DIR/table.txt")" "01" "the table says clean"
sleep 2.5
grep -o 'isolation check (.*' "$T_DIR/loomd.log" | sed 's/^/# loomd: /' | head -3
t_is "$(audit_isolation | wc -l)" 0 "periodic runs on a clean fabric write no audit record"

# ---- planted by hand -------------------------------------------------------
NS1=$(vt_ns 1)
ip -n "$NS1" link add opv0 type veth peer name opv1 && ip -n "$NS1" link set opv0 master "lb$A"
t_ok $? "plant: an operator's veth opv0 in acme's bridge lb$A on vt1"
t_wait 10 periodic_found
t_ok $? "the periodic run found it without being asked (audit record, source periodic)" || tail -20 "$T_DIR/loomd.log" | sed "s/^/#   /"
t_is "$(audit_isolation | paste -sd';')" "periodic 1" "one audit record, with the one finding"
t_is "$(ctl -o json audit list --limit 100000 | jq -r '[.[] | select(.method == "isolation.verify")][0].result.findings[0] | "\(.kind) \(.target) \(.object) \(.tenants | join(","))"')" \
	"foreign_port vt1 opv0 acme" "the audit record names kind, target, object and tenant"

verify
t_is "$GOT rc=$RC" "foreign_port vt1 opv0 rc=7" "loomctl verify isolation: exactly foreign_port vt1 opv0, exit 7"
t_is "$(jq -r '.findings[0] | "\(.tenants | join(",")) \(.evidence | length > 0)"' "$T_DIR/report.json")" \
	"acme true" "the finding names its tenant and evidence"
ctl verify isolation >"$T_DIR/table.txt"
t_is "$? $(grep -c 'opv0' "$T_DIR/table.txt")" "7 1" "the table names it too, exit 7"

timeout 3 "$LOOMCTL" -o json events --since 0 >"$T_DIR/events.json" 2>/dev/null
t_is "$(jq -r 'select(.event == "isolation") | "\(.node) \(.reason)"' "$T_DIR/events.json" | cut -d: -f1)" \
	"vt1 foreign_port opv0 (tenants acme)" "loomctl events: one isolation event on vt1, naming it"
t_is "$(audit_isolation | wc -l)" 1 "asked again, a finding already recorded is not recorded twice"

verify --signed "$T_DIR/signed.json"
t_is "$GOT rc=$RC" "foreign_port vt1 opv0 rc=7" "verify isolation --signed: the same finding"
openssl dgst -sha256 -verify "$T_DIR/pub.pem" -signature "$T_DIR/signed.json.sig" \
	"$T_DIR/signed.json" >/dev/null
t_ok $? "openssl dgst -verify accepts the signed report"
t_is "$(jq -r '[.findings[] | "\(.kind) \(.target) \(.object)"] | join(";")' "$T_DIR/signed.json") $(jq -r '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' "$T_DIR/signed.json")" \
	"foreign_port vt1 opv0 true" "the signed file is the report, with its UTC timestamp"
sed -i 's/"clean": false/"clean": true/' "$T_DIR/signed.json"
! openssl dgst -sha256 -verify "$T_DIR/pub.pem" -signature "$T_DIR/signed.json.sig" \
	"$T_DIR/signed.json" >/dev/null 2>&1
t_ok $? "and refuses it once the report is altered"

ip -n "$NS1" link del opv0
verify
t_is "$GOT rc=$RC" " rc=0" "taken away: clean again, exit 0"

# The fabric is read off the event loop: eight requests at once share at
# most two reads (one may already run when they come), each gets the
# report, and loomd answers other requests meanwhile.
reads0=$(grep -c 'isolation check (request)' "$T_DIR/loomd.log")
pids=""
for i in 1 2 3 4 5 6 7 8; do
	ctl -o json verify isolation >"$T_DIR/many.$i.json" 2>&1 &
	pids="$pids $!"
done
t0=$(now_ms)
ctl tenant list >/dev/null
info_ms=$(( $(now_ms) - t0 ))
rc=0
for p in $pids; do wait "$p" || rc=1; done
clean=$(cat "$T_DIR"/many.*.json | jq -r .clean | grep -c true)
reads=$(( $(grep -c 'isolation check (request)' "$T_DIR/loomd.log") - reads0 ))
t_is "$rc $clean" "0 8" "eight verify isolation at once: each answered with the clean report"
t_ok $([ "$reads" -ge 1 ] && [ "$reads" -le 2 ] && echo 0 || echo 1) \
	"they shared the fabric's reads ($reads for 8 requests; tenant list meanwhile in ${info_ms} ms)"

# ---- refusals --------------------------------------------------------------
loomd_stop
lab_loomd "$LAB_DIR/topology.json" "reconcile = no"
ctl verify isolation --signed "$T_DIR/x.json" 2>"$T_DIR/verify.err"
t_is "$? $(grep -c 'isolation.key' "$T_DIR/verify.err")" "1 1" "--signed without isolation.key: refused, naming the key"
