/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * metrics_registry.h - a small Prometheus metric registry: counters, gauges and histograms, and
 * their text exposition format (version 0.0.4). Knows nothing of hstrace: hstrace's own
 * families are built on it in metrics.h.
 *
 * Plain C, no I/O: the caller adds families and updates series, and asks for the exposition
 * text in a buffer. A registry has its own mutex: every public function may be called from
 * any thread (one thread observes, others render), and each call holds the lock only for its
 * own work; the _locked functions below are for a layer that holds it across several steps.
 *
 * A family has a name, a HELP text, a type and fixed label names; its series are created on
 * first use, one per distinct tuple of label values, and are rendered sorted by their label
 * values. Label values are stored as given, made valid UTF-8 (an invalid byte becomes '?')
 * and escaped when rendered (`\` `"` and newline).
 */
#ifndef HSTRACE_METRICS_REGISTRY_H
#define HSTRACE_METRICS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Frees the registry and everything in it, the layer's state too (metrics_ext_set()). Accepts
 * NULL. */
void metrics_free(struct metrics *m);

/* ---- for a layer built on the registry (metrics.c) ----
 * A layer that updates several series as one step takes the registry's lock and calls the
 * _locked forms under it: a render then sees all of the step or none of it. Each _locked
 * function has the contract of the function above without the suffix, and must be called
 * between metrics_lock() and metrics_unlock() of the registry the family belongs to. */

/* Takes and releases the registry's lock (not recursive). */
void metrics_lock(struct metrics *m);
void metrics_unlock(struct metrics *m);

struct metrics_family *metrics_family_add_locked(struct metrics *m, const char *name,
						 const char *help, enum metrics_type type,
						 const char *const *labels, size_t n_labels,
						 const uint64_t *bounds, size_t n_bounds,
						 double divisor);
int metrics_series_touch_locked(struct metrics_family *f, const char *const *values);
int metrics_counter_add_locked(struct metrics_family *f, const char *const *values, double v);
int metrics_value_set_locked(struct metrics_family *f, const char *const *values, double v);
int metrics_histogram_observe_locked(struct metrics_family *f, const char *const *values,
				     uint64_t v);

/* Attaches a layer's own state to m (once, before m is shared between threads):
 * metrics_ext() returns it, and metrics_free() calls free_ext(ext) after freeing the
 * families (free_ext may be NULL). */
void metrics_ext_set(struct metrics *m, void *ext, void (*free_ext)(void *ext));

/* Returns the state given to metrics_ext_set(), NULL when none. */
void *metrics_ext(const struct metrics *m);

/* Returns true when s matches [a-zA-Z_][a-zA-Z0-9_]*, with ':' allowed too when colon is true
 * (a metric name); s may be NULL. The rules metrics_family_add() checks names with. */
bool metrics_name_ok(const char *s, bool colon);

/* ---- capped label values ----
 * A capped set of label values: the first `max` distinct values are kept, later ones are
 * replaced by "other" (as the report folds groups beyond its cap). Not locked by itself: a
 * layer uses it under the registry's lock (metrics_lock()).
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

#endif /* HSTRACE_METRICS_REGISTRY_H */
