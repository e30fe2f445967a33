#!/bin/bash
# tests/integration/loomctl_cli.sh: loomctl for people, through a real
# loomd: help for both programs, an option refused by a command that does
# not take it, -o json that parses, the bash completion (commands and
# options from loomctl's table, names from loomd), and watch status
# drawing the status table again as it changes.
#
# The topology keeps the east nodes' HCA ports only, on one subnet
# manager whose umad CA does not exist: with reconcile = yes that target
# reports an error row for each partition, so the status table changes as
# segments come and go, and nothing outside the test's folder is touched.
set -u
. "$(dirname "$0")/lib.sh"

if ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs jq"
	exit 0
fi
t_plan 47

jq --arg d "$T_DIR" '
	.vteps = [] |
	.sites = [.sites[] | select(.name == "east")] |
	.racks = [.racks[] | select(.site == "east")] |
	.subnet_managers = [{ name: "sm-east", site: "east", umad_ca: "loomtest-none",
			      partitions_file: ($d + "/partitions.conf"), pid_file: ($d + "/opensm.pid") }] |
	.nodes = [.nodes[] | select(.site == "east") | del(.gpus) | .nic_ports = [] |
		  .hca_ports = [.hca_ports[] | .sm = "sm-east"]]
' "$top_srcdir/tests/integration/data/topo-api.json" >"$T_DIR/topo.json"
loomd_config "$T_DIR/topo.json" "reconcile = yes"
loomd_start || { echo "Bail out! loomd did not start"; exit 1; }

# ---- help ----------------------------------------------------------------

out=$("$LOOMCTL" --help 2>"$T_DIR/err"); rc=$?
t_is "$rc:$(head -c 14 <<<"$out"):$(cat "$T_DIR/err")" "0:usage: loomctl:" "loomctl --help prints the usage, no complaint"
t_ok "$(grep -q '^  watch status' <<<"$out"; echo $?)" "  ...listing every command (watch status among them)"
out=$("$LOOMCTL" help tenant create); rc=$?
t_is "$rc:$(grep -c -e '--isolation soft|strict|private' <<<"$out")" "0:2" \
	"loomctl help tenant create: the synopsis and each option"
t_is "$("$LOOMCTL" tenant create --help)" "$out" "tenant create --help says the same"
t_is "$("$LOOMCTL" help node | grep -c '^  node ')" "12" "help node lists the twelve node commands"
"$LOOMCTL" help frobnicate >/dev/null 2>&1
t_is "$?" "2" "help of an unknown command exits 2"
out=$("$LOOMD" --help 2>"$T_DIR/err"); rc=$?
t_is "$rc:$(head -c 12 <<<"$out"):$(cat "$T_DIR/err")" "0:usage: loomd:" "loomd --help prints the usage, no complaint"
t_is "$("$LOOMD" --version)" "$("$LOOMD" -V)" "loomd --version is -V"

# ---- options per command --------------------------------------------------

before=$("$LOOMCTL" -o json audit list | jq length)
err=$("$LOOMCTL" tenant list --cascade 2>&1 >/dev/null); rc=$?
t_is "$rc" "2" "tenant list --cascade: a usage error"
t_ok "$(grep -q "tenant list: option '--cascade' is not taken" <<<"$err"; echo $?)" \
	"  ...naming the option and the command" || t_diag "$err"
err=$("$LOOMCTL" tenant create acme --cascade 2>&1 >/dev/null); rc=$?
t_ok "$([ "$rc" = 2 ] && grep -q "it takes --isolation, --site, --label" <<<"$err"; echo $?)" \
	"tenant create --cascade is refused, saying what tenant create takes" || t_diag "$err"
err=$("$LOOMCTL" gpu show --dry-run 2>&1 >/dev/null); rc=$?
t_ok "$([ "$rc" = 2 ] && grep -q "gpu show: option '--dry-run'" <<<"$err"; echo $?)" \
	"gpu show --dry-run is refused (only gpu compact takes it)" || t_diag "$err"
