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
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "present.h"
#include "render.h"
#include "tls_parse.h"

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
	uint64_t dur_ns;

	if (!tl_phase_get(tl, phase, &dur_ns))
		snprintf(buf, len, "-");
	else
		present_us_ms(present_round_us(dur_ns), buf, len);
}

/* The owner's comm, "?" when unknown; control characters become '?' so a comm can't break
 * the line. */
static void format_comm(const struct timeline *tl, char *buf, size_t len)
{
	if (!tl->pid || !tl->comm[0])
		snprintf(buf, len, "?");
	else
		present_printable(tl->comm, sizeof(tl->comm), false, buf, len);
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
	const char *name = present_tls_version(tl);

	if (!tl->tls.seen || !tl->tls.version)
		return "-";
	return name ? name : "?";
}

#define LINE_FMT "%-8s %-7s %-16s %-6s %-21s %-21s %-24s %-4s %9s %10s %9s %9s %4s %s\n"

void render_text_header(FILE *out)
{
	fprintf(out, LINE_FMT, "TIME", "PID", "COMM", "ROLE", "LADDR:LPORT", "RADDR:RPORT", "SNI",
		"VER", "TCP(ms)", "ACCEPT(ms)", "TLS(ms)", "TTFB(ms)", "RETX", "RESULT");
}

void render_text_line(FILE *out, const struct timeline *tl)
{
	char clock[16], pid[16], comm[sizeof(tl->comm) + 1], lend[PRESENT_ENDPOINT_LEN],
		rend[PRESENT_ENDPOINT_LEN], sni[SNI_WIDTH + 1], tcp_ms[32], accept_ms[32], tls_ms[32],
		ttfb_ms[32], retx[16], result[64];
	const char *role;

	format_clock(tl->start_wall_ns, clock, sizeof(clock));
	if (tl->pid)
		snprintf(pid, sizeof(pid), "%u", tl->pid);
	else
		snprintf(pid, sizeof(pid), "-");
	format_comm(tl, comm, sizeof(comm));
	role = tl->role == ROLE_CLIENT || tl->role == ROLE_SERVER ? tl_role_name(tl->role) : "-";
	present_endpoint(tl, true, lend, sizeof(lend));
	present_endpoint(tl, false, rend, sizeof(rend));
	format_sni(tl, sni);
	format_phase_ms(tl, "tcp_handshake", tcp_ms, sizeof(tcp_ms));
	format_phase_ms(tl, "accept_wait", accept_ms, sizeof(accept_ms));
	format_phase_ms(tl, "tls_handshake", tls_ms, sizeof(tls_ms));
	format_phase_ms(tl, tl->role == ROLE_SERVER ? "response_time" : "ttfb", ttfb_ms,
			sizeof(ttfb_ms));
	snprintf(retx, sizeof(retx), "%u", tl->syn_retransmits);
	present_result(tl, result, sizeof(result));

	fprintf(out, LINE_FMT, clock, pid, comm, role, lend, rend, sni, version_text(tl), tcp_ms,
		accept_ms, tls_ms, ttfb_ms, retx, result);
}
