/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * xmit_times.bpf.h - when an outgoing packet really left, if later than its event.
 *
 * Out events are timed where TCP hands a packet to IP (cgroup_skb egress) or at the state
 * change that makes it (syn_sent in connect(), fin_out in close()/shutdown()). The packet can
 * leave later:
 *   - a SYN or a FIN is built after its state change (tens of µs on the development VM: route
 *     and port selection for a SYN): it is watched from the state change (tcp_states.bpf.h) to
 *     the egress program of the packet that carries it (xmit_meet_at_egress());
 *   - a GSO packet is cut into segments for a device without segmentation offload, and the
 *     last segments reach the device after the first (on the TUN devices of the accuracy
 *     bench, the third 1,500-byte segment of a server flight 30-73 µs after the packet left
 *     TCP): a packet that carried TLS records is watched from its egress program
 *     (tls_capture.bpf.h) to tp_btf/net_dev_start_xmit of each of its segments after the
 *     first (handle_xmit()).
 * The first segment keeps the egress time: net_dev_start_xmit comes after the packet taps
 * (tcpdump, tshark: dev_queue_xmit_nit() first), so it is biased late by what they cost while
 * one runs (5-10 µs per tap here), and a first segment is sent right after egress unless a
 * qdisc holds it (not corrected). A watch is one of XMIT_WATCHES global slots, taken in turn,
 * with the socket cookie; while no slot is busy, which is nearly always, both hooks read one
 * global; else they compare the packet's socket cookie with each busy slot's. The slots are
 * global, not per CPU: a packet queued while another CPU was running the qdisc is transmitted
 * by that CPU. A packet that leaves XMIT_LATE_NS or more after its event is reported (struct
 * hs_sent_rec). A watch ends when met, or unmet after XMIT_WATCH_NS (the packet was dropped, or
 * is still queued): a later transmission would be a retransmission, whose time is not the
 * event's. Packets of one segment carrying records are not watched, nor loopback ones
 * (loopback sends a packet whole; xmit_cut_later()), nor FINs on a loopback route. Slots are written without locks: a watch read while it is
 * rewritten, or lost to another CPU taking the same slot, leaves its event its first time.
 */
#ifndef HSTRACE_XMIT_TIMES_BPF_H
#define HSTRACE_XMIT_TIMES_BPF_H

#define XMIT_WATCHES 8
#define XMIT_LATE_NS 3000ULL
#define XMIT_WATCH_NS (10ULL * 1000 * 1000)
#define LOOPBACK_IFINDEX 1 /* in every network namespace */

struct xmit_watch {
	__u64 cookie; /* 0: free */
	__u64 ts_ns;  /* its event's time */
	__u32 lo;     /* HS_SENT_BYTES: the packet's payload, sequence numbers [lo, hi) */
	__u32 hi;
	__u32 base;   /* HS_SENT_BYTES: sequence number of stream offset 0 */
	__u8 what;    /* enum hs_sent_what */
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY); /* lookups are inlined: an address computation */
	__uint(max_entries, XMIT_WATCHES);
	__type(key, __u32);
	__type(value, struct xmit_watch);
} xmit_watches SEC(".maps");

__u32 xmit_watch_next = 0;
__u32 xmit_watch_busy = 0; /* bit i: slot i holds a watch */

/* Watches what the socket with this cookie sends for an event at ts_ns: a SYN, a FIN, or the
 * TLS packet with payload [lo, hi). */
static __always_inline void xmit_watch_set(__u64 cookie, __u8 what, __u32 lo, __u32 hi,
					   __u32 base, __u64 ts_ns)
{
	struct xmit_watch *w;
	/* Neither the slot counter nor the busy mask is atomic (this clang's BPF target has no
	 * atomic fetch-and-add with a result, nor an atomic or): two CPUs may take one slot,
	 * or one may lose the other's busy bit; that watch is then lost. */
	__u32 i = xmit_watch_next++ & (XMIT_WATCHES - 1);

	w = bpf_map_lookup_elem(&xmit_watches, &i);
	if (!w)
		return;
	w->cookie = 0;
	w->ts_ns = ts_ns;
	w->lo = lo;
	w->hi = hi;
	w->base = base;
	w->what = what;
	w->cookie = cookie;
	xmit_watch_busy |= 1U << i;
}

/* Will this outgoing packet, at cgroup egress (which knows its device), reach the device in
 * segments, one after the other? A GSO packet of more than one segment not on loopback
 * (loopback sends a packet whole); a device with segmentation offload takes it whole too, but
 * that is not known here: its one segment is then the first, and reports nothing. */
static __always_inline bool xmit_cut_later(const struct __sk_buff *skb)
{
	return skb->ifindex != LOOPBACK_IFINDEX && skb->gso_segs > 1;
}

/* The FIN tcp_send_fin() is about to queue (the state change comes just before it). Not on
 * a loopback route (the socket's cached one says), where it follows at once. */
