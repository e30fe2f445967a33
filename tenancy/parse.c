/*
 * tenancy/parse.c: tenants, segments and attachments from JSON and back.
 *
 * The parsers check each value on its own (types, ranges, formats) and name
 * the field at fault; whether a name exists or an ID is free is for the
 * model (tenancy/policy.c).  Unknown keys are refused so that a typo is
 * never silently ignored.  Type and format errors are LOOM_E_PARAMS, values
 * outside their range LOOM_E_RANGE; what is missing, unknown or of the
 * wrong type is worded by lib/param.h, as for the API's own parameters.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/param.h"
#include "tenancy/model.h"
#include "tenancy/model-private.h"

#define IB_MTU_DEFAULT 2048
#define ETH_MTU_DEFAULT 1500
#define MAX_LABELS 64
#define LABEL_VALUE_MAX 255

/*
 * Whole-Gb/s link rates OpenSM can express in a partition's rate= (the IB
 * path record rate codes 3..22 of its ib_types.h; 2.5 Gb/s is not whole).
 */
static const unsigned int ib_rates[] = { 5, 10, 14, 20, 25, 28, 30, 40, 50, 56, 60, 80, 100,
					 112, 120, 168, 200, 300, 400, 600 };

/* An integer in [min, max]; *present says whether the key was there. */
static int get_int(const json_t *obj, const char *key, json_int_t min, json_int_t max,
		   bool *present, json_int_t *out, struct loom_err *err)
{
	*present = json_object_get(obj, key) != NULL;
	return param_int(obj, key, min, max, out, err);
}

static int get_name(const json_t *obj, const char *key, char *out, size_t outlen,
		    struct loom_err *err)
{
	const char *s;
	int rc = param_string(obj, key, true, &s, err);

	if (rc)
		return rc;
	if (!name_is_valid(s) || strlen(s) >= outlen)
		return loom_err_set(err, LOOM_E_PARAMS, key,
				    "\"%s\" must be a lowercase DNS label (a-z, 0-9, '-', 1..63 "
				    "characters, not starting or ending with '-')", key);
	strcpy(out, s);
	return 0;
}

/* Names from the topology (nodes, ports): 1..63 printable bytes, no blanks. */
static bool ref_is_valid(const char *s, size_t outlen)
{
	size_t len = strlen(s);

	if (len == 0 || len >= outlen)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

int tenant_from_json(const json_t *obj, struct tenant *out, struct loom_err *err)
{
	static const char *const keys[] = { "name", "isolation", "sites", "labels", NULL };
	struct tenant t;
	const char *iso;
	json_t *sites, *labels, *v;
	const char *key;
	size_t i;
	int rc;

	memset(&t, 0, sizeof(t));
	if (!json_is_object(obj))
		return loom_err_set(err, LOOM_E_PARAMS, "", "a tenant must be a JSON object");
	if ((rc = params_only(obj, keys, err)))
		return rc;
	if ((rc = get_name(obj, "name", t.name, sizeof(t.name), err)))
		return rc;
	if ((rc = param_string(obj, "isolation", false, &iso, err)))
		return rc;
	if (iso && isolation_parse(iso, &t.isolation) < 0)
		return loom_err_set(err, LOOM_E_PARAMS, "isolation",
				    "isolation must be \"soft\", \"strict\" or \"private\", not \"%s\"", iso);

	sites = json_object_get(obj, "sites");
	if (sites && !json_is_array(sites))
		return loom_err_set(err, LOOM_E_PARAMS, "sites", "\"sites\" must be an array of site names");
	if (sites && json_array_size(sites) > LOOM_MAX_SITES)
		return loom_err_set(err, LOOM_E_RANGE, "sites", "at most %d sites", LOOM_MAX_SITES);
	json_array_foreach(sites, i, v) {
		char field[32];

		snprintf(field, sizeof(field), "sites[%zu]", i);
		if (!json_is_string(v) || !name_is_valid(json_string_value(v)))
			return loom_err_set(err, LOOM_E_PARAMS, field,
					    "a site must be a lowercase DNS label");
		for (size_t j = 0; j < t.n_sites; j++)
			if (strcmp(t.sites[j], json_string_value(v)) == 0)
				return loom_err_set(err, LOOM_E_PARAMS, field,
						    "site \"%s\" is listed twice", t.sites[j]);
		strcpy(t.sites[t.n_sites++], json_string_value(v));
	}
	qsort(t.sites, t.n_sites, sizeof(t.sites[0]), cmp_str);

	labels = json_object_get(obj, "labels");
	if (labels && !json_is_object(labels))
		return loom_err_set(err, LOOM_E_PARAMS, "labels",
				    "\"labels\" must be an object of string values");
	if (labels && json_object_size(labels) > MAX_LABELS)
		return loom_err_set(err, LOOM_E_RANGE, "labels", "at most %d labels", MAX_LABELS);
	json_object_foreach(labels, key, v) {
		char field[96];

		snprintf(field, sizeof(field), "labels.%s", key);
		if (!ref_is_valid(key, LOOM_NAME_MAX))
			return loom_err_set(err, LOOM_E_PARAMS, field,
					    "a label key is 1..63 printable characters without blanks");
		if (!json_is_string(v))
			return loom_err_set(err, LOOM_E_PARAMS, field, "a label value must be a string");
		if (strlen(json_string_value(v)) > LABEL_VALUE_MAX)
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "a label value is at most %d bytes", LABEL_VALUE_MAX);
	}
	t.labels = labels ? json_deep_copy(labels) : json_object();
	if (!t.labels)
		return -ENOMEM;
	*out = t;
	return 0;
}

