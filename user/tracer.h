/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * tracer.h - loads and attaches the BPF programs and reads their ring buffer.
 *
 * The only user-space file that touches libbpf. Records are handed, unparsed, to a callback.
 */
#ifndef HSTRACE_TRACER_H
#define HSTRACE_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tracer;

/* Called for every record; return 0 to go on (a negative value stops this poll round). */
typedef int (*tracer_record_fn)(void *ctx, void *data, size_t size);

struct tracer_opts {
	const char *btf_path;	 /* NULL: the running kernel's /sys/kernel/btf/vmlinux */
	size_t ringbuf_bytes;	 /* power of two, >= page size; 0: 4 MiB */
	bool verbose;		 /* libbpf debug output on stderr */
	bool no_socket_calls;	 /* do without the socket-call tracepoints even when the kernel
				  * has them (as on Linux < 6.3; for tests) */
	bool ssl_calls;		 /* SSL_do_handshake() will be probed (tracer_attach_ssl() with
				  * handshake set): socket calls then bind SSL objects */
	tracer_record_fn on_record;
	void *ctx;
};

/* Checks privileges and BTF, loads and attaches every program (the packet and getpeername
 * programs to the root of the cgroup v2 hierarchy). On failure prints one line explaining why
 * on stderr and returns a negative errno; nothing stays attached. */
int tracer_open(struct tracer **out, const struct tracer_opts *opts);

/* Waits up to timeout_ms for records and hands them to on_record. Returns the number of
 * records consumed, or a negative errno (-EINTR when interrupted by a signal). */
int tracer_poll(struct tracer *t, int timeout_ms);

/* Hands every record already in the ring buffer to on_record without waiting. */
int tracer_drain(struct tracer *t);

/* Attaches the OpenSSL uprobes to the library or executable at path (as reachable from
 * hstrace): SSL_do_handshake entry/return when handshake, X509_verify_cert entry/return when
 * verify. lib_id comes back in every record from these probes. Returns 0 when at least one
 * probe was attached, else a negative errno (nothing stays attached). */
int tracer_attach_ssl(struct tracer *t, const char *path, uint32_t lib_id, bool handshake,
		      bool verify);

/* Whether the socket-call tracepoints are in use (Linux 6.3+, unless opts.no_socket_calls). */
bool tracer_socket_calls(const struct tracer *t);

/* Records the BPF side could not put in the ring buffer (buffer full) since start. */
uint64_t tracer_lost(const struct tracer *t);

/* Calls fn(cookie, ts_ns, ctx) for each connection whose CLOSED record was lost (ring buffer
 * full; ts_ns: when it closed) and forgets it. Call after draining the ring buffer, so the
 * connection's earlier records are in. Returns how many, or a negative errno. */
int tracer_take_lost_closes(struct tracer *t, void (*fn)(uint64_t cookie, uint64_t ts_ns,
							  void *ctx), void *ctx);

/* Detaches and frees everything. Accepts NULL. */
void tracer_close(struct tracer *t);

#endif /* HSTRACE_TRACER_H */
