// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * metrics_http.c - serves the metrics registry over HTTP with libmicrohttpd (see
 * metrics_http.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "metrics_http.h"
#include "process_usage.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
	struct metrics *m;
	struct MHD_Daemon *daemon;
	struct metrics_listen l;
	uint16_t port; /* bound */
};

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("hstrace: metrics endpoint: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* Sets hstrace's CPU time and current RSS in the registry (best effort: a value that cannot
 * be read stays as it was). */
static void update_process(struct metrics *m)
{
	double cpu, rss;

	if (!process_usage_read(&cpu, &rss))
		metrics_set_process(m, cpu, rss);
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned int status,
				  const char *text)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct metrics_http *h = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text;
	size_t len;

	(void)version;
	(void)upload_data;
	(void)req_cls;
	/* A request with a body is answered at once; what it uploads is discarded. */
	if (*upload_data_size)
		*upload_data_size = 0;
	if (strcmp(url, "/metrics"))
		return queue_text(conn, MHD_HTTP_NOT_FOUND, "Not found: hstrace serves /metrics\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed\n");

	/* Rendered into a buffer under the registry's lock; sent without it. */
	update_process(h->m);
	if (metrics_render(h->m, &text, &len))
		return queue_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory\n");
	resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A listening socket on l; returns it, or a negative errno. */
static int listen_on(const struct metrics_listen *l, uint16_t *port)
{
	struct sockaddr_storage ss = {};
	socklen_t slen;
	int fd, one = 1, v6only;

	if (l->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(l->port);
		memcpy(&a->sin6_addr, l->addr, 16);
		slen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(l->port);
		memcpy(&a->sin_addr, l->addr, 4);
		slen = sizeof(*a);
	}
	fd = socket(l->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->family == AF_INET6) {
		/* [::] takes IPv4 too (dual stack); any other IPv6 address only itself */
		v6only = !IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)l->addr);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(fd, (struct sockaddr *)&ss, slen) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&ss, &slen)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*port = ntohs(l->family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					     : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int metrics_http_start(struct metrics *m, const struct metrics_listen *l,
		       struct metrics_http **out)
{
	struct metrics_http *h;
	sigset_t all, old;
	int fd;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->m = m;
	h->l = *l;
	fd = listen_on(l, &h->port);
	if (fd < 0) {
		free(h);
		return fd;
	}
	/* The server's threads inherit this mask: with every signal blocked there, SIGINT,
	 * SIGTERM and SIGHUP reach the main thread and interrupt its poll at once. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	h->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
			(l->family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)METRICS_HTTP_THREADS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_HTTP_TIMEOUT_S,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_HTTP_MAX_CONNS,
		MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!h->daemon) {
		close(fd);
		free(h);
		return -EIO;
	}
	*out = h;
	return 0;
}

void metrics_http_url(const struct metrics_http *h, char *buf, size_t len)
{
	if (h->l.family == AF_INET6)
		snprintf(buf, len, "http://[%s]:%u/metrics", h->l.addr_text, h->port);
	else
		snprintf(buf, len, "http://%s:%u/metrics", h->l.addr_text, h->port);
}

void metrics_http_stop(struct metrics_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon); /* closes the listening socket too */
	free(h);
}
