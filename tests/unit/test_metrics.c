// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_metrics.c - the Prometheus registry (user/metrics_registry.c) and hstrace's families
 * (user/metrics.c): the exposition text of a small registry (golden), histogram bucket
 * placement at the bounds, label value escaping and UTF-8 repair, the capped --metrics-by
 * label with its "other" overflow, hstrace's families fed with timelines, and the --metrics /
 * --metrics-by argument parsers.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "metrics.h"
#include "timeline.h"

/* Renders m; the caller frees the text. */
static char *render(struct metrics *m)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(m, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The value on the line that starts with `series ` (exactly), as text; fails when missing. */
static const char *sample(const char *text, const char *series, char *buf, size_t len)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, series, n) && p[n] == ' ') {
			const char *v = p + n + 1, *end = strchr(v, '\n');

			snprintf(buf, len, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
			return buf;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	fail_msg("no sample %s in:\n%s", series, text);
	return NULL;
}

static void assert_sample(const char *text, const char *series, const char *want)
{
	char buf[64];

	assert_string_equal(sample(text, series, buf, sizeof(buf)), want);
}

/* ---- the registry ---- */

static void test_exposition_golden(void **state)
{
	static const char *const code_path[] = { "code", "path" };
	static const char *const role[] = { "role" };
	static const char *const x[] = { "x" };
	static const uint64_t bounds[] = { 10000, 20000, 1000000000 };
	static const char expected[] =
		"# HELP t_requests_total Requests, by code.\\nSecond \\\\ line\n"
		"# TYPE t_requests_total counter\n"
		"t_requests_total{code=\"200\",path=\"/\"} 1\n"
		"t_requests_total{code=\"200\",path=\"/a\"} 3\n"
		"t_requests_total{code=\"404\",path=\"/\"} 1\n"
		"# HELP t_temp A gauge.\n"
		"# TYPE t_temp gauge\n"
		"t_temp 0.25\n"
		"# HELP t_wait_seconds Waits.\n"
		"# TYPE t_wait_seconds histogram\n"
		"t_wait_seconds_bucket{role=\"client\",le=\"1e-05\"} 1\n"
		"t_wait_seconds_bucket{role=\"client\",le=\"2e-05\"} 1\n"
		"t_wait_seconds_bucket{role=\"client\",le=\"1\"} 1\n"
		"t_wait_seconds_bucket{role=\"client\",le=\"+Inf\"} 1\n"
		"t_wait_seconds_sum{role=\"client\"} 0\n"
		"t_wait_seconds_count{role=\"client\"} 1\n"
		"t_wait_seconds_bucket{role=\"server\",le=\"1e-05\"} 1\n"
		"t_wait_seconds_bucket{role=\"server\",le=\"2e-05\"} 2\n"
		"t_wait_seconds_bucket{role=\"server\",le=\"1\"} 2\n"
		"t_wait_seconds_bucket{role=\"server\",le=\"+Inf\"} 3\n"
		"t_wait_seconds_sum{role=\"server\"} 2.000020001\n"
		"t_wait_seconds_count{role=\"server\"} 3\n"
		"# HELP t_empty_total Nothing yet.\n"
		"# TYPE t_empty_total counter\n";
	struct metrics *m = metrics_registry_new();
	struct metrics_family *c, *g, *h, *e;
	char *text;

	(void)state;
	assert_non_null(m);
	c = metrics_family_add(m, "t_requests_total", "Requests, by code.\nSecond \\ line",
			       METRICS_COUNTER, code_path, 2, NULL, 0, 0);
	g = metrics_family_add(m, "t_temp", "A gauge.", METRICS_GAUGE, NULL, 0, NULL, 0, 0);
	h = metrics_family_add(m, "t_wait_seconds", "Waits.", METRICS_HISTOGRAM, role, 1, bounds,
			       3, 1e9);
	e = metrics_family_add(m, "t_empty_total", "Nothing yet.", METRICS_COUNTER, x, 1, NULL, 0,
			       0);
	assert_non_null(c);
	assert_non_null(g);
	assert_non_null(h);
	assert_non_null(e);
	assert_ptr_equal(metrics_family_find(m, "t_temp"), g);
	assert_null(metrics_family_find(m, "t_nothing"));

	assert_int_equal(metrics_counter_add(c, (const char *[]){ "200", "/a" }, 2), 0);
	assert_int_equal(metrics_counter_add(c, (const char *[]){ "404", "/" }, 1), 0);
	assert_int_equal(metrics_counter_add(c, (const char *[]){ "200", "/" }, 1), 0);
	assert_int_equal(metrics_counter_add(c, (const char *[]){ "200", "/a" }, 1), 0);
	assert_int_equal(metrics_value_set(g, NULL, 0.25), 0);
	assert_int_equal(metrics_histogram_observe(h, (const char *[]){ "server" }, 10000), 0);
	assert_int_equal(metrics_histogram_observe(h, (const char *[]){ "server" }, 10001), 0);
	assert_int_equal(metrics_histogram_observe(h, (const char *[]){ "server" }, 2000000000),
			 0);
	assert_int_equal(metrics_histogram_observe(h, (const char *[]){ "client" }, 0), 0);

	text = render(m);
	assert_string_equal(text, expected);
	free(text);
	metrics_free(m);
}

static void test_registry_rejects(void **state)
{
	static const char *const bad_label[] = { "a-b" };
	static const char *const le[] = { "le" };
	static const char *const ok[] = { "ok" };
	static const uint64_t unsorted[] = { 2, 1 };
	struct metrics *m = metrics_registry_new();
	struct metrics_family *c, *g, *h;

	(void)state;
	assert_non_null(m);
	errno = 0;
	assert_null(metrics_family_add(m, "9starts_with_digit", "", METRICS_COUNTER, NULL, 0, NULL,
				       0, 0));
	assert_int_equal(errno, EINVAL);
	assert_null(metrics_family_add(m, "x", "", METRICS_COUNTER, bad_label, 1, NULL, 0, 0));
	assert_null(metrics_family_add(m, "x", "", METRICS_HISTOGRAM, le, 1, unsorted, 1, 1));
	assert_null(metrics_family_add(m, "x", "", METRICS_HISTOGRAM, ok, 1, unsorted, 2, 1));
	assert_null(metrics_family_add(m, "x", "", METRICS_HISTOGRAM, ok, 1, NULL, 0, 1));
	c = metrics_family_add(m, "x", "", METRICS_COUNTER, ok, 1, NULL, 0, 0);
	assert_non_null(c);
	errno = 0;
	assert_null(metrics_family_add(m, "x", "", METRICS_GAUGE, NULL, 0, NULL, 0, 0));
	assert_int_equal(errno, EEXIST);
	g = metrics_family_add(m, "g", "", METRICS_GAUGE, NULL, 0, NULL, 0, 0);
	h = metrics_family_add(m, "h", "", METRICS_HISTOGRAM, NULL, 0, unsorted + 1, 1, 1);
	assert_non_null(g);
	assert_non_null(h);
	/* counters only go up; observations only go to histograms */
	assert_int_equal(metrics_counter_add(c, NULL, -1), -EINVAL);
	assert_int_equal(metrics_counter_add(g, NULL, 1), -EINVAL);
	assert_int_equal(metrics_histogram_observe(c, NULL, 1), -EINVAL);
	assert_int_equal(metrics_value_set(h, NULL, 1), -EINVAL);
	metrics_free(m);
	metrics_free(NULL);
}

/* A value on a bound is counted in that bound's bucket (le: <=); one above it in the next;
 * above the last bound only in +Inf. */
static void test_bucket_boundaries(void **state)
{
	static const uint64_t bounds[] = { 10000, 20000, 50000, 30000000000ULL };
	static const struct {
		uint64_t v;
		const char *le; /* the first bucket that counts it */
	} cases[] = {
		{ 0, "1e-05" },		  { 9999, "1e-05" },	    { 10000, "1e-05" },
		{ 10001, "2e-05" },	  { 20000, "2e-05" },	    { 20001, "5e-05" },
		{ 50000, "5e-05" },	  { 50001, "30" },	    { 30000000000ULL, "30" },
		{ 30000000001ULL, "+Inf" }, { UINT64_MAX / 4, "+Inf" },
	};
	static const char *const les[] = { "1e-05", "2e-05", "5e-05", "30", "+Inf" };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct metrics *m = metrics_registry_new();
		struct metrics_family *h;
		bool reached = false;
		char series[64], *text;

		assert_non_null(m);
		h = metrics_family_add(m, "d_seconds", "", METRICS_HISTOGRAM, NULL, 0, bounds, 4,
				       1e9);
		assert_non_null(h);
		assert_int_equal(metrics_histogram_observe(h, NULL, cases[i].v), 0);
		text = render(m);
		for (j = 0; j < sizeof(les) / sizeof(les[0]); j++) {
			reached = reached || !strcmp(les[j], cases[i].le);
			snprintf(series, sizeof(series), "d_seconds_bucket{le=\"%s\"}", les[j]);
			assert_sample(text, series, reached ? "1" : "0");
		}
		assert_true(reached);
		assert_sample(text, "d_seconds_count", "1");
		free(text);
		metrics_free(m);
	}
}

