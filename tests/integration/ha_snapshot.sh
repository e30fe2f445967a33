#!/bin/bash
# Snapshots and trimming of the HA controllers' log (docs/ha.md), on a real
# etcd cluster of three, with cluster.snapshot_entries = 20: after many
# writes etcd holds a bounded number of log entries and a complete
# snapshot (manifest, chunks); a controller on an empty disk starts from
# the snapshot and serves the same rows and audit chain; a follower
# stopped while the log is trimmed past it catches up from the snapshot;
# a leader killed half-way through writing one (the test knob
# LOOMD_TEST_SNAPSHOT_DIE_AFTER) leaves a cluster that serves, and the
# next snapshot completes and removes the orphan chunks; a corrupt chunk is
# refused with a clear error by a controller that needs it, nothing of it
# loaded (at start, and by a running follower, whose reads then say why
# they may be stale); a snapshot not newer than the replica is never loaded; bad values of cluster.snapshot_entries are refused naming it.
# Snapshots are cut in 16 KiB chunks here (LOOMD_TEST_SNAPSHOT_CHUNK) so
# that a small database takes many.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"
. "$(dirname "$0")/ha_lib.sh"
command -v "$ETCD_BIN" >/dev/null || { echo "1..1"; echo "not ok 1 - etcd is not installed: run tools/install-deps"; exit 1; }
t_plan 38

EVERY=20
export LOOMD_TEST_SNAPSHOT_CHUNK=16384
SNAP=/loom/v1/ha/snap

# etcd_count PREFIX: how many keys etcd holds under PREFIX.
etcd_count() {
	local end
	end=$(printf '%s' "$1" | python3 -c 'import sys,base64; k=sys.stdin.buffer.read(); print(base64.b64encode(k[:-1]+bytes([k[-1]+1])).decode())')
	curl -sf -X POST "http://127.0.0.1:$c_CLIENT_2/v3/kv/range" \
		-d "{\"key\":\"$(b64 "$1")\",\"range_end\":\"$end\",\"count_only\":true}" | jq -r '.count // "0"'
}
manifest() { etcd_range_json $SNAP/manifest 0 | jq -r '.kvs[0].value // empty' | base64 -d; }
mf() { manifest | jq -r ".$1"; }	# mf FIELD
# data_ids: the snapshot IDs whose chunks etcd holds, one a line.
data_ids() { etcd_range_json $SNAP/data/ | jq -r '.kvs[]?.key' | while read -r k; do printf '%s' "$k" | base64 -d | awk -F/ '{print $(NF-1)}'; done | sort -u; }
first_log() { etcd_range_json /loom/v1/ha/log/ | jq -r '.kvs[0].key' | base64 -d | sed 's|.*/||; s/^0*//'; }
snap_at_least() { [ "$(mf seq 2>/dev/null)" -ge "$1" ] 2>/dev/null; }	# snap_at_least SEQ
writes() {	# writes N PREFIX CTL: N tenants, one write (one log entry) each
	local i
	for i in $(seq "$1"); do ctl "$3" tenant create "$2$i" --site east >/dev/null || return 1; done
}
leads() { [ "$(ha_info "$1" role)" = leader ]; }
log_starts_after() { [ "$(first_log)" -gt "$1" ]; }

etcd_cluster c 3 || exit 1

for n in 1 2 3 4; do ha_conf $n "cluster.snapshot_entries = $EVERY"; done
ha_start 1; ha_up 1 || exit 1
t_wait 10 leads 1
ha_start 2; ha_up 2 || exit 1

# Many writes: a bounded log, a complete snapshot.
writes 150 a 1
t_ok $? "150 writes through the leader, one log entry each"
seq1=$(ha_info 1 log_seq)
t_wait 20 snap_at_least $((seq1 - EVERY))
t_ok $? "  ...a snapshot manifest exists: $(manifest | head -c 300)"
logs=$(etcd_count /loom/v1/ha/log/)
t_ok "$([ "$logs" -le $((2 * EVERY)) ]; echo $?)" "  ...etcd holds $logs log entries of $seq1 (at most 2 x cluster.snapshot_entries)"
t_ok "$([ "$(first_log)" -gt 1 ]; echo $?)" "  ...the log was trimmed: it starts at entry $(first_log)"
t_ok "$([ "$(mf chunks)" -gt 1 ] && [ "$(etcd_count $SNAP/data/)" = "$(mf chunks)" ] && [ "$(data_ids)" = "$(mf id)" ]; echo $?)" \
	"  ...its $(mf chunks) chunks are in etcd, and no other snapshot's"
