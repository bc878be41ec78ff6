/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * ssl_probes.h - keeps OpenSSL uprobes on every TLS library in use, while hstrace runs.
 *
 * Glue between ssl_libs.c (which finds libraries) and tracer.c (which attaches probes).
 * Discovery: the system's libraries and every running process at start; then each process
 * that calls execve() is scanned 5 ms, 50 ms and 1 s after it (once the loader and early
 * dlopen()s, e.g. Python's `import ssl`, have mapped its libraries), and every process again
 * every 30 s (a full scan costs ~45 µs per process, mostly the kernel generating
 * /proc/PID/maps), on a thread of its own. A library that cannot be probed is reported once
 * and skipped.
 */
#ifndef HSTRACE_SSL_PROBES_H
#define HSTRACE_SSL_PROBES_H

#include <stdbool.h>
#include <stdint.h>

#include "timeline.h"
#include "tracer.h"

struct ssl_probes;

/* Returns a new prober attaching through t, or NULL with errno = ENOMEM. verbose: one line
 * per library probed on stderr. It probes X509_verify_cert() in every library that has it,
 * and SSL_do_handshake() too when ssl_calls is set. */
struct ssl_probes *ssl_probes_new(struct tracer *t, bool verbose, bool ssl_calls);

/* --ssl-lib PATH: probes that library or executable. Returns 0 or a negative errno (with a
 * one-line message on stderr). */
int ssl_probes_add_path(struct ssl_probes *p, const char *path);

/* Scans the system's libraries and every process, probing what is new. Returns the number of
 * libraries probed so far. */
int ssl_probes_scan_all(struct ssl_probes *p);

/* A process called execve() at monotonic time now_ns: scan it soon. */
void ssl_probes_on_exec(struct ssl_probes *p, uint32_t pid, uint64_t now_ns);

/* Starts the thread that runs every later scan (after each exec, and every 30 s), off the
 * caller's thread. Returns 0 or a negative errno. Call after ssl_probes_scan_all(). */
int ssl_probes_start(struct ssl_probes *p);

/* collector_opts.lib_describe: fills tls->library and tls->library_file for lib_id. */
void ssl_probes_describe(void *p, uint32_t lib_id, struct tl_tls *tls);

/* Number of libraries probed. */
unsigned int ssl_probes_count(struct ssl_probes *p);

/* The scanner thread's full rescans so far and the longest one's duration (ns). */
void ssl_probes_scan_stats(struct ssl_probes *p, uint64_t *full_scans, uint64_t *max_ns);

/* Stops the scanner thread and frees the prober (the probes stay attached until the tracer
 * closes). Accepts NULL. */
void ssl_probes_free(struct ssl_probes *p);

#endif /* HSTRACE_SSL_PROBES_H */
