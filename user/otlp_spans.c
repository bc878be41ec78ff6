// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * otlp_spans.c - OTLP trace requests from finished timelines (see otlp.h, docs/otlp.md): per
 * connection a root span with its attributes and a span event per timeline event, and a child
 * span per phase. The ids come from otlp_ids.c, the arena and attribute builders from
 * otlp_common.c (otlp_int.h).
 */
#define _GNU_SOURCE /* strerrorname_np() */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#include "conn_id.h"
#include "otlp.h"
#include "otlp_int.h"
#include "present.h"
#include "render_timeline.h"
#include "tls_parse.h"

typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Span__Event SpanEvent;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest TraceRequest;

/* The generated names, shorter. */
#define KIND_CLIENT OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT
#define KIND_SERVER OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER
#define KIND_INTERNAL OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL
#define STATUS_ERROR OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR
#define TRACE_REQUEST_INIT \
	OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT

size_t otlp_span_count(const struct timeline *tl)
{
	return 1 + (tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES);
}

static ProtobufCBinaryData bin_dup(struct otlp_arena *a, const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = { 0, NULL };
	uint8_t *d = otlp_arena_alloc(a, n);

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

/* name, or the IANA number as "0x%04X" when this build has no name for it (as docs/json.md). */
static void attr_name_or_hex(struct otlp_attrs *at, const char *key, const char *name,
			     uint16_t id)
{
	char buf[8];

	if (!name) {
		snprintf(buf, sizeof(buf), "0x%04X", id);
		name = buf;
	}
	otlp_attr_str(at, key, name);
}

/* The TLS attributes of the connection span. */
static void tls_attrs(struct otlp_attrs *at, const struct timeline *tl)
{
	const struct tl_tls *t = &tl->tls;
	const char *alpn[TL_MAX_ALPN];
	size_t i, n;

	if (!t->seen)
		return;
	if (t->sni[0]) {
		otlp_attr_str_max(at, "server.address", t->sni, sizeof(t->sni));
		otlp_attr_str_max(at, "tls.client.server_name", t->sni, sizeof(t->sni));
	}
	if (t->version) {
		otlp_attr_str(at, "tls.protocol.name", "tls");
		attr_name_or_hex(at, "tls.protocol.version", tls_version_name(t->version),
				 t->version);
	}
	if (t->has_cipher)
		attr_name_or_hex(at, "tls.cipher", tls_cipher_name(t->cipher), t->cipher);
	if (t->has_group)
		attr_name_or_hex(at, "tls.curve", tls_group_name(t->group), t->group);
	if (t->resumed >= 0)
		otlp_attr_bool(at, "tls.resumed", t->resumed > 0);
	otlp_attr_bool(at, "tls.established", t->handshake_done);
	if (t->alpn_selected[0])
		otlp_attr_str_max(at, "tls.next_protocol", t->alpn_selected, TL_ALPN_LEN);
	n = t->n_alpn_offered < TL_MAX_ALPN ? t->n_alpn_offered : TL_MAX_ALPN;
	for (i = 0; i < n; i++)
		alpn[i] = t->alpn_offered[i];
	if (n)
		otlp_attr_str_array(at, "hstrace.tls.alpn_offered", alpn, n, TL_ALPN_LEN);
	if (t->has_certs) {
		otlp_attr_int(at, "hstrace.tls.cert_chain.count", t->cert_count);
		otlp_attr_int(at, "hstrace.tls.cert_chain.bytes", t->cert_bytes);
	}
	if (t->has_alert) {
		if (t->alert_level) {
			const char *d = tls_alert_name(t->alert_desc);
			char buf[8];

			if (!d) {
				snprintf(buf, sizeof(buf), "%u", t->alert_desc);
				d = buf;
			}
			otlp_attr_str(at, "hstrace.tls.alert.level",
				      t->alert_level == 1   ? "warning"
				      : t->alert_level == 2 ? "fatal"
							    : "unknown");
			otlp_attr_str(at, "hstrace.tls.alert.description", d);
		}
		if (dir_name(t->alert_dir))
			otlp_attr_str(at, "hstrace.tls.alert.dir", dir_name(t->alert_dir));
	}
	if (t->verify)
		otlp_attr_str(at, "hstrace.tls.verify", t->verify == 1 ? "ok" : "failed");
	if (t->desync)
		otlp_attr_bool(at, "hstrace.tls.desync", true);
	if (t->ttfb_estimated)
		otlp_attr_bool(at, "hstrace.tls.ttfb_estimated", true);
	if (t->library[0])
		otlp_attr_str_max(at, "hstrace.tls.library", t->library, sizeof(t->library));
	otlp_attr_int(at, "hstrace.tls.app_bytes.out", (int64_t)t->app_bytes[DIR_OUT]);
	otlp_attr_int(at, "hstrace.tls.app_bytes.in", (int64_t)t->app_bytes[DIR_IN]);
}

/* Every attribute of the connection (root) span. */
static void conn_attrs(struct otlp_attrs *at, const struct timeline *tl)
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
	otlp_attr_str(at, "network.peer.address", addr);
	otlp_attr_int(at, "network.peer.port", tl->rport);
	present_addr(tl, true, addr, sizeof(addr));
	otlp_attr_str(at, "network.local.address", addr);
	otlp_attr_int(at, "network.local.port", tl->lport);
	otlp_attr_str(at, "network.transport", "tcp");
	otlp_attr_str(at, "network.type", tl->ip_version == 6 ? "ipv6" : "ipv4");
	if (tl->pid) {
		otlp_attr_int(at, "process.pid", tl->pid);
		otlp_attr_str_max(at, "process.executable.name", tl->comm, sizeof(tl->comm));
		otlp_attr_str_max(at, "hstrace.comm", tl->comm, sizeof(tl->comm));
	}
	if (timeline_failed(tl))
		otlp_attr_str(at, "error.type", tl_result_name(tl->result));
	otlp_attr_str(at, "hstrace.result", tl_result_name(tl->result));
	otlp_attr_str(at, "hstrace.role", tl_role_name(tl->role));
	/* A cookie is a u64: as a decimal string, since OTLP integers are signed. */
	snprintf(cookie, sizeof(cookie), "%llu", (unsigned long long)tl->cookie);
	otlp_attr_str(at, "hstrace.cookie", cookie);
	if (tl->conn_id) { /* the same on both ends (conn_id.h), as the NDJSON's conn_id */
		char id[CONN_ID_HEX_LEN];

		otlp_attr_str(at, "hstrace.conn_id", conn_id_format(tl->conn_id, id));
	}
	otlp_attr_int(at, "hstrace.tcp.syn_retransmits", tl->syn_retransmits);
	otlp_attr_int(at, "hstrace.tcp.srtt_us", tl->srtt_us);
	otlp_attr_int(at, "hstrace.tcp.bytes_sent", (int64_t)tl->bytes_sent);
	otlp_attr_int(at, "hstrace.tcp.bytes_received", (int64_t)tl->bytes_received);
	if (tl->sk_err) {
		const char *e = strerrorname_np(tl->sk_err < 0 ? -tl->sk_err : tl->sk_err);
		char buf[16];

		if (!e) {
			snprintf(buf, sizeof(buf), "%d", tl->sk_err < 0 ? -tl->sk_err : tl->sk_err);
			e = buf;
		}
		otlp_attr_str(at, "hstrace.tcp.error", e);
	}
	tls_attrs(at, tl);
	if (tl->tls_api.seen) {
		otlp_attr_int(at, "hstrace.tls_api.calls", tl->tls_api.calls);
		otlp_attr_int(at, "hstrace.tls_api.inside_us",
			      (int64_t)(tl->tls_api.inside_ns / 1000));
		otlp_attr_int(at, "hstrace.tls_api.result", tl->tls_api.result);
	}
	for (i = 0; i < sizeof(srcs) / sizeof(srcs[0]); i++)
		if (tl->sources & srcs[i].bit)
			src[n++] = srcs[i].name;
	otlp_attr_str_array(at, "hstrace.sources", src, n, 32);
}

