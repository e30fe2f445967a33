#!/bin/bash
# Delegations (docs/delegation.md): two loomd on one topology, the shared
# instance "main" and instance "zeta" to which site west's VTEP, subnet
# manager and nodes are delegated for private tenant zeta.  Each keeps its
# own database and socket; each refuses the other's targets, naming the
# delegation, and changes nothing when it does; the shared instance's
# store, audit, status, events and desired state hold nothing of zeta's.
# Bad delegations and pools are refused at start, naming the field, and
# the database stays as it was.
. "$(dirname "$0")/lib.sh"
t_plan 51

BASE=$top_srcdir/tests/integration/data/topo-api.json
TOPO=$T_DIR/topology.json
DELEG='{instance: "zeta", tenants: ["zeta"], vteps: ["vt-w1"], subnet_managers: ["sm-west"],
	nodes: ["gpu-w1", "gpu-w2"], vni_range: "20000-20999", pkey_range: "0x0400-0x04ff"}'
jq ". + {delegations: [$DELEG]}" "$BASE" >"$TOPO"

loomd_config "$TOPO" "vni_range = 10000-19999" "pkey_range = 0x0100-0x03ff"
Z_SOCK=$T_DIR/zeta.sock Z_DB=$T_DIR/zeta.db Z_CONF=$T_DIR/zeta.conf
{
	echo "instance = zeta"
	echo "socket = $Z_SOCK"
	echo "database = $Z_DB"
	echo "topology = $TOPO"
	echo "reconcile = no"
	echo "vni_range = 20000-20999"
	echo "pkey_range = 0x0400-0x04ff"
} >"$Z_CONF"
S() { "$LOOMCTL" -s "$LOOM_SOCKET" "$@"; }
Z() { "$LOOMCTL" -s "$Z_SOCK" "$@"; }

# ---- bad delegations and pools: refused at start, naming the field ------
# check NAME TOPOLOGY-JQ CONF-EXTRA WANT-FIELD WANT-TEXT: loomd -n with a
# topology made by jq from the base and the shared conf plus lines.
check() {
	local name=$1 jqf=$2 extra=$3 field=$4 text=$5 conf=$T_DIR/bad.conf out
	jq "$jqf" "$BASE" >"$T_DIR/bad.json"
	sed "s#^topology = .*#topology = $T_DIR/bad.json#" "$LOOM_CONF" >"$conf"
	[ -n "$extra" ] && echo "$extra" >>"$conf"
	out=$("$LOOMD" -n -c "$conf" 2>&1 >/dev/null)
	case "$out" in
	*"$text"*"($field)"*) t_ok 0 "$name: refused, naming $field" ;;
	*) t_ok 1 "$name: refused, naming $field"; t_diag "got: $out" ;;
	esac
}
check "a VTEP delegated twice" ". + {delegations: [$DELEG, ($DELEG | .instance = \"yota\" | .tenants = [\"yota\"] |
	.nodes = [] | .subnet_managers = [] | .vni_range = \"30000-30999\" | .pkey_range = \"0x0500-0x05ff\")]}" "" \
	"delegations[1].vteps[0]" "VTEP vt-w1 is delegated twice (already at delegations[0].vteps[0], to instance zeta)"
check "a tenant delegated twice" ". + {delegations: [$DELEG, {instance: \"yota\", tenants: [\"zeta\"],
	vni_range: \"30000-30999\", pkey_range: \"0x0500-0x05ff\"}]}" "" \
	"delegations[1].tenants[0]" "tenant zeta is delegated twice"
check "an unknown target" ". + {delegations: [$DELEG | .subnet_managers = [\"sm-north\"]]}" "" \
	"delegations[0].subnet_managers[0]" "subnet manager sm-north is not in the topology"
check "an unknown node" ". + {delegations: [$DELEG | .nodes = [\"gpu-w1\", \"gpu-x9\"]]}" "" \
	"delegations[0].nodes[1]" "node gpu-x9 is not in the topology"
check "overlapping VNI ranges" ". + {delegations: [$DELEG, {instance: \"yota\", tenants: [\"yota\"],
	vni_range: \"20500-30999\", pkey_range: \"0x0500-0x05ff\"}]}" "" \
	"delegations[1].vni_range" "VNIs 20500-30999 overlap those of instance zeta"
