// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_collector.c - the collector, fed synthetic BPF records, checked through its emit callback.
 *
 * Every test builds records with rec_new(), adjusts the fields it cares about, feeds them and
 * compares the emitted timelines field by field.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <linux/types.h>
#include <sys/socket.h>

#include "collector.h"
#include "hstrace.h"
#include "timeline.h"

#define MS (1000ULL * 1000)
#define US 1000ULL
#define BASE_NS (1000ULL * 1000 * MS) /* 1000 s of uptime */
#define WALL_OFFSET_NS 1795764000000000000LL
#define GRACE_NS (50 * MS)	      /* the default */
#define MAX_CAPTURED 32
#define MAX_EVENTS 64

/* ---- emitted timelines, deep-copied by the callback ---- */

struct captured {
	struct timeline tl;
	struct tl_event events[MAX_EVENTS];
};

struct fixture {
	struct collector *c;
	struct captured out[MAX_CAPTURED];
	size_t n_out;
};

static void capture(const struct timeline *tl, void *ctx)
{
	struct fixture *f = ctx;
	struct captured *cap;

	assert_true(f->n_out < MAX_CAPTURED);
	assert_true(tl->n_events <= MAX_EVENTS);
	cap = &f->out[f->n_out++];
	cap->tl = *tl;
	if (tl->n_events)
		memcpy(cap->events, tl->events, tl->n_events * sizeof(*tl->events));
	cap->tl.events = cap->events;
}

static struct fixture *fixture_new(uint64_t grace_ns, size_t max_conns)
{
	struct collector_opts opts = { 0 };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	opts.emit = capture;
	opts.ctx = f;
	opts.mono_to_wall_ns = WALL_OFFSET_NS;
	opts.grace_ns = grace_ns;
	opts.max_conns = max_conns;
	f->c = collector_new(&opts);
	assert_non_null(f->c);
	return f;
}

static void fixture_free(struct fixture *f)
{
	if (!f)
		return;
	collector_free(f->c);
	free(f);
}

static int setup(void **state)
{
	*state = fixture_new(0, 0);
	return 0;
}

static int teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* ---- records ---- */

static void set_v4(__u8 *dst, const char *text)
{
	memset(dst, 0, HS_ADDR_LEN);
	assert_int_equal(inet_pton(AF_INET, text, dst), 1);
}

static void set_v6(__u8 *dst, const char *text)
{
	memset(dst, 0, HS_ADDR_LEN);
	assert_int_equal(inet_pton(AF_INET6, text, dst), 1);
}

/* Returns a well-formed IPv4 record 10.0.0.1:PORT -> 10.0.0.2:443 without owner, where PORT
 * is 40000 + cookie (for small cookies), so each connection has its own local port. */
static struct hs_tcp_rec rec_new(uint64_t cookie, unsigned int event, uint64_t ts_ns)
{
	struct hs_tcp_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_TCP;
	r.hdr.size = sizeof(r);
	r.hdr.ts_ns = ts_ns;
	r.hdr.cookie = cookie;
	r.event = event;
	r.family = AF_INET;
	r.sport = 40000 + (cookie & 0xfff);
	r.dport = 443;
	set_v4(r.saddr, "10.0.0.1");
	set_v4(r.daddr, "10.0.0.2");
	return r;
}

static void rec_owner(struct hs_tcp_rec *r, uint32_t pid, uint32_t tid, int32_t fd,
		      const char *comm)
{
	(void)fd; /* the owner's fd is not recorded any more; kept for the callers' readability */
	r->flags |= HS_F_OWNER;
	r->pid = pid;
	r->tid = tid;
	strncpy(r->comm, comm, sizeof(r->comm) - 1);
}

static int feed(struct fixture *f, const struct hs_tcp_rec *r)
{
	return collector_handle(f->c, r, sizeof(*r));
}

/* Feeds a default record and asserts it was used. */
static void feed_ok(struct fixture *f, uint64_t cookie, unsigned int event, uint64_t ts_ns)
{
	struct hs_tcp_rec r = rec_new(cookie, event, ts_ns);

	assert_int_equal(feed(f, &r), 0);
}

/* Feeds a CLOSED record with the given socket error and byte counters. */
static void feed_closed(struct fixture *f, uint64_t cookie, uint64_t ts_ns, int32_t sk_err,
			uint64_t sent, uint64_t received)
{
	struct hs_tcp_rec r = rec_new(cookie, HS_EV_CLOSED, ts_ns);

	r.sk_err = sk_err;
	r.bytes_sent = sent;
	r.bytes_received = received;
	assert_int_equal(feed(f, &r), 0);
}

/* Feeds a client SYN_SENT owned by pid/fd. */
static void feed_connect(struct fixture *f, uint64_t cookie, uint64_t ts_ns, uint32_t pid,
			 int32_t fd, const char *comm)
{
	struct hs_tcp_rec r = rec_new(cookie, HS_EV_SYN_SENT, ts_ns);

	rec_owner(&r, pid, pid, fd, comm);
	assert_int_equal(feed(f, &r), 0);
}

static void assert_events(const struct timeline *tl, const unsigned int *events, size_t n)
{
	size_t i;

	assert_int_equal(tl->n_events, n);
	for (i = 0; i < n; i++) {
		if (tl->events[i].event != events[i])
			fail_msg("event %zu is %s, expected %s", i,
				 tl_event_name(tl->events[i].event), tl_event_name(events[i]));
	}
}

static uint64_t phase(const struct timeline *tl, const char *name)
{
	uint64_t dur = 0;

	if (!tl_phase_get(tl, name, &dur))
		fail_msg("no phase %s", name);
	return dur;
}

static void assert_no_phase(const struct timeline *tl, const char *name)
{
	uint64_t dur = 12345;

	assert_false(tl_phase_get(tl, name, &dur));
	assert_int_equal(dur, 12345);
}

static struct collector_stats stats(struct fixture *f)
{
	struct collector_stats st;

	memset(&st, 0xa5, sizeof(st));
	collector_get_stats(f->c, &st);
	return st;
}

/* ---- tests ---- */

static void test_names(void **state)
{
	static const char *const events[] = {
		"unknown", "syn_sent", "syn_retransmit", "syn_received", "established",
		"accepted", "fin_out", "fin_in", "reset_in", "reset_out", "closed",
		"unknown", /* HS_EV_OWNER: not an event */
	};
	unsigned int i;

	(void)state;
	for (i = 0; i < HS_EV__MAX; i++)
		assert_string_equal(tl_event_name(i), events[i]);
	assert_string_equal(tl_event_name(HS_EV__MAX), "unknown");
	assert_string_equal(tl_event_name(65535), "unknown");

	assert_string_equal(tl_result_name(RESULT_OK), "ok");
	assert_string_equal(tl_result_name(RESULT_REFUSED), "refused");
	assert_string_equal(tl_result_name(RESULT_TIMEOUT), "timeout");
	assert_string_equal(tl_result_name(RESULT_RESET), "reset");
	assert_string_equal(tl_result_name(RESULT_CLOSED), "closed");
	assert_string_equal(tl_result_name(RESULT_INCOMPLETE), "incomplete");
	assert_string_equal(tl_result_name(RESULT__MAX), "unknown");
	assert_string_equal(tl_result_name((enum conn_result)-1), "unknown");

	assert_string_equal(tl_role_name(ROLE_CLIENT), "client");
	assert_string_equal(tl_role_name(ROLE_SERVER), "server");
	assert_string_equal(tl_role_name(ROLE_UNKNOWN), "unknown");
	assert_string_equal(tl_role_name((enum conn_role)42), "unknown");
}

