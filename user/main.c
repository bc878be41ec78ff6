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
#include <unistd.h>

#include <json-c/json.h>
#include <linux/types.h>

#include "cli.h"
#include "collector.h"
#include "hstrace.h"
#include "output_file.h"
#include "render.h"
#include "render_timeline.h"
#include "report.h"
#include "metrics_http.h"
#include "otlp_export.h"
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
	struct metrics *metrics;   /* --metrics: counts what the output shows; NULL without */
	struct metrics_http *metrics_http;
	struct otlp_exporter *otlp; /* --otlp: exports what the output shows; NULL without */
	uint32_t self_pid;	    /* hstrace's own connections (OTLP requests) are not shown */
	uint64_t max_pass_ns;	    /* longest time between two reads of the ring buffer */
};

/* Connections emitted at most between two reads of the ring buffer: when thousands close at
 * once, rendering them all before reading again would let the ring buffer overflow. */
#define FLUSH_BATCH 256

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested; /* SIGHUP with -o: the main loop reopens it */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void on_hup(int sig)
{
	(void)sig;
	reopen_requested = 1;
}

/* After SIGHUP (logrotate): reopens -o FILE between two records, so each record is whole in
 * one file. On failure hstrace keeps writing to the file it had open. */
static void reopen_output(struct app *app)
{
	int err;

	reopen_requested = 0;
	err = output_file_reopen(app->opts.output, app->opts.output_mode, &app->out);
	if (err)
		fprintf(stderr, "hstrace: cannot reopen %s: %s; still writing to the file open "
				"before\n", app->opts.output,
			err == -ELOOP ? "it is a symbolic link" : strerror(-err));
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
	if (app->otlp && tl->pid == app->self_pid)
		return; /* the exporter's own requests: exporting them would feed on itself */
	if (!app->report && app->opts.slow &&
	    !timeline_slow_or_failed(tl, app->opts.slow_ms * 1000000ULL))
		return;
	/* Shown: the metrics and the OTLP export count exactly what the output shows. */
	app->shown++;
	if (app->metrics)
		metrics_observe_timeline(app->metrics, tl); /* -ENOMEM: a series missing */
	if (app->otlp)
		otlp_exporter_add(app->otlp, tl); /* never blocks; a full queue counts */
	if (app->report) {
		if (report_add_timeline(app->report, tl))
			app->report_oom = true;
		return;
	}
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
	FILE *out = stdout;
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
	co.html = ro.html;
	co.waterfalls = ro.waterfalls;
	if (ro.output) {
		ret = output_file_open(ro.output, OUTPUT_FILE_MODE, true, &out);
		if (ret) {
			fprintf(stderr, "hstrace: cannot open %s: %s\n", ro.output, strerror(-ret));
			free(args);
			return 1;
		}
	}
	if (ro.join) {
		struct report_join_opts jo = { .paths = ro.paths, .n_paths = ro.n_paths,
					       .by = ro.by, .top = ro.top, .json = ro.json,
					       .timeline = ro.timeline };

		ret = report_join_run(&jo, out, stderr);
	} else {
		ret = report_cmd_run(&co, out, stderr);
	}
	if (out != stdout && output_file_close(out) && !ret) {
		fprintf(stderr, "hstrace: writing %s failed: %s\n", ro.output, strerror(errno));
		ret = 1;
	}
	free(args);
	return ret;
}

static void on_lost_close(uint64_t cookie, uint64_t ts_ns, void *ctx)
{
	collector_lost_close(ctx, cookie, ts_ns); /* counted by the collector whatever it returns */
}

/* Lost CLOSED records (tracer_take_lost_closes()): the notes kept from earlier passes, then the
 * new ones. */
static void take_lost_closes(struct tracer *tracer, struct collector *coll)
{
	collector_retry_lost_closes(coll);
	tracer_take_lost_closes(tracer, on_lost_close, coll);
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
	int err;

	app->probes = ssl_probes_new(tracer, app->opts.verbose, app->opts.ssl_calls);
	if (!app->probes)
		return -ENOMEM;
	for (i = 0; i < app->opts.n_ssl_libs; i++)
		ssl_probes_add_path(app->probes, app->opts.ssl_libs[i]); /* reported, not fatal */
	ssl_probes_scan_all(app->probes);
	err = ssl_probes_start(app->probes);
	if (err)
		fprintf(stderr, "hstrace: cannot start the library scanner: %s; libraries mapped "
			"later are not probed\n", strerror(-err));
	return 0;
}

/* How long the main loop may wait for records (output is flushed once a pass); the ring
 * buffer wakes it earlier. Library scans run on their own thread (ssl_probes.h). */
