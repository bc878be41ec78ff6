// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_collector_tls.c - the TLS layer of the collector, fed synthetic BPF records.
 *
 * Each test plays one connection the way BPF would report it: TCP records, then the TLS
 * records of each read/write call, all records of one call with the call's time. Hello bodies
 * are built byte by byte (hello_body()) so the real parser reads them. Times are given in µs
 * from BASE_NS so phase values can be checked exactly.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <linux/types.h>
#include <sys/socket.h>

#include "collector.h"
#include "hstrace.h"
#include "timeline.h"

#define US 1000ULL
#define MS (1000 * US)
#define BASE_NS (1000ULL * 1000 * MS) /* 1000 s of uptime */
#define T(us) (BASE_NS + (uint64_t)(us) * US)
#define MAX_CAPTURED 8
#define MAX_EVENTS 96

#define OUT HS_DIR_OUT
#define IN HS_DIR_IN

/* ---- emitted timelines, deep-copied by the callback ---- */

struct captured {
	struct timeline tl;
	struct tl_event events[MAX_EVENTS];
};

struct fixture {
	struct collector *c;
	struct captured out[MAX_CAPTURED];
	size_t n_out;
};

static void capture(const struct timeline *tl, void *ctx)
{
	struct fixture *f = ctx;
	struct captured *cap;

	assert_true(f->n_out < MAX_CAPTURED);
	assert_true(tl->n_events <= MAX_EVENTS);
	cap = &f->out[f->n_out++];
	cap->tl = *tl;
	if (tl->n_events)
		memcpy(cap->events, tl->events, tl->n_events * sizeof(*tl->events));
	cap->tl.events = cap->events;
}

static int setup(void **state)
{
	struct collector_opts opts = { 0 };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	opts.emit = capture;
	opts.ctx = f;
	f->c = collector_new(&opts);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	collector_free(f->c);
	free(f);
	return 0;
}

/* Emits everything and returns the one timeline expected. */
static const struct timeline *finish_one(struct fixture *f)
{
	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	return &f->out[0].tl;
}

static struct collector_stats stats(struct fixture *f)
{
	struct collector_stats st;

	collector_get_stats(f->c, &st);
	return st;
}

/* ---- TCP records ---- */

static void tcp(struct fixture *f, uint64_t cookie, unsigned int event, uint64_t ts,
		uint32_t srtt_us, uint64_t sent, uint64_t received)
{
	struct hs_tcp_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_TCP;
	r.hdr.size = sizeof(r);
	r.hdr.ts_ns = ts;
	r.hdr.cookie = cookie;
	r.event = event;
	r.family = AF_INET;
	r.sport = 40000;
	r.dport = 443;
	r.srtt_us = srtt_us;
	r.bytes_sent = sent;
	r.bytes_received = received;
	assert_int_equal(inet_pton(AF_INET, "10.0.0.1", r.saddr), 1);
	assert_int_equal(inet_pton(AF_INET, "10.0.0.2", r.daddr), 1);
	if (event == HS_EV_SYN_SENT || event == HS_EV_ACCEPTED) {
		r.flags = HS_F_OWNER;
		strcpy(r.comm, event == HS_EV_SYN_SENT ? "curl" : "nginx");
	}
	assert_int_equal(collector_handle(f->c, &r, sizeof(r)), 0);
}

/* Client: connect() at `us`, established 1 ms later. */
static void client_open(struct fixture *f, uint64_t cookie, uint64_t us)
{
	tcp(f, cookie, HS_EV_SYN_SENT, T(us), 0, 0, 0);
	tcp(f, cookie, HS_EV_ESTABLISHED, T(us + 1000), 1000, 0, 0);
}

/* Server: SYN at `us` (derived), established 200 µs later, accepted 100 µs after that. */
static void server_open(struct fixture *f, uint64_t cookie, uint64_t us)
{
	tcp(f, cookie, HS_EV_SYN_RECV, T(us + 200), 0, 0, 0);
	tcp(f, cookie, HS_EV_ESTABLISHED, T(us + 200), 200, 0, 0);
	tcp(f, cookie, HS_EV_ACCEPTED, T(us + 300), 0, 0, 0);
}

/* Orderly close at `us`: FIN out, FIN in, CLOSED, with some payload counted. */
static void tcp_close(struct fixture *f, uint64_t cookie, uint64_t us)
{
	tcp(f, cookie, HS_EV_FIN_OUT, T(us), 0, 1000, 9000);
	tcp(f, cookie, HS_EV_FIN_IN, T(us + 10), 0, 1000, 9000);
	tcp(f, cookie, HS_EV_CLOSED, T(us + 20), 0, 1000, 9000);
}

/* ---- TLS records ---- */

/* Stream offset given to the records fed next (0 in most tests: no application times). */
static uint32_t next_rec_seq;

static struct hs_tls_rec tls_new(uint64_t cookie, uint64_t ts, uint8_t what, uint8_t dir)
{
	struct hs_tls_rec r;

	memset(&r, 0, sizeof(r));
	r.seq = next_rec_seq;
	r.hdr.kind = HS_REC_TLS;
	r.hdr.ts_ns = ts;
	r.hdr.cookie = cookie;
	r.what = what;
	r.dir = dir;
	r.version = 0x0303;
	return r;
}

/* Records gathered into one HS_REC_BATCH (as the packet programs send a packet's records)
 * between batch_begin() and batch_end(), instead of being fed one by one. */
static struct {
	bool on;
	size_t len;
	unsigned char buf[8192];
} batch;

static void batch_begin(void)
{
	batch.on = true;
	batch.len = sizeof(struct hs_hdr);
}

/* Feeds the gathered records as one batch; returns collector_handle()'s answer. */
static int batch_end(struct fixture *f)
{
	struct hs_hdr h = { .kind = HS_REC_BATCH, .size = batch.len };

	memcpy(&h.ts_ns, batch.buf + sizeof(h) + offsetof(struct hs_hdr, ts_ns), 8);
	memcpy(&h.cookie, batch.buf + sizeof(h) + offsetof(struct hs_hdr, cookie), 8);
	memcpy(batch.buf, &h, sizeof(h));
	batch.on = false;
	return collector_handle(f->c, batch.buf, batch.len);
}

/* Feeds r with hdr.size set from data_len (or adds it to the batch); returns
 * collector_handle()'s answer. */
/* A device time (struct hs_sent_rec) for connection cookie. */
static struct hs_sent_rec sent_new(uint64_t cookie, uint64_t ts, uint8_t what, uint32_t seq,
				   uint32_t len)
{
	struct hs_sent_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_SENT;
	r.hdr.size = sizeof(r);
	r.hdr.ts_ns = ts;
	r.hdr.cookie = cookie;
	r.what = what;
	r.seq = seq;
	r.len = len;
	return r;
}

static int tls_feed(struct fixture *f, struct hs_tls_rec *r)
{
	size_t size = HS_TLS_REC_HDR_SIZE + r->data_len;

	r->hdr.size = size;
	if (batch.on) {
		assert_true(batch.len + size <= sizeof(batch.buf));
		memcpy(batch.buf + batch.len, r, size);
		batch.len = (batch.len + size + 7) & ~(size_t)7;
		return 0;
	}
	return collector_handle(f->c, r, size);
}

/* A record header of content type ct, body len bytes. */
static void rec(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir, uint8_t ct,
		uint32_t len)
{
	struct hs_tls_rec r = tls_new(cookie, T(us), HS_TLS_RECORD, dir);

	r.content_type = ct;
	r.len = len;
	assert_int_equal(tls_feed(f, &r), 0);
}

/* A plaintext handshake message header (with the start of its body, if any). */
static void hs(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir, uint8_t type,
	       uint32_t len, const void *data, size_t data_len)
{
	struct hs_tls_rec r = tls_new(cookie, T(us), HS_TLS_HANDSHAKE, dir);

	r.content_type = 22;
	r.hs_type = type;
	r.len = len;
	r.data_len = data_len;
	if (data_len)
		memcpy(r.data, data, data_len);
	assert_int_equal(tls_feed(f, &r), 0);
}

static void certs(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir, uint32_t count,
		  uint32_t len)
{
	struct hs_tls_rec r = tls_new(cookie, T(us), HS_TLS_CERTS, dir);

	r.count = count;
	r.len = len;
	assert_int_equal(tls_feed(f, &r), 0);
}

static void plain_alert(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir,
			uint8_t level, uint8_t desc)
{
	struct hs_tls_rec r = tls_new(cookie, T(us), HS_TLS_RECORD, dir);

	r.content_type = 21;
	r.len = 2;
	r.data_len = 2;
	r.data[0] = level;
	r.data[1] = desc;
	assert_int_equal(tls_feed(f, &r), 0);
}

/* ---- hello bodies, byte by byte ---- */

struct bytes {
	uint8_t b[1024];
	size_t n;
};

static void put8(struct bytes *b, unsigned int v)
{
	assert_true(b->n < sizeof(b->b));
	b->b[b->n++] = (uint8_t)v;
}

static void put16(struct bytes *b, unsigned int v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put_fill(struct bytes *b, unsigned int byte, size_t n)
{
	while (n--)
		put8(b, byte);
}

static void put_str(struct bytes *b, const char *s)
{
	while (*s)
		put8(b, (unsigned char)*s++);
}

/* Starts a field with a 16-bit (or 8-bit) length; close_len() fills it in. */
static size_t open16(struct bytes *b)
{
	put16(b, 0);
	return b->n;
}

static size_t open8(struct bytes *b)
{
	put8(b, 0);
	return b->n;
}

static void close16(struct bytes *b, size_t start)
{
	size_t len = b->n - start;

	b->b[start - 2] = (uint8_t)(len >> 8);
	b->b[start - 1] = (uint8_t)len;
}

static void close8(struct bytes *b, size_t start)
{
	b->b[start - 1] = (uint8_t)(b->n - start);
}

static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65,
	0xb8, 0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2,
	0xc8, 0xa8, 0x33, 0x9c,
};

struct hello {
	bool server;
	bool hrr;
	const char *sni;
	const char *alpn[3];  /* NULL-terminated: client offers, server selects alpn[0] */
	uint16_t versions[4]; /* 0-terminated supported_versions (server: the selected one) */
	uint16_t groups[3];   /* 0-terminated key_share groups */
	uint8_t sid_len;
	uint8_t sid_byte;
	bool psk;
	uint16_t cipher;      /* server */
};

/* Builds a ClientHello or ServerHello body (after the 4-byte handshake header). */
static size_t hello_body(struct bytes *b, const struct hello *h)
{
	size_t exts, e, l, i;

	b->n = 0;
	put16(b, 0x0303);
	if (h->hrr) {
		memcpy(b->b + b->n, hrr_random, sizeof(hrr_random));
		b->n += sizeof(hrr_random);
	} else {
		put_fill(b, h->server ? 0x33 : 0x5a, 32);
	}
	put8(b, h->sid_len);
	put_fill(b, h->sid_byte, h->sid_len);
	if (h->server) {
		put16(b, h->cipher);
		put8(b, 0);
	} else {
		l = open16(b);
		put16(b, 0x1301);
		put16(b, 0x1302);
		put16(b, 0xc02f);
		put16(b, 0x009c);
		close16(b, l);
		put8(b, 1);
		put8(b, 0);
	}
	exts = open16(b);
	if (h->sni) {
		put16(b, 0);
		e = open16(b);
		l = open16(b);
		put8(b, 0);
		put16(b, (unsigned int)strlen(h->sni));
		put_str(b, h->sni);
		close16(b, l);
		close16(b, e);
	}
	if (h->alpn[0]) {
		put16(b, 16);
		e = open16(b);
		l = open16(b);
		for (i = 0; i < 3 && h->alpn[i]; i++) {
			put8(b, (unsigned int)strlen(h->alpn[i]));
			put_str(b, h->alpn[i]);
			if (h->server)
				break;
		}
		close16(b, l);
		close16(b, e);
	}
	if (h->versions[0]) {
		put16(b, 43);
		e = open16(b);
		if (h->server) {
			put16(b, h->versions[0]);
		} else {
			l = open8(b);
			put16(b, 0x7a7a); /* GREASE, skipped by the parser */
			for (i = 0; i < 4 && h->versions[i]; i++)
				put16(b, h->versions[i]);
			close8(b, l);
		}
		close16(b, e);
	}
	if (h->groups[0]) {
		put16(b, 51);
		e = open16(b);
		if (h->server) {
			put16(b, h->groups[0]);
			if (!h->hrr) {
				put16(b, 32);
				put_fill(b, 0x44, 32);
			}
		} else {
			l = open16(b);
			for (i = 0; i < 3 && h->groups[i]; i++) {
				put16(b, h->groups[i]);
				put16(b, 32);
				put_fill(b, 0x55, 32);
			}
			close16(b, l);
		}
		close16(b, e);
	}
	if (h->psk) { /* pre_shared_key: always the last extension */
		put16(b, 41);
		e = open16(b);
		if (h->server) {
			put16(b, 0);
		} else {
			l = open16(b);
			put16(b, 16);
			put_fill(b, 0x66, 16);
			put16(b, 0);
			put16(b, 1000);
			close16(b, l);
			l = open16(b);
			put8(b, 32);
			put_fill(b, 0x77, 32);
			close16(b, l);
		}
		close16(b, e);
	}
	close16(b, exts);
	return b->n;
}

/* A hello handshake message with its body. Returns the body length. */
static uint32_t hello_msg(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir,
			  const struct hello *h)
{
	struct bytes b;
	size_t n = hello_body(&b, h);

	hs(f, cookie, us, dir, h->server ? 2 : 1, (uint32_t)n, b.b, n);
	return (uint32_t)n;
}

