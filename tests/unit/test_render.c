// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * test_render.c - text and JSON renderers and the connection filter, on synthetic timelines.
 *
 * JSON output is parsed back strictly (json-c, UTF-8 validated) and every field is checked,
 * because docs/json.md promises those names and values to users.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <linux/types.h>

#include "filter.h"
#include "hstrace.h"
#include "render.h"
#include "timeline.h"

#define MONO_BASE_NS 1000000000000ULL
#define WALL_START_NS 1795764905123456789LL /* 2026-11-27T07:35:05.123456789Z */
#define WALL_START "2026-11-27T07:35:05.123456Z"
#define BIG_COOKIE 0xfedcba9876543210ULL   /* above INT64_MAX: must stay an exact integer */

/* ---- synthetic timelines ---- */

static void set_addr(struct timeline *tl, bool local, int family, const char *text)
{
	uint8_t *a = local ? tl->laddr : tl->raddr;

	memset(a, 0, 16);
	assert_int_equal(inet_pton(family, text, a), 1);
}

/* curl on 127.0.0.1:51234 -> 127.0.0.1:443, handshake 61.499 µs, normal close. */
static void client_v4(struct timeline *tl, struct tl_event ev[5])
{
	memset(tl, 0, sizeof(*tl));
	tl->cookie = BIG_COOKIE;
	tl->role = ROLE_CLIENT;
	tl->result = RESULT_OK;
	tl->pid = 4242;
	tl->tid = 4243;
	tl->fd = 5;
	strcpy(tl->comm, "curl");
	tl->ip_version = 4;
	set_addr(tl, true, AF_INET, "127.0.0.1");
	set_addr(tl, false, AF_INET, "127.0.0.1");
	tl->lport = 51234;
	tl->rport = 443;
	tl->start_ns = MONO_BASE_NS;
	tl->start_wall_ns = WALL_START_NS;

	ev[0] = (struct tl_event){ MONO_BASE_NS, HS_EV_SYN_SENT, DIR_OUT, false, 0 };
	ev[1] = (struct tl_event){ MONO_BASE_NS + 61499, HS_EV_ESTABLISHED, DIR_NONE, false, 0 };
	ev[2] = (struct tl_event){ MONO_BASE_NS + 2000999, HS_EV_FIN_OUT, DIR_OUT, false, 0 };
	ev[3] = (struct tl_event){ MONO_BASE_NS + 2100000, HS_EV_FIN_IN, DIR_IN, false, 0 };
	ev[4] = (struct tl_event){ MONO_BASE_NS + 2100500, HS_EV_CLOSED, DIR_NONE, false, 0 };
	tl->events = ev;
	tl->n_events = 5;

	tl->phases[0] = (struct tl_phase){ "tcp_handshake", 61499 };
	tl->n_phases = 1;

	tl->srtt_us = 55;
	tl->bytes_sent = 517;
	tl->bytes_received = 6000000000ULL;
}

/* nginx on [::1]:443 accepting from [::1]:40000; syn_received is derived. */
static void server_v6(struct timeline *tl, struct tl_event ev[4])
{
	memset(tl, 0, sizeof(*tl));
	tl->cookie = 12345;
	tl->role = ROLE_SERVER;
	tl->result = RESULT_OK;
	tl->pid = 777;
	tl->tid = 777;
	tl->fd = 9;
	strcpy(tl->comm, "nginx");
	tl->ip_version = 6;
	set_addr(tl, true, AF_INET6, "::1");
	set_addr(tl, false, AF_INET6, "::1");
	tl->lport = 443;
	tl->rport = 40000;
	tl->start_ns = MONO_BASE_NS;
	tl->start_wall_ns = WALL_START_NS;

	ev[0] = (struct tl_event){ MONO_BASE_NS, HS_EV_SYN_RECV, DIR_IN, true, 0 };
	ev[1] = (struct tl_event){ MONO_BASE_NS + 45000, HS_EV_ESTABLISHED, DIR_NONE, false, 0 };
	ev[2] = (struct tl_event){ MONO_BASE_NS + 1245000, HS_EV_ACCEPTED, DIR_NONE, false, 0 };
	ev[3] = (struct tl_event){ MONO_BASE_NS + 9000000, HS_EV_CLOSED, DIR_NONE, false, 0 };
	tl->events = ev;
	tl->n_events = 4;

	tl->phases[0] = (struct tl_phase){ "tcp_handshake", 45000 };
	tl->phases[1] = (struct tl_phase){ "accept_wait", 1200000 };
	tl->phases[2] = (struct tl_phase){ "tls_handshake", 3456500 }; /* any later phase */
	tl->n_phases = 3;

	tl->srtt_us = 40;
	tl->bytes_sent = 1024;
	tl->bytes_received = 77;
}

