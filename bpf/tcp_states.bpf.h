/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * tcp_states.bpf.h - the TCP timeline (state changes, SYN retransmissions, resets) and who
 * owns each connection.
 *
 * The owner (pid/comm) of a connection is never taken from a state change that may run in
 * softirq context (where "current" is whoever happened to run, often the peer on loopback).
 * It comes from CLOSE -> SYN_SENT, which the kernel runs synchronously inside the caller's
 * connect() (or sendto(MSG_FASTOPEN)); from accept(), through the cgroup getpeername hook
 * accept() runs for the new socket when it is asked for the peer's address; otherwise from
 * the first socket call on the connection (socket_calls.bpf.h).
 *
 * Every program here is a BTF tracepoint (or called from one): its socket argument is a
 * typed kernel pointer, read with plain loads (CO-RE relocated), not bpf_probe_read_kernel()
 * (BPF_CORE_READ), a helper call each: that was a fifth of handle_set_state's time. tcp_sock
 * fields go through bpf_skc_to_tcp_sock(), which checks the socket is a full TCP one.
 */
#ifndef HSTRACE_TCP_STATES_BPF_H
#define HSTRACE_TCP_STATES_BPF_H

/* An ESTABLISHED or FIN-in state change takes the time its packet passed the ingress program,
 * noted at most this long before (else that note is not this packet's). */
#define ARRIVAL_MAX_NS (10ULL * 1000 * 1000)

/* Record r's event takes arrival_ns, when its packet passed the ingress program then (0:
 * unknown); true when it did. */
static __always_inline bool take_arrival(struct hs_tcp_rec *r, __u64 arrival_ns)
{
	if (!arrival_ns || arrival_ns > r->hdr.ts_ns || r->hdr.ts_ns - arrival_ns >= ARRIVAL_MAX_NS)
		return false;
	r->hdr.ts_ns = arrival_ns;
	return true;
}

static __always_inline bool sk_is_tcp_inet(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	if (family != AF_INET && family != AF_INET6)
		return false;
	return sk->sk_protocol == IPPROTO_TCP;
}

/* Reserves a zeroed TCP record for sk, with addresses, ports and TCP counters filled in.
 * Returns NULL (and counts the loss) when the ring buffer is full. */
static __always_inline struct hs_tcp_rec *tcp_rec_new(const struct sock *sk, __u64 cookie,
						      __u16 event)
{
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	struct hs_tcp_rec *r;
	__u32 a4;

	r = rec_reserve(HS_REC_TCP, sizeof(*r), cookie);
	if (!r)
		return NULL;
	r->event = event;
	r->family = sk->__sk_common.skc_family;
	r->sport = sk->__sk_common.skc_num;
	r->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (r->family == AF_INET) {
		a4 = sk->__sk_common.skc_rcv_saddr;
		__builtin_memcpy(r->saddr, &a4, sizeof(a4));
		a4 = sk->__sk_common.skc_daddr;
		__builtin_memcpy(r->daddr, &a4, sizeof(a4));
	} else {
		struct in6_addr local = sk->__sk_common.skc_v6_rcv_saddr;
		struct in6_addr peer = sk->__sk_common.skc_v6_daddr;

		__builtin_memcpy(r->saddr, &local, sizeof(local));
		__builtin_memcpy(r->daddr, &peer, sizeof(peer));
	}
	if (!tp)
		return r;
	r->srtt_us = tp->srtt_us >> 3;
	r->bytes_sent = tp->bytes_sent;
	/* bytes_received is rcv_nxt progress: the peer's FIN (SOCK_DONE) counts one. */
	r->bytes_received = tp->bytes_received;
	if (r->bytes_received && (sk->__sk_common.skc_flags & (1UL << SOCK_DONE)))
		r->bytes_received--;
	return r;
}

/* Marks r as owned by the current task (only call in the owner's own context). */
static __always_inline void rec_set_owner(struct hs_tcp_rec *r)
{
	__u64 id = bpf_get_current_pid_tgid();

	r->flags |= HS_F_OWNER;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
}

static __always_inline void emit_simple(const struct sock *sk, __u64 cookie, __u16 event)
{
	struct hs_tcp_rec *r = tcp_rec_new(sk, cookie, event);

	if (!r) {
		if (event == HS_EV_CLOSED) {
			__u64 now = bpf_ktime_get_ns();

			bpf_map_update_elem(&lost_closes, &cookie, &now, BPF_ANY);
		}
		return;
	}
	if (event == HS_EV_CLOSED)
		r->sk_err = sk->sk_err;
	bpf_ringbuf_submit(r, rb_wakeup());
}

/* The peer's FIN, once while the connection has state: several state changes can follow it
 * (FIN_WAIT1 -> CLOSING, then the hand-over to a time-wait socket, reported as -> CLOSE). The
 * collector keeps one fin_in anyway: most connections have no state left when they close. */
