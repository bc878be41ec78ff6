// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * otlp_metrics.c - the cumulative OTLP metrics of finished timelines (see otlp.h,
 * docs/otlp.md): the aggregation (connections by role and result, a duration histogram per
 * phase, role and TLS version, both with the --metrics-by label, its value from
 * metrics_by_value() as the Prometheus endpoint has it; TLS alerts) and the metrics request
 * built from it and from hstrace's own figures (build info, record counters, exporter counters,
 * CPU and memory). The arena and attribute builders come from otlp_common.c (otlp_int.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

#include "otlp.h"
#include "otlp_int.h"
#include "report.h"

/* uthash reports a failed allocation through this macro instead of exiting: a function that
 * adds to a hash declares `bool oom = false` and checks it afterwards. */
#define uthash_nonfatal_oom(elt) (oom = true)
#include <uthash.h>

typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Sum Sum;
typedef Opentelemetry__Proto__Metrics__V1__Histogram Histogram;
typedef Opentelemetry__Proto__Metrics__V1__Gauge Gauge;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics ScopeMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsRequest;

/* The generated names, shorter. */
#define CUMULATIVE \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define DATA_SUM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
#define DATA_HISTOGRAM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM
#define DATA_GAUGE OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE
#define VALUE_AS_INT OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT
#define VALUE_AS_DOUBLE OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE
#define METRICS_REQUEST_INIT \
	OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT

/* ---- aggregation ---- */

const uint64_t otlp_bounds_ns[OTLP_N_BOUNDS] = {
	10000ULL,      20000ULL,      50000ULL,	     100000ULL,	     200000ULL,
	500000ULL,     1000000ULL,    2000000ULL,    5000000ULL,     10000000ULL,
	20000000ULL,   50000000ULL,   100000000ULL,  200000000ULL,   500000000ULL,
	1000000000ULL, 2000000000ULL, 5000000000ULL, 10000000000ULL, 20000000000ULL,
	30000000000ULL,
};

/* One histogram series: a phase's durations for one role and TLS version (in one by_group). */
struct hist_series {
	const char *phase; /* static name from the timeline */
	uint8_t role;	   /* enum conn_role */
	uint16_t version;  /* negotiated TLS version, 0 when unknown */
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns, max_ns;
	uint64_t buckets[OTLP_N_BOUNDS + 1];
};

/* The connection counters and histogram series of one value of the --metrics-by label; without
 * the label, the only group (value ""). */
struct by_group {
	const char *by; /* the value: metrics_by_value()'s (kept in the cap, or static) */
	uint64_t conns[3][RESULT__MAX]; /* by enum conn_role, enum conn_result */
	struct hist_series *series;
	size_t n_series, cap_series;
	UT_hash_handle hh;
};

/* TLS alerts by description text and sender (as hstrace_tls_alerts_total). */
#define MAX_ALERT_SERIES 64

struct alert_series {
	char desc[32];	     /* report_alert_text(): "bad_certificate", "encrypted", ... */
	const char *sender;  /* "client", "server", "unknown" */
	uint64_t count;
};

struct otlp_metrics {
	enum metrics_by by;
	struct metrics_cap *cap; /* the by label's values; NULL without the label */
	const char *version;	 /* hstrace.build_info; NULL: not sent */
	struct by_group *groups; /* hashed by value, iterated in order of first sight */
	struct alert_series alerts[MAX_ALERT_SERIES];
	size_t n_alerts;
	uint64_t overflow;
};

/* Adds the group of value by (not in m yet). Returns it, or NULL (ENOMEM). */
static struct by_group *group_add(struct otlp_metrics *m, const char *by)
{
	struct by_group *g = calloc(1, sizeof(*g));
	bool oom = false;

	if (!g)
		return NULL;
	g->by = by;
	HASH_ADD_KEYPTR(hh, m->groups, g->by, strlen(g->by), g);
	if (oom) {
		free(g);
		return NULL;
	}
	return g;
}

struct otlp_metrics *otlp_metrics_new(const struct metrics_opts *opts)
{
	struct otlp_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (opts) {
		m->by = metrics_by_label(opts->by) ? opts->by : METRICS_BY_NONE;
		m->version = opts->version;
	}
	if (m->by) {
		m->cap = metrics_cap_new(opts->max_values ? opts->max_values
							  : METRICS_DEFAULT_MAX_VALUES);
		if (!m->cap)
			goto fail;
	} else if (!group_add(m, "")) {
		goto fail;
	}
	return m;
fail:
	otlp_metrics_free(m);
	errno = ENOMEM;
	return NULL;
}

void otlp_metrics_free(struct otlp_metrics *m)
{
	struct by_group *g, *tmp;

	if (!m)
		return;
	HASH_ITER(hh, m->groups, g, tmp) {
		HASH_DEL(m->groups, g);
		free(g->series);
		free(g);
	}
	metrics_cap_free(m->cap); /* after the groups: it holds their values' text */
	free(m);
}

uint64_t otlp_metrics_overflow(const struct otlp_metrics *m)
{
	return m->overflow;
}

static struct hist_series *find_series(struct by_group *g, const char *phase, uint8_t role,
				       uint16_t version, int *err)
{
	struct hist_series *s;
	size_t i;

	for (i = 0; i < g->n_series; i++) {
		s = &g->series[i];
		if (s->role == role && s->version == version &&
		    (s->phase == phase || strcmp(s->phase, phase) == 0))
			return s;
	}
	if (g->n_series >= OTLP_MAX_SERIES) {
		*err = -ENOSPC;
		return NULL;
	}
	if (g->n_series == g->cap_series) {
		size_t cap = g->cap_series ? g->cap_series * 2 : 32;
		struct hist_series *p = realloc(g->series, cap * sizeof(*p));

		if (!p) {
			*err = -ENOMEM;
			return NULL;
		}
		g->series = p;
		g->cap_series = cap;
	}
	s = &g->series[g->n_series++];
	memset(s, 0, sizeof(*s));
	s->phase = phase;
	s->role = role;
	s->version = version;
	s->min_ns = UINT64_MAX;
	return s;
}

int otlp_metrics_add(struct otlp_metrics *m, const struct timeline *tl)
{
	size_t i, b, np = tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES;
	unsigned int role = (unsigned int)tl->role < 3 ? (unsigned int)tl->role : ROLE_UNKNOWN;
	unsigned int result = (unsigned int)tl->result < RESULT__MAX ? (unsigned int)tl->result
								    : RESULT_INCOMPLETE;
	char by_buf[sizeof(tl->tls.sni) + 1];
	const char *by = "";
	struct by_group *g;
	int err = 0;

	if (m->by)
		by = metrics_by_value(m->by, m->cap, tl, by_buf, sizeof(by_buf));
	HASH_FIND(hh, m->groups, by, strlen(by), g);
	if (!g)
		g = group_add(m, by);
	if (!g) {
		m->overflow += np;
		err = -ENOMEM; /* the alert below is still counted */
	} else {
		g->conns[role][result]++;
	}
	if (tl->tls.seen && tl->tls.has_alert) {
		const char *sender = "unknown", *desc;
		char buf[16];

		desc = report_alert_text(tl->tls.alert_level, tl->tls.alert_desc, buf, sizeof(buf));
		/* sent by this end (out), or by its peer: the other role */
		if (tl->tls.alert_dir == DIR_OUT)
			sender = tl_role_name(tl->role);
		else if (tl->tls.alert_dir == DIR_IN && tl->role != ROLE_UNKNOWN)
			sender = tl_role_name(tl->role == ROLE_CLIENT ? ROLE_SERVER : ROLE_CLIENT);
		for (i = 0; i < m->n_alerts; i++)
			if (m->alerts[i].sender == sender && !strcmp(m->alerts[i].desc, desc))
				break;
		if (i == m->n_alerts && m->n_alerts < MAX_ALERT_SERIES) {
			snprintf(m->alerts[i].desc, sizeof(m->alerts[i].desc), "%s", desc);
			m->alerts[i].sender = sender;
			m->n_alerts++;
		}
		if (i < m->n_alerts)
			m->alerts[i].count++;
		else
			m->overflow++;
	}
	for (i = 0; g && i < np; i++) {
		const struct tl_phase *ph = &tl->phases[i];
		struct hist_series *s;
		int e = 0;

		if (!ph->name)
			continue;
		s = find_series(g, ph->name, (uint8_t)role, tl->tls.seen ? tl->tls.version : 0,
				&e);
		if (!s) {
			m->overflow++;
			err = err ?: e;
			continue;
		}
		for (b = 0; b < OTLP_N_BOUNDS && ph->dur_ns > otlp_bounds_ns[b]; b++)
			;
		s->buckets[b]++;
		s->count++;
		s->sum_ns += ph->dur_ns;
		if (ph->dur_ns < s->min_ns)
			s->min_ns = ph->dur_ns;
		if (ph->dur_ns > s->max_ns)
			s->max_ns = ph->dur_ns;
	}
	return err;
}

/* ---- request ---- */

/* The attributes of a data point: up to three string pairs; a pair with a NULL key, or a NULL
 * or empty value, is left out (an unknown value is never sent empty). */
static KeyValue **point_attrs(struct otlp_arena *a, size_t *n, const char *k1, const char *v1,
			      const char *k2, const char *v2, const char *k3, const char *v3)
{
	const char *k[3] = { k1, k2, k3 }, *v[3] = { v1, v2, v3 };
	struct otlp_attrs at = { .a = a };
	KeyValue **kv;
	size_t i;

	for (i = 0; i < 3; i++)
		if (k[i] && v[i] && *v[i])
			otlp_attr_str(&at, k[i], v[i]);
	otlp_attrs_finish(&at, n, &kv);
	return kv;
}

static Metric *new_metric(struct otlp_arena *a, const char *name, const char *desc,
			  const char *unit)
{
	Metric *m = otlp_arena_alloc(a, sizeof(*m));

	if (!m)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)name;
	m->description = (char *)desc;
	m->unit = (char *)unit;
	return m;
}

