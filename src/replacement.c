/*
 * src/replacement.c: a node replacement driven by loomd, step by step, and
 * resumed after a restart (node/replace.h plans it; this file carries it out).
 *
 * node.replace (or a fault whose policy says replace) checks OLD and NEW,
 * builds the plan and stores it as a record in the kv table, key
 * `replace.OLD` (and `replacing.NEW` = OLD, so NEW finds it), inside the
 * request's own transaction: nothing else changes there, so a refused
 * request leaves nothing behind.
 *
 * The driver then runs the steps outside any request, one transaction per
 * step: the step stored `running`, its effect on the model and the node's
 * lifecycle, the step stored `done` and an audit record (method
 * `replace.step`) commit together.  A crash therefore leaves the record
 * saying exactly which steps happened, and the next loomd goes on from the
 * first step not done.  The two barriers (every target verified OLD out;
 * every target verified NEW in) are stored `running` when they start and
 * `done` once the reconciler says so: OLD's removal is confirmed by the
 * existing machinery (loomd_lifecycle_confirm), NEW's attachments by the
 * generation that carried them.  With reconcile = no there is no target to
 * wait for and the barriers pass at once.  The transaction that ends a
 * replacement also moves OLD's MIG instances to NEW (gpu_move).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "lib/param.h"
#include "node/replace.h"
#include "src/api_attach.h"
#include "src/api_gpu.h"
#include "src/api_life.h"
#include "src/api_transition.h"
#include "src/converge.h"
#include "src/reconcile.h"
#include "src/replacement.h"

#define KEY_OLD "replace."
#define KEY_NEW "replacing."

/* ---- the record ------------------------------------------------------- */

static void iso_time(int64_t ns, char *buf, size_t size)
{
	time_t sec = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns / 1000000 % 1000));
}

static void stamp(json_t *o, const char *key, int64_t ns)
{
	char when[40], nskey[32];

	iso_time(ns, when, sizeof(when));
	snprintf(nskey, sizeof(nskey), "%s_ns", key);
	json_object_set_new(o, key, json_string(when));
	json_object_set_new(o, nskey, json_integer(ns));
}

static int64_t ns_of(json_t *o, const char *key)
{
	char nskey[32];

	snprintf(nskey, sizeof(nskey), "%s_ns", key);
	return json_integer_value(json_object_get(o, nskey));
}

static const char *sget(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : "";
}

static int rec_load(struct loomd *d, const char *old_node, json_t **rec)
{
	char key[LOOM_NAME_MAX + 16], *text = NULL;
	int ret;

	*rec = NULL;
	snprintf(key, sizeof(key), KEY_OLD "%s", old_node);
	ret = store_kv_get(d->store, key, &text);
	if (ret || !text)
		return ret ? ret : -ENOENT;
	*rec = json_loads(text, 0, NULL);
	free(text);
	return *rec ? 0 : -EBADMSG;
}

static int rec_save(struct loomd *d, json_t *rec)
{
	char key[LOOM_NAME_MAX + 16];
	char *text = json_dumps(rec, JSON_COMPACT);
	int ret;

	if (!text)
		return -ENOMEM;
	snprintf(key, sizeof(key), KEY_OLD "%s", sget(rec, "old"));
	ret = store_kv_put(d->store, key, text);
	free(text);
	return ret;
}

static enum replace_step_kind step_kind(json_t *step)
{
	static const enum replace_step_kind kinds[] = { RS_CORDON_OLD, RS_DETACH, RS_VERIFY_REMOVED,
		RS_ASSIGN_NEW, RS_ATTACH, RS_VERIFY_ATTACHED };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(sget(step, "kind"), replace_step_kind_name(kinds[i])) == 0)
			return kinds[i];
	return RS_VERIFY_ATTACHED;	/* unreachable for records this code wrote */
}

static bool step_is_barrier(enum replace_step_kind k)
{
	return k == RS_VERIFY_REMOVED || k == RS_VERIFY_ATTACHED;
}

