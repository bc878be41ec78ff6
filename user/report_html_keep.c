// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_html_keep.c - the records `hstrace report --html` draws as waterfalls: while the file
 * is read, bounded min-heaps keep the N slowest records (by "total", else "tls_handshake", else
 * "tcp_handshake") and the N slowest of each failure result, each holding a reference on the
 * record's JSON object, and note the first and last connection start for the page's time
 * range. Also the JSON member helpers the waterfalls read those records with.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "report_html_int.h"

/* ---- the records kept for waterfalls ---- */

const char *const html_rank_phases[] = { "total", "tls_handshake", "tcp_handshake" };
_Static_assert(sizeof(html_rank_phases) / sizeof(html_rank_phases[0]) == HTML_N_RANK_PHASES,
	       "HTML_N_RANK_PHASES");

/* Results drawn as failures: the ones --slow always shows (docs/report.md), each kind in its
 * own heap so that a flood of one kind (timeouts) does not hide the others. */
static const char *const failed_results[] = { "refused", "timeout", "reset", "tls_alert",
					      "tls_failed" };
_Static_assert(sizeof(failed_results) / sizeof(failed_results[0]) == HTML_N_FAILED,
	       "HTML_N_FAILED");

/* The index of result in failed_results, or -1 when it is not a failure drawn. */
static int result_failed(const char *result)
{
	size_t i;

	for (i = 0; result && i < HTML_N_FAILED; i++)
		if (!strcmp(result, failed_results[i]))
			return (int)i;
	return -1;
}

/* true when a is less worth keeping than b */
bool html_kept_worse(const struct kept *a, const struct kept *b)
{
	return a->key < b->key || (a->key == b->key && a->seq > b->seq);
}

static void heap_swap(struct heap *h, size_t i, size_t j)
{
	struct kept t = h->v[i];

	h->v[i] = h->v[j];
	h->v[j] = t;
}

static void heap_down(struct heap *h, size_t i)
{
	size_t l, r, least;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		least = i;
		if (l < h->n && html_kept_worse(&h->v[l], &h->v[least]))
			least = l;
		if (r < h->n && html_kept_worse(&h->v[r], &h->v[least]))
			least = r;
		if (least == i)
			return;
		heap_swap(h, i, least);
		i = least;
	}
}

/* Keeps x when the heap has room or x is worth more than its least record. */
static void heap_offer(struct heap *h, size_t cap, const struct kept *x)
{
	size_t i;

	if (!cap)
		return;
	if (h->n < cap) {
		i = h->n++;
		h->v[i] = *x;
		json_object_get(x->rec);
		while (i > 0 && html_kept_worse(&h->v[i], &h->v[(i - 1) / 2])) {
			heap_swap(h, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
		return;
	}
	if (!html_kept_worse(&h->v[0], x))
		return;
	json_object_put(h->v[0].rec);
	h->v[0] = *x;
	json_object_get(x->rec);
	heap_down(h, 0);
}

struct report_html_keep *report_html_keep_new(size_t n)
{
	struct report_html_keep *k = calloc(1, sizeof(*k));
	size_t i;

	if (!k)
		return NULL;
	k->cap = n;
	k->slow.v = calloc(n ? n : 1, sizeof(struct kept));
	if (!k->slow.v)
		goto nomem;
	for (i = 0; i < HTML_N_FAILED; i++)
		if (!(k->failed[i].v = calloc(n ? n : 1, sizeof(struct kept))))
			goto nomem;
	return k;
nomem:
	report_html_keep_free(k);
	return NULL;
}

void report_html_keep_free(struct report_html_keep *k)
{
	size_t i, f;

	if (!k)
		return;
	for (i = 0; i < k->slow.n; i++)
		json_object_put(k->slow.v[i].rec);
	free(k->slow.v);
	for (f = 0; f < HTML_N_FAILED; f++) {
		for (i = 0; i < k->failed[f].n; i++)
			json_object_put(k->failed[f].v[i].rec);
		free(k->failed[f].v);
	}
	free(k);
}

bool html_in_heap(const struct heap *h, uint64_t seq)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->v[i].seq == seq)
			return true;
	return false;
}

