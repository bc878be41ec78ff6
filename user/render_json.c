// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * render_json.c - one NDJSON object per finished connection (schema "hstrace/2").
 *
 * docs/json.md is the reference for every field. Field names are an interface: later versions
 * only add fields, never rename or remove one.
 *
 * The line is written with the streaming writer of json_build.h, straight from the timeline:
 * building a json-c object tree and serialising it cost several times more than everything
 * else hstrace does per connection (tools/bench_replay.c). The writer gives the bytes json-c
 * gave; members that are optional are left out exactly when they were.
 */
#define _GNU_SOURCE /* strerrorname_np() */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "conn_id.h"
#include "present.h"
#include "render.h"
#include "tls_parse.h"
#include "json_build.h"

#define JSON_SCHEMA "hstrace/2"

/* The first bytes of s (up to its NUL, at most max <= UTF8_STRING_MAX) as a JSON string. The
 * bytes come from the kernel or the wire (a comm cut at 15 bytes possibly inside a UTF-8
 * sequence, an SNI or ALPN name sent by the peer): every byte that is not valid UTF-8 becomes
 * U+FFFD so the line stays valid JSON. */
#define UTF8_STRING_MAX 256

static void utf8_string(struct json_writer *w, const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, i = 0, o = 0;
	char buf[UTF8_STRING_MAX * 3 + 1];

	n = strnlen(str, max < UTF8_STRING_MAX ? max : UTF8_STRING_MAX);
	while (i < n && s[i] < 0x80)
		i++;
	if (i == n) { /* ASCII: nothing to repair */
		jsonw_str_len(w, str, n);
		return;
	}
	memcpy(buf, s, i);
	o = i;
	while (i < n) {
		size_t len = present_utf8_seq_len(s + i, n - i);

		if (len) {
			memcpy(buf + o, s + i, len);
			o += len;
			i += len;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	jsonw_str_len(w, buf, o);
}

/* Writes v as n decimal digits (zero-padded; v < 10^n) at p. */
static void put_digits(char *p, unsigned int v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/* The proleptic Gregorian date of day `days` since 1970-01-01 (gmtime()'s calendar), by
 * arithmetic (H. Hinnant's civil_from_days()): no lock and no time-zone state per line. */
static void civil_from_days(int64_t days, int64_t *year, unsigned int *month, unsigned int *day)
{
	int64_t z = days + 719468; /* days from 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097; /* 400-year eras */
	uint64_t doe = (uint64_t)(z - era * 146097); /* day of the era, [0, 146096] */
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* from March 1, [0, 365] */
	uint64_t mp = (5 * doy + 2) / 153; /* month from March, [0, 11] */

	*day = (unsigned int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (unsigned int)(mp < 10 ? mp + 3 : mp - 9);
	*year = (int64_t)yoe + era * 400 + (*month <= 2);
}

/* RFC 3339 UTC with microseconds (rounded down): "2026-11-27T07:35:05.123456Z". Returns 0, or
 * -ENOMEM when the time cannot be formatted (cannot happen for any int64 ns time; reported as
 * out-of-memory, as a failed allocation would be). */
static int rfc3339_string(struct json_writer *w, int64_t wall_ns)
{
	int64_t secs = wall_ns / 1000000000, frac_ns = wall_ns % 1000000000, days, year;
	unsigned int month, day, sod;
	time_t t;
	struct tm tm;
	char buf[64];
	size_t n;

	if (frac_ns < 0) {
		frac_ns += 1000000000;
		secs--;
	}
	days = secs / 86400 - (secs % 86400 < 0);
	sod = (unsigned int)(secs - days * 86400);
	civil_from_days(days, &year, &month, &day);
	if (year >= 1000 && year <= 9999) {
		/* Every year an int64 ns time can have, by hand (gmtime_r(), strftime() and
		 * snprintf() took ~2,500 instructions a line): the same text as the general case
		 * below. */
		memcpy(buf, "0000-00-00T00:00:00.000000Z", 28);
		put_digits(buf, (unsigned int)year, 4);
		put_digits(buf + 5, month, 2);
		put_digits(buf + 8, day, 2);
		put_digits(buf + 11, sod / 3600, 2);
		put_digits(buf + 14, sod / 60 % 60, 2);
		put_digits(buf + 17, sod % 60, 2);
		put_digits(buf + 20, (unsigned int)(frac_ns / 1000), 6);
		jsonw_str_len(w, buf, 27);
		return 0;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm))
		return -ENOMEM;
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (!n)
		return -ENOMEM;
	snprintf(buf + n, sizeof(buf) - n, ".%06dZ", (int)(frac_ns / 1000));
	jsonw_str(w, buf);
	return 0;
}

/* {"addr": "...", "port": n} for the local or remote end. */
static void endpoint_object(struct json_writer *w, const struct timeline *tl, bool local)
{
	char addr[INET6_ADDRSTRLEN];

	present_addr(tl, local, addr, sizeof(addr));
	jsonw_start_object(w);
	jsonw_member_str(w, "addr", addr);
	jsonw_member_i64(w, "port", local ? tl->lport : tl->rport);
	jsonw_end_object(w);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static void event_object(struct json_writer *w, const struct tl_event *ev, uint64_t base_ns)
{
	jsonw_start_object(w);
	jsonw_member_i64(w, "t_us", floor_div((int64_t)(ev->ts_ns - base_ns), 1000));
	jsonw_member_str(w, "event", tl_event_name(ev->event));
	if (ev->dir == DIR_OUT)
		jsonw_member_str_lit(w, "dir", "out");
	else if (ev->dir != DIR_NONE)
		jsonw_member_str_lit(w, "dir", "in");
	if (ev->app_ns)
		jsonw_member_i64(w, "app_us", floor_div((int64_t)(ev->app_ns - base_ns), 1000));
	if (ev->len > 0)
		jsonw_member_i64(w, "len", ev->len);
	if (ev->records > 0)
		jsonw_member_i64(w, "records", ev->records);
	if (ev->derived)
		jsonw_member_true(w, "derived");
	if (ev->estimated)
		jsonw_member_true(w, "estimated");
	jsonw_end_object(w);
}

/* "events": t_us counts from the first event (events are sorted by time). */
static void events_array(struct json_writer *w, const struct timeline *tl)
{
	uint64_t base_ns = tl->n_events ? tl->events[0].ts_ns : tl->start_ns;
	size_t i;

	jsonw_start_array(w);
	for (i = 0; i < tl->n_events; i++)
		event_object(w, &tl->events[i], base_ns);
	jsonw_end_array(w);
}

static bool same_name(const char *a, const char *b)
{
	return a == b || (a[0] == b[0] && strcmp(a, b) == 0);
}

/* "phases_us": every phase the timeline has, in µs rounded to the nearest. A name given twice
 * appears once, in its first place with its last value (as a json-c object kept it). */
static void phases_object(struct json_writer *w, const struct timeline *tl)
{
	size_t i, j, n = tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES;

	jsonw_start_object(w);
	for (i = 0; i < n; i++) {
		const struct tl_phase *ph = &tl->phases[i];
		uint64_t dur_ns = ph->dur_ns;
		bool dup = false;

		if (!ph->name)
			continue;
		for (j = 0; j < i && !dup; j++)
			dup = tl->phases[j].name && same_name(tl->phases[j].name, ph->name);
		if (dup)
			continue;
		for (j = i + 1; j < n; j++)
			if (tl->phases[j].name && same_name(tl->phases[j].name, ph->name))
				dur_ns = tl->phases[j].dur_ns;
		jsonw_key(w, ph->name);
		jsonw_u64(w, present_round_us(dur_ns));
	}
	jsonw_end_object(w);
}

/* "phases": every phase with its start and end (µs since the first event, rounded down, as
 * t_us), the indices in "events" of the events it runs between and which of their times, or
 * "estimated": true for a phase computed by a rule. */
static void phases_array(struct json_writer *w, const struct timeline *tl)
{
	uint64_t base_ns = tl->n_events ? tl->events[0].ts_ns : tl->start_ns;
	size_t i, n = tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES;

	jsonw_start_array(w);
	for (i = 0; i < n; i++) {
		const struct tl_phase *ph = &tl->phases[i];

		if (!ph->name)
			continue;
		jsonw_start_object(w);
		jsonw_member_str(w, "name", ph->name);
		jsonw_member_i64(w, "start_us", floor_div((int64_t)(ph->start_ns - base_ns), 1000));
		jsonw_member_i64(w, "end_us", floor_div((int64_t)(ph->end_ns - base_ns), 1000));
		if (ph->estimated) {
			jsonw_member_true(w, "estimated");
		} else {
			/* "wire" or "app": which of an event's times it starts or ends at. */
			jsonw_member_i64(w, "from", ph->from_ev);
			if (ph->from_at == TL_AT_APP)
				jsonw_member_str_lit(w, "from_at", "app");
			else
				jsonw_member_str_lit(w, "from_at", "wire");
			jsonw_member_i64(w, "to", ph->to_ev);
			if (ph->to_at == TL_AT_APP)
				jsonw_member_str_lit(w, "to_at", "app");
			else
				jsonw_member_str_lit(w, "to_at", "wire");
		}
		jsonw_end_object(w);
	}
	jsonw_end_array(w);
}

/* errno name of a socket error ("ECONNREFUSED"); an unknown value is given as its number. */
static void errno_string(struct json_writer *w, int32_t err)
{
	const char *name;
	char buf[16];

	if (err < 0)
		err = -err;
	name = strerrorname_np(err);
	if (name) {
		jsonw_str(w, name);
		return;
	}
	snprintf(buf, sizeof(buf), "%d", err);
	jsonw_str(w, buf);
}

static void tcp_object(struct json_writer *w, const struct timeline *tl)
{
	jsonw_start_object(w);
	jsonw_member_i64(w, "syn_retransmits", tl->syn_retransmits);
	jsonw_member_i64(w, "srtt_us", tl->srtt_us);
	jsonw_member_u64(w, "bytes_sent", tl->bytes_sent);
	jsonw_member_u64(w, "bytes_received", tl->bytes_received);
	if (tl->sk_err) {
		jsonw_key_lit(w, "error");
		errno_string(w, tl->sk_err);
	}
	if (tl->close_lost)
		jsonw_member_true(w, "close_lost");
	jsonw_end_object(w);
}

/* name, or the IANA number as "0x%04X" when this build has no name for it. */
static void name_or_hex(struct json_writer *w, const char *name, uint16_t id)
{
	char buf[8];

	if (name) {
		jsonw_str(w, name);
		return;
	}
	snprintf(buf, sizeof(buf), "0x%04X", id);
	jsonw_str(w, buf);
}

/* name, or the number in decimal when this build has no name for it (as tcp.error does). */
static void name_or_dec(struct json_writer *w, const char *name, unsigned int id)
{
	char buf[16];

	if (name) {
		jsonw_str(w, name);
		return;
	}
	snprintf(buf, sizeof(buf), "%u", id);
	jsonw_str(w, buf);
}

/* "alpn": {"offered": [...], "selected": "..."}; selected only when known. */
static void alpn_object(struct json_writer *w, const struct tl_tls *t)
{
	size_t i, n = t->n_alpn_offered < TL_MAX_ALPN ? t->n_alpn_offered : TL_MAX_ALPN;

	jsonw_start_object(w);
	jsonw_key_lit(w, "offered");
	jsonw_start_array(w);
	for (i = 0; i < n; i++)
		utf8_string(w, t->alpn_offered[i], TL_ALPN_LEN);
	jsonw_end_array(w);
	if (t->alpn_selected[0]) {
		jsonw_key_lit(w, "selected");
		utf8_string(w, t->alpn_selected, TL_ALPN_LEN);
	}
	jsonw_end_object(w);
}

/* "offered_versions": the client's supported_versions, as names ("1.3") or "0x%04X". */
static void versions_array(struct json_writer *w, const struct tl_tls *t)
{
	size_t i, n = t->n_offered_versions < TL_MAX_VERSIONS ? t->n_offered_versions
							       : TL_MAX_VERSIONS;

	jsonw_start_array(w);
	for (i = 0; i < n; i++)
		name_or_hex(w, tls_version_name(t->offered_versions[i]), t->offered_versions[i]);
	jsonw_end_array(w);
}

/* "cert_chain": {"count": n, "bytes": n} */
static void cert_chain_object(struct json_writer *w, const struct tl_tls *t)
{
	jsonw_start_object(w);
	jsonw_member_i64(w, "count", t->cert_count);
	jsonw_member_i64(w, "bytes", t->cert_bytes);
	jsonw_end_object(w);
}

/* "alert": level and description are null when the alert was encrypted (level 0); a value
 * with no name is given as its decimal number; dir is null when unknown. */
static void alert_object(struct json_writer *w, const struct tl_tls *t)
{
	jsonw_start_object(w);
	if (t->alert_level == 0) {
		jsonw_key_lit(w, "level");
		jsonw_null(w);
		jsonw_key_lit(w, "description");
		jsonw_null(w);
	} else {
		const char *level = t->alert_level == 1 ? "warning"
				    : t->alert_level == 2 ? "fatal"
							  : NULL;

		jsonw_key_lit(w, "level");
		name_or_dec(w, level, t->alert_level);
		jsonw_key_lit(w, "description");
		name_or_dec(w, tls_alert_name(t->alert_desc), t->alert_desc);
	}
	jsonw_key_lit(w, "dir");
	if (t->alert_dir == DIR_OUT || t->alert_dir == DIR_IN)
		jsonw_str(w, t->alert_dir == DIR_OUT ? "out" : "in");
	else
		jsonw_null(w);
	jsonw_end_object(w);
}

/* {"bytes": n, "records": n} of application data in one direction. */
static void app_data_dir_object(struct json_writer *w, const struct tl_tls *t, enum tl_dir dir)
{
	jsonw_start_object(w);
	jsonw_member_u64(w, "bytes", t->app_bytes[dir]);
	jsonw_member_i64(w, "records", t->app_records[dir]);
	jsonw_end_object(w);
}

static void app_data_object(struct json_writer *w, const struct tl_tls *t)
{
	jsonw_start_object(w);
	jsonw_key_lit(w, "out");
	app_data_dir_object(w, t, DIR_OUT);
	jsonw_key_lit(w, "in");
	app_data_dir_object(w, t, DIR_IN);
	jsonw_end_object(w);
}

/* "library": {"name", "file"} of the TLS library seen by uprobes. */
static void library_object(struct json_writer *w, const struct tl_tls *t)
{
	jsonw_start_object(w);
	jsonw_key_lit(w, "name");
	utf8_string(w, t->library, sizeof(t->library));
	jsonw_key_lit(w, "file");
	utf8_string(w, t->library_file, sizeof(t->library_file));
	jsonw_end_object(w);
}

/* "tls": what the plaintext part of the handshake said; optional fields only when known. */
static void tls_object(struct json_writer *w, const struct tl_tls *t)
{
	jsonw_start_object(w);
	if (t->sni[0]) {
		jsonw_key_lit(w, "sni");
		utf8_string(w, t->sni, sizeof(t->sni));
	}
	if (t->n_alpn_offered || t->alpn_selected[0]) {
		jsonw_key_lit(w, "alpn");
		alpn_object(w, t);
	}
	if (t->version) {
		jsonw_key_lit(w, "version");
		name_or_hex(w, tls_version_name(t->version), t->version);
	}
	jsonw_key_lit(w, "offered_versions");
	versions_array(w, t);
	if (t->has_cipher) {
		jsonw_key_lit(w, "cipher");
		name_or_hex(w, tls_cipher_name(t->cipher), t->cipher);
	}
	if (t->has_group) {
		jsonw_key_lit(w, "group");
		name_or_hex(w, tls_group_name(t->group), t->group);
	}
	if (t->resumed >= 0) {
		jsonw_key_lit(w, "resumed");
		jsonw_bool(w, t->resumed > 0);
	}
	if (t->has_certs) {
		jsonw_key_lit(w, "cert_chain");
		cert_chain_object(w, t);
	}
	if (t->has_alert) {
		jsonw_key_lit(w, "alert");
		alert_object(w, t);
	}
	jsonw_key_lit(w, "app_data");
	app_data_object(w, t);
	jsonw_key_lit(w, "handshake_done");
	jsonw_bool(w, t->handshake_done);
	if (t->ttfb_estimated)
		jsonw_member_true(w, "ttfb_estimated");
	if (t->desync)
		jsonw_member_true(w, "desync");
	if (t->verify == 1)
		jsonw_member_str_lit(w, "verify", "ok");
	else if (t->verify)
		jsonw_member_str_lit(w, "verify", "failed");
	if (t->library[0]) {
		jsonw_key_lit(w, "library");
		library_object(w, t);
	}
	jsonw_end_object(w);
}

/* "tls_api": the TLS library's own handshake calls (uprobes). */
static void tls_api_object(struct json_writer *w, const struct tl_tls_api *a)
{
	jsonw_start_object(w);
	jsonw_member_u64(w, "calls", a->calls);
	jsonw_member_u64(w, "inside_us", (a->inside_ns + 500) / 1000);
	jsonw_member_i64(w, "result", a->result);
	jsonw_end_object(w);
}

/* "sources": which layers contributed, so a reader knows how much detail to expect. */
static void sources_array(struct json_writer *w, uint32_t sources)
{
	jsonw_start_array(w);
	if (sources & TL_SRC_KERNEL_TCP)
		jsonw_str_lit(w, "kernel-tcp");
	if (sources & TL_SRC_KERNEL_TLS)
		jsonw_str_lit(w, "kernel-tls");
	if (sources & TL_SRC_OPENSSL)
		jsonw_str_lit(w, "openssl");
	jsonw_end_array(w);
}

/* Writes the whole object. Returns 0, or -ENOMEM (the writer's error included). */
static int timeline_object(struct json_writer *w, const struct timeline *tl)
{
	const char *result = tl_result_name(tl->result); /* never NULL by contract; be safe */
	int err;

	jsonw_start_object(w);
	jsonw_member_str_lit(w, "schema", JSON_SCHEMA);
	jsonw_key_lit(w, "start");
	err = rfc3339_string(w, tl->start_wall_ns);
	jsonw_member_str(w, "role", tl_role_name(tl->role));
	if (tl->pid) {
		jsonw_member_i64(w, "pid", tl->pid);
	} else {
		jsonw_key_lit(w, "pid");
		jsonw_null(w);
	}
	jsonw_key_lit(w, "comm");
	if (tl->pid && tl->comm[0])
		utf8_string(w, tl->comm, sizeof(tl->comm));
	else
		jsonw_null(w);
	jsonw_key_lit(w, "local");
	endpoint_object(w, tl, true);
	jsonw_key_lit(w, "peer");
	endpoint_object(w, tl, false);
	jsonw_member_i64(w, "ip_version", tl->ip_version);
	jsonw_member_str(w, "result", result ? result : "unknown");
	jsonw_key_lit(w, "events");
	events_array(w, tl);
	jsonw_key_lit(w, "phases_us");
	phases_object(w, tl);
	jsonw_key_lit(w, "phases");
	phases_array(w, tl);
	jsonw_key_lit(w, "tcp");
	tcp_object(w, tl);
	if (tl->tls.seen) {
		jsonw_key_lit(w, "tls");
		tls_object(w, &tl->tls);
	}
	if (tl->tls_api.seen) {
		jsonw_key_lit(w, "tls_api");
		tls_api_object(w, &tl->tls_api);
	}
	if (tl->sources) {
		jsonw_key_lit(w, "sources");
		sources_array(w, tl->sources);
	}
	jsonw_member_u64(w, "cookie", tl->cookie);
	if (tl->conn_id) {
		char id[CONN_ID_HEX_LEN];

		jsonw_member_str(w, "conn_id", conn_id_format(tl->conn_id, id));
	}
	jsonw_end_object(w);
	return err ?: jsonw_error(w);
}

/* A line fits in this much stack unless the connection has many events. */
#define LINE_BUF_SIZE 4096

int render_json_line(FILE *out, const struct timeline *tl)
{
	char buf[LINE_BUF_SIZE];
	struct json_writer w;
	int err;

	jsonw_init(&w, buf, sizeof(buf));
	err = timeline_object(&w, tl);
	jsonw_raw(&w, "\n", 1);
	err = err ?: jsonw_error(&w);
	if (!err && (fwrite(jsonw_text(&w), 1, jsonw_len(&w), out) != jsonw_len(&w) || ferror(out)))
		err = -EIO;
	jsonw_free(&w);
	return err;
}
