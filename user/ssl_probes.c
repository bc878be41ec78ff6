// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ssl_probes.c - decides which TLS libraries to probe and when: the system's libssl and
 * libcrypto at start (a uprobe is per file, so every process mapping them later is covered
 * from its first call), every library mapped by a running process, and, after each exec,
 * the new program's libraries (scanned a few times: the dynamic loader maps them just after
 * the exec). ssl_libs.c finds and inspects the files; tracer.c attaches.
 *
 * After the first scan every scan runs on a thread of its own (ssl_probes_start()): a scan of
 * /proc takes ~45 µs per process, so on a host with thousands of processes it would otherwise
 * hold up the thread that drains the ring buffer. The lock guards the exec queue and the
 * probed table, which the collector reads (ssl_probes_describe()) while the thread adds to it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ssl_libs.h"
#include "ssl_probes.h"

#define EXEC_QUEUE 1024
#define FULL_RESCAN_NS (30ULL * 1000 * 1000 * 1000)
/* Scans after an exec: the loader has usually mapped the libraries after a few ms; the later
 * scans catch a dlopen() at start-up. */
#define EXEC_DELAY1_NS (5ULL * 1000 * 1000)
#define EXEC_DELAY2_NS (50ULL * 1000 * 1000)
#define EXEC_DELAY3_NS (1000ULL * 1000 * 1000)
#define MAX_LIBS 1024

struct probed_lib {
	char name[64];	/* version string, or "OpenSSL" when unknown */
	char file[256]; /* as the process sees it */
};

struct pending_exec {
	uint32_t pid;
	uint64_t due_ns;
};

struct ssl_probes {
	struct tracer *tracer;
	struct ssl_libs *libs;
	bool verbose;
	bool ssl_calls; /* probe SSL_do_handshake() too */
	struct probed_lib probed[MAX_LIBS]; /* lib_id - 1 */
	unsigned int n_probed;
	struct pending_exec queue[EXEC_QUEUE];
	unsigned int n_queue;
	uint64_t next_full_ns;

	pthread_mutex_t lock; /* queue, n_queue, next_full_ns, probed, n_probed, stop */
	pthread_cond_t wake;  /* an exec was queued, or stop */
	pthread_t thread;
	bool started;
	bool stop;
	uint64_t full_scans;	   /* full rescans run by the thread */
	uint64_t full_scan_max_ns; /* the longest of them */
};

/* ssl_libs callback: attaches to a library seen for the first time. */
static void on_found(const struct ssl_lib *lib, void *ctx)
{
	struct ssl_probes *p = ctx;
	struct probed_lib *pl;
	uint32_t id;
	int err;

	if (lib->is_go) {
		fprintf(stderr, "hstrace: not probing Go executable %s (return probes crash Go "
				"programs); its TLS is still seen from the kernel\n", lib->display);
		return;
	}
	if (!lib->has_verify && !(p->ssl_calls && lib->has_handshake))
		return;
	if (p->n_probed >= MAX_LIBS) { /* n_probed only grows on this thread: read unlocked */
		fprintf(stderr, "hstrace: more than %d TLS libraries: not probing %s\n", MAX_LIBS,
			lib->display);
		return;
	}
	id = p->n_probed + 1;
	err = tracer_attach_ssl(p->tracer, lib->path, id, p->ssl_calls && lib->has_handshake,
				lib->has_verify);
	if (err) {
		/* Some kernels (Linux 6.18 here) refuse uprobes without CAP_SYS_ADMIN even with
		 * CAP_BPF + CAP_PERFMON: say which capability would help. */
		fprintf(stderr, "hstrace: cannot probe %s: %s%s; tracing continues without it\n",
			lib->display, strerror(-err),
			err == -EACCES || err == -EPERM ? " (this kernel wants CAP_SYS_ADMIN for "
							  "uprobes; or use --no-uprobes)" : "");
		return;
	}
	pthread_mutex_lock(&p->lock);
	pl = &p->probed[p->n_probed++];
	snprintf(pl->name, sizeof(pl->name), "%s", lib->version[0] ? lib->version : "OpenSSL");
	snprintf(pl->file, sizeof(pl->file), "%s", lib->display);
	pthread_mutex_unlock(&p->lock);
	if (p->verbose)
		fprintf(stderr, "hstrace: probing %s (%s)\n", pl->file, pl->name);
}

