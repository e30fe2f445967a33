#!/bin/bash
# tests/integration/lab_delegation_ib.sh: a private tenant's own control
# plane on InfiniBand (docs/delegation.md).  Two real fabrics (lab/ib-lab:
# ibsim with OpenSM each), one topology: subnet manager sm-a with nodes a2
# and a3 stay with the shared instance "main", sm-b with nodes b6 and b7
# are delegated to instance "zeta".  Each loomd runs under its own fabric's
# umad2sim preload, with its own database, socket and P_Key range.
# Checked: each refuses the other's subnet manager and nodes (and changes
# nothing); each partitions file holds only its own instance's partitions,
# next to the Default partition; the ports carry exactly their own
# tenant's P_Key (read back with smpquery); the shared instance's store
# holds nothing of zeta.  Needs root, ibsim, opensm, infiniband-diags, jq.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"

LAB=$top_srcdir/lab/ib-lab
SIM_SO=${LOOM_UMAD2SIM:-/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so}
if [ "$(id -u)" != 0 ] || ! command -v ibsim >/dev/null || ! command -v opensm >/dev/null ||
	! command -v smpquery >/dev/null || [ ! -f "$SIM_SO" ] || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, ibsim, opensm, infiniband-diags, umad2sim and jq"
	exit 0
fi
t_plan 13

IBA=/tmp/lmi-da-$$ IBB=/tmp/lmi-db-$$
ib_down() { "$LAB" down --dir "$IBA" >/dev/null 2>&1; "$LAB" down --dir "$IBB" >/dev/null 2>&1; }
t_cleanup_add ib_down
"$LAB" up --dir "$IBA" --hcas 4 >"$T_DIR/lab-a.out" 2>&1 && "$LAB" up --dir "$IBB" --hcas 8 >"$T_DIR/lab-b.out" 2>&1
t_ok $? "two fabrics up: ibsim + OpenSM each (4 and 8 HCAs)"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR"/lab-?.out; exit 1; }

# Fabric a's hca2, hca3 and fabric b's hca6, hca7 (ibsim numbers the GUIDs
# of both fabrics alike, so b's first HCAs have a's GUIDs).
jq -s '{sites: [{name: "lab"}],
	subnet_managers: [(.[0].subnet_managers[0] | .name = "sm-a"), (.[1].subnet_managers[0] | .name = "sm-b")],
	nodes: ([.[0].nodes[] | select(.name == "hca2" or .name == "hca3")
		 | .name |= ("a" + ltrimstr("hca")) | .hca_ports[0].sm = "sm-a"]
		+ [.[1].nodes[] | select(.name == "hca6" or .name == "hca7")
		 | .name |= ("b" + ltrimstr("hca")) | .hca_ports[0].sm = "sm-b"]),
	delegations: [{instance: "zeta", tenants: ["zeta"], subnet_managers: ["sm-b"], nodes: ["b6", "b7"],
		       vni_range: "20000-20999", pkey_range: "0x0400-0x04ff"}]}' \
	"$IBA/topology.json" "$IBB/topology.json" >"$T_DIR/topology.json"
declare -A LID DIR_OF
while read -r name lid; do LID[$name]=$lid; done < <(jq -r '.nodes[] | "\(.name) \(.hca_ports[0].lid)"' "$T_DIR/topology.json")
DIR_OF=([a2]=$IBA [a3]=$IBA [b6]=$IBB [b7]=$IBB)

loomd_config "$T_DIR/topology.json" "reconcile = yes" "resync_interval = 3600" \
	"vni_range = 10000-19999" "pkey_range = 0x0100-0x03ff"
# shellcheck source=/dev/null  # written by ib-lab up
( cd "$IBA" && . "$IBA/env" && exec "$LOOMD" -f -c "$LOOM_CONF" ) 2>>"$T_DIR/loomd.log" &
LOOMD_PID=$!; T_PIDS="$T_PIDS $LOOMD_PID"
Z_SOCK=$T_DIR/zeta.sock Z_DB=$T_DIR/zeta.db
cat >"$T_DIR/zeta.conf" <<EOC
instance = zeta
socket = $Z_SOCK
database = $Z_DB
topology = $T_DIR/topology.json
reconcile = yes
resync_interval = 3600
vni_range = 20000-20999
pkey_range = 0x0400-0x04ff
EOC
# shellcheck source=/dev/null
( cd "$IBB" && . "$IBB/env" && exec "$LOOMD" -f -c "$T_DIR/zeta.conf" ) 2>>"$T_DIR/zeta.log" &
Z_PID=$!; T_PIDS="$T_PIDS $Z_PID"
ctl() { "$LOOMCTL" "$@"; }
zctl() { "$LOOMCTL" -s "$Z_SOCK" "$@"; }
t_wait 10 ctl info && t_wait 10 zctl info
t_ok $? "main under fabric a's preload, zeta under fabric b's, each with its own database and socket"
[ "$T_FAILED" = 0 ] || { sed 's/^/# /' "$T_DIR/loomd.log" "$T_DIR/zeta.log"; exit 1; }

