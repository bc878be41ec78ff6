// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_tls_parse.c - the hello / ServerKeyExchange parsers and the IANA name tables.
 *
 * Most inputs are real handshakes captured on loopback from OpenSSL 3.0, GnuTLS 3.7 and curl
 * (tests/fixtures/tls/, made by capture.py there; README.md lists what they hold). They are
 * read from $HSTRACE_SRCDIR/tests/fixtures/tls (default: the current folder, then the folder
 * above the test binary). Edge cases the real stacks never send (GREASE, hostile lengths,
 * odd names) are built by hand with struct msg.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls_parse.h"

#define FIXTURE_DIR "tests/fixtures/tls"
#define REC_HDR 5
#define HS_HDR 4
#define CT_HANDSHAKE 22
#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2
#define HS_SERVER_KEY_EXCHANGE 12
#define FIXED_LEN 35 /* legacy_version + random + legacy_session_id length byte */

/* ---- fixtures: raw records as captured, and the handshake stream inside them ---- */

struct capture {
	uint8_t raw[16384]; /* the records as they came off the wire */
	size_t raw_len;
	uint8_t hs[16384]; /* payload of the leading plaintext handshake records */
	size_t hs_len;
};

/* Two captures at most are in use at a time; static, so a failing test leaks nothing. */
static struct capture cap_a, cap_b;

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
	/* not run from the repository root: try <binary's folder>/.. (build/..) */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if (strrchr(exe, '/'))
		*strrchr(exe, '/') = '\0';
	snprintf(path, sizeof(path), "%s/../%s/%s", exe, FIXTURE_DIR, name);
	return fopen(path, "rb");
}

/* Loads a fixture into *c; fails the test when it is missing. */
static void capture_load(struct capture *c, const char *name)
{
	FILE *f = open_fixture(name);
	size_t off = 0;

	if (!f)
		fail_msg("fixture %s not found: run from the repository root or set "
			 "HSTRACE_SRCDIR",
			 name);
	c->raw_len = fread(c->raw, 1, sizeof(c->raw), f);
	fclose(f);
	assert_true(c->raw_len > 0 && c->raw_len < sizeof(c->raw));

	/* concatenate the handshake records up to the first other record (CCS, encrypted) */
	c->hs_len = 0;
	while (off + REC_HDR <= c->raw_len && c->raw[off] == CT_HANDSHAKE) {
		size_t len = (size_t)c->raw[off + 3] << 8 | c->raw[off + 4];

		assert_true(off + REC_HDR + len <= c->raw_len);
		assert_true(c->hs_len + len <= sizeof(c->hs));
		memcpy(c->hs + c->hs_len, c->raw + off + REC_HDR, len);
		c->hs_len += len;
		off += REC_HDR + len;
	}
}

/* Finds the first handshake message of `type`; returns its body and length, or NULL. */
static const uint8_t *capture_msg(const struct capture *c, uint8_t type, size_t *len)
{
	size_t off = 0;

	while (off + HS_HDR <= c->hs_len) {
		const uint8_t *h = c->hs + off;
		size_t n = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];

		if (off + HS_HDR + n > c->hs_len)
			return NULL;
		if (h[0] == type) {
			*len = n;
			return h + HS_HDR;
		}
		off += HS_HDR + n;
	}
	return NULL;
}

/* Loads a fixture and parses its hello; body and len (optional) return the hello body. */
static void parse_fixture(struct capture *c, const char *name, bool is_server,
			  struct tls_hello *h, const uint8_t **body, size_t *len)
{
	const uint8_t *b;
	size_t n = 0;

	capture_load(c, name);
	b = capture_msg(c, is_server ? HS_SERVER_HELLO : HS_CLIENT_HELLO, &n);
	assert_non_null(b);
	assert_int_equal(tls_parse_hello(b, n, is_server, h), 0);
	assert_false(h->truncated);
	assert_int_equal(h->is_server, is_server);
	if (body)
		*body = b;
	if (len)
		*len = n;
}

static const uint16_t openssl_ciphers[] = {
	0x1302, 0x1303, 0x1301, 0xC02C, 0xC030, 0x009F, 0xCCA9, 0xCCA8,
};

/* ---- hand-built messages ---- */

struct msg {
	uint8_t b[4096];
	size_t n;
	size_t open[8]; /* start of each open length-prefixed vector */
	int width[8];
	int depth;
};

static void put8(struct msg *m, unsigned int v)
{
	assert_true(m->n < sizeof(m->b));
	m->b[m->n++] = (uint8_t)v;
}

static void put16(struct msg *m, unsigned int v)
{
	put8(m, v >> 8);
	put8(m, v & 0xff);
}

static void put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

/* Opens a vector with a `width`-byte length, filled in by vec_end(). */
static void vec_begin(struct msg *m, int width)
{
	assert_true(m->depth < 8);
	m->width[m->depth] = width;
	m->open[m->depth++] = m->n;
	while (width--)
		put8(m, 0);
}

static void vec_end(struct msg *m)
{
	size_t start, len;
	int width;

	assert_true(m->depth > 0);
	width = m->width[--m->depth];
	start = m->open[m->depth];
	len = m->n - start - (size_t)width;
	if (width == 1) {
		m->b[start] = (uint8_t)len;
	} else {
		m->b[start] = (uint8_t)(len >> 8);
		m->b[start + 1] = (uint8_t)len;
	}
}

static void ext_begin(struct msg *m, unsigned int type)
{
	put16(m, type);
	vec_begin(m, 2);
}

