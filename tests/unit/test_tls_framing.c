// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_tls_framing.c - the TLS framing state machine of bpf/tls_framing.h, driven from user
 * space over recorded and hand-built byte streams.
 *
 * Every buffer is fed from an exactly-sized heap copy, so a read past it shows under valgrind
 * or ASan. Callbacks log what they are told (struct ev); a body is logged by its offset in the
 * whole stream, so logs from different buffer splits of one stream can be compared: how the
 * bytes arrive (one buffer, two at every split point, one byte at a time, 5-byte header reads
 * then bodies) must not change what is seen.
 *
 * Streams: tests/fixtures/tls/flow_*.{c2s,s2c}.bin are both directions of real OpenSSL 3.0
 * handshakes (TLS 1.2; TLS 1.3 with HelloRetryRequest), captured by capture.py there.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/types.h>

/* ---- user-space binding of tls_framing.h ---- */

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

static bool read_fault; /* makes TLSF_READ fail, as a faulting user pointer would in BPF */

#define TLSF_READ(ctx, dst, size, addr)                                                          \
	(read_fault ? -EFAULT : (memcpy((dst), (const void *)(uintptr_t)(addr), (size)), 0))
#define TLSF_FUNC static inline

struct tlsf_io;
static int tlsf_on_record(struct tlsf_io *io, void *ctx, __u8 type, __u16 version, __u32 len,
			  __u64 body, __u32 body_avail, int encrypted);
static int tlsf_on_handshake(struct tlsf_io *io, void *ctx, __u8 type, __u32 len, __u64 body,
			     __u32 avail);
static int tlsf_on_certs(struct tlsf_io *io, void *ctx, __u32 count, __u32 len);
static int tlsf_on_desync(struct tlsf_io *io, void *ctx);
static int tlsf_on_alert(struct tlsf_io *io, void *ctx, __u16 version, __u32 len, __u16 alert);

#include "tls_framing.h"

/* ---- event log ---- */

#define MAX_EV 512
#define FIXTURE_DIR "tests/fixtures/tls"

struct ev {
	char kind;	  /* 'R' record, 'H' handshake message, 'C' certificates, 'D' desync */
	uint8_t type;	  /* R: content type; H: handshake type */
	uint16_t version; /* R */
	uint32_t len;	  /* R, H: body length; C: Certificate message length */
	uint32_t count;	  /* C */
	int encrypted;	  /* R */
	long body_off;	  /* R, H: stream offset of the body; -1 otherwise */
	uint32_t rec_seq; /* io->rec_seq during the callback: its record's stream offset */
	uint16_t alert;	  /* R of a plaintext alert: level << 8 | description */
};

struct feeder {
	struct tls_stream st;
	const uint8_t *stream; /* the whole stream, to check body bytes against */
	size_t stream_len;
	size_t chunk_start;    /* stream offset of the buffer being fed */
	const uint8_t *chunk;  /* its heap copy */
	size_t chunk_len;
	struct ev ev[MAX_EV];
	size_t n_ev;
};

static struct feeder *feeder_of(struct tlsf_io *io)
{
	return (struct feeder *)(uintptr_t)io->cookie;
}

/* Checks that [body, body + avail) lies in the buffer and holds the stream's bytes there;
 * returns the body's stream offset. */
static long check_body(struct feeder *f, __u64 body, __u32 avail)
{
	uintptr_t base = (uintptr_t)f->chunk, p = (uintptr_t)body;
	long off;

	assert_true(p >= base && p - base + avail <= f->chunk_len);
	off = (long)(f->chunk_start + (p - base));
	if (avail)
		assert_memory_equal((const void *)p, f->stream + off, avail);
	return off;
}

static struct ev *log_ev(struct feeder *f, char kind)
{
	struct ev *e;

