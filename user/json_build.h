/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * json_build.h - JSON output, two ways:
 *
 * - helpers that build json-c objects with one error path (reports, read rarely): every
 *   function takes ownership of the value it is given (freeing it on failure), and a NULL
 *   value (a failed allocation) is reported as -ENOMEM. Callers chain them:
 *   err = err ?: json_add(...).
 *
 *   Keys are not copied (json-c's JSON_C_OBJECT_ADD_CONSTANT_KEY: one malloc and free less per
 *   key): a key must stay valid until obj is freed. String literals and names owned by the
 *   timeline or report being rendered qualify; every renderer frees its objects before
 *   returning.
 *
 * - a streaming writer (struct json_writer, jsonw_*()) for what is written for every
 *   connection: the same text, without an object tree. See below.
 */
#ifndef HSTRACE_JSON_BUILD_H
#define HSTRACE_JSON_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
 * Why not a library's generator: on tools/bench_replay.c's lines, json-c took 212k
 * instructions per line (object tree, then serialisation) and yajl's yajl_gen (Debian
 * libyajl-dev) 136k (byte-by-byte escaping through callbacks, printf for integers), this
 * writer about 28k; and yajl escapes control characters with uppercase hex digits, so its text
 * would differ from json-c's. Since (strings checked and copied 8 bytes at a time, integers
 * two digits a step, a member's key and value in one step: jsonw_member_*()), a whole
 * render_json_line() takes half the instructions it took (37k -> 19k on those lines).
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
 *	jsonw_key_lit(&w, "n");
 *	jsonw_u64(&w, 1);
 *	jsonw_end_object(&w);
 *	err = jsonw_error(&w);
 *	if (!err && fwrite(jsonw_text(&w), 1, jsonw_len(&w), out) != jsonw_len(&w))
 *		err = -EIO;
 *	jsonw_free(&w);
 */
struct json_writer {
	char *buf;	 /* the text so far, not NUL-terminated */
	size_t len;
	size_t cap;	 /* bytes buf has room for; len once err is set, so that every
			  * reservation fails without testing err */
	char *init_buf;	 /* the caller's buffer, never freed */
	size_t init_cap;
	bool first;	 /* nothing written yet in the innermost object or array */
	bool after_key;	 /* a key was written: its value comes next, without a comma */
	int err;	 /* 0, or -ENOMEM once an allocation failed */
};

/* Starts an empty text in buf (cap bytes, may be 0 with buf NULL). */
void jsonw_init(struct json_writer *w, char *buf, size_t cap);

/* Frees what the writer allocated (not the caller's buffer) and empties it: it can be used
 * again as if just initialised. */
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

/*
 * The calls below that a renderer makes for every member are inline, with their common case
 * (room in the buffer) in line and a literal key's bytes copied by a few stores: a line has a
 * hundred and more of them.
 */

/* Grows the buffer for n more bytes (for the inline functions). Returns false, with the
 * writer's error set to -ENOMEM, when it cannot (or could not before). */
bool jsonw_grow(struct json_writer *w, size_t n);

/* Makes room for n more bytes (n > 0). Returns false when out of memory. */
static inline bool jsonw_reserve(struct json_writer *w, size_t n)
{
	if (__builtin_expect(w->cap - w->len >= n, 1))
		return true;
	return jsonw_grow(w, n);
}

/* Before a value or a key: the comma that separates it from the previous one, if any (none
 * after a key, nor first in its object or array), with room for `more` bytes after it. Returns
 * false when out of memory. */
static inline bool jsonw_separate(struct json_writer *w, size_t more)
{
	size_t comma = !w->after_key && !w->first;

	w->after_key = false;
	w->first = false;
	if (!jsonw_reserve(w, more + 1))
		return false;
	w->buf[w->len] = ','; /* without a branch: kept only when wanted */
	w->len += comma;
	return true;
}

/* Appends raw bytes (no separator, no escaping): e.g. a newline after the value. */
static inline void jsonw_raw(struct json_writer *w, const char *s, size_t len)
{
	if (!len || !jsonw_reserve(w, len))
		return;
	memcpy(w->buf + w->len, s, len);
	w->len += len;
}

/* Objects and arrays: start, then members (a key and a value) or elements, then end. */
static inline void jsonw_open(struct json_writer *w, char c)
{
	if (jsonw_separate(w, 1))
		w->buf[w->len++] = c;
	w->first = true;
}

static inline void jsonw_close(struct json_writer *w, char c)
{
	if (jsonw_reserve(w, 1))
		w->buf[w->len++] = c;
	w->first = false;
	w->after_key = false;
}

static inline void jsonw_start_object(struct json_writer *w)
{
	jsonw_open(w, '{');
}

static inline void jsonw_end_object(struct json_writer *w)
{
	jsonw_close(w, '}');
}

static inline void jsonw_start_array(struct json_writer *w)
{
	jsonw_open(w, '[');
}

static inline void jsonw_end_array(struct json_writer *w)
{
	jsonw_close(w, ']');
}

/* The key of the next object member, a string literal with nothing to escape in it (no
 * control character, '"' or '\\'): its quotes are added at compile time and it is copied as
 * it is. */
