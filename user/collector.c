// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * collector.c - rebuilds one timeline per connection from the BPF record stream.
 *
 * Connections live in a table keyed by socket cookie (cookie_table.c) and on a doubly linked
 * list in creation order, whose head is the one evicted at max_conns. Closed connections
 * waiting out their grace period are also on a second list in the order their CLOSED record
 * arrived, so collector_flush() never walks open ones.
 *
 * TCP events are kept per connection in arrival order, each with a sequence number; emission
 * copies them into the collector's scratch timeline and sorts them by (ts_ns, sequence), which
 * keeps arrival order for equal timestamps. Emission never allocates, so it cannot fail.
 *
 * This file handles TCP and the record dispatch. TLS records go to collector_tls.c, which logs
 * what it needs per connection and turns it into events when the connection is finalised; the
 * scratch arrays always keep room for those (conn_tls_max_events()).
 *
 * The emit callback must not call back into the collector.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/types.h>

#include "hstrace.h"
#include "collector.h"
#include "conn_id.h"
#include "collector_ssl.h"
#include "collector_tls.h"
#include "cookie_table.h"

#include <utlist.h>

#define DEFAULT_GRACE_NS (50ULL * 1000 * 1000)
#define DEFAULT_MAX_CONNS 262144
/* The closed list is in arrival order, and records arrive in time order to well within this:
 * a flush stops at the first connection closed this much after its cut-off. */
#define FLUSH_SCAN_SLACK_NS (1000ULL * 1000 * 1000)
#define CONN_INLINE_EVENTS 3  /* an open connection's TCP events until FIN (server: 3) */
#define CONN_MAX_TCP_EVENTS 4096 /* beyond, records of the connection are dropped (counted) */

_Static_assert(HS_COMM_LEN == sizeof(((struct timeline *)0)->comm), "comm length");
_Static_assert(HS_ADDR_LEN == sizeof(((struct timeline *)0)->laddr), "address length");

/* One TCP event as kept while its connection is open: 16 bytes. */
struct conn_ev {
	uint64_t ts_ns;
	uint32_t seq;	/* arrival order: collector sequence - conn->seq_base (saturated) */
	uint8_t event;	/* enum hs_tcp_event */
};

/*
 * One connection end while it is open. Kept small: a busy host holds hundreds of thousands
 * (docs/benchmarks.md, "hstrace memory"); the struct timeline handed to renderers is built
 * only at emission, in the collector's one scratch timeline. TLS and library state are
 * allocated only for connections that have them.
 */
struct conn {
	uint64_t cookie;		 /* key of collector.table */
	uint64_t seq_base;		 /* collector sequence number when it was created */
	struct conn *prev, *next;	 /* collector.conns, in creation order */
	struct conn *closed_prev;	 /* collector.closed while closed */
	struct conn *closed_next;
	struct conn_ev *ev;		 /* TCP events in arrival order: inline_ev or heap */
	struct conn_ev inline_ev[CONN_INLINE_EVENTS];
	struct conn_tls *tls;		 /* TLS state, from the first TLS record on */
	struct conn_ssl *ssl;		 /* TLS library calls, from the first uprobe record on */
	uint64_t bytes_sent;		 /* largest counters seen */
	uint64_t bytes_received;
	uint8_t saddr[HS_ADDR_LEN];	 /* latest non-zero raw addresses, as in the records */
	uint8_t daddr[HS_ADDR_LEN];
	char comm[HS_COMM_LEN];		 /* owner, when have_owner */
	uint32_t pid;
	uint32_t tid;
	uint32_t isn_client;		 /* initial sequence numbers, when have_isn (conn_id.h) */
	uint32_t isn_server;
	uint32_t srtt_us;		 /* latest by record time: a late record does not override */
	uint32_t est_srtt_us;		 /* srtt of the earliest ESTABLISHED: SYN-ACK RTT (server) */
	uint32_t est_syn_us;		 /* server: its SYN came this long before the earliest
					  * ESTABLISHED, plus 1 (0 unknown); µs, so a SYN-ACK
					  * retransmitted for minutes fits */
	int16_t sk_err;			 /* of the first CLOSED record (an errno value) */
	uint16_t lport;
	uint16_t rport;
	uint16_t n_ev;			 /* room: conn_ev_cap() */
	uint8_t family;			 /* latest known AF_INET / AF_INET6, 0 unknown */
	uint8_t syn_retransmits;	 /* saturates (the kernel's limit is 127) */
	uint8_t role : 2;		 /* enum conn_role */
	uint8_t have_owner : 1;
	uint8_t have_isn : 1;		 /* an ESTABLISHED record gave isn_client/isn_server */
	uint8_t close_lost : 1;		 /* closed by collector_lost_close(): record lost */
	uint8_t closed : 1;		 /* a CLOSED record was seen */
};

_Static_assert(sizeof(struct conn) <= 232, "struct conn: keep it in a 240-byte malloc chunk");

/* Events conn->ev has room for: the inline array, else the heap array, which always holds
 * the power of two at or above n_ev (at least 8). */
static size_t conn_ev_cap(const struct conn *conn)
{
	size_t cap = 8;

	if (conn->ev == conn->inline_ev)
		return CONN_INLINE_EVENTS;
	while (cap < conn->n_ev)
		cap *= 2;
	return cap;
}

