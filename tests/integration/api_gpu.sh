#!/bin/bash
# MIG instances through a real loomd and loomctl (reconcile = no: the
# planner, the store rows, the rail-port attachments and the node
# lifecycle; no GPU is driven here, see gpu_worker.sh).  Every refused
# request must leave the database exactly as it was.
. "$(dirname "$0")/lib.sh"
t_plan 75

cp "$top_srcdir/tests/integration/data/topo-api.json" "$T_DIR/topo.json"
loomd_config "$T_DIR/topo.json" "vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff"
loomd_start
t_ok $? "loomd starts"

$LOOMCTL tenant create acme --site east >/dev/null
$LOOMCTL tenant create beta --site east >/dev/null
$LOOMCTL tenant create iron --isolation strict --site east >/dev/null
$LOOMCTL tenant create wendy --site west >/dev/null
$LOOMCTL segment create acme/train --type ethernet >/dev/null
$LOOMCTL segment create acme/ib --type infiniband >/dev/null
$LOOMCTL segment create beta/net --type ethernet >/dev/null
$LOOMCTL segment create iron/net --type ethernet >/dev/null
$LOOMCTL segment create wendy/net --type ethernet >/dev/null
$LOOMCTL segment create wendy/two --type ethernet >/dev/null

gpujson() { $LOOMCTL -o json call "$@"; }
state() { $LOOMCTL -o json node show "$1" | jq -r '.state'; }
# refused METHOD PARAMS FIELD CODE DESCRIPTION: exit 1, that field and code, nothing changed.
refused() {
	local before after out rc
	before=$(db_state)
	out=$($LOOMCTL -o json call "$1" "$2" 2>/dev/null)
	rc=$?
	after=$(db_state)
	if [ "$rc" = 1 ] && [ "$(echo "$out" | jq -r '.data.field')" = "$3" ] \
	   && [ "$(echo "$out" | jq -r '.data.name')" = "$4" ] && [ "$before" = "$after" ]; then
		t_ok 0 "$5"
	else
		t_ok 1 "$5"
		echo "#   rc $rc, reply: $(echo "$out" | jq -c . 2>/dev/null || echo "$out")"
		[ "$before" = "$after" ] || echo "#   the database changed"
	fi
}

# ---- plan is a dry run
before=$(db_state)
out=$(gpujson gpu.plan '{"tenant":"acme","profile":"3g.40gb","count":2,"node":"gpu-e1"}')
t_is "$(echo "$out" | jq -r '[.placements[] | "\(.node)/\(.gpu)@\(.start)"] | join(" ")')" "gpu-e1/0@4 gpu-e1/0@0" \
	"plan: two 3g.40gb on one GPU of gpu-e1 (best fit)"
t_is "$(echo "$out" | jq -r '.applied')" "false" "plan says it applied nothing"
t_is "$(db_state)" "$before" "plan changes nothing in the database"
t_is "$(state gpu-e1)" "available" "plan leaves the node available"

# ---- apply
out=$(gpujson gpu.apply '{"tenant":"acme","profile":"3g.40gb","count":2,"node":"gpu-e1"}')
t_is "$(echo "$out" | jq -r '[.placements[] | "\(.gpu)@\(.start)"] | join(" ")')" "0@4 0@0" "apply stores what plan showed"
t_is "$(echo "$out" | jq -r '[.placements[0].network[] | "\(.segment):\(.port)"] | join(" ")')" "ib:mlx5_0/1 train:eth0" \
	"the instance's network: GPU 0's rail ports in every segment of the tenant"
t_is "$(state gpu-e1)" "assigned" "a node taking an instance becomes assigned"
t_is "$($LOOMCTL -o json segment show acme/train | jq -r '[.attachments[] | "\(.node):\(.port)"] | join(" ")')" "gpu-e1:eth0" \
	"the rail NIC port is attached through segment.attach's path (one attachment for both instances)"
t_is "$($LOOMCTL -o json segment show acme/ib | jq -r '[.attachments[] | "\(.node):\(.port)"] | join(" ")')" "gpu-e1:mlx5_0/1" \
	"the rail HCA port joins the tenant's partition"
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method == "gpu.apply")] | length')" "1" "apply is audited"
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method == "gpu.plan")] | length')" "0" "plan (a read) is not"

