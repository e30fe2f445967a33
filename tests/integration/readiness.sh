#!/bin/bash
# loomd under systemd's notify protocol, with a listener standing in for
# systemd: STATUS= as the targets' first runs start, READY=1 once
# every target ran once (here every one in error: a VTEP namespace and a
# umad port that do not exist), WATCHDOG=1 at half of WATCHDOG_USEC,
# RELOADING=1 and READY=1 around SIGHUP, STOPPING=1 on SIGTERM.  And the
# unit that ships passes systemd-analyze verify.
. "$(dirname "$0")/lib.sh"
t_plan 8
LISTEN=$top_builddir/tests/integration/notify_listen
loomd_config "$top_srcdir/tests/integration/data/topo-api.json"
sed -i 's/^reconcile = no/reconcile = yes/' "$LOOM_CONF"
echo "resync_interval = 3600" >>"$LOOM_CONF"

"$LISTEN" "$T_DIR/notify" 25 >"$T_DIR/notify.log" 2>&1 &
T_PIDS="$T_PIDS $!"
t_wait 5 test -S "$T_DIR/notify"
NOTIFY_SOCKET=$T_DIR/notify WATCHDOG_USEC=1000000 "$LOOMD" -f -c "$LOOM_CONF" 2>>"$T_DIR/loomd.log" &
LOOMD_PID=$!
T_PIDS="$T_PIDS $LOOMD_PID"
got() { grep -q " $1" "$T_DIR/notify.log"; }
t_wait 20 got READY=1
t_ok $? "READY=1 arrives, although every target is in error"
first_ready=$(grep -n ' READY=1' "$T_DIR/notify.log" | head -1 | cut -d: -f1)
# Said as the workers start; the targets' names follow when a first run is
# still going as the main loop starts (here only at times: all fail at once).
started=$(grep -n ' STATUS=starting the first run of 5 targets$' "$T_DIR/notify.log" | head -1 | cut -d: -f1)
[ -n "$started" ] && [ "$started" -lt "$first_ready" ]
t_ok $? "  ...after a STATUS= saying it starts the first run of its 5 targets"
grep ' STATUS=waiting for the first run' "$T_DIR/notify.log" | head -1 | sed 's/^/# /'
ctl_ok=$("$LOOMCTL" -o json status | jq '(.targets | length) > 0 and all(.targets[]; .runs >= 1)' 2>/dev/null)
t_is "$ctl_ok" "true" "  ...and by then every target has finished a run (loomctl status)"
grep ' STATUS=ready' "$T_DIR/notify.log" | head -1 | sed 's/^/# /'
sleep 2
n=$(grep -c ' WATCHDOG=1' "$T_DIR/notify.log")
[ "$n" -ge 3 ]
t_ok $? "WATCHDOG=1 about every 0.5 s from the event loop ($n so far)"
kill -HUP "$LOOMD_PID"
reloaded() { awk '/ RELOADING=1/ { r = 1 } r && / READY=1/ { ok = 1 } END { exit !ok }' "$T_DIR/notify.log"; }
t_wait 10 reloaded
t_ok $? "SIGHUP: RELOADING=1, then READY=1 once the topology is reloaded"
kill -TERM "$LOOMD_PID"
wait "$LOOMD_PID"
t_is "$?" "0" "SIGTERM: loomd exits 0"
t_wait 5 got STOPPING=1
t_ok $? "  ...after STOPPING=1"

# The unit as installed: systemd-analyze verify (the man pages from this tree).
mkdir -p "$T_DIR/man/man8"
cp "$top_srcdir"/docs/*.8 "$T_DIR/man/man8/"
sed -e "s|@sbindir@|$top_builddir|g" -e "s|@sysconfdir@|/etc|g" "$top_srcdir/etc/loomd.service.in" >"$T_DIR/loomd.service"
MANPATH=$T_DIR/man systemd-analyze verify "$T_DIR/loomd.service" >"$T_DIR/verify.out" 2>&1
t_is "$?" "0" "loomd.service (Type=notify, watchdog, hardening) passes systemd-analyze verify"
sed 's/^/#   /' "$T_DIR/verify.out"