/* The plan as a record: every step `pending`, nothing done. */
static json_t *rec_from_plan(const struct replace_plan *plan, enum node_state goal, const char *reason,
			     uid_t uid, int64_t now)
{
	json_t *rec, *steps = json_array();

	for (size_t i = 0; steps && i < plan->n_steps; i++) {
		const struct replace_step *s = &plan->steps[i];
		char text[256];
		json_t *o;

		replace_step_describe(s, plan->old_node, plan->new_node, text, sizeof(text));
		o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:n, s:n, s:n}", "step", (json_int_t)(i + 1),
			      "kind", replace_step_kind_name(s->kind), "node", s->att.node, "text", text,
			      "state", "pending", "started", "done", "ms");
		if (!o)
			break;
		if (s->kind == RS_DETACH || s->kind == RS_ATTACH)
			json_object_set_new(o, "attachment", attachment_to_json(&s->att));
		if (s->kind == RS_ASSIGN_NEW)
			json_object_set_new(o, "tenant", json_string(s->att.tenant));
		json_array_append_new(steps, o);
	}
	if (!steps || json_array_size(steps) != plan->n_steps) {
		json_decref(steps);
		return NULL;
	}
	rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:I, s:n, s:o}", "old", plan->old_node,
			"new", plan->new_node, "goal", node_state_name(goal), "reason", reason ? reason : "",
			"uid", (json_int_t)uid, "state", "running", "error", "", "done_steps", (json_int_t)0,
			"finished", "steps", steps);
	if (rec)
		stamp(rec, "started", now);
	return rec;
}

/* ---- the index of running replacements --------------------------------- */

static struct replace_run *run_find(const struct loomd *d, const char *old_node)
{
	for (size_t i = 0; i < d->n_replacing; i++)
		if (strcmp(d->replacing[i].old_node, old_node) == 0)
			return &d->replacing[i];
	return NULL;
}

