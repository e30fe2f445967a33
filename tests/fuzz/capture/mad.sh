#!/bin/sh
# tests/fuzz/capture/mad.sh OUTDIR: captures MAD replies from ibsim for
# fuzz_mad's seed corpus: a small lab/ib-lab fabric, the infiniband-diags
# queries loom's own MADs mirror (NodeInfo, PortInfo, SMInfo, P_KeyTable,
# PortCounters, an SA NodeRecord, and an error status), each run with
# libibumad's hex dumps on; each received MAD becomes a 256-byte file.
# Needs root, ibsim, opensm, umad2sim and infiniband-diags.
set -eu
top=$(cd "$(dirname "$0")/../../.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
dir=$(mktemp -d /tmp/loom-madcap.XXXXXX)
trap '"$top/lab/ib-lab" down --dir "$dir/lab" >/dev/null 2>&1; rm -rf "$dir"' EXIT
"$top/lab/ib-lab" up --dir "$dir/lab" --hcas 2 >/dev/null
cd "$dir/lab"
# shellcheck disable=SC1091
. ./env
cap() {	# cap NAME COMMAND...: every "rcv buf" dump of COMMAND -> NAME-K
	name=$1
	shift
	"$@" -dddd 2>&1 | python3 -c '
import sys
name, out = sys.argv[1], sys.argv[2]
lines, mads, cur = sys.stdin.read().splitlines(), [], None
for l in lines:
    if l.strip() == "rcv buf":
        cur = bytearray()
        continue
    if cur is not None:
        words = l.split()
        if len(words) == 8 and all(len(w) == 4 for w in words):
            try:
                cur += bytes.fromhex("".join(words))
                continue
            except ValueError:
                pass
        mads.append(cur)
        cur = None
if cur:
    mads.append(cur)
for i, m in enumerate(m for m in mads if len(m) >= 24):
    open("%s/%s-%d" % (out, name, i), "wb").write(bytes(m[:256]))
' "$name" "$out" || true
}
lid=$(sminfo 2>/dev/null | sed -n 's/.*sm lid \([0-9]*\).*/\1/p')
lid=${lid:-1}
cap nodeinfo smpquery nodeinfo "$lid"
cap portinfo smpquery portinfo "$lid" 1
cap pkeys smpquery pkeys "$lid" 1
cap sminfo sminfo "$lid"
cap portcounters perfquery "$lid" 1
cap noderecord saquery -N
cap portinfo-badport smpquery portinfo "$lid" 250
ls "$out" | wc -l
