/*
 * topology/load.c: reading the inventory from JSON, validating every field
 * and every cross-reference, and writing it back as normalised JSON.
 *
 * Validation stops at the first problem and names it by its JSON path
 * (err->field), so an operator can go straight to the offending value.
 * Scalars are described by small field tables; what cannot be said in a
 * table (uniqueness, references, a rack's site) is checked in code after
 * each array is read.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "topology/delegation.h"
#include "topology/topology.h"

#define PATH_LEN sizeof(((struct loom_err *)0)->field)

static int fail(struct loom_err *err, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct loom_err *err, const char *path, const char *fmt, ...)
{
	char msg[sizeof(err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return loom_err_set(err, LOOM_E_TOPOLOGY, path, "%s", msg);
}

static int fail_nomem(struct loom_err *err)
{
	loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory while loading the topology");
	return -ENOMEM;
}

/* ---- value checks ------------------------------------------------------ */

/* RFC 1123 label, lowercase only: names end up in device names and logs. */
bool topology_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= LOOM_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Port names ("mlx5_0/1", "eth0", "enp1s0f0") and labels; labels lack '/'. */
static bool chars_ok(const char *s, size_t max, bool slash)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == ':' || c == '-' || (slash && c == '/'))
			continue;
		return false;
	}
	return true;
}

