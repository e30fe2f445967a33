/*
 * src/ha.c: highly available controllers: the replicated log of
 * changesets and the elected, fenced leader (src/ha.h, docs/ha.md).
 *
 * Keys, under cluster.prefix:
 *   ha/meta              {"schema":N,"by":NAME,"time":NS}: made once, by
 *                        the first controller (a txn on create_revision 0)
 *   ha/log/%016d         one entry per committed batch: a header line
 *                        "loom-ha1 NAME PID NONCE\n", then the changeset
 *   ha/election/%016x    one per controller, on its lease; the lowest
 *                        create_revision leads
 *   ha/snap/data/ID/%06d a snapshot's chunks: the replica's SQLite image
 *                        at log entry I (ID: "%016d-%016x", I and a time)
 *   ha/snap/manifest     the newest complete snapshot: its entry, ID,
 *                        chunks, size and SHA-256; written last, so a
 *                        snapshot is seen only whole
 *
 * Threads: the event loop (everything that touches the store and the
 * model), an election thread (lease, keepalives, who leads), a watch
 * thread (a doorbell on ha/log/), a putter (the leader's word on
 * convergence, ha/converged, built by the loop) and, on the leader while
 * it writes one, a snapshot thread.  The threads only publish what they
 * saw under a mutex or in atomics and write an eventfd the loop watches.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cluster/etcd.h"
#include "lib/log.h"
#include "lib/monotime.h"
#include "src/ha.h"
#include "src/reconcile.h"
#include "src/replacement.h"
#include "src/server.h"
#include "src/startup.h"

#define HA_HEADER "loom-ha1 "
/* Entries applied per local transaction when catching up. */
#define CATCH_UP_PAGE 256
/* How often the election thread looks at who leads. */
#define ELECT_POLL_MS 100
/* One snapshot chunk, one etcd transaction: base64 makes it 683 KiB, under
 * etcd's 1.5 MiB request limit with room to spare. */
#define SNAP_CHUNK (512 * 1024)
/* A snapshot also once the entries since the last one take this many bytes
 * (as this controller saw them): the log stays far under etcd's 2 GiB
 * quota whatever the size of the batches. */
#define SNAP_LOG_BYTES (256LL * 1024 * 1024)
/* After a snapshot that did not complete, the next try waits this long. */
#define SNAP_RETRY_MS 5000
/* After a word on convergence that was not put, the next try waits this long. */
#define CONV_RETRY_MS 1000

/* The leader's word on convergence, handed by the loop to the putter. */
struct conv_word {
	char *value;		/* {"seq": S, "posts": [[ENTRY, OK], ...]} */
	int64_t seq;
	char fence_key[256];	/* our election key when the loop built it */
	int64_t fence_rev;
};

struct loomd_ha {
	char name[64];
	char pfx[192];		/* PREFIX/ha/ */
	char log_pfx[200];	/* PREFIX/ha/log/ */
	char elect_pfx[208];	/* PREFIX/ha/election/ */
	char snap_pfx[200];	/* PREFIX/ha/snap/ */
	char endpoints[1024];
	int ttl_s;
	struct etcd *kv;	/* the event loop's client */
	int64_t seq;		/* the last log entry this replica applied */
	uint64_t nonce;		/* numbers this controller's entries */
	uint64_t conflicts;	/* appends that found their place taken */
	char pending[128];	/* the header of the entry being appended */
	int efd;
	int64_t start_rev;	/* the watch starts here */
	char behind_why[256];	/* why the replica could not catch up ("" when it could) */

	/* Snapshots (the loop's view). */
	int64_t snap_every;	/* cluster.snapshot_entries */
	int64_t snap_seq;	/* the newest snapshot's entry that this controller knows of */
	int64_t snap_next_try;	/* mono_ms: not before, after one that failed */
	int64_t log_bytes;	/* of the entries appended or applied since the last snapshot */
	size_t snap_chunk;	/* SNAP_CHUNK, or the test knob */
	int snap_die_after;	/* test knob: killed after writing this many chunks */
	struct snap_job *job;	/* the snapshot thread's, while one runs */
	pthread_t snap_thread;

	/* The event loop's view. */
	bool leading;
	bool fenced;		/* an append was fenced: not the leader, whatever the thread says */
	bool have_rec;

	pthread_t elect_thread, watch_thread, conv_thread;
	bool threads;
	atomic_bool stop;
	atomic_llong seen_seq;	/* the highest entry the watch saw */
	atomic_bool watch_broken;

	/*
	 * Convergence (docs/ha.md, "-w through a follower"): the leader puts
	 * PREFIX/ha/converged {"seq": S, "posts": [[ENTRY, OK], ...]} when its
	 * targets took every generation compiled from the log up to entry S
	 * (the loop builds the word, the putter thread puts it); followers
	 * watch it and answer their waiting writes from it.  @posted and
	 * @n_posted are the loop's.
	 */
	char conv_key[224];
	struct { uint64_t gen; int64_t seq; } posted[64];	/* the leader's posts, oldest first */
	size_t n_posted;
	struct etcd *conv_kv;	/* the putter's client */
	pthread_cond_t conv_cond;	/* with @lock: a word was handed, or stop */
	atomic_llong conv_seq;	/* what the watch last saw (-1: nothing yet) */
	/* The watch's record of the posts the leader said were taken, under @lock. */
	struct { int64_t seq; bool ok; } conv_posts[256];
	size_t n_conv_posts;

	/* The putter's, under @lock: the word handed and not yet taken; a word
	 * handed or being put; the newest entry put (-1: none). */
	struct conv_word *conv_next;
	bool conv_busy;
	int64_t conv_put_seq;

	/* The election thread's view, under @lock. */
	pthread_mutex_t lock;
	bool e_leading;
	char e_key[256];
	int64_t e_rev;		/* our key's create_revision */
	char leader_name[64];
	char leader_key[256];
	int64_t leader_since_ns;
	bool e_unreachable;
	int64_t unreachable_since_ns;
	char stale_why[256];
};

