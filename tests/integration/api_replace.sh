#!/bin/bash
# node.replace through a real loomd and loomctl (reconcile = no: no target
# is driven, so both barriers pass at once; what is tested is the plan, the
# steps loomd takes and stores one transaction each, the errors that change
# nothing, and resuming after loomd is killed between two steps).
#
# The crash is real: LOOMD_CRASH_AFTER_REPLACE_STEP=N makes loomd SIGKILL
# itself right after the commit that stored step N done; the test restarts
# it and compares the end state with an uninterrupted run's, row for row.
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null && command -v sqlite3 >/dev/null || { echo "1..0 # SKIP needs jq and sqlite3"; exit 0; }
command -v jq >/dev/null || { echo "1..0 # SKIP needs jq"; exit 0; }
TOPO=$top_srcdir/tests/integration/data/topo-api.json
ctl() { "$LOOMCTL" "$@"; }

# A model: acme's train (ethernet) and ib (infiniband, gpu-e1 a limited
# member); gpu-e1 on eth0 and every HCA port, gpu-e2 on both NICs.
model() {
	ctl tenant create acme --site east >/dev/null &&
		ctl segment create acme/train --type ethernet >/dev/null &&
		ctl segment create acme/ib --type infiniband --pkey 0x0123 >/dev/null &&
		ctl attach acme/train gpu-e1:eth0 >/dev/null &&
		ctl attach acme/ib gpu-e1 --membership limited >/dev/null &&
		ctl attach acme/train gpu-e2 >/dev/null
}
state() { ctl -o json node show "$1" | jq -r '.state + (if .pending then "->" + .pending else "" end)'; }

loomd_config "$TOPO" "vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff"
loomd_start
t_ok $? "loomd starts"
model
t_ok $? "acme with gpu-e1 (eth0 + every HCA port) and gpu-e2"

# ---- refused: nothing changes -----------------------------------------------
before=$(db_state)
out=$(ctl -o json node replace gpu-e3 2>/dev/null)
t_is "$?:$(echo "$out" | jq -r '.data.name')" "1:invalid_state" "an available node cannot be replaced"
t_ok "$(echo "$out" | jq -r .message | grep -q "only an assigned or cordoned node can be replaced"; echo $?)" \
	"the error says which nodes can be ($(echo "$out" | jq -r .message))"
out=$(ctl -o json node replace gpu-e1 gpu-w1 2>/dev/null)
t_is "$?:$(echo "$out" | jq -r '.data.name + " " + .data.field')" "1:policy_violation new" \
	"NEW in another site is refused"
t_ok "$(echo "$out" | jq -r .message | grep -q "gpu-w1 is in site west, gpu-e1 in site east"; echo $?)" \
	"the error gives the first reason ($(echo "$out" | jq -r .message))"
out=$(ctl -o json node replace gpu-e1 gpu-e2 2>/dev/null)
t_is "$?:$(echo "$out" | jq -r '.data.name')" "1:invalid_state" "NEW that is not available is refused"
t_ok "$(echo "$out" | jq -r .message | grep -q "gpu-e2 is 'assigned', not 'available'"; echo $?)" \
	"the error names NEW's state ($(echo "$out" | jq -r .message))"
out=$(ctl -o json node replace gpu-e1 gpu-x9 2>/dev/null)
t_is "$?:$(echo "$out" | jq -r '.data.name')" "1:not_found" "an unknown NEW is refused"
out=$(ctl -o json node replace gpu-e1 --goal available 2>/dev/null)
t_is "$?:$(echo "$out" | jq -r '.data.field')" "1:goal" "a goal other than failed/retired/draining is refused"
# The pool without a compatible node: the east spares cordoned, the west ones in the wrong site.
ctl node cordon gpu-e3 >/dev/null && ctl node cordon gpu-e4 >/dev/null
before=$(db_state)
out=$(ctl -o json node replace gpu-e1 2>/dev/null)
t_is "$?:$(echo "$out" | jq -r '.data.name')" "1:not_found" "no compatible candidate: refused"
t_ok "$(echo "$out" | jq -r .message | grep -q "none of the 2 available node(s) is compatible with gpu-e1; e.g. gpu-w1: gpu-w1 is in site west"; echo $?)" \
	"the error names how many were checked and why the first did not fit ($(echo "$out" | jq -r .message))"
