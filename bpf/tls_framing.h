/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * tls_framing.h - follows the TLS framing of one direction of a byte stream.
 *
 * Shared by the BPF program (which feeds it the payload of a TCP socket's packets, in stream
 * order) and by user space (unit tests and the fuzz target feed it plain memory). Three nested
 * layers:
 *   records              5-byte header: type, version, length            (every record)
 *   handshake messages   4-byte header: type, 24-bit length              (plaintext handshake
 *                                                                          records only)
 *   certificate list     3-byte lengths inside a plaintext Certificate   (TLS <= 1.2)
 * Headers may be split over any number of calls; several records and messages may share one.
 * Each tlsf_step() consumes at least one byte or stops, so a bounded loop always terminates.
 *
 * Before including, define:
 *   __u8/__u16/__u32/__u64, bool,       (vmlinux.h in BPF; in user space <linux/types.h>,
 *   __always_inline                      <stdbool.h> and <sys/cdefs.h>)
 *   TLSF_CTX                            (optional) type of the context handed through to
 *                                       TLSF_READ and the callbacks: in BPF the packet,
 *                                       struct __sk_buff *; default void *
 *   TLSF_READ(ctx, dst, size, addr)     copy size (1..7) bytes at address addr (a __u64: in
 *                                       BPF an offset into the packet) into dst; evaluates to
 *                                       0 on success
 *   TLSF_FUNC                           storage class of tlsf_step(): in BPF a global
 *                                       (separately verified) function, else "static inline"
 * and these callbacks (their return value is ignored):
 *   int tlsf_on_record(struct tlsf_io *io, TLSF_CTX ctx, __u8 type, __u16 version, __u32 len,
 *                      __u64 body, __u32 body_avail, int encrypted);
 *   int tlsf_on_handshake(struct tlsf_io *io, TLSF_CTX ctx, __u8 type, __u32 len, __u64 body,
 *                         __u32 avail);
 *   int tlsf_on_certs(struct tlsf_io *io, TLSF_CTX ctx, __u32 count, __u32 len);
 *   int tlsf_on_desync(struct tlsf_io *io, TLSF_CTX ctx);
 *   int tlsf_on_alert(struct tlsf_io *io, TLSF_CTX ctx, __u16 version, __u32 len,
 *                     __u16 alert);                       (alert: level << 8 | description)
 * During every callback io->rec_seq is the stream offset of the current record's header.
 * A plaintext alert record goes to tlsf_on_alert() (once its two bytes are in, which may be a
 * later call: OpenSSL reads the 5-byte header, then the body), every other record to
 * tlsf_on_record() as soon as its header is complete.
 * `body`/`avail` give the address and the number of bytes of the body present in this call's
 * buffer (it may continue in the next call); callbacks may copy what they need from there.
 */
#ifndef HSTRACE_TLS_FRAMING_H
#define HSTRACE_TLS_FRAMING_H

#ifndef TLSF_CTX
#define TLSF_CTX void *
#endif

/* TLS content types (record layer) and handshake message types used here and by hstrace. */
enum tlsf_content_type {
	TLSF_CT_CHANGE_CIPHER_SPEC = 20,
	TLSF_CT_ALERT = 21,
	TLSF_CT_HANDSHAKE = 22,
	TLSF_CT_APPLICATION_DATA = 23,
	TLSF_CT_HEARTBEAT = 24,
};

enum tlsf_handshake_type {
	TLSF_HT_CLIENT_HELLO = 1,
	TLSF_HT_SERVER_HELLO = 2,
	TLSF_HT_NEW_SESSION_TICKET = 4,
	TLSF_HT_CERTIFICATE = 11,
	TLSF_HT_SERVER_KEY_EXCHANGE = 12,
	TLSF_HT_CERTIFICATE_REQUEST = 13,
	TLSF_HT_SERVER_HELLO_DONE = 14,
	TLSF_HT_CERTIFICATE_VERIFY = 15,
	TLSF_HT_CLIENT_KEY_EXCHANGE = 16,
};

