/*
 * fabric/mad.c: encoders and decoders for the few MADs loom sends (SMPs for
 * NodeInfo, PortInfo, P_KeyTable and SMInfo; the SA NodeRecord query) with
 * the offsets written out here rather than taken from OpenSM's headers, so
 * that the unit tests pin each one.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "fabric/mad.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)get16(p) << 16) | get16(p + 2);
}

static uint64_t get64(const uint8_t *p)
{
	return ((uint64_t)get32(p) << 32) | get32(p + 4);
}

static void hdr_encode(uint8_t *buf, uint8_t mgmt_class, uint8_t class_version,
		       uint8_t method, uint64_t tid, uint16_t attr_id, uint32_t attr_mod)
{
	memset(buf, 0, MAD_SIZE);
	buf[0] = MAD_BASE_VERSION;
	buf[1] = mgmt_class;
	buf[2] = class_version;
	buf[3] = method;
	put64(buf + 8, tid);
	put16(buf + 16, attr_id);
	put32(buf + 20, attr_mod);
}

size_t mad_smp_lid_encode(uint8_t *buf, size_t size, uint8_t method,
			  uint16_t attr_id, uint32_t attr_mod, uint64_t tid,
			  const void *data, size_t data_len)
{
	if (size < MAD_SIZE || data_len > SMP_DATA_SIZE)
		return 0;
	hdr_encode(buf, MAD_CLASS_SMI, MAD_CLASS_VERSION_SMI, method, tid,
		   attr_id, attr_mod);
	/* M_Key at 24 stays 0: loom reads, and OpenSM's default M_Key is 0. */
	if (data && data_len)
		memcpy(buf + SMP_DATA_OFF, data, data_len);
	return MAD_SIZE;
}

size_t mad_perf_port_counters_encode(uint8_t *buf, size_t size, uint64_t tid,
				     uint8_t port_select)
{
	if (size < MAD_SIZE)
		return 0;
	hdr_encode(buf, MAD_CLASS_PERF, MAD_CLASS_VERSION_PERF, MAD_METHOD_GET, tid,
		   MAD_ATTR_PORT_COUNTERS, 0);
	/* CounterSelect stays 0: a Get reads, only a Set would clear. */
	buf[PERF_DATA_OFF + 1] = port_select;
	return MAD_SIZE;
}

size_t mad_smp_dr_encode(uint8_t *buf, size_t size, uint8_t method,
			 uint16_t attr_id, uint32_t attr_mod, uint64_t tid,
			 const uint8_t *path, unsigned int hops)
{
	if (size < MAD_SIZE || hops > SMP_DR_MAX_HOPS)
		return 0;
	hdr_encode(buf, MAD_CLASS_SMI_DR, MAD_CLASS_VERSION_SMI, method, tid,
		   attr_id, attr_mod);
	/* D bit 0 (outbound), hop pointer 0, hop count. */
	buf[6] = 0;
	buf[7] = (uint8_t)hops;
	/* DrSLID and DrDLID are the permissive LID: the whole route is directed. */
	put16(buf + 32, 0xffff);
	put16(buf + 34, 0xffff);
	for (unsigned int i = 1; i <= hops; i++)
		buf[SMP_DR_INITPATH_OFF + i] = path[i];
	return MAD_SIZE;
}

size_t mad_sa_node_record_get_encode(uint8_t *buf, size_t size, uint64_t tid,
				     uint64_t port_guid)
{
	if (size < MAD_SIZE)
		return 0;
	hdr_encode(buf, MAD_CLASS_SA, MAD_CLASS_VERSION_SA, MAD_METHOD_GET, tid,
		   MAD_ATTR_NODE_INFO, 0);
	/* RMPP header (24..35) stays zero: a Get is one MAD.  SM_Key 0. */
	put64(buf + 48, SA_NR_COMP_PORT_GUID);
	/* NodeRecord: LID(2) reserved(2) NodeInfo(40): PortGUID at 4 + 20. */
	put64(buf + SA_DATA_OFF + 4 + 20, port_guid);
	return MAD_SIZE;
}

int mad_hdr_decode(const uint8_t *buf, size_t len, struct mad_hdr *out)
{
	if (len < MAD_HDR_SIZE)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->base_version = buf[0];
	out->mgmt_class = buf[1];
	out->class_version = buf[2];
	out->method = buf[3];
	out->status = get16(buf + 4);
	if (out->mgmt_class == MAD_CLASS_SMI_DR)
		out->status &= 0x7fff;	/* the top bit is the direction */
	out->class_specific = get16(buf + 6);
	out->tid = get64(buf + 8);
	out->attr_id = get16(buf + 16);
	out->attr_mod = get32(buf + 20);
	if (out->base_version != MAD_BASE_VERSION)
		return -EPROTO;
	return 0;
}

