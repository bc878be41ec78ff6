// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * hs_load - TLS handshake load generator (OpenSSL), for hstrace's benchmarks.
 *
 * Opens TLS connections to one server as fast as it can (or at a fixed rate), each with a
 * full handshake (no session resumption: no session is ever offered), optionally sends one
 * small HTTP request and reads the response to the end, then closes. THREADS threads each
 * keep CONCURRENCY/THREADS connections in flight with non-blocking sockets and epoll.
 *
 *   hs_load --port N [--host ADDR] [--sni NAME] [--tls 1.2|1.3] [--concurrency C]
 *           [--threads T] [--duration SEC | --count N] [--rate HS_PER_S] [--request PATH]
 *           [--cafile FILE] [--max-lag-ms MS] [--ciphersuites LIST]
 *
 * With --rate, each thread starts its share of HS_PER_S connections per second on a fixed
 * schedule; a thread that fell behind (all its connections busy, or no CPU) catches up by at
 * most --max-lag-ms milliseconds' worth of connections (default 100), so a stall is not
 * followed by a long burst. One thread of OpenSSL 3 client handshakes (certificate verified)
 * takes about 0.7 ms of CPU each on the benchmark VM: use --threads 2 above ~1,000/s.
 *
 * At the end it prints one JSON object on stdout: handshakes completed, errors, handshakes/s,
 * handshake latency (connect() to handshake done) and connection latency (connect() to the
 * end of the response, or to the handshake without --request) percentiles in µs, the
 * application bytes read (with their rate, so one --count 1 --request /big connection is a
 * bulk-transfer benchmark), "cipher": the cipher suite negotiated, and "resumed": handshakes
 * OpenSSL reports as resumed (always 0, as no session is ever offered; the benchmarks check
 * it, since an abbreviated handshake is not a full one). With --cafile the server
 * certificate is verified, as a real client does; without it, it is not. --ciphersuites
 * sets the TLS 1.3 cipher suites offered (OpenSSL's list syntax; OpenSSL offers
 * TLS_AES_256_GCM_SHA384 first by default, browsers TLS_AES_128_GCM_SHA256, which costs a
 * few % less CPU per handshake here).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum conn_state { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_WRITE, ST_READ };

struct conn {
	enum conn_state st;
	int fd;
	SSL *ssl;
	uint64_t t_start_ns;
	size_t req_off;
};

/* Growable array of latencies (µs). */
struct lat {
	uint32_t *v;
	size_t n, cap;
};

struct worker {
	pthread_t tid;
	int id;
	int nconn;
	int epfd;
	struct conn *conns;
	uint64_t started, handshakes, completed, errors, resumed;
	double rate_base; /* --rate: connections "started" by the schedule's time origin */
	uint64_t bytes_in;
	struct lat hs_lat, conn_lat;
};

static struct {
	const char *host, *sni, *request, *cafile, *ciphersuites;
	int port, tls, concurrency, threads;
	double duration, rate, max_lag_ms;
	long long count;
} opt = { .host = "127.0.0.1", .tls = 0, .concurrency = 16, .threads = 1, .duration = 5,
	  .max_lag_ms = 100 };

static SSL_CTX *ctx;
static struct sockaddr_in dst;
static char req_buf[1024];
static size_t req_len;
static uint64_t t0_ns, t_end_ns;
static volatile int stop;
static long long count_started; /* --count: connections started, all threads */
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static int errors_printed;
static const char *cipher_seen; /* the cipher suite of a completed handshake (static string) */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void lat_add(struct lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint32_t *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (uint32_t)(ns / 1000 > UINT32_MAX ? UINT32_MAX : ns / 1000);
}

static void report_error(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	pthread_mutex_lock(&err_lock);
	if (errors_printed++ < 5)
		fprintf(stderr, "hs_load: %s: %s%s%s\n", what, strerror(errno), e ? " / " : "",
			buf);
	pthread_mutex_unlock(&err_lock);
}

