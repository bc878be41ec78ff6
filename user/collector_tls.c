// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * collector_tls.c - the TLS layer of the per-connection timeline.
 *
 * BPF reports TLS as seen in the socket's own read/write calls: record headers, plaintext
 * handshake message headers, the start of hello bodies and the bytes of plaintext alerts. All
 * records of one call carry that call's return time. Plaintext facts (versions, SNI, cipher,
 * certificates) are taken as records arrive. Whatever depends on order - which encrypted record
 * is a handshake flight, a ticket or data; whether an alert came before the handshake
 * completed - is decided when the connection is finalised, from a log of observations sorted by
 * (time, arrival), so records that arrive slightly out of order from other CPUs do not change
 * the outcome. Each logged observation yields at most one event, which is how collector.c knows
 * the room finalising needs without allocating then.
 *
 * The log is small and bounded. Only what can become an event is logged: not plaintext
 * handshake record headers (their messages are), and of TLS <= 1.2 application data only the
 * first record of a direction (the rest is counted). Type-23 records are logged up to
 * OBS_DATA_MAX per direction (a TLS 1.3 handshake, its tickets and the first data need far
 * fewer) and counted as application data beyond. At most OBS_MAX entries of 24 bytes; past
 * that, other records are dropped. Rules, estimates and limits: docs/tls.md.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collector_tls.h"
#include "tls_parse.h"

#define OBS_INITIAL 16
#define OBS_MAX 128
#define OBS_DATA_MAX 32
#define CALLS_INITIAL 16
#define CALLS_MAX 128 /* application calls remembered, both directions */
#define SPARE_OBS_MAX 32   /* a spare keeps its log up to this capacity, */
#define SPARE_CALLS_MAX 32 /* and its calls: what a handshake and a request need */
#define ENDS_MAX 32   /* records completed by a later packet than their header's */

#define TLS_1_3 0x0304

/* A TLS 1.3 alert record: 2 alert bytes + 1 inner content type + 16-byte AEAD tag. No
 * handshake message or ticket is that short. */
#define TLS13_ALERT_LEN 19
/* Longest record taken for a ticket in the client's leading run (OpenSSL/nginx: ~250). */
#define TICKET_MAX_LEN 512

enum content_type {
	CT_CHANGE_CIPHER_SPEC = 20,
	CT_ALERT = 21,
	CT_HANDSHAKE = 22,
	CT_APPLICATION_DATA = 23,
};

enum handshake_type {
	HT_CLIENT_HELLO = 1,
	HT_SERVER_HELLO = 2,
	HT_NEW_SESSION_TICKET = 4,
	HT_CERTIFICATE = 11,
	HT_SERVER_KEY_EXCHANGE = 12,
	HT_CERTIFICATE_REQUEST = 13,
	HT_SERVER_HELLO_DONE = 14,
	HT_CERTIFICATE_VERIFY = 15,
	HT_CLIENT_KEY_EXCHANGE = 16,
};

_Static_assert(sizeof(((struct tl_tls *)0)->sni) == sizeof(((struct tls_hello *)0)->sni),
	       "sni length");

/* One logged observation: a record header or a handshake message header. */
struct tls_obs {
	uint64_t ts_ns;	      /* when its packet passed this host's TCP stack */
	uint64_t app_ns;      /* when the application wrote / read it (obs_app_times()), 0 unknown */
	uint64_t call_ns;     /* app_ns, or ts_ns when unknown: orders the log for the rules */
	uint64_t seq;	      /* arrival sequence number */
	uint32_t len;	      /* record / handshake message body bytes */
	uint32_t rec_seq;     /* stream offset of the record it is in */
	uint32_t rec_len;     /* body bytes of that record, 0 unknown */
	uint8_t what : 2;     /* HS_TLS_RECORD or HS_TLS_HANDSHAKE */
	uint8_t dir : 2;      /* DIR_OUT or DIR_IN */
	uint8_t hrr : 1;      /* a ServerHello that is a HelloRetryRequest */
	uint8_t type;	      /* content type (record) or handshake type */
	uint8_t alert_level;  /* alert record: from its plaintext bytes, 0 when encrypted */
	uint8_t alert_desc;
};

_Static_assert(sizeof(struct tls_obs) == 48, "keep the log compact");

/* A record whose header came in an earlier packet was completed by a packet at ts_ns. */
struct tls_rec_end {
	uint64_t ts_ns;
	uint32_t rec_seq;
	uint8_t dir;
};

/* An application call that moved bytes of one direction: the stream up to seq_end was
 * written (out) or read (in) by ts_ns. */
struct tls_call {
	uint64_t ts_ns;
	uint32_t seq_end;
	uint8_t dir;
};

struct alert_note {
	bool have;
	uint8_t level;
	uint8_t desc;
	uint8_t dir;
	uint64_t ts_ns;
	uint64_t seq;
};

struct conn_tls {
	struct tl_tls meta;	   /* plaintext fields, as they arrive; copied out at emission */
	struct tls_obs *obs;	   /* in arrival order until conn_tls_add_events() sorts it */
	size_t n_obs;
	size_t cap_obs;
	struct tls_call *calls;	   /* application calls, in arrival order */
	size_t n_calls;
	size_t cap_calls;
	struct tls_rec_end ends[ENDS_MAX];
	size_t n_ends;
	uint64_t desync_ns;	   /* when the framing of a direction was lost first, 0 never */
	uint32_t rec_at[3];	   /* the last record header seen, by direction: its offset */
	uint32_t rec_len[3];	   /* and body bytes (0 none yet) */
	uint32_t n_data[3];	   /* type-23 records logged, by enum tl_dir */
	uint64_t more_bytes[3];	   /* type-23 records counted, not logged: application data */
	uint32_t more_records[3];

	/* Arrival-time state (one direction's records come from one side's calls, in order). */
	bool ccs[3];		   /* change_cipher_spec seen in this direction */
	bool fin_logged[3];	   /* the handshake record after it is logged */
	uint8_t ch_dir;		   /* direction of the first client_hello, DIR_NONE before */
	bool have_ch;		   /* a ClientHello body was parsed */
	bool have_sh;		   /* a ServerHello (not HRR) body was parsed */
	bool have_hrr;
	bool sh_psk;		   /* the ServerHello selected a pre-shared key */
	uint8_t ch_sid_len;
	uint8_t sh_sid_len;
	uint8_t ch_sid[32];
	uint8_t sh_sid[32];