/* A client whose SYN was answered by RST (or never answered, with `err` = ETIMEDOUT). */
static void client_failed(struct timeline *tl, struct tl_event ev[5], enum conn_result result,
			  int err)
{
	client_v4(tl, ev);
	tl->result = result;
	tl->sk_err = err;
	tl->n_phases = 0;
	tl->bytes_sent = 0;
	tl->bytes_received = 0;
	tl->srtt_us = 0;
	ev[1] = (struct tl_event){ MONO_BASE_NS + 3000000000ULL, HS_EV_CLOSED, DIR_NONE, false, 0 };
	tl->n_events = 2;
}

/* ---- rendering helpers ---- */

/* Renders tl as JSON; asserts exactly one '\n'-terminated line that is strictly valid JSON
 * (UTF-8 checked) and returns it parsed. */
static struct json_object *json_of(const struct timeline *tl)
{
	struct json_tokener *tok;
	struct json_object *o;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	assert_non_null(f);
	assert_int_equal(render_json_line(f, tl), 0);
	assert_int_equal(fclose(f), 0);

	assert_true(size > 1);
	assert_int_equal(buf[size - 1], '\n');
	assert_null(memchr(buf, '\n', size - 1));
	assert_null(strstr(buf, "\\/")); /* slashes are not escaped: "hstrace/1" */

	tok = json_tokener_new();
	assert_non_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)size - 1);
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	assert_int_equal(json_tokener_get_parse_end(tok), size - 1);
	assert_true(json_object_is_type(o, json_type_object));
	json_tokener_free(tok);
	free(buf);
	return o;
}

/* Renders one text line (or the header when tl is NULL); caller frees. */
static char *text_of(const struct timeline *tl)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	f = open_memstream(&buf, &size);
	assert_non_null(f);
	if (tl)
		render_text_line(f, tl);
	else
		render_text_header(f);
	assert_int_equal(fclose(f), 0);
	assert_non_null(buf);
	return buf;
}

/* Asserts the whitespace-separated columns of a text line. */
static void assert_columns(const char *line, const char *const *want, size_t n)
{
	char *copy = strdup(line), *save = NULL, *tok;
	size_t i = 0;

	assert_non_null(copy);
	assert_int_equal(line[strlen(line) - 1], '\n');
	assert_null(memchr(line, '\n', strlen(line) - 1));
	for (tok = strtok_r(copy, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		assert_true(i < n);
		assert_string_equal(tok, want[i]);
		i++;
	}
	assert_int_equal(i, n);
	free(copy);
}

/* ---- JSON accessors that fail the test on a missing or mistyped field ---- */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("missing field \"%s\"", key);
	return v;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_string));
	return json_object_get_string(v);
}

static int64_t get_int(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_int));
	return json_object_get_int64(v);
}

static void assert_null_field(struct json_object *o, const char *key)
{
	assert_null(get(o, key));
}

static void assert_no_field(struct json_object *o, const char *key)
{
	assert_false(json_object_object_get_ex(o, key, NULL));
}

/* Asserts o has exactly these keys, in this order. */
static void assert_keys(struct json_object *o, const char *const *keys, size_t n)
{
	size_t i = 0;

	assert_true(json_object_is_type(o, json_type_object));
	json_object_object_foreach(o, key, val) {
		(void)val;
		assert_true(i < n);
		assert_string_equal(key, keys[i]);
		i++;
	}
	assert_int_equal(i, n);
}

static void assert_endpoint(struct json_object *o, const char *key, const char *addr, int port)
{
	static const char *const keys[] = { "addr", "port" };
	struct json_object *ep = get(o, key);

	assert_keys(ep, keys, 2);
	assert_string_equal(get_str(ep, "addr"), addr);
	assert_int_equal(get_int(ep, "port"), port);
}

