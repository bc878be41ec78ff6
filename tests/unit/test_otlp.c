// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_otlp.c - OTLP requests built from synthetic timelines (user/otlp_spans.c,
 * user/otlp_metrics.c), unpacked again with protobuf-c and checked field by field: span tree,
 * times, attributes, events, status, and the cumulative metrics (counters, histogram buckets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <linux/types.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include "hstrace.h"
#include "conn_id.h"
#include "metrics.h"
#include "otlp.h"
#include "timeline.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsRequest;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;

/* The generated names, shorter. */
#define KIND_CLIENT OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
#define KIND_SERVER OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER
#define KIND_INTERNAL OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL
#define STATUS_ERROR OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
#define STATUS_UNSET OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_UNSET
#define CUMULATIVE \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define VALUE_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define VALUE_INT OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
#define VALUE_BOOL OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE
#define VALUE_ARRAY OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE
#define DATA_SUM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
#define DATA_HISTOGRAM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM
#define DATA_GAUGE OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE
#define VALUE_AS_INT OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT
#define VALUE_AS_DOUBLE OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE

#define BASE 1000000000000ULL	      /* CLOCK_MONOTONIC of the first event */
#define WALL 1764700000000000000LL    /* its wall-clock time */
#define EV(ts, kind, d) ((struct tl_event){ .ts_ns = BASE + (ts), .event = (kind), .dir = (d) })

/* A TLS 1.2 curl client (ALPN h2), events in ns from BASE. */
static void tls_client(struct timeline *tl, struct tl_event ev[8])
{
	memset(tl, 0, sizeof(*tl));
	tl->cookie = 0xfedcba9876543210ULL; /* above INT64_MAX: sent as a decimal string */
	tl->conn_id = 0x0123456789abcdefULL;
	tl->role = ROLE_CLIENT;
	tl->result = RESULT_OK;
	tl->pid = 4242;
	strcpy(tl->comm, "cu\xffrl"); /* not UTF-8: must arrive repaired */
	tl->ip_version = 4;
	inet_pton(AF_INET, "192.0.2.10", tl->laddr);
	inet_pton(AF_INET, "203.0.113.5", tl->raddr);
	tl->lport = 53430;
	tl->rport = 443;
	tl->start_ns = BASE;
	tl->start_wall_ns = WALL;
	ev[0] = EV(0, HS_EV_SYN_SENT, DIR_OUT);
	ev[1] = EV(24301000, HS_EV_ESTABLISHED, DIR_IN);
	ev[2] = EV(24702000, TL_EV_CLIENT_HELLO, DIR_OUT);
	ev[2].len = 508;
	ev[3] = EV(49650000, TL_EV_SERVER_HELLO, DIR_IN);
	ev[3].app_ns = BASE + 49650000 + 46000;
	ev[4] = EV(74982000, TL_EV_FINISHED, DIR_IN);
	ev[5] = EV(75310000, TL_EV_APP_DATA, DIR_OUT);
	ev[6] = EV(101877000, TL_EV_APP_DATA, DIR_IN);
	ev[7] = EV(205602000, HS_EV_CLOSED, DIR_NONE);
	tl->events = ev;
	tl->n_events = 8;
	tl_phase_add(tl, "tcp_handshake", 0, TL_AT_WIRE, 1, TL_AT_WIRE);
	tl_phase_add(tl, "tls_handshake", 2, TL_AT_WIRE, 4, TL_AT_WIRE);
	tl_phase_add(tl, "ttfb", 5, TL_AT_WIRE, 6, TL_AT_WIRE);
	tl_phase_add(tl, "total", 0, TL_AT_WIRE, 7, TL_AT_WIRE);
	assert_int_equal(tl->n_phases, 4);
	tl->tls.seen = true;
	tl->tls.version = 0x0303;
	strcpy(tl->tls.sni, "example.com");
	tl->tls.has_cipher = true;
	tl->tls.cipher = 0xc02f; /* TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 */
	tl->tls.has_group = true;
	tl->tls.group = 0x001d; /* x25519 */
	tl->tls.resumed = 0;
	tl->tls.handshake_done = true;
	strcpy(tl->tls.alpn_offered[0], "h2");
	strcpy(tl->tls.alpn_offered[1], "http/1.1");
	tl->tls.n_alpn_offered = 2;
	strcpy(tl->tls.alpn_selected, "h2");
	tl->sources = TL_SRC_KERNEL_TCP | TL_SRC_KERNEL_TLS;
}

/* A refused IPv6 connect: no TLS, status ERROR. */
static void refused_client(struct timeline *tl, struct tl_event ev[3])
{
	memset(tl, 0, sizeof(*tl));
	tl->cookie = 77;
	tl->role = ROLE_CLIENT;
	tl->result = RESULT_REFUSED;
	tl->pid = 99;
	strcpy(tl->comm, "nc");
	tl->ip_version = 6;
	inet_pton(AF_INET6, "2001:db8::1", tl->laddr);
	inet_pton(AF_INET6, "2001:db8::2", tl->raddr);
	tl->lport = 40000;
	tl->rport = 8443;
	tl->start_ns = BASE;
	tl->start_wall_ns = WALL;
	tl->sk_err = 111; /* ECONNREFUSED */
	tl->tls.resumed = -1;
	ev[0] = EV(0, HS_EV_SYN_SENT, DIR_OUT);
	ev[1] = EV(30000, HS_EV_RESET_IN, DIR_IN);
	ev[2] = EV(31000, HS_EV_CLOSED, DIR_NONE);
	tl->events = ev;
	tl->n_events = 3;
	tl_phase_add(tl, "total", 0, TL_AT_WIRE, 2, TL_AT_WIRE);
	tl->sources = TL_SRC_KERNEL_TCP;
}

static const AnyValue *attr(KeyValue **kv, size_t n, const char *key)
{
	const AnyValue *found = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!strcmp(kv[i]->key, key)) {
			assert_null(found); /* keys are unique */
			found = kv[i]->value;
		}
	}
	return found;
}

