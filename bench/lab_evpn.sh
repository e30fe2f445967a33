#!/bin/bash
# bench/lab_evpn.sh: the EVPN benchmarks through loomd's API into the lab
# (lab/loom-lab: 3 VTEP namespaces with FRR), loomd with reconcile = yes.
#
#   (a) program N VNIs on one VTEP with one `loomctl -w 600 apply -f`, until
#       loom verified them in the kernel and in FRR;  baseline: `ip -batch`
#       creating the same kernel objects alone (bridge, vxlan, vxlan master,
#       access port master, 2x up: 6 lines a VNI) in a fresh namespace that
#       holds the same N access veths;
#   (b) remove the N VNIs (apply a file where the tenant has no segments)
#       until verified gone;  baseline: `ip -batch` deleting the devices
#       one by one (2 lines a VNI);
#   (c) from `segment.attach` returning (no -w) to the first ping that
#       crosses VTEPs (h11 behind vt1 -> h21 behind vt2), P runs, each with
#       h11's ARP retransmit at the default 1 s and at 100 ms.
#
# VNIs only land on a VTEP when a node with a NIC port on it is attached, so
# the topology gets N extra nodes whose access ports are veths made (untimed)
# inside vt1's namespace, with IPv6 off on those veths in both namespaces.
#
# Usage (root, from the top of the tree): bench/lab_evpn.sh [N=1000] [ROUNDS=3] [PINGS=5] [BUILDDIR]
# With LAB_EVPN_PERF=DIR, `perf record -a -g` runs during each loom apply
# (DIR/create-R.data, DIR/delete-R.data) and `perf report` summaries by
# command and symbol are written next to them: where the time goes.
# LAB_EVPN_METRICS=PORT serves loomd's metrics on 127.0.0.1:PORT and scrapes
# them every 50 ms for the whole run; the slowest scrape is printed at the end.
# LAB_EVPN_FRR_APPLY=MODE writes `frr_apply = MODE` into loomd.conf
# (vtysh-session, vtysh or vty; unset: loomd's default).  LAB_EVPN_QUICK=1
# skips the one-by-one `ip -batch` removal baseline (about a minute a round;
# loom's removal is still run and timed, its ratio then printed as 0).
# LAB_EVPN_AGENT=MEMBERS: after all that, the same rounds of (a) and (b)
# again with loomd in cluster mode (cluster.etcd, MEMBERS etcd members on
# loopback, tests/integration/etcd_lib.sh) and one loom-agent per VTEP on
# the real targets (kernel + FRR; vt1's does the work), in the same run:
# `apply -w` returns when vt1's agent reported its run programmed and
# verified; printed with the ratio agent/single-machine per round.
# LAB_EVPN_LOGS=DIR keeps loomd's and the agents' logs there.
# Namespaces are lmb-NNNN-*; everything made is removed on exit.
set -u
N=${1:-1000}
R=${2:-3}
P=${3:-5}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${4:-${top_builddir:-$top/build}}
LOOMD=$B/loomd
LOOMCTL=$B/loomctl
PFX=lmb-$(($$ % 10000))
W=$(mktemp -d /tmp/lmb-evpn.XXXXXX)
chmod 755 "$W"
LAB=$W/eth
loomd_pid=
NS_LIST=()