/* One event: t_us and name, plus dir ("" = absent), len (0 = absent), derived. */
static void assert_event(struct json_object *events, size_t i, int64_t t_us, const char *name,
			 const char *dir, int64_t len, bool derived)
{
	struct json_object *ev = json_object_array_get_idx(events, i);

	assert_non_null(ev);
	assert_int_equal(get_int(ev, "t_us"), t_us);
	assert_string_equal(get_str(ev, "event"), name);
	if (dir[0])
		assert_string_equal(get_str(ev, "dir"), dir);
	else
		assert_no_field(ev, "dir");
	if (len)
		assert_int_equal(get_int(ev, "len"), len);
	else
		assert_no_field(ev, "len");
	if (derived) {
		assert_true(json_object_is_type(get(ev, "derived"), json_type_boolean));
		assert_true(json_object_get_boolean(get(ev, "derived")));
	} else {
		assert_no_field(ev, "derived");
	}
	assert_int_equal(json_object_object_length(ev),
			 2 + !!dir[0] + !!len + derived);
}

static const char *const top_keys[] = {
	"schema", "start", "role", "pid", "comm", "local", "peer", "ip_version",
	"result", "events", "phases_us", "tcp", "cookie",
};

#define N_TOP_KEYS (sizeof(top_keys) / sizeof(top_keys[0]))

/* ---- render_addr ---- */

static void test_addr(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	char buf[INET6_ADDRSTRLEN];

	(void)state;
	client_v4(&tl, ev);
	set_addr(&tl, false, AF_INET, "10.1.2.3");
	assert_string_equal(render_addr(&tl, true, buf, sizeof(buf)), "127.0.0.1");
	assert_string_equal(render_addr(&tl, false, buf, sizeof(buf)), "10.1.2.3");

	tl.ip_version = 6;
	set_addr(&tl, true, AF_INET6, "2001:db8:0:0:0:0:0:1");
	set_addr(&tl, false, AF_INET6, "fe80::1:2");
	assert_string_equal(render_addr(&tl, true, buf, sizeof(buf)), "2001:db8::1");
	assert_string_equal(render_addr(&tl, false, buf, sizeof(buf)), "fe80::1:2");

	/* v4-mapped shows as IPv4 even if the collector left ip_version at 6 */
	set_addr(&tl, false, AF_INET6, "::ffff:192.0.2.7");
	assert_string_equal(render_addr(&tl, false, buf, sizeof(buf)), "192.0.2.7");

	tl.ip_version = 0;
	assert_string_equal(render_addr(&tl, false, buf, sizeof(buf)), "?");
}

/* ---- JSON ---- */

static void test_json_client_v4(void **state)
{
	static const char *const tcp_keys[] = {
		"syn_retransmits", "srtt_us", "bytes_sent", "bytes_received",
	};
	struct tl_event ev[5];
	struct timeline tl;
	struct json_object *o, *events, *phases, *tcp;

	(void)state;
	client_v4(&tl, ev);
	o = json_of(&tl);
	assert_keys(o, top_keys, N_TOP_KEYS);

	assert_string_equal(get_str(o, "schema"), "hstrace/1");
	assert_string_equal(get_str(o, "start"), WALL_START);
	assert_string_equal(get_str(o, "role"), "client");
	assert_int_equal(get_int(o, "pid"), 4242);
	assert_string_equal(get_str(o, "comm"), "curl");
	assert_endpoint(o, "local", "127.0.0.1", 51234);
	assert_endpoint(o, "peer", "127.0.0.1", 443);
	assert_int_equal(get_int(o, "ip_version"), 4);
	assert_string_equal(get_str(o, "result"), "ok");

	events = get(o, "events");
	assert_true(json_object_is_type(events, json_type_array));
	assert_int_equal(json_object_array_length(events), 5);
	assert_event(events, 0, 0, "syn_sent", "out", 0, false);
	assert_event(events, 1, 61, "established", "", 0, false);    /* 61.499 µs: down */
	assert_event(events, 2, 2000, "fin_out", "out", 0, false);   /* 2000.999 µs: down */
	assert_event(events, 3, 2100, "fin_in", "in", 0, false);
	assert_event(events, 4, 2100, "closed", "", 0, false);

	phases = get(o, "phases_us");
	assert_int_equal(json_object_object_length(phases), 1);
	assert_int_equal(get_int(phases, "tcp_handshake"), 61); /* 61.499 µs: nearest */

	tcp = get(o, "tcp");
	assert_keys(tcp, tcp_keys, 4);
	assert_int_equal(get_int(tcp, "syn_retransmits"), 0);
	assert_int_equal(get_int(tcp, "srtt_us"), 55);
	assert_int_equal(get_int(tcp, "bytes_sent"), 517);
	assert_int_equal(get_int(tcp, "bytes_received"), 6000000000LL);

	assert_true(json_object_is_type(get(o, "cookie"), json_type_int));
	assert_true(json_object_get_uint64(get(o, "cookie")) == BIG_COOKIE);
	json_object_put(o);
}

