// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * report_join.c - joining the two ends of connections by conn_id (see report_join.h).
 *
 * Each record with a conn_id becomes a struct end (what the join needs: times of its events
 * on its host's wall clock, its phases, names); ends meet in a hash by conn_id. A pair becomes
 * one report sample whose phases say where the time went (docs/report.md, Joining both ends):
 * the network's share of the hello round trip and of the first request, each side's own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <linux/types.h>
#include <uthash.h>

#include "conn_id.h"
#include "hstrace.h"
#include "ndjson_read.h"
#include "present.h"
#include "report_join.h"

#define JOIN_MAX_PHASES 24
#define JOIN_NAME_LEN 64
/* An event's t_us or app_us beyond 100 years after its record's start is not a time: the
 * event is skipped (app_us: unknown), which keeps every sum and difference of times below in
 * int64_t range (start years are 4 digits: |start_us| < 2.6e17). */
#define JOIN_MAX_T_US (100LL * 366 * 24 * 3600 * 1000000)

struct end_ev {
	int64_t t_us;	/* since the record's first event */
	int64_t app_us; /* -1: unknown */
	uint16_t event; /* tl event number, 0 unknown */
	uint8_t dir;	/* enum tl_dir */
	bool derived;
};

struct end {
	int64_t start_us; /* wall clock of its first event, µs since the epoch (its host's) */
	struct end_ev *ev;
	size_t n_ev;
	struct {
		char name[REPORT_NAME_LEN];
		uint64_t us;
	} ph[JOIN_MAX_PHASES];
	size_t n_ph;
	char result[REPORT_NAME_LEN];
	char alert[REPORT_NAME_LEN]; /* "" none */
	char sni[JOIN_NAME_LEN];
	char comm[JOIN_NAME_LEN];
	char local[PRESENT_ENDPOINT_LEN];
	char peer[PRESENT_ENDPOINT_LEN];
	unsigned int peer_port;
	uint32_t pid;
	bool close_lost, desync; /* its record's marks of lost events */
	size_t file; /* index of the FILE it came from: one file, one hstrace, one clock */
};

struct pair {
	uint64_t conn_id;
	struct end *client, *server;
	UT_hash_handle hh;
};

struct join {
	struct pair *pairs; /* by conn_id */
	size_t file;	    /* index of the file being read */
	uint64_t records, no_id, duplicates, lines, skipped, unknown_role;
};

bool join_align(int64_t c_send, int64_t s_recv, int64_t s_send, int64_t c_recv,
		int64_t *offset_us, int64_t *network_us)
{
	int64_t rtt = c_recv - c_send, held = s_send - s_recv;

	if (rtt < 0 || held < 0 || held > rtt)
		return false;
	*network_us = rtt - held;
	*offset_us = ((s_recv - c_send) + (s_send - c_recv)) / 2;
	return true;
}

/* "2026-11-27T07:35:05.123456Z" -> µs since the epoch. Returns false when it is not that. */
static bool parse_start(const char *s, int64_t *us)
{
	struct tm tm = {};
	unsigned int frac = 0;
	int n = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6uZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac, &n) != 7 || s[n])
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*us = (int64_t)timegm(&tm) * 1000000 + frac;
	return true;
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t int_of(struct json_object *o, const char *key, int64_t dflt)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return dflt;
	return json_object_get_int64(v);
}

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* Fills e from a record (s: its sample, obj: its JSON). Returns 0, -EINVAL (no usable
 * events or start), -ENOMEM. */
