// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * filter.c - which finished connections the user asked to see.
 */
#include <string.h>

#include "filter.h"

/* Shown by default: TLS connections, and connects that failed before any byte could flow. */
static bool is_default_interest(const struct timeline *tl)
{
	return tl->tls.seen || tl->result == RESULT_REFUSED || tl->result == RESULT_TIMEOUT;
}

/* A NULL filter matches everything. A connection whose owner is unknown (pid 0) never matches
 * a pid or comm filter. */
bool conn_filter_match(const struct conn_filter *f, const struct timeline *tl)
{
	if (!f)
		return true;
	if (!f->all && !is_default_interest(tl))
		return false;
	if (f->pid && (!tl->pid || tl->pid != f->pid))
		return false;
	if (f->comm[0] && (!tl->pid || strncmp(tl->comm, f->comm, sizeof(f->comm)) != 0))
		return false;
	if (f->port && tl->lport != f->port && tl->rport != f->port)
		return false;
	if (f->ip_version && tl->ip_version != f->ip_version)
		return false;
	return true;
}
