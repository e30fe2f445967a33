/*
 * tests/unit/test_store.c: the SQLite store on real files in a private
 * folder: every object round trip through store_*_put and
 * store_load_model, transactions and nested savepoints, constraints,
 * reopening, and schema migrations.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "store/store.h"
#include "tests/unit/store_testutil.h"

static const struct pools test_pools = {
	.vni_min = 10000, .vni_max = 19999, .pkey_min = 0x100, .pkey_max = 0x7ffe, .rt_asn = 65000,
};

struct fixture {
	struct tdir dir;
	struct store *s;
	struct model m;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct loom_err err = { 0 };

	if (!f || tdir_make(&f->dir) < 0)
		return -1;
	if (store_open(f->dir.db, &f->s, &err) < 0) {
		fprintf(stderr, "# store_open: %s\n", err.msg);
		return -1;
	}
	model_init(&f->m, &test_pools);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	model_clear(&f->m);
	store_close(&f->s);
	tdir_remove(&f->dir);
	free(f);
	return 0;
}

static void make_tenant(struct tenant *t, const char *name, enum isolation iso)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->isolation = iso;
	snprintf(t->sites[0], sizeof(t->sites[0]), "ams1");
	snprintf(t->sites[1], sizeof(t->sites[1]), "fra2");
	t->n_sites = 2;
	t->labels = json_pack("{s:s, s:s}", "team", "ml-infra", "cost-center", "42");
}

static void make_eth(struct segment *g, const char *tenant, const char *name, uint32_t vni)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->tenant, sizeof(g->tenant), "%s", tenant);
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->type = SEG_ETHERNET;
	g->vni = vni;
	g->mtu = 9000;
	snprintf(g->subnet4, sizeof(g->subnet4), "192.0.2.0/24");
	snprintf(g->subnet6, sizeof(g->subnet6), "2001:db8:1::/64");
	snprintf(g->rd, sizeof(g->rd), "65000:%u", vni);
	snprintf(g->rt, sizeof(g->rt), "65000:%u", vni);
	g->default_membership = MEMBERSHIP_DEFAULT;
}

static void make_ib(struct segment *g, const char *tenant, const char *name, uint16_t pkey)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->tenant, sizeof(g->tenant), "%s", tenant);
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->type = SEG_INFINIBAND;
	g->pkey = pkey;
	g->ipoib = true;
	g->ib_mtu = 4096;
	g->rate_gbps = 400;
	g->sl = 3;
	g->default_membership = MEMBERSHIP_LIMITED;
}

static void make_att(struct attachment *a, const char *tenant, const char *seg, const char *node,
		     const char *port, enum membership mb)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->tenant, sizeof(a->tenant), "%s", tenant);
	snprintf(a->segment, sizeof(a->segment), "%s", seg);
	snprintf(a->node, sizeof(a->node), "%s", node);
	snprintf(a->port, sizeof(a->port), "%s", port);
	a->membership = mb;
}

static void reload(struct fixture *f)
{
	struct loom_err err = { 0 };

	model_clear(&f->m);
	assert_int_equal(store_load_model(f->s, &f->m, &err), 0);
}

static void assert_tenant_equal(const struct tenant *a, const struct tenant *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->isolation, b->isolation);
	assert_int_equal(a->n_sites, b->n_sites);
	for (size_t i = 0; i < a->n_sites; i++)
		assert_string_equal(a->sites[i], b->sites[i]);
	assert_true(json_equal(a->labels, b->labels));
	assert_int_equal(a->l3vni, b->l3vni);
}

/* Every field of every object comes back as it went in. */
static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct tenant t1, t2;
	struct segment e1, i1;
	struct attachment a1, a2, a3;
	struct id_hold h1 = { .type = SEG_ETHERNET, .id = 10007, .tenant = "gone" };
	struct id_hold h2 = { .type = SEG_INFINIBAND, .id = 0x123, .tenant = "acme" };

	make_tenant(&t1, "acme", ISOLATION_STRICT);
	make_tenant(&t2, "beta", ISOLATION_PRIVATE);
	t2.n_sites = 0;
	json_decref(t2.labels);
	t2.labels = json_object();
	make_eth(&e1, "acme", "storage", 10001);
	/* A routed segment's gateways and its tenant's L3 VNI come back too. */
	t1.l3vni = 100007;
	strcpy(e1.gateway4, "192.0.2.1");
	strcpy(e1.gateway6, "2001:db8:1::1");
	make_ib(&i1, "acme", "compute", 0x0101);
	make_att(&a1, "acme", "storage", "gpu-001", "", MEMBERSHIP_DEFAULT);
	a1.vlan = 4094;	/* a shared port's VLAN survives the round trip */
	make_att(&a2, "acme", "compute", "gpu-001", "mlx5_0/1", MEMBERSHIP_FULL);
	make_att(&a3, "acme", "compute", "gpu-002", "mlx5_1/1", MEMBERSHIP_LIMITED);

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &t2), 0);
	assert_int_equal(store_tenant_put(f->s, &t1), 0);
	assert_int_equal(store_segment_put(f->s, &e1), 0);
	assert_int_equal(store_segment_put(f->s, &i1), 0);
	assert_int_equal(store_attachment_put(f->s, &a3), 0);
	assert_int_equal(store_attachment_put(f->s, &a1), 0);
	assert_int_equal(store_attachment_put(f->s, &a2), 0);
	assert_int_equal(store_hold_put(f->s, &h1), 0);
	assert_int_equal(store_hold_put(f->s, &h2), 0);
	assert_int_equal(store_commit(f->s), 0);

	reload(f);
	assert_int_equal(f->m.n_tenants, 2);
	assert_tenant_equal(f->m.tenants[0], &t1);
	assert_tenant_equal(f->m.tenants[1], &t2);
	assert_int_equal(f->m.n_segments, 2);
	/* Sorted by tenant/name: compute before storage. */
	assert_memory_equal(&f->m.segments[0], &i1, sizeof(i1));
	assert_memory_equal(&f->m.segments[1], &e1, sizeof(e1));
	assert_int_equal(f->m.n_attachments, 3);
	assert_memory_equal(&f->m.attachments[0], &a2, sizeof(a2));
	assert_memory_equal(&f->m.attachments[1], &a3, sizeof(a3));
	assert_memory_equal(&f->m.attachments[2], &a1, sizeof(a1));
	assert_int_equal(f->m.n_holds, 2);
	assert_memory_equal(&f->m.holds[0], &h1, sizeof(h1));
	assert_memory_equal(&f->m.holds[1], &h2, sizeof(h2));
	assert_non_null(model_segment_by_vni(&f->m, 10001));
	assert_non_null(model_segment_by_pkey(&f->m, 0x0101));

	/* Put again = update in place. */
	t1.isolation = ISOLATION_SOFT;
	t1.n_sites = 1;
	json_object_set_new(t1.labels, "team", json_string("hpc"));
	e1.mtu = 1500;
	snprintf(e1.subnet4, sizeof(e1.subnet4), "198.51.100.0/24");
	a2.membership = MEMBERSHIP_LIMITED;
	a1.vlan = 7;
	assert_int_equal(store_attachment_put(f->s, &a1), 0);
	assert_int_equal(store_tenant_put(f->s, &t1), 0);
	assert_int_equal(store_segment_put(f->s, &e1), 0);
	assert_int_equal(store_attachment_put(f->s, &a2), 0);
	reload(f);
	assert_int_equal(f->m.n_tenants, 2);
	assert_tenant_equal(f->m.tenants[0], &t1);
	assert_memory_equal(&f->m.segments[1], &e1, sizeof(e1));
	assert_memory_equal(&f->m.attachments[0], &a2, sizeof(a2));
	assert_memory_equal(&f->m.attachments[2], &a1, sizeof(a1));

	/* Deletes, children first. */
	assert_int_equal(store_attachment_delete(f->s, &a1), 0);
	assert_int_equal(store_segment_delete(f->s, "acme", "storage"), 0);
	assert_int_equal(store_hold_delete(f->s, SEG_ETHERNET, 10007), 0);
	assert_int_equal(store_tenant_delete(f->s, "beta"), 0);
	reload(f);
	assert_int_equal(f->m.n_tenants, 1);
	assert_int_equal(f->m.n_segments, 1);
	assert_int_equal(f->m.n_attachments, 2);
	assert_int_equal(f->m.n_holds, 1);
	assert_memory_equal(&f->m.holds[0], &h2, sizeof(h2));

	tenant_release(&t1);
	tenant_release(&t2);
}