/* A hello in a record of its own. Returns the body length. */
static uint32_t hello(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir,
		      const struct hello *h)
{
	struct bytes b;

	rec(f, cookie, us, dir, 22, (uint32_t)hello_body(&b, h) + 4);
	return hello_msg(f, cookie, us, dir, h);
}

/* ---- checks ---- */

struct want {
	unsigned int event;
	uint8_t dir;
	uint32_t len;
	uint64_t us; /* time in µs from BASE_NS */
};

/* Compares the TLS events of tl (TCP ones skipped) with want[]. */
static void assert_tls_events(const struct timeline *tl, const struct want *want, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < tl->n_events; i++) {
		const struct tl_event *ev = &tl->events[i];

		if (ev->event < TL_EV_CLIENT_HELLO)
			continue;
		if (k >= n)
			fail_msg("extra TLS event %zu: %s", k, tl_event_name(ev->event));
		if (ev->event != want[k].event || ev->dir != want[k].dir)
			fail_msg("TLS event %zu is %s dir %u, expected %s dir %u", k,
				 tl_event_name(ev->event), ev->dir, tl_event_name(want[k].event),
				 want[k].dir);
		if (ev->len != want[k].len)
			fail_msg("TLS event %zu (%s): len %u, expected %u", k,
				 tl_event_name(ev->event), ev->len, want[k].len);
		if (ev->ts_ns != T(want[k].us))
			fail_msg("TLS event %zu (%s): at %llu µs, expected %llu", k,
				 tl_event_name(ev->event),
				 (unsigned long long)((ev->ts_ns - BASE_NS) / US),
				 (unsigned long long)want[k].us);
		k++;
	}
	if (k != n)
		fail_msg("%zu TLS events, expected %zu", k, n);
}

/* Returns the i-th TLS event of tl. */
static const struct tl_event *tls_event(const struct timeline *tl, size_t i)
{
	size_t j;

	for (j = 0; j < tl->n_events; j++) {
		if (tl->events[j].event >= TL_EV_CLIENT_HELLO && i-- == 0)
			return &tl->events[j];
	}
	fail_msg("no TLS event %zu", i);
	return NULL;
}

static uint64_t phase_us(const struct timeline *tl, const char *name)
{
	uint64_t dur = 0;

	if (!tl_phase_get(tl, name, &dur))
		fail_msg("no phase %s", name);
	assert_int_equal(dur % US, 0);
	return dur / US;
}

static size_t count_events(const struct timeline *tl, unsigned int event)
{
	size_t i, n = 0;

	for (i = 0; i < tl->n_events; i++)
		n += tl->events[i].event == event;
	return n;
}

static void assert_no_phase(const struct timeline *tl, const char *name)
{
	if (tl_phase_get(tl, name, NULL))
		fail_msg("unexpected phase %s", name);
}

static void assert_every_tls_event_has_dir(const struct timeline *tl)
{
	size_t i;

	for (i = 0; i < tl->n_events; i++) {
		if (tl->events[i].event >= TL_EV_CLIENT_HELLO)
			assert_true(tl->events[i].dir == DIR_OUT || tl->events[i].dir == DIR_IN);
	}
}

/* ---- tests ---- */

static void test_names(void **state)
{
	static const char *const names[] = {
		"client_hello",	       "server_hello",	      "hello_retry_request",
		"certificate",	       "server_key_exchange", "certificate_request",
		"server_hello_done",   "client_key_exchange", "certificate_verify",
		"change_cipher_spec",  "finished",	      "encrypted_handshake",
		"new_session_ticket",  "alert",		      "app_data",
		"handshake_start",     "handshake_done",      "cert_verify_start",
		"cert_verify_done",
	};
	unsigned int i;

	(void)state;
	assert_int_equal(TL_EV__MAX - TL_EV_CLIENT_HELLO, sizeof(names) / sizeof(names[0]));
	for (i = TL_EV_CLIENT_HELLO; i < TL_EV__MAX; i++)
		assert_string_equal(tl_event_name(i), names[i - TL_EV_CLIENT_HELLO]);
	assert_string_equal(tl_event_name(TL_EV_CLIENT_HELLO - 1), "unknown");
	assert_string_equal(tl_event_name(TL_EV__MAX), "unknown");
	assert_string_equal(tl_event_name(HS_EV_CLOSED), "closed");
	assert_string_equal(tl_result_name(RESULT_TLS_ALERT), "tls_alert");
	assert_string_equal(tl_result_name(RESULT_TLS_FAILED), "tls_failed");
	assert_string_equal(tl_result_name(RESULT__MAX), "unknown");
}

/* TLS 1.2, ECDHE, client view: the exact message order of a full handshake. */
static void test_tls12_ecdhe_client(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = {
		.sni = "example.com", .alpn = { "h2", "http/1.1" },
	};
	const struct hello sh = {
		.server = true, .alpn = { "h2" }, .sid_len = 32, .sid_byte = 0x77, .cipher = 0xc02f,
	};
	static const uint8_t ske[] = { 3, 0x00, 0x1d, 32, 1, 2, 3, 4 };
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	client_open(f, 1, 0);
	ch_len = hello(f, 1, 1200, OUT, &ch);
	/* The server's flight, over two reads. */
	rec(f, 1, 21200, IN, 22, 2000);
	sh_len = hello_msg(f, 1, 21200, IN, &sh);
	hs(f, 1, 21200, IN, 11, 1900, NULL, 0);
	certs(f, 1, 21200, IN, 2, 1900);
	hs(f, 1, 21300, IN, 12, 296, ske, sizeof(ske));
	hs(f, 1, 21300, IN, 14, 0, NULL, 0);
	/* ClientKeyExchange, ChangeCipherSpec, Finished in one write. */
	rec(f, 1, 22000, OUT, 22, 37);
	hs(f, 1, 22000, OUT, 16, 33, NULL, 0);
	rec(f, 1, 22000, OUT, 20, 1);
	rec(f, 1, 22000, OUT, 22, 40);
	/* The server's ChangeCipherSpec and Finished. */
	rec(f, 1, 42000, IN, 20, 1);
	rec(f, 1, 42000, IN, 22, 40);
	/* Request, response (two records), encrypted close_notify. */
	rec(f, 1, 42500, OUT, 23, 100);
	rec(f, 1, 67500, IN, 23, 5000);
	rec(f, 1, 67500, IN, 23, 300);
	rec(f, 1, 70000, OUT, 21, 26);
	tcp_close(f, 1, 70100);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1200 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 21200 },
			{ TL_EV_CERTIFICATE, DIR_IN, 1900, 21200 },
			{ TL_EV_SERVER_KEY_EXCHANGE, DIR_IN, 296, 21300 },
			{ TL_EV_SERVER_HELLO_DONE, DIR_IN, 0, 21300 },
			{ TL_EV_CLIENT_KEY_EXCHANGE, DIR_OUT, 33, 22000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 22000 },
			{ TL_EV_FINISHED, DIR_OUT, 40, 22000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 42000 },
			{ TL_EV_FINISHED, DIR_IN, 40, 42000 },
			{ TL_EV_APP_DATA, DIR_OUT, 100, 42500 },
			{ TL_EV_APP_DATA, DIR_IN, 5000, 67500 },
			{ TL_EV_ALERT, DIR_OUT, 26, 70000 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	/* TCP events around them are untouched. */
	assert_int_equal(tl->n_events, 13 + 5);
	assert_int_equal(tl->events[0].event, HS_EV_SYN_SENT);
	assert_int_equal(tl->events[1].event, HS_EV_ESTABLISHED);
	assert_int_equal(tl->events[tl->n_events - 1].event, HS_EV_CLOSED);
	assert_every_tls_event_has_dir(tl);

	assert_int_equal(tl->result, RESULT_OK); /* close_notify after the handshake */
	assert_true(tl->tls.seen);
	assert_int_equal(tl->tls.version, 0x0303);
	assert_int_equal(tl->tls.n_offered_versions, 1);
	assert_int_equal(tl->tls.offered_versions[0], 0x0303);
	assert_string_equal(tl->tls.sni, "example.com");
	assert_int_equal(tl->tls.n_alpn_offered, 2);
	assert_string_equal(tl->tls.alpn_offered[0], "h2");
	assert_string_equal(tl->tls.alpn_offered[1], "http/1.1");
	assert_string_equal(tl->tls.alpn_selected, "h2");
	assert_true(tl->tls.has_cipher);
	assert_int_equal(tl->tls.cipher, 0xc02f);
	assert_true(tl->tls.has_group);
	assert_int_equal(tl->tls.group, 0x001d);
	assert_int_equal(tl->tls.resumed, 0);
	assert_true(tl->tls.has_certs);
	assert_int_equal(tl->tls.cert_count, 2);
	assert_int_equal(tl->tls.cert_bytes, 1900);
	/* The encrypted alert after completion is close_notify: an event, not tls.alert. */
	assert_false(tl->tls.has_alert);
	assert_int_equal(count_events(tl, TL_EV_ALERT), 1);
	assert_true(tl->tls.handshake_done);
	assert_int_equal(tl->tls.app_bytes[DIR_OUT], 100);
	assert_int_equal(tl->tls.app_records[DIR_OUT], 1);
	assert_int_equal(tl->tls.app_bytes[DIR_IN], 5300);
	assert_int_equal(tl->tls.app_records[DIR_IN], 2);
	assert_false(tl->tls.desync);
	assert_false(tl->tls.ttfb_estimated);

	assert_int_equal(tl->n_phases, 7);
	assert_int_equal(phase_us(tl, "tcp_handshake"), 1000);
	assert_int_equal(phase_us(tl, "idle_before_hello"), 200);
	assert_int_equal(phase_us(tl, "tls_handshake"), 42000 - 1200);
	assert_int_equal(phase_us(tl, "server_hello_rtt"), 20000);
	/* Without application times, only the estimate of the server's share. */
	assert_int_equal(phase_us(tl, "peer_think"), 20000 - 1000);
	assert_int_equal(phase_us(tl, "ttfb"), 25000);
	assert_int_equal(phase_us(tl, "total"), 67500);
	assert_no_phase(tl, "server_think");
	assert_no_phase(tl, "response_time");
	assert_int_equal(stats(f).malformed, 0);
	assert_int_equal(stats(f).events, 5 + 13);
}

/* The same handshake seen by the server. */
static void test_tls12_ecdhe_server(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "example.com", .alpn = { "http/1.1" } };
	const struct hello sh = { .server = true, .sid_len = 32, .sid_byte = 1, .cipher = 0xc02f };
	static const uint8_t ske[] = { 3, 0x00, 0x17, 65, 4 };
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	server_open(f, 2, 0);
	ch_len = hello(f, 2, 1000, IN, &ch);
	sh_len = hello(f, 2, 1100, OUT, &sh);
	rec(f, 2, 1100, OUT, 22, 3300);
	hs(f, 2, 1100, OUT, 11, 3000, NULL, 0);
	certs(f, 2, 1100, OUT, 3, 3000);
	hs(f, 2, 1100, OUT, 12, 329, ske, sizeof(ske));
	hs(f, 2, 1100, OUT, 14, 0, NULL, 0);
	rec(f, 2, 21100, IN, 22, 70);
	hs(f, 2, 21100, IN, 16, 66, NULL, 0);
	rec(f, 2, 21100, IN, 20, 1);
	rec(f, 2, 21100, IN, 22, 40);
	rec(f, 2, 21300, OUT, 20, 1);
	rec(f, 2, 21300, OUT, 22, 40);
	rec(f, 2, 41300, IN, 23, 100);
	rec(f, 2, 41800, OUT, 23, 5000);
	tcp_close(f, 2, 60000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, ch_len, 1000 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, sh_len, 1100 },
			{ TL_EV_CERTIFICATE, DIR_OUT, 3000, 1100 },
			{ TL_EV_SERVER_KEY_EXCHANGE, DIR_OUT, 329, 1100 },
			{ TL_EV_SERVER_HELLO_DONE, DIR_OUT, 0, 1100 },
			{ TL_EV_CLIENT_KEY_EXCHANGE, DIR_IN, 66, 21100 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 21100 },
			{ TL_EV_FINISHED, DIR_IN, 40, 21100 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 21300 },
			{ TL_EV_FINISHED, DIR_OUT, 40, 21300 },
			{ TL_EV_APP_DATA, DIR_IN, 100, 41300 },
			{ TL_EV_APP_DATA, DIR_OUT, 5000, 41800 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tl->role, ROLE_SERVER);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->tls.group, 0x0017);
	assert_int_equal(tl->tls.cert_count, 3);
	assert_int_equal(tl->tls.cert_bytes, 3000);
	assert_int_equal(tl->tls.resumed, 0);
	assert_false(tl->tls.has_alert);
	assert_true(tl->tls.handshake_done);
	assert_false(tl->tls.ttfb_estimated);
	assert_string_equal(tl->tls.alpn_selected, "");

	assert_int_equal(tl->n_phases, 6);
	assert_int_equal(phase_us(tl, "tcp_handshake"), 200);
	assert_int_equal(phase_us(tl, "accept_wait"), 100);
	assert_int_equal(phase_us(tl, "tls_handshake"), 21300 - 1000);
	assert_int_equal(phase_us(tl, "server_think"), 100);
	assert_int_equal(phase_us(tl, "response_time"), 500);
	assert_int_equal(phase_us(tl, "total"), 41300);
	assert_no_phase(tl, "idle_before_hello");
	assert_no_phase(tl, "server_hello_rtt");
	assert_no_phase(tl, "ttfb");
}

