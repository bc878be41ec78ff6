// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_report.c - the report's histogram (error bound checked against exact percentiles of
 * the same data), grouping with its caps, the live (timeline) and offline (NDJSON, gzip)
 * inputs, and the text/JSON output shapes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <linux/types.h>
#include <zlib.h>

#include "hstrace.h"
#include "ndjson_read.h"
#include "report.h"
#include "report_cmd.h"
#include "report_join.h"
#include "timeline.h"

/* ---- histogram ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact nearest-rank percentile of sorted v[n]. */
static uint64_t exact_percentile(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n);

	if ((double)rank < p / 100.0 * (double)n)
		rank++;
	if (!rank)
		rank = 1;
	return v[rank - 1];
}

static void test_hist_small_values_exact(void **state)
{
	struct hist h = {};
	uint64_t v;

	(void)state;
	for (v = 0; v < 64; v++)
		assert_int_equal(hist_add(&h, v), 0);
	assert_int_equal(h.count, 64);
	assert_int_equal(h.min_us, 0);
	assert_int_equal(h.max_us, 63);
	assert_int_equal(hist_percentile(&h, 50), 31); /* rank 32 -> value 31 */
	assert_int_equal(hist_percentile(&h, 90), 57); /* rank ceil(57.6) = 58 */
	assert_int_equal(hist_percentile(&h, 99), 63);
	assert_int_equal(hist_percentile(&h, 0), 0);
	assert_int_equal(hist_percentile(&h, 100), 63);
	hist_reset(&h);
	assert_int_equal(h.count, 0);
	assert_int_equal(hist_percentile(&h, 50), 0);
}

/* Percentiles of skewed random data spanning 1 µs .. minutes stay within 1/128. */
static void test_hist_error_bound(void **state)
{
	enum { N = 200000 };
	static const double ps[] = { 1, 10, 25, 50, 75, 90, 95, 99, 99.9 };
	uint64_t *vals = malloc(N * sizeof(*vals));
	struct hist h = {};
	unsigned int seed = 12345;
	size_t i, k;

	(void)state;
	assert_non_null(vals);
	for (i = 0; i < N; i++) {
		/* 2^(0..36) times a random mantissa: every octave of the range */
		unsigned int e = rand_r(&seed) % 37;
		uint64_t v = ((uint64_t)rand_r(&seed) << e) >> 31 | (uint64_t)(rand_r(&seed) % 4);

		vals[i] = v;
		assert_int_equal(hist_add(&h, v), 0);
	}
	qsort(vals, N, sizeof(*vals), cmp_u64);
	assert_int_equal(h.count, N);
	assert_int_equal(h.min_us, vals[0]);
	assert_int_equal(h.max_us, vals[N - 1]);
	for (k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		uint64_t exact = exact_percentile(vals, N, ps[k]);
		uint64_t est = hist_percentile(&h, ps[k]);
		uint64_t diff = est > exact ? est - exact : exact - est;

		if (diff * 128 > exact) {
			fail_msg("p%g: estimate %llu, exact %llu: more than 1/128 off", ps[k],
				 (unsigned long long)est, (unsigned long long)exact);
		}
	}
	hist_reset(&h);
	free(vals);
}

static void test_hist_log2_slots(void **state)
{
	static const struct {
		uint64_t v;
		unsigned int slot;
	} cases[] = {
		{ 0, 0 },	  { 1, 0 },	   { 2, 1 },	       { 3, 1 },  { 4, 2 },
		{ 63, 5 },	  { 64, 6 },	   { 127, 6 },	       { 128, 7 }, { 1000, 9 },
		{ 1ULL << 39, 39 }, { (1ULL << 40) - 1, 39 }, { UINT64_MAX, 39 },
	};
	uint64_t counts[HIST_LOG2_SLOTS];
	size_t i, s;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hist h = {};

		assert_int_equal(hist_add(&h, cases[i].v), 0);
		hist_log2(&h, counts);
		for (s = 0; s < HIST_LOG2_SLOTS; s++)
			if (counts[s] != (s == cases[i].slot))
				fail_msg("value %llu: slot %zu has %llu",
					 (unsigned long long)cases[i].v, s,
					 (unsigned long long)counts[s]);
		/* the exact maximum survives clamping into the last bucket */
		assert_int_equal(h.max_us, cases[i].v);
		hist_reset(&h);
	}
}

static void test_hist_merge(void **state)
{
	struct hist a = {}, b = {}, all = {};
	uint64_t ca[HIST_LOG2_SLOTS], cb[HIST_LOG2_SLOTS];
	uint64_t v;

	(void)state;
	for (v = 1; v < 100000; v += 37) {
		assert_int_equal(hist_add(v % 2 ? &a : &b, v), 0);
		assert_int_equal(hist_add(&all, v), 0);
	}
	assert_int_equal(hist_merge(&a, &b), 0);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.min_us, all.min_us);
	assert_int_equal(a.max_us, all.max_us);
	assert_int_equal(hist_percentile(&a, 50), hist_percentile(&all, 50));
	assert_int_equal(hist_percentile(&a, 99), hist_percentile(&all, 99));
	hist_log2(&a, ca);
	hist_log2(&all, cb);
	assert_memory_equal(ca, cb, sizeof(ca));
	hist_reset(&a);
	hist_reset(&b);
	hist_reset(&all);
}

/* ---- grouping ---- */