/* A tenant with NULL labels stores {} and loads {}. */
static void test_null_labels(void **state)
{
	struct fixture *f = *state;
	struct tenant t;

	make_tenant(&t, "nolabels", ISOLATION_SOFT);
	tenant_release(&t);
	assert_int_equal(store_tenant_put(f->s, &t), 0);
	reload(f);
	assert_int_equal(f->m.n_tenants, 1);
	assert_true(json_is_object(f->m.tenants[0]->labels));
	assert_int_equal(json_object_size(f->m.tenants[0]->labels), 0);
}

static size_t count_tenants(struct fixture *f)
{
	reload(f);
	return f->m.n_tenants;
}

/* A savepoint rolled back leaves nothing, even nested inside another. */
static void test_savepoint_rollback(void **state)
{
	struct fixture *f = *state;
	struct tenant a, b, c;
	struct segment g;

	make_tenant(&a, "a", ISOLATION_SOFT);
	make_tenant(&b, "b", ISOLATION_SOFT);
	make_tenant(&c, "c", ISOLATION_SOFT);
	make_eth(&g, "b", "net", 10002);

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &b), 0);
	assert_int_equal(store_segment_put(f->s, &g), 0);
	assert_int_equal(store_savepoint_rollback(f->s), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(count_tenants(f), 0);
	assert_int_equal(f->m.n_segments, 0);

	/* Nested: the inner one is undone, the outer one kept. */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &a), 0);
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &b), 0);
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_segment_put(f->s, &g), 0);
	assert_int_equal(store_savepoint_release(f->s), 0);
	assert_int_equal(store_savepoint_rollback(f->s), 0);	/* b and its segment */
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &c), 0);
	assert_int_equal(store_savepoint_release(f->s), 0);
	assert_int_equal(store_savepoint_release(f->s), 0);
	assert_int_equal(store_commit(f->s), 0);
	assert_int_equal(count_tenants(f), 2);
	assert_string_equal(f->m.tenants[0]->name, "a");
	assert_string_equal(f->m.tenants[1]->name, "c");
	assert_int_equal(f->m.n_segments, 0);

	/* A whole transaction rolled back. */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &b), 0);
	assert_int_equal(store_rollback(f->s), 0);
	assert_int_equal(count_tenants(f), 2);

	tenant_release(&a);
	tenant_release(&b);
	tenant_release(&c);
}

