#!/bin/bash
# tests/integration/ib_partitions.sh: loom's subnet-manager target against
# a real OpenSM on an ibsim fabric (lab/ib-lab: two switches, four HCAs).
# Every check reads the ports' P_Key tables from the fabric (SMPs through
# ib_driver, and smpquery as a second opinion), never just the file.
# TAP output.  Needs root, ibsim and opensm; skips otherwise.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$PWD}
DRIVER=$top_builddir/tests/integration/ib_driver
LAB=$top_srcdir/lab/ib-lab
SIM_SO=/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so
TIMEOUT_MS=20000

if [ "$(id -u)" != 0 ] || ! command -v ibsim >/dev/null || ! command -v opensm >/dev/null ||
	[ ! -f "$SIM_SO" ] || ! command -v jq >/dev/null; then
	echo "1..0 # SKIP needs root, ibsim, opensm, umad2sim and jq"
	exit 0
fi

WORK=$(mktemp -d /tmp/lib-ibtest-XXXXXX)
LABDIR=$WORK/lab
DRIVER_PID=""
n=0
failed=0

cleanup() {
	trap "" PIPE
	if [ -n "$DRIVER_PID" ] && kill -0 "$DRIVER_PID" 2>/dev/null; then
		[ -n "${DRV[1]:-}" ] && echo quit >&"${DRV[1]}" 2>/dev/null
		for _ in $(seq 1 20); do kill -0 "$DRIVER_PID" 2>/dev/null || break; sleep 0.1; done
		kill "$DRIVER_PID" 2>/dev/null
	fi
	"$LAB" down --dir "$LABDIR" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT

ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=1
		[ -n "${3:-}" ] && echo "# $3"
	fi
}

# One command to the driver, its one-line answer in $R.
send() {
	echo "$*" >&"${DRV[1]}"
	if ! IFS= read -r -t 60 R <&"${DRV[0]}"; then
		R="error driver-died - no answer to: $*"
	fi
}

# desired JSON from a compact spec: "PKEY:name:flags:GUID=m,GUID=m;..."
desired() {
	local out=$1 spec=$2 first=1 part
	{
		printf '{"partitions":['
		IFS=';' read -ra parts <<<"$spec"
		for part in "${parts[@]}"; do
			[ -n "$part" ] || continue
			IFS=':' read -r pkey name flags members <<<"$part"
			[ $first = 1 ] || printf ','
			first=0
			printf '{"pkey":"%s","name":"%s"' "$pkey" "$name"
			case "$flags" in *ipoib*) printf ',"ipoib":true' ;; esac
			printf ',"members":['
			local mfirst=1 m g mm
			IFS=',' read -ra ms <<<"$members"
			for m in "${ms[@]}"; do
				[ -n "$m" ] || continue
				g=${m%%=*}
				mm=${m#*=}
				[ $mfirst = 1 ] || printf ','
				mfirst=0
				printf '{"guid":"%s","membership":"%s"}' "$g" "$mm"
			done
			printf ']}'
		done
		printf ']}\n'
	} >"$out"
}

has_pkey() {	# has_pkey GUID ENTRY: the port's table (from the fabric) has ENTRY
	send pkeys "$1"
	case " ${R#ok} " in *" $2 "*) return 0 ;; esac
	return 1
}

section_outside() {	# the file without loom's section
	sed '/^# BEGIN loom-managed partitions/,/^# END loom-managed partitions/d' "$LABDIR/partitions.conf"
}

echo "1..31"

"$LAB" up --dir "$LABDIR" --hcas 4 >"$WORK/lab.out" 2>&1
ok $? "lab up: ibsim (2 switches, 4 HCAs) and OpenSM" "$(cat "$WORK/lab.out")"
mapfile -t G < <(jq -r '.nodes | sort_by(.name)[] | .hca_ports[0].guid' "$LABDIR/topology.json")
mapfile -t L < <(jq -r '.nodes | sort_by(.name)[] | .hca_ports[0].lid' "$LABDIR/topology.json")
. "$LABDIR/env"
export -n LD_PRELOAD IBSIM_SOCKNAME
SOCK=$IBSIM_SOCKNAME
unset LD_PRELOAD IBSIM_SOCKNAME

# The operator's own partition, outside loom's section.
printf '%s\n' "ops=0x0100 : ${G[3]}=full;  # operator's" >>"$LABDIR/partitions.conf"
cp "$LABDIR/partitions.conf" "$WORK/operator.conf"

