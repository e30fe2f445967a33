/*
 * tests/unit/test_mad.c: MAD encoders and decoders on byte buffers.  The
 * expected bytes are written out by offset from the IBTA layouts, not
 * produced by the encoders, so an offset mistake in fabric/mad.c fails here.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fabric/mad.h"

static void test_smp_lid_pkey_table(void **state)
{
	uint8_t buf[MAD_SIZE];
	uint8_t small[100];

	(void)state;
	assert_int_equal(mad_smp_lid_encode(buf, sizeof(buf), MAD_METHOD_GET, MAD_ATTR_PKEY_TABLE,
					    mad_pkey_attr_mod(1, 0), 0x0000000100200003ULL, NULL, 0),
			 MAD_SIZE);
	assert_int_equal(buf[0], 1);		/* base version */
	assert_int_equal(buf[1], 0x01);		/* LID-routed SMI */
	assert_int_equal(buf[2], 1);		/* class version */
	assert_int_equal(buf[3], 0x01);		/* Get */
	assert_int_equal(buf[4] | buf[5], 0);	/* status */
	/* TID big-endian at 8 */
	assert_int_equal(buf[8], 0x00);
	assert_int_equal(buf[11], 0x01);
	assert_int_equal(buf[13], 0x20);
	assert_int_equal(buf[15], 0x03);
	/* attribute ID 0x0016 at 16, modifier at 20: block 1 */
	assert_int_equal(buf[16], 0x00);
	assert_int_equal(buf[17], 0x16);
	assert_int_equal(buf[20] | buf[21] | buf[22], 0);
	assert_int_equal(buf[23], 1);
	/* M_Key and data zero */
	for (int i = 24; i < MAD_SIZE; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(mad_smp_lid_encode(small, sizeof(small), MAD_METHOD_GET,
					    MAD_ATTR_NODE_INFO, 0, 1, NULL, 0), 0);
	assert_int_equal(mad_smp_lid_encode(buf, sizeof(buf), MAD_METHOD_SET,
					    MAD_ATTR_NODE_INFO, 0, 1, buf, 65), 0);
}

static void test_pkey_attr_mod_switch_port(void **state)
{
	(void)state;
	/* A switch's external port: the port number in bits 16..31. */
	assert_int_equal(mad_pkey_attr_mod(0, 5), 0x00050000u);
	assert_int_equal(mad_pkey_attr_mod(2, 36), 0x00240002u);
	assert_int_equal(mad_pkey_attr_mod(3, 0), 3u);
}

static void test_smp_dr(void **state)
{
	uint8_t buf[MAD_SIZE];
	uint8_t path[4] = { 0, 1, 33, 2 };

	(void)state;
	assert_int_equal(mad_smp_dr_encode(buf, sizeof(buf), MAD_METHOD_GET, MAD_ATTR_PORT_INFO,
					   0, 7, path, 3), MAD_SIZE);
	assert_int_equal(buf[1], 0x81);
	assert_int_equal(buf[6], 0);		/* hop pointer */
	assert_int_equal(buf[7], 3);		/* hop count */
	assert_int_equal(buf[17], 0x15);
	assert_int_equal(buf[32], 0xff);	/* DrSLID permissive */
	assert_int_equal(buf[33], 0xff);
	assert_int_equal(buf[34], 0xff);	/* DrDLID permissive */
	assert_int_equal(buf[35], 0xff);
	assert_int_equal(buf[128 + 1], 1);
	assert_int_equal(buf[128 + 2], 33);
	assert_int_equal(buf[128 + 3], 2);
	assert_int_equal(buf[128 + 4], 0);
	assert_int_equal(mad_smp_dr_encode(buf, sizeof(buf), MAD_METHOD_GET, MAD_ATTR_PORT_INFO,
					   0, 7, NULL, 0), MAD_SIZE);
	assert_int_equal(buf[7], 0);
	assert_int_equal(mad_smp_dr_encode(buf, sizeof(buf), MAD_METHOD_GET, MAD_ATTR_PORT_INFO,
					   0, 7, path, 64), 0);
}

