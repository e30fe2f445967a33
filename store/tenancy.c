/*
 * store/tenancy.c: the tenant model's rows (tenants, segments,
 * attachments, ID holds): writes one row at a time, and store_load_model
 * reads all four tables back into a model in one read transaction.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "store/store-private.h"

const struct store_sql store_sql_tenancy[] = {
	{ ST_TENANT_PUT,
		"INSERT INTO tenants (name, isolation, sites, labels, l3vni) VALUES (?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT (name) DO UPDATE SET isolation = excluded.isolation,"
		" sites = excluded.sites, labels = excluded.labels, l3vni = excluded.l3vni" },
	{ ST_TENANT_DEL, "DELETE FROM tenants WHERE name = ?1" },
	{ ST_SEGMENT_PUT,
		"INSERT INTO segments (tenant, name, type, vni, mtu, subnet4, subnet6, rd, rt,"
		" pkey, ipoib, ib_mtu, rate_gbps, sl, default_membership, gateway4, gateway6)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
		" ON CONFLICT (tenant, name) DO UPDATE SET type = excluded.type,"
		" vni = excluded.vni, mtu = excluded.mtu, subnet4 = excluded.subnet4,"
		" subnet6 = excluded.subnet6, rd = excluded.rd, rt = excluded.rt,"
		" pkey = excluded.pkey, ipoib = excluded.ipoib, ib_mtu = excluded.ib_mtu,"
		" rate_gbps = excluded.rate_gbps, sl = excluded.sl,"
		" default_membership = excluded.default_membership,"
		" gateway4 = excluded.gateway4, gateway6 = excluded.gateway6" },
	{ ST_SEGMENT_DEL, "DELETE FROM segments WHERE tenant = ?1 AND name = ?2" },
	{ ST_ATTACH_PUT,
		"INSERT INTO attachments (tenant, segment, node, port, membership, vlan)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT (tenant, segment, node, port) DO UPDATE SET membership = excluded.membership,"
		" vlan = excluded.vlan" },
	{ ST_ATTACH_DEL,
		"DELETE FROM attachments WHERE tenant = ?1 AND segment = ?2 AND node = ?3 AND port = ?4" },
	{ ST_HOLD_PUT,
		"INSERT INTO holds (type, id, tenant) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (type, id) DO UPDATE SET tenant = excluded.tenant" },
	{ ST_HOLD_DEL, "DELETE FROM holds WHERE type = ?1 AND id = ?2" },
	{ ST__COUNT, NULL },
};

int store_tenant_put(struct store *s, const struct tenant *t)
{
	sqlite3_stmt *st = s->stmt[ST_TENANT_PUT];
	json_t *sites = json_array();
	char *sites_txt = NULL, *labels_txt = NULL;
	int ret = -ENOMEM;

	if (!sites)
		goto out;
	for (size_t i = 0; i < t->n_sites && i < LOOM_MAX_SITES; i++)
		if (json_array_append_new(sites, json_string(t->sites[i])) < 0)
			goto out;
	sites_txt = json_canonical(sites);
	labels_txt = t->labels ? json_canonical(t->labels) : strdup("{}");
	if (!sites_txt || !labels_txt)
		goto out;
	bind_text(st, 1, t->name);
	bind_text(st, 2, isolation_name(t->isolation));
	bind_text(st, 3, sites_txt);
	bind_text(st, 4, labels_txt);
	sqlite3_bind_int64(st, 5, t->l3vni);
	ret = store_stmt_run(s, st, "tenant put", false);
out:
	if (ret == -ENOMEM)
		store_seterr(s, "tenant put: out of memory");
	json_decref(sites);
	free(sites_txt);
	free(labels_txt);
	return ret;
}

int store_tenant_delete(struct store *s, const char *name)
{
	sqlite3_stmt *st = s->stmt[ST_TENANT_DEL];

	bind_text(st, 1, name);
	return store_run_delete(s, st, "tenant delete");
}

int store_segment_put(struct store *s, const struct segment *seg)
{
	sqlite3_stmt *st = s->stmt[ST_SEGMENT_PUT];

	bind_text(st, 1, seg->tenant);
	bind_text(st, 2, seg->name);
	bind_text(st, 3, seg_type_name(seg->type));
	sqlite3_bind_int64(st, 4, seg->vni);
	sqlite3_bind_int64(st, 5, seg->mtu);
	bind_text(st, 6, seg->subnet4);
	bind_text(st, 7, seg->subnet6);
	bind_text(st, 8, seg->rd);
	bind_text(st, 9, seg->rt);
	sqlite3_bind_int64(st, 10, seg->pkey);
	sqlite3_bind_int(st, 11, seg->ipoib);
	sqlite3_bind_int64(st, 12, seg->ib_mtu);
	sqlite3_bind_int64(st, 13, seg->rate_gbps);
	sqlite3_bind_int64(st, 14, seg->sl);
	bind_text(st, 15, membership_name(seg->default_membership));
	bind_text(st, 16, seg->gateway4);
	bind_text(st, 17, seg->gateway6);
	return store_stmt_run(s, st, "segment put", false);
}

int store_segment_delete(struct store *s, const char *tenant, const char *name)
{
	sqlite3_stmt *st = s->stmt[ST_SEGMENT_DEL];

	bind_text(st, 1, tenant);
	bind_text(st, 2, name);
	return store_run_delete(s, st, "segment delete");
}

int store_attachment_put(struct store *s, const struct attachment *a)
{
	sqlite3_stmt *st = s->stmt[ST_ATTACH_PUT];

	bind_text(st, 1, a->tenant);
	bind_text(st, 2, a->segment);
	bind_text(st, 3, a->node);
	bind_text(st, 4, a->port);
	bind_text(st, 5, membership_name(a->membership));
	sqlite3_bind_int(st, 6, a->vlan <= LOOM_VLAN_MAX ? a->vlan : 0);
	return store_stmt_run(s, st, "attachment put", false);
}

int store_attachment_delete(struct store *s, const struct attachment *a)
{
	sqlite3_stmt *st = s->stmt[ST_ATTACH_DEL];

	bind_text(st, 1, a->tenant);
	bind_text(st, 2, a->segment);
	bind_text(st, 3, a->node);
	bind_text(st, 4, a->port);
	return store_run_delete(s, st, "attachment delete");
}

int store_hold_put(struct store *s, const struct id_hold *h)
{
	sqlite3_stmt *st = s->stmt[ST_HOLD_PUT];

	bind_text(st, 1, seg_type_name(h->type));
	sqlite3_bind_int64(st, 2, h->id);
	bind_text(st, 3, h->tenant);
	return store_stmt_run(s, st, "hold put", false);
}

int store_hold_delete(struct store *s, enum seg_type type, uint32_t id)
{
	sqlite3_stmt *st = s->stmt[ST_HOLD_DEL];

	bind_text(st, 1, seg_type_name(type));
	sqlite3_bind_int64(st, 2, id);
	return store_run_delete(s, st, "hold delete");
}

/* ---- loading ---- */

