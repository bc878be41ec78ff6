// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * otlp_metrics.c - the cumulative OTLP metrics of finished timelines (see otlp.h,
 * docs/otlp.md): the aggregation (connections by role and result, TLS alerts, a duration
 * histogram per phase, role and TLS version) and the metrics request built from it. The arena
 * and attribute builders come from otlp_common.c (otlp_int.h).
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
#include "tls_parse.h"

typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Sum Sum;
typedef Opentelemetry__Proto__Metrics__V1__Histogram Histogram;
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

/* One histogram series: a phase's durations for one role and TLS version. */
struct hist_series {
	const char *phase; /* static name from the timeline */
	uint8_t role;	   /* enum conn_role */
	uint16_t version;  /* negotiated TLS version, 0 when unknown */
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns, max_ns;
	uint64_t buckets[OTLP_N_BOUNDS + 1];
};

/* TLS alerts by description text and sender (as hstrace_tls_alerts_total). */
#define MAX_ALERT_SERIES 64

struct alert_series {
	char desc[32];	     /* report_alert_text(): "bad_certificate", "encrypted", ... */
	const char *sender;  /* "client", "server", "unknown" */
	uint64_t count;
};

struct otlp_metrics {
	uint64_t conns[3][RESULT__MAX]; /* by enum conn_role, enum conn_result */
	struct alert_series alerts[MAX_ALERT_SERIES];
	size_t n_alerts;
	struct hist_series *series;
	size_t n_series, cap_series;
	uint64_t overflow;
};

struct otlp_metrics *otlp_metrics_new(void)
{
	return calloc(1, sizeof(struct otlp_metrics));
}

void otlp_metrics_free(struct otlp_metrics *m)
{
	if (!m)
		return;
	free(m->series);
	free(m);
}

uint64_t otlp_metrics_overflow(const struct otlp_metrics *m)
{
	return m->overflow;
}

