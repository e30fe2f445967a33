/*
 * tests/unit/test_partitions.c: loom's section of OpenSM's partitions
 * file: validation, rendering (golden files, line splitting), parsing,
 * splicing around the operator's lines, and the atomic write.
 * Golden files: tests/golden/fabric/; LOOM_UPDATE_GOLDEN=1 rewrites them.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fabric/partitions.h"

static struct pkey_member members_small[] = {
	{ .guid = 0x0000000000100001ULL, .membership = MEMBERSHIP_FULL },
	{ .guid = 0x0000000000100003ULL, .membership = MEMBERSHIP_LIMITED },
};

static struct sm_partition parts_small[] = {
	{ .pkey = 0x0002, .name = "acme.train", .ipoib = true, .mtu = 4096, .rate_gbps = 100,
	  .members = members_small, .n_members = 2 },
	{ .pkey = 0x0010, .name = "acme storage/fast", .sl = 3,
	  .members = members_small + 1, .n_members = 1 },
	{ .pkey = 0x0011, .name = "empty" },
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		fclose(f);
		return NULL;
	}
	s[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return s;
}

static void check_golden(const char *name, const char *text, size_t len)
{
	char path[512];
	char *want;
	size_t wlen = 0;

	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
	if (getenv("LOOM_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fwrite(text, 1, len, f);
		fclose(f);
	}
	want = slurp(path, &wlen);
	assert_non_null(want);
	if (wlen != len || memcmp(want, text, len)) {
		fprintf(stderr, "golden %s differs; got:\n%s\n", name, text);
		fail();
	}
	free(want);
}

static int validate_one(struct sm_partition *p, size_t n, struct loom_err *err)
{
	struct sm_desired d = { .sm = "sm1", .partitions = p, .n_partitions = n };

	loom_err_clear(err);
	return partitions_validate(&d, err);
}

static void test_validate(void **state)
{
	struct pkey_member dup[2] = {
		{ .guid = 7, .membership = MEMBERSHIP_FULL },
		{ .guid = 7, .membership = MEMBERSHIP_LIMITED },
	};
	struct sm_partition p[2];
	struct loom_err err;

	(void)state;
	memset(p, 0, sizeof(p));
	p[0].pkey = 0x0002;
	p[1].pkey = 0x0003;
	assert_int_equal(validate_one(p, 2, &err), 0);

	p[0].pkey = 0x0000;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_RANGE);
	assert_string_equal(err.field, "partitions[0].pkey");
	assert_non_null(strstr(err.msg, "0x0000"));

	p[0].pkey = 0x7fff;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Default"));

	p[0].pkey = 0xffff;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_RANGE);
	assert_non_null(strstr(err.msg, "15-bit"));

	p[0].pkey = 0x0003;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_CONFLICT);
	assert_string_equal(err.field, "partitions[1].pkey");

	p[0].pkey = 0x0002;
	p[1].mtu = 1500;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_string_equal(err.field, "partitions[1].mtu");
	p[1].mtu = 2048;
	p[1].rate_gbps = 33;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_string_equal(err.field, "partitions[1].rate_gbps");
	p[1].rate_gbps = 200;
	p[1].sl = 16;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_string_equal(err.field, "partitions[1].sl");
	p[1].sl = 15;
	p[1].members = dup;
	p[1].n_members = 2;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_CONFLICT);
	assert_string_equal(err.field, "partitions[1].members[1].guid");
	dup[1].guid = 0;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_PARAMS);
	dup[1].guid = 8;
	dup[1].membership = MEMBERSHIP_DEFAULT;
	assert_int_equal(validate_one(p, 2, &err), -EINVAL);
	assert_string_equal(err.field, "partitions[1].members[1].membership");
	dup[1].membership = MEMBERSHIP_LIMITED;
	assert_int_equal(validate_one(p, 2, &err), 0);
}

static void test_codes_and_names(void **state)
{
	struct sm_partition p = { .pkey = 0x0abc };
	char name[PARTITIONS_NAME_MAX + 1];

	(void)state;
	assert_int_equal(partitions_mtu_code(2048), 4);
	assert_int_equal(partitions_mtu_code(4096), 5);
	assert_int_equal(partitions_mtu_code(0), 0);
	assert_int_equal(partitions_rate_code(10), 3);
	assert_int_equal(partitions_rate_code(100), 16);
	assert_int_equal(partitions_rate_code(400), 21);
	assert_true(partitions_rate_code(7) < 0);

	snprintf(p.name, sizeof(p.name), "tenant a:seg#1,x=y;z");
	partitions_name(&p, name);
	assert_string_equal(name, "tenant_a_seg_1_x_y_z");
	snprintf(p.name, sizeof(p.name), "9lives");
	partitions_name(&p, name);
	assert_string_equal(name, "loom_0abc");
	snprintf(p.name, sizeof(p.name), "a-very-long-tenant-name.and-a-long-segment");
	partitions_name(&p, name);
	assert_int_equal(strlen(name), PARTITIONS_NAME_MAX);
	assert_string_equal(name, "a-very-long-tenant-name.an_0abc");
}

static void test_render_small_golden(void **state)
{
	struct sm_desired d = { .sm = "sm1", .partitions = parts_small, .n_partitions = 3 };
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(partitions_render(&d, 0, &out, &len), 0);
	assert_int_equal(strlen(out), len);
	check_golden("small.conf", out, len);
	free(out);
}

/* 200 members: more than one 4,000-byte line. */
static void test_render_split_golden(void **state)
{
	struct pkey_member *m = calloc(200, sizeof(*m));
	struct sm_partition p = { .pkey = 0x0042, .name = "big", .ipoib = true,
				  .members = m, .n_members = 200 };
	struct sm_desired d = { .sm = "sm1", .partitions = &p, .n_partitions = 1 };
	struct partitions_file *f = NULL;
	char *out = NULL, *line, *save = NULL;
	size_t len = 0, lines = 0;

	(void)state;
	for (size_t i = 0; i < 200; i++) {
		m[i].guid = 0x0002c90300000000ULL + i + 1;
		m[i].membership = i % 3 ? MEMBERSHIP_FULL : MEMBERSHIP_LIMITED;
	}
	assert_int_equal(partitions_render(&d, 0, &out, &len), 0);
	check_golden("split.conf", out, len);
	/* Parsed back the way OpenSM reads it: every member, right membership. */
	assert_int_equal(partitions_parse(out, len, &f, NULL), 0);
	assert_true(f->has_section);
	assert_true(f->section_intact);
	assert_int_equal(f->n_loom, 1);
	assert_int_equal(f->loom[0].pkey, 0x0042);
	assert_int_equal(f->loom[0].n_members, 200);
	for (size_t i = 0; i < 200; i++) {
		assert_int_equal(f->loom[0].members[i].guid, m[i].guid);
		assert_int_equal(f->loom[0].members[i].membership, m[i].membership);
	}
	partitions_file_free(&f);
	assert_null(f);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		assert_true(strlen(line) + 1 <= PARTITIONS_LINE_MAX);
		lines++;
	}
	assert_true(lines >= 5);	/* markers, header, and at least two member lines */
	free(out);

	/* A narrow limit: every line within it, same content. */
	assert_int_equal(partitions_render(&d, 80, &out, &len), 0);
	assert_int_equal(partitions_parse(out, len, &f, NULL), 0);
	assert_int_equal(f->loom[0].n_members, 200);
	partitions_file_free(&f);
	save = NULL;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "# ", 2))
			assert_true(strlen(line) + 1 <= 80);
	free(out);
	/* Too narrow for one member: refused, not cut. */
	assert_int_equal(partitions_render(&d, 20, &out, &len), -E2BIG);
	free(m);
}

