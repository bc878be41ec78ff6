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
#include "present.h"
#include "render.h"
#include "timeline.h"

#define MONO_BASE_NS 1000000000000ULL
#define WALL_START_NS 1795764905123456789LL /* 2026-11-27T07:35:05.123456789Z */
#define WALL_START "2026-11-27T07:35:05.123456Z"
#define BIG_COOKIE 0xfedcba9876543210ULL   /* above INT64_MAX: must stay an exact integer */

/* ---- synthetic timelines ---- */

/* An event at ts of this kind and direction; len, records and the flags are 0. */
#define EV(ts, kind, d) ((struct tl_event){ .ts_ns = (ts), .event = (kind), .dir = (d) })

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
	strcpy(tl->comm, "curl");
	tl->ip_version = 4;
	set_addr(tl, true, AF_INET, "127.0.0.1");
	set_addr(tl, false, AF_INET, "127.0.0.1");
	tl->lport = 51234;
	tl->rport = 443;
	tl->start_ns = MONO_BASE_NS;
	tl->start_wall_ns = WALL_START_NS;

	ev[0] = EV(MONO_BASE_NS, HS_EV_SYN_SENT, DIR_OUT);
	ev[1] = EV(MONO_BASE_NS + 61499, HS_EV_ESTABLISHED, DIR_NONE);
	ev[2] = EV(MONO_BASE_NS + 2000999, HS_EV_FIN_OUT, DIR_OUT);
	ev[3] = EV(MONO_BASE_NS + 2100000, HS_EV_FIN_IN, DIR_IN);
	ev[4] = EV(MONO_BASE_NS + 2100500, HS_EV_CLOSED, DIR_NONE);
	tl->events = ev;
	tl->n_events = 5;

	tl_phase_add(tl, "tcp_handshake", 0, TL_AT_WIRE, 1, TL_AT_WIRE);
	tl_phase_add_estimate(tl, "guess", MONO_BASE_NS + 1500, MONO_BASE_NS + 2500);

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
	strcpy(tl->comm, "nginx");
	tl->ip_version = 6;
	set_addr(tl, true, AF_INET6, "::1");
	set_addr(tl, false, AF_INET6, "::1");
	tl->lport = 443;
	tl->rport = 40000;
	tl->start_ns = MONO_BASE_NS;
	tl->start_wall_ns = WALL_START_NS;

	ev[0] = EV(MONO_BASE_NS, HS_EV_SYN_RECV, DIR_IN);
	ev[0].derived = true;
	ev[1] = EV(MONO_BASE_NS + 45000, HS_EV_ESTABLISHED, DIR_NONE);
	ev[2] = EV(MONO_BASE_NS + 1245000, HS_EV_ACCEPTED, DIR_NONE);
	ev[3] = EV(MONO_BASE_NS + 9000000, HS_EV_CLOSED, DIR_NONE);
	tl->events = ev;
	tl->n_events = 4;

	tl->phases[0] = (struct tl_phase){ .name = "tcp_handshake", .dur_ns = 45000 };
	tl->phases[1] = (struct tl_phase){ .name = "accept_wait", .dur_ns = 1200000 };
	tl->phases[2] = (struct tl_phase){ .name = "tls_handshake", .dur_ns = 3456500 }; /* any later phase */
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
	ev[1] = EV(MONO_BASE_NS + 3000000000ULL, HS_EV_CLOSED, DIR_NONE);
	tl->n_events = 2;
}

#define TLS12_EVENTS 17

/* curl, TLS 1.2 to example.com: full handshake, ECDHE-RSA with a 3-certificate chain. */
static void client_tls12(struct timeline *tl, struct tl_event ev[TLS12_EVENTS])
{
	struct tl_tls *t = &tl->tls;
	const uint64_t b = MONO_BASE_NS;

	client_v4(tl, ev);
	ev[0] = EV(b, HS_EV_SYN_SENT, DIR_OUT);
	ev[1] = EV(b + 61499, HS_EV_ESTABLISHED, DIR_NONE);
	ev[2] = EV(b + 100000, TL_EV_CLIENT_HELLO, DIR_OUT);
	ev[2].len = 508;
	ev[3] = EV(b + 350000, TL_EV_SERVER_HELLO, DIR_IN);
	ev[3].len = 85;
	ev[4] = EV(b + 350100, TL_EV_CERTIFICATE, DIR_IN);
	ev[4].len = 4330;
	ev[5] = EV(b + 350200, TL_EV_SERVER_KEY_EXCHANGE, DIR_IN);
	ev[5].len = 329;
	ev[6] = EV(b + 350300, TL_EV_SERVER_HELLO_DONE, DIR_IN);
	ev[7] = EV(b + 400000, TL_EV_CLIENT_KEY_EXCHANGE, DIR_OUT);
	ev[7].len = 66;
	ev[8] = EV(b + 400100, TL_EV_CHANGE_CIPHER_SPEC, DIR_OUT);
	ev[8].len = 1;
	ev[9] = EV(b + 400200, TL_EV_FINISHED, DIR_OUT);
	ev[9].len = 40;
	ev[10] = EV(b + 700000, TL_EV_CHANGE_CIPHER_SPEC, DIR_IN);
	ev[10].len = 1;
	ev[11] = EV(b + 700100, TL_EV_FINISHED, DIR_IN);
	ev[11].len = 40;
	ev[12] = EV(b + 750000, TL_EV_APP_DATA, DIR_OUT);
	ev[12].len = 100;
	ev[13] = EV(b + 1200000, TL_EV_APP_DATA, DIR_IN);
	ev[13].len = 3000;
	ev[14] = EV(b + 2000999, HS_EV_FIN_OUT, DIR_OUT);
	ev[15] = EV(b + 2100000, HS_EV_FIN_IN, DIR_IN);
	ev[16] = EV(b + 2100500, HS_EV_CLOSED, DIR_NONE);
	tl->n_events = 17;

	tl->phases[0] = (struct tl_phase){ .name = "tcp_handshake", .dur_ns = 61499 };
	tl->phases[1] = (struct tl_phase){ .name = "idle_before_hello", .dur_ns = 38501 };
	tl->phases[2] = (struct tl_phase){ .name = "server_hello_rtt", .dur_ns = 250000 };
	tl->phases[3] = (struct tl_phase){ .name = "tls_handshake", .dur_ns = 600100 };
	tl->phases[4] = (struct tl_phase){ .name = "ttfb", .dur_ns = 450000 };
	tl->phases[5] = (struct tl_phase){ .name = "total", .dur_ns = 2100500 };
	tl->n_phases = 6;

	t->seen = true;
	t->version = 0x0303;
	t->offered_versions[0] = 0x0304;
	t->offered_versions[1] = 0x0303;
	t->n_offered_versions = 2;
	strcpy(t->sni, "example.com");
	strcpy(t->alpn_offered[0], "h2");
	strcpy(t->alpn_offered[1], "http/1.1");
	t->n_alpn_offered = 2;
	strcpy(t->alpn_selected, "h2");
	t->has_cipher = true;
	t->cipher = 0xC02F;
	t->has_group = true;
	t->group = 0x0017;
	t->resumed = 0;
	t->has_certs = true;
	t->cert_count = 3;
	t->cert_bytes = 4321;
	t->handshake_done = true;
	t->app_bytes[DIR_OUT] = 100;
	t->app_records[DIR_OUT] = 1;
	t->app_bytes[DIR_IN] = 5000000000ULL;
	t->app_records[DIR_IN] = 2;
}