/*
 * One subnet in canonical CIDR form.  The text is normalised (lowercase,
 * compressed IPv6); host bits must be zero because a segment's subnet
 * names a network, and a typo there is better caught than truncated.
 */
static int subnet_parse(const char *s, const char *field, int *family, char *out,
			size_t outlen, struct loom_err *err)
{
	char addr[LOOM_ADDR_MAX], *slash, *end;
	unsigned char bin[16];
	long plen;
	int af, bytes;

	if (strlen(s) >= sizeof(addr) || !(slash = strchr(s, '/')))
		return loom_err_set(err, LOOM_E_PARAMS, field,
				    "\"%s\" is not a subnet in CIDR form (e.g. 192.0.2.0/24)", s);
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, bin) == 1)
		af = AF_INET, bytes = 4;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		af = AF_INET6, bytes = 16;
	else
		return loom_err_set(err, LOOM_E_PARAMS, field,
				    "\"%s\" is not an IPv4 or IPv6 address", addr);
	if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
		return loom_err_set(err, LOOM_E_PARAMS, field, "\"%s\" has no valid prefix length", s);
	plen = strtol(slash + 1, &end, 10);
	if (*end)
		return loom_err_set(err, LOOM_E_PARAMS, field, "\"%s\" has no valid prefix length", s);
	if (plen < 1 || plen > bytes * 8)
		return loom_err_set(err, LOOM_E_RANGE, field,
				    "prefix length /%ld is outside /1../%d", plen, bytes * 8);
	for (int bit = (int)plen; bit < bytes * 8; bit++) {
		if (bin[bit / 8] & (0x80 >> (bit % 8))) {
			char net[LOOM_ADDR_MAX];

			for (int b = (int)plen; b < bytes * 8; b++)
				bin[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
			inet_ntop(af, bin, net, sizeof(net));
			return loom_err_set(err, LOOM_E_PARAMS, field,
					    "\"%s\" has host bits set; the network is %s/%ld", s, net, plen);
		}
	}
	inet_ntop(af, bin, addr, sizeof(addr));
	snprintf(out, outlen, "%s/%ld", addr, plen);
	*family = af;
	return 0;
}

