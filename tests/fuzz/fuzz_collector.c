// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * fuzz_collector.c - libFuzzer target for the collector fed random record streams.
 *
 * The input is a small program of records and clock ticks (format below). Records of every
 * kind (TCP, TLS, SSL, IO, EXEC, SENT and unknown kinds), of the right size, cut short or too
 * long, for a handful of cookies, in any order and with any timestamps go through the path
 * hstrace uses for ring-buffer records (main.c's on_record: an EXEC record of its exact size
 * goes to the library prober, everything else to collector_handle()), with collector_flush() and
 * collector_flush_max() between them and collector_finish() at the end. max_conns is 1 to 8,
 * so eviction runs.
 *
 * Every emitted timeline also goes through the renderers (one-line text, --timeline waterfall,
 * NDJSON) and into a report (report_add_timeline, then the text report at the end).
 *
 * Besides the sanitizers' checks (LeakSanitizer included), it aborts, which libFuzzer reports
 * as a crash, when:
 *  - collector_handle() returns anything but 0, -EINVAL, -ENOENT, -ENOMEM, or the counters
 *    disagree with what it returned (records, malformed, unmatched, dropped);
 *  - connections emitted differ from `conns`, results "incomplete" from `incomplete`, or
 *    evicted > incomplete; events delivered to the callback exceed `events`, or fall short of
 *    it by more than the SYN_RECV records taken (emission drops those it cannot place);
 *  - more connections are open than max_conns or than cookies in use, a record creates more
 *    than one connection, or a flush creates one; open is not 0 after collector_finish();
 *  - an emitted timeline breaks a promise of timeline.h: a cookie never fed, an unknown role,
 *    result or event, events out of time order, CLOSED not last, start_ns not the first
 *    event's time, a phase out of [start, end] order or beyond TL_MAX_PHASES, counts beyond
 *    their arrays, unterminated strings.
 *
 * Input format (bytes past the end read as 0):
 *   byte 0: bits 0-2 max_conns - 1; bits 3-4 grace (default, 1 ns, 1 ms, 1 s);
 *   then operations, each an op byte:
 *     bits 0-2: 0 TCP, 1 TLS, 2 SSL, 3 IO, 4 EXEC, 5 SENT (a first 16-bit word < 256) or
 *               an unknown kind, 6 flush, 7 flush_max or repeat the last record;
 *     bits 3-4: size: 0-1 exact, 2 cut short, 3 too long (by 1-256 bytes);
 *     bits 5-7: cookie (one of 8, 0 included);
 *   then for a record a time byte t (< 128: clock += t µs; < 192: clock += t - 128 ms;
 *   < 240: t - 192 µs before the clock, which stays; else 8 bytes: any timestamp), the
 *   record's own fields (see the read_* functions), and for a cut/long size one more byte.
 *
 *   make fuzz FUZZ_TARGETS=fuzz_collector FUZZ_SECONDS=600
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/types.h>

#include "collector.h"
#include "hstrace.h"
#include "render.h"
#include "render_timeline.h"
#include "report.h"
#include "timeline.h"

/*
 * Two checks the collector failed until it was fixed (docs/fuzzing.md, Findings 3 and 4;
 * reproducers in tests/fuzz/regress/) can be relaxed with -DFUZZ_STRICT=0, to fuzz past them
 * should they come back:
 *  - "any timestamp" is then masked to 62 bits (146 years of uptime), below where
 *    start_wall_ns = start_ns + mono_to_wall_ns overflowed an int64_t;
 *  - a connection with two CLOSED records then only needs a CLOSED event last, not alone.
 */
#ifndef FUZZ_STRICT
#define FUZZ_STRICT 1
#endif

#define N_COOKIES 8
#define REC_MAX (sizeof(struct hs_tls_rec) + 256)

static const uint64_t cookies[N_COOKIES] = {
	0, 1, 2, 0x1234, 0x7fffffffffffffffULL, 0x8000000000000000ULL, UINT64_MAX, 42,
};

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t in_u8(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static uint16_t in_u16(struct input *in)
{
	uint16_t lo = in_u8(in);

	return (uint16_t)(lo | in_u8(in) << 8);
}

static uint64_t in_u64(struct input *in)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)in_u8(in) << (8 * i);
	return v;
}

struct run {
	struct collector *c;
	size_t max_conns;
	uint64_t clock;