static void test_phase_get(void **state)
{
	struct timeline tl;
	uint64_t dur = 0;

	(void)state;
	memset(&tl, 0, sizeof(tl));
	assert_false(tl_phase_get(&tl, "tcp_handshake", &dur));
	tl.phases[0].name = "tcp_handshake";
	tl.phases[0].dur_ns = 7;
	tl.phases[1].name = "accept_wait";
	tl.phases[1].dur_ns = 9;
	tl.n_phases = 2;
	assert_true(tl_phase_get(&tl, "accept_wait", &dur));
	assert_int_equal(dur, 9);
	assert_true(tl_phase_get(&tl, "tcp_handshake", &dur));
	assert_int_equal(dur, 7);
	assert_true(tl_phase_get(&tl, "tcp_handshake", NULL));
	assert_false(tl_phase_get(&tl, "tls_handshake", &dur));
	assert_false(tl_phase_get(NULL, "tcp_handshake", &dur));
}

static void test_new_invalid(void **state)
{
	struct collector_opts opts = { 0 };

	(void)state;
	errno = 0;
	assert_null(collector_new(NULL));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(collector_new(&opts));
	assert_int_equal(errno, EINVAL);
	collector_free(NULL);
}

static void test_client_ok(void **state)
{
	static const unsigned int want[] = {
		HS_EV_SYN_SENT, HS_EV_ESTABLISHED, HS_EV_FIN_OUT, HS_EV_FIN_IN, HS_EV_CLOSED,
	};
	static const uint8_t dirs[] = { DIR_OUT, DIR_IN, DIR_OUT, DIR_IN, DIR_NONE };
	struct fixture *f = *state;
	const struct timeline *tl;
	struct collector_stats st;
	struct hs_tcp_rec r;
	uint8_t addr[16];
	size_t i;

	r = rec_new(1, HS_EV_SYN_SENT, BASE_NS);
	rec_owner(&r, 4242, 4243, 5, "curl");
	assert_int_equal(feed(f, &r), 0);

	r = rec_new(1, HS_EV_ESTABLISHED, BASE_NS + 1234567);
	r.srtt_us = 1200;
	assert_int_equal(feed(f, &r), 0);

	r = rec_new(1, HS_EV_FIN_OUT, BASE_NS + 5 * MS);
	r.srtt_us = 1300;
	r.bytes_sent = 517;
	r.bytes_received = 4096;
	assert_int_equal(feed(f, &r), 0);

	r = rec_new(1, HS_EV_FIN_IN, BASE_NS + 6 * MS);
	r.bytes_sent = 517;
	r.bytes_received = 4096;
	assert_int_equal(feed(f, &r), 0);

	feed_closed(f, 1, BASE_NS + 7 * MS, 0, 517, 4096);

	collector_flush(f->c, BASE_NS + 7 * MS + GRACE_NS);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;

	assert_int_equal(tl->cookie, 1);
	assert_int_equal(tl->role, ROLE_CLIENT);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->pid, 4242);
	assert_int_equal(tl->tid, 4243);
	assert_string_equal(tl->comm, "curl");
	assert_int_equal(tl->ip_version, 4);
	set_v4(addr, "10.0.0.1");
	assert_memory_equal(tl->laddr, addr, 16);
	set_v4(addr, "10.0.0.2");
	assert_memory_equal(tl->raddr, addr, 16);
	assert_int_equal(tl->lport, 40001);
	assert_int_equal(tl->rport, 443);
	assert_int_equal(tl->start_ns, BASE_NS);
	assert_int_equal(tl->start_wall_ns, (int64_t)BASE_NS + WALL_OFFSET_NS);
	assert_events(tl, want, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(tl->events[i].dir, dirs[i]);
		assert_false(tl->events[i].derived);
	}
	assert_int_equal(tl->events[1].ts_ns, BASE_NS + 1234567);
	assert_int_equal(tl->n_phases, 1);
	assert_int_equal(phase(tl, "tcp_handshake"), 1234567);
	assert_no_phase(tl, "accept_wait");
	assert_int_equal(tl->syn_retransmits, 0);
	assert_int_equal(tl->sk_err, 0);
	assert_int_equal(tl->bytes_sent, 517);
	assert_int_equal(tl->bytes_received, 4096);
	assert_int_equal(tl->srtt_us, 1300); /* the last non-zero sample */

	st = stats(f);
	assert_int_equal(st.records, 5);
	assert_int_equal(st.events, 5);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.open, 0);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.unmatched, 0);
	assert_int_equal(st.incomplete, 0);
	assert_int_equal(st.evicted, 0);
}

/* Feeds a departure time (struct hs_sent_rec): a SYN's or FIN's, or sent stream bytes
 * [0, len) (HS_SENT_BYTES). */
static void feed_sent(struct fixture *f, uint64_t cookie, uint8_t what, uint64_t ts_ns,
		      uint32_t len)
{
	struct hs_sent_rec t;

	memset(&t, 0, sizeof(t));
	t.hdr.kind = HS_REC_SENT;
	t.hdr.size = sizeof(t);
	t.hdr.cookie = cookie;
	t.hdr.ts_ns = ts_ns;
	t.what = what;
	t.len = len;
	assert_int_equal(collector_handle(f->c, &t, sizeof(t)), 0);
}

/*
 * A client's SYN, and its FIN, that reached the network device after their state changes
 * (struct hs_sent_rec): syn_sent and fin_out take the later times, the handshake phase is
 * shorter by as much, and a connection without TLS stays one. An earlier time changes nothing.
 */
static void test_syn_fin_reached_device_later(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_connect(f, 1, BASE_NS, 4242, 5, "curl");
	feed_sent(f, 1, HS_SENT_SYN, BASE_NS - 10 * 1000, 0); /* earlier: ignored */
	feed_sent(f, 1, HS_SENT_SYN, BASE_NS + 30 * 1000, 0);
	feed_ok(f, 1, HS_EV_ESTABLISHED, BASE_NS + 1000 * 1000);
	feed_ok(f, 1, HS_EV_FIN_OUT, BASE_NS + 5 * MS);
	feed_sent(f, 1, HS_SENT_FIN, BASE_NS + 5 * MS + 20 * 1000, 0);
	/* no TLS on it: nothing to move, and it does not make the connection a TLS one */
	feed_sent(f, 1, HS_SENT_BYTES, BASE_NS + 5 * MS + 1, 100);
	feed_closed(f, 1, BASE_NS + 7 * MS, 0, 0, 0);
	collector_flush(f->c, BASE_NS + 7 * MS + GRACE_NS);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->events[0].event, HS_EV_SYN_SENT);
	assert_int_equal(tl->start_ns, BASE_NS + 30 * 1000);
	assert_int_equal(phase(tl, "tcp_handshake"), 970 * 1000);
	assert_int_equal(tl->events[2].event, HS_EV_FIN_OUT);
	assert_int_equal(tl->events[2].ts_ns, BASE_NS + 5 * MS + 20 * 1000);
	assert_false(tl->tls.seen);
	assert_int_equal(stats(f).by_kind[HS_REC_SENT], 4);
	assert_int_equal(stats(f).malformed, 0);
}

/*
 * The SYN's arrival as the packet program noted it comes with the ESTABLISHED record: the
 * event takes it, not derived, whatever the RTT sample says (under SYN cookies the kernel's
 * first sample comes from the echoed timestamp, up to 63 ms too long).
 */
static void test_server_syn_received_noted(void **state)
{
	struct fixture *f = *state;
	const uint64_t est = BASE_NS + 10 * MS + 2000;
	const struct timeline *tl;
	struct hs_tcp_rec r;

	r = rec_new(3, HS_EV_SYN_RECV, BASE_NS + 10 * MS);
	r.sport = 8443;
	r.dport = 51001;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(3, HS_EV_ESTABLISHED, est);
	r.sport = 8443;
	r.dport = 51001;
	r.srtt_us = 41000; /* a cookie's timestamp-based sample */
	r.syn_ns = est - 4321 * US - 999; /* µs: the part below one is dropped */
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(3, HS_EV_CLOSED, est + 22 * MS);
	r.sport = 8443;
	r.dport = 51001;
	assert_int_equal(feed(f, &r), 0);

	/* A SYN time after the ESTABLISHED record's own is not believed: derived instead. */
	r = rec_new(4, HS_EV_SYN_RECV, BASE_NS + 10 * MS);
	r.sport = 8443;
	r.dport = 51002;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(4, HS_EV_ESTABLISHED, est);
	r.sport = 8443;
	r.dport = 51002;
	r.srtt_us = 250;
	r.syn_ns = est + 1;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(4, HS_EV_CLOSED, est + 22 * MS);
	r.sport = 8443;
	r.dport = 51002;
	assert_int_equal(feed(f, &r), 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);
	tl = &f->out[0].tl;
	assert_int_equal(tl->role, ROLE_SERVER);
	assert_int_equal(tl->events[0].event, HS_EV_SYN_RECV);
	assert_false(tl->events[0].derived);
	assert_int_equal(tl->events[0].ts_ns, est - 4321 * US);
	assert_int_equal(phase(tl, "tcp_handshake"), 4321 * US);
	tl = &f->out[1].tl;
	assert_int_equal(tl->events[0].event, HS_EV_SYN_RECV);
	assert_true(tl->events[0].derived);
	assert_int_equal(tl->events[0].ts_ns, est - 250 * US);
}

