// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_html.c - the report as one self-contained HTML page: header, per-phase percentile
 * table and log2 histograms (inline SVG), results and alerts, --by groups, and waterfalls of
 * the slowest and the failed connections drawn from their events and their phases' true start
 * and end (the record's "phases" array, docs/json.md).
 *
 * The page has no script and loads nothing: its Content-Security-Policy (default-src 'none';
 * inline styles only) makes a browser refuse any request or script even if some text escaped
 * report_html_escape(), which every input string goes through.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "present.h"
#include "report_html.h"

/* ---- the records kept for waterfalls ---- */

/* Phases a connection is ranked by, first present wins; RANK_LAST_EVENT: a failed connection
 * with none of them, ranked by the time of its last event. */
static const char *const rank_phases[] = { "total", "tls_handshake", "tcp_handshake" };
#define N_RANK_PHASES (sizeof(rank_phases) / sizeof(rank_phases[0]))
#define RANK_LAST_EVENT N_RANK_PHASES

struct kept {
	struct json_object *rec; /* one reference held */
	uint64_t key;		 /* rank, µs: larger is slower */
	uint64_t seq;		 /* record number, 1-based: on a tie the earlier record wins */
	unsigned int by;	 /* index in rank_phases, or RANK_LAST_EVENT */
};

/* A bounded min-heap: v[0] is the kept record least worth keeping. */
struct heap {
	struct kept *v;
	size_t n;
};

#define START_LEN 28 /* "2026-11-27T07:35:05.123456Z" */

/* Results drawn as failures: the ones --slow always shows (docs/report.md), each kind in its
 * own heap so that a flood of one kind (timeouts) does not hide the others. */
static const char *const failed_results[] = { "refused", "timeout", "reset", "tls_alert",
					      "tls_failed" };
#define N_FAILED (sizeof(failed_results) / sizeof(failed_results[0]))

struct report_html_keep {
	size_t cap;	/* per heap */
	struct heap slow, failed[N_FAILED];
	uint64_t records;	/* records offered */
	uint64_t ranked;	/* ... with a phase to rank them by */
	uint64_t failed_seen;	/* ... failed */
	char first_start[START_LEN], last_start[START_LEN];
};

/* The index of result in failed_results, or -1 when it is not a failure drawn. */
static int result_failed(const char *result)
{
	size_t i;

	for (i = 0; result && i < N_FAILED; i++)
		if (!strcmp(result, failed_results[i]))
			return (int)i;
	return -1;
}

/* true when a is less worth keeping than b */
static bool kept_worse(const struct kept *a, const struct kept *b)
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
		if (l < h->n && kept_worse(&h->v[l], &h->v[least]))
			least = l;
		if (r < h->n && kept_worse(&h->v[r], &h->v[least]))
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
		while (i > 0 && kept_worse(&h->v[i], &h->v[(i - 1) / 2])) {
			heap_swap(h, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
		return;
	}
	if (!kept_worse(&h->v[0], x))
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
	for (i = 0; i < N_FAILED; i++)
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
	for (f = 0; f < N_FAILED; f++) {
		for (i = 0; i < k->failed[f].n; i++)
			json_object_put(k->failed[f].v[i].rec);
		free(k->failed[f].v);
	}
	free(k);
}

static bool in_heap(const struct heap *h, uint64_t seq)
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

	for (f = 0; f < N_FAILED; f++)
		for (i = 0; i < k->failed[f].n; i++)
			n += !in_heap(&k->slow, k->failed[f].v[i].seq);
	return n;
}

/* ---- JSON members ---- */

