/*
 * agent/main.c: the loom-agent command line (loom-agent(8)).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agent.h"
#include "lib/log.h"

#define DEFAULT_CONFIG SYSCONFDIR "/loom/agent.conf"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: loom-agent [-c FILE] [-n] [-h]\n"
		"  -c FILE  configuration file (default %s)\n"
		"  -n       check the configuration and the topology, then exit\n"
		"  -h       print this help\n", DEFAULT_CONFIG);
}

static void print_err(const char *what, const struct loom_err *err)
{
	fprintf(stderr, "loom-agent: %s: %s%s%s%s\n", what, err->msg, err->field[0] ? " (" : "", err->field,
		err->field[0] ? ")" : "");
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	struct etcd_watcher *w = NULL;
	struct loom_err err = { 0 };
	struct agent_conf conf;
	struct agent *a = NULL;
	struct sigaction sa;
	bool check = false;
	int opt, level;

	while ((opt = getopt(argc, argv, "c:nh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (agent_conf_load(path, &conf, &err)) {
		print_err(path, &err);
		return 1;
	}
	level = log_level_parse(conf.log_level);
	if (level < 0) {
		fprintf(stderr, "loom-agent: %s: log_level: \"%s\" is none of err, warn, info, debug\n", path,
			conf.log_level);
		return 1;
	}
	log_ident = "loom-agent";
	log_level = (enum log_level)level;
	if (level == LOG_LVL_DEBUG)
		log_debug_mask = LOG_SUB_RECONCILE;
	if (check) {
		if (agent_check(&conf, &err)) {
			print_err(conf.name, &err);
			return 1;
		}
		printf("loom-agent: %s is %s \"%s\" of %s; etcd %s, prefix %s\n", path, conf.kind, conf.name,
		       conf.topology, conf.etcd, conf.prefix);
		return 0;
	}
	srand((unsigned int)time(NULL) ^ (unsigned int)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (etcd_watcher_new(conf.etcd, &w, &err) || agent_new(&conf, NULL, w, &a, &err)) {
		print_err(conf.name, &err);
		etcd_watcher_free(&w);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("loom-agent: %s \"%s\" on etcd %s (prefix %s, lease TTL %u s)", conf.kind, conf.name, conf.etcd,
		 conf.prefix, conf.lease_ttl_s);
	while (!stop_signal) {
		int wait = agent_step(a);

		/* The watcher returns after any event; the reconciler's runs are
		 * collected at most 20 ms late. */
		etcd_watcher_run(w, wait < 20 ? wait : 20);
	}
	log_info("loom-agent: signal %d: stopping; the dataplane stays as it is", (int)stop_signal);
	agent_free(&a, true);
	etcd_watcher_free(&w);
	curl_global_cleanup();
	return 0;
}
