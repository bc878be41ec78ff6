// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_json_writer.c - the streaming JSON writer (jsonw_*) against json-c 0.16: for the same
 * values, added in the same order, the writer's text must be byte for byte what
 * json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
 * gives (the flags render_json.c used when it built json-c objects).
 *
 * Deterministic: every input comes from a fixed-seed generator. Covered: ~20,000 strings
 * (every byte value, control characters, '"', '\\', '/', DEL, valid and invalid UTF-8, empty
 * strings, strings over 4 KiB so the writer leaves its initial buffer) as values and as keys;
 * signed and unsigned 64-bit integers at and around their limits; booleans and null; the
 * whole-member helpers (jsonw_member_*()); random nested objects and arrays; and the writer's
 * state after success, after jsonw_free() and after a failed growth.
 *
 * The writer does not check UTF-8 (render_json.c repairs strings before writing them), so
 * invalid UTF-8 is fed to both sides as it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "json_build.h"

#define JSONC_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

#define N_STRINGS 20000
#define LONG_MIN_LEN 4097
#define LONG_MAX_LEN 20000

/* ---- fixed-seed generator (splitmix64) ---- */

static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed;
}

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return (size_t)(rng() % n);
}

/* ---- comparison ---- */

/* Prints len bytes C-escaped (for a reproducer). */
static void dump(const char *label, const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i, max = len > 512 ? 512 : len;

	fprintf(stderr, "%s (%zu bytes): \"", label, len);
	for (i = 0; i < max; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			fputc(s[i], stderr);
		else
			fprintf(stderr, "\\x%02x", s[i]);
	}
	fprintf(stderr, "\"%s\n", max < len ? "..." : "");
}

/*
 * Asserts the writer's text is json-c's text for o (plus `suffix`, what the writer appended
 * after the value with jsonw_raw()). in/in_len: the input, shown on a mismatch.
 */
static void expect_same_suffix(const struct json_writer *w, struct json_object *o,
			       const char *suffix, const void *in, size_t in_len, const char *what)
{
	size_t ref_len, suf_len = strlen(suffix);
	const char *ref = json_object_to_json_string_length(o, JSONC_FLAGS, &ref_len);

	assert_non_null(ref);
	assert_int_equal(jsonw_error(w), 0);
	if (jsonw_len(w) != ref_len + suf_len || memcmp(jsonw_text(w), ref, ref_len) ||
	    memcmp(jsonw_text(w) + ref_len, suffix, suf_len)) {
		fprintf(stderr, "json writer differs from json-c: %s\n", what);
		if (in)
			dump("input ", in, in_len);
		dump("json-c", ref, ref_len);
		dump("jsonw ", jsonw_text(w), jsonw_len(w));
		fail_msg("json writer differs from json-c: %s", what);
	}
}

static void expect_same(const struct json_writer *w, struct json_object *o, const void *in,
			size_t in_len, const char *what)
{
	expect_same_suffix(w, o, "", in, in_len, what);
}

/*
 * Writers reused (after jsonw_free()) from case to case, as the renderer's would be if it
 * kept one: on a 4 KiB buffer (the renderer's LINE_BUF_SIZE), on a small one, and on none.
 */
static char buf_4k[4096];
static char buf_small[16];

struct writers {
	struct json_writer w[3];
};

static void writers_init(struct writers *ws)
{
	jsonw_init(&ws->w[0], buf_4k, sizeof(buf_4k));
	jsonw_init(&ws->w[1], buf_small, sizeof(buf_small));
	jsonw_init(&ws->w[2], NULL, 0);
}

static void writers_free(struct writers *ws)
{
	for (int i = 0; i < 3; i++)
		jsonw_free(&ws->w[i]);
}

/* A writer as left by jsonw_free(): empty, no error, on its initial buffer. */
static void assert_fresh(const struct json_writer *w)
{
	assert_int_equal(jsonw_len(w), 0);
	assert_int_equal(jsonw_error(w), 0);
	assert_ptr_equal(w->buf, w->init_buf);
	assert_int_equal(w->cap, w->init_cap);
	assert_true(w->first);
	assert_false(w->after_key);
}

/* ---- string generators ---- */

static const unsigned char specials[] = { '"', '\\', '/', 0x7f, '\b', '\f', '\n', '\r', '\t',
					  0x00, 0x01, 0x0b, 0x1b, 0x1f, ' ',  0x80, 0xff };