static const char *attr_s(KeyValue **kv, size_t n, const char *key)
{
	const AnyValue *v = attr(kv, n, key);

	if (!v)
		return NULL;
	assert_int_equal(v->value_case,
			 VALUE_STRING);
	return v->string_value;
}

static int64_t attr_i(KeyValue **kv, size_t n, const char *key)
{
	const AnyValue *v = attr(kv, n, key);

	assert_non_null(v);
	assert_int_equal(v->value_case, VALUE_INT);
	return v->int_value;
}

static int attr_b(KeyValue **kv, size_t n, const char *key)
{
	const AnyValue *v = attr(kv, n, key);

	assert_non_null(v);
	assert_int_equal(v->value_case,
			 VALUE_BOOL);
	return v->bool_value;
}

static TraceRequest *encode_and_unpack(const struct timeline *const *tls, size_t n)
{
	struct otlp_resource res = { .host_name = "testhost" };
	uint8_t *buf = NULL;
	size_t len = 0;
	TraceRequest *req;

	assert_int_equal(otlp_encode_traces(&res, tls, n, &buf, &len), 0);
	assert_non_null(buf);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, buf);
	free(buf);
	assert_non_null(req);
	return req;
}

static void test_trace_tree(void **state)
{
	struct tl_event ev[8], ev2[3];
	struct timeline tl, tl2;
	const struct timeline *tls[2] = { &tl, &tl2 };
	TraceRequest *req;
	Span **spans, *root, *root2;
	size_t i, j, n;

	(void)state;
	tls_client(&tl, ev);
	refused_client(&tl2, ev2);
	assert_int_equal(otlp_span_count(&tl), 5);
	req = encode_and_unpack(tls, 2);

	assert_int_equal(req->n_resource_spans, 1);
	{
		Opentelemetry__Proto__Resource__V1__Resource *r = req->resource_spans[0]->resource;

		assert_string_equal(attr_s(r->attributes, r->n_attributes, "service.name"),
				    "hstrace");
		assert_string_equal(attr_s(r->attributes, r->n_attributes, "host.name"),
				    "testhost");
		/* the Prometheus `instance` label on the OTLP -> Prometheus path */
		assert_string_equal(attr_s(r->attributes, r->n_attributes, "service.instance.id"),
				    "testhost");
	}
	assert_int_equal(req->resource_spans[0]->n_scope_spans, 1);
	assert_string_equal(req->resource_spans[0]->scope_spans[0]->scope->name, "hstrace");
	n = req->resource_spans[0]->scope_spans[0]->n_spans;
	spans = req->resource_spans[0]->scope_spans[0]->spans;
	assert_int_equal(n, 5 + 2);

	/* The TLS client: its root, then its four phases. */
	root = spans[0];
	assert_string_equal(root->name, "tls connection");
	assert_int_equal(root->kind, KIND_CLIENT);
	assert_int_equal(root->trace_id.len, 16);
	assert_int_equal(root->span_id.len, 8);
	assert_int_equal(root->parent_span_id.len, 0);
	assert_int_equal(root->start_time_unix_nano, (uint64_t)WALL);
	assert_int_equal(root->end_time_unix_nano, (uint64_t)WALL + 205602000);
	assert_non_null(root->status);
	assert_int_equal(root->status->code,
			 STATUS_UNSET);
	for (i = 1; i <= 4; i++) {
		Span *s = spans[i];

		assert_memory_equal(s->trace_id.data, root->trace_id.data, 16);
		assert_int_equal(s->parent_span_id.len, 8);
		assert_memory_equal(s->parent_span_id.data, root->span_id.data, 8);
		assert_string_equal(s->name, tl.phases[i - 1].name);
		assert_int_equal(s->kind,
				 KIND_INTERNAL);
		assert_int_equal(s->start_time_unix_nano,
				 (uint64_t)WALL + (tl.phases[i - 1].start_ns - BASE));
		assert_int_equal(s->end_time_unix_nano,
				 (uint64_t)WALL + (tl.phases[i - 1].end_ns - BASE));
		assert_true(s->start_time_unix_nano >= root->start_time_unix_nano);
		assert_true(s->end_time_unix_nano <= root->end_time_unix_nano);
		assert_string_equal(attr_s(s->attributes, s->n_attributes, "hstrace.phase"),
				    s->name);
	}
	/* tls_handshake: client_hello (24.702 ms) to finished (74.982 ms). */
	assert_int_equal(spans[2]->start_time_unix_nano, (uint64_t)WALL + 24702000);
	assert_int_equal(spans[2]->end_time_unix_nano, (uint64_t)WALL + 74982000);

	/* Every span id is distinct and not zero; the two connections have distinct traces. */
	for (i = 0; i < n; i++) {
		static const uint8_t zero[8];

		assert_memory_not_equal(spans[i]->span_id.data, zero, 8);
		for (j = i + 1; j < n; j++)
			assert_memory_not_equal(spans[i]->span_id.data, spans[j]->span_id.data, 8);
	}
	root2 = spans[5];
	assert_memory_not_equal(root2->trace_id.data, root->trace_id.data, 16);

	/* Root attributes: semantic conventions, then hstrace.*. */
	{
		KeyValue **kv = root->attributes;
		size_t k = root->n_attributes;
		const AnyValue *arr;

		assert_string_equal(attr_s(kv, k, "server.address"), "example.com");
		assert_string_equal(attr_s(kv, k, "network.peer.address"), "203.0.113.5");
		assert_int_equal(attr_i(kv, k, "network.peer.port"), 443);
		assert_string_equal(attr_s(kv, k, "network.local.address"), "192.0.2.10");
		assert_int_equal(attr_i(kv, k, "network.local.port"), 53430);
		assert_string_equal(attr_s(kv, k, "network.transport"), "tcp");
		assert_string_equal(attr_s(kv, k, "network.type"), "ipv4");
		assert_string_equal(attr_s(kv, k, "tls.protocol.version"), "1.2");
		assert_string_equal(attr_s(kv, k, "tls.cipher"),
				    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
		assert_string_equal(attr_s(kv, k, "tls.curve"), "x25519");
		assert_false(attr_b(kv, k, "tls.resumed"));
		assert_true(attr_b(kv, k, "tls.established"));
		assert_string_equal(attr_s(kv, k, "tls.next_protocol"), "h2");
		assert_int_equal(attr_i(kv, k, "process.pid"), 4242);
		assert_string_equal(attr_s(kv, k, "hstrace.comm"), "cu\xef\xbf\xbdrl");
		assert_string_equal(attr_s(kv, k, "hstrace.result"), "ok");
		assert_string_equal(attr_s(kv, k, "hstrace.role"), "client");
		assert_string_equal(attr_s(kv, k, "hstrace.cookie"), "18364758544493064720");
		assert_string_equal(attr_s(kv, k, "hstrace.conn_id"), "0123456789abcdef");
		assert_null(attr(kv, k, "error.type"));
		arr = attr(kv, k, "hstrace.tls.alpn_offered");
		assert_non_null(arr);
		assert_int_equal(arr->value_case,
				 VALUE_ARRAY);
		assert_int_equal(arr->array_value->n_values, 2);
		assert_string_equal(arr->array_value->values[1]->string_value, "http/1.1");
	}

	/* Span events: one per timeline event, with the event's name, time and dir/len. */
	assert_int_equal(root->n_events, 8);
	for (i = 0; i < 8; i++) {
		assert_string_equal(root->events[i]->name, tl_event_name(ev[i].event));
		assert_int_equal(root->events[i]->time_unix_nano,
				 (uint64_t)WALL + (ev[i].ts_ns - BASE));
	}
	assert_string_equal(attr_s(root->events[2]->attributes, root->events[2]->n_attributes,
				   "dir"), "out");
	assert_int_equal(attr_i(root->events[2]->attributes, root->events[2]->n_attributes, "len"),
			 508);
	assert_null(attr(root->events[7]->attributes, root->events[7]->n_attributes, "dir"));

	/* The refused connect: a tcp connection with status ERROR and error.type. */
	assert_string_equal(root2->name, "tcp connection");
	assert_int_equal(root2->status->code,
			 STATUS_ERROR);
	assert_string_equal(attr_s(root2->attributes, root2->n_attributes, "error.type"),
			    "refused");
	assert_string_equal(attr_s(root2->attributes, root2->n_attributes, "network.type"),
			    "ipv6");
	assert_string_equal(attr_s(root2->attributes, root2->n_attributes, "network.peer.address"),
			    "2001:db8::2");
	assert_string_equal(attr_s(root2->attributes, root2->n_attributes, "hstrace.tcp.error"),
			    "ECONNREFUSED");
	assert_null(attr(root2->attributes, root2->n_attributes, "tls.protocol.version"));
	assert_null(attr(root2->attributes, root2->n_attributes, "server.address"));
	assert_null(attr(root2->attributes, root2->n_attributes, "hstrace.conn_id"));
	assert_int_equal(spans[6]->parent_span_id.len, 8);
	assert_memory_equal(spans[6]->parent_span_id.data, root2->span_id.data, 8);

	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
}

/* Both ends of one connection (one conn_id), each encoded on its own, as two hosts would: one
 * trace; the server's connection span (SERVER) is a child of the client's (CLIENT); the ids are
 * conn_id.h's. Without a conn_id the ids are random and the root has no parent. */
static void test_trace_ids_from_conn_id(void **state)
{
	struct tl_event ev[8], ev2[8];
	struct timeline c, sv;
	const struct timeline *one[1];
	TraceRequest *rc, *rs;
	Span *cr, *sr;
	uint8_t want_trace[16], want_client[8], want_server[8];

	(void)state;
	tls_client(&c, ev);
	tls_client(&sv, ev2);
	sv.role = ROLE_SERVER;
	one[0] = &c;
	rc = encode_and_unpack(one, 1);
	one[0] = &sv;
	rs = encode_and_unpack(one, 1);
	cr = rc->resource_spans[0]->scope_spans[0]->spans[0];
	sr = rs->resource_spans[0]->scope_spans[0]->spans[0];
	conn_id_trace_id(c.conn_id, want_trace);
	conn_id_span_id(c.conn_id, ROLE_CLIENT, want_client);
	conn_id_span_id(c.conn_id, ROLE_SERVER, want_server);
	assert_memory_equal(cr->trace_id.data, want_trace, 16);
	assert_memory_equal(sr->trace_id.data, want_trace, 16);
	assert_memory_equal(cr->span_id.data, want_client, 8);
	assert_memory_equal(sr->span_id.data, want_server, 8);
	assert_int_equal(cr->parent_span_id.len, 0);
	assert_int_equal(sr->parent_span_id.len, 8);
	assert_memory_equal(sr->parent_span_id.data, cr->span_id.data, 8);
	assert_int_equal(cr->kind, KIND_CLIENT);
	assert_int_equal(sr->kind, KIND_SERVER);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		rc, NULL);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		rs, NULL);
}

