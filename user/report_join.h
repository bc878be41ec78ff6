/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * report_join.h - `hstrace report --join FILE...`: pairs the two ends of each connection
 * (client and server, on one host or two, each file from its own hstrace) by their `conn_id`
 * and reports where the set-up time went: the network between them and each side's own share,
 * per phase, with the same percentiles as `hstrace report`; with --timeline, the slowest pairs
 * on one time axis (the server's clock aligned to the client's by the hello exchange).
 */
#ifndef HSTRACE_REPORT_JOIN_H
#define HSTRACE_REPORT_JOIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "report.h"

struct report_join_opts {
	char **paths;	 /* NDJSON files ("-": standard input, at most once) */
	size_t n_paths;
	enum report_by by;
	size_t top;	 /* groups shown; with timeline: pairs drawn */
	bool json;
	bool timeline;	 /* draw the `top` slowest pairs instead of the tables */
};

/* Reads every file, pairs the ends, writes the joined report to out and notes and errors to
 * err. Returns the exit status: 0, or 1 when a file cannot be opened or read or holds lines
 * but no hstrace record (one line on err). */
int report_join_run(const struct report_join_opts *o, FILE *out, FILE *err);

/*
 * Aligns a server's clock to its client's from the four wire times of one exchange, as NTP
 * does: the client sent at c_send and got the answer at c_recv (client clock, µs); the server
 * got the request at s_recv and answered at s_send (server clock). Sets *offset_us (server
 * clock minus client clock, exact when both directions take as long; off by at most half the
 * difference otherwise) and *network_us (the round trip less the server's time). Returns
 * false when the times are inconsistent (an answer before its request).
 */
bool join_align(int64_t c_send, int64_t s_recv, int64_t s_send, int64_t c_recv,
		int64_t *offset_us, int64_t *network_us);

#endif /* HSTRACE_REPORT_JOIN_H */