int mad_node_info_decode(const uint8_t *d, size_t len, struct mad_node_info *out)
{
	if (len < 40)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->node_type = d[2];
	out->num_ports = d[3];
	out->sys_guid = get64(d + 4);
	out->node_guid = get64(d + 12);
	out->port_guid = get64(d + 20);
	out->partition_cap = get16(d + 28);
	out->device_id = get16(d + 30);
	out->revision = get32(d + 32);
	out->local_port = d[36];
	out->vendor_id = ((uint32_t)d[37] << 16) | ((uint32_t)d[38] << 8) | d[39];
	if (out->node_type < IB_NODE_CA || out->node_type > IB_NODE_ROUTER)
		return -EBADMSG;
	return 0;
}

void mad_node_info_encode(uint8_t *d, const struct mad_node_info *in)
{
	memset(d, 0, 40);
	d[0] = MAD_BASE_VERSION;
	d[1] = MAD_CLASS_VERSION_SMI;
	d[2] = in->node_type;
	d[3] = in->num_ports;
	put64(d + 4, in->sys_guid);
	put64(d + 12, in->node_guid);
	put64(d + 20, in->port_guid);
	put16(d + 28, in->partition_cap);
	put16(d + 30, in->device_id);
	put32(d + 32, in->revision);
	d[36] = in->local_port;
	d[37] = (uint8_t)(in->vendor_id >> 16);
	d[38] = (uint8_t)(in->vendor_id >> 8);
	d[39] = (uint8_t)in->vendor_id;
}

int mad_port_info_decode(const uint8_t *d, size_t len, struct mad_port_info *out)
{
	if (len < 37)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->gid_prefix = get64(d + 8);
	out->lid = get16(d + 16);
	out->sm_lid = get16(d + 18);
	out->cap_mask = get32(d + 20);
	out->local_port = d[28];
	out->link_width_active = d[31];
	out->port_state = d[32] & 0x0f;
	out->phys_state = d[33] >> 4;
	out->lmc = d[34] & 0x07;
	out->link_speed_active = d[35] >> 4;
	out->neighbor_mtu = d[36] >> 4;
	return 0;
}

int mad_port_counters_decode(const uint8_t *d, size_t len, struct mad_port_counters *out)
{
	if (len < 10)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->port_select = d[1];
	out->symbol_errors = get16(d + 4);
	out->link_recovery = d[6];
	out->link_downed = d[7];
	out->rcv_errors = get16(d + 8);
	return 0;
}

int mad_sm_info_decode(const uint8_t *d, size_t len, struct mad_sm_info *out)
{
	if (len < 21)
		return -EBADMSG;
	out->guid = get64(d);
	/* d + 8: SM_Key, not needed to watch sweeps. */
	out->act_count = get32(d + 16);
	out->priority = d[20] >> 4;
	out->state = d[20] & 0x0f;
	return 0;
}

int mad_pkey_block_decode(const uint8_t *d, size_t len, uint16_t out[PKEY_BLOCK_ENTRIES])
{
	if (len < PKEY_BLOCK_ENTRIES * 2)
		return -EBADMSG;
	for (unsigned int i = 0; i < PKEY_BLOCK_ENTRIES; i++)
		out[i] = get16(d + 2 * i);
	return 0;
}

void mad_pkey_block_encode(uint8_t *d, const uint16_t in[PKEY_BLOCK_ENTRIES])
{
	for (unsigned int i = 0; i < PKEY_BLOCK_ENTRIES; i++)
		put16(d + 2 * i, in[i]);
}

int mad_node_record_decode(const uint8_t *d, size_t len, struct mad_node_record *out)
{
	int rc;

	if (len < 108)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->lid = get16(d);
	rc = mad_node_info_decode(d + 4, 40, &out->info);
	if (rc < 0)
		return rc;
	memcpy(out->desc, d + 44, 64);
	out->desc[64] = '\0';
	return 0;
}

const char *mad_status_str(uint16_t status)
{
	if (status == 0)
		return "success";
	if (status == SA_STATUS_NO_RECORDS)
		return "no records";
	if (status == SA_STATUS_TOO_MANY)
		return "too many records";
	if (status & MAD_STATUS_BUSY)
		return "busy";
	if (status & MAD_STATUS_REDIRECT)
		return "redirect required";
	switch ((status & MAD_STATUS_INVALID_MASK) >> 2) {
	case 1: return "bad version";
	case 2: return "unsupported method";
	case 3: return "unsupported method/attribute";
	case 7: return "invalid attribute or modifier";
	default: return "error";
	}
}
