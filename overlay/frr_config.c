/*
 * overlay/frr_config.c: the pure half of the FRR target.  Reads loom's
 * statements out of `show running-config`, plans the vtysh lines that turn
 * what FRR has into what loom wants, and reads FRR's EVPN JSON.  Nothing
 * here runs a program; every function is covered by golden-file tests.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/array.h"
#include "overlay/frr.h"

#define TOKENS_MAX 8

enum where {
	OUTSIDE, IN_BGP, IN_OTHER_BGP, IN_EVPN, IN_OTHER_AF, IN_VNI,
	/* `router bgp ASN vrf lvN`, a tenant VRF of loom's */
	IN_VRF_BGP, IN_VRF_AF4, IN_VRF_AF6, IN_VRF_EVPN, IN_VRF_OTHER_AF,
};

/* Split @line in place on blanks; returns the number of tokens. */
static int tokenize(char *line, char *tok[TOKENS_MAX])
{
	int n = 0;
	char *p = line;

	while (*p && n < TOKENS_MAX) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (!*p)
			break;
		tok[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static void rt_add(char list[FRR_RT_MAX][FRR_RTSTR_MAX], unsigned int *n,
		   bool *overflow, const char *rt)
{
	for (unsigned int i = 0; i < *n; i++)
		if (!strcmp(list[i], rt))
			return;
	if (*n >= FRR_RT_MAX || strlen(rt) >= FRR_RTSTR_MAX) {
		*overflow = true;
		return;
	}
	snprintf(list[(*n)++], FRR_RTSTR_MAX, "%s", rt);
}

static int vni_cmp(const void *a, const void *b)
{
	const struct frr_vni *x = a, *y = b;

	return x->vni < y->vni ? -1 : x->vni > y->vni;
}

static struct frr_vni *state_vni_new(struct frr_state *st, size_t *cap, uint32_t vni)
{
	if (ARRAY_GROW(st->vnis, *cap, st->n_vnis + 1))
		return NULL;
	struct frr_vni *v = &st->vnis[st->n_vnis++];

	memset(v, 0, sizeof(*v));
	v->vni = vni;
	return v;
}

/* "lv123" -> 123: a tenant VRF's name (tenancy's tenant_vrf_name). */
static bool vrf_l3vni(const char *name, uint32_t *l3vni)
{
	return name[0] == 'l' && name[1] == 'v' && parse_u32(name + 2, l3vni) == 0 && *l3vni &&
	       *l3vni <= 16777215;
}

static int vrf_cmp(const void *a, const void *b)
{
	const struct frr_vrf *x = a, *y = b;

	return x->l3vni < y->l3vni ? -1 : x->l3vni > y->l3vni;
}

/* The VRF record of @l3vni in @st, made when absent; NULL on ENOMEM. */
static struct frr_vrf *state_vrf(struct frr_state *st, uint32_t l3vni)
{
	for (size_t i = 0; i < st->n_vrfs; i++)
		if (st->vrfs[i].l3vni == l3vni)
			return &st->vrfs[i];
	struct frr_vrf *v = realloc(st->vrfs, (st->n_vrfs + 1) * sizeof(*v));

	if (!v)
		return NULL;
	st->vrfs = v;
	v = &st->vrfs[st->n_vrfs++];
	memset(v, 0, sizeof(*v));
	v->l3vni = l3vni;
	return v;
}

/* `rd` / `route-target` lines into @v. */
static void parse_rd_rt(struct frr_vni *v, char **tok, int n)
{
	if (n == 2 && !strcmp(tok[0], "rd")) {
		snprintf(v->rd, sizeof(v->rd), "%s", tok[1]);
	} else if (n == 3 && !strcmp(tok[0], "route-target")) {
		bool imp = !strcmp(tok[1], "import") || !strcmp(tok[1], "both");
		bool exp = !strcmp(tok[1], "export") || !strcmp(tok[1], "both");

		if (imp)
			rt_add(v->rt_import, &v->n_import, &v->overflow, tok[2]);
		if (exp)
			rt_add(v->rt_export, &v->n_export, &v->overflow, tok[2]);
	}
}

int frr_config_parse_zebra(const char *text, struct frr_state *st)
{
	struct frr_vrf *cur = NULL;
	char line[512];
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *tok[TOKENS_MAX];
		bool top = len > 0 && p[0] != ' ' && p[0] != '\t';
		uint32_t v;
		int n;

		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl ? nl + 1 : NULL;
		n = tokenize(line, tok);
		if (!n)
			continue;
		if (top) {
			cur = NULL;
			if (n == 2 && !strcmp(tok[0], "vrf") && vrf_l3vni(tok[1], &v) &&
			    !(cur = state_vrf(st, v)))
				return -ENOMEM;
		} else if (cur && n == 2 && !strcmp(tok[0], "vni") && parse_u32(tok[1], &v) == 0) {
			cur->zebra_vni = v;
		}
	}
	if (st->n_vrfs > 1)
		qsort(st->vrfs, st->n_vrfs, sizeof(*st->vrfs), vrf_cmp);
	return 0;
}

/*
 * One pass over the lines, the section being parsed in `w`.  Long (near 120
 * lines) but kept whole: the switch is the section state machine, and each
 * case reads against its neighbours (what opens IN_VNI, what closes it).
 */
int frr_config_parse(const char *text, uint32_t asn, struct frr_state *out,
		     struct loom_err *err)
{
	struct frr_state st = { 0 };
	size_t cap = 0;
	enum where w = OUTSIDE;
	struct frr_vni *cur = NULL;
	struct frr_vrf *vrf = NULL;
	char line[512];
	const char *p = text;
	int rc = 0;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *tok[TOKENS_MAX];
		bool top = len > 0 && p[0] != ' ' && p[0] != '\t';

		if (len >= sizeof(line))
			len = sizeof(line) - 1;	/* no statement of ours is this long */
		memcpy(line, p, len);
		line[len] = '\0';
		p = nl ? nl + 1 : NULL;

		int n = tokenize(line, tok);

		if (n == 0)
			continue;
		/* A statement at column 0 closes whatever block was open
		 * (older FRR ends blocks with "!" instead of "exit"). */
		if (top && w != OUTSIDE && strcmp(tok[0], "exit") && strcmp(tok[0], "!"))
			w = OUTSIDE;
		if (top && (!strcmp(tok[0], "exit") || !strcmp(tok[0], "!"))) {
			w = OUTSIDE;
			continue;
		}
		switch (w) {
		case OUTSIDE:
			if (n >= 3 && !strcmp(tok[0], "router") && !strcmp(tok[1], "bgp")) {
				uint32_t a, l3;

				/* A tenant VRF of loom's; other VRFs and views are not ours. */
				if (n == 5 && !strcmp(tok[3], "vrf") && vrf_l3vni(tok[4], &l3) &&
				    parse_u32(tok[2], &a) == 0 && (!asn || a == asn)) {
					vrf = state_vrf(&st, l3);
					if (!vrf) {
						rc = -ENOMEM;
						goto fail;
					}
					vrf->bgp = true;
					w = IN_VRF_BGP;
					break;
				}
				if (n > 3) {
					w = IN_OTHER_BGP;
					break;
				}
				if (parse_u32(tok[2], &a) < 0) {
					w = IN_OTHER_BGP;
					break;
				}
				if (asn && a != asn) {
					rc = loom_err_set(err, LOOM_E_CONFLICT, "asn",
							  "FRR runs router bgp %" PRIu32 " but the topology says %" PRIu32,
							  a, asn);
					goto fail;
				}
				st.asn = a;
				w = IN_BGP;
			}
			break;
		case IN_OTHER_BGP:
			break;
		case IN_BGP:
			if (n >= 2 && !strcmp(tok[0], "address-family")) {
				if (n == 3 && !strcmp(tok[1], "l2vpn") && !strcmp(tok[2], "evpn")) {
					st.evpn_af = true;
					w = IN_EVPN;
				} else {
					w = IN_OTHER_AF;
				}
			}
			break;
		case IN_OTHER_AF:
			if (!strcmp(tok[0], "exit-address-family"))
				w = IN_BGP;
			break;
		case IN_EVPN:
			if (!strcmp(tok[0], "exit-address-family")) {
				w = IN_BGP;
			} else if (n == 1 && !strcmp(tok[0], "advertise-all-vni")) {
				st.advertise_all_vni = true;
			} else if (n == 2 && !strcmp(tok[0], "vni")) {
				uint32_t v;

				if (parse_u32(tok[1], &v) < 0)
					break;
				cur = state_vni_new(&st, &cap, v);
				if (!cur) {
					rc = -ENOMEM;
					goto fail;
				}
				w = IN_VNI;
			}
			break;
		case IN_VNI:
			if (!strcmp(tok[0], "exit-vni"))
				w = IN_EVPN;
			else
				parse_rd_rt(cur, tok, n);
			break;
		case IN_VRF_BGP:
			if (n == 3 && !strcmp(tok[0], "bgp") && !strcmp(tok[1], "router-id"))
				snprintf(vrf->router_id, sizeof(vrf->router_id), "%s", tok[2]);
			else if (n == 3 && !strcmp(tok[0], "address-family"))
				w = !strcmp(tok[1], "ipv4") && !strcmp(tok[2], "unicast") ? IN_VRF_AF4
				    : !strcmp(tok[1], "ipv6") && !strcmp(tok[2], "unicast") ? IN_VRF_AF6
				    : !strcmp(tok[1], "l2vpn") && !strcmp(tok[2], "evpn") ? IN_VRF_EVPN
				    : IN_VRF_OTHER_AF;
			else if (!strcmp(tok[0], "address-family"))
				w = IN_VRF_OTHER_AF;
			break;
		case IN_VRF_AF4:
		case IN_VRF_AF6:
		case IN_VRF_EVPN:
		case IN_VRF_OTHER_AF:
			if (!strcmp(tok[0], "exit-address-family")) {
				w = IN_VRF_BGP;
			} else if (n == 2 && !strcmp(tok[0], "redistribute") &&
				   !strcmp(tok[1], "connected") && w != IN_VRF_EVPN) {
				if (w == IN_VRF_AF4)
					vrf->redist4 = true;
				else if (w == IN_VRF_AF6)
					vrf->redist6 = true;
			} else if (w == IN_VRF_EVPN && n == 3 && !strcmp(tok[0], "advertise") &&
				   !strcmp(tok[2], "unicast")) {
				if (!strcmp(tok[1], "ipv4"))
					vrf->adv4 = true;
				else if (!strcmp(tok[1], "ipv6"))
					vrf->adv6 = true;
			} else if (w == IN_VRF_EVPN) {
				parse_rd_rt(&vrf->evpn, tok, n);
			}
			break;
		}
	}
	if (st.n_vnis > 1)
		qsort(st.vnis, st.n_vnis, sizeof(*st.vnis), vni_cmp);
	if (st.n_vrfs > 1)
		qsort(st.vrfs, st.n_vrfs, sizeof(*st.vrfs), vrf_cmp);
	/* FRR never shows a VNI twice; if a config did, keep the last. */
	*out = st;
	return 0;
fail:
	free(st.vnis);
	free(st.vrfs);
	return rc;
}

