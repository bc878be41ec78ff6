/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * collector_tls.h - the TLS layer of the collector; internal to collector.c.
 *
 * collector.c owns the connection and its event array; this part keeps, per connection, a
 * small log of the TLS observations that matter for the timeline (struct conn_tls, allocated
 * on the first TLS record) and turns it into TLS events, tl->tls fields, a result and phases
 * when the connection is finalised. Rules and their limits: docs/tls.md.
 *
 * Finalising, in this order: conn_tls_add_events() (room guaranteed, see
 * conn_tls_max_events()), sort the events, conn_tls_conclude(), conn_tls_verdict(),
 * conn_tls_add_phases().
 */
#ifndef HSTRACE_COLLECTOR_TLS_H
#define HSTRACE_COLLECTOR_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "hstrace.h"
#include "timeline.h"

struct conn_tls;

/*
 * TLS states freed by emitted connections, kept with their arrays for the next connections
 * (newest first: the warmest in the cache). A busy host sets up and frees thousands a second,
 * and the collector frees them in batches (a flush): malloc() sorts such batches of large
 * blocks into its bins slowly. One per collector; zeroed, it is empty.
 */
struct conn_tls_spares {
	struct conn_tls *head;
	size_t n;
};

/* Spares kept at most (~4 KiB each): as many connections as hstrace's main loop emits in a
 * pass (FLUSH_BATCH in main.c). */
#define CONN_TLS_SPARES_MAX 256

/* Checks a HS_REC_TLS record of `size` bytes and copies it to *rec (only data_len bytes of
 * data[] are set). Returns 0, or -EINVAL when it is malformed. */
int tls_record_read(struct hs_tls_rec *rec, const void *data, size_t size);

/* Checks a HS_REC_IO record of `size` bytes and copies it to *rec. Returns 0, or -EINVAL when
 * it is malformed. */
int io_record_read(struct hs_io_rec *rec, const void *data, size_t size);

/*
 * Sent stream bytes [seq, seq + len) reached the network device at ts_ns (HS_SENT_BYTES): the
 * logged out records whose last byte is among them take that time, when later. Their records
 * came before (a packet's egress program sends them before its transmission starts), so they
 * are in the log already. tls may be NULL (nothing to do).
 */
void conn_tls_sent(struct conn_tls *tls, uint32_t seq, uint32_t len, uint64_t ts_ns);

/* Logs one application call (how far it wrote or read a direction) in the connection's TLS
 * state *tlsp (created on first use, from spares when it has one; spares may be NULL); at
 * emission it gives each TLS event its application time (tl_event.app_ns). Beyond 128 calls
 * more are ignored (far past the handshake). Returns 0 or -ENOMEM (nothing changed). */
int conn_tls_add_io(struct conn_tls_spares *spares, struct conn_tls **tlsp,
		    const struct hs_io_rec *rec);

/* Applies one checked record to the connection's TLS state *tlsp (created on first use, as
 * by conn_tls_add_io()), which keeps the plaintext fields (struct tl_tls) until emission. seq
 * is the record's arrival sequence number. Returns 0; -EINVAL when a ClientHello/ServerHello
 * body cannot be parsed (the record is malformed); -ENOMEM. On error nothing visible changed.
 * Never adds more than one to conn_tls_max_events(). */
int conn_tls_add(struct conn_tls_spares *spares, struct conn_tls **tlsp,
		 const struct hs_tls_rec *rec, uint64_t seq);

/* Returns how many events conn_tls_add_events() may add at most (0 for NULL). */
size_t conn_tls_max_events(const struct conn_tls *tls);

/* Copies the plaintext fields into tl->tls, appends the connection's TLS events to
 * tl->events, with their arrival sequence numbers in seq[] (both arrays must have room for
 * conn_tls_max_events() more), and fills the application-data counters of tl->tls. Returns
 * how many were added. Does nothing for NULL (tl->tls is left as it is). Once per
 * connection. */
size_t conn_tls_add_events(struct conn_tls *tls, struct timeline *tl, uint64_t *seq);

/* With tl->events sorted (their arrival sequence numbers alongside in seq[]): decides whether
 * the handshake completed and whether an alert made it fail, and fills handshake_done, the
 * alert fields, resumed and ttfb_estimated of tl->tls. Does nothing for NULL. */
void conn_tls_conclude(struct conn_tls *tls, struct timeline *tl, const uint64_t *seq);

/* After conn_tls_conclude(): RESULT_TLS_ALERT, RESULT_TLS_FAILED (a ClientHello was seen and
 * the handshake never completed, without alert and without framing loss: the caller applies
 * it only to connections that ended) or RESULT_OK when TLS has nothing to say (and for
 * NULL). */
enum conn_result conn_tls_verdict(const struct conn_tls *tls);

/* Appends the TLS phases (see docs/tls.md) to tl->phases, from the sorted events.
 * Does nothing for NULL. */
void conn_tls_add_phases(const struct conn_tls *tls, struct timeline *tl);

/* Frees the TLS state, or keeps it in spares (NULL: frees it) while they have room. Accepts
 * NULL. */
void conn_tls_free(struct conn_tls_spares *spares, struct conn_tls *tls);

/* Frees every spare; spares is empty afterwards. */
void conn_tls_spares_free(struct conn_tls_spares *spares);

#endif /* HSTRACE_COLLECTOR_TLS_H */
