/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cookie_table.h - a hash table of entries keyed by a 64-bit socket cookie.
 *
 * Open addressing with linear probing; a slot is one pointer to the caller's entry, and the
 * key is read from the entry itself at a fixed offset. That makes the table cost 8 bytes per
 * slot (11-21 bytes per entry at the 37-75 % load it keeps), against 56 bytes of links per
 * entry for uthash: the collector holds one entry per open connection end, hundreds of
 * thousands of them on a busy server (docs/benchmarks.md, collector RSS).
 *
 * The table does not own the entries. Not thread-safe.
 */
#ifndef HSTRACE_COOKIE_TABLE_H
#define HSTRACE_COOKIE_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct cookie_table {
	void **slots;	/* entry or NULL; capacity is a power of two */
	size_t mask;	/* capacity - 1; 0 while nothing was allocated */
	size_t count;
	size_t key_off; /* offset of the uint64_t key in an entry */
};

/* Initialises an empty table whose entries keep their key at byte offset key_off. */
void cookie_table_init(struct cookie_table *t, size_t key_off);

/* Returns the entry with this key, or NULL. */
void *cookie_table_find(const struct cookie_table *t, uint64_t key);

/* Adds entry, whose key must not be in the table yet. Returns 0, or -ENOMEM (the table is
 * unchanged). */
int cookie_table_insert(struct cookie_table *t, void *entry);

/* Removes and returns the entry with this key, or returns NULL when there is none. May shrink
 * the table; never fails. */
void *cookie_table_remove(struct cookie_table *t, uint64_t key);

/* Number of entries. */
static inline size_t cookie_table_count(const struct cookie_table *t)
{
	return t->count;
}

/* Frees the slots (not the entries) and leaves an empty table. */
void cookie_table_free(struct cookie_table *t);

#endif /* HSTRACE_COOKIE_TABLE_H */