static void test_server_derived_syn_received(void **state)
{
	static const unsigned int want[] = {
		HS_EV_SYN_RECV, HS_EV_ESTABLISHED, HS_EV_ACCEPTED, HS_EV_FIN_IN, HS_EV_FIN_OUT,
		HS_EV_CLOSED,
	};
	static const uint8_t dirs[] = { DIR_IN, DIR_IN, DIR_NONE, DIR_IN, DIR_OUT, DIR_NONE };
	struct fixture *f = *state;
	const uint64_t est = BASE_NS + 10 * MS + 2000;
	const struct timeline *tl;
	struct hs_tcp_rec r;
	size_t i;

	/* Child socket created when the final ACK arrives, in softirq: no owner. */
	r = rec_new(2, HS_EV_SYN_RECV, BASE_NS + 10 * MS);
	r.sport = 8443;
	r.dport = 51000;
	assert_int_equal(feed(f, &r), 0);

	r = rec_new(2, HS_EV_ESTABLISHED, est);
	r.sport = 8443;
	r.dport = 51000;
	r.srtt_us = 250; /* the SYN-ACK round trip */
	assert_int_equal(feed(f, &r), 0);

	r = rec_new(2, HS_EV_ACCEPTED, est + 3 * MS + 7);
	r.sport = 8443;
	r.dport = 51000;
	rec_owner(&r, 777, 778, 9, "nginx");
	assert_int_equal(feed(f, &r), 0);

	r = rec_new(2, HS_EV_FIN_IN, est + 20 * MS);
	r.sport = 8443;
	r.dport = 51000;
	r.bytes_received = 100;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(2, HS_EV_FIN_OUT, est + 21 * MS);
	r.sport = 8443;
	r.dport = 51000;
	r.bytes_sent = 1000;
	r.bytes_received = 100;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(2, HS_EV_CLOSED, est + 22 * MS);
	r.sport = 8443;
	r.dport = 51000;
	r.bytes_sent = 2000;
	r.bytes_received = 100;
	assert_int_equal(feed(f, &r), 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;

	assert_int_equal(tl->role, ROLE_SERVER);
	assert_int_equal(tl->result, RESULT_OK);
	assert_events(tl, want, 6);
	for (i = 0; i < 6; i++)
		assert_int_equal(tl->events[i].dir, dirs[i]);
	assert_true(tl->events[0].derived);
	assert_int_equal(tl->events[0].ts_ns, est - 250 * US);
	for (i = 1; i < 6; i++)
		assert_false(tl->events[i].derived);
	assert_int_equal(tl->start_ns, est - 250 * US);
	assert_int_equal(tl->start_wall_ns, (int64_t)(est - 250 * US) + WALL_OFFSET_NS);
	assert_int_equal(tl->n_phases, 2);
	assert_int_equal(phase(tl, "tcp_handshake"), 250 * US);
	assert_int_equal(phase(tl, "accept_wait"), 3 * MS + 7);
	assert_int_equal(tl->pid, 777);
	assert_int_equal(tl->tid, 778);
	assert_string_equal(tl->comm, "nginx");
	assert_int_equal(tl->lport, 8443);
	assert_int_equal(tl->rport, 51000);
	assert_int_equal(tl->bytes_sent, 2000);
	assert_int_equal(tl->bytes_received, 100);
	assert_int_equal(stats(f).incomplete, 0);
}

static void test_server_no_rtt_sample(void **state)
{
	static const unsigned int want[] = {
		HS_EV_ESTABLISHED, HS_EV_ACCEPTED, HS_EV_FIN_IN, HS_EV_CLOSED,
	};
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_ok(f, 3, HS_EV_SYN_RECV, BASE_NS);
	feed_ok(f, 3, HS_EV_ESTABLISHED, BASE_NS + 10); /* srtt_us 0 */
	feed_ok(f, 3, HS_EV_ACCEPTED, BASE_NS + 510);
	feed_ok(f, 3, HS_EV_FIN_IN, BASE_NS + MS);
	feed_closed(f, 3, BASE_NS + 2 * MS, 0, 0, 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->role, ROLE_SERVER);
	assert_events(tl, want, 4);
	assert_int_equal(tl->start_ns, BASE_NS + 10);
	assert_no_phase(tl, "tcp_handshake");
	assert_int_equal(phase(tl, "accept_wait"), 500);
	assert_int_equal(tl->n_phases, 1);
	assert_int_equal(tl->pid, 0); /* no owner record */
	assert_int_equal(tl->result, RESULT_CLOSED);
	assert_int_equal(stats(f).events, 5); /* appended, even if dropped later */
}

static void test_server_never_established(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_ok(f, 4, HS_EV_SYN_RECV, BASE_NS);
	feed_ok(f, 4, HS_EV_RESET_IN, BASE_NS + MS);
	feed_closed(f, 4, BASE_NS + MS, 0, 0, 0);
	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->result, RESULT_CLOSED);
	assert_int_equal(tl->n_events, 3);
	assert_false(tl->events[0].derived);
	assert_int_equal(tl->n_phases, 0);
}

static void test_refused(void **state)
{
	static const unsigned int want[] = { HS_EV_SYN_SENT, HS_EV_RESET_IN, HS_EV_CLOSED };
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_connect(f, 5, BASE_NS, 100, 3, "curl");
	feed_ok(f, 5, HS_EV_RESET_IN, BASE_NS + 80 * US);
	feed_closed(f, 5, BASE_NS + 81 * US, ECONNREFUSED, 0, 0);

	/* sk_err alone is enough (the RST record may be lost). */
	feed_connect(f, 6, BASE_NS + MS, 100, 4, "curl");
	feed_closed(f, 6, BASE_NS + 2 * MS, ECONNREFUSED, 0, 0);

	collector_flush(f->c, BASE_NS + 2 * MS + GRACE_NS);
	assert_int_equal(f->n_out, 2);
	tl = &f->out[0].tl;
	assert_int_equal(tl->cookie, 5);
	assert_int_equal(tl->result, RESULT_REFUSED);
	assert_events(tl, want, 3);
	assert_int_equal(tl->events[1].dir, DIR_IN);
	assert_int_equal(tl->sk_err, ECONNREFUSED);
	assert_int_equal(tl->n_phases, 0);
	assert_no_phase(tl, "tcp_handshake");

	tl = &f->out[1].tl;
	assert_int_equal(tl->cookie, 6);
	assert_int_equal(tl->result, RESULT_REFUSED);
	assert_int_equal(tl->n_events, 2);
}