/* Misuse is refused with a reason, not silently accepted. */
static void test_transaction_misuse(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_savepoint(f->s), -EINVAL);
	assert_non_null(strstr(store_errmsg(f->s), "no transaction"));
	assert_int_equal(store_savepoint_release(f->s), -EINVAL);
	assert_int_equal(store_commit(f->s), -EIO);
	assert_int_equal(store_rollback(f->s), 0);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_begin(f->s), -EINVAL);
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_commit(f->s), -EINVAL);	/* savepoint still open */
	assert_int_equal(store_rollback(f->s), 0);
	/* After a rollback the depth is reset: a new transaction starts clean. */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_savepoint_release(f->s), 0);
	assert_int_equal(store_commit(f->s), 0);
}

/*
 * Group commit: one request's constraint failure is rolled back to its
 * savepoint; the requests around it commit.
 */
static void test_constraint_in_savepoint(void **state)
{
	struct fixture *f = *state;
	struct tenant a, b, c;
	struct segment ga, gb, ia, ib;

	make_tenant(&a, "a", ISOLATION_SOFT);
	make_tenant(&b, "b", ISOLATION_SOFT);
	make_tenant(&c, "c", ISOLATION_SOFT);
	make_eth(&ga, "a", "net", 10100);
	make_eth(&gb, "b", "net", 10100);	/* same VNI, another tenant */
	make_ib(&ia, "a", "ib", 0x200);
	make_ib(&ib, "c", "ib", 0x200);		/* same P_Key */

	assert_int_equal(store_begin(f->s), 0);
	/* request 1 */
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &a), 0);
	assert_int_equal(store_segment_put(f->s, &ga), 0);
	assert_int_equal(store_segment_put(f->s, &ia), 0);
	assert_int_equal(store_savepoint_release(f->s), 0);
	/* request 2 fails half way */
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &b), 0);
	assert_int_equal(store_segment_put(f->s, &gb), -EEXIST);
	assert_non_null(strstr(store_errmsg(f->s), "UNIQUE"));
	assert_non_null(strstr(store_errmsg(f->s), "vni"));
	assert_int_equal(store_savepoint_rollback(f->s), 0);
	/* request 3 fails on the P_Key */
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &c), 0);
	assert_int_equal(store_segment_put(f->s, &ib), -EEXIST);
	assert_non_null(strstr(store_errmsg(f->s), "pkey"));
	assert_int_equal(store_savepoint_rollback(f->s), 0);
	/* request 4 */
	assert_int_equal(store_savepoint(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &c), 0);
	ib.pkey = 0x201;
	assert_int_equal(store_segment_put(f->s, &ib), 0);
	assert_int_equal(store_savepoint_release(f->s), 0);
	assert_int_equal(store_commit(f->s), 0);

	reload(f);
	assert_int_equal(f->m.n_tenants, 2);
	assert_string_equal(f->m.tenants[0]->name, "a");
	assert_string_equal(f->m.tenants[1]->name, "c");
	assert_int_equal(f->m.n_segments, 3);

	tenant_release(&a);
	tenant_release(&b);
	tenant_release(&c);
}

