// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * collector.c - rebuilds one timeline per connection from the BPF record stream.
 *
 * Connections live in a uthash table keyed by socket cookie; uthash keeps insertion order, so
 * the table's head is always the oldest-created connection (the one evicted at max_conns).
 * Closed connections waiting out their grace period are also on a second, doubly linked list
 * in the order their CLOSED record arrived, so collector_flush() never walks open ones.
 *
 * Events are appended in arrival order, each with a sequence number; emission sorts them by
 * (ts_ns, sequence), which keeps arrival order for equal timestamps. Emission never allocates,
 * so it cannot fail.
 *
 * This file handles TCP and the record dispatch. TLS records go to collector_tls.c, which logs
 * what it needs per connection and turns it into events when the connection is finalised; the
 * event array always keeps room for those (conn_tls_max_events()).
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
#include "collector_ssl.h"
#include "collector_tls.h"

/* uthash must not exit() when out of memory: a failed add marks the element instead. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(elt) ((elt)->hash_oom = true)
#include <uthash.h>
#include <utlist.h>

#define DEFAULT_GRACE_NS (50ULL * 1000 * 1000)
#define DEFAULT_MAX_CONNS 262144
#define EVENTS_INITIAL 8

_Static_assert(HS_COMM_LEN == sizeof(((struct timeline *)0)->comm), "comm length");
_Static_assert(HS_ADDR_LEN == sizeof(((struct timeline *)0)->laddr), "address length");

struct conn {
	uint64_t cookie;	 /* hash key */
	struct timeline tl;	 /* tl.events holds the events in arrival order until emission */
	uint64_t *seq;		 /* arrival sequence number of each event, for a stable sort */
	size_t cap;		 /* slots allocated in tl.events and seq */
	struct conn_tls *tls;	 /* TLS state, from the first TLS record on */
	struct conn_ssl *ssl;	 /* TLS library calls, from the first uprobe record on */

	uint16_t family;		 /* latest known AF_INET / AF_INET6, 0 unknown */
	uint8_t saddr[HS_ADDR_LEN];	 /* latest non-zero raw addresses, as in the records */
	uint8_t daddr[HS_ADDR_LEN];
	bool have_owner;
	uint64_t srtt_ts_ns;		 /* ts of the record tl.srtt_us came from */

	bool have_est;			 /* an ESTABLISHED record was seen */
	uint64_t est_ts_ns;		 /* ts of the earliest ESTABLISHED record */
	uint32_t est_srtt_us;		 /* its srtt_us: the SYN-ACK round trip (server) */

	bool closed;			 /* a CLOSED record was seen */
	uint64_t close_ts_ns;		 /* ts of the first CLOSED record */
	struct conn *closed_prev;	 /* on collector.closed while closed */
	struct conn *closed_next;

	bool hash_oom;			 /* set by uthash when adding this failed */
	UT_hash_handle hh;
};

struct collector {
	collector_emit_fn emit;
	void *ctx;
	void (*lib_describe)(void *lib_ctx, uint32_t lib_id, struct tl_tls *tls);
	void *lib_ctx;
	int64_t mono_to_wall_ns;
	uint64_t grace_ns;
	size_t max_conns;

	struct conn *conns;  /* uthash head, oldest-created first */
	struct conn *closed; /* utlist DL of closed connections, in CLOSED arrival order */
	uint64_t seq;	     /* next event sequence number */
	struct collector_stats stats;
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
	return c;
}