static void test_sa_node_record_get(void **state)
{
	uint8_t buf[MAD_SIZE];

	(void)state;
	assert_int_equal(mad_sa_node_record_get_encode(buf, sizeof(buf), 9, 0x0002c90300a1b2c3ULL),
			 MAD_SIZE);
	assert_int_equal(buf[1], 0x03);
	assert_int_equal(buf[2], 2);		/* SA class version */
	assert_int_equal(buf[3], 0x01);
	assert_int_equal(buf[17], 0x11);	/* NodeRecord */
	/* component mask at 48: bit 8 (PortGUID) only */
	for (int i = 48; i < 54; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(buf[54], 0x01);
	assert_int_equal(buf[55], 0x00);
	/* record at 56: LID(2) reserved(2) NodeInfo: PortGUID at +20 */
	assert_int_equal(buf[56 + 24], 0x00);
	assert_int_equal(buf[56 + 25], 0x02);
	assert_int_equal(buf[56 + 26], 0xc9);
	assert_int_equal(buf[56 + 31], 0xc3);
}

static void test_hdr_decode(void **state)
{
	uint8_t buf[MAD_SIZE] = { 0 };
	struct mad_hdr h;

	(void)state;
	buf[0] = 1;
	buf[1] = 0x81;
	buf[2] = 1;
	buf[3] = 0x81;
	buf[4] = 0x80;		/* D bit */
	buf[5] = 0x1c;		/* invalid attribute */
	buf[15] = 0x42;
	buf[16] = 0x00;
	buf[17] = 0x16;
	buf[23] = 0x02;
	assert_int_equal(mad_hdr_decode(buf, sizeof(buf), &h), 0);
	assert_int_equal(h.mgmt_class, 0x81);
	assert_int_equal(h.method, MAD_METHOD_GET_RESP);
	assert_int_equal(h.status, 0x001c);
	assert_int_equal(h.tid, 0x42);
	assert_int_equal(h.attr_id, MAD_ATTR_PKEY_TABLE);
	assert_int_equal(h.attr_mod, 2);
	assert_string_equal(mad_status_str(h.status), "invalid attribute or modifier");
	/* an SA answer may be short; the header is all that is needed */
	assert_int_equal(mad_hdr_decode(buf, 24, &h), 0);
	assert_int_equal(mad_hdr_decode(buf, 23, &h), -EBADMSG);
	buf[0] = 2;
	assert_int_equal(mad_hdr_decode(buf, sizeof(buf), &h), -EPROTO);
}

static void test_node_info_decode(void **state)
{
	uint8_t d[SMP_DATA_SIZE] = { 0 };
	struct mad_node_info ni, back;

	(void)state;
	d[0] = 1;
	d[1] = 1;
	d[2] = 1;			/* CA */
	d[3] = 2;			/* ports */
	d[11] = 0x10;			/* system image GUID ...10 */
	d[19] = 0x20;			/* node GUID ...20 */
	d[20] = 0x00;
	d[26] = 0x10;
	d[27] = 0x01;			/* port GUID 0x...1001 */
	d[28] = 0x00;
	d[29] = 0x80;			/* PartitionCap 128 */
	d[31] = 0x07;			/* device id */
	d[35] = 0xa1;			/* revision */
	d[36] = 1;			/* local port */
	d[37] = 0x00;
	d[38] = 0x02;
	d[39] = 0xc9;			/* vendor 0x0002c9 */
	assert_int_equal(mad_node_info_decode(d, sizeof(d), &ni), 0);
	assert_int_equal(ni.node_type, IB_NODE_CA);
	assert_int_equal(ni.num_ports, 2);
	assert_int_equal(ni.sys_guid, 0x10);
	assert_int_equal(ni.node_guid, 0x20);
	assert_int_equal(ni.port_guid, 0x1001);
	assert_int_equal(ni.partition_cap, 128);
	assert_int_equal(ni.device_id, 7);
	assert_int_equal(ni.revision, 0xa1);
	assert_int_equal(ni.local_port, 1);
	assert_int_equal(ni.vendor_id, 0x2c9);
	/* round trip */
	mad_node_info_encode(d, &ni);
	assert_int_equal(mad_node_info_decode(d, sizeof(d), &back), 0);
	assert_memory_equal(&ni, &back, sizeof(ni));
	assert_int_equal(mad_node_info_decode(d, 39, &ni), -EBADMSG);
	d[2] = 9;
	assert_int_equal(mad_node_info_decode(d, sizeof(d), &ni), -EBADMSG);
}

static void test_port_info_decode(void **state)
{
	uint8_t d[SMP_DATA_SIZE] = { 0 };
	struct mad_port_info pi;

	(void)state;
	d[8] = 0xfe;
	d[9] = 0x80;			/* GID prefix fe80:: */
	d[16] = 0x00;
	d[17] = 0x05;			/* LID 5 */
	d[18] = 0x00;
	d[19] = 0x01;			/* SM LID 1 */
	d[23] = 0x48;			/* capability mask */
	d[28] = 1;			/* local port */
	d[31] = 2;			/* width 4x */
	d[32] = 0x14;			/* speed supported 1, state active (4) */
	d[33] = 0x52;			/* phys LinkUp (5) */
	d[34] = 0x03;			/* LMC 3 */
	d[35] = 0x11;
	d[36] = 0x40;			/* neighbor MTU 2048 (4) */
	assert_int_equal(mad_port_info_decode(d, sizeof(d), &pi), 0);
	assert_int_equal(pi.gid_prefix, 0xfe80000000000000ULL);
	assert_int_equal(pi.lid, 5);
	assert_int_equal(pi.sm_lid, 1);
	assert_int_equal(pi.cap_mask, 0x48);
	assert_int_equal(pi.local_port, 1);
	assert_int_equal(pi.link_width_active, 2);
	assert_int_equal(pi.port_state, 4);
	assert_int_equal(pi.phys_state, 5);
	assert_int_equal(pi.lmc, 3);
	assert_int_equal(pi.link_speed_active, 1);
	assert_int_equal(pi.neighbor_mtu, 4);
	assert_int_equal(mad_port_info_decode(d, 36, &pi), -EBADMSG);
}

static void test_pkey_block(void **state)
{
	uint8_t d[SMP_DATA_SIZE] = { 0 };
	uint16_t out[PKEY_BLOCK_ENTRIES], in[PKEY_BLOCK_ENTRIES] = { 0 };

	(void)state;
	d[0] = 0xff;
	d[1] = 0xff;			/* Default, full */
	d[2] = 0x80;
	d[3] = 0x02;			/* 0x0002 full */
	d[4] = 0x00;
	d[5] = 0x03;			/* 0x0003 limited */
	d[62] = 0x7f;
	d[63] = 0xfe;			/* last entry */
	assert_int_equal(mad_pkey_block_decode(d, sizeof(d), out), 0);
	assert_int_equal(out[0], 0xffff);
	assert_int_equal(out[1], 0x8002);
	assert_true(out[1] & PKEY_FULL_BIT);
	assert_int_equal(out[2], 0x0003);
	assert_false(out[2] & PKEY_FULL_BIT);
	assert_int_equal(out[3], 0);
	assert_int_equal(out[31], 0x7ffe);
	in[0] = 0xffff;
	in[1] = 0x8002;
	in[2] = 0x0003;
	in[31] = 0x7ffe;
	memset(d + 6, 0xaa, 10);
	mad_pkey_block_encode(d, in);
	assert_int_equal(mad_pkey_block_decode(d, sizeof(d), out), 0);
	assert_memory_equal(out, in, sizeof(in));
	assert_int_equal(mad_pkey_block_decode(d, 63, out), -EBADMSG);
}

static void test_perf_port_counters(void **state)
{
	uint8_t buf[MAD_SIZE], small[MAD_SIZE - 1];
	struct mad_port_counters pc;
	struct mad_hdr h;

	(void)state;
	assert_int_equal(mad_perf_port_counters_encode(small, sizeof(small), 7, 1), 0);
	assert_int_equal(mad_perf_port_counters_encode(buf, sizeof(buf), 0x1234, 3), MAD_SIZE);
	assert_int_equal(mad_hdr_decode(buf, sizeof(buf), &h), 0);
	assert_int_equal(h.mgmt_class, 0x04);
	assert_int_equal(h.class_version, 1);
	assert_int_equal(h.method, MAD_METHOD_GET);
	assert_int_equal(h.attr_id, 0x0012);
	assert_int_equal(h.tid, 0x1234);
	assert_int_equal(buf[PERF_DATA_OFF + 1], 3);
	assert_int_equal(buf[PERF_DATA_OFF + 2] | buf[PERF_DATA_OFF + 3], 0);	/* CounterSelect */

	/* A response: SymbolErrorCounter 0x0102, LinkErrorRecovery 5, LinkDowned 9, RcvErrors 0x0304. */
	memset(buf, 0, sizeof(buf));
	buf[PERF_DATA_OFF + 1] = 1;
	buf[PERF_DATA_OFF + 4] = 0x01;
	buf[PERF_DATA_OFF + 5] = 0x02;
	buf[PERF_DATA_OFF + 6] = 5;
	buf[PERF_DATA_OFF + 7] = 9;
	buf[PERF_DATA_OFF + 8] = 0x03;
	buf[PERF_DATA_OFF + 9] = 0x04;
	assert_int_equal(mad_port_counters_decode(buf + PERF_DATA_OFF, 9, &pc), -EBADMSG);
	assert_int_equal(mad_port_counters_decode(buf + PERF_DATA_OFF, PERF_DATA_SIZE, &pc), 0);
	assert_int_equal(pc.port_select, 1);
	assert_int_equal(pc.symbol_errors, 0x0102);
	assert_int_equal(pc.link_recovery, 5);
	assert_int_equal(pc.link_downed, 9);
	assert_int_equal(pc.rcv_errors, 0x0304);
}

static void test_sm_info_and_node_record(void **state)
{
	uint8_t d[SA_DATA_SIZE] = { 0 };
	struct mad_sm_info si;
	struct mad_node_record nr;

	(void)state;
	d[7] = 0x20;			/* GUID 0x20 */
	d[16] = 0x00;
	d[17] = 0x01;
	d[18] = 0x02;
	d[19] = 0x03;			/* ActCount 0x10203 */
	d[20] = 0x53;			/* priority 5, master (3) */
	assert_int_equal(mad_sm_info_decode(d, SMP_DATA_SIZE, &si), 0);
	assert_int_equal(si.guid, 0x20);
	assert_int_equal(si.act_count, 0x10203);
	assert_int_equal(si.priority, 5);
	assert_int_equal(si.state, 3);

	memset(d, 0, sizeof(d));
	d[1] = 0x04;			/* LID 4 */
	d[4 + 2] = IB_NODE_CA;
	d[4 + 27] = 0x07;		/* port GUID 7 */
	d[4 + 29] = 0x40;		/* PartitionCap 64 */
	memcpy(d + 44, "hca4", 4);
	assert_int_equal(mad_node_record_decode(d, sizeof(d), &nr), 0);
	assert_int_equal(nr.lid, 4);
	assert_int_equal(nr.info.port_guid, 7);
	assert_int_equal(nr.info.partition_cap, 64);
	assert_string_equal(nr.desc, "hca4");
	assert_int_equal(mad_node_record_decode(d, 100, &nr), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smp_lid_pkey_table),
		cmocka_unit_test(test_pkey_attr_mod_switch_port),
		cmocka_unit_test(test_smp_dr),
		cmocka_unit_test(test_sa_node_record_get),
		cmocka_unit_test(test_hdr_decode),
		cmocka_unit_test(test_node_info_decode),
		cmocka_unit_test(test_port_info_decode),
		cmocka_unit_test(test_pkey_block),
		cmocka_unit_test(test_sm_info_and_node_record),
		cmocka_unit_test(test_perf_port_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
