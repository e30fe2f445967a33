/*
 * tests/unit/test_frr.c: the pure half of the FRR target against golden
 * files in tests/golden/frr/.  The running-config and JSON inputs were
 * captured from FRR 8.4 in the lab (lab/loom-lab), not written by hand.
 * LOOM_GOLDEN_UPDATE=1 rewrites the expected files (review the diff!).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "overlay/frr.h"

static char *slurp(const char *name)
{
	char path[512];
	FILE *f;
	long len;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void golden_check(const char *name, const char *got)
{
	char *want = slurp(name);

	if (getenv("LOOM_GOLDEN_UPDATE")) {
		char path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
		free(want);
		return;
	}
	if (!want)
		fail_msg("golden file %s missing; got:\n%s", name, got);
	if (strcmp(want, got))
		fail_msg("%s differs.\n--- want\n%s--- got\n%s", name, want, got);
	free(want);
}

/* A growing text buffer for the dumps. */
struct text {
	char *buf;
	size_t len;
};

static void text_add(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	t->buf = realloc(t->buf, t->len + (size_t)n + 1);
	assert_non_null(t->buf);
	memcpy(t->buf + t->len, s, (size_t)n + 1);
	t->len += (size_t)n;
	free(s);
}

static char *state_dump(const struct frr_state *st)
{
	struct text t = { 0 };

	text_add(&t, "asn %" PRIu32 " evpn_af %d advertise_all_vni %d vnis %zu\n",
		 st->asn, st->evpn_af, st->advertise_all_vni, st->n_vnis);
	for (size_t i = 0; i < st->n_vnis; i++) {
		const struct frr_vni *v = &st->vnis[i];

		text_add(&t, "vni %" PRIu32 " rd '%s'", v->vni, v->rd);
		for (unsigned int k = 0; k < v->n_import; k++)
			text_add(&t, " import %s", v->rt_import[k]);
		for (unsigned int k = 0; k < v->n_export; k++)
			text_add(&t, " export %s", v->rt_export[k]);
		text_add(&t, "%s\n", v->overflow ? " overflow" : "");
	}
	return t.buf;
}

/* "VNI,RD,RT VNI,RD,RT ..." with "-" for an empty RD/RT. */
static struct vtep_desired *desired_make(const char *spec)
{
	struct vtep_desired *d = calloc(1, sizeof(*d));
	char *copy = strdup(spec), *save = NULL;

