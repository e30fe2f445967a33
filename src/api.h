/*
 * src/api.h: the table of the JSON-RPC methods (src/api.c).
 */
#ifndef LOOM_SRC_API_H
#define LOOM_SRC_API_H

#include <stddef.h>

#include "src/call.h"

/* The method called @name, or NULL. */
const struct api_method *api_method_find(const char *name);
/* Every method, sorted by name. */
const struct api_method *api_methods(size_t *n);

#endif
