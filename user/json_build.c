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

/* Out of memory: the error is set, and cap = len makes every later reservation fail. */
static void jsonw_fail(struct json_writer *w)
{
	w->err = -ENOMEM;
	w->cap = w->len;
}

bool jsonw_grow(struct json_writer *w, size_t n)
{
	size_t cap;
	char *buf;

	if (w->err)
		return false;
	/* A text this large cannot be: refuse before the doubling below overflows. */
	if (n > SIZE_MAX / 4 - w->len) {
		jsonw_fail(w);
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
		jsonw_fail(w);
		return false;
	}
	w->buf = buf;
	w->cap = cap;
	return true;
}

/* Whether any of the 8 bytes of x needs escaping: below 0x20, '"' or '\\' (the "has a byte
 * less than n" and "has a zero byte" word tests: exact for the word as a whole). */
static inline bool word_needs_escape(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');

	return (((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
		((backslash - ones) & ~backslash)) & high;
}

/* From the first byte to escape on (s, len bytes, the opening quote and the bytes before it
 * written): the rest of jsonw_quoted(), byte by byte, with `more` bytes reserved after it.
 * Out of line: the usual string never comes here. */
static void __attribute__((noinline, cold))
jsonw_quoted_escape(struct json_writer *w, const char *s, size_t len, size_t more)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i, start = 0;
	char *o;

	/* At most 6 bytes for each byte. */
	if (len > SIZE_MAX / 8) {
		jsonw_fail(w);
		return;
	}
	if (!jsonw_reserve(w, len * 6 + 1 + more))
		return;
	o = w->buf + w->len;
	for (i = 0; i < len; i++) {
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

/*
 * Copies s (len bytes) to o up to its first byte to escape, checking and copying 8 bytes at a
 * time (a short string as two overlapping halves, or as its first, middle and last bytes).
 * Returns how many bytes were copied, all of them when there is nothing to escape; the first
 * byte to escape is at or after that count. o has room for len bytes.
 */
static inline size_t copy_plain(char *o, const char *s, size_t len)
{
	const uint64_t ones = 0x0101010101010101ULL;
	uint32_t lo, hi;
	uint64_t x;
	size_t i;

	if (len >= 8) {
		for (i = 0; i + 8 <= len; i += 8) {
			memcpy(&x, s + i, 8);
			if (word_needs_escape(x))
				return i;
			memcpy(o + i, &x, 8);
		}
		if (i == len)
			return len;
		memcpy(&x, s + len - 8, 8); /* the last 8, overlapping bytes already checked */
		if (word_needs_escape(x))
			return i;
		memcpy(o + len - 8, &x, 8);
		return len;
	}
	if (len >= 4) {
		memcpy(&lo, s, 4);
		memcpy(&hi, s + len - 4, 4);
		if (word_needs_escape(lo | (uint64_t)hi << 32))
			return 0;
		memcpy(o, &lo, 4);
		memcpy(o + len - 4, &hi, 4);
		return len;
	}
	if (!len)
		return 0;
	/* 1 to 3 bytes, padded with 'a' (nothing to escape). */
	x = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[len / 2] << 8 |
	    (uint64_t)(unsigned char)s[len - 1] << 16 | (ones * 'a') << 24;
	if (word_needs_escape(x))
		return 0;
	o[0] = s[0];
	o[len / 2] = s[len / 2];
	o[len - 1] = s[len - 1];
	return len;
}

/*
 * Appends s between quotes, escaped as json-c 0.16's json_escape_str() does with
 * JSON_C_TO_STRING_NOSLASHESCAPE: \b \f \n \r \t \" \\ by name, other bytes below 0x20 as
 * \u00xx (lowercase hex), every other byte as it is. `more` bytes are reserved after it.
 *
 * The usual string has nothing to escape: room for it as it is, then copy_plain(); from the
 * first byte to escape on, jsonw_quoted_escape() takes over.
 */
static void jsonw_quoted(struct json_writer *w, const char *s, size_t len, size_t more)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;
	char *o;

	if (len > SIZE_MAX / 8) {
		jsonw_fail(w);
		return;
	}
	if (!jsonw_reserve(w, len + 2 + more))
		return;
	o = w->buf + w->len;
	*o++ = '"';
	i = copy_plain(o, s, len);
	if (i == len) {
		o[len] = '"';
		w->len += len + 2;
		return;
	}
	for (; i < len && !needs_escape[p[i]]; i++)
		o[i] = (char)p[i];
	w->len += 1 + i;
	jsonw_quoted_escape(w, s + i, len - i, more);
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

void jsonw_put_str(struct json_writer *w, const char *s, size_t len)
{
	jsonw_quoted(w, s, len, 0);
}

/* "00" to "99": two digits a step. */
static const char digit_pairs[201] = "0001020304050607080910111213141516171819"
				     "2021222324252627282930313233343536373839"
				     "4041424344454647484950515253545556575859"
				     "6061626364656667686970717273747576777879"
				     "8081828384858687888990919293949596979899";

/* How many decimal digits v has (1 to 20). */
static size_t u64_len(uint64_t v)
{
	size_t n = 1;

	for (; v >= 10000; v /= 10000)
		n += 4;
	if (v >= 100) {
		n += 2;
		v /= 100;
	}
	return n + (v >= 10);
}

/* Writes v in decimal into the bytes before end (u64_len(v) of them). */
static void u64_digits(char *end, uint64_t v)
{
	while (v >= 100) {
		end -= 2;
		memcpy(end, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		end -= 2;
		memcpy(end, digit_pairs + 2 * v, 2);
	} else {
		*--end = (char)('0' + v);
	}
}

void jsonw_put_decimal(struct json_writer *w, uint64_t v, bool minus)
{
	char *o = w->buf + w->len;
	size_t n;

	*o = '-'; /* overwritten by the digits when not minus */
	o += minus;
	/* Most numbers in a line are small (µs offsets, lengths, indices). */
	if (v < 10) {
		*o++ = (char)('0' + v);
	} else if (v < 100) {
		memcpy(o, digit_pairs + 2 * v, 2);
		o += 2;
	} else if (v < 1000) {
		*o = (char)('0' + v / 100);
		memcpy(o + 1, digit_pairs + 2 * (v % 100), 2);
		o += 3;
	} else {
		n = u64_len(v);
		u64_digits(o + n, v);
		o += n;
	}
	w->len = (size_t)(o - w->buf);
}

void jsonw_u64(struct json_writer *w, uint64_t v)
{
	if (jsonw_separate(w, JSONW_INT_MAX_LEN))
		jsonw_put_decimal(w, v, false);
}

void jsonw_i64(struct json_writer *w, int64_t v)
{
	if (jsonw_separate(w, JSONW_INT_MAX_LEN))
		jsonw_put_decimal(w, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0);
}

void jsonw_bool(struct json_writer *w, bool v)
{
	if (v)
		jsonw_value_text(w, "true", 4);
	else
		jsonw_value_text(w, "false", 5);
}

void jsonw_null(struct json_writer *w)
{
	jsonw_value_text(w, "null", 4);
}
