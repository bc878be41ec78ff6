// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fuzz_tls_parse.c - libFuzzer target for the hello and ServerKeyExchange parsers.
 *
 * Every input is parsed as a ClientHello body, as a ServerHello body and as a
 * ServerKeyExchange body. Besides the sanitizers' checks, the results must keep the promises
 * of tls_parse.h: counts within their arrays, names NUL-terminated printable ASCII, and a
 * known return value. A broken promise aborts, which libFuzzer reports as a crash.
 *
 *   make fuzz FUZZ_SECONDS=300
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls_parse.h"

static void check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (n == size)
		abort(); /* not terminated */
	while (n--)
		if (s[n] <= 0x20 || s[n] >= 0x7f)
			abort();
}

static void check_hello(int ret, const struct tls_hello *h, bool is_server)
{
	size_t i;

	if (ret != 0 && ret != -EINVAL)
		abort();
	if (h->is_server != is_server || h->session_id_len > sizeof(h->session_id))
		abort();
	if (h->n_alpn > TL_MAX_ALPN || h->n_versions > TL_MAX_VERSIONS ||
	    h->n_groups > TLS_MAX_GROUPS || h->n_ciphers > TLS_MAX_GROUPS)
		abort();
	if (is_server && (h->n_alpn > 1 || h->n_versions > 1 || h->n_groups > 1 || h->n_ciphers ||
			  h->sni[0]))
		abort();
	if (!is_server && (h->hrr || h->cipher))
		abort();
	check_text(h->sni, sizeof(h->sni));
	for (i = 0; i < h->n_alpn; i++) {
		check_text(h->alpn[i], sizeof(h->alpn[i]));
		if (!h->alpn[i][0])
			abort();
	}
	/* the name tables must answer for anything a hello can carry */
	for (i = 0; i < h->n_ciphers; i++)
		(void)tls_cipher_name(h->ciphers[i]);
	for (i = 0; i < h->n_groups; i++)
		(void)tls_group_name(h->groups[i]);
	for (i = 0; i < h->n_versions; i++)
		(void)tls_version_name(h->versions[i]);
	(void)tls_cipher_name(h->cipher);
	(void)tls_version_name(h->legacy_version);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_hello h;
	uint16_t group = 0;
	int ret;

	ret = tls_parse_hello(data, size, false, &h);
	check_hello(ret, &h, false);
	ret = tls_parse_hello(data, size, true, &h);
	check_hello(ret, &h, true);

	ret = tls_parse_ske_group(data, size, &group);
	if (ret == 0 && (size < 3 || data[0] != 3 || group != (data[1] << 8 | data[2])))
		abort();
	if (ret != 0 && ret != -EINVAL)
		abort();
	if (size) {
		(void)tls_alert_name(data[0]);
		(void)tls_handshake_name(data[0]);
	}
	return 0;
}
