#!/bin/bash
# node.verify's RDMA check against a pool of reference peers (rdma.peer
# names several nodes): one check per peer port at a time, the others
# queued; a failure at a peer's end is tried on another peer, and when no
# peer can run it the node stays `verifying`, the peer named as the cause.
#
# rdma.tool is a stand-in for ib_write_bw (no RDMA data path here; the
# real one runs in tests/vm/vm_rdma_admit.sh).  Its server end takes the
# TCP port (-p) as its lock, the way the real one binds it: a second server
# end on a busy port is recorded as an overlap.  Its client end is refused
# ("Couldn't connect") until its server end listens, like the real one.
. "$(dirname "$0")/lib.sh"
t_plan 12

GOLDEN=$top_srcdir/tests/golden/rdma
FAKE=$T_DIR/fake-bw
cat >"$FAKE" <<EOS
#!/bin/sh
d=\$(dirname "\$0")
dev= port= prev=
for a; do case \$prev in -d) dev=\$a ;; -p) port=\$a ;; esac; prev=\$a; last=\$a; done
case \$last in -F|--report_gbits) role=server ;; *) role=client ;; esac
if [ \$role = server ]; then
	[ -e "\$d/broken.\$port" ] && { echo "Couldn't find device \$dev" >&2; exit 1; }
	mkdir "\$d/busy.\$port" 2>/dev/null || { touch "\$d/overlap"; echo "Couldn't bind \$port" >&2; exit 7; }
	[ "\$(ls -d "\$d"/busy.* | wc -l)" -ge 2 ] && touch "\$d/parallel"
	echo "server \$port \$dev" >>"\$d/calls"
	i=0; while [ ! -e "\$d/connected.\$port" ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i+1)); done
	rm -f "\$d/connected.\$port"; rmdir "\$d/busy.\$port"
	cat "$GOLDEN/server_no_rows.txt"; exit 0
fi
[ -d "\$d/busy.\$port" ] || { echo "Couldn't connect to \$last:\$port" >&2; exit 1; }
sleep 0.3
touch "\$d/connected.\$port"
cat "$GOLDEN/ndr_4qp_gbits.txt"
EOS
chmod +x "$FAKE"
state() { $LOOMCTL -o json node show "$1" | jq -r .state; }
all_available() { for n; do [ "$(state "$n")" = available ] || return 1; done; }

# One peer, two ports, three spares verified at once: six port checks queue
# for two peer ports (the case that quarantined every node when all
# checks shared one peer and one TCP port).
loomd_config "$top_srcdir/tests/integration/data/topo-api.json" \
	"rdma.tool = $FAKE" "rdma.peer = gpu-e4" "rdma.min_gbps.400 = 380"
loomd_start
t_ok $? "loomd starts with one reference peer (two HCA ports)"
for n in gpu-e1 gpu-e2 gpu-e3; do $LOOMCTL node register $n >/dev/null; done
for n in gpu-e1 gpu-e2 gpu-e3; do $LOOMCTL node verify $n >/dev/null; done
t_wait 60 all_available gpu-e1 gpu-e2 gpu-e3
t_ok $? "three spares verified at once against one peer: all available"
t_ok "$([ ! -e "$T_DIR/overlap" ]; echo $?)" "never two checks on one peer port at a time"
t_ok "$([ -e "$T_DIR/parallel" ]; echo $?)" "the peer's two ports ran checks side by side"
# A node port whose namesake is busy takes the peer's other free port (the
# pool's rule: among the free ports the same name wins), so how the six
# split between the two depends on timing; the TCP port each uses does not.
n0=$(grep -c '^server 18515 mlx5_0$' "$T_DIR/calls"); n1=$(grep -c '^server 18516 mlx5_1$' "$T_DIR/calls")
t_is "$(grep -c . "$T_DIR/calls"):$((n0 + n1))" "6:6" \
	"six checks, each peer port on its own TCP port ($n0 on 18515 mlx5_0, $n1 on 18516 mlx5_1)"
loomd_stop
rm -f "$T_DIR/calls" "$T_DIR/parallel"

# Two peers; gpu-e3's ports (18515, 18516) are broken: its server ends fail.
l0=$(wc -l <"$T_DIR/loomd.log")
loomd_config "$top_srcdir/tests/integration/data/topo-api.json" \
	"rdma.tool = $FAKE" "rdma.peer = gpu-e3, gpu-e4" "rdma.min_gbps.400 = 380"
loomd_start
touch "$T_DIR/broken.18515" "$T_DIR/broken.18516"
$LOOMCTL node register gpu-w1 >/dev/null 2>&1
$LOOMCTL node register gpu-e2 >/dev/null 2>&1
out=$($LOOMCTL -o json -w 60 node verify gpu-e2)
t_is "$(echo "$out" | jq -c '[.state, [.rdma[] | .peer]]')" '["available",["gpu-e4","gpu-e4"]]' \
	"a failure at gpu-e3's end is tried again on gpu-e4: gpu-e2 available"
grep -q "node gpu-e2: RDMA check of mlx5_0/1 against gpu-e3: the peer's fault: " "$T_DIR/loomd.log"
t_ok $? "loomd logs the peer's fault and the retry"
# One node checked, nothing busy: each of its ports against its namesake.
tail -n +$((l0 + 1)) "$T_DIR/loomd.log" >"$T_DIR/log2"
grep -q "node gpu-e2: RDMA check of mlx5_0/1 against gpu-e4 mlx5_0: done" "$T_DIR/log2" &&
	grep -q "node gpu-e2: RDMA check of mlx5_1/1 against gpu-e4 mlx5_1: done" "$T_DIR/log2"
t_ok $? "  ...each of gpu-e2's ports measured against its namesake on gpu-e4"

# Every peer broken: no verdict on the node, it stays verifying.
touch "$T_DIR/broken.18517" "$T_DIR/broken.18518"
$LOOMCTL node register gpu-e1 >/dev/null 2>&1
out=$($LOOMCTL -o json -w 60 node verify gpu-e1)
t_is "$(echo "$out" | jq -r '.state + " " + .rdma[0].fault')" "verifying peer" \
	"every peer's end fails: gpu-e1 stays verifying, the fault is the peers'"
t_is "$($LOOMCTL -o json node history gpu-e1 | jq -r '[.[] | select(.event == "verify-fail")] | length')" 0 \
	"no verify-fail in gpu-e1's history"
rm -f "$T_DIR"/broken.*
out=$($LOOMCTL -o json -w 60 node verify gpu-e1)
t_is "$(echo "$out" | jq -r .state)" available "the peers mended, verify again: gpu-e1 available"
out=$($LOOMCTL node verify gpu-w1 2>&1)
t_ok "$(echo "$out" | grep -q "no reference peer (rdma.peer) has a port on the fabric of gpu-w1's"; echo $?)" \
	"a node on a fabric no peer reaches is refused with a clear error"
t_done
