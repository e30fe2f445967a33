/*
 * tests/integration/etcd_driver.c: cluster/etcd.c against a real etcd,
 * driven by tests/integration/etcd_client.sh.  Prints TAP lines (the shell
 * test numbers the plan).
 *
 *   etcd_driver basic EPS          key-value, txn, leases, watch, compaction
 *   etcd_driver foreign EP GOFILE  answers from another cluster are refused
 *   etcd_driver failover EPS PID   one member of three stopped: carry on
 *   etcd_driver stalled EP PID     a member that stops answering: timeouts
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/etcd.h"
#include "lib/monotime.h"

static int n_test;

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++n_test);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

struct seen {
	int puts, deletes, compacted, retrying, foreign;
	int64_t compact_rev, last_rev;
	char last_key[128], last_value[128], message[256];
};

static void on_watch(void *arg, const struct etcd_watch_update *u)
{
	struct seen *s = arg;

	switch (u->status) {
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *ev = &u->events[i];

			if (ev->type == ETCD_EV_PUT)
				s->puts++;
			else
				s->deletes++;
			snprintf(s->last_key, sizeof(s->last_key), "%s", ev->kv.key);
			snprintf(s->last_value, sizeof(s->last_value), "%s", ev->kv.value);
			s->last_rev = ev->kv.mod_revision;
		}
		break;
	case ETCD_WATCH_COMPACTED:
		s->compacted++;
		s->compact_rev = u->compact_revision;
		break;
	case ETCD_WATCH_RETRYING:
		s->retrying++;
		snprintf(s->message, sizeof(s->message), "%s", u->message);
		break;
	case ETCD_WATCH_FOREIGN:
		s->foreign++;
		snprintf(s->message, sizeof(s->message), "%s", u->message);
		break;
	}
}

/* Runs the watcher until @cond holds or @ms pass. */
#define RUN_UNTIL(w, ms, cond)                                          \
	do {                                                            \
		int64_t end_ = mono_ms() + (ms);                        \
		while (!(cond) && mono_ms() < end_)                     \
			etcd_watcher_run((w), 100);                     \
	} while (0)

