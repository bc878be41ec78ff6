// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * bench_replay - hstrace's own user-space CPU per handshake, without BPF and without root.
 *
 * Synthesises the record stream BPF sends for N full TLS 1.3 handshakes with both ends on this
 * host (a client like tools/hs_load against nginx: certificate verified, one GET, the server
 * closes): per handshake a client end and a server end, each with its 5 TCP records, 17 TLS
 * records (real ClientHello / ServerHello bodies, which the collector parses) and its
 * application calls (client 23, server 13: OpenSSL reads a record's header, then its body),
 * plus two X509_verify_cert() records on the client: 82 records. PAIRS pairs are
 * fed to collector_handle() with IN_FLIGHT of them interleaved by time (a new handshake every
 * 500 µs of record time), the collector is flushed every 100 ms of record time as hstrace's
 * main loop does, and every finished timeline goes through the default filter and, in the
 * render pass, render_json_line() to a FILE on /dev/null.
 *
 *   build/bench_replay [-n PAIRS] [-c IN_FLIGHT] [-r ROUNDS] [-p N]
 *
 * Each round runs three passes over the same stream and measures each with getrusage() (user
 * + system CPU of this process):
 *   replay   the harness alone (patching cookies and times into the records), subtracted
 *	      from the other two
 *   collect  + collector_handle() / collector_flush() and the filter
 *   render   + render_json_line() for every finished connection
 * and prints ms per 1,000 handshakes (= µs per handshake) for the collector, the rendering
 * (render - collect) and the two together; the last line gives the median over the rounds.
 * -p N prints the JSON of the first N pairs on stdout instead (to look at what is measured).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <linux/types.h>

#include "collector.h"
#include "filter.h"
#include "hstrace.h"
#include "render.h"

#define US 1000ULL
#define MS (1000 * US)
#define BASE_NS (1000ULL * 1000 * MS) /* records start at 1000 s of uptime */
#define WALL_NS 1795000000000000000LL  /* + this: wall clock in late 2026 */
#define SPACING_NS (500 * US)	       /* one handshake every 500 µs: 2,000 per second */
#define FLUSH_NS (100 * MS)	       /* hstrace's main loop polls every 100 ms */
#define DEFAULT_PAIRS 40000
#define DEFAULT_IN_FLIGHT 32
#define DEFAULT_ROUNDS 5
#define MAX_ROUNDS 99

enum end { CLI, SRV };

/* One record of the template pair: `size` bytes at buf + off, for end `end`, at t_ns from
 * the pair's start. */
struct trec {
	size_t off;
	uint16_t size;
	uint8_t end;
	uint64_t t_ns;
	size_t order; /* creation order: ties in t_ns keep it */
};

/* The records of one handshake (both ends), then of a group of IN_FLIGHT of them. */
struct tmpl {
	uint8_t *buf;
	size_t len, cap;
	struct trec *recs;
	size_t n, cap_recs;
	uint32_t stream[2]; /* next stream offset of the bytes sent by CLI, by SRV */
};

/* One record of a group: record `rec` of the template for pair `pair` of the group. */
struct gslot {
	uint64_t t_ns;
	uint32_t pair;
	uint32_t rec;
};

struct bench {
	struct tmpl t;
	struct gslot *group;
	size_t n_group;
	size_t in_flight;
	struct conn_filter filter;
	FILE *out;
	bool render;
	uint64_t shown;
};

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		fprintf(stderr, "bench_replay: out of memory\n");
		exit(1);
	}
	return p;
}

/* Appends one record of `size` bytes for `end` at `us` µs into the handshake. */
static void tmpl_add(struct tmpl *t, enum end end, uint64_t us, const void *rec, size_t size)
{
	struct trec *r;

	t->len = (t->len + 7) & ~(size_t)7; /* 8-byte aligned, as in the ring buffer */
	if (t->len + size > t->cap) {
		t->cap = (t->len + size) * 2;
		t->buf = xrealloc(t->buf, t->cap);
	}
	if (t->n == t->cap_recs) {
		t->cap_recs = t->cap_recs ? t->cap_recs * 2 : 64;
		t->recs = xrealloc(t->recs, t->cap_recs * sizeof(*t->recs));
	}
	r = &t->recs[t->n];
	r->off = t->len;
	r->size = (uint16_t)size;
	r->end = end;
	r->t_ns = us * US;
	r->order = t->n;
	t->n++;
	memcpy(t->buf + t->len, rec, size);
	t->len += size;
}