/* The unique indexes are partial: IDs of the other type (0) never clash. */
static void test_partial_unique(void **state)
{
	struct fixture *f = *state;
	struct tenant t;
	struct segment g;

	make_tenant(&t, "t", ISOLATION_SOFT);
	assert_int_equal(store_tenant_put(f->s, &t), 0);
	for (int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "eth%d", i);
		make_eth(&g, "t", name, 10200 + (uint32_t)i);	/* pkey 0 each */
		assert_int_equal(store_segment_put(f->s, &g), 0);
		snprintf(name, sizeof(name), "ib%d", i);
		make_ib(&g, "t", name, (uint16_t)(0x300 + i));	/* vni 0 each */
		assert_int_equal(store_segment_put(f->s, &g), 0);
	}
	/* An IB P_Key equal to an ethernet VNI is no conflict either. */
	make_ib(&g, "t", "ib9", 0x1000);
	assert_int_equal(store_segment_put(f->s, &g), 0);
	make_eth(&g, "t", "eth9", 0x1000);
	assert_int_equal(store_segment_put(f->s, &g), 0);
	reload(f);
	assert_int_equal(f->m.n_segments, 8);
	tenant_release(&t);
}

/* Foreign keys: no orphan, no delete from under a child. */
static void test_foreign_keys(void **state)
{
	struct fixture *f = *state;
	struct tenant t;
	struct segment g;
	struct attachment a;

	make_tenant(&t, "t", ISOLATION_SOFT);
	make_eth(&g, "nobody", "net", 10300);
	assert_int_equal(store_segment_put(f->s, &g), -ENOENT);
	assert_non_null(strstr(store_errmsg(f->s), "FOREIGN KEY"));
	make_att(&a, "t", "net", "gpu-001", "", MEMBERSHIP_DEFAULT);
	assert_int_equal(store_tenant_put(f->s, &t), 0);
	assert_int_equal(store_attachment_put(f->s, &a), -ENOENT);

	snprintf(g.tenant, sizeof(g.tenant), "t");
	assert_int_equal(store_segment_put(f->s, &g), 0);
	assert_int_equal(store_attachment_put(f->s, &a), 0);
	assert_int_equal(store_segment_delete(f->s, "t", "net"), -EBUSY);
	assert_int_equal(store_tenant_delete(f->s, "t"), -EBUSY);
	assert_int_equal(store_attachment_delete(f->s, &a), 0);
	assert_int_equal(store_attachment_delete(f->s, &a), -ENOENT);
	assert_int_equal(store_tenant_delete(f->s, "t"), -EBUSY);
	assert_int_equal(store_segment_delete(f->s, "t", "net"), 0);
	assert_int_equal(store_segment_delete(f->s, "t", "net"), -ENOENT);
	assert_int_equal(store_tenant_delete(f->s, "t"), 0);
	assert_int_equal(store_tenant_delete(f->s, "t"), -ENOENT);
	assert_int_equal(store_hold_delete(f->s, SEG_INFINIBAND, 7), -ENOENT);
	tenant_release(&t);
}

static void test_kv(void **state)
{
	struct fixture *f = *state;
	char *v = (char *)"x";

	assert_int_equal(store_kv_get(f->s, "missing", &v), 0);
	assert_null(v);
	assert_int_equal(store_kv_put(f->s, "reconcile.gen", "1"), 0);
	assert_int_equal(store_kv_put(f->s, "reconcile.gen", "2"), 0);
	assert_int_equal(store_kv_get(f->s, "reconcile.gen", &v), 0);
	assert_string_equal(v, "2");
	free(v);
	/* The audit head cannot be moved through the kv API. */
	assert_int_equal(store_kv_put(f->s, "audit.head", "0:x"), -EPERM);
	assert_non_null(strstr(store_errmsg(f->s), "reserved"));
}