t_ok "$(grep -q "wrote the snapshot at log entry" "$T_DIR/1.log" && ! grep -q "wrote the snapshot" "$T_DIR/2.log"; echo $?)" \
	"  ...written by the leader only"
t_wait 10 ha_same 1 2
t_ok $? "  ...the follower, which replayed the log, holds the same rows"

# A controller on an empty disk starts from the snapshot.
ha_start 3; ha_up 3 || exit 1
t_wait 10 ha_same 1 3
t_ok $? "a controller on an empty disk serves the same rows as the others (dumps equal)"
t_ok "$(grep -q "loaded the snapshot at log entry" "$T_DIR/3.log"; echo $?)" \
	"  ...it loaded the snapshot: $(grep -o 'loaded the snapshot.*' "$T_DIR/3.log" | head -1)"
v1=$(ctl 1 audit verify 2>&1); v3=$(ctl 3 audit verify 2>&1)
t_ok "$(echo "$v3" | grep -q intact && [ "$v1" = "$v3" ]; echo $?)" "  ...audit verify passes on it, the same chain: $v3"
ctl 3 tenant create via3 --site east >/dev/null && t_wait 5 ctl 1 tenant show via3
t_ok $? "  ...it takes writes, which the others see"

# A follower stopped while the log is trimmed past it catches up from the snapshot.
was=$(ha_info 2 log_seq)
kill -STOP "${HPID[2]}"
writes 60 b 1
t_wait 20 log_starts_after $((was + 1))
t_ok $? "while ctl2 is stopped at entry $was, the log is trimmed past it (it starts at $(first_log))"
kill -CONT "${HPID[2]}"
t_wait 20 ha_same 1 2
t_ok $? "  ...continued, it catches up and holds the same rows (entry $(ha_info 2 log_seq))"
t_ok "$(grep -q "loaded the snapshot at log entry" "$T_DIR/2.log"; echo $?)" \
	"  ...from the snapshot: $(grep -o 'loaded the snapshot.*' "$T_DIR/2.log" | tail -1)"
t_is "$(ctl 2 audit verify 2>&1)" "$(ctl 1 audit verify 2>&1)" "  ...the same audit chain"

# A leader killed half-way through a snapshot.  ctl2 is restarted with the
# test knob, the two others stopped: it leads, and dies after 2 chunks.
ha_stop 2
before=$(mf seq); before_id=$(mf id)
LOOMD_TEST_SNAPSHOT_DIE_AFTER=2 ha_start 2; ha_up 2 || exit 1
ha_stop 1; ha_stop 3
t_wait 10 leads 2
t_ok $? "ctl2 (with LOOMD_TEST_SNAPSHOT_DIE_AFTER=2) leads once the others are stopped"
writes $((EVERY + 5)) c 2 2>/dev/null
wait "${HPID[2]}" 2>/dev/null
rc=$?
T_PIDS=$(echo "$T_PIDS" | sed "s/ ${HPID[2]}\b//")
t_is "$rc" "137" "  ...it died (SIGKILL) writing its snapshot"
t_ok "$(grep -q "killed after 2 of the" "$T_DIR/2.log"; echo $?)" "  ...after 2 chunks: $(grep -o 'killed after.*' "$T_DIR/2.log" | head -1)"
orphans=$(data_ids | grep -vx "$before_id")
t_ok "$([ "$(mf seq)" = "$before" ] && [ -n "$orphans" ]; echo $?)" \
	"  ...the manifest still names the snapshot at entry $before; the orphan chunks of $orphans stay unseen"
