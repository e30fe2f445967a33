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
gpu.apply|{"tenant":"@","profile":"1g.10gb"}
gpu.compact|{"node":"%","dry_run":true}
gpu.plan|{"tenant":"@","profile":"1g.10gb"}
gpu.release|{"tenant":"@"}
gpu.release|{"tenant":"@","node":"%"}
gpu.show|{"tenant":"@"}
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
t_plan $((n_rows * 2 + 15))

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

# A Unix group granted tenant:alfa on the socket.
as_tu() { setpriv --reuid="$TU" --regid=nogroup --init-groups env LOOM_SOCKET="$LOOM_SOCKET" "$@"; }
t_is "$(as_tu "$LOOMCTL" -o json tenant list | jq -c '[.[].name]')" '["alfa"]' "a member of tenant_group alfa sees alfa only"
err=$(as_tu "$LOOMCTL" tenant show bravo 2>&1 >/dev/null); want=$(as_tu "$LOOMCTL" tenant show nxtenant 2>&1 >/dev/null | sed 's/nxtenant/bravo/g')
t_is "$err" "$want" "  ...and is told of bravo what it is told of a tenant that does not exist"
err=$(as_tu "$LOOMCTL" topology show 2>&1 >/dev/null)
case "$err" in *permission_denied*) t_ok 0 "  ...and may not read the topology" ;; *) t_ok 1 "  ...and may not read the topology ($err)" ;; esac
t_done