static int subnets_parse(const json_t *v, struct segment *s, struct loom_err *err)
{
	const json_t *items[2];
	size_t n;

	if (json_is_string(v)) {
		items[0] = v;
		n = 1;
	} else if (json_is_array(v) && json_array_size(v) >= 1 && json_array_size(v) <= 2) {
		n = json_array_size(v);
		for (size_t i = 0; i < n; i++)
			items[i] = json_array_get(v, i);
	} else {
		return loom_err_set(err, LOOM_E_PARAMS, "subnet",
				    "\"subnet\" must be a CIDR string or an array of one IPv4 and one "
				    "IPv6 CIDR");
	}
	for (size_t i = 0; i < n; i++) {
		char field[32], text[LOOM_ADDR_MAX + 8];
		int af = AF_UNSPEC, rc;

		if (json_is_array(v))
			snprintf(field, sizeof(field), "subnet[%zu]", i);
		else
			snprintf(field, sizeof(field), "subnet");
		if (!json_is_string(items[i]))
			return loom_err_set(err, LOOM_E_PARAMS, field, "a subnet must be a string");
		rc = subnet_parse(json_string_value(items[i]), field, &af, text, sizeof(text), err);
		if (rc)
			return rc;
		if (strlen(text) >= LOOM_ADDR_MAX)
			return loom_err_set(err, LOOM_E_PARAMS, field, "subnet text too long");
		if ((af == AF_INET && s->subnet4[0]) || (af == AF_INET6 && s->subnet6[0]))
			return loom_err_set(err, LOOM_E_PARAMS, field,
					    "at most one IPv4 and one IPv6 subnet per segment");
		strcpy(af == AF_INET ? s->subnet4 : s->subnet6, text);
	}
	return 0;
}

/*
 * The anycast gateway: one address per subnet family, inside that subnet,
 * neither its network address nor (IPv4) its broadcast address, which no
 * host could use as its router.
 */
static int gateway_check(const char *addr, int af, const char *subnet, const char *field,
			 struct loom_err *err)
{
	unsigned char a[16], n[16];
	char net[LOOM_ADDR_MAX];
	const char *slash = strchr(subnet, '/');
	int bytes = af == AF_INET ? 4 : 16, plen;
	bool host_zero = true, host_ones = true;

	if (!subnet[0] || !slash)
		return loom_err_set(err, LOOM_E_PARAMS, field,
				    "gateway %s needs an %s subnet in \"subnet\" to lie in", addr,
				    af == AF_INET ? "IPv4" : "IPv6");
	memcpy(net, subnet, (size_t)(slash - subnet));
	net[slash - subnet] = '\0';
	plen = atoi(slash + 1);
	if (inet_pton(af, addr, a) != 1 || inet_pton(af, net, n) != 1)
		return loom_err_set(err, LOOM_E_PARAMS, field, "\"%s\" is not an address", addr);
	for (int bit = 0; bit < bytes * 8; bit++) {
		bool set = a[bit / 8] & (0x80 >> (bit % 8));

		if (bit < plen && set != !!(n[bit / 8] & (0x80 >> (bit % 8))))
			return loom_err_set(err, LOOM_E_PARAMS, field,
					    "gateway %s is not inside the segment's subnet %s", addr, subnet);
		if (bit >= plen) {
			host_zero &= !set;
			host_ones &= set;
		}
	}
	if (plen < bytes * 8 && (host_zero || (af == AF_INET && host_ones && plen < 31)))
		return loom_err_set(err, LOOM_E_PARAMS, field,
				    "gateway %s is the %s address of %s; give a host address", addr,
				    host_zero ? "network" : "broadcast", subnet);
	return 0;
}