static void sample(struct report_sample *s, const char *sni, const char *result, uint64_t hs_us)
{
	memset(s, 0, sizeof(*s));
	s->sni = sni;
	s->peer = "192.0.2.1";
	s->comm = "curl";
	s->role = "client";
	s->port = 443;
	s->result = result;
	s->n_phases = 2;
	s->phases[0].name = "tcp_handshake";
	s->phases[0].us = hs_us / 2;
	s->phases[1].name = "tls_handshake";
	s->phases[1].us = hs_us;
}

static void test_report_groups_top_other(void **state)
{
	struct report *r = report_new(REPORT_BY_SNI);
	struct report_group **rows, rest;
	struct report_sample s;
	size_t n_rows, i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < 5; i++) {
		sample(&s, "a.example", "ok", 1000 + i);
		assert_int_equal(report_add(r, &s), 0);
	}
	for (i = 0; i < 3; i++) {
		sample(&s, "b.example", i ? "ok" : "refused", 2000);
		assert_int_equal(report_add(r, &s), 0);
	}
	sample(&s, NULL, "tls_alert", 3000);
	s.alert = "bad_certificate";
	assert_int_equal(report_add(r, &s), 0);

	assert_int_equal(r->conns, 9);
	assert_int_equal(r->n_groups, 3);
	assert_int_equal(report_group_failed(r, &r->total), 2);
	assert_int_equal(report_top(r, 2, &rows, &n_rows, &rest), 0);
	assert_int_equal(n_rows, 2);
	assert_string_equal(rows[0]->key, "a.example");
	assert_int_equal(rows[0]->conns, 5);
	assert_int_equal(rows[0]->phases[1].min_us, 1000);
	assert_int_equal(rows[0]->phases[1].max_us, 1004);
	assert_string_equal(rows[1]->key, "b.example");
	assert_int_equal(report_group_failed(r, rows[1]), 1);
	assert_int_equal(rest.conns, 1); /* the "-" group (no SNI) */
	assert_int_equal(rest.phases[1].count, 1);
	assert_int_equal(report_group_failed(r, &rest), 1);
	assert_int_equal(rest.alerts[0], 1);
	assert_string_equal(r->alert_names[0], "bad_certificate");
	report_group_free_hists(&rest);
	free(rows);

	report_reset(r);
	assert_int_equal(r->conns, 0);
	assert_int_equal(r->n_groups, 0);
	assert_int_equal(r->total.phases[0].count, 0);
	report_free(r);
}

/* Keys beyond REPORT_MAX_GROUPS go to "other"; names beyond REPORT_MAX_PHASES are dropped. */
static void test_report_caps(void **state)
{
	struct report *r = report_new(REPORT_BY_PORT);
	struct report_group **rows, rest;
	struct report_sample s;
	char names[REPORT_MAX_PHASES + 8][16];
	size_t n_rows, i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < REPORT_MAX_GROUPS + 76; i++) {
		sample(&s, "x", "ok", 10);
		s.port = 1 + (unsigned int)i;
		assert_int_equal(report_add(r, &s), 0);
	}
	assert_int_equal(r->n_groups, REPORT_MAX_GROUPS);
	assert_int_equal(r->other_conns, 76);
	assert_int_equal(r->total.conns, REPORT_MAX_GROUPS + 76);
	assert_int_equal(report_top(r, 10, &rows, &n_rows, &rest), 0);
	assert_int_equal(n_rows, 10);
	assert_string_equal(rows[0]->key, "1"); /* ties: by key */
	assert_int_equal(rest.conns, REPORT_MAX_GROUPS + 76 - 10);
	report_group_free_hists(&rest);
	free(rows);

	/* 32 names in a first connection, then 8 new ones in a second: those are dropped */
	for (i = 0; i < REPORT_MAX_PHASES + 8; i++)
		snprintf(names[i], sizeof(names[i]), "phase%zu", i);
	report_free(r); /* a fresh report: report_reset() keeps the names seen */
	r = report_new(REPORT_BY_NONE);
	assert_non_null(r);
	memset(&s, 0, sizeof(s));
	s.result = "ok";
	s.n_phases = REPORT_MAX_PHASES;
	for (i = 0; i < REPORT_MAX_PHASES; i++) {
		s.phases[i].name = names[i];
		s.phases[i].us = i;
	}
	assert_int_equal(report_add(r, &s), 0);
	s.n_phases = 9;
	for (i = 0; i < 9; i++) {
		s.phases[i].name = names[REPORT_MAX_PHASES - 1 + i]; /* one known, 8 new */
		s.phases[i].us = 7;
	}
	assert_int_equal(report_add(r, &s), 0);
	assert_int_equal(r->n_phases, REPORT_MAX_PHASES);
	assert_int_equal(r->phases_dropped, 8);
	assert_int_equal(r->total.phases[REPORT_MAX_PHASES - 1].count, 2);
	report_free(r);
}

