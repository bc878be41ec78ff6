/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * present.h - how hstrace writes a timeline's values as text, shared by every renderer and
 * exporter (one-line view, waterfall, NDJSON, report, metrics, OTLP), so one connection reads
 * the same everywhere: addresses, endpoints, printable strings, time rounding, result and TLS
 * version text.
 */
#ifndef HSTRACE_PRESENT_H
#define HSTRACE_PRESENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timeline.h"

/* "255.255.255.255:65535" and "[ffff:...:ffff]:65535" fit in this many bytes. */
#define PRESENT_ENDPOINT_LEN 56
/* An address alone (INET6_ADDRSTRLEN). */
#define PRESENT_ADDR_LEN 46

/* Writes the local (local=true) or remote address of tl into buf: dotted IPv4 (also for a
 * v4-mapped IPv6 address) or compressed IPv6 (RFC 5952), "?" when neither. Returns buf.
 * len should be >= PRESENT_ADDR_LEN. */
char *present_addr(const struct timeline *tl, bool local, char *buf, size_t len);

/* Writes "addr:port", the address in brackets when it is IPv6 text. Returns buf.
 * len should be >= PRESENT_ENDPOINT_LEN. */
char *present_endpoint(const struct timeline *tl, bool local, char *buf, size_t len);

/* Copies at most max bytes of s (stopping at its NUL) into buf (len > 0, always terminated),
 * replacing control characters (< 0x20, 0x7f) with '?' and, when ascii is true, every byte
 * >= 0x80 too: a name from the network or a process can then not break a line or a column.
 * Returns buf. */
char *present_printable(const char *s, size_t max, bool ascii, char *buf, size_t len);

/* Length (1-4) of the valid UTF-8 sequence at s[0..n), or 0 when the bytes there start none
 * (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF). n >= 1. */
size_t present_utf8_seq_len(const unsigned char *s, size_t n);

/* Nanoseconds to microseconds, rounded to the nearest (half up). */
static inline uint64_t present_round_us(uint64_t ns)
{
	return ns / 1000 + (ns % 1000 >= 500);
}

/* Writes us microseconds as milliseconds with 3 decimals ("24.301"). Returns buf. */
char *present_us_ms(uint64_t us, char *buf, size_t len);

/* Writes the result name; a TLS failure with an alert adds ":" and its description
 * ("tls_alert:bad_certificate"), ":encrypted" when the alert could not be read, its number
 * when this build has no name for it. Returns buf. */
char *present_result(const struct timeline *tl, char *buf, size_t len);

/* The negotiated TLS version as "1.2" / "1.3", or NULL when none was seen or this build has no
 * name for it. */
const char *present_tls_version(const struct timeline *tl);

#endif /* HSTRACE_PRESENT_H */
