/*
 * tests/unit/test_model_pool.c: VNI and P_Key allocation: lowest free ID,
 * explicit IDs, collisions, exhaustion, holds (an ID released by one tenant
 * is never handed to another, but may return to the same tenant), and the
 * derived RD/RT.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenancy/model.h"
#include "tests/unit/test_model_fixture.h"

struct fx {
	struct model m;
	struct topology *topo;
	struct loom_err err;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->topo = fx_topology();
	fx_model_init(&f->m);
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"acme\"}", &f->err), 0);
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"beta\"}", &f->err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	model_clear(&f->m);
	topology_free(&f->topo);
	free(f);
	return 0;
}

#define EXPECT_FAIL(f, call, code, field, substr) \
	FX_EXPECT_FAIL(&(f)->m, &(f)->err, call, code, field, substr)

static const struct segment *seg(struct fx *f, const char *tenant, const char *name)
{
	const struct segment *s = model_segment(&f->m, tenant, name);

	assert_non_null(s);
	return s;
}

static void test_lowest_free(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"a\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"b\",\"type\":\"ethernet\",\"vni\":10001}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"c\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"ib1\",\"type\":\"infiniband\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"ib2\",\"type\":\"infiniband\"}", &f->err), 0);
	assert_int_equal(seg(f, "acme", "a")->vni, 10000);
	assert_int_equal(seg(f, "acme", "b")->vni, 10001);
	assert_int_equal(seg(f, "beta", "c")->vni, 10002);	/* skips the explicit one */
	assert_int_equal(seg(f, "acme", "ib1")->pkey, 0x0100);
	assert_int_equal(seg(f, "beta", "ib2")->pkey, 0x0101);
	/* VNIs and P_Keys are separate pools. */
	assert_int_equal(seg(f, "acme", "ib1")->vni, 0);
	assert_string_equal(seg(f, "acme", "a")->rd, "65000:10000");
	assert_string_equal(seg(f, "acme", "a")->rt, "65000:10000");
	assert_string_equal(seg(f, "beta", "c")->rt, "65000:10002");
	assert_string_equal(seg(f, "acme", "ib1")->rd, "");
	/* The segment passed in is filled with what was chosen. */
	{
		struct segment s = { .type = SEG_ETHERNET };

		strcpy(s.tenant, "acme");
		strcpy(s.name, "d");
		assert_int_equal(model_segment_add(&f->m, f->topo, &s, &f->err), 0);
		assert_int_equal(s.vni, 10003);
		assert_int_equal(s.mtu, 1500);
		assert_string_equal(s.rd, "65000:10003");
	}
}

static void test_explicit(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"a\",\"type\":\"ethernet\",\"vni\":10500}", &f->err), 0);
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"x\",\"type\":\"ethernet\",\"vni\":10500}", &f->err),
		    LOOM_E_CONFLICT, "vni", "acme/a");
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"x\",\"type\":\"ethernet\",\"vni\":10500}", &f->err),
		    LOOM_E_CONFLICT, "vni", "acme/a");
	/* Outside the pool: refused, naming the pool. */
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"x\",\"type\":\"ethernet\",\"vni\":9999}", &f->err),
		    LOOM_E_RANGE, "vni", "10000..10999");
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"x\",\"type\":\"ethernet\",\"vni\":11000}", &f->err),
		    LOOM_E_RANGE, "vni", "10000..10999");
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"p\",\"type\":\"infiniband\",\"pkey\":\"0x01ff\"}", &f->err), 0);
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"q\",\"type\":\"infiniband\",\"pkey\":511}", &f->err),
		    LOOM_E_CONFLICT, "pkey", "acme/p");
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"q\",\"type\":\"infiniband\",\"pkey\":\"0x0002\"}", &f->err),
		    LOOM_E_RANGE, "pkey", "0x0100..0x01ff");
	/* The same number is free in the other pool. */
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"q\",\"type\":\"infiniband\",\"pkey\":\"0x0100\"}", &f->err), 0);
}

