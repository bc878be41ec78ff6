/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * tls_parse.h - parsers for the plaintext TLS handshake bytes that BPF hands up (the start of
 * ClientHello / ServerHello / ServerKeyExchange bodies), and IANA name tables.
 *
 * Plain C, no allocation, no BPF: shared by the collector, the unit tests and the libFuzzer
 * target. Input may be truncated (BPF sends at most HS_TLS_DATA_MAX bytes) or hostile: every
 * length is checked, nothing is read past `len`, and parsing always terminates.
 */
#ifndef HSTRACE_TLS_PARSE_H
#define HSTRACE_TLS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timeline.h"

#define TLS_MAX_GROUPS 8

/* What a ClientHello or ServerHello body says. */
struct tls_hello {
	bool is_server;
	bool hrr;		 /* ServerHello with the HelloRetryRequest random */
	bool truncated;		 /* the body ended before all its declared fields */
	uint16_t legacy_version; /* client_version / server_version field */
	uint8_t session_id_len;
	uint8_t session_id[32];

	/* client: cipher suites offered (first TLS_MAX_GROUPS); server: the one selected */
	uint16_t cipher;	 /* server only */
	uint16_t ciphers[TLS_MAX_GROUPS]; /* client only, in offer order, GREASE skipped */
	size_t n_ciphers;

	char sni[256];		 /* client: server_name (host_name), NUL-terminated, printable */
	char alpn[TL_MAX_ALPN][TL_ALPN_LEN]; /* client: offered; server: selected (<= 1) */
	size_t n_alpn;
	uint16_t versions[TL_MAX_VERSIONS]; /* client: supported_versions offered (GREASE values
					     * skipped); server: the selected one (<= 1) */
	size_t n_versions;
	uint16_t groups[TLS_MAX_GROUPS]; /* key_share: client's shares (GREASE skipped) / the
					  * server's selected group (<= 1; also HRR's group) */
	size_t n_groups;
	bool psk;		 /* pre_shared_key extension present (client offers, server
				  * selected: resumption in TLS 1.3) */
	bool session_ticket;	 /* session_ticket extension present */
	bool early_data;	 /* early_data extension present */
};

/* Parses a ClientHello (is_server false) or ServerHello body: the bytes after the 4-byte
 * handshake header. Returns 0 when at least the fixed fields up to the session id were read
 * (out->truncated says whether extensions were cut short), -EINVAL when the bytes cannot be a
 * hello (counted by callers as malformed). *out is always initialised. */
int tls_parse_hello(const uint8_t *body, size_t len, bool is_server, struct tls_hello *out);

/* Reads the named group from a ServerKeyExchange body start (ECDHE: curve_type 3, then the
 * group). Returns 0 and sets *group, or -EINVAL (not ECDHE, or too short). */
int tls_parse_ske_group(const uint8_t *body, size_t len, uint16_t *group);

/* Returns the IANA name of a cipher suite ("TLS_AES_256_GCM_SHA384"), or NULL if unknown. */
const char *tls_cipher_name(uint16_t id);

/* Returns the IANA name of a supported group ("x25519", "secp256r1"), or NULL if unknown. */
const char *tls_group_name(uint16_t id);

/* Returns the IANA name of an alert description ("bad_certificate"), or NULL if unknown. */
const char *tls_alert_name(uint8_t desc);

/* Returns "1.0", "1.1", "1.2", "1.3" (or "ssl3"), or NULL. */
const char *tls_version_name(uint16_t version);

/* Returns the name of a handshake message type ("client_hello"), or NULL. */
const char *tls_handshake_name(uint8_t type);

#endif /* HSTRACE_TLS_PARSE_H */
