/*
 * store/nodes.c: the node lifecycle's rows (one per node that has left
 * `available`) and the node events, one row per transition, fault,
 * confirmation or replacement step, which `loomctl node history` and
 * events.subscribe read back in order.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "store/store-private.h"

const struct store_sql store_sql_nodes[] = {
	{ ST_NODE_PUT,
		"INSERT INTO nodes (name, state, goal, pending, reason, since_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT (name) DO UPDATE SET state = excluded.state, goal = excluded.goal,"
		" pending = excluded.pending, reason = excluded.reason, since_ns = excluded.since_ns" },
	{ ST_NODE_GET, "SELECT name, state, goal, pending, reason, since_ns FROM nodes WHERE name = ?1" },
	{ ST_NODE_LIST, "SELECT name, state, goal, pending, reason, since_ns FROM nodes ORDER BY name" },
	{ ST_NODE_EVENT_PUT,
		"INSERT INTO node_events (time_ns, node, from_state, to_state, goal, event, reason, uid)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" },
	{ ST_NODE_EVENT_LIST,
		"SELECT seq, time_ns, node, from_state, to_state, goal, event, reason, uid"
		" FROM node_events WHERE node = ?1 ORDER BY seq" },
	{ ST_NODE_EVENT_AFTER,
		"SELECT seq, time_ns, node, from_state, to_state, goal, event, reason, uid"
		" FROM node_events WHERE seq > ?1 ORDER BY seq LIMIT ?2" },
	{ ST_NODE_EVENT_LAST, "SELECT coalesce(max(seq), 0) FROM node_events" },
	{ ST__COUNT, NULL },
};

int store_node_put(struct store *s, const struct node_life *n)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_PUT];

	bind_text(st, 1, n->name);
	bind_text(st, 2, node_state_name(n->state));
	bind_text(st, 3, n->pending ? node_state_name(n->goal) : "");
	sqlite3_bind_int(st, 4, n->pending);
	bind_text(st, 5, n->reason);
	sqlite3_bind_int64(st, 6, n->since_ns);
	return store_stmt_run(s, st, "node put", false);
}

static int row_node(sqlite3_stmt *st, struct node_life *n)
{
	const char *goal = col_str(st, 2);

	memset(n, 0, sizeof(*n));
	if (store_col_copy(st, 0, n->name, sizeof(n->name)) ||
	    node_state_parse(col_str(st, 1), &n->state))
		return -EBADMSG;
	n->goal = n->state;
	if (goal[0] && node_state_parse(goal, &n->goal))
		return -EBADMSG;
	n->pending = sqlite3_column_int(st, 3) != 0;
	snprintf(n->reason, sizeof(n->reason), "%s", col_str(st, 4));
	n->since_ns = sqlite3_column_int64(st, 5);
	return 0;
}

int store_node_get(struct store *s, const char *name, struct node_life *out)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_GET];
	int rc, ret = -ENOENT;

	bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		ret = row_node(st, out);
		if (ret)
			store_seterr(s, "node get: the row of '%s' is corrupt", name);
	} else if (rc != SQLITE_DONE) {
		ret = store_fail(s, rc, "node get", false);
	}
	stmt_done(st);
	return ret;
}

static int row_node_any(sqlite3_stmt *st, void *out) { return row_node(st, out); }

int store_node_list(struct store *s, struct node_life **out, size_t *n)
{
	return store_rows_collect(s, s->stmt[ST_NODE_LIST], sizeof(**out), row_node_any,
				  "node list", (void **)out, n);
}

int store_node_event_append(struct store *s, const struct node_event_rec *e)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_PUT];
	int ret;

	sqlite3_bind_int64(st, 1, e->time_ns);
	bind_text(st, 2, e->node);
	bind_text(st, 3, node_state_name(e->from));
	bind_text(st, 4, node_state_name(e->to));
	bind_text(st, 5, e->pending ? node_state_name(e->goal) : "");
	bind_text(st, 6, e->event);
	bind_text(st, 7, e->reason ? e->reason : "");
	sqlite3_bind_int64(st, 8, (int64_t)e->uid);
	ret = store_stmt_run(s, st, "node event", false);
	if (ret == 0)
		s->ev_hint = sqlite3_last_insert_rowid(s->db);
	return ret;
}

int64_t store_node_event_hint(const struct store *s)
{
	return s->ev_hint;
}

/* The node_events row @st stands on, as JSON. */
static json_t *node_event_json(sqlite3_stmt *st)
{
	char when[48];

	store_rfc3339_ns(sqlite3_column_int64(st, 1), when, sizeof(when));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}",
			 "seq", (json_int_t)sqlite3_column_int64(st, 0),
			 "time", when,
			 "node", col_str(st, 2),
			 "from", col_str(st, 3),
			 "to", col_str(st, 4),
			 "goal", col_str(st, 5),
			 "event", col_str(st, 6),
			 "reason", col_str(st, 7),
			 "uid", (json_int_t)sqlite3_column_int64(st, 8));
}

int store_node_events(struct store *s, const char *node, json_t **out)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_LIST];

	bind_text(st, 1, node);
	return store_json_rows_collect(s, st, node_event_json, "node events", out);
}

int store_node_events_after(struct store *s, int64_t after, unsigned int limit, json_t **out)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_AFTER];

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	return store_json_rows_collect(s, st, node_event_json, "node events", out);
}

int64_t store_node_event_last(struct store *s)
{
	sqlite3_stmt *st = s->stmt[ST_NODE_EVENT_LAST];
	int64_t seq = -1;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		seq = sqlite3_column_int64(st, 0);
	else
		store_fail(s, rc, "node events", false);
	stmt_done(st);
	return seq;
}