/* May worker w start one more connection now? (rate, count and duration limits) */
static int may_start(struct worker *w, uint64_t now)
{
	if (stop || now >= t_end_ns)
		return 0;
	if (opt.rate > 0) {
		/* Connections the schedule allows by now (the first one at once), this thread's
		 * share of the rate; the backlog is bounded to max_lag_ms of them. */
		double per_s = opt.rate / opt.threads;
		double allowed = (double)(now - t0_ns) / 1e9 * per_s + 1 - w->rate_base;
		double max_lag = per_s * opt.max_lag_ms / 1e3;

		if (max_lag < 1)
			max_lag = 1;
		if (allowed - (double)w->started > max_lag) {
			w->rate_base += allowed - (double)w->started - max_lag;
			allowed = (double)w->started + max_lag;
		}
		if ((double)w->started >= allowed)
			return 0;
	}
	if (opt.count > 0) {
		int ok;

		pthread_mutex_lock(&count_lock);
		ok = count_started < opt.count;
		if (ok)
			count_started++;
		pthread_mutex_unlock(&count_lock);
		return ok;
	}
	return 1;
}

static void conn_close(struct worker *w, struct conn *c, int ok)
{
	if (c->ssl) {
		if (ok)
			SSL_shutdown(c->ssl); /* one close_notify, never waits for the peer's */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd); /* also takes it out of the epoll set: the only reference */
		c->fd = -1;
	}
	if (ok) {
		w->completed++;
		lat_add(&w->conn_lat, now_ns() - c->t_start_ns);
	} else {
		w->errors++;
	}
	c->st = ST_FREE;
}

static int conn_watch(struct worker *w, struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(w->epfd, op, c->fd, &ev);
}

static void conn_start(struct worker *w, struct conn *c)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->ssl = NULL;
	c->req_off = 0;
	c->t_start_ns = now_ns();
	w->started++;
	if (c->fd < 0) {
		report_error("socket");
		w->errors++;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS) {
		report_error("connect");
		conn_close(w, c, 0);
		return;
	}
	c->st = ST_CONNECTING;
	if (conn_watch(w, c, EPOLLOUT, EPOLL_CTL_ADD)) {
		report_error("epoll_ctl");
		conn_close(w, c, 0);
	}
}

/* Runs the connection as far as it goes without blocking. */
static void conn_step(struct worker *w, struct conn *c)
{
	int r, err;
	char buf[16384];

	if (c->st == ST_CONNECTING) {
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			errno = err;
			report_error("connect");
			conn_close(w, c, 0);
			return;
		}
		c->ssl = SSL_new(ctx);
		if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
			report_error("SSL_new");
			conn_close(w, c, 0);
			return;
		}
		if (opt.sni)
			SSL_set_tlsext_host_name(c->ssl, opt.sni);
		c->st = ST_HANDSHAKE;
	}
	for (;;) {
		if (c->st == ST_HANDSHAKE) {
			r = SSL_connect(c->ssl);
			if (r == 1) {
				w->handshakes++;
				if (SSL_session_reused(c->ssl))
					w->resumed++;
				if (!__atomic_load_n(&cipher_seen, __ATOMIC_RELAXED))
					__atomic_store_n(&cipher_seen, SSL_get_cipher_name(c->ssl),
							 __ATOMIC_RELAXED);
				lat_add(&w->hs_lat, now_ns() - c->t_start_ns);
				if (!req_len) {
					conn_close(w, c, 1);
					return;
				}
				c->st = ST_WRITE;
				continue;
			}
		} else if (c->st == ST_WRITE) {
			r = SSL_write(c->ssl, req_buf + c->req_off, (int)(req_len - c->req_off));
			if (r > 0) {
				c->req_off += (size_t)r;
				if (c->req_off == req_len)
					c->st = ST_READ;
				continue;
			}
		} else {
			r = SSL_read(c->ssl, buf, sizeof(buf));
			if (r > 0) {
				w->bytes_in += (uint64_t)r;
				continue;
			}
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_ZERO_RETURN ||
			    (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && r == 0) ||
			    (err == SSL_ERROR_SSL &&
			     ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
				ERR_clear_error();
				conn_close(w, c, 1); /* the server closed: the response is complete */
				return;
			}
		}
		err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_WANT_READ) {
			conn_watch(w, c, EPOLLIN, EPOLL_CTL_MOD);
			return;
		}
		if (err == SSL_ERROR_WANT_WRITE) {
			conn_watch(w, c, EPOLLOUT, EPOLL_CTL_MOD);
			return;
		}
		report_error(c->st == ST_HANDSHAKE ? "handshake" : c->st == ST_WRITE ? "write" :
										       "read");
		conn_close(w, c, 0);
		return;
	}
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->conns = calloc((size_t)w->nconn, sizeof(*w->conns));
	if (w->epfd < 0 || !w->conns) {
		report_error("epoll_create1/calloc");
		return NULL;
	}
	for (int i = 0; i < w->nconn; i++)
		w->conns[i].fd = -1;
	for (;;) {
		uint64_t now = now_ns();
		int busy = 0, n;

		for (int i = 0; i < w->nconn; i++) {
			struct conn *c = &w->conns[i];

			if (c->st == ST_FREE && may_start(w, now))
				conn_start(w, c);
			busy += c->st != ST_FREE;
		}
		if (!busy && (stop || now >= t_end_ns ||
			      (opt.count > 0 &&
			       __atomic_load_n(&count_started, __ATOMIC_RELAXED) >= opt.count)))
			break;
		n = epoll_wait(w->epfd, evs, 256, opt.rate > 0 || !busy ? 1 : 100);
		for (int i = 0; i < n; i++)
			conn_step(w, evs[i].data.ptr);
		if (stop > 1) /* a second signal: give up on connections in flight */
			break;
	}
	for (int i = 0; i < w->nconn; i++)
		if (w->conns[i].st != ST_FREE)
			conn_close(w, &w->conns[i], 0);
	close(w->epfd);
	free(w->conns);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void print_pcts(const char *name, struct lat *l)
{
	static const double p[] = { 50, 90, 99, 99.9 };
	static const char *pn[] = { "p50", "p90", "p99", "p999" };

	printf("\"%s\":{", name);
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
	for (int i = 0; i < 4; i++) {
		size_t k = l->n ? (size_t)ceil(p[i] / 100.0 * (double)l->n) : 0;

		printf("%s\"%s\":%u", i ? "," : "", pn[i], l->n ? l->v[k ? k - 1 : 0] : 0);
	}
	printf(",\"max\":%u}", l->n ? l->v[l->n - 1] : 0);
}