/* legacy_version 1.2, a fixed random, an 8-byte session id (tag in its first byte). */
static void hello_start(struct msg *m, const uint8_t *random, uint8_t tag)
{
	uint8_t r[32], sid[8] = { tag, 1, 2, 3, 4, 5, 6, 7 };

	memset(m, 0, sizeof(*m));
	memset(r, 0x5a, sizeof(r));
	put16(m, 0x0303);
	put(m, random ? random : r, 32);
	put8(m, sizeof(sid));
	put(m, sid, sizeof(sid));
}

/* A ClientHello body up to and including the start of its extensions block. */
static void client_start(struct msg *m)
{
	hello_start(m, NULL, 0xc1);
	vec_begin(m, 2); /* cipher_suites */
	put16(m, 0x1301);
	vec_end(m);
	put8(m, 1); /* compression_methods: null */
	put8(m, 0);
	vec_begin(m, 2); /* extensions */
}

static const uint8_t hrr_random[32] = {
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8,
	0x91, 0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8,
	0x33, 0x9C,
};

/* A ServerHello / HelloRetryRequest body up to and including the start of its extensions. */
static void server_start(struct msg *m, const uint8_t *random, unsigned int cipher)
{
	hello_start(m, random, 0x5e);
	put16(m, cipher);
	put8(m, 0);
	vec_begin(m, 2);
}

/* ---- real ClientHellos ---- */

static void test_client_openssl_tls13(void **state)
{
	const uint8_t *body;
	struct tls_hello h;
	struct capture *c = &cap_a;
	size_t i;

	(void)state;
	parse_fixture(c, "ch_openssl_tls13.bin", false, &h, &body, NULL);
	assert_int_equal(h.legacy_version, 0x0303);
	assert_false(h.hrr);
	assert_int_equal(h.session_id_len, 32);
	assert_memory_equal(h.session_id, body + FIXED_LEN, 32);
	assert_string_equal(h.sni, "example.test");
	assert_int_equal(h.n_alpn, 2);
	assert_string_equal(h.alpn[0], "h2");
	assert_string_equal(h.alpn[1], "http/1.1");
	assert_int_equal(h.n_versions, 4);
	assert_int_equal(h.versions[0], 0x0304);
	assert_int_equal(h.versions[1], 0x0303);
	assert_int_equal(h.versions[2], 0x0302);
	assert_int_equal(h.versions[3], 0x0301);
	assert_int_equal(h.n_groups, 1);
	assert_int_equal(h.groups[0], 0x001D);
	assert_int_equal(h.n_ciphers, TLS_MAX_GROUPS);
	for (i = 0; i < TLS_MAX_GROUPS; i++)
		assert_int_equal(h.ciphers[i], openssl_ciphers[i]);
	assert_int_equal(h.cipher, 0);
	assert_true(h.session_ticket);
	assert_false(h.psk);
	assert_false(h.early_data);
}

static void test_client_openssl_tls12(void **state)
{
	struct tls_hello h;
	struct capture *c = &cap_a;

	(void)state;
	parse_fixture(c, "ch_openssl_tls12.bin", false, &h, NULL, NULL);
	assert_int_equal(h.legacy_version, 0x0303);
	assert_int_equal(h.session_id_len, 0);
	assert_string_equal(h.sni, "example.test");
	assert_int_equal(h.n_alpn, 2);
	assert_string_equal(h.alpn[0], "h2");
	assert_string_equal(h.alpn[1], "http/1.1");
	assert_int_equal(h.n_versions, 0); /* no supported_versions: 1.2 only */
	assert_int_equal(h.n_groups, 0);   /* no key_share */
	assert_int_equal(h.n_ciphers, TLS_MAX_GROUPS);
	assert_int_equal(h.ciphers[0], 0xC02C);
	assert_int_equal(h.ciphers[7], 0xC02F);
	assert_true(h.session_ticket);
	assert_false(h.psk);
}

static void test_client_gnutls(void **state)
{
	static const uint16_t ciphers[] = {
		0x1302, 0x1303, 0x1301, 0x1304, 0xC02C, 0xCCA9, 0xC0AD, 0xC00A,
	};
	struct tls_hello h;
	struct capture *c = &cap_a;
	size_t i;

	(void)state;
	parse_fixture(c, "ch_gnutls.bin", false, &h, NULL, NULL);
	assert_int_equal(h.session_id_len, 32);
	assert_string_equal(h.sni, "example.test");
	assert_int_equal(h.n_alpn, 2);
	assert_string_equal(h.alpn[0], "h2");
	assert_string_equal(h.alpn[1], "http/1.1");
	assert_int_equal(h.n_versions, 4);
	assert_int_equal(h.versions[0], 0x0304);
	assert_int_equal(h.versions[3], 0x0301);
	assert_int_equal(h.n_groups, 2); /* GnuTLS sends two shares */
	assert_int_equal(h.groups[0], 0x0017);
	assert_int_equal(h.groups[1], 0x001D);
	for (i = 0; i < TLS_MAX_GROUPS; i++)
		assert_int_equal(h.ciphers[i], ciphers[i]);
	assert_true(h.session_ticket);
	assert_false(h.psk);
	assert_false(h.early_data);
}

static void test_client_curl(void **state)
{
	struct tls_hello h;
	struct capture *c = &cap_a;

	(void)state;
	parse_fixture(c, "ch_curl.bin", false, &h, NULL, NULL);
	assert_string_equal(h.sni, "example.test");
	assert_int_equal(h.n_alpn, 2);
	assert_string_equal(h.alpn[0], "h2");
	assert_string_equal(h.alpn[1], "http/1.1");
	assert_int_equal(h.n_versions, 4);
	assert_int_equal(h.versions[0], 0x0304);
	assert_int_equal(h.n_groups, 1);
	assert_int_equal(h.groups[0], 0x001D);
	assert_false(h.session_ticket); /* curl turns tickets off for TLS <= 1.2 */
	assert_false(h.psk);
}

