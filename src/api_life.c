/*
 * src/api_life.c: a node's lifecycle row inside a request (src/api_life.h):
 * read (a node without a row is `available`), stored with its node_events
 * row, shown, and whether a running replacement has reserved the node.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/monotime.h"
#include "src/api_life.h"

/* The node's lifecycle row; a node without one is `available`. */
int api_node_life(struct loomd *d, const char *name, struct node_life *out, struct loom_err *err)
{
	int ret = store_node_get(d->store, name, out);

	if (ret == -ENOENT) {
		memset(out, 0, sizeof(*out));
		snprintf(out->name, sizeof(out->name), "%s", name);
		out->state = NODE_AVAILABLE;
		out->goal = NODE_AVAILABLE;
		return 0;
	}
	if (ret)
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the lifecycle of node %s: %s", name,
				    store_errmsg(d->store));
	return 0;
}

bool api_node_attached(const struct model *m, const char *node)
{
	for (size_t i = 0; i < m->n_attachments; i++)
		if (strcmp(m->attachments[i].node, node) == 0)
			return true;
	return false;
}

void api_node_life_json(json_t *o, const struct node_life *nl)
{
	char when[48] = "";

	if (nl->since_ns) {
		time_t sec = (time_t)(nl->since_ns / 1000000000);
		struct tm tm;

		gmtime_r(&sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	json_object_set_new(o, "state", json_string(node_state_name(nl->state)));
	json_object_set_new(o, "pending", nl->pending ? json_string(node_state_name(nl->goal)) : json_null());
	json_object_set_new(o, "reason", json_string(nl->reason));
	json_object_set_new(o, "since", nl->since_ns ? json_string(when) : json_null());
}

/* The node_events row of a step from @before to @after, now, by the caller. */
static struct node_event_rec event_row(const struct api_call *call, const struct node_life *before,
				       const struct node_life *after, const char *event, const char *reason)
{
	struct node_event_rec ev = {
		.time_ns = realtime_ns(),
		.node = after->name,
		.from = before->state,
		.to = after->state,
		.goal = after->goal,
		.pending = after->pending,
		.event = event,
		.reason = reason,
		.uid = call->peer->uid,
	};

	return ev;
}

int api_node_life_store(struct api_call *call, const struct node_life *before, struct node_life *after,
			const char *event, struct loom_err *err)
{
	struct node_event_rec ev = event_row(call, before, after, event, after->reason);

	after->since_ns = ev.time_ns;
	if (store_node_put(call->d->store, after) || store_node_event_append(call->d->store, &ev))
		return store_failed(call, err);
	return 0;
}

int api_node_note(struct api_call *call, const struct node_life *life, const char *event,
		  const char *reason, struct loom_err *err)
{
	struct node_event_rec ev = event_row(call, life, life, event, reason);

	return store_node_event_append(call->d->store, &ev) ? store_failed(call, err) : 0;
}

const char *api_node_reserved(const struct loomd *d, const char *node)
{
	for (size_t i = 0; i < d->n_replacing; i++)
		if (strcmp(d->replacing[i].new_node, node) == 0)
			return d->replacing[i].old_node;
	return NULL;
}
