// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_json.c - the report as one JSON object (schema "hstrace-report/1", docs/report.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "report.h"
#include "json_build.h"

#define REPORT_SCHEMA "hstrace-report/1"

/* [{"low": µs, "high": µs, "count": n}, ...] from the first to the last non-empty slot */
static struct json_object *log2_array(const struct hist *h)
{
	uint64_t counts[HIST_LOG2_SLOTS];
	struct json_object *arr = json_object_new_array(), *slot;
	struct hist_span sp = { .first = -1, .last = -2 };
	int i, err = 0;

	if (!arr)
		return NULL;
	hist_log2_span(h, counts, &sp);
	for (i = sp.first; sp.first >= 0 && i <= sp.last && !err; i++) {
		slot = json_object_new_object();
		if (!slot) {
			err = -ENOMEM;
			break;
		}
		err = json_add_u64(slot, "low", i ? 1ULL << i : 0);
		err = err ?: json_add_u64(slot, "high", (1ULL << (i + 1)) - 1);
		err = err ?: json_add_u64(slot, "count", counts[i]);
		err = err ?: 0;
		if (err)
			json_object_put(slot);
		else
			err = json_append(arr, slot);
	}
	if (err) {
		json_object_put(arr);
		return NULL;
	}
	return arr;
}

static struct json_object *phase_object(const struct hist *h, bool with_hist)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_u64(o, "count", h->count);
	err = err ?: json_add_u64(o, "min_us", h->min_us);
	err = err ?: json_add_u64(o, "p50_us", hist_percentile(h, 50));
	err = err ?: json_add_u64(o, "p90_us", hist_percentile(h, 90));
	err = err ?: json_add_u64(o, "p99_us", hist_percentile(h, 99));
	err = err ?: json_add_u64(o, "max_us", h->max_us);
	if (!err && with_hist)
		err = json_add(o, "log2_hist", log2_array(h));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* {"name": count, ...} of the non-zero counters, in first-seen order ("other" last). */
static struct json_object *counts_object(const uint64_t *counts, char names[][REPORT_NAME_LEN],
					 size_t n, size_t max)
{
	struct json_object *o = json_object_new_object();
	size_t i;

	if (!o)
		return NULL;
	for (i = 0; i <= n && i <= max; i++) {
		if (!counts[i])
			continue;
		if (json_add_u64(o, i < n ? names[i] : "other", counts[i])) {
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

/* Fills o with a group's numbers: connections, failed, results, alerts, phases. */
static int group_members(struct json_object *o, const struct report *r,
			 const struct report_group *g, bool with_hist)
{
	struct json_object *phases;
	size_t i;
	int err;

	err = json_add_u64(o, "connections", g->conns);
	err = err ?: json_add_u64(o, "failed", report_group_failed(r, g));
	err = err ?: json_add(o, "results",
			 counts_object(g->results, (char(*)[REPORT_NAME_LEN])r->result_names,
				       r->n_results, REPORT_MAX_RESULTS));
	err = err ?: json_add(o, "alerts",
			 counts_object(g->alerts, (char(*)[REPORT_NAME_LEN])r->alert_names,
				       r->n_alerts, REPORT_MAX_ALERTS));
	if (err)
		return err;
	phases = json_object_new_object();
	if (!phases)
		return -ENOMEM;
	for (i = 0; i < r->n_phases && !err; i++)
		if (g->phases[i].count)
			err = json_add(phases, r->phase_names[i],
				  phase_object(&g->phases[i], with_hist));
	if (err) {
		json_object_put(phases);
		return err;
	}
	return json_add(o, "phases", phases);
}

static struct json_object *group_object(const struct report *r, const struct report_group *g)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_add(o, "key", json_object_new_string(g->key)) || group_members(o, r, g, false)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "groups": [...] top rows; "other": {...} the rest summed (absent when there is none) */
static int add_groups(struct json_object *o, const struct report *r, const struct report_view *v)
{
	struct report_group **rows, rest;
	struct json_object *arr, *other;
	size_t i, n_rows;
	int err;

	if (report_top(r, v->top, &rows, &n_rows, &rest))
		return -ENOMEM;
	err = json_add_u64(o, "groups_total", r->n_groups);
	arr = err ? NULL : json_object_new_array();
	if (!err && !arr)
		err = -ENOMEM;
	for (i = 0; !err && i < n_rows; i++)
		err = json_append(arr, group_object(r, rows[i]));
	if (arr)
		err = json_add(o, "groups", arr) ?: err;
	if (!err && rest.conns) {
		other = json_object_new_object();
		err = other ? 0 : -ENOMEM;
		err = err ?: json_add_u64(other, "groups", r->n_groups - n_rows);
		err = err ?: json_add_u64(other, "overflow_connections", r->other_conns);
		err = err ?: group_members(other, r, &rest, false);
		if (err)
			json_object_put(other);
		else
			err = json_add(o, "other", other);
	}
	report_group_free_hists(&rest);
	free(rows);
	return err;
}

/* {"connections", "close_lost", "desync"}: the connections whose record carries a mark of
 * events hstrace lost (struct report_lost) */
static struct json_object *lost_object(const struct report_lost *l)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_u64(o, "connections", l->conns);
	err = err ?: json_add_u64(o, "close_lost", l->close_lost);
	err = err ?: json_add_u64(o, "desync", l->desync);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *report_json_object(const struct report *r, const struct report_view *v)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add(o, "schema", json_object_new_string(REPORT_SCHEMA));
	if (!err && r->by != REPORT_BY_NONE)
		err = json_add(o, "by", json_object_new_string(report_by_name(r->by)));
	else if (!err)
		err = json_object_object_add(o, "by", NULL) ? -ENOMEM : 0;
	err = err ?: group_members(o, r, &r->total, true);
	err = err ?: json_add_u64(o, "phases_dropped", r->phases_dropped);
	err = err ?: json_add(o, "lost_marks", lost_object(&r->lost));
	if (!err && r->by != REPORT_BY_NONE)
		err = add_groups(o, r, v);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int report_json_write_line(FILE *out, struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);

	if (!s)
		return -ENOMEM;
	if (fputs(s, out) == EOF || putc('\n', out) == EOF || ferror(out))
		return -EIO;
	return 0;
}
