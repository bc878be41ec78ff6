// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * metrics_registry.c - a Prometheus metric registry (families, series, counters, gauges,
 * histograms) and its text exposition format (see metrics_registry.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_registry.h"
#include "present.h"

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

struct metrics {
	pthread_mutex_t lock;
	struct metrics_family *first, *last;
	void *ext; /* a layer's own state (metrics_ext_set()), freed by free_ext */
	void (*free_ext)(void *ext);
};

bool metrics_name_ok(const char *s, bool colon)
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

void metrics_lock(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
}

void metrics_unlock(struct metrics *m)
{
	pthread_mutex_unlock(&m->lock);
}

void metrics_ext_set(struct metrics *m, void *ext, void (*free_ext)(void *ext))
{
	m->ext = ext;
	m->free_ext = free_ext;
}

void *metrics_ext(const struct metrics *m)
{
	return m->ext;
}

static struct metrics_family *family_find_locked(struct metrics *m, const char *name)
{
	struct metrics_family *f;

	for (f = m->first; f; f = f->next)
		if (!strcmp(f->name, name))
			return f;
	return NULL;
}

struct metrics_family *metrics_family_add_locked(struct metrics *m, const char *name,
						 const char *help, enum metrics_type type,
						 const char *const *labels, size_t n_labels,
						 const uint64_t *bounds, size_t n_bounds,
						 double divisor)
{
	struct metrics_family *f;
	size_t i;

	if (!metrics_name_ok(name, true) || n_labels > METRICS_MAX_LABELS ||
	    (n_labels && !labels) || type > METRICS_HISTOGRAM) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < n_labels; i++)
		if (!metrics_name_ok(labels[i], false) || !strncmp(labels[i], "__", 2) ||
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
	f = metrics_family_add_locked(m, name, help, type, labels, n_labels, bounds, n_bounds,
				      divisor);
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

int metrics_series_touch_locked(struct metrics_family *f, const char *const *values)
{
	return series_get(f, values) ? 0 : -ENOMEM;
}

int metrics_series_touch(struct metrics_family *f, const char *const *values)
{
	int err;

	pthread_mutex_lock(&f->m->lock);
	err = metrics_series_touch_locked(f, values);
	pthread_mutex_unlock(&f->m->lock);
	return err;
}

int metrics_counter_add_locked(struct metrics_family *f, const char *const *values, double v)
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
	err = metrics_counter_add_locked(f, values, v);
	pthread_mutex_unlock(&f->m->lock);
	return err;
}

int metrics_value_set_locked(struct metrics_family *f, const char *const *values, double v)
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
	err = metrics_value_set_locked(f, values, v);
	pthread_mutex_unlock(&f->m->lock);
	return err;
}

int metrics_histogram_observe_locked(struct metrics_family *f, const char *const *values,
				     uint64_t v)
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
	err = metrics_histogram_observe_locked(f, values, v);
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

	if (!m)
		return;
	for (f = m->first; f; f = next) {
		next = f->next;
		family_free(f);
	}
	if (m->free_ext)
		m->free_ext(m->ext);
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