#define TLSF_MAX_RECORD (16384 + 2048) /* TLSCiphertext limit */
#define TLSF_MAX_HS_LEN (1 << 18)      /* larger handshake messages: treated as framing loss */
#define TLSF_MAX_ENCRYPTED 16	       /* content-type 23 records followed per direction */
#define TLSF_MAX_STEPS 64	       /* steps per buffer; more is treated as framing loss */

enum tlsf_flags {
	TLSF_F_STARTED = 1 << 0,   /* first record header seen and valid */
	TLSF_F_ENCRYPTED = 1 << 1, /* change_cipher_spec seen: later handshake records are
				    * encrypted */
	TLSF_F_STOPPED = 1 << 2,   /* nothing more is followed in this direction */
	TLSF_F_NOT_TLS = 1 << 3,   /* stopped because the first bytes are not a TLS record */
	TLSF_F_DESYNC = 1 << 4,	   /* stopped because the framing was lost */
	TLSF_F_IN_CERT = 1 << 5,   /* inside a plaintext Certificate message */
	TLSF_F_CERT_LIST = 1 << 6, /* ... past its 3-byte certificate_list length */
	TLSF_F_PROBE = 1 << 7,	   /* a handshake record after change_cipher_spec: encrypted
				    * (TLS 1.2 Finished) unless it holds exactly one ClientHello or
				    * ServerHello (TLS 1.3 after a HelloRetryRequest: the second
				    * hellos follow the middlebox-compatibility CCS) */
	TLSF_F_FINISHED = 1 << 8,  /* an encrypted handshake record (TLS <= 1.2 Finished) followed
				    * change_cipher_spec: the next content-type 23 record is
				    * application data, and this direction is followed no further */
	TLSF_F_ALERT = 1 << 9,	   /* gathering the two bytes of a plaintext alert */
	TLSF_F_LAST = 1 << 10,	   /* the current record is the last one followed: the
				    * direction stops once its body has passed (its end is still
				    * seen, and timed, like any record's) */
};

/* Framing state of one direction. Only scalars: it lives in a BPF map value. */
struct tls_stream {
	__u32 rec_left;	  /* body bytes left in the current record */
	__u32 hs_left;	  /* body bytes left in the current handshake message */
	__u32 hs_len;	  /* body length of the current handshake message */
	__u32 cert_left;  /* bytes left of the current certificate */
	__u32 cert_count; /* certificates seen in the current Certificate message */
	__u32 rec_len;	  /* body length of the current record */
	__u32 rec_seq;	  /* stream offset of the current record's header */
	__u16 rec_version; /* record version of the current record */
	__u8 alert[8];	  /* a plaintext alert's level and description */
	__u8 alert_have;
	__u8 rec_hdr[8];
	__u8 hs_hdr[8];
	__u8 cert_hdr[8];
	__u8 rec_have;	  /* header bytes gathered so far */
	__u8 hs_have;
	__u8 cert_have;
	__u8 rec_type;	  /* content type of the current record */
	__u8 hs_type;	  /* type of the current handshake message */
	__u8 n_encrypted; /* content-type 23 records seen */
	__u16 flags;	  /* enum tlsf_flags */
};

/* One buffer of the stream (one packet's new payload), for the callbacks. Only scalars. */
struct tlsf_io {
	__u64 buf;     /* address of the bytes (in BPF: their offset in the packet) */
	__u64 cookie;  /* connection */
	__u64 ts_ns;   /* when the packet passed this host's TCP stack */
	__u32 len;     /* bytes in buf */
	__u32 off;     /* bytes of buf consumed */
	__u32 seq;     /* stream offset of buf[0] (bytes since the stream's first, mod 2^32) */
	__u32 rec_seq; /* during a callback: stream offset of the current record's header */
	__u8 dir;      /* HS_DIR_OUT or HS_DIR_IN */
	__u8 _pad[7];
};

enum tlsf_ret {
	TLSF_MORE = 0, /* progress made: call again */
	TLSF_WAIT = 1, /* buffer consumed: wait for the next one */
	TLSF_STOP = 2, /* this direction is no longer followed (see st->flags) */
};

