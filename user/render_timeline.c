// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * render_timeline.c - the --timeline view (waterfall), one block per finished connection:
 *
 *   curl[4242] client 127.0.0.1:51234 → 127.0.0.1:443 sni example.com TLS 1.2 ok
 *        T(ms)    +Δ(ms) DIR EVENT                  |bar ...|  PHASES
 *        0.000     0.000  →  syn_sent               |█      |  ┬ tcp_handshake 24.301 ms
 *       24.301    24.301  ←  established            | ████  |  ┴
 *
 * Phases are drawn in lanes (one column each, reused once a phase has ended): ┬ where a phase
 * starts, │ while it lasts, ┴ where it ends, • for a phase within one event (a read wait).
 * Nothing here knows a phase by name: each phase names its own start and end events
 * (struct tl_phase), so new phases need no code. Phases with no events of their own
 * (estimates) are listed under the waterfall.
 */
#include <stdlib.h>
#include <string.h>

#include "color.h"
#include "present.h"
#include "render.h"
#include "render_timeline.h"
#include "tls_parse.h"

bool timeline_failed(const struct timeline *tl)
{
	switch (tl->result) {
	case RESULT_REFUSED:
	case RESULT_TIMEOUT:
	case RESULT_RESET:
	case RESULT_TLS_ALERT:
	case RESULT_TLS_FAILED:
		return true;
	default:
		return false;
	}
}

bool timeline_slow_or_failed(const struct timeline *tl, uint64_t slow_ns)
{
	uint64_t dur;

	if (timeline_failed(tl))
		return true;
	return (tl_phase_get(tl, "total", &dur) && dur > slow_ns) ||
	       (tl_phase_get(tl, "tls_handshake", &dur) && dur > slow_ns);
}

static void header(FILE *out, const struct timeline *tl, bool color)
{
	char comm[32], lend[PRESENT_ENDPOINT_LEN], rend[PRESENT_ENDPOINT_LEN], sni[260], result[64];
	const char *ver;

	if (tl->pid && tl->comm[0]) {
		present_printable(tl->comm, sizeof(tl->comm), true, comm, sizeof(comm));
		fprintf(out, "%s%s[%u]%s", color ? COLOR_BOLD : "", comm, tl->pid,
			color ? COLOR_RESET : "");
	} else {
		fputs("?[-]", out);
	}
	present_endpoint(tl, true, lend, sizeof(lend));
	present_endpoint(tl, false, rend, sizeof(rend));
	fprintf(out, " %s %s \u2192 %s", tl->role == ROLE_CLIENT || tl->role == ROLE_SERVER
		? tl_role_name(tl->role) : "-", lend, rend);
	if (tl->tls.seen && tl->tls.sni[0]) {
		present_printable(tl->tls.sni, sizeof(tl->tls.sni), true, sni, sizeof(sni));
		fprintf(out, " sni %s", sni);
	}
	if (tl->tls.seen && tl->tls.version) {
		ver = tls_version_name(tl->tls.version);
		if (ver)
			fprintf(out, " TLS %s", ver);
		else
			fprintf(out, " TLS 0x%04x", tl->tls.version);
	}
	present_result(tl, result, sizeof(result));
	fprintf(out, " %s%s%s\n",
		!color ? "" : timeline_failed(tl) ? COLOR_RED COLOR_BOLD : COLOR_GREEN, result,
		color ? COLOR_RESET : "");
}

/* "certificate 4330B", "syn_received (derived)", "encrypted_handshake 1398B/4" */
static void event_text(const struct tl_event *ev, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s", tl_event_name(ev->event));

	if (ev->len && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - n, " %uB", ev->len);
	if (ev->records && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - n, "/%u", ev->records);
	if (ev->derived && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - n, " (derived)");
	if (ev->estimated && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - n, " (estimated)");
}

/* The APP column: when the application wrote or read a TLS event, relative to its wire time
 * ("+0.046": read 46 µs after it arrived); empty when unknown. */
static void app_text(const struct tl_event *ev, char *buf, size_t len)
{
	int64_t d = (int64_t)(ev->app_ns - ev->ts_ns) / 1000;
	char ms[32];

	if (!ev->app_ns) {
		snprintf(buf, len, "%s", "");
		return;
	}
	present_us_ms((uint64_t)(d < 0 ? -d : d), ms, sizeof(ms));
	snprintf(buf, len, "%c%s", d < 0 ? '-' : '+', ms);
}

struct span {
	size_t from, to, lane;
	bool found;
};

/* A phase's name and its duration in ms, with a note when it is measured at the application
 * ("app": between the application's reads and writes; "arrival→read": from an event's arrival
 * to the application's read) or estimated. */
static void phase_label(FILE *out, const struct tl_phase *ph)
{
	char d[32];

	present_us_ms(present_round_us(ph->dur_ns), d, sizeof(d));
	fprintf(out, "%s %s ms", ph->name, d);
	if (ph->estimated)
		fputs(" (estimated)", out);
	else if (ph->from_at == TL_AT_APP && ph->to_at == TL_AT_APP)
		fputs(" (app)", out);
	else if (ph->from_at != ph->to_at)
		fputs(" (arrival\u2192read)", out);
}

