#!/bin/bash
# tests/integration/isolation_ib.sh: the isolation check on InfiniBand.  A
# real ibsim fabric with OpenSM (lab/ib-lab, 5 HCAs), loomd (under the
# umad2sim preload) puts hca2 in acme/ib (full) and hca3 in globex/ib
# (limited) and is stopped.  The check (tools/isolation-check, reading
# every HCA port's P_Key table with SMPs) must find nothing, then exactly
# what is planted by editing OpenSM's partitions file by hand:
#   hca4 added to acme's partition                pkey_foreign
#   hca3 made a full member of globex's           pkey_full
#   a partition of loom's pool, in loom's section, that no segment is
#                                                 pkey_stale
#   an operator's partition with acme's hca2 (full) and globex's hca3
#                                                 pkey_shared
# TAP output; needs root, ibsim, opensm, infiniband-diags, umad2sim, jq.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

. "$top_srcdir/tests/integration/isolation_lib.sh"
. "$top_srcdir/tests/integration/ib_lib.sh"
ib_skip_unless
trap 't_cleanup; echo "1..$T_N"' EXIT

ib_up lmi-iso 5
PORT=$(jq -r '.nodes[0].hca_ports[0].name' "$IB/topology.json")

loomd_config "$T_DIR/topology.json" "reconcile = yes" "resync_interval = 3600" \
	"pkey_range = 0x0100-0x01ff"
ib_loomd
t_ok $? "loomd up under the umad2sim preload"

rc=0
ctl tenant create acme --site lab >/dev/null || rc=1
ctl tenant create globex --site lab >/dev/null || rc=1
ctl segment create acme/ib --type infiniband --pkey 0x0110 --membership full >/dev/null || rc=1
ctl segment create globex/ib --type infiniband --pkey 0x0120 --membership limited >/dev/null || rc=1
ctl -w 20 attach acme/ib hca2 >/dev/null || rc=1
ctl -w 20 attach globex/ib hca3 >/dev/null || rc=1
t_is "$rc $(pk hca2) / $(pk hca3)" "0 0x8110 0xffff / 0x0120 0xffff" \
	"acme/ib on hca2 (full), globex/ib on hca3 (limited), on the ports"
loomd_stop
t_ok $? "loomd stopped: what follows stays as the test leaves it"

# The check reads the P_Keys through ibsim's umad.
iso_run() {
	(cd "$IB" && env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" \
		"$CHECK" -c "$LOOM_CONF" --out "$T_DIR/report.json")
}
# edit SED-EXPRESSION: the partitions file edited by hand, OpenSM told.
edit() {
	sed -i "$1" "$IB/partitions.conf" && sweep
}

expect "" "the fabric as loomd left it: clean, exit 0"
t_is "$(jq -c .targets "$T_DIR/report.json")" '{"gpus":0,"hca_ports":5,"vteps":0}' \
	"the report counts the five HCA ports it read"

cp "$IB/partitions.conf" "$T_DIR/partitions.orig"
edit "s/\(${GUID[hca2]}=full\)/\1, ${GUID[hca4]}=limited/"
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca4]} 1 2>/dev/null | grep -c 0x0110)\" -ge 1 ]"
t_ok $? "plant: hca4 added to acme's partition by hand; on the port ($(pk hca4))"
expect "pkey_foreign hca4 $PORT" "found: pkey_foreign hca4, and nothing else"
cp "$T_DIR/partitions.orig" "$IB/partitions.conf" && sweep
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca4]} 1 2>/dev/null | grep -c 0x0110)\" = 0 ]"

edit "s/${GUID[hca3]}=limited/${GUID[hca3]}=full/"
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca3]} 1 2>/dev/null | grep -c 0x8120)\" -ge 1 ]"
t_ok $? "plant: hca3 made a full member of globex's partition; on the port ($(pk hca3))"
expect "pkey_full hca3 $PORT" "found: pkey_full hca3, and nothing else"
cp "$T_DIR/partitions.orig" "$IB/partitions.conf" && sweep
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca3]} 1 2>/dev/null | grep -c 0x8120)\" = 0 ]"

# Inside loom's section (outside it, a P_Key of the pool is the operator's
# and reserved: loomd hands it to no segment).
edit "/^# END loom-managed/i stale=0x0150 : ${GUID[hca5]}=full;"
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca5]} 1 2>/dev/null | grep -c 0x8150)\" -ge 1 ]"
t_ok $? "plant: a partition 0x0150 (loom's pool, no segment's) on hca5 ($(pk hca5))"
expect "pkey_stale hca5 $PORT" "found: pkey_stale hca5, and nothing else"
cp "$T_DIR/partitions.orig" "$IB/partitions.conf" && sweep
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca5]} 1 2>/dev/null | grep -c 0x8150)\" = 0 ]"

SM=$(jq -r '.nodes[0].hca_ports[0].sm' "$IB/topology.json")
echo "ops=0x0050 : ${GUID[hca2]}=full, ${GUID[hca3]}=limited;" >>"$IB/partitions.conf" && sweep
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca3]} 1 2>/dev/null | grep -c 0x0050)\" -ge 1 ]"
t_ok $? "plant: an operator's partition 0x0050 with acme's hca2 (full) and globex's hca3 ($(pk hca3))"
expect "pkey_shared $SM pkey 0x0050" "found: pkey_shared $SM pkey 0x0050, and nothing else"
cp "$T_DIR/partitions.orig" "$IB/partitions.conf" && sweep
t_wait 10 sh -c "[ \"\$(cd '$IB' && env IBSIM_SOCKNAME='$SOCK' LD_PRELOAD='$SIM_SO' smpquery pkeys ${LID[hca3]} 1 2>/dev/null | grep -c 0x0050)\" = 0 ]"
expect "" "everything taken back: clean again"