/* The live path: a timeline gives the same sample the JSON line of it would. */
static void test_report_add_timeline(void **state)
{
	struct report *r = report_new(REPORT_BY_PORT);
	struct tl_event ev[2] = {};
	struct timeline tl = {};

	(void)state;
	assert_non_null(r);
	tl.role = ROLE_SERVER;
	tl.result = RESULT_TLS_ALERT;
	tl.pid = 1;
	strcpy(tl.comm, "nginx");
	tl.ip_version = 4;
	inet_pton(AF_INET, "127.0.0.1", tl.laddr);
	inet_pton(AF_INET, "10.0.0.7", tl.raddr);
	tl.lport = 8443;
	tl.rport = 40000;
	ev[0].ts_ns = 1000;
	ev[1].ts_ns = 2000;
	tl.events = ev;
	tl.n_events = 2;
	tl.phases[0] = (struct tl_phase){ .name = "tcp_handshake", .dur_ns = 61499 }; /* 61 µs */
	tl.phases[1] = (struct tl_phase){ .name = "accept_wait", .dur_ns = 1500 };    /* 2 µs */
	tl.n_phases = 2;
	tl.tls.seen = true;
	tl.tls.has_alert = true;
	tl.tls.alert_level = 2;
	tl.tls.alert_desc = 42; /* bad_certificate */
	assert_int_equal(report_add_timeline(r, &tl), 0);
	tl.tls.alert_level = 0; /* encrypted */
	assert_int_equal(report_add_timeline(r, &tl), 0);

	assert_int_equal(r->n_groups, 1);
	assert_string_equal(r->groups[0]->key, "8443"); /* a server's service port is local */
	assert_string_equal(r->phase_names[0], "tcp_handshake");
	assert_int_equal(r->total.phases[0].min_us, 61);
	assert_int_equal(r->total.phases[1].min_us, 2);
	assert_string_equal(r->result_names[0], "tls_alert");
	assert_int_equal(r->n_alerts, 2);
	assert_string_equal(r->alert_names[0], "bad_certificate");
	assert_string_equal(r->alert_names[1], "encrypted");
	report_free(r);
}

/* ---- NDJSON input ---- */

static const char REC[] =
	"{\"schema\":\"hstrace/1\",\"role\":\"client\",\"pid\":5,\"comm\":\"curl\","
	"\"local\":{\"addr\":\"127.0.0.1\",\"port\":40000},\"peer\":{\"addr\":\"127.0.0.1\","
	"\"port\":443},\"ip_version\":4,\"result\":\"tls_alert\",\"events\":[],"
	"\"phases_us\":{\"tcp_handshake\":61,\"total\":2530},\"tcp\":{},"
	"\"tls\":{\"sni\":\"localhost\",\"alert\":{\"level\":null,\"description\":null}},"
	"\"cookie\":1}";

static void test_sample_from_json(void **state)
{
	static const char *const bad[] = {
		"[]",
		/* an unknown schema, on an otherwise valid record */
		"{\"schema\":\"hstrace/3\",\"role\":\"client\",\"result\":\"ok\","
		"\"local\":{\"port\":1},\"peer\":{\"port\":2},\"phases_us\":{}}",
		"{\"schema\":\"hstrace/\",\"role\":\"client\",\"result\":\"ok\","
		"\"local\":{\"port\":1},\"peer\":{\"port\":2},\"phases_us\":{}}",
		"{\"schema\":2,\"role\":\"client\",\"result\":\"ok\","
		"\"local\":{\"port\":1},\"peer\":{\"port\":2},\"phases_us\":{}}",
		"{\"schema\":\"hstrace/1\",\"role\":\"client\",\"result\":\"ok\","
		"\"local\":{\"port\":1},\"peer\":{\"port\":2},\"phases_us\":{\"x\":1.5}}",
		"{\"schema\":\"hstrace/1\",\"role\":\"client\",\"result\":\"ok\","
		"\"local\":{\"port\":1},\"peer\":{\"port\":70000},\"phases_us\":{}}",
		"{\"schema\":\"hstrace/1\",\"role\":7,\"result\":\"ok\",\"local\":{\"port\":1},"
		"\"peer\":{\"port\":2},\"phases_us\":{}}",
	};
	struct report_sample s;
	struct json_object *o;
	size_t i;

	(void)state;
	o = json_tokener_parse(REC);
	assert_non_null(o);
	assert_int_equal(ndjson_sample_from_json(o, &s), 0);
	assert_string_equal(s.role, "client");
	assert_string_equal(s.result, "tls_alert");
	assert_string_equal(s.sni, "localhost");
	assert_string_equal(s.alert, "encrypted");
	assert_string_equal(s.comm, "curl");
	assert_string_equal(s.peer, "127.0.0.1");
	assert_int_equal(s.port, 443);
	assert_int_equal(s.n_phases, 2);
	assert_string_equal(s.phases[1].name, "total");
	assert_int_equal(s.phases[1].us, 2530);
	json_object_put(o);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = json_tokener_parse(bad[i]);
		assert_non_null(o);
		if (ndjson_sample_from_json(o, &s) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		json_object_put(o);
	}
}

/* Writes text to path, gzip-compressed when gz. */
static void write_file(const char *path, const char *text, bool gz)
{
	if (gz) {
		gzFile f = gzopen(path, "wb");

		assert_non_null(f);
		assert_int_equal(gzwrite(f, text, (unsigned int)strlen(text)), (int)strlen(text));
		assert_int_equal(gzclose(f), Z_OK);
	} else {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		assert_int_equal(fputs(text, f) >= 0, 1);
		assert_int_equal(fclose(f), 0);
	}
}

/* Reads every record of path; returns the count, fills *st. */
static int read_all(const char *path, struct ndjson_stats *st)
{
	struct ndjson_reader *rd = ndjson_open(path);
	struct report_sample s;
	int n = 0, ret;

	assert_non_null(rd);
	while ((ret = ndjson_next(rd, &s)) > 0)
		n++;
	assert_int_equal(ret, 0);
	ndjson_get_stats(rd, st);
	ndjson_close(rd);
	return n;
}