void frr_state_release(struct frr_state *st)
{
	if (!st)
		return;
	free(st->vnis);
	free(st->vrfs);
	memset(st, 0, sizeof(*st));
}

int frr_state_copy(const struct frr_state *from, struct frr_state *to)
{
	*to = *from;
	to->vnis = NULL;
	to->vrfs = NULL;
	if (from->n_vrfs) {
		to->vrfs = malloc(from->n_vrfs * sizeof(*to->vrfs));
		if (!to->vrfs) {
			to->n_vnis = to->n_vrfs = 0;
			return -ENOMEM;
		}
		memcpy(to->vrfs, from->vrfs, from->n_vrfs * sizeof(*to->vrfs));
	}
	if (!from->n_vnis)
		return 0;
	to->vnis = malloc(from->n_vnis * sizeof(*to->vnis));
	if (!to->vnis) {
		free(to->vrfs);
		to->vrfs = NULL;
		to->n_vnis = to->n_vrfs = 0;
		return -ENOMEM;
	}
	memcpy(to->vnis, from->vnis, from->n_vnis * sizeof(*to->vnis));
	return 0;
}

static bool want_vrf(const struct vtep_desired *want, uint32_t l3vni);

/* What FRR holds of loom's statements once the plan from @have to @want is applied. */
static int state_after(const struct frr_state *have, const struct vtep_desired *want, uint32_t asn,
		       struct frr_state *out)
{
	size_t n = want ? want->n_vnis : 0;