scrape_pid=
agent_pids=()
cleanup() {
	[ -n "$scrape_pid" ] && kill "$scrape_pid" 2>/dev/null
	for p in "${agent_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${agent_pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null
	[ -n "${LAB_EVPN_PERF:-}" ] && cp "$W"/loomd*.log "$W"/agent-vt*.log "$LAB_EVPN_PERF/" 2>/dev/null
	[ -n "${LAB_EVPN_LOGS:-}" ] && mkdir -p "$LAB_EVPN_LOGS" && cp "$W"/loomd*.log "$W"/agent-vt*.log "$LAB_EVPN_LOGS/" 2>/dev/null
	if [ -n "$loomd_pid" ]; then
		kill "$loomd_pid" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$loomd_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$loomd_pid" 2>/dev/null
	fi
	"$top/lab/loom-lab" -p "$PFX" -d "$LAB" down >/dev/null 2>&1
	for ns in "${NS_LIST[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[ "$(type -t t_cleanup)" = function ] && t_cleanup	# the etcd members
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "lab_evpn: $*" >&2; exit 1; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }
ctl() { "$LOOMCTL" -s "$W/loomd.sock" "$@"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
minmax() { sort -n | awk 'NR==1{mn=$1} {mx=$1} END {print mn" "mx}'; }

[ "$(id -u)" = 0 ] || die "needs root"
[ -x "$LOOMD" ] || die "no $LOOMD (give the build dir)"

# The N access veths (xaI in the bridge, IPv6 off), their peers xbI in a
# namespace of their own (NS-h): the hosts' ends, which a real VTEP does not
# hold either (zebra walks every interface of its namespace per link event).
veths() { # ns
	ip netns add "$1-h" && NS_LIST+=("$1-h")
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$1-h" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	for i in $(seq 1 "$N"); do
		echo "link add xa$i type veth peer name xb$i netns $1-h"
		echo "link set xa$i up"
	done | ip -n "$1" -batch - || die "veths in $1"
	for i in $(seq 1 "$N"); do echo "link set xb$i up"; done | ip -n "$1-h" -batch - || die "veths in $1-h"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=0
}
# CPU time (ms) a process has used so far (user + system).
pid_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat" 2>/dev/null || echo 0
}
# ... vt1's DAEMON (zebra, bgpd): what learning the VNIs costs it.
vt1_cpu() { # DAEMON
	local pid
	pid=$(cat "$LAB/vt1/$1.pid" 2>/dev/null) || { echo 0; return; }
	pid_cpu "$pid"
}

echo "# $(date -u +%FT%TZ) kernel $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); N=$N rounds=$R pings=$P frr_apply=${LAB_EVPN_FRR_APPLY:-default}"
"$top/lab/loom-lab" -p "$PFX" -d "$LAB" up >"$W/lab.log" 2>&1 || { cat "$W/lab.log"; die "lab did not come up"; }
VT1=$PFX-vt1
veths "$VT1"

# Topology: the lab's, plus N nodes on vt1.
for i in $(seq 1 "$N"); do
	printf '{"name":"x%d","site":"%s","hca_ports":[],"gpus":[],"nic_ports":[{"name":"eth0","vtep":"vt1","access_port":"xa%d","mac":"02:00:c6:33:%02x:%02x"}]}\n' \
		"$i" "$PFX" "$i" $((i / 256)) $((i % 256))
done >"$W/extra.jsonl"
jq --slurpfile x "$W/extra.jsonl" '.nodes += $x' "$LAB/topology.json" >"$W/topology.json" || die "topology"

cat >"$W/loomd.conf" <<CONF
socket = $W/loomd.sock
database = $W/loom.db
topology = $W/topology.json
vni_range = 20000-29999
log_level = debug
debug = reconcile
reconcile = yes
resync_interval = 600
CONF
[ -n "${LAB_EVPN_FRR_APPLY:-}" ] && echo "frr_apply = $LAB_EVPN_FRR_APPLY" >>"$W/loomd.conf"
[ -n "${LAB_EVPN_METRICS:-}" ] && echo "metrics.listen = 127.0.0.1:$LAB_EVPN_METRICS" >>"$W/loomd.conf"
"$LOOMD" -f -c "$W/loomd.conf" 2>"$W/loomd.log" &
loomd_pid=$!
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
ctl info >/dev/null || { cat "$W/loomd.log"; die "loomd did not start"; }
# Every target's first run done, so that none delays round 1.
first_runs() { [ "$(ctl -o json status | jq '(.targets | length) > 0 and all(.targets[]; .runs >= 1)')" = true ]; }
for _ in $(seq 100); do first_runs && break; sleep 0.1; done
first_runs || die "loomd's targets did not all run once in 10 s"
if [ -n "${LAB_EVPN_METRICS:-}" ]; then
	( while :; do
		curl -s -o /dev/null --max-time 5 -w '%{time_total}\n' "http://127.0.0.1:$LAB_EVPN_METRICS/metrics" >>"$W/scrapes"
		sleep 0.05
	done ) &
	scrape_pid=$!