/* A string member of both samples: equal, or both NULL. */
static void assert_same_str(const char *a, const char *b, const char *what)
{
	if (!a || !b) {
		if (a != b)
			fail_msg("%s: %s vs %s", what, a ? a : "NULL", b ? b : "NULL");
		return;
	}
	if (strcmp(a, b))
		fail_msg("%s: %s vs %s", what, a, b);
}

/* hstrace/2 changed only the meaning of TLS events' t_us: an hstrace/2 record is read exactly
 * like the same record marked hstrace/1, and both versions are counted as records in a file. */
static void test_sample_from_json_v2(void **state)
{
	char v2[sizeof(REC)], v3[sizeof(REC)], dir[] = "/tmp/hstrace-test-XXXXXX", path[64];
	char text[4096];
	const char *at = strstr(REC, "hstrace/1");
	struct report_sample s1, s2;
	struct json_object *o1, *o2;
	struct ndjson_stats st;
	size_t digit, i;

	(void)state;
	assert_non_null(at);
	digit = (size_t)(at - REC) + strlen("hstrace/");
	memcpy(v2, REC, sizeof(REC));
	memcpy(v3, REC, sizeof(REC));
	v2[digit] = '2';
	v3[digit] = '3';
	assert_non_null(strstr(v2, "\"schema\":\"hstrace/2\""));

	o1 = json_tokener_parse(REC);
	o2 = json_tokener_parse(v2);
	assert_non_null(o1);
	assert_non_null(o2);
	assert_int_equal(ndjson_sample_from_json(o1, &s1), 0);
	assert_int_equal(ndjson_sample_from_json(o2, &s2), 0);
	assert_same_str(s2.sni, s1.sni, "sni");
	assert_same_str(s2.peer, s1.peer, "peer");
	assert_same_str(s2.comm, s1.comm, "comm");
	assert_same_str(s2.role, s1.role, "role");
	assert_same_str(s2.result, s1.result, "result");
	assert_same_str(s2.alert, s1.alert, "alert");
	assert_int_equal(s2.port, s1.port);
	assert_int_equal(s2.n_phases, s1.n_phases);
	assert_int_equal(s2.n_phases, 2);
	for (i = 0; i < s1.n_phases; i++) {
		assert_same_str(s2.phases[i].name, s1.phases[i].name, "phase");
		assert_int_equal(s2.phases[i].us, s1.phases[i].us);
	}
	json_object_put(o1);
	json_object_put(o2);

	/* a file with both versions (old and new output concatenated), and an unknown one */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/v1v2.ndjson", dir);
	snprintf(text, sizeof(text), "%s\n%s\n%s\n", REC, v2, v3);
	write_file(path, text, false);
	assert_int_equal(read_all(path, &st), 2);
	assert_int_equal(st.lines, 3);
	assert_int_equal(st.records, 2);
	assert_int_equal(st.invalid, 1);
	assert_int_equal(st.first_invalid[0], 3); /* hstrace/3 */
	unlink(path);
	rmdir(dir);
}

static void test_ndjson_plain_and_gzip(void **state)
{
	char dir[] = "/tmp/hstrace-test-XXXXXX", plain[64], gz[64], text[4096];
	struct ndjson_stats st;
	bool z;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(plain, sizeof(plain), "%s/a.ndjson", dir);
	snprintf(gz, sizeof(gz), "%s/a.ndjson.gz", dir);
	/* records on lines 1, 3 and 5 (the last without a newline); 2 and 4 are not records */
	snprintf(text, sizeof(text), "%s\nnot json\n%s\r\n\n%s", REC, REC, REC);
	for (z = false; ; z = true) {
		write_file(z ? gz : plain, text, z);
		assert_int_equal(read_all(z ? gz : plain, &st), 3);
		assert_int_equal(st.lines, 5);
		assert_int_equal(st.records, 3);
		assert_int_equal(st.invalid, 2);
		assert_int_equal(st.n_first_invalid, 2);
		assert_int_equal(st.first_invalid[0], 2);
		assert_int_equal(st.first_invalid[1], 4);
		unlink(z ? gz : plain);
		if (z)
			break;
	}
	write_file(plain, "", false);
	assert_int_equal(read_all(plain, &st), 0);
	assert_int_equal(st.lines, 0);
	unlink(plain);
	rmdir(dir);
}

/* A gzip file cut short is a read error, not a silently shorter report. */
static void test_ndjson_truncated_gzip(void **state)
{
	char dir[] = "/tmp/hstrace-test-XXXXXX", gz[64], text[64 * 1024];
	struct ndjson_reader *rd;
	struct report_sample s;
	size_t i, off = 0;
	int ret;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(gz, sizeof(gz), "%s/t.gz", dir);
	for (i = 0; i < 40; i++)
		off += snprintf(text + off, sizeof(text) - off, "%s\n", REC);
	write_file(gz, text, true);
	assert_int_equal(truncate(gz, 200), 0);
	rd = ndjson_open(gz);
	assert_non_null(rd);
	while ((ret = ndjson_next(rd, &s)) > 0)
		;
	assert_int_equal(ret, -EIO);
	ndjson_close(rd);
	unlink(gz);
	rmdir(dir);
}

struct collect {
	uint64_t n, sum_total;
	char first_sni[32];
};

