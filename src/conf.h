/*
 * src/conf.h: loomd.conf, a flat "key = value" file (# comments).
 * Every key, its default and its meaning are in loomd(8) and
 * etc/loomd.conf.
 */
#ifndef LOOM_SRC_CONF_H
#define LOOM_SRC_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fabric/rdma_bw.h"
#include "lib/err.h"
#include "node/fault.h"
#include "tenancy/model.h"

#define CONF_NVML_MAX 64

/* gpu.nvml.NODE = PATH: loomd drives NODE's GPUs through the NVML at PATH. */
struct conf_nvml {
	char node[LOOM_NAME_MAX];
	char path[LOOM_PATH_MAX];
};
/* rdma.peer, rdma.peer_address: the length of the list. */
#define CONF_PEERS_LEN 512

/* rdma.runner: at most this many words, each shorter than CONF_WORD_MAX. */
#define CONF_RUNNER_WORDS 16
#define CONF_WORD_MAX 128
/* principal = FIELD:VALUE ROLE lines, first match wins. */
#define CONF_PRINCIPALS_MAX 64

/* What an API client may do: nothing, read, read and change, or read and
 * change one tenant's own objects (ROLE_TENANT, with the tenant's name). */
enum api_role { ROLE_NONE, ROLE_READER, ROLE_ADMIN, ROLE_TENANT };

/* Which part of a client certificate a principal rule reads. */
enum conf_cert_field { CERT_CN, CERT_DNS, CERT_URI, CERT_EMAIL };

/*
 * principal = cn:VALUE ROLE (or dns:, uri:, email: for the SAN): a
 * certificate whose field is VALUE (a trailing '*' matches any rest) is
 * the principal "FIELD:ITS VALUE" with ROLE, admin or reader.
 */
struct conf_principal {
	enum conf_cert_field field;
	char value[128];
	bool prefix;		/* VALUE ended in '*' */
	enum api_role role;
	char tenant[64];	/* ROLE_TENANT: whose */
};

/* tenant_group = GROUP TENANT: members of the Unix group GROUP have role tenant:TENANT on the socket. */
#define CONF_TENANT_GROUPS_MAX 64
struct conf_tenant_group {
	char group[64];
	gid_t gid;		/* (gid_t)-1 when the group is absent */
	char tenant[64];
};

struct loom_config {
	char path[256];			/* the file it came from, "" = defaults */
	char socket[108];		/* sun_path */
	char database[256];
	char topology[256];
	/* instance = NAME: which share of the topology this loomd keeps
	 * (its delegation, or what no delegation lists). */
	char instance[LOOM_NAME_MAX];
	struct pools pools;
	char admin_group[64];
	char reader_group[64];
	gid_t admin_gid;		/* (gid_t)-1 when the group is absent */
	gid_t reader_gid;
	unsigned int socket_mode;	/* permission bits of the socket file */
	char log_level[16];
	char debug[128];
	size_t max_request_bytes;
	unsigned int max_clients;
	unsigned int resync_interval_s;
	bool reconcile;			/* drive the targets (off: the model and API only) */
	char metrics_listen[64];	/* metrics.listen = ADDR:PORT ("" = no metrics) */
	/* cluster.etcd = URL,...: cluster mode, targets driven by loom-agents
	 * through etcd ("" = single machine); cluster.prefix: loom's keys. */
	char cluster_etcd[1024];
	char cluster_prefix[128];
	/* cluster.lease_ttl: the agents' lease TTL; an agent not seen alive
	 * since loomd started is waited for this + 1 s before it is unreachable. */
	unsigned int cluster_lease_ttl_s;
	/* cluster.ha = yes: highly available controllers (docs/ha.md): the
	 * state of record is a log of changesets in etcd, one elected leader
	 * with a lease of cluster.leader_ttl seconds; cluster.name names this
	 * controller (default: the host name). */
	bool cluster_ha;
	unsigned int cluster_leader_ttl_s;
	/* cluster.snapshot_entries: the leader snapshots the state once the
	 * log holds this many entries after the last snapshot, then trims it. */
	unsigned int cluster_snapshot_entries;
	char cluster_name[64];
	/* provisioning_segment = TENANT/SEGMENT: where registered, verifying
	 * and quarantined nodes sit ("" = nowhere). */
	char provisioning_tenant[LOOM_NAME_MAX];
	char provisioning_segment[LOOM_NAME_MAX];
	char frr_apply[16];		/* vtysh, vtysh-session or vty (overlay/frr.h) */
	struct conf_nvml nvml[CONF_NVML_MAX];
	size_t n_nvml;
	bool gpu_allow_mig_mode;	/* gpu.allow_mig_mode: loom may turn MIG mode on */