static int run_add(struct loomd *d, const char *old_node, const char *new_node)
{
	struct replace_run *r;

	if (run_find(d, old_node))
		return 0;
	r = realloc(d->replacing, (d->n_replacing + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	d->replacing = r;
	r = &d->replacing[d->n_replacing++];
	memset(r, 0, sizeof(*r));
	snprintf(r->old_node, sizeof(r->old_node), "%s", old_node);
	snprintf(r->new_node, sizeof(r->new_node), "%s", new_node);
	return 0;
}

static void run_drop(struct loomd *d, const char *old_node)
{
	struct replace_run *r = run_find(d, old_node);

	if (!r)
		return;
	*r = d->replacing[--d->n_replacing];
}

int loomd_replace_load(struct loomd *d)
{
	json_t *all = NULL, *v;
	const char *key;
	int ret = store_kv_list(d->store, KEY_OLD, &all);

	if (ret)
		return ret;
	json_object_foreach(all, key, v) {
		json_t *rec = json_loads(json_string_value(v), 0, NULL);

		if (rec && strcmp(sget(rec, "state"), "running") == 0) {
			log_info("replacement of %s by %s: resuming after step %lld of %zu",
				 sget(rec, "old"), sget(rec, "new"),
				 (long long)json_integer_value(json_object_get(rec, "done_steps")),
				 json_array_size(json_object_get(rec, "steps")));
			ret = run_add(d, sget(rec, "old"), sget(rec, "new"));
		}
		json_decref(rec);
		if (ret)
			break;
	}
	json_decref(all);
	return ret;
}

void loomd_replace_release(struct loomd *d)
{
	free(d->replacing);
	d->replacing = NULL;
	d->n_replacing = 0;
}

/* ---- reading ---------------------------------------------------------- */

json_t *loomd_replace_json(struct loomd *d, const char *node)
{
	char key[LOOM_NAME_MAX + 16], *old = NULL;
	json_t *as_old = NULL, *as_new = NULL;

	rec_load(d, node, &as_old);
	snprintf(key, sizeof(key), KEY_NEW "%s", node);
	if (store_kv_get(d->store, key, &old) == 0 && old) {
		rec_load(d, old, &as_new);
		if (as_new && strcmp(sget(as_new, "new"), node) != 0) {
			json_decref(as_new);	/* OLD was replaced again since, by another node */
			as_new = NULL;
		}
	}
	free(old);
	if (as_old && as_new) {
		if (ns_of(as_new, "started") > ns_of(as_old, "started")) {
			json_decref(as_old);
			return as_new;
		}
		json_decref(as_new);
		return as_old;
	}
	return as_old ? as_old : as_new;
}

bool loomd_replace_finished(struct loomd *d, const char *old_node, bool *ok, json_t **record)
{
	json_t *rec = NULL;
	bool finished;

	*ok = false;
	if (record)
		*record = NULL;
	if (rec_load(d, old_node, &rec))
		return true;	/* no record: nothing to wait for (its request failed) */
	finished = strcmp(sget(rec, "state"), "running") != 0;
	*ok = strcmp(sget(rec, "state"), "done") == 0;
	if (record)
		*record = rec;
	else
		json_decref(rec);
	return finished;
}

/*
 * A `wait` on a replacement lasts until it ended, and its waiter gets the
 * record as it ended (or stands when the time ran out).
 */
static bool replace_wait_check(struct loomd *d, const char *old_node, uint64_t gen, bool expired,
			       json_t **result, bool *converged, struct loom_err *err)
{
	(void)err;
	json_t *rec = NULL;
	bool ok = false, done = loomd_replace_finished(d, old_node, &ok, &rec);

	(void)gen;
	if (!done && !expired) {
		json_decref(rec);
		return false;
	}
	if (rec && json_is_object(*result)) {
		if (json_object_get(*result, "replacement"))
			json_object_set(*result, "replacement", rec);
		else
			json_object_update(*result, rec);
	}
	json_decref(rec);
	*converged = done && ok;
	return true;
}

/* A replacement posts as it goes: what stands in its way is in the newest generation. */
static const struct api_wait replace_wait = { .newest_gen = true, .check = replace_wait_check };

/* ---- starting --------------------------------------------------------- */

int loomd_replace_start(struct api_call *call, const char *old_node, const char *new_node,
			enum node_state goal, const char *reason, json_t **record, struct loom_err *err)
{
	struct loomd *d = call->d;
	const struct topology *topo = d->topo;
	struct node_state_ref *states = NULL;
	struct replace_plan plan = { .steps = NULL };
	struct replace_run *running = run_find(d, old_node);
	struct node_life cur;
	char picked[LOOM_NAME_MAX], key[LOOM_NAME_MAX + 16];
	json_t *gpus = NULL;
	bool attached = false;
	int ret = -EINVAL;

	*record = NULL;
	if (running)
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "a replacement of %s (by %s) is running already; see loomctl replace show %s",
				    old_node, running->new_node, old_node);
	if (api_node_reserved(d, old_node))
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "node %s is being brought in to replace %s; wait until that replacement ends",
				    old_node, api_node_reserved(d, old_node));
	if (api_node_life(d, old_node, &cur, err))
		return -EINVAL;
	if (cur.state != NODE_ASSIGNED && cur.state != NODE_CORDONED)
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "node %s is '%s': only an assigned or cordoned node can be replaced "
				    "(its attachments move to the new node)", old_node, node_state_name(cur.state));
	for (size_t i = 0; i < d->model.n_attachments; i++)
		attached |= strcmp(d->model.attachments[i].node, old_node) == 0;
	if (!attached)
		return loom_err_set(err, LOOM_E_STATE, "name",
				    "node %s is in no tenant segment: nothing would move to a replacement; "
				    "use node fail or node retire", old_node);
	if (goal != NODE_FAILED && goal != NODE_RETIRED && goal != NODE_DRAINING)
		return loom_err_set(err, LOOM_E_PARAMS, "goal",
				    "'goal' must be failed, retired or draining (where %s ends)", old_node);

	/* Every node's state; a node another replacement brings in is not available. */
	states = calloc(topo->n_nodes ? topo->n_nodes : 1, sizeof(*states));
	if (!states)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	for (size_t i = 0; i < topo->n_nodes; i++) {
		struct node_life nl;

		if (api_node_life(d, topo->nodes[i].name, &nl, err))
			goto out;
		states[i].node = topo->nodes[i].name;
		states[i].state = api_node_reserved(d, topo->nodes[i].name) ? NODE_ASSIGNED : nl.state;
	}
	if (new_node) {
		if (api_node_reserved(d, new_node)) {
			loom_err_set(err, LOOM_E_STATE, "new", "node %s is reserved: it replaces %s already",
				     new_node, api_node_reserved(d, new_node));
			goto out;
		}
		if (replace_check(topo, old_node, new_node, states, topo->n_nodes, NULL, err))
			goto out;
	} else {
		if (replace_pick(topo, old_node, states, topo->n_nodes, picked, sizeof(picked), err))
			goto out;
		new_node = picked;
	}
	if (replace_plan_build(topo, old_node, cur.state, new_node, d->model.attachments,
			       d->model.n_attachments, &plan, err))
		goto out;
	*record = rec_from_plan(&plan, goal, reason, call->peer->uid, realtime_ns());
	if (!*record) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		goto out;
	}
	/* OLD's MIG instances, released when OLD fails: placed on NEW at the end. */
	gpus = gpu_node_groups(d, old_node);
	if (!gpus) {
		loom_err_set(err, LOOM_E_STORE, "", "cannot read the MIG instances: %s", store_errmsg(d->store));
		goto out;
	}
	if (json_array_size(gpus))
		json_object_set(*record, "gpu", gpus);
	snprintf(key, sizeof(key), KEY_NEW "%s", new_node);
	if (rec_save(d, *record) || store_kv_put(d->store, key, old_node)) {
		loom_err_set(err, LOOM_E_STORE, "", "cannot store the replacement: %s", store_errmsg(d->store));
		goto out;
	}
	if (run_add(d, old_node, new_node)) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		goto out;
	}
	call->wait = &replace_wait;
	snprintf(call->wait_subject, sizeof(call->wait_subject), "%s", old_node);
	log_info("replacement of %s by %s: %zu steps planned (%s)", old_node, new_node, plan.n_steps,
		 reason && reason[0] ? reason : "no reason given");
	ret = 0;