static struct json_object *member(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

static const char *str_member(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* An integer member >= 0 in *v; false when absent, not an integer or negative. */
static bool u64_member(struct json_object *o, const char *key, uint64_t *v)
{
	struct json_object *m = member(o, key, json_type_int);
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

static bool true_member(struct json_object *o, const char *key)
{
	struct json_object *m = member(o, key, json_type_boolean);

	return m && json_object_get_boolean(m);
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
		memcpy(k->first_start, start, START_LEN);
	if (!k->last_start[0] || strcmp(start, k->last_start) > 0)
		memcpy(k->last_start, start, START_LEN);
}

/* The rank phase of s: its index in rank_phases and value, or false when it has none. */
static bool sample_rank(const struct report_sample *s, unsigned int *by, uint64_t *us)
{
	unsigned int best = N_RANK_PHASES, p;
	size_t i;

	for (i = 0; i < s->n_phases; i++) {
		for (p = 0; p < best; p++) {
			if (!strcmp(s->phases[i].name, rank_phases[p])) {
				best = p;
				*us = s->phases[i].us;
				break;
			}
		}
	}
	*by = best;
	return best < N_RANK_PHASES;
}

/* t_us of the last event, 0 when there is none */
static uint64_t last_event_us(struct json_object *rec)
{
	struct json_object *evs = member(rec, "events", json_type_array);
	size_t n = evs ? json_object_array_length(evs) : 0;
	uint64_t t = 0;

	if (n)
		u64_member(json_object_array_get_idx(evs, n - 1), "t_us", &t);
	return t;
}

int report_html_keep_add(struct report_html_keep *k, const struct report_sample *s,
			 struct json_object *rec)
{
	struct kept x = { .rec = rec, .seq = ++k->records };
	bool ranked = sample_rank(s, &x.by, &x.key);
	int f = result_failed(s->result);

	note_start(k, str_member(rec, "start"));
	if (ranked) {
		k->ranked++;
		heap_offer(&k->slow, k->cap, &x);
	}
	if (f >= 0) {
		k->failed_seen++;
		if (!ranked) {
			x.by = RANK_LAST_EVENT;
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

/* ---- escaping ---- */

/* Length of the valid UTF-8 sequence at p (2 to 4), or 0 (overlong forms and surrogates are
 * invalid). p[0] >= 0x80. */
static size_t utf8_seq(const unsigned char *p)
{
	uint32_t cp;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

int report_html_escape(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (p && *p) {
		switch (*p) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		case '\'':
			fputs("&#39;", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				putc('?', out);
			} else if (*p < 0x80) {
				putc(*p, out);
			} else if ((n = utf8_seq(p))) {
				fwrite(p, 1, n, out);
				p += n;
				continue;
			} else {
				putc('?', out);
			}
		}
		p++;
	}
	return ferror(out) ? -EIO : 0;
}

/* ---- page parts ---- */

static const char css[] =
	"body{font-family:sans-serif;font-size:14px;line-height:1.35;margin:1.5em;color:#1d1d1d;"
	"background:#fff}\n"
	"h1{font-size:1.5em;margin:0 0 .5em}h2{font-size:1.2em;margin:1.6em 0 .5em;"
	"border-bottom:1px solid #ccc}h3{font-size:1em;margin:1.2em 0 .3em}\n"
	"nav a{margin-right:1em}\n"
	"table{border-collapse:collapse;margin:.3em 0}th,td{padding:2px 8px;text-align:left;"
	"vertical-align:top}\n"
	"table.num td,table.num thead th{text-align:right;font-family:monospace}"
	"table.num th:first-child{text-align:left}\n"
	"table.num tbody tr:nth-child(even){background:#f4f6f8}thead th{border-bottom:1px solid "
	"#999}\n"
	"table.kv th{color:#555;font-weight:normal;padding-right:1.5em}\n"
	".note{color:#555;max-width:70em}.fail{color:#b00020}.ok{color:#11772d}\n"
	".row{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}\n"
	".hists{display:flex;flex-wrap:wrap;gap:1em 1.5em}figure{margin:0}figcaption{font-weight:"
	"bold}\n"
	"svg text{font-family:monospace;font-size:11px;fill:#333}svg .hbar{fill:#4e79a7}\n"
	"section.group{margin-left:1em}\n"
	"section.wf{border-top:1px solid #ddd;margin-top:1.2em}.meta{color:#555;margin:.1em 0}\n"
	".wfbody{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
	"table.params th,table.params td{white-space:nowrap}\n"
	"table.wft td{font-family:monospace;white-space:nowrap;padding:0 5px}"
	"table.wft td.t{text-align:right}\n"
	"table.wft tbody.phs tr:first-child td{border-top:1px solid #bbb;padding-top:3px}\n"
	"svg.bar{display:block}svg .gap{fill:#d0d5db}svg .out{fill:#1f6fb4}svg .in{fill:#d98b00}"
	"svg .none{fill:#666}\n"
	"svg .app{fill:#fff;stroke:#7b3294;stroke-width:1.5}svg line.app{stroke-dasharray:2 2}\n"
	"svg .phw{fill-opacity:.9}svg .pha{fill-opacity:.45;stroke-width:1.5}"
	"svg .phe{fill-opacity:.25;stroke-width:1.5;stroke-dasharray:3 2}\n"
	"td.out{color:#1f6fb4}td.in{color:#d98b00}\n";

#define HIST_W 420	/* histogram: label, bar and count columns */
#define HIST_LABEL_W 150
#define HIST_BAR_W 220
#define HIST_ROW_H 16
#define WF_W 380	/* waterfall bar column */
#define WF_H 14

static void esc(FILE *out, const char *s)
{
	report_html_escape(out, s);
}

/* A result name with the "fail" or "ok" class. */
static void result_span(FILE *out, const char *name)
{
	fprintf(out, "<span class=\"%s\">", !strcmp(name, "ok") ? "ok" : "fail");
	esc(out, name);
	fputs("</span>", out);
}

static void ms_cell(FILE *out, uint64_t us)
{
	char ms[32];

	fprintf(out, "<td data-us=\"%llu\">%s</td>", (unsigned long long)us,
		present_us_ms(us, ms, sizeof(ms)));
}

/* The percentile table (count, min, p50, p90, p99, max in ms) of g's phases. */
static void phase_table(FILE *out, const struct report *r, const struct report_group *g,
			const char *id)
{
	size_t i;

	for (i = 0; i < r->n_phases && !g->phases[i].count; i++)
		;
	if (i == r->n_phases && !id) { /* a group without phases: no empty table */
		fputs("<p class=\"note\">no phase</p>\n", out);
		return;
	}
	fprintf(out, "<table class=\"num phases\"%s%s%s>\n", id ? " id=\"" : "", id ? id : "",
		id ? "\"" : "");
	fputs("<thead><tr><th>phase (ms)</th><th>count</th><th>min</th><th>p50</th><th>p90</th>"
	      "<th>p99</th><th>max</th></tr></thead>\n<tbody>\n", out);
	for (i = 0; i < r->n_phases; i++) {
		const struct hist *h = &g->phases[i];

		if (!h->count)
			continue;
		fputs("<tr data-phase=\"", out);
		esc(out, r->phase_names[i]);
		fputs("\"><th>", out);
		esc(out, r->phase_names[i]);
		fprintf(out, "</th><td data-n=\"%llu\">%llu</td>", (unsigned long long)h->count,
			(unsigned long long)h->count);
		ms_cell(out, h->min_us);
		ms_cell(out, hist_percentile(h, 50));
		ms_cell(out, hist_percentile(h, 90));
		ms_cell(out, hist_percentile(h, 99));
		ms_cell(out, h->max_us);
		fputs("</tr>\n", out);
	}
	fputs("</tbody></table>\n", out);
}

/* One log2 histogram (µs, the text report's buckets) as an SVG bar chart. */
static void hist_svg(FILE *out, const char *name, const struct hist *h)
{
	uint64_t counts[HIST_LOG2_SLOTS], max;
	struct hist_span sp;
	int i, first, last, y;

	if (!hist_log2_span(h, counts, &sp))
		return;
	first = sp.first;
	last = sp.last;
	max = sp.max;
	fputs("<figure class=\"hist\" data-phase=\"", out);
	esc(out, name);
	fputs("\"><figcaption>", out);
	esc(out, name);
	fputs(" <small>(µs, log2 buckets)</small></figcaption>\n", out);
	y = (last - first + 1) * HIST_ROW_H + 4;
	fprintf(out, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
		HIST_W, y, HIST_W, y);
	for (i = first; i <= last; i++) {
		uint64_t low = i ? 1ULL << i : 0, high = (1ULL << (i + 1)) - 1;
		double w = (double)counts[i] * HIST_BAR_W / (double)max;

		y = (i - first) * HIST_ROW_H + 2;
		fprintf(out, "<g class=\"bucket\" data-low=\"%llu\" data-high=\"%llu\" "
			"data-count=\"%llu\"><text x=\"%d\" y=\"%d\" text-anchor=\"end\">"
			"%llu -&gt; "
			"%llu</text><rect class=\"hbar\" x=\"%d\" y=\"%d\" width=\"%.1f\" "
			"height=\"%d\"/><text x=\"%.1f\" y=\"%d\">%llu</text></g>\n",
			(unsigned long long)low, (unsigned long long)high,
			(unsigned long long)counts[i], HIST_LABEL_W - 8, y + 12,
			(unsigned long long)low, (unsigned long long)high, HIST_LABEL_W, y + 2,
			counts[i] ? (w < 1 ? 1 : w) : 0, HIST_ROW_H - 4, HIST_LABEL_W + w + 4,
			y + 12,
			(unsigned long long)counts[i]);
	}
	fputs("</svg></figure>\n", out);
}

static void counts_table(FILE *out, const char *id, const char *title, const uint64_t *counts,
			 const char (*names)[REPORT_NAME_LEN], size_t n, size_t max, uint64_t total,
			 bool results)
{
	size_t i;

	fprintf(out, "<table class=\"num\" id=\"%s\"><thead><tr><th>%s</th><th>count</th>"
		"<th>share</th></tr></thead>\n<tbody>\n", id, title);
	for (i = 0; i <= n && i <= max; i++) {
		const char *name = i < n ? names[i] : "other";

		if (!counts[i])
			continue;
		fputs("<tr data-name=\"", out);
		esc(out, name);
		fputs("\"><th>", out);
		if (results)
			result_span(out, name);
		else
			esc(out, name);
		fprintf(out, "</th><td data-n=\"%llu\">%llu</td><td>%.1f %%</td></tr>\n",
			(unsigned long long)counts[i], (unsigned long long)counts[i],
			total ? 100.0 * (double)counts[i] / (double)total : 0.0);
	}
	fputs("</tbody></table>\n", out);
}

/* "failures: refused 1, tls_alert 2; alerts: bad_certificate 2" (nothing when none failed) */
static void failures_line(FILE *out, const struct report *r, const struct report_group *g)
{
	const char *sep = "";
	size_t i;

	if (!report_group_failed(r, g))
		return;
	fputs("<p class=\"failures\">failures:", out);
	for (i = 0; i <= r->n_results && i <= REPORT_MAX_RESULTS; i++) {
		const char *name = i < r->n_results ? r->result_names[i] : "other";

		if (!g->results[i] || !strcmp(name, "ok"))
			continue;
		fprintf(out, "%s ", sep);
		result_span(out, name);
		fprintf(out, " %llu", (unsigned long long)g->results[i]);
		sep = ",";
	}
	sep = "; alerts:";
	for (i = 0; i <= r->n_alerts && i <= REPORT_MAX_ALERTS; i++) {
		if (!g->alerts[i])
			continue;
		fprintf(out, "%s ", sep);
		esc(out, i < r->n_alerts ? r->alert_names[i] : "other");
		fprintf(out, " %llu", (unsigned long long)g->alerts[i]);
		sep = ",";
	}
	fputs("</p>\n", out);
}

static void group_block(FILE *out, const struct report *r, const struct report_group *g,
			const char *label, bool other)
{
	fputs("<section class=\"group\" data-key=\"", out);
	esc(out, label);
	fprintf(out, "\"%s><h3>", other ? " data-other=\"1\"" : "");
	esc(out, label);
	fprintf(out, " <small>connections <span data-n=\"%llu\">%llu</span>, failed %llu</small>"
		"</h3>\n", (unsigned long long)g->conns, (unsigned long long)g->conns,
		(unsigned long long)report_group_failed(r, g));
	phase_table(out, r, g, NULL);
	failures_line(out, r, g);
	fputs("</section>\n", out);
}

static int groups_section(FILE *out, const struct report *r, const struct report_view *v)
{
	struct report_group **rows = NULL, rest;
	size_t i, n_rows = 0, folded;
	char label[64];

	if (report_top(r, v->top, &rows, &n_rows, &rest))
		return -ENOMEM;
	fprintf(out, "<h2 id=\"groups\">By %s</h2>\n<p class=\"note\">%zu group%s%s, the top %zu "
		"by connections", report_by_name(r->by), r->n_groups, r->n_groups == 1 ? "" : "s",
		r->other ? " (and more, folded)" : "", n_rows);
	if (rest.conns)
		fputs("; the others are summed into one block", out);
	fputs(".</p>\n", out);
	for (i = 0; i < n_rows; i++)
		group_block(out, r, rows[i], rows[i]->key, false);
	if (rest.conns) {
		folded = r->n_groups - n_rows;
		if (r->other)
			snprintf(label, sizeof(label), "other (%zu+ groups)", folded + 1);
		else
			snprintf(label, sizeof(label), "other (%zu group%s)", folded,
				 folded == 1 ? "" : "s");
		group_block(out, r, &rest, label, true);
	}
	report_group_free_hists(&rest);
	free(rows);
	return 0;
}

/* ---- waterfalls ---- */

/* Colour of a phase bar: picked by its name, so a phase has one colour on the whole page. */
static const char *phase_colour(const char *name)
{
	static const char *const palette[] = { "#4e79a7", "#f28e2b", "#59a14f", "#e15759",
					       "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
					       "#9c755f", "#8c8c8c" };
	uint32_t h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return palette[h % (sizeof(palette) / sizeof(palette[0]))];
}

static double wf_x(uint64_t t, uint64_t span)
{
	return (double)t * WF_W / (double)span;
}

/* "addr:port", "[addr]:port" for IPv6, "?" parts when unknown */
static void endpoint(FILE *out, struct json_object *o)
{
	const char *addr = str_member(o, "addr");
	uint64_t port = 0;
	bool v6 = addr && strchr(addr, ':');

	u64_member(o, "port", &port);
	fputs(v6 ? "[" : "", out);
	esc(out, addr ? addr : "?");
	fprintf(out, "%s:%llu", v6 ? "]" : "", (unsigned long long)port);
}

/* An alert's description: the name, its number, or "encrypted" (null). */
static void alert_desc(FILE *out, struct json_object *alert)
{
	struct json_object *d = NULL;

	json_object_object_get_ex(alert, "description", &d);
	if (d && json_object_is_type(d, json_type_string))
		esc(out, json_object_get_string(d));
	else if (d && json_object_is_type(d, json_type_int))
		fprintf(out, "%lld", (long long)json_object_get_int64(d));
	else
		fputs("encrypted", out);
}

/* The latest time on the waterfall's axis (events, application times, phase ends), >= 1. */
static uint64_t wf_span(struct json_object *evs, struct json_object *phs)
{
	size_t i, n = evs ? json_object_array_length(evs) : 0;
	uint64_t span = 1, t;

	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(evs, i);

		if (u64_member(e, "t_us", &t) && t > span)
			span = t;
		if (u64_member(e, "app_us", &t) && t > span)
			span = t;
	}
	n = phs ? json_object_array_length(phs) : 0;
	for (i = 0; i < n; i++)
		if (u64_member(json_object_array_get_idx(phs, i), "end_us", &t) && t > span)
			span = t;
	return span;
}

static const char *dir_class(const char *dir)
{
	return !dir ? "none" : !strcmp(dir, "out") ? "out" : !strcmp(dir, "in") ? "in" : "none";
}

/* One event row: T, +Δ, direction, event, application time (relative to T), and its bar: the
 * stretch since the previous event, a dot at its wire time, a square at its application time. */
static void event_row(FILE *out, struct json_object *e, uint64_t prev, uint64_t span)
{
	const char *dir = str_member(e, "dir"), *cls = dir_class(dir);
	uint64_t t = 0, app, len, recs;
	bool has_app = u64_member(e, "app_us", &app);
	char ms[32], dms[32];
	double x0, x1;

	u64_member(e, "t_us", &t);
	if (t < prev)
		prev = t;
	fprintf(out, "<tr class=\"ev\"><td class=\"t\">%s</td><td class=\"t\">%s</td>"
		"<td class=\"%s\">%s</td><td>", present_us_ms(t, ms, sizeof(ms)),
		present_us_ms(t - prev, dms, sizeof(dms)), cls,
		!strcmp(cls, "out") ? "\u2192" : !strcmp(cls, "in") ? "\u2190" : "");
	esc(out, str_member(e, "event") ?: "?");
	if (u64_member(e, "len", &len) && len)
		fprintf(out, " %lluB", (unsigned long long)len);
	if (u64_member(e, "records", &recs) && recs)
		fprintf(out, "/%llu", (unsigned long long)recs);
	if (true_member(e, "derived"))
		fputs(" (derived)", out);
	if (true_member(e, "estimated"))
		fputs(" (estimated)", out);
	fputs("</td><td class=\"t\">", out);
	if (has_app)
		fprintf(out, "%c%s", app < t ? '-' : '+',
			present_us_ms(app < t ? t - app : app - t, ms, sizeof(ms)));
	fprintf(out, "</td><td><svg class=\"bar\" width=\"%d\" height=\"%d\">", WF_W, WF_H);
	x0 = wf_x(prev, span);
	x1 = wf_x(t, span);
	if (x1 > x0)
		fprintf(out, "<rect class=\"gap\" x=\"%.1f\" y=\"5\" width=\"%.1f\" height=\"4\"/>",
			x0, x1 - x0);
	if (has_app) {
		double xa = wf_x(app, span);

		fprintf(out, "<line class=\"app\" x1=\"%.1f\" y1=\"7\" x2=\"%.1f\" y2=\"7\"/>"
			"<rect class=\"app\" x=\"%.1f\" y=\"3.5\" width=\"7\" height=\"7\"/>",
			x1, xa, xa - 3.5);
	}
	fprintf(out, "<circle class=\"%s\" cx=\"%.1f\" cy=\"7\" r=\"3.5\"/></svg></td></tr>\n",
		cls, x1);
}

/* The name of event index i ("client_hello"), "?" when out of range. */
static const char *event_at(struct json_object *evs, int64_t i)
{
	size_t n = evs ? json_object_array_length(evs) : 0;
	const char *name;

	if (i < 0 || (uint64_t)i >= n)
		return "?";
	name = str_member(json_object_array_get_idx(evs, (size_t)i), "event");
	return name ? name : "?";
}

/* "wire", "app", or "wire→app" for a phase measured from one clock to the other */
static const char *phase_clock(struct json_object *ph)
{
	const char *from = str_member(ph, "from_at"), *to = str_member(ph, "to_at");
	bool fa = from && !strcmp(from, "app"), ta = to && !strcmp(to, "app");

	if (true_member(ph, "estimated"))
		return "estimate";
	return fa && ta ? "app" : fa ? "app\u2192wire" : ta ? "wire\u2192app" : "wire";
}

/* One phase row: duration, name with its events, clock, and a bar from start to end. */
static void phase_row(FILE *out, struct json_object *ph, struct json_object *evs,
		      struct json_object *phases_us, uint64_t span)
{
	const char *name = str_member(ph, "name") ?: "?", *clock = phase_clock(ph);
	struct json_object *fv = member(ph, "from", json_type_int);
	struct json_object *tv = member(ph, "to", json_type_int);
	uint64_t start = 0, end = 0, dur;
	bool est = true_member(ph, "estimated");
	char ms[32];
	double x0, x1;

	u64_member(ph, "start_us", &start);
	u64_member(ph, "end_us", &end);
	if (end < start)
		end = start;
	if (!u64_member(phases_us, name, &dur))
		dur = end - start;
	fputs("<tr class=\"ph\" data-phase=\"", out);
	esc(out, name);
	fprintf(out, "\"><td class=\"t\" colspan=\"2\">%s ms</td><td></td><td>",
		present_us_ms(dur, ms, sizeof(ms)));
	esc(out, name);
	if (fv && tv) {
		fputs(" <small>", out);
		esc(out, event_at(evs, json_object_get_int64(fv)));
		fputs(" \u2192 ", out);
		esc(out, event_at(evs, json_object_get_int64(tv)));
		fputs("</small>", out);
	}
	fprintf(out, "</td><td>%s</td><td><svg class=\"bar\" width=\"%d\" height=\"%d\">", clock,
		WF_W, WF_H);
	x0 = wf_x(start, span);
	x1 = wf_x(end, span);
	fprintf(out, "<rect class=\"%s\" x=\"%.1f\" y=\"2\" width=\"%.1f\" height=\"10\" "
		"fill=\"%s\" stroke=\"%s\"><title>", est ? "phe" : strcmp(clock, "wire") ? "pha" :
		"phw", x0, x1 - x0 < 2 ? 2 : x1 - x0, phase_colour(name), phase_colour(name));
	esc(out, name);
	fprintf(out, " %s ms</title></rect></svg></td></tr>\n", ms);
}

/* TLS (and a few TCP) parameters of one connection, as a key/value table. */
static void params_table(FILE *out, struct json_object *rec)
{
	struct json_object *tls = member(rec, "tls", json_type_object);
	struct json_object *tcp = member(rec, "tcp", json_type_object);
	struct json_object *alpn = member(tls, "alpn", json_type_object), *arr, *alert, *o;
	static const char *const strs[][2] = { { "version", "TLS version" }, { "cipher", "cipher" },
					       { "group", "group" }, { "sni", "SNI" } };
	const char *s;
	uint64_t v, b;
	size_t i, n;

	fputs("<table class=\"kv params\">\n", out);
	for (i = 0; tls && i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!(s = str_member(tls, strs[i][0])))
			continue;
		fprintf(out, "<tr><th>%s</th><td data-key=\"%s\">", strs[i][1], strs[i][0]);
		esc(out, s);
		fputs("</td></tr>\n", out);
	}
	if (alpn) {
		fputs("<tr><th>ALPN</th><td data-key=\"alpn\">", out);
		if ((s = str_member(alpn, "selected"))) {
			esc(out, s);
			fputs(" <small>(of ", out);
		} else {
			fputs("<small>offered ", out);
		}
		arr = member(alpn, "offered", json_type_array);
		n = arr ? json_object_array_length(arr) : 0;
		for (i = 0; i < n; i++) {
			o = json_object_array_get_idx(arr, i);
			if (i)
				fputs(", ", out);
			esc(out, json_object_is_type(o, json_type_string) ?
				json_object_get_string(o) : "?");
		}
		fputs(s ? ")</small>" : "</small>", out);
		fputs("</td></tr>\n", out);
	}
	if (tls && (o = member(tls, "resumed", json_type_boolean)))
		fprintf(out, "<tr><th>resumed</th><td>%s</td></tr>\n",
			json_object_get_boolean(o) ? "yes" : "no");
	if ((o = member(tls, "cert_chain", json_type_object)) && u64_member(o, "count", &v) &&
	    u64_member(o, "bytes", &b))
		fprintf(out, "<tr><th>certificates</th><td>%llu, %llu bytes</td></tr>\n",
			(unsigned long long)v, (unsigned long long)b);
	if ((alert = member(tls, "alert", json_type_object))) {
		fputs("<tr><th>alert</th><td class=\"fail\" data-key=\"alert\">", out);
		esc(out, str_member(alert, "level") ?: "");
		fputs(" ", out);
		alert_desc(out, alert);
		if ((s = str_member(alert, "dir")))
			fprintf(out, " (%s)", !strcmp(s, "out") ? "sent" : "received");
		fputs("</td></tr>\n", out);
	}
	if ((s = str_member(tls, "verify"))) {
		fputs("<tr><th>verify</th><td>", out);
		esc(out, s);
		fputs("</td></tr>\n", out);
	}
	if ((o = member(tls, "library", json_type_object)) && (s = str_member(o, "name"))) {
		fputs("<tr><th>library</th><td>", out);
		esc(out, s);
		fputs("</td></tr>\n", out);
	}
	if (tcp && u64_member(tcp, "srtt_us", &v)) {
		char ms[32];

		fprintf(out, "<tr><th>TCP srtt</th><td>%s ms</td></tr>\n",
			present_us_ms(v, ms, sizeof(ms)));
	}
	if (tcp && u64_member(tcp, "syn_retransmits", &v) && v)
		fprintf(out, "<tr><th>SYN retransmits</th><td>%llu</td></tr>\n",
			(unsigned long long)v);
	if ((s = str_member(tcp, "error"))) {
		fputs("<tr><th>TCP error</th><td class=\"fail\">", out);
		esc(out, s);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void waterfall(FILE *out, const struct kept *kp, const char *list, size_t rank)
{
	struct json_object *rec = kp->rec, *o;
	struct json_object *evs = member(rec, "events", json_type_array);
	struct json_object *phs = member(rec, "phases", json_type_array);
	struct json_object *phases_us = member(rec, "phases_us", json_type_object);
	const char *comm = str_member(rec, "comm"), *role = str_member(rec, "role") ?: "-";
	const char *result = str_member(rec, "result") ?: "?";
	size_t i, n_ev = evs ? json_object_array_length(evs) : 0, shown;
	size_t n_ph = phs ? json_object_array_length(phs) : 0;
	uint64_t pid = 0, span = wf_span(evs, phs), prev = 0, t;
	char ms[32];

	shown = n_ev < REPORT_HTML_MAX_EVENTS ? n_ev : REPORT_HTML_MAX_EVENTS;
	fprintf(out, "<section class=\"wf\" data-list=\"%s\" data-record=\"%llu\" "
		"data-events=\"%zu\">\n<h3>%s #%zu: ", list, (unsigned long long)kp->seq, shown,
		list, rank);
	if (comm && u64_member(rec, "pid", &pid)) {
		esc(out, comm);
		fprintf(out, "[%llu]", (unsigned long long)pid);
	} else {
		fputs("?[-]", out);
	}
	fputs(" ", out);
	esc(out, role);
	fputs(" ", out);
	endpoint(out, member(rec, "local", json_type_object));
	fputs(" \u2192 ", out);
	endpoint(out, member(rec, "peer", json_type_object));
	fputs(" ", out);
	fprintf(out, "<span class=\"%s\">", !strcmp(result, "ok") ? "ok" : "fail");
	esc(out, result);
	o = member(member(rec, "tls", json_type_object), "alert", json_type_object);
	if (o && (!strcmp(result, "tls_alert") || !strcmp(result, "tls_failed"))) {
		fputs(":", out);
		alert_desc(out, o);
	}
	fputs("</span></h3>\n<p class=\"meta\">record ", out);
	fprintf(out, "%llu, started ", (unsigned long long)kp->seq);
	esc(out, str_member(rec, "start") ?: "?");
	fprintf(out, ", %s %s ms", kp->by < N_RANK_PHASES ? rank_phases[kp->by] : "last event at",
		present_us_ms(kp->key, ms, sizeof(ms)));
	if (n_ev > shown)
		fprintf(out, "; the first %zu of %zu events are drawn", shown, n_ev);
	fputs("</p>\n<div class=\"wfbody\">\n<table class=\"wft\">\n", out);
	fprintf(out, "<thead><tr><th>T(ms)</th><th>+\u0394(ms)</th><th></th><th>event</th>"
		"<th>app(ms)</th><th>0 \u2013 %s ms</th></tr></thead>\n<tbody>\n",
		present_us_ms(span, ms, sizeof(ms)));
	for (i = 0; i < shown; i++) {
		struct json_object *e = json_object_array_get_idx(evs, i);

		event_row(out, e, prev, span);
		if (u64_member(e, "t_us", &t))
			prev = t;
	}
	fputs("</tbody>\n<tbody class=\"phs\">\n", out);
	for (i = 0; i < n_ph; i++)
		phase_row(out, json_object_array_get_idx(phs, i), evs, phases_us, span);
	if (!phs && phases_us) { /* a record written before "phases" existed: no start, no end */
		json_object_object_foreach(phases_us, name, val) {
			uint64_t us = json_object_is_type(val, json_type_int) ?
				      (uint64_t)json_object_get_int64(val) : 0;

			fputs("<tr class=\"ph\" data-phase=\"", out);
			esc(out, name);
			fprintf(out, "\"><td class=\"t\" colspan=\"2\">%s ms</td><td></td><td>",
				present_us_ms(us, ms, sizeof(ms)));
			esc(out, name);
			fputs("</td><td colspan=\"2\"><small>(no start and end in this record)"
			      "</small></td></tr>\n", out);
		}
	}
	fputs("</tbody></table>\n", out);
	params_table(out, rec);
	fputs("</div>\n</section>\n", out);
}

static int kept_cmp(const void *a, const void *b)
{
	const struct kept *x = a, *y = b;

	return kept_worse(y, x) ? -1 : kept_worse(x, y) ? 1 : 0;
}

/* The heap's records, slowest first (an allocated copy; NULL when empty or out of memory). */
static struct kept *sorted(const struct heap *h)
{
	struct kept *v;

	if (!h->n)
		return NULL;
	v = malloc(h->n * sizeof(*v));
	if (!v)
		return NULL;
	memcpy(v, h->v, h->n * sizeof(*v));
	qsort(v, h->n, sizeof(*v), kept_cmp);
	return v;
}

static const char legend[] =
	"<p class=\"note\">Times in ms since the connection's first event. "
	"<svg width=\"10\" height=\"10\"><circle class=\"out\" cx=\"5\" cy=\"5\" r=\"4\"/></svg> "
	"sent / "
	"<svg width=\"10\" height=\"10\"><circle class=\"in\" cx=\"5\" cy=\"5\" r=\"4\"/></svg> "
	"received: when the bytes passed this host's TCP stack (wire time); "
	"<svg width=\"10\" height=\"10\"><rect class=\"app\" x=\"1\" y=\"1\" width=\"8\" "
	"height=\"8\"/></svg> when the application wrote or read the record (application time, "
	"<i>app</i>: relative to the wire time). Phase bars run from their true start to their "
	"end: "
	"solid between wire times, light between application times (or one of each), dashed for "
	"an estimate.</p>\n";

/*
 * The failed records to draw after the slowest: up to k->cap, taken in turn from each failure
 * result (the slowest of each first), leaving out those already drawn as slowest. Fills
 * out[] (room for k->cap) from the sorted heaps fs[]; returns how many.
 */
static size_t pick_failed(const struct report_html_keep *k, struct kept *const fs[N_FAILED],
			  const struct kept **out)
{
	size_t next[N_FAILED] = {}, n = 0, f;
	bool more = true;

	while (n < k->cap && more) {
		more = false;
		for (f = 0; f < N_FAILED && n < k->cap; f++) {
			while (next[f] < k->failed[f].n &&
			       in_heap(&k->slow, fs[f][next[f]].seq))
				next[f]++;
			if (next[f] < k->failed[f].n) {
				out[n++] = &fs[f][next[f]++];
				more = true;
			}
		}
	}
	return n;
}

static int waterfalls_section(FILE *out, const struct report_html_keep *k)
{
	struct kept *slow = sorted(&k->slow), *fs[N_FAILED] = {};
	const struct kept **failed = calloc(k->cap ? k->cap : 1, sizeof(*failed));
	size_t i, f, n_failed = 0;
	int err = 0;

	for (f = 0; f < N_FAILED; f++)
		if (k->failed[f].n && !(fs[f] = sorted(&k->failed[f])))
			err = -ENOMEM;
	if (err || !failed || (k->slow.n && !slow)) {
		err = -ENOMEM;
		goto out;
	}
	n_failed = pick_failed(k, fs, failed);
	fputs("<h2 id=\"waterfalls\">Waterfalls</h2>\n", out);
	fprintf(out, "<p class=\"note\" id=\"wf-note\">Drawn: the <span data-n=\"%zu\">%zu</span> "
		"slowest of %llu connections ranked by <code>total</code>, else "
		"<code>tls_handshake</code>, else <code>tcp_handshake</code>; then <span "
		"data-n=\"%zu\">%zu</span> of the %llu failed ones not among them, taken in turn "
		"from each failure (refused, timeout, reset, tls_alert, tls_failed), the slowest "
		"of each first (by the same phases, else by their last event). At most %zu of each "
		"list (<code>--waterfalls N</code>): only these connections' events were kept "
		"while reading; the tables above count all %llu records.</p>\n", k->slow.n,
		k->slow.n, (unsigned long long)k->ranked, n_failed, n_failed,
		(unsigned long long)k->failed_seen, k->cap, (unsigned long long)k->records);
	if (k->slow.n || n_failed)
		fputs(legend, out);
	for (i = 0; i < k->slow.n; i++)
		waterfall(out, &slow[i], "slowest", i + 1);
	for (i = 0; i < n_failed; i++)
		waterfall(out, failed[i], "failed", i + 1);
out:
	free(slow);
	for (f = 0; f < N_FAILED; f++)
		free(fs[f]);
	free(failed);
	return err;
}

/* ---- the page ---- */

/* "2, 5, 9" (the first skipped line numbers), ", ..." when there were more */
static void skipped_lines(FILE *out, const struct ndjson_stats *st)
{
	unsigned int i;

	for (i = 0; i < st->n_first_invalid; i++)
		fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)st->first_invalid[i]);
	if (st->invalid > st->n_first_invalid)
		fputs(", ...", out);
}

static void header(FILE *out, const struct report *r, const struct report_html_input *in,
		   const struct report_html_keep *k)
{
	const struct report_group *t = &r->total;
	uint64_t failed = report_group_failed(r, t);
	const char *file = in && in->file ? in->file : "-";
	const struct ndjson_stats *st = in ? in->st : NULL;
	const char *sep = "";
	size_t i;

	fputs("<table class=\"kv\" id=\"input\">\n<tr><th>Input</th><td id=\"file\">", out);
	esc(out, !strcmp(file, "-") ? "standard input" : file);
	fputs("</td></tr>\n", out);
	if (st) {
		fprintf(out, "<tr><th>Lines</th><td id=\"lines\" data-lines=\"%llu\" "
			"data-records=\"%llu\" data-skipped=\"%llu\">%llu lines, %llu records, "
			"%llu skipped", (unsigned long long)st->lines,
			(unsigned long long)st->records, (unsigned long long)st->invalid,
			(unsigned long long)st->lines, (unsigned long long)st->records,
			(unsigned long long)st->invalid);
		if (st->invalid) {
			fprintf(out, " <span class=\"fail\">(line%s ", st->invalid == 1 ? "" : "s");
			skipped_lines(out, st);
			fputs(": not hstrace records)</span>", out);
		}
		fputs("</td></tr>\n", out);
	}
	if (k && k->first_start[0])
		fprintf(out, "<tr><th>Time range</th><td id=\"range\">%s \u2013 %s <small>(first "
			"and last connection start, UTC)</small></td></tr>\n", k->first_start,
			k->last_start);
	fprintf(out, "<tr><th>Connections</th><td id=\"conns\" data-n=\"%llu\" "
		"data-failed=\"%llu\">%llu (ok %llu, failed %llu)</td></tr>\n",
		(unsigned long long)r->conns, (unsigned long long)failed,
		(unsigned long long)r->conns, (unsigned long long)(t->conns - failed),
		(unsigned long long)failed);
	fputs("<tr><th>Results</th><td>", out);
	for (i = 0; i <= r->n_results && i <= REPORT_MAX_RESULTS; i++) {
		if (!t->results[i])
			continue;
		fputs(sep, out);
		result_span(out, i < r->n_results ? r->result_names[i] : "other");
		fprintf(out, " %llu", (unsigned long long)t->results[i]);
		sep = ", ";
	}
	fputs(*sep ? "</td></tr>\n" : "none</td></tr>\n", out);
	if (r->by != REPORT_BY_NONE)
		fprintf(out, "<tr><th>Grouped by</th><td>%s</td></tr>\n", report_by_name(r->by));
	if (r->phases_dropped)
		fprintf(out, "<tr><th>Phase values dropped</th><td class=\"fail\">%llu (more "
			"than %d phase names)</td></tr>\n", (unsigned long long)r->phases_dropped,
			REPORT_MAX_PHASES);
	fputs("</table>\n", out);
}

int report_html_write(FILE *out, const struct report *r, const struct report_view *v,
		      const struct report_html_input *in, const struct report_html_keep *k)
{
	const struct report_group *t = &r->total;
	const char *file = in && in->file ? in->file : "-";
	size_t i;
	int err = 0;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>hstrace report: ", out);
	esc(out, !strcmp(file, "-") ? "standard input" : file);
	fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>hstrace report</h1>\n",
		css);
	fputs("<nav><a href=\"#phases\">phases</a><a href=\"#histograms\">histograms</a>"
	      "<a href=\"#failures\">results and failures</a>", out);
	if (r->by != REPORT_BY_NONE)
		fputs("<a href=\"#groups\">groups</a>", out);
	if (k)
		fputs("<a href=\"#waterfalls\">waterfalls</a>", out);
	fputs("</nav>\n", out);
	header(out, r, in, k);

	fputs("<h2 id=\"phases-h\">Phases</h2>\n<p class=\"note\">Per phase: connections that had "
	      "it, min, percentiles (nearest rank, within 1/128 of the exact value) and max, in "
	      "milliseconds: the numbers of <code>hstrace report --json</code>.</p>\n", out);
	phase_table(out, r, t, "phases");

	fputs("<h2 id=\"histograms\">Histograms</h2>\n<div class=\"hists\">\n", out);
	for (i = 0; i < r->n_phases; i++)
		if (t->phases[i].count)
			hist_svg(out, r->phase_names[i], &t->phases[i]);
	fputs("</div>\n", out);

	fputs("<h2 id=\"failures\">Results and failures</h2>\n<div class=\"row\">\n", out);
	counts_table(out, "results", "result", t->results,
		     (const char(*)[REPORT_NAME_LEN])r->result_names, r->n_results,
		     REPORT_MAX_RESULTS, t->conns, true);
	for (i = 0; i <= r->n_alerts && i <= REPORT_MAX_ALERTS; i++)
		if (t->alerts[i])
			break;
	if (i <= r->n_alerts && i <= REPORT_MAX_ALERTS)
		counts_table(out, "alerts", "TLS alert", t->alerts,
			     (const char(*)[REPORT_NAME_LEN])r->alert_names, r->n_alerts,
			     REPORT_MAX_ALERTS, t->conns, false);
	fputs("</div>\n", out);

	if (r->by != REPORT_BY_NONE)
		err = groups_section(out, r, v);
	if (!err && k)
		err = waterfalls_section(out, k);
	fputs("</body>\n</html>\n", out);
	if (err)
		return err;
	return ferror(out) ? -EIO : 0;
}
