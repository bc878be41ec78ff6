/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * filter.h - which finished connections the user asked to see (-p, --comm, --port, -4/-6).
 *
 * Applied to finished timelines in user space, because a server connection's owner is known
 * only once accept() returns it.
 */
#ifndef HSTRACE_FILTER_H
#define HSTRACE_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "timeline.h"

struct conn_filter {
	uint32_t pid;	  /* 0: any */
	char comm[16];	  /* "": any; else exact match of the owner's comm */
	uint16_t port;	  /* 0: any; else local or remote port */
	int ip_version;	  /* 0: any; 4 or 6 */
};

/* Returns true when tl passes every filter set in f. */
bool conn_filter_match(const struct conn_filter *f, const struct timeline *tl);

#endif /* HSTRACE_FILTER_H */
