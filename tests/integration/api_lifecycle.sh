#!/bin/bash
# The node lifecycle through a real loomd and loomctl (reconcile = no: the
# state machine, its storage and its effect on the model; no target is
# driven, so a removal is confirmed in the same request).  The RDMA
# measurements are fed in: no RDMA data path runs on this machine.
. "$(dirname "$0")/lib.sh"
t_plan 35

loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff"
loomd_start
t_ok $? "loomd starts"

state() { $LOOMCTL -o json node show "$1" | jq -r '.state + (if .pending then "->" + .pending else "" end)'; }

t_is "$(state gpu-e3)" "available" "a node without a lifecycle row is available"

# Registration and admission.
$LOOMCTL node register gpu-e3 --reason "racked" >/dev/null
t_is "$(state gpu-e3)" "registered" "node register: registered"
out=$($LOOMCTL node register gpu-e3 2>&1)
t_is "$?" "1" "registering twice is refused"
t_ok "$(echo "$out" | grep -q "registered already and 'registered'"; echo $?)" "the refusal names the current state"

$LOOMCTL tenant create acme --site east >/dev/null
$LOOMCTL segment create acme/train --type ethernet >/dev/null
$LOOMCTL segment create acme/ib --type infiniband --pkey 0x0123 >/dev/null
out=$($LOOMCTL attach acme/train gpu-e3 2>&1)
t_is "$?" "1" "attach to a registered node is refused"
t_ok "$(echo "$out" | grep -q "'registered'"; echo $?)" "the refusal says the node is registered"
out=$($LOOMCTL -o json node verify gpu-e3 --result mlx5_0/1,370,gpu-e4,5 --result mlx5_1/1,120,gpu-e4,5)
t_is "$(echo "$out" | jq -r '.state')" "quarantined" "a port far below line rate quarantines the node"
t_is "$(echo "$out" | jq -r '[.rdma[].pass]|map(tostring)|join(",")')" "true,false" "each port judged against its 400G rate"
t_ok "$(echo "$out" | jq -r '.reason' | grep -q "RDMA bandwidth"; echo $?)" "the reason names the RDMA check"
out=$($LOOMCTL -o json node verify gpu-e3 --result mlx5_0/1,370 --result mlx5_1/1,371)
t_is "$(echo "$out" | jq -r '.state')" "available" "verify again with passing results: available"
t_is "$(echo "$out" | jq -r '[.steps[].event]|join(",")')" "verify,verify-pass" "the steps: quarantined -> verifying -> available"
$LOOMCTL node verify gpu-e3 --result mlx5_9/1,370 >/dev/null 2>&1
t_is "$?" "1" "a port the node does not have is refused"

# Assignment, cordon, illegal transitions.
$LOOMCTL attach acme/train gpu-e1 >/dev/null && $LOOMCTL attach acme/ib gpu-e1 >/dev/null
t_is "$(state gpu-e1)" "assigned" "the first attachment assigns an available node"
$LOOMCTL node cordon gpu-e1 --reason "fan noise" >/dev/null
t_is "$(state gpu-e1)" "cordoned" "node cordon"
out=$($LOOMCTL attach acme/train gpu-e1:eth1 2>&1)
t_is "$?" "1" "attach to a cordoned node is refused"
t_ok "$(echo "$out" | grep -q "cordoned"; echo $?)" "the refusal says cordoned"
t_is "$($LOOMCTL -o json node show gpu-e1 | jq -r '.attachments|length')" "2" "a cordoned node keeps its attachments"
out=$($LOOMCTL node cordon gpu-e1 2>&1)
t_is "$?" "1" "cordon twice is refused"
t_ok "$(echo "$out" | grep -q "node gpu-e1: node is 'cordoned', where 'cordon' is not allowed; allowed: release, uncordon, drain, fail, retire (field: name) \\[invalid_state\\]"; echo $?)" \
	"the error names the current state and the allowed events"
$LOOMCTL node uncordon gpu-e1 >/dev/null
t_is "$(state gpu-e1)" "assigned" "uncordon an attached node: assigned"

# Drain removes every attachment in one transaction.
audit_before=$($LOOMCTL -o json audit list --limit 100000 | jq length)
out=$($LOOMCTL -o json node drain gpu-e1 --reason "maintenance")
t_is "$(echo "$out" | jq -r '.detached|length')" "2" "drain detaches both attachments"
t_is "$($LOOMCTL -o json segment show acme/train | jq -r '.attachments|length')" "0" "the segment no longer carries the node"
t_is "$(( $($LOOMCTL -o json audit list --limit 100000 | jq length) - audit_before ))" "1" "one audit record for the whole drain"
t_is "$(state gpu-e1)" "draining" "drained: stays draining until told"
$LOOMCTL node fail gpu-e1 --reason "bad GPU" >/dev/null
t_is "$(state gpu-e1)" "failed" "fail a drained node"
$LOOMCTL node uncordon gpu-e1 >/dev/null 2>&1
t_is "$?" "1" "uncordon a failed node is refused"

# A critical fault cordons (default policy); a repeat inside the hold-down only records.
$LOOMCTL attach acme/train gpu-e2 >/dev/null
out=$($LOOMCTL -o json node fault gpu-e2 --component gpu --severity critical --text "XID 79")
t_is "$(echo "$out" | jq -r '.decision.action + " " + .state')" "cordon cordoned" "a critical fault cordons the node"
out=$($LOOMCTL -o json node fault gpu-e2 --component nic --severity info --text "link flap")
t_is "$(echo "$out" | jq -r '.decision.action + " " + .state')" "record cordoned" "an info fault is only recorded"

# History, and a restart keeps every state.
t_is "$($LOOMCTL -o json node history gpu-e1 | jq -r '[.[].event]|join(",")')" \
	"assign,cordon,uncordon,drain,confirm,fail" "history lists gpu-e1's transitions in order"
t_is "$($LOOMCTL -o json node history gpu-e2 | jq -r '[.[] | .event + ":" + .to]|join(",")')" \
	"assign:assigned,cordon:cordoned,fault:cordoned" "history records the fault that only was recorded"
loomd_stop
loomd_start
t_is "$(state gpu-e1),$(state gpu-e2),$(state gpu-e3)" "failed,cordoned,available" "states survive a restart"
t_is "$($LOOMCTL node list | awk '$1=="gpu-e1"{print $2}')" "failed" "node list shows STATE"

# The critical GPU fault's hold-down (300 s) survived the restart: the same
# signal again is only recorded; another component's still acts.
$LOOMCTL node uncordon gpu-e2 >/dev/null
out=$($LOOMCTL -o json node fault gpu-e2 --component gpu --severity critical --text "XID 79 again")
t_is "$(echo "$out" | jq -r '[.decision.action, .decision.held_down, .state] | join(" ")')" \
	"record true assigned" "a repeat after a restart is still held down"
out=$($LOOMCTL -o json node fault gpu-e2 --component psu --severity critical --text "PSU 2 lost")
t_is "$(echo "$out" | jq -r '[.decision.action, .decision.held_down, .state] | join(" ")')" \
	"cordon false cordoned" "another component's fault acts"

t_done