void render_timeline(FILE *out, const struct timeline *tl, const struct timeline_view *v)
{
	unsigned int width = v->bar_width ? v->bar_width : TIMELINE_BAR_WIDTH;
	size_t n_ph = tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES;
	struct span spans[TL_MAX_PHASES] = {};
	size_t lane_end[TL_MAX_PHASES], n_lanes = 0, i, p, l;
	uint64_t base, span_ns, prev_us = 0;
	bool color = v->color, any_unmatched = false;

	header(out, tl, color);
	if (!tl->n_events) {
		fputc('\n', out);
		return;
	}
	base = tl->events[0].ts_ns;
	span_ns = tl->events[tl->n_events - 1].ts_ns - base;

	/* lanes: a phase takes the first lane free after its start */
	for (p = 0; p < n_ph; p++) {
		struct span *s = &spans[p];

		const struct tl_phase *ph = &tl->phases[p];

		if (!ph->name || ph->from_ev < 0 || ph->to_ev < ph->from_ev ||
		    (size_t)ph->to_ev >= tl->n_events) {
			any_unmatched = any_unmatched || ph->name;
			continue;
		}
		s->from = (size_t)ph->from_ev;
		s->to = (size_t)ph->to_ev;
		s->found = true;
		for (l = 0; l < n_lanes && lane_end[l] >= s->from; l++)
			;
		if (l == n_lanes)
			n_lanes++;
		lane_end[l] = s->to;
		s->lane = l;
	}

	/* "+Δ(ms)" is 7 bytes for 6 columns: one more byte of width */
	fprintf(out, "%s%10s %10s %-3s %-36s %9s %-*s %s%s\n", color ? COLOR_DIM : "", "T(ms)",
		"+\u0394(ms)", "DIR", "EVENT", "APP(ms)", (int)width + 2, "", "PHASES",
		color ? COLOR_RESET : "");
	for (i = 0; i < tl->n_events; i++) {
		const struct tl_event *ev = &tl->events[i];
		uint64_t t_us = (ev->ts_ns - base) / 1000, t_ns = ev->ts_ns - base;
		uint64_t prev_ns = i ? tl->events[i - 1].ts_ns - base : 0;
		unsigned int c, c0, c1;
		char t[32], d[32], name[64], app[48];
		const char *arrow = ev->dir == DIR_OUT  ? "\u2192"
				    : ev->dir == DIR_IN ? "\u2190"
							: " ";
		const char *dcol = !color ? "" : ev->dir == DIR_OUT ? COLOR_CYAN
					     : ev->dir == DIR_IN ? COLOR_YELLOW : "";
		bool first_label = true;

		present_us_ms(t_us, t, sizeof(t));
		present_us_ms(t_us - prev_us, d, sizeof(d));
		prev_us = t_us;
		event_text(ev, name, sizeof(name));
		app_text(ev, app, sizeof(app));
		fprintf(out, "%10s %9s  %s%s%s  %-36.36s %9s |", t, d, dcol, arrow,
			color && *dcol ? COLOR_RESET : "", name, app);

		/* bar: from the previous event to this one, at least one column */
		c0 = span_ns ? (unsigned int)(prev_ns * width / span_ns) : 0;
		c1 = span_ns ? (unsigned int)(t_ns * width / span_ns) : 0;
		if (c1 <= c0)
			c1 = c0 + 1;
		if (c1 > width) {
			c1 = width;
			c0 = c1 - 1 < c0 ? c1 - 1 : c0;
		}
		if (color)
			fputs(dcol[0] ? dcol : COLOR_MAGENTA, out);
		for (c = 0; c < width; c++)
			fputs(c >= c0 && c < c1 ? "\u2588" : " ", out);
		if (color)
			fputs(COLOR_RESET, out);
		fputs("| ", out);

		for (l = 0; l < n_lanes; l++) {
			const char *mark = " ";

			for (p = 0; p < n_ph; p++) {
				if (!spans[p].found || spans[p].lane != l || i < spans[p].from ||
				    i > spans[p].to)
					continue;
				mark = spans[p].from == spans[p].to ? "\u2022"
				       : i == spans[p].from	    ? "\u252c"
				       : i == spans[p].to	    ? "\u2534"
								    : "\u2502";
				if (i == spans[p].from || i == spans[p].to)
					break;
			}
			fputs(mark, out);
		}
		for (p = 0; p < n_ph; p++) {
			if (!spans[p].found || spans[p].from != i)
				continue;
			fputs(first_label ? " " : ", ", out);
			phase_label(out, &tl->phases[p]);
			first_label = false;
		}
		fputc('\n', out);
	}
	if (any_unmatched) {
		bool first = true;

		fputs("  other phases:", out);
		for (p = 0; p < n_ph; p++) {
			if (spans[p].found || !tl->phases[p].name)
				continue;
			fputs(first ? " " : ", ", out);
			phase_label(out, &tl->phases[p]);
			first = false;
		}
		fputc('\n', out);
	}
	fputc('\n', out);
}
