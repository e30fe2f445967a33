#!/bin/bash
# tests/integration/lab_tool_cluster.sh: `tools/lab --cluster`, the main job
# run the way a site is run from one controller: the EVPN lab and the
# InfiniBand fabric, a 3-member etcd cluster on a management network of the
# lab's own namespaces, loomd in cluster mode, one loom-agent inside each
# VTEP namespace and one inside the subnet-manager namespace.  Checked here
# against the machine, not against what the script prints about itself:
# every process runs in the namespace it should, etcd is reached over the
# management network only, the reachability matrix (pinged again here) and
# the P_Keys read from the fabric are the tenants'; then `tools/lab down`
# leaves no namespace, process, FRR socket dir or file behind.
# Needs root, FRR, jq, ping, etcd, ibsim and OpenSM.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v ping >/dev/null || ! command -v etcd >/dev/null ||
	! command -v ibsim >/dev/null || ! command -v opensm >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq, ping, etcd, ibsim and OpenSM"
	exit 0
fi
P=lct-$(printf %03x $(($$ % 4096)))
export LOOM_LAB_PREFIX=$P LOOM_LAB_DIR=$T_DIR/lab LOOM_LAB_BUILD=$top_builddir
RUN=$LOOM_LAB_DIR
LAB=$top_srcdir/tools/lab
lab_down() { "$LAB" down >/dev/null 2>&1; }
t_cleanup_add lab_down
trap 't_cleanup; echo "1..$T_N"' EXIT

"$LAB" --cluster >"$T_DIR/out" 2>&1
rc=$?
t_ok $rc "tools/lab --cluster ($P) ran to the end (exit 0)"
[ $rc = 0 ] || { tail -40 "$T_DIR/out" | sed 's/^/# /'; exit 1; }

# Where everything runs.
ns_of() { ip netns identify "$1" 2>/dev/null; }
rc=0
for v in 1 2 3; do
	[ "$(ns_of "$(cat "$RUN/pids/agent-vt$v.pid")")" = "$P-vt$v" ] || { rc=1; t_diag "agent vt$v is not in $P-vt$v"; }
done
[ "$(ns_of "$(cat "$RUN/pids/agent-sm.pid")")" = "$P-sm" ] || { rc=1; t_diag "the SM agent is not in $P-sm"; }
[ "$(ns_of "$(cat "$RUN/loomd.pid")")" = "$P-ctl" ] || { rc=1; t_diag "loomd is not in $P-ctl"; }
for i in 1 2 3; do
	[ "$(ns_of "$(cat "$RUN/pids/etcd-e$i.pid")")" = "$P-e$i" ] || { rc=1; t_diag "etcd e$i is not in $P-e$i"; }
done
[ "$(ns_of "$(cat "$RUN/ib/opensm.pid")")" = "$P-sm" ] || { rc=1; t_diag "OpenSM is not in $P-sm"; }
t_ok $rc "each agent in the namespace it drives (VTEPs, SM host), loomd in $P-ctl, each etcd member in its own"

# etcd only on the management network: each member listens on its own
# address there, nothing on the root namespace's loopback; every agent and
# loomd holds connections to members' management addresses.
rc=0
for i in 1 2 3; do
	ip netns exec "$P-e$i" ss -Hltn "sport = :2379" | grep -q "198.51.100.13$i:2379" || { rc=1; t_diag "e$i does not listen on 198.51.100.13$i"; }
done
etcd_pids=" $(cat "$RUN"/pids/etcd-*.pid | tr '\n' ' ')"
root_etcd=$(ss -Hltnp | grep -o 'pid=[0-9]*' | cut -d= -f2 | while read -r p; do
	case "$etcd_pids" in *" $p "*) echo "$p" ;; esac; done)
[ -z "$root_etcd" ] || { rc=1; t_diag "etcd listens in the root namespace: $root_etcd"; }
t_ok $rc "etcd: 3 members on 198.51.100.131-133 (the management network), none in the root namespace"
to_etcd() {	# NS PID: the process holds a connection to a member's client port
	ip netns exec "$1" ss -Htnp state established "( dport = :2379 )" | grep "pid=$2," | grep -q '198\.51\.100\.13[123]:2379'
}
rc=0
for v in 1 2 3; do to_etcd "$P-vt$v" "$(cat "$RUN/pids/agent-vt$v.pid")" || { rc=1; t_diag "agent vt$v: no etcd connection"; }; done
to_etcd "$P-sm" "$(cat "$RUN/pids/agent-sm.pid")" || { rc=1; t_diag "the SM agent: no etcd connection"; }
to_etcd "$P-ctl" "$(cat "$RUN/loomd.pid")" || { rc=1; t_diag "loomd: no etcd connection"; }
t_ok $rc "every agent and loomd talk to etcd over the management network"

