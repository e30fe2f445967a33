/*
 * cluster/etcd.c: etcd v3 through its JSON gateway.  See etcd.h for what
 * it offers and which of etcd's traps it steps around.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "cluster/etcd.h"
#include "lib/array.h"
#include "lib/log.h"
#include "lib/monotime.h"

#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 2000
#define CONNECT_MAX_MS 1000

/* ---- small helpers ---- */

char *etcd_b64_encode(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);

	if (out)
		EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

char *etcd_b64_decode(const char *text, size_t *len)
{
	size_t tl = strlen(text);
	unsigned char *out;
	int n;

	if (tl % 4)
		return NULL;
	out = malloc(tl / 4 * 3 + 1);
	if (!out)
		return NULL;
	n = tl ? EVP_DecodeBlock(out, (const unsigned char *)text, (int)tl) : 0;
	if (n < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (tl >= 1 && text[tl - 1] == '=')
		n--;
	if (tl >= 2 && text[tl - 2] == '=')
		n--;
	out[n] = '\0';
	*len = (size_t)n;
	return (char *)out;
}

/* A 64-bit field: etcd writes them as strings and leaves out zeros. */
static int64_t jnum(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return json_integer_value(v);
	return 0;
}

static uint64_t jnum_u(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return strtoull(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	return 0;
}

static json_t *jstr_num(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static json_t *jb64(const void *data, size_t len)
{
	char *s = etcd_b64_encode(data, len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

static void header_parse(const json_t *h, struct etcd_header *out)
{
	out->cluster_id = jnum_u(h, "cluster_id");
	out->member_id = jnum_u(h, "member_id");
	out->revision = jnum(h, "revision");
	out->raft_term = jnum_u(h, "raft_term");
}

void etcd_kv_clear(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void etcd_kvs_free(struct etcd_kv **pkvs, size_t n)
{
	if (!*pkvs)
		return;
	for (size_t i = 0; i < n; i++)
		etcd_kv_clear(&(*pkvs)[i]);
	free(*pkvs);
	*pkvs = NULL;
}

static int kv_parse(const json_t *j, struct etcd_kv *kv)
{
	const char *k = json_string_value(json_object_get(j, "key"));
	const char *v = json_string_value(json_object_get(j, "value"));
	size_t klen;

	memset(kv, 0, sizeof(*kv));
	if (!k)
		return -EPROTO;
	kv->key = etcd_b64_decode(k, &klen);
	kv->value = etcd_b64_decode(v ? v : "", &kv->value_len);
	if (!kv->key || !kv->value || strlen(kv->key) != klen) {
		etcd_kv_clear(kv);
		return -EPROTO;
	}
	kv->create_revision = jnum(j, "create_revision");
	kv->mod_revision = jnum(j, "mod_revision");
	kv->version = jnum(j, "version");
	kv->lease = jnum(j, "lease");
	return 0;
}

/* The first key after every key that starts with @prefix. */
static char *prefix_end(const char *prefix, size_t *len)
{
	size_t n = strlen(prefix);
	char *end = malloc(n + 1);

	if (!end)
		return NULL;
	memcpy(end, prefix, n + 1);
	while (n > 0 && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (n == 0) {
		/* Every key: etcd spells "no end" as a single NUL byte. */
		end[0] = '\0';
		*len = 1;
		return end;
	}
	end[n - 1]++;
	end[n] = '\0';
	*len = n;
	return end;
}

static int split_endpoints(const char *list, char ***out, size_t *n, struct loom_err *err)
{
	char *copy = strdup(list), *save = NULL, *tok;
	char **eps = NULL;
	size_t cap = 0;

	*n = 0;
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (strncmp(tok, "http://", 7) != 0 || !tok[7]) {
			loom_err_set(err, LOOM_E_CONFIG, "cluster.etcd",
				     "etcd endpoint '%s' is not http://HOST:PORT", tok);
			goto fail;
		}
		if (ARRAY_GROW(eps, cap, *n + 1))
			goto fail;
		/* No trailing slash: paths are appended as "/v3/...". */
		eps[*n] = strndup(tok, strlen(tok) - (tok[strlen(tok) - 1] == '/'));
		if (!eps[*n])
			goto fail;
		(*n)++;
	}
	free(copy);
	if (*n == 0) {
		free(eps);
		return loom_err_set(err, LOOM_E_CONFIG, "cluster.etcd", "no etcd endpoint given");
	}
	*out = eps;
	return 0;
fail:
	for (size_t i = 0; i < *n; i++)
		free(eps[i]);
	free(eps);
	free(copy);
	*n = 0;
	return -EINVAL;
}

/* A pause of about @ms, between half and one and a half of it. */
static int jitter(int ms)
{
	return ms / 2 + (int)((unsigned)rand() % (unsigned)(ms + 1));
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the unary client ---- */

struct etcd {
	char **ep;
	size_t n_ep, cur;
	int timeout_ms;
	CURL *curl;
	struct curl_slist *headers;
	uint64_t cluster_id;
	uint64_t requests;
	uint64_t timeouts;		/* calls that ran out of their budget */
	uint64_t attempt_timeouts;	/* attempts cut by curl's timeout */
	char *body;
	size_t body_len, body_cap;
};

static size_t body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct etcd *e = arg;
	size_t n = size * nmemb;

	if (ARRAY_GROW(e->body, e->body_cap, e->body_len + n + 1))
		return 0;
	memcpy(e->body + e->body_len, data, n);
	e->body_len += n;
	e->body[e->body_len] = '\0';
	return n;
}

static void curl_init_once(void)
{
	static int done;

	if (!done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		done = 1;
	}
}

int etcd_open(const char *endpoints, int timeout_ms, struct etcd **out, struct loom_err *err)
{
	struct etcd *e = calloc(1, sizeof(*e));
	int rc;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	rc = split_endpoints(endpoints, &e->ep, &e->n_ep, err);
	if (rc) {
		free(e);
		return rc;
	}
	curl_init_once();
	e->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	e->curl = curl_easy_init();
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (!e->curl || !e->headers) {
		etcd_close(&e);
		return -ENOMEM;
	}
	/* Start on a random member, so that many clients spread their load. */
	e->cur = (size_t)rand() % e->n_ep;
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_TCP_NODELAY, 1L);
	*out = e;
	return 0;
}

void etcd_close(struct etcd **pe)
{
	struct etcd *e = *pe;

	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	for (size_t i = 0; i < e->n_ep; i++)
		free(e->ep[i]);
	free(e->ep);
	free(e->body);
	free(e);
	*pe = NULL;
}

uint64_t etcd_cluster_id(const struct etcd *e)
{
	return e->cluster_id;
}

uint64_t etcd_requests(const struct etcd *e)
{
	return e->requests;
}

uint64_t etcd_timeouts(const struct etcd *e, uint64_t *attempts)
{
	if (attempts)
		*attempts = e->attempt_timeouts;
	return e->timeouts;
}

/* etcd's error codes (gRPC's) as loom's. */
static int error_code(int grpc)
{
	switch (grpc) {
	case 3: return LOOM_E_PARAMS;		/* InvalidArgument */
	case 5: return LOOM_E_NOT_FOUND;	/* NotFound (a lease) */
	case 9: return LOOM_E_STATE;		/* FailedPrecondition */
	case 11: return LOOM_E_RANGE;		/* OutOfRange: compacted */
	default: return LOOM_E_UNAVAILABLE;
	}
}

/*
 * POSTs @req (taken) to @path and returns the answer in *@resp.  Members
 * that do not answer or answer 503 (no leader, request timed out) are left
 * for the next one, until the client's timeout.  An answer from another
 * cluster than the one seen first is refused.
 */
static int call(struct etcd *e, const char *path, json_t *req, json_t **resp, struct loom_err *err)
{
	char *body = json_dumps(req, JSON_COMPACT);
	int64_t deadline = mono_ms() + e->timeout_ms;
	char last[256] = "no answer";
	int backoff = BACKOFF_FIRST_MS;
	int rc = -ETIMEDOUT;

	json_decref(req);
	*resp = NULL;
	if (!body)
		return -ENOMEM;
	for (;;) {
		int64_t left = deadline - mono_ms();
		char url[512];
		long status = 0;
		json_t *j;
		CURLcode cc;

		if (left <= 0)
			break;
		snprintf(url, sizeof(url), "%s%s", e->ep[e->cur], path);
		e->body_len = 0;
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		/* One member that stopped answering must not eat the whole budget. */
		if (e->n_ep > 1 && left > e->timeout_ms / 2 && e->timeout_ms / 2 >= CONNECT_MAX_MS)
			curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)(e->timeout_ms / 2));
		else
			curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)left);
		curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < CONNECT_MAX_MS ? left : CONNECT_MAX_MS));
		cc = curl_easy_perform(e->curl);
		if (cc == CURLE_OK)
			curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
		j = cc == CURLE_OK && e->body ? json_loadb(e->body, e->body_len, 0, NULL) : NULL;
		if (cc != CURLE_OK) {
			if (cc == CURLE_OPERATION_TIMEDOUT)
				e->attempt_timeouts++;
			snprintf(last, sizeof(last), "%s: %s", e->ep[e->cur], curl_easy_strerror(cc));
		} else if (!json_is_object(j)) {
			snprintf(last, sizeof(last), "%s answered HTTP %ld without JSON", e->ep[e->cur], status);
		} else if (status == 200) {
			uint64_t cid = jnum_u(json_object_get(j, "header"), "cluster_id");

			if (cid && e->cluster_id && cid != e->cluster_id) {
				rc = loom_err_set(err, LOOM_E_UNAVAILABLE, "cluster.etcd",
						  "etcd at %s belongs to cluster %" PRIx64 ", not %" PRIx64
						  " (the one this client first reached)", e->ep[e->cur], cid,
						  e->cluster_id);
				json_decref(j);
				rc = -EXDEV;
				goto out;
			}
			if (cid)
				e->cluster_id = cid;
			e->requests++;
			*resp = j;
			rc = 0;
			goto out;
		} else {
			const char *msg = json_string_value(json_object_get(j, "message"));
			int code = (int)json_integer_value(json_object_get(j, "code"));

			snprintf(last, sizeof(last), "%s: %s", e->ep[e->cur], msg ? msg : "error");
			/* 14 Unavailable (no leader, timed out): another member may do. */
			if (code != 14 && status != 503) {
				loom_err_set(err, error_code(code), "", "etcd refused %s: %s", path, msg ? msg : "?");
				json_decref(j);
				rc = code == 5 ? -ENOENT : -EIO;
				goto out;
			}
		}
		json_decref(j);
		e->cur = (e->cur + 1) % e->n_ep;
		left = deadline - mono_ms();
		if (left <= 0)
			break;
		sleep_ms((int)(jitter(backoff) < left ? jitter(backoff) : left));
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	loom_err_set(err, LOOM_E_UNAVAILABLE, "cluster.etcd", "etcd did not answer %s within %d ms (last: %s)",
		     path, e->timeout_ms, last);
	e->timeouts++;
	rc = -ETIMEDOUT;
out:
	free(body);
	return rc;
}