static int collect_sample(const struct report_sample *s, void *ctx)
{
	struct collect *c = ctx;
	size_t i;

	if (!c->n++)
		snprintf(c->first_sni, sizeof(c->first_sni), "%s", s->sni ? s->sni : "");
	for (i = 0; i < s->n_phases; i++)
		if (!strcmp(s->phases[i].name, "total"))
			c->sum_total += s->phases[i].us;
	return 0;
}

/* Threaded and plain reading see the same records, invalid lines and line numbers; an
 * overlong line is skipped as one invalid line. */
static void test_ndjson_threads_and_long_lines(void **state)
{
	char dir[] = "/tmp/hstrace-test-XXXXXX", path[64];
	struct ndjson_stats st[3];
	struct collect c[3] = {};
	unsigned int threads[3] = { 1, 2, 3 };
	FILE *f;
	size_t i, t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.ndjson", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 1; i <= 5000; i++) {
		if (i % 997 == 0)
			fputs("{\"schema\":\"hstrace/1\"}\n", f); /* not a record */
		else if (i == 2500)
			for (t = 0; t <= NDJSON_MAX_LINE / 4096; t++)
				fprintf(f, "%4096s%s", "x",
					t == NDJSON_MAX_LINE / 4096 ? "\n" : "");
		else
			fprintf(f, "%.*s%zu%s\n", (int)(strstr(REC, "2530") - REC), REC, i,
				strstr(REC, "2530") + 4);
	}
	assert_int_equal(fclose(f), 0);
	for (t = 0; t < 3; t++) {
		struct ndjson_reader *rd = ndjson_open(path);

		assert_non_null(rd);
		assert_int_equal(ndjson_for_each(rd, threads[t], collect_sample, &c[t]), 0);
		ndjson_get_stats(rd, &st[t]);
		ndjson_close(rd);
		assert_int_equal(st[t].lines, 5000);
		assert_int_equal(st[t].invalid, 6); /* 997, 1994, 2500, 2991, 3988, 4985 */
		assert_int_equal(st[t].records, 4994);
		assert_int_equal(c[t].n, 4994);
		assert_int_equal(st[t].first_invalid[2], 2500);
		assert_int_equal(st[t].first_invalid[4], 3988);
		assert_string_equal(c[t].first_sni, "localhost");
	}
	assert_int_equal(c[0].sum_total, c[1].sum_total);
	assert_int_equal(c[0].sum_total, c[2].sum_total);
	unlink(path);
	rmdir(dir);
}

static void test_report_cmd_missing_file(void **state)
{
	struct report_cmd_opts o = { .path = "/nonexistent/x.ndjson", .top = 10 };
	char *out_buf = NULL, *err_buf = NULL;
	size_t out_len = 0, err_len = 0;
	FILE *out = open_memstream(&out_buf, &out_len), *err = open_memstream(&err_buf, &err_len);

	(void)state;
	assert_int_equal(report_cmd_run(&o, out, err), 1);
	fclose(out);
	fclose(err);
	assert_int_equal(out_len, 0);
	assert_non_null(strstr(err_buf, "/nonexistent/x.ndjson"));
	assert_non_null(strstr(err_buf, "No such file"));
	assert_int_equal(strchr(err_buf, '\n') - err_buf, (long)err_len - 1); /* one line */
	free(out_buf);
	free(err_buf);
}

/* report --join --timeline: an event time past 100 years is skipped, not added to the start
 * time (that overflowed an int64_t: fuzz_ndjson, docs/fuzzing.md); the other events are drawn. */
static void test_report_join_huge_event_time(void **state)
{
	static const char *const ends[2] = {
		"{\"schema\":\"hstrace/2\",\"start\":\"2026-12-03T10:14:02.000000Z\","
		"\"role\":\"client\",\"result\":\"ok\",\"conn_id\":\"0123456789abcdef\","
		"\"local\":{\"port\":41000},\"peer\":{\"port\":443},\"phases_us\":{},"
		"\"events\":[{\"t_us\":0,\"event\":\"syn_sent\",\"dir\":\"out\"},"
		"{\"t_us\":100,\"event\":\"established\",\"dir\":\"in\"}]}\n",
		"{\"schema\":\"hstrace/2\",\"start\":\"2026-12-03T10:14:02.000020Z\","
		"\"role\":\"server\",\"result\":\"ok\",\"conn_id\":\"0123456789abcdef\","
		"\"local\":{\"port\":443},\"peer\":{\"port\":41000},\"phases_us\":{},"
		"\"events\":[{\"t_us\":0,\"event\":\"syn_received\",\"dir\":\"in\"},"
		"{\"t_us\":9223372036854775807,\"event\":\"fin_in\",\"dir\":\"in\"},"
		"{\"t_us\":50,\"event\":\"established\",\"dir\":\"in\"}]}\n",
	};
	char paths[2][32] = { "/tmp/hstrace-join-c-XXXXXX", "/tmp/hstrace-join-s-XXXXXX" };
	char *path_ptrs[2] = { paths[0], paths[1] };
	struct report_join_opts o = { .paths = path_ptrs, .n_paths = 2, .top = 1, .timeline = true };
	char *out_buf = NULL, *err_buf = NULL;
	size_t out_len = 0, err_len = 0;
	FILE *out, *err;
	int i, fd;

	(void)state;
	for (i = 0; i < 2; i++) {
		fd = mkstemp(paths[i]);
		assert_true(fd >= 0);
		close(fd);
		write_file(paths[i], ends[i], false);
	}
	out = open_memstream(&out_buf, &out_len);
	err = open_memstream(&err_buf, &err_len);
	assert_int_equal(report_join_run(&o, out, err), 0);
	fclose(out);
	fclose(err);
	assert_non_null(strstr(out_buf, "Joined: 1 pairs"));
	assert_non_null(strstr(out_buf, "syn_received"));
	assert_non_null(strstr(out_buf, "established"));
	assert_null(strstr(out_buf, "fin_in"));
	assert_int_equal(err_len, 0);
	for (i = 0; i < 2; i++)
		unlink(paths[i]);
	free(out_buf);
	free(err_buf);
}

