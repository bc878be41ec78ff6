// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * main.c - hstrace: BPF records -> collector -> filter -> renderer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <linux/types.h>

#include "cli.h"
#include "collector.h"
#include "hstrace.h"
#include "render.h"
#include "render_timeline.h"
#include "report.h"
#include "report_cmd.h"
#include "report_join.h"
#include "ssl_probes.h"
#include "tracer.h"

struct app {
	struct cli_opts opts;
	struct collector *coll;
	struct ssl_probes *probes; /* OpenSSL uprobes; NULL with --no-uprobes */
	FILE *out;
	uint64_t shown;
	struct timeline_view tview;
	struct report *report;	  /* -i / --report: connections go here instead of out */
	bool report_oom;
	unsigned int report_seq;  /* reports printed */
	int64_t report_start_wall; /* ns since the epoch: start of the current interval */
};

/* Connections emitted at most between two reads of the ring buffer: when thousands close at
 * once, rendering them all before reading again would let the ring buffer overflow. */
#define FLUSH_BATCH 256

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void emit_timeline(const struct timeline *tl, void *ctx)
{
	struct app *app = ctx;

	if (!conn_filter_match(&app->opts.filter, tl))
		return;
	if (app->report) {
		app->shown++;
		if (report_add_timeline(app->report, tl))
			app->report_oom = true;
		return;
	}
	if (app->opts.slow && !timeline_slow_or_failed(tl, app->opts.slow_ms * 1000000ULL))
		return;
	app->shown++;
	if (app->opts.timeline)
		render_timeline(app->out, tl, &app->tview);
	else if (app->opts.json)
		render_json_line(app->out, tl);
	else
		render_text_line(app->out, tl);
	/* Flushed by the main loop once per pass, not per connection: one write() for a batch. */
}

