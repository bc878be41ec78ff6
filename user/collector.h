/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * collector.h - rebuilds one timeline per connection from the BPF record stream.
 *
 * Plain C, no BPF and no root needed: unit tests feed it synthetic records. It owns all
 * per-connection state, keyed by socket cookie. A connection is finished when its CLOSED event
 * arrives; it is handed to the emit callback only after a grace period (records from other
 * CPUs may arrive slightly late and out of order), or at collector_finish().
 */
#ifndef HSTRACE_COLLECTOR_H
#define HSTRACE_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "timeline.h"

struct collector;

/* Called once per finished connection. `tl` and everything it points to are valid only during
 * the call. */
typedef void (*collector_emit_fn)(const struct timeline *tl, void *ctx);

struct collector_opts {
	collector_emit_fn emit;
	void *ctx;
	int64_t mono_to_wall_ns; /* add to a CLOCK_MONOTONIC time to get UTC ns since the epoch */
	uint64_t grace_ns;	 /* how long a closed connection waits for late records (0: 50 ms) */
	size_t max_conns;	 /* open connections kept at most (0: 262144); beyond, the oldest
				  * is emitted as incomplete and counted in `evicted` */
	/* Optional: fills tls->library and tls->library_file for a uprobe's library id. */
	void (*lib_describe)(void *lib_ctx, uint32_t lib_id, struct tl_tls *tls);
	void *lib_ctx;
};

struct collector_stats {
	uint64_t records;     /* records handed to collector_handle() (a batch's one by one) */
	uint64_t by_kind[8];  /* of those, per enum hs_rec_kind (bpf/hstrace.h); 0: other kinds */
	uint64_t batches;     /* HS_REC_BATCH records taken apart */
	uint64_t malformed;   /* records too short, of an unknown kind or event: skipped */
	uint64_t unmatched;   /* records for a connection never seen starting (opened before
			       * hstrace started, or its start was lost): skipped */
	uint64_t dropped;     /* records that could not be applied: out of memory, or over 4096
			       * TCP events on one connection (lost, like ring-buffer losses) */
	uint64_t events;      /* events added to timelines */
	uint64_t conns;	      /* connections emitted */
	uint64_t incomplete;  /* of which still open at collector_finish() */
	uint64_t evicted;     /* of which emitted early because max_conns was reached */
	uint64_t open;	      /* connections currently held */
	uint64_t closes_lost; /* connections closed by collector_lost_close() */
};

/* Returns a new collector, or NULL with errno set (EINVAL without emit, ENOMEM). */
struct collector *collector_new(const struct collector_opts *opts);

/* Feeds one record (as read from the ring buffer; an HS_REC_BATCH is taken apart and each of
 * its records fed). Returns 0 when used, -EINVAL when malformed, -ENOENT when it matches no
 * tracked connection, -ENOMEM when it could not be applied (all three counted, never fatal;
 * for a batch, the first error of its records). */
int collector_handle(struct collector *c, const void *data, size_t size);

/* How many lost-close notes wait for their connection, and for how many retries. */
#define COLLECTOR_LOST_CLOSE_PENDING 4096
#define COLLECTOR_LOST_CLOSE_TRIES 10

/* The connection with this cookie closed at ts_ns (CLOCK_MONOTONIC), but its CLOSED record was
 * lost (tracer_take_lost_closes()): closes it as that record would have, marked close_lost
 * (its final counters and socket error are unknown), so it is emitted after the grace period
 * instead of staying open until the end. A note can come before its connection's first record
 * (still being written by another CPU when the ring buffer was drained): then it is kept, and
 * collector_retry_lost_closes() tries it again. Returns 0 (closed, or closed already),
 * -EAGAIN (kept), -ENOENT (no room to keep it: counted as unmatched), -ENOMEM. */
int collector_lost_close(struct collector *c, uint64_t cookie, uint64_t ts_ns);

/* Tries the kept lost-close notes again, e.g. once per pass over the ring buffer. A note that
 * still finds no connection after COLLECTOR_LOST_CLOSE_TRIES tries is dropped and counted as
 * unmatched (its connection's start was lost too); collector_finish() counts the ones left. */
void collector_retry_lost_closes(struct collector *c);

/* Emits every closed connection whose CLOSED event is older than now_ns - grace_ns.
 * now_ns is CLOCK_MONOTONIC. */
void collector_flush(struct collector *c, uint64_t now_ns);

/* The same, emitting at most max connections (the oldest closed first). Returns how many were
 * emitted: max means more may be due. Lets the caller go back to reading the ring buffer
 * between batches when thousands of connections close at once. */
size_t collector_flush_max(struct collector *c, uint64_t now_ns, size_t max);

/* Emits everything still held: closed ones as they are, open ones with result "incomplete".
 * The collector is empty afterwards and may be reused. */
void collector_finish(struct collector *c);

/* Copies the counters into *st. */
void collector_get_stats(const struct collector *c, struct collector_stats *st);

/* Frees the collector and every connection it holds without emitting them. Accepts NULL. */
void collector_free(struct collector *c);

#endif /* HSTRACE_COLLECTOR_H */
