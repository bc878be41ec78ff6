// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * collector_ssl.c - the TLS-library layer of the per-connection timeline (OpenSSL uprobes).
 *
 * BPF sends one record per SSL_do_handshake() call (SSL_connect() and SSL_accept() call it)
 * and per X509_verify_cert() call, at its return, with the connection it was bound to. A
 * server also calls X509_verify_cert() to build its own chain, after reading the ClientHello
 * and before sending its ServerHello; only calls entered after the server_hello event (either
 * direction) verify the peer's chain and count.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collector_ssl.h"

#define MAX_CALLS 16  /* handshake calls whose time span is kept (tickets inside them) */
#define MAX_VERIFY 4  /* X509_verify_cert() calls kept */

struct span {
	uint64_t entry_ns;
	uint64_t ret_ns;
	int32_t ret;
};

struct conn_ssl {
	uint32_t lib_id;	/* of the handshake calls (libssl), else of verification */
	uint32_t calls;
	uint64_t inside_ns;
	int32_t last_ret;
	uint64_t last_ret_ns;
	uint64_t first_entry_ns;
	uint64_t done_ns;	/* first return with 1, 0 if none */
	struct span spans[MAX_CALLS];
	size_t n_spans;
	struct span verify[MAX_VERIFY];
	size_t n_verify;
};

int ssl_record_read(struct hs_ssl_rec *rec, const void *data, size_t size)
{
	if (!rec || !data || size != sizeof(*rec))
		return -EINVAL;
	memcpy(rec, data, sizeof(*rec));
	if (rec->hdr.kind != HS_REC_SSL || rec->hdr.size != size)
		return -EINVAL;
	if (rec->what != HS_SSL_HANDSHAKE && rec->what != HS_SSL_VERIFY)
		return -EINVAL;
	if (rec->entry_ns > rec->hdr.ts_ns)
		return -EINVAL;
	return 0;
}

int conn_ssl_add(struct conn_ssl **sslp, const struct hs_ssl_rec *rec)
{
	struct conn_ssl *s = *sslp;
	struct span sp = { rec->entry_ns, rec->hdr.ts_ns, rec->ret };

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		*sslp = s;
	}
	if (!s->lib_id || (rec->what == HS_SSL_HANDSHAKE && !s->calls))
		s->lib_id = rec->lib_id;
	if (rec->what == HS_SSL_VERIFY) {
		if (s->n_verify < MAX_VERIFY)
			s->verify[s->n_verify++] = sp;
		return 0;
	}
	s->calls++;
	s->inside_ns += rec->hdr.ts_ns - rec->entry_ns;
	if (!s->first_entry_ns || rec->entry_ns < s->first_entry_ns)
		s->first_entry_ns = rec->entry_ns;
	if (rec->hdr.ts_ns >= s->last_ret_ns) {
		s->last_ret_ns = rec->hdr.ts_ns;
		s->last_ret = rec->ret;
	}
	if (rec->ret == 1 && (!s->done_ns || rec->hdr.ts_ns < s->done_ns))
		s->done_ns = rec->hdr.ts_ns;
	if (s->n_spans < MAX_CALLS)
		s->spans[s->n_spans++] = sp;
	return 0;
}

size_t conn_ssl_max_events(const struct conn_ssl *s)
{
	return s ? CONN_SSL_MAX_EVENTS : 0;
}

static void add_event(struct timeline *tl, uint64_t *seq, uint64_t seq_no, uint64_t ts,
		      uint16_t event)
{
	struct tl_event *e = &tl->events[tl->n_events];

	memset(e, 0, sizeof(*e));
	e->ts_ns = ts;
	e->event = event;
	seq[tl->n_events] = seq_no;
	tl->n_events++;
}

/* Time of the first server_hello event, or 0. */
static uint64_t server_hello_ts(const struct timeline *tl)
{
	uint64_t ts = 0;
	size_t i;

	for (i = 0; i < tl->n_events; i++)
		if (tl->events[i].event == TL_EV_SERVER_HELLO && (!ts || tl->events[i].ts_ns < ts))
			ts = tl->events[i].ts_ns;
	return ts;
}

/* The first X509_verify_cert() call that verified the peer's chain, or NULL. */
static const struct span *peer_verify(const struct conn_ssl *s, const struct timeline *tl)
{
	uint64_t sh = server_hello_ts(tl);
	const struct span *best = NULL;
	size_t i;

	if (!sh)
		return NULL;
	for (i = 0; i < s->n_verify; i++)
		if (s->verify[i].entry_ns >= sh && (!best || s->verify[i].entry_ns < best->entry_ns))
			best = &s->verify[i];
	return best;
}

size_t conn_ssl_add_events(struct conn_ssl *s, struct timeline *tl, uint64_t *seq,
			   uint64_t seq_base)
{
	size_t before = tl->n_events;
	const struct span *v;

	if (!s)
		return 0;
	if (s->calls) {
		add_event(tl, seq, seq_base, s->first_entry_ns, TL_EV_HANDSHAKE_START);
		if (s->done_ns)
			add_event(tl, seq, seq_base + 1, s->done_ns, TL_EV_HANDSHAKE_DONE);
	}
	v = peer_verify(s, tl);
	if (v) {
		add_event(tl, seq, seq_base + 2, v->entry_ns, TL_EV_CERT_VERIFY_START);
		add_event(tl, seq, seq_base + 3, v->ret_ns, TL_EV_CERT_VERIFY_DONE);
	}
	return tl->n_events - before;
}

/* Index of the event `event` at time ts, or -1. */
static long event_at(const struct timeline *tl, unsigned int event, uint64_t ts)
{
	size_t i;

	for (i = 0; i < tl->n_events; i++)
		if (tl->events[i].event == event && tl->events[i].ts_ns == ts)
			return (long)i;
	return -1;
}

uint32_t conn_ssl_conclude(const struct conn_ssl *s, struct timeline *tl)
{
	const struct span *v;
	size_t i, j;

	if (!s)
		return 0;
	tl->sources |= TL_SRC_OPENSSL;
	if (s->calls) {
		tl->tls_api.seen = true;
		tl->tls_api.calls = s->calls;
		tl->tls_api.inside_ns = s->inside_ns;
		tl->tls_api.result = s->last_ret;
	}
	v = peer_verify(s, tl);
	if (v) {
		tl->tls.verify = v->ret == 1 ? 1 : 2;
		tl_phase_add(tl, "cert_verify", event_at(tl, TL_EV_CERT_VERIFY_START, v->entry_ns),
			     TL_AT_WIRE, event_at(tl, TL_EV_CERT_VERIFY_DONE, v->ret_ns), TL_AT_WIRE);
	}
	/* A server writes its tickets inside its own handshake call: those are exact. */
	for (i = 0; i < tl->n_events; i++) {
		struct tl_event *e = &tl->events[i];

		if (e->event != TL_EV_NEW_SESSION_TICKET || e->dir != DIR_OUT)
			continue;
		for (j = 0; j < s->n_spans; j++)
			if (e->ts_ns >= s->spans[j].entry_ns && e->ts_ns <= s->spans[j].ret_ns)
				e->estimated = false;
	}
	return s->lib_id;
}

void conn_ssl_free(struct conn_ssl *s)
{
	free(s);
}