	/* what the harness saw */
	uint64_t handed, ret_inval, ret_noent, ret_nomem;
	uint64_t emitted, emitted_incomplete, events_delivered;
	uint64_t syn_recv_used; /* SYN_RECV records the collector took (returned 0) */
	uint64_t created;  /* open + conns after the last check: never decreases */
	bool cookie_used[N_COOKIES];

	uint8_t last[REC_MAX]; /* the last record, for repeats */
	size_t last_size;

	struct report *report; /* what `hstrace --report` builds from the same timelines */
};

static FILE *devnull;

static void check_text(const char *s, size_t size)
{
	if (strnlen(s, size) == size)
		abort();
}

static bool cookie_known(const struct run *r, uint64_t cookie)
{
	size_t i;

	for (i = 0; i < N_COOKIES; i++)
		if (cookies[i] == cookie && r->cookie_used[i])
			return true;
	return false;
}

/* FUZZ_DEBUG=1 in the environment: prints every emitted timeline (to read a reproducer). */
static void debug_timeline(const struct timeline *tl)
{
	size_t i;

	fprintf(stderr, "emit cookie %#llx role %d result %s: %zu events, %zu phases\n",
		(unsigned long long)tl->cookie, tl->role, tl_result_name(tl->result), tl->n_events,
		tl->n_phases);
	for (i = 0; i < tl->n_events; i++)
		fprintf(stderr, "  %llu %s dir %u%s\n", (unsigned long long)tl->events[i].ts_ns,
			tl_event_name(tl->events[i].event), tl->events[i].dir,
			tl->events[i].derived ? " derived" : "");
	for (i = 0; i < tl->n_phases; i++)
		fprintf(stderr, "  phase %s %llu..%llu\n", tl->phases[i].name,
			(unsigned long long)tl->phases[i].start_ns,
			(unsigned long long)tl->phases[i].end_ns);
}

static void check_timeline(const struct run *r, const struct timeline *tl)
{
	size_t i;

	if (getenv("FUZZ_DEBUG"))
		debug_timeline(tl);
	if (!cookie_known(r, tl->cookie))
		abort();
	if (tl->role != ROLE_CLIENT && tl->role != ROLE_SERVER)
		abort();
	if ((unsigned int)tl->result >= RESULT__MAX)
		abort();
	if (tl->ip_version != 0 && tl->ip_version != 4 && tl->ip_version != 6)
		abort();
	if (tl->n_events && (!tl->events || tl->start_ns != tl->events[0].ts_ns))
		abort();
	for (i = 0; i < tl->n_events; i++) {
		const struct tl_event *ev = &tl->events[i];

		if (!strcmp(tl_event_name(ev->event), "unknown") || ev->dir > DIR_IN)
			abort();
		if (i && tl->events[i - 1].ts_ns > ev->ts_ns)
			abort(); /* "sorted by ts_ns" */
		if (ev->event == HS_EV_CLOSED && i + 1 != tl->n_events &&
		    (FUZZ_STRICT || tl->events[tl->n_events - 1].event != HS_EV_CLOSED))
			abort(); /* CLOSED ends a timeline */
	}
	if (tl->n_phases > TL_MAX_PHASES)
		abort();
	for (i = 0; i < tl->n_phases; i++) {
		const struct tl_phase *ph = &tl->phases[i];

		if (!ph->name || !ph->name[0] || ph->end_ns < ph->start_ns ||
		    ph->dur_ns != ph->end_ns - ph->start_ns)
			abort();
	}
	check_text(tl->comm, sizeof(tl->comm));
	check_text(tl->tls.sni, sizeof(tl->tls.sni));
	check_text(tl->tls.alpn_selected, sizeof(tl->tls.alpn_selected));
	check_text(tl->tls.library, sizeof(tl->tls.library));
	check_text(tl->tls.library_file, sizeof(tl->tls.library_file));
	if (tl->tls.n_alpn_offered > TL_MAX_ALPN || tl->tls.n_offered_versions > TL_MAX_VERSIONS)
		abort();
	for (i = 0; i < tl->tls.n_alpn_offered; i++)
		check_text(tl->tls.alpn_offered[i], sizeof(tl->tls.alpn_offered[i]));
}

