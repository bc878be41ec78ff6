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

_Static_assert((int)HS_EV__MAX <= (int)TL_EV_CLIENT_HELLO, "TCP and TLS event numbers overlap");

/* TLS events are numbered from TL_EV_CLIENT_HELLO on. */
#define TLS_SLOT(ev) [(ev) - TL_EV_CLIENT_HELLO]

static const char *const tls_event_names[TL_EV__MAX - TL_EV_CLIENT_HELLO] = {
	TLS_SLOT(TL_EV_CLIENT_HELLO) = "client_hello",
	TLS_SLOT(TL_EV_SERVER_HELLO) = "server_hello",
	TLS_SLOT(TL_EV_HELLO_RETRY_REQUEST) = "hello_retry_request",
	TLS_SLOT(TL_EV_CERTIFICATE) = "certificate",
	TLS_SLOT(TL_EV_SERVER_KEY_EXCHANGE) = "server_key_exchange",
	TLS_SLOT(TL_EV_CERTIFICATE_REQUEST) = "certificate_request",
	TLS_SLOT(TL_EV_SERVER_HELLO_DONE) = "server_hello_done",
	TLS_SLOT(TL_EV_CLIENT_KEY_EXCHANGE) = "client_key_exchange",
	TLS_SLOT(TL_EV_CERTIFICATE_VERIFY) = "certificate_verify",
	TLS_SLOT(TL_EV_CHANGE_CIPHER_SPEC) = "change_cipher_spec",
	TLS_SLOT(TL_EV_FINISHED) = "finished",
	TLS_SLOT(TL_EV_ENCRYPTED_HANDSHAKE) = "encrypted_handshake",
	TLS_SLOT(TL_EV_NEW_SESSION_TICKET) = "new_session_ticket",
	TLS_SLOT(TL_EV_ALERT) = "alert",
	TLS_SLOT(TL_EV_APP_DATA) = "app_data",
	TLS_SLOT(TL_EV_HANDSHAKE_START) = "handshake_start",
	TLS_SLOT(TL_EV_HANDSHAKE_DONE) = "handshake_done",
	TLS_SLOT(TL_EV_CERT_VERIFY_START) = "cert_verify_start",
	TLS_SLOT(TL_EV_CERT_VERIFY_DONE) = "cert_verify_done",
};

static const char *const result_names[RESULT__MAX] = {
	[RESULT_OK] = "ok",
	[RESULT_REFUSED] = "refused",
	[RESULT_TIMEOUT] = "timeout",
	[RESULT_RESET] = "reset",
	[RESULT_CLOSED] = "closed",
	[RESULT_INCOMPLETE] = "incomplete",
	[RESULT_TLS_ALERT] = "tls_alert",
	[RESULT_TLS_FAILED] = "tls_failed",
};

const char *tl_event_name(unsigned int event)
{
	if (event >= TL_EV_CLIENT_HELLO && event < TL_EV__MAX)
		return tls_event_names[event - TL_EV_CLIENT_HELLO];
	if (event >= HS_EV__MAX || !event_names[event])
		return "unknown";
	return event_names[event];
}

unsigned int tl_event_from_name(const char *name)
{
	unsigned int ev;

	for (ev = 1; name && ev < TL_EV__MAX; ev++)
		if ((ev < HS_EV__MAX || ev >= TL_EV_CLIENT_HELLO) && strcmp(tl_event_name(ev), "unknown") &&
		    !strcmp(tl_event_name(ev), name))
			return ev;
	return 0;
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

const struct tl_phase *tl_phase_find(const struct timeline *tl, const char *name)
{
	size_t i;

	if (!tl || !name)
		return NULL;
	for (i = 0; i < tl->n_phases && i < TL_MAX_PHASES; i++)
		if (tl->phases[i].name && strcmp(tl->phases[i].name, name) == 0)
			return &tl->phases[i];
	return NULL;
}

bool tl_phase_get(const struct timeline *tl, const char *name, uint64_t *dur_ns)
{
	const struct tl_phase *ph = tl_phase_find(tl, name);

	if (ph && dur_ns)
		*dur_ns = ph->dur_ns;
	return ph != NULL;
}

long tl_event_find(const struct timeline *tl, unsigned int event, uint8_t dir)
{
	size_t i;

	for (i = 0; tl && i < tl->n_events; i++)
		if (tl->events[i].event == event && (dir == DIR_NONE || tl->events[i].dir == dir))
			return (long)i;
	return -1;
}

uint64_t tl_event_time(const struct timeline *tl, long i, enum tl_at at)
{
	return at == TL_AT_APP ? tl->events[i].app_ns : tl->events[i].ts_ns;
}

/* Appends a phase; false when the table is full. */
static bool phase_push(struct timeline *tl, const struct tl_phase *ph)
{
	if (tl->n_phases >= TL_MAX_PHASES)
		return false;
	tl->phases[tl->n_phases++] = *ph;
	return true;
}

bool tl_phase_add(struct timeline *tl, const char *name, long from, enum tl_at from_at, long to,
		  enum tl_at to_at)
{
	struct tl_phase ph = { .name = name, .from_ev = (int32_t)from, .to_ev = (int32_t)to,
			       .from_at = from_at, .to_at = to_at };

	if (!tl || from < 0 || to < 0 || (size_t)from >= tl->n_events ||
	    (size_t)to >= tl->n_events)
		return false;
	ph.start_ns = tl_event_time(tl, from, from_at);
	ph.end_ns = tl_event_time(tl, to, to_at);
	if ((from_at == TL_AT_APP && !ph.start_ns) || (to_at == TL_AT_APP && !ph.end_ns) ||
	    ph.end_ns < ph.start_ns)
		return false;
	ph.dur_ns = ph.end_ns - ph.start_ns;
	return phase_push(tl, &ph);
}

bool tl_phase_add_estimate(struct timeline *tl, const char *name, uint64_t start_ns,
			   uint64_t end_ns)
{
	struct tl_phase ph = { .name = name, .start_ns = start_ns, .end_ns = end_ns,
			       .dur_ns = end_ns - start_ns, .from_ev = -1, .to_ev = -1,
			       .estimated = true };

	if (!tl || end_ns < start_ns)
		return false;
	return phase_push(tl, &ph);
}
