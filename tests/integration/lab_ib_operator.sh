#!/bin/bash
# tests/integration/lab_ib_operator.sh: the operator's own partitions use
# P_Keys inside loom's pool.  A real ibsim fabric with a real OpenSM
# (lab/ib-lab, 4 HCAs), loomd under the umad2sim preload with its
# reconciler on.  loom must read what the operator's lines use, never
# allocate it (also one added while loomd runs), list it in `info`, refuse
# a --pkey that collides (conflict on pkey, the database and the
# partitions file byte for byte as they were), and program its own
# partitions next to the operator's, read back from the ports with
# smpquery.  TAP output; needs root, ibsim, opensm, infiniband-diags.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/ib_lib.sh"
ib_skip_unless
# The database file and its WAL, byte for byte.
db_bytes() { cat "$LOOM_DB" "$LOOM_DB-wal" 2>/dev/null | sha256sum | cut -d' ' -f1; }

t_plan 14
ib_up lop-ib 4 || exit 1


# The operator's partitions, inside loom's pool 0x0100-0x01ff, before loomd starts.
printf '%s\n' "storage=0x0101, ipoib : ${GUID[hca3]}=full;  # the operator's own" \
	"0x0102 : ${GUID[hca4]}=full;" >>"$IB/partitions.conf"
sweep

loomd_config "$T_DIR/topology.json" "reconcile = yes" "resync_interval = 3600" \
	"pkey_range = 0x0100-0x01ff"
ib_loomd
t_ok $? "loomd up under the umad2sim preload, reconcile on"

t_is "$(ctl -o json info | jq -r '[.pools.operator_pkeys[] | "\(.pkey):\(.partition)"] | join(" ")')" \
	"0x0101:storage 0x0102:" "info lists the operator's P_Keys inside the pool (one named, one not)"

ctl tenant create acme --site lab >/dev/null
ctl -w 20 segment create acme/a --type infiniband >/dev/null
ctl -w 20 segment create acme/b --type infiniband >/dev/null
hexkey() { ctl -o json segment show "$1" | jq -r .pkey | xargs printf '0x%04x'; }
t_is "$(hexkey acme/a) $(hexkey acme/b)" "0x0100 0x0103" "allocation skips the operator's 0x0101 and 0x0102"

# A --pkey that collides: refused on the field, nothing written anywhere.
before=$(db_bytes)
conf=$(sha256sum <"$IB/partitions.conf")
out=$(ctl -o json segment create acme/c --type infiniband --pkey 0x0101 2>/dev/null)
r=$?
t_is "$r $(echo "$out" | jq -r '.data.name') $(echo "$out" | jq -r '.data.field')" "1 conflict pkey" \
	"--pkey 0x0101 (the operator's) refused: conflict on pkey"
echo "$out" | jq -r .message | grep -q "P_Key 0x0101 is the operator's: partition 'storage' in $IB/partitions.conf"
t_ok $? "the refusal names the operator's partition and the file ($(echo "$out" | jq -r .message))"
t_is "$(db_bytes) $(sha256sum <"$IB/partitions.conf")" "$before $conf" \
	"the refusal leaves the database file and the partitions file byte-identical"

# The same through a declarative apply.  The file leaves out acme/a and
# acme/b, so the request deletes them before it meets the collision: the
# refusal must still leave the file byte for byte as it was (a batch whose
# every write was refused is rolled back, not committed).
printf '{"tenants":[{"name":"acme","sites":["lab"],"segments":[{"name":"c","type":"infiniband","pkey":"0x0102"}]}]}\n' \
	>"$T_DIR/c.json"
before=$(db_bytes)
out=$(ctl -o json apply -f "$T_DIR/c.json" 2>/dev/null)
r=$?
t_is "$r $(echo "$out" | jq -r '.data.name') $(db_bytes)" "1 conflict $before" \
	"apply -f with the operator's unnamed 0x0102: conflict, database byte-identical"

# The operator adds one while loomd runs: the next allocation skips it too.
printf '%s\n' "late=0x0104 : ${GUID[hca4]}=limited;" >>"$IB/partitions.conf"
sweep
ctl segment create acme/d --type infiniband >/dev/null
t_is "$(hexkey acme/d)" "0x0105" \
	"a partition the operator added while loomd runs (0x0104) is skipped as well"
t_is "$(ctl -o json info | jq -r '[.pools.operator_pkeys[].pkey] | join(" ")')" "0x0101 0x0102 0x0104" \
	"info lists it"

# loom's partitions go on next to the operator's, on the ports.
ctl -w 20 attach acme/a hca2 >/dev/null && ctl -w 20 attach acme/b hca3 >/dev/null
t_ok $? "attach -w: loom's partitions converge next to the operator's"
pk_is() { [ "$(pk "$1")" = "$2" ]; }
t_wait 15 pk_is hca4 "0x0104 0x8102 0xffff"
t_is "$(pk hca2)" "0x8100 0xffff" "hca2 carries loom's 0x0100 (full) and Default"
t_is "$(pk hca3)" "0x8101 0x8103 0xffff" "hca3 carries the operator's 0x0101 and loom's 0x0103, both full"
t_is "$(pk hca4)" "0x0104 0x8102 0xffff" "hca4 keeps the operator's 0x0102 (full) and 0x0104 (limited)"
grep -E "operator's own partitions" "$T_DIR/loomd.log" | sed 's/^/#   /'
t_done
