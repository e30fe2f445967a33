#!/bin/bash
# Tenant-scoped access: a tenant:alfa principal (a client certificate over
# TLS, or a Unix group on the socket) cannot read or change anything of
# tenant bravo through any method of docs/api.md, and cannot tell that
# bravo exists: every method is driven with bravo's names and with names
# that exist nowhere, and the two answers must be the same, byte for byte
# (the missing name put back).  Its own segments it may manage.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"

P=$T_DIR/pki
tls_pki "$P" && tls_cert "$P" prov "/CN=prov" && tls_cert "$P" alfa "/CN=team-alfa" ||
	{ echo "Bail out! cannot make the test PKI"; exit 1; }
PORT=$(tls_free_port) || { echo "Bail out! no free port"; exit 1; }
TG=loomt-alfa; TU=loomt-alfa-u
users_cleanup() { userdel "$TU" 2>/dev/null; groupdel "$TG" 2>/dev/null; }
users_cleanup; t_cleanup_add users_cleanup
groupadd "$TG" && useradd -M -N -g nogroup -G "$TG" -s /usr/sbin/nologin "$TU" ||
	{ echo "Bail out! cannot create the test user"; exit 1; }
loomd_config "$top_srcdir/tests/integration/data/topo-api.json" \
	"listen = tls://127.0.0.1:$PORT" "tls.cert = $P/server.pem" "tls.key = $P/server.key" "tls.ca = $P/ca.pem" \
	"principal = cn:prov admin" "principal = cn:team-* tenant:alfa" "tenant_group = $TG alfa" "socket_mode = 0666"
loomd_start || exit 1

# One request as CERT over TLS (loomctl call): the result or the error
# object, and what loomctl said on stderr.
rpc() {	# rpc CERT METHOD PARAMS-JSON
	"$LOOMCTL" -s "tls://127.0.0.1:$PORT" --cert "$P/$1.pem" --key "$P/$1.key" --ca "$P/ca.pem" \
		-o json -t 60 call "$2" "$3" 2>"$T_DIR/rpc.err" | jq -c . 2>/dev/null
	cat "$T_DIR/rpc.err"
}

$LOOMCTL tenant create alfa >/dev/null && $LOOMCTL tenant create bravo >/dev/null &&
$LOOMCTL segment create alfa/net --type ethernet >/dev/null &&
$LOOMCTL segment create bravo/net --type ethernet >/dev/null &&
$LOOMCTL segment create bravo/secret --type infiniband >/dev/null &&
$LOOMCTL attach bravo/net gpu-e2 >/dev/null || { echo "Bail out! cannot set up"; exit 1; }

# Each method of the API with bravo's names; @ stands for the tenant name,
# % for the node.  The same with a tenant and a node that exist nowhere must
# answer the same.
TABLE=$(cat <<'EOT'
audit.list|{}
audit.verify|{}
desired.show|{}
events.subscribe|{"node":"%"}
events.subscribe|{"since":0,"node":"%"}
gpu.apply|{"tenant":"@","profile":"1g.10gb"}
gpu.compact|{"node":"%","dry_run":true}
gpu.plan|{"tenant":"@","profile":"1g.10gb"}
gpu.plan|{"tenant":"alfa","profile":"1g.10gb","node":"%"}
gpu.apply|{"tenant":"alfa","profile":"1g.10gb","node":"%"}
gpu.compact|{"node":"%"}
gpu.release|{"tenant":"@"}
gpu.release|{"tenant":"@","node":"%"}
gpu.show|{"tenant":"@"}
gpu.show|{"node":"%"}
intent.apply|{"intent":{"tenants":[{"name":"@"}]}}
intent.diff|{"intent":{"tenants":[{"name":"@"}]}}
node.cordon|{"name":"%"}
node.drain|{"name":"%"}
node.fail|{"name":"%"}
node.fault|{"node":"%","severity":"critical","source":"test","reason":"x"}
node.history|{"name":"%"}
node.list|{}
node.register|{"name":"%"}
node.replace|{"old":"%"}
node.retire|{"name":"%"}
node.show|{"name":"%"}
node.uncordon|{"name":"%"}
node.verify|{"name":"%"}
replace.list|{}
replace.show|{"node":"%"}
segment.attach|{"segment":"@/net","node":"%"}
segment.attach|{"segment":"alfa/net","node":"%"}
segment.create|{"tenant":"@","name":"x","type":"ethernet"}
segment.create|{"tenant":"@","name":"x","type":"bogus"}
segment.delete|{"segment":"@/net"}
segment.delete|{"segment":"@/secret","cascade":true}
segment.detach|{"segment":"@/net","node":"%"}
segment.detach|{"segment":"alfa/net","node":"%"}
segment.list|{"tenant":"@"}
segment.show|{"segment":"@/net"}
segment.show|{"segment":"@/secret"}
status.show|{"segment":"@/net"}
system.info|{}
tenant.create|{"name":"@"}
tenant.delete|{"name":"@","cascade":true}
tenant.show|{"name":"@"}
tenant.update|{"name":"@","labels":{"x":"y"}}
topology.import|{"text":""}
topology.reload|{}
topology.show|{}
EOT
)
n_rows=$(echo "$TABLE" | wc -l)
t_plan $((n_rows * 2 + 39))