static int gateways_parse(const json_t *v, struct segment *s, struct loom_err *err)
{
	const json_t *items[2];
	size_t n;

	if (json_is_string(v)) {
		items[0] = v;
		n = 1;
	} else if (json_is_array(v) && json_array_size(v) >= 1 && json_array_size(v) <= 2) {
		n = json_array_size(v);
		for (size_t i = 0; i < n; i++)
			items[i] = json_array_get(v, i);
	} else {
		return loom_err_set(err, LOOM_E_PARAMS, "gateway",
				    "\"gateway\" must be an address or an array of one IPv4 and one "
				    "IPv6 address");
	}
	for (size_t i = 0; i < n; i++) {
		char field[32], text[LOOM_ADDR_MAX];
		unsigned char bin[16];
		const char *txt;
		int af, rc;

		snprintf(field, sizeof(field), json_is_array(v) ? "gateway[%zu]" : "gateway", i);
		if (!json_is_string(items[i]))
			return loom_err_set(err, LOOM_E_PARAMS, field, "a gateway must be a string");
		txt = json_string_value(items[i]);
		if (strlen(txt) >= sizeof(text))
			return loom_err_set(err, LOOM_E_PARAMS, field, "\"%s\" is not an address", txt);
		if (inet_pton(AF_INET, txt, bin) == 1)
			af = AF_INET;
		else if (inet_pton(AF_INET6, txt, bin) == 1)
			af = AF_INET6;
		else
			return loom_err_set(err, LOOM_E_PARAMS, field,
					    "\"%s\" is not an IPv4 or IPv6 address (no prefix length: "
					    "the subnet gives it)", txt);
		inet_ntop(af, bin, text, sizeof(text));
		if ((af == AF_INET && s->gateway4[0]) || (af == AF_INET6 && s->gateway6[0]))
			return loom_err_set(err, LOOM_E_PARAMS, field,
					    "at most one IPv4 and one IPv6 gateway per segment");
		rc = gateway_check(text, af, af == AF_INET ? s->subnet4 : s->subnet6, field, err);
		if (rc)
			return rc;
		strcpy(af == AF_INET ? s->gateway4 : s->gateway6, text);
	}
	return 0;
}

/* A P_Key given as a number or as a "0x8001"-style string. */
static int pkey_parse(const json_t *v, uint16_t *out, struct loom_err *err)
{
	unsigned long val;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > 0xffff)
			return loom_err_set(err, LOOM_E_RANGE, "pkey",
					    "a P_Key is 16 bits; use 0x0001..0x7ffe");
		val = (unsigned long)json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if ((s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) || !s[2] || strlen(s) > 6 ||
		    s[2] == '-' || s[2] == '+' || s[2] == ' ')
			return loom_err_set(err, LOOM_E_PARAMS, "pkey",
					    "\"%s\" is not a P_Key; give a number or a hex string such "
					    "as \"0x0002\"", s);
		val = strtoul(s + 2, &end, 16);
		if (*end)
			return loom_err_set(err, LOOM_E_PARAMS, "pkey",
					    "\"%s\" is not a P_Key; give a number or a hex string such "
					    "as \"0x0002\"", s);
	} else {
		return loom_err_set(err, LOOM_E_PARAMS, "pkey",
				    "\"pkey\" must be a number or a hex string such as \"0x0002\"");
	}
	if (val == 0x0000)
		return loom_err_set(err, LOOM_E_RANGE, "pkey",
				    "0x0000 is the invalid P_Key; use 0x0001..0x7ffe");
	if (val == 0xffff || val == 0x7fff)
		return loom_err_set(err, LOOM_E_RANGE, "pkey",
				    "0x%04lx is the default partition, which OpenSM owns; use "
				    "0x0001..0x7ffe", val);
	if (val & 0x8000)
		return loom_err_set(err, LOOM_E_RANGE, "pkey",
				    "0x%04lx has the high bit set, which is the membership bit and "
				    "not part of the P_Key: give 0x%04lx and set \"membership\" to "
				    "\"full\"", val, val & 0x7fff);
	*out = (uint16_t)val;
	return 0;
}

static int membership_get(const json_t *obj, enum membership *out, struct loom_err *err)
{
	const char *s;
	int rc = param_string(obj, "membership", false, &s, err);

	if (rc || !s)
		return rc;
	if (strcmp(s, "default") == 0 || membership_parse(s, out) < 0)
		return loom_err_set(err, LOOM_E_PARAMS, "membership",
				    "membership must be \"full\" or \"limited\", not \"%s\"", s);
	return 0;
}

int segment_from_json(const json_t *obj, const char *tenant, struct segment *out,
		      struct loom_err *err)
{
	static const char *const keys[] = { "name", "tenant", "type", "vni", "mtu", "subnet",
					    "gateway", "pkey", "ipoib", "ib_mtu", "rate_gbps", "sl",
					    "membership", NULL };
	static const char *const eth_only[] = { "vni", "mtu", "subnet", "gateway" };
	static const char *const ib_only[] = { "pkey", "ipoib", "ib_mtu", "rate_gbps", "sl",
					       "membership" };
	const char *const *other;
	size_t n_other;
	struct segment s;
	const char *type, *owner;
	json_int_t v;
	bool present;
	json_t *j;
	int rc;