check "overlapping P_Key ranges" ". + {delegations: [$DELEG, {instance: \"yota\", tenants: [\"yota\"],
	vni_range: \"30000-30999\", pkey_range: \"0x04f0-0x05ff\"}]}" "" \
	"delegations[1].pkey_range" "P_Keys 0x04f0-0x05ff overlap those of instance zeta"
check "a node delegated without its VTEP" ". + {delegations: [$DELEG | .vteps = []]}" "" \
	"delegations[0].nodes[0]" "node gpu-w1 is delegated to instance zeta, but its port eth0 reaches VTEP vt-w1, which is not"
check "a VTEP delegated without a node cabled to it" ". + {delegations: [$DELEG | .nodes = [\"gpu-w1\"]]}" "" \
	"delegations[0].vteps[0]" "VTEP vt-w1 is delegated to instance zeta, but node gpu-w2 (not delegated to it) reaches it"
check "a delegation without a VNI range" ". + {delegations: [$DELEG | del(.vni_range)]}" "" \
	"delegations[0].vni_range" "is required"
check "an unknown key in a delegation" ". + {delegations: [$DELEG | .sms = []]}" "" \
	"delegations[0].sms" "unknown key"
check "the shared pool overlapping the delegation's" ". + {delegations: [$DELEG]}" "vni_range = 10000-20000" \
	"vni_range" "vni_range 10000-20000 overlaps the VNIs delegated to instance zeta"
check "the delegated pool outside its range" ". + {delegations: [$DELEG]}" \
	"$(printf 'instance = zeta\nvni_range = 20000-20999\npkey_range = 0x0400-0x0500')" \
	"pkey_range" "pkey_range 0x0400-0x0500 is outside the P_Keys the topology delegates to instance zeta"
check "a bad instance name" ". + {delegations: [$DELEG]}" "instance = Zeta!" "instance" "expected a lowercase DNS label"

# ---- the two instances --------------------------------------------------
loomd_start || exit 1
"$LOOMD" -f -c "$Z_CONF" 2>>"$T_DIR/zeta.log" &
Z_PID=$!; T_PIDS="$T_PIDS $Z_PID"
t_wait 10 Z info || { echo "Bail out! instance zeta did not come up"; sed 's/^/#   /' "$T_DIR/zeta.log"; exit 1; }
t_is "$(S -o json info | jq -r .instance)/$(Z -o json info | jq -r .instance)" "main/zeta" "system.info names each instance"
t_is "$(S -o json node list | jq -c '[.[].name]')" '["gpu-e1","gpu-e2","gpu-e3","gpu-e4"]' \
	"the shared instance's nodes: what no delegation lists"
t_is "$(Z -o json node list | jq -c '[.[].name]')" '["gpu-w1","gpu-w2"]' "zeta's nodes: its delegation's"

Z tenant create zeta --isolation private --site west >/dev/null &&
Z segment create zeta/net --type ethernet >/dev/null && Z segment create zeta/ib --type infiniband >/dev/null &&
Z attach zeta/net gpu-w1 >/dev/null && Z attach zeta/net gpu-w2 >/dev/null && Z attach zeta/ib gpu-w1 >/dev/null &&
Z node cordon gpu-w2 --reason "zeta's maintenance" >/dev/null &&
S tenant create acme >/dev/null && S segment create acme/net --type ethernet >/dev/null &&
S attach acme/net gpu-e1 >/dev/null && S node cordon gpu-e3 >/dev/null ||
	{ echo "Bail out! cannot set up the two instances"; exit 1; }
t_is "$(Z -o json segment show zeta/net | jq -r .vni)/$(S -o json segment show acme/net | jq -r .vni)" "20000/10000" \
	"each allocates from its own range"