fi

# The declarative files: N segments, one access node each; then none.
jq -n --argjson n "$N" '{tenants: [{name: "bench", isolation: "soft",
	segments: [range(1; $n + 1) as $i | {name: "s\($i)", type: "ethernet",
	attachments: [{node: "x\($i)"}]}]}]}' >"$W/full.json"
echo '{"tenants": [{"name": "bench", "isolation": "soft", "segments": []}]}' >"$W/empty.json"

# Baseline input: same objects as loom's traditional mode makes.
for i in $(seq 1 "$N"); do
	v=$((20000 + i))
	echo "link add lb$v type bridge"
	echo "link add lx$v type vxlan id $v local 203.0.113.1 dstport 4789 nolearning"
	echo "link set lx$v master lb$v"
	echo "link set xa$i master lb$v"
	echo "link set lb$v up"
	echo "link set lx$v up"
done >"$W/create"
for i in $(seq 1 "$N"); do v=$((20000 + i)); echo "link del lx$v"; echo "link del lb$v"; done >"$W/del"

# vt1's runs logged in LOG after its first LINES lines: how many, and the
# sums of their phases (a generation can take more than one run: FRR items
# still pending after the 4 s verify poll are retried 1 s later).  (Until
# 2026-12-08 this read from line LINES on, so the line before the apply,
# often vt1's first run at start, was counted as a second run.)
runs_after() { # LOG LINES
	tail -n +"$(($2 + 1))" "$1" | sed -n 's/.*vtep vt1: run of generation [0-9]* took \([0-9.]*\) ms (kernel \([0-9.]*\), frr \([0-9.]*\), verify \([0-9.]*\)).*/\1 \2 \3 \4/p' |
		awk '{n++; t+=$1; k+=$2; f+=$3; v+=$4} END {printf "runs=%d run_ms=%.0f kernel_ms=%.0f frr_apply_ms=%.0f frr_verify_ms=%.0f\n", n, t, k, f, v}'
}
vt1_runs() { runs_after "$W/loomd.log" "$1"; }
loglines() { wc -l <"$W/loomd.log"; }
perf_pid=
perf_start() { # name
	[ -n "${LAB_EVPN_PERF:-}" ] || return 0
	mkdir -p "$LAB_EVPN_PERF"
	perf record -q -a -g -F 199 -o "$LAB_EVPN_PERF/$1.data" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5	# perf opens its per-CPU buffers before the work starts
}
perf_stop() { # name
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid"; while kill -0 "$perf_pid" 2>/dev/null; do sleep 0.1; done
	perf_pid=
	perf report -q -i "$LAB_EVPN_PERF/$1.data" --no-children --sort comm >"$LAB_EVPN_PERF/$1.comm.txt" 2>/dev/null
	perf report -q -i "$LAB_EVPN_PERF/$1.data" --no-children --sort comm,sym -g none 2>/dev/null | head -80 >"$LAB_EVPN_PERF/$1.sym.txt"
}

