#!/bin/bash
# tests/integration/lab_cluster.sh: the EVPN lab (3 VTEP namespaces with real
# zebra + bgpd) driven through loom-agents: loomd in cluster mode publishes
# each VTEP's slice to etcd and one loom-agent per VTEP runs the kernel and
# FRR target code on it.  A segment across two VTEPs converges (kernel, FRR,
# ping); an agent killed -9 leaves its VTEP untouched (same ifindexes, same
# FRR config, traffic flows) and, restarted, converges without changing it.
# Needs root, FRR, jq, ping, etcd.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/etcd_lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v ping >/dev/null || ! command -v "$ETCD_BIN" >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq, ping and etcd"
	exit 0
fi
P=lmx-c$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
AGENT=$top_builddir/loom-agent
trap 't_cleanup; echo "1..$T_N"' EXIT

lab_up
t_ok $? "lab up ($P): 3 VTEPs with FRR, 6 hosts, BGP established"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }
etcd_cluster c 1 || exit 1

declare -A APID
agent_start() {	# agent_start VTEP-NUMBER
	local n=vt$1
	[ -f "$T_DIR/$n.conf" ] || cat >"$T_DIR/$n.conf" <<CONF
name = $n
kind = vtep
cluster.etcd = $c_EPS
cluster.lease_ttl = 3
topology = $LAB_DIR/topology.json
targets = real
resync_interval = 3600
CONF
	"$AGENT" -c "$T_DIR/$n.conf" 2>>"$T_DIR/$n.log" &
	APID[$1]=$!
	T_PIDS="$T_PIDS $!"
}
for v in 1 2 3; do agent_start $v; done
alive() {	# alive VTEP: its agent's alive key exists
	curl -sf -X POST "${c_EPS%%,*}/v3/kv/range" -d "{\"key\":\"$(printf /loom/v1/alive/%s "$1" | base64 -w0)\"}" |
		jq -e '.count == "1"' >/dev/null
}
rc=0
for v in 1 2 3; do t_wait 20 alive vt$v || rc=1; done
t_ok $rc "three agents up, each holding its lease"
lab_loomd "$LAB_DIR/topology.json" "cluster.etcd = $c_EPS"

rc=0
ctl tenant create acme --isolation strict --site "$P" >/dev/null || rc=1
ctl -w 30 segment create acme/a1 --type ethernet >/dev/null || rc=1
for n in h11 h21; do ctl -w 30 attach acme/a1 $n >/dev/null || rc=1; done
t_ok $rc "a segment across vt1 and vt2 through the agents; loomctl -w returned converged"
SEGS[acme/a1]="h11 h21"
seg_ids acme/a1
machine_wait 30
t_okd $? "kernel and FRR on every VTEP hold what the model says" || machine_diag
reaches h11 "$(addr_of h21)" 10
t_ok $? "h11 reaches h21 across the VTEPs"
status_ok
t_ok $? "loomctl status: every item programmed, reported by the agents (kernel and frr)"

# kill -9 vt1's agent: the VTEP keeps everything, nothing is redone.
idx() { ip -n "$(vt_ns 1)" -j link show | jq -c '[.[] | select(.ifname | test("^l[bx]")) | {ifname, ifindex}] | sort_by(.ifname)'; }
idx_before=$(idx)
frr_before=$(have_frr 1)
kill -KILL "${APID[1]}"; wait "${APID[1]}" 2>/dev/null
sleep 1
t_is "$(idx)" "$idx_before" "agent vt1 killed -9: its VTEP's loom devices keep their ifindexes"
t_is "$(have_frr 1)" "$frr_before" "  ...and FRR keeps its config"
reaches h11 "$(addr_of h21)" 5
t_ok $? "  ...and h11 still reaches h21"
unreach() { ctl -o json status | jq -e '.targets[] | select(.name == "vt1") | .error | startswith("unreachable")' >/dev/null; }
t_wait 8 unreach
t_ok $? "  ...and loomd shows vt1 unreachable"
agent_start 1
t_wait 20 status_ok
t_ok $? "restarted, the agent reports vt1 converged"
t_is "$(idx)" "$idx_before" "  ...without recreating a device (same ifindexes)"
machine_ok
t_okd $? "  ...and the machine matches the model" || machine_diag

# A change while vt3's agent is down reaches it when it comes back.
kill -KILL "${APID[3]}"; wait "${APID[3]}" 2>/dev/null
ctl attach acme/a1 h31 >/dev/null
SEGS[acme/a1]="h11 h21 h31"
agent_start 3
machine_wait 30
t_okd $? "a change made while vt3's agent was down is programmed when it returns" || machine_diag
reaches h31 "$(addr_of h11)" 10
t_ok $? "  ...h31 reaches h11"
[ "$T_FAILED" -eq 0 ] || for v in 1 2 3; do tail -5 "$T_DIR/vt$v.log" | sed "s/^/# vt$v: /"; done
t_done