static void test_timeout(void **state)
{
	static const unsigned int want[] = {
		HS_EV_SYN_SENT, HS_EV_SYN_RETRANSMIT, HS_EV_SYN_RETRANSMIT, HS_EV_CLOSED,
	};
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_tcp_rec r;

	feed_connect(f, 7, BASE_NS, 100, 3, "wget");
	r = rec_new(7, HS_EV_SYN_RETRANSMIT, BASE_NS + 1000 * MS);
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(7, HS_EV_SYN_RETRANSMIT, BASE_NS + 3000 * MS);
	assert_int_equal(feed(f, &r), 0);
	feed_closed(f, 7, BASE_NS + 7000 * MS, ETIMEDOUT, 0, 0);

	collector_flush(f->c, BASE_NS + 7000 * MS + GRACE_NS);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->result, RESULT_TIMEOUT);
	assert_int_equal(tl->syn_retransmits, 2);
	assert_int_equal(tl->sk_err, ETIMEDOUT);
	assert_events(tl, want, 4);
	assert_int_equal(tl->events[1].dir, DIR_OUT);
	assert_int_equal(tl->events[2].dir, DIR_OUT);
	assert_int_equal(tl->n_phases, 0);
}

static void test_reset_after_established(void **state)
{
	struct fixture *f = *state;
	struct hs_tcp_rec r;

	/* RST received. */
	feed_connect(f, 8, BASE_NS, 100, 3, "curl");
	feed_ok(f, 8, HS_EV_ESTABLISHED, BASE_NS + MS);
	r = rec_new(8, HS_EV_RESET_IN, BASE_NS + 2 * MS);
	r.bytes_sent = 10;
	assert_int_equal(feed(f, &r), 0);
	feed_closed(f, 8, BASE_NS + 2 * MS, ECONNRESET, 10, 0);

	/* RST sent, no data at all: reset wins over closed. */
	feed_connect(f, 9, BASE_NS, 101, 3, "curl");
	feed_ok(f, 9, HS_EV_ESTABLISHED, BASE_NS + MS);
	feed_ok(f, 9, HS_EV_RESET_OUT, BASE_NS + 3 * MS);
	feed_closed(f, 9, BASE_NS + 3 * MS, 0, 0, 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);
	assert_int_equal(f->out[0].tl.cookie, 8);
	assert_int_equal(f->out[0].tl.result, RESULT_RESET);
	assert_int_equal(f->out[0].tl.events[2].event, HS_EV_RESET_IN);
	assert_int_equal(f->out[0].tl.events[2].dir, DIR_IN);
	assert_int_equal(phase(&f->out[0].tl, "tcp_handshake"), MS);
	assert_int_equal(f->out[1].tl.cookie, 9);
	assert_int_equal(f->out[1].tl.result, RESULT_RESET);
	assert_int_equal(f->out[1].tl.events[2].event, HS_EV_RESET_OUT);
	assert_int_equal(f->out[1].tl.events[2].dir, DIR_OUT);
	assert_int_equal(stats(f).incomplete, 0);
}

/* close() with SO_LINGER {1, 0}: the kernel moves the socket to CLOSE, then sends the RST. */
static void test_reset_out_after_closed(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_connect(f, 11, BASE_NS, 100, 3, "curl");
	feed_ok(f, 11, HS_EV_ESTABLISHED, BASE_NS + MS);
	feed_closed(f, 11, BASE_NS + 5 * MS, 0, 100, 0);
	feed_ok(f, 11, HS_EV_RESET_OUT, BASE_NS + 5 * MS + 60 * US);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->result, RESULT_RESET);
	assert_int_equal(tl->n_events, 4);
	assert_int_equal(tl->events[2].event, HS_EV_RESET_OUT);
	assert_int_equal(tl->events[2].ts_ns, BASE_NS + 5 * MS + 60 * US);
	assert_int_equal(tl->events[3].event, HS_EV_CLOSED);
	assert_int_equal(tl->events[3].ts_ns, BASE_NS + 5 * MS + 60 * US);
}

static void test_closed_without_data(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_connect(f, 10, BASE_NS, 100, 3, "nc");
	feed_ok(f, 10, HS_EV_ESTABLISHED, BASE_NS + 40 * US);
	feed_ok(f, 10, HS_EV_FIN_OUT, BASE_NS + MS);
	feed_ok(f, 10, HS_EV_FIN_IN, BASE_NS + 2 * MS);
	feed_closed(f, 10, BASE_NS + 3 * MS, 0, 0, 0);
	collector_finish(f->c);

	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->result, RESULT_CLOSED);
	assert_int_equal(tl->bytes_sent, 0);
	assert_int_equal(tl->bytes_received, 0);
	assert_int_equal(phase(tl, "tcp_handshake"), 40 * US);
	assert_int_equal(stats(f).incomplete, 0);
}

/* A connection whose CLOSED record was lost: the kernel's note closes it at its time, and it is
 * emitted after the grace period like any closed connection, marked close_lost. */
static void test_lost_close(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_tcp_rec r;

	feed_connect(f, 14, BASE_NS, 100, 3, "curl");
	r = rec_new(14, HS_EV_ESTABLISHED, BASE_NS + MS);
	r.bytes_sent = 10;
	r.bytes_received = 20;
	assert_int_equal(feed(f, &r), 0);
	assert_int_equal(collector_lost_close(f->c, 99, BASE_NS + 2 * MS), -EAGAIN); /* kept */
	assert_int_equal(collector_lost_close(f->c, 14, BASE_NS + 3 * MS), 0);
	assert_int_equal(collector_lost_close(f->c, 14, BASE_NS + 4 * MS), 0); /* once */
	collector_flush(f->c, BASE_NS + 3 * MS);
	assert_int_equal(f->n_out, 0); /* in its grace period */
	collector_flush(f->c, BASE_NS + 3 * MS + GRACE_NS + 1);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_true(tl->close_lost);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->events[tl->n_events - 1].event, HS_EV_CLOSED);
	assert_int_equal(tl->events[tl->n_events - 1].ts_ns, BASE_NS + 3 * MS);
	assert_int_equal(tl->bytes_received, 20);
	assert_int_equal(stats(f).closes_lost, 1);
	assert_int_equal(stats(f).incomplete, 0);
	assert_int_equal(stats(f).open, 0);
	/* the note for 99 finds nothing in COLLECTOR_LOST_CLOSE_TRIES retries: unmatched */
	for (int i = 0; i < COLLECTOR_LOST_CLOSE_TRIES; i++)
		collector_retry_lost_closes(f->c);
	assert_int_equal(stats(f).unmatched, 0);
	collector_retry_lost_closes(f->c);
	assert_int_equal(stats(f).unmatched, 1);
	collector_finish(f->c);
	assert_int_equal(stats(f).unmatched, 1);
}

/* A lost-close note read before its connection's first record (another CPU was still writing
 * it) is kept, and closes the connection once that record is in. Notes that never find theirs
 * are counted as unmatched at the end. */
static void test_lost_close_before_its_connection(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(collector_lost_close(f->c, 16, BASE_NS + 5 * MS), -EAGAIN);
	assert_int_equal(collector_lost_close(f->c, 17, BASE_NS + 5 * MS), -EAGAIN);
	collector_retry_lost_closes(f->c);
	feed_connect(f, 16, BASE_NS, 100, 3, "curl");
	feed_ok(f, 16, HS_EV_ESTABLISHED, BASE_NS + MS);
	collector_retry_lost_closes(f->c);
	assert_int_equal(stats(f).closes_lost, 1);
	collector_flush(f->c, BASE_NS + 5 * MS + GRACE_NS + 1);
	assert_int_equal(f->n_out, 1);
	assert_true(f->out[0].tl.close_lost);
	assert_int_equal(stats(f).unmatched, 0);
	collector_finish(f->c); /* 17 never came */
	assert_int_equal(stats(f).unmatched, 1);
}

/* Corrupt streams (fuzz_collector findings, tests/fuzz/regress/): a second CLOSED record adds
 * no event, so nothing sorts before the connection's first event; a timestamp near 2^64
 * saturates the wall-clock start instead of overflowing. */
static void test_corrupt_closed_twice_and_huge_time(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_connect(f, 15, BASE_NS + 42 * US, 100, 3, "x");
	feed_closed(f, 15, BASE_NS + 34 * US, 0, 0, 0); /* arrives late, and before SYN_SENT */
	feed_closed(f, 15, BASE_NS + 34 * US, 0, 0, 0);
	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->events[tl->n_events - 1].event, HS_EV_CLOSED);
	assert_int_equal(tl->n_events, 2);

	feed_connect(f, 16, UINT64_MAX - 5, 100, 3, "x");
	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);
	assert_true(f->out[1].tl.start_wall_ns == INT64_MAX);
}

