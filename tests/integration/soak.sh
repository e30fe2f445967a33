#!/bin/bash
# tests/integration/soak.sh: loomd kept busy for a while must keep its
# memory, descriptors, threads and database flat.
#
# The EVPN lab (lab/loom-lab: three VTEPs with FRR, six hosts) and the
# InfiniBand lab (lab/ib-lab: ibsim, OpenSM) with one loomd driving both
# (reconcile = yes, a resync every 5 s), then for LOOM_SOAK_SECONDS
# (default 180, the 3 minutes CI gives it) a random mix, from seed LOOM_SOAK_SEED (default 1), of:
# API writes (tenants, segments, attachments created and deleted again,
# `apply -f` of a declarative file), reads, writes that wait for the
# targets (-w), drift in a VTEP (a loom link set down or deleted), and
# restarts of a VTEP's bgpd or of OpenSM.  Every LOOM_SOAK_SAMPLE seconds
# (default 3) it samples loomd's RSS, open descriptors and threads, the
# SQLite WAL file's size and the audit chain's length.
#
# It fails when, over the second half of the run (the first half is
# warm-up: caches, SQLite's page cache, the WAL growing to its checkpoint
# size), a least-squares fit of the samples grows by more than:
#   RSS          3 MiB per minute   (at CI's ~10 requests a second, a leak of
#                                   5 KiB a request shows; longer runs fit better)
#   descriptors  0 (the highest level the second half held for two samples
#   threads      0  in a row may not exceed the first half's: these only
#                   come back; one that lives for a sample is no growth)
#   WAL          its size stays under 16 MiB (SQLite checkpoints at ~4 MiB)
# and when the audit chain does not verify or grew by other than one
# record per successful write.  In the sanitizer build, loomd's leak check
# at exit is the other half of the test (build-aux/san-wrap fails the test
# on any report); ASan's quarantine of freed memory is cut to 1 MiB there:
# at its default 256 MiB it would fill for the whole run and look like
# growth.  tools/soak SECONDS runs this alone, for as long as you like.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/soak_lib.sh"
ELAB=$top_srcdir/lab/loom-lab
IBLAB=$top_srcdir/lab/ib-lab
SIM_SO=${LOOM_UMAD2SIM:-/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so}
P=lsk-l$(printf %03x $(($$ % 4096)))
IB=/tmp/lsk-ib-$$
SECS=${LOOM_SOAK_SECONDS:-180}
SAMPLE=${LOOM_SOAK_SAMPLE:-3}
RANDOM=${LOOM_SOAK_SEED:-1}

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v jq >/dev/null ||
	! command -v ibsim >/dev/null || ! command -v opensm >/dev/null ||
	! command -v sqlite3 >/dev/null || [ ! -f "$SIM_SO" ]; then
	echo "1..0 # SKIP needs root, FRR, jq, sqlite3, ibsim, opensm and umad2sim"
	exit 0
fi
# In `make check` it runs in the sanitizer suite, where the leak check
# makes it worth its time; elsewhere only when asked for (tools/soak).
if [ -z "${LOOM_SOAK_SECONDS:-}" ] && ! ldd "$LOOMD" 2>/dev/null | grep -q libasan; then
	echo "1..0 # SKIP the soak runs in the sanitizer build (or: tools/soak SECONDS)"
	exit 0
fi
labs_down() {
	"$IBLAB" down --dir "$IB" >/dev/null 2>&1
	"$ELAB" -p "$P" -d "$T_DIR/lab" down >/dev/null 2>&1
}
t_cleanup_add labs_down
ctl() { "$LOOMCTL" "$@"; }

t_plan 9
out=$("$ELAB" -p "$P" -d "$T_DIR/lab" up 2>&1) &&
	out=$("$IBLAB" up --dir "$IB" --hcas 7 2>&1)
t_ok $? "labs up ($P: 3 VTEPs with FRR, 6 hosts; ibsim and OpenSM)" ||
	{ echo "$out" | sed 's/^/#   /'; exit 1; }