/* TLS 1.2, RSA key exchange (no ServerKeyExchange), with a client certificate. */
static void test_tls12_rsa_client_auth(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "mtls.example" };
	const struct hello sh = { .server = true, .cipher = 0x009c };
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	client_open(f, 3, 0);
	ch_len = hello(f, 3, 2000, OUT, &ch);
	sh_len = hello(f, 3, 12000, IN, &sh);
	rec(f, 3, 12000, IN, 22, 2500);
	hs(f, 3, 12000, IN, 11, 2000, NULL, 0);
	certs(f, 3, 12000, IN, 2, 2000);
	hs(f, 3, 12000, IN, 13, 40, NULL, 0);
	hs(f, 3, 12000, IN, 14, 0, NULL, 0);
	/* The client's certificate is not the server's chain. */
	rec(f, 3, 13000, OUT, 22, 1500);
	hs(f, 3, 13000, OUT, 11, 900, NULL, 0);
	certs(f, 3, 13000, OUT, 1, 900);
	hs(f, 3, 13000, OUT, 16, 258, NULL, 0);
	hs(f, 3, 13000, OUT, 15, 260, NULL, 0);
	rec(f, 3, 13000, OUT, 20, 1);
	rec(f, 3, 13000, OUT, 22, 40);
	rec(f, 3, 23000, IN, 20, 1);
	rec(f, 3, 23000, IN, 22, 40);
	rec(f, 3, 23100, OUT, 23, 80);
	rec(f, 3, 33100, IN, 23, 700);
	tcp_close(f, 3, 40000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 2000 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 12000 },
			{ TL_EV_CERTIFICATE, DIR_IN, 2000, 12000 },
			{ TL_EV_CERTIFICATE_REQUEST, DIR_IN, 40, 12000 },
			{ TL_EV_SERVER_HELLO_DONE, DIR_IN, 0, 12000 },
			{ TL_EV_CERTIFICATE, DIR_OUT, 900, 13000 },
			{ TL_EV_CLIENT_KEY_EXCHANGE, DIR_OUT, 258, 13000 },
			{ TL_EV_CERTIFICATE_VERIFY, DIR_OUT, 260, 13000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 13000 },
			{ TL_EV_FINISHED, DIR_OUT, 40, 13000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 23000 },
			{ TL_EV_FINISHED, DIR_IN, 40, 23000 },
			{ TL_EV_APP_DATA, DIR_OUT, 80, 23100 },
			{ TL_EV_APP_DATA, DIR_IN, 700, 33100 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->tls.cipher, 0x009c);
	assert_false(tl->tls.has_group);
	assert_int_equal(tl->tls.cert_count, 2);
	assert_int_equal(tl->tls.cert_bytes, 2000);
	assert_int_equal(tl->tls.resumed, 0);
	assert_int_equal(phase_us(tl, "tls_handshake"), 21000);
	assert_int_equal(phase_us(tl, "ttfb"), 10000);
	assert_int_equal(phase_us(tl, "idle_before_hello"), 1000);
}

static const struct hello ch13 = {
	.sni = "tls13.example",
	.alpn = { "h2", "http/1.1" },
	.versions = { 0x0304, 0x0303 },
	.groups = { 0x001d, 0x0017 },
	.sid_len = 32,
	.sid_byte = 0xee,
};

static const struct hello sh13 = {
	.server = true,
	.versions = { 0x0304 },
	.groups = { 0x001d },
	.sid_len = 32,
	.sid_byte = 0xee, /* 1.3 echoes the (compatibility) session id: not a resumption */
	.cipher = 0x1301,
};

/* TLS 1.3 client with middlebox compatibility CCS; the two tickets are read after the
 * request was written, one call each, then the response. */
static void test_tls13_client_tickets_after_request(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	client_open(f, 4, 0);
	ch_len = hello(f, 4, 1500, OUT, &ch13);
	/* ServerHello, CCS, EncryptedExtensions; then Certificate, CertificateVerify, Finished. */
	sh_len = hello(f, 4, 11500, IN, &sh13);
	rec(f, 4, 11500, IN, 20, 1);
	rec(f, 4, 11500, IN, 23, 27);
	rec(f, 4, 11600, IN, 23, 2100);
	rec(f, 4, 11600, IN, 23, 281);
	rec(f, 4, 11600, IN, 23, 69);
	/* CCS + Finished in one write, then the request. */
	rec(f, 4, 12000, OUT, 20, 1);
	rec(f, 4, 12000, OUT, 23, 69);
	rec(f, 4, 12100, OUT, 23, 120);
	rec(f, 4, 22100, IN, 23, 250);
	rec(f, 4, 22150, IN, 23, 250);
	rec(f, 4, 32100, IN, 23, 4000);
	rec(f, 4, 32200, IN, 23, 4000);
	rec(f, 4, 40000, OUT, 23, 19); /* close_notify: data as far as the kernel can tell */
	tcp_close(f, 4, 40100);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1500 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 11500 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 11500 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 27 + 2100 + 281 + 69, 11500 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 12000 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 69, 12000 },
			{ TL_EV_APP_DATA, DIR_OUT, 120, 12100 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 22100 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 22150 },
			{ TL_EV_APP_DATA, DIR_IN, 4000, 32100 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tls_event(tl, 3)->records, 4);
	assert_false(tls_event(tl, 3)->estimated);
	assert_int_equal(tls_event(tl, 5)->records, 1);
	assert_false(tls_event(tl, 6)->estimated);
	assert_true(tls_event(tl, 7)->estimated);
	assert_true(tls_event(tl, 8)->estimated);
	assert_true(tls_event(tl, 9)->estimated); /* which read is data is inferred */

	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->tls.version, 0x0304);
	assert_int_equal(tl->tls.n_offered_versions, 2);
	assert_int_equal(tl->tls.offered_versions[0], 0x0304);
	assert_int_equal(tl->tls.offered_versions[1], 0x0303);
	assert_string_equal(tl->tls.sni, "tls13.example");
	assert_string_equal(tl->tls.alpn_selected, "");
	assert_int_equal(tl->tls.cipher, 0x1301);
	assert_int_equal(tl->tls.group, 0x001d);
	assert_int_equal(tl->tls.resumed, 0);
	assert_false(tl->tls.has_certs);
	assert_false(tl->tls.has_alert);
	assert_true(tl->tls.handshake_done);
	assert_true(tl->tls.ttfb_estimated);
	assert_int_equal(tl->tls.app_records[DIR_OUT], 2);
	assert_int_equal(tl->tls.app_bytes[DIR_OUT], 139);
	assert_int_equal(tl->tls.app_records[DIR_IN], 2);
	assert_int_equal(tl->tls.app_bytes[DIR_IN], 8000);

	assert_int_equal(tl->n_phases, 7);
	assert_int_equal(phase_us(tl, "idle_before_hello"), 500);
	assert_int_equal(phase_us(tl, "tls_handshake"), 12000 - 1500);
	assert_int_equal(phase_us(tl, "server_hello_rtt"), 10000);
	assert_int_equal(phase_us(tl, "ttfb"), 20000);
	assert_int_equal(phase_us(tl, "total"), 32100);
}

/* TLS 1.3 client that reads both tickets (one call) before writing its request; the
 * response is a single small record: a run of one is data. */
static void test_tls13_client_tickets_before_request(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	client_open(f, 5, 0);
	ch_len = hello(f, 5, 1100, OUT, &ch13);
	sh_len = hello(f, 5, 6100, IN, &sh13);
	rec(f, 5, 6100, IN, 20, 1);
	rec(f, 5, 6100, IN, 23, 27);
	rec(f, 5, 6100, IN, 23, 1800);
	rec(f, 5, 6100, IN, 23, 281);
	rec(f, 5, 6100, IN, 23, 69);
	rec(f, 5, 6500, OUT, 20, 1);
	rec(f, 5, 6500, OUT, 23, 69);
	rec(f, 5, 11500, IN, 23, 250);
	rec(f, 5, 11500, IN, 23, 250);
	rec(f, 5, 11700, OUT, 23, 90);
	rec(f, 5, 16700, IN, 23, 300);
	tcp_close(f, 5, 20000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1100 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 6100 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 6100 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 27 + 1800 + 281 + 69, 6100 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 6500 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 69, 6500 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 11500 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 11500 },
			{ TL_EV_APP_DATA, DIR_OUT, 90, 11700 },
			{ TL_EV_APP_DATA, DIR_IN, 300, 16700 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_true(tls_event(tl, 6)->estimated);
	assert_true(tls_event(tl, 7)->estimated);
	assert_int_equal(tl->tls.app_records[DIR_IN], 1);
	assert_int_equal(tl->tls.app_bytes[DIR_IN], 300);
	assert_int_equal(tl->result, RESULT_OK);
	assert_true(tl->tls.ttfb_estimated);
	assert_int_equal(phase_us(tl, "tls_handshake"), 6500 - 1100);
	assert_int_equal(phase_us(tl, "ttfb"), 5000);
	assert_int_equal(phase_us(tl, "total"), 16700);
}

/* OpenSSL s_server writes its two tickets in two calls: the first may arrive before the
 * client's request, the second after it. The second has the first one's size. */
static void test_tls13_client_split_tickets(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	client_open(f, 60, 0);
	hello(f, 60, 100, OUT, &ch13);
	hello(f, 60, 1000, IN, &sh13);
	rec(f, 60, 1000, IN, 20, 1);
	rec(f, 60, 1100, IN, 23, 2000);
	rec(f, 60, 2000, OUT, 20, 1);
	rec(f, 60, 2000, OUT, 23, 53);
	rec(f, 60, 2200, IN, 23, 234);	/* ticket 1 */
	rec(f, 60, 2300, OUT, 23, 60);	/* request */
	rec(f, 60, 2400, IN, 23, 234);	/* ticket 2 */
	rec(f, 60, 2900, IN, 23, 5000); /* response */
	tcp_close(f, 60, 3000);
	tl = finish_one(f);
	assert_int_equal(count_events(tl, TL_EV_NEW_SESSION_TICKET), 2);
	assert_int_equal(phase_us(tl, "ttfb"), 600);
	assert_int_equal(tl->tls.app_records[DIR_IN], 1);
	assert_int_equal(tl->tls.app_bytes[DIR_IN], 5000);
}

/* TLS 1.3 server with middlebox CCS: its flight over two writes is one event; the two
 * tickets are written before the request arrives. */
/* Starts a batch when batched (else records are fed one by one, as before batches existed). */
static void packet_begin(bool batched)
{
	if (batched)
		batch_begin();
}

static void packet_end(struct fixture *f, bool batched)
{
	if (batched)
		assert_int_equal(batch_end(f), 0);
}

/* A TLS 1.3 server end (connection 6), each packet's records fed in one batch when batched;
 * then the timeline's TLS events checked. Returns the timeline. */
static const struct timeline *tls13_server(struct fixture *f, bool batched)
{
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	server_open(f, 6, 0);
	packet_begin(batched);
	ch_len = hello(f, 6, 500, IN, &ch13);
	packet_end(f, batched);
	packet_begin(batched);
	sh_len = hello(f, 6, 700, OUT, &sh13);
	rec(f, 6, 700, OUT, 20, 1);
	rec(f, 6, 700, OUT, 23, 27);
	rec(f, 6, 700, OUT, 23, 2100);
	packet_end(f, batched);
	packet_begin(batched);
	rec(f, 6, 750, OUT, 23, 281);
	rec(f, 6, 750, OUT, 23, 69);
	packet_end(f, batched);
	packet_begin(batched);
	rec(f, 6, 10700, IN, 20, 1);
	rec(f, 6, 10700, IN, 23, 53);
	packet_end(f, batched);
	packet_begin(batched);
	rec(f, 6, 10800, OUT, 23, 250);
	rec(f, 6, 10800, OUT, 23, 250);
	packet_end(f, batched);
	rec(f, 6, 10900, IN, 23, 120);
	packet_begin(batched);
	rec(f, 6, 11400, OUT, 23, 4000);
	rec(f, 6, 11400, OUT, 23, 4000);
	packet_end(f, batched);
	rec(f, 6, 11500, IN, 23, 120);
	tcp_close(f, 6, 20000);

	if (batched) {
		struct collector_stats st = stats(f);

		assert_int_equal(st.malformed, 0);
		assert_int_equal(st.records, 3 + 2 + 2 + 3 + 2 + 2 + 2 + 1 + 2 + 1 + 3);
		assert_int_equal(st.batches, 6);
		assert_int_equal(st.by_kind[HS_REC_TCP], 3 + 3);
		assert_int_equal(st.by_kind[HS_REC_TLS], 2 + 2 + 3 + 2 + 2 + 2 + 1 + 2 + 1);
	}
	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, ch_len, 500 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, sh_len, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 27 + 2100 + 281 + 69, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 10700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 53, 10700 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_OUT, 250, 10800 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_OUT, 250, 10800 },
			{ TL_EV_APP_DATA, DIR_IN, 120, 10900 },
			{ TL_EV_APP_DATA, DIR_OUT, 4000, 11400 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tls_event(tl, 3)->records, 4);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->tls.version, 0x0304);
	assert_int_equal(phase_us(tl, "tls_handshake"), 10700 - 500);
	return tl;
}

static void test_tls13_server(void **state)
{
	const struct timeline *tl = tls13_server(*state, false);

	assert_int_equal(tls_event(tl, 5)->records, 1);
	assert_true(tls_event(tl, 6)->estimated);
	assert_true(tls_event(tl, 7)->estimated);
	assert_false(tls_event(tl, 8)->estimated);
	assert_false(tls_event(tl, 9)->estimated);

	assert_true(tl->tls.handshake_done);
	assert_false(tl->tls.ttfb_estimated);
	assert_int_equal(tl->tls.app_records[DIR_IN], 2);
	assert_int_equal(tl->tls.app_bytes[DIR_IN], 240);
	assert_int_equal(tl->tls.app_records[DIR_OUT], 2);
	assert_int_equal(tl->tls.app_bytes[DIR_OUT], 8000);
	assert_int_equal(tl->n_phases, 6);
	assert_int_equal(phase_us(tl, "server_think"), 200);
	assert_int_equal(phase_us(tl, "response_time"), 500);
	assert_int_equal(phase_us(tl, "total"), 10900);
}

