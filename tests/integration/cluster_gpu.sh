#!/bin/bash
# tests/integration/cluster_gpu.sh: a GPU node driven through its
# loom-agent (kind node) on the fake NVML (tests/fake_nvml/libfake_nvml.so),
# a STAND-IN for a GPU, since this machine has none: the library keeps the
# GPUs' MIG layout in a state file next to it, which this script reads.
# loomd in cluster mode publishes gpu-a's MIG layout to etcd; the agent
# applies it through the same GPU target code loomd runs in-process: the
# instances appear in the fake GPU's state, `-w` waits for the agent's
# report, a release destroys them, and the agent killed -9 leaves them as
# they are.  Real etcd (one member); no namespace, so no lab lock.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
AGENT=$top_builddir/loom-agent
FAKE=$top_builddir/tests/fake_nvml/libfake_nvml.so
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
t_plan 10

mkdir -p "$T_DIR/gpu-a"
cp "$FAKE" "$T_DIR/gpu-a/libnvidia-ml.so.1"
A=$T_DIR/gpu-a/libnvidia-ml.so.1.state
printf 'dev h100 1 1 0 1\ndev h100 1 1 0 1\n' >"$A"	# two H100, MIG on
# A GPU instance as the fake writes it: "gi SLOT ID PROFILE START ...".
has_gi() { grep -q "^gi [0-9]* [0-9]* $1 $2 1 " "$A"; }
gi_count() { grep -c '^gi ' "$A"; }

etcd_cluster c 1 || exit 1
printf '%s\n' "name = gpu-a" "kind = node" "cluster.etcd = $c_EPS" "cluster.lease_ttl = 2" \
	"topology = $top_srcdir/tests/integration/data/topo-gpu.json" \
	"gpu.nvml = $T_DIR/gpu-a/libnvidia-ml.so.1" "resync_interval = 3600" >"$T_DIR/agent.conf"
"$AGENT" -n -c "$T_DIR/agent.conf" >/dev/null
t_is "$?" "0" "loom-agent -n: gpu-a is a node of the topology"
agent_start() {
	"$AGENT" -c "$T_DIR/agent.conf" 2>>"$T_DIR/agent.log" &
	APID=$!
	T_PIDS="$T_PIDS $!"
}
agent_start
alive() {
	curl -sf -X POST "$c_EPS/v3/kv/range" -d "{\"key\":\"$(printf /loom/v1/alive/gpu-a | base64 -w0)\"}" |
		jq -e '.count == "1"' >/dev/null
}
t_wait 10 alive
t_ok $? "loom-agent kind node up on the fake NVML, holding its lease"

# loomd has no NVML of its own here (no gpu.nvml.NODE): gpu-a goes through etcd.
loomd_config "$top_srcdir/tests/integration/data/topo-gpu.json" "reconcile = yes" \
	"cluster.etcd = $c_EPS" "cluster.lease_ttl = 2"
loomd_start || exit 1
$LOOMCTL tenant create acme >/dev/null && $LOOMCTL tenant create beta >/dev/null
out=$($LOOMCTL -w 20 -o json gpu apply acme 3g.40gb --node gpu-a)
t_is "$?" "0" "gpu apply -w returns once the agent applied and reported it"
start=$(echo "$out" | jq -r '.placements[0].start')
t_ok "$(has_gi 9 "$start"; echo $?)" "  ...the fake GPU holds the 3g.40gb GPU instance at slice $start"
t_is "$($LOOMCTL -o json status | jq -r '[.gpus[] | select(.target == "gpu-a") | .state] | unique | join(",")'):$($LOOMCTL -o json status | jq -r '.targets[] | select(.name == "gpu-a") | .kind')" \
	"programmed:remote" "  ...status: gpu-a's GPUs programmed, reported by the agent (a remote target)"
gpu=$(echo "$out" | jq -r '.placements[0].gpu')
t_is "$($LOOMCTL -o json gpu show --node gpu-a | jq -r ".[$gpu].apply.state")" "programmed" \
	"  ...gpu show: programmed (the agent's report, not 'no NVML reachable')"
$LOOMCTL -w 20 gpu apply beta 1g.10gb --node gpu-a --count 2 >/dev/null
t_is "$?:$(gi_count)" "0:3" "a second tenant's two 1g.10gb: three GPU instances on gpu-a"
$LOOMCTL -w 20 gpu release beta --node gpu-a >/dev/null
t_is "$?:$(gi_count)" "0:1" "release -w: beta's instances destroyed, acme's stays"

before=$(grep '^gi ' "$A")
kill -KILL "$APID"; wait "$APID" 2>/dev/null
$LOOMCTL gpu apply beta 1g.10gb --node gpu-a >/dev/null
sleep 1
t_is "$(grep '^gi ' "$A")" "$before" "the agent killed -9 and a change made meanwhile: the GPU keeps what it had"
agent_start
t_wait 15 sh -c "test \$(grep -c '^gi ' '$A') = 2"
t_ok $? "  ...restarted, the agent applies the change (two instances)"
[ "$T_FAILED" -eq 0 ] || tail -10 "$T_DIR/agent.log" | sed 's/^/# agent: /'
t_done
