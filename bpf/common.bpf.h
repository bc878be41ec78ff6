/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * common.bpf.h - what every hook of hstrace.bpf.c shares: the ring buffer and its loss
 * counter, the one record-header helper, the per-socket state (socket-local storage) and the
 * per-thread state (task-local storage); and the TLS framing state machine (tls_framing.h),
 * bound to packets: it reads with bpf_skb_load_bytes(), its callbacks are in
 * tls_capture.bpf.h.
 */
#ifndef HSTRACE_COMMON_BPF_H
#define HSTRACE_COMMON_BPF_H

struct tlsf_io;
static int tlsf_on_record(struct tlsf_io *io, struct __sk_buff *skb, __u8 type, __u16 version,
			  __u32 len, __u64 body, __u32 avail, int encrypted);
static int tlsf_on_handshake(struct tlsf_io *io, struct __sk_buff *skb, __u8 type, __u32 len,
			     __u64 body, __u32 avail);
static int tlsf_on_certs(struct tlsf_io *io, struct __sk_buff *skb, __u32 count, __u32 len);
static int tlsf_on_desync(struct tlsf_io *io, struct __sk_buff *skb);
static int tlsf_on_alert(struct tlsf_io *io, struct __sk_buff *skb, __u16 version, __u32 len,
			 __u16 alert);

static long tlsf_read_early(struct __sk_buff *skb, void *dst, __u32 n, __u64 addr);

/* Reads a header fragment (1..7 bytes) at offset addr of the packet (or of the early bytes
 * kept for the connection, tls_capture.bpf.h). */
static __always_inline long tlsf_read_skb(struct __sk_buff *skb, void *dst, __u32 size,
					  __u64 addr)
{
	__u64 n = size;

	barrier_var(n);
	if (n > 7)
		n = 7;
	if (n < 1)
		return -1;
	if (addr & (1ULL << 62))
		return tlsf_read_early(skb, dst, n, addr);
	return bpf_skb_load_bytes(skb, (__u32)addr, dst, n);
}

#define TLSF_CTX struct __sk_buff *
#define TLSF_READ(ctx, dst, size, addr) tlsf_read_skb((ctx), (dst), (size), (addr))
#define TLSF_FUNC __noinline /* global: verified once, called from both packet programs */
#include "tls_framing.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_NEW_SYN_RECV 12
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* Records to user space. Size is set by user space before load (--ringbuf-kb). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Records that did not fit in the ring buffer. Read by user space and shown. */
__u64 lost_records = 0;

/* Connections whose CLOSED record did not fit in the ring buffer: cookie -> time of the close.
 * User space takes them out (tracer_take_lost_closes()) and finishes those connections, which
 * would otherwise stay open until hstrace stops. LRU: on a flood, the oldest notes go. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} lost_closes SEC(".maps");

/* Set by user space before load: SSL_do_handshake() is probed (--ssl-calls). */
const volatile bool ssl_calls = false;

/* Ring-buffer data that wakes the consumer early; below it, user space picks records up on
 * its own poll timeout (tracer_poll()). A wake-up is an irq_work, raised by a self-IPI: on a
 * VM a trap to the hypervisor, several µs in the producer's context. So records do not wake
 * the consumer one by one: past RB_WAKEUP_BYTES, at most one wake-up every RB_WAKEUP_GAP_NS
 * (the consumer, once awake, takes everything there is). At the default 4 MiB ring buffer
 * that leaves room for more than 1 GB/s of records between two wake-ups. Without the gap,
 * every record sent between the first wake-up and the consumer running raised another IPI
 * (measured: 0.19 % of the machine's CPU at 600 handshakes/s, 6 µs per handshake). */
#define RB_WAKEUP_BYTES (256 * 1024)
#define RB_WAKEUP_GAP_NS (2 * 1000 * 1000)

__u64 rb_last_wakeup_ns = 0; /* any CPU's last forced wake-up; a race costs one extra */

static __always_inline __u64 rb_wakeup(void)
{
	__u64 now;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < RB_WAKEUP_BYTES)
		return BPF_RB_NO_WAKEUP;
	now = bpf_ktime_get_ns();
	if (now - rb_last_wakeup_ns < RB_WAKEUP_GAP_NS)
		return BPF_RB_NO_WAKEUP;
	rb_last_wakeup_ns = now;
	return BPF_RB_FORCE_WAKEUP;
}

