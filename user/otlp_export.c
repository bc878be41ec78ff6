// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * otlp_export.c - the OTLP/HTTP exporter thread (see otlp_export.h, docs/otlp.md).
 *
 * Two locks: `lock` guards the queue and the counters (held by otlp_exporter_add() for a list
 * append), `mlock` the metrics aggregation (held by otlp_exporter_add() for a few counter
 * updates and by the exporter while it encodes the metrics, microseconds). HTTP is done with
 * neither held. A trace batch is encoded once and the same bytes are sent again on a retry, so
 * a request that did arrive but whose answer was lost is not duplicated under new ids.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "otlp.h"
#include "otlp_export.h"
#include "process_usage.h"

#define MS 1000000ULL
#define SEC 1000000000ULL

/* A queued connection: a copy of its timeline, events included. */
struct qitem {
	struct qitem *next;
	uint64_t enq_ns;
	size_t spans;
	struct timeline tl;
	struct tl_event events[];
};

struct otlp_exporter {
	struct otlp_export_opts o;
	char traces_url[1024];
	char metrics_url[1024];
	char host_name[256];
	struct otlp_resource res;
	uint64_t start_unix_ns;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;

	/* under lock */
	struct qitem *head, *tail;
	size_t queued_n, queued_spans;
	bool stopping;
	bool stopped; /* otlp_exporter_stop() returned */
	struct otlp_export_stats st;
	uint64_t rec_lost, rec_unmatched, rec_dropped, rec_malformed; /* _set_records() */

	atomic_ullong deadline_ns; /* CLOCK_MONOTONIC end of the exit flush; 0 until stopping */

	pthread_mutex_t mlock;
	struct otlp_metrics *metrics; /* under mlock */

	/* exporter thread only */
	CURL *curl;
	struct curl_slist *headers;
	uint8_t *pending;	 /* an encoded trace request not yet accepted */
	size_t pending_len;
	size_t pending_conns;
	uint64_t retry_at_ns;	 /* no request before this (backoff) */
	uint64_t backoff_ns;	 /* next backoff step */
	uint64_t metrics_due_ns;
	long retry_after_s;	 /* Retry-After of the last answer, -1 when none */
	bool failing;		 /* the last request failed (for the log lines) */
	char curl_err[CURL_ERROR_SIZE];
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

int otlp_url_check(const char *url)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL;
	int ret = -EINVAL;

	if (!url || !*url || strlen(url) > 900)
		return -EINVAL;
	if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
		return -EINVAL;
	u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host &&
	    curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_NO_QUERY &&
	    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_NO_FRAGMENT)
		ret = 0;
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return ret;
}

/* ---- HTTP ---- */

/* CURLOPT_HEADERFUNCTION: remembers Retry-After (delay-seconds form only). */
static size_t on_header(char *buf, size_t size, size_t n, void *ctx)
{
	struct otlp_exporter *e = ctx;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) - 1 && !strncasecmp(buf, name, sizeof(name) - 1)) {
		char tmp[32], *end;
		size_t k = len - (sizeof(name) - 1);
		long v;

		if (k >= sizeof(tmp))
			k = sizeof(tmp) - 1;
		memcpy(tmp, buf + sizeof(name) - 1, k);
		tmp[k] = '\0';
		v = strtol(tmp, &end, 10);
		if (end != tmp && v >= 0)
			e->retry_after_s = v;
	}
	return len;
}

/* CURLOPT_WRITEFUNCTION: the answer's body is not needed (partial success is not read). */
static size_t on_body(char *buf, size_t size, size_t n, void *ctx)
{
	(void)buf;
	(void)ctx;
	return size * n;
}

/* CURLOPT_XFERINFOFUNCTION: ends a transfer once the exit flush is out of time. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct otlp_exporter *e = ctx;
	uint64_t dl = atomic_load(&e->deadline_ns);

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return dl && mono_ns() >= dl;
}

enum send_result {
	SEND_OK,
	SEND_RETRY,  /* connection error, timeout, 429, 502, 503, 504 */
	SEND_REJECT, /* any other answer: the request will never be accepted */
};