	assert_true(f->n_ev < MAX_EV);
	e = &f->ev[f->n_ev++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->body_off = -1;
	return e;
}

static int tlsf_on_record(struct tlsf_io *io, void *ctx, __u8 type, __u16 version, __u32 len,
			  __u64 body, __u32 body_avail, int encrypted)
{
	struct feeder *f = feeder_of(io);
	struct ev *e = log_ev(f, 'R');

	(void)ctx;
	e->rec_seq = io->rec_seq;
	assert_true(body_avail <= len);
	e->type = type;
	e->version = version;
	e->len = len;
	e->encrypted = encrypted;
	e->body_off = check_body(f, body, body_avail);
	return 0;
}

static int tlsf_on_handshake(struct tlsf_io *io, void *ctx, __u8 type, __u32 len, __u64 body,
			     __u32 avail)
{
	struct feeder *f = feeder_of(io);
	struct ev *e = log_ev(f, 'H');

	(void)ctx;
	e->rec_seq = io->rec_seq;
	assert_true(avail <= len);
	e->type = type;
	e->len = len;
	e->body_off = check_body(f, body, avail);
	return 0;
}

static int tlsf_on_certs(struct tlsf_io *io, void *ctx, __u32 count, __u32 len)
{
	struct ev *e = log_ev(feeder_of(io), 'C');

	(void)ctx;
	e->rec_seq = io->rec_seq;
	e->count = count;
	e->len = len;
	return 0;
}

static int tlsf_on_desync(struct tlsf_io *io, void *ctx)
{
	(void)ctx;
	log_ev(feeder_of(io), 'D');
	return 0;
}

/* A plaintext alert: logged as its record; its two bytes go to alert_level/alert_desc. */
static int tlsf_on_alert(struct tlsf_io *io, void *ctx, __u16 version, __u32 len, __u16 alert)
{
	struct feeder *f = feeder_of(io);
	struct ev *e = log_ev(f, 'R');

	(void)ctx;
	e->rec_seq = io->rec_seq;
	assert_true(len >= 2);
	e->type = 21;
	e->version = version;
	e->len = len;
	e->encrypted = 0;
	e->body_off = -1;
	e->alert = alert;
	return 0;
}

/* ---- feeding ---- */

struct blob {
	uint8_t b[16384];
	size_t n;
};

/* Big state is static, so that a failing test leaks nothing. */
static struct feeder feeder_a, feeder_b;
static struct blob blob_a, blob_b;

/* A heap copy of exactly n bytes, so that reading past it shows under valgrind or ASan. The
 * previous copy is freed; the last one by the group teardown. */
static uint8_t *scratch;

static uint8_t *scratch_dup(const uint8_t *p, size_t n)
{
	free(scratch);
	scratch = malloc(n ? n : 1);
	assert_non_null(scratch);
	memcpy(scratch, p, n);
	return scratch;
}

static int free_scratch(void **state)
{
	(void)state;
	free(scratch);
	scratch = NULL;
	return 0;
}

static void feeder_init(struct feeder *f, const uint8_t *stream, size_t len)
{
	memset(f, 0, sizeof(*f));
	f->stream = stream;
	f->stream_len = len;
}

/* Feeds stream[start, start + n) as one buffer through tlsf_feed(); returns its result. */
static int feed(struct feeder *f, size_t start, size_t n)
{
	struct tlsf_io io;
	uint8_t *copy;
	int ret;

	assert_true(start + n <= f->stream_len);
	copy = scratch_dup(f->stream + start, n);
	memset(&io, 0, sizeof(io));
	io.buf = (uintptr_t)copy;
	io.cookie = (uintptr_t)f;
	io.len = (__u32)n;
	io.seq = (__u32)start;
	io.dir = 1;
	f->chunk = copy;
	f->chunk_start = start;
	f->chunk_len = n;
	ret = tlsf_feed(&f->st, &io, NULL);
	assert_true(ret == TLSF_WAIT || ret == TLSF_STOP);
	assert_true(io.off <= io.len);
	if (ret == TLSF_WAIT)
		assert_int_equal(io.off, io.len);
	f->chunk = NULL;
	return ret;
}

/* Feeds a stream split at the given ascending offsets; returns the last result. */
static int feed_split(struct feeder *f, const size_t *cuts, size_t n_cuts)
{
	size_t i, start = 0;
	int ret = TLSF_WAIT;

	for (i = 0; i <= n_cuts && ret == TLSF_WAIT; i++) {
		size_t end = i < n_cuts ? cuts[i] : f->stream_len;

		ret = feed(f, start, end - start);
		start = end;
	}
	return ret;
}

static void assert_same_events(const struct feeder *a, const struct feeder *b, const char *what)
{
	size_t i;

	if (a->n_ev != b->n_ev)
		fail_msg("%s: %zu events instead of %zu", what, b->n_ev, a->n_ev);
	for (i = 0; i < a->n_ev; i++) {
		const struct ev *x = &a->ev[i], *y = &b->ev[i];

		if (x->kind != y->kind || x->type != y->type || x->version != y->version ||
		    x->len != y->len || x->count != y->count || x->encrypted != y->encrypted ||
		    x->body_off != y->body_off)
			fail_msg("%s: event %zu is %c type %u len %u off %ld, expected %c "
				 "type %u len %u off %ld",
				 what, i, y->kind, y->type, y->len, y->body_off, x->kind, x->type,
				 x->len, x->body_off);
	}
	assert_int_equal(a->st.flags, b->st.flags);
}

/* ---- fixtures ---- */

static FILE *open_fixture(const char *name)
{
	const char *dir = getenv("HSTRACE_SRCDIR");
	char path[2 * PATH_MAX], exe[PATH_MAX];
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir && *dir ? dir : ".", FIXTURE_DIR, name);
	f = fopen(path, "rb");
	if (f || (dir && *dir))
		return f;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1); /* build/.. */
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if (strrchr(exe, '/'))
		*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof(path), "%s/../%s/%s", exe, FIXTURE_DIR, name);
	return fopen(path, "rb");
}