for r in $(seq 1 "$R"); do
	BNS=$PFX-ip$r
	ip netns add "$BNS" && NS_LIST+=("$BNS")
	ip -n "$BNS" link set lo up
	veths "$BNS"

	t=$(now); ip -n "$BNS" -batch "$W/create" || die "ip -batch create"; ipc=$(ms "$t" "$(now)")
	l0=$(loglines)
	perf_start "create-$r"
	z0=$(vt1_cpu zebra); b0=$(vt1_cpu bgpd); m0=$(pid_cpu "$loomd_pid")
	t=$(now); ctl -w 600 apply -f "$W/full.json" >/dev/null || die "apply (exit $?): $(tail -5 "$W/loomd.log")"; lc=$(ms "$t" "$(now)")
	zc=$(($(vt1_cpu zebra) - z0)); bc=$(($(vt1_cpu bgpd) - b0)); mc=$(($(pid_cpu "$loomd_pid") - m0))
	perf_stop "create-$r"
	st=$(vt1_runs "$l0")
	nbr=$(ip -n "$VT1" -o link show type bridge | grep -c .)
	nvni=$(vtysh --vty_socket "/var/run/frr/$VT1" -c 'show evpn vni json' | jq 'length')
	[ "$nbr" -ge "$N" ] && [ "$nvni" -ge "$N" ] || die "after apply: $nbr bridges, $nvni VNIs in zebra"
	echo "create round $r: ip-batch ${ipc} ms; loom apply -w ${lc} ms; vt1 $st; zebra CPU ${zc} ms; bgpd CPU ${bc} ms; loomd CPU ${mc} ms; bridges $nbr, zebra VNIs $nvni"

	ipd=0
	if [ -z "${LAB_EVPN_QUICK:-}" ]; then
		t=$(now); ip -n "$BNS" -batch "$W/del" || die "ip -batch del"; ipd=$(ms "$t" "$(now)")
	fi
	l0=$(loglines)
	perf_start "delete-$r"
	t=$(now); ctl -w 600 apply -f "$W/empty.json" >/dev/null || die "apply empty (exit $?)"; ld=$(ms "$t" "$(now)")
	perf_stop "delete-$r"
	st2=$(vt1_runs "$l0")
	nbr=$(ip -n "$VT1" -o link show type bridge | grep -c .)
	[ "$nbr" -eq 0 ] || die "after removal: $nbr bridges left"
	# zebra drops its VNIs as it reads the kernel's RTM_DELLINKs: not
	# part of loom's verdict (bgpd no longer has the vni blocks), timed apart.
	zl=0
	for _ in $(seq 600); do
		nvni=$(vtysh --vty_socket "/var/run/frr/$VT1" -c 'show evpn vni json' | jq 'length')
		[ "$nvni" -eq 0 ] && break
		sleep 0.1
	done
	zl=$(ms "$t" "$(now)")
	[ "$nvni" -eq 0 ] || echo "# zebra still lists $nvni VNIs 60 s after the removal"
	echo "delete round $r: ip-batch one-by-one ${ipd} ms; loom apply -w ${ld} ms (zebra empty after ${zl} ms); vt1 $st2"
	kc=$(echo "$st" | sed 's/.*kernel_ms=\([0-9]*\).*/\1/')
	echo "$ipc $lc $ipd $ld $kc" >>"$W/res"
	echo "$lc $ld" >>"$W/single"
	ip netns del "$BNS"; ip netns del "$BNS-h"
done
awk '{print $2 / $1}' "$W/res" >"$W/rc"; awk '{print $3 / $4}' "$W/res" >"$W/rd"
echo "create: ip-batch median $(cut -d' ' -f1 "$W/res" | median) ms [$(cut -d' ' -f1 "$W/res" | minmax)];" \
	"loom median $(cut -d' ' -f2 "$W/res" | median) ms [$(cut -d' ' -f2 "$W/res" | minmax)];" \
	"ratio loom/ip median $(median <"$W/rc") [$(minmax <"$W/rc")] (target <= 1.5)"
awk '{print $5 / $1}' "$W/res" >"$W/rk"
echo "create: loom's kernel part median $(cut -d' ' -f5 "$W/res" | median) ms [$(cut -d' ' -f5 "$W/res" | minmax)]; ratio kernel part/ip median $(median <"$W/rk") [$(minmax <"$W/rk")]"
echo "delete: ip-batch median $(cut -d' ' -f3 "$W/res" | median) ms [$(cut -d' ' -f3 "$W/res" | minmax)];" \
	"loom median $(cut -d' ' -f4 "$W/res" | median) ms [$(cut -d' ' -f4 "$W/res" | minmax)];" \
	"speed-up ip/loom median $(median <"$W/rd") [$(minmax <"$W/rd")] (target >= 3)"

