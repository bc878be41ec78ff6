/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * tls_capture.bpf.h - TLS framing from a followed connection's packets.
 *
 * cgroup_skb egress and ingress programs, attached to the root of the cgroup v2 hierarchy,
 * see every IP packet of every socket, with the socket. A socket hstrace does not follow (no
 * socket-local storage), or one past its handshake, costs one storage lookup per packet.
 * For a followed one the program finds the TCP payload and feeds the bytes not seen yet, in
 * stream order, to the framing state machine of tls_framing.h:
 *   - egress: new data is always sent in order; a retransmission repeats bytes already
 *     followed, which are skipped (a segment partly new is fed from the first new byte);
 *   - ingress: a duplicate is skipped the same way; a segment that arrives before the bytes
 *     in front of it (reordering, or a loss) is fed at once when the missing bytes lie inside
 *     the body of the current record, whose contents are not looked at (tlsf_skip_gap()):
 *     those bytes arrive later and are then skipped as old. Otherwise it is kept (struct
 *     early, up to 4 segments within 4 KiB) and fed once the missing bytes came; when it does
 *     not fit, the direction's framing is lost and reported (HS_TLS_DESYNC), never guessed.
 * Each event's time is that of the packet, as it passed this host's TCP stack: egress runs in
 * ip_finish_output() before the qdisc, ingress in tcp_v4_rcv()/tcp_v6_rcv() before the socket
 * takes the data. Both programs always return 1: a packet is never dropped or changed.
 * A GSO packet cut into segments for a device without segmentation offload reaches it one
 * segment after the other: a packet that yielded records is watched (xmit_times.bpf.h), and
 * records that end in a segment after the first take the time that segment reached the device.
 */
#ifndef HSTRACE_TLS_CAPTURE_BPF_H
#define HSTRACE_TLS_CAPTURE_BPF_H

/*
 * Where the TLS records of one packet are gathered, to leave in one ring-buffer record
 * (HS_REC_BATCH; a lone record leaves as itself): each ring-buffer reservation takes a
 * spinlock with interrupts off, which on a VM costs more than the rest of the record.
 * Slot 0 is the program that runs first on a CPU; slot 1 one that interrupts it (an egress
 * program in process context, interrupted by a softirq's ingress or egress program). Slot 0's
 * depth says how many run.
 */
#define TLS_BATCH_BYTES 4096 /* gathered before the batch leaves, then it starts again */
#define TLS_BATCH_HDR ((__u32)sizeof(struct hs_hdr))

struct tls_batch {
	__u32 len;   /* bytes used in buf, from its start (the batch header's room included) */
	__u32 n;     /* records in it */
	__u32 last;  /* where the last record starts */
	__u32 depth; /* slot 0 only: programs on this CPU using the slots */
	__u8 buf[TLS_BATCH_BYTES + sizeof(struct hs_tls_rec)];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct tls_batch);
} tls_batches SEC(".maps");

/* Sends what batch b gathered: one record as itself, several behind a batch header. */
static __always_inline void tls_batch_flush(struct tls_batch *b)
{
	struct hs_hdr *h = (struct hs_hdr *)b->buf, *first;
	__u64 len = b->len, last = b->last, size;

	if (!b->n)
		return;
	if (b->n == 1) {
		barrier_var(last);
		if (last > TLS_BATCH_BYTES)
			goto out;
		first = (struct hs_hdr *)&b->buf[last];
		size = first->size;
		barrier_var(size);
		if (size > sizeof(struct hs_tls_rec))
			goto out;
		if (bpf_ringbuf_output(&events, first, size, rb_wakeup()))
			__sync_fetch_and_add(&lost_records, 1);
		goto out;
	}
	first = (struct hs_hdr *)&b->buf[TLS_BATCH_HDR];
	hdr_init(h, HS_REC_BATCH, len, first->ts_ns, first->cookie);
	barrier_var(len);
	if (len > sizeof(b->buf))
		goto out;
	if (bpf_ringbuf_output(&events, b->buf, len, rb_wakeup()))
		__sync_fetch_and_add(&lost_records, b->n);
out:
	b->len = TLS_BATCH_HDR;
	b->n = 0;
}

