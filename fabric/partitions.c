/*
 * fabric/partitions.c: rendering loom's section of OpenSM's partitions
 * file, finding it again (and the operator's partitions around it), and
 * replacing the file atomically.
 *
 * The grammar loom writes is the subset of OpenSM's (osm_prtn_config.c)
 * that every OpenSM 3.3 reads the same way:
 *
 *   name=0xPKEY[, ipoib][, mtu=CODE][, rate=CODE][, sl=N] :
 *   	GUID=full|limited, GUID=full|limited,
 *   	GUID=full|limited;
 *
 * A partition runs until ';', so a long member list continues on the next
 * line after a trailing ',' (OpenSM skips the empty token after it).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fabric/partitions.h"
#include "lib/array.h"

static const struct {
	unsigned int bytes;
	int code;
} mtu_codes[] = {
	{ 256, 1 }, { 512, 2 }, { 1024, 3 }, { 2048, 4 }, { 4096, 5 },
};

/* IBTA rate codes (PortInfo/PathRecord "Rate"), the values OpenSM's rate= takes. */
static const struct {
	unsigned int gbps;
	int code;
} rate_codes[] = {
	{ 5, 5 }, { 10, 3 }, { 14, 11 }, { 20, 6 }, { 25, 15 }, { 28, 19 },
	{ 30, 4 }, { 40, 7 }, { 50, 20 }, { 56, 12 }, { 60, 8 }, { 80, 9 },
	{ 100, 16 }, { 112, 13 }, { 120, 10 }, { 168, 14 }, { 200, 17 },
	{ 300, 18 }, { 400, 21 }, { 600, 22 },
};

int partitions_mtu_code(unsigned int mtu_bytes)
{
	if (mtu_bytes == 0)
		return 0;
	for (size_t i = 0; i < sizeof(mtu_codes) / sizeof(mtu_codes[0]); i++)
		if (mtu_codes[i].bytes == mtu_bytes)
			return mtu_codes[i].code;
	return -EINVAL;
}

int partitions_rate_code(unsigned int rate_gbps)
{
	if (rate_gbps == 0)
		return 0;
	for (size_t i = 0; i < sizeof(rate_codes) / sizeof(rate_codes[0]); i++)
		if (rate_codes[i].gbps == rate_gbps)
			return rate_codes[i].code;
	return -EINVAL;
}