# (c) attach -> first ping across VTEPs.  h21 (vt2) is in the segment
# already; h11 (vt1) is attached, pinged, detached again in each run.
ctl tenant create pt --isolation soft >/dev/null || die "tenant pt"
ctl segment create pt/net --type ethernet >/dev/null || die "segment pt/net"
ctl -w 60 attach pt/net h21 >/dev/null || die "attach h21"
H11=$PFX-h11
for run in $(seq 1 "$P"); do
	for arp in 1000 100; do
		ip netns exec "$H11" sysctl -qw net.ipv4.neigh.eth0.retrans_time_ms=$arp
		ip -n "$H11" neigh flush all; ip -n "$PFX-h21" neigh flush all
		ctl attach pt/net h11 >/dev/null || die "attach h11"
		t=$(now)
		ip netns exec "$H11" ping -q -c 1 -i 0.01 -w 10 192.0.2.21 >/dev/null || die "no ping within 10 s"
		p=$(ms "$t" "$(now)")
		echo "ping run $run arp ${arp}ms: attach returned -> first reply ${p} ms"
		echo "$p" >>"$W/ping$arp"
		ctl -w 30 detach pt/net h11 >/dev/null || die "detach h11"
	done
done
ip netns exec "$H11" sysctl -qw net.ipv4.neigh.eth0.retrans_time_ms=1000
for arp in 1000 100; do
	echo "attach->ping (ARP retransmit ${arp} ms): median $(median <"$W/ping$arp") ms [$(minmax <"$W/ping$arp")] over $P runs (target < 2000)"
done
if [ -n "$scrape_pid" ]; then
	kill "$scrape_pid" 2>/dev/null; scrape_pid=
	awk '{ n++; if ($1 > m) m = $1 } END { printf "metrics: %d scrapes during the run, the slowest %.1f ms (target < 100)\n", n, m * 1000 }' "$W/scrapes"
fi

[ -n "${LAB_EVPN_AGENT:-}" ] || exit 0

# The same rounds through an agent: loomd in cluster mode, one loom-agent
# per VTEP on the real targets, etcd on loopback.
kill "$loomd_pid"; wait "$loomd_pid" 2>/dev/null; loomd_pid=
top_srcdir=$top top_builddir=$B
. "$top/tests/integration/lib.sh" >/dev/null
. "$top/tests/integration/etcd_lib.sh"
trap cleanup EXIT
etcd_cluster lb "$LAB_EVPN_AGENT" || die "etcd did not come up"
for v in 1 2 3; do
	cat >"$W/agent-vt$v.conf" <<CONF
name = vt$v
kind = vtep
cluster.etcd = $lb_EPS
cluster.lease_ttl = 10
topology = $W/topology.json
targets = real
resync_interval = 600
log_level = debug
${LAB_EVPN_FRR_APPLY:+frr_apply = $LAB_EVPN_FRR_APPLY}
CONF
	"$B/loom-agent" -c "$W/agent-vt$v.conf" 2>"$W/agent-vt$v.log" &
	agent_pids+=($!)