out:
	if (ret) {
		json_decref(*record);
		*record = NULL;
	}
	json_decref(gpus);
	replace_plan_release(&plan);
	free(states);
	return ret;
}

/* ---- driving ------------------------------------------------------------ */

/*
 * Test hook: LOOMD_CRASH_AFTER_REPLACE_STEP=N kills loomd (SIGKILL, as a
 * crash) right after the transaction that stored step N done, to show that
 * a restart resumes from there.
 */
static void crash_point(int step)
{
	const char *v = getenv("LOOMD_CRASH_AFTER_REPLACE_STEP");

	if (v && atoi(v) == step) {
		log_warn("LOOMD_CRASH_AFTER_REPLACE_STEP=%d: killing loomd now", step);
		raise(SIGKILL);
	}
}

static enum node_event goal_event(const char *goal)
{
	if (strcmp(goal, "retired") == 0)
		return NODE_EV_RETIRE;
	if (strcmp(goal, "draining") == 0)
		return NODE_EV_DRAIN;
	return NODE_EV_FAIL;
}

static bool model_has(const struct model *m, const struct attachment *a)
{
	for (size_t i = 0; i < m->n_attachments; i++) {
		const struct attachment *o = &m->attachments[i];

		if (strcmp(o->tenant, a->tenant) == 0 && strcmp(o->segment, a->segment) == 0
		    && strcmp(o->node, a->node) == 0 && strcmp(o->port, a->port) == 0)
			return true;
	}
	return false;
}