#define TLS13_EVENTS 10

/* nginx, TLS 1.3 from a resuming client on [::1]: no plaintext certificate, one encrypted
 * flight each way, tickets told from data by a rule. */
static void server_tls13(struct timeline *tl, struct tl_event ev[TLS13_EVENTS])
{
	struct tl_tls *t = &tl->tls;
	const uint64_t b = MONO_BASE_NS;

	server_v6(tl, ev);
	ev[0] = EV(b, HS_EV_SYN_RECV, DIR_IN);
	ev[0].derived = true;
	ev[1] = EV(b + 45000, HS_EV_ESTABLISHED, DIR_NONE);
	ev[2] = EV(b + 1245000, HS_EV_ACCEPTED, DIR_NONE);
	ev[3] = EV(b + 1300000, TL_EV_CLIENT_HELLO, DIR_IN);
	ev[3].len = 1200;
	ev[4] = EV(b + 1500000, TL_EV_SERVER_HELLO, DIR_OUT);
	ev[4].len = 118;
	ev[5] = EV(b + 1500500, TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT);
	ev[5].len = 2500;
	ev[5].records = 4;
	ev[6] = EV(b + 1700000, TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN);
	ev[6].len = 74;
	ev[6].records = 1;
	ev[7] = EV(b + 1750000, TL_EV_NEW_SESSION_TICKET, DIR_OUT);
	ev[7].len = 250;
	ev[7].estimated = true;
	ev[8] = EV(b + 1800000, TL_EV_APP_DATA, DIR_IN);
	ev[8].len = 80;
	ev[9] = EV(b + 9000000, HS_EV_CLOSED, DIR_NONE);
	tl->events = ev;
	tl->n_events = 10;

	tl->phases[0] = (struct tl_phase){ .name = "tcp_handshake", .dur_ns = 45000 };
	tl->phases[1] = (struct tl_phase){ .name = "accept_wait", .dur_ns = 1200000 };
	tl->phases[2] = (struct tl_phase){ .name = "server_think", .dur_ns = 200000 };
	tl->phases[3] = (struct tl_phase){ .name = "tls_handshake", .dur_ns = 400000 };
	tl->phases[4] = (struct tl_phase){ .name = "response_time", .dur_ns = 2345678 };
	tl->phases[5] = (struct tl_phase){ .name = "total", .dur_ns = 9000000 };
	tl->n_phases = 6;

	t->seen = true;
	t->version = 0x0304;
	t->offered_versions[0] = 0x0304;
	t->n_offered_versions = 1;
	strcpy(t->sni, "api.example.net");
	strcpy(t->alpn_offered[0], "http/1.1");
	t->n_alpn_offered = 1; /* the server's choice is encrypted in 1.3 */
	t->has_cipher = true;
	t->cipher = 0x1302;
	t->has_group = true;
	t->group = 0x001d;
	t->resumed = 1;
	t->handshake_done = true;
	t->app_bytes[DIR_IN] = 80;
	t->app_records[DIR_IN] = 1;
	t->app_bytes[DIR_OUT] = 1024;
	t->app_records[DIR_OUT] = 3;
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
	assert_null(strstr(buf, "\\/")); /* slashes are not escaped: "hstrace/2" */

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

/* Asserts o[key] is the boolean true. */
static void assert_true_field(struct json_object *o, const char *key)
{
	assert_true(json_object_is_type(get(o, key), json_type_boolean));
	assert_true(json_object_get_boolean(get(o, key)));
}

/* One event: t_us and name, plus dir ("" = absent), len and records (0 = absent), derived and
 * estimated (false = absent). */
static void assert_event_full(struct json_object *events, size_t i, int64_t t_us,
			      const char *name, const char *dir, int64_t len, int64_t records,
			      bool derived, bool estimated)
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
	if (records)
		assert_int_equal(get_int(ev, "records"), records);
	else
		assert_no_field(ev, "records");
	if (derived)
		assert_true_field(ev, "derived");
	else
		assert_no_field(ev, "derived");
	if (estimated)
		assert_true_field(ev, "estimated");
	else
		assert_no_field(ev, "estimated");
	assert_int_equal(json_object_object_length(ev),
			 2 + !!dir[0] + !!len + !!records + derived + estimated);
}

