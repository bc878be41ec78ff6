// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * tls_parse.c - ClientHello / ServerHello / ServerKeyExchange parsing and IANA name tables.
 *
 * The hello parser walks nested length-prefixed vectors (RFC 8446 section 3.4) with a cursor
 * that knows two limits: `left`, the bytes its vector declares (unknown for the body itself,
 * whose length BPF knows but does not pass here), and `avail`, the bytes actually present
 * (BPF sends at most HS_TLS_DATA_MAX bytes of a body). A length that runs past its enclosing
 * vector's declared end is malformed: -EINVAL. A length that only runs past the bytes present
 * is truncation: everything complete before it is kept and `truncated` is set. Each loop step
 * consumes at least one byte or stops, so parsing always terminates; nothing is read past
 * `len`.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tls_parse.h"

/* Extension numbers (IANA "TLS ExtensionType Values"). */
enum {
	EXT_SERVER_NAME = 0,
	EXT_ALPN = 16,
	EXT_SESSION_TICKET = 35,
	EXT_PRE_SHARED_KEY = 41,
	EXT_EARLY_DATA = 42,
	EXT_SUPPORTED_VERSIONS = 43,
	EXT_KEY_SHARE = 51,
};

#define SNI_HOST_NAME 0	     /* ServerName.name_type host_name */
#define ECP_NAMED_CURVE 3    /* ServerKeyExchange ECParameters.curve_type named_curve */
#define HELLO_RANDOM_LEN 32
#define SESSION_ID_MAX 32

/* SHA-256("HelloRetryRequest"): the ServerHello.random of a HelloRetryRequest (RFC 8446 4.1.3) */
static const uint8_t hrr_random[HELLO_RANDOM_LEN] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8,
	0x91, 0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8,
	0x33, 0x9c,
};

/* ---- bounded reader ---- */

#define RD_SHORT 1 /* the bytes ran out before the declared end: truncated, not malformed */

struct span {
	const uint8_t *p; /* next byte */
	size_t avail;	  /* bytes present from p */
	size_t left;	  /* bytes the enclosing vector declares from p; avail <= left */
};

/* Takes n bytes. Returns 0 and sets *bytes, RD_SHORT when fewer than n are present (nothing
 * taken), or -EINVAL when n runs past the declared end. */
static int span_take(struct span *s, size_t n, const uint8_t **bytes)
{
	if (n > s->left)
		return -EINVAL;
	if (n > s->avail)
		return RD_SHORT;
	*bytes = s->p;
	s->p += n;
	s->avail -= n;
	s->left -= n;
	return 0;
}

static int span_u8(struct span *s, uint8_t *v)
{
	const uint8_t *b;
	int err = span_take(s, 1, &b);

	if (!err)
		*v = b[0];
	return err;
}

static int span_u16(struct span *s, uint16_t *v)
{
	const uint8_t *b;
	int err = span_take(s, 2, &b);

	if (!err)
		*v = (uint16_t)(b[0] << 8 | b[1]);
	return err;
}

/* Splits the next n declared bytes off into *sub (which may hold fewer than n when the input
 * is cut short) and moves past them. Returns 0, or -EINVAL when n runs past the declared end.
 * A cut moves from the parent into the sub-span: test span_short(sub) right away. */
static int span_sub(struct span *s, size_t n, struct span *sub)
{
	size_t have = n < s->avail ? n : s->avail;

	if (n > s->left)
		return -EINVAL;
	sub->p = s->p;
	sub->avail = have;
	sub->left = n;
	s->p += have;
	s->avail -= have;
	s->left -= n;
	return 0;
}

/* Reads a vector length of `width` (1 or 2) bytes, then splits the vector off into *sub. */
static int span_vec(struct span *s, int width, struct span *sub)
{
	uint16_t n16;
	uint8_t n8;
	int err;

	if (width == 1) {
		err = span_u8(s, &n8);
		n16 = n8;
	} else {
		err = span_u16(s, &n16);
	}
	return err ? err : span_sub(s, n16, sub);
}

static bool span_short(const struct span *s)
{
	return s->avail < s->left;
}