/* POSTs body to url. Never called with a lock held. */
static enum send_result http_post(struct otlp_exporter *e, const char *url, const uint8_t *body,
				  size_t len, const char *what)
{
	uint64_t timeout = e->o.request_timeout_ns, dl = atomic_load(&e->deadline_ns), now;
	long status = 0;
	CURLcode rc;
	enum send_result res;

	now = mono_ns();
	if (dl) {
		if (now >= dl)
			return SEND_RETRY;
		if (dl - now < timeout)
			timeout = dl - now;
	}
	e->retry_after_s = -1;
	e->curl_err[0] = '\0';
	curl_easy_setopt(e->curl, CURLOPT_URL, url);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, (const char *)body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)(timeout / MS ? timeout / MS : 1));
	rc = curl_easy_perform(e->curl);
	pthread_mutex_lock(&e->lock);
	e->st.requests++;
	pthread_mutex_unlock(&e->lock);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status >= 200 && status < 300)
		res = SEND_OK;
	else if (rc != CURLE_OK || status == 429 || status == 502 || status == 503 ||
		 status == 504)
		res = SEND_RETRY;
	else
		res = SEND_REJECT;

	if (res == SEND_OK && e->failing) {
		fprintf(stderr, "hstrace: OTLP export to %s works again\n", e->o.url);
		e->failing = false;
	} else if (res != SEND_OK && !e->failing) {
		if (rc != CURLE_OK)
			fprintf(stderr, "hstrace: OTLP %s export to %s failed: %s%s\n", what, url,
				e->curl_err[0] ? e->curl_err : curl_easy_strerror(rc),
				res == SEND_RETRY ? " (retrying)" : "");
		else
			fprintf(stderr, "hstrace: OTLP %s export to %s failed: HTTP %ld%s\n", what,
				url, status, res == SEND_RETRY ? " (retrying)" : " (dropped)");
		e->failing = true;
	}
	return res;
}

/* After a request: resets the backoff on success, or schedules the next try. */
static void after_send(struct otlp_exporter *e, enum send_result res)
{
	uint64_t wait = 0;

	if (res == SEND_RETRY) {
		e->backoff_ns = e->backoff_ns ? e->backoff_ns * 2 : 200 * MS;
		if (e->backoff_ns > e->o.backoff_max_ns)
			e->backoff_ns = e->o.backoff_max_ns;
		wait = e->backoff_ns;
		if (e->retry_after_s > 0) /* the receiver's own wish, within reason */
			wait = (uint64_t)(e->retry_after_s < 30 ? e->retry_after_s : 30) * SEC;
	} else {
		e->backoff_ns = 0;
	}
	pthread_mutex_lock(&e->lock);
	e->retry_at_ns = wait ? mono_ns() + wait : 0;
	if (wait)
		e->st.retries++;
	pthread_mutex_unlock(&e->lock);
}

/* ---- the thread ---- */

/* Takes the next batch off the queue (lock held) and encodes it into e->pending (lock not
 * held while encoding). Returns with the lock held. */
static void take_batch(struct otlp_exporter *e)
{
	const struct timeline *tls[1024];
	struct qitem *batch = e->head, *it, *last = NULL;
	size_t n = 0, spans = 0;
	int err;

	for (it = e->head; it && n < 1024; it = it->next) {
		if (n && spans + it->spans > e->o.batch_spans)
			break;
		tls[n++] = &it->tl;
		spans += it->spans;
		last = it;
	}
	e->head = last->next;
	if (!e->head)
		e->tail = NULL;
	last->next = NULL;
	e->queued_n -= n;
	e->queued_spans -= spans;
	pthread_mutex_unlock(&e->lock);

	err = otlp_encode_traces(&e->res, tls, n, &e->pending, &e->pending_len);
	while (batch) {
		it = batch->next;
		free(batch);
		batch = it;
	}

	pthread_mutex_lock(&e->lock);
	if (err) {
		fprintf(stderr, "hstrace: OTLP: encoding %zu connections failed: %s\n", n,
			strerror(-err));
		e->st.rejected += n;
		e->st.dropped += n;
		return;
	}
	e->pending_conns = n;
}

