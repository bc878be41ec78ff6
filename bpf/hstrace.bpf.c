// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * hstrace.bpf.c - kernel side of hstrace: TCP state changes and socket ownership.
 *
 * Hooks (all work on a kernel without kprobes/fentry):
 *   tp_btf/inet_sock_set_state   every TCP state change (both roles), in any context
 *   tp_btf/tcp_retransmit_skb    SYN retransmissions (only while SYN_SENT)
 *   tp_btf/tcp_receive_reset     RST received
 *   tp_btf/tcp_send_reset        RST sent on a full socket
 *   tracepoint/syscalls/sys_{enter,exit}_connect   fd of the connect() in flight
 *   tracepoint/syscalls/sys_exit_accept{,4}         the accept() caller owns the returned socket
 *   tracepoint/syscalls/sys_{enter,exit}_{read,write,recvfrom,sendto,readv,writev,recvmsg,
 *                                          sendmsg}, sys_enter_close
 *                                TLS framing of tracked sockets (tls_framing.h)
 *
 * The owner (pid/comm) of a connection is never taken from a state change that may run in
 * softirq context (where "current" is whoever happened to run, often the peer on loopback).
 * It comes from CLOSE -> SYN_SENT, which the kernel runs synchronously inside the caller's
 * connect() (or sendto(MSG_FASTOPEN)), and from accept() returning the socket.
 *
 * Connection identity is the socket cookie (a 64-bit counter the kernel never reuses).
 *
 * TLS: a socket is tracked from connect()/accept() on, keyed by (tgid, fd) in tls_conns. For
 * an untracked fd a read/write costs one lookup at entry and one at exit. A tracked socket
 * whose first bytes are not TLS, or whose both directions are past the handshake
 * (TLSF_MAX_ENCRYPTED encrypted records), is dropped from tls_conns and costs nothing more.
 * Only headers leave the kernel, plus the start of ClientHello/ServerHello/ServerKeyExchange
 * bodies and plaintext alert bytes: never application data.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hstrace.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_NEW_SYN_RECV 12
#define MSG_PEEK 2

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Records to user space. Size is set by user space before load (--ringbuf-kb). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* connect() calls in flight: thread id -> fd, so CLOSE -> SYN_SENT knows the caller's fd. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __s32);
} connecting SEC(".maps");

/* Records that did not fit in the ring buffer. Read by user space and shown. */
__u64 lost_records = 0;

/* Ring-buffer data that wakes the consumer early; below it, user space picks records up on
 * its own poll timeout (tracer_poll()). Waking it for every record costs the producer a
 * wake-up each time (measured: several µs per record on this VM). */
#define RB_WAKEUP_BYTES (256 * 1024)

