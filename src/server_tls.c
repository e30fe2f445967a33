/*
 * src/server_tls.c: the TLS listener (src/server_tls.h).
 *
 * Every client must present a certificate that chains to tls.ca (and is
 * not on tls.crl when one is named); OpenSSL checks the dates and the
 * chain during the handshake, which runs in steps on the event loop so
 * that a client stalling half-way holds up nobody.  What the certificate
 * may do is decided after it: its subject CN or a SAN entry must match a
 * `principal` rule of loomd.conf, else the client is connected but every
 * request is refused naming the certificate.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "lib/log.h"
#include "src/server_tls.h"

struct server_tls {
	SSL_CTX *ctx;
	int fd;
};

/* The newest OpenSSL error as text, and the queue emptied. */
static const char *ssl_error_text(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();

	if (!e)
		snprintf(buf, size, "no details");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return buf;
}

/* The subject of @cert in one line (RFC 2253). */
static void subject_text(X509 *cert, char *buf, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (!b)
		return;
	X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
	n = BIO_read(b, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* Logs the first certificate the chain check refused, with why. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	const char *who = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(store);
	int e = X509_STORE_CTX_get_error(store);
	char subject[256] = "";

	if (ok)
		return 1;
	if (cert)
		subject_text(cert, subject, sizeof(subject));
	log_warn("TLS client %s refused: certificate '%s': %s (verify error %d)", who ? who : "?", subject,
		 X509_verify_cert_error_string(e), e);
	return 0;
}

static int ctx_fail(SSL_CTX *ctx, struct loom_err *err, const char *field, const char *what, const char *path)
{
	char buf[256];

	ssl_error_text(buf, sizeof(buf));
	SSL_CTX_free(ctx);
	return loom_err_set(err, LOOM_E_CONFIG, field, "%s %s: %s", what, path, buf);
}

static int crl_load(X509_STORE *store, const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509_CRL *crl;
	int n = 0;

	if (!b)
		return -ENOENT;
	while ((crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL))) {
		if (X509_STORE_add_crl(store, crl) != 1) {
			X509_CRL_free(crl);
			BIO_free(b);
			return -EINVAL;
		}
		X509_CRL_free(crl);
		n++;
	}
	ERR_clear_error();	/* the end of the file reads as an error */
	BIO_free(b);
	return n > 0 ? 0 : -EINVAL;
}

static int ctx_build(SSL_CTX **out, const struct loom_config *cfg, struct loom_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	STACK_OF(X509_NAME) *cas;

	*out = NULL;
	if (!ctx)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_version);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* A client that closes without close_notify has ended its input, as on the socket. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
		return ctx_fail(ctx, err, "tls.cert", "cannot use the certificate", cfg->tls_cert);
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
		return ctx_fail(ctx, err, "tls.key", "cannot use the key", cfg->tls_key);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ctx_fail(ctx, err, "tls.key", "the key does not match the certificate of", cfg->tls_cert);
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1)
		return ctx_fail(ctx, err, "tls.ca", "cannot load the CA", cfg->tls_ca);
	cas = SSL_load_client_CA_file(cfg->tls_ca);
	if (cas)
		SSL_CTX_set_client_CA_list(ctx, cas);
	if (cfg->tls_crl[0]) {
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);

		if (crl_load(store, cfg->tls_crl))
			return ctx_fail(ctx, err, "tls.crl", "cannot load a CRL (PEM) from", cfg->tls_crl);
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	SSL_CTX_set_verify_depth(ctx, 8);
	/* No session tickets or cache: every connection is checked against
	 * the CA and CRL as they are now. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	*out = ctx;
	return 0;
}

static int listen_bind(const struct loom_config *cfg, struct loom_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(cfg->listen_host, cfg->listen_port, &hints, &res);
	int fd = -1, one = 1, e = 0;

	if (rc)
		return loom_err_set(err, LOOM_E_CONFIG, "listen", "cannot resolve %s: %s", cfg->listen_host,
				    gai_strerror(rc));
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 512)) {
			e = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return loom_err_set(err, LOOM_E_CONFIG, "listen", "cannot listen on %s port %s: %s",
				    cfg->listen_host, cfg->listen_port, strerror(e ? e : EADDRNOTAVAIL));
	return fd;
}

int server_tls_open(struct server_tls **out, const struct loom_config *cfg, struct loom_err *err)
{
	struct server_tls *tls = calloc(1, sizeof(*tls));
	int ret;

	*out = NULL;
	if (!tls)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	ret = ctx_build(&tls->ctx, cfg, err);
	if (!ret) {
		ret = listen_bind(cfg, err);
		if (ret >= 0) {
			tls->fd = ret;
			ret = 0;
		}
	}
	if (ret) {
		SSL_CTX_free(tls->ctx);
		free(tls);
		return ret;
	}
	*out = tls;
	return 0;
}

int server_tls_fd(const struct server_tls *tls)
{
	return tls->fd;
}

int server_tls_reload(struct server_tls *tls, const struct loom_config *cfg, struct loom_err *err)
{
	SSL_CTX *ctx;
	int ret = ctx_build(&ctx, cfg, err);

	if (ret)
		return ret;
	/* Sessions in progress hold a reference to the old context. */
	SSL_CTX_free(tls->ctx);
	tls->ctx = ctx;
	return 0;
}