static void load(struct blob *b, const char *name)
{
	FILE *f = open_fixture(name);

	if (!f)
		fail_msg("fixture %s not found: run from the repository root or set "
			 "HSTRACE_SRCDIR",
			 name);
	b->n = fread(b->b, 1, sizeof(b->b), f);
	fclose(f);
	assert_true(b->n > 0 && b->n < sizeof(b->b));
}

static const char *const streams[] = {
	"flow_tls12.c2s.bin",	  "flow_tls12.s2c.bin",	  "flow_tls13_hrr.c2s.bin",
	"flow_tls13_hrr.s2c.bin", "ch_openssl_tls13.bin", "ch_gnutls.bin",
	"ch_curl.bin",		  "sh_openssl_tls13.bin", "sh_openssl_tls12_rsa.bin",
};

/* ---- hand-built streams ---- */

static void put(struct blob *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void put_record(struct blob *b, uint8_t type, const void *body, size_t n)
{
	uint8_t hdr[5] = { type, 3, 3, (uint8_t)(n >> 8), (uint8_t)n };

	put(b, hdr, sizeof(hdr));
	put(b, body, n);
}

/* Appends a handshake message header and body (no record header). */
static void put_hs(struct blob *b, uint8_t type, const void *body, size_t n)
{
	uint8_t hdr[4] = { type, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };

	put(b, hdr, sizeof(hdr));
	put(b, body, n);
}

/* Expected event, checked against a log: kind, type, len (and count for 'C'). */
struct want {
	char kind;
	uint8_t type;
	uint32_t len;
	uint32_t count;
	int encrypted;
};

static void assert_events(const struct feeder *f, const struct want *w, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < f->n_ev; i++) {
		const struct ev *e = &f->ev[i];

		if (e->kind != w[i].kind || e->type != w[i].type || e->len != w[i].len ||
		    e->count != w[i].count || e->encrypted != w[i].encrypted)
			fail_msg("event %zu: %c type %u len %u count %u enc %d; expected %c "
				 "type %u len %u count %u enc %d",
				 i, e->kind, e->type, e->len, e->count, e->encrypted, w[i].kind,
				 w[i].type, w[i].len, w[i].count, w[i].encrypted);
		/* a body offset points just past its header in the stream */
		if (e->kind == 'R')
			assert_int_equal(f->stream[e->body_off - 5], e->type);
	}
	assert_int_equal(f->n_ev, n);
}

/* ---- tests: real streams ---- */

static void test_tls12_server_flight(void **state)
{
	static const struct want want[] = {
		{ 'R', 22, 65, 0, 0 },	{ 'H', 2, 61, 0, 0 },	 /* ServerHello */
		{ 'R', 22, 401, 0, 0 }, { 'H', 11, 397, 0, 0 },	 /* Certificate */
		{ 'C', 0, 397, 1, 0 },	{ 'R', 22, 115, 0, 0 },	 /* one certificate */
		{ 'H', 12, 111, 0, 0 }, { 'R', 22, 4, 0, 0 },	 /* ServerKeyExchange */
		{ 'H', 14, 0, 0, 0 },	{ 'R', 22, 186, 0, 0 },	 /* ServerHelloDone */
		{ 'H', 4, 182, 0, 0 },	{ 'R', 20, 1, 0, 0 },	 /* NewSessionTicket, CCS */
		{ 'R', 22, 40, 0, 1 },	{ 'R', 21, 26, 0, 1 },	 /* Finished, close_notify */
	};
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t i;

	(void)state;
	load(b, "flow_tls12.s2c.bin");
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_WAIT);
	assert_events(f, want, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < f->n_ev; i++)
		if (f->ev[i].kind == 'H')
			assert_int_equal(b->b[f->ev[i].body_off - 4], f->ev[i].type);
	assert_int_equal(f->ev[0].version, 0x0303);
	assert_true(f->st.flags & TLSF_F_STARTED);
	assert_true(f->st.flags & TLSF_F_ENCRYPTED);
	assert_false(f->st.flags & (TLSF_F_STOPPED | TLSF_F_DESYNC | TLSF_F_IN_CERT));
}

