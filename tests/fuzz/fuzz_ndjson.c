// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fuzz_ndjson.c - libFuzzer target for what `hstrace report` reads: any file a user points it
 * at (NDJSON from --json, plain or gzip, or anything else).
 *
 * Each input is written to a memfd and read back through its /proc/self/fd path, as a whole
 * file:
 *  - with ndjson_next() into a report (report_new/report_add), then the text report
 *    (report_text_write) and the JSON one (report_json_object);
 *  - with ndjson_for_each() on 2 parser threads into a second report, for one input in 8 (by
 *    its byte sum: the threads' batches cost a few MB of calloc a run);
 *  - with `hstrace report --join` (report_join_run): text, JSON or --timeline by the byte sum;
 *    the input cut at its first "\n--\n" gives two files (two hosts), else it is given twice;
 *    for inputs with a "conn_id" or a cut, and one in 8 of the others.
 * Speed is bounded by ndjson_open(): its 1.3 MB of buffers cost ~250 µs under ASan.
 *
 * Besides the sanitizers' checks (LeakSanitizer included), it aborts, which libFuzzer reports
 * as a crash, when:
 *  - a sample breaks ndjson_read.h's promise: role and result set, a port above 65535, a phase
 *    without a name, more than REPORT_MAX_SAMPLE_PHASES phases;
 *  - the counters disagree: records returned != `records`, lines != records + skipped, the
 *    first skipped line numbers not increasing within [1, lines] or not min(skipped, 5) of
 *    them; the report's connection counts != records (total, groups + "other");
 *  - a return value is not one the header lists, or -ENOMEM (inputs are at most a few kB);
 *  - the text report or the --join output holds a control character other than a newline
 *    (terminal escapes from the file's names);
 *  - the threaded reading disagrees with ndjson_next(): other return value, counters or JSON
 *    report.
 *
 *   make fuzz FUZZ_TARGETS=fuzz_ndjson FUZZ_SECONDS=600
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ndjson_read.h"
#include "report.h"
#include "report_join.h"

static int fds[2] = { -1, -1 };
static char paths[2][64];

/* Makes the memfd of file i hold data[0, size). */
static void file_set(int i, const uint8_t *data, size_t size)
{
	if (fds[i] < 0) {
		fds[i] = memfd_create(i ? "fuzz_ndjson_b" : "fuzz_ndjson_a", 0);
		if (fds[i] < 0)
			abort();
		snprintf(paths[i], sizeof(paths[i]), "/proc/self/fd/%d", fds[i]);
	}
	if (ftruncate(fds[i], 0) || (size && pwrite(fds[i], data, size, 0) != (ssize_t)size))
		abort();
}

static void check_sample(const struct report_sample *s)
{
	size_t i;

	if (!s->role || !s->result || s->port > 65535 || s->n_phases > REPORT_MAX_SAMPLE_PHASES)
		abort();
	for (i = 0; i < s->n_phases; i++)
		if (!s->phases[i].name)
			abort();
}

static void check_stats(const struct ndjson_stats *st, uint64_t records)
{
	unsigned int i;

	if (st->records != records || st->lines != st->records + st->invalid)
		abort();
	if (st->n_first_invalid != (st->invalid < NDJSON_FIRST_INVALID ? st->invalid
									 : NDJSON_FIRST_INVALID))
		abort();
	for (i = 0; i < st->n_first_invalid; i++)
		if (st->first_invalid[i] < 1 || st->first_invalid[i] > st->lines ||
		    (i && st->first_invalid[i] <= st->first_invalid[i - 1]))
			abort();
}

static void check_report(const struct report *r, uint64_t records)
{
	uint64_t sum = r->other ? r->other->conns : 0;
	size_t i;

	if (r->conns != records || r->total.conns != records)
		abort();
	for (i = 0; i < r->n_groups; i++)
		sum += r->groups[i]->conns;
	if (r->by != REPORT_BY_NONE && sum != records)
		abort();
}

struct counted {
	struct report *r;
	uint64_t n;
};

static int add_counted(const struct report_sample *s, void *ctx)
{
	struct counted *c = ctx;

	check_sample(s);
	c->n++;
	return report_add(c->r, s) ? -ENOMEM : 0;
}

/* Output written to a memory stream; checked and freed by output_check(). */
struct output {
	FILE *f;
	char *buf;
	size_t len;
};

static FILE *output_open(struct output *o)
{
	o->buf = NULL;
	o->len = 0;
	o->f = open_memstream(&o->buf, &o->len);
	if (!o->f)
		abort();
	return o->f;
}

/* Whatever the input held, what reaches a terminal has no control character but newlines
 * (names from the file are made printable, as group keys are). */
static void output_check(struct output *o)
{
	size_t i;

	if (fclose(o->f))
		abort();
	for (i = 0; i < o->len; i++)
		if (((unsigned char)o->buf[i] < 0x20 && o->buf[i] != '\n') || o->buf[i] == 0x7f)
			abort();
	free(o->buf);
}

/* The JSON report as text (malloc'ed). */
static char *report_text_json(const struct report *r, const struct report_view *v)
{
	struct json_object *obj = report_json_object(r, v);
	char *text;

	if (!obj)
		abort();
	text = strdup(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN));
	json_object_put(obj);
	if (!text)
		abort();
	return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *cut = size >= 4 ? memmem(data, size, "\n--\n", 4) : NULL;
	struct report_view view = { .histograms = true };
	struct ndjson_stats st, st2;
	struct output text, err;
	struct report_sample s;
	struct ndjson_reader *rd;
	struct counted c2 = { 0 };
	struct report *r;
	char *json, *json2;
	unsigned int sum = 0;
	uint64_t records = 0;
	size_t i;
	int ret, ret2;

	for (i = 0; i < size; i++)
		sum += data[i];
	view.top = 1 + sum % 12;
	file_set(0, data, size);

	/* ndjson_next(), as report --join reads */
	r = report_new((enum report_by)(size % 6));
	rd = ndjson_open(paths[0]);
	if (!r || !rd)
		abort();
	while ((ret = ndjson_next(rd, &s)) > 0) {
		check_sample(&s);
		if (ret != 1 || !ndjson_current(rd))
			abort();
		records++;
		if (report_add(r, &s))
			abort();
	}
	if (ret != 0 && ret != -EIO)
		abort();
	ndjson_get_stats(rd, &st);
	ndjson_close(rd);
	check_stats(&st, records);
	check_report(r, records);
	if (report_text_write(output_open(&text), r, &view))
		abort();
	output_check(&text);
	json = report_text_json(r, &view);

	/* ndjson_for_each() on 2 threads, as `hstrace report` reads: the same answer */
	if (sum % 8 == 0) {
		c2.r = report_new((enum report_by)(size % 6));
		rd = ndjson_open(paths[0]);
		if (!c2.r || !rd)
			abort();
		ret2 = ndjson_for_each(rd, 2, add_counted, &c2);
		ndjson_get_stats(rd, &st2);
		ndjson_close(rd);
		if (ret2 != ret)
			abort();
		if (!ret) {
			check_stats(&st2, c2.n);
			check_report(c2.r, c2.n);
			if (st.lines != st2.lines || st.records != st2.records ||
			    st.invalid != st2.invalid || st.n_first_invalid != st2.n_first_invalid ||
			    memcmp(st.first_invalid, st2.first_invalid, sizeof(st.first_invalid)))
				abort();
			json2 = report_text_json(c2.r, &view);
			if (strcmp(json, json2))
				abort();
			free(json2);
		}
		report_free(c2.r);
	}
	free(json);
	report_free(r);

	/* report --join: two files (two hosts) when cut, else the file twice */
	if (cut || sum % 8 == 1 || (size >= 7 && memmem(data, size, "conn_id", 7))) {
		struct report_join_opts jo = { .by = (enum report_by)(size % 6), .top = view.top };
		char *jpaths[2] = { paths[0], paths[0] };

		if (cut) {
			file_set(0, data, (size_t)(cut - data) + 1);
			file_set(1, cut + 4, size - (size_t)(cut - data) - 4);
			jpaths[1] = paths[1];
		}
		jo.paths = jpaths;
		jo.n_paths = 2;
		jo.json = sum % 3 == 1;
		jo.timeline = sum % 3 == 2;
		ret = report_join_run(&jo, output_open(&text), output_open(&err));
		if (ret != 0 && ret != 1)
			abort();
		output_check(&text);
		output_check(&err);
	}
	return 0;
}
