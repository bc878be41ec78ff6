// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * otlp.c - OTLP trace and metric requests from finished timelines (see otlp.h, docs/otlp.md).
 *
 * A request is a tree of protobuf-c structures: every node, array and string of one request is
 * taken from an arena (a few large blocks) and freed at once after protobuf_c_message_pack().
 * Attribute names follow the OpenTelemetry semantic conventions where one exists; the rest are
 * hstrace.*. Every name is an interface (dashboards query it): only add, never rename.
 */
#define _GNU_SOURCE /* strerrorname_np() */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/random.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include "conn_id.h"
#include "otlp.h"
#include "present.h"
#include "render_timeline.h"
#include "report.h"
#include "tls_parse.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__ArrayValue ArrayValue;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope Scope;
typedef Opentelemetry__Proto__Resource__V1__Resource Resource;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event SpanEvent;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__Sum Sum;
typedef Opentelemetry__Proto__Metrics__V1__Histogram Histogram;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__ScopeMetrics ScopeMetrics;
typedef Opentelemetry__Proto__Metrics__V1__ResourceMetrics ResourceMetrics;
typedef Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest MetricsRequest;

/* The generated names, shorter. */
#define KIND_CLIENT OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
#define KIND_SERVER OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER
#define KIND_INTERNAL OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL
#define STATUS_ERROR OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
#define CUMULATIVE \
	OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define VALUE_STRING OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define VALUE_INT OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
#define VALUE_BOOL OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE
#define VALUE_ARRAY OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE
#define DATA_SUM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM
#define DATA_HISTOGRAM OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM
#define TRACE_REQUEST_INIT \
	OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT
#define METRICS_REQUEST_INIT \
	OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT

#define SCOPE_NAME "hstrace"
#define SCOPE_VERSION "0.1"
#define SERVICE_NAME "hstrace"

/* ---- arena ---- */

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct arena_block *head;
	bool failed; /* an allocation failed: the request is not built */
};

#define ARENA_BLOCK (64 * 1024)

/* Returns n zeroed bytes that live until arena_free(), or NULL (and a->failed) when out of
 * memory. */
static void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_block *b = a->head;
	void *p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (a->failed)
		return NULL;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;

		b = malloc(sizeof(*b) + cap);
		if (!b) {
			a->failed = true;
			return NULL;
		}
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = (char *)b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

static void arena_free(struct arena *a)
{
	while (a->head) {
		struct arena_block *next = a->head->next;

		free(a->head);
		a->head = next;
	}
}

/* ---- strings ---- */

/* A copy of the first bytes of s (up to its NUL, at most max) in the arena, every byte that is
 * not valid UTF-8 replaced by U+FFFD: protobuf strings must be UTF-8, and comm, SNI and ALPN
 * come from processes and peers. */
