# tests/integration/lib.sh: shared by the integration tests (bash).
#
# TAP output, a private temp folder, and starting/stopping loomd on a
# private socket and database.  Everything a test starts is recorded and
# removed by the EXIT trap, also when the test fails half-way.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
LOOMD=$top_builddir/loomd
LOOMCTL=$top_builddir/loomctl
RAWCLIENT=$top_builddir/tests/integration/rawclient

T_N=0
T_FAILED=0
T_PIDS=""
T_CLEANUPS=""
T_DIR=$(mktemp -d /tmp/loomtest.XXXXXX)
chmod 755 "$T_DIR"

t_cleanup() {
	for pid in $T_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $T_PIDS; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	for c in $T_CLEANUPS; do "$c"; done
	# A sanitizer build's daemons report to their stderr, which the tests
	# keep in T_DIR: pass reports on before it goes (build-aux/san-wrap).
	grep -hE -A30 'runtime error:|ERROR: (Address|Leak)Sanitizer' "$T_DIR"/*.log >&2 2>/dev/null
	rm -rf "$T_DIR"
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

t_plan() { echo "1..$1"; }
t_ok() {	# t_ok COND-EXIT-STATUS DESCRIPTION
	T_N=$((T_N + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_N - $2"; else echo "not ok $T_N - $2"; T_FAILED=$((T_FAILED + 1)); fi
}
t_is() {	# t_is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then t_ok 0 "$3"; else t_ok 1 "$3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; fi
}
t_diag() { echo "# $*"; }
t_cleanup_add() { T_CLEANUPS="$T_CLEANUPS $1"; }

# Waits until COMMAND succeeds, at most SECONDS; returns its status.
t_wait() {
	_limit=$1; shift
	_end=$(( $(date +%s%N) / 1000000 + _limit * 1000 ))
	while ! "$@" >/dev/null 2>&1; do
		[ $(( $(date +%s%N) / 1000000 )) -ge $_end ] && return 1
		sleep 0.02
	done
	return 0
}

# t_free_port: a TCP port on 127.0.0.1 that no socket uses (listening or
# connected), below the kernel's ephemeral range so that no outgoing
# connection (etcd's own peers, curl, loomctl) can take it between now and
# the bind, and never the same port twice in one test (T_DIR/ports).
# Ports 20000-32767 were inside that range before: a member's port taken by
# a connection left that member dead and the cluster "not up" (CI, run 23).
t_free_port() {
	local lo p
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 200); do
		p=$(( 10000 + RANDOM % (lo - 10000) ))
		grep -qx "$p" "$T_DIR/ports" 2>/dev/null && continue
		ss -Htan "sport = :$p" 2>/dev/null | grep -q . && continue
		echo "$p" >>"$T_DIR/ports"
		echo "$p"
		return 0
	done
	return 1
}

# loomd on a private socket/database.  Sets LOOM_SOCKET, LOOM_DB, LOOM_CONF, LOOMD_PID.
loomd_config() {	# loomd_config TOPOLOGY [extra "key = value" lines...]
	LOOM_SOCKET=$T_DIR/loomd.sock
	LOOM_DB=$T_DIR/loom.db
	LOOM_CONF=$T_DIR/loomd.conf
	export LOOM_SOCKET
	_topo=$1; shift
	{
		echo "socket = $LOOM_SOCKET"
		echo "database = $LOOM_DB"
		echo "topology = $_topo"
		echo "log_level = info"
		# The API tests drive no targets; the lab tests turn this on.
		echo "reconcile = no"
		for l in "$@"; do echo "$l"; done
	} >"$LOOM_CONF"
}

loomd_start() {
	"$LOOMD" -f -c "$LOOM_CONF" 2>>"$T_DIR/loomd.log" &
	LOOMD_PID=$!
	T_PIDS="$T_PIDS $LOOMD_PID"
	t_wait 10 "$LOOMCTL" info || { echo "# loomd did not come up:"; sed 's/^/#   /' "$T_DIR/loomd.log"; return 1; }
}

loomd_stop() {	# loomd_stop [SIGNAL]
	kill "-${1:-TERM}" "$LOOMD_PID" 2>/dev/null
	wait "$LOOMD_PID" 2>/dev/null
	T_PIDS=$(echo "$T_PIDS" | sed "s/ $LOOMD_PID\b//")
}

# A checksum of every row of state (tenants, segments, attachments, holds, audit).
db_state() {
	sqlite3 "$LOOM_DB" .dump | sha256sum | cut -d' ' -f1
}

t_done() {
	[ "$T_FAILED" -eq 0 ]
}