	assert_non_null(d);
	d->vnis = calloc(64, sizeof(*d->vnis));
	assert_non_null(d->vnis);
	for (char *tok = strtok_r(copy, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		struct vtep_vni *v = &d->vnis[d->n_vnis++];
		char rd[32], rt[32];

		assert_int_equal(sscanf(tok, "%" SCNu32 ",%31[^,],%31s", &v->vni, rd, rt), 3);
		snprintf(v->rd, sizeof(v->rd), "%s", strcmp(rd, "-") ? rd : "");
		snprintf(v->rt, sizeof(v->rt), "%s", strcmp(rt, "-") ? rt : "");
	}
	free(copy);
	return d;
}

static void desired_drop(struct vtep_desired **d)
{
	free((*d)->vnis);
	free(*d);
	*d = NULL;
}

static void parse_golden(const char *conf, const char *expect)
{
	struct frr_state st;
	struct loom_err err = { 0 };
	char *text = slurp(conf), *dump;

	assert_non_null(text);
	assert_int_equal(frr_config_parse(text, 65001, &st, &err), 0);
	dump = state_dump(&st);
	golden_check(expect, dump);
	free(dump);
	frr_state_release(&st);
	assert_null(st.vnis);
	free(text);
}

static void test_parse_lab(void **state)
{
	(void)state;
	parse_golden("rc_lab.conf", "rc_lab.parsed");
}

static void test_parse_vnis(void **state)
{
	(void)state;
	/* The VRF block's l2vpn evpn, the ipv6 AF, advertise-default-gw and a
	 * second import RT must all be handled (ignored or kept). */
	parse_golden("rc_vnis.conf", "rc_vnis.parsed");
}

static void test_parse_asn_conflict(void **state)
{
	struct frr_state st;
	struct loom_err err = { 0 };
	char *text = slurp("rc_lab.conf");

	(void)state;
	assert_int_equal(frr_config_parse(text, 65009, &st, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_CONFLICT);
	assert_non_null(strstr(err.msg, "router bgp 65001"));
	assert_non_null(strstr(err.msg, "65009"));
	free(text);
}

static void test_parse_no_bgp(void **state)
{
	struct frr_state st;

	(void)state;
	/* Older FRR closes blocks with "!" only; no router bgp at all. */
	assert_int_equal(frr_config_parse("frr version 8.4\n!\ninterface lo\n ip address 203.0.113.1/32\n!\nend\n",
					  65001, &st, NULL), 0);
	assert_int_equal(st.asn, 0);
	assert_int_equal(st.n_vnis, 0);
	frr_state_release(&st);
	assert_int_equal(frr_config_parse("router bgp 65001\n address-family l2vpn evpn\n  vni 5\n  exit-vni\n"
					  "!\nrouter bgp 65001 vrf red\n address-family l2vpn evpn\n  vni 6\n"
					  "  exit-vni\n exit-address-family\n!\n", 65001, &st, NULL), 0);
	assert_int_equal(st.asn, 65001);
	assert_int_equal(st.n_vnis, 1);
	assert_int_equal(st.vnis[0].vni, 5);
	frr_state_release(&st);
}

static void test_parse_overflow(void **state)
{
	struct text t = { 0 };
	struct frr_state st;

	(void)state;
	text_add(&t, "router bgp 65001\n address-family l2vpn evpn\n  vni 7\n");
	for (int i = 0; i < FRR_RT_MAX + 2; i++)
		text_add(&t, "   route-target both 65000:%d\n", i);
	text_add(&t, "  exit-vni\n exit-address-family\nexit\n");
	assert_int_equal(frr_config_parse(t.buf, 65001, &st, NULL), 0);
	assert_int_equal(st.n_vnis, 1);
	assert_true(st.vnis[0].overflow);
	assert_int_equal(st.vnis[0].n_import, FRR_RT_MAX);
	frr_state_release(&st);
	free(t.buf);
}

/* Parse @conf (NULL = FRR has nothing), plan @spec, compare with @expect. */
static int plan_golden(const char *conf, const char *spec, const char *expect)
{
	struct frr_state st = { 0 };
	struct frr_plan plan;
	struct vtep_desired *want = desired_make(spec);
	char *text = NULL, *rendered;
	int n;

	if (conf) {
		text = slurp(conf);
		assert_non_null(text);
		assert_int_equal(frr_config_parse(text, 65001, &st, NULL), 0);
	}
	n = frr_plan_build(conf ? &st : NULL, want, 65001, &plan);
	assert_true(n >= 0);
	assert_int_equal((size_t)n, plan.n_changes);
	rendered = frr_plan_render(&plan);
	assert_non_null(rendered);
	{
		struct text t = { 0 };

		text_add(&t, "# changes %d\n%s", n, rendered);
		golden_check(expect, t.buf);
		free(t.buf);
	}
	free(rendered);
	frr_plan_release(&plan);
	frr_state_release(&st);
	desired_drop(&want);
	free(text);
	return n;
}

static void test_plan_add(void **state)
{
	(void)state;
	assert_int_equal(plan_golden("rc_lab.conf",
				     "100,65001:100,65000:100 200,65001:200,65000:200",
				     "plan_add.txt"), 6);
}

static void test_plan_change(void **state)
{
	(void)state;
	/* 100 unchanged, 200 loses its extra import RT, 300 gets an RD,
	 * 4000 leaves, 5000 arrives with FRR-derived RD/RT. */
	plan_golden("rc_vnis.conf",
		    "100,65001:100,65000:100 200,65001:200,65000:200 300,65001:300,65000:300 5000,-,-",
		    "plan_change.txt");
}

static void test_plan_in_sync(void **state)
{
	(void)state;
	assert_int_equal(plan_golden("rc_vnis.conf",
				     "100,65001:100,65000:100 200,65001:200,65000:200 300,-,- "
				     "4000,203.0.113.1:4000,65000:4000", "plan_rt_only.txt"), 1);
}

static void test_plan_restart(void **state)
{
	(void)state;
	/* After bgpd restarted FRR has nothing of loom's, not even
	 * advertise-all-vni when the operator's file lacks it. */
	assert_int_equal(plan_golden(NULL, "100,65001:100,65000:100",
				     "plan_restart.txt"), 4);
}

/* One direction already carries the RT: only the other is added, after
 * the drops; both missing is one `route-target both` line. */
static void test_plan_rt_one_side(void **state)
{
	struct frr_state st;
	struct frr_plan plan;
	struct vtep_desired *want = desired_make("5,203.0.113.1:5,65000:5 6,203.0.113.1:6,65000:6");
	char *rendered;

	(void)state;
	assert_int_equal(frr_config_parse("router bgp 65001\n address-family l2vpn evpn\n"
					  "  advertise-all-vni\n  vni 5\n   rd 203.0.113.1:5\n"
					  "   route-target import 65000:5\n   route-target export 65099:9\n"
					  "  exit-vni\n  vni 6\n   rd 203.0.113.1:6\n"
					  "   route-target import 65099:8\n"
					  "  exit-vni\n exit-address-family\nexit\n", 65001, &st, NULL), 0);
	assert_int_equal(frr_plan_build(&st, want, 65001, &plan), 4);
	rendered = frr_plan_render(&plan);
	assert_non_null(rendered);
	assert_string_equal(rendered,
			    "router bgp 65001\n address-family l2vpn evpn\n"
			    "  vni 5\n   no route-target export 65099:9\n   route-target export 65000:5\n  exit-vni\n"
			    "  vni 6\n   no route-target import 65099:8\n   route-target both 65000:6\n  exit-vni\n"
			    " exit-address-family\nexit\n");
	free(rendered);
	frr_plan_release(&plan);
	frr_state_release(&st);
	desired_drop(&want);
}

static void test_plan_empty(void **state)
{
	struct frr_state st;
	struct frr_plan plan;
	char *text = slurp("rc_lab.conf");
	struct vtep_desired none = { .vtep = "vt1" };

	(void)state;
	assert_int_equal(frr_config_parse(text, 65001, &st, NULL), 0);
	assert_int_equal(frr_plan_build(&st, &none, 65001, &plan), 0);
	assert_int_equal(plan.n_lines, 0);
	frr_plan_release(&plan);
	frr_state_release(&st);
	free(text);
	/* Everything in place: nothing to send. */
	struct vtep_desired *want = desired_make("5,203.0.113.1:5,65000:5");

	assert_int_equal(frr_config_parse("router bgp 65001\n address-family l2vpn evpn\n"
					  "  advertise-all-vni\n  vni 5\n   rd 203.0.113.1:5\n"
					  "   route-target import 65000:5\n   route-target export 65000:5\n"
					  "  exit-vni\n exit-address-family\nexit\n", 65001, &st, NULL), 0);
	assert_int_equal(frr_plan_build(&st, want, 65001, &plan), 0);
	assert_int_equal(plan.n_lines, 0);
	frr_plan_release(&plan);	/* an empty plan still holds the state after */
	frr_state_release(&st);
	desired_drop(&want);
}

static void test_plan_rejects(void **state)
{
	struct frr_plan plan;
	struct vtep_desired *bad;

	(void)state;
	/* A value that would smuggle in another statement. */
	bad = desired_make("100,65001:100,65000:100");
	snprintf(bad->vnis[0].rt, sizeof(bad->vnis[0].rt), "1:1 no-vni");
	assert_int_equal(frr_plan_build(NULL, bad, 65001, &plan), -EINVAL);
	desired_drop(&bad);
	bad = desired_make("200,-,- 100,-,-");	/* not sorted */
	assert_int_equal(frr_plan_build(NULL, bad, 65001, &plan), -EINVAL);
	desired_drop(&bad);
}

static void test_plan_overflow_rebuilds(void **state)
{
	struct text t = { 0 };
	struct frr_state st;
	struct frr_plan plan;
	struct vtep_desired *want = desired_make("7,65001:7,65000:7");
	char *r;

	(void)state;
	text_add(&t, "router bgp 65001\n address-family l2vpn evpn\n  advertise-all-vni\n  vni 7\n");
	for (int i = 0; i < FRR_RT_MAX + 2; i++)
		text_add(&t, "   route-target import 65000:%d\n", i);
	text_add(&t, "  exit-vni\n exit-address-family\nexit\n");
	assert_int_equal(frr_config_parse(t.buf, 65001, &st, NULL), 0);
	assert_true(frr_plan_build(&st, want, 65001, &plan) > 0);
	r = frr_plan_render(&plan);
	assert_non_null(strstr(r, "  no vni 7\n  vni 7\n   rd 65001:7\n"));
	free(r);
	frr_plan_release(&plan);
	frr_state_release(&st);
	desired_drop(&want);
	free(t.buf);
}

static void test_plan_after(void **state)
{
	struct frr_state st;
	struct frr_plan plan, again;
	char *text = slurp("rc_vnis.conf");
	struct vtep_desired *want = desired_make("100,65001:100,65000:100 300,-,- 5000,203.0.113.1:5000,65000:5000");

	(void)state;
	/* The plan says what FRR holds once it is applied (the target's
	 * view); planning again from that view finds nothing to do. */
	assert_int_equal(frr_config_parse(text, 65001, &st, NULL), 0);
	assert_true(frr_plan_build(&st, want, 65001, &plan) > 0);
	assert_int_equal(plan.after.n_vnis, 3);
	assert_true(plan.after.advertise_all_vni);
	assert_int_equal(plan.after.vnis[2].vni, 5000);
	assert_string_equal(plan.after.vnis[2].rd, "203.0.113.1:5000");
	assert_int_equal(plan.after.vnis[2].n_import, 1);
	assert_string_equal(plan.after.vnis[2].rt_export[0], "65000:5000");
	assert_int_equal(plan.after.vnis[1].n_import, 0);	/* FRR derives them */
	assert_int_equal(frr_plan_build(&plan.after, want, 65001, &again), 0);
	assert_int_equal(again.n_lines, 0);
	frr_plan_release(&again);
	frr_plan_release(&plan);
	frr_state_release(&st);
	desired_drop(&want);
	free(text);
}

/* Two routed VNIs of L3 VNI 100000 (one tenant) and a layer-2 one. */
static struct vtep_desired *desired_routed(void)
{
	struct vtep_desired *d = desired_make("10000,65000:10000,65000:10000 "
					      "10001,65000:10001,65000:10001 "
					      "10002,65000:10002,65000:10002");

	d->vnis[0].l3vni = d->vnis[1].l3vni = 100000;
	d->vrfs = calloc(1, sizeof(*d->vrfs));
	assert_non_null(d->vrfs);
	d->n_vrfs = 1;
	d->vrfs[0].l3vni = 100000;
	snprintf(d->vrfs[0].tenant, sizeof(d->vrfs[0].tenant), "red");
	snprintf(d->vrfs[0].rd, sizeof(d->vrfs[0].rd), "65000:100000");
	snprintf(d->vrfs[0].rt, sizeof(d->vrfs[0].rt), "65000:100000");
	snprintf(d->vrfs[0].router_id, sizeof(d->vrfs[0].router_id), "203.0.113.1");
	return d;
}

static void vrfs_dump(struct text *t, const struct frr_state *st)
{
	for (size_t i = 0; i < st->n_vrfs; i++) {
		const struct frr_vrf *v = &st->vrfs[i];

		text_add(t, "vrf %" PRIu32 " zebra_vni %" PRIu32 " bgp %d redist %d%d adv %d%d rd '%s'",
			 v->l3vni, v->zebra_vni, v->bgp, v->redist4, v->redist6, v->adv4, v->adv6,
			 v->evpn.rd);
		for (unsigned int k = 0; k < v->evpn.n_import; k++)
			text_add(t, " import %s", v->evpn.rt_import[k]);
		for (unsigned int k = 0; k < v->evpn.n_export; k++)
			text_add(t, " export %s", v->evpn.rt_export[k]);
		text_add(t, "\n");
	}
}

/*
 * Tenant VRFs: loom's lvN blocks of bgpd and zebra parsed (an operator's
 * VRF "red" left out), a plan that completes lv100000 and removes
 * lv100001's L3 VNI from zebra (bgpd's instance stays: docs/overlay-frr.md),
 * and planning again from the plan's own after-state finds nothing to do.
 */
static void test_vrfs(void **state)
{
	struct frr_state st;
	struct frr_plan plan, again;
	char *text = slurp("rc_vrfs.conf"), *ztext = slurp("rc_vrfs_zebra.conf"), *rendered;
	struct vtep_desired *want = desired_routed();
	struct text t = { 0 };
	int n;

	(void)state;
	assert_non_null(text);
	assert_non_null(ztext);
	assert_int_equal(frr_config_parse(text, 65001, &st, NULL), 0);
	assert_int_equal(frr_config_parse_zebra(ztext, &st), 0);
	vrfs_dump(&t, &st);
	n = frr_plan_build(&st, want, 65001, &plan);
	assert_true(n > 0);
	rendered = frr_plan_render(&plan);
	text_add(&t, "# changes %d\n%s", n, rendered);
	golden_check("plan_vrfs.txt", t.buf);
	/* bgpd's instance of the VRF that went stays; nothing more to do. */
	assert_int_equal(frr_plan_build(&plan.after, want, 65001, &again), 0);
	assert_int_equal(again.n_lines, 0);
	frr_plan_release(&again);
	frr_plan_release(&plan);
	/* From nothing (a restarted FRR): the whole VRF block. */
	free(t.buf);
	t.buf = NULL;
	t.len = 0;
	free(rendered);
	n = frr_plan_build(NULL, want, 65001, &plan);
	rendered = frr_plan_render(&plan);
	text_add(&t, "# changes %d\n%s", n, rendered);
	golden_check("plan_vrfs_restart.txt", t.buf);
	frr_plan_release(&plan);
	free(rendered);
	free(t.buf);
	frr_state_release(&st);
	free(want->vrfs);
	desired_drop(&want);
	free(text);
	free(ztext);
}

static json_t *load_json(const char *name)
{
	char *text = slurp(name);
	json_error_t jerr;
	json_t *j;

	assert_non_null(text);
	j = json_loads(text, 0, &jerr);
	assert_non_null(j);
	free(text);
	return j;
}

static void verify_golden(const char *bgp, const char *zebra, const char *spec,
			  bool need_kernel, const char *expect, int want_bad)
{
	json_t *b = load_json(bgp), *z = zebra ? load_json(zebra) : NULL;
	struct frr_bgp_vnis have;
	struct vtep_desired *want = desired_make(spec);
	struct frr_vni_status *st;
	struct text t = { 0 };
	size_t n;
	int bad;

	assert_int_equal(frr_bgp_vnis_parse(b, z, &have, NULL), 0);
	text_add(&t, "advertise_all_vni %d\n", have.advertise_all_vni);
	for (size_t i = 0; i < have.n_vnis; i++) {
		const struct frr_bgp_vni *v = &have.vnis[i];

		text_add(&t, "have %" PRIu32 " kernel %d rd %s import %u export %u remote %u\n",
			 v->vni, v->in_kernel, v->rd, v->n_import, v->n_export, v->remote_vteps);
	}
	bad = frr_verify_compare(&have, want, need_kernel, &st, &n);
	for (size_t i = 0; i < n; i++)
		text_add(&t, "vni %" PRIu32 " %s: %s\n", st[i].vni,
			 frr_vni_verdict_name(st[i].verdict), st[i].detail);
	text_add(&t, "not verified %d\n", bad);
	golden_check(expect, t.buf);
	assert_int_equal(bad, want_bad);
	free(t.buf);
	free(st);
	frr_bgp_vnis_release(&have);
	desired_drop(&want);
	json_decref(b);
	json_decref(z);
}

static void test_verify_loom(void **state)
{
	(void)state;
	/* What `show bgp l2vpn evpn vni json` said right after loom's sync:
	 * 100 and 200 have kernel devices, 300 and 4000 do not. */
	verify_golden("bgp_vni_loom.json", "evpn_vni_loom.json",
		      "100,65001:100,65000:100 200,65001:200,65000:200 300,-,- "
		      "4000,203.0.113.1:4000,65000:4000",
		      false, "verify_loom.txt", 1);
	verify_golden("bgp_vni_loom.json", "evpn_vni_loom.json",
		      "100,65001:100,65000:100 300,-,- 4000,203.0.113.1:4000,65000:4000",
		      true, "verify_loom_kernel.txt", 2);
}

/* A routed VNI is verified only with its tenant's L3 VNI up in bgpd with loom's RD/RT. */
static void test_verify_l3(void **state)
{
	json_t *b = load_json("bgp_vni_l3.json");
	struct frr_bgp_vnis have;
	struct vtep_desired *want = desired_routed();
	struct frr_vni_status *st;
	struct text t = { 0 };
	size_t n;
	int bad;

	(void)state;
	assert_int_equal(frr_bgp_vnis_parse(b, NULL, &have, NULL), 0);
	assert_int_equal(have.n_vnis, 2);
	assert_int_equal(have.n_l3, 1);
	bad = frr_verify_compare(&have, want, true, &st, &n);
	for (size_t i = 0; i < n; i++)
		text_add(&t, "vni %" PRIu32 " %s: %s\n", st[i].vni,
			 frr_vni_verdict_name(st[i].verdict), st[i].detail);
	free(st);
	/* Another RT wanted: the routed VNIs are not verified. */
	snprintf(want->vrfs[0].rt, sizeof(want->vrfs[0].rt), "65000:7");
	assert_int_equal(frr_verify_compare(&have, want, true, &st, &n), bad + 2);
	for (size_t i = 0; i < n; i++)
		text_add(&t, "vni %" PRIu32 " %s: %s\n", st[i].vni,
			 frr_vni_verdict_name(st[i].verdict), st[i].detail);
	golden_check("verify_l3.txt", t.buf);
	assert_int_equal(bad, 1);	/* 10002 is missing from bgpd */
	free(st);
	free(t.buf);
	frr_bgp_vnis_release(&have);
	free(want->vrfs);
	desired_drop(&want);
	json_decref(b);
}

static void test_verify_auto(void **state)
{
	(void)state;
	/* FRR-derived RD/RTs (before loom applied): a mismatch for loom's
	 * RTs, a missing VNI, remote VTEPs from zebra. */
	verify_golden("bgp_vni_auto.json", "evpn_vni.json",
		      "100,-,- 200,65001:200,65000:200 300,65001:300,65000:300",
		      true, "verify_auto.txt", 2);
}

static void test_verify_not_object(void **state)
{
	struct frr_bgp_vnis have;
	struct loom_err err = { 0 };
	json_t *a = json_array();

	(void)state;
	assert_int_equal(frr_bgp_vnis_parse(a, NULL, &have, &err), -EINVAL);
	assert_int_equal(err.code, LOOM_E_INTERNAL);
	json_decref(a);
}

static void test_output_errors(void **state)
{
	char msg[128];

	(void)state;
	assert_int_equal(frr_output_errors("", msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	assert_int_equal(frr_output_errors("Building configuration...\n\nCurrent configuration:\n!\nend\n",
					   msg, sizeof(msg)), 0);
	/* -c: FRR's message alone; it exits 0 for this one. */
	assert_int_equal(frr_output_errors("% Malformed Route Distinguisher\n", msg, sizeof(msg)), 1);
	assert_string_equal(msg, "% Malformed Route Distinguisher");
	/* -f: "line N: " in front. */
	assert_int_equal(frr_output_errors("line 3: % Unknown command[39]:   vni 16777216\nline 9: % Malformed Route Distinguisher\n",
					   msg, sizeof(msg)), 2);
	assert_string_equal(msg, "line 3: % Unknown command[39]:   vni 16777216");
	assert_int_equal(frr_output_errors("BGP is already running; AS is 65001\n", msg, sizeof(msg)), 1);
	assert_int_equal(frr_output_errors("Exiting: failed to connect to any daemons.\n", msg, sizeof(msg)), 1);
	/* A route-target or a hostname with a % inside is not an error. */
	assert_int_equal(frr_output_errors("hostname a%b\n", msg, sizeof(msg)), 0);
	assert_int_equal(frr_output_errors("% x\n", NULL, 0), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_lab),
		cmocka_unit_test(test_parse_vnis),
		cmocka_unit_test(test_parse_asn_conflict),
		cmocka_unit_test(test_parse_no_bgp),
		cmocka_unit_test(test_parse_overflow),
		cmocka_unit_test(test_plan_add),
		cmocka_unit_test(test_plan_change),
		cmocka_unit_test(test_plan_in_sync),
		cmocka_unit_test(test_plan_restart),
		cmocka_unit_test(test_plan_rt_one_side),
		cmocka_unit_test(test_plan_empty),
		cmocka_unit_test(test_plan_rejects),
		cmocka_unit_test(test_plan_overflow_rebuilds),
		cmocka_unit_test(test_plan_after),
		cmocka_unit_test(test_verify_loom),
		cmocka_unit_test(test_verify_auto),
		cmocka_unit_test(test_vrfs),
		cmocka_unit_test(test_verify_l3),
		cmocka_unit_test(test_verify_not_object),
		cmocka_unit_test(test_output_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