/* A monotonic cumulative Sum with room for n points (added by the caller). */
static Metric *new_counter(struct otlp_arena *a, const char *name, const char *desc,
			   const char *unit, size_t n)
{
	Metric *m = new_metric(a, name, desc, unit);
	Sum *s = otlp_arena_alloc(a, sizeof(*s));

	if (!m || !s)
		return NULL;
	opentelemetry__proto__metrics__v1__sum__init(s);
	s->aggregation_temporality = CUMULATIVE;
	s->is_monotonic = 1;
	s->data_points = otlp_arena_alloc(a, (n ? n : 1) * sizeof(*s->data_points));
	if (!s->data_points)
		return NULL;
	m->data_case = DATA_SUM;
	m->sum = s;
	return m;
}

/* A Gauge with room for one point (added by the caller). */
static Metric *new_gauge(struct otlp_arena *a, const char *name, const char *desc,
			 const char *unit)
{
	Metric *m = new_metric(a, name, desc, unit);
	Gauge *g = otlp_arena_alloc(a, sizeof(*g));

	if (!m || !g)
		return NULL;
	opentelemetry__proto__metrics__v1__gauge__init(g);
	g->data_points = otlp_arena_alloc(a, sizeof(*g->data_points));
	if (!g->data_points)
		return NULL;
	m->data_case = DATA_GAUGE;
	m->gauge = g;
	return m;
}