/* The batch of the program running now (tls_batch_enter() chose it), or NULL; *b0p: slot 0,
 * which holds the depth. */
static __always_inline struct tls_batch *tls_batch_now(struct tls_batch **b0p)
{
	struct tls_batch *b0;
	__u32 zero = 0, slot;

	*b0p = b0 = bpf_map_lookup_elem(&tls_batches, &zero);
	if (!b0 || !b0->depth)
		return NULL;
	slot = b0->depth - 1;
	return slot ? bpf_map_lookup_elem(&tls_batches, &slot) : b0;
}

/* Takes the next slot for a program that may emit TLS records; false when none is free. A
 * program that interrupts this one between the read and the write of depth ends before this
 * one goes on, so plain per-CPU arithmetic is enough. */
static __always_inline bool tls_batch_enter(void)
{
	struct tls_batch *b0, *b;
	__u32 zero = 0, slot;

	b0 = bpf_map_lookup_elem(&tls_batches, &zero);
	if (!b0 || b0->depth > 1)
		return false;
	slot = b0->depth;
	b = slot ? bpf_map_lookup_elem(&tls_batches, &slot) : b0;
	if (!b)
		return false;
	b->len = TLS_BATCH_HDR;
	b->n = 0;
	b0->depth = slot + 1;
	return true;
}

/* Sends the running program's batch and frees its slot. */
static __always_inline void tls_batch_leave(void)
{
	struct tls_batch *b0, *b = tls_batch_now(&b0);

	if (!b)
		return;
	tls_batch_flush(b);
	b0->depth--;
}

/* TLSF_READ of early bytes: n (1..7) bytes at offset addr of the connection's early data. */
static __always_inline long tlsf_read_early(struct __sk_buff *skb, void *dst, __u32 n,
					    __u64 addr)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct early *e = bpf_map_lookup_elem(&earlies, &cookie);
	__u8 *out = dst;
	__u32 i;

	if (!e)
		return -1;
	for (i = 0; i < 7; i++) {
		if (i >= n)
			break;
		out[i] = e->data[(addr + i) & (2 * EARLY_BYTES - 1)];
	}
	return 0;
}

/* Sends one TLS record to user space. data[]: data_len bytes from packet offset data, or,
 * when data is 0, the two bytes of `two` (high byte first). */
static __always_inline void tls_emit(struct tlsf_io *io, struct __sk_buff *skb, __u8 what,
				     __u8 ctype, __u8 hs_type, __u16 version, __u32 len,
				     __u32 count, __u64 data, __u32 data_len, __u16 two)
{
	struct first_segment *first = NULL;
	struct tls_batch *b = NULL;
	struct hs_tls_rec *r;
	__u32 zero = 0, k, at = 0;
	__u64 n = data_len, size;

	if (io->cookie) {
		struct tls_batch *b0;

		b = tls_batch_now(&b0);
		if (!b) {
			__sync_fetch_and_add(&lost_records, 1);
			return;
		}
		if (b->len + sizeof(*r) > TLS_BATCH_BYTES)
			tls_batch_flush(b);
		at = b->len & (TLS_BATCH_BYTES - 1);
		r = (struct hs_tls_rec *)&b->buf[at];
	} else {
		/* A first segment seen on the listening socket: kept until adopted. */
		first = bpf_map_lookup_elem(&first_segments, &zero);
		if (!first)
			return;
		k = first->n_recs;
		if (k >= FIRST_RECS) {
			__sync_fetch_and_add(&lost_records, 1);
			return;
		}
		r = &first->recs[k];
	}
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
	} else if (n >= 1 && (data & EARLY_FLAG)) {
		struct early *e;
		__u64 cookie = bpf_get_socket_cookie(skb);

		e = bpf_map_lookup_elem(&earlies, &cookie);
		if (!e || bpf_probe_read_kernel(r->data, n, &e->data[data & (EARLY_BYTES - 1)]))
			n = 0;
	} else if (n >= 1 && bpf_skb_load_bytes(skb, (__u32)data, r->data, n)) {
		n = 0;
	}
	size = HS_TLS_REC_HDR_SIZE + n;
	hdr_init(&r->hdr, HS_REC_TLS, size, io->ts_ns, io->cookie);
	r->what = what;
	r->dir = io->dir;
	r->content_type = ctype;
	r->hs_type = hs_type;
	r->version = version;
	r->data_len = n;
	r->len = len;
	r->count = count;
	r->seq = io->rec_seq;
	r->_pad = 0;
	if (size > sizeof(*r))
		return;
	if (first) {
		first->n_recs++;
		return;
	}
	b->last = at;
	b->len = at + ((size + 7) & ~7ULL);
	b->n++;
}


