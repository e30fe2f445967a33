/* TEMPORARY stand-in so src/api.c compiles until the tenancy branch lands. */
#ifndef LOOM_TENANCY_INTENT_H
#define LOOM_TENANCY_INTENT_H
#include "tenancy/model.h"
struct intent;
enum change_op { CHANGE_DETACH, CHANGE_SEGMENT_DEL, CHANGE_TENANT_ADD, CHANGE_TENANT_UPDATE, CHANGE_SEGMENT_ADD, CHANGE_ATTACH };
struct change { enum change_op op; struct tenant tenant; struct segment segment; struct attachment attachment; };
int intent_parse(const json_t *doc, struct intent **out, struct loom_err *err);
void intent_free(struct intent **doc);
int intent_plan(const struct model *m, const struct intent *doc, struct change **out, size_t *n, struct loom_err *err);
void changes_free(struct change **c, size_t n);
json_t *change_to_json(const struct change *c);
#endif