#define POLL_TIMEOUT_MS 100

/* --metrics and --otlp: the Summary line's record counters, as they are now (lost: the ring
 * buffer's count the caller read), and for --metrics the OTLP exporter's counters. */
static void update_records(struct app *app, uint64_t lost)
{
	struct collector_stats st;
	struct otlp_export_stats ost;

	if (!app->metrics && !app->otlp)
		return;
	collector_get_stats(app->coll, &st);
	if (app->otlp)
		otlp_exporter_set_records(app->otlp, lost, st.unmatched, st.dropped, st.malformed);
	if (!app->metrics)
		return;
	metrics_set_records(app->metrics, lost, st.unmatched, st.dropped, st.malformed);
	if (app->otlp) {
		otlp_exporter_get_stats(app->otlp, &ost);
		metrics_set_otlp(app->metrics, ost.exported, ost.dropped);
	}
}

/* --metrics: builds the registry and starts serving it. Returns 0, or 1 (reported). */
static int start_metrics(struct app *app)
{
	struct metrics_opts mo = { .by = app->opts.metrics_by, .version = HSTRACE_VERSION };
	const struct metrics_listen *l = &app->opts.metrics_listen;
	char url[128];
	int err;

	app->metrics = metrics_new(&mo);
	if (!app->metrics) {
		fprintf(stderr, "hstrace: out of memory\n");
		return 1;
	}
	err = metrics_http_start(app->metrics, l, &app->metrics_http);
	if (err) {
		fprintf(stderr, "hstrace: cannot serve metrics on %s%s%s:%u: %s\n",
			l->family == AF_INET6 ? "[" : "", l->addr_text,
			l->family == AF_INET6 ? "]" : "", l->port, strerror(-err));
		return 1;
	}
	metrics_http_url(app->metrics_http, url, sizeof(url));
	/* with port 0 this line is the only way to learn the port: printed even with --quiet */
	if (!app->opts.quiet || !l->port)
		fprintf(stderr, "hstrace: metrics on %s\n", url);
	return 0;
}

/* --otlp: starts the exporter thread. Returns 0, or 1 (reported). */
static int start_otlp(struct app *app)
{
	struct otlp_export_opts oo = { .url = app->opts.otlp_url,
				       .queue_max = app->opts.otlp_queue,
				       .metrics = { .by = app->opts.metrics_by,
						    .version = HSTRACE_VERSION } };
	int err;

	app->self_pid = (uint32_t)getpid();
	err = otlp_exporter_start(&oo, &app->otlp);
	if (err) {
		fprintf(stderr, "hstrace: cannot start the OTLP export to %s: %s\n",
			app->opts.otlp_url, strerror(-err));
		return 1;
	}
	return 0;
}

