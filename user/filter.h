/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * filter.h - which finished connections the user asked to see (--all, -p, --comm, --port,
 * -4/-6).
 *
 * Applied to finished timelines in user space, because a server connection's owner is known
 * only once accept() returns it, and whether a connection carried TLS only once its bytes were
 * seen.
 */
#ifndef HSTRACE_FILTER_H
#define HSTRACE_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "timeline.h"

struct conn_filter {
	bool all;	  /* false: only connections that carried TLS, and failed connects */
	uint32_t pid;	  /* 0: any */
	char comm[16];	  /* "": any; else exact match of the owner's comm */
	uint16_t port;	  /* 0: any; else local or remote port */
	int ip_version;	  /* 0: any; 4 or 6 */
};

/* Returns true when tl passes every filter set in f. Unless f->all is set, tl must also have
 * carried TLS (tl->tls.seen) or be a client connect that failed (result refused or timeout,
 * on any port); with f->all every TCP connection passes this step. The other filters apply
 * the same way in both cases. A NULL f matches every connection. */
bool conn_filter_match(const struct conn_filter *f, const struct timeline *tl);

#endif /* HSTRACE_FILTER_H */