t_is "$(db_state)" "$before" "refused requests changed nothing in the store"
t_is "$(state gpu-e1):$(ctl -o json node show gpu-e1 | jq '.attachments|length')" "assigned:2" \
	"gpu-e1 keeps its state and attachments"
ctl node uncordon gpu-e3 >/dev/null && ctl node uncordon gpu-e4 >/dev/null

# ---- replaced, the candidate picked -----------------------------------------
audit0=$(ctl -o json audit list --limit 100000 | jq length)
out=$(ctl -o json -w 10 node replace gpu-e1 --reason "XID 79")
t_is "$?:$(echo "$out" | jq -r '.new + " " + .state + " " + (.wait.converged|tostring)')" "0:gpu-e3 done true" \
	"node replace -w picks gpu-e3 (same rack, first by name) and returns when done"
t_is "$(echo "$out" | jq -r '[.steps[] | .kind + ":" + .state] | join(",")')" \
	"cordon-old:done,detach:done,detach:done,verify-removed:done,assign-new:done,attach:done,attach:done,verify-attached:done" \
	"the steps in order, each done"
t_is "$(echo "$out" | jq -r '[.steps[] | select(.started and .done and (.ms >= 0))] | length')" "8" \
	"each step has its start, end and duration"
t_is "$(state gpu-e1):$(ctl -o json node show gpu-e1 | jq '.attachments|length')" "failed:0" \
	"gpu-e1 ends failed and holds nothing"
t_is "$(ctl -o json node show gpu-e3 | jq -c '[.state, [.attachments[] | [.segment, .port // "", .membership // ""]]]')" \
	'["assigned",[["acme/ib","","limited"],["acme/train","eth0",""]]]' \
	"gpu-e3 is assigned, in both segments, same ports and membership"
t_is "$(ctl -o json node show gpu-e1 | jq -r '.replacement.new'):$(ctl -o json node show gpu-e3 | jq -r '.replacement.old')" \
	"gpu-e3:gpu-e1" "node show lists the replacement on both nodes"
t_is "$(ctl -o json node history gpu-e1 | jq -r '[.[].event] | join(",")')" "assign,cordon,fail,confirm" \
	"gpu-e1's history: cordoned, failed, the removal confirmed"
t_is "$(ctl -o json node history gpu-e3 | jq -r '.[-1] | .event + ":" + .from + ">" + .to + ":" + .reason')" \
	"assign:available>assigned:replaces gpu-e1 in acme" "gpu-e3's history ends with its assignment as the replacement"
t_is "$(ctl -o json audit list --limit 100000 | jq -r --argjson a "$audit0" '.[$a:] | map(.method) | group_by(.) | map("\(.[0])=\(length)") | join(",")')" \
	"node.replace=1,replace.step=10" "audited: the request, each step (barriers when they start and pass)"
t_is "$(ctl -o json audit list --limit 100000 | jq -r '[.[] | select(.method == "replace.step") | .principal] | unique | join(",")')" \
	"loomd" "each step is audited as loomd's own write (the principal is in the chain)"
out=$(ctl replace show gpu-e3)
t_ok "$(echo "$out" | grep -q "^replace gpu-e1 by gpu-e3  state done"; echo $?)" "loomctl replace show prints the replacement"

# A named NEW, another goal.
out=$(ctl -o json node replace gpu-e2 gpu-e4 --goal retired)
t_is "$?:$(echo "$out" | jq -r '.new')" "0:gpu-e4" "node replace with NEW named (the reply is the plan)"
t_wait 5 sh -c "$LOOMCTL -o json replace show gpu-e2 | jq -e '.state == \"done\"'"
t_is "$(state gpu-e2):$(ctl -o json node show gpu-e4 | jq -c '[.attachments[] | [.segment, .port // ""]]')" \
	'retired:[["acme/train",""]]' "--goal retired: gpu-e2 retired, gpu-e4 in acme/train on every port like gpu-e2"
out=$(ctl -o json node replace gpu-e3 2>/dev/null)
t_is "$?:$(echo "$out" | jq -r '.data.name')" "1:not_found" "the pool is empty now: refused"
t_is "$(ctl -o json replace list | jq -r '[.[] | .old + ">" + .new + ":" + .state] | join(",")')" \
	"gpu-e1>gpu-e3:done,gpu-e2>gpu-e4:done" "replace list"
loomd_stop
loomd_start
t_is "$(ctl -o json replace show gpu-e1 | jq -r .state):$(state gpu-e3)" "done:assigned" "records survive a restart"
loomd_stop