static int basic(const char *eps)
{
	struct etcd *e = NULL;
	struct etcd_watcher *w = NULL;
	struct etcd_watch *wa = NULL;
	struct loom_err err = { 0 };
	struct etcd_header h = { 0 }, h2 = { 0 };
	struct etcd_kv kv = { 0 }, *kvs = NULL;
	struct seen s = { 0 };
	size_t n = 0;
	bool found = false, succeeded = false;
	int64_t lease = 0, deleted = 0, rev0;
	int ttl = 0, rc;
	char bin[3] = { 'a', 0, 'b' };

	ok(etcd_open(eps, 5000, &e, &err) == 0, "etcd_open(%s)", eps);
	rc = etcd_put(e, "/t/a", "one", 3, 0, &h, &err);
	ok(rc == 0 && h.revision > 0 && h.cluster_id != 0, "put answers with a header (revision %" PRId64 ")",
	   h.revision);
	ok(etcd_get(e, "/t/a", &kv, &found, NULL, &err) == 0 && found && strcmp(kv.value, "one") == 0 &&
	   kv.create_revision == h.revision && kv.version == 1, "get reads it back with its revisions");
	etcd_kv_clear(&kv);
	ok(etcd_get(e, "/t/none", &kv, &found, NULL, &err) == 0 && !found, "get of a missing key: not found, no error");
	ok(etcd_put(e, "/t/b", bin, sizeof(bin), 0, NULL, &err) == 0 && etcd_put(e, "/tz", "x", 1, 0, NULL, &err) == 0,
	   "put of a binary value and of a key outside the prefix");
	ok(etcd_get_prefix(e, "/t/", 0, &kvs, &n, &h, &err) == 0 && n == 2 && strcmp(kvs[0].key, "/t/a") == 0 &&
	   kvs[1].value_len == 3 && memcmp(kvs[1].value, bin, 3) == 0,
	   "get_prefix returns exactly the prefix's keys, sorted, binary intact");
	etcd_kvs_free(&kvs, n);

	/* Transactions: create-if-absent, the way the election and fencing work. */
	{
		struct etcd_cmp absent = { .key = "/t/lock", .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL };
		struct etcd_op put = { .type = ETCD_OP_PUT, .key = "/t/lock", .value = "me", .len = 2 };

		ok(etcd_txn(e, &absent, 1, &put, 1, NULL, 0, &succeeded, NULL, &err) == 0 && succeeded,
		   "txn: create-if-absent succeeds on a new key");
		ok(etcd_txn(e, &absent, 1, &put, 1, NULL, 0, &succeeded, NULL, &err) == 0 && !succeeded,
		   "txn: the same compare fails once the key exists (no error, succeeded false)");
	}
	{
		struct etcd_op many[ETCD_MAX_TXN_OPS + 1];

		for (size_t i = 0; i < ETCD_MAX_TXN_OPS + 1; i++)
			many[i] = (struct etcd_op){ .type = ETCD_OP_PUT, .key = "/t/many", .value = "x", .len = 1 };
		loom_err_clear(&err);
		ok(etcd_txn(e, NULL, 0, many, ETCD_MAX_TXN_OPS + 1, NULL, 0, &succeeded, NULL, &err) != 0 &&
		   err.code == LOOM_E_TOO_LARGE, "txn over 128 operations refused before it is sent: %s", err.msg);
	}

	/* Leases. */
	ok(etcd_lease_grant(e, 5, &lease, &err) == 0 && lease != 0, "lease granted");
	ok(etcd_put(e, "/t/alive", "1", 1, lease, NULL, &err) == 0, "put under the lease");
	rc = etcd_lease_keepalive(e, lease, &ttl, &err);
	ok(rc == 0 && ttl > 0 && ttl <= 5, "keepalive renews it (TTL %d)", ttl);
	ok(etcd_lease_revoke(e, lease, &err) == 0, "lease revoked");
	ok(etcd_get(e, "/t/alive", &kv, &found, NULL, &err) == 0 && !found, "  ...and its key is gone");
	loom_err_clear(&err);
	ok(etcd_lease_keepalive(e, lease, &ttl, &err) != 0 && err.code == LOOM_E_NOT_FOUND,
	   "keepalive of a revoked lease: not found (%s)", err.msg);

	/* Watch: events in order, deletes told apart. */
	ok(etcd_watcher_new(eps, &w, &err) == 0, "watcher");
	ok(etcd_watch_add(w, "/w/", 0, on_watch, &s, &wa, &err) == 0, "watch /w/ from now");
	etcd_watcher_run(w, 300);
	etcd_put(e, "/w/1", "a", 1, 0, NULL, &err);
	etcd_put(e, "/w/2", "b", 1, 0, NULL, &err);
	etcd_put(e, "/other", "c", 1, 0, NULL, &err);
	etcd_delete(e, "/w/1", false, &deleted, &h, &err);
	RUN_UNTIL(w, 5000, s.deletes == 1);
	ok(s.puts == 2 && s.deletes == 1 && deleted == 1 && strcmp(s.last_key, "/w/1") == 0,
	   "the watch saw 2 puts and 1 delete under its prefix, nothing else (%d/%d)", s.puts, s.deletes);
	ok(etcd_watch_revision(wa) == h.revision + 1, "  ...and would resume after the delete's revision");

	/* Compaction: a watch from a compacted revision is told to re-read. */
	rev0 = h.revision;
	for (int i = 0; i < 5; i++)
		etcd_put(e, "/w/2", "c", 1, 0, &h2, &err);
	ok(etcd_compact(e, h2.revision, &err) == 0, "compacted at %" PRId64, h2.revision);
	etcd_watch_cancel(w, &wa);
	memset(&s, 0, sizeof(s));
	ok(etcd_watch_add(w, "/w/", rev0, on_watch, &s, &wa, &err) == 0, "watch from before the compaction");
	RUN_UNTIL(w, 5000, s.compacted);
	ok(s.compacted == 1 && s.compact_rev == h2.revision, "  ...is told it was compacted (at %" PRId64 ")",
	   s.compact_rev);
	ok(etcd_get_prefix(e, "/w/", 0, &kvs, &n, &h, &err) == 0 && n == 1, "re-read of the prefix");
	etcd_kvs_free(&kvs, n);
	ok(etcd_watch_resume(w, wa, h.revision + 1) == 0, "resumed from the re-read's revision + 1");
	etcd_watcher_run(w, 300);
	etcd_put(e, "/w/3", "new", 3, 0, NULL, &err);
	RUN_UNTIL(w, 5000, s.puts == 1);
	ok(s.puts == 1 && strcmp(s.last_key, "/w/3") == 0 && s.compacted == 1,
	   "  ...and sees only what changed after it");
	loom_err_clear(&err);
	ok(etcd_get_prefix(e, "/w/", rev0, &kvs, &n, NULL, &err) != 0 && err.code == LOOM_E_RANGE,
	   "a read at a compacted revision is an error: %s", err.msg);
	etcd_delete(e, "/", true, NULL, NULL, &err);
	etcd_watcher_free(&w);
	etcd_close(&e);
	return 0;
}

