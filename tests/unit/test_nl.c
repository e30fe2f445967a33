/*
 * tests/unit/test_nl.c: the netlink encoders, byte for byte against
 * the .hex files in tests/golden/netlink/.  LOOM_UPDATE_GOLDEN=1 rewrites the goldens.
 * The "trad-*" goldens are also sent to the real kernel, in order, by
 * tests/integration/kernel.sh, which proves they say what we think.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "overlay/kvtep.h"
#include "overlay/nl.h"

#define SEQ 1

struct golden_case {
	const char *name;
	size_t (*encode)(void *buf, size_t len);
};

static struct nl_vxlan vx100(void)
{
	struct nl_vxlan vx = { .name = "lx100", .vni = 100, .mtu = 1450, .group = KVTEP_GROUP,
			       .master = 2, .up = true };

	inet_pton(AF_INET, "192.0.2.1", &vx.local);
	return vx;
}

static size_t e_bridge_new(void *b, size_t l)
{
	return nl_link_bridge_new(b, l, SEQ, "lb100", 1450, KVTEP_GROUP, true);
}

static size_t e_bridge_new_mac(void *b, size_t l)
{
	static const uint8_t mac[NL_ETH_ALEN] = { 0x02, 0x00, 0x02, 0x00, 0x01, 0x2c };

	return nl_link_bridge_new_mac(b, l, SEQ, "lb300", 1450, KVTEP_GROUP, false, mac);
}

static size_t e_vxlan_new(void *b, size_t l)
{
	struct nl_vxlan vx = vx100();

	return nl_link_vxlan_new(b, l, SEQ, &vx);
}

static size_t e_alias(void *b, size_t l)
{
	return nl_link_set_alias(b, l, SEQ, 0, "lx100", "loom:tenant-a/seg-1");
}

static size_t e_brport(void *b, size_t l)
{
	struct nl_brport bp = { .neigh_suppress = 1, .learning = 0, .vlan_tunnel = -1 };

	return nl_brport_set(b, l, SEQ, 0, "lx100", &bp);
}

static size_t e_bridge_new_down(void *b, size_t l)
{
	return nl_link_bridge_new(b, l, SEQ, "lb200", 0, KVTEP_GROUP, false);
}

static size_t e_mtu(void *b, size_t l)
{
	return nl_link_set_mtu(b, l, SEQ, 0, "lb200", 1400);
}

static size_t e_up(void *b, size_t l)
{
	return nl_link_set_up(b, l, SEQ, 4, NULL, true);
}

static size_t e_master(void *b, size_t l)
{
	return nl_link_set_master(b, l, SEQ, 0, "lx100", 4);
}

static size_t e_nomaster(void *b, size_t l)
{
	return nl_link_set_master(b, l, SEQ, 3, NULL, 0);
}

static size_t e_group(void *b, size_t l)
{
	return nl_link_set_group(b, l, SEQ, 0, "lb200", KVTEP_GROUP_DOOMED);
}

static size_t e_del_group(void *b, size_t l)
{
	return nl_link_del_group(b, l, SEQ, KVTEP_GROUP_DOOMED);
}

static size_t e_del(void *b, size_t l)
{
	return nl_link_del(b, l, SEQ, 0, "lx100");
}

static size_t e_del_lb100(void *b, size_t l)
{
	return nl_link_del(b, l, SEQ, 2, NULL);
}

static size_t e_vnifilter_dev(void *b, size_t l)
{
	struct nl_vxlan vx = vx100();

	vx.name = "lxall";
	vx.mtu = 9000;
	vx.master = 0;
	vx.up = false;
	return nl_link_vxlan_vnifilter_new(b, l, SEQ, &vx);
}

static size_t e_vnifilter_add(void *b, size_t l)
{
	return nl_vnifilter_add(b, l, SEQ, 5, 1000, 1009);
}

static size_t e_vnifilter_add_one(void *b, size_t l)
{
	return nl_vnifilter_add(b, l, SEQ, 5, 2000, 2000);
}

static size_t e_bridge_vlan_new(void *b, size_t l)
{
	return nl_link_bridge_vlan_new(b, l, SEQ, "lbr", 9000, KVTEP_GROUP, true);
}

static size_t e_vlan_add(void *b, size_t l)
{
	return nl_bridge_vlan_add(b, l, SEQ, 7, 10, true, true);
}

static size_t e_vlan_tunnel(void *b, size_t l)
{
	return nl_bridge_vlan_tunnel_add(b, l, SEQ, 5, 10, 1000);
}

static size_t e_brport_tunnel(void *b, size_t l)
{
	struct nl_brport bp = { .neigh_suppress = 1, .learning = 0, .vlan_tunnel = 1 };

	return nl_brport_set(b, l, SEQ, 5, NULL, &bp);
}

static size_t e_bridge_vlan_new_mac(void *b, size_t l)
{
	static const uint8_t mac[NL_ETH_ALEN] = { 0x02, 0x71, 0x03, 0x00, 0x00, 0x00 };

	return nl_link_bridge_vlan_new_mac(b, l, SEQ, "lbv", 0, KVTEP_GROUP, false, mac);
}

static size_t e_vlan_flush(void *b, size_t l)
{
	return nl_bridge_vlan_flush(b, l, SEQ, 7);
}

static size_t e_subif_new(void *b, size_t l)
{
	return nl_link_vlan_new(b, l, SEQ, "acc-h11.101", 7, 101, KVTEP_GROUP);
}

static size_t e_vlan_dump(void *b, size_t l)
{
	return nl_bridge_vlan_dump(b, l, SEQ);
}

static size_t e_vrf(void *b, size_t l)
{
	return nl_link_vrf_new(b, l, SEQ, "loomprobe4", 0x7fff0000U);
}

static size_t e_vrf_group(void *b, size_t l)
{
	return nl_link_vrf_new_group(b, l, SEQ, "lv100000", 1000100000U, KVTEP_GROUP);
}

static size_t e_set_mac(void *b, size_t l)
{
	static const uint8_t mac[NL_ETH_ALEN] = { 0x02, 0x6c, 0x6f, 0x6f, 0x6d, 0x01 };

	return nl_link_set_mac(b, l, SEQ, 4, NULL, mac);
}

static size_t e_addr4(void *b, size_t l)
{
	static const uint8_t a[4] = { 192, 0, 2, 1 };

	return nl_addr(b, l, SEQ, true, 4, AF_INET, a, 25);
}

static size_t e_addr6_add(void *b, size_t l)	/* IFA_F_NODAD: an anycast gateway */
{
	static const uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 1 };

	return nl_addr(b, l, SEQ, true, 4, AF_INET6, a, 64);
}