	memset(&s, 0, sizeof(s));
	if (!json_is_object(obj))
		return loom_err_set(err, LOOM_E_PARAMS, "", "a segment must be a JSON object");
	if ((rc = params_only(obj, keys, err)))
		return rc;
	if ((rc = get_name(obj, "name", s.name, sizeof(s.name), err)))
		return rc;
	if ((rc = param_string(obj, "tenant", false, &owner, err)))
		return rc;
	if (owner && tenant && strcmp(owner, tenant) != 0)
		return loom_err_set(err, LOOM_E_PARAMS, "tenant",
				    "the segment names tenant \"%s\" but belongs to \"%s\"", owner, tenant);
	if (!tenant)
		tenant = owner;
	if (!tenant || !name_is_valid(tenant) || strlen(tenant) >= sizeof(s.tenant))
		return loom_err_set(err, LOOM_E_PARAMS, "tenant",
				    "the segment needs its tenant's name (a lowercase DNS label)");
	strcpy(s.tenant, tenant);
	if ((rc = param_string(obj, "type", true, &type, err)))
		return rc;
	if (seg_type_parse(type, &s.type) < 0)
		return loom_err_set(err, LOOM_E_PARAMS, "type",
				    "type must be \"ethernet\" or \"infiniband\", not \"%s\"", type);

	other = s.type == SEG_ETHERNET ? ib_only : eth_only;
	n_other = s.type == SEG_ETHERNET ? sizeof(ib_only) / sizeof(ib_only[0])
					 : sizeof(eth_only) / sizeof(eth_only[0]);
	for (size_t i = 0; i < n_other; i++)
		if (json_object_get(obj, other[i]))
			return loom_err_set(err, LOOM_E_PARAMS, other[i],
					    "\"%s\" belongs to %s segments; this one is %s", other[i],
					    s.type == SEG_ETHERNET ? "infiniband" : "ethernet", type);

	if (s.type == SEG_ETHERNET) {
		if ((rc = get_int(obj, "vni", 1, 16777215, &present, &v, err)))
			return rc;
		s.vni = present ? (uint32_t)v : 0;
		if ((rc = get_int(obj, "mtu", 576, 9216, &present, &v, err)))
			return rc;
		s.mtu = present ? (unsigned int)v : ETH_MTU_DEFAULT;
		if ((j = json_object_get(obj, "subnet")) && (rc = subnets_parse(j, &s, err)))
			return rc;
		if ((j = json_object_get(obj, "gateway")) && (rc = gateways_parse(j, &s, err)))
			return rc;
	} else {
		if ((j = json_object_get(obj, "pkey")) && (rc = pkey_parse(j, &s.pkey, err)))
			return rc;
		j = json_object_get(obj, "ipoib");
		if (j && !json_is_boolean(j))
			return loom_err_set(err, LOOM_E_PARAMS, "ipoib", "\"ipoib\" must be true or false");
		s.ipoib = j && json_is_true(j);
		if ((rc = get_int(obj, "ib_mtu", 0, 65536, &present, &v, err)))
			return rc;
		s.ib_mtu = present ? (unsigned int)v : IB_MTU_DEFAULT;
		if (s.ib_mtu != 256 && s.ib_mtu != 512 && s.ib_mtu != 1024 && s.ib_mtu != 2048 &&
		    s.ib_mtu != 4096)
			return loom_err_set(err, LOOM_E_RANGE, "ib_mtu",
					    "ib_mtu must be 256, 512, 1024, 2048 or 4096, not %u", s.ib_mtu);
		if ((rc = get_int(obj, "rate_gbps", 0, 100000, &present, &v, err)))
			return rc;
		s.rate_gbps = present ? (unsigned int)v : 0;
		if (s.rate_gbps) {
			size_t i;

			for (i = 0; i < sizeof(ib_rates) / sizeof(ib_rates[0]); i++)
				if (ib_rates[i] == s.rate_gbps)
					break;
			if (i == sizeof(ib_rates) / sizeof(ib_rates[0]))
				return loom_err_set(err, LOOM_E_RANGE, "rate_gbps",
						    "%u Gb/s is not an InfiniBand rate OpenSM can set; use "
						    "one of 5, 10, 14, 20, 25, 28, 30, 40, 50, 56, 60, 80, "
						    "100, 112, 120, 168, 200, 300, 400, 600 (or 0 for the "
						    "default)", s.rate_gbps);
		}
		if ((rc = get_int(obj, "sl", 0, 15, &present, &v, err)))
			return rc;
		s.sl = present ? (unsigned int)v : 0;
		s.default_membership = MEMBERSHIP_FULL;
		if ((rc = membership_get(obj, &s.default_membership, err)))
			return rc;
	}
	*out = s;
	return 0;
}