static __always_inline void emit_fin_in(const struct sock *sk, __u64 cookie)
{
	struct sk_state *s = bpf_sk_storage_get(&sk_states, (struct sock *)sk, 0, 0);
	struct hs_tcp_rec *r;
	struct fin_note *n;
	__u32 zero = 0;

	if (s) {
		if (s->flags & SKF_FIN_IN)
			return;
		s->flags |= SKF_FIN_IN;
	}
	r = tcp_rec_new(sk, cookie, HS_EV_FIN_IN);
	if (!r)
		return;
	/* When the FIN arrived, if the ingress program saw it just before (struct fin_note). */
	n = bpf_map_lookup_elem(&fin_notes, &zero);
	if (n && n->cookie == cookie && take_arrival(r, n->ts_ns))
		n->cookie = 0;
	bpf_ringbuf_submit(r, rb_wakeup());
}

/* The calling thread connected or accepted the connection: a later X509_verify_cert() of this
 * thread is about it, unless it does I/O on another tracked socket first. */
static __always_inline void thread_note_socket(__u64 cookie)
{
	struct thread_state *ts = thread_state(true);

	if (ts)
		ts->last_cookie = cookie;
}

/* Starts following a connection: its socket-local storage. Client: at CLOSE -> SYN_SENT, in
 * connect(); the SYN, which sets where the outgoing stream starts, is sent just after. */
static __always_inline struct sk_state *sk_state_new(const struct sock *sk, __u64 cookie)
{
	struct sk_state *s;

	s = bpf_sk_storage_get(&sk_states, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s && !s->cookie)
		s->cookie = cookie;
	return s;
}

/* The start of the incoming stream was received before hstrace could follow it (a TCP Fast
 * Open SYN's data, queued by the server before its socket is established): its framing is
 * lost from the start, and said so (HS_TLS_DESYNC), never guessed. */
static __always_inline void sk_state_missed_start(struct sk_state *s)
{
	struct hs_tls_rec *r;

	s->dir[D_IN].flags |= TLSF_F_STOPPED | TLSF_F_DESYNC;
	r = rec_reserve(HS_REC_TLS, HS_TLS_REC_HDR_SIZE, s->cookie);
	if (!r)
		return;
	r->what = HS_TLS_DESYNC;
	r->dir = HS_DIR_IN;
	bpf_ringbuf_submit(r, rb_wakeup());
}

/* Does the first segment kept by the ingress program on a listening socket belong to the new
 * server socket sk? Then its stream starts with it: its framing state is taken over and its
 * records are sent with sk's cookie. Runs at -> ESTABLISHED, in the same softirq, on the
 * same CPU, as the ingress program that kept it (the socket is created for that very
 * segment; at LISTEN -> SYN_RECV its addresses are not set yet). A TCP Fast Open SYN's data
 * is not adopted: the socket is established by a later packet (sk_state_missed_start()). */
static __always_inline void adopt_first_segment(const struct sock *sk, struct sk_state *s)
{
	struct first_segment *first;
	__u32 zero = 0, i, size;

	first = bpf_map_lookup_elem(&first_segments, &zero);
	if (!first || !first->ts_ns || s->known[D_IN] || !seg_addrs_match(sk, &first->addrs))
		return;
	first->ts_ns = 0;
	s->dir[D_IN] = first->st;
	s->base[D_IN] = first->seq;
	s->next[D_IN] = first->seq + first->len;
	s->known[D_IN] = 1;
	if (s->dir[D_IN].flags & TLSF_F_NOT_TLS) {
		s->dir[D_OUT].flags |= TLSF_F_STOPPED;
		s->flags |= SKF_DONE | SKF_CALLS_DONE;
	}
	for (i = 0; i < FIRST_RECS; i++) {
		if (i >= first->n_recs)
			break;
		first->recs[i].hdr.cookie = s->cookie;
		size = first->recs[i].hdr.size;
		if (size > sizeof(first->recs[i]))
			break;
		if (bpf_ringbuf_output(&events, &first->recs[i], size, rb_wakeup()))
			__sync_fetch_and_add(&lost_records, 1);
	}
}

/* When the segment that completed server connection sk's handshake passed the ingress
 * program (struct ack_note), if it is the one the note is about; 0 unknown. */
static __always_inline __u64 take_ack_note(const struct sock *sk)
{
	struct ack_note *n;
	__u32 zero = 0;
	__u64 ts;

	n = bpf_map_lookup_elem(&ack_notes, &zero);
	if (!n || !n->ts_ns || !seg_addrs_match(sk, &n->addrs))
		return 0;
	ts = n->ts_ns;
	n->ts_ns = 0;
	return ts;
}

