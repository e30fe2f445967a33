#!/bin/bash
# EVPN through loomd with vlan-aware VTEPs, in the lab VM (the host kernel
# has no bridge VLAN filtering).  The lab (lab/loom-lab: 3 VTEPs with real
# zebra and bgpd, FRR 8.4, 6 hosts) with the topology's default mode auto,
# which the VM's kernel resolves to vlan-aware: one VLAN-filtering bridge
# lbv per VTEP, a VXLAN device per VNI in the VNI's VLAN, access ports
# untagged in theirs.  After each step the kernel (ip -d -j link and
# bridge -j vlan), FRR (running-config, inKernel) and pings between the
# hosts are checked against the model this script keeps, as
# tests/integration/lab_evpn.sh does in traditional mode on the host.
#
# Covers: the isolation matrix between two strict tenants (all 30 ordered
# pairs of hosts); a node moved between tenants by one apply, pinged from
# both all along (never answering both); drift repaired by events (a port's
# VLAN deleted, a VXLAN device deleted, a port set nomaster); loomd killed
# with SIGKILL right after a write and restarted (exact convergence, the
# matrix again); an operator's VLAN-filtering bridge with a VXLAN device
# and a port untouched throughout; a VNI held by that operator device
# (conflict on its VTEP only); everything deleted (lbv gone); two soft
# tenants sharing one node port through VLANs loom allocates (802.1Q
# sub-interfaces on both sides), the isolation matrix over that port and
# the bad inputs (a VLAN in use, a strict tenant asking for one, a whole
# port asked for on a shared one).
# What runs only on the host, in traditional mode: docs/lab.md.
. "$(dirname "$0")/vmlib.sh"
vm_plain_suite_only
vm_enter 900
set -u
. "$top_srcdir/tests/integration/lib.sh"
P=vme$(printf %03x $(($$ % 4096)))
LAB_MODE=vlan-aware
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
T0=$(now_ms)
trap 't_cleanup; echo "1..$T_N"' EXIT

lab_up
t_ok $? "lab up in the VM ($P, $(($(now_ms) - T0)) ms): 3 VTEPs with FRR, 6 hosts, BGP established"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }

