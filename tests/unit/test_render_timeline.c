// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_render_timeline.c - the --timeline waterfall, the --slow rule and --color, on synthetic
 * timelines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <linux/types.h>

#include "color.h"
#include "hstrace.h"
#include "render_timeline.h"
#include "timeline.h"

#define BASE 1000000000000ULL
#define EV(ts, kind, d) ((struct tl_event){ .ts_ns = BASE + (ts), .event = (kind), .dir = (d) })

/* A TLS 1.2 curl client to example.com; events in ns from BASE. */
static void tls_client(struct timeline *tl, struct tl_event ev[8])
{
	memset(tl, 0, sizeof(*tl));
	tl->role = ROLE_CLIENT;
	tl->result = RESULT_OK;
	tl->pid = 4242;
	strcpy(tl->comm, "curl");
	tl->ip_version = 4;
	inet_pton(AF_INET, "192.0.2.10", tl->laddr);
	inet_pton(AF_INET, "203.0.113.5", tl->raddr);
	tl->lport = 53430;
	tl->rport = 443;
	ev[0] = EV(0, HS_EV_SYN_SENT, DIR_OUT);
	ev[1] = EV(24301000, HS_EV_ESTABLISHED, DIR_IN);
	ev[2] = EV(24702000, TL_EV_CLIENT_HELLO, DIR_OUT);
	ev[2].len = 508;
	ev[3] = EV(49650000, TL_EV_SERVER_HELLO, DIR_IN);
	ev[3].app_ns = BASE + 49650000 + 46000; /* read 46 µs after it arrived */
	ev[4] = EV(74982000, TL_EV_FINISHED, DIR_IN);
	ev[5] = EV(75310000, TL_EV_APP_DATA, DIR_OUT);
	ev[6] = EV(101877000, TL_EV_APP_DATA, DIR_IN);
	ev[7] = EV(205602000, HS_EV_CLOSED, DIR_NONE);
	tl->events = ev;
	tl->n_events = 8;
	tl_phase_add(tl, "tcp_handshake", 0, TL_AT_WIRE, 1, TL_AT_WIRE);
	tl_phase_add(tl, "tls_handshake", 2, TL_AT_WIRE, 4, TL_AT_WIRE);
	tl_phase_add(tl, "ttfb", 5, TL_AT_WIRE, 6, TL_AT_WIRE);
	tl_phase_add(tl, "total", 0, TL_AT_WIRE, 7, TL_AT_WIRE);
	tl_phase_add_estimate(tl, "mystery", BASE, BASE + 12345); /* no events of its own */
	tl_phase_add(tl, "hello_read_wait", 3, TL_AT_WIRE, 3, TL_AT_APP);
	assert_int_equal(tl->n_phases, 6);
	tl->tls.seen = true;
	tl->tls.version = 0x0303;
	strcpy(tl->tls.sni, "example.com");
}

static char *render(const struct timeline *tl, bool color)
{
	struct timeline_view v = { .color = color, .bar_width = 20 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	render_timeline(f, tl, &v);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Line i (0-based) of text, copied into line. */
static void nth_line(const char *text, int i, char *line, size_t len)
{
	const char *end;

	while (i-- > 0) {
		text = strchr(text, '\n');
		assert_non_null(text);
		text++;
	}
	end = strchr(text, '\n');
	assert_non_null(end);
	snprintf(line, len, "%.*s", (int)(end - text), text);
}

static size_t count_str(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what))) {
		n++;
		s += strlen(what);
	}
	return n;
}