	memset(out, 0, sizeof(*out));
	out->asn = asn;
	out->evpn_af = true;
	out->advertise_all_vni = true;
	if ((want && want->n_vrfs) || have->n_vrfs) {
		size_t nw = want ? want->n_vrfs : 0;

		out->vrfs = calloc(nw + have->n_vrfs, sizeof(*out->vrfs));
		if (!out->vrfs)
			return -ENOMEM;
		out->n_vrfs = nw;
		/* A VRF gone keeps bgpd's instance (plan_vrfs says why). */
		for (size_t i = 0; i < have->n_vrfs; i++)
			if (!want_vrf(want, have->vrfs[i].l3vni) && have->vrfs[i].bgp) {
				struct frr_vrf *v = &out->vrfs[out->n_vrfs++];

				*v = have->vrfs[i];
				v->zebra_vni = 0;
			}
		for (size_t i = 0; i < nw; i++) {
			struct frr_vrf *v = &out->vrfs[i];
			const struct vtep_vrf *f = &want->vrfs[i];

			v->l3vni = v->zebra_vni = f->l3vni;
			v->bgp = v->redist4 = v->redist6 = v->adv4 = v->adv6 = true;
			snprintf(v->router_id, sizeof(v->router_id), "%s", f->router_id);
			snprintf(v->evpn.rd, sizeof(v->evpn.rd), "%s", f->rd);
			if (*f->rt) {
				snprintf(v->evpn.rt_import[0], FRR_RTSTR_MAX, "%s", f->rt);
				snprintf(v->evpn.rt_export[0], FRR_RTSTR_MAX, "%s", f->rt);
				v->evpn.n_import = v->evpn.n_export = 1;
			}
		}
	}
	if (out->n_vrfs > 1)
		qsort(out->vrfs, out->n_vrfs, sizeof(*out->vrfs), vrf_cmp);
	if (!n)
		return 0;
	out->vnis = calloc(n, sizeof(*out->vnis));
	if (!out->vnis)
		return -ENOMEM;
	out->n_vnis = n;
	for (size_t i = 0; i < n; i++) {
		const struct vtep_vni *w = &want->vnis[i];
		struct frr_vni *v = &out->vnis[i];

		v->vni = w->vni;
		snprintf(v->rd, sizeof(v->rd), "%s", w->rd);
		if (*w->rt) {
			snprintf(v->rt_import[0], sizeof(v->rt_import[0]), "%s", w->rt);
			snprintf(v->rt_export[0], sizeof(v->rt_export[0]), "%s", w->rt);
			v->n_import = v->n_export = 1;
		}
	}
	return 0;
}