static void test_json_server_v6(void **state)
{
	struct tl_event ev[4];
	struct timeline tl;
	struct json_object *o, *events, *phases;

	(void)state;
	server_v6(&tl, ev);
	o = json_of(&tl);
	assert_keys(o, top_keys, N_TOP_KEYS);

	assert_string_equal(get_str(o, "schema"), "hstrace/1");
	assert_string_equal(get_str(o, "start"), WALL_START);
	assert_string_equal(get_str(o, "role"), "server");
	assert_int_equal(get_int(o, "pid"), 777);
	assert_string_equal(get_str(o, "comm"), "nginx");
	assert_endpoint(o, "local", "::1", 443);
	assert_endpoint(o, "peer", "::1", 40000);
	assert_int_equal(get_int(o, "ip_version"), 6);
	assert_string_equal(get_str(o, "result"), "ok");

	events = get(o, "events");
	assert_int_equal(json_object_array_length(events), 4);
	assert_event(events, 0, 0, "syn_received", "in", 0, true);
	assert_event(events, 1, 45, "established", "", 0, false);
	assert_event(events, 2, 1245, "accepted", "", 0, false);
	assert_event(events, 3, 9000, "closed", "", 0, false);

	/* every phase, including ones this file does not know about, in order */
	phases = get(o, "phases_us");
	{
		static const char *const keys[] = { "tcp_handshake", "accept_wait",
						     "tls_handshake" };

		assert_keys(phases, keys, 3);
	}
	assert_int_equal(get_int(phases, "tcp_handshake"), 45);
	assert_int_equal(get_int(phases, "accept_wait"), 1200);
	assert_int_equal(get_int(phases, "tls_handshake"), 3457); /* 3456.5 µs: nearest */

	assert_int_equal(get_int(get(o, "tcp"), "bytes_sent"), 1024);
	assert_int_equal(get_int(get(o, "tcp"), "bytes_received"), 77);
	assert_int_equal(get_int(get(o, "tcp"), "srtt_us"), 40);
	assert_no_field(get(o, "tcp"), "error");
	assert_int_equal(get_int(o, "cookie"), 12345);
	json_object_put(o);
}

/* A server connection never accepted: owner unknown, pid and comm are null. */
static void test_json_unknown_owner(void **state)
{
	struct tl_event ev[4];
	struct timeline tl;
	struct json_object *o;

	(void)state;
	server_v6(&tl, ev);
	tl.pid = 0;
	tl.tid = 0;
	tl.fd = -1;
	strcpy(tl.comm, "stale"); /* ignored without a pid */
	tl.result = RESULT_INCOMPLETE;
	tl.n_events = 2;
	tl.n_phases = 1;
	o = json_of(&tl);
	assert_keys(o, top_keys, N_TOP_KEYS);
	assert_null_field(o, "pid");
	assert_null_field(o, "comm");
	assert_string_equal(get_str(o, "result"), "incomplete");
	assert_int_equal(json_object_array_length(get(o, "events")), 2);
	assert_int_equal(json_object_object_length(get(o, "phases_us")), 1);
	json_object_put(o);

	/* a known pid with an empty comm: pid kept, comm null */
	server_v6(&tl, ev);
	tl.comm[0] = '\0';
	o = json_of(&tl);
	assert_int_equal(get_int(o, "pid"), 777);
	assert_null_field(o, "comm");
	json_object_put(o);
}

