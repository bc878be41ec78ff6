// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fuzz_tls_framing.c - libFuzzer target for the TLS framing state machine (bpf/tls_framing.h).
 *
 * Input: the byte stream, then two bytes that choose how it is cut into buffers (at the end, so
 * that captured streams are useful seeds as they are). The stream is run three ways from a
 * fresh state:
 *   whole    one buffer, tlsf_step() until it stops asking for more (no step limit)
 *   chunked  buffers of pseudo-random sizes, the same way
 *   feed     one buffer through tlsf_feed() (with its step limit)
 * and the promises of tls_framing.h are checked: every TLSF_MORE consumes at least one byte,
 * callbacks only point into the current buffer, `chunked` sees exactly what `whole` sees, and
 * `feed` sees a prefix of it (plus a desync when it runs out of steps). A broken promise
 * aborts, which libFuzzer reports as a crash.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define TLSF_READ(ctx, dst, size, addr) (memcpy((dst), (const void *)(uintptr_t)(addr), (size)), 0)
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

#define MAX_EV 8192

struct ev {
	char kind;
	uint8_t type;
	uint16_t version;
	uint32_t len;
	uint32_t count;
	int encrypted;
	size_t body_off; /* stream offset of the body (R, H) */
};

struct run {
	struct tls_stream st;
	const uint8_t *chunk; /* the buffer being fed, and its stream offset */
	size_t chunk_start;
	size_t chunk_len;
	struct ev ev[MAX_EV];
	size_t n_ev;
	bool overflow;
};

static struct run whole, chunked, fed;

static struct run *run_of(struct tlsf_io *io)
{
	return (struct run *)(uintptr_t)io->cookie;
}

/* The body must lie inside the current buffer; touching it lets ASan check that. */
static size_t body_off(struct run *r, __u64 body, __u32 avail)
{
	uintptr_t base = (uintptr_t)r->chunk, p = (uintptr_t)body;
	volatile uint8_t sink = 0;
	__u32 i;

	if (p < base || p - base > r->chunk_len || avail > r->chunk_len - (p - base))
		abort();
	for (i = 0; i < avail; i++)
		sink ^= ((const uint8_t *)p)[i];
	(void)sink;
	return r->chunk_start + (p - base);
}

static struct ev *add(struct run *r, char kind)
{
	struct ev *e;

	if (r->n_ev == MAX_EV) {
		r->overflow = true;
		return NULL;
	}
	e = &r->ev[r->n_ev++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	return e;
}

static int tlsf_on_record(struct tlsf_io *io, void *ctx, __u8 type, __u16 version, __u32 len,
			  __u64 body, __u32 body_avail, int encrypted)
{
	struct run *r = run_of(io);
	size_t off = body_off(r, body, body_avail);
	struct ev *e;

	(void)ctx;
	if (body_avail > len)
		abort();
	e = add(r, 'R');
	if (e) {
		e->type = type;
		e->version = version;
		e->len = len;
		e->encrypted = encrypted;
		e->body_off = off;
	}
	return 0;
}

static int tlsf_on_handshake(struct tlsf_io *io, void *ctx, __u8 type, __u32 len, __u64 body,
			     __u32 avail)
{
	struct run *r = run_of(io);
	size_t off = body_off(r, body, avail);
	struct ev *e;

	(void)ctx;
	if (avail > len)
		abort();
	e = add(r, 'H');
	if (e) {
		e->type = type;
		e->len = len;
		e->body_off = off;
	}
	return 0;
}

static int tlsf_on_certs(struct tlsf_io *io, void *ctx, __u32 count, __u32 len)
{
	struct ev *e = add(run_of(io), 'C');

	(void)ctx;
	if (e) {
		e->count = count;
		e->len = len;
	}
	return 0;
}

static int tlsf_on_desync(struct tlsf_io *io, void *ctx)
{
	(void)ctx;
	add(run_of(io), 'D');
	return 0;
}

/* A plaintext alert: logged as its record, with the two bytes as the "offset". */
static int tlsf_on_alert(struct tlsf_io *io, void *ctx, __u16 version, __u32 len, __u16 alert)
{
	struct ev *e = add(run_of(io), 'R');

	(void)ctx;
	if (len < 2)
		abort();
	if (e) {
		e->type = 21;
		e->version = version;
		e->len = len;
		e->encrypted = 0;
		e->body_off = alert;
	}
	return 0;
}

static void run_init(struct run *r)
{
	memset(&r->st, 0, sizeof(r->st));
	r->n_ev = 0;
	r->overflow = false;
}

/* Feeds stream[start, start + n) from an exact heap copy. With step_limit, through
 * tlsf_feed(); else tlsf_step() until it returns something other than TLSF_MORE. */
static int run_buffer(struct run *r, const uint8_t *stream, size_t start, size_t n,
		      bool step_limit)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct tlsf_io io;
	__u32 before;
	int ret;