static int end_fill(struct end *e, const struct report_sample *s, struct json_object *obj)
{
	struct json_object *evs, *ep, *x;
	size_t i, n;

	if (!parse_start(str_of(obj, "start"), &e->start_us) ||
	    !json_object_object_get_ex(obj, "events", &evs) ||
	    !json_object_is_type(evs, json_type_array))
		return -EINVAL;
	n = json_object_array_length(evs);
	e->ev = calloc(n ? n : 1, sizeof(*e->ev));
	if (!e->ev)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct json_object *ev = json_object_array_get_idx(evs, i);
		const char *name = str_of(ev, "event"), *dir = str_of(ev, "dir");
		struct end_ev *d = &e->ev[e->n_ev];

		if (!name || (d->t_us = int_of(ev, "t_us", -1)) < 0 || d->t_us > JOIN_MAX_T_US)
			continue;
		d->event = (uint16_t)tl_event_from_name(name);
		d->app_us = int_of(ev, "app_us", -1);
		if (d->app_us > JOIN_MAX_T_US)
			d->app_us = -1;
		d->dir = !dir ? DIR_NONE : !strcmp(dir, "out") ? DIR_OUT : DIR_IN;
		d->derived = json_object_object_get_ex(ev, "derived", &x) &&
			     json_object_get_boolean(x);
		e->n_ev++;
	}
	for (i = 0; i < s->n_phases && e->n_ph < JOIN_MAX_PHASES; i++, e->n_ph++) {
		copy_str(e->ph[e->n_ph].name, REPORT_NAME_LEN, s->phases[i].name);
		e->ph[e->n_ph].us = s->phases[i].us;
	}
	/* result, local and peer are drawn by --timeline: printable, like sni and comm */
	present_printable(s->result, REPORT_NAME_LEN, true, e->result, sizeof(e->result));
	copy_str(e->alert, sizeof(e->alert), s->alert);
	present_printable(s->sni ? s->sni : "", JOIN_NAME_LEN, true, e->sni, sizeof(e->sni));
	present_printable(s->comm ? s->comm : "?", JOIN_NAME_LEN, false, e->comm,
			  sizeof(e->comm));
	e->pid = (uint32_t)int_of(obj, "pid", 0);
	e->close_lost = s->close_lost;
	e->desync = s->desync;
	if (json_object_object_get_ex(obj, "local", &ep))
		snprintf(e->local, sizeof(e->local), strchr(str_of(ep, "addr") ?: "", ':') ?
			 "[%s]:%" PRId64 : "%s:%" PRId64, str_of(ep, "addr") ?: "?",
			 int_of(ep, "port", 0));
	if (json_object_object_get_ex(obj, "peer", &ep)) {
		snprintf(e->peer, sizeof(e->peer), strchr(str_of(ep, "addr") ?: "", ':') ?
			 "[%s]:%" PRId64 : "%s:%" PRId64, str_of(ep, "addr") ?: "?",
			 int_of(ep, "port", 0));
		e->peer_port = (unsigned int)int_of(ep, "port", 0);
	}
	present_printable(e->local, sizeof(e->local), true, e->local, sizeof(e->local));
	present_printable(e->peer, sizeof(e->peer), true, e->peer, sizeof(e->peer));
	return 0;
}

static void end_free(struct end *e)
{
	if (e)
		free(e->ev);
	free(e);
}

/* Adds one record. Returns 0 or -ENOMEM. */
static int join_add(struct join *j, const struct report_sample *s, struct json_object *obj)
{
	const char *id_text = str_of(obj, "conn_id");
	struct end *e, **slot;
	struct pair *p;
	uint64_t id;
	int err;

	j->records++;
	if (!id_text || conn_id_parse(id_text, &id) || !id) {
		j->no_id++;
		return 0;
	}
	if (strcmp(s->role, "client") && strcmp(s->role, "server")) {
		j->unknown_role++;
		return 0;
	}
	HASH_FIND(hh, j->pairs, &id, sizeof(id), p);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->conn_id = id;
		HASH_ADD(hh, j->pairs, conn_id, sizeof(p->conn_id), p);
	}
	slot = !strcmp(s->role, "client") ? &p->client : &p->server;
	if (*slot) { /* the same end twice: a file given twice, or both ends of loopback */
		j->duplicates++;
		return 0;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->file = j->file;
	err = end_fill(e, s, obj);
	if (err) {
		end_free(e);
		if (err == -EINVAL) {
			j->no_id++;
			return 0;
		}
		return err;
	}
	*slot = e;
	return 0;
}

