// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * conn_id.c - connection ids from the handshake's initial sequence numbers (see conn_id.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "conn_id.h"

/* SHA-256, fetched once for every thread: OpenSSL 3's one-shot SHA256() looks the algorithm up
 * in its provider store on every call, 2.4x the cost of the digest itself (361 vs 148 ns per
 * id here). Never freed: it lives as long as the process. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256 of label || the 8 big-endian bytes of id || role byte, into out (32 bytes). */
static void digest(const char *label, uint64_t v, uint8_t role, uint8_t out[SHA256_DIGEST_LENGTH])
{
	uint8_t msg[64];
	size_t n = strlen(label), i;

	memcpy(msg, label, n);
	for (i = 0; i < 8; i++)
		msg[n + i] = (uint8_t)(v >> (56 - 8 * i));
	msg[n + 8] = role;
	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256 || !EVP_Digest(msg, n + 9, out, NULL, sha256, NULL))
		SHA256(msg, n + 9, out); /* no provider at hand: the slow way, same bytes */
}

static void never_zero(uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i])
			return;
	b[n - 1] = 1;
}

uint64_t conn_id_make(uint32_t client_isn, uint32_t server_isn)
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	uint64_t id = 0;
	int i;

	digest("hstrace conn_id v1", (uint64_t)client_isn << 32 | server_isn, 0, d);
	for (i = 0; i < 8; i++)
		id = id << 8 | d[i];
	return id ? id : 1;
}

char *conn_id_format(uint64_t id, char buf[CONN_ID_HEX_LEN])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	/* "%016llx", without printf: written on every line. */
	for (i = 15; i >= 0; i--, id >>= 4)
		buf[i] = hex[id & 0xf];
	buf[16] = '\0';
	return buf;
}

int conn_id_parse(const char *s, uint64_t *id)
{
	uint64_t v = 0;
	int i;

	if (!s || strlen(s) != 16)
		return -EINVAL;
	for (i = 0; i < 16; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}

void conn_id_trace_id(uint64_t id, uint8_t out[16])
{
	uint8_t d[SHA256_DIGEST_LENGTH];

	digest("hstrace trace v1", id, 0, d);
	memcpy(out, d, 16);
	never_zero(out, 16);
}

void conn_id_span_id(uint64_t id, enum conn_role role, uint8_t out[8])
{
	uint8_t d[SHA256_DIGEST_LENGTH];

	digest("hstrace span v1", id, (uint8_t)role, d);
	memcpy(out, d, 8);
	never_zero(out, 8);
}
