/*
 * fabric/mad.h: InfiniBand management datagrams, encoded and decoded by
 * hand.  Pure: byte buffers in, byte buffers or structs out; nothing here
 * touches a device, so every offset is tested on buffers (tests/unit/
 * test_mad.c).  Offsets follow the IBTA specification, vol. 1, chapters
 * 13.4 (MAD header), 14.2.1 (SMP formats), 14.2.5 (NodeInfo, PortInfo,
 * P_KeyTable, SMInfo) and 15.2 (SA header, NodeRecord).  Everything on the
 * wire is big-endian.
 */
#ifndef LOOM_FABRIC_MAD_H
#define LOOM_FABRIC_MAD_H

#include <stddef.h>
#include <stdint.h>

#define MAD_SIZE 256			/* every MAD is 256 bytes */
#define MAD_HDR_SIZE 24			/* common header */
#define SMP_DATA_OFF 64			/* SMP attribute data */
#define SMP_DATA_SIZE 64
#define SMP_DR_INITPATH_OFF 128		/* directed route: initial path */
#define SMP_DR_RETPATH_OFF 192
#define SMP_DR_MAX_HOPS 63
#define SA_DATA_OFF 56			/* after MAD, RMPP and SA headers */
#define SA_DATA_SIZE 200

#define MAD_BASE_VERSION 1
#define MAD_CLASS_SMI 0x01		/* LID-routed SMP */
#define MAD_CLASS_SMI_DR 0x81		/* directed-route SMP */
#define MAD_CLASS_SA 0x03
#define MAD_CLASS_PERF 0x04		/* Performance Management (GMP, QP1) */
#define MAD_CLASS_VERSION_PERF 1
#define MAD_CLASS_VERSION_SMI 1
#define MAD_CLASS_VERSION_SA 2

#define MAD_METHOD_GET 0x01
#define MAD_METHOD_SET 0x02
#define MAD_METHOD_GET_RESP 0x81

#define MAD_ATTR_NODE_INFO 0x0011	/* also the SA NodeRecord attribute ID */
#define MAD_ATTR_PORT_INFO 0x0015
#define MAD_ATTR_PKEY_TABLE 0x0016
#define MAD_ATTR_SM_INFO 0x0020
#define MAD_ATTR_PORT_COUNTERS 0x0012	/* PerfMgt class */
#define PERF_DATA_OFF 64		/* after the MAD header and 40 reserved bytes */
#define PERF_DATA_SIZE 192

#define PKEY_BLOCK_ENTRIES 32		/* P_Keys per P_KeyTable block */
#define PKEY_FULL_BIT 0x8000		/* membership bit: set = full member */
#define PKEY_BASE_MASK 0x7fff

/* SA NodeRecord component mask bits (IBTA 15.2.5.2). */
#define SA_NR_COMP_LID (1ULL << 0)
#define SA_NR_COMP_PORT_GUID (1ULL << 8)

#define IB_NODE_CA 1
#define IB_NODE_SWITCH 2
#define IB_NODE_ROUTER 3

/* The MAD status field: bits 2..4 carry the "invalid field" reasons. */
#define MAD_STATUS_BUSY 0x0001
#define MAD_STATUS_REDIRECT 0x0002
#define MAD_STATUS_INVALID_MASK 0x001c
#define SA_STATUS_NO_RECORDS 0x0300	/* ERR_NO_RECORDS, class specific */
#define SA_STATUS_TOO_MANY 0x0400	/* ERR_REQ_TOO_MANY_RECORDS */

struct mad_hdr {
	uint8_t base_version;
	uint8_t mgmt_class;
	uint8_t class_version;
	uint8_t method;
	uint16_t status;		/* for DR SMPs the D bit is stripped */
	uint16_t class_specific;
	uint64_t tid;
	uint16_t attr_id;
	uint32_t attr_mod;
};

struct mad_node_info {
	uint8_t node_type;		/* IB_NODE_* */
	uint8_t num_ports;
	uint64_t sys_guid;
	uint64_t node_guid;
	uint64_t port_guid;
	uint16_t partition_cap;		/* P_Key table entries per port */
	uint16_t device_id;
	uint32_t revision;
	uint8_t local_port;
	uint32_t vendor_id;		/* 24 bits */
};

