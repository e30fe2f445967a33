/*
 * tests/fuzz/fuzz_mad.c: libFuzzer target for MAD replies as loom reads
 * them (fabric/smt.c): the common header, then the attribute data of an
 * SMP (NodeInfo, PortInfo, SMInfo, a P_Key table block), of a PMA reply
 * (PortCounters) and of an SA reply (NodeRecord).  A short read is zero
 * padded to a whole MAD, as umad_recv's cleared buffer leaves it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fabric/mad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t mad[MAD_SIZE] = { 0 };
	uint16_t block[PKEY_BLOCK_ENTRIES];
	struct mad_hdr h;
	struct mad_node_info ni;
	struct mad_port_info pi;
	struct mad_sm_info si;
	struct mad_port_counters pc;
	struct mad_node_record nr;
	size_t len = size < MAD_SIZE ? size : MAD_SIZE;

	memcpy(mad, data, len);
	if (mad_hdr_decode(mad, len, &h) < 0)
		return 0;
	(void)mad_status_str(h.status);
	mad_node_info_decode(mad_smp_data(mad), SMP_DATA_SIZE, &ni);
	mad_port_info_decode(mad_smp_data(mad), SMP_DATA_SIZE, &pi);
	mad_sm_info_decode(mad_smp_data(mad), SMP_DATA_SIZE, &si);
	mad_pkey_block_decode(mad_smp_data(mad), SMP_DATA_SIZE, block);
	mad_port_counters_decode(mad_smp_data(mad), SMP_DATA_SIZE, &pc);
	mad_node_record_decode(mad_sa_data(mad), SA_DATA_SIZE, &nr);
	return 0;
}
