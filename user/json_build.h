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
#include <stddef.h>
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

/*
 * A streaming JSON writer, for output written often (a line per connection): it appends the
 * text to a buffer as the caller walks its data, with no object tree, and gives exactly the
 * bytes json-c's json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE) gives for the same values added in the same order (json-c
 * escapes, integers in decimal, no spaces). Keys are not checked for duplicates: a caller that
 * may have one must merge it first, as json-c would (first place, last value).
 *
 * The writer starts on a buffer the caller owns (e.g. on its stack) and moves to the heap when
 * the text outgrows it. Errors are sticky: a failed allocation makes every later call do
 * nothing, and jsonw_error() tells. Usage:
 *
 *	char buf[4096];
 *	struct json_writer w;
 *
 *	jsonw_init(&w, buf, sizeof(buf));
 *	jsonw_start_object(&w);
 *	jsonw_key(&w, "n");
 *	jsonw_u64(&w, 1);
 *	jsonw_end_object(&w);
 *	err = jsonw_error(&w) ?: write(fd, jsonw_text(&w), jsonw_len(&w));
 *	jsonw_free(&w);
 */
struct json_writer {
	char *buf;	 /* the text so far, not NUL-terminated */
	size_t len;
	size_t cap;
	char *init_buf;	 /* the caller's buffer, never freed */
	bool first;	 /* nothing written yet in the innermost object or array */
	bool after_key;	 /* a key was written: its value comes next, without a comma */
	int err;	 /* 0, or -ENOMEM once an allocation failed */
};

/* Starts an empty text in buf (cap bytes, may be 0 with buf NULL). */
void jsonw_init(struct json_writer *w, char *buf, size_t cap);

/* Frees what the writer allocated (not the caller's buffer). The text is gone. */
void jsonw_free(struct json_writer *w);

/* Returns 0, or -ENOMEM when some text could not be appended (the text is then unusable). */
static inline int jsonw_error(const struct json_writer *w)
{
	return w->err;
}

/* The text so far and its length. */
static inline const char *jsonw_text(const struct json_writer *w)
{
	return w->buf;
}

static inline size_t jsonw_len(const struct json_writer *w)
{
	return w->len;
}

/* Appends raw bytes (no separator, no escaping): e.g. a newline after the value. */
void jsonw_raw(struct json_writer *w, const char *s, size_t len);

/* Objects and arrays: start, then members (jsonw_key() and a value) or elements, then end. */
void jsonw_start_object(struct json_writer *w);
void jsonw_end_object(struct json_writer *w);
void jsonw_start_array(struct json_writer *w);
void jsonw_end_array(struct json_writer *w);

/* The key of the next object member (escaped like a string). */
void jsonw_key(struct json_writer *w, const char *key);

/* Values: a string (NUL-terminated, or len bytes), integers, a boolean, null. Strings are
 * escaped as json-c does; their bytes are not checked to be UTF-8. */
void jsonw_str(struct json_writer *w, const char *s);
void jsonw_str_len(struct json_writer *w, const char *s, size_t len);
void jsonw_u64(struct json_writer *w, uint64_t v);
void jsonw_i64(struct json_writer *w, int64_t v);
void jsonw_bool(struct json_writer *w, bool v);
void jsonw_null(struct json_writer *w);

#endif /* HSTRACE_JSON_BUILD_H */
