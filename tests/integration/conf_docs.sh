#!/bin/bash
# Every key loomd.conf takes is in the sample etc/loomd.conf and in loomd(8):
# the keys are those `loomd -n` prints (it prints every one it knows).
. "$(dirname "$0")/lib.sh"
t_plan 2
loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "metrics.listen = 127.0.0.1:9464" \
	"gpu.nvml.gpu-e1 = /nonexistent/libnvidia-ml.so.1"
keys=$("$LOOMD" -n -c "$LOOM_CONF" | sed -n 's/^\([a-z_.][a-z_.0-9-]*\) =.*/\1/p' | sed 's/^gpu\.nvml\..*/gpu.nvml/' | sort -u)
[ -n "$keys" ] || { echo "# loomd -n printed no keys"; exit 1; }
conf_missing="" man_missing=""
for k in $keys; do
	grep -Eq "^#? ?${k//./\\.}[. ]" "$top_srcdir/etc/loomd.conf" || conf_missing="$conf_missing $k"
	# A .TP heading names it, alone or in a list ("fault.info, fault.warning").
	grep -Eq "^\.BI? (.*[ ,])?${k//./\\.}(\.? |,|$)" "$top_srcdir/docs/loomd.8" || man_missing="$man_missing $k"
done
t_is "$conf_missing" "" "every key loomd -n prints is in etc/loomd.conf ($(echo $keys | wc -w) keys)"
t_is "$man_missing" "" "every key loomd -n prints is in loomd(8)"