/* Index of the first event `event` (in direction dir, DIR_NONE: any) of e, or -1. */
static long end_find(const struct end *e, unsigned int event, uint8_t dir)
{
	size_t i;

	for (i = 0; i < e->n_ev; i++)
		if (e->ev[i].event == event && (dir == DIR_NONE || e->ev[i].dir == dir))
			return (long)i;
	return -1;
}

/* The wall time (its host's clock, µs) of e's first `event` in dir, or INT64_MIN. */
static int64_t end_time(const struct end *e, unsigned int event, uint8_t dir)
{
	long i = end_find(e, event, dir);

	if (i < 0 && event == TL_EV_SERVER_HELLO)
		i = end_find(e, TL_EV_HELLO_RETRY_REQUEST, dir);
	return i < 0 ? INT64_MIN : e->start_us + e->ev[i].t_us;
}

static bool end_phase(const struct end *e, const char *name, uint64_t *us)
{
	size_t i;

	for (i = 0; i < e->n_ph; i++)
		if (!strcmp(e->ph[i].name, name)) {
			*us = e->ph[i].us;
			return true;
		}
	return false;
}

/* How the server's clock was aligned to the client's (struct pair_view.how). */
enum align_how {
	ALIGN_NONE = 0,
	ALIGN_HELLO, /* ClientHello out/in, ServerHello out/in */
	ALIGN_SYN,   /* SYN out, SYN received (derived), SYN-ACK answered at once, established */
};

struct pair_view {
	enum align_how how;
	bool same_clock;    /* both ends from one file: one hstrace, one clock, offset 0 */
	int64_t offset_us;  /* server clock - client clock */
	int64_t network_us; /* the aligning exchange's round trip less the server's time */
};

static struct pair_view pair_align(const struct pair *p)
{
	const struct end *c = p->client, *s = p->server;
	struct pair_view v = {};
	int64_t t[4];

	t[0] = end_time(c, TL_EV_CLIENT_HELLO, DIR_OUT);
	t[1] = end_time(s, TL_EV_CLIENT_HELLO, DIR_IN);
	t[2] = end_time(s, TL_EV_SERVER_HELLO, DIR_OUT);
	t[3] = end_time(c, TL_EV_SERVER_HELLO, DIR_IN);
	v.same_clock = c->file == s->file;
	if (t[0] != INT64_MIN && t[1] != INT64_MIN && t[2] != INT64_MIN && t[3] != INT64_MIN &&
	    join_align(t[0], t[1], t[2], t[3], &v.offset_us, &v.network_us)) {
		v.how = ALIGN_HELLO;
	} else {
		t[0] = end_time(c, HS_EV_SYN_SENT, DIR_NONE);
		t[1] = end_time(s, HS_EV_SYN_RECV, DIR_NONE);
		t[3] = end_time(c, HS_EV_ESTABLISHED, DIR_NONE);
		if (t[0] != INT64_MIN && t[1] != INT64_MIN && t[3] != INT64_MIN &&
		    join_align(t[0], t[1], t[1], t[3], &v.offset_us, &v.network_us))
			v.how = ALIGN_SYN;
	}
	if (v.same_clock)
		v.offset_us = 0;
	return v;
}

/* Copies phase `from` of e into the sample as `to`. */
static void take(struct report_sample *s, const struct end *e, const char *from, const char *to)
{
	uint64_t us;

	if (s->n_phases < REPORT_MAX_SAMPLE_PHASES && end_phase(e, from, &us)) {
		s->phases[s->n_phases].name = to;
		s->phases[s->n_phases].us = us;
		s->n_phases++;
	}
}

