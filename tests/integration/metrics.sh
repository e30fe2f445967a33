#!/bin/bash
# Metrics for Prometheus: loomd serves them on metrics.listen, promtool
# accepts the exposition, a real Prometheus scrapes loomd and answers a
# PromQL query, the Grafana dashboard asks only for metrics loomd has, and
# a bad or taken address is refused at start naming the key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/etcd_lib.sh"	# etcd_free_port
t_plan 16
for tool in curl promtool prometheus; do
	command -v "$tool" >/dev/null || { echo "# $tool is missing: run tools/install-deps"; exit 1; }
done
TOPO=$top_srcdir/tests/integration/data/topo-api.json
MPORT=$(etcd_free_port)
loomd_config "$TOPO" "metrics.listen = 127.0.0.1:$MPORT"

out=$("$LOOMD" -n -c "$LOOM_CONF" 2>&1)
case "$out" in *"metrics.listen = 127.0.0.1:$MPORT"*) t_ok 0 "loomd -n accepts metrics.listen and prints it" ;;
*) t_ok 1 "loomd -n accepts metrics.listen and prints it (got: $out)" ;; esac
sed "s|^metrics.listen = .*|metrics.listen = localhost:9464|" "$LOOM_CONF" >"$T_DIR/bad.conf"
err=$("$LOOMD" -n -c "$T_DIR/bad.conf" 2>&1); rc=$?
case "$rc:$err" in 1:*"metrics.listen"*"ADDR:PORT"*) t_ok 0 "a host name instead of an address is refused, naming the key" ;;
*) t_ok 1 "a host name instead of an address is refused, naming the key (rc $rc: $err)" ;; esac

loomd_start || exit 1
$LOOMCTL tenant create acme --site east >/dev/null
$LOOMCTL tenant create acme --site east >/dev/null 2>&1
$LOOMCTL segment create acme/s1 --type ethernet >/dev/null && $LOOMCTL attach acme/s1 gpu-e1 >/dev/null
$LOOMCTL node cordon gpu-e2 >/dev/null
scrape() { curl -sf --max-time 2 "http://127.0.0.1:$MPORT/metrics"; }
# Gauges are refreshed once a second after a change.
has() { scrape | grep -qF "$1"; }
t_wait 5 has 'loom_nodes{state="cordoned"} 1'
t_ok $? "the scrape shows the cordoned node (gauges follow the model)"
scrape >"$T_DIR/m.txt"
promtool check metrics <"$T_DIR/m.txt" >"$T_DIR/promtool.out" 2>&1
t_is "$?" "0" "promtool check metrics accepts the exposition"
[ -s "$T_DIR/promtool.out" ] && sed 's/^/#   /' "$T_DIR/promtool.out"
grep -qx 'loom_requests_total{method="tenant.create",outcome="ok"} 1' "$T_DIR/m.txt" &&
	grep -qx 'loom_requests_total{method="tenant.create",outcome="exists"} 1' "$T_DIR/m.txt"
t_ok $? "requests are counted by method and outcome (one ok, one exists)"
n=$(sed -n 's/^loom_request_duration_seconds_count{method="segment.create"} //p' "$T_DIR/m.txt")
t_is "$n" "1" "  ...with a latency histogram per method"
w=$(sed -n 's/^loom_commit_writes_sum //p' "$T_DIR/m.txt")
[ "${w:-0}" -ge 4 ]
t_ok $? "group commits counted with their writes ($w writes)"
audit=$($LOOMCTL -o json audit list | jq 'length')
grep -qx "loom_audit_records $audit" "$T_DIR/m.txt"
t_ok $? "loom_audit_records is the audit chain's length ($audit)"
nodes=$(jq '.nodes | length' "$TOPO")
sum=$(awk '/^loom_nodes\{/ { s += $2 } END { print s }' "$T_DIR/m.txt")
t_is "$sum" "$nodes" "loom_nodes adds up to the topology's nodes"
grep -q '^loom_build_info{version="' "$T_DIR/m.txt" && grep -q '^loom_store_bytes [1-9]' "$T_DIR/m.txt"
t_ok $? "build info and the store's size"

# Every metric the dashboard asks for is one loomd declares.
missing=""
for name in $(jq -r '.panels[].targets[].expr' "$top_srcdir/etc/grafana-loom.json" | grep -o 'loom_[a-z_]*' | sort -u); do
	base=$(echo "$name" | sed -E 's/_(bucket|sum|count)$//')
	grep -q "^# TYPE $base " "$T_DIR/m.txt" || grep -q "^# TYPE $name " "$T_DIR/m.txt" || missing="$missing $name"
done
t_is "$missing" "" "every metric in etc/grafana-loom.json is one loomd serves"

# A real Prometheus scrapes it and answers PromQL.
PPORT=$(etcd_free_port)
cat >"$T_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: loomd
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
YML
prometheus --config.file="$T_DIR/prometheus.yml" --storage.tsdb.path="$T_DIR/prom" \
	--web.listen-address="127.0.0.1:$PPORT" >"$T_DIR/prometheus.log" 2>&1 &
T_PIDS="$T_PIDS $!"
q() { curl -sf --max-time 10 "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
qval() { q "$1" | jq -r '.data.result[0].value[1] // empty'; }
qis() { [ "$(qval "$1")" = "$2" ]; }	# qis QUERY VALUE
up() { q 'up{job="loomd"}' | jq -e '.data.result[0].value[1] == "1"' >/dev/null; }
t_wait 30 up
t_ok $? "Prometheus scrapes loomd (up == 1)"
t_wait 15 qis 'sum(loom_requests_total{method="tenant.create"})' 2
t_is "$(qval 'sum(loom_requests_total{method="tenant.create"})')" "2" "  ...and PromQL sums tenant.create's requests: 2"
t_wait 15 qis 'loom_nodes{state="cordoned"}' 1
t_is "$(qval 'loom_nodes{state="cordoned"}')" "1" "  ...and reads the cordoned node"

# A scrape is served from its own thread: quick whatever the loop does.
ms=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$MPORT/metrics" | awk '{ printf "%d", $1 * 1000 }')
[ "$ms" -lt 100 ]
t_ok $? "a scrape answers within 100 ms ($ms ms)"

# The address taken: loomd refuses to start, naming the key.
sed "s|^socket = .*|socket = $T_DIR/second.sock|; s|^database = .*|database = $T_DIR/second.db|" "$LOOM_CONF" >"$T_DIR/second.conf"
err=$(timeout 10 "$LOOMD" -f -c "$T_DIR/second.conf" 2>&1); rc=$?
case "$rc:$err" in 1:*"metrics.listen"*"cannot be listened on"*) t_ok 0 "a second loomd on the same metrics address refuses to start, naming the key" ;;
*) t_ok 1 "a second loomd on the same metrics address refuses to start, naming the key (rc $rc: $err)" ;; esac
exit 0
