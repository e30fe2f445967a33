#!/bin/bash
# bench/isolation.sh: what the isolation check costs against reading the
# same state with the usual tools, on real targets:
#   1. one VTEP namespace with 1,000 bridges / VXLAN devices / ports (one
#      end of a veth pair each) and
#      1,000 FDB entries: the check's netlink reader vs
#      `ip -d -j link show` + `bridge -j fdb show`
#   2. one FRR (the lab's vt1) with 1,000 `vni` blocks: frr_observe (vtysh
#      + the running-config parser) vs `vtysh -c 'show running-config'`
#      and `vtysh -c 'show bgp l2vpn evpn vni json'`
#   3. the lab (3 VTEPs, two tenants programmed by loomd): tools/
#      isolation-check end to end vs the per-VTEP loop of the commands above
#   4. ib-lab with 16 HCAs: isolation-check --no-vteps (every P_Key table
#      read with SMPs) vs a `smpquery pkeys` loop over the same ports
# The generated 256 x 1,000 fabric is bench/bench_isolation (checker only);
# the per-target numbers here scale it to whole-fabric read times.
# Needs root, FRR, ibsim/opensm/infiniband-diags/umad2sim, jq.
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
B=${top_builddir:-$TOP/build}
BI=$B/bench/bench_isolation
N=${N:-10}
D=$(mktemp -d /tmp/loom-bench-iso.XXXXXX)
chmod 755 "$D"
NS=lbi-$$
P=lbi$(printf %03x $(($$ % 4096)))
IB=$D/ib
SIM_SO=${LOOM_UMAD2SIM:-/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so}
LOOMD_PID=
cleanup() {
	[ -n "$LOOMD_PID" ] && kill "$LOOMD_PID" 2>/dev/null && wait "$LOOMD_PID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	"$TOP/lab/loom-lab" -p "$P" -d "$D/lab" down >/dev/null 2>&1
	"$TOP/lab/ib-lab" down --dir "$IB" >/dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT

# median_ms N CMD...: the median wall time of N runs of CMD, in ms.
median_ms() {
	local n=$1 i t0 ts=()
	shift
	for ((i = 0; i < n; i++)); do
		t0=$(date +%s%N)
		"$@" >/dev/null 2>&1
		ts+=($((($(date +%s%N) - t0) / 1000)))
	done
	printf '%s\n' "${ts[@]}" | sort -n | sed -n "$((n / 2 + 1))p" | awk '{printf "%.2f", $1 / 1000}'
}

echo "## 1. one VTEP namespace, 1,000 VNIs"
ip netns add "$NS"
for i in $(seq 0 999); do
	v=$((10000 + i))
	echo "link add lb$v type bridge"
	echo "link add lx$v type vxlan id $v local 203.0.113.9 dstport 4789 nolearning"
	echo "link add d$i type veth peer name e$i"
	echo "link set lx$v master lb$v"
	echo "link set d$i master lb$v"
done | ip -n "$NS" -batch -
for i in $(seq 0 999); do
	echo "fdb append 00:00:00:00:00:00 dev lx$((10000 + i)) dst 203.0.113.$((1 + i % 200)) self permanent"
done | bridge -n "$NS" -batch -
"$BI" read-kernel "$NS" "$N"
echo "ip -d -j link + bridge -j fdb        $(median_ms "$N" sh -c "ip -n $NS -d -j link show; bridge -n $NS -j fdb show") ms median of $N"

echo "## 2. one FRR with 1,000 vni blocks"
"$TOP/lab/loom-lab" -p "$P" -d "$D/lab" up >"$D/lab.log" 2>&1 || { cat "$D/lab.log"; exit 1; }
VTY=/var/run/frr/$P-vt1
{
	echo "router bgp 65001"
	echo " address-family l2vpn evpn"
	for i in $(seq 0 999); do
		v=$((10000 + i))
		echo "  vni $v"
		echo "   rd 203.0.113.1:$((i + 1))"
		echo "   route-target import 65000:$v"
		echo "   route-target export 65000:$v"
		echo "  exit-vni"
	done
	echo " exit-address-family"
} >"$D/vnis.conf"
vtysh --vty_socket "$VTY" -f "$D/vnis.conf" >/dev/null 2>&1
"$BI" read-frr "$VTY" 65001 "$N"
echo "vtysh show running-config            $(median_ms "$N" vtysh --vty_socket "$VTY" -d bgpd -c 'show running-config') ms median of $N"
echo "vtysh show bgp l2vpn evpn vni json   $(median_ms "$N" vtysh --vty_socket "$VTY" -d bgpd -c 'show bgp l2vpn evpn vni json') ms median of $N"
sed 's/^  vni /  no vni /; /^   /d; /exit-vni/d' "$D/vnis.conf" >"$D/novnis.conf"
vtysh --vty_socket "$VTY" -f "$D/novnis.conf" >/dev/null 2>&1

echo "## 3. the lab: 3 VTEPs, two tenants"
export LOOM_SOCKET=$D/loomd.sock
cat >"$D/loomd.conf" <<EOF
socket = $LOOM_SOCKET
database = $D/loom.db
topology = $D/lab/topology.json
reconcile = yes
vni_range = 10000-10999
EOF
"$B/loomd" -f -c "$D/loomd.conf" 2>"$D/loomd.log" &
LOOMD_PID=$!
sleep 1
C=$B/loomctl
$C tenant create acme --site "$P" >/dev/null && $C tenant create globex --site "$P" >/dev/null &&
	$C -w 20 segment create acme/eth --type ethernet >/dev/null &&
	$C -w 20 segment create globex/eth --type ethernet >/dev/null &&
	for n in h11 h21 h31; do $C -w 20 attach acme/eth $n >/dev/null; done &&
	for n in h12 h22 h32; do $C -w 20 attach globex/eth $n >/dev/null; done
"$B/tools/isolation-check" -c "$D/loomd.conf" >"$D/lab.json"
echo "isolation-check (clean: $(jq .clean "$D/lab.json"))  $(median_ms "$N" "$B/tools/isolation-check" -c "$D/loomd.conf") ms median of $N"
loop() {
	for v in 1 2 3; do
		ip -n "$P-vt$v" -d -j link show
		bridge -n "$P-vt$v" -j fdb show
		vtysh --vty_socket "/var/run/frr/$P-vt$v" -d bgpd -c 'show running-config' -c 'show bgp l2vpn evpn vni json'
	done
}
echo "ip -j + bridge -j + vtysh per VTEP   $(median_ms "$N" loop) ms median of $N"
kill "$LOOMD_PID"; wait "$LOOMD_PID" 2>/dev/null; LOOMD_PID=

echo "## 4. ib-lab, 16 HCAs"
if command -v ibsim >/dev/null && [ -f "$SIM_SO" ]; then
	"$TOP/lab/ib-lab" up --dir "$IB" --hcas 16 >"$D/ib.log" 2>&1 || { cat "$D/ib.log"; exit 1; }
	SOCK=$(sed -n 's/^export IBSIM_SOCKNAME=//p' "$IB/env")
	jq '. + {sites: [{name: "lab"}]}' "$IB/topology.json" >"$D/ib-topo.json"
	printf 'database = %s\ntopology = %s\n' "$D/ib.db" "$D/ib-topo.json" >"$D/ib.conf"
	mapfile -t LIDS < <(jq -r '.nodes[].hca_ports[0].lid' "$IB/topology.json")
	ibcheck() { (cd "$IB" && env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" "$B/tools/isolation-check" -c "$D/ib.conf" --no-vteps); }
	smploop() {
		for l in "${LIDS[@]}"; do
			(cd "$IB" && env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" smpquery pkeys "$l" 1)
		done
	}
	ibcheck >"$D/ib.json"
	echo "isolation-check --no-vteps, ${#LIDS[@]} ports (clean: $(jq .clean "$D/ib.json")) $(median_ms "$N" ibcheck) ms median of $N"
	echo "smpquery pkeys loop, ${#LIDS[@]} ports  $(median_ms "$N" smploop) ms median of $N"
else
	echo "(skipped: no ibsim / umad2sim)"
fi