	/* Set while finalising. */
	bool client_view;	   /* this end sent the ClientHello (else the role decides) */
	struct alert_note first_alert;
	struct alert_note fatal_alert;	 /* first alert with level 2 */
	struct alert_note first_serious; /* first alert not known to be a warning */
	bool saw_client_hello;
	bool done;		   /* the handshake completed */
	bool alert_failed;	   /* an alert made the handshake (or connection) fail */
	bool mtls_rejected;	   /* TLS 1.3: the server answered a client certificate with an
				    * (encrypted) alert before any of its data: server_alert() */

	struct conn_tls *next_spare; /* in struct conn_tls_spares */
};

/* A TLS state as calloc() gives it, from the spares when there is one (their arrays kept,
 * empty). NULL when out of memory. */
static struct conn_tls *conn_tls_new(struct conn_tls_spares *spares)
{
	struct conn_tls *tls = spares ? spares->head : NULL;
	struct tls_obs *obs;
	struct tls_call *calls;
	size_t cap_obs, cap_calls;

	if (!tls)
		return calloc(1, sizeof(*tls));
	spares->head = tls->next_spare;
	spares->n--;
	obs = tls->obs;
	cap_obs = tls->cap_obs;
	calls = tls->calls;
	cap_calls = tls->cap_calls;
	memset(tls, 0, sizeof(*tls));
	tls->obs = obs;
	tls->cap_obs = cap_obs;
	tls->calls = calls;
	tls->cap_calls = cap_calls;
	return tls;
}

void conn_tls_free(struct conn_tls_spares *spares, struct conn_tls *tls)
{
	if (!tls)
		return;
	if (spares && spares->n < CONN_TLS_SPARES_MAX) {
		/* Arrays grown past a usual connection's go: a spare stays small. */
		if (tls->cap_obs > SPARE_OBS_MAX) {
			free(tls->obs);
			tls->obs = NULL;
			tls->cap_obs = 0;
		}
		if (tls->cap_calls > SPARE_CALLS_MAX) {
			free(tls->calls);
			tls->calls = NULL;
			tls->cap_calls = 0;
		}
		tls->next_spare = spares->head;
		spares->head = tls;
		spares->n++;
		return;
	}
	free(tls->obs);
	free(tls->calls);
	free(tls);
}

void conn_tls_spares_free(struct conn_tls_spares *spares)
{
	struct conn_tls *tls;

	while ((tls = spares->head)) {
		spares->head = tls->next_spare;
		conn_tls_free(NULL, tls);
	}
	spares->n = 0;
}

int tls_record_read(struct hs_tls_rec *rec, const void *data, size_t size)
{
	const size_t hdr = HS_TLS_REC_HDR_SIZE;

	if (!rec || !data || size < hdr)
		return -EINVAL;
	memcpy(rec, data, hdr);
	if (rec->hdr.kind != HS_REC_TLS || rec->hdr.size != size)
		return -EINVAL;
	if (rec->data_len > HS_TLS_DATA_MAX || size != hdr + rec->data_len)
		return -EINVAL;
	if (rec->dir != HS_DIR_OUT && rec->dir != HS_DIR_IN)
		return -EINVAL;
	if (rec->what < HS_TLS_RECORD || rec->what > HS_TLS_RECORD_END)
		return -EINVAL;
	memcpy(rec->data, (const uint8_t *)data + hdr, rec->data_len);
	return 0;
}

/* Returns the event a plaintext handshake message gives, or 0. */
static uint16_t handshake_event(uint8_t hs_type, bool hrr)
{
	switch (hs_type) {
	case HT_CLIENT_HELLO:
		return TL_EV_CLIENT_HELLO;
	case HT_SERVER_HELLO:
		return hrr ? TL_EV_HELLO_RETRY_REQUEST : TL_EV_SERVER_HELLO;
	case HT_NEW_SESSION_TICKET:
		return TL_EV_NEW_SESSION_TICKET;
	case HT_CERTIFICATE:
		return TL_EV_CERTIFICATE;
	case HT_SERVER_KEY_EXCHANGE:
		return TL_EV_SERVER_KEY_EXCHANGE;
	case HT_CERTIFICATE_REQUEST:
		return TL_EV_CERTIFICATE_REQUEST;
	case HT_SERVER_HELLO_DONE:
		return TL_EV_SERVER_HELLO_DONE;
	case HT_CERTIFICATE_VERIFY:
		return TL_EV_CERTIFICATE_VERIFY;
	case HT_CLIENT_KEY_EXCHANGE:
		return TL_EV_CLIENT_KEY_EXCHANGE;
	default:
		return 0;
	}
}

static bool is_hello(const struct hs_tls_rec *rec)
{
	return rec->what == HS_TLS_HANDSHAKE && rec->data_len &&
	       (rec->hs_type == HT_CLIENT_HELLO || rec->hs_type == HT_SERVER_HELLO);
}

/* Whether rec goes to the log: only what can become an event, within the bounds. */
static bool obs_wanted(const struct conn_tls *tls, const struct tl_tls *out,
		       const struct hs_tls_rec *rec, uint8_t dir)
{
	if (tls->n_obs >= OBS_MAX)
		return false;
	if (rec->what == HS_TLS_HANDSHAKE)
		return handshake_event(rec->hs_type, false) != 0;
	if (rec->what != HS_TLS_RECORD)
		return false;
	switch (rec->content_type) {
	case CT_CHANGE_CIPHER_SPEC:
	case CT_ALERT:
		return true;
	case CT_HANDSHAKE:
		/* Only the first one after a CCS can be a (TLS <= 1.2) Finished. */
		return tls->ccs[dir] && !tls->fin_logged[dir];
	case CT_APPLICATION_DATA:
		/* TLS <= 1.2: only the first record of a direction makes an event. */
		if (out->version && out->version != TLS_1_3 && tls->n_data[dir])
			return false;
		return tls->n_data[dir] < OBS_DATA_MAX;
	default:
		return false;
	}
}

