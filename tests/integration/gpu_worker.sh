#!/bin/bash
# The GPU worker through loomd, against the fake NVML
# (tests/fake_nvml/libfake_nvml.so): a STAND-IN for a GPU, since this
# machine has none.  Each "node" gets its own copy of the library with a
# state file next to it, so that two nodes have separate GPUs and this
# script can see and change what loomd did (drift behind loom's back).
. "$(dirname "$0")/lib.sh"
t_plan 17

FAKE=$top_builddir/tests/fake_nvml/libfake_nvml.so
for n in gpu-a gpu-b; do
	mkdir -p "$T_DIR/$n"
	cp "$FAKE" "$T_DIR/$n/libnvidia-ml.so.1"
done
# gpu-a: two H100 with MIG on; gpu-b: two H100 with MIG off.
printf 'dev h100 1 1 0 1\ndev h100 1 1 0 1\n' >"$T_DIR/gpu-a/libnvidia-ml.so.1.state"
printf 'dev h100 0 0 0 1\ndev h100 0 0 0 1\n' >"$T_DIR/gpu-b/libnvidia-ml.so.1.state"
A=$T_DIR/gpu-a/libnvidia-ml.so.1.state
B=$T_DIR/gpu-b/libnvidia-ml.so.1.state

loomd_config "$top_srcdir/tests/integration/data/topo-gpu.json" "reconcile = yes" \
	"gpu.nvml.gpu-a = $T_DIR/gpu-a/libnvidia-ml.so.1" "gpu.nvml.gpu-b = $T_DIR/gpu-b/libnvidia-ml.so.1"
loomd_start
t_ok $? "loomd starts with two GPU workers"

$LOOMCTL tenant create acme >/dev/null
$LOOMCTL tenant create beta >/dev/null

# A GPU instance (3g.40gb = profile ID 9 on H100) as the fake writes it: "gi SLOT ID 9 START ...".
has_gi() { grep -q "^gi [0-9]* [0-9]* $2 $3 1 " "$1"; }
gi_count() { grep -c '^gi ' "$1"; }

out=$($LOOMCTL -w 20 -o json gpu apply acme 3g.40gb --node gpu-a)
t_is "$?" "0" "gpu apply -w returns once the GPU worker applied and verified it"
start=$(echo "$out" | jq -r '.placements[0].start')
gpu=$(echo "$out" | jq -r '.placements[0].gpu')
t_ok "$(has_gi "$A" 9 "$start"; echo $?)" "the fake GPU holds the 3g.40gb GPU instance at slice $start, with its compute instance"
t_is "$($LOOMCTL -o json gpu show --node gpu-a | jq -r ".[$gpu].apply.state")" "programmed" "gpu show: programmed"
t_is "$($LOOMCTL -o json status | jq -r '[.gpus[] | select(.target == "gpu-a") | .state] | unique | join(",")')" "programmed" \
	"status: every GPU of gpu-a programmed"
t_is "$(gi_count "$B")" "0" "the other node's GPUs are untouched (separate state)"

out=$($LOOMCTL -w 20 -o json gpu apply beta 1g.10gb --node gpu-a --count 2)
t_is "$(gi_count "$A")" "3" "a second tenant's two 1g.10gb instances: three GPU instances on gpu-a"

# Drift: the 3g instance destroyed behind loom's back.
sed -i "/^gi [0-9]* [0-9]* 9 $start /d" "$A"
t_ok "$(has_gi "$A" 9 "$start"; [ $? -ne 0 ]; echo $?)" "drift: the instance is gone from the GPU"
t_wait 15 has_gi "$A" 9 "$start"
t_ok $? "the worker sees the drift and recreates it at the same placement"
t_wait 10 sh -c "$LOOMCTL -o json gpu show --node gpu-a | jq -e '.[$gpu].apply.state == \"programmed\"'"
t_ok $? "...and reports the GPU programmed again"

# MIG mode off: an error with the reason; loom does not turn it on.
$LOOMCTL -w 10 gpu apply acme 1g.10gb --node gpu-b >/dev/null 2>"$T_DIR/w.err"
t_is "$?" "6" "gpu apply -w on a GPU with MIG mode off: stored, not converged (exit 6)"
t_ok "$(grep -q "MIG mode is off" "$T_DIR/w.err"; echo $?)" "...and -w says why"
reason=$($LOOMCTL -o json status | jq -r '[.gpus[] | select(.target == "gpu-b" and .state == "error") | .reason][0]')
t_ok "$(echo "$reason" | grep -q "MIG mode is off on GPU .*gpu.allow_mig_mode = yes"; echo $?)" \
	"status: error, MIG mode off, and how to allow it ($reason)"
t_is "$(awk '$1 == "dev" {print $2, $3, $4}' "$B" | sort -u)" "h100 0 0" "MIG mode was left off, never set"

# A node whose NVML loomd.conf does not name: planned and recorded, not applied.
$LOOMCTL gpu apply acme 1g.10gb --node gpu-c >/dev/null
t_ok "$($LOOMCTL -o json gpu show --node gpu-c | jq -r '.[0].apply.reason' | grep -q "no NVML reachable for node gpu-c"; echo $?)" \
	"gpu show: no NVML reachable for node gpu-c"
t_ok "$($LOOMCTL -o json status | jq -r '.gpus[] | select(.target == "gpu-c") | .reason' | grep -q "no NVML reachable"; echo $?)" \
	"status says so too"

# Release destroys the instances on the GPU.
$LOOMCTL -w 20 gpu release beta --node gpu-a >/dev/null
t_is "$(gi_count "$A")" "1" "release: beta's instances are destroyed, acme's stays"

t_done
