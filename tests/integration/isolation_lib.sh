# tests/integration/isolation_lib.sh: shared by the isolation tests (bash,
# after lib.sh).  Runs tools/isolation-check and compares its findings.
#
#   iso_run       runs the check once (a test whose fabric needs more, such as
#                 ibsim's preload, defines its own before calling expect)
#   check         iso_run; its findings as "kind target object" lines,
#                 sorted and joined with ';', into GOT, its status into CHECK_RC
#   expect WANT DESCRIPTION
#                 one TAP line: the findings are WANT (exit 1), or none (exit 0)
#   iso_two_tenants
#                 on the EVPN lab (lab_evpn_lib.sh, loomd up): acme/eth on h11
#                 h21, globex/eth on h12 h22, converged; one TAP line

CHECK=${CHECK:-$top_builddir/tools/isolation-check}

iso_run() {
	"$CHECK" -c "$LOOM_CONF" --out "$T_DIR/report.json"
}

check() {
	iso_run 2>"$T_DIR/check.err"
	CHECK_RC=$?
	GOT=$(jq -r '.findings[] | "\(.kind) \(.target) \(.object)"' "$T_DIR/report.json" 2>/dev/null |
		sort | paste -sd';')
}

expect() {	# expect "WANT" DESCRIPTION
	check
	t_is "$GOT rc=$CHECK_RC" "$1 rc=$([ -z "$1" ] && echo 0 || echo 1)" "$2"
	[ "$GOT" = "$1" ] || { sed 's/^/#   /' "$T_DIR/check.err"; jq -c '.findings[]' "$T_DIR/report.json" 2>/dev/null | sed 's/^/#   /'; }
}

iso_two_tenants() {
	local rc=0 n
	ctl tenant create acme --site "$P" >/dev/null || rc=1
	ctl tenant create globex --site "$P" >/dev/null || rc=1
	ctl -w 20 segment create acme/eth --type ethernet >/dev/null || rc=1
	ctl -w 20 segment create globex/eth --type ethernet >/dev/null || rc=1
	for n in h11 h21; do ctl -w 20 attach acme/eth $n >/dev/null || rc=1; done
	for n in h12 h22; do ctl -w 20 attach globex/eth $n >/dev/null || rc=1; done
	t_ok $rc "acme/eth on h11 h21, globex/eth on h12 h22; converged"
}