/* ---- field helpers ---- */

/* GREASE (RFC 8701): 0x0A0A, 0x1A1A, ... 0xFAFA, reserved to keep peers tolerant. */
static bool is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* Copies n bytes into dst (size dstsz >= 1) as printable ASCII: every byte outside '!'..'~'
 * becomes '?'. Truncates to dstsz - 1 bytes; always NUL-terminates. */
static void copy_printable(char *dst, size_t dstsz, const uint8_t *src, size_t n)
{
	size_t i;

	if (n > dstsz - 1)
		n = dstsz - 1;
	for (i = 0; i < n; i++)
		dst[i] = src[i] > 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	dst[n] = '\0';
}

/* Appends v to a list of at most max entries unless it is GREASE; extra entries are dropped. */
static void list_add(uint16_t *list, size_t *n, size_t max, uint16_t v)
{
	if (!is_grease(v) && *n < max)
		list[(*n)++] = v;
}

/* ---- extensions: each gets its extension_data span and returns 0, RD_SHORT or -EINVAL ---- */

/* server_name (RFC 6066 section 3): ServerNameList of (name_type, opaque name<1..2^16-1>). */
static int ext_server_name(struct span *d, struct tls_hello *h)
{
	struct span list, name;
	uint8_t type;
	int err;

	if (h->is_server) /* a server sends it empty, as an acknowledgement */
		return 0;
	err = span_vec(d, 2, &list);
	while (!err && list.left) {
		err = span_u8(&list, &type);
		if (!err)
			err = span_vec(&list, 2, &name);
		if (!err && span_short(&name))
			err = RD_SHORT; /* never keep half a name */
		if (!err && type == SNI_HOST_NAME && !h->sni[0])
			copy_printable(h->sni, sizeof(h->sni), name.p, name.avail);
	}
	return err;
}

/* application_layer_protocol_negotiation (RFC 7301): ProtocolNameList of opaque <1..2^8-1>. */
static int ext_alpn(struct span *d, struct tls_hello *h)
{
	size_t max = h->is_server ? 1 : TL_MAX_ALPN;
	struct span list, name;
	int err;

	err = span_vec(d, 2, &list);
	while (!err && list.left) {
		err = span_vec(&list, 1, &name);
		if (!err && span_short(&name))
			err = RD_SHORT;
		if (!err && name.avail && h->n_alpn < max)
			copy_printable(h->alpn[h->n_alpn++], TL_ALPN_LEN, name.p, name.avail);
	}
	return err;
}

/* supported_versions (RFC 8446 4.2.1): ClientHello: ProtocolVersion versions<2..254>;
 * ServerHello / HelloRetryRequest: the selected ProtocolVersion. */
static int ext_supported_versions(struct span *d, struct tls_hello *h)
{
	struct span list;
	uint16_t v;
	int err;

	if (h->is_server) {
		err = span_u16(d, &v);
		if (!err)
			list_add(h->versions, &h->n_versions, 1, v);
		return err;
	}
	err = span_vec(d, 1, &list);
	if (!err && list.left % 2)
		return -EINVAL;
	while (!err && list.left) {
		err = span_u16(&list, &v);
		if (!err)
			list_add(h->versions, &h->n_versions, TL_MAX_VERSIONS, v);
	}
	return err;
}

/* key_share (RFC 8446 4.2.8): ClientHello: KeyShareEntry client_shares<0..2^16-1>, each
 * (NamedGroup group, opaque key_exchange<1..2^16-1>); ServerHello: one KeyShareEntry;
 * HelloRetryRequest: the NamedGroup alone. Only the groups are kept. */
static int ext_key_share(struct span *d, struct tls_hello *h)
{
	struct span list, key;
	uint16_t group;
	int err;

	if (h->is_server) {
		err = span_u16(d, &group);
		if (!err)
			list_add(h->groups, &h->n_groups, 1, group);
		return err;
	}
	err = span_vec(d, 2, &list);
	while (!err && list.left) {
		err = span_u16(&list, &group);
		if (err)
			break;
		list_add(h->groups, &h->n_groups, TLS_MAX_GROUPS, group);
		err = span_vec(&list, 2, &key);
	}
	return err;
}