# refused WHO METHOD PARAMS FIELD TEXT: a delegated error naming the field
# and the delegation, and the database exactly as it was.
refused() {
	local who=$1 method=$2 params=$3 field=$4 text=$5 db before out
	db=$LOOM_DB; [ "$who" = Z ] && db=$Z_DB
	before=$(sqlite3 "$db" .dump | sha256sum)
	out=$($who -o json call "$method" "$params" 2>/dev/null)
	if [ "$(echo "$out" | jq -r '.data.name + " " + .data.field' 2>/dev/null)" = "delegated $field" ] &&
	   [[ "$out" == *"$text"* ]] && [ "$(sqlite3 "$db" .dump | sha256sum)" = "$before" ]; then
		t_ok 0 "$who $method $params: refused as delegated ($field), nothing changed"
	else
		t_ok 1 "$who $method $params: refused as delegated ($field), nothing changed"; t_diag "got: $out"
	fi
}
DTXT="is delegated to loom instance zeta (topology delegations[0]"
refused S segment.attach '{"segment":"acme/net","node":"gpu-w1"}' node "node gpu-w1 $DTXT.nodes[0])"
refused S segment.attach '{"segment":"acme/net","node":"gpu-w2","port":"eth1"}' node "node gpu-w2 $DTXT.nodes[1])"
refused S node.cordon '{"name":"gpu-w2"}' name "this instance (main) neither programs nor attaches it"
refused S node.show '{"name":"gpu-w1"}' name "node gpu-w1 $DTXT"
refused S node.fault '{"node":"gpu-w1","component":"nic","severity":"critical"}' node "node gpu-w1 $DTXT"
refused S node.replace '{"name":"gpu-e1","new":"gpu-w2"}' new "node gpu-w2 $DTXT"
refused S gpu.apply '{"tenant":"acme","profile":"1g.10gb","node":"gpu-w1"}' node "node gpu-w1 $DTXT"
refused S events.subscribe '{"node":"gpu-w1"}' node "node gpu-w1 $DTXT"
refused S topology.import '{"text":"x","sm":"sm-west"}' sm "subnet manager sm-west $DTXT.subnet_managers[0])"
refused S tenant.create '{"name":"zeta"}' name "tenant zeta $DTXT.tenants[0])"
refused S intent.apply '{"intent":{"tenants":[{"name":"zeta"}]}}' changes[0].name "tenant zeta $DTXT.tenants[0])"
NTXT="is not delegated to loom instance zeta (topology delegations[0])"
refused Z segment.attach '{"segment":"zeta/net","node":"gpu-e2"}' node "node gpu-e2 $NTXT"
refused Z node.drain '{"name":"gpu-e1"}' name "node gpu-e1 $NTXT"
refused Z topology.import '{"text":"x","sm":"sm-east"}' sm "subnet manager sm-east $NTXT"
refused Z tenant.create '{"name":"acme2"}' name "tenant acme2 is not delegated to loom instance zeta"

# ---- the shared instance keeps nothing of zeta --------------------------
t_is "$(sqlite3 "$LOOM_DB" .dump | grep -ciE 'zeta|gpu-w|vt-w1|sm-west|20000')" "0" \
	"the shared database has no row naming zeta, its nodes, targets or VNI"
t_is "$(S -o json audit list --limit 1000 | jq -c '[.[] | tostring | select(test("zeta|gpu-w"))] | length')" "0" \
	"the shared audit names nothing of zeta"
t_is "$(S -o json status | jq -c '[.segments[].segment] | map(select(startswith("zeta"))) | length')" "0" \
	"the shared status has no zeta segment"
t_is "$(S -o json desired show | jq -c '[.vteps[].vtep, .sms[].sm] | sort')" '["sm-east","vt-e1","vt-e2"]' \
	"the shared desired state: its own targets only"
t_is "$(Z -o json desired show | jq -c '[(.vteps[] | {vtep, vnis: [.vnis[].vni]}), .sms[].sm]')" \
	'[{"vtep":"vt-w1","vnis":[20000]},"sm-west"]' "zeta's desired state: its targets and VNI only"
timeout 3 "$LOOMCTL" -s "$LOOM_SOCKET" -o json events --since 0 >"$T_DIR/s-events" 2>/dev/null
t_is "$(jq -r .node "$T_DIR/s-events" | sort -u | paste -sd,)" "gpu-e1,gpu-e3" \
	"the shared instance's events: its own nodes only"
timeout 3 "$LOOMCTL" -s "$Z_SOCK" -o json events --since 0 >"$T_DIR/z-events" 2>/dev/null
t_is "$(jq -r .node "$T_DIR/z-events" | sort -u | paste -sd,)" "gpu-w1,gpu-w2" "zeta's events: its nodes only"
t_is "$(sqlite3 "$LOOM_DB" "select value from kv where key = 'instance'")/$(sqlite3 "$Z_DB" "select value from kv where key = 'instance'")" \
	"main/zeta" "each database records its instance"