/* ---- TCP ---- */

static void tcp(struct tmpl *t, enum end end, uint64_t us, unsigned int event, uint32_t srtt_us,
		uint64_t sent, uint64_t received)
{
	struct hs_tcp_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_TCP;
	r.hdr.size = sizeof(r);
	r.event = event;
	r.family = AF_INET;
	r.sport = end == CLI ? 40000 : 443;
	r.dport = end == CLI ? 443 : 40000;
	r.srtt_us = srtt_us;
	r.bytes_sent = sent;
	r.bytes_received = received;
	r.saddr[0] = r.daddr[0] = 127;
	r.saddr[3] = r.daddr[3] = 1;
	if (event == HS_EV_SYN_SENT) {
		r.flags = HS_F_OWNER;
		r.pid = 4242;
		r.tid = 4243;
		strcpy(r.comm, "hs_load");
	} else if (event == HS_EV_ACCEPTED) {
		r.flags = HS_F_OWNER;
		r.pid = 2001;
		r.tid = 2001;
		strcpy(r.comm, "nginx");
	}
	tmpl_add(t, end, us, &r, sizeof(r));
}

/* ---- TLS ---- */

static void tls(struct tmpl *t, enum end end, uint64_t us, uint8_t what, uint8_t dir, uint8_t ct,
		uint8_t hs_type, uint32_t len, uint32_t seq, const void *data, size_t data_len)
{
	struct hs_tls_rec r;
	size_t size = HS_TLS_REC_HDR_SIZE + data_len;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_TLS;
	r.hdr.size = (uint16_t)size;
	r.what = what;
	r.dir = dir;
	r.content_type = ct;
	r.hs_type = hs_type;
	r.version = 0x0303;
	r.len = len;
	r.seq = seq;
	r.data_len = (uint16_t)data_len;
	if (data_len)
		memcpy(r.data, data, data_len);
	tmpl_add(t, end, us, &r, size);
}

/* A record of content type ct and body length len sent by `from` at us_out, arriving at the
 * other end at us_in; with a hello (type 1 or 2) body when `body` is set. Returns its stream
 * offset. */
static uint32_t send_rec(struct tmpl *t, enum end from, uint64_t us_out, uint64_t us_in,
			 uint8_t ct, uint32_t len, uint8_t hs_type, const uint8_t *body,
			 size_t body_len)
{
	enum end to = from == CLI ? SRV : CLI;
	uint32_t seq = t->stream[from];

	tls(t, from, us_out, HS_TLS_RECORD, HS_DIR_OUT, ct, 0, len, seq, NULL, 0);
	if (body)
		tls(t, from, us_out, HS_TLS_HANDSHAKE, HS_DIR_OUT, ct, hs_type,
		    (uint32_t)body_len, seq, body, body_len);
	tls(t, to, us_in, HS_TLS_RECORD, HS_DIR_IN, ct, 0, len, seq, NULL, 0);
	if (body)
		tls(t, to, us_in, HS_TLS_HANDSHAKE, HS_DIR_IN, ct, hs_type,
		    (uint32_t)body_len, seq, body, body_len);
	t->stream[from] += 5 + len;
	return seq;
}

/* An application call of `end` at us that moved its stream in direction dir up to seq_end. */
static void io(struct tmpl *t, enum end end, uint64_t us, uint8_t dir, uint32_t seq_end)
{
	struct hs_io_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_IO;
	r.hdr.size = sizeof(r);
	r.dir = dir;
	r.seq_end = seq_end;
	tmpl_add(t, end, us, &r, sizeof(r));
}

/* `end` reads the record at seq (body length len) as OpenSSL does: header, then body. */
static void read_rec(struct tmpl *t, enum end end, uint64_t us, uint32_t seq, uint32_t len)
{
	io(t, end, us, HS_DIR_IN, seq + 5);
	io(t, end, us + 1, HS_DIR_IN, seq + 5 + len);
}

static void ssl_verify(struct tmpl *t, enum end end, uint64_t entry_us, uint64_t ret_us)
{
	struct hs_ssl_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.kind = HS_REC_SSL;
	r.hdr.size = sizeof(r);
	r.what = HS_SSL_VERIFY;
	r.ret = 1;
	r.entry_ns = entry_us * US; /* from the pair's start: rebased when replayed */
	r.lib_id = 1;
	tmpl_add(t, end, ret_us, &r, sizeof(r));
}

