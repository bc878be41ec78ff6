// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * metrics.c - the Prometheus metric registry and hstrace's families (see metrics.h and
 * docs/metrics.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "metrics.h"
#include "present.h"
#include "tls_parse.h"
#include "report.h"

/* uthash reports a failed allocation through this macro instead of exiting: every function
 * that adds to a hash declares `bool oom = false` and checks it afterwards. */
#define uthash_nonfatal_oom(elt) (oom = true)
#include <uthash.h>

/* ---- the registry ---- */

struct metrics_series {
	UT_hash_handle hh;
	char *key;	/* the label values, each followed by a NUL (keylen bytes in all) */
	size_t keylen;
	const char *values[METRICS_MAX_LABELS]; /* into key */
	double value;	/* counter, gauge */
	uint64_t count; /* histogram: observations */
	uint64_t sum;	/* histogram: their sum, in the family's unit */
	uint64_t *buckets; /* histogram: n_bounds + 1 counters, not cumulative; last: above all */
};

struct metrics_family {
	struct metrics *m;
	struct metrics_family *next;
	char *name;
	char *help;
	enum metrics_type type;
	size_t n_labels;
	char *labels[METRICS_MAX_LABELS];
	uint64_t *bounds;
	size_t n_bounds;
	double divisor;
	char (*le)[32]; /* each bound as rendered, in the exposition's unit */
	struct metrics_series *series;
	size_t n_series;
};

/* The hstrace layer (metrics_new()). */
#define MAX_PHASE_FAMILIES 32

struct phase_family {
	const char *phase; /* the timeline's static name, or a copy for extra ones */
	bool own_name;
	struct metrics_family *f;
};

struct metrics {
	pthread_mutex_t lock;
	struct metrics_family *first, *last;

	/* hstrace families, NULL in a bare registry */
	enum metrics_by by;
	struct metrics_cap *cap;
	struct metrics_family *conns, *alerts, *lost, *unmatched, *dropped, *malformed;
	struct metrics_family *otlp_exported, *otlp_dropped;
	struct metrics_family *cpu, *rss;
	struct phase_family phases[MAX_PHASE_FAMILIES];
	size_t n_phases;
};

static bool name_ok(const char *s, bool colon)
{
	const char *p;

	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (p = s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || (colon && *p == ':'))
			continue;
		return false;
	}
	return true;
}

/* Shortest decimal text that reads back as v ("1e-05", "0.0001", "30"); integers below 2^53
 * without exponent. */
static void fmt_double(double v, char *buf, size_t len)
{
	int prec;

	if (v != v) {
		snprintf(buf, len, "NaN");
		return;
	}
	if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308) {
		snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v == (double)(int64_t)v && v < 9007199254740992.0 && v > -9007199254740992.0) {
		snprintf(buf, len, "%lld", (long long)v);
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
	snprintf(buf, len, "%.17g", v);
}

static void family_free(struct metrics_family *f)
{
	struct metrics_series *s, *tmp;
	size_t i;

	if (!f)
		return;
	HASH_ITER(hh, f->series, s, tmp) {
		HASH_DEL(f->series, s);
		free(s->key);
		free(s->buckets);
		free(s);
	}
	for (i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f->bounds);
	free(f->le);
	free(f);
}

struct metrics *metrics_registry_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (pthread_mutex_init(&m->lock, NULL)) {
		free(m);
		errno = ENOMEM;
		return NULL;
	}
	return m;
}

static struct metrics_family *family_find_locked(struct metrics *m, const char *name)
{
	struct metrics_family *f;

