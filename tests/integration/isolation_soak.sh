#!/bin/bash
# tests/integration/isolation_soak.sh: a bounded run of tools/isolation-soak
# (seeded operation sequences over a private lab with a UDP prober between
# every pair of hosts; see the tool).  Two fixed seeds, so that a failure
# reproduces with `tools/isolation-soak SEED STEPS`.  Needs root, FRR, jq.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
if [ "$(id -u)" != 0 ] || [ ! -x /usr/lib/frr/bgpd ] || ! command -v vtysh >/dev/null ||
	! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, FRR and jq"
	exit 0
fi
SOAK_STEPS=${LOOM_SOAK_STEPS:-20}
n=0
for seed in 11 29; do
	n=$((n + 1))
	out=$("$top_srcdir/tools/isolation-soak" -b "$top_builddir" "$seed" "$SOAK_STEPS" 2>&1)
	if [ $? -eq 0 ]; then
		echo "ok $n - seed $seed, $SOAK_STEPS steps: no violation, no finding, matrix = intent"
		echo "# $(echo "$out" | tail -1)"
	else
		echo "not ok $n - seed $seed, $SOAK_STEPS steps"
		echo "$out" | sed 's/^/# /'
	fi
done
echo "1..$n"
