// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * render_text.c - one line per finished connection, libbpf-tools style columns:
 *
 *   TIME PID COMM ROLE LADDR:LPORT RADDR:RPORT TCP(ms) ACCEPT(ms) RETX RESULT
 *
 * TIME is the local wall-clock time of the connection's first event; TCP(ms) and ACCEPT(ms)
 * are the tcp_handshake and accept_wait phases, "-" when the connection has none. Widths fit
 * IPv4 endpoints; a longer IPv6 endpoint pushes the rest of its line to the right.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "render.h"

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

#define LINE_FMT "%-8s %-7s %-16s %-6s %-21s %-21s %9s %10s %4s %s\n"

void render_text_header(FILE *out)
{
	fprintf(out, LINE_FMT, "TIME", "PID", "COMM", "ROLE", "LADDR:LPORT", "RADDR:RPORT",
		"TCP(ms)", "ACCEPT(ms)", "RETX", "RESULT");
}

void render_text_line(FILE *out, const struct timeline *tl)
{
	char clock[16], pid[16], comm[sizeof(tl->comm) + 1], lend[ENDPOINT_LEN],
		rend[ENDPOINT_LEN], tcp_ms[32], accept_ms[32], retx[16];
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
	format_phase_ms(tl, "tcp_handshake", tcp_ms, sizeof(tcp_ms));
	format_phase_ms(tl, "accept_wait", accept_ms, sizeof(accept_ms));
	snprintf(retx, sizeof(retx), "%u", tl->syn_retransmits);

	fprintf(out, LINE_FMT, clock, pid, comm, role, lend, rend, tcp_ms, accept_ms, retx,
		tl_result_name(tl->result));
}
