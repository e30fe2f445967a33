/*
 * topology/ibnetdiscover.c: reading the text `ibnetdiscover` prints and
 * turning it into switches (for the record) and candidate nodes with their
 * HCA ports (for the topology file, after review).
 *
 * The format is line oriented: "key=value" lines before each record, a
 * header ("Switch 36 "S-<guid>" # "desc" ... lid N lmc M", "Ca 2 "H-<guid>"
 * # "desc"") and one line per connected port.  Anything else is refused
 * with its line number: a half-understood fabric is worse than none.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/array.h"
#include "topology/ibnetdiscover.h"
#include "topology/topology.h"

#define DESC_MAX 128	/* NodeDescription is 64 bytes on the wire; leave room */

struct ibd_port {
	unsigned int num;
	uint64_t guid;		/* own port GUID (CA ports), 0 if not shown */
	unsigned int lid;	/* own LID (CA ports) */
	char remote_type;	/* 'S', 'H' or 'R' */
	uint64_t remote_guid;	/* remote port GUID if shown, else its node GUID */
	unsigned int remote_port;
	unsigned int remote_lid;
	char remote_desc[DESC_MAX];
	char link[16];		/* "4xHDR" */
	unsigned int rate;
};

struct ibd_node {
	char type;		/* 'S' switch, 'C' channel adapter, 'R' router */
	uint64_t guid;
	unsigned int nports;
	unsigned int lid;	/* switches: port 0's LID */
	char desc[DESC_MAX];
	struct ibd_port *ports;
	size_t n_ports, cap_ports;
};

struct parser {
	unsigned int line;
	struct loom_err *err;
	uint64_t pending_guid;	/* from switchguid= / caguid= / rtguid= */
	struct ibd_node *nodes;
	size_t n_nodes, cap_nodes;
	struct ibd_node *cur;	/* the record whose port lines we are reading */
};

static int bad(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct parser *p, const char *fmt, ...)
{
	char field[32], msg[sizeof(p->err->msg) - 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(field, sizeof(field), "line %u", p->line);
	return loom_err_set(p->err, LOOM_E_TOPOLOGY, field, "line %u: %s", p->line, msg);
}

static const struct {
	const char *name;
	unsigned int lane_mbps;
} speeds[] = {
	{ "SDR", 2500 }, { "DDR", 5000 }, { "QDR", 10000 }, { "FDR10", 10000 },
	{ "FDR", 14000 }, { "EDR", 25000 }, { "HDR", 50000 }, { "NDR", 100000 },
	{ "XDR", 200000 },
};

unsigned int ibnetdiscover_rate_gbps(const char *link)
{
	char *end;
	unsigned long width = strtoul(link, &end, 10);

	if (end == link || *end != 'x' ||
	    !(width == 1 || width == 2 || width == 4 || width == 8 || width == 12))
		return 0;
	for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
		if (!strcmp(end + 1, speeds[i].name))
			return (unsigned int)(width * speeds[i].lane_mbps / 1000);
	return 0;
}

static char *skip_ws(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

static bool read_uint(char **s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)**s))
		return false;
	errno = 0;
	v = strtoul(*s, &end, 10);
	if (errno || v > 0xffffffffUL)
		return false;
	*out = (unsigned int)v;
	*s = end;
	return true;
}

static bool read_hex(char **s, uint64_t *out)
{
	char *p = *s, *end;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	if (!isxdigit((unsigned char)*p))
		return false;
	errno = 0;
	*out = strtoull(p, &end, 16);
	if (errno)
		return false;
	*s = end;
	return true;
}

/* "S-0002c90300a00300": the node type and GUID ibnetdiscover names it by. */
static bool read_node_id(char **s, char *type, uint64_t *guid)
{
	char *p = *s;

	/* p[1] first: strchr() finds the terminating NUL too. */
	if (*p != '"' || !p[1] || !strchr("SHR", p[1]) || p[2] != '-')
		return false;
	*type = p[1];
	p += 3;
	if (!read_hex(&p, guid) || *p != '"')
		return false;
	*s = p + 1;
	return true;
}

/* A description runs from the next '"' to the last '"' of the line. */
static int read_desc(struct parser *p, char **s, char *out, size_t size)
{
	char *open = strchr(*s, '"'), *close;
	size_t len;

	if (!open || !(close = strrchr(open + 1, '"')))
		return bad(p, "expected a quoted node description");
	len = (size_t)(close - open - 1);
	if (len >= size)
		return bad(p, "node description is %zu bytes long; at most %zu expected", len, size - 1);
	memcpy(out, open + 1, len);
	out[len] = '\0';
	*s = close + 1;
	return 0;
}

