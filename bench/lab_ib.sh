#!/bin/bash
# bench/lab_ib.sh: the InfiniBand target's "segment.attach to the P_Key verified on the
# port", through loomd's API (reconcile = yes) into an ibsim fabric with
# OpenSM as its subnet manager (lab/ib-lab, 4 HCAs), several runs:
#
#   poll  `loomctl attach` (no wait) returns, then `smpquery pkeys LID 1`
#         in a loop until the port's table holds the full-member P_Key;
#         also OpenSM's "SUBNET UP" (its log is flushed at every line)
#         relative to the attach returning;
#   wait  `loomctl -w 60 attach` until loom itself verified the P_Key on
#         every member port, with loom's split of that run from
#         `loomctl status` (last_run_phases_ms: write = render + capacity
#         check + atomic write, sweep = SIGHUP until OpenSM's SMP counter
#         has been still for 150 ms, verify = P_KeyTable SMPs to members).
# Between runs the port is detached again (with -w, so it is verified out).
#
# Usage (root, from the top of the tree): bench/lab_ib.sh [RUNS=7] [BUILDDIR]
set -u
RUNS=${1:-7}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${2:-${top_builddir:-$top/build}}
LOOMD=$B/loomd
LOOMCTL=$B/loomctl
W=$(mktemp -d /tmp/lmb-ib.XXXXXX)
chmod 755 "$W"
IB=$W/ib
loomd_pid=

cleanup() {
	if [ -n "$loomd_pid" ]; then
		kill "$loomd_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$loomd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$loomd_pid" 2>/dev/null
	fi
	"$top/lab/ib-lab" down --dir "$IB" >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "lab_ib: $*" >&2; exit 1; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
ctl() { "$LOOMCTL" -s "$W/loomd.sock" "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
minmax() { sort -n | awk 'NR==1{mn=$1} {mx=$1} END {print mn" "mx}'; }
stats() { echo "median $(median <"$1") ms [min max: $(minmax <"$1")]"; }

[ "$(id -u)" = 0 ] || die "needs root"
[ -x "$LOOMD" ] || die "no $LOOMD (give the build dir)"
echo "# $(date -u +%FT%TZ) $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); runs=$RUNS"
"$top/lab/ib-lab" up --dir "$IB" --hcas 4 >"$W/ib.log" 2>&1 || { cat "$W/ib.log"; die "ib-lab did not come up"; }
jq '{sites: [{name: "lab"}], racks: [], vteps: []} + .' "$IB/topology.json" >"$W/topology.json"
# hca1 is where OpenSM and loomd attach; the member is hca2.
node=hca2
lid=$(jq -r --arg n "$node" '.nodes[] | select(.name == $n) | .hca_ports[0].lid' "$W/topology.json")
cat >"$W/loomd.conf" <<CONF
socket = $W/loomd.sock
database = $W/loom.db
topology = $W/topology.json
pkey_range = 0x0100-0x01ff
log_level = info
reconcile = yes
resync_interval = 600
CONF
( cd "$IB" && . "$IB/env" && exec "$LOOMD" -f -c "$W/loomd.conf" ) 2>"$W/loomd.log" &
loomd_pid=$!
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
ctl info >/dev/null || { cat "$W/loomd.log"; die "loomd did not start"; }
ctl tenant create ib --isolation soft >/dev/null || die "tenant"
ctl -o json segment create ib/p --type infiniband --membership full >"$W/seg.json" || die "segment"
pkey=$(jq -r '.pkey // .segment.pkey' "$W/seg.json")
want=$(printf '0x%04x' $(( pkey | 0x8000 )))
echo "# member $node (LID $lid), segment ib/p P_Key $pkey: waiting for $want in its table"

smp() { (cd "$IB" && . "$IB/env" && smpquery pkeys "$lid" 1 2>/dev/null); }
has_pkey() { smp | grep -qi "$want"; }
subnet_up_ns() { # the last SUBNET UP in OpenSM's log, as ns since the epoch
	local l
	l=$(grep "SUBNET UP" "$IB/opensm.log" | tail -1) || return 1
	# "Nov 25 15:29:58 417272 [...]": no year; the log is in local time
	echo $(( $(date -d "$(echo "$l" | cut -d' ' -f1-3)" +%s) * 1000000000 + 10#$(echo "$l" | cut -d' ' -f4) * 1000 ))
}

for run in $(seq 1 "$RUNS"); do
	has_pkey && die "P_Key already on the port before run $run"
	nup=$(grep -c "SUBNET UP" "$IB/opensm.log")
	ctl attach ib/p "$node" >/dev/null || die "attach"
	t0=$(now)
	end=$((t0 + 30000000000))
	until has_pkey; do [ "$(now)" -lt "$end" ] || die "P_Key not seen within 30 s"; done
	t1=$(now)
	p=$(ms "$t0" "$t1")
	sweep="-"
	if [ "$(grep -c "SUBNET UP" "$IB/opensm.log")" -gt "$nup" ]; then
		sweep=$(( ($(subnet_up_ns) - t0) / 1000000 ))
		echo "$sweep" >>"$W/subnetup"
	fi
	echo "$p" >>"$W/poll"
	ctl -w 60 detach ib/p "$node" >/dev/null || die "detach"

	t0=$(now)
	ctl -w 60 attach ib/p "$node" >/dev/null || die "attach -w (exit $?)"
	w=$(ms "$t0" "$(now)")
	ph=$(ctl -o json status | jq -c '.targets[] | select(.kind == "sm") | .last_run_phases_ms')
	has_pkey || die "loom said verified but smpquery does not see $want"
	echo "$w" >>"$W/wait"
	for k in write sweep verify; do echo "$ph" | jq ".$k" >>"$W/ph_$k"; done
	echo "run $run: poll: attach returned -> $want seen by smpquery ${p} ms (OpenSM SUBNET UP at +${sweep} ms); wait: attach -w ${w} ms, loom's run $ph"
	ctl -w 60 detach ib/p "$node" >/dev/null || die "detach"
done
echo "attach -> P_Key seen by smpquery polling: $(stats "$W/poll")"
[ -s "$W/subnetup" ] && echo "attach -> OpenSM's SUBNET UP logged: $(stats "$W/subnetup")"
echo "attach -w (loom verified every member): $(stats "$W/wait")"
for k in write sweep verify; do echo "  loom's run, $k: $(stats "$W/ph_$k")"; done