/* Appends a point (start and now as given; a gauge's start is 0) to pts[*n]; returns it with
 * no value set, or NULL. */
static NumberDataPoint *add_point(struct otlp_arena *a, NumberDataPoint **pts, size_t *n,
				  uint64_t start, uint64_t now)
{
	NumberDataPoint *p = otlp_arena_alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	pts[(*n)++] = p;
	return p;
}

static NumberDataPoint *add_int_point(struct otlp_arena *a, Sum *s, int64_t v, uint64_t start,
				      uint64_t now)
{
	NumberDataPoint *p = add_point(a, s->data_points, &s->n_data_points, start, now);

	if (p) {
		p->value_case = VALUE_AS_INT;
		p->as_int = v;
	}
	return p;
}

/* A counter of one int point without attributes, or NULL. */
static Metric *int_counter(struct otlp_arena *a, const char *name, const char *desc,
			   const char *unit, uint64_t v, uint64_t start, uint64_t now)
{
	Metric *m = new_counter(a, name, desc, unit, 1);

	return m && add_int_point(a, m->sum, (int64_t)v, start, now) ? m : NULL;
}

/* "hstrace.<phase>.duration" in the arena. */
static char *hist_name(struct otlp_arena *a, const char *phase)
{
	size_t n = strlen(phase) + sizeof("hstrace..duration");
	char *s = otlp_arena_alloc(a, n);

	if (s)
		snprintf(s, n, "hstrace.%s.duration", phase);
	return s;
}