jq -s --arg site "$P" '.[0] as $e | .[1] as $ib |
	$e + {subnet_managers: [$ib.subnet_managers[] | .site = $site],
	      nodes: [$e.nodes | to_entries[] | .value + {hca_ports: $ib.nodes[.key + 1].hca_ports}]}' \
	"$T_DIR/lab/topology.json" "$IB/topology.json" >"$T_DIR/topology.json"

loomd_config "$T_DIR/topology.json" "vni_range = 10100-10199" "pkey_range = 0x0100-0x01ff" \
	"reconcile = yes" "resync_interval = 5" "log_level = warn"
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1"
( cd "$IB" && . "$IB/env" && exec env ASAN_OPTIONS="$ASAN_OPTIONS" "$LOOMD" -f -c "$LOOM_CONF" ) \
	2>>"$T_DIR/loomd.log" &
LOOMD_PID=$!
T_PIDS="$T_PIDS $LOOMD_PID"
t_wait 20 ctl info
t_ok $? "loomd drives the three VTEPs and OpenSM" || { sed 's/^/#   /' "$T_DIR/loomd.log"; exit 1; }

HOSTS=(h11 h12 h21 h22 h31 h32)
VTEPS=(vt1 vt2 vt3)
TENANTS=(t0 t1 t2 t3)
writes=0
refused=0
reads=0
drifts=0
restarts=0
pick() { local -n a=$1; echo "${a[RANDOM % ${#a[@]}]}"; }
w() {	# a write: counted when loomd took it (exit 0)
	if ctl "$@" >/dev/null 2>>"$T_DIR/ctl.err"; then writes=$((writes + 1)); else refused=$((refused + 1)); fi
}
r() { ctl "$@" >/dev/null 2>&1; reads=$((reads + 1)); }

# The declarative file: tenant decl, its segment's hosts drawn anew each time.
intent() {
	local atts="" h
	for h in "${HOSTS[@]}"; do
		[ $((RANDOM % 2)) -eq 0 ] && atts="$atts${atts:+,}{\"node\":\"$h\"}"
	done
	cat >"$T_DIR/intent.json" <<EOF
{"tenants":[{"name":"decl","sites":["$P"],"segments":[
 {"name":"net","type":"ethernet","mtu":1500,"attachments":[$atts]},
 {"name":"ib","type":"infiniband","attachments":[$atts]}]}]}
EOF
}

one_op() {
	local t h v link
	t=$(pick TENANTS)
	h=$(pick HOSTS)
	case $((RANDOM % 20)) in
	0|1) w tenant create "$t" --site "$P" ;;
	2) w tenant delete "$t" --cascade ;;
	3) w segment create "$t/net" --type ethernet --mtu 1500 ;;
	4) w segment create "$t/ib" --type infiniband ;;
	5|6) w attach "$t/net" "$h" ;;
	7) w attach "$t/ib" "$h" ;;
	8|9) w detach "$t/net" "$h" ;;
	10) w detach "$t/ib" "$h" ;;
	11) intent; w apply -f "$T_DIR/intent.json" ;;
	12) w -w 20 attach "$t/net" "$h" ;;
	13|14|15) r tenant list; r segment list; r node show "$h"; r status; r audit list --limit 5 ;;
	16) r desired show; r info; r node list ;;
	17)	# drift: one of loom's links in a VTEP set down, or deleted
		v=$(pick VTEPS)
		link=$(ip -n "$P-$v" -o link show group $((0x6c6f6f6d)) 2>/dev/null | awk -F': ' 'NR == 1 { sub(/@.*/, "", $2); print $2 }')
		if [ -n "$link" ]; then
			if [ $((RANDOM % 2)) -eq 0 ]; then ip -n "$P-$v" link set "$link" down; else ip -n "$P-$v" link del "$link"; fi
			drifts=$((drifts + 1))
		fi 2>/dev/null ;;
	18)	# FRR: one VTEP's bgpd restarts (at most every 15 s)
		if [ $((SECONDS - last_frr)) -ge 15 ]; then
			"$ELAB" -p "$P" -d "$T_DIR/lab" restart "$(pick VTEPS)" bgpd >/dev/null 2>&1
			last_frr=$SECONDS
			restarts=$((restarts + 1))
		fi ;;
	19)	# OpenSM restarts (at most every 20 s)
		if [ $((SECONDS - last_sm)) -ge 20 ]; then
			"$IBLAB" sm-restart --dir "$IB" >/dev/null 2>&1
			last_sm=$SECONDS
			restarts=$((restarts + 1))
		fi ;;
	esac
}