/* Fills the header every record starts with. */
static __always_inline void hdr_init(struct hs_hdr *h, __u16 kind, __u16 size, __u64 ts_ns,
				     __u64 cookie)
{
	h->kind = kind;
	h->size = size;
	h->_pad = 0;
	h->ts_ns = ts_ns;
	h->cookie = cookie;
}

/* Reserves a zeroed record of `size` bytes with its header filled in; NULL (the loss counted)
 * when the ring buffer is full. */
static __always_inline void *rec_reserve(__u16 kind, __u32 size, __u64 cookie)
{
	struct hs_hdr *h = bpf_ringbuf_reserve(&events, size, 0);

	if (!h) {
		__sync_fetch_and_add(&lost_records, 1);
		return NULL;
	}
	__builtin_memset(h, 0, size);
	hdr_init(h, kind, size, bpf_ktime_get_ns(), cookie);
	return h;
}

/*
 * Per-socket state of a TCP connection hstrace follows, in socket-local storage: created at
 * CLOSE -> SYN_SENT (client) or -> ESTABLISHED (server), deleted once nothing more is to be
 * done (sk_state_finished()), else freed with the socket. Sockets that existed before hstrace
 * started have none, so they cost one lookup per packet and call.
 */
enum sk_flags {
	SKF_CLIENT = 1 << 0,   /* this end connected */
	SKF_OWNER = 1 << 1,    /* its owner was reported (connect, accept or first socket call) */
	SKF_ACCEPTED = 1 << 2, /* accept() returned it (server) */
	SKF_DONE = 1 << 3,     /* both directions are past their handshake: packets need no look */
	SKF_CALLS_DONE = 1 << 4, /* ... and the application has written and read all the bytes
				  * followed, or the stream is not TLS: calls need no look either */
	SKF_FIN_IN = 1 << 5,   /* the peer's FIN was reported */
	SKF_EARLY = 1 << 6,    /* early segments are kept for it (struct early) */
};


/* Index of a direction in struct sk_state arrays. */
#define D_OUT 0
#define D_IN 1

/*
 * An application call that moved a followed stream (socket_calls.bpf.h), kept in the
 * connection's state until IO_NOTES of them are there, the application has caught up with
 * the handshake both ways, or the connection closes (a call on a closed socket leaves at
 * once): then they leave together, one ring-buffer record for all (io_notes_flush()). User
 * space needs them only when it finishes the connection; one reservation per call cost more
 * than the rest of the program.
 */
#define IO_NOTES 8

struct io_note {
	__u64 ts_ns;   /* when the call returned */
	__u32 seq_end; /* stream offset just past the last byte moved */
	__u8 dir;      /* enum hs_tls_dir */
	__u8 _pad[3];
};

struct sk_state {
	__u64 cookie;
	__u32 base[2];	/* TCP sequence number of stream offset 0 (the first payload byte) */
	__u32 next[2];	/* TCP sequence number of the next byte not yet followed */
	__u32 app_end[2]; /* stream offset of the last call noted, by direction */
	__u8 known[2];	/* base and next are set */
	__u8 flags;	/* enum sk_flags */
	__u8 n_io;	/* calls noted in io[] */
	__u8 _pad[4];
	__u64 synack_ns; /* client: when the first SYN-ACK arrived (ingress), 0 not yet */
	struct tls_stream dir[2]; /* TLS framing, by direction (bpf/tls_framing.h) */
	struct io_note io[IO_NOTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sk_state);
} sk_states SEC(".maps");

/* Sends the calls noted in s, one HS_REC_IO record each: a lone one as itself, several behind
 * a batch header (HS_REC_BATCH), built on the stack. A loss counts each. */