static HistogramDataPoint *hist_point(struct otlp_arena *a, const struct hist_series *s,
				      const char *by_key, const char *by, const double *bounds,
				      uint64_t start, uint64_t now)
{
	HistogramDataPoint *p = otlp_arena_alloc(a, sizeof(*p));
	/* as the Prometheus endpoint labels it ("other" for a version without a name: no
	 * unbounded values); unknown ("") is left out */
	const char *ver = metrics_tls_version(s->version);

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	p->attributes = point_attrs(a, &p->n_attributes, "role", tl_role_name(s->role),
				    "tls_version", ver, by_key, by);
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->count = s->count;
	p->sum = (double)s->sum_ns / 1e9;
	/* min and max lose presence in the protoc-c copy of metrics.proto (Makefile): a zero is
	 * not sent, and read as absent. */
	if (s->count) {
		p->min = (double)s->min_ns / 1e9;
		p->max = (double)s->max_ns / 1e9;
	}
	p->bucket_counts = otlp_arena_alloc(a, sizeof(s->buckets));
	if (!p->bucket_counts)
		return NULL;
	memcpy(p->bucket_counts, s->buckets, sizeof(s->buckets));
	p->n_bucket_counts = OTLP_N_BOUNDS + 1;
	p->explicit_bounds = (double *)bounds;
	p->n_explicit_bounds = OTLP_N_BOUNDS;
	return p;
}

/* The metric of phase `phase`: a point per series of that phase in every group (n of them).
 * Returns it, or NULL when out of memory. */
static Metric *phase_histogram(struct otlp_arena *a, const struct otlp_metrics *m,
			       const char *phase, size_t n, const double *bounds, uint64_t start,
			       uint64_t now)
{
	Metric *metric = new_metric(a, hist_name(a, phase), "Phase duration", "s");
	Histogram *h = otlp_arena_alloc(a, sizeof(*h));
	const char *by_key = metrics_by_label(m->by);
	const struct by_group *g;
	size_t j;

	if (!metric || !metric->name || !h)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram__init(h);
	h->aggregation_temporality = CUMULATIVE;
	h->data_points = otlp_arena_alloc(a, n * sizeof(*h->data_points));
	if (!h->data_points)
		return NULL;
	for (g = m->groups; g; g = g->hh.next) {
		for (j = 0; j < g->n_series; j++) {
			if (strcmp(g->series[j].phase, phase))
				continue;
			h->data_points[h->n_data_points] =
				hist_point(a, &g->series[j], by_key, g->by, bounds, start, now);
			if (!h->data_points[h->n_data_points++])
				return NULL;
		}
	}
	metric->data_case = DATA_HISTOGRAM;
	metric->histogram = h;
	return metric;
}

/* The connection counter: a point per (role, result, by value) seen, and without a `by`
 * label the ok series of client and server from the start. NULL when out of memory. */