/* ---- plan ---- */

static int plan_add(struct frr_plan *plan, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int plan_add(struct frr_plan *plan, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (ARRAY_GROW(plan->lines, plan->cap, plan->n_lines + 1))
		return -ENOMEM;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	plan->lines[plan->n_lines++] = s;
	return 0;
}

/* An RD or RT goes into a vtysh line: one token of the characters FRR's
 * syntax uses, nothing that could start another statement. */
static bool token_ok(const char *s)
{
	if (!*s || strlen(s) >= FRR_RTSTR_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(".:*", *s))
			return false;
	return true;
}

static bool rt_has(char list[FRR_RT_MAX][FRR_RTSTR_MAX], unsigned int n, const char *rt)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(list[i], rt))
			return true;
	return false;
}

/*
 * Drops the route-targets of one direction (import/export) of one VNI that
 * are not @want; returns the number of lines or -ENOMEM.
 */
static int plan_rts_drop(struct frr_plan *plan, const char *dir,
			 char have[FRR_RT_MAX][FRR_RTSTR_MAX], unsigned int n_have,
			 const char *want)
{
	int changes = 0;

	for (unsigned int i = 0; i < n_have; i++) {
		if (*want && !strcmp(have[i], want))
			continue;
		if (plan_add(plan, "   no route-target %s %s", dir, have[i]) < 0)
			return -ENOMEM;
		changes++;
	}
	return changes;
}

/*
 * Adds @want where a direction lacks it, after the drops: one `both` line
 * when both lack it (a new VNI: 4 lines a block instead of 5, each a
 * round trip through vtysh), else the one direction.  FRR shows `both` as
 * an import and an export line.  Returns the number of lines or -ENOMEM.
 */
static int plan_rt_add(struct frr_plan *plan, const struct frr_vni *have, const char *want)
{
	bool imp = !rt_has((char (*)[FRR_RTSTR_MAX])have->rt_import, have->n_import, want);
	bool exp = !rt_has((char (*)[FRR_RTSTR_MAX])have->rt_export, have->n_export, want);
	const char *dir = imp && exp ? "both" : imp ? "import" : "export";

	if (!*want || (!imp && !exp))
		return 0;
	return plan_add(plan, "   route-target %s %s", dir, want) < 0 ? -ENOMEM : 1;
}

/* Lines for one desired VNI given what FRR has of it (@have may be NULL). */
static int plan_vni(struct frr_plan *plan, const struct frr_vni *have,
		    const struct vtep_vni *want)
{
	static const struct frr_vni none;
	size_t mark = plan->n_lines;
	int changes = 0, c;

	if (!have || have->overflow) {
		if (have && plan_add(plan, "  no vni %" PRIu32, want->vni) < 0)
			return -ENOMEM;
		changes += have != NULL;
		have = &none;
		changes++;	/* the vni block itself */
	}
	if (plan_add(plan, "  vni %" PRIu32, want->vni) < 0)
		return -ENOMEM;
	if (strcmp(have->rd, want->rd)) {
		if (*have->rd && plan_add(plan, "   no rd %s", have->rd) < 0)
			return -ENOMEM;
		if (*want->rd && plan_add(plan, "   rd %s", want->rd) < 0)
			return -ENOMEM;
		changes++;
	}
	c = plan_rts_drop(plan, "import", (char (*)[FRR_RTSTR_MAX])have->rt_import,
			  have->n_import, want->rt);
	if (c < 0)
		return c;
	changes += c;
	c = plan_rts_drop(plan, "export", (char (*)[FRR_RTSTR_MAX])have->rt_export,
			  have->n_export, want->rt);
	if (c < 0)
		return c;
	changes += c;
	c = plan_rt_add(plan, have, want->rt);
	if (c < 0)
		return c;
	changes += c;
	if (!changes) {		/* in sync: take the "vni N" line back */
		free(plan->lines[--plan->n_lines]);
		plan->n_lines = mark;
		return 0;
	}
	if (plan_add(plan, "  exit-vni") < 0)
		return -ENOMEM;
	return changes;
}

/* Take the lines from @mark on back (a block that turned out to be in sync). */
static void plan_truncate(struct frr_plan *plan, size_t mark)
{
	while (plan->n_lines > mark)
		free(plan->lines[--plan->n_lines]);
}

static const struct frr_vrf *state_vrf_find(const struct frr_state *st, uint32_t l3vni)
{
	for (size_t i = 0; i < st->n_vrfs; i++)
		if (st->vrfs[i].l3vni == l3vni)
			return &st->vrfs[i];
	return NULL;
}

static bool want_vrf(const struct vtep_desired *want, uint32_t l3vni)
{
	for (size_t i = 0; want && i < want->n_vrfs; i++)
		if (want->vrfs[i].l3vni == l3vni)
			return true;
	return false;
}

/*
 * The tenant VRFs (docs/overlay-frr.md, "Tenant VRFs"): zebra's `vrf lvN`
 * / `vni N` and bgpd's `router bgp ASN vrf lvN`; removals first.  Returns
 * the number of changes or -ENOMEM.
 */