/* Makes room for one more observation. Returns 0 or -ENOMEM. */
static int obs_reserve(struct conn_tls *tls)
{
	struct tls_obs *obs;
	size_t cap;

	if (tls->n_obs < tls->cap_obs)
		return 0;
	cap = tls->cap_obs ? tls->cap_obs * 2 : OBS_INITIAL;
	if (cap > OBS_MAX)
		cap = OBS_MAX;
	obs = realloc(tls->obs, cap * sizeof(*obs));
	if (!obs)
		return -ENOMEM;
	tls->obs = obs;
	tls->cap_obs = cap;
	return 0;
}

static void obs_push(struct conn_tls *tls, const struct hs_tls_rec *rec, uint8_t dir, uint64_t seq,
		     bool hrr)
{
	struct tls_obs *o = &tls->obs[tls->n_obs++];

	memset(o, 0, sizeof(*o));
	o->ts_ns = rec->hdr.ts_ns;
	o->seq = seq;
	o->len = rec->len;
	o->rec_seq = rec->seq;
	o->what = rec->what;
	o->dir = dir;
	o->hrr = hrr;
	if (rec->what == HS_TLS_HANDSHAKE) {
		o->type = rec->hs_type;
		if (tls->rec_len[dir] && tls->rec_at[dir] == rec->seq)
			o->rec_len = tls->rec_len[dir];
		return;
	}
	o->rec_len = rec->len;
	o->type = rec->content_type;
	if (rec->content_type == CT_ALERT && rec->data_len >= 2) {
		o->alert_level = rec->data[0];
		o->alert_desc = rec->data[1];
	} else if (rec->content_type == CT_APPLICATION_DATA) {
		tls->n_data[dir]++;
	} else if (rec->content_type == CT_HANDSHAKE) {
		tls->fin_logged[dir] = true;
	}
}

static void copy_alpn(char *dst, const char *src)
{
	memcpy(dst, src, TL_ALPN_LEN);
	dst[TL_ALPN_LEN - 1] = '\0';
}

/* The first ClientHello tells what the client offered (a second one, after a
 * HelloRetryRequest, offers the same). */
static void take_client_hello(struct conn_tls *tls, struct tl_tls *out, const struct tls_hello *h)
{
	size_t i, n;

	if (tls->have_ch)
		return;
	tls->have_ch = true;
	memcpy(out->sni, h->sni, sizeof(out->sni));
	out->sni[sizeof(out->sni) - 1] = '\0';
	n = h->n_alpn < TL_MAX_ALPN ? h->n_alpn : TL_MAX_ALPN;
	for (i = 0; i < n; i++)
		copy_alpn(out->alpn_offered[i], h->alpn[i]);
	out->n_alpn_offered = n;
	if (h->n_versions) {
		n = h->n_versions < TL_MAX_VERSIONS ? h->n_versions : TL_MAX_VERSIONS;
		memcpy(out->offered_versions, h->versions, n * sizeof(h->versions[0]));
		out->n_offered_versions = n;
	} else {
		out->offered_versions[0] = h->legacy_version;
		out->n_offered_versions = 1;
	}
	tls->ch_sid_len = h->session_id_len <= 32 ? h->session_id_len : 32;
	memcpy(tls->ch_sid, h->session_id, tls->ch_sid_len);
}

/* A HelloRetryRequest fills in what the ServerHello has not (yet) said; the ServerHello is
 * final. */
static void take_server_hello(struct conn_tls *tls, struct tl_tls *out, const struct tls_hello *h)
{
	if (tls->have_sh || (h->hrr && tls->have_hrr))
		return;
	if (h->hrr) {
		tls->have_hrr = true;
	} else {
		tls->have_sh = true;
		tls->sh_psk = h->psk;
		tls->sh_sid_len = h->session_id_len <= 32 ? h->session_id_len : 32;
		memcpy(tls->sh_sid, h->session_id, tls->sh_sid_len);
	}
	out->version = h->n_versions ? h->versions[0] : h->legacy_version;
	if (h->cipher) { /* 0 (TLS_NULL_WITH_NULL_NULL) is never negotiated: body cut short */
		out->has_cipher = true;
		out->cipher = h->cipher;
	}
	if (h->n_groups) {
		out->has_group = true;
		out->group = h->groups[0];
	}
	if (h->n_alpn)
		copy_alpn(out->alpn_selected, h->alpn[0]);
}

static void take_handshake(struct conn_tls *tls, struct tl_tls *out, const struct hs_tls_rec *rec,
			   uint8_t dir, const struct tls_hello *hello)
{
	uint16_t group;

	switch (rec->hs_type) {
	case HT_CLIENT_HELLO:
		if (!tls->ch_dir)
			tls->ch_dir = dir;
		if (hello)
			take_client_hello(tls, out, hello);
		break;
	case HT_SERVER_HELLO:
		if (hello)
			take_server_hello(tls, out, hello);
		break;
	case HT_SERVER_KEY_EXCHANGE:
		if (rec->data_len && tls_parse_ske_group(rec->data, rec->data_len, &group) == 0) {
			out->has_group = true;
			out->group = group;
		}
		break;
	default:
		break;
	}
}

/* The server's chain: the Certificate message that travels against the ClientHello (a client
 * certificate goes the other way). */
static void take_certs(struct conn_tls *tls, struct tl_tls *out, const struct hs_tls_rec *rec,
		       uint8_t dir)
{
	if ((tls->ch_dir && dir == tls->ch_dir) || out->has_certs)
		return;
	out->has_certs = true;
	out->cert_count = rec->count;
	out->cert_bytes = rec->len;
}

/* Stream offset just past the record that o is in; just past its header when the record's
 * length is unknown (a handshake message whose record header was not seen). */
static uint32_t obs_record_end(const struct tls_obs *o)
{
	return o->rec_seq + 5 + (o->rec_len ? o->rec_len : 1);
}

void conn_tls_sent(struct conn_tls *tls, uint32_t seq, uint32_t len, uint64_t ts_ns)
{
	size_t j;

	if (!tls)
		return;
	for (j = 0; j < tls->n_obs; j++) {
		struct tls_obs *o = &tls->obs[j];

		if (o->dir == DIR_OUT && o->ts_ns < ts_ns && obs_record_end(o) - 1 - seq < len)
			o->ts_ns = ts_ns;
	}
}