/* The hstrace duration families have the 1-2-5 bounds from 10 µs to 30 s. */
static void test_duration_buckets(void **state)
{
	static const char *const les[] = { "1e-05", "2e-05", "5e-05", "0.0001", "0.0002",
					   "0.0005", "0.001", "0.002", "0.005", "0.01",
					   "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2", "5",
					   "10", "20", "30", "+Inf" };
	struct metrics_opts o = { .version = "t" };
	struct metrics *m = metrics_new(&o);
	struct timeline tl = { .role = ROLE_CLIENT, .result = RESULT_OK };
	char series[128], *text;
	size_t i;

	(void)state;
	assert_non_null(m);
	tl.phases[0].name = "tcp_handshake";
	tl.phases[0].dur_ns = 1000000; /* 1 ms: on the 0.001 bound */
	tl.n_phases = 1;
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	text = render(m);
	for (i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
		snprintf(series, sizeof(series),
			 "hstrace_tcp_handshake_duration_seconds_bucket{role=\"client\","
			 "tls_version=\"\",le=\"%s\"}", les[i]);
		assert_sample(text, series, i < 6 ? "0" : "1");
	}
	assert_sample(text, "hstrace_tcp_handshake_duration_seconds_sum{role=\"client\","
		      "tls_version=\"\"}", "0.001");
	free(text);
	metrics_free(m);
}