static int plan_vrfs(struct frr_plan *plan, const struct frr_state *have,
		     const struct vtep_desired *want, uint32_t asn)
{
	static const struct frr_vrf none;
	int changes = 0, c;
	char name[16];

	for (size_t i = 0; i < have->n_vrfs; i++) {
		const struct frr_vrf *h = &have->vrfs[i];

		if (want_vrf(want, h->l3vni))
			continue;
		tenant_vrf_name(h->l3vni, name);
		/*
		 * zebra's L3 VNI only.  bgpd's `router bgp ASN vrf lvN` stays,
		 * inactive once the kernel's VRF is gone: FRR 8.4's bgpd aborted
		 * (signal 6) in the lab VM each time loom deleted such an
		 * instance after it had imported EVPN routes.  A tenant VRF made
		 * again on this VTEP takes it up.
		 */
		if (h->zebra_vni) {
			if (plan_add(plan, "vrf %s", name) < 0 ||
			    plan_add(plan, " no vni %" PRIu32, h->zebra_vni) < 0 ||
			    plan_add(plan, "exit-vrf") < 0)
				return -ENOMEM;
			plan->zebra = true;
			changes++;
		}
	}
	for (size_t i = 0; want && i < want->n_vrfs; i++) {
		const struct vtep_vrf *f = &want->vrfs[i];
		const struct frr_vrf *h = state_vrf_find(have, f->l3vni);
		size_t mark, mark_af;
		int block = 0, af = 0;

		if (!h)
			h = &none;
		tenant_vrf_name(f->l3vni, name);
		/*
		 * bgpd's block before zebra's `vni`: bgpd imports nothing into the
		 * VRF until zebra gives it the L3 VNI, so it imports once, with
		 * loom's RD and RTs.  The other order imported with the automatic
		 * RT first and again with loom's; zebra 8.4 queues a replaced EVPN
		 * route's add before the old one's delete, so the remote VTEP's
		 * router MAC and next-hop neighbour went and the tenant's routed
		 * traffic stopped until some other route to that VTEP came (97 s
		 * in CI, run 23; tests/vm/vm_routing.sh).
		 */
		mark = plan->n_lines;
		if (plan_add(plan, "router bgp %" PRIu32 " vrf %s", asn, name) < 0)
			return -ENOMEM;
		block += !h->bgp;
		if (*f->router_id && strcmp(h->router_id, f->router_id)) {
			if (plan_add(plan, " bgp router-id %s", f->router_id) < 0)
				return -ENOMEM;
			block++;
		}
		for (int v6 = 0; v6 < 2; v6++) {
			if (v6 ? h->redist6 : h->redist4)
				continue;
			if (plan_add(plan, " address-family %s unicast", v6 ? "ipv6" : "ipv4") < 0 ||
			    plan_add(plan, "  redistribute connected") < 0 ||
			    plan_add(plan, " exit-address-family") < 0)
				return -ENOMEM;
			block++;
		}
		mark_af = plan->n_lines;
		if (plan_add(plan, " address-family l2vpn evpn") < 0)
			return -ENOMEM;
		if (strcmp(h->evpn.rd, f->rd)) {
			if ((*h->evpn.rd && plan_add(plan, "  no rd %s", h->evpn.rd) < 0) ||
			    (*f->rd && plan_add(plan, "  rd %s", f->rd) < 0))
				return -ENOMEM;
			af++;
		}
		if ((c = plan_rts_drop(plan, "import", (char (*)[FRR_RTSTR_MAX])h->evpn.rt_import,
				       h->evpn.n_import, f->rt)) < 0)
			return c;
		af += c;
		if ((c = plan_rts_drop(plan, "export", (char (*)[FRR_RTSTR_MAX])h->evpn.rt_export,
				       h->evpn.n_export, f->rt)) < 0)
			return c;
		af += c;
		if ((c = plan_rt_add(plan, &h->evpn, f->rt)) < 0)
			return c;
		af += c;
		for (int v6 = 0; v6 < 2; v6++) {
			if (v6 ? h->adv6 : h->adv4)
				continue;
			if (plan_add(plan, "  advertise %s unicast", v6 ? "ipv6" : "ipv4") < 0)
				return -ENOMEM;
			af++;
		}
		if (!af)
			plan_truncate(plan, mark_af);
		else if (plan_add(plan, " exit-address-family") < 0)
			return -ENOMEM;
		block += af;
		if (!block)
			plan_truncate(plan, mark);
		else if (plan_add(plan, "exit") < 0)
			return -ENOMEM;
		changes += block;
		if (h->zebra_vni != f->l3vni) {
			if (plan_add(plan, "vrf %s", name) < 0 ||
			    (h->zebra_vni && plan_add(plan, " no vni %" PRIu32, h->zebra_vni) < 0) ||
			    plan_add(plan, " vni %" PRIu32, f->l3vni) < 0 || plan_add(plan, "exit-vrf") < 0)
				return -ENOMEM;
			plan->zebra = true;
			changes++;
		}
	}
	return changes;
}