int conn_tls_add(struct conn_tls_spares *spares, struct conn_tls **tlsp,
		 const struct hs_tls_rec *rec, uint64_t seq)
{
	uint8_t dir = rec->dir == HS_DIR_OUT ? DIR_OUT : DIR_IN;
	struct conn_tls *tls = *tlsp;
	struct tls_hello hello;
	bool noise, parsed = false, log, created = false;
	struct tl_tls *out;

	/* After its CCS, a TLS <= 1.2 direction is encrypted: handshake framing there would be
	 * ciphertext read as headers (BPF stops reading it there; this guards the rules). */
	noise = tls && tls->ccs[dir] && tls->meta.version != TLS_1_3 &&
		(rec->what == HS_TLS_HANDSHAKE || rec->what == HS_TLS_CERTS);
	if (!noise && is_hello(rec)) {
		if (tls_parse_hello(rec->data, rec->data_len, rec->hs_type == HT_SERVER_HELLO,
				    &hello))
			return -EINVAL;
		parsed = true;
	}
	if (!tls) {
		tls = conn_tls_new(spares);
		if (!tls)
			return -ENOMEM;
		created = true;
	}
	out = &tls->meta;
	log = !noise && obs_wanted(tls, out, rec, dir);
	if (log && obs_reserve(tls)) {
		if (created)
			conn_tls_free(spares, tls);
		return -ENOMEM;
	}
	*tlsp = tls;

	out->seen = true;
	if (noise)
		return 0;
	if (log)
		obs_push(tls, rec, dir, seq, parsed && hello.hrr);
	switch (rec->what) {
	case HS_TLS_RECORD:
		tls->rec_at[dir] = rec->seq;
		tls->rec_len[dir] = rec->len;
		if (rec->content_type == CT_CHANGE_CIPHER_SPEC) {
			tls->ccs[dir] = true;
		} else if (rec->content_type == CT_APPLICATION_DATA && !log) {
			tls->more_bytes[dir] += rec->len;
			tls->more_records[dir]++;
		}
		break;
	case HS_TLS_HANDSHAKE:
		take_handshake(tls, out, rec, dir, parsed ? &hello : NULL);
		break;
	case HS_TLS_CERTS:
		take_certs(tls, out, rec, dir);
		break;
	case HS_TLS_DESYNC:
		out->desync = true;
		if (!tls->desync_ns || rec->hdr.ts_ns < tls->desync_ns)
			tls->desync_ns = rec->hdr.ts_ns;
		break;
	case HS_TLS_RECORD_END:
		if (tls->n_ends < ENDS_MAX)
			tls->ends[tls->n_ends++] = (struct tls_rec_end){
				.ts_ns = rec->hdr.ts_ns, .rec_seq = rec->seq, .dir = dir };
		break;
	default:
		break;
	}
	return 0;
}

int io_record_read(struct hs_io_rec *rec, const void *data, size_t size)
{
	if (!rec || !data || size != sizeof(*rec))
		return -EINVAL;
	memcpy(rec, data, sizeof(*rec));
	if (rec->hdr.kind != HS_REC_IO || rec->hdr.size != size)
		return -EINVAL;
	if (rec->dir != HS_DIR_OUT && rec->dir != HS_DIR_IN)
		return -EINVAL;
	return 0;
}

int conn_tls_add_io(struct conn_tls_spares *spares, struct conn_tls **tlsp,
		    const struct hs_io_rec *rec)
{
	struct conn_tls *tls = *tlsp;
	struct tls_call *calls;
	size_t cap;

	if (!tls) {
		tls = conn_tls_new(spares);
		if (!tls)
			return -ENOMEM;
		*tlsp = tls;
	}
	if (tls->n_calls >= CALLS_MAX)
		return 0; /* far past the handshake: not needed */
	if (tls->n_calls == tls->cap_calls) {
		cap = tls->cap_calls ? tls->cap_calls * 2 : CALLS_INITIAL;
		calls = realloc(tls->calls, cap * sizeof(*calls));
		if (!calls)
			return -ENOMEM;
		tls->calls = calls;
		tls->cap_calls = cap;
	}
	tls->calls[tls->n_calls++] = (struct tls_call){
		.ts_ns = rec->hdr.ts_ns,
		.seq_end = rec->seq_end,
		.dir = rec->dir == HS_DIR_OUT ? DIR_OUT : DIR_IN,
	};
	return 0;
}

/*
 * When the application wrote or read each logged record: the first of its calls in that
 * direction that moved the record's last byte. A record read in several calls (OpenSSL reads
 * a header, then the body, which may come in parts) was read when the last part was: before
 * that the application could not use it, and a partial read can come before the record's
 * last packet arrived (its t_us). Unknown (0) without such a call: the application never read
 * it, or the kernel has no socket-call tracepoints.
 *
 * The rules order the log by call_ns: the application's time, else the packet's, but a
 * record the application never read no earlier than the records before it in the stream that
 * it did read, so it stays after them.
 */