static void test_tls12_client_flight(void **state)
{
	static const struct want want[] = {
		{ 'R', 22, 204, 0, 0 }, { 'H', 1, 200, 0, 0 }, /* ClientHello */
		{ 'R', 22, 37, 0, 0 },	{ 'H', 16, 33, 0, 0 }, /* ClientKeyExchange */
		{ 'R', 20, 1, 0, 0 },	{ 'R', 22, 40, 0, 1 }, /* CCS, Finished */
		{ 'R', 23, 29, 0, 1 },			       /* "ping\n": application data */
	};
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;

	(void)state;
	load(b, "flow_tls12.c2s.bin");
	feeder_init(f, b->b, b->n);
	/* The first application-data record after the Finished ends the following (the
	 * close_notify after it is not reported). */
	assert_int_equal(feed(f, 0, b->n), TLSF_STOP);
	assert_true(f->st.flags & TLSF_F_FINISHED);
	assert_events(f, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(f->ev[0].version, 0x0301); /* first record: legacy 1.0 */
	/* the ClientHello body offered to the callback starts with its legacy_version */
	assert_int_equal(b->b[f->ev[1].body_off], 3);
	assert_int_equal(b->b[f->ev[1].body_off + 1], 3);
}

/* The last record followed is followed to its end (so that its end can be timed), and no
 * further: the direction stops with its last byte, not with its header. The bytes missing in
 * front of a segment may not be its end: that is seen when they come. */
static void test_last_record_to_its_end(void **state)
{
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t at, n_ev;

	(void)state;
	load(b, "flow_tls12.c2s.bin");
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_STOP);
	n_ev = f->n_ev;
	assert_int_equal(f->ev[n_ev - 1].type, 23);
	at = f->ev[n_ev - 1].body_off; /* its 29 body bytes */

	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, at + 2), TLSF_WAIT);
	assert_int_equal(f->n_ev, n_ev);
	assert_true(f->st.flags & TLSF_F_LAST);
	assert_false(f->st.flags & TLSF_F_STOPPED);
	assert_true(tlsf_skip_gap(&f->st, 20));	 /* inside its body */
	assert_false(tlsf_skip_gap(&f->st, 7));	 /* up to its end */
	assert_int_equal(feed(f, at + 22, 6), TLSF_WAIT);
	assert_false(f->st.flags & TLSF_F_STOPPED);
	assert_int_equal(feed(f, at + 28, b->n - at - 28), TLSF_STOP); /* its last byte, and a
									* close_notify */
	assert_true(f->st.flags & TLSF_F_STOPPED);
	assert_false(f->st.flags & (TLSF_F_DESYNC | TLSF_F_NOT_TLS));
	assert_int_equal(f->n_ev, n_ev);
}

/*
 * TLS 1.3 with a HelloRetryRequest in middlebox compatibility mode (RFC 8446 D.4): both sides
 * send change_cipher_spec before their second plaintext hello (client: CCS, ClientHello 2;
 * server: HRR, CCS, ServerHello). A change_cipher_spec does not make TLS 1.3 handshake records
 * encrypted (those travel as content type 23), so the second hellos must be seen.
 */
static void test_tls13_hrr_flights(void **state)
{
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;
	uint8_t hs_types[8];
	size_t i, n;

	(void)state;
	load(b, "flow_tls13_hrr.c2s.bin");
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_WAIT);
	for (i = n = 0; i < f->n_ev; i++)
		if (f->ev[i].kind == 'H' && n < sizeof(hs_types))
			hs_types[n++] = f->ev[i].type;
	assert_int_equal(n, 2);
	assert_int_equal(hs_types[0], 1);
	assert_int_equal(hs_types[1], 1);

	load(b, "flow_tls13_hrr.s2c.bin");
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_WAIT);
	for (i = n = 0; i < f->n_ev; i++)
		if (f->ev[i].kind == 'H' && n < sizeof(hs_types))
			hs_types[n++] = f->ev[i].type;
	assert_int_equal(n, 2); /* HelloRetryRequest, ServerHello */
	assert_int_equal(hs_types[0], 2);
	assert_int_equal(hs_types[1], 2);
}

/* ---- tests: how the bytes arrive must not matter ---- */

static void test_every_split_point(void **state)
{
	struct feeder *whole = &feeder_a, *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t i, cut;

	(void)state;
	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		load(b, streams[i]);
		feeder_init(whole, b->b, b->n);
		feed(whole, 0, b->n);
		assert_true(whole->n_ev >= 2);
		for (cut = 1; cut < b->n; cut++) {
			feeder_init(f, b->b, b->n);
			feed_split(f, &cut, 1);
			assert_same_events(whole, f, streams[i]);
		}
	}
}

static void test_one_byte_at_a_time(void **state)
{
	struct feeder *whole = &feeder_a, *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t i, off;

	(void)state;
	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		load(b, streams[i]);
		feeder_init(whole, b->b, b->n);
		feed(whole, 0, b->n);
		feeder_init(f, b->b, b->n);
		for (off = 0; off < b->n; off++) {
			int r = feed(f, off, 1);

			/* TLSF_STOP once past the handshake (TLS <= 1.2 application data). */
			assert_true(r == TLSF_WAIT || (r == TLSF_STOP && f->st.flags & TLSF_F_STOPPED));
		}
		assert_same_events(whole, f, streams[i]);
	}
}

/* Three buffers, over every pair of split points inside the first record. */
static void test_record_over_three_buffers(void **state)
{
	struct feeder *whole = &feeder_a, *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t cuts[2], first;

	(void)state;
	load(b, "flow_tls12.s2c.bin");
	feeder_init(whole, b->b, b->n);
	feed(whole, 0, b->n);
	first = 5 + ((size_t)b->b[3] << 8 | b->b[4]) + 8; /* and a bit of the next header */
	for (cuts[0] = 1; cuts[0] < first; cuts[0]++) {
		for (cuts[1] = cuts[0] + 1; cuts[1] <= first; cuts[1]++) {
			feeder_init(f, b->b, b->n);
			feed_split(f, cuts, 2);
			assert_same_events(whole, f, "three buffers");
		}
	}
}