static void test_exhaustion(void **state)
{
	struct fx *f = *state;

	f->m.pools.vni_min = 100;
	f->m.pools.vni_max = 102;
	f->m.pools.pkey_min = 0x7ffd;
	f->m.pools.pkey_max = 0x7fff;	/* the default partition is never handed out */
	for (int i = 0; i < 3; i++) {
		char json[96];

		snprintf(json, sizeof(json), "{\"name\":\"s%d\",\"type\":\"ethernet\"}", i);
		assert_int_equal(fx_segment(&f->m, f->topo, i % 2 ? "acme" : "beta", json, &f->err), 0);
	}
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"s9\",\"type\":\"ethernet\"}", &f->err),
		    LOOM_E_EXHAUSTED, "vni", "100..102");
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"i1\",\"type\":\"infiniband\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"i2\",\"type\":\"infiniband\"}", &f->err), 0);
	assert_int_equal(seg(f, "acme", "i2")->pkey, 0x7ffe);
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"i3\",\"type\":\"infiniband\"}", &f->err),
		    LOOM_E_EXHAUSTED, "pkey", "0x7ffd..0x7ffe");

	/* An empty pool says so. */
	f->m.pools.vni_min = 0;
	f->m.pools.vni_max = 0;
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"s9\",\"type\":\"ethernet\"}", &f->err),
		    LOOM_E_EXHAUSTED, "vni", NULL);
}

static void test_holds(void **state)
{
	struct fx *f = *state;
	struct id_hold h;

	f->m.pools.vni_max = 10001;	/* two IDs */
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"a\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"ib\",\"type\":\"infiniband\"}", &f->err), 0);
	loom_err_clear(&f->err);
	assert_int_equal(model_segment_del(&f->m, "acme", "a", &f->err), 0);
	assert_int_equal(model_segment_del(&f->m, "acme", "ib", &f->err), 0);
	assert_int_equal(f->m.n_holds, 2);
	assert_int_equal(f->m.holds[0].type, SEG_ETHERNET);
	assert_int_equal(f->m.holds[0].id, 10000);
	assert_string_equal(f->m.holds[0].tenant, "acme");
	assert_int_equal(f->m.holds[1].type, SEG_INFINIBAND);
	assert_int_equal(f->m.holds[1].id, 0x0100);

	/* Another tenant never gets a held ID: not by allocation ... */
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"b\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(seg(f, "beta", "b")->vni, 10001);
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"ib\",\"type\":\"infiniband\"}", &f->err), 0);
	assert_int_equal(seg(f, "beta", "ib")->pkey, 0x0101);
	/* ... nor explicitly, and when only held IDs are left the pool is exhausted. */
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"c\",\"type\":\"ethernet\",\"vni\":10000}", &f->err),
		    LOOM_E_CONFLICT, "vni", "acme");
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"c\",\"type\":\"ethernet\"}", &f->err),
		    LOOM_E_EXHAUSTED, "vni", "1 held");
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"ic\",\"type\":\"infiniband\",\"pkey\":256}", &f->err),
		    LOOM_E_CONFLICT, "pkey", "acme");

	/* The same tenant gets its own held ID back (here: the lowest free). */
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"again\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(seg(f, "acme", "again")->vni, 10000);
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"ib2\",\"type\":\"infiniband\",\"pkey\":\"0x0100\"}", &f->err), 0);

	/* A second hold on the same ID: same tenant is a no-op, another is refused. */
	memset(&h, 0, sizeof(h));
	h.type = SEG_ETHERNET;
	h.id = 10000;
	strcpy(h.tenant, "acme");
	assert_int_equal(model_hold_add(&f->m, &h), 0);
	assert_int_equal(f->m.n_holds, 2);
	strcpy(h.tenant, "beta");
	assert_int_equal(model_hold_add(&f->m, &h), -EEXIST);

	/* Released (no target carries it any more): free for everyone again. */
	loom_err_clear(&f->err);
	assert_int_equal(model_segment_del(&f->m, "acme", "again", &f->err), 0);
	model_hold_release(&f->m, SEG_ETHERNET, 10000);
	model_hold_release(&f->m, SEG_ETHERNET, 12345);	/* absent: nothing happens */
	assert_int_equal(f->m.n_holds, 1);
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"c\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(seg(f, "beta", "c")->vni, 10000);
}