static json_t *range_req(const char *key, bool prefix, int64_t revision)
{
	json_t *r = json_pack("{s:o}", "key", jb64(key, strlen(key)));

	if (prefix) {
		size_t elen;
		char *end = prefix_end(key, &elen);

		json_object_set_new(r, "range_end", jb64(end, elen));
		free(end);
	}
	if (revision > 0)
		json_object_set_new(r, "revision", jstr_num(revision));
	return r;
}

static int kvs_parse(const json_t *arr, struct etcd_kv **kvs, size_t *n)
{
	size_t i, cnt = json_array_size(arr);

	*kvs = NULL;
	*n = 0;
	if (!cnt)
		return 0;
	*kvs = calloc(cnt, sizeof(**kvs));
	if (!*kvs)
		return -ENOMEM;
	for (i = 0; i < cnt; i++)
		if (kv_parse(json_array_get(arr, i), &(*kvs)[i])) {
			etcd_kvs_free(kvs, i);
			return -EPROTO;
		}
	*n = cnt;
	return 0;
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kv *kv, bool *found,
	     struct etcd_header *hdr, struct loom_err *err)
{
	struct etcd_kv *kvs = NULL;
	json_t *resp;
	size_t n;
	int rc = call(e, "/v3/kv/range", range_req(key, false, 0), &resp, err);