/* What a step does (a barrier: what starts it).  Inside the step's transaction. */
static int step_act(struct api_call *call, json_t *rec, json_t *step, struct loom_err *err)
{
	struct loomd *d = call->d;
	const char *old_node = sget(rec, "old"), *new_node = sget(rec, "new");
	char reason[320];
	struct attachment att;
	struct node_life cur, next;
	json_t *steps;
	int ret = 0;

	snprintf(reason, sizeof(reason), "replaced by %s%s%s", new_node, *sget(rec, "reason") ? ": " : "",
		 sget(rec, "reason"));
	switch (step_kind(step)) {
	case RS_CORDON_OLD:
		if (api_node_life(d, old_node, &cur, err))
			return -EINVAL;
		if (cur.state == NODE_CORDONED)
			return 0;	/* cordoned since the plan was made */
		steps = json_array();
		ret = api_node_event(call, old_node, NODE_EV_CORDON, reason, steps, NULL, err);
		json_decref(steps);
		return ret;
	case RS_DETACH:
	case RS_ATTACH:
		if (attachment_from_json(json_object_get(step, "attachment"), &att, err))
			return -EINVAL;
		if (step_kind(step) == RS_ATTACH)
			return api_attach(call, &att, err);
		/* Detached by hand since the plan was made: nothing left to do. */
		return model_has(&d->model, &att) ? api_detach(call, &att, err) : 0;
	case RS_VERIFY_REMOVED:
		/* OLD holds nothing now; its goal event makes the removal pending
		 * until every target verified it (loomd_lifecycle_confirm). */
		steps = json_array();
		ret = api_node_event(call, old_node, goal_event(sget(rec, "goal")), reason, steps, NULL, err);
		json_decref(steps);
		return ret;
	case RS_ASSIGN_NEW:
		if (api_node_life(d, new_node, &cur, err))
			return -EINVAL;
		if (cur.state != NODE_AVAILABLE)
			return loom_err_set(err, LOOM_E_STATE, "new",
					    "node %s is '%s' now, no longer available: the replacement of %s "
					    "stops before %s joins", new_node, node_state_name(cur.state),
					    old_node, new_node);
		next = cur;
		next.state = NODE_ASSIGNED;
		snprintf(next.reason, sizeof(next.reason), "replaces %s in %s", old_node, sget(step, "tenant"));
		return api_node_life_store(call, &cur, &next, node_event_name(NODE_EV_ASSIGN), err);
	case RS_VERIFY_ATTACHED:
		return 0;	/* the attachments were posted; the reconciler verifies them */
	}
	return 0;
}

/* Is the barrier a running step waits on passed? */
static bool barrier_met(struct loomd *d, const struct replace_run *run, json_t *rec, json_t *step)
{
	struct loom_err err = { 0 };
	struct node_targets ts = { 0 };
	struct node_life nl;
	bool ok = false, met;

	if (step_kind(step) == RS_VERIFY_REMOVED)
		return api_node_life(d, sget(rec, "old"), &nl, &err) == 0 && !nl.pending;
	if (!d->rec)
		return true;
	if (!run->wait_gen)
		return false;
	/* Only the targets that hold OLD's and NEW's ports: a target in error
	 * elsewhere does not stall the replacement. */
	if (loomd_node_targets(d, sget(rec, "old"), &ts) || loomd_node_targets(d, sget(rec, "new"), &ts)) {
		node_targets_free(&ts);
		return false;
	}
	if (ts.n == 0)
		met = true;	/* no target holds a port of theirs */
	else if (run->wait_gen == d->posted_gen)
		met = reconciler_done_on(d->rec, run->wait_gen, ts.names, ts.n, &ok) && ok;
	else
		met = reconciler_converged_on(d->rec, ts.names, ts.n);
	node_targets_free(&ts);
	return met;
}

static void audit_step(struct loomd *d, json_t *rec, json_t *step, struct loom_err *err)
{
	json_t *params = json_pack("{s:s, s:s, s:O, s:O, s:O}", "old", sget(rec, "old"), "new", sget(rec, "new"),
				   "step", json_object_get(step, "step"), "kind", json_object_get(step, "kind"),
				   "state", json_object_get(step, "state"));
	char *p = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
	char *r = json_dumps(step, JSON_COMPACT | JSON_SORT_KEYS);
	struct audit_entry e = {
		.time_ns = realtime_ns(),
		.uid = (uid_t)json_integer_value(json_object_get(rec, "uid")),
		.gid = getgid(),
		.pid = getpid(),
		.principal = "loomd",
		.method = "replace.step",
		.params = p,
		.result = r,
	};

	if (!p || !r || store_audit_append(d->store, &e))
		loom_err_set(err, LOOM_E_STORE, "", "cannot write the audit record: %s", store_errmsg(d->store));
	json_decref(params);
	free(p);
	free(r);
}