int frr_plan_build(const struct frr_state *have, const struct vtep_desired *want,
		   uint32_t asn, struct frr_plan *out)
{
	static const struct frr_state empty;
	struct frr_plan plan = { 0 };
	size_t i, j, n_want = want ? want->n_vnis : 0;
	int changes = 0, rc = -ENOMEM;

	if (!have)
		have = &empty;
	for (j = 0; j < n_want; j++) {
		const struct vtep_vni *v = &want->vnis[j];

		if ((*v->rd && !token_ok(v->rd)) || (*v->rt && !token_ok(v->rt)))
			return -EINVAL;
		if (j && want->vnis[j - 1].vni >= v->vni)
			return -EINVAL;	/* compile() sorts; a duplicate is a bug */
	}
	for (j = 0; want && j < want->n_vrfs; j++)
		if ((*want->vrfs[j].rd && !token_ok(want->vrfs[j].rd)) ||
		    (*want->vrfs[j].rt && !token_ok(want->vrfs[j].rt)) ||
		    (*want->vrfs[j].router_id && !token_ok(want->vrfs[j].router_id)))
			return -EINVAL;
	if (plan_add(&plan, "router bgp %" PRIu32, asn) < 0 ||
	    plan_add(&plan, " address-family l2vpn evpn") < 0)
		goto fail;
	if (!have->advertise_all_vni) {
		if (plan_add(&plan, "  advertise-all-vni") < 0)
			goto fail;
		changes++;
	}
	/* Removals first: a VNI leaving this VTEP is gone before any other
	 * VNI's route-targets change, so no two tenants meet even briefly. */
	for (i = 0, j = 0; i < have->n_vnis; i++) {
		while (j < n_want && want->vnis[j].vni < have->vnis[i].vni)
			j++;
		if (j < n_want && want->vnis[j].vni == have->vnis[i].vni)
			continue;
		if (plan_add(&plan, "  no vni %" PRIu32, have->vnis[i].vni) < 0)
			goto fail;
		changes++;
	}
	for (i = 0, j = 0; j < n_want; j++) {
		while (i < have->n_vnis && have->vnis[i].vni < want->vnis[j].vni)
			i++;
		bool match = i < have->n_vnis && have->vnis[i].vni == want->vnis[j].vni;
		int c = plan_vni(&plan, match ? &have->vnis[i] : NULL, &want->vnis[j]);

		if (c < 0)
			goto fail;
		changes += c;
	}
	if (!changes) {
		frr_plan_release(&plan);
	} else {
		if (plan_add(&plan, " exit-address-family") < 0 || plan_add(&plan, "exit") < 0)
			goto fail;
	}
	{
		int c = plan_vrfs(&plan, have, want, asn);

		if (c < 0)
			goto fail;
		changes += c;
	}
	plan.n_changes = (size_t)changes;
	if (state_after(have, want, asn, &plan.after) < 0)
		goto fail;
	*out = plan;
	return changes;
fail:
	frr_plan_release(&plan);
	return rc;
}

void frr_plan_release(struct frr_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->n_lines; i++)
		free(plan->lines[i]);
	free(plan->lines);
	frr_state_release(&plan->after);
	memset(plan, 0, sizeof(*plan));
}

char *frr_plan_render(const struct frr_plan *plan)
{
	size_t len = 1;
	char *buf, *p;

	for (size_t i = 0; i < plan->n_lines; i++)
		len += strlen(plan->lines[i]) + 1;
	buf = malloc(len);
	if (!buf)
		return NULL;
	p = buf;
	for (size_t i = 0; i < plan->n_lines; i++) {
		size_t l = strlen(plan->lines[i]);

		memcpy(p, plan->lines[i], l);
		p += l;
		*p++ = '\n';
	}
	*p = '\0';
	return buf;
}

/* ---- JSON ---- */

static int bgp_vni_cmp(const void *a, const void *b)
{
	const struct frr_bgp_vni *x = a, *y = b;

	return x->vni < y->vni ? -1 : x->vni > y->vni;
}

static void json_rts(const json_t *arr, char list[FRR_RT_MAX][FRR_RTSTR_MAX],
		     unsigned int *n)
{
	size_t i;
	const json_t *v;
	bool overflow = false;

	if (!json_is_array(arr))
		return;
	json_array_foreach(arr, i, v)
		if (json_is_string(v))
			rt_add(list, n, &overflow, json_string_value(v));
}

static bool json_true_str(const json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	return json_is_string(v) && !strcasecmp(json_string_value(v), "true");
}

int frr_bgp_vnis_parse(const json_t *bgp_json, const json_t *zebra_json,
		       struct frr_bgp_vnis *out, struct loom_err *err)
{
	struct frr_bgp_vnis r = { 0 };
	const char *key;
	json_t *val;
	size_t cap = 0, cap_l3 = 0;