coproc DRV { cd "$WORK" && exec env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" "$DRIVER" \
	--partitions "$LABDIR/partitions.conf" --pid-file "$LABDIR/opensm.pid" --sm ib-lab 2>"$WORK/driver.err"; }
DRIVER_PID=$DRV_PID
IFS= read -r -t 30 R <&"${DRV[0]}"
[ "$R" = "ok ready" ]; ok $? "driver opened the umad port" "$R"

# create
desired "$WORK/d1.json" "0x0002:acme.train:ipoib:${G[0]}=full,${G[1]}=limited;0x0003:acme.store::${G[2]}=full;0x0004:acme.empty::"
send apply "$WORK/d1.json" $TIMEOUT_MS
case "$R" in "ok 0 "*) r=0 ;; *) r=1 ;; esac
ok $r "create: three partitions programmed and verified on the fabric" "$R"
has_pkey "${G[0]}" 0x8002 && ! has_pkey "${G[0]}" 0x0002; ok $? "full member reads back 0x8002 (hca1)"
has_pkey "${G[1]}" 0x0002 && ! has_pkey "${G[1]}" 0x8002; ok $? "limited member reads back 0x0002 (hca2)"
out=$(cd "$WORK" && env IBSIM_SOCKNAME="$SOCK" LD_PRELOAD="$SIM_SO" smpquery pkeys "${L[1]}" 1 2>/dev/null)
echo "$out" | grep -qw 0x0002 && ! echo "$out" | grep -qw 0x8002
ok $? "smpquery agrees: hca2 is a limited member" "$out"
! has_pkey "${G[3]}" 0x8002 && ! has_pkey "${G[3]}" 0x0002; ok $? "a non-member does not carry 0x0002"

m0=$(stat -c %Y.%i "$LABDIR/partitions.conf")
send write "$WORK/d1.json"
[ "$R" = "ok unchanged" ] && [ "$(stat -c %Y.%i "$LABDIR/partitions.conf")" = "$m0" ]
ok $? "writing the same state again is a no-op (file not replaced)" "$R"

# the operator's partition
diff <(section_outside) "$WORK/operator.conf" >/dev/null; ok $? "the operator's lines are kept byte for byte"
has_pkey "${G[3]}" 0x8100; ok $? "the operator's partition 0x0100 is still on hca4"

# per-port usage from the tables just read (no MAD I/O): hca4 carries
# Default and the operator's 0x0100, both foreign to loom
desired "$WORK/u.json" "0x0002:u::${G[0]}=full,${G[3]}=full"
send stats; s0=$R
send usage "$WORK/u.json"
U=$R
send stats
case "$U" in *"${G[0]}:valid:64:2:1"*"${G[3]}:valid:64:2:2"*) [ "$R" = "$s0" ]; r=$? ;; *) r=1 ;; esac
ok $r "port usage: capacity 64, used and foreign entries per port, without MAD I/O" "$U"

# grow
desired "$WORK/d2.json" "0x0002:acme.train:ipoib:${G[0]}=full,${G[1]}=limited,${G[2]}=limited;0x0003:acme.store::${G[2]}=full;0x0004:acme.empty::"
send apply "$WORK/d2.json" $TIMEOUT_MS
case "$R" in "ok 0 "*) r=0 ;; *) r=1 ;; esac
ok $r "grow: hca3 added to 0x0002" "$R"
has_pkey "${G[2]}" 0x0002 && has_pkey "${G[2]}" 0x8003; ok $? "hca3 carries 0x0002 (limited) and 0x8003"

# shrink
desired "$WORK/d3.json" "0x0002:acme.train:ipoib:${G[0]}=full,${G[2]}=limited;0x0003:acme.store::${G[2]}=full;0x0004:acme.empty::"
send apply "$WORK/d3.json" $TIMEOUT_MS
case "$R" in "ok 0 "*) r=0 ;; *) r=1 ;; esac
ok $r "shrink: hca2 removed from 0x0002, verified gone" "$R"
! has_pkey "${G[1]}" 0x0002 && ! has_pkey "${G[1]}" 0x8002; ok $? "hca2 no longer carries 0x0002"

# move hca1 from 0x0002 to 0x0003: detach, verify, then attach (never in both)
desired "$WORK/d4.json" "0x0002:acme.train:ipoib:${G[2]}=limited;0x0003:acme.store::${G[2]}=full;0x0004:acme.empty::"
send apply "$WORK/d4.json" $TIMEOUT_MS
case "$R" in "ok 0 "*) r=0 ;; *) r=1 ;; esac
! has_pkey "${G[0]}" 0x8002 && ! has_pkey "${G[0]}" 0x8003 && [ $r = 0 ]
ok $? "move, step 1: hca1 detached from 0x0002 and in neither partition" "$R"
desired "$WORK/d5.json" "0x0002:acme.train:ipoib:${G[2]}=limited;0x0003:acme.store::${G[0]}=full,${G[2]}=full;0x0004:acme.empty::"
send apply "$WORK/d5.json" $TIMEOUT_MS
case "$R" in "ok 0 "*) r=0 ;; *) r=1 ;; esac
has_pkey "${G[0]}" 0x8003 && ! has_pkey "${G[0]}" 0x8002 && [ $r = 0 ]
ok $? "move, step 2: hca1 in 0x0003 only" "$R"

# delete
desired "$WORK/d6.json" "0x0002:acme.train:ipoib:${G[2]}=limited;0x0004:acme.empty::"
send apply "$WORK/d6.json" $TIMEOUT_MS
case "$R" in *'"pkey":3,"name":"acme.store","removed":true,"state":"programmed"'*) r=0 ;; *) r=1 ;; esac
! has_pkey "${G[0]}" 0x8003 && ! has_pkey "${G[2]}" 0x8003 && [ $r = 0 ]
ok $? "delete: 0x0003 removed and verified gone from every port" "$R"