uint64_t partitions_checksum(const char *body, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)body[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void partitions_name(const struct sm_partition *p, char out[PARTITIONS_NAME_MAX + 1])
{
	char buf[LOOM_NAME_MAX];
	size_t n = 0;

	for (const char *s = p->name; *s && n < sizeof(buf) - 1; s++) {
		unsigned char c = (unsigned char)*s;

		buf[n++] = (isalnum(c) || c == '_' || c == '.' || c == '-') ? (char)c : '_';
	}
	buf[n] = '\0';
	/* A name OpenSM could read as a number, or none: make one from the P_Key. */
	if (n == 0 || isdigit((unsigned char)buf[0])) {
		snprintf(out, PARTITIONS_NAME_MAX + 1, "loom_%04x", p->pkey);
		return;
	}
	if (n <= PARTITIONS_NAME_MAX) {
		memcpy(out, buf, n + 1);
		return;
	}
	/* OpenSM would cut it silently; keep it unique through the P_Key. */
	snprintf(out, PARTITIONS_NAME_MAX + 1, "%.26s_%04x", buf, p->pkey);
}

int partitions_capacity_err(struct loom_err *err, const char *field, uint64_t guid,
			    const char *node, const char *port, unsigned int loom,
			    unsigned int others, unsigned int cap)
{
	char label[2 * LOOM_NAME_MAX + 32];

	if (node && node[0])
		snprintf(label, sizeof(label), "0x%016" PRIx64 " (%s %s)", guid, node,
			 port ? port : "");
	else
		snprintf(label, sizeof(label), "0x%016" PRIx64, guid);
	return loom_err_set(err, LOOM_E_EXHAUSTED, field,
		     "port %s would need %u P_Key entries (%u for loom's partitions, %u for "
		     "others such as Default), but its P_Key table holds %u entries "
		     "(NodeInfo.PartitionCap); detach it from another InfiniBand segment first",
		     label, loom + others, loom, others, cap);
}

int partitions_port_fits(struct loom_err *err, const char *field, uint64_t guid, const char *node,
			 const char *port, unsigned int loom, unsigned int others, unsigned int cap)
{
	if (cap == 0 || loom + others <= cap)
		return 0;
	return partitions_capacity_err(err, field, guid, node, port, loom, others, cap);
}

int partitions_validate(const struct sm_desired *d, struct loom_err *err)
{
	char field[96];

	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];

		snprintf(field, sizeof(field), "partitions[%zu].pkey", i);
		if (p->pkey == 0x0000)
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "P_Key 0x0000 is the invalid P_Key; use 0x0001..0x7ffe");
		if (p->pkey == 0x7fff)
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "P_Key 0x7fff is the Default partition, which the operator owns; use 0x0001..0x7ffe");
		if (p->pkey > 0x7fff)
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "P_Key 0x%04x is not a 15-bit P_Key (the top bit is the membership, set per member); use 0x0001..0x7ffe",
					    p->pkey);
		for (size_t j = 0; j < i; j++)
			if (d->partitions[j].pkey == p->pkey)
				return loom_err_set(err, LOOM_E_CONFLICT, field,
						    "P_Key 0x%04x is used by partitions[%zu] (%s) and partitions[%zu] (%s); each partition needs its own P_Key",
						    p->pkey, j, d->partitions[j].name, i, p->name);
		if (partitions_mtu_code(p->mtu) < 0) {
			snprintf(field, sizeof(field), "partitions[%zu].mtu", i);
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "MTU %u is not an InfiniBand MTU; use 256, 512, 1024, 2048 or 4096",
					    p->mtu);
		}
		if (partitions_rate_code(p->rate_gbps) < 0) {
			snprintf(field, sizeof(field), "partitions[%zu].rate_gbps", i);
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "rate %u Gb/s has no InfiniBand rate code; use e.g. 10, 40, 56, 100, 200 or 400",
					    p->rate_gbps);
		}
		if (p->sl > 15) {
			snprintf(field, sizeof(field), "partitions[%zu].sl", i);
			return loom_err_set(err, LOOM_E_RANGE, field,
					    "service level %u is out of range; use 0..15", p->sl);
		}
		for (size_t m = 0; m < p->n_members; m++) {
			const struct pkey_member *pm = &p->members[m];

			snprintf(field, sizeof(field), "partitions[%zu].members[%zu].guid", i, m);
			if (pm->guid == 0)
				return loom_err_set(err, LOOM_E_PARAMS, field,
						    "port GUID 0 is not a port; give the HCA port's GUID");
			if (pm->membership != MEMBERSHIP_FULL && pm->membership != MEMBERSHIP_LIMITED) {
				snprintf(field, sizeof(field), "partitions[%zu].members[%zu].membership", i, m);
				return loom_err_set(err, LOOM_E_PARAMS, field,
						    "membership must be full or limited");
			}
			for (size_t k = 0; k < m; k++)
				if (p->members[k].guid == pm->guid)
					return loom_err_set(err, LOOM_E_CONFLICT, field,
							    "port GUID 0x%016" PRIx64 " is listed twice in partition 0x%04x; list each port once",
							    pm->guid, p->pkey);
		}
	}
	return 0;
}

/* A growing buffer; every append checks for space. */
struct strbuf {
	char *s;
	size_t len, cap;
};

static int sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (ARRAY_GROW(b->s, b->cap, b->len + n + 1))
		return -ENOMEM;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

static int sb_addz(struct strbuf *b, const char *s)
{
	return sb_add(b, s, strlen(s));
}

static int cmp_part_ptr(const void *a, const void *b)
{
	const struct sm_partition *x = *(const struct sm_partition *const *)a;
	const struct sm_partition *y = *(const struct sm_partition *const *)b;

	return (int)x->pkey - (int)y->pkey;
}