err=$("$LOOMCTL" tenant create acme --colour red 2>&1 >/dev/null); rc=$?
t_ok "$([ "$rc" = 2 ] && grep -q "unknown option '--colour'" <<<"$err"; echo $?)" "an unknown option is named as such"
"$LOOMCTL" status acme/x extra >/dev/null 2>&1
t_is "$?" "2" "status with one argument too many is a usage error"
t_is "$("$LOOMCTL" -o json audit list | jq length)" "$before" "  ...and none of them reached loomd"

"$LOOMCTL" tenant create acme --isolation strict --site east --label team=ml >/dev/null &&
	"$LOOMCTL" tenant create beta >/dev/null
t_ok $? "options before and after the arguments still work (tenant create acme --isolation ...)"
t_is "$("$LOOMCTL" -o json tenant show acme | jq -c '[.isolation, .sites, .labels.team]')" '["strict",["east"],"ml"]' \
	"  ...and reach loomd as parameters"
t_is "$("$LOOMCTL" -o json node list --site east | jq -r 'map(.site) | unique | join(",")')" "east" \
	"node list --site sends the site node.list takes"

# ---- -o json -----------------------------------------------------------------

bad=""
for c in "tenant list" "tenant show acme" "segment list" "node list" "node show gpu-e1" "node history gpu-e1" \
	"audit list" "audit verify" "status" "info" "topology show" "desired show" "replace list" "gpu show" \
	"help" "help tenant" "watch status --count 1"; do
	# shellcheck disable=SC2086
	"$LOOMCTL" -o json $c | jq -e . >/dev/null 2>&1 || bad="$bad [$c]"
done
t_is "$bad" "" "-o json: every read command's output parses with jq"
t_is "$("$LOOMCTL" -o json -V | jq -r .version)" "$("$LOOMCTL" -V | cut -d' ' -f2)" "-o json -V: the version as JSON"
t_is "$("$LOOMCTL" -o json help | jq -r '.[] | select(.command == "node fault") | [.options[].name] | join(" ")')" \
	"--component --severity --text --port" "-o json help: the command table, each command's options"
out=$("$LOOMCTL" -o json events --node nope 2>/dev/null); rc=$?
t_is "$rc:$(jq -r .code <<<"$out" 2>/dev/null)" "1:1001" "-o json events: a refusal is JSON on stdout too"

# ---- bash completion ---------------------------------------------------------

# shellcheck source=/dev/null
. "$top_srcdir/etc/bash-completion/loomctl"
comp() {	# comp WORD... : the candidates for the last word, space-separated
	COMP_WORDS=("$LOOMCTL" "$@")
	COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
	COMPREPLY=()
	_loomctl
	echo "${COMPREPLY[*]}"
}
t_is "$(complete -p loomctl)" "complete -F _loomctl loomctl" "the completion file registers _loomctl for loomctl"
t_ok "$(comp "" | tr ' ' '\n' | grep -qx watch && ! comp "" | tr ' ' '\n' | grep -qx complete; echo $?)" \
	"commands: every one (watch too), the hidden complete not"
t_is "$(comp t)" "tenant topology" "commands by prefix"
t_is "$(comp tenant "")" "create update list show delete" "tenant's subcommands"
t_is "$(comp tenant show "")" "acme beta" "tenant names, asked from loomd"
"$LOOMCTL" segment create acme/ib --type infiniband >/dev/null && "$LOOMCTL" segment create beta/ib2 --type infiniband >/dev/null
t_is "$(comp segment show "")" "acme/ib beta/ib2" "segment names as TENANT/SEGMENT"
t_is "$(comp segment show b)" "beta/ib2" "  ...by prefix"
t_is "$(comp attach acme/ib gpu-e)" "gpu-e1 gpu-e2 gpu-e3 gpu-e4" "node names for attach's second argument"
t_is "$(comp tenant create x --)" "--isolation --site --label" "tenant create's options, and only those"
t_is "$(comp tenant create x --isolation "")" "soft strict private" "an option's choices"
t_is "$(comp tenant create x --site "")" "east" "site names for --site, from loomd's topology"
t_is "$(comp node list --site east "")" "" "node list --site given: nothing more to offer"
t_is "$(comp node fault gpu-e1 --component gpu --s)" "--severity" "options already given are not offered again"
t_is "$(comp help tenant "")" "create update list show delete" "help completes commands too"
touch "$T_DIR/intent-a.json"
t_is "$(cd "$T_DIR" && comp apply -f intent-)" "intent-a.json" "apply -f completes file names"
t_is "$(env -u LOOM_SOCKET bash -c ". '$top_srcdir/etc/bash-completion/loomctl'
	COMP_WORDS=('$LOOMCTL' -s '$LOOM_SOCKET' tenant show a); COMP_CWORD=5; _loomctl; echo \"\${COMPREPLY[*]}\"")" \
	"acme" "-s SOCKET on the line: names are asked there"