# bad input: refused, file untouched
cp "$LABDIR/partitions.conf" "$WORK/before.conf"
bad() {	# bad SPEC EXPECTED-ERROR-PREFIX WHAT
	desired "$WORK/bad.json" "$1"
	send write "$WORK/bad.json"
	case "$R" in "$2"*) cmp -s "$WORK/before.conf" "$LABDIR/partitions.conf"; ok $? "$3" "$R" ;;
	*) ok 1 "$3" "$R" ;; esac
}
bad "0x0002:x::0x00000000deadbeef=full" "error not_found partitions[0].members[0].guid" \
	"unknown GUID refused (not_found, names the member), file untouched"
bad "0x0000:x::${G[0]}=full" "error out_of_range partitions[0].pkey" "P_Key 0x0000 refused, file untouched"
bad "0x7fff:x::${G[0]}=full" "error out_of_range partitions[0].pkey" "P_Key 0x7fff refused, file untouched"
bad "0xffff:x::${G[0]}=full" "error out_of_range partitions[0].pkey" "P_Key 0xffff refused, file untouched"
bad "0x0005:x::${G[0]}=full;0x0005:y::${G[1]}=full" "error conflict partitions[1].pkey" \
	"duplicate P_Key refused, file untouched"
bad "0x0100:x::${G[0]}=full" "error conflict partitions[0].pkey" \
	"the operator's P_Key 0x0100 refused, file untouched"

# capacity: ibsim ports hold 64 P_Keys; Default takes one
spec=""
for i in $(seq 1 64); do spec+="$(printf '0x%04x' $((0x1000 + i))):cap$i::${G[0]}=full;"; done
desired "$WORK/cap.json" "$spec"
send write "$WORK/cap.json"
case "$R" in "error pool_exhausted partitions["*"].members[0].guid port ${G[0]}"*"holds 64"*)
	cmp -s "$WORK/before.conf" "$LABDIR/partitions.conf"; r=$? ;; *) r=1 ;; esac
ok $r "64 partitions on one port refused: names the port and its capacity 64" "$R"

# hand edit: detected, then repaired by writing again
sed -i "s/${G[2]}=limited/${G[2]}=full/" "$LABDIR/partitions.conf"
send handedit
[ "$R" = "ok changed" ]; ok $? "a hand edit of loom's section is detected" "$R"
send apply "$WORK/d6.json" $TIMEOUT_MS
r=1
case "$R" in "ok 0 "*) has_pkey "${G[2]}" 0x0002 && ! has_pkey "${G[2]}" 0x8002 && r=0 ;; esac
send handedit
[ $r = 0 ] && [ "$R" = "ok changed" ] && r=1
ok $r "repaired: the section rewritten and hca3 limited again on the fabric" "$R"

# OpenSM killed and restarted
"$LAB" sm-stop --dir "$LABDIR"
send signal
case "$R" in "error backend_unavailable pid_file"*"$LABDIR/opensm.pid"*) r=0 ;; *) r=1 ;; esac
ok $r "SIGHUP with OpenSM down: backend_unavailable naming the pid file" "$R"
"$LAB" sm-start --dir "$LABDIR" >"$WORK/sm.out" 2>&1
send restarted
r=1; [ "$R" = "ok yes" ] && r=0
send converge "$WORK/d6.json" $TIMEOUT_MS
case "$R" in "ok 0 "*) ;; *) r=1 ;; esac
send restarted
[ "$R" = "ok no" ] || r=1
ok $r "OpenSM restart detected once, and the partitions re-verified on the fabric" "$R"

# the fabric stops answering (ibsim paused): timeouts and retries give a
# clear error, within the time limit; once it answers again, verification
# recovers (late answers to the old requests are dropped)
IBSIM_PID=$(cat "$LABDIR/ibsim.pid")
send stats
read -r _ _ b_retries b_timeouts <<<"$R"
kill -STOP "$IBSIM_PID"
t0=$(date +%s%N)
send verify "$WORK/d6.json"
t1=$(date +%s%N)
kill -CONT "$IBSIM_PID"
V=$R
send stats
read -r _ _ a_retries a_timeouts <<<"$R"
elapsed=$(( (t1 - t0) / 1000000 ))
r=1
case "$V" in "error backend_unavailable umad_port"*"timed out"*)
	[ $((a_retries - b_retries)) -eq 3 ] && [ $((a_timeouts - b_timeouts)) -eq 1 ] &&
		[ "$elapsed" -lt 3000 ] && r=0 ;;
esac
ok $r "fabric silent: 3 retries, then a timeout error naming the umad port (${elapsed} ms)" "$V / $R"
send converge "$WORK/d6.json" $TIMEOUT_MS
case "$R" in "ok 0 "*) r=0 ;; *) r=1 ;; esac
ok $r "fabric back: verification converges again" "$R"

exit $failed