before=$(db_state)
while IFS='|' read -r method params; do
	real=$(echo "$params" | sed 's/@/bravo/g; s/%/gpu-e2/g')
	none=$(echo "$params" | sed 's/@/nxtenant/g; s/%/nxnode/g')
	got=$(rpc alfa "$method" "$real")
	want=$(rpc alfa "$method" "$none" | sed 's/nxtenant/bravo/g; s/nxnode/gpu-e2/g')
	t_is "$got" "$want" "$method $real: answered as if bravo and its node did not exist"
	case "$got" in *'"code":'*) t_ok 0 "  ...(refused: $(echo "$got" | jq -r .data.name 2>/dev/null))" ;;
		'') t_ok 1 "  ...(no answer)" ;;
		*) t_ok 0 "  ...(a result about nothing)" ;; esac
done <<<"$TABLE"
t_is "$(db_state)" "$before" "nothing of the state changed"

t_is "$(rpc alfa tenant.list '{}' | head -n1 | jq -c '[.[].name]')" '["alfa"]' "tenant.list shows alfa only"
t_is "$(rpc alfa segment.list '{}' | head -n1 | jq -c '[.[] | .tenant + "/" + .name]')" '["alfa/net"]' "segment.list shows alfa's only"
out=$(rpc alfa status.show '{}')
case "$out" in *bravo*) t_ok 1 "status.show says nothing of bravo (got: $out)" ;; *segments*) t_ok 0 "status.show says nothing of bravo" ;; *) t_ok 1 "status.show answers ($out)" ;; esac
t_is "$(rpc alfa tenant.show '{"name":"alfa"}' | head -n1 | jq -r .name)" "alfa" "alfa may read itself"
t_is "$(rpc alfa segment.create '{"tenant":"alfa","name":"web","type":"ethernet"}' | head -n1 | jq -r .name)" "web" \
	"alfa may create its segments"
t_is "$(rpc alfa segment.attach '{"segment":"alfa/web","node":"gpu-e3"}' | head -n1 | jq -r .node)" "gpu-e3" \
	"  ...and attach a free node to them"
rpc alfa segment.detach '{"segment":"alfa/web","node":"gpu-e3"}' | grep -q '"code":'
t_ok $((1 - $?)) "  ...and detach it"
rpc alfa segment.delete '{"segment":"alfa/web"}' | grep -q '"code":'
t_ok $((1 - $?)) "  ...and delete them"
t_is "$(rpc alfa tenant.create '{"name":"charlie"}' | head -n1 | jq -r .data.name)" "permission_denied" "alfa may not create tenants"
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method=="segment.create" and .params.name=="web")] | first | .principal')" \
	"cn:team-alfa" "the audit names alfa's principal"
t_is "$($LOOMCTL -o json segment list bravo | jq -c '[.[].name]')" '["net","secret"]' "bravo's segments are intact"

# A node shared by soft tenants: gpu-e4's eth0 is alfa's, its eth1 bravo's
# (the provisioning layer put them there).  Once it is assigned to alfa,
# alfa's principal may attach it to its other segments; it still cannot
# touch bravo's port or attachment.
$LOOMCTL attach alfa/net gpu-e4:eth0 >/dev/null && $LOOMCTL attach bravo/net gpu-e4:eth1 >/dev/null &&
	rpc alfa segment.create '{"tenant":"alfa","name":"ib","type":"infiniband"}' | grep -q '"name":"ib"' ||
	{ echo "Bail out! cannot share gpu-e4"; exit 1; }
t_is "$(rpc alfa segment.attach '{"segment":"alfa/ib","node":"gpu-e4","port":"mlx5_0/1"}' | head -n1 | jq -r .port)" \
	"mlx5_0/1" "alfa attaches the shared soft node assigned to it (gpu-e4) to another of its segments"