static void wake(struct loomd_ha *h)
{
	uint64_t one = 1;

	if (write(h->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("ha: cannot wake the event loop: %s", strerror(errno));
}

static void log_key(const struct loomd_ha *h, int64_t seq, char *out, size_t len)
{
	snprintf(out, len, "%s%016" PRId64, h->log_pfx, seq);
}

/* ---- snapshots: keys, the manifest, loading one ---- */

static void snap_manifest_key(const struct loomd_ha *h, char *out, size_t len)
{
	snprintf(out, len, "%smanifest", h->snap_pfx);
}

/* ha/snap/data/ID/ and, with @k >= 0, chunk @k's key under it. */
static void snap_data_key(const struct loomd_ha *h, const char *id, int k, char *out, size_t len)
{
	if (k < 0)
		snprintf(out, len, "%sdata/%s/", h->snap_pfx, id);
	else
		snprintf(out, len, "%sdata/%s/%06d", h->snap_pfx, id, k);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	out[0] = '\0';
	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL))
		return;
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct snap_manifest {
	int64_t seq;
	char id[64];
	int64_t chunks, chunk_size, size;
	char sha256[65];
	int schema;
	int64_t mod_revision;	/* of the manifest key */
};

/* @j's integer @name, at least @min. */
static bool manifest_int(const json_t *j, const char *name, int64_t min, int64_t *out)
{
	const json_t *v = json_object_get(j, name);

	*out = json_is_integer(v) ? json_integer_value(v) : 0;
	return json_is_integer(v) && *out >= min;
}

/*
 * The newest complete snapshot's manifest; *found false when there is
 * none.  A manifest that does not parse is an error naming its field.
 */
static int snap_manifest_read(struct loomd_ha *h, struct etcd *e, struct snap_manifest *m, bool *found,
			      struct etcd_header *hdr, struct loom_err *err)
{
	struct etcd_kv kv = { 0 };
	char key[256];
	const char *bad = NULL, *id, *sum;
	int64_t schema = 0;
	json_t *j;

	memset(m, 0, sizeof(*m));
	snap_manifest_key(h, key, sizeof(key));
	if (etcd_get(e, key, &kv, found, hdr, err))
		return -EIO;
	if (!*found)
		return 0;
	m->mod_revision = kv.mod_revision;
	j = json_loadb(kv.value, kv.value_len, 0, NULL);
	id = json_string_value(json_object_get(j, "id"));
	sum = json_string_value(json_object_get(j, "sha256"));
	if (!json_is_object(j))
		bad = "(not a JSON object)";
	else if (!manifest_int(j, "seq", 1, &m->seq))
		bad = "seq";
	else if (!id || !id[0] || strlen(id) >= sizeof(m->id) || strchr(id, '/'))
		bad = "id";
	else if (!manifest_int(j, "size", 100, &m->size))
		bad = "size";
	else if (!manifest_int(j, "chunk_size", 1, &m->chunk_size) || m->chunk_size > SNAP_CHUNK)
		bad = "chunk_size";
	else if (!manifest_int(j, "chunks", 1, &m->chunks) ||
		 m->chunks != (m->size + m->chunk_size - 1) / m->chunk_size)
		bad = "chunks";
	else if (!sum || strlen(sum) != 64)
		bad = "sha256";
	else if (!manifest_int(j, "schema", 1, &schema))
		bad = "schema";
	if (!bad) {
		snprintf(m->id, sizeof(m->id), "%s", id);
		snprintf(m->sha256, sizeof(m->sha256), "%s", sum);
		m->schema = (int)schema;
	}
	json_decref(j);
	etcd_kv_clear(&kv);
	if (bad)
		return loom_err_set(err, LOOM_E_STORE, "", "the snapshot's manifest %s is not loom's: its %s is "
				    "missing or wrong", key, bad);
	return 0;
}

/* Reads the snapshot @m names at @rev (the manifest's read): its chunks, checked, as one image. */
static int snap_fetch(struct loomd_ha *h, const struct snap_manifest *m, int64_t rev, void **out,
		      struct loom_err *err)
{
	unsigned char *img = malloc((size_t)m->size);
	char sum[65];

	*out = NULL;
	if (!img)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory for a snapshot of %" PRId64 " bytes",
				    m->size);
	for (int64_t k = 0; k < m->chunks; k++) {
		struct etcd_kv *kvs = NULL;
		size_t n = 0;
		int64_t want = k + 1 < m->chunks ? m->chunk_size : m->size - k * m->chunk_size;
		char key[320];

		snap_data_key(h, m->id, (int)k, key, sizeof(key));
		/* At the manifest's revision: a newer snapshot may have deleted these since. */
		if (etcd_get_prefix(h->kv, key, rev, &kvs, &n, NULL, err)) {
			free(img);
			return -EIO;
		}
		if (n != 1 || strcmp(kvs[0].key, key) || (int64_t)kvs[0].value_len != want) {
			loom_err_set(err, LOOM_E_STORE, "", "the snapshot at log entry %" PRId64 " is incomplete: its "
				     "chunk %s %s (the manifest says %" PRId64 " bytes)", m->seq, key,
				     n != 1 ? "is missing" : "has another size", want);
			etcd_kvs_free(&kvs, n);
			free(img);
			return -EPROTO;
		}
		memcpy(img + k * m->chunk_size, kvs[0].value, (size_t)want);
		etcd_kvs_free(&kvs, n);
	}
	sha256_hex(img, (size_t)m->size, sum);
	if (strcmp(sum, m->sha256)) {
		free(img);
		return loom_err_set(err, LOOM_E_STORE, "", "the snapshot at log entry %" PRId64 " (%s) is corrupt: "
				    "its SHA-256 is %s, its manifest says %s", m->seq, m->id, sum, m->sha256);
	}
	*out = img;
	return 0;
}

/*
 * The log lacks the entry after *seq (trimmed): replaces the replica with
 * the newest snapshot, which must be newer than *seq, and sets *seq to its
 * entry.  All or nothing: on any error the replica is as it was.
 */
static int snap_load(struct loomd_ha *h, struct store *s, int64_t *seq, struct loom_err *err)
{
	struct snap_manifest m;
	struct etcd_header hdr = { 0 };
	void *img = NULL;
	char seqtext[24];
	bool found = false;
	int ret = 0;

	/* Once more when a newer snapshot replaced this one while it was read. */
	for (int attempt = 0; attempt < 3; attempt++) {
		struct snap_manifest again;
		struct loom_err e2 = { 0 };

		if (snap_manifest_read(h, h->kv, &m, &found, &hdr, err))
			return -EIO;
		if (!found)
			return loom_err_set(err, LOOM_E_STORE, "", "the log has no entry %" PRId64 " (trimmed) and "
					    "there is no snapshot (%smanifest): this replica cannot catch up", *seq + 1,
					    h->snap_pfx);
		if (m.seq <= *seq)
			return loom_err_set(err, LOOM_E_STORE, "", "the log has no entry %" PRId64 " and the newest "
					    "snapshot (log entry %" PRId64 ") is not newer than this replica (entry %"
					    PRId64 "): it cannot catch up", *seq + 1, m.seq, *seq);
		if (m.schema != store_schema_version_latest())
			return loom_err_set(err, LOOM_E_STORE, "", "the snapshot at log entry %" PRId64 " has schema "
					    "%d, this loomd's is %d", m.seq, m.schema, store_schema_version_latest());
		ret = snap_fetch(h, &m, hdr.revision, &img, err);
		if (ret == 0)
			break;
		if (snap_manifest_read(h, h->kv, &again, &found, NULL, &e2) || !found ||
		    again.mod_revision == m.mod_revision)
			return ret;
		log_info("ha: a newer snapshot came while reading the one at log entry %" PRId64 ": reading it",
			 m.seq);
		loom_err_clear(err);
	}
	if (ret)
		return ret;
	snprintf(seqtext, sizeof(seqtext), "%" PRId64, m.seq);
	if (store_image_load(s, img, (size_t)m.size, "ha.seq", seqtext)) {
		free(img);
		return loom_err_set(err, LOOM_E_STORE, "", "the snapshot at log entry %" PRId64 " (%s) was not "
				    "loaded, nothing of it was: %s", m.seq, m.id, store_errmsg(s));
	}
	free(img);
	log_info("ha: %s loaded the snapshot at log entry %" PRId64 " (%" PRId64 " bytes in %" PRId64
		 " chunks, was at entry %" PRId64 ")", h->name, m.seq, m.size, m.chunks, *seq);
	*seq = m.seq;
	if (m.seq > h->snap_seq)
		h->snap_seq = m.seq;
	h->log_bytes = 0;
	return 0;
}

/* ---- applying the log ---- */

/* The entry's header ("loom-ha1 NAME PID NONCE") and changeset. */
static int entry_split(const struct etcd_kv *kv, const char **cs, size_t *len, char *hdr, size_t hdrlen)
{
	const char *nl = memchr(kv->value, '\n', kv->value_len);

	if (kv->value_len < strlen(HA_HEADER) || memcmp(kv->value, HA_HEADER, strlen(HA_HEADER)) || !nl)
		return -EPROTO;
	snprintf(hdr, hdrlen, "%.*s", (int)(nl - kv->value), kv->value);
	*cs = nl + 1;
	*len = kv->value_len - (size_t)(nl + 1 - kv->value);
	return 0;
}

/*
 * Applies the entries after *seq to @s, in transactions of at most
 * CATCH_UP_PAGE entries; when the log was trimmed past *seq, loads the
 * newest snapshot first.  *own is set when an entry's header is @pending.
 */
static int log_catch_up(struct loomd_ha *h, struct store *s, int64_t *seq, const char *pending,
			bool *own, int *applied, struct etcd_header *hdr, struct loom_err *err)
{
	struct etcd *e = h->kv;
	const char *log_pfx = h->log_pfx;

	for (;;) {
		struct etcd_kv *kvs = NULL;
		size_t n = 0;
		char from[256];
		int ret = 0;

		snprintf(from, sizeof(from), "%s%016" PRId64, log_pfx, *seq + 1);
		if (etcd_get_from(e, log_pfx, from, CATCH_UP_PAGE, &kvs, &n, hdr, err))
			return -EIO;
		if (!n)
			return 0;
		if (strtoll(kvs[0].key + strlen(log_pfx), NULL, 10) > *seq + 1) {
			/* Trimmed past this replica: start again from the snapshot. */
			int64_t was = *seq;

			etcd_kvs_free(&kvs, n);
			if (snap_load(h, s, seq, err))
				return -EIO;
			if (applied)
				*applied += (int)(*seq - was);
			continue;
		}
		if (store_begin(s)) {
			etcd_kvs_free(&kvs, n);
			return loom_err_set(err, LOOM_E_STORE, "", "catching up with the log: %s", store_errmsg(s));
		}
		for (size_t i = 0; i < n && !ret; i++) {
			int64_t want = *seq + 1 + (int64_t)i, got = -1;
			char hdrline[128], seqtext[24], *stored = NULL;
			const char *cs;
			size_t len;

			sscanf(kvs[i].key + strlen(log_pfx), "%" SCNd64, &got);
			if (got != want) {
				ret = loom_err_set(err, LOOM_E_STORE, "", "the log has no entry %" PRId64 " (next: %s): "
						   "it was removed; this replica cannot catch up", want, kvs[i].key);
				break;
			}
			if (entry_split(&kvs[i], &cs, &len, hdrline, sizeof(hdrline))) {
				ret = loom_err_set(err, LOOM_E_STORE, "", "log entry %" PRId64 " is not loom's "
						   "(no '%s' header)", want, HA_HEADER);
				break;
			}
			if (store_changeset_apply(s, cs, len)) {
				ret = loom_err_set(err, LOOM_E_STORE, "", "log entry %" PRId64 " (%s) does not apply "
						   "to this replica: %s", want, hdrline, store_errmsg(s));
				break;
			}
			snprintf(seqtext, sizeof(seqtext), "%" PRId64, want);
			if (store_kv_get(s, "ha.seq", &stored) || !stored || strcmp(stored, seqtext)) {
				ret = loom_err_set(err, LOOM_E_STORE, "", "log entry %" PRId64 " (%s) leaves the "
						   "replica at entry %s", want, hdrline, stored ? stored : "none");
				free(stored);
				break;
			}
			free(stored);
			if (own && pending && pending[0] && strcmp(hdrline, pending) == 0)
				*own = true;
		}
		if (ret || store_commit(s)) {
			if (!ret)
				ret = loom_err_set(err, LOOM_E_STORE, "", "catching up with the log: %s",
						   store_errmsg(s));
			store_rollback(s);
			etcd_kvs_free(&kvs, n);
			return ret;
		}
		*seq += (int64_t)n;
		for (size_t i = 0; i < n; i++)
			h->log_bytes += (int64_t)kvs[i].value_len;
		if (applied)
			*applied += (int)n;
		etcd_kvs_free(&kvs, n);
		if (n < CATCH_UP_PAGE)
			return 0;
	}
}

