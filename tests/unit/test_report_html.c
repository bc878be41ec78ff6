// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_report_html.c - `hstrace report --html` (user/report_html.c):
 *
 * - golden pages: the page of fixed NDJSON fixtures compared byte for byte with the .html
 *   files in tests/golden/ (the cases are in golden[] below). After an intended change, rewrite
 *   them with `HSTRACE_GOLDEN_UPDATE=1 build/test_report_html` (from the repository root, or
 *   with HSTRACE_SRCDIR) and review the diff;
 * - escaping: report_html_escape() itself, and a page whose every input string (comm, SNI,
 *   addresses, ALPN, cipher, alert, event and phase names, the file name) holds markup;
 * - bounded waterfalls: 3000 records, --waterfalls 5: 10 records kept, the right ones drawn,
 *   one row per event, the time range over all records.
 */
#define _GNU_SOURCE /* strcasestr() */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ndjson_read.h"
#include "report_cmd.h"
#include "report_html.h"

struct golden {
	const char *expected, *fixture;
	enum report_by by;
	size_t top, waterfalls;
};

static const struct golden golden[] = {
	/* real traffic (tests/integration/test_report_html.py): TLS 1.3 and 1.2, an alert, a
	 * refused connect, markup in a comm and an SNI */
	{ "tests/golden/html.html", "tests/golden/html.ndjson", REPORT_BY_SNI, 10, 20 },
	{ "tests/golden/html_by_comm.html", "tests/golden/html.ndjson", REPORT_BY_COMM, 1, 2 },
	/* records written before the "phases" array: phases listed without bars */
	{ "tests/golden/v2.html", "tests/golden/v2.ndjson", REPORT_BY_NONE, 10, 20 },
	/* v2.ndjson with marks of lost events (tests/golden/cases): the header counts them */
	{ "tests/golden/lost.html", "tests/golden/lost.ndjson", REPORT_BY_NONE, 10, 20 },
};

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Runs `hstrace report --html` on o; returns the page (free() it). */
static char *run_html(const struct report_cmd_opts *o, size_t *len)
{
	char *page = NULL, *err_buf = NULL;
	size_t err_len = 0;
	FILE *out = open_memstream(&page, len), *err = open_memstream(&err_buf, &err_len);

	assert_non_null(out);
	assert_non_null(err);
	assert_int_equal(report_cmd_run(o, out, err), 0);
	fclose(out);
	fclose(err);
	free(err_buf);
	return page;
}

static void first_difference(const char *a, const char *b, char *msg, size_t len)
{
	size_t line = 1;
	const char *ea, *eb;

	while (*a && *b) {
		ea = strchrnul(a, '\n');
		eb = strchrnul(b, '\n');
		if (ea - a != eb - b || memcmp(a, b, ea - a)) {
			snprintf(msg, len, "line %zu:\n  got:      %.*s\n  expected: %.*s", line,
				 (int)(ea - a > 300 ? 300 : ea - a), a,
				 (int)(eb - b > 300 ? 300 : eb - b), b);
			return;
		}
		a = *ea ? ea + 1 : ea;
		b = *eb ? eb + 1 : eb;
		line++;
	}
	snprintf(msg, len, "line %zu: one output ends before the other", line);
}

static void test_golden(void **state)
{
	const struct golden *g = *state;
	struct report_cmd_opts o = { .path = g->fixture, .by = g->by, .top = g->top,
				     .html = true, .waterfalls = g->waterfalls };
	char *got, *expected, msg[1024];
	size_t got_len, exp_len = 0;
	const char *update = getenv("HSTRACE_GOLDEN_UPDATE");
	FILE *f;

	got = run_html(&o, &got_len);
	if (update && !strcmp(update, "1")) {
		f = fopen(g->expected, "w");
		assert_non_null(f);
		assert_int_equal(fwrite(got, 1, got_len, f), got_len);
		assert_int_equal(fclose(f), 0);
		fprintf(stderr, "  GOLDEN   %s\n", g->expected);
	}
	expected = read_all(g->expected, &exp_len);
	if (!expected)
		fail_msg("cannot read %s: %s (create it with HSTRACE_GOLDEN_UPDATE=1 "
			 "build/test_report_html)", g->expected, strerror(errno));
	if (got_len != exp_len || memcmp(got, expected, got_len)) {
		first_difference(got, expected, msg, sizeof(msg));
		fail_msg("%s differs from the page of %s: %s\n(if the change is intended: "
			 "HSTRACE_GOLDEN_UPDATE=1 build/test_report_html, then review the diff)",
			 g->expected, g->fixture, msg);
	}
	free(got);
	free(expected);
}