static size_t e_addr6_del(void *b, size_t l)
{
	static const uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 1 };

	return nl_addr(b, l, SEQ, false, 4, AF_INET6, a, 64);
}

static size_t e_addr_dump(void *b, size_t l)
{
	return nl_addr_dump(b, l, SEQ);
}

static size_t e_dump(void *b, size_t l)
{
	return nl_link_dump(b, l, SEQ);
}

static size_t e_get(void *b, size_t l)
{
	return nl_link_get(b, l, SEQ, 0, "lb100");
}

/* trad-*: sent to the kernel in this order in a fresh namespace (lo = 1). */
static const struct golden_case cases[] = {
	{ "trad-01-bridge-new", e_bridge_new },		/* lb100 -> ifindex 2 */
	{ "trad-02-vxlan-new", e_vxlan_new },		/* lx100 -> 3, in lb100 */
	{ "trad-03-set-alias", e_alias },
	{ "trad-04-brport", e_brport },
	{ "trad-05-bridge-new-down", e_bridge_new_down },	/* lb200 -> 4 */
	{ "trad-06-set-mtu", e_mtu },
	{ "trad-07-set-up", e_up },
	{ "trad-08-set-master", e_master },
	{ "trad-09-nomaster", e_nomaster },
	{ "trad-10-set-group", e_group },
	{ "trad-11-del-group", e_del_group },
	{ "trad-12-del", e_del },
	{ "trad-13-del-ifindex", e_del_lb100 },
	{ "trad-14-vxlan-vnifilter-new", e_vnifilter_dev },	/* lxall -> 5 */
	{ "trad-15-vnifilter-add", e_vnifilter_add },
	{ "trad-16-vnifilter-add-one", e_vnifilter_add_one },
	{ "trad-17-bridge-new-mac", e_bridge_new_mac },
	/* Not accepted by this kernel (no VLAN filtering, no VRF): unit only. */
	{ "va-bridge-vlan-new", e_bridge_vlan_new },
	{ "va-bridge-vlan-add", e_vlan_add },
	{ "va-vlan-tunnel-add", e_vlan_tunnel },
	{ "va-brport-vlan-tunnel", e_brport_tunnel },
	{ "va-bridge-vlan-new-mac", e_bridge_vlan_new_mac },
	{ "va-vlan-flush", e_vlan_flush },
	{ "va-subif-new", e_subif_new },
	{ "query-bridge-vlan-dump", e_vlan_dump },
	{ "probe-vrf-new", e_vrf },
	/* Routing (kvtep_route.c): VRFs need the lab VM's kernel. */
	{ "route-vrf-new", e_vrf_group },
	{ "route-set-mac", e_set_mac },
	{ "route-addr4-add", e_addr4 },
	{ "route-addr6-add", e_addr6_add },
	{ "route-addr6-del", e_addr6_del },
	{ "query-addr-dump", e_addr_dump },
	{ "query-link-dump", e_dump },
	{ "query-link-get", e_get },
};