static void test_client_resumption(void **state)
{
	struct tls_hello h;
	struct capture *c = &cap_a;

	(void)state;
	parse_fixture(c, "ch_openssl_resume.bin", false, &h, NULL, NULL);
	assert_string_equal(h.sni, "example.test");
	assert_int_equal(h.n_alpn, 0);
	assert_true(h.psk);
	assert_true(h.session_ticket);
	assert_false(h.early_data);
	assert_int_equal(h.groups[0], 0x001D);

	parse_fixture(c, "ch_openssl_early_data.bin", false, &h, NULL, NULL);
	assert_true(h.psk);
	assert_true(h.early_data);
	assert_int_equal(h.n_versions, 4);
}

/* ---- real ServerHellos ---- */

static void test_server_tls13(void **state)
{
	struct tls_hello ch, sh;
	struct capture *c1 = &cap_a, *c2 = &cap_b;

	(void)state;
	parse_fixture(c1, "ch_openssl_tls13.bin", false, &ch, NULL, NULL);
	parse_fixture(c2, "sh_openssl_tls13.bin", true, &sh, NULL, NULL);
	assert_int_equal(sh.legacy_version, 0x0303);
	assert_false(sh.hrr);
	assert_int_equal(sh.cipher, 0x1302);
	assert_string_equal(tls_cipher_name(sh.cipher), "TLS_AES_256_GCM_SHA384");
	assert_int_equal(sh.n_versions, 1);
	assert_int_equal(sh.versions[0], 0x0304);
	assert_int_equal(sh.n_groups, 1);
	assert_int_equal(sh.groups[0], 0x001D);
	assert_string_equal(tls_group_name(sh.groups[0]), "x25519");
	/* middlebox compatibility: the server echoes the client's session id */
	assert_int_equal(sh.session_id_len, 32);
	assert_memory_equal(sh.session_id, ch.session_id, 32);
	assert_int_equal(sh.n_alpn, 0); /* 1.3 sends it in EncryptedExtensions */
	assert_int_equal(sh.n_ciphers, 0);
	assert_string_equal(sh.sni, "");
	assert_false(sh.psk);
}

static void test_server_tls12_ecdhe(void **state)
{
	const uint8_t *ske;
	struct tls_hello h;
	struct capture *c = &cap_a;
	uint16_t group = 0;
	size_t len = 0;

	(void)state;
	parse_fixture(c, "sh_openssl_tls12.bin", true, &h, NULL, NULL);
	assert_int_equal(h.legacy_version, 0x0303);
	assert_int_equal(h.cipher, 0xC02C);
	assert_string_equal(tls_cipher_name(h.cipher), "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384");
	assert_int_equal(h.n_versions, 0);
	assert_int_equal(h.n_groups, 0);
	assert_int_equal(h.n_alpn, 1);
	assert_string_equal(h.alpn[0], "h2");
	assert_true(h.session_ticket);
	assert_int_equal(h.session_id_len, 0);

	ske = capture_msg(c, HS_SERVER_KEY_EXCHANGE, &len);
	assert_non_null(ske);
	assert_int_equal(tls_parse_ske_group(ske, len, &group), 0);
	assert_int_equal(group, 0x001D);
}

static void test_server_tls12_rsa(void **state)
{
	struct tls_hello h;
	struct capture *c = &cap_a;
	size_t len;

	(void)state;
	parse_fixture(c, "sh_openssl_tls12_rsa.bin", true, &h, NULL, NULL);
	assert_int_equal(h.cipher, 0x009C);
	assert_string_equal(tls_cipher_name(h.cipher), "TLS_RSA_WITH_AES_128_GCM_SHA256");
	assert_null(capture_msg(c, HS_SERVER_KEY_EXCHANGE, &len)); /* RSA key transport */
	assert_int_equal(h.n_alpn, 0);
	assert_true(h.session_ticket);
}

static void test_server_hrr(void **state)
{
	struct tls_hello h;
	struct capture *c = &cap_a;

	(void)state;
	/* OpenSSL server limited to secp384r1, client offered an x25519 share only */
	parse_fixture(c, "sh_openssl_hrr.bin", true, &h, NULL, NULL);
	assert_true(h.hrr);
	assert_int_equal(h.cipher, 0x1302);
	assert_int_equal(h.n_versions, 1);
	assert_int_equal(h.versions[0], 0x0304);
	assert_int_equal(h.n_groups, 1);
	assert_int_equal(h.groups[0], 0x0018);
	assert_string_equal(tls_group_name(h.groups[0]), "secp384r1");
	assert_int_equal(h.session_id_len, 32);
}

static void test_server_resumption(void **state)
{
	struct tls_hello h;
	struct capture *c = &cap_a;

	(void)state;
	parse_fixture(c, "sh_openssl_resume.bin", true, &h, NULL, NULL);
	assert_false(h.hrr);
	assert_true(h.psk);
	assert_int_equal(h.cipher, 0x1302);
	assert_int_equal(h.versions[0], 0x0304);
	assert_int_equal(h.groups[0], 0x001D);
}

/* ---- hand-built hellos ---- */

