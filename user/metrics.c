// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * metrics.c - hstrace's metric families on the registry of metrics_registry.c: which families
 * exist, and how a connection end and hstrace's counters update them (see metrics.h and
 * docs/metrics.md); the --metrics [ADDR:]PORT argument.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"
#include "tls_parse.h"
#include "report.h"

/* ---- hstrace's families ---- */

#define MAX_PHASE_FAMILIES 32

struct phase_family {
	const char *phase; /* the timeline's static name, or a copy for extra ones */
	bool own_name;
	struct metrics_family *f;
};

/* hstrace's state next to the registry (metrics_ext()). */
struct hstrace_families {
	struct metrics *m;
	enum metrics_by by;
	struct metrics_cap *cap;
	struct metrics_family *conns, *alerts, *lost, *unmatched, *dropped, *malformed;
	struct metrics_family *otlp_exported, *otlp_dropped;
	struct metrics_family *cpu, *rss;
	struct phase_family phases[MAX_PHASE_FAMILIES];
	size_t n_phases;
};

/* 1-2-5 per decade from 10 µs to 30 s, in nanoseconds. */
static const uint64_t duration_bounds_ns[] = {
	10000ULL,	20000ULL,	50000ULL,	100000ULL,	200000ULL,	500000ULL,
	1000000ULL,	2000000ULL,	5000000ULL,	10000000ULL,	20000000ULL,	50000000ULL,
	100000000ULL,	200000000ULL,	500000000ULL,	1000000000ULL,	2000000000ULL,
	5000000000ULL,	10000000000ULL, 20000000000ULL, 30000000000ULL,
};

#define N_BOUNDS (sizeof(duration_bounds_ns) / sizeof(duration_bounds_ns[0]))

const char *const metrics_phase_names[] = {
	"tcp_handshake", "accept_wait", "idle_before_hello", "server_hello_rtt", "server_think",
	"tls_handshake", "ttfb", "response_time", "cert_verify", "total", "hello_read_wait",
	"app_think", "peer_think", NULL,
};

/* HELP texts of the documented phases (docs/json.md has the exact events). */
static const char *const phase_help[] = {
	"TCP three-way handshake as seen from this end (client: syn_sent to established; "
	"server: syn_received to established), in seconds.",
	"Server: time an established connection waited in the listen queue before accept(), in "
	"seconds.",
	"Client: time from established to the ClientHello sent, in seconds.",
	"Client: ClientHello sent to ServerHello received (one round trip plus the server's "
	"answer), in seconds.",
	"Server: ClientHello received to ServerHello sent, in seconds.",
	"The whole TLS handshake as seen from this end (ClientHello to the last handshake "
	"message), in seconds.",
	"Client: first application data sent to first application data received, in seconds.",
	"Server: first application data received to first application data sent, in seconds.",
	"Time the TLS library spent verifying the peer's certificate chain (OpenSSL uprobes), "
	"in seconds.",
	"First event (SYN sent or received) to the first application data received, in seconds.",
	"Server: time the ClientHello waited in this host's socket before the application read "
	"it, in seconds.",
	"This host's application's own work in the TLS handshake, between its calls, in seconds.",
	"Client: estimate of the server's share of server_hello_rtt (server_hello_rtt minus "
	"tcp_handshake), in seconds.",
};

_Static_assert(sizeof(phase_help) / sizeof(phase_help[0]) ==
		       sizeof(metrics_phase_names) / sizeof(metrics_phase_names[0]) - 1,
	       "one HELP text per documented phase");

static const char *const by_names[] = {
	[METRICS_BY_SNI] = "sni",
	[METRICS_BY_COMM] = "comm",
	[METRICS_BY_PORT] = "port",
};

static const char *const by_labels[] = {
	[METRICS_BY_SNI] = "server_name",
	[METRICS_BY_COMM] = "comm",
	[METRICS_BY_PORT] = "port",
};

int metrics_by_parse(const char *s, enum metrics_by *by)
{
	unsigned int i;

	for (i = METRICS_BY_SNI; i <= METRICS_BY_PORT; i++)
		if (s && !strcmp(s, by_names[i])) {
			*by = i;
			return 0;
		}
	return -EINVAL;
}

const char *metrics_by_label(enum metrics_by by)
{
	if (by < METRICS_BY_SNI || by > METRICS_BY_PORT)
		return NULL;
	return by_labels[by];
}

