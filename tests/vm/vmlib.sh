# tests/vm/vmlib.sh: sourced first by a test that needs the full kernel.
#
# On the host it runs the test again inside the lab VM (tools/vmlab) and
# exits with the guest's status, its TAP output passed through.  A VM that
# cannot boot makes the test fail, never skip, with vmlab's reason.  Inside
# the VM (VMLAB_GUEST set) it returns and the test goes on.
#   vm_enter SECONDS  (the test's own time limit inside the VM)
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
export top_srcdir top_builddir

# A VM test of several minutes runs in the plain suite only: under TCG the
# sanitizer build's loomd is slower again, and its reports inside the guest
# are not collected at exit; both suites together must stay within CI's
# 30 minutes.  The shorter VM tests run in both.
vm_plain_suite_only() {
	[ -z "${VMLAB_GUEST:-}" ] && [ -n "${LOOM_SANITIZER_SUITE:-}" ] || return 0
	echo "1..0 # SKIP $(basename "$0") runs in the plain suite only (minutes under TCG; CI's time)"
	exit 0
}

vm_enter() {
	[ -n "${VMLAB_GUEST:-}" ] && return 0
	_vm_err=$(mktemp /tmp/vmlab-err.XXXXXX)
	"$top_srcdir/tools/vmlab" -v -t "$1" bash "$0" 2>"$_vm_err"
	_vm_rc=$?
	if [ $_vm_rc -eq 125 ]; then
		echo "1..1"
		echo "not ok 1 - the lab VM could not run $(basename "$0"): $(grep -m1 '^vmlab:' "$_vm_err" | sed 's/^vmlab: //')"
		sed 's/^/# /' "$_vm_err"
	else
		sed -n 's/^vmlab: /# vmlab: /p' "$_vm_err"
	fi
	rm -f "$_vm_err"
	exit $_vm_rc
}
