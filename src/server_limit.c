/*
 * src/server_limit.c: connections and requests per second per principal
 * (src/server_limit.h).
 *
 * Requests are metered by a token bucket per principal that holds one
 * second's worth (limit.requests_per_second) and refills continuously: a
 * burst up to the limit passes, a flood is refused request by request at
 * the cost of one comparison, and every other principal's bucket is its
 * own.  The table of principals lives as long as loomd; a principal with
 * no connection left and a full bucket is dropped when the next one is
 * added, so strangers cannot grow it without bound.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "src/server_frame.h"
#include "src/server_limit.h"

struct principal_use {
	struct principal_use *next;
	char name[sizeof(((struct api_peer *)0)->principal)];
	unsigned int connections;
	double tokens;
	int64_t refilled_ms;
	int64_t warned_ms;	/* the last log line about its refusals */
};

static struct principal_use *uses;

static void refill(const struct loomd *d, struct principal_use *u, int64_t now)
{
	double cap = d->cfg.limit_rps;

	u->tokens += (double)(now - u->refilled_ms) * cap / 1000.0;
	if (u->tokens > cap)
		u->tokens = cap;
	u->refilled_ms = now;
}

static struct principal_use *use_find(struct loomd *d, const char *name, bool add)
{
	int64_t now = mono_ms();
	struct principal_use *u;

	for (u = uses; u; u = u->next)
		if (strcmp(u->name, name) == 0)
			return u;
	if (!add)
		return NULL;
	/* Drop those idle and at rest before adding one. */
	for (struct principal_use **pu = &uses; *pu;) {
		u = *pu;
		refill(d, u, now);
		if (u->connections == 0 && u->tokens >= d->cfg.limit_rps) {
			*pu = u->next;
			free(u);
		} else {
			pu = &u->next;
		}
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->tokens = d->cfg.limit_rps;
	u->refilled_ms = now;
	u->next = uses;
	uses = u;
	return u;
}

void limit_connect(struct loomd *d, struct client *c)
{
	struct principal_use *u;

	if (!d->cfg.limit_connections && !d->cfg.limit_rps)
		return;
	u = use_find(d, c->peer.principal, true);
	if (!u)
		return;
	c->counted = true;
	u->connections++;
	if (d->cfg.limit_connections && u->connections > d->cfg.limit_connections) {
		c->over_limit = true;
		log_warn("%s: %s has %u connections, over limit.connections = %u: its requests are refused",
			 c->ssl ? c->addr : "socket", c->peer.principal, u->connections, d->cfg.limit_connections);
	}
}

void limit_disconnect(struct loomd *d, struct client *c)
{
	struct principal_use *u;

	if (!c->counted)
		return;
	c->counted = false;
	u = use_find(d, c->peer.principal, false);
	if (u && u->connections > 0)
		u->connections--;
}

int limit_request(struct loomd *d, struct client *c, struct loom_err *err)
{
	struct principal_use *u;

	if (c->over_limit)
		return loom_err_set(err, LOOM_E_LIMIT, "", "%s has more than %u connections open "
				    "(limit.connections); close some and connect again",
				    c->peer.principal, d->cfg.limit_connections);
	if (!d->cfg.limit_rps)
		return 0;
	u = use_find(d, c->peer.principal, true);
	if (!u)
		return 0;
	refill(d, u, mono_ms());
	if (u->tokens < 1.0) {
		int64_t now = mono_ms();

		/* One line per principal every 10 s, not one per refused request. */
		if (!u->warned_ms || now - u->warned_ms >= 10000) {
			log_warn("%s is over limit.requests_per_second = %u: refusing its requests",
				 c->peer.principal, d->cfg.limit_rps);
			u->warned_ms = now;
		}
		return loom_err_set(err, LOOM_E_LIMIT, "", "%s is over %u requests per second "
				    "(limit.requests_per_second); retry later", c->peer.principal,
				    d->cfg.limit_rps);
	}
	u->tokens -= 1.0;
	return 0;
}

void limit_free(struct loomd *d)
{
	while (uses) {
		struct principal_use *u = uses;

		uses = u->next;
		free(u);
	}
}
