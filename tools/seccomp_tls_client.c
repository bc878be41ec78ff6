// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * seccomp_tls_client - an OpenSSL client under a strict seccomp filter, for the
 * traced-programs tests (tests/integration/test_traced_programs.py): hstrace's uprobes must
 * not add a system call the filter would kill the process for.
 *
 *   seccomp_tls_client [--forbidden] PORT CAFILE SNI
 *
 * Loads the CA file, connects to 127.0.0.1:PORT and prints "pid <pid>" and "connected <local
 * port>"; then installs a seccomp filter (raw prctl(PR_SET_SECCOMP), no libseccomp) that kills
 * the whole process (SIGSYS) on any system call outside a short allow-list: read, write,
 * close, memory management, futex, getrandom, getpid (OpenSSL's fork check) and exit, and
 * prints "filtered". Under it: the handshake (SSL_do_handshake(), certificate verified
 * against CAFILE and name SNI), "GET /", the answer read to the end, "body <len> <hex>" (the
 * bytes after the headers) on stdout, close_notify (unless the server sent its own first),
 * exit 0. --forbidden makes one getppid() call after installing the filter, which must kill
 * the process: it shows the filter is in force.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "seccomp_tls_client: add this architecture's AUDIT_ARCH below"
#endif
#ifdef __x86_64__
#define ARCH_NR AUDIT_ARCH_X86_64
#else
#define ARCH_NR AUDIT_ARCH_AARCH64
#endif

/* What the handshake, the request and the exit need once everything is set up. */
static const int allowed[] = {
	SYS_read, SYS_write, SYS_close, SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_madvise,
	SYS_futex, SYS_getrandom, SYS_getpid, SYS_exit, SYS_exit_group, SYS_rt_sigreturn,
};

static void fail(const char *what)
{
	fprintf(stderr, "error %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* Writes all of buf with write(2) only (stdio may want fstat() for its first output). */
static void put(const char *buf, size_t len)
{
	while (len) {
		ssize_t r = write(STDOUT_FILENO, buf, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1);
		buf += r;
		len -= (size_t)r;
	}
}

/* Installs the filter: the architecture must be ours, the call in the allow-list, else the
 * process is killed. Returns 0 or a negative errno. */
static int install_filter(void)
{
	enum { N = sizeof(allowed) / sizeof(allowed[0]) };
	struct sock_filter f[4 + N + 2];
	struct sock_fprog prog = { .filter = f };
	unsigned int i = 0;

	f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_NR, 1, 0);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	for (unsigned int k = 0; k < N; k++) /* match: jump to the ALLOW at the end */
		f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						      (unsigned int)allowed[k], N - k, 0);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)i;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

static int parse_port(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 65535) {
		fprintf(stderr, "usage: seccomp_tls_client [--forbidden] PORT CAFILE SNI\n");
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	static char resp[65536], line[65536 * 2 + 64];
	const char *body;
	int forbidden = 0, fd, r, i = 1;
	size_t n = 0, len, off;
	unsigned char seed[16];
	SSL_CTX *ctx;
	SSL *ssl;

	if (argc > 1 && !strcmp(argv[1], "--forbidden")) {
		forbidden = 1;
		i++;
	}
	if (argc - i != 3) {
		fprintf(stderr, "usage: seccomp_tls_client [--forbidden] PORT CAFILE SNI\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)parse_port(argv[i]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	/* Everything that opens files or sockets happens before the filter. */
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, argv[i + 1], NULL) != 1)
		fail("CA file");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (RAND_bytes(seed, sizeof(seed)) != 1) /* the DRBG is seeded before the filter */
		fail("RAND_bytes");
	tzset(); /* gmtime_r() (certificate dates) reads /etc/localtime once */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("connect");
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		fail("getsockname");
	ssl = SSL_new(ctx);
	if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, argv[i + 2]) ||
	    !SSL_set1_host(ssl, argv[i + 2]))
		fail("SSL_new");
	SSL_set_connect_state(ssl);
	off = (size_t)snprintf(line, sizeof(line), "pid %d\nconnected %d\n", getpid(),
			       ntohs(sa.sin_port));
	put(line, off);

	r = install_filter();
	if (r) {
		fprintf(stderr, "error seccomp: %s\n", strerror(-r));
		return 1;
	}
	put("filtered\n", 9);
	if (forbidden)
		syscall(SYS_getppid); /* not in the allow-list: SIGSYS */

	if (SSL_do_handshake(ssl) != 1)
		_exit(3);
	if (SSL_write(ssl, req, (int)strlen(req)) != (int)strlen(req))
		_exit(4);
	while (n < sizeof(resp)) {
		r = SSL_read(ssl, resp + n, (int)(sizeof(resp) - n));
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	body = memmem(resp, n, "\r\n\r\n", 4);
	if (!body)
		_exit(5);
	body += 4;
	len = n - (size_t)(body - resp);
	off = (size_t)snprintf(line, sizeof(line), "body %zu ", len);
	for (size_t k = 0; k < len; k++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%02x",
					(unsigned char)body[k]);
	line[off++] = '\n';
	put(line, off);
	if (!(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN))
		SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	_exit(0); /* exit_group only: no atexit handlers, no stdio flush */
}
