/*
 * tests/unit/test_kvtep_carrier.c: the carrier watcher's reading of link
 * events (overlay/kvtep.c): the baseline from a dump, losses and returns
 * queued in order, the bridge's own AF_BRIDGE notices ignored (a release is
 * no loss), the carrier flag rather than the lagging operational state,
 * a deleted port, unwatched ports.  The
 * messages are built as the kernel sends them; no socket is involved.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <net/if.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>

#include <cmocka.h>

#include "overlay/kvtep_test.h"

#define LOWER_UP 0x10000	/* IFF_LOWER_UP (linux/if.h clashes with net/if.h) */
#define OPER_UP 6
#define OPER_LOWERLAYERDOWN 3

static void test_carrier(void **state)
{
	static const char *const watched[] = { "acc-h11", "acc-h12", "acc-h13" };
	const struct kvtep_test_link links[] = {
		{ .name = "acc-h11", .ifindex = 2, .kind = "veth", .up = true,
		  .neigh_suppress = -1, .port_learning = -1 },
		{ .name = "acc-h12", .ifindex = 3, .kind = "veth", .up = false,
		  .neigh_suppress = -1, .port_learning = -1 },
	};
	struct kvtep *h = kvtep_test_handle("203.0.113.1", true);
	struct kvtep_carrier ch[8];

	(void)state;
	assert_non_null(h);
	assert_int_equal(kvtep_carrier_watch(h, watched, 3), 0);
	/* Baseline: acc-h11 has carrier, acc-h12 is dark already (no loss), acc-h13 unknown. */
	assert_int_equal(kvtep_test_observe(h, links, 2), 2);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 0);

	/* Loom releases acc-h11 from its bridge: the bridge's notice is no loss. */
	kvtep_test_link_event(h, RTM_DELLINK, AF_BRIDGE, "acc-h11", IFF_UP | LOWER_UP, OPER_UP);
	kvtep_test_link_event(h, RTM_NEWLINK, AF_BRIDGE, "acc-h11", IFF_UP, -1);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 0);

	/* The host's end goes down: carrier off, operstate LOWERLAYERDOWN. */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h11", IFF_UP, OPER_LOWERLAYERDOWN);
	/* A repeat of the same state is no new change. */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h11", IFF_UP, OPER_LOWERLAYERDOWN);
	/* acc-h12 comes up (back), acc-h13's first event only sets its state. */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h12", IFF_UP | LOWER_UP, OPER_UP);
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h13", IFF_UP, OPER_LOWERLAYERDOWN);
	/* A port nobody watches. */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "eth9", IFF_UP, OPER_LOWERLAYERDOWN);
	assert_int_equal(kvtep_carrier_take(h, ch, 1), 1);
	assert_string_equal(ch[0].port, "acc-h11");
	assert_false(ch[0].up);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 1);
	assert_string_equal(ch[0].port, "acc-h12");
	assert_true(ch[0].up);

	/* LOWER_UP while the operational state still says down (linkwatch
	 * updates it up to a second after the carrier) is carrier: no change. */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h12", IFF_UP | LOWER_UP, OPER_LOWERLAYERDOWN);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 0);
	/* The carrier flag going off is the loss. */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h12", IFF_UP, OPER_UP);
	/* Back with carrier (taken), then deleted (the peer's namespace went away). */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h11", IFF_UP | LOWER_UP, OPER_UP);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 2);
	assert_string_equal(ch[0].port, "acc-h12");
	assert_false(ch[0].up);
	assert_string_equal(ch[1].port, "acc-h11");
	assert_true(ch[1].up);
	kvtep_test_link_event(h, RTM_DELLINK, AF_UNSPEC, "acc-h11", IFF_UP | LOWER_UP, OPER_UP);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 1);
	assert_string_equal(ch[0].port, "acc-h11");
	assert_false(ch[0].up);

	/*
	 * Events older than the baseline's dump, drained after it: acc-h12
	 * came back (baseline: carrier), then its stale "no carrier" and its
	 * "carrier" arrive in one drain.  They cancel: no loss is reported.
	 */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h12", IFF_UP | LOWER_UP, OPER_UP);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 1);
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h12", IFF_UP, OPER_LOWERLAYERDOWN);
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h12", IFF_UP | LOWER_UP, OPER_UP);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 0);

	/* Re-watching keeps what is known: acc-h11 stays lost, no event. */
	assert_int_equal(kvtep_carrier_watch(h, watched, 2), 0);
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h11", IFF_UP, OPER_LOWERLAYERDOWN);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 0);
	/* acc-h13 is no longer watched. */
	kvtep_test_link_event(h, RTM_NEWLINK, AF_UNSPEC, "acc-h13", IFF_UP | LOWER_UP, OPER_UP);
	assert_int_equal(kvtep_carrier_take(h, ch, 8), 0);
	kvtep_close(&h);
	assert_null(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_carrier),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