static int tlsf_on_record(struct tlsf_io *io, struct __sk_buff *skb, __u8 type, __u16 version,
			  __u32 len, __u64 body, __u32 avail, int encrypted)
{
	/* The header only: nothing of any record's body leaves the kernel. */
	(void)body;
	(void)avail;
	(void)encrypted;
	tls_emit(io, skb, HS_TLS_RECORD, type, 0, version, len, 0, 0, 0, 0);
	return 0;
}

/* A plaintext alert: its record, with level and description in data[0..1]. */
static int tlsf_on_alert(struct tlsf_io *io, struct __sk_buff *skb, __u16 version, __u32 len,
			 __u16 alert)
{
	tls_emit(io, skb, HS_TLS_RECORD, TLSF_CT_ALERT, 0, version, len, 0, 0, 2, alert);
	return 0;
}

static int tlsf_on_handshake(struct tlsf_io *io, struct __sk_buff *skb, __u8 type, __u32 len,
			     __u64 body, __u32 avail)
{
	__u32 n = 0;

	/* ClientHello, ServerHello: SNI, ALPN, versions, ... (what this packet holds of it) */
	if (type == TLSF_HT_CLIENT_HELLO || type == TLSF_HT_SERVER_HELLO)
		n = avail;
	else if (type == TLSF_HT_SERVER_KEY_EXCHANGE) /* curve type and group */
		n = tlsf_min(avail, 8);
	tls_emit(io, skb, HS_TLS_HANDSHAKE, TLSF_CT_HANDSHAKE, type, 0, len, 0, body, n, 0);
	return 0;
}

static int tlsf_on_certs(struct tlsf_io *io, struct __sk_buff *skb, __u32 count, __u32 len)
{
	tls_emit(io, skb, HS_TLS_CERTS, TLSF_CT_HANDSHAKE, TLSF_HT_CERTIFICATE, 0, len, count, 0,
		 0, 0);
	return 0;
}

static int tlsf_on_desync(struct tlsf_io *io, struct __sk_buff *skb)
{
	tls_emit(io, skb, HS_TLS_DESYNC, 0, 0, 0, 0, 0, 0, 0, 0);
	return 0;
}

/* Stops following both directions: the stream is not TLS, so the application's calls do not
 * matter either. */
static __always_inline void sk_state_not_tls(struct sk_state *s)
{
	s->dir[D_OUT].flags |= TLSF_F_STOPPED;
	s->dir[D_IN].flags |= TLSF_F_STOPPED;
	s->flags |= SKF_DONE | SKF_CALLS_DONE;
}

/* Both directions stopped: the connection's packets need no look any more. */
static __always_inline void sk_state_note_stopped(struct sk_state *s)
{
	if (s->dir[D_OUT].flags & s->dir[D_IN].flags & TLSF_F_STOPPED)
		s->flags |= SKF_DONE;
}

/* Feeds io's bytes (the next ones of the stream) to st; reports the end of a record whose
 * header came earlier, and what follows for the connection when a direction stops. */
static __always_inline void feed_bytes(struct __sk_buff *skb, struct sk_state *s,
				       struct tls_stream *st, struct tlsf_io *io)
{
	__u32 pending, pending_seq = st->rec_seq;

