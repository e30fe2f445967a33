#!/bin/bash
# One change reaching many agents through a real etcd: bench/bench_cluster
# plays loomd in cluster mode and AGENTS loom-agents on the null target.
# Usage: bench/cluster_agents.sh [AGENTS [THREADS [TTL_S [CHANGES [MEMBERS [REREADS]]]]]]
# REREADS > 0: that many rounds of every agent cut off (connections cut
# with ss -K, so root), its slice changed and etcd compacted past its watch,
# then let go to read its key again (bench/bench_cluster.c).
# (run from the top of the tree after tools/build; etcd 3.4 on PATH)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
top_srcdir=$top
top_builddir=${top_builddir:-$top/build}
. "$top/tests/integration/lib.sh" >/dev/null
. "$top/tests/integration/etcd_lib.sh"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# CLUSTER_PERF=DIR: `perf record -a -g` over the timed changes only (the
# benchmark turns it on and off through a fifo), then DIR/comm.txt (CPU by
# command), DIR/pid.txt (by process and thread) and DIR/sym.txt (by symbol).
etcd_cluster b "${5:-1}" || exit 1
if [ -n "${CLUSTER_LEADER_ONLY:-}" ]; then
	lead=$(for ep in ${b_EPS//,/ }; do
		curl -sf -X POST "$ep/v3/maintenance/status" -d '{}' | jq -r --arg ep "$ep" 'select(.leader == .header.member_id) | $ep'
	done)
	export BENCH_AGENT_EPS=$lead
	echo "agents talk to the leader only: $lead"
fi
perf_pid=
if [ -n "${CLUSTER_PERF:-}" ]; then
	mkdir -p "$CLUSTER_PERF" && rm -f "$CLUSTER_PERF/ctl" && mkfifo "$CLUSTER_PERF/ctl" || exit 1
	perf record -q -a -g -F 499 -D -1 --control "fifo:$CLUSTER_PERF/ctl" -o "$CLUSTER_PERF/perf.data" \
		>"$CLUSTER_PERF/record.log" 2>&1 &
	perf_pid=$!
	export BENCH_PERF_CTL=$CLUSTER_PERF/ctl
	sleep 1
fi
"$top_builddir/bench/bench_cluster" "$b_EPS" "${1:-1000}" "${2:-8}" "${3:-10}" "${4:-4}" "${6:-0}"
rc=$?
if [ -n "$perf_pid" ]; then
	kill -INT "$perf_pid"; wait "$perf_pid"
	perf report -q -i "$CLUSTER_PERF/perf.data" --no-children --sort comm >"$CLUSTER_PERF/comm.txt" 2>/dev/null
	perf report -q -i "$CLUSTER_PERF/perf.data" --no-children --sort pid,comm -g none >"$CLUSTER_PERF/pid.txt" 2>/dev/null
	perf report -q -i "$CLUSTER_PERF/perf.data" --no-children --sort comm,dso,sym -g none 2>/dev/null |
		head -150 >"$CLUSTER_PERF/sym.txt"
fi
exit $rc
