#!/bin/bash
# loomd.conf's provisioning_segment through a real loomd and loomctl
# (reconcile = no: the model and the store; the attachments it makes are
# ordinary ones, programmed on the targets like any other).  A node that is
# registered, verifying or quarantined sits in the provisioning segment and
# leaves it with the transition out of those states.  The RDMA
# measurements are fed in: no RDMA data path runs on this machine.
. "$(dirname "$0")/lib.sh"
t_plan 24

TOPO=$top_srcdir/tests/integration/data/topo-api.json
in_pxe() { $LOOMCTL -o json segment show infra/pxe | jq -r '[.attachments[].node] | sort | join(" ")'; }
state() { $LOOMCTL -o json node show "$1" | jq -r '.state'; }
dump() { sqlite3 "$LOOM_DB" .dump; }

# A value that is not TENANT/SEGMENT is refused at start, naming the key.
for bad in "infra" "infra/" "/pxe" "Infra/pxe" "infra/pxe/x"; do
	loomd_config "$TOPO" "provisioning_segment = $bad"
	err=$("$LOOMD" -n -c "$LOOM_CONF" 2>&1)
	rc=$?
	case "$err" in
	*"provisioning_segment"*"TENANT/SEGMENT"*) t_is "$rc" "1" "provisioning_segment = '$bad' is refused, naming the key" ;;
	*) t_ok 1 "provisioning_segment = '$bad' is refused, naming the key (got $rc: $err)" ;;
	esac
done

loomd_config "$TOPO" "vni_range = 10000-10999" "provisioning_segment = infra/pxe"
t_is "$("$LOOMD" -n -c "$LOOM_CONF" | grep '^provisioning_segment')" "provisioning_segment = infra/pxe" \
	"loomd -n prints the key"
loomd_start
t_ok $? "loomd starts with provisioning_segment = infra/pxe"

# The segment does not exist yet: registering is refused, nothing changes.
before=$(dump)
out=$($LOOMCTL node register gpu-e3 2>&1)
t_is "$?" "1" "register while the provisioning segment does not exist is refused"
t_ok "$(echo "$out" | grep -q "provisioning segment infra/pxe (loomd.conf provisioning_segment), which does not exist"; echo $?)" \
	"...and the error names the segment and the key"
t_is "$(dump)" "$before" "...and the database is unchanged"
t_is "$(state gpu-e3)" "available" "...and the node is as it was"

$LOOMCTL tenant create infra --site east >/dev/null && $LOOMCTL segment create infra/pxe --type ethernet >/dev/null
t_ok $? "the operator's tenant infra with segment pxe"
$LOOMCTL tenant create acme --site east >/dev/null && $LOOMCTL segment create acme/train --type ethernet >/dev/null

# registered -> verifying -> available: in the segment, then out.
$LOOMCTL node register gpu-e3 --reason racked >/dev/null
t_is "$(state gpu-e3) $(in_pxe)" "registered gpu-e3" "a registered node sits in the provisioning segment"
out=$($LOOMCTL -o json node verify gpu-e3 --result mlx5_0/1,370 --result mlx5_1/1,371)
t_is "$(echo "$out" | jq -r '.state') $(in_pxe)" "available " "verified available: it left the provisioning segment"
$LOOMCTL attach acme/train gpu-e3 >/dev/null
t_is "$(state gpu-e3)" "assigned" "...and a tenant may have it"

# verifying -> quarantined keeps it there; fail takes it out.
$LOOMCTL node register gpu-e2 >/dev/null
out=$($LOOMCTL -o json node verify gpu-e2 --result mlx5_0/1,370 --result mlx5_1/1,120)
t_is "$(echo "$out" | jq -r '.state') $(in_pxe)" "quarantined gpu-e2" "a quarantined node stays in the provisioning segment"
$LOOMCTL node fail gpu-e2 --reason "bad HCA" >/dev/null
t_is "$(state gpu-e2) $(in_pxe)" "failed " "a failed node leaves it"
$LOOMCTL -o json node verify gpu-e2 --result mlx5_0/1,370 --result mlx5_1/1,20 >/dev/null
t_is "$(state gpu-e2) $(in_pxe)" "quarantined gpu-e2" "verify again (and quarantined): back in"

# A tenant segment is not a provisioning segment: nothing else moves.
t_is "$($LOOMCTL -o json segment show acme/train | jq -r '[.attachments[].node] | join(" ")')" "gpu-e3" \
	"the tenant's segment holds only its node"
t_is "$($LOOMCTL -o json node history gpu-e2 | jq -r '[.[].event] | join(",")')" \
	"register,verify,verify-fail,fail,verify,verify-fail" "history: the lifecycle events only"

# A declarative file naming the provisioning tenant does not detach what
# loomd put there (a quarantined node stays); its own changes still apply.
echo '{"tenants": [{"name": "infra", "isolation": "soft", "sites": ["east"],
  "segments": [{"name": "pxe", "type": "ethernet"}, {"name": "oob", "type": "ethernet"}]}]}' >"$T_DIR/infra.json"
out=$($LOOMCTL -o json apply -f "$T_DIR/infra.json")
t_is "$(echo "$out" | jq -r '[.changes[].op] | join(",")')" "segment.create" \
	"intent.apply of the provisioning tenant: only its own change, no detach"
t_is "$(in_pxe)" "gpu-e2" "...and the quarantined node is still in the provisioning segment"

# The attachments are stored: a restarted loomd has them.
loomd_stop
loomd_start
t_is "$(in_pxe)" "gpu-e2" "after a restart the provisioning segment still holds gpu-e2"
t_is "$($LOOMCTL -o json audit verify | jq -r '.ok')" "true" "the audit chain verifies"
t_done