# ---- killed between steps, resumed ------------------------------------------
# The end state without the volatile parts (times, seq, hashes): nodes,
# attachments, the replacement's steps, every node event, every audit record.
snapshot() {
	local n volatile='walk(if type == "object" then del(.started, .started_ns, .done, .done_ns, .ms,
		.finished, .finished_ns, .since, .time) else . end)'
	{
		ctl -o json node list | jq -c '[.[] | {name, state, pending, reason, a: [.attachments[] | [.segment, .port, .membership]]}]'
		ctl -o json replace show gpu-e1 | jq -c "$volatile"
		for n in gpu-e1 gpu-e2 gpu-e3; do ctl -o json node history "$n" | jq -c '[.[] | [.event, .from, .to, .goal, .reason]]'; done
		ctl -o json audit list --limit 100000 | jq -c "[.[] | [.method, .params, .result]] | $volatile"
	}
}
# One run in a fresh store: the model, then replace gpu-e1 by gpu-e3.  With
# CRASH = N, loomd dies after step N and is started again.
run_case() {
	local crash=$1 dir=$T_DIR/case$1 rec
	mkdir -p "$dir"
	loomd_config "$TOPO" "vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff"
	LOOM_DB=$dir/loom.db
	sed -i "s|^database = .*|database = $LOOM_DB|" "$LOOM_CONF"
	loomd_start || return 1
	model || return 1
	loomd_stop
	if [ "$crash" -gt 0 ]; then
		LOOMD_CRASH_AFTER_REPLACE_STEP=$crash loomd_start || return 1
		ctl node replace gpu-e1 gpu-e3 --reason "crash test" >/dev/null 2>&1
		t_wait 5 sh -c "! kill -0 $LOOMD_PID"
		t_ok $? "crash after step $crash: loomd killed itself (SIGKILL) after storing the step"
		loomd_stop
		rec=$(sqlite3 "$LOOM_DB" "SELECT value FROM kv WHERE key = 'replace.gpu-e1'")
		t_is "$(echo "$rec" | jq -r '.state + " " + (.done_steps|tostring)')" "running $crash" \
			"crash after step $crash: the store says running, $crash steps done"
		loomd_start || return 1
		t_wait 5 sh -c "$LOOMCTL -o json replace show gpu-e1 | jq -e '.state == \"done\"'"
		t_ok $? "crash after step $crash: the restarted loomd resumes and finishes the replacement"
		grep -q "replacement of gpu-e1 by gpu-e3: resuming after step $crash of 8" "$T_DIR/loomd.log"
		t_ok $? "crash after step $crash: loomd logged where it resumed"
	else
		loomd_start || return 1
		ctl -w 10 node replace gpu-e1 gpu-e3 --reason "crash test" >/dev/null
	fi
	snapshot >"$T_DIR/snap$crash"
	loomd_stop
}
run_case 0
t_is "$(head -1 "$T_DIR/snap0" | jq -r '.[] | select(.name == "gpu-e1" or .name == "gpu-e3") | .name + ":" + .state' | tr '\n' ' ')" \
	"gpu-e1:failed gpu-e3:assigned " "uninterrupted run: gpu-e1 failed, gpu-e3 assigned"
for n in 1 2 4 5 6; do
	run_case "$n"
	if cmp -s "$T_DIR/snap0" "$T_DIR/snap$n"; then r=0; else r=1; diff "$T_DIR/snap0" "$T_DIR/snap$n" | head -20 | sed 's/^/#   /'; fi
	t_ok $r "crash after step $n: the end state equals the uninterrupted run's (nodes, attachments, steps, node events, audit)"
done

# ---- the fault policy's replace action ----------------------------------------
loomd_config "$TOPO" "vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff" "fault.critical = replace"
LOOM_DB=$T_DIR/policy.db
sed -i "s|^database = .*|database = $LOOM_DB|" "$LOOM_CONF"
t_ok "$("$LOOMD" -n -c "$LOOM_CONF" | grep -qx "fault.critical = replace"; echo $?)" \
	"loomd -n prints fault.critical = replace"
loomd_start
model
out=$(ctl -o json -w 10 node fault gpu-e1 --component gpu --severity critical --text "XID 79")
t_is "$?:$(echo "$out" | jq -r '.decision.action + " " + .replacement.new + " " + .replacement.state + " " + (.wait.converged|tostring)')" \
	"0:replace gpu-e3 done true" "a critical fault with fault.critical = replace: replaced by gpu-e3 from the pool (-w: done)"
