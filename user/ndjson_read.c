// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * ndjson_read.c - NDJSON records (hstrace --json) -> report samples, parsed with json-c.
 *
 * Input goes through zlib's gzread(), which reads gzip and plain files alike. Lines are split
 * in a growing buffer; each line is parsed by one reused strict tokener.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "ndjson_read.h"

/* Bytes read (and decompressed) at a time; the line buffer starts at twice that. The fuzz build
 * makes it small (Makefile: fuzz_ndjson), so that lines cross chunks often and a run does not
 * pay for 1.3 MB of buffers. */
#ifndef NDJSON_READ_CHUNK
#define NDJSON_READ_CHUNK (256u << 10)
#endif
#define READ_CHUNK NDJSON_READ_CHUNK

struct ndjson_reader {
	gzFile gz;
	struct json_tokener *tok;
	struct json_object *cur; /* the last record returned */
	char *buf;		 /* buf[start, end) holds unread bytes */
	size_t start, end, cap;
	bool eof;
	bool skipping; /* inside a line longer than NDJSON_MAX_LINE */
	struct ndjson_stats st;
};

struct ndjson_reader *ndjson_open(const char *path)
{
	struct ndjson_reader *rd = calloc(1, sizeof(*rd));
	int fd, err;

	if (!rd)
		goto nomem;
	rd->cap = 2 * READ_CHUNK;
	rd->buf = malloc(rd->cap);
	rd->tok = json_tokener_new();
	if (!rd->buf || !rd->tok)
		goto nomem;
	json_tokener_set_flags(rd->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	if (!strcmp(path, "-")) {
		fd = dup(STDIN_FILENO);
		rd->gz = fd < 0 ? NULL : gzdopen(fd, "rb");
		if (!rd->gz && fd >= 0)
			close(fd);
	} else {
		rd->gz = gzopen(path, "rb");
	}
	if (!rd->gz) {
		err = errno ? errno : ENOMEM;
		ndjson_close(rd);
		errno = err;
		return NULL;
	}
	gzbuffer(rd->gz, READ_CHUNK);
	return rd;
nomem:
	ndjson_close(rd);
	errno = ENOMEM;
	return NULL;
}

void ndjson_close(struct ndjson_reader *rd)
{
	if (!rd)
		return;
	if (rd->gz)
		gzclose(rd->gz);
	json_object_put(rd->cur);
	if (rd->tok)
		json_tokener_free(rd->tok);
	free(rd->buf);
	free(rd);
}

void ndjson_get_stats(const struct ndjson_reader *rd, struct ndjson_stats *st)
{
	*st = rd->st;
}

/* ---- record -> sample ---- */

static struct json_object *member(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* A string member, or NULL when absent, null or not a string. */
static const char *string_member(struct json_object *o, const char *key)
{
	struct json_object *v = member(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* true when member key of o (o may be NULL) is the JSON value true: how a record carries its
 * marks, which hstrace writes only when true. */
static bool true_member(struct json_object *o, const char *key)
{
	struct json_object *v = o ? member(o, key, json_type_boolean) : NULL;

	return v && json_object_get_boolean(v);
}

/* An integer member in [0, max]; -1 when absent or out of range. */
static int64_t int_member(struct json_object *o, const char *key, int64_t max)
{
	struct json_object *v = member(o, key, json_type_int);
	int64_t x;

	if (!v)
		return -1;
	errno = 0;
	x = json_object_get_int64(v);
	if (errno || x < 0 || x > max)
		return -1;
	return x;
}

int ndjson_sample_from_json(struct json_object *obj, struct report_sample *s)
{
	struct json_object *local, *peer, *phases, *tls, *alert, *desc, *tcp;
	const char *schema;
	int64_t lport, rport;

	memset(s, 0, sizeof(*s));
	if (!json_object_is_type(obj, json_type_object))
		return -EINVAL;
	/* hstrace/2 changed only the meaning of TLS events' t_us, which is not read here */
	schema = string_member(obj, "schema");
	if (!schema || (strcmp(schema, "hstrace/1") && strcmp(schema, "hstrace/2")))
		return -EINVAL;
	s->role = string_member(obj, "role");
	s->result = string_member(obj, "result");
	local = member(obj, "local", json_type_object);
	peer = member(obj, "peer", json_type_object);
	phases = member(obj, "phases_us", json_type_object);
	if (!s->role || !s->result || !local || !peer || !phases)
		return -EINVAL;
	lport = int_member(local, "port", 65535);
	rport = int_member(peer, "port", 65535);
	if (lport < 0 || rport < 0)
		return -EINVAL;
	s->port = (unsigned int)(strcmp(s->role, "server") ? rport : lport);
	s->peer = string_member(peer, "addr");
	s->comm = string_member(obj, "comm");

	json_object_object_foreach(phases, name, val) {
		int64_t us;

		if (!json_object_is_type(val, json_type_int))
			return -EINVAL;
		errno = 0;
		us = json_object_get_int64(val);
		if (errno || us < 0)
			return -EINVAL;
		if (s->n_phases < REPORT_MAX_SAMPLE_PHASES) {
			s->phases[s->n_phases].name = name;
			s->phases[s->n_phases].us = (uint64_t)us;
			s->n_phases++;
		}
	}

	/* the marks of events hstrace lost (docs/json.md), counted by the report */
	tcp = member(obj, "tcp", json_type_object);
	s->close_lost = true_member(tcp, "close_lost");
	tls = member(obj, "tls", json_type_object);
	s->desync = true_member(tls, "desync");
	if (tls) {
		s->sni = string_member(tls, "sni");
		alert = member(tls, "alert", json_type_object);
		if (alert) {
			/* description null: the alert was encrypted */
			if (json_object_object_get_ex(alert, "description", &desc) && desc &&
			    json_object_is_type(desc, json_type_string))
				s->alert = json_object_get_string(desc);
			else
				s->alert = "encrypted";
		}
	}
	return 0;
}

/* ---- lines ---- */

static void count_invalid(struct ndjson_reader *rd)
{
	rd->st.invalid++;
	if (rd->st.n_first_invalid < NDJSON_FIRST_INVALID)
		rd->st.first_invalid[rd->st.n_first_invalid++] = rd->st.lines;
}

/* Reads more input after buf[end]. Returns bytes read, 0 at the end, -EIO on error. */
static int fill(struct ndjson_reader *rd)
{
	int n, errnum;

	if (rd->start > 0) { /* move the unread part to the front */
		memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
		rd->end -= rd->start;
		rd->start = 0;
	}
	if (rd->cap - rd->end < READ_CHUNK) {
		size_t cap = rd->cap * 2;
		char *grown = realloc(rd->buf, cap);

		if (!grown)
			return -ENOMEM;
		rd->buf = grown;
		rd->cap = cap;
	}
	n = gzread(rd->gz, rd->buf + rd->end, READ_CHUNK);
	if (n < 0) {
		gzerror(rd->gz, &errnum);
		return -EIO;
	}
	if (n == 0) {
		/* gzread() returns 0 also for a gzip stream cut short (Z_BUF_ERROR) */
		gzerror(rd->gz, &errnum);
		if (errnum != Z_OK)
			return -EIO;
		rd->eof = true;
	}
	rd->end += (size_t)n;
	return n;
}

/* Parses line[0, len) (no newline) with tok; returns 1 with *cur holding the object that s
 * borrows from (the previous one released), 0 if the line is not a record. */
static int parse_line(struct json_tokener *tok, struct json_object **cur, const char *line,
		      size_t len, struct report_sample *s)
{
	struct json_object *obj;
	size_t end;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > NDJSON_MAX_LINE)
		return 0;
	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	if (!obj)
		return 0;
	end = json_tokener_get_parse_end(tok);
	while (end < len && (line[end] == ' ' || line[end] == '\t'))
		end++;
	if (end != len || ndjson_sample_from_json(obj, s)) {
		json_object_put(obj);
		return 0;
	}
	json_object_put(*cur);
	*cur = obj;
	return 1;
}

/* The next line (without its newline) in *line / *len, valid until the next call; lines
 * longer than NDJSON_MAX_LINE are counted invalid and skipped here. Returns 1, 0 at the end,
 * or -EIO / -ENOMEM. */
static int next_line(struct ndjson_reader *rd, const char **line, size_t *len)
{
	char *nl;
	int n;

	for (;;) {
		nl = rd->end > rd->start ? memchr(rd->buf + rd->start, '\n', rd->end - rd->start)
					 : NULL;
		if (!nl && !rd->eof) {
			if (rd->end - rd->start > NDJSON_MAX_LINE) { /* drop the overlong line */
				if (!rd->skipping) {
					rd->st.lines++;
					count_invalid(rd);
				}
				rd->skipping = true;
				rd->start = rd->end;
			}
			n = fill(rd);
			if (n < 0)
				return n;
			continue;
		}
		if (!nl && rd->start == rd->end)
			return 0; /* the end, after a final newline (or no input) */
		*len = nl ? (size_t)(nl - (rd->buf + rd->start)) : rd->end - rd->start;
		*line = rd->buf + rd->start;
		rd->start += *len + (nl ? 1 : 0);
		if (rd->skipping) { /* the rest of an overlong line */
			rd->skipping = false;
			continue;
		}
		rd->st.lines++;
		return 1;
	}
}

int ndjson_next(struct ndjson_reader *rd, struct report_sample *s)
{
	const char *line;
	size_t len;
	int ret;

	while ((ret = next_line(rd, &line, &len)) > 0) {
		if (parse_line(rd->tok, &rd->cur, line, len, s)) {
			rd->st.records++;
			return 1;
		}
		count_invalid(rd);
	}
	return ret;
}

struct json_object *ndjson_current(const struct ndjson_reader *rd)
{
	return rd->cur;
}

/* ---- parallel parsing ----
 *
 * json-c parsing is nearly all the cost of a report, so ndjson_for_each() spreads it over
 * worker threads: the calling thread cuts the input into batches of lines, workers parse a
 * batch each into samples (strings copied into the batch), and the calling thread hands the
 * samples to the callback batch by batch in input order, so the result is the same as with
 * ndjson_next(). */

#define BATCH_LINES 1024
#define MAX_THREADS 8

struct batch {
	char *data;	   /* the lines' bytes, then the samples' strings */
	size_t data_len, data_cap;
	size_t off[BATCH_LINES], len[BATCH_LINES];
	uint64_t line_no[BATCH_LINES];
	struct report_sample s[BATCH_LINES];
	bool valid[BATCH_LINES];
	size_t n;
	enum { SLOT_FREE, SLOT_READY, SLOT_BUSY, SLOT_DONE } state;
	int err;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct batch *slots;
	size_t n_slots;
	size_t next_parse; /* the next slot a worker takes (in order) */
	bool quit;
};

/* Copies str into b->data (room was reserved) and returns the copy. */
static const char *batch_strdup(struct batch *b, const char *str)
{
	size_t n;
	char *p;

	if (!str)
		return NULL;
	n = strlen(str) + 1;
	if (b->data_cap - b->data_len < n)
		return NULL; /* cannot happen: a string is never longer than its line */
	p = b->data + b->data_len;
	memcpy(p, str, n);
	b->data_len += n;
	return p;
}

static void parse_batch(struct batch *b, struct json_tokener *tok)
{
	struct json_object *cur = NULL;
	struct report_sample *s;
	size_t i, k;

	for (i = 0; i < b->n; i++) {
		s = &b->s[i];
		b->valid[i] = parse_line(tok, &cur, b->data + b->off[i], b->len[i], s);
		if (!b->valid[i])
			continue;
		s->sni = batch_strdup(b, s->sni);
		s->peer = batch_strdup(b, s->peer);
		s->comm = batch_strdup(b, s->comm);
		s->role = batch_strdup(b, s->role);
		s->result = batch_strdup(b, s->result);
		s->alert = batch_strdup(b, s->alert);
		for (k = 0; k < s->n_phases; k++)
			s->phases[k].name = batch_strdup(b, s->phases[k].name);
	}
	json_object_put(cur);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	struct json_tokener *tok = json_tokener_new();
	struct batch *b;

	if (tok)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		b = &p->slots[p->next_parse % p->n_slots];
		if (p->quit)
			break;
		if (b->state != SLOT_READY) {
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		b->state = SLOT_BUSY;
		p->next_parse++;
		pthread_mutex_unlock(&p->lock);
		if (tok)
			parse_batch(b, tok);
		else
			b->err = -ENOMEM;
		pthread_mutex_lock(&p->lock);
		b->state = SLOT_DONE;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	if (tok)
		json_tokener_free(tok);
	return NULL;
}

/* Fills b with up to BATCH_LINES lines. Returns lines read (0 at the end) or -errno. */
static int fill_batch(struct ndjson_reader *rd, struct batch *b)
{
	const char *line;
	size_t len, need;
	int ret = 0;

	b->n = 0;
	b->data_len = 0;
	b->err = 0;
	while (b->n < BATCH_LINES && (ret = next_line(rd, &line, &len)) > 0) {
		need = b->data_len + len + 1;
		if (need > b->data_cap) {
			size_t cap = need > 2 * b->data_cap ? need : 2 * b->data_cap;
			char *grown = realloc(b->data, cap);

			if (!grown)
				return -ENOMEM;
			b->data = grown;
			b->data_cap = cap;
		}
		memcpy(b->data + b->data_len, line, len);
		b->off[b->n] = b->data_len;
		b->len[b->n] = len;
		b->line_no[b->n] = rd->st.lines;
		b->data_len += len + 1;
		b->data[b->data_len - 1] = '\0';
		b->n++;
	}
	if (ret < 0)
		return ret;
	/* Room for the samples' strings after the lines: each decoded string is no longer than
	 * its JSON text in the line, plus a NUL for each of at most 6 + 32 strings. */
	need = 2 * b->data_len + b->n * 40;
	if (need > b->data_cap) {
		char *grown = realloc(b->data, need);

		if (!grown)
			return -ENOMEM;
		b->data = grown;
		b->data_cap = need;
	}
	return (int)b->n;
}

/* Hands the parsed samples of b to fn, in order; counts the invalid lines. */
static int consume_batch(struct ndjson_reader *rd, struct batch *b, ndjson_sample_fn fn,
			 void *ctx)
{
	size_t i;
	int err;

	if (b->err)
		return b->err;
	for (i = 0; i < b->n; i++) {
		if (!b->valid[i]) {
			rd->st.invalid++;
			if (rd->st.n_first_invalid < NDJSON_FIRST_INVALID)
				rd->st.first_invalid[rd->st.n_first_invalid++] = b->line_no[i];
			continue;
		}
		rd->st.records++;
		err = fn(&b->s[i], ctx);
		if (err)
			return err;
	}
	return 0;
}

static unsigned int default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (unsigned int)n;
}

int ndjson_for_each(struct ndjson_reader *rd, unsigned int threads, ndjson_sample_fn fn,
		    void *ctx)
{
	struct pool p = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	pthread_t tids[MAX_THREADS];
	size_t next_fill = 0, next_consume = 0, i, n_started = 0;
	bool eof = false;
	int ret = 0, n;
	struct report_sample s;

	if (!threads)
		threads = default_threads();
	if (threads > MAX_THREADS)
		threads = MAX_THREADS;
	if (threads == 1) { /* no threads: the plain loop */
		while ((n = ndjson_next(rd, &s)) > 0)
			if ((ret = fn(&s, ctx)))
				return ret;
		return n;
	}
	p.n_slots = 2 * threads + 2;
	p.slots = calloc(p.n_slots, sizeof(*p.slots));
	if (!p.slots)
		return -ENOMEM;
	for (i = 0; i < threads; i++) {
		if (pthread_create(&tids[i], NULL, worker, &p))
			break;
		n_started++;
	}
	if (!n_started) {
		free(p.slots);
		return -EAGAIN;
	}

	pthread_mutex_lock(&p.lock);
	while (!ret && (!eof || next_consume < next_fill)) {
		struct batch *b = &p.slots[next_fill % p.n_slots];
		struct batch *c = &p.slots[next_consume % p.n_slots];

		if (!eof && b->state == SLOT_FREE) {
			pthread_mutex_unlock(&p.lock);
			n = fill_batch(rd, b); /* only this thread touches a FREE slot */
			pthread_mutex_lock(&p.lock);
			if (n < 0) {
				ret = n;
				break;
			}
			if (n == 0) {
				eof = true;
				continue;
			}
			b->state = SLOT_READY;
			next_fill++;
			pthread_cond_broadcast(&p.cond);
			continue;
		}
		if (next_consume < next_fill && c->state == SLOT_DONE) {
			pthread_mutex_unlock(&p.lock);
			ret = consume_batch(rd, c, fn, ctx);
			pthread_mutex_lock(&p.lock);
			c->state = SLOT_FREE;
			next_consume++;
			continue;
		}
		pthread_cond_wait(&p.cond, &p.lock);
	}
	/* on an error, let the workers finish what they hold, then stop them */
	while (ret && next_consume < next_fill) {
		struct batch *c = &p.slots[next_consume % p.n_slots];

		if (c->state == SLOT_DONE || c->state == SLOT_READY) {
			c->state = SLOT_FREE;
			next_consume++;
			continue;
		}
		pthread_cond_wait(&p.cond, &p.lock);
	}
	p.quit = true;
	pthread_cond_broadcast(&p.cond);
	pthread_mutex_unlock(&p.lock);
	for (i = 0; i < n_started; i++)
		pthread_join(tids[i], NULL);
	for (i = 0; i < p.n_slots; i++)
		free(p.slots[i].data);
	free(p.slots);
	return ret;
}