	/* fault.*: what a fault does (node/fault.h), and how often the HCA
	 * watcher samples PortInfo / PortCounters (0 = not at all). */
	struct fault_policy fault;
	unsigned int counter_interval_s;
	char isolation_key[LOOM_PATH_MAX];	/* isolation.key: PEM private key signing reports ("" = none) */
	unsigned int isolation_interval_s;	/* isolation.interval: seconds between checks, 0 = off */
	/* rdma.*: pass marks, and the check node.verify runs itself when a
	 * tool and a reference peer are named ("" = results are fed in). */
	struct rdma_thresholds rdma;
	struct rdma_bw_opts rdma_opts;	/* rdma.qps, .size, .duration, .gid_index, .timeout, .tx_depth */
	char rdma_tool[LOOM_PATH_MAX];	/* loom-rdma-bw, ib_write_bw, or a path */
	char rdma_peer[CONF_PEERS_LEN];	/* the reference nodes, blank- or comma-separated */
	char rdma_peer_address[CONF_PEERS_LEN];	/* what the client connects to, one per peer; "" = their names */
	/* The argv prefix that runs a command on another node, split at load
	 * time ("{host}" is replaced by the node's name); none = run locally. */
	char rdma_runner[CONF_RUNNER_WORDS][CONF_WORD_MAX];
	size_t n_rdma_runner;

	/* listen = tls://ADDR:PORT: the TLS listener beside the socket ("" = none). */
	char listen_host[256];
	char listen_port[8];
	char tls_cert[LOOM_PATH_MAX];	/* the server's certificate (chain), PEM */
	char tls_key[LOOM_PATH_MAX];	/* its private key, PEM */
	char tls_ca[LOOM_PATH_MAX];	/* client certificates must chain to it */
	char tls_crl[LOOM_PATH_MAX];	/* revoked client certificates ("" = no CRL) */
	int tls_min_version;		/* TLS1_2_VERSION or TLS1_3_VERSION */
	unsigned int tls_handshake_timeout_s;
	struct conf_principal principals[CONF_PRINCIPALS_MAX];
	size_t n_principals;
	struct conf_tenant_group tenant_groups[CONF_TENANT_GROUPS_MAX];
	size_t n_tenant_groups;
	/* limit.*: per principal (a certificate's principal, or a uid on the
	 * socket), 0 = none. */
	unsigned int limit_connections;
	unsigned int limit_rps;
};

void config_defaults(struct loom_config *c);
/* Reads and checks the file; errors are LOOM_E_CONFIG naming "FILE:LINE key". */
int config_load(const char *path, struct loom_config *c, struct loom_err *err);
/* Prints the effective configuration in the file's own syntax (loomd -n). */
void config_print(const struct loom_config *c, FILE *out);

/*
 * The RDMA check as node.verify runs it: fills @o (tool, program) and
 * @prefix (rdma.runner as a NULL-terminated argv pointing into @c; NULL
 * when empty).  Returns false when no tool or no peer is configured.
 */
bool config_rdma_check(const struct loom_config *c, struct rdma_bw_opts *o,
		       const char *prefix[CONF_RUNNER_WORDS + 1]);

#endif
