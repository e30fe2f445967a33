#!/bin/bash
# The tenant model end to end through a real loomd and loomctl: tenants,
# segments, attachments, declarative apply/diff, and a restart that keeps
# everything.
. "$(dirname "$0")/lib.sh"
t_plan 33

loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff"
loomd_start
t_ok $? "loomd starts on a private socket and database"

$LOOMCTL tenant create acme --isolation strict --site east --label team=ml >/dev/null
t_ok $? "tenant create acme (strict, east)"
$LOOMCTL tenant create blue --site east --site west >/dev/null
t_ok $? "tenant create blue (soft, east+west)"
t_is "$($LOOMCTL -o json tenant list | jq -r '[.[].name]|join(",")')" "acme,blue" "tenant list, sorted"
t_is "$($LOOMCTL -o json tenant show acme | jq -r '.isolation + " " + (.sites|join(",")) + " " + .labels.team')" \
	"strict east ml" "tenant show returns what was created"

out=$($LOOMCTL -o json segment create acme/train --type ethernet --mtu 9000 --subnet 192.0.2.0/24)
t_ok $? "ethernet segment with an allocated VNI"
t_is "$(echo "$out" | jq -r '.vni')" "10000" "the first VNI of the pool is allocated"
t_is "$(echo "$out" | jq -r '.rd + " " + .rt')" "65000:10000 65000:10000" "RD and RT are derived from the VNI"
$LOOMCTL segment create acme/ib --type infiniband --pkey 0x0123 --ipoib --membership full >/dev/null
t_ok $? "infiniband segment with an explicit P_Key"
t_is "$($LOOMCTL -o json segment show acme/ib | jq -r '.pkey')" "291" "the explicit P_Key is kept"
$LOOMCTL segment create blue/web --type ethernet >/dev/null
t_is "$($LOOMCTL -o json segment show blue/web | jq -r '.vni')" "10001" "the next VNI goes to the next segment"

$LOOMCTL attach acme/train gpu-e1 >/dev/null
t_ok $? "attach a whole node"
$LOOMCTL attach acme/ib gpu-e1:mlx5_0/1 >/dev/null
t_ok $? "attach one HCA port"
$LOOMCTL attach blue/web gpu-e2:eth0 >/dev/null
t_ok $? "attach one NIC port of another node to another tenant"
t_is "$($LOOMCTL -o json node show gpu-e1 | jq -r '.tenants|join(",")')" "acme" "node show lists the node's tenants"

# The compiled desired state reaches the right VTEPs and subnet manager.
des=$($LOOMCTL -o json desired show)
t_is "$(echo "$des" | jq -r '[.vteps[] | select(.vtep=="vt-e1") | .vnis[] | "\(.vni):\(.ports|join(","))"]|join(" ")')" \
	"10000:acc-e1-0 10001:acc-e2-0" "desired state on vt-e1: acme's VNI with gpu-e1:eth0, blue's with gpu-e2:eth0"
t_is "$(echo "$des" | jq -r '[.vteps[] | select(.vtep=="vt-e2") | .vnis[] | "\(.vni):\(.ports|join(","))"]|join(" ")')" \
	"10000:acc-e1-1" "desired state on vt-e2: only acme's VNI, with gpu-e1:eth1"

# Declarative apply: creates what is missing, then is idempotent.
cat >"$T_DIR/intent.json" <<'JSON'
{"tenants": [{"name": "green", "isolation": "soft", "sites": ["west"],
  "segments": [{"name": "data", "type": "ethernet", "mtu": 1500,
                "attachments": [{"node": "gpu-w1", "port": "eth0"}]},
               {"name": "fab", "type": "infiniband", "membership": "limited",
                "attachments": [{"node": "gpu-w1"}]}]}]}
JSON
$LOOMCTL diff -f "$T_DIR/intent.json" >/dev/null
t_is "$?" "4" "diff on a new file exits 4 (changes pending)"
n=$($LOOMCTL -o json apply -f "$T_DIR/intent.json" | jq -r '.count')
t_ok $([ "$n" -ge 5 ] && echo 0 || echo 1) "apply creates the tenant, its segments and attachments ($n changes)"
t_is "$($LOOMCTL -o json apply -f "$T_DIR/intent.json" | jq -r '.count')" "0" "apply again changes nothing"
$LOOMCTL diff -f "$T_DIR/intent.json" >/dev/null
t_is "$?" "0" "diff after apply exits 0"

# Shrink by file: the file is the whole truth for the tenants it names.
jq '.tenants[0].segments |= map(select(.name == "data"))' "$T_DIR/intent.json" >"$T_DIR/intent2.json"
planned=$($LOOMCTL -o json diff -f "$T_DIR/intent2.json" | jq -r '[.changes[].op]|join(",")')
t_is "$planned" "segment.detach,segment.delete" "diff plans to detach and delete the segment the file dropped"
t_is "$($LOOMCTL -o json apply -f "$T_DIR/intent2.json" | jq -r '[.changes[].op]|join(",")')" "$planned" "apply does what diff showed"
t_is "$($LOOMCTL -o json segment list green | jq -r '[.[].name]|join(",")')" "data" "apply removed the segment the file no longer names"

# Detach, delete.
$LOOMCTL detach blue/web gpu-e2:eth0 >/dev/null
t_ok $? "detach"
$LOOMCTL segment delete blue/web >/dev/null
t_ok $? "segment delete"

# Restart keeps everything.
before=$($LOOMCTL -o json tenant list; $LOOMCTL -o json segment list)
loomd_stop TERM
loomd_start
t_ok $? "loomd restarts on the same database"
after=$($LOOMCTL -o json tenant list; $LOOMCTL -o json segment list)
t_is "$after" "$before" "tenants, segments and attachments survive the restart"

$LOOMCTL tenant delete acme --cascade >/dev/null
t_ok $? "tenant delete --cascade removes its segments and attachments"
t_is "$($LOOMCTL -o json node show gpu-e1 | jq -r '.attachments|length')" "0" "gpu-e1 is in no segment any more"
t_is "$($LOOMCTL -o json topology import-ib --sm sm-east "$top_srcdir/tests/golden/topology/ibnetdiscover-2sw2path4hca.txt" | jq '.nodes|length')" \
	"4" "topology import-ib turns ibnetdiscover output into node entries"
echo "not ibnetdiscover output" | $LOOMCTL topology import-ib --sm sm-east >/dev/null 2>&1
t_is "$?" "1" "...and refuses text that is not ibnetdiscover output"
$LOOMCTL audit verify >/dev/null
t_ok $? "the audit chain verifies after all of this"
t_done