	/* A record whose header came in an earlier packet: is it complete with this one? */
	pending = st->rec_left && !st->rec_have ? st->rec_left : 0;
	io->rec_seq = st->rec_seq;
	tlsf_feed(st, io, skb);
	if (pending && io->len >= pending && !(st->flags & TLSF_F_DESYNC)) {
		io->rec_seq = pending_seq;
		tls_emit(io, skb, HS_TLS_RECORD_END, 0, 0, 0, 0, 0, 0, 0, 0);
	}
	if (st->flags & TLSF_F_NOT_TLS) /* not TLS: nothing more to follow either way */
		sk_state_not_tls(s);
	else
		sk_state_note_stopped(s);
}

/* An incoming segment that came before bytes in front of it: keeps its payload (packet bytes
 * [off, off + len), sequence number seq) for feed_early(). Returns false when it does not fit
 * (the caller then reports the framing lost). */
static __always_inline bool keep_early(struct __sk_buff *skb, struct sk_state *s, __u32 seq,
				       __u32 off, __u32 len, __u64 ts_ns)
{
	struct early *e, *t;
	__u32 zero = 0, rel, i, n;

	e = bpf_map_lookup_elem(&earlies, &s->cookie);
	if (!e) {
		t = bpf_map_lookup_elem(&early_template, &zero);
		if (!t)
			return false;
		t->start = s->next[D_IN];
		t->n = 0;
		if (bpf_map_update_elem(&earlies, &s->cookie, t, BPF_NOEXIST))
			return false;
		s->flags |= SKF_EARLY;
		e = bpf_map_lookup_elem(&earlies, &s->cookie);
		if (!e)
			return false;
	}
	rel = seq - e->start;
	if (rel >= EARLY_BYTES || len >= EARLY_BYTES || rel + len > EARLY_BYTES)
		return false;
	n = e->n;
	for (i = 0; i < EARLY_SEGS; i++) {
		if (i >= n)
			break;
		if (e->seg[i].len && e->seg[i].off == rel && e->seg[i].len == len)
			return true; /* the same segment again */
	}
	if (n >= EARLY_SEGS)
		return false;
	len &= EARLY_BYTES - 1;
	if (len < 1 || bpf_skb_load_bytes(skb, off, &e->data[rel & (EARLY_BYTES - 1)], len))
		return false;
	e->seg[n & (EARLY_SEGS - 1)].off = rel;
	e->seg[n & (EARLY_SEGS - 1)].len = len;
	e->seg[n & (EARLY_SEGS - 1)].ts_ns = ts_ns;
	e->n = n + 1;
	return true;
}

/* After the stream moved on: feeds the kept early segments that now continue it, and forgets
 * the ones it covered. Their records take the time of the packet that filled the gap: they
 * could not be read before, and their order in time stays their order in the stream. */
static __always_inline void feed_early(struct __sk_buff *skb, struct sk_state *s,
				       struct tls_stream *st)
{
	struct tlsf_io io = {};
	struct early *e;
	__u32 i, j, left, start, end, skip;
	__u64 now;

	e = bpf_map_lookup_elem(&earlies, &s->cookie);
	if (!e)
		return;
	now = bpf_ktime_get_ns();
	for (j = 0; j < EARLY_SEGS; j++) {
		bool fed = false;

		for (i = 0; i < EARLY_SEGS; i++) {
			struct early_seg *g = &e->seg[i];

			if (i >= e->n || !g->len)
				continue;
			start = e->start + g->off;
			end = start + g->len;
			if ((__s32)(end - s->next[D_IN]) <= 0) {
				g->len = 0; /* covered by what came since */
				continue;
			}
			if ((__s32)(start - s->next[D_IN]) > 0 || (st->flags & TLSF_F_STOPPED))
				continue;
			skip = s->next[D_IN] - start;
			__builtin_memset(&io, 0, sizeof(io));
			io.cookie = s->cookie;
			/* Usable (and in order) only now: the packet that filled the gap. */
			io.ts_ns = now;
			io.dir = HS_DIR_IN;
			io.buf = EARLY_FLAG | ((g->off + skip) & (EARLY_BYTES - 1));
			io.len = g->len - skip;
			io.seq = s->next[D_IN] - s->base[D_IN];
			s->next[D_IN] = end;
			g->len = 0;
			feed_bytes(skb, s, st, &io);
			fed = true;
			break;
		}
		if (!fed)
			break;
	}
	left = 0;
	for (i = 0; i < EARLY_SEGS; i++)
		if (i < e->n && e->seg[i].len && !(st->flags & TLSF_F_STOPPED))
			left++;
	if (!left) {
		bpf_map_delete_elem(&earlies, &s->cookie);
		s->flags &= ~SKF_EARLY;
	}
}

