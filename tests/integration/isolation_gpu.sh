#!/bin/bash
# tests/integration/isolation_gpu.sh: the isolation check on MIG.  The EVPN
# lab with its GPU node g1 (lab/loom-lab -g: eth0 on vt1 is GPU 0's rail,
# eth1 on vt2 GPU 1's) and NVML's stand-in (tests/fake_nvml, its state in a
# file next to the library).  loomd gives acme a MIG instance on g1 (GPU 0,
# rail eth0 into acme/train) and is stopped.  The check (tools/
# isolation-check, reading MIG instances through NVML and the kernel over
# netlink) finds nothing, then exactly what is planted by hand:
#   an instance created behind loom's back        mig_unowned
#   GPU 0's rail port moved into beta's bridge    port_wrong_bridge + mig_rail
# Needs root, FRR, jq.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
LAB=$top_srcdir/lab/loom-lab
. "$top_srcdir/tests/integration/isolation_lib.sh"
FAKE=$top_builddir/tests/fake_nvml/libfake_nvml.so
P=lgi-$(printf %03x $(($$ % 4096)))

if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v jq >/dev/null || [ ! -f "$FAKE" ]; then
	echo "1..0 # SKIP needs root, FRR, jq and tests/fake_nvml (make check builds it)"
	exit 0
fi
trap 't_cleanup; echo "1..$T_N"' EXIT
lab_down() { "$LAB" -p "$P" -d "$T_DIR/lab" down >/dev/null 2>&1; }
t_cleanup_add lab_down
ctl() { "$LOOMCTL" "$@"; }

out=$("$LAB" -p "$P" -d "$T_DIR/lab" -g up 2>&1)
t_ok $? "lab up with the GPU node g1 ($P)" || { echo "$out" | sed 's/^/#   /'; exit 1; }
mkdir -p "$T_DIR/g1"
cp "$FAKE" "$T_DIR/g1/libnvidia-ml.so.1"
STATE=$T_DIR/g1/libnvidia-ml.so.1.state
printf 'dev h100 1 1 0 1\ndev h100 1 1 0 1\n' >"$STATE"

loomd_config "$T_DIR/lab/topology.json" "vni_range = 10200-10299" "reconcile = yes" \
	"gpu.nvml.g1 = $T_DIR/g1/libnvidia-ml.so.1"
loomd_start
t_ok $? "loomd up, g1's GPUs through the stand-in NVML"
ctl tenant create acme --site "$P" >/dev/null && ctl tenant create beta --site "$P" >/dev/null &&
	ctl segment create acme/train --type ethernet >/dev/null &&
	ctl segment create beta/train --type ethernet >/dev/null &&
	ctl -w 30 attach acme/train h21 >/dev/null && ctl -w 30 attach beta/train h11 >/dev/null
t_ok $? "acme/train on h21, beta/train on h11"
out=$(ctl -o json -w 30 gpu apply acme 1g.10gb --node g1)
t_is "$?:$(echo "$out" | jq -r '.placements[0] | "gpu\(.gpu) \(.network[0].port)"')" "0:gpu0 eth0" \
	"acme's MIG instance on g1 GPU 0, its rail port eth0 in acme/train"
t_is "$(grep -c '^gi' "$STATE")" 1 "the instance is on the GPU (NVML's state)"
t_diag "NVML state: $(tr "\n" "|" <"$STATE")"
loomd_stop
t_ok $? "loomd stopped"

NS1=$P-vt1

expect "" "as loomd left it: clean"
t_is "$(jq -c .targets "$T_DIR/report.json")" '{"gpus":2,"hca_ports":0,"vteps":3}' \
	"the report counts g1's two GPUs"

# A 1g.10gb instance (H100 profile ID 19) at slice 0 of GPU 0 (loom put acme's at
# slice 6), made behind loom's back.
cp "$STATE" "$T_DIR/state.orig"
awk 'BEGIN { d = 0 } /^dev/ { d++ } { print } d == 1 && /^gi/ && !done { print "gi 1 5 19 0 1 0 0"; done = 1 }' \
	"$T_DIR/state.orig" >"$STATE"
t_is "$(grep -c '^gi' "$STATE")" 2 "plant: a second instance on GPU 0 that no tenant was given"
expect "mig_unowned g1 gpu 0" "found: mig_unowned g1 gpu 0, and nothing else"
cp "$T_DIR/state.orig" "$STATE"

VB=$(sqlite3 "$LOOM_DB" "select vni from segments where tenant = 'beta' and name = 'train'" 2>/dev/null)
[ -n "$VB" ] || VB=$(ip -n "$NS1" -j link show master "$(ip -n "$NS1" -j link show acc-h11 | jq -r '.[0].master')" |
	jq -r '.[] | select(.ifname | startswith("lx")) | .ifname | ltrimstr("lx")')
ip -n "$NS1" link set acc-g1a master "lb$VB"
t_ok $? "plant: g1's eth0 (GPU 0's rail, acme's) moved into beta's bridge lb$VB on vt1"
expect "mig_rail g1 gpu 0;port_wrong_bridge vt1 acc-g1a" \
	"found: mig_rail g1 gpu 0 and port_wrong_bridge vt1 acc-g1a, and nothing else"