const char *metrics_tls_version(uint16_t version)
{
	const char *name = tls_version_name(version);

	if (!version)
		return "";
	return name && version >= 0x0301 ? name : "other";
}

/* Adds the histogram family of phase `phase` (its HELP text, or a generic one). */
static int phase_family_add(struct hstrace_families *h, const char *phase, const char *help,
			    bool copy_name)
{
	const char *labels[3] = { "role", "tls_version", metrics_by_label(h->by) };
	char name[128], generic[192];
	struct phase_family *pf;

	if (h->n_phases >= MAX_PHASE_FAMILIES)
		return -ENOSPC;
	if (snprintf(name, sizeof(name), "hstrace_%s_duration_seconds", phase) >= (int)sizeof(name))
		return -EINVAL;
	if (!help) {
		snprintf(generic, sizeof(generic), "Duration of the timeline phase %s (docs/json.md), "
			 "in seconds.", phase);
		help = generic;
	}
	pf = &h->phases[h->n_phases];
	pf->f = metrics_family_add_locked(h->m, name, help, METRICS_HISTOGRAM, labels,
					  h->by ? 3 : 2, duration_bounds_ns, N_BOUNDS, 1e9);
	if (!pf->f)
		return -errno;
	pf->phase = phase;
	pf->own_name = copy_name;
	if (copy_name) {
		pf->phase = strdup(phase);
		if (!pf->phase)
			return -ENOMEM; /* the family stays, unused: harmless */
	}
	h->n_phases++;
	return 0;
}

/* Frees what metrics_new() keeps next to the registry; metrics_free() calls it. */
static void hstrace_families_free(void *ext)
{
	struct hstrace_families *h = ext;
	size_t i;

	for (i = 0; i < h->n_phases; i++)
		if (h->phases[i].own_name)
			free((char *)h->phases[i].phase);
	metrics_cap_free(h->cap);
	free(h);
}

struct metrics *metrics_new(const struct metrics_opts *opts)
{
	const char *conn_labels[3] = { "role", "result", NULL };
	const char *alert_labels[2] = { "description", "sender" };
	const char *version_label[1] = { "version" };
	const char *values[3];
	struct metrics_family *info;
	struct hstrace_families *h;
	struct metrics *m;
	size_t i;
	int r, role;