static void obs_app_times(struct conn_tls *tls)
{
	/* The calls of each direction (DIR_OUT, DIR_IN), in arrival order: a record looks only
	 * at its own. */
	struct dir_call {
		uint64_t ts_ns;
		uint32_t seq_end;
	} by_dir[3][CALLS_MAX];
	size_t n_dir[3] = { 0 };
	bool in_order[3] = { true, true, true }; /* its calls' times never go back */
	size_t i, j;

	/* A record's wire time is when it was complete: the packet that carried its last byte
	 * (conn_tls_sent() already moved a sent one to when that byte reached the device). */
	for (i = 0; i < tls->n_ends; i++) {
		const struct tls_rec_end *e = &tls->ends[i];

		for (j = 0; j < tls->n_obs; j++) {
			struct tls_obs *o = &tls->obs[j];

			if (o->dir == e->dir && o->rec_seq == e->rec_seq && o->ts_ns < e->ts_ns)
				o->ts_ns = e->ts_ns;
		}
	}

	for (j = 0; j < tls->n_calls; j++) {
		const struct tls_call *c = &tls->calls[j];
		size_t k = n_dir[c->dir]++;

		if (k && c->ts_ns < by_dir[c->dir][k - 1].ts_ns)
			in_order[c->dir] = false;
		by_dir[c->dir][k].ts_ns = c->ts_ns;
		by_dir[c->dir][k].seq_end = c->seq_end;
	}
	for (i = 0; i < tls->n_obs; i++) {
		struct tls_obs *o = &tls->obs[i];
		uint32_t rec_end = obs_record_end(o);
		const struct dir_call *calls = by_dir[o->dir];
		size_t n = n_dir[o->dir];
		uint64_t app_ns = 0;

		for (j = 0; j < n; j++) {
			if ((int32_t)(calls[j].seq_end - rec_end) < 0 ||
			    (app_ns && calls[j].ts_ns >= app_ns))
				continue;
			app_ns = calls[j].ts_ns;
			/* In time order (the usual case), no later call is earlier. (A time of 0
			 * counts as none yet: a later call replaces it.) */
			if (in_order[o->dir] && app_ns)
				break;
		}
		o->app_ns = app_ns;
	}
	for (i = 0; i < tls->n_obs; i++) {
		struct tls_obs *o = &tls->obs[i];

		o->call_ns = o->app_ns ? o->app_ns : o->ts_ns;
		if (o->app_ns)
			continue;
		for (j = 0; j < tls->n_obs; j++) {
			const struct tls_obs *p = &tls->obs[j];

			if (p->dir == o->dir && p->app_ns > o->call_ns &&
			    (int32_t)(p->rec_seq - o->rec_seq) < 0)
				o->call_ns = p->app_ns;
		}
	}
}

size_t conn_tls_max_events(const struct conn_tls *tls)
{
	return tls ? tls->n_obs : 0;
}

/* Stable insertion sort by (call_ns, seq): observations mostly arrive in order. */
static void obs_sort(struct conn_tls *tls)
{
	size_t i, j;

	for (i = 1; i < tls->n_obs; i++) {
		struct tls_obs o = tls->obs[i];

		for (j = i; j > 0; j--) {
			const struct tls_obs *p = &tls->obs[j - 1];

			if (p->call_ns < o.call_ns || (p->call_ns == o.call_ns && p->seq < o.seq))
				break;
			tls->obs[j] = *p;
		}
		tls->obs[j] = o;
	}
}

/*
 * Where a TLS 1.3 connection is, for its type-23 records (both views):
 *   EARLY	   before the ServerHello: 0-RTT early data
 *   FLIGHT	   the server's encrypted flight, up to the client's first encrypted call
 *   TICKETS	   after the client's Finished call: tickets, up to the first data (client:
 *		   its first write; server: its first read)
 *   RUN	   client, after its first data write; server, after a request that came in
 *		   its Finished call: the leading run of equal-sized tickets (client: read,
 *		   server: written)
 *   DATA	   application data
 */
enum stage {
	ST_EARLY,
	ST_FLIGHT,
	ST_TICKETS,
	ST_RUN,
	ST_DATA,
};

/* State of one pass over the sorted log. */
struct pass {
	struct conn_tls *tls;
	struct timeline *tl;
	uint64_t *seq;
	uint32_t ticket_len; /* length of the last record taken for a ticket */
	size_t added;
	bool tls13;
	bool client;		   /* client view */
	bool ccs[3];
	bool fin[3];
	enum stage stage;
	struct tl_event *flight;   /* the server's flight being merged */
	struct tl_event *finished; /* the client's Finished flight being merged */
	bool have_call;		   /* the client's Finished call was seen: */
	uint64_t call_ts;	   /* its time */
	uint8_t call_dir;	   /* and direction */
	bool call_done;		   /* a Finished-sized record ended the flight in that call */
	bool server_run;	   /* server: tickets and response told apart by the run rule */
	uint32_t finished_len;	   /* record length of the client's Finished, 0 unknown */
	bool srv_alert_before_data; /* server_alert() */
	const struct tls_obs *run_first; /* client: first record of the leading run */
	size_t run_n;
};

static struct tl_event *emit(struct pass *p, const struct tls_obs *o, uint16_t event)
{
	struct timeline *tl = p->tl;
	struct tl_event *ev = &tl->events[tl->n_events];

	memset(ev, 0, sizeof(*ev));
	ev->ts_ns = o->ts_ns;
	ev->app_ns = o->app_ns;
	ev->event = event;
	ev->dir = o->dir;
	ev->len = o->len;
	p->seq[tl->n_events] = o->seq;
	tl->n_events++;
	p->added++;
	return ev;
}

static void note_alert(struct alert_note *n, const struct tls_obs *o)
{
	if (n->have)
		return;
	n->have = true;
	n->level = o->alert_level;
	n->desc = o->alert_desc;
	n->dir = o->dir;
	n->ts_ns = o->ts_ns;
	n->seq = o->seq;
}

static void alert(struct pass *p, const struct tls_obs *o, bool estimated)
{
	struct conn_tls *tls = p->tls;

	emit(p, o, TL_EV_ALERT)->estimated = estimated;
	note_alert(&tls->first_alert, o);
	if (o->alert_level == 2)
		note_alert(&tls->fatal_alert, o);
	if (o->alert_level != 1)
		note_alert(&tls->first_serious, o);
}

static void app_data(struct pass *p, const struct tls_obs *o)
{
	struct tl_tls *out = &p->tl->tls;

	/* TLS 1.3: the first record after the tickets' run may be a ticket the rule missed. */
	if (!out->app_records[o->dir])
		emit(p, o, TL_EV_APP_DATA)->estimated =
			p->tls13 && ((p->client && o->dir == DIR_IN) ||
				     (p->server_run && o->dir == DIR_OUT));
	out->app_records[o->dir]++;
	out->app_bytes[o->dir] += o->len;
}

static void ticket(struct pass *p, const struct tls_obs *o)
{
	emit(p, o, TL_EV_NEW_SESSION_TICKET)->estimated = true;
	p->ticket_len = o->len;
}

/* Adds o to a merged encrypted_handshake flight, or takes it for an encrypted alert. */
static void flight_add(struct pass *p, struct tl_event **flight, const struct tls_obs *o)
{
	uint64_t sum;

	if (o->len == TLS13_ALERT_LEN) {
		alert(p, o, true);
		return;
	}
	if (!*flight) {
		*flight = emit(p, o, TL_EV_ENCRYPTED_HANDSHAKE);
		(*flight)->records = 1;
		return;
	}
	sum = (uint64_t)(*flight)->len + o->len;
	(*flight)->len = sum < UINT32_MAX ? (uint32_t)sum : UINT32_MAX;
	(*flight)->records++;
}