/* Names read from a file reach the terminal printable: a phase, result or alert name with
 * control characters (terminal escapes) is shown with '?' for them, in the text report and in
 * report --join --timeline (result, addresses), as group keys already were. */
static void test_report_names_printable(void **state)
{
	static const char pair[] =
		"{\"schema\":\"hstrace/2\",\"start\":\"2026-12-03T10:14:02.000000Z\","
		"\"role\":\"client\",\"result\":\"o\\u001bk\",\"conn_id\":\"0123456789abcdef\","
		"\"local\":{\"port\":1,\"addr\":\"\\u001b[2J\"},\"peer\":{\"port\":2},"
		"\"phases_us\":{},\"events\":[]}\n"
		"{\"schema\":\"hstrace/2\",\"start\":\"2026-12-03T10:14:02.000000Z\","
		"\"role\":\"server\",\"result\":\"ok\",\"conn_id\":\"0123456789abcdef\","
		"\"local\":{\"port\":1},\"peer\":{\"port\":2},\"phases_us\":{},\"events\":[]}\n";
	struct report_view v = { .top = 10, .histograms = true };
	struct report *r = report_new(REPORT_BY_NONE);
	char path[] = "/tmp/hstrace-names-XXXXXX", *path_ptrs[1] = { path };
	struct report_join_opts o = { .paths = path_ptrs, .n_paths = 1, .top = 1, .timeline = true };
	struct report_sample s = { .role = "client", .result = "ok\x1b[31mRED",
				   .alert = "x\abell", .n_phases = 1 };
	char *out_buf = NULL;
	size_t out_len = 0;
	FILE *out;
	int fd;

	(void)state;
	assert_non_null(r);
	s.phases[0].name = "evil\x1b[2Jname";
	s.phases[0].us = 5;
	assert_int_equal(report_add(r, &s), 0);
	out = open_memstream(&out_buf, &out_len);
	assert_int_equal(report_text_write(out, r, &v), 0);
	fclose(out);
	assert_null(memchr(out_buf, '\x1b', out_len));
	assert_null(memchr(out_buf, '\a', out_len));
	assert_non_null(strstr(out_buf, "evil?[2Jname"));
	assert_non_null(strstr(out_buf, "ok?[31mRED"));
	free(out_buf);
	report_free(r);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, pair, false);
	out = open_memstream(&out_buf, &out_len);
	assert_int_equal(report_join_run(&o, out, stderr), 0);
	fclose(out);
	unlink(path);
	assert_non_null(strstr(out_buf, "Joined: 1 pairs"));
	assert_null(memchr(out_buf, '\x1b', out_len));
	assert_non_null(strstr(out_buf, "?[2J:1"));
	assert_non_null(strstr(out_buf, "o?k"));
	free(out_buf);
}

/* The JSON report's numbers agree with each other. */
static void test_report_json_consistent(void **state)
{
	struct report *r = report_new(REPORT_BY_SNI);
	struct report_view v = { .top = 1, .histograms = true };
	struct json_object *o, *x, *ph, *hist, *groups, *other;
	struct report_sample s;
	uint64_t sum = 0;
	size_t i;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < 50; i++) {
		sample(&s, i % 3 ? "a" : "b", i % 7 ? "ok" : "reset", 100 * i + 5);
		assert_int_equal(report_add(r, &s), 0);
	}
	o = report_json_object(r, &v);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "connections", &x));
	assert_int_equal(json_object_get_int64(x), 50);
	assert_true(json_object_object_get_ex(o, "failed", &x));
	assert_int_equal(json_object_get_int64(x), 8); /* i = 0, 7, ..., 49 */
	assert_true(json_object_object_get_ex(o, "phases", &ph));
	assert_true(json_object_object_get_ex(ph, "tls_handshake", &ph));
	assert_true(json_object_object_get_ex(ph, "log2_hist", &hist));
	for (i = 0; i < json_object_array_length(hist); i++) {
		json_object_object_get_ex(json_object_array_get_idx(hist, i), "count", &x);
		sum += json_object_get_int64(x);
	}
	assert_int_equal(sum, 50);
	assert_true(json_object_object_get_ex(ph, "min_us", &x));
	assert_int_equal(json_object_get_int64(x), 5);
	assert_true(json_object_object_get_ex(ph, "max_us", &x));
	assert_int_equal(json_object_get_int64(x), 4905);
	assert_true(json_object_object_get_ex(o, "groups", &groups));
	assert_int_equal(json_object_array_length(groups), 1);
	json_object_object_get_ex(json_object_array_get_idx(groups, 0), "key", &x);
	assert_string_equal(json_object_get_string(x), "a");
	assert_true(json_object_object_get_ex(o, "other", &other));
	json_object_object_get_ex(other, "connections", &x);
	assert_int_equal(json_object_get_int64(x), 17);
	json_object_put(o);
	report_free(r);
}

