/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * cli.h - hstrace's command line.
 */
#ifndef HSTRACE_CLI_H
#define HSTRACE_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "filter.h"

struct cli_opts {
	struct conn_filter filter;
	bool json;		 /* NDJSON instead of the one-line view */
	const char *output;	 /* NULL: stdout */
	unsigned int duration_s; /* 0: until Ctrl-C / SIGTERM */
	bool verbose;
	const char *btf_path;	 /* NULL: the kernel's own BTF */
	size_t ringbuf_kb;	 /* ring buffer size in KiB */
};

/* Parses argv into *o (defaults first). Wrong flags or values print the usage and exit with
 * status 2; --help prints the help and exits 0. */
void cli_parse(int argc, char **argv, struct cli_opts *o);

#endif /* HSTRACE_CLI_H */