/* "vlan": 1..4094 or "auto"; absent: 0 (the whole port). */
static int vlan_get(const json_t *obj, uint16_t *out, struct loom_err *err)
{
	const json_t *v = json_object_get(obj, "vlan");

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v) && !strcmp(json_string_value(v), "auto")) {
		*out = LOOM_VLAN_AUTO;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < LOOM_VLAN_MIN ||
	    json_integer_value(v) > LOOM_VLAN_MAX)
		return loom_err_set(err, LOOM_E_PARAMS, "vlan",
				    "\"vlan\" must be a VLAN ID %d..%d or \"auto\"", LOOM_VLAN_MIN,
				    LOOM_VLAN_MAX);
	*out = (uint16_t)json_integer_value(v);
	return 0;
}

int attachment_parse_fields(const json_t *obj, bool with_segment, struct attachment *out,
			    struct loom_err *err)
{
	static const char *const keys[] = { "node", "port", "membership", "vlan", "segment", NULL };
	static const char *const keys_in_segment[] = { "node", "port", "membership", "vlan", NULL };
	struct attachment a;
	const char *s;
	int rc;

	memset(&a, 0, sizeof(a));
	if (!json_is_object(obj))
		return loom_err_set(err, LOOM_E_PARAMS, "", "an attachment must be a JSON object");
	if ((rc = params_only(obj, with_segment ? keys : keys_in_segment, err)))
		return rc;
	if (with_segment) {
		const char *slash;

		if ((rc = param_string(obj, "segment", true, &s, err)))
			return rc;
		slash = strchr(s, '/');
		if (!slash || (size_t)(slash - s) >= sizeof(a.tenant) ||
		    strlen(slash + 1) >= sizeof(a.segment))
			return loom_err_set(err, LOOM_E_PARAMS, "segment",
					    "\"segment\" must be \"TENANT/SEGMENT\", not \"%s\"", s);
		memcpy(a.tenant, s, (size_t)(slash - s));
		a.tenant[slash - s] = '\0';
		strcpy(a.segment, slash + 1);
		if (!name_is_valid(a.tenant) || !name_is_valid(a.segment))
			return loom_err_set(err, LOOM_E_PARAMS, "segment",
					    "\"segment\" must be \"TENANT/SEGMENT\" with two lowercase "
					    "DNS labels, not \"%s\"", s);
	}
	if ((rc = param_string(obj, "node", true, &s, err)))
		return rc;
	if (!ref_is_valid(s, sizeof(a.node)))
		return loom_err_set(err, LOOM_E_PARAMS, "node",
				    "\"node\" must be a node name from the topology (1..63 characters)");
	strcpy(a.node, s);
	if ((rc = param_string(obj, "port", false, &s, err)))
		return rc;
	if (s && !ref_is_valid(s, sizeof(a.port)))
		return loom_err_set(err, LOOM_E_PARAMS, "port",
				    "\"port\" must be a port name from the topology (1..63 characters)");
	if (s)
		strcpy(a.port, s);
	a.membership = MEMBERSHIP_DEFAULT;
	if ((rc = membership_get(obj, &a.membership, err)))
		return rc;
	if ((rc = vlan_get(obj, &a.vlan, err)))
		return rc;
	*out = a;
	return 0;
}