before=$(db_state)
out=$(rpc alfa segment.attach '{"segment":"alfa/ib","node":"gpu-e4","port":"mlx5_1/1"}' | head -n1)
t_is "$(jq -r .port <<<"$out")" "mlx5_1/1" "  ...and another of its free ports"
rpc alfa segment.detach '{"segment":"alfa/ib","node":"gpu-e4","port":"mlx5_1/1"}' >/dev/null
before=$(db_state)
out=$(rpc alfa segment.attach '{"segment":"alfa/net","node":"gpu-e4","port":"eth1"}' | head -n1)
t_is "$(jq -r '.data.name + ": " + .message' <<<"$out")" "policy_violation: refused: it would involve another tenant's objects" \
	"  ...but not bravo's port on it, and the refusal does not name bravo"
got=$(rpc alfa segment.detach '{"segment":"bravo/net","node":"gpu-e4"}')
want=$(rpc alfa segment.detach '{"segment":"nxtenant/net","node":"gpu-e4"}' | sed 's/nxtenant/bravo/g')
t_is "$got" "$want" "  ...nor detach bravo's attachment of it (answered as if bravo did not exist)"
t_is "$(rpc alfa segment.detach '{"segment":"alfa/net","node":"gpu-e4","port":"eth1"}' | head -n1 | jq -r .data.name)" \
	"not_found" "  ...nor bravo's port through its own segment"
got=$(rpc alfa segment.attach '{"segment":"alfa/ib","node":"gpu-e2"}')
want=$(rpc alfa segment.attach '{"segment":"alfa/ib","node":"nxnode"}' | sed 's/nxnode/gpu-e2/g')
t_is "$got" "$want" "  ...and a node only bravo uses is still one that does not exist"
t_is "$(db_state)" "$before" "  ...none of which changed anything"

# Events: a tenant subscriber gets its own nodes' events only.
tls_ctl() { "$LOOMCTL" -s "tls://127.0.0.1:$PORT" --cert "$P/$1.pem" --key "$P/$1.key" --ca "$P/ca.pem" "${@:2}"; }
tls_ctl alfa -o json events --count 2 >"$T_DIR/alfa-ev" 2>&1 &
EVP=$!
t_wait 10 sh -c "$LOOMCTL -o json info | jq -e '.subscribers == 1'"
$LOOMCTL node cordon gpu-e2 --reason "bravo's node" >/dev/null && $LOOMCTL node cordon gpu-e4 >/dev/null &&
	$LOOMCTL node uncordon gpu-e4 >/dev/null
for _ in $(seq 100); do kill -0 $EVP 2>/dev/null || break; sleep 0.1; done
kill $EVP 2>/dev/null; wait $EVP 2>/dev/null
t_is "$(jq -r '.node + ":" + .event' "$T_DIR/alfa-ev" 2>/dev/null | paste -sd' ')" "gpu-e4:cordon gpu-e4:uncordon" \
	"alfa's event stream: gpu-e4's cordon and uncordon, not bravo's gpu-e2 (cordoned first)"
timeout 3 "$LOOMCTL" -s "tls://127.0.0.1:$PORT" --cert "$P/alfa.pem" --key "$P/alfa.key" --ca "$P/ca.pem" \
	-o json events --since 0 >"$T_DIR/alfa-all" 2>/dev/null
t_is "$(jq -r .node "$T_DIR/alfa-all" | sort -u | paste -sd,)" "gpu-e4" "  ...and replayed from 0: only the node assigned to it"
grep -q bravo "$T_DIR/alfa-all"
t_ok $((1 - $?)) "  ...naming bravo nowhere"
$LOOMCTL node uncordon gpu-e2 >/dev/null

# GPUs: a tenant places, sees, compacts and releases only its own
# instances, on the nodes assigned to it (gpu-e4's GPUs 0 and 2, whose rail
# port eth0 is alfa's: 14 instances of 1g.10gb at most).
t_is "$(rpc alfa gpu.plan '{"tenant":"alfa","profile":"1g.10gb","count":15,"segments":["net"]}' | head -n1 | jq -r .data.name)" \
	"pool_exhausted" "alfa's gpu.plan has only the nodes assigned to it (15 do not fit on gpu-e4)"
t_is "$($LOOMCTL -o json call gpu.plan '{"tenant":"alfa","profile":"1g.10gb","count":15,"segments":["net"]}' | jq -r .count)" \
	"15" "  ...where the admin's plan for alfa takes free nodes too"