done
# Every agent holds its lease before loomd starts (-w fails at once for a
# target whose agent is not alive).
alive3() {
	curl -sf -X POST "${lb_EPS%%,*}/v3/kv/range" -d "{\"key\":\"$(printf /loom/v1/alive/ | base64 -w0)\",\"range_end\":\"$(printf /loom/v1/alive0 | base64 -w0)\",\"count_only\":true}" |
		jq -e '.count == "3"' >/dev/null
}
t_wait 30 alive3 || die "the agents did not take their leases: $(tail -3 "$W/agent-vt1.log")"
sed -e "s|^database = .*|database = $W/loom-cluster.db|" "$W/loomd.conf" >"$W/loomd-cluster.conf"
echo "cluster.etcd = $lb_EPS" >>"$W/loomd-cluster.conf"
"$LOOMD" -f -c "$W/loomd-cluster.conf" 2>"$W/loomd-cluster.log" &
loomd_pid=$!
for _ in $(seq 100); do ctl info >/dev/null 2>&1 && break; sleep 0.1; done
ctl info >/dev/null || { cat "$W/loomd-cluster.log"; die "loomd (cluster mode) did not start"; }
etcd_gen() { # KEY: the generation in its value
	curl -sf -X POST "${lb_EPS%%,*}/v3/kv/range" -d "{\"key\":\"$(printf %s "$1" | base64 -w0)\"}" |
		jq -r '.kvs[0].value // empty' | base64 -d | jq -r .generation
}
reported() { # NAME: status/NAME carries desired/NAME's generation
	local d
	d=$(etcd_gen "/loom/v1/desired/$1")
	[ -n "$d" ] && [ "$(etcd_gen "/loom/v1/status/$1")" = "$d" ]
}
agent_runs() { runs_after "$W/agent-vt1.log" "$1"; }	# LINES: vt1's agent's runs after them
echo "# through an agent: loomd cluster.etcd = $lb_EPS ($LAB_EVPN_AGENT member(s)), loom-agent vt1..vt3 on the real targets"
for r in $(seq 1 "$R"); do
	l0=$(wc -l <"$W/agent-vt1.log")
	z0=$(vt1_cpu zebra)
	t=$(now); ctl -w 600 apply -f "$W/full.json" >/dev/null || die "apply through the agent (exit $?): $(tail -5 "$W/agent-vt1.log")"; lcw=$(ms "$t" "$(now)")
	t_wait 600 reported vt1 || die "vt1's agent did not report the VNIs"; lc=$(ms "$t" "$(now)")
	zc=$(($(vt1_cpu zebra) - z0))
	st=$(agent_runs "$l0")
	nbr=$(ip -n "$VT1" -o link show type bridge | grep -c .)
	nvni=$(vtysh --vty_socket "/var/run/frr/$VT1" -c 'show evpn vni json' | jq 'length')
	[ "$nbr" -ge "$N" ] && [ "$nvni" -ge "$N" ] || die "after apply through the agent: $nbr bridges, $nvni VNIs in zebra"
	l0=$(wc -l <"$W/agent-vt1.log")
	t=$(now); ctl -w 600 apply -f "$W/empty.json" >/dev/null || die "apply empty through the agent (exit $?)"; lw=$(ms "$t" "$(now)")
	# Timed until vt1's agent reported the generation that removes them
	# (in etcd, beside -w's answer).
	t_wait 600 reported vt1 || die "vt1's agent did not report the removal"; ld=$(ms "$t" "$(now)")
	st2=$(agent_runs "$l0")
	nbr=$(ip -n "$VT1" -o link show type bridge | grep -c .)
	[ "$nbr" -eq 0 ] || die "after removal through the agent: $nbr bridges left"
	for _ in $(seq 600); do
		[ "$(vtysh --vty_socket "/var/run/frr/$VT1" -c 'show evpn vni json' | jq 'length')" -eq 0 ] && break
		sleep 0.1
	done
	read -r sc sd < <(sed -n "${r}p" "$W/single")
	echo "agent round $r: create apply until vt1's agent reported ${lc} ms (single-machine round $r: ${sc} ms, ratio $(awk -v a="$lc" -v b="$sc" 'BEGIN {printf "%.2f", a / b}'); -w returned after ${lcw} ms); agent vt1 $st; zebra CPU ${zc} ms"
	echo "agent round $r: delete apply until vt1's agent reported ${ld} ms (single-machine round $r: ${sd} ms, ratio $(awk -v a="$ld" -v b="$sd" 'BEGIN {printf "%.2f", a / b}'); -w returned after ${lw} ms); agent vt1 $st2"
	echo "$lc $ld" >>"$W/agent"
done
paste -d' ' "$W/single" "$W/agent" | awk '{print $3 / $1}' >"$W/rac"
paste -d' ' "$W/single" "$W/agent" | awk '{print $4 / $2}' >"$W/rad"
echo "through an agent: create median $(cut -d' ' -f1 "$W/agent" | median) ms [$(cut -d' ' -f1 "$W/agent" | minmax)] against single-machine median $(cut -d' ' -f1 "$W/single" | median) ms;" \
	"ratio agent/single median $(median <"$W/rac") [$(minmax <"$W/rac")]"
echo "through an agent: delete median $(cut -d' ' -f2 "$W/agent" | median) ms [$(cut -d' ' -f2 "$W/agent" | minmax)] against single-machine median $(cut -d' ' -f2 "$W/single" | median) ms;" \
	"ratio agent/single median $(median <"$W/rad") [$(minmax <"$W/rad")]"
