#!/bin/bash
# Metrics with the targets running: a real ibsim fabric and OpenSM
# (lab/ib-lab) driven by loomd; after a partition is programmed the
# subnet manager target's runs, items, sweeps waited and MADs sent show on
# /metrics, and scrapes stay quick while loomd works.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/etcd_lib.sh"	# etcd_free_port

. "$top_srcdir/tests/integration/ib_lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v ibsim >/dev/null || ! command -v opensm >/dev/null || [ ! -f "$SIM_SO" ]; then
	echo "1..1"; echo "not ok 1 - needs root, ibsim, opensm and umad2sim: run tools/install-deps"; exit 1
fi
t_plan 6
ib_up lmm-ib 4
SM=$(jq -r '.subnet_managers[0].name' "$T_DIR/topology.json")
MPORT=$(etcd_free_port)
loomd_config "$T_DIR/topology.json" "reconcile = yes" "resync_interval = 3600" \
	"pkey_range = 0x0100-0x01ff" "metrics.listen = 127.0.0.1:$MPORT"
ib_loomd
t_ok $? "loomd up under the umad2sim preload with metrics on"

ctl tenant create acme --isolation strict --site lab >/dev/null &&
	ctl segment create acme/ib --type infiniband >/dev/null &&
	ctl -w 30 attach acme/ib hca2 >/dev/null
t_ok $? "an infiniband segment attached and programmed (-w)"

scrape() { curl -sf --max-time 2 "http://127.0.0.1:$MPORT/metrics"; }
val() { scrape | awk -v k="$1" '$1 == k { print $2 }'; }
positive() { v=$(val "$1"); [ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 0) }'; }
t_wait 5 positive "loom_opensm_sweeps_waited_total{target=\"$SM\"}" &&
	positive "loom_mads_sent_total{target=\"$SM\"}" && positive "loom_target_runs_total{target=\"$SM\",kind=\"sm\"}"
t_ok $? "the SM target's sweeps waited, MADs sent and runs show ($(val "loom_mads_sent_total{target=\"$SM\"}") MADs)"
t_wait 5 positive "loom_target_items{target=\"$SM\",kind=\"sm\",state=\"programmed\"}"
t_ok $? "  ...and its programmed item"

# Scrapes while loomd creates and programs 20 more partitions.
busy=""
for i in $(seq 20); do
	ctl segment create "acme/p$i" --type infiniband >/dev/null
	ctl attach "acme/p$i" hca3 >/dev/null &
	busy="$busy $!"
done
worst=0
for _ in $(seq 30); do
	ms=$(curl -s -o /dev/null -w '%{time_total}' --max-time 2 "http://127.0.0.1:$MPORT/metrics" | awk '{ printf "%d", $1 * 1000 }')
	[ "$ms" -gt "$worst" ] && worst=$ms
	sleep 0.05
done
# shellcheck disable=SC2086  # the attaches' pids (not loomd's: a bare wait would wait for it)
wait $busy
[ "$worst" -lt 100 ]
t_ok $? "30 scrapes while loomd works: the slowest took $worst ms (< 100)"
exit 0