/* ---- label values ---- */

static void test_label_escaping(void **state)
{
	struct metrics_opts o = { .by = METRICS_BY_SNI, .version = "t" };
	struct metrics *m = metrics_new(&o);
	struct timeline tl = { .role = ROLE_SERVER, .result = RESULT_OK };
	char *text;

	(void)state;
	assert_non_null(m);
	tl.tls.seen = true;
	tl.tls.version = 0x0304;
	strcpy(tl.tls.sni, "a\"b\\c\nd");
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	/* invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong '/' */
	strcpy(tl.tls.sni, "x\x80y\xe2\x82z\xc0\xafw");
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	/* valid UTF-8 is kept */
	strcpy(tl.tls.sni, "caf\xc3\xa9.example");
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	text = render(m);
	assert_sample(text, "hstrace_connections_total{role=\"server\",result=\"ok\","
		      "server_name=\"a\\\"b\\\\c\\nd\"}", "1");
	assert_sample(text, "hstrace_connections_total{role=\"server\",result=\"ok\","
		      "server_name=\"x?y??z??w\"}", "1");
	assert_sample(text, "hstrace_connections_total{role=\"server\",result=\"ok\","
		      "server_name=\"caf\xc3\xa9.example\"}", "1");
	/* no raw newline inside any line: every line is a comment or a sample */
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		assert_true(line[0] == '#' || !strncmp(line, "hstrace_", 8));
	free(text);
	metrics_free(m);
}

