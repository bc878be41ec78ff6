// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * traced_dlopen_client - a TLS client that loads libssl with dlopen(), makes a connection,
 * unloads it with dlclose() and does it again, for the traced-programs tests
 * (tests/integration/test_traced_programs.py): a library unmapped and mapped again while
 * hstrace probes it.
 *
 *   traced_dlopen_client LIBSSL ROUNDS PORT CAFILE SNI
 *
 * Prints "pid <pid>". Each round: dlopen(LIBSSL) ("loaded"), reads one line from stdin (the
 * caller's "go"), connects to 127.0.0.1:PORT ("connected <local port>"), handshake with
 * SSL_do_handshake() (the server verified against CAFILE and name SNI), "GET /", the answer to
 * the end, "body <len> <hex>" (the bytes after the headers), close_notify (unless the server
 * sent its own first); then dlclose() and "unmapped yes" when no libssl or libcrypto is mapped
 * any more (/proc/self/maps), else "unmapped no". Nothing here links OpenSSL: every function
 * comes from dlsym(). Exits 0, or 1 with "error <what>" on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* OpenSSL's values (openssl/ssl.h), so that no OpenSSL header ties this to a version. */
#define X_SSL_VERIFY_PEER 0x01
#define X_SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define X_TLSEXT_NAMETYPE_host_name 0
#define X_SSL_RECEIVED_SHUTDOWN 2

struct ssl_api {
	const void *(*TLS_client_method)(void);
	void *(*SSL_CTX_new)(const void *method);
	int (*SSL_CTX_load_verify_locations)(void *ctx, const char *file, const char *dir);
	void (*SSL_CTX_set_verify)(void *ctx, int mode, void *cb);
	void (*SSL_CTX_free)(void *ctx);
	void *(*SSL_new)(void *ctx);
	int (*SSL_set_fd)(void *ssl, int fd);
	long (*SSL_ctrl)(void *ssl, int cmd, long larg, void *parg);
	int (*SSL_set1_host)(void *ssl, const char *host);
	void (*SSL_set_connect_state)(void *ssl);
	int (*SSL_do_handshake)(void *ssl);
	int (*SSL_write)(void *ssl, const void *buf, int n);
	int (*SSL_read)(void *ssl, void *buf, int n);
	int (*SSL_shutdown)(void *ssl);
	int (*SSL_get_shutdown)(const void *ssl);
	void (*SSL_free)(void *ssl);
};

static void fail(const char *what)
{
	fprintf(stderr, "error %s\n", what);
	exit(1);
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* Fills api from the library open on h. Returns 0, or -ENOENT naming the missing one. */
static int load_api(void *h, struct ssl_api *api)
{
#define SYM(name)                                                            \
	do {                                                                 \
		*(void **)&api->name = dlsym(h, #name);                      \
		if (!api->name) {                                            \
			fprintf(stderr, "error dlsym %s: %s\n", #name, dlerror()); \
			return -ENOENT;                                      \
		}                                                            \
	} while (0)
	SYM(TLS_client_method);
	SYM(SSL_CTX_new);
	SYM(SSL_CTX_load_verify_locations);
	SYM(SSL_CTX_set_verify);
	SYM(SSL_CTX_free);
	SYM(SSL_new);
	SYM(SSL_set_fd);
	SYM(SSL_ctrl);
	SYM(SSL_set1_host);
	SYM(SSL_set_connect_state);
	SYM(SSL_do_handshake);
	SYM(SSL_write);
	SYM(SSL_read);
	SYM(SSL_shutdown);
	SYM(SSL_get_shutdown);
	SYM(SSL_free);
#undef SYM
	return 0;
}

/* True when /proc/self/maps still lists a libssl or libcrypto. */
static int openssl_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];
	int found = 0;

	if (!f)
		fail("/proc/self/maps");
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/libssl") || strstr(line, "/libcrypto"))
			found = 1;
	fclose(f);
	return found;
}

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

static void one_connection(const struct ssl_api *api, int port, const char *ca,
			   const char *sni)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t salen = sizeof(sa);
	char resp[65536], line[64];
	size_t n = 0;
	void *ctx, *ssl;
	int fd, r;

	ctx = api->SSL_CTX_new(api->TLS_client_method());
	if (!ctx || api->SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
		fail("CA file");
	api->SSL_CTX_set_verify(ctx, X_SSL_VERIFY_PEER, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect");
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		fail("getsockname");
	snprintf(line, sizeof(line), "connected %d", ntohs(sa.sin_port));
	say(line);
	ssl = api->SSL_new(ctx);
	if (!ssl || !api->SSL_set_fd(ssl, fd) ||
	    !api->SSL_ctrl(ssl, X_SSL_CTRL_SET_TLSEXT_HOSTNAME, X_TLSEXT_NAMETYPE_host_name,
			   (void *)sni) ||
	    !api->SSL_set1_host(ssl, sni))
		fail("SSL_new");
	api->SSL_set_connect_state(ssl);
	if (api->SSL_do_handshake(ssl) != 1)
		fail("handshake");
	if (api->SSL_write(ssl, req, (int)strlen(req)) != (int)strlen(req))
		fail("SSL_write");
	while (n < sizeof(resp) && (r = api->SSL_read(ssl, resp + n, (int)(sizeof(resp) - n))) > 0)
		n += (size_t)r;
	print_body(resp, n);
	if (!(api->SSL_get_shutdown(ssl) & X_SSL_RECEIVED_SHUTDOWN))
		api->SSL_shutdown(ssl);
	api->SSL_free(ssl);
	close(fd);
	api->SSL_CTX_free(ctx);
}

static int parse_int(const char *s, int lo, int hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "usage: traced_dlopen_client LIBSSL ROUNDS PORT CAFILE SNI\n");
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	int rounds, port;
	char go[64];

	if (argc != 6) {
		fprintf(stderr, "usage: traced_dlopen_client LIBSSL ROUNDS PORT CAFILE SNI\n");
		return 2;
	}
	rounds = parse_int(argv[2], 1, 100);
	port = parse_int(argv[3], 1, 65535);
	printf("pid %d\n", getpid());
	fflush(stdout);
	for (int i = 0; i < rounds; i++) {
		struct ssl_api api;
		void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);

		if (!h) {
			fprintf(stderr, "error dlopen: %s\n", dlerror());
			return 1;
		}
		if (load_api(h, &api))
			return 1;
		say("loaded");
		if (!fgets(go, sizeof(go), stdin))
			fail("stdin closed");
		one_connection(&api, port, argv[4], argv[5]);
		if (dlclose(h))
			fail("dlclose");
		say(openssl_mapped() ? "unmapped no" : "unmapped yes");
	}
	return 0;
}
