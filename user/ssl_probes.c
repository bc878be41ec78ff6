// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ssl_probes.c - decides which TLS libraries to probe and when: the system's libssl and
 * libcrypto at start (a uprobe is per file, so every process mapping them later is covered
 * from its first call), every library mapped by a running process, and, after each exec,
 * the new program's libraries (scanned a few times: the dynamic loader maps them just after
 * the exec). ssl_libs.c finds and inspects the files; tracer.c attaches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (p->n_probed >= MAX_LIBS) {
		fprintf(stderr, "hstrace: more than %d TLS libraries: not probing %s\n", MAX_LIBS,
			lib->display);
		return;
	}
	id = p->n_probed + 1;
	err = tracer_attach_ssl(p->tracer, lib->path, id, p->ssl_calls && lib->has_handshake,
				lib->has_verify);
	if (err) {
		fprintf(stderr, "hstrace: cannot probe %s: %s; tracing continues without it\n",
			lib->display, strerror(-err));
		return;
	}
	pl = &p->probed[p->n_probed++];
	snprintf(pl->name, sizeof(pl->name), "%s", lib->version[0] ? lib->version : "OpenSSL");
	snprintf(pl->file, sizeof(pl->file), "%s", lib->display);
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
	queue_scan(p, pid, now_ns + EXEC_DELAY1_NS);
	queue_scan(p, pid, now_ns + EXEC_DELAY2_NS);
	queue_scan(p, pid, now_ns + EXEC_DELAY3_NS);
}

void ssl_probes_tick(struct ssl_probes *p, uint64_t now_ns)
{
	unsigned int i = 0;

	if (!p)
		return;
	if (!p->next_full_ns)
		p->next_full_ns = now_ns + FULL_RESCAN_NS;
	if (now_ns >= p->next_full_ns) {
		ssl_libs_scan_all(p->libs, on_found, p);
		p->next_full_ns = now_ns + FULL_RESCAN_NS;
	}
	while (i < p->n_queue) {
		if (p->queue[i].due_ns > now_ns) {
			i++;
			continue;
		}
		ssl_libs_scan_pid(p->libs, (int)p->queue[i].pid, on_found, p);
		p->queue[i] = p->queue[--p->n_queue];
	}
}

uint64_t ssl_probes_next_due(const struct ssl_probes *p)
{
	uint64_t due = UINT64_MAX;
	unsigned int i;

	if (!p)
		return due;
	for (i = 0; i < p->n_queue; i++) {
		if (p->queue[i].due_ns < due)
			due = p->queue[i].due_ns;
	}
	return due;
}

void ssl_probes_describe(void *ctx, uint32_t lib_id, struct tl_tls *tls)
{
	struct ssl_probes *p = ctx;
	const struct probed_lib *pl;

	if (!p || !lib_id || lib_id > p->n_probed)
		return;
	pl = &p->probed[lib_id - 1];
	snprintf(tls->library, sizeof(tls->library), "%s", pl->name);
	snprintf(tls->library_file, sizeof(tls->library_file), "%s", pl->file);
}

unsigned int ssl_probes_count(const struct ssl_probes *p)
{
	return p ? p->n_probed : 0;
}

void ssl_probes_free(struct ssl_probes *p)
{
	if (!p)
		return;
	ssl_libs_free(p->libs);
	free(p);
}
