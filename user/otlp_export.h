/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * otlp_export.h - the OTLP/HTTP exporter (--otlp URL): a thread that sends finished timelines
 * as traces to URL/v1/traces and their cumulative metrics to URL/v1/metrics (protobuf, see
 * otlp.h and docs/otlp.md).
 *
 * The thread that reads the ring buffer only calls otlp_exporter_add(): it copies the timeline
 * into a bounded queue (or counts it dropped when the queue is full), adds it to the metrics
 * and returns, without I/O and with a lock held for a few microseconds at most. The exporter
 * thread sends batches (up to batch_spans spans, or what is queued after batch_delay), retries
 * on connection errors, 429, 502, 503 and 504 with exponential backoff (honouring Retry-After),
 * and sends the metrics every metrics_interval (with hstrace's record counters, CPU time and
 * memory as of then). otlp_exporter_stop() sends what is left within flush_timeout.
 */
#ifndef HSTRACE_OTLP_EXPORT_H
#define HSTRACE_OTLP_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "timeline.h"

#define OTLP_DEFAULT_QUEUE 2048 /* connections */

struct otlp_export_opts {
	const char *url;	      /* OTLP/HTTP base, e.g. "http://127.0.0.1:4318" */
	const char *host_name;	      /* resource host.name; NULL: gethostname() */
	size_t queue_max;	      /* connections waiting at most (0: OTLP_DEFAULT_QUEUE) */
	size_t batch_spans;	      /* spans per request at most (0: 512) */
	uint64_t batch_delay_ns;      /* a partial batch waits at most this long (0: 1 s) */
	uint64_t metrics_interval_ns; /* metrics sent this often (0: 10 s), and at the end */
	uint64_t flush_timeout_ns;    /* otlp_exporter_stop() waits at most this long (0: 5 s) */
	uint64_t request_timeout_ns;  /* one HTTP request at most (0: 10 s) */
	uint64_t backoff_max_ns;      /* longest wait between retries (0: 5 s) */
	struct metrics_opts metrics;  /* the --metrics-by label and the build info's version, as
				       * for the Prometheus endpoint (otlp_metrics_new()) */
};

/* The exporter's counters, in connections (each is 1 + its phases spans). */
struct otlp_export_stats {
	uint64_t queued;       /* accepted into the queue */
	uint64_t exported;     /* whose spans a receiver accepted (2xx) */
	uint64_t dropped;      /* never delivered: dropped_full + rejected + unsent */
	uint64_t dropped_full; /* the queue was full when they finished */
	uint64_t rejected;     /* in a request the receiver refused for good (4xx but 429) */
	uint64_t unsent;       /* still waiting when the exit flush ran out of time */
	uint64_t requests;     /* HTTP requests made (traces and metrics) */
	uint64_t retries;      /* of which failed and were tried again */
	uint64_t metrics_sent; /* metrics requests a receiver accepted */
};

struct otlp_exporter;

/* Returns 0 when url can be an OTLP/HTTP base (http:// or https://, a host, no query or
 * fragment), -EINVAL otherwise. */
int otlp_url_check(const char *url);

/* Starts the exporter thread. Returns 0 and *out, or -EINVAL (bad URL), -ENOMEM, or the
 * error of pthread_create() / curl initialisation (negative). */
int otlp_exporter_start(const struct otlp_export_opts *opts, struct otlp_exporter **out);

/* Queues a copy of tl for export (the caller keeps tl) and counts it in the metrics. Never
 * blocks on I/O. Returns 0, -ENOSPC when the queue is full (counted in dropped_full), or
 * -ENOMEM (counted the same way). After otlp_exporter_stop(), returns -ESHUTDOWN. */
int otlp_exporter_add(struct otlp_exporter *e, const struct timeline *tl);

/* Sets the record counters sent with the metrics (the Summary line's lost, unmatched, dropped
 * and malformed, as metrics_set_records() sets them for the Prometheus endpoint). The final
 * metrics carry the values set before otlp_exporter_stop(). */
void otlp_exporter_set_records(struct otlp_exporter *e, uint64_t lost, uint64_t unmatched,
			       uint64_t dropped, uint64_t malformed);

/* Sends what is queued and the final metrics, waiting at most flush_timeout; what is still
 * unsent then is counted in unsent. Joins the thread. Safe to call twice; accepts NULL. */
void otlp_exporter_stop(struct otlp_exporter *e);

/* Copies the counters into *st (any time, from any thread). */
void otlp_exporter_get_stats(struct otlp_exporter *e, struct otlp_export_stats *st);

/* Stops the exporter if needed and frees it. Accepts NULL. */
void otlp_exporter_free(struct otlp_exporter *e);

#endif /* HSTRACE_OTLP_EXPORT_H */