/* Appends the UTF-8 encoding of cp (not checked: surrogates give their 3 bytes). */
static size_t put_utf8(unsigned char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xc0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xe0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A valid code point: ASCII, 2-, 3- (not a surrogate) or 4-byte. */
static uint32_t rand_code_point(void)
{
	uint32_t cp;

	switch (rng_below(4)) {
	case 0:
		return (uint32_t)rng_below(0x80);
	case 1:
		return 0x80 + (uint32_t)rng_below(0x800 - 0x80);
	case 2:
		do
			cp = 0x800 + (uint32_t)rng_below(0x10000 - 0x800);
		while (cp >= 0xd800 && cp <= 0xdfff);
		return cp;
	default:
		return 0x10000 + (uint32_t)rng_below(0x110000 - 0x10000);
	}
}

/* Broken UTF-8: each appended piece is at most 4 bytes. */
static size_t put_bad_utf8(unsigned char *o)
{
	static const unsigned char pieces[][5] = {
		{ 1, 0x80 },			 /* lone continuation */
		{ 1, 0xbf },			 /* lone continuation */
		{ 1, 0xc3 },			 /* truncated 2-byte */
		{ 2, 0xe2, 0x82 },		 /* truncated 3-byte */
		{ 3, 0xf0, 0x9f, 0x98 },	 /* truncated 4-byte */
		{ 2, 0xc0, 0x80 },		 /* overlong NUL */
		{ 2, 0xc1, 0xbf },		 /* overlong */
		{ 3, 0xe0, 0x80, 0xaf },	 /* overlong '/' */
		{ 4, 0xf0, 0x80, 0x80, 0xaf }, /* overlong '/' */
		{ 3, 0xed, 0xa0, 0x80 },	 /* surrogate U+D800 */
		{ 3, 0xed, 0xbf, 0xbf },	 /* surrogate U+DFFF */
		{ 4, 0xf4, 0x90, 0x80, 0x80 }, /* above U+10FFFF */
		{ 1, 0xf5 },			 /* never valid */
		{ 1, 0xfe },
		{ 1, 0xff },
		{ 2, 0xe2, 0x22 },		 /* lead then '"' */
		{ 2, 0xc3, 0x00 },		 /* lead then NUL */
	};
	const unsigned char *p = pieces[rng_below(sizeof(pieces) / sizeof(pieces[0]))];

	memcpy(o, p + 1, p[0]);
	return p[0];
}

enum kind { K_BYTES, K_ASCII_ESC, K_UTF8, K_BAD_UTF8, K_CONTROL, K_PLAIN, N_KINDS };

/* Fills s with about target bytes (at most target + 3) of the given kind; returns the length. */
static size_t gen_kind(unsigned char *s, size_t target, enum kind kind)
{
	size_t n = 0;

	while (n < target) {
		switch (kind) {
		case K_BYTES:
			s[n++] = (unsigned char)rng();
			break;
		case K_ASCII_ESC:
			if (rng_below(8) == 0)
				s[n++] = specials[rng_below(sizeof(specials))];
			else
				s[n++] = (unsigned char)(0x20 + rng_below(0x5f));
			break;
		case K_UTF8:
			if (target - n < 4)
				s[n++] = (unsigned char)(0x20 + rng_below(0x5f));
			else
				n += put_utf8(s + n, rand_code_point());
			break;
		case K_BAD_UTF8:
			if (target - n < 4)
				s[n++] = (unsigned char)(0x20 + rng_below(0x5f));
			else if (rng_below(3) == 0)
				n += put_bad_utf8(s + n);
			else
				n += put_utf8(s + n, rand_code_point());
			break;
		case K_CONTROL:
			s[n++] = rng_below(8) ? (unsigned char)rng_below(0x21) : 0x7f;
			break;
		default: /* K_PLAIN: nothing to escape */
			s[n++] = (unsigned char)(0x20 + rng_below(0x5f));
			if (s[n - 1] == '"' || s[n - 1] == '\\')
				s[n - 1] = '/';
			break;
		}
	}
	return n;
}

struct string_stats {
	size_t total, empty, long_, max_len, as_key, as_element;
	size_t kind[N_KINDS];
	bool seen[256];
};

/* Case i's string into s (LONG_MAX_LEN + 4 bytes); returns its length. */
static size_t gen_string(unsigned char *s, int i, struct string_stats *st)
{
	size_t len, k;

	if (i < 256) { /* every byte alone */
		s[0] = (unsigned char)i;
		return 1;
	}
	if (i == 256) { /* every byte in order */
		for (k = 0; k < 256; k++)
			s[k] = (unsigned char)k;
		return 256;
	}
	if (i == 257) /* empty */
		return 0;
	if (i % 200 == 0) { /* long: over 4 KiB */
		size_t target = LONG_MIN_LEN + rng_below(LONG_MAX_LEN - LONG_MIN_LEN - 4);

		switch (i / 200 % 4) {
		case 0: /* nothing to escape until the last byte */
			len = gen_kind(s, target - 1, K_PLAIN);
			s[len++] = '\n';
			break;
		case 1: /* everything escaped as \u00xx: the writer's worst case */
			for (len = 0; len < target; len++)
				s[len] = (unsigned char)(rng_below(2) ? 0x01 : 0x1f);
			break;
		default:
			len = gen_kind(s, target, (enum kind)rng_below(N_KINDS));
			break;
		}
		return len;
	}
	if (rng_below(100) == 0)
		return 0;
	k = rng_below(N_KINDS);
	st->kind[k]++;
	return gen_kind(s, rng_below(96), (enum kind)k);
}

/* {"k": s} (key written by jsonw_key_lit or jsonw_key), [s] and the bare string. */
static void check_string_value(struct json_writer *w, const unsigned char *s, size_t len, int i,
			       struct string_stats *st)
{
	struct json_object *o = json_object_new_object(), *a;
	char what[64];

	assert_non_null(o);
	assert_int_equal(json_object_object_add(o, "k", json_object_new_string_len((const char *)s,
										   (int)len)),
			 0);
	jsonw_start_object(w);
	if (i & 1)
		jsonw_key(w, "k");
	else
		jsonw_key_lit(w, "k");
	jsonw_str_len(w, (const char *)s, len);
	jsonw_end_object(w);
	snprintf(what, sizeof(what), "string case %d as {\"k\": s}", i);
	expect_same(w, o, s, len, what);
	json_object_put(o);
	jsonw_free(w);
	assert_fresh(w);

	if (i % 4)
		return;
	/* In an array after another element, and alone. */
	a = json_object_new_array();
	assert_non_null(a);
	assert_int_equal(json_object_array_add(a, json_object_new_string("x")), 0);
	assert_int_equal(json_object_array_add(a, json_object_new_string_len((const char *)s,
									      (int)len)),
			 0);
	jsonw_start_array(w);
	jsonw_str(w, "x");
	jsonw_str_len(w, (const char *)s, len);
	jsonw_end_array(w);
	snprintf(what, sizeof(what), "string case %d as [\"x\", s]", i);
	expect_same(w, a, s, len, what);
	json_object_put(a);
	jsonw_free(w);

	o = json_object_new_string_len((const char *)s, (int)len);
	assert_non_null(o);
	jsonw_str_len(w, (const char *)s, len);
	snprintf(what, sizeof(what), "string case %d alone", i);
	expect_same(w, o, s, len, what);
	json_object_put(o);
	jsonw_free(w);
	st->as_element++;
}

/*
 * s as a key (json-c takes keys NUL-terminated, so NULs become 0x01), written with jsonw_key
 * and jsonw_key_len, after a first member and followed by a second one.
 */
static void check_string_key(struct json_writer *w, const unsigned char *s, size_t len, int i)
{
	struct json_object *o = json_object_new_object();
	char *key = malloc(len + 1);
	char what[64];
	size_t k;

	assert_non_null(o);
	assert_non_null(key);
	for (k = 0; k < len; k++)
		key[k] = s[k] ? (char)s[k] : 0x01;
	key[len] = '\0';
	/* json-c would merge duplicate keys: keep the three distinct. */
	assert_int_equal(json_object_object_add(o, "\x02" "a", json_object_new_int64(1)), 0);
	assert_int_equal(json_object_object_add(o, key, json_object_new_string_len((const char *)s,
										     (int)len)),
			 0);
	assert_int_equal(json_object_object_add(o, "\x02" "b", NULL), 0);

	jsonw_start_object(w);
	jsonw_key(w, "\x02" "a");
	jsonw_i64(w, 1);
	if (i & 2)
		jsonw_key(w, key);
	else
		jsonw_key_len(w, key, len);
	jsonw_str_len(w, (const char *)s, len);
	jsonw_key_len(w, "\x02" "b", 2);
	jsonw_null(w);
	jsonw_end_object(w);
	snprintf(what, sizeof(what), "string case %d as a key", i);
	expect_same(w, o, key, len, what);
	json_object_put(o);
	jsonw_free(w);
	free(key);
}

static void test_strings(void **state)
{
	unsigned char *s = malloc(LONG_MAX_LEN + 4);
	struct string_stats st = { 0 };
	struct writers ws;
	int i;

	(void)state;
	assert_non_null(s);
	rng_seed(0x68737472616365ULL); /* "hstrace" */
	writers_init(&ws);
	for (i = 0; i < N_STRINGS; i++) {
		struct json_writer *w = &ws.w[i % 3];
		size_t len = gen_string(s, i, &st);

		assert_true(len <= LONG_MAX_LEN);
		st.total++;
		st.empty += len == 0;
		st.long_ += len > sizeof(buf_4k);
		if (len > st.max_len)
			st.max_len = len;
		for (size_t k = 0; k < len; k++)
			st.seen[s[k]] = true;
		check_string_value(w, s, len, i, &st);
		if (i < 300 || i % 3 == 0) {
			check_string_key(w, s, len, i);
			st.as_key++;
		}
	}
	writers_free(&ws);
	for (i = 0; i < 256; i++)
		assert_true(st.seen[i]);
	assert_true(st.empty >= 2);
	assert_true(st.long_ >= 50);
	printf("  strings: %zu ({\"k\": s} each; %zu also as array element and alone, %zu as a "
	       "key), %zu empty, %zu over 4 KiB (longest %zu), random kinds: bytes %zu, "
	       "ascii+escapes %zu, utf-8 %zu, bad utf-8 %zu, control %zu, plain %zu\n",
	       st.total, st.as_element, st.as_key, st.empty, st.long_, st.max_len,
	       st.kind[K_BYTES], st.kind[K_ASCII_ESC], st.kind[K_UTF8], st.kind[K_BAD_UTF8],
	       st.kind[K_CONTROL], st.kind[K_PLAIN]);
	free(s);
}

/* ---- integers, booleans, null ---- */

static const int64_t i64_special[] = {
	INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 0, -1, 1, 9, 10, -9, -10, 99, 100,
	-99, -100, 999, 1000, -999, -1000, INT32_MIN, INT32_MAX, (int64_t)INT32_MIN - 1,
	(int64_t)INT32_MAX + 1,
	999999999999999999LL, 1000000000000000000LL, -999999999999999999LL,
	-1000000000000000000LL,
};

static const uint64_t u64_special[] = {
	0, 1, 9, 10, 99, 100, 999, 1000, UINT32_MAX, (uint64_t)UINT32_MAX + 1, (uint64_t)INT64_MAX,
	(uint64_t)INT64_MAX + 1, UINT64_MAX, UINT64_MAX - 1, 9999999999999999999ULL,
	10000000000000000000ULL, 1000000000000000000ULL,
};

#define N_RANDOM_INTS 3000

/* A random value of random magnitude. */
static uint64_t rand_bits(void)
{
	return rng() >> rng_below(64);
}

static size_t int_cases;

static void check_i64(struct json_writer *w, int64_t v, struct json_object *arr)
{
	struct json_object *o = json_object_new_object();
	char what[64];

	assert_non_null(o);
	assert_int_equal(json_object_object_add(o, "k", json_object_new_int64(v)), 0);
	assert_int_equal(json_object_array_add(arr, json_object_new_int64(v)), 0);
	jsonw_start_object(w);
	jsonw_key_lit(w, "k");
	jsonw_i64(w, v);
	jsonw_end_object(w);
	snprintf(what, sizeof(what), "i64 %" PRId64, v);
	expect_same(w, o, NULL, 0, what);
	json_object_put(o);
	jsonw_free(w);
	int_cases++;
}

static void check_u64(struct json_writer *w, uint64_t v, struct json_object *arr)
{
	struct json_object *o = json_object_new_object();
	char what[64];

	assert_non_null(o);
	assert_int_equal(json_object_object_add(o, "k", json_object_new_uint64(v)), 0);
	assert_int_equal(json_object_array_add(arr, json_object_new_uint64(v)), 0);
	jsonw_start_object(w);
	jsonw_key_lit(w, "k");
	jsonw_u64(w, v);
	jsonw_end_object(w);
	snprintf(what, sizeof(what), "u64 %" PRIu64, v);
	expect_same(w, o, NULL, 0, what);
	json_object_put(o);
	jsonw_free(w);
	int_cases++;
}

static void test_integers(void **state)
{
	struct json_object *ai = json_object_new_array(), *au = json_object_new_array();
	struct writers ws;
	size_t i, ni = 0, nu = 0;

	(void)state;
	assert_non_null(ai);
	assert_non_null(au);
	rng_seed(0x696e7473ULL);
	writers_init(&ws);
	int_cases = 0;
	for (i = 0; i < sizeof(i64_special) / sizeof(i64_special[0]); i++, ni++)
		check_i64(&ws.w[i % 3], i64_special[i], ai);
	for (i = 0; i < sizeof(u64_special) / sizeof(u64_special[0]); i++, nu++)
		check_u64(&ws.w[i % 3], u64_special[i], au);
	for (i = 0; i < N_RANDOM_INTS; i++, ni++, nu++) {
		uint64_t b = rand_bits();

		check_i64(&ws.w[i % 3], rng_below(2) ? (int64_t)b : -(int64_t)(b >> 1), ai);
		check_u64(&ws.w[(i + 1) % 3], rand_bits(), au);
	}

	/* All of them in one array each (several KiB: the writer grows mid-array). Replayed
	 * from json-c's arrays, which hold the same values in the same order. */
	jsonw_start_array(&ws.w[0]);
	for (i = 0; i < json_object_array_length(ai); i++)
		jsonw_i64(&ws.w[0], json_object_get_int64(json_object_array_get_idx(ai, i)));
	jsonw_end_array(&ws.w[0]);
	expect_same(&ws.w[0], ai, NULL, 0, "array of every i64");
	assert_true(jsonw_len(&ws.w[0]) > sizeof(buf_4k));
	jsonw_free(&ws.w[0]);

	jsonw_start_array(&ws.w[1]);
	for (i = 0; i < json_object_array_length(au); i++)
		jsonw_u64(&ws.w[1], json_object_get_uint64(json_object_array_get_idx(au, i)));
	jsonw_end_array(&ws.w[1]);
	expect_same(&ws.w[1], au, NULL, 0, "array of every u64");
	jsonw_free(&ws.w[1]);

	json_object_put(ai);
	json_object_put(au);
	writers_free(&ws);
	printf("  integers: %zu i64 and %zu u64 values as {\"k\": v}, plus one array of each\n",
	       ni, nu);
	assert_int_equal(int_cases, ni + nu);
}

static void test_bool_null(void **state)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array(), *v;
	struct json_writer w;
	char buf[8];

	(void)state;
	jsonw_init(&w, buf, sizeof(buf));
	assert_non_null(o);
	assert_non_null(a);
	assert_int_equal(json_object_object_add(o, "t", json_object_new_boolean(1)), 0);
	assert_int_equal(json_object_object_add(o, "f", json_object_new_boolean(0)), 0);
	assert_int_equal(json_object_object_add(o, "n", NULL), 0);
	jsonw_start_object(&w);
	jsonw_key_lit(&w, "t");
	jsonw_bool(&w, true);
	jsonw_key_lit(&w, "f");
	jsonw_bool(&w, false);
	jsonw_key_lit(&w, "n");
	jsonw_null(&w);
	jsonw_end_object(&w);
	expect_same(&w, o, NULL, 0, "{t, f, n}");
	jsonw_free(&w);

	assert_int_equal(json_object_array_add(a, NULL), 0);
	assert_int_equal(json_object_array_add(a, json_object_new_boolean(1)), 0);
	assert_int_equal(json_object_array_add(a, json_object_new_boolean(0)), 0);
	assert_int_equal(json_object_array_add(a, NULL), 0);
	jsonw_start_array(&w);
	jsonw_null(&w);
	jsonw_bool(&w, true);
	jsonw_bool(&w, false);
	jsonw_null(&w);
	jsonw_end_array(&w);
	expect_same(&w, a, NULL, 0, "[null, true, false, null]");
	jsonw_free(&w);

	/* Alone. */
	jsonw_null(&w);
	expect_same(&w, NULL, NULL, 0, "null alone");
	jsonw_free(&w);
	for (int b = 0; b < 2; b++) {
		v = json_object_new_boolean(b);
		jsonw_bool(&w, b);
		expect_same(&w, v, NULL, 0, "boolean alone");
		json_object_put(v);
		jsonw_free(&w);
	}
	json_object_put(o);
	json_object_put(a);
	printf("  booleans and null: 4 cases\n");
}