/* ---- hello bodies, as OpenSSL 3 sends them ---- */

struct body {
	uint8_t b[HS_TLS_DATA_MAX];
	size_t n;
};

static void put8(struct body *b, unsigned int v)
{
	if (b->n < sizeof(b->b))
		b->b[b->n++] = (uint8_t)v;
}

static void put16(struct body *b, unsigned int v)
{
	put8(b, v >> 8);
	put8(b, v);
}

static void put_fill(struct body *b, unsigned int byte, size_t n)
{
	while (n--)
		put8(b, byte);
}

/* Opens a field with a 16-bit length; close16() fills it in. */
static size_t open16(struct body *b)
{
	put16(b, 0);
	return b->n;
}

static void close16(struct body *b, size_t start)
{
	size_t len = b->n - start;

	b->b[start - 2] = (uint8_t)(len >> 8);
	b->b[start - 1] = (uint8_t)len;
}

/* An extension of `len` opaque bytes (the parser skips it). */
static void ext_opaque(struct body *b, unsigned int type, size_t len)
{
	put16(b, type);
	put16(b, (unsigned int)len);
	put_fill(b, 0x01, len);
}

/* ClientHello: SNI "localhost", TLS 1.3 and 1.2, x25519 key share, the usual extensions. */
static void client_hello(struct body *b)
{
	static const char sni[] = "localhost";
	size_t exts, e, l, i;

	b->n = 0;
	put16(b, 0x0303);
	put_fill(b, 0x5a, 32);
	put8(b, 32);
	put_fill(b, 0xee, 32);
	l = open16(b);
	put16(b, 0x1301);
	put16(b, 0x1302);
	put16(b, 0x1303);
	put16(b, 0xc02b);
	put16(b, 0xc02f);
	put16(b, 0xc02c);
	put16(b, 0xc030);
	put16(b, 0x00ff);
	close16(b, l);
	put8(b, 1);
	put8(b, 0);
	exts = open16(b);
	put16(b, 0); /* server_name */
	e = open16(b);
	l = open16(b);
	put8(b, 0);
	put16(b, sizeof(sni) - 1);
	for (i = 0; i < sizeof(sni) - 1; i++)
		put8(b, (unsigned char)sni[i]);
	close16(b, l);
	close16(b, e);
	ext_opaque(b, 11, 4);  /* ec_point_formats */
	ext_opaque(b, 10, 12); /* supported_groups */
	ext_opaque(b, 35, 0);  /* session_ticket */
	ext_opaque(b, 22, 0);  /* encrypt_then_mac */
	ext_opaque(b, 23, 0);  /* extended_master_secret */
	ext_opaque(b, 13, 42); /* signature_algorithms */
	put16(b, 43);	       /* supported_versions */
	e = open16(b);
	put8(b, 4);
	put16(b, 0x0304);
	put16(b, 0x0303);
	close16(b, e);
	ext_opaque(b, 45, 2); /* psk_key_exchange_modes */
	put16(b, 51);	      /* key_share */
	e = open16(b);
	l = open16(b);
	put16(b, 0x001d);
	put16(b, 32);
	put_fill(b, 0x55, 32);
	close16(b, l);
	close16(b, e);
	close16(b, exts);
}

/* ServerHello: TLS_AES_128_GCM_SHA256, x25519, the session id echoed. */
static void server_hello(struct body *b)
{
	size_t exts, e;

	b->n = 0;
	put16(b, 0x0303);
	put_fill(b, 0x33, 32);
	put8(b, 32);
	put_fill(b, 0xee, 32);
	put16(b, 0x1301);
	put8(b, 0);
	exts = open16(b);
	put16(b, 43);
	e = open16(b);
	put16(b, 0x0304);
	close16(b, e);
	put16(b, 51);
	e = open16(b);
	put16(b, 0x001d);
	put16(b, 32);
	put_fill(b, 0x44, 32);
	close16(b, e);
	close16(b, exts);
}

/* ---- one handshake, both ends (times in µs from the client's connect()) ---- */

