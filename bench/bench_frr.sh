#!/bin/bash
# bench/bench_frr.sh: adding one VNI when N (default 4000) are configured in
# FRR: loom's diff + apply (bench/bench_frr) against
# /usr/lib/frr/frr-reload.py --reload of the whole new config, the usual way
# people apply a config.  Both run against the same bgpd (VTEP vt1 of a lab
# with prefix lmf-bNNN), in the same rounds, back to back (bench_frr runs the
# baseline itself so both see the same machine load).
#
#   bench/bench_frr.sh [N] [ROUNDS]      (from the build dir; needs root)
set -u

N=${1:-4000}
ROUNDS=${2:-9}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
LAB=$top_srcdir/lab/loom-lab
BENCH=$top_builddir/bench/bench_frr
# Unique per run (3 hex digits of the pid): another build tree may run
# the same test at the same time.
P=lmf-b$(printf %03x $(($$ % 4096)))
VTY=/var/run/frr/$P-vt1

WORK=$(mktemp -d /tmp/lmf-bench-frr.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	"$LAB" -p $P -d "$WORK/lab" down >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

"$LAB" -p $P -d "$WORK/lab" up >/dev/null || exit 1
mkdir -p "$WORK/reload"

echo "# bench_frr $VTY 65001 203.0.113.1 $N $ROUNDS (load average before: $(cut -d' ' -f1-3 /proc/loadavg))"
"$BENCH" "$VTY" 65001 203.0.113.1 "$N" "$ROUNDS" "$WORK/reload" || exit 1
echo "plus1_conf_lines=$(wc -l <"$WORK/reload/plus1.conf")"
# vtysh -c limits: the kernel caps one argument at 128 KiB and all of them
# (with the environment) at ARG_MAX; loom falls back to -f past 512 KiB.
echo "arg_max=$(getconf ARG_MAX)"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
