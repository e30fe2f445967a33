#!/bin/bash
# Routed segments through a real loomd and loomctl: two tenants with the
# same subnets, each with its own L3 VNI, VRF, RD and RT; overlap inside a
# tenant and bad gateways refused with the field named and nothing changed;
# the L3 VNI kept while a routed segment is left, held when the last goes;
# a restart keeps it all.
. "$(dirname "$0")/lib.sh"
t_plan 17

loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "vni_range = 10000-10999" \
	"l3vni_range = 20000-20001"
loomd_start
t_ok $? "loomd starts"

$LOOMCTL tenant create red >/dev/null && $LOOMCTL tenant create blue >/dev/null &&
	$LOOMCTL tenant create green >/dev/null
t_ok $? "three tenants"
for t in red blue; do
	$LOOMCTL segment create $t/a --type ethernet --subnet 192.0.2.0/25 --gateway 192.0.2.1 >/dev/null &&
		$LOOMCTL segment create $t/b --type ethernet --subnet 192.0.2.128/25 --gateway 192.0.2.129 \
			--subnet 2001:db8:1::/64 --gateway 2001:db8:1::1 >/dev/null || break
done
t_ok $? "two tenants, two routed segments each, the same subnets"
t_is "$($LOOMCTL -o json tenant show red | jq -cS .routing)" \
	'{"l3vni":20000,"rt":"65000:20000","vrf":"lv20000"}' "red: its L3 VNI, VRF and RT"
t_is "$($LOOMCTL -o json tenant show blue | jq -r .routing.l3vni)" "20001" "blue: another L3 VNI"
t_is "$($LOOMCTL -o json segment show blue/b | jq -c .gateway)" '["192.0.2.129","2001:db8:1::1"]' \
	"segment show gives both gateways"
t_is "$($LOOMCTL segment list red | grep -c ' gw ')" "2" "segment list shows the gateways"

db_before=$(sqlite3 "$LOOM_DB" .dump | sha256sum)
seg() { $LOOMCTL -o json call segment.create "{\"tenant\":\"$1\",\"name\":\"c\",\"type\":\"ethernet\",$2}" 2>/dev/null; }
out=$(seg red '"subnet":"192.0.2.0/24","gateway":"192.0.2.9"')
t_is "$(echo "$out" | jq -r '.data.field // empty' 2>/dev/null)" "subnet" \
	"an overlapping subnet inside red is refused on 'subnet'"
out=$(seg red '"subnet":"198.51.100.0/24","gateway":"198.51.100.255"')
t_is "$(echo "$out" | jq -r '.data.field // empty' 2>/dev/null)" "gateway" \
	"a broadcast gateway is refused on 'gateway'"
out=$(seg green '"subnet":"192.0.2.0/24","gateway":"192.0.2.1"')
t_is "$(echo "$out" | jq -r '.data.name + " " + .data.field' 2>/dev/null)" "pool_exhausted gateway" \
	"no L3 VNI left for green: pool_exhausted on 'gateway'"
t_is "$(sqlite3 "$LOOM_DB" .dump | sha256sum)" "$db_before" "the refusals changed nothing"

$LOOMCTL segment delete red/a >/dev/null
t_is "$($LOOMCTL -o json tenant show red | jq -r .routing.l3vni)" "20000" "red keeps its L3 VNI while b is routed"
$LOOMCTL segment delete red/b >/dev/null
t_is "$($LOOMCTL -o json tenant show red | jq -r '.routing // "none"')" "none" "red's last routed segment took the L3 VNI"
t_is "$(sqlite3 "$LOOM_DB" "SELECT tenant FROM holds WHERE id = 20000")" "red" "...into a hold for red"
out=$(seg green '"subnet":"192.0.2.0/24","gateway":"192.0.2.1"')
t_is "$(echo "$out" | jq -r '.data.field // empty' 2>/dev/null)" "gateway" \
	"the held L3 VNI is not handed to green"

before=$($LOOMCTL -o json tenant list; $LOOMCTL -o json segment list)
loomd_stop TERM
loomd_start
t_ok $? "loomd restarts"
t_is "$($LOOMCTL -o json tenant list; $LOOMCTL -o json segment list)" "$before" \
	"L3 VNIs and gateways survive the restart"