	*found = false;
	if (rc)
		return rc;
	if (hdr)
		header_parse(json_object_get(resp, "header"), hdr);
	rc = kvs_parse(json_object_get(resp, "kvs"), &kvs, &n);
	json_decref(resp);
	if (rc)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "", "etcd's answer for %s did not parse", key), rc;
	if (n > 0) {
		*kv = kvs[0];
		memset(&kvs[0], 0, sizeof(kvs[0]));
		*found = true;
	}
	etcd_kvs_free(&kvs, n);
	return 0;
}

int etcd_get_prefix(struct etcd *e, const char *prefix, int64_t revision, struct etcd_kv **kvs,
		    size_t *n, struct etcd_header *hdr, struct loom_err *err)
{
	json_t *resp;
	int rc = call(e, "/v3/kv/range", range_req(prefix, true, revision), &resp, err);

	*kvs = NULL;
	*n = 0;
	if (rc)
		return rc;
	if (hdr)
		header_parse(json_object_get(resp, "header"), hdr);
	rc = kvs_parse(json_object_get(resp, "kvs"), kvs, n);
	json_decref(resp);
	if (rc)
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "etcd's answer for %s did not parse", prefix);
	return rc;
}

int etcd_get_from(struct etcd *e, const char *prefix, const char *from, int64_t limit, struct etcd_kv **kvs,
		  size_t *n, struct etcd_header *hdr, struct loom_err *err)
{
	json_t *req = range_req(prefix, true, 0), *resp;
	int rc;

	*kvs = NULL;
	*n = 0;
	if (!req)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	json_object_set_new(req, "key", jb64(from, strlen(from)));
	if (limit > 0)
		json_object_set_new(req, "limit", jstr_num(limit));
	rc = call(e, "/v3/kv/range", req, &resp, err);
	if (rc)
		return rc;
	if (hdr)
		header_parse(json_object_get(resp, "header"), hdr);
	rc = kvs_parse(json_object_get(resp, "kvs"), kvs, n);
	json_decref(resp);
	if (rc)
		loom_err_set(err, LOOM_E_UNAVAILABLE, "", "etcd's answer for %s did not parse", prefix);
	return rc;
}