static __always_inline void xmit_watch_fin(const struct sock *sk, __u64 cookie)
{
	struct dst_entry *dst = sk->sk_dst_cache;
	struct net_device *dev = dst ? dst->dev : NULL;

	if (!dev || dev->ifindex == LOOPBACK_IFINDEX)
		return;
	xmit_watch_set(cookie, HS_SENT_FIN, 0, 0, 0, bpf_ktime_get_ns());
}

/* Slot i's watch, when the busy mask says it holds one; else NULL. */
static __always_inline struct xmit_watch *xmit_slot(__u32 busy, __u32 i)
{
	__u32 key = i;

	if (!(busy & (1U << i)))
		return NULL;
	return bpf_map_lookup_elem(&xmit_watches, &key);
}

/* Slot i's watch is over. */
static __always_inline void xmit_watch_end(struct xmit_watch *w, __u32 i)
{
	w->cookie = 0;
	xmit_watch_busy &= ~(1U << i);
}

/* Reports that watch w's event left at now (stream bytes [lo, hi) for HS_SENT_BYTES), if that
 * is XMIT_LATE_NS or more after the event. */
static __always_inline void xmit_report(struct xmit_watch *w, __u64 cookie, __u64 now,
					__u32 lo, __u32 hi)
{
	struct hs_sent_rec *r;

	if (now - w->ts_ns < XMIT_LATE_NS)
		return;
	r = rec_reserve(HS_REC_SENT, sizeof(*r), cookie);
	if (!r)
		return;
	r->hdr.ts_ns = now;
	r->what = w->what;
	if (w->what == HS_SENT_BYTES) {
		r->seq = lo - w->base;
		r->len = hi - lo;
	}
	bpf_ringbuf_submit(r, rb_wakeup());
}

/* A segment taking sequence numbers [lo, hi) of slot i's TLS packet watch w reached the device
 * (now): a segment after the first is reported. */
static __always_inline void xmit_seen(struct xmit_watch *w, __u32 i, __u64 cookie, __u64 now,
				      __u32 lo, __u32 hi)
{
	bool first;

	if ((__s32)(hi - w->lo) <= 0 || (__s32)(lo - w->hi) >= 0)
		return; /* not the watched ones (an earlier packet's, retransmitted) */
	first = (__s32)(lo - w->lo) <= 0;
	if (first)
		lo = w->lo;
	if ((__s32)(hi - w->hi) >= 0) {
		hi = w->hi;
		xmit_watch_end(w, i); /* the packet's last sequence number: done */
	}
	if (!first)
		xmit_report(w, cookie, now, lo, hi);
}

/* Egress of an outgoing SYN (syn) or FIN (fin) packet of the socket with this cookie: meets
 * its watch, set at the state change. */
static __always_inline void xmit_meet_at_egress(__u64 cookie, bool syn, bool fin)
{
	__u64 now = 0;
	__u32 i;

#pragma unroll
	for (i = 0; i < XMIT_WATCHES; i++) {
		struct xmit_watch *w = xmit_slot(xmit_watch_busy, i);

		if (!w || w->cookie != cookie ||
		    !((w->what == HS_SENT_SYN && syn) || (w->what == HS_SENT_FIN && fin)))
			continue;
		if (!now)
			now = bpf_ktime_get_ns();
		xmit_watch_end(w, i);
		if (now - w->ts_ns <= XMIT_WATCH_NS)
			xmit_report(w, cookie, now, 0, 0);
	}
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(handle_xmit, struct sk_buff *skb, struct net_device *dev)
{
	__u32 i, seq = 0, hlen, span = 0, busy = xmit_watch_busy;
	struct tcphdr th;
	struct sock *sk;
	__u64 cookie, now;
	bool have = false;

	if (!busy)
		return 0; /* nothing watched: every packet but a few */
	sk = skb->sk;
	cookie = sk ? sk->__sk_common.skc_cookie.counter : 0;
	now = bpf_ktime_get_ns();
#pragma unroll
	for (i = 0; i < XMIT_WATCHES; i++) {
		struct xmit_watch *w = xmit_slot(busy, i);

		if (!w)
			continue;
		if (!w->cookie || now - w->ts_ns > XMIT_WATCH_NS) {
			xmit_watch_end(w, i); /* unmet, or the slot was retaken */
			continue;
		}
		if (!cookie || w->cookie != cookie || w->what != HS_SENT_BYTES)
			continue;
		if (!have) {
			if (bpf_probe_read_kernel(&th, sizeof(th),
						  skb->head + skb->transport_header))
				return 0;
			/* The sequence numbers this segment's payload takes (what follows its
			 * TCP header). */
			hlen = skb->transport_header + th.doff * 4 -
			       (__u32)(skb->data - skb->head);
			if (skb->len <= hlen)
				return 0;
			span = skb->len - hlen;
			seq = bpf_ntohl(th.seq);
			have = true;
		}
		xmit_seen(w, i, cookie, now, seq, seq + span);
	}
	return 0;
}

#endif /* HSTRACE_XMIT_TIMES_BPF_H */