static char *utf8_dup(struct arena *a, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strnlen(str, max), i = 0, o = 0;
	char *out = arena_alloc(a, n * 3 + 1);

	if (!out)
		return NULL;
	while (i < n) {
		size_t len = present_utf8_seq_len(s + i, n - i);

		if (len) {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---- attributes ---- */

/* A span's attributes as they are collected (at most ATTRS_MAX; more are counted dropped). */
#define ATTRS_MAX 48

struct attrs {
	struct arena *a;
	KeyValue *kv[ATTRS_MAX];
	size_t n;
	uint32_t dropped;
};

static AnyValue *attr_slot(struct attrs *at, const char *key)
{
	KeyValue *kv;
	AnyValue *v;

	if (at->n >= ATTRS_MAX) {
		at->dropped++;
		return NULL;
	}
	kv = arena_alloc(at->a, sizeof(*kv));
	v = arena_alloc(at->a, sizeof(*v));
	if (!kv || !v)
		return NULL;
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)key; /* keys are string literals or phase names: never freed */
	kv->value = v;
	at->kv[at->n++] = kv;
	return v;
}

/* Adds a string attribute; val is copied (made valid UTF-8, at most max bytes). */
static void attr_str_max(struct attrs *at, const char *key, const char *val, size_t max)
{
	AnyValue *v = attr_slot(at, key);

	if (!v)
		return;
	v->value_case = VALUE_STRING;
	v->string_value = utf8_dup(at->a, val, max);
	if (!v->string_value)
		v->string_value = (char *)"";
}

static void attr_str(struct attrs *at, const char *key, const char *val)
{
	attr_str_max(at, key, val, 4096);
}

static void attr_int(struct attrs *at, const char *key, int64_t val)
{
	AnyValue *v = attr_slot(at, key);

	if (!v)
		return;
	v->value_case = VALUE_INT;
	v->int_value = val;
}

static void attr_bool(struct attrs *at, const char *key, bool val)
{
	AnyValue *v = attr_slot(at, key);

	if (!v)
		return;
	v->value_case = VALUE_BOOL;
	v->bool_value = val;
}

/* Adds a string-array attribute of n strings (each at most max bytes). */
static void attr_str_array(struct attrs *at, const char *key, const char *const *vals,
			   size_t n, size_t max)
{
	AnyValue *v = attr_slot(at, key), **items;
	ArrayValue *arr;
	size_t i;

	if (!v)
		return;
	arr = arena_alloc(at->a, sizeof(*arr));
	items = arena_alloc(at->a, (n ? n : 1) * sizeof(*items));
	if (!arr || !items)
		return;
	opentelemetry__proto__common__v1__array_value__init(arr);
	for (i = 0; i < n; i++) {
		items[i] = arena_alloc(at->a, sizeof(**items));
		if (!items[i])
			return;
		opentelemetry__proto__common__v1__any_value__init(items[i]);
		items[i]->value_case = VALUE_STRING;
		items[i]->string_value = utf8_dup(at->a, vals[i], max);
		if (!items[i]->string_value)
			return;
	}
	arr->n_values = n;
	arr->values = items;
	v->value_case = VALUE_ARRAY;
	v->array_value = arr;
}

/* Moves the collected attributes into the arena: *n and *kv for a message. */
static void attrs_finish(struct attrs *at, size_t *n, KeyValue ***kv)
{
	KeyValue **arr = arena_alloc(at->a, (at->n ? at->n : 1) * sizeof(*arr));

	*n = 0;
	*kv = NULL;
	if (!arr || !at->n)
		return;
	memcpy(arr, at->kv, at->n * sizeof(*arr));
	*n = at->n;
	*kv = arr;
}

/* name, or the IANA number as "0x%04X" when this build has no name for it (as docs/json.md). */
static void attr_name_or_hex(struct attrs *at, const char *key, const char *name, uint16_t id)
{
	char buf[8];

	if (!name) {
		snprintf(buf, sizeof(buf), "0x%04X", id);
		name = buf;
	}
	attr_str(at, key, name);
}

/* ---- resource and scope ---- */

static Resource *make_resource(struct arena *a, const struct otlp_resource *res)
{
	Resource *r = arena_alloc(a, sizeof(*r));
	struct attrs at = { .a = a };

	if (!r)
		return NULL;
	opentelemetry__proto__resource__v1__resource__init(r);
	attr_str(&at, "service.name", SERVICE_NAME);
	attr_str(&at, "service.version", SCOPE_VERSION);
	if (res && res->host_name && res->host_name[0])
		attr_str(&at, "host.name", res->host_name);
	attrs_finish(&at, &r->n_attributes, &r->attributes);
	return r;
}

static Scope *make_scope(struct arena *a)
{
	Scope *s = arena_alloc(a, sizeof(*s));

	if (!s)
		return NULL;
	opentelemetry__proto__common__v1__instrumentation_scope__init(s);
	s->name = (char *)SCOPE_NAME;
	s->version = (char *)SCOPE_VERSION;
	return s;
}

/* ---- ids ---- */

int otlp_span_ids_for(const struct timeline *tl, struct otlp_span_ids *ids)
{
	uint8_t buf[24];
	size_t got = 0;
	ssize_t n;

	memset(ids->parent_span_id, 0, sizeof(ids->parent_span_id));
	/* Both ends of a connection, on any host: one trace, the server's connection span a
	 * child of the client's (conn_id.h), with nothing passed between the hosts. */
	if (tl->conn_id && (tl->role == ROLE_CLIENT || tl->role == ROLE_SERVER)) {
		conn_id_trace_id(tl->conn_id, ids->trace_id);
		conn_id_span_id(tl->conn_id, tl->role, ids->span_id);
		if (tl->role == ROLE_SERVER)
			conn_id_span_id(tl->conn_id, ROLE_CLIENT, ids->parent_span_id);
		return 0;
	}
	while (got < sizeof(buf)) {
		n = getrandom(buf + got, sizeof(buf) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	memcpy(ids->trace_id, buf, 16);
	memcpy(ids->span_id, buf + 16, 8);
	/* All-zero ids are invalid (W3C trace context). */
	ids->trace_id[15] |= ids->trace_id[0] ? 0 : 1;
	ids->span_id[7] |= ids->span_id[0] ? 0 : 1;
	return 0;
}

/* splitmix64's finaliser: a bijection on 64-bit values. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void otlp_phase_span_id(const uint8_t root_span_id[8], size_t index, uint8_t out[8])
{
	uint64_t root = 0, id;
	int i;

	for (i = 0; i < 8; i++)
		root = root << 8 | root_span_id[i];
	/* Distinct indexes give distinct inputs, so distinct outputs (mix64 is a bijection). */
	id = mix64(root + 0x9e3779b97f4a7c15ULL * (uint64_t)(index + 1));
	if (!id)
		id = 1;
	for (i = 7; i >= 0; i--) {
		out[i] = (uint8_t)id;
		id >>= 8;
	}
}

/* ---- traces ---- */

size_t otlp_span_count(const struct timeline *tl)
{
	return 1 + (tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES);
}

static ProtobufCBinaryData bin_dup(struct arena *a, const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = { 0, NULL };
	uint8_t *d = arena_alloc(a, n);

	if (d) {
		memcpy(d, p, n);
		b.len = n;
		b.data = d;
	}
	return b;
}

/* CLOCK_MONOTONIC ns of tl -> UTC ns since the epoch. */
static uint64_t wall_ns(const struct timeline *tl, uint64_t mono_ns)
{
	int64_t w = tl->start_wall_ns + (int64_t)(mono_ns - tl->start_ns);

	return w > 0 ? (uint64_t)w : 0;
}

static const char *dir_name(uint8_t dir)
{
	return dir == DIR_OUT ? "out" : dir == DIR_IN ? "in" : NULL;
}

/* The TLS attributes of the connection span. */
static void tls_attrs(struct attrs *at, const struct timeline *tl)
{
	const struct tl_tls *t = &tl->tls;
	const char *alpn[TL_MAX_ALPN];
	size_t i, n;

	if (!t->seen)
		return;
	if (t->sni[0]) {
		attr_str_max(at, "server.address", t->sni, sizeof(t->sni));
		attr_str_max(at, "tls.client.server_name", t->sni, sizeof(t->sni));
	}
	if (t->version) {
		attr_str(at, "tls.protocol.name", "tls");
		attr_name_or_hex(at, "tls.protocol.version", tls_version_name(t->version),
				 t->version);
	}
	if (t->has_cipher)
		attr_name_or_hex(at, "tls.cipher", tls_cipher_name(t->cipher), t->cipher);
	if (t->has_group)
		attr_name_or_hex(at, "tls.curve", tls_group_name(t->group), t->group);
	if (t->resumed >= 0)
		attr_bool(at, "tls.resumed", t->resumed > 0);
	attr_bool(at, "tls.established", t->handshake_done);
	if (t->alpn_selected[0])
		attr_str_max(at, "tls.next_protocol", t->alpn_selected, TL_ALPN_LEN);
	n = t->n_alpn_offered < TL_MAX_ALPN ? t->n_alpn_offered : TL_MAX_ALPN;
	for (i = 0; i < n; i++)
		alpn[i] = t->alpn_offered[i];
	if (n)
		attr_str_array(at, "hstrace.tls.alpn_offered", alpn, n, TL_ALPN_LEN);
	if (t->has_certs) {
		attr_int(at, "hstrace.tls.cert_chain.count", t->cert_count);
		attr_int(at, "hstrace.tls.cert_chain.bytes", t->cert_bytes);
	}
	if (t->has_alert) {
		if (t->alert_level) {
			const char *d = tls_alert_name(t->alert_desc);
			char buf[8];

			if (!d) {
				snprintf(buf, sizeof(buf), "%u", t->alert_desc);
				d = buf;
			}
			attr_str(at, "hstrace.tls.alert.level",
				 t->alert_level == 1 ? "warning" : t->alert_level == 2 ? "fatal"
										  : "unknown");
			attr_str(at, "hstrace.tls.alert.description", d);
		}
		if (dir_name(t->alert_dir))
			attr_str(at, "hstrace.tls.alert.dir", dir_name(t->alert_dir));
	}
	if (t->verify)
		attr_str(at, "hstrace.tls.verify", t->verify == 1 ? "ok" : "failed");
	if (t->desync)
		attr_bool(at, "hstrace.tls.desync", true);
	if (t->ttfb_estimated)
		attr_bool(at, "hstrace.tls.ttfb_estimated", true);
	if (t->library[0])
		attr_str_max(at, "hstrace.tls.library", t->library, sizeof(t->library));
	attr_int(at, "hstrace.tls.app_bytes.out", (int64_t)t->app_bytes[DIR_OUT]);
	attr_int(at, "hstrace.tls.app_bytes.in", (int64_t)t->app_bytes[DIR_IN]);
}

/* Every attribute of the connection (root) span. */
static void conn_attrs(struct attrs *at, const struct timeline *tl)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} srcs[] = {
		{ TL_SRC_KERNEL_TCP, "kernel-tcp" },
		{ TL_SRC_KERNEL_TLS, "kernel-tls" },
		{ TL_SRC_OPENSSL, "openssl" },
	};
	const char *src[3];
	char addr[PRESENT_ADDR_LEN], cookie[24];
	size_t i, n = 0;

	present_addr(tl, false, addr, sizeof(addr));
	attr_str(at, "network.peer.address", addr);
	attr_int(at, "network.peer.port", tl->rport);
	present_addr(tl, true, addr, sizeof(addr));
	attr_str(at, "network.local.address", addr);
	attr_int(at, "network.local.port", tl->lport);
	attr_str(at, "network.transport", "tcp");
	attr_str(at, "network.type", tl->ip_version == 6 ? "ipv6" : "ipv4");
	if (tl->pid) {
		attr_int(at, "process.pid", tl->pid);
		attr_str_max(at, "process.executable.name", tl->comm, sizeof(tl->comm));
		attr_str_max(at, "hstrace.comm", tl->comm, sizeof(tl->comm));
	}
	if (timeline_failed(tl))
		attr_str(at, "error.type", tl_result_name(tl->result));
	attr_str(at, "hstrace.result", tl_result_name(tl->result));
	attr_str(at, "hstrace.role", tl_role_name(tl->role));
	/* A cookie is a u64: as a decimal string, since OTLP integers are signed. */
	snprintf(cookie, sizeof(cookie), "%llu", (unsigned long long)tl->cookie);
	attr_str(at, "hstrace.cookie", cookie);
	if (tl->conn_id) { /* the same on both ends (conn_id.h), as the NDJSON's conn_id */
		char id[CONN_ID_HEX_LEN];

		attr_str(at, "hstrace.conn_id", conn_id_format(tl->conn_id, id));
	}
	attr_int(at, "hstrace.tcp.syn_retransmits", tl->syn_retransmits);
	attr_int(at, "hstrace.tcp.srtt_us", tl->srtt_us);
	attr_int(at, "hstrace.tcp.bytes_sent", (int64_t)tl->bytes_sent);
	attr_int(at, "hstrace.tcp.bytes_received", (int64_t)tl->bytes_received);
	if (tl->sk_err) {
		const char *e = strerrorname_np(tl->sk_err < 0 ? -tl->sk_err : tl->sk_err);
		char buf[16];

		if (!e) {
			snprintf(buf, sizeof(buf), "%d", tl->sk_err < 0 ? -tl->sk_err : tl->sk_err);
			e = buf;
		}
		attr_str(at, "hstrace.tcp.error", e);
	}
	tls_attrs(at, tl);
	if (tl->tls_api.seen) {
		attr_int(at, "hstrace.tls_api.calls", tl->tls_api.calls);
		attr_int(at, "hstrace.tls_api.inside_us", (int64_t)(tl->tls_api.inside_ns / 1000));
		attr_int(at, "hstrace.tls_api.result", tl->tls_api.result);
	}
	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		if (tl->sources & srcs[i].bit)
			src[n++] = srcs[i].name;
	attr_str_array(at, "hstrace.sources", src, n, 32);
}

static SpanEvent *make_event(struct arena *a, const struct timeline *tl,
			     const struct tl_event *ev)
{
	SpanEvent *e = arena_alloc(a, sizeof(*e));
	struct attrs at = { .a = a };

	if (!e)
		return NULL;
	opentelemetry__proto__trace__v1__span__event__init(e);
	e->name = (char *)tl_event_name(ev->event);
	e->time_unix_nano = wall_ns(tl, ev->ts_ns);
	if (dir_name(ev->dir))
		attr_str(&at, "dir", dir_name(ev->dir));
	if (ev->len)
		attr_int(&at, "len", ev->len);
	if (ev->records)
		attr_int(&at, "records", ev->records);
	if (ev->app_ns)
		attr_int(&at, "app_time_unix_nano", (int64_t)wall_ns(tl, ev->app_ns));
	if (ev->derived)
		attr_bool(&at, "derived", true);
	if (ev->estimated)
		attr_bool(&at, "estimated", true);
	attrs_finish(&at, &e->n_attributes, &e->attributes);
	e->dropped_attributes_count = at.dropped;
	return e;
}

static Span *new_span(struct arena *a, const struct otlp_span_ids *ids)
{
	Span *s = arena_alloc(a, sizeof(*s));

	if (!s)
		return NULL;
	opentelemetry__proto__trace__v1__span__init(s);
	s->trace_id = bin_dup(a, ids->trace_id, sizeof(ids->trace_id));
	return s;
}

/* Appends the root span and one span per phase of tl to spans[*n...]. Returns 0 or -errno. */
static int timeline_spans(struct arena *a, const struct timeline *tl, Span **spans, size_t *n)
{
	static const uint8_t zero[8];
	struct otlp_span_ids ids;
	struct attrs at = { .a = a };
	uint64_t start, end;
	size_t i, np = tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES;
	Span *root;
	int err;

	err = otlp_span_ids_for(tl, &ids);
	if (err)
		return err;
	/* The connection spans its first to its last event, and every phase (an estimated one
	 * could lie outside). */
	start = tl->n_events ? tl->events[0].ts_ns : tl->start_ns;
	end = tl->n_events ? tl->events[tl->n_events - 1].ts_ns : tl->start_ns;
	for (i = 0; i < np; i++) {
		if (!tl->phases[i].name)
			continue;
		if (tl->phases[i].start_ns < start)
			start = tl->phases[i].start_ns;
		if (tl->phases[i].end_ns > end)
			end = tl->phases[i].end_ns;
	}

	root = new_span(a, &ids);
	if (!root)
		return -ENOMEM;
	root->span_id = bin_dup(a, ids.span_id, 8);
	if (memcmp(ids.parent_span_id, zero, 8))
		root->parent_span_id = bin_dup(a, ids.parent_span_id, 8);
	root->name = (char *)(tl->tls.seen ? "tls connection" : "tcp connection");
	root->kind = tl->role == ROLE_CLIENT   ? KIND_CLIENT
		     : tl->role == ROLE_SERVER ? KIND_SERVER
					       : KIND_INTERNAL;
	root->start_time_unix_nano = wall_ns(tl, start);
	root->end_time_unix_nano = wall_ns(tl, end);
	conn_attrs(&at, tl);
	attrs_finish(&at, &root->n_attributes, &root->attributes);
	root->dropped_attributes_count = at.dropped;
	if (tl->n_events) {
		root->events = arena_alloc(a, tl->n_events * sizeof(*root->events));
		if (!root->events)
			return -ENOMEM;
		for (i = 0; i < tl->n_events; i++) {
			root->events[i] = make_event(a, tl, &tl->events[i]);
			if (!root->events[i])
				return -ENOMEM;
		}
		root->n_events = tl->n_events;
	}
	root->status = arena_alloc(a, sizeof(*root->status));
	if (!root->status)
		return -ENOMEM;
	opentelemetry__proto__trace__v1__status__init(root->status);
	if (timeline_failed(tl)) {
		root->status->code = STATUS_ERROR;
		root->status->message = (char *)tl_result_name(tl->result);
	}
	spans[(*n)++] = root;

	for (i = 0; i < np; i++) {
		const struct tl_phase *ph = &tl->phases[i];
		struct attrs pat = { .a = a };
		uint8_t sid[8];
		Span *s;

		if (!ph->name)
			continue;
		s = new_span(a, &ids);
		if (!s)
			return -ENOMEM;
		otlp_phase_span_id(ids.span_id, i, sid);
		s->span_id = bin_dup(a, sid, 8);
		s->parent_span_id = bin_dup(a, ids.span_id, 8);
		s->name = (char *)ph->name;
		s->kind = KIND_INTERNAL;
		s->start_time_unix_nano = wall_ns(tl, ph->start_ns);
		s->end_time_unix_nano = wall_ns(tl, ph->end_ns);
		attr_str(&pat, "hstrace.phase", ph->name);
		attr_int(&pat, "hstrace.phase.duration_ns", (int64_t)ph->dur_ns);
		attrs_finish(&pat, &s->n_attributes, &s->attributes);
		spans[(*n)++] = s;
	}
	return a->failed ? -ENOMEM : 0;
}

/* Packs msg into a malloc'ed buffer. Returns 0 or -ENOMEM. */
static int pack(const ProtobufCMessage *msg, uint8_t **out, size_t *out_len)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(len ? len : 1);

	if (!buf)
		return -ENOMEM;
	*out_len = protobuf_c_message_pack(msg, buf);
	*out = buf;
	return 0;
}

