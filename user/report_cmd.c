// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_cmd.c - `hstrace report FILE`: NDJSON records -> report -> text or JSON.
 */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "ndjson_read.h"
#include "report_cmd.h"
#include "report_html.h"

/* "2, 5, 9" (the first skipped line numbers), with ", ..." when there were more. */
static void invalid_lines_text(const struct ndjson_stats *st, char *buf, size_t len)
{
	size_t off = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < st->n_first_invalid && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%llu", i ? ", " : "",
				(unsigned long long)st->first_invalid[i]);
	if (st->invalid > st->n_first_invalid && off < len)
		snprintf(buf + off, len - off, ", ...");
}

static struct json_object *input_object(const struct report_cmd_opts *o,
					const struct ndjson_stats *st)
{
	struct json_object *in = json_object_new_object(), *arr = json_object_new_array();
	unsigned int i;
	int err = !in || !arr;

	for (i = 0; !err && i < st->n_first_invalid; i++)
		err = json_object_array_add(arr, json_object_new_uint64(st->first_invalid[i]));
	if (!err)
		err = json_object_object_add(in, "file", json_object_new_string(o->path)) ||
		      json_object_object_add(in, "lines", json_object_new_uint64(st->lines)) ||
		      json_object_object_add(in, "records", json_object_new_uint64(st->records)) ||
		      json_object_object_add(in, "skipped", json_object_new_uint64(st->invalid));
	if (!err) {
		err = json_object_object_add(in, "first_skipped_lines", arr);
		arr = NULL;
	}
	json_object_put(arr);
	if (err) {
		json_object_put(in);
		return NULL;
	}
	return in;
}

static int write_report(const struct report_cmd_opts *o, const struct report *r,
			const struct ndjson_stats *st, const struct report_html_keep *keep,
			FILE *out)
{
	struct report_view v = { .top = o->top, .histograms = true };
	struct report_html_input hin = { .file = o->path, .st = st };
	struct json_object *obj, *in;
	char lines[128];
	int ret;

	if (o->html)
		return report_html_write(out, r, &v, &hin, keep);
	if (o->json) {
		obj = report_json_object(r, &v);
		in = obj ? input_object(o, st) : NULL;
		if (!in || json_object_object_add(obj, "input", in)) {
			json_object_put(in);
			json_object_put(obj);
			return -ENOMEM;
		}
		ret = report_json_write_line(out, obj);
		json_object_put(obj);
		return ret;
	}
	fprintf(out, "Input: %s: %llu lines, %llu records, %llu skipped", o->path,
		(unsigned long long)st->lines, (unsigned long long)st->records,
		(unsigned long long)st->invalid);
	if (st->invalid) {
		invalid_lines_text(st, lines, sizeof(lines));
		fprintf(out, " (line%s %s)", st->invalid == 1 ? "" : "s", lines);
	}
	fputc('\n', out);
	return report_text_write(out, r, &v);
}

static int add_sample(const struct report_sample *s, void *ctx)
{
	return report_add(ctx, s);
}

int report_cmd_run(const struct report_cmd_opts *o, FILE *out, FILE *err)
{
	struct report_html_keep *keep = NULL;
	struct ndjson_reader *rd;
	struct ndjson_stats st;
	struct report *r;
	char lines[128];
	int n, ret = 1;

	r = report_new(o->by);
	if (r && o->html && !(keep = report_html_keep_new(o->waterfalls))) {
		report_free(r);
		r = NULL;
	}
	if (!r) {
		fprintf(err, "hstrace: out of memory\n");
		return 1;
	}
	rd = ndjson_open(o->path);
	if (!rd) {
		fprintf(err, "hstrace: cannot open %s: %s\n",
			!strcmp(o->path, "-") ? "standard input" : o->path, strerror(errno));
		report_html_keep_free(keep);
		report_free(r);
		return 1;
	}
	if (o->html) /* keeps the slowest records' JSON: read on this thread */
		n = report_html_read(rd, r, keep);
	else
		n = ndjson_for_each(rd, o->threads, add_sample, r);
	ndjson_get_stats(rd, &st);
	if (n == -ENOMEM) {
		fprintf(err, "hstrace: out of memory\n");
		goto out;
	}
	if (n < 0) {
		fprintf(err, "hstrace: reading %s failed after line %llu: %s\n", o->path,
			(unsigned long long)st.lines,
			n == -EIO ? "read error or corrupt/truncated gzip data" : strerror(-n));
		goto out;
	}
	if (!st.records && st.invalid) {
		/* Not a file hstrace wrote: say so rather than print an empty report. (An empty
		 * file is a run that saw no connection: its report is empty.) */
		fprintf(err, "hstrace: %s: no hstrace record in %llu line%s: not `hstrace --json` "
			"output (docs/json.md)\n", !strcmp(o->path, "-") ? "standard input" : o->path,
			(unsigned long long)st.lines, st.lines == 1 ? "" : "s");
		goto out;
	}
	if (st.invalid) {
		invalid_lines_text(&st, lines, sizeof(lines));
		bool one = st.invalid == 1;

		fprintf(err, "hstrace: %s: skipped %llu line%s that %s not hstrace records "
			"(line%s %s)\n", o->path, (unsigned long long)st.invalid, one ? "" : "s",
			one ? "is" : "are", one ? "" : "s", lines);
	}
	if (write_report(o, r, &st, keep, out) || fflush(out)) {
		fprintf(err, "hstrace: writing the report failed\n");
		goto out;
	}
	ret = 0;
out:
	report_html_keep_free(keep);
	ndjson_close(rd);
	report_free(r);
	return ret;
}