out=$(rpc alfa gpu.apply '{"tenant":"alfa","profile":"1g.10gb","count":2,"segments":["net"]}' | head -n1)
t_is "$(jq -c '[.placements[] | .node + "/" + (.gpu | tostring)] | unique' <<<"$out")" '["gpu-e4/0"]' \
	"alfa's gpu.apply places on gpu-e4, the node assigned to it"
$LOOMCTL -o json call gpu.apply '{"tenant":"bravo","profile":"2g.20gb","node":"gpu-e4","segments":["net"]}' >/dev/null
t_is "$($LOOMCTL -o json gpu show --node gpu-e4 | jq -c '[.[].instances[].tenant] | unique')" '["alfa","bravo"]' \
	"  ...and bravo (through the admin) on gpu-e4 too"
out=$(rpc alfa gpu.show '{}' | head -n1)
t_is "$(jq -c '[.[] | (.node + "/" + (.gpu | tostring))]' <<<"$out")/$(jq -c '[.[].instances[].tenant] | unique' <<<"$out")" \
	'["gpu-e4/0"]/["alfa"]' "alfa's gpu.show: its own instances only"
case "$out" in *bravo*) t_ok 1 "  ...naming bravo nowhere" ;; *) t_ok 0 "  ...naming bravo nowhere" ;; esac
before=$(db_state)
t_is "$(rpc alfa gpu.compact '{"node":"gpu-e4","dry_run":true}' | head -n1 | jq -r '.data.name + ": " + .message')" \
	"policy_violation: refused: it would involve another tenant's objects" \
	"alfa may not compact gpu-e4: bravo's instance would move"
t_is "$(rpc alfa gpu.compact '{"dry_run":true}' | head -n1 | jq -r '.data.name + " " + .data.field')" "invalid_params node" \
	"  ...nor every GPU at once (a node must be named)"
t_is "$(rpc alfa gpu.release '{"tenant":"bravo","node":"gpu-e4"}' | head -n1 | jq -r .data.name)" "not_found" \
	"  ...nor release bravo's instance"
t_is "$(db_state)" "$before" "  ...none of which changed anything"
t_is "$(rpc alfa gpu.release '{"tenant":"alfa","node":"gpu-e4"}' | head -n1 | jq -c '[.released[].tenant]')" '["alfa","alfa"]' \
	"alfa releases its own instances"
t_is "$($LOOMCTL -o json gpu show --node gpu-e4 | jq -c '[.[].instances[].tenant]')" '["bravo"]' "  ...and bravo's stays"

# A Unix group granted tenant:alfa on the socket.
as_tu() { setpriv --reuid="$TU" --regid=nogroup --init-groups env LOOM_SOCKET="$LOOM_SOCKET" "$@"; }
t_is "$(as_tu "$LOOMCTL" -o json tenant list | jq -c '[.[].name]')" '["alfa"]' "a member of tenant_group alfa sees alfa only"
err=$(as_tu "$LOOMCTL" tenant show bravo 2>&1 >/dev/null); want=$(as_tu "$LOOMCTL" tenant show nxtenant 2>&1 >/dev/null | sed 's/nxtenant/bravo/g')
t_is "$err" "$want" "  ...and is told of bravo what it is told of a tenant that does not exist"
# A request without "params" is a request with {}: scoped all the same.
raw=$(printf '%s\n' '{"jsonrpc":"2.0","method":"tenant.list","id":1}' '{"jsonrpc":"2.0","method":"status.show","id":2}' \
	'{"jsonrpc":"2.0","method":"gpu.show","id":3}' '{"jsonrpc":"2.0","method":"segment.list","id":4}' \
	'{"jsonrpc":"2.0","method":"gpu.compact","id":5}' | as_tu "$RAWCLIENT" "$LOOM_SOCKET")
t_is "$(jq -c '.result | if type == "array" then [.[] | .name // .tenant // (.node + "/" + (.gpu | tostring))] | sort
	else {segments, targets, gpus} end' <<<"$raw" 2>/dev/null | head -n 4 | paste -sd' ')" \
	'["alfa"] {"segments":[],"targets":[],"gpus":[]} [] ["ib","net"]' \
	"  ...and without params: tenant.list, status.show, gpu.show and segment.list are its own only"
t_is "$(jq -r 'select(.id == 5) | .error.data.name + " " + .error.data.field' <<<"$raw")" "invalid_params node" \
	"  ...and gpu.compact without params needs a node"
err=$(as_tu "$LOOMCTL" topology show 2>&1 >/dev/null)
case "$err" in *permission_denied*) t_ok 0 "  ...and may not read the topology" ;; *) t_ok 1 "  ...and may not read the topology ($err)" ;; esac
t_done