# A port's P_Key table as its fabric reports it: the non-zero entries, sorted.
pk() {
	local d=${DIR_OF[$1]} sock
	sock=$(sed -n 's/^export IBSIM_SOCKNAME=//p' "$d/env")
	(cd "$d" && env IBSIM_SOCKNAME="$sock" LD_PRELOAD="$SIM_SO" smpquery pkeys "${LID[$1]}" 1 2>/dev/null) |
		tr ' ' '\n' | grep '^0x' | grep -v '^0x0000$' | sort | tr '\n' ' ' | sed 's/ $//'
}
# The partitions in loom's section of a fabric's file, by name.
section() { sed -n '/^# BEGIN loom-managed/,/^# END loom-managed/p' "$1/partitions.conf" | grep -o '^[a-z0-9_-]*='  | tr -d =; }

ctl tenant create acme --site lab >/dev/null && ctl segment create acme/ib --type infiniband >/dev/null &&
	ctl -w 30 attach acme/ib a2 >/dev/null && ctl -w 30 attach acme/ib a3 >/dev/null &&
	zctl tenant create zeta --isolation private --site lab >/dev/null &&
	zctl segment create zeta/ib --type infiniband >/dev/null &&
	zctl -w 30 attach zeta/ib b6 >/dev/null && zctl -w 30 attach zeta/ib b7 >/dev/null
t_ok $? "acme/ib (a2 a3) through main, zeta/ib (b6 b7) through zeta; -w converged on each"
t_is "$(ctl -o json segment show acme/ib | jq -r .pkey)/$(zctl -o json segment show zeta/ib | jq -r .pkey)" \
	"256/1024" "each allocates its P_Key from its own range (0x0100, 0x0400)"
t_is "$(pk a2) / $(pk a3) / $(pk b6) / $(pk b7)" "0x8100 0xffff / 0x8100 0xffff / 0x8400 0xffff / 0x8400 0xffff" \
	"the ports carry exactly their own tenant's P_Key, read back from each fabric"
t_is "$(section "$IBA" | paste -sd,)/$(section "$IBB" | paste -sd,)" "acme_ib/zeta_ib" \
	"each partitions file's loom section holds only its own instance's partition"
t_is "$(ctl -o json status | jq -c '[.targets[].name]')/$(zctl -o json status | jq -c '[.targets[].name]')" \
	'["sm-a"]/["sm-b"]' "main drives sm-a only, zeta sm-b only"

before_s=$(db_state) before_z=$(sqlite3 "$Z_DB" .dump | sha256sum)
refused() {	# refused OUT FIELD DESCRIPTION
	t_is "$(jq -r '.data.name + " " + .data.field' <<<"$1")" "delegated $2" "$3"
}
refused "$(ctl -o json call segment.attach '{"segment":"acme/ib","node":"b6"}' 2>/dev/null)" node \
	"main refuses to attach zeta's b6"
refused "$(ctl -o json call topology.import '{"text":"x","sm":"sm-b"}' 2>/dev/null)" sm \
	"main refuses zeta's subnet manager sm-b"
refused "$(zctl -o json call segment.attach '{"segment":"zeta/ib","node":"a2","membership":"limited"}' 2>/dev/null)" node \
	"zeta refuses main's a2"
t_is "$(db_state)/$(sqlite3 "$Z_DB" .dump | sha256sum)" "$before_s/$before_z" "  ...and neither database changed"
t_is "$(sqlite3 "$LOOM_DB" .dump | grep -ciwE 'zeta|b6|b7|sm-b')" "0" \
	"main's database has no row naming zeta, its nodes or subnet manager"

# main deletes its segment: its ports are emptied, zeta's keep their P_Key.
ctl -w 30 segment delete acme/ib --cascade >/dev/null
t_is "$(pk a2) / $(pk b6) / $(section "$IBA" | wc -l) / $(section "$IBB")" "0xffff / 0x8400 0xffff / 0 / zeta_ib" \
	"main deletes acme/ib: a2 loses 0x0100; b6 and zeta's partition untouched"
t_done
