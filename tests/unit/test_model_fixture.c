/*
 * tests/unit/test_model_fixture.c: the topology and helpers of
 * test_model_fixture.h.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/test_model_fixture.h"

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	assert_non_null(p);
	return p;
}

static void nic(struct topo_nic_port *p, const char *name, const char *mac, const char *vtep,
		const char *access)
{
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->mac, sizeof(p->mac), "%s", mac);
	snprintf(p->vtep, sizeof(p->vtep), "%s", vtep);
	snprintf(p->access_port, sizeof(p->access_port), "%s", access);
}

static void hca(struct topo_hca_port *p, const char *name, uint64_t guid, const char *sm)
{
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->guid = guid;
	p->rate_gbps = 400;
	snprintf(p->sm, sizeof(p->sm), "%s", sm);
}

static struct topo_node *node(struct topology *t, const char *name, const char *site,
			      size_t n_nic, size_t n_hca)
{
	struct topo_node *n = &t->nodes[t->n_nodes++];

	snprintf(n->name, sizeof(n->name), "%s", name);
	snprintf(n->site, sizeof(n->site), "%s", site);
	n->nic_ports = n_nic ? xcalloc(n_nic, sizeof(*n->nic_ports)) : NULL;
	n->n_nic_ports = n_nic;
	n->hca_ports = n_hca ? xcalloc(n_hca, sizeof(*n->hca_ports)) : NULL;
	n->n_hca_ports = n_hca;
	return n;
}

struct topology *fx_topology(void)
{
	struct topology *t = xcalloc(1, sizeof(*t));
	struct topo_node *n;

	t->sites = xcalloc(2, sizeof(*t->sites));
	t->n_sites = 2;
	strcpy(t->sites[0].name, "east");
	strcpy(t->sites[1].name, "west");

	t->vteps = xcalloc(3, sizeof(*t->vteps));
	t->n_vteps = 3;
	strcpy(t->vteps[0].name, "vtep-e1");
	strcpy(t->vteps[0].site, "east");
	strcpy(t->vteps[0].vtep_ip, "192.0.2.1");
	strcpy(t->vteps[1].name, "vtep-e2");
	strcpy(t->vteps[1].site, "east");
	strcpy(t->vteps[1].vtep_ip, "192.0.2.2");
	strcpy(t->vteps[2].name, "vtep-w1");
	strcpy(t->vteps[2].site, "west");
	strcpy(t->vteps[2].vtep_ip, "198.51.100.1");

	t->sms = xcalloc(2, sizeof(*t->sms));
	t->n_sms = 2;
	strcpy(t->sms[0].name, "sm-east");
	strcpy(t->sms[0].site, "east");
	strcpy(t->sms[1].name, "sm-west");
	strcpy(t->sms[1].site, "west");

	t->nodes = xcalloc(5, sizeof(*t->nodes));
	n = node(t, "cpu-e4", "east", 1, 0);
	nic(&n->nic_ports[0], "eth0", "02:00:00:00:04:00", "vtep-e1", "swp4");
	n = node(t, "gpu-e1", "east", 2, 2);
	nic(&n->nic_ports[0], "eth0", "02:00:00:00:01:00", "vtep-e1", "swp1");
	nic(&n->nic_ports[1], "eth1", "02:00:00:00:01:01", "vtep-e2", "swp1");
	hca(&n->hca_ports[0], "mlx5_0/1", 0x0002c9030000e101ULL, "sm-east");
	hca(&n->hca_ports[1], "mlx5_1/1", 0x0002c9030000e102ULL, "sm-east");
	n = node(t, "gpu-e2", "east", 2, 2);
	nic(&n->nic_ports[0], "eth0", "02:00:00:00:02:00", "vtep-e1", "swp2");
	nic(&n->nic_ports[1], "eth1", "02:00:00:00:02:01", "vtep-e2", "swp2");
	hca(&n->hca_ports[0], "mlx5_0/1", 0x0002c9030000e201ULL, "sm-east");
	hca(&n->hca_ports[1], "mlx5_1/1", 0x0002c9030000e202ULL, "sm-east");
	n = node(t, "gpu-e3", "east", 1, 1);
	nic(&n->nic_ports[0], "eth0", "02:00:00:00:03:00", "vtep-e2", "swp3");
	hca(&n->hca_ports[0], "mlx5_0/1", 0x0002c9030000e301ULL, "sm-east");
	n = node(t, "gpu-w1", "west", 1, 1);
	nic(&n->nic_ports[0], "eth0", "02:00:00:00:0a:00", "vtep-w1", "swp1");
	hca(&n->hca_ports[0], "mlx5_0/1", 0x0002c9030000a101ULL, "sm-west");
	return t;
}

void fx_model_init(struct model *m)
{
	struct pools p = { .vni_min = 10000, .vni_max = 10999, .pkey_min = 0x0100,
			   .pkey_max = 0x01ff, .rt_asn = 65000, .l3vni_min = 20000,
			   .l3vni_max = 20002 };

	model_init(m, &p);
}

char *fx_model_dump(const struct model *m)
{
	json_t *root = json_object(), *a;
	char *s;

	a = json_array();
	for (size_t i = 0; i < m->n_tenants; i++) {
		json_t *t = tenant_to_json(m->tenants[i]);

		if (m->tenants[i]->l3vni)
			json_object_set_new(t, "l3vni", json_integer(m->tenants[i]->l3vni));
		json_array_append_new(a, t);
	}
	json_object_set_new(root, "tenants", a);
	a = json_array();
	for (size_t i = 0; i < m->n_segments; i++)
		json_array_append_new(a, segment_to_json(&m->segments[i]));
	json_object_set_new(root, "segments", a);
	a = json_array();
	for (size_t i = 0; i < m->n_attachments; i++)
		json_array_append_new(a, attachment_to_json(&m->attachments[i]));
	json_object_set_new(root, "attachments", a);
	a = json_array();
	for (size_t i = 0; i < m->n_holds; i++)
		json_array_append_new(a, json_pack("{ss sI ss}", "type",
						   seg_type_name(m->holds[i].type), "id",
						   (json_int_t)m->holds[i].id, "tenant",
						   m->holds[i].tenant));
	json_object_set_new(root, "holds", a);
	s = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(root);
	assert_non_null(s);
	return s;
}

void fx_check_fail(const char *what, int rc, const struct loom_err *err, int code,
		   const char *field, const char *substr, char *before, const struct model *m)
{
	char *after = fx_model_dump(m);

	if (rc != -EINVAL || err->code != code || strcmp(err->field, field) != 0)
		fail_msg("%s: rc %d %s field \"%s\": %s (wanted %s field \"%s\")", what, rc,
			 loom_err_name(err->code), err->field, err->msg, loom_err_name(code), field);
	if (substr && !strstr(err->msg, substr))
		fail_msg("%s: message \"%s\" lacks \"%s\"", what, err->msg, substr);
	if (strcmp(before, after) != 0)
		fail_msg("%s changed the model:\nbefore %s\nafter  %s", what, before, after);
	free(before);
	free(after);
}

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad JSON in test: %s: %s", text, e.text);
	return j;
}

int fx_tenant(struct model *m, const struct topology *t, const char *json, struct loom_err *err)
{
	json_t *j = load(json);
	struct tenant ten;
	int rc;

	loom_err_clear(err);
	rc = tenant_from_json(j, &ten, err);
	if (rc)
		fail_msg("parse %s: %s: %s", json, err->field, err->msg);
	json_decref(j);
	rc = model_tenant_add(m, t, &ten, err);
	tenant_release(&ten);
	return rc;
}

int fx_segment(struct model *m, const struct topology *t, const char *tenant, const char *json,
	       struct loom_err *err)
{
	json_t *j = load(json);
	struct segment s;
	int rc;

	loom_err_clear(err);
	rc = segment_from_json(j, tenant, &s, err);
	if (rc)
		fail_msg("parse %s: %s: %s", json, err->field, err->msg);
	json_decref(j);
	return model_segment_add(m, t, &s, err);
}

int fx_attach(struct model *m, const struct topology *t, const char *json, struct loom_err *err)
{
	json_t *j = load(json);
	struct attachment a;
	int rc;

	loom_err_clear(err);
	rc = attachment_from_json(j, &a, err);
	if (rc)
		fail_msg("parse %s: %s: %s", json, err->field, err->msg);
	json_decref(j);
	return model_attach(m, t, &a, err);
}

int fx_detach(struct model *m, const char *json, struct loom_err *err)
{
	json_t *j = load(json);
	struct attachment a;
	int rc;

	loom_err_clear(err);
	rc = attachment_from_json(j, &a, err);
	if (rc)
		fail_msg("parse %s: %s: %s", json, err->field, err->msg);
	json_decref(j);
	return model_detach(m, &a, err);
}

static char *srcpath(const char *rel)
{
	const char *top = getenv("top_srcdir");
	size_t len = strlen(top ? top : ".") + strlen(rel) + 2;
	char *p = malloc(len);

	assert_non_null(p);
	snprintf(p, len, "%s/%s", top ? top : ".", rel);
	return p;
}

char *fx_read_srcfile(const char *rel)
{
	char *path = srcpath(rel), *buf = NULL;
	FILE *f = fopen(path, "r");
	long len;

	free(path);
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)len + 1);
		if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

bool fx_golden(const json_t *j, const char *rel)
{
	char *text = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
	char *want;
	const char *upd = getenv("LOOM_UPDATE_GOLDEN");
	bool ok;

	assert_non_null(text);
	if (upd && strcmp(upd, "1") == 0) {
		char *path = srcpath(rel);
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fprintf(f, "%s\n", text);
		fclose(f);
		free(path);
		free(text);
		return true;
	}
	want = fx_read_srcfile(rel);
	if (!want) {
		print_error("golden file %s missing; run with LOOM_UPDATE_GOLDEN=1\n", rel);
		free(text);
		return false;
	}
	ok = strlen(want) == strlen(text) + 1 && strncmp(want, text, strlen(text)) == 0;
	if (!ok)
		print_error("%s differs; got:\n%s\n", rel, text);
	free(want);
	free(text);
	return ok;
}