static int replica_seq(struct store *s, int64_t *seq, struct loom_err *err)
{
	char *v = NULL;

	*seq = 0;
	if (store_kv_get(s, "ha.seq", &v))
		return loom_err_set(err, LOOM_E_STORE, "", "reading ha.seq: %s", store_errmsg(s));
	if (v)
		*seq = strtoll(v, NULL, 10);
	free(v);
	return 0;
}

/* ---- the election thread ---- */

static void elect_publish(struct loomd_ha *h, bool leading, const char *leader_key, const char *leader_name,
			  bool unreachable, const char *why)
{
	bool changed;

	pthread_mutex_lock(&h->lock);
	changed = leading != h->e_leading || unreachable != h->e_unreachable ||
		  strcmp(leader_key, h->leader_key);
	if (strcmp(leader_key, h->leader_key)) {
		snprintf(h->leader_key, sizeof(h->leader_key), "%s", leader_key);
		snprintf(h->leader_name, sizeof(h->leader_name), "%s", leader_name);
		h->leader_since_ns = realtime_ns();
	}
	h->e_leading = leading;
	if (unreachable && !h->e_unreachable)
		h->unreachable_since_ns = realtime_ns();
	h->e_unreachable = unreachable;
	if (unreachable)
		snprintf(h->stale_why, sizeof(h->stale_why), "%s", why);
	pthread_mutex_unlock(&h->lock);
	if (changed)
		wake(h);
}