int otlp_encode_traces(const struct otlp_resource *res, const struct timeline *const *tls,
		       size_t n, uint8_t **out, size_t *out_len)
{
	struct arena a = {};
	TraceRequest req = TRACE_REQUEST_INIT;
	ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT, *rsp = &rs;
	ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT, *ssp = &ss;
	size_t i, total = 0;
	int err = 0;

	*out = NULL;
	*out_len = 0;
	for (i = 0; i < n; i++)
		total += otlp_span_count(tls[i]);
	rs.resource = make_resource(&a, res);
	ss.scope = make_scope(&a);
	ss.spans = arena_alloc(&a, (total ? total : 1) * sizeof(*ss.spans));
	if (!rs.resource || !ss.scope || !ss.spans)
		err = -ENOMEM;
	for (i = 0; i < n && !err; i++)
		err = timeline_spans(&a, tls[i], ss.spans, &ss.n_spans);
	if (!err && a.failed)
		err = -ENOMEM;
	if (!err) {
		rs.n_scope_spans = 1;
		rs.scope_spans = &ssp;
		req.n_resource_spans = 1;
		req.resource_spans = &rsp;
		err = pack(&req.base, out, out_len);
	}
	arena_free(&a);
	return err;
}

/* ---- metrics ---- */

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

static KeyValue **point_attrs(struct arena *a, size_t *n, const char *k1, const char *v1,
			      const char *k2, const char *v2)
{
	struct attrs at = { .a = a };
	KeyValue **kv;

	if (k1)
		attr_str(&at, k1, v1);
	if (k2)
		attr_str(&at, k2, v2);
	attrs_finish(&at, n, &kv);
	return kv;
}

