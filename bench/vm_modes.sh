#!/bin/bash
# bench/vm_modes.sh: the two VTEP modes side by side, in the lab VM (the
# host kernel has no bridge VLAN filtering): N VNIs made until verified and
# removed again by loom's kernel target (tests/integration/kernel_tool
# range, as loomd's worker runs kvtep), and iproute2 making and removing the
# same objects as the baseline of each mode, then a no-change resync of N.
#
#   traditional  per VNI a bridge lbV and a VXLAN device lxV in it
#                ip -batch: 5 lines a VNI (add, add, master, up, up)
#   vlan-aware   one VLAN-filtering bridge, per VNI lxV in it with VLAN X
#                ip -batch: 3 lines a VNI (add with master, up) plus
#                bridge -batch: 1 line a VNI (vlan add ... pvid untagged)
#
# All in fresh namespaces with IPv6 off on new devices (as loom's are),
# removed again.  Run from the repository: tools/vmlab boots the VM.
#   bench/vm_modes.sh [N=1000] [ROUNDS=2]
set -u
N=${1:-1000}
R=${2:-2}
if [ -z "${VMLAB_GUEST:-}" ]; then
	top=$(cd "$(dirname "$0")/.." && pwd)
	exec "$top/tools/vmlab" -t 1200 bash "$0" "$N" "$R"
fi
top=$(cd "$(dirname "$0")/.." && pwd)
T=${top_builddir:-$top/build}/tests/integration/kernel_tool
IP=192.0.2.1
TMP=$(mktemp -d /tmp/vmmodes.XXXXXX)
NS_LIST=()
cleanup() { for ns in "${NS_LIST[@]}"; do ip netns del "$ns" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
[ -x "$T" ] || { echo "build tests/integration/kernel_tool first (make check)"; exit 1; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
fresh() {
	ip netns add "$1" && NS_LIST+=("$1") && ip -n "$1" link set lo up &&
		ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
}

for i in $(seq 1 "$N"); do
	v=$((10000 + i))
	echo "link add lb$v type bridge"
	echo "link add lx$v type vxlan id $v local $IP dstport 4789 nolearning"
	echo "link set lx$v master lb$v"
	echo "link set lb$v up"
	echo "link set lx$v up"
done >"$TMP/trad"
{
	echo "link add lbv type bridge vlan_filtering 1 vlan_default_pvid 0"
	echo "link set lbv up"
	for i in $(seq 1 "$N"); do
		v=$((10000 + i))
		echo "link add lx$v master lbv type vxlan id $v local $IP dstport 4789 nolearning"
		echo "link set lx$v up"
	done
} >"$TMP/va"
for i in $(seq 1 "$N"); do echo "vlan add vid $((i + 1)) dev lx$((10000 + i)) pvid untagged"; done >"$TMP/va-br"
for i in $(seq 1 "$N"); do v=$((10000 + i)); echo "link set lx$v group 9"; echo "link set lb$v group 9"; done >"$TMP/trad-grp"
{ echo "link set lbv group 9"; for i in $(seq 1 "$N"); do echo "link set lx$((10000 + i)) group 9"; done; } >"$TMP/va-grp"

kv() {	# kv MODE NS WHAT: kernel_tool range, its total_ms
	KERNEL_TOOL_MODE=$1 "$T" range "$2" "$IP" 10001 "$N" "$3" >"$TMP/kv" 2>/dev/null ||
		{ cat "$TMP/kv" >&2; return 1; }
	grep -q "errors=0" "$TMP/kv" || { cat "$TMP/kv" >&2; return 1; }
	sed -n 's/.*total_ms=\([0-9.]*\).*/\1/p' "$TMP/kv"
}

echo "# lab VM, kernel $(uname -r), $(nproc) vCPUs (TCG), N=$N VNIs, rounds=$R"
echo "# round mode: ip-batch create / kvtep create (until verified) / ip-batch delete (by group) / kvtep delete, ms"
for r in $(seq 1 "$R"); do
	for mode in traditional vlan-aware; do
		A=vmb-ip-$r-$mode K=vmb-kv-$r-$mode
		fresh "$A" && fresh "$K" || exit 1
		t=$(date +%s%N)
		if [ $mode = traditional ]; then
			ip -n "$A" -batch "$TMP/trad" || exit 1
		else
			ip -n "$A" -batch "$TMP/va" && bridge -n "$A" -batch "$TMP/va-br" || exit 1
		fi
		ipc=$(ms "$t")
		kvc=$(kv $mode "$K" create) || exit 1
		t=$(date +%s%N)
		ip -n "$A" -batch "$TMP/$([ $mode = traditional ] && echo trad || echo va)-grp" &&
			ip -n "$A" link del group 9 || exit 1
		ipd=$(ms "$t")
		kvd=$(kv $mode "$K" delete) || exit 1
		echo "round $r $mode: ip-batch ${ipc} / kvtep ${kvc} / ip-batch ${ipd} / kvtep ${kvd}"
		echo "$mode $ipc $kvc $ipd $kvd" >>"$TMP/res"
		ip netns del "$A"; ip netns del "$K"
	done
done
for mode in traditional vlan-aware; do
	C=vmb-rs-$mode
	fresh "$C" || exit 1
	kv $mode "$C" create >/dev/null || exit 1
	KERNEL_TOOL_MODE=$mode "$T" range "$C" "$IP" 10001 "$N" resync 5 2>/dev/null | grep '^resync' |
		sed "s/^/$mode: /"
	kv $mode "$C" delete >/dev/null
	ip netns del "$C"
done
echo "# medians over the rounds (ms): mode ip-create kvtep-create ip-delete kvtep-delete"
for mode in traditional vlan-aware; do
	printf '%s' "$mode"
	for col in 2 3 4 5; do
		printf ' %s' "$(awk -v m=$mode -v c=$col '$1 == m { print $c }' "$TMP/res" | sort -n |
			awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
	done
	echo
done