/* The payload of a TCP segment of a followed direction: seq is the sequence number of its
 * first payload byte, [off, off + len) where it is in the packet. */
static __always_inline void capture_payload(struct __sk_buff *skb, struct sk_state *s, int d,
					    __u32 seq, __u32 off, __u32 len)
{
	struct tls_stream *st = d == D_OUT ? &s->dir[D_OUT] : &s->dir[D_IN];
	struct tlsf_io io = {};
	__s32 ahead = (__s32)(seq - s->next[d]);
	__u32 skip = 0;

	io.cookie = s->cookie;
	io.ts_ns = bpf_ktime_get_ns();
	io.dir = d == D_OUT ? HS_DIR_OUT : HS_DIR_IN;
	if (ahead < 0) {
		/* Starts with bytes already followed: a retransmission or a duplicate. */
		skip = (__u32)-ahead;
		if (skip >= len)
			return;
	} else if (ahead > 0) {
		/* Bytes are missing in front of it. */
		io.seq = s->next[d] - s->base[d];
		if (!tlsf_skip_gap(st, (__u32)ahead)) {
			if (d == D_IN && keep_early(skb, s, seq, off, len, io.ts_ns))
				return; /* fed once the bytes in front of it come */
			if (st->flags & TLSF_F_LAST) {
				/* Past the handshake: only the last record's end is lost. */
				st->flags |= TLSF_F_STOPPED;
				sk_state_note_stopped(s);
				return;
			}
			tlsf_stop(st, &io, skb, TLSF_F_DESYNC);
			return;
		}
	}
	io.buf = off + skip;
	io.len = len - skip;
	io.seq = seq + skip - s->base[d];
	s->next[d] = seq + len;
	feed_bytes(skb, s, st, &io);
	if (d == D_IN && (s->flags & SKF_EARLY)) /* no map lookup unless segments are kept */
		feed_early(skb, s, st);
}

/* Finds the TCP header: sets *ip_len and *th; false when the packet is not one to follow.
 * The headers are read in place when they lie in the packet's linear part (always, for a
 * packet TCP built or one it is about to take), else copied with bpf_skb_load_bytes(). */
static __always_inline bool tcp_header(struct __sk_buff *skb, __u32 *ip_len, struct tcphdr *th)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	__u8 b;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) <= end) {
			struct tcphdr *t = data + ip->ihl * 4;

			*ip_len = ip->ihl * 4;
			if ((void *)(t + 1) <= end) {
				*th = *t;
				return true;
			}
		} else {
			if (bpf_skb_load_bytes(skb, 0, &b, 1))
				return false;
			*ip_len = (b & 0xf) * 4;
		}
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		*ip_len = 40;
		if ((void *)(ip6 + 1) + sizeof(*th) <= end) {
			if (ip6->nexthdr != IPPROTO_TCP)
				return false; /* extension headers: not followed (TCP uses none) */
			*th = *(struct tcphdr *)(ip6 + 1);
			return true;
		}
		if (bpf_skb_load_bytes(skb, 6, &b, 1) || b != IPPROTO_TCP)
			return false;
	} else {
		return false;
	}
	return bpf_skb_load_bytes(skb, *ip_len, th, sizeof(*th)) == 0;
}