static void test_empty_request(void **state)
{
	TraceRequest *req;

	(void)state;
	req = encode_and_unpack(NULL, 0);
	assert_int_equal(req->n_resource_spans, 1);
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 0);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
}

static void test_phase_span_ids(void **state)
{
	uint8_t root[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, a[8], b[8];
	size_t i, j;

	(void)state;
	for (i = 0; i < TL_MAX_PHASES; i++) {
		otlp_phase_span_id(root, i, a);
		assert_memory_not_equal(a, root, 8);
		for (j = i + 1; j < TL_MAX_PHASES; j++) {
			otlp_phase_span_id(root, j, b);
			assert_memory_not_equal(a, b, 8);
		}
		otlp_phase_span_id(root, i, b);
		assert_memory_equal(a, b, 8); /* derived: the same every time */
	}
}

static const Metric *find_metric(const MetricsRequest *req, const char *name)
{
	const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm =
		req->resource_metrics[0]->scope_metrics[0];
	size_t i;

	for (i = 0; i < sm->n_metrics; i++)
		if (!strcmp(sm->metrics[i]->name, name))
			return sm->metrics[i];
	return NULL;
}

static void test_metrics(void **state)
{
	struct tl_event ev[8], ev2[3], ev3[8];
	struct timeline tl, tl2, tl3;
	struct metrics_opts mo = { .version = "9.9-test" };
	struct otlp_metrics *m = otlp_metrics_new(&mo);
	struct otlp_self_stats self = { .exported = 5, .dropped = 2, .records_lost = 11,
					.records_unmatched = 12, .records_dropped = 13,
					.records_malformed = 14, .process_known = true,
					.cpu_seconds = 1.25, .rss_bytes = 4096000 };
	static const char *const records[] = { "hstrace.records.lost", "hstrace.records.unmatched",
						"hstrace.records.dropped",
						"hstrace.records.malformed" };
	const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *d;
	struct otlp_resource res = { .host_name = "testhost" };
	const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;
	const Metric *conns, *total, *tlsh, *alerts, *info, *cpu, *rss;
	MetricsRequest *req;
	uint8_t *buf;
	size_t len, i;
	uint64_t sum;

	(void)state;
	assert_non_null(m);
	tls_client(&tl, ev);
	refused_client(&tl2, ev2);
	assert_int_equal(otlp_metrics_add(m, &tl), 0);
	assert_int_equal(otlp_metrics_add(m, &tl), 0);
	assert_int_equal(otlp_metrics_add(m, &tl2), 0);
	/* A client whose server sent a fatal bad_certificate alert. */
	tls_client(&tl3, ev3);
	tl3.result = RESULT_TLS_ALERT;
	tl3.tls.has_alert = true;
	tl3.tls.alert_level = 2;
	tl3.tls.alert_desc = 42;
	tl3.tls.alert_dir = DIR_IN;
	tl3.n_phases = 0;
	assert_int_equal(otlp_metrics_add(m, &tl3), 0);
	assert_int_equal(otlp_encode_metrics(&res, m, &self, 100, 200, &buf, &len), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	free(buf);
	assert_non_null(req);

	conns = find_metric(req, "hstrace.connections");
	assert_non_null(conns);
	assert_int_equal(conns->data_case, DATA_SUM);
	assert_true(conns->sum->is_monotonic);
	assert_int_equal(conns->sum->aggregation_temporality,
			 CUMULATIVE);
	for (i = 0, sum = 0; i < conns->sum->n_data_points; i++) {
		const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *d =
			conns->sum->data_points[i];
		const char *role = attr_s(d->attributes, d->n_attributes, "role");
		const char *result = attr_s(d->attributes, d->n_attributes, "result");

		assert_int_equal(d->n_attributes, 2); /* no --metrics-by label */
		assert_int_equal(d->start_time_unix_nano, 100);
		assert_int_equal(d->time_unix_nano, 200);
		if (!strcmp(role, "client") && !strcmp(result, "ok"))
			assert_int_equal(d->as_int, 2);
		else if (!strcmp(role, "client") && !strcmp(result, "refused"))
			assert_int_equal(d->as_int, 1);
		else if (!strcmp(role, "client") && !strcmp(result, "tls_alert"))
			assert_int_equal(d->as_int, 1);
		else
			assert_int_equal(d->as_int, 0);
		sum += (uint64_t)d->as_int;
	}
	assert_int_equal(sum, 4);
	alerts = find_metric(req, "hstrace.tls.alerts");
	assert_non_null(alerts);
	assert_int_equal(alerts->sum->n_data_points, 1);
	assert_int_equal(alerts->sum->data_points[0]->as_int, 1);
	assert_string_equal(attr_s(alerts->sum->data_points[0]->attributes,
				   alerts->sum->data_points[0]->n_attributes, "description"),
			    "bad_certificate");
	assert_string_equal(attr_s(alerts->sum->data_points[0]->attributes,
				   alerts->sum->data_points[0]->n_attributes, "sender"),
			    "server");

	/* total: 2 points (TLS 1.2 client, and the refused one without a TLS version). */
	total = find_metric(req, "hstrace.total.duration");
	assert_non_null(total);
	assert_string_equal(total->unit, "s");
	assert_int_equal(total->data_case, DATA_HISTOGRAM);
	assert_int_equal(total->histogram->n_data_points, 2);
	tlsh = find_metric(req, "hstrace.tls_handshake.duration");
	assert_non_null(tlsh);
	assert_int_equal(tlsh->histogram->n_data_points, 1);
	p = tlsh->histogram->data_points[0];
	assert_string_equal(attr_s(p->attributes, p->n_attributes, "role"), "client");
	assert_string_equal(attr_s(p->attributes, p->n_attributes, "tls_version"), "1.2");
	assert_int_equal(p->count, 2);
	assert_int_equal(p->n_explicit_bounds, OTLP_N_BOUNDS);
	assert_int_equal(p->n_bucket_counts, OTLP_N_BOUNDS + 1);
	assert_true(p->explicit_bounds[0] > 9.99e-6 && p->explicit_bounds[0] < 10.01e-6);
	assert_true(p->explicit_bounds[OTLP_N_BOUNDS - 1] > 29.99 &&
		    p->explicit_bounds[OTLP_N_BOUNDS - 1] < 30.01);
	/* 50.28 ms: in the (50 ms, 100 ms] bucket. */
	for (i = 0; i < p->n_bucket_counts; i++)
		assert_int_equal(p->bucket_counts[i],
				 i > 0 && p->explicit_bounds[i - 1] > 0.049 &&
						 p->explicit_bounds[i - 1] < 0.051
					 ? 2
					 : 0);
	assert_true(p->sum > 2 * 0.05027 && p->sum < 2 * 0.05029);
	assert_true(p->min > 0.05027 && p->min < 0.05029);
	assert_true(p->max > 0.05027 && p->max < 0.05029);

	assert_int_equal(find_metric(req, "hstrace.otlp.dropped")->sum->data_points[0]->as_int, 2);
	assert_int_equal(find_metric(req, "hstrace.otlp.exported")->sum->data_points[0]->as_int,
			 5);

	/* The record counters (hstrace_records_*_total): monotonic cumulative int sums, one point
	 * without attributes each. */
	for (i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		const Metric *r = find_metric(req, records[i]);

		assert_non_null(r);
		assert_string_equal(r->unit, "{record}");
		assert_int_equal(r->data_case, DATA_SUM);
		assert_true(r->sum->is_monotonic);
		assert_int_equal(r->sum->aggregation_temporality, CUMULATIVE);
		assert_int_equal(r->sum->n_data_points, 1);
		d = r->sum->data_points[0];
		assert_int_equal(d->n_attributes, 0);
		assert_int_equal(d->value_case, VALUE_AS_INT);
		assert_int_equal(d->as_int, 11 + i);
		assert_int_equal(d->start_time_unix_nano, 100);
		assert_int_equal(d->time_unix_nano, 200);
	}
	/* hstrace_build_info: a gauge of 1 with the version. */
	info = find_metric(req, "hstrace.build_info");
	assert_non_null(info);
	assert_int_equal(info->data_case, DATA_GAUGE);
	assert_string_equal(info->unit, ""); /* no unit: no suffix in Prometheus */
	assert_int_equal(info->gauge->n_data_points, 1);
	d = info->gauge->data_points[0];
	assert_int_equal(d->value_case, VALUE_AS_INT);
	assert_int_equal(d->as_int, 1);
	assert_int_equal(d->n_attributes, 1);
	assert_string_equal(attr_s(d->attributes, d->n_attributes, "version"), "9.9-test");
	/* hstrace_process_cpu_seconds_total: a monotonic sum in s; the RSS: a gauge in By. */
	cpu = find_metric(req, "hstrace.process.cpu");
	assert_non_null(cpu);
	assert_string_equal(cpu->unit, "s");
	assert_int_equal(cpu->data_case, DATA_SUM);
	assert_true(cpu->sum->is_monotonic);
	assert_int_equal(cpu->sum->aggregation_temporality, CUMULATIVE);
	assert_int_equal(cpu->sum->n_data_points, 1);
	assert_int_equal(cpu->sum->data_points[0]->value_case, VALUE_AS_DOUBLE);
	assert_true(cpu->sum->data_points[0]->as_double == 1.25);
	rss = find_metric(req, "hstrace.process.resident_memory");
	assert_non_null(rss);
	assert_string_equal(rss->unit, "By");
	assert_int_equal(rss->data_case, DATA_GAUGE);
	assert_int_equal(rss->gauge->n_data_points, 1);
	assert_int_equal(rss->gauge->data_points[0]->value_case, VALUE_AS_INT);
	assert_int_equal(rss->gauge->data_points[0]->as_int, 4096000);
	assert_int_equal(rss->gauge->data_points[0]->time_unix_nano, 200);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);

	/* CPU and memory that could not be read are left out; the rest is still sent. */
	self.process_known = false;
	assert_int_equal(otlp_encode_metrics(&res, m, &self, 100, 300, &buf, &len), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	free(buf);
	assert_non_null(req);
	assert_null(find_metric(req, "hstrace.process.cpu"));
	assert_null(find_metric(req, "hstrace.process.resident_memory"));
	assert_non_null(find_metric(req, "hstrace.records.malformed"));
	assert_non_null(find_metric(req, "hstrace.build_info"));
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	otlp_metrics_free(m);
}

/* The Prometheus sample line "name{labels} value" holding v, in text. */
static void assert_prom_sample(const char *text, const char *series, uint64_t v)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s %llu\n", series, (unsigned long long)v);
	if (!strstr(text, want))
		fail_msg("no sample %s in:\n%s", want + 1, text);
}

/* The label set text {role="client",result="ok",server_name="x"} of a point's attributes,
 * in the Prometheus family's label order; an attribute left out is the empty value. */
static void prom_labels(KeyValue **kv, size_t n, const char *const *names, size_t n_names,
			char *buf, size_t len)
{
	size_t i, off = 0;

	for (i = 0; i < n_names; i++) {
		const char *v = attr_s(kv, n, names[i]);

		off += (size_t)snprintf(buf + off, len - off, "%s%s=\"%s\"", i ? "," : "{",
					names[i], v ? v : "");
	}
	snprintf(buf + off, len - off, "}");
}

/*
 * --metrics-by sni with a cap of 3 (the Prometheus test's sequence, test_metrics.c): the first
 * 3 server names get their own series, later ones are summed as "other", a connection without
 * SNI has no server_name attribute and does not use up the cap. Every point equals the sample
 * of the same labels on the Prometheus endpoint fed the same connections.
 */
static void test_metrics_by_sni_capped(void **state)
{
	struct metrics_opts mo = { .by = METRICS_BY_SNI, .max_values = 3, .version = "t" };
	struct otlp_metrics *m = otlp_metrics_new(&mo);
	struct metrics *prom = metrics_new(&mo);
	static const char *const conn_labels[] = { "role", "result", "server_name" };
	static const char *const hist_labels[] = { "role", "tls_version", "server_name" };
	const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm;
	const Metric *conns, *tlsh;
	struct tl_event ev[8];
	struct timeline tl;
	MetricsRequest *req;
	char labels[512], series[768], *text;
	uint8_t *buf;
	size_t len, i, j, n_checked = 0;
	int k;

	(void)state;
	assert_non_null(m);
	assert_non_null(prom);
	tls_client(&tl, ev);
	tl.tls.seen = false; /* no TLS seen: no server_name, no tls_version */
	tl.tls.version = 0;
	assert_int_equal(otlp_metrics_add(m, &tl), 0);
	assert_int_equal(metrics_observe_timeline(prom, &tl), 0);
	tl.tls.seen = true;
	tl.tls.version = 0x0303;
	for (k = 0; k < 8; k++) {
		/* s0 .. s6, then s1 again (kept before the cap: still its own) */
		snprintf(tl.tls.sni, sizeof(tl.tls.sni), "s%d.example", k < 7 ? k : 1);
		assert_int_equal(otlp_metrics_add(m, &tl), 0);
		assert_int_equal(metrics_observe_timeline(prom, &tl), 0);
	}
	assert_int_equal(otlp_encode_metrics(NULL, m, NULL, 1, 2, &buf, &len), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	free(buf);
	assert_non_null(req);
	assert_int_equal(metrics_render(prom, &text, &len), 0);

	conns = find_metric(req, "hstrace.connections");
	assert_non_null(conns);
	/* "", s0, s1, s2, other: no zero series without the label (as Prometheus) */
	assert_int_equal(conns->sum->n_data_points, 5);
	for (i = 0; i < conns->sum->n_data_points; i++) {
		const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *d =
			conns->sum->data_points[i];
		const char *sni = attr_s(d->attributes, d->n_attributes, "server_name");

		assert_string_equal(attr_s(d->attributes, d->n_attributes, "role"), "client");
		assert_string_equal(attr_s(d->attributes, d->n_attributes, "result"), "ok");
		if (!sni)
			assert_int_equal(d->as_int, 1);
		else if (!strcmp(sni, "other"))
			assert_int_equal(d->as_int, 4);
		else if (!strcmp(sni, "s1.example"))
			assert_int_equal(d->as_int, 2);
		else
			assert_true((!strcmp(sni, "s0.example") || !strcmp(sni, "s2.example")) &&
				    d->as_int == 1);
		prom_labels(d->attributes, d->n_attributes, conn_labels, 3, labels,
			    sizeof(labels));
		snprintf(series, sizeof(series), "hstrace_connections_total%s", labels);
		assert_prom_sample(text, series, (uint64_t)d->as_int);
		n_checked++;
	}
	tlsh = find_metric(req, "hstrace.tls_handshake.duration");
	assert_non_null(tlsh);
	assert_int_equal(tlsh->histogram->n_data_points, 5);
	for (i = 0; i < tlsh->histogram->n_data_points; i++) {
		const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p =
			tlsh->histogram->data_points[i];
		const char *sni = attr_s(p->attributes, p->n_attributes, "server_name");

		assert_true(!sni == !attr_s(p->attributes, p->n_attributes, "tls_version"));
		assert_int_equal(p->count, sni && !strcmp(sni, "other") ? 4
					   : sni && !strcmp(sni, "s1.example") ? 2 : 1);
	}
	/* Every histogram point's count is the Prometheus _count of the same labels. */
	sm = req->resource_metrics[0]->scope_metrics[0];
	for (i = 0; i < sm->n_metrics; i++) {
		const Metric *h = sm->metrics[i];
		char fam[128];

		if (h->data_case != DATA_HISTOGRAM)
			continue;
		assert_int_equal(sscanf(h->name, "hstrace.%100[a-z_].duration", fam), 1);
		for (j = 0; j < h->histogram->n_data_points; j++) {
			const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p =
				h->histogram->data_points[j];

			prom_labels(p->attributes, p->n_attributes, hist_labels, 3, labels,
				    sizeof(labels));
			snprintf(series, sizeof(series), "hstrace_%s_duration_seconds_count%s", fam,
				 labels);
			assert_prom_sample(text, series, p->count);
			n_checked++;
		}
	}
	assert_int_equal(n_checked, 5 + 4 * 5); /* 4 phases, each with the 5 label values */
	assert_null(strstr(text, "s3.example"));
	free(text);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	metrics_free(prom);
	otlp_metrics_free(m);
}

/* --metrics-by port: a client's value is its peer's port, a server's its own; an aggregation
 * without the label (NULL options) has neither the label nor build info. */
static void test_metrics_by_port(void **state)
{
	struct metrics_opts mo = { .by = METRICS_BY_PORT };
	struct otlp_metrics *m = otlp_metrics_new(&mo);
	const Metric *conns;
	struct tl_event ev[8];
	struct timeline tl;
	MetricsRequest *req;
	uint8_t *buf;
	size_t len, i;
	uint64_t seen = 0;

	(void)state;
	assert_non_null(m);
	tls_client(&tl, ev); /* rport 443 */
	assert_int_equal(otlp_metrics_add(m, &tl), 0);
	tl.role = ROLE_SERVER; /* lport 53430 */
	assert_int_equal(otlp_metrics_add(m, &tl), 0);
	assert_int_equal(otlp_encode_metrics(NULL, m, NULL, 1, 2, &buf, &len), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	free(buf);
	assert_non_null(req);
	conns = find_metric(req, "hstrace.connections");
	assert_int_equal(conns->sum->n_data_points, 2);
	for (i = 0; i < 2; i++) {
		const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *d =
			conns->sum->data_points[i];
		const char *role = attr_s(d->attributes, d->n_attributes, "role");
		const char *port = attr_s(d->attributes, d->n_attributes, "port");

		assert_int_equal(d->as_int, 1);
		assert_string_equal(port, !strcmp(role, "client") ? "443" : "53430");
		seen |= !strcmp(role, "client") ? 1 : 2;
	}
	assert_int_equal(seen, 3);
	assert_null(find_metric(req, "hstrace.build_info")); /* no version given */
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	otlp_metrics_free(m);
}

/* A value on a bucket bound falls in that bucket (upper bounds are inclusive). */
static void test_bucket_bounds(void **state)
{
	struct tl_event ev[2] = { EV(0, HS_EV_SYN_SENT, DIR_OUT),
				  EV(10000, HS_EV_CLOSED, DIR_NONE) };
	struct timeline tl = { .events = ev, .n_events = 2, .start_ns = BASE,
			       .start_wall_ns = WALL, .role = ROLE_SERVER };
	struct otlp_metrics *m = otlp_metrics_new(NULL);
	MetricsRequest *req;
	const Metric *total;
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_true(tl_phase_add(&tl, "total", 0, TL_AT_WIRE, 1, TL_AT_WIRE));
	assert_int_equal(otlp_metrics_add(m, &tl), 0);
	assert_int_equal(otlp_encode_metrics(NULL, m, NULL, 1, 2, &buf, &len), 0);
	req = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, len, buf);
	free(buf);
	assert_non_null(req);
	total = find_metric(req, "hstrace.total.duration");
	assert_int_equal(total->histogram->data_points[0]->bucket_counts[0], 1);
	assert_null(find_metric(req, "hstrace.otlp.dropped"));
	assert_null(find_metric(req, "hstrace.records.lost")); /* no self stats */
	assert_null(find_metric(req, "hstrace.build_info"));   /* no version */
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(
		req, NULL);
	otlp_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_tree),
		cmocka_unit_test(test_trace_ids_from_conn_id),
		cmocka_unit_test(test_empty_request),
		cmocka_unit_test(test_phase_span_ids),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_metrics_by_sni_capped),
		cmocka_unit_test(test_metrics_by_port),
		cmocka_unit_test(test_bucket_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