static void test_constructed_hrr(void **state)
{
	uint8_t random[32];
	struct tls_hello h;
	struct msg m;

	(void)state;
	server_start(&m, hrr_random, 0x1301);
	ext_begin(&m, 43); /* supported_versions */
	put16(&m, 0x0304);
	vec_end(&m);
	ext_begin(&m, 51); /* key_share: the group alone */
	put16(&m, 0x11EC);
	vec_end(&m);
	ext_begin(&m, 44); /* cookie */
	vec_begin(&m, 2);
	put(&m, "cookie", 6);
	vec_end(&m);
	vec_end(&m);
	vec_end(&m);

	assert_int_equal(tls_parse_hello(m.b, m.n, true, &h), 0);
	assert_true(h.hrr);
	assert_false(h.truncated);
	assert_int_equal(h.cipher, 0x1301);
	assert_int_equal(h.versions[0], 0x0304);
	assert_int_equal(h.n_groups, 1);
	assert_int_equal(h.groups[0], 0x11EC);
	assert_string_equal(tls_group_name(h.groups[0]), "X25519MLKEM768");
	assert_int_equal(h.session_id_len, 8);
	assert_int_equal(h.session_id[0], 0x5e);

	/* the same bytes read as a ClientHello are not a HelloRetryRequest */
	tls_parse_hello(m.b, m.n, false, &h);
	assert_false(h.hrr);

	/* one bit off the HRR random: an ordinary ServerHello */
	memcpy(random, hrr_random, sizeof(random));
	random[31] ^= 1;
	memcpy(m.b + 2, random, sizeof(random));
	assert_int_equal(tls_parse_hello(m.b, m.n, true, &h), 0);
	assert_false(h.hrr);
	assert_int_equal(h.groups[0], 0x11EC);
}

static void test_grease_skipped(void **state)
{
	struct tls_hello h;
	struct msg m;
	unsigned int i;

	(void)state;
	hello_start(&m, NULL, 1);
	vec_begin(&m, 2);
	put16(&m, 0x2A2A); /* GREASE */
	put16(&m, 0x1301);
	put16(&m, 0xFAFA); /* GREASE */
	put16(&m, 0x1A2A); /* not GREASE: the two bytes differ */
	vec_end(&m);
	put8(&m, 1);
	put8(&m, 0);
	vec_begin(&m, 2);
	ext_begin(&m, 43);
	vec_begin(&m, 1);
	put16(&m, 0x0A0A);
	put16(&m, 0x0304);
	put16(&m, 0x7A7A);
	put16(&m, 0x0303);
	vec_end(&m);
	vec_end(&m);
	ext_begin(&m, 51);
	vec_begin(&m, 2);
	put16(&m, 0xDADA); /* GREASE share, one-byte key */
	put16(&m, 1);
	put8(&m, 0);
	put16(&m, 0x11EC);
	put16(&m, 4);
	put(&m, "abcd", 4);
	put16(&m, 0x001D);
	put16(&m, 2);
	put16(&m, 0);
	vec_end(&m);
	vec_end(&m);
	ext_begin(&m, 0x3A3A); /* GREASE extension: skipped like any unknown one */
	vec_end(&m);
	vec_end(&m);

	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	assert_false(h.truncated);
	assert_int_equal(h.n_ciphers, 2);
	assert_int_equal(h.ciphers[0], 0x1301);
	assert_int_equal(h.ciphers[1], 0x1A2A);
	assert_int_equal(h.n_versions, 2);
	assert_int_equal(h.versions[0], 0x0304);
	assert_int_equal(h.versions[1], 0x0303);
	assert_int_equal(h.n_groups, 2);
	assert_int_equal(h.groups[0], 0x11EC);
	assert_int_equal(h.groups[1], 0x001D);

	/* every GREASE value is recognised, nothing else with equal bytes is */
	for (i = 0; i < 16; i++) {
		uint16_t g = (uint16_t)(i << 12 | 0x0A00 | i << 4 | 0x0A);
		uint16_t not_g = (uint16_t)(i << 12 | 0x0B00 | i << 4 | 0x0B);

		client_start(&m);
		ext_begin(&m, 43);
		vec_begin(&m, 1);
		put16(&m, g);
		put16(&m, not_g);
		vec_end(&m);
		vec_end(&m);
		vec_end(&m);
		assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
		assert_int_equal(h.n_versions, 1);
		assert_int_equal(h.versions[0], not_g);
	}
}

static void add_sni(struct msg *m, const void *name, size_t n)
{
	ext_begin(m, 0);
	vec_begin(m, 2);
	put8(m, 0);
	vec_begin(m, 2);
	put(m, name, n);
	vec_end(m);
	vec_end(m);
	vec_end(m);
}

static void test_sni_sanitised(void **state)
{
	static const uint8_t hostile[] = "ev\x1b[31mil\0.te\xffst x\n";
	char longname[300], expect[256];
	struct tls_hello h;
	struct msg m;

	(void)state;
	client_start(&m);
	add_sni(&m, hostile, sizeof(hostile) - 1);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	assert_string_equal(h.sni, "ev?[31mil?.te?st?x?");

	/* longer than the field: cut to 255 characters, still terminated */
	memset(longname, 'a', sizeof(longname));
	client_start(&m);
	add_sni(&m, longname, sizeof(longname));
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	memset(expect, 'a', sizeof(expect) - 1);
	expect[sizeof(expect) - 1] = '\0';
	assert_string_equal(h.sni, expect);

	/* a non-host_name entry first: skipped, the host_name after it is taken */
	client_start(&m);
	ext_begin(&m, 0);
	vec_begin(&m, 2);
	put8(&m, 7);
	vec_begin(&m, 2);
	put(&m, "other", 5);
	vec_end(&m);
	put8(&m, 0);
	vec_begin(&m, 2);
	put(&m, "host.test", 9);
	vec_end(&m);
	vec_end(&m);
	vec_end(&m);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	assert_string_equal(h.sni, "host.test");

	/* the server's empty acknowledgement is not a name */
	server_start(&m, NULL, 0x1301);
	ext_begin(&m, 0);
	vec_end(&m);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, true, &h), 0);
	assert_string_equal(h.sni, "");
}

