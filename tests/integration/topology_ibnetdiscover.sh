#!/bin/bash
# tests/integration/topology_ibnetdiscover.sh: the ibnetdiscover importer
# against a live fabric.  ibsim simulates tests/golden/topology/fabric-east.net,
# OpenSM (on ibsim) assigns the LIDs, ibnetdiscover reads the fabric, and the
# importer's JSON must equal the golden file the unit test also checks.
# Nothing is mocked; the simulator is private (IBSIM_SOCKNAME) so other tests
# running ibsim at the same time are not disturbed.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"

PRELOAD=/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so
GOLDEN=$top_srcdir/tests/golden/topology
TOOL=$top_builddir/tests/integration/topo_tool

for need in ibsim opensm ibnetdiscover jq; do
	if ! command -v "$need" >/dev/null; then
		echo "1..0 # SKIP $need is not installed"
		exit 0
	fi
done
if [ ! -e "$PRELOAD" ]; then
	echo "1..0 # SKIP $PRELOAD is missing (package libumad2sim0)"
	exit 0
fi

echo "1..5"
tmp=$(mktemp -d /tmp/ltp-ibd.XXXXXX)
ibsim_pid=
osm_pid=

# Stop one of our processes: TERM, then KILL if it has not gone in 5 s.
stop() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

cleanup() {
	# OpenSM first: it hangs on exit once its simulator is gone.
	stop "$osm_pid"
	stop "$ibsim_pid"
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
	local limit=$1 i
	shift
	for i in $(seq $((limit * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

export IBSIM_SOCKNAME=ltp-ibd-$$
export OSM_TMP_DIR=$tmp/osm OSM_CACHE_DIR=$tmp/osm
mkdir -p "$tmp/osm"
# ibsim reads commands on stdin and spins on EOF: give it a FIFO it holds open.
mkfifo "$tmp/console"
ibsim -s "$GOLDEN/fabric-east.net" 0<>"$tmp/console" >"$tmp/ibsim.log" 2>&1 &
ibsim_pid=$!
if wait_for 10 grep -q "simulator ready" "$tmp/ibsim.log"; then
	echo "ok 1 - ibsim simulates fabric-east.net"
else
	echo "not ok 1 - ibsim simulates fabric-east.net"
	sed 's/^/# /' "$tmp/ibsim.log"
	exit 1
fi

LD_PRELOAD=$PRELOAD opensm -f "$tmp/osm/opensm.log" -s 0 </dev/null >"$tmp/opensm.out" 2>&1 &
osm_pid=$!

# The subnet is up when every port in the discovery has a LID.
swept() {
	LD_PRELOAD=$PRELOAD ibnetdiscover >"$tmp/capture.txt" 2>"$tmp/ibnetdiscover.err" &&
		grep -q '^Switch' "$tmp/capture.txt" && ! grep -q 'lid 0 ' "$tmp/capture.txt"
}
if wait_for 30 swept; then
	echo "ok 2 - OpenSM assigned a LID to every port"
else
	echo "not ok 2 - OpenSM assigned a LID to every port"
	sed 's/^/# /' "$tmp/opensm.out" "$tmp/ibnetdiscover.err"
fi

if "$TOOL" import sm-east "$tmp/capture.txt" >"$tmp/got.json" 2>"$tmp/import.err"; then
	echo "ok 3 - the importer reads the live capture"
else
	echo "not ok 3 - the importer reads the live capture"
	sed 's/^/# /' "$tmp/import.err"
fi

if diff -u <(jq -S . "$GOLDEN/ibnetdiscover-east.json") <(jq -S . "$tmp/got.json") >"$tmp/diff"; then
	echo "ok 4 - the live import equals tests/golden/topology/ibnetdiscover-east.json"
else
	echo "not ok 4 - the live import equals tests/golden/topology/ibnetdiscover-east.json"
	sed 's/^/# /' "$tmp/diff"
fi

# 9 HCA ports on 5 nodes, and every one of them is in the sample topology.
if [ "$(jq '[.nodes[].hca_ports[]] | length' "$tmp/got.json")" = 9 ] &&
	"$TOOL" check "$top_srcdir/etc/topology.sample.json" >"$tmp/sample.json" &&
	[ "$(jq -n --slurpfile got "$tmp/got.json" --slurpfile s "$tmp/sample.json" '
		[$s[0].nodes[].hca_ports[] | select(.sm == "sm-east") | .guid] as $known
		| [$got[0].nodes[].hca_ports[].guid | select(. as $g | $known | index($g) | not)] | length')" = 0 ]
then
	echo "ok 5 - every discovered port GUID is in etc/topology.sample.json"
else
	echo "not ok 5 - every discovered port GUID is in etc/topology.sample.json"
fi
