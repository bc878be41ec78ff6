/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cli.h - hstrace's command line.
 */
#ifndef HSTRACE_CLI_H
#define HSTRACE_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "color.h"
#include "filter.h"
#include "metrics.h"
#include "report.h"

#define CLI_MAX_SSL_LIBS 16
#define HSTRACE_VERSION "0.1" /* --version, hstrace_build_info */

struct cli_opts {
	struct conn_filter filter;
	bool json;		 /* NDJSON instead of the one-line view */
	const char *output;	 /* NULL: stdout */
	unsigned int output_mode; /* permissions of a file -o creates (default 0600) */
	bool output_mode_set;	 /* --output-mode given */
	bool quiet;		 /* --quiet: no start-up or summary lines on stderr */
	unsigned int duration_s; /* 0: until Ctrl-C / SIGTERM */
	bool verbose;
	const char *btf_path;	 /* NULL: the kernel's own BTF */
	size_t ringbuf_kb;	 /* ring buffer size in KiB */
	bool no_uprobes;	 /* --no-uprobes: kernel observation only */
	bool ssl_calls;		 /* --ssl-calls: probe SSL_do_handshake() too */
	const char *ssl_libs[CLI_MAX_SSL_LIBS]; /* --ssl-lib PATH, repeatable */
	unsigned int n_ssl_libs;

	bool timeline;		 /* --timeline: waterfall view */
	enum color_mode color;	 /* --color */
	bool slow;		 /* --slow MS given */
	uint64_t slow_ms;	 /* show only failed connections and those slower than this */
	unsigned int interval_s; /* -i SEC: a report every SEC seconds (0: none) */
	bool report;		 /* --report: only the final report */
	enum report_by by;	 /* --by */
	size_t top;		 /* --top N groups shown */
	bool top_set;

	bool metrics;		 /* --metrics [ADDR:]PORT given: serve Prometheus metrics */
	struct metrics_listen metrics_listen;
	enum metrics_by metrics_by; /* --metrics-by: one more label */

	const char *otlp_url;	 /* --otlp URL: OTLP/HTTP export (docs/otlp.md); NULL: none */
	size_t otlp_queue;	 /* --otlp-queue N: connections waiting at most (0: default) */
};

/* `hstrace report [--by KEY] [--top N] [--json | --html [--waterfalls N]] [-o OUT] FILE` */
struct report_cli_opts {
	const char *path;
	enum report_by by;
	size_t top;
	bool json;
	bool html;	     /* --html: one self-contained page */
	size_t waterfalls;   /* --waterfalls N: connections drawn (slowest, failed) */
	bool waterfalls_set;
	const char *output;  /* -o FILE; NULL: stdout */
	bool join;	 /* --join: pair the ends of connections across FILEs by conn_id */
	bool timeline;	 /* --timeline (with --join): the slowest pairs on one time axis */
	char **paths;	 /* --join: every FILE (argv entries) */
	size_t n_paths;
};

/* Parses argv into *o (defaults first). Wrong flags or values print the usage and exit with
 * status 2; --help prints the help and exits 0. */
void cli_parse(int argc, char **argv, struct cli_opts *o);

/* Parses the arguments of `hstrace report` (argv[0] is "report"), as cli_parse() does. */
void cli_parse_report(int argc, char **argv, struct report_cli_opts *o);

#endif /* HSTRACE_CLI_H */
