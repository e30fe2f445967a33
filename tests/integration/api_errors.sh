#!/bin/bash
# Malformed and invalid requests: each gets the right JSON-RPC error code,
# names the field at fault, and leaves the database exactly as it was.
. "$(dirname "$0")/lib.sh"

loomd_config "$top_srcdir/tests/integration/data/topo-api.json" "max_request_bytes = 4096" \
	"vni_range = 10000-10999" "pkey_range = 0x0100-0x01ff"
loomd_start || exit 1
$LOOMCTL tenant create acme --isolation strict --site east >/dev/null &&
$LOOMCTL tenant create blue --site east --site west >/dev/null &&
$LOOMCTL segment create acme/train --type ethernet --subnet 192.0.2.0/24 >/dev/null &&
$LOOMCTL segment create acme/ib --type infiniband --pkey 0x0123 >/dev/null &&
$LOOMCTL segment create blue/web --type ethernet >/dev/null &&
$LOOMCTL attach acme/train gpu-e1 >/dev/null || { echo "Bail out! set-up failed"; exit 1; }

R='"jsonrpc":"2.0","id":7'
# CODE | FIELD (prefix; - for none) | REQUEST LINE
cases=$(cat <<EOF2
-32700|-|not json at all
-32700|-|{"jsonrpc":"2.0","method":"tenant.list"
-32700|-|{"jsonrpc":"2.0","method":"tenant.list","method":"tenant.create","id":1}
-32600|-|[1,2,3]
-32600|-|"just a string"
-32600|jsonrpc|{"jsonrpc":"1.0","method":"tenant.list","id":1}
-32600|jsonrpc|{"method":"tenant.list","id":1}
-32600|method|{"jsonrpc":"2.0","id":1}
-32600|method|{"jsonrpc":"2.0","method":42,"id":1}
-32600|method|{"jsonrpc":"2.0","method":"","id":1}
-32600|method|{"jsonrpc":"2.0","method":"$(printf 'x%.0s' $(seq 80))","id":1}
-32600|params|{"jsonrpc":"2.0","method":"tenant.list","params":[1],"id":1}
-32600|id|{"jsonrpc":"2.0","method":"tenant.list","id":{"a":1}}
-32600|extra|{"jsonrpc":"2.0","method":"tenant.list","id":1,"extra":1}
-32601|method|{$R,"method":"tenant.frobnicate"}
-32602|name|{$R,"method":"tenant.create","params":{}}
-32602|name|{$R,"method":"tenant.create","params":{"name":"Acme"}}
-32602|name|{$R,"method":"tenant.create","params":{"name":"$(printf 'a%.0s' $(seq 64))"}}
-32602|name|{$R,"method":"tenant.create","params":{"name":"a_b"}}
-32602|name|{$R,"method":"tenant.create","params":{"name":"-ab"}}
-32602|name|{$R,"method":"tenant.create","params":{"name":42}}
-32602|isolation|{$R,"method":"tenant.create","params":{"name":"x1","isolation":"paranoid"}}
-32602|sites|{$R,"method":"tenant.create","params":{"name":"x1","sites":"east"}}
*|sites|{$R,"method":"tenant.create","params":{"name":"x1","sites":["mars"]}}
-32602|labels|{$R,"method":"tenant.create","params":{"name":"x1","labels":{"a":1}}}
-32602|colour|{$R,"method":"tenant.create","params":{"name":"x1","colour":"red"}}
1002|name|{$R,"method":"tenant.create","params":{"name":"acme"}}
1011|isolation|{$R,"method":"tenant.update","params":{"name":"acme","isolation":"soft"}}
1001|name|{$R,"method":"tenant.update","params":{"name":"nope"}}
-32602|tenant|{$R,"method":"segment.create","params":{"name":"s1","type":"ethernet"}}
1001|tenant|{$R,"method":"segment.create","params":{"tenant":"nope","name":"s1","type":"ethernet"}}
-32602|type|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"token-ring"}}
1010|vni|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","vni":0}}
1010|vni|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","vni":16777216}}
-32602|vni|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","vni":"abc"}}
1006|vni|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","vni":10000}}
1010|mtu|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","mtu":100}}
1010|mtu|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","mtu":10000}}
-32602|subnet|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","subnet":"192.0.2.1/24"}}
-32602|subnet|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","subnet":"300.0.0.0/8"}}
*|subnet|{$R,"method":"segment.create","params":{"tenant":"acme","name":"s1","type":"ethernet","subnet":"192.0.2.128/25"}}
1010|pkey|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","pkey":0}}
1010|pkey|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","pkey":32767}}
*|pkey|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","pkey":"0xffff"}}
1006|pkey|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","pkey":"0x0123"}}
-32602|pkey|{$R,"method":"segment.create","params":{"tenant":"blue","name":"s1","type":"ethernet","pkey":5}}
-32602|vni|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","vni":5}}
*|ib_mtu|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","ib_mtu":3000}}
1010|sl|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","sl":16}}
-32602|membership|{$R,"method":"segment.create","params":{"tenant":"blue","name":"p1","type":"infiniband","membership":"partial"}}
1002|name|{$R,"method":"segment.create","params":{"tenant":"acme","name":"train","type":"ethernet"}}
-32602|segment|{$R,"method":"segment.attach","params":{"segment":"acme","node":"gpu-e2"}}
1001|segment|{$R,"method":"segment.attach","params":{"segment":"acme/nope","node":"gpu-e2"}}
1001|node|{$R,"method":"segment.attach","params":{"segment":"blue/web","node":"nope"}}
1001|port|{$R,"method":"segment.attach","params":{"segment":"blue/web","node":"gpu-e2","port":"eth9"}}
*|port|{$R,"method":"segment.attach","params":{"segment":"blue/web","node":"gpu-e2","port":"mlx5_0/1"}}
1003|-|{$R,"method":"segment.attach","params":{"segment":"acme/train","node":"gpu-w1"}}
1003|-|{$R,"method":"segment.attach","params":{"segment":"blue/web","node":"gpu-e1"}}
1002|-|{$R,"method":"segment.attach","params":{"segment":"acme/train","node":"gpu-e1"}}
-32602|membership|{$R,"method":"segment.attach","params":{"segment":"acme/ib","node":"gpu-e1","membership":"partial"}}
1001|-|{$R,"method":"segment.detach","params":{"segment":"blue/web","node":"gpu-e2"}}
1009|-|{$R,"method":"tenant.delete","params":{"name":"acme"}}
1001|name|{$R,"method":"tenant.delete","params":{"name":"nope"}}
1009|-|{$R,"method":"segment.delete","params":{"segment":"acme/train"}}
-32602|cascade|{$R,"method":"segment.delete","params":{"segment":"acme/train","cascade":"yes"}}
1010|limit|{$R,"method":"audit.list","params":{"limit":-1}}
-32602|intent|{$R,"method":"intent.apply","params":{"intent":[]}}
-32602|intent.tenants|{$R,"method":"intent.apply","params":{"intent":{"tenants":{}}}}
1003|-|{$R,"method":"intent.apply","params":{"intent":{"tenants":[{"name":"new1","segments":[{"name":"a","type":"ethernet","attachments":[{"node":"gpu-e2"}]}]},{"name":"new2","isolation":"strict","sites":["east"],"segments":[{"name":"b","type":"ethernet","attachments":[{"node":"gpu-e2"}]}]}]}}}
1007|-|{$R,"method":"tenant.create","params":{"name":"big","labels":{"x":"$(printf 'y%.0s' $(seq 5000))"}}}
EOF2
)
n=$(echo "$cases" | wc -l)
t_plan $((n * 2 + 1))
before=$(db_state)
while IFS='|' read -r code field line; do
	reply=$(printf '%s\n' "$line" | "$RAWCLIENT" "$LOOM_SOCKET" | head -n 1)
	got_code=$(echo "$reply" | jq -r '.error.code // "none"' 2>/dev/null)
	got_field=$(echo "$reply" | jq -r '.error.data.field // ""' 2>/dev/null)
	short=$(echo "$line" | cut -c1-90)
	if [ "$code" = "*" ]; then
		t_ok $([ "$got_code" != none ] && [ -n "$got_code" ] && echo 0 || echo 1) "error $got_code for: $short"
	else
		t_is "$got_code" "$code" "error $code for: $short"
	fi
	if [ "$field" = "-" ]; then
		t_ok $([ -n "$(echo "$reply" | jq -r '.error.message')" ] && echo 0 || echo 1) "  ...with a message: $(echo "$reply" | jq -r '.error.message' | cut -c1-80)"
	else
		case "$got_field" in
		"$field"*) t_ok 0 "  ...naming field '$got_field'" ;;
		*) t_ok 1 "  ...naming field '$field' (got '$got_field': $(echo "$reply" | jq -r .error.message))" ;;
		esac
	fi
	if [ "$(db_state)" != "$before" ]; then
		echo "# the database changed after: $short"
		T_FAILED=$((T_FAILED + 1))
	fi
done <<<"$cases"
t_is "$(db_state)" "$before" "the database is unchanged after every refused request"
t_done
