/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * report_cmd.h - `hstrace report FILE`: the report of an NDJSON file written by --json.
 */
#ifndef HSTRACE_REPORT_CMD_H
#define HSTRACE_REPORT_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "report.h"

struct report_cmd_opts {
	const char *path; /* "-": standard input; plain or gzip */
	enum report_by by;
	size_t top;
	bool json;
	bool html;	      /* one self-contained HTML page (report_html.h) */
	size_t waterfalls;    /* html: connections drawn, slowest and failed (each) */
	unsigned int threads; /* parser threads: 0 one per CPU (at most 8), 1 none; html: 1 */
};

/* Reads o->path, writes the report to out and notes (skipped lines) and errors to err.
 * Returns the exit status: 0, or 1 when the file cannot be opened or read, or has lines but no
 * hstrace record (one line on err; nothing on out). An empty file gives an empty report. */
int report_cmd_run(const struct report_cmd_opts *o, FILE *out, FILE *err);

#endif /* HSTRACE_REPORT_CMD_H */