# ---- a second soft tenant on the same node: another rail
out=$(gpujson gpu.apply '{"tenant":"beta","profile":"1g.10gb","node":"gpu-e1"}')
t_is "$(echo "$out" | jq -r '.placements[0] | "\(.gpu) \(.network[0].port)"')" "1 eth1" \
	"a soft tenant shares the node, on a GPU whose rail port no other tenant holds"
out=$(gpujson gpu.apply '{"tenant":"beta","profile":"1g.10gb","count":2,"node":"gpu-e1"}')
t_is "$(echo "$out" | jq -r '[.placements[].gpu] | unique | map(tostring) | join(",")')" "1" \
	"more of beta's instances stay on its rail (GPU 1; GPUs 0 and 2 share acme's eth0)"
gpujson gpu.apply '{"tenant":"beta","profile":"7g.80gb","node":"gpu-e1"}' >/dev/null
refused gpu.apply '{"tenant":"beta","profile":"7g.80gb","node":"gpu-e1"}' count pool_exhausted \
	"no GPU left whose rail is free of other tenants: refused, nothing changed"
out=$($LOOMCTL -o json call gpu.apply '{"tenant":"beta","profile":"7g.80gb","node":"gpu-e1"}' 2>/dev/null)
t_ok "$(echo "$out" | jq -r '.message' | grep -q "rail port eth0 is in segment acme/train"; echo $?)" \
	"the refusal says which GPUs were left out and why"
t_is "$($LOOMCTL -o json node show gpu-e1 | jq -r '.tenants | join(",")')" "acme,beta" "two soft tenants on one node"

# ---- isolation
refused gpu.apply '{"tenant":"iron","profile":"1g.10gb","node":"gpu-e1"}' node policy_violation \
	"a strict tenant never lands on a node with another tenant"
out=$(gpujson gpu.apply '{"tenant":"iron","profile":"1g.10gb"}')
iron_node=$(echo "$out" | jq -r '.placements[0].node')
t_ok "$([ "$iron_node" != gpu-e1 ] && [ -n "$iron_node" ]; echo $?)" "the strict tenant gets a node of its own ($iron_node)"
refused gpu.apply "{\"tenant\":\"acme\",\"profile\":\"1g.10gb\",\"node\":\"$iron_node\"}" node policy_violation \
	"a soft tenant never lands on the strict tenant's node"

# ---- refusals, each leaving the state as it was
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","colour":"red"}' colour invalid_params "an unknown parameter"
refused gpu.apply '{"profile":"1g.10gb"}' tenant invalid_params "no tenant"
refused gpu.apply '{"tenant":"nobody","profile":"1g.10gb"}' tenant not_found "an unknown tenant"
refused gpu.apply '{"tenant":"acme"}' profile invalid_params "no profile"
refused gpu.apply '{"tenant":"acme","profile":"9g.99gb"}' profile not_found "a profile no GPU model has"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","count":0}' count out_of_range "count 0"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","count":65}' count out_of_range "count above 64"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","count":"2"}' count invalid_params "count as a string"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","node":"gpu-x9"}' node not_found "an unknown node"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","site":"mars"}' site not_found "an unknown site"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","node":"gpu-w1","site":"east"}' site invalid_params "a node outside the site given"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","site":"west"}' site policy_violation "a site outside the tenant's (data residency)"
refused gpu.plan '{"tenant":"acme","profile":"1g.10gb","node":"gpu-w1"}' node policy_violation \
	"a node outside the tenant's sites: a residency refusal, not 'not found'"
out=$($LOOMCTL -o json call gpu.plan '{"tenant":"acme","profile":"1g.10gb","node":"gpu-w1"}' 2>/dev/null)
t_ok "$(echo "$out" | jq -r '.message' | grep -q "node gpu-w1 is in site west, and tenant acme may only use site east"; echo $?)" \
	"...naming the node's site and the tenant's"
refused gpu.plan '{"tenant":"acme","profile":"1g.10gb+me","count":64}' count pool_exhausted \
	"more 1g.10gb+me than GPUs: refused"
