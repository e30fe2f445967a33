#!/bin/bash
# tests/integration/lab_evpn.sh: EVPN/VXLAN through loomd in the lab
# (EVPN/VXLAN end to end).  A private lab (lab/loom-lab, prefix lmx-eNNN: 3 VTEP
# namespaces with real zebra+bgpd, 6 host namespaces), loomd driving every
# VTEP (reconcile = yes, periodic resync an hour away so repairs come from
# events), driven with loomctl; after each step the kernel (ip -d link),
# FRR (running-config, show bgp l2vpn evpn vni json) and pings between the
# host namespaces are checked against the model this script keeps.
#
# Covers: create / grow / shrink / delete segments; moving a node between
# tenants (pinged from both tenants all along: never reachable from both);
# an operator's bridge and VXLAN device surviving; drift repaired by events
# (loom bridge deleted, loom VXLAN set down, access port set nomaster); FRR
# restart; FRR down (error status, kernel still programmed, intent kept,
# converges after start); bad inputs (a VNI used by an operator's VXLAN
# device, an access port that does not exist).  Needs root, FRR, jq, ping.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v ping >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq and ping"
	exit 0
fi
# Unique per run: another build tree may run the same test at once.
P=lmx-e$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
T0=$(now_ms)
trap 't_cleanup; echo "1..$T_N"' EXIT

lab_up
t_ok $? "lab up ($P): 3 VTEPs with FRR, 6 hosts, BGP established"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }

# One node whose access port does not exist on its VTEP (a bad input).
NODE_VTEP[hg1]=2
NODE_PORT[hg1]=acc-ghost
jq --arg site "$P" '.nodes += [{name: "hg1", site: $site, nic_ports: [{name: "eth0",
	mac: "02:00:c0:00:09:01", vtep: "vt2", access_port: "acc-ghost"}], hca_ports: [], gpus: []}]' \
	"$LAB_DIR/topology.json" >"$T_DIR/topology.json"

# A large batch: BK nodes behind vt2, one access port each (veth pairs
# bkaI/bkbI, both ends in vt2's namespace: the lab takes them down with it).
BK=120
for i in $(seq 1 $BK); do
	echo "link add bka$i type veth peer name bkb$i"
	echo "link set bka$i up"
	echo "link set bkb$i up"
done | ip -n "$(vt_ns 2)" -batch - >/dev/null
for i in $(seq 1 $BK); do
	NODE_VTEP[bk$i]=2
	NODE_PORT[bk$i]=bka$i
	printf '{"name":"bk%d","site":"%s","nic_ports":[{"name":"eth0","mac":"02:00:c0:0a:%02x:%02x","vtep":"vt2","access_port":"bka%d"}],"hca_ports":[],"gpus":[]}\n' \
		"$i" "$P" $((i / 256)) $((i % 256)) "$i"
done >"$T_DIR/bulk-nodes.jsonl"
jq --slurpfile x "$T_DIR/bulk-nodes.jsonl" '.nodes += $x' "$T_DIR/topology.json" >"$T_DIR/topology.json.new" &&
	mv "$T_DIR/topology.json.new" "$T_DIR/topology.json"
t_ok $? "$BK access ports for a large batch on vt2"

# The operator's own devices on vt3, made before loomd starts: a bridge with
# a port and a VXLAN device whose VNI (10900) a bad segment will ask for.
NS3=$(vt_ns 3)
ip -n "$NS3" link add opbr0 type bridge &&
	ip -n "$NS3" link add opvx0 type vxlan id 10900 local 203.0.113.3 dstport 4789 nolearning &&
	ip -n "$NS3" link add opp0 type veth peer name opp1 &&
	ip -n "$NS3" link set opvx0 master opbr0 && ip -n "$NS3" link set opp0 master opbr0 &&
	ip -n "$NS3" link set opvx0 up && ip -n "$NS3" link set opp0 up && ip -n "$NS3" link set opbr0 up