	if (!json_is_object(bgp_json))
		return loom_err_set(err, LOOM_E_INTERNAL, "",
				    "show bgp l2vpn evpn vni json did not give a JSON object");
	val = json_object_get(bgp_json, "advertiseAllVnis");
	r.advertise_all_vni = json_is_string(val) && !strcmp(json_string_value(val), "Enabled");
	json_object_foreach((json_t *)bgp_json, key, val) {
		uint32_t vni;
		const json_t *t;

		/* Per-VNI objects are keyed by the VNI; the rest are flags. */
		if (!json_is_object(val) || parse_u32(key, &vni) < 0)
			continue;
		t = json_object_get(val, "type");
		bool l3 = json_is_string(t) && !strcmp(json_string_value(t), "L3");

		if (json_is_string(t) && strcmp(json_string_value(t), "L2") && !l3)
			continue;
		if (l3 ? ARRAY_GROW(r.l3, cap_l3, r.n_l3 + 1) : ARRAY_GROW(r.vnis, cap, r.n_vnis + 1)) {
			free(r.vnis);
			free(r.l3);
			return -ENOMEM;
		}
		struct frr_bgp_vni *v = l3 ? &r.l3[r.n_l3++] : &r.vnis[r.n_vnis++];

		memset(v, 0, sizeof(*v));
		v->vni = vni;
		v->in_kernel = json_true_str(json_object_get(val, "inKernel"));
		t = json_object_get(val, "rd");
		if (json_is_string(t))
			snprintf(v->rd, sizeof(v->rd), "%s", json_string_value(t));
		json_rts(json_object_get(val, "importRTs"), v->rt_import, &v->n_import);
		json_rts(json_object_get(val, "exportRTs"), v->rt_export, &v->n_export);
	}
	if (r.n_vnis > 1)
		qsort(r.vnis, r.n_vnis, sizeof(*r.vnis), bgp_vni_cmp);
	if (r.n_l3 > 1)
		qsort(r.l3, r.n_l3, sizeof(*r.l3), bgp_vni_cmp);
	if (json_is_object(zebra_json)) {
		json_object_foreach((json_t *)zebra_json, key, val) {
			uint32_t vni;
			struct frr_bgp_vni k, *v;
			const json_t *t;

			if (!json_is_object(val) || parse_u32(key, &vni) < 0)
				continue;
			k.vni = vni;
			/* bsearch's array may not be NULL, even empty */
			v = r.n_vnis ? bsearch(&k, r.vnis, r.n_vnis, sizeof(*r.vnis), bgp_vni_cmp)
				     : NULL;
			t = json_object_get(val, "numRemoteVteps");
			if (v && json_is_integer(t) && json_integer_value(t) > 0)
				v->remote_vteps = (unsigned int)json_integer_value(t);
		}
	}
	*out = r;
	return 0;
}

void frr_bgp_vnis_release(struct frr_bgp_vnis *v)
{
	if (!v)
		return;
	free(v->vnis);
	free(v->l3);
	memset(v, 0, sizeof(*v));
}

const char *frr_vni_verdict_name(enum frr_vni_verdict v)
{
	switch (v) {
	case FRR_VNI_OK: return "ok";
	case FRR_VNI_NO_KERNEL: return "no_kernel";
	case FRR_VNI_MISMATCH: return "mismatch";
	case FRR_VNI_MISSING: return "missing";
	case FRR_VNI_EXTRA: return "extra";
	}
	return "unknown";
}

/* Does @list hold exactly @want (or anything, when @want is "": auto)? */
static bool rts_match(char list[FRR_RT_MAX][FRR_RTSTR_MAX], unsigned int n, const char *want)
{
	if (!*want)
		return true;
	return n == 1 && !strcmp(list[0], want);
}

static void rts_join(char list[FRR_RT_MAX][FRR_RTSTR_MAX], unsigned int n,
		     char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < n && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "," : "", list[i]);
}

/*
 * A routed VNI is verified when bgpd also shows its tenant's L3 VNI, in the
 * kernel, with loom's RD and RT (symmetric IRB's transit VNI).
 */
static void verify_l3(const struct frr_bgp_vnis *have, const struct vtep_desired *want,
		      const struct vtep_vni *w, struct frr_vni_status *s)
{
	const struct vtep_vrf *f = NULL;
	const struct frr_bgp_vni *h = NULL;
	char vrf[16];

	for (size_t k = 0; k < want->n_vrfs; k++)
		if (want->vrfs[k].l3vni == w->l3vni)
			f = &want->vrfs[k];
	for (size_t k = 0; k < have->n_l3; k++)
		if (have->l3[k].vni == w->l3vni)
			h = &have->l3[k];
	tenant_vrf_name(w->l3vni, vrf);
	if (!f || !h) {
		s->verdict = FRR_VNI_MISSING;
		snprintf(s->detail, sizeof(s->detail), "BGP does not know L3 VNI %" PRIu32 " of VRF %s",
			 w->l3vni, vrf);
	} else if (*f->rd && strcmp(h->rd, f->rd)) {
		s->verdict = FRR_VNI_MISMATCH;
		snprintf(s->detail, sizeof(s->detail), "L3 VNI %" PRIu32 ": rd is %s, want %s", w->l3vni,
			 h->rd, f->rd);
	} else if (!rts_match((char (*)[FRR_RTSTR_MAX])h->rt_import, h->n_import, f->rt) ||
		   !rts_match((char (*)[FRR_RTSTR_MAX])h->rt_export, h->n_export, f->rt)) {
		s->verdict = FRR_VNI_MISMATCH;
		snprintf(s->detail, sizeof(s->detail), "L3 VNI %" PRIu32 ": route-targets are not %s",
			 w->l3vni, f->rt);
	} else if (!h->in_kernel) {
		s->verdict = FRR_VNI_NO_KERNEL;
		snprintf(s->detail, sizeof(s->detail), "L3 VNI %" PRIu32 " of VRF %s is not up in zebra",
			 w->l3vni, vrf);
	}
}