static int row_tenant(sqlite3_stmt *st, struct tenant *t)
{
	const char *iso = (const char *)sqlite3_column_text(st, 1);
	json_t *sites = NULL;
	size_t i;
	json_t *v;
	int ret = -EBADMSG;

	memset(t, 0, sizeof(*t));
	if (store_col_copy(st, 0, t->name, sizeof(t->name)) < 0 || !iso ||
	    isolation_parse(iso, &t->isolation) < 0)
		goto out;
	sites = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	if (!json_is_array(sites) || json_array_size(sites) > LOOM_MAX_SITES)
		goto out;
	json_array_foreach(sites, i, v) {
		if (!json_is_string(v) || json_string_length(v) >= sizeof(t->sites[0]))
			goto out;
		memcpy(t->sites[i], json_string_value(v), json_string_length(v) + 1);
	}
	t->n_sites = json_array_size(sites);
	t->labels = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
	if (!json_is_object(t->labels))
		goto out;
	if (sqlite3_column_int64(st, 4) < 0 || sqlite3_column_int64(st, 4) > 16777215)
		goto out;
	t->l3vni = (uint32_t)sqlite3_column_int64(st, 4);
	ret = 0;
out:
	if (ret < 0)
		tenant_release(t);
	json_decref(sites);
	return ret;
}

static int row_segment(sqlite3_stmt *st, struct segment *g)
{
	const char *type = (const char *)sqlite3_column_text(st, 2);
	const char *memb = (const char *)sqlite3_column_text(st, 14);

	memset(g, 0, sizeof(*g));
	if (store_col_copy(st, 0, g->tenant, sizeof(g->tenant)) < 0 ||
	    store_col_copy(st, 1, g->name, sizeof(g->name)) < 0 ||
	    !type || seg_type_parse(type, &g->type) < 0 ||
	    store_col_copy(st, 5, g->subnet4, sizeof(g->subnet4)) < 0 ||
	    store_col_copy(st, 6, g->subnet6, sizeof(g->subnet6)) < 0 ||
	    store_col_copy(st, 7, g->rd, sizeof(g->rd)) < 0 ||
	    store_col_copy(st, 8, g->rt, sizeof(g->rt)) < 0 ||
	    store_col_copy(st, 15, g->gateway4, sizeof(g->gateway4)) < 0 ||
	    store_col_copy(st, 16, g->gateway6, sizeof(g->gateway6)) < 0 ||
	    !memb || membership_parse(memb, &g->default_membership) < 0)
		return -EBADMSG;
	g->vni = (uint32_t)sqlite3_column_int64(st, 3);
	g->mtu = (unsigned int)sqlite3_column_int64(st, 4);
	g->pkey = (uint16_t)sqlite3_column_int64(st, 9);
	g->ipoib = sqlite3_column_int(st, 10) != 0;
	g->ib_mtu = (unsigned int)sqlite3_column_int64(st, 11);
	g->rate_gbps = (unsigned int)sqlite3_column_int64(st, 12);
	g->sl = (unsigned int)sqlite3_column_int64(st, 13);
	return 0;
}

