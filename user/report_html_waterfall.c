// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_html_waterfall.c - the Waterfalls section of the `hstrace report --html` page: for
 * each record kept while reading (report_html_keep.c), the slowest first, then the failed ones,
 * its events on a time axis (wire time and application time), its phases as bars from their
 * true start to their end (the record's "phases" array, docs/json.md), and its TLS and TCP
 * parameters.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "present.h"
#include "report_html_int.h"

#define WF_W 380	/* waterfall bar column */
#define WF_H 14

/* true when o's member key is the JSON true */
static bool true_member(struct json_object *o, const char *key)
{
	struct json_object *m = html_member(o, key, json_type_boolean);

	return m && json_object_get_boolean(m);
}

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
	const char *addr = html_str_member(o, "addr");
	uint64_t port = 0;
	bool v6 = addr && strchr(addr, ':');

	html_u64_member(o, "port", &port);
	fputs(v6 ? "[" : "", out);
	html_esc(out, addr ? addr : "?");
	fprintf(out, "%s:%llu", v6 ? "]" : "", (unsigned long long)port);
}

/* An alert's description: the name, its number, or "encrypted" (null). */
static void alert_desc(FILE *out, struct json_object *alert)
{
	struct json_object *d = NULL;

	json_object_object_get_ex(alert, "description", &d);
	if (d && json_object_is_type(d, json_type_string))
		html_esc(out, json_object_get_string(d));
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

		if (html_u64_member(e, "t_us", &t) && t > span)
			span = t;
		if (html_u64_member(e, "app_us", &t) && t > span)
			span = t;
	}
	n = phs ? json_object_array_length(phs) : 0;
	for (i = 0; i < n; i++)
		if (html_u64_member(json_object_array_get_idx(phs, i), "end_us", &t) && t > span)
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
	const char *dir = html_str_member(e, "dir"), *cls = dir_class(dir);
	uint64_t t = 0, app, len, recs;
	bool has_app = html_u64_member(e, "app_us", &app);
	char ms[32], dms[32];
	double x0, x1;

	html_u64_member(e, "t_us", &t);
	if (t < prev)
		prev = t;
	fprintf(out, "<tr class=\"ev\"><td class=\"t\">%s</td><td class=\"t\">%s</td>"
		"<td class=\"%s\">%s</td><td>", present_us_ms(t, ms, sizeof(ms)),
		present_us_ms(t - prev, dms, sizeof(dms)), cls,
		!strcmp(cls, "out") ? "\u2192" : !strcmp(cls, "in") ? "\u2190" : "");
	html_esc(out, html_str_member(e, "event") ?: "?");
	if (html_u64_member(e, "len", &len) && len)
		fprintf(out, " %lluB", (unsigned long long)len);
	if (html_u64_member(e, "records", &recs) && recs)
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
	name = html_str_member(json_object_array_get_idx(evs, (size_t)i), "event");
	return name ? name : "?";
}

/* "wire", "app", or "wire→app" for a phase measured from one clock to the other */
static const char *phase_clock(struct json_object *ph)
{
	const char *from = html_str_member(ph, "from_at"), *to = html_str_member(ph, "to_at");
	bool fa = from && !strcmp(from, "app"), ta = to && !strcmp(to, "app");

	if (true_member(ph, "estimated"))
		return "estimate";
	return fa && ta ? "app" : fa ? "app\u2192wire" : ta ? "wire\u2192app" : "wire";
}

/* One phase row: duration, name with its events, clock, and a bar from start to end. */
static void phase_row(FILE *out, struct json_object *ph, struct json_object *evs,
		      struct json_object *phases_us, uint64_t span)
{
	const char *name = html_str_member(ph, "name") ?: "?", *clock = phase_clock(ph);
	struct json_object *fv = html_member(ph, "from", json_type_int);
	struct json_object *tv = html_member(ph, "to", json_type_int);
	uint64_t start = 0, end = 0, dur;
	bool est = true_member(ph, "estimated");
	char ms[32];
	double x0, x1;

