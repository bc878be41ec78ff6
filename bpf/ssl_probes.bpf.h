/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * ssl_probes.bpf.h - OpenSSL uprobes, and exec notifications for finding libraries to probe.
 *
 * No OpenSSL struct offsets are read. X509_verify_cert() is bound to the tracked connection
 * its thread last did I/O on (or connected, or accepted); an SSL object (SSL_do_handshake(),
 * only when user space attaches it) to the connection its thread does socket I/O on while
 * inside the call (ssl_note_io(), from socket_calls.bpf.h). Nested calls on one thread are
 * counted once. A uprobe hit is expensive (a trap into the kernel), so user space attaches
 * SSL_do_handshake() only when asked.
 */
#ifndef HSTRACE_SSL_PROBES_BPF_H
#define HSTRACE_SSL_PROBES_BPF_H

struct ssl_key {
	__u64 tgid;
	__u64 ssl;
};

/* SSL object -> connection, as bound by its socket I/O inside SSL_do_handshake(). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __u64); /* cookie */
} ssl_conns SEC(".maps");

/* The calling thread did I/O on tracked connection `cookie`: remembers it, and binds the SSL
 * object of a handshake call in progress to it. */
static __always_inline void ssl_note_io(__u64 cookie)
{
	struct thread_state *ts = thread_state(true);
	struct ssl_key k;
	__u64 *cur;

	if (!ts)
		return;
	ts->last_cookie = cookie;
	if (!ts->in_call)
		return;
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.ssl = ts->call.ssl;
	cur = bpf_map_lookup_elem(&ssl_conns, &k);
	if (!cur || *cur != cookie) /* the same binding again on every I/O of the call */
		bpf_map_update_elem(&ssl_conns, &k, &cookie, BPF_ANY);
}

static __always_inline void ssl_emit(__u8 what, __u64 cookie, __s32 ret, __u64 entry_ns,
				     __u32 lib_id)
{
	struct hs_ssl_rec *r = rec_reserve(HS_REC_SSL, sizeof(*r), cookie);

	if (!r)
		return;
	r->what = what;
	r->ret = ret;
	r->entry_ns = entry_ns;
	r->lib_id = lib_id;
	bpf_ringbuf_submit(r, rb_wakeup());
}

/* Entry of a probed call: starts it unless one is in progress on this thread (nested). */
static __always_inline void call_enter(struct ssl_call *c, __u8 *in, __u64 ssl, __u32 lib_id)
{
	if (*in) {
		c->depth++;
		return;
	}
	c->ssl = ssl;
	c->entry_ns = bpf_ktime_get_ns();
	c->depth = 0;
	c->lib_id = lib_id;
	*in = 1;
}

/* Return of a probed call: true when it ends the outermost one. */
static __always_inline bool call_exit(struct ssl_call *c, __u8 *in)
{
	if (!*in)
		return false;
	if (c->depth) {
		c->depth--;
		return false;
	}
	*in = 0;
	return true;
}

SEC("uprobe")
int BPF_KPROBE(handle_ssl_handshake_enter, void *ssl)
{
	struct thread_state *ts = thread_state(true);

	if (ts)
		call_enter(&ts->call, &ts->in_call, (__u64)ssl, (__u32)bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(handle_ssl_handshake_exit, int ret)
{
	struct thread_state *ts = thread_state(false);
	struct ssl_key k;
	__u64 *cookie;

	if (!ts || !call_exit(&ts->call, &ts->in_call))
		return 0;
	k.tgid = bpf_get_current_pid_tgid() >> 32;
	k.ssl = ts->call.ssl;
	cookie = bpf_map_lookup_elem(&ssl_conns, &k);
	/* No socket I/O inside the call (memory BIOs, e.g. Python's asyncio): take the socket
	 * this thread last did I/O on. */
	ssl_emit(HS_SSL_HANDSHAKE, cookie ? *cookie : ts->last_cookie, ret, ts->call.entry_ns,
		 ts->call.lib_id);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(handle_verify_enter)
{
	struct thread_state *ts = thread_state(true);

	if (ts)
		call_enter(&ts->verify, &ts->in_verify, 0, (__u32)bpf_get_attach_cookie(ctx));
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(handle_verify_exit, int ret)
{
	struct thread_state *ts = thread_state(false);

	if (!ts || !call_exit(&ts->verify, &ts->in_verify))
		return 0;
	ssl_emit(HS_SSL_VERIFY, ts->last_cookie, ret, ts->verify.entry_ns, ts->verify.lib_id);
	return 0;
}

/* A new program image: user space scans it for TLS libraries. It is woken at once (the
 * loader maps the libraries within milliseconds, and the program may connect soon after). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec)
{
	struct hs_exec_rec *r = rec_reserve(HS_REC_EXEC, sizeof(*r), 0);

	if (!r)
		return 0;
	r->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
	return 0;
}

#endif /* HSTRACE_SSL_PROBES_BPF_H */
