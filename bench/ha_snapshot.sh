#!/bin/bash
# Snapshots of the HA controllers' log (docs/ha.md) on a real etcd cluster
# of three on loopback: the start of a controller on an empty disk, until
# it answers, on the same state (a) replaying the whole log and (b) from a
# snapshot plus the few entries after it.
#   1. one controller, snapshots off (cluster.snapshot_entries at its
#      maximum), one client of bench/bench_api writing for SECONDS: every
#      write its own batch, so one log entry each;
#   2. a controller on an empty disk started and stopped 3 times: the
#      whole log replayed;
#   3. the first one restarted with cluster.snapshot_entries = 10: it
#      snapshots at once and trims the log to its last 2 entries;
#   4. a controller on an empty disk started and stopped 3 times: the
#      snapshot loaded.
# Usage: bench/ha_snapshot.sh [SECONDS]   (after tools/build)
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir/build}
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/etcd_lib.sh"
. "$top_srcdir/tests/integration/ha_lib.sh"
SECS=${1:-10}
BENCH=$top_builddir/bench/bench_api
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
role_is() { [ "$(ha_info "$1" role)" = "$2" ]; }
stats() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "min %d, median %d, max %d ms (n=%d)\n", a[1], a[int((NR+1)/2)], a[NR], NR}'; }
# empty_starts N: ctl2 started on an empty disk N times, ms until it answers.
empty_starts() {
	local out="" t0
	for _ in $(seq "$1"); do
		rm -f "$T_DIR"/2.db*
		t0=$(now_ms)
		ha_start 2; ha_up 2 || exit 1
		out="$out $(( $(now_ms) - t0 ))"
		ha_same 1 2 || { echo "ctl2 does not hold ctl1's rows"; exit 1; }
		ha_stop 2
	done
	echo "$out"
}

etcd_cluster c 3 || exit 1
ha_conf 1 "cluster.snapshot_entries = 1000000000"; ha_conf 2
ha_start 1; ha_up 1 || exit 1
t_wait 10 role_is 1 leader
BENCH_API_OPS=create "$BENCH" "$T_DIR/1.sock" "$SECS" 1 | sed 's/^/  /'
n=$(ha_info 1 log_seq)
size=$(stat -c %s "$T_DIR/1.db")
logbytes=$(etcd_range_json /loom/v1/ha/log/ | python3 -c 'import json, sys, base64; d = json.load(sys.stdin); print(sum(len(base64.b64decode(k["value"])) for k in d.get("kvs", [])))')
echo "## $n log entries, $logbytes bytes in etcd; ctl1's file $size bytes (+ WAL $(stat -c %s "$T_DIR/1.db-wal" 2>/dev/null || echo 0))"
echo "## empty disk, no snapshot (the whole log replayed): $(empty_starts 3 | stats)"

ha_stop 1
ha_conf 1 "cluster.snapshot_entries = 10"
ha_start 1; ha_up 1 || exit 1
t_wait 30 sh -c "grep -q 'wrote the snapshot' $T_DIR/1.log" || { echo "no snapshot written"; exit 1; }
echo "## $(grep -o 'wrote the snapshot.*' "$T_DIR/1.log" | head -1)"
echo "## empty disk, from the snapshot: $(empty_starts 3 | stats)"
grep -o 'loaded the snapshot.*' "$T_DIR/2.log" | tail -1 | sed 's/^/## /'
ha_stop 1
