// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- streaming writer ---- */

/* Bytes json-c escapes in strings: control characters, '"' and '\\' ('/' is not, with
 * JSON_C_TO_STRING_NOSLASHESCAPE). */
static const uint8_t needs_escape[256] = {
	[0 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
};

void jsonw_init(struct json_writer *w, char *buf, size_t cap)
{
	w->buf = buf;
	w->len = 0;
	w->cap = buf ? cap : 0;
	w->init_buf = w->buf;
	w->init_cap = w->cap;
	w->first = true;
	w->after_key = false;
	w->err = 0;
}

void jsonw_free(struct json_writer *w)
{
	if (w->buf != w->init_buf)
		free(w->buf);
	jsonw_init(w, w->init_buf, w->init_cap);
}

bool jsonw_grow(struct json_writer *w, size_t n)
{
	size_t cap;
	char *buf;

	if (w->err)
		return false;
	/* A text this large cannot be: refuse before the doubling below overflows. */
	if (n > SIZE_MAX / 4 - w->len) {
		w->err = -ENOMEM;
		return false;
	}
	cap = w->cap ? w->cap * 2 : 256;
	while (cap - w->len < n)
		cap *= 2;
	if (w->buf == w->init_buf) {
		buf = malloc(cap);
		if (buf && w->len)
			memcpy(buf, w->buf, w->len);
	} else {
		buf = realloc(w->buf, cap);
	}
	if (!buf) {
		w->err = -ENOMEM;
		return false;
	}
	w->buf = buf;
	w->cap = cap;
	return true;
}

/*
 * Appends s between quotes, escaped as json-c 0.16's json_escape_str() does with
 * JSON_C_TO_STRING_NOSLASHESCAPE: \b \f \n \r \t \" \\ by name, other bytes below 0x20 as
 * \u00xx (lowercase hex), every other byte as it is. `more` bytes are reserved after it.
 */
static void jsonw_quoted(struct json_writer *w, const char *s, size_t len, size_t more)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, start = 0;
	char *o;

	while (i < len && !needs_escape[p[i]])
		i++;
	/* Nothing to escape (the usual case): the bytes as they are; else at most 6 bytes for
	 * each byte from the first to escape on. */
	if (len - i > SIZE_MAX / 8) {
		w->err = w->err ?: -ENOMEM;
		return;
	}
	if (!jsonw_reserve(w, 2 + i + (len - i) * 6 + more))
		return;
	o = w->buf + w->len;
	*o++ = '"';
	for (; i < len; i++) {
		unsigned char c = p[i];

		if (!needs_escape[c])
			continue;
		memcpy(o, s + start, i - start);
		o += i - start;
		start = i + 1;
		*o++ = '\\';
		switch (c) {
		case '\b':
			*o++ = 'b';
			break;
		case '\f':
			*o++ = 'f';
			break;
		case '\n':
			*o++ = 'n';
			break;
		case '\r':
			*o++ = 'r';
			break;
		case '\t':
			*o++ = 't';
			break;
		case '"':
		case '\\':
			*o++ = (char)c;
			break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 0xf];
			o += 5;
			break;
		}
	}
	memcpy(o, s + start, len - start);
	o += len - start;
	*o++ = '"';
	w->len = (size_t)(o - w->buf);
}

void jsonw_key_len(struct json_writer *w, const char *key, size_t len)
{
	if (!jsonw_separate(w, 0))
		return;
	jsonw_quoted(w, key, len, 1);
	if (!w->err)
		w->buf[w->len++] = ':';
	w->after_key = true;
}

void jsonw_str_len(struct json_writer *w, const char *s, size_t len)
{
	if (jsonw_separate(w, 0))
		jsonw_quoted(w, s, len, 0);
}

/* Writes v in decimal into the bytes before end; returns how many. */
static size_t u64_digits(char *end, uint64_t v)
{
	size_t n = 0;

	do {
		*--end = (char)('0' + v % 10);
		n++;
		v /= 10;
	} while (v);
	return n;
}

/* Appends the n bytes of a number (or literal) at s, after a separator. */
static void jsonw_number(struct json_writer *w, const char *s, size_t n)
{
	if (!jsonw_separate(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

void jsonw_u64(struct json_writer *w, uint64_t v)
{
	char buf[20];
	size_t n = u64_digits(buf + sizeof(buf), v);

	jsonw_number(w, buf + sizeof(buf) - n, n);
}

void jsonw_i64(struct json_writer *w, int64_t v)
{
	char buf[21];
	size_t n = u64_digits(buf + sizeof(buf), v < 0 ? -(uint64_t)v : (uint64_t)v);

	if (v < 0)
		buf[sizeof(buf) - ++n] = '-';
	jsonw_number(w, buf + sizeof(buf) - n, n);
}

void jsonw_bool(struct json_writer *w, bool v)
{
	if (v)
		jsonw_number(w, "true", 4);
	else
		jsonw_number(w, "false", 5);
}

void jsonw_null(struct json_writer *w)
{
	jsonw_number(w, "null", 4);
}