static SpanEvent *make_event(struct otlp_arena *a, const struct timeline *tl,
			     const struct tl_event *ev)
{
	SpanEvent *e = otlp_arena_alloc(a, sizeof(*e));
	struct otlp_attrs at = { .a = a };

	if (!e)
		return NULL;
	opentelemetry__proto__trace__v1__span__event__init(e);
	e->name = (char *)tl_event_name(ev->event);
	e->time_unix_nano = wall_ns(tl, ev->ts_ns);
	if (dir_name(ev->dir))
		otlp_attr_str(&at, "dir", dir_name(ev->dir));
	if (ev->len)
		otlp_attr_int(&at, "len", ev->len);
	if (ev->records)
		otlp_attr_int(&at, "records", ev->records);
	if (ev->app_ns)
		otlp_attr_int(&at, "app_time_unix_nano", (int64_t)wall_ns(tl, ev->app_ns));
	if (ev->derived)
		otlp_attr_bool(&at, "derived", true);
	if (ev->estimated)
		otlp_attr_bool(&at, "estimated", true);
	otlp_attrs_finish(&at, &e->n_attributes, &e->attributes);
	e->dropped_attributes_count = at.dropped;
	return e;
}

static Span *new_span(struct otlp_arena *a, const struct otlp_span_ids *ids)
{
	Span *s = otlp_arena_alloc(a, sizeof(*s));

	if (!s)
		return NULL;
	opentelemetry__proto__trace__v1__span__init(s);
	s->trace_id = bin_dup(a, ids->trace_id, sizeof(ids->trace_id));
	return s;
}