out=$($LOOMCTL -o json call gpu.plan '{"tenant":"acme","profile":"1g.10gb+me","count":64}' 2>/dev/null)
t_ok "$(echo "$out" | jq -r '.message' | grep -q "^one 1g.10gb+me instance per GPU"; echo $?)" \
	"...saying the limit is one +me instance per GPU, not fragmentation"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","segments":"train"}' segments invalid_params "segments not an array"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","segments":["nope"]}' 'segments[0]' not_found "a segment the tenant does not have"
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","segments":["train","train"]}' 'segments[1]' invalid_params "a segment named twice"
refused gpu.apply '{"tenant":"wendy","profile":"1g.10gb"}' segments invalid_params \
	"two ethernet segments and no choice: a NIC port sits in one bridge only"
refused gpu.apply '{"tenant":"acme","profile":"7g.80gb","count":40}' count pool_exhausted "more than every GPU holds: all or none"
refused gpu.release '{"tenant":"acme","gpu":0}' gpu invalid_params "release: gpu without node"
refused gpu.release '{"tenant":"acme","node":"gpu-e1","start":0}' start invalid_params "release: start without gpu"
refused gpu.release '{"tenant":"acme","node":"gpu-e1","gpu":3}' gpu not_found "release: nothing there"
refused gpu.release '{"tenant":"acme","node":"gpu-e1","gpu":0,"start":9}' start out_of_range "release: start beyond the slices"
refused gpu.show '{"node":"gpu-x9"}' node not_found "show: an unknown node"
refused gpu.compact '{"dry_run":"yes"}' dry_run invalid_params "compact: dry_run not a boolean"
refused tenant.delete '{"name":"beta"}' name in_use "a tenant holding instances is not deleted"

# wendy chooses its segment, and lands in the west
out=$(gpujson gpu.apply '{"tenant":"wendy","profile":"2g.20gb","segments":["two"]}')
t_is "$(echo "$out" | jq -r '.placements[0] | "\(.node | startswith("gpu-w")) \(.network | map(.segment) | join(","))"')" "true two" \
	"'segments' picks the instance's segments; residency keeps it in the west"

# a cordoned node takes no instance
$LOOMCTL node cordon gpu-e2 >/dev/null
refused gpu.apply '{"tenant":"acme","profile":"1g.10gb","node":"gpu-e2"}' node invalid_state "a cordoned node takes no instance"
out=$($LOOMCTL -o json call gpu.apply '{"tenant":"acme","profile":"1g.10gb","node":"gpu-e2"}' 2>/dev/null)
t_ok "$(echo "$out" | jq -r '.message' | grep -q "gpu-e2 is 'cordoned'"; echo $?)" "...and the refusal names its state"
$LOOMCTL node uncordon gpu-e2 >/dev/null

# ---- show: pictures and the unmanaged note
out=$(gpujson gpu.show '{"node":"gpu-e1"}')
t_is "$(echo "$out" | jq -r '.[0].picture' | sed -n 3p)" "  owner A A A A B B B B" "show: GPU 0's picture, acme's two 3g"
t_is "$(echo "$out" | jq -r '.[3].free')" "0" "show: GPU 3 is full (beta's 7g.80gb)"
t_is "$(echo "$out" | jq -r '.[0].apply.state')" "unmanaged" "show: with reconcile = no nothing is applied, and it says so"
t_is "$(gpujson gpu.show '{"tenant":"beta"}' | jq -r '[.[] | "\(.node)/\(.gpu)"] | join(" ")')" "gpu-e1/1 gpu-e1/3" "show --tenant: only GPUs holding its instances"
$LOOMCTL gpu show --node gpu-e1 >"$T_DIR/show.txt"
t_ok "$(grep -q "A = acme 3g.40gb@0" "$T_DIR/show.txt" && grep -q "rail: nic eth0, hca mlx5_0/1" "$T_DIR/show.txt"; echo $?)" \
	"loomctl gpu show prints each GPU's slots, who holds them, and its rail"

# ---- release: the rail port goes only with the tenant's last instance on it
out=$(gpujson gpu.release '{"tenant":"acme","node":"gpu-e1","gpu":0,"start":0}')
t_is "$(echo "$out" | jq -r '.detached | length')" "0" "releasing one of two instances on a rail keeps its ports"
t_is "$($LOOMCTL -o json segment show acme/train | jq -r '.attachments | length')" "1" "...attached"
out=$(gpujson gpu.release '{"tenant":"acme","node":"gpu-e1"}')
t_is "$(echo "$out" | jq -r '[.detached[] | "\(.segment):\(.port)"] | sort | join(" ")')" "acme/ib:mlx5_0/1 acme/train:eth0" \
	"the last instance on the rail detaches its ports"