static __always_inline __u64 rb_wakeup(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= RB_WAKEUP_BYTES ?
		       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* A read/write on a tracked socket in flight: its arguments (struct thread_state). */
struct io_args {
	__u64 key;  /* tls_conns key */
	__u64 addr; /* buffer, iovec array or user_msghdr */
	__u32 kind; /* IO_BUF, IO_IOV, IO_MSG */
	__u32 cnt;  /* iovec count (IO_IOV) */
	__u8 dir;   /* HS_DIR_OUT / HS_DIR_IN */
};

enum { IO_BUF = 1, IO_IOV = 2, IO_MSG = 3 };
#define IO_MAX_IOV 8

/* Where a TLS record is composed: it is larger than the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hs_tls_rec);
} tls_scratch SEC(".maps");

struct tlsf_io;
static int tlsf_on_record(struct tlsf_io *io, __u8 type, __u16 version, __u32 len, __u64 body,
			  __u32 avail, int encrypted);
static int tlsf_on_handshake(struct tlsf_io *io, __u8 type, __u32 len, __u64 body, __u32 avail);
static int tlsf_on_certs(struct tlsf_io *io, __u32 count, __u32 len);
static int tlsf_on_desync(struct tlsf_io *io);
static int tlsf_on_alert(struct tlsf_io *io, __u16 version, __u32 len, __u8 level, __u8 desc);

/* Reads a header fragment (at most 7 bytes) from user memory, bounded for the verifier. */
static __always_inline long tlsf_read_user(void *dst, __u32 size, __u64 addr)
{
	__u64 n = size;

	barrier_var(n);
	if (n > 7)
		n = 7;
	return bpf_probe_read_user(dst, n, (const void *)addr);
}

#define TLSF_READ(dst, size, addr) tlsf_read_user((dst), (size), (addr))
#define TLSF_FUNC __noinline /* global: verified once, called from every I/O program */
#include "tls_framing.h"

/* TLS framing state of a tracked socket, both directions (index HS_DIR_x - 1). */
struct tls_conn {
	__u64 cookie;
	struct tls_stream dir[2];
};

/* Tracked sockets: (tgid << 32 | fd) -> state. LRU: a process that exits without close()
 * leaves entries behind that age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tls_conn);
} tls_conns SEC(".maps");

/* Sends one TLS record to user space. data[]: data_len bytes copied from user address data,
 * or, when data is 0, the two bytes of `two` (high byte first). */
static __always_inline void tls_emit(struct tlsf_io *io, __u8 what, __u8 ctype, __u8 hs_type,
				     __u16 version, __u32 len, __u32 count, __u64 data,
				     __u32 data_len, __u16 two)
{
	struct hs_tls_rec *r;
	__u32 zero = 0;
	__u64 n = data_len, size;

	r = bpf_map_lookup_elem(&tls_scratch, &zero);
	if (!r)
		return;
	/* Bound the copy in a 64-bit register the verifier can follow. */
	barrier_var(n);
	if (n > HS_TLS_DATA_MAX)
		n = HS_TLS_DATA_MAX;
	if (n && !data) {
		n = 2;
		r->data[0] = two >> 8;
		r->data[1] = two & 0xff;
	} else if (n && bpf_probe_read_user(r->data, n, (const void *)data)) {
		n = 0;
	}
	size = HS_TLS_REC_HDR_SIZE + n;
	r->hdr.kind = HS_REC_TLS;
	r->hdr.size = size;
	r->hdr.cpu = bpf_get_smp_processor_id();
	r->hdr.ts_ns = io->ts_ns;
	r->hdr.cookie = io->cookie;
	r->what = what;
	r->dir = io->dir;
	r->content_type = ctype;
	r->hs_type = hs_type;
	r->version = version;
	r->data_len = n;
	r->len = len;
	r->count = count;
	r->pid = io->pid;
	r->tid = io->tid;
	r->fd = io->fd;
	r->io_len = io->io_len;
	if (size > sizeof(*r))
		return;
	if (bpf_ringbuf_output(&events, r, size, rb_wakeup()))
		__sync_fetch_and_add(&lost_records, 1);
}

static int tlsf_on_record(struct tlsf_io *io, __u8 type, __u16 version, __u32 len, __u64 body,
			  __u32 avail, int encrypted)
{
	/* The header only: nothing of any record's body leaves the kernel. */
	(void)body;
	(void)avail;
	(void)encrypted;
	tls_emit(io, HS_TLS_RECORD, type, 0, version, len, 0, 0, 0, 0);
	return 0;
}

/* A plaintext alert: its record, with level and description in data[0..1]. */
static int tlsf_on_alert(struct tlsf_io *io, __u16 version, __u32 len, __u8 level, __u8 desc)
{
	tls_emit(io, HS_TLS_RECORD, 21, 0, version, len, 0, 0, 2, (__u16)level << 8 | desc);
	return 0;
}

static int tlsf_on_handshake(struct tlsf_io *io, __u8 type, __u32 len, __u64 body, __u32 avail)
{
	__u32 n = 0;

	if (type == 1 || type == 2) /* ClientHello, ServerHello: SNI, ALPN, versions, ... */
		n = avail;
	else if (type == 12) /* ServerKeyExchange: curve type and group */
		n = tlsf_min(avail, 8);
	tls_emit(io, HS_TLS_HANDSHAKE, 22, type, 0, len, 0, body, n, 0);
	return 0;
}

static int tlsf_on_certs(struct tlsf_io *io, __u32 count, __u32 len)
{
	tls_emit(io, HS_TLS_CERTS, 22, 11, 0, len, count, 0, 0, 0);
	return 0;
}

static int tlsf_on_desync(struct tlsf_io *io)
{
	tls_emit(io, HS_TLS_DESYNC, 0, 0, 0, 0, 0, 0, 0, 0);
	return 0;
}

/* Starts following TLS on the current process's fd for connection cookie. */
static __always_inline void tls_track(__s32 fd, __u64 cookie)
{
	struct tls_conn c = { .cookie = cookie };
	__u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)fd;

	if (fd >= 0)
		bpf_map_update_elem(&tls_conns, &key, &c, BPF_ANY);
}

