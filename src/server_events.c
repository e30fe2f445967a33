/*
 * src/server_events.c: node events streamed to subscribers
 * (src/server_events.h).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "lib/log.h"
#include "src/api_scope.h"
#include "src/server_events.h"
#include "src/server_frame.h"

/* Events read per round: a long backlog goes out over several rounds. */
#define EVENTS_ROUND 256

bool events_pump(struct loomd *d)
{
	int64_t from = INT64_MAX;
	json_t *evs = NULL, *ev;
	size_t i, n;

	if (d->in_txn)
		return false;
	for (struct client *c = d->clients; c; c = c->next)
		if (c->subscribed && !c->dead && c->out_len - c->out_off < OUT_HIGH_WATER &&
		    c->ev_after < from)
			from = c->ev_after;
	/* Nothing appended since: no query on every wake-up of the loop. */
	if (from == INT64_MAX || from >= store_node_event_hint(d->store))
		return false;
	if (store_node_events_after(d->store, from, EVENTS_ROUND, &evs)) {
		log_warn("events: cannot read the node events: %s", store_errmsg(d->store));
		return false;
	}
	n = json_array_size(evs);
	json_array_foreach(evs, i, ev) {
		int64_t seq = json_integer_value(json_object_get(ev, "seq"));
		const char *node = json_string_value(json_object_get(ev, "node"));
		json_t *note = NULL;

		for (struct client *c = d->clients; c; c = c->next) {
			if (!c->subscribed || c->dead || c->ev_after >= seq ||
			    c->out_len - c->out_off >= OUT_HIGH_WATER)
				continue;
			c->ev_after = seq;
			if (c->ev_node[0] && strcmp(c->ev_node, node ? node : ""))
				continue;
			if (c->peer.role == ROLE_TENANT) {
				json_t *mine = c->ev_seen ? api_scope_event(d, c->peer.tenant, c->ev_seen, ev) : NULL;
				json_t *own = mine ? json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", "event",
							       "params", mine) : NULL;

				if (own)
					client_send(d, c, own);
				json_decref(own);
				continue;
			}
			if (!note)
				note = json_pack("{s:s, s:s, s:O}", "jsonrpc", "2.0", "method", "event",
						 "params", ev);
			client_send(d, c, note);
		}
		json_decref(note);
	}
	json_decref(evs);
	return n == EVENTS_ROUND;
}