static void test_waterfall(void **state)
{
	struct tl_event ev[8];
	struct timeline tl;
	char *out, line[512];
	int i;

	(void)state;
	tls_client(&tl, ev);
	out = render(&tl, false);
	assert_null(strchr(out, '\033')); /* no colour */

	nth_line(out, 0, line, sizeof(line));
	assert_string_equal(line, "curl[4242] client 192.0.2.10:53430 \u2192 203.0.113.5:443 "
				  "sni example.com TLS 1.2 ok");
	nth_line(out, 1, line, sizeof(line));
	assert_non_null(strstr(line, "T(ms)"));
	assert_non_null(strstr(line, "PHASES"));

	/* one line per event: time since the first, delta, direction, name */
	nth_line(out, 2, line, sizeof(line));
	assert_non_null(strstr(line, "     0.000     0.000  \u2192  syn_sent"));
	assert_non_null(strstr(line, "tcp_handshake 24.301 ms"));
	assert_non_null(strstr(line, "total 205.602 ms"));
	nth_line(out, 3, line, sizeof(line));
	assert_non_null(strstr(line, "    24.301    24.301  \u2190  established"));
	nth_line(out, 4, line, sizeof(line));
	assert_non_null(strstr(line, "client_hello 508B"));
	assert_non_null(strstr(line, "tls_handshake 50.280 ms"));
	/* the APP column: when the application read it, relative to its arrival */
	nth_line(out, 5, line, sizeof(line));
	assert_non_null(strstr(line, "server_hello "));
	assert_non_null(strstr(line, "   +0.046 |"));
	nth_line(out, 1, line, sizeof(line));
	assert_non_null(strstr(line, "APP(ms)"));
	nth_line(out, 9, line, sizeof(line));
	assert_non_null(strstr(line, "   205.602   103.725     closed"));

	/* every bar is 20 columns between '|'; the last event's segment reaches the end */
	for (i = 2; i < 10; i++) {
		char *bar;

		nth_line(out, i, line, sizeof(line));
		bar = strchr(line, '|');
		assert_non_null(bar);
		assert_int_equal(count_str(bar, "\u2588") + count_str(bar, " ") -
					 count_str(strchr(bar + 1, '|'), " "),
				 20);
	}
	nth_line(out, 9, line, sizeof(line));
	assert_non_null(strstr(line, "\u2588|"));

	/* lanes: tcp_handshake starts on line 2 and ends on line 3; total spans everything */
	nth_line(out, 2, line, sizeof(line));
	assert_int_equal(count_str(line, "\u252c"), 2);
	nth_line(out, 3, line, sizeof(line));
	assert_int_equal(count_str(line, "\u2534"), 1);
	assert_int_equal(count_str(line, "\u2502"), 1);
	nth_line(out, 9, line, sizeof(line));
	assert_int_equal(count_str(line, "\u2534"), 1);

	/* a phase within one event: its arrival to the application's read */
	nth_line(out, 5, line, sizeof(line));
	assert_int_equal(count_str(line, "\u2022"), 1);
	assert_non_null(strstr(line, "hello_read_wait 0.046 ms (arrival\u2192read)"));

	/* a phase with no events of its own is still shown */
	nth_line(out, 10, line, sizeof(line));
	assert_string_equal(line, "  other phases: mystery 0.012 ms (estimated)");
	free(out);

	out = render(&tl, true);
	assert_non_null(strstr(out, COLOR_GREEN "ok" COLOR_RESET));
	assert_non_null(strstr(out, COLOR_CYAN "\u2192" COLOR_RESET));
	free(out);
}

/* The display column (code points, not bytes: the arrows are 3 bytes each) of the bar's
 * opening '|' in line. */
static size_t bar_column(const char *line)
{
	const char *bar = strchr(line, '|');
	size_t col = 0;

	assert_non_null(bar);
	for (; line < bar; line++)
		col += ((unsigned char)*line & 0xc0) != 0x80;
	return col;
}

/* An event marked estimated gets " (estimated)" after its text, and the bar stays in its
 * column: the EVENT field is cut at 36 columns, so a long text (name, length, record count,
 * both notes) does not push the bar right. */