static void test_json_errors(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	struct json_object *o, *tcp;

	(void)state;
	client_failed(&tl, ev, RESULT_REFUSED, ECONNREFUSED);
	o = json_of(&tl);
	assert_string_equal(get_str(o, "result"), "refused");
	assert_int_equal(json_object_object_length(get(o, "phases_us")), 0);
	assert_int_equal(json_object_array_length(get(o, "events")), 2);
	assert_event(get(o, "events"), 1, 3000000, "closed", "", 0, false);
	tcp = get(o, "tcp");
	assert_string_equal(get_str(tcp, "error"), "ECONNREFUSED");
	assert_int_equal(json_object_object_length(tcp), 5);
	assert_int_equal(get_int(tcp, "bytes_sent"), 0);
	json_object_put(o);

	client_failed(&tl, ev, RESULT_TIMEOUT, ETIMEDOUT);
	tl.syn_retransmits = 2;
	o = json_of(&tl);
	assert_string_equal(get_str(o, "result"), "timeout");
	assert_string_equal(get_str(get(o, "tcp"), "error"), "ETIMEDOUT");
	assert_int_equal(get_int(get(o, "tcp"), "syn_retransmits"), 2);
	json_object_put(o);

	/* a negative errno is named the same; an unknown value is given as its number */
	client_failed(&tl, ev, RESULT_RESET, -ECONNRESET);
	o = json_of(&tl);
	assert_string_equal(get_str(o, "result"), "reset");
	assert_string_equal(get_str(get(o, "tcp"), "error"), "ECONNRESET");
	json_object_put(o);

	client_failed(&tl, ev, RESULT_CLOSED, 4000);
	o = json_of(&tl);
	assert_string_equal(get_str(o, "result"), "closed");
	assert_string_equal(get_str(get(o, "tcp"), "error"), "4000");
	json_object_put(o);
}

/* dir, len and derived appear only when set. */
static void test_json_event_fields(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	struct json_object *o, *events;

	(void)state;
	client_v4(&tl, ev);
	ev[1].len = 517;
	ev[1].dir = DIR_IN;
	ev[2].derived = true;
	ev[2].dir = DIR_NONE;
	ev[3].event = 200; /* an event this build does not know */
	o = json_of(&tl);
	events = get(o, "events");
	assert_event(events, 0, 0, "syn_sent", "out", 0, false);
	assert_event(events, 1, 61, "established", "in", 517, false);
	assert_event(events, 2, 2000, "fin_out", "", 0, true);
	assert_event(events, 3, 2100, "unknown", "in", 0, false);
	json_object_put(o);

	/* no events at all: an empty array */
	tl.n_events = 0;
	tl.events = NULL;
	o = json_of(&tl);
	assert_int_equal(json_object_array_length(get(o, "events")), 0);
	json_object_put(o);
}

/* start: UTC, microseconds rounded down, also before the epoch. */
static void test_json_start(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	struct json_object *o;

	(void)state;
	client_v4(&tl, ev);
	tl.start_wall_ns = 0;
	o = json_of(&tl);
	assert_string_equal(get_str(o, "start"), "1970-01-01T00:00:00.000000Z");
	json_object_put(o);

	tl.start_wall_ns = 1795764905999999999LL;
	o = json_of(&tl);
	assert_string_equal(get_str(o, "start"), "2026-11-27T07:35:05.999999Z");
	json_object_put(o);

	tl.start_wall_ns = -1;
	o = json_of(&tl);
	assert_string_equal(get_str(o, "start"), "1969-12-31T23:59:59.999999Z");
	json_object_put(o);
}

/* comm is raw bytes: quotes, control characters and cut UTF-8 still give valid JSON. */
static void test_json_comm_bytes(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	struct json_object *o;

	(void)state;
	client_v4(&tl, ev);
	strcpy(tl.comm, "a\"b\\c\td");
	o = json_of(&tl);
	assert_string_equal(get_str(o, "comm"), "a\"b\\c\td");
	json_object_put(o);

	/* valid UTF-8, a stray 0xff, then cut inside a sequence; no NUL in all 16 bytes */
	memcpy(tl.comm, "gr\xc3\xb6\xc3\x9f" "e-\xce\xa9" "abc\xff" "x\xc3", 16);
	o = json_of(&tl);
	assert_string_equal(get_str(o, "comm"),
			    "gr\xc3\xb6\xc3\x9f" "e-\xce\xa9" "abc\xef\xbf\xbd" "x\xef\xbf\xbd");
	json_object_put(o);
}