static void put(struct report_sample *s, const char *name, uint64_t us)
{
	if (s->n_phases < REPORT_MAX_SAMPLE_PHASES) {
		s->phases[s->n_phases].name = name;
		s->phases[s->n_phases].us = us;
		s->n_phases++;
	}
}

/* The report sample of a pair: where its set-up time went (docs/report.md). */
static void pair_sample(const struct pair *p, struct report_sample *s)
{
	const struct end *c = p->client, *sv = p->server;
	struct pair_view v = pair_align(p);
	uint64_t ttfb, resp;

	memset(s, 0, sizeof(*s));
	s->role = "pair";
	s->sni = c->sni[0] ? c->sni : NULL;
	s->comm = c->comm;
	s->peer = c->peer;
	s->port = c->peer_port;
	s->result = strcmp(c->result, "ok") ? c->result : sv->result;
	s->alert = c->alert[0] ? c->alert : sv->alert[0] ? sv->alert : NULL;
	s->close_lost = c->close_lost || sv->close_lost; /* a pair is marked when an end is */
	s->desync = c->desync || sv->desync;
	if (v.how == ALIGN_HELLO)
		put(s, "network_hello_rtt", (uint64_t)v.network_us);
	else if (v.how == ALIGN_SYN)
		put(s, "network_syn_rtt", (uint64_t)v.network_us);
	take(s, c, "tcp_handshake", "client_tcp_handshake");
	take(s, sv, "accept_wait", "server_accept_wait");
	take(s, c, "server_hello_rtt", "client_server_hello_rtt");
	take(s, sv, "server_think", "server_think");
	take(s, sv, "hello_read_wait", "server_hello_read_wait");
	take(s, sv, "app_think", "server_app_think");
	take(s, c, "app_think", "client_app_think");
	take(s, c, "tls_handshake", "client_tls_handshake");
	take(s, sv, "tls_handshake", "server_tls_handshake");
	take(s, c, "ttfb", "client_ttfb");
	take(s, sv, "response_time", "server_response_time");
	if (end_phase(c, "ttfb", &ttfb) && end_phase(sv, "response_time", &resp) && ttfb >= resp)
		put(s, "network_ttfb", ttfb - resp);
	take(s, c, "total", "client_total");
}

/* ---- --timeline: pairs on one time axis ---- */

struct drawn {
	int64_t t_us; /* on the client's axis, since its first event */
	const struct end_ev *ev;
	char side;    /* 'C' or 'S' */
};

static int drawn_cmp(const void *a, const void *b)
{
	const struct drawn *x = a, *y = b;

	if (x->t_us != y->t_us)
		return x->t_us < y->t_us ? -1 : 1;
	return (x->side > y->side) - (x->side < y->side);
}