/* ---- whole members (jsonw_member_*) ---- */

#define N_MEMBER_OBJECTS 3000

/*
 * {"t": true, "i": i64, "u": u64, "s": string, "l": "lit"} with the member helpers, each value
 * random (the integers also at their limits; the strings of every kind, NUL-free, now and
 * then over 4 KiB), against json-c: the same text as a key and its value written apart.
 */
static void test_members(void **state)
{
	static unsigned char s[LONG_MIN_LEN + 1000];
	size_t n_i = sizeof(i64_special) / sizeof(i64_special[0]);
	size_t n_u = sizeof(u64_special) / sizeof(u64_special[0]);
	struct writers ws;
	size_t i, k, len, over_4k = 0;

	(void)state;
	rng_seed(0x6d656d62ULL);
	writers_init(&ws);
	for (i = 0; i < N_MEMBER_OBJECTS; i++) {
		struct json_writer *w = &ws.w[i % 3];
		struct json_object *o = json_object_new_object(), *v;
		uint64_t b = rand_bits(), uv = i < n_u ? u64_special[i] : rand_bits();
		int64_t iv = rng_below(2) ? (int64_t)b : -(int64_t)(b >> 1);
		char what[64];

		assert_non_null(o);
		if (i < n_i)
			iv = i64_special[i];
		len = rng_below(60) ? rng_below(40) : LONG_MIN_LEN + rng_below(1000);
		len = gen_kind(s, len, (enum kind)rng_below(N_KINDS));
		for (k = 0; k < len; k++)
			s[k] = s[k] ? s[k] : '\n';
		s[len] = '\0';
		over_4k += len > sizeof(buf_4k);

		assert_int_equal(json_object_object_add(o, "t", json_object_new_boolean(1)), 0);
		assert_int_equal(json_object_object_add(o, "i", json_object_new_int64(iv)), 0);
		assert_int_equal(json_object_object_add(o, "u", json_object_new_uint64(uv)), 0);
		v = json_object_new_string((const char *)s);
		assert_int_equal(json_object_object_add(o, "s", v), 0);
		assert_int_equal(json_object_object_add(o, "l", json_object_new_string("lit")), 0);
		jsonw_start_object(w);
		jsonw_member_true(w, "t");
		jsonw_member_i64(w, "i", iv);
		jsonw_member_u64(w, "u", uv);
		jsonw_member_str(w, "s", (const char *)s);
		jsonw_member_str_lit(w, "l", "lit");
		jsonw_end_object(w);
		snprintf(what, sizeof(what), "members #%zu", i);
		expect_same(w, o, s, len, what);
		json_object_put(o);
		jsonw_free(w);
	}

	/* A literal string alone and in an array. */
	jsonw_str_lit(&ws.w[1], "x");
	assert_int_equal(jsonw_len(&ws.w[1]), 3);
	assert_memory_equal(jsonw_text(&ws.w[1]), "\"x\"", 3);
	jsonw_free(&ws.w[1]);
	jsonw_start_array(&ws.w[2]);
	jsonw_str_lit(&ws.w[2], "a");
	jsonw_str_lit(&ws.w[2], "b");
	jsonw_end_array(&ws.w[2]);
	assert_int_equal(jsonw_len(&ws.w[2]), 9);
	assert_memory_equal(jsonw_text(&ws.w[2]), "[\"a\",\"b\"]", 9);
	writers_free(&ws);
	assert_true(over_4k >= 20);
	printf("  members: %d objects of 5 (true, i64, u64, string, literal), %zu strings over "
	       "4 KiB\n", N_MEMBER_OBJECTS, over_4k);
}

