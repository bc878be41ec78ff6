/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * report_html.h - `hstrace report --html`: the report as one self-contained HTML page (inline
 * CSS and inline SVG, no script, no external resource), for a ticket or a post-mortem.
 *
 * The tables are the report's own numbers (struct report, hist_percentile(), hist_log2(): the
 * same code as the text and JSON reports). Besides them the page draws waterfalls of a few
 * connections: while the file is read, a struct report_html_keep holds the N slowest records
 * (by `total`, else `tls_handshake`, else `tcp_handshake`) and the N slowest of each failure
 * result, in bounded heaps, so a 1,000,000-record file makes a page about the size of a
 * 1,000-record one (200 and 195 KiB, docs/report.md).
 * Everything that comes from the input (names, addresses, the file name) goes through
 * report_html_escape(). See docs/report.md.
 */
#ifndef HSTRACE_REPORT_HTML_H
#define HSTRACE_REPORT_HTML_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "ndjson_read.h"
#include "report.h"

#define REPORT_HTML_DEFAULT_WATERFALLS 20
#define REPORT_HTML_MAX_WATERFALLS 1000
#define REPORT_HTML_MAX_EVENTS 512 /* event rows drawn per connection; the rest are counted */

struct report_html_keep;

/* Returns a new, empty selection that keeps at most n slowest and n failed records (n may be
 * 0: no waterfall), or NULL (ENOMEM). */
struct report_html_keep *report_html_keep_new(size_t n);

/*
 * Offers one record: s is its sample (as report_add() gets it) and rec its JSON object (as
 * ndjson_current() returns it). A record worth drawing is kept by taking a reference on rec
 * (json_object_get()); the one it displaces is released. Also notes the record's "start" for
 * the page's time range. Returns 0 (the heaps are allocated by report_html_keep_new(); the
 * int is for callers that chain it with report_add()).
 */
int report_html_keep_add(struct report_html_keep *k, const struct report_sample *s,
			 struct json_object *rec);

/* Number of distinct records held (at most 6 n: the slowest, and per failure result), for
 * tests. */
size_t report_html_keep_count(const struct report_html_keep *k);

/* Releases the records held and frees k. Accepts NULL. */
void report_html_keep_free(struct report_html_keep *k);

/*
 * Reads every remaining record of rd (on the calling thread: the kept records are the reader's
 * JSON objects, which the parallel reader does not keep) into r and k. Returns 0 at the end,
 * or the error of ndjson_next() / report_add() / report_html_keep_add() (-EIO, -ENOMEM).
 */
int report_html_read(struct ndjson_reader *rd, struct report *r, struct report_html_keep *k);

/*
 * Writes s to out escaped for HTML text and attribute values alike: & < > " ' become
 * entities, control characters (< 0x20, 0x7f) and bytes that are not valid UTF-8 become '?'.
 * NULL writes nothing. Returns 0, or -EIO when out has an error.
 */
int report_html_escape(FILE *out, const char *s);

/* Where the report's records came from (the header of the page). */
struct report_html_input {
	const char *file;		/* as given on the command line ("-": standard input) */
	const struct ndjson_stats *st;	/* lines, records, skipped; NULL: not shown */
};

/*
 * Writes the page: header (input, time range, connections, results, skipped lines, the
 * connections marked with lost events: r->lost), the per-phase percentile table and log2
 * histograms, failures by result and alert, the --by groups (v->top of them, the rest summed),
 * and the waterfalls of k's records (k may be NULL).
 * Returns 0, or -ENOMEM / -EIO.
 */
int report_html_write(FILE *out, const struct report *r, const struct report_view *v,
		      const struct report_html_input *in, const struct report_html_keep *k);

#endif /* HSTRACE_REPORT_HTML_H */
