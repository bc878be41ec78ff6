/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * report_html_int.h - what the files of `hstrace report --html` share, and nothing else uses:
 * report_html.c (the page), report_html_keep.c (the records kept for waterfalls, and the JSON
 * member helpers) and report_html_waterfall.c (the per-connection waterfalls). Callers
 * outside these files use report_html.h.
 */
#ifndef HSTRACE_REPORT_HTML_INT_H
#define HSTRACE_REPORT_HTML_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "report_html.h"

/* Phases a connection is ranked by, first present wins: "total", "tls_handshake",
 * "tcp_handshake" (html_rank_phases[], HTML_N_RANK_PHASES of them).
 * HTML_RANK_LAST_EVENT: a failed connection with none of them, ranked by the time of its last
 * event. */
#define HTML_N_RANK_PHASES 3
#define HTML_RANK_LAST_EVENT HTML_N_RANK_PHASES
extern const char *const html_rank_phases[];

/* Failure results drawn, each kind in its own heap: refused, timeout, reset, tls_alert,
 * tls_failed (the ones --slow always shows, docs/report.md). */
#define HTML_N_FAILED 5

#define HTML_START_LEN 28 /* "2026-11-27T07:35:05.123456Z" */

struct kept {
	struct json_object *rec; /* one reference held */
	uint64_t key;		 /* rank, µs: larger is slower */
	uint64_t seq;		 /* record number, 1-based: on a tie the earlier record wins */
	unsigned int by;	 /* index in html_rank_phases, or HTML_RANK_LAST_EVENT */
};

/* A bounded min-heap: v[0] is the kept record least worth keeping. */
struct heap {
	struct kept *v;
	size_t n;
};

struct report_html_keep {
	size_t cap;	/* per heap */
	struct heap slow, failed[HTML_N_FAILED]; /* failed[i]: the i-th failure result above */
	uint64_t records;	/* records offered */
	uint64_t ranked;	/* ... with a phase to rank them by */
	uint64_t failed_seen;	/* ... failed */
	char first_start[HTML_START_LEN], last_start[HTML_START_LEN]; /* "": none seen */
};

/* true when a is less worth keeping than b: a smaller key, or the same key and a later record.
 * No two records compare equal (seq differs). */
bool html_kept_worse(const struct kept *a, const struct kept *b);

/* true when h holds the record numbered seq. */
bool html_in_heap(const struct heap *h, uint64_t seq);

/* o's member key when it has that type, else NULL (also when o is NULL). No reference is
 * taken: it lives as long as o. */
struct json_object *html_member(struct json_object *o, const char *key, enum json_type type);

/* o's string member key, or NULL when absent or not a string (o may be NULL). */
const char *html_str_member(struct json_object *o, const char *key);

/* An integer member >= 0 of o in *v; false when absent, not an integer or negative, and then
 * *v is left as it was (o may be NULL). May change errno. */
bool html_u64_member(struct json_object *o, const char *key, uint64_t *v);

/* report_html_escape() for writers that check out's error once at the end (ferror()). */
void html_esc(FILE *out, const char *s);

/*
 * Writes the Waterfalls section for k: what was drawn and why, a legend, then one waterfall
 * per record: k's slowest, slowest first, then up to k->cap failed ones not among them, taken
 * in turn from each failure result. Returns 0, or -ENOMEM before anything is written. Write
 * errors are left to the caller's ferror(out).
 */
int html_waterfalls_section(FILE *out, const struct report_html_keep *k);

#endif /* HSTRACE_REPORT_HTML_INT_H */
