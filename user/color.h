/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * color.h - ANSI colours for terminal views (--color=auto|always|never).
 */
#ifndef HSTRACE_COLOR_H
#define HSTRACE_COLOR_H

#include <stdbool.h>
#include <stdio.h>

enum color_mode {
	COLOR_AUTO = 0, /* when the output is a terminal, TERM is not "dumb" and NO_COLOR unset */
	COLOR_ALWAYS,
	COLOR_NEVER,
};

/* Parses "auto", "always" or "never". Returns 0 or -EINVAL. */
int color_mode_parse(const char *s, enum color_mode *mode);

/* Whether to colour what goes to out. */
bool color_enabled(enum color_mode mode, FILE *out);

#define COLOR_RESET "\033[0m"
#define COLOR_BOLD "\033[1m"
#define COLOR_DIM "\033[2m"
#define COLOR_RED "\033[31m"
#define COLOR_GREEN "\033[32m"
#define COLOR_YELLOW "\033[33m"
#define COLOR_BLUE "\033[34m"
#define COLOR_MAGENTA "\033[35m"
#define COLOR_CYAN "\033[36m"

#endif /* HSTRACE_COLOR_H */