/*
 * TLS 1.3, an alert-sized record the server wrote before any of its data: an encrypted alert.
 * Noted in p->srv_alert_before_data: when the client's Finished flight held more than its
 * Finished (a Certificate: the server asked for one), it is the server rejecting that
 * certificate (or its absence), a failed handshake (conn_tls_add_events() decides at the end:
 * a server reading record by record may log its alert before the client's last record). A
 * server that accepted it sends tickets or data; a close_notify before any data on a mutually
 * authenticated connection is not something servers do.
 */
static void server_alert(struct pass *p, const struct tls_obs *o)
{
	uint8_t srv = p->client ? DIR_IN : DIR_OUT;

	alert(p, o, true);
	if (!p->tl->tls.app_records[srv])
		p->srv_alert_before_data = true;
}

/* Did the client send more than its Finished in its last flight (a client certificate)? */
static bool client_sent_certificate(const struct pass *p)
{
	return p->finished && p->finished->records >= 2;
}

/* A record that is not flight or data: a ticket, unless it is an alert's length. */
static void ticket_or_alert(struct pass *p, const struct tls_obs *o)
{
	if (o->len == TLS13_ALERT_LEN)
		server_alert(p, o);
	else
		ticket(p, o);
}

/*
 * Length of the record holding a TLS 1.3 Finished message alone, for the negotiated cipher
 * suite: 4-byte message header, the hash, the inner content type, the AEAD tag (no padding:
 * OpenSSL, GnuTLS and BoringSSL add none by default). 0 when the suite is not known.
 */
static uint32_t tls13_finished_len(const struct tl_tls *t)
{
	if (!t->has_cipher)
		return 0;
	switch (t->cipher) {
	case 0x1301: /* TLS_AES_128_GCM_SHA256 */
	case 0x1303: /* TLS_CHACHA20_POLY1305_SHA256 */
	case 0x1304: /* TLS_AES_128_CCM_SHA256 */
		return 4 + 32 + 1 + 16;
	case 0x1302: /* TLS_AES_256_GCM_SHA384 */
		return 4 + 48 + 1 + 16;
	case 0x1305: /* TLS_AES_128_CCM_8_SHA256 */
		return 4 + 32 + 1 + 8;
	default:
		return 0;
	}
}

/* Records a client's Finished flight holds at most: Certificate, CertificateVerify, Finished
 * (and EndOfEarlyData before them). */
#define FINISHED_FLIGHT_MAX 4

/*
 * Is o part of the client's Finished flight, before a Finished-sized record ended it? The
 * records of the client's first encrypted call; in the server's view, with the Finished's
 * length known, every record from the client until then (a server reads a client
 * certificate's flight record by record, in several calls), at most FINISHED_FLIGHT_MAX. (A
 * client writes its whole flight in one call.)
 */
static bool in_finished_call(const struct pass *p, const struct tls_obs *o)
{
	if (!p->have_call || p->call_done || o->dir != p->call_dir)
		return false;
	if (!p->client && p->finished_len)
		return !p->finished || p->finished->records < FINISHED_FLIGHT_MAX;
	return o->call_ns == p->call_ts;
}

/* Is o in the client's Finished call, after its Finished: data sent in the same call? */
static bool after_finished_in_call(const struct pass *p, const struct tls_obs *o)
{
	return p->have_call && p->call_done && o->call_ns == p->call_ts && o->dir == p->call_dir;
}

/* Adds o to the client's Finished flight; a record of a lone Finished's length ends it (the
 * Finished is the flight's last message), so what follows in the same call is data. */
static void finished_add(struct pass *p, const struct tls_obs *o)
{
	flight_add(p, &p->finished, o);
	if (p->finished_len && o->len == p->finished_len)
		p->call_done = true;
}

/* The first encrypted call after the server's flight: the client's Finished flight. */
static void finished_call(struct pass *p, const struct tls_obs *o)
{
	p->have_call = true;
	p->call_ts = o->call_ns;
	p->call_dir = o->dir;
	finished_add(p, o);
	p->stage = ST_TICKETS;
}

/* Client, after its first data write: a leading run of >= 2 equal-sized small records read is
 * tickets (OpenSSL and nginx send two); the first record read that is not is data. */
static void run_step(struct pass *p, const struct tls_obs *o)
{
	uint8_t srv = p->client ? DIR_IN : DIR_OUT;

	/* An alert-sized first record from a server that asked for a certificate: its alert. */
	if (o->len == TLS13_ALERT_LEN && !p->run_n && client_sent_certificate(p) &&
	    !p->tl->tls.app_records[srv]) {
		server_alert(p, o);
		return;
	}
	/* Servers send tickets of one size (OpenSSL: two, written separately): one of the same
	 * length as a ticket seen before the request is another ticket. */
	if (!p->run_n && p->ticket_len && o->len == p->ticket_len) {
		ticket(p, o);
		return;
	}
	if (p->run_n && o->len == p->run_first->len) {
		if (p->run_n == 1)
			ticket(p, p->run_first);
		ticket(p, o);
		p->run_n++;
		return;
	}
	if (!p->run_n && o->len <= TICKET_MAX_LEN) {
		p->run_first = o;
		p->run_n = 1;
		return;
	}
	if (p->run_n == 1)
		app_data(p, p->run_first);
	app_data(p, o);
	p->run_n = 0;
	p->stage = ST_DATA;
}

/*
 * TLS 1.3: a type-23 record, in either view. The rules mirror each other around the direction
 * the server writes in (in for the client, out for the server): its flight, then tickets until
 * the client's first data, then its response. After the client's first data the client view
 * (and the server's when that data came in the Finished's read, so nothing delimits tickets
 * from response) tells tickets from response by the run rule (run_step()).
 */