static void test_cap_other(void **state)
{
	struct metrics_cap *c = metrics_cap_new(2);
	const char *a;

	(void)state;
	assert_null(metrics_cap_new(0));
	assert_non_null(c);
	a = metrics_cap_get(c, "a");
	assert_string_equal(a, "a");
	assert_ptr_equal(metrics_cap_get(c, "a"), a); /* the stored text */
	assert_string_equal(metrics_cap_get(c, "b"), "b");
	assert_string_equal(metrics_cap_get(c, "c"), "other");
	assert_string_equal(metrics_cap_get(c, "a"), "a");
	assert_string_equal(metrics_cap_get(c, "b"), "b");
	assert_string_equal(metrics_cap_get(c, "d"), "other");
	assert_int_equal(metrics_cap_count(c), 2);
	metrics_cap_free(c);
	metrics_cap_free(NULL);
}

/* --metrics-by sni with a cap of 3: the first 3 server names get their own series, later ones
 * are summed as "other"; connections without SNI keep "" and do not use up the cap. */
static void test_metrics_by_cap(void **state)
{
	struct metrics_opts o = { .by = METRICS_BY_SNI, .max_values = 3, .version = "t" };
	struct metrics *m = metrics_new(&o);
	struct timeline tl = { .role = ROLE_CLIENT, .result = RESULT_OK };
	char sni[32], *text;
	int i;

	(void)state;
	assert_non_null(m);
	tl.phases[0].name = "tls_handshake";
	tl.phases[0].dur_ns = 3000000;
	tl.n_phases = 1;
	assert_int_equal(metrics_observe_timeline(m, &tl), 0); /* no TLS: no server_name */
	tl.tls.seen = true;
	tl.tls.version = 0x0303;
	for (i = 0; i < 7; i++) {
		snprintf(sni, sizeof(sni), "s%d.example", i);
		strcpy(tl.tls.sni, sni);
		assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	}
	strcpy(tl.tls.sni, "s1.example"); /* kept before the cap: still its own */
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	text = render(m);
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "server_name=\"\"}", "1");
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "server_name=\"s0.example\"}", "1");
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "server_name=\"s1.example\"}", "2");
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "server_name=\"s2.example\"}", "1");
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "server_name=\"other\"}", "4");
	assert_null(strstr(text, "s3.example"));
	assert_sample(text, "hstrace_tls_handshake_duration_seconds_count{role=\"client\","
		      "tls_version=\"1.2\",server_name=\"other\"}", "4");
	assert_sample(text, "hstrace_tls_handshake_duration_seconds_count{role=\"client\","
		      "tls_version=\"\",server_name=\"\"}", "1");
	free(text);
	metrics_free(m);
}

static void test_metrics_by_port_and_comm(void **state)
{
	struct metrics_opts o = { .by = METRICS_BY_PORT, .version = "t" };
	struct metrics *m = metrics_new(&o);
	struct timeline tl = { .role = ROLE_SERVER, .result = RESULT_OK, .lport = 443,
			       .rport = 50000, .pid = 7 };
	char *text;

	(void)state;
	assert_non_null(m);
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	tl.role = ROLE_CLIENT; /* a client's service port is its peer's */
	tl.lport = 50001;
	tl.rport = 8443;
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	text = render(m);
	assert_sample(text, "hstrace_connections_total{role=\"server\",result=\"ok\","
		      "port=\"443\"}", "1");
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "port=\"8443\"}", "1");
	assert_null(strstr(text, "50000"));
	free(text);
	metrics_free(m);

	o.by = METRICS_BY_COMM;
	m = metrics_new(&o);
	assert_non_null(m);
	memcpy(tl.comm, "0123456789abcdef", 16); /* 16 bytes, no NUL: cut at 16 */
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	tl.pid = 0; /* owner unknown */
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	text = render(m);
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "comm=\"0123456789abcdef\"}", "1");
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\","
		      "comm=\"\"}", "1");
	free(text);
	metrics_free(m);
}

/* ---- hstrace's families ---- */

