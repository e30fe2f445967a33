/*
 * src/conf.c: parsing and checking loomd.conf.
 *
 * The format is deliberately flat: one "key = value" per line, so that
 * `loomd -n` can print the effective config and that output parses again.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "lib/log.h"
#include "lib/metrics.h"
#include "src/conf.h"
#include "topology/topology.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

void config_defaults(struct loom_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->frr_apply, sizeof(c->frr_apply), "vtysh-session");
	snprintf(c->cluster_prefix, sizeof(c->cluster_prefix), "/loom/v1");
	c->cluster_lease_ttl_s = 10;
	snprintf(c->instance, sizeof(c->instance), "main");
	c->cluster_leader_ttl_s = 5;
	c->cluster_snapshot_entries = 10000;
	if (gethostname(c->cluster_name, sizeof(c->cluster_name)))
		snprintf(c->cluster_name, sizeof(c->cluster_name), "loomd");
	c->cluster_name[sizeof(c->cluster_name) - 1] = '\0';
	snprintf(c->socket, sizeof(c->socket), "%s", "/run/loom/loomd.sock");
	snprintf(c->database, sizeof(c->database), "%s", "/var/lib/loom/loom.db");
	snprintf(c->topology, sizeof(c->topology), "%s", "/etc/loom/topology.json");
	c->pools.vni_min = 10000;
	c->pools.vni_max = 99999;
	c->pools.pkey_min = 0x0100;
	c->pools.pkey_max = 0x7ffe;
	c->pools.rt_asn = 65000;
	c->pools.l3vni_min = 100000;
	c->pools.l3vni_max = 100999;
	snprintf(c->admin_group, sizeof(c->admin_group), "%s", "loom-admin");
	snprintf(c->reader_group, sizeof(c->reader_group), "%s", "loom-read");
	c->admin_gid = c->reader_gid = (gid_t)-1;
	c->socket_mode = 0660;
	snprintf(c->log_level, sizeof(c->log_level), "%s", "info");
	c->max_request_bytes = 1 << 20;
	c->max_clients = 1024;
	c->resync_interval_s = 60;
	c->reconcile = true;
	fault_policy_defaults(&c->fault);
	c->counter_interval_s = 30;
	rdma_thresholds_defaults(&c->rdma);
	rdma_bw_opts_defaults(&c->rdma_opts);
	c->tls_min_version = TLS1_2_VERSION;
	c->tls_handshake_timeout_s = 10;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

/* "A-B" with both ends inside [min, max] and A <= B. */
static int parse_range(const char *s, uint64_t min, uint64_t max, uint64_t *lo, uint64_t *hi)
{
	char buf[64];
	char *dash;

	snprintf(buf, sizeof(buf), "%s", s);
	dash = strchr(buf, '-');
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (parse_u64(trim(buf), min, max, lo) || parse_u64(trim(dash + 1), min, max, hi) || *lo > *hi)
		return -ERANGE;
	return 0;
}