static void test_incomplete_at_finish(void **state)
{
	struct fixture *f = *state;
	struct collector_stats st;
	struct hs_tcp_rec r;

	/* Established, still open. */
	feed_connect(f, 11, BASE_NS, 100, 3, "ssh");
	r = rec_new(11, HS_EV_ESTABLISHED, BASE_NS + MS);
	r.bytes_sent = 1;
	assert_int_equal(feed(f, &r), 0);
	/* Still in SYN_SENT: not (yet) a timeout. */
	feed_connect(f, 12, BASE_NS + 2 * MS, 100, 4, "ssh");
	/* Closed, but still within its grace period: emitted with its own result. */
	feed_connect(f, 13, BASE_NS + 3 * MS, 100, 5, "ssh");
	feed_ok(f, 13, HS_EV_ESTABLISHED, BASE_NS + 4 * MS);
	feed_closed(f, 13, BASE_NS + 5 * MS, 0, 3, 4);

	collector_flush(f->c, BASE_NS + 5 * MS);
	assert_int_equal(f->n_out, 0);
	assert_int_equal(stats(f).open, 3);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 3);
	assert_int_equal(f->out[0].tl.cookie, 11);
	assert_int_equal(f->out[0].tl.result, RESULT_INCOMPLETE);
	assert_int_equal(phase(&f->out[0].tl, "tcp_handshake"), MS);
	assert_int_equal(f->out[1].tl.cookie, 12);
	assert_int_equal(f->out[1].tl.result, RESULT_INCOMPLETE);
	assert_int_equal(f->out[2].tl.cookie, 13);
	assert_int_equal(f->out[2].tl.result, RESULT_OK);

	st = stats(f);
	assert_int_equal(st.conns, 3);
	assert_int_equal(st.incomplete, 2);
	assert_int_equal(st.evicted, 0);
	assert_int_equal(st.open, 0);

	/* Empty and reusable. */
	collector_finish(f->c);
	assert_int_equal(f->n_out, 3);
	feed_connect(f, 14, BASE_NS + 6 * MS, 100, 3, "ssh");
	assert_int_equal(stats(f).open, 1);
	collector_finish(f->c);
	assert_int_equal(f->n_out, 4);
	assert_int_equal(f->out[3].tl.cookie, 14);
}

static void test_out_of_order(void **state)
{
	static const unsigned int want[] = {
		HS_EV_SYN_SENT, HS_EV_ESTABLISHED, HS_EV_FIN_OUT, HS_EV_FIN_IN, HS_EV_CLOSED,
	};
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_tcp_rec r;
	size_t i;

	feed_connect(f, 15, BASE_NS + 1000, 100, 3, "curl");
	/* CPU 1 is drained before CPU 0: CLOSED first, then earlier events, newest first. */
	r = rec_new(15, HS_EV_CLOSED, BASE_NS + 6000);
	r.bytes_sent = 5;
	r.bytes_received = 6;
	assert_int_equal(feed(f, &r), 0);
	collector_flush(f->c, BASE_NS + 6000 + GRACE_NS / 2);
	assert_int_equal(f->n_out, 0);

	r = rec_new(15, HS_EV_FIN_IN, BASE_NS + 5000);
	r.bytes_sent = 5;
	r.bytes_received = 6;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(15, HS_EV_FIN_OUT, BASE_NS + 4000);
	r.bytes_sent = 5; /* counters from older records must not win */
	r.bytes_received = 2;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(15, HS_EV_ESTABLISHED, BASE_NS + 2000);
	r.srtt_us = 1;
	assert_int_equal(feed(f, &r), 0);

	collector_flush(f->c, BASE_NS + 6000 + GRACE_NS);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_events(tl, want, 5);
	for (i = 1; i < tl->n_events; i++)
		assert_true(tl->events[i - 1].ts_ns <= tl->events[i].ts_ns);
	assert_int_equal(tl->start_ns, BASE_NS + 1000);
	assert_int_equal(phase(tl, "tcp_handshake"), 1000);
	assert_int_equal(tl->result, RESULT_OK);
	assert_int_equal(tl->bytes_sent, 5);
	assert_int_equal(tl->bytes_received, 6);
}

static void test_equal_timestamps_keep_arrival_order(void **state)
{
	static const unsigned int want[] = {
		HS_EV_SYN_SENT, HS_EV_ESTABLISHED, HS_EV_RESET_IN, HS_EV_FIN_IN, HS_EV_CLOSED,
	};
	struct fixture *f = *state;

	feed_connect(f, 16, BASE_NS, 100, 3, "curl");
	feed_ok(f, 16, HS_EV_ESTABLISHED, BASE_NS + 10);
	feed_ok(f, 16, HS_EV_RESET_IN, BASE_NS + 20);
	feed_ok(f, 16, HS_EV_FIN_IN, BASE_NS + 20);
	feed_closed(f, 16, BASE_NS + 20, ECONNRESET, 0, 0);
	collector_finish(f->c);

	assert_int_equal(f->n_out, 1);
	assert_events(&f->out[0].tl, want, 5);
	assert_int_equal(f->out[0].tl.result, RESULT_RESET);
}

static void test_grace_period(void **state)
{
	struct fixture *f = *state;
	const uint64_t close = BASE_NS + 10 * MS;
	struct hs_tcp_rec late;
	struct fixture *g;

	feed_connect(f, 17, BASE_NS, 100, 3, "curl");
	feed_ok(f, 17, HS_EV_ESTABLISHED, BASE_NS + MS);
	feed_closed(f, 17, close, 0, 1, 1);
	/* A second, still open connection is never flushed. */
	feed_connect(f, 18, BASE_NS, 100, 4, "curl");

	collector_flush(f->c, close);
	collector_flush(f->c, close + GRACE_NS - 1);
	assert_int_equal(f->n_out, 0);
	assert_int_equal(stats(f).open, 2);

	collector_flush(f->c, close + GRACE_NS);
	assert_int_equal(f->n_out, 1);
	assert_int_equal(f->out[0].tl.cookie, 17);
	assert_int_equal(stats(f).open, 1);

	collector_flush(f->c, close + 1000 * GRACE_NS);
	assert_int_equal(f->n_out, 1);

	/* Once emitted, its late records match nothing. */
	late = rec_new(17, HS_EV_FIN_IN, close - 1);
	assert_int_equal(feed(f, &late), -ENOENT);

	/* A custom grace period. */
	g = fixture_new(1000, 0);
	feed_connect(g, 1, BASE_NS, 100, 3, "curl");
	feed_closed(g, 1, BASE_NS + 5, 0, 0, 0);
	collector_flush(g->c, BASE_NS + 1004);
	assert_int_equal(g->n_out, 0);
	collector_flush(g->c, BASE_NS + 1005);
	assert_int_equal(g->n_out, 1);
	assert_int_equal(g->out[0].tl.result, RESULT_TIMEOUT);
	fixture_free(g);
}

