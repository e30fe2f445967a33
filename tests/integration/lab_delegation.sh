#!/bin/bash
# tests/integration/lab_delegation.sh: a private tenant's own control plane
# over the real lab (docs/delegation.md).  A private lab (lab/loom-lab: 3
# VTEP namespaces with zebra+bgpd, 6 hosts); the topology delegates vt2
# and vt3 with their hosts to instance "zeta" for private tenant zeta.  Two
# loomd run, each with its own database, socket and VNI range: the shared
# instance "main" drives vt1 only, zeta drives vt2 and vt3 only.  Checked:
# each refuses the other's targets (and changes nothing); the kernel and
# FRR of every VTEP hold exactly the two instances' segments together;
# zeta's hosts reach each other across its VTEPs (VXLAN + EVPN) and never
# the shared tenant's hosts; the shared instance's store, audit, status
# and events hold nothing of zeta; the shared instance's full repair run
# leaves zeta's VTEPs alone.  Needs root, FRR, jq, ping.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v ping >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq and ping"
	exit 0
fi
P=lmx-d$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
trap 't_cleanup; echo "1..$T_N"' EXIT

lab_up
t_ok $? "lab up ($P): 3 VTEPs with FRR, 6 hosts, BGP established"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }

TOPO=$T_DIR/topology.json
jq '. + {delegations: [{instance: "zeta", tenants: ["zeta"], vteps: ["vt2", "vt3"],
	nodes: ["h21", "h22", "h31", "h32"], vni_range: "20000-20999", pkey_range: "0x0400-0x04ff"}]}' \
	"$LAB_DIR/topology.json" >"$TOPO"

lab_loomd "$TOPO" "pkey_range = 0x0100-0x03ff"
t_ok $? "the shared instance (main) up: reconcile = yes, VNIs 10000-10999"
Z_SOCK=$T_DIR/zeta.sock Z_DB=$T_DIR/zeta.db
cat >"$T_DIR/zeta.conf" <<EOC
instance = zeta
socket = $Z_SOCK
database = $Z_DB
topology = $TOPO
log_level = info
reconcile = yes
resync_interval = 3600
vni_range = 20000-20999
pkey_range = 0x0400-0x04ff
EOC
"$LOOMD" -f -c "$T_DIR/zeta.conf" 2>>"$T_DIR/zeta.log" &
Z_PID=$!; T_PIDS="$T_PIDS $Z_PID"
zctl() { "$LOOMCTL" -s "$Z_SOCK" "$@"; }
t_wait 10 zctl info
t_ok $? "instance zeta up: its own database and socket, VNIs 20000-20999"

rc=0
ctl tenant create acme --site "$P" >/dev/null || rc=1
ctl -w 20 segment create acme/net --type ethernet >/dev/null || rc=1
for n in h11 h12; do ctl -w 20 attach acme/net $n >/dev/null || rc=1; done
zctl tenant create zeta --isolation private --site "$P" >/dev/null || rc=1
zctl -w 20 segment create zeta/net --type ethernet >/dev/null || rc=1
for n in h21 h31 h32; do zctl -w 20 attach zeta/net $n >/dev/null || rc=1; done
t_ok $rc "acme/net (h11 h12) through main; zeta/net (h21 h31 h32) through zeta; -w converged on each"
SEGS[acme/net]="h11 h12"
SEGS[zeta/net]="h21 h31 h32"
seg_ids acme/net
VNI_OF[zeta/net]=$(zctl -o json segment show zeta/net | jq -r .vni)
RD_OF[zeta/net]=$(zctl -o json segment show zeta/net | jq -r .rd)
RT_OF[zeta/net]=$(zctl -o json segment show zeta/net | jq -r .rt)
t_is "${VNI_OF[acme/net]}/${VNI_OF[zeta/net]}" "10000/20000" "each instance allocates from its own range"

t_wait 10 machine_ok
t_okd $? "kernel and FRR: vt1 holds acme's VNI only, vt2 and vt3 zeta's only" || machine_diag
t_is "$(ctl -o json status | jq -c '[.targets[].name]')" '["vt1"]' "main drives vt1 only"
t_is "$(zctl -o json status | jq -c '[.targets[].name]')" '["vt2","vt3"]' "zeta drives vt2 and vt3 only"
t_is "$(zctl -o json status | jq -c '[.segments[].state] | unique')" '["programmed"]' \
	"zeta's status: its segment programmed on its VTEPs"