/* The same server, each packet's records in one batch, as the packet programs send them: the
 * same timeline. */
static void test_tls13_server_batched(void **state)
{
	tls13_server(*state, true);
}

/* A batch whose records do not add up: the records before the fault are applied, the fault is
 * counted as malformed, nothing crashes. */
static void test_malformed_batch(void **state)
{
	struct fixture *f = *state;
	struct collector_stats st;
	struct hs_hdr *h;
	uint64_t before;

	client_open(f, 51, 0);
	before = stats(f).records;
	/* The second record claims more bytes than the batch has. */
	batch_begin();
	rec(f, 51, 1100, OUT, 22, 100);
	rec(f, 51, 1200, OUT, 22, 100);
	h = (struct hs_hdr *)(batch.buf + sizeof(*h) + ((HS_TLS_REC_HDR_SIZE + 7) & ~7));
	h->size = 4000;
	assert_int_equal(batch_end(f), -EINVAL);
	st = stats(f);
	assert_int_equal(st.records - before, 2);
	assert_int_equal(st.malformed, 1);
	/* A batch inside a batch. */
	batch_begin();
	rec(f, 51, 1300, OUT, 22, 100);
	h = (struct hs_hdr *)(batch.buf + sizeof(*h));
	h->kind = HS_REC_BATCH;
	assert_int_equal(batch_end(f), -EINVAL);
	/* A record shorter than a header, and a tail too short for one. */
	batch_begin();
	rec(f, 51, 1400, OUT, 22, 100);
	h = (struct hs_hdr *)(batch.buf + sizeof(*h));
	h->size = 8;
	assert_int_equal(batch_end(f), -EINVAL);
	batch_begin();
	rec(f, 51, 1500, OUT, 22, 100);
	batch.len += 8;
	assert_int_equal(batch_end(f), -EINVAL);
	/* A batch header whose size is not the batch's: malformed as a whole. */
	batch_begin();
	rec(f, 51, 1600, OUT, 22, 100);
	h = (struct hs_hdr *)batch.buf;
	batch.on = false;
	h->kind = HS_REC_BATCH;
	h->size = batch.len + 8;
	assert_int_equal(collector_handle(f->c, batch.buf, batch.len), -EINVAL);
	st = stats(f);
	assert_int_equal(st.malformed, 5);
	/* Each record applied and each fault counted once. */
	assert_int_equal(st.records - before, 2 + 1 + 1 + 2 + 1);
}

/* An application call that moved a direction's stream up to seq_end at `us`. */
static void app_io(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir, uint32_t seq_end)
{
	struct hs_io_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_IO;
	r.hdr.size = sizeof(r);
	r.hdr.ts_ns = T(us);
	r.hdr.cookie = cookie;
	r.dir = dir == OUT ? HS_DIR_OUT : HS_DIR_IN;
	r.seq_end = seq_end;
	assert_int_equal(collector_handle(f->c, &r, sizeof(r)), 0);
}

/* A record at stream offset seq (5-byte header + len); returns the offset after it. */
static uint32_t rec_at(struct fixture *f, uint64_t cookie, uint64_t us, uint8_t dir, uint8_t ct,
		       uint32_t len, uint32_t seq)
{
	next_rec_seq = seq;
	rec(f, cookie, us, dir, ct, len);
	next_rec_seq = 0;
	return seq + 5 + len;
}

/*
 * Wire times and application times disagree: s_server wrote its tickets before it read the
 * request, but the request arrived (10820) before the tickets left (10850). The rules follow
 * the application's calls, so the tickets are still tickets and the request is data; events
 * keep their wire times (sorted by them) and carry the application's times in app_ns.
 */