/* ---- nested objects and arrays ---- */

#define N_TREES 600

static size_t tree_nodes, tree_max_len, tree_over_4k;

/* A NUL-free key with characters that need escaping, unique in its object through "#j". */
static char *rand_key(int j)
{
	unsigned char pre[24];
	size_t n = gen_kind(pre, rng_below(12), (enum kind)rng_below(N_KINDS)), k;
	char *key = malloc(n + 16);

	assert_non_null(key);
	for (k = 0; k < n; k++)
		key[k] = pre[k] ? (char)pre[k] : '\n';
	snprintf(key + n, 16, "#%d", j);
	return key;
}

/* Writes a random value with w and returns the same value as a json-c object (NULL: null). */
static struct json_object *gen_tree(struct json_writer *w, int depth)
{
	static unsigned char s[6000];
	struct json_object *o;
	size_t len;
	int type = (int)rng_below(depth < 6 ? 9 : 6), n, j;
	uint64_t u;
	int64_t v;

	tree_nodes++;
	switch (type) {
	case 0:
	case 1:
		/* Now and then over 4 KiB: the writer grows in the middle of a text. */
		len = rng_below(60) ? rng_below(40) : LONG_MIN_LEN + rng_below(1000);
		len = gen_kind(s, len, (enum kind)rng_below(N_KINDS));
		jsonw_str_len(w, (const char *)s, len);
		o = json_object_new_string_len((const char *)s, (int)len);
		break;
	case 2:
		u = rand_bits();
		v = rng_below(2) ? (int64_t)u : -(int64_t)(u >> 1);
		jsonw_i64(w, v);
		o = json_object_new_int64(v);
		break;
	case 3:
		u = rand_bits();
		jsonw_u64(w, u);
		o = json_object_new_uint64(u);
		break;
	case 4:
		j = (int)rng_below(2);
		jsonw_bool(w, j);
		o = json_object_new_boolean(j);
		break;
	case 5:
		jsonw_null(w);
		return NULL;
	case 6:
	case 7:
		n = (int)rng_below(5);
		o = json_object_new_object();
		assert_non_null(o);
		jsonw_start_object(w);
		for (j = 0; j < n; j++) {
			char *key;

			if (j == 0 && rng_below(3) == 0) {
				jsonw_key_lit(w, "lit");
				key = strdup("lit"); /* rand_key()s all contain '#' */
			} else {
				key = rand_key(j);
				if (rng_below(2))
					jsonw_key(w, key);
				else
					jsonw_key_len(w, key, strlen(key));
			}
			assert_non_null(key);
			assert_int_equal(json_object_object_add(o, key, gen_tree(w, depth + 1)), 0);
			free(key);
		}
		jsonw_end_object(w);
		return o;
	default:
		n = (int)rng_below(5);
		o = json_object_new_array();
		assert_non_null(o);
		jsonw_start_array(w);
		for (j = 0; j < n; j++)
			assert_int_equal(json_object_array_add(o, gen_tree(w, depth + 1)), 0);
		jsonw_end_array(w);
		return o;
	}
	assert_non_null(o);
	return o;
}