static json_t *put_req(const char *key, const void *value, size_t len, int64_t lease)
{
	json_t *r = json_pack("{s:o, s:o}", "key", jb64(key, strlen(key)), "value", jb64(value, len));

	if (lease)
		json_object_set_new(r, "lease", jstr_num(lease));
	return r;
}

int etcd_put(struct etcd *e, const char *key, const void *value, size_t len, int64_t lease,
	     struct etcd_header *hdr, struct loom_err *err)
{
	json_t *resp;
	int rc = call(e, "/v3/kv/put", put_req(key, value, len, lease), &resp, err);

	if (rc)
		return rc;
	if (hdr)
		header_parse(json_object_get(resp, "header"), hdr);
	json_decref(resp);
	return 0;
}

int etcd_delete(struct etcd *e, const char *key, bool prefix, int64_t *deleted,
		struct etcd_header *hdr, struct loom_err *err)
{
	json_t *resp;
	int rc = call(e, "/v3/kv/deleterange", range_req(key, prefix, 0), &resp, err);

	if (rc)
		return rc;
	if (hdr)
		header_parse(json_object_get(resp, "header"), hdr);
	if (deleted)
		*deleted = jnum(resp, "deleted");
	json_decref(resp);
	return 0;
}

static json_t *op_json(const struct etcd_op *op)
{
	switch (op->type) {
	case ETCD_OP_PUT:
		return json_pack("{s:o}", "request_put", put_req(op->key, op->value, op->len, op->lease));
	case ETCD_OP_DELETE:
		return json_pack("{s:o}", "request_delete_range", range_req(op->key, false, 0));
	case ETCD_OP_DELETE_PREFIX:
		return json_pack("{s:o}", "request_delete_range", range_req(op->key, true, 0));
	case ETCD_OP_DELETE_RANGE:
		return json_pack("{s:{s:o, s:o}}", "request_delete_range", "key", jb64(op->key, strlen(op->key)),
				 "range_end", jb64(op->range_end, strlen(op->range_end)));
	}
	return NULL;
}

static json_t *cmp_json(const struct etcd_cmp *c)
{
	static const char *const target[] = { "CREATE", "MOD", "VERSION", "VALUE" };
	static const char *const result[] = { "EQUAL", "NOT_EQUAL", "LESS", "GREATER" };
	static const char *const field[] = { "create_revision", "mod_revision", "version" };
	json_t *j = json_pack("{s:o, s:s, s:s}", "key", jb64(c->key, strlen(c->key)), "target",
			      target[c->target], "result", result[c->result]);

	if (c->target == ETCD_CMP_VALUE)
		json_object_set_new(j, "value", jb64(c->value, strlen(c->value)));
	else
		json_object_set_new(j, field[c->target], jstr_num(c->number));
	return j;
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmp, size_t n_cmp, const struct etcd_op *ok,
	     size_t n_ok, const struct etcd_op *fail, size_t n_fail, bool *succeeded,
	     struct etcd_header *hdr, struct loom_err *err)
{
	json_t *req, *c = json_array(), *s = json_array(), *f = json_array(), *resp;
	int rc;

