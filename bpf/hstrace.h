/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * hstrace.h - the one record format shared by the BPF programs and user space.
 *
 * No includes and only fixed-width __u8/__u16/__u32/__u64 fields, so the layout is identical
 * on both sides. Units are in the field names. Every record starts with struct hs_hdr; its
 * `kind` says which struct follows (retsnoop-style tagged stream).
 */
#ifndef HSTRACE_H
#define HSTRACE_H

#define HS_COMM_LEN 16
#define HS_ADDR_LEN 16

/*
 * Record kinds (hs_hdr.kind); never renumber. A record's hdr.size is its exact length: user
 * space rejects (counts as malformed) a record whose size is not the one its kind has (for
 * HS_REC_TLS: the fixed part plus data_len). Records are an interface between this BPF object
 * and the user space built with it, not a file format: fields may change between versions.
 */
enum hs_rec_kind {
	HS_REC_TCP = 1, /* struct hs_tcp_rec */
	HS_REC_TLS = 2, /* struct hs_tls_rec */
	HS_REC_SSL = 3, /* struct hs_ssl_rec */
	HS_REC_EXEC = 4, /* struct hs_exec_rec */
	HS_REC_IO = 5,	 /* struct hs_io_rec */
	HS_REC_BATCH = 6, /* records of one packet: after this header, whole records of the
			   * other kinds, each starting at a multiple of 8 bytes from the batch's
			   * start (hdr.ts_ns and hdr.cookie: those of its first record) */
	HS_REC_SENT = 7,  /* struct hs_sent_rec */
};

/* TCP timeline events (hs_tcp_rec.event). Never renumber (user/timeline.c names them). */
enum hs_tcp_event {
	HS_EV_SYN_SENT = 1,	  /* CLOSE -> SYN_SENT, inside the connect() caller */
	HS_EV_SYN_RETRANSMIT = 2, /* SYN retransmitted while in SYN_SENT */
	HS_EV_SYN_RECV = 3,	  /* LISTEN -> SYN_RECV: server child socket created */
	HS_EV_ESTABLISHED = 4,	  /* -> ESTABLISHED */
	HS_EV_ACCEPTED = 5,	  /* accept()/accept4() returned this socket (owner valid) */
	HS_EV_FIN_OUT = 6,	  /* we sent FIN: ESTABLISHED -> FIN_WAIT1, CLOSE_WAIT -> LAST_ACK */
	HS_EV_FIN_IN = 7,	  /* peer's FIN: ESTABLISHED -> CLOSE_WAIT, FIN_WAIT1 -> CLOSING,
				   * FIN_WAIT2 -> TIME_WAIT */
	HS_EV_RESET_IN = 8,	  /* RST received (tcp:tcp_receive_reset) */
	HS_EV_RESET_OUT = 9,	  /* RST sent on this socket (tcp:tcp_send_reset) */
	HS_EV_CLOSED = 10,	  /* -> CLOSE: the socket is gone; ends the timeline */
	HS_EV_OWNER = 11,	  /* not an event: the first socket call on a server connection
				   * whose accept() was not seen names its owner (HS_F_OWNER) */
	HS_EV__MAX = 12,
};

/* hs_tcp_rec.flags */
enum hs_tcp_flags {
	HS_F_OWNER = 1 << 0, /* pid/tid/comm name the socket's owner (connect/accept caller) */
};

/* Common header of every record. */
struct hs_hdr {
	__u16 kind;   /* enum hs_rec_kind */
	__u16 size;   /* length of the whole record */
	__u32 _pad;
	__u64 ts_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 cookie; /* socket cookie: the connection's identity, never reused while up */
};

/* One TCP event. Addresses and ports are re-read on every event because the client's local
 * port is assigned only after CLOSE -> SYN_SENT. */