struct collector {
	collector_emit_fn emit;
	void *ctx;
	void (*lib_describe)(void *lib_ctx, uint32_t lib_id, struct tl_tls *tls);
	void *lib_ctx;
	int64_t mono_to_wall_ns;
	uint64_t grace_ns;
	size_t max_conns;

	struct cookie_table table; /* cookie -> struct conn */
	struct conn *last;	   /* the connection the last lookup found, or NULL: records come
				    * in runs for one connection (a packet's TLS records, ...) */
	struct conn *conns;	   /* utlist DL of every connection, oldest-created first */
	struct conn *closed;	   /* utlist DL of closed connections, in CLOSED arrival order */
	uint64_t seq;		   /* next event sequence number */
	struct collector_stats stats;

	/* Lost-close notes that found no connection yet (collector_lost_close()), tried again by
	 * collector_retry_lost_closes(); allocated on first use. */
	struct lost_close {
		uint64_t cookie, ts_ns;
		unsigned int tries;
	} *pending;
	size_t n_pending;

	/* Emission builds the timeline here; the arrays always have room for every event the
	 * connection with the most can produce (conn_reserve()), so emission cannot fail. */
	struct timeline out;
	struct tl_event *ev_buf;
	uint64_t *seq_buf;
	size_t buf_cap;

	struct conn_tls_spares tls_spares; /* TLS states of emitted connections, for reuse */
};

struct collector *collector_new(const struct collector_opts *opts)
{
	struct collector *c;

	if (!opts || !opts->emit) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->emit = opts->emit;
	c->ctx = opts->ctx;
	c->lib_describe = opts->lib_describe;
	c->lib_ctx = opts->lib_ctx;
	c->mono_to_wall_ns = opts->mono_to_wall_ns;
	c->grace_ns = opts->grace_ns ? opts->grace_ns : DEFAULT_GRACE_NS;
	c->max_conns = opts->max_conns ? opts->max_conns : DEFAULT_MAX_CONNS;
	cookie_table_init(&c->table, offsetof(struct conn, cookie));
	return c;
}

/* Frees conn; its TLS state goes to the collector's spares (c NULL: freed too). */
static void conn_free(struct collector *c, struct conn *conn)
{
	if (!conn)
		return;
	conn_tls_free(c ? &c->tls_spares : NULL, conn->tls);
	conn_ssl_free(conn->ssl);
	if (conn->ev != conn->inline_ev)
		free(conn->ev);
	free(conn);
}

static bool addr_is_zero(const uint8_t *a, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (a[i])
			return false;
	}
	return true;
}

