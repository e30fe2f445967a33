/*
 * src/api_attach.h: segment.attach / segment.detach inside a request.
 */
#ifndef LOOM_SRC_API_ATTACH_H
#define LOOM_SRC_API_ATTACH_H

#include "lib/err.h"
#include "src/call.h"
#include "tenancy/model.h"

/*
 * Attaches @a: the node's lifecycle must allow it and no running
 * replacement may have reserved the node (unless call->replacing); the
 * first attachment moves an available node to assigned.
 */
int api_attach(struct api_call *call, struct attachment *a, struct loom_err *err);
/* Into the model and the store only, past the node's lifecycle. */
int api_attach_put(struct api_call *call, struct attachment *a, struct loom_err *err);
/* Detaches @a (which may point into the model). */
int api_detach(struct api_call *call, const struct attachment *a, struct loom_err *err);

#endif
