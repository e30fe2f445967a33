/*
 * tools/isolation_check.c: `isolation-check`, the isolation check without
 * loomd: reads loomd.conf (database, topology, pools, gpu.nvml.*), the
 * intent from the store, and the fabric itself, and prints the report.
 *
 *   isolation-check [-c loomd.conf] [--out FILE] [--sign KEY.pem [--sig FILE]]
 *                   [--vtysh PATH] [--no-vteps] [--no-hca] [--no-gpus]
 *
 * Exit 0: clean; 1: findings (or a target that could not be read); 2: the
 * check itself could not run.  With --sign the report written (to --out,
 * or stdout) is signed byte for byte into --sig (default FILE.sig).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/partitions.h"
#include "isolation/isolation.h"
#include "lib/array.h"
#include "lib/log.h"
#include "src/conf.h"
#include "store/store.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static int usage(void)
{
	fprintf(stderr, "usage: isolation-check [-c loomd.conf] [--out FILE] [--sign KEY.pem [--sig FILE]]\n"
			"                       [--vtysh PATH] [--no-vteps] [--no-hca] [--no-gpus]\n");
	return 2;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	return rc;
}

/*
 * The operator's P_Keys of every SM's partitions file (outside loom's
 * section), as loomd reserves them: one of loom's pool there is the
 * operator's, not stale.  A file that cannot be read reserves nothing.
 */
static int operator_pkeys(const struct topology *topo, struct id_reserved **out, size_t *n)
{
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < topo->n_sms; i++) {
		struct partitions_file *f = NULL;
		struct loom_err err = { 0 };

		if (partitions_file_read(topo->sms[i].partitions_file, &f, &err))
			continue;
		for (size_t j = 0; j < f->n_foreign; j++) {
			const struct partitions_found *p = &f->foreign[j];

			if (p->pkey == 0 || p->pkey == 0x7fff)
				continue;
			if (ARRAY_GROW(*out, cap, *n + 1)) {
				partitions_file_free(&f);
				return -ENOMEM;
			}
			memset(&(*out)[*n], 0, sizeof((*out)[*n]));
			(*out)[*n].type = SEG_INFINIBAND;
			(*out)[*n].id = p->pkey;
			snprintf((*out)[*n].owner, sizeof((*out)[*n].owner), "%s", p->name);
			snprintf((*out)[*n].where, sizeof((*out)[*n].where), "%s",
				 topo->sms[i].partitions_file);
			(*n)++;
		}
		partitions_file_free(&f);
	}
	model_reserved_sort(*out, *n);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "sign", required_argument, NULL, 'k' },
		{ "sig", required_argument, NULL, 's' },
		{ "vtysh", required_argument, NULL, 'v' },
		{ "no-vteps", no_argument, NULL, 'E' },
		{ "no-hca", no_argument, NULL, 'I' },
		{ "no-gpus", no_argument, NULL, 'G' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = SYSCONFDIR "/loom/loomd.conf", *out = NULL, *key = NULL;
	const char *sig_path = NULL;
	struct isolation_read_opts ro = { 0 };
	struct isolation_nvml nvml[CONF_NVML_MAX];
	struct loom_config cfg;
	struct loom_err err = { 0 };
	struct topology *topo = NULL;
	struct store *st = NULL;
	struct gpu_inst_rec *gpus = NULL;
	size_t n_gpus = 0, n_reserved = 0;
	struct id_reserved *reserved = NULL;
	struct model m;
	bool model_ok = false;
	json_t *report = NULL;
	char *text = NULL, sig_default[LOOM_PATH_MAX + 8];
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	int o, rc, ret = 2;

	while ((o = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config = optarg; break;
		case 'o': out = optarg; break;
		case 'k': key = optarg; break;
		case 's': sig_path = optarg; break;
		case 'v': ro.vtysh = optarg; break;
		case 'E': ro.no_vteps = true; break;
		case 'I': ro.no_hca = true; break;
		case 'G': ro.no_gpus = true; break;
		default: return usage();
		}
	}
	if (optind != argc)
		return usage();
	log_level = LOG_LVL_ERR;
	config_defaults(&cfg);
	if (config_load(config, &cfg, &err) ||
	    topology_load_file(cfg.topology, &topo, &err) ||
	    store_open(cfg.database, &st, &err)) {
		fprintf(stderr, "isolation-check: %s%s%s\n", err.field, *err.field ? ": " : "",
			err.msg);
		goto out;
	}
	if (model_init(&m, &cfg.pools)) {
		fprintf(stderr, "isolation-check: out of memory\n");
		goto out;
	}
	model_ok = true;
	if (store_load_model(st, &m, &err) || store_gpu_list(st, &gpus, &n_gpus)) {
		fprintf(stderr, "isolation-check: store: %s\n", err.msg[0] ? err.msg : store_errmsg(st));
		goto out;
	}
	if (operator_pkeys(topo, &reserved, &n_reserved)) {
		fprintf(stderr, "isolation-check: out of memory\n");
		goto out;
	}
	model_reserved_set(&m, reserved, n_reserved);
	for (size_t i = 0; i < cfg.n_nvml; i++)
		nvml[i] = (struct isolation_nvml){ .node = cfg.nvml[i].node, .path = cfg.nvml[i].path };
	ro.nvml = nvml;
	ro.n_nvml = cfg.n_nvml;

	rc = isolation_verify(topo, &(struct isolation_intent){ .model = &m, .gpus = gpus,
								.n_gpus = n_gpus },
			      &ro, &report, &err);
	if (rc < 0) {
		fprintf(stderr, "isolation-check: %s\n", err.msg);
		goto out;
	}
	text = json_dumps(report, JSON_SORT_KEYS | JSON_INDENT(2));
	if (!text)
		goto out;
	if (out) {
		size_t len = strlen(text);

		text[len] = '\n';	/* the file ends in a newline; the NUL is replaced, not lost */
		rc = write_file(out, text, len + 1);
		text[len] = '\0';
		if (rc) {
			fprintf(stderr, "isolation-check: %s: %s\n", out, strerror(-rc));
			goto out;
		}
	} else {
		printf("%s\n", text);
		fflush(stdout);
	}
	if (key) {
		size_t len = strlen(text);

		/* What was written: the JSON and its final newline. */
		text[len] = '\n';
		rc = isolation_sign(key, text, len + 1, &sig, &sig_len, &err);
		text[len] = '\0';
		if (!sig_path) {
			snprintf(sig_default, sizeof(sig_default), "%s.sig", out ? out : "report.json");
			sig_path = sig_default;
		}
		if (rc || (rc = write_file(sig_path, sig, sig_len))) {
			fprintf(stderr, "isolation-check: signature: %s\n",
				err.msg[0] ? err.msg : strerror(-rc));
			goto out;
		}
	}
	ret = json_is_true(json_object_get(report, "clean")) ? 0 : 1;
out:
	free(sig);
	free(text);
	json_decref(report);
	free(gpus);
	if (model_ok)
		model_clear(&m);
	free(reserved);
	store_close(&st);
	topology_free(&topo);
	return ret;
}