reaches h21 "$(addr_of h31)" && reaches h31 "$(addr_of h32)" && reaches h32 "$(addr_of h21)"
t_ok $? "zeta's hosts reach each other, across vt2 and vt3 (VXLAN, EVPN)"
reaches h11 "$(addr_of h12)"
t_ok $? "acme's hosts reach each other"
never_reaches h21 "$(addr_of h11)" && never_reaches h31 "$(addr_of h12)" && never_reaches h11 "$(addr_of h32)"
t_ok $? "no host of zeta reaches a host of acme, nor the reverse"

# Each refuses the other's targets, naming the delegation; nothing changes.
before_s=$(db_state) before_z=$(sqlite3 "$Z_DB" .dump | sha256sum | cut -d' ' -f1)
out=$(ctl -o json call segment.attach '{"segment":"acme/net","node":"h22"}' 2>/dev/null)
t_is "$(jq -r '.data.name + " " + .data.field' <<<"$out")" "delegated node" "main refuses to attach zeta's h22"
case "$(jq -r .message <<<"$out")" in *"delegated to loom instance zeta (topology delegations[0].nodes[1])"*)
	t_ok 0 "  ...naming the instance and the delegation" ;; *) t_ok 1 "  ...naming the delegation ($out)" ;; esac
out=$(zctl -o json call segment.attach '{"segment":"zeta/net","node":"h22"}' 2>/dev/null)
t_is "$(jq -r .node <<<"$out")" "h22" "zeta attaches h22 (it is zeta's)"
zctl -o json call segment.detach '{"segment":"zeta/net","node":"h22","wait":20}' >/dev/null 2>&1
out=$(zctl -o json call segment.attach '{"segment":"zeta/net","node":"h12"}' 2>/dev/null)
t_is "$(jq -r '.data.name + " " + .data.field' <<<"$out")" "delegated node" "zeta refuses to attach main's h12"
out=$(ctl -o json call node.cordon '{"name":"h31"}' 2>/dev/null)
t_is "$(jq -r .data.name <<<"$out")" "delegated" "main refuses a lifecycle event on zeta's h31"
t_is "$(db_state)" "$before_s" "  ...main's database is as it was"
t_is "$(sqlite3 "$Z_DB" 'select count(*) from attachments')" "3" "  ...zeta's holds its three attachments"

# The shared instance keeps nothing of zeta.
t_is "$(sqlite3 "$LOOM_DB" .dump | grep -ciE 'zeta|h21|h22|h31|h32|vt2|vt3|20000')" "0" \
	"main's database has no row naming zeta, its hosts, VTEPs or VNI"
t_is "$(ctl -o json audit list --limit 1000 | jq '[.[] | tostring | select(test("zeta|h[23][12]"))] | length')" "0" \
	"main's audit names nothing of zeta"
t_is "$(ctl -o json status | jq '[.. | strings | select(test("zeta|20000"))] | length')" "0" \
	"main's status says nothing of zeta"
timeout 2 "$LOOMCTL" -o json events --since 0 >"$T_DIR/main-events" 2>/dev/null
t_is "$(jq -r .node "$T_DIR/main-events" | sort -u | paste -sd,)" "h11,h12" "main's events: its own hosts only"
timeout 2 "$LOOMCTL" -s "$Z_SOCK" -o json events --since 0 >"$T_DIR/zeta-events" 2>/dev/null
t_is "$(jq -r .node "$T_DIR/zeta-events" | sort -u | paste -sd,)" "h21,h22,h31,h32" "zeta's events: its hosts only"

# main restarts (its first run repairs whatever differs on its targets) and
# deletes its segment: zeta's VTEPs are untouched all along.
loomd_stop
lab_loomd "$TOPO" "pkey_range = 0x0100-0x03ff" >/dev/null
ctl -w 20 segment delete acme/net --cascade >/dev/null
t_ok $? "main restarted, then deleted acme/net; -w converged"
unset "SEGS[acme/net]"
t_wait 10 machine_ok
t_okd $? "vt1 is empty; vt2 and vt3 still hold zeta's VNI, exactly" || machine_diag
reaches h21 "$(addr_of h32)"
t_ok $? "zeta's hosts still reach each other"
t_done
