/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * otlp.h - OpenTelemetry (OTLP) protobuf requests built from finished timelines.
 *
 * Traces: one trace per connection end, a root span for the connection (kind CLIENT or
 * SERVER, from its first to its last event) with a span event per timeline event, and one
 * child span per phase with the phase's own start and end. Metrics: a cumulative aggregation
 * of the same timelines (connections by role and result, a duration histogram per phase, both
 * with the --metrics-by label when asked), and hstrace's own counters: the same families as
 * the Prometheus endpoint (metrics.h), under the names the OTel -> Prometheus translation
 * turns into those families' names. docs/otlp.md lists every name. Plain C over protobuf-c,
 * no I/O and no threads: the exporter (otlp_export.h) sends what is built here; the unit tests
 * unpack it.
 */
#ifndef HSTRACE_OTLP_H
#define HSTRACE_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "timeline.h"

/* Resource attributes sent with every request (service.name is always "hstrace"). */
struct otlp_resource {
	const char *host_name; /* host.name; NULL or "" leaves it out */
};

/* The ids of one connection's spans. */
struct otlp_span_ids {
	uint8_t trace_id[16];
	uint8_t span_id[8];	   /* the connection (root) span */
	uint8_t parent_span_id[8]; /* the root span's parent; all zero: none */
};

/*
 * The one place trace and span ids come from: fills *ids for tl. With a conn_id (conn_id.h),
 * both ends of the connection, traced on any host, compute the same trace id, and the server's
 * connection span names the client's as its parent: one trace per connection, the server's
 * phases under the client's connection, nothing passed between the hosts (a server end whose
 * client is not traced has a parent the backend never receives). Without a conn_id (its
 * ESTABLISHED was not seen) the trace id and the root span id are random and the root has no
 * parent. Phase span ids are derived from the root span id (otlp_phase_span_id()). Returns 0,
 * or a negative errno when no random bytes could be read.
 */
int otlp_span_ids_for(const struct timeline *tl, struct otlp_span_ids *ids);

/* Writes the span id of phase number `index` (0-based) of the connection whose root span id
 * is root_span_id into out: distinct for distinct indexes, never all zero, and unequal to the
 * root's (except with a 2^-64 chance). */
void otlp_phase_span_id(const uint8_t root_span_id[8], size_t index, uint8_t out[8]);

/* Returns the number of spans otlp_encode_traces() makes for tl: 1 + its phases. */
size_t otlp_span_count(const struct timeline *tl);

/*
 * Builds an ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1) for the n
 * timelines tls[0..n) under one resource and packs it. On success returns 0 and a malloc'ed
 * buffer in *out (the caller frees it) of *out_len bytes; on failure returns -ENOMEM, or the
 * error of otlp_span_ids_for(), and leaves *out NULL. n may be 0 (an empty request).
 */
int otlp_encode_traces(const struct otlp_resource *res, const struct timeline *const *tls,
		       size_t n, uint8_t **out, size_t *out_len);

/* Histogram bucket upper bounds in ns (1-2-5 per decade from 10 µs to 20 s, then 30 s): a value v
 * falls in the first bucket whose bound is >= v, or in the overflow bucket after the last. */
#define OTLP_N_BOUNDS 21
extern const uint64_t otlp_bounds_ns[OTLP_N_BOUNDS];

/* Histogram series kept at most (phase x role x TLS version) per value of the --metrics-by
 * label; beyond, values are counted in otlp_metrics.overflow and not aggregated. */
#define OTLP_MAX_SERIES 512

/* A cumulative aggregation of timelines (not thread-safe: the caller locks). */
struct otlp_metrics;

/*
 * Returns an empty aggregation, or NULL (ENOMEM). opts (may be NULL: no `by` label, no build
 * info) are the Prometheus endpoint's: opts->by adds its label to the connection counter and
 * the histograms, its values capped at opts->max_values (0: METRICS_DEFAULT_MAX_VALUES) as
 * metrics_by_value() caps them, the rest "other"; opts->version, when set, is sent as
 * hstrace.build_info (the string is not copied: it must outlive the aggregation).
 */
struct otlp_metrics *otlp_metrics_new(const struct metrics_opts *opts);

/* Frees m. Accepts NULL. */
void otlp_metrics_free(struct otlp_metrics *m);

/* Adds one finished connection: the connection counter of its role and result (and `by`
 * value), and each of its phases to the histogram of (phase, role, TLS version, `by` value).
 * Returns 0, or -ENOSPC when a phase found no room for a new series (the rest is still
 * counted; see otlp_metrics_overflow()), or -ENOMEM (the connection may be missing from the
 * counter too). */
int otlp_metrics_add(struct otlp_metrics *m, const struct timeline *tl);

/* Returns the phase values that found no series (OTLP_MAX_SERIES reached, or out of memory). */
uint64_t otlp_metrics_overflow(const struct otlp_metrics *m);

/* hstrace's own figures, sent as metrics too (the Prometheus endpoint's values of the same
 * families, from the same sources). */
struct otlp_self_stats {
	uint64_t exported; /* connections whose spans a receiver accepted */
	uint64_t dropped;  /* connections whose spans were dropped (queue full, rejected, or
			    * still unsent when the exit flush ran out of time) */
	/* the Summary line's lost, unmatched, dropped and malformed (metrics_set_records()) */
	uint64_t records_lost, records_unmatched, records_dropped, records_malformed;
	bool process_known; /* cpu_seconds and rss_bytes were read (process_usage_read()) */
	double cpu_seconds; /* hstrace's CPU time, user + system */
	double rss_bytes;   /* hstrace's resident memory */
};

/*
 * Builds an ExportMetricsServiceRequest (opentelemetry/proto/collector/metrics/v1) with every
 * series of m (CUMULATIVE temporality, counted since start_unix_ns, as of now_unix_ns), its
 * build info when m has a version, and the figures of self (may be NULL: none of them), and
 * packs it. Returns 0 with a malloc'ed *out of *out_len bytes (the caller frees it), or -ENOMEM
 * with *out NULL.
 */
int otlp_encode_metrics(const struct otlp_resource *res, const struct otlp_metrics *m,
			const struct otlp_self_stats *self, uint64_t start_unix_ns,
			uint64_t now_unix_ns, uint8_t **out, size_t *out_len);

#endif /* HSTRACE_OTLP_H */
