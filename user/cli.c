// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "otlp_export.h"
#include "output_file.h"
#include "report_html.h"

#include <stdarg.h>
#include <stdio.h>

static const char doc[] =
	"Trace TCP and TLS connection set-up for every process, from the kernel.\n\n"
	"One line (or one --json object) per finished connection: who owns it, both ends, the "
	"TLS version and server name, how long the TCP handshake, the wait for accept(), the TLS "
	"handshake and the first response took, and how it ended. By default only connections "
	"that carried TLS, and failed connects, are shown.\v"
	"EXAMPLES:\n"
	"    hstrace                  # TLS connections and failed connects\n"
	"    hstrace --all            # every TCP connection\n"
	"    hstrace --json -o c.ndjson --duration 60   # NDJSON to a file for a minute\n"
	"    hstrace -p 1234          # only connections owned by PID 1234\n"
	"    hstrace --comm nginx     # only connections owned by a process named nginx\n"
	"    hstrace --port 443 -6    # only IPv6 connections with 443 at either end\n"
	"    hstrace --timeline --slow 200  # waterfalls: failed, or over 200 ms\n"
	"    hstrace -i 10 --by sni   # per-phase report every 10 s, by server name\n"
	"    hstrace --report -d 60   # one report after a minute\n"
	"    hstrace report c.ndjson  # report of a --json file (report --help)\n"
	"    hstrace --metrics 9464   # Prometheus metrics on 127.0.0.1:9464/metrics\n"
	"    hstrace --otlp http://127.0.0.1:4318  # OTLP traces and metrics\n";

enum {
	OPT_COMM = 0x100,
	OPT_PORT,
	OPT_BTF,
	OPT_RINGBUF,
	OPT_USAGE,
	OPT_VERSION,
	OPT_ALL,
	OPT_NO_UPROBES,
	OPT_SSL_CALLS,
	OPT_SSL_LIB,
	OPT_TIMELINE,
	OPT_COLOR,
	OPT_SLOW,
	OPT_REPORT,
	OPT_BY,
	OPT_TOP,
	OPT_OUTPUT_MODE,
	OPT_METRICS,
	OPT_METRICS_BY,
	OPT_OTLP,
	OPT_OTLP_QUEUE,
	OPT_JOIN,
	OPT_HTML,
	OPT_WATERFALLS,
};

