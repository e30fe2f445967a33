# tests/integration/tls_lib.sh: real certificates made with openssl for the
# TLS tests and benchmarks.  tls_pki DIR makes two CAs (ca, otherca), a
# server certificate for 127.0.0.1 and localhost, and the CA's database
# so that tls_cert can issue (with any dates) and tls_revoke can revoke.

tls_pki() {	# tls_pki DIR
	_d=$1
	mkdir -p "$_d/db" || return 1
	: >"$_d/db/index.txt"
	echo 1000 >"$_d/db/serial"
	echo 1000 >"$_d/db/crlnumber"
	cat >"$_d/ca.cnf" <<EOC
[ ca ]
default_ca = loomtest
[ loomtest ]
dir = $_d
database = \$dir/db/index.txt
serial = \$dir/db/serial
crlnumber = \$dir/db/crlnumber
new_certs_dir = \$dir/db
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = anything
unique_subject = no
copy_extensions = copy
[ anything ]
commonName = supplied
[ client ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
[ server ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
EOC
	for ca in ca otherca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
			-subj "/CN=loom test $ca" -keyout "$_d/$ca.key" -out "$_d/$ca.pem" 2>/dev/null || return 1
	done
	tls_cert "$_d" server "/CN=loomd" server || return 1
	openssl ca -batch -config "$_d/ca.cnf" -gencrl -out "$_d/crl.pem" 2>/dev/null
}

# tls_cert DIR NAME SUBJECT [EXT [SAN [START END [CA]]]]: DIR/NAME.pem and DIR/NAME.key.
tls_cert() {
	_d=$1; _n=$2; _subj=$3; _ext=${4:-client}; _san=$5; _start=$6; _end=$7; _ca=${8:-ca}
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$_subj" \
		${_san:+-addext "subjectAltName = $_san"} \
		-keyout "$_d/$_n.key" -out "$_d/$_n.csr" 2>/dev/null || return 1
	openssl ca -batch -notext -config "$_d/ca.cnf" -extensions "$_ext" -cert "$_d/$_ca.pem" \
		-keyfile "$_d/$_ca.key" ${_start:+-startdate $_start} ${_end:+-enddate $_end} \
		-in "$_d/$_n.csr" -out "$_d/$_n.pem" 2>/dev/null
}

tls_revoke() {	# tls_revoke DIR NAME: revokes it and writes DIR/crl.pem again
	openssl ca -batch -config "$1/ca.cnf" -revoke "$1/$2.pem" 2>/dev/null &&
	openssl ca -batch -config "$1/ca.cnf" -gencrl -out "$1/crl.pem" 2>/dev/null
}

# A free TCP port on 127.0.0.1: lib.sh's t_free_port where the caller has
# lib.sh (the tests), else a free port below the ephemeral range (bench/tls.sh).
tls_free_port() {
	if command -v t_free_port >/dev/null; then t_free_port; return; fi
	for _ in $(seq 50); do
		_p=$((10000 + RANDOM % 22000))
		ss -Htan "sport = :$_p" | grep -q . || { echo "$_p"; return 0; }
	done
	return 1
}
	done
	return 1
}
