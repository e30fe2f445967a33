#!/bin/bash
# bench/lab_lifecycle.sh: fault -> isolated -> replaced, in the lab with both
# fabrics (lab/loom-lab: 3 VTEPs with FRR; lab/ib-lab: ibsim + OpenSM), loomd
# driving every VTEP and the subnet manager, fault.critical = replace.
#
# measured: `loomctl -w 60 node fault OLD --severity critical` on a node of
#   tenant acme (acme/train ethernet + acme/ib infiniband).  Two times, from
#   the request (client clock, CLOCK_REALTIME like loomd's) to
#     out: the verify-removed step done (every target verified OLD out of
#          acme's segments: kernel, FRR, partitions file + OpenSM sweep, and
#          the P_Key read back from the HCA port), and on to
#     in:  the verify-attached step done (NEW verified in everywhere).
# baseline: the same move by hand, same lab, same run: `node fail -w OLD`
#   (out), then `attach -w` of NEW to both segments (in).
# The shares: loomd logs each target's run with its phases (debug =
#   reconcile); for the generation that took OLD out and the one that took
#   NEW in, the VTEP's run (kernel, FRR apply, FRR verify) and the subnet
#   manager's (partitions write, OpenSM sweep, verify) are printed.  The two
#   targets run in parallel, so the slower one is the time.
#
# Usage: bench/lab_lifecycle.sh [ROUNDS]   (default 1 round = 3 samples of
# each kind, one per VTEP pair).  Needs root, FRR, ibsim, opensm, jq.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${top_builddir:-$top/build}
rounds=${1:-1}
P=lrp-b$(printf %03x $(($$ % 4096)))
W=$(mktemp -d /tmp/lrp-bench.XXXXXX)
IB=/tmp/lrp-bib-$$
chmod 755 "$W"
ctl() { "$build/loomctl" -s "$W/loomd.sock" "$@"; }
cleanup() {
	if [ "${ok:-0}" != 1 ] && [ -s "$W/loomd.log" ]; then tail -40 "$W/loomd.log" | sed "s/^/# loomd: /" >&2; fi
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	"$top/lab/ib-lab" down --dir "$IB" >/dev/null 2>&1
	"$top/lab/loom-lab" -p "$P" -d "$W/lab" down >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
now_ns() { date +%s%N; }

"$top/lab/loom-lab" -p "$P" -d "$W/lab" up >/dev/null
"$top/lab/ib-lab" up --dir "$IB" --hcas 7 >/dev/null 2>&1
jq -s --arg site "$P" '.[0] as $e | .[1] as $ib |
	$e + {subnet_managers: [$ib.subnet_managers[] | .site = $site],
	      nodes: [$e.nodes | to_entries[] | .value + {hca_ports: $ib.nodes[.key + 1].hca_ports}]}' \
	"$W/lab/topology.json" "$IB/topology.json" >"$W/topology.json"
printf '%s\n' "socket = $W/loomd.sock" "database = $W/loom.db" "topology = $W/topology.json" \
	"vni_range = 10100-10199" "pkey_range = 0x0100-0x01ff" "reconcile = yes" "log_level = info" \
	"debug = reconcile" "resync_interval = 3600" "fault.critical = replace" "fault.hold_down = 0" >"$W/loomd.conf"
( cd "$IB" && . "$IB/env" && exec "$build/loomd" -f -c "$W/loomd.conf" ) 2>"$W/loomd.log" &
pid=$!
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done

ctl tenant create acme --isolation strict --site "$P" >/dev/null
ctl segment create acme/train --type ethernet --subnet 192.0.2.0/24 >/dev/null
ctl segment create acme/ib --type infiniband --pkey 0x0130 --membership full >/dev/null
for h in h11 h21 h31; do ctl -w 30 attach acme/train $h >/dev/null; ctl -w 30 attach acme/ib $h >/dev/null; done

# A failed node back in the pool: verify it again with a passing measurement
# (the lab's HCAs are 4x SDR, 10 Gb/s nominal, 8 carried; no RDMA runs here).
back_to_pool() {
	ctl node verify "$1" >/dev/null
	ctl node verify "$1" --result ibsim0/1,8 >/dev/null
}
# The runs of generation GEN logged since byte OFF: "target total (phases)".
runs_of() {
	tail -c +"$(( $1 + 1 ))" "$W/loomd.log" |
		sed -n "s/.*\(vtep\|sm\) \([^ :]*\): run of generation $2 took \([0-9.]*\) ms (\(.*\)), .*/\2 \3 ms (\4)/p" |
		tr '\n' ';' | sed 's/;$//; s/;/; /g'
}
gens_since() {	# the generations whose runs were logged since byte OFF
	tail -c +"$(( $1 + 1 ))" "$W/loomd.log" | sed -n 's/.*run of generation \([0-9]*\) took.*/\1/p' | sort -un
}

echo "sample pair measured_out_ms measured_in_ms measured_total_ms baseline_out_ms baseline_in_ms baseline_total_ms"
i=0
for r in $(seq 1 "$rounds"); do
	for pair in "h21 h22" "h31 h32" "h11 h12"; do
		set -- $pair
		old=$1 new=$2
		i=$((i + 1))
		# measured: the fault, replaced from the pool by loomd
		off=$(stat -c %s "$W/loomd.log")
		t0=$(now_ns)
		out=$(ctl -o json -w 60 node fault "$old" --component gpu --severity critical --text "bench $i")
		t1=$(now_ns)
		[ "$(echo "$out" | jq -r '.replacement.new + " " + .replacement.state')" = "$new done" ] ||
			{ echo "unexpected: $(echo "$out" | jq -c '.replacement // .')" >&2; exit 1; }
		rm_ns=$(echo "$out" | jq '[.replacement.steps[] | select(.kind == "verify-removed")][0].done_ns')
		in_ns=$(echo "$out" | jq '[.replacement.steps[] | select(.kind == "verify-attached")][0].done_ns')
		m_out=$(( (rm_ns - t0) / 1000000 )); m_in=$(( (in_ns - rm_ns) / 1000000 ))
		m_tot=$(( (t1 - t0) / 1000000 ))
		gens=$(gens_since "$off" | tr '\n' ' ')
		g_out=$(echo "$gens" | awk '{print $1}'); g_in=$(echo "$gens" | awk '{print $NF}')
		phases="out gen $g_out: $(runs_of "$off" "$g_out") | in gen $g_in: $(runs_of "$off" "$g_in")"
		back_to_pool "$old"
		# baseline: the same move by hand, back again (NEW out, OLD in)
		t0=$(now_ns)
		ctl -w 60 node fail "$new" >/dev/null
		t1=$(now_ns)
		ctl -w 60 attach acme/train "$old" >/dev/null
		ctl -w 60 attach acme/ib "$old" >/dev/null
		t2=$(now_ns)
		back_to_pool "$new"
		echo "$i $old>$new $m_out $m_in $m_tot $(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 )) $(( (t2 - t0) / 1000000 ))"
		echo "#   $phases"
	done
done
ok=1
