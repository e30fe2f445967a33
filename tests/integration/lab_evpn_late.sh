#!/bin/bash
# tests/integration/lab_evpn_late.sh: a VTEP whose namespace does not exist
# yet when loomd starts.  loomd is started on the lab's topology
# (`loom-lab topology`, nothing built), then the lab comes up: the VTEP's
# worker opens its netlink sockets on its first run, and its drift events
# must reach loomd's event loop like those of a VTEP present at start.  The
# periodic resync is an hour away, and once converged nothing is pending
# (no retries), so only the event path can repair the device deleted by
# hand within the test's 5 s.  Needs root, FRR, jq, ping.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null || ! command -v ping >/dev/null; then
	echo "1..0 # SKIP needs root, FRR, jq and ping"
	exit 0
fi
# Unique per run: another build tree may run the same test at once.
P=lmx-l$(printf %03x $(($$ % 4096)))
. "$top_srcdir/tests/integration/lab_evpn_lib.sh"
trap 't_cleanup; echo "1..$T_N"' EXIT

"$LAB" -p "$P" -d "$LAB_DIR" topology >/dev/null && cp "$LAB_DIR/topology.json" "$T_DIR/topology.json"
t_ok $? "the lab's topology, written before any of its namespaces exists"
ip netns list | grep -q "^$P-"
t_ok $((!$?)) "no namespace of the lab exists yet"

lab_loomd "$T_DIR/topology.json" "log_level = debug" "debug = reconcile"
t_ok $? "loomd up (reconcile = yes, resync_interval = 3600) with every VTEP missing"
grep -q "vtep vt1: .*(will retry)" "$T_DIR/loomd.log"
t_ok $? "loomd says it could not open vt1 yet and will retry"

lab_up
t_ok $? "lab up ($P): 3 VTEPs with FRR, 6 hosts, BGP established"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/lab-up.log"; exit 1; }

rc=0
ctl tenant create acme --isolation strict --site "$P" >/dev/null || rc=1
ctl -w 30 segment create acme/a1 --type ethernet >/dev/null || rc=1
for n in h11 h21; do ctl -w 30 attach acme/a1 $n >/dev/null || rc=1; done
t_ok $rc "acme/a1 on vt1 and vt2 (namespaces made after loomd started); -w converged"
SEGS[acme/a1]="h11 h21"
seg_ids acme/a1
t_wait 10 machine_ok && status_ok
t_okd $? "kernel and FRR of all VTEPs hold exactly the model; status programmed" || machine_diag
reaches h11 "$(addr_of h21)"
t_ok $? "h11 reaches h21 across VTEPs"
grep -q "vtep vt1: netlink opened late" "$T_DIR/loomd.log"
t_ok $? "vt1's worker handed its late netlink socket to the event loop"

A1=${VNI_OF[acme/a1]}
NS1=$(vt_ns 1)
kernel1_ok() { [ "$(have_kernel 1)" = "$(want_kernel 1)" ]; }
t_wait 10 status_ok
t=$(now_ms)
ip -n "$NS1" link del "lb$A1"
t_wait 5 kernel1_ok
t_okd $? "drift on a late VTEP: loom bridge lb$A1 deleted by hand on vt1, repaired in $(($(now_ms) - t)) ms (no periodic resync)" ||
	machine_diag
t=$(now_ms)
ip -n "$NS1" link set acc-h11 nomaster
t_wait 5 kernel1_ok
t_okd $? "drift on a late VTEP: acc-h11 set nomaster, repaired in $(($(now_ms) - t)) ms" || machine_diag
t_wait 10 machine_ok && reaches h11 "$(addr_of h21)"
t_ok $? "after the repairs h11 reaches h21 again"

# The carrier watcher follows the access ports of a late VTEP too.
node_state() { [ "$(ctl -o json node show "$1" | jq -r .state)" = "$2" ]; }
ip netns exec "$P-h21" ip link set eth0 down
t_wait 10 node_state h21 cordoned
t_ok $? "carrier lost on h21's access port (vt2, opened late): h21 cordoned by the default policy"
ctl -o json node show h21 | jq -r .reason | grep -q "carrier lost on h21's access port eth0"
t_ok $? "the reason names the port"
ip netns exec "$P-h21" ip link set eth0 up
kill -0 "$LOOMD_PID"
t_ok $? "loomd still running"
t_done