static void test_nested(void **state)
{
	struct writers ws;
	char what[64];
	int i;

	(void)state;
	rng_seed(0x74726565ULL);
	writers_init(&ws);
	tree_nodes = tree_max_len = tree_over_4k = 0;
	for (i = 0; i < N_TREES; i++) {
		struct json_writer *w = &ws.w[i % 3];
		struct json_object *o;
		bool newline = i % 5 == 0;

		/* Mostly an object at the top, as the renderer writes. */
		if (i % 4) {
			int n = 1 + (int)rng_below(6), j;

			o = json_object_new_object();
			assert_non_null(o);
			jsonw_start_object(w);
			for (j = 0; j < n; j++) {
				char *key = rand_key(j);

				jsonw_key(w, key);
				assert_int_equal(json_object_object_add(o, key, gen_tree(w, 1)), 0);
				free(key);
			}
			jsonw_end_object(w);
		} else {
			o = gen_tree(w, 0);
		}
		if (newline) /* as render_json.c ends a line */
			jsonw_raw(w, "\n", 1);
		snprintf(what, sizeof(what), "nested case %d", i);
		expect_same_suffix(w, o, newline ? "\n" : "", NULL, 0, what);
		if (jsonw_len(w) > tree_max_len)
			tree_max_len = jsonw_len(w);
		tree_over_4k += jsonw_len(w) > sizeof(buf_4k);
		json_object_put(o);
		jsonw_free(w);
		assert_fresh(w);
	}
	writers_free(&ws);
	/* Empty containers. */
	{
		struct json_object *o = json_object_new_object(), *a = json_object_new_array();
		struct json_writer w;

		jsonw_init(&w, NULL, 0);
		assert_int_equal(json_object_object_add(o, "o", json_object_new_object()), 0);
		assert_int_equal(json_object_object_add(o, "a", a), 0);
		assert_int_equal(json_object_array_add(a, json_object_new_array()), 0);
		assert_int_equal(json_object_array_add(a, json_object_new_object()), 0);
		jsonw_start_object(&w);
		jsonw_key_lit(&w, "o");
		jsonw_start_object(&w);
		jsonw_end_object(&w);
		jsonw_key_lit(&w, "a");
		jsonw_start_array(&w);
		jsonw_start_array(&w);
		jsonw_end_array(&w);
		jsonw_start_object(&w);
		jsonw_end_object(&w);
		jsonw_end_array(&w);
		jsonw_end_object(&w);
		expect_same(&w, o, NULL, 0, "empty containers");
		json_object_put(o);
		jsonw_free(&w);
	}
	printf("  nested: %d random trees (%zu values, longest text %zu bytes, %zu over 4 KiB) "
	       "plus empty containers\n",
	       N_TREES, tree_nodes, tree_max_len, tree_over_4k);
}