/* Find "word N" among the blank-separated tokens of @s. */
static bool find_number(char *s, const char *word, unsigned int *out)
{
	size_t wl = strlen(word);

	for (s = skip_ws(s); *s; s = skip_ws(s)) {
		if (!strncmp(s, word, wl) && (s[wl] == ' ' || s[wl] == '\t')) {
			char *q = skip_ws(s + wl);

			return read_uint(&q, out);
		}
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	return false;
}

static struct ibd_node *node_new(struct parser *p)
{
	if (ARRAY_GROW(p->nodes, p->cap_nodes, p->n_nodes + 1))
		return NULL;
	memset(&p->nodes[p->n_nodes], 0, sizeof(p->nodes[0]));
	return &p->nodes[p->n_nodes++];
}

static int parse_header(struct parser *p, char *s)
{
	struct ibd_node *n;
	char idtype, type = s[0] == 'S' ? 'S' : s[0] == 'C' ? 'C' : 'R';
	uint64_t guid;
	int rc;

	s += type == 'S' ? 6 : 2;
	if (!(n = node_new(p)))
		return -ENOMEM;
	n->type = type;
	s = skip_ws(s);
	if (!read_uint(&s, &n->nports) || n->nports == 0 || n->nports > 255)
		return bad(p, "expected the number of ports (1-255) after the node type");
	s = skip_ws(s);
	if (!read_node_id(&s, &idtype, &guid))
		return bad(p, "expected the node's id, e.g. \"S-0002c90300a00300\"");
	if ((type == 'S') != (idtype == 'S'))
		return bad(p, "node id type '%c' does not match the record type", idtype);
	n->guid = p->pending_guid ? p->pending_guid : guid;
	p->pending_guid = 0;
	s = skip_ws(s);
	if (*s == '#') {
		if ((rc = read_desc(p, &s, n->desc, sizeof(n->desc))))
			return rc;
		if (type == 'S' && !find_number(s, "lid", &n->lid))
			return bad(p, "expected the switch's \"lid N\" after its description");
	}
	p->cur = n;
	return 0;
}

/*
 * "[1]	"H-0002c90300b00010"[1](2c90300b00011) 	# "gpu-e01 mlx5_0" lid 4 4xHDR"
 * "[1](2c90300b00011) 	"S-0002c90300a00200"[1]	# lid 4 lmc 0 "ib-leaf1" lid 2 4xHDR"
 */
static int parse_port(struct parser *p, char *s)
{
	struct ibd_node *n = p->cur;
	struct ibd_port *port;
	uint64_t node_guid;
	char *tok;
	int rc;

	if (!n)
		return bad(p, "port line outside a Switch or Ca record");
	if (ARRAY_GROW(n->ports, n->cap_ports, n->n_ports + 1))
		return -ENOMEM;
	port = &n->ports[n->n_ports++];
	memset(port, 0, sizeof(*port));

	s++;
	if (!read_uint(&s, &port->num) || *s != ']')
		return bad(p, "expected \"[port]\" at the start of a port line");
	s++;
	if (port->num > n->nports || (port->num == 0 && n->type != 'S'))
		return bad(p, "port %u does not exist on a node with %u ports", port->num, n->nports);
	if (*s == '(') {
		s++;
		if (!read_hex(&s, &port->guid) || *s != ')')
			return bad(p, "expected the port GUID in parentheses after \"[%u]\"", port->num);
		s++;
	}
	s = skip_ws(s);
	if (!read_node_id(&s, &port->remote_type, &node_guid))
		return bad(p, "expected the remote node's id, e.g. \"H-0002c90300b00010\"");
	port->remote_guid = node_guid;
	if (*s != '[' || (s++, !read_uint(&s, &port->remote_port)) || *s != ']')
		return bad(p, "expected \"[port]\" after the remote node's id");
	s++;
	if (*s == '(') {
		s++;
		if (!read_hex(&s, &port->remote_guid) || *s != ')')
			return bad(p, "expected the remote port GUID in parentheses");
		s++;
	}
	s = skip_ws(s);
	if (*s != '#')
		return bad(p, "expected \"# ...\" with the link's LIDs and speed");
	s++;
	if (n->type != 'S') {
		/* The CA's own "lid N lmc M" comes before the remote description. */
		char *quote = strchr(s, '"');
		bool found;

		if (quote)
			*quote = '\0';
		found = find_number(s, "lid", &port->lid);
		if (quote)
			*quote = '"';
		if (!found)
			return bad(p, "expected the port's \"lid N\"");
		if (!port->guid)
			return bad(p, "expected the port GUID in parentheses after \"[%u]\"", port->num);
	}
	if ((rc = read_desc(p, &s, port->remote_desc, sizeof(port->remote_desc))))
		return rc;
	if (!find_number(s, "lid", &port->remote_lid))
		return bad(p, "expected the remote \"lid N\" after the remote description");
	/* The link is the first "<width>x<speed>" token after the remote LID. */
	for (tok = skip_ws(s); *tok; tok = skip_ws(tok)) {
		size_t len = strcspn(tok, " \t");

		if (len < sizeof(port->link)) {
			memcpy(port->link, tok, len);
			port->link[len] = '\0';
			if ((port->rate = ibnetdiscover_rate_gbps(port->link)))
				break;
		}
		tok += len;
	}
	if (!port->rate)
		return bad(p, "expected the link width and speed, e.g. 4xHDR");
	return 0;
}

static int parse_line(struct parser *p, char *s)
{
	size_t len = strlen(s);

	while (len && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	if (len == 0) {
		p->cur = NULL;
		return 0;
	}
	if (s[0] == '#')
		return 0;
	if (s[0] == '[')
		return parse_port(p, s);
	if (!strncmp(s, "Switch", 6) && (s[6] == ' ' || s[6] == '\t'))
		return parse_header(p, s);
	if ((!strncmp(s, "Ca", 2) || !strncmp(s, "Rt", 2)) && (s[2] == ' ' || s[2] == '\t'))
		return parse_header(p, s);
	if (!strncmp(s, "switchguid=", 11) || !strncmp(s, "caguid=", 7) || !strncmp(s, "rtguid=", 7)) {
		char *v = strchr(s, '=') + 1;

		if (!read_hex(&v, &p->pending_guid) || (*v && *v != '('))
			return bad(p, "expected a hexadecimal GUID after '='");
		return 0;
	}
	/* vendid=, devid=, sysimgguid= and any future key: nothing we need. */
	if (isalpha((unsigned char)s[0]) && strcspn(s, "= \t") < len && s[strcspn(s, "= \t")] == '=')
		return 0;
	return bad(p, "not a line of ibnetdiscover output: \"%.40s\"", s);
}

/* ---- building the result ----------------------------------------------- */

static json_t *guid_json(uint64_t guid)
{
	char buf[19];

	guid_format(guid, buf);
	return json_string(buf);
}

static int json_by_name(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "name")),
		      json_string_value(json_object_get(y, "name")));
}