/* A prefix lists its keys only: not a longer name that shares the letters,
 * nor a key where the prefix would be a LIKE pattern (% and _ are literal). */
static void test_kv_list(void **state)
{
	struct fixture *f = *state;
	json_t *all = NULL;

	assert_int_equal(store_kv_list(f->s, "replace.", &all), 0);
	assert_int_equal(json_object_size(all), 0);
	json_decref(all);
	assert_int_equal(store_kv_put(f->s, "replace.n1", "{\"a\":1}"), 0);
	assert_int_equal(store_kv_put(f->s, "replace.n2", "two"), 0);
	assert_int_equal(store_kv_put(f->s, "replacex", "no"), 0);
	assert_int_equal(store_kv_put(f->s, "replacing.n3", "n1"), 0);
	assert_int_equal(store_kv_put(f->s, "rep_ace.n4", "no"), 0);
	assert_int_equal(store_kv_list(f->s, "replace.", &all), 0);
	assert_int_equal(json_object_size(all), 2);
	assert_string_equal(json_string_value(json_object_get(all, "replace.n1")), "{\"a\":1}");
	assert_string_equal(json_string_value(json_object_get(all, "replace.n2")), "two");
	json_decref(all);
	assert_int_equal(store_kv_list(f->s, "rep_", &all), 0);
	assert_int_equal(json_object_size(all), 1);
	json_decref(all);
}

/* Close and open again: everything is there, and the pragmas hold. */
static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct loom_err err = { 0 };
	struct tenant t;
	struct segment g;
	struct attachment a;
	struct id_hold h = { .type = SEG_INFINIBAND, .id = 0x444, .tenant = "t" };
	struct audit_entry e = { .uid = 0, .gid = 0, .pid = 1, .method = "x", .params = "{}", .result = "{}" };
	char *v = NULL;

	make_tenant(&t, "t", ISOLATION_STRICT);
	make_ib(&g, "t", "ib", 0x400);
	make_att(&a, "t", "ib", "n1", "mlx5_0/1", MEMBERSHIP_FULL);
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_tenant_put(f->s, &t), 0);
	assert_int_equal(store_segment_put(f->s, &g), 0);
	assert_int_equal(store_attachment_put(f->s, &a), 0);
	assert_int_equal(store_hold_put(f->s, &h), 0);
	assert_int_equal(store_kv_put(f->s, "k", "v"), 0);
	assert_int_equal(store_audit_append(f->s, &e), 0);
	assert_int_equal(store_commit(f->s), 0);
	/* An open, uncommitted transaction dies with the handle. */
	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_hold_delete(f->s, SEG_INFINIBAND, 0x444), 0);
	store_close(&f->s);
	assert_null(f->s);

	assert_int_equal(store_open(f->dir.db, &f->s, &err), 0);
	assert_int_equal(store_schema_version(f->s), store_schema_version_latest());
	reload(f);
	assert_int_equal(f->m.n_tenants, 1);
	assert_tenant_equal(f->m.tenants[0], &t);
	assert_memory_equal(&f->m.segments[0], &g, sizeof(g));
	assert_memory_equal(&f->m.attachments[0], &a, sizeof(a));
	assert_int_equal(f->m.n_holds, 1);
	assert_int_equal(store_kv_get(f->s, "k", &v), 0);
	assert_string_equal(v, "v");
	free(v);
	/* WAL is a property of the file; the rest is per connection. */
	assert_int_equal(raw_int(f->dir.db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	assert_int_equal(raw_int(f->dir.db, "PRAGMA application_id"), 0x6c6f6f6d);
	tenant_release(&t);
}

/* The migrations: from an empty file, and from v1 (data kept). */
static void test_migrate(void **state)
{
	struct fixture *f = *state;
	struct loom_err err = { 0 };
	struct store *s = NULL;
	struct model m;
	char db[PATH_MAX + 16];
	struct audit_entry e = { .pid = 1, .method = "m", .params = "{}", .result = "{}" };
	int64_t n = 0, bad = 0;
	char why[256];

	/* A second file in the fixture's folder, so teardown removes it. */
	snprintf(db, sizeof(db), "%s/v1.db", f->dir.dir);
	assert_true(store_schema_version_latest() >= 2);
	assert_int_equal(store_migrate_to(db, 1, &err), 0);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'audit'"), 0);
	assert_int_equal(raw_exec(db, "INSERT INTO tenants (name, isolation, sites, labels) "
					 "VALUES ('old', 'soft', '[\"ams1\"]', '{\"a\":\"b\"}')"), 0);

	assert_int_equal(store_open(db, &s, &err), 0);
	assert_int_equal(store_schema_version(s), store_schema_version_latest());
	model_init(&m, &test_pools);
	assert_int_equal(store_load_model(s, &m, &err), 0);
	assert_int_equal(m.n_tenants, 1);
	assert_string_equal(m.tenants[0]->name, "old");
	assert_string_equal(m.tenants[0]->sites[0], "ams1");
	model_clear(&m);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_audit_append(s, &e), 0);
	assert_int_equal(store_commit(s), 0);
	assert_int_equal(store_audit_verify(s, &n, &bad, why, sizeof(why)), 0);
	assert_int_equal(n, 1);
	store_close(&s);

	/* Migrating an up-to-date file changes nothing. */
	assert_int_equal(store_migrate_to(db, store_schema_version_latest(), &err), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit"), 1);
}


/* Migration 3: nodes with attachments become `assigned`, the others get no row. */
static void test_migrate_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct loom_err err = { 0 };
	struct store *s = NULL;
	struct node_life nl;
	char db[PATH_MAX + 16];

	snprintf(db, sizeof(db), "%s/v2.db", f->dir.dir);
	assert_int_equal(store_migrate_to(db, 2, &err), 0);
	assert_int_equal(raw_exec(db, "INSERT INTO tenants (name, isolation) VALUES ('acme', 'soft');"
				      "INSERT INTO segments (tenant, name, type, vni) VALUES ('acme', 'x', 'ethernet', 100);"
				      "INSERT INTO attachments (tenant, segment, node, port) VALUES ('acme', 'x', 'gpu-1', 'eth0');"
				      "INSERT INTO attachments (tenant, segment, node, port) VALUES ('acme', 'x', 'gpu-1', 'eth1');"), 0);
	assert_int_equal(store_open(db, &s, &err), 0);
	assert_true(store_schema_version(s) >= 3);
	assert_int_equal(store_node_get(s, "gpu-1", &nl), 0);
	assert_int_equal(nl.state, NODE_ASSIGNED);
	assert_false(nl.pending);
	assert_true(nl.since_ns > 1700000000LL * 1000000000LL);
	assert_int_equal(store_node_get(s, "gpu-2", &nl), -ENOENT);
	store_close(&s);
}