static __always_inline __u32 tlsf_min(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

#define TLSF_FAULT 0xffffffffU

/* Gathers up to need (<= 5) header bytes into acc. Returns the bytes taken (0 if none were
 * available) or TLSF_FAULT when the memory could not be read. */
static __always_inline __u32 tlsf_take(TLSF_CTX ctx, __u8 *acc, __u8 *have, __u32 need,
					 __u64 src, __u32 avail)
{
	__u8 tmp[8] = {};
	__u32 h = *have & 7, k, i;

	(void)ctx; /* used by TLSF_READ in BPF */
	if (h >= need)
		return 0;
	k = need - h;
	if (k > avail)
		k = avail;
	k &= 7;
	if (!k)
		return 0;
	if (TLSF_READ(ctx, tmp, k, src))
		return TLSF_FAULT;
	for (i = 0; i < 7; i++) {
		if (i >= k)
			break;
		acc[(h + i) & 7] = tmp[i];
	}
	*have = h + k;
	return k;
}

static __always_inline int tlsf_stop(struct tls_stream *st, struct tlsf_io *io, TLSF_CTX ctx,
				     __u16 why)
{
	st->flags |= TLSF_F_STOPPED | why;
	if (why == TLSF_F_DESYNC)
		tlsf_on_desync(io, ctx);
	return TLSF_STOP;
}

/* A record header is complete in st->rec_hdr. */
static __always_inline int tlsf_record_start(struct tls_stream *st, struct tlsf_io *io,
					     TLSF_CTX ctx)
{
	__u8 type = st->rec_hdr[0];
	__u16 version = (__u16)st->rec_hdr[1] << 8 | st->rec_hdr[2];
	__u32 len = (__u32)st->rec_hdr[3] << 8 | st->rec_hdr[4];
	bool valid = type >= TLSF_CT_CHANGE_CIPHER_SPEC && type <= TLSF_CT_HEARTBEAT &&
		     st->rec_hdr[1] == 3 && st->rec_hdr[2] <= 4 && len <= TLSF_MAX_RECORD;

	st->rec_have = 0;
	if (!(st->flags & TLSF_F_STARTED)) {
		/* A TLS stream opens with a handshake record (or an alert refusing one). */
		if (!valid || (type != TLSF_CT_HANDSHAKE && type != TLSF_CT_ALERT))
			return tlsf_stop(st, io, ctx, TLSF_F_NOT_TLS);
		st->flags |= TLSF_F_STARTED;
	} else if (!valid) {
		return tlsf_stop(st, io, ctx, TLSF_F_DESYNC);
	}
	st->rec_type = type;
	st->rec_left = len;
	st->rec_len = len;
	st->rec_seq = io->seq + io->off - 5;
	io->rec_seq = st->rec_seq;
	if (st->flags & TLSF_F_PROBE) { /* the previous record ended inside the probe */
		st->flags &= ~TLSF_F_PROBE;
		st->hs_have = 0;
	}
	if (type == TLSF_CT_HANDSHAKE && (st->flags & TLSF_F_ENCRYPTED) && st->hs_left == 0)
		st->flags |= TLSF_F_PROBE;
	st->rec_version = version;
	if (type == TLSF_CT_ALERT && len >= 2 && !(st->flags & TLSF_F_ENCRYPTED)) {
		st->alert_have = 0;
		st->flags |= TLSF_F_ALERT; /* reported once its two bytes are in */
	} else {
		tlsf_on_record(io, ctx, type, version, len, io->buf + io->off,
			       tlsf_min(len, io->len - io->off), !!(st->flags & TLSF_F_ENCRYPTED));
	}
	if (type == TLSF_CT_CHANGE_CIPHER_SPEC)
		st->flags |= TLSF_F_ENCRYPTED;
	/* Past the handshake: the first application data record in TLS <= 1.2 (TLS 1.3 hides
	 * where its handshake ends: there, a bounded number of encrypted records). */
	if (type == TLSF_CT_APPLICATION_DATA &&
	    ((st->flags & TLSF_F_FINISHED) || ++st->n_encrypted >= TLSF_MAX_ENCRYPTED)) {
		st->flags |= TLSF_F_LAST;
		if (!len)
			st->flags |= TLSF_F_STOPPED;
	}
	return TLSF_MORE;
}

/* Consumes n (> 0) bytes of a plaintext Certificate message body at p. */
static __always_inline int tlsf_cert_bytes(struct tls_stream *st, struct tlsf_io *io,
					   TLSF_CTX ctx, __u64 p, __u32 n)
{
	__u32 k, v;

	if (st->cert_left == 0) {
		k = tlsf_take(ctx, st->cert_hdr, &st->cert_have, 3, p, n);
		if (k == TLSF_FAULT)
			return tlsf_stop(st, io, ctx, TLSF_F_DESYNC);
		if (st->cert_have == 3) {
			st->cert_have = 0;
			v = (__u32)st->cert_hdr[0] << 16 | (__u32)st->cert_hdr[1] << 8 |
			    st->cert_hdr[2];
			if (!(st->flags & TLSF_F_CERT_LIST)) {
				st->flags |= TLSF_F_CERT_LIST; /* that was the list's length */
			} else {
				st->cert_count++;
				st->cert_left = v;
			}
		}
	} else {
		k = tlsf_min(n, st->cert_left);
		st->cert_left -= k;
	}
	io->off += k;
	st->rec_left -= k;
	st->hs_left -= k;
	if (st->hs_left == 0) {
		tlsf_on_certs(io, ctx, st->cert_count, st->hs_len);
		st->flags &= ~(TLSF_F_IN_CERT | TLSF_F_CERT_LIST);
	}
	return TLSF_MORE;
}

/* Consumes bytes of a plaintext handshake record: message headers and bodies. */
static __always_inline int tlsf_handshake_bytes(struct tls_stream *st, struct tlsf_io *io,
						TLSF_CTX ctx, __u64 p, __u32 chunk)
{
	__u32 k, n;

	if (st->hs_left == 0) {
		k = tlsf_take(ctx, st->hs_hdr, &st->hs_have, 4, p, chunk);
		if (k == TLSF_FAULT)
			return tlsf_stop(st, io, ctx, TLSF_F_DESYNC);
		io->off += k;
		st->rec_left -= k;
		if (st->hs_have < 4)
			return TLSF_MORE;
		st->hs_have = 0;
		st->hs_type = st->hs_hdr[0];
		st->hs_len = (__u32)st->hs_hdr[1] << 16 | (__u32)st->hs_hdr[2] << 8 | st->hs_hdr[3];
		if (st->flags & TLSF_F_PROBE) {
			st->flags &= ~TLSF_F_PROBE;
			if ((st->hs_type != TLSF_HT_CLIENT_HELLO && st->hs_type != TLSF_HT_SERVER_HELLO) ||
			    st->hs_len + 4 != st->rec_len) {
				/* Encrypted: the rest of the record is opaque. */
				st->rec_type = 0;
				st->flags |= TLSF_F_FINISHED;
				return TLSF_MORE;
			}
			st->flags &= ~TLSF_F_ENCRYPTED; /* a plaintext hello after all */
		}
		if (st->hs_len > TLSF_MAX_HS_LEN)
			return tlsf_stop(st, io, ctx, TLSF_F_DESYNC);
		st->hs_left = st->hs_len;
		tlsf_on_handshake(io, ctx, st->hs_type, st->hs_len, io->buf + io->off,
				  tlsf_min(st->hs_len, tlsf_min(st->rec_left, io->len - io->off)));
		if (st->hs_type == TLSF_HT_CERTIFICATE) {
			st->cert_count = 0;
			st->cert_left = 0;
			st->cert_have = 0;
			st->flags &= ~TLSF_F_CERT_LIST;
			if (st->hs_len)
				st->flags |= TLSF_F_IN_CERT;
			else
				tlsf_on_certs(io, ctx, 0, 0);
		}
		return TLSF_MORE;
	}
	n = tlsf_min(chunk, st->hs_left);
	if (st->flags & TLSF_F_IN_CERT)
		return tlsf_cert_bytes(st, io, ctx, p, n);
	io->off += n;
	st->rec_left -= n;
	st->hs_left -= n;
	return TLSF_MORE;
}

/* Takes one step through io's buffer: a (part of a) header or a run of body bytes.
 * Returns enum tlsf_ret. */
TLSF_FUNC int tlsf_step(struct tls_stream *st, struct tlsf_io *io, TLSF_CTX ctx)
{
	__u32 avail, k;
	__u64 p;

	if (!st || !io)
		return TLSF_STOP;
	if (st->flags & TLSF_F_STOPPED)
		return TLSF_STOP;
	if (io->off >= io->len)
		return TLSF_WAIT;
	io->rec_seq = st->rec_seq;
	avail = io->len - io->off;
	p = io->buf + io->off;

	if (st->rec_left == 0) {
		k = tlsf_take(ctx, st->rec_hdr, &st->rec_have, 5, p, avail);
		if (k == TLSF_FAULT)
			return tlsf_stop(st, io, ctx, TLSF_F_DESYNC);
		io->off += k;
		if (st->rec_have < 5)
			return TLSF_MORE;
		return tlsf_record_start(st, io, ctx);
	}
	k = tlsf_min(st->rec_left, avail);
	if (st->flags & TLSF_F_ALERT) {
		k = tlsf_take(ctx, st->alert, &st->alert_have, 2, p, k);
		if (k == TLSF_FAULT)
			return tlsf_stop(st, io, ctx, TLSF_F_DESYNC);
		io->off += k;
		st->rec_left -= k;
		if (st->alert_have == 2) {
			st->flags &= ~TLSF_F_ALERT;
			tlsf_on_alert(io, ctx, st->rec_version, st->rec_len,
				      (__u16)st->alert[0] << 8 | st->alert[1]);
		}
		return TLSF_MORE;
	}
	if (st->rec_type == TLSF_CT_HANDSHAKE &&
	    (!(st->flags & TLSF_F_ENCRYPTED) || (st->flags & TLSF_F_PROBE)))
		return tlsf_handshake_bytes(st, io, ctx, p, k);
	io->off += k;
	st->rec_left -= k;
	if (!st->rec_left && (st->flags & TLSF_F_LAST))
		st->flags |= TLSF_F_STOPPED;
	return TLSF_MORE;
}

/* Feeds io's whole buffer to st. Returns TLSF_WAIT when consumed, TLSF_STOP when the
 * direction is no longer followed (including a buffer needing more than TLSF_MAX_STEPS steps,
 * which is reported as framing loss). */
static __always_inline int tlsf_feed(struct tls_stream *st, struct tlsf_io *io, TLSF_CTX ctx)
{
	int i, r;

	for (i = 0; i < TLSF_MAX_STEPS; i++) {
		r = tlsf_step(st, io, ctx);
		if (r != TLSF_MORE)
			return r;
	}
	if (io->off < io->len)
		return tlsf_stop(st, io, ctx, TLSF_F_DESYNC);
	return TLSF_WAIT;
}

/*
 * n bytes of the stream are missing (a later packet arrived first; TCP delivers the missing
 * ones later, and they are not looked at then). Returns true, having consumed them, when they
 * lie inside the body of the current record and nothing in that body is followed (application
 * data, an encrypted record, a plaintext handshake message's body, a certificate inside a
 * Certificate message): what follows them is framed exactly as if they had been seen. Returns
 * false otherwise; the caller then has to stop the direction (framing lost).
 */
static __always_inline bool tlsf_skip_gap(struct tls_stream *st, __u32 n)
{
	if (st->flags & TLSF_F_STOPPED)
		return false;
	if (st->rec_have || st->rec_left < n || (st->flags & (TLSF_F_ALERT | TLSF_F_PROBE)))
		return false;
	if ((st->flags & TLSF_F_LAST) && st->rec_left == n)
		return false; /* the last record's end: seen when those bytes come */
	if (st->rec_type == TLSF_CT_HANDSHAKE && !(st->flags & TLSF_F_ENCRYPTED)) {
		/* Inside a message body (not its header) only; in a Certificate message, inside
		 * one certificate (not a 3-byte length, and not the end of the message, which is
		 * reported when its last byte is seen). */
		if (st->hs_have || st->hs_left < n)
			return false;
		if (st->flags & TLSF_F_IN_CERT) {
			if (st->cert_have || st->cert_left < n || st->hs_left == n)
				return false;
			st->cert_left -= n;
		}
		st->hs_left -= n;
	}
	st->rec_left -= n;
	return true;
}

#endif /* HSTRACE_TLS_FRAMING_H */
