#!/bin/bash
# bench/bench_ib_verify.sh: verification of P_Key tables against ibsim.
#
#   bench/bench_ib_verify.sh [BUILDDIR] [HCAS] [PARTITIONS] [PER_PARTITION]
#   (defaults: ., 2000, 500, 32: every port in 8 partitions)
#
# 1. apply: write loom's section, SIGHUP OpenSM, wait for its sweep, verify
#    every member port (time of each step; the sweep is OpenSM's share).
# 2. verify again, warm (LIDs and PartitionCap cached) and cold (a fresh
#    process: SA NodeRecord + NodeInfo + P_KeyTable per port): SMPs, SMPs/s.
# 3. baseline: a shell loop of `smpquery pkeys LID 1` over the same ports.
# Prints one line per measurement; BENCHMARKS.md has the results.
set -u
BUILD=${1:-.}
HCAS=${2:-2000}
PARTS=${3:-500}
PER=${4:-32}
SRC=$(cd "$(dirname "$0")/.." && pwd)
LAB=$SRC/lab/ib-lab
DRIVER=$BUILD/tests/integration/ib_driver
SIM_SO=/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so
WORK=$(mktemp -d /tmp/lib-ibbench-XXXXXX)
LABDIR=$WORK/lab
DRIVER_PID=""

cleanup() {
	trap "" PIPE
	if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
		[ -n "${DRV[1]:-}" ] && echo quit >&"${DRV[1]}"
		sleep 0.2
		kill "$DRIVER_PID" 2>/dev/null
	fi
	"$LAB" down --dir "$LABDIR" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

ms() { echo $(( $(date +%s%N) / 1000000 )); }
send() { echo "$*" >&"${DRV[1]}"; IFS= read -r -t 600 R <&"${DRV[0]}" || R="error no answer"; }

"$LAB" up --dir "$LABDIR" --hcas "$HCAS" || exit 1
SOCK=$(sed -n 's/^export IBSIM_SOCKNAME=//p' "$LABDIR/env")
jq --argjson parts "$PARTS" --argjson per "$PER" '
	[.nodes[] | .hca_ports[0].guid] | sort as $g | ($g | length) as $n |
	{partitions: [range(0; $parts) as $i | {pkey: (256 + $i), name: "t\($i)", ipoib: true,
		members: ([range(0; $per) as $m | {guid: $g[($i * $per + $m) % $n],
			membership: (if $m % 4 == 0 then "limited" else "full" end)}] | sort_by(.guid))}]}' \
	"$LABDIR/topology.json" >"$WORK/desired.json"
ports=$(jq '[.partitions[].members[].guid] | unique | length' "$WORK/desired.json")
echo "fabric: $HCAS HCAs; desired: $PARTS partitions x $PER members over $ports ports"

start_driver() {
	coproc DRV { cd "$WORK" && exec env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" "$DRIVER" \
		--partitions "$LABDIR/partitions.conf" --pid-file "$LABDIR/opensm.pid" 2>/dev/null; }
	DRIVER_PID=$DRV_PID
	IFS= read -r -t 30 R <&"${DRV[0]}"
}
stop_driver() { echo quit >&"${DRV[1]}"; wait "$DRIVER_PID" 2>/dev/null; DRIVER_PID=""; }
smps() { send stats; set -- $R; echo "$2"; }

start_driver
t0=$(ms); send write "$WORK/desired.json"; t1=$(ms); w=$R
send signal; t2=$(ms)
send sweep 60000; t3=$(ms); sweep=$R
send converge "$WORK/desired.json" 60000; t4=$(ms); conv=${R:0:4}
echo "apply: write $((t1 - t0)) ms ($w; includes SA/NodeInfo/P_Key reads for the capacity check), signal $((t2 - t1)) ms, sweep seen done after ${sweep#ok } ms (wait returned after $((t3 - t2)) ms incl. 150 ms settle), verify $((t4 - t3)) ms ($conv), total $((t4 - t0)) ms"
s0=$(smps); t0=$(ms); send verify "$WORK/desired.json"; t1=$(ms); s1=$(smps)
echo "verify warm: $((t1 - t0)) ms, $((s1 - s0)) SMPs, $(( (s1 - s0) * 1000 / (t1 - t0 > 0 ? t1 - t0 : 1) )) SMPs/s, ${R:0:4}"
stop_driver
start_driver
s0=$(smps); t0=$(ms); send verify "$WORK/desired.json"; t1=$(ms); s1=$(smps)
echo "verify cold: $((t1 - t0)) ms, $((s1 - s0)) SMPs/SA queries, $(( (s1 - s0) * 1000 / (t1 - t0 > 0 ? t1 - t0 : 1) )) MADs/s, ${R:0:4}"
stop_driver

# Baseline: the same ports, one smpquery each (LIDs given, so no lookup).
jq -r '.partitions[].members[].guid' "$WORK/desired.json" | sort -u >"$WORK/guids"
jq -r '.nodes[] | .hca_ports[0] | "\(.guid) \(.lid)"' "$LABDIR/topology.json" | sort >"$WORK/guid_lid"
join "$WORK/guids" "$WORK/guid_lid" | awk '{print $2}' >"$WORK/lids"
cd "$WORK" || exit 1
t0=$(ms)
while read -r lid; do
	env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" smpquery pkeys "$lid" 1 >/dev/null 2>&1
done <"$WORK/lids"
t1=$(ms)
echo "baseline smpquery loop: $(wc -l <"$WORK/lids") ports in $((t1 - t0)) ms"