/* Migration 4: MIG instances, keyed by (node, gpu, start), owned by an existing tenant. */
static void test_gpu_instances(void **state)
{
	struct fixture *f = *state;
	struct loom_err err = { 0 };
	struct gpu_inst_rec a = { .node = "gpu-1", .gpu = 0, .start = 4, .tenant = "acme",
				  .profile = "3g.40gb", .segments = "train,ib", .created_ns = 11 };
	struct gpu_inst_rec b = { .node = "gpu-1", .gpu = 0, .start = 0, .tenant = "acme",
				  .profile = "1g.10gb", .segments = "", .created_ns = 12 };
	struct gpu_inst_rec *v = NULL;
	struct store *s = NULL;
	struct tenant t;
	char db[PATH_MAX + 16];
	size_t n = 9;

	make_tenant(&t, "acme", ISOLATION_SOFT);
	assert_int_equal(store_tenant_put(f->s, &t), 0);
	tenant_release(&t);
	assert_int_equal(store_gpu_list(f->s, &v, &n), 0);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_int_equal(store_gpu_put(f->s, &a), 0);
	assert_int_equal(store_gpu_put(f->s, &b), 0);
	/* The same slices twice, an unknown tenant, a start past the GPU: refused. */
	assert_int_equal(store_gpu_put(f->s, &a), -EEXIST);
	b.start = 2;
	snprintf(b.tenant, sizeof(b.tenant), "nobody");
	assert_int_equal(store_gpu_put(f->s, &b), -ENOENT);
	snprintf(b.tenant, sizeof(b.tenant), "acme");
	b.start = 8;
	assert_int_equal(store_gpu_put(f->s, &b), -EINVAL);
	assert_int_equal(store_tenant_delete(f->s, "acme"), -EBUSY);

	assert_int_equal(store_gpu_list(f->s, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].start, 0);	/* by (node, gpu, start) */
	assert_string_equal(v[1].profile, "3g.40gb");
	assert_string_equal(v[1].segments, "train,ib");
	assert_int_equal(v[1].created_ns, 11);
	free(v);
	assert_int_equal(store_gpu_delete(f->s, "gpu-1", 0, 0), 0);
	assert_int_equal(store_gpu_delete(f->s, "gpu-1", 0, 0), -ENOENT);

	/* A schema-3 file gains the table and keeps its rows. */
	snprintf(db, sizeof(db), "%s/v3.db", f->dir.dir);
	assert_int_equal(store_migrate_to(db, 3, &err), 0);
	assert_int_equal(raw_exec(db, "INSERT INTO tenants (name, isolation) VALUES ('old', 'soft')"), 0);
	assert_int_equal(store_open(db, &s, &err), 0);
	assert_int_equal(store_schema_version(s), store_schema_version_latest());
	snprintf(a.tenant, sizeof(a.tenant), "old");
	assert_int_equal(store_gpu_put(s, &a), 0);
	assert_int_equal(store_gpu_list(s, &v, &n), 0);
	assert_int_equal(n, 1);
	free(v);
	store_close(&s);
}