struct hs_tcp_rec {
	struct hs_hdr hdr;
	__u16 event;	 /* enum hs_tcp_event */
	__u16 family;	 /* AF_INET (2) or AF_INET6 (10): the socket's family */
	__u16 sport;	 /* local port, host order (0 until bound) */
	__u16 dport;	 /* remote port, host order */
	__u16 _pad;
	__u32 flags;	 /* enum hs_tcp_flags */
	__u32 pid;	 /* tgid of the owner, when HS_F_OWNER */
	__u32 tid;	 /* thread id of the owner, when HS_F_OWNER */
	__s32 sk_err;	 /* sk->sk_err at CLOSED (ECONNREFUSED, ETIMEDOUT, ...), else 0 */
	__u32 srtt_us;	 /* smoothed RTT in µs at this event (first sample = SYN/SYN-ACK RTT) */
	__u64 bytes_sent;     /* payload bytes sent, retransmits included (tcp_sock.bytes_sent) */
	__u64 bytes_received; /* payload bytes received, in order (SYN/FIN not counted) */
	__u64 syn_ns;	 /* HS_EV_ESTABLISHED of a server: when the peer's SYN arrived, 0 unknown */
	__u32 isn_local; /* HS_EV_ESTABLISHED only: this end's initial sequence number (its SYN's) */
	__u32 isn_peer;	 /* ... and the peer's, as both ends saw them (see user/conn_id.h) */
	__u8 saddr[HS_ADDR_LEN]; /* local address; IPv4 in the first 4 bytes, network order */
	__u8 daddr[HS_ADDR_LEN]; /* remote address */
	char comm[HS_COMM_LEN];	 /* owner's comm, when HS_F_OWNER */
};

/* Kernel TCP state numbers (include/net/tcp_states.h). */
enum hs_tcp_state {
	HS_TCP_ESTABLISHED = 1,
	HS_TCP_SYN_SENT = 2,
	HS_TCP_SYN_RECV = 3,
	HS_TCP_FIN_WAIT1 = 4,
	HS_TCP_FIN_WAIT2 = 5,
	HS_TCP_TIME_WAIT = 6,
	HS_TCP_CLOSE = 7,
	HS_TCP_CLOSE_WAIT = 8,
	HS_TCP_LAST_ACK = 9,
	HS_TCP_LISTEN = 10,
	HS_TCP_CLOSING = 11,
};

/*
 * TLS as seen in a tracked TCP socket's packets (cgroup_skb ingress/egress), in stream order:
 * BPF follows the record framing (5-byte headers), the handshake-message framing inside
 * plaintext handshake records (4-byte headers) and the certificate list inside a plaintext
 * Certificate message (bpf/tls_framing.h). Only headers leave the kernel, plus the start of
 * ClientHello/ServerHello bodies, the first bytes of a ServerKeyExchange and the two bytes of
 * a plaintext alert. Application data and encrypted records: header only.
 */
#define HS_TLS_DATA_MAX 1024 /* ClientHello/ServerHello body bytes sent at most */

enum hs_tls_what {
	HS_TLS_RECORD = 1,    /* a record header: content_type, version, len (body bytes);
			       * for a plaintext alert data[0..1] = level, description */
	HS_TLS_HANDSHAKE = 2, /* a plaintext handshake message header: hs_type, len (body bytes);
			       * for ClientHello (1) / ServerHello (2), data[] = body start */
	HS_TLS_CERTS = 3,     /* end of a plaintext Certificate message: count certificates,
			       * len = message body bytes */
	HS_TLS_DESYNC = 4,    /* framing lost in this direction (bad header, bytes missing, too
			       * many records in one packet): no further TLS records for it */
	HS_TLS_RECORD_END = 5, /* the record at seq, whose header came in an earlier packet,
				* is complete with this one (hdr.ts_ns) */
};

enum hs_tls_dir {
	HS_DIR_OUT = 1, /* sent by this end */
	HS_DIR_IN = 2,	/* received by this end */
};