static const char operator_file[] =
	"# site partitions\n"
	"Default=0x7fff, ipoib : ALL=full;\n"
	"storage=0x0100, ipoib : 0x0000000000100005=full,\n"
	"\t0x0000000000100007=limited;  # trailing comment\n"
	"mgmt=0x0101 : ALL_SWITCHES=full;";	/* no newline at the end */

static void test_splice_keeps_operator_bytes(void **state)
{
	struct sm_desired d = { .sm = "sm1", .partitions = parts_small, .n_partitions = 3 };
	struct partitions_file *f = NULL, *g = NULL;
	char *section = NULL, *text = NULL, *text2 = NULL, *section2 = NULL;
	size_t slen, tlen, tlen2, s2len;

	(void)state;
	assert_int_equal(partitions_parse(operator_file, strlen(operator_file), &f, NULL), 0);
	assert_false(f->has_section);
	assert_int_equal(f->n_foreign, 3);
	assert_int_equal(f->foreign[0].pkey, 0x7fff);
	assert_true(f->foreign[0].all);
	assert_int_equal(f->foreign[1].pkey, 0x0100);
	assert_string_equal(f->foreign[1].name, "storage");
	assert_int_equal(f->foreign[1].n_members, 2);
	assert_int_equal(f->foreign[1].members[1].membership, MEMBERSHIP_LIMITED);
	assert_int_equal(partitions_render(&d, 0, &section, &slen), 0);
	assert_int_equal(partitions_splice(f, section, slen, &text, &tlen), 0);
	/* The operator's bytes come first, unchanged; a newline is added before ours. */
	assert_memory_equal(text, operator_file, strlen(operator_file));
	assert_int_equal(text[strlen(operator_file)], '\n');
	check_golden("spliced.conf", text, tlen);

	/* Re-splicing a smaller section keeps everything outside byte for byte. */
	assert_int_equal(partitions_parse(text, tlen, &g, NULL), 0);
	assert_true(g->has_section);
	assert_true(g->section_intact);
	assert_int_equal(g->n_loom, 3);
	assert_int_equal(g->n_foreign, 3);
	d.n_partitions = 1;
	assert_int_equal(partitions_render(&d, 0, &section2, &s2len), 0);
	assert_int_equal(partitions_splice(g, section2, s2len, &text2, &tlen2), 0);
	assert_memory_equal(text2, text, g->sec_begin);
	assert_memory_equal(text2 + g->sec_begin, section2, s2len);
	assert_int_equal(tlen2 - g->sec_begin - s2len, tlen - g->sec_end);
	assert_memory_equal(text2 + g->sec_begin + s2len, text + g->sec_end, tlen - g->sec_end);
	partitions_file_free(&f);
	partitions_file_free(&g);
	free(section);
	free(section2);
	free(text);
	free(text2);
}