struct ssl_probes *ssl_probes_new(struct tracer *t, bool verbose, bool ssl_calls)
{
	struct ssl_probes *p = calloc(1, sizeof(*p));

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->libs = ssl_libs_new();
	if (!p->libs) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	p->tracer = t;
	p->verbose = verbose;
	p->ssl_calls = ssl_calls;
	pthread_mutex_init(&p->lock, NULL);
	{
		pthread_condattr_t ca;

		/* the scanner's deadlines are CLOCK_MONOTONIC times */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&p->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	return p;
}

int ssl_probes_add_path(struct ssl_probes *p, const char *path)
{
	int err = ssl_libs_add_path(p->libs, path, on_found, p);

	if (err == -ENOEXEC)
		fprintf(stderr, "hstrace: --ssl-lib %s: no OpenSSL functions in it\n", path);
	else if (err)
		fprintf(stderr, "hstrace: --ssl-lib %s: %s\n", path, strerror(-err));
	return err;
}

int ssl_probes_scan_all(struct ssl_probes *p)
{
	ssl_libs_scan_system(p->libs, on_found, p);
	ssl_libs_scan_all(p->libs, on_found, p);
	return p->n_probed;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Under p->lock. */
static void queue_scan(struct ssl_probes *p, uint32_t pid, uint64_t due_ns)
{
	if (p->n_queue < EXEC_QUEUE)
		p->queue[p->n_queue++] = (struct pending_exec){ pid, due_ns };
	else if (due_ns < p->next_full_ns)
		p->next_full_ns = due_ns; /* too many execs at once: scan everything instead */
}

void ssl_probes_on_exec(struct ssl_probes *p, uint32_t pid, uint64_t now_ns)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	queue_scan(p, pid, now_ns + EXEC_DELAY1_NS);
	queue_scan(p, pid, now_ns + EXEC_DELAY2_NS);
	queue_scan(p, pid, now_ns + EXEC_DELAY3_NS);
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

/* Under p->lock: the earliest time something is due. */
static uint64_t next_due(const struct ssl_probes *p)
{
	uint64_t due = p->next_full_ns;
	unsigned int i;

	for (i = 0; i < p->n_queue; i++)
		if (p->queue[i].due_ns < due)
			due = p->queue[i].due_ns;
	return due;
}

/* The scanner thread: sleeps until a scan is due (or an exec is queued, or stop), runs the
 * due scans with the lock released. */
static void *scanner(void *arg)
{
	struct ssl_probes *p = arg;
	uint32_t pids[EXEC_QUEUE];
	unsigned int n, i;
	bool full;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		uint64_t now = mono_ns(), due = next_due(p);

		if (due > now) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((due - now) / 1000000000ULL);
			ts.tv_nsec += (long)((due - now) % 1000000000ULL);
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->wake, &p->lock, &ts);
			continue;
		}
		full = now >= p->next_full_ns;
		if (full)
			p->next_full_ns = now + FULL_RESCAN_NS;
		for (i = n = 0; i < p->n_queue;) {
			if (p->queue[i].due_ns > now) {
				i++;
				continue;
			}
			pids[n++] = p->queue[i].pid;
			p->queue[i] = p->queue[--p->n_queue];
		}
		pthread_mutex_unlock(&p->lock);
		if (full)
			ssl_libs_scan_all(p->libs, on_found, p);
		now = mono_ns() - now;
		for (i = 0; i < n; i++)
			ssl_libs_scan_pid(p->libs, (int)pids[i], on_found, p);
		pthread_mutex_lock(&p->lock);
		if (full) {
			p->full_scans++;
			if (now > p->full_scan_max_ns)
				p->full_scan_max_ns = now;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int ssl_probes_start(struct ssl_probes *p)
{
	int err;

	if (!p || p->started)
		return 0;
	p->next_full_ns = mono_ns() + FULL_RESCAN_NS;
	err = pthread_create(&p->thread, NULL, scanner, p);
	if (err)
		return -err;
	p->started = true;
	return 0;
}

void ssl_probes_describe(void *ctx, uint32_t lib_id, struct tl_tls *tls)
{
	struct ssl_probes *p = ctx;
	const struct probed_lib *pl;

	if (!p || !lib_id)
		return;
	pthread_mutex_lock(&p->lock);
	if (lib_id <= p->n_probed) {
		pl = &p->probed[lib_id - 1];
		snprintf(tls->library, sizeof(tls->library), "%s", pl->name);
		snprintf(tls->library_file, sizeof(tls->library_file), "%s", pl->file);
	}
	pthread_mutex_unlock(&p->lock);
}

unsigned int ssl_probes_count(struct ssl_probes *p)
{
	unsigned int n;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	n = p->n_probed;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void ssl_probes_scan_stats(struct ssl_probes *p, uint64_t *full_scans, uint64_t *max_ns)
{
	*full_scans = *max_ns = 0;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	*full_scans = p->full_scans;
	*max_ns = p->full_scan_max_ns;
	pthread_mutex_unlock(&p->lock);
}

void ssl_probes_free(struct ssl_probes *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_signal(&p->wake);
		pthread_mutex_unlock(&p->lock);
		pthread_join(p->thread, NULL);
	}
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	ssl_libs_free(p->libs);
	free(p);
}