/* ---- escaping ---- */

static void test_escape(void **state)
{
	/* markup, both quotes, &, a tab and a newline, DEL, valid UTF-8 (é, €, 😀), a lone
	 * continuation byte, an overlong '/', a surrogate, a cut sequence at the end */
	static const char in[] = "<script>\"'&</style>\t\n\x7f"
				 "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				 "\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x82";
	static const char want[] = "&lt;script&gt;&quot;&#39;&amp;&lt;/style&gt;???"
				   "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
				   "?|??|???|??";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	assert_int_equal(report_html_escape(f, in), 0);
	assert_int_equal(report_html_escape(f, NULL), 0);
	assert_int_equal(report_html_escape(f, ""), 0);
	fclose(f);
	assert_string_equal(buf, want);
	free(buf);
}

#define EVIL "</style><script>alert(1)</script><img src=x onerror=alert(2)>\\\"'&amp;"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (; (hay = strstr(hay, needle)); hay += strlen(needle))
		n++;
	return n;
}

static void test_escape_page(void **state)
{
	char dir[] = "/tmp/hstrace-html-XXXXXX", path[256];
	struct report_cmd_opts o = { .path = path, .by = REPORT_BY_COMM, .top = 10, .html = true,
				     .waterfalls = 20 };
	size_t len;
	char *page;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/<script>alert(3)&'\"x.ndjson", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"schema\":\"hstrace/2\",\"start\":\"2026-12-03T10:00:00.000000Z\","
		"\"role\":\"client\",\"pid\":7,\"comm\":\"</style><scrip\","
		"\"local\":{\"addr\":\"" EVIL "\",\"port\":1},\"peer\":{\"addr\":\"127.0.0.1\","
		"\"port\":443},\"ip_version\":4,\"result\":\"tls_alert\",\"events\":["
		"{\"t_us\":0,\"event\":\"syn_sent\",\"dir\":\"out\"},"
		"{\"t_us\":10,\"event\":\"established\",\"dir\":\"in\"},"
		"{\"t_us\":20,\"event\":\"" EVIL "\",\"dir\":\"" EVIL "\",\"app_us\":15}],"
		"\"phases_us\":{\"tcp_handshake\":10,\"" EVIL "\":10},\"phases\":["
		"{\"name\":\"tcp_handshake\",\"start_us\":0,\"end_us\":10,\"from\":0,"
		"\"from_at\":\"wire\",\"to\":1,\"to_at\":\"wire\"},"
		"{\"name\":\"" EVIL "\",\"start_us\":10,\"end_us\":20,\"from\":1,"
		"\"from_at\":\"" EVIL "\",\"to\":2,\"to_at\":\"app\"}],"
		"\"tcp\":{\"syn_retransmits\":0,\"srtt_us\":5,\"bytes_sent\":0,"
		"\"bytes_received\":0,\"error\":\"" EVIL "\"},"
		"\"tls\":{\"sni\":\"" EVIL "\",\"version\":\"" EVIL "\",\"cipher\":\"" EVIL "\","
		"\"group\":\"" EVIL "\",\"verify\":\"" EVIL "\","
		"\"library\":{\"name\":\"" EVIL "\"},"
		"\"alpn\":{\"offered\":[\"" EVIL "\"],\"selected\":\"" EVIL "\"},"
		"\"alert\":{\"level\":\"" EVIL "\",\"description\":\"" EVIL "\","
		"\"dir\":\"in\"}}}\n");
	assert_int_equal(fclose(f), 0);

	page = run_html(&o, &len);
	assert_null(strcasestr(page, "<script"));
	assert_null(strcasestr(page, "<img"));
	assert_int_equal(count(page, "</style>"), 1);
	/* every string is there, as text: SNI, cipher, group, verify, library, ALPN twice, alert
	 * level and description, local address, TCP error, event name, the phase twice (row,
	 * tooltip) and its histogram, its data-phase attributes (3) */
	assert_true(count(page, "&lt;/style&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x "
			  "onerror=alert(2)&gt;&quot;&#39;&amp;amp;") >= 15);
	assert_non_null(strstr(page, "&lt;/style&gt;&lt;scrip[7]"));		/* comm */
	assert_non_null(strstr(page, "&lt;script&gt;alert(3)&amp;&#39;&quot;x.ndjson</td>"));
	assert_non_null(strstr(page, "<title>hstrace report: "));
	assert_non_null(strstr(page, "</html>\n")); /* rendered to the end */
	free(page);
	unlink(path);
	rmdir(dir);
}