/* Appends the root span and one span per phase of tl to spans[*n...]. Returns 0 or -errno. */
static int timeline_spans(struct otlp_arena *a, const struct timeline *tl, Span **spans, size_t *n)
{
	static const uint8_t zero[8];
	struct otlp_span_ids ids;
	struct otlp_attrs at = { .a = a };
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
	otlp_attrs_finish(&at, &root->n_attributes, &root->attributes);
	root->dropped_attributes_count = at.dropped;
	if (tl->n_events) {
		root->events = otlp_arena_alloc(a, tl->n_events * sizeof(*root->events));
		if (!root->events)
			return -ENOMEM;
		for (i = 0; i < tl->n_events; i++) {
			root->events[i] = make_event(a, tl, &tl->events[i]);
			if (!root->events[i])
				return -ENOMEM;
		}
		root->n_events = tl->n_events;
	}
	root->status = otlp_arena_alloc(a, sizeof(*root->status));
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
		struct otlp_attrs pat = { .a = a };
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
		otlp_attr_str(&pat, "hstrace.phase", ph->name);
		otlp_attr_int(&pat, "hstrace.phase.duration_ns", (int64_t)ph->dur_ns);
		otlp_attrs_finish(&pat, &s->n_attributes, &s->attributes);
		spans[(*n)++] = s;
	}
	return a->failed ? -ENOMEM : 0;
}

int otlp_encode_traces(const struct otlp_resource *res, const struct timeline *const *tls,
		       size_t n, uint8_t **out, size_t *out_len)
{
	struct otlp_arena a = {};
	TraceRequest req = TRACE_REQUEST_INIT;
	ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT, *rsp = &rs;
	ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT, *ssp = &ss;
	size_t i, total = 0;
	int err = 0;

	*out = NULL;
	*out_len = 0;
	for (i = 0; i < n; i++)
		total += otlp_span_count(tls[i]);
	rs.resource = otlp_make_resource(&a, res);
	ss.scope = otlp_make_scope(&a);
	ss.spans = otlp_arena_alloc(&a, (total ? total : 1) * sizeof(*ss.spans));
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
		err = otlp_pack(&req.base, out, out_len);
	}
	otlp_arena_free(&a);
	return err;
}