/* ---- marks of lost events ---- */

/* REC with `from` replaced by `to` (once), parsed into *s; returns the object (put it). */
static struct json_object *rec_variant(const char *from, const char *to,
				       struct report_sample *s)
{
	char text[sizeof(REC) + 256];
	const char *at = strstr(REC, from);
	struct json_object *o;

	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - REC), REC, to, at + strlen(from));
	o = json_tokener_parse(text);
	assert_non_null(o);
	assert_int_equal(ndjson_sample_from_json(o, s), 0);
	return o;
}

/* Runs report_cmd_run() on o; returns what it wrote (free() it). */
static char *run_report(const struct report_cmd_opts *o)
{
	char *out_buf = NULL;
	size_t out_len = 0;
	FILE *out = open_memstream(&out_buf, &out_len);

	assert_non_null(out);
	assert_int_equal(report_cmd_run(o, out, stderr), 0);
	fclose(out);
	return out_buf;
}

/* lost_marks of a JSON report: connections, close_lost, desync */
static void json_lost(const char *text, uint64_t got[3])
{
	static const char *const keys[3] = { "connections", "close_lost", "desync" };
	struct json_object *o = json_tokener_parse(text), *lm, *x;
	int i;

	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "lost_marks", &lm));
	for (i = 0; i < 3; i++) {
		assert_true(json_object_object_get_ex(lm, keys[i], &x));
		assert_true(json_object_is_type(x, json_type_int));
		got[i] = (uint64_t)json_object_get_int64(x);
	}
	json_object_put(o);
}

/* The marks a record carries of events hstrace lost (tcp.close_lost, tls.desync: only the value
 * true, as hstrace writes them) are read from NDJSON and from a live timeline, counted by
 * report_add(), and the text, JSON and HTML reports of one file (read with and without parser
 * threads) give the same counts; report --join marks a pair when an end is marked. */
static void test_report_lost_marks(void **state)
{
	static const struct {
		const char *from, *to;
		bool close_lost, desync;
	} variants[] = {
		{ "\"tcp\":{}", "\"tcp\":{\"close_lost\":true}", true, false },
		{ "\"tcp\":{}", "\"tcp\":{\"close_lost\":false}", false, false },
		{ "\"tcp\":{}", "\"tcp\":{\"close_lost\":1}", false, false },
		{ "\"tcp\":{}", "\"close_lost\":true,\"tcp\":{}", false, false }, /* not in tcp */
		{ "\"tls\":{", "\"tls\":{\"desync\":true,", false, true },
		{ "\"tls\":{", "\"tls\":{\"desync\":\"true\",", false, false },
		{ "\"tls\":{", "\"tcp\":{\"desync\":true},\"tls\":{", false, false },
		{ "\"tcp\":{}", "\"tcp\":{\"close_lost\":true,\"error\":\"x\"}", true, false },
	};
	struct report_view v = { .top = 10, .histograms = true };
	struct report *r = report_new(REPORT_BY_NONE);
	char dir[] = "/tmp/hstrace-lost-XXXXXX", path[64], line[64], *text;
	struct report_cmd_opts o = { .path = path, .top = 10 };
	struct report_sample s;
	struct json_object *obj;
	struct timeline tl = {};
	uint64_t got[3];
	unsigned int i, n_close = 0, n_desync = 0, n_any = 0, t;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(r);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		obj = rec_variant(variants[i].from, variants[i].to, &s);
		if (s.close_lost != variants[i].close_lost || s.desync != variants[i].desync)
			fail_msg("%s: close_lost %d desync %d", variants[i].to, s.close_lost,
				 s.desync);
		json_object_put(obj);
	}

	/* report_add(): one of each, one with both, one with none */
	sample(&s, "a", "ok", 100);
	s.close_lost = true;
	assert_int_equal(report_add(r, &s), 0);
	s.close_lost = false;
	s.desync = true;
	assert_int_equal(report_add(r, &s), 0);
	s.close_lost = true;
	assert_int_equal(report_add(r, &s), 0);
	s.close_lost = s.desync = false;
	assert_int_equal(report_add(r, &s), 0);
	assert_int_equal(r->lost.conns, 3);
	assert_int_equal(r->lost.close_lost, 2);
	assert_int_equal(r->lost.desync, 2);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(report_text_write(f, r, &v), 0);
	fclose(f);
	assert_non_null(strstr(text, "Connections: 4 (ok 4, failed 0)\n"
				     "Connections with lost events: 3 (tcp.close_lost 2, "
				     "tls.desync 2)\n"));
	free(text);
	report_reset(r);
	assert_int_equal(r->lost.conns + r->lost.close_lost + r->lost.desync, 0);

	/* live: as the JSON line of the timeline would say (desync only inside tls) */
	tl.role = ROLE_CLIENT;
	tl.result = RESULT_OK;
	tl.ip_version = 4;
	tl.close_lost = true;
	tl.tls.desync = true; /* tls.seen false: no tls object, no mark */
	assert_int_equal(report_add_timeline(r, &tl), 0);
	tl.close_lost = false;
	tl.tls.seen = true;
	assert_int_equal(report_add_timeline(r, &tl), 0);
	assert_int_equal(r->lost.conns, 2);
	assert_int_equal(r->lost.close_lost, 1);
	assert_int_equal(r->lost.desync, 1);
	report_free(r);

	/* a file: every 7th record close_lost, every 11th desync; the three outputs agree */
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/lost.ndjson", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (i = 1; i <= 3000; i++) {
		bool c = i % 7 == 0, d = i % 11 == 0;
		char tcp[64], tls[64];
		const char *at_tcp = strstr(REC, "\"tcp\":{}"), *at_tls = strstr(REC, "\"tls\":{");

		snprintf(tcp, sizeof(tcp), "\"tcp\":{%s}", c ? "\"close_lost\":true" : "");
		snprintf(tls, sizeof(tls), "\"tls\":{%s", d ? "\"desync\":true," : "");
		fprintf(f, "%.*s%s%.*s%s%s\n", (int)(at_tcp - REC), REC, tcp,
			(int)(at_tls - (at_tcp + 8)), at_tcp + 8, tls, at_tls + 7);
		n_close += c;
		n_desync += d;
		n_any += c || d;
	}
	assert_int_equal(fclose(f), 0);
	assert_int_equal(n_any, 428 + 272 - 38); /* 3000/7, 3000/11, 3000/77 */
	for (t = 1; t <= 3; t += 2) {
		o.threads = t;
		o.json = true;
		text = run_report(&o);
		json_lost(text, got);
		assert_int_equal(got[0], n_any);
		assert_int_equal(got[1], n_close);
		assert_int_equal(got[2], n_desync);
		free(text);
		o.json = false;
		text = run_report(&o);
		snprintf(line, sizeof(line), "\nConnections with lost events: %u "
			 "(tcp.close_lost %u, ", n_any, n_close);
		assert_non_null(strstr(text, line));
		free(text);
	}
	o.html = true;
	o.waterfalls = 2;
	text = run_report(&o);
	snprintf(line, sizeof(line), "id=\"lost\" data-n=\"%u\" data-close-lost=\"%u\" "
		 "data-desync=\"%u\"", n_any, n_close, n_desync);
	assert_non_null(strstr(text, line));
	free(text);
	unlink(path);
	rmdir(dir);
}

