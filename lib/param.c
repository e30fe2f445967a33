/*
 * lib/param.c: named parameters out of a JSON object (lib/param.h).
 */
#include "config.h"

#include <string.h>

#include "lib/param.h"

int params_only(const json_t *params, const char *const *allowed, struct loom_err *err)
{
	const char *key;
	json_t *v;

	/* jansson's iterator takes a non-const object; nothing is changed. */
	json_object_foreach((json_t *)params, key, v) {
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (!allowed[i])
			return loom_err_set(err, LOOM_E_PARAMS, key, "unknown parameter '%s'", key);
	}
	return 0;
}

int param_string(const json_t *params, const char *key, bool required, const char **out,
		 struct loom_err *err)
{
	json_t *v = json_object_get(params, key);

	*out = NULL;
	if (!v) {
		if (required)
			return loom_err_set(err, LOOM_E_PARAMS, key, "missing parameter '%s'", key);
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0)
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be a non-empty string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must not contain NUL", key);
	*out = json_string_value(v);
	return 0;
}

int param_text(const json_t *params, const char *key, bool required, char *out, size_t size,
	       struct loom_err *err)
{
	json_t *v = json_object_get(params, key);

	out[0] = '\0';
	if (!v) {
		if (required)
			return loom_err_set(err, LOOM_E_PARAMS, key, "missing parameter '%s'", key);
		return 0;
	}
	if (!json_is_string(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be a string", key);
	if (json_string_length(v) >= size || strlen(json_string_value(v)) != json_string_length(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be shorter than %zu bytes, without NUL",
				    key, size);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int param_bool(const json_t *params, const char *key, bool *out, struct loom_err *err)
{
	json_t *v = json_object_get(params, key);

	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int param_int(const json_t *params, const char *key, json_int_t min, json_int_t max,
	      json_int_t *out, struct loom_err *err)
{
	json_t *v = json_object_get(params, key);

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return loom_err_set(err, LOOM_E_PARAMS, key, "'%s' must be an integer", key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return loom_err_set(err, LOOM_E_RANGE, key, "'%s' must be in %lld..%lld", key,
				    (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}
