/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * ndjson_read.h - reads hstrace --json output (NDJSON, plain or gzip) back into report
 * samples, with json-c.
 *
 * A line is a record when it is one JSON object (strict JSON, valid UTF-8, nothing after it)
 * with "schema" "hstrace/1" or "hstrace/2", "role" and "result" strings, "phases_us" an object
 * of integers >= 0, and "local"/"peer" objects with an integer "port". Any other line (blank
 * ones too) is counted as invalid and skipped; the first NDJSON_FIRST_INVALID line numbers are
 * kept. Both schema versions are read the same way: they differ only in what an event's "t_us"
 * means for TLS events (docs/json.md), and the reader uses no event.
 */
#ifndef HSTRACE_NDJSON_READ_H
#define HSTRACE_NDJSON_READ_H

#include <stdint.h>

#include <json-c/json.h>

#include "report.h"

#define NDJSON_FIRST_INVALID 5
#define NDJSON_MAX_LINE (16u << 20) /* longer lines are invalid */

struct ndjson_reader;

struct ndjson_stats {
	uint64_t lines;	  /* lines read */
	uint64_t records; /* valid records returned */
	uint64_t invalid; /* lines skipped */
	uint64_t first_invalid[NDJSON_FIRST_INVALID]; /* their line numbers (1-based) */
	unsigned int n_first_invalid;
};

/* Opens path ("-": standard input), plain or gzip-compressed. Returns NULL with errno set. */
struct ndjson_reader *ndjson_open(const char *path);

/* Reads up to the next valid record and fills *s; its strings stay valid until the next call
 * or ndjson_close(). Returns 1 for a record, 0 at the end, -EIO on a read error (gzip data
 * corrupt or cut short, or an I/O error). */
int ndjson_next(struct ndjson_reader *rd, struct report_sample *s);

/* The JSON object of the record ndjson_next() returned last (valid until the next call or
 * ndjson_close()), for readers that need more than a sample (report --join). */
struct json_object *ndjson_current(const struct ndjson_reader *rd);

typedef int (*ndjson_sample_fn)(const struct report_sample *s, void *ctx);

/* Reads every remaining record and calls fn(sample, ctx) for each, in input order (its strings
 * are valid during the call); a non-zero return from fn stops the reading and is returned.
 * Lines are parsed on `threads` worker threads (0: one per online CPU, at most 8; 1: none).
 * Returns 0 at the end, -EIO on a read error, -ENOMEM, or fn's error. */
int ndjson_for_each(struct ndjson_reader *rd, unsigned int threads, ndjson_sample_fn fn,
		    void *ctx);

/* Copies the counters into *st. */
void ndjson_get_stats(const struct ndjson_reader *rd, struct ndjson_stats *st);

/* Closes the input (standard input stays open). Accepts NULL. */
void ndjson_close(struct ndjson_reader *rd);

/* Fills *s from one parsed line (strings borrowed from obj). Returns 0, or -EINVAL when obj
 * is not an hstrace/1 or hstrace/2 record. */
int ndjson_sample_from_json(struct json_object *obj, struct report_sample *s);

#endif /* HSTRACE_NDJSON_READ_H */
