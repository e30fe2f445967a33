/*
 * store/audit.c: the audit log, hash-chained, in the same file and so in
 * the same transaction as the change each record describes.  A record's
 * hash covers its fields and the previous record's hash; the newest
 * record's seq and hash are kept apart, in kv, so removing the newest
 * records shows too.  docs/store.md gives the record encoding.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "lib/log.h"
#include "lib/monotime.h"
#include "store/store-private.h"

#define AUDIT_HEAD_KEY "audit.head"
#define AUDIT_TAG "loom-audit-v1"
#define AUDIT_TAG_V2 "loom-audit-v2"	/* with the principal */
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

const struct store_sql store_sql_audit[] = {
	{ ST_AUDIT_LAST, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1" },
	{ ST_AUDIT_INSERT,
		"INSERT INTO audit (seq, time_ns, uid, gid, pid, method, params, result, prev_hash, hash, principal)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)" },
	{ ST_AUDIT_LIST,
		"SELECT seq, time_ns, uid, gid, pid, method, params, result, hash, prev_hash, principal"
		" FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2" },
	{ ST__COUNT, NULL },
};

/*
 * The record's encoding is gathered in a buffer and handed to the digest
 * in few pieces: a digest update per field cost more than the hash itself.
 */
struct hash_buf {
	EVP_MD_CTX *md;
	size_t n;
	unsigned char b[1024];
};

static void hash_put(struct hash_buf *h, const void *v, size_t len)
{
	if (len > sizeof(h->b) - h->n) {
		EVP_DigestUpdate(h->md, h->b, h->n);
		h->n = 0;
		if (len > sizeof(h->b)) {
			EVP_DigestUpdate(h->md, v, len);
			return;
		}
	}
	memcpy(h->b + h->n, v, len);
	h->n += len;
}

static void hash_field(struct hash_buf *h, const char *v, size_t len)
{
	unsigned char prefix[8];

	for (int i = 0; i < 8; i++)
		prefix[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	hash_put(h, prefix, sizeof(prefix));
	hash_put(h, v, len);
}

/* The decimal text of @v, as printf's PRId64 writes it. */
static void hash_int(struct hash_buf *h, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	hash_field(h, p, (size_t)(buf + sizeof(buf) - p));
}

/*
 * The record encoding of docs/store.md, "Audit record hash": v1 without a
 * principal (records older than the column), v2 with it after the pid.
 */
static int audit_hash(struct store *s, int64_t seq, int64_t time_ns, int64_t uid, int64_t gid,
		      int64_t pid, const char *principal, const char *method, const char *params,
		      const char *result, const char *prev_hash, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[EVP_MAX_MD_SIZE];
	struct hash_buf h = { .md = s->md };
	unsigned int n = 0;

	if (EVP_DigestInit_ex(s->md, s->sha256, NULL) != 1)
		return -EIO;
	if (principal)
		hash_field(&h, AUDIT_TAG_V2, strlen(AUDIT_TAG_V2));
	else
		hash_field(&h, AUDIT_TAG, strlen(AUDIT_TAG));
	hash_int(&h, seq);
	hash_int(&h, time_ns);
	hash_int(&h, uid);
	hash_int(&h, gid);
	hash_int(&h, pid);
	if (principal)
		hash_field(&h, principal, strlen(principal));
	hash_field(&h, method, strlen(method));
	hash_field(&h, params, strlen(params));
	hash_field(&h, result, strlen(result));
	hash_field(&h, prev_hash, strlen(prev_hash));
	if (EVP_DigestUpdate(s->md, h.b, h.n) != 1 || EVP_DigestFinal_ex(s->md, digest, &n) != 1 || n != 32)
		return -EIO;
	for (unsigned int i = 0; i < n; i++) {
		out[2 * i] = hex[digest[i] >> 4];
		out[2 * i + 1] = hex[digest[i] & 0xf];
	}
	out[64] = '\0';
	return 0;
}

/* Parse and re-encode: what is hashed and stored is always canonical JSON. */
static char *canonical_text(const char *txt)
{
	json_t *v;
	char *out;

	if (!txt)
		return strdup("null");
	v = json_loads(txt, JSON_DECODE_ANY, NULL);
	if (!v)
		return NULL;
	out = json_canonical(v);
	json_decref(v);
	return out;
}

/* Appends @e with its params and result already canonical text. */
static int audit_append(struct store *s, struct audit_entry *e, const char *params, const char *result)
{
	sqlite3_stmt *st = s->stmt[ST_AUDIT_LAST];
	char prev[65] = ZERO_HASH, head[96];
	const char *principal;
	int64_t seq = 1;
	int rc, ret;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0) + 1;
		snprintf(prev, sizeof(prev), "%s", (const char *)sqlite3_column_text(st, 1));
	} else if (rc != SQLITE_DONE) {
		ret = store_fail(s, rc, "audit append", false);
		stmt_done(st);
		return ret;
	}
	stmt_done(st);
	if (!e->time_ns)
		e->time_ns = realtime_ns();
	principal = e->principal && e->principal[0] ? e->principal : NULL;
	ret = audit_hash(s, seq, e->time_ns, (int64_t)e->uid, (int64_t)e->gid, (int64_t)e->pid,
			 principal, e->method, params, result, prev, e->hash);
	if (ret < 0) {
		store_seterr(s, "audit append: SHA-256 failed");
		return ret;
	}
	st = s->stmt[ST_AUDIT_INSERT];
	sqlite3_bind_int64(st, 1, seq);
	sqlite3_bind_int64(st, 2, e->time_ns);
	sqlite3_bind_int64(st, 3, (int64_t)e->uid);
	sqlite3_bind_int64(st, 4, (int64_t)e->gid);
	sqlite3_bind_int64(st, 5, (int64_t)e->pid);
	bind_text(st, 6, e->method);
	bind_text(st, 7, params);
	bind_text(st, 8, result);
	bind_text(st, 9, prev);
	bind_text(st, 10, e->hash);
	if (principal)
		bind_text(st, 11, principal);
	else
		sqlite3_bind_null(st, 11);
	ret = store_stmt_run(s, st, "audit append", false);
	if (ret < 0)
		return ret;
	/* The head outside the table: removing the newest rows shows. */
	snprintf(head, sizeof(head), "%" PRId64 ":%s", seq, e->hash);
	ret = store_kv_write(s, AUDIT_HEAD_KEY, head);
	if (ret < 0)
		return ret;
	e->seq = seq;
	return 0;
}

