// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * timeline.c - names of timeline events, results and roles, and phase lookup.
 *
 * Every name returned here is JSON-visible: never rename one.
 */
#include <string.h>

#include <linux/types.h>

#include "hstrace.h"
#include "timeline.h"

static const char *const event_names[HS_EV__MAX] = {
	[HS_EV_SYN_SENT] = "syn_sent",
	[HS_EV_SYN_RETRANSMIT] = "syn_retransmit",
	[HS_EV_SYN_RECV] = "syn_received",
	[HS_EV_ESTABLISHED] = "established",
	[HS_EV_ACCEPTED] = "accepted",
	[HS_EV_FIN_OUT] = "fin_out",
	[HS_EV_FIN_IN] = "fin_in",
	[HS_EV_RESET_IN] = "reset_in",
	[HS_EV_RESET_OUT] = "reset_out",
	[HS_EV_CLOSED] = "closed",
};

static const char *const result_names[RESULT__MAX] = {
	[RESULT_OK] = "ok",
	[RESULT_REFUSED] = "refused",
	[RESULT_TIMEOUT] = "timeout",
	[RESULT_RESET] = "reset",
	[RESULT_CLOSED] = "closed",
	[RESULT_INCOMPLETE] = "incomplete",
};

const char *tl_event_name(unsigned int event)
{
	if (event >= HS_EV__MAX || !event_names[event])
		return "unknown";
	return event_names[event];
}

const char *tl_result_name(enum conn_result result)
{
	if ((unsigned int)result >= RESULT__MAX)
		return "unknown";
	return result_names[result];
}

const char *tl_role_name(enum conn_role role)
{
	switch (role) {
	case ROLE_CLIENT:
		return "client";
	case ROLE_SERVER:
		return "server";
	default:
		return "unknown";
	}
}

bool tl_phase_get(const struct timeline *tl, const char *name, uint64_t *dur_ns)
{
	size_t i;

	if (!tl || !name)
		return false;
	for (i = 0; i < tl->n_phases && i < TL_MAX_PHASES; i++) {
		if (tl->phases[i].name && strcmp(tl->phases[i].name, name) == 0) {
			if (dur_ns)
				*dur_ns = tl->phases[i].dur_ns;
			return true;
		}
	}
	return false;
}
