/*
 * tests/unit/test_model_fixture.h: a small two-site topology built in C and
 * helpers shared by the tenancy unit tests (test_model*, test_compile*,
 * test_intent*).
 */
#ifndef LOOM_TEST_MODEL_FIXTURE_H
#define LOOM_TEST_MODEL_FIXTURE_H

#include <stdbool.h>

#include <jansson.h>

#include "lib/err.h"
#include "tenancy/model.h"
#include "topology/topology.h"

/*
 * Sites east and west.  VTEPs vtep-e1, vtep-e2 (east), vtep-w1 (west).
 * Subnet managers sm-east, sm-west.  Nodes (sorted):
 *   cpu-e4  east  eth0->vtep-e1/swp4                      no HCA
 *   gpu-e1  east  eth0->vtep-e1/swp1 eth1->vtep-e2/swp1   mlx5_0/1 (..e101) mlx5_1/1 (..e102) sm-east
 *   gpu-e2  east  eth0->vtep-e1/swp2 eth1->vtep-e2/swp2   mlx5_0/1 (..e201) mlx5_1/1 (..e202) sm-east
 *   gpu-e3  east  eth0->vtep-e2/swp3                      mlx5_0/1 (..e301) sm-east
 *   gpu-w1  west  eth0->vtep-w1/swp1                      mlx5_0/1 (..a101) sm-west
 */
struct topology *fx_topology(void);

/* Pools: VNI 10000..10999, P_Key 0x0100..0x01ff, RD/RT ASN 65000. */
void fx_model_init(struct model *m);

/* The whole model as compact JSON with sorted keys (malloc'd). */
char *fx_model_dump(const struct model *m);

/* Parse + add; return the mutation's rc (the parser must succeed). */
int fx_tenant(struct model *m, const struct topology *t, const char *json, struct loom_err *err);
int fx_segment(struct model *m, const struct topology *t, const char *tenant, const char *json,
	       struct loom_err *err);
int fx_attach(struct model *m, const struct topology *t, const char *json, struct loom_err *err);
int fx_detach(struct model *m, const char *json, struct loom_err *err);

/*
 * Check that a call failed with -EINVAL, @code and exactly @field, that its
 * message holds @substr (when not NULL), and that the model's dump is the
 * one taken before the call (@before, freed here).
 */
void fx_check_fail(const char *what, int rc, const struct loom_err *err, int code,
		   const char *field, const char *substr, char *before, const struct model *m);
#define FX_EXPECT_FAIL(m, err, call, code, field, substr)                               \
	do {                                                                            \
		char *before_ = fx_model_dump(m);                                       \
		int rc_ = (call);                                                       \
		fx_check_fail(#call, rc_, (err), (code), (field), (substr), before_, (m)); \
	} while (0)

/* Read a file under $top_srcdir (malloc'd, NULL if absent). */
char *fx_read_srcfile(const char *rel);
/* Compare @j (dumped with JSON_SORT_KEYS|JSON_INDENT(2)) to a golden file;
 * with LOOM_UPDATE_GOLDEN=1 in the environment, rewrite the file instead. */
bool fx_golden(const json_t *j, const char *rel);

#endif
