// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * present.c - shared text forms of a timeline's values (see present.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "present.h"
#include "tls_parse.h"

/* "%u.%u.%u.%u", cut to len - 1 bytes as snprintf() would (len > 0); libc's inet_ntop()
 * formats without printf (every renderer formats two addresses a connection). */
static void format_ipv4(const uint8_t *a, char *buf, size_t len)
{
	char text[INET_ADDRSTRLEN];
	size_t n;

	if (!inet_ntop(AF_INET, a, text, sizeof(text)))
		text[0] = '\0';
	n = strlen(text);
	if (n >= len)
		n = len - 1;
	memcpy(buf, text, n);
	buf[n] = '\0';
}

char *present_addr(const struct timeline *tl, bool local, char *buf, size_t len)
{
	const uint8_t *a = local ? tl->laddr : tl->raddr;
	struct in6_addr in6;

	if (!len)
		return buf;
	if (tl->ip_version == 4) {
		format_ipv4(a, buf, len);
		return buf;
	}
	if (tl->ip_version != 6) {
		snprintf(buf, len, "?");
		return buf;
	}
	memcpy(&in6, a, sizeof(in6));
	/* The collector already folds v4-mapped sockets into ip_version 4; stay safe if not. */
	if (IN6_IS_ADDR_V4MAPPED(&in6)) {
		format_ipv4(a + 12, buf, len);
		return buf;
	}
	if (!inet_ntop(AF_INET6, &in6, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

char *present_endpoint(const struct timeline *tl, bool local, char *buf, size_t len)
{
	char addr[PRESENT_ADDR_LEN];
	unsigned int port = local ? tl->lport : tl->rport;

	present_addr(tl, local, addr, sizeof(addr));
	snprintf(buf, len, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
	return buf;
}

char *present_printable(const char *s, size_t max, bool ascii, char *buf, size_t len)
{
	size_t i, n = strnlen(s, max);

	if (n >= len)
		n = len - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		buf[i] = (c < 0x20 || c == 0x7f || (ascii && c >= 0x80)) ? '?' : (char)c;
	}
	buf[n] = '\0';
	return buf;
}

size_t present_utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

char *present_us_ms(uint64_t us, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%03llu", (unsigned long long)(us / 1000),
		 (unsigned long long)(us % 1000));
	return buf;
}

char *present_result(const struct timeline *tl, char *buf, size_t len)
{
	const struct tl_tls *t = &tl->tls;
	const char *name = tl_result_name(tl->result), *desc;

	if ((tl->result != RESULT_TLS_ALERT && tl->result != RESULT_TLS_FAILED) || !t->has_alert) {
		snprintf(buf, len, "%s", name);
		return buf;
	}
	if (!t->alert_level) {
		snprintf(buf, len, "%s:encrypted", name);
		return buf;
	}
	desc = tls_alert_name(t->alert_desc);
	if (desc)
		snprintf(buf, len, "%s:%s", name, desc);
	else
		snprintf(buf, len, "%s:%u", name, t->alert_desc);
	return buf;
}

const char *present_tls_version(const struct timeline *tl)
{
	if (!tl->tls.seen || !tl->tls.version)
		return NULL;
	return tls_version_name(tl->tls.version);
}