t_ok $? "operator's bridge opbr0 with VXLAN opvx0 (VNI 10900) and port opp0 on vt3"
op_view() {
	ip -n "$NS3" -d -j link show | jq -c '[.[] | select(.ifname | test("^op"))
		| {ifname, ifindex, master, up: ((.flags // []) | any(. == "UP")), ifalias, group}] | sort_by(.ifname)'
}
OP0=$(op_view)

lab_loomd "$T_DIR/topology.json"
t_ok $? "loomd up on the lab's topology (reconcile = yes, resync_interval = 3600)"

# ---- create ---------------------------------------------------------------
rc=0
ctl tenant create acme --isolation strict --site "$P" >/dev/null || rc=1
ctl tenant create blue --isolation strict --site "$P" >/dev/null || rc=1
ctl -w 20 segment create acme/a1 --type ethernet >/dev/null || rc=1
ctl -w 20 segment create blue/b1 --type ethernet >/dev/null || rc=1
for n in h11 h21; do ctl -w 20 attach acme/a1 $n >/dev/null || rc=1; done
for n in h12 h22; do ctl -w 20 attach blue/b1 $n >/dev/null || rc=1; done
t_ok $rc "create: two tenants, one segment each spanning vt1 and vt2; loomctl -w returned converged"
SEGS[acme/a1]="h11 h21"
SEGS[blue/b1]="h12 h22"
seg_ids acme/a1 && seg_ids blue/b1
t_wait 5 machine_ok
t_okd $? "create: kernel and FRR of all VTEPs hold exactly the model" || machine_diag
status_ok && segment_show_ok acme/a1 && segment_show_ok blue/b1
t_ok $? "create: loomctl status and segment show say programmed everywhere"
reaches h11 "$(addr_of h21)" && reaches h12 "$(addr_of h22)"
t_ok $? "create: hosts of one segment reach each other across VTEPs"
never_reaches h11 "$(addr_of h22)" && never_reaches h12 "$(addr_of h21)"
t_ok $? "create: hosts of different tenants do not"

# ---- grow -----------------------------------------------------------------
rc=0
ctl -w 20 attach acme/a1 h31 >/dev/null || rc=1
ctl -w 20 segment create acme/a2 --type ethernet --mtu 1400 >/dev/null || rc=1
ctl -w 20 attach acme/a2 h32 >/dev/null || rc=1
t_ok $rc "grow: a third VTEP joins acme/a1, a second segment acme/a2 (mtu 1400); -w converged"
SEGS[acme/a1]="h11 h21 h31"
SEGS[acme/a2]="h32"
seg_ids acme/a2
t_wait 5 machine_ok && status_ok
t_okd $? "grow: kernel and FRR hold exactly the model; status programmed" || machine_diag
mtu=$(ip -n "$NS3" -j link show "lx${VNI_OF[acme/a2]}" | jq '.[0].mtu')
t_is "$mtu" 1400 "grow: acme/a2's VXLAN device has the segment's MTU"
reaches h31 "$(addr_of h11)" && never_reaches h32 "$(addr_of h31)"
t_ok $? "grow: h31 reaches acme/a1 from vt3; h32 (acme/a2) does not reach it"

# ---- shrink ---------------------------------------------------------------
rc=0
ctl -w 20 detach acme/a2 h32 >/dev/null || rc=1
ctl -w 20 detach acme/a1 h21 >/dev/null || rc=1
t_ok $rc "shrink: detach h32 (acme/a2 left empty) and h21; -w converged"
SEGS[acme/a2]=""
SEGS[acme/a1]="h11 h31"
t_wait 5 machine_ok && status_ok
t_okd $? "shrink: kernel and FRR hold exactly the model (vt2's a1 bridge, vt3's a2 bridge gone)" || machine_diag
m=$(ip -n "$(vt_ns 2)" -j link show acc-h21 | jq -r '.[0].master // "none"')
t_is "$m" none "shrink: the detached access port is released, not deleted"
never_reaches h11 "$(addr_of h21)"
t_ok $? "shrink: h21 is out of acme/a1"

# ---- delete ---------------------------------------------------------------
ctl -w 20 segment delete acme/a2 >/dev/null && ctl -w 20 attach acme/a1 h21 >/dev/null
t_ok $? "delete acme/a2, attach h21 again; -w converged"
unset "SEGS[acme/a2]"
SEGS[acme/a1]="h11 h21 h31"
t_wait 5 machine_ok && status_ok
t_okd $? "delete: kernel and FRR hold exactly the model" || machine_diag
t_is "$(op_view)" "$OP0" "operator's devices on vt3 unchanged so far"

# ---- move a node between tenants ----------------------------------------
# h31 goes from acme/a1 to blue/b1 in one declarative apply; h11 (acme) and
# h12 (blue) ping it every 50 ms all along.
cat >"$T_DIR/move.json" <<EOF
{"tenants": [
 {"name": "acme", "sites": ["$P"], "segments": [{"name": "a1", "type": "ethernet",
   "attachments": [{"node": "h11"}, {"node": "h21"}]}]},
 {"name": "blue", "sites": ["$P"], "segments": [{"name": "b1", "type": "ethernet",
   "attachments": [{"node": "h12"}, {"node": "h22"}, {"node": "h31"}]}]}]}
EOF
ip netns exec "$P-h11" ping -D -n -i 0.05 -W 1 192.0.2.31 >"$T_DIR/ping-acme" 2>&1 &
PA=$!
ip netns exec "$P-h12" ping -D -n -i 0.05 -W 1 192.0.2.31 >"$T_DIR/ping-blue" 2>&1 &
PB=$!
T_PIDS="$T_PIDS $PA $PB"
replies() { grep -c 'bytes from' "$1" 2>/dev/null; }
more_replies() { [ "$(replies "$1")" -ge "$2" ]; }
t_wait 10 more_replies "$T_DIR/ping-acme" 5
before_blue=$(replies "$T_DIR/ping-blue")
tm=$(now_ms)
ctl -w 20 apply -f "$T_DIR/move.json" >/dev/null
rc=$?
t_diag "move: apply -w took $(($(now_ms) - tm)) ms"
t_ok $rc "move: apply -f moves h31 from acme/a1 to blue/b1; -w converged"
SEGS[acme/a1]="h11 h21"
SEGS[blue/b1]="h12 h22 h31"
t_wait 10 more_replies "$T_DIR/ping-blue" 5
acme_n=$(replies "$T_DIR/ping-acme")
more_replies "$T_DIR/ping-acme" $((acme_n + 3))	# any late acme reply would show by now
kill "$PA" "$PB" 2>/dev/null
wait "$PA" "$PB" 2>/dev/null
T_PIDS=$(echo "$T_PIDS" | sed "s/ $PA\b//; s/ $PB\b//")
last_acme=$(grep 'bytes from' "$T_DIR/ping-acme" | tail -1 | sed 's/^\[\([0-9.]*\)\].*/\1/')
first_blue=$(grep 'bytes from' "$T_DIR/ping-blue" | head -1 | sed 's/^\[\([0-9.]*\)\].*/\1/')
t_diag "move: acme's last reply at ${last_acme:-none}, blue's first at ${first_blue:-none}, blue replies before the move: $before_blue"
[ "$before_blue" = 0 ] && [ -n "$last_acme" ] && [ -n "$first_blue" ] &&
	awk -v a="$last_acme" -v b="$first_blue" 'BEGIN { exit !(a < b) }'
t_ok $? "move: h31 answered acme until the move and blue only after it, never both at once"
t_wait 5 machine_ok && status_ok
t_okd $? "move: kernel and FRR hold exactly the model" || machine_diag
never_reaches h11 "$(addr_of h31)" && reaches h22 "$(addr_of h31)" && reaches h11 "$(addr_of h21)"
t_ok $? "move: afterwards h31 is reachable from blue only; acme still works"

# ---- drift, repaired by the event path -----------------------------------
A1=${VNI_OF[acme/a1]}
NS1=$(vt_ns 1)
kernel1_ok() { [ "$(have_kernel 1)" = "$(want_kernel 1)" ]; }
drift() {	# drift WHAT COMMAND...: do it, time the kernel's repair (5 s), then check all
	local what=$1 t ms
	shift
	t=$(now_ms)
	"$@"
	t_wait 5 kernel1_ok
	ms=$(($(now_ms) - t))
	t_wait 10 machine_ok
	t_okd $? "drift: $what repaired in $ms ms (no periodic resync)" || machine_diag
}
drift "loom bridge lb$A1 deleted on vt1" ip -n "$NS1" link del "lb$A1"
drift "loom VXLAN lx$A1 set down on vt1" ip -n "$NS1" link set "lx$A1" down
drift "access port acc-h11 set nomaster on vt1" ip -n "$NS1" link set acc-h11 nomaster
reaches h11 "$(addr_of h21)" && status_ok
t_ok $? "drift: after the repairs h11 reaches h21 again, status programmed"

# ---- FRR restart ------------------------------------------------------------
"$LAB" -p "$P" -d "$LAB_DIR" restart vt2 >/dev/null 2>&1
t=$(now_ms)
t_wait 20 machine_ok && t_wait 10 status_ok
t_okd $? "FRR restart on vt2: loom's vni blocks re-applied in $(($(now_ms) - t)) ms, status programmed" || machine_diag
reaches h11 "$(addr_of h21)" 20
t_ok $? "FRR restart: h11 reaches h21 across VTEPs again"

# ---- FRR down -------------------------------------------------------------
"$LAB" -p "$P" -d "$LAB_DIR" stop vt2 >/dev/null 2>&1
frr_down_seen() {
	ctl -o json status | jq -e '[.segments[] | select(.target == "vt2" and .layer == "frr")]
		| length > 0 and all(.[]; .state == "error" and (.reason | test("not reachable")))' >/dev/null
}
# A write while FRR is down: stored, the kernel part done, FRR reported.
ctl -w 2 detach blue/b1 h22 >"$T_DIR/down.out" 2>&1
rc=$?
t_is "$rc" 6 "FRR down: detach with -w returns 'not converged' (exit 6)"
SEGS[blue/b1]="h12 h31"
t_wait 10 frr_down_seen
t_okd $? "FRR down: status says error for vt2's frr layer, naming FRR as not reachable" ||
	ctl status | sed 's/^/# /'
ctl -o json status | jq -r '.segments[] | select(.target == "vt2") | "\(.layer) \(.state) \(.reason)"' |
	head -2 | sed 's/^/# /'
[ "$(have_kernel 2)" = "$(want_kernel 2)" ] &&
	ctl -o json status | jq -e 'all(.segments[] | select(.target == "vt2" and .layer == "kernel"); .state == "programmed")' >/dev/null
t_okd $? "FRR down: vt2's kernel side is programmed (h22 released)" || machine_diag
ctl -o json segment show blue/b1 | jq -e '[.attachments[].node] | sort == ["h12", "h31"]' >/dev/null
t_ok $? "FRR down: intent kept (blue/b1 holds h12 and h31)"
"$LAB" -p "$P" -d "$LAB_DIR" start vt2 >/dev/null 2>&1
t=$(now_ms)
t_wait 20 machine_ok && t_wait 10 status_ok
t_okd $? "FRR back on vt2: converged in $(($(now_ms) - t)) ms" || { machine_diag; ctl status | sed 's/^/# /'; }

# ---- bad inputs -------------------------------------------------------------
# A VNI that an operator's VXLAN device uses: an error for that VNI on that
# VTEP, naming the device; nothing of loom's for it in the kernel or FRR
# there (FRR would tie the operator's bridge into the tenant); other VNIs fine.
ctl segment create acme/col --type ethernet --vni 10900 >/dev/null
ctl -w 2 attach acme/col h32 >/dev/null 2>&1
rc=$?
t_is "$rc" 6 "collision: attach to a segment with the operator's VNI 10900 does not converge (exit 6)"
col_err() {
	ctl -o json status acme/col | jq -e '[.segments[] | select(.layer == "kernel")]
		| length == 1 and .[0].target == "vt3" and .[0].state == "error" and (.[0].reason | test("opvx0"))' >/dev/null
}
col_err
t_okd $? "collision: status says error for acme/col on vt3, naming opvx0" || ctl status acme/col | sed 's/^/# /'
machine_ok && ctl -o json status | jq -e 'all(.segments[] | select(.segment != "acme/col"); .state == "programmed")' >/dev/null
t_okd $? "collision: no loom device or FRR vni block for 10900; every other VNI programmed" || machine_diag
ctl -o json segment show acme/col | jq -e '.vni == 10900 and [.attachments[].node] == ["h32"]' >/dev/null &&
	t_is "$(op_view)" "$OP0" "collision: intent stored; the operator's devices untouched"
# `wait` judges what the write changed: acme/col's error on vt3 does not fail
# a write that changes only blue/b1 there; the reply still shows it, apart.
ctl -w 20 detach blue/b1 h31 >/dev/null
rc=$?
out=$(ctl -o json -w 20 attach blue/b1 h31 2>/dev/null)
t_is "$rc $?" "0 0" "wait: detach and attach h31 (blue/b1 on vt3, where acme/col is in error) converge (exit 0)"
jq -e '.wait.converged and .wait.not_programmed == []
	and any(.wait.elsewhere_not_programmed[]; .segment == "acme/col" and .target == "vt3" and .state == "error")' \
	<<<"$out" >/dev/null
t_okd $? "wait: the reply lists acme/col's error on vt3 apart, as not this write's" || t_diag "$out"
err=$(ctl -w 20 detach blue/b1 h31 2>&1 >/dev/null)
ctl -w 20 attach blue/b1 h31 >/dev/null 2>&1
echo "$err" | grep -q "note: on the same targets, other segments are not programmed" &&
	echo "$err" | grep -q "vt3 .*acme/col: error"
t_okd $? "wait: loomctl prints the other segment's error as a note, not as this change's" || t_diag "$err"
ctl -w 20 detach acme/col h32 >/dev/null
rc=$?
ctl -w 2 attach acme/col h32 >/dev/null 2>&1
t_is "$rc $?" "0 6" "wait: detaching h32 from acme/col converges; attaching it again (the collision) does not (exit 6)"
t_wait 5 machine_ok
t_okd $? "wait: kernel and FRR hold the model again" || machine_diag
ctl -w 20 segment delete acme/col --cascade >/dev/null
t_ok $? "collision: deleting the segment converges"

# An attachment whose access port is missing on its VTEP.
ctl -w 2 attach acme/a1 hg1 >/dev/null 2>&1
t_is "$?" 6 "missing port: attach hg1 (acc-ghost absent on vt2) does not converge (exit 6)"
ctl -o json status acme/a1 | jq -e '[.segments[] | select(.state != "programmed")]
	| length == 1 and .[0].target == "vt2" and .[0].layer == "kernel" and .[0].state == "error"
	and (.[0].reason | test("acc-ghost"))' >/dev/null
t_okd $? "missing port: error for acme/a1 on vt2's kernel only, naming acc-ghost" || ctl status acme/a1 | sed 's/^/# /'
ctl -o json status acme/a1 | jq -r '.segments[] | select(.state != "programmed") | "#   reason: \(.reason)"'
# The bridge is still made with the ports that exist.
[ "$(have_kernel 2)" = "$(want_kernel 2)" ] && [ "$(have_frr 2)" = "$(want_frr 2)" ] &&
	ctl -o json segment show acme/a1 | jq -e '[.attachments[].node] | sort == ["h11", "h21", "hg1"]' >/dev/null &&
	reaches h11 "$(addr_of h21)"
t_okd $? "missing port: intent stored; vt2 keeps a1 with acc-h21, FRR too; h11 still reaches h21" || machine_diag
ctl -w 20 detach acme/a1 hg1 >/dev/null && t_wait 5 status_ok && machine_ok
t_ok $? "missing port: detaching it converges"

# ---- a large batch ----------------------------------------------------------
# BK new VNIs on vt2 in one apply: FRR's statements go in while the kernel
# makes the devices, and are in before it brings any VNI up (frr_order in
# targets/vtep.c); everything is verified as for any other change.
jq -n --argjson n $BK '{tenants: [{name: "bulk", isolation: "soft",
	segments: [range(1; $n + 1) as $i | {name: "s\($i)", type: "ethernet",
	attachments: [{node: "bk\($i)"}]}]}]}' >"$T_DIR/bulk.json"