static void test_tls13_server_wire_vs_app_times(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	uint32_t ch_len, sh_len, in = 0, out = 0, ch_end, flight_end, tickets_end, req_end;

	server_open(f, 6, 0);
	ch_len = hello(f, 6, 500, IN, &ch13);
	ch_end = 5 + 4 + ch_len;
	app_io(f, 6, 520, IN, ch_end);
	sh_len = hello(f, 6, 700, OUT, &sh13);
	out = 5 + 4 + sh_len;
	out = rec_at(f, 6, 700, OUT, 20, 1, out);
	out = rec_at(f, 6, 700, OUT, 23, 27, out);
	out = rec_at(f, 6, 700, OUT, 23, 2100, out);
	out = rec_at(f, 6, 700, OUT, 23, 281, out);
	flight_end = rec_at(f, 6, 700, OUT, 23, 69, out);
	app_io(f, 6, 690, OUT, flight_end);
	in = rec_at(f, 6, 10700, IN, 20, 1, ch_end);
	in = rec_at(f, 6, 10700, IN, 23, 53, in);
	app_io(f, 6, 10750, IN, in);
	req_end = rec_at(f, 6, 10820, IN, 23, 120, in);
	out = rec_at(f, 6, 10850, OUT, 23, 250, flight_end);
	tickets_end = rec_at(f, 6, 10860, OUT, 23, 250, out);
	app_io(f, 6, 10800, OUT, tickets_end);
	app_io(f, 6, 10900, IN, req_end);
	out = rec_at(f, 6, 11400, OUT, 23, 4000, tickets_end);
	app_io(f, 6, 11390, OUT, out);
	tcp_close(f, 6, 20000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, ch_len, 500 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, sh_len, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 27 + 2100 + 281 + 69, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 10700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 53, 10700 },
			{ TL_EV_APP_DATA, DIR_IN, 120, 10820 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_OUT, 250, 10850 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_OUT, 250, 10860 },
			{ TL_EV_APP_DATA, DIR_OUT, 4000, 11400 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	/* Application times: the ClientHello was read 20 µs after it arrived, the tickets
	 * written before the request was read. */
	assert_int_equal(tls_event(tl, 0)->app_ns, T(520));
	assert_int_equal(tls_event(tl, 1)->app_ns, T(690));
	assert_int_equal(tls_event(tl, 5)->app_ns, T(10750));
	assert_int_equal(tls_event(tl, 6)->app_ns, T(10900));
	assert_int_equal(tls_event(tl, 7)->app_ns, T(10800));
	assert_int_equal(tls_event(tl, 8)->app_ns, T(10800));
	assert_int_equal(tls_event(tl, 9)->app_ns, T(11390));
	assert_true(tls_event(tl, 7)->estimated);
	assert_false(tls_event(tl, 6)->estimated);
	assert_int_equal(tl->result, RESULT_OK);
	assert_true(tl->tls.handshake_done);
	/* Phases are wire times: the response left 580 µs after the request arrived. */
	assert_int_equal(phase_us(tl, "response_time"), 11400 - 10820);
	assert_int_equal(phase_us(tl, "server_think"), 200);
	/* ... of which the ClientHello waited 20 µs to be read and the application took 170 µs
	 * to write its ServerHello (which left 10 µs after the write returned). */
	assert_int_equal(phase_us(tl, "hello_read_wait"), 20);
	assert_int_equal(phase_us(tl, "app_think"), 690 - 520);
	assert_no_phase(tl, "peer_think");
}

/* Without application calls (a kernel without the socket-call tracepoints, or records the
 * application never read), the rules order records by their wire times, and a record never
 * read stays after the ones read before it in its direction. */
static void test_app_times_partial(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	uint32_t ch_len, sh_len, in;

	client_open(f, 8, 0);
	ch_len = hello(f, 8, 1000, OUT, &ch13);
	app_io(f, 8, 995, OUT, 5 + 4 + ch_len);
	sh_len = hello(f, 8, 2000, IN, &sh13);
	in = 5 + 4 + sh_len;
	app_io(f, 8, 2500, IN, in);
	in = rec_at(f, 8, 2000, IN, 20, 1, in);
	/* The client never reads the server's flight: rejected (a plaintext alert). */
	in = rec_at(f, 8, 2000, IN, 23, 900, in);
	plain_alert(f, 8, 2600, OUT, 2, 48);
	tcp_close(f, 8, 3000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1000 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 2000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 2000 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 900, 2000 },
			{ TL_EV_ALERT, DIR_OUT, 2, 2600 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tls_event(tl, 1)->app_ns, T(2500));
	assert_int_equal(tls_event(tl, 3)->app_ns, 0);
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_false(tl->tls.handshake_done);
}

/* A record whose header came in one packet and its end in a later one takes the later
 * packet's time (with every message in it): it is usable then, and a capture shows it there. */
static void test_record_end_in_later_packet(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_tls_rec r;
	uint32_t ch_len;
	const struct hello ch12 = { .sni = "example.com" };
	const struct hello sh12 = { .server = true, .cipher = 0xc02f };

	client_open(f, 9, 0);
	ch_len = hello(f, 9, 1000, OUT, &ch12);
	next_rec_seq = 0;
	hello(f, 9, 2000, IN, &sh12);
	next_rec_seq = 100;
	rec(f, 9, 2000, IN, 22, 1900);
	hs(f, 9, 2000, IN, 11, 1896, NULL, 0);
	next_rec_seq = 0;
	r = tls_new(9, T(2150), HS_TLS_RECORD_END, IN);
	r.seq = 100;
	assert_int_equal(tls_feed(f, &r), 0);
	/* An end for a record of the other direction, or another offset, changes nothing. */
	r = tls_new(9, T(2500), HS_TLS_RECORD_END, OUT);
	r.seq = 100;
	assert_int_equal(tls_feed(f, &r), 0);
	tcp_close(f, 9, 3000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1000 },
			{ TL_EV_SERVER_HELLO, DIR_IN, tls_event(tl, 1)->len, 2000 },
			{ TL_EV_CERTIFICATE, DIR_IN, 1896, 2150 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
}

/*
 * A GSO packet cut into segments for the device, or held in the qdisc: the segment that
 * carries a record's last byte reached the device later than the packet left TCP
 * (HS_SENT_BYTES), and the record takes that time, with every message in it. Records that
 * end outside the bytes sent, and an earlier time, change nothing.
 */
static void test_record_sent_later(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_sent_rec r;
	uint32_t ch_len, sh_len;
	const struct hello ch12 = { .sni = "example.com" };
	const struct hello sh12 = { .server = true, .cipher = 0xc02f };

	server_open(f, 12, 0);
	ch_len = hello(f, 12, 1000, IN, &ch12);
	/* one packet of 3,000 bytes: ServerHello [0, 5+4+sh_len), Certificate record at 100
	 * (1,900 bytes, ends at 2005), ServerHelloDone record at 2005 (ends at 2014) */
	next_rec_seq = 0;
	sh_len = hello(f, 12, 1100, OUT, &sh12);
	next_rec_seq = 100;
	rec(f, 12, 1100, OUT, 22, 1900);
	hs(f, 12, 1100, OUT, 11, 1896, NULL, 0);
	next_rec_seq = 2005;
	rec(f, 12, 1100, OUT, 22, 4);
	hs(f, 12, 1100, OUT, 14, 0, NULL, 0);
	next_rec_seq = 0;
	/* segment [0, 1448) at 1090 (earlier than the packet: not taken), [1448, 2896) at
	 * 1130 (the Certificate ends there), [2896, 3000) at 1160 (nothing ends there) */
	r = sent_new(12, T(1090), HS_SENT_BYTES, 0, 1448);
	assert_int_equal(collector_handle(f->c, &r, sizeof(r)), 0);
	r = sent_new(12, T(1130), HS_SENT_BYTES, 1448, 1448);
	assert_int_equal(collector_handle(f->c, &r, sizeof(r)), 0);
	r = sent_new(12, T(1160), HS_SENT_BYTES, 2896, 104);
	assert_int_equal(collector_handle(f->c, &r, sizeof(r)), 0);
	tcp_close(f, 12, 3000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, ch_len, 1000 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, sh_len, 1100 },
			{ TL_EV_CERTIFICATE, DIR_OUT, 1896, 1130 },
			{ TL_EV_SERVER_HELLO_DONE, DIR_OUT, 0, 1130 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
}

/*
 * A record read in parts: OpenSSL reads its header, then the body as it arrives. A read that
 * took only the first packets of a record came before the record was complete (its t_us); the
 * record was read by the call that took its last byte. Seen under a stalled CPU: a 4,515-byte
 * record whose last segment came 618 µs after the first part was read.
 */
static void test_record_read_in_parts(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_tls_rec r;
	uint32_t ch_len, sh_len, in, data_at;
	const struct hello ch12 = { .sni = "example.com" };
	const struct hello sh12 = { .server = true, .cipher = 0xc02f };

	server_open(f, 10, 0);
	ch_len = hello(f, 10, 1000, IN, &ch12);
	/* the ClientHello: header read at once, the body in two parts */
	app_io(f, 10, 1010, IN, 5);
	app_io(f, 10, 1020, IN, 5 + 4 + ch_len / 2);
	app_io(f, 10, 1030, IN, 5 + 4 + ch_len);
	sh_len = hello(f, 10, 1100, OUT, &sh12);
	app_io(f, 10, 1090, OUT, 5 + 4 + sh_len);
	in = 5 + 4 + ch_len;
	in = rec_at(f, 10, 2000, IN, 22, 70, in);
	in = rec_at(f, 10, 2000, IN, 20, 1, in);
	in = rec_at(f, 10, 2000, IN, 22, 40, in);
	app_io(f, 10, 2010, IN, in);
	/* a request of 4,515 bytes whose header came at 3000 and last byte at 3618 */
	data_at = in;
	in = rec_at(f, 10, 3000, IN, 23, 4510, in);
	app_io(f, 10, 3005, IN, data_at + 5);
	app_io(f, 10, 3010, IN, data_at + 1448);
	r = tls_new(10, T(3618), HS_TLS_RECORD_END, IN);
	r.seq = data_at;
	assert_int_equal(tls_feed(f, &r), 0);
	app_io(f, 10, 3620, IN, in);
	tcp_close(f, 10, 5000);

	tl = finish_one(f);
	assert_int_equal(tls_event(tl, 0)->event, TL_EV_CLIENT_HELLO);
	assert_int_equal(tls_event(tl, 0)->app_ns, T(1030));
	assert_int_equal(phase_us(tl, "hello_read_wait"), 30);
	{
		const struct tl_event *data = NULL;
		size_t i;

		for (i = 0; i < tl->n_events; i++)
			if (tl->events[i].event == TL_EV_APP_DATA)
				data = &tl->events[i];
		assert_non_null(data);
		assert_int_equal(data->ts_ns, T(3618));
		assert_int_equal(data->app_ns, T(3620));
	}
}

/*
 * Framing lost (a segment lost or reordered where the rules cannot skip it), as seen under
 * loss: nothing after the loss is guessed. A TLS 1.3 client whose incoming stream was lost
 * before the ServerHello does not know the version: its own encrypted records (the Finished)
 * are left out, not taken for application data. A TLS 1.3 server whose incoming stream was
 * lost before the client's Finished cannot place its own later records: its tickets,
 * response and close_notify are left out (no flight merged over them, no estimated alert), and
 * the result is TCP's.
 */
static void test_desync_no_guess(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_tls_rec r;

	/* client */
	client_open(f, 70, 0);
	hello(f, 70, 1000, OUT, &ch13);
	r = tls_new(70, T(11000), HS_TLS_DESYNC, IN);
	assert_int_equal(tls_feed(f, &r), 0);
	rec(f, 70, 12000, OUT, 20, 1);
	rec(f, 70, 12000, OUT, 23, 69);
	rec(f, 70, 12100, OUT, 23, 99);
	tcp_close(f, 70, 30000);
	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, tls_event(tl, 0)->len, 1000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 12000 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_true(tl->tls.desync);
	assert_int_equal(tl->tls.app_records[DIR_OUT], 0);
	assert_int_equal(tl->result, RESULT_OK);
	f->n_out = 0;

	/* server */
	server_open(f, 71, 0);
	hello(f, 71, 500, IN, &ch13);
	hello(f, 71, 700, OUT, &sh13);
	rec(f, 71, 700, OUT, 20, 1);
	rec(f, 71, 700, OUT, 23, 2100);
	rec(f, 71, 750, OUT, 23, 69);
	r = tls_new(71, T(10700), HS_TLS_DESYNC, IN);
	assert_int_equal(tls_feed(f, &r), 0);
	rec(f, 71, 10800, OUT, 23, 250);
	rec(f, 71, 11400, OUT, 23, 4000);
	rec(f, 71, 15000, OUT, 23, 19); /* close_notify */
	tcp_close(f, 71, 20000);
	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, tls_event(tl, 0)->len, 500 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, tls_event(tl, 1)->len, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 2100 + 69, 700 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_false(tl->tls.has_alert);
	assert_false(tl->tls.handshake_done);
	assert_int_equal(tl->result, RESULT_OK);
}

/* The server reads the client's Finished and its request in one call (curl writes them
 * back to back): a Finished-sized record (53 bytes with TLS_AES_128_GCM_SHA256) ends the
 * flight, the request is data, and the records written after it are told apart as a client
 * does: a run of equal-sized tickets, then the response. */
static void test_tls13_server_request_in_finished_read(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	server_open(f, 7, 0);
	ch_len = hello(f, 7, 500, IN, &ch13);
	sh_len = hello(f, 7, 700, OUT, &sh13);
	rec(f, 7, 700, OUT, 20, 1);
	rec(f, 7, 700, OUT, 23, 27);
	rec(f, 7, 700, OUT, 23, 2100);
	rec(f, 7, 700, OUT, 23, 281);
	rec(f, 7, 700, OUT, 23, 53);
	rec(f, 7, 10700, IN, 20, 1);
	rec(f, 7, 10700, IN, 23, 53);
	rec(f, 7, 10700, IN, 23, 120);
	rec(f, 7, 10800, OUT, 23, 250);
	rec(f, 7, 10850, OUT, 23, 250);
	rec(f, 7, 11000, OUT, 23, 182);
	rec(f, 7, 11500, IN, 23, 19);
	tcp_close(f, 7, 20000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, ch_len, 500 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, sh_len, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 27 + 2100 + 281 + 53, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 10700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 53, 10700 },
			{ TL_EV_APP_DATA, DIR_IN, 120, 10700 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_OUT, 250, 10800 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_OUT, 250, 10850 },
			{ TL_EV_APP_DATA, DIR_OUT, 182, 11000 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tls_event(tl, 5)->records, 1);
	assert_false(tls_event(tl, 6)->estimated);
	assert_true(tls_event(tl, 9)->estimated); /* which write is the response is inferred */
	assert_int_equal(tl->result, RESULT_OK);
	assert_true(tl->tls.handshake_done);
	assert_int_equal(tl->tls.app_records[DIR_IN], 2); /* the request and close_notify */
	assert_int_equal(tl->tls.app_records[DIR_OUT], 1);
	assert_int_equal(phase_us(tl, "response_time"), 300);
	assert_int_equal(phase_us(tl, "tls_handshake"), 10700 - 500);
}

/* The client writes its Finished and its request in one call: the request is data. */
static void test_tls13_client_request_in_finished_write(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	client_open(f, 8, 0);
	ch_len = hello(f, 8, 1500, OUT, &ch13);
	sh_len = hello(f, 8, 11500, IN, &sh13);
	rec(f, 8, 11500, IN, 20, 1);
	rec(f, 8, 11500, IN, 23, 27);
	rec(f, 8, 11600, IN, 23, 2100);
	rec(f, 8, 11600, IN, 23, 281);
	rec(f, 8, 11600, IN, 23, 53);
	rec(f, 8, 12000, OUT, 20, 1);
	rec(f, 8, 12000, OUT, 23, 53);
	rec(f, 8, 12000, OUT, 23, 120);
	rec(f, 8, 22100, IN, 23, 250);
	rec(f, 8, 22150, IN, 23, 250);
	rec(f, 8, 32100, IN, 23, 4000);
	tcp_close(f, 8, 40100);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1500 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 11500 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 11500 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 27 + 2100 + 281 + 53, 11500 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 12000 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 53, 12000 },
			{ TL_EV_APP_DATA, DIR_OUT, 120, 12000 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 22100 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 22150 },
			{ TL_EV_APP_DATA, DIR_IN, 4000, 32100 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tls_event(tl, 5)->records, 1);
	assert_int_equal(phase_us(tl, "ttfb"), 32100 - 12000);
}

/* HelloRetryRequest: the client's only key share is P-256, the server asks for x25519; the
 * second ClientHello follows the client's compatibility CCS (and must not be taken for
 * encrypted handshake bytes). */
static void test_tls13_hello_retry_request(void **state)
{
	struct fixture *f = *state;
	const struct hello ch1 = { .sni = "hrr.example", .versions = { 0x0304 },
				   .groups = { 0x0017 }, .sid_len = 32, .sid_byte = 9 };
	const struct hello ch2 = { .sni = "hrr.example", .versions = { 0x0304 },
				   .groups = { 0x001d }, .sid_len = 32, .sid_byte = 9 };
	const struct hello hrr = { .server = true, .hrr = true, .versions = { 0x0304 },
				   .groups = { 0x001d }, .sid_len = 32, .sid_byte = 9,
				   .cipher = 0x1302 };
	const struct hello sh = { .server = true, .versions = { 0x0304 }, .groups = { 0x001d },
				  .sid_len = 32, .sid_byte = 9, .cipher = 0x1302 };
	const struct timeline *tl;
	uint32_t ch1_len, ch2_len, hrr_len, sh_len;

	client_open(f, 7, 0);
	ch1_len = hello(f, 7, 1000, OUT, &ch1);
	hrr_len = hello(f, 7, 3000, IN, &hrr);
	rec(f, 7, 3000, IN, 20, 1);
	rec(f, 7, 3200, OUT, 20, 1);
	ch2_len = hello(f, 7, 3200, OUT, &ch2);
	sh_len = hello(f, 7, 5200, IN, &sh);
	rec(f, 7, 5200, IN, 23, 27);
	rec(f, 7, 5200, IN, 23, 1500);
	rec(f, 7, 5200, IN, 23, 281);
	rec(f, 7, 5200, IN, 23, 85);
	rec(f, 7, 5400, OUT, 23, 85);
	rec(f, 7, 5500, OUT, 23, 100);
	rec(f, 7, 7500, IN, 23, 900);
	tcp_close(f, 7, 9000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch1_len, 1000 },
			{ TL_EV_HELLO_RETRY_REQUEST, DIR_IN, hrr_len, 3000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 3000 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 3200 },
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch2_len, 3200 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 5200 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 27 + 1500 + 281 + 85, 5200 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 85, 5400 },
			{ TL_EV_APP_DATA, DIR_OUT, 100, 5500 },
			{ TL_EV_APP_DATA, DIR_IN, 900, 7500 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->tls.version, 0x0304);
	assert_int_equal(tl->tls.group, 0x001d);
	assert_int_equal(tl->tls.cipher, 0x1302);
	assert_int_equal(tl->tls.n_offered_versions, 1);
	assert_string_equal(tl->tls.sni, "hrr.example");
	assert_int_equal(tl->tls.resumed, 0);
	assert_int_equal(phase_us(tl, "server_hello_rtt"), 2000); /* to the HRR */
	assert_int_equal(phase_us(tl, "tls_handshake"), 5400 - 1000);
	assert_int_equal(phase_us(tl, "ttfb"), 2000);
	assert_int_equal(stats(f).malformed, 0);
}

/* The server's side of a HelloRetryRequest, as BPF reports it today: after the client's CCS
 * it reads no handshake headers in that direction, so the second ClientHello is a bare
 * record and gives no event. Nothing else changes. */
static void test_tls13_hello_retry_request_server(void **state)
{
	struct fixture *f = *state;
	const struct hello ch1 = { .versions = { 0x0304 }, .groups = { 0x0017 } };
	const struct hello hrr = { .server = true, .hrr = true, .versions = { 0x0304 },
				   .groups = { 0x001d }, .cipher = 0x1301 };
	const struct hello sh = { .server = true, .versions = { 0x0304 }, .groups = { 0x001d },
				  .cipher = 0x1301 };
	const struct timeline *tl;

	server_open(f, 12, 0);
	hello(f, 12, 500, IN, &ch1);
	hello(f, 12, 600, OUT, &hrr);
	rec(f, 12, 2600, IN, 20, 1);
	rec(f, 12, 2600, IN, 22, 300);
	hello(f, 12, 2700, OUT, &sh);
	rec(f, 12, 2700, OUT, 23, 27);
	rec(f, 12, 2700, OUT, 23, 1500);
	rec(f, 12, 4700, IN, 23, 53);
	rec(f, 12, 4800, IN, 23, 80);
	rec(f, 12, 5300, OUT, 23, 700);
	tcp_close(f, 12, 6000);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, tls_event(tl, 0)->len, 500 },
			{ TL_EV_HELLO_RETRY_REQUEST, DIR_OUT, tls_event(tl, 1)->len, 600 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 2600 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, tls_event(tl, 3)->len, 2700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 27 + 1500, 2700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 53, 4700 },
			{ TL_EV_APP_DATA, DIR_IN, 80, 4800 },
			{ TL_EV_APP_DATA, DIR_OUT, 700, 5300 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->tls.resumed, 0);
	assert_int_equal(phase_us(tl, "server_think"), 100); /* to the HRR */
	assert_int_equal(phase_us(tl, "tls_handshake"), 4700 - 500);
	assert_int_equal(phase_us(tl, "response_time"), 500);
}

/* TLS 1.2 abbreviated handshake: the server echoes the session id (and renews the ticket
 * in a plaintext NewSessionTicket); a second connection gets a new session id. */
static void test_tls12_resumption(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "resume.example", .sid_len = 32, .sid_byte = 0xab };
	const struct hello echo = { .server = true, .sid_len = 32, .sid_byte = 0xab,
				    .cipher = 0xc02f };
	const struct hello fresh = { .server = true, .sid_len = 32, .sid_byte = 0xac,
				     .cipher = 0xc02f };
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	client_open(f, 8, 0);
	ch_len = hello(f, 8, 1100, OUT, &ch);
	sh_len = hello(f, 8, 3100, IN, &echo);
	rec(f, 8, 3100, IN, 22, 200);
	hs(f, 8, 3100, IN, 4, 196, NULL, 0);
	rec(f, 8, 3100, IN, 20, 1);
	rec(f, 8, 3100, IN, 22, 40);
	rec(f, 8, 3300, OUT, 20, 1);
	rec(f, 8, 3300, OUT, 22, 40);
	rec(f, 8, 3300, OUT, 23, 60);
	rec(f, 8, 5300, IN, 23, 600);
	tcp_close(f, 8, 6000);

	client_open(f, 9, 10000);
	hello(f, 9, 11100, OUT, &ch);
	hello(f, 9, 13100, IN, &fresh);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);
	tl = &f->out[0].tl;
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1100 },
			{ TL_EV_SERVER_HELLO, DIR_IN, sh_len, 3100 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 196, 3100 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 3100 },
			{ TL_EV_FINISHED, DIR_IN, 40, 3100 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 3300 },
			{ TL_EV_FINISHED, DIR_OUT, 40, 3300 },
			{ TL_EV_APP_DATA, DIR_OUT, 60, 3300 },
			{ TL_EV_APP_DATA, DIR_IN, 600, 5300 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_false(tls_event(tl, 2)->estimated); /* a plaintext ticket is seen, not guessed */
	assert_int_equal(tl->tls.resumed, 1);
	assert_false(tl->tls.has_certs);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(phase_us(tl, "tls_handshake"), 3300 - 1100);
	assert_int_equal(phase_us(tl, "ttfb"), 2000);

	/* Different session id, still open: not resumed, no verdict yet. */
	tl = &f->out[1].tl;
	assert_int_equal(tl->tls.resumed, 0);
	assert_false(tl->tls.handshake_done);
	assert_int_equal(tl->result, RESULT_INCOMPLETE);
	assert_no_phase(tl, "tls_handshake");
	assert_int_equal(phase_us(tl, "server_hello_rtt"), 2000);
}