static void step_mark(json_t *step, const char *state, int64_t now)
{
	json_object_set_new(step, "state", json_string(state));
	if (strcmp(state, "running") == 0) {
		stamp(step, "started", now);
		return;
	}
	if (!json_object_get(step, "started_ns"))
		stamp(step, "started", now);
	stamp(step, "done", now);
	json_object_set_new(step, "ms", json_real((double)(now - ns_of(step, "started")) / 1e6));
}

/* Stores the whole replacement as failed, with why; its own transaction. */
static void rec_fail(struct loomd *d, json_t *rec, json_t *step, const struct loom_err *why)
{
	int64_t now = realtime_ns();
	struct loom_err err = { 0 };

	log_err("replacement of %s by %s failed at step %lld (%s): %s", sget(rec, "old"), sget(rec, "new"),
		(long long)json_integer_value(json_object_get(step, "step")), sget(step, "kind"), why->msg);
	json_object_set_new(rec, "state", json_string("failed"));
	json_object_set_new(rec, "error", json_string(why->msg));
	json_object_set_new(step, "state", json_string("failed"));
	json_object_set_new(step, "error", json_string(why->msg));
	stamp(rec, "finished", now);
	if (store_begin(d->store))
		return;
	audit_step(d, rec, step, &err);
	if (err.code != LOOM_OK || rec_save(d, rec) || store_commit(d->store))
		store_rollback(d->store);
}

/*
 * The last act of a replacement, in its closing transaction: OLD's MIG
 * instances (recorded at the start; released when OLD failed or retired,
 * else here) placed on NEW through the gpu.apply path, audited as step
 * `gpu-move`.  NEW passed the compatibility check (same GPU model and
 * count) and was available, so they fit unless someone took its GPUs
 * meanwhile; then the record says why (`gpu_error`) and the rest of the
 * replacement stands: the tenant asks gpu.apply again.  Returns -1 only
 * when the store failed.
 */
static int gpu_move(struct loomd *d, struct api_call *call, json_t *rec)
{
	json_t *groups = json_object_get(rec, "gpu"), *step;
	struct loom_err err = { 0 }, aerr = { 0 };
	char tenants[256];
	int n;

	if (!json_array_size(groups))
		return 0;
	if (store_savepoint(d->store))
		return -1;
	/* With the goal `draining` OLD kept them: a move, not a copy. */
	n = gpu_release_node(call, sget(rec, "old"), tenants, sizeof(tenants), &err);
	if (n >= 0)
		n = gpu_place_groups(call, sget(rec, "new"), groups, &err);
	if (n < 0) {
		if (store_savepoint_rollback(d->store))
			return -1;
		if (call->model_touched)
			loomd_model_reload(d);
		call->model_touched = false;
		json_object_set_new(rec, "gpu_error", json_string(err.msg));
		log_warn("replacement of %s by %s: MIG instances not placed on %s: %s", sget(rec, "old"),
			 sget(rec, "new"), sget(rec, "new"), err.msg);
	} else {
		if (store_savepoint_release(d->store))
			return -1;
		json_object_set_new(rec, "gpu_moved", json_integer(n));
		log_info("replacement of %s by %s: %d MIG instance%s placed on %s", sget(rec, "old"), sget(rec, "new"),
			 n, n == 1 ? "" : "s", sget(rec, "new"));
	}
	step = json_pack("{s:I, s:s, s:s, s:i, s:s}", "step",
			 (json_int_t)json_array_size(json_object_get(rec, "steps")) + 1, "kind", "gpu-move", "state",
			 n < 0 ? "failed" : "done", "instances", n < 0 ? 0 : n, "error", n < 0 ? err.msg : "");
	audit_step(d, rec, step, &aerr);
	json_decref(step);
	return aerr.code == LOOM_OK ? 0 : -1;
}

