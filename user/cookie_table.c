// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * cookie_table.c - open-addressing hash table keyed by socket cookie (see cookie_table.h).
 *
 * Linear probing; removal shifts the following entries of the probe run back (no tombstones),
 * so lookups stay short whatever the churn. Grows ×2 past 3/4 full, shrinks ÷2 below 1/8
 * full (the gap keeps a table near one threshold from resizing back and forth).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cookie_table.h"

#define MIN_SLOTS 64

static uint64_t key_of(const struct cookie_table *t, const void *entry)
{
	uint64_t key;

	memcpy(&key, (const char *)entry + t->key_off, sizeof(key));
	return key;
}

/* Fibonacci hashing: cookies are mostly sequential, the multiply spreads them. */
static size_t home_slot(const struct cookie_table *t, uint64_t key)
{
	uint64_t h = key * 0x9E3779B97F4A7C15ULL;

	return (size_t)(h ^ (h >> 32)) & t->mask;
}

void cookie_table_init(struct cookie_table *t, size_t key_off)
{
	memset(t, 0, sizeof(*t));
	t->key_off = key_off;
}

void *cookie_table_find(const struct cookie_table *t, uint64_t key)
{
	size_t i;

	if (!t->slots)
		return NULL;
	for (i = home_slot(t, key); t->slots[i]; i = (i + 1) & t->mask) {
		if (key_of(t, t->slots[i]) == key)
			return t->slots[i];
	}
	return NULL;
}

/* Puts entry in the first free slot of its probe run (there is one). */
static void place(struct cookie_table *t, void *entry)
{
	size_t i = home_slot(t, key_of(t, entry));

	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = entry;
}

/* Moves every entry into a new array of `slots` slots. Returns 0 or -ENOMEM (unchanged). */
static int resize(struct cookie_table *t, size_t slots)
{
	void **old = t->slots;
	size_t old_n = old ? t->mask + 1 : 0, i;

	t->slots = calloc(slots, sizeof(*t->slots));
	if (!t->slots) {
		t->slots = old;
		return -ENOMEM;
	}
	t->mask = slots - 1;
	for (i = 0; i < old_n; i++) {
		if (old[i])
			place(t, old[i]);
	}
	free(old);
	return 0;
}

int cookie_table_insert(struct cookie_table *t, void *entry)
{
	size_t slots = t->slots ? t->mask + 1 : 0;
	int err;

	if ((t->count + 1) * 4 > slots * 3) {
		err = resize(t, slots ? slots * 2 : MIN_SLOTS);
		if (err)
			return err;
	}
	place(t, entry);
	t->count++;
	return 0;
}

void *cookie_table_remove(struct cookie_table *t, uint64_t key)
{
	size_t i, j, home, slots;
	void *entry;

	if (!t->slots)
		return NULL;
	for (i = home_slot(t, key); t->slots[i]; i = (i + 1) & t->mask) {
		if (key_of(t, t->slots[i]) == key)
			break;
	}
	entry = t->slots[i];
	if (!entry)
		return NULL;
	/* Backward shift: pull each later entry of the run into the hole unless that would move
	 * it before its home slot (cyclically). */
	for (j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
		home = home_slot(t, key_of(t, t->slots[j]));
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = NULL;
	t->count--;

	slots = t->mask + 1;
	if (slots > MIN_SLOTS && t->count * 8 < slots)
		resize(t, slots / 2); /* on failure the table simply stays larger */
	return entry;
}

void cookie_table_free(struct cookie_table *t)
{
	free(t->slots);
	cookie_table_init(t, t->key_off);
}