/* TLS 1.3 PSK resumption (no middlebox CCS here): no certificate in the server's flight. */
static void test_tls13_psk_resumption(void **state)
{
	struct fixture *f = *state;
	struct hello ch = ch13;
	struct hello sh = sh13;
	const struct timeline *tl;

	ch.psk = true;
	sh.psk = true;
	client_open(f, 10, 0);
	hello(f, 10, 1050, OUT, &ch);
	hello(f, 10, 2050, IN, &sh);
	rec(f, 10, 2050, IN, 23, 27);
	rec(f, 10, 2050, IN, 23, 53);
	rec(f, 10, 2100, OUT, 23, 53);
	rec(f, 10, 2200, OUT, 23, 100);
	rec(f, 10, 3200, IN, 23, 700);
	tcp_close(f, 10, 4000);

	tl = finish_one(f);
	assert_int_equal(tl->tls.resumed, 1);
	assert_int_equal(tls_event(tl, 2)->event, TL_EV_ENCRYPTED_HANDSHAKE);
	assert_int_equal(tls_event(tl, 2)->records, 2);
	assert_int_equal(tls_event(tl, 2)->len, 80);
	assert_int_equal(tls_event(tl, 3)->event, TL_EV_ENCRYPTED_HANDSHAKE);
	assert_int_equal(tls_event(tl, 3)->dir, DIR_OUT);
	assert_int_equal(tls_event(tl, 4)->event, TL_EV_APP_DATA);
	assert_int_equal(tls_event(tl, 5)->event, TL_EV_APP_DATA);
	assert_int_equal(tls_event(tl, 5)->dir, DIR_IN);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(phase_us(tl, "tls_handshake"), 2100 - 1050);
	assert_int_equal(phase_us(tl, "ttfb"), 1000);
}

/* Plaintext fatal bad_certificate from the client after a warning from the server: the fatal
 * one is reported. */
static void test_alert_bad_certificate(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "self-signed.example" };
	const struct hello sh = { .server = true, .cipher = 0xc02f };
	const struct timeline *tl;
	uint32_t ch_len;

	client_open(f, 11, 0);
	ch_len = hello(f, 11, 1100, OUT, &ch);
	hello(f, 11, 3100, IN, &sh);
	plain_alert(f, 11, 3100, IN, 1, 112); /* unrecognized_name, warning */
	rec(f, 11, 3100, IN, 22, 1200);
	hs(f, 11, 3100, IN, 11, 1100, NULL, 0);
	certs(f, 11, 3100, IN, 1, 1100);
	hs(f, 11, 3100, IN, 14, 0, NULL, 0);
	plain_alert(f, 11, 3400, OUT, 2, 42);
	tcp(f, 11, HS_EV_FIN_OUT, T(3450), 0, 300, 1400);
	tcp(f, 11, HS_EV_FIN_IN, T(5450), 0, 300, 1400);
	tcp(f, 11, HS_EV_CLOSED, T(5460), 0, 300, 1400);

	tl = finish_one(f);
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_true(tl->tls.has_alert);
	assert_int_equal(tl->tls.alert_level, 2);
	assert_int_equal(tl->tls.alert_desc, 42);
	assert_int_equal(tl->tls.alert_dir, DIR_OUT);
	assert_false(tl->tls.handshake_done);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, ch_len, 1100 },
			{ TL_EV_SERVER_HELLO, DIR_IN, tls_event(tl, 1)->len, 3100 },
			{ TL_EV_ALERT, DIR_IN, 2, 3100 },
			{ TL_EV_CERTIFICATE, DIR_IN, 1100, 3100 },
			{ TL_EV_SERVER_HELLO_DONE, DIR_IN, 0, 3100 },
			{ TL_EV_ALERT, DIR_OUT, 2, 3400 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_no_phase(tl, "tls_handshake"); /* never completed */
	assert_int_equal(phase_us(tl, "server_hello_rtt"), 2000);
	assert_no_phase(tl, "ttfb");
	assert_no_phase(tl, "total");
}

/* Other alert cases: a fatal alert even after the handshake; a server refusing the
 * ClientHello; an encrypted (1.2) alert before the handshake completed; TLS 1.3 alerts in
 * handshake positions, recognised by their 19-byte length; a plaintext warning, which fails
 * only a handshake that then does not complete. */
static void test_alert_variants(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "x.example" };
	const struct hello sh = { .server = true, .cipher = 0xc02f };
	const struct timeline *tl;

	/* 20: fatal (plaintext) after app data: still a TLS alert. */
	client_open(f, 20, 0);
	hello(f, 20, 1100, OUT, &ch);
	hello(f, 20, 2100, IN, &sh);
	rec(f, 20, 2100, IN, 20, 1);
	rec(f, 20, 2100, IN, 22, 40);
	rec(f, 20, 2200, OUT, 20, 1);
	rec(f, 20, 2200, OUT, 22, 40);
	rec(f, 20, 2300, OUT, 23, 50);
	plain_alert(f, 20, 2400, IN, 2, 80);
	tcp_close(f, 20, 3000);

	/* 21: handshake_failure answering the ClientHello. */
	client_open(f, 21, 0);
	hello(f, 21, 1100, OUT, &ch);
	plain_alert(f, 21, 2100, IN, 2, 40);
	tcp(f, 21, HS_EV_RESET_IN, T(2200), 0, 0, 0);
	tcp(f, 21, HS_EV_CLOSED, T(2200), 0, 0, 0);

	/* 22: TLS 1.2 server answers the client's Finished with an encrypted alert. */
	client_open(f, 22, 0);
	hello(f, 22, 1100, OUT, &ch);
	hello(f, 22, 2100, IN, &sh);
	rec(f, 22, 2200, OUT, 20, 1);
	rec(f, 22, 2200, OUT, 22, 40);
	rec(f, 22, 3200, IN, 21, 26);
	tcp_close(f, 22, 3300);

	/* 23: TLS 1.3 client rejects the server's certificate: an encrypted alert where its
	 * Finished would be. */
	client_open(f, 23, 0);
	hello(f, 23, 1100, OUT, &ch13);
	hello(f, 23, 2100, IN, &sh13);
	rec(f, 23, 2100, IN, 20, 1);
	rec(f, 23, 2100, IN, 23, 27);
	rec(f, 23, 2100, IN, 23, 1400);
	rec(f, 23, 2100, IN, 23, 281);
	rec(f, 23, 2100, IN, 23, 69);
	rec(f, 23, 2300, OUT, 20, 1);
	rec(f, 23, 2300, OUT, 23, 19);
	tcp_close(f, 23, 2400);

	/* 24: TLS 1.3 server, the client's Finished comes as an alert (same story, far side). */
	server_open(f, 24, 0);
	hello(f, 24, 500, IN, &ch13);
	hello(f, 24, 600, OUT, &sh13);
	rec(f, 24, 600, OUT, 23, 27);
	rec(f, 24, 600, OUT, 23, 1400);
	rec(f, 24, 2600, IN, 23, 19);
	tcp_close(f, 24, 2700);

	/* 25: warning unrecognized_name, then the handshake goes on and completes. */
	client_open(f, 25, 0);
	hello(f, 25, 1100, OUT, &ch);
	hello(f, 25, 2100, IN, &sh);
	plain_alert(f, 25, 2100, IN, 1, 112);
	rec(f, 25, 2200, OUT, 20, 1);
	rec(f, 25, 2200, OUT, 22, 40);
	rec(f, 25, 3200, IN, 20, 1);
	rec(f, 25, 3200, IN, 22, 40);
	rec(f, 25, 3300, OUT, 23, 50);
	rec(f, 25, 4300, IN, 23, 50);
	tcp_close(f, 25, 5000);

	/* 26: the same warning, then the client gives up. */
	client_open(f, 26, 0);
	hello(f, 26, 1100, OUT, &ch);
	hello(f, 26, 2100, IN, &sh);
	plain_alert(f, 26, 2100, IN, 1, 112);
	tcp_close(f, 26, 2200);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 7);

	tl = &f->out[0].tl;
	assert_int_equal(tl->cookie, 20);
	assert_true(tl->tls.handshake_done);
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_int_equal(tl->tls.alert_level, 2);
	assert_int_equal(tl->tls.alert_desc, 80);
	assert_int_equal(tl->tls.alert_dir, DIR_IN);
	assert_int_equal(phase_us(tl, "tls_handshake"), 2200 - 1100);

	tl = &f->out[1].tl;
	assert_int_equal(tl->result, RESULT_TLS_ALERT); /* over reset */
	assert_int_equal(tl->tls.alert_desc, 40);
	assert_int_equal(tl->tls.alert_dir, DIR_IN);

	tl = &f->out[2].tl;
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_true(tl->tls.has_alert);
	assert_int_equal(tl->tls.alert_level, 0);
	assert_false(tl->tls.handshake_done);

	tl = &f->out[3].tl;
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_int_equal(tl->tls.alert_level, 0);
	assert_int_equal(tl->tls.alert_dir, DIR_OUT);
	assert_false(tl->tls.handshake_done);
	assert_int_equal(tls_event(tl, 3)->event, TL_EV_ENCRYPTED_HANDSHAKE);
	assert_int_equal(tls_event(tl, 3)->records, 4);
	assert_int_equal(tls_event(tl, 4)->event, TL_EV_CHANGE_CIPHER_SPEC);
	assert_int_equal(tls_event(tl, 5)->event, TL_EV_ALERT);
	assert_int_equal(tls_event(tl, 5)->len, 19);
	assert_true(tls_event(tl, 5)->estimated);
	assert_int_equal(tl->n_events, 2 + 6 + 3);

	tl = &f->out[4].tl;
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_int_equal(tl->tls.alert_dir, DIR_IN);
	assert_int_equal(tls_event(tl, 2)->event, TL_EV_ENCRYPTED_HANDSHAKE);
	assert_int_equal(tls_event(tl, 2)->records, 2);
	assert_int_equal(tls_event(tl, 3)->event, TL_EV_ALERT);
	assert_true(tls_event(tl, 3)->estimated);

	tl = &f->out[5].tl;
	assert_int_equal(tl->result, RESULT_OK);
	assert_true(tl->tls.has_alert);
	assert_int_equal(tl->tls.alert_level, 1);
	assert_int_equal(tl->tls.alert_desc, 112);
	assert_true(tl->tls.handshake_done);

	tl = &f->out[6].tl;
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_int_equal(tl->tls.alert_level, 1);
}

/* A handshake that never completes and has no alert: tls_failed once the connection ended,
 * whichever way; incomplete while it is open. */
static void test_tls_failed(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "silent.example" };
	const struct hello sh = { .server = true, .cipher = 0xc02f };

	/* 30: the server just closes after the ClientHello. */
	client_open(f, 30, 0);
	hello(f, 30, 1100, OUT, &ch);
	tcp(f, 30, HS_EV_FIN_IN, T(2100), 0, 200, 0);
	tcp(f, 30, HS_EV_FIN_OUT, T(2200), 0, 200, 0);
	tcp(f, 30, HS_EV_CLOSED, T(2300), 0, 200, 0);

	/* 31: reset in the middle of the server's flight: tls_failed wins over reset. */
	client_open(f, 31, 0);
	hello(f, 31, 1100, OUT, &ch);
	hello(f, 31, 2100, IN, &sh);
	tcp(f, 31, HS_EV_RESET_IN, T(2200), 0, 200, 90);
	tcp(f, 31, HS_EV_CLOSED, T(2200), 0, 200, 90);

	/* 32: still waiting for the ServerHello when hstrace stops. */
	client_open(f, 32, 0);
	hello(f, 32, 1100, OUT, &ch);

	/* 33: reset without its CLOSED record (lost): ended all the same. */
	client_open(f, 33, 0);
	hello(f, 33, 1100, OUT, &ch);
	tcp(f, 33, HS_EV_RESET_OUT, T(5000), 0, 200, 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 4);
	assert_int_equal(f->out[0].tl.result, RESULT_TLS_FAILED);
	assert_false(f->out[0].tl.tls.has_alert);
	assert_false(f->out[0].tl.tls.handshake_done);
	assert_int_equal(phase_us(&f->out[0].tl, "idle_before_hello"), 100);
	assert_no_phase(&f->out[0].tl, "tls_handshake");
	assert_int_equal(f->out[1].tl.result, RESULT_TLS_FAILED);
	assert_int_equal(f->out[2].tl.result, RESULT_INCOMPLETE);
	assert_int_equal(f->out[3].tl.result, RESULT_TLS_FAILED);
	assert_int_equal(stats(f).incomplete, 1);
}

/* Framing lost: the flag is set, nothing else changes. Handshake framing that BPF reads in
 * a TLS 1.2 direction after its CCS (the encrypted Finished) is ignored, not malformed. */