sample() {	# t rss_kib fds threads wal_bytes audit_records
	local rss thr fds wal aud
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$LOOMD_PID/status" 2>/dev/null)
	thr=$(awk '/^Threads:/ { print $2 }' "/proc/$LOOMD_PID/status" 2>/dev/null)
	fds=$(ls "/proc/$LOOMD_PID/fd" 2>/dev/null | wc -l)
	wal=$(stat -c %s "$LOOM_DB-wal" 2>/dev/null || echo 0)
	aud=$(ctl -o json audit verify 2>/dev/null | jq -r '.records')
	echo "$((SECONDS - start)) ${rss:-0} $fds ${thr:-0} $wal ${aud:-0}" >>"$T_DIR/samples"
}

audit0=$(ctl -o json audit verify | jq -r '.records')
start=$SECONDS
last_frr=$SECONDS
last_sm=$SECONDS
next=$SECONDS
: >"$T_DIR/samples"
while [ $((SECONDS - start)) -lt "$SECS" ] && kill -0 "$LOOMD_PID" 2>/dev/null; do
	if [ "$SECONDS" -ge "$next" ]; then
		sample
		next=$((SECONDS + SAMPLE))
	fi
	one_op
done
sample
kill -0 "$LOOMD_PID" 2>/dev/null
t_ok $? "loomd is still up after ${SECS} s: $writes writes taken, $refused refused, $reads reads, $drifts drifts, $restarts restarts"

t_diag "samples (s rss_kib fds threads wal_bytes audit_records):"
while read -r line; do t_diag "  $line"; done <"$T_DIR/samples"

rss_slope=$(slope 2)
[ "$rss_slope" -le 3072 ]
t_ok $? "RSS flat: the second half's fit grows $rss_slope KiB/min (limit 3072)"
read -r a b <<<"$(halves_max 3)"
[ "$b" -le "$a" ]
t_ok $? "open descriptors flat: at most $a in the first half, $b in the second"
read -r a b <<<"$(halves_max 4)"
[ "$b" -le "$a" ]
t_ok $? "threads flat: at most $a in the first half, $b in the second"
read -r a b <<<"$(halves_max 5)"
[ "$b" -le $((16 * 1024 * 1024)) ]
t_ok $? "WAL bounded: at most $a bytes in the first half, $b in the second (limit 16 MiB)"
out=$(ctl -o json audit verify)
aud=$(echo "$out" | jq -r '.records')
# loomd's own writes (a fault its watchers saw, a replacement's step) are
# audited too; they name no client (principal "loomd", or none for the
# oldest kinds), so they are counted apart from the soak's writes.
own=$(ctl -o json audit list --after "$audit0" --limit 100000 |
	jq '[.[] | select((.principal // "loomd") | startswith("uid:") | not)] | length')
t_diag "loomd's own audited writes in the run: ${own:-?} ($(ctl -o json audit list --after "$audit0" --limit 100000 |
	jq -r '[.[] | select((.principal // "loomd") | startswith("uid:") | not) | .method] | unique | join(", ")'))"
t_is "$(echo "$out" | jq -r '.ok'):$((aud - audit0 - ${own:-0}))" "true:$writes" \
	"the audit chain verifies and grew by one record per write taken ($writes) besides loomd's own (${own:-0})"

# Stopped the way systemd stops it: a clean exit (the leak check runs then).
loomd_stop TERM
t_ok $? "loomd stops cleanly"
t_done