/* Parses one extension. Returns 0, RD_SHORT or -EINVAL (malformed or repeated). */
static int parse_extension(uint16_t type, struct span *d, struct tls_hello *h, uint32_t *seen)
{
	static const uint16_t known[] = {
		EXT_SERVER_NAME, EXT_ALPN,		 EXT_SESSION_TICKET, EXT_PRE_SHARED_KEY,
		EXT_EARLY_DATA,	 EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE,
	};
	size_t i;

	/* RFC 8446 4.2: no extension type may appear twice in one block */
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i] != type)
			continue;
		if (*seen & 1u << i)
			return -EINVAL;
		*seen |= 1u << i;
	}

	switch (type) {
	case EXT_SERVER_NAME:
		return ext_server_name(d, h);
	case EXT_ALPN:
		return ext_alpn(d, h);
	case EXT_SUPPORTED_VERSIONS:
		return ext_supported_versions(d, h);
	case EXT_KEY_SHARE:
		return ext_key_share(d, h);
	case EXT_PRE_SHARED_KEY:
		h->psk = true;
		return 0;
	case EXT_SESSION_TICKET:
		h->session_ticket = true;
		return 0;
	case EXT_EARLY_DATA:
		h->early_data = true;
		return 0;
	default:
		return 0;
	}
}

/* Parses the extensions block, which starts at s (absent when the body ends right before it).
 * Returns 0 (h->truncated set when cut short) or -EINVAL. */
static int parse_extensions(struct span *s, struct tls_hello *h)
{
	struct span exts, data;
	uint32_t seen = 0;
	uint16_t type;
	bool cut;
	int err;

	if (!s->avail) /* no extensions: SSLv3-style hello, or cut exactly here */
		return 0;
	err = span_vec(s, 2, &exts);
	while (!err && exts.left) {
		err = span_u16(&exts, &type);
		if (!err)
			err = span_vec(&exts, 2, &data);
		if (err)
			break;
		cut = span_short(&data); /* before the handler consumes it */
		err = parse_extension(type, &data, h, &seen);
		if (!err && cut)
			err = RD_SHORT;
	}
	if (err == RD_SHORT)
		h->truncated = true;
	return err < 0 ? err : 0;
}

int tls_parse_hello(const uint8_t *body, size_t len, bool is_server, struct tls_hello *out)
{
	struct span s = { .p = body, .avail = body ? len : 0, .left = SIZE_MAX };
	struct span suites;
	const uint8_t *b;
	uint16_t v;
	uint8_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	out->is_server = is_server;

	/* legacy_version, random, legacy_session_id: the part a hello cannot do without */
	err = span_u16(&s, &out->legacy_version);
	if (!err)
		err = span_take(&s, HELLO_RANDOM_LEN, &b);
	if (!err) {
		out->hrr = is_server && !memcmp(b, hrr_random, HELLO_RANDOM_LEN);
		err = span_u8(&s, &n);
	}
	if (!err && n > SESSION_ID_MAX)
		return -EINVAL;
	if (!err)
		err = span_take(&s, n, &b);
	if (err) {
		out->truncated = err == RD_SHORT;
		return -EINVAL;
	}
	out->session_id_len = n;
	memcpy(out->session_id, b, n);

	if (is_server) {
		/* cipher_suite, legacy_compression_method */
		err = span_u16(&s, &out->cipher);
		if (!err)
			err = span_u8(&s, &n);
	} else {
		/* cipher_suites<2..2^16-2>, legacy_compression_methods<1..2^8-1> */
		err = span_vec(&s, 2, &suites);
		if (!err && (suites.left == 0 || suites.left % 2))
			return -EINVAL;
		while (!err && suites.left) {
			err = span_u16(&suites, &v);
			if (!err)
				list_add(out->ciphers, &out->n_ciphers, TLS_MAX_GROUPS, v);
		}
		if (!err)
			err = span_u8(&s, &n);
		if (!err && n == 0)
			return -EINVAL;
		if (!err)
			err = span_take(&s, n, &b);
	}
	if (err == RD_SHORT) {
		out->truncated = true;
		return 0;
	}
	if (err)
		return err;
	return parse_extensions(&s, out);
}

