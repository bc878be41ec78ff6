// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * render_json.c - one NDJSON object per finished connection (schema "hstrace/2").
 *
 * docs/json.md is the reference for every field. Field names are an interface: later versions
 * only add fields, never rename or remove one.
 */
#define _GNU_SOURCE /* strerrorname_np() */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "render.h"
#include "tls_parse.h"
#include "json_build.h"

#define JSON_SCHEMA "hstrace/2"

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one (RFC 3629: no
 * overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

/* The first bytes of s (up to its NUL, at most max <= UTF8_STRING_MAX) as a JSON string. The
 * bytes come from the kernel or the wire (a comm cut at 15 bytes possibly inside a UTF-8
 * sequence, an SNI or ALPN name sent by the peer): every byte that is not valid UTF-8 becomes
 * U+FFFD so the line stays valid JSON. Returns NULL on out-of-memory. */
#define UTF8_STRING_MAX 256

static struct json_object *utf8_string(const char *str, size_t max)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n, i = 0, o = 0;
	char buf[UTF8_STRING_MAX * 3 + 1];

	n = strnlen(str, max < UTF8_STRING_MAX ? max : UTF8_STRING_MAX);
	while (i < n) {
		size_t len = utf8_seq_len(s + i, n - i);

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
	return json_object_new_string_len(buf, (int)o);
}

/* RFC 3339 UTC with microseconds (rounded down): "2026-11-27T07:35:05.123456Z". */
static struct json_object *rfc3339_string(int64_t wall_ns)
{
	int64_t secs = wall_ns / 1000000000, frac_ns = wall_ns % 1000000000;
	time_t t;
	struct tm tm;
	char buf[64];

	if (frac_ns < 0) {
		frac_ns += 1000000000;
		secs--;
	}
	t = (time_t)secs;
	/* Cannot fail for any int64 ns time; NULL is reported as out-of-memory. */
	if (!gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm))
		return NULL;
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%06dZ", (int)(frac_ns / 1000));
	return json_object_new_string(buf);
}

/* {"addr": "...", "port": n} for the local or remote end. */
static struct json_object *endpoint_object(const struct timeline *tl, bool local)
{
	struct json_object *ep = json_object_new_object();
	char addr[INET6_ADDRSTRLEN];

	if (!ep)
		return NULL;
	render_addr(tl, local, addr, sizeof(addr));
	if (json_add_str(ep, "addr", addr) || json_add_i64(ep, "port", local ? tl->lport : tl->rport)) {
		json_object_put(ep);
		return NULL;
	}
	return ep;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static struct json_object *event_object(const struct tl_event *ev, uint64_t base_ns)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_i64(o, "t_us", floor_div((int64_t)(ev->ts_ns - base_ns), 1000));
	err = err ?: json_add_str(o, "event", tl_event_name(ev->event));
	if (!err && ev->dir != DIR_NONE)
		err = json_add_str(o, "dir", ev->dir == DIR_OUT ? "out" : "in");
	if (!err && ev->app_ns)
		err = json_add_i64(o, "app_us",
				   floor_div((int64_t)(ev->app_ns - base_ns), 1000));
	if (!err && ev->len > 0)
		err = json_add_i64(o, "len", ev->len);
	if (!err && ev->records > 0)
		err = json_add_i64(o, "records", ev->records);
	if (!err && ev->derived)
		err = json_add_bool(o, "derived", true);
	if (!err && ev->estimated)
		err = json_add_bool(o, "estimated", true);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "events": t_us counts from the first event (events are sorted by time). */
static struct json_object *events_array(const struct timeline *tl)
{
	struct json_object *arr = json_object_new_array_ext(tl->n_events ? (int)tl->n_events : 1);
	uint64_t base_ns = tl->n_events ? tl->events[0].ts_ns : tl->start_ns;
	size_t i;

	if (!arr)
		return NULL;
	for (i = 0; i < tl->n_events; i++) {
		struct json_object *ev = event_object(&tl->events[i], base_ns);

		if (!ev || json_object_array_add(arr, ev)) {
			json_object_put(ev);
			json_object_put(arr);
			return NULL;
		}
	}
	return arr;
}

/* "phases_us": every phase the timeline has, in µs rounded to the nearest. */
static struct json_object *phases_object(const struct timeline *tl)
{
	struct json_object *o = json_object_new_object();
	size_t i, n = tl->n_phases < TL_MAX_PHASES ? tl->n_phases : TL_MAX_PHASES;

	if (!o)
		return NULL;
	for (i = 0; i < n; i++) {
		const struct tl_phase *ph = &tl->phases[i];

		if (!ph->name)
			continue;
		if (json_add_u64(o, ph->name, ph->dur_ns / 1000 + (ph->dur_ns % 1000 >= 500))) {
			json_object_put(o);
			return NULL;
		}
	}
	return o;
}

/* errno name of a socket error ("ECONNREFUSED"); an unknown value is given as its number. */
static struct json_object *errno_string(int32_t err)
{
	const char *name;
	char buf[16];

