/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * render_timeline.h - the --timeline view: each finished connection as a waterfall.
 */
#ifndef HSTRACE_RENDER_TIMELINE_H
#define HSTRACE_RENDER_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "timeline.h"

#define TIMELINE_BAR_WIDTH 40

struct timeline_view {
	bool color;		/* ANSI colours */
	unsigned int bar_width; /* columns of the proportional bar (0: TIMELINE_BAR_WIDTH) */
};

/* Writes the header and one line per event: time since the first event, delta from the
 * previous one, direction, event, a bar placed in proportion to the connection's span, and the
 * phases spanning the events (a phase's start and end events are those whose time difference
 * is its duration; one that matches no pair is listed below the events). */
void render_timeline(FILE *out, const struct timeline *tl, const struct timeline_view *v);

/* true for results that mean the connection failed: refused, timeout, reset, tls_alert,
 * tls_failed. */
bool timeline_failed(const struct timeline *tl);

/* The --slow MS rule: true when tl failed, or its `total` or `tls_handshake` phase is longer
 * than slow_ns. */
bool timeline_slow_or_failed(const struct timeline *tl, uint64_t slow_ns);

#endif /* HSTRACE_RENDER_TIMELINE_H */