/* How OpenSSL reads: a 5-byte record header, then the record body, and so on. */
static void test_header_then_body_reads(void **state)
{
	struct feeder *whole = &feeder_a, *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t i, off, len;

	(void)state;
	for (i = 0; i < 4; i++) { /* the flow_* streams */
		load(b, streams[i]);
		feeder_init(whole, b->b, b->n);
		feed(whole, 0, b->n);
		feeder_init(f, b->b, b->n);
		for (off = 0; off + 5 <= b->n; off += 5 + len) {
			len = (size_t)b->b[off + 3] << 8 | b->b[off + 4];
			int r = feed(f, off, 5);

			assert_true(r == TLSF_WAIT || (r == TLSF_STOP && f->st.flags & TLSF_F_STOPPED));
			r = feed(f, off + 5, len);
			assert_true(r == TLSF_WAIT || (r == TLSF_STOP && f->st.flags & TLSF_F_STOPPED));
		}
		assert_int_equal(off, b->n);
		assert_same_events(whole, f, streams[i]);
	}
}

/* ---- tests: messages and records ---- */

/* Several handshake messages in one record (as GnuTLS and others send a TLS 1.2 flight). */
static void test_messages_in_one_record(void **state)
{
	static const uint8_t cert[] = { 0, 0, 9, 0, 0, 6, 'c', 'e', 'r', 't', '-', '1' };
	static const uint8_t sh[] = { 3, 3, 1, 2, 3, 4 }, ske[] = { 3, 0, 0x1d, 1, 0xaa };
	static const struct want want[] = {
		{ 'R', 22, 39, 0, 0 }, { 'H', 2, 6, 0, 0 },  { 'H', 11, 12, 0, 0 },
		{ 'C', 0, 12, 1, 0 },  { 'H', 12, 5, 0, 0 }, { 'H', 14, 0, 0, 0 },
	};
	struct feeder *whole = &feeder_a, *f = &feeder_b;
	struct blob *msgs = &blob_b, *b = &blob_a;
	size_t cut;

	(void)state;
	msgs->n = b->n = 0;
	put_hs(msgs, 2, sh, sizeof(sh));
	put_hs(msgs, 11, cert, sizeof(cert));
	put_hs(msgs, 12, ske, sizeof(ske));
	put_hs(msgs, 14, NULL, 0);
	put_record(b, 22, msgs->b, msgs->n);

	feeder_init(whole, b->b, b->n);
	assert_int_equal(feed(whole, 0, b->n), TLSF_WAIT);
	assert_events(whole, want, sizeof(want) / sizeof(want[0]));
	assert_int_equal(whole->ev[4].body_off, 5 + 4 + 6 + 4 + 12 + 4); /* ServerKeyExchange */
	assert_int_equal(b->b[whole->ev[4].body_off], 3);
	for (cut = 1; cut < b->n; cut++) {
		feeder_init(f, b->b, b->n);
		feed_split(f, &cut, 1);
		assert_same_events(whole, f, "messages in one record");
	}
}

/* One handshake message fragmented over four records, its header over the first three. */
static void test_message_over_records(void **state)
{
	static const size_t frag[] = { 2, 1, 100 }; /* then the rest */
	struct feeder *whole = &feeder_a, *f = &feeder_b;
	struct blob *ch = &blob_b, *b = &blob_a;
	const uint8_t *msg;
	size_t i, off, msg_len, cut;

	(void)state;
	load(ch, "ch_openssl_tls13.bin");
	msg = ch->b + 5; /* the ClientHello message: one record in the capture */
	msg_len = ch->n - 5;
	b->n = 0;
	for (i = off = 0; i < 3; off += frag[i++])
		put_record(b, 22, msg + off, frag[i]);
	put_record(b, 22, msg + off, msg_len - off);

	feeder_init(whole, b->b, b->n);
	assert_int_equal(feed(whole, 0, b->n), TLSF_WAIT);
	assert_int_equal(whole->n_ev, 5); /* R R R H R */
	assert_int_equal(whole->ev[3].kind, 'H');
	assert_int_equal(whole->ev[3].type, 1);
	assert_int_equal(whole->ev[3].len, msg_len - 4);
	/* the body starts after the header's last byte, 1 byte into the third record */
	assert_int_equal(whole->ev[3].body_off, 5 + 2 + 5 + 1 + 5 + 1);
	assert_int_equal(whole->ev[4].kind, 'R');
	assert_false(whole->st.flags & TLSF_F_STOPPED);
	assert_int_equal(whole->st.hs_left, 0);
	for (cut = 1; cut < b->n; cut++) {
		feeder_init(f, b->b, b->n);
		feed_split(f, &cut, 1);
		assert_same_events(whole, f, "message over records");
	}
}

