#!/bin/bash
# loomd as a program: -n checks, SIGHUP reloads the topology (a bad file keeps
# the old one and says why), loomctl's exit codes.
. "$(dirname "$0")/lib.sh"
t_plan 20
TOPO=$T_DIR/topology.json
cp "$top_srcdir/tests/integration/data/topo-api.json" "$TOPO"
loomd_config "$TOPO"

out=$("$LOOMD" -n -c "$LOOM_CONF" 2>&1)
t_is "$?" "0" "loomd -n accepts a good configuration and topology"
t_ok "$(ls -A "$T_DIR" | grep -q '^loom\.db'; [ $? = 1 ]; echo $?)" \
	"  ...and creates no database where there was none"
case "$out" in *"socket = $LOOM_SOCKET"*"# topology: 2 sites, 3 vteps, 2 subnet managers, 6 nodes"*) t_ok 0 "  ...and prints what it would use" ;;
*) t_ok 1 "  ...and prints what it would use (got: $out)" ;; esac
"$LOOMD" -n -c "$LOOM_CONF" | grep -v '^#' >"$T_DIR/printed.conf"
"$LOOMD" -n -c "$T_DIR/printed.conf" >/dev/null 2>&1
t_is "$?" "0" "  ...and what it prints parses again as a configuration"
echo "vni_range = 20-10" >>"$T_DIR/printed.conf"
err=$("$LOOMD" -n -c "$T_DIR/printed.conf" 2>&1); rc=$?
t_is "$rc" "1" "loomd -n refuses a bad configuration"
case "$err" in *"printed.conf:"*"vni_range"*) t_ok 0 "  ...naming the file, line and key" ;; *) t_ok 1 "  ...naming the file, line and key (got: $err)" ;; esac
jq '.nodes[0].hca_ports[0].guid = .nodes[1].hca_ports[0].guid' "$TOPO" >"$T_DIR/dup.json"
sed "s|^topology = .*|topology = $T_DIR/dup.json|" "$LOOM_CONF" >"$T_DIR/dup.conf"
err=$("$LOOMD" -n -c "$T_DIR/dup.conf" 2>&1); rc=$?
t_is "$rc" "1" "loomd -n refuses a topology with a duplicate GUID"
case "$err" in *"nodes["*"guid"*) t_ok 0 "  ...naming the JSON path" ;; *) t_ok 1 "  ...naming the JSON path (got: $err)" ;; esac

loomd_start || exit 1
$LOOMCTL tenant create acme --site east >/dev/null && $LOOMCTL segment create acme/s1 --type ethernet >/dev/null &&
	$LOOMCTL attach acme/s1 gpu-e1 >/dev/null
t_ok $? "set-up: a segment with gpu-e1 attached"

# A good new file: one more node.
jq '.nodes += [.nodes[0] | .name = "gpu-e9" | .nic_ports |= map(.mac = "02:00:00:00:99:0\(.name[3:])" | .access_port = "acc-e9-\(.name[3:])")
	| .hca_ports |= map(.guid = "0x0002c90300099\(.name[5:6])01")]' "$TOPO" >"$TOPO.new" && mv "$TOPO.new" "$TOPO"
kill -HUP "$LOOMD_PID"
has_e9() { $LOOMCTL -o json node list | jq -e 'map(.name) | index("gpu-e9")' >/dev/null; }
t_wait 5 has_e9
t_ok $? "SIGHUP loads a new topology (gpu-e9 appears)"

# A file that does not parse: the old topology stays, the log says why.
cp "$TOPO" "$T_DIR/good.json"
echo '{"sites": [' >"$TOPO"
kill -HUP "$LOOMD_PID"
said_why() { grep -q "topology reload refused" "$T_DIR/loomd.log"; }
t_wait 5 said_why
t_ok $? "a broken file is refused on SIGHUP and the log says why"
has_e9; t_ok $? "  ...and the old topology stays"

# A file that drops an attached node is refused through the API too.
jq '.nodes |= map(select(.name != "gpu-e1"))' "$T_DIR/good.json" >"$TOPO"
err=$($LOOMCTL topology reload 2>&1); rc=$?
t_is "$rc" "1" "topology reload refuses a file that drops an attached node"
case "$err" in *gpu-e1*) t_ok 0 "  ...naming the node" ;; *) t_ok 1 "  ...naming the node (got: $err)" ;; esac
cp "$T_DIR/good.json" "$TOPO"

# A check while loomd runs: the database byte for byte as it was, no new
# file next to it, the running loomd's socket kept.
db_files() { for f in "$LOOM_DB" "$LOOM_DB-wal" "$LOOM_DB-shm"; do [ -e "$f" ] && echo "$f"; done; }
before=$(db_files; cat "$LOOM_DB" "$LOOM_DB-wal" 2>/dev/null | sha256sum)
"$LOOMD" -n -c "$LOOM_CONF" >/dev/null 2>&1
t_is "$?:$(db_files; cat "$LOOM_DB" "$LOOM_DB-wal" 2>/dev/null | sha256sum)" "0:$before" \
	"loomd -n next to a running loomd: the database byte-identical"
$LOOMCTL info >/dev/null; t_is "$?" "0" "  ...and the running loomd's socket still answers"

# loomctl's exit codes.
$LOOMCTL frobnicate >/dev/null 2>&1; t_is "$?" "2" "loomctl: unknown command exits 2"
$LOOMCTL -s "$T_DIR/nope.sock" info >/dev/null 2>&1; t_is "$?" "3" "loomctl: unreachable loomd exits 3"
$LOOMCTL tenant show nope >/dev/null 2>&1; t_is "$?" "1" "loomctl: a refused request exits 1"
$LOOMCTL info >/dev/null; t_is "$?" "0" "loomctl: success exits 0"
t_done
