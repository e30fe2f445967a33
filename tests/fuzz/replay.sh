#!/bin/sh
# tests/fuzz/replay.sh: every fuzz target's seed corpus replayed through
# it (tests/fuzz/replay_NAME, built in every build, the sanitizer build
# included).  One TAP line per target; a crash or a sanitizer report fails.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir/build}"
names="rpc topology ibnetdiscover intent conf partitions frr netlink mad etcd slice"
set -- $names
echo "1..$#"
n=0
failed=0
for name in $names; do
	n=$((n + 1))
	out=$("$top_builddir/tests/fuzz/replay_$name" "$top_srcdir/tests/fuzz/corpus/$name" 2>&1)
	rc=$?
	count=$(echo "$out" | sed -n 's/^ok 1 - .*: \([0-9]*\) inputs$/\1/p')
	if [ "$rc" -eq 0 ] && [ -n "$count" ] && [ "$count" -gt 0 ]; then
		echo "ok $n - $name: $count inputs replayed"
	else
		echo "not ok $n - $name: exit $rc"
		echo "$out" | sed 's/^/# /'
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ]
