/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * collector_ssl.h - the TLS-library layer of the collector (OpenSSL uprobes); internal to
 * collector.c.
 *
 * Keeps, per connection, the SSL_do_handshake() and X509_verify_cert() calls that BPF bound to
 * it, and turns them into events (handshake_start, handshake_done, cert_verify_start,
 * cert_verify_done), the cert_verify phase, tls_api and tls.verify. Finalising, in this order:
 * conn_ssl_add_events() after the TLS layer added its events (it needs the server_hello event
 * to tell peer verification from chain building), sort, conn_ssl_conclude().
 */
#ifndef HSTRACE_COLLECTOR_SSL_H
#define HSTRACE_COLLECTOR_SSL_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>

#include "hstrace.h"
#include "timeline.h"

struct conn_ssl;

#define CONN_SSL_MAX_EVENTS 4 /* handshake_start/done, cert_verify_start/done */

/* Checks a HS_REC_SSL record of `size` bytes and copies it to *rec. Returns 0 or -EINVAL. */
int ssl_record_read(struct hs_ssl_rec *rec, const void *data, size_t size);

/* Adds one checked call to the connection's state *sslp (created on first use). Returns 0 or
 * -ENOMEM (nothing changed). */
int conn_ssl_add(struct conn_ssl **sslp, const struct hs_ssl_rec *rec);

/* Events conn_ssl_add_events() may add at most: CONN_SSL_MAX_EVENTS (0 for NULL). */
size_t conn_ssl_max_events(const struct conn_ssl *s);

/* Appends the library events to tl->events (room for conn_ssl_max_events() more, sequence
 * numbers in seq[] from seq_base on). Returns how many were added. Does nothing for NULL. */
size_t conn_ssl_add_events(struct conn_ssl *s, struct timeline *tl, uint64_t *seq,
			   uint64_t seq_base);

/* With events sorted: fills tl->tls_api, tl->tls.verify, the cert_verify phase, and marks the
 * server's new_session_ticket events written inside a handshake call as exact. Returns the
 * library id of the calls (0 if none). Does nothing for NULL. */
uint32_t conn_ssl_conclude(const struct conn_ssl *s, struct timeline *tl);

/* Frees the state. Accepts NULL. */
void conn_ssl_free(struct conn_ssl *s);

#endif /* HSTRACE_COLLECTOR_SSL_H */