static void tls13_record(struct pass *p, const struct tls_obs *o)
{
	uint8_t srv = p->client ? DIR_IN : DIR_OUT; /* the direction the server writes */

	switch (p->stage) {
	case ST_FLIGHT:
		if (o->dir == srv)
			flight_add(p, &p->flight, o);
		else
			finished_call(p, o);
		break;
	case ST_TICKETS:
		if (in_finished_call(p, o)) {
			finished_add(p, o);
		} else if (o->dir == srv) {
			ticket_or_alert(p, o);
		} else {
			/* The client's first data. */
			p->server_run = !p->client && after_finished_in_call(p, o);
			app_data(p, o);
			p->stage = p->client || p->server_run ? ST_RUN : ST_DATA;
		}
		break;
	case ST_RUN:
		if (o->dir == srv)
			run_step(p, o);
		else
			app_data(p, o);
		break;
	default: /* ST_EARLY, ST_DATA */
		app_data(p, o);
		break;
	}
}

static void pass_record(struct pass *p, const struct tls_obs *o)
{
	switch (o->type) {
	case CT_CHANGE_CIPHER_SPEC:
		emit(p, o, TL_EV_CHANGE_CIPHER_SPEC);
		p->ccs[o->dir] = true;
		break;
	case CT_ALERT:
		alert(p, o, false);
		break;
	case CT_HANDSHAKE:
		/* TLS <= 1.2 "Encrypted Handshake Message". (In 1.3 the only plaintext handshake
		 * record after a CCS is the second ClientHello, which has its own event.) */
		if (!p->tls13 && p->ccs[o->dir] && !p->fin[o->dir]) {
			emit(p, o, TL_EV_FINISHED);
			p->fin[o->dir] = true;
		}
		break;
	case CT_APPLICATION_DATA:
		/* Once a direction's framing is lost, the rules that tell encrypted records apart
		 * by their place in the conversation (TLS 1.3), or by a version never seen (no
		 * ServerHello), would guess: those records are left out, never mislabelled. */
		if (p->tls->desync_ns && (!p->tl->tls.version ||
					  (p->tls13 && o->ts_ns >= p->tls->desync_ns)))
			break;
		if (!p->tls13)
			app_data(p, o);
		else
			tls13_record(p, o);
		break;
	default:
		break;
	}
}

size_t conn_tls_add_events(struct conn_tls *tls, struct timeline *tl, uint64_t *seq)
{
	struct pass p;
	size_t i;
	int dir;

	if (!tls)
		return 0;
	tl->tls = tls->meta;
	obs_app_times(tls);
	obs_sort(tls);
	memset(&p, 0, sizeof(p));
	p.tls = tls;
	p.tl = tl;
	p.seq = seq;
	p.tls13 = tl->tls.version == TLS_1_3;
	p.finished_len = tls13_finished_len(&tl->tls);
	p.stage = ST_EARLY;
	p.client = tl->role != ROLE_SERVER;
	for (i = 0; i < tls->n_obs; i++) {
		if (tls->obs[i].what == HS_TLS_HANDSHAKE && tls->obs[i].type == HT_CLIENT_HELLO) {
			p.client = tls->obs[i].dir == DIR_OUT;
			break;
		}
	}
	tls->client_view = p.client;

	for (i = 0; i < tls->n_obs; i++) {
		const struct tls_obs *o = &tls->obs[i];
		uint16_t event;

		if (o->what == HS_TLS_RECORD) {
			pass_record(&p, o);
			continue;
		}
		event = handshake_event(o->type, o->hrr);
		if (event)
			emit(&p, o, event);
		if (event == TL_EV_SERVER_HELLO && p.stage == ST_EARLY)
			p.stage = ST_FLIGHT;
	}
	if (p.stage == ST_RUN && p.run_n == 1)
		app_data(&p, p.run_first);
	if (p.tls13 && p.srv_alert_before_data && client_sent_certificate(&p))
		tls->mtls_rejected = true;

	for (dir = DIR_OUT; dir <= DIR_IN; dir++) {
		tl->tls.app_bytes[dir] += tls->more_bytes[dir];
		tl->tls.app_records[dir] += tls->more_records[dir];
	}
	return p.added;
}

void conn_tls_conclude(struct conn_tls *tls, struct timeline *tl, const uint64_t *seq)
{
	struct tl_tls *out = &tl->tls;
	bool fin[3] = { false }, enc[3] = { false }, done;
	const struct alert_note *a;
	const struct tl_event *ev;
	size_t i, end = 0;

	if (!tls)
		return;
	for (i = 0; i < tl->n_events; i++) {
		ev = &tl->events[i];
		done = false;
		switch (ev->event) {
		case TL_EV_CLIENT_HELLO:
			tls->saw_client_hello = true;
			break;
		case TL_EV_APP_DATA:
			done = true;
			break;
		case TL_EV_FINISHED:
			fin[ev->dir] = true;
			done = fin[DIR_OUT] && fin[DIR_IN];
			break;
		case TL_EV_ENCRYPTED_HANDSHAKE:
			enc[ev->dir] = true;
			done = enc[DIR_OUT] && enc[DIR_IN];
			break;
		default:
			break;
		}
		if (done && !tls->done) {
			tls->done = true;
			end = i;
		}
	}
	out->handshake_done = tls->done;

	/* Fatal at any time; anything once the handshake failed to complete; before completion,
	 * anything but a plaintext warning (a server may warn, e.g. unrecognized_name, and go on).
	 * An encrypted alert after completion is taken for close_notify. */
	if (tls->fatal_alert.have || (tls->first_alert.have && !tls->done) || tls->mtls_rejected)
		tls->alert_failed = true;
	else if (tls->first_serious.have)
		tls->alert_failed = tls->first_serious.ts_ns < tl->events[end].ts_ns ||
				    (tls->first_serious.ts_ns == tl->events[end].ts_ns &&
				     tls->first_serious.seq < seq[end]);

	a = tls->fatal_alert.have ? &tls->fatal_alert : &tls->first_alert;
	/* tls.alert is for alerts that matter: not an encrypted or plaintext close_notify after
	 * a completed handshake. */
	if (a->have && (tls->alert_failed || a->level == 2 || (a->level == 1 && a->desc != 0))) {
		out->has_alert = true;
		out->alert_level = a->level;
		out->alert_desc = a->desc;
		out->alert_dir = a->dir;
	}

	out->resumed = -1;
	if (tls->have_sh && out->version == TLS_1_3)
		out->resumed = tls->sh_psk;
	else if (tls->have_sh && tls->have_ch)
		out->resumed = tls->ch_sid_len && tls->sh_sid_len == tls->ch_sid_len &&
			       memcmp(tls->sh_sid, tls->ch_sid, tls->ch_sid_len) == 0;

	out->ttfb_estimated = out->version == TLS_1_3 && tls->client_view;
}