	*succeeded = false;
	if (n_ok > ETCD_MAX_TXN_OPS || n_fail > ETCD_MAX_TXN_OPS || n_cmp > ETCD_MAX_TXN_OPS) {
		json_decref(c);
		json_decref(s);
		json_decref(f);
		return loom_err_set(err, LOOM_E_TOO_LARGE, "", "an etcd transaction holds at most %d operations",
				    ETCD_MAX_TXN_OPS);
	}
	for (size_t i = 0; i < n_cmp; i++)
		json_array_append_new(c, cmp_json(&cmp[i]));
	for (size_t i = 0; i < n_ok; i++)
		json_array_append_new(s, op_json(&ok[i]));
	for (size_t i = 0; i < n_fail; i++)
		json_array_append_new(f, op_json(&fail[i]));
	req = json_pack("{s:o, s:o, s:o}", "compare", c, "success", s, "failure", f);
	rc = call(e, "/v3/kv/txn", req, &resp, err);
	if (rc)
		return rc;
	if (hdr)
		header_parse(json_object_get(resp, "header"), hdr);
	/* A failed compare leaves "succeeded" out altogether. */
	*succeeded = json_is_true(json_object_get(resp, "succeeded"));
	json_decref(resp);
	return 0;
}

int etcd_lease_grant(struct etcd *e, int ttl_s, int64_t *id, struct loom_err *err)
{
	json_t *resp;
	int rc = call(e, "/v3/lease/grant", json_pack("{s:o}", "TTL", jstr_num(ttl_s)), &resp, err);

	if (rc)
		return rc;
	*id = jnum(resp, "ID");
	json_decref(resp);
	if (*id == 0)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "", "etcd granted no lease");
	return 0;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int *ttl_left, struct loom_err *err)
{
	json_t *resp, *res;
	int rc = call(e, "/v3/lease/keepalive", json_pack("{s:o}", "ID", jstr_num(id)), &resp, err);

	if (rc)
		return rc;
	/* A stream of one answer; an expired lease answers without a TTL. */
	res = json_object_get(resp, "result");
	*ttl_left = (int)jnum(res ? res : resp, "TTL");
	json_decref(resp);
	if (*ttl_left <= 0)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "", "etcd lease %" PRIx64 " has expired", (uint64_t)id),
		       -ENOENT;
	return 0;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct loom_err *err)
{
	json_t *resp;
	int rc = call(e, "/v3/lease/revoke", json_pack("{s:o}", "ID", jstr_num(id)), &resp, err);

	json_decref(resp);
	return rc;
}

int etcd_compact(struct etcd *e, int64_t revision, struct loom_err *err)
{
	json_t *resp;
	int rc = call(e, "/v3/kv/compaction",
		      json_pack("{s:o, s:b}", "revision", jstr_num(revision), "physical", 1), &resp, err);

	json_decref(resp);
	return rc;
}

/* ---- the stream parser ---- */