/* A SYN that came to a listening socket: notes when (struct syn_key). */
static __always_inline void note_syn(struct __sk_buff *skb, const struct tcphdr *th)
{
	struct syn_key key = {};
	struct syn_note note = {}, *old;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		key.peer[2] = key.local[2] = bpf_htonl(0xffff);
		if (bpf_skb_load_bytes(skb, 12, &key.peer[3], 4) ||
		    bpf_skb_load_bytes(skb, 16, &key.local[3], 4))
			return;
	} else if (bpf_skb_load_bytes(skb, 8, key.peer, 16) ||
		   bpf_skb_load_bytes(skb, 24, key.local, 16)) {
		return;
	}
	key.peer_port = th->source;
	key.local_port = bpf_ntohs(th->dest);
	note.seq = bpf_ntohl(th->seq);
	old = bpf_map_lookup_elem(&syn_notes, &key);
	if (old && old->seq == note.seq)
		return; /* a retransmitted SYN: the first one started the handshake */
	note.ts_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&syn_notes, &key, &note, BPF_ANY);
}

/* Reads the addresses and ports of a segment that came to a listening socket; false when
 * they cannot be read. */
static __always_inline bool seg_addrs_load(struct __sk_buff *skb, const struct tcphdr *th,
					   struct seg_addrs *a)
{
	a->peer_port = th->source;
	a->local_port = bpf_ntohs(th->dest);
	a->v6 = skb->protocol != bpf_htons(ETH_P_IP);
	if (a->v6)
		return !bpf_skb_load_bytes(skb, 8, a->peer, 16) &&
		       !bpf_skb_load_bytes(skb, 24, a->local, 16);
	__builtin_memset(a->peer, 0, sizeof(a->peer));
	__builtin_memset(a->local, 0, sizeof(a->local));
	return !bpf_skb_load_bytes(skb, 12, &a->peer[0], 4) &&
	       !bpf_skb_load_bytes(skb, 16, &a->local[0], 4);
}

/* A segment that came to a listening socket and is no SYN: notes when (struct ack_note).
 * Returns its addresses and ports, NULL when they could not be read. */
static __always_inline const struct seg_addrs *note_ack(struct __sk_buff *skb,
							 const struct tcphdr *th)
{
	struct ack_note *n;
	__u32 zero = 0;

	n = bpf_map_lookup_elem(&ack_notes, &zero);
	if (!n)
		return NULL;
	n->ts_ns = 0;
	if (!seg_addrs_load(skb, th, &n->addrs))
		return NULL;
	n->ts_ns = bpf_ktime_get_ns();
	return &n->addrs;
}

/* A segment that came to a listening socket: a SYN is noted (note_syn()), any other (the
 * ACK that completes a handshake) too (note_ack()); a segment with payload (see struct
 * first_segment) is framed into the per-CPU slot. */
static __always_inline void capture_at_listener(struct __sk_buff *skb)
{
	const struct seg_addrs *addrs;
	struct first_segment *first;
	struct tlsf_io io = {};
	struct tcphdr th;
	__u32 ip_len, off, zero = 0;

	if (!tcp_header(skb, &ip_len, &th) || th.rst)
		return;
	if (th.syn) {
		if (!th.ack)
			note_syn(skb, &th);
		return;
	}
	if (!th.ack)
		return;
	addrs = note_ack(skb, &th);
	off = ip_len + th.doff * 4;
	if (!addrs || off >= skb->len)
		return;
	first = bpf_map_lookup_elem(&first_segments, &zero);
	if (!first)
		return;
	__builtin_memset(&first->st, 0, sizeof(first->st));
	first->n_recs = 0;
	first->seq = bpf_ntohl(th.seq);
	first->len = skb->len - off;
	first->addrs = *addrs;
	io.cookie = 0; /* records go to the slot */
	io.ts_ns = bpf_ktime_get_ns();
	io.dir = HS_DIR_IN;
	io.buf = off;
	io.len = first->len;
	io.seq = 0;
	tlsf_feed(&first->st, &io, skb);
	first->ts_ns = io.ts_ns;
}

