# tests/integration/ib_lib.sh: shared by the tests on an ibsim fabric with
# OpenSM (lab/ib-lab), after lib.sh (bash).
#
#   ib_skip_unless [CMD...]
#                 prints a TAP skip and exits unless root, ibsim, opensm,
#                 smpquery, umad2sim, jq and each CMD are there
#   ib_up TAG HCAS
#                 the fabric in /tmp/TAG-PID (IB; taken down at exit), with
#                 SOCK (ibsim's socket), GUID[name] and LID[name] of each
#                 HCA's first port, and $T_DIR/topology.json: the lab's
#                 topology with its site "lab"; one TAP line
#   ib_loomd      loomd under the umad2sim preload on $LOOM_CONF (written by
#                 loomd_config), LOOMD_PID set; waits for it to answer
#   sweep         OpenSM sweeps now
#   pk NODE       the non-zero P_Keys on NODE's first port, from the fabric

LAB=$top_srcdir/lab/ib-lab
SIM_SO=${LOOM_UMAD2SIM:-/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so}

ctl() { "$LOOMCTL" "$@"; }
sweep() { kill -HUP "$(cat "$IB/opensm.pid")"; }

ib_skip_unless() {
	local c
	if [ "$(id -u)" != 0 ] || [ ! -f "$SIM_SO" ]; then
		echo "1..0 # SKIP needs root and umad2sim"
		exit 0
	fi
	for c in ibsim opensm smpquery jq "$@"; do
		command -v "$c" >/dev/null || { echo "1..0 # SKIP needs $c (tools/install-deps)"; exit 0; }
	done
}

ib_down() { "$LAB" down --dir "$IB" >/dev/null 2>&1; }

ib_up() {	# ib_up TAG HCAS
	local name guid lid
	IB=/tmp/$1-$$
	t_cleanup_add ib_down
	"$LAB" up --dir "$IB" --hcas "$2" >"$T_DIR/lab.out" 2>&1
	t_ok $? "ib-lab up: ibsim (2 switches, $2 HCAs) and OpenSM" ||
		{ sed 's/^/#   /' "$T_DIR/lab.out"; return 1; }
	SOCK=$(sed -n 's/^export IBSIM_SOCKNAME=//p' "$IB/env")
	declare -g -A GUID LID
	while read -r name guid lid; do GUID[$name]=$guid; LID[$name]=$lid; done < <(
		jq -r '.nodes[] | "\(.name) \(.hca_ports[0].guid) \(.hca_ports[0].lid)"' "$IB/topology.json")
	jq '. + {sites: [{name: "lab"}]}' "$IB/topology.json" >"$T_DIR/topology.json"
}

ib_loomd() {
	# shellcheck source=/dev/null  # written by ib-lab up
	( cd "$IB" && . "$IB/env" && exec "$LOOMD" -f -c "$LOOM_CONF" ) 2>>"$T_DIR/loomd.log" &
	LOOMD_PID=$!
	T_PIDS="$T_PIDS $LOOMD_PID"
	t_wait 10 ctl info
}

# pk NODE: the non-zero P_Keys of NODE's first port, read from the fabric.
pk() {
	(cd "$IB" && env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" smpquery pkeys "${LID[$1]}" 1 2>/dev/null) |
		tr ' ' '\n' | grep '^0x' | grep -v '^0x0000$' | sort | tr '\n' ' ' | sed 's/ $//'
}
