// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report.c - aggregation of finished connections into per-phase statistics (see report.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "present.h"
#include "render.h"
#include "report.h"
#include "tls_parse.h"

/* ---- histogram ---- */

/* Block and bucket of a value: block 0 holds 0..63 exactly; block b >= 1 holds
 * [2^(b+5), 2^(b+6)) in HIST_SUB buckets 2^(b-1) wide. */
static void hist_locate(uint64_t us, unsigned int *block, unsigned int *sub)
{
	unsigned int k;

	if (us > HIST_MAX_US)
		us = HIST_MAX_US;
	if (us < HIST_SUB) {
		*block = 0;
		*sub = (unsigned int)us;
		return;
	}
	k = 63 - (unsigned int)__builtin_clzll(us); /* >= HIST_SUB_BITS */
	*block = k - HIST_SUB_BITS + 1;
	*sub = (unsigned int)(us >> (k - HIST_SUB_BITS)) - HIST_SUB;
}

static uint64_t bucket_low(unsigned int block, unsigned int sub)
{
	if (!block)
		return sub;
	return (uint64_t)(HIST_SUB + sub) << (block - 1);
}

static uint64_t bucket_width(unsigned int block)
{
	return block ? 1ULL << (block - 1) : 1;
}

int hist_add(struct hist *h, uint64_t us)
{
	unsigned int block, sub;

	hist_locate(us, &block, &sub);
	if (!h->blocks[block]) {
		h->blocks[block] = calloc(HIST_SUB, sizeof(uint64_t));
		if (!h->blocks[block])
			return -ENOMEM;
	}
	h->blocks[block][sub]++;
	if (!h->count || us < h->min_us)
		h->min_us = us;
	if (!h->count || us > h->max_us)
		h->max_us = us;
	h->count++;
	return 0;
}

int hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned int b, i;

	if (!src->count)
		return 0;
	for (b = 0; b < HIST_OCTAVES; b++) {
		if (!src->blocks[b])
			continue;
		if (!dst->blocks[b]) {
			dst->blocks[b] = calloc(HIST_SUB, sizeof(uint64_t));
			if (!dst->blocks[b])
				return -ENOMEM;
		}
		for (i = 0; i < HIST_SUB; i++)
			dst->blocks[b][i] += src->blocks[b][i];
	}
	if (!dst->count || src->min_us < dst->min_us)
		dst->min_us = src->min_us;
	if (!dst->count || src->max_us > dst->max_us)
		dst->max_us = src->max_us;
	dst->count += src->count;
	return 0;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	unsigned int b, i;

	if (!h->count)
		return 0;
	if (p <= 0)
		return h->min_us;
	if (p >= 100)
		return h->max_us;
	/* nearest rank: the smallest value with at least p % of the values at or below it */
	rank = (uint64_t)(p / 100.0 * (double)h->count);
	if ((double)rank < p / 100.0 * (double)h->count)
		rank++;
	if (!rank)
		rank = 1;
	for (b = 0; b < HIST_OCTAVES; b++) {
		if (!h->blocks[b])
			continue;
		for (i = 0; i < HIST_SUB; i++) {
			seen += h->blocks[b][i];
			if (seen < rank)
				continue;
			v = bucket_low(b, i) + bucket_width(b) / 2;
			if (v < h->min_us)
				v = h->min_us;
			if (v > h->max_us)
				v = h->max_us;
			return v;
		}
	}
	return h->max_us;
}

bool hist_log2_span(const struct hist *h, uint64_t counts[HIST_LOG2_SLOTS],
		    struct hist_span *span)
{
	struct hist_span sp = { .first = -1, .last = -1 };
	int i;

	hist_log2(h, counts);
	for (i = 0; i < HIST_LOG2_SLOTS; i++) {
		if (!counts[i])
			continue;
		if (sp.first < 0)
			sp.first = i;
		sp.last = i;
		if (counts[i] > sp.max)
			sp.max = counts[i];
	}
	if (sp.first < 0)
		return false;
	*span = sp;
	return true;
}