/* ---- bounded waterfalls ---- */

#define N_RECORDS 3000
#define N_DRAW 5

/* total of record i (1-based; every 10th is refused, no phases): distinct values */
static unsigned int total_of(unsigned int i)
{
	return (i * 7919u) % 3001u + 100u;
}

static void write_many(const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	assert_non_null(f);
	for (i = 1; i <= N_RECORDS; i++) {
		fprintf(f, "{\"schema\":\"hstrace/2\","
			"\"start\":\"2026-12-03T10:%02u:%02u.000000Z\","
			"\"role\":\"client\",\"pid\":%u,\"comm\":\"c%u\",\"local\":{\"addr\":"
			"\"127.0.0.1\",\"port\":%u},\"peer\":{\"addr\":\"127.0.0.1\",\"port\":443},"
			"\"ip_version\":4,", i / 60, i % 60, i, i % 7, 1024 + i);
		if (i % 10 == 0)
			fprintf(f, "\"result\":\"refused\",\"events\":[{\"t_us\":0,\"event\":"
				"\"syn_sent\",\"dir\":\"out\"},{\"t_us\":%u,\"event\":\"reset_in\","
				"\"dir\":\"in\"},{\"t_us\":%u,\"event\":\"closed\"}],"
				"\"phases_us\":{},\"phases\":[],", i, i + 1);
		else
			fprintf(f, "\"result\":\"ok\",\"events\":["
				"{\"t_us\":0,\"event\":\"syn_sent\",\"dir\":\"out\"},"
				"{\"t_us\":10,\"event\":\"established\",\"dir\":\"in\"},"
				"{\"t_us\":20,\"event\":\"app_data\",\"dir\":\"out\"},"
				"{\"t_us\":%u,\"event\":\"app_data\",\"dir\":\"in\"}],"
				"\"phases_us\":{\"tcp_handshake\":10,\"total\":%u},\"phases\":["
				"{\"name\":\"tcp_handshake\",\"start_us\":0,\"end_us\":10,"
				"\"from\":0,\"from_at\":\"wire\",\"to\":1,\"to_at\":\"wire\"},"
				"{\"name\":\"total\",\"start_us\":0,\"end_us\":%u,"
				"\"from\":0,\"from_at\":\"wire\",\"to\":3,\"to_at\":\"wire\"}],",
				total_of(i), total_of(i), total_of(i));
		fprintf(f, "\"tcp\":{\"syn_retransmits\":0,\"srtt_us\":5,\"bytes_sent\":0,"
			"\"bytes_received\":0}}\n");
	}
	assert_int_equal(fclose(f), 0);
}

