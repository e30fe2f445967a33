/*
 * client/main.c: the command line for people (and scripts, with -o json).
 *
 * Each command turns its arguments into one JSON-RPC request, sends it on
 * loomd's socket and prints the result: a table for people, or the result
 * object itself with -o json.  The global options come before the
 * command; the commands are in the table (command.c and the area files).
 * Exit codes (loomctl(8)):
 *   0 success, 1 loomd refused the request, 2 usage error,
 *   3 loomd cannot be reached, 4 `diff`: apply would change something,
 *   5 `audit verify`: the chain does not verify, 6 not converged within -w.
 */
#include "config.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "client/loomctl.h"

const char *ctl_socket = RUNSTATEDIR "/loom/loomd.sock";
bool json_out;
int timeout_ms = 600000;
int wait_s;

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "ca", required_argument, NULL, 'A' },
		{ "config", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("LOOM_SOCKET"), *socket_opt = NULL, *config = getenv("LOOMCTL_CONF");
	bool help = false, version = false;
	char home_conf[512] = "";
	int opt;

	while ((opt = getopt_long(argc, argv, "+s:o:t:w:c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': socket_opt = optarg; break;
		case 'C': ctl_tls_cert = optarg; break;
		case 'K': ctl_tls_key = optarg; break;
		case 'A': ctl_tls_ca = optarg; break;
		case 'c': config = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "table"))
				return usage_error("-o takes table or json, not '%s'", optarg);
			json_out = strcmp(optarg, "json") == 0;
			break;
		case 't': timeout_ms = atoi(optarg) * 1000; break;
		case 'w': wait_s = atoi(optarg); break;
		case 'V': version = true; break;
		case 'h': help = true; break;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	/* The client config file: -c, $LOOMCTL_CONF, else ~/.config/loom/loomctl.conf
	 * if there is one; the command line and $LOOM_SOCKET win over it. */
	if (!config && getenv("HOME")) {
		snprintf(home_conf, sizeof(home_conf), "%s/.config/loom/loomctl.conf", getenv("HOME"));
		if (ctl_config_load(home_conf, false))
			return EXIT_USAGE;
	} else if (config && *config && ctl_config_load(config, true)) {
		return EXIT_USAGE;
	}
	if (env && *env)
		ctl_socket = env;
	if (socket_opt)
		ctl_socket = socket_opt;
	/* After the loop, so that -o json counts wherever it stands among them. */
	if (version) {
		if (json_out)
			printf("{\n  \"version\": \"%s\"\n}\n", PACKAGE_VERSION);
		else
			printf("loomctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (help) {
		struct cmd_ctx c = { 0 };

		return cmd_help(&c);
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return cmd_dispatch(argc - optind, argv + optind);
}