static void build_pair(struct tmpl *t)
{
	struct body ch, sh;
	uint32_t s, ccs, ee, cert, cv, fin, cfin, req, t1, t2, resp, cn;
	uint64_t us;

	client_hello(&ch);
	server_hello(&sh);
	memset(t->stream, 0, sizeof(t->stream));

	tcp(t, CLI, 0, HS_EV_SYN_SENT, 0, 0, 0);
	tcp(t, CLI, 38, HS_EV_ESTABLISHED, 20, 0, 0);
	tcp(t, SRV, 40, HS_EV_SYN_RECV, 15, 0, 0);
	tcp(t, SRV, 40, HS_EV_ESTABLISHED, 15, 0, 0);
	tcp(t, SRV, 70, HS_EV_ACCEPTED, 15, 0, 0);

	/* ClientHello: one write; the server reads header and body. */
	s = send_rec(t, CLI, 100, 104, 22, (uint32_t)ch.n + 4, 1, ch.b, ch.n);
	io(t, CLI, 101, HS_DIR_OUT, t->stream[CLI]);
	read_rec(t, SRV, 120, s, (uint32_t)ch.n + 4);

	/* The server's flight in one write: ServerHello, CCS, EncryptedExtensions, Certificate,
	 * CertificateVerify, Finished. */
	s = send_rec(t, SRV, 400, 404, 22, (uint32_t)sh.n + 4, 2, sh.b, sh.n);
	ccs = send_rec(t, SRV, 400, 404, 20, 1, 0, NULL, 0);
	ee = send_rec(t, SRV, 400, 404, 23, 27, 0, NULL, 0);
	cert = send_rec(t, SRV, 400, 404, 23, 566, 0, NULL, 0);
	cv = send_rec(t, SRV, 400, 404, 23, 96, 0, NULL, 0);
	fin = send_rec(t, SRV, 400, 404, 23, 53, 0, NULL, 0);
	io(t, SRV, 401, HS_DIR_OUT, t->stream[SRV]);
	us = 410;
	read_rec(t, CLI, us, s, (uint32_t)sh.n + 4);
	read_rec(t, CLI, us += 5, ccs, 1);
	read_rec(t, CLI, us += 5, ee, 27);
	read_rec(t, CLI, us += 5, cert, 566);
	/* Certificate verification, twice (the chain, then the host name check's call). */
	ssl_verify(t, CLI, 440, 490);
	ssl_verify(t, CLI, 491, 495);
	read_rec(t, CLI, 500, cv, 96);
	read_rec(t, CLI, 505, fin, 53);

	/* The client's CCS + Finished in one write, then its request. */
	send_rec(t, CLI, 520, 524, 20, 1, 0, NULL, 0);
	cfin = send_rec(t, CLI, 520, 524, 23, 53, 0, NULL, 0);
	io(t, CLI, 521, HS_DIR_OUT, t->stream[CLI]);
	req = send_rec(t, CLI, 530, 534, 23, 95, 0, NULL, 0);
	io(t, CLI, 531, HS_DIR_OUT, t->stream[CLI]);
	read_rec(t, SRV, 540, cfin - 6, 1);
	read_rec(t, SRV, 545, cfin, 53);

	/* Two tickets, written separately; the client reads them after its request. */
	t1 = send_rec(t, SRV, 560, 564, 23, 250, 0, NULL, 0);
	io(t, SRV, 561, HS_DIR_OUT, t->stream[SRV]);
	t2 = send_rec(t, SRV, 566, 570, 23, 250, 0, NULL, 0);
	io(t, SRV, 567, HS_DIR_OUT, t->stream[SRV]);
	read_rec(t, CLI, 580, t1, 250);
	read_rec(t, CLI, 585, t2, 250);
	read_rec(t, SRV, 600, req, 95);

	/* The response, close_notify and FIN from the server. */
	resp = send_rec(t, SRV, 700, 704, 23, 412, 0, NULL, 0);
	io(t, SRV, 701, HS_DIR_OUT, t->stream[SRV]);
	cn = send_rec(t, SRV, 710, 714, 23, 19, 0, NULL, 0);
	io(t, SRV, 711, HS_DIR_OUT, t->stream[SRV]);
	tcp(t, SRV, 712, HS_EV_FIN_OUT, 15, t->stream[SRV], t->stream[CLI]);
	tcp(t, CLI, 715, HS_EV_FIN_IN, 20, t->stream[CLI], t->stream[SRV]);
	read_rec(t, CLI, 720, resp, 412);
	read_rec(t, CLI, 725, cn, 19);

	/* The client's close_notify and FIN; the server's socket goes to time-wait. */
	send_rec(t, CLI, 730, 734, 23, 19, 0, NULL, 0);
	tcp(t, CLI, 731, HS_EV_FIN_OUT, 20, t->stream[CLI], t->stream[SRV]);
	tcp(t, SRV, 736, HS_EV_CLOSED, 15, t->stream[SRV], t->stream[CLI]);
	tcp(t, CLI, 760, HS_EV_CLOSED, 20, t->stream[CLI], t->stream[SRV]);
}

