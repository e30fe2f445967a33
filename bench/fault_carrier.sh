#!/bin/bash
# bench/fault_carrier.sh: from a node's access port losing carrier to the
# node cordoned and stored, in the EVPN lab (lab/loom-lab, loomd driving the
# three VTEPs, default policy: critical cordons; fault.hold_down = 0 so
# that every sample acts).
#
# measured: `ip link set eth0 down` in the host's namespace (carrier off on
#           the VTEP's access port) -> the `cordon` row's time in the
#           node's history (the netlink event, the main loop, the policy,
#           the store write).
# baseline: `loomctl node fault NODE --component nic --severity critical`
#           (an external watcher reporting the same fault through the API)
#           -> the same `cordon` row.
# Both are measured from the moment before the action to the row's time
# stamp, in ms; ip_cmd_ms is how long the `ip netns exec ... ip link set`
# command itself took (the carrier goes off somewhere inside it).  Needs
# root, FRR, jq.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${top_builddir:-$top/build}
P=lwt-b$(printf %03x $(($$ % 4096)))
W=$(mktemp -d /tmp/lwt-bench.XXXXXX)
chmod 755 "$W"
ctl() { "$build/loomctl" -s "$W/loomd.sock" "$@"; }
cleanup() {
	[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	"$top/lab/loom-lab" -p "$P" -d "$W/lab" down >/dev/null 2>&1
	rm -rf "$W"
}
trap cleanup EXIT
now_ns() { date +%s%N; }
# ns of the node's newest cordon row, once there are more than $2 of them.
cordon_ns() {
	local t
	for _ in $(seq 500); do
		t=$(ctl -o json node history "$1" |
			jq -r --argjson n "$2" '[.[] | select(.event == "cordon")] | if length > $n then .[-1].time else "" end')
		[ -n "$t" ] && { date -d "$t" +%s%N; return 0; }
		sleep 0.02
	done
	return 1
}
n_cordons() { ctl -o json node history "$1" | jq '[.[] | select(.event == "cordon")] | length'; }

"$top/lab/loom-lab" -p "$P" -d "$W/lab" up >/dev/null
printf 'socket = %s\ndatabase = %s\ntopology = %s\nvni_range = 10300-10399\nreconcile = yes\nlog_level = warn\nfault.hold_down = 0\n' \
	"$W/loomd.sock" "$W/loom.db" "$W/lab/topology.json" >"$W/loomd.conf"
"$build/loomd" -f -c "$W/loomd.conf" 2>"$W/loomd.log" &
pid=$!
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
ctl tenant create acme --site "$P" >/dev/null
ctl segment create acme/train --type ethernet --subnet 192.0.2.0/24 >/dev/null
ctl -w 30 attach acme/train h21 >/dev/null
echo "sample api_fault_ms carrier_watch_ms ip_cmd_ms"
for i in 1 2 3 4 5; do
	n=$(n_cordons h21)
	t0=$(now_ns)
	ctl node fault h21 --component nic --severity critical --text "bench" >/dev/null
	api=$(( ($(cordon_ns h21 "$n") - t0) / 1000000 ))
	ctl node uncordon h21 >/dev/null
	n=$(n_cordons h21)
	t0=$(now_ns)
	ip netns exec "$P-h21" ip link set eth0 down
	ipms=$(( ($(now_ns) - t0) / 1000000 ))
	carrier=$(( ($(cordon_ns h21 "$n") - t0) / 1000000 ))
	ip netns exec "$P-h21" ip link set eth0 up
	ctl node uncordon h21 >/dev/null
	echo "$i $api $carrier $ipms"
done