static int foreign(const char *ep, const char *gofile)
{
	struct etcd *e = NULL;
	struct etcd_watcher *w = NULL;
	struct etcd_watch *wa = NULL;
	struct loom_err err = { 0 };
	struct seen s = { 0 };
	int64_t end;
	int rc;

	etcd_open(ep, 3000, &e, &err);
	etcd_watcher_new(ep, &w, &err);
	ok(etcd_put(e, "/f", "1", 1, 0, NULL, &err) == 0, "a put to the first cluster");
	etcd_watch_add(w, "/f", 0, on_watch, &s, &wa, &err);
	RUN_UNTIL(w, 3000, false);
	printf("# ready: replace the cluster now\n");
	fflush(stdout);
	end = mono_ms() + 60000;
	while (access(gofile, F_OK) != 0 && mono_ms() < end)
		usleep(50000);
	/* The same address, another cluster now. */
	loom_err_clear(&err);
	end = mono_ms() + 20000;
	do
		rc = etcd_put(e, "/f", "2", 1, 0, NULL, &err);
	while (rc == -ETIMEDOUT && mono_ms() < end);
	ok(rc == -EXDEV && strstr(err.msg, "belongs to cluster"), "a put answered by another cluster is refused: %s",
	   err.msg);
	RUN_UNTIL(w, 20000, s.foreign);
	ok(s.foreign == 1 && strstr(s.message, "belongs to cluster"), "  ...and the watch stops, saying so: %s",
	   s.message);
	etcd_watcher_free(&w);
	etcd_close(&e);
	return 0;
}

static int failover(const char *eps, pid_t member)
{
	struct etcd *e = NULL;
	struct etcd_watcher *w = NULL;
	struct etcd_watch *wa = NULL;
	struct loom_err err = { 0 };
	struct seen s = { 0 };
	int fails = 0, i;
	int64_t t0, worst = 0;

	etcd_open(eps, 10000, &e, &err);
	etcd_watcher_new(eps, &w, &err);
	etcd_watch_add(w, "/fo/", 0, on_watch, &s, &wa, &err);
	RUN_UNTIL(w, 500, false);
	ok(kill(member, SIGKILL) == 0, "one member of three killed");
	for (i = 0; i < 20; i++) {
		char key[32];

		snprintf(key, sizeof(key), "/fo/%d", i);
		t0 = mono_ms();
		if (etcd_put(e, key, "v", 1, 0, NULL, &err))
			fails++;
		if (mono_ms() - t0 > worst)
			worst = mono_ms() - t0;
		etcd_watcher_run(w, 10);
	}
	ok(fails == 0, "20 puts after the loss all succeed (slowest %" PRId64 " ms)%s%s", worst,
	   fails ? ": " : "", fails ? err.msg : "");
	RUN_UNTIL(w, 15000, s.puts == 20);
	ok(s.puts == 20, "the watch saw all 20 (%d), %d reconnects", s.puts, s.retrying);
	etcd_watcher_free(&w);
	etcd_close(&e);
	return 0;
}

static int stalled(const char *ep, pid_t member)
{
	struct etcd *e = NULL;
	struct loom_err err = { 0 };
	int64_t t0;
	int rc;

	etcd_open(ep, 1500, &e, &err);
	ok(etcd_put(e, "/s", "1", 1, 0, NULL, &err) == 0, "a put while etcd answers");
	kill(member, SIGSTOP);
	t0 = mono_ms();
	rc = etcd_put(e, "/s", "2", 1, 0, NULL, &err);
	t0 = mono_ms() - t0;
	kill(member, SIGCONT);
	ok(rc == -ETIMEDOUT && err.code == LOOM_E_UNAVAILABLE && t0 < 3000,
	   "a stopped etcd: the put gives up after the client's timeout (%" PRId64 " ms): %s", t0, err.msg);
	ok(etcd_put(e, "/s", "3", 1, 0, NULL, &err) == 0, "  ...and the next one works once it is back");
	etcd_close(&e);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "basic") == 0)
		return basic(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "foreign") == 0)
		return foreign(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "failover") == 0)
		return failover(argv[2], (pid_t)atoi(argv[3]));
	if (argc >= 4 && strcmp(argv[1], "stalled") == 0)
		return stalled(argv[2], (pid_t)atoi(argv[3]));
	fprintf(stderr, "usage: etcd_driver basic|foreign|failover|stalled ...\n");
	return 2;
}