ha_start 1; ha_start 3; ha_up 1 && ha_up 3 || exit 1
t_wait 10 sh -c "LOOM_SOCKET=$T_DIR/1.sock $LOOMCTL -o json info | jq -e '.cluster.role == \"leader\"' || LOOM_SOCKET=$T_DIR/3.sock $LOOMCTL -o json info | jq -e '.cluster.role == \"leader\"'"
ctl 3 tenant create after-kill --site east >/dev/null
t_ok $? "  ...the cluster still serves: a write after the kill"
leader=1; leads 3 && leader=3
writes $((EVERY + 5)) d $leader
t_wait 20 snap_at_least $((before + EVERY))
t_ok $? "  ...a later snapshot completes (entry $(mf seq), by $(mf by))"
t_ok "$([ "$(data_ids)" = "$(mf id)" ] && [ "$(etcd_count $SNAP/data/)" = "$(mf chunks)" ]; echo $?)" \
	"  ...and the orphan chunks are gone: etcd holds only its $(mf chunks)"
ha_start 2; ha_up 2 || exit 1
t_wait 20 ha_same 1 2 && t_wait 10 ha_same 1 3
t_ok $? "  ...the three controllers hold the same rows"

# A corrupt chunk: refused by a controller that needs the snapshot, nothing loaded.
id=$(mf id); ck=$SNAP/data/$id/000001
good=$(etcd_range_json "$ck" 0 | jq -r '.kvs[0].value')
bad=$(printf '%s' "$good" | base64 -d | python3 -c 'import sys,base64; b=bytearray(sys.stdin.buffer.read()); b[100]^=0xff; print(base64.b64encode(bytes(b)).decode())')
curl -sf -X POST "http://127.0.0.1:$c_CLIENT_2/v3/kv/put" -d "{\"key\":\"$(b64 "$ck")\",\"value\":\"$bad\"}" >/dev/null
timeout 30 "$LOOMD" -f -c "$T_DIR/4.conf" 2>"$T_DIR/4.err"
t_is "$?" "1" "a controller on an empty disk refuses a snapshot with a corrupt chunk"
t_ok "$(grep -q 'is corrupt: its SHA-256 is' "$T_DIR/4.err"; echo $?)" "  ...with a clear error: $(grep -o 'the snapshot.*' "$T_DIR/4.err" | head -c 250)"
t_is "$(sqlite3 "$T_DIR/4.db" "SELECT count(*) FROM tenants; SELECT count(*) FROM kv WHERE key = 'ha.seq'" 2>&1 | tr '\n' ' ')" "0 0 " \
	"  ...nothing of it was loaded"
curl -sf -X POST "http://127.0.0.1:$c_CLIENT_2/v3/kv/put" -d "{\"key\":\"$(b64 "$ck")\",\"value\":\"$good\"}" >/dev/null
ha_start 4; ha_up 4 || exit 1
t_wait 10 ha_same 1 4
t_ok $? "  ...the chunk put back, the same controller starts and holds the same rows"

# A running follower that needs a corrupt snapshot: its reads say why they
# may be stale, its replica stays where it was; the chunk mended, it loads
# the snapshot at the next doorbell.
leader=1; leads 3 && leader=3
was=$(ha_info 4 log_seq)
kill -STOP "${HPID[4]}"
writes $((EVERY + 10)) e $leader
t_wait 20 log_starts_after $((was + 1))
sleep 1	# a second snapshot the writes may have started is in by now
ck=$SNAP/data/$(mf id)/000001
good=$(etcd_range_json "$ck" 0 | jq -r '.kvs[0].value')
bad=$(printf '%s' "$good" | base64 -d | python3 -c 'import sys,base64; b=bytearray(sys.stdin.buffer.read()); b[100]^=0xff; print(base64.b64encode(bytes(b)).decode())')
curl -sf -X POST "http://127.0.0.1:$c_CLIENT_2/v3/kv/put" -d "{\"key\":\"$(b64 "$ck")\",\"value\":\"$bad\"}" >/dev/null
kill -CONT "${HPID[4]}"
t_wait 15 sh -c "LOOM_SOCKET=$T_DIR/4.sock $LOOMCTL -o json info | jq -r .cluster.stale | grep -q corrupt"
t_ok $? "a running follower the log was trimmed past refuses a corrupt snapshot; its reads say so: $(ha_info 4 stale | head -c 150)"
t_is "$(ha_info 4 log_seq)" "$was" "  ...its replica stays at entry $was"
t_ok "$(ctl 4 tenant show a1 2>&1 | grep -q 'may be stale'; echo $?)" "  ...and loomctl warns on its reads"
curl -sf -X POST "http://127.0.0.1:$c_CLIENT_2/v3/kv/put" -d "{\"key\":\"$(b64 "$ck")\",\"value\":\"$good\"}" >/dev/null
ctl $leader tenant create mended --site east >/dev/null
t_wait 20 ha_same 1 4
t_ok "$([ $? = 0 ] && [ "$(ha_info 4 stale)" = null ]; echo $?)" "  ...the chunk mended, it loads the snapshot at the next write, matches, and is no longer stale"

