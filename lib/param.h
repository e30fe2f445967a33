/*
 * lib/param.h: reading named parameters out of a JSON object, with one
 * wording for what is missing or wrong.
 *
 * Used wherever loom reads an object a person wrote: the API's params
 * (src/api_*.c) and the tenancy objects inside them (tenancy/parse.c).  A
 * refusal is LOOM_E_PARAMS (LOOM_E_RANGE for a number out of its range)
 * with the key as the field:
 *
 *   unknown parameter 'K'        missing parameter 'K'
 *   'K' must be a non-empty string   'K' must not contain NUL
 *   'K' must be true or false    'K' must be an integer
 *   'K' must be in MIN..MAX      'K' must be a string
 *   'K' must be shorter than N bytes, without NUL
 */
#ifndef LOOM_LIB_PARAM_H
#define LOOM_LIB_PARAM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lib/err.h"

/* Refuses any key of @params that is not in the NULL-terminated @allowed. */
int params_only(const json_t *params, const char *const *allowed, struct loom_err *err);
/*
 * A non-empty string without NUL; *out is NULL when the key is absent (an
 * error only when @required).  *out points into @params.
 */
int param_string(const json_t *params, const char *key, bool required, const char **out,
		 struct loom_err *err);
/*
 * A string (empty allowed) copied into @out of @size bytes; "" when the
 * key is absent (an error only when @required).
 */
int param_text(const json_t *params, const char *key, bool required, char *out, size_t size,
	       struct loom_err *err);
/* *out is false when the key is absent. */
int param_bool(const json_t *params, const char *key, bool *out, struct loom_err *err);
/* An integer in [min, max]; *out is left alone when the key is absent. */
int param_int(const json_t *params, const char *key, json_int_t min, json_int_t max,
	      json_int_t *out, struct loom_err *err);

#endif