static int cmp_trec(const void *a, const void *b)
{
	const struct trec *x = a, *y = b;

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_gslot(const void *a, const void *b)
{
	const struct gslot *x = a, *y = b;

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	if (x->pair != y->pair)
		return x->pair < y->pair ? -1 : 1;
	return x->rec < y->rec ? -1 : x->rec > y->rec;
}

/* The records of in_flight handshakes started SPACING_NS apart, in time order. */
static void build_group(struct bench *b)
{
	size_t p, r, n = 0;

	b->n_group = b->in_flight * b->t.n;
	b->group = xrealloc(NULL, b->n_group * sizeof(*b->group));
	for (p = 0; p < b->in_flight; p++) {
		for (r = 0; r < b->t.n; r++) {
			b->group[n].t_ns = p * SPACING_NS + b->t.recs[r].t_ns;
			b->group[n].pair = (uint32_t)p;
			b->group[n].rec = (uint32_t)r;
			n++;
		}
	}
	qsort(b->group, b->n_group, sizeof(*b->group), cmp_gslot);
}

/* ---- replay ---- */

static void emit(const struct timeline *tl, void *ctx)
{
	struct bench *b = ctx;

	if (!conn_filter_match(&b->filter, tl))
		return;
	b->shown++;
	if (b->render && render_json_line(b->out, tl)) {
		fprintf(stderr, "bench_replay: render_json_line failed\n");
		exit(1);
	}
}

enum pass { PASS_REPLAY, PASS_COLLECT, PASS_RENDER };

/* User + system CPU time of a getrusage() sample, in ns. */
static uint64_t cpu_ns(const struct rusage *r)
{
	return ((uint64_t)r->ru_utime.tv_sec + (uint64_t)r->ru_stime.tv_sec) * 1000000000ULL +
	       ((uint64_t)r->ru_utime.tv_usec + (uint64_t)r->ru_stime.tv_usec) * 1000ULL;
}

/* Replays `pairs` handshakes; returns the CPU time it took in ns. */
static uint64_t run(struct bench *b, size_t pairs, enum pass pass)
{
	struct collector_opts opts = { .emit = emit, .ctx = b, .mono_to_wall_ns = WALL_NS };
	struct collector *c = NULL;
	struct collector_stats st;
	struct rusage r0, r1;
	uint64_t next_flush = BASE_NS + FLUSH_NS, now = BASE_NS;
	size_t g, i, groups = (pairs + b->in_flight - 1) / b->in_flight;

	b->render = pass == PASS_RENDER;
	b->shown = 0;
	if (pass != PASS_REPLAY) {
		c = collector_new(&opts);
		if (!c) {
			perror("bench_replay: collector_new");
			exit(1);
		}
	}
	getrusage(RUSAGE_SELF, &r0);
	for (g = 0; g < groups; g++) {
		uint64_t base = BASE_NS + g * b->in_flight * SPACING_NS;

		for (i = 0; i < b->n_group; i++) {
			const struct gslot *s = &b->group[i];
			const struct trec *tr = &b->t.recs[s->rec];
			uint64_t pair = g * b->in_flight + s->pair;
			struct hs_hdr *hdr = (struct hs_hdr *)(b->t.buf + tr->off);

			if (pair >= pairs)
				continue;
			now = base + s->t_ns;
			hdr->ts_ns = now;
			hdr->cookie = 1000 + 2 * pair + tr->end;
			if (hdr->kind == HS_REC_SSL)
				((struct hs_ssl_rec *)hdr)->entry_ns += base + s->pair * SPACING_NS;
			if (c)
				collector_handle(c, hdr, tr->size);
			if (hdr->kind == HS_REC_SSL)
				((struct hs_ssl_rec *)hdr)->entry_ns -= base + s->pair * SPACING_NS;
		}
		if (c && now >= next_flush) {
			collector_flush(c, now);
			next_flush = now + FLUSH_NS;
		}
	}
	if (c)
		collector_finish(c);
	fflush(b->out);
	getrusage(RUSAGE_SELF, &r1);

	if (c) {
		collector_get_stats(c, &st);
		if (st.malformed || st.unmatched || st.dropped || st.conns != 2 * pairs ||
		    st.incomplete || b->shown != 2 * pairs) {
			fprintf(stderr,
				"bench_replay: unexpected stream: conns %llu shown %llu "
				"malformed %llu unmatched %llu dropped %llu incomplete %llu\n",
				(unsigned long long)st.conns, (unsigned long long)b->shown,
				(unsigned long long)st.malformed, (unsigned long long)st.unmatched,
				(unsigned long long)st.dropped, (unsigned long long)st.incomplete);
			exit(1);
		}
		collector_free(c);
	}
	return cpu_ns(&r1) - cpu_ns(&r0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static unsigned long parse_num(const char *opt, const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = s ? strtoul(s, &end, 10) : 0;
	if (!s || errno || end == s || *end || v < 1 || v > max) {
		fprintf(stderr, "bench_replay: %s: a number from 1 to %lu\n", opt, max);
		exit(2);
	}
	return v;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_replay [-n PAIRS] [-c IN_FLIGHT] [-r ROUNDS] [-p N]\n"
		"  -n  handshakes (client + server end each) per pass (default %d)\n"
		"  -c  handshakes in flight, interleaved (default %d)\n"
		"  -r  rounds of replay / collect / render passes (default %d)\n"
		"  -p  print the JSON of the first N handshakes on stdout, measure nothing\n",
		DEFAULT_PAIRS, DEFAULT_IN_FLIGHT, DEFAULT_ROUNDS);
	exit(2);
}

int main(int argc, char **argv)
{
	struct bench b = { .in_flight = DEFAULT_IN_FLIGHT };
	size_t pairs = DEFAULT_PAIRS, rounds = DEFAULT_ROUNDS, print = 0, i;
	double coll[MAX_ROUNDS], rend[MAX_ROUNDS], total[MAX_ROUNDS];
	int a, ret = 0;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "-n"))
			pairs = parse_num("-n", argv[++a], 100000000);
		else if (!strcmp(argv[a], "-c"))
			b.in_flight = parse_num("-c", argv[++a], 4096);
		else if (!strcmp(argv[a], "-r"))
			rounds = parse_num("-r", argv[++a], MAX_ROUNDS);
		else if (!strcmp(argv[a], "-p"))
			print = parse_num("-p", argv[++a], 1000);
		else
			usage();
	}

	build_pair(&b.t);
	qsort(b.t.recs, b.t.n, sizeof(*b.t.recs), cmp_trec);
	build_group(&b);

	if (print) {
		b.out = stdout;
		run(&b, print, PASS_RENDER);
		goto out;
	}
	b.out = fopen("/dev/null", "w");
	if (!b.out) {
		perror("bench_replay: /dev/null");
		ret = 1;
		goto out;
	}
	printf("%zu handshakes per pass (%zu records each, both ends), %zu in flight\n", pairs,
	       b.t.n, b.in_flight);
	printf("CPU ms per 1,000 handshakes:  collector   render   total\n");
	for (i = 0; i < rounds; i++) {
		double k = (double)pairs / 1000 * 1e6; /* ns -> ms per 1,000 handshakes */
		double replay = (double)run(&b, pairs, PASS_REPLAY) / k;
		double collect = (double)run(&b, pairs, PASS_COLLECT) / k;
		double render = (double)run(&b, pairs, PASS_RENDER) / k;

		coll[i] = collect - replay;
		rend[i] = render - collect;
		total[i] = render - replay;
		printf("  round %-2zu %19.1f %8.1f %7.1f\n", i + 1, coll[i], rend[i], total[i]);
	}
	printf("  median %21.1f %8.1f %7.1f\n", median(coll, rounds), median(rend, rounds),
	       median(total, rounds));
	fclose(b.out);
out:
	free(b.group);
	free(b.t.recs);
	free(b.t.buf);
	return ret;
}
