// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *argp_program_version = "hstrace 0.1";
const char *argp_program_bug_address = "https://github.com/hstrace/hstrace/issues";

static const char doc[] =
	"Trace TCP connection set-up (and later TLS handshakes) for every process, from the "
	"kernel.\n\n"
	"One line (or one --json object) per finished connection: who owns it, both ends, how "
	"long the TCP handshake and the wait for accept() took, and how it ended.\n\n"
	"USAGE: hstrace [OPTION...]\n\n"
	"EXAMPLES:\n"
	"    hstrace                  # trace every TCP connection until Ctrl-C\n"
	"    hstrace --json -o c.ndjson --duration 60   # NDJSON to a file for a minute\n"
	"    hstrace -p 1234          # only connections owned by PID 1234\n"
	"    hstrace --comm nginx     # only connections owned by a process named nginx\n"
	"    hstrace --port 443 -6    # only IPv6 connections with 443 at either end\n";

enum {
	OPT_COMM = 0x100,
	OPT_PORT,
	OPT_BTF,
	OPT_RINGBUF,
};

static const struct argp_option options[] = {
	{ "pid", 'p', "PID", 0, "Only connections owned by this process", 0 },
	{ "comm", OPT_COMM, "NAME", 0, "Only connections owned by a process with this name", 0 },
	{ "port", OPT_PORT, "PORT", 0, "Only connections with this port at either end", 0 },
	{ "ipv4", '4', NULL, 0, "Only IPv4 (including IPv4 on dual-stack sockets)", 0 },
	{ "ipv6", '6', NULL, 0, "Only IPv6", 0 },
	{ "json", 'j', NULL, 0, "NDJSON output, one object per connection (docs/json.md)", 0 },
	{ "output", 'o', "FILE", 0, "Write output to FILE instead of stdout", 0 },
	{ "duration", 'd', "SEC", 0, "Stop after SEC seconds", 0 },
	{ "btf", OPT_BTF, "FILE", 0, "Kernel BTF to use instead of /sys/kernel/btf/vmlinux", 0 },
	{ "ringbuf-kb", OPT_RINGBUF, "KB", 0,
	  "Ring buffer size in KiB, a power of two (default 4096)", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf debug output", 0 },
	{ NULL, 'h', NULL, OPTION_HIDDEN, "Show the help", 0 },
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

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct cli_opts *o = state->input;
	unsigned long v;

	switch (key) {
	case 'p':
		if (parse_ulong(arg, 1, INT_MAX, &v))
			argp_error(state, "invalid PID: %s", arg);
		o->filter.pid = v;
		break;
	case OPT_COMM:
		if (!*arg || strlen(arg) >= sizeof(o->filter.comm))
			argp_error(state, "invalid process name (1 to 15 characters): %s", arg);
		strcpy(o->filter.comm, arg);
		break;
	case OPT_PORT:
		if (parse_ulong(arg, 1, 65535, &v))
			argp_error(state, "invalid port (1-65535): %s", arg);
		o->filter.port = v;
		break;
	case '4':
	case '6':
		if (o->filter.ip_version && o->filter.ip_version != (key == '4' ? 4 : 6))
			argp_error(state, "-4 and -6 exclude each other");
		o->filter.ip_version = key == '4' ? 4 : 6;
		break;
	case 'j':
		o->json = true;
		break;
	case 'o':
		if (!*arg)
			argp_error(state, "empty output file name");
		o->output = arg;
		break;
	case 'd':
		if (parse_ulong(arg, 1, 365UL * 24 * 3600, &v))
			argp_error(state, "invalid duration in seconds: %s", arg);
		o->duration_s = v;
		break;
	case OPT_BTF:
		o->btf_path = arg;
		break;
	case OPT_RINGBUF:
		if (parse_ulong(arg, 4, 1UL << 20, &v) || (v & (v - 1)))
			argp_error(state, "invalid ring buffer size (a power of two, 4-1048576 KiB): %s",
				   arg);
		o->ringbuf_kb = v;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'h':
		argp_state_help(state, stdout, ARGP_HELP_STD_HELP);
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument: %s", arg);
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
	argp_parse(&argp, argc, argv, 0, NULL, o);
}