t_is "$(state gpu-e1):$(state gpu-e3):$(ctl -o json node show gpu-e3 | jq '.attachments|length')" "failed:assigned:2" \
	"gpu-e1 failed, gpu-e3 took its two attachments"
t_is "$(ctl -o json replace show gpu-e1 | jq -r .reason)" "fault gpu/critical: XID 79" "the replacement's reason is the fault"
t_is "$(ctl -o json node history gpu-e1 | jq -r '[.[].event] | join(",")')" "assign,fault,cordon,fail,confirm" \
	"gpu-e1's history: the fault, then the replacement's cordon, fail, confirm"
t_is "$(ctl -o json node history gpu-e1 | jq -r '.[] | select(.event == "fault") | .reason')" \
	"fault gpu/critical: XID 79" "the fault row says the fault, not the node's older reason"
ctl node cordon gpu-e4 >/dev/null
out=$(ctl -o json node fault gpu-e2 --component psu --severity critical --text "PSU 2 lost")
t_is "$?:$(echo "$out" | jq -r '.replacement // "none" | tostring')" "0:none" "a critical fault with no spare left: no replacement"
t_ok "$(echo "$out" | jq -r .replace_error | grep -q "none of the 2 available node(s) is compatible with gpu-e2"; echo $?)" \
	"the reply says why ($(echo "$out" | jq -r .replace_error))"
t_is "$(state gpu-e2):$(ctl -o json node show gpu-e2 | jq '.attachments|length')" "failed:0" \
	"the broken node is still taken out: cordoned and failed"
loomd_stop

# ---- MIG instances follow the replacement -------------------------------------
loomd_config "$TOPO" "vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff"
LOOM_DB=$T_DIR/gpu.db
sed -i "s|^database = .*|database = $LOOM_DB|" "$LOOM_CONF"
loomd_start
insts() { ctl -o json call gpu.show "{\"node\":\"$1\"}" | jq -r '[.[].instances[] | .tenant + ":" + .profile] | sort | join(" ")'; }
ctl tenant create acme --site east >/dev/null && ctl segment create acme/train --type ethernet >/dev/null &&
	ctl -o json call gpu.apply '{"tenant":"acme","profile":"3g.40gb","count":2,"node":"gpu-e1","segments":["train"]}' >/dev/null &&
	ctl -o json call gpu.apply '{"tenant":"acme","profile":"1g.10gb","node":"gpu-e1","segments":["train"]}' >/dev/null
t_is "$(insts gpu-e1)" "acme:1g.10gb acme:3g.40gb acme:3g.40gb" "set-up: acme holds three MIG instances on gpu-e1"
out=$(ctl -o json -w 10 node replace gpu-e1)
new=$(echo "$out" | jq -r .new)
t_is "$?:$(echo "$out" | jq -r .state)" "0:done" "gpu-e1 replaced by a spare from the pool ($new)"
t_is "$(insts gpu-e1)|$(insts "$new")" "|acme:1g.10gb acme:3g.40gb acme:3g.40gb" \
	"the three instances moved: none left on gpu-e1, the same profiles on $new"
t_is "$(ctl -o json replace show gpu-e1 | jq -r '(.gpu_moved|tostring) + " " + (.gpu | map(.profile + "x" + (.count|tostring)) | sort | join(","))')" \
	"3 1g.10gbx1,3g.40gbx2" "the record lists what it moved"
t_is "$(ctl -o json audit list --limit 100000 | jq -r '[.[] | select(.method == "replace.step") | .params.kind] | last')" \
	"gpu-move" "the move is audited as the replacement's last step"
t_is "$(ctl -o json segment show acme/train | jq -r '[.attachments[].node] | unique | join(" ")')" "$new" \
	"acme/train holds $new's rail port, not gpu-e1's"
out=$(ctl -o json -w 10 node replace "$new" --goal draining)
new2=$(echo "$out" | jq -r .new)
t_is "$(echo "$out" | jq -r .state):$(state "$new")" "done:draining" "$new replaced with the goal draining by $new2"
t_is "$(insts "$new")|$(insts "$new2")" "|acme:1g.10gb acme:3g.40gb acme:3g.40gb" \
	"a drained node keeps its instances otherwise; here they moved to $new2, not copied"
t_is "$(ctl -o json audit verify | jq -r .ok)" "true" "the audit chain verifies"
loomd_stop

t_plan "$T_N"
t_done
