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
etcd_cluster b "${5:-1}" || exit 1
"$top_builddir/bench/bench_cluster" "$b_EPS" "${1:-1000}" "${2:-8}" "${3:-10}" "${4:-4}" "${6:-0}"