static void test_pid_and_fd_reuse(void **state)
{
	struct fixture *f = *state;
	struct hs_tcp_rec r;

	/* Same process, same fd number, two sockets one after the other. */
	feed_connect(f, 20, BASE_NS, 300, 3, "client");
	feed_ok(f, 20, HS_EV_ESTABLISHED, BASE_NS + MS);
	feed_closed(f, 20, BASE_NS + 2 * MS, 0, 1, 1);

	/* fd 3 reused before the first connection was emitted. */
	r = rec_new(21, HS_EV_SYN_SENT, BASE_NS + 3 * MS);
	rec_owner(&r, 300, 301, 3, "client");
	assert_int_equal(feed(f, &r), 0);
	/* A late record of the first connection still goes to it. */
	feed_ok(f, 20, HS_EV_FIN_IN, BASE_NS + 2 * MS - 1);
	feed_ok(f, 21, HS_EV_RESET_IN, BASE_NS + 4 * MS);
	feed_closed(f, 21, BASE_NS + 4 * MS, ECONNREFUSED, 0, 0);

	/* pid reused by another program after the first one exited. */
	r = rec_new(22, HS_EV_SYN_SENT, BASE_NS + 5 * MS);
	rec_owner(&r, 300, 300, 3, "other");
	assert_int_equal(feed(f, &r), 0);
	feed_ok(f, 22, HS_EV_ESTABLISHED, BASE_NS + 6 * MS);
	feed_closed(f, 22, BASE_NS + 7 * MS, 0, 0, 9);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 3);

	assert_int_equal(f->out[0].tl.cookie, 20);
	assert_int_equal(f->out[0].tl.pid, 300);
	assert_int_equal(f->out[0].tl.tid, 300);
	assert_string_equal(f->out[0].tl.comm, "client");
	assert_int_equal(f->out[0].tl.lport, 40020);
	assert_int_equal(f->out[0].tl.n_events, 4);
	assert_int_equal(f->out[0].tl.events[2].event, HS_EV_FIN_IN);
	assert_int_equal(f->out[0].tl.result, RESULT_OK);

	assert_int_equal(f->out[1].tl.cookie, 21);
	assert_int_equal(f->out[1].tl.pid, 300);
	assert_int_equal(f->out[1].tl.tid, 301);
	assert_int_equal(f->out[1].tl.lport, 40021);
	assert_int_equal(f->out[1].tl.n_events, 3);
	assert_int_equal(f->out[1].tl.result, RESULT_REFUSED);

	assert_int_equal(f->out[2].tl.cookie, 22);
	assert_int_equal(f->out[2].tl.pid, 300);
	assert_string_equal(f->out[2].tl.comm, "other");
	assert_int_equal(f->out[2].tl.n_events, 3);
	assert_int_equal(f->out[2].tl.result, RESULT_OK);
}

static void test_owner_rules(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	struct hs_tcp_rec r;

	/* The accept() caller wins over an earlier owner, even of another process. */
	r = rec_new(23, HS_EV_SYN_RECV, BASE_NS);
	rec_owner(&r, 1, 1, -1, "listener");
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(23, HS_EV_ESTABLISHED, BASE_NS + 1);
	r.srtt_us = 1;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(23, HS_EV_ACCEPTED, BASE_NS + 2);
	rec_owner(&r, 2, 3, 11, "worker");
	assert_int_equal(feed(f, &r), 0);

	/* A non-owner record never changes the owner. */
	r = rec_new(23, HS_EV_FIN_IN, BASE_NS + 3);
	r.pid = 99;
	strcpy(r.comm, "softirq");
	assert_int_equal(feed(f, &r), 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->pid, 2);
	assert_int_equal(tl->tid, 3);
	assert_string_equal(tl->comm, "worker");
	assert_int_equal(tl->result, RESULT_INCOMPLETE);
	/* The SYN came one srtt (1 µs) before ESTABLISHED, before the first record's ts. */
	assert_true(tl->events[0].derived);
	assert_int_equal(tl->events[0].ts_ns, BASE_NS + 1 - 1000);
	assert_int_equal(phase(tl, "tcp_handshake"), 1000);
}

/* The peer's FIN shows once, at its earliest report, however many state changes report it. */
static void test_fin_in_once(void **state)
{
	static const unsigned int want[] = {
		HS_EV_SYN_SENT, HS_EV_ESTABLISHED, HS_EV_FIN_OUT, HS_EV_FIN_IN, HS_EV_CLOSED,
	};
	struct fixture *f = *state;
	const struct timeline *tl;

	feed_connect(f, 40, BASE_NS, 100, 3, "curl");
	feed_ok(f, 40, HS_EV_ESTABLISHED, BASE_NS + MS);
	feed_ok(f, 40, HS_EV_FIN_OUT, BASE_NS + 2 * MS);
	feed_ok(f, 40, HS_EV_FIN_IN, BASE_NS + 3 * MS + 160000);
	feed_ok(f, 40, HS_EV_FIN_IN, BASE_NS + 3 * MS);
	feed_closed(f, 40, BASE_NS + 4 * MS, 0, 10, 10);
	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_events(tl, want, 5);
	assert_int_equal(tl->events[3].ts_ns, BASE_NS + 3 * MS);
}

static void test_comm_unterminated(void **state)
{
	struct fixture *f = *state;
	struct hs_tcp_rec r;

	r = rec_new(24, HS_EV_SYN_SENT, BASE_NS);
	rec_owner(&r, 5, 5, 3, "x");
	memset(r.comm, 'a', sizeof(r.comm)); /* no NUL */
	assert_int_equal(feed(f, &r), 0);
	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	assert_int_equal(strlen(f->out[0].tl.comm), 15);
	assert_string_equal(f->out[0].tl.comm, "aaaaaaaaaaaaaaa");
}

static void test_unmatched(void **state)
{
	struct fixture *f = *state;
	struct collector_stats st;
	unsigned int ev;

	/* Every non-start event for an unknown cookie: opened before hstrace. */
	for (ev = 1; ev < HS_EV__MAX; ev++) {
		struct hs_tcp_rec r = rec_new(30, ev, BASE_NS + ev);

		if (ev == HS_EV_SYN_SENT || ev == HS_EV_SYN_RECV)
			continue;
		assert_int_equal(feed(f, &r), -ENOENT);
	}
	st = stats(f);
	assert_int_equal(st.records, HS_EV__MAX - 3);
	assert_int_equal(st.unmatched, HS_EV__MAX - 3);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.open, 0);
	assert_int_equal(st.malformed, 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 0);
	assert_int_equal(stats(f).conns, 0);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	struct collector_stats st;
	unsigned char big[sizeof(struct hs_tcp_rec) + 16];
	struct hs_tcp_rec r;
	struct hs_hdr hdr;
	int n = 0;

	memset(big, 0, sizeof(big));
	r = rec_new(40, HS_EV_SYN_SENT, BASE_NS);

	/* Shorter than the header. */
	assert_int_equal(collector_handle(f->c, &r, 4), -EINVAL);
	n++;
	assert_int_equal(collector_handle(f->c, &r, 0), -EINVAL);
	n++;
	assert_int_equal(collector_handle(f->c, NULL, sizeof(r)), -EINVAL);
	n++;

	/* A TCP header with no record behind it. */
	hdr = r.hdr;
	hdr.size = sizeof(hdr);
	assert_int_equal(collector_handle(f->c, &hdr, sizeof(hdr)), -EINVAL);
	n++;

	/* Truncated record, header claiming the full size. */
	assert_int_equal(collector_handle(f->c, &r, sizeof(r) - 1), -EINVAL);
	n++;

	/* hdr.size disagrees with the size handed over. */
	r.hdr.size = sizeof(r) + 8;
	assert_int_equal(feed(f, &r), -EINVAL);
	n++;
	r.hdr.size = sizeof(r);

	/* Unknown kinds. */
	r.hdr.kind = 0;
	assert_int_equal(feed(f, &r), -EINVAL);
	n++;
	r.hdr.kind = 77;
	assert_int_equal(feed(f, &r), -EINVAL);
	n++;
	r.hdr.kind = HS_REC_TCP;

	/* Events out of range. */
	r.event = 0;
	assert_int_equal(feed(f, &r), -EINVAL);
	n++;
	r.event = HS_EV__MAX;
	assert_int_equal(feed(f, &r), -EINVAL);
	n++;
	r.event = 0xffff;
	assert_int_equal(feed(f, &r), -EINVAL);
	n++;

	st = stats(f);
	assert_int_equal(st.records, n);
	assert_int_equal(st.malformed, n);
	assert_int_equal(st.unmatched, 0);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.open, 0);

	/* A longer record (a later version) whose header agrees is accepted. */
	r.event = HS_EV_SYN_SENT;
	r.hdr.size = sizeof(big);
	memcpy(big, &r, sizeof(r));
	assert_int_equal(collector_handle(f->c, big, sizeof(big)), 0);
	assert_int_equal(stats(f).open, 1);

	/* An unaligned buffer is fine too. */
	r = rec_new(41, HS_EV_SYN_SENT, BASE_NS);
	{
		unsigned char *buf = malloc(sizeof(r) + 1);

		assert_non_null(buf);
		memcpy(buf + 1, &r, sizeof(r));
		assert_int_equal(collector_handle(f->c, buf + 1, sizeof(r)), 0);
		free(buf);
	}
	assert_int_equal(stats(f).open, 2);
	assert_int_equal(stats(f).malformed, n);
}

