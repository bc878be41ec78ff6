// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * traced_tls_client - an OpenSSL client whose behaviour the traced-programs tests compare with
 * and without hstrace (tests/integration/test_traced_programs.py). Built twice: linked with
 * the system's libssl.so.3 (build/traced_tls_client) and with OpenSSL linked in statically
 * (build/traced_tls_static, which hstrace must find and probe as an executable).
 *
 *   traced_tls_client [--wait] [--count N] [--thread-exit CODE] PORT CAFILE SNI
 *
 * Prints "pid <pid>", then for each of N connections (default 1) to 127.0.0.1:PORT: with
 * --wait, reads one line from stdin first; connects ("connected <local port>"), runs the
 * handshake with SSL_do_handshake() (verifying the server against CAFILE and name SNI), sends
 * "GET / HTTP/1.0", reads the answer to the end and prints "body <len> <hex>" (the bytes after
 * the headers), then closes (with close_notify unless the server sent its own first). Exits
 * 0, or 1 with "error <what>" on stderr.
 *
 * --thread-exit CODE: the connections run on a second thread; once it has connected, the
 * main thread reads one line from stdin and calls _exit(CODE) while the other thread may be
 * inside SSL_do_handshake().
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct opts {
	int port;
	const char *ca;
	const char *sni;
	int count;
	int wait;
	int thread_exit; /* -1: none */
};

static pthread_mutex_t connected_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t connected_cond = PTHREAD_COND_INITIALIZER;
static int connected_n;

static void fail(const char *what)
{
	fprintf(stderr, "error %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* Reads one line from stdin (the caller's "go"); exits when stdin ends first. */
static void wait_line(void)
{
	char buf[64];

	if (!fgets(buf, sizeof(buf), stdin))
		fail("stdin closed");
}

/* Prints "body <len> <hex>" for the bytes after the HTTP headers of resp[0..n). */
static void print_body(const char *resp, size_t n)
{
	const char *b = memmem(resp, n, "\r\n\r\n", 4);
	size_t len;

	if (!b)
		fail("no end of headers");
	b += 4;
	len = n - (size_t)(b - resp);
	printf("body %zu ", len);
	for (size_t i = 0; i < len; i++)
		printf("%02x", (unsigned char)b[i]);
	printf("\n");
	fflush(stdout);
}

/* One connection: connect, handshake, request, answer, close. Exits on any failure. */
static void one_connection(SSL_CTX *ctx, const struct opts *o)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	socklen_t salen = sizeof(sa);
	char resp[65536];
	size_t n = 0;
	SSL *ssl;
	int fd, r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect");
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		fail("getsockname");
	printf("connected %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	pthread_mutex_lock(&connected_lock);
	connected_n++;
	pthread_cond_broadcast(&connected_cond);
	pthread_mutex_unlock(&connected_lock);

	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, o->sni) ||
	    !SSL_set1_host(ssl, o->sni))
		fail("SSL_new");
	SSL_set_connect_state(ssl);
	r = SSL_do_handshake(ssl);
	if (r != 1)
		fail("handshake");
	if (SSL_write(ssl, req, (int)strlen(req)) != (int)strlen(req))
		fail("SSL_write");
	while (n < sizeof(resp)) {
		r = SSL_read(ssl, resp + n, (int)(sizeof(resp) - n));
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (r <= 0 && SSL_get_error(ssl, r) != SSL_ERROR_ZERO_RETURN &&
	    SSL_get_error(ssl, r) != SSL_ERROR_SYSCALL)
		fail("SSL_read");
	print_body(resp, n);
	/* A close_notify sent to a server that has closed would come back as a reset. */
	if (!(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN))
		SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
}

static SSL_CTX *make_ctx(const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		fail("CA file");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

static void *run_connections(void *arg)
{
	const struct opts *o = arg;
	SSL_CTX *ctx = make_ctx(o->ca);

	for (int i = 0; i < o->count; i++) {
		if (o->wait)
			wait_line();
		one_connection(ctx, o);
	}
	SSL_CTX_free(ctx);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: traced_tls_client [--wait] [--count N] [--thread-exit CODE] "
			"PORT CAFILE SNI\n");
	exit(2);
}

/* A decimal integer in [lo, hi], or usage. */
static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		usage();
	return (int)v;
}

int main(int argc, char **argv)
{
	struct opts o = { .count = 1, .thread_exit = -1 };
	pthread_t th;
	int i;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--wait"))
			o.wait = 1;
		else if (!strcmp(argv[i], "--count") && i + 1 < argc)
			o.count = parse_int(argv[++i], 1, 1000);
		else if (!strcmp(argv[i], "--thread-exit") && i + 1 < argc)
			o.thread_exit = parse_int(argv[++i], 0, 255);
		else
			usage();
	}
	if (argc - i != 3)
		usage();
	o.port = parse_int(argv[i], 1, 65535);
	o.ca = argv[i + 1];
	o.sni = argv[i + 2];
	printf("pid %d\n", getpid());
	fflush(stdout);
	if (o.thread_exit < 0) {
		run_connections(&o);
		return 0;
	}
	if (pthread_create(&th, NULL, run_connections, &o))
		fail("pthread_create");
	pthread_mutex_lock(&connected_lock);
	while (!connected_n)
		pthread_cond_wait(&connected_cond, &connected_lock);
	pthread_mutex_unlock(&connected_lock);
	wait_line();
	_exit(o.thread_exit);
}
