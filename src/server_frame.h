/*
 * src/server_frame.h: the clients of loomd's API socket (src/server_frame.c):
 * accepted with their SO_PEERCRED role, read into newline-framed requests
 * of at most max_request_bytes, and written to without ever blocking.
 */
#ifndef LOOM_SRC_SERVER_FRAME_H
#define LOOM_SRC_SERVER_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "src/call.h"
#include "src/daemon.h"

/* Stop reading a client while this much of its output is unsent. */
#define OUT_HIGH_WATER (1u << 20)

struct client {
	struct client *prev, *next;
	int fd;
	struct api_peer peer;
	/* Over TLS: the session, whether its handshake is still going on
	 * (no request is read before it ends) and until when it may. */
	SSL *ssl;
	bool handshaking;
	bool refused;		/* the handshake failed: the alert is out, input is drained */
	int64_t handshake_deadline_ms;
	char addr[64];		/* the remote address, for the log */
	bool counted;		/* its connection counts for its principal's limit */
	bool over_limit;	/* beyond limit.connections: every request is refused */
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off, out_cap;
	uint32_t events;	/* what epoll watches for it */
	bool closing;		/* close once the output is flushed */
	bool dead;		/* closed; freed at the end of the iteration */
	bool has_lines;		/* complete lines left in the input buffer */
	bool too_large;		/* a line over the limit: nothing more is read */
	unsigned int waiting;	/* replies held back until the targets converge */
	/* events.subscribe: node events after ev_after (of ev_node, or all)
	 * are sent as notifications. */
	bool subscribed;
	int64_t ev_after;
	char ev_node[LOOM_NAME_MAX];
	/* A tenant:NAME subscriber: the nodes whose events it may see (api_scope_event). */
	json_t *ev_seen;
};

/* epoll_ctl on loomd's loop with @ptr as the event's data; 0 or -errno. */
int server_epoll_mod(struct loomd *d, int op, int fd, uint32_t events, void *ptr);

/* Accepts every pending connection on the listening socket. */
void client_accept(struct loomd *d);
/* Accepts every pending connection on the TLS listener; each starts its handshake. */
void client_accept_tls(struct loomd *d);
/* Goes on with @c's handshake (it is readable or writable). */
void client_handshake(struct loomd *d, struct client *c);
/* Closes the clients whose handshake ran past tls.handshake_timeout; how
 * long until the next one may (-1: none is going on). */
int client_handshakes_expire(struct loomd *d);
/* Closes the socket; the client is freed by client_free at the end of the iteration. */
void client_close(struct loomd *d, struct client *c);
/* Watches for input unless the client finished sending, for output while some is unsent. */
void client_watch(struct loomd *d, struct client *c);
void client_flush(struct loomd *d, struct client *c);
/* Queues @reply as one line and writes what the socket takes. */
void client_send(struct loomd *d, struct client *c, json_t *reply);
/* Reads what the socket has; returns false when the client went away. */
bool client_read(struct loomd *d, struct client *c);
/* Unlinks a dead client from d->clients and frees it. */
void client_free(struct loomd *d, struct client *c);

#endif
