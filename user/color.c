// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * color.c - when to colour: --color=auto colours only a terminal (and honours NO_COLOR and
 * TERM=dumb, as most command-line tools do).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "color.h"

int color_mode_parse(const char *s, enum color_mode *mode)
{
	if (!strcmp(s, "auto"))
		*mode = COLOR_AUTO;
	else if (!strcmp(s, "always"))
		*mode = COLOR_ALWAYS;
	else if (!strcmp(s, "never"))
		*mode = COLOR_NEVER;
	else
		return -EINVAL;
	return 0;
}

bool color_enabled(enum color_mode mode, FILE *out)
{
	const char *term, *no_color;

	if (mode != COLOR_AUTO)
		return mode == COLOR_ALWAYS;
	no_color = getenv("NO_COLOR");
	term = getenv("TERM");
	if ((no_color && *no_color) || (term && !strcmp(term, "dumb")))
		return false;
	return isatty(fileno(out)) == 1;
}