static void test_json_write_error(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	FILE *f;

	(void)state;
	client_v4(&tl, ev);
	f = fopen("/dev/full", "w");
	if (!f)
		skip();
	setvbuf(f, NULL, _IONBF, 0);
	assert_int_equal(render_json_line(f, &tl), -EIO);
	fclose(f);
}

/* ---- text ---- */

static void test_text_header(void **state)
{
	static const char *const want[] = {
		"TIME", "PID", "COMM", "ROLE", "LADDR:LPORT", "RADDR:RPORT",
		"TCP(ms)", "ACCEPT(ms)", "RETX", "RESULT",
	};
	char *s;

	(void)state;
	s = text_of(NULL);
	assert_columns(s, want, 10);
	assert_string_equal(s, "TIME     PID     COMM             ROLE   LADDR:LPORT           "
			       "RADDR:RPORT             TCP(ms) ACCEPT(ms) RETX RESULT\n");
	free(s);
}

static void test_text_client_v4(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	char *s;

	(void)state;
	client_v4(&tl, ev);
	s = text_of(&tl);
	/* columns line up with the header for IPv4 */
	assert_string_equal(s, "07:35:05 4242    curl             client 127.0.0.1:51234       "
			       "127.0.0.1:443             0.061          -    0 ok\n");
	free(s);

	client_failed(&tl, ev, RESULT_TIMEOUT, ETIMEDOUT);
	tl.syn_retransmits = 6;
	s = text_of(&tl);
	{
		static const char *const want[] = {
			"07:35:05", "4242", "curl", "client", "127.0.0.1:51234",
			"127.0.0.1:443", "-", "-", "6", "timeout",
		};

		assert_columns(s, want, 10);
	}
	free(s);
}

static void test_text_server_v6(void **state)
{
	static const char *const want[] = {
		"07:35:05", "777", "nginx", "server", "[::1]:443", "[::1]:40000",
		"0.045", "1.200", "0", "ok",
	};
	struct tl_event ev[4];
	struct timeline tl;
	char *s;

	(void)state;
	server_v6(&tl, ev);
	s = text_of(&tl);
	assert_columns(s, want, 10);
	free(s);
}

static void test_text_unknown_owner(void **state)
{
	static const char *const want[] = {
		"07:35:05", "-", "?", "server", "[2001:db8::1]:443", "[2001:db8::2]:40000",
		"0.045", "-", "0", "incomplete",
	};
	struct tl_event ev[4];
	struct timeline tl;
	char *s;

	(void)state;
	server_v6(&tl, ev);
	tl.pid = 0;
	tl.result = RESULT_INCOMPLETE;
	tl.n_phases = 1;
	set_addr(&tl, true, AF_INET6, "2001:db8::1");
	set_addr(&tl, false, AF_INET6, "2001:db8::2");
	s = text_of(&tl);
	assert_columns(s, want, 10);
	free(s);

	/* control characters in a comm cannot break the line */
	server_v6(&tl, ev);
	strcpy(tl.comm, "a\nb c");
	s = text_of(&tl);
	assert_non_null(strstr(s, " a?b c "));
	assert_null(memchr(s, '\n', strlen(s) - 1));
	free(s);
}

/* ---- filter ---- */

static void test_filter_any(void **state)
{
	struct conn_filter f = { 0 };
	struct tl_event ev[5];
	struct timeline tl;

	(void)state;
	client_v4(&tl, ev);
	assert_true(conn_filter_match(&f, &tl));
	assert_true(conn_filter_match(NULL, &tl));
	tl.pid = 0;
	assert_true(conn_filter_match(&f, &tl));
}

