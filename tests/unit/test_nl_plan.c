/*
 * tests/unit/test_nl_plan.c: the kernel target's diff (kvtep_plan) and
 * verdict (kvtep_verify) on observations set by hand, against the golden
 * plans in tests/golden/netlink/plan-*.txt (LOOM_UPDATE_GOLDEN=1 rewrites
 * them).  The same paths run against the real kernel in kernel.sh.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "overlay/kvtep.h"
#include "overlay/kvtep_test.h"

#define IP "192.0.2.1"
#define G KVTEP_GROUP

static char p1p2[2][LOOM_IFNAME_MAX] = { "p1", "p2" };
static char p1[1][LOOM_IFNAME_MAX] = { "p1" };
static char p3[1][LOOM_IFNAME_MAX] = { "p3" };

/* lo, three access ports, nothing of loom's. */
static const struct kvtep_test_link base[] = {
	{ "lo", 1, "loopback", 0, true, 65536, 0, NULL, 0, NULL, -1, -1 },
	{ "p1", 2, "veth", 0, false, 1500, 0, NULL, 0, NULL, -1, -1 },
	{ "p2", 3, "veth", 0, true, 1500, 0, NULL, 0, NULL, -1, -1 },
	{ "p3", 4, "veth", 0, true, 1500, 0, NULL, 0, NULL, -1, -1 },
};

/* Both VNIs exactly as loom makes them, p1 and p2 in lb100. */
static const struct kvtep_test_link programmed[] = {
	{ "lo", 1, "loopback", 0, true, 65536, 0, NULL, 0, NULL, -1, -1 },
	{ "p1", 2, "veth", 10, true, 1500, 0, NULL, 0, NULL, 1, 1 },
	{ "p2", 3, "veth", 10, true, 1500, 0, NULL, 0, NULL, 1, 1 },
	{ "p3", 4, "veth", 0, true, 1500, 0, NULL, 0, NULL, -1, -1 },
	{ "lb100", 10, "bridge", 0, true, 1450, G, "loom:ta/s1", 0, NULL, -1, -1 },
	{ "lx100", 11, "vxlan", 10, true, 1450, G, "loom:ta/s1", 100, IP, 1, 0 },
	{ "lb200", 12, "bridge", 0, true, 9000, G, "loom:tb/s2", 0, NULL, -1, -1 },
	{ "lx200", 13, "vxlan", 12, true, 9000, G, "loom:tb/s2", 200, IP, 1, 0 },
};

static struct vtep_vni two[] = {
	{ .vni = 100, .mtu = 1450, .tenant = "ta", .segment = "s1", .ports = p1p2, .n_ports = 2 },
	{ .vni = 200, .mtu = 9000, .tenant = "tb", .segment = "s2" },
};

#define KV_TEST_VLANS 4093	/* VLANs 2..4094 */

static enum vtep_mode plan_mode = VTEP_MODE_TRADITIONAL;
static const struct kvtep_test_vlan *plan_vlans;
static size_t n_plan_vlans;

static char *run_plan(const struct kvtep_test_link *links, size_t n_links,
		      struct vtep_vni *vnis, size_t n_vnis)
{
	struct vtep_desired d = { .vtep = "t", .vnis = vnis, .n_vnis = n_vnis };
	struct kvtep_vni_status st[8];
	struct kvtep *h = kvtep_test_handle(IP, true);

	if (h)
		kvtep_test_set_mode(h, plan_mode);
	size_t cap = 16384, off = 0, i;
	char *out = malloc(cap), line[128];
	int n;

