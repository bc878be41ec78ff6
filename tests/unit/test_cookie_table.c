// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_cookie_table.c - the collector's connection table: every entry found after inserts and
 * removals in any order (checked against a plain array), probe runs that wrap around the end
 * of the slot array, growth and shrinking, and keys that collide in their home slot.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cookie_table.h"

struct entry {
	int tag;
	uint64_t cookie;
};

static void table_init(struct cookie_table *t)
{
	cookie_table_init(t, offsetof(struct entry, cookie));
}

static void test_empty(void **state)
{
	struct cookie_table t;

	(void)state;
	table_init(&t);
	assert_null(cookie_table_find(&t, 1));
	assert_null(cookie_table_remove(&t, 1));
	assert_int_equal(cookie_table_count(&t), 0);
	cookie_table_free(&t);
	cookie_table_free(&t); /* twice is fine */
}

static void test_insert_find_remove(void **state)
{
	struct entry e[3] = { { 1, 10 }, { 2, 0 }, { 3, UINT64_MAX } };
	struct cookie_table t;
	int i;

	(void)state;
	table_init(&t);
	for (i = 0; i < 3; i++)
		assert_int_equal(cookie_table_insert(&t, &e[i]), 0);
	assert_int_equal(cookie_table_count(&t), 3);
	assert_ptr_equal(cookie_table_find(&t, 10), &e[0]);
	assert_ptr_equal(cookie_table_find(&t, 0), &e[1]);
	assert_ptr_equal(cookie_table_find(&t, UINT64_MAX), &e[2]);
	assert_null(cookie_table_find(&t, 11));

	assert_ptr_equal(cookie_table_remove(&t, 0), &e[1]);
	assert_null(cookie_table_find(&t, 0));
	assert_null(cookie_table_remove(&t, 0));
	assert_ptr_equal(cookie_table_find(&t, 10), &e[0]);
	assert_ptr_equal(cookie_table_find(&t, UINT64_MAX), &e[2]);
	assert_int_equal(cookie_table_count(&t), 2);
	cookie_table_free(&t);
}

/* Keys chosen to share home slots in a 64-slot table, so their probe runs overlap and wrap. */
static void test_collisions_and_wrap(void **state)
{
	struct entry e[40];
	struct cookie_table t;
	uint64_t key;
	size_t n = 0, i, home_last = 63;

	(void)state;
	table_init(&t);
	assert_int_equal(cookie_table_insert(&t, &(struct entry){ 0, 999 }), 0);
	cookie_table_remove(&t, 999); /* now 64 slots are allocated and empty */
	/* Find keys whose home is slot 62 or 63: their runs wrap to slot 0 and on. */
	for (key = 1; n < 40 && key < 10000000; key++) {
		uint64_t h = key * 0x9E3779B97F4A7C15ULL;
		size_t home = (size_t)(h ^ (h >> 32)) & 63;

		if (home == home_last || home == home_last - 1) {
			e[n].tag = (int)n;
			e[n].cookie = key;
			n++;
		}
	}
	assert_int_equal(n, 40);
	for (i = 0; i < 40; i++)
		assert_int_equal(cookie_table_insert(&t, &e[i]), 0);
	/* Remove every third one, then check all are as expected. */
	for (i = 0; i < 40; i += 3)
		assert_ptr_equal(cookie_table_remove(&t, e[i].cookie), &e[i]);
	for (i = 0; i < 40; i++) {
		if (i % 3 == 0)
			assert_null(cookie_table_find(&t, e[i].cookie));
		else
			assert_ptr_equal(cookie_table_find(&t, e[i].cookie), &e[i]);
	}
	cookie_table_free(&t);
}

/* Random inserts and removals against a reference array; sizes pass the grow and shrink
 * thresholds many times. */
static void test_random_against_reference(void **state)
{
	enum { N = 20000 };
	struct entry *e = calloc(N, sizeof(*e));
	bool *in = calloc(N, sizeof(*in));
	struct cookie_table t;
	size_t count = 0, i, round;
	unsigned int seed = 12345;

	(void)state;
	assert_non_null(e);
	assert_non_null(in);
	table_init(&t);
	for (i = 0; i < N; i++) {
		e[i].tag = (int)i;
		/* sequential-ish like socket cookies, with gaps */
		e[i].cookie = 4096 + i * 3 + (i % 7);
	}
	for (round = 0; round < 200000; round++) {
		size_t k = (size_t)rand_r(&seed) % N;
		/* Phases: mostly inserting, then mostly removing, to cross both thresholds. */
		bool grow = (round / 25000) % 2 == 0;
		bool do_insert = (size_t)rand_r(&seed) % 10 < (grow ? 8u : 2u);

		if (do_insert && !in[k]) {
			assert_int_equal(cookie_table_insert(&t, &e[k]), 0);
			in[k] = true;
			count++;
		} else if (!do_insert && in[k]) {
			assert_ptr_equal(cookie_table_remove(&t, e[k].cookie), &e[k]);
			in[k] = false;
			count--;
		}
		assert_int_equal(cookie_table_count(&t), count);
		if (round % 10000 == 0) {
			for (i = 0; i < N; i++) {
				if (in[i])
					assert_ptr_equal(cookie_table_find(&t, e[i].cookie), &e[i]);
				else
					assert_null(cookie_table_find(&t, e[i].cookie));
			}
		}
	}
	/* Load stays within its bounds after all that. */
	assert_true(cookie_table_count(&t) * 4 <= (t.mask + 1) * 3);
	for (i = 0; i < N; i++) {
		if (in[i])
			assert_ptr_equal(cookie_table_remove(&t, e[i].cookie), &e[i]);
	}
	assert_int_equal(cookie_table_count(&t), 0);
	assert_true(t.mask + 1 <= 128); /* shrank back */
	cookie_table_free(&t);
	free(e);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_insert_find_remove),
		cmocka_unit_test(test_collisions_and_wrap),
		cmocka_unit_test(test_random_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