/*
 * One step of one replacement.  Returns 1 when it moved on (call again),
 * 0 when it waits on a barrier or ended.
 */
static int drive_step(struct loomd *d, struct replace_run *run)
{
	struct api_peer peer = { .gid = getgid(), .pid = getpid(), .role = ROLE_ADMIN };
	struct api_call call = { .d = d, .peer = &peer, .replacing = true };
	struct loom_err err = { 0 };
	json_t *rec = NULL, *steps, *step;
	size_t done, n;
	int64_t now = realtime_ns();
	bool barrier, finish;
	int moved = 0;

	if (rec_load(d, run->old_node, &rec) || strcmp(sget(rec, "state"), "running") != 0) {
		run_drop(d, run->old_node);	/* ended, or its request was rolled back */
		goto out;
	}
	peer.uid = (uid_t)json_integer_value(json_object_get(rec, "uid"));
	snprintf(peer.principal, sizeof(peer.principal), "uid:%u", (unsigned)peer.uid);
	steps = json_object_get(rec, "steps");
	n = json_array_size(steps);
	done = (size_t)json_integer_value(json_object_get(rec, "done_steps"));
	finish = done >= n;
	step = finish ? NULL : json_array_get(steps, done);
	barrier = step && step_is_barrier(step_kind(step));
	if (barrier && strcmp(sget(step, "state"), "running") == 0) {
		if (!barrier_met(d, run, rec, step))
			goto out;	/* the reconciler's report brings us back */
		if (store_begin(d->store))
			goto out;
		step_mark(step, "done", now);
		json_object_set_new(rec, "done_steps", json_integer((json_int_t)done + 1));
		audit_step(d, rec, step, &err);
		if (err.code != LOOM_OK || rec_save(d, rec) || store_commit(d->store)) {
			store_rollback(d->store);
			goto out;
		}
		log_info("replacement of %s by %s: step %zu (%s) done in %.0f ms", run->old_node, run->new_node,
			 done + 1, sget(step, "kind"), json_real_value(json_object_get(step, "ms")));
		crash_point((int)done + 1);
		moved = 1;
		goto out;
	}
	if (store_begin(d->store))
		goto out;
	if (finish) {
		json_object_set_new(rec, "state", json_string("done"));
		stamp(rec, "finished", now);
		if (gpu_move(d, &call, rec) || rec_save(d, rec) || store_commit(d->store)) {
			store_rollback(d->store);
			if (call.model_touched)
				loomd_model_reload(d);
			goto out;
		}
		d->model_changed |= call.model_touched;
		log_info("replacement of %s by %s: done in %.0f ms", run->old_node, run->new_node,
			 (double)(now - ns_of(rec, "started")) / 1e6);
		run_drop(d, run->old_node);
		goto out;
	}
	/* Stored `running` before it acts, in the same transaction as what it does. */
	step_mark(step, "running", now);
	if (rec_save(d, rec) || step_act(&call, rec, step, &err)) {
		if (err.code == LOOM_OK)
			loom_err_set(&err, LOOM_E_STORE, "", "%s", store_errmsg(d->store));
		store_rollback(d->store);
		if (call.model_touched)
			loomd_model_reload(d);
		rec_fail(d, rec, step, &err);
		run_drop(d, run->old_node);
		goto out;
	}
	if (!barrier) {
		step_mark(step, "done", realtime_ns());
		json_object_set_new(rec, "done_steps", json_integer((json_int_t)done + 1));
	}
	audit_step(d, rec, step, &err);
	if (err.code != LOOM_OK || rec_save(d, rec) || store_commit(d->store)) {
		store_rollback(d->store);
		if (call.model_touched)
			loomd_model_reload(d);
		goto out;
	}
	d->model_changed |= call.model_touched;
	if (step_kind(step) == RS_VERIFY_ATTACHED)
		run->wait_gen = 0;	/* set by the post that carries the attachments */
	log_debug(LOG_SUB_LIFECYCLE, "replacement of %s by %s: step %zu (%s) %s", run->old_node, run->new_node,
		  done + 1, sget(step, "kind"), barrier ? "started" : "done");
	if (!barrier)
		crash_point((int)done + 1);
	moved = 1;
out:
	json_decref(rec);
	return moved;
}