# The operator's own devices on vt3, made before loomd starts: a
# VLAN-filtering bridge with a port and a VXLAN device (VNI 10900) in VLAN 10.
NS3=$(vt_ns 3)
ip -n "$NS3" -batch - <<'EOF'
link add opbr0 type bridge vlan_filtering 1
link add opvx0 type vxlan id 10900 local 203.0.113.3 dstport 4789 nolearning
link add opp0 type veth peer name opp1
link set opvx0 master opbr0
link set opp0 master opbr0
link set opvx0 up
link set opp0 up
link set opbr0 up
EOF
bridge -n "$NS3" vlan add vid 10 dev opvx0 pvid untagged && bridge -n "$NS3" vlan add vid 10 dev opp0
t_ok $? "operator's VLAN-filtering bridge opbr0 with VXLAN opvx0 (VNI 10900) and port opp0 on vt3"
op_view() {
	echo "$(ip -n "$NS3" -d -j link show | jq -c '[.[] | select(.ifname | test("^op"))
		| {ifname, ifindex, master, up: ((.flags // []) | any(. == "UP")), ifalias, group}] | sort_by(.ifname)')" \
		"$(bridge -n "$NS3" -j vlan show | jq -c '[.[] | select(.ifname | test("^op"))]')"
}
OP0=$(op_view)

lab_loomd
t_ok $? "loomd up on the lab's topology (mode auto, reconcile = yes, resync an hour away)"
t_wait 20 grep -q "kvtep $P-vt3: auto chose vlan-aware: the kernel has bridge VLAN filtering" "$T_DIR/loomd.log"
t_ok $? "loomd says each VTEP runs vlan-aware, chosen by auto, and why"

# ---- the isolation matrix -------------------------------------------------
HOSTS="h11 h12 h21 h22 h31 h32"
seg_of() { local s; for s in "${!SEGS[@]}"; do [[ " ${SEGS[$s]} " == *" $1 "* ]] && { echo "$s"; return; }; done; }
# Every ordered pair, the sources in parallel: a pair in one segment must
# answer (within 10 s: the first ping across VTEPs waits for EVPN), any
# other pair must not (3 pings).  Prints the pairs that were wrong.
matrix() {
	local a b sa
	for a in $HOSTS; do
		sa=$(seg_of $a)
		for b in $HOSTS; do
			[ $a = $b ] && continue
			if [ -n "$sa" ] && [ "$sa" = "$(seg_of $b)" ]; then
				reaches $a "$(addr_of $b)" 10 || echo "$a-/->$b"
			else
				never_reaches $a "$(addr_of $b)" || echo "$a-->$b"
			fi
		done >"$T_DIR/matrix.$a" &
	done
	wait
	cat "$T_DIR"/matrix.h* | sort | paste -sd' '
}

ctl tenant create acme --isolation strict --site "$P" >/dev/null &&
	ctl tenant create blue --isolation strict --site "$P" >/dev/null &&
	ctl segment create acme/a1 --type ethernet >/dev/null &&
	ctl segment create blue/b1 --type ethernet >/dev/null &&
	for n in h11 h21 h31; do ctl attach acme/a1 $n >/dev/null || exit 1; done &&
	for n in h12 h22; do ctl attach blue/b1 $n >/dev/null || exit 1; done &&
	ctl -w 60 attach blue/b1 h32 >/dev/null
t_ok $? "two strict tenants: acme/a1 on h11 h21 h31, blue/b1 on h12 h22 h32 (3 VTEPs each); -w converged"
SEGS[acme/a1]="h11 h21 h31"
SEGS[blue/b1]="h12 h22 h32"
seg_ids_all
tw=$(now_ms)
machine_wait 60
t_okd $? "kernel (lbv, lxN in their VLANs, ports) and FRR of all VTEPs hold exactly the model ($(($(now_ms) - tw)) ms)" || machine_diag
status_ok
t_ok $? "loomctl status: programmed for every (segment, VTEP) pair"
t_is "$(matrix)" "" "isolation matrix, 30 ordered host pairs: each reaches its own tenant's hosts across VTEPs, none the other's"
# The check's findings but the one it must make: the operator's opvx0
# (VNI 10900, advertised by advertise-all-vni) is vni_unknown.
iso() {
	ctl -o json verify isolation 2>/dev/null | jq -c '[.findings[]? | select(.kind != "vni_unknown"
		or (.evidence | startswith("VXLAN device opvx0") | not)) | .evidence]'
}
t_is "$(iso)" '[]' "verify isolation reads the vlan-aware VTEPs (each VLAN of lbv as a bridge): no finding but the operator's opvx0"

# ---- move a node between tenants ----------------------------------------
# h31 goes from acme/a1 to blue/b1 in one apply (on vt3 only its port's
# VLAN changes, the port stays in lbv); h11 (acme) and h12 (blue) ping it
# every 50 ms all along.
cat >"$T_DIR/move.json" <<EOF
{"tenants": [
 {"name": "acme", "sites": ["$P"], "isolation": "strict", "segments": [{"name": "a1", "type": "ethernet",
   "attachments": [{"node": "h11"}, {"node": "h21"}]}]},
 {"name": "blue", "sites": ["$P"], "isolation": "strict", "segments": [{"name": "b1", "type": "ethernet",
   "attachments": [{"node": "h12"}, {"node": "h22"}, {"node": "h31"}, {"node": "h32"}]}]}]}
EOF
ip netns exec "$P-h11" ping -D -n -i 0.05 -W 1 192.0.2.31 >"$T_DIR/ping-acme" 2>&1 &
PA=$!
ip netns exec "$P-h12" ping -D -n -i 0.05 -W 1 192.0.2.31 >"$T_DIR/ping-blue" 2>&1 &
PB=$!
T_PIDS="$T_PIDS $PA $PB"
replies() { grep -c 'bytes from' "$1" 2>/dev/null; }
more_replies() { [ "$(replies "$1")" -ge "$2" ]; }
t_wait 20 more_replies "$T_DIR/ping-acme" 5
before_blue=$(replies "$T_DIR/ping-blue")
tm=$(now_ms)
ctl -w 60 apply -f "$T_DIR/move.json" >"$T_DIR/move.out" 2>&1
rc=$?
t_ok $rc "move: apply -f moves h31 from acme/a1 to blue/b1; -w converged in $(($(now_ms) - tm)) ms$( [ $rc = 0 ] || sed 's/^/; /' "$T_DIR/move.out" | tr -d '\n')"
SEGS[acme/a1]="h11 h21"
SEGS[blue/b1]="h12 h22 h31 h32"
t_wait 20 more_replies "$T_DIR/ping-blue" 5
acme_n=$(replies "$T_DIR/ping-acme")
sleep 1
kill "$PA" "$PB" 2>/dev/null
wait "$PA" "$PB" 2>/dev/null
T_PIDS=$(echo "$T_PIDS" | sed "s/ $PA\b//; s/ $PB\b//")
last_acme=$(grep 'bytes from' "$T_DIR/ping-acme" | tail -1 | sed 's/^\[\([0-9.]*\)\].*/\1/')
first_blue=$(grep 'bytes from' "$T_DIR/ping-blue" | head -1 | sed 's/^\[\([0-9.]*\)\].*/\1/')
t_diag "move: acme's last reply at ${last_acme:-none} (of $acme_n, $(replies "$T_DIR/ping-acme") after 1 s more), blue's first at ${first_blue:-none}, blue replies before the move: $before_blue"
[ "$before_blue" = 0 ] && [ -n "$last_acme" ] && [ -n "$first_blue" ] &&
	awk -v a="$last_acme" -v b="$first_blue" 'BEGIN { exit !(a < b) }'
t_ok $? "move: h31 answered acme until the move and blue only after it, never both at once"
machine_wait 30 && status_ok
t_okd $? "move: kernel and FRR hold exactly the model; status programmed" || machine_diag

# ---- drift, repaired by the event path -----------------------------------
A1=${VNI_OF[acme/a1]}
NS1=$(vt_ns 1)
V1=$(bridge -n "$NS1" -j vlan show dev acc-h11 | jq '.[0].vlans[0].vlan')
kernel1_ok() { [ "$(have_kernel 1)" = "$(want_kernel 1)" ]; }
drift() {	# drift WHAT COMMAND...: do it, time the kernel's repair, then check all
	local what=$1 t ms
	shift
	t=$(now_ms)
	"$@"
	t_wait 20 kernel1_ok
	ms=$(($(now_ms) - t))
	machine_wait 30
	t_okd $? "drift: $what repaired in $ms ms (no periodic resync)" || machine_diag
}
drift "acc-h11's VLAN $V1 deleted on vt1" bridge -n "$NS1" vlan del vid "$V1" dev acc-h11
drift "VXLAN device lx$A1 deleted on vt1" ip -n "$NS1" link del "lx$A1"
drift "access port acc-h11 set nomaster on vt1" ip -n "$NS1" link set acc-h11 nomaster
reaches h11 "$(addr_of h21)" 10 && status_ok
t_ok $? "drift: after the repairs h11 reaches h21 again, status programmed"

# ---- loomd killed right after a write, restarted -----------------------------
ctl detach blue/b1 h32 >/dev/null && ctl segment create acme/a2 --type ethernet >/dev/null &&
	ctl attach acme/a2 h32 >/dev/null
rc=$?
CHILDREN=$(pgrep -P "$LOOMD_PID" | tr '\n' ' ')
loomd_stop KILL
t_ok $rc "three writes stored (h32 from blue/b1 to a new acme/a2), loomd killed (SIGKILL) at once"
gone() { for c in $CHILDREN; do kill -0 "$c" 2>/dev/null && return 1; done; return 0; }
t_wait 10 gone || for c in $CHILDREN; do kill -KILL "$c" 2>/dev/null; done
SEGS[acme/a2]="h32"
SEGS[blue/b1]="h12 h22 h31"
tr0=$(now_ms)
loomd_start
t_ok $? "loomd restarted on the same database"
seg_ids_all
machine_wait 60 && t_wait 30 status_ok
t_okd $? "after restart: kernel and FRR exactly the model, status programmed ($(($(now_ms) - tr0)) ms)" || machine_diag
t_is "$(matrix)" "" "after restart, isolation matrix: acme/a1 {h11 h21}, acme/a2 {h32}, blue/b1 {h12 h22 h31}; no leak"

# ---- a VNI held by the operator's device ----------------------------------
ctl detach blue/b1 h22 >/dev/null && ctl detach blue/b1 h31 >/dev/null &&
	ctl segment create blue/b9 --type ethernet --vni 10900 >/dev/null && ctl -w 30 attach blue/b9 h22 >/dev/null
t_ok $? "blue/b9 with VNI 10900 (the operator's opvx0 has it on vt3 only) is programmed on h22's vt2"
ctl attach blue/b9 h31 >/dev/null
b9_err() {
	ctl -o json segment show blue/b9 | jq -r '[.status[] | select(.state == "error") | .reason] | join("; ")'
}
t_wait 30 bash -c "$LOOMCTL -o json segment show blue/b9 | jq -e '[.status[] | select(.state == \"error\")] | length > 0'"
t_is "$(b9_err | grep -c 'VNI 10900 is already used by VXLAN device opvx0')" 1 \
	"attached behind vt3 too: vt3 reports the conflict with opvx0, naming it ($(b9_err))"
ctl -w 30 segment delete blue/b9 --cascade >/dev/null 2>&1 || ctl -w 30 segment delete blue/b9 >/dev/null 2>&1
t_is "$(op_view)" "$OP0" "operator's bridge, VXLAN device, port and their VLANs on vt3 unchanged throughout"

# ---- everything deleted ---------------------------------------------------
for s in acme/a1 acme/a2 blue/b1; do ctl -w 60 segment delete "$s" --cascade >/dev/null 2>&1 || ctl -w 60 segment delete "$s" >/dev/null; done
SEGS=()
left=""
for v in 1 2 3; do left="$left$(ip -n "$(vt_ns $v)" -o link show | grep -o ' lbv\| lx[0-9]*' | tr -d '\n')"; done
t_is "$left" "" "all segments deleted: no lbv or lxN left on any VTEP"

# ---- soft tenants sharing one port through VLANs ------------------------
# Node h22's one port carries two soft tenants' segments, s1/x and s2/y,
# each on a VLAN loom allocates for that port (--vlan auto).  In h22's
# namespace an 802.1Q sub-interface per VLAN (each moved into a namespace
# of its own, as a VM or container behind a VF would be, so that the two
# share no routing table); on vt2 loom makes acc-h22.VLAN and puts it in
# the segment.  h31 is in s1/x and h32 in s2/y with whole ports.
ctl tenant create s1 --isolation soft --site "$P" >/dev/null &&
	ctl tenant create s2 --isolation soft --site "$P" >/dev/null &&
	ctl segment create s1/x --type ethernet >/dev/null && ctl segment create s2/y --type ethernet >/dev/null &&
	ctl attach s1/x h22 --vlan auto >"$T_DIR/share1.out" && ctl attach s2/y h22 --vlan auto >"$T_DIR/share2.out" &&
	ctl attach s1/x h31 >/dev/null && ctl -w 60 attach s2/y h32 >/dev/null
t_ok $? "soft tenants s1 and s2 share h22's port: $(cat "$T_DIR/share1.out"), $(cat "$T_DIR/share2.out"); -w converged"
VX=$(ctl -o json segment show s1/x | jq '.attachments[] | select(.node == "h22") | .vlan')
VY=$(ctl -o json segment show s2/y | jq '.attachments[] | select(.node == "h22") | .vlan')
t_is "$VX $VY" "2 3" "the port's VLANs: s1/x has 2, s2/y has 3 (the lowest free, in order)"
# Bad inputs, each refused naming its field, nothing stored.
before=$(ctl -o json segment list | jq -c .)
ctl segment create s2/z --type ethernet >/dev/null && ctl segment create acme/a9 --type ethernet >/dev/null
e1=$(ctl attach s2/z h22 --vlan "$VX" 2>&1)
e2=$(ctl attach acme/a9 h21 --vlan 9 2>&1)
e3=$(ctl attach s2/z h22 2>&1)
ctl segment delete s2/z >/dev/null && ctl segment delete acme/a9 >/dev/null
t_is "$(ctl -o json segment list | jq -c .)" "$before" "bad inputs below changed nothing stored"
case $e1 in *"VLAN $VX on NIC port eth0 of node h22 is taken by segment s1/x"*"(field: vlan)"*) r=0 ;; *) r=1 ;; esac
t_ok $r "a VLAN in use on the port is refused, naming it and the segment that has it: $e1"
case $e2 in *"(field: vlan)"*) r=0 ;; *) r=1 ;; esac
t_ok $r "a strict tenant asking for a VLAN is refused (strict tenants get whole ports): $e2"
case $e3 in *"shared by tagged segments"*) r=0 ;; *) r=1 ;; esac
t_ok $r "a whole-port attachment to a shared port is refused: $e3"