static int append_check(struct store *s, const struct audit_entry *e)
{
	if (sqlite3_get_autocommit(s->db)) {
		/* The record belongs in the same transaction as its change. */
		store_seterr(s, "audit append: no transaction is open");
		return -EINVAL;
	}
	if (!e->method || !e->method[0]) {
		store_seterr(s, "audit append: the method is empty");
		return -EINVAL;
	}
	return 0;
}

int store_audit_append(struct store *s, struct audit_entry *e)
{
	char *params = NULL, *result = NULL;
	int ret = append_check(s, e);

	if (ret < 0)
		return ret;
	params = canonical_text(e->params);
	result = canonical_text(e->result);
	if (!params || !result) {
		store_seterr(s, "audit append: %s is not JSON", !params ? "params" : "result");
		ret = -EINVAL;
	} else {
		ret = audit_append(s, e, params, result);
	}
	free(params);
	free(result);
	return ret;
}

int store_audit_append_json(struct store *s, struct audit_entry *e, const json_t *params, const json_t *result)
{
	char *p = NULL, *r = NULL;
	int ret = append_check(s, e);

	if (ret < 0)
		return ret;
	/* Encoded canonical once, not dumped, parsed and dumped again. */
	p = params ? json_canonical(params) : strdup("{}");
	r = json_canonical(result ? result : json_null());
	if (!p || !r) {
		store_seterr(s, "audit append: out of memory");
		ret = -ENOMEM;
	} else {
		ret = audit_append(s, e, p, r);
	}
	free(p);
	free(r);
	return ret;
}

int store_audit_head(struct store *s, int64_t *seq, char hash[65])
{
	char *head = NULL, *colon;
	int ret;

	*seq = 0;
	memcpy(hash, ZERO_HASH, 65);
	ret = store_kv_get(s, AUDIT_HEAD_KEY, &head);
	if (ret < 0 || !head)
		return ret;
	colon = strchr(head, ':');
	if (!colon || strlen(colon + 1) != 64) {
		store_seterr(s, "audit head: malformed value '%s'", head);
		free(head);
		return -EBADMSG;
	}
	*seq = strtoll(head, NULL, 10);
	memcpy(hash, colon + 1, 65);
	free(head);
	return 0;
}

static json_t *json_parse_or_string(const char *txt)
{
	json_t *v = txt ? json_loads(txt, JSON_DECODE_ANY, NULL) : NULL;

	/* Stored text was canonical JSON; if someone changed it, show it as is. */
	return v ? v : json_string(txt ? txt : "");
}

/* The audit row @st stands on, as JSON. */
static json_t *audit_json(sqlite3_stmt *st)
{
	char when[48];

	store_rfc3339_ns(sqlite3_column_int64(st, 1), when, sizeof(when));
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:o, s:s, s:o, s:o, s:s, s:s}",
			 "seq", (json_int_t)sqlite3_column_int64(st, 0),
			 "time", when,
			 "uid", (json_int_t)sqlite3_column_int64(st, 2),
			 "gid", (json_int_t)sqlite3_column_int64(st, 3),
			 "pid", (json_int_t)sqlite3_column_int64(st, 4),
			 "principal", sqlite3_column_type(st, 10) == SQLITE_NULL ? json_null()
				 : json_string((const char *)sqlite3_column_text(st, 10)),
			 "method", (const char *)sqlite3_column_text(st, 5),
			 "params", json_parse_or_string((const char *)sqlite3_column_text(st, 6)),
			 "result", json_parse_or_string((const char *)sqlite3_column_text(st, 7)),
			 "hash", (const char *)sqlite3_column_text(st, 8),
			 "prev_hash", (const char *)sqlite3_column_text(st, 9));
}