static void conn_free(struct conn *conn)
{
	if (!conn)
		return;
	conn_tls_free(conn->tls);
	conn_ssl_free(conn->ssl);
	free(conn->tl.events);
	free(conn->seq);
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

/* Fills ip_version, laddr and raddr of the timeline from the raw addresses. */
static void conn_set_addrs(struct conn *conn)
{
	struct timeline *tl = &conn->tl;
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
		conn->tl.lport = rec->sport;
	if (rec->dport)
		conn->tl.rport = rec->dport;
	if (rec->family == AF_INET)
		len = 4;
	else if (rec->family == AF_INET6)
		len = HS_ADDR_LEN;
	else
		return;
	conn->family = rec->family;
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
	struct timeline *tl = &conn->tl;

	tl->pid = rec->pid;
	tl->tid = rec->tid;
	tl->fd = rec->fd;
	memcpy(tl->comm, rec->comm, sizeof(tl->comm));
	tl->comm[sizeof(tl->comm) - 1] = '\0';
	conn->have_owner = true;
}

/*
 * The first owner record names the owner; the accept() caller always wins (it may be another
 * process than the one that owned the listener). A later record of the same process may fill
 * in an fd that was unknown.
 */
static void conn_take_owner(struct conn *conn, const struct hs_tcp_rec *rec)
{
	if (!(rec->flags & HS_F_OWNER))
		return;
	if (!conn->have_owner || rec->event == HS_EV_ACCEPTED)
		conn_set_owner(conn, rec);
	else if (conn->tl.fd < 0 && rec->fd >= 0 && rec->pid == conn->tl.pid)
		conn->tl.fd = rec->fd;
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

/* Makes room for `extra` more events, beyond those the TLS and library layers may still add.
 * Returns 0 or -ENOMEM (the connection is unchanged). */
static int conn_reserve(struct conn *conn, size_t extra)
{
	size_t need = conn->tl.n_events + conn_tls_max_events(conn->tls) +
		      conn_ssl_max_events(conn->ssl) + extra;
	struct tl_event *events;
	uint64_t *seq;
	size_t cap;

	if (need <= conn->cap)
		return 0;
	cap = conn->cap ? conn->cap * 2 : EVENTS_INITIAL;
	while (cap < need)
		cap *= 2;
	events = realloc(conn->tl.events, cap * sizeof(*events));
	if (!events)
		return -ENOMEM;
	conn->tl.events = events;
	seq = realloc(conn->seq, cap * sizeof(*seq));
	if (!seq)
		return -ENOMEM; /* events is merely larger than cap says */
	conn->seq = seq;
	conn->cap = cap;
	return 0;
}

/* Applies rec to conn. Returns 0 or -ENOMEM, in which case conn is unchanged. */
static int conn_add_record(struct collector *c, struct conn *conn, const struct hs_tcp_rec *rec)
{
	struct timeline *tl = &conn->tl;
	uint64_t ts = rec->hdr.ts_ns;
	struct tl_event *ev;
	int err;

	err = conn_reserve(conn, 1);
	if (err)
		return err;

	ev = &tl->events[tl->n_events];
	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = ts;
	ev->event = rec->event;
	ev->dir = event_dir(rec->event);
	conn->seq[tl->n_events] = c->seq++;
	tl->n_events++;
	c->stats.events++;

	conn_take_addrs(conn, rec);
	conn_take_owner(conn, rec);
	if (rec->srtt_us && ts >= conn->srtt_ts_ns) {
		tl->srtt_us = rec->srtt_us;
		conn->srtt_ts_ns = ts;
	}
	/* Counters only grow: the largest value is the latest, whatever the arrival order. */
	if (rec->bytes_sent > tl->bytes_sent)
		tl->bytes_sent = rec->bytes_sent;
	if (rec->bytes_received > tl->bytes_received)
		tl->bytes_received = rec->bytes_received;

	switch (rec->event) {
	case HS_EV_SYN_RETRANSMIT:
		tl->syn_retransmits++;
		break;
	case HS_EV_ESTABLISHED:
		if (!conn->have_est || ts < conn->est_ts_ns) {
			conn->have_est = true;
			conn->est_ts_ns = ts;
			conn->est_srtt_us = rec->srtt_us;
		}
		break;
	case HS_EV_CLOSED:
		if (!conn->closed) {
			conn->closed = true;
			conn->close_ts_ns = ts;
			tl->sk_err = rec->sk_err;
			DL_APPEND2(c->closed, conn, closed_prev, closed_next);
		}
		break;
	default:
		break;
	}
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
static void conn_sort_events(struct conn *conn)
{
	struct tl_event *events = conn->tl.events;
	uint64_t *seq = conn->seq;
	size_t i, j;

	for (i = 1; i < conn->tl.n_events; i++) {
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

static void conn_remove_events(struct conn *conn, unsigned int event)
{
	struct timeline *tl = &conn->tl;
	size_t i, n = 0;

	for (i = 0; i < tl->n_events; i++) {
		if (tl->events[i].event == event)
			continue;
		tl->events[n] = tl->events[i];
		conn->seq[n] = conn->seq[i];
		n++;
	}
	tl->n_events = n;
}

/*
 * The server's SYN_RECV record comes with the final ACK, not with the SYN. The srtt of the
 * ESTABLISHED record is the SYN-ACK round trip, so the SYN arrived that long before it. Without
 * that sample the time is unknown and the event is dropped.
 */
static void conn_derive_syn_recv(struct conn *conn)
{
	struct timeline *tl = &conn->tl;
	uint64_t rtt_ns, ts;
	size_t i;

	if (tl->role != ROLE_SERVER || !conn->have_est)
		return;
	if (!conn->est_srtt_us) {
		conn_remove_events(conn, HS_EV_SYN_RECV);
		return;
	}
	rtt_ns = (uint64_t)conn->est_srtt_us * 1000;
	ts = conn->est_ts_ns > rtt_ns ? conn->est_ts_ns - rtt_ns : 0;
	for (i = 0; i < tl->n_events; i++) {
		if (tl->events[i].event == HS_EV_SYN_RECV) {
			tl->events[i].ts_ns = ts;
			tl->events[i].derived = true;
		}
	}
}

static enum conn_result conn_result(const struct conn *conn)
{
	const struct timeline *tl = &conn->tl;
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

/* Adds phase `name` from the first `from` event to the first `to` event, when both exist. */
static void tl_add_phase(struct timeline *tl, const char *name, unsigned int from,
			 unsigned int to)
{
	long i = event_find(tl, from), j = event_find(tl, to);
	uint64_t a, b;

	if (i < 0 || j < 0 || tl->n_phases >= TL_MAX_PHASES)
		return;
	a = tl->events[i].ts_ns;
	b = tl->events[j].ts_ns;
	tl->phases[tl->n_phases].name = name;
	tl->phases[tl->n_phases].dur_ns = b > a ? b - a : 0;
	tl->n_phases++;
}

/*
 * CLOSED ends a timeline. A lingering close() with a zero timeout moves the socket to CLOSE
 * first and sends its RST just after (tcp_disconnect()), so events may follow CLOSED: the
 * socket is gone only once they are done, so CLOSED moves to the end, at the last event's time.
 */
static void conn_close_last(struct conn *conn)
{
	struct timeline *tl = &conn->tl;
	struct tl_event closed;
	uint64_t s;
	size_t i;

	for (i = 0; i + 1 < tl->n_events; i++)
		if (tl->events[i].event == HS_EV_CLOSED)
			break;
	if (i + 1 >= tl->n_events)
		return;
	closed = tl->events[i];
	s = conn->seq[i];
	memmove(&tl->events[i], &tl->events[i + 1], (tl->n_events - i - 1) * sizeof(*tl->events));
	memmove(&conn->seq[i], &conn->seq[i + 1], (tl->n_events - i - 1) * sizeof(*conn->seq));
	closed.ts_ns = tl->events[tl->n_events - 2].ts_ns;
	tl->events[tl->n_events - 1] = closed;
	conn->seq[tl->n_events - 1] = s;
}

/* Turns the connection's state into its final timeline. evicted forces "incomplete". */
static void conn_finalise(struct collector *c, struct conn *conn, bool evicted)
{
	struct timeline *tl = &conn->tl;
	uint32_t lib_id;

	conn_derive_syn_recv(conn);
	c->stats.events += conn_tls_add_events(conn->tls, tl, conn->seq);
	c->stats.events += conn_ssl_add_events(conn->ssl, tl, conn->seq, c->seq);
	conn_sort_events(conn);
	conn_close_last(conn);
	tl->start_ns = tl->n_events ? tl->events[0].ts_ns : 0;
	tl->start_wall_ns = (int64_t)tl->start_ns + c->mono_to_wall_ns;
	conn_set_addrs(conn);
	conn_tls_conclude(conn->tls, tl, conn->seq);
	tl->result = evicted ? RESULT_INCOMPLETE : conn_result(conn);
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

/* Hands conn to the emit callback and frees it. */
static void conn_emit(struct collector *c, struct conn *conn, bool evicted)
{
	HASH_DEL(c->conns, conn);
	if (conn->closed)
		DL_DELETE2(c->closed, conn, closed_prev, closed_next);
	c->stats.open--;

	conn_finalise(c, conn, evicted);
	c->stats.conns++;
	if (evicted)
		c->stats.evicted++;
	if (conn->tl.result == RESULT_INCOMPLETE)
		c->stats.incomplete++;
	c->emit(&conn->tl, c->ctx);
	conn_free(conn);
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
	conn->tl.cookie = rec->hdr.cookie;
	conn->tl.role = rec->event == HS_EV_SYN_SENT ? ROLE_CLIENT : ROLE_SERVER;
	conn->tl.fd = -1;
	err = conn_reserve(conn, 1);
	if (err) {
		conn_free(conn);
		return err;
	}

	/* Only now, so a failed allocation does not cost a connection. */
	if (c->conns && HASH_COUNT(c->conns) >= c->max_conns)
		collector_evict_oldest(c);

	HASH_ADD(hh, c->conns, cookie, sizeof(conn->cookie), conn);
	if (conn->hash_oom) {
		conn_free(conn);
		return -ENOMEM;
	}
	c->stats.open++;
	return conn_add_record(c, conn, rec); /* cannot fail: room for EVENTS_INITIAL */
}

/* A TLS record: for collector_tls.c, on a connection already tracked. */
static int collector_handle_tls(struct collector *c, const void *data, size_t size)
{
	struct hs_tls_rec rec;
	struct conn *conn;
	int err;

	if (tls_record_read(&rec, data, size))
		goto malformed;
	HASH_FIND(hh, c->conns, &rec.hdr.cookie, sizeof(rec.hdr.cookie), conn);
	if (!conn) {
		c->stats.unmatched++;
		return -ENOENT;
	}
	err = conn_reserve(conn, 1);
	if (err)
		return err;
	err = conn_tls_add(&conn->tls, &conn->tl.tls, &rec, c->seq);
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
	HASH_FIND(hh, c->conns, &rec.hdr.cookie, sizeof(rec.hdr.cookie), conn);
	if (!conn) {
		c->stats.unmatched++;
		return -ENOENT;
	}
	/* The library layer's events need room before its state exists. */
	err = conn_reserve(conn, conn->ssl ? 0 : CONN_SSL_MAX_EVENTS);
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

	HASH_FIND(hh, c->conns, &rec.hdr.cookie, sizeof(rec.hdr.cookie), conn);
	if (conn && conn->closed && rec.event == HS_EV_SYN_SENT && rec.hdr.ts_ns > conn->close_ts_ns) {
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

int collector_handle(struct collector *c, const void *data, size_t size)
{
	struct hs_hdr hdr;

	if (!c)
		return -EINVAL;
	c->stats.records++;
	if (!data || size < sizeof(hdr)) {
		c->stats.malformed++;
		return -EINVAL;
	}
	memcpy(&hdr, data, sizeof(hdr));
	switch (hdr.kind) {
	case HS_REC_TCP:
		return collector_handle_tcp(c, &hdr, data, size);
	case HS_REC_TLS:
		return collector_handle_tls(c, data, size);
	case HS_REC_SSL:
		return collector_handle_ssl(c, data, size);
	default:
		c->stats.malformed++;
		return -EINVAL;
	}
}

void collector_flush(struct collector *c, uint64_t now_ns)
{
	struct conn *conn, *tmp;

	if (!c)
		return;
	DL_FOREACH_SAFE2(c->closed, conn, tmp, closed_next) {
		if (now_ns >= conn->close_ts_ns && now_ns - conn->close_ts_ns >= c->grace_ns)
			conn_emit(c, conn, false);
	}
}

void collector_finish(struct collector *c)
{
	struct conn *conn, *tmp;

	if (!c)
		return;
	HASH_ITER(hh, c->conns, conn, tmp)
		conn_emit(c, conn, false);
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
	HASH_ITER(hh, c->conns, conn, tmp) {
		HASH_DEL(c->conns, conn);
		conn_free(conn);
	}
	free(c);
}