static int render_partition(struct strbuf *b, const struct sm_partition *p, size_t line_max)
{
	char name[PARTITIONS_NAME_MAX + 1];
	char line[256];
	char tok[48];
	size_t cur;
	int n;

	partitions_name(p, name);
	n = snprintf(line, sizeof(line), "%s=0x%04x", name, p->pkey);
	if (p->ipoib)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", ipoib");
	if (p->mtu)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", mtu=%d",
			      partitions_mtu_code(p->mtu));
	if (p->rate_gbps)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", rate=%d",
			      partitions_rate_code(p->rate_gbps));
	if (p->sl)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", sl=%u", p->sl);
	n += snprintf(line + n, sizeof(line) - (size_t)n, " :");
	if ((size_t)n + 3 > line_max)
		return -E2BIG;
	if (p->n_members == 0) {
		/* An empty member list: the partition exists, nobody is in it. */
		if (sb_addz(b, line) < 0 || sb_addz(b, " ;\n") < 0)
			return -ENOMEM;
		return 0;
	}
	if (sb_addz(b, line) < 0 || sb_addz(b, "\n\t") < 0)
		return -ENOMEM;
	cur = 1;	/* the tab */
	for (size_t m = 0; m < p->n_members; m++) {
		const struct pkey_member *pm = &p->members[m];
		size_t tlen;

		tlen = (size_t)snprintf(tok, sizeof(tok), "0x%016" PRIx64 "=%s", pm->guid,
					pm->membership == MEMBERSHIP_FULL ? "full" : "limited");
		if (m > 0) {
			/* ", " + token + ',' or ';' + '\n' must fit; else break the line. */
			if (cur + 2 + tlen + 2 > line_max) {
				if (sb_addz(b, ",\n\t") < 0)
					return -ENOMEM;
				cur = 1;
			} else {
				if (sb_addz(b, ", ") < 0)
					return -ENOMEM;
				cur += 2;
			}
		}
		if (cur + tlen + 2 > line_max)
			return -E2BIG;
		if (sb_add(b, tok, tlen) < 0)
			return -ENOMEM;
		cur += tlen;
	}
	return sb_addz(b, ";\n");
}

int partitions_render(const struct sm_desired *d, size_t line_max, char **out, size_t *len)
{
	const struct sm_partition **order = NULL;
	struct strbuf b = { 0 };
	char end[128];
	size_t body;
	int rc = -ENOMEM;

	if (line_max == 0)
		line_max = PARTITIONS_LINE_MAX;
	if (d->n_partitions) {
		order = calloc(d->n_partitions, sizeof(*order));
		if (!order)
			goto out;
		for (size_t i = 0; i < d->n_partitions; i++)
			order[i] = &d->partitions[i];
		/* compile sorts already; sorting again keeps the file stable for any caller. */
		qsort(order, d->n_partitions, sizeof(*order), cmp_part_ptr);
	}
	if (sb_addz(&b, PARTITIONS_BEGIN "\n") < 0)
		goto out;
	body = b.len;
	for (size_t i = 0; i < d->n_partitions; i++) {
		rc = render_partition(&b, order[i], line_max);
		if (rc < 0)
			goto out;
	}
	snprintf(end, sizeof(end), "%s fnv64=%016" PRIx64 "\n", PARTITIONS_END,
		 partitions_checksum(b.s + body, b.len - body));
	rc = sb_addz(&b, end);
	if (rc < 0)
		goto out;
	*out = b.s;
	*len = b.len;
	b.s = NULL;
	rc = 0;
out:
	free(order);
	free(b.s);
	return rc;
}

static void found_free(struct partitions_found **arr, size_t n)
{
	if (!*arr)
		return;
	for (size_t i = 0; i < n; i++)
		free((*arr)[i].members);
	free(*arr);
	*arr = NULL;
}

