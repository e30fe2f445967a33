/*
 * src/server_tls.h: loomd's TLS listener (src/server_tls.c): the server's
 * context (key, certificate, the CA client certificates must chain to,
 * an optional CRL), reloaded on SIGHUP; the non-blocking handshake; the
 * principal and role a client certificate maps to by loomd.conf's rules.
 */
#ifndef LOOM_SRC_SERVER_TLS_H
#define LOOM_SRC_SERVER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "lib/err.h"
#include "src/call.h"
#include "src/conf.h"

struct server_tls;

/* Builds the context from @cfg's tls.* files and binds cfg->listen; 0 or LOOM_E_CONFIG. */
int server_tls_open(struct server_tls **tls, const struct loom_config *cfg, struct loom_err *err);
/* The listening socket (non-blocking). */
int server_tls_fd(const struct server_tls *tls);
/* Reads the key, certificate, CA and CRL again; the old context stays on failure. */
int server_tls_reload(struct server_tls *tls, const struct loom_config *cfg, struct loom_err *err);
void server_tls_close(struct server_tls **tls);

/* A new server-side session on @fd; NULL when out of memory. */
SSL *server_tls_session(struct server_tls *tls, int fd);

/*
 * One step of the handshake.  Returns 1 when done (@peer's principal and
 * role set from the certificate), 0 while it waits (*events: what to
 * poll for), -1 when the client went away, or -2 when it was refused
 * (an alert sent; logged, naming @who and why).
 */
int server_tls_handshake(SSL *ssl, const struct loom_config *cfg, const char *who, struct api_peer *peer,
			 uint32_t *events);

/* SSL_read / SSL_write: bytes, 0 at the end of input, -EAGAIN, or -EIO. */
ssize_t server_tls_read(SSL *ssl, void *buf, size_t len);
ssize_t server_tls_write(SSL *ssl, const void *buf, size_t len);

/*
 * The principal a certificate's subject CN or SAN (DNS, URI, email)
 * matches among @cfg's rules: "cn:NAME" and the like, the rule's role in
 * *role (and for tenant:NAME the tenant in @tenant).  Returns false (and the subject in @principal) when no rule matches.
 */
bool tls_principal_match(const struct loom_config *cfg, X509 *cert, char *principal, size_t size,
			 enum api_role *role, char tenant[LOOM_NAME_MAX]);

#endif