/* When the SYN of server connection sk arrived, as the ingress program noted it (struct
 * syn_key), if its ISN is the connection's; 0 unknown. The note is deleted. */
static __always_inline __u64 take_syn_note(const struct sock *sk, __u32 isn_peer)
{
	struct syn_key key = {};
	struct syn_note *note;
	__u64 ts = 0;

	if (sk->__sk_common.skc_family == AF_INET6) {
		struct in6_addr peer = sk->__sk_common.skc_v6_daddr;
		struct in6_addr local = sk->__sk_common.skc_v6_rcv_saddr;

		__builtin_memcpy(key.peer, &peer, 16);
		__builtin_memcpy(key.local, &local, 16);
	} else {
		key.peer[2] = key.local[2] = bpf_htonl(0xffff);
		key.peer[3] = sk->__sk_common.skc_daddr;
		key.local[3] = sk->__sk_common.skc_rcv_saddr;
	}
	key.peer_port = sk->__sk_common.skc_dport;
	key.local_port = sk->__sk_common.skc_num;
	note = bpf_map_lookup_elem(&syn_notes, &key);
	if (!note)
		return 0;
	if (note->seq == isn_peer)
		ts = note->ts_ns;
	bpf_map_delete_elem(&syn_notes, &key);
	return ts;
}

/*
 * The ESTABLISHED record, with both initial sequence numbers: what both ends of a connection
 * saw alike, so they compute the same connection id (user/conn_id.c). snd_una and rcv_nxt
 * have moved past the ISNs by the bytes counted in bytes_acked and bytes_received (data on a
 * TCP Fast Open SYN included); a client's bytes_acked also counts its SYN, a server child's
 * starts after it (the child is born with its SYN-ACK acknowledged). A server's record also
 * carries when its SYN arrived (take_syn_note()).
 */
static __always_inline void emit_established(const struct sock *sk, __u64 cookie, bool client,
					     __u64 arrival_ns)
{
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	struct hs_tcp_rec *r = tcp_rec_new(sk, cookie, HS_EV_ESTABLISHED);

	if (!r)
		return;
	/* The event is when its packet arrived, if the ingress program saw it just before. */
	take_arrival(r, arrival_ns);
	if (tp) {
		r->isn_local = tp->snd_una - (__u32)tp->bytes_acked - (client ? 0 : 1);
		r->isn_peer = tp->rcv_nxt - (__u32)tp->bytes_received - 1;
	}
	if (!client)
		r->syn_ns = take_syn_note(sk, r->isn_peer);
	bpf_ringbuf_submit(r, rb_wakeup());
}

/* -> ESTABLISHED: the streams start here (unless the client's SYN carried data: then its
 * outgoing stream was set by the SYN itself, see tls_capture.bpf.h). Returns when the packet
 * that established the connection passed the ingress program (a client's SYN-ACK, a server's
 * ACK or first payload segment), 0 unknown. */
