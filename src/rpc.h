/*
 * src/rpc.h: JSON-RPC 2.0 framing, pure and separately fuzzed.
 *
 * One request is one JSON object on one line.  Parsing checks everything a
 * client controls (the "jsonrpc" member, the method's type and length, the
 * params' type, the id's type) before anything else looks at it.
 */
#ifndef LOOM_SRC_RPC_H
#define LOOM_SRC_RPC_H

#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"

#define RPC_METHOD_MAX 64

struct rpc_request {
	char method[RPC_METHOD_MAX];
	json_t *params;		/* always an object (an absent params is {}); owned */
	json_t *id;		/* string, integer or null; NULL for a notification; owned */
};

/*
 * Parses one line (without its newline).  On error returns -EINVAL, fills
 * @err (LOOM_E_PARSE or LOOM_E_REQUEST) and sets req->id to the request's
 * id when it could be read, so the error can still be answered to it.
 */
int rpc_request_parse(const char *line, size_t len, struct rpc_request *req, struct loom_err *err);
void rpc_request_release(struct rpc_request *req);

/* Responses; each steals nothing and returns a new object. */
json_t *rpc_result(json_t *id, json_t *result);
json_t *rpc_error(json_t *id, const struct loom_err *err);

/* The error object's loom_err back (for clients); 0 or -EINVAL when not an error. */
int rpc_error_read(const json_t *error, struct loom_err *err);

#endif