/* Sends e->pending (lock held on entry and exit, released meanwhile). */
static void send_pending(struct otlp_exporter *e)
{
	enum send_result res;

	pthread_mutex_unlock(&e->lock);
	res = http_post(e, e->traces_url, e->pending, e->pending_len, "trace");
	after_send(e, res);
	pthread_mutex_lock(&e->lock);
	if (res == SEND_RETRY)
		return;
	if (res == SEND_OK) {
		e->st.exported += e->pending_conns;
	} else {
		e->st.rejected += e->pending_conns;
		e->st.dropped += e->pending_conns;
	}
	free(e->pending);
	e->pending = NULL;
	e->pending_len = 0;
	e->pending_conns = 0;
}

/* Encodes and sends the metrics as of now (lock held on entry and exit). Returns true when a
 * receiver accepted them, or they cannot be encoded. */
static bool send_metrics(struct otlp_exporter *e)
{
	struct otlp_self_stats self = {
		.exported = e->st.exported,
		.dropped = e->st.dropped,
		.records_lost = e->rec_lost,
		.records_unmatched = e->rec_unmatched,
		.records_dropped = e->rec_dropped,
		.records_malformed = e->rec_malformed,
	};
	enum send_result res;
	uint8_t *buf = NULL;
	size_t len = 0;
	int err;

	pthread_mutex_unlock(&e->lock);
	/* read at each send, as the Prometheus endpoint reads them at each scrape */
	self.process_known = !process_usage_read(&self.cpu_seconds, &self.rss_bytes);
	pthread_mutex_lock(&e->mlock);
	err = otlp_encode_metrics(&e->res, e->metrics, &self, e->start_unix_ns, unix_ns(), &buf,
				  &len);
	pthread_mutex_unlock(&e->mlock);
	if (err) {
		fprintf(stderr, "hstrace: OTLP: encoding the metrics failed: %s\n", strerror(-err));
		pthread_mutex_lock(&e->lock);
		return true;
	}
	res = http_post(e, e->metrics_url, buf, len, "metrics");
	after_send(e, res);
	free(buf);
	pthread_mutex_lock(&e->lock);
	if (res == SEND_OK)
		e->st.metrics_sent++;
	return res != SEND_RETRY;
}

static void wait_until(struct otlp_exporter *e, uint64_t when_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(when_ns / SEC),
		.tv_nsec = (long)(when_ns % SEC),
	};

	pthread_cond_timedwait(&e->cond, &e->lock, &ts);
}