/* ---- writer state: success, jsonw_free(), failed growth ---- */

static void test_free_reuse(void **state)
{
	char buf[16], big[5000];
	struct json_writer w;

	(void)state;
	memset(big, 'a', sizeof(big));

	/* On the caller's buffer, then on the heap, freed in the middle of an object (after a
	 * key) and of an array (after an element): the next text starts clean. */
	jsonw_init(&w, buf, sizeof(buf));
	assert_fresh(&w);
	jsonw_start_object(&w);
	jsonw_key_lit(&w, "a");
	assert_int_equal(jsonw_error(&w), 0);
	assert_ptr_equal(jsonw_text(&w), buf);
	jsonw_free(&w);
	assert_fresh(&w);
	assert_ptr_equal(w.buf, buf);

	jsonw_start_array(&w);
	jsonw_str_len(&w, big, sizeof(big));
	assert_int_equal(jsonw_error(&w), 0);
	assert_ptr_not_equal(jsonw_text(&w), buf);
	assert_int_equal(jsonw_len(&w), 1 + sizeof(big) + 2);
	jsonw_free(&w);
	assert_fresh(&w);
	assert_ptr_equal(w.buf, buf);

	jsonw_start_object(&w);
	jsonw_key_lit(&w, "n");
	jsonw_u64(&w, 1);
	jsonw_end_object(&w);
	assert_int_equal(jsonw_error(&w), 0);
	assert_int_equal(jsonw_len(&w), 7);
	assert_memory_equal(jsonw_text(&w), "{\"n\":1}", 7);
	jsonw_free(&w);
	jsonw_free(&w); /* twice is fine */
	assert_fresh(&w);

	/* Without a buffer of its own. */
	jsonw_init(&w, NULL, 0);
	assert_fresh(&w);
	jsonw_free(&w);
	assert_fresh(&w);
	jsonw_str(&w, "x");
	assert_int_equal(jsonw_error(&w), 0);
	assert_memory_equal(jsonw_text(&w), "\"x\"", 3);
	jsonw_free(&w);
	assert_fresh(&w);
	assert_null(w.buf);
	jsonw_null(&w);
	assert_int_equal(jsonw_len(&w), 4);
	assert_memory_equal(jsonw_text(&w), "null", 4);
	jsonw_free(&w);
}

