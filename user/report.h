/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * report.h - per-phase timing statistics over many connections, with bounded memory.
 *
 * One aggregation for both paths: the live one feeds finished timelines (report_add_timeline),
 * the offline one feeds samples parsed from NDJSON (report_add). Per (group, phase) a
 * log-linear histogram keeps counts in buckets 1/64 of a power of two wide (values below 64 µs
 * exactly), plus the exact count, min and max. A percentile is the midpoint of the bucket that
 * holds the nearest-rank value, clamped to [min, max]: at most 1/128 (0.79 %) away from the
 * exact nearest-rank value. Memory: at most REPORT_MAX_GROUPS groups (later keys are folded
 * into an "other" group) and REPORT_MAX_PHASES phase names (later names are counted and
 * dropped); a histogram allocates one 512-byte block per power of two it has seen, at most
 * HIST_OCTAVES of them. See docs/report.md.
 */
#ifndef HSTRACE_REPORT_H
#define HSTRACE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "timeline.h"

#define HIST_SUB_BITS 6				/* 64 buckets per power of two */
#define HIST_SUB (1u << HIST_SUB_BITS)
/* block 0: 0..63 µs exactly; block k >= 1: [2^(k+5), 2^(k+6)) */
#define HIST_OCTAVES 35
/* 2^40 - 1 µs, ~12.7 days; larger values count in the last bucket */
#define HIST_MAX_US ((1ULL << (HIST_OCTAVES + HIST_SUB_BITS - 1)) - 1)
#define HIST_LOG2_SLOTS (HIST_OCTAVES + HIST_SUB_BITS)

#define REPORT_MAX_GROUPS 1024 /* distinct group keys kept; the rest go to "other" */
#define REPORT_MAX_PHASES 32   /* distinct phase names kept; the rest are counted and dropped */
#define REPORT_MAX_RESULTS 16  /* distinct result names kept; the rest go to "other" */
#define REPORT_MAX_ALERTS 32   /* distinct alert descriptions kept; the rest go to "other" */
#define REPORT_KEY_LEN 64      /* group keys are cut to 63 bytes */
#define REPORT_NAME_LEN 32     /* phase, result and alert names are cut to 31 bytes */
#define REPORT_MAX_SAMPLE_PHASES 32

/* A log-linear histogram of µs values, with exact count, min and max. */
struct hist {
	uint64_t count;
	uint64_t min_us;
	uint64_t max_us;
	uint64_t *blocks[HIST_OCTAVES]; /* HIST_SUB counters each, allocated on first use */
};

/* Adds one value. Returns 0, or -ENOMEM (the histogram is unchanged). */
int hist_add(struct hist *h, uint64_t us);

/* Adds every value of src to dst. Returns 0, or -ENOMEM (dst may be partly merged). */
int hist_merge(struct hist *dst, const struct hist *src);

/* The p-th percentile (0 < p <= 100), nearest rank, within 1/128 of the exact value; 0 when
 * empty. p <= 0 gives min, p >= 100 max. */
uint64_t hist_percentile(const struct hist *h, double p);

/* Fills counts[HIST_LOG2_SLOTS] with a log2 histogram: slot 0 holds 0..1, slot i >= 1 holds
 * [2^i, 2^(i+1)) (as libbpf-tools' print_log2_hist). Exact: every log-linear bucket lies in
 * one slot. */
void hist_log2(const struct hist *h, uint64_t counts[HIST_LOG2_SLOTS]);

/* The non-empty part of a log2 histogram, as every renderer draws it. */
struct hist_span {
	int first, last;  /* first and last non-empty slot */
	uint64_t max;	  /* the largest count */
};

/* hist_log2() and the span from its first to its last non-empty slot. Returns false (span
 * untouched) when the histogram is empty. */
bool hist_log2_span(const struct hist *h, uint64_t counts[HIST_LOG2_SLOTS],
		    struct hist_span *span);

/* Frees the blocks; the histogram is empty afterwards. */
void hist_reset(struct hist *h);

enum report_by {
	REPORT_BY_NONE = 0,
	REPORT_BY_SNI,
	REPORT_BY_PEER,
	REPORT_BY_COMM,
	REPORT_BY_ROLE,
	REPORT_BY_PORT,
};

/* Returns the option name of by ("sni", ...), "none" for REPORT_BY_NONE. */
const char *report_by_name(enum report_by by);

/* Parses "sni", "peer", "comm", "role" or "port". Returns 0 or -EINVAL. */
int report_by_parse(const char *s, enum report_by *by);

/* One finished connection, as the report sees it. Strings are borrowed for the call; NULL or
 * "" means unknown ("-" in the report). */
