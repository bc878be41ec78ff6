/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * socket_calls.bpf.h - socket send/receive calls on a followed connection, in the caller's
 * own context (tp_btf sock:sock_send_length / sock:sock_recv_length, Linux 6.3+).
 *
 * They run at the end of every sock_sendmsg()/sock_recvmsg() of every socket (TCP, UDP, unix),
 * never for files or pipes. A socket hstrace does not follow, or one past its handshake,
 * costs one socket-storage lookup. While a connection is in its handshake they tell:
 *   - who owns a server connection whose accept() was not seen (accept() without asking for
 *     the peer's address): the first caller, reported once (HS_EV_OWNER);
 *   - how far the application has written (send) or read (receive) each stream: one
 *     hs_io_rec per write and per read that completed a record, so user space knows when
 *     the application wrote or read each TLS record (the packet programs give when it was
 *     sent or arrived); they wait in the connection's state and leave together
 *     (struct io_note, io_notes_flush());
 *   - which connection the calling thread works on, for the OpenSSL probes (ssl_note_io()).
 * Without these tracepoints (older kernels) user space does not load these programs: the
 * owner is then known from connect() and accept() only, and a thread's connection is the one
 * it connected or accepted.
 */
#ifndef HSTRACE_SOCKET_CALLS_BPF_H
#define HSTRACE_SOCKET_CALLS_BPF_H

/* Has the application written (D_OUT) or read (D_IN) every byte the packet programs followed
 * in a direction they stopped following? Then its calls there say nothing new. */
static __always_inline bool app_caught_up(const struct sk_state *s, int d)
{
	return (s->dir[d & 1].flags & TLSF_F_STOPPED) &&
	       (__s32)(s->app_end[d & 1] - (s->next[d & 1] - s->base[d & 1])) >= 0;
}

/*
 * Did a read that took the incoming stream from offset old to end take the last byte of a
 * record? User space wants, per record, the call that did (its app_us); a read of a header
 * alone, or of part of a body, tells it nothing, and OpenSSL makes one of those per record.
 * The bytes read have arrived, so the framing (st) has seen them: its current record is the
 * last whose header was whole, at rec_seq, ending at rec_seq + 5 + rec_len. Ends of records
 * before it are not remembered: a read from before rec_seq counts (it took that record's
 * start, so maybe an earlier end). From rec_seq on, only the current record's end can lie in
 * the read; no record after it is complete yet.
 */
static __always_inline bool read_ends_record(const struct tls_stream *st, __u32 old, __u32 end)
{
	__u32 rec_end = st->rec_seq + 5 + st->rec_len;

	if ((__s32)(st->rec_seq - old) > 0)
		return true;
	return (__s32)(rec_end - old) > 0 && (__s32)(end - rec_end) >= 0;
}

/* Notes how far the application has moved stream d (D_OUT: written, D_IN: read): every
 * write, and every read that took the last byte of a record (struct io_note). */
static __always_inline void note_app_progress(struct sock *sk, struct sk_state *s, int d)
{
	const struct tcp_sock *tp;
	__u32 end, old;
	bool done;

	if (!s->known[d & 1] || app_caught_up(s, d))
		return;
	tp = bpf_skc_to_tcp_sock(sk); /* a plain load per field, no bpf_probe_read_kernel() */
	if (!tp)
		return;
	if (d == D_OUT)
		end = tp->write_seq - s->base[D_OUT];
	else
		end = tp->copied_seq - s->base[D_IN];
	if (end == s->app_end[d & 1]) /* nothing moved (MSG_PEEK, a zero-length call) */
		return;
	old = s->app_end[d & 1];
	s->app_end[d & 1] = end;
	done = app_caught_up(s, D_OUT) && app_caught_up(s, D_IN);
	if (done)
		s->flags |= SKF_CALLS_DONE;
	if (d == D_OUT || read_ends_record(&s->dir[D_IN], old, end))
		io_note_add(s, d == D_OUT ? HS_DIR_OUT : HS_DIR_IN, end);
	/* No call of this connection will be noted any more; or the socket is closed already
	 * (the application reads what was left after the peer's FIN), its CLOSE flush was before
	 * this call, and nothing would send the note. */
	if (done || sk->__sk_common.skc_state == HS_TCP_CLOSE)
		io_notes_flush(s);
}

static __always_inline void on_socket_call(struct sock *sk, int ret, int d)
{
	struct sk_state *s;
	struct hs_tcp_rec *r;

	/* A call that moved no bytes (would block, failed) matters only to the SSL_do_handshake()
	 * binding below: otherwise no lookup. The owner is then noted at its first call that did. */
	if (!sk || (ret <= 0 && !ssl_calls))
		return;
	s = bpf_sk_storage_get(&sk_states, sk, 0, 0);
	if (!s || (s->flags & SKF_CALLS_DONE))
		return;
	if (!(s->flags & SKF_OWNER)) {
		s->flags |= SKF_OWNER;
		r = tcp_rec_new(sk, s->cookie, HS_EV_OWNER);
		if (r) {
			rec_set_owner(r);
			bpf_ringbuf_submit(r, rb_wakeup());
		}
	}
	if (ret > 0)
		note_app_progress(sk, s, d);
	/* A call that would block binds an SSL object as well (SSL_do_handshake() probed); the
	 * thread's connection for X509_verify_cert() needs only calls that moved bytes. */
	if (ret > 0 || ssl_calls)
		ssl_note_io(s->cookie);
	if (sk_state_finished(s))
		bpf_sk_storage_delete(&sk_states, sk);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(handle_sock_send, struct sock *sk, int ret, int flags)
{
	on_socket_call(sk, ret, D_OUT);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_sock_recv, struct sock *sk, int ret, int flags)
{
	on_socket_call(sk, ret, D_IN);
	return 0;
}

#endif /* HSTRACE_SOCKET_CALLS_BPF_H */