static void test_alpn_limits(void **state)
{
	char name[TL_ALPN_LEN + 10];
	struct tls_hello h;
	struct msg m;
	int i;

	(void)state;
	memset(name, 'p', sizeof(name));
	client_start(&m);
	ext_begin(&m, 16);
	vec_begin(&m, 2);
	vec_begin(&m, 1); /* too long for the field: cut */
	put(&m, name, sizeof(name));
	vec_end(&m);
	vec_begin(&m, 1);
	put(&m, "a\tb", 3);
	vec_end(&m);
	for (i = 0; i < TL_MAX_ALPN + 3; i++) { /* more than fit: the rest dropped */
		vec_begin(&m, 1);
		put8(&m, 'A' + i);
		vec_end(&m);
	}
	vec_end(&m);
	vec_end(&m);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	assert_false(h.truncated);
	assert_int_equal(h.n_alpn, TL_MAX_ALPN);
	assert_int_equal(strlen(h.alpn[0]), TL_ALPN_LEN - 1);
	assert_string_equal(h.alpn[1], "a?b");
	assert_string_equal(h.alpn[2], "A");
	assert_string_equal(h.alpn[TL_MAX_ALPN - 1], "F");
}

/* ---- truncation and hostile input ---- */

/* Parses every prefix of a real hello from an exactly-sized heap copy, so that any read past
 * the end shows up under valgrind or ASan, and checks what each prefix may claim. */
static void check_prefixes(const char *name, bool is_server)
{
	const uint8_t *body;
	struct tls_hello full, h;
	struct capture *c = &cap_a;
	size_t len, n, fixed, ext_start;

	parse_fixture(c, name, is_server, &full, &body, &len);
	fixed = FIXED_LEN + full.session_id_len;
	if (is_server) {
		ext_start = fixed + 3;
	} else {
		ext_start = fixed + 2 + ((size_t)body[fixed] << 8 | body[fixed + 1]);
		ext_start += 1 + body[ext_start];
	}
	for (n = 0; n <= len; n++) {
		int ret = tls_parse_hello(scratch_dup(body, n), n, is_server, &h);

		if (n < fixed) {
			assert_int_equal(ret, -EINVAL);
			assert_true(h.truncated);
			continue;
		}
		assert_int_equal(ret, 0);
		/* ending right before the extensions block reads as a hello without extensions */
		assert_int_equal(h.truncated, n < len && n != ext_start);
		assert_int_equal(h.legacy_version, full.legacy_version);
		assert_int_equal(h.hrr, full.hrr);
		assert_memory_equal(h.session_id, full.session_id, full.session_id_len);
		/* a prefix never shows more than the whole, and what it shows is right */
		assert_true(h.n_ciphers <= full.n_ciphers);
		assert_memory_equal(h.ciphers, full.ciphers, h.n_ciphers * sizeof(h.ciphers[0]));
		assert_true(h.n_alpn <= full.n_alpn);
		assert_true(h.n_versions <= full.n_versions);
		assert_memory_equal(h.versions, full.versions,
				    h.n_versions * sizeof(h.versions[0]));
		assert_true(h.n_groups <= full.n_groups);
		assert_memory_equal(h.groups, full.groups, h.n_groups * sizeof(h.groups[0]));
		if (h.sni[0])
			assert_string_equal(h.sni, full.sni);
		if (h.n_alpn)
			assert_string_equal(h.alpn[h.n_alpn - 1], full.alpn[h.n_alpn - 1]);
		assert_true(!h.psk || full.psk);
		assert_true(!h.session_ticket || full.session_ticket);
		assert_true(!h.early_data || full.early_data);
		if (is_server && n >= fixed + 2)
			assert_int_equal(h.cipher, full.cipher);
	}
}

static void test_truncated_every_length(void **state)
{
	(void)state;
	check_prefixes("ch_openssl_tls13.bin", false);
	check_prefixes("ch_openssl_tls12.bin", false);
	check_prefixes("ch_gnutls.bin", false);
	check_prefixes("ch_curl.bin", false);
	check_prefixes("ch_openssl_early_data.bin", false);
	check_prefixes("sh_openssl_tls13.bin", true);
	check_prefixes("sh_openssl_tls12.bin", true);
	check_prefixes("sh_openssl_hrr.bin", true);
	check_prefixes("sh_openssl_resume.bin", true);
}

static void test_truncated_bpf_limit(void **state)
{
	uint8_t pad[1500];
	struct tls_hello h;
	struct msg m;

	(void)state;
	/* a 1.5 KB padding extension before SNI: BPF's 1024 bytes end inside it */
	memset(pad, 0, sizeof(pad));
	client_start(&m);
	ext_begin(&m, 21);
	put(&m, pad, sizeof(pad));
	vec_end(&m);
	add_sni(&m, "late.test", 9);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	assert_false(h.truncated);
	assert_string_equal(h.sni, "late.test");
	assert_int_equal(tls_parse_hello(m.b, 1024, false, &h), 0);
	assert_true(h.truncated);
	assert_string_equal(h.sni, "");
	assert_int_equal(h.n_ciphers, 1);
}

/* Builds a ClientHello with one extension whose data is `data`; returns the parse result. */
static int parse_with_ext(unsigned int type, const void *data, size_t n, struct tls_hello *h)
{
	struct msg m;

	client_start(&m);
	ext_begin(&m, type);
	put(&m, data, n);
	vec_end(&m);
	vec_end(&m);
	return tls_parse_hello(m.b, m.n, false, h);
}

