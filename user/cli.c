// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#include <stdarg.h>
#include <stdio.h>

#define HSTRACE_VERSION "0.1"

static const char doc[] =
	"Trace TCP and TLS connection set-up for every process, from the kernel.\n\n"
	"One line (or one --json object) per finished connection: who owns it, both ends, the "
	"TLS version and server name, how long the TCP handshake, the wait for accept(), the TLS "
	"handshake and the first response took, and how it ended. By default only connections "
	"that carried TLS, and failed connects, are shown.\v"
	"EXAMPLES:\n"
	"    hstrace                  # TLS connections and failed connects until Ctrl-C\n"
	"    hstrace --all            # every TCP connection\n"
	"    hstrace --json -o c.ndjson --duration 60   # NDJSON to a file for a minute\n"
	"    hstrace -p 1234          # only connections owned by PID 1234\n"
	"    hstrace --comm nginx     # only connections owned by a process named nginx\n"
	"    hstrace --port 443 -6    # only IPv6 connections with 443 at either end\n";

enum {
	OPT_COMM = 0x100,
	OPT_PORT,
	OPT_BTF,
	OPT_RINGBUF,
	OPT_USAGE,
	OPT_VERSION,
	OPT_ALL,
};

static const struct argp_option options[] = {
	{ "pid", 'p', "PID", 0, "Only connections owned by this process", 0 },
	{ "comm", OPT_COMM, "NAME", 0, "Only connections owned by a process with this name", 0 },
	{ "port", OPT_PORT, "PORT", 0, "Only connections with this port at either end", 0 },
	{ "ipv4", '4', NULL, 0, "Only IPv4 (including IPv4 on dual-stack sockets)", 0 },
	{ "ipv6", '6', NULL, 0, "Only IPv6", 0 },
	{ "all", OPT_ALL, NULL, 0,
	  "Show every TCP connection (default: those that carried TLS, and failed connects)", 0 },
	{ "json", 'j', NULL, 0, "NDJSON output, one object per connection (docs/json.md)", 0 },
	{ "output", 'o', "FILE", 0, "Write output to FILE instead of stdout", 0 },
	{ "duration", 'd', "SEC", 0, "Stop after SEC seconds", 0 },
	{ "btf", OPT_BTF, "FILE", 0, "Kernel BTF to use instead of /sys/kernel/btf/vmlinux", 0 },
	{ "ringbuf-kb", OPT_RINGBUF, "KB", 0,
	  "Ring buffer size in KiB, a power of two (default 4096)", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf debug output", 0 },
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

	switch (key) {
	case 'p':
		if (parse_ulong(arg, 1, INT_MAX, &v))
			usage_error(state, "invalid PID: %s", arg);
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
	argp_err_exit_status = 2;
	/* Own --help/--usage/--version and no implicit exits, so that every usage error prints
	 * the usage line and exits with status 2. */
	if (argp_parse(&argp, argc, argv, ARGP_NO_EXIT | ARGP_NO_HELP, NULL, o))
		exit(2);
}