/* Certificate chains: several certificates, an empty one, an empty list, no body at all. */
static void test_certificate_lists(void **state)
{
	struct feeder *whole = &feeder_a, *f = &feeder_b;
	struct blob *msgs = &blob_b, *b = &blob_a;
	static const uint8_t empty_list[] = { 0, 0, 0 };
	uint8_t chain[3 + 3 + 1 + 3 + 700 + 3];
	static const struct want want[] = {
		{ 'R', 22, 0, 0, 0 }, /* len patched below */
		{ 'H', 11, sizeof(chain), 0, 0 }, { 'C', 0, sizeof(chain), 3, 0 },
		{ 'H', 11, 3, 0, 0 },		  { 'C', 0, 3, 0, 0 },
		{ 'H', 11, 0, 0, 0 },		  { 'C', 0, 0, 0, 0 },
		{ 'H', 20, 1, 0, 0 },
	};
	struct want w[sizeof(want) / sizeof(want[0])];
	size_t cut;

	(void)state;
	/* list length, then certificates of 1, 700 and 0 bytes */
	memset(chain, 0x30, sizeof(chain));
	memcpy(chain, "\x00\x02\xc6" "\x00\x00\x01", 6);
	memcpy(chain + 7, "\x00\x02\xbc", 3);
	memcpy(chain + 710, "\x00\x00\x00", 3);
	msgs->n = b->n = 0;
	put_hs(msgs, 11, chain, sizeof(chain));
	put_hs(msgs, 11, empty_list, sizeof(empty_list));
	put_hs(msgs, 11, NULL, 0);
	put_hs(msgs, 20, "f", 1); /* the next message is not mistaken for certificates */
	put_record(b, 22, msgs->b, msgs->n);

	memcpy(w, want, sizeof(w));
	w[0].len = (uint32_t)msgs->n;
	feeder_init(whole, b->b, b->n);
	assert_int_equal(feed(whole, 0, b->n), TLSF_WAIT);
	assert_events(whole, w, sizeof(w) / sizeof(w[0]));
	for (cut = 1; cut < b->n; cut++) {
		feeder_init(f, b->b, b->n);
		feed_split(f, &cut, 1);
		assert_same_events(whole, f, "certificate lists");
	}
}

/* ---- tests: what is not followed ---- */

static void check_not_tls(const void *bytes, size_t n)
{
	struct feeder *f = &feeder_a;

	feeder_init(f, bytes, n);
	assert_int_equal(feed(f, 0, n), TLSF_STOP);
	assert_int_equal(f->n_ev, 0); /* no record, and not reported as lost framing */
	assert_true(f->st.flags & TLSF_F_NOT_TLS);
	assert_true(f->st.flags & TLSF_F_STOPPED);
	assert_false(f->st.flags & (TLSF_F_DESYNC | TLSF_F_STARTED));
	assert_int_equal(feed(f, 0, n), TLSF_STOP); /* and stays stopped */
	assert_int_equal(f->n_ev, 0);
}