# ---- a wrong instance on a database; a reload that would steal -----------
loomd_stop
before=$(db_state)
sed 's/^reconcile = no$/reconcile = no\ninstance = zeta/; s/^vni_range = .*/vni_range = 20000-20999/; s/^pkey_range = .*/pkey_range = 0x0400-0x04ff/' \
	"$LOOM_CONF" >"$T_DIR/wrong.conf"
out=$("$LOOMD" -f -c "$T_DIR/wrong.conf" 2>&1)
case "$out" in *"holds the state of loom instance main, but loomd.conf says instance = zeta"*"(instance)"*)
	t_ok 0 "the shared database under instance = zeta: refused at start, naming instance" ;;
	*) t_ok 1 "the shared database under instance = zeta: refused at start ($out)" ;; esac
t_is "$(db_state)" "$before" "  ...and the database is as it was"
loomd_start || exit 1
jq ". + {delegations: [$DELEG | .nodes += [\"gpu-e1\", \"gpu-e2\", \"gpu-e3\", \"gpu-e4\"] |
	.vteps += [\"vt-e1\", \"vt-e2\"] | .subnet_managers += [\"sm-east\"]]}" \
	"$BASE" >"$T_DIR/steal.json"
cp "$TOPO" "$T_DIR/topology.orig"
cp "$T_DIR/steal.json" "$TOPO"
out=$(S -o json call topology.reload '{}' 2>/dev/null)
t_is "$(echo "$out" | jq -r '.data.name + " " + .data.field')" "delegated attachments[0].node" \
	"a reload that delegates acme's node away: refused, naming the attachment"
jq ". + {delegations: [$DELEG, {instance: \"yota\", tenants: [\"yota\"], vni_range: \"20999-21999\",
	pkey_range: \"0x0500-0x05ff\"}]}" "$BASE" >"$TOPO"
out=$(S -o json call topology.reload '{}' 2>/dev/null)
t_is "$(echo "$out" | jq -r '.data.name + " " + .data.field')" "topology_invalid delegations[1].vni_range" \
	"a reload whose delegations overlap: refused, naming the range"
cp "$T_DIR/topology.orig" "$TOPO"
t_is "$(db_state)" "$before" "  ...and nothing changed"
t_is "$(S -o json node list | jq -c '[.[].name] | length')" "4" "  ...and the old topology stays"

# ---- cluster mode: each instance its own etcd prefix ---------------------
if command -v etcd >/dev/null; then
	. "$(dirname "$0")/etcd_lib.sh"
	etcd_cluster e 1 || { echo "Bail out! etcd did not start"; exit 1; }
	loomd_stop
	echo "cluster.etcd = $e_EPS" >>"$LOOM_CONF"
	loomd_start || exit 1
	etcdget() { ETCDCTL_API=3 etcdctl --endpoints="$e_EPS" get --print-value-only "$1"; }
	t_is "$(etcdget /loom/v1/instance)" "main" "cluster mode: the shared instance marks its prefix /loom/v1"
	kill "$Z_PID"; wait "$Z_PID" 2>/dev/null
	zbefore=$(sqlite3 "$Z_DB" .dump | sha256sum)
	echo "cluster.etcd = $e_EPS" >>"$Z_CONF"
	out=$("$LOOMD" -f -c "$Z_CONF" 2>&1)
	case "$out" in *"etcd's /loom/v1 belongs to loom instance main, but loomd.conf says instance = zeta"*"(cluster.prefix)"*)
		t_ok 0 "zeta on the same prefix: refused at start, naming cluster.prefix" ;;
		*) t_ok 1 "zeta on the same prefix: refused at start ($out)" ;; esac
	t_is "$(sqlite3 "$Z_DB" .dump | sha256sum)/$(etcdget /loom/v1/instance)" "$zbefore/main" \
		"  ...zeta's database and the prefix's mark are as they were"
	echo "cluster.prefix = /loom/zeta" >>"$Z_CONF"
	"$LOOMD" -f -c "$Z_CONF" 2>>"$T_DIR/zeta.log" &
	Z_PID=$!; T_PIDS="$T_PIDS $Z_PID"
	t_wait 10 Z info
	t_ok $? "zeta on its own prefix /loom/zeta starts"
	t_is "$(etcdget /loom/zeta/instance)" "zeta" "  ...and marks it"
else
	for _ in 1 2 3 4 5; do t_ok 0 "# SKIP no etcd"; done
fi
t_done