/*
 * What the operator's lines use, as loomd reads it for the pool: named and
 * unnamed partitions, before and after loom's section, the membership bit
 * of a P_Key masked off, comments and a partition without a P_Key skipped.
 */
static void test_operator_pkeys(void **state)
{
	static const char text[] =
		"Default=0x7fff, ipoib : ALL=full;\n"
		"storage=0x0101 : 0x0002c90300000001=full;\n"
		"0x0102 : 0x0002c90300000002=limited;\n"
		"# old=0x0103 : ALL=full;\n"
		"nokey : ALL=full;\n"
		PARTITIONS_BEGIN "\n"
		"acme_a=0x0100 : 0x0002c90300000003=full;\n"
		PARTITIONS_END " fnv1a=0000000000000000\n"
		"late=0x8104 : 0x0002c90300000004=limited;\n";
	struct partitions_file *f = NULL;
	uint16_t want[] = { 0x7fff, 0x0101, 0x0102, 0x0104 };

	(void)state;
	assert_int_equal(partitions_parse(text, strlen(text), &f, NULL), 0);
	assert_true(f->has_section);
	assert_int_equal(f->n_loom, 1);
	assert_int_equal(f->loom[0].pkey, 0x0100);
	assert_int_equal(f->n_foreign, 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(f->foreign[i].pkey, want[i]);
	assert_string_equal(f->foreign[1].name, "storage");
	assert_string_equal(f->foreign[2].name, "");
	assert_string_equal(f->foreign[3].name, "late");
	partitions_file_free(&f);
}

/* The one wording of a full P_Key table: every entry counted, the port named. */
static void test_capacity_wording(void **state)
{
	struct loom_err err = { 0 };

	(void)state;
	assert_int_equal(partitions_capacity_err(&err, "port", 0x0002c90300000001ULL, "n1", "mlx5_0/1",
						 64, 1, 64), -EINVAL);
	assert_int_equal(err.code, LOOM_E_EXHAUSTED);
	assert_string_equal(err.field, "port");
	assert_string_equal(err.msg,
			    "port 0x0002c90300000001 (n1 mlx5_0/1) would need 65 P_Key entries (64 for "
			    "loom's partitions, 1 for others such as Default), but its P_Key table holds "
			    "64 entries (NodeInfo.PartitionCap); detach it from another InfiniBand "
			    "segment first");
	loom_err_clear(&err);
	partitions_capacity_err(&err, "x", 0x10, NULL, NULL, 2, 0, 1);
	assert_non_null(strstr(err.msg, "port 0x0000000000000010 would need 2"));
}

static void test_hand_edit_and_broken_markers(void **state)
{
	struct sm_desired d = { .sm = "sm1", .partitions = parts_small, .n_partitions = 2 };
	struct partitions_file *f = NULL;
	struct loom_err err = { 0 };
	char *section = NULL, *edited, *p;
	size_t slen;

	(void)state;
	assert_int_equal(partitions_render(&d, 0, &section, &slen), 0);
	edited = strdup(section);
	p = strstr(edited, "=limited");
	memcpy(p, "=full;  ", 8);		/* an operator "fixes" a membership */
	assert_int_equal(partitions_parse(edited, slen, &f, NULL), 0);
	assert_true(f->has_section);
	assert_false(f->section_intact);
	partitions_file_free(&f);

	/* The END marker removed: loom refuses to guess where its section ends. */
	p = strstr(edited, PARTITIONS_END);
	*p = '\0';
	assert_int_equal(partitions_parse(edited, strlen(edited), &f, &err), -EBADMSG);
	assert_int_equal(err.code, LOOM_E_CONFIG);
	assert_null(f);
	/* Two sections: also refused. */
	{
		char twice[8192];

		snprintf(twice, sizeof(twice), "%s%s", section, section);
		loom_err_clear(&err);
		assert_int_equal(partitions_parse(twice, strlen(twice), &f, &err), -EBADMSG);
	}
	free(edited);
	free(section);
}

static void test_atomic_write(void **state)
{
	char dir[] = "/tmp/lib-test-partitions-XXXXXX";
	char path[256];
	struct loom_err err = { 0 };
	struct partitions_file *f = NULL;
	struct stat st;
	DIR *dh;
	struct dirent *de;
	int entries = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/partitions.conf", dir);
	assert_int_equal(partitions_file_write(path, operator_file, strlen(operator_file), &err), 0);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(partitions_file_write(path, "x\n", 2, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);	/* the operator's mode kept */
	assert_int_equal(st.st_size, 2);
	dh = opendir(dir);
	while ((de = readdir(dh)))
		if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
			entries++;
	closedir(dh);
	assert_int_equal(entries, 1);			/* no temporary file left */
	/* A missing file reads as empty. */
	unlink(path);
	assert_int_equal(partitions_file_read(path, &f, &err), 0);
	assert_false(f->has_section);
	assert_int_equal(f->len, 0);
	partitions_file_free(&f);
	/* A folder that does not exist: a clear error, nothing written. */
	snprintf(path, sizeof(path), "%s/nope/partitions.conf", dir);
	assert_true(partitions_file_write(path, "x\n", 2, &err) < 0);
	assert_int_equal(err.code, LOOM_E_UNAVAILABLE);
	assert_string_equal(err.field, "partitions_file");
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_codes_and_names),
		cmocka_unit_test(test_render_small_golden),
		cmocka_unit_test(test_render_split_golden),
		cmocka_unit_test(test_splice_keeps_operator_bytes),
		cmocka_unit_test(test_operator_pkeys),
		cmocka_unit_test(test_capacity_wording),
		cmocka_unit_test(test_hand_edit_and_broken_markers),
		cmocka_unit_test(test_atomic_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