static struct hist_series *find_series(struct otlp_metrics *m, const char *phase, uint8_t role,
				       uint16_t version, int *err)
{
	struct hist_series *s;
	size_t i;

	for (i = 0; i < m->n_series; i++) {
		s = &m->series[i];
		if (s->role == role && s->version == version &&
		    (s->phase == phase || strcmp(s->phase, phase) == 0))
			return s;
	}
	if (m->n_series >= OTLP_MAX_SERIES) {
		*err = -ENOSPC;
		return NULL;
	}
	if (m->n_series == m->cap_series) {
		size_t cap = m->cap_series ? m->cap_series * 2 : 32;
		struct hist_series *p = realloc(m->series, cap * sizeof(*p));

		if (!p) {
			*err = -ENOMEM;
			return NULL;
		}
		m->series = p;
		m->cap_series = cap;
	}
	s = &m->series[m->n_series++];
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
	int err = 0;

	m->conns[role][result]++;
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
	for (i = 0; i < np; i++) {
		const struct tl_phase *ph = &tl->phases[i];
		struct hist_series *s;
		int e = 0;

		if (!ph->name)
			continue;
		s = find_series(m, ph->name, (uint8_t)role, tl->tls.version, &e);
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

static KeyValue **point_attrs(struct otlp_arena *a, size_t *n, const char *k1, const char *v1,
			      const char *k2, const char *v2)
{
	struct otlp_attrs at = { .a = a };
	KeyValue **kv;

	if (k1)
		otlp_attr_str(&at, k1, v1);
	if (k2)
		otlp_attr_str(&at, k2, v2);
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

/* A monotonic cumulative Sum with n points (filled by the caller). */
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

static NumberDataPoint *add_int_point(struct otlp_arena *a, Sum *s, int64_t v, uint64_t start,
				      uint64_t now)
{
	NumberDataPoint *p = otlp_arena_alloc(a, sizeof(*p));

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__number_data_point__init(p);
	p->start_time_unix_nano = start;
	p->time_unix_nano = now;
	p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	p->as_int = v;
	s->data_points[s->n_data_points++] = p;
	return p;
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
				      const double *bounds, uint64_t start, uint64_t now)
{
	HistogramDataPoint *p = otlp_arena_alloc(a, sizeof(*p));
	const char *ver = s->version ? tls_version_name(s->version) : NULL;

	if (!p)
		return NULL;
	opentelemetry__proto__metrics__v1__histogram_data_point__init(p);
	if (s->version && !ver)
		ver = "other"; /* as the Prometheus endpoint: no unbounded label values */
	p->attributes = point_attrs(a, &p->n_attributes, "role", tl_role_name(s->role),
				    ver ? "tls_version" : NULL, ver);
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

int otlp_encode_metrics(const struct otlp_resource *res, const struct otlp_metrics *m,
			const struct otlp_self_stats *self, uint64_t start_unix_ns,
			uint64_t now_unix_ns, uint8_t **out, size_t *out_len)
{
	struct otlp_arena a = {};
	MetricsRequest req = METRICS_REQUEST_INIT;
	ResourceMetrics rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT, *rmp = &rm;
	ScopeMetrics sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT, *smp = &sm;
	double bounds[OTLP_N_BOUNDS];
	size_t i, j, max_metrics = m->n_series + 4;
	unsigned int role, result;
	Metric *conns;
	int err = 0;

	*out = NULL;
	*out_len = 0;
	for (i = 0; i < OTLP_N_BOUNDS; i++)
		bounds[i] = (double)otlp_bounds_ns[i] / 1e9;
	rm.resource = otlp_make_resource(&a, res);
	sm.scope = otlp_make_scope(&a);
	sm.metrics = otlp_arena_alloc(&a, max_metrics * sizeof(*sm.metrics));
	conns = new_counter(&a, "hstrace.connections",
			    "Finished connection ends shown (after the output filters)",
			    "{connection}", 3 * RESULT__MAX);
	if (!rm.resource || !sm.scope || !sm.metrics || !conns) {
		err = -ENOMEM;
		goto out;
	}
	/* Every (role, result) seen, and ok for client and server so the series exist from the
	 * start. */
	for (role = 0; role < 3; role++) {
		for (result = 0; result < RESULT__MAX; result++) {
			NumberDataPoint *p;

			if (!m->conns[role][result] &&
			    !(result == RESULT_OK && role != ROLE_UNKNOWN))
				continue;
			p = add_int_point(&a, conns->sum, (int64_t)m->conns[role][result],
					  start_unix_ns, now_unix_ns);
			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			p->attributes = point_attrs(&a, &p->n_attributes, "role",
						    tl_role_name(role), "result",
						    tl_result_name(result));
		}
	}
	sm.metrics[sm.n_metrics++] = conns;

	if (m->n_alerts) {
		Metric *al = new_counter(&a, "hstrace.tls.alerts",
					 "TLS alerts of the connection ends shown, by description "
					 "and sender", "{alert}", m->n_alerts);

		if (!al) {
			err = -ENOMEM;
			goto out;
		}
		for (i = 0; i < m->n_alerts; i++) {
			NumberDataPoint *p = add_int_point(&a, al->sum, (int64_t)m->alerts[i].count,
							   start_unix_ns, now_unix_ns);

			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			p->attributes = point_attrs(&a, &p->n_attributes, "description",
						    m->alerts[i].desc, "sender",
						    m->alerts[i].sender);
		}
		sm.metrics[sm.n_metrics++] = al;
	}

	/* One histogram metric per phase name, a point per (role, TLS version). */
	for (i = 0; i < m->n_series; i++) {
		const struct hist_series *s = &m->series[i];
		Histogram *h;
		Metric *metric;
		bool seen = false;

		for (j = 0; j < i && !seen; j++)
			seen = strcmp(m->series[j].phase, s->phase) == 0;
		if (seen)
			continue;
		metric = new_metric(&a, hist_name(&a, s->phase), "Phase duration", "s");
		h = otlp_arena_alloc(&a, sizeof(*h));
		if (!metric || !metric->name || !h) {
			err = -ENOMEM;
			goto out;
		}
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->aggregation_temporality = CUMULATIVE;
		h->data_points = otlp_arena_alloc(&a, m->n_series * sizeof(*h->data_points));
		if (!h->data_points) {
			err = -ENOMEM;
			goto out;
		}
		for (j = i; j < m->n_series; j++) {
			if (strcmp(m->series[j].phase, s->phase))
				continue;
			h->data_points[h->n_data_points] =
				hist_point(&a, &m->series[j], bounds, start_unix_ns, now_unix_ns);
			if (!h->data_points[h->n_data_points++]) {
				err = -ENOMEM;
				goto out;
			}
		}
		metric->data_case = DATA_HISTOGRAM;
		metric->histogram = h;
		sm.metrics[sm.n_metrics++] = metric;
	}

	if (self) {
		Metric *c = new_counter(&a, "hstrace.otlp.exported",
					"Connections whose spans an OTLP receiver accepted",
					"{connection}", 1);
		Metric *d = new_counter(&a, "hstrace.otlp.dropped",
					"Connections whose spans were dropped (queue full, "
					"rejected, unsent at exit)",
					"{connection}", 1);

		if (!c || !d ||
		    !add_int_point(&a, c->sum, (int64_t)self->exported, start_unix_ns,
				   now_unix_ns) ||
		    !add_int_point(&a, d->sum, (int64_t)self->dropped, start_unix_ns,
				   now_unix_ns)) {
			err = -ENOMEM;
			goto out;
		}
		sm.metrics[sm.n_metrics++] = c;
		sm.metrics[sm.n_metrics++] = d;
	}
	if (a.failed) {
		err = -ENOMEM;
		goto out;
	}
	rm.n_scope_metrics = 1;
	rm.scope_metrics = &smp;
	req.n_resource_metrics = 1;
	req.resource_metrics = &rmp;
	err = otlp_pack(&req.base, out, out_len);
out:
	otlp_arena_free(&a);
	return err;
}
