/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * render.h - output formats for finished timelines. Renderers only read struct timeline.
 */
#ifndef HSTRACE_RENDER_H
#define HSTRACE_RENDER_H

#include <stdbool.h>
#include <stdio.h>

#include "timeline.h"

/* Writes the column header of the one-line-per-connection view. */
void render_text_header(FILE *out);

/* Writes one line for a finished connection (libbpf-tools style columns). */
void render_text_line(FILE *out, const struct timeline *tl);

/* Writes one NDJSON object (schema "hstrace/2", see docs/json.md) and a newline.
 * Returns 0, or -ENOMEM / -EIO. */
int render_json_line(FILE *out, const struct timeline *tl);

#endif /* HSTRACE_RENDER_H */
