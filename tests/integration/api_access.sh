#!/bin/bash
# Who may do what, decided by SO_PEERCRED with real uids: root and the admin
# group change state, the reader group reads, anyone else is refused.  Also:
# a stalled client and a huge request do not stall anyone else; the audit
# log names the uid; a tampered audit row is detected.
. "$(dirname "$0")/lib.sh"
t_plan 16

ADM_G=loomt-adm; RD_G=loomt-rd
ADMIN=loomt-admin; READER=loomt-reader; OTHER=loomt-other
users_cleanup() {
	for u in $ADMIN $READER $OTHER; do userdel "$u" 2>/dev/null; done
	for g in $ADM_G $RD_G; do groupdel "$g" 2>/dev/null; done
}
users_cleanup
t_cleanup_add users_cleanup
groupadd "$ADM_G" && groupadd "$RD_G" &&
useradd -M -N -g nogroup -G "$ADM_G,$RD_G" -s /usr/sbin/nologin "$ADMIN" &&
useradd -M -N -g nogroup -G "$RD_G" -s /usr/sbin/nologin "$READER" &&
useradd -M -N -g nogroup -s /usr/sbin/nologin "$OTHER" || { echo "Bail out! cannot create test users"; exit 1; }

as() { u=$1; shift; setpriv --reuid="$u" --regid=nogroup --init-groups env LOOM_SOCKET="$LOOM_SOCKET" "$@"; }

loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "admin_group = $ADM_G" "reader_group = $RD_G"
loomd_start || exit 1

t_is "$(stat -c '%a %G' "$LOOM_SOCKET")" "660 $RD_G" "the socket is 0660 and belongs to the reader group"
as $ADMIN "$LOOMCTL" tenant create adm1 >/dev/null
t_ok $? "a member of the admin group may create"
as $READER "$LOOMCTL" tenant list >/dev/null
t_ok $? "a member of the reader group may read"
err=$(as $READER "$LOOMCTL" tenant create rd1 2>&1 >/dev/null); rc=$?
t_is "$rc" "1" "a reader may not create (exit 1)"
case "$err" in *permission_denied*) t_ok 0 "  ...with permission_denied" ;; *) t_ok 1 "  ...with permission_denied (got: $err)" ;; esac
err=$(as $OTHER "$LOOMCTL" tenant list 2>&1 >/dev/null); rc=$?
t_is "$rc" "3" "anyone else cannot even connect (exit 3)"
case "$err" in *"admin or reader group"*) t_ok 0 "  ...and is told why" ;; *) t_ok 1 "  ...and is told why (got: $err)" ;; esac

# With a world-connectable socket, SO_PEERCRED still refuses the stranger.
loomd_stop
loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "admin_group = $ADM_G" "reader_group = $RD_G" "socket_mode = 0666"
loomd_start || exit 1
err=$(as $OTHER "$LOOMCTL" tenant list 2>&1 >/dev/null); rc=$?
t_is "$rc" "1" "a stranger on a 0666 socket is refused by loomd (exit 1)"
case "$err" in *permission_denied*) t_ok 0 "  ...with permission_denied" ;; *) t_ok 1 "  ...with permission_denied (got: $err)" ;; esac
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method=="tenant.create") | .uid] | first')" \
	"$(id -u $ADMIN)" "the audit record names the admin's uid"

# A stalled client (half a request, never finished) does not stall others.
"$RAWCLIENT" "$LOOM_SOCKET" --hold &
T_PIDS="$T_PIDS $!"
timeout 5 "$LOOMCTL" tenant create after-stall >/dev/null
t_ok $? "requests are served while another client sits on half a request"
# A client that never reads its replies does not stall others either.
yes '{"jsonrpc":"2.0","method":"topology.show","id":1}' | head -n 20000 >"$T_DIR/flood"
"$RAWCLIENT" "$LOOM_SOCKET" <"$T_DIR/flood" >/dev/null &
T_PIDS="$T_PIDS $!"
timeout 5 "$LOOMCTL" tenant show after-stall >/dev/null
t_ok $? "requests are served while another client floods"
# A request over max_request_bytes is refused before it is buffered.
reply=$(head -c 2000000 /dev/zero | tr '\0' 'a' | "$RAWCLIENT" "$LOOM_SOCKET" | head -n1)
t_is "$(echo "$reply" | jq -r .error.code)" "1007" "a 2 MB request is refused as too large"

# Tampering with the audit log is detected and located.
$LOOMCTL tenant create t2 >/dev/null; $LOOMCTL tenant create t3 >/dev/null
$LOOMCTL audit verify >/dev/null
t_ok $? "the audit chain verifies"
loomd_stop
seq=$(sqlite3 "$LOOM_DB" "SELECT seq FROM audit WHERE params LIKE '%\"t2\"%'")
# The append-only triggers stop casual edits; a tamperer drops them first.
sqlite3 "$LOOM_DB" "DROP TRIGGER audit_no_update; UPDATE audit SET params = replace(params, 't2', 'tX') WHERE seq = $seq"
loomd_start || exit 1
out=$($LOOMCTL audit verify 2>&1); rc=$?
t_is "$rc" "5" "audit verify exits 5 after a row was altered"
case "$out" in *"record $seq "*) t_ok 0 "  ...and names record $seq" ;; *) t_ok 1 "  ...and names record $seq (got: $out)" ;; esac
t_done