static void on_signal(int sig)
{
	(void)sig;
	stop++;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end || *out < lo || *out > hi) ? -1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hs_load --port N [--host ADDR] [--sni NAME] [--tls 1.2|1.3]\n"
		"               [--concurrency C] [--threads T] [--duration SEC | --count N]\n"
		"               [--rate HS_PER_S] [--request PATH] [--cafile FILE] [--max-lag-ms MS]\n"
		"               [--ciphersuites TLS13_SUITES]\n"
		"Full TLS handshakes against ADDR:N (default 127.0.0.1), C in flight (default 16)\n"
		"over T threads (default 1), for SEC seconds (default 5) or N connections; with\n"
		"--request, one HTTP/1.1 GET PATH each, read to the end. With --rate, a thread\n"
		"that fell behind catches up by at most MS ms of connections (default 100).\n"
		"Prints one JSON line.\n");
}

int main(int argc, char **argv)
{
	struct worker *ws;
	struct sigaction sa;
	uint64_t t_done;
	double v;

	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *a = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!a) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(o, "--host"))
			opt.host = a;
		else if (!strcmp(o, "--sni"))
			opt.sni = a;
		else if (!strcmp(o, "--request"))
			opt.request = a;
		else if (!strcmp(o, "--cafile"))
			opt.cafile = a;
		else if (!strcmp(o, "--ciphersuites"))
			opt.ciphersuites = a;
		else if (!strcmp(o, "--port") && !(bad = parse_num(a, 1, 65535, &v)))
			opt.port = (int)v;
		else if (!strcmp(o, "--tls"))
			opt.tls = !strcmp(a, "1.2") ? 12 : !strcmp(a, "1.3") ? 13 : (bad = 1, 0);
		else if (!strcmp(o, "--concurrency") && !(bad = parse_num(a, 1, 100000, &v)))
			opt.concurrency = (int)v;
		else if (!strcmp(o, "--threads") && !(bad = parse_num(a, 1, 64, &v)))
			opt.threads = (int)v;
		else if (!strcmp(o, "--duration"))
			bad = parse_num(a, 0.01, 86400, &opt.duration);
		else if (!strcmp(o, "--count") && !(bad = parse_num(a, 1, 1e12, &v)))
			opt.count = (long long)v;
		else if (!strcmp(o, "--rate"))
			bad = parse_num(a, 0.1, 1e7, &opt.rate);
		else if (!strcmp(o, "--max-lag-ms"))
			bad = parse_num(a, 0, 1e9, &opt.max_lag_ms);
		else if (strcmp(o, "--port") && strcmp(o, "--concurrency") && strcmp(o, "--threads") &&
			 strcmp(o, "--count"))
			bad = 1;
		if (bad) {
			fprintf(stderr, "hs_load: bad option or value: %s %s\n", o, a);
			return 2;
		}
	}
	if (!opt.port || inet_pton(AF_INET, opt.host, &dst.sin_addr) != 1) {
		usage(stderr);
		return 2;
	}
	if (opt.concurrency < opt.threads)
		opt.threads = opt.concurrency;
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)opt.port);
	if (opt.request) {
		int n = snprintf(req_buf, sizeof(req_buf),
				 "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
				 opt.request, opt.sni ? opt.sni : opt.host);

		if (n < 0 || (size_t)n >= sizeof(req_buf)) {
			fprintf(stderr, "hs_load: request path too long\n");
			return 2;
		}
		req_len = (size_t)n;
	}

	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		report_error("SSL_CTX_new");
		return 1;
	}
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (opt.tls) {
		int ver = opt.tls == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;

		SSL_CTX_set_min_proto_version(ctx, ver);
		SSL_CTX_set_max_proto_version(ctx, ver);
	}
	if (opt.ciphersuites && SSL_CTX_set_ciphersuites(ctx, opt.ciphersuites) != 1) {
		report_error("--ciphersuites");
		return 2;
	}
	if (opt.cafile) {
		if (SSL_CTX_load_verify_locations(ctx, opt.cafile, NULL) != 1) {
			report_error("loading --cafile");
			return 1;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	ws = calloc((size_t)opt.threads, sizeof(*ws));
	if (!ws)
		return 1;
	t0_ns = now_ns();
	t_end_ns = opt.count > 0 ? UINT64_MAX : t0_ns + (uint64_t)(opt.duration * 1e9);
	for (int i = 0; i < opt.threads; i++) {
		ws[i].id = i;
		ws[i].nconn = opt.concurrency / opt.threads + (i < opt.concurrency % opt.threads);
		if (pthread_create(&ws[i].tid, NULL, worker_run, &ws[i])) {
			fprintf(stderr, "hs_load: pthread_create failed\n");
			return 1;
		}
	}
	struct worker sum = { 0 };

	for (int i = 0; i < opt.threads; i++) {
		struct worker *w = &ws[i];

		pthread_join(w->tid, NULL);
		sum.started += w->started;
		sum.handshakes += w->handshakes;
		sum.completed += w->completed;
		sum.errors += w->errors;
		sum.resumed += w->resumed;
		sum.bytes_in += w->bytes_in;
		for (size_t k = 0; k < w->hs_lat.n; k++)
			lat_add(&sum.hs_lat, (uint64_t)w->hs_lat.v[k] * 1000);
		for (size_t k = 0; k < w->conn_lat.n; k++)
			lat_add(&sum.conn_lat, (uint64_t)w->conn_lat.v[k] * 1000);
		free(w->hs_lat.v);
		free(w->conn_lat.v);
	}
	t_done = now_ns();
	double secs = (double)(t_done - t0_ns) / 1e9;

	printf("{\"tls\":\"%s\",\"concurrency\":%d,\"threads\":%d,\"rate\":%g,\"seconds\":%.3f,"
	       "\"started\":%llu,\"handshakes\":%llu,\"completed\":%llu,\"errors\":%llu,"
	       "\"hs_per_s\":%.1f,",
	       opt.tls == 12 ? "1.2" : opt.tls == 13 ? "1.3" : "any", opt.concurrency, opt.threads,
	       opt.rate, secs, (unsigned long long)sum.started,
	       (unsigned long long)sum.handshakes, (unsigned long long)sum.completed,
	       (unsigned long long)sum.errors, (double)sum.handshakes / secs);
	print_pcts("hs_lat_us", &sum.hs_lat);
	printf(",");
	print_pcts("conn_lat_us", &sum.conn_lat);
	printf(",\"bytes_in\":%llu,\"mib_per_s\":%.1f,\"resumed\":%llu,\"cipher\":\"%s\"}\n",
	       (unsigned long long)sum.bytes_in, (double)sum.bytes_in / 1048576.0 / secs,
	       (unsigned long long)sum.resumed, cipher_seen ? cipher_seen : "");
	free(sum.hs_lat.v);
	free(sum.conn_lat.v);
	free(ws);
	SSL_CTX_free(ctx);
	return sum.handshakes ? 0 : 1;
}