static void test_estimated_event_keeps_bar_column(void **state)
{
	struct tl_event ev[8];
	struct timeline tl;
	char *out, line[512];
	size_t col;
	int i;

	(void)state;
	tls_client(&tl, ev);
	ev[6].estimated = true; /* app_data 1 (in): short enough to show the whole note */
	ev[6].len = 1398;
	ev[4].event = TL_EV_ENCRYPTED_HANDSHAKE; /* 49 columns of text: cut at 36 */
	ev[4].len = 4330;
	ev[4].records = 4;
	ev[4].derived = true;
	ev[4].estimated = true;
	out = render(&tl, false);

	nth_line(out, 8, line, sizeof(line));
	assert_non_null(strstr(line, "app_data 1398B (estimated) "));
	nth_line(out, 2, line, sizeof(line)); /* syn_sent: no note */
	assert_null(strstr(line, "(estimated)"));
	col = bar_column(line);
	nth_line(out, 8, line, sizeof(line));
	assert_int_equal(bar_column(line), col);
	nth_line(out, 6, line, sizeof(line));
	assert_non_null(strstr(line, "encrypted_handshake 4330B/4 (derive"));
	assert_int_equal(bar_column(line), col);
	/* and every other event row too */
	for (i = 2; i < 10; i++) {
		nth_line(out, i, line, sizeof(line));
		assert_int_equal(bar_column(line), col);
	}
	free(out);
}

static void test_slow_rule(void **state)
{
	struct tl_event ev[8];
	struct timeline tl;

	(void)state;
	tls_client(&tl, ev); /* total 205.602 ms, tls_handshake 50.28 ms */
	assert_true(timeline_slow_or_failed(&tl, 205601999));
	assert_false(timeline_slow_or_failed(&tl, 205602000));
	tl.phases[3].name = "not_total";
	assert_true(timeline_slow_or_failed(&tl, 50000000)); /* tls_handshake */
	assert_false(timeline_slow_or_failed(&tl, 50280000));
	tl.result = RESULT_REFUSED;
	assert_true(timeline_slow_or_failed(&tl, UINT64_MAX));
	tl.result = RESULT_CLOSED;
	assert_false(timeline_failed(&tl));
	tl.result = RESULT_TLS_ALERT;
	assert_true(timeline_failed(&tl));
}

static void test_failed_header_and_empty(void **state)
{
	struct tl_event ev[8];
	struct timeline tl;
	char *out, line[512];

	(void)state;
	tls_client(&tl, ev);
	tl.result = RESULT_TLS_ALERT;
	tl.tls.has_alert = true;
	tl.tls.alert_level = 2;
	tl.tls.alert_desc = 48; /* unknown_ca */
	tl.pid = 0;
	out = render(&tl, true);
	assert_non_null(strstr(out, COLOR_RED COLOR_BOLD "tls_alert:unknown_ca" COLOR_RESET));
	assert_non_null(strstr(out, "?[-] client"));
	free(out);

	tl.n_events = 0;
	tl.n_phases = 0;
	out = render(&tl, false);
	nth_line(out, 1, line, sizeof(line));
	assert_string_equal(line, "");
	free(out);
}

static void test_color_mode(void **state)
{
	enum color_mode m;
	FILE *f = tmpfile();

	(void)state;
	assert_non_null(f);
	assert_int_equal(color_mode_parse("always", &m), 0);
	assert_int_equal(m, COLOR_ALWAYS);
	assert_true(color_enabled(m, f));
	assert_int_equal(color_mode_parse("never", &m), 0);
	assert_false(color_enabled(m, f));
	assert_int_equal(color_mode_parse("auto", &m), 0);
	assert_false(color_enabled(m, f)); /* a file is not a terminal */
	assert_int_not_equal(color_mode_parse("yes", &m), 0);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waterfall),
		cmocka_unit_test(test_estimated_event_keeps_bar_column),
		cmocka_unit_test(test_slow_rule),
		cmocka_unit_test(test_failed_header_and_empty),
		cmocka_unit_test(test_color_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
