/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * timeline.h - one connection's rebuilt timeline, as handed by the collector to renderers.
 *
 * Renderers only read a struct timeline; they never see BPF records. Times are CLOCK_MONOTONIC
 * nanoseconds (as produced by BPF); `start_wall_ns` gives the wall-clock (UTC) time of the
 * first event.
 */
#ifndef HSTRACE_TIMELINE_H
#define HSTRACE_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum conn_role {
	ROLE_UNKNOWN = 0,
	ROLE_CLIENT,
	ROLE_SERVER,
};

/* Final verdict on a connection, in order of precedence. */
enum conn_result {
	RESULT_OK = 0,	   /* completed its handshake and carried data, or is closing normally */
	RESULT_REFUSED,	   /* client: RST answered the SYN */
	RESULT_TIMEOUT,	   /* client: SYN never answered (see syn_retransmits) */
	RESULT_RESET,	   /* RST after establishment, either direction */
	RESULT_CLOSED,	   /* closed before any payload byte in either direction */
	RESULT_INCOMPLETE, /* still open when hstrace stopped (or evicted) */
	RESULT__MAX,
};

/* Direction of an event from this end's point of view. */
enum tl_dir {
	DIR_NONE = 0,
	DIR_OUT,
	DIR_IN,
};

/* One event of a timeline. `event` is an enum hs_tcp_event (bpf/hstrace.h). */
struct tl_event {
	uint64_t ts_ns;	 /* CLOCK_MONOTONIC */
	uint16_t event;	 /* enum hs_tcp_event */
	uint8_t dir;	 /* enum tl_dir */
	bool derived;	 /* timestamp computed, not observed (server syn_received) */
	uint32_t len;	 /* bytes, 0 when not meaningful */
};

#define TL_MAX_PHASES 16

/* A named span between two events. Names are static strings ("tcp_handshake", ...). */
struct tl_phase {
	const char *name;
	uint64_t dur_ns;
};

struct timeline {
	uint64_t cookie;     /* socket cookie: connection identity */
	enum conn_role role;
	enum conn_result result;

	/* Owner: the connect() caller (client) or accept() caller (server); pid 0 = unknown. */
	uint32_t pid;
	uint32_t tid;
	int32_t fd; /* -1 when unknown */
	char comm[16];

	int ip_version;	    /* 4 or 6; IPv4 on a dual-stack (v4-mapped) socket is 4 */
	uint8_t laddr[16];  /* IPv4 in the first 4 bytes, network order */
	uint8_t raddr[16];
	uint16_t lport;
	uint16_t rport;

	uint64_t start_ns;	/* monotonic time of the first event */
	int64_t start_wall_ns;	/* wall-clock (UTC, ns since the epoch) of the first event */

	struct tl_event *events; /* sorted by ts_ns, then by event order */
	size_t n_events;

	struct tl_phase phases[TL_MAX_PHASES];
	size_t n_phases;

	uint32_t syn_retransmits; /* client SYN retransmissions */
	int32_t sk_err;		  /* socket error at close (errno value), 0 if none */
	uint64_t bytes_sent;	  /* payload bytes sent, retransmits included */
	uint64_t bytes_received;  /* payload bytes received */
	uint32_t srtt_us;	  /* last smoothed RTT seen */
};

/* Returns the static name of an event ("syn_sent", ...), or "unknown". */
const char *tl_event_name(unsigned int event);

/* Returns the static name of a result ("ok", "refused", ...), or "unknown". */
const char *tl_result_name(enum conn_result result);

/* Returns "client", "server" or "unknown". */
const char *tl_role_name(enum conn_role role);

/* Returns the phase's duration in *dur_ns and true when the timeline has phase `name`. */
bool tl_phase_get(const struct timeline *tl, const char *name, uint64_t *dur_ns);

#endif /* HSTRACE_TIMELINE_H */