static void test_hstrace_families(void **state)
{
	struct metrics_opts o = { .version = "0.1" };
	struct metrics *m = metrics_new(&o);
	struct timeline tl = { .role = ROLE_CLIENT, .result = RESULT_TLS_ALERT };
	char name[128], *text;
	size_t i;

	(void)state;
	assert_non_null(m);
	text = render(m);
	/* every documented phase has its family from the start */
	for (i = 0; metrics_phase_names[i]; i++) {
		snprintf(name, sizeof(name), "# TYPE hstrace_%s_duration_seconds histogram\n",
			 metrics_phase_names[i]);
		assert_non_null(strstr(text, name));
	}
	assert_int_equal(i, 13);
	/* zero series for each role and result, the record counters, build info */
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\"}", "0");
	assert_sample(text, "hstrace_connections_total{role=\"server\",result=\"tls_failed\"}",
		      "0");
	assert_sample(text, "hstrace_records_lost_total", "0");
	assert_sample(text, "hstrace_build_info{version=\"0.1\"}", "1");
	free(text);

	tl.tls.seen = true;
	tl.tls.version = 0x0304;
	tl.tls.has_alert = true;
	tl.tls.alert_level = 2;
	tl.tls.alert_desc = 48; /* unknown_ca */
	tl.tls.alert_dir = DIR_OUT;
	tl.phases[0].name = "tcp_handshake";
	tl.phases[0].dur_ns = 70000;
	tl.phases[1].name = "new_phase_x"; /* not documented yet: a family of its own */
	tl.phases[1].dur_ns = 5;
	tl.phases[2].name = "bad name!"; /* not a usable metric name: left out */
	tl.phases[2].dur_ns = 5;
	tl.n_phases = 3;
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	tl.role = ROLE_SERVER;
	tl.tls.alert_dir = DIR_IN; /* received: sent by the client */
	tl.tls.alert_level = 0;	   /* encrypted */
	assert_int_equal(metrics_observe_timeline(m, &tl), 0);
	assert_int_equal(metrics_set_records(m, 5, 6, 7, 8), 0);
	assert_int_equal(metrics_set_process(m, 1.5, 4096), 0);
	text = render(m);
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"tls_alert\"}",
		      "1");
	assert_sample(text, "hstrace_connections_total{role=\"server\",result=\"tls_alert\"}",
		      "1");
	assert_sample(text, "hstrace_tcp_handshake_duration_seconds_bucket{role=\"client\","
		      "tls_version=\"1.3\",le=\"0.0001\"}", "1");
	assert_sample(text, "hstrace_new_phase_x_duration_seconds_count{role=\"server\","
		      "tls_version=\"1.3\"}", "1");
	assert_null(strstr(text, "bad name"));
	assert_sample(text, "hstrace_tls_alerts_total{description=\"unknown_ca\","
		      "sender=\"client\"}", "1");
	assert_sample(text, "hstrace_tls_alerts_total{description=\"encrypted\","
		      "sender=\"client\"}", "1");
	assert_sample(text, "hstrace_records_lost_total", "5");
	assert_sample(text, "hstrace_records_unmatched_total", "6");
	assert_sample(text, "hstrace_records_dropped_total", "7");
	assert_sample(text, "hstrace_records_malformed_total", "8");
	assert_sample(text, "hstrace_process_cpu_seconds_total", "1.5");
	assert_sample(text, "hstrace_process_resident_memory_bytes", "4096");
	free(text);
	metrics_free(m);
}

static void test_tls_version_label(void **state)
{
	(void)state;
	assert_string_equal(metrics_tls_version(0), "");
	assert_string_equal(metrics_tls_version(0x0301), "1.0");
	assert_string_equal(metrics_tls_version(0x0303), "1.2");
	assert_string_equal(metrics_tls_version(0x0304), "1.3");
	assert_string_equal(metrics_tls_version(0x7f17), "other");
}

/* Observers and renderers in several threads: nothing lost, no torn text. */
struct worker {
	struct metrics *m;
	int n;
};

