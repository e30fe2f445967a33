/*
 * tests/integration/kernel_tool.c: drives overlay/kvtep for kernel.sh and
 * the benchmark.  Not installed.
 *
 *   kernel_tool golden NETNS FILE.hex...    send golden messages, one ACK each
 *   kernel_tool probe NETNS VTEP_IP MODE    print capabilities and the mode
 *   kernel_tool sync NETNS VTEP_IP MODE SPEC... [-- SPEC...]
 *   kernel_tool watch NETNS VTEP_IP READYFILE TIMEOUT_S SPEC...
 *   kernel_tool range NETNS VTEP_IP FIRST COUNT [resync]   (benchmark)
 *
 * KERNEL_TOOL_MODE (traditional|vlan-aware) replaces mode auto, and is the
 * mode of range and watch (bench/vm_modes.sh).  With KERNEL_TOOL_GATE=CMD,
 * sync sets CMD (run by the shell) as the live gate (kvtep_set_live_gate):
 * it prints "gate" and runs CMD just before the first VNI can go live.
 * sync runs kvtep_sync_plan and kvtep_sync_finish, as loomd's worker does;
 * with "--", the specs before it are synced first (quietly, in the same
 * handle).  With KERNEL_TOOL_DRAIN set, a thread drains the event socket
 * while the (last) sync runs, as loomd's main loop does, and sync prints
 * "drain drift N": how many drains reported drift.  KERNEL_TOOL_CARRIER=
 * PORT[,PORT...] watches those ports' carrier (kvtep_carrier_watch) and
 * sync prints each change queued by its end: "carrier PORT lost|back".
 * SPEC is VNI:MTU:TENANT/SEGMENT[:PORT,PORT...]; PORT@TAG is a tagged share of
 * PORT (loom's sub-interface PORT.TAG in the segment).  sync and watch print one
 * line per VNI: "vni N programmed" or "vni N error CODE_NAME: REASON".
 * Exit status: 0 all programmed, 2 some VNI in error, 1 failure.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include "lib/err.h"
#include "overlay/kvtep.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_vni(const void *a, const void *b)
{
	const struct vtep_vni *x = a, *y = b;

	return (x->vni > y->vni) - (x->vni < y->vni);
}

static int cmp_port(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void desired_release(struct vtep_desired *d)
{
	size_t i;

	for (i = 0; i < d->n_vnis; i++) {
		free(d->vnis[i].ports);
		free(d->vnis[i].port_vlans);
	}
	free(d->vnis);
	d->vnis = NULL;
	d->n_vnis = 0;
}

static int desired_parse(struct vtep_desired *d, char **spec, int n)
{
	int i;

	memset(d, 0, sizeof(*d));
	snprintf(d->vtep, sizeof(d->vtep), "test");
	d->vnis = calloc(n ? (size_t)n : 1, sizeof(*d->vnis));
	if (!d->vnis)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct vtep_vni *v = &d->vnis[d->n_vnis++];
		char *s = strdup(spec[i]), *save = NULL, *tok, *ports, *ts;

		if (!s)
			return -ENOMEM;
		tok = strtok_r(s, ":", &save);
		v->vni = (uint32_t)strtoul(tok ? tok : "0", NULL, 10);
		tok = strtok_r(NULL, ":", &save);
		v->mtu = (unsigned int)strtoul(tok ? tok : "0", NULL, 10);
		tok = strtok_r(NULL, ":", &save);
		ts = tok ? strchr(tok, '/') : NULL;
		if (ts) {
			*ts = '\0';
			snprintf(v->tenant, sizeof(v->tenant), "%s", tok);
			snprintf(v->segment, sizeof(v->segment), "%s", ts + 1);
		}
		ports = strtok_r(NULL, ":", &save);
		if (ports && *ports) {
			char *psave = NULL, *p;

			v->ports = calloc(64, sizeof(*v->ports));
			if (!v->ports)
				return -ENOMEM;
			for (p = strtok_r(ports, ",", &psave); p && v->n_ports < 64;
			     p = strtok_r(NULL, ",", &psave))
				snprintf(v->ports[v->n_ports++], LOOM_IFNAME_MAX, "%s", p);
			qsort(v->ports, v->n_ports, sizeof(*v->ports), cmp_port);
			/* PORT@TAG: a soft tenant's tagged share of PORT */
			for (size_t k = 0; k < v->n_ports; k++) {
				char *at = strchr(v->ports[k], '@');

				if (!at)
					continue;
				if (!v->port_vlans)
					v->port_vlans = calloc(64, sizeof(*v->port_vlans));
				if (!v->port_vlans)
					return -1;
				*at = '\0';
				v->port_vlans[k] = (uint16_t)atoi(at + 1);
			}
		}
		free(s);
	}
	qsort(d->vnis, d->n_vnis, sizeof(*d->vnis), cmp_vni);
	return 0;
}