static void assert_event(struct json_object *events, size_t i, int64_t t_us, const char *name,
			 const char *dir, int64_t len, bool derived)
{
	assert_event_full(events, i, t_us, name, dir, len, 0, derived, false);
}

static const char *const top_keys[] = {
	"schema", "start", "role", "pid", "comm", "local", "peer", "ip_version",
	"result", "events", "phases_us", "phases", "tcp", "cookie",
};

#define N_TOP_KEYS (sizeof(top_keys) / sizeof(top_keys[0]))

/* A connection that carried TLS has "tls" between "tcp" and "cookie". */
static const char *const tls_top_keys[] = {
	"schema", "start", "role", "pid", "comm", "local", "peer", "ip_version",
	"result", "events", "phases_us", "phases", "tcp", "tls", "cookie",
};

#define N_TLS_TOP_KEYS (sizeof(tls_top_keys) / sizeof(tls_top_keys[0]))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Asserts o[key] is an array of exactly these strings. */
static void assert_str_array(struct json_object *o, const char *key, const char *const *want,
			     size_t n)
{
	struct json_object *arr = get(o, key);
	size_t i;

	assert_true(json_object_is_type(arr, json_type_array));
	assert_int_equal(json_object_array_length(arr), n);
	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		assert_true(json_object_is_type(v, json_type_string));
		assert_string_equal(json_object_get_string(v), want[i]);
	}
}

/* Asserts o[key] is {"bytes": bytes, "records": records}. */
static void assert_app_dir(struct json_object *o, const char *key, int64_t bytes,
			   int64_t records)
{
	static const char *const keys[] = { "bytes", "records" };
	struct json_object *d = get(o, key);

	assert_keys(d, keys, 2);
	assert_int_equal(get_int(d, "bytes"), bytes);
	assert_int_equal(get_int(d, "records"), records);
}

static bool get_bool(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	assert_true(json_object_is_type(v, json_type_boolean));
	return json_object_get_boolean(v);
}

/* ---- present.h: addresses, printable text ---- */

static void test_addr(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	char buf[INET6_ADDRSTRLEN];

	(void)state;
	client_v4(&tl, ev);
	set_addr(&tl, false, AF_INET, "10.1.2.3");
	assert_string_equal(present_addr(&tl, true, buf, sizeof(buf)), "127.0.0.1");
	assert_string_equal(present_addr(&tl, false, buf, sizeof(buf)), "10.1.2.3");

	tl.ip_version = 6;
	set_addr(&tl, true, AF_INET6, "2001:db8:0:0:0:0:0:1");
	set_addr(&tl, false, AF_INET6, "fe80::1:2");
	assert_string_equal(present_addr(&tl, true, buf, sizeof(buf)), "2001:db8::1");
	assert_string_equal(present_addr(&tl, false, buf, sizeof(buf)), "fe80::1:2");

	/* v4-mapped shows as IPv4 even if the collector left ip_version at 6 */
	set_addr(&tl, false, AF_INET6, "::ffff:192.0.2.7");
	assert_string_equal(present_addr(&tl, false, buf, sizeof(buf)), "192.0.2.7");

	tl.ip_version = 0;
	assert_string_equal(present_addr(&tl, false, buf, sizeof(buf)), "?");
}

