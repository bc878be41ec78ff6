/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * conn_id.h - a connection id both ends of a TCP connection compute alike, on any host, with
 * nothing passed between them: made from the two initial sequence numbers of its handshake
 * (the client's SYN and the server's SYN-ACK), which both kernels saw. Addresses and ports are
 * left out on purpose: NAT and load balancers rewrite them. docs/json.md (`conn_id`) says how
 * far to trust it.
 */
#ifndef HSTRACE_CONN_ID_H
#define HSTRACE_CONN_ID_H

#include <stdbool.h>
#include <stdint.h>

#include "timeline.h"

#define CONN_ID_HEX_LEN 17 /* 16 lowercase hex digits and a NUL */

/* Returns the id of the connection whose client chose ISN client_isn and whose server chose
 * server_isn: the first 8 bytes, big-endian, of SHA-256 over a fixed label and both ISNs. The
 * ISNs cannot be read back from it. Never 0 (0 means "no id"). */
uint64_t conn_id_make(uint32_t client_isn, uint32_t server_isn);

/* Writes id as 16 lowercase hex digits into buf. Returns buf. */
char *conn_id_format(uint64_t id, char buf[CONN_ID_HEX_LEN]);

/* Parses 16 hex digits (either case) into *id. Returns 0, or -EINVAL. */
int conn_id_parse(const char *s, uint64_t *id);

/* The OpenTelemetry trace id of connection id (16 bytes, never all zero): both ends of one
 * connection land in one trace. */
void conn_id_trace_id(uint64_t id, uint8_t out[16]);

/* The span id (8 bytes, never all zero) of the connection span of the `role` end of
 * connection id: either host computes both ends' ids, so the server's span names the
 * client's as its parent with nothing passed between them. */
void conn_id_span_id(uint64_t id, enum conn_role role, uint8_t out[8]);

#endif /* HSTRACE_CONN_ID_H */