static __always_inline __u64 sk_state_established(const struct sock *sk, __u64 cookie,
						  bool client)
{
	const struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	struct sk_state *s = sk_state_new(sk, cookie);
	__u64 received, arrival_ns = client ? 0 : take_ack_note(sk);

	if (!s || !tp)
		return arrival_ns;
	if (client)
		arrival_ns = s->synack_ns;
	if (!(s->flags & SKF_CLIENT))
		adopt_first_segment(sk, s);
	if (!s->known[D_OUT]) {
		s->base[D_OUT] = s->next[D_OUT] = tp->snd_una;
		s->known[D_OUT] = 1;
	}
	if (!s->known[D_IN]) {
		received = tp->bytes_received;
		s->next[D_IN] = tp->rcv_nxt;
		s->base[D_IN] = s->next[D_IN] - (__u32)received;
		s->known[D_IN] = 1;
		if (received)
			sk_state_missed_start(s);
	}
	return arrival_ns;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct hs_tcp_rec *r;
	struct sk_state *s;
	__u64 cookie;

	if (!sk_is_tcp_inet(sk))
		return 0;
	cookie = bpf_get_socket_cookie((void *)sk);

	switch (newstate) {
	case HS_TCP_SYN_SENT:
		/* Runs inside the connect() caller: the owner is the current task. */
		s = sk_state_new(sk, cookie);
		if (s)
			s->flags |= SKF_CLIENT | SKF_OWNER;
		r = tcp_rec_new(sk, cookie, HS_EV_SYN_SENT);
		if (!r)
			return 0;
		rec_set_owner(r);
		xmit_watch_set(cookie, HS_SENT_SYN, 0, 0, 0, r->hdr.ts_ns);
		bpf_ringbuf_submit(r, rb_wakeup());
		thread_note_socket(cookie);
		break;
	case HS_TCP_SYN_RECV:
		if (oldstate == HS_TCP_LISTEN)
			emit_simple(sk, cookie, HS_EV_SYN_RECV);
		break;
	case HS_TCP_ESTABLISHED:
		emit_established(sk, cookie, oldstate == HS_TCP_SYN_SENT,
				 sk_state_established(sk, cookie, oldstate == HS_TCP_SYN_SENT));
		break;
	case HS_TCP_FIN_WAIT1:
	case HS_TCP_LAST_ACK:
		emit_simple(sk, cookie, HS_EV_FIN_OUT);
		xmit_watch_fin(sk, cookie);
		break;
	case HS_TCP_CLOSE_WAIT:
	case HS_TCP_CLOSING:
		emit_fin_in(sk, cookie);
		break;
	case HS_TCP_TIME_WAIT:
		if (oldstate == HS_TCP_FIN_WAIT1 || oldstate == HS_TCP_FIN_WAIT2)
			emit_fin_in(sk, cookie);
		break;
	case HS_TCP_CLOSE:
		if (oldstate == HS_TCP_LISTEN) /* a listener, not a connection */
			break;
		/* FIN_WAIT2 -> TIME_WAIT is reported as -> CLOSE (the time-wait mini socket takes
		 * over): the peer's FIN shows as SOCK_DONE, which tcp_fin() sets and a reset does
		 * not (sk_shutdown is no use: close() sets it). */
		if ((oldstate == HS_TCP_FIN_WAIT1 || oldstate == HS_TCP_FIN_WAIT2 ||
		     oldstate == HS_TCP_CLOSING) &&
		    (sk->__sk_common.skc_flags & (1UL << SOCK_DONE)))
			emit_fin_in(sk, cookie);
		/* The application calls still noted go before the end of the timeline. */
		s = bpf_sk_storage_get(&sk_states, (struct sock *)sk, 0, 0);
		if (s)
			io_notes_flush(s);
		emit_simple(sk, cookie, HS_EV_CLOSED);
		/* Early segments of a gap that will never be filled now. */
		if (s && (s->flags & SKF_EARLY))
			bpf_map_delete_elem(&earlies, &cookie);
		break;
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_retransmit, const struct sock *sk)
{
	if (sk->__sk_common.skc_state != HS_TCP_SYN_SENT)
		return 0;
	emit_simple(sk, bpf_get_socket_cookie((void *)sk), HS_EV_SYN_RETRANSMIT);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(handle_receive_reset, struct sock *sk)
{
	if (!sk_is_tcp_inet(sk))
		return 0;
	emit_simple(sk, bpf_get_socket_cookie(sk), HS_EV_RESET_IN);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(handle_send_reset, const struct sock *sk)
{
	__u8 state;

	/* sk is NULL for a reset answering no socket, or a mini socket (time-wait, request). */
	if (!sk)
		return 0;
	state = sk->__sk_common.skc_state;
	if (state == HS_TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV || state == HS_TCP_LISTEN)
		return 0;
	if (!sk_is_tcp_inet(sk))
		return 0;
	emit_simple(sk, bpf_get_socket_cookie((void *)sk), HS_EV_RESET_OUT);
	return 0;
}

/*
 * accept(): when it is asked for the peer's address (nginx, OpenSSL, Python, Go, Java and
 * most servers ask), it runs the cgroup getpeername hook on the new socket, in the caller's
 * context. A getpeername() call later on runs it too; only the first one on a server
 * connection counts. A sock_addr program's return value 1 lets the call go on unchanged.
 */
static __always_inline void on_getpeername(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *bsk = ctx->sk;
	struct hs_tcp_rec *r;
	struct sk_state *s;

	if (!bsk)
		return;
	s = bpf_sk_storage_get(&sk_states, bsk, 0, 0);
	if (!s || (s->flags & (SKF_CLIENT | SKF_ACCEPTED)))
		return;
	s->flags |= SKF_ACCEPTED | SKF_OWNER;
	/* Addresses and counters come with the other records of the connection. */
	r = rec_reserve(HS_REC_TCP, sizeof(*r), s->cookie);
	if (!r)
		return;
	r->event = HS_EV_ACCEPTED;
	rec_set_owner(r);
	bpf_ringbuf_submit(r, rb_wakeup());
	thread_note_socket(s->cookie);
	if (sk_state_finished(s)) /* a plain connection whose data came before accept() */
		bpf_sk_storage_delete(&sk_states, bsk);
}

SEC("cgroup/getpeername4")
int handle_getpeername4(struct bpf_sock_addr *ctx)
{
	on_getpeername(ctx);
	return 1;
}

SEC("cgroup/getpeername6")
int handle_getpeername6(struct bpf_sock_addr *ctx)
{
	on_getpeername(ctx);
	return 1;
}

#endif /* HSTRACE_TCP_STATES_BPF_H */