void server_tls_close(struct server_tls **tls)
{
	if (!*tls)
		return;
	close((*tls)->fd);
	SSL_CTX_free((*tls)->ctx);
	free(*tls);
	*tls = NULL;
}

SSL *server_tls_session(struct server_tls *tls, int fd)
{
	SSL *ssl = SSL_new(tls->ctx);

	if (ssl && SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

static bool value_match(const struct conf_principal *p, const char *v, size_t len)
{
	size_t n = strlen(p->value);

	if (memchr(v, '\0', len))
		return false;	/* an embedded NUL: never a name */
	return p->prefix ? len >= n && memcmp(v, p->value, n) == 0 : len == n && memcmp(v, p->value, n) == 0;
}

static const char *const field_names[] = { [CERT_CN] = "cn", [CERT_DNS] = "dns", [CERT_URI] = "uri",
					   [CERT_EMAIL] = "email" };

static bool rule_match(const struct conf_principal *p, X509 *cert, char *principal, size_t size)
{
	const unsigned char *v = NULL;
	int len = 0;

	if (p->field == CERT_CN) {
		X509_NAME *name = X509_get_subject_name(cert);

		for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;) {
			ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));

			v = ASN1_STRING_get0_data(s);
			len = ASN1_STRING_length(s);
			if (value_match(p, (const char *)v, (size_t)len))
				goto found;
		}
		return false;
	} else {
		int type = p->field == CERT_DNS ? GEN_DNS : p->field == CERT_URI ? GEN_URI : GEN_EMAIL;
		GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
		bool hit = false;

		for (int i = 0; sans && !hit && i < sk_GENERAL_NAME_num(sans); i++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);

			if (g->type != type)
				continue;
			v = ASN1_STRING_get0_data(g->d.ia5);
			len = ASN1_STRING_length(g->d.ia5);
			hit = value_match(p, (const char *)v, (size_t)len);
			if (hit)
				snprintf(principal, size, "%s:%.*s", field_names[p->field], len, (const char *)v);
		}
		GENERAL_NAMES_free(sans);
		return hit;
	}
found:
	snprintf(principal, size, "%s:%.*s", field_names[p->field], len, (const char *)v);
	return true;
}

bool tls_principal_match(const struct loom_config *cfg, X509 *cert, char *principal, size_t size,
			 enum api_role *role, char tenant[LOOM_NAME_MAX])
{
	for (size_t i = 0; i < cfg->n_principals; i++)
		if (rule_match(&cfg->principals[i], cert, principal, size)) {
			*role = cfg->principals[i].role;
			snprintf(tenant, LOOM_NAME_MAX, "%s", cfg->principals[i].tenant);
			return true;
		}
	subject_text(cert, principal, size);
	*role = ROLE_NONE;
	return false;
}

int server_tls_handshake(SSL *ssl, const struct loom_config *cfg, const char *who, struct api_peer *peer,
			 uint32_t *events)
{
	int rc, e;
	X509 *cert;
	char buf[256];

	SSL_set_app_data(ssl, (void *)who);
	ERR_clear_error();
	rc = SSL_accept(ssl);
	if (rc != 1) {
		e = SSL_get_error(ssl, rc);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			*events = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
			return 0;
		}
		if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
			log_info("TLS client %s went away during the handshake", who);
			ERR_clear_error();
			return -1;
		}
		log_warn("TLS client %s refused: handshake failed: %s", who, ssl_error_text(buf, sizeof(buf)));
		ERR_clear_error();
		return -2;
	}
	cert = SSL_get1_peer_certificate(ssl);
	if (!cert) {
		log_warn("TLS client %s refused: no client certificate", who);
		return -2;
	}
	peer->tls = true;
	peer->uid = (uid_t)-1;
	peer->gid = (gid_t)-1;
	peer->pid = 0;
	if (tls_principal_match(cfg, cert, peer->principal, sizeof(peer->principal), &peer->role, peer->tenant))
		log_debug(LOG_SUB_API, "TLS client %s: principal %s (%s%s, %s)", who, peer->principal,
			  peer->role == ROLE_ADMIN ? "admin" : peer->role == ROLE_READER ? "reader" : "tenant:",
			  peer->tenant, SSL_get_version(ssl));
	else
		log_warn("TLS client %s: certificate '%s' matches no principal rule: its requests are refused",
			 who, peer->principal);
	X509_free(cert);
	return 1;
}

ssize_t server_tls_read(SSL *ssl, void *buf, size_t len)
{
	int n, e;

	ERR_clear_error();
	n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	ERR_clear_error();
	return -EIO;
}

ssize_t server_tls_write(SSL *ssl, const void *buf, size_t len)
{
	int n, e;

	ERR_clear_error();
	n = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return -EAGAIN;
	ERR_clear_error();
	return -EIO;
}
