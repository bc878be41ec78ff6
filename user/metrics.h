/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * metrics.h - hstrace's Prometheus metrics: a small registry of counters, gauges and
 * histograms, and the hstrace families built on it (docs/metrics.md).
 *
 * Plain C, no I/O: the caller feeds finished timelines and counters, and asks for the text
 * exposition format (version 0.0.4) in a buffer; user/metrics_http.c serves that buffer. A
 * registry has its own mutex: every public function may be called from any thread (the
 * ring-buffer thread observes, the HTTP threads render), and each call holds the lock only
 * for its own work.
 *
 * The registry, generic part: a family has a name, a HELP text, a type and fixed label names;
 * its series are created on first use, one per distinct tuple of label values, and are
 * rendered sorted by their label values. Label values are stored as given, made valid UTF-8
 * (an invalid byte becomes '?') and escaped when rendered (`\` `"` and newline).
 */
#ifndef HSTRACE_METRICS_H
#define HSTRACE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* AF_INET, AF_INET6 */

#include "timeline.h"

struct metrics;
struct metrics_family;

enum metrics_type {
	METRICS_COUNTER = 0,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
};

#define METRICS_MAX_LABELS 4

/* Returns a new, empty registry, or NULL (ENOMEM). */
struct metrics *metrics_registry_new(void);

/*
 * Adds a family to m. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* (at most METRICS_MAX_LABELS); name, help and label names are copied.
 * A histogram needs its upper bucket bounds (strictly increasing, in the unit its values are
 * observed in; copied) and `divisor`, how many of those units make one unit of the exposition
 * (1e9 for nanoseconds shown as seconds); counters and gauges ignore bounds and divisor.
 * Returns the family (owned by m), or NULL with errno EINVAL (bad name, labels, bounds or
 * divisor), EEXIST (name taken) or ENOMEM.
 */
struct metrics_family *metrics_family_add(struct metrics *m, const char *name, const char *help,
					  enum metrics_type type, const char *const *labels,
					  size_t n_labels, const uint64_t *bounds, size_t n_bounds,
					  double divisor);

/* Returns the family called name, or NULL. */
struct metrics_family *metrics_family_find(struct metrics *m, const char *name);

/*
 * Creates the series of label values `values` (one per label name of the family; NULL means
 * "") if it does not exist yet, with value 0: for series that should be visible before their
 * first event. Returns 0, or -ENOMEM.
 */
int metrics_series_touch(struct metrics_family *f, const char *const *values);

/* Adds v (>= 0) to a counter's series, creating it. Returns 0, -EINVAL (not a counter, v < 0)
 * or -ENOMEM. */
int metrics_counter_add(struct metrics_family *f, const char *const *values, double v);

/* Sets a counter's (a total kept elsewhere, e.g. the ring buffer's losses) or a gauge's series
 * to v. Returns 0, -EINVAL (a histogram) or -ENOMEM. */
int metrics_value_set(struct metrics_family *f, const char *const *values, double v);

/* Counts one observation of v (in the family's unit) in a histogram's series: in the first
 * bucket whose bound is >= v (Prometheus `le`), or only in +Inf above the last bound. Returns
 * 0, -EINVAL (not a histogram) or -ENOMEM. */
int metrics_histogram_observe(struct metrics_family *f, const char *const *values, uint64_t v);

/*
 * Renders every family in the order they were added, in the Prometheus text format 0.0.4:
 * `# HELP`, `# TYPE`, then the series sorted by label values (a histogram: its cumulative
 * `_bucket` lines, `_sum` and `_count`). A family without series gets its HELP and TYPE lines
 * only. On success *text is a NUL-terminated buffer the caller must free(), *len its length;
 * returns 0, or -ENOMEM (*text untouched).
 */
int metrics_render(struct metrics *m, char **text, size_t *len);

/* Frees the registry and everything in it. Accepts NULL. */
void metrics_free(struct metrics *m);

/*
 * A capped set of label values: the first `max` distinct values are kept, later ones are
 * replaced by "other" (as the report folds groups beyond its cap). Not locked by itself: the
 * hstrace layer below uses it under the registry's lock.
 */
struct metrics_cap;

/* Returns a new set keeping at most max values (max >= 1), or NULL (EINVAL, ENOMEM). */
struct metrics_cap *metrics_cap_new(size_t max);

/* Returns value itself when it is kept (already, or now, while fewer than max are kept), else
 * "other"; NULL when the value could not be stored (out of memory: the caller should count it
 * as "other" too). A kept value's text stays valid until metrics_cap_free(). */
const char *metrics_cap_get(struct metrics_cap *c, const char *value);

/* Number of values kept. */
size_t metrics_cap_count(const struct metrics_cap *c);

/* Frees the set. Accepts NULL. */
void metrics_cap_free(struct metrics_cap *c);

/* ---- hstrace's families (docs/metrics.md) ---- */

/* The one extra label of --metrics-by. */
enum metrics_by {
	METRICS_BY_NONE = 0,
	METRICS_BY_SNI,	 /* server_name */
	METRICS_BY_COMM, /* comm */
	METRICS_BY_PORT, /* port: a server's local port, a client's peer port */
};

#define METRICS_DEFAULT_MAX_VALUES 100 /* distinct --metrics-by values kept; the rest: "other" */

/* Parses "sni", "comm" or "port". Returns 0 or -EINVAL. */
int metrics_by_parse(const char *s, enum metrics_by *by);

/* Returns the label name of by ("server_name", "comm", "port"), NULL for METRICS_BY_NONE. */
const char *metrics_by_label(enum metrics_by by);

struct metrics_opts {
	enum metrics_by by;
	size_t max_values; /* cap on distinct values of the `by` label (0: the default, 100) */
	const char *version; /* hstrace_build_info{version} */
};

/* The phases that get a histogram family from the start (docs/json.md), NULL-terminated. */
extern const char *const metrics_phase_names[];

/*
 * Returns a registry with every hstrace family (connections, one histogram per documented
 * phase, alerts, record counters, build info, process CPU and RSS), or NULL (ENOMEM). Without
 * a `by` label, hstrace_connections_total has a zero series for each role and result.
 */
struct metrics *metrics_new(const struct metrics_opts *opts);

/*
 * Counts one connection end that the output shows: hstrace_connections_total{role,result},
 * each of its phases in hstrace_<phase>_duration_seconds{role,tls_version} (a phase name not
 * documented yet gets its own family on first sight, up to a cap), and its TLS alert in
 * hstrace_tls_alerts_total{description,sender}. Returns 0, or -ENOMEM (part of it may be
 * missing).
 */
int metrics_observe_timeline(struct metrics *m, const struct timeline *tl);

/* Sets the collector's and the ring buffer's totals (the Summary line's lost, unmatched,
 * dropped and malformed). Returns 0 or -ENOMEM. */
int metrics_set_records(struct metrics *m, uint64_t lost, uint64_t unmatched, uint64_t dropped,
			uint64_t malformed);

/* Sets the OTLP exporter's totals (--otlp): connection ends delivered and dropped. Returns 0 or
 * -ENOMEM. */
int metrics_set_otlp(struct metrics *m, uint64_t exported, uint64_t dropped);

/* Sets hstrace's own CPU time (user + system, seconds) and resident memory (bytes). Returns 0
 * or -ENOMEM. */
int metrics_set_process(struct metrics *m, double cpu_seconds, double rss_bytes);

/* Returns the tls_version label of a negotiated version: "1.0" ... "1.3", "" when unknown
 * (0), "other" for anything else. */
const char *metrics_tls_version(uint16_t version);

/* ---- the --metrics [ADDR:]PORT argument ---- */

struct metrics_listen {
	int family;		  /* AF_INET or AF_INET6 */
	uint8_t addr[16];	  /* network order; IPv4 in the first 4 bytes */
	uint16_t port;		  /* 0: any free port (printed at start) */
	char addr_text[64];	  /* the address as given ("127.0.0.1", "::1"), without [] */
};

/*
 * Parses PORT, ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6); ADDR is numeric, default 127.0.0.1.
 * PORT is 0-65535 in decimal. Returns 0, or -EINVAL.
 */
int metrics_listen_parse(const char *s, struct metrics_listen *out);

#endif /* HSTRACE_METRICS_H */