int frr_verify_compare(const struct frr_bgp_vnis *have, const struct vtep_desired *want,
		       bool need_kernel, struct frr_vni_status **out, size_t *n_out)
{
	size_t n_want = want ? want->n_vnis : 0, cap = n_want + have->n_vnis, n = 0;
	struct frr_vni_status *st = calloc(cap ? cap : 1, sizeof(*st));
	size_t i = 0, j = 0;
	int bad = 0;

	if (!st)
		return -ENOMEM;
	while (i < have->n_vnis || j < n_want) {
		const struct frr_bgp_vni *h = i < have->n_vnis ? &have->vnis[i] : NULL;
		const struct vtep_vni *w = j < n_want ? &want->vnis[j] : NULL;
		struct frr_vni_status *s = &st[n++];

		if (h && (!w || h->vni < w->vni)) {
			s->vni = h->vni;
			s->verdict = FRR_VNI_EXTRA;
			snprintf(s->detail, sizeof(s->detail), "FRR has VNI %" PRIu32 " that loom does not want", h->vni);
			i++;
			continue;
		}
		if (!w)
			break;	/* unreachable: the loop runs while one side is left */
		s->vni = w->vni;
		if (!h || w->vni < h->vni) {
			s->verdict = FRR_VNI_MISSING;
			snprintf(s->detail, sizeof(s->detail), "BGP does not know VNI %" PRIu32, w->vni);
			bad++;
			j++;
			continue;
		}
		s->remote_vteps = h->remote_vteps;
		if (*w->rd && strcmp(h->rd, w->rd)) {
			s->verdict = FRR_VNI_MISMATCH;
			snprintf(s->detail, sizeof(s->detail), "rd is %s, want %s", h->rd, w->rd);
		} else if (!rts_match((char (*)[FRR_RTSTR_MAX])h->rt_import, h->n_import, w->rt) ||
			   !rts_match((char (*)[FRR_RTSTR_MAX])h->rt_export, h->n_export, w->rt)) {
			char imp[80], exp[80];

			rts_join((char (*)[FRR_RTSTR_MAX])h->rt_import, h->n_import, imp, sizeof(imp));
			rts_join((char (*)[FRR_RTSTR_MAX])h->rt_export, h->n_export, exp, sizeof(exp));
			s->verdict = FRR_VNI_MISMATCH;
			snprintf(s->detail, sizeof(s->detail), "route-targets import [%s] export [%s], want %s",
				 imp, exp, w->rt);
		} else if (!h->in_kernel) {
			s->verdict = FRR_VNI_NO_KERNEL;
			snprintf(s->detail, sizeof(s->detail), "zebra has no VXLAN device for VNI %" PRIu32, w->vni);
		} else {
			s->verdict = FRR_VNI_OK;
		}
		if (s->verdict == FRR_VNI_OK && w->l3vni)
			verify_l3(have, want, w, s);
		if (s->verdict == FRR_VNI_MISMATCH || s->verdict == FRR_VNI_MISSING ||
		    (s->verdict == FRR_VNI_NO_KERNEL && need_kernel))
			bad++;
		i++;
		j++;
	}
	*out = st;
	*n_out = n;
	return bad;
}

/* ---- vtysh output ---- */

static const char *const failure_sentences[] = {
	"Exiting: failed to connect",
	"BGP is already running",
	"is not running",
	"Error response from daemon",
	"Warning: closing connection",
};

int frr_output_errors(const char *output, char *msg, size_t msg_size)
{
	const char *p = output;
	int count = 0;

	if (msg_size)
		msg[0] = '\0';
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		const char *s = p;
		bool bad = false;

		/* `vtysh -f` prefixes "line N: " */
		if (!strncmp(s, "line ", 5)) {
			const char *c = memchr(s, ':', len);

			if (c && c + 2 < s + len && c[1] == ' ' && c[2] == '%')
				bad = true;
		}
		while (s < p + len && *s == ' ')
			s++;
		if (s < p + len && *s == '%')
			bad = true;
		for (size_t i = 0; !bad && i < sizeof(failure_sentences) / sizeof(failure_sentences[0]); i++) {
			const char *f = failure_sentences[i];
			size_t fl = strlen(f);

			for (const char *q = p; q + fl <= p + len; q++)
				if (!memcmp(q, f, fl)) {
					bad = true;
					break;
				}
		}
		if (bad) {
			if (!count && msg_size)
				snprintf(msg, msg_size, "%.*s", (int)len, p);
			count++;
		}
		p = nl ? nl + 1 : NULL;
	}
	return count;
}
