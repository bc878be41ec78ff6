// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_text.c - the text report: totals, a per-phase table (count, min, p50, p90, p99, max
 * in ms), results and alerts, one log2 histogram per phase in the style of libbpf-tools'
 * *dist tools, and with --by one block of rows per group (top N by connections, the rest
 * summed into "other").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "present.h"
#include "report.h"

#define KEY_WIDTH 28
#define STARS 40

/* A group key fit for one column: printable ASCII only ('?' else), cut with "...". */
static void key_text(const char *key, char buf[KEY_WIDTH + 1])
{
	size_t i, n = strlen(key), keep = n > KEY_WIDTH ? KEY_WIDTH - 3 : n;

	for (i = 0; i < keep; i++) {
		unsigned char c = key[i];

		buf[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (n > KEY_WIDTH)
		memcpy(buf + keep, "...", 3);
	buf[n > KEY_WIDTH ? KEY_WIDTH : keep] = '\0';
}

#define PHASE_HDR "%-20s %9s %10s %10s %10s %10s %10s\n"
#define PHASE_ROW "%-20s %9llu %10s %10s %10s %10s %10s\n"

static void phase_row(FILE *out, const char *indent, const char *name, const struct hist *h)
{
	char mn[32], p50[32], p90[32], p99[32], mx[32];

	present_us_ms(h->min_us, mn, sizeof(mn));
	present_us_ms(hist_percentile(h, 50), p50, sizeof(p50));
	present_us_ms(hist_percentile(h, 90), p90, sizeof(p90));
	present_us_ms(hist_percentile(h, 99), p99, sizeof(p99));
	present_us_ms(h->max_us, mx, sizeof(mx));
	fprintf(out, "%s" PHASE_ROW, indent, name, (unsigned long long)h->count, mn, p50, p90, p99,
		mx);
}

static void phase_table(FILE *out, const char *indent, const struct report *r,
			const struct report_group *g)
{
	size_t i;

	for (i = 0; i < r->n_phases; i++)
		if (g->phases[i].count)
			phase_row(out, indent, r->phase_names[i], &g->phases[i]);
}

/* "refused 1, tls_alert 2" (results other than ok); "alerts: bad_certificate 1" */
static void failures_line(FILE *out, const char *indent, const struct report *r,
			  const struct report_group *g)
{
	const char *sep = "";
	size_t i;

	if (!report_group_failed(r, g))
		return;
	fprintf(out, "%sfailures:", indent);
	for (i = 0; i <= r->n_results && i <= REPORT_MAX_RESULTS; i++) {
		const char *name = i < r->n_results ? r->result_names[i] : "other";

		if (!g->results[i] || !strcmp(name, "ok"))
			continue;
		fprintf(out, "%s %s %llu", sep, name, (unsigned long long)g->results[i]);
		sep = ",";
	}
	sep = "; alerts:";
	for (i = 0; i <= r->n_alerts && i <= REPORT_MAX_ALERTS; i++) {
		if (!g->alerts[i])
			continue;
		fprintf(out, "%s %s %llu", sep, i < r->n_alerts ? r->alert_names[i] : "other",
			(unsigned long long)g->alerts[i]);
		sep = ",";
	}
	fputc('\n', out);
}

static void stars(FILE *out, uint64_t val, uint64_t max)
{
	unsigned int i, n = max ? (unsigned int)(val * STARS / max) : 0;

	for (i = 0; i < STARS; i++)
		fputc(i < n ? '*' : ' ', out);
}

/* libbpf-tools print_log2_hist() layout, from the first to the last non-empty slot. */
static void log2_hist(FILE *out, const struct hist *h)
{
	uint64_t counts[HIST_LOG2_SLOTS], max;
	struct hist_span sp;
	int i, first, last, width;

	if (!hist_log2_span(h, counts, &sp))
		return;
	first = sp.first;
	last = sp.last;
	max = sp.max;
	width = last <= 32 ? 10 : 20;
	fprintf(out, "%*s%-*s : count    distribution\n", last <= 32 ? 5 : 15, "",
		last <= 32 ? 19 : 29, "usecs");
	for (i = first; i <= last; i++) {
		uint64_t low = i ? 1ULL << i : 0, high = (1ULL << (i + 1)) - 1;

		fprintf(out, "%*llu -> %-*llu : %-8llu |", width, (unsigned long long)low, width,
			(unsigned long long)high, (unsigned long long)counts[i]);
		stars(out, counts[i], max);
		fputs("|\n", out);
	}
}

static void results_table(FILE *out, const struct report *r, const struct report_group *g)
{
	size_t i;

	fprintf(out, "%-20s %9s\n", "RESULT", "COUNT");
	for (i = 0; i <= r->n_results && i <= REPORT_MAX_RESULTS; i++)
		if (g->results[i])
			fprintf(out, "%-20s %9llu\n",
				i < r->n_results ? r->result_names[i] : "other",
				(unsigned long long)g->results[i]);
}

static void alerts_table(FILE *out, const struct report *r, const struct report_group *g)
{
	bool any = false;
	size_t i;

	for (i = 0; i <= r->n_alerts && i <= REPORT_MAX_ALERTS; i++) {
		if (!g->alerts[i])
			continue;
		if (!any)
			fprintf(out, "\n%-20s %9s\n", "ALERT", "COUNT");
		any = true;
		fprintf(out, "%-20s %9llu\n", i < r->n_alerts ? r->alert_names[i] : "other",
			(unsigned long long)g->alerts[i]);
	}
}

static void group_block(FILE *out, const struct report *r, const struct report_group *g,
			const char *label)
{
	char key[KEY_WIDTH + 1];

	key_text(label ? label : g->key, key);
	fprintf(out, "%s: conns %llu, failed %llu\n", key,
		(unsigned long long)g->conns, (unsigned long long)report_group_failed(r, g));
	phase_table(out, "  ", r, g);
	failures_line(out, "  ", r, g);
}

int report_text_write(FILE *out, const struct report *r, const struct report_view *v)
{
	const struct report_group *t = &r->total;
	struct report_group **rows = NULL, rest;
	size_t i, n_rows = 0;
	char label[64];

	fprintf(out, "Connections: %llu (ok %llu, failed %llu)\n", (unsigned long long)r->conns,
		(unsigned long long)(t->conns - report_group_failed(r, t)),
		(unsigned long long)report_group_failed(r, t));
	if (r->lost.conns)
		fprintf(out, "Connections with lost events: %llu (tcp.close_lost %llu, tls.desync "
			"%llu)\n", (unsigned long long)r->lost.conns,
			(unsigned long long)r->lost.close_lost, (unsigned long long)r->lost.desync);
	if (r->phases_dropped)
		fprintf(out, "Phase values dropped (more than %d phase names): %llu\n",
			REPORT_MAX_PHASES, (unsigned long long)r->phases_dropped);
	if (!r->conns)
		return ferror(out) ? -EIO : 0;

	fputc('\n', out);
	fprintf(out, PHASE_HDR, "PHASE(ms)", "COUNT", "MIN", "P50", "P90", "P99", "MAX");
	phase_table(out, "", r, t);
	fputc('\n', out);
	results_table(out, r, t);
	alerts_table(out, r, t);

	if (v->histograms) {
		for (i = 0; i < r->n_phases; i++) {
			if (!t->phases[i].count)
				continue;
			fprintf(out, "\n%s:\n", r->phase_names[i]);
			log2_hist(out, &t->phases[i]);
		}
	}

	if (r->by != REPORT_BY_NONE) {
		if (report_top(r, v->top, &rows, &n_rows, &rest))
			return -ENOMEM;
		fprintf(out, "\nBy %s: %zu group%s%s", report_by_name(r->by), r->n_groups,
			r->n_groups == 1 ? "" : "s", r->other ? " (and more, folded)" : "");
		fprintf(out, ", top %zu by connections\n", n_rows);
		fprintf(out, "  " PHASE_HDR, "PHASE(ms)", "COUNT", "MIN", "P50", "P90", "P99",
			"MAX");
		for (i = 0; i < n_rows; i++)
			group_block(out, r, rows[i], NULL);
		if (rest.conns) {
			size_t folded = r->n_groups - n_rows;

			if (r->other)
				snprintf(label, sizeof(label), "other (%zu+ groups)", folded + 1);
			else
				snprintf(label, sizeof(label), "other (%zu group%s)", folded,
					 folded == 1 ? "" : "s");
			group_block(out, r, &rest, label);
		}
		report_group_free_hists(&rest);
		free(rows);
	}
	return ferror(out) ? -EIO : 0;
}