static Metric *conn_counter(struct otlp_arena *a, const struct otlp_metrics *m, uint64_t start,
			    uint64_t now)
{
	const char *by_key = metrics_by_label(m->by);
	const struct by_group *g;
	unsigned int role, result;
	Metric *conns;

	conns = new_counter(a, "hstrace.connections",
			    "Finished connection ends shown (after the output filters)",
			    "{connection}", HASH_COUNT(m->groups) * 3 * RESULT__MAX);
	if (!conns)
		return NULL;
	for (g = m->groups; g; g = g->hh.next) {
		for (role = 0; role < 3; role++) {
			for (result = 0; result < RESULT__MAX; result++) {
				NumberDataPoint *p;

				if (!g->conns[role][result] &&
				    !(!m->by && result == RESULT_OK && role != ROLE_UNKNOWN))
					continue;
				p = add_int_point(a, conns->sum, (int64_t)g->conns[role][result],
						  start, now);
				if (!p)
					return NULL;
				p->attributes = point_attrs(a, &p->n_attributes, "role",
							    tl_role_name(role), "result",
							    tl_result_name(result), by_key, g->by);
			}
		}
	}
	return conns;
}

/* The alert counter (m has alerts), or NULL when out of memory. */
static Metric *alert_counter(struct otlp_arena *a, const struct otlp_metrics *m,
			     uint64_t start, uint64_t now)
{
	Metric *al = new_counter(a, "hstrace.tls.alerts",
				 "TLS alerts of the connection ends shown, by description and "
				 "sender", "{alert}", m->n_alerts);
	size_t i;

	if (!al)
		return NULL;
	for (i = 0; i < m->n_alerts; i++) {
		NumberDataPoint *p = add_int_point(a, al->sum, (int64_t)m->alerts[i].count, start,
						   now);

		if (!p)
			return NULL;
		p->attributes = point_attrs(a, &p->n_attributes, "description", m->alerts[i].desc,
					    "sender", m->alerts[i].sender, NULL, NULL);
	}
	return al;
}

/* hstrace.build_info: a gauge of 1 with the version, as hstrace_build_info. NULL when out of
 * memory. */
static Metric *build_info(struct otlp_arena *a, const char *version, uint64_t now)
{
	Metric *info = new_gauge(a, "hstrace.build_info", "hstrace's version; always 1", "");
	NumberDataPoint *p;

	if (!info)
		return NULL;
	p = add_point(a, info->gauge->data_points, &info->gauge->n_data_points, 0, now);
	if (!p)
		return NULL;
	p->value_case = VALUE_AS_INT;
	p->as_int = 1;
	p->attributes = point_attrs(a, &p->n_attributes, "version", version, NULL, NULL, NULL,
				    NULL);
	return info;
}

/* Appends the metrics of self to ms[*n] (room for SELF_METRICS): the exporter's counters, the
 * record counters, and the process's CPU and memory when known. Returns 0 or -ENOMEM. */
#define SELF_METRICS 8

static int self_metrics(struct otlp_arena *a, const struct otlp_self_stats *self, Metric **ms,
			size_t *n, uint64_t start, uint64_t now)
{
	static const char rec_unit[] = "{record}";
	Metric *cpu, *rss;
	NumberDataPoint *p;
	size_t n0 = *n;

	ms[(*n)++] = int_counter(a, "hstrace.otlp.exported",
				 "Connections whose spans an OTLP receiver accepted",
				 "{connection}", self->exported, start, now);
	ms[(*n)++] = int_counter(a, "hstrace.otlp.dropped",
				 "Connections whose spans were dropped (queue full, rejected, "
				 "unsent at exit)",
				 "{connection}", self->dropped, start, now);
	ms[(*n)++] = int_counter(a, "hstrace.records.lost",
				 "Records lost because the BPF ring buffer was full", rec_unit,
				 self->records_lost, start, now);
	ms[(*n)++] = int_counter(a, "hstrace.records.unmatched",
				 "Records that matched no connection hstrace saw start", rec_unit,
				 self->records_unmatched, start, now);
	ms[(*n)++] = int_counter(a, "hstrace.records.dropped",
				 "Records the collector could not apply (out of memory, or too "
				 "many events on one connection)",
				 rec_unit, self->records_dropped, start, now);
	ms[(*n)++] = int_counter(a, "hstrace.records.malformed",
				 "Records too short or of an unknown kind", rec_unit,
				 self->records_malformed, start, now);
	if (self->process_known) {
		cpu = new_counter(a, "hstrace.process.cpu",
				  "CPU time hstrace used, user and system", "s", 1);
		p = cpu ? add_point(a, cpu->sum->data_points, &cpu->sum->n_data_points, start, now)
			: NULL;
		if (p) {
			p->value_case = VALUE_AS_DOUBLE;
			p->as_double = self->cpu_seconds;
		}
		ms[(*n)++] = p ? cpu : NULL;
		rss = new_gauge(a, "hstrace.process.resident_memory", "hstrace's resident memory",
				"By");
		p = rss ? add_point(a, rss->gauge->data_points, &rss->gauge->n_data_points, 0, now)
			: NULL;
		if (p) {
			p->value_case = VALUE_AS_INT;
			p->as_int = (int64_t)self->rss_bytes;
		}
		ms[(*n)++] = p ? rss : NULL;
	}
	for (; n0 < *n; n0++)
		if (!ms[n0])
			return -ENOMEM;
	return 0;
}