# The targets are remote ones, reported by their agents, all programmed.
st=$("$top_builddir/loomctl" -s "$RUN/loomd.sock" -o json status)
t_is "$(echo "$st" | jq -c '[.targets[] | {name, error}] | sort_by(.name)')" \
	'[{"name":"ib-lab","error":""},{"name":"vt1","error":""},{"name":"vt2","error":""},{"name":"vt3","error":""}]' \
	"loomctl status: the 3 VTEPs and the subnet manager, none in error"
t_is "$(echo "$st" | jq '[.segments[] | select(.state != "programmed")] | length')" 0 "  ...every item programmed"
t_is "$(echo "$st" | jq '[.segments[] | select(.layer == "opensm")] | length')" 2 "  ...the two P_Keys reported by the SM agent"
rc=0
for v in 1 2 3; do
	grep -q 'generation [0-9]* applied' "$RUN/agent-vt$v.log" || rc=1
done
grep -q 'generation [0-9]* applied' "$RUN/agent-sm.log" || rc=1
t_ok $rc "  ...each agent's log shows the slices it applied"

# The matrix as printed, and pinged again here.
declare -A owner=([h11]=acme [h21]=acme [h31]=acme [h12]=blue [h22]=blue [h32]=blue)
hosts="h11 h21 h31 h12 h22 h32"
rc=0
for a in $hosts; do
	row=$(grep "^$a/${owner[$a]} " "$T_DIR/out") || { rc=1; t_diag "no matrix row for $a"; continue; }
	set -- $row
	shift
	for b in $hosts; do
		want=no
		[ "$a" = "$b" ] && want=-
		[ "$a" != "$b" ] && [ "${owner[$a]}" = "${owner[$b]}" ] && want=yes
		[ "$1" = "$want" ] || { rc=1; t_diag "matrix $a -> $b: $1, want $want"; }
		shift
	done
done
t_ok $rc "the printed matrix: hosts reach their own tenant's hosts across VTEPs, no other tenant's"
grep -q '^isolation holds' "$T_DIR/out"
t_ok $? "  ...and the script says isolation holds"
rc=0
for a in h11 h12; do
	for b in $hosts; do
		[ "$a" = "$b" ] && continue
		got=no
		ip netns exec "$P-$a" ping -c 2 -i 0.2 -W 1 "192.0.2.${b#h}" >/dev/null 2>&1 && got=yes
		want=no
		[ "${owner[$a]}" = "${owner[$b]}" ] && want=yes
		[ "$got" = "$want" ] || { rc=1; t_diag "ping $a -> $b: $got, want $want"; }
	done
done
t_ok $rc "pinged again here from h11 and h12: the same"

# P_Keys as printed (from smpquery), and read again here.
pk() { awk -v h="$1" '$1 == h { $1 = $2 = $3 = $4 = $5 = ""; print }' "$T_DIR/out" | xargs; }
rc=0
for h in h11 h21 h31; do [ "$(pk $h)" = "0xffff 0x8100" ] || { rc=1; t_diag "$h: $(pk $h)"; }; done
for h in h12 h22 h32; do [ "$(pk $h)" = "0xffff 0x0101" ] || { rc=1; t_diag "$h: $(pk $h)"; }; done
t_ok $rc "P_Keys printed: acme's hosts 0x8100 (full member of 0x0100), blue's 0x0101 (limited), no other's"
again=$(ip netns exec "$P-sm" "$top_srcdir/lab/ib-lab" pkeys --dir "$RUN/ib" | awk '{ $1 = $2 = $3 = $4 = ""; print }' | xargs)
t_is "$again" "0xffff 0xffff 0x8100 0xffff 0x0101 0xffff 0x8100 0xffff 0x0101 0xffff 0x8100 0xffff 0x0101" \
	"  ...read again from the fabric in $P-sm: the same"

# Down: nothing left.
pids="$(cat "$RUN"/pids/*.pid "$RUN/loomd.pid" "$RUN/ib/opensm.pid" "$RUN/ib/ibsim.pid" "$RUN"/eth/vt*/*.pid 2>/dev/null | tr '\n' ' ')"
"$LAB" down >"$T_DIR/down.out" 2>&1
t_ok $? "tools/lab down"
left=""
for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
t_is "$left" "" "  ...every process it started is gone (agents, loomd, etcd, OpenSM, ibsim, FRR)"
t_is "$(ip netns list | grep -c "^$P-")" 0 "  ...no $P-* namespace is left"
t_is "$(ls -d /var/run/frr/"$P"-* 2>/dev/null | wc -l)" 0 "  ...no FRR socket dir is left"
[ ! -e "$RUN" ]
t_ok $? "  ...and its folder is gone"
t_done