ctl -w 60 apply -f "$T_DIR/bulk.json" >/dev/null
t_ok $? "large batch: $BK segments on vt2 in one apply, verified (-w)"
for i in $(seq 1 $BK); do SEGS[bulk/s$i]=bk$i; seg_ids bulk/s$i; done
grep -n -e "vtep vt2: $BK new VNIs and nothing to delete: FRR's statements before any of them goes live" \
	-e "vtep vt2: FRR's statements in (.*): bringing the new VNIs up" "$T_DIR/loomd.log" |
	awk 'NR == 1 && /before any of them/ { a = 1 } NR == 2 && a && /bringing the new VNIs up/ { ok = 1 } END { exit !(ok && NR == 2) }'
t_ok $? "large batch: FRR's statements were in before the kernel brought the new VNIs up"
t_wait 10 status_ok && machine_ok
t_okd $? "large batch: kernel and FRR hold the model on every VTEP" || machine_diag
echo '{"tenants": [{"name": "bulk", "isolation": "soft", "segments": []}]}' >"$T_DIR/bulk-empty.json"
ctl -w 120 apply -f "$T_DIR/bulk-empty.json" >/dev/null
t_ok $? "large batch: all $BK removed in one apply, verified"
for i in $(seq 1 $BK); do unset "SEGS[bulk/s$i]"; done
t_wait 10 status_ok && machine_ok
t_okd $? "large batch: nothing of it left in the kernel or FRR" || machine_diag

t_is "$(op_view)" "$OP0" "operator's bridge, VXLAN device and port on vt3 survived every resync"
kill -0 "$LOOMD_PID"
t_ok $? "loomd still running"
t_diag "lab_evpn.sh took $(($(now_ms) - T0)) ms"
t_done