void etcd_stream_clear(struct etcd_stream *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

/*
 * Finds where the object that starts the buffer ends, by counting braces
 * outside strings; the scan resumes where the last call stopped, so a
 * stream fed a byte at a time costs O(n) in all.  Returns the length of the
 * object, 0 while it is incomplete, or -EPROTO.
 */
static ssize_t object_end(struct etcd_stream *s)
{
	for (; s->scan < s->len; s->scan++) {
		char c = s->buf[s->scan];

		if (s->depth == 0) {
			if (strchr(" \t\r\n", c))
				continue;
			if (c != '{')
				return -EPROTO;
		}
		if (s->in_string) {
			if (s->escaped)
				s->escaped = false;
			else if (c == '\\')
				s->escaped = true;
			else if (c == '"')
				s->in_string = false;
		} else if (c == '"') {
			s->in_string = true;
		} else if (c == '{' || c == '[') {
			if (++s->depth > 64)
				return -EPROTO;	/* etcd nests a few levels; this is not etcd */
		} else if (c == '}' || c == ']') {
			if (s->depth == 0)
				return -EPROTO;
			if (--s->depth == 0)
				return (ssize_t)++s->scan;
		}
	}
	return 0;
}

int etcd_stream_feed(struct etcd_stream *s, const char *data, size_t len,
		     void (*fn)(void *arg, void *json_object), void *arg)
{
	if (len) {
		if (ARRAY_GROW(s->buf, s->cap, s->len + len + 1))
			return -ENOMEM;
		memcpy(s->buf + s->len, data, len);
		s->len += len;
	}
	for (;;) {
		ssize_t end = object_end(s);
		json_t *j;

		if (end == 0)
			return 0;
		if (end < 0)
			goto bad;
		j = json_loadb(s->buf, (size_t)end, 0, NULL);
		if (!json_is_object(j)) {
			json_decref(j);
			goto bad;
		}
		memmove(s->buf, s->buf + end, s->len - (size_t)end);
		s->len -= (size_t)end;
		s->scan = 0;
		fn(arg, j);
		json_decref(j);
	}
bad:
	s->len = s->scan = s->depth = 0;
	s->in_string = s->escaped = false;
	return -EPROTO;
}

/* ---- watches ---- */

struct etcd_watch {
	struct etcd_watcher *w;
	char *prefix;
	etcd_watch_fn fn;
	void *arg;
	CURL *curl;		/* NULL while waiting to reconnect or stopped */
	char *req;
	struct etcd_stream stream;
	json_t *queue;		/* objects parsed during curl's callbacks */
	int64_t next_rev;	/* resume from here */
	int64_t retry_at;	/* mono ms; 0 when connected or stopped */
	int backoff;
	size_t ep;
	bool stopped;
	bool ended;		/* the transfer finished (set by the multi loop) */
	char why[256];
};

struct etcd_watcher {
	char **ep;
	size_t n_ep;
	CURLM *multi;
	struct curl_slist *headers;
	uint64_t cluster_id;
	struct etcd_watch **watches;
	size_t n, cap;
	uint64_t retries;	/* streams that broke and were resumed */
};

int etcd_watcher_new(const char *endpoints, struct etcd_watcher **out, struct loom_err *err)
{
	struct etcd_watcher *w = calloc(1, sizeof(*w));
	int rc;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	rc = split_endpoints(endpoints, &w->ep, &w->n_ep, err);
	if (rc) {
		free(w);
		return rc;
	}
	curl_init_once();
	w->multi = curl_multi_init();
	w->headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* Without it a member cut off in a minority keeps the stream open and silent. */
	w->headers = curl_slist_append(w->headers, "Grpc-Metadata-hasleader: true");
	if (!w->multi || !w->headers) {
		etcd_watcher_free(&w);
		return -ENOMEM;
	}
	*out = w;
	return 0;
}

static void watch_disconnect(struct etcd_watch *wa)
{
	if (!wa->curl)
		return;
	curl_multi_remove_handle(wa->w->multi, wa->curl);
	curl_easy_cleanup(wa->curl);
	wa->curl = NULL;
	etcd_stream_clear(&wa->stream);
}

static void watch_free(struct etcd_watch *wa)
{
	watch_disconnect(wa);
	json_decref(wa->queue);
	free(wa->prefix);
	free(wa->req);
	free(wa);
}

void etcd_watcher_free(struct etcd_watcher **pw)
{
	struct etcd_watcher *w = *pw;

	if (!w)
		return;
	for (size_t i = 0; i < w->n; i++)
		watch_free(w->watches[i]);
	free(w->watches);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->headers);
	for (size_t i = 0; i < w->n_ep; i++)
		free(w->ep[i]);
	free(w->ep);
	free(w);
	*pw = NULL;
}

static void stream_queue(void *arg, void *obj)
{
	struct etcd_watch *wa = arg;

	json_array_append((json_t *)wa->queue, obj);
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct etcd_watch *wa = arg;
	size_t n = size * nmemb;

	if (etcd_stream_feed(&wa->stream, data, n, stream_queue, wa)) {
		snprintf(wa->why, sizeof(wa->why), "the watch stream from %s is not JSON", wa->w->ep[wa->ep]);
		return 0;	/* ends the transfer */
	}
	return n;
}