static enum vtep_mode mode_parse(const char *s)
{
	const char *env = getenv("KERNEL_TOOL_MODE");

	/* The benchmarks pick a mode for the commands that say "auto". */
	if (!strcmp(s, "auto") && env && *env)
		s = env;
	if (!strcmp(s, "traditional"))
		return VTEP_MODE_TRADITIONAL;
	if (!strcmp(s, "vlan-aware"))
		return VTEP_MODE_VLAN_AWARE;
	return VTEP_MODE_AUTO;
}

static int open_or_say(const char *netns, const char *ip, const char *mode, struct kvtep **h)
{
	struct loom_err err = { 0 };
	int ret = kvtep_open(netns, ip, mode_parse(mode), h, &err);

	if (ret) {
		printf("open error %s: %s\n", loom_err_name(err.code),
		       err.code ? err.msg : strerror(-ret));
		return -1;
	}
	printf("mode %s\nreason %s\n",
	       kvtep_mode(*h) == VTEP_MODE_TRADITIONAL ? "traditional" : "vlan-aware",
	       kvtep_mode_reason(*h));
	return 0;
}

static int print_status(const struct vtep_desired *d, const struct kvtep_vni_status *st)
{
	size_t i;
	int bad = 0;

	for (i = 0; i < d->n_vnis; i++) {
		if (st[i].state == KVTEP_VNI_PROGRAMMED) {
			printf("vni %u programmed\n", st[i].vni);
		} else {
			printf("vni %u error %s: %s\n", st[i].vni, loom_err_name(st[i].code),
			       st[i].reason);
			bad++;
		}
	}
	return bad;
}

/* KERNEL_TOOL_GATE: what runs at the live gate. */
static void gate_run(void *arg)
{
	int rc;

	printf("gate\n");
	fflush(stdout);
	rc = system(arg);
	if (rc)
		printf("gate command exited %d\n", rc);
	fflush(stdout);
}

/*
 * KERNEL_TOOL_DRAIN: the event socket drained on a thread of its own while
 * the sync runs, as loomd's main loop does beside its worker; counts the
 * drains that report drift.
 */
struct drainer {
	struct kvtep *h;
	atomic_bool stop;
	int drifts;
};

static void *drain_thread(void *arg)
{
	struct drainer *dr = arg;
	struct pollfd pfd = { .fd = kvtep_event_fd(dr->h), .events = POLLIN };

	while (!atomic_load(&dr->stop)) {
		if (poll(&pfd, 1, 10) > 0 && kvtep_event_drain(dr->h) == 1)
			dr->drifts++;
	}
	return NULL;
}

/* KERNEL_TOOL_CARRIER=PORT[,PORT...]: the carrier watch (kvtep_carrier_watch). */
static int carrier_watch(struct kvtep *h)
{
	const char *names[16];
	char buf[256], *save = NULL, *tok;
	const char *env = getenv("KERNEL_TOOL_CARRIER");
	size_t n = 0;

	if (!env)
		return 0;
	snprintf(buf, sizeof(buf), "%s", env);
	for (tok = strtok_r(buf, ",", &save); tok && n < 16; tok = strtok_r(NULL, ",", &save))
		names[n++] = tok;
	return kvtep_carrier_watch(h, names, n);
}

/* The carrier changes queued (whoever read the events): "carrier PORT lost|back". */
static void carrier_print(struct kvtep *h)
{
	struct kvtep_carrier c[16];
	size_t n;

	while ((n = kvtep_carrier_take(h, c, 16)) > 0) {
		for (size_t i = 0; i < n; i++)
			printf("carrier %s %s\n", c[i].port, c[i].up ? "back" : "lost");
		if (n < 16)
			break;
	}
}

static int do_sync(struct kvtep *h, const struct vtep_desired *d, bool verbose)
{
	struct kvtep_vni_status *st = calloc(d->n_vnis ? d->n_vnis : 1, sizeof(*st));
	struct drainer dr = { .h = h };
	pthread_t drain_tid;
	bool draining = false;
	char line[128];
	int ret, n, i;

	if (!st)
		return -ENOMEM;
	ret = carrier_watch(h);
	if (ret < 0)
		goto out;
	if (getenv("KERNEL_TOOL_DRAIN")) {
		kvtep_event_drain(h);	/* what came before this sync */
		draining = !pthread_create(&drain_tid, NULL, drain_thread, &dr);
	}
	/* As loomd's worker runs it: kvtep_sync_plan, then kvtep_sync_finish. */
	n = kvtep_sync_plan(h, d);
	if (n < 0) {
		ret = n;
		goto out;
	}
	printf("plan %d\n", n);
	for (i = 0; verbose && i < n; i++) {
		kvtep_plan_describe(h, (size_t)i, line, sizeof(line));
		printf("act %s\n", line);
	}
	if (getenv("KERNEL_TOOL_GATE"))
		kvtep_set_live_gate(h, gate_run, getenv("KERNEL_TOOL_GATE"));
	ret = kvtep_sync_finish(h, d, st);
	if (ret < 0)
		goto out;
	ret = print_status(d, st);
out:
	if (draining) {
		atomic_store(&dr.stop, true);
		pthread_join(drain_tid, NULL);
		printf("drain drift %d\n", dr.drifts);
	}
	carrier_print(h);
	free(st);
	fflush(stdout);
	return ret;
}