static __always_inline bool sk_is_tcp_inet(const struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family != AF_INET && family != AF_INET6)
		return false;
	return BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP;
}

/* Reserves a zeroed TCP record for sk, with addresses, ports and TCP counters filled in.
 * Returns NULL (and counts the loss) when the ring buffer is full. */
static __always_inline struct hs_tcp_rec *tcp_rec_new(const struct sock *sk, __u64 cookie,
						      __u16 event)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	struct hs_tcp_rec *r;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&lost_records, 1);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->hdr.kind = HS_REC_TCP;
	r->hdr.size = sizeof(*r);
	r->hdr.cpu = bpf_get_smp_processor_id();
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->hdr.cookie = cookie;
	r->event = event;
	r->fd = -1;
	r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	r->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (r->family == AF_INET) {
		bpf_core_read(r->saddr, sizeof(__u32), &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(r->daddr, sizeof(__u32), &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(r->saddr, sizeof(struct in6_addr), &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(r->daddr, sizeof(struct in6_addr), &sk->__sk_common.skc_v6_daddr);
	}
	r->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	r->retrans = BPF_CORE_READ(tp, total_retrans);
	r->data_segs_out = BPF_CORE_READ(tp, data_segs_out);
	r->data_segs_in = BPF_CORE_READ(tp, data_segs_in);
	r->bytes_sent = BPF_CORE_READ(tp, bytes_sent);
	/* bytes_received is rcv_nxt progress: the peer's FIN (SOCK_DONE) counts one. */
	r->bytes_received = BPF_CORE_READ(tp, bytes_received);
	if (r->bytes_received && (BPF_CORE_READ(sk, __sk_common.skc_flags) & (1UL << SOCK_DONE)))
		r->bytes_received--;
	return r;
}

/* Marks r as owned by the current task (only call in the owner's own syscall context). */
static __always_inline void tcp_rec_set_owner(struct hs_tcp_rec *r, __s32 fd)
{
	__u64 id = bpf_get_current_pid_tgid();

	r->flags |= HS_F_OWNER;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->fd = fd;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
}

static __always_inline void emit_simple(const struct sock *sk, __u64 cookie, __u16 event,
					int oldstate, int newstate)
{
	struct hs_tcp_rec *r = tcp_rec_new(sk, cookie, event);

	if (!r)
		return;
	r->old_state = oldstate;
	r->new_state = newstate;
	if (event == HS_EV_CLOSED)
		r->sk_err = BPF_CORE_READ(sk, sk_err);
	bpf_ringbuf_submit(r, rb_wakeup());
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct hs_tcp_rec *r;
	__u64 cookie;
	__u32 tid;
	__s32 *fd;

	if (!sk_is_tcp_inet(sk))
		return 0;
	cookie = bpf_get_socket_cookie((void *)sk);

	if (newstate == HS_TCP_SYN_SENT) {
		/* Runs inside the connect() caller: the owner is the current task. */
		r = tcp_rec_new(sk, cookie, HS_EV_SYN_SENT);
		if (!r)
			return 0;
		tid = (__u32)bpf_get_current_pid_tgid();
		fd = bpf_map_lookup_elem(&connecting, &tid);
		tcp_rec_set_owner(r, fd ? *fd : -1);
		r->old_state = oldstate;
		r->new_state = newstate;
		bpf_ringbuf_submit(r, rb_wakeup());
		if (fd)
			tls_track(*fd, cookie);
		return 0;
	}

	switch (newstate) {
	case HS_TCP_SYN_RECV:
		if (oldstate == HS_TCP_LISTEN)
			emit_simple(sk, cookie, HS_EV_SYN_RECV, oldstate, newstate);
		break;
	case HS_TCP_ESTABLISHED:
		emit_simple(sk, cookie, HS_EV_ESTABLISHED, oldstate, newstate);
		break;
	case HS_TCP_FIN_WAIT1:
	case HS_TCP_LAST_ACK:
		emit_simple(sk, cookie, HS_EV_FIN_OUT, oldstate, newstate);
		break;
	case HS_TCP_CLOSE_WAIT:
	case HS_TCP_CLOSING:
		emit_simple(sk, cookie, HS_EV_FIN_IN, oldstate, newstate);
		break;
	case HS_TCP_TIME_WAIT:
		if (oldstate == HS_TCP_FIN_WAIT1 || oldstate == HS_TCP_FIN_WAIT2)
			emit_simple(sk, cookie, HS_EV_FIN_IN, oldstate, newstate);
		break;
	case HS_TCP_CLOSE:
		if (oldstate == HS_TCP_LISTEN) /* a listener, not a connection */
			break;
		/* FIN_WAIT2 -> TIME_WAIT is reported as -> CLOSE (the time-wait mini socket takes
		 * over): the peer's FIN shows as SOCK_DONE, which tcp_fin() sets and a reset does
		 * not (sk_shutdown is no use: close() sets it). */
		if ((oldstate == HS_TCP_FIN_WAIT1 || oldstate == HS_TCP_FIN_WAIT2) &&
		    (BPF_CORE_READ(sk, __sk_common.skc_flags) & (1UL << SOCK_DONE)))
			emit_simple(sk, cookie, HS_EV_FIN_IN, oldstate, newstate);
		emit_simple(sk, cookie, HS_EV_CLOSED, oldstate, newstate);
		break;
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(handle_retransmit, const struct sock *sk)
{
	if (BPF_CORE_READ(sk, __sk_common.skc_state) != HS_TCP_SYN_SENT)
		return 0;
	emit_simple(sk, bpf_get_socket_cookie((void *)sk), HS_EV_SYN_RETRANSMIT, 0, 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(handle_receive_reset, struct sock *sk)
{
	if (!sk_is_tcp_inet(sk))
		return 0;
	emit_simple(sk, bpf_get_socket_cookie(sk), HS_EV_RESET_IN, 0, 0);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(handle_send_reset, const struct sock *sk)
{
	__u8 state;

	/* sk is NULL for a reset answering no socket, or a mini socket (time-wait, request). */
	if (!sk)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == HS_TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV || state == HS_TCP_LISTEN)
		return 0;
	if (!sk_is_tcp_inet(sk))
		return 0;
	emit_simple(sk, bpf_get_socket_cookie((void *)sk), HS_EV_RESET_OUT, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int handle_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__s32 fd = (__s32)ctx->args[0];

	bpf_map_update_elem(&connecting, &tid, &fd, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int handle_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&connecting, &tid);
	return 0;
}

/* Returns the struct sock behind the current task's fd, or NULL when fd is not a socket. */
static __always_inline struct sock *sock_from_fd(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;

	if (fd < 0 || !fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	/* A socket's file and struct socket point at each other; anything else is not one. */
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

static __always_inline int on_accept_return(long ret)
{
	struct hs_tcp_rec *r;
	struct sock *sk;
	__u64 cookie;

	if (ret < 0)
		return 0;
	sk = sock_from_fd((int)ret);
	if (!sk || !sk_is_tcp_inet(sk))
		return 0;
	/* The cookie was assigned when the child socket appeared (LISTEN -> SYN_RECV); zero
	 * means hstrace was not running then: user space would not know it anyway. */
	cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	if (!cookie)
		return 0;
	r = tcp_rec_new(sk, cookie, HS_EV_ACCEPTED);
	if (!r)
		return 0;
	tcp_rec_set_owner(r, (__s32)ret);
	bpf_ringbuf_submit(r, rb_wakeup());
	tls_track((__s32)ret, cookie);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int handle_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_return(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_return(ctx->ret);
}

/*
 * OpenSSL uprobes. An SSL object is bound to its connection by the socket I/O its thread does
 * on a tracked socket while inside SSL_do_handshake(): no OpenSSL struct offsets are read.
 */
struct ssl_call {
	__u64 ssl;
	__u64 entry_ns;
	__u32 depth; /* nested calls on this thread: counted once */
	__u32 lib_id;
};

struct ssl_key {
	__u64 tgid;
	__u64 ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __u64); /* cookie */
} ssl_conns SEC(".maps");

struct verify_call {
	__u64 entry_ns;
	__u32 depth;
	__u32 lib_id;
};

/*
 * Per-thread state, in task-local storage: a lookup is a pointer chase (no hashing, no lock)
 * and a thread without any (one that never touched a tracked socket) costs a NULL check on
 * every system call exit. Freed with the thread.
 */
struct thread_state {
	struct io_args io;	   /* the tracked read/write in flight, when io_pending */
	__u64 last_cookie;	   /* tracked socket this thread last did I/O on, 0 none */
	struct ssl_call call;	   /* SSL_do_handshake() in progress, when in_call */
	struct verify_call verify; /* X509_verify_cert() in progress, when in_verify */
	__u8 io_pending;
	__u8 in_call;
	__u8 in_verify;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread_state);
} threads SEC(".maps");

/* The calling thread's state; created when create is set. NULL if it has none (or the
 * storage is busy: a BPF program running inside another one's use of it). */
static __always_inline struct thread_state *thread_state(bool create)
{
	return bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* Called for I/O on a tracked socket: binds the SSL object in a handshake call, if any. */
static __always_inline void ssl_note_io(struct thread_state *ts, __u64 id, __u64 cookie)
{
	struct ssl_key k;
	__u64 *cur;

	ts->last_cookie = cookie;
	if (!ts->in_call)
		return;
	k.tgid = id >> 32;
	k.ssl = ts->call.ssl;
	cur = bpf_map_lookup_elem(&ssl_conns, &k);
	if (!cur || *cur != cookie) /* the same binding again on every I/O of the call */
		bpf_map_update_elem(&ssl_conns, &k, &cookie, BPF_ANY);
}

static __always_inline void ssl_emit(__u8 what, __u64 cookie, __s32 ret, __u64 entry_ns,
				     __u64 ssl, __u32 lib_id)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct hs_ssl_rec *r;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&lost_records, 1);
		return;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->hdr.kind = HS_REC_SSL;
	r->hdr.size = sizeof(*r);
	r->hdr.cpu = bpf_get_smp_processor_id();
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->hdr.cookie = cookie;
	r->what = what;
	r->ret = ret;
	r->entry_ns = entry_ns;
	r->ssl = ssl;
	r->pid = id >> 32;
	r->tid = (__u32)id;
	r->lib_id = lib_id;
	bpf_ringbuf_submit(r, rb_wakeup());
}

SEC("uprobe")
int BPF_KPROBE(handle_ssl_handshake_enter, void *ssl)
{
	struct thread_state *ts = thread_state(true);

	if (!ts)
		return 0;
	if (ts->in_call) {
		ts->call.depth++;
		return 0;
	}
	ts->call.ssl = (__u64)ssl;
	ts->call.entry_ns = bpf_ktime_get_ns();
	ts->call.depth = 0;
	ts->call.lib_id = (__u32)bpf_get_attach_cookie(ctx);
	ts->in_call = 1;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(handle_ssl_handshake_exit, int ret)
{
	struct thread_state *ts = thread_state(false);
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_key k;
	__u64 *cookie;

	if (!ts || !ts->in_call)
		return 0;
	if (ts->call.depth) {
		ts->call.depth--;
		return 0;
	}
	ts->in_call = 0;
	k.tgid = id >> 32;
	k.ssl = ts->call.ssl;
	cookie = bpf_map_lookup_elem(&ssl_conns, &k);
	/* No socket I/O inside the call (memory BIOs, e.g. Python's asyncio): take the socket
	 * this thread last did TLS I/O on. */
	ssl_emit(HS_SSL_HANDSHAKE, cookie ? *cookie : ts->last_cookie, ret, ts->call.entry_ns,
		 ts->call.ssl, ts->call.lib_id);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(handle_verify_enter)
{
	struct thread_state *ts = thread_state(true);

	if (!ts)
		return 0;
	if (ts->in_verify) {
		ts->verify.depth++;
		return 0;
	}
	ts->verify.entry_ns = bpf_ktime_get_ns();
	ts->verify.depth = 0;
	ts->verify.lib_id = (__u32)bpf_get_attach_cookie(ctx);
	ts->in_verify = 1;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(handle_verify_exit, int ret)
{
	struct thread_state *ts = thread_state(false);

	if (!ts || !ts->in_verify)
		return 0;
	if (ts->verify.depth) {
		ts->verify.depth--;
		return 0;
	}
	ts->in_verify = 0;
	ssl_emit(HS_SSL_VERIFY, ts->last_cookie, ret, ts->verify.entry_ns, 0, ts->verify.lib_id);
	return 0;
}

/* A new program image: user space scans it for TLS libraries (after the loader ran). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec)
{
	struct hs_exec_rec *r;

	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&lost_records, 1);
		return 0;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->hdr.kind = HS_REC_EXEC;
	r->hdr.size = sizeof(*r);
	r->hdr.cpu = bpf_get_smp_processor_id();
	r->hdr.ts_ns = bpf_ktime_get_ns();
	r->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_ringbuf_submit(r, rb_wakeup());
	return 0;
}

/* System call entry on fd: remembers the arguments when fd is a tracked socket. */
static __always_inline int io_enter(long fd, __u64 addr, __u32 kind, __u32 cnt, __u8 dir,
				    long flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = (id & 0xffffffff00000000ULL) | (__u32)fd;
	struct thread_state *ts;
	struct tls_conn *c;

	c = bpf_map_lookup_elem(&tls_conns, &key);
	if (!c)
		return 0;
	/* A peek (nginx reads the first byte to tell TLS from plain HTTP) consumes nothing. */
	if (flags & MSG_PEEK)
		return 0;
	/* This direction is past its handshake (the other may not be yet): nothing to do. */
	if (c->dir[dir == HS_DIR_OUT ? 0 : 1].flags & TLSF_F_STOPPED)
		return 0;
	ts = thread_state(true);
	if (!ts)
		return 0;
	ts->io.key = key;
	ts->io.addr = addr;
	ts->io.kind = kind;
	ts->io.cnt = cnt;
	ts->io.dir = dir;
	ts->io_pending = 1;
	ssl_note_io(ts, id, c->cookie);
	return 0;
}

/* Feeds up to IO_MAX_IOV iovecs holding `total` bytes. */
static __always_inline int feed_iov(struct tls_stream *st, struct tlsf_io *io, __u64 iov_addr,
				    __u32 cnt, __u32 total)
{
	struct iovec iov;
	int i, r = TLSF_WAIT;

	for (i = 0; i < IO_MAX_IOV; i++) {
		if (i >= cnt || !total)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)(iov_addr + i * sizeof(iov))))
			return tlsf_stop(st, io, TLSF_F_DESYNC);
		io->buf = (__u64)iov.iov_base;
		io->len = iov.iov_len < total ? iov.iov_len : total;
		io->off = 0;
		r = tlsf_feed(st, io);
		if (r == TLSF_STOP)
			return r;
		total -= io->len;
	}
	if (total) /* more iovecs than followed: the framing is lost */
		return tlsf_stop(st, io, TLSF_F_DESYNC);
	return r;
}

/* System call exit: feeds the bytes it moved to the direction's framing state. */
static __always_inline int io_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct tlsf_io io = {};
	struct thread_state *ts;
	struct tls_stream *st;
	struct tls_conn *c;
	__u64 key, addr;
	__u32 kind, cnt;
	__u8 dir;

	ts = thread_state(false);
	if (!ts || !ts->io_pending)
		return 0;
	key = ts->io.key;
	addr = ts->io.addr;
	kind = ts->io.kind;
	cnt = ts->io.cnt;
	dir = ts->io.dir;
	ts->io_pending = 0;
	if (ret <= 0)
		return 0;
	c = bpf_map_lookup_elem(&tls_conns, &key);
	if (!c)
		return 0;
	if (dir == HS_DIR_OUT)
		st = &c->dir[0];
	else
		st = &c->dir[1];

	io.cookie = c->cookie;
	io.ts_ns = bpf_ktime_get_ns();
	io.pid = id >> 32;
	io.tid = tid;
	io.fd = (__s32)(__u32)key;
	io.io_len = ret;
	io.dir = dir;
	if (kind == IO_BUF) {
		io.buf = addr;
		io.len = ret;
		tlsf_feed(st, &io);
	} else if (kind == IO_IOV) {
		feed_iov(st, &io, addr, cnt, ret);
	} else {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)addr))
			tlsf_stop(st, &io, TLSF_F_DESYNC);
		else
			feed_iov(st, &io, (__u64)msg.msg_iov, msg.msg_iovlen, ret);
	}

	/* Not TLS, or both directions past the handshake: stop following this socket. */
	if ((c->dir[0].flags | c->dir[1].flags) & TLSF_F_NOT_TLS ||
	    (c->dir[0].flags & c->dir[1].flags & TLSF_F_STOPPED))
		bpf_map_delete_elem(&tls_conns, &key);
	return 0;
}

/* flags_arg: index of the recv flags argument, or -1 (no flags). */
#define IO_PROGS(name, kind, dir, addr_arg, cnt_arg, flags_arg)                                \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                            \
	int handle_enter_##name(struct trace_event_raw_sys_enter *ctx)                          \
	{                                                                                      \
		return io_enter(ctx->args[0], (__u64)ctx->args[addr_arg], kind,                \
				(__u32)ctx->args[cnt_arg], dir,                                \
				flags_arg >= 0 ? ctx->args[(flags_arg) % 6] : 0);              \
	}                                                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                             \
	int handle_exit_##name(struct trace_event_raw_sys_exit *ctx)                            \
	{                                                                                      \
		return io_exit(ctx->ret);                                                      \
	}

IO_PROGS(read, IO_BUF, HS_DIR_IN, 1, 2, -1)
IO_PROGS(write, IO_BUF, HS_DIR_OUT, 1, 2, -1)
IO_PROGS(recvfrom, IO_BUF, HS_DIR_IN, 1, 2, 3)
IO_PROGS(sendto, IO_BUF, HS_DIR_OUT, 1, 2, -1)
IO_PROGS(readv, IO_IOV, HS_DIR_IN, 1, 2, -1)
IO_PROGS(writev, IO_IOV, HS_DIR_OUT, 1, 2, -1)
IO_PROGS(recvmsg, IO_MSG, HS_DIR_IN, 1, 2, 2)
IO_PROGS(sendmsg, IO_MSG, HS_DIR_OUT, 1, 2, -1)

SEC("tracepoint/syscalls/sys_enter_close")
int handle_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)ctx->args[0];

	bpf_map_delete_elem(&tls_conns, &key);
	return 0;
}