	if (err < 0)
		err = -err;
	name = strerrorname_np(err);
	if (name)
		return json_object_new_string(name);
	snprintf(buf, sizeof(buf), "%d", err);
	return json_object_new_string(buf);
}

static struct json_object *tcp_object(const struct timeline *tl)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_i64(o, "syn_retransmits", tl->syn_retransmits);
	err = err ?: json_add_i64(o, "srtt_us", tl->srtt_us);
	err = err ?: json_add_u64(o, "bytes_sent", tl->bytes_sent);
	err = err ?: json_add_u64(o, "bytes_received", tl->bytes_received);
	if (!err && tl->sk_err)
		err = json_add(o, "error", errno_string(tl->sk_err));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* name, or the IANA number as "0x%04X" when this build has no name for it. */
static struct json_object *name_or_hex(const char *name, uint16_t id)
{
	char buf[8];

	if (name)
		return json_object_new_string(name);
	snprintf(buf, sizeof(buf), "0x%04X", id);
	return json_object_new_string(buf);
}

/* name, or the number in decimal when this build has no name for it (as tcp.error does). */
static struct json_object *name_or_dec(const char *name, unsigned int id)
{
	char buf[16];

	if (name)
		return json_object_new_string(name);
	snprintf(buf, sizeof(buf), "%u", id);
	return json_object_new_string(buf);
}

/* "alpn": {"offered": [...], "selected": "..."}; selected only when known. */
static struct json_object *alpn_object(const struct tl_tls *t)
{
	struct json_object *o = json_object_new_object(), *arr;
	size_t i, n = t->n_alpn_offered < TL_MAX_ALPN ? t->n_alpn_offered : TL_MAX_ALPN;
	int err;

	if (!o)
		return NULL;
	arr = json_object_new_array_ext(n ? (int)n : 1);
	err = json_add(o, "offered", arr);
	for (i = 0; !err && i < n; i++) {
		struct json_object *name = utf8_string(t->alpn_offered[i], TL_ALPN_LEN);

		if (!name || json_object_array_add(arr, name)) {
			json_object_put(name);
			err = -ENOMEM;
		}
	}
	if (!err && t->alpn_selected[0])
		err = json_add(o, "selected", utf8_string(t->alpn_selected, TL_ALPN_LEN));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "offered_versions": the client's supported_versions, as names ("1.3") or "0x%04X". */
static struct json_object *versions_array(const struct tl_tls *t)
{
	size_t i, n = t->n_offered_versions < TL_MAX_VERSIONS ? t->n_offered_versions
							       : TL_MAX_VERSIONS;
	struct json_object *arr = json_object_new_array_ext(n ? (int)n : 1);

	if (!arr)
		return NULL;
	for (i = 0; i < n; i++) {
		uint16_t v = t->offered_versions[i];
		struct json_object *name = name_or_hex(tls_version_name(v), v);

		if (!name || json_object_array_add(arr, name)) {
			json_object_put(name);
			json_object_put(arr);
			return NULL;
		}
	}
	return arr;
}

/* "cert_chain": {"count": n, "bytes": n} */
static struct json_object *cert_chain_object(const struct tl_tls *t)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_i64(o, "count", t->cert_count);
	err = err ?: json_add_i64(o, "bytes", t->cert_bytes);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "alert": level and description are null when the alert was encrypted (level 0); a value
 * with no name is given as its decimal number; dir is null when unknown. */
static struct json_object *alert_object(const struct tl_tls *t)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	if (t->alert_level == 0) {
		err = json_add_null(o, "level");
		err = err ?: json_add_null(o, "description");
	} else {
		const char *level = t->alert_level == 1 ? "warning"
				    : t->alert_level == 2 ? "fatal"
							  : NULL;

		err = json_add(o, "level", name_or_dec(level, t->alert_level));
		err = err ?: json_add(o, "description",
				 name_or_dec(tls_alert_name(t->alert_desc), t->alert_desc));
	}
	if (!err && (t->alert_dir == DIR_OUT || t->alert_dir == DIR_IN))
		err = json_add_str(o, "dir", t->alert_dir == DIR_OUT ? "out" : "in");
	else if (!err)
		err = json_add_null(o, "dir");
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* {"bytes": n, "records": n} of application data in one direction. */
static struct json_object *app_data_dir_object(const struct tl_tls *t, enum tl_dir dir)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_u64(o, "bytes", t->app_bytes[dir]);
	err = err ?: json_add_i64(o, "records", t->app_records[dir]);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static struct json_object *app_data_object(const struct tl_tls *t)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add(o, "out", app_data_dir_object(t, DIR_OUT));
	err = err ?: json_add(o, "in", app_data_dir_object(t, DIR_IN));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "library": {"name", "file"} of the TLS library seen by uprobes. */
static struct json_object *library_object(const struct tl_tls *t)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add(o, "name", utf8_string(t->library, sizeof(t->library)));
	err = err ?: json_add(o, "file", utf8_string(t->library_file, sizeof(t->library_file)));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "tls": what the plaintext part of the handshake said; optional fields only when known. */
static struct json_object *tls_object(const struct tl_tls *t)
{
	struct json_object *o = json_object_new_object();
	int err = 0;