t_is "$(LOOM_SOCKET=$T_DIR/nope.sock comp tenant show "")" "" "loomd unreachable: no names, no noise"

# ---- watch status --------------------------------------------------------------

n_tables() { grep -c '^SEGMENT  *TARGET' "$T_DIR/watch.out"; }
"$LOOMCTL" attach acme/ib gpu-e1 >/dev/null
# Once the target has reported on acme/ib, the table stays as it is until something changes.
t_wait 10 sh -c "'$LOOMCTL' status | grep -q '^acme/ib .* error '"
"$LOOMCTL" watch status --interval 0.1 >"$T_DIR/watch.out" 2>"$T_DIR/watch.err" &
W_PID=$!
T_PIDS="$T_PIDS $W_PID"
t_wait 10 sh -c "[ \$(grep -c '^SEGMENT  *TARGET' '$T_DIR/watch.out') -ge 1 ]"
first=$(n_tables)
sleep 0.5
t_is "$(n_tables)" "$first" "watch status: no redraw while nothing changes"
"$LOOMCTL" segment create acme/ib3 --type infiniband >/dev/null && "$LOOMCTL" attach acme/ib3 gpu-e2 >/dev/null
t_wait 10 sh -c "grep -q '^acme/ib3 ' '$T_DIR/watch.out'"
t_ok $? "a new segment's row shows up in a new drawing" || sed 's/^/#   /' "$T_DIR/watch.out" "$T_DIR/watch.err"
"$LOOMCTL" segment delete acme/ib3 --cascade >/dev/null
t_wait 10 sh -c "tail -n +\$(grep -n '^SEGMENT' '$T_DIR/watch.out' | tail -1 | cut -d: -f1) '$T_DIR/watch.out' |
	grep -q '^acme/ib ' && ! tail -n +\$(grep -n '^SEGMENT' '$T_DIR/watch.out' | tail -1 | cut -d: -f1) \
	'$T_DIR/watch.out' | grep -q '^acme/ib3 '"
t_ok $? "the deleted segment is gone from the latest drawing"
kill "$W_PID"; wait "$W_PID" 2>/dev/null
t_ok "$(! grep -q $'\033' "$T_DIR/watch.out"; echo $?)" "not a terminal: no screen clearing, drawings one after another"
out=$(timeout 10 "$LOOMCTL" watch status --count 1); rc=$?
t_is "$rc:$(grep -c '^SEGMENT' <<<"$out")" "0:1" "--count 1: one drawing, then exit 0"
script -qec "'$LOOMCTL' watch status --count 1" /dev/null >"$T_DIR/tty.out" 2>&1
t_ok "$(grep -q $'\033\\[H\033\\[2JEvery 1s: loomctl status' "$T_DIR/tty.out"; echo $?)" \
	"on a terminal: the screen is cleared and a header says what and how often"
t_is "$("$LOOMCTL" -o json watch status acme/ib --count 1 | jq -r '.segments[0].segment')" "acme/ib" \
	"-o json: one status object a line, for one segment too"
"$LOOMCTL" -s "$T_DIR/nope.sock" watch status >/dev/null 2>&1
t_is "$?" "3" "loomd unreachable: watch status exits 3"
t_done
