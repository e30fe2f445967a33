#!/bin/bash
# tests/integration/gpu_contain.sh: a GPU that cannot be applied leaves
# only itself in error; the node's other GPUs are applied and verified.
# Against the fake NVML (tests/fake_nvml/libfake_nvml.so, a STAND-IN for
# a GPU, since this machine has none) with a state file, as in
# gpu_worker.sh: GPU 0 of gpu-a is lost (NVML_ERROR_GPU_IS_LOST, which
# loom reads as unavailable), GPU 1 is healthy.  A refusal leaves the
# database byte-identical.
. "$(dirname "$0")/lib.sh"
t_plan 6

FAKE=$top_builddir/tests/fake_nvml/libfake_nvml.so
mkdir -p "$T_DIR/gpu-a"
cp "$FAKE" "$T_DIR/gpu-a/libnvidia-ml.so.1"
A=$T_DIR/gpu-a/libnvidia-ml.so.1.state
printf 'dev h100 9 1 0 1\ndev h100 1 1 0 1\n' >"$A"	# MIG 9: lost
db_bytes() { cat "$LOOM_DB" "$LOOM_DB-wal" 2>/dev/null | sha256sum | cut -d' ' -f1; }
# The GPU instances the fake holds on GPU N (0 or 1) of the state file.
gi_on() { awk -v g="$2" '/^dev /{d++} /^gi / && d == g + 1 {n++} END {print n + 0}' "$1"; }

loomd_config "$top_srcdir/tests/integration/data/topo-gpu.json" "reconcile = yes" \
	"gpu.nvml.gpu-a = $T_DIR/gpu-a/libnvidia-ml.so.1"
loomd_start
t_ok $? "loomd starts with gpu-a's fake NVML, its GPU 0 lost"

$LOOMCTL tenant create acme >/dev/null
$LOOMCTL -w 10 gpu apply acme 7g.80gb --node gpu-a --count 2 >/dev/null 2>"$T_DIR/w.err"
t_is "$?" "6" "two 7g.80gb on gpu-a (one per GPU): stored, not converged while GPU 0 is lost (exit 6)"
t_is "$(gi_on "$A" 0) $(gi_on "$A" 1)" "0 1" "GPU 1 got its instance although GPU 0 is lost"
t_is "$($LOOMCTL -o json status | jq -r '[.gpus[] | select(.target == "gpu-a") | .segment + ":" + .state] | sort | join(" ")')" \
	"gpu0:error gpu1:programmed" "status: gpu0 in error, gpu1 programmed"
reason=$($LOOMCTL -o json status | jq -r '.gpus[] | select(.target == "gpu-a" and .segment == "gpu0") | .reason')
echo "$reason" | grep -q "GPU is lost"
t_ok $? "gpu0's reason is NVML's ($reason)"

before=$(db_bytes)
$LOOMCTL gpu apply acme 7g.80gb --node gpu-a >/dev/null 2>&1
t_is "$? $(db_bytes)" "1 $before" "a third 7g.80gb on gpu-a is refused, the database byte-identical"
t_done
