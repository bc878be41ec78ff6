// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_report_golden.c - `hstrace report` on recorded NDJSON fixtures, compared byte for byte
 * with the expected outputs under tests/golden/ (one cmocka test per line of
 * tests/golden/cases: EXPECTED FIXTURE [options]). Paths are relative to the repository root,
 * or to $HSTRACE_SRCDIR when set.
 *
 * This test only reads the expected files. To change them on purpose run `make golden` (it
 * rewrites them with build/hstrace report) and review the diff.
 */
#define _GNU_SOURCE /* strchrnul() */
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

#include "report.h"
#include "report_cmd.h"

#define MAX_CASES 64
#define MAX_ARGS 16

struct golden_case {
	char line[512];
	char *expected, *fixture;
	char *args[MAX_ARGS];
	size_t n_args;
};

static struct golden_case cases[MAX_CASES];

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
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

/* The first line where a and b differ, for the failure message. */
static void first_difference(const char *a, const char *b, char *msg, size_t len)
{
	size_t line = 1;
	const char *ea, *eb;

	while (*a && *b) {
		ea = strchrnul(a, '\n');
		eb = strchrnul(b, '\n');
		if (ea - a != eb - b || memcmp(a, b, ea - a)) {
			int na = (int)(ea - a > 200 ? 200 : ea - a);
			int nb = (int)(eb - b > 200 ? 200 : eb - b);

			snprintf(msg, len, "line %zu:\n  got:      %.*s\n  expected: %.*s", line,
				 na, a, nb, b);
			return;
		}
		a = *ea ? ea + 1 : ea;
		b = *eb ? eb + 1 : eb;
		line++;
	}
	snprintf(msg, len, "line %zu: one output ends before the other", line);
}

static void run_case(void **state)
{
	const struct golden_case *c = *state;
	struct report_cmd_opts o = { .path = c->fixture, .top = REPORT_DEFAULT_TOP };
	char *got = NULL, *err_buf = NULL, *expected, msg[1024];
	size_t got_len = 0, err_len = 0, exp_len = 0, i;
	FILE *out, *err;

	for (i = 0; i < c->n_args; i++) {
		if (!strcmp(c->args[i], "--json")) {
			o.json = true;
		} else if (!strcmp(c->args[i], "--by") && i + 1 < c->n_args) {
			assert_int_equal(report_by_parse(c->args[++i], &o.by), 0);
		} else if (!strcmp(c->args[i], "--top") && i + 1 < c->n_args) {
			o.top = strtoul(c->args[++i], NULL, 10);
		} else {
			fail_msg("tests/golden/cases: unknown option %s", c->args[i]);
		}
	}
	expected = read_file(c->expected, &exp_len);
	if (!expected)
		fail_msg("cannot read %s: %s (create it with `make golden`)", c->expected,
			 strerror(errno));
	out = open_memstream(&got, &got_len);
	err = open_memstream(&err_buf, &err_len);
	assert_non_null(out);
	assert_non_null(err);
	assert_int_equal(report_cmd_run(&o, out, err), 0);
	fclose(out);
	fclose(err);
	if (got_len != exp_len || memcmp(got, expected, got_len)) {
		first_difference(got, expected, msg, sizeof(msg));
		fail_msg("%s differs from the report of %s: %s\n(if the change is intended: make "
			 "golden, then review the diff)", c->expected, c->fixture, msg);
	}
	free(got);
	free(err_buf);
	free(expected);
}

int main(void)
{
	struct CMUnitTest tests[MAX_CASES];
	const char *srcdir = getenv("HSTRACE_SRCDIR");
	size_t n = 0, len;
	char *text, *line, *save;
	int ret;

	if (srcdir && *srcdir && chdir(srcdir)) {
		fprintf(stderr, "test_report_golden: cannot chdir to %s: %s\n", srcdir,
			strerror(errno));
		return 1;
	}
	text = read_file("tests/golden/cases", &len);
	if (!text) {
		fprintf(stderr, "test_report_golden: cannot read tests/golden/cases: %s (run from "
				"the repository root or set HSTRACE_SRCDIR)\n", strerror(errno));
		return 1;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct golden_case *c = &cases[n];
		char *word, *wsave;

		if (line[0] == '#' || !line[strspn(line, " \t")])
			continue;
		if (n == MAX_CASES) {
			fprintf(stderr, "test_report_golden: more than %d cases\n", MAX_CASES);
			return 1;
		}
		snprintf(c->line, sizeof(c->line), "%s", line);
		c->expected = strtok_r(c->line, " \t", &wsave);
		c->fixture = strtok_r(NULL, " \t", &wsave);
		while ((word = strtok_r(NULL, " \t", &wsave)) && c->n_args < MAX_ARGS)
			c->args[c->n_args++] = word;
		if (!c->fixture) {
			fprintf(stderr, "test_report_golden: bad line in cases: %s\n", line);
			return 1;
		}
		tests[n] = (struct CMUnitTest){ .name = c->expected, .test_func = run_case,
						.initial_state = c };
		n++;
	}
	free(text);
	ret = _cmocka_run_group_tests("report_golden", tests, n, NULL, NULL);
	return ret;
}