	if (!copy)
		abort();
	memcpy(copy, stream + start, n);
	memset(&io, 0, sizeof(io));
	io.buf = (uintptr_t)copy;
	io.cookie = (uintptr_t)r;
	io.len = (__u32)n;
	r->chunk = copy;
	r->chunk_start = start;
	r->chunk_len = n;
	if (step_limit) {
		ret = tlsf_feed(&r->st, &io, NULL);
		if (ret != TLSF_WAIT && ret != TLSF_STOP)
			abort();
	} else {
		do {
			before = io.off;
			ret = tlsf_step(&r->st, &io, NULL);
			if (ret == TLSF_MORE && io.off <= before)
				abort(); /* no progress: could loop forever */
		} while (ret == TLSF_MORE);
	}
	if (io.off > io.len || (ret == TLSF_WAIT && io.off != io.len))
		abort();
	free(copy);
	return ret;
}

static bool same_ev(const struct ev *a, const struct ev *b)
{
	return a->kind == b->kind && a->type == b->type && a->version == b->version &&
	       a->len == b->len && a->count == b->count && a->encrypted == b->encrypted &&
	       a->body_off == b->body_off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *stream;
	size_t len, off, n, i, max_chunk;
	uint32_t rng;

	if (size < 2)
		return 0;
	len = size - 2;
	stream = data;
	rng = (uint32_t)data[len] << 8 | data[len + 1] | 1;
	max_chunk = 1 + (data[len] & 0x3f);

	run_init(&whole);
	run_buffer(&whole, stream, 0, len, false);

	run_init(&chunked);
	for (off = 0; off < len; off += n) {
		rng ^= rng << 13; /* xorshift32 */
		rng ^= rng >> 17;
		rng ^= rng << 5;
		n = 1 + rng % max_chunk;
		if (n > len - off)
			n = len - off;
		if (run_buffer(&chunked, stream, off, n, false) == TLSF_STOP)
			break;
	}

	run_init(&fed);
	run_buffer(&fed, stream, 0, len, true);

	if (whole.overflow || chunked.overflow || fed.overflow)
		return 0;
	/* how the bytes are cut into buffers changes nothing */
	if (whole.n_ev != chunked.n_ev || whole.st.flags != chunked.st.flags)
		abort();
	for (i = 0; i < whole.n_ev; i++)
		if (!same_ev(&whole.ev[i], &chunked.ev[i]))
			abort();
	/* the step limit only cuts the story short, with a desync */
	n = fed.n_ev;
	if (n && fed.ev[n - 1].kind == 'D' && (fed.st.flags & TLSF_F_DESYNC) &&
	    !(n <= whole.n_ev && whole.ev[n - 1].kind == 'D'))
		n--;
	if (n > whole.n_ev)
		abort();
	for (i = 0; i < n; i++)
		if (!same_ev(&whole.ev[i], &fed.ev[i]))
			abort();
	return 0;
}