static void test_hostile_lengths(void **state)
{
	struct tls_hello h;
	struct msg m;

	(void)state;
	/* session id longer than 32 */
	memset(&m, 0, sizeof(m));
	put16(&m, 0x0303);
	m.n += 32;
	put8(&m, 33);
	m.n += 40;
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), -EINVAL);
	assert_int_equal(tls_parse_hello(m.b, m.n, true, &h), -EINVAL);

	/* cipher_suites: odd length, empty */
	hello_start(&m, NULL, 0);
	put16(&m, 3);
	put(&m, "\x13\x01\x13", 3);
	put8(&m, 1);
	put8(&m, 0);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), -EINVAL);
	hello_start(&m, NULL, 0);
	put16(&m, 0);
	put8(&m, 1);
	put8(&m, 0);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), -EINVAL);

	/* compression_methods empty */
	hello_start(&m, NULL, 0);
	put16(&m, 2);
	put16(&m, 0x1301);
	put8(&m, 0);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), -EINVAL);

	/* an extension of 40 bytes in an extensions block of 20 (50 bytes present) */
	client_start(&m);
	put16(&m, 0);
	put16(&m, 40);
	m.n += 50;
	m.b[m.open[0]] = 0; /* open[0]: the extensions block's length */
	m.b[m.open[0] + 1] = 20;
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), -EINVAL);

	/* inner vectors longer than their extension */
	assert_int_equal(parse_with_ext(0, "\x00\x10\x00\x00\x03" "abc", 8, &h), -EINVAL);
	assert_int_equal(parse_with_ext(0, "\x00\x06\x00\x00\x09" "abc", 8, &h), -EINVAL);
	assert_int_equal(parse_with_ext(16, "\x00\x04\x08" "h2h2", 7, &h), -EINVAL);
	assert_int_equal(parse_with_ext(16, "\x00\x09\x02" "h2", 5, &h), -EINVAL);
	assert_int_equal(parse_with_ext(43, "\x05\x03\x04\x03\x03\x03", 6, &h), -EINVAL);
	assert_int_equal(parse_with_ext(43, "\x03\x03\x04\x03", 4, &h), -EINVAL); /* odd */
	assert_int_equal(parse_with_ext(51, "\x00\x06\x00\x1d\x00\x20\x00\x00", 8, &h), -EINVAL);
	assert_int_equal(parse_with_ext(51, "\x00\x08\x00\x1d\x00\x02\x00\x00", 8, &h), -EINVAL);
	assert_int_equal(parse_with_ext(0, "\xff\xff\x00\xff\xff" "abc", 8, &h), -EINVAL);

	/* a server's key_share / supported_versions too short for their one value */
	server_start(&m, NULL, 0x1301);
	ext_begin(&m, 51);
	put8(&m, 0x1d);
	vec_end(&m);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, true, &h), -EINVAL);
	server_start(&m, NULL, 0x1301);
	ext_begin(&m, 43);
	vec_end(&m);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, true, &h), -EINVAL);

	/* the same extension twice */
	client_start(&m);
	add_sni(&m, "a.test", 6);
	add_sni(&m, "b.test", 6);
	vec_end(&m);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), -EINVAL);

	/* huge declared lengths with few bytes present are truncation, not malformation */
	client_start(&m);
	m.b[m.open[0]] = 0xff;
	m.b[m.open[0] + 1] = 0xff;
	put16(&m, 0);
	put16(&m, 0xfff0);
	put(&m, "\x00\x0a\x00\x00\x07" "ab", 7);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	assert_true(h.truncated);
	assert_string_equal(h.sni, "");
	hello_start(&m, NULL, 0);
	put16(&m, 0xfffe);
	put16(&m, 0x1302);
	assert_int_equal(tls_parse_hello(m.b, m.n, false, &h), 0);
	assert_true(h.truncated);
	assert_int_equal(h.n_ciphers, 1);

	/* no extensions at all (SSLv3-style): complete, nothing set */
	hello_start(&m, NULL, 0);
	put16(&m, 0x002F);
	put8(&m, 0);
	assert_int_equal(tls_parse_hello(m.b, m.n, true, &h), 0);
	assert_false(h.truncated);
	assert_int_equal(h.cipher, 0x002F);

	/* nothing at all */
	assert_int_equal(tls_parse_hello(NULL, 0, false, &h), -EINVAL);
	assert_true(h.truncated);
	assert_int_equal(tls_parse_hello(NULL, 100, true, &h), -EINVAL);
	assert_true(h.is_server);
}

/* Every single-byte corruption of a real hello (0x00, 0xff, +1) parses without harm. */
static void test_corrupted_bytes(void **state)
{
	static const char *const names[] = { "ch_gnutls.bin", "sh_openssl_tls12.bin" };
	static const uint8_t vals[] = { 0x00, 0xff, 0x80 };
	size_t i, pos, v;

	(void)state;
	for (i = 0; i < 2; i++) {
		const uint8_t *body;
		struct tls_hello h;
		struct capture *c = &cap_a;
		uint8_t *copy;
		size_t len;

		parse_fixture(c, names[i], i == 1, &h, &body, &len);
		copy = scratch_dup(body, len);
		for (pos = 0; pos < len; pos++) {
			for (v = 0; v < sizeof(vals) + 1; v++) {
				int ret;

				memcpy(copy, body, len);
				copy[pos] = v < sizeof(vals) ? vals[v] : (uint8_t)(body[pos] + 1);
				ret = tls_parse_hello(copy, len, i == 1, &h);
				assert_true(ret == 0 || ret == -EINVAL);
				assert_true(strlen(h.sni) < sizeof(h.sni));
				assert_true(h.n_alpn <= TL_MAX_ALPN);
				assert_true(h.n_versions <= TL_MAX_VERSIONS);
				assert_true(h.n_groups <= TLS_MAX_GROUPS);
				assert_true(h.n_ciphers <= TLS_MAX_GROUPS);
			}
		}
	}
}