static void test_desync_and_noise(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "desync.example" };
	const struct hello sh = { .server = true, .cipher = 0xc02f };
	static const uint8_t junk[] = { 0x9f, 0x00 };
	struct hs_tls_rec r;
	const struct timeline *tl;

	client_open(f, 40, 0);
	hello(f, 40, 1100, OUT, &ch);
	hello(f, 40, 2100, IN, &sh);
	rec(f, 40, 2200, OUT, 20, 1);
	rec(f, 40, 2200, OUT, 22, 40);
	hs(f, 40, 2200, OUT, 1, 0x9f00aa, junk, sizeof(junk)); /* "client_hello" in ciphertext */
	hs(f, 40, 2200, OUT, 11, 77, NULL, 0);
	certs(f, 40, 2200, OUT, 5, 77);
	r = tls_new(40, T(3000), HS_TLS_DESYNC, IN);
	assert_int_equal(tls_feed(f, &r), 0);
	tcp_close(f, 40, 4000);

	tl = finish_one(f);
	assert_true(tl->tls.desync);
	assert_false(tl->tls.has_certs);
	assert_int_equal(tl->tls.cert_count, 0);
	assert_string_equal(tl->tls.sni, "desync.example");
	assert_int_equal(tl->n_events, 5 + 4);
	assert_int_equal(tls_event(tl, 3)->event, TL_EV_FINISHED);
	/* The server's Finished may have come in what was lost: the handshake is not known to
	 * have failed (tls.desync says why), so TCP decides. */
	assert_false(tl->tls.handshake_done);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(stats(f).malformed, 0);
}

static void test_malformed_tls(void **state)
{
	struct fixture *f = *state;
	struct collector_stats st;
	struct hs_tls_rec r;
	size_t hdr = HS_TLS_REC_HDR_SIZE;
	unsigned char *buf;
	int n = 0;

	client_open(f, 50, 0);
	r = tls_new(50, T(1100), HS_TLS_RECORD, OUT);
	r.content_type = 22;
	r.len = 100;

	/* Shorter than the TLS header. */
	r.hdr.size = hdr - 1;
	assert_int_equal(collector_handle(f->c, &r, hdr - 1), -EINVAL);
	n++;
	/* hdr.size disagrees. */
	r.hdr.size = hdr + 1;
	assert_int_equal(collector_handle(f->c, &r, hdr), -EINVAL);
	n++;
	/* size != header + data_len (both ways). */
	r.data_len = 4;
	r.hdr.size = hdr;
	assert_int_equal(collector_handle(f->c, &r, hdr), -EINVAL);
	n++;
	r.data_len = 0;
	r.hdr.size = hdr + 4;
	assert_int_equal(collector_handle(f->c, &r, hdr + 4), -EINVAL);
	n++;
	/* data_len beyond HS_TLS_DATA_MAX. */
	buf = calloc(1, hdr + HS_TLS_DATA_MAX + 1);
	assert_non_null(buf);
	r.data_len = HS_TLS_DATA_MAX + 1;
	r.hdr.size = hdr + HS_TLS_DATA_MAX + 1;
	memcpy(buf, &r, hdr);
	assert_int_equal(collector_handle(f->c, buf, hdr + HS_TLS_DATA_MAX + 1), -EINVAL);
	n++;
	free(buf);
	r.data_len = 0;
	/* Bad direction, bad kind of observation. */
	r.dir = 0;
	assert_int_equal(tls_feed(f, &r), -EINVAL);
	n++;
	r.dir = 3;
	assert_int_equal(tls_feed(f, &r), -EINVAL);
	n++;
	r.dir = OUT;
	r.what = 0;
	assert_int_equal(tls_feed(f, &r), -EINVAL);
	n++;
	r.what = HS_TLS_RECORD_END + 1;
	assert_int_equal(tls_feed(f, &r), -EINVAL);
	n++;
	/* A device time: of its size, of a known kind, for some bytes. */
	{
		struct hs_sent_rec t = sent_new(50, T(1100), HS_SENT_BYTES, 0, 0);

		assert_int_equal(collector_handle(f->c, &t, sizeof(t)), -EINVAL);
		n++;
		t.len = 10;
		t.what = 0;
		assert_int_equal(collector_handle(f->c, &t, sizeof(t)), -EINVAL);
		n++;
		t.what = HS_SENT_BYTES + 1;
		assert_int_equal(collector_handle(f->c, &t, sizeof(t)), -EINVAL);
		n++;
		t.what = HS_SENT_FIN;
		t.hdr.size = sizeof(t) - 4;
		assert_int_equal(collector_handle(f->c, &t, sizeof(t) - 4), -EINVAL);
		n++;
	}
	r.what = HS_TLS_RECORD;
	/* A ClientHello body that is not one. */
	{
		struct hs_tls_rec h = tls_new(50, T(1100), HS_TLS_HANDSHAKE, OUT);

		h.hs_type = 1;
		h.len = 200;
		h.data_len = 3;
		memset(h.data, 0x03, 3);
		assert_int_equal(tls_feed(f, &h), -EINVAL);
		n++;
	}

	st = stats(f);
	assert_int_equal(st.malformed, n);
	assert_int_equal(st.unmatched, 0);

	/* Nothing of it reached the connection. */
	{
		struct hs_tls_rec u = r;

		/* A TLS record for a connection never seen is unmatched. */
		u.hdr.cookie = 51;
		assert_int_equal(tls_feed(f, &u), -ENOENT);
		assert_int_equal(stats(f).unmatched, 1);
	}

	/* A good one, from an unaligned buffer. */
	r.hdr.size = hdr;
	buf = malloc(hdr + 1);
	assert_non_null(buf);
	memcpy(buf + 1, &r, hdr);
	assert_int_equal(collector_handle(f->c, buf + 1, hdr), 0);
	free(buf);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	assert_true(f->out[0].tl.tls.seen);
	assert_int_equal(f->out[0].tl.n_events, 2); /* a handshake record header alone: no event */
	assert_int_equal(stats(f).malformed, n);
	assert_int_equal(stats(f).records, 2 + n + 2);
}

/* Records from two CPUs arrive out of order: the outcome is that of the sorted stream. */
static void test_out_of_order(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	client_open(f, 60, 0);
	hello(f, 60, 1500, OUT, &ch13);
	hello(f, 60, 11500, IN, &sh13);
	rec(f, 60, 11500, IN, 23, 27);
	/* The request arrives before the end of the server's flight and the Finished. */
	rec(f, 60, 12100, OUT, 23, 120);
	rec(f, 60, 11600, IN, 23, 2100);
	rec(f, 60, 11600, IN, 23, 69);
	rec(f, 60, 32100, IN, 23, 4000);
	rec(f, 60, 22100, IN, 23, 250);
	rec(f, 60, 12000, OUT, 23, 69);
	rec(f, 60, 22150, IN, 23, 250);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_OUT, tls_event(tl, 0)->len, 1500 },
			{ TL_EV_SERVER_HELLO, DIR_IN, tls_event(tl, 1)->len, 11500 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 27 + 2100 + 69, 11500 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 69, 12000 },
			{ TL_EV_APP_DATA, DIR_OUT, 120, 12100 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 22100 },
			{ TL_EV_NEW_SESSION_TICKET, DIR_IN, 250, 22150 },
			{ TL_EV_APP_DATA, DIR_IN, 4000, 32100 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tl->result, RESULT_INCOMPLETE);
	assert_int_equal(phase_us(tl, "ttfb"), 20000);
}

/* Long connections: data records beyond what is logged are still counted exactly. */
static void test_many_records(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "bulk.example" };
	const struct hello sh = { .server = true, .cipher = 0xc02f };
	const struct timeline *tl;
	unsigned int i;

	/* 70: TLS 1.2. */
	client_open(f, 70, 0);
	hello(f, 70, 1100, OUT, &ch);
	hello(f, 70, 2100, IN, &sh);
	rec(f, 70, 2200, OUT, 20, 1);
	rec(f, 70, 2200, OUT, 22, 40);
	rec(f, 70, 3200, IN, 20, 1);
	rec(f, 70, 3200, IN, 22, 40);
	for (i = 0; i < 1000; i++) {
		rec(f, 70, 4000 + 2 * i, OUT, 23, 10);
		rec(f, 70, 4001 + 2 * i, IN, 23, 16384);
	}
	tcp_close(f, 70, 9000);

	/* 71: TLS 1.3, beyond the log's bounds, with alerts too many to log at the end. */
	client_open(f, 71, 0);
	hello(f, 71, 1100, OUT, &ch13);
	hello(f, 71, 2100, IN, &sh13);
	rec(f, 71, 2100, IN, 23, 27);
	rec(f, 71, 2100, IN, 23, 69);
	rec(f, 71, 2200, OUT, 23, 69);
	for (i = 0; i < 300; i++) {
		rec(f, 71, 3000 + 2 * i, OUT, 23, 10);
		rec(f, 71, 3001 + 2 * i, IN, 23, 1000);
	}
	for (i = 0; i < 200; i++)
		rec(f, 71, 4000 + i, IN, 21, 2);
	tcp_close(f, 71, 9000);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);

	tl = &f->out[0].tl;
	assert_int_equal(tl->tls.app_records[DIR_OUT], 1000);
	assert_int_equal(tl->tls.app_bytes[DIR_OUT], 10000);
	assert_int_equal(tl->tls.app_records[DIR_IN], 1000);
	assert_int_equal(tl->tls.app_bytes[DIR_IN], 16384000);
	assert_int_equal(tl->n_events, 5 + 8);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(phase_us(tl, "ttfb"), 1);

	tl = &f->out[1].tl;
	assert_int_equal(tl->tls.app_records[DIR_OUT], 300);
	assert_int_equal(tl->tls.app_bytes[DIR_OUT], 3000);
	assert_int_equal(tl->tls.app_records[DIR_IN], 300);
	assert_int_equal(tl->tls.app_bytes[DIR_IN], 300000);
	assert_true(tl->tls.handshake_done);
	assert_false(tl->tls.has_alert); /* close_notify */
	assert_int_equal(tl->result, RESULT_OK);
	assert_true(tl->n_events < MAX_EVENTS);
}

/* Phases that need their events in order; handshake completed without data. */
static void test_phase_edges(void **state)
{
	struct fixture *f = *state;
	const struct hello ch = { .sni = "smtp.example" };
	const struct hello sh = { .server = true, .cipher = 0xc02f };
	const struct timeline *tl;

	/* 80: server speaks first (a TLS 1.2 greeting): no ttfb, as data came in first. */
	client_open(f, 80, 0);
	hello(f, 80, 1100, OUT, &ch);
	hello(f, 80, 2100, IN, &sh);
	rec(f, 80, 2200, OUT, 20, 1);
	rec(f, 80, 2200, OUT, 22, 40);
	rec(f, 80, 3200, IN, 20, 1);
	rec(f, 80, 3200, IN, 22, 40);
	rec(f, 80, 3300, IN, 23, 60);
	rec(f, 80, 4300, OUT, 23, 30);
	tcp_close(f, 80, 5000);

	/* 81: handshake completed, then closed without data. */
	client_open(f, 81, 0);
	hello(f, 81, 1100, OUT, &ch);
	hello(f, 81, 2100, IN, &sh);
	rec(f, 81, 2200, OUT, 20, 1);
	rec(f, 81, 2200, OUT, 22, 40);
	rec(f, 81, 3200, IN, 20, 1);
	rec(f, 81, 3200, IN, 22, 40);
	rec(f, 81, 3300, OUT, 21, 26);
	tcp_close(f, 81, 5000);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);

	tl = &f->out[0].tl;
	assert_no_phase(tl, "ttfb");
	assert_int_equal(phase_us(tl, "tls_handshake"), 2100);
	assert_int_equal(phase_us(tl, "total"), 3300);
	assert_int_equal(tl->result, RESULT_OK);

	tl = &f->out[1].tl;
	assert_true(tl->tls.handshake_done);
	assert_int_equal(phase_us(tl, "tls_handshake"), 2100);
	assert_no_phase(tl, "ttfb");
	assert_no_phase(tl, "total");
	assert_int_equal(tl->result, RESULT_OK); /* close_notify after the handshake */
	assert_int_equal(tl->n_phases, 5);
}

/* Without TLS records nothing TLS appears. */
static void test_plain_tcp_untouched(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	struct tl_tls zero;

	client_open(f, 90, 0);
	tcp_close(f, 90, 5000);
	tl = finish_one(f);
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&tl->tls, &zero, sizeof(zero));
	assert_int_equal(tl->n_events, 5);
	assert_int_equal(tl->n_phases, 1);
	assert_int_equal(tl->result, RESULT_OK);
}