/* "2026-11-27T07:35:05Z" */
static void format_utc(int64_t wall_ns, char *buf, size_t len)
{
	time_t t = (time_t)(wall_ns / 1000000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

/* Prints the report of the interval that ends now (text or one JSON line) and empties it. */
static void print_report(struct app *app, bool final)
{
	struct report_view v = { .top = app->opts.top, .histograms = true };
	int64_t now = (int64_t)clock_ns(CLOCK_REALTIME);
	char from[32], to[32];
	struct json_object *obj, *iv;
	double secs = (double)(now - app->report_start_wall) / 1e9;

	app->report_seq++;
	format_utc(app->report_start_wall, from, sizeof(from));
	format_utc(now, to, sizeof(to));
	if (app->opts.json) {
		obj = report_json_object(app->report, &v);
		iv = obj ? json_object_new_object() : NULL;
		if (iv && json_object_object_add(obj, "interval", iv)) {
			json_object_put(iv);
			iv = NULL;
		}
		/* (a member that failed to allocate is written as null) */
		if (!iv || json_object_object_add(iv, "seq", json_object_new_int64(app->report_seq)) ||
		    json_object_object_add(iv, "start", json_object_new_string(from)) ||
		    json_object_object_add(iv, "end", json_object_new_string(to)) ||
		    json_object_object_add(iv, "seconds", json_object_new_double(secs)) ||
		    json_object_object_add(iv, "final", json_object_new_boolean(final)) ||
		    report_json_write_line(app->out, obj))
			fprintf(stderr, "hstrace: writing the report failed\n");
		json_object_put(obj);
	} else {
		fprintf(app->out, "%sReport #%u: %s - %s (%.1f s)%s\n",
			app->report_seq > 1 ? "\n" : "", app->report_seq, from, to, secs,
			final ? ", final" : "");
		if (report_text_write(app->out, app->report, &v))
			fprintf(stderr, "hstrace: writing the report failed\n");
	}
	fflush(app->out);
	if (app->report_oom) {
		fprintf(stderr, "hstrace: out of memory: the report misses some connections\n");
		app->report_oom = false;
	}
	report_reset(app->report);
	app->report_start_wall = now;
}

/* `hstrace report ...`: argv[0] is "report". */
static int report_main(int argc, char **argv)
{
	struct report_cli_opts ro;
	struct report_cmd_opts co = {};
	char name[] = "hstrace report";
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int i, ret;

	if (!args) {
		fprintf(stderr, "hstrace: out of memory\n");
		return 1;
	}
	args[0] = name; /* so usage lines read "hstrace report" */
	for (i = 1; i < argc; i++)
		args[i] = argv[i];
	cli_parse_report(argc, args, &ro);
	co.path = ro.path;
	co.by = ro.by;
	co.top = ro.top;
	co.json = ro.json;
	if (ro.join) {
		struct report_join_opts jo = { .paths = ro.paths, .n_paths = ro.n_paths,
					       .by = ro.by, .top = ro.top, .json = ro.json,
					       .timeline = ro.timeline };

		ret = report_join_run(&jo, stdout, stderr);
	} else {
		ret = report_cmd_run(&co, stdout, stderr);
	}
	free(args);
	return ret;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct app *app = ctx;
	struct hs_exec_rec exec;

	/* A process called execve(): look for TLS libraries in it soon. */
	if (size == sizeof(exec)) {
		memcpy(&exec, data, sizeof(exec));
		if (exec.hdr.kind == HS_REC_EXEC) {
			ssl_probes_on_exec(app->probes, exec.pid, clock_ns(CLOCK_MONOTONIC));
			return 0;
		}
	}
	/* Malformed or unmatched records are counted by the collector, never fatal. */
	collector_handle(app->coll, data, size);
	return 0;
}

/* collector_opts.lib_describe: the library a uprobe record came from. */
static void describe_lib(void *ctx, uint32_t lib_id, struct tl_tls *tls)
{
	struct app *app = ctx;

	ssl_probes_describe(app->probes, lib_id, tls);
}

/* Finds and probes every OpenSSL in use (and --ssl-lib ones). Returns 0, or -ENOMEM. */
static int start_uprobes(struct app *app, struct tracer *tracer)
{
	unsigned int i;

	app->probes = ssl_probes_new(tracer, app->opts.verbose, app->opts.ssl_calls);
	if (!app->probes)
		return -ENOMEM;
	for (i = 0; i < app->opts.n_ssl_libs; i++)
		ssl_probes_add_path(app->probes, app->opts.ssl_libs[i]); /* reported, not fatal */
	ssl_probes_scan_all(app->probes);
	return 0;
}

/* How long the main loop may wait for records: 100 ms (output is flushed once a pass), less
 * when a library scan after an exec is due sooner. */
static int poll_timeout_ms(const struct app *app)
{
	uint64_t due = ssl_probes_next_due(app->probes), now = clock_ns(CLOCK_MONOTONIC);

	if (due == UINT64_MAX || due >= now + 100 * 1000000ULL)
		return 100;
	return due <= now ? 0 : (int)((due - now + 999999) / 1000000);
}

static void print_summary(struct app *app, uint64_t lost)
{
	struct collector_stats st;

	collector_get_stats(app->coll, &st);
	fprintf(stderr,
		"Summary: connections=%llu shown=%llu events=%llu lost=%llu unmatched=%llu "
		"malformed=%llu incomplete=%llu evicted=%llu dropped=%llu\n",
		(unsigned long long)st.conns, (unsigned long long)app->shown,
		(unsigned long long)st.events, (unsigned long long)lost,
		(unsigned long long)st.unmatched, (unsigned long long)st.malformed,
		(unsigned long long)st.incomplete, (unsigned long long)st.evicted,
		(unsigned long long)st.dropped);
	if (st.dropped)
		fprintf(stderr, "hstrace: %llu records could not be applied (out of memory, or a "
				"connection with over 4096 TCP events)\n",
			(unsigned long long)st.dropped);
	if (lost)
		fprintf(stderr, "hstrace: %llu records were lost because the ring buffer was full; "
				"timelines may miss events (raise --ringbuf-kb)\n",
			(unsigned long long)lost);
}

int main(int argc, char **argv)
{
	struct app app = {};
	struct collector_opts copts = {};
	struct tracer_opts topts = {};
	struct tracer *tracer = NULL;
	struct sigaction sa = {};
	uint64_t start_ns, lost, lost_reported = 0;
	uint64_t last_report_ns, interval_ns;
	uint64_t shown_written = 0;
	size_t flushed = 0;
	int err, ret = 1;

	if (argc > 1 && !strcmp(argv[1], "report"))
		return report_main(argc - 1, argv + 1);
	cli_parse(argc, argv, &app.opts);
	app.tview.color = false;

	app.out = stdout;
	if (app.opts.output) {
		app.out = fopen(app.opts.output, "w");
		if (!app.out) {
			fprintf(stderr, "hstrace: cannot open %s: %s\n", app.opts.output,
				strerror(errno));
			return 1;
		}
	}

	app.tview.color = app.opts.timeline && color_enabled(app.opts.color, app.out);
	if (app.opts.interval_s || app.opts.report) {
		app.report = report_new(app.opts.by);
		if (!app.report) {
			fprintf(stderr, "hstrace: out of memory\n");
			goto cleanup;
		}
	}

	copts.emit = emit_timeline;
	copts.ctx = &app;
	copts.lib_describe = describe_lib;
	copts.lib_ctx = &app;
	copts.mono_to_wall_ns = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	app.coll = collector_new(&copts);
	if (!app.coll) {
		fprintf(stderr, "hstrace: out of memory\n");
		goto cleanup;
	}

	topts.btf_path = app.opts.btf_path;
	topts.ringbuf_bytes = app.opts.ringbuf_kb * 1024;
	topts.verbose = app.opts.verbose;
	/* For tests: behave as on a kernel without the socket-call tracepoints (Linux < 6.3). */
	topts.no_socket_calls = getenv("HSTRACE_NO_SOCKET_CALLS") != NULL;
	topts.ssl_calls = app.opts.ssl_calls && !app.opts.no_uprobes;
	topts.on_record = on_record;
	topts.ctx = &app;
	if (tracer_open(&tracer, &topts))
		goto cleanup;
	if (!app.opts.no_uprobes && start_uprobes(&app, tracer)) {
		fprintf(stderr, "hstrace: out of memory\n");
		goto cleanup;
	}

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!app.opts.json && !app.opts.timeline && !app.report) {
		render_text_header(app.out);
		fflush(app.out);
	}
	if (!tracer_socket_calls(tracer))
		fprintf(stderr, "hstrace: no socket-call tracepoints (Linux < 6.3): application "
				"read/write times (app_us) are not known\n");
	if (app.opts.no_uprobes)
		fprintf(stderr, "Tracing TCP and TLS connections (kernel only)... Hit Ctrl-C to "
				"end.\n");
	else
		fprintf(stderr, "Tracing TCP and TLS connections (OpenSSL probed in %u "
				"%s)... Hit Ctrl-C to end.\n", ssl_probes_count(app.probes),
			ssl_probes_count(app.probes) == 1 ? "library" : "libraries");

	start_ns = clock_ns(CLOCK_MONOTONIC);
	last_report_ns = start_ns;
	app.report_start_wall = (int64_t)clock_ns(CLOCK_REALTIME);
	while (!stop_requested) {
		/* A full batch of emissions means more may be due: read the ring buffer again
		 * without sleeping, then emit the next batch. */
		err = tracer_poll(tracer, flushed == FLUSH_BATCH ? 0 : poll_timeout_ms(&app));
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "hstrace: reading the ring buffer failed: %s\n",
				strerror(-err));
			goto cleanup;
		}
		flushed = collector_flush_max(app.coll, clock_ns(CLOCK_MONOTONIC), FLUSH_BATCH);
		if (app.shown != shown_written) {
			fflush(app.out); /* live output: at most one poll period (100 ms) late */
			shown_written = app.shown;
		}
		ssl_probes_tick(app.probes, clock_ns(CLOCK_MONOTONIC));
		lost = tracer_lost(tracer);
		if (lost != lost_reported) {
			fprintf(stderr, "hstrace: %llu records lost so far (ring buffer full)\n",
				(unsigned long long)lost);
			lost_reported = lost;
		}
		interval_ns = app.opts.interval_s * 1000000000ULL;
		if (interval_ns && clock_ns(CLOCK_MONOTONIC) - last_report_ns >= interval_ns) {
			print_report(&app, false);
			last_report_ns += interval_ns;
		}
		if (app.opts.duration_s &&
		    clock_ns(CLOCK_MONOTONIC) - start_ns >= app.opts.duration_s * 1000000000ULL)
			break;
	}

	tracer_drain(tracer);
	collector_finish(app.coll);
	if (app.report)
		print_report(&app, true);
	print_summary(&app, tracer_lost(tracer));
	ret = 0;
cleanup:
	ssl_probes_free(app.probes);
	tracer_close(tracer);
	collector_free(app.coll);
	report_free(app.report);
	if (app.out && app.out != stdout && fclose(app.out) && !ret) {
		fprintf(stderr, "hstrace: writing %s failed: %s\n", app.opts.output, strerror(errno));
		ret = 1;
	}
	return ret;
}