static void test_present_text(void **state)
{
	struct tl_event ev[5];
	struct timeline tl;
	char buf[PRESENT_ENDPOINT_LEN], small[6];

	(void)state;
	client_v4(&tl, ev);
	assert_string_equal(present_endpoint(&tl, false, buf, sizeof(buf)), "127.0.0.1:443");
	tl.ip_version = 6;
	set_addr(&tl, false, AF_INET6, "2001:db8::1");
	assert_string_equal(present_endpoint(&tl, false, buf, sizeof(buf)), "[2001:db8::1]:443");

	/* control characters always become '?', bytes >= 0x80 only when ascii is asked */
	assert_string_equal(present_printable("a\nb\x7f\xc3\xa9", 16, false, buf, sizeof(buf)),
			    "a?b?\xc3\xa9");
	assert_string_equal(present_printable("a\nb\x7f\xc3\xa9", 16, true, buf, sizeof(buf)),
			    "a?b???");
	assert_string_equal(present_printable("abcdefgh", 3, true, buf, sizeof(buf)), "abc");
	assert_string_equal(present_printable("abcdefgh", 16, true, small, sizeof(small)), "abcde");

	assert_int_equal(present_round_us(1499), 1);
	assert_int_equal(present_round_us(1500), 2);
	assert_string_equal(present_us_ms(24301, buf, sizeof(buf)), "24.301");
	assert_string_equal(present_us_ms(5, buf, sizeof(buf)), "0.005");

	tl.result = RESULT_TLS_ALERT;
	tl.tls.seen = tl.tls.has_alert = true;
	tl.tls.alert_level = 2;
	tl.tls.alert_desc = 42;
	assert_string_equal(present_result(&tl, buf, sizeof(buf)), "tls_alert:bad_certificate");
	tl.tls.alert_level = 0;
	assert_string_equal(present_result(&tl, buf, sizeof(buf)), "tls_alert:encrypted");
	tl.result = RESULT_OK;
	assert_string_equal(present_result(&tl, buf, sizeof(buf)), "ok");
	tl.tls.version = 0x0304;
	assert_string_equal(present_tls_version(&tl), "1.3");
	tl.tls.version = 0;
	assert_null(present_tls_version(&tl));
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

	assert_string_equal(get_str(o, "schema"), "hstrace/2");
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
	assert_int_equal(json_object_object_length(phases), 2);
	assert_int_equal(get_int(phases, "tcp_handshake"), 61); /* 61.499 µs: nearest */
	assert_int_equal(get_int(phases, "guess"), 1);

	/* "phases": each with its start, end and events; an estimate has no events */
	phases = get(o, "phases");
	assert_true(json_object_is_type(phases, json_type_array));
	assert_int_equal(json_object_array_length(phases), 2);
	{
		struct json_object *ph = json_object_array_get_idx(phases, 0);
		static const char *const keys[] = { "name", "start_us", "end_us", "from",
						    "from_at", "to", "to_at" };

		assert_keys(ph, keys, 7);
		assert_string_equal(get_str(ph, "name"), "tcp_handshake");
		assert_int_equal(get_int(ph, "start_us"), 0);
		assert_int_equal(get_int(ph, "end_us"), 61); /* as the events' t_us */
		assert_int_equal(get_int(ph, "from"), 0);
		assert_string_equal(get_str(ph, "from_at"), "wire");
		assert_int_equal(get_int(ph, "to"), 1);
		assert_string_equal(get_str(ph, "to_at"), "wire");
		ph = json_object_array_get_idx(phases, 1);
		assert_string_equal(get_str(ph, "name"), "guess");
		assert_int_equal(get_int(ph, "start_us"), 1);
		assert_int_equal(get_int(ph, "end_us"), 2);
		assert_true(json_object_get_boolean(get(ph, "estimated")));
		assert_no_field(ph, "from");
	}

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

	assert_string_equal(get_str(o, "schema"), "hstrace/2");
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
	ev[4].records = 3;
	ev[4].estimated = true;
	ev[0].estimated = true;
	o = json_of(&tl);
	events = get(o, "events");
	assert_event_full(events, 0, 0, "syn_sent", "out", 0, 0, false, true);
	assert_event(events, 1, 61, "established", "in", 517, false);
	assert_event(events, 2, 2000, "fin_out", "", 0, true);
	assert_event(events, 3, 2100, "unknown", "in", 0, false);
	assert_event_full(events, 4, 2100, "closed", "", 0, 3, false, true);
	/* fixed key order: records after len, estimated after derived */
	assert_string_equal(json_object_to_json_string_ext(json_object_array_get_idx(events, 4),
							   JSON_C_TO_STRING_PLAIN),
			    "{\"t_us\":2100,\"event\":\"closed\",\"records\":3,"
			    "\"estimated\":true}");
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

/* ---- JSON: TLS ---- */

static void test_json_tls12_client(void **state)
{
	static const char *const tls_keys[] = {
		"sni", "alpn", "version", "offered_versions", "cipher", "group", "resumed",
		"cert_chain", "app_data", "handshake_done",
	};
	static const char *const phase_keys[] = {
		"tcp_handshake", "idle_before_hello", "server_hello_rtt", "tls_handshake", "ttfb",
		"total",
	};
	static const char *const alpn_keys[] = { "offered", "selected" };
	static const char *const alpn_offered[] = { "h2", "http/1.1" };
	static const char *const versions[] = { "1.3", "1.2" };
	static const char *const cert_keys[] = { "count", "bytes" };
	static const char *const dir_keys[] = { "out", "in" };
	struct tl_event ev[TLS12_EVENTS];
	struct timeline tl;
	struct json_object *o, *events, *phases, *tls, *alpn, *certs, *app;

	(void)state;
	client_tls12(&tl, ev);
	o = json_of(&tl);
	assert_keys(o, tls_top_keys, N_TLS_TOP_KEYS);
	assert_string_equal(get_str(o, "result"), "ok");
	assert_string_equal(get_str(o, "role"), "client");
	assert_true(json_object_get_uint64(get(o, "cookie")) == BIG_COOKIE);

	events = get(o, "events");
	assert_int_equal(json_object_array_length(events), 17);
	assert_event(events, 0, 0, "syn_sent", "out", 0, false);
	assert_event(events, 1, 61, "established", "", 0, false);
	assert_event(events, 2, 100, "client_hello", "out", 508, false);
	assert_event(events, 3, 350, "server_hello", "in", 85, false);
	assert_event(events, 4, 350, "certificate", "in", 4330, false);
	assert_event(events, 5, 350, "server_key_exchange", "in", 329, false);
	assert_event(events, 6, 350, "server_hello_done", "in", 0, false);
	assert_event(events, 7, 400, "client_key_exchange", "out", 66, false);
	assert_event(events, 8, 400, "change_cipher_spec", "out", 1, false);
	assert_event(events, 9, 400, "finished", "out", 40, false);
	assert_event(events, 10, 700, "change_cipher_spec", "in", 1, false);
	assert_event(events, 11, 700, "finished", "in", 40, false);
	assert_event(events, 12, 750, "app_data", "out", 100, false);
	assert_event(events, 13, 1200, "app_data", "in", 3000, false);
	assert_event(events, 14, 2000, "fin_out", "out", 0, false);
	assert_event(events, 15, 2100, "fin_in", "in", 0, false);
	assert_event(events, 16, 2100, "closed", "", 0, false);

	phases = get(o, "phases_us");
	assert_keys(phases, phase_keys, ARRAY_LEN(phase_keys));
	assert_int_equal(get_int(phases, "tcp_handshake"), 61);
	assert_int_equal(get_int(phases, "idle_before_hello"), 39); /* 38.501: nearest */
	assert_int_equal(get_int(phases, "server_hello_rtt"), 250);
	assert_int_equal(get_int(phases, "tls_handshake"), 600);
	assert_int_equal(get_int(phases, "ttfb"), 450);
	assert_int_equal(get_int(phases, "total"), 2101); /* 2100.5: nearest */

	tls = get(o, "tls");
	assert_keys(tls, tls_keys, ARRAY_LEN(tls_keys));
	assert_string_equal(get_str(tls, "sni"), "example.com");
	alpn = get(tls, "alpn");
	assert_keys(alpn, alpn_keys, 2);
	assert_str_array(alpn, "offered", alpn_offered, 2);
	assert_string_equal(get_str(alpn, "selected"), "h2");
	assert_string_equal(get_str(tls, "version"), "1.2");
	assert_str_array(tls, "offered_versions", versions, 2);
	assert_string_equal(get_str(tls, "cipher"), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(get_str(tls, "group"), "secp256r1");
	assert_false(get_bool(tls, "resumed"));
	certs = get(tls, "cert_chain");
	assert_keys(certs, cert_keys, 2);
	assert_int_equal(get_int(certs, "count"), 3);
	assert_int_equal(get_int(certs, "bytes"), 4321);
	app = get(tls, "app_data");
	assert_keys(app, dir_keys, 2);
	assert_app_dir(app, "out", 100, 1);
	assert_app_dir(app, "in", 5000000000LL, 2);
	assert_true(get_bool(tls, "handshake_done"));
	json_object_put(o);
}

static void test_json_tls13_server(void **state)
{
	static const char *const tls_keys[] = {
		"sni", "alpn", "version", "offered_versions", "cipher", "group", "resumed",
		"app_data", "handshake_done",
	};
	static const char *const phase_keys[] = {
		"tcp_handshake", "accept_wait", "server_think", "tls_handshake", "response_time",
		"total",
	};
	static const char *const alpn_keys[] = { "offered" };
	static const char *const alpn_offered[] = { "http/1.1" };
	static const char *const versions[] = { "1.3" };
	struct tl_event ev[TLS13_EVENTS];
	struct timeline tl;
	struct json_object *o, *events, *phases, *tls, *alpn;

	(void)state;
	server_tls13(&tl, ev);
	o = json_of(&tl);
	assert_keys(o, tls_top_keys, N_TLS_TOP_KEYS);
	assert_string_equal(get_str(o, "role"), "server");
	assert_endpoint(o, "local", "::1", 443);

	events = get(o, "events");
	assert_int_equal(json_object_array_length(events), 10);
	assert_event(events, 0, 0, "syn_received", "in", 0, true);
	assert_event(events, 1, 45, "established", "", 0, false);
	assert_event(events, 2, 1245, "accepted", "", 0, false);
	assert_event(events, 3, 1300, "client_hello", "in", 1200, false);
	assert_event(events, 4, 1500, "server_hello", "out", 118, false);
	assert_event_full(events, 5, 1500, "encrypted_handshake", "out", 2500, 4, false, false);
	assert_event_full(events, 6, 1700, "encrypted_handshake", "in", 74, 1, false, false);
	assert_event_full(events, 7, 1750, "new_session_ticket", "out", 250, 0, false, true);
	assert_event(events, 8, 1800, "app_data", "in", 80, false);
	assert_event(events, 9, 9000, "closed", "", 0, false);

	phases = get(o, "phases_us");
	assert_keys(phases, phase_keys, ARRAY_LEN(phase_keys));
	assert_int_equal(get_int(phases, "server_think"), 200);
	assert_int_equal(get_int(phases, "tls_handshake"), 400);
	assert_int_equal(get_int(phases, "response_time"), 2346);
	assert_int_equal(get_int(phases, "total"), 9000);

	tls = get(o, "tls");
	assert_keys(tls, tls_keys, ARRAY_LEN(tls_keys));
	assert_string_equal(get_str(tls, "sni"), "api.example.net");
	alpn = get(tls, "alpn");
	assert_keys(alpn, alpn_keys, 1); /* no "selected": encrypted in 1.3 */
	assert_str_array(alpn, "offered", alpn_offered, 1);
	assert_string_equal(get_str(tls, "version"), "1.3");
	assert_str_array(tls, "offered_versions", versions, 1);
	assert_string_equal(get_str(tls, "cipher"), "TLS_AES_256_GCM_SHA384");
	assert_string_equal(get_str(tls, "group"), "x25519");
	assert_true(get_bool(tls, "resumed"));
	assert_app_dir(get(tls, "app_data"), "out", 1024, 3);
	assert_app_dir(get(tls, "app_data"), "in", 80, 1);
	assert_true(get_bool(tls, "handshake_done"));
	json_object_put(o);
}

/* Optional tls fields are left out when unknown; no "tls" at all without a TLS record. */
static void test_json_tls_minimal(void **state)
{
	static const char *const tls_keys[] = { "offered_versions", "app_data",
						"handshake_done" };
	struct tl_event ev[TLS12_EVENTS];
	struct timeline tl;
	struct json_object *o, *tls;

	(void)state;
	client_tls12(&tl, ev);
	memset(&tl.tls, 0, sizeof(tl.tls));
	tl.tls.seen = true;
	tl.tls.resumed = -1;
	tl.tls.cipher = 0x1301; /* ignored without has_cipher */
	tl.tls.group = 0x001d;	/* ignored without has_group */
	tl.tls.cert_count = 2;	/* ignored without has_certs */
	tl.tls.alert_desc = 42;	/* ignored without has_alert */
	tl.result = RESULT_TLS_FAILED;
	o = json_of(&tl);
	assert_keys(o, tls_top_keys, N_TLS_TOP_KEYS);
	assert_string_equal(get_str(o, "result"), "tls_failed");
	tls = get(o, "tls");
	assert_keys(tls, tls_keys, ARRAY_LEN(tls_keys));
	assert_int_equal(json_object_array_length(get(tls, "offered_versions")), 0);
	assert_app_dir(get(tls, "app_data"), "out", 0, 0);
	assert_app_dir(get(tls, "app_data"), "in", 0, 0);
	assert_false(get_bool(tls, "handshake_done"));
	json_object_put(o);

	/* TLS fields set but no record seen: plain TCP output */
	client_tls12(&tl, ev);
	tl.tls.seen = false;
	o = json_of(&tl);
	assert_keys(o, top_keys, N_TOP_KEYS);
	json_object_put(o);
}

static void test_json_tls_alert(void **state)
{
	static const char *const alert_keys[] = { "level", "description", "dir" };
	struct tl_event ev[TLS12_EVENTS];
	struct timeline tl;
	struct json_object *o, *alert;

	(void)state;
	/* the client rejects the server's certificate */
	client_tls12(&tl, ev);
	ev[4] = EV(MONO_BASE_NS + 360000, TL_EV_ALERT, DIR_OUT);
	ev[4].len = 2;
	ev[5] = EV(MONO_BASE_NS + 360500, HS_EV_CLOSED, DIR_NONE);
	tl.n_events = 6;
	tl.n_phases = 3;
	tl.result = RESULT_TLS_ALERT;
	tl.tls.has_alert = true;
	tl.tls.alert_level = 2;
	tl.tls.alert_desc = 42;
	tl.tls.alert_dir = DIR_OUT;
	tl.tls.handshake_done = false;
	memset(tl.tls.app_bytes, 0, sizeof(tl.tls.app_bytes));
	memset(tl.tls.app_records, 0, sizeof(tl.tls.app_records));
	o = json_of(&tl);
	assert_string_equal(get_str(o, "result"), "tls_alert");
	assert_event(get(o, "events"), 4, 360, "alert", "out", 2, false);
	alert = get(get(o, "tls"), "alert");
	assert_keys(alert, alert_keys, 3);
	assert_string_equal(get_str(alert, "level"), "fatal");
	assert_string_equal(get_str(alert, "description"), "bad_certificate");
	assert_string_equal(get_str(alert, "dir"), "out");
	assert_false(get_bool(get(o, "tls"), "handshake_done"));
	json_object_put(o);

	/* encrypted (TLS 1.3): level and description unknown */
	tl.tls.alert_level = 0;
	tl.tls.alert_desc = 99;
	tl.tls.alert_dir = DIR_IN;
	o = json_of(&tl);
	alert = get(get(o, "tls"), "alert");
	assert_keys(alert, alert_keys, 3);
	assert_null_field(alert, "level");
	assert_null_field(alert, "description");
	assert_string_equal(get_str(alert, "dir"), "in");
	json_object_put(o);

	/* a description and a level without a name are given as numbers; no direction: null */
	tl.tls.alert_level = 1;
	tl.tls.alert_desc = 231;
	tl.tls.alert_dir = DIR_NONE;
	o = json_of(&tl);
	alert = get(get(o, "tls"), "alert");
	assert_string_equal(get_str(alert, "level"), "warning");
	assert_string_equal(get_str(alert, "description"), "231");
	assert_null_field(alert, "dir");
	json_object_put(o);

	tl.tls.alert_level = 7;
	tl.tls.alert_desc = 0;
	o = json_of(&tl);
	alert = get(get(o, "tls"), "alert");
	assert_string_equal(get_str(alert, "level"), "7");
	assert_string_equal(get_str(alert, "description"), "close_notify");
	json_object_put(o);
}

/* Numbers without a name are given in hex; wire strings stay valid UTF-8; flags appear. */
static void test_json_tls_unknown(void **state)
{
	static const char *const tls_keys[] = {
		"sni", "alpn", "version", "offered_versions", "cipher", "group", "app_data",
		"handshake_done", "ttfb_estimated", "desync",
	};
	static const char *const alpn_keys[] = { "offered", "selected" };
	static const char *const versions[] = { "0x7F1C", "1.3", "0x0A0A" };
	static const char *const alpn_offered[] = { "h\xef\xbf\xbd" "3" };
	struct tl_event ev[TLS12_EVENTS];
	struct timeline tl;
	struct json_object *o, *tls, *alpn;

	(void)state;
	client_tls12(&tl, ev);
	tl.tls.version = 0x7F1C;
	tl.tls.offered_versions[0] = 0x7F1C;
	tl.tls.offered_versions[1] = 0x0304;
	tl.tls.offered_versions[2] = 0x0A0A;
	tl.tls.n_offered_versions = 3;
	tl.tls.cipher = 0x1234;
	tl.tls.group = 0xABCD;
	tl.tls.resumed = -1;
	tl.tls.has_certs = false;
	tl.tls.ttfb_estimated = true;
	tl.tls.desync = true;
	memcpy(tl.tls.sni, "caf\xc3\xa9.example\xff", 14); /* valid é, stray 0xff */
	tl.tls.sni[14] = '\0';
	strcpy(tl.tls.alpn_offered[0], "h\xfe" "3");
	tl.tls.n_alpn_offered = 1;
	o = json_of(&tl);
	tls = get(o, "tls");
	assert_keys(tls, tls_keys, ARRAY_LEN(tls_keys));
	assert_string_equal(get_str(tls, "sni"), "caf\xc3\xa9.example\xef\xbf\xbd");
	alpn = get(tls, "alpn");
	assert_keys(alpn, alpn_keys, 2);
	assert_str_array(alpn, "offered", alpn_offered, 1);
	assert_string_equal(get_str(tls, "version"), "0x7F1C");
	assert_str_array(tls, "offered_versions", versions, 3);
	assert_string_equal(get_str(tls, "cipher"), "0x1234");
	assert_string_equal(get_str(tls, "group"), "0xABCD");
	assert_true(get_bool(tls, "ttfb_estimated"));
	assert_true(get_bool(tls, "desync"));
	json_object_put(o);

	/* only the server's choice known; a full-length SNI with no NUL */
	client_tls12(&tl, ev);
	tl.tls.n_alpn_offered = 0;
	tl.tls.version = 0;
	memset(tl.tls.sni, 'a', sizeof(tl.tls.sni));
	o = json_of(&tl);
	tls = get(o, "tls");
	assert_no_field(tls, "version");
	assert_int_equal(strlen(get_str(tls, "sni")), sizeof(tl.tls.sni));
	alpn = get(tls, "alpn");
	assert_keys(alpn, alpn_keys, 2);
	assert_int_equal(json_object_array_length(get(alpn, "offered")), 0);
	assert_string_equal(get_str(alpn, "selected"), "h2");
	json_object_put(o);

	/* neither: no alpn object; no SNI: no sni field */
	tl.tls.alpn_selected[0] = '\0';
	tl.tls.sni[0] = '\0';
	o = json_of(&tl);
	assert_no_field(get(o, "tls"), "alpn");
	assert_no_field(get(o, "tls"), "sni");
	json_object_put(o);
}

/* ---- text ---- */

static void test_text_header(void **state)
{
	static const char *const want[] = {
		"TIME", "PID", "COMM", "ROLE", "LADDR:LPORT", "RADDR:RPORT", "SNI", "VER",
		"TCP(ms)", "ACCEPT(ms)", "TLS(ms)", "TTFB(ms)", "RETX", "RESULT",
	};
	char *s;

	(void)state;
	s = text_of(NULL);
	assert_columns(s, want, ARRAY_LEN(want));
	assert_string_equal(s, "TIME     PID     COMM             ROLE   LADDR:LPORT           "
			       "RADDR:RPORT           SNI                      VER    TCP(ms) "
			       "ACCEPT(ms)   TLS(ms)  TTFB(ms) RETX RESULT\n");
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
			       "127.0.0.1:443         -                        -        0.061 "
			       "         -         -         -    0 ok\n");
	free(s);

	client_failed(&tl, ev, RESULT_TIMEOUT, ETIMEDOUT);
	tl.syn_retransmits = 6;
	s = text_of(&tl);
	{
		static const char *const want[] = {
			"07:35:05", "4242", "curl", "client", "127.0.0.1:51234",
			"127.0.0.1:443", "-", "-", "-", "-", "-", "-", "6", "timeout",
		};

		assert_columns(s, want, ARRAY_LEN(want));
	}
	free(s);
}

static void test_text_server_v6(void **state)
{
	static const char *const want[] = {
		"07:35:05", "777", "nginx", "server", "[::1]:443", "[::1]:40000", "-", "-",
		"0.045", "1.200", "3.457", "-", "0", "ok",
	};
	struct tl_event ev[4];
	struct timeline tl;
	char *s;

	(void)state;
	server_v6(&tl, ev);
	s = text_of(&tl);
	assert_columns(s, want, ARRAY_LEN(want));
	free(s);
}

static void test_text_unknown_owner(void **state)
{
	static const char *const want[] = {
		"07:35:05", "-", "?", "server", "[2001:db8::1]:443", "[2001:db8::2]:40000", "-",
		"-", "0.045", "-", "-", "-", "0", "incomplete",
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
	assert_columns(s, want, ARRAY_LEN(want));
	free(s);

	/* control characters in a comm cannot break the line */
	server_v6(&tl, ev);
	strcpy(tl.comm, "a\nb c");
	s = text_of(&tl);
	assert_non_null(strstr(s, " a?b c "));
	assert_null(memchr(s, '\n', strlen(s) - 1));
	free(s);
}

static void test_text_tls(void **state)
{
	static const char *const want_server[] = {
		"07:35:05", "777", "nginx", "server", "[::1]:443", "[::1]:40000",
		"api.example.net", "1.3", "0.045", "1.200", "0.400", "2.346", "0", "ok",
	};
	struct tl_event ev12[TLS12_EVENTS], ev13[TLS13_EVENTS];
	struct timeline tl;
	char *s;

	(void)state;
	/* client: TTFB is the ttfb phase; widths stay those of the header */
	client_tls12(&tl, ev12);
	s = text_of(&tl);
	assert_string_equal(s, "07:35:05 4242    curl             client 127.0.0.1:51234       "
			       "127.0.0.1:443         example.com              1.2      0.061 "
			       "         -     0.600     0.450    0 ok\n");
	free(s);

	/* server: TTFB is the response_time phase */
	server_tls13(&tl, ev13);
	s = text_of(&tl);
	assert_columns(s, want_server, ARRAY_LEN(want_server));
	free(s);

	/* ... and a client's response_time is not its TTFB */
	client_tls12(&tl, ev12);
	tl.phases[4].name = "response_time";
	s = text_of(&tl);
	assert_non_null(strstr(s, " 0.600         -    0 ok\n"));
	free(s);
}

/* SNI: cut with a marker past 24 columns, never breaking the columns; unknown version. */
static void test_text_sni(void **state)
{
	struct tl_event ev[TLS12_EVENTS];
	struct timeline tl;
	char *s;

	(void)state;
	client_tls12(&tl, ev);
	strcpy(tl.tls.sni, "abcdefghijklmnopqrstuvwx"); /* exactly 24: kept whole */
	s = text_of(&tl);
	assert_non_null(strstr(s, " abcdefghijklmnopqrstuvwx 1.2 "));
	free(s);

	strcpy(tl.tls.sni, "a-very-long-host-name.example.com");
	s = text_of(&tl);
	assert_non_null(strstr(s, " a-very-long-host-name... 1.2 "));
	free(s);

	strcpy(tl.tls.sni, "a b\tc\xc3\xa9\n");
	tl.tls.version = 0x7F1C;
	s = text_of(&tl);
	assert_non_null(strstr(s, " a?b?c??? "));
	assert_non_null(strstr(s, " ?        0.061 "));
	assert_null(memchr(s, '\n', strlen(s) - 1));
	free(s);

	/* a full 256-byte name with no NUL */
	memset(tl.tls.sni, 'z', sizeof(tl.tls.sni));
	s = text_of(&tl);
	assert_non_null(strstr(s, " zzzzzzzzzzzzzzzzzzzzz... ? "));
	free(s);

	/* TLS never seen: no SNI or version, whatever the fields hold */
	tl.tls.seen = false;
	s = text_of(&tl);
	assert_non_null(strstr(s, ":443         -                        -        0.061 "));
	free(s);
}

/* RESULT: a TLS failure with an alert names it. */
static void test_text_tls_result(void **state)
{
	struct tl_event ev[TLS12_EVENTS];
	struct timeline tl;
	char *s;

	(void)state;
	client_tls12(&tl, ev);
	tl.result = RESULT_TLS_ALERT;
	tl.tls.has_alert = true;
	tl.tls.alert_level = 2;
	tl.tls.alert_desc = 42;
	tl.tls.alert_dir = DIR_OUT;
	s = text_of(&tl);
	assert_non_null(strstr(s, "    0 tls_alert:bad_certificate\n"));
	free(s);

	tl.tls.alert_level = 0;
	s = text_of(&tl);
	assert_non_null(strstr(s, "    0 tls_alert:encrypted\n"));
	free(s);

	tl.result = RESULT_TLS_FAILED;
	tl.tls.alert_level = 1;
	tl.tls.alert_desc = 231;
	s = text_of(&tl);
	assert_non_null(strstr(s, "    0 tls_failed:231\n"));
	free(s);

	tl.tls.has_alert = false;
	s = text_of(&tl);
	assert_non_null(strstr(s, "    0 tls_failed\n"));
	free(s);

	/* a closing alert on a good connection: just "ok" */
	tl.result = RESULT_OK;
	tl.tls.has_alert = true;
	tl.tls.alert_desc = 0;
	s = text_of(&tl);
	assert_non_null(strstr(s, "    0 ok\n"));
	free(s);
}

/* ---- filter ---- */

static void test_filter_any(void **state)
{
	struct conn_filter f = { .all = true };
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
	struct conn_filter f = { .all = true };
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
	f.all = true;
	strcpy(tl.comm, "abcdefghijklmno");
	strcpy(f.comm, "abcdefghijklmno");
	assert_true(conn_filter_match(&f, &tl));
}

static void test_filter_unknown_owner(void **state)
{
	struct conn_filter f = { .all = true };
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
	struct conn_filter f = { .all = true };
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
	struct conn_filter f = { .all = true };
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

/* Default (no --all): TLS connections and failed connects only; --all: everything. */
static void test_filter_default(void **state)
{
	struct conn_filter def = { 0 }, all = { .all = true };
	struct tl_event ev[TLS12_EVENTS], ev13[TLS13_EVENTS];
	struct timeline tl;
	enum conn_result r;

	(void)state;
	/* plain TCP that worked: hidden by default */
	client_v4(&tl, ev);
	assert_false(conn_filter_match(&def, &tl));
	assert_true(conn_filter_match(&all, &tl));
	assert_true(conn_filter_match(NULL, &tl));
	server_v6(&tl, ev);
	assert_false(conn_filter_match(&def, &tl));
	assert_true(conn_filter_match(&all, &tl));

	/* plain TCP that failed after the connect: hidden by default too */
	for (r = RESULT_RESET; r <= RESULT_INCOMPLETE; r++) {
		client_failed(&tl, ev, r, 0);
		assert_false(conn_filter_match(&def, &tl));
		assert_true(conn_filter_match(&all, &tl));
	}

	/* failed connects: shown on any port */
	client_failed(&tl, ev, RESULT_REFUSED, ECONNREFUSED);
	tl.rport = 8080;
	assert_true(conn_filter_match(&def, &tl));
	assert_true(conn_filter_match(&all, &tl));
	client_failed(&tl, ev, RESULT_TIMEOUT, ETIMEDOUT);
	tl.rport = 5432;
	assert_true(conn_filter_match(&def, &tl));

	/* TLS, whatever its result or role */
	client_tls12(&tl, ev);
	assert_true(conn_filter_match(&def, &tl));
	tl.result = RESULT_TLS_ALERT;
	assert_true(conn_filter_match(&def, &tl));
	tl.result = RESULT_RESET;
	assert_true(conn_filter_match(&def, &tl));
	server_tls13(&tl, ev13);
	assert_true(conn_filter_match(&def, &tl));

	/* the other filters still apply on top */
	def.ip_version = 6;
	assert_true(conn_filter_match(&def, &tl));
	def.ip_version = 4;
	assert_false(conn_filter_match(&def, &tl));
	def.ip_version = 0;
	def.port = 443;
	assert_true(conn_filter_match(&def, &tl));
	client_failed(&tl, ev, RESULT_REFUSED, ECONNREFUSED);
	tl.rport = 8080;
	assert_false(conn_filter_match(&def, &tl));
	def.port = 8080;
	assert_true(conn_filter_match(&def, &tl));
	def.pid = 1;
	assert_false(conn_filter_match(&def, &tl));
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
		cmocka_unit_test(test_present_text),
		cmocka_unit_test(test_json_client_v4),
		cmocka_unit_test(test_json_server_v6),
		cmocka_unit_test(test_json_unknown_owner),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_json_event_fields),
		cmocka_unit_test(test_json_start),
		cmocka_unit_test(test_json_comm_bytes),
		cmocka_unit_test(test_json_write_error),
		cmocka_unit_test(test_json_tls12_client),
		cmocka_unit_test(test_json_tls13_server),
		cmocka_unit_test(test_json_tls_minimal),
		cmocka_unit_test(test_json_tls_alert),
		cmocka_unit_test(test_json_tls_unknown),
		cmocka_unit_test(test_text_header),
		cmocka_unit_test(test_text_client_v4),
		cmocka_unit_test(test_text_server_v6),
		cmocka_unit_test(test_text_unknown_owner),
		cmocka_unit_test(test_text_tls),
		cmocka_unit_test(test_text_sni),
		cmocka_unit_test(test_text_tls_result),
		cmocka_unit_test(test_filter_any),
		cmocka_unit_test(test_filter_pid_comm),
		cmocka_unit_test(test_filter_unknown_owner),
		cmocka_unit_test(test_filter_port),
		cmocka_unit_test(test_filter_ip_version),
		cmocka_unit_test(test_filter_default),
	};

	return cmocka_run_group_tests_name("render", tests, setup_tz, NULL);
}
