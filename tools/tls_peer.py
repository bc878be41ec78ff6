#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""tls_peer.py - small real TLS and plain-text peers for hstrace tests (and by hand).

Python's ssl module (the system OpenSSL) does the TLS; only the standard library is used. Each
peer is its own process, so its pid is known to whoever traces it. Lines on stdout tell the
caller what happened.

  client        print "pid <pid>", connect ("connected <local port>"), TLS handshake
                ("handshake <version> <cipher>"), send --send, read the answer until the peer
                closes ("received <n>" and, with --print, "data <text>"), send close_notify,
                close, "done". The socket is read by the script itself into a memory BIO, so
                the read pattern is chosen here: --read-size N does recv(N) (large reads: a
                whole flight in one call), --exact-reads reads a 5-byte record header, then the
                record body (OpenSSL's own default pattern). Each socket read prints
                "recv <bytes> <record headers that started in it>".
                Failure drills: --timeout SEC gives up a handshake that gets no answer
                ("handshake_error timeout"); --stall-after-hello sends the ClientHello, prints
                "stalled" and never reads again (until killed); --keepalive IDLE,INTVL,CNT and
                --user-timeout MS set those TCP options, --send-delay SEC waits after the
                handshake before sending; a socket error after the handshake prints
                "conn_error <ERRNO>" (exit 1).
  server        listen on --addr/--port (0: any free port), print "listening <port>"; for each
                of --count connections: accept, TLS handshake, read until --expect bytes (or
                an empty line ending an HTTP request) came, answer (--echo: the bytes read;
                else --reply text), send close_notify, close ("closed <port>").
                --after-hello close|reset: answer the ClientHello with the server's first
                flight, then at once send a FIN (and read until the peer closes) or a RST
                (SO_LINGER 0) ("hello_then_<how> <port>"); --no-read: accept, print
                "accepted ...", never read (until killed); --fin-first: after the handshake
                send a FIN, wait until the peer's FIN took the socket to TCP_CLOSE, then read
                the request ("read_after_close <port> <bytes> closed").
  plain-client  plain TCP: connect, send --send, shutdown(SHUT_WR), read until EOF, close.
  plain-server  plain TCP: accept --count connections, read until EOF, send the bytes back
                (--hangup: read once, then close without answering; --reset: the same
                with a RST; --stall: read once, print "read <port> <bytes>" and wait until
                killed).

Examples:
  tls_peer.py server --cert server.pem --key server.key --reply 'hello'
  tls_peer.py client --port 4433 --ca ca.pem --sni localhost --read-size 65536 \\
      --send $'GET / HTTP/1.0\\r\\n\\r\\n'
"""

import argparse
import errno
import os
import socket
import ssl
import struct
import sys
import time

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def family_for(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def set_versions(ctx, version):
    if version:
        ctx.minimum_version = ctx.maximum_version = VERSIONS[version]


class RecordCounter:
    """Follows the TLS record framing of the bytes read, to count the record headers that
    start in each socket read."""

    def __init__(self):
        self.hdr = b""
        self.left = 0

    def feed(self, data):
        n, i = 0, 0
        while i < len(data):
            if self.left:
                k = min(self.left, len(data) - i)
                self.left -= k
                i += k
                continue
            k = min(5 - len(self.hdr), len(data) - i)
            if not self.hdr:
                n += 1
            self.hdr += data[i:i + k]
            i += k
            if len(self.hdr) == 5:
                self.left = int.from_bytes(self.hdr[3:5], "big")
                self.hdr = b""
        return n


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def errno_name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__


def run_client(a):
    out("pid %d" % os.getpid())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if a.ca:
        ctx.load_verify_locations(a.ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    set_versions(ctx, a.tls)
    if a.ciphers:
        ctx.set_ciphers(a.ciphers)
    if a.alpn:
        ctx.set_alpn_protocols(a.alpn.split(","))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=a.sni or None)
    sock = socket.socket(family_for(a.addr), socket.SOCK_STREAM)
    if a.keepalive:
        idle, intvl, cnt = (int(x) for x in a.keepalive.split(","))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, intvl)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cnt)
    if a.user_timeout:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, a.user_timeout)
    sock.connect((a.addr, a.port))
    out("connected %d" % sock.getsockname()[1])
    if a.timeout:
        sock.settimeout(a.timeout)
    counter = RecordCounter()

    def flush():
        data = outgoing.read()
        if data:
            sock.sendall(data)

    def fill():
        if a.exact_reads:
            data = recv_exact(sock, 5)
            if len(data) == 5:
                out("recv %d %d" % (5, counter.feed(data)))
                body = recv_exact(sock, int.from_bytes(data[3:5], "big"))
                if body:
                    out("recv %d %d" % (len(body), counter.feed(body)))
                data += body
        else:
            data = sock.recv(a.read_size)
            if data:
                out("recv %d %d" % (len(data), counter.feed(data)))
        if data:
            incoming.write(data)
        else:
            incoming.write_eof()
        return bool(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            if a.stall_after_hello:
                out("stalled")
                while True:
                    time.sleep(3600)
            try:
                if not fill():
                    out("handshake_error eof")
                    return 1
            except socket.timeout:
                out("handshake_error timeout")
                sock.close()
                return 1
            except OSError as e:
                out("handshake_error %s" % errno_name(e))
                sock.close()
                return 1
        except ssl.SSLError as e:
            flush()  # the alert, if any
            out("handshake_error %s" % (e.reason or e))
            sock.close()
            return 1
    flush()
    out("handshake %s %s" % (tls.version(), tls.cipher()[0]))
    sock.settimeout(None)
    if a.send_delay:
        time.sleep(a.send_delay)
    got = b""
    try:
        if a.send:
            tls.write(a.send.encode().decode("unicode_escape").encode("latin-1"))
            flush()
        while True:
            try:
                chunk = tls.read(65536)
                if not chunk:
                    break
                got += chunk
            except ssl.SSLWantReadError:
                flush()
                if not fill():
                    break
            except ssl.SSLZeroReturnError:
                break
    except OSError as e:
        if isinstance(e, ssl.SSLError):
            raise
        out("conn_error %s" % errno_name(e))
        sock.close()
        return 1
    out("received %d" % len(got))
    if a.print:
        out("data %s" % got.decode("latin-1"))
    try:
        tls.unwrap()
    except ssl.SSLError:
        pass
    try:
        flush()
    except OSError:
        pass
    sock.close()
    out("done")
    return 0


def run_server(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    set_versions(ctx, a.tls)
    if a.alpn:
        ctx.set_alpn_protocols(a.alpn.split(","))
    fam = family_for(a.addr)
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.defer_accept:
        # The kernel drops the bare ACK ending the TCP handshake and creates the connection
        # only when the first data (the ClientHello) comes.
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 5)
    if a.fastopen:
        ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
    ls.bind((a.addr, a.port))
    ls.listen(16)
    out("listening %d" % ls.getsockname()[1])
    served = 0
    while a.count == 0 or served < a.count:
        conn, peer = ls.accept()
        out("accepted %s %d" % (peer[0], peer[1]))
        if a.no_read:
            while True:
                time.sleep(3600)
        if a.after_hello:
            hello_then_hang_up(ctx, conn, peer, a.after_hello)
            served += 1
            continue
        if a.read_delay:
            time.sleep(a.read_delay)  # a busy server: the ClientHello waits, unread
        try:
            tconn = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            out("handshake_error %s" % getattr(e, "reason", e))
            conn.close()
            served += 1
            continue
        if a.fin_first:
            half_close_first(tconn, peer)
            served += 1
            continue
        got = b""
        try:
            while True:
                if a.expect and len(got) >= a.expect:
                    break
                if not a.expect and b"\r\n\r\n" in got:
                    break
                chunk = tconn.recv(65536)
                if not chunk:
                    break
                got += chunk
            out("received %d" % len(got))
            tconn.sendall(got if a.echo else a.reply.encode())
            tconn.unwrap()
        except (ssl.SSLError, OSError) as e:
            out("conn_error %s" % getattr(e, "reason", e))
        tconn.close()
        out("closed %d" % peer[1])
        served += 1
    ls.close()
    out("done")
    return 0


def tcp_state(sock):
    """The socket's TCP state (TCP_INFO's first byte: 7 is TCP_CLOSE)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def half_close_first(tconn, peer):
    """After the handshake: a FIN at once (no close_notify), then wait until the peer's FIN
    took the socket to TCP_CLOSE, and only then read the request (the kernel keeps the
    bytes that came before), so the application reads a closed socket."""
    raw = socket.socket(fileno=os.dup(tconn.fileno()))  # SSLSocket.shutdown() drops TLS
    raw.shutdown(socket.SHUT_WR)
    end = time.time() + 10
    while tcp_state(raw) != 7 and time.time() < end:
        time.sleep(0.001)
    closed = tcp_state(raw) == 7
    raw.close()  # the duplicate descriptor only
    got = b""
    try:
        while b"\r\n\r\n" not in got:
            chunk = tconn.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ssl.SSLError, OSError) as e:
        out("conn_error %s" % getattr(e, "reason", e))
    out("read_after_close %d %d %s" % (peer[1], len(got), "closed" if closed else "open"))
    tconn.close()