/* One TLS observation. Sent with only data_len bytes of data[]: hdr.size says how long. */
struct hs_tls_rec {
	struct hs_hdr hdr;   /* ts_ns: when the packet that completed the header passed this
			      * host's TCP stack (egress: transmission, ingress: arrival); a
			      * record completed by a later packet has an HS_TLS_RECORD_END */
	__u8 what;	     /* enum hs_tls_what */
	__u8 dir;	     /* enum hs_tls_dir */
	__u8 content_type;   /* record: enum tlsf_content_type (bpf/tls_framing.h) */
	__u8 hs_type;	     /* handshake: enum tlsf_handshake_type */
	__u16 version;	     /* record: legacy record version (0x0301 ... 0x0303) */
	__u16 data_len;	     /* valid bytes in data[] */
	__u32 len;	     /* record / handshake message / certificate message body length */
	__u32 count;	     /* HS_TLS_CERTS: certificates in the chain */
	__u32 seq;	     /* stream offset of the record it belongs to (bytes since this
			      * direction's first payload byte, mod 2^32) */
	__u32 _pad;
	__u8 data[HS_TLS_DATA_MAX];
};

#define HS_TLS_REC_HDR_SIZE __builtin_offsetof(struct hs_tls_rec, data)

/*
 * TLS library calls seen by uprobes (OpenSSL). One record per call, sent at its return.
 * hdr.cookie is the connection when known: for SSL_do_handshake(), the one its SSL object
 * did socket I/O on inside a handshake call; for X509_verify_cert(), the tracked socket the
 * calling thread last did I/O on (or connected or accepted). 0 when unknown.
 */
enum hs_ssl_what {
	HS_SSL_HANDSHAKE = 1, /* SSL_do_handshake() (SSL_connect/SSL_accept call it) */
	HS_SSL_VERIFY = 2,    /* X509_verify_cert() */
};

struct hs_ssl_rec {
	struct hs_hdr hdr; /* ts_ns: when the call returned */
	__u8 what;	   /* enum hs_ssl_what */
	__u8 _pad[3];
	__s32 ret;	   /* the call's return value */
	__u64 entry_ns;	   /* when the call was entered */
	__u32 lib_id;	   /* which library (the uprobe's bpf cookie; user space keeps the list) */
	__u32 _pad2;
};

/*
 * A socket call of the application on a connection in its handshake moved bytes: the whole
 * stream up to seq_end has now been written by it (out) or read by it (in). With the TLS
 * records' stream offsets this tells when the application wrote or read each record.
 */
struct hs_io_rec {
	struct hs_hdr hdr; /* ts_ns: when the call returned */
	__u8 dir;	   /* enum hs_tls_dir */
	__u8 _pad[3];
	__u32 seq_end;	   /* stream offset just past the last byte moved (mod 2^32) */
};

/*
 * An outgoing packet left XMIT_LATE_NS or more after its event's time (bpf/xmit_times.bpf.h):
 * a SYN or FIN passed the egress program that long after its state change, or a segment after
 * the first of a GSO packet with TLS records reached the network device that long after the
 * packet left TCP. Its events take that time.
 */
enum hs_sent_what {
	HS_SENT_SYN = 1,   /* a client's first SYN: its syn_sent */
	HS_SENT_FIN = 2,   /* the FIN of its fin_out */
	HS_SENT_BYTES = 3, /* stream bytes [seq, seq + len): the TLS records ending in them */
};

struct hs_sent_rec {
	struct hs_hdr hdr; /* ts_ns: when it left */
	__u8 what;	   /* enum hs_sent_what */
	__u8 _pad[3];
	__u32 seq;	   /* HS_SENT_BYTES: stream offset of the first byte (as hs_tls_rec.seq) */
	__u32 len;	   /* HS_SENT_BYTES: bytes, > 0 */
	__u32 _pad2;
};

/* A process called execve(): user space looks for TLS libraries it maps. */
struct hs_exec_rec {
	struct hs_hdr hdr; /* cookie 0 */
	__u32 pid;
	__u32 _pad;
};

#endif /* HSTRACE_H */
