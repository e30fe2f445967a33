#!/bin/bash
# tests/integration/soak_agent.sh: one loom-agent kept busy for a while must
# keep its memory, descriptors and threads flat, and converge at the end.
#
# A one-member etcd, loomd in cluster mode (cluster.etcd, reconcile = yes)
# and one long-lived loom-agent for VTEP vt-e1 on the null target (no
# namespaces, no root), then for SOAK_AGENT_SECONDS (default 90) a random
# mix, from seed SOAK_AGENT_SEED (default 1), of writes that change vt-e1's
# slice (segments created and deleted, gpu-e1..e4 attached and detached:
# their eth0 is on vt-e1), reads through loomctl and of the agent's keys in
# etcd.  The agent is never restarted: the point is one process that lives
# through every change.  Every SOAK_AGENT_SAMPLE seconds (default 3) it
# samples the agent's RSS, open descriptors and threads (/proc/PID).
#
# The thresholds and the method are soak.sh's: over the second half (the
# first is warm-up) a least-squares fit of RSS may grow by at most 3 MiB a
# minute, and the highest level of descriptors and of threads held for two
# samples in a row in the second half may not exceed the first half's.  At
# the end the agent must have reported the last generation, every item
# programmed, and exit 0 on SIGTERM; in the sanitizer build its leak check
# at that exit is the other half of the test (build-aux/san-wrap fails the
# test on any report), with ASan's quarantine cut to 1 MiB as in soak.sh.
# Like soak.sh it runs in `make check` only in the sanitizer build, or when
# asked for (SOAK_AGENT_SECONDS set; tools/soak --agent SECONDS).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
. "$(dirname "$0")/soak_lib.sh"
AGENT=$top_builddir/loom-agent
TOPO=$top_srcdir/tests/integration/data/topo-api.json
SECS=${SOAK_AGENT_SECONDS:-90}
SAMPLE=${SOAK_AGENT_SAMPLE:-3}
RANDOM=${SOAK_AGENT_SEED:-1}

if ! command -v "$ETCD_BIN" >/dev/null || ! command -v jq >/dev/null || ! command -v curl >/dev/null; then
	echo "1..0 # SKIP needs etcd, jq and curl (tools/install-deps)"
	exit 0
fi
if [ -z "${SOAK_AGENT_SECONDS:-}" ] && ! ldd "$AGENT" 2>/dev/null | grep -q libasan; then
	echo "1..0 # SKIP the agent soak runs in the sanitizer build (or: tools/soak --agent SECONDS)"
	exit 0
fi
ctl() { "$LOOMCTL" "$@"; }

t_plan 8
etcd_cluster c 1 || exit 1
EP=$c_EPS
b64() { printf '%s' "$1" | base64 -w0; }
etcd_value() {	# etcd_value KEY: its value, "" when absent
	curl -sf -X POST "$EP/v3/kv/range" -d "{\"key\":\"$(b64 "$1")\"}" |
		jq -r '.kvs[0].value // empty' | base64 -d 2>/dev/null
}
alive() { [ -n "$(etcd_value /loom/v1/alive/vt-e1)" ]; }

cat >"$T_DIR/vt-e1.conf" <<EOF
name = vt-e1
kind = vtep
cluster.etcd = $EP
cluster.lease_ttl = 2
topology = $TOPO
targets = null
log_level = warn
EOF
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1"
ASAN_OPTIONS="$ASAN_OPTIONS" "$AGENT" -c "$T_DIR/vt-e1.conf" 2>>"$T_DIR/vt-e1.log" &
APID=$!
T_PIDS="$T_PIDS $APID"
t_wait 10 alive
t_ok $? "loom-agent vt-e1 (null target) holds its lease and alive key" ||
	{ sed 's/^/#   /' "$T_DIR/vt-e1.log"; exit 1; }

loomd_config "$TOPO" "cluster.etcd = $EP" "log_level = warn"
sed -i 's/^reconcile = no/reconcile = yes/' "$LOOM_CONF"
loomd_start || exit 1
ctl tenant create acme --site east >/dev/null
t_ok $? "loomd in cluster mode takes writes"

NODES=(gpu-e1 gpu-e2 gpu-e3 gpu-e4)
SEGS=(s0 s1 s2 s3)
writes=0
refused=0
reads=0
pick() { local -n a=$1; echo "${a[RANDOM % ${#a[@]}]}"; }
w() {	# a write: counted when loomd took it (exit 0)
	if ctl "$@" >/dev/null 2>>"$T_DIR/ctl.err"; then writes=$((writes + 1)); else refused=$((refused + 1)); return 1; fi
}
r() { "$@" >/dev/null 2>&1; reads=$((reads + 1)); }