	html_u64_member(ph, "start_us", &start);
	html_u64_member(ph, "end_us", &end);
	if (end < start)
		end = start;
	if (!html_u64_member(phases_us, name, &dur))
		dur = end - start;
	fputs("<tr class=\"ph\" data-phase=\"", out);
	html_esc(out, name);
	fprintf(out, "\"><td class=\"t\" colspan=\"2\">%s ms</td><td></td><td>",
		present_us_ms(dur, ms, sizeof(ms)));
	html_esc(out, name);
	if (fv && tv) {
		fputs(" <small>", out);
		html_esc(out, event_at(evs, json_object_get_int64(fv)));
		fputs(" \u2192 ", out);
		html_esc(out, event_at(evs, json_object_get_int64(tv)));
		fputs("</small>", out);
	}
	fprintf(out, "</td><td>%s</td><td><svg class=\"bar\" width=\"%d\" height=\"%d\">", clock,
		WF_W, WF_H);
	x0 = wf_x(start, span);
	x1 = wf_x(end, span);
	fprintf(out, "<rect class=\"%s\" x=\"%.1f\" y=\"2\" width=\"%.1f\" height=\"10\" "
		"fill=\"%s\" stroke=\"%s\"><title>", est ? "phe" : strcmp(clock, "wire") ? "pha" :
		"phw", x0, x1 - x0 < 2 ? 2 : x1 - x0, phase_colour(name), phase_colour(name));
	html_esc(out, name);
	fprintf(out, " %s ms</title></rect></svg></td></tr>\n", ms);
}