static void draw_pair(FILE *out, const struct pair *p)
{
	const struct end *c = p->client, *s = p->server;
	struct pair_view v = pair_align(p);
	struct drawn *d = calloc(c->n_ev + s->n_ev + 1, sizeof(*d));
	char id[CONN_ID_HEX_LEN], a[32], b[32];
	size_t i, n = 0;

	if (!d)
		return;
	fprintf(out, "conn_id %s: %s[%u] %s \u2192 %s[%u] %s", conn_id_format(p->conn_id, id),
		c->comm, c->pid, c->local, s->comm, s->pid, s->local);
	if (c->sni[0])
		fprintf(out, " sni %s", c->sni);
	fprintf(out, " %s\n", strcmp(c->result, "ok") ? c->result : s->result);
	if (v.same_clock) {
		fputs("  both ends from one file: one clock, no alignment needed\n", out);
	} else if (v.how == ALIGN_NONE) {
		fputs("  server clock: not aligned (no hello or SYN exchange seen on both ends); "
		      "server times shown from its own first event\n", out);
	} else {
		present_us_ms((uint64_t)llabs(v.offset_us), a, sizeof(a));
		present_us_ms((uint64_t)v.network_us / 2, b, sizeof(b));
		fprintf(out, "  server clock aligned by the %s exchange: offset %s%s ms, "
			"\u00b1 %s ms\n", v.how == ALIGN_HELLO ? "ClientHello/ServerHello" : "SYN",
			v.offset_us < 0 ? "-" : "+", a, b);
	}
	for (i = 0; i < c->n_ev; i++)
		d[n++] = (struct drawn){ c->ev[i].t_us, &c->ev[i], 'C' };
	for (i = 0; i < s->n_ev; i++) {
		int64_t t = s->start_us + s->ev[i].t_us - v.offset_us - c->start_us;

		d[n++] = (struct drawn){ v.how == ALIGN_NONE && !v.same_clock ? s->ev[i].t_us : t,
					 &s->ev[i], 'S' };
	}
	qsort(d, n, sizeof(*d), drawn_cmp);
	fprintf(out, "  %10s %4s %-3s %s\n", "T(ms)", "SIDE", "DIR", "EVENT");
	for (i = 0; i < n; i++) {
		const struct end_ev *e = d[i].ev;
		const char *arrow = e->dir == DIR_OUT ? "\u2192" : e->dir == DIR_IN ? "\u2190" : " ";

		if (d[i].t_us < 0)
			snprintf(a, sizeof(a), "-%s",
				 present_us_ms((uint64_t)-d[i].t_us, b, sizeof(b)));
		else
			present_us_ms((uint64_t)d[i].t_us, a, sizeof(a));
		fprintf(out, "  %10s %4c  %s  %s%s\n", a, d[i].side, arrow,
			tl_event_name(e->event), e->derived ? " (derived)" : "");
	}
	fputc('\n', out);
	free(d);
}

/* The key pairs are ranked by for --timeline: the client's total, else its TLS or TCP
 * handshake. */
static uint64_t pair_rank(const struct pair *p)
{
	uint64_t us;

	if (end_phase(p->client, "total", &us) || end_phase(p->client, "tls_handshake", &us) ||
	    end_phase(p->client, "tcp_handshake", &us))
		return us;
	return 0;
}

static int rank_cmp(const void *a, const void *b)
{
	uint64_t x = pair_rank(*(struct pair *const *)a), y = pair_rank(*(struct pair *const *)b);

	return (x < y) - (x > y);
}

/* ---- the command ---- */

static int read_file(struct join *j, const char *path, FILE *err)
{
	struct ndjson_reader *rd = ndjson_open(path);
	const char *name = !strcmp(path, "-") ? "standard input" : path;
	struct report_sample s;
	struct ndjson_stats st;
	int n;

	if (!rd) {
		fprintf(err, "hstrace: cannot open %s: %s\n", name, strerror(errno));
		return 1;
	}
	while ((n = ndjson_next(rd, &s)) > 0) {
		n = join_add(j, &s, ndjson_current(rd));
		if (n)
			break;
	}
	ndjson_get_stats(rd, &st);
	ndjson_close(rd);
	j->lines += st.lines;
	j->skipped += st.invalid;
	if (n == -ENOMEM) {
		fprintf(err, "hstrace: out of memory\n");
		return 1;
	}
	if (n < 0) {
		fprintf(err, "hstrace: reading %s failed after line %llu\n", name,
			(unsigned long long)st.lines);
		return 1;
	}
	if (!st.records && st.invalid) {
		fprintf(err, "hstrace: %s: no hstrace record in %llu line%s: not `hstrace --json` "
			"output (docs/json.md)\n", name, (unsigned long long)st.lines,
			st.lines == 1 ? "" : "s");
		return 1;
	}
	return 0;
}

static void join_free(struct join *j)
{
	struct pair *p, *tmp;

	HASH_ITER(hh, j->pairs, p, tmp) {
		HASH_DEL(j->pairs, p);
		end_free(p->client);
		end_free(p->server);
		free(p);
	}
}