static int cmd_golden(int argc, char **argv)
{
	struct mnl_socket *nl = NULL;
	char path[256];
	int self = -1, target = -1, i, bad = 0, one = 1;

	snprintf(path, sizeof(path), "/run/netns/%s", argv[2]);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0)
		return 1;
	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return 1;
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	for (i = 3; i < argc; i++) {
		unsigned char msg[4096], reply[8192];
		unsigned int byte;
		size_t n = 0;
		ssize_t r;
		FILE *f = fopen(argv[i], "r");
		const struct nlmsghdr *nlh = (const void *)reply;
		const struct nlmsgerr *e;

		if (!f)
			return 1;
		while (n < sizeof(msg) && fscanf(f, "%2x", &byte) == 1)
			msg[n++] = (unsigned char)byte;
		fclose(f);
		if (mnl_socket_sendto(nl, msg, n) < 0)
			return 1;
		r = mnl_socket_recvfrom(nl, reply, sizeof(reply));
		if (r < (ssize_t)sizeof(*nlh) || nlh->nlmsg_type != NLMSG_ERROR) {
			printf("%s: no ACK\n", argv[i]);
			bad++;
			continue;
		}
		e = mnl_nlmsg_get_payload(nlh);
		printf("%s: %s\n", argv[i], e->error ? strerror(-e->error) : "ok");
		bad += e->error != 0;
	}
	mnl_socket_close(nl);
	return bad ? 2 : 0;
}

static int cmd_watch(int argc, char **argv)
{
	struct vtep_desired d;
	struct kvtep *h = NULL;
	double deadline;
	int ret, fd;
	FILE *f;

	if (desired_parse(&d, argv + 6, argc - 6) || open_or_say(argv[2], argv[3], "auto", &h))
		return 1;
	ret = do_sync(h, &d, false);
	if (ret) {
		printf("first sync not clean\n");
		return 1;
	}
	/* Whatever our own apply raised is not drift. */
	kvtep_event_drain(h);
	f = fopen(argv[4], "w");
	if (!f)
		return 1;
	fclose(f);
	fd = kvtep_event_fd(h);
	deadline = now_s() + atof(argv[5]);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = (int)((deadline - now_s()) * 1000);

		if (left <= 0) {
			printf("no drift seen\n");
			return 1;
		}
		if (poll(&pfd, 1, left) <= 0)
			continue;
		if (kvtep_event_drain(h) == 1)
			break;
	}
	printf("drift\n");
	fflush(stdout);
	ret = do_sync(h, &d, true);
	kvtep_close(&h);
	desired_release(&d);
	return ret < 0 ? 1 : ret ? 2 : 0;
}