static void nap(struct loomd_ha *h, int ms)
{
	for (int t = 0; t < ms && !atomic_load(&h->stop); t += 20) {
		struct timespec ts = { .tv_nsec = 20 * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* Puts our key on a fresh lease; returns its create_revision (0 on failure). */
static int64_t campaign(struct loomd_ha *h, struct etcd *e, int64_t *lease, char *key, size_t keylen,
			struct loom_err *err)
{
	struct etcd_cmp cmp = { .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .number = 0 };
	struct etcd_op op = { .type = ETCD_OP_PUT };
	struct etcd_kv kv = { 0 };
	bool ok = false, found = false;
	char value[160];
	int64_t rev = 0;

	if (etcd_lease_grant(e, h->ttl_s, lease, err))
		return 0;
	snprintf(key, keylen, "%s%016" PRIx64, h->elect_pfx, (uint64_t)*lease);
	snprintf(value, sizeof(value), "{\"name\":\"%s\",\"pid\":%d}", h->name, (int)getpid());
	cmp.key = key;
	op.key = key;
	op.value = value;
	op.len = strlen(value);
	op.lease = *lease;
	if (etcd_txn(e, &cmp, 1, &op, 1, NULL, 0, &ok, NULL, err) == 0 &&
	    etcd_get(e, key, &kv, &found, NULL, err) == 0 && found)
		rev = kv.create_revision;
	etcd_kv_clear(&kv);
	if (!rev) {
		etcd_lease_revoke(e, *lease, err);
		*lease = 0;
	}
	return rev;
}

static void *elect_main(void *arg)
{
	struct loomd_ha *h = arg;
	struct etcd *e = NULL;
	struct loom_err err = { 0 };
	int64_t lease = 0, rev = 0, next_ka = 0, valid_until = 0;
	char key[256] = "";
	int period = h->ttl_s * 1000 / 3;

	if (etcd_open(h->endpoints, period > 1000 ? period : 1000, &e, &err)) {
		log_err("ha: election: %s", err.msg);
		return NULL;
	}
	while (!atomic_load(&h->stop)) {
		struct etcd_kv *kvs = NULL;
		size_t n = 0, lowest = 0;
		int64_t now = mono_ms();
		char lname[64] = "";

		memset(&err, 0, sizeof(err));
		if (!lease) {
			rev = campaign(h, e, &lease, key, sizeof(key), &err);
			if (!rev) {
				elect_publish(h, false, "", "", true, err.msg);
				nap(h, ELECT_POLL_MS);
				continue;
			}
			pthread_mutex_lock(&h->lock);
			snprintf(h->e_key, sizeof(h->e_key), "%s", key);
			h->e_rev = rev;
			pthread_mutex_unlock(&h->lock);
			valid_until = now + h->ttl_s * 1000;
			next_ka = now + period;
			log_info("ha: %s is a candidate (lease %" PRIx64 ", ttl %d s, revision %" PRId64 ")", h->name,
				 (uint64_t)lease, h->ttl_s, rev);
		} else if (now >= next_ka) {
			int left = 0;
			int ret = etcd_lease_keepalive(e, lease, &left, &err);

			if (ret && err.code == LOOM_E_NOT_FOUND) {
				log_warn("ha: %s's lease expired: campaigning again", h->name);
				lease = 0;
				elect_publish(h, false, "", "", false, "");
				continue;
			}
			if (ret) {
				next_ka = now + ELECT_POLL_MS;
			} else {
				valid_until = now + (int64_t)left * 1000;
				next_ka = now + period;
			}
		}
		if (etcd_get_prefix(e, h->elect_pfx, 0, &kvs, &n, NULL, &err)) {
			/* Without etcd nobody can tell: lead only while the lease surely lives. */
			elect_publish(h, h->e_leading && mono_ms() < valid_until, h->leader_key, h->leader_name,
				      true, err.msg);
			nap(h, ELECT_POLL_MS);
			continue;
		}
		for (size_t i = 1; i < n; i++)
			if (kvs[i].create_revision < kvs[lowest].create_revision)
				lowest = i;
		if (n) {
			json_t *v = json_loadb(kvs[lowest].value, kvs[lowest].value_len, 0, NULL);

			snprintf(lname, sizeof(lname), "%s", json_string_value(json_object_get(v, "name")) ?
				 json_string_value(json_object_get(v, "name")) : "?");
			json_decref(v);
		}
		elect_publish(h, n && !strcmp(kvs[lowest].key, key) && kvs[lowest].create_revision == rev &&
			      mono_ms() < valid_until, n ? kvs[lowest].key : "", lname, false, "");
		if (lease) {
			bool mine = false;

			for (size_t i = 0; i < n; i++)
				mine |= !strcmp(kvs[i].key, key);
			if (!mine) {
				/* Our key is gone (its lease expired while we were away). */
				log_warn("ha: %s's election key is gone: campaigning again", h->name);
				etcd_lease_revoke(e, lease, &err);
				lease = 0;
			}
		}
		etcd_kvs_free(&kvs, n);
		nap(h, ELECT_POLL_MS);
	}
	/* Resign: the key goes with the lease, the next candidate leads at once. */
	if (lease && etcd_lease_revoke(e, lease, &err))
		log_warn("ha: resigning: %s", err.msg);
	etcd_close(&e);
	return NULL;
}

/* ---- the watch thread: a doorbell on the log ---- */

static void on_log(void *arg, const struct etcd_watch_update *u)
{
	struct loomd_ha *h = arg;

	switch (u->status) {
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++) {
			long long seq = strtoll(u->events[i].kv.key + strlen(h->log_pfx), NULL, 10);

			if (u->events[i].type == ETCD_EV_PUT && seq > atomic_load(&h->seen_seq))
				atomic_store(&h->seen_seq, seq);
		}
		if (atomic_exchange(&h->watch_broken, false) || u->n_events)
			wake(h);
		break;
	case ETCD_WATCH_COMPACTED:
	case ETCD_WATCH_RETRYING:
	case ETCD_WATCH_FOREIGN:
		/* Read the log when it works again: whatever came meanwhile. */
		atomic_store(&h->seen_seq, LLONG_MAX);
		if (!atomic_exchange(&h->watch_broken, true)) {
			pthread_mutex_lock(&h->lock);
			snprintf(h->stale_why, sizeof(h->stale_why), "the log's watch broke: %s",
				 u->message ? u->message : "compacted");
			h->unreachable_since_ns = realtime_ns();
			pthread_mutex_unlock(&h->lock);
		}
		wake(h);
		break;
	}
}

struct watch_ctx {
	struct loomd_ha *h;
	struct etcd_watcher *w;
	struct etcd_watch *watch;
};

static void on_log_ctx(void *arg, const struct etcd_watch_update *u)
{
	struct watch_ctx *c = arg;

	on_log(c->h, u);
	if (u->status == ETCD_WATCH_COMPACTED)	/* only a doorbell: the loop reads the keys */
		etcd_watch_resume(c->w, c->watch, u->compact_revision);
}

/*
 * The leader's convergence key: through which log entry its targets took
 * everything, and for each post (a generation) since its last word, the
 * last entry it carried and whether it went well.
 */
static void on_conv(void *arg, const struct etcd_watch_update *u)
{
	struct loomd_ha *h = arg;
	const size_t cap = sizeof(h->conv_posts) / sizeof(h->conv_posts[0]);

	for (size_t i = 0; u->status == ETCD_WATCH_EVENTS && i < u->n_events; i++) {
		const struct etcd_kv *kv = &u->events[i].kv;
		json_t *j = u->events[i].type == ETCD_EV_PUT ? json_loadb(kv->value, kv->value_len, 0, NULL) : NULL;
		json_t *seq = json_object_get(j, "seq"), *posts = json_object_get(j, "posts"), *p;
		size_t k;

		if (!json_is_integer(seq) || !json_is_array(posts)) {
			json_decref(j);
			continue;
		}
		pthread_mutex_lock(&h->lock);
		json_array_foreach(posts, k, p) {
			json_t *ps = json_array_get(p, 0), *pok = json_array_get(p, 1);

			if (!json_is_integer(ps) || !json_is_boolean(pok))
				continue;
			if (h->n_conv_posts == cap) {
				memmove(h->conv_posts, h->conv_posts + 1, (cap - 1) * sizeof(h->conv_posts[0]));
				h->n_conv_posts--;
			}
			h->conv_posts[h->n_conv_posts].seq = json_integer_value(ps);
			h->conv_posts[h->n_conv_posts++].ok = json_is_true(pok);
		}
		pthread_mutex_unlock(&h->lock);
		atomic_store(&h->conv_seq, (long long)json_integer_value(seq));
		wake(h);
		json_decref(j);
	}
}

static void *watch_main(void *arg)
{
	struct loomd_ha *h = arg;
	struct loom_err err = { 0 };
	struct watch_ctx c = { .h = h };
	struct etcd_watch *conv = NULL;

	if (etcd_watcher_new(h->endpoints, &c.w, &err) ||
	    etcd_watch_add(c.w, h->log_pfx, h->start_rev, on_log_ctx, &c, &c.watch, &err)) {
		log_err("ha: the log's watch: %s", err.msg);
		etcd_watcher_free(&c.w);
		return NULL;
	}
	/* From now: a write waits for a convergence after its own entry. */
	if (etcd_watch_add(c.w, h->conv_key, 0, on_conv, h, &conv, &err))
		log_err("ha: the convergence key's watch (-w through this follower will time out): %s",
			err.msg);
	while (!atomic_load(&h->stop))
		etcd_watcher_run(c.w, 200);
	if (conv)
		etcd_watch_cancel(c.w, &conv);
	etcd_watch_cancel(c.w, &c.watch);
	etcd_watcher_free(&c.w);
	return NULL;
}

/* ---- the putter: the leader's word on convergence, off the event loop ---- */

static void conv_word_free(struct conv_word **pw)
{
	if (!*pw)
		return;
	free((*pw)->value);
	free(*pw);
	*pw = NULL;
}

/* Puts @w, fenced on the election key it was built under; true when it landed. */
static bool conv_put(struct loomd_ha *h, const struct conv_word *w)
{
	struct etcd_cmp cmp = { .key = w->fence_key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
				.number = w->fence_rev };
	struct etcd_op op = { .type = ETCD_OP_PUT, .key = h->conv_key, .value = w->value,
			      .len = strlen(w->value) };
	struct loom_err err = { 0 };
	bool took = false;

	if (etcd_txn(h->conv_kv, &cmp, 1, &op, 1, NULL, 0, &took, NULL, &err) == 0 && took)
		return true;
	log_debug(LOG_SUB_RECONCILE, "ha: convergence through entry %" PRId64 " not put: %s", w->seq,
		  err.msg[0] ? err.msg : "fenced");
	return false;
}

/*
 * Puts each word the loop hands over, with a client of its own: an etcd
 * that is slow or away holds up this thread, never the loop.  The loop
 * hands a word only while none is on its way, so the one put is always
 * the newest; after each try the loop is woken to drop the posts that
 * were put, or to hand the word again (CONV_RETRY_MS after a failure).
 */
static void *conv_main(void *arg)
{
	struct loomd_ha *h = arg;

	for (;;) {
		struct conv_word *w;
		bool took;

		pthread_mutex_lock(&h->lock);
		while (!h->conv_next && !atomic_load(&h->stop))
			pthread_cond_wait(&h->conv_cond, &h->lock);
		w = h->conv_next;
		h->conv_next = NULL;
		pthread_mutex_unlock(&h->lock);
		if (atomic_load(&h->stop)) {
			conv_word_free(&w);
			return NULL;
		}
		took = conv_put(h, w);
		if (!took)
			nap(h, CONV_RETRY_MS);
		pthread_mutex_lock(&h->lock);
		if (took)
			h->conv_put_seq = w->seq;
		h->conv_busy = false;
		pthread_mutex_unlock(&h->lock);
		conv_word_free(&w);
		wake(h);
	}
}

/* ---- the event loop's side ---- */

bool loomd_ha_leader(const struct loomd *d)
{
	return !d->ha || (d->ha->leading && !d->ha->fenced);
}

const char *loomd_ha_stale(const struct loomd *d)
{
	struct loomd_ha *h = d->ha;

	if (h && h->behind_why[0])
		return h->behind_why;
	if (!h || (!h->e_unreachable && !atomic_load(&h->watch_broken)))
		return NULL;
	return h->stale_why[0] ? h->stale_why : "etcd is unreachable";
}

int loomd_ha_fence(const struct loomd *d, char *key, size_t len, int64_t *rev)
{
	struct loomd_ha *h = d->ha;

	if (!h || !loomd_ha_leader(d))
		return -ENOENT;
	pthread_mutex_lock(&h->lock);
	snprintf(key, len, "%s", h->e_key);
	*rev = h->e_rev;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void loomd_ha_posted(struct loomd *d, uint64_t gen)
{
	struct loomd_ha *h = d->ha;

	if (!h || !h->leading || !gen)
		return;
	if (h->n_posted == sizeof(h->posted) / sizeof(h->posted[0])) {
		memmove(h->posted, h->posted + 1, (h->n_posted - 1) * sizeof(h->posted[0]));
		h->n_posted--;
	}
	h->posted[h->n_posted].gen = gen;
	h->posted[h->n_posted++].seq = h->seq;
}

void loomd_ha_publish(struct loomd *d)
{
	struct loomd_ha *h = d->ha;
	struct conv_word *w = NULL;
	int64_t put, seq = -1;
	size_t k, said = 0;
	bool busy;
	json_t *posts, *word;

	if (!h || !h->leading || h->fenced || !d->rec || !h->n_posted)
		return;
	pthread_mutex_lock(&h->lock);
	busy = h->conv_busy;
	put = h->conv_put_seq;
	pthread_mutex_unlock(&h->lock);
	posts = json_array();
	if (!posts)
		return;
	/*
	 * The posts taken in order: each with every one before it done (a
	 * generation's "done" looks only at the targets it changed, so a later
	 * one can be done while an earlier one still waits on another target).
	 * Each says for itself whether it went well: a follower's write is
	 * answered by the first post that carried its entry.  Those through
	 * the entry last put are answered (a post without a new entry was
	 * said by the word that carried its entry).
	 */
	for (k = 0; k < h->n_posted; k++) {
		bool ok;

		if (!reconciler_done(d->rec, h->posted[k].gen, &ok))
			break;
		if (h->posted[k].seq <= put) {
			said = k + 1;
			continue;
		}
		seq = h->posted[k].seq;
		json_array_append_new(posts, json_pack("[I, b]", (json_int_t)seq, ok));
	}
	memmove(h->posted, h->posted + said, (h->n_posted - said) * sizeof(h->posted[0]));
	h->n_posted -= said;
	/* Nothing new, or a word on its way: the putter wakes the loop when it is done. */
	if (seq < 0 || busy)
		goto out;
	w = calloc(1, sizeof(*w));
	if (!w || loomd_ha_fence(d, w->fence_key, sizeof(w->fence_key), &w->fence_rev))
		goto out;
	word = json_pack("{s:I, s:O}", "seq", (json_int_t)seq, "posts", posts);
	w->value = word ? json_dumps(word, JSON_COMPACT) : NULL;
	json_decref(word);
	if (!w->value)
		goto out;
	w->seq = seq;
	pthread_mutex_lock(&h->lock);
	h->conv_next = w;
	h->conv_busy = true;
	pthread_cond_signal(&h->conv_cond);
	pthread_mutex_unlock(&h->lock);
	w = NULL;
out:
	conv_word_free(&w);
	json_decref(posts);
}

int64_t loomd_ha_seq(const struct loomd *d)
{
	return d->ha ? d->ha->seq : 0;
}

bool loomd_ha_converged(const struct loomd *d, int64_t seq, bool *ok)
{
	struct loomd_ha *h = d->ha;
	size_t k;

	if (!h || atomic_load(&h->conv_seq) < seq)
		return false;
	pthread_mutex_lock(&h->lock);
	for (k = 0; k < h->n_conv_posts && h->conv_posts[k].seq < seq; k++)
		;
	/* Past the record (it keeps the last 256): the newest word. */
	*ok = k < h->n_conv_posts ? h->conv_posts[k].ok
				  : h->n_conv_posts && h->conv_posts[h->n_conv_posts - 1].ok;
	pthread_mutex_unlock(&h->lock);
	return true;
}

int loomd_ha_begin(struct loomd *d, struct loom_err *err)
{
	if (!d->ha)
		return 0;
	if (store_session_start(d->store))
		return loom_err_set(err, LOOM_E_STORE, "", "cannot record the changes: %s", store_errmsg(d->store));
	return 0;
}

/* Applies what others appended; reloads the model when anything was. */
static int catch_up(struct loomd *d, bool *own, struct loom_err *err)
{
	struct loomd_ha *h = d->ha;
	int applied = 0;
	int ret = log_catch_up(h, d->store, &h->seq, h->pending, own, &applied, NULL, err);

	if (ret)
		snprintf(h->behind_why, sizeof(h->behind_why), "this replica cannot catch up with the log: %s",
			 err->msg);
	else
		h->behind_why[0] = '\0';
	if (applied) {
		loomd_model_reload(d);
		d->model_changed = true;
		if (h->leading)
			d->life_pending = true;
	}
	return ret;
}

/* Is our election key still ours?  (After a failed fenced append.) */
static bool still_leading(struct loomd_ha *h)
{
	struct etcd_kv kv = { 0 };
	struct loom_err err = { 0 };
	bool found = false, ok;
	char key[256];
	int64_t rev;

	pthread_mutex_lock(&h->lock);
	snprintf(key, sizeof(key), "%s", h->e_key);
	rev = h->e_rev;
	pthread_mutex_unlock(&h->lock);
	if (etcd_get(h->kv, key, &kv, &found, NULL, &err))
		return true;	/* cannot tell: the retry will be fenced again if not */
	ok = found && kv.create_revision == rev;
	etcd_kv_clear(&kv);
	return ok;
}

enum ha_append loomd_ha_append(struct loomd *d, struct loom_err *err)
{
	struct loomd_ha *h = d->ha;
	struct etcd_cmp cmp[2];
	struct etcd_op op = { .type = ETCD_OP_PUT };
	char key[256], seqtext[24], fence_key[256] = "";
	void *cs = NULL;
	char *value = NULL;
	size_t len = 0, hlen;
	bool ok = false, fence = d->txn_internal > 0, own = false;
	int64_t fence_rev = 0;
	size_t n_cmp = 1;
	int ret;

	snprintf(seqtext, sizeof(seqtext), "%" PRId64, h->seq + 1);
	if (store_kv_put(d->store, "ha.seq", seqtext) || store_session_take(d->store, &cs, &len)) {
		loom_err_set(err, LOOM_E_STORE, "", "cannot take the batch's changes: %s", store_errmsg(d->store));
		goto failed;
	}
	if (len > HA_ENTRY_MAX) {
		loom_err_set(err, LOOM_E_TOO_LARGE, "", "the batch's changes take %zu bytes, more than one log "
			     "entry holds (%d: etcd's request limit); nothing was changed, send fewer changes at once",
			     len, HA_ENTRY_MAX);
		goto failed;
	}
	snprintf(h->pending, sizeof(h->pending), HA_HEADER "%s %d %" PRIu64, h->name, (int)getpid(), ++h->nonce);
	hlen = strlen(h->pending) + 1;
	value = malloc(hlen + len);
	if (!value) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		goto failed;
	}
	memcpy(value, h->pending, hlen - 1);
	value[hlen - 1] = '\n';
	memcpy(value + hlen, cs, len);
	log_key(h, h->seq + 1, key, sizeof(key));
	cmp[0] = (struct etcd_cmp){ .key = key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .number = 0 };
	if (fence) {
		if (!loomd_ha_leader(d)) {
			loom_err_set(err, LOOM_E_STATE, "", "%s is not the leader: its own writes are not made", h->name);
			goto failed;
		}
		pthread_mutex_lock(&h->lock);
		snprintf(fence_key, sizeof(fence_key), "%s", h->e_key);
		fence_rev = h->e_rev;
		pthread_mutex_unlock(&h->lock);
		cmp[n_cmp++] = (struct etcd_cmp){ .key = fence_key, .target = ETCD_CMP_CREATE,
						  .result = ETCD_CMP_EQUAL, .number = fence_rev };
	}
	op.key = key;
	op.value = value;
	op.len = hlen + len;
	ret = etcd_txn(h->kv, cmp, n_cmp, &op, 1, NULL, 0, &ok, NULL, err);
	free(value);
	free(cs);
	cs = NULL;
	if (ret == 0 && ok) {
		h->log_bytes += (int64_t)op.len;
		return HA_APPENDED;
	}
	store_rollback(d->store);
	d->txn_internal = 0;
	if (ret) {
		/* Unknown outcome: the entry may still land (the watch will bring it). */
		char why[200];

		snprintf(why, sizeof(why), "%s", err->msg);
		loom_err_clear(err);
		loom_err_set(err, LOOM_E_UNAVAILABLE, "cluster.etcd", "the cluster's log did not take the write "
			     "(%s); nothing was changed on %s, but a write etcd accepted before failing may still "
			     "appear: read it back before trying again", why, h->name);
		loomd_model_reload(d);
		h->pending[0] = '\0';
		return HA_FAILED;
	}
	if (fence && !still_leading(h)) {
		log_warn("ha: fenced: %s no longer leads (its election key %s is gone); its own writes "
			 "were not made", h->name, fence_key);
		h->fenced = true;
	}
	if (catch_up(d, &own, err)) {
		log_err("ha: %s", err->msg);
		loomd_model_reload(d);
		h->pending[0] = '\0';
		return HA_FAILED;
	}
	loomd_model_reload(d);
	h->pending[0] = '\0';
	h->conflicts++;
	return own ? HA_LANDED : HA_CONFLICT;
failed:
	free(cs);
	free(value);
	store_session_end(d->store);
	store_rollback(d->store);
	d->txn_internal = 0;
	loomd_model_reload(d);
	h->pending[0] = '\0';
	return HA_FAILED;
}

void loomd_ha_committed(struct loomd *d, bool ok)
{
	struct loomd_ha *h = d->ha;
	struct loom_err err = { 0 };

	h->pending[0] = '\0';
	if (ok) {
		h->seq++;
		return;
	}
	/* The entry is in the log, the local COMMIT failed: apply it from there. */
	store_rollback(d->store);
	if (catch_up(d, NULL, &err))
		log_err("ha: %s", err.msg);
	loomd_model_reload(d);
}

/* ---- snapshots: writing one (the leader, in a thread of its own) ---- */

struct snap_job {
	struct loomd_ha *h;
	void *img;		/* the replica's image at log entry @seq */
	size_t len;
	int64_t seq;
	int64_t log_bytes;	/* h->log_bytes when it started */
	char fence_key[256];	/* our election key when it started */
	int64_t fence_rev;
	atomic_bool done;
	bool ok;		/* the manifest is in */
};

/* @ops in one transaction, only while our election key is what it was (and @extra holds). */
static int snap_txn(struct etcd *e, const struct snap_job *j, const struct etcd_cmp *extra,
		    const struct etcd_op *ops, size_t n_ops, struct etcd_header *hdr, struct loom_err *err)
{
	struct etcd_cmp cmp[2] = {
		{ .key = j->fence_key, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .number = j->fence_rev },
	};
	bool ok = false;

	if (extra)
		cmp[1] = *extra;
	if (etcd_txn(e, cmp, extra ? 2 : 1, ops, n_ops, NULL, 0, &ok, hdr, err))
		return -EIO;
	if (!ok)
		return loom_err_set(err, LOOM_E_STATE, "", "fenced: %s no longer leads, or the snapshot was "
				    "replaced", j->h->name);
	return 0;
}

static void *snap_main(void *arg)
{
	struct snap_job *j = arg;
	struct loomd_ha *h = j->h;
	struct etcd *e = NULL;
	struct loom_err err = { 0 };
	struct etcd_header hdr = { 0 };
	char id[64], key[320], sum[65], manifest[768], mkey[256];
	char data_lo[256], data_hi[256], id_lo[320], id_hi[320], log_hi[256];
	size_t chunks = (j->len + h->snap_chunk - 1) / h->snap_chunk;
	int64_t t0 = mono_ms(), keep_from = j->seq - h->snap_every / 4 + 1;

	snprintf(id, sizeof(id), "%016" PRId64 "-%016" PRIx64, j->seq, (uint64_t)realtime_ns());
	sha256_hex(j->img, j->len, sum);
	if (etcd_open(h->endpoints, 5000, &e, &err))
		goto out;
	for (size_t k = 0; k < chunks; k++) {
		size_t off = k * h->snap_chunk;
		struct etcd_op op = { .type = ETCD_OP_PUT, .key = key, .value = (char *)j->img + off,
				      .len = j->len - off < h->snap_chunk ? j->len - off : h->snap_chunk };

		if (atomic_load(&h->stop)) {
			loom_err_set(&err, LOOM_E_STATE, "", "%s is stopping", h->name);
			goto out;
		}
		snap_data_key(h, id, (int)k, key, sizeof(key));
		if (snap_txn(e, j, NULL, &op, 1, NULL, &err))
			goto out;
		if (h->snap_die_after > 0 && k + 1 == (size_t)h->snap_die_after) {
			log_warn("ha: LOOMD_TEST_SNAPSHOT_DIE_AFTER: %s killed after %zu of the %zu chunks of the "
				 "snapshot at log entry %" PRId64, h->name, k + 1, chunks, j->seq);
			raise(SIGKILL);
		}
	}
	/*
	 * The manifest last, so a snapshot is seen only whole.  The same
	 * transaction drops every other snapshot's chunks: the previous one's
	 * and any that a leader killed half-way left behind.
	 */
	snap_manifest_key(h, mkey, sizeof(mkey));
	snprintf(manifest, sizeof(manifest), "{\"seq\":%" PRId64 ",\"id\":\"%s\",\"chunks\":%zu,\"chunk_size\":%zu,"
		 "\"size\":%zu,\"sha256\":\"%s\",\"schema\":%d,\"by\":\"%s\",\"time\":%" PRId64 "}", j->seq, id,
		 chunks, h->snap_chunk, j->len, sum, store_schema_version_latest(), h->name, realtime_ns());
	snprintf(data_lo, sizeof(data_lo), "%sdata/", h->snap_pfx);
	snprintf(data_hi, sizeof(data_hi), "%sdata0", h->snap_pfx);	/* '/' + 1: the end of data/ */
	snap_data_key(h, id, -1, id_lo, sizeof(id_lo));
	snprintf(id_hi, sizeof(id_hi), "%sdata/%s0", h->snap_pfx, id);
	{
		struct etcd_op ops[3] = {
			{ .type = ETCD_OP_PUT, .key = mkey, .value = manifest, .len = strlen(manifest) },
			{ .type = ETCD_OP_DELETE_RANGE, .key = data_lo, .range_end = id_lo },
			{ .type = ETCD_OP_DELETE_RANGE, .key = id_hi, .range_end = data_hi },
		};

		if (snap_txn(e, j, NULL, ops, 3, &hdr, &err))
			goto out;
	}
	j->ok = true;
	/*
	 * Trim: the entries the snapshot holds, but the last
	 * snapshot_entries / 4 of them (a follower a little behind catches up
	 * from the log, without a whole snapshot); only while the manifest is
	 * the one just written.
	 */
	if (keep_from > 1) {
		struct etcd_cmp still = { .key = mkey, .target = ETCD_CMP_MOD, .result = ETCD_CMP_EQUAL,
					  .number = hdr.revision };
		struct etcd_op op = { .type = ETCD_OP_DELETE_RANGE, .key = h->log_pfx, .range_end = log_hi };

		log_key(h, keep_from, log_hi, sizeof(log_hi));
		if (snap_txn(e, j, &still, &op, 1, NULL, &err)) {
			log_warn("ha: the log was not trimmed after the snapshot at log entry %" PRId64 " (the next "
				 "snapshot will): %s", j->seq, err.msg);
			keep_from = 1;
		}
	}
	log_info("ha: %s wrote the snapshot at log entry %" PRId64 " (%zu bytes, %zu chunks, %" PRId64 " ms); "
		 "the log starts at entry %" PRId64, h->name, j->seq, j->len, chunks, mono_ms() - t0,
		 keep_from > 1 ? keep_from : 1);
out:
	if (!j->ok)
		log_warn("ha: the snapshot at log entry %" PRId64 " was not completed: %s", j->seq, err.msg);
	etcd_close(&e);
	atomic_store(&j->done, true);
	wake(h);
	return NULL;
}

static void snap_job_free(struct loomd_ha *h)
{
	if (!h->job)
		return;
	pthread_join(h->snap_thread, NULL);
	free(h->job->img);
	free(h->job);
	h->job = NULL;
}

/* The leader, outside a batch: a snapshot once snapshot_entries entries came after the last one. */
static void snap_poll(struct loomd *d)
{
	struct loomd_ha *h = d->ha;
	struct snap_job *j = h->job;
	sigset_t all, old;

	if (j && atomic_load(&j->done)) {
		if (j->ok && j->seq > h->snap_seq)
			h->snap_seq = j->seq;
		if (j->ok)
			h->log_bytes = h->log_bytes > j->log_bytes ? h->log_bytes - j->log_bytes : 0;
		if (!j->ok)
			h->snap_next_try = mono_ms() + SNAP_RETRY_MS;
		snap_job_free(h);
	}
	if (h->job || d->in_txn || !loomd_ha_leader(d) || h->seq <= h->snap_seq ||
	    (h->seq - h->snap_seq < h->snap_every && h->log_bytes < SNAP_LOG_BYTES) || mono_ms() < h->snap_next_try)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->h = h;
	j->seq = h->seq;
	j->log_bytes = h->log_bytes;
	if (loomd_ha_fence(d, j->fence_key, sizeof(j->fence_key), &j->fence_rev) ||
	    store_image_take(d->store, &j->img, &j->len)) {
		log_err("ha: cannot take a snapshot: %s", store_errmsg(d->store));
		goto failed;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&h->snap_thread, NULL, snap_main, j)) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		log_err("ha: cannot start the snapshot's thread");
		goto failed;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	h->job = j;
	return;
failed:
	free(j->img);
	free(j);
	h->snap_next_try = mono_ms() + SNAP_RETRY_MS;
}

static void lead(struct loomd *d)
{
	struct loomd_ha *h = d->ha;

	struct snap_manifest m;
	struct loom_err err = { 0 };
	bool found = false;

	h->leading = true;
	h->fenced = false;
	log_info("ha: %s leads (log entry %" PRId64 ")", h->name, h->seq);
	/* The snapshots the last leader wrote count. */
	if (snap_manifest_read(h, h->kv, &m, &found, NULL, &err) == 0 && found && m.seq > h->snap_seq)
		h->snap_seq = m.seq;
	/* What the last leader left in the store is ours to carry on. */
	loomd_replace_release(d);
	if (loomd_replace_load(d))
		log_err("ha: cannot read the replacements in progress: %s", store_errmsg(d->store));
	fault_history_release(&d->faults);
	loomd_faults_restore(d);
	if (d->cfg.reconcile && !d->rec) {
		loom_err_clear(&err);
		if (loomd_reconciler_start(d) == 0 && server_add_reconciler(d, &err) == 0) {
			d->life_pending = true;
			loomd_post(d);
		} else {
			log_err("ha: cannot start the reconciler: %s", err.msg[0] ? err.msg : "failed");
		}
	}
	loomd_hook_call(d, LOOMD_HOOK_START);
}

static void follow(struct loomd *d)
{
	struct loomd_ha *h = d->ha;

	log_info("ha: %s follows (leader: %s)", h->name, h->leader_name[0] ? h->leader_name : "none");
	h->leading = false;
	h->n_posted = 0;
	/* A word not yet taken is not put (one on its way is fenced, if need be). */
	pthread_mutex_lock(&h->lock);
	if (h->conv_next) {
		conv_word_free(&h->conv_next);
		h->conv_busy = false;
	}
	pthread_mutex_unlock(&h->lock);
	if (d->rec)
		reconciler_stop(&d->rec);
}

void loomd_ha_poll(struct loomd *d)
{
	struct loomd_ha *h = d->ha;
	struct loom_err err = { 0 };
	bool e_leading, behind;
	uint64_t ticks;

	if (!h || d->in_txn)
		return;
	if (read(h->efd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("ha: eventfd: %s", strerror(errno));
	behind = atomic_load(&h->seen_seq) > h->seq;
	/* While etcd is away the loop does not wait on it: a doorbell brings us back. */
	if (behind && !atomic_load(&h->watch_broken)) {
		long long seen = LLONG_MAX;

		if (catch_up(d, NULL, &err))
			log_err("ha: %s", err.msg);
		else
			atomic_compare_exchange_strong(&h->seen_seq, &seen, h->seq);
	}
	pthread_mutex_lock(&h->lock);
	e_leading = h->e_leading;
	pthread_mutex_unlock(&h->lock);
	if (h->fenced && !e_leading)
		h->fenced = false;	/* the thread saw it too */
	if (e_leading && !h->fenced && !h->leading) {
		if (catch_up(d, NULL, &err))
			log_err("ha: %s", err.msg);
		lead(d);
	} else if ((!e_leading || h->fenced) && h->leading) {
		follow(d);
	}
	if (d->model_changed && d->rec)
		loomd_post(d);
	snap_poll(d);
}

static void on_wake(struct loomd *d)
{
	loomd_ha_poll(d);
}

/* Makes ha/meta once (the first controller), or checks it. */
static int meta_check(struct loomd_ha *h, struct loom_err *err)
{
	struct etcd_cmp cmp = { .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .number = 0 };
	struct etcd_op op = { .type = ETCD_OP_PUT };
	struct etcd_kv kv = { 0 };
	char key[256], value[256];
	bool ok = false, found = false;
	json_t *j;
	int schema;

	snprintf(key, sizeof(key), "%smeta", h->pfx);
	snprintf(value, sizeof(value), "{\"schema\":%d,\"by\":\"%s\",\"time\":%" PRId64 "}",
		 store_schema_version_latest(), h->name, realtime_ns());
	cmp.key = op.key = key;
	op.value = value;
	op.len = strlen(value);
	if (etcd_txn(h->kv, &cmp, 1, &op, 1, NULL, 0, &ok, NULL, err))
		return -EIO;
	if (ok) {
		log_info("ha: %s initialised the cluster's state at %s (schema %d)", h->name, h->pfx,
			 store_schema_version_latest());
		return 0;
	}
	if (etcd_get(h->kv, key, &kv, &found, NULL, err))
		return -EIO;
	j = found ? json_loadb(kv.value, kv.value_len, 0, NULL) : NULL;
	schema = json_is_integer(json_object_get(j, "schema")) ? (int)json_integer_value(json_object_get(j, "schema")) : -1;
	if (json_is_true(json_object_get(j, "importing"))) {
		json_decref(j);
		etcd_kv_clear(&kv);
		return loom_err_set(err, LOOM_E_STATE, "cluster.prefix", "%s: an import into this cluster is "
				    "under way or was cut short (loomd --import): wait for it, or remove %s and "
				    "import again", key, h->pfx);
	}
	json_decref(j);
	etcd_kv_clear(&kv);
	if (schema != store_schema_version_latest())
		return loom_err_set(err, LOOM_E_STORE, "cluster.prefix", "%s: the cluster's state has schema %d, "
				    "this loomd writes schema %d: run the same loomd version on every controller",
				    key, schema, store_schema_version_latest());
	return 0;
}

static int ha_new(const struct loom_config *cfg, struct loomd_ha **out, struct loom_err *err)
{
	struct loomd_ha *h = calloc(1, sizeof(*h));

	if (!h)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	h->efd = -1;
	snprintf(h->name, sizeof(h->name), "%s", cfg->cluster_name);
	snprintf(h->pfx, sizeof(h->pfx), "%s/ha/", cfg->cluster_prefix);
	snprintf(h->log_pfx, sizeof(h->log_pfx), "%slog/", h->pfx);
	snprintf(h->elect_pfx, sizeof(h->elect_pfx), "%selection/", h->pfx);
	snprintf(h->snap_pfx, sizeof(h->snap_pfx), "%ssnap/", h->pfx);
	snprintf(h->conv_key, sizeof(h->conv_key), "%sconverged", h->pfx);
	h->conv_put_seq = -1;
	atomic_init(&h->conv_seq, -1);
	pthread_cond_init(&h->conv_cond, NULL);
	h->snap_every = cfg->cluster_snapshot_entries;
	h->snap_chunk = SNAP_CHUNK;
	/* Test knobs (docs/ha.md): small chunks, and a leader killed half-way through a snapshot. */
	if (getenv("LOOMD_TEST_SNAPSHOT_CHUNK")) {
		long v = strtol(getenv("LOOMD_TEST_SNAPSHOT_CHUNK"), NULL, 10);

		if (v >= 1024 && v <= SNAP_CHUNK)
			h->snap_chunk = (size_t)v;
	}
	if (getenv("LOOMD_TEST_SNAPSHOT_DIE_AFTER"))
		h->snap_die_after = atoi(getenv("LOOMD_TEST_SNAPSHOT_DIE_AFTER"));
	snprintf(h->endpoints, sizeof(h->endpoints), "%s", cfg->cluster_etcd);
	h->ttl_s = (int)cfg->cluster_leader_ttl_s;
	pthread_mutex_init(&h->lock, NULL);
	*out = h;
	if (!store_session_supported())
		return loom_err_set(err, LOOM_E_CONFIG, "cluster.ha", "this loomd was built with a libsqlite3 "
				    "without the session extension: cluster.ha is not available");
	return etcd_open(h->endpoints, 5000, &h->kv, err) ? -EIO : 0;
}

static void ha_free(struct loomd_ha **ph)
{
	struct loomd_ha *h = *ph;

	if (!h)
		return;
	etcd_close(&h->kv);
	etcd_close(&h->conv_kv);
	conv_word_free(&h->conv_next);
	if (h->efd >= 0)
		close(h->efd);
	pthread_cond_destroy(&h->conv_cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
	*ph = NULL;
}

int loomd_ha_open(struct loomd *d, struct loom_err *err)
{
	struct loomd_ha *h;
	struct etcd_header hdr = { 0 };
	sigset_t all, old;
	int64_t audit_seq = 0;
	char audit_hash[65];
	int ret;

	if (!d->cfg.cluster_ha)
		return 0;
	ret = ha_new(&d->cfg, &d->ha, err);
	h = d->ha;
	if (ret)
		return ret;
	if (replica_seq(d->store, &h->seq, err))
		return -EIO;
	if (h->seq == 0 && store_audit_head(d->store, &audit_seq, audit_hash) == 0 && audit_seq > 0)
		return loom_err_set(err, LOOM_E_STORE, "database", "%s holds state of its own (%" PRId64 " audit "
				    "records) that is not in the cluster: import it (loomd --import %s) or start "
				    "this controller on an empty file", d->cfg.database, audit_seq, d->cfg.database);
	if (meta_check(h, err))
		return -EIO;
	{
		struct snap_manifest m;
		bool found = false;

		if (snap_manifest_read(h, h->kv, &m, &found, NULL, err))
			return -EIO;
		h->snap_seq = found ? m.seq : 0;
	}
	if (h->seq > 0) {
		struct etcd_kv kv = { 0 };
		bool found = false;
		char key[256];

		log_key(h, h->seq, key, sizeof(key));
		if (etcd_get(h->kv, key, &kv, &found, NULL, err))
			return -EIO;
		etcd_kv_clear(&kv);
		/* Not there, and no snapshot at or past it: not this cluster's log. */
		if (!found && h->snap_seq < h->seq)
			return loom_err_set(err, LOOM_E_STORE, "database", "%s is at log entry %" PRId64 ", which "
					    "the cluster does not have (another cluster, or its log was removed): "
					    "move the file away to start from the cluster's state", d->cfg.database,
					    h->seq);
	}
	ret = log_catch_up(h, d->store, &h->seq, NULL, NULL, NULL, &hdr, err);
	if (ret)
		return ret;
	log_info("ha: %s's replica is at log entry %" PRId64, h->name, h->seq);
	h->start_rev = hdr.revision + 1;
	atomic_store(&h->seen_seq, h->seq);
	h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->efd < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "eventfd: %s", strerror(errno));
	if (loomd_fd_add(d, h->efd, on_wake))
		return loom_err_set(err, LOOM_E_INTERNAL, "", "too many descriptors for the event loop");
	if (etcd_open(h->endpoints, 5000, &h->conv_kv, err))
		return -EIO;
	/* The threads take no signal: SIGTERM must reach the event loop's
	 * signalfd (a graceful stop resigns), not end the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&h->watch_thread, NULL, watch_main, h);
	if (ret == 0 && pthread_create(&h->elect_thread, NULL, elect_main, h)) {
		atomic_store(&h->stop, true);
		pthread_join(h->watch_thread, NULL);
		ret = -EAGAIN;
	}
	if (ret == 0 && pthread_create(&h->conv_thread, NULL, conv_main, h)) {
		atomic_store(&h->stop, true);
		pthread_join(h->elect_thread, NULL);
		pthread_join(h->watch_thread, NULL);
		ret = -EAGAIN;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start the election, the log's watch "
				    "and the convergence putter");
	h->threads = true;
	return 0;
}

void loomd_ha_close(struct loomd *d)
{
	struct loomd_ha *h = d->ha;

	if (!h)
		return;
	atomic_store(&h->stop, true);
	pthread_mutex_lock(&h->lock);
	pthread_cond_broadcast(&h->conv_cond);
	pthread_mutex_unlock(&h->lock);
	if (h->threads) {
		pthread_join(h->elect_thread, NULL);	/* resigns: a put on its way is fenced */
		pthread_join(h->watch_thread, NULL);
		pthread_join(h->conv_thread, NULL);
	}
	snap_job_free(h);
	ha_free(&d->ha);
}

json_t *loomd_ha_info(const struct loomd *d)
{
	struct loomd_ha *h = d->ha;
	const char *stale = loomd_ha_stale(d);
	char since[64] = "";
	json_t *o;

	if (!h)
		return json_pack("{s:b}", "ha", false);
	pthread_mutex_lock(&h->lock);
	if (h->leader_since_ns) {
		time_t t = (time_t)(h->leader_since_ns / 1000000000);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "ha", true, "name", h->name,
		      "role", loomd_ha_leader(d) ? "leader" : "follower",
		      "leader", h->leader_name[0] ? h->leader_name : "none", "leader_since", since,
		      "log_seq", (json_int_t)h->seq, "conflicts", (json_int_t)h->conflicts,
		      "snapshot_seq", (json_int_t)h->snap_seq);
	pthread_mutex_unlock(&h->lock);
	if (o && stale)
		json_object_set_new(o, "stale", json_string(stale));
	return o;
}

/* ---- import and export ---- */

struct import_ctx {
	struct loomd_ha *h;
	int64_t seq;
	uint64_t entries;
};

static int import_chunk(struct store *s, void *arg, struct loom_err *err)
{
	struct import_ctx *c = arg;
	struct etcd_cmp cmp = { .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .number = 0 };
	struct etcd_op op = { .type = ETCD_OP_PUT };
	char key[256], seqtext[24], hdr[128];
	void *cs = NULL;
	char *value;
	size_t len = 0, hlen;
	bool ok = false;
	int ret;

	snprintf(seqtext, sizeof(seqtext), "%" PRId64, c->seq + 1);
	if (store_kv_put(s, "ha.seq", seqtext) || store_session_take(s, &cs, &len))
		return loom_err_set(err, LOOM_E_STORE, "", "import: %s", store_errmsg(s));
	if (len > HA_ENTRY_MAX) {
		free(cs);
		return loom_err_set(err, LOOM_E_TOO_LARGE, "", "import: a chunk takes %zu bytes, more than one "
				    "log entry holds (%d)", len, HA_ENTRY_MAX);
	}
	hlen = (size_t)snprintf(hdr, sizeof(hdr), HA_HEADER "import %d %" PRId64 "\n", (int)getpid(), c->seq + 1);
	value = malloc(hlen + len);
	if (!value) {
		free(cs);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	}
	memcpy(value, hdr, hlen);
	memcpy(value + hlen, cs, len);
	free(cs);
	log_key(c->h, c->seq + 1, key, sizeof(key));
	cmp.key = op.key = key;
	op.value = value;
	op.len = hlen + len;
	ret = etcd_txn(c->h->kv, &cmp, 1, &op, 1, NULL, 0, &ok, NULL, err);
	free(value);
	if (ret)
		return ret;
	if (!ok)
		return loom_err_set(err, LOOM_E_CONFLICT, "cluster.etcd", "import: log entry %" PRId64 " was "
				    "written by someone else meanwhile: the cluster is not empty", c->seq + 1);
	/* The next chunk starts a session after this one's ha.seq. */
	c->seq++;
	c->entries++;
	return 0;
}

/* ha/meta while an import runs (@importing) and after it. */
static int import_mark(struct loomd_ha *h, bool importing, struct loom_err *err)
{
	struct etcd_cmp cmp[2] = {
		{ .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .number = 0 },
		{ .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .number = 0 },
	};
	struct etcd_op op = { .type = ETCD_OP_PUT };
	char key[256], first[256], manifest[256], value[256];
	bool ok = false;

	snprintf(key, sizeof(key), "%smeta", h->pfx);
	log_key(h, 1, first, sizeof(first));
	snap_manifest_key(h, manifest, sizeof(manifest));
	snprintf(value, sizeof(value), "{\"schema\":%d,\"by\":\"import\",\"time\":%" PRId64 "%s}",
		 store_schema_version_latest(), realtime_ns(), importing ? ",\"importing\":true" : "");
	/* Nothing to import over: no first entry, and no snapshot (a trimmed log has no entry 1). */
	cmp[0].key = first;
	cmp[1].key = manifest;
	op.key = key;
	op.value = value;
	op.len = strlen(value);
	if (etcd_txn(h->kv, cmp, importing ? 2 : 0, &op, 1, NULL, 0, &ok, NULL, err))
		return -EIO;
	if (!ok)
		return loom_err_set(err, LOOM_E_CONFLICT, "cluster.etcd", "the cluster at %s%s already holds state "
				    "(%s or %s exists): import only into an empty one", h->endpoints, h->pfx, first,
				    manifest);
	return 0;
}

int loomd_ha_import(const struct loom_config *cfg, const char *path, struct loom_err *err)
{
	struct loomd_ha *h = NULL;
	struct store *s = NULL;
	struct import_ctx c = { 0 };
	char tmp[] = "/tmp/loom-import-XXXXXX", db[64];
	int ret;

	ret = ha_new(cfg, &h, err);
	if (!ret && access(path, R_OK))
		ret = loom_err_set(err, LOOM_E_CONFIG, "", "cannot read %s: %s", path, strerror(errno));
	if (!ret)
		ret = import_mark(h, true, err);
	if (!ret && !mkdtemp(tmp))
		ret = loom_err_set(err, LOOM_E_INTERNAL, "", "mkdtemp: %s", strerror(errno));
	if (ret) {
		ha_free(&h);
		return ret;
	}
	snprintf(db, sizeof(db), "%s/loom.db", tmp);
	c.h = h;
	ret = store_open(db, &s, err);
	if (!ret)
		ret = store_copy_from(s, path, "ha.", 1000, import_chunk, &c, err);
	store_close(&s);
	unlink(db);
	snprintf(db, sizeof(db), "%s/loom.db-wal", tmp);
	unlink(db);
	snprintf(db, sizeof(db), "%s/loom.db-shm", tmp);
	unlink(db);
	rmdir(tmp);
	if (!ret)
		ret = import_mark(h, false, err);
	if (!ret) {
		printf("imported %s into %s%s: %" PRIu64 " log entries\n", path, cfg->cluster_etcd, h->pfx, c.entries);
	} else {
		/* Nothing half-imported stays: the entries written go again. */
		struct loom_err e2 = { 0 };

		if (etcd_delete(h->kv, h->pfx, true, NULL, NULL, &e2))
			fprintf(stderr, "loomd: import: cannot remove what was imported (%s): remove %s by hand\n",
				e2.msg, h->pfx);
	}
	ha_free(&h);
	return ret;
}

int loomd_ha_export(const struct loom_config *cfg, const char *path, struct loom_err *err)
{
	struct loomd_ha *h = NULL;
	struct store *s = NULL;
	int64_t seq = 0;
	int ret;

	if (access(path, F_OK) == 0)
		return loom_err_set(err, LOOM_E_EXISTS, "", "%s exists: export writes a new file", path);
	ret = ha_new(cfg, &h, err);
	if (!ret)
		ret = store_open(path, &s, err);
	if (!ret)
		ret = log_catch_up(h, s, &seq, NULL, NULL, NULL, NULL, err);
	/* A single-machine file: no log position. */
	if (!ret && store_kv_delete(s, "ha.seq"))
		ret = loom_err_set(err, LOOM_E_STORE, "", "export: %s", store_errmsg(s));
	store_close(&s);
	if (!ret)
		printf("exported %s%s (%" PRId64 " log entries) into %s\n", cfg->cluster_etcd, h->pfx, seq, path);
	else
		unlink(path);
	ha_free(&h);
	return ret;
}
