#!/bin/bash
# tests/integration/lab_evpn_crash.sh: loomd killed with SIGKILL in the
# middle of a big apply, then restarted, converges to exactly the desired
# state.  A private lab (prefix lmx-cNNN) with 100 extra nodes
# whose access ports are veths made here inside vt3; tenant bulk first holds
# 100 segments (o001..o100, one node each) and one spanning all VTEPs; one
# `apply -f` replaces them with 100 others (s001..s100) on the same nodes, so
# every port moves, and changes the spanning one.  loomd is killed as soon
# as the apply is stored or vt3's kernel shows it under way.
# After a restart every lbN/lxN must exist with exactly its port, no loom
# device may be left over (live or doomed group), and FRR's vni blocks must
# be exactly the model's VNIs on every VTEP.  Needs root, FRR, jq.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, FRR and jq"
	exit 0
fi
P=lmx-c$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
T0=$(now_ms)
trap 't_cleanup; echo "1..$T_N"' EXIT
N=100
NOLD=$N

lab_up
t_ok $? "lab up ($P)"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }

NS3=$(vt_ns 3)
for i in $(seq -f %03g 1 $N); do
	NODE_VTEP[c$i]=3
	NODE_PORT[c$i]=acc-c$i
done
for i in $(seq -f %03g 1 $N); do
	echo "link add acc-c$i type veth peer name pc$i"
	echo "link set pc$i up"
done | ip -n "$NS3" -batch -
t_ok $? "$N veth pairs in vt3 as access ports of $N extra nodes"
for i in $(seq 1 $N); do
	printf '{"name": "c%03d", "site": "%s", "nic_ports": [{"name": "eth0", "mac": "02:00:c0:01:%02x:%02x",
		"vtep": "vt3", "access_port": "acc-c%03d"}], "hca_ports": [], "gpus": []}\n' "$i" "$P" $((i / 256)) $((i % 256)) "$i"
done | jq -s --slurpfile t "$LAB_DIR/topology.json" '$t[0] + {nodes: ($t[0].nodes + .)}' >"$T_DIR/topology.json"
lab_loomd "$T_DIR/topology.json" "log_level = debug" "debug = reconcile"
t_ok $? "loomd up ($N more nodes in the topology)"

# Before: o001..o100 on c001..c100, and span on h11 h21 h31.
{
	echo '{"tenants": [{"name": "bulk", "sites": ["'"$P"'"], "segments": ['
	echo '{"name": "span", "type": "ethernet", "attachments": [{"node": "h11"}, {"node": "h21"}, {"node": "h31"}]}'
	for i in $(seq 1 $NOLD); do
		printf ',{"name": "o%03d", "type": "ethernet", "attachments": [{"node": "c%03d"}]}\n' "$i" "$i"
	done
	echo ']}]}'
} >"$T_DIR/before.json"
# After: s001..s100 on c001..c100, span on h11 h22 h32.
{
	echo '{"tenants": [{"name": "bulk", "sites": ["'"$P"'"], "segments": ['
	echo '{"name": "span", "type": "ethernet", "attachments": [{"node": "h11"}, {"node": "h22"}, {"node": "h32"}]}'
	for i in $(seq -f %03g 1 $N); do
		echo ',{"name": "s'"$i"'", "type": "ethernet", "attachments": [{"node": "c'"$i"'"}]}'
	done
	echo ']}]}'
} >"$T_DIR/after.json"

ctl tenant create bulk --site "$P" >/dev/null &&
	ctl -w 60 apply -f "$T_DIR/before.json" >/dev/null
t_ok $? "before: $NOLD segments on vt3 and one on all VTEPs; apply -w converged"
SEGS[bulk/span]="h11 h21 h31"
for i in $(seq -f %03g 1 $NOLD); do SEGS[bulk/o$i]=c$i; done
seg_ids_all
t_wait 20 machine_ok
t_okd $? "before: kernel and FRR hold exactly the model" || machine_diag

# The big apply, cut off half-way: vt3's bgpd is stopped (SIGSTOP), so
# loomd's worker for vt3 finishes the kernel part and then hangs in FRR's
# part; loomd is killed (SIGKILL) right there, with vt3's kernel in the new
# state and FRR in the old one.  Then bgpd goes on; loomd's vtysh children
# may still hand FRR what they had, which the restarted loomd must cope with.
doomed() { ip -n "$NS3" -o link show group 1819242340 | grep -c .; }
BGPD3=$(cat "$LAB_DIR/vt3/bgpd.pid")
new_ports_in() {	# every new bridge and VXLAN device made, every port in a bridge, up
	local l
	l=$(ip -n "$NS3" -d -o link show)
	[ "$(grep -c 'alias loom:bulk/s[0-9]*' <<<"$l")" -ge $((2 * N)) ] &&
		[ "$(grep -c ': acc-c[0-9]*@.*,UP.* master lb' <<<"$l")" -ge $N ]
}
kill -STOP "$BGPD3"
tk=$(now_ms)
ctl apply -f "$T_DIR/after.json" >"$T_DIR/apply.out" 2>&1
rc=$?
t_wait 30 new_ports_in
seen=$?
CHILDREN=$(pgrep -P "$LOOMD_PID" | tr '\n' ' ')
loomd_stop KILL
k_kill=$(have_kernel 3)
kill -CONT "$BGPD3"
t_diag "apply stored (exit $rc); loomd killed $(($(now_ms) - tk)) ms later with vt3's kernel done and bgpd stopped; its children: ${CHILDREN:-none}"
t_ok $((rc + seen)) "loomd killed (SIGKILL) half-way: vt3's kernel in the new state, FRR's part not done"
gone() { for c in $CHILDREN; do kill -0 "$c" 2>/dev/null && return 1; done; return 0; }
t_wait 10 gone || for c in $CHILDREN; do kill -KILL "$c" 2>/dev/null; done
SEGS=()
SEGS[bulk/span]="h11 h22 h32"
for i in $(seq -f %03g 1 $N); do SEGS[bulk/s$i]=c$i; done
t=$(now_ms)
loomd_start
t_ok $? "loomd restarted on the same database"
seg_ids_all
[ -n "$k_kill" ] && [ "$k_kill" = "$(want_kernel 3)" ]
t_okd $? "at the kill, vt3's kernel held the new segments (the FRR part was cut off)" ||
	{ t_diag "kernel at kill: $k_kill"; t_diag "want: $(want_kernel 3)"; }
t_is "$(intent_of_store)" "$(intent_of_model)" "the apply was stored whole: bulk holds s001..s$N and span on h11 h22 h32"
machine_wait 60
t_okd $? "after restart: every lbN/lxN with its port, no orphan loom device, FRR vni blocks exactly the model's VNIs on all VTEPs (seen $(($(now_ms) - t)) ms after the restart, checks included)" || machine_diag
tc=$(now_ms)
machine_ok
t_diag "one full check of the machine (3 VTEPs, $((N + 1)) segments) takes $(($(now_ms) - tc)) ms of the time above"
t_is "$(doomed)" 0 "after restart: nothing left in the doomed group on vt3"
t_is "$(ip -n "$NS3" -o link show | grep -c ': acc-c[0-9]*@')" $N "after restart: every access port still exists (released or enslaved, never deleted)"
t_wait 20 status_ok
t_okd $? "after restart: loomctl status says programmed for all $((N + 3)) (segment, VTEP) pairs" ||
	ctl status | grep -v programmed | sed 's/^/# /'
grep 'run of generation' "$T_DIR/loomd.log" | sed 's/^/# /' | tail -8
t_diag "lab_evpn_crash.sh took $(($(now_ms) - T0)) ms"
t_done