static void *observe_worker(void *arg)
{
	struct worker *w = arg;
	struct timeline tl = { .role = ROLE_CLIENT, .result = RESULT_OK };
	char *text;
	size_t len;
	int i;

	tl.phases[0].name = "tcp_handshake";
	tl.phases[0].dur_ns = 1000;
	tl.n_phases = 1;
	for (i = 0; i < w->n; i++) {
		if (metrics_observe_timeline(w->m, &tl))
			return (void *)1;
		if (i % 500 == 0) {
			if (metrics_render(w->m, &text, &len))
				return (void *)1;
			free(text);
		}
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct metrics_opts o = { .version = "t" };
	struct worker w = { .m = metrics_new(&o), .n = 5000 };
	pthread_t t[4];
	void *ret;
	char *text;
	int i;

	(void)state;
	assert_non_null(w.m);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, observe_worker, &w), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	text = render(w.m);
	assert_sample(text, "hstrace_connections_total{role=\"client\",result=\"ok\"}", "20000");
	assert_sample(text, "hstrace_tcp_handshake_duration_seconds_count{role=\"client\","
		      "tls_version=\"\"}", "20000");
	free(text);
	metrics_free(w.m);
}

/* ---- arguments ---- */

static void test_listen_parse(void **state)
{
	struct metrics_listen l;
	uint8_t want[16];
	static const char *const bad[] = {
		"", "abc", "-1", "65536", "123456", "1.2.3.4", "1.2.3.4:", ":9464", "1.2.3:80",
		"localhost:80", "::1:80", "[::1]", "[::1]80", "[]:80", "[::1]:x", "[1.2.3.4]:80",
		"9464 ", " 9464", "+80", "1.2.3.4:80:1",
	};
	size_t i;

	(void)state;
	assert_int_equal(metrics_listen_parse("9464", &l), 0);
	assert_int_equal(l.family, AF_INET);
	assert_int_equal(l.port, 9464);
	assert_string_equal(l.addr_text, "127.0.0.1");
	inet_pton(AF_INET, "127.0.0.1", want);
	assert_memory_equal(l.addr, want, 4);

	assert_int_equal(metrics_listen_parse("0", &l), 0);
	assert_int_equal(l.port, 0);

	assert_int_equal(metrics_listen_parse("0.0.0.0:65535", &l), 0);
	assert_int_equal(l.family, AF_INET);
	assert_int_equal(l.port, 65535);
	assert_string_equal(l.addr_text, "0.0.0.0");

	assert_int_equal(metrics_listen_parse("[::]:80", &l), 0);
	assert_int_equal(l.family, AF_INET6);
	assert_string_equal(l.addr_text, "::");
	memset(want, 0, sizeof(want));
	assert_memory_equal(l.addr, want, 16);

	assert_int_equal(metrics_listen_parse("[::1]:9464", &l), 0);
	assert_int_equal(l.family, AF_INET6);
	assert_int_equal(l.addr[15], 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l.port = 12345;
		if (metrics_listen_parse(bad[i], &l) != -EINVAL)
			fail_msg("--metrics %s accepted", bad[i]);
		assert_int_equal(l.port, 12345); /* untouched */
	}
	assert_int_equal(metrics_listen_parse(NULL, &l), -EINVAL);
}

static void test_by_parse(void **state)
{
	enum metrics_by by = METRICS_BY_NONE;

	(void)state;
	assert_int_equal(metrics_by_parse("sni", &by), 0);
	assert_int_equal(by, METRICS_BY_SNI);
	assert_string_equal(metrics_by_label(by), "server_name");
	assert_int_equal(metrics_by_parse("comm", &by), 0);
	assert_string_equal(metrics_by_label(by), "comm");
	assert_int_equal(metrics_by_parse("port", &by), 0);
	assert_string_equal(metrics_by_label(by), "port");
	assert_int_equal(metrics_by_parse("peer", &by), -EINVAL); /* never a label */
	assert_int_equal(metrics_by_parse("", &by), -EINVAL);
	assert_int_equal(metrics_by_parse(NULL, &by), -EINVAL);
	assert_null(metrics_by_label(METRICS_BY_NONE));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exposition_golden),
		cmocka_unit_test(test_registry_rejects),
		cmocka_unit_test(test_bucket_boundaries),
		cmocka_unit_test(test_duration_buckets),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_cap_other),
		cmocka_unit_test(test_metrics_by_cap),
		cmocka_unit_test(test_metrics_by_port_and_comm),
		cmocka_unit_test(test_hstrace_families),
		cmocka_unit_test(test_tls_version_label),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_listen_parse),
		cmocka_unit_test(test_by_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
