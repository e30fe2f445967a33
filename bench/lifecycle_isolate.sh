#!/bin/bash
# bench/lifecycle_isolate.sh: how long until a failed node is verified out
# of its tenant's Ethernet segments, in the EVPN lab (lab/loom-lab, loomd
# driving the three VTEPs' kernel and FRR).
#
# baseline: `loomctl -w 30 detach blue/web hX` (one attachment removed,
#           programmed and verified on the VTEP);
# measured: `loomctl -w 30 node fail hY` (every attachment of the node
#           removed, verified, and the removal confirmed: `failed` stored).
# Each sample is the wall time of the loomctl call, in ms.  Needs root, FRR.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${top_builddir:-$top/build}
P=lmw-b$(printf %03x $(($$ % 4096)))
W=$(mktemp -d /tmp/lmw-bench.XXXXXX)
chmod 755 "$W"
ctl() { "$build/loomctl" -s "$W/loomd.sock" "$@"; }
cleanup() {
	[ -s "$W/loomd.log" ] && sed "s/^/# loomd: /" "$W/loomd.log" >&2
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	"$top/lab/loom-lab" -p "$P" -d "$W/lab" down >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
ms() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N); echo $(( (t1 - t0) / 1000000 )); }

"$top/lab/loom-lab" -p "$P" -d "$W/lab" up >/dev/null
printf 'socket = %s\ndatabase = %s\ntopology = %s\nvni_range = 10100-10199\nreconcile = yes\nlog_level = warn\n' \
	"$W/loomd.sock" "$W/loom.db" "$W/lab/topology.json" >"$W/loomd.conf"
"$build/loomd" -f -c "$W/loomd.conf" 2>"$W/loomd.log" &
pid=$!
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
ctl tenant create acme --site "$P" >/dev/null
ctl tenant create blue --site "$P" >/dev/null
ctl segment create acme/train --type ethernet --subnet 192.0.2.0/24 >/dev/null
ctl segment create blue/web --type ethernet --subnet 192.0.2.0/24 >/dev/null
for h in h11 h21 h31; do ctl -w 30 attach acme/train $h >/dev/null; done
for h in h12 h22 h32; do ctl -w 30 attach blue/web $h >/dev/null; done
echo "sample baseline_detach_ms node_fail_ms"
i=0
for pair in "h12 h11" "h22 h21" "h32 h31"; do
	set -- $pair
	i=$((i + 1))
	echo "$i $(ms ctl -w 30 detach blue/web "$1") $(ms ctl -w 30 node fail "$2")"
done