	for (f = m->first; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

static struct metrics_family *family_add_locked(struct metrics *m, const char *name,
						const char *help, enum metrics_type type,
						const char *const *labels, size_t n_labels,
						const uint64_t *bounds, size_t n_bounds,
						double divisor)
{
	struct metrics_family *f;
	size_t i;

	if (!name_ok(name, true) || n_labels > METRICS_MAX_LABELS || (n_labels && !labels) ||
	    type > METRICS_HISTOGRAM) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < n_labels; i++)
		if (!name_ok(labels[i], false) || !strncmp(labels[i], "__", 2) ||
		    (type == METRICS_HISTOGRAM && !strcmp(labels[i], "le"))) {
			errno = EINVAL;
			return NULL;
		}
	if (type == METRICS_HISTOGRAM) {
		if (!bounds || !n_bounds || !(divisor > 0)) {
			errno = EINVAL;
			return NULL;
		}
		for (i = 1; i < n_bounds; i++)
			if (bounds[i] <= bounds[i - 1]) {
				errno = EINVAL;
				return NULL;
			}
	}
	if (family_find_locked(m, name)) {
		errno = EEXIST;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->m = m;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	if (!f->name || !f->help)
		goto oom;
	for (i = 0; i < n_labels; i++) {
		f->labels[i] = strdup(labels[i]);
		if (!f->labels[i])
			goto oom;
		f->n_labels++;
	}
	if (type == METRICS_HISTOGRAM) {
		f->bounds = malloc(n_bounds * sizeof(*f->bounds));
		f->le = malloc(n_bounds * sizeof(*f->le));
		if (!f->bounds || !f->le)
			goto oom;
		memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
		f->n_bounds = n_bounds;
		f->divisor = divisor;
		for (i = 0; i < n_bounds; i++)
			fmt_double((double)bounds[i] / divisor, f->le[i], sizeof(f->le[i]));
	}
	if (m->last)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
	return f;
oom:
	family_free(f);
	errno = ENOMEM;
	return NULL;
}

struct metrics_family *metrics_family_add(struct metrics *m, const char *name, const char *help,
					  enum metrics_type type, const char *const *labels,
					  size_t n_labels, const uint64_t *bounds, size_t n_bounds,
					  double divisor)
{
	struct metrics_family *f;

	pthread_mutex_lock(&m->lock);
	f = family_add_locked(m, name, help, type, labels, n_labels, bounds, n_bounds, divisor);
	pthread_mutex_unlock(&m->lock);
	return f;
}

struct metrics_family *metrics_family_find(struct metrics *m, const char *name)
{
	struct metrics_family *f;

	pthread_mutex_lock(&m->lock);
	f = family_find_locked(m, name);
	pthread_mutex_unlock(&m->lock);
	return f;
}

/* Copies s to dst (room for strlen(s) + 1 bytes), each invalid UTF-8 byte replaced by '?'.
 * Returns the length written (without the NUL). */
static size_t utf8_clean(char *dst, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0, n;

	while (*p) {
		n = present_utf8_seq_len(p, strnlen((const char *)p, 4));
		if (!n) {
			dst[len++] = '?';
			p++;
			continue;
		}
		memcpy(dst + len, p, n);
		len += n;
		p += n;
	}
	dst[len] = '\0';
	return len;
}

/* The series of values in f, created with zero values when missing. NULL on out-of-memory. */
static struct metrics_series *series_get(struct metrics_family *f, const char *const *values)
{
	struct metrics_series *s;
	char stack[512], *key = stack;
	size_t i, need = 0, len = 0;
	bool oom = false;

	for (i = 0; i < f->n_labels; i++)
		need += strlen(values && values[i] ? values[i] : "") + 1;
	if (need > sizeof(stack)) {
		key = malloc(need);
		if (!key)
			return NULL;
	}
	for (i = 0; i < f->n_labels; i++)
		len += utf8_clean(key + len, values && values[i] ? values[i] : "") + 1;
	HASH_FIND(hh, f->series, key, len, s);
	if (s)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s)
		goto out;
	s->key = malloc(len ? len : 1);
	if (f->type == METRICS_HISTOGRAM)
		s->buckets = calloc(f->n_bounds + 1, sizeof(*s->buckets));
	if (!s->key || (f->type == METRICS_HISTOGRAM && !s->buckets))
		goto fail;
	memcpy(s->key, key, len);
	s->keylen = len;
	for (i = 0, len = 0; i < f->n_labels; i++) {
		s->values[i] = s->key + len;
		len += strlen(s->key + len) + 1;
	}
	HASH_ADD_KEYPTR(hh, f->series, s->key, s->keylen, s);
	if (oom)
		goto fail;
	f->n_series++;
	goto out;
fail:
	free(s->key);
	free(s->buckets);
	free(s);
	s = NULL;
out:
	if (key != stack)
		free(key);
	return s;
}

int metrics_series_touch(struct metrics_family *f, const char *const *values)
{
	int err;

	pthread_mutex_lock(&f->m->lock);
	err = series_get(f, values) ? 0 : -ENOMEM;
	pthread_mutex_unlock(&f->m->lock);
	return err;
}

static int counter_add_locked(struct metrics_family *f, const char *const *values, double v)
{
	struct metrics_series *s;

	if (f->type != METRICS_COUNTER || !(v >= 0))
		return -EINVAL;
	s = series_get(f, values);
	if (!s)
		return -ENOMEM;
	s->value += v;
	return 0;
}

int metrics_counter_add(struct metrics_family *f, const char *const *values, double v)
{
	int err;

	pthread_mutex_lock(&f->m->lock);
	err = counter_add_locked(f, values, v);
	pthread_mutex_unlock(&f->m->lock);
	return err;
}

static int value_set_locked(struct metrics_family *f, const char *const *values, double v)
{
	struct metrics_series *s;

	if (f->type == METRICS_HISTOGRAM)
		return -EINVAL;
	s = series_get(f, values);
	if (!s)
		return -ENOMEM;
	s->value = v;
	return 0;
}

int metrics_value_set(struct metrics_family *f, const char *const *values, double v)
{
	int err;

	pthread_mutex_lock(&f->m->lock);
	err = value_set_locked(f, values, v);
	pthread_mutex_unlock(&f->m->lock);
	return err;
}

static int observe_locked(struct metrics_family *f, const char *const *values, uint64_t v)
{
	struct metrics_series *s;
	size_t lo = 0, hi;

	if (f->type != METRICS_HISTOGRAM)
		return -EINVAL;
	s = series_get(f, values);
	if (!s)
		return -ENOMEM;
	/* the first bound >= v; n_bounds (the +Inf bucket) when none */
	hi = f->n_bounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	s->buckets[lo]++;
	s->count++;
	s->sum += v;
	return 0;
}

int metrics_histogram_observe(struct metrics_family *f, const char *const *values, uint64_t v)
{
	int err;

	pthread_mutex_lock(&f->m->lock);
	err = observe_locked(f, values, v);
	pthread_mutex_unlock(&f->m->lock);
	return err;
}

/* ---- rendering ---- */

struct text {
	char *buf;
	size_t len, cap;
	bool oom;
};

static bool text_room(struct text *t, size_t n)
{
	char *grown;
	size_t cap;

	if (t->oom)
		return false;
	if (t->cap - t->len > n)
		return true;
	cap = t->cap ? t->cap : 4096;
	while (cap - t->len <= n)
		cap *= 2;
	grown = realloc(t->buf, cap);
	if (!grown) {
		t->oom = true;
		return false;
	}
	t->buf = grown;
	t->cap = cap;
	return true;
}

static void text_add(struct text *t, const char *s, size_t n)
{
	if (!text_room(t, n))
		return;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) text_fmt(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !text_room(t, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* Appends s escaped: `\` and newline always, `"` too in label values. */
static void text_escaped(struct text *t, const char *s, bool quote)
{
	const char *p, *run = s;

	for (p = s; *p; p++) {
		const char *esc = NULL;

		if (*p == '\\')
			esc = "\\\\";
		else if (*p == '\n')
			esc = "\\n";
		else if (*p == '"' && quote)
			esc = "\\\"";
		if (!esc)
			continue;
		text_add(t, run, (size_t)(p - run));
		text_str(t, esc);
		run = p + 1;
	}
	text_add(t, run, (size_t)(p - run));
}

/* Appends v in decimal. */
static void text_u64(struct text *t, uint64_t v)
{
	char b[20];
	size_t n = sizeof(b);

	do {
		b[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	text_add(t, b + n, sizeof(b) - n);
}

/* Writes a series' labels into lab, as `a="x",b="y"` (escaped; empty without labels). */
static void series_labels(struct text *lab, const struct metrics_family *f,
			  const struct metrics_series *s)
{
	size_t i;

	lab->len = 0;
	if (lab->buf)
		lab->buf[0] = '\0';
	for (i = 0; i < f->n_labels; i++) {
		if (i)
			text_add(lab, ",", 1);
		text_str(lab, f->labels[i]);
		text_add(lab, "=\"", 2);
		text_escaped(lab, s->values[i], true);
		text_add(lab, "\"", 1);
	}
}

/* Appends `<name><suffix>{<labels>[,le="<le>"]} ` (no braces when both are empty). */
static void text_series_start(struct text *t, const char *name, const char *suffix,
			      const struct text *lab, const char *le)
{
	text_str(t, name);
	text_str(t, suffix);
	if (lab->len || le) {
		text_add(t, "{", 1);
		text_add(t, lab->buf, lab->len);
		if (le) {
			text_str(t, lab->len ? ",le=\"" : "le=\"");
			text_str(t, le);
			text_add(t, "\"", 1);
		}
		text_add(t, "}", 1);
	}
	text_add(t, " ", 1);
}

/* Orders series by their label values: the keys hold them NUL-separated, and NUL sorts
 * before every other byte, so comparing whole keys compares value by value. */
static int cmp_series(const void *a, const void *b)
{
	const struct metrics_series *x = *(struct metrics_series *const *)a;
	const struct metrics_series *y = *(struct metrics_series *const *)b;
	int c = memcmp(x->key, y->key, x->keylen < y->keylen ? x->keylen : y->keylen);

	if (c)
		return c;
	return x->keylen < y->keylen ? -1 : x->keylen > y->keylen;
}

/* Appends one series (a histogram: its bucket, _sum and _count lines); lab is scratch space
 * for its labels. */
static void render_series(struct text *t, const struct metrics_family *f,
			  const struct metrics_series *s, struct text *lab)
{
	char num[48];
	uint64_t cum = 0;
	size_t i;

	series_labels(lab, f, s);
	if (lab->oom) {
		t->oom = true;
		return;
	}
	if (f->type != METRICS_HISTOGRAM) {
		text_series_start(t, f->name, "", lab, NULL);
		fmt_double(s->value, num, sizeof(num));
		text_str(t, num);
		text_add(t, "\n", 1);
		return;
	}
	for (i = 0; i <= f->n_bounds; i++) {
		cum += s->buckets[i];
		text_series_start(t, f->name, "_bucket", lab, i < f->n_bounds ? f->le[i] : "+Inf");
		text_u64(t, cum);
		text_add(t, "\n", 1);
	}
	text_series_start(t, f->name, "_sum", lab, NULL);
	fmt_double((double)s->sum / f->divisor, num, sizeof(num));
	text_str(t, num);
	text_add(t, "\n", 1);
	text_series_start(t, f->name, "_count", lab, NULL);
	text_u64(t, s->count);
	text_add(t, "\n", 1);
}

static const char *const type_names[] = {
	[METRICS_COUNTER] = "counter",
	[METRICS_GAUGE] = "gauge",
	[METRICS_HISTOGRAM] = "histogram",
};

int metrics_render(struct metrics *m, char **text, size_t *len)
{
	struct text t = {}, lab = {};
	struct metrics_family *f;
	struct metrics_series *s, *tmp, **sorted = NULL;
	size_t n, i, cap = 0;

	pthread_mutex_lock(&m->lock);
	text_room(&t, 0);
	for (f = m->first; f && !t.oom; f = f->next) {
		text_fmt(&t, "# HELP %s ", f->name);
		text_escaped(&t, f->help, false);
		text_fmt(&t, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
		if (f->n_series > cap) {
			struct metrics_series **grown = realloc(sorted, f->n_series * sizeof(*sorted));

			if (!grown) {
				t.oom = true;
				break;
			}
			sorted = grown;
			cap = f->n_series;
		}
		n = 0;
		HASH_ITER(hh, f->series, s, tmp)
			sorted[n++] = s;
		qsort(sorted, n, sizeof(*sorted), cmp_series);
		for (i = 0; i < n; i++)
			render_series(&t, f, sorted[i], &lab);
	}
	pthread_mutex_unlock(&m->lock);
	free(sorted);
	free(lab.buf);
	if (t.oom) {
		free(t.buf);
		return -ENOMEM;
	}
	*text = t.buf;
	*len = t.len;
	return 0;
}

void metrics_free(struct metrics *m)
{
	struct metrics_family *f, *next;
	size_t i;

	if (!m)
		return;
	for (f = m->first; f; f = next) {
		next = f->next;
		family_free(f);
	}
	for (i = 0; i < m->n_phases; i++)
		if (m->phases[i].own_name)
			free((char *)m->phases[i].phase);
	metrics_cap_free(m->cap);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* ---- capped label values ---- */

struct cap_value {
	UT_hash_handle hh;
	char text[]; /* NUL-terminated */
};

struct metrics_cap {
	struct cap_value *values;
	size_t n, max;
};

struct metrics_cap *metrics_cap_new(size_t max)
{
	struct metrics_cap *c;

	if (!max) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->max = max;
	return c;
}

const char *metrics_cap_get(struct metrics_cap *c, const char *value)
{
	struct cap_value *v;
	size_t len = strlen(value);
	bool oom = false;

	HASH_FIND(hh, c->values, value, len, v);
	if (v)
		return v->text;
	if (c->n >= c->max)
		return "other";
	v = malloc(sizeof(*v) + len + 1);
	if (!v)
		return NULL;
	memcpy(v->text, value, len + 1);
	HASH_ADD_KEYPTR(hh, c->values, v->text, len, v);
	if (oom) {
		free(v);
		return NULL;
	}
	c->n++;
	return v->text;
}

size_t metrics_cap_count(const struct metrics_cap *c)
{
	return c->n;
}

void metrics_cap_free(struct metrics_cap *c)
{
	struct cap_value *v, *tmp;

	if (!c)
		return;
	HASH_ITER(hh, c->values, v, tmp) {
		HASH_DEL(c->values, v);
		free(v);
	}
	free(c);
}

/* ---- hstrace's families ---- */

/* 1-2-5 per decade from 10 µs to 30 s, in nanoseconds. */
static const uint64_t duration_bounds_ns[] = {
	10000ULL,	20000ULL,	50000ULL,	100000ULL,	200000ULL,	500000ULL,
	1000000ULL,	2000000ULL,	5000000ULL,	10000000ULL,	20000000ULL,	50000000ULL,
	100000000ULL,	200000000ULL,	500000000ULL,	1000000000ULL,	2000000000ULL,
	5000000000ULL,	10000000000ULL, 20000000000ULL, 30000000000ULL,
};

#define N_BOUNDS (sizeof(duration_bounds_ns) / sizeof(duration_bounds_ns[0]))

const char *const metrics_phase_names[] = {
	"tcp_handshake", "accept_wait", "idle_before_hello", "server_hello_rtt", "server_think",
	"tls_handshake", "ttfb", "response_time", "cert_verify", "total", "hello_read_wait",
	"app_think", "peer_think", NULL,
};

/* HELP texts of the documented phases (docs/json.md has the exact events). */
static const char *const phase_help[] = {
	"TCP three-way handshake as seen from this end (client: syn_sent to established; "
	"server: syn_received to established), in seconds.",
	"Server: time an established connection waited in the listen queue before accept(), in "
	"seconds.",
	"Client: time from established to the ClientHello sent, in seconds.",
	"Client: ClientHello sent to ServerHello received (one round trip plus the server's "
	"answer), in seconds.",
	"Server: ClientHello received to ServerHello sent, in seconds.",
	"The whole TLS handshake as seen from this end (ClientHello to the last handshake "
	"message), in seconds.",
	"Client: first application data sent to first application data received, in seconds.",
	"Server: first application data received to first application data sent, in seconds.",
	"Time the TLS library spent verifying the peer's certificate chain (OpenSSL uprobes), "
	"in seconds.",
	"First event (SYN sent or received) to the first application data received, in seconds.",
	"Server: time the ClientHello waited in this host's socket before the application read "
	"it, in seconds.",
	"This host's application's own work in the TLS handshake, between its calls, in seconds.",
	"Client: estimate of the server's share of server_hello_rtt (server_hello_rtt minus "
	"tcp_handshake), in seconds.",
};

_Static_assert(sizeof(phase_help) / sizeof(phase_help[0]) ==
		       sizeof(metrics_phase_names) / sizeof(metrics_phase_names[0]) - 1,
	       "one HELP text per documented phase");

static const char *const by_names[] = {
	[METRICS_BY_SNI] = "sni",
	[METRICS_BY_COMM] = "comm",
	[METRICS_BY_PORT] = "port",
};

static const char *const by_labels[] = {
	[METRICS_BY_SNI] = "server_name",
	[METRICS_BY_COMM] = "comm",
	[METRICS_BY_PORT] = "port",
};

int metrics_by_parse(const char *s, enum metrics_by *by)
{
	unsigned int i;

	for (i = METRICS_BY_SNI; i <= METRICS_BY_PORT; i++)
		if (s && !strcmp(s, by_names[i])) {
			*by = i;
			return 0;
		}
	return -EINVAL;
}

const char *metrics_by_label(enum metrics_by by)
{
	if (by < METRICS_BY_SNI || by > METRICS_BY_PORT)
		return NULL;
	return by_labels[by];
}

const char *metrics_tls_version(uint16_t version)
{
	const char *name = tls_version_name(version);

	if (!version)
		return "";
	return name && version >= 0x0301 ? name : "other";
}

/* Adds the histogram family of phase `phase` (its HELP text, or a generic one). */
static int phase_family_add(struct metrics *m, const char *phase, const char *help,
			    bool copy_name)
{
	const char *labels[3] = { "role", "tls_version", metrics_by_label(m->by) };
	char name[128], generic[192];
	struct phase_family *pf;

	if (m->n_phases >= MAX_PHASE_FAMILIES)
		return -ENOSPC;
	if (snprintf(name, sizeof(name), "hstrace_%s_duration_seconds", phase) >= (int)sizeof(name))
		return -EINVAL;
	if (!help) {
		snprintf(generic, sizeof(generic), "Duration of the timeline phase %s (docs/json.md), "
			 "in seconds.", phase);
		help = generic;
	}
	pf = &m->phases[m->n_phases];
	pf->f = family_add_locked(m, name, help, METRICS_HISTOGRAM, labels, m->by ? 3 : 2,
				  duration_bounds_ns, N_BOUNDS, 1e9);
	if (!pf->f)
		return -errno;
	pf->phase = phase;
	pf->own_name = copy_name;
	if (copy_name) {
		pf->phase = strdup(phase);
		if (!pf->phase)
			return -ENOMEM; /* the family stays, unused: harmless */
	}
	m->n_phases++;
	return 0;
}

struct metrics *metrics_new(const struct metrics_opts *opts)
{
	const char *conn_labels[3] = { "role", "result", NULL };
	const char *alert_labels[2] = { "description", "sender" };
	const char *version_label[1] = { "version" };
	const char *values[3];
	struct metrics_family *info;
	struct metrics *m;
	size_t i;
	int r, role;

	m = metrics_registry_new();
	if (!m)
		return NULL;
	m->by = opts->by;
	conn_labels[2] = metrics_by_label(m->by);
	if (m->by) {
		m->cap = metrics_cap_new(opts->max_values ? opts->max_values
							  : METRICS_DEFAULT_MAX_VALUES);
		if (!m->cap)
			goto fail;
	}
	pthread_mutex_lock(&m->lock);
	m->conns = family_add_locked(m, "hstrace_connections_total",
				     "Connection ends hstrace showed (the same as its output), by "
				     "role and result.", METRICS_COUNTER, conn_labels, m->by ? 3 : 2,
				     NULL, 0, 0);
	for (i = 0; m->conns && metrics_phase_names[i]; i++)
		if (phase_family_add(m, metrics_phase_names[i], phase_help[i], false))
			break;
	m->alerts = family_add_locked(m, "hstrace_tls_alerts_total",
				      "TLS alerts of the connection ends shown (tls.alert), by IANA "
				      "description and the role of the end that sent it.",
				      METRICS_COUNTER, alert_labels, 2, NULL, 0, 0);
	m->lost = family_add_locked(m, "hstrace_records_lost_total",
				    "Records lost because the BPF ring buffer was full.",
				    METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	m->unmatched = family_add_locked(m, "hstrace_records_unmatched_total",
					 "Records that matched no connection hstrace saw start.",
					 METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	m->dropped = family_add_locked(m, "hstrace_records_dropped_total",
				       "Records the collector could not apply (out of memory, or "
				       "too many events on one connection).",
				       METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	m->malformed = family_add_locked(m, "hstrace_records_malformed_total",
					 "Records too short or of an unknown kind.", METRICS_COUNTER,
					 NULL, 0, NULL, 0, 0);
	m->otlp_exported = family_add_locked(m, "hstrace_otlp_exported_total",
					     "Connection ends delivered to the OTLP receiver (--otlp).",
					     METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	m->otlp_dropped = family_add_locked(m, "hstrace_otlp_dropped_total",
					    "Connection ends not exported over OTLP: queue full, "
					    "refused by the receiver, or unsent at exit.",
					    METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	info = family_add_locked(m, "hstrace_build_info", "hstrace's version; always 1.",
				 METRICS_GAUGE, version_label, 1, NULL, 0, 0);
	m->cpu = family_add_locked(m, "hstrace_process_cpu_seconds_total",
				   "CPU time hstrace used, user and system, in seconds.",
				   METRICS_COUNTER, NULL, 0, NULL, 0, 0);
	m->rss = family_add_locked(m, "hstrace_process_resident_memory_bytes",
				   "hstrace's resident memory, in bytes.", METRICS_GAUGE, NULL, 0,
				   NULL, 0, 0);
	r = !m->conns || m->n_phases < sizeof(phase_help) / sizeof(phase_help[0]) || !m->alerts ||
	    !m->lost || !m->unmatched || !m->dropped || !m->malformed || !info || !m->cpu ||
	    !m->rss || !m->otlp_exported || !m->otlp_dropped;
	/* visible from the start: the record counters and build info, and without a `by` label
	 * a zero series per role and result (so a rate sees the first connection) */
	values[0] = opts->version ? opts->version : "";
	r = r || value_set_locked(info, values, 1) || !series_get(m->lost, NULL) ||
	    !series_get(m->unmatched, NULL) || !series_get(m->dropped, NULL) ||
	    !series_get(m->malformed, NULL) || !series_get(m->cpu, NULL) ||
	    !series_get(m->rss, NULL) || !series_get(m->otlp_exported, NULL) ||
	    !series_get(m->otlp_dropped, NULL);
	for (role = ROLE_CLIENT; !r && !m->by && role <= ROLE_SERVER; role++)
		for (i = 0; !r && i < RESULT__MAX; i++) {
			values[0] = tl_role_name(role);
			values[1] = tl_result_name(i);
			r = !series_get(m->conns, values);
		}
	pthread_mutex_unlock(&m->lock);
	if (r)
		goto fail;
	return m;
fail:
	metrics_free(m);
	errno = ENOMEM;
	return NULL;
}

/* The phase family of name: found (by pointer, then by text), or added for a name not seen
 * before. NULL when the cap is reached, the name is not usable, or out of memory. */
static struct metrics_family *phase_family(struct metrics *m, const char *name, int *err)
{
	size_t i;

	for (i = 0; i < m->n_phases; i++)
		if (m->phases[i].phase == name)
			return m->phases[i].f;
	for (i = 0; i < m->n_phases; i++)
		if (!strcmp(m->phases[i].phase, name))
			return m->phases[i].f;
	if (!name_ok(name, false))
		return NULL;
	*err = phase_family_add(m, name, NULL, true);
	if (*err == -ENOSPC || *err == -EINVAL)
		*err = 0; /* a phase beyond the cap is left out, not an error */
	return *err ? NULL : m->phases[m->n_phases - 1].f;
}

/* The value of the `by` label for tl, capped. */
static const char *by_value(struct metrics *m, const struct timeline *tl, char *buf, size_t len)
{
	const char *v = "", *capped;

	switch (m->by) {
	case METRICS_BY_SNI:
		if (tl->tls.seen && tl->tls.sni[0]) {
			snprintf(buf, len, "%.*s", (int)sizeof(tl->tls.sni), tl->tls.sni);
			v = buf;
		}
		break;
	case METRICS_BY_COMM:
		if (tl->pid && tl->comm[0]) {
			snprintf(buf, len, "%.*s", (int)sizeof(tl->comm), tl->comm);
			v = buf;
		}
		break;
	case METRICS_BY_PORT:
		snprintf(buf, len, "%u", tl->role == ROLE_SERVER ? tl->lport : tl->rport);
		v = buf;
		break;
	default:
		return NULL;
	}
	if (!*v)
		return v; /* unknown: never capped */
	capped = metrics_cap_get(m->cap, v);
	return capped ? capped : "other";
}

int metrics_observe_timeline(struct metrics *m, const struct timeline *tl)
{
	const char *values[3];
	char by_buf[sizeof(tl->tls.sni) + 1], alert_buf[16];
	const char *role = tl_role_name(tl->role), *by;
	struct metrics_family *f;
	size_t i;
	int err = 0, e;

	pthread_mutex_lock(&m->lock);
	by = by_value(m, tl, by_buf, sizeof(by_buf));
	values[0] = role;
	values[1] = tl_result_name(tl->result);
	values[2] = by;
	err = counter_add_locked(m->conns, values, 1);

	values[1] = metrics_tls_version(tl->tls.seen ? tl->tls.version : 0);
	for (i = 0; i < tl->n_phases && i < TL_MAX_PHASES; i++) {
		if (!tl->phases[i].name)
			continue;
		e = 0;
		f = phase_family(m, tl->phases[i].name, &e);
		if (f)
			e = observe_locked(f, values, tl->phases[i].dur_ns);
		err = err ?: e;
	}

	if (tl->tls.seen && tl->tls.has_alert) {
		values[0] = report_alert_text(tl->tls.alert_level, tl->tls.alert_desc, alert_buf,
					      sizeof(alert_buf));
		/* sent by this end (out), or by its peer: the other role */
		if (tl->tls.alert_dir == DIR_OUT)
			values[1] = role;
		else if (tl->tls.alert_dir == DIR_IN && tl->role != ROLE_UNKNOWN)
			values[1] = tl_role_name(tl->role == ROLE_CLIENT ? ROLE_SERVER : ROLE_CLIENT);
		else
			values[1] = "unknown";
		err = err ?: counter_add_locked(m->alerts, values, 1);
	}
	pthread_mutex_unlock(&m->lock);
	return err;
}

int metrics_set_records(struct metrics *m, uint64_t lost, uint64_t unmatched, uint64_t dropped,
			uint64_t malformed)
{
	int err;

	pthread_mutex_lock(&m->lock);
	err = value_set_locked(m->lost, NULL, (double)lost);
	err = err ?: value_set_locked(m->unmatched, NULL, (double)unmatched);
	err = err ?: value_set_locked(m->dropped, NULL, (double)dropped);
	err = err ?: value_set_locked(m->malformed, NULL, (double)malformed);
	pthread_mutex_unlock(&m->lock);
	return err;
}

int metrics_set_otlp(struct metrics *m, uint64_t exported, uint64_t dropped)
{
	int err;

	pthread_mutex_lock(&m->lock);
	err = value_set_locked(m->otlp_exported, NULL, (double)exported);
	err = err ?: value_set_locked(m->otlp_dropped, NULL, (double)dropped);
	pthread_mutex_unlock(&m->lock);
	return err;
}

int metrics_set_process(struct metrics *m, double cpu_seconds, double rss_bytes)
{
	int err;

	pthread_mutex_lock(&m->lock);
	err = value_set_locked(m->cpu, NULL, cpu_seconds);
	err = err ?: value_set_locked(m->rss, NULL, rss_bytes);
	pthread_mutex_unlock(&m->lock);
	return err;
}

/* ---- --metrics [ADDR:]PORT ---- */

static int parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;
	const char *p;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int metrics_listen_parse(const char *s, struct metrics_listen *out)
{
	struct metrics_listen l = {};
	const char *colon, *end;
	size_t alen;

	if (!s)
		return -EINVAL;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		alen = (size_t)(end - s - 1);
		if (!alen || alen >= sizeof(l.addr_text))
			return -EINVAL;
		memcpy(l.addr_text, s + 1, alen);
		l.family = AF_INET6;
		if (inet_pton(AF_INET6, l.addr_text, l.addr) != 1 || parse_port(end + 2, &l.port))
			return -EINVAL;
	} else if ((colon = strchr(s, ':'))) {
		alen = (size_t)(colon - s);
		if (!alen || alen >= sizeof(l.addr_text) || strchr(colon + 1, ':'))
			return -EINVAL; /* IPv6 needs brackets */
		memcpy(l.addr_text, s, alen);
		l.family = AF_INET;
		if (inet_pton(AF_INET, l.addr_text, l.addr) != 1 || parse_port(colon + 1, &l.port))
			return -EINVAL;
	} else {
		if (parse_port(s, &l.port))
			return -EINVAL;
		strcpy(l.addr_text, "127.0.0.1");
		l.family = AF_INET;
		inet_pton(AF_INET, l.addr_text, l.addr);
	}
	*out = l;
	return 0;
}