struct mad_port_info {
	uint64_t gid_prefix;
	uint16_t lid;
	uint16_t sm_lid;
	uint32_t cap_mask;
	uint8_t local_port;
	uint8_t link_width_active;
	uint8_t port_state;		/* 1 down, 2 init, 3 armed, 4 active */
	uint8_t phys_state;
	uint8_t lmc;
	uint8_t link_speed_active;
	uint8_t neighbor_mtu;
};

struct mad_sm_info {
	uint64_t guid;
	uint32_t act_count;
	uint8_t priority;
	uint8_t state;			/* 3 = master */
};

/* PerfMgt PortCounters (IBTA 16.1.3.5): the error counters loom watches. */
struct mad_port_counters {
	uint8_t port_select;
	uint16_t symbol_errors;		/* SymbolErrorCounter */
	uint8_t link_recovery;		/* LinkErrorRecoveryCounter */
	uint8_t link_downed;		/* LinkDownedCounter */
	uint16_t rcv_errors;		/* PortRcvErrors */
};

struct mad_node_record {
	uint16_t lid;
	struct mad_node_info info;
	char desc[65];
};

/*
 * Encoders write one whole MAD into @buf and return MAD_SIZE, or 0 when
 * @size is too small.  @data (may be NULL) is copied into the attribute
 * data area and must fit it.
 */
size_t mad_smp_lid_encode(uint8_t *buf, size_t size, uint8_t method,
			  uint16_t attr_id, uint32_t attr_mod, uint64_t tid,
			  const void *data, size_t data_len);
/* @path[0] is unused (the SMP's own port), @path[1..hops] the out ports. */
size_t mad_smp_dr_encode(uint8_t *buf, size_t size, uint8_t method,
			 uint16_t attr_id, uint32_t attr_mod, uint64_t tid,
			 const uint8_t *path, unsigned int hops);
/* SubnAdmGet(NodeRecord) matching one port GUID. */
size_t mad_sa_node_record_get_encode(uint8_t *buf, size_t size, uint64_t tid,
				     uint64_t port_guid);

/* PerfMgt Get(PortCounters) of port @port_select (a CA port's number). */
size_t mad_perf_port_counters_encode(uint8_t *buf, size_t size, uint64_t tid,
				     uint8_t port_select);

/* The P_KeyTable attribute modifier: block in bits 0..15, switch port above. */
static inline uint32_t mad_pkey_attr_mod(unsigned int block, unsigned int switch_port)
{
	return (uint32_t)(block & 0xffff) | ((uint32_t)(switch_port & 0xffff) << 16);
}

/*
 * Decoders check lengths and versions and return 0 or -EBADMSG (short or
 * malformed buffer), -EPROTO (wrong base version).  A received MAD may be
 * shorter than 256 bytes (an SA answer is its header and one record);
 * mad_hdr_decode needs the 24-byte header only.
 */
int mad_hdr_decode(const uint8_t *buf, size_t len, struct mad_hdr *out);
int mad_node_info_decode(const uint8_t *data, size_t len, struct mad_node_info *out);
int mad_port_info_decode(const uint8_t *data, size_t len, struct mad_port_info *out);
int mad_sm_info_decode(const uint8_t *data, size_t len, struct mad_sm_info *out);
/* One block: PKEY_BLOCK_ENTRIES host-order P_Keys into @out. */
int mad_pkey_block_decode(const uint8_t *data, size_t len,
			  uint16_t out[PKEY_BLOCK_ENTRIES]);
int mad_node_record_decode(const uint8_t *data, size_t len, struct mad_node_record *out);
/* The PortCounters attribute (from PERF_DATA_OFF); needs its first 10 bytes. */
int mad_port_counters_decode(const uint8_t *data, size_t len, struct mad_port_counters *out);

/* The inverse of the decoders, for tests and the simulator-free paths. */
void mad_pkey_block_encode(uint8_t *data, const uint16_t in[PKEY_BLOCK_ENTRIES]);
void mad_node_info_encode(uint8_t *data, const struct mad_node_info *in);

/* The attribute data of an SMP / of an SA response. */
static inline const uint8_t *mad_smp_data(const uint8_t *mad) { return mad + SMP_DATA_OFF; }
static inline const uint8_t *mad_sa_data(const uint8_t *mad) { return mad + SA_DATA_OFF; }

/* Readable text for a MAD status, e.g. "invalid attribute/modifier". */
const char *mad_status_str(uint16_t status);

#endif