static void print_summary(struct app *app, uint64_t lost)
{
	struct collector_stats st;
	struct otlp_export_stats ost = {};
	char otlp[128] = "";

	collector_get_stats(app->coll, &st);
	if (app->otlp) {
		otlp_exporter_get_stats(app->otlp, &ost);
		snprintf(otlp, sizeof(otlp), " otlp_exported=%llu otlp_dropped=%llu otlp_retries=%llu",
			 (unsigned long long)ost.exported, (unsigned long long)ost.dropped,
			 (unsigned long long)ost.retries);
	}
	if (!app->opts.quiet)
		fprintf(stderr,
		"Summary: connections=%llu shown=%llu events=%llu lost=%llu unmatched=%llu "
		"malformed=%llu incomplete=%llu evicted=%llu dropped=%llu closes_lost=%llu%s\n",
		(unsigned long long)st.conns, (unsigned long long)app->shown,
		(unsigned long long)st.events, (unsigned long long)lost,
		(unsigned long long)st.unmatched, (unsigned long long)st.malformed,
		(unsigned long long)st.incomplete, (unsigned long long)st.evicted,
		(unsigned long long)st.dropped, (unsigned long long)st.closes_lost, otlp);
	if (app->opts.verbose) {
		uint64_t scans, scan_ns;

		ssl_probes_scan_stats(app->probes, &scans, &scan_ns);
		fprintf(stderr, "hstrace: records read %llu (tcp %llu, tls %llu, io %llu, ssl %llu; "
			"%llu batches, %llu later departure times); longest pass between two "
			"ring-buffer reads %.3f ms; library rescans (own thread) %llu, longest "
			"%.3f ms\n",
			(unsigned long long)st.records, (unsigned long long)st.by_kind[HS_REC_TCP],
			(unsigned long long)st.by_kind[HS_REC_TLS],
			(unsigned long long)st.by_kind[HS_REC_IO],
			(unsigned long long)st.by_kind[HS_REC_SSL], (unsigned long long)st.batches,
			(unsigned long long)st.by_kind[HS_REC_SENT], app->max_pass_ns / 1e6,
			(unsigned long long)scans, scan_ns / 1e6);
	}
	if (ost.dropped)
		fprintf(stderr, "hstrace: %llu connections were not exported over OTLP (queue full: "
				"%llu, refused by the receiver: %llu, unsent at exit: %llu)\n",
			(unsigned long long)ost.dropped, (unsigned long long)ost.dropped_full,
			(unsigned long long)ost.rejected, (unsigned long long)ost.unsent);
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
	uint64_t last_report_ns, interval_ns, pass_start_ns = 0;
	uint64_t shown_written = 0;
	size_t flushed = 0;
	int err, ret = 1;

	if (argc > 1 && !strcmp(argv[1], "report"))
		return report_main(argc - 1, argv + 1);
	cli_parse(argc, argv, &app.opts);
	app.tview.color = false;

	app.out = stdout;
	if (app.opts.output) {
		err = output_file_open(app.opts.output, app.opts.output_mode, true, &app.out);
		if (err) {
			fprintf(stderr, "hstrace: cannot open %s: %s\n", app.opts.output,
				err == -ELOOP ? "it is a symbolic link (refused: -o never follows "
						"one)" : strerror(-err));
			return 1;
		}
	} else if (!isatty(STDOUT_FILENO)) {
		/* A file or a pipe: written in blocks as -o is (output_file.h), not in stdio's
		 * 4 KiB ones; flushed once per pass all the same. */
		static char stdout_buf[OUTPUT_FILE_BUF_SIZE];

		setvbuf(stdout, stdout_buf, _IOFBF, sizeof(stdout_buf));
	}
	/* With -o, SIGHUP reopens the file (log rotation); without, it ends the run as SIGTERM
	 * does (the terminal went away). */
	sa.sa_handler = app.opts.output ? on_hup : on_signal;
	sa.sa_flags = SA_RESTART; /* a write to a pipe is not cut short; epoll_wait still wakes */
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_flags = 0;

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
	if (app.opts.metrics && start_metrics(&app))
		goto cleanup;
	if (app.opts.otlp_url && start_otlp(&app))
		goto cleanup;
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
	if (app.opts.quiet)
		; /* --quiet: no start-up line */
	else if (app.opts.no_uprobes)
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
		/* The time between two reads of the ring buffer spent on other work: what a
		 * record may wait on top of the poll period (-v prints the longest). */
		if (pass_start_ns && clock_ns(CLOCK_MONOTONIC) - pass_start_ns > app.max_pass_ns)
			app.max_pass_ns = clock_ns(CLOCK_MONOTONIC) - pass_start_ns;
		/* A full batch of emissions means more may be due: read the ring buffer again
		 * without sleeping, then emit the next batch. */
		err = tracer_poll(tracer, flushed == FLUSH_BATCH ? 0 : POLL_TIMEOUT_MS);
		pass_start_ns = clock_ns(CLOCK_MONOTONIC);
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
		if (reopen_requested)
			reopen_output(&app);
		lost = tracer_lost(tracer);
		/* Connections whose CLOSED record was lost would stay open until the end. */
		if (lost)
			take_lost_closes(tracer, app.coll);
		update_records(&app, lost);
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
	if (tracer_lost(tracer)) {
		take_lost_closes(tracer, app.coll);
		tracer_drain(tracer);
		take_lost_closes(tracer, app.coll); /* notes read before their records */
	}
	collector_finish(app.coll);
	if (app.report)
		print_report(&app, true);
	/* The final counts, read once: the last OTLP metrics and the Summary line agree. */
	lost = tracer_lost(tracer);
	update_records(&app, lost);
	if (app.otlp) {
		fflush(app.out);
		otlp_exporter_stop(app.otlp); /* sends what is left: 5 s at most */
		update_records(&app, lost);   /* the exporter's final counters, for --metrics */
	}
	print_summary(&app, lost);
	ret = 0;
cleanup:
	ssl_probes_free(app.probes);
	tracer_close(tracer);
	collector_free(app.coll);
	report_free(app.report);
	metrics_http_stop(app.metrics_http);
	metrics_free(app.metrics);
	otlp_exporter_free(app.otlp);
	if (app.out && app.out != stdout && output_file_close(app.out) && !ret) {
		fprintf(stderr, "hstrace: writing %s failed: %s\n", app.opts.output, strerror(errno));
		ret = 1;
	}
	return ret;
}
