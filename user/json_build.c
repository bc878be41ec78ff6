// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>

#include "json_build.h"

int json_add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_object_add_ex(obj, key, val, JSON_C_OBJECT_ADD_CONSTANT_KEY)) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}

int json_add_null(struct json_object *obj, const char *key)
{
	return json_object_object_add_ex(obj, key, NULL, JSON_C_OBJECT_ADD_CONSTANT_KEY) ? -ENOMEM
											 : 0;
}

int json_add_str(struct json_object *obj, const char *key, const char *s)
{
	return json_add(obj, key, json_object_new_string(s));
}

int json_add_u64(struct json_object *obj, const char *key, uint64_t v)
{
	return json_add(obj, key, json_object_new_uint64(v));
}

int json_add_i64(struct json_object *obj, const char *key, int64_t v)
{
	return json_add(obj, key, json_object_new_int64(v));
}

int json_add_bool(struct json_object *obj, const char *key, bool v)
{
	return json_add(obj, key, json_object_new_boolean(v));
}

int json_append(struct json_object *arr, struct json_object *val)
{
	if (!val)
		return -ENOMEM;
	if (json_object_array_add(arr, val)) {
		json_object_put(val);
		return -ENOMEM;
	}
	return 0;
}