# What the test has made, so that most writes change the slice rather than
# be refused; a few refused ones are drawn on purpose (case 7).
declare -A SEG ON	# ON[node]: the segment its eth0 is in (one at a time)
toggle() {	# toggle SEG NODE: detach NODE from where it is, else attach it to SEG
	local at=${ON[$2]:-}
	if [ -n "$at" ]; then
		w detach "$at" "$2" && unset "ON[$2]"
	else
		w attach "$1" "$2" && ON[$2]=$1
	fi
}
one_op() {
	local s n k
	s=acme/$(pick SEGS)
	n=$(pick NODES)
	case $((RANDOM % 12)) in
	0|1|2|3|4|6)
		if [ -n "${SEG[$s]:-}" ]; then toggle "$s" "$n"
		else w segment create "$s" --type ethernet --mtu 1500 && SEG[$s]=1; fi ;;
	5)	if [ -n "${SEG[$s]:-}" ] && w segment delete "$s" --cascade; then
			unset "SEG[$s]"
			for k in "${!ON[@]}"; do [ "${ON[$k]}" = "$s" ] && unset "ON[$k]"; done
		fi ;;
	7) w attach acme/none "$n" ;;	# refused: no such segment
	8|9) r ctl status; r ctl segment list; r ctl node show "$n" ;;
	10) r etcd_value /loom/v1/status/vt-e1; r etcd_value /loom/v1/desired/vt-e1 ;;
	11) r ctl info; r ctl -o json segment show "$s" ;;
	esac
}

sample() {	# t rss_kib fds threads
	local rss thr fds
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$APID/status" 2>/dev/null)
	thr=$(awk '/^Threads:/ { print $2 }' "/proc/$APID/status" 2>/dev/null)
	fds=$(ls "/proc/$APID/fd" 2>/dev/null | wc -l)
	echo "$((SECONDS - start)) ${rss:-0} $fds ${thr:-0}" >>"$T_DIR/samples"
}

start=$SECONDS
next=$SECONDS
: >"$T_DIR/samples"
while [ $((SECONDS - start)) -lt "$SECS" ] && kill -0 "$APID" 2>/dev/null; do
	if [ "$SECONDS" -ge "$next" ]; then
		sample
		next=$((SECONDS + SAMPLE))
	fi
	one_op
done
# The last change: one that surely moves vt-e1's slice.
[ -n "${ON[gpu-e1]:-}" ] && w detach "${ON[gpu-e1]}" gpu-e1
w segment create acme/last --type ethernet --mtu 1500
w attach acme/last gpu-e1
sample
kill -0 "$APID" 2>/dev/null
t_ok $? "the agent is still up after ${SECS} s: $writes writes taken, $refused refused, $reads reads"

t_diag "refusals, most frequent first:"
sed 's|acme/[a-z0-9]*|acme/S|g; s/gpu-e[0-9]/gpu-eN/g' "$T_DIR/ctl.err" 2>/dev/null | sort | uniq -c | sort -rn | head -5 | while read -r line; do t_diag "  $line"; done
t_diag "samples (s rss_kib fds threads):"
while read -r line; do t_diag "  $line"; done <"$T_DIR/samples"

rss_slope=$(slope 2)
[ "$rss_slope" -le 3072 ]
t_ok $? "agent RSS flat: the second half's fit grows $rss_slope KiB/min (limit 3072)"
read -r a b <<<"$(halves_max 3)"
[ "$b" -le "$a" ]
t_ok $? "agent descriptors flat: at most $a in the first half, $b in the second"
read -r a b <<<"$(halves_max 4)"
[ "$b" -le "$a" ]
t_ok $? "agent threads flat: at most $a in the first half, $b in the second"

# Converged on the last change: status/vt-e1 at desired/vt-e1's generation,
# every item programmed, no error, and loomctl status agreeing.
converged() {
	local d s
	d=$(etcd_value /loom/v1/desired/vt-e1) && s=$(etcd_value /loom/v1/status/vt-e1) || return 1
	[ -n "$d" ] && [ "$(echo "$d" | jq -r .generation)" = "$(echo "$s" | jq -r .generation)" ] &&
		echo "$s" | jq -e '(.error // "") == "" and ([.items[].state] | unique == ["programmed"])' >/dev/null &&
		ctl -o json status | jq -e '[.segments[] | select(.target == "vt-e1") | .state] | unique == ["programmed"]' >/dev/null
}
t_wait 15 converged
t_ok $? "the agent converged on the last change (generation $(etcd_value /loom/v1/desired/vt-e1 | jq -r .generation), $(etcd_value /loom/v1/status/vt-e1 | jq -r '.items | length') items programmed)" ||
	{ etcd_value /loom/v1/status/vt-e1 | sed 's/^/#   status: /'; tail -5 "$T_DIR/vt-e1.log" | sed 's/^/#   /'; }

# Stopped the way systemd stops it: a clean exit (the leak check runs then).
kill -TERM "$APID"
wait "$APID"
rc=$?
T_PIDS=$(echo "$T_PIDS" | sed "s/ $APID\b//")
t_is "$rc" "0" "the agent stops cleanly on SIGTERM"
loomd_stop TERM
t_done