void loomd_replace_drive(struct loomd *d)
{
	if (d->in_txn || !d->n_replacing)
		return;
	/* Each pass moves at least one step, or posts, or ends: a plan has few steps. */
	for (int pass = 0; pass < 10000; pass++) {
		bool moved = false;

		/* Downwards: a run that ends is replaced by the last one, seen already. */
		for (size_t i = d->n_replacing; i-- > 0;)
			moved |= drive_step(d, &d->replacing[i]) > 0;
		if (moved)
			continue;
		if (!d->model_changed)
			break;
		/* Every run waits: post what the steps changed, then look again
		 * (with reconcile = no the barriers pass at once). */
		loomd_post(d);
		for (size_t k = 0; k < d->n_replacing; k++)
			if (!d->replacing[k].wait_gen)
				d->replacing[k].wait_gen = d->posted_gen;
	}
	/* Resumed at start: the first post carries whatever the steps did. */
	for (size_t k = 0; k < d->n_replacing; k++)
		if (!d->replacing[k].wait_gen)
			d->replacing[k].wait_gen = d->posted_gen;
}

/* ---- the API ------------------------------------------------------------ */

/* Only @allowed keys, each a non-empty string without NUL. */
static int params_check(json_t *params, const char *const *allowed, struct loom_err *err)
{
	const char *key, *s;
	json_t *v;

	if (params_only(params, allowed, err))
		return -EINVAL;
	json_object_foreach(params, key, v)
		if (param_string(params, key, false, &s, err))
			return -EINVAL;
	return 0;
}

/* node.replace {name: OLD, new?: NEW, goal?: failed|retired|draining, reason?} */
int api_node_replace(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", "new", "goal", "reason", NULL };
	const char *name = json_string_value(json_object_get(params, "name"));
	const char *new_node = json_string_value(json_object_get(params, "new"));
	const char *goal_s = json_string_value(json_object_get(params, "goal"));
	enum node_state goal = NODE_FAILED;

	if (params_check(params, allowed, err))
		return -EINVAL;
	if (param_string(params, "name", true, &name, err))
		return -EINVAL;
	if (!topology_node(call->d->topo, name) && topology_foreign(call->d->topo, TOPO_NODE, name, "name", err))
		return -EPERM;
	if (!topology_node(call->d->topo, name))
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "no node '%s' in the topology", name);
	if (goal_s && (node_state_parse(goal_s, &goal)
		       || (goal != NODE_FAILED && goal != NODE_RETIRED && goal != NODE_DRAINING)))
		return loom_err_set(err, LOOM_E_PARAMS, "goal",
				    "'goal' must be failed, retired or draining (got '%s')", goal_s);
	return loomd_replace_start(call, name, new_node, goal,
				   json_string_value(json_object_get(params, "reason")), result, err);
}

int api_replace_show(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { "name", NULL };
	const char *name = json_string_value(json_object_get(params, "name"));

	if (params_check(params, allowed, err))
		return -EINVAL;
	if (param_string(params, "name", true, &name, err))
		return -EINVAL;
	*result = loomd_replace_json(call->d, name);
	if (!*result)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "name", "node %s took part in no replacement", name);
	return 0;
}

int api_replace_list(struct api_call *call, json_t *params, json_t **result, struct loom_err *err)
{
	static const char *const allowed[] = { NULL };
	json_t *all = NULL, *v;
	const char *key;

	if (params_check(params, allowed, err))
		return -EINVAL;
	if (store_kv_list(call->d->store, KEY_OLD, &all))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot read the replacements: %s",
				    store_errmsg(call->d->store));
	*result = json_array();
	json_object_foreach(all, key, v) {
		json_t *rec = json_loads(json_string_value(v), 0, NULL);

		if (rec)
			json_array_append_new(*result, rec);
	}
	json_decref(all);
	return 0;
}
