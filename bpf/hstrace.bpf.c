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
 *
 * The owner (pid/comm) of a connection is never taken from a state change that may run in
 * softirq context (where "current" is whoever happened to run, often the peer on loopback).
 * It comes from CLOSE -> SYN_SENT, which the kernel runs synchronously inside the caller's
 * connect() (or sendto(MSG_FASTOPEN)), and from accept() returning the socket.
 *
 * Connection identity is the socket cookie (a 64-bit counter the kernel never reuses).
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
	bpf_ringbuf_submit(r, 0);
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
		bpf_ringbuf_submit(r, 0);
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
	bpf_ringbuf_submit(r, 0);
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