	m = metrics_registry_new();
	if (!m)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto fail;
	metrics_ext_set(m, h, hstrace_families_free);
	h->m = m;
	h->by = opts->by;
	conn_labels[2] = metrics_by_label(h->by);
	if (h->by) {
		h->cap = metrics_cap_new(opts->max_values ? opts->max_values
							  : METRICS_DEFAULT_MAX_VALUES);
		if (!h->cap)
			goto fail;
	}
	metrics_lock(m);
	h->conns = metrics_family_add_locked(m, "hstrace_connections_total",
					     "Connection ends hstrace showed (the same as its "
					     "output), by role and result.", METRICS_COUNTER,
					     conn_labels, h->by ? 3 : 2, NULL, 0, 0);
	for (i = 0; h->conns && metrics_phase_names[i]; i++)
		if (phase_family_add(h, metrics_phase_names[i], phase_help[i], false))
			break;
	h->alerts = metrics_family_add_locked(m, "hstrace_tls_alerts_total",
					      "TLS alerts of the connection ends shown "
					      "(tls.alert), by IANA description and the role of "
					      "the end that sent it.",
					      METRICS_COUNTER, alert_labels, 2, NULL, 0, 0);
	h->lost = metrics_family_add_locked(m, "hstrace_records_lost_total",
					    "Records lost because the BPF ring buffer was full.",
					    METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	h->unmatched = metrics_family_add_locked(m, "hstrace_records_unmatched_total",
						 "Records that matched no connection hstrace saw "
						 "start.",
						 METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	h->dropped = metrics_family_add_locked(m, "hstrace_records_dropped_total",
					       "Records the collector could not apply (out of "
					       "memory, or too many events on one connection).",
					       METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	h->malformed = metrics_family_add_locked(m, "hstrace_records_malformed_total",
						 "Records too short or of an unknown kind.",
						 METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	h->otlp_exported = metrics_family_add_locked(m, "hstrace_otlp_exported_total",
						     "Connection ends delivered to the OTLP "
						     "receiver (--otlp).",
						     METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	h->otlp_dropped = metrics_family_add_locked(m, "hstrace_otlp_dropped_total",
						    "Connection ends not exported over OTLP: queue "
						    "full, refused by the receiver, or unsent at "
						    "exit.",
						    METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	info = metrics_family_add_locked(m, "hstrace_build_info", "hstrace's version; always 1.",
					 METRICS_GAUGE, version_label, 1, NULL, 0, 0);
	h->cpu = metrics_family_add_locked(m, "hstrace_process_cpu_seconds_total",
					   "CPU time hstrace used, user and system, in seconds.",
					   METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	h->rss = metrics_family_add_locked(m, "hstrace_process_resident_memory_bytes",
					   "hstrace's resident memory, in bytes.", METRICS_GAUGE,
					   NULL, 0, NULL, 0, 0);
	r = !h->conns || h->n_phases < sizeof(phase_help) / sizeof(phase_help[0]) || !h->alerts ||
	    !h->lost || !h->unmatched || !h->dropped || !h->malformed || !info || !h->cpu ||
	    !h->rss || !h->otlp_exported || !h->otlp_dropped;
	/* visible from the start: the record counters and build info, and without a `by` label
	 * a zero series per role and result (so a rate sees the first connection) */
	values[0] = opts->version ? opts->version : "";
	r = r || metrics_value_set_locked(info, values, 1) ||
	    metrics_series_touch_locked(h->lost, NULL) ||
	    metrics_series_touch_locked(h->unmatched, NULL) ||
	    metrics_series_touch_locked(h->dropped, NULL) ||
	    metrics_series_touch_locked(h->malformed, NULL) ||
	    metrics_series_touch_locked(h->cpu, NULL) ||
	    metrics_series_touch_locked(h->rss, NULL) ||
	    metrics_series_touch_locked(h->otlp_exported, NULL) ||
	    metrics_series_touch_locked(h->otlp_dropped, NULL);
	for (role = ROLE_CLIENT; !r && !h->by && role <= ROLE_SERVER; role++)
		for (i = 0; !r && i < RESULT__MAX; i++) {
			values[0] = tl_role_name(role);
			values[1] = tl_result_name(i);
			r = metrics_series_touch_locked(h->conns, values) != 0;
		}
	metrics_unlock(m);
	if (r)
		goto fail;
	return m;
fail:
	metrics_free(m);
	errno = ENOMEM;
	return NULL;
}

/* The phase family of name: found (by pointer, then by text), or added for a name not seen
 * before. NULL when the cap is reached, the name is not usable, or out of memory. */
static struct metrics_family *phase_family(struct hstrace_families *h, const char *name,
					   int *err)
{
	size_t i;

	for (i = 0; i < h->n_phases; i++)
		if (h->phases[i].phase == name)
			return h->phases[i].f;
	for (i = 0; i < h->n_phases; i++)
		if (!strcmp(h->phases[i].phase, name))
			return h->phases[i].f;
	if (!metrics_name_ok(name, false))
		return NULL;
	*err = phase_family_add(h, name, NULL, true);
	if (*err == -ENOSPC || *err == -EINVAL)
		*err = 0; /* a phase beyond the cap is left out, not an error */
	return *err ? NULL : h->phases[h->n_phases - 1].f;
}

const char *metrics_by_value(enum metrics_by by, struct metrics_cap *cap,
			     const struct timeline *tl, char *buf, size_t len)
{
	const char *v = "", *capped;

	switch (by) {
	case METRICS_BY_SNI:
		if (tl->tls.seen && tl->tls.sni[0]) {
			snprintf(buf, len, "%.*s", (int)sizeof(tl->tls.sni), tl->tls.sni);
			v = buf;
		}
		break;
	case METRICS_BY_COMM:
		if (tl->pid && tl->comm[0]) {
			snprintf(buf, len, "%.*s", (int)sizeof(tl->comm), tl->comm);
			v = buf;
		}
		break;
	case METRICS_BY_PORT:
		snprintf(buf, len, "%u", tl->role == ROLE_SERVER ? tl->lport : tl->rport);
		v = buf;
		break;
	default:
		return NULL;
	}
	if (!*v)
		return ""; /* unknown: never capped */
	capped = metrics_cap_get(cap, v);
	return capped ? capped : "other";
}

int metrics_observe_timeline(struct metrics *m, const struct timeline *tl)
{
	struct hstrace_families *h = metrics_ext(m);
	const char *values[3];
	char by_buf[sizeof(tl->tls.sni) + 1], alert_buf[16];
	const char *role = tl_role_name(tl->role), *by;
	struct metrics_family *f;
	size_t i;
	int err = 0, e;

	metrics_lock(m);
	by = metrics_by_value(h->by, h->cap, tl, by_buf, sizeof(by_buf));
	values[0] = role;
	values[1] = tl_result_name(tl->result);
	values[2] = by;
	err = metrics_counter_add_locked(h->conns, values, 1);

	values[1] = metrics_tls_version(tl->tls.seen ? tl->tls.version : 0);
	for (i = 0; i < tl->n_phases && i < TL_MAX_PHASES; i++) {
		if (!tl->phases[i].name)
			continue;
		e = 0;
		f = phase_family(h, tl->phases[i].name, &e);
		if (f)
			e = metrics_histogram_observe_locked(f, values, tl->phases[i].dur_ns);
		err = err ?: e;
	}

	if (tl->tls.seen && tl->tls.has_alert) {
		values[0] = report_alert_text(tl->tls.alert_level, tl->tls.alert_desc, alert_buf,
					      sizeof(alert_buf));
		/* sent by this end (out), or by its peer: the other role */
		if (tl->tls.alert_dir == DIR_OUT)
			values[1] = role;
		else if (tl->tls.alert_dir == DIR_IN && tl->role != ROLE_UNKNOWN)
			values[1] = tl_role_name(tl->role == ROLE_CLIENT ? ROLE_SERVER : ROLE_CLIENT);
		else
			values[1] = "unknown";
		err = err ?: metrics_counter_add_locked(h->alerts, values, 1);
	}
	metrics_unlock(m);
	return err;
}

int metrics_set_records(struct metrics *m, uint64_t lost, uint64_t unmatched, uint64_t dropped,
			uint64_t malformed)
{
	struct hstrace_families *h = metrics_ext(m);
	int err;

	metrics_lock(m);
	err = metrics_value_set_locked(h->lost, NULL, (double)lost);
	err = err ?: metrics_value_set_locked(h->unmatched, NULL, (double)unmatched);
	err = err ?: metrics_value_set_locked(h->dropped, NULL, (double)dropped);
	err = err ?: metrics_value_set_locked(h->malformed, NULL, (double)malformed);
	metrics_unlock(m);
	return err;
}

int metrics_set_otlp(struct metrics *m, uint64_t exported, uint64_t dropped)
{
	struct hstrace_families *h = metrics_ext(m);
	int err;

	metrics_lock(m);
	err = metrics_value_set_locked(h->otlp_exported, NULL, (double)exported);
	err = err ?: metrics_value_set_locked(h->otlp_dropped, NULL, (double)dropped);
	metrics_unlock(m);
	return err;
}

int metrics_set_process(struct metrics *m, double cpu_seconds, double rss_bytes)
{
	struct hstrace_families *h = metrics_ext(m);
	int err;

	metrics_lock(m);
	err = metrics_value_set_locked(h->cpu, NULL, cpu_seconds);
	err = err ?: metrics_value_set_locked(h->rss, NULL, rss_bytes);
	metrics_unlock(m);
	return err;
}

/* ---- --metrics [ADDR:]PORT ---- */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	const char *p;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int metrics_listen_parse(const char *s, struct metrics_listen *out)
{
	struct metrics_listen l = {};
	const char *colon, *end;
	size_t alen;

	if (!s)
		return -EINVAL;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		alen = (size_t)(end - s - 1);
		if (!alen || alen >= sizeof(l.addr_text))
			return -EINVAL;
		memcpy(l.addr_text, s + 1, alen);
		l.family = AF_INET6;
		if (inet_pton(AF_INET6, l.addr_text, l.addr) != 1 || parse_port(end + 2, &l.port))
			return -EINVAL;
	} else if ((colon = strchr(s, ':'))) {
		alen = (size_t)(colon - s);
		if (!alen || alen >= sizeof(l.addr_text) || strchr(colon + 1, ':'))
			return -EINVAL; /* IPv6 needs brackets */
		memcpy(l.addr_text, s, alen);
		l.family = AF_INET;
		if (inet_pton(AF_INET, l.addr_text, l.addr) != 1 || parse_port(colon + 1, &l.port))
			return -EINVAL;
	} else {
		if (parse_port(s, &l.port))
			return -EINVAL;
		strcpy(l.addr_text, "127.0.0.1");
		l.family = AF_INET;
		inet_pton(AF_INET, l.addr_text, l.addr);
	}
	*out = l;
	return 0;
}
