// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_html.c - the report as one self-contained HTML page: escaping, header, per-phase
 * percentile table and log2 histograms (inline SVG), results and alerts, --by groups. The
 * waterfalls of the slowest and the failed connections are drawn by report_html_waterfall.c
 * from the records report_html_keep.c kept while reading.
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
#include "report_html_int.h"

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

void html_esc(FILE *out, const char *s)
{
	report_html_escape(out, s);
}

/* A result name with the "fail" or "ok" class. */
static void result_span(FILE *out, const char *name)
{
	fprintf(out, "<span class=\"%s\">", !strcmp(name, "ok") ? "ok" : "fail");
	html_esc(out, name);
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
		html_esc(out, r->phase_names[i]);
		fputs("\"><th>", out);
		html_esc(out, r->phase_names[i]);
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
	html_esc(out, name);
	fputs("\"><figcaption>", out);
	html_esc(out, name);
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
		html_esc(out, name);
		fputs("\"><th>", out);
		if (results)
			result_span(out, name);
		else
			html_esc(out, name);
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
		html_esc(out, i < r->n_alerts ? r->alert_names[i] : "other");
		fprintf(out, " %llu", (unsigned long long)g->alerts[i]);
		sep = ",";
	}
	fputs("</p>\n", out);
}

static void group_block(FILE *out, const struct report *r, const struct report_group *g,
			const char *label, bool other)
{
	fputs("<section class=\"group\" data-key=\"", out);
	html_esc(out, label);
	fprintf(out, "\"%s><h3>", other ? " data-other=\"1\"" : "");
	html_esc(out, label);
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

/* The connections whose record carries a mark of lost events (the report's count, as in the
 * text and JSON reports), and where the records lost whole are counted instead. */
static void lost_row(FILE *out, const struct report_lost *l)
{
	fprintf(out, "<tr><th>Lost events</th><td id=\"lost\" data-n=\"%llu\" "
		"data-close-lost=\"%llu\" data-desync=\"%llu\"><span%s>%llu connection%s marked "
		"(<code>tcp.close_lost</code> %llu, <code>tls.desync</code> %llu)</span><br>"
		"<small>A mark says hstrace missed some of that connection's events: its "
		"<code>closed</code> record (close time right, last counters and error not), or "
		"the TLS record framing of a direction (later records there are missing). Records "
		"lost whole in the kernel's ring buffer are not in the file: the hstrace that "
		"wrote it counts them (<code>lost=</code> on its <code>Summary:</code> line, the "
		"metric <code>hstrace_records_lost_total</code>).</small></td></tr>\n",
		(unsigned long long)l->conns, (unsigned long long)l->close_lost,
		(unsigned long long)l->desync, l->conns ? " class=\"fail\"" : "",
		(unsigned long long)l->conns, l->conns == 1 ? "" : "s",
		(unsigned long long)l->close_lost, (unsigned long long)l->desync);
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
	html_esc(out, !strcmp(file, "-") ? "standard input" : file);
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
	lost_row(out, &r->lost);
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
	html_esc(out, !strcmp(file, "-") ? "standard input" : file);
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
		err = html_waterfalls_section(out, k);
	fputs("</body>\n</html>\n", out);
	if (err)
		return err;
	return ferror(out) ? -EIO : 0;
}
