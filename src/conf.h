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

#include "lib/err.h"
#include "src/fault.h"
#include "tenancy/model.h"

#define CONF_NVML_MAX 64

/* gpu.nvml.NODE = PATH: loomd drives NODE's GPUs through the NVML at PATH. */
struct conf_nvml {
	char node[LOOM_NAME_MAX];
	char path[LOOM_PATH_MAX];
};

struct loom_config {
	char path[256];			/* the file it came from, "" = defaults */
	char socket[108];		/* sun_path */
	char database[256];
	char topology[256];
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
	struct conf_nvml nvml[CONF_NVML_MAX];
	size_t n_nvml;
	bool gpu_allow_mig_mode;	/* gpu.allow_mig_mode: loom may turn MIG mode on */
	struct fault_policy fault;	/* the fault.* keys (src/fault.h) */
};

void config_defaults(struct loom_config *c);
/* Reads and checks the file; errors are LOOM_E_CONFIG naming "FILE:LINE key". */
int config_load(const char *path, struct loom_config *c, struct loom_err *err);
/* Prints the effective configuration in the file's own syntax (loomd -n). */
void config_print(const struct loom_config *c, FILE *out);

#endif