int attachment_from_json(const json_t *obj, struct attachment *out, struct loom_err *err)
{
	return attachment_parse_fields(obj, true, out, err);
}

json_t *tenant_to_json(const struct tenant *t)
{
	json_t *o = json_object(), *sites = json_array();

	if (!o || !sites)
		goto fail;
	for (size_t i = 0; i < t->n_sites; i++)
		if (json_array_append_new(sites, json_string(t->sites[i])))
			goto fail;
	if (json_object_set_new(o, "name", json_string(t->name)) ||
	    json_object_set_new(o, "isolation", json_string(isolation_name(t->isolation))) ||
	    json_object_set_new(o, "sites", sites) ||
	    json_object_set_new(o, "labels", t->labels ? json_deep_copy(t->labels) : json_object()))
		goto fail_o;
	return o;
fail:
	json_decref(sites);
fail_o:
	json_decref(o);
	return NULL;
}

json_t *segment_to_json(const struct segment *s)
{
	json_t *o = json_object();
	int bad = 0;

	if (!o)
		return NULL;
	bad |= json_object_set_new(o, "tenant", json_string(s->tenant));
	bad |= json_object_set_new(o, "name", json_string(s->name));
	bad |= json_object_set_new(o, "type", json_string(seg_type_name(s->type)));
	if (s->type == SEG_ETHERNET) {
		json_t *sub = NULL;

		bad |= json_object_set_new(o, "vni", json_integer(s->vni));
		bad |= json_object_set_new(o, "mtu", json_integer(s->mtu));
		if (s->subnet4[0] && s->subnet6[0])
			sub = json_pack("[ss]", s->subnet4, s->subnet6);
		else if (s->subnet4[0] || s->subnet6[0])
			sub = json_string(s->subnet4[0] ? s->subnet4 : s->subnet6);
		if (sub)
			bad |= json_object_set_new(o, "subnet", sub);
		sub = NULL;
		if (s->gateway4[0] && s->gateway6[0])
			sub = json_pack("[ss]", s->gateway4, s->gateway6);
		else if (s->gateway4[0] || s->gateway6[0])
			sub = json_string(s->gateway4[0] ? s->gateway4 : s->gateway6);
		if (sub)
			bad |= json_object_set_new(o, "gateway", sub);
		bad |= json_object_set_new(o, "rd", json_string(s->rd));
		bad |= json_object_set_new(o, "rt", json_string(s->rt));
	} else {
		/* A number, like every other ID in the API; loomctl prints it in hex. */
		bad |= json_object_set_new(o, "pkey", json_integer(s->pkey));
		bad |= json_object_set_new(o, "ipoib", json_boolean(s->ipoib));
		bad |= json_object_set_new(o, "ib_mtu", json_integer(s->ib_mtu));
		bad |= json_object_set_new(o, "rate_gbps", json_integer(s->rate_gbps));
		bad |= json_object_set_new(o, "sl", json_integer(s->sl));
		bad |= json_object_set_new(o, "membership",
					   json_string(membership_name(s->default_membership == MEMBERSHIP_DEFAULT
								       ? MEMBERSHIP_FULL
								       : s->default_membership)));
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *attachment_to_json(const struct attachment *a)
{
	json_t *o = json_object();
	char seg[2 * LOOM_NAME_MAX];
	int bad = 0;

	if (!o)
		return NULL;
	snprintf(seg, sizeof(seg), "%s/%s", a->tenant, a->segment);
	bad |= json_object_set_new(o, "segment", json_string(seg));
	bad |= json_object_set_new(o, "node", json_string(a->node));
	if (a->port[0])
		bad |= json_object_set_new(o, "port", json_string(a->port));
	if (a->membership != MEMBERSHIP_DEFAULT)
		bad |= json_object_set_new(o, "membership", json_string(membership_name(a->membership)));
	if (a->vlan == LOOM_VLAN_AUTO)
		bad |= json_object_set_new(o, "vlan", json_string("auto"));
	else if (a->vlan)
		bad |= json_object_set_new(o, "vlan", json_integer(a->vlan));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