#define jsonw_key_lit(w, lit) jsonw_key_quoted(w, "\"" lit "\":", sizeof("\"" lit "\":") - 1)

/* The same for a key already quoted and followed by its colon (len bytes). */
static inline void jsonw_key_quoted(struct json_writer *w, const char *quoted, size_t len)
{
	if (!jsonw_separate(w, len))
		return;
	memcpy(w->buf + w->len, quoted, len);
	w->len += len;
	w->after_key = true;
}

/* The key of the next object member (escaped like a string): NUL-terminated, or len bytes. */
void jsonw_key_len(struct json_writer *w, const char *key, size_t len);

static inline void jsonw_key(struct json_writer *w, const char *key)
{
	jsonw_key_len(w, key, strlen(key)); /* inline: a literal's length is known */
}

/* Values: a string (len bytes, or NUL-terminated), integers, a boolean, null. Strings are
 * escaped as json-c does; their bytes are not checked to be UTF-8. */
void jsonw_str_len(struct json_writer *w, const char *s, size_t len);

static inline void jsonw_str(struct json_writer *w, const char *s)
{
	jsonw_str_len(w, s, strlen(s));
}

void jsonw_u64(struct json_writer *w, uint64_t v);
void jsonw_i64(struct json_writer *w, int64_t v);
void jsonw_bool(struct json_writer *w, bool v);
void jsonw_null(struct json_writer *w);

/* A value given as its JSON text (len bytes), copied as it is after a separator. */
static inline void jsonw_value_text(struct json_writer *w, const char *text, size_t len)
{
	if (!jsonw_separate(w, len))
		return;
	memcpy(w->buf + w->len, text, len);
	w->len += len;
}

/* A string literal with nothing to escape in it (as for jsonw_key_lit()), quoted at compile
 * time and copied as it is. */
#define jsonw_str_lit(w, lit) jsonw_value_text(w, "\"" lit "\"", sizeof("\"" lit "\"") - 1)

/*
 * Whole members, a literal key (as for jsonw_key_lit()) and its value in one step, with one
 * separator and one room check: the same text as jsonw_key_lit() followed by jsonw_str_lit(),
 * jsonw_i64(), jsonw_u64(), jsonw_str() or jsonw_bool(w, true). A line has a hundred and more
 * of them.
 */
#define jsonw_member_str_lit(w, key, lit) \
	jsonw_value_text(w, "\"" key "\":\"" lit "\"", sizeof("\"" key "\":\"" lit "\"") - 1)
#define jsonw_member_i64(w, key, v) \
	jsonw_member_quoted_i64(w, "\"" key "\":", sizeof("\"" key "\":") - 1, v)
#define jsonw_member_u64(w, key, v) \
	jsonw_member_quoted_u64(w, "\"" key "\":", sizeof("\"" key "\":") - 1, v)
#define jsonw_member_str(w, key, s) \
	jsonw_member_quoted_cstr(w, "\"" key "\":", sizeof("\"" key "\":") - 1, s)
#define jsonw_member_true(w, key) \
	jsonw_value_text(w, "\"" key "\":true", sizeof("\"" key "\":true") - 1)

/* The most bytes an integer takes: "-9223372036854775808", "18446744073709551615". */
#define JSONW_INT_MAX_LEN 20

/* For the inline functions: appends v in decimal, after a '-' when minus is set, with room
 * for JSONW_INT_MAX_LEN bytes reserved (and no separator). */
void jsonw_put_decimal(struct json_writer *w, uint64_t v, bool minus);

/* For the inline functions: appends s (len bytes) as a string, escaped as jsonw_str_len()
 * does, with no separator. */
void jsonw_put_str(struct json_writer *w, const char *s, size_t len);

/* The member whose key is already quoted and followed by its colon (len bytes), and whose
 * value is the string s (slen bytes). */
static inline void jsonw_member_quoted_str(struct json_writer *w, const char *quoted, size_t len,
					   const char *s, size_t slen)
{
	if (!jsonw_separate(w, len))
		return;
	memcpy(w->buf + w->len, quoted, len);
	w->len += len;
	jsonw_put_str(w, s, slen);
}

static inline void jsonw_member_quoted_cstr(struct json_writer *w, const char *quoted, size_t len,
					    const char *s)
{
	jsonw_member_quoted_str(w, quoted, len, s, strlen(s));
}

/* The member whose key is already quoted and followed by its colon (len bytes), and whose
 * value is v, or -v when minus is set. */
static inline void jsonw_member_quoted_int(struct json_writer *w, const char *quoted, size_t len,
					   uint64_t v, bool minus)
{
	if (!jsonw_separate(w, len + JSONW_INT_MAX_LEN))
		return;
	memcpy(w->buf + w->len, quoted, len);
	w->len += len;
	jsonw_put_decimal(w, v, minus);
}

static inline void jsonw_member_quoted_i64(struct json_writer *w, const char *quoted, size_t len,
					   int64_t v)
{
	jsonw_member_quoted_int(w, quoted, len, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

static inline void jsonw_member_quoted_u64(struct json_writer *w, const char *quoted, size_t len,
					   uint64_t v)
{
	jsonw_member_quoted_int(w, quoted, len, v, false);
}

#endif /* HSTRACE_JSON_BUILD_H */