static void *exporter_main(void *arg)
{
	struct otlp_exporter *e = arg;
	bool final_metrics_done = false;

	pthread_mutex_lock(&e->lock);
	e->metrics_due_ns = mono_ns() + e->o.metrics_interval_ns;
	for (;;) {
		uint64_t now = mono_ns(), dl = atomic_load(&e->deadline_ns), wake;
		bool backoff = now < e->retry_at_ns;

		if (e->stopping && now >= dl)
			break;
		if (!backoff) {
			if (!e->pending && e->head &&
			    (e->stopping || e->queued_spans >= e->o.batch_spans ||
			     now - e->head->enq_ns >= e->o.batch_delay_ns))
				take_batch(e);
			if (e->pending) {
				send_pending(e);
				continue;
			}
			if (now >= e->metrics_due_ns && !e->stopping) {
				if (send_metrics(e))
					e->metrics_due_ns = mono_ns() + e->o.metrics_interval_ns;
				continue;
			}
			if (e->stopping && !e->head && !final_metrics_done) {
				final_metrics_done = send_metrics(e);
				continue;
			}
		}
		if (e->stopping && !e->head && !e->pending && final_metrics_done)
			break;
		/* Sleep until something is due, or otlp_exporter_add() / _stop() signal. */
		wake = e->stopping ? dl : e->metrics_due_ns;
		if (backoff)
			wake = e->retry_at_ns < wake ? e->retry_at_ns : wake;
		else if (e->head && e->head->enq_ns + e->o.batch_delay_ns < wake)
			wake = e->head->enq_ns + e->o.batch_delay_ns;
		wait_until(e, wake);
	}
	/* Out of time: what is left is lost. */
	e->st.unsent += e->queued_n + e->pending_conns;
	e->st.dropped += e->queued_n + e->pending_conns;
	while (e->head) {
		struct qitem *next = e->head->next;

		free(e->head);
		e->head = next;
	}
	e->tail = NULL;
	e->queued_n = e->queued_spans = 0;
	free(e->pending);
	e->pending = NULL;
	e->pending_conns = 0;
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- public ---- */

/* Copies "base" + path into buf (without a doubled slash). */
static int join_url(char *buf, size_t len, const char *base, const char *path)
{
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	if (snprintf(buf, len, "%.*s%s", (int)n, base, path) >= (int)len)
		return -EINVAL;
	return 0;
}

int otlp_exporter_start(const struct otlp_export_opts *opts, struct otlp_exporter **out)
{
	struct otlp_exporter *e;
	pthread_condattr_t ca;
	int err;

	*out = NULL;
	if (otlp_url_check(opts->url))
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->o = *opts;
	if (!e->o.queue_max)
		e->o.queue_max = OTLP_DEFAULT_QUEUE;
	if (!e->o.batch_spans)
		e->o.batch_spans = 512;
	if (!e->o.batch_delay_ns)
		e->o.batch_delay_ns = 1 * SEC;
	if (!e->o.metrics_interval_ns)
		e->o.metrics_interval_ns = 10 * SEC;
	if (!e->o.flush_timeout_ns)
		e->o.flush_timeout_ns = 5 * SEC;
	if (!e->o.request_timeout_ns)
		e->o.request_timeout_ns = 10 * SEC;
	if (!e->o.backoff_max_ns)
		e->o.backoff_max_ns = 5 * SEC;
	if (join_url(e->traces_url, sizeof(e->traces_url), opts->url, "/v1/traces") ||
	    join_url(e->metrics_url, sizeof(e->metrics_url), opts->url, "/v1/metrics")) {
		free(e);
		return -EINVAL;
	}
	if (opts->host_name)
		snprintf(e->host_name, sizeof(e->host_name), "%s", opts->host_name);
	else if (gethostname(e->host_name, sizeof(e->host_name) - 1))
		e->host_name[0] = '\0';
	e->res.host_name = e->host_name;
	e->start_unix_ns = unix_ns();
	atomic_init(&e->deadline_ns, 0);

	e->metrics = otlp_metrics_new(&e->o.metrics);
	if (!e->metrics) {
		free(e);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->mlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);

	err = -EIO;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto fail;
	e->curl = curl_easy_init();
	e->headers = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	/* No "Expect: 100-continue" round trip before a large batch. */
	if (e->headers && !curl_slist_append(e->headers, "Expect:")) {
		curl_slist_free_all(e->headers);
		e->headers = NULL;
	}
	if (!e->curl || !e->headers) {
		err = -ENOMEM;
		goto fail;
	}
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(e->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(e->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e->curl, CURLOPT_HEADERDATA, e);
	curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e->curl, CURLOPT_XFERINFODATA, e);
	curl_easy_setopt(e->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e->curl, CURLOPT_ERRORBUFFER, e->curl_err);
	curl_easy_setopt(e->curl, CURLOPT_USERAGENT, "hstrace/0.1");
	err = -pthread_create(&e->thread, NULL, exporter_main, e);
	if (err)
		goto fail;
	e->thread_started = true;
	*out = e;
	return 0;
fail:
	otlp_exporter_free(e);
	return err;
}

int otlp_exporter_add(struct otlp_exporter *e, const struct timeline *tl)
{
	struct qitem *it;
	bool wake;

	pthread_mutex_lock(&e->mlock);
	otlp_metrics_add(e->metrics, tl); /* a series overflow still counts the connection */
	pthread_mutex_unlock(&e->mlock);

	pthread_mutex_lock(&e->lock);
	if (e->stopped) {
		pthread_mutex_unlock(&e->lock);
		return -ESHUTDOWN;
	}
	if (e->queued_n >= e->o.queue_max) {
		e->st.dropped_full++;
		e->st.dropped++;
		pthread_mutex_unlock(&e->lock);
		return -ENOSPC;
	}
	pthread_mutex_unlock(&e->lock);

	it = malloc(sizeof(*it) + tl->n_events * sizeof(it->events[0]));
	if (!it) {
		pthread_mutex_lock(&e->lock);
		e->st.dropped_full++;
		e->st.dropped++;
		pthread_mutex_unlock(&e->lock);
		return -ENOMEM;
	}
	it->next = NULL;
	it->enq_ns = mono_ns();
	it->tl = *tl;
	if (tl->n_events)
		memcpy(it->events, tl->events, tl->n_events * sizeof(it->events[0]));
	it->tl.events = it->events;
	it->spans = otlp_span_count(tl);

	pthread_mutex_lock(&e->lock);
	if (e->queued_n >= e->o.queue_max) { /* cannot happen: one producer */
		e->st.dropped_full++;
		e->st.dropped++;
		pthread_mutex_unlock(&e->lock);
		free(it);
		return -ENOSPC;
	}
	if (e->tail)
		e->tail->next = it;
	else
		e->head = it;
	e->tail = it;
	e->queued_n++;
	/* Wake the exporter when a full batch is ready (else its batch_delay timer does). */
	wake = e->queued_spans < e->o.batch_spans &&
	       e->queued_spans + it->spans >= e->o.batch_spans;
	e->queued_spans += it->spans;
	e->st.queued++;
	if (wake || e->queued_n == 1)
		pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

void otlp_exporter_set_records(struct otlp_exporter *e, uint64_t lost, uint64_t unmatched,
			       uint64_t dropped, uint64_t malformed)
{
	pthread_mutex_lock(&e->lock);
	e->rec_lost = lost;
	e->rec_unmatched = unmatched;
	e->rec_dropped = dropped;
	e->rec_malformed = malformed;
	pthread_mutex_unlock(&e->lock);
}

void otlp_exporter_stop(struct otlp_exporter *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	if (e->stopped || !e->thread_started) {
		e->stopped = true;
		pthread_mutex_unlock(&e->lock);
		return;
	}
	e->stopping = true;
	atomic_store(&e->deadline_ns, mono_ns() + e->o.flush_timeout_ns);
	/* A backoff wait ends now: the flush has its own deadline. */
	e->retry_at_ns = 0;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	pthread_join(e->thread, NULL);
	pthread_mutex_lock(&e->lock);
	e->stopped = true;
	pthread_mutex_unlock(&e->lock);
}

void otlp_exporter_get_stats(struct otlp_exporter *e, struct otlp_export_stats *st)
{
	pthread_mutex_lock(&e->lock);
	*st = e->st;
	pthread_mutex_unlock(&e->lock);
}

void otlp_exporter_free(struct otlp_exporter *e)
{
	if (!e)
		return;
	otlp_exporter_stop(e);
	while (e->head) {
		struct qitem *next = e->head->next;

		free(e->head);
		e->head = next;
	}
	free(e->pending);
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	otlp_metrics_free(e->metrics);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->mlock);
	free(e);
}