	assert_non_null(h);
	assert_non_null(out);
	assert_true(n_vnis <= 8);
	assert_int_equal(kvtep_test_observe(h, links, n_links), (int)n_links);
	assert_int_equal(kvtep_test_vlans(h, plan_vlans, n_plan_vlans), 0);
	n = kvtep_plan(h, &d);
	assert_true(n >= 0);
	off += (size_t)snprintf(out + off, cap - off, "plan %d\n", n);
	for (i = 0; i < (size_t)n; i++) {
		assert_int_equal(kvtep_plan_describe(h, i, line, sizeof(line)), 0);
		off += (size_t)snprintf(out + off, cap - off, "%s\n", line);
	}
	/* The verdict on the same (unchanged) observation. */
	kvtep_test_verify(h, &d, st);
	for (i = 0; i < n_vnis; i++)
		off += (size_t)snprintf(out + off, cap - off, "vni %u %s%s%s\n", st[i].vni,
					st[i].state == KVTEP_VNI_PROGRAMMED ? "programmed"
									    : loom_err_name(st[i].code),
					st[i].reason[0] ? ": " : "", st[i].reason);
	kvtep_close(&h);
	assert_null(h);
	return out;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

static void golden(const char *name, char *got)
{
	const char *top = getenv("top_srcdir");
	const char *update = getenv("LOOM_UPDATE_GOLDEN");
	char path[4096];
	char *want;

	snprintf(path, sizeof(path), "%s/tests/golden/netlink/plan-%s.txt", top ? top : ".", name);
	if (update && !strcmp(update, "1")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	want = slurp(path);
	if (!want)
		fail_msg("missing golden %s (LOOM_UPDATE_GOLDEN=1 writes it)", path);
	if (strcmp(want, got))
		fail_msg("plan %s differs from its golden:\n%s\nwant:\n%s", name, got, want);
	free(want);
	free(got);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- vlan-aware mode, and soft tenants' tagged ports ---------------------- */

static uint16_t tag7[2] = { 0, 7 };	/* p1 untagged, p3 tagged 7 */
static char p1p3[2][LOOM_IFNAME_MAX] = { "p1", "p3" };

/* The same two VNIs as loom lays them out in vlan-aware mode. */
static const struct kvtep_test_link va_programmed[] = {
	{ "lo", 1, "loopback", 0, true, 65536, 0, NULL, 0, NULL, -1, -1 },
	{ "p1", 2, "veth", 10, true, 1500, 0, NULL, 0, NULL, 1, 1 },
	{ "p2", 3, "veth", 10, true, 1500, 0, NULL, 0, NULL, 1, 1 },
	{ "p3", 4, "veth", 0, true, 1500, 0, NULL, 0, NULL, -1, -1 },
	{ "lbv", 10, "bridge", 0, true, 1500, G, KVTEP_ALIAS_PREFIX "vlan-aware bridge", 0, NULL, -1, -1 },
	{ "lx100", 11, "vxlan", 10, true, 1450, G, "loom:ta/s1", 100, IP, 1, 0 },
	{ "lx200", 13, "vxlan", 10, true, 9000, G, "loom:tb/s2", 200, IP, 1, 0 },
};
static const struct kvtep_test_vlan va_vlans[] = {
	{ "p1", 2, false, 0, 0 }, { "p2", 2, false, 0, 0 }, { "lbv", 0, true, 0, 0 },
	{ "lx100", 2, false, 0, 0 }, { "lx200", 3, false, 0, 0 },
};

static void test_vlan_create(void **state)
{
	struct vtep_vni vnis[] = {
		{ .vni = 100, .mtu = 1450, .tenant = "ta", .segment = "s1", .ports = p1p2, .n_ports = 2 },
		{ .vni = 200, .mtu = 9000, .tenant = "tb", .segment = "s2" },
		{ .vni = 300, .mtu = 1500, .tenant = "tc", .segment = "s3", .ports = p3, .n_ports = 1 },
	};

	(void)state;
	plan_mode = VTEP_MODE_VLAN_AWARE;
	golden("vlan-create", run_plan(base, N(base), vnis, N(vnis)));
	plan_mode = VTEP_MODE_TRADITIONAL;
}

static void test_vlan_noop(void **state)
{
	char *out;

	(void)state;
	plan_mode = VTEP_MODE_VLAN_AWARE;
	plan_vlans = va_vlans;
	n_plan_vlans = N(va_vlans);
	out = run_plan(va_programmed, N(va_programmed), two, N(two));
	plan_mode = VTEP_MODE_TRADITIONAL;
	n_plan_vlans = 0;
	assert_non_null(strstr(out, "plan 0\n"));
	assert_non_null(strstr(out, "vni 100 programmed\nvni 200 programmed\n"));
	free(out);
}

/* p2 moves from VNI 100 to 200: only its VLAN changes (flush, then the new
 * one); p3 joins 200 tagged 7 through loom's sub-interface p3.7; lx200
 * lost its VLAN (drift) and gets it back; VNI 100 keeps VLAN 2. */
static void test_vlan_move(void **state)
{
	static char p2p3[2][LOOM_IFNAME_MAX] = { "p2", "p3" };
	struct vtep_vni vnis[] = {
		{ .vni = 100, .mtu = 1450, .tenant = "ta", .segment = "s1", .ports = p1, .n_ports = 1 },
		{ .vni = 200, .mtu = 9000, .tenant = "tb", .segment = "s2", .ports = p2p3,
		  .port_vlans = tag7, .n_ports = 2 },
	};

	struct kvtep_test_vlan vl[N(va_vlans)];

	(void)state;
	memcpy(vl, va_vlans, sizeof(vl));
	vl[4].pvid = 0;	/* lx200 */
	plan_mode = VTEP_MODE_VLAN_AWARE;
	plan_vlans = vl;
	n_plan_vlans = N(vl);
	golden("vlan-move", run_plan(va_programmed, N(va_programmed), vnis, N(vnis)));
	plan_mode = VTEP_MODE_TRADITIONAL;
	n_plan_vlans = 0;
}

/* From traditional to vlan-aware: lbN go, lxN are kept and re-parented. */
static void test_vlan_from_traditional(void **state)
{
	(void)state;
	plan_mode = VTEP_MODE_VLAN_AWARE;
	golden("vlan-from-trad", run_plan(programmed, N(programmed), two, N(two)));
	plan_mode = VTEP_MODE_TRADITIONAL;
}

/* Traditional mode, a tagged port: the sub-interface p3.7 goes into lb100,
 * p1 whole; a stale loom sub-interface p3.9 is deleted. */
static void test_subif_traditional(void **state)
{
	struct kvtep_test_link l[N(base) + 1];
	static const struct kvtep_test_vlan sub[] = { { "p3.9", 0, false, 4, 9 } };
	struct vtep_vni vnis[] = {
		{ .vni = 100, .mtu = 1450, .tenant = "ta", .segment = "s1", .ports = p1p3,
		  .port_vlans = tag7, .n_ports = 2 },
	};

	(void)state;
	memcpy(l, base, sizeof(base));
	l[N(base)] = (struct kvtep_test_link){ "p3.9", 20, "vlan", 0, true, 1500, G, "loom:ta/s1",
					       0, NULL, -1, -1 };
	plan_vlans = sub;
	n_plan_vlans = N(sub);
	golden("subif-trad", run_plan(l, N(l), vnis, N(vnis)));
	n_plan_vlans = 0;
}

/* A vlan-aware VTEP has VLANs 2..4094 for VNIs: the 4,094th VNI gets none
 * (an error for it alone, naming the limit and the way out). */
static void test_vlan_exhausted(void **state)
{
	size_t n = KV_TEST_VLANS + 1;
	struct vtep_vni *vnis = calloc(n, sizeof(*vnis));
	struct vtep_desired d = { .vtep = "t", .vnis = vnis, .n_vnis = n };
	struct kvtep_vni_status *st = calloc(n, sizeof(*st));
	struct kvtep *h = kvtep_test_handle(IP, true);

	(void)state;
	assert_non_null(vnis);
	assert_non_null(st);
	assert_non_null(h);
	kvtep_test_set_mode(h, VTEP_MODE_VLAN_AWARE);
	for (size_t i = 0; i < n; i++) {
		vnis[i].vni = 100000 + (uint32_t)i;
		snprintf(vnis[i].tenant, sizeof(vnis[i].tenant), "t");
		snprintf(vnis[i].segment, sizeof(vnis[i].segment), "s%zu", i);
	}
	assert_int_equal(kvtep_test_observe(h, base, N(base)), (int)N(base));
	assert_true(kvtep_plan(h, &d) > 0);
	kvtep_test_verify(h, &d, st);
	assert_int_equal(st[n - 2].code, LOOM_E_STATE);	/* planned, not made (no kernel) */
	assert_int_equal(st[n - 1].code, LOOM_E_EXHAUSTED);
	assert_non_null(strstr(st[n - 1].reason, "no VLAN left for VNI 104093 on bridge lbv"));
	assert_non_null(strstr(st[n - 1].reason, "mode to traditional"));
	kvtep_close(&h);
	free(vnis);
	free(st);
}

static void test_create(void **state)
{
	(void)state;
	golden("create", run_plan(base, N(base), two, N(two)));
}

static void test_noop(void **state)
{
	char *out;

	(void)state;
	out = run_plan(programmed, N(programmed), two, N(two));
	assert_non_null(strstr(out, "plan 0\n"));
	golden("noop", out);
}

/* VNI 100 goes, p1 moves to VNI 200: released first, enslaved last. */
static void test_shrink_move(void **state)
{
	struct vtep_vni one[] = {
		{ .vni = 200, .mtu = 9000, .tenant = "tb", .segment = "s2", .ports = p1,
		  .n_ports = 1 },
	};

	(void)state;
	golden("shrink-move", run_plan(programmed, N(programmed), one, N(one)));
}

static void test_delete_all(void **state)
{
	(void)state;
	golden("delete-all", run_plan(programmed, N(programmed), NULL, 0));
}

/* Drift: lx100 down and out of its bridge, lb200 MTU changed, p2 released. */
static void test_repair(void **state)
{
	struct kvtep_test_link l[N(programmed)];

	(void)state;
	memcpy(l, programmed, sizeof(l));
	l[5].up = false;
	l[5].master = 0;
	l[5].neigh_suppress = -1;
	l[5].port_learning = -1;
	l[6].mtu = 1500;
	l[2].master = 0;
	golden("repair", run_plan(l, N(l), two, N(two)));
}

/* The operator's devices: a VXLAN on VNI 300, a bridge named lb400, p3 in
 * the operator's bridge, and a loom-marked orphan to clean up. */
static void test_operator(void **state)
{
	const struct kvtep_test_link l[] = {
		{ "lo", 1, "loopback", 0, true, 65536, 0, NULL, 0, NULL, -1, -1 },
		{ "p3", 4, "veth", 20, true, 1500, 0, NULL, 0, NULL, 1, 1 },
		{ "opbr", 20, "bridge", 0, true, 1500, 0, NULL, 0, NULL, -1, -1 },
		{ "opvx", 21, "vxlan", 0, true, 1500, 0, NULL, 300, IP, -1, -1 },
		{ "lb400", 22, "bridge", 0, true, 1500, 0, NULL, 0, NULL, -1, -1 },
		{ "lbold", 23, "bridge", 0, true, 1500, 0, "loom:gone/x", 0, NULL, -1, -1 },
	};
	struct vtep_vni v[] = {
		{ .vni = 300, .mtu = 1500, .tenant = "tc", .segment = "s3" },
		{ .vni = 400, .mtu = 1500, .tenant = "td", .segment = "s4" },
		{ .vni = 500, .mtu = 1500, .tenant = "te", .segment = "s5", .ports = p3,
		  .n_ports = 1 },
	};
	char *out, *plan, *verdict;

	(void)state;
	out = run_plan(l, N(l), v, N(v));
	/* Nothing of the operator's is touched: look at the actions only. */
	plan = strdup(out);
	assert_non_null(plan);
	verdict = strstr(plan, "\nvni ");
	assert_non_null(verdict);
	*verdict = '\0';
	assert_null(strstr(plan, "opbr"));
	assert_null(strstr(plan, "opvx"));
	assert_null(strstr(plan, "lb400"));
	assert_null(strstr(plan, "lx300"));
	assert_null(strstr(plan, "p3"));
	assert_non_null(strstr(plan, "doom lbold"));
	assert_non_null(strstr(out, "vni 300 conflict: VNI 300 is already used by VXLAN device opvx"));
	assert_non_null(strstr(out, "vni 400 conflict: device name lb400"));
	assert_non_null(strstr(out, "vni 500 conflict: access port p3 is enslaved to opbr"));
	free(plan);
	golden("operator", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_vlan_create),
		cmocka_unit_test(test_vlan_exhausted),
		cmocka_unit_test(test_vlan_noop),
		cmocka_unit_test(test_vlan_move),
		cmocka_unit_test(test_vlan_from_traditional),
		cmocka_unit_test(test_subif_traditional),	   cmocka_unit_test(test_noop),
		cmocka_unit_test(test_shrink_move), cmocka_unit_test(test_delete_all),
		cmocka_unit_test(test_repair),	   cmocka_unit_test(test_operator),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