static struct json_object *join_object(const struct join *j, uint64_t pairs, uint64_t clients,
				       uint64_t servers)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_object_object_add(o, "records", json_object_new_uint64(j->records)) ||
	    json_object_object_add(o, "pairs", json_object_new_uint64(pairs)) ||
	    json_object_object_add(o, "unpaired_clients", json_object_new_uint64(clients)) ||
	    json_object_object_add(o, "unpaired_servers", json_object_new_uint64(servers)) ||
	    json_object_object_add(o, "without_conn_id", json_object_new_uint64(j->no_id)) ||
	    json_object_object_add(o, "duplicates", json_object_new_uint64(j->duplicates)) ||
	    json_object_object_add(o, "skipped_lines", json_object_new_uint64(j->skipped))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int report_join_run(const struct report_join_opts *o, FILE *out, FILE *err)
{
	struct report_view view = { .top = o->top, .histograms = true };
	uint64_t pairs = 0, clients = 0, servers = 0;
	struct pair *p, *tmp, **ranked = NULL;
	struct report_sample s;
	struct join j = {};
	struct report *r;
	int ret = 1;
	size_t i;

	r = report_new(o->by);
	if (!r) {
		fprintf(err, "hstrace: out of memory\n");
		return 1;
	}
	for (i = 0; i < o->n_paths; i++) {
		j.file = i;
		if (read_file(&j, o->paths[i], err))
			goto out;
	}
	HASH_ITER(hh, j.pairs, p, tmp) {
		if (!p->client || !p->server) {
			clients += !!p->client;
			servers += !!p->server;
			continue;
		}
		pairs++;
		pair_sample(p, &s);
		if (report_add(r, &s)) {
			fprintf(err, "hstrace: out of memory\n");
			goto out;
		}
	}
	if (o->timeline) {
		size_t n = 0;

		ranked = calloc(pairs ? pairs : 1, sizeof(*ranked));
		if (!ranked) {
			fprintf(err, "hstrace: out of memory\n");
			goto out;
		}
		HASH_ITER(hh, j.pairs, p, tmp)
			if (p->client && p->server)
				ranked[n++] = p;
		qsort(ranked, n, sizeof(*ranked), rank_cmp);
		fprintf(out, "Joined: %llu pairs; the %zu slowest by the client's total:\n\n",
			(unsigned long long)pairs, n < o->top ? n : o->top);
		for (i = 0; i < n && i < o->top; i++)
			draw_pair(out, ranked[i]);
	} else if (o->json) {
		struct json_object *obj = report_json_object(r, &view);
		struct json_object *jo = obj ? join_object(&j, pairs, clients, servers) : NULL;

		if (!jo || json_object_object_add(obj, "join", jo)) {
			json_object_put(jo);
			json_object_put(obj);
			fprintf(err, "hstrace: out of memory\n");
			goto out;
		}
		i = report_json_write_line(out, obj);
		json_object_put(obj);
		if (i)
			goto write_failed;
	} else {
		fprintf(out, "Joined: %zu file%s, %llu records: %llu pairs; unpaired: %llu client "
			"and %llu server ends; %llu without conn_id, %llu duplicate ends, %llu "
			"lines skipped\n", o->n_paths, o->n_paths == 1 ? "" : "s",
			(unsigned long long)j.records, (unsigned long long)pairs,
			(unsigned long long)clients, (unsigned long long)servers,
			(unsigned long long)j.no_id, (unsigned long long)j.duplicates,
			(unsigned long long)j.skipped);
		if (report_text_write(out, r, &view))
			goto write_failed;
	}
	if (fflush(out))
		goto write_failed;
	ret = 0;
	goto out;
write_failed:
	fprintf(err, "hstrace: writing the report failed\n");
out:
	free(ranked);
	join_free(&j);
	report_free(r);
	return ret;
}
