#!/bin/bash
# loomd's TLS listener with real certificates: mutual authentication
# against tls.ca, a CRL, principals from the subject CN or a SAN by the
# rules of loomd.conf; each kind of refusal with a clear error and a log
# line; a client stalled half-way through its handshake holds up nobody;
# the server's key is read again on SIGHUP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tls_lib.sh"
t_plan 33

P=$T_DIR/pki
tls_pki "$P" || { echo "Bail out! cannot make the test PKI"; exit 1; }
tls_cert "$P" prov "/CN=prov" &&
tls_cert "$P" mon "/CN=someone" client "DNS:mon.example" &&
tls_cert "$P" stranger "/CN=stranger" &&
tls_cert "$P" foreign "/CN=prov" client "" "" "" otherca &&
tls_cert "$P" expired "/CN=prov" client "" 20200101000000Z 20200201000000Z &&
tls_cert "$P" future "/CN=prov" client "" 20990101000000Z 20990201000000Z &&
tls_cert "$P" revoked "/CN=prov" &&
tls_revoke "$P" revoked || { echo "Bail out! cannot issue the test certificates"; exit 1; }

PORT=$(tls_free_port) || { echo "Bail out! no free port"; exit 1; }
URL=tls://127.0.0.1:$PORT
loomd_config "$top_srcdir/tests/integration/data/topo-api.json" \
	"listen = $URL" "tls.cert = $P/server.pem" "tls.key = $P/server.key" "tls.ca = $P/ca.pem" \
	"tls.crl = $P/crl.pem" "tls.handshake_timeout = 2" \
	"principal = cn:prov admin" "principal = dns:mon.example reader"
loomd_start || exit 1
LOG=$T_DIR/loomd.log

as() {	# as CERT loomctl-args...: loomctl over TLS with CERT
	_c=$1; shift
	"$LOOMCTL" -s "$URL" --cert "$P/$_c.pem" --key "$P/$_c.key" --ca "$P/ca.pem" "$@"
}
# refused CERT WANT-ERR WANT-LOG DESCRIPTION
refused() {
	out=$(as "$1" tenant list 2>&1 >/dev/null); rc=$?
	t_is "$rc" "3" "$4: refused (exit 3)"
	case "$out" in *"$2"*) t_ok 0 "  ...loomctl says: $2" ;; *) t_ok 1 "  ...loomctl says: $2 (got: $out)" ;; esac
	t_wait 5 grep -q -- "$3" "$LOG"
	t_ok $? "  ...and loomd logs: $3"
}

as prov tenant create acme >/dev/null
t_ok $? "an admin principal (subject CN) may create over TLS"
t_is "$(as mon -o json tenant list | jq -r '.[].name')" "acme" "a reader principal (SAN DNS) may read"
out=$(as mon tenant create other 2>&1 >/dev/null); rc=$?
t_is "$rc" "1" "a reader principal may not create (exit 1)"
case "$out" in *"certificate dns:mon.example may not call tenant.create"*permission_denied*) t_ok 0 "  ...with permission_denied naming it" ;;
	*) t_ok 1 "  ...with permission_denied naming it (got: $out)" ;; esac
t_is "$(as prov -o json info | jq -r .version | grep -c .)" "1" "info answers over TLS"
proto=$(openssl s_client -connect "127.0.0.1:$PORT" -cert "$P/prov.pem" -key "$P/prov.key" -CAfile "$P/ca.pem" \
	</dev/null 2>/dev/null | grep -o 'New, TLSv1\.[0-9]' | head -n1)
t_is "$proto" "New, TLSv1.3" "the session is TLS 1.3"

refused foreign "alert unknown ca" "unable to get local issuer certificate" "a certificate of another CA"
refused expired "alert certificate expired" "certificate has expired" "an expired certificate"
refused future "alert bad certificate" "certificate is not yet valid" "a certificate not yet valid"
refused revoked "alert certificate revoked" "certificate revoked" "a revoked certificate"

# No client certificate at all (openssl s_client without -cert).
out=$( (echo '{"jsonrpc":"2.0","method":"system.info","id":1}'; sleep 1) |
	openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$P/ca.pem" -quiet 2>&1)
case "$out" in *'"result"'*) t_ok 1 "no client certificate: refused (got an answer)" ;; *) t_ok 0 "no client certificate: refused" ;; esac
case "$out" in *"certificate required"*) t_ok 0 "  ...the client is told a certificate is required" ;;
	*) t_ok 1 "  ...the client is told a certificate is required (got: $out)" ;; esac
t_wait 5 grep -q "did not return a certificate" "$LOG"
t_ok $? "  ...and loomd logs it"

# A good certificate that no principal rule names: connected, every request refused.
out=$(as stranger tenant list 2>&1 >/dev/null); rc=$?
t_is "$rc" "1" "a certificate no rule names is refused by loomd (exit 1)"
case "$out" in *"CN=stranger"*"no principal rule"*permission_denied*) t_ok 0 "  ...naming the certificate and why" ;;
	*) t_ok 1 "  ...naming the certificate and why (got: $out)" ;; esac
grep -q "certificate 'CN=stranger' matches no principal rule" "$LOG"
t_ok $? "  ...and loomd logs it"

# The audit names the principal of a TLS write.
t_is "$($LOOMCTL -o json audit list | jq -r '[.[] | select(.method=="tenant.create")] | first | .principal')" \
	"cn:prov" "the audit record names the certificate's principal"

# A client stalled half-way through its handshake holds up nobody.
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
printf '\x16\x03\x01\x02\x00\x01\x00\x01' >&7
start=$(date +%s%N)
timeout 5 bash -c "$(declare -f as); P=$P URL=$URL LOOMCTL=$LOOMCTL; as prov tenant show acme" >/dev/null
t_ok $? "requests are served while a client sits half-way through its handshake"
t_ok $(( ($(date +%s%N) - start) / 1000000 < 1500 ? 0 : 1 )) "  ...without waiting for it"
t_wait 5 grep -q "no handshake within 2 s" "$LOG"
t_ok $? "the stalled handshake is dropped after tls.handshake_timeout"
exec 7>&-

# Many stalled handshakes at once do not either.
for i in $(seq 20); do exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; printf '\x16\x03' >&$fd; done
timeout 5 bash -c "$(declare -f as); P=$P URL=$URL LOOMCTL=$LOOMCTL; as mon tenant list" >/dev/null
t_ok $? "and while twenty of them do"

# SIGHUP reads the server's key and certificate again.
tls_cert "$P" server2 "/CN=loomd-renewed" server && cp "$P/server2.pem" "$P/server.pem" && cp "$P/server2.key" "$P/server.key"
kill -HUP "$LOOMD_PID"
t_wait 5 grep -q "TLS key, certificate, CA and CRL reloaded" "$LOG"
t_ok $? "SIGHUP reloads the TLS files"
subj=$(openssl s_client -connect "127.0.0.1:$PORT" -cert "$P/prov.pem" -key "$P/prov.key" -CAfile "$P/ca.pem" \
	</dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null)
t_is "$subj" "subject=CN = loomd-renewed" "  ...new connections get the new certificate"
as prov tenant show acme >/dev/null
t_ok $? "  ...and are served"

# The client config file carries the same.
printf 'server = %s\ncert = %s\nkey = %s\nca = %s\n' "$URL" "$P/prov.pem" "$P/prov.key" "$P/ca.pem" >"$T_DIR/loomctl.conf"
LOOM_SOCKET= "$LOOMCTL" -c "$T_DIR/loomctl.conf" tenant show acme >/dev/null
t_ok $? "loomctl -c FILE reaches loomd over TLS"
t_done
