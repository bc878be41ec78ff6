/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * json_build.h - building json-c objects with one error path: every function takes ownership
 * of the value it is given (freeing it on failure), and a NULL value (a failed allocation)
 * is reported as -ENOMEM. Callers chain them: err = err ?: json_add(...).
 *
 * Keys are not copied (json-c's JSON_C_OBJECT_ADD_CONSTANT_KEY: one malloc and free less per
 * key, which shows when a busy host renders thousands of connections a second): a key must
 * stay valid until obj is freed. String literals and names owned by the timeline or report
 * being rendered qualify; every renderer frees its objects before returning.
 */
#ifndef HSTRACE_JSON_BUILD_H
#define HSTRACE_JSON_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* Adds val under key. Returns 0 or -ENOMEM. */
int json_add(struct json_object *obj, const char *key, struct json_object *val);

/* Adds a JSON null under key. Returns 0 or -ENOMEM. */
int json_add_null(struct json_object *obj, const char *key);

/* Adds a string, an unsigned or signed integer, or a boolean under key. 0 or -ENOMEM. */
int json_add_str(struct json_object *obj, const char *key, const char *s);
int json_add_u64(struct json_object *obj, const char *key, uint64_t v);
int json_add_i64(struct json_object *obj, const char *key, int64_t v);
int json_add_bool(struct json_object *obj, const char *key, bool v);

/* Appends val to the array arr. Returns 0 or -ENOMEM. */
int json_append(struct json_object *arr, struct json_object *val);

#endif /* HSTRACE_JSON_BUILD_H */