struct report_sample {
	const char *sni;
	const char *peer;     /* peer address */
	const char *comm;
	const char *role;     /* "client" / "server" */
	unsigned int port;    /* service port: a client's peer port, a server's local port */
	const char *result;   /* "ok", "refused", ... */
	const char *alert;    /* alert description ("bad_certificate"; "encrypted"), or NULL */
	bool close_lost;      /* tcp.close_lost: its closed record was lost (docs/json.md) */
	bool desync;	      /* tls.desync: the TLS record framing was lost in a direction */
	size_t n_phases;
	struct {
		const char *name;
		uint64_t us;
	} phases[REPORT_MAX_SAMPLE_PHASES];
};

struct report_group {
	char key[REPORT_KEY_LEN];
	uint64_t conns;
	uint64_t results[REPORT_MAX_RESULTS + 1]; /* by report result index; last: other */
	uint64_t alerts[REPORT_MAX_ALERTS + 1];	  /* by report alert index; last: other */
	struct hist phases[REPORT_MAX_PHASES];	  /* by report phase index */
};

/* Connections whose record says hstrace missed some of their events (the marks hstrace writes
 * into a record, docs/json.md). Records lost whole are not in a file: the capturing hstrace
 * counts them (its Summary line's lost=, hstrace_records_lost_total). */
struct report_lost {
	uint64_t conns;	     /* connections with at least one mark */
	uint64_t close_lost; /* ... with tcp.close_lost */
	uint64_t desync;     /* ... with tls.desync */
};

struct report {
	enum report_by by;
	uint64_t conns;
	struct report_lost lost; /* over every connection */
	uint64_t phases_dropped; /* phase values whose name came after REPORT_MAX_PHASES others */
	uint64_t other_conns;	 /* connections whose group key came after REPORT_MAX_GROUPS */
	size_t n_phases, n_results, n_alerts;
	char phase_names[REPORT_MAX_PHASES][REPORT_NAME_LEN];
	char result_names[REPORT_MAX_RESULTS][REPORT_NAME_LEN];
	char alert_names[REPORT_MAX_ALERTS][REPORT_NAME_LEN];
	struct report_group total;  /* every connection */
	struct report_group *other; /* keys beyond REPORT_MAX_GROUPS; NULL until needed */
	struct report_group **groups;
	size_t n_groups, cap_groups;
	struct report_group_index *index; /* key -> group (uthash) */
};

/* Returns a new, empty report grouped by `by`, or NULL (ENOMEM). */
struct report *report_new(enum report_by by);

/* Adds one connection. Returns 0, or -ENOMEM (then some of it may be missing). */
int report_add(struct report *r, const struct report_sample *s);

/* Adds one finished timeline (phases in µs rounded to the nearest, as the JSON output has
 * them). Returns 0 or -ENOMEM. */
int report_add_timeline(struct report *r, const struct timeline *tl);

/* The alert text the report groups by, as the JSON output gives tls.alert.description:
 * "encrypted" when level is 0 (unreadable), the IANA name, or the number in decimal (written
 * to buf). */
const char *report_alert_text(uint8_t level, uint8_t desc, char *buf, size_t len);

/* Empties the report (for interval reports); names seen so far are kept. */
void report_reset(struct report *r);

/* Frees the report. Accepts NULL. */
void report_free(struct report *r);

/* Builds the rows to show: the `top` groups with the most connections (ties: by key), sorted
 * that way, and the rest summed into *rest (rest->conns == 0 when there is none). *rows is
 * allocated (free() it) and holds *n_rows pointers into r; rest must be freed with
 * report_group_free_hists(). Returns 0 or -ENOMEM. */
int report_top(const struct report *r, size_t top, struct report_group ***rows, size_t *n_rows,
	       struct report_group *rest);

/* Frees the histograms of a group built by report_top(). */
void report_group_free_hists(struct report_group *g);

/* Number of connections in g whose result is not "ok". */
uint64_t report_group_failed(const struct report *r, const struct report_group *g);

/* ---- output (report_text.c, report_json.c) ---- */

struct report_view {
	size_t top;	 /* groups shown at most; the rest are summed into one "other" row */
	bool histograms; /* text: log2 histograms of every phase (all connections) */
};

#define REPORT_DEFAULT_TOP 10

/* Writes the text report (libbpf-tools style tables and log2 histograms). Returns 0, or
 * -ENOMEM / -EIO. */
int report_text_write(FILE *out, const struct report *r, const struct report_view *v);

struct json_object;

/* Builds the JSON report object (schema "hstrace-report/1", docs/report.md); the caller may
 * add members and must json_object_put() it. Returns NULL on out-of-memory. */
struct json_object *report_json_object(const struct report *r, const struct report_view *v);

/* Writes obj on one line and a newline. Returns 0 or -EIO. */
int report_json_write_line(FILE *out, struct json_object *obj);

#endif /* HSTRACE_REPORT_H */