static __always_inline void io_notes_flush(struct sk_state *s)
{
	struct {
		struct hs_hdr h;
		struct hs_io_rec r[IO_NOTES];
	} b;
	__u32 n = s->n_io, i;
	__u64 size;
	void *out;

	if (!n)
		return;
	if (n > IO_NOTES)
		n = IO_NOTES;
	s->n_io = 0;
	__builtin_memset(&b, 0, sizeof(b));
	for (i = 0; i < IO_NOTES; i++) {
		if (i >= n)
			break;
		hdr_init(&b.r[i].hdr, HS_REC_IO, sizeof(b.r[i]), s->io[i].ts_ns, s->cookie);
		b.r[i].dir = s->io[i].dir;
		b.r[i].seq_end = s->io[i].seq_end;
	}
	if (n == 1) {
		out = &b.r[0];
		size = sizeof(b.r[0]);
	} else {
		size = sizeof(b.h) + n * sizeof(b.r[0]);
		hdr_init(&b.h, HS_REC_BATCH, size, b.r[0].hdr.ts_ns, s->cookie);
		out = &b;
	}
	if (bpf_ringbuf_output(&events, out, size, rb_wakeup()))
		__sync_fetch_and_add(&lost_records, n);
}

/* Notes a call that took stream d (HS_DIR_OUT or HS_DIR_IN) to offset seq_end; a full list
 * is sent first. */
static __always_inline void io_note_add(struct sk_state *s, __u8 dir, __u32 seq_end)
{
	__u32 i;

	if (s->n_io >= IO_NOTES)
		io_notes_flush(s);
	i = s->n_io;
	if (i >= IO_NOTES)
		return;
	s->io[i].ts_ns = bpf_ktime_get_ns();
	s->io[i].seq_end = seq_end;
	s->io[i].dir = dir;
	s->n_io = i + 1;
}

/* Nothing more to do for this connection: its owner is known, and its packets and calls
 * need no look (past the handshake both ways, or not TLS). Its storage is then deleted, so a
 * long-lived connection holds no kernel memory of hstrace's (its packets and calls still cost
 * the lookup that finds nothing). */
static __always_inline bool sk_state_finished(const struct sk_state *s)
{
	return (s->flags & (SKF_OWNER | SKF_DONE | SKF_CALLS_DONE | SKF_EARLY)) ==
	       (SKF_OWNER | SKF_DONE | SKF_CALLS_DONE);
}

/*
 * The first payload segment of a server connection can reach the host before the
 * connection's socket exists: the ClientHello completes the TCP handshake when the bare ACK
 * before it was lost or overtaken (or with TCP_DEFER_ACCEPT). The ingress program runs on the
 * listening socket then. It frames the payload into this per-CPU slot, records
 * included; the new socket's state change, which the kernel runs right after on the same CPU
 * in the same softirq, adopts it when the addresses and ports match (adopt_first_segment()).
 */
#define FIRST_RECS 4

/* Addresses and ports of a segment that came to a listening socket: those of the socket the
 * kernel creates for it (seg_addrs_load(), seg_addrs_match()). */
struct seg_addrs {
	__u32 peer[4];	   /* the packet's source: the new socket's peer (IPv4 in [0]) */
	__u32 local[4];
	__u16 peer_port;   /* network order */
	__u16 local_port;  /* host order */
	__u32 v6;	   /* an IPv6 packet (else IPv4) */
};

struct first_segment {
	__u64 ts_ns;	   /* 0: empty */
	struct seg_addrs addrs;
	__u32 seq;	   /* sequence number of its first payload byte */
	__u32 len;
	__u32 n_recs;
	struct tls_stream st;
	struct hs_tls_rec recs[FIRST_RECS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct first_segment);
} first_segments SEC(".maps");

/*
 * The last segment that came to a listening socket and was no SYN, on this CPU: the one that
 * completes a server's handshake (the bare ACK, or a ClientHello that overtook it), when it
 * passed the ingress program. The new socket's -> ESTABLISHED, which the kernel runs right
 * after in the same softirq, takes this time when addresses and ports match: the state change
 * comes tens of µs after the packet on a slow machine (40-50 µs on the development VM).
 */
struct ack_note {
	__u64 ts_ns; /* 0: empty */
	struct seg_addrs addrs;
};

