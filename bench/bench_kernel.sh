#!/bin/bash
# bench/bench_kernel.sh: overlay/kvtep against iproute2 on the same kernel,
# in fresh namespaces (lmk-bench-*) that it removes again.  Needs root.
#
#   (a) program N VNIs (traditional) until verified  vs  ip -batch creating
#       the same objects (bridge, vxlan, master, 2x up: 5 lines a VNI); also
#       vs ip -batch in a namespace whose new devices get IPv6 off, as loom's
#       do (same kernel work, so the difference is the netlink path alone)
#   (b) remove them  vs  ip -batch deleting the devices one by one
#   (c) no-change resync with M VNIs  vs  ip -d link show of the same links,
#       and the diff (kvtep_plan) alone
#
# Usage: bench/bench_kernel.sh [N=1000] [M=4000] [ROUNDS=3]
# Run from the build directory (it needs tests/integration/kernel_tool).
set -u
N=${1:-1000}
M=${2:-4000}
R=${3:-3}
B=${top_builddir:-.}
T=$B/tests/integration/kernel_tool
IP=192.0.2.1
TMP=$(mktemp -d /tmp/lmk-bench.XXXXXX)
NS_LIST=()

cleanup() {
	for ns in "${NS_LIST[@]}"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$T" ] || { echo "build tests/integration/kernel_tool first (make check)"; exit 1; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
fresh() { ip netns add "$1" && NS_LIST+=("$1") && ip -n "$1" link set lo up; }

# The iproute2 baseline's input.
for i in $(seq 1 "$N"); do
	v=$((10000 + i))
	echo "link add lb$v type bridge"
	echo "link add lx$v type vxlan id $v local $IP dstport 4789 nolearning"
	echo "link set lx$v master lb$v"
	echo "link set lb$v up"
	echo "link set lx$v up"
done >"$TMP/create"
for i in $(seq 1 "$N"); do v=$((10000 + i)); echo "link del lx$v"; echo "link del lb$v"; done >"$TMP/del"
for i in $(seq 1 "$N"); do v=$((10000 + i)); echo "link set lx$v group 9"; echo "link set lb$v group 9"; done >"$TMP/grp"

echo "# kernel $(uname -r), $(nproc) CPUs, N=$N M=$M rounds=$R"
for r in $(seq 1 "$R"); do
	A=lmk-bench-ip-$$-$r
	A6=lmk-bench-ip6-$$-$r
	K=lmk-bench-kv-$$-$r
	fresh "$A"; fresh "$A6"; fresh "$K"
	ip netns exec "$A6" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	t=$(date +%s%N); ip -n "$A" -batch "$TMP/create" || exit 1; ipc=$(ms "$t")
	t=$(date +%s%N); ip -n "$A6" -batch "$TMP/create" || exit 1; ip6c=$(ms "$t")
	t=$(date +%s%N); "$T" range "$K" "$IP" 10000 "$N" create >"$TMP/kc" 2>/dev/null || { cat "$TMP/kc"; exit 1; }; kvwall=$(ms "$t")
	kvc=$(sed -n 's/.*total_ms=\([0-9.]*\).*/\1/p' "$TMP/kc")
	echo "create round $r: ip-batch ${ipc} ms; ip-batch with IPv6 off ${ip6c} ms; kvtep ${kvc} ms (process with open+probe ${kvwall} ms)"
	grep '^create' "$TMP/kc" | sed 's/^/#   /'
	echo "create $r $ipc $kvc $kvwall $ip6c" >>"$TMP/res"
	ip -n "$A6" -batch "$TMP/grp"; ip -n "$A6" link del group 9
	if [ "$r" = 1 ]; then
		t=$(date +%s%N); ip -n "$A" -batch "$TMP/del" || exit 1; ipd=$(ms "$t")
	else
		ip -n "$A" -batch "$TMP/grp"; ip -n "$A" link del group 9; ipd=-
	fi
	t=$(date +%s%N); "$T" range "$K" "$IP" 10000 "$N" delete >"$TMP/kd" 2>/dev/null || { cat "$TMP/kd"; exit 1; }; kvdwall=$(ms "$t")
	kvd=$(sed -n 's/.*total_ms=\([0-9.]*\).*/\1/p' "$TMP/kd")
	echo "delete round $r: ip-batch one-by-one ${ipd} ms; kvtep ${kvd} ms (process ${kvdwall} ms)"
	echo "delete $r $ipd $kvd $kvdwall" >>"$TMP/res"
	ip netns del "$A"; ip netns del "$A6"; ip netns del "$K"
done

C=lmk-bench-rs-$$
fresh "$C"
"$T" range "$C" "$IP" 20000 "$M" create >"$TMP/rc" 2>/dev/null || { cat "$TMP/rc"; exit 1; }
grep '^create' "$TMP/rc" | sed 's/^/# setup: /'
links=$(ip -n "$C" -o link | wc -l)
for i in $(seq 1 7); do
	t=$(date +%s%N); ip -n "$C" -d link show >/dev/null; echo $(( ($(date +%s%N) - t) / 1000 ))
done | sort -n >"$TMP/ipshow"
ipshow=$(awk '{a[NR]=$1} END{printf "%.2f", a[int((NR+1)/2)]/1000}' "$TMP/ipshow")
"$T" range "$C" "$IP" 20000 "$M" resync 7 >"$TMP/rs" 2>/dev/null
grep -E '^(resync|round)' "$TMP/rs" | sed 's/^/#   /'
kvs=$(sed -n 's/.*sync_ms_median=\([0-9.]*\).*/\1/p' "$TMP/rs")
plan=$(sed -n 's/.*plan_ms_median=\([0-9.]*\).*/\1/p' "$TMP/rs")
planmax=$(sed -n 's/.*plan_ms_max=\([0-9.]*\).*/\1/p' "$TMP/rs")
echo "resync: $links links; ip -d link show median ${ipshow} ms; kvtep_sync median ${kvs} ms; diff median ${plan} ms (max ${planmax})"
# Remove the M VNIs through loom (by group) before the namespace goes.
"$T" range "$C" "$IP" 20000 "$M" delete >"$TMP/rd" 2>/dev/null
grep '^delete' "$TMP/rd" | sed 's/^/# teardown: /'

echo "## summary"
awk -v ipshow="$ipshow" -v kvs="$kvs" -v plan="$plan" '
	$1 == "create" { c++; ip += $3; kv += $4; kvw += $5; ip6 += $6 }
	$1 == "delete" && $3 != "-" { ipd = $3; kvd1 = $4 }
	$1 == "delete" { d++; kvd += $4 }
	END {
		printf "create: ip-batch mean %.0f ms, kvtep mean %.0f ms (with open+probe %.0f ms): ratio %.2fx (target <= 1.5x)\n", ip / c, kv / c, kvw / c, (kv / c) / (ip / c)
		printf "create: ip-batch with IPv6 off mean %.0f ms: kvtep ratio %.2fx\n", ip6 / c, (kv / c) / (ip6 / c)
		printf "delete: ip-batch one-by-one %.0f ms, kvtep %.0f ms (mean of %d: %.0f ms): %.1fx faster (target >= 3x)\n", ipd, kvd1, d, kvd / d, ipd / kvd1
		printf "resync: ip -d link show %.2f ms, kvtep_sync %.2f ms: ratio %.2fx (target <= 1.2x); diff %.3f ms (target < 5 ms)\n", ipshow, kvs, kvs / ipshow, plan
	}' "$TMP/res"