static void test_filter_pid_comm(void **state)
{
	struct conn_filter f = { 0 };
	struct tl_event ev[5];
	struct timeline tl;

	(void)state;
	client_v4(&tl, ev);
	f.pid = 4242;
	assert_true(conn_filter_match(&f, &tl));
	f.pid = 4243; /* the tid is not the pid */
	assert_false(conn_filter_match(&f, &tl));

	f.pid = 0;
	strcpy(f.comm, "curl");
	assert_true(conn_filter_match(&f, &tl));
	strcpy(f.comm, "cur"); /* exact match, not a prefix */
	assert_false(conn_filter_match(&f, &tl));
	strcpy(f.comm, "curl2");
	assert_false(conn_filter_match(&f, &tl));
	strcpy(f.comm, "CURL");
	assert_false(conn_filter_match(&f, &tl));

	/* pid and comm together must both match */
	strcpy(f.comm, "curl");
	f.pid = 4242;
	assert_true(conn_filter_match(&f, &tl));
	f.pid = 1;
	assert_false(conn_filter_match(&f, &tl));

	/* a full 15-character comm */
	memset(&f, 0, sizeof(f));
	strcpy(tl.comm, "abcdefghijklmno");
	strcpy(f.comm, "abcdefghijklmno");
	assert_true(conn_filter_match(&f, &tl));
}

static void test_filter_unknown_owner(void **state)
{
	struct conn_filter f = { 0 };
	struct tl_event ev[4];
	struct timeline tl;

	(void)state;
	server_v6(&tl, ev);
	tl.pid = 0; /* never accepted: comm left over must not count */
	f.pid = 777;
	assert_false(conn_filter_match(&f, &tl));
	f.pid = 0;
	strcpy(f.comm, "nginx");
	assert_false(conn_filter_match(&f, &tl));
	f.comm[0] = '\0';
	f.port = 443;
	assert_true(conn_filter_match(&f, &tl));
}

static void test_filter_port(void **state)
{
	struct conn_filter f = { 0 };
	struct tl_event ev[5];
	struct timeline tl;

	(void)state;
	client_v4(&tl, ev);
	f.port = 443; /* remote end */
	assert_true(conn_filter_match(&f, &tl));
	f.port = 51234; /* local end */
	assert_true(conn_filter_match(&f, &tl));
	f.port = 80;
	assert_false(conn_filter_match(&f, &tl));
	f.port = 65535;
	tl.rport = 65535;
	assert_true(conn_filter_match(&f, &tl));
	f.pid = 1; /* every filter must pass */
	assert_false(conn_filter_match(&f, &tl));
}

static void test_filter_ip_version(void **state)
{
	struct conn_filter f = { 0 };
	struct tl_event ev4[5], ev6[4];
	struct timeline tl4, tl6;

	(void)state;
	client_v4(&tl4, ev4);
	server_v6(&tl6, ev6);
	f.ip_version = 4;
	assert_true(conn_filter_match(&f, &tl4));
	assert_false(conn_filter_match(&f, &tl6));
	f.ip_version = 6;
	assert_false(conn_filter_match(&f, &tl4));
	assert_true(conn_filter_match(&f, &tl6));
	f.port = 40000;
	assert_true(conn_filter_match(&f, &tl6));
	f.port = 40001;
	assert_false(conn_filter_match(&f, &tl6));
}

/* Text times are local: pin the zone so the expected strings hold everywhere. */
static int setup_tz(void **state)
{
	(void)state;
	if (setenv("TZ", "UTC", 1))
		return -1;
	tzset();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_json_client_v4),
		cmocka_unit_test(test_json_server_v6),
		cmocka_unit_test(test_json_unknown_owner),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_json_event_fields),
		cmocka_unit_test(test_json_start),
		cmocka_unit_test(test_json_comm_bytes),
		cmocka_unit_test(test_json_write_error),
		cmocka_unit_test(test_text_header),
		cmocka_unit_test(test_text_client_v4),
		cmocka_unit_test(test_text_server_v6),
		cmocka_unit_test(test_text_unknown_owner),
		cmocka_unit_test(test_filter_any),
		cmocka_unit_test(test_filter_pid_comm),
		cmocka_unit_test(test_filter_unknown_owner),
		cmocka_unit_test(test_filter_port),
		cmocka_unit_test(test_filter_ip_version),
	};

	return cmocka_run_group_tests_name("render", tests, setup_tz, NULL);
}