/*
 * A growth that fails: json_build.h has no allocation hook, but asking jsonw_raw() for more
 * room than malloc() can give fails the same way: the buffer would grow to 2^62 bytes (from
 * any power-of-two capacity), more than a 64-bit process's address space, so malloc() and
 * realloc() return NULL. Nothing is copied: the reservation fails first.
 */
static void check_growth_failure(struct json_writer *w)
{
	volatile size_t huge = (size_t)(UINT64_C(1) << 61) + 1;
	const char *before;
	size_t len;

	jsonw_start_object(w);
	jsonw_key_lit(w, "k");
	len = jsonw_len(w);
	before = jsonw_text(w);
	jsonw_raw(w, "x", huge);
	assert_int_equal(jsonw_error(w), -ENOMEM);
	assert_int_equal(jsonw_len(w), len);
	assert_ptr_equal(jsonw_text(w), before); /* the old buffer is kept (freed by jsonw_free) */

	/* Sticky: nothing else is written. */
	jsonw_str(w, "v");
	jsonw_str_len(w, "\n\n", 2);
	jsonw_key(w, "k2");
	jsonw_key_lit(w, "k3");
	jsonw_i64(w, -1);
	jsonw_u64(w, 1);
	jsonw_bool(w, true);
	jsonw_null(w);
	jsonw_start_array(w);
	jsonw_end_array(w);
	jsonw_str_lit(w, "v");
	jsonw_member_true(w, "k4");
	jsonw_member_i64(w, "k5", -1);
	jsonw_member_u64(w, "k6", 1);
	jsonw_member_str(w, "k7", "v");
	jsonw_member_str_lit(w, "k8", "v");
	jsonw_end_object(w);
	jsonw_raw(w, "\n", 1);
	assert_int_equal(jsonw_error(w), -ENOMEM);
	assert_int_equal(jsonw_len(w), len);

	/* jsonw_free() clears the error: the writer works again. */
	jsonw_free(w);
	assert_fresh(w);
	jsonw_start_object(w);
	jsonw_key_lit(w, "n");
	jsonw_i64(w, -5);
	jsonw_end_object(w);
	assert_int_equal(jsonw_error(w), 0);
	assert_int_equal(jsonw_len(w), 8);
	assert_memory_equal(jsonw_text(w), "{\"n\":-5}", 8);
	jsonw_free(w);
}

static void test_growth_failure(void **state)
{
	char buf[64], big[300];
	struct json_writer w;

	(void)state;
#if SIZE_MAX <= 0xffffffffu
	skip(); /* needs a 64-bit size_t */
#endif
	memset(big, 'b', sizeof(big));

	/* From the caller's buffer (the malloc() path). */
	jsonw_init(&w, buf, sizeof(buf));
	check_growth_failure(&w);

	/* From the heap (the realloc() path). */
	jsonw_start_array(&w);
	jsonw_str_len(&w, big, sizeof(big));
	assert_int_equal(jsonw_error(&w), 0);
	assert_ptr_not_equal(jsonw_text(&w), buf);
	jsonw_end_array(&w);
	check_growth_failure(&w);

	/* Without a buffer of its own. */
	jsonw_init(&w, NULL, 0);
	check_growth_failure(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),	    cmocka_unit_test(test_integers),
		cmocka_unit_test(test_bool_null),   cmocka_unit_test(test_members),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_free_reuse),  cmocka_unit_test(test_growth_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