/* Is sk the socket created for a segment with these addresses and ports? */
static __always_inline bool seg_addrs_match(const struct sock *sk, const struct seg_addrs *a)
{
	__u32 i;

	if (a->local_port != sk->__sk_common.skc_num || a->peer_port != sk->__sk_common.skc_dport)
		return false;
	if (a->v6) {
		struct in6_addr peer = sk->__sk_common.skc_v6_daddr;
		struct in6_addr local = sk->__sk_common.skc_v6_rcv_saddr;

		if (sk->__sk_common.skc_family != AF_INET6)
			return false;
		for (i = 0; i < 4; i++) {
			if (peer.in6_u.u6_addr32[i] != a->peer[i] ||
			    local.in6_u.u6_addr32[i] != a->local[i])
				return false;
		}
		return true;
	}
	return a->peer[0] == sk->__sk_common.skc_daddr &&
	       a->local[0] == sk->__sk_common.skc_rcv_saddr;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ack_note);
} ack_notes SEC(".maps");

/* The last FIN that passed the ingress program on this CPU: the peer's FIN state change,
 * which the kernel runs right after in the same softirq (unless the socket's owner holds its
 * lock: then later, from the backlog), takes this time when the cookie matches. */
struct fin_note {
	__u64 cookie; /* 0: empty */
	__u64 ts_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fin_note);
} fin_notes SEC(".maps");

/*
 * When a server connection's SYN reached this host: the ingress program sees every SYN that
 * comes to a listening socket (the connection's own socket is created only by the handshake's
 * last ACK) and notes it here, by addresses and ports; the connection's -> ESTABLISHED takes
 * the note when its ISN matches (a retransmitted SYN keeps the first one's time), and deletes
 * it. Notes of handshakes that never complete are evicted (LRU). Without a note (hstrace
 * started after the SYN; evicted under a SYN flood) user space derives the time from the
 * SYN-ACK's round trip instead.
 */
struct syn_key {
	__u32 peer[4];	  /* IPv4 as ::ffff:a.b.c.d, as a dual-stack socket has it */
	__u32 local[4];
	__u16 peer_port;  /* network order */
	__u16 local_port; /* host order */
};

struct syn_note {
	__u64 ts_ns;
	__u32 seq;	  /* the SYN's sequence number: the client's ISN */
	__u32 _pad;
};

#define SYN_NOTES 16384

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SYN_NOTES);
	__type(key, struct syn_key);
	__type(value, struct syn_note);
} syn_notes SEC(".maps");

/*
 * Early segments: an incoming segment that arrives before bytes in front of it which the
 * framing needs (a record header, a certificate length) is kept here, per connection, until
 * the missing bytes come; then its bytes are fed from here, with its own arrival time. At
 * most EARLY_SEGS segments within EARLY_BYTES of the stream position where the gap starts;
 * beyond, the framing is lost (desync), as without it.
 */
#define EARLY_BYTES 4096 /* a power of two */
#define EARLY_SEGS 4
#define EARLY_FLAG (1ULL << 62) /* in tlsf_io.buf: an offset into early.data, not the packet */

struct early_seg {
	__u32 off;   /* from early.start */
	__u32 len;
	__u64 ts_ns; /* its arrival (kept for diagnosis) */
};

struct early {
	__u32 start; /* TCP sequence number of data[0]: where the gap started */
	__u32 n;
	struct early_seg seg[EARLY_SEGS];
	__u8 data[2 * EARLY_BYTES]; /* (twice the size: offsets are masked, not subtracted) */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u64); /* cookie */
	__type(value, struct early);
} earlies SEC(".maps");

/* A zeroed struct early to insert from (too large for the stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct early);
} early_template SEC(".maps");

/*
 * Per-thread state, in task-local storage: a lookup is a pointer chase (no hashing, no lock).
 * Freed with the thread.
 */
struct ssl_call {
	__u64 ssl;
	__u64 entry_ns;
	__u32 depth; /* nested calls on this thread: counted once */
	__u32 lib_id;
};

struct thread_state {
	__u64 last_cookie;	 /* tracked socket this thread last did I/O on (or connected or
				  * accepted), 0 none: binds X509_verify_cert() to it */
	struct ssl_call call;	 /* SSL_do_handshake() in progress, when in_call */
	struct ssl_call verify;	 /* X509_verify_cert() in progress, when in_verify (ssl unused) */
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

#endif /* HSTRACE_COMMON_BPF_H */
