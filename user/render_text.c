// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * render_text.c - one line per finished connection, libbpf-tools style columns:
 *
 *   TIME PID COMM ROLE LADDR:LPORT RADDR:RPORT SNI VER TCP(ms) ACCEPT(ms) TLS(ms) TTFB(ms)
 *   RETX RESULT
 *
 * TIME is the local wall-clock time of the connection's first event. SNI is the server name
 * from the ClientHello (cut to SNI_WIDTH columns, "..." marking the cut) and VER the negotiated
 * TLS version. TCP(ms), ACCEPT(ms) and TLS(ms) are the tcp_handshake, accept_wait and
 * tls_handshake phases; TTFB(ms) is the ttfb phase for a client and response_time for a server.
 * Any of them is "-" when the connection has none. RESULT is last; a TLS failure with an alert
 * adds its description ("tls_alert:bad_certificate"). Widths fit IPv4 endpoints; a longer IPv6
 * endpoint pushes the rest of its line to the right.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "render.h"
#include "tls_parse.h"

/* "255.255.255.255:65535" and "[ffff:...:ffff]:65535" */
#define ENDPOINT_LEN (INET6_ADDRSTRLEN + 8)

static void format_ipv4(const uint8_t *a, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
}

char *render_addr(const struct timeline *tl, bool local, char *buf, size_t len)
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

/* "addr:port", with the address in brackets when it is IPv6 text. */
static void format_endpoint(const struct timeline *tl, bool local, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	unsigned int port = local ? tl->lport : tl->rport;

	render_addr(tl, local, addr, sizeof(addr));
	if (strchr(addr, ':'))
		snprintf(buf, len, "[%s]:%u", addr, port);
	else
		snprintf(buf, len, "%s:%u", addr, port);
}

/* Local wall-clock HH:MM:SS of a UTC ns-since-epoch time. */
static void format_clock(int64_t wall_ns, char *buf, size_t len)
{
	time_t secs = wall_ns / 1000000000;
	struct tm tm;

	if (wall_ns < 0 && wall_ns % 1000000000)
		secs--;
	if (!localtime_r(&secs, &tm) || !strftime(buf, len, "%H:%M:%S", &tm))
		snprintf(buf, len, "--:--:--");
}

/* A phase's duration in ms with 3 decimals (rounded to the nearest µs), or "-" if absent. */
static void format_phase_ms(const struct timeline *tl, const char *phase, char *buf, size_t len)
{
	uint64_t dur_ns, us;

	if (!tl_phase_get(tl, phase, &dur_ns)) {
		snprintf(buf, len, "-");
		return;
	}
	us = dur_ns / 1000 + (dur_ns % 1000 >= 500);
	snprintf(buf, len, "%llu.%03llu", (unsigned long long)(us / 1000),
		 (unsigned long long)(us % 1000));
}

/* Copies the owner's comm, "?" when unknown; control characters become '?' so a comm can't
 * break the line. */
