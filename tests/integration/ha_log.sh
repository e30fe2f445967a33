#!/bin/bash
# Highly available loomds (cluster.ha) on a real etcd cluster of three:
# the state of record is a log of SQLite changesets in etcd.  Two
# controllers started at the same moment on an empty cluster: exactly one
# initialises it; writes through either are read through the other; many
# clients writing through both at once (conflicts, retried) converge to
# identical replicas, every acknowledged write present once, and the audit
# chain verifies; the same name created through both at once is created
# once; a controller started on an empty disk, or restarted after missing
# writes, serves the full state; a database with state of its own is
# refused; export / import between single-machine SQLite and the cluster,
# audit chain included.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
. "$(dirname "$0")/ha_lib.sh"
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
t_plan 28

etcd_cluster c 3 || exit 1

# Two at the same moment on an empty cluster.
ha_conf 1; ha_conf 2
ha_start 1; ha_start 2
ha_up 1 && ha_up 2 || exit 1
t_is "$(cat "$T_DIR/1.log" "$T_DIR/2.log" | grep -c "initialised the cluster's state")" "1" \
	"two controllers started together: exactly one initialised the cluster"
t_is "$(etcd_range_json /loom/v1/ha/meta 0 | jq -r '.kvs[0].version')" "1" "  ...ha/meta was written once"
t_wait 10 sh -c "[ \"\$(LOOM_SOCKET=$T_DIR/1.sock $LOOMCTL -o json info | jq -r .cluster.leader)\" != none ]"
l1=$(leader_of 1); l2=$(leader_of 2)
t_ok "$([ -n "$l1" ] && [ "$l1" = "$l2" ] && [ "$l1" != none ]; echo $?)" "both see one leader ($l1)"
roles=$( (ha_info 1 role; ha_info 2 role) | sort | tr '\n' ' ')
t_is "$roles" "follower leader " "  ...one leads, one follows"

# A write through one is read through the other.
ctl 1 tenant create acme --site east >/dev/null
t_ok $? "tenant create through ctl1"
t_wait 5 ctl 2 tenant show acme
t_ok $? "  ...ctl2 serves it"
ctl 2 segment create acme/s1 --type ethernet >/dev/null && ctl 2 attach acme/s1 gpu-e1 >/dev/null
t_ok $? "segment create and attach through ctl2"
t_wait 5 sh -c "LOOM_SOCKET=$T_DIR/1.sock $LOOMCTL -o json segment show acme/s1 | grep -q gpu-e1"
t_ok $? "  ...ctl1 serves both"

# 32 clients, each writing through one of the two, at once.
N=32 K=6
for c in $(seq $N); do
	(
		n=$(( c % 2 + 1 ))
		out=$T_DIR/client$c
		if ctl $n tenant create "t$c" --site east >/dev/null 2>>"$out.err"; then echo "t$c" >>"$out.ok"; fi
		for k in $(seq $K); do
			if ctl $n segment create "t$c/s$k" --type ethernet >/dev/null 2>>"$out.err"; then
				echo "t$c/s$k" >>"$out.ok"
			fi
		done
	) &
