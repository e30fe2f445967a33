#!/bin/bash
# MIG through loomd at fleet scale: 1,000 nodes with 8 H100 each (8,000
# GPUs) and two NIC ports, ten soft tenants.  Times, over one connection
# (requests pipelined, as the provisioning layer would send them):
#   A  1,000 segment.attach of one port       (baseline: the plain write path)
#   B  1,000 gpu.apply of one 1g.10gb, node given (planner + instance row +
#      the rail port attached through the same path as A)
#   C  100 gpu.plan with no node: a search over all 8,000 GPUs per request
# Usage: bench/gpu_api.sh   (top_builddir = the build folder; default build/)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
b=${top_builddir:-$top/build}
dir=$(mktemp -d /tmp/loombench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
N=1000
jq -n --argjson n $N '{
  sites: [{name: "s1"}],
  vteps: [{name: "vt1", site: "s1", vtep_ip: "203.0.113.1", asn: 65001, vty_dir: "/nonexistent"}],
  nodes: [range($n) as $i | {name: "n\($i)", site: "s1",
    nic_ports: [range(2) as $p | {name: "eth\($p)",
      mac: ("02:00:%02x:%02x:%02x:%02x" | sub("%02x"; ($i / 256 | floor | tostring)) ) ,
      vtep: "vt1", access_port: "a\($i)-\($p)"}],
    gpus: [range(8) as $g | {index: $g, model: "H100-SXM5-80GB", mig_capable: true, nic_port: "eth\($g % 2)"}]}]
}' >"$dir/topo.json"
# MACs must be unique: write them with printf instead of jq's formatting.
i=0
while [ $i -lt $N ]; do printf '02:00:00:%02x:%02x:00\n02:00:00:%02x:%02x:01\n' $((i / 256)) $((i % 256)) $((i / 256)) $((i % 256)); i=$((i + 1)); done >"$dir/macs"
jq --rawfile m "$dir/macs" '($m | split("\n")) as $macs | .nodes |= [to_entries[] | .key as $k | .value | .nic_ports |= [to_entries[] | .value.mac = $macs[$k * 2 + .key] | .value]]' \
	"$dir/topo.json" >"$dir/topo2.json"
cat >"$dir/loomd.conf" <<CONF
socket = $dir/loomd.sock
database = $dir/loom.db
topology = $dir/topo2.json
log_level = warn
reconcile = no
vni_range = 10000-10999
CONF
"$b/loomd" -f -c "$dir/loomd.conf" &
pid=$!
for _ in $(seq 200); do [ -S "$dir/loomd.sock" ] && break; sleep 0.05; done
req() { printf '{"jsonrpc":"2.0","id":%d,"method":"%s","params":%s}\n' "$1" "$2" "$3"; }
{
	for t in $(seq 0 9); do
		req 1 tenant.create "{\"name\":\"t$t\"}"
		req 2 segment.create "{\"tenant\":\"t$t\",\"name\":\"net\",\"type\":\"ethernet\"}"
	done
} | "$b/tests/integration/rawclient" "$dir/loomd.sock" >/dev/null
run() { # label file -> ms
	local t0 t1 errs
	t0=$(date +%s%N)
	"$b/tests/integration/rawclient" "$dir/loomd.sock" <"$2" >"$2.out"
	t1=$(date +%s%N)
	errs=$(grep -c '"error"' "$2.out" || true)
	echo "$1: $(wc -l <"$2") requests, $(((t1 - t0) / 1000000)) ms, $errs errors"
}
for i in $(seq 0 $((N - 1))); do req "$i" segment.attach "{\"segment\":\"t$((i % 10))/net\",\"node\":\"n$i\",\"port\":\"eth1\"}"; done >"$dir/a"
for i in $(seq 0 $((N - 1))); do req "$i" gpu.apply "{\"tenant\":\"t$((i % 10))\",\"profile\":\"1g.10gb\",\"node\":\"n$i\"}"; done >"$dir/b"
for i in $(seq 0 99); do req "$i" gpu.plan "{\"tenant\":\"t$((i % 10))\",\"profile\":\"3g.40gb\",\"count\":2}"; done >"$dir/c"
run "A segment.attach (baseline)" "$dir/a"
run "B gpu.apply, node given" "$dir/b"
run "C gpu.plan over 8,000 GPUs" "$dir/c"
LOOM_SOCKET=$dir/loomd.sock "$b/loomctl" -o json gpu show --node n7 | jq -r '.[] | select(.instances | length > 0) | .picture' | head -4