static int cmp_double(const void *a, const void *b)
{
	const double *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

/*
 * Benchmark: VNIs FIRST..FIRST+COUNT-1 (MTU 1450, no ports).
 * "create": observe, plan, apply, verify, timed apart.  "delete": the same
 * with an empty desired state.  "resync N": N no-change resyncs
 * (kvtep_sync: one dump, the diff, the verdict), median and minimum.
 */
static int cmd_range(int argc, char **argv)
{
	struct vtep_desired d = { .vtep = "bench" };
	struct kvtep_vni_status *st;
	struct kvtep *h = NULL;
	uint32_t first = (uint32_t)strtoul(argv[4], NULL, 10);
	size_t count = strtoul(argv[5], NULL, 10), i;
	const char *what = argc > 6 ? argv[6] : "create";
	int rounds = argc > 7 ? atoi(argv[7]) : 5;
	double t0, t1, t2, t3, t4, topen;
	int n, bad;

	d.vnis = calloc(count ? count : 1, sizeof(*d.vnis));
	st = calloc(count ? count : 1, sizeof(*st));
	if (!d.vnis || !st)
		return 1;
	if (strcmp(what, "delete")) {
		for (i = 0; i < count; i++) {
			d.vnis[i].vni = first + (uint32_t)i;
			d.vnis[i].mtu = 1450;
			snprintf(d.vnis[i].tenant, sizeof(d.vnis[i].tenant), "bench");
			snprintf(d.vnis[i].segment, sizeof(d.vnis[i].segment), "s%zu", i);
		}
		d.n_vnis = count;
	}
	topen = now_s();
	if (open_or_say(argv[2], argv[3], "auto", &h))
		return 1;
	topen = now_s() - topen;
	if (!strcmp(what, "resync")) {
		double *total = calloc((size_t)rounds, sizeof(double));
		double *plan = calloc((size_t)rounds, sizeof(double));
		int r;

		if (!total || !plan || rounds < 1)
			return 1;
		for (r = 0; r < rounds; r++) {
			t0 = now_s();
			if (kvtep_observe(h) < 0)
				return 1;
			t1 = now_s();
			n = kvtep_plan(h, &d);
			t2 = now_s();
			if (n != 0)
				printf("round %d: %d actions, not a no-change resync\n", r, n);
			bad = kvtep_sync(h, &d, st);	/* the whole call, as loomd makes it */
			t3 = now_s();
			total[r] = (t3 - t2) * 1e3;
			plan[r] = (t2 - t1) * 1e3;
			(void)t0;
			if (bad)
				printf("round %d: %d VNIs in error\n", r, bad);
		}
		qsort(total, (size_t)rounds, sizeof(double), cmp_double);
		qsort(plan, (size_t)rounds, sizeof(double), cmp_double);
		printf("resync vnis=%zu rounds=%d sync_ms_median=%.2f sync_ms_min=%.2f "
		       "plan_ms_median=%.3f plan_ms_max=%.3f\n",
		       count, rounds, total[rounds / 2], total[0], plan[rounds / 2],
		       plan[rounds - 1]);
		free(total);
		free(plan);
		kvtep_close(&h);
		return 0;
	}
	t0 = now_s();
	if (kvtep_observe(h) < 0)
		return 1;
	t1 = now_s();
	n = kvtep_plan(h, &d);
	t2 = now_s();
	if (n < 0 || kvtep_apply(h) < 0)
		return 1;
	t3 = now_s();
	bad = kvtep_verify(h, &d, st);
	t4 = now_s();
	printf("%s vnis=%zu actions=%d errors=%d open_ms=%.1f observe_ms=%.2f plan_ms=%.3f "
	       "apply_ms=%.1f verify_ms=%.1f total_ms=%.1f\n",
	       what, count, n, bad, topen * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3,
	       (t3 - t2) * 1e3, (t4 - t3) * 1e3, (t4 - t0) * 1e3);
	kvtep_close(&h);
	free(st);
	free(d.vnis);
	return bad ? 2 : 0;
}

int main(int argc, char **argv)
{
	struct vtep_desired d;
	struct kvtep *h = NULL;
	int ret;

	if (argc >= 4 && !strcmp(argv[1], "golden"))
		return cmd_golden(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "probe")) {
		ret = open_or_say(argv[2], argv[3], argv[4], &h);
		if (!ret) {
			const struct kvtep_caps *c = kvtep_caps(h);

			printf("caps bridge=%d vxlan=%d neigh_suppress=%d vlan_filtering=%d "
			       "vnifilter=%d vrf=%d\n",
			       c->bridge, c->vxlan, c->neigh_suppress, c->vlan_filtering,
			       c->vnifilter, c->vrf);
		}
		kvtep_close(&h);
		return ret ? 2 : 0;
	}
	if (argc >= 5 && !strcmp(argv[1], "sync")) {
		int first = 5, sep;

		/* sync NS IP MODE SPEC... -- SPEC...: the first state synced
		 * quietly, then the second in the same handle (so with the
		 * first's verdict as what the event drain watches). */
		for (sep = first; sep < argc && strcmp(argv[sep], "--"); sep++)
			;
		if (open_or_say(argv[2], argv[3], argv[4], &h))
			return 1;
		if (sep < argc) {
			if (desired_parse(&d, argv + first, sep - first))
				return 1;
			ret = do_sync(h, &d, false);
			desired_release(&d);
			if (ret) {
				printf("first sync not clean\n");
				return 1;
			}
			first = sep + 1;
		}
		if (desired_parse(&d, argv + first, argc - first))
			return 1;
		ret = do_sync(h, &d, true);
		kvtep_close(&h);
		desired_release(&d);
		return ret < 0 ? 1 : ret ? 2 : 0;
	}
	if (argc >= 6 && !strcmp(argv[1], "watch"))
		return cmd_watch(argc, argv);
	if (argc >= 6 && !strcmp(argv[1], "range"))
		return cmd_range(argc, argv);
	fprintf(stderr, "usage: see tests/integration/kernel_tool.c\n");
	return 1;
}
