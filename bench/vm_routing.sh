#!/bin/bash
# bench/vm_routing.sh: routed segments against layer-2 ones, through loomd
# into the lab (lab/loom-lab: 3 VTEPs with FRR 8.4), in the lab VM (the host
# kernel has no VRF), traditional mode.
#
#   (a) one tenant with N layer-2 segments spread over the 3 VTEPs (one
#       access node each, round robin), applied with `loomctl -w 600 apply
#       -f` until loom verified them in the kernel and FRR; then removed;
#   (b) the same N segments routed (a /30 each from 192.0.2.0/24 and
#       198.51.100.0/24, gateway .1 of it): the tenant's VRF and L3 VNI on
#       every VTEP, each segment's SVI, until verified; then removed;
#   the ratio b/a, per round;
#   (c) from the last `segment.attach` of two routed segments behind vt1 and
#       vt2 (no -w) to the first ping between their hosts (routed across VTEPs).
#
#   tools/vmlab -t 900 bash bench/vm_routing.sh [N=100] [ROUNDS=2]   (root, from the top of the tree)
# Timings are the VM's (TCG, 5-8x slower than the host): compare them only
# with each other.  Everything made is removed on exit.
set -u
N=${1:-100}
R=${2:-2}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${top_builddir:-$top/build}
LOOMCTL=$B/loomctl
PFX=lbr$(($$ % 1000))
W=$(mktemp -d /tmp/lbr.XXXXXX)
chmod 755 "$W"
LAB=$W/lab
loomd_pid=
die() { echo "bench/vm_routing: $*" >&2; exit 1; }
cleanup() {
	[ -n "$loomd_pid" ] && kill "$loomd_pid" 2>/dev/null && wait "$loomd_pid" 2>/dev/null
	"$top/lab/loom-lab" -p "$PFX" -d "$LAB" down >/dev/null 2>&1
	for v in 1 2 3; do ip netns del "$PFX-vt$v-h" 2>/dev/null; done
	rm -rf "$W"
}
trap cleanup EXIT
now() { date +%s%N; }
ms() { echo $((($2 - $1) / 1000000)); }
ctl() { "$LOOMCTL" -s "$W/loomd.sock" "$@"; }

[ "$(id -u)" = 0 ] || die "needs root"
modprobe vrf 2>/dev/null
echo "# $(date -u +%FT%TZ) kernel $(uname -r), $(nproc) CPUs; N=$N rounds=$R"
"$top/lab/loom-lab" -p "$PFX" -d "$LAB" up >"$W/lab.log" 2>&1 || { cat "$W/lab.log"; die "lab did not come up"; }

# N access veths, round robin over the VTEPs; their peers in VTn-h.
for v in 1 2 3; do
	ip netns add "$PFX-vt$v-h"
	for i in $(seq "$v" 3 "$N"); do
		echo "link add xa$i type veth peer name xb$i netns $PFX-vt$v-h"
		echo "link set xa$i up"
	done | ip -n "$PFX-vt$v" -batch - || die "veths on vt$v"
done
for i in $(seq 1 "$N"); do
	v=$(((i - 1) % 3 + 1))
	printf '{"name":"x%d","site":"%s","hca_ports":[],"gpus":[],"nic_ports":[{"name":"eth0","vtep":"vt%d","access_port":"xa%d","mac":"02:00:c6:33:%02x:%02x"}]}\n' \
		"$i" "$PFX" "$v" "$i" $((i / 256)) $((i % 256))
done >"$W/extra.jsonl"
jq --slurpfile x "$W/extra.jsonl" '.nodes += $x | .vteps[].mode = "traditional"' "$LAB/topology.json" \
	>"$W/topology.json" || die "topology"
cat >"$W/loomd.conf" <<CONF
socket = $W/loomd.sock
database = $W/loom.db
topology = $W/topology.json
vni_range = 20000-29999
l3vni_range = 30000-30099
log_level = info
reconcile = yes
resync_interval = 600
CONF
"$B/loomd" -f -c "$W/loomd.conf" 2>"$W/loomd.log" &
loomd_pid=$!
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
ctl info >/dev/null || { cat "$W/loomd.log"; die "loomd did not start"; }

# The files: N segments, layer 2 or routed (a /30 each), one node each; none.
jq -n --argjson n "$N" '{tenants: [{name: "bench", isolation: "soft",
	segments: [range(1; $n + 1) as $i | {name: "s\($i)", type: "ethernet",
	attachments: [{node: "x\($i)"}]}]}]}' >"$W/l2.json"
jq -n --argjson n "$N" '{tenants: [{name: "bench", isolation: "soft",
	segments: [range(1; $n + 1) as $i | ($i - 1) as $k
	| (if $k < 64 then "192.0.2" else "198.51.100" end) as $net | ($k % 64 * 4) as $o
	| {name: "s\($i)", type: "ethernet", subnet: "\($net).\($o)/30", gateway: "\($net).\($o + 1)",
	   attachments: [{node: "x\($i)"}]}]}]}' >"$W/l3.json"
echo '{"tenants": [{"name": "bench", "isolation": "soft", "segments": []}]}' >"$W/empty.json"
[ "$N" -le 128 ] || die "N is at most 128 (a /30 each from two /24s)"

run() {	# run FILE: ms until -w verified ("ms!" when it did not converge: see the output)
	local t rc
	t=$(now)
	ctl -w 600 apply -f "$1" >"$W/apply.out" 2>&1
	rc=$?
	[ $rc = 0 ] || sed 's/^/# /' "$W/apply.out" | head -5 >&2
	echo "$(ms "$t" "$(now)")$([ $rc = 0 ] || echo '!')"
}
for r in $(seq 1 "$R"); do
	a=$(run "$W/l2.json"); ad=$(run "$W/empty.json")
	b=$(run "$W/l3.json"); bd=$(run "$W/empty.json")
	echo "round $r: create $N layer-2 ${a} ms, routed ${b} ms (ratio $(awk -v a="${a%!}" -v b="${b%!}" 'BEGIN{printf "%.2f", b/a}')); remove layer-2 ${ad} ms, routed ${bd} ms"
done

# (c) attach -> first routed ping across VTEPs: x1 (vt1) and x2 (vt2).
ip -n "$PFX-vt1-h" -batch - <<EOF
addr add 192.0.2.2/30 dev xb1
link set xb1 up
route add default via 192.0.2.1
EOF
ip -n "$PFX-vt2-h" -batch - <<EOF
addr add 192.0.2.6/30 dev xb2
link set xb2 up
route add default via 192.0.2.5
EOF
ctl segment create bench/p1 --type ethernet --subnet 192.0.2.0/30 --gateway 192.0.2.1 >/dev/null &&
	ctl segment create bench/p2 --type ethernet --subnet 192.0.2.4/30 --gateway 192.0.2.5 >/dev/null &&
	ctl attach bench/p1 x1 >/dev/null || die "p1"
t=$(now)
ctl attach bench/p2 x2 >/dev/null || die "p2"
ip netns exec "$PFX-vt2-h" ping -c1 -W1 -q 192.0.2.5 >/dev/null 2>&1
for _ in $(seq 600); do
	ip netns exec "$PFX-vt1-h" ping -c1 -W0.2 -q 192.0.2.6 >/dev/null 2>&1 && break
done
ip netns exec "$PFX-vt1-h" ping -c1 -W1 192.0.2.6 >"$W/ping" 2>&1 || die "no routed ping"
echo "attach -> first routed ping vt1 -> vt2: $(ms "$t" "$(now)") ms ($(sed -n 's/.*\(ttl=[0-9]*\).*/\1/p' "$W/ping"))"