/* ---- ServerKeyExchange ---- */

static void test_ske_group(void **state)
{
	uint16_t group = 0xBEEF;

	(void)state;
	assert_int_equal(tls_parse_ske_group((const uint8_t *)"\x03\x00\x17\x41", 4, &group), 0);
	assert_int_equal(group, 0x0017);
	assert_int_equal(tls_parse_ske_group((const uint8_t *)"\x03\x11\xec", 3, &group), 0);
	assert_int_equal(group, 0x11EC);

	group = 0xBEEF;
	/* explicit_prime (1) / explicit_char2 (2) curves, a DHE dh_p length, too short */
	assert_int_equal(tls_parse_ske_group((const uint8_t *)"\x01\x00\x17", 3, &group), -EINVAL);
	assert_int_equal(tls_parse_ske_group((const uint8_t *)"\x02\x00\x17", 3, &group), -EINVAL);
	assert_int_equal(tls_parse_ske_group((const uint8_t *)"\x01\x00\xff", 3, &group), -EINVAL);
	assert_int_equal(tls_parse_ske_group((const uint8_t *)"\x03\x00", 2, &group), -EINVAL);
	assert_int_equal(tls_parse_ske_group((const uint8_t *)"\x03", 1, &group), -EINVAL);
	assert_int_equal(tls_parse_ske_group(NULL, 0, &group), -EINVAL);
	assert_int_equal(tls_parse_ske_group(NULL, 3, &group), -EINVAL);
	assert_int_equal(group, 0xBEEF);
}

/* ---- names ---- */