/* TLS (and a few TCP) parameters of one connection, as a key/value table. */
static void params_table(FILE *out, struct json_object *rec)
{
	struct json_object *tls = html_member(rec, "tls", json_type_object);
	struct json_object *tcp = html_member(rec, "tcp", json_type_object);
	struct json_object *alpn = html_member(tls, "alpn", json_type_object), *arr, *alert, *o;
	static const char *const strs[][2] = { { "version", "TLS version" }, { "cipher", "cipher" },
					       { "group", "group" }, { "sni", "SNI" } };
	const char *s;
	uint64_t v, b;
	size_t i, n;

	fputs("<table class=\"kv params\">\n", out);
	for (i = 0; tls && i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (!(s = html_str_member(tls, strs[i][0])))
			continue;
		fprintf(out, "<tr><th>%s</th><td data-key=\"%s\">", strs[i][1], strs[i][0]);
		html_esc(out, s);
		fputs("</td></tr>\n", out);
	}
	if (alpn) {
		fputs("<tr><th>ALPN</th><td data-key=\"alpn\">", out);
		if ((s = html_str_member(alpn, "selected"))) {
			html_esc(out, s);
			fputs(" <small>(of ", out);
		} else {
			fputs("<small>offered ", out);
		}
		arr = html_member(alpn, "offered", json_type_array);
		n = arr ? json_object_array_length(arr) : 0;
		for (i = 0; i < n; i++) {
			o = json_object_array_get_idx(arr, i);
			if (i)
				fputs(", ", out);
			html_esc(out, json_object_is_type(o, json_type_string) ?
				json_object_get_string(o) : "?");
		}
		fputs(s ? ")</small>" : "</small>", out);
		fputs("</td></tr>\n", out);
	}
	if (tls && (o = html_member(tls, "resumed", json_type_boolean)))
		fprintf(out, "<tr><th>resumed</th><td>%s</td></tr>\n",
			json_object_get_boolean(o) ? "yes" : "no");
	if ((o = html_member(tls, "cert_chain", json_type_object)) &&
	    html_u64_member(o, "count", &v) && html_u64_member(o, "bytes", &b))
		fprintf(out, "<tr><th>certificates</th><td>%llu, %llu bytes</td></tr>\n",
			(unsigned long long)v, (unsigned long long)b);
	if ((alert = html_member(tls, "alert", json_type_object))) {
		fputs("<tr><th>alert</th><td class=\"fail\" data-key=\"alert\">", out);
		html_esc(out, html_str_member(alert, "level") ?: "");
		fputs(" ", out);
		alert_desc(out, alert);
		if ((s = html_str_member(alert, "dir")))
			fprintf(out, " (%s)", !strcmp(s, "out") ? "sent" : "received");
		fputs("</td></tr>\n", out);
	}
	if ((s = html_str_member(tls, "verify"))) {
		fputs("<tr><th>verify</th><td>", out);
		html_esc(out, s);
		fputs("</td></tr>\n", out);
	}
	if ((o = html_member(tls, "library", json_type_object)) &&
	    (s = html_str_member(o, "name"))) {
		fputs("<tr><th>library</th><td>", out);
		html_esc(out, s);
		fputs("</td></tr>\n", out);
	}
	if (tcp && html_u64_member(tcp, "srtt_us", &v)) {
		char ms[32];

		fprintf(out, "<tr><th>TCP srtt</th><td>%s ms</td></tr>\n",
			present_us_ms(v, ms, sizeof(ms)));
	}
	if (tcp && html_u64_member(tcp, "syn_retransmits", &v) && v)
		fprintf(out, "<tr><th>SYN retransmits</th><td>%llu</td></tr>\n",
			(unsigned long long)v);
	if ((s = html_str_member(tcp, "error"))) {
		fputs("<tr><th>TCP error</th><td class=\"fail\">", out);
		html_esc(out, s);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

static void waterfall(FILE *out, const struct kept *kp, const char *list, size_t rank)
{
	struct json_object *rec = kp->rec, *o;
	struct json_object *evs = html_member(rec, "events", json_type_array);
	struct json_object *phs = html_member(rec, "phases", json_type_array);
	struct json_object *phases_us = html_member(rec, "phases_us", json_type_object);
	const char *comm = html_str_member(rec, "comm");
	const char *role = html_str_member(rec, "role") ?: "-";
	const char *result = html_str_member(rec, "result") ?: "?";
	size_t i, n_ev = evs ? json_object_array_length(evs) : 0, shown;
	size_t n_ph = phs ? json_object_array_length(phs) : 0;
	uint64_t pid = 0, span = wf_span(evs, phs), prev = 0, t;
	char ms[32];

	shown = n_ev < REPORT_HTML_MAX_EVENTS ? n_ev : REPORT_HTML_MAX_EVENTS;
	fprintf(out, "<section class=\"wf\" data-list=\"%s\" data-record=\"%llu\" "
		"data-events=\"%zu\">\n<h3>%s #%zu: ", list, (unsigned long long)kp->seq, shown,
		list, rank);
	if (comm && html_u64_member(rec, "pid", &pid)) {
		html_esc(out, comm);
		fprintf(out, "[%llu]", (unsigned long long)pid);
	} else {
		fputs("?[-]", out);
	}
	fputs(" ", out);
	html_esc(out, role);
	fputs(" ", out);
	endpoint(out, html_member(rec, "local", json_type_object));
	fputs(" \u2192 ", out);
	endpoint(out, html_member(rec, "peer", json_type_object));
	fputs(" ", out);
	fprintf(out, "<span class=\"%s\">", !strcmp(result, "ok") ? "ok" : "fail");
	html_esc(out, result);
	o = html_member(html_member(rec, "tls", json_type_object), "alert", json_type_object);
	if (o && (!strcmp(result, "tls_alert") || !strcmp(result, "tls_failed"))) {
		fputs(":", out);
		alert_desc(out, o);
	}
	fputs("</span></h3>\n<p class=\"meta\">record ", out);
	fprintf(out, "%llu, started ", (unsigned long long)kp->seq);
	html_esc(out, html_str_member(rec, "start") ?: "?");
	fprintf(out, ", %s %s ms",
		kp->by < HTML_N_RANK_PHASES ? html_rank_phases[kp->by] : "last event at",
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
		if (html_u64_member(e, "t_us", &t))
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
			html_esc(out, name);
			fprintf(out, "\"><td class=\"t\" colspan=\"2\">%s ms</td><td></td><td>",
				present_us_ms(us, ms, sizeof(ms)));
			html_esc(out, name);
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

	return html_kept_worse(y, x) ? -1 : html_kept_worse(x, y) ? 1 : 0;
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
static size_t pick_failed(const struct report_html_keep *k, struct kept *const fs[HTML_N_FAILED],
			  const struct kept **out)
{
	size_t next[HTML_N_FAILED] = {}, n = 0, f;
	bool more = true;

	while (n < k->cap && more) {
		more = false;
		for (f = 0; f < HTML_N_FAILED && n < k->cap; f++) {
			while (next[f] < k->failed[f].n &&
			       html_in_heap(&k->slow, fs[f][next[f]].seq))
				next[f]++;
			if (next[f] < k->failed[f].n) {
				out[n++] = &fs[f][next[f]++];
				more = true;
			}
		}
	}
	return n;
}

int html_waterfalls_section(FILE *out, const struct report_html_keep *k)
{
	struct kept *slow = sorted(&k->slow), *fs[HTML_N_FAILED] = {};
	const struct kept **failed = calloc(k->cap ? k->cap : 1, sizeof(*failed));
	size_t i, f, n_failed = 0;
	int err = 0;

	for (f = 0; f < HTML_N_FAILED; f++)
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
	for (f = 0; f < HTML_N_FAILED; f++)
		free(fs[f]);
	free(failed);
	return err;
}