static char *hex_of(const unsigned char *b, size_t n)
{
	char *s = malloc(n * 3 + n / 16 + 2);
	size_t i, off = 0;

	assert_non_null(s);
	for (i = 0; i < n; i++)
		off += (size_t)sprintf(s + off, "%02x%s", b[i],
				       (i % 16 == 15 || i == n - 1) ? "\n" : " ");
	s[off] = '\0';
	return s;
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

static void test_golden(void **state)
{
	const char *top = getenv("top_srcdir");
	const char *update = getenv("LOOM_UPDATE_GOLDEN");
	unsigned char buf[4096];
	char path[4096];
	size_t i;

	(void)state;
	if (!top)
		top = ".";
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *hex, *want;
		size_t n;

		/*
		 * libmnl 1.0.4 leaves attribute padding as it found it: start
		 * each case from zeros so the goldens do not hold stack bytes.
		 */
		memset(buf, 0, sizeof(buf));
		n = cases[i].encode(buf, sizeof(buf));

		assert_true(n >= sizeof(struct nlmsghdr));
		assert_int_equal(((struct nlmsghdr *)buf)->nlmsg_len, n);
		hex = hex_of(buf, n);
		snprintf(path, sizeof(path), "%s/tests/golden/netlink/%s.hex", top, cases[i].name);
		if (update && !strcmp(update, "1")) {
			FILE *f = fopen(path, "w");

			assert_non_null(f);
			fputs(hex, f);
			fclose(f);
		}
		want = slurp(path);
		if (!want)
			fail_msg("missing golden %s (LOOM_UPDATE_GOLDEN=1 writes it)", path);
		if (strcmp(want, hex))
			fail_msg("%s differs from its golden:\n%s\nwant:\n%s", cases[i].name, hex,
				 want);
		free(want);
		free(hex);
	}
}

/* Every encoder returns 0, not a partial message, when the buffer is short. */
static void test_short_buffers(void **state)
{
	unsigned char buf[4096];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].encode(buf, sizeof(buf));

		for (len = 0; len < n; len++)
			if (cases[i].encode(buf, len) != 0)
				fail_msg("%s: %zu bytes fit in %zu", cases[i].name, n, len);
		assert_int_equal(cases[i].encode(buf, n), n);
	}
}

/* Decode the VXLAN message and look at the attributes the kernel reads. */
static void test_vxlan_fields(void **state)
{
	unsigned char buf[512];
	struct nl_vxlan vx = vx100();
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct ifinfomsg *ifi;
	const struct nlattr *a, *info = NULL;
	bool saw_master = false, saw_group = false;

	(void)state;
	assert_true(nl_link_vxlan_new(buf, sizeof(buf), 7, &vx) > 0);
	assert_int_equal(nlh->nlmsg_type, RTM_NEWLINK);
	assert_int_equal(nlh->nlmsg_flags,
			 NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	assert_int_equal(nlh->nlmsg_seq, 7);
	ifi = mnl_nlmsg_get_payload(nlh);
	assert_true(ifi->ifi_flags & IFF_UP);
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_MASTER:
			saw_master = mnl_attr_get_u32(a) == 2;
			break;
		case IFLA_GROUP:
			saw_group = mnl_attr_get_u32(a) == KVTEP_GROUP;
			break;
		case IFLA_LINKINFO:
			info = a;
			break;
		default:
			break;
		}
	}
	assert_true(saw_master && saw_group);
	assert_non_null(info);
	mnl_attr_for_each_nested(a, info) {
		const struct nlattr *d;

		if (mnl_attr_get_type(a) == IFLA_INFO_KIND)
			assert_string_equal(mnl_attr_get_str(a), "vxlan");
		if (mnl_attr_get_type(a) != IFLA_INFO_DATA)
			continue;
		mnl_attr_for_each_nested(d, a) {
			if (mnl_attr_get_type(d) == IFLA_VXLAN_ID)
				assert_int_equal(mnl_attr_get_u32(d), 100);
			if (mnl_attr_get_type(d) == IFLA_VXLAN_PORT)
				assert_int_equal(ntohs(mnl_attr_get_u16(d)), 4789);
			if (mnl_attr_get_type(d) == IFLA_VXLAN_LEARNING)
				assert_int_equal(mnl_attr_get_u8(d), 0);
		}
	}
}

static void test_bad_input(void **state)
{
	unsigned char buf[512];

	(void)state;
	/* A name longer than IFNAMSIZ - 1 cannot be sent. */
	assert_int_equal(nl_link_bridge_new(buf, sizeof(buf), 1, "abcdefghijklmnop", 0, 0, 0), 0);
	assert_int_equal(nl_link_del(buf, sizeof(buf), 1, 0, NULL), 0);
	assert_int_equal(nl_bridge_vlan_add(buf, sizeof(buf), 1, 3, 4095, false, false), 0);
	assert_int_equal(nl_vnifilter_add(buf, sizeof(buf), 1, 3, 10, 9), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_short_buffers),
		cmocka_unit_test(test_vxlan_fields),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