int otlp_encode_metrics(const struct otlp_resource *res, const struct otlp_metrics *m,
			const struct otlp_self_stats *self, uint64_t start_unix_ns,
			uint64_t now_unix_ns, uint8_t **out, size_t *out_len)
{
	struct otlp_arena a = {};
	MetricsRequest req = METRICS_REQUEST_INIT;
	ResourceMetrics rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT, *rmp = &rm;
	ScopeMetrics sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT, *smp = &sm;
	double bounds[OTLP_N_BOUNDS];
	const char **phases;
	size_t *phase_points;
	size_t i, j, n_phases = 0, n_series = 0;
	const struct by_group *g;
	int err = -ENOMEM;

	*out = NULL;
	*out_len = 0;
	for (i = 0; i < OTLP_N_BOUNDS; i++)
		bounds[i] = (double)otlp_bounds_ns[i] / 1e9;
	for (g = m->groups; g; g = g->hh.next)
		n_series += g->n_series;
	/* The phase names seen, in order of first sight, and the points each has. */
	phases = otlp_arena_alloc(&a, (n_series ? n_series : 1) * sizeof(*phases));
	phase_points = otlp_arena_alloc(&a, (n_series ? n_series : 1) * sizeof(*phase_points));
	for (g = m->groups; phases && phase_points && g; g = g->hh.next) {
		for (i = 0; i < g->n_series; i++) {
			for (j = 0; j < n_phases && strcmp(phases[j], g->series[i].phase); j++)
				;
			if (j == n_phases) {
				phases[n_phases++] = g->series[i].phase;
				phase_points[j] = 0;
			}
			phase_points[j]++;
		}
	}
	rm.resource = otlp_make_resource(&a, res);
	sm.scope = otlp_make_scope(&a);
	sm.metrics = otlp_arena_alloc(&a, (n_phases + 3 + SELF_METRICS) * sizeof(*sm.metrics));
	if (!rm.resource || !sm.scope || !sm.metrics)
		goto out;

	sm.metrics[sm.n_metrics] = conn_counter(&a, m, start_unix_ns, now_unix_ns);
	if (!sm.metrics[sm.n_metrics++])
		goto out;
	if (m->n_alerts) {
		sm.metrics[sm.n_metrics] = alert_counter(&a, m, start_unix_ns, now_unix_ns);
		if (!sm.metrics[sm.n_metrics++])
			goto out;
	}
	/* One histogram metric per phase name, a point per (role, TLS version, by value). */
	for (i = 0; i < n_phases; i++) {
		sm.metrics[sm.n_metrics] = phase_histogram(&a, m, phases[i], phase_points[i], bounds,
							   start_unix_ns, now_unix_ns);
		if (!sm.metrics[sm.n_metrics++])
			goto out;
	}
	if (m->version) {
		sm.metrics[sm.n_metrics] = build_info(&a, m->version, now_unix_ns);
		if (!sm.metrics[sm.n_metrics++])
			goto out;
	}
	if (self && self_metrics(&a, self, sm.metrics, &sm.n_metrics, start_unix_ns, now_unix_ns))
		goto out;
	if (a.failed)
		goto out;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = &smp;
	req.n_resource_metrics = 1;
	req.resource_metrics = &rmp;
	err = otlp_pack(&req.base, out, out_len);
out:
	otlp_arena_free(&a);
	return err;
}