static void test_not_tls(void **state)
{
	static const uint8_t sslv2_hello[] = { 0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15 };
	struct feeder *f = &feeder_b;
	static const uint8_t alert[] = { 21, 3, 1, 0, 2, 2, 40 };

	(void)state;
	check_not_tls("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	check_not_tls("SSH-2.0-OpenSSH_9.2\r\n", 21);
	check_not_tls("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
	check_not_tls(sslv2_hello, sizeof(sslv2_hello));
	check_not_tls("\x17\x03\x03\x00\x05hello", 10);	   /* application data first */
	check_not_tls("\x14\x03\x03\x00\x01\x01", 6);	   /* change_cipher_spec first */
	check_not_tls("\x16\x02\x00\x00\x04\x01\x00\x00\x00", 9); /* version 2.0 */
	check_not_tls("\x16\x03\x05\x00\x04\x01\x00\x00\x00", 9); /* version 3.5 */
	check_not_tls("\x16\x03\x01\x48\x01", 5);		   /* longer than any record */

	/* a first header in pieces is waited for */
	feeder_init(f, (const uint8_t *)"\x16\x03\x01\x00\x04\x0e\x00\x00\x00", 9);
	assert_int_equal(feed(f, 0, 1), TLSF_WAIT);
	assert_int_equal(feed(f, 1, 3), TLSF_WAIT);
	assert_int_equal(f->n_ev, 0);
	assert_int_equal(feed(f, 4, 5), TLSF_WAIT);
	assert_int_equal(f->n_ev, 2);
	assert_true(f->st.flags & TLSF_F_STARTED);

	/* an alert may open a stream (a server refusing the ClientHello) */
	feeder_init(f, alert, sizeof(alert));
	assert_int_equal(feed(f, 0, sizeof(alert)), TLSF_WAIT);
	assert_int_equal(f->n_ev, 1);
	assert_int_equal(f->ev[0].type, 21);
	assert_int_equal(f->ev[0].alert, 2 << 8 | 40); /* fatal handshake_failure */

	/* ... read as a 5-byte header, then the two bytes (OpenSSL's reads): the same alert */
	feeder_init(f, alert, sizeof(alert));
	assert_int_equal(feed(f, 0, 5), TLSF_WAIT);
	assert_int_equal(f->n_ev, 0);
	assert_int_equal(feed(f, 5, 1), TLSF_WAIT);
	assert_int_equal(f->n_ev, 0);
	assert_int_equal(feed(f, 6, sizeof(alert) - 6), TLSF_WAIT);
	assert_int_equal(f->n_ev, 1);
	assert_int_equal(f->ev[0].alert, 2 << 8 | 40);
}

static void check_desync(const struct blob *b, size_t events_before)
{
	struct feeder *f = &feeder_a;

	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_STOP);
	assert_int_equal(f->n_ev, events_before + 1);
	assert_int_equal(f->ev[events_before].kind, 'D');
	assert_true(f->st.flags & TLSF_F_DESYNC);
	assert_true(f->st.flags & TLSF_F_STOPPED);
	assert_false(f->st.flags & TLSF_F_NOT_TLS);
	assert_int_equal(feed(f, 0, b->n), TLSF_STOP);
	assert_int_equal(f->n_ev, events_before + 1); /* reported once */
}

static void test_desync(void **state)
{
	static const uint8_t bad_headers[][5] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff }, /* garbage */
		{ 19, 3, 3, 0, 1 },		  /* unknown content type */
		{ 25, 3, 3, 0, 1 },
		{ 23, 3, 5, 0, 1 },		  /* unknown version */
		{ 23, 2, 0, 0, 1 },
		{ 23, 3, 3, 0x48, 0x01 },	  /* longer than 2^14 + 2048 */
	};
	static const uint8_t hello[] = { 1, 0, 0, 2, 3, 3 };
	static const uint8_t huge_hs[] = { 4, 0x04, 0x00, 0x01 }; /* 2^18 + 1 */
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
		b->n = 0;
		put_record(b, 22, hello, sizeof(hello));
		put(b, bad_headers[i], 5);
		check_desync(b, 2);
	}

	/* the largest valid record is fine */
	b->n = 0;
	put_record(b, 22, hello, sizeof(hello));
	put(b, "\x17\x03\x03\x48\x00", 5);
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_WAIT);
	assert_int_equal(f->n_ev, 3);
	assert_int_equal(f->ev[2].len, 0x4800);

	/* a handshake message longer than TLSF_MAX_HS_LEN */
	b->n = 0;
	put_record(b, 22, huge_hs, sizeof(huge_hs));
	check_desync(b, 1);
}

/* More than TLSF_MAX_STEPS steps in one buffer is framing loss; the same bytes over two
 * buffers are not. */
static void test_step_limit(void **state)
{
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t i, cut;

	(void)state;
	b->n = 0;
	for (i = 0; i < TLSF_MAX_STEPS; i++) /* one step each: a header, no body */
		put_record(b, 22, NULL, 0);
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_WAIT);
	assert_int_equal(f->n_ev, TLSF_MAX_STEPS);

	put_record(b, 22, NULL, 0);
	check_desync(b, TLSF_MAX_STEPS);

	feeder_init(f, b->b, b->n);
	cut = 5 * (TLSF_MAX_STEPS / 2);
	assert_int_equal(feed_split(f, &cut, 1), TLSF_WAIT);
	assert_int_equal(f->n_ev, TLSF_MAX_STEPS + 1);
	assert_false(f->st.flags & TLSF_F_STOPPED);
}

/* Only the first TLSF_MAX_ENCRYPTED application-data records are followed. */
static void test_encrypted_record_limit(void **state)
{
	static const uint8_t hello[] = { 1, 0, 0, 2, 3, 3 };
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;
	size_t i;

	(void)state;
	b->n = 0;
	put_record(b, 22, hello, sizeof(hello));
	put_record(b, 20, "\x01", 1);
	for (i = 0; i < TLSF_MAX_ENCRYPTED + 4; i++)
		put_record(b, 23, "data", 4);
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, b->n), TLSF_STOP);
	assert_int_equal(f->n_ev, 3 + TLSF_MAX_ENCRYPTED);
	assert_int_equal(f->ev[f->n_ev - 1].type, 23);
	assert_true(f->st.flags & TLSF_F_STOPPED);
	assert_false(f->st.flags & (TLSF_F_DESYNC | TLSF_F_NOT_TLS));
}

/* A buffer that cannot be read (a bad user pointer in BPF) is framing loss. */
static void test_read_fault(void **state)
{
	struct feeder *f = &feeder_b;
	struct blob *b = &blob_a;

	(void)state;
	load(b, "flow_tls12.s2c.bin");
	feeder_init(f, b->b, b->n);
	assert_int_equal(feed(f, 0, 70), TLSF_WAIT); /* the ServerHello record */
	read_fault = true;
	assert_int_equal(feed(f, 70, 100), TLSF_STOP);
	read_fault = false;
	assert_int_equal(f->ev[f->n_ev - 1].kind, 'D');
	assert_true(f->st.flags & TLSF_F_DESYNC);
}