static int set_string(char *dst, size_t size, const char *v)
{
	if (strlen(v) >= size)
		return -ENAMETOOLONG;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

/* Resolves group names to gids; a missing group is not an error (nobody is in it). */
static void resolve_groups(struct loom_config *c)
{
	struct group *g;

	g = c->admin_group[0] ? getgrnam(c->admin_group) : NULL;
	c->admin_gid = g ? g->gr_gid : (gid_t)-1;
	g = c->reader_group[0] ? getgrnam(c->reader_group) : NULL;
	c->reader_gid = g ? g->gr_gid : (gid_t)-1;
	for (size_t i = 0; i < c->n_tenant_groups; i++) {
		g = getgrnam(c->tenant_groups[i].group);
		c->tenant_groups[i].gid = g ? g->gr_gid : (gid_t)-1;
	}
}

/*
 * rdma.runner: split on blanks into an argv at load time, so that no shell
 * ever sees it.  No quoting: a word cannot contain a blank.
 */
static int set_runner(struct loom_config *c, const char *v, const char **why)
{
	char buf[CONF_RUNNER_WORDS * CONF_WORD_MAX];
	char *save = NULL, *w;
	size_t n = 0;

	if (strlen(v) >= sizeof(buf)) {
		*why = "too long";
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	memset(c->rdma_runner, 0, sizeof(c->rdma_runner));
	for (w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == CONF_RUNNER_WORDS || strlen(w) >= CONF_WORD_MAX) {
			*why = "at most 16 words of at most 127 bytes each";
			return -EINVAL;
		}
		if (strpbrk(w, "\"'\\`$;|&<>")) {
			*why = "an argv prefix split on blanks, not a shell string: no quotes, $, ;, |, &, < or >";
			return -EINVAL;
		}
		memcpy(c->rdma_runner[n++], w, strlen(w) + 1);
	}
	c->n_rdma_runner = n;
	return 0;
}

/* gpu.nvml.NODE = PATH: the NVML library loomd loads for NODE's GPU worker. */
static int set_nvml(struct loom_config *c, const char *node, const char *v, const char **why)
{
	size_t i;

	*why = "expected gpu.nvml.NODE = /absolute/path/to/libnvidia-ml.so.1 (NODE a node name)";
	if (!topology_name_ok(node) || v[0] != '/' || strlen(v) >= LOOM_PATH_MAX)
		return -EINVAL;
	for (i = 0; i < c->n_nvml; i++)
		if (strcmp(c->nvml[i].node, node) == 0)
			break;
	if (i == c->n_nvml) {
		*why = "too many gpu.nvml entries";
		if (c->n_nvml == CONF_NVML_MAX)
			return -EINVAL;
		c->n_nvml++;
	}
	/* A later line for the node replaces it whole (no tail of the old path). */
	memset(&c->nvml[i], 0, sizeof(c->nvml[i]));
	snprintf(c->nvml[i].node, sizeof(c->nvml[i].node), "%s", node);
	snprintf(c->nvml[i].path, sizeof(c->nvml[i].path), "%s", v);
	return 0;
}

/* provisioning_segment = TENANT/SEGMENT, or nothing. */
static int set_provisioning(struct loom_config *c, const char *v, const char **why)
{
	const char *slash = strchr(v, '/');
	char tenant[LOOM_NAME_MAX];

	*why = "expected TENANT/SEGMENT (two names, lowercase DNS labels) or nothing";
	c->provisioning_tenant[0] = c->provisioning_segment[0] = '\0';
	if (!v[0])
		return 0;
	if (!slash || (size_t)(slash - v) >= sizeof(tenant))
		return -EINVAL;
	memcpy(tenant, v, (size_t)(slash - v));
	tenant[slash - v] = '\0';
	if (!topology_name_ok(tenant) || !topology_name_ok(slash + 1))
		return -EINVAL;
	snprintf(c->provisioning_tenant, sizeof(c->provisioning_tenant), "%s", tenant);
	snprintf(c->provisioning_segment, sizeof(c->provisioning_segment), "%s", slash + 1);
	return 0;
}

/* A list separated by blanks or commas: node names, or words not starting with '-'. */
static bool words_ok(const char *v, bool names)
{
	char w[LOOM_NAME_MAX];

	while (*v) {
		size_t len = strcspn(v, " \t,");

		if (len) {
			if (len >= sizeof(w))
				return false;
			snprintf(w, sizeof(w), "%.*s", (int)len, v);
			if (names ? !topology_name_ok(w) : w[0] == '-')
				return false;
			v += len;
		}
		v += strspn(v, " \t,");
	}
	return true;
}

/* listen = tls://ADDR:PORT (ADDR a name, an IPv4 address or [IPv6]), or nothing. */
static int set_listen(struct loom_config *c, const char *v, const char **why)
{
	const char *host = v + 6, *colon, *end;
	uint64_t port;

	*why = "expected tls://ADDR:PORT (ADDR a host name, an IPv4 address or [IPv6]) or nothing";
	c->listen_host[0] = c->listen_port[0] = '\0';
	if (!v[0])
		return 0;
	if (strncmp(v, "tls://", 6))
		return -EINVAL;
	if (*host == '[') {
		end = strchr(host, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
		host++;
	} else {
		colon = strrchr(host, ':');
		end = colon;
	}
	if (!colon || end == host || (size_t)(end - host) >= sizeof(c->listen_host)
	    || parse_u64(colon + 1, 1, 65535, &port))
		return -EINVAL;
	memcpy(c->listen_host, host, (size_t)(end - host));
	c->listen_host[end - host] = '\0';
	snprintf(c->listen_port, sizeof(c->listen_port), "%u", (unsigned int)port);
	return 0;
}

static const char *const cert_fields[] = { [CERT_CN] = "cn", [CERT_DNS] = "dns", [CERT_URI] = "uri",
					   [CERT_EMAIL] = "email" };

/* principal = FIELD:VALUE ROLE; each line adds a rule. */
static int add_principal(struct loom_config *c, const char *v, const char **why)
{
	struct conf_principal *p = &c->principals[c->n_principals];
	const char *colon = strchr(v, ':'), *blank = strrchr(v, ' ');
	const char *role;
	size_t len;

	*why = "expected FIELD:VALUE ROLE, FIELD one of cn, dns, uri, email (VALUE may end in '*'), "
	       "ROLE admin, reader or tenant:NAME";
	if (c->n_principals == CONF_PRINCIPALS_MAX) {
		*why = "at most 64 principal rules";
		return -EINVAL;
	}
	if (!colon || !blank || blank < colon)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->field = (enum conf_cert_field)-1;
	for (size_t i = 0; i < sizeof(cert_fields) / sizeof(cert_fields[0]); i++)
		if ((size_t)(colon - v) == strlen(cert_fields[i]) && strncmp(v, cert_fields[i], strlen(cert_fields[i])) == 0)
			p->field = (enum conf_cert_field)i;
	if ((int)p->field < 0)
		return -EINVAL;
	len = (size_t)(blank - colon - 1);
	while (len > 0 && colon[len] == ' ')
		len--;
	if (len == 0 || len >= sizeof(p->value))
		return -EINVAL;
	memcpy(p->value, colon + 1, len);
	p->value[len] = '\0';
	if (p->value[len - 1] == '*') {
		p->prefix = true;
		p->value[len - 1] = '\0';
	}
	role = blank + 1;
	if (strcmp(role, "admin") == 0)
		p->role = ROLE_ADMIN;
	else if (strcmp(role, "reader") == 0)
		p->role = ROLE_READER;
	else if (strncmp(role, "tenant:", 7) == 0 && topology_name_ok(role + 7)
		 && strlen(role + 7) < sizeof(p->tenant)) {
		p->role = ROLE_TENANT;
		snprintf(p->tenant, sizeof(p->tenant), "%s", role + 7);
	} else {
		return -EINVAL;
	}
	c->n_principals++;
	return 0;
}

/* tenant_group = GROUP TENANT; each line adds one. */
static int add_tenant_group(struct loom_config *c, const char *v, const char **why)
{
	struct conf_tenant_group *g = &c->tenant_groups[c->n_tenant_groups];
	const char *blank = strchr(v, ' ');
	const char *tenant;

	*why = "expected GROUP TENANT (a Unix group, a tenant name)";
	if (c->n_tenant_groups == CONF_TENANT_GROUPS_MAX) {
		*why = "at most 64 tenant_group lines";
		return -EINVAL;
	}
	if (!blank || blank == v || (size_t)(blank - v) >= sizeof(g->group))
		return -EINVAL;
	for (tenant = blank; *tenant == ' ';)
		tenant++;
	if (!topology_name_ok(tenant) || strlen(tenant) >= sizeof(g->tenant))
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	memcpy(g->group, v, (size_t)(blank - v));
	snprintf(g->tenant, sizeof(g->tenant), "%s", tenant);
	g->gid = (gid_t)-1;
	c->n_tenant_groups++;
	return 0;
}

static int set_path(char *dst, size_t size, const char *v, const char **why)
{
	*why = "expected an absolute path or nothing";
	if (v[0] && v[0] != '/')
		return -EINVAL;
	*why = "path too long";
	return set_string(dst, size, v);
}

/*
 * One branch per key of loomd.conf; each sets *why to what the key expects.
 * Long on purpose: each key's parse stands on its own lines beside its
 * wording, in the order loomd(8) lists them; a table of callbacks would
 * only move every branch into a function of its own.
 */
static int config_set(struct loom_config *c, const char *key, const char *v, const char **why)
{
	uint64_t a, b;
	unsigned int mask;

	*why = "invalid value";
	if (strcmp(key, "socket") == 0) {
		*why = "path too long (at most 107 bytes)";
		return v[0] == '/' ? set_string(c->socket, sizeof(c->socket), v) : (*why = "must be an absolute path", -EINVAL);
	} else if (strcmp(key, "database") == 0) {
		*why = "path too long";
		return v[0] == '/' ? set_string(c->database, sizeof(c->database), v) : (*why = "must be an absolute path", -EINVAL);
	} else if (strcmp(key, "topology") == 0) {
		*why = "path too long";
		return v[0] == '/' ? set_string(c->topology, sizeof(c->topology), v) : (*why = "must be an absolute path", -EINVAL);
	} else if (strcmp(key, "instance") == 0) {
		*why = "expected a lowercase DNS label (the name the topology's delegations give this instance)";
		if (!topology_name_ok(v))
			return -EINVAL;
		snprintf(c->instance, sizeof(c->instance), "%s", v);
	} else if (strcmp(key, "vni_range") == 0) {
		*why = "expected FIRST-LAST with 1 <= FIRST <= LAST <= 16777215";
		if (parse_range(v, 1, 16777215, &a, &b))
			return -EINVAL;
		c->pools.vni_min = (uint32_t)a;
		c->pools.vni_max = (uint32_t)b;
	} else if (strcmp(key, "l3vni_range") == 0) {
		*why = "expected FIRST-LAST with 1 <= FIRST <= LAST <= 16777215, at most 65536 VNIs "
		       "(a VRF's RD is VTEP-IP:L3VNI modulo 65536)";
		if (parse_range(v, 1, 16777215, &a, &b) || b - a >= 65536)
			return -EINVAL;
		c->pools.l3vni_min = (uint32_t)a;
		c->pools.l3vni_max = (uint32_t)b;
	} else if (strcmp(key, "pkey_range") == 0) {
		*why = "expected FIRST-LAST with 0x0001 <= FIRST <= LAST <= 0x7ffe";
		if (parse_range(v, 1, 0x7ffe, &a, &b))
			return -EINVAL;
		c->pools.pkey_min = (uint16_t)a;
		c->pools.pkey_max = (uint16_t)b;
	} else if (strcmp(key, "route_target_asn") == 0) {
		*why = "expected a 2-byte ASN, 1..65535";
		if (parse_u64(v, 1, 65535, &a))
			return -EINVAL;
		c->pools.rt_asn = (unsigned int)a;
	} else if (strcmp(key, "admin_group") == 0) {
		*why = "group name too long";
		return set_string(c->admin_group, sizeof(c->admin_group), v);
	} else if (strcmp(key, "reader_group") == 0) {
		*why = "group name too long";
		return set_string(c->reader_group, sizeof(c->reader_group), v);
	} else if (strcmp(key, "socket_mode") == 0) {
		*why = "expected octal permission bits such as 0660";
		if (v[0] != '0' || parse_u64(v, 0, 0777, &a))
			return -EINVAL;
		c->socket_mode = (unsigned int)a;
	} else if (strcmp(key, "log_level") == 0) {
		*why = "expected err, warn, info or debug";
		if (log_level_parse(v) < 0)
			return -EINVAL;
		return set_string(c->log_level, sizeof(c->log_level), v);
	} else if (strcmp(key, "debug") == 0) {
		*why = "expected a comma list of api, store, reconcile, netlink, frr, opensm, mad, lifecycle, gpu, or all";
		if (v[0] && log_debug_parse(v, &mask) < 0)
			return -EINVAL;
		return set_string(c->debug, sizeof(c->debug), v);
	} else if (strcmp(key, "max_request_bytes") == 0) {
		*why = "expected 1024..268435456";
		if (parse_u64(v, 1024, 256u << 20, &a))
			return -EINVAL;
		c->max_request_bytes = (size_t)a;
	} else if (strcmp(key, "max_clients") == 0) {
		*why = "expected 1..65536";
		if (parse_u64(v, 1, 65536, &a))
			return -EINVAL;
		c->max_clients = (unsigned int)a;
	} else if (strcmp(key, "resync_interval") == 0) {
		*why = "expected seconds, 1..86400";
		if (parse_u64(v, 1, 86400, &a))
			return -EINVAL;
		c->resync_interval_s = (unsigned int)a;
	} else if (strcmp(key, "frr_apply") == 0) {
		*why = "expected vtysh (one vtysh -f per batch), vtysh-session (one vtysh kept "
		       "running) or vty (bgpd's vty socket, no vtysh)";
		if (strcmp(v, "vtysh") && strcmp(v, "vtysh-session") && strcmp(v, "vty"))
			return -EINVAL;
		snprintf(c->frr_apply, sizeof(c->frr_apply), "%s", v);
	} else if (strcmp(key, "cluster.etcd") == 0) {
		*why = "expected http://HOST:PORT[,http://HOST:PORT...]";
		if (strlen(v) >= sizeof(c->cluster_etcd) || (v[0] && strncmp(v, "http://", 7)
							     && strncmp(v, "https://", 8)))
			return -EINVAL;
		snprintf(c->cluster_etcd, sizeof(c->cluster_etcd), "%s", v);
	} else if (strcmp(key, "cluster.prefix") == 0) {
		*why = "expected /PATH, not ending with /";
		if (strlen(v) >= sizeof(c->cluster_prefix) || v[0] != '/' || v[strlen(v) - 1] == '/')
			return -EINVAL;
		snprintf(c->cluster_prefix, sizeof(c->cluster_prefix), "%s", v);
	} else if (strcmp(key, "cluster.lease_ttl") == 0) {
		*why = "expected seconds in 2..3600 (the agents' cluster.lease_ttl)";
		if (parse_u64(v, 2, 3600, &a))
			return -EINVAL;
		c->cluster_lease_ttl_s = (unsigned int)a;
	} else if (strcmp(key, "cluster.ha") == 0) {
		*why = "expected yes or no";
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return -EINVAL;
		c->cluster_ha = strcmp(v, "yes") == 0;
	} else if (strcmp(key, "cluster.leader_ttl") == 0) {
		*why = "expected seconds, 2..60";
		if (parse_u64(v, 2, 60, &a))
			return -EINVAL;
		c->cluster_leader_ttl_s = (unsigned int)a;
	} else if (strcmp(key, "cluster.snapshot_entries") == 0) {
		*why = "expected a number of log entries, 10..1000000000";
		if (parse_u64(v, 10, 1000000000, &a))
			return -EINVAL;
		c->cluster_snapshot_entries = (unsigned int)a;
	} else if (strcmp(key, "cluster.name") == 0) {
		*why = "expected 1..63 characters of letters, digits, '.', '_', '-'";
		if (!v[0] || strlen(v) >= sizeof(c->cluster_name) || strspn(v, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(v))
			return -EINVAL;
		snprintf(c->cluster_name, sizeof(c->cluster_name), "%s", v);
	} else if (strcmp(key, "metrics.listen") == 0) {
		*why = "expected ADDR:PORT with a numeric address, e.g. 127.0.0.1:9464 or [::1]:9464";
		if (strlen(v) >= sizeof(c->metrics_listen) || !metrics_listen_valid(v))
			return -EINVAL;
		snprintf(c->metrics_listen, sizeof(c->metrics_listen), "%s", v);
	} else if (strcmp(key, "reconcile") == 0) {
		*why = "expected yes or no";
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return -EINVAL;
		c->reconcile = strcmp(v, "yes") == 0;
	} else if (strcmp(key, "gpu.allow_mig_mode") == 0) {
		*why = "expected yes or no";
		if (strcmp(v, "yes") && strcmp(v, "no"))
			return -EINVAL;
		c->gpu_allow_mig_mode = strcmp(v, "yes") == 0;
	} else if (strncmp(key, "gpu.nvml.", 9) == 0) {
		return set_nvml(c, key + 9, v, why);
	} else if (strcmp(key, "fault.counter_interval") == 0) {
		*why = "expected seconds between PortCounters samples, 0 (off) to 86400";
		if (parse_u64(v, 0, 86400, &a))
			return -EINVAL;
		c->counter_interval_s = (unsigned int)a;
	} else if (strcmp(key, "isolation.interval") == 0) {
		*why = "expected seconds between isolation checks, 0 (off) to 86400";
		if (parse_u64(v, 0, 86400, &a))
			return -EINVAL;
		c->isolation_interval_s = (unsigned int)a;
	} else if (strcmp(key, "isolation.key") == 0) {
		*why = "expected an absolute path to a PEM private key, or nothing";
		if (v[0] && v[0] != '/')
			return -EINVAL;
		return set_string(c->isolation_key, sizeof(c->isolation_key), v);
	} else if (strcmp(key, "rdma.tool") == 0) {
		*why = "expected loom-rdma-bw, ib_write_bw, an absolute path to either, or nothing";
		if (v[0] && v[0] != '/' && strcmp(v, "loom-rdma-bw") && strcmp(v, "ib_write_bw"))
			return -EINVAL;
		return set_string(c->rdma_tool, sizeof(c->rdma_tool), v);
	} else if (strcmp(key, "rdma.peer") == 0) {
		*why = "expected node names (lowercase DNS labels) separated by blanks or commas, or nothing";
		if (!words_ok(v, true))
			return -EINVAL;
		return set_string(c->rdma_peer, sizeof(c->rdma_peer), v);
	} else if (strcmp(key, "rdma.peer_address") == 0) {
		*why = "expected host names or addresses (one per peer, in order), not starting with '-'";
		if (!words_ok(v, false))
			return -EINVAL;
		return set_string(c->rdma_peer_address, sizeof(c->rdma_peer_address), v);
	} else if (strcmp(key, "rdma.runner") == 0) {
		return set_runner(c, v, why);
	} else if (strcmp(key, "provisioning_segment") == 0) {
		return set_provisioning(c, v, why);
	} else if (strcmp(key, "listen") == 0) {
		return set_listen(c, v, why);
	} else if (strcmp(key, "tls.cert") == 0) {
		return set_path(c->tls_cert, sizeof(c->tls_cert), v, why);
	} else if (strcmp(key, "tls.key") == 0) {
		return set_path(c->tls_key, sizeof(c->tls_key), v, why);
	} else if (strcmp(key, "tls.ca") == 0) {
		return set_path(c->tls_ca, sizeof(c->tls_ca), v, why);
	} else if (strcmp(key, "tls.crl") == 0) {
		return set_path(c->tls_crl, sizeof(c->tls_crl), v, why);
	} else if (strcmp(key, "tls.min_version") == 0) {
		*why = "expected 1.2 or 1.3";
		if (strcmp(v, "1.2") && strcmp(v, "1.3"))
			return -EINVAL;
		c->tls_min_version = strcmp(v, "1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
	} else if (strcmp(key, "tls.handshake_timeout") == 0) {
		*why = "expected seconds, 1..300";
		if (parse_u64(v, 1, 300, &a))
			return -EINVAL;
		c->tls_handshake_timeout_s = (unsigned int)a;
	} else if (strcmp(key, "limit.connections") == 0) {
		*why = "expected connections per principal, 0 (no limit) to 65536";
		if (parse_u64(v, 0, 65536, &a))
			return -EINVAL;
		c->limit_connections = (unsigned int)a;
	} else if (strcmp(key, "limit.requests_per_second") == 0) {
		*why = "expected requests per second per principal, 0 (no limit) to 10000000";
		if (parse_u64(v, 0, 10000000, &a))
			return -EINVAL;
		c->limit_rps = (unsigned int)a;
	} else if (strcmp(key, "principal") == 0) {
		return add_principal(c, v, why);
	} else if (strcmp(key, "tenant_group") == 0) {
		return add_tenant_group(c, v, why);
	} else {
		*why = "unknown key";
		return -ENOENT;
	}
	return 0;
}

int config_load(const char *path, struct loom_config *c, struct loom_err *err)
{
	char line[1024];
	unsigned int lineno = 0;
	FILE *f;
	int ret = 0;

	config_defaults(c);
	set_string(c->path, sizeof(c->path), path);
	f = fopen(path, "re");
	if (!f)
		return loom_err_set(err, LOOM_E_CONFIG, "", "cannot open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *key, *eq, *val, field[160];
		const char *why;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			ret = loom_err_set(err, LOOM_E_CONFIG, "", "%s:%u: line longer than %zu bytes",
					   path, lineno, sizeof(line) - 2);
			goto out;
		}
		key = trim(line);
		if (!*key || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			ret = loom_err_set(err, LOOM_E_CONFIG, "", "%s:%u: expected 'key = value'", path, lineno);
			goto out;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		snprintf(field, sizeof(field), "%s", key);
		ret = fault_policy_set(&c->fault, key, val, err);
		if (ret == -ENOENT)
			ret = rdma_thresholds_set(&c->rdma, key, val, err);
		if (ret == -ENOENT)
			ret = rdma_bw_opts_set(&c->rdma_opts, key, val, err);
		if (ret != -ENOENT) {
			if (ret) {
				char msg[sizeof(err->msg)];

				snprintf(msg, sizeof(msg), "%s", err->msg);
				loom_err_clear(err);
				ret = loom_err_set(err, LOOM_E_CONFIG, field, "%s:%u: %s: %s",
						   path, lineno, key, msg);
				goto out;
			}
			continue;
		}
		ret = 0;
		if (config_set(c, key, val, &why) < 0) {
			ret = loom_err_set(err, LOOM_E_CONFIG, field, "%s:%u: %s: %s (got '%s')",
					   path, lineno, key, why, val);
			goto out;
		}
	}
	resolve_groups(c);
	if (c->pools.l3vni_min <= c->pools.vni_max && c->pools.vni_min <= c->pools.l3vni_max) {
		ret = loom_err_set(err, LOOM_E_CONFIG, "l3vni_range", "%s: l3vni_range %" PRIu32 "-%" PRIu32
				   " overlaps vni_range %" PRIu32 "-%" PRIu32 "; tenants' L3 VNIs and "
				   "segments' VNIs share the VXLAN VNI space, so their pools must not overlap",
				   path, c->pools.l3vni_min, c->pools.l3vni_max, c->pools.vni_min,
				   c->pools.vni_max);
		goto out;
	}
	if (c->listen_host[0] && (!c->tls_cert[0] || !c->tls_key[0] || !c->tls_ca[0]))
		ret = loom_err_set(err, LOOM_E_CONFIG, "listen", "%s: listen = tls://... needs tls.cert, "
				   "tls.key and tls.ca (client certificates are always checked)", path);
	else if (c->cluster_ha && !c->cluster_etcd[0])
		ret = loom_err_set(err, LOOM_E_CONFIG, "cluster.ha", "%s: cluster.ha = yes needs cluster.etcd "
				   "(the controllers share their state through etcd)", path);
out:
	fclose(f);
	return ret;
}

void config_print(const struct loom_config *c, FILE *out)
{
	fprintf(out, "socket = %s\n", c->socket);
	fprintf(out, "database = %s\n", c->database);
	fprintf(out, "topology = %s\n", c->topology);
	fprintf(out, "instance = %s\n", c->instance);
	fprintf(out, "vni_range = %" PRIu32 "-%" PRIu32 "\n", c->pools.vni_min, c->pools.vni_max);
	fprintf(out, "l3vni_range = %" PRIu32 "-%" PRIu32 "\n", c->pools.l3vni_min, c->pools.l3vni_max);
	fprintf(out, "pkey_range = 0x%04x-0x%04x\n", c->pools.pkey_min, c->pools.pkey_max);
	fprintf(out, "route_target_asn = %u\n", c->pools.rt_asn);
	fprintf(out, "admin_group = %s\n", c->admin_group);
	fprintf(out, "reader_group = %s\n", c->reader_group);
	fprintf(out, "socket_mode = 0%o\n", c->socket_mode);
	fprintf(out, "log_level = %s\n", c->log_level);
	fprintf(out, "debug = %s\n", c->debug);
	fprintf(out, "max_request_bytes = %zu\n", c->max_request_bytes);
	fprintf(out, "max_clients = %u\n", c->max_clients);
	fprintf(out, "resync_interval = %u\n", c->resync_interval_s);
	fprintf(out, "reconcile = %s\n", c->reconcile ? "yes" : "no");
	if (c->metrics_listen[0])
		fprintf(out, "metrics.listen = %s\n", c->metrics_listen);
	if (c->cluster_etcd[0])
		fprintf(out, "cluster.etcd = %s\n", c->cluster_etcd);
	fprintf(out, "cluster.prefix = %s\n", c->cluster_prefix);
	fprintf(out, "cluster.lease_ttl = %u\n", c->cluster_lease_ttl_s);
	fprintf(out, "cluster.ha = %s\n", c->cluster_ha ? "yes" : "no");
	fprintf(out, "cluster.leader_ttl = %u\n", c->cluster_leader_ttl_s);
	fprintf(out, "cluster.snapshot_entries = %u\n", c->cluster_snapshot_entries);
	fprintf(out, "cluster.name = %s\n", c->cluster_name);
	fprintf(out, "frr_apply = %s\n", c->frr_apply);
	fprintf(out, "provisioning_segment = %s%s%s\n", c->provisioning_tenant,
		c->provisioning_tenant[0] ? "/" : "", c->provisioning_segment);
	fprintf(out, "gpu.allow_mig_mode = %s\n", c->gpu_allow_mig_mode ? "yes" : "no");
	for (size_t i = 0; i < c->n_nvml; i++)
		fprintf(out, "gpu.nvml.%s = %s\n", c->nvml[i].node, c->nvml[i].path);
	for (int sev = 0; sev < FAULT_SEVERITY_COUNT; sev++)
		fprintf(out, "fault.%s = %s\n", fault_severity_name((enum fault_severity)sev),
			fault_action_name(c->fault.on[sev]));
	fprintf(out, "fault.hold_down = %u\n", c->fault.hold_down_s);
	fprintf(out, "fault.symbol_errors = %" PRIu32 "\n", c->fault.symbol_errors);
	fprintf(out, "fault.link_downed = %" PRIu32 "\n", c->fault.link_downed);
	fprintf(out, "fault.link_recovery = %" PRIu32 "\n", c->fault.link_recovery);
	fprintf(out, "fault.carrier_severity = %s\n", fault_severity_name(c->fault.carrier_severity));
	fprintf(out, "fault.port_state_severity = %s\n", fault_severity_name(c->fault.port_state_severity));
	fprintf(out, "fault.counter_severity = %s\n", fault_severity_name(c->fault.counter_severity));
	fprintf(out, "fault.counter_interval = %u\n", c->counter_interval_s);
	fprintf(out, "rdma.pass_pct = %.15g\n", c->rdma.pct);
	for (size_t i = 0; i < c->rdma.n_over; i++) {
		const struct rdma_threshold_override *o = &c->rdma.over[i];

		if (o->pct > 0)
			fprintf(out, "rdma.pass_pct.%u = %.15g\n", o->rate_gbps, o->pct);
		if (o->min_gbps > 0)
			fprintf(out, "rdma.min_gbps.%u = %.15g\n", o->rate_gbps, o->min_gbps);
	}
	fprintf(out, "rdma.qps = %u\nrdma.size = %lu\nrdma.duration = %u\n", c->rdma_opts.qps,
		c->rdma_opts.size, c->rdma_opts.duration_s);
	if (c->rdma_opts.gid_index >= 0)
		fprintf(out, "rdma.gid_index = %d\n", c->rdma_opts.gid_index);
	else
		fprintf(out, "rdma.gid_index = auto\n");
	fprintf(out, "rdma.timeout = %d\n", c->rdma_opts.timeout_ms / 1000);
	fprintf(out, "rdma.tx_depth = %u\n", c->rdma_opts.tx_depth);
	fprintf(out, "isolation.interval = %u\nisolation.key = %s\n", c->isolation_interval_s, c->isolation_key);
	fprintf(out, "rdma.tool = %s\n", c->rdma_tool);
	fprintf(out, "rdma.peer = %s\n", c->rdma_peer);
	fprintf(out, "rdma.peer_address = %s\n", c->rdma_peer_address);
	if (c->listen_host[0])
		fprintf(out, strchr(c->listen_host, ':') ? "listen = tls://[%s]:%s\n" : "listen = tls://%s:%s\n",
			c->listen_host, c->listen_port);
	else
		fprintf(out, "listen =\n");
	fprintf(out, "tls.cert = %s\n", c->tls_cert);
	fprintf(out, "tls.key = %s\n", c->tls_key);
	fprintf(out, "tls.ca = %s\n", c->tls_ca);
	fprintf(out, "tls.crl = %s\n", c->tls_crl);
	fprintf(out, "tls.min_version = %s\n", c->tls_min_version == TLS1_3_VERSION ? "1.3" : "1.2");
	fprintf(out, "tls.handshake_timeout = %u\n", c->tls_handshake_timeout_s);
	fprintf(out, "limit.connections = %u\n", c->limit_connections);
	fprintf(out, "limit.requests_per_second = %u\n", c->limit_rps);
	for (size_t i = 0; i < c->n_principals; i++)
		fprintf(out, "principal = %s:%s%s %s%s\n", cert_fields[c->principals[i].field],
			c->principals[i].value, c->principals[i].prefix ? "*" : "",
			c->principals[i].role == ROLE_ADMIN ? "admin" : c->principals[i].role == ROLE_READER
			? "reader" : "tenant:", c->principals[i].role == ROLE_TENANT ? c->principals[i].tenant : "");
	for (size_t i = 0; i < c->n_tenant_groups; i++)
		fprintf(out, "tenant_group = %s %s\n", c->tenant_groups[i].group, c->tenant_groups[i].tenant);
	fprintf(out, "rdma.runner =");
	for (size_t i = 0; i < c->n_rdma_runner; i++)
		fprintf(out, " %s", c->rdma_runner[i]);
	fprintf(out, "\n");
}

bool config_rdma_check(const struct loom_config *c, struct rdma_bw_opts *o,
		       const char *prefix[CONF_RUNNER_WORDS + 1])
{
	const char *base;

	*o = c->rdma_opts;
	memset(prefix, 0, (CONF_RUNNER_WORDS + 1) * sizeof(*prefix));
	for (size_t i = 0; i < c->n_rdma_runner; i++)
		prefix[i] = c->rdma_runner[i];
	if (!c->rdma_tool[0] || !c->rdma_peer[0])
		return false;
	base = strrchr(c->rdma_tool, '/');
	base = base ? base + 1 : c->rdma_tool;
	o->tool = strcmp(base, "loom-rdma-bw") == 0 ? RDMA_TOOL_BUILTIN : RDMA_TOOL_PERFTEST;
	o->program = c->rdma_tool[0] == '/' ? c->rdma_tool : NULL;
	return true;
}