# Export and import on a trimmed log.
"$LOOMD" -c "$T_DIR/4.conf" --export "$T_DIR/exported.db" >"$T_DIR/exp.out" 2>&1
t_ok "$([ $? = 0 ] && [ "$(sqlite3 "$T_DIR/exported.db" 'SELECT count(*) FROM tenants; SELECT count(*) FROM audit' | tr '\n' ' ')" = \
	"$(sqlite3 "$T_DIR/1.db" 'SELECT count(*) FROM tenants; SELECT count(*) FROM audit' | tr '\n' ' ')" ]; echo $?)" \
	"loomd --export from the snapshot and the log: every tenant and audit record ($(tail -1 "$T_DIR/exp.out"))"
"$LOOMD" -c "$T_DIR/4.conf" --import "$T_DIR/exported.db" >"$T_DIR/imp.out" 2>&1
t_ok "$([ $? = 1 ] && grep -q 'already holds state' "$T_DIR/imp.out"; echo $?)" \
	"  ...loomd --import into the trimmed cluster (no entry 1) is refused: $(grep -o 'already holds.*' "$T_DIR/imp.out" | head -c 150)"

# A replica whose next entry is gone while the newest snapshot is not newer
# than it (a hole made by hand in the log): refused, never an older state.
leader=1; leads 3 && leader=3
for k in $(seq $((EVERY + 5))); do	# until the next two writes make no snapshot
	ctl $leader tenant create "g$k" --site east >/dev/null
	t_wait 10 ha_same 1 4
	[ $(($(ha_info 4 log_seq) - $(mf seq))) -lt $((EVERY - 2)) ] && break
done
ha_stop 4
S=$(sqlite3 "$T_DIR/4.db" "SELECT value FROM kv WHERE key = 'ha.seq'")
ctl $leader tenant create hole --site east >/dev/null && ctl $leader tenant create after-hole --site east >/dev/null
hole=/loom/v1/ha/log/$(printf '%016d' $((S + 1)))
curl -sf -X POST "http://127.0.0.1:$c_CLIENT_2/v3/kv/deleterange" -d "{\"key\":\"$(b64 "$hole")\"}" >/dev/null
timeout 30 "$LOOMD" -f -c "$T_DIR/4.conf" 2>"$T_DIR/4.err"
t_ok "$([ $? = 1 ] && grep -q 'is not newer than this replica' "$T_DIR/4.err"; echo $?)" \
	"a replica at entry $S, entry $((S + 1)) gone, snapshot at $(mf seq): refused: $(grep -o 'the log has no entry.*' "$T_DIR/4.err" | head -c 200)"
t_is "$(sqlite3 "$T_DIR/4.db" "SELECT value FROM kv WHERE key = 'ha.seq'")" "$S" "  ...the replica is left at entry $S"

# Bad values of cluster.snapshot_entries.
for v in 5 lots 1000000001; do
	ha_conf 9 "cluster.snapshot_entries = $v"
	out=$("$LOOMD" -n -c "$T_DIR/9.conf" 2>&1)
	t_ok "$([ $? != 0 ] && echo "$out" | grep -q 'cluster.snapshot_entries'; echo $?)" \
		"cluster.snapshot_entries = $v is refused naming the key: $(echo "$out" | head -1 | head -c 160)"
done

t_done