/* io->rec_seq, during every callback, is the stream offset of the current record's header. */
static void test_rec_seq(void **state)
{
	struct feeder *f = &feeder_a;
	struct blob *b = &blob_a;
	uint32_t rec = 0;
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		load(b, streams[i]);
		feeder_init(f, b->b, b->n);
		feed(f, 0, b->n);
		for (k = 0; k < f->n_ev; k++) {
			const struct ev *e = &f->ev[k];

			if (e->kind == 'R' && e->body_off >= 0) {
				assert_int_equal(e->rec_seq, e->body_off - 5);
				rec = e->rec_seq;
			} else if (e->kind == 'H') {
				/* A message lies in the record reported last (or continues it). */
				assert_int_equal(e->rec_seq, rec);
				assert_true(e->body_off >= (long)rec + 5 + 4);
			}
		}
	}
}

/*
 * A gap (bytes that arrive after the ones behind them) is skipped only inside a body whose
 * contents are not followed; then everything after it is seen exactly as without the gap.
 * Elsewhere (a header, a certificate list, an alert) tlsf_skip_gap() refuses and changes
 * nothing.
 */
static void test_skip_gap(void **state)
{
	static const size_t gaps[] = { 1, 3, 50 };
	struct feeder *ref = &feeder_a, *f = &feeder_b;
	struct blob *b = &blob_a;
	struct tls_stream before;
	size_t i, g, a, accepted, refused;

	(void)state;
	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		load(b, streams[i]);
		feeder_init(ref, b->b, b->n);
		feed(ref, 0, b->n);
		accepted = refused = 0;
		for (g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++) {
			for (a = 1; a + gaps[g] < b->n; a++) {
				feeder_init(f, b->b, b->n);
				if (feed(f, 0, a) != TLSF_WAIT)
					continue;
				before = f->st;
				if (!tlsf_skip_gap(&f->st, (__u32)gaps[g])) {
					assert_memory_equal(&before, &f->st, sizeof(before));
					refused++;
					continue;
				}
				accepted++;
				feed(f, a + gaps[g], b->n - a - gaps[g]);
				assert_same_events(ref, f, streams[i]);
			}
		}
		/* Every stream has headers (refused); those with bodies of more than 50 bytes that
		 * are not followed have gaps accepted. */
		assert_true(refused > 0);
		if (strstr(streams[i], "flow_"))
			assert_true(accepted > 0);
	}
}

static void test_step_contract(void **state)
{
	static const uint8_t rec[] = { 22, 3, 1, 0, 4, 14, 0, 0, 0 };
	struct tls_stream st;
	struct tlsf_io io;
	struct feeder *f = &feeder_b;
	__u32 before;
	uint8_t *copy;
	int ret, steps = 0;

	(void)state;
	memset(&st, 0, sizeof(st));
	memset(&io, 0, sizeof(io));
	assert_int_equal(tlsf_step(NULL, &io, NULL), TLSF_STOP);
	assert_int_equal(tlsf_step(&st, NULL, NULL), TLSF_STOP);

	/* every TLSF_MORE consumed at least one byte */
	copy = scratch_dup(rec, sizeof(rec));
	feeder_init(f, rec, sizeof(rec));
	f->chunk = copy;
	f->chunk_len = sizeof(rec);
	io.buf = (uintptr_t)copy;
	io.len = sizeof(rec);
	io.cookie = (uintptr_t)f;
	do {
		before = io.off;
		ret = tlsf_step(&f->st, &io, NULL);
		if (ret == TLSF_MORE)
			assert_true(io.off > before);
		steps++;
	} while (ret == TLSF_MORE && steps < 100);
	assert_int_equal(ret, TLSF_WAIT);
	assert_int_equal(io.off, sizeof(rec));
	assert_int_equal(steps, 3); /* record header, handshake header, then done */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls12_server_flight),
		cmocka_unit_test(test_tls12_client_flight),
		cmocka_unit_test(test_last_record_to_its_end),
		cmocka_unit_test(test_tls13_hrr_flights),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_one_byte_at_a_time),
		cmocka_unit_test(test_record_over_three_buffers),
		cmocka_unit_test(test_header_then_body_reads),
		cmocka_unit_test(test_messages_in_one_record),
		cmocka_unit_test(test_message_over_records),
		cmocka_unit_test(test_certificate_lists),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_desync),
		cmocka_unit_test(test_step_limit),
		cmocka_unit_test(test_encrypted_record_limit),
		cmocka_unit_test(test_read_fault),
		cmocka_unit_test(test_step_contract),
		cmocka_unit_test(test_rec_seq),
		cmocka_unit_test(test_skip_gap),
	};

	return cmocka_run_group_tests_name("tls_framing", tests, NULL, free_scratch);
}