static void on_emit(const struct timeline *tl, void *ctx)
{
	struct run *r = ctx;

	struct timeline_view view = { .color = tl->cookie & 1 };
	int err;

	check_timeline(r, tl);
	/* Every renderer takes what the collector emits. */
	render_text_line(devnull, tl);
	render_timeline(devnull, tl, &view);
	err = render_json_line(devnull, tl);
	if (err && err != -EIO)
		abort();
	if (report_add_timeline(r->report, tl))
		abort();
	r->emitted++;
	r->events_delivered += tl->n_events;
	if (tl->result == RESULT_INCOMPLETE)
		r->emitted_incomplete++;
}

static void lib_describe(void *ctx, uint32_t lib_id, struct tl_tls *tls)
{
	(void)ctx;
	snprintf(tls->library, sizeof(tls->library), "lib %u", lib_id);
}

/* The counters against what the harness saw. `records` is how many records the step handed
 * over (a record creates at most one connection), -1 for a flush (creates none). */
static void check_stats(struct run *r, long records)
{
	struct collector_stats st;
	size_t in_use = 0, i;
	uint64_t created;

	collector_get_stats(r->c, &st);
	if (st.records != r->handed || st.malformed != r->ret_inval ||
	    st.unmatched != r->ret_noent || st.dropped != r->ret_nomem)
		abort();
	if (st.conns != r->emitted || st.incomplete != r->emitted_incomplete ||
	    st.evicted > st.incomplete)
		abort();
	/* `events` counts TCP events as they are appended (open connections hold some) */
	if (st.events < r->events_delivered)
		abort();
	for (i = 0; i < N_COOKIES; i++)
		in_use += r->cookie_used[i];
	if (st.open > r->max_conns || st.open > in_use)
		abort();
	created = st.open + st.conns;
	if (created < r->created)
		abort();
	if (records < 0 ? created != r->created : created - r->created > (uint64_t)records)
		abort();
	r->created = created;
}

/* Hands one record over as main.c's on_record() does. */
static void deliver(struct run *r, const void *data, size_t size)
{
	struct hs_tcp_rec tcp = { 0 };
	struct hs_exec_rec exec;
	int err;

	if (size == sizeof(exec)) {
		memcpy(&exec, data, sizeof(exec));
		if (exec.hdr.kind == HS_REC_EXEC)
			return; /* to the library prober, not the collector */
	}
	r->handed++;
	err = collector_handle(r->c, data, size);
	switch (err) {
	case 0:
		memcpy(&tcp, data, size < sizeof(tcp) ? size : sizeof(tcp));
		if (tcp.hdr.kind == HS_REC_TCP && tcp.event == HS_EV_SYN_RECV)
			r->syn_recv_used++;
		break;
	case -EINVAL:
		r->ret_inval++;
		break;
	case -ENOENT:
		r->ret_noent++;
		break;
	case -ENOMEM:
		r->ret_nomem++;
		break;
	default:
		abort();
	}
}

static uint64_t read_ts(struct run *r, struct input *in)
{
	uint8_t t = in_u8(in);

	if (t < 128)
		return r->clock += t * 1000ULL;
	if (t < 192)
		return r->clock += (t - 128) * 1000000ULL;
	if (t < 240)
		return r->clock - (t - 192) * 1000ULL;
	return FUZZ_STRICT ? in_u64(in) : in_u64(in) >> 2;
}

