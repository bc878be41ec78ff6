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

#include "cli.h"
#include "collector.h"
#include "render.h"
#include "tracer.h"

struct app {
	struct cli_opts opts;
	struct collector *coll;
	FILE *out;
	uint64_t shown;
};

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
	app->shown++;
	if (app->opts.json)
		render_json_line(app->out, tl);
	else
		render_text_line(app->out, tl);
	fflush(app->out);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct app *app = ctx;

	/* Malformed or unmatched records are counted by the collector, never fatal. */
	collector_handle(app->coll, data, size);
	return 0;
}

static void print_summary(struct app *app, uint64_t lost)
{
	struct collector_stats st;

	collector_get_stats(app->coll, &st);
	fprintf(stderr,
		"Summary: connections=%llu shown=%llu events=%llu lost=%llu unmatched=%llu "
		"malformed=%llu incomplete=%llu evicted=%llu\n",
		(unsigned long long)st.conns, (unsigned long long)app->shown,
		(unsigned long long)st.events, (unsigned long long)lost,
		(unsigned long long)st.unmatched, (unsigned long long)st.malformed,
		(unsigned long long)st.incomplete, (unsigned long long)st.evicted);
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
	int err, ret = 1;

	cli_parse(argc, argv, &app.opts);

	app.out = stdout;
	if (app.opts.output) {
		app.out = fopen(app.opts.output, "w");
		if (!app.out) {
			fprintf(stderr, "hstrace: cannot open %s: %s\n", app.opts.output,
				strerror(errno));
			return 1;
		}
	}

	copts.emit = emit_timeline;
	copts.ctx = &app;
	copts.mono_to_wall_ns = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	app.coll = collector_new(&copts);
	if (!app.coll) {
		fprintf(stderr, "hstrace: out of memory\n");
		goto cleanup;
	}

	topts.btf_path = app.opts.btf_path;
	topts.ringbuf_bytes = app.opts.ringbuf_kb * 1024;
	topts.verbose = app.opts.verbose;
	topts.on_record = on_record;
	topts.ctx = &app;
	if (tracer_open(&tracer, &topts))
		goto cleanup;

	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (!app.opts.json) {
		render_text_header(app.out);
		fflush(app.out);
	}
	fprintf(stderr, "Tracing TCP and TLS connections... Hit Ctrl-C to end.\n");

	start_ns = clock_ns(CLOCK_MONOTONIC);
	while (!stop_requested) {
		err = tracer_poll(tracer, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "hstrace: reading the ring buffer failed: %s\n",
				strerror(-err));
			goto cleanup;
		}
		collector_flush(app.coll, clock_ns(CLOCK_MONOTONIC));
		lost = tracer_lost(tracer);
		if (lost != lost_reported) {
			fprintf(stderr, "hstrace: %llu records lost so far (ring buffer full)\n",
				(unsigned long long)lost);
			lost_reported = lost;
		}
		if (app.opts.duration_s &&
		    clock_ns(CLOCK_MONOTONIC) - start_ns >= app.opts.duration_s * 1000000000ULL)
			break;
	}

	tracer_drain(tracer);
	collector_finish(app.coll);
	print_summary(&app, tracer_lost(tracer));
	ret = 0;
cleanup:
	tracer_close(tracer);
	collector_free(app.coll);
	if (app.out && app.out != stdout && fclose(app.out) && !ret) {
		fprintf(stderr, "hstrace: writing %s failed: %s\n", app.opts.output, strerror(errno));
		ret = 1;
	}
	return ret;
}