static void test_many(void **state)
{
	struct fx *f = *state;
	char json[96];

	/* 4,000 allocations stay correct (bench/bench_tenancy measures the time). */
	f->m.pools.vni_max = 13999;
	for (int i = 0; i < 4000; i++) {
		snprintf(json, sizeof(json), "{\"name\":\"s%d\",\"type\":\"ethernet\"}", i);
		assert_int_equal(fx_segment(&f->m, f->topo, i % 2 ? "acme" : "beta", json, &f->err), 0);
	}
	for (int i = 0; i < 4000; i++) {
		snprintf(json, sizeof(json), "s%d", i);
		assert_int_equal(seg(f, i % 2 ? "acme" : "beta", json)->vni, 10000 + (uint32_t)i);
	}
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"x\",\"type\":\"ethernet\"}", &f->err),
		    LOOM_E_EXHAUSTED, "vni", "4000 used");
	assert_non_null(model_segment_by_vni(&f->m, 13999));
}

static void test_subnets(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":[\"192.0.2.0/25\",\"2001:db8:1::/64\"]}", &f->err), 0);
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"b\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\"}", &f->err),
		    LOOM_E_CONFLICT, "subnet", "acme/a");
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"b\",\"type\":\"ethernet\",\"subnet\":\"2001:db8:1:0:8000::/65\"}", &f->err),
		    LOOM_E_CONFLICT, "subnet", "2001:db8:1::/64");
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"b\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.128/25\"}", &f->err), 0);
	/* Another tenant may reuse the same space: its own L2 domain. */
	assert_int_equal(fx_segment(&f->m, f->topo, "beta", "{\"name\":\"a\",\"type\":\"ethernet\",\"subnet\":\"192.0.2.0/24\"}", &f->err), 0);
}

/* An operator's P_Keys inside the pool: never allocated, refused when asked for. */
static void test_operator_ids(void **state)
{
	struct fx *f = *state;
	struct id_reserved r[3] = {
		{ SEG_INFINIBAND, 0x0101, "storage", "/etc/opensm/partitions.conf" },
		{ SEG_INFINIBAND, 0x0100, "", "/etc/opensm/partitions.conf" },
		{ SEG_INFINIBAND, 0x0400, "outside", "/etc/opensm/partitions.conf" },
	};

	model_reserved_sort(r, 3);
	assert_int_equal(r[0].id, 0x0100);
	model_reserved_set(&f->m, r, 3);
	assert_non_null(model_reserved_find(&f->m, SEG_INFINIBAND, 0x0101));
	assert_null(model_reserved_find(&f->m, SEG_ETHERNET, 0x0101));
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"ib1\",\"type\":\"infiniband\"}", &f->err), 0);
	assert_int_equal(seg(f, "acme", "ib1")->pkey, 0x0102);	/* 0x0100 and 0x0101 are the operator's */
	/* A VNI of the same number is another space. */
	f->m.pools.vni_min = 0x0100;
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"e1\",\"type\":\"ethernet\"}", &f->err), 0);
	assert_int_equal(seg(f, "acme", "e1")->vni, 0x0100);
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"q\",\"type\":\"infiniband\",\"pkey\":\"0x0101\"}", &f->err),
		    LOOM_E_CONFLICT, "pkey", "partition 'storage' in /etc/opensm/partitions.conf");
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "beta", "{\"name\":\"q\",\"type\":\"infiniband\",\"pkey\":256}", &f->err),
		    LOOM_E_CONFLICT, "pkey", "an unnamed partition in");
	/* model_clear keeps them, like the pools. */
	model_clear(&f->m);
	assert_int_equal(f->m.n_reserved, 3);
	assert_int_equal(fx_tenant(&f->m, f->topo, "{\"name\":\"acme\"}", &f->err), 0);
	/* Exhaustion counts them. */
	f->m.pools.pkey_max = 0x0102;
	assert_int_equal(fx_segment(&f->m, f->topo, "acme", "{\"name\":\"ib1\",\"type\":\"infiniband\"}", &f->err), 0);
	EXPECT_FAIL(f, fx_segment(&f->m, f->topo, "acme", "{\"name\":\"ib2\",\"type\":\"infiniband\"}", &f->err),
		    LOOM_E_EXHAUSTED, "pkey", "1 used by segments, 0 held for other tenants, 2 the operator's");
	model_reserved_set(&f->m, NULL, 0);
	assert_null(model_reserved_find(&f->m, SEG_INFINIBAND, 0x0101));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lowest_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explicit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subnets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator_ids, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