/* 0-RTT early data (before the ServerHello) is counted as application data. */
static void test_tls13_early_data(void **state)
{
	struct fixture *f = *state;
	struct hello ch = ch13;
	struct hello sh = sh13;
	const struct timeline *tl;

	ch.psk = true;
	sh.psk = true;
	client_open(f, 95, 0);
	hello(f, 95, 1100, OUT, &ch);
	rec(f, 95, 1100, OUT, 23, 200);
	hello(f, 95, 2100, IN, &sh);
	rec(f, 95, 2100, IN, 23, 27);
	rec(f, 95, 2100, IN, 23, 53);
	rec(f, 95, 2100, IN, 23, 900);
	rec(f, 95, 2200, OUT, 23, 53);

	tl = finish_one(f);
	assert_int_equal(tls_event(tl, 1)->event, TL_EV_APP_DATA);
	assert_int_equal(tls_event(tl, 1)->dir, DIR_OUT);
	assert_int_equal(tls_event(tl, 1)->len, 200);
	assert_int_equal(tls_event(tl, 3)->event, TL_EV_ENCRYPTED_HANDSHAKE);
	assert_int_equal(tls_event(tl, 3)->records, 3);
	assert_int_equal(tls_event(tl, 4)->event, TL_EV_ENCRYPTED_HANDSHAKE);
	assert_int_equal(tl->tls.resumed, 1);
	assert_true(tl->tls.handshake_done);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* ---- TLS library calls (uprobes) ---- */

static int ssl_feed(struct fixture *f, uint64_t cookie, uint8_t what, uint64_t entry_us,
		    uint64_t ret_us, int32_t ret)
{
	struct hs_ssl_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_SSL;
	r.hdr.size = sizeof(r);
	r.hdr.ts_ns = T(ret_us);
	r.hdr.cookie = cookie;
	r.what = what;
	r.ret = ret;
	r.entry_ns = T(entry_us);
	r.lib_id = 3;
	return collector_handle(f->c, &r, sizeof(r));
}

static void describe_lib(void *ctx, uint32_t lib_id, struct tl_tls *tls)
{
	(void)ctx;
	assert_int_equal(lib_id, 3);
	strcpy(tls->library, "OpenSSL 3.0.99");
	strcpy(tls->library_file, "/usr/lib/libssl.so.3");
}

/* A non-blocking client: two handshake calls, peer verification in between. */
static void test_ssl_client_calls(void **state)
{
	struct fixture *f = *state;
	struct collector_opts opts = { .emit = capture, .ctx = f, .lib_describe = describe_lib };
	const struct timeline *tl;
	const struct tl_event *e;
	size_t i, n_start = 0;

	collector_free(f->c);
	f->c = collector_new(&opts);
	assert_non_null(f->c);
	client_open(f, 70, 0);
	hello(f, 70, 1100, OUT, &ch13);
	assert_int_equal(ssl_feed(f, 70, HS_SSL_HANDSHAKE, 1050, 1150, -1), 0);
	hello(f, 70, 2000, IN, &sh13);
	rec(f, 70, 2000, IN, 23, 2000);
	assert_int_equal(ssl_feed(f, 70, HS_SSL_VERIFY, 2100, 2400, 1), 0);
	rec(f, 70, 2600, OUT, 23, 53);
	assert_int_equal(ssl_feed(f, 70, HS_SSL_HANDSHAKE, 1990, 2650, 1), 0);
	rec(f, 70, 2700, OUT, 23, 60);
	rec(f, 70, 3700, IN, 23, 500);
	tcp_close(f, 70, 5000);

	tl = finish_one(f);
	assert_true(tl->tls_api.seen);
	assert_int_equal(tl->tls_api.calls, 2);
	assert_int_equal(tl->tls_api.inside_ns, (100 + 660) * US);
	assert_int_equal(tl->tls_api.result, 1);
	assert_int_equal(tl->tls.verify, 1);
	assert_int_equal(phase_us(tl, "cert_verify"), 300);
	assert_int_equal(tl->sources, TL_SRC_KERNEL_TCP | TL_SRC_KERNEL_TLS | TL_SRC_OPENSSL);
	assert_string_equal(tl->tls.library, "OpenSSL 3.0.99");
	assert_string_equal(tl->tls.library_file, "/usr/lib/libssl.so.3");
	for (i = 0; i < tl->n_events; i++) {
		e = &tl->events[i];
		if (e->event == TL_EV_HANDSHAKE_START) {
			n_start++;
			assert_int_equal(e->ts_ns, T(1050));
		}
		if (e->event == TL_EV_HANDSHAKE_DONE)
			assert_int_equal(e->ts_ns, T(2650));
		if (e->event == TL_EV_CERT_VERIFY_START)
			assert_int_equal(e->ts_ns, T(2100));
		if (e->event == TL_EV_CERT_VERIFY_DONE)
			assert_int_equal(e->ts_ns, T(2400));
	}
	assert_int_equal(n_start, 1);
	assert_int_equal(count_events(tl, TL_EV_HANDSHAKE_DONE), 1);
	assert_int_equal(count_events(tl, TL_EV_CERT_VERIFY_DONE), 1);
	/* Events stay sorted. */
	for (i = 1; i < tl->n_events; i++)
		assert_true(tl->events[i - 1].ts_ns <= tl->events[i].ts_ns);
}

/* A server builds its own chain with X509_verify_cert() before its ServerHello: not peer
 * verification. Its tickets, written inside its handshake call, are exact. */
static void test_ssl_server_chain_and_tickets(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	size_t i, tickets = 0;

	server_open(f, 71, 0);
	hello(f, 71, 500, IN, &ch13);
	assert_int_equal(ssl_feed(f, 71, HS_SSL_VERIFY, 550, 600, 0), 0);
	hello(f, 71, 700, OUT, &sh13);
	rec(f, 71, 700, OUT, 23, 2000);
	assert_int_equal(ssl_feed(f, 71, HS_SSL_HANDSHAKE, 450, 750, -1), 0);
	rec(f, 71, 10700, IN, 23, 53);
	rec(f, 71, 10800, OUT, 23, 250);
	rec(f, 71, 10800, OUT, 23, 250);
	assert_int_equal(ssl_feed(f, 71, HS_SSL_HANDSHAKE, 10690, 10810, 1), 0);
	rec(f, 71, 10900, IN, 23, 120);
	rec(f, 71, 11400, OUT, 23, 4000);
	tcp_close(f, 71, 20000);

	tl = finish_one(f);
	assert_int_equal(tl->tls.verify, 0);
	assert_int_equal(count_events(tl, TL_EV_CERT_VERIFY_START), 0);
	assert_int_equal(tl->tls_api.calls, 2);
	assert_int_equal(tl->tls_api.result, 1);
	for (i = 0; i < tl->n_events; i++) {
		if (tl->events[i].event != TL_EV_NEW_SESSION_TICKET)
			continue;
		tickets++;
		assert_false(tl->events[i].estimated);
	}
	assert_int_equal(tickets, 2);
	assert_int_equal(phase_us(tl, "response_time"), 500);
}

/* A failed verification shows as tls.verify "failed". */
static void test_ssl_verify_failed(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	client_open(f, 72, 0);
	hello(f, 72, 1100, OUT, &ch13);
	hello(f, 72, 2000, IN, &sh13);
	rec(f, 72, 2000, IN, 23, 2000);
	assert_int_equal(ssl_feed(f, 72, HS_SSL_VERIFY, 2100, 2400, 0), 0);
	rec(f, 72, 2500, OUT, 23, 19); /* the encrypted alert */
	assert_int_equal(ssl_feed(f, 72, HS_SSL_HANDSHAKE, 1050, 2550, -1), 0);
	tcp_close(f, 72, 3000);

	tl = finish_one(f);
	assert_int_equal(tl->tls.verify, 2);
	assert_int_equal(tl->tls_api.result, -1);
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_int_equal(count_events(tl, TL_EV_HANDSHAKE_DONE), 0);
}

/* Bad or orphan library records are counted, never fatal. */
static void test_ssl_bad_records(void **state)
{
	struct fixture *f = *state;
	struct hs_ssl_rec r;

	assert_int_equal(ssl_feed(f, 999, HS_SSL_HANDSHAKE, 1, 2, 1), -ENOENT);
	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_SSL;
	r.hdr.size = sizeof(r);
	r.what = 9;
	assert_int_equal(collector_handle(f->c, &r, sizeof(r)), -EINVAL);
	r.what = HS_SSL_HANDSHAKE;
	assert_int_equal(collector_handle(f->c, &r, sizeof(r) - 1), -EINVAL);
	r.entry_ns = 10;
	r.hdr.ts_ns = 5; /* returned before it was entered */
	assert_int_equal(collector_handle(f->c, &r, sizeof(r)), -EINVAL);
	assert_int_equal(stats(f).malformed, 3);
	assert_int_equal(stats(f).unmatched, 1);
}

/* TLS 1.3 with a client certificate the server rejects (issue 12's failure matrix). The server
 * reads the client's flight (Certificate, CertificateVerify, Finished) record by record; its
 * answer is an alert-sized record before any data: a fatal, encrypted alert, both views. */
static void test_tls13_mtls_rejected_server(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	uint32_t ch_len, sh_len;

	server_open(f, 80, 0);
	ch_len = hello(f, 80, 500, IN, &ch13);
	sh_len = hello(f, 80, 700, OUT, &sh13);
	rec(f, 80, 700, OUT, 20, 1);
	rec(f, 80, 700, OUT, 23, 27);
	rec(f, 80, 700, OUT, 23, 2100);
	rec(f, 80, 750, OUT, 23, 281);
	rec(f, 80, 750, OUT, 23, 53);
	rec(f, 80, 10700, IN, 20, 1);
	rec(f, 80, 10700, IN, 23, 600); /* Certificate */
	rec(f, 80, 10710, IN, 23, 280); /* CertificateVerify */
	rec(f, 80, 10720, IN, 23, 53);	/* Finished */
	rec(f, 80, 10800, OUT, 23, 19); /* bad_certificate / certificate_required */
	tcp_close(f, 80, 10900);

	tl = finish_one(f);
	{
		const struct want want[] = {
			{ TL_EV_CLIENT_HELLO, DIR_IN, ch_len, 500 },
			{ TL_EV_SERVER_HELLO, DIR_OUT, sh_len, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT, 1, 700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT, 27 + 2100 + 281 + 53, 700 },
			{ TL_EV_CHANGE_CIPHER_SPEC, DIR_IN, 1, 10700 },
			{ TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN, 600 + 280 + 53, 10700 },
			{ TL_EV_ALERT, DIR_OUT, 19, 10800 },
		};

		assert_tls_events(tl, want, sizeof(want) / sizeof(want[0]));
	}
	assert_int_equal(tls_event(tl, 5)->records, 3);
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_true(tl->tls.has_alert);
	assert_int_equal(tl->tls.alert_level, 0); /* encrypted */
	assert_int_equal(tl->tls.alert_dir, DIR_OUT);
	assert_int_equal(tl->tls.app_records[DIR_IN], 0);
}

/* The same seen by the client, which wrote its flight in one call and its request after it. */
static void test_tls13_mtls_rejected_client(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	client_open(f, 81, 0);
	hello(f, 81, 500, OUT, &ch13);
	hello(f, 81, 700, IN, &sh13);
	rec(f, 81, 700, IN, 20, 1);
	rec(f, 81, 700, IN, 23, 27);
	rec(f, 81, 700, IN, 23, 2100);
	rec(f, 81, 750, IN, 23, 281);
	rec(f, 81, 750, IN, 23, 53);
	rec(f, 81, 1000, OUT, 20, 1);
	rec(f, 81, 1000, OUT, 23, 600);
	rec(f, 81, 1000, OUT, 23, 280);
	rec(f, 81, 1000, OUT, 23, 53);
	rec(f, 81, 1100, OUT, 23, 120); /* the request */
	rec(f, 81, 11000, IN, 23, 19);	/* the server's alert */
	tcp_close(f, 81, 11100);

	tl = finish_one(f);
	assert_int_equal(tl->result, RESULT_TLS_ALERT);
	assert_true(tl->tls.has_alert);
	assert_int_equal(tl->tls.alert_level, 0);
	assert_int_equal(tl->tls.alert_dir, DIR_IN);
	assert_int_equal(tl->tls.app_records[DIR_IN], 0); /* not taken for a response */
	assert_false(tl_phase_get(tl, "ttfb", NULL));
}

/* Without a client certificate in the flight, an alert-sized record after the request is
 * what it is on a normal connection: a close_notify (or 2 bytes of data), not a failure. */
static void test_tls13_small_record_no_mtls(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	client_open(f, 82, 0);
	hello(f, 82, 500, OUT, &ch13);
	hello(f, 82, 700, IN, &sh13);
	rec(f, 82, 700, IN, 20, 1);
	rec(f, 82, 700, IN, 23, 27);
	rec(f, 82, 700, IN, 23, 2100);
	rec(f, 82, 750, IN, 23, 281);
	rec(f, 82, 750, IN, 23, 53);
	rec(f, 82, 1000, OUT, 20, 1);
	rec(f, 82, 1000, OUT, 23, 53);
	rec(f, 82, 1100, OUT, 23, 120);
	rec(f, 82, 11000, IN, 23, 19);
	tcp_close(f, 82, 11100);

	tl = finish_one(f);
	assert_int_not_equal(tl->result, RESULT_TLS_ALERT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_names),
		TEST(test_tls12_ecdhe_client),
		TEST(test_tls12_ecdhe_server),
		TEST(test_tls12_rsa_client_auth),
		TEST(test_tls13_client_tickets_after_request),
		TEST(test_tls13_mtls_rejected_server),
		TEST(test_tls13_mtls_rejected_client),
		TEST(test_tls13_small_record_no_mtls),
		TEST(test_tls13_client_tickets_before_request),
		TEST(test_tls13_client_split_tickets),
		TEST(test_ssl_client_calls),
		TEST(test_ssl_server_chain_and_tickets),
		TEST(test_ssl_verify_failed),
		TEST(test_ssl_bad_records),
		TEST(test_tls13_server),
		TEST(test_tls13_server_batched),
		TEST(test_malformed_batch),
		TEST(test_tls13_server_wire_vs_app_times),
		TEST(test_app_times_partial),
		TEST(test_record_read_in_parts),
		TEST(test_record_end_in_later_packet),
		TEST(test_record_sent_later),
		TEST(test_desync_no_guess),
		TEST(test_tls13_server_request_in_finished_read),
		TEST(test_tls13_client_request_in_finished_write),
		TEST(test_tls13_hello_retry_request),
		TEST(test_tls13_hello_retry_request_server),
		TEST(test_tls12_resumption),
		TEST(test_tls13_psk_resumption),
		TEST(test_alert_bad_certificate),
		TEST(test_alert_variants),
		TEST(test_tls_failed),
		TEST(test_desync_and_noise),
		TEST(test_malformed_tls),
		TEST(test_out_of_order),
		TEST(test_many_records),
		TEST(test_phase_edges),
		TEST(test_plain_tcp_untouched),
		TEST(test_tls13_early_data),
	};

	return cmocka_run_group_tests_name("collector_tls", tests, NULL, NULL);
}
