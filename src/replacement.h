/*
 * src/replacement.h: node replacement driven by loomd (src/replacement.c,
 * docs/lifecycle.md).  loomd_replace_start checks OLD and NEW (or picks
 * NEW), builds the plan and stores its record, inside the caller's
 * request; loomd_replace_drive then runs the steps, one transaction each,
 * outside any request, and is hooked after each batch, whenever the
 * reconciler reports, and at start.
 */
#ifndef LOOM_SRC_REPLACEMENT_H
#define LOOM_SRC_REPLACEMENT_H

#include <stdbool.h>

#include <jansson.h>

#include "lib/err.h"
#include "node/lifecycle.h"
#include "src/call.h"

int loomd_replace_load(struct loomd *d);
void loomd_replace_release(struct loomd *d);
int loomd_replace_start(struct api_call *call, const char *old_node, const char *new_node,
			enum node_state goal, const char *reason, json_t **record, struct loom_err *err);
void loomd_replace_drive(struct loomd *d);
/* Has the replacement of @old_node ended?  *ok: it ended `done`; *record: its record (new ref). */
bool loomd_replace_finished(struct loomd *d, const char *old_node, bool *ok, json_t **record);
/* The newest replacement record @node takes part in (as old or new), or NULL. */
json_t *loomd_replace_json(struct loomd *d, const char *node);

api_method_fn api_node_replace, api_replace_show, api_replace_list;

#endif