size_t report_html_keep_count(const struct report_html_keep *k)
{
	size_t i, f, n = k->slow.n;

	for (f = 0; f < HTML_N_FAILED; f++)
		for (i = 0; i < k->failed[f].n; i++)
			n += !html_in_heap(&k->slow, k->failed[f].v[i].seq);
	return n;
}

/* ---- JSON members ---- */

struct json_object *html_member(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

const char *html_str_member(struct json_object *o, const char *key)
{
	struct json_object *v = html_member(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* An integer member >= 0 in *v; false when absent, not an integer or negative. */
bool html_u64_member(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *m = html_member(o, key, json_type_int);
	int64_t x;

	if (!m)
		return false;
	errno = 0;
	x = json_object_get_int64(m);
	if (errno || x < 0)
		return false;
	*v = (uint64_t)x;
	return true;
}

/* ---- selection ---- */

/* "2026-11-27T07:35:05.123456Z" exactly, so that such strings sort by time */
static bool start_ok(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	size_t i;

	if (!s || strlen(s) != sizeof(shape) - 1)
		return false;
	for (i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return false;
	return true;
}

static void note_start(struct report_html_keep *k, const char *start)
{
	if (!start_ok(start))
		return;
	if (!k->first_start[0] || strcmp(start, k->first_start) < 0)
		memcpy(k->first_start, start, HTML_START_LEN);
	if (!k->last_start[0] || strcmp(start, k->last_start) > 0)
		memcpy(k->last_start, start, HTML_START_LEN);
}

/* The rank phase of s: its index in html_rank_phases and value, or false when it has none. */
static bool sample_rank(const struct report_sample *s, unsigned int *by, uint64_t *us)
{
	unsigned int best = HTML_N_RANK_PHASES, p;
	size_t i;

	for (i = 0; i < s->n_phases; i++) {
		for (p = 0; p < best; p++) {
			if (!strcmp(s->phases[i].name, html_rank_phases[p])) {
				best = p;
				*us = s->phases[i].us;
				break;
			}
		}
	}
	*by = best;
	return best < HTML_N_RANK_PHASES;
}

/* t_us of the last event, 0 when there is none */
static uint64_t last_event_us(struct json_object *rec)
{
	struct json_object *evs = html_member(rec, "events", json_type_array);
	size_t n = evs ? json_object_array_length(evs) : 0;
	uint64_t t = 0;

	if (n)
		html_u64_member(json_object_array_get_idx(evs, n - 1), "t_us", &t);
	return t;
}

int report_html_keep_add(struct report_html_keep *k, const struct report_sample *s,
			 struct json_object *rec)
{
	struct kept x = { .rec = rec, .seq = ++k->records };
	bool ranked = sample_rank(s, &x.by, &x.key);
	int f = result_failed(s->result);

	note_start(k, html_str_member(rec, "start"));
	if (ranked) {
		k->ranked++;
		heap_offer(&k->slow, k->cap, &x);
	}
	if (f >= 0) {
		k->failed_seen++;
		if (!ranked) {
			x.by = HTML_RANK_LAST_EVENT;
			x.key = last_event_us(rec);
		}
		heap_offer(&k->failed[f], k->cap, &x);
	}
	return 0;
}

int report_html_read(struct ndjson_reader *rd, struct report *r, struct report_html_keep *k)
{
	struct report_sample s;
	int n, err;

	while ((n = ndjson_next(rd, &s)) > 0) {
		err = report_add(r, &s);
		err = err ?: report_html_keep_add(k, &s, ndjson_current(rd));
		if (err)
			return err;
	}
	return n;
}