static Metric *new_metric(struct arena *a, const char *name, const char *desc, const char *unit)
{
	Metric *m = arena_alloc(a, sizeof(*m));

	if (!m)
		return NULL;
	opentelemetry__proto__metrics__v1__metric__init(m);
	m->name = (char *)name;
	m->description = (char *)desc;
	m->unit = (char *)unit;
	return m;
}

/* A monotonic cumulative Sum with n points (filled by the caller). */
static Metric *new_counter(struct arena *a, const char *name, const char *desc, const char *unit,
			   size_t n)
{
	Metric *m = new_metric(a, name, desc, unit);
	Sum *s = arena_alloc(a, sizeof(*s));

	if (!m || !s)
		return NULL;
	opentelemetry__proto__metrics__v1__sum__init(s);
	s->aggregation_temporality =
		CUMULATIVE;
	s->is_monotonic = 1;
	s->data_points = arena_alloc(a, (n ? n : 1) * sizeof(*s->data_points));
	if (!s->data_points)
		return NULL;
	m->data_case = DATA_SUM;
	m->sum = s;
	return m;
}

static NumberDataPoint *add_int_point(struct arena *a, Sum *s, int64_t v, uint64_t start,
				      uint64_t now)
{
	NumberDataPoint *p = arena_alloc(a, sizeof(*p));

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
static char *hist_name(struct arena *a, const char *phase)
{
	size_t n = strlen(phase) + sizeof("hstrace..duration");
	char *s = arena_alloc(a, n);

	if (s)
		snprintf(s, n, "hstrace.%s.duration", phase);
	return s;
}

static HistogramDataPoint *hist_point(struct arena *a, const struct hist_series *s,
				      const double *bounds, uint64_t start, uint64_t now)
{
	HistogramDataPoint *p = arena_alloc(a, sizeof(*p));
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
	p->bucket_counts = arena_alloc(a, sizeof(s->buckets));
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
	struct arena a = {};
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
	rm.resource = make_resource(&a, res);
	sm.scope = make_scope(&a);
	sm.metrics = arena_alloc(&a, max_metrics * sizeof(*sm.metrics));
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
		h = arena_alloc(&a, sizeof(*h));
		if (!metric || !metric->name || !h) {
			err = -ENOMEM;
			goto out;
		}
		opentelemetry__proto__metrics__v1__histogram__init(h);
		h->aggregation_temporality =
			CUMULATIVE;
		h->data_points = arena_alloc(&a, m->n_series * sizeof(*h->data_points));
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
	err = pack(&req.base, out, out_len);
out:
	arena_free(&a);
	return err;
}