	if (!o)
		return NULL;
	if (t->sni[0])
		err = json_add(o, "sni", utf8_string(t->sni, sizeof(t->sni)));
	if (!err && (t->n_alpn_offered || t->alpn_selected[0]))
		err = json_add(o, "alpn", alpn_object(t));
	if (!err && t->version)
		err = json_add(o, "version", name_or_hex(tls_version_name(t->version), t->version));
	err = err ?: json_add(o, "offered_versions", versions_array(t));
	if (!err && t->has_cipher)
		err = json_add(o, "cipher", name_or_hex(tls_cipher_name(t->cipher), t->cipher));
	if (!err && t->has_group)
		err = json_add(o, "group", name_or_hex(tls_group_name(t->group), t->group));
	if (!err && t->resumed >= 0)
		err = json_add_bool(o, "resumed", t->resumed > 0);
	if (!err && t->has_certs)
		err = json_add(o, "cert_chain", cert_chain_object(t));
	if (!err && t->has_alert)
		err = json_add(o, "alert", alert_object(t));
	err = err ?: json_add(o, "app_data", app_data_object(t));
	err = err ?: json_add_bool(o, "handshake_done", t->handshake_done);
	if (!err && t->ttfb_estimated)
		err = json_add_bool(o, "ttfb_estimated", true);
	if (!err && t->desync)
		err = json_add_bool(o, "desync", true);
	if (!err && t->verify)
		err = json_add_str(o, "verify", t->verify == 1 ? "ok" : "failed");
	if (!err && t->library[0])
		err = json_add(o, "library", library_object(t));
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "tls_api": the TLS library's own handshake calls (uprobes). */
static struct json_object *tls_api_object(const struct tl_tls_api *a)
{
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_u64(o, "calls", a->calls);
	err = err ?: json_add_u64(o, "inside_us", (a->inside_ns + 500) / 1000);
	err = err ?: json_add_i64(o, "result", a->result);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* "sources": which layers contributed, so a reader knows how much detail to expect. */
static struct json_object *sources_array(uint32_t sources)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ TL_SRC_KERNEL_TCP, "kernel-tcp" },
		{ TL_SRC_KERNEL_TLS, "kernel-tls" },
		{ TL_SRC_OPENSSL, "openssl" },
	};
	struct json_object *a = json_object_new_array();
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(sources & names[i].bit))
			continue;
		if (json_object_array_add(a, json_object_new_string(names[i].name))) {
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* Builds the whole object. Returns NULL on out-of-memory. */
static struct json_object *timeline_object(const struct timeline *tl)
{
	const char *result = tl_result_name(tl->result); /* never NULL by contract; be safe */
	struct json_object *o = json_object_new_object();
	int err;

	if (!o)
		return NULL;
	err = json_add_str(o, "schema", JSON_SCHEMA);
	err = err ?: json_add(o, "start", rfc3339_string(tl->start_wall_ns));
	err = err ?: json_add_str(o, "role", tl_role_name(tl->role));
	if (!err && tl->pid) {
		err = json_add_i64(o, "pid", tl->pid);
		err = err ?: (tl->comm[0] ? json_add(o, "comm", utf8_string(tl->comm, sizeof(tl->comm)))
					  : json_add_null(o, "comm"));
	} else if (!err) {
		err = json_add_null(o, "pid");
		err = err ?: json_add_null(o, "comm");
	}
	err = err ?: json_add(o, "local", endpoint_object(tl, true));
	err = err ?: json_add(o, "peer", endpoint_object(tl, false));
	err = err ?: json_add_i64(o, "ip_version", tl->ip_version);
	err = err ?: json_add_str(o, "result", result ? result : "unknown");
	err = err ?: json_add(o, "events", events_array(tl));
	err = err ?: json_add(o, "phases_us", phases_object(tl));
	err = err ?: json_add(o, "tcp", tcp_object(tl));
	if (!err && tl->tls.seen)
		err = json_add(o, "tls", tls_object(&tl->tls));
	if (!err && tl->tls_api.seen)
		err = json_add(o, "tls_api", tls_api_object(&tl->tls_api));
	if (!err && tl->sources)
		err = json_add(o, "sources", sources_array(tl->sources));
	err = err ?: json_add_u64(o, "cookie", tl->cookie);
	if (err) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int render_json_line(FILE *out, const struct timeline *tl)
{
	struct json_object *o = timeline_object(tl);
	const char *s;
	int ret = 0;

	if (!o)
		return -ENOMEM;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		ret = -ENOMEM;
	else if (fputs(s, out) == EOF || putc('\n', out) == EOF || ferror(out))
		ret = -EIO;
	json_object_put(o);
	return ret;
}