int store_audit_list(struct store *s, int64_t after, int64_t limit, json_t **out)
{
	sqlite3_stmt *st = s->stmt[ST_AUDIT_LIST];

	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit > 0 ? limit : -1);
	return store_json_rows_collect(s, st, audit_json, "audit list", out);
}

/*
 * Walk the chain oldest first.  For each record: its seq must be the next
 * one (else a record was removed), its own hash must match its fields
 * (else it was altered), and its prev_hash must be the previous record's
 * hash (else the previous one was rewritten with a fresh hash, or removed
 * and the rest renumbered).  Then the head in kv must be the last record
 * (else the newest were removed, or rows were added behind loom's back).
 */
int store_audit_verify(struct store *s, int64_t *n_checked, int64_t *first_bad, char *why, size_t whylen)
{
	static const char sql[] =
		"SELECT seq, time_ns, uid, gid, pid, method, params, result, prev_hash, hash, principal"
		" FROM audit ORDER BY seq";
	sqlite3_stmt *st = NULL;
	bool own_txn = sqlite3_get_autocommit(s->db);
	char prev[65] = ZERO_HASH, calc[65];
	char *head = NULL;
	int64_t expect = 1, head_seq = 0;
	const char *head_hash = "";
	int rc, ret = 0;

	*n_checked = 0;
	*first_bad = 0;
	if (whylen)
		why[0] = '\0';
	if (own_txn && sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto fail_sql;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto fail_sql;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		const char *prev_hash = col_str(st, 8), *hash = col_str(st, 9);

		if (seq != expect) {
			*first_bad = expect;
			snprintf(why, whylen, "record %" PRId64 " is missing: the record after %" PRId64
				 " is %" PRId64, expect, expect - 1, seq);
			goto bad;
		}
		if (audit_hash(s, seq, sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2),
			       sqlite3_column_int64(st, 3), sqlite3_column_int64(st, 4),
			       sqlite3_column_type(st, 10) == SQLITE_NULL ? NULL : col_str(st, 10),
			       col_str(st, 5), col_str(st, 6), col_str(st, 7), prev_hash, calc) < 0) {
			ret = -EIO;
			store_seterr(s, "audit verify: SHA-256 failed");
			goto out;
		}
		if (strcmp(calc, hash) != 0) {
			*first_bad = seq;
			snprintf(why, whylen, "record %" PRId64 " was altered: its fields hash to %.16s..., "
				 "the stored hash is %.16s...", seq, calc, hash);
			goto bad;
		}
		if (strcmp(prev_hash, prev) != 0) {
			*first_bad = seq - 1;
			snprintf(why, whylen, "record %" PRId64 "'s prev_hash does not match the hash of "
				 "record %" PRId64 ": record %" PRId64 " was rewritten (or removed and "
				 "the rest renumbered)", seq, seq - 1, seq - 1);
			goto bad;
		}
		memcpy(prev, hash, sizeof(prev));
		expect++;
		(*n_checked)++;
	}
	if (rc != SQLITE_DONE)
		goto fail_sql;
	ret = store_kv_get(s, AUDIT_HEAD_KEY, &head);
	if (ret < 0)
		goto out;
	if (head) {
		char *colon = strchr(head, ':');

		head_seq = strtoll(head, NULL, 10);
		head_hash = colon ? colon + 1 : "";
	}
	if (head_seq > expect - 1) {
		*first_bad = expect;
		snprintf(why, whylen, "the log ends at record %" PRId64 " but its head says %" PRId64
			 ": records %" PRId64 "..%" PRId64 " were removed", expect - 1, head_seq,
			 expect, head_seq);
		goto bad;
	}
	if (head_seq < expect - 1) {
		*first_bad = head_seq + 1;
		snprintf(why, whylen, "the head says the log ends at record %" PRId64 " but it goes on "
			 "to %" PRId64 ": records were added outside loom, or the head was reset",
			 head_seq, expect - 1);
		goto bad;
	}
	if (head_seq > 0 && strcmp(head_hash, prev) != 0) {
		*first_bad = head_seq;
		snprintf(why, whylen, "the newest record %" PRId64 " does not match the head's hash: "
			 "it was rewritten", head_seq);
		goto bad;
	}
	goto out;
bad:
	log_warn("store: audit log does not verify: %s", why);
	ret = -EBADMSG;
	goto out;
fail_sql:
	store_seterr(s, "audit verify: %s", sqlite3_errmsg(s->db));
	ret = -EIO;
out:
	free(head);
	sqlite3_finalize(st);
	if (own_txn && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return ret;
}