done
wait_clients() { for j in $(jobs -p); do case " ${HPID[*]} $T_PIDS " in *" $j "*) ;; *) wait "$j";; esac; done; }
wait_clients
acked=$(cat "$T_DIR"/client*.ok 2>/dev/null | wc -l)
t_is "$acked" "$((N * (K + 1)))" "$N clients through both controllers: every write acknowledged ($acked)"
cat "$T_DIR"/client*.err 2>/dev/null | sort | uniq -c | head -5 | sed 's/^/# /'
t_wait 10 ha_same 1 2
t_ok $? "  ...both replicas hold the same rows (dumps equal, log entry $(ha_info 1 log_seq))"
missing=0
for w in $(cat "$T_DIR"/client*.ok); do
	case $w in
	*/*) ctl 1 segment show "$w" >/dev/null 2>&1 || missing=$((missing + 1)) ;;
	*) ctl 2 tenant show "$w" >/dev/null 2>&1 || missing=$((missing + 1)) ;;
	esac
done
t_is "$missing" "0" "  ...every acknowledged write is there"
vnis=$(sqlite3 "$T_DIR/1.db" "SELECT count(*), count(DISTINCT vni) FROM segments")
t_is "$vnis" "$((N * K + 1))|$((N * K + 1))" "  ...no VNI given twice ($vnis)"
audits=$(sqlite3 "$T_DIR/1.db" "SELECT count(*) FROM audit")
t_is "$audits" "$((N * (K + 1) + 3))" "  ...one audit record per write, none duplicated"
v1=$(ctl 1 audit verify 2>&1); v2=$(ctl 2 audit verify 2>&1)
t_ok "$(echo "$v1" | grep -q intact && [ "$v1" = "$v2" ]; echo $?)" "  ...audit verify passes on both: $v1"
conflicts=$(grep -o 'loom-ha1 ctl[12]' <(log_writers | awk '{print "loom-ha1 " $2}') | sort | uniq -c | tr '\n' ' ')
t_diag "log entries by writer: $conflicts"

# The same name through both at once: created once, the other told it exists.
for n in 1 2; do (ctl $n tenant create same --site east >"$T_DIR/same$n.out" 2>&1; echo $? >"$T_DIR/same$n.rc") & done
wait_clients
t_is "$(cat "$T_DIR/same1.rc" "$T_DIR/same2.rc" | sort | tr '\n' ' ')" "0 1 " \
	"one name created through both at once: one succeeds, one fails"
t_ok "$(grep -qi exists "$T_DIR"/same*.out; echo $?)" "  ...the other is told it exists"

# A third controller on an empty disk serves the full state.
ha_conf 3; ha_start 3; ha_up 3 || exit 1
t_wait 10 ha_same 1 3
t_ok $? "a controller started on an empty disk replays the log: same rows"
t_is "$(ctl 3 audit verify 2>&1)" "$(ctl 1 audit verify 2>&1)" "  ...and the same audit chain"

# Restarted after missing writes: catches up.
ha_stop 3 KILL
ctl 1 tenant create late --site west >/dev/null
ha_start 3; ha_up 3 || exit 1
t_wait 10 ctl 3 tenant show late
t_ok $? "a controller killed -9 and restarted catches up with writes made meanwhile"
ha_stop 3

# A database with state of its own is refused.
loomd_config "$HA_TOPO"
loomd_start || exit 1
$LOOMCTL tenant create solo --site east >/dev/null && $LOOMCTL segment create solo/x --type ethernet >/dev/null &&
	$LOOMCTL tenant create other --site west >/dev/null
loomd_stop
cp "$LOOM_DB" "$T_DIR/4.db"
ha_conf 4
"$LOOMD" -f -c "$T_DIR/4.conf" 2>"$T_DIR/4.err"
t_is "$?" "1" "a single-machine database started as a replica is refused"
t_ok "$(grep -q 'not in the cluster: import it' "$T_DIR/4.err"; echo $?)" "  ...with a clear error: $(head -c 160 "$T_DIR/4.err")"

# Import into an empty cluster (another prefix), export back.
ha_conf 5 "cluster.prefix = /imp"
"$LOOMD" -c "$T_DIR/5.conf" --import "$LOOM_DB" >"$T_DIR/imp.out" 2>&1
t_ok $? "loomd --import: $(cat "$T_DIR/imp.out")"
"$LOOMD" -c "$T_DIR/5.conf" --import "$LOOM_DB" >"$T_DIR/imp2.out" 2>&1
t_ok "$([ $? = 1 ] && grep -q 'already holds state' "$T_DIR/imp2.out"; echo $?)" \
	"  ...a second import is refused: $(head -c 120 "$T_DIR/imp2.out")"
ha_start 5; ha_up 5 || exit 1
t_is "$(ctl 5 -o json tenant list | jq -r '[.[].name] | sort | join(",")')" "other,solo" "  ...a controller on it serves the tenants"
t_is "$(ctl 5 audit verify 2>&1 | sed 's/:.*//')" "audit chain intact" "  ...and the audit chain verifies ($(ctl 5 audit verify 2>&1))"
ctl 5 tenant create third --site east >/dev/null
"$LOOMD" -c "$T_DIR/5.conf" --export "$T_DIR/exported.db" >"$T_DIR/exp.out" 2>&1
t_ok $? "loomd --export: $(cat "$T_DIR/exp.out")"
ha_stop 5
LOOM_DB=$T_DIR/exported.db
sed -i "s|^database = .*|database = $LOOM_DB|" "$LOOM_CONF"
loomd_start || exit 1
t_is "$($LOOMCTL -o json tenant list | jq -r '[.[].name] | sort | join(",")')" "other,solo,third" \
	"a single-machine loomd on the exported file serves everything"
t_is "$($LOOMCTL audit verify 2>&1)" "audit chain intact: 4 records" "  ...with the whole audit chain"
loomd_stop

t_done