/* A segment of a followed connection: sets where a client's stream starts (its SYN), feeds
 * the payload of a followed direction, its TLS records gathered into one batch. */
static __always_inline void capture_segment(struct __sk_buff *skb, struct sk_state *s,
					    const struct tcphdr *th, __u32 off, int d)
{
	__u32 seq = bpf_ntohl(th->seq);

	if (th->syn) {
		/* The client's SYN sets where its stream starts; with TCP Fast Open it carries
		 * the first bytes already. */
		if (d == D_OUT && !s->known[D_OUT]) {
			s->base[D_OUT] = s->next[D_OUT] = seq + 1;
			s->known[D_OUT] = 1;
		}
		/* The client's established is when its first SYN-ACK arrived (the state change
		 * comes tens of µs later on a slow machine). */
		if (d == D_IN && th->ack && !s->synack_ns)
			s->synack_ns = bpf_ktime_get_ns();
		seq++;
	}
	if (off >= skb->len || !s->known[d] || (s->dir[d].flags & TLSF_F_STOPPED))
		return;
	if (!tls_batch_enter()) {
		__sync_fetch_and_add(&lost_records, 1);
		return;
	}
	capture_payload(skb, s, d, seq, off, skb->len - off);
	if (d == D_OUT && xmit_cut_later(skb)) {
		struct tls_batch *b0, *b = tls_batch_now(&b0);

		if (b && b->n)
			xmit_watch_set(s->cookie, HS_SENT_BYTES, seq, seq + skb->len - off,
				       s->base[D_OUT],
				       ((struct hs_hdr *)&b->buf[TLS_BATCH_HDR])->ts_ns);
	}
	tls_batch_leave();
}

/* An incoming FIN: notes when, for its socket (struct fin_note). */
static __always_inline void note_fin(struct __sk_buff *skb)
{
	struct fin_note *n;
	__u32 zero = 0;

	n = bpf_map_lookup_elem(&fin_notes, &zero);
	if (!n)
		return;
	n->cookie = bpf_get_socket_cookie(skb);
	n->ts_ns = bpf_ktime_get_ns();
}

/* One packet of any socket: finds a followed TCP connection's payload. */
static __always_inline void capture_packet(struct __sk_buff *skb, int d)
{
	struct bpf_sock *bsk = skb->sk;
	struct sk_state *s;
	struct tcphdr th;
	__u32 ip_len, off;

	if (!bsk)
		return;
	bsk = bpf_sk_fullsock(bsk);
	if (!bsk || bsk->protocol != IPPROTO_TCP)
		return;
	if (d == D_IN && bsk->state == HS_TCP_LISTEN) {
		capture_at_listener(skb);
		return;
	}
	if (!tcp_header(skb, &ip_len, &th))
		return;
	if (d == D_IN && th.fin)
		note_fin(skb);
	/* A SYN or FIN that leaves later than its state change (xmit_times.bpf.h). */
	if (d == D_OUT && xmit_watch_busy && ((th.syn && !th.ack) || th.fin))
		xmit_meet_at_egress(bpf_get_socket_cookie(skb), th.syn, th.fin);
	off = ip_len + th.doff * 4;
	/* A segment without payload (an ACK, a FIN) tells the framing nothing: no lookup. */
	if (off >= skb->len && !th.syn)
		return;
	s = bpf_sk_storage_get(&sk_states, bsk, 0, 0);
	if (!s || (s->flags & SKF_DONE))
		return;
	capture_segment(skb, s, &th, off, d);
	if (sk_state_finished(s))
		bpf_sk_storage_delete(&sk_states, bsk);
}

SEC("cgroup_skb/egress")
int handle_egress(struct __sk_buff *skb)
{
	capture_packet(skb, D_OUT);
	return 1;
}

SEC("cgroup_skb/ingress")
int handle_ingress(struct __sk_buff *skb)
{
	capture_packet(skb, D_IN);
	return 1;
}

#endif /* HSTRACE_TLS_CAPTURE_BPF_H */