static int node_by_guid(const void *a, const void *b)
{
	const struct ibd_node *x = a, *y = b;

	return x->guid < y->guid ? -1 : x->guid > y->guid;
}

/* Replace @arr's elements by the same elements sorted by "name". */
static int array_sort_by_name(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v;
	int rc = 0;

	if (n < 2)
		return 0;
	if (!(v = calloc(n, sizeof(*v))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), json_by_name);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		rc |= json_array_append_new(arr, v[i]);
	free(v);
	return rc ? -ENOMEM : 0;
}

static const char *remote_type_name(char t)
{
	return t == 'S' ? "switch" : t == 'H' ? "ca" : "router";
}

static json_t *switch_json(const struct ibd_node *n)
{
	json_t *o = json_object(), *ports = json_array();
	int rc = !o || !ports;

	if (rc)
		goto out;
	rc |= json_object_set_new(o, "guid", guid_json(n->guid));
	rc |= json_object_set_new(o, "lid", json_integer(n->lid));
	rc |= json_object_set_new(o, "description", json_string(n->desc));
	for (size_t i = 0; i < n->n_ports; i++) {
		const struct ibd_port *pt = &n->ports[i];
		json_t *po = json_object();

		rc |= !po;
		if (!po)
			break;
		rc |= json_object_set_new(po, "port", json_integer(pt->num));
		rc |= json_object_set_new(po, "remote_type", json_string(remote_type_name(pt->remote_type)));
		rc |= json_object_set_new(po, "remote_guid", guid_json(pt->remote_guid));
		rc |= json_object_set_new(po, "remote_port", json_integer(pt->remote_port));
		rc |= json_object_set_new(po, "remote_description", json_string(pt->remote_desc));
		rc |= json_object_set_new(po, "remote_lid", json_integer(pt->remote_lid));
		rc |= json_object_set_new(po, "link", json_string(pt->link));
		rc |= json_object_set_new(po, "rate_gbps", json_integer(pt->rate));
		rc |= json_array_append_new(ports, po);
	}
	rc |= json_object_set(o, "ports", ports);
out:
	json_decref(ports);
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool host_ok(const char *s)
{
	/* Mellanox firmware's default description "MT4123 ConnectX6 ..." names no host. */
	if ((s[0] == 'm' && s[1] == 't' && isdigit((unsigned char)s[2])))
		return false;
	return topology_name_ok(s);
}

static bool dev_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.:-", s[i]))
			return false;
	return true;
}

/*
 * A CA's node description is "<hostname> <device>" when rdma-ndd (or the
 * driver) set it; the host becomes the node, "<device>/<port>" the port.
 * Without a usable description the node is named after the CA's GUID.
 */
