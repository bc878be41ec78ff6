/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * metrics.h - hstrace's Prometheus metrics (docs/metrics.md): its families, built on the
 * generic registry of metrics_registry.h, and the --metrics [ADDR:]PORT argument.
 *
 * Plain C, no I/O: the caller feeds finished timelines and counters, and asks for the text
 * exposition format with metrics_render() (metrics_registry.h); user/metrics_http.c serves it.
 * Every function here may be called from any thread (the ring-buffer thread observes, the
 * HTTP threads render): each update holds the registry's lock for its whole work, so a
 * scrape sees a connection end counted in all of its families or in none.
 */
#ifndef HSTRACE_METRICS_H
#define HSTRACE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* AF_INET, AF_INET6 */

#include "metrics_registry.h"
#include "timeline.h"

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

/*
 * Returns the value of the `by` label for tl, as the Prometheus families and the OTLP metrics
 * (otlp.h) both label it: "" when unknown (no SNI, no owner; never capped), the value itself
 * while cap keeps it (metrics_cap_get()), else "other" (also when it could not be stored);
 * NULL for METRICS_BY_NONE. The text is built in buf (len bytes; sizeof(tl->tls.sni) + 1 holds
 * any value whole), but what is returned never points into buf: it lives in cap or is static.
 * cap is not locked here: the caller holds the lock that guards it.
 */
const char *metrics_by_value(enum metrics_by by, struct metrics_cap *cap,
			     const struct timeline *tl, char *buf, size_t len);

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
 * a `by` label, hstrace_connections_total has a zero series for each role and result. The
 * functions below need such a registry (not one from metrics_registry_new()); render and free
 * it with metrics_render() and metrics_free().
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
