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
	RESULT_TLS_ALERT,  /* a fatal TLS alert was seen */
	RESULT_TLS_FAILED, /* TLS handshake started, never completed, and no alert seen */
	RESULT__MAX,
};

/* Direction of an event from this end's point of view. */
enum tl_dir {
	DIR_NONE = 0,
	DIR_OUT,
	DIR_IN,
};

/*
 * Timeline event numbers. TCP events keep their enum hs_tcp_event numbers (1..10, see
 * bpf/hstrace.h); TLS events are numbered from 32 on. Names: tl_event_name().
 */
enum tl_tls_event {
	TL_EV_CLIENT_HELLO = 32,
	TL_EV_SERVER_HELLO,
	TL_EV_HELLO_RETRY_REQUEST,
	TL_EV_CERTIFICATE,
	TL_EV_SERVER_KEY_EXCHANGE,
	TL_EV_CERTIFICATE_REQUEST,
	TL_EV_SERVER_HELLO_DONE,
	TL_EV_CLIENT_KEY_EXCHANGE,
	TL_EV_CERTIFICATE_VERIFY,
	TL_EV_CHANGE_CIPHER_SPEC,
	TL_EV_FINISHED,		 /* TLS <= 1.2 "Encrypted Handshake Message" */
	TL_EV_ENCRYPTED_HANDSHAKE, /* TLS 1.3: one encrypted handshake flight (records, len) */
	TL_EV_NEW_SESSION_TICKET,
	TL_EV_ALERT,
	TL_EV_APP_DATA,		 /* the first application-data record in this direction */
	TL_EV_HANDSHAKE_START,	 /* OpenSSL: first entry into SSL_do_handshake() */
	TL_EV_HANDSHAKE_DONE,	 /* OpenSSL: SSL_do_handshake() returned 1 */
	TL_EV_CERT_VERIFY_START, /* OpenSSL: X509_verify_cert() entered for the peer's chain */
	TL_EV_CERT_VERIFY_DONE,	 /* OpenSSL: ... and returned */
	TL_EV__MAX,
};

/* Which layers contributed to a timeline (struct timeline.sources). */
enum tl_source {
	TL_SRC_KERNEL_TCP = 1 << 0,
	TL_SRC_KERNEL_TLS = 1 << 1,
	TL_SRC_OPENSSL = 1 << 2,
};

/* What the TLS library's own API calls said (uprobes). */
struct tl_tls_api {
	bool seen;
	uint32_t calls;	    /* SSL_do_handshake() calls (non-blocking retries included) */
	uint64_t inside_ns; /* time spent inside them */
	int32_t result;	    /* return value of the last call (1: handshake complete) */
};

/* One event of a timeline. */
struct tl_event {
	uint64_t ts_ns;	 /* CLOCK_MONOTONIC; TLS events: when the packet that carried it passed
			  * this host's TCP stack (sent, or arrived) */
	uint64_t app_ns; /* TLS events: when the application wrote (out) or read (in) it; 0 when
			  * unknown */
	uint16_t event;	 /* enum hs_tcp_event or enum tl_tls_event */
	uint8_t dir;	 /* enum tl_dir */
	bool derived;	 /* timestamp computed, not observed (server syn_received) */
	uint32_t len;	 /* bytes (record / message body; flight total), 0 when not meaningful */
	uint32_t records; /* TLS records in it (encrypted_handshake flights), 0 when not counted */
	bool estimated;	 /* kind inferred, not seen (TLS 1.3 ticket vs. data, see docs) */
};

#define TL_MAX_PHASES 16
#define TL_MAX_ALPN 8
#define TL_MAX_VERSIONS 8
#define TL_ALPN_LEN 32

/* What the plaintext part of the TLS handshake said. Fields are 0/"" when not seen. */
struct tl_tls {
	bool seen;		/* at least one TLS record on this connection */
	uint16_t version;	/* negotiated: 0x0303 = 1.2, 0x0304 = 1.3 (supported_versions) */
	uint16_t offered_versions[TL_MAX_VERSIONS]; /* client's supported_versions (or its
						     * legacy_version alone) */
	size_t n_offered_versions;
	char sni[256];		/* server_name from the ClientHello */
	char alpn_offered[TL_MAX_ALPN][TL_ALPN_LEN];
	size_t n_alpn_offered;
	char alpn_selected[TL_ALPN_LEN]; /* from the ServerHello (TLS <= 1.2 only: 1.3
					  * encrypts it) */
	bool has_cipher;
	uint16_t cipher;	/* IANA cipher suite number */
	bool has_group;
	uint16_t group;		/* key-exchange group (1.3 key_share, 1.2 ServerKeyExchange) */
	int resumed;		/* -1 unknown, 0 full handshake, 1 resumed */
	bool has_certs;
	uint32_t cert_count;	/* plaintext Certificate message (TLS <= 1.2) */
	uint32_t cert_bytes;
	bool has_alert;		/* a fatal (or first) alert */
	uint8_t alert_level;	/* 1 warning, 2 fatal; 0 when encrypted */
	uint8_t alert_desc;	/* IANA alert description; valid when alert_level != 0 */
	uint8_t alert_dir;	/* enum tl_dir */
	bool handshake_done;	/* application data flowed after the handshake */
	uint64_t app_bytes[3];	/* application-data record bytes by enum tl_dir (OUT, IN) */
	uint32_t app_records[3];
	bool desync;		/* framing lost somewhere: later records not seen */
	bool ttfb_estimated;	/* TLS 1.3 client: tickets and data told apart by a rule */
	uint8_t verify;		/* peer certificate verification: 0 not seen, 1 ok, 2 failed */
	char library[64];	/* TLS library seen by uprobes, e.g. "OpenSSL 3.0.19" */
	char library_file[256]; /* ... and the file it was probed in */
};