static void ca_names(const struct ibd_node *n, char host[LOOM_NAME_MAX], char dev[40])
{
	char words[2][DESC_MAX] = { "", "" };

	sscanf(n->desc, "%127s %127s", words[0], words[1]);
	for (char *c = words[0]; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strlen(words[0]) < LOOM_NAME_MAX && host_ok(words[0])) {
		snprintf(host, LOOM_NAME_MAX, "%s", words[0]);
		snprintf(dev, 40, "%s", dev_ok(words[1]) ? words[1] : "hca");
	} else {
		snprintf(host, LOOM_NAME_MAX, "ca-%016" PRIx64, n->guid);
		snprintf(dev, 40, "hca");
	}
}

static bool has_port_name(const json_t *ports, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(ports, i, v)
		if (!strcmp(json_string_value(json_object_get(v, "name")), name))
			return true;
	return false;
}

static int ca_add(json_t *hosts, const struct ibd_node *n, const char *sm)
{
	char host[LOOM_NAME_MAX], dev[40], name[LOOM_NAME_MAX];
	json_t *node, *ports;
	int rc = 0;

	ca_names(n, host, dev);
	if (!(node = json_object_get(hosts, host))) {
		node = json_object();
		ports = json_array();
		if (!node || !ports ||
		    json_object_set_new(node, "name", json_string(host)) ||
		    json_object_set_new(node, "hca_ports", ports) ||
		    json_object_set_new(hosts, host, node)) {
			json_decref(node);
			return -ENOMEM;
		}
	}
	ports = json_object_get(node, "hca_ports");
	for (size_t i = 0; i < n->n_ports; i++) {
		const struct ibd_port *pt = &n->ports[i];
		json_t *po;

		snprintf(name, sizeof(name), "%s/%u", dev, pt->num);
		/* Two CAs with the same description: keep both, named by GUID. */
		if (has_port_name(ports, name))
			snprintf(name, sizeof(name), "%016" PRIx64 "/%u", n->guid, pt->num);
		if (!(po = json_object()))
			return -ENOMEM;
		rc |= json_object_set_new(po, "name", json_string(name));
		rc |= json_object_set_new(po, "guid", guid_json(pt->guid));
		rc |= json_object_set_new(po, "rate_gbps", json_integer(pt->rate));
		rc |= json_object_set_new(po, "sm", json_string(sm));
		if (pt->lid)
			rc |= json_object_set_new(po, "lid", json_integer(pt->lid));
		rc |= json_array_append_new(ports, po);
	}
	return rc ? -ENOMEM : 0;
}

static int build(struct parser *p, const char *sm, json_t **out)
{
	json_t *root = json_object(), *switches = json_array(), *nodes = json_array();
	json_t *hosts = json_object();
	const char *key;
	json_t *v;
	int rc = -ENOMEM;

	if (!root || !switches || !nodes || !hosts)
		goto out;
	qsort(p->nodes, p->n_nodes, sizeof(*p->nodes), node_by_guid);
	for (size_t i = 0; i < p->n_nodes; i++) {
		const struct ibd_node *n = &p->nodes[i];

		if (n->type == 'S') {
			if (json_array_append_new(switches, switch_json(n)))
				goto out;
		} else if (n->type == 'C' && n->n_ports) {
			if (ca_add(hosts, n, sm))
				goto out;
		}
	}
	json_object_foreach(hosts, key, v) {
		if (array_sort_by_name(json_object_get(v, "hca_ports")) ||
		    json_array_append(nodes, v))
			goto out;
	}
	if (array_sort_by_name(nodes) ||
	    json_object_set(root, "switches", switches) ||
	    json_object_set(root, "nodes", nodes))
		goto out;
	*out = root;
	root = NULL;
	rc = 0;
out:
	json_decref(root);
	json_decref(switches);
	json_decref(nodes);
	json_decref(hosts);
	return rc;
}

int ibnetdiscover_import(const char *text, const char *sm, json_t **out, struct loom_err *err)
{
	struct parser p = { .err = err };
	char *copy, *line, *next;
	int rc = 0;

	if (!topology_name_ok(sm))
		return loom_err_set(err, LOOM_E_TOPOLOGY, "sm",
				    "\"%s\" is not a valid subnet manager name", sm);
	if (!(copy = strdup(text))) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		return -ENOMEM;
	}
	for (line = copy; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		p.line++;
		rc = parse_line(&p, line);
	}
	if (rc == -ENOMEM) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	} else if (!rc && p.n_nodes == 0) {
		rc = loom_err_set(err, LOOM_E_TOPOLOGY, "",
				  "no Switch or Ca records found: is this the output of ibnetdiscover?");
	} else if (!rc && (rc = build(&p, sm, out))) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	}
	for (size_t i = 0; i < p.n_nodes; i++)
		free(p.nodes[i].ports);
	free(p.nodes);
	free(copy);
	return rc;
}
