/*
 * topology/topology.c: lookups into a loaded topology, freeing it, and GUID
 * text forms.  Loading and validation live in topology/load.c.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topology/delegation.h"
#include "topology/topology.h"

/* Every topology array starts with its name, so one comparator serves all. */
static int cmp_name_key(const void *key, const void *elem)
{
	return strcmp(key, elem);
}

#define FIND(arr, n, key) \
	((arr) && (key) ? bsearch((key), (arr), (n), sizeof(*(arr)), cmp_name_key) : NULL)

const struct topo_site *topology_site(const struct topology *t, const char *name)
{
	return FIND(t->sites, t->n_sites, name);
}

const struct topo_vtep *topology_vtep(const struct topology *t, const char *name)
{
	return FIND(t->vteps, t->n_vteps, name);
}

const struct topo_sm *topology_sm(const struct topology *t, const char *name)
{
	return FIND(t->sms, t->n_sms, name);
}

const struct topo_node *topology_node(const struct topology *t, const char *name)
{
	return FIND(t->nodes, t->n_nodes, name);
}

const struct topo_nic_port *topo_node_nic_port(const struct topo_node *n, const char *name)
{
	return FIND(n->nic_ports, n->n_nic_ports, name);
}

const struct topo_hca_port *topo_node_hca_port(const struct topo_node *n, const char *name)
{
	return FIND(n->hca_ports, n->n_hca_ports, name);
}

void topology_free(struct topology **topo)
{
	struct topology *t = *topo;

	if (!t)
		return;
	for (size_t i = 0; i < t->n_nodes; i++) {
		free(t->nodes[i].nic_ports);
		free(t->nodes[i].hca_ports);
		free(t->nodes[i].gpus);
	}
	free(t->nodes);
	free(t->sms);
	free(t->vteps);
	free(t->racks);
	free(t->sites);
	delegations_free(t);
	free(t);
	*topo = NULL;
}

int guid_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; *s; s++) {
		if (*s == ':' && digits % 4 == 0 && digits > 0)
			continue;
		if (!isxdigit((unsigned char)*s) || ++digits > 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)(isdigit((unsigned char)*s) ? *s - '0'
					   : (tolower((unsigned char)*s) - 'a' + 10));
	}
	if (digits == 0 || v == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

void guid_format(uint64_t guid, char buf[19])
{
	snprintf(buf, 19, "0x%016" PRIx64, guid);
}