static bool addr_is_v4mapped(const uint8_t *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* Copies the IPv4 address a v4-mapped IPv6 address carries into the first 4 bytes of dst. */
static void addr_from_mapped(uint8_t *dst, const uint8_t *src)
{
	memset(dst, 0, HS_ADDR_LEN);
	if (addr_is_v4mapped(src))
		memcpy(dst, src + 12, 4);
}

/* Fills ip_version, laddr and raddr of tl from the connection's raw addresses. */
static void tl_set_addrs(struct timeline *tl, const struct conn *conn)
{
	bool mapped;

	memset(tl->laddr, 0, sizeof(tl->laddr));
	memset(tl->raddr, 0, sizeof(tl->raddr));
	switch (conn->family) {
	case AF_INET:
		tl->ip_version = 4;
		memcpy(tl->laddr, conn->saddr, 4);
		memcpy(tl->raddr, conn->daddr, 4);
		break;
	case AF_INET6:
		if (!addr_is_zero(conn->daddr, HS_ADDR_LEN))
			mapped = addr_is_v4mapped(conn->daddr);
		else
			mapped = addr_is_v4mapped(conn->saddr);
		if (mapped) {
			tl->ip_version = 4;
			addr_from_mapped(tl->laddr, conn->saddr);
			addr_from_mapped(tl->raddr, conn->daddr);
		} else {
			tl->ip_version = 6;
			memcpy(tl->laddr, conn->saddr, HS_ADDR_LEN);
			memcpy(tl->raddr, conn->daddr, HS_ADDR_LEN);
		}
		break;
	default:
		tl->ip_version = 0;
		break;
	}
}

/* Takes the addresses and ports of rec when they are known (non-zero). */
static void conn_take_addrs(struct conn *conn, const struct hs_tcp_rec *rec)
{
	size_t len;

	if (rec->sport)
		conn->lport = rec->sport;
	if (rec->dport)
		conn->rport = rec->dport;
	if (rec->family == AF_INET)
		len = 4;
	else if (rec->family == AF_INET6)
		len = HS_ADDR_LEN;
	else
		return;
	conn->family = (uint8_t)rec->family;
	if (!addr_is_zero(rec->saddr, len)) {
		memset(conn->saddr, 0, sizeof(conn->saddr));
		memcpy(conn->saddr, rec->saddr, len);
	}
	if (!addr_is_zero(rec->daddr, len)) {
		memset(conn->daddr, 0, sizeof(conn->daddr));
		memcpy(conn->daddr, rec->daddr, len);
	}
}

static void conn_set_owner(struct conn *conn, const struct hs_tcp_rec *rec)
{
	conn->pid = rec->pid;
	conn->tid = rec->tid;
	memcpy(conn->comm, rec->comm, sizeof(conn->comm));
	conn->comm[sizeof(conn->comm) - 1] = '\0';
	conn->have_owner = true;
}

/*
 * The first owner record names the owner; the accept() caller always wins (it may be another
 * process than the one that owned the listener, or than the one whose socket call came first
 * in the ring buffer).
 */
static void conn_take_owner(struct conn *conn, const struct hs_tcp_rec *rec)
{
	if (!(rec->flags & HS_F_OWNER))
		return;
	if (!conn->have_owner || rec->event == HS_EV_ACCEPTED)
		conn_set_owner(conn, rec);
}

static enum tl_dir event_dir(unsigned int event)
{
	switch (event) {
	case HS_EV_SYN_SENT:
	case HS_EV_SYN_RETRANSMIT:
	case HS_EV_FIN_OUT:
	case HS_EV_RESET_OUT:
		return DIR_OUT;
	case HS_EV_SYN_RECV:
	case HS_EV_ESTABLISHED:
	case HS_EV_FIN_IN:
	case HS_EV_RESET_IN:
		return DIR_IN;
	default:
		return DIR_NONE;
	}
}

/* The first (by arrival) TCP event of this type, or NULL. */
static const struct conn_ev *conn_find_ev(const struct conn *conn, unsigned int event)
{
	size_t i;

	for (i = 0; i < conn->n_ev; i++) {
		if (conn->ev[i].event == event)
			return &conn->ev[i];
	}
	return NULL;
}

/* The packet of the first event of this type left at ts_ns (struct hs_sent_rec: the SYN or
 * FIN passed the egress program): the event takes that time, when later, and no later than an
 * event it must precede (any other event, for syn_sent; closed, for fin_out): a time past
 * those is not one the kernel can give, and is ignored. */
static void conn_event_sent(struct conn *conn, unsigned int event, uint64_t ts_ns)
{
	struct conn_ev *ev = NULL;
	size_t i;

	for (i = 0; i < conn->n_ev; i++) {
		const struct conn_ev *e = &conn->ev[i];

		if (e->event == event && !ev) {
			ev = &conn->ev[i];
			continue;
		}
		if ((event == HS_EV_SYN_SENT || e->event == HS_EV_CLOSED) && e->ts_ns < ts_ns)
			return;
	}
	if (ev && ev->ts_ns < ts_ns)
		ev->ts_ns = ts_ns;
}

/* Sets *ts to the earliest timestamp of the TCP events of this type; false when none. */
static bool conn_earliest_ev(const struct conn *conn, unsigned int event, uint64_t *ts)
{
	bool found = false;
	size_t i;

	for (i = 0; i < conn->n_ev; i++) {
		if (conn->ev[i].event == event && (!found || conn->ev[i].ts_ns < *ts)) {
			*ts = conn->ev[i].ts_ns;
			found = true;
		}
	}
	return found;
}

/* When the first CLOSED record arrived (0 when not closed). */
static uint64_t conn_close_ts(const struct conn *conn)
{
	const struct conn_ev *ev = conn->closed ? conn_find_ev(conn, HS_EV_CLOSED) : NULL;

	return ev ? ev->ts_ns : 0;
}

/*
 * Makes room for `tcp` more TCP events in the connection, and in the collector's scratch
 * arrays for all the events the connection may have at emission plus `other` more (TLS or
 * library events about to be logged). Returns 0, or -ENOMEM (nothing changed that matters:
 * arrays are only ever larger).
 */
static int conn_reserve(struct collector *c, struct conn *conn, size_t tcp, size_t other)
{
	size_t need_tcp = (size_t)conn->n_ev + tcp, need, cap;
	struct tl_event *events;
	struct conn_ev *ev;
	uint64_t *seq;

	if (need_tcp > CONN_MAX_TCP_EVENTS)
		return -ENOMEM;
	if (need_tcp > conn_ev_cap(conn)) {
		cap = 8;
		while (cap < need_tcp)
			cap *= 2;
		if (conn->ev == conn->inline_ev) {
			ev = malloc(cap * sizeof(*ev));
			if (ev)
				memcpy(ev, conn->inline_ev, conn->n_ev * sizeof(*ev));
		} else {
			ev = realloc(conn->ev, cap * sizeof(*ev));
		}
		if (!ev)
			return -ENOMEM;
		conn->ev = ev;
	}

	need = need_tcp + conn_tls_max_events(conn->tls) + conn_ssl_max_events(conn->ssl) + other;
	if (need <= c->buf_cap)
		return 0;
	cap = c->buf_cap ? c->buf_cap * 2 : 64;
	while (cap < need)
		cap *= 2;
	events = realloc(c->ev_buf, cap * sizeof(*events));
	if (!events)
		return -ENOMEM;
	c->ev_buf = events;
	seq = realloc(c->seq_buf, cap * sizeof(*seq));
	if (!seq)
		return -ENOMEM; /* ev_buf is merely larger than buf_cap says */
	c->seq_buf = seq;
	c->buf_cap = cap;
	return 0;
}

/* Applies rec to conn. Returns 0 or -ENOMEM, in which case conn is unchanged. */
static int conn_add_record(struct collector *c, struct conn *conn, const struct hs_tcp_rec *rec)
{
	uint64_t ts = rec->hdr.ts_ns, rel = c->seq - conn->seq_base, est_ts = 0;
	bool latest = true, add = true;
	struct conn_ev *ev;
	size_t i;
	int err;

	err = conn_reserve(c, conn, 1, 0);
	if (err)
		return err;

	/* Is this the latest record so far (its srtt is the current one)? */
	for (i = 0; i < conn->n_ev; i++) {
		if (conn->ev[i].ts_ns > ts)
			latest = false;
	}
	switch (rec->event) {
	case HS_EV_SYN_RETRANSMIT:
		if (conn->syn_retransmits < UINT8_MAX)
			conn->syn_retransmits++;
		break;
	case HS_EV_ESTABLISHED:
		if (!conn_earliest_ev(conn, HS_EV_ESTABLISHED, &est_ts) || ts < est_ts) {
			conn->est_srtt_us = rec->srtt_us;
			conn->est_syn_us = rec->syn_ns && rec->syn_ns <= ts &&
						   (ts - rec->syn_ns) / 1000 < UINT32_MAX ?
					   (uint32_t)((ts - rec->syn_ns) / 1000) + 1 : 0;
		}
		if (!conn->have_isn && (rec->isn_local || rec->isn_peer)) {
			bool client = conn->role == ROLE_CLIENT;

			conn->isn_client = client ? rec->isn_local : rec->isn_peer;
			conn->isn_server = client ? rec->isn_peer : rec->isn_local;
			conn->have_isn = true;
		}
		break;
	case HS_EV_CLOSED:
		/* The kernel closes a socket once: a second CLOSED record (a corrupt stream) adds
		 * no second event, which could sort before the others. */
		if (conn->closed) {
			add = false;
			break;
		}
		conn->closed = true;
		conn->sk_err = (int16_t)rec->sk_err;
		DL_APPEND2(c->closed, conn, closed_prev, closed_next);
		break;
	case HS_EV_FIN_IN:
		/* One FIN, however many state changes followed it (FIN_WAIT1 -> CLOSING, then the
		 * hand-over to a time-wait socket): the earliest is when it arrived. */
		for (i = 0; i < conn->n_ev; i++) {
			if (conn->ev[i].event == HS_EV_FIN_IN) {
				if (ts < conn->ev[i].ts_ns)
					conn->ev[i].ts_ns = ts;
				add = false;
			}
		}
		break;
	default:
		break;
	}

	if (add) {
		ev = &conn->ev[conn->n_ev++];
		memset(ev, 0, sizeof(*ev));
		ev->ts_ns = ts;
		ev->event = (uint8_t)rec->event;
		ev->seq = rel < UINT32_MAX ? (uint32_t)rel : UINT32_MAX;
		c->stats.events++;
	}
	c->seq++;

	conn_take_addrs(conn, rec);
	conn_take_owner(conn, rec);
	if (rec->srtt_us && latest)
		conn->srtt_us = rec->srtt_us;
	/* Counters only grow: the largest value is the latest, whatever the arrival order. */
	if (rec->bytes_sent > conn->bytes_sent)
		conn->bytes_sent = rec->bytes_sent;
	if (rec->bytes_received > conn->bytes_received)
		conn->bytes_received = rec->bytes_received;
	return 0;
}

/* Returns the index of the first event of type `event` (events sorted), or -1. */
static long event_find(const struct timeline *tl, unsigned int event)
{
	size_t i;

	for (i = 0; i < tl->n_events; i++) {
		if (tl->events[i].event == event)
			return (long)i;
	}
	return -1;
}

/* Stable insertion sort by (ts_ns, arrival sequence): events mostly arrive in order. */
static void tl_sort_events(struct timeline *tl, uint64_t *seq)
{
	struct tl_event *events = tl->events;
	size_t i, j;

	for (i = 1; i < tl->n_events; i++) {
		struct tl_event ev = events[i];
		uint64_t s = seq[i];

		for (j = i; j > 0; j--) {
			if (events[j - 1].ts_ns < ev.ts_ns ||
			    (events[j - 1].ts_ns == ev.ts_ns && seq[j - 1] < s))
				break;
			events[j] = events[j - 1];
			seq[j] = seq[j - 1];
		}
		events[j] = ev;
		seq[j] = s;
	}
}

static void tl_remove_events(struct timeline *tl, uint64_t *seq, unsigned int event)
{
	size_t i, n = 0;

	for (i = 0; i < tl->n_events; i++) {
		if (tl->events[i].event == event)
			continue;
		tl->events[n] = tl->events[i];
		seq[n] = seq[i];
		n++;
	}
	tl->n_events = n;
}

/*
 * The server's SYN_RECV record comes with the final ACK, not with the SYN. The SYN's own
 * arrival, noted by the packet program on the listening socket, comes with the earliest
 * ESTABLISHED record (est_syn_us). Without it, the srtt of that record is the SYN-ACK round
 * trip, so the SYN arrived about that long before it: the event is then marked derived. Without
 * either the time is unknown and the event is dropped.
 */
static void tl_derive_syn_recv(struct timeline *tl, uint64_t *seq, const struct conn *conn)
{
	uint64_t back_ns, ts, est_ts = 0;
	bool derived = !conn->est_syn_us;
	size_t i;

	if (tl->role != ROLE_SERVER || !conn_earliest_ev(conn, HS_EV_ESTABLISHED, &est_ts))
		return;
	if (!conn->est_syn_us && !conn->est_srtt_us) {
		tl_remove_events(tl, seq, HS_EV_SYN_RECV);
		return;
	}
	back_ns = derived ? (uint64_t)conn->est_srtt_us * 1000
			  : (uint64_t)(conn->est_syn_us - 1) * 1000;
	ts = est_ts > back_ns ? est_ts - back_ns : 0;
	for (i = 0; i < tl->n_events; i++) {
		if (tl->events[i].event == HS_EV_SYN_RECV) {
			tl->events[i].ts_ns = ts;
			tl->events[i].derived = derived;
		}
	}
}

static enum conn_result conn_result(const struct conn *conn, const struct timeline *tl)
{
	bool established = event_find(tl, HS_EV_ESTABLISHED) >= 0;
	bool reset_in = event_find(tl, HS_EV_RESET_IN) >= 0;
	bool reset_out = event_find(tl, HS_EV_RESET_OUT) >= 0;
	enum conn_result tls;

	if (tl->role == ROLE_CLIENT && !established) {
		if (reset_in || tl->sk_err == ECONNREFUSED)
			return RESULT_REFUSED;
		/* Still in SYN_SENT when hstrace stopped: not known to time out. */
		return conn->closed ? RESULT_TIMEOUT : RESULT_INCOMPLETE;
	}
	tls = conn_tls_verdict(conn->tls);
	if (tls == RESULT_TLS_ALERT)
		return tls;
	/* The kernel gave up on a silent peer (retransmission or user timeout, keepalive; the
	 * last sends its own RST): a timeout, not the peer's reset nor a normal end. */
	if (established && tl->sk_err == ETIMEDOUT)
		return RESULT_TIMEOUT;
	/* A handshake that never completed failed only once the connection is over. */
	if (tls == RESULT_TLS_FAILED && (conn->closed || reset_in || reset_out))
		return tls;
	if (established && (reset_in || reset_out))
		return RESULT_RESET;
	if (!conn->closed)
		return RESULT_INCOMPLETE;
	if (!tl->bytes_sent && !tl->bytes_received)
		return RESULT_CLOSED;
	return RESULT_OK;
}

/* Adds phase `name` from the first `from` event to the first `to` event (wire times). */
static void tl_add_phase(struct timeline *tl, const char *name, unsigned int from,
			 unsigned int to)
{
	tl_phase_add(tl, name, tl_event_find(tl, from, DIR_NONE), TL_AT_WIRE,
		     tl_event_find(tl, to, DIR_NONE), TL_AT_WIRE);
}

/*
 * CLOSED ends a timeline. A lingering close() with a zero timeout moves the socket to CLOSE
 * first and sends its RST just after (tcp_disconnect()), so events may follow CLOSED: the
 * socket is gone only once they are done, so CLOSED moves to the end, at the last event's time.
 */
static void tl_close_last(struct timeline *tl, uint64_t *seq)
{
	struct tl_event closed;
	uint64_t s;
	size_t i;

	for (i = 0; i + 1 < tl->n_events; i++)
		if (tl->events[i].event == HS_EV_CLOSED)
			break;
	if (i + 1 >= tl->n_events)
		return;
	closed = tl->events[i];
	s = seq[i];
	memmove(&tl->events[i], &tl->events[i + 1], (tl->n_events - i - 1) * sizeof(*tl->events));
	memmove(&seq[i], &seq[i + 1], (tl->n_events - i - 1) * sizeof(*seq));
	closed.ts_ns = tl->events[tl->n_events - 2].ts_ns;
	tl->events[tl->n_events - 1] = closed;
	seq[tl->n_events - 1] = s;
}

/* Builds the connection's final timeline in c->out. evicted forces "incomplete". */
static void conn_finalise(struct collector *c, struct conn *conn, bool evicted)
{
	struct timeline *tl = &c->out;
	uint64_t *seq = c->seq_buf;
	uint32_t lib_id;
	size_t i;

	memset(tl, 0, sizeof(*tl));
	tl->cookie = conn->cookie;
	tl->role = conn->role;
	tl->pid = conn->pid;
	tl->tid = conn->tid;
	memcpy(tl->comm, conn->comm, sizeof(tl->comm));
	tl->lport = conn->lport;
	tl->rport = conn->rport;
	tl->syn_retransmits = conn->syn_retransmits;
	tl->sk_err = conn->sk_err;
	tl->bytes_sent = conn->bytes_sent;
	tl->bytes_received = conn->bytes_received;
	tl->srtt_us = conn->srtt_us;
	tl->close_lost = conn->close_lost;
	if (conn->have_isn)
		tl->conn_id = conn_id_make(conn->isn_client, conn->isn_server);

	tl->events = c->ev_buf;
	for (i = 0; i < conn->n_ev; i++) {
		struct tl_event *ev = &tl->events[i];

		memset(ev, 0, sizeof(*ev));
		ev->ts_ns = conn->ev[i].ts_ns;
		ev->event = conn->ev[i].event;
		ev->dir = event_dir(conn->ev[i].event);
		seq[i] = conn->seq_base + conn->ev[i].seq;
	}
	tl->n_events = conn->n_ev;

	tl_derive_syn_recv(tl, seq, conn);
	c->stats.events += conn_tls_add_events(conn->tls, tl, seq);
	c->stats.events += conn_ssl_add_events(conn->ssl, tl, seq, c->seq);
	tl_sort_events(tl, seq);
	tl_close_last(tl, seq);
	tl->start_ns = tl->n_events ? tl->events[0].ts_ns : 0;
	/* Saturated: only a corrupt record's time (BPF's is time since boot) could overflow. */
	if (tl->start_ns > INT64_MAX ||
	    __builtin_add_overflow((int64_t)tl->start_ns, c->mono_to_wall_ns, &tl->start_wall_ns))
		tl->start_wall_ns = INT64_MAX;
	tl_set_addrs(tl, conn);
	conn_tls_conclude(conn->tls, tl, seq);
	tl->result = evicted ? RESULT_INCOMPLETE : conn_result(conn, tl);
	tl->sources = TL_SRC_KERNEL_TCP | (tl->tls.seen ? TL_SRC_KERNEL_TLS : 0);

	tl->n_phases = 0;
	if (tl->role == ROLE_CLIENT) {
		tl_add_phase(tl, "tcp_handshake", HS_EV_SYN_SENT, HS_EV_ESTABLISHED);
	} else if (tl->role == ROLE_SERVER) {
		tl_add_phase(tl, "tcp_handshake", HS_EV_SYN_RECV, HS_EV_ESTABLISHED);
		tl_add_phase(tl, "accept_wait", HS_EV_ESTABLISHED, HS_EV_ACCEPTED);
	}
	conn_tls_add_phases(conn->tls, tl);
	lib_id = conn_ssl_conclude(conn->ssl, tl);
	if (lib_id && c->lib_describe)
		c->lib_describe(c->lib_ctx, lib_id, &tl->tls);
}

/* The connection with this cookie, or NULL. */
static struct conn *conn_lookup(struct collector *c, uint64_t cookie)
{
	if (c->last && c->last->cookie == cookie)
		return c->last;
	c->last = cookie_table_find(&c->table, cookie);
	return c->last;
}

/* Hands conn to the emit callback and frees it. */
static void conn_emit(struct collector *c, struct conn *conn, bool evicted)
{
	if (c->last == conn)
		c->last = NULL;
	cookie_table_remove(&c->table, conn->cookie);
	DL_DELETE(c->conns, conn);
	if (conn->closed)
		DL_DELETE2(c->closed, conn, closed_prev, closed_next);
	c->stats.open--;

	conn_finalise(c, conn, evicted);
	c->stats.conns++;
	if (evicted)
		c->stats.evicted++;
	if (c->out.result == RESULT_INCOMPLETE)
		c->stats.incomplete++;
	c->emit(&c->out, c->ctx);
	conn_free(c, conn);
}

/*
 * Makes room for one connection by emitting the oldest-created one: as incomplete when it is
 * open, with its own result (only its grace period is cut short) when it is already closed.
 */
static void collector_evict_oldest(struct collector *c)
{
	struct conn *oldest = c->conns;

	if (oldest)
		conn_emit(c, oldest, !oldest->closed);
}

/* Creates the connection a start record opens, evicting the oldest one at max_conns. */
static int conn_create(struct collector *c, const struct hs_tcp_rec *rec)
{
	struct conn *conn;
	int err;

	conn = calloc(1, sizeof(*conn));
	if (!conn)
		return -ENOMEM;
	conn->cookie = rec->hdr.cookie;
	conn->seq_base = c->seq;
	conn->role = rec->event == HS_EV_SYN_SENT ? ROLE_CLIENT : ROLE_SERVER;
	conn->ev = conn->inline_ev;
	err = conn_reserve(c, conn, 1, 0);
	if (err) {
		conn_free(c, conn);
		return err;
	}

	/* Only now, so a failed allocation does not cost a connection. */
	if (cookie_table_count(&c->table) >= c->max_conns)
		collector_evict_oldest(c);

	err = cookie_table_insert(&c->table, conn);
	if (err) {
		conn_free(c, conn);
		return err;
	}
	DL_APPEND(c->conns, conn);
	c->stats.open++;
	return conn_add_record(c, conn, rec); /* cannot fail: room reserved */
}

/* The tracked connection a (non-TCP) record is about, or NULL (counted as unmatched: it
 * started before hstrace, or its start was lost). */
static struct conn *record_conn(struct collector *c, uint64_t cookie)
{
	struct conn *conn = conn_lookup(c, cookie);

	if (!conn)
		c->stats.unmatched++;
	return conn;
}

/* A TLS record: for collector_tls.c, on a connection already tracked. */
static int collector_handle_tls(struct collector *c, const void *data, size_t size)
{
	struct hs_tls_rec rec;
	struct conn *conn;
	int err;

	if (tls_record_read(&rec, data, size))
		goto malformed;
	conn = record_conn(c, rec.hdr.cookie);
	if (!conn)
		return -ENOENT;
	err = conn_reserve(c, conn, 0, 1);
	if (err)
		return err;
	err = conn_tls_add(&c->tls_spares, &conn->tls, &rec, c->seq);
	if (err == -EINVAL)
		goto malformed;
	if (err)
		return err;
	c->seq++;
	return 0;

malformed:
	c->stats.malformed++;
	return -EINVAL;
}

/* An application call on a connection in its handshake: for collector_tls.c. */
static int collector_handle_io(struct collector *c, const void *data, size_t size)
{
	struct hs_io_rec rec;
	struct conn *conn;

	if (io_record_read(&rec, data, size)) {
		c->stats.malformed++;
		return -EINVAL;
	}
	conn = record_conn(c, rec.hdr.cookie);
	if (!conn)
		return -ENOENT;
	return conn_tls_add_io(&c->tls_spares, &conn->tls, &rec);
}

/* A TLS library call (uprobes): for collector_ssl.c, on a connection already tracked. */
static int collector_handle_ssl(struct collector *c, const void *data, size_t size)
{
	struct hs_ssl_rec rec;
	struct conn *conn;
	int err;

	if (ssl_record_read(&rec, data, size)) {
		c->stats.malformed++;
		return -EINVAL;
	}
	conn = record_conn(c, rec.hdr.cookie);
	if (!conn)
		return -ENOENT;
	/* The library layer's events need room before its state exists. */
	err = conn_reserve(c, conn, 0, conn->ssl ? 0 : CONN_SSL_MAX_EVENTS);
	if (err)
		return err;
	/* Its events are numbered when the connection is finalised (conn_ssl_add_events()). */
	return conn_ssl_add(&conn->ssl, &rec);
}

/* A TCP record: opens, extends or (connect() again) replaces a connection. */
static int collector_handle_tcp(struct collector *c, const struct hs_hdr *hdr, const void *data,
				size_t size)
{
	struct hs_tcp_rec rec;
	struct conn *conn;

	if (size < sizeof(rec) || hdr->size != size)
		goto malformed;
	memcpy(&rec, data, sizeof(rec));
	if (rec.event < 1 || rec.event >= HS_EV__MAX)
		goto malformed;

	conn = conn_lookup(c, rec.hdr.cookie);
	if (rec.event == HS_EV_OWNER) {
		/* Not an event: only names the owner of a connection already tracked. */
		if (!conn) {
			c->stats.unmatched++;
			return -ENOENT;
		}
		conn_take_owner(conn, &rec);
		return 0;
	}
	if (conn && conn->closed && rec.event == HS_EV_SYN_SENT &&
	    rec.hdr.ts_ns > conn_close_ts(conn)) {
		/* connect() again on the same socket after a failed attempt: a new connection. */
		conn_emit(c, conn, false);
		conn = NULL;
	}
	if (conn)
		return conn_add_record(c, conn, &rec);
	if (rec.event == HS_EV_SYN_SENT || rec.event == HS_EV_SYN_RECV)
		return conn_create(c, &rec);
	c->stats.unmatched++;
	return -ENOENT;

malformed:
	c->stats.malformed++;
	return -EINVAL;
}

/* Closes the connection of cookie at ts_ns as its lost CLOSED record would have. Returns 0,
 * -ENOENT (not tracked), -ENOMEM. */
static int apply_lost_close(struct collector *c, uint64_t cookie, uint64_t ts_ns)
{
	struct hs_tcp_rec rec = { .hdr = { .kind = HS_REC_TCP, .cookie = cookie, .ts_ns = ts_ns },
				  .event = HS_EV_CLOSED };
	struct conn *conn = conn_lookup(c, cookie);
	int err;

	if (!conn)
		return -ENOENT;
	if (conn->closed)
		return 0;
	err = conn_add_record(c, conn, &rec);
	if (err)
		return err;
	conn->close_lost = true;
	c->stats.closes_lost++;
	return 0;
}

int collector_lost_close(struct collector *c, uint64_t cookie, uint64_t ts_ns)
{
	int err;

	if (!c)
		return -EINVAL;
	err = apply_lost_close(c, cookie, ts_ns);
	if (err != -ENOENT)
		return err;
	if (!c->pending) {
		c->pending = calloc(COLLECTOR_LOST_CLOSE_PENDING, sizeof(*c->pending));
		if (!c->pending)
			return -ENOMEM;
	}
	if (c->n_pending == COLLECTOR_LOST_CLOSE_PENDING) {
		c->stats.unmatched++;
		return -ENOENT;
	}
	c->pending[c->n_pending++] = (struct lost_close){ cookie, ts_ns, 0 };
	return -EAGAIN;
}

void collector_retry_lost_closes(struct collector *c)
{
	size_t i = 0;

	if (!c)
		return;
	while (i < c->n_pending) {
		struct lost_close *p = &c->pending[i];
		int err = apply_lost_close(c, p->cookie, p->ts_ns);

		if (err == -ENOENT && ++p->tries <= COLLECTOR_LOST_CLOSE_TRIES) {
			i++;
			continue;
		}
		if (err == -ENOENT)
			c->stats.unmatched++; /* its connection's start was lost too */
		*p = c->pending[--c->n_pending];
	}
}

/* An outgoing packet left later than its event's time (bpf/xmit_times.bpf.h): its events
 * take that time. The records it is about came before it (the events are emitted before their
 * packet leaves). */
static int collector_handle_sent(struct collector *c, const void *data, size_t size)
{
	struct hs_sent_rec rec;
	struct conn *conn;

	if (size != sizeof(rec))
		goto malformed;
	memcpy(&rec, data, sizeof(rec));
	if (rec.hdr.size != size || rec.what < HS_SENT_SYN || rec.what > HS_SENT_BYTES ||
	    (rec.what == HS_SENT_BYTES && !rec.len))
		goto malformed;
	conn = record_conn(c, rec.hdr.cookie);
	if (!conn)
		return -ENOENT;
	switch (rec.what) {
	case HS_SENT_SYN:
		conn_event_sent(conn, HS_EV_SYN_SENT, rec.hdr.ts_ns);
		break;
	case HS_SENT_FIN:
		conn_event_sent(conn, HS_EV_FIN_OUT, rec.hdr.ts_ns);
		break;
	default:
		conn_tls_sent(conn->tls, rec.seq, rec.len, rec.hdr.ts_ns);
		break;
	}
	return 0;

malformed:
	c->stats.malformed++;
	return -EINVAL;
}

/* The records of one HS_REC_BATCH, one by one: each starts at a multiple of 8 bytes from the
 * batch's start and says its own size. A record that does not fit what is left, or a batch
 * inside a batch, is malformed; what follows it cannot be found and is counted with it. */
static int collector_handle_batch(struct collector *c, const uint8_t *data, size_t size)
{
	size_t off = sizeof(struct hs_hdr);
	struct hs_hdr hdr;
	int err, ret = 0;

	c->stats.batches++;
	while (off + sizeof(hdr) <= size) {
		memcpy(&hdr, data + off, sizeof(hdr));
		if (hdr.size < sizeof(hdr) || hdr.size > size - off || hdr.kind == HS_REC_BATCH) {
			c->stats.records++;
			c->stats.malformed++;
			return -EINVAL;
		}
		err = collector_handle(c, data + off, hdr.size);
		if (err && !ret)
			ret = err;
		off += ((size_t)hdr.size + 7) & ~(size_t)7;
	}
	if (off < size) { /* a tail too short for a record */
		c->stats.records++;
		c->stats.malformed++;
		return -EINVAL;
	}
	return ret;
}

int collector_handle(struct collector *c, const void *data, size_t size)
{
	struct hs_hdr hdr;
	int err;

	if (!c)
		return -EINVAL;
	if (!data || size < sizeof(hdr)) {
		c->stats.records++;
		c->stats.malformed++;
		return -EINVAL;
	}
	memcpy(&hdr, data, sizeof(hdr));
	if (hdr.kind == HS_REC_BATCH && hdr.size == size)
		return collector_handle_batch(c, data, size);
	c->stats.records++;
	c->stats.by_kind[hdr.kind < 8 ? hdr.kind : 0]++;
	switch (hdr.kind) {
	case HS_REC_TCP:
		err = collector_handle_tcp(c, &hdr, data, size);
		break;
	case HS_REC_TLS:
		err = collector_handle_tls(c, data, size);
		break;
	case HS_REC_SSL:
		err = collector_handle_ssl(c, data, size);
		break;
	case HS_REC_IO:
		err = collector_handle_io(c, data, size);
		break;
	case HS_REC_SENT:
		err = collector_handle_sent(c, data, size);
		break;
	default:
		c->stats.malformed++;
		return -EINVAL;
	}
	if (err == -ENOMEM)
		c->stats.dropped++;
	return err;
}

size_t collector_flush_max(struct collector *c, uint64_t now_ns, size_t max)
{
	struct conn *conn, *tmp;
	uint64_t ts, cutoff;
	size_t n = 0;

	if (!c)
		return 0;
	if (now_ns < c->grace_ns)
		return 0;
	cutoff = now_ns - c->grace_ns;
	DL_FOREACH_SAFE2(c->closed, conn, tmp, closed_next) {
		if (n >= max)
			break;
		ts = conn_close_ts(conn);
		if (ts <= cutoff) {
			conn_emit(c, conn, false);
			n++;
		} else if (ts - cutoff > FLUSH_SCAN_SLACK_NS) {
			break;
		}
	}
	return n;
}

void collector_flush(struct collector *c, uint64_t now_ns)
{
	collector_flush_max(c, now_ns, SIZE_MAX);
}

void collector_finish(struct collector *c)
{
	if (!c)
		return;
	collector_retry_lost_closes(c);
	c->stats.unmatched += c->n_pending; /* notes that never found their connection */
	c->n_pending = 0;
	while (c->conns)
		conn_emit(c, c->conns, false);
}

void collector_get_stats(const struct collector *c, struct collector_stats *st)
{
	if (!c || !st)
		return;
	*st = c->stats;
}

void collector_free(struct collector *c)
{
	struct conn *conn, *tmp;

	if (!c)
		return;
	DL_FOREACH_SAFE(c->conns, conn, tmp)
		conn_free(NULL, conn);
	conn_tls_spares_free(&c->tls_spares);
	cookie_table_free(&c->table);
	free(c->pending);
	free(c->ev_buf);
	free(c->seq_buf);
	free(c);
}
