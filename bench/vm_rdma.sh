#!/bin/bash
# ib_write_bw over soft-RoCE (rdma_rxe) in the lab VM: the rate per shape
# of the test, and its wall time.  Run from the repository root:
#   tools/vmlab -v bench/vm_rdma.sh [ROUNDS]     (default 3 rounds)
#   tools/vmlab -v bench/vm_rdma.sh tbf          a tbf-shaped run (see below)
# The devices' plumbing: tests/vm/rxe_lib.sh.  Results: BENCHMARKS.md.
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/vm/rxe_lib.sh"
trap rxe_pair_down EXIT
rxe_pair_up rxenode rxepeer || exit 1
gid=$(rxe_gid rxenode)
run() {	# run LABEL ARGS...: one ib_write_bw, both ends here
	local label=$1 s e out rc
	shift
	timeout 60 ib_write_bw -d rxepeer -x "$gid" -F --report_gbits "$@" >/dev/null 2>&1 &
	sleep 1
	s=$(date +%s%N)
	out=$(timeout 55 ib_write_bw -d rxenode -x "$gid" -F --report_gbits "$@" "$RXE_PEER_IP" 2>&1)
	rc=$?
	e=$(date +%s%N)
	wait
	printf '%-34s rc=%-3s wall=%6d ms  %s\n' "$label" "$rc" $(( (e - s) / 1000000 )) \
		"$(echo "$out" | awk '/^ *[0-9]+ +[0-9]+ /{r=$0} END{print r}')"
}
if [ "${1:-}" = tbf ]; then
	# A tbf on the node's link.  With 4 sends in flight (loom's lab shape)
	# the tool measures the shaper; with ib_write_bw's default of 128 the
	# client once hung after its report and 6.1's rxe once panicked, packets
	# still queued behind a destroyed queue pair: that run goes last.
	tc qdisc add dev vmrn root tbf rate 20mbit burst 64kb limit 4mb
	run "q1 64KiB D3 t4, tbf 20mbit" -q 1 -s 65536 -D 3 -t 4
	run "q1 64KiB D3 t4, tbf 20mbit" -q 1 -s 65536 -D 3 -t 4
	run "q1 64KiB D3 t128, tbf 20mbit" -q 1 -s 65536 -D 3
	exit 0
fi
echo "# GID index $gid; columns: #bytes #iterations BW-peak BW-average[Gb/s] MsgRate"
for i in $(seq "${1:-3}"); do
	run "q1 64KiB D3 t4 (loom's lab shape)" -q 1 -s 65536 -D 3 -t 4
	run "q1 64KiB D3 t128" -q 1 -s 65536 -D 3
	run "q1 1MiB D3" -q 1 -s 1048576 -D 3
	run "q4 1MiB D3 (loom's default shape)" -q 4 -s 1048576 -D 3
done
ip link set vmrn mtu 1500; ip link set vmrp mtu 1500
run "q1 64KiB D3, MTU 1500" -q 1 -s 65536 -D 3