void hist_log2(const struct hist *h, uint64_t counts[HIST_LOG2_SLOTS])
{
	unsigned int b, i, slot;

	memset(counts, 0, sizeof(uint64_t) * HIST_LOG2_SLOTS);
	for (b = 0; b < HIST_OCTAVES; b++) {
		if (!h->blocks[b])
			continue;
		for (i = 0; i < HIST_SUB; i++) {
			if (!h->blocks[b][i])
				continue;
			if (b)
				slot = b + HIST_SUB_BITS - 1;
			else
				slot = i < 2 ? 0 : 31 - (unsigned int)__builtin_clz(i);
			counts[slot] += h->blocks[b][i];
		}
	}
}

void hist_reset(struct hist *h)
{
	unsigned int b;

	for (b = 0; b < HIST_OCTAVES; b++)
		free(h->blocks[b]);
	memset(h, 0, sizeof(*h));
}

/* ---- grouping ---- */

struct report_group_index {
	struct report_group *g;
	UT_hash_handle hh;
};

static const char *const by_names[] = {
	[REPORT_BY_NONE] = "none", [REPORT_BY_SNI] = "sni",   [REPORT_BY_PEER] = "peer",
	[REPORT_BY_COMM] = "comm", [REPORT_BY_ROLE] = "role", [REPORT_BY_PORT] = "port",
};

const char *report_by_name(enum report_by by)
{
	if ((unsigned int)by >= sizeof(by_names) / sizeof(by_names[0]))
		return "none";
	return by_names[by];
}

int report_by_parse(const char *s, enum report_by *by)
{
	unsigned int i;

	for (i = REPORT_BY_SNI; i < sizeof(by_names) / sizeof(by_names[0]); i++) {
		if (!strcmp(s, by_names[i])) {
			*by = i;
			return 0;
		}
	}
	return -EINVAL;
}

struct report *report_new(enum report_by by)
{
	struct report *r = calloc(1, sizeof(*r));

	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	r->by = by;
	strcpy(r->total.key, "all");
	return r;
}

static void group_free(struct report_group *g)
{
	if (g)
		report_group_free_hists(g);
	free(g);
}

void report_group_free_hists(struct report_group *g)
{
	size_t i;

	for (i = 0; i < REPORT_MAX_PHASES; i++)
		hist_reset(&g->phases[i]);
}

void report_reset(struct report *r)
{
	struct report_group_index *e, *tmp;
	size_t i;

	HASH_ITER(hh, r->index, e, tmp) {
		HASH_DEL(r->index, e);
		free(e);
	}
	for (i = 0; i < r->n_groups; i++)
		group_free(r->groups[i]);
	free(r->groups);
	r->groups = NULL;
	r->n_groups = 0;
	r->cap_groups = 0;
	group_free(r->other);
	r->other = NULL;
	report_group_free_hists(&r->total);
	memset(&r->total, 0, sizeof(r->total));
	strcpy(r->total.key, "all");
	r->conns = 0;
	memset(&r->lost, 0, sizeof(r->lost));
	r->phases_dropped = 0;
	r->other_conns = 0;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	report_reset(r);
	free(r);
}

/* Index of name in names[*n] (added when there is room), or max when the table is full.
 * Names are kept cut to REPORT_NAME_LEN - 1 bytes and, as group keys, printable ASCII only:
 * a file `hstrace report` reads may hold anything, terminal escapes included. */