static void test_bounded_waterfalls(void **state)
{
	char path[] = "/tmp/hstrace-html-many-XXXXXX";
	struct report_html_input in = { .file = path };
	struct report_view v = { .top = 10, .histograms = true };
	unsigned int want[2 * N_DRAW], i, j, n = 0;
	struct report_html_keep *k;
	struct ndjson_reader *rd;
	struct ndjson_stats st;
	struct report *r;
	char *page = NULL, *p, attr[64];
	size_t len = 0;
	FILE *out;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_many(path);

	/* the expected records: the N_DRAW largest totals, then the N_DRAW refused ones with the
	 * latest last event (the last records) */
	for (j = 0; j < N_DRAW; j++) {
		unsigned int best = 0;

		for (i = 1; i <= N_RECORDS; i++) {
			bool taken = false;
			unsigned int t;

			if (i % 10 == 0)
				continue;
			for (t = 0; t < n; t++)
				taken |= want[t] == i;
			if (!taken && (!best || total_of(i) > total_of(best)))
				best = i;
		}
		want[n++] = best;
	}
	for (j = 0; j < N_DRAW; j++)
		want[n++] = N_RECORDS - 10 * j;

	r = report_new(REPORT_BY_NONE);
	k = report_html_keep_new(N_DRAW);
	rd = ndjson_open(path);
	assert_non_null(r);
	assert_non_null(k);
	assert_non_null(rd);
	assert_int_equal(report_html_read(rd, r, k), 0);
	ndjson_get_stats(rd, &st);
	assert_int_equal(st.records, N_RECORDS);
	assert_int_equal(r->conns, N_RECORDS);
	assert_int_equal(report_html_keep_count(k), 2 * N_DRAW); /* bounded */
	in.st = &st;

	out = open_memstream(&page, &len);
	assert_non_null(out);
	assert_int_equal(report_html_write(out, r, &v, &in, k), 0);
	fclose(out);
	/* the drawn records, in order */
	for (p = page, j = 0; (p = strstr(p, "<section class=\"wf\"")); p++, j++) {
		assert_true(j < 2 * N_DRAW);
		snprintf(attr, sizeof(attr), "data-record=\"%u\"", want[j]);
		assert_non_null(strstr(p, attr));
		assert_true(strstr(p, attr) < strchr(p, '>'));
	}
	assert_int_equal(j, 2 * N_DRAW);
	assert_int_equal(count(page, "<tr class=\"ev\">"), N_DRAW * 4 + N_DRAW * 3);
	assert_non_null(strstr(page, "2026-12-03T10:00:01.000000Z \u2013 "
				     "2026-12-03T10:50:00.000000Z"));
	assert_non_null(strstr(page, "all 3000 records"));
	assert_true(len < 100000); /* 3000 records, a page of a few connections */
	free(page);
	ndjson_close(rd);
	report_html_keep_free(k);
	report_free(r);

	/* none kept with 0 */
	k = report_html_keep_new(0);
	r = report_new(REPORT_BY_NONE);
	rd = ndjson_open(path);
	assert_non_null(k);
	assert_non_null(r);
	assert_non_null(rd);
	assert_int_equal(report_html_read(rd, r, k), 0);
	assert_int_equal(report_html_keep_count(k), 0);
	ndjson_close(rd);
	report_html_keep_free(k);
	report_free(r);
	unlink(path);
}

int main(void)
{
	struct CMUnitTest tests[sizeof(golden) / sizeof(golden[0]) + 3];
	const char *srcdir = getenv("HSTRACE_SRCDIR");
	size_t i, n = 0;

	if (srcdir && *srcdir && chdir(srcdir)) {
		fprintf(stderr, "test_report_html: cannot chdir to %s: %s\n", srcdir,
			strerror(errno));
		return 1;
	}
	for (i = 0; i < sizeof(golden) / sizeof(golden[0]); i++)
		tests[n++] = (struct CMUnitTest){ .name = golden[i].expected,
						  .test_func = test_golden,
						  .initial_state = (void *)&golden[i] };
	tests[n++] = (struct CMUnitTest){ .name = "escape", .test_func = test_escape };
	tests[n++] = (struct CMUnitTest){ .name = "escape_page", .test_func = test_escape_page };
	tests[n++] = (struct CMUnitTest){ .name = "bounded_waterfalls",
					  .test_func = test_bounded_waterfalls };
	return _cmocka_run_group_tests("report_html", tests, n, NULL, NULL);
}
