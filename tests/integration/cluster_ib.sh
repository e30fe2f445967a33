#!/bin/bash
# tests/integration/cluster_ib.sh: a subnet manager driven through its
# loom-agent.  A real ibsim fabric with a real OpenSM (lab/ib-lab, 4 HCAs),
# one etcd member, loomd in cluster mode (no umad, no OpenSM of its own)
# and loom-agent kind sm under the umad2sim preload, targets = real,
# fault.counter_interval = 1:
#   - partitions published through etcd are programmed by the agent: the
#     P_Keys are read back from the HCA ports with smpquery, and a detach
#     takes one away again;
#   - `Unlink "hca3"[1]` on ibsim: the agent's HCA watcher sees the port
#     stop answering and writes a signal to etcd; loomd reads it into its
#     fault path and cordons hca3 (reason, audit with the signal's key).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/etcd_lib.sh"
. "$top_srcdir/tests/integration/ib_lib.sh"
AGENT=$top_builddir/loom-agent
ib_skip_unless "$ETCD_BIN"
sim() { "$LAB" sim --dir "$IB" --cmd "$1"; }
has() { case " $(pk "$1") " in *" $2 "*) return 0 ;; esac; return 1; }

t_plan 11
ib_up lca-ib 4 || exit 1
etcd_cluster c 1 || exit 1
printf '%s\n' "name = ib-lab" "kind = sm" "cluster.etcd = $c_EPS" "cluster.lease_ttl = 3" \
	"topology = $T_DIR/topology.json" "targets = real" "resync_interval = 3600" \
	"fault.counter_interval = 1" >"$T_DIR/agent.conf"
# shellcheck source=/dev/null  # written by ib-lab up
( cd "$IB" && . "$IB/env" && exec "$AGENT" -c "$T_DIR/agent.conf" ) 2>>"$T_DIR/agent.log" &
T_PIDS="$T_PIDS $!"
alive() {
	curl -sf -X POST "$c_EPS/v3/kv/range" -d "{\"key\":\"$(printf /loom/v1/alive/ib-lab | base64 -w0)\"}" |
		jq -e '.count == "1"' >/dev/null
}
t_wait 10 alive
t_ok $? "loom-agent kind sm up under the umad2sim preload, holding its lease"

# loomd has no umad and no OpenSM here: everything goes through etcd.
loomd_config "$T_DIR/topology.json" "reconcile = yes" "resync_interval = 3600" "pkey_range = 0x0100-0x01ff" \
	"cluster.etcd = $c_EPS" "cluster.lease_ttl = 3"
loomd_start || exit 1
ctl tenant create acme --isolation strict --site lab >/dev/null &&
	ctl segment create acme/ib --type infiniband --pkey 0x0110 --ipoib --membership full >/dev/null
ctl -w 30 attach acme/ib hca1 >/dev/null && ctl -w 30 attach acme/ib hca2 >/dev/null
t_is "$?" "0" "attach -w hca1 and hca2 to P_Key 0x0110: converged through the agent"
t_is "$(pk hca1)|$(pk hca2)" "0x8110 0xffff|0x8110 0xffff" "  ...smpquery reads 0x8110 (full) on hca1's and hca2's ports"
t_is "$(pk hca3)" "0xffff" "  ...and not on hca3's"
t_is "$(ctl -o json status acme/ib | jq -r '[.segments[] | .layer + ":" + .state] | unique | join(",")'):$(ctl -o json status | jq -r '.targets[] | select(.name == "ib-lab") | .kind')" \
	"opensm:programmed:remote" "  ...status: the agent's opensm items, programmed, on a remote target"
ctl -w 30 detach acme/ib hca2 >/dev/null
gone() { ! has hca2 0x8110; }
t_wait 10 gone
t_ok $? "detach -w hca2: its port no longer carries 0x8110"

t_wait 15 grep -q "HCA watcher: first sample of 4 ports: 4 answer PortInfo" "$T_DIR/agent.log"
t_ok $? "the agent's HCA watcher sampled every node's port"
t_is "$(ctl -o json node show hca3 | jq -r .state)" "available" "hca3 is available"
t0=$(date +%s%N)
sim 'Unlink "hca3"[1]'
cordoned() { [ "$(ctl -o json node show hca3 | jq -r .state)" = cordoned ]; }
t_wait 20 cordoned
t_ok $? "hca3's link unlinked on ibsim: the agent's signal reaches loomd, hca3 cordoned ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
sigkey=$(ctl -o json audit list | jq -r '[.[] | select(.method == "node.fault")] | .[-1].params' | jq -r '.source + " " + .signal')
reason=$(ctl -o json node show hca3 | jq -r .reason)
case "$sigkey|$reason" in
"port-state /loom/v1/signal/ib-lab/"*"|"*"HCA port ibsim0/1 of hca3 does not answer PortInfo through ib-lab"*"(agent ib-lab)"*)
	t_ok 0 "  ...audited as node.fault from $sigkey; reason: $reason" ;;
*) t_ok 1 "  ...audited as node.fault with the signal's key, the reason naming port and agent"; t_diag "$sigkey | $reason" ;;
esac
[ "$T_FAILED" -eq 0 ] || { tail -15 "$T_DIR/agent.log" | sed 's/^/# agent: /'; grep -E 'signal|fault|remote' "$T_DIR/loomd.log" | tail -10 | sed 's/^/# /'; }
t_done
