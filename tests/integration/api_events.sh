#!/bin/bash
# `loomctl events`: node events streamed from the API (events.subscribe) as
# they are committed, through a real loomd (reconcile = no: removals are
# confirmed in the same request).
. "$(dirname "$0")/lib.sh"
t_plan 19

loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "vni_range = 10000-10999"
loomd_start
t_ok $? "loomd starts"

# Waits until FILE has N lines (the stream reached that far).
lines_at_least() { [ "$(wc -l <"$1")" -ge "$2" ]; }
# Starts `loomctl events ARGS...` in the background, its output in FILE; sets EV_PID.
events_start() {
	_out=$1; shift
	"$LOOMCTL" -o json events "$@" >"$_out" 2>"$_out.err" &
	EV_PID=$!
	T_PIDS="$T_PIDS $EV_PID"
}
# How many clients stream events now (system.info counts them).
subscribers() { [ "$($LOOMCTL -o json info | jq -r '.subscribers')" = "$1" ]; }
subscribed() { subscribers 1; }
# Waits up to 10 s for the background loomctl to end (killed after that);
# returns its exit status, and waits until loomd no longer counts it.
ev_wait() {
	t_wait 10 eval '! kill -0 "$EV_PID"' || kill "$EV_PID" 2>/dev/null
	wait "$EV_PID"
	_rc=$?
	t_wait 10 subscribers 0
	return $_rc
}

$LOOMCTL node cordon gpu-e1 --reason "before anyone listens" >/dev/null

# A live stream sees only what is committed after it subscribed.
events_start "$T_DIR/all" --count 4
t_wait 10 subscribed
t_ok $? "the subscriber is connected"
$LOOMCTL node uncordon gpu-e1 >/dev/null
$LOOMCTL node fault gpu-e2 --component psu --severity critical --text "PSU 2 lost input" >/dev/null
$LOOMCTL node retire gpu-e3 --reason "end of life" >/dev/null
t_wait 10 lines_at_least "$T_DIR/all" 4
t_ok $? "four events arrive"
ev_wait
t_is "$?" "0" "loomctl events --count 4 exits 0 after the fourth"
t_is "$(jq -r '.event' "$T_DIR/all" | paste -sd,)" "uncordon,cordon,retire,confirm" "in commit order, the first cordon not among them"
t_is "$(jq -r 'select(.node == "gpu-e2") | .reason' "$T_DIR/all")" "fault psu/critical: PSU 2 lost input" \
	"the fault's cordon carries the fault as its reason"
t_is "$(jq -r 'select(.node == "gpu-e3") | .from + ">" + .to' "$T_DIR/all" | paste -sd,)" \
	"available>draining,draining>retired" "retire drains, then its confirmation (reconcile = no) retires"
seqs=$(jq -r '.seq' "$T_DIR/all" | paste -sd' ')
set -- $seqs
t_ok "$([ "$1" -lt "$2" ] && [ "$2" -lt "$3" ] && [ "$3" -lt "$4" ]; echo $?)" "seqs rise ($seqs)"

# --since replays the stored events first, then goes on live.
events_start "$T_DIR/since" --since 0 --count 6
t_wait 10 subscribed
t_wait 10 lines_at_least "$T_DIR/since" 5
t_ok $? "--since 0 replays the five stored events"
t_is "$(head -1 "$T_DIR/since" | jq -r '.event + " " + .reason')" "cordon before anyone listens" "the oldest first"
$LOOMCTL node cordon gpu-e4 >/dev/null
ev_wait
t_is "$(tail -1 "$T_DIR/since" | jq -r '.node + " " + .event')" "gpu-e4 cordon" "then the live one"

# --node keeps one node's events only.
events_start "$T_DIR/one" --node gpu-e4 --count 1
t_wait 10 subscribed
$LOOMCTL node uncordon gpu-e2 >/dev/null
$LOOMCTL node uncordon gpu-e4 >/dev/null
ev_wait
t_is "$(jq -r '.node + " " + .event' "$T_DIR/one")" "gpu-e4 uncordon" "--node gpu-e4 skips gpu-e2's event"

# A refused write sends nothing: only committed events go out.
events_start "$T_DIR/none" --node gpu-e3 --count 1
t_wait 10 subscribed
out=$($LOOMCTL node cordon gpu-e3 2>&1)
t_is "$?" "1" "cordoning a retired node is refused"
$LOOMCTL node fault gpu-e3 --component other --severity info --text "still racked" >/dev/null
ev_wait
t_is "$(jq -r '.event + " " + .reason' "$T_DIR/none")" "fault fault other/info: still racked" \
	"the next event is the recorded fault, not the refused cordon"

# Bad subscriptions: a clear error naming the field, and no stream.
out=$($LOOMCTL call events.subscribe '{"since": -1}' 2>&1)
t_ok "$(echo "$out" | grep -q "since.*\\[out_of_range\\]"; echo $?)" "since -1 is out of range"
out=$($LOOMCTL call events.subscribe '{"node": "nope"}' 2>&1)
t_ok "$(echo "$out" | grep -q "no node 'nope'.*(field: node) \\[not_found\\]"; echo $?)" "an unknown node is not found"
out=$($LOOMCTL call events.subscribe '{"nodes": ["gpu-e1"]}' 2>&1)
t_ok "$(echo "$out" | grep -q "(field: nodes)"; echo $?)" "an unknown parameter is named"
out=$($LOOMCTL events --count x 2>&1)
t_is "$?" "2" "loomctl: --count x is a usage error"

# A subscriber that goes away leaves loomd serving the others.
events_start "$T_DIR/gone"
t_wait 10 subscribed
kill "$EV_PID"; ev_wait
$LOOMCTL node cordon gpu-e2 >/dev/null
t_is "$($LOOMCTL -o json node show gpu-e2 | jq -r .state)" "cordoned" "loomd goes on after a subscriber left"

t_done