static const struct argp_option options[] = {
	{ "pid", 'p', "PID", 0, "Only connections owned by this process", 0 },
	{ "comm", OPT_COMM, "NAME", 0, "Only connections owned by a process with this name", 0 },
	{ "port", OPT_PORT, "PORT", 0, "Only connections with this port at either end", 0 },
	{ "ipv4", '4', NULL, 0, "Only IPv4 (including IPv4 on dual-stack sockets)", 0 },
	{ "ipv6", '6', NULL, 0, "Only IPv6", 0 },
	{ "no-uprobes", OPT_NO_UPROBES, NULL, 0,
	  "Kernel observation only: no OpenSSL uprobes (cert_verify, tls_api)", 0 },
	{ "ssl-calls", OPT_SSL_CALLS, NULL, 0,
	  "Also probe SSL_do_handshake() (tls_api, handshake_start/done): 2 more uprobe hits per "
	  "handshake and end", 0 },
	{ "ssl-lib", OPT_SSL_LIB, "PATH", 0,
	  "Also probe this libssl/libcrypto or statically linked executable (repeatable)", 0 },
	{ "all", OPT_ALL, NULL, 0,
	  "Show every TCP connection (default: those that carried TLS, and failed connects)", 0 },
	{ "json", 'j', NULL, 0, "NDJSON output, one object per connection (docs/json.md)", 0 },
	{ "output", 'o', "FILE", 0,
	  "Write output to FILE instead of stdout: created with mode 0600, never through a "
	  "symlink; reopened on SIGHUP (log rotation)", 0 },
	{ "output-mode", OPT_OUTPUT_MODE, "MODE", 0,
	  "Octal permissions of a file -o creates (default 0600)", 0 },
	{ "quiet", 'q', NULL, 0, "No start-up or summary lines on stderr (errors and warnings "
	  "still)", 0 },
	{ "duration", 'd', "SEC", 0, "Stop after SEC seconds", 0 },
	{ "btf", OPT_BTF, "FILE", 0, "Kernel BTF to use instead of /sys/kernel/btf/vmlinux", 0 },
	{ "ringbuf-kb", OPT_RINGBUF, "KB", 0,
	  "Ring buffer size in KiB, a power of two (default 4096)", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf debug output", 0 },
	{ "timeline", OPT_TIMELINE, NULL, 0,
	  "Show each connection as a waterfall of its events and phases", 1 },
	{ "color", OPT_COLOR, "WHEN", 0,
	  "Colour the timeline: auto (a terminal), always, never", 1 },
	{ "slow", OPT_SLOW, "MS", 0,
	  "Show only failed connections and those whose total or tls_handshake phase took "
	  "more than MS milliseconds", 1 },
	{ "interval", 'i', "SEC", 0,
	  "Print a per-phase report every SEC seconds (and one at exit), not connections", 2 },
	{ "report", OPT_REPORT, NULL, 0, "Print only one report, at exit", 2 },
	{ "by", OPT_BY, "KEY", 0, "Group report rows by sni, peer, comm, role or port", 2 },
	{ "top", OPT_TOP, "N", 0, "Show at most N groups, the rest summed (default 10)", 2 },
	{ "metrics", OPT_METRICS, "[ADDR:]PORT", 0,
	  "Also serve Prometheus metrics of the connections shown on http://ADDR:PORT/metrics "
	  "(ADDR default 127.0.0.1; 0.0.0.0 or [::] for every interface; PORT 0: any free "
	  "port, printed at start). See docs/metrics.md", 3 },
	{ "metrics-by", OPT_METRICS_BY, "KEY", 0,
	  "Add one label to the connection and phase metrics (--metrics, --otlp): sni "
	  "(server_name), comm or port; at most 100 distinct values, the rest \"other\"", 3 },
	{ "otlp", OPT_OTLP, "URL", 0,
	  "Also export the connections shown as OpenTelemetry traces and metrics (OTLP/HTTP "
	  "protobuf) to URL/v1/traces and URL/v1/metrics, e.g. http://127.0.0.1:4318. See "
	  "docs/otlp.md", 3 },
	{ "otlp-queue", OPT_OTLP_QUEUE, "N", 0,
	  "Connections waiting for export at most (default 2048); beyond, they are dropped "
	  "and counted", 3 },
	{ "help", 'h', NULL, 0, "Show this help", -1 },
	{ "usage", OPT_USAGE, NULL, 0, "Show a short usage message", -1 },
	{ "version", OPT_VERSION, NULL, 0, "Show the version", -1 },
	{},
};

/* Strict unsigned parse: the whole string, decimal, within [min, max]. */
static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The kernel's pid_max: every PID is below it (PID_MAX_LIMIT, 4194304, when unreadable). */
static unsigned long kernel_pid_max(void)
{
	unsigned long v = 0;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v > 1 ? v : 4194304UL;
}

/* Prints "hstrace: <message>" and the usage line, then exits with status 2. */
static void __attribute__((format(printf, 2, 3), noreturn))
usage_error(struct argp_state *state, const char *fmt, ...)
{
	va_list ap;

	fputs("hstrace: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	argp_state_help(state, stderr, ARGP_HELP_USAGE | ARGP_HELP_SEE);
	exit(2);
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli_opts *o = state->input;
	unsigned long v;
	mode_t mode;

	switch (key) {
	case 'p':
		if (parse_ulong(arg, 1, INT_MAX, &v))
			usage_error(state, "invalid PID: %s", arg);
		if (v >= kernel_pid_max())
			usage_error(state, "invalid PID: %s is not below the kernel's pid_max (%lu, "
				    "/proc/sys/kernel/pid_max)", arg, kernel_pid_max());
		o->filter.pid = v;
		break;
	case OPT_COMM:
		if (!*arg || strlen(arg) >= sizeof(o->filter.comm))
			usage_error(state, "invalid process name (1 to 15 characters): %s", arg);
		strcpy(o->filter.comm, arg);
		break;
	case OPT_PORT:
		if (parse_ulong(arg, 1, 65535, &v))
			usage_error(state, "invalid port (1-65535): %s", arg);
		o->filter.port = v;
		break;
	case '4':
	case '6':
		if (o->filter.ip_version && o->filter.ip_version != (key == '4' ? 4 : 6))
			usage_error(state, "-4 and -6 exclude each other");
		o->filter.ip_version = key == '4' ? 4 : 6;
		break;
	case OPT_NO_UPROBES:
		o->no_uprobes = true;
		break;
	case OPT_SSL_CALLS:
		o->ssl_calls = true;
		break;
	case OPT_SSL_LIB:
		if (!*arg)
			usage_error(state, "empty --ssl-lib path");
		if (o->n_ssl_libs >= CLI_MAX_SSL_LIBS)
			usage_error(state, "at most %d --ssl-lib options", CLI_MAX_SSL_LIBS);
		o->ssl_libs[o->n_ssl_libs++] = arg;
		break;
	case OPT_ALL:
		o->filter.all = true;
		break;
	case 'j':
		o->json = true;
		break;
	case 'o':
		if (!*arg)
			usage_error(state, "empty output file name");
		o->output = arg;
		break;
	case OPT_OUTPUT_MODE:
		if (output_file_parse_mode(arg, &mode))
			usage_error(state, "invalid --output-mode (octal, 0-0777): %s", arg);
		o->output_mode = mode;
		o->output_mode_set = true;
		break;
	case 'q':
		o->quiet = true;
		break;
	case 'd':
		if (parse_ulong(arg, 1, 365UL * 24 * 3600, &v))
			usage_error(state, "invalid duration in seconds: %s", arg);
		o->duration_s = v;
		break;
	case OPT_BTF:
		o->btf_path = arg;
		break;
	case OPT_RINGBUF:
		if (parse_ulong(arg, 4, 1UL << 20, &v) || (v & (v - 1)))
			usage_error(state, "invalid ring buffer size (a power of two, 4-1048576 KiB): %s",
				   arg);
		o->ringbuf_kb = v;
		break;
	case 'v':
		o->verbose = true;
		break;
	case OPT_TIMELINE:
		o->timeline = true;
		break;
	case OPT_COLOR:
		if (color_mode_parse(arg, &o->color))
			usage_error(state, "invalid --color (auto, always or never): %s", arg);
		break;
	case OPT_SLOW:
		if (parse_ulong(arg, 0, 1000000000UL, &v))
			usage_error(state, "invalid --slow milliseconds: %s", arg);
		o->slow = true;
		o->slow_ms = v;
		break;
	case 'i':
		if (parse_ulong(arg, 1, 86400, &v))
			usage_error(state, "invalid interval in seconds (1-86400): %s", arg);
		o->interval_s = v;
		break;
	case OPT_REPORT:
		o->report = true;
		break;
	case OPT_BY:
		if (report_by_parse(arg, &o->by))
			usage_error(state, "invalid --by (sni, peer, comm, role or port): %s", arg);
		break;
	case OPT_TOP:
		if (parse_ulong(arg, 1, 100000, &v))
			usage_error(state, "invalid --top (1-100000): %s", arg);
		o->top = v;
		o->top_set = true;
		break;
	case OPT_METRICS:
		if (metrics_listen_parse(arg, &o->metrics_listen))
			usage_error(state, "invalid --metrics (PORT, IPv4:PORT or [IPv6]:PORT, "
				    "numeric address, port 0-65535): %s", arg);
		o->metrics = true;
		break;
	case OPT_METRICS_BY:
		if (metrics_by_parse(arg, &o->metrics_by))
			usage_error(state, "invalid --metrics-by (sni, comm or port): %s", arg);
		break;
	case OPT_OTLP:
		if (otlp_url_check(arg))
			usage_error(state, "invalid --otlp URL (http:// or https://, a host, an "
				    "optional port and path): %s", arg);
		o->otlp_url = arg;
		break;
	case OPT_OTLP_QUEUE:
		if (parse_ulong(arg, 1, 1000000, &v))
			usage_error(state, "invalid --otlp-queue (1-1000000): %s", arg);
		o->otlp_queue = v;
		break;
	case ARGP_KEY_END:
		if (o->otlp_queue && !o->otlp_url)
			usage_error(state, "--otlp-queue needs --otlp URL");
		if (o->interval_s && o->report)
			usage_error(state, "-i and --report exclude each other");
		if (o->timeline && o->json)
			usage_error(state, "--timeline and --json exclude each other");
		if (o->timeline && (o->interval_s || o->report))
			usage_error(state,
				    "--timeline shows connections; -i and --report show reports");
		if (o->slow && (o->interval_s || o->report))
			usage_error(state,
				    "--slow selects connections to show; reports count them all");
		if ((o->by || o->top_set) && !o->interval_s && !o->report)
			usage_error(state, "--by and --top need -i SEC or --report");
		if (o->metrics_by && !o->metrics && !o->otlp_url)
			usage_error(state, "--metrics-by needs --metrics [ADDR:]PORT or --otlp URL");
		if (o->output_mode_set && !o->output)
			usage_error(state, "--output-mode needs -o FILE");
		break;
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		exit(0);
	case OPT_USAGE:
		argp_state_help(state, stdout, ARGP_HELP_USAGE);
		exit(0);
	case OPT_VERSION:
		printf("hstrace %s\n", HSTRACE_VERSION);
		exit(0);
	case ARGP_KEY_ERROR:
		/* An unknown option: getopt has named it. */
		argp_state_help(state, stderr, ARGP_HELP_USAGE);
		exit(2);
	case ARGP_KEY_ARG:
		usage_error(state, "unexpected argument: %s", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

void cli_parse(int argc, char **argv, struct cli_opts *o)
{
	static const struct argp argp = {
		.options = options,
		.parser = parse_opt,
		.doc = doc,
	};

	memset(o, 0, sizeof(*o));
	o->ringbuf_kb = 4096;
	o->top = REPORT_DEFAULT_TOP;
	o->output_mode = OUTPUT_FILE_MODE;
	argp_err_exit_status = 2;
	/* Own --help/--usage/--version and no implicit exits, so that every usage error prints
	 * the usage line and exits with status 2. */
	if (argp_parse(&argp, argc, argv, ARGP_NO_EXIT | ARGP_NO_HELP, NULL, o))
		exit(2);
}

/* ---- hstrace report ---- */

static const char report_doc[] =
	"Per-phase timing report of connections recorded with `hstrace --json`.\n\n"
	"FILE is NDJSON as --json writes it, plain or gzip-compressed; - reads standard input. "
	"Per phase: count, min, p50, p90, p99, max and a log2 histogram; results and TLS alerts; "
	"with --by, the same per group for the N groups with most connections (the rest summed). "
	"Lines that are not hstrace records are counted and skipped; a file with lines but no "
	"record is an error (exit status 1).\v"
	"EXAMPLES:\n"
	"    hstrace report conns.ndjson             # the whole file\n"
	"    hstrace report --by sni conns.ndjson.gz # one row block per server name\n"
	"    hstrace report --json - < conns.ndjson  # one JSON object (docs/report.md)\n"
	"    hstrace report --html -o report.html conns.ndjson  # one page to attach to a ticket\n"
	"    hstrace report --join client.ndjson server.ndjson  # both ends of each connection\n"
	"    hstrace report --join --timeline --top 3 a.ndjson b.ndjson\n";

static const struct argp_option report_options[] = {
	{ "by", OPT_BY, "KEY", 0, "Group rows by sni, peer, comm, role or port", 0 },
	{ "top", OPT_TOP, "N", 0, "Show at most N groups, the rest summed (default 10)", 0 },
	{ "json", 'j', NULL, 0, "One JSON object instead of text (docs/report.md)", 0 },
	{ "html", OPT_HTML, NULL, 0,
	  "One self-contained HTML page (tables, histograms, waterfalls; loads nothing)", 0 },
	{ "waterfalls", OPT_WATERFALLS, "N", 0,
	  "With --html: draw the N slowest and N failed connections (default 20, 0-1000)", 0 },
	{ "output", 'o', "FILE", 0, "Write the report to FILE (created with mode 0600, never "
	  "through a symlink) instead of stdout", 0 },
	{ "join", OPT_JOIN, NULL, 0,
	  "Pair the client and server ends of each connection by conn_id across every FILE "
	  "(one per host or one for both) and report the network's and each side's share", 0 },
	{ "timeline", OPT_TIMELINE, NULL, 0,
	  "With --join: the --top slowest pairs, both ends on one time axis", 0 },
	{ "help", 'h', NULL, 0, "Show this help", -1 },
	{ "usage", OPT_USAGE, NULL, 0, "Show a short usage message", -1 },
	{},
};

static error_t parse_report_opt(int key, char *arg, struct argp_state *state)
{
	struct report_cli_opts *o = state->input;
	unsigned long v;

	switch (key) {
	case OPT_BY:
		if (report_by_parse(arg, &o->by))
			usage_error(state, "invalid --by (sni, peer, comm, role or port): %s", arg);
		break;
	case OPT_TOP:
		if (parse_ulong(arg, 1, 100000, &v))
			usage_error(state, "invalid --top (1-100000): %s", arg);
		o->top = v;
		break;
	case 'j':
		o->json = true;
		break;
	case OPT_HTML:
		o->html = true;
		break;
	case OPT_WATERFALLS:
		if (parse_ulong(arg, 0, REPORT_HTML_MAX_WATERFALLS, &v))
			usage_error(state, "invalid --waterfalls (0-%d): %s",
				    REPORT_HTML_MAX_WATERFALLS, arg);
		o->waterfalls = v;
		o->waterfalls_set = true;
		break;
	case 'o':
		if (!*arg)
			usage_error(state, "empty output file name");
		o->output = arg;
		break;
	case OPT_JOIN:
		o->join = true;
		break;
	case OPT_TIMELINE:
		o->timeline = true;
		break;
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		exit(0);
	case OPT_USAGE:
		argp_state_help(state, stdout, ARGP_HELP_USAGE);
		exit(0);
	case ARGP_KEY_ERROR:
		argp_state_help(state, stderr, ARGP_HELP_USAGE);
		exit(2);
	case ARGP_KEY_ARG:
		if (!*arg)
			usage_error(state, "empty file name");
		if (!o->paths)
			o->paths = &state->argv[state->next - 1];
		if (o->paths + o->n_paths != &state->argv[state->next - 1])
			usage_error(state, "options must come before the FILEs (%s)", arg);
		o->n_paths++;
		o->path = o->paths[0];
		break;
	case ARGP_KEY_END:
		if (!o->path)
			usage_error(state, "FILE missing (use - for standard input)");
		if (o->n_paths > 1 && !o->join)
			usage_error(state, "one FILE only (unexpected %s); --join reads several",
				    o->paths[1]);
		if (o->timeline && !o->join)
			usage_error(state, "--timeline needs --join");
		if (o->timeline && o->json)
			usage_error(state, "--timeline and --json do not go together");
		if (o->html && (o->json || o->join))
			usage_error(state, "--html does not go with --%s", o->json ? "json" : "join");
		if (o->waterfalls_set && !o->html)
			usage_error(state, "--waterfalls needs --html");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

void cli_parse_report(int argc, char **argv, struct report_cli_opts *o)
{
	static const struct argp argp = {
		.options = report_options,
		.parser = parse_report_opt,
		.args_doc = "FILE\n--join FILE...",
		.doc = report_doc,
	};

	memset(o, 0, sizeof(*o));
	o->top = REPORT_DEFAULT_TOP;
	o->waterfalls = REPORT_HTML_DEFAULT_WATERFALLS;
	argp_err_exit_status = 2;
	if (argp_parse(&argp, argc, argv, ARGP_NO_EXIT | ARGP_NO_HELP, NULL, o))
		exit(2);
}