static void test_ipv4_mapped(void **state)
{
	struct fixture *f = *state;
	uint8_t want[16];
	struct hs_tcp_rec r;

	/* Dual-stack socket talking to an IPv4 peer. */
	r = rec_new(50, HS_EV_SYN_SENT, BASE_NS);
	r.family = AF_INET6;
	set_v6(r.saddr, "::"); /* not bound yet */
	set_v6(r.daddr, "::ffff:192.0.2.7");
	r.sport = 0;
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(50, HS_EV_ESTABLISHED, BASE_NS + MS);
	r.family = AF_INET6;
	set_v6(r.saddr, "::ffff:198.51.100.3");
	set_v6(r.daddr, "::ffff:192.0.2.7");
	assert_int_equal(feed(f, &r), 0);

	/* A real IPv6 connection. */
	r = rec_new(51, HS_EV_SYN_SENT, BASE_NS);
	r.family = AF_INET6;
	set_v6(r.saddr, "2001:db8::1");
	set_v6(r.daddr, "2001:db8::2");
	assert_int_equal(feed(f, &r), 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);

	assert_int_equal(f->out[0].tl.ip_version, 4);
	set_v4(want, "198.51.100.3");
	assert_memory_equal(f->out[0].tl.laddr, want, 16);
	set_v4(want, "192.0.2.7");
	assert_memory_equal(f->out[0].tl.raddr, want, 16);

	assert_int_equal(f->out[1].tl.ip_version, 6);
	set_v6(want, "2001:db8::1");
	assert_memory_equal(f->out[1].tl.laddr, want, 16);
	set_v6(want, "2001:db8::2");
	assert_memory_equal(f->out[1].tl.raddr, want, 16);
}

static void test_local_port_learned_later(void **state)
{
	struct fixture *f = *state;
	uint8_t want[16];
	struct hs_tcp_rec r;

	r = rec_new(60, HS_EV_SYN_SENT, BASE_NS);
	rec_owner(&r, 100, 100, 3, "curl");
	r.sport = 0;
	memset(r.saddr, 0, sizeof(r.saddr));
	assert_int_equal(feed(f, &r), 0);
	r = rec_new(60, HS_EV_ESTABLISHED, BASE_NS + MS);
	r.sport = 45678;
	set_v4(r.saddr, "10.9.8.7");
	assert_int_equal(feed(f, &r), 0);
	/* A later record with unknown (zero) values does not erase them. */
	r = rec_new(60, HS_EV_FIN_IN, BASE_NS + 2 * MS);
	r.sport = 0;
	r.dport = 0;
	memset(r.saddr, 0, sizeof(r.saddr));
	memset(r.daddr, 0, sizeof(r.daddr));
	assert_int_equal(feed(f, &r), 0);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 1);
	assert_int_equal(f->out[0].tl.lport, 45678);
	assert_int_equal(f->out[0].tl.rport, 443);
	set_v4(want, "10.9.8.7");
	assert_memory_equal(f->out[0].tl.laddr, want, 16);
	set_v4(want, "10.0.0.2");
	assert_memory_equal(f->out[0].tl.raddr, want, 16);
}

static void test_max_conns_eviction(void **state)
{
	struct fixture *f = fixture_new(0, 2);
	struct collector_stats st;
	struct hs_tcp_rec r;

	(void)state;
	feed_connect(f, 70, BASE_NS, 100, 3, "a");
	feed_ok(f, 70, HS_EV_ESTABLISHED, BASE_NS + MS);
	feed_connect(f, 71, BASE_NS + 2 * MS, 100, 4, "b");
	assert_int_equal(f->n_out, 0);

	/* A third connection pushes out the oldest-created one. */
	feed_connect(f, 72, BASE_NS + 3 * MS, 100, 5, "c");
	assert_int_equal(f->n_out, 1);
	assert_int_equal(f->out[0].tl.cookie, 70);
	assert_int_equal(f->out[0].tl.result, RESULT_INCOMPLETE);
	assert_int_equal(f->out[0].tl.n_events, 2);
	st = stats(f);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.incomplete, 1);
	assert_int_equal(st.conns, 1);
	assert_int_equal(st.open, 2);

	/* Its later records are orphans now. */
	r = rec_new(70, HS_EV_CLOSED, BASE_NS + 4 * MS);
	assert_int_equal(feed(f, &r), -ENOENT);
	/* Records for connections still held do not evict anything. */
	feed_ok(f, 71, HS_EV_ESTABLISHED, BASE_NS + 4 * MS);
	feed_ok(f, 72, HS_EV_ESTABLISHED, BASE_NS + 4 * MS);
	assert_int_equal(f->n_out, 1);

	feed_connect(f, 73, BASE_NS + 5 * MS, 100, 6, "d");
	assert_int_equal(f->n_out, 2);
	assert_int_equal(f->out[1].tl.cookie, 71);

	collector_finish(f->c);
	assert_int_equal(f->n_out, 4);
	assert_int_equal(f->out[2].tl.cookie, 72);
	assert_int_equal(f->out[3].tl.cookie, 73);
	st = stats(f);
	assert_int_equal(st.evicted, 2);
	assert_int_equal(st.incomplete, 4);
	assert_int_equal(st.conns, 4);
	assert_int_equal(st.open, 0);
	assert_int_equal(st.unmatched, 1);
	fixture_free(f);
}

static void test_many_events(void **state)
{
	struct fixture *f = *state;
	const struct timeline *tl;
	unsigned int i;

	/* More events than the initial array holds, the retransmits arriving newest first. */
	feed_connect(f, 80, BASE_NS, 100, 3, "curl");
	for (i = 0; i < 20; i++)
		feed_ok(f, 80, HS_EV_SYN_RETRANSMIT, BASE_NS + (20 - i) * MS);
	feed_closed(f, 80, BASE_NS + 30 * MS, ETIMEDOUT, 0, 0);
	collector_finish(f->c);

	assert_int_equal(f->n_out, 1);
	tl = &f->out[0].tl;
	assert_int_equal(tl->n_events, 22);
	assert_int_equal(tl->events[0].event, HS_EV_SYN_SENT);
	for (i = 1; i <= 20; i++) {
		assert_int_equal(tl->events[i].event, HS_EV_SYN_RETRANSMIT);
		assert_int_equal(tl->events[i].ts_ns, BASE_NS + i * MS);
	}
	assert_int_equal(tl->events[21].event, HS_EV_CLOSED);
	assert_int_equal(tl->syn_retransmits, 20);
	assert_int_equal(tl->result, RESULT_TIMEOUT);
	assert_int_equal(stats(f).events, 22);
}

/* Emitted timelines summed up, for tests with more than MAX_CAPTURED or MAX_EVENTS. */
struct tally {
	size_t n;
	size_t bad;		/* emitted out of creation order, or with unexpected events */
	uint64_t next_cookie;	/* expected next */
	size_t last_n_events;
	uint32_t last_retx;
};

static void tally_emit(const struct timeline *tl, void *ctx)
{
	struct tally *t = ctx;

	if (tl->cookie != t->next_cookie)
		t->bad++;
	t->next_cookie = tl->cookie + 1;
	t->last_n_events = tl->n_events;
	t->last_retx = tl->syn_retransmits;
	t->n++;
}

static struct collector *tally_collector(struct tally *t, uint64_t first_cookie)
{
	struct collector_opts o = { .emit = tally_emit, .ctx = t };