def hello_then_hang_up(ctx, conn, peer, how):
    """Reads the ClientHello, sends the server's first flight (ServerHello ...), then closes
    the connection at once: with a FIN ("close") or a RST ("reset")."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    while True:
        try:
            tls.do_handshake()
            break  # not expected: the client has not answered yet
        except ssl.SSLWantReadError:
            data = outgoing.read()
            if data:
                conn.sendall(data)
                break
            chunk = conn.recv(65536)
            if not chunk:
                break
            incoming.write(chunk)
    if how == "reset":
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        # FIN at once, then read until the peer closes too: the close never finds unread
        # bytes (which would make it a RST), whenever the peer's answer comes.
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    conn.close()
    out("hello_then_%s %d" % (how, peer[1]))


def run_plain_client(a):
    out("pid %d" % os.getpid())
    s = socket.socket(family_for(a.addr), socket.SOCK_STREAM)
    s.connect((a.addr, a.port))
    out("connected %d" % s.getsockname()[1])
    s.sendall(a.send.encode())
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    out("received %d" % len(got))
    out("done")
    return 0


def run_plain_server(a):
    ls = socket.socket(family_for(a.addr), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.addr, a.port))
    ls.listen(16)
    out("listening %d" % ls.getsockname()[1])
    for _ in range(a.count):
        conn, peer = ls.accept()
        if a.stall:
            got = conn.recv(65536)
            out("read %d %d" % (peer[1], len(got)))
            while True:
                time.sleep(3600)
        if a.hangup or a.reset:
            got = conn.recv(65536)
            if a.reset:  # SO_LINGER 0: close() sends a RST
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            out("hangup %d after %d bytes" % (peer[1], len(got)))
            conn.close()
            continue
        got = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        conn.sendall(got)
        conn.close()
        out("closed %d" % peer[1])
    ls.close()
    out("done")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    cl = sub.add_parser("client", help="TLS client with a chosen read pattern")
    cl.add_argument("--addr", default="127.0.0.1")
    cl.add_argument("--port", type=int, required=True)
    cl.add_argument("--ca", help="CA file to verify the server with (default: no verification)")
    cl.add_argument("--sni", default="", help="server name (SNI and host name check)")
    cl.add_argument("--tls", choices=sorted(VERSIONS), help="only this TLS version")
    cl.add_argument("--alpn", help="comma-separated ALPN protocols to offer")
    cl.add_argument("--ciphers", help="OpenSSL cipher list for TLS <= 1.2")
    cl.add_argument("--send", default="", help="text to send (backslash escapes allowed)")
    cl.add_argument("--print", action="store_true", help="print what was received")
    cl.add_argument("--timeout", type=float, default=0.0,
                    help="give up the handshake after SEC without an answer")
    cl.add_argument("--stall-after-hello", action="store_true",
                    help="send the ClientHello, then never read again (until killed)")
    cl.add_argument("--keepalive", metavar="IDLE,INTVL,CNT",
                    help="SO_KEEPALIVE with these TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT")
    cl.add_argument("--user-timeout", type=int, default=0, metavar="MS",
                    help="TCP_USER_TIMEOUT in milliseconds")
    cl.add_argument("--send-delay", type=float, default=0.0,
                    help="seconds to wait after the handshake before sending")
    g = cl.add_mutually_exclusive_group()
    g.add_argument("--read-size", type=int, default=65536, help="bytes per recv() (default)")
    g.add_argument("--exact-reads", action="store_true",
                   help="read each record as a 5-byte header, then its body")

    sv = sub.add_parser("server", help="TLS server")
    sv.add_argument("--addr", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=0)
    sv.add_argument("--cert", required=True)
    sv.add_argument("--key", required=True)
    sv.add_argument("--tls", choices=sorted(VERSIONS), help="only this TLS version")
    sv.add_argument("--alpn", help="comma-separated ALPN protocols to accept")
    sv.add_argument("--count", type=int, default=1, help="connections to serve (0: forever)")
    sv.add_argument("--defer-accept", action="store_true",
                    help="TCP_DEFER_ACCEPT: the connection is created by its first data")
    sv.add_argument("--read-delay", type=float, default=0.0,
                    help="seconds to wait after accept() before the handshake")
    sv.add_argument("--fastopen", action="store_true",
                    help="TCP_FASTOPEN: accept data on the SYN (net.ipv4.tcp_fastopen & 2)")
    sv.add_argument("--expect", type=int, default=0,
                    help="bytes to read before answering (default: an HTTP request)")
    sv.add_argument("--echo", action="store_true", help="answer with the bytes read")
    sv.add_argument("--after-hello", choices=("close", "reset"),
                    help="send the first flight, then close (FIN) or reset (RST) at once")
    sv.add_argument("--no-read", action="store_true",
                    help="accept, then never read (until killed)")
    sv.add_argument("--fin-first", action="store_true",
                    help="after the handshake send a FIN, wait until the peer's FIN closed "
                    "the socket, then read the request")
    sv.add_argument("--reply", default="HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n",
                    help="answer text")

    pc = sub.add_parser("plain-client", help="plain TCP client")
    pc.add_argument("--addr", default="127.0.0.1")
    pc.add_argument("--port", type=int, required=True)
    pc.add_argument("--send", default="", help="text to send")

    ps = sub.add_parser("plain-server", help="plain TCP echo server")
    ps.add_argument("--addr", default="127.0.0.1")
    ps.add_argument("--port", type=int, default=0)
    ps.add_argument("--count", type=int, default=1)
    ps.add_argument("--hangup", action="store_true",
                    help="read once (e.g. a ClientHello), then close without answering")
    ps.add_argument("--reset", action="store_true",
                    help="like --hangup, but close with a RST (SO_LINGER 0)")
    ps.add_argument("--stall", action="store_true",
                    help="read once (e.g. a ClientHello), then wait until killed")

    a = p.parse_args(argv)
    run = {"client": run_client, "server": run_server, "plain-client": run_plain_client,
           "plain-server": run_plain_server}[a.mode]
    try:
        return run(a)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