NS22=$P-h22
share_ns h22 a "$VX" 192.0.2.201/24 && share_ns h22 b "$VY" 192.0.2.202/24
t_ok $? "in h22: eth0.$VX (192.0.2.201, s1) and eth0.$VY (192.0.2.202, s2), each in a namespace of its own"
SEGS=()
SEGS[s1/x]="h22@$VX h31"
SEGS[s2/y]="h22@$VY h32"
NODE_VTEP[h22@$VX]=2 NODE_PORT[h22@$VX]=acc-h22.$VX
NODE_VTEP[h22@$VY]=2 NODE_PORT[h22@$VY]=acc-h22.$VY
seg_ids_all
machine_wait 60 && status_ok
t_okd $? "vt2 holds acc-h22.$VX in s1/x's VLAN and acc-h22.$VY in s2/y's; kernel and FRR exactly the model" || machine_diag
# Every ordered pair of the four ends, both directions, in parallel.
end_ns() { case $1 in x22) echo "$NS22"a ;; y22) echo "$NS22"b ;; *) echo "$P-$1" ;; esac; }
end_ip() { case $1 in x22) echo 192.0.2.201 ;; y22) echo 192.0.2.202 ;; *) addr_of "$1" ;; esac; }
end_grp() { case $1 in x22|h31) echo x ;; y22|h32) echo y ;; esac; }
t_is "$(pair_matrix "x22 y22 h31 h32" "x22 y22 h31 h32 h22")" "" "isolation matrix over the shared port: s1's VLAN reaches h31 only, s2's reaches h32 only, both ways; h22's untagged address reaches neither"
t_is "$(iso)" '[]' "verify isolation judges loom's sub-interfaces as the shared port with its tag: no finding but opvx0"
ctl -w 60 detach s2/y h22 >/dev/null
SEGS[s2/y]="h32"
machine_wait 30
t_okd $? "s2/y leaves the shared port: loom deletes acc-h22.$VY, s1/x's VLAN stays" || machine_diag
t_ok "$(ip netns exec "$NS22"a ping -c1 -W2 -q 192.0.2.31 >/dev/null 2>&1; echo $?)" "s1 over the shared port still reaches h31"
for s in s1/x s2/y; do ctl -w 60 segment delete "$s" --cascade >/dev/null; done
SEGS=()
left=""
for v in 1 2 3; do left="$left$(ip -n "$(vt_ns $v)" -o link show | grep -o ' lbv\| lx[0-9]*\| acc-h[0-9]*\.[0-9]*' | tr -d '\n')"; done
t_is "$left" "" "soft segments deleted: no lbv, lxN or sub-interface left"
t_is "$(op_view)" "$OP0" "operator's devices still unchanged"
[ "$T_FAILED" = 0 ] || { t_diag "loomd's log:"; tail -n 30 "$T_DIR/loomd.log" | sed 's/^/#   /'; }
t_diag "vm_evpn.sh took $(($(now_ms) - T0)) ms in the VM"
t_done