static int watch_connect(struct etcd_watch *wa)
{
	json_t *cr, *body;
	size_t elen;
	char *end = prefix_end(wa->prefix, &elen);
	char url[512];

	cr = json_pack("{s:o, s:o, s:b}", "key", jb64(wa->prefix, strlen(wa->prefix)), "range_end",
		       jb64(end, elen), "progress_notify", 1);
	free(end);
	if (wa->next_rev > 0)
		json_object_set_new(cr, "start_revision", jstr_num(wa->next_rev));
	free(wa->req);
	body = json_pack("{s:o}", "create_request", cr);
	wa->req = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	wa->curl = curl_easy_init();
	if (!wa->req || !wa->curl)
		return -ENOMEM;
	snprintf(url, sizeof(url), "%s/v3/watch", wa->w->ep[wa->ep]);
	curl_easy_setopt(wa->curl, CURLOPT_URL, url);
	curl_easy_setopt(wa->curl, CURLOPT_HTTPHEADER, wa->w->headers);
	curl_easy_setopt(wa->curl, CURLOPT_POSTFIELDS, wa->req);
	curl_easy_setopt(wa->curl, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(wa->curl, CURLOPT_WRITEDATA, wa);
	curl_easy_setopt(wa->curl, CURLOPT_PRIVATE, wa);
	curl_easy_setopt(wa->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(wa->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MAX_MS);
	curl_easy_setopt(wa->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	wa->retry_at = 0;
	wa->ended = false;
	wa->why[0] = '\0';
	return curl_multi_add_handle(wa->w->multi, wa->curl) == CURLM_OK ? 0 : -EIO;
}

/* The stream broke: tell the owner, then try the next member later. */
static void watch_retry(struct etcd_watch *wa, const char *why)
{
	struct etcd_watch_update u = { .status = ETCD_WATCH_RETRYING, .message = why };

	watch_disconnect(wa);
	wa->w->retries++;
	wa->ended = false;
	wa->ep = (wa->ep + 1) % wa->w->n_ep;
	wa->retry_at = mono_ms() + jitter(wa->backoff);
	wa->backoff = wa->backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wa->backoff * 2;
	wa->fn(wa->arg, &u);
}

static void watch_stop(struct etcd_watch *wa)
{
	watch_disconnect(wa);
	wa->stopped = true;
	wa->retry_at = 0;
}

/* One object of the stream; returns false when the stream must end. */
static bool watch_object(struct etcd_watch *wa, json_t *j)
{
	struct etcd_watch_update u = { .status = ETCD_WATCH_EVENTS };
	json_t *res = json_object_get(j, "result"), *err = json_object_get(j, "error"), *evs;
	struct etcd_event *events = NULL;
	size_t n = 0;

	if (err || !res) {
		const char *msg = json_string_value(json_object_get(err, "message"));

		snprintf(wa->why, sizeof(wa->why), "%s: %s", wa->w->ep[wa->ep], msg ? msg : "no result");
		return false;
	}
	header_parse(json_object_get(res, "header"), &u.header);
	if (u.header.cluster_id && wa->w->cluster_id && u.header.cluster_id != wa->w->cluster_id) {
		char why[256];

		snprintf(why, sizeof(why), "etcd at %s belongs to cluster %" PRIx64 ", not %" PRIx64,
			 wa->w->ep[wa->ep], u.header.cluster_id, wa->w->cluster_id);
		watch_stop(wa);
		u = (struct etcd_watch_update){ .status = ETCD_WATCH_FOREIGN, .message = why };
		wa->fn(wa->arg, &u);
		return false;
	}
	if (u.header.cluster_id)
		wa->w->cluster_id = u.header.cluster_id;
	if (json_is_true(json_object_get(res, "canceled"))) {
		u.compact_revision = jnum(res, "compact_revision");
		if (u.compact_revision > 0) {
			watch_stop(wa);
			u.status = ETCD_WATCH_COMPACTED;
			wa->fn(wa->arg, &u);
			return false;
		}
		snprintf(wa->why, sizeof(wa->why), "%s cancelled the watch", wa->w->ep[wa->ep]);
		return false;
	}
	wa->backoff = BACKOFF_FIRST_MS;
	if (json_is_true(json_object_get(res, "created"))) {
		/* "From now" is now this revision: a resume must not skip what follows. */
		if (wa->next_rev == 0 && u.header.revision > 0)
			wa->next_rev = u.header.revision + 1;
		return true;
	}
	evs = json_object_get(res, "events");
	if (json_array_size(evs)) {
		events = calloc(json_array_size(evs), sizeof(*events));
		if (!events)
			return false;
	}
	for (size_t i = 0; i < json_array_size(evs); i++) {
		json_t *ev = json_array_get(evs, i);
		const char *type = json_string_value(json_object_get(ev, "type"));

		if (kv_parse(json_object_get(ev, "kv"), &events[n].kv))
			continue;
		events[n].type = type && strcmp(type, "DELETE") == 0 ? ETCD_EV_DELETE : ETCD_EV_PUT;
		if (events[n].kv.mod_revision >= wa->next_rev)
			wa->next_rev = events[n].kv.mod_revision + 1;
		n++;
	}
	/* A progress notification: nothing changed up to its revision. */
	if (!json_array_size(evs) && u.header.revision >= wa->next_rev)
		wa->next_rev = u.header.revision + 1;
	u.events = events;
	u.n_events = n;
	wa->fn(wa->arg, &u);
	for (size_t i = 0; i < n; i++)
		etcd_kv_clear(&events[i].kv);
	free(events);
	return true;
}

int etcd_watch_add(struct etcd_watcher *w, const char *prefix, int64_t start_revision, etcd_watch_fn fn,
		   void *arg, struct etcd_watch **out, struct loom_err *err)
{
	struct etcd_watch *wa = calloc(1, sizeof(*wa));

	*out = NULL;
	if (!wa || ARRAY_GROW(w->watches, w->cap, w->n + 1)) {
		free(wa);
		return -ENOMEM;
	}
	wa->w = w;
	wa->prefix = strdup(prefix);
	wa->fn = fn;
	wa->arg = arg;
	wa->next_rev = start_revision;
	wa->backoff = BACKOFF_FIRST_MS;
	wa->ep = (size_t)rand() % w->n_ep;
	wa->queue = json_array();
	if (!wa->prefix || !wa->queue || watch_connect(wa)) {
		watch_free(wa);
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start a watch on %s", prefix);
	}
	w->watches[w->n++] = wa;
	*out = wa;
	return 0;
}

void etcd_watch_cancel(struct etcd_watcher *w, struct etcd_watch **pwatch)
{
	struct etcd_watch *wa = *pwatch;

	if (!wa)
		return;
	for (size_t i = 0; i < w->n; i++)
		if (w->watches[i] == wa) {
			w->watches[i] = w->watches[--w->n];
			break;
		}
	watch_free(wa);
	*pwatch = NULL;
}

int etcd_watch_resume(struct etcd_watcher *w, struct etcd_watch *wa, int64_t start_revision)
{
	(void)w;
	watch_disconnect(wa);
	wa->stopped = false;
	wa->next_rev = start_revision;
	return watch_connect(wa);
}

int64_t etcd_watch_revision(const struct etcd_watch *wa)
{
	return wa->next_rev;
}

/* Hands the objects parsed during curl's callbacks to their owners. */
static bool watches_deliver(struct etcd_watcher *w)
{
	bool any = false;

	for (size_t i = 0; i < w->n; i++) {
		struct etcd_watch *wa = w->watches[i];
		json_t *q = wa->queue;
		size_t k;

		if (!json_array_size(q) && !wa->ended && !wa->why[0])
			continue;
		wa->queue = json_array();
		for (k = 0; k < json_array_size(q) && !wa->stopped; k++) {
			any = true;
			if (!watch_object(wa, json_array_get(q, k)))
				break;
		}
		json_decref(q);
		if (!wa->stopped && (wa->ended || wa->why[0] || k < json_array_size(q))) {
			char why[256];

			snprintf(why, sizeof(why), "%s", wa->why[0] ? wa->why : "the watch stream ended");
			wa->why[0] = '\0';
			watch_retry(wa, why);
			any = true;
		}
	}
	return any;
}

uint64_t etcd_watcher_retries(const struct etcd_watcher *w)
{
	return w->retries;
}

int etcd_watcher_run(struct etcd_watcher *w, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		int64_t now = mono_ms(), wait = deadline - now;
		int running = 0, left;
		CURLMsg *msg;

		for (size_t i = 0; i < w->n; i++) {
			struct etcd_watch *wa = w->watches[i];

			if (wa->retry_at && wa->retry_at <= now && !wa->stopped)
				watch_connect(wa);
			else if (wa->retry_at && wa->retry_at - now < wait)
				wait = wa->retry_at - now;
		}
		curl_multi_perform(w->multi, &running);
		while ((msg = curl_multi_info_read(w->multi, &left))) {
			struct etcd_watch *wa = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&wa);
			if (!wa)
				continue;
			wa->ended = true;
			if (!wa->why[0] && msg->data.result != CURLE_OK)
				snprintf(wa->why, sizeof(wa->why), "%s: %s", w->ep[wa->ep],
					 curl_easy_strerror(msg->data.result));
		}
		if (watches_deliver(w))
			return 0;
		if (wait <= 0)
			return 0;
		curl_multi_poll(w->multi, NULL, 0, (int)(wait < 1000 ? wait : 1000), NULL);
	}
}
