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

/* Record kinds (hs_hdr.kind). Later issues add kinds; never renumber. */
enum hs_rec_kind {
	HS_REC_TCP = 1, /* struct hs_tcp_rec */
	HS_REC_TLS = 2, /* struct hs_tls_rec */
	HS_REC_SSL = 3, /* struct hs_ssl_rec */
	HS_REC_EXEC = 4, /* struct hs_exec_rec */
};

/* TCP timeline events (hs_tcp_rec.event). Never renumber: recorded streams depend on them. */
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
	HS_EV__MAX = 11,
};

/* hs_tcp_rec.flags */
enum hs_tcp_flags {
	HS_F_OWNER = 1 << 0, /* pid/tid/comm/fd name the socket's owner (connect/accept caller) */
};

/* Common header of every record. */
struct hs_hdr {
	__u16 kind;   /* enum hs_rec_kind */
	__u16 size;   /* sizeof the whole record, for sanity checks */
	__u32 cpu;    /* CPU that produced it */
	__u64 ts_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u64 cookie; /* socket cookie: the connection's identity, never reused while up */
};

/* One TCP event. Addresses and ports are re-read on every event because the client's local
 * port is assigned only after CLOSE -> SYN_SENT. */
struct hs_tcp_rec {
	struct hs_hdr hdr;
	__u16 event;	 /* enum hs_tcp_event */
	__u16 family;	 /* AF_INET (2) or AF_INET6 (10): the socket's family */
	__u8 old_state;	 /* TCP state before (state changes only; kernel TCP_* numbers) */
	__u8 new_state;	 /* TCP state after */
	__u16 sport;	 /* local port, host order (0 until bound) */
	__u16 dport;	 /* remote port, host order */
	__u16 _pad;
	__u32 flags;	 /* enum hs_tcp_flags */
	__u32 pid;	 /* tgid of the owner, when HS_F_OWNER */
	__u32 tid;	 /* thread id of the owner, when HS_F_OWNER */
	__s32 fd;	 /* owner's fd for the socket, -1 when unknown */
	__s32 sk_err;	 /* sk->sk_err at CLOSED (ECONNREFUSED, ETIMEDOUT, ...), else 0 */
	__u32 srtt_us;	 /* smoothed RTT in µs at this event (first sample = SYN/SYN-ACK RTT) */
	__u32 retrans;	 /* total retransmitted segments so far (SYN retransmits included) */
	__u32 data_segs_out;  /* segments sent that carried payload (retransmits included) */
	__u32 data_segs_in;   /* segments received that carried payload */
	__u32 _pad2;
	__u64 bytes_sent;     /* payload bytes sent, retransmits included (tcp_sock.bytes_sent) */
	__u64 bytes_received; /* payload bytes received, in order (SYN/FIN not counted) */
	__u8 saddr[HS_ADDR_LEN]; /* local address; IPv4 in the first 4 bytes, network order */
	__u8 daddr[HS_ADDR_LEN]; /* remote address */
	char comm[HS_COMM_LEN];	 /* owner's comm, when HS_F_OWNER */
};

/* Kernel TCP state numbers (include/net/tcp_states.h), as in hs_tcp_rec.old/new_state. */
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
 * TLS as seen in a tracked socket's own read/write system calls. BPF follows the record
 * framing (5-byte headers), the handshake-message framing inside plaintext handshake records
 * (4-byte headers) and the certificate list inside a plaintext Certificate message. Only
 * headers leave the kernel, plus the start of ClientHello/ServerHello bodies and the two bytes
 * of a plaintext alert. Application data and encrypted records: header only.
 */
#define HS_TLS_DATA_MAX 1024 /* ClientHello/ServerHello body bytes sent at most */

enum hs_tls_what {
	HS_TLS_RECORD = 1,    /* a record header: content_type, version, len (body bytes);
			       * for a plaintext alert data[0..1] = level, description */
	HS_TLS_HANDSHAKE = 2, /* a plaintext handshake message header: hs_type, len (body bytes);
			       * for ClientHello (1) / ServerHello (2), data[] = body start */
	HS_TLS_CERTS = 3,     /* end of a plaintext Certificate message: count certificates,
			       * len = message body bytes */
	HS_TLS_DESYNC = 4,    /* framing lost in this direction (bad header, too many records
			       * in one call): no further TLS records for this direction */
};

enum hs_tls_dir {
	HS_DIR_OUT = 1, /* written by this end */
	HS_DIR_IN = 2,	/* read by this end */
};

/* One TLS observation. Sent with only data_len bytes of data[]: hdr.size says how long. */
struct hs_tls_rec {
	struct hs_hdr hdr;   /* ts_ns: when the system call that carried it returned */
	__u8 what;	     /* enum hs_tls_what */
	__u8 dir;	     /* enum hs_tls_dir */
	__u8 content_type;   /* record: 20 change_cipher_spec, 21 alert, 22 handshake, 23 data */
	__u8 hs_type;	     /* handshake: message type (1 client_hello, 2 server_hello, ...) */
	__u16 version;	     /* record: legacy record version (0x0301 ... 0x0303) */
	__u16 data_len;	     /* valid bytes in data[] */
	__u32 len;	     /* record / handshake message / certificate message body length */
	__u32 count;	     /* HS_TLS_CERTS: certificates in the chain */
	__u32 pid;	     /* thread that made the system call (its own context: reliable) */
	__u32 tid;
	__s32 fd;
	__u32 io_len;	     /* bytes moved by the system call this came from */
	__u8 data[HS_TLS_DATA_MAX];
};

#define HS_TLS_REC_HDR_SIZE ((unsigned long)&((struct hs_tls_rec *)0)->data)

/*
 * TLS library calls seen by uprobes (OpenSSL). One record per call, sent at its return.
 * hdr.cookie is the connection when known: for SSL_do_handshake(), the one its SSL object
 * did socket I/O on inside a handshake call; for X509_verify_cert(), the one the calling
 * thread last did TLS I/O on. 0 when unknown.
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
	__u64 ssl;	   /* SSL * (HS_SSL_HANDSHAKE) */
	__u32 pid;
	__u32 tid;
	__u32 lib_id;	   /* which library (the uprobe's bpf cookie; user space keeps the list) */
	__u32 _pad2;
};

/* A process called execve(): user space looks for TLS libraries it maps. */
struct hs_exec_rec {
	struct hs_hdr hdr; /* cookie 0 */
	__u32 pid;
	__u32 _pad;
};

#endif /* HSTRACE_H */