t_is "$($LOOMCTL -o json segment show acme/train | jq -r '.attachments | length')" "0" "...from every segment"

# ---- compact: fragment GPU 1 of gpu-e3, then repack
gpujson gpu.apply '{"tenant":"beta","profile":"1g.10gb","count":3,"node":"gpu-e3"}' >/dev/null
gpu=$(gpujson gpu.show '{"tenant":"beta","node":"gpu-e3"}' | jq -r '.[0].gpu')
gpujson gpu.release "{\"tenant\":\"beta\",\"node\":\"gpu-e3\",\"gpu\":$gpu,\"start\":5}" >/dev/null
rows() { sqlite3 "$LOOM_DB" 'SELECT node, gpu, start, tenant, profile FROM gpu_instances ORDER BY 1, 2, 3'; }
before=$(rows)
out=$(gpujson gpu.compact '{"node":"gpu-e3","dry_run":true}')
t_ok "$([ "$(echo "$out" | jq -r '.moves | length')" -ge 1 ]; echo $?)" "compact --dry-run lists moves"
t_is "$(rows)" "$before" "...and moves nothing (the dry run is audited, like the real one)"
out=$(gpujson gpu.compact '{"node":"gpu-e3"}')
t_is "$(echo "$out" | jq -r '.applied')" "true" "compact applies its moves"
t_is "$(gpujson gpu.compact '{"node":"gpu-e3","dry_run":true}' | jq -r '.moves | length')" "0" "compacted: nothing left to move"
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method == "gpu.compact")] | length')" "3" "compact is audited (dry runs too)"

# ---- a topology that drops a GPU holding an instance is refused
cp "$T_DIR/topo.json" "$T_DIR/topo.orig"
jq '(.nodes[] | select(.name == "gpu-e3") | .gpus) |= map(select(.index != '"$gpu"'))' "$T_DIR/topo.orig" >"$T_DIR/topo.json"
out=$($LOOMCTL -o json call topology.reload 2>/dev/null)
t_is "$(echo "$out" | jq -r '.data.name')" "in_use" "topology reload dropping a GPU with instances is refused"
t_ok "$(echo "$out" | jq -r '.message' | grep -q "on gpu-e3 gpu $gpu, which the new topology does not have"; echo $?)" \
	"...naming the instance and the GPU"
cp "$T_DIR/topo.orig" "$T_DIR/topo.json"

# ---- state survives a restart; cascade delete releases
loomd_stop
loomd_start
t_is "$(gpujson gpu.show '{"tenant":"beta"}' | jq -r '[.[].instances[] | select(.tenant == "beta")] | length')" "6" \
	"instances are in the store: a restarted loomd has them"
out=$(gpujson tenant.delete '{"name":"beta","cascade":true}')
t_is "$(echo "$out" | jq -r '.deleted')" "beta" "tenant delete --cascade releases its instances"
t_is "$(gpujson gpu.show '{}' | jq -r '[.[].instances[] | select(.tenant == "beta")] | length')" "0" "...none left"

# ---- a node that fails gives its instances up; a drained one keeps them
wnode=$(gpujson gpu.show '{"tenant":"wendy"}' | jq -r '.[0].node')
$LOOMCTL node drain "$wnode" >/dev/null
t_is "$(gpujson gpu.show '{"tenant":"wendy"}' | jq -r '[.[].instances[] | select(.tenant == "wendy")] | length')" "1" \
	"a drained node keeps its MIG instances"
out=$($LOOMCTL -o json node fail "$wnode" --reason "GPU fell off the bus")
t_is "$(echo "$out" | jq -r '.state')" "failed" "the node fails"
t_is "$(gpujson gpu.show '{}' | jq -r '[.[].instances[] | select(.tenant == "wendy")] | length')" "0" \
	"...and its MIG instances are released"
t_ok "$($LOOMCTL -o json node history "$wnode" | jq -e 'last | .event == "gpu-release" and
	(.reason | test("1 MIG instance released \\(wendy\\) on fail"))' >/dev/null; echo $?)" \
	"...with a gpu-release event in its history naming the tenant"
t_is "$($LOOMCTL -o json audit verify | jq -r '.ok')" "true" "the audit chain verifies"

t_done