/* Lifecycle rows and events: put, get, list, history in order. */
static void test_node_life(void **state)
{
	struct fixture *f = *state;
	struct node_life a = { .name = "gpu-2", .state = NODE_DRAINING, .goal = NODE_FAILED,
			       .pending = true, .reason = "bad GPU", .since_ns = 42 };
	struct node_life b = { .name = "gpu-1", .state = NODE_CORDONED, .since_ns = 7 };
	struct node_event_rec ev = { .time_ns = 1000000000, .node = "gpu-2", .from = NODE_ASSIGNED,
				     .to = NODE_DRAINING, .goal = NODE_FAILED, .pending = true,
				     .event = "fail", .reason = "bad GPU", .uid = 0 };
	struct node_life got, *list = NULL;
	size_t n = 0;
	json_t *hist = NULL;

	assert_int_equal(store_begin(f->s), 0);
	assert_int_equal(store_node_put(f->s, &a), 0);
	assert_int_equal(store_node_put(f->s, &b), 0);
	assert_int_equal(store_node_event_append(f->s, &ev), 0);
	ev.from = NODE_DRAINING;
	ev.to = NODE_FAILED;
	ev.pending = false;
	ev.event = "confirm";
	assert_int_equal(store_node_event_append(f->s, &ev), 0);
	assert_int_equal(store_commit(f->s), 0);

	assert_int_equal(store_node_get(f->s, "gpu-2", &got), 0);
	assert_int_equal(got.state, NODE_DRAINING);
	assert_int_equal(got.goal, NODE_FAILED);
	assert_true(got.pending);
	assert_string_equal(got.reason, "bad GPU");
	assert_int_equal(got.since_ns, 42);

	/* Replaced in place. */
	a.state = NODE_FAILED;
	a.pending = false;
	assert_int_equal(store_node_put(f->s, &a), 0);
	assert_int_equal(store_node_list(f->s, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "gpu-1");
	assert_int_equal(list[0].state, NODE_CORDONED);
	assert_string_equal(list[1].name, "gpu-2");
	assert_int_equal(list[1].state, NODE_FAILED);
	assert_false(list[1].pending);
	free(list);

	assert_int_equal(store_node_events(f->s, "gpu-2", &hist), 0);
	assert_int_equal(json_array_size(hist), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 0), "goal")), "failed");
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 1), "event")), "confirm");
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 1), "to")), "failed");
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 1), "goal")), "");
	json_decref(hist);
	assert_int_equal(store_node_events(f->s, "gpu-9", &hist), 0);
	assert_int_equal(json_array_size(hist), 0);
	json_decref(hist);

	/* A state the schema does not know is refused. */
	assert_int_not_equal(raw_exec(f->dir.db, "UPDATE nodes SET state = 'bogus' WHERE name = 'gpu-1'"), 0);
}

/*
 * The CHECKs of three or more values are OR chains after migration 6 (an
 * IN list made SQLite build a scratch table per row), on a file that had
 * rows, and they still refuse what they refused.
 */