int tls_parse_ske_group(const uint8_t *body, size_t len, uint16_t *group)
{
	if (!body || !group || len < 3 || body[0] != ECP_NAMED_CURVE)
		return -EINVAL;
	*group = (uint16_t)(body[1] << 8 | body[2]);
	return 0;
}

/* ---- IANA names ---- */

struct tls_name {
	uint16_t id;
	const char *name;
};

/* The name of id in table t of n entries sorted by id (ascending, no id twice), or NULL:
 * by halves (a line of output looks up its cipher suite in 260 entries; test_tls_parse checks
 * that every entry is found). */
static const char *name_find(const struct tls_name *t, size_t n, uint16_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid].id == id)
			return t[mid].name;
		if (t[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * IANA "TLS Cipher Suites", by number (name_find() needs that order): every suite OpenSSL 3.0
 * (`openssl ciphers -V -stdname ALL:COMPLEMENTOFALL:eNULL`) and GnuTLS 3.7 (`gnutls-cli -l`)
 * can negotiate, the signalling values, and the older ECDH/DH/export suites that ClientHellos
 * still offer.
 */
static const struct tls_name cipher_names[] = {
	{ 0x0000, "TLS_NULL_WITH_NULL_NULL" },
	{ 0x0001, "TLS_RSA_WITH_NULL_MD5" },
	{ 0x0002, "TLS_RSA_WITH_NULL_SHA" },
	{ 0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5" },
	{ 0x0004, "TLS_RSA_WITH_RC4_128_MD5" },
	{ 0x0005, "TLS_RSA_WITH_RC4_128_SHA" },
	{ 0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5" },
	{ 0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA" },
	{ 0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0009, "TLS_RSA_WITH_DES_CBC_SHA" },
	{ 0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0x000D, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0010, "TLS_DH_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA" },
	{ 0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA" },
	{ 0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA" },
	{ 0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0018, "TLS_DH_anon_WITH_RC4_128_MD5" },
	{ 0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA" },
	{ 0x002C, "TLS_PSK_WITH_NULL_SHA" },
	{ 0x002D, "TLS_DHE_PSK_WITH_NULL_SHA" },
	{ 0x002E, "TLS_RSA_PSK_WITH_NULL_SHA" },
	{ 0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA" },
	{ 0x0030, "TLS_DH_DSS_WITH_AES_128_CBC_SHA" },
	{ 0x0031, "TLS_DH_RSA_WITH_AES_128_CBC_SHA" },
	{ 0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA" },
	{ 0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA" },
	{ 0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA" },
	{ 0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA" },
	{ 0x0036, "TLS_DH_DSS_WITH_AES_256_CBC_SHA" },
	{ 0x0037, "TLS_DH_RSA_WITH_AES_256_CBC_SHA" },
	{ 0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA" },
	{ 0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA" },
	{ 0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA" },
	{ 0x003B, "TLS_RSA_WITH_NULL_SHA256" },
	{ 0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256" },
	{ 0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256" },
	{ 0x003E, "TLS_DH_DSS_WITH_AES_128_CBC_SHA256" },
	{ 0x003F, "TLS_DH_RSA_WITH_AES_128_CBC_SHA256" },
	{ 0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256" },
	{ 0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA" },
	{ 0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA" },
	{ 0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA" },
	{ 0x0046, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA" },
	{ 0x0066, "TLS_DHE_DSS_WITH_RC4_128_SHA" },
	{ 0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256" },
	{ 0x0068, "TLS_DH_DSS_WITH_AES_256_CBC_SHA256" },
	{ 0x0069, "TLS_DH_RSA_WITH_AES_256_CBC_SHA256" },
	{ 0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256" },
	{ 0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256" },
	{ 0x006C, "TLS_DH_anon_WITH_AES_128_CBC_SHA256" },
	{ 0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256" },
	{ 0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA" },
	{ 0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA" },
	{ 0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA" },
	{ 0x0089, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA" },
	{ 0x008A, "TLS_PSK_WITH_RC4_128_SHA" },
	{ 0x008B, "TLS_PSK_WITH_3DES_EDE_CBC_SHA" },
	{ 0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA" },
	{ 0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA" },
	{ 0x008E, "TLS_DHE_PSK_WITH_RC4_128_SHA" },
	{ 0x008F, "TLS_DHE_PSK_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0090, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA" },
	{ 0x0091, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA" },
	{ 0x0092, "TLS_RSA_PSK_WITH_RC4_128_SHA" },
	{ 0x0093, "TLS_RSA_PSK_WITH_3DES_EDE_CBC_SHA" },
	{ 0x0094, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA" },
	{ 0x0095, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA" },
	{ 0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0x00A0, "TLS_DH_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0x00A1, "TLS_DH_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256" },
	{ 0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384" },
	{ 0x00A4, "TLS_DH_DSS_WITH_AES_128_GCM_SHA256" },
	{ 0x00A5, "TLS_DH_DSS_WITH_AES_256_GCM_SHA384" },
	{ 0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256" },
	{ 0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384" },
	{ 0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256" },
	{ 0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384" },
	{ 0x00AA, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256" },
	{ 0x00AB, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384" },
	{ 0x00AC, "TLS_RSA_PSK_WITH_AES_128_GCM_SHA256" },
	{ 0x00AD, "TLS_RSA_PSK_WITH_AES_256_GCM_SHA384" },
	{ 0x00AE, "TLS_PSK_WITH_AES_128_CBC_SHA256" },
	{ 0x00AF, "TLS_PSK_WITH_AES_256_CBC_SHA384" },
	{ 0x00B0, "TLS_PSK_WITH_NULL_SHA256" },
	{ 0x00B1, "TLS_PSK_WITH_NULL_SHA384" },
	{ 0x00B2, "TLS_DHE_PSK_WITH_AES_128_CBC_SHA256" },
	{ 0x00B3, "TLS_DHE_PSK_WITH_AES_256_CBC_SHA384" },
	{ 0x00B4, "TLS_DHE_PSK_WITH_NULL_SHA256" },
	{ 0x00B5, "TLS_DHE_PSK_WITH_NULL_SHA384" },
	{ 0x00B6, "TLS_RSA_PSK_WITH_AES_128_CBC_SHA256" },
	{ 0x00B7, "TLS_RSA_PSK_WITH_AES_256_CBC_SHA384" },
	{ 0x00B8, "TLS_RSA_PSK_WITH_NULL_SHA256" },
	{ 0x00B9, "TLS_RSA_PSK_WITH_NULL_SHA384" },
	{ 0x00BA, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0x00BD, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0x00BE, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0x00BF, "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0x00C0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256" },
	{ 0x00C3, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256" },
	{ 0x00C4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256" },
	{ 0x00C5, "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256" },
	{ 0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV" },
	{ 0x1301, "TLS_AES_128_GCM_SHA256" },
	{ 0x1302, "TLS_AES_256_GCM_SHA384" },
	{ 0x1303, "TLS_CHACHA20_POLY1305_SHA256" },
	{ 0x1304, "TLS_AES_128_CCM_SHA256" },
	{ 0x1305, "TLS_AES_128_CCM_8_SHA256" },
	{ 0x5600, "TLS_FALLBACK_SCSV" },
	{ 0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA" },
	{ 0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA" },
	{ 0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA" },
	{ 0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA" },
	{ 0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA" },
	{ 0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA" },
	{ 0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA" },
	{ 0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA" },
	{ 0xC00B, "TLS_ECDH_RSA_WITH_NULL_SHA" },
	{ 0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA" },
	{ 0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA" },
	{ 0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA" },
	{ 0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA" },
	{ 0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA" },
	{ 0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" },
	{ 0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA" },
	{ 0xC015, "TLS_ECDH_anon_WITH_NULL_SHA" },
	{ 0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA" },
	{ 0xC017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA" },
	{ 0xC019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA" },
	{ 0xC01A, "TLS_SRP_SHA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC01B, "TLS_SRP_SHA_RSA_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC01C, "TLS_SRP_SHA_DSS_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC01D, "TLS_SRP_SHA_WITH_AES_128_CBC_SHA" },
	{ 0xC01E, "TLS_SRP_SHA_RSA_WITH_AES_128_CBC_SHA" },
	{ 0xC01F, "TLS_SRP_SHA_DSS_WITH_AES_128_CBC_SHA" },
	{ 0xC020, "TLS_SRP_SHA_WITH_AES_256_CBC_SHA" },
	{ 0xC021, "TLS_SRP_SHA_RSA_WITH_AES_256_CBC_SHA" },
	{ 0xC022, "TLS_SRP_SHA_DSS_WITH_AES_256_CBC_SHA" },
	{ 0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" },
	{ 0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384" },
	{ 0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256" },
	{ 0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384" },
	{ 0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256" },
	{ 0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384" },
	{ 0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256" },
	{ 0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384" },
	{ 0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" },
	{ 0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" },
	{ 0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256" },
	{ 0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384" },
	{ 0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256" },
	{ 0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384" },
	{ 0xC033, "TLS_ECDHE_PSK_WITH_RC4_128_SHA" },
	{ 0xC034, "TLS_ECDHE_PSK_WITH_3DES_EDE_CBC_SHA" },
	{ 0xC035, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA" },
	{ 0xC036, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA" },
	{ 0xC037, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256" },
	{ 0xC038, "TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384" },
	{ 0xC039, "TLS_ECDHE_PSK_WITH_NULL_SHA" },
	{ 0xC03A, "TLS_ECDHE_PSK_WITH_NULL_SHA256" },
	{ 0xC03B, "TLS_ECDHE_PSK_WITH_NULL_SHA384" },
	{ 0xC050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC051, "TLS_RSA_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC052, "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC053, "TLS_DHE_RSA_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC056, "TLS_DHE_DSS_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC057, "TLS_DHE_DSS_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC05C, "TLS_ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC05D, "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC060, "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC06A, "TLS_PSK_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC06B, "TLS_PSK_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC06C, "TLS_DHE_PSK_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC06D, "TLS_DHE_PSK_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC06E, "TLS_RSA_PSK_WITH_ARIA_128_GCM_SHA256" },
	{ 0xC06F, "TLS_RSA_PSK_WITH_ARIA_256_GCM_SHA384" },
	{ 0xC072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0xC073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384" },
	{ 0xC076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0xC077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384" },
	{ 0xC07A, "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC07B, "TLS_RSA_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC07C, "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC07D, "TLS_DHE_RSA_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC080, "TLS_DHE_DSS_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC081, "TLS_DHE_DSS_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC084, "TLS_DH_anon_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC085, "TLS_DH_anon_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC086, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC087, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC08A, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC08B, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC08E, "TLS_PSK_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC08F, "TLS_PSK_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC090, "TLS_DHE_PSK_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC091, "TLS_DHE_PSK_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC092, "TLS_RSA_PSK_WITH_CAMELLIA_128_GCM_SHA256" },
	{ 0xC093, "TLS_RSA_PSK_WITH_CAMELLIA_256_GCM_SHA384" },
	{ 0xC094, "TLS_PSK_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0xC095, "TLS_PSK_WITH_CAMELLIA_256_CBC_SHA384" },
	{ 0xC096, "TLS_DHE_PSK_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0xC097, "TLS_DHE_PSK_WITH_CAMELLIA_256_CBC_SHA384" },
	{ 0xC098, "TLS_RSA_PSK_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0xC099, "TLS_RSA_PSK_WITH_CAMELLIA_256_CBC_SHA384" },
	{ 0xC09A, "TLS_ECDHE_PSK_WITH_CAMELLIA_128_CBC_SHA256" },
	{ 0xC09B, "TLS_ECDHE_PSK_WITH_CAMELLIA_256_CBC_SHA384" },
	{ 0xC09C, "TLS_RSA_WITH_AES_128_CCM" },
	{ 0xC09D, "TLS_RSA_WITH_AES_256_CCM" },
	{ 0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM" },
	{ 0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM" },
	{ 0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8" },
	{ 0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8" },
	{ 0xC0A2, "TLS_DHE_RSA_WITH_AES_128_CCM_8" },
	{ 0xC0A3, "TLS_DHE_RSA_WITH_AES_256_CCM_8" },
	{ 0xC0A4, "TLS_PSK_WITH_AES_128_CCM" },
	{ 0xC0A5, "TLS_PSK_WITH_AES_256_CCM" },
	{ 0xC0A6, "TLS_DHE_PSK_WITH_AES_128_CCM" },
	{ 0xC0A7, "TLS_DHE_PSK_WITH_AES_256_CCM" },
	{ 0xC0A8, "TLS_PSK_WITH_AES_128_CCM_8" },
	{ 0xC0A9, "TLS_PSK_WITH_AES_256_CCM_8" },
	{ 0xC0AA, "TLS_PSK_DHE_WITH_AES_128_CCM_8" },
	{ 0xC0AB, "TLS_PSK_DHE_WITH_AES_256_CCM_8" },
	{ 0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM" },
	{ 0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM" },
	{ 0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8" },
	{ 0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8" },
	{ 0xC0B4, "TLS_SHA256_SHA256" },
	{ 0xC0B5, "TLS_SHA384_SHA384" },
	{ 0xC100, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC" },
	{ 0xC101, "TLS_GOSTR341112_256_WITH_MAGMA_CTR_OMAC" },
	{ 0xC102, "TLS_GOSTR341112_256_WITH_28147_CNT_IMIT" },
	{ 0xC103, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_L" },
	{ 0xC104, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_L" },
	{ 0xC105, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_MGM_S" },
	{ 0xC106, "TLS_GOSTR341112_256_WITH_MAGMA_MGM_S" },
	{ 0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCAD, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xCCAE, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256" },
	{ 0xD001, "TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256" },
	{ 0xD002, "TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384" },
	{ 0xD003, "TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256" },
	{ 0xD005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256" },
};

/* IANA "TLS Supported Groups", by number (name_find() needs that order). */
static const struct tls_name group_names[] = {
	{ 0x0001, "sect163k1" },
	{ 0x0002, "sect163r1" },
	{ 0x0003, "sect163r2" },
	{ 0x0004, "sect193r1" },
	{ 0x0005, "sect193r2" },
	{ 0x0006, "sect233k1" },
	{ 0x0007, "sect233r1" },
	{ 0x0008, "sect239k1" },
	{ 0x0009, "sect283k1" },
	{ 0x000A, "sect283r1" },
	{ 0x000B, "sect409k1" },
	{ 0x000C, "sect409r1" },
	{ 0x000D, "sect571k1" },
	{ 0x000E, "sect571r1" },
	{ 0x000F, "secp160k1" },
	{ 0x0010, "secp160r1" },
	{ 0x0011, "secp160r2" },
	{ 0x0012, "secp192k1" },
	{ 0x0013, "secp192r1" },
	{ 0x0014, "secp224k1" },
	{ 0x0015, "secp224r1" },
	{ 0x0016, "secp256k1" },
	{ 0x0017, "secp256r1" },
	{ 0x0018, "secp384r1" },
	{ 0x0019, "secp521r1" },
	{ 0x001A, "brainpoolP256r1" },
	{ 0x001B, "brainpoolP384r1" },
	{ 0x001C, "brainpoolP512r1" },
	{ 0x001D, "x25519" },
	{ 0x001E, "x448" },
	{ 0x001F, "brainpoolP256r1tls13" },
	{ 0x0020, "brainpoolP384r1tls13" },
	{ 0x0021, "brainpoolP512r1tls13" },
	{ 0x0022, "GC256A" },
	{ 0x0023, "GC256B" },
	{ 0x0024, "GC256C" },
	{ 0x0025, "GC256D" },
	{ 0x0026, "GC512A" },
	{ 0x0027, "GC512B" },
	{ 0x0028, "GC512C" },
	{ 0x0029, "curveSM2" },
	{ 0x0100, "ffdhe2048" },
	{ 0x0101, "ffdhe3072" },
	{ 0x0102, "ffdhe4096" },
	{ 0x0103, "ffdhe6144" },
	{ 0x0104, "ffdhe8192" },
	{ 0x0200, "MLKEM512" },
	{ 0x0201, "MLKEM768" },
	{ 0x0202, "MLKEM1024" },
	{ 0x11EB, "SecP256r1MLKEM768" },
	{ 0x11EC, "X25519MLKEM768" },
	{ 0x11ED, "SecP384r1MLKEM1024" },
	{ 0x6399, "X25519Kyber768Draft00" },
	{ 0x639A, "SecP256r1Kyber768Draft00" },
	{ 0xFF01, "arbitrary_explicit_prime_curves" },
	{ 0xFF02, "arbitrary_explicit_char2_curves" },
};

/* IANA "TLS Alerts" (AlertDescription). */
static const char *const alert_names[256] = {
	[0] = "close_notify",
	[10] = "unexpected_message",
	[20] = "bad_record_mac",
	[21] = "decryption_failed",
	[22] = "record_overflow",
	[30] = "decompression_failure",
	[40] = "handshake_failure",
	[41] = "no_certificate",
	[42] = "bad_certificate",
	[43] = "unsupported_certificate",
	[44] = "certificate_revoked",
	[45] = "certificate_expired",
	[46] = "certificate_unknown",
	[47] = "illegal_parameter",
	[48] = "unknown_ca",
	[49] = "access_denied",
	[50] = "decode_error",
	[51] = "decrypt_error",
	[52] = "too_many_cids_requested",
	[60] = "export_restriction",
	[70] = "protocol_version",
	[71] = "insufficient_security",
	[80] = "internal_error",
	[86] = "inappropriate_fallback",
	[90] = "user_canceled",
	[100] = "no_renegotiation",
	[109] = "missing_extension",
	[110] = "unsupported_extension",
	[111] = "certificate_unobtainable",
	[112] = "unrecognized_name",
	[113] = "bad_certificate_status_response",
	[114] = "bad_certificate_hash_value",
	[115] = "unknown_psk_identity",
	[116] = "certificate_required",
	[117] = "general_error",
	[120] = "no_application_protocol",
	[121] = "ech_required",
};

/* IANA "TLS HandshakeType". */
static const char *const handshake_names[256] = {
	[0] = "hello_request",
	[1] = "client_hello",
	[2] = "server_hello",
	[3] = "hello_verify_request",
	[4] = "new_session_ticket",
	[5] = "end_of_early_data",
	[6] = "hello_retry_request",
	[8] = "encrypted_extensions",
	[9] = "request_connection_id",
	[10] = "new_connection_id",
	[11] = "certificate",
	[12] = "server_key_exchange",
	[13] = "certificate_request",
	[14] = "server_hello_done",
	[15] = "certificate_verify",
	[16] = "client_key_exchange",
	[17] = "client_certificate_request",
	[20] = "finished",
	[21] = "certificate_url",
	[22] = "certificate_status",
	[23] = "supplemental_data",
	[24] = "key_update",
	[25] = "compressed_certificate",
	[26] = "ekt_key",
	[254] = "message_hash",
};

const char *tls_cipher_name(uint16_t id)
{
	return name_find(cipher_names, sizeof(cipher_names) / sizeof(cipher_names[0]), id);
}

const char *tls_group_name(uint16_t id)
{
	return name_find(group_names, sizeof(group_names) / sizeof(group_names[0]), id);
}

const char *tls_alert_name(uint8_t desc)
{
	return alert_names[desc];
}

const char *tls_version_name(uint16_t version)
{
	switch (version) {
	case 0x0300:
		return "ssl3";
	case 0x0301:
		return "1.0";
	case 0x0302:
		return "1.1";
	case 0x0303:
		return "1.2";
	case 0x0304:
		return "1.3";
	default:
		return NULL;
	}
}

const char *tls_handshake_name(uint8_t type)
{
	return handshake_names[type];
}
