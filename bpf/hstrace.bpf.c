// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * hstrace.bpf.c - kernel side of hstrace. One BPF object; each concern has its own file:
 *
 *   common.bpf.h         ring buffer, record header, per-socket and per-thread state
 *   tcp_states.bpf.h     tp_btf/inet_sock_set_state, tcp_retransmit_skb, tcp_receive_reset,
 *                        tcp_send_reset: the TCP timeline; cgroup/getpeername4/6: accept()
 *   xmit_times.bpf.h     tp_btf/net_dev_start_xmit: when a watched outgoing packet reached
 *                        the network device, if later than it left TCP
 *   tls_capture.bpf.h    cgroup_skb/egress, cgroup_skb/ingress: TLS framing from packets
 *   socket_calls.bpf.h   tp_btf/sock_send_length, sock_recv_length: which thread works on
 *                        which connection (owner of an accept() not seen, OpenSSL binding)
 *   ssl_probes.bpf.h     OpenSSL uprobes (X509_verify_cert, SSL_do_handshake) and
 *                        tp_btf/sched_process_exec (new programs to scan for libraries)
 *
 * No system-call tracepoint: nothing here runs for file or pipe I/O, or for a system call that
 * is not a socket call. kprobes and fentry are not used (not available everywhere).
 *
 * Connection identity is the socket cookie (a 64-bit counter the kernel never reuses).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "hstrace.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#include "common.bpf.h"
#include "xmit_times.bpf.h"
#include "tcp_states.bpf.h"
#include "tls_capture.bpf.h"
#include "ssl_probes.bpf.h"
#include "socket_calls.bpf.h"