static void test_migrate_checks(void **state)
{
	struct fixture *f = *state;
	struct loom_err err = { 0 };
	struct store *s = NULL;
	char db[PATH_MAX];

	snprintf(db, sizeof(db), "%s/v5.db", f->dir.dir);
	assert_int_equal(store_migrate_to(db, 5, &err), 0);
	assert_int_equal(raw_exec(db, "INSERT INTO tenants (name, isolation) VALUES ('old', 'strict');"
				      "INSERT INTO segments (tenant, name, type, vni) VALUES ('old', 'e', 'ethernet', 7);"
				      "INSERT INTO attachments (tenant, segment, node) VALUES ('old', 'e', 'n1');"
				      "INSERT INTO nodes (name, state, since_ns) VALUES ('n1', 'assigned', 1)"), 0);
	assert_int_equal(store_open(db, &s, &err), 0);
	store_close(&s);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), store_schema_version_latest());
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
				     "('tenants', 'segments', 'attachments', 'nodes') AND sql LIKE '% IN (''%'"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
				     "('tenants', 'segments', 'attachments', 'nodes') AND sql LIKE '%CHECK (% OR %'"), 4);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM tenants JOIN segments ON segments.tenant = tenants.name"
				     " JOIN attachments ON attachments.tenant = tenants.name JOIN nodes"), 1);
	/* Each CHECK still holds, and still lets every allowed value in. */
	assert_int_not_equal(raw_exec(db, "INSERT INTO tenants (name, isolation) VALUES ('x', 'open')"), 0);
	assert_int_equal(raw_exec(db, "INSERT INTO tenants (name, isolation) VALUES ('s', 'soft'), ('p', 'private')"), 0);
	assert_int_not_equal(raw_exec(db, "INSERT INTO segments (tenant, name, type) VALUES ('old', 'x', 'fc')"), 0);
	assert_int_not_equal(raw_exec(db, "INSERT INTO segments (tenant, name, type, default_membership)"
					  " VALUES ('old', 'x', 'infiniband', 'half')"), 0);
	assert_int_equal(raw_exec(db, "INSERT INTO segments (tenant, name, type, pkey, default_membership)"
				      " VALUES ('old', 'i', 'infiniband', 5, 'limited')"), 0);
	assert_int_not_equal(raw_exec(db, "UPDATE attachments SET membership = 'none'"), 0);
	assert_int_equal(raw_exec(db, "UPDATE attachments SET membership = 'full'"), 0);
	assert_int_not_equal(raw_exec(db, "UPDATE nodes SET state = 'gone'"), 0);
	assert_int_equal(raw_exec(db, "UPDATE nodes SET state = 'quarantined'"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
}

/* A migration that fails leaves the file as it was: all or nothing. */
static void test_migrate_fails_atomically(void **state)
{
	struct fixture *f = *state;
	struct loom_err err = { 0 };
	struct store *s = NULL;
	char db[PATH_MAX + 16];

	snprintf(db, sizeof(db), "%s/v1.db", f->dir.dir);
	assert_int_equal(store_migrate_to(db, 1, &err), 0);
	/* Something in the way of migration 2's last statement, so that its
	 * first ones (CREATE TABLE audit, the first trigger) did run. */
	assert_int_equal(raw_exec(db, "CREATE TABLE x (y); CREATE TRIGGER audit_no_delete "
				      "AFTER INSERT ON x BEGIN SELECT 1; END;"), 0);
	assert_int_equal(store_open(db, &s, &err), -EIO);
	assert_null(s);
	assert_int_equal(err.code, LOOM_E_STORE);
	assert_non_null(strstr(err.msg, "migration 2"));
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
				     "('audit', 'audit_no_update')"), 0);
}

/* A file from a newer loomd, or not ours, is refused with a clear error. */
static void test_refuse_unknown(void **state)
{
	struct fixture *f = *state;
	struct loom_err err = { 0 };
	struct store *s = NULL;
	char db[PATH_MAX + 16];

	store_close(&f->s);
	assert_int_equal(raw_exec(f->dir.db, "PRAGMA user_version = 99"), 0);
	assert_int_equal(store_open(f->dir.db, &s, &err), -EPROTO);
	assert_null(s);
	assert_int_equal(err.code, LOOM_E_STORE);
	assert_non_null(strstr(err.msg, "schema version 99"));
	assert_non_null(strstr(err.msg, "newer"));
	/* Nothing was changed by the refusal. */
	assert_int_equal(raw_int(f->dir.db, "PRAGMA user_version"), 99);

	snprintf(db, sizeof(db), "%s/other.db", f->dir.dir);
	assert_int_equal(raw_exec(db, "CREATE TABLE x (y); PRAGMA user_version = 1"), 0);
	loom_err_clear(&err);
	assert_int_equal(store_open(db, &s, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "not a loom database"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_labels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_savepoint_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_misuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_constraint_in_savepoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kv_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_life, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gpu_instances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_fails_atomically, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_unknown, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