static void format_comm(const struct timeline *tl, char *buf, size_t len)
{
	size_t i, n = strnlen(tl->comm, sizeof(tl->comm));

	if (!tl->pid || !n) {
		snprintf(buf, len, "?");
		return;
	}
	if (n >= len)
		n = len - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = tl->comm[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[n] = '\0';
}

#define SNI_WIDTH 24

/* The SNI, "-" when none. A name longer than SNI_WIDTH keeps its first SNI_WIDTH - 3 bytes
 * and ends in "..."; bytes other than printable ASCII (and spaces) become '?' so a hostile name
 * can't break the line or its columns. buf holds SNI_WIDTH + 1 bytes. */
static void format_sni(const struct timeline *tl, char buf[SNI_WIDTH + 1])
{
	size_t i, keep, n = strnlen(tl->tls.sni, sizeof(tl->tls.sni));

	if (!tl->tls.seen || !n) {
		snprintf(buf, SNI_WIDTH + 1, "-");
		return;
	}
	keep = n > SNI_WIDTH ? SNI_WIDTH - 3 : n;
	for (i = 0; i < keep; i++) {
		unsigned char c = tl->tls.sni[i];

		buf[i] = (c <= 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (n > SNI_WIDTH)
		memcpy(buf + keep, "...", 3);
	buf[n > SNI_WIDTH ? SNI_WIDTH : keep] = '\0';
}

/* Negotiated TLS version ("1.3"), "-" when none, "?" when this build has no name for it. */
static const char *version_text(const struct timeline *tl)
{
	const char *name;

	if (!tl->tls.seen || !tl->tls.version)
		return "-";
	name = tls_version_name(tl->tls.version);
	return name ? name : "?";
}

/* The result name; a TLS failure that saw an alert adds ":" and its description, "encrypted"
 * when the alert could not be read, its number when this build has no name for it. */
static void format_result(const struct timeline *tl, char *buf, size_t len)
{
	const struct tl_tls *t = &tl->tls;
	const char *name = tl_result_name(tl->result), *desc;

	if (!name) /* never NULL by contract; be safe */
		name = "unknown";
	if ((tl->result != RESULT_TLS_ALERT && tl->result != RESULT_TLS_FAILED) || !t->has_alert) {
		snprintf(buf, len, "%s", name);
		return;
	}
	if (!t->alert_level) {
		snprintf(buf, len, "%s:encrypted", name);
		return;
	}
	desc = tls_alert_name(t->alert_desc);
	if (desc)
		snprintf(buf, len, "%s:%s", name, desc);
	else
		snprintf(buf, len, "%s:%u", name, t->alert_desc);
}

#define LINE_FMT "%-8s %-7s %-16s %-6s %-21s %-21s %-24s %-4s %9s %10s %9s %9s %4s %s\n"

void render_text_header(FILE *out)
{
	fprintf(out, LINE_FMT, "TIME", "PID", "COMM", "ROLE", "LADDR:LPORT", "RADDR:RPORT", "SNI",
		"VER", "TCP(ms)", "ACCEPT(ms)", "TLS(ms)", "TTFB(ms)", "RETX", "RESULT");
}

void render_text_line(FILE *out, const struct timeline *tl)
{
	char clock[16], pid[16], comm[sizeof(tl->comm) + 1], lend[ENDPOINT_LEN],
		rend[ENDPOINT_LEN], sni[SNI_WIDTH + 1], tcp_ms[32], accept_ms[32], tls_ms[32],
		ttfb_ms[32], retx[16], result[64];
	const char *role;

	format_clock(tl->start_wall_ns, clock, sizeof(clock));
	if (tl->pid)
		snprintf(pid, sizeof(pid), "%u", tl->pid);
	else
		snprintf(pid, sizeof(pid), "-");
	format_comm(tl, comm, sizeof(comm));
	role = tl->role == ROLE_CLIENT || tl->role == ROLE_SERVER ? tl_role_name(tl->role) : "-";
	format_endpoint(tl, true, lend, sizeof(lend));
	format_endpoint(tl, false, rend, sizeof(rend));
	format_sni(tl, sni);
	format_phase_ms(tl, "tcp_handshake", tcp_ms, sizeof(tcp_ms));
	format_phase_ms(tl, "accept_wait", accept_ms, sizeof(accept_ms));
	format_phase_ms(tl, "tls_handshake", tls_ms, sizeof(tls_ms));
	format_phase_ms(tl, tl->role == ROLE_SERVER ? "response_time" : "ttfb", ttfb_ms,
			sizeof(ttfb_ms));
	snprintf(retx, sizeof(retx), "%u", tl->syn_retransmits);
	format_result(tl, result, sizeof(result));

	fprintf(out, LINE_FMT, clock, pid, comm, role, lend, rend, sni, version_text(tl), tcp_ms,
		accept_ms, tls_ms, ttfb_ms, retx, result);
}