static void test_cipher_names(void **state)
{
	static const char *const fixtures[] = { "ch_openssl_tls13.bin", "ch_gnutls.bin",
						"ch_curl.bin" };
	unsigned int id, named = 0;
	size_t i;

	(void)state;
	assert_string_equal(tls_cipher_name(0x1301), "TLS_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_name(0x1302), "TLS_AES_256_GCM_SHA384");
	assert_string_equal(tls_cipher_name(0x1303), "TLS_CHACHA20_POLY1305_SHA256");
	assert_string_equal(tls_cipher_name(0x1304), "TLS_AES_128_CCM_SHA256");
	assert_string_equal(tls_cipher_name(0x1305), "TLS_AES_128_CCM_8_SHA256");
	assert_string_equal(tls_cipher_name(0xC02F), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_name(0xC02B), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_name(0xC030), "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
	assert_string_equal(tls_cipher_name(0xC013), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
	assert_string_equal(tls_cipher_name(0xC028), "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384");
	assert_string_equal(tls_cipher_name(0xCCA8),
			    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
	assert_string_equal(tls_cipher_name(0xCCA9),
			    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
	assert_string_equal(tls_cipher_name(0x009C), "TLS_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_name(0x002F), "TLS_RSA_WITH_AES_128_CBC_SHA");
	assert_string_equal(tls_cipher_name(0x003D), "TLS_RSA_WITH_AES_256_CBC_SHA256");
	assert_string_equal(tls_cipher_name(0x009E), "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(tls_cipher_name(0x0039), "TLS_DHE_RSA_WITH_AES_256_CBC_SHA");
	assert_string_equal(tls_cipher_name(0xCCAA), "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256");
	assert_string_equal(tls_cipher_name(0xC0AD), "TLS_ECDHE_ECDSA_WITH_AES_256_CCM");
	assert_string_equal(tls_cipher_name(0x000A), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
	assert_string_equal(tls_cipher_name(0x00FF), "TLS_EMPTY_RENEGOTIATION_INFO_SCSV");
	assert_string_equal(tls_cipher_name(0x5600), "TLS_FALLBACK_SCSV");
	assert_null(tls_cipher_name(0x0A0A));
	assert_null(tls_cipher_name(0x1306));
	assert_null(tls_cipher_name(0xFFFF));

	for (id = 0; id <= 0xFFFF; id++) {
		const char *name = tls_cipher_name((uint16_t)id);

		if (!name)
			continue;
		named++;
		assert_memory_equal(name, "TLS_", 4);
	}
	/* Every entry of the table is found: name_find() searches by halves, so one out of
	 * order could be missed. */
	assert_int_equal(named, 260);

	/* every suite the captured OpenSSL, GnuTLS and curl clients offer has a name */
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct capture *c = &cap_a;
		const uint8_t *b;
		size_t len, off, n;

		capture_load(c, fixtures[i]);
		b = capture_msg(c, HS_CLIENT_HELLO, &len);
		assert_non_null(b);
		off = FIXED_LEN + b[FIXED_LEN - 1];
		n = (size_t)b[off] << 8 | b[off + 1];
		for (off += 2; n >= 2; n -= 2, off += 2) {
			id = (unsigned int)b[off] << 8 | b[off + 1];
			if (!tls_cipher_name((uint16_t)id))
				fail_msg("%s: no name for cipher suite 0x%04x", fixtures[i], id);
		}
	}
}

static void test_group_names(void **state)
{
	unsigned int id, named = 0;

	(void)state;
	assert_string_equal(tls_group_name(0x001D), "x25519");
	assert_string_equal(tls_group_name(0x001E), "x448");
	assert_string_equal(tls_group_name(0x0017), "secp256r1");
	assert_string_equal(tls_group_name(0x0018), "secp384r1");
	assert_string_equal(tls_group_name(0x0019), "secp521r1");
	assert_string_equal(tls_group_name(0x0100), "ffdhe2048");
	assert_string_equal(tls_group_name(0x0101), "ffdhe3072");
	assert_string_equal(tls_group_name(0x0102), "ffdhe4096");
	assert_string_equal(tls_group_name(0x0103), "ffdhe6144");
	assert_string_equal(tls_group_name(0x0104), "ffdhe8192");
	assert_string_equal(tls_group_name(0x11EC), "X25519MLKEM768");
	assert_string_equal(tls_group_name(0x11EB), "SecP256r1MLKEM768");
	assert_string_equal(tls_group_name(0x11ED), "SecP384r1MLKEM1024");
	assert_string_equal(tls_group_name(0x0201), "MLKEM768");
	assert_string_equal(tls_group_name(0x6399), "X25519Kyber768Draft00");
	assert_string_equal(tls_group_name(0x001A), "brainpoolP256r1");
	assert_null(tls_group_name(0x0000));
	assert_null(tls_group_name(0x2A2A));
	assert_null(tls_group_name(0xFFFF));

	/* Every entry of the table is found (see test_cipher_names()). */
	for (id = 0; id <= 0xFFFF; id++)
		named += tls_group_name((uint16_t)id) != NULL;
	assert_int_equal(named, 56);
}

static void test_alert_names(void **state)
{
	static const struct {
		uint8_t id;
		const char *name;
	} alerts[] = {
		{ 0, "close_notify" },
		{ 10, "unexpected_message" },
		{ 20, "bad_record_mac" },
		{ 21, "decryption_failed" },
		{ 22, "record_overflow" },
		{ 30, "decompression_failure" },
		{ 40, "handshake_failure" },
		{ 41, "no_certificate" },
		{ 42, "bad_certificate" },
		{ 43, "unsupported_certificate" },
		{ 44, "certificate_revoked" },
		{ 45, "certificate_expired" },
		{ 46, "certificate_unknown" },
		{ 47, "illegal_parameter" },
		{ 48, "unknown_ca" },
		{ 49, "access_denied" },
		{ 50, "decode_error" },
		{ 51, "decrypt_error" },
		{ 60, "export_restriction" },
		{ 70, "protocol_version" },
		{ 71, "insufficient_security" },
		{ 80, "internal_error" },
		{ 86, "inappropriate_fallback" },
		{ 90, "user_canceled" },
		{ 100, "no_renegotiation" },
		{ 109, "missing_extension" },
		{ 110, "unsupported_extension" },
		{ 111, "certificate_unobtainable" },
		{ 112, "unrecognized_name" },
		{ 113, "bad_certificate_status_response" },
		{ 114, "bad_certificate_hash_value" },
		{ 115, "unknown_psk_identity" },
		{ 116, "certificate_required" },
		{ 120, "no_application_protocol" },
		{ 121, "ech_required" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(alerts) / sizeof(alerts[0]); i++) {
		assert_non_null(tls_alert_name(alerts[i].id));
		assert_string_equal(tls_alert_name(alerts[i].id), alerts[i].name);
	}
	assert_null(tls_alert_name(1));
	assert_null(tls_alert_name(255));
}

static void test_version_and_handshake_names(void **state)
{
	(void)state;
	assert_string_equal(tls_version_name(0x0300), "ssl3");
	assert_string_equal(tls_version_name(0x0301), "1.0");
	assert_string_equal(tls_version_name(0x0302), "1.1");
	assert_string_equal(tls_version_name(0x0303), "1.2");
	assert_string_equal(tls_version_name(0x0304), "1.3");
	assert_null(tls_version_name(0x0305));
	assert_null(tls_version_name(0x7F1C));
	assert_null(tls_version_name(0x0A0A));

	assert_string_equal(tls_handshake_name(1), "client_hello");
	assert_string_equal(tls_handshake_name(2), "server_hello");
	assert_string_equal(tls_handshake_name(4), "new_session_ticket");
	assert_string_equal(tls_handshake_name(5), "end_of_early_data");
	assert_string_equal(tls_handshake_name(8), "encrypted_extensions");
	assert_string_equal(tls_handshake_name(11), "certificate");
	assert_string_equal(tls_handshake_name(12), "server_key_exchange");
	assert_string_equal(tls_handshake_name(13), "certificate_request");
	assert_string_equal(tls_handshake_name(14), "server_hello_done");
	assert_string_equal(tls_handshake_name(15), "certificate_verify");
	assert_string_equal(tls_handshake_name(16), "client_key_exchange");
	assert_string_equal(tls_handshake_name(20), "finished");
	assert_string_equal(tls_handshake_name(24), "key_update");
	assert_string_equal(tls_handshake_name(254), "message_hash");
	assert_null(tls_handshake_name(7));
	assert_null(tls_handshake_name(255));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_openssl_tls13),
		cmocka_unit_test(test_client_openssl_tls12),
		cmocka_unit_test(test_client_gnutls),
		cmocka_unit_test(test_client_curl),
		cmocka_unit_test(test_client_resumption),
		cmocka_unit_test(test_server_tls13),
		cmocka_unit_test(test_server_tls12_ecdhe),
		cmocka_unit_test(test_server_tls12_rsa),
		cmocka_unit_test(test_server_hrr),
		cmocka_unit_test(test_server_resumption),
		cmocka_unit_test(test_constructed_hrr),
		cmocka_unit_test(test_grease_skipped),
		cmocka_unit_test(test_sni_sanitised),
		cmocka_unit_test(test_alpn_limits),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_truncated_bpf_limit),
		cmocka_unit_test(test_hostile_lengths),
		cmocka_unit_test(test_corrupted_bytes),
		cmocka_unit_test(test_ske_group),
		cmocka_unit_test(test_cipher_names),
		cmocka_unit_test(test_group_names),
		cmocka_unit_test(test_alert_names),
		cmocka_unit_test(test_version_and_handshake_names),
	};

	return cmocka_run_group_tests_name("tls_parse", tests, NULL, free_scratch);
}