enum conn_result conn_tls_verdict(const struct conn_tls *tls)
{
	if (!tls)
		return RESULT_OK;
	if (tls->alert_failed)
		return RESULT_TLS_ALERT;
	/* A handshake not seen to complete failed, unless its framing was lost: then it is not
	 * known, and TCP decides. */
	if (tls->saw_client_hello && !tls->done && !tls->first_alert.have && !tls->desync_ns)
		return RESULT_TLS_FAILED;
	return RESULT_OK;
}

/* Index of the first event `event` in direction dir (DIR_NONE: any), or -1. */
static long find_first(const struct timeline *tl, unsigned int event, uint8_t dir)
{
	return tl_event_find(tl, event, dir);
}

/* Index of the first server_hello or hello_retry_request in direction dir, or -1. */
static long find_server_hello(const struct timeline *tl, uint8_t dir)
{
	long sh = find_first(tl, TL_EV_SERVER_HELLO, dir);
	long hrr = find_first(tl, TL_EV_HELLO_RETRY_REQUEST, dir);

	if (sh < 0 || (hrr >= 0 && hrr < sh))
		return hrr;
	return sh;
}

static bool is_handshake_event(unsigned int event)
{
	return event >= TL_EV_CLIENT_HELLO && event <= TL_EV_ENCRYPTED_HANDSHAKE;
}

/* Adds phase `name` between the wire times of events `from` and `to`, when both exist. */
static void add_phase(struct timeline *tl, const char *name, long from, long to)
{
	tl_phase_add(tl, name, from, TL_AT_WIRE, to, TL_AT_WIRE);
}

/* Adds phase `name` of the application's own time: from when it read event `from` to when
 * it wrote (or read) event `to`, when both are known and in that order. */
static void add_app_phase(struct timeline *tl, const char *name, long from, long to)
{
	tl_phase_add(tl, name, from, TL_AT_APP, to, TL_AT_APP);
}

/* Adds `hello_read_wait`: how long the event at index i (an `in` one) waited between its
 * arrival and the application's read. */
static void add_read_wait(struct timeline *tl, const char *name, long i)
{
	tl_phase_add(tl, name, i, TL_AT_WIRE, i, TL_AT_APP);
}

/*
 * Network vs processing, from this end's view (docs/json.md, Phases):
 *   server: hello_read_wait (the ClientHello arrived -> the application read it) and
 *           app_think (it read the ClientHello -> it wrote its ServerHello);
 *   client: app_think (it read the end of the server's flight -> it wrote its answer), and
 *           peer_think, the server's share of server_hello_rtt: that round trip less the
 *           network's, taken from the TCP handshake (an estimate; not after a SYN was
 *           retransmitted, whose wait is in tcp_handshake).
 */
static void add_processing_phases(const struct conn_tls *tls, struct timeline *tl, long ch_in)
{
	const struct tl_phase *rtt;
	uint64_t tcp_ns;
	long from, to;

	if (!tls->client_view) {
		add_read_wait(tl, "hello_read_wait", ch_in);
		add_app_phase(tl, "app_think", ch_in, find_server_hello(tl, DIR_OUT));
		return;
	}
	if (tl->tls.version == TLS_1_3) {
		from = find_first(tl, TL_EV_ENCRYPTED_HANDSHAKE, DIR_IN);
		to = find_first(tl, TL_EV_ENCRYPTED_HANDSHAKE, DIR_OUT);
	} else {
		from = find_first(tl, TL_EV_SERVER_HELLO_DONE, DIR_IN);
		to = find_first(tl, TL_EV_CLIENT_KEY_EXCHANGE, DIR_OUT);
	}
	add_app_phase(tl, "app_think", from, to);
	/* Placed in the middle of the round trip: half the network's time on each side. */
	rtt = tl_phase_find(tl, "server_hello_rtt");
	if (!tl->syn_retransmits && tl_phase_get(tl, "tcp_handshake", &tcp_ns) && rtt) {
		uint64_t think = rtt->dur_ns > tcp_ns ? rtt->dur_ns - tcp_ns : 0;
		uint64_t start = rtt->start_ns + (rtt->dur_ns - think) / 2;

		tl_phase_add_estimate(tl, "peer_think", start, start + think);
	}
}

void conn_tls_add_phases(const struct conn_tls *tls, struct timeline *tl)
{
	long ch_out, ch_in, app_out, app_in, app, last = -1;
	size_t i, end;

	if (!tls || !tl->n_events)
		return;
	ch_out = find_first(tl, TL_EV_CLIENT_HELLO, DIR_OUT);
	ch_in = find_first(tl, TL_EV_CLIENT_HELLO, DIR_IN);
	app_out = find_first(tl, TL_EV_APP_DATA, DIR_OUT);
	app_in = find_first(tl, TL_EV_APP_DATA, DIR_IN);
	app = find_first(tl, TL_EV_APP_DATA, DIR_NONE);

	/* The handshake ends with its last message before the first data. */
	end = app >= 0 ? (size_t)app : tls->done ? tl->n_events : 0;
	for (i = 0; i < end; i++) {
		if (is_handshake_event(tl->events[i].event))
			last = (long)i;
	}

	if (tls->client_view)
		add_phase(tl, "idle_before_hello", find_first(tl, HS_EV_ESTABLISHED, DIR_NONE),
			  ch_out);
	add_phase(tl, "tls_handshake", find_first(tl, TL_EV_CLIENT_HELLO, DIR_NONE), last);
	if (tls->client_view) {
		add_phase(tl, "server_hello_rtt", ch_out, find_server_hello(tl, DIR_IN));
		add_phase(tl, "ttfb", app_out, app_in);
	} else {
		add_phase(tl, "server_think", ch_in, find_server_hello(tl, DIR_OUT));
		add_phase(tl, "response_time", app_in, app_out);
	}
	add_phase(tl, "total", 0, app_in);
	add_processing_phases(tls, tl, ch_in);
}