/* Which time of an event a phase starts or ends at. */
enum tl_at {
	TL_AT_WIRE = 0, /* ts_ns: when its bytes passed this host's TCP stack */
	TL_AT_APP,	/* app_ns: when the application wrote or read it */
};

/*
 * A named span of a timeline ("tcp_handshake", ...; names are static strings), built by
 * tl_phase_add() from two of its events: it starts at event from_ev (its time at from_at) and
 * ends at event to_ev (at to_at). An estimated phase (peer_think) has no events of its own:
 * from_ev = to_ev = -1 and its start and end are placed by the rule that computes it.
 */
struct tl_phase {
	const char *name;
	uint64_t start_ns; /* CLOCK_MONOTONIC, like the events */
	uint64_t end_ns;
	uint64_t dur_ns;   /* end_ns - start_ns */
	int32_t from_ev;   /* index in timeline.events, -1 when none */
	int32_t to_ev;
	uint8_t from_at;   /* enum tl_at */
	uint8_t to_at;
	bool estimated;	   /* computed by a rule, not between two observed times */
};

struct timeline {
	uint64_t cookie;     /* socket cookie: connection identity on this host */
	uint64_t conn_id;    /* the same on both ends of the connection, on any host (conn_id.h);
			      * 0 when unknown (its ESTABLISHED was not seen) */
	enum conn_role role;
	enum conn_result result;

	/* Owner: the connect() caller (client) or accept() caller (server; without an accept()
	 * seen, the first process that sent or received on it); pid 0 = unknown. */
	uint32_t pid;
	uint32_t tid;
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
	bool close_lost;	  /* its CLOSED record was lost (ring buffer full): the close
				   * time is known, its last counters and error are not */

	struct tl_tls tls;
	struct tl_tls_api tls_api;
	uint32_t sources; /* enum tl_source bits */
};

/* Returns the static name of an event ("syn_sent", ...), or "unknown". */
const char *tl_event_name(unsigned int event);

/* Returns the event number whose name is `name` (the inverse of tl_event_name()), or 0. */
unsigned int tl_event_from_name(const char *name);

/* Returns the static name of a result ("ok", "refused", ...), or "unknown". */
const char *tl_result_name(enum conn_result result);

/* Returns "client", "server" or "unknown". */
const char *tl_role_name(enum conn_role role);

/* Returns the phase's duration in *dur_ns and true when the timeline has phase `name`. */
bool tl_phase_get(const struct timeline *tl, const char *name, uint64_t *dur_ns);

/* Returns the first phase called `name`, or NULL. */
const struct tl_phase *tl_phase_find(const struct timeline *tl, const char *name);

/* Returns the index of the first event `event` in direction dir (DIR_NONE: any), or -1. */
long tl_event_find(const struct timeline *tl, unsigned int event, uint8_t dir);

/* Returns event i's time at `at` (0 when unknown: no app_ns). i must be a valid index. */
uint64_t tl_event_time(const struct timeline *tl, long i, enum tl_at at);

/*
 * The one way phases are made (the TCP, TLS and OpenSSL layers all call it): adds phase
 * `name` from event index `from` (its time at from_at) to event `to` (at to_at). Adds nothing
 * and returns false when an index is negative or out of range, a time is unknown, the end is
 * before the start, or the phase table is full; returns true when added.
 */
bool tl_phase_add(struct timeline *tl, const char *name, long from, enum tl_at from_at, long to,
		  enum tl_at to_at);

/* Adds phase `name` computed by a rule (estimated, no events of its own) spanning
 * [start_ns, end_ns]. Returns false when end_ns < start_ns or the table is full. */
bool tl_phase_add_estimate(struct timeline *tl, const char *name, uint64_t start_ns,
			   uint64_t end_ns);

#endif /* HSTRACE_TIMELINE_H */