void partitions_file_free(struct partitions_file **f)
{
	if (!f || !*f)
		return;
	found_free(&(*f)->loom, (*f)->n_loom);
	found_free(&(*f)->foreign, (*f)->n_foreign);
	free((*f)->text);
	free(*f);
	*f = NULL;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int member_add(struct partitions_found *p, uint64_t guid, enum membership m)
{
	struct pkey_member *n;

	n = realloc(p->members, (p->n_members + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	p->members = n;
	memset(&n[p->n_members], 0, sizeof(*n));
	n[p->n_members].guid = guid;
	n[p->n_members].membership = m;
	p->n_members++;
	return 0;
}

/* One statement "header : members" (without the ';'). */
static int parse_statement(char *st, struct partitions_found **arr, size_t *n)
{
	struct partitions_found *p, *grown;
	char *colon, *hdr, *first, *eq, *members, *tok, *save = NULL;
	unsigned long pkey;
	char *end;

	colon = strchr(st, ':');
	if (!colon)
		return 0;	/* OpenSM rejects it; nothing of ours to learn */
	*colon = '\0';
	hdr = st;
	members = colon + 1;
	first = strtok_r(hdr, ",", &save);
	if (!first)
		return 0;
	first = trim(first);
	eq = strchr(first, '=');
	if (eq) {
		*eq = '\0';
		pkey = strtoul(trim(eq + 1), &end, 0);
	} else if (isdigit((unsigned char)*first)) {
		pkey = strtoul(first, &end, 0);
		first = (char *)"";
	} else {
		return 0;	/* no P_Key: OpenSM would pick one; nothing to collide with */
	}
	grown = realloc(*arr, (*n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	*arr = grown;
	p = &grown[*n];
	memset(p, 0, sizeof(*p));
	p->pkey = (uint16_t)(pkey & 0x7fff);
	snprintf(p->name, sizeof(p->name), "%s", trim(first));
	(*n)++;
	save = NULL;
	for (tok = strtok_r(members, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *flag = NULL;
		uint64_t guid;

		tok = trim(tok);
		if (!*tok)
			continue;
		eq = strchr(tok, '=');
		if (eq) {
			*eq = '\0';
			flag = trim(eq + 1);
			tok = trim(tok);
		}
		if (!strncmp(tok, "ALL", 3)) {
			p->all = true;
			continue;
		}
		guid = strtoull(tok, &end, 0);
		if (!guid || *end)
			continue;
		if (member_add(p, guid, flag && (!strcmp(flag, "full") || !strcmp(flag, "both"))
				  ? MEMBERSHIP_FULL : MEMBERSHIP_LIMITED) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Parse a region of the file the way OpenSM does: '#' to end of line is a comment. */
static int parse_region(const char *s, size_t len, struct partitions_found **arr, size_t *n)
{
	char *buf, *w, *st, *save = NULL;
	bool comment = false;
	int rc = 0;

	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	w = buf;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n') {
			comment = false;
			*w++ = ' ';
		} else if (s[i] == '#') {
			comment = true;
		} else if (!comment) {
			*w++ = s[i];
		}
	}
	*w = '\0';
	for (st = strtok_r(buf, ";", &save); st; st = strtok_r(NULL, ";", &save)) {
		rc = parse_statement(st, arr, n);
		if (rc < 0)
			break;
	}
	free(buf);
	return rc;
}

/* The start of the line that begins with @marker, or -1. */
static long find_marker(const char *text, size_t len, size_t from, const char *marker)
{
	size_t mlen = strlen(marker);

	for (size_t i = from; i < len; ) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t eol = nl ? (size_t)(nl - text) : len;

		if (eol - i >= mlen && !memcmp(text + i, marker, mlen))
			return (long)i;
		i = eol + 1;
	}
	return -1;
}

int partitions_parse(const char *text, size_t len, struct partitions_file **out,
		     struct loom_err *err)
{
	struct partitions_file *f;
	long b, e, e2;
	int rc = -ENOMEM;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->text = malloc(len + 1);
	if (!f->text)
		goto fail;
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	f->len = len;

	b = find_marker(text, len, 0, PARTITIONS_BEGIN);
	e = find_marker(text, len, 0, PARTITIONS_END);
	if (b < 0 && e < 0) {
		rc = parse_region(text, len, &f->foreign, &f->n_foreign);
		if (rc < 0)
			goto fail;
		*out = f;
		return 0;
	}
	if (b < 0 || e < 0 || e < b ||
	    find_marker(text, len, (size_t)b + 1, PARTITIONS_BEGIN) >= 0 ||
	    ((e2 = find_marker(text, len, (size_t)e + 1, PARTITIONS_END)) >= 0 && e2 > e)) {
		loom_err_set(err, LOOM_E_CONFIG, "partitions_file",
			     "the partitions file has a broken loom section (one marker missing, repeated or out of order); remove both marker lines and what is between them, and loom writes its section again");
		rc = -EBADMSG;
		goto fail;
	}
	{
		const char *bnl = memchr(text + b, '\n', len - (size_t)b);
		const char *enl = memchr(text + e, '\n', len - (size_t)e);
		size_t body = bnl ? (size_t)(bnl - text) + 1 : len;
		const char *sum;
		char endline[128];
		size_t elen;

		f->has_section = true;
		f->sec_begin = (size_t)b;
		f->sec_end = enl ? (size_t)(enl - text) + 1 : len;
		elen = f->sec_end - (size_t)e;
		snprintf(endline, sizeof(endline), "%.*s", (int)(elen < sizeof(endline) ? elen : sizeof(endline) - 1), text + e);
		sum = strstr(endline, "fnv64=");
		if (sum && body <= (size_t)e) {
			uint64_t want = strtoull(sum + 6, NULL, 16);

			f->section_intact = want == partitions_checksum(text + body, (size_t)e - body);
		}
		rc = parse_region(text + body, body <= (size_t)e ? (size_t)e - body : 0,
				  &f->loom, &f->n_loom);
		if (rc < 0)
			goto fail;
		rc = parse_region(text, (size_t)b, &f->foreign, &f->n_foreign);
		if (rc < 0)
			goto fail;
		rc = parse_region(text + f->sec_end, len - f->sec_end, &f->foreign, &f->n_foreign);
		if (rc < 0)
			goto fail;
	}
	*out = f;
	return 0;
fail:
	partitions_file_free(&f);
	return rc;
}

int partitions_file_read(const char *path, struct partitions_file **out,
			 struct loom_err *err)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp;
	int rc;

	fp = fopen(path, "re");
	if (!fp) {
		if (errno == ENOENT)
			return partitions_parse("", 0, out, err);
		rc = -errno;
		loom_err_set(err, LOOM_E_UNAVAILABLE, "partitions_file",
			     "cannot read the partitions file %s: %s", path, strerror(errno));
		return rc;
	}
	{
		struct stat st;
		size_t got;

		if (fstat(fileno(fp), &st) < 0) {
			rc = -errno;
			goto out;
		}
		text = malloc((size_t)st.st_size + 1);
		if (!text) {
			rc = -ENOMEM;
			goto out;
		}
		got = fread(text, 1, (size_t)st.st_size, fp);
		if (ferror(fp)) {
			rc = -EIO;
			loom_err_set(err, LOOM_E_UNAVAILABLE, "partitions_file",
				     "cannot read the partitions file %s", path);
			goto out;
		}
		len = got;
	}
	rc = partitions_parse(text, len, out, err);
out:
	free(text);
	fclose(fp);
	return rc;
}

int partitions_splice(const struct partitions_file *f, const char *section,
		      size_t section_len, char **out, size_t *out_len)
{
	size_t head, tail_off, tail, sep, total;
	char *s;

	if (f->has_section) {
		head = f->sec_begin;
		tail_off = f->sec_end;
	} else {
		head = f->len;
		tail_off = f->len;
	}
	tail = f->len - tail_off;
	/* Appending to a file whose last line has no newline: add one first. */
	sep = (!f->has_section && head > 0 && f->text[head - 1] != '\n') ? 1 : 0;
	total = head + sep + section_len + tail;
	s = malloc(total + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, f->text, head);
	if (sep)
		s[head] = '\n';
	memcpy(s + head + sep, section, section_len);
	memcpy(s + head + sep + section_len, f->text + tail_off, tail);
	s[total] = '\0';
	*out = s;
	*out_len = total;
	return 0;
}

int partitions_file_write(const char *path, const char *text, size_t len,
			  struct loom_err *err)
{
	char dir[LOOM_PATH_MAX], base[LOOM_PATH_MAX], tmp[LOOM_PATH_MAX * 2];
	const char *dname;
	mode_t mode = 0644;
	struct stat st;
	int fd = -1, dfd = -1, rc = 0;
	size_t off = 0;

	if (strlen(path) >= sizeof(dir))
		return loom_err_set(err, LOOM_E_CONFIG, "partitions_file",
				    "the partitions file path is too long");
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(base, sizeof(base), "%s", path);
	dname = dirname(dir);
	snprintf(tmp, sizeof(tmp), "%s/.%s.loomXXXXXX", dname, basename(base));
	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = -errno;
		loom_err_set(err, LOOM_E_UNAVAILABLE, "partitions_file",
			     "cannot create a temporary file next to %s: %s", path, strerror(errno));
		return rc;
	}
	if (fchmod(fd, mode) < 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	/* The rename is durable only once the folder is. */
	dfd = open(dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			rc = -errno;
		close(dfd);
	}
	if (rc < 0)
		loom_err_set(err, LOOM_E_UNAVAILABLE, "partitions_file",
			     "wrote %s but could not sync its folder: %s", path, strerror(-rc));
	return rc;
fail:
	rc = -errno;
	loom_err_set(err, LOOM_E_UNAVAILABLE, "partitions_file",
		     "cannot write the partitions file %s: %s; it was left as it was",
		     path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}
