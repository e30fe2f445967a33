#!/bin/bash
# Highly available controllers (docs/ha.md) on a real etcd cluster of three
# on loopback, against single-machine mode on the same machine:
#   - durable creates/s and reads/s with 32 clients: single machine; one
#     controller with cluster.ha; two controllers, clients split between
#     them (bench/bench_api);
#   - graceful stop of the leader -> the other leads (5 times);
#   - kill -9 of the leader -> the other leads, and -> a write through the
#     other is accepted (KILLS times, default 20): min / median / max.
# Usage: bench/ha.sh [KILLS [SECONDS]]   (after tools/build; TTL: HA_TTL, default 2)
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=${top_builddir:-$top_srcdir/build}
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/etcd_lib.sh"
HA_TTL=${HA_TTL:-2}
. "$top_srcdir/tests/integration/ha_lib.sh"
KILLS=${1:-20}
SECS=${2:-5}
BENCH=$top_builddir/bench/bench_api
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
role_is() { [ "$(ha_info "$1" role)" = "$2" ]; }
stats() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {printf "min %d, median %d, max %d ms (n=%d)\n", a[1], a[int((NR+1)/2)], a[NR], NR}'; }

echo "## single machine (SQLite, no etcd), 32 clients, ${SECS} s"
loomd_config "$HA_TOPO"
sed -i 's/^log_level = info/log_level = warn/' "$LOOM_CONF"
loomd_start || exit 1
"$BENCH" "$LOOM_SOCKET" "$SECS" 32
loomd_stop

etcd_cluster c 3 || exit 1
ha_conf 1 "log_level = warn"; ha_conf 2 "log_level = warn"
sed -i '0,/^log_level = info/{/^log_level = info/d}' "$T_DIR/1.conf" "$T_DIR/2.conf"
ha_start 1; ha_up 1 || exit 1
t_wait 10 role_is 1 leader
echo "## one controller, cluster.ha (etcd 3 members), 32 clients, ${SECS} s"
BENCH_API_PREFIX=one "$BENCH" "$T_DIR/1.sock" "$SECS" 32
ha_start 2; ha_up 2 || exit 1
t_wait 10 ha_same 1 2
echo "## two controllers, cluster.ha, 32 clients split between them, ${SECS} s"
c0=$(( $(ha_info 1 conflicts) + $(ha_info 2 conflicts) ))
BENCH_API_PREFIX=two "$BENCH" "$T_DIR/1.sock,$T_DIR/2.sock" "$SECS" 32
t_wait 20 ha_same 1 2 && echo "(replicas equal afterwards: log entry $(ha_info 1 log_seq); appends that found their place taken: $(( $(ha_info 1 conflicts) + $(ha_info 2 conflicts) - c0 )))"

graceful=""
for _ in 1 2 3 4 5; do
	if role_is 1 leader; then old=1 new=2; else old=2 new=1; fi
	t0=$(now_ms)
	kill -TERM "${HPID[$old]}"
	for _ in $(seq 500); do role_is "$new" leader && break; sleep 0.01; done
	graceful="$graceful $(( $(now_ms) - t0 ))"
	wait "${HPID[$old]}" 2>/dev/null
	ha_start "$old"; ha_up "$old" || exit 1
	sleep 0.5
done
echo "## graceful stop of the leader -> the other leads: $(echo "$graceful" | stats)"

leads="" writes=""
for k in $(seq "$KILLS"); do
	if role_is 1 leader; then old=1 new=2; else old=2 new=1; fi
	t0=$(now_ms)
	kill -KILL "${HPID[$old]}"
	for _ in $(seq 1000); do ctl "$new" tenant create "kill$k" --site east >/dev/null 2>&1 && break; sleep 0.01; done
	writes="$writes $(( $(now_ms) - t0 ))"
	for _ in $(seq 1000); do role_is "$new" leader && break; sleep 0.01; done
	leads="$leads $(( $(now_ms) - t0 ))"
	wait "${HPID[$old]}" 2>/dev/null
	ha_start "$old"; ha_up "$old" || exit 1
	sleep 1
done
echo "## kill -9 of the leader (TTL $HA_TTL s), $KILLS times"
echo "- a write through the other accepted after: $(echo "$writes" | stats)"
echo "- the other leads after: $(echo "$leads" | stats)"
t_wait 20 ha_same 1 2 && echo "(replicas equal afterwards; audit: $(ctl 1 audit verify 2>&1))"