/* report --join: a pair is marked when one of its ends is. */
static void test_report_join_lost_marks(void **state)
{
	static const char ends[] =
		"{\"schema\":\"hstrace/2\",\"start\":\"2026-12-03T10:14:02.000000Z\","
		"\"role\":\"client\",\"result\":\"ok\",\"conn_id\":\"0123456789abcdef\","
		"\"local\":{\"port\":41000},\"peer\":{\"port\":443},\"phases_us\":{},"
		"\"events\":[],\"tcp\":{}}\n"
		"{\"schema\":\"hstrace/2\",\"start\":\"2026-12-03T10:14:02.000020Z\","
		"\"role\":\"server\",\"result\":\"ok\",\"conn_id\":\"0123456789abcdef\","
		"\"local\":{\"port\":443},\"peer\":{\"port\":41000},\"phases_us\":{},"
		"\"events\":[],\"tcp\":{\"close_lost\":true},\"tls\":{\"desync\":true}}\n";
	char path[] = "/tmp/hstrace-join-lost-XXXXXX", *path_ptrs[1] = { path };
	struct report_join_opts o = { .paths = path_ptrs, .n_paths = 1, .top = 1, .json = true };
	char *out_buf = NULL;
	size_t out_len = 0;
	uint64_t got[3];
	FILE *out;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, ends, false);
	out = open_memstream(&out_buf, &out_len);
	assert_int_equal(report_join_run(&o, out, stderr), 0);
	fclose(out);
	unlink(path);
	json_lost(out_buf, got);
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 1);
	assert_int_equal(got[2], 1);
	free(out_buf);
}

static void test_report_text_empty(void **state)
{
	struct report *r = report_new(REPORT_BY_NONE);
	struct report_view v = { .top = 10, .histograms = true };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(r);
	assert_int_equal(report_text_write(f, r, &v), 0);
	fclose(f);
	assert_string_equal(buf, "Connections: 0 (ok 0, failed 0)\n");
	free(buf);
	report_free(r);
}

static void test_report_by_parse(void **state)
{
	static const char *const names[] = { "sni", "peer", "comm", "role", "port" };
	enum report_by by;
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		assert_int_equal(report_by_parse(names[i], &by), 0);
		assert_string_equal(report_by_name(by), names[i]);
	}
	assert_int_equal(report_by_parse("none", &by), -EINVAL);
	assert_int_equal(report_by_parse("SNI", &by), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_small_values_exact),
		cmocka_unit_test(test_hist_error_bound),
		cmocka_unit_test(test_hist_log2_slots),
		cmocka_unit_test(test_hist_merge),
		cmocka_unit_test(test_report_groups_top_other),
		cmocka_unit_test(test_report_caps),
		cmocka_unit_test(test_report_add_timeline),
		cmocka_unit_test(test_sample_from_json),
		cmocka_unit_test(test_sample_from_json_v2),
		cmocka_unit_test(test_ndjson_plain_and_gzip),
		cmocka_unit_test(test_ndjson_truncated_gzip),
		cmocka_unit_test(test_ndjson_threads_and_long_lines),
		cmocka_unit_test(test_report_cmd_missing_file),
		cmocka_unit_test(test_report_join_huge_event_time),
		cmocka_unit_test(test_report_names_printable),
		cmocka_unit_test(test_report_json_consistent),
		cmocka_unit_test(test_report_lost_marks),
		cmocka_unit_test(test_report_join_lost_marks),
		cmocka_unit_test(test_report_text_empty),
		cmocka_unit_test(test_report_by_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