static int row_attachment(sqlite3_stmt *st, struct attachment *a)
{
	const char *memb = (const char *)sqlite3_column_text(st, 4);

	memset(a, 0, sizeof(*a));
	if (store_col_copy(st, 0, a->tenant, sizeof(a->tenant)) < 0 ||
	    store_col_copy(st, 1, a->segment, sizeof(a->segment)) < 0 ||
	    store_col_copy(st, 2, a->node, sizeof(a->node)) < 0 ||
	    store_col_copy(st, 3, a->port, sizeof(a->port)) < 0 ||
	    !memb || membership_parse(memb, &a->membership) < 0)
		return -EBADMSG;
	if (sqlite3_column_int64(st, 5) < 0 || sqlite3_column_int64(st, 5) > LOOM_VLAN_MAX)
		return -EBADMSG;
	a->vlan = (uint16_t)sqlite3_column_int64(st, 5);
	return 0;
}

static int row_hold(sqlite3_stmt *st, struct id_hold *h)
{
	const char *type = (const char *)sqlite3_column_text(st, 0);

	memset(h, 0, sizeof(*h));
	if (!type || seg_type_parse(type, &h->type) < 0 ||
	    store_col_copy(st, 2, h->tenant, sizeof(h->tenant)) < 0)
		return -EBADMSG;
	h->id = (uint32_t)sqlite3_column_int64(st, 1);
	return 0;
}

enum load_kind { LOAD_TENANT, LOAD_SEGMENT, LOAD_ATTACHMENT, LOAD_HOLD };

static const struct {
	const char *table;
	const char *sql;
} load_queries[] = {
	[LOAD_TENANT] = { "tenants",
			  "SELECT name, isolation, sites, labels, l3vni FROM tenants ORDER BY name" },
	[LOAD_SEGMENT] = { "segments",
			   "SELECT tenant, name, type, vni, mtu, subnet4, subnet6, rd, rt, pkey, ipoib,"
			   " ib_mtu, rate_gbps, sl, default_membership, gateway4, gateway6"
			   " FROM segments ORDER BY tenant, name" },
	[LOAD_ATTACHMENT] = { "attachments",
			      "SELECT tenant, segment, node, port, membership, vlan FROM attachments"
			      " ORDER BY tenant, segment, node, port" },
	[LOAD_HOLD] = { "holds", "SELECT type, id, tenant FROM holds ORDER BY type, id" },
};

static int load_row(struct model *m, enum load_kind kind, sqlite3_stmt *st)
{
	union {
		struct tenant t;
		struct segment g;
		struct attachment a;
		struct id_hold h;
	} u;
	int ret;

	switch (kind) {
	case LOAD_TENANT:
		ret = row_tenant(st, &u.t);
		if (!ret) {
			ret = model_load_tenant(m, &u.t);
			if (ret < 0)
				tenant_release(&u.t);
		}
		return ret;
	case LOAD_SEGMENT:
		ret = row_segment(st, &u.g);
		return ret ? ret : model_load_segment(m, &u.g);
	case LOAD_ATTACHMENT:
		ret = row_attachment(st, &u.a);
		return ret ? ret : model_load_attachment(m, &u.a);
	case LOAD_HOLD:
		ret = row_hold(st, &u.h);
		return ret ? ret : model_load_hold(m, &u.h);
	}
	return -EINVAL;
}

int store_load_model(struct store *s, struct model *m, struct loom_err *err)
{
	sqlite3_stmt *st = NULL;
	bool own_txn = sqlite3_get_autocommit(s->db);
	int64_t row = 0;
	int ret = 0, rc;

	/* One read transaction: the four tables are seen at one instant. */
	if (own_txn && sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		ret = -EIO;
		goto fail_sql;
	}
	for (int k = LOAD_TENANT; k <= LOAD_HOLD; k++) {
		if (sqlite3_prepare_v2(s->db, load_queries[k].sql, -1, &st, NULL) != SQLITE_OK) {
			ret = -EIO;
			goto fail_sql;
		}
		row = 0;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			row++;
			ret = load_row(m, (enum load_kind)k, st);
			if (ret == -EBADMSG) {
				loom_err_set(err, LOOM_E_STORE, "", "table %s, row %" PRId64 ": a value "
					     "is malformed or too long; restore the state file from a backup",
					     load_queries[k].table, row);
				goto fail;
			}
			if (ret < 0) {
				loom_err_set(err, LOOM_E_INTERNAL, "", "loading %s: out of memory",
					     load_queries[k].table);
				goto fail;
			}
		}
		if (rc != SQLITE_DONE) {
			ret = -EIO;
			goto fail_sql;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	if (own_txn)
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	model_load_finish(m);
	return 0;
fail_sql:
	loom_err_set(err, LOOM_E_STORE, "", "loading the model: %s", sqlite3_errmsg(s->db));
	store_seterr(s, "loading the model: %s", sqlite3_errmsg(s->db));
fail:
	sqlite3_finalize(st);
	if (own_txn && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	model_clear(m);
	return ret;
}
