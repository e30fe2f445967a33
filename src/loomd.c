/*
 * src/loomd.c: the loomd command line.  Everything else is in libloom.a.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "src/check.h"
#include "src/ha.h"
#include "src/server.h"
#include "src/startup.h"

#define DEFAULT_CONFIG SYSCONFDIR "/loom/loomd.conf"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: loomd [-c FILE] [-f] [-n] [-d SUBSYS,...] [-V] [-h]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -f       stay in the foreground\n"
		"  -n       check the configuration, topology and database (a private copy:\n"
		"           nothing is created or migrated), print the effective\n"
		"           configuration and exit (non-zero on any error)\n"
		"  -d LIST  debug logs for: api,store,reconcile,netlink,frr,opensm,mad,lifecycle,gpu,all\n"
		"  --import FILE  copy the single-machine database FILE into the empty cluster\n"
		"                 of cluster.etcd (cluster.ha), audit chain included, and exit\n"
		"  --export FILE  copy the cluster's state into a new single-machine database\n"
		"                 FILE and exit\n"
		"  -V       print the version (also --version)\n"
		"  -h       print this help (also --help)\n", DEFAULT_CONFIG);
}

static void print_err(const char *what, const struct loom_err *err)
{
	fprintf(stderr, "loomd: %s: %s%s%s%s\n", what, err->msg,
		err->field[0] ? " (" : "", err->field, err->field[0] ? ")" : "");
}

/*
 * Without -f: fork, and let the parent exit only once the child is serving
 * (or with the child's error), so that `loomd && loomctl ...` is safe.
 */
static int background(int *ready_fd)
{
	int pipefd[2];
	pid_t pid;
	char status = 1;

	if (pipe2(pipefd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(pipefd[1]);
		if (read(pipefd[0], &status, 1) != 1)
			status = 1;
		_exit(status);
	}
	close(pipefd[0]);
	setsid();
	*ready_fd = pipefd[1];
	return 0;
}

/* Free memory at the top of the heap kept for reuse, not given back. */
#define LOOMD_TRIM_THRESHOLD (16 << 20)

int main(int argc, char **argv)
{
	static struct loomd d;
	struct loom_err err = { 0 };
	const char *config = DEFAULT_CONFIG;
	const char *debug = NULL, *import = NULL, *export = NULL;
	bool foreground = false, check = false;
	int opt, ready_fd = -1, devnull;
	unsigned int mask;
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "import", required_argument, NULL, 'I' },
		{ "export", required_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};

	/*
	 * Every write frees, at the top of the heap, more than malloc's default
	 * trim threshold (SQLite's scratch table for a CHECK's IN list): the
	 * heap then shrank and grew again through brk and fresh page faults on
	 * each write, about a fifth of the write path's CPU.  Keep what it grew.
	 */
	mallopt(M_TRIM_THRESHOLD, LOOMD_TRIM_THRESHOLD);

	while ((opt = getopt_long(argc, argv, "c:fnd:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'f': foreground = true; break;
		case 'n': check = true; break;
		case 'd': debug = optarg; break;
		case 'V': printf("loomd %s\n", PACKAGE_VERSION); return 0;
		case 'I': import = optarg; break;
		case 'E': export = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config_load(config, &d.cfg, &err)) {
		print_err("configuration", &err);
		return 1;
	}
	log_level = (enum log_level)log_level_parse(d.cfg.log_level);
	if (debug || d.cfg.debug[0]) {
		if (log_debug_parse(debug ? debug : d.cfg.debug, &mask)) {
			fprintf(stderr, "loomd: -d: unknown subsystem in '%s'\n", debug);
			return 2;
		}
		log_debug_mask = mask;
		log_level = LOG_LVL_DEBUG;
	}
	if (import || export) {
		if (!d.cfg.cluster_etcd[0]) {
			fprintf(stderr, "loomd: --%s needs cluster.etcd in %s\n", import ? "import" : "export", config);
			return 1;
		}
		if (import ? loomd_ha_import(&d.cfg, import, &err) : loomd_ha_export(&d.cfg, export, &err)) {
			print_err(import ? "import" : "export", &err);
			return 1;
		}
		return 0;
	}
	if (check) {
		int ret;

		/* What the check finds is printed below; the copy's own doings
		 * (its migration) are not news about the real database. */
		if (!debug && log_level > LOG_LVL_WARN)
			log_level = LOG_LVL_WARN;
		ret = loomd_open(&d, true, &err);

		if (ret) {
			print_err(config, &err);
			loomd_close(&d);
			return 1;
		}
		config_print(&d.cfg, stdout);
		printf("# topology: %zu sites, %zu vteps, %zu subnet managers, %zu nodes\n",
		       d.topo->n_sites, d.topo->n_vteps, d.topo->n_sms, d.topo->n_nodes);
		if (!d.check_db->exists)
			printf("# store: %s does not exist; loomd will create it (schema %d)\n",
			       d.cfg.database, store_schema_version_latest());
		else if (d.check_db->version >= 0 && d.check_db->version < store_schema_version_latest())
			printf("# store: schema %d, loomd will migrate it to %d\n", d.check_db->version,
			       store_schema_version_latest());
		printf("# store: schema %d, %zu tenants, %zu segments, %zu attachments\n",
		       store_schema_version(d.store), d.model.n_tenants, d.model.n_segments,
		       d.model.n_attachments);
		loomd_close(&d);
		return 0;
	}
	if (!foreground && background(&ready_fd)) {
		perror("loomd: fork");
		return 1;
	}
	if (loomd_open(&d, false, &err)) {
		print_err("start-up", &err);
		loomd_close(&d);
		return 1;
	}
	log_info("serving on %s (database %s, topology %s: %zu nodes, %zu tenants)", d.cfg.socket,
		 d.cfg.database, d.cfg.topology, d.topo->n_nodes, d.model.n_tenants);
	if (ready_fd >= 0) {
		char ok = 0;

		if (write(ready_fd, &ok, 1) != 1)
			log_warn("cannot tell the parent we are ready");
		close(ready_fd);
		devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, STDIN_FILENO);
			dup2(devnull, STDOUT_FILENO);
			close(devnull);
		}
	}
	if (server_run(&d))
		log_err("event loop: %s", strerror(errno));
	log_info("stopping");
	loomd_close(&d);
	return 0;
}