	memset(t, 0, sizeof(*t));
	t->next_cookie = first_cookie;
	return collector_new(&o);
}

/* A connection cannot grow without bound: past 4,096 TCP events its records are dropped and
 * counted, and everything before is kept. */
static void test_event_cap_counts_dropped(void **state)
{
	struct collector_stats st;
	struct hs_tcp_rec r;
	struct collector *c;
	struct tally t;
	unsigned int i;

	(void)state;
	c = tally_collector(&t, 81);
	assert_non_null(c);
	r = rec_new(81, HS_EV_SYN_SENT, BASE_NS);
	assert_int_equal(collector_handle(c, &r, sizeof(r)), 0);
	for (i = 1; i < 4096; i++) {
		r = rec_new(81, HS_EV_SYN_RETRANSMIT, BASE_NS + i * US);
		assert_int_equal(collector_handle(c, &r, sizeof(r)), 0);
	}
	r = rec_new(81, HS_EV_SYN_RETRANSMIT, BASE_NS + 5 * MS);
	assert_int_equal(collector_handle(c, &r, sizeof(r)), -ENOMEM);
	assert_int_equal(collector_handle(c, &r, sizeof(r)), -ENOMEM);
	collector_get_stats(c, &st);
	assert_int_equal(st.dropped, 2);
	collector_finish(c);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.last_n_events, 4096);
	assert_int_equal(t.last_retx, 255); /* saturated */
	collector_free(c);
}

/* 30,000 connections opened, then their records arriving newest connection first: each is
 * found, keeps its own events, and finish emits them in creation order. */
static void test_many_connections_interleaved(void **state)
{
	struct collector_stats st;
	struct hs_tcp_rec r;
	struct collector *c;
	struct tally t;
	unsigned int i;

	(void)state;
	c = tally_collector(&t, 1000);
	assert_non_null(c);
	for (i = 0; i < 30000; i++) {
		r = rec_new(1000 + i, HS_EV_SYN_SENT, BASE_NS + i * US);
		assert_int_equal(collector_handle(c, &r, sizeof(r)), 0);
	}
	for (i = 30000; i-- > 0;) {
		r = rec_new(1000 + i, HS_EV_ESTABLISHED, BASE_NS + 40 * MS + i * US);
		assert_int_equal(collector_handle(c, &r, sizeof(r)), 0);
		r = rec_new(1000 + i, HS_EV_FIN_OUT, BASE_NS + 80 * MS + i * US);
		assert_int_equal(collector_handle(c, &r, sizeof(r)), 0);
		r = rec_new(1000 + i, HS_EV_FIN_IN, BASE_NS + 90 * MS + i * US);
		assert_int_equal(collector_handle(c, &r, sizeof(r)), 0);
	}
	collector_get_stats(c, &st);
	assert_int_equal(st.open, 30000);
	collector_finish(c);
	assert_int_equal(t.n, 30000);
	assert_int_equal(t.bad, 0);
	assert_int_equal(t.last_n_events, 4);
	collector_get_stats(c, &st);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.events, 120000);
	collector_free(c);
}

/* Flushing in batches: the oldest-closed first, at most max each time; a connection closed
 * slightly out of order does not hide a due one behind it. */
static void test_flush_max_batches(void **state)
{
	struct fixture *f = *state;
	unsigned int i;

	for (i = 0; i < 10; i++) {
		feed_connect(f, 200 + i, BASE_NS + i * US, 100, 3, "batch");
		/* 203 closes 3 ms later than its arrival order says */
		feed_closed(f, 200 + i, BASE_NS + MS + i * US + (i == 3 ? 3 * MS : 0), 0, 1, 1);
	}
	assert_int_equal(collector_flush_max(f->c, BASE_NS + MS + 20 * US + GRACE_NS, 4), 4);
	assert_int_equal(f->n_out, 4);
	assert_int_equal(f->out[0].tl.cookie, 200);
	assert_int_equal(f->out[3].tl.cookie, 204); /* 203 is not due yet */
	assert_int_equal(collector_flush_max(f->c, BASE_NS + MS + 20 * US + GRACE_NS, 4), 4);
	assert_int_equal(collector_flush_max(f->c, BASE_NS + MS + 20 * US + GRACE_NS, 4), 1);
	assert_int_equal(f->n_out, 9);
	assert_int_equal(collector_flush_max(f->c, BASE_NS + MS + 20 * US + GRACE_NS, 4), 0);
	assert_int_equal(collector_flush_max(f->c, BASE_NS + 4 * MS + 20 * US + GRACE_NS, 4), 1);
	assert_int_equal(f->out[9].tl.cookie, 203);
	assert_int_equal(stats(f).open, 0);
}

static void test_connect_again_on_same_socket(void **state)
{
	struct fixture *f = *state;

	/* connect() refused, then connect() again on the same socket (same cookie). */
	feed_connect(f, 95, BASE_NS, 100, 3, "retry");
	feed_ok(f, 95, HS_EV_RESET_IN, BASE_NS + 10 * US);
	feed_closed(f, 95, BASE_NS + 10 * US, ECONNREFUSED, 0, 0);
	feed_connect(f, 95, BASE_NS + MS, 100, 3, "retry");
	assert_int_equal(f->n_out, 1);
	assert_int_equal(f->out[0].tl.result, RESULT_REFUSED);
	assert_int_equal(f->out[0].tl.n_events, 3);

	feed_ok(f, 95, HS_EV_ESTABLISHED, BASE_NS + 2 * MS);
	collector_finish(f->c);
	assert_int_equal(f->n_out, 2);
	assert_int_equal(f->out[1].tl.cookie, 95);
	assert_int_equal(f->out[1].tl.start_ns, BASE_NS + MS);
	assert_int_equal(f->out[1].tl.n_events, 2);
	assert_int_equal(phase(&f->out[1].tl, "tcp_handshake"), MS);
	assert_int_equal(f->out[1].tl.result, RESULT_INCOMPLETE);
	assert_int_equal(stats(f).conns, 2);
}

static void test_free_holding_connections(void **state)
{
	struct fixture *f = fixture_new(0, 0);

	(void)state;
	feed_connect(f, 90, BASE_NS, 100, 3, "curl");
	feed_ok(f, 90, HS_EV_ESTABLISHED, BASE_NS + 1);
	feed_closed(f, 90, BASE_NS + 2, 0, 0, 0);
	feed_connect(f, 91, BASE_NS, 100, 4, "curl");
	/* Frees both (one closed, one open) without emitting: valgrind checks the rest. */
	fixture_free(f);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_names),
		TEST(test_phase_get),
		TEST(test_new_invalid),
		TEST(test_client_ok),
		TEST(test_syn_fin_reached_device_later),
		TEST(test_server_syn_received_noted),
		TEST(test_server_derived_syn_received),
		TEST(test_server_no_rtt_sample),
		TEST(test_server_never_established),
		TEST(test_refused),
		TEST(test_timeout),
		TEST(test_reset_after_established),
		TEST(test_reset_out_after_closed),
		TEST(test_closed_without_data),
		TEST(test_lost_close),
		TEST(test_lost_close_before_its_connection),
		TEST(test_corrupt_closed_twice_and_huge_time),
		TEST(test_incomplete_at_finish),
		TEST(test_out_of_order),
		TEST(test_equal_timestamps_keep_arrival_order),
		TEST(test_grace_period),
		TEST(test_pid_and_fd_reuse),
		TEST(test_owner_rules),
		TEST(test_fin_in_once),
		TEST(test_comm_unterminated),
		TEST(test_unmatched),
		TEST(test_malformed),
		TEST(test_ipv4_mapped),
		TEST(test_local_port_learned_later),
		TEST(test_max_conns_eviction),
		TEST(test_event_cap_counts_dropped),
		TEST(test_flush_max_batches),
		TEST(test_many_connections_interleaved),
		TEST(test_many_events),
		TEST(test_connect_again_on_same_socket),
		TEST(test_free_holding_connections),
	};

	return cmocka_run_group_tests_name("collector", tests, NULL, NULL);
}