/* What the kernel's dev_valid_name() accepts. */
static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= LOOM_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static bool printable_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* "aa:bb:cc:dd:ee:ff" in either case; written back in lowercase. */
static int mac_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 17; i++) {
		char c = s[i];

		if (i % 3 == 2) {
			if (c != ':')
				return -EINVAL;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v << 4 | (uint64_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static void mac_format(uint64_t v, char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
		 (unsigned int)(v >> 40 & 0xff), (unsigned int)(v >> 32 & 0xff),
		 (unsigned int)(v >> 24 & 0xff), (unsigned int)(v >> 16 & 0xff),
		 (unsigned int)(v >> 8 & 0xff), (unsigned int)(v & 0xff));
}

/* ---- field tables ------------------------------------------------------ */

enum fkind {
	F_NAME,		/* DNS label, char[LOOM_NAME_MAX] */
	F_PORT,		/* port name, char[] */
	F_LABEL,	/* port-name characters without '/', char[] */
	F_TEXT,		/* any printable text, char[] */
	F_PATH,		/* a file or directory, char[] */
	F_IPV4,		/* char[LOOM_ADDR_MAX] */
	F_MAC,		/* char[18] */
	F_IFNAME,	/* char[LOOM_IFNAME_MAX] */
	F_GUID,		/* uint64_t */
	F_UINT,		/* uint16_t or uint32_t / unsigned int / int, by size */
	F_BOOL,		/* bool */
	F_MODE,		/* enum vtep_mode */
	F_ARRAY,	/* read by the caller; listed so the key is known */
};

struct field {
	const char *key;
	enum fkind kind;
	bool required;
	size_t off;
	size_t size;
	long long min, max;	/* F_UINT */
};

#define AT(type, member) offsetof(struct type, member), sizeof(((struct type *)0)->member)

static const struct field site_fields[] = {
	{ "name", F_NAME, true, AT(topo_site, name), 0, 0 },
	{ "gateway_mac", F_MAC, false, AT(topo_site, gateway_mac), 0, 0 },
};

static const struct field rack_fields[] = {
	{ "name", F_NAME, true, AT(topo_rack, name), 0, 0 },
	{ "site", F_NAME, true, AT(topo_rack, site), 0, 0 },
};

static const struct field vtep_fields[] = {
	{ "name", F_NAME, true, AT(topo_vtep, name), 0, 0 },
	{ "site", F_NAME, true, AT(topo_vtep, site), 0, 0 },
	{ "vtep_ip", F_IPV4, true, AT(topo_vtep, vtep_ip), 0, 0 },
	{ "asn", F_UINT, true, AT(topo_vtep, asn), 1, 4294967295LL },
	{ "vty_dir", F_PATH, true, AT(topo_vtep, vty_dir), 0, 0 },
	{ "netns", F_LABEL, false, AT(topo_vtep, netns), 0, 0 },
	{ "mode", F_MODE, false, AT(topo_vtep, mode), 0, 0 },
};

static const struct field sm_fields[] = {
	{ "name", F_NAME, true, AT(topo_sm, name), 0, 0 },
	{ "site", F_NAME, true, AT(topo_sm, site), 0, 0 },
	{ "partitions_file", F_PATH, true, AT(topo_sm, partitions_file), 0, 0 },
	{ "pid_file", F_PATH, true, AT(topo_sm, pid_file), 0, 0 },
	{ "umad_ca", F_LABEL, false, AT(topo_sm, umad_ca), 0, 0 },
	{ "umad_port", F_UINT, false, AT(topo_sm, umad_port), 0, 254 },
};

static const struct field node_fields[] = {
	{ "name", F_NAME, true, AT(topo_node, name), 0, 0 },
	{ "site", F_NAME, true, AT(topo_node, site), 0, 0 },
	{ "rack", F_NAME, false, AT(topo_node, rack), 0, 0 },
	{ "nic_ports", F_ARRAY, false, 0, 0, 0, 0 },
	{ "hca_ports", F_ARRAY, false, 0, 0, 0, 0 },
	{ "gpus", F_ARRAY, false, 0, 0, 0, 0 },
};

static const struct field nic_fields[] = {
	{ "name", F_PORT, true, AT(topo_nic_port, name), 0, 0 },
	{ "mac", F_MAC, true, AT(topo_nic_port, mac), 0, 0 },
	{ "vtep", F_NAME, true, AT(topo_nic_port, vtep), 0, 0 },
	{ "access_port", F_IFNAME, true, AT(topo_nic_port, access_port), 0, 0 },
	{ "rail", F_LABEL, false, AT(topo_nic_port, rail), 0, 0 },
};

static const struct field hca_fields[] = {
	{ "name", F_PORT, true, AT(topo_hca_port, name), 0, 0 },
	{ "guid", F_GUID, true, AT(topo_hca_port, guid), 0, 0 },
	{ "rate_gbps", F_UINT, true, AT(topo_hca_port, rate_gbps), 1, 4294967295LL },
	/* Absent: a RoCE port, on no InfiniBand fabric (no partitions, no SM). */
	{ "sm", F_NAME, false, AT(topo_hca_port, sm), 0, 0 },
	{ "rail", F_LABEL, false, AT(topo_hca_port, rail), 0, 0 },
	/* 0 = unknown; unicast LIDs are 1..0xbfff. */
	{ "lid", F_UINT, false, AT(topo_hca_port, lid), 0, 0xbfff },
};

static const struct field gpu_fields[] = {
	{ "index", F_UINT, true, AT(topo_gpu, index), 0, 65535 },
	{ "model", F_TEXT, true, AT(topo_gpu, model), 0, 0 },
	{ "mig_capable", F_BOOL, false, AT(topo_gpu, mig_capable), 0, 0 },
	{ "nic_port", F_PORT, false, AT(topo_gpu, nic_port), 0, 0 },
	{ "hca_port", F_PORT, false, AT(topo_gpu, hca_port), 0, 0 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const mode_names[] = {
	[VTEP_MODE_AUTO] = "auto",
	[VTEP_MODE_TRADITIONAL] = "traditional",
	[VTEP_MODE_VLAN_AWARE] = "vlan-aware",
};

static void keys_list(const struct field *f, size_t nf, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nf && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", f[i].key);
}

static int string_value(const json_t *v, const char *path, size_t size,
			const char **out, struct loom_err *err)
{
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return fail(err, path, "must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (strlen(s) != len)
		return fail(err, path, "must not contain a NUL character");
	if (len >= size)
		return fail(err, path, "is %zu bytes long; at most %zu are allowed", len, size - 1);
	*out = s;
	return 0;
}

static int field_read(const struct field *f, const json_t *v, const char *path,
		      void *obj, struct loom_err *err)
{
	char *dst = (char *)obj + f->off;
	const char *s = NULL;
	uint64_t u;
	int rc;

	switch (f->kind) {
	case F_ARRAY:
		return 0;
	case F_BOOL:
		if (!json_is_boolean(v))
			return fail(err, path, "must be true or false");
		*(bool *)(void *)dst = json_is_true(v);
		return 0;
	case F_UINT: {
		json_int_t n;

		if (!json_is_integer(v))
			return fail(err, path, "must be an integer");
		n = json_integer_value(v);
		if (n < f->min || n > f->max)
			return fail(err, path, "%lld is out of range: allowed %lld..%lld",
				    (long long)n, f->min, f->max);
		if (f->size == sizeof(uint16_t)) {
			uint16_t x = (uint16_t)n;

			memcpy(dst, &x, sizeof(x));
		} else {
			/* unsigned int, uint32_t and (non-negative) int share a layout. */
			uint32_t x = (uint32_t)n;

			memcpy(dst, &x, sizeof(x));
		}
		return 0;
	}
	case F_MODE:
		if ((rc = string_value(v, path, LOOM_NAME_MAX, &s, err)))
			return rc;
		for (size_t i = 0; i < N(mode_names); i++)
			if (!strcmp(s, mode_names[i])) {
				enum vtep_mode m = (enum vtep_mode)i;

				memcpy(dst, &m, sizeof(m));
				return 0;
			}
		return fail(err, path, "\"%s\" is not a VTEP mode: use auto, traditional or vlan-aware", s);
	case F_GUID:
		if ((rc = string_value(v, path, 64, &s, err)))
			return rc;
		if (guid_parse(s, &u))
			return fail(err, path, "\"%s\" is not a GUID: write 0x0002c90300000001 or 0002:c903:0000:0001 (non-zero)", s);
		memcpy(dst, &u, sizeof(u));
		return 0;
	default:
		break;
	}

	if ((rc = string_value(v, path, f->size, &s, err)))
		return rc;
	switch (f->kind) {
	case F_NAME:
		if (!topology_name_ok(s))
			return fail(err, path, "\"%s\" is not a valid name: use 1-63 lowercase letters, digits and '-', not starting or ending with '-'", s);
		break;
	case F_PORT:
		if (!chars_ok(s, f->size, true))
			return fail(err, path, "\"%s\" is not a valid port name: use 1-63 of A-Z a-z 0-9 _ . / : -", s);
		break;
	case F_LABEL:
		if (!chars_ok(s, f->size, false))
			return fail(err, path, "\"%s\" is not valid: use 1-63 of A-Z a-z 0-9 _ . : -", s);
		break;
	case F_TEXT:
	case F_PATH:
		if (!printable_ok(s))
			return fail(err, path, "must be non-empty printable text");
		break;
	case F_IPV4: {
		struct in_addr a;
		uint32_t h;

		if (inet_pton(AF_INET, s, &a) != 1)
			return fail(err, path, "\"%s\" is not an IPv4 address (dotted quad, e.g. 192.0.2.1)", s);
		h = ntohl(a.s_addr);
		if (h == 0 || h == 0xffffffffu || (h >> 28) == 0xe)
			return fail(err, path, "%s cannot be a VTEP address: use a unicast address", s);
		inet_ntop(AF_INET, &a, dst, (socklen_t)f->size);
		return 0;
	}
	case F_MAC:
		if (mac_parse(s, &u))
			return fail(err, path, "\"%s\" is not a MAC address: write aa:bb:cc:dd:ee:ff", s);
		if (u == 0 || (u >> 40 & 1))
			return fail(err, path, "%s is not a unicast MAC address", s);
		mac_format(u, dst);
		return 0;
	case F_IFNAME:
		if (!ifname_ok(s))
			return fail(err, path, "\"%s\" is not a valid interface name: 1-15 bytes, no '/', ':' or whitespace", s);
		break;
	default:
		break;
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* Read one object's scalars through its field table; refuse unknown keys. */
static int object_read(const json_t *o, const char *path, const struct field *f, size_t nf,
		       void *obj, struct loom_err *err)
{
	char sub[PATH_LEN];
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(o))
		return fail(err, path, "must be an object");
	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; i < nf && strcmp(key, f[i].key); i++)
			;
		if (i == nf) {
			char known[256];

			keys_list(f, nf, known, sizeof(known));
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
			return fail(err, sub, "unknown key \"%s\"; known keys: %s", key, known);
		}
	}
	for (size_t i = 0; i < nf; i++) {
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", f[i].key);
		v = json_object_get(o, f[i].key);
		if (!v) {
			if (f[i].required)
				return fail(err, sub, "is required");
			continue;
		}
		if ((rc = field_read(&f[i], v, sub, obj, err)))
			return rc;
	}
	return 0;
}

/*
 * An optional array of objects, each read through a field table.  Returns
 * the array (NULL when absent or empty) and sets *rc to 0 or -errno.
 */
static void *array_read(const json_t *parent, const char *key, const char *ppath,
			const struct field *f, size_t nf, size_t elem,
			size_t *n, int *rc, struct loom_err *err)
{
	char path[PATH_LEN], sub[PATH_LEN];
	const json_t *a = json_object_get(parent, key);
	char *arr;

	*n = 0;
	*rc = 0;
	snprintf(path, sizeof(path), "%s%s%s", ppath, *ppath ? "." : "", key);
	if (!a)
		return NULL;
	if (!json_is_array(a)) {
		*rc = fail(err, path, "must be an array");
		return NULL;
	}
	if (json_array_size(a) == 0)
		return NULL;
	arr = calloc(json_array_size(a), elem);
	if (!arr) {
		*rc = fail_nomem(err);
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		*rc = object_read(json_array_get(a, i), sub, f, nf, arr + i * elem, err);
		if (*rc) {
			free(arr);
			return NULL;
		}
	}
	*n = json_array_size(a);
	return arr;
}

/* ---- uniqueness -------------------------------------------------------- */

enum show { SHOW_STR, SHOW_GUID, SHOW_MAC, SHOW_NUM, SHOW_ACCESS };

/* One value to check for duplicates, and where it came from. */
struct key_ref {
	const char *s, *s2;	/* string key (s2: second part, or NULL) */
	uint64_t u;		/* numeric key */
	const char *top;	/* "nodes" */
	size_t i;
	const char *arr;	/* "hca_ports", or NULL */
	size_t j;
	const char *leaf;	/* "guid" */
	size_t seq;		/* position in the caller's list: document order */
};

static int key_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int c;

	if (x->s || y->s) {
		if ((c = strcmp(x->s ? x->s : "", y->s ? y->s : "")))
			return c;
		if ((c = strcmp(x->s2 ? x->s2 : "", y->s2 ? y->s2 : "")))
			return c;
	} else if (x->u != y->u) {
		return x->u < y->u ? -1 : 1;
	}
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void key_path(const struct key_ref *k, char *buf, size_t size)
{
	if (k->i == SIZE_MAX)	/* per-node check: top is the node's own path */
		snprintf(buf, size, "%s.%s[%zu].%s", k->top, k->arr, k->j, k->leaf);
	else if (k->arr)
		snprintf(buf, size, "%s[%zu].%s[%zu].%s", k->top, k->i, k->arr, k->j, k->leaf);
	else
		snprintf(buf, size, "%s[%zu].%s", k->top, k->i, k->leaf);
}

/*
 * Sort the refs and report the first value seen twice, naming the later
 * occurrence (in document order) and where the earlier one is.
 */
static int keys_unique(struct key_ref *k, size_t n, const char *what, enum show show,
		       struct loom_err *err)
{
	char here[PATH_LEN], there[PATH_LEN], val[2 * LOOM_NAME_MAX];

	if (n < 2)
		return 0;
	for (size_t x = 0; x < n; x++)
		k[x].seq = x;
	qsort(k, n, sizeof(*k), key_cmp);
	for (size_t x = 1; x < n; x++) {
		bool same = (k[x].s || k[x - 1].s)
			? !strcmp(k[x].s ? k[x].s : "", k[x - 1].s ? k[x - 1].s : "") &&
			  !strcmp(k[x].s2 ? k[x].s2 : "", k[x - 1].s2 ? k[x - 1].s2 : "")
			: k[x].u == k[x - 1].u;

		if (!same)
			continue;
		key_path(&k[x], here, sizeof(here));
		key_path(&k[x - 1], there, sizeof(there));
		switch (show) {
		case SHOW_GUID:
			guid_format(k[x].u, val);
			break;
		case SHOW_MAC:
			mac_format(k[x].u, val);
			break;
		case SHOW_NUM:
			snprintf(val, sizeof(val), "%" PRIu64, k[x].u);
			break;
		case SHOW_ACCESS:
			snprintf(val, sizeof(val), "%s of VTEP %s", k[x].s, k[x].s2);
			break;
		default:
			snprintf(val, sizeof(val), "%s", k[x].s);
			break;
		}
		return fail(err, here, "%s %s is used twice: already at %s", what, val, there);
	}
	return 0;
}

static int names_unique(const void *arr, size_t n, size_t elem, const char *top,
			const char *what, struct loom_err *err)
{
	struct key_ref *k;
	int rc;

	if (n < 2)
		return 0;
	if (!(k = calloc(n, sizeof(*k))))
		return fail_nomem(err);
	for (size_t i = 0; i < n; i++)
		k[i] = (struct key_ref){ .s = (const char *)arr + i * elem, .top = top, .i = i, .leaf = "name" };
	rc = keys_unique(k, n, what, SHOW_STR, err);
	free(k);
	return rc;
}

/* Every array's elements start with their name. */
static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int gpu_cmp(const void *a, const void *b)
{
	const struct topo_gpu *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static bool site_known(const struct topology *t, const char *name, const char *path,
		       struct loom_err *err)
{
	if (topology_site(t, name))
		return true;
	fail(err, path, "site \"%s\" is not defined in \"sites\"", name);
	return false;
}

/* ---- nodes ------------------------------------------------------------- */

static int node_read(const json_t *o, const char *path, struct topology *t,
		     struct topo_node *n, struct loom_err *err)
{
	char sub[PATH_LEN];
	struct key_ref *k = NULL;
	size_t nk = 0;
	int rc;

	if ((rc = object_read(o, path, node_fields, N(node_fields), n, err)))
		return rc;
	snprintf(sub, sizeof(sub), "%s.site", path);
	if (!site_known(t, n->site, sub, err))
		return -EINVAL;
	if (n->rack[0]) {
		const struct topo_rack *r = bsearch(n->rack, t->racks, t->n_racks, sizeof(*r), name_cmp);

		snprintf(sub, sizeof(sub), "%s.rack", path);
		if (!r)
			return fail(err, sub, "rack \"%s\" is not defined in \"racks\"", n->rack);
		if (strcmp(r->site, n->site))
			return fail(err, sub, "rack \"%s\" is at site \"%s\", but the node is at site \"%s\"",
				    n->rack, r->site, n->site);
	}
	n->nic_ports = array_read(o, "nic_ports", path, nic_fields, N(nic_fields), sizeof(*n->nic_ports),
				  &n->n_nic_ports, &rc, err);
	if (rc)
		return rc;
	n->hca_ports = array_read(o, "hca_ports", path, hca_fields, N(hca_fields), sizeof(*n->hca_ports),
				  &n->n_hca_ports, &rc, err);
	if (rc)
		return rc;
	n->gpus = array_read(o, "gpus", path, gpu_fields, N(gpu_fields), sizeof(*n->gpus),
				  &n->n_gpus, &rc, err);
	if (rc)
		return rc;

	for (size_t i = 0; i < n->n_nic_ports; i++) {
		snprintf(sub, sizeof(sub), "%s.nic_ports[%zu].vtep", path, i);
		if (!topology_vtep(t, n->nic_ports[i].vtep))
			return fail(err, sub, "VTEP \"%s\" is not defined in \"vteps\"", n->nic_ports[i].vtep);
	}
	for (size_t i = 0; i < n->n_hca_ports; i++) {
		snprintf(sub, sizeof(sub), "%s.hca_ports[%zu].sm", path, i);
		if (n->hca_ports[i].sm[0] && !topology_sm(t, n->hca_ports[i].sm))
			return fail(err, sub, "subnet manager \"%s\" is not defined in \"subnet_managers\"",
				    n->hca_ports[i].sm);
	}

	/* Port names are one namespace per node, NIC and HCA together. */
	nk = n->n_nic_ports + n->n_hca_ports;
	if (nk < n->n_gpus)
		nk = n->n_gpus;
	if (nk && !(k = calloc(nk, sizeof(*k))))
		return fail_nomem(err);
	nk = 0;
	for (size_t i = 0; i < n->n_nic_ports; i++)
		k[nk++] = (struct key_ref){ .s = n->nic_ports[i].name, .top = path, .i = SIZE_MAX,
					    .arr = "nic_ports", .j = i, .leaf = "name" };
	for (size_t i = 0; i < n->n_hca_ports; i++)
		k[nk++] = (struct key_ref){ .s = n->hca_ports[i].name, .top = path, .i = SIZE_MAX,
					    .arr = "hca_ports", .j = i, .leaf = "name" };
	/* key_path prints top[i]; for per-node refs top is the node's path. */
	if ((rc = keys_unique(k, nk, "port name", SHOW_STR, err)))
		goto out;
	nk = 0;
	for (size_t i = 0; i < n->n_gpus; i++)
		k[nk++] = (struct key_ref){ .u = n->gpus[i].index, .top = path, .i = SIZE_MAX,
					    .arr = "gpus", .j = i, .leaf = "index" };
	if ((rc = keys_unique(k, nk, "GPU index", SHOW_NUM, err)))
		goto out;

	/* Pairing refers to ports on this node (not sorted yet: document order). */
	for (size_t i = 0; i < n->n_gpus; i++) {
		const struct topo_gpu *g = &n->gpus[i];
		size_t j;

		for (j = 0; g->nic_port[0] && j < n->n_nic_ports &&
			    strcmp(g->nic_port, n->nic_ports[j].name); j++)
			;
		if (g->nic_port[0] && j == n->n_nic_ports) {
			snprintf(sub, sizeof(sub), "%s.gpus[%zu].nic_port", path, i);
			rc = fail(err, sub, "the node has no NIC port \"%s\"", g->nic_port);
			goto out;
		}
		for (j = 0; g->hca_port[0] && j < n->n_hca_ports &&
			    strcmp(g->hca_port, n->hca_ports[j].name); j++)
			;
		if (g->hca_port[0] && j == n->n_hca_ports) {
			snprintf(sub, sizeof(sub), "%s.gpus[%zu].hca_port", path, i);
			rc = fail(err, sub, "the node has no HCA port \"%s\"", g->hca_port);
			goto out;
		}
	}
out:
	free(k);
	return rc;
}

/*
 * Values unique across the whole topology: MACs, GUIDs, and a VTEP's
 * access ports.  Called before anything inside the nodes is sorted, so
 * the paths it reports are the document's.
 */
static int nodes_cross_check(const struct topology *t, struct loom_err *err)
{
	struct key_ref *k = NULL;
	size_t nnic = 0, nhca = 0, nk;
	int rc = 0;

	for (size_t i = 0; i < t->n_nodes; i++) {
		nnic += t->nodes[i].n_nic_ports;
		nhca += t->nodes[i].n_hca_ports;
	}
	nk = nnic > nhca ? nnic : nhca;
	if (nk < 2)
		return 0;
	if (!(k = calloc(nk, sizeof(*k))))
		return fail_nomem(err);

	nk = 0;
	for (size_t i = 0; i < t->n_nodes; i++)
		for (size_t j = 0; j < t->nodes[i].n_nic_ports; j++) {
			const struct topo_nic_port *p = &t->nodes[i].nic_ports[j];
			uint64_t mac = 0;

			mac_parse(p->mac, &mac);
			k[nk++] = (struct key_ref){ .u = mac, .top = "nodes", .i = i, .arr = "nic_ports",
						    .j = j, .leaf = "mac" };
		}
	if ((rc = keys_unique(k, nk, "MAC address", SHOW_MAC, err)))
		goto out;

	nk = 0;
	for (size_t i = 0; i < t->n_nodes; i++)
		for (size_t j = 0; j < t->nodes[i].n_nic_ports; j++) {
			const struct topo_nic_port *p = &t->nodes[i].nic_ports[j];

			k[nk++] = (struct key_ref){ .s = p->access_port, .s2 = p->vtep, .top = "nodes", .i = i,
						    .arr = "nic_ports", .j = j, .leaf = "access_port" };
		}
	if ((rc = keys_unique(k, nk, "access port", SHOW_ACCESS, err)))
		goto out;

	nk = 0;
	for (size_t i = 0; i < t->n_nodes; i++)
		for (size_t j = 0; j < t->nodes[i].n_hca_ports; j++)
			k[nk++] = (struct key_ref){ .u = t->nodes[i].hca_ports[j].guid, .top = "nodes", .i = i,
						    .arr = "hca_ports", .j = j, .leaf = "guid" };
	rc = keys_unique(k, nk, "port GUID", SHOW_GUID, err);
out:
	free(k);
	return rc;
}

/* ---- the whole document ------------------------------------------------ */

static const struct field top_fields[] = {
	{ "sites", F_ARRAY, false, 0, 0, 0, 0 },
	{ "racks", F_ARRAY, false, 0, 0, 0, 0 },
	{ "vteps", F_ARRAY, false, 0, 0, 0, 0 },
	{ "subnet_managers", F_ARRAY, false, 0, 0, 0, 0 },
	{ "nodes", F_ARRAY, false, 0, 0, 0, 0 },
	{ "delegations", F_ARRAY, false, 0, 0, 0, 0 },
};

static int sorted_unique(void *arr, size_t n, size_t elem, const char *top, const char *what,
			 struct loom_err *err)
{
	int rc = names_unique(arr, n, elem, top, what, err);

	if (!rc && n)
		qsort(arr, n, elem, name_cmp);
	return rc;
}

int topology_load_json(const json_t *root, struct topology **out, struct loom_err *err)
{
	struct topology *t;
	const json_t *nodes;
	char path[PATH_LEN];
	int rc;

	if (!json_is_object(root))
		return fail(err, "", "the topology must be a JSON object");
	if (!(t = calloc(1, sizeof(*t))))
		return fail_nomem(err);
	if ((rc = object_read(root, "", top_fields, N(top_fields), t, err)))
		goto fail;

	t->sites = array_read(root, "sites", "", site_fields, N(site_fields), sizeof(*t->sites),
			      &t->n_sites, &rc, err);
	if (rc || (rc = sorted_unique(t->sites, t->n_sites, sizeof(*t->sites), "sites", "site name", err)))
		goto fail;

	t->racks = array_read(root, "racks", "", rack_fields, N(rack_fields), sizeof(*t->racks),
			   &t->n_racks, &rc, err);
	if (rc)
		goto fail;
	for (size_t i = 0; i < t->n_racks; i++) {
		snprintf(path, sizeof(path), "racks[%zu].site", i);
		if (!site_known(t, t->racks[i].site, path, err)) {
			rc = -EINVAL;
			goto fail;
		}
	}
	if ((rc = sorted_unique(t->racks, t->n_racks, sizeof(*t->racks), "racks", "rack name", err)))
		goto fail;

	t->vteps = array_read(root, "vteps", "", vtep_fields, N(vtep_fields), sizeof(*t->vteps),
			   &t->n_vteps, &rc, err);
	if (rc)
		goto fail;
	for (size_t i = 0; i < t->n_vteps; i++) {
		snprintf(path, sizeof(path), "vteps[%zu].site", i);
		if (!site_known(t, t->vteps[i].site, path, err)) {
			rc = -EINVAL;
			goto fail;
		}
	}
	if (t->n_vteps > 1) {
		struct key_ref *k = calloc(t->n_vteps, sizeof(*k));

		if (!k) {
			rc = fail_nomem(err);
			goto fail;
		}
		for (size_t i = 0; i < t->n_vteps; i++)
			k[i] = (struct key_ref){ .s = t->vteps[i].vtep_ip, .top = "vteps", .i = i, .leaf = "vtep_ip" };
		rc = keys_unique(k, t->n_vteps, "VTEP address", SHOW_STR, err);
		free(k);
		if (rc)
			goto fail;
	}
	if ((rc = sorted_unique(t->vteps, t->n_vteps, sizeof(*t->vteps), "vteps", "VTEP name", err)))
		goto fail;

	t->sms = array_read(root, "subnet_managers", "", sm_fields, N(sm_fields), sizeof(*t->sms),
			   &t->n_sms, &rc, err);
	if (rc)
		goto fail;
	for (size_t i = 0; i < t->n_sms; i++) {
		snprintf(path, sizeof(path), "subnet_managers[%zu].site", i);
		if (!site_known(t, t->sms[i].site, path, err)) {
			rc = -EINVAL;
			goto fail;
		}
	}
	if ((rc = sorted_unique(t->sms, t->n_sms, sizeof(*t->sms), "subnet_managers",
				"subnet manager name", err)))
		goto fail;

	nodes = json_object_get(root, "nodes");
	if (nodes && !json_is_array(nodes)) {
		rc = fail(err, "nodes", "must be an array");
		goto fail;
	}
	if (nodes && json_array_size(nodes)) {
		if (!(t->nodes = calloc(json_array_size(nodes), sizeof(*t->nodes)))) {
			rc = fail_nomem(err);
			goto fail;
		}
		for (size_t i = 0; i < json_array_size(nodes); i++) {
			t->n_nodes = i + 1;	/* so topology_free sees a half-read node */
			snprintf(path, sizeof(path), "nodes[%zu]", i);
			if ((rc = node_read(json_array_get(nodes, i), path, t, &t->nodes[i], err)))
				goto fail;
		}
	}
	if ((rc = nodes_cross_check(t, err)) ||
	    (rc = sorted_unique(t->nodes, t->n_nodes, sizeof(*t->nodes), "nodes", "node name", err)))
		goto fail;
	for (size_t i = 0; i < t->n_nodes; i++) {
		struct topo_node *n = &t->nodes[i];

		if (n->n_nic_ports)
			qsort(n->nic_ports, n->n_nic_ports, sizeof(*n->nic_ports), name_cmp);
		if (n->n_hca_ports)
			qsort(n->hca_ports, n->n_hca_ports, sizeof(*n->hca_ports), name_cmp);
		if (n->n_gpus)
			qsort(n->gpus, n->n_gpus, sizeof(*n->gpus), gpu_cmp);
	}
	if ((rc = delegations_read(root, t, err)))
		goto fail;

	*out = t;
	return 0;
fail:
	topology_free(&t);
	return rc;
}

int topology_load_file(const char *path, struct topology **out, struct loom_err *err)
{
	json_error_t jerr;
	json_t *root;
	FILE *f;
	int rc;

	if (!(f = fopen(path, "re"))) {
		rc = -errno;
		loom_err_set(err, LOOM_E_TOPOLOGY, "", "cannot open %s: %s", path, strerror(-rc));
		return rc;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!root)
		return fail(err, "", "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	rc = topology_load_json(root, out, err);
	json_decref(root);
	return rc;
}

/* ---- back to JSON ------------------------------------------------------ */

/* Build with json_pack-free calls so that a NULL from any step is caught once. */
static int set_str(json_t *o, const char *key, const char *val)
{
	return json_object_set_new(o, key, json_string(val));
}

static int set_int(json_t *o, const char *key, json_int_t val)
{
	return json_object_set_new(o, key, json_integer(val));
}

static json_t *nic_to_json(const struct topo_nic_port *p)
{
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	bad |= set_str(o, "name", p->name);
	bad |= set_str(o, "mac", p->mac);
	bad |= set_str(o, "vtep", p->vtep);
	bad |= set_str(o, "access_port", p->access_port);
	if (p->rail[0])
		bad |= set_str(o, "rail", p->rail);
	if (bad)
		json_decref(o);
	return bad ? NULL : o;
}

static json_t *hca_to_json(const struct topo_hca_port *p)
{
	json_t *o = json_object();
	char guid[19];
	int bad = !o;

	if (bad)
		return NULL;
	guid_format(p->guid, guid);
	bad |= set_str(o, "name", p->name);
	bad |= set_str(o, "guid", guid);
	bad |= set_int(o, "rate_gbps", p->rate_gbps);
	if (p->sm[0])
		bad |= set_str(o, "sm", p->sm);
	if (p->rail[0])
		bad |= set_str(o, "rail", p->rail);
	if (p->lid)
		bad |= set_int(o, "lid", p->lid);
	if (bad)
		json_decref(o);
	return bad ? NULL : o;
}

static json_t *gpu_to_json(const struct topo_gpu *g)
{
	json_t *o = json_object();
	int bad = !o;

	if (bad)
		return NULL;
	bad |= set_int(o, "index", g->index);
	bad |= set_str(o, "model", g->model);
	bad |= json_object_set_new(o, "mig_capable", json_boolean(g->mig_capable));
	if (g->nic_port[0])
		bad |= set_str(o, "nic_port", g->nic_port);
	if (g->hca_port[0])
		bad |= set_str(o, "hca_port", g->hca_port);
	if (bad)
		json_decref(o);
	return bad ? NULL : o;
}

json_t *topo_node_to_json(const struct topo_node *n)
{
	json_t *o = json_object(), *nic = json_array(), *hca = json_array(), *gpu = json_array();
	int bad = !o || !nic || !hca || !gpu;

	if (bad)
		goto out;
	bad |= set_str(o, "name", n->name);
	bad |= set_str(o, "site", n->site);
	if (n->rack[0])
		bad |= set_str(o, "rack", n->rack);
	for (size_t i = 0; i < n->n_nic_ports; i++)
		bad |= json_array_append_new(nic, nic_to_json(&n->nic_ports[i]));
	for (size_t i = 0; i < n->n_hca_ports; i++)
		bad |= json_array_append_new(hca, hca_to_json(&n->hca_ports[i]));
	for (size_t i = 0; i < n->n_gpus; i++)
		bad |= json_array_append_new(gpu, gpu_to_json(&n->gpus[i]));
	bad |= json_object_set(o, "nic_ports", nic);
	bad |= json_object_set(o, "hca_ports", hca);
	bad |= json_object_set(o, "gpus", gpu);
out:
	json_decref(nic);
	json_decref(hca);
	json_decref(gpu);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *topology_to_json(const struct topology *t)
{
	json_t *root = json_object();
	json_t *sites = json_array(), *racks = json_array(), *vteps = json_array();
	json_t *sms = json_array(), *nodes = json_array(), *delegations = delegations_to_json(t);
	int bad = !root || !sites || !racks || !vteps || !sms || !nodes || !delegations;

	if (bad)
		goto out;
	for (size_t i = 0; i < t->n_sites; i++) {
		json_t *o = json_object();

		bad |= !o || set_str(o, "name", t->sites[i].name);
		if (!bad && t->sites[i].gateway_mac[0])
			bad |= set_str(o, "gateway_mac", t->sites[i].gateway_mac);
		bad |= json_array_append_new(sites, o);
	}
	for (size_t i = 0; i < t->n_racks; i++) {
		json_t *o = json_object();

		bad |= !o || set_str(o, "name", t->racks[i].name) || set_str(o, "site", t->racks[i].site);
		bad |= json_array_append_new(racks, o);
	}
	for (size_t i = 0; i < t->n_vteps; i++) {
		const struct topo_vtep *v = &t->vteps[i];
		json_t *o = json_object();

		bad |= !o || set_str(o, "name", v->name) || set_str(o, "site", v->site) ||
		       set_str(o, "vtep_ip", v->vtep_ip) || set_int(o, "asn", v->asn) ||
		       set_str(o, "vty_dir", v->vty_dir) ||
		       (v->netns[0] && set_str(o, "netns", v->netns)) ||
		       set_str(o, "mode", mode_names[v->mode]);
		bad |= json_array_append_new(vteps, o);
	}
	for (size_t i = 0; i < t->n_sms; i++) {
		const struct topo_sm *s = &t->sms[i];
		json_t *o = json_object();

		bad |= !o || set_str(o, "name", s->name) || set_str(o, "site", s->site) ||
		       set_str(o, "partitions_file", s->partitions_file) ||
		       set_str(o, "pid_file", s->pid_file) ||
		       (s->umad_ca[0] && set_str(o, "umad_ca", s->umad_ca)) ||
		       (s->umad_port && set_int(o, "umad_port", s->umad_port));
		bad |= json_array_append_new(sms, o);
	}
	for (size_t i = 0; i < t->n_nodes; i++)
		bad |= json_array_append_new(nodes, topo_node_to_json(&t->nodes[i]));
	bad |= json_object_set(root, "sites", sites);
	bad |= json_object_set(root, "racks", racks);
	bad |= json_object_set(root, "vteps", vteps);
	bad |= json_object_set(root, "subnet_managers", sms);
	bad |= json_object_set(root, "nodes", nodes);
	if (t->n_delegations)
		bad |= json_object_set(root, "delegations", delegations);
out:
	json_decref(delegations);
	json_decref(sites);
	json_decref(racks);
	json_decref(vteps);
	json_decref(sms);
	json_decref(nodes);
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}
