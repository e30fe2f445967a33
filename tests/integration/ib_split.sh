#!/bin/bash
# tests/integration/ib_split.sh: a partition with 200 members (more than
# one 4,000-byte line of the partitions file) on a 200-HCA ibsim fabric:
# real OpenSM must read loom's split member list whole.  Checked on the
# fabric: the driver's SMPs for every member, smpquery for the first and
# last.  TAP; needs root, ibsim, opensm and jq (skips otherwise).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
DRIVER=$top_builddir/tests/integration/ib_driver
LAB=$top_srcdir/lab/ib-lab
SIM_SO=/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so
HCAS=200

if [ "$(id -u)" != 0 ] || ! command -v ibsim >/dev/null || ! command -v opensm >/dev/null ||
	[ ! -f "$SIM_SO" ] || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, ibsim, opensm, umad2sim and jq"
	exit 0
fi

WORK=$(mktemp -d /tmp/lib-ibsplit-XXXXXX)
LABDIR=$WORK/lab
cleanup() {
	"$LAB" down --dir "$LABDIR" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT
n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=1; [ -n "${3:-}" ] && echo "# $3"; fi
}

echo "1..5"
"$LAB" up --dir "$LABDIR" --hcas $HCAS >"$WORK/lab.out" 2>&1
ok $? "lab up with $HCAS HCAs" "$(cat "$WORK/lab.out")"
SOCK=$(sed -n 's/^export IBSIM_SOCKNAME=//p' "$LABDIR/env")

# Members alternate full / limited so both bits are checked across the split.
jq '{partitions: [{pkey: 66, name: "wide", ipoib: true,
	members: [.nodes | sort_by(.hca_ports[0].guid) | to_entries[] |
		{guid: .value.hca_ports[0].guid, membership: (if .key % 2 == 0 then "full" else "limited" end)}]}]}' \
	"$LABDIR/topology.json" >"$WORK/wide.json"

out=$(cd "$WORK" && printf 'apply %s 30000\nquit\n' "$WORK/wide.json" |
	env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" "$DRIVER" \
	--partitions "$LABDIR/partitions.conf" --pid-file "$LABDIR/opensm.pid" 2>"$WORK/driver.err" | tail -n 1)
case "$out" in *'"state":"programmed","ports_ok":200,"ports_total":200'*) r=0 ;; *) r=1 ;; esac
ok $r "all 200 members carry P_Key 0x0042 with the right bit, read from the fabric" "$out"

lines=$(sed -n '/^# BEGIN loom/,/^# END loom/p' "$LABDIR/partitions.conf" | grep -c '^	0x')
longest=$(awk '{ if (length($0) + 1 > m) m = length($0) + 1 } END { print m }' "$LABDIR/partitions.conf")
[ "$lines" -ge 2 ] && [ "$longest" -le 4000 ]
ok $? "the member list is split over $lines lines, the longest $longest bytes (limit 4000)"

first=$(jq -r '.partitions[0].members[0].guid' "$WORK/wide.json")
last=$(jq -r '.partitions[0].members[-1].guid' "$WORK/wide.json")
lid_of() { jq -r --arg g "$1" '.nodes[] | .hca_ports[] | select(.guid == $g) | .lid' "$LABDIR/topology.json"; }
q() { (cd "$WORK" && env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" smpquery pkeys "$1" 1 2>/dev/null); }
q "$(lid_of "$first")" | grep -qw 0x8042; ok $? "smpquery: the first member ($first) is a full member"
q "$(lid_of "$last")" | grep -qw 0x0042; ok $? "smpquery: the last member ($last, after the split) is a limited member"
exit $failed