static const uint8_t addrs[4][HS_ADDR_LEN] = {
	{ 127, 0, 0, 1 },
	{ 10, 0, 0, 2 },
	{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 },
	{ 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
};

/* TCP: event (mod 13: 0 and 12 are invalid), flags, srtt, bytes. Returns the exact size. */
static size_t read_tcp(struct input *in, void *buf, size_t cookie_idx)
{
	struct hs_tcp_rec *rec = buf;
	uint8_t fl, b;

	rec->event = in_u8(in) % 13;
	fl = in_u8(in);
	if (fl & 1) {
		rec->flags = HS_F_OWNER;
		rec->pid = 1000 + (uint32_t)cookie_idx;
		rec->tid = rec->pid + (fl >> 7);
		memcpy(rec->comm, "fuzz-comm-16byte", HS_COMM_LEN); /* not terminated */
	}
	rec->family = ((const uint16_t[]){ AF_INET, AF_INET6, 0, 99 })[(fl >> 1) & 3];
	memcpy(rec->saddr, addrs[(fl >> 3) & 3], HS_ADDR_LEN);
	memcpy(rec->daddr, addrs[(fl >> 4) & 3], HS_ADDR_LEN);
	rec->sport = (fl & 0x20) ? 0 : 40000 + (uint16_t)cookie_idx;
	rec->dport = (fl & 0x20) ? 443 : 0;
	if (fl & 0x40)
		rec->sk_err = (fl & 0x80) ? ECONNREFUSED : ETIMEDOUT;
	rec->srtt_us = in_u8(in) * 100u;
	b = in_u8(in);
	rec->bytes_sent = (b & 15) * 517ULL;
	rec->bytes_received = (b >> 4) * 1460ULL;
	if (rec->event == HS_EV_ESTABLISHED && (b & 1)) {
		rec->isn_local = 0x11111111u * (uint32_t)(cookie_idx + 1);
		rec->isn_peer = ~rec->isn_local;
	}
	/* a server's SYN time: any value, also after the record's own */
	if (rec->event == HS_EV_ESTABLISHED && (b & 2))
		rec->syn_ns = in_u8(in) * 7919000ULL;
	return sizeof(*rec);
}

/* TLS: what (mod 7), dir (mod 4), content type, handshake type, version, len, count, seq,
 * data_len (0-1024, or past the maximum) and that many data bytes. */
static size_t read_tls(struct input *in, void *buf)
{
	struct hs_tls_rec *rec = buf;
	size_t n, i;

	rec->what = in_u8(in) % 7;
	rec->dir = in_u8(in) % 4;
	rec->content_type = in_u8(in);
	rec->hs_type = in_u8(in);
	rec->version = in_u16(in);
	rec->len = in_u16(in);
	rec->count = in_u8(in);
	rec->seq = in_u16(in);
	if (rec->seq & 0x8000)
		rec->seq |= 0xffff0000u; /* near the 2^32 wrap */
	n = in_u16(in) % 1040; /* past HS_TLS_DATA_MAX: malformed */
	rec->data_len = (uint16_t)n;
	if (n > HS_TLS_DATA_MAX)
		return HS_TLS_REC_HDR_SIZE;
	for (i = 0; i < n; i++)
		rec->data[i] = in_u8(in);
	return HS_TLS_REC_HDR_SIZE + n;
}

/* SSL: what (mod 4), ret, entry time (before ts, or after it: invalid), library id. */
static size_t read_ssl(struct input *in, void *buf)
{
	struct hs_ssl_rec *rec = buf;
	uint8_t d;

	rec->what = in_u8(in) % 4;
	rec->ret = (int8_t)in_u8(in);
	d = in_u8(in);
	rec->entry_ns = d == 255 ? rec->hdr.ts_ns + 1 : rec->hdr.ts_ns - d * 10000ULL;
	if (rec->entry_ns > rec->hdr.ts_ns && d != 255)
		rec->entry_ns = 0; /* ts_ns was near 0 */
	rec->lib_id = in_u8(in) % 4;
	return sizeof(*rec);
}

/* IO: dir (mod 4), seq_end. */
static size_t read_io(struct input *in, void *buf)
{
	struct hs_io_rec *rec = buf;

	rec->dir = in_u8(in) % 4;
	rec->seq_end = in_u16(in);
	return sizeof(*rec);
}

/* SENT: what (mod 5: 0 and 4 are invalid), seq, len (stream offsets near the ones TLS records
 * use). */
static size_t read_sent(struct input *in, void *buf)
{
	struct hs_sent_rec *rec = buf;

	rec->what = in_u8(in) % 5;
	rec->seq = in_u16(in);
	rec->len = in_u16(in);
	return sizeof(*rec);
}

/* Builds one record of the op's kind and hands it over. */
static void op_record(struct run *r, struct input *in, uint8_t op)
{
	uint8_t buf[REC_MAX] __attribute__((aligned(8)));
	struct hs_hdr *hdr = (struct hs_hdr *)buf;
	size_t kind = op & 7, mode = (op >> 3) & 3, ci = op >> 5, size, extra;

	memset(buf, 0, sizeof(buf));
	r->cookie_used[ci] = true;
	hdr->cookie = cookies[ci];
	hdr->ts_ns = read_ts(r, in);
	switch (kind) {
	case 0:
		hdr->kind = HS_REC_TCP;
		size = read_tcp(in, buf, ci);
		break;
	case 1:
		hdr->kind = HS_REC_TLS;
		size = read_tls(in, buf);
		break;
	case 2:
		hdr->kind = HS_REC_SSL;
		size = read_ssl(in, buf);
		break;
	case 3:
		hdr->kind = HS_REC_IO;
		size = read_io(in, buf);
		break;
	case 4:
		hdr->kind = HS_REC_EXEC;
		((struct hs_exec_rec *)buf)->pid = in_u8(in);
		size = sizeof(struct hs_exec_rec);
		break;
	default: /* a device time, or an unknown kind (or a known one, if the fuzzer picks it) */
		hdr->kind = in_u16(in);
		if (hdr->kind < 0x100) {
			hdr->kind = HS_REC_SENT;
			size = read_sent(in, buf);
			break;
		}
		size = sizeof(struct hs_hdr) + in_u8(in);
		break;
	}
	hdr->size = (uint16_t)size;
	if (mode == 2) { /* cut short; the header may say either size */
		extra = in_u8(in);
		size = size ? (extra >> 1) % size : 0;
		if (extra & 1)
			hdr->size = (uint16_t)size;
	} else if (mode == 3) { /* too long: trailing bytes come from the input */
		extra = in_u8(in);
		size += 1 + (extra >> 1);
		if (extra & 1)
			hdr->size = (uint16_t)size;
		for (size_t i = size - 1 - (extra >> 1); i < size; i++)
			buf[i] = in_u8(in);
	}
	memcpy(r->last, buf, size);
	r->last_size = size;
	deliver(r, buf, size);
	check_stats(r, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t graces[4] = { 0, 1, 1000000ULL, 1000000000ULL };
	struct input in = { data, size };
	struct collector_opts opts = { 0 };
	struct run r = { 0 };
	uint8_t op, b;
	size_t i, n;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	b = in_u8(&in);
	r.max_conns = 1 + (b & 7);
	r.report = report_new((enum report_by)(b >> 6) + REPORT_BY_NONE);
	if (!r.report)
		abort();
	r.clock = 1000ULL * 1000 * 1000 * 1000; /* 1000 s of uptime */
	opts.emit = on_emit;
	opts.ctx = &r;
	opts.mono_to_wall_ns = 1795764000000000000LL;
	opts.grace_ns = graces[(b >> 3) & 3];
	opts.max_conns = r.max_conns;
	opts.lib_describe = (b & 0x20) ? lib_describe : NULL;
	r.c = collector_new(&opts);
	if (!r.c)
		abort();

	while (in.left) {
		op = in_u8(&in);
		switch (op & 7) {
		case 6: /* flush at a time around the clock */
			b = in_u8(&in);
			collector_flush(r.c, b < 200 ? r.clock + b * 1000000ULL
						     : r.clock - (b - 200) * 1000000ULL);
			check_stats(&r, -1);
			break;
		case 7:
			b = in_u8(&in);
			if (b & 1) { /* a batch of a flush */
				collector_flush_max(r.c, r.clock + (b >> 4) * 10000000ULL,
						    (b >> 1) & 7);
				check_stats(&r, -1);
				break;
			}
			/* the last record again, up to 128 times (the 4096-event limit per
			 * connection is left to test_collector: a record costs O(events)) */
			n = (size_t)(b >> 1) + 1;
			for (i = 0; i < n && r.last_size; i++) {
				deliver(&r, r.last, r.last_size);
				check_stats(&r, 1);
			}
			break;
		default:
			op_record(&r, &in, op);
			break;
		}
	}

	collector_finish(r.c);
	check_stats(&r, -1);
	{
		struct collector_stats st;

		collector_get_stats(r.c, &st);
		if (st.open || r.report->conns != st.conns)
			abort();
		/* Every event counted was delivered, but for a server's SYN_RECV events, which
		 * emission drops when it has no SYN-ACK RTT to place them (test_collector.c
		 * counts them too) */
		if (st.events - r.events_delivered > r.syn_recv_used)
			abort();
	}
	{
		struct report_view v = { .top = 3, .histograms = true };

		if (report_text_write(devnull, r.report, &v) == -ENOMEM)
			abort();
	}
	collector_free(r.c);
	report_free(r.report);
	return 0;
}
