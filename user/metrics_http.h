/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * metrics_http.h - the --metrics HTTP endpoint (libmicrohttpd).
 *
 * `GET /metrics` (or HEAD) answers 200 with the registry rendered in the Prometheus text
 * format (Content-Type text/plain; version=0.0.4); any other path 404, any other method 405.
 * The server runs in its own threads (a small pool on epoll), so the caller's thread never
 * waits for a client: a scrape renders the registry into a buffer under the registry's lock
 * and sends it after releasing the lock. A connection idle for METRICS_HTTP_TIMEOUT_S
 * seconds (one that never sends its request, or an idle keep-alive) is closed.
 */
#ifndef HSTRACE_METRICS_HTTP_H
#define HSTRACE_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define METRICS_HTTP_TIMEOUT_S 10 /* idle connections are closed after this */
#define METRICS_HTTP_THREADS 2	  /* server threads */
#define METRICS_HTTP_MAX_CONNS 64 /* connections served at once */

struct metrics_http;

/*
 * Binds and listens on l (port 0: any free port) and starts serving m, which must outlive
 * the server. Before each scrape, hstrace's own CPU time and RSS are set in m
 * (metrics_set_process()). Returns 0 with *out set, or a negative errno (the bind's, e.g.
 * -EADDRINUSE or -EADDRNOTAVAIL; -ENOMEM; -EIO when the HTTP library would not start).
 */
int metrics_http_start(struct metrics *m, const struct metrics_listen *l,
		       struct metrics_http **out);

/* Writes "http://ADDR:PORT/metrics" (IPv6 in brackets) with the port actually bound. */
void metrics_http_url(const struct metrics_http *h, char *buf, size_t len);

/* Stops the server (waits for its threads) and frees it. Accepts NULL. */
void metrics_http_stop(struct metrics_http *h);

#endif /* HSTRACE_METRICS_HTTP_H */