static size_t intern(char names[][REPORT_NAME_LEN], size_t *n, size_t max, const char *name)
{
	char shown[REPORT_NAME_LEN];
	size_t i;

	present_printable(name, REPORT_NAME_LEN - 1, true, shown, sizeof(shown));
	for (i = 0; i < *n; i++)
		if (!strcmp(names[i], shown))
			return i;
	if (*n >= max)
		return max;
	memcpy(names[*n], shown, sizeof(shown));
	return (*n)++;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void sample_key(const struct report *r, const struct report_sample *s, char *key)
{
	switch (r->by) {
	case REPORT_BY_SNI:
		snprintf(key, REPORT_KEY_LEN, "%s", or_dash(s->sni));
		break;
	case REPORT_BY_PEER:
		snprintf(key, REPORT_KEY_LEN, "%s", or_dash(s->peer));
		break;
	case REPORT_BY_COMM:
		snprintf(key, REPORT_KEY_LEN, "%s", or_dash(s->comm));
		break;
	case REPORT_BY_ROLE:
		snprintf(key, REPORT_KEY_LEN, "%s", or_dash(s->role));
		break;
	case REPORT_BY_PORT:
		if (s->port)
			snprintf(key, REPORT_KEY_LEN, "%u", s->port);
		else
			snprintf(key, REPORT_KEY_LEN, "-");
		break;
	default:
		key[0] = '\0';
	}
	/* keys are shown in tables and JSON: printable ASCII only */
	for (; *key; key++)
		if ((unsigned char)*key < 0x20 || (unsigned char)*key >= 0x7f)
			*key = '?';
}

/* The group of key: found, created while fewer than REPORT_MAX_GROUPS exist, else "other".
 * Returns NULL on out-of-memory. */
static struct report_group *group_get(struct report *r, const char *key)
{
	struct report_group_index *e;
	struct report_group **grown;

	HASH_FIND_STR(r->index, key, e);
	if (e)
		return e->g;
	if (r->n_groups >= REPORT_MAX_GROUPS) {
		if (!r->other) {
			r->other = calloc(1, sizeof(*r->other));
			if (!r->other)
				return NULL;
			strcpy(r->other->key, "other");
		}
		return r->other;
	}
	if (r->n_groups == r->cap_groups) {
		size_t cap = r->cap_groups ? r->cap_groups * 2 : 16;

		grown = realloc(r->groups, sizeof(*grown) * cap);
		if (!grown)
			return NULL;
		r->groups = grown;
		r->cap_groups = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->g = calloc(1, sizeof(*e->g));
	if (!e->g) {
		free(e);
		return NULL;
	}
	snprintf(e->g->key, REPORT_KEY_LEN, "%s", key);
	HASH_ADD_KEYPTR(hh, r->index, e->g->key, strlen(e->g->key), e);
	r->groups[r->n_groups++] = e->g;
	return e->g;
}

static int group_add(struct report_group *g, const size_t *phase_idx, const size_t result_idx,
		     const size_t alert_idx, const struct report_sample *s)
{
	size_t i;
	int err = 0;

	g->conns++;
	g->results[result_idx]++;
	if (s->alert)
		g->alerts[alert_idx]++;
	for (i = 0; i < s->n_phases && i < REPORT_MAX_SAMPLE_PHASES; i++)
		if (phase_idx[i] < REPORT_MAX_PHASES && !err)
			err = hist_add(&g->phases[phase_idx[i]], s->phases[i].us);
	return err;
}

int report_add(struct report *r, const struct report_sample *s)
{
	size_t phase_idx[REPORT_MAX_SAMPLE_PHASES], result_idx, alert_idx = REPORT_MAX_ALERTS, i;
	char key[REPORT_KEY_LEN];
	struct report_group *g;
	int err;

	for (i = 0; i < s->n_phases && i < REPORT_MAX_SAMPLE_PHASES; i++) {
		phase_idx[i] = intern(r->phase_names, &r->n_phases, REPORT_MAX_PHASES,
				      or_dash(s->phases[i].name));
		if (phase_idx[i] >= REPORT_MAX_PHASES)
			r->phases_dropped++;
	}
	result_idx = intern(r->result_names, &r->n_results, REPORT_MAX_RESULTS,
			    or_dash(s->result));
	if (s->alert)
		alert_idx = intern(r->alert_names, &r->n_alerts, REPORT_MAX_ALERTS, s->alert);
	r->conns++;
	r->lost.close_lost += s->close_lost;
	r->lost.desync += s->desync;
	r->lost.conns += s->close_lost || s->desync;
	err = group_add(&r->total, phase_idx, result_idx, alert_idx, s);
	if (r->by == REPORT_BY_NONE)
		return err;
	sample_key(r, s, key);
	g = group_get(r, key);
	if (!g)
		return -ENOMEM;
	if (g == r->other)
		r->other_conns++;
	return group_add(g, phase_idx, result_idx, alert_idx, s) ?: err;
}

int report_add_timeline(struct report *r, const struct timeline *tl)
{
	struct report_sample s = {};
	char peer[64], comm[sizeof(tl->comm) + 1], alert[16];
	size_t i;

	if (tl->tls.seen && tl->tls.sni[0])
		s.sni = tl->tls.sni;
	/* the same address text as the JSON output's peer.addr */
	present_addr(tl, false, peer, sizeof(peer));
	s.peer = peer;
	if (tl->pid && tl->comm[0]) {
		snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(tl->comm), tl->comm);
		s.comm = comm;
	}
	s.role = tl->role == ROLE_CLIENT || tl->role == ROLE_SERVER ? tl_role_name(tl->role) : NULL;
	s.port = tl->role == ROLE_SERVER ? tl->lport : tl->rport;
	s.result = tl_result_name(tl->result);
	if (tl->tls.seen && tl->tls.has_alert)
		s.alert = report_alert_text(tl->tls.alert_level, tl->tls.alert_desc, alert,
					    sizeof(alert));
	s.close_lost = tl->close_lost;
	s.desync = tl->tls.seen && tl->tls.desync; /* as the JSON output writes them */
	for (i = 0; i < tl->n_phases && i < TL_MAX_PHASES && s.n_phases < REPORT_MAX_SAMPLE_PHASES;
	     i++) {
		const struct tl_phase *ph = &tl->phases[i];

		if (!ph->name)
			continue;
		s.phases[s.n_phases].name = ph->name;
		s.phases[s.n_phases].us = present_round_us(ph->dur_ns);
		s.n_phases++;
	}
	return report_add(r, &s);
}

const char *report_alert_text(uint8_t level, uint8_t desc, char *buf, size_t len)
{
	const char *name;

	if (!level)
		return "encrypted";
	name = tls_alert_name(desc);
	if (name)
		return name;
	snprintf(buf, len, "%u", desc);
	return buf;
}

/* ---- rows to show ---- */

static int cmp_groups(const void *a, const void *b)
{
	const struct report_group *x = *(struct report_group *const *)a;
	const struct report_group *y = *(struct report_group *const *)b;

	if (x->conns != y->conns)
		return x->conns > y->conns ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int group_merge(struct report_group *dst, const struct report_group *src)
{
	size_t i;
	int err = 0;

	dst->conns += src->conns;
	for (i = 0; i <= REPORT_MAX_RESULTS; i++)
		dst->results[i] += src->results[i];
	for (i = 0; i <= REPORT_MAX_ALERTS; i++)
		dst->alerts[i] += src->alerts[i];
	for (i = 0; i < REPORT_MAX_PHASES && !err; i++)
		err = hist_merge(&dst->phases[i], &src->phases[i]);
	return err;
}

int report_top(const struct report *r, size_t top, struct report_group ***rows, size_t *n_rows,
	       struct report_group *rest)
{
	struct report_group **all;
	size_t i, n = r->n_groups;

	memset(rest, 0, sizeof(*rest));
	strcpy(rest->key, "other");
	*rows = NULL;
	*n_rows = 0;
	all = malloc(sizeof(*all) * (n ? n : 1));
	if (!all)
		return -ENOMEM;
	if (n)
		memcpy(all, r->groups, sizeof(*all) * n);
	qsort(all, n, sizeof(*all), cmp_groups);
	for (i = top; i < n; i++) {
		if (group_merge(rest, all[i])) {
			report_group_free_hists(rest);
			free(all);
			return -ENOMEM;
		}
	}
	if (r->other && group_merge(rest, r->other)) {
		report_group_free_hists(rest);
		free(all);
		return -ENOMEM;
	}
	*rows = all;
	*n_rows = n < top ? n : top;
	return 0;
}

uint64_t report_group_failed(const struct report *r, const struct report_group *g)
{
	uint64_t failed = g->conns;
	size_t i;

	for (i = 0; i < r->n_results; i++)
		if (!strcmp(r->result_names[i], "ok"))
			failed -= g->results[i];
	return failed;
}
