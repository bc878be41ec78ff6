#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""tcp_peer.py - a small real TCP peer for hstrace tests (and by hand).

Each peer is its own process, so its pid (and, with --comm, its comm) is known to whoever
traces it. Only the standard library is used.

  server: listen on --addr/--port (port 0: any free port), print "listening <port>", then for
          each of --count connections (0: forever): optionally wait until one is pending and
          sleep --accept-delay, accept ("accepted <addr> <port>"), read until EOF, send
          --reply bytes, close ("closed <port>"). "::" is dual-stack (IPV6_V6ONLY=0).
  client: print "pid <pid>", then --count times: connect ("connected <local port>", or
          "connect_error <port> <ERRNO>"), send --send bytes, hold --hold seconds, then close:
          with --linger0 by RST; with --no-read at once (FIN); else shutdown(SHUT_WR), read
          until EOF, close. Prints "done" at the end; exit 1 if any connect failed.

Examples:
  tcp_peer.py server --port 8080 --accept-delay 0.3 --reply 100
  tcp_peer.py client --port 8080 --send 1000 --count 3
  tcp_peer.py client --addr ::1 --port 8080 --linger0 --hold 0.5
"""

import argparse
import errno
import os
import select
import socket
import sys
import time


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def set_comm(name):
    # The task name the kernel (and so hstrace) reports for this process.
    with open("/proc/self/comm", "w") as f:
        f.write(name[:15])


def wait_stdin():
    # Blocks until a line (or EOF) arrives on stdin: lets a test learn our pid first.
    sys.stdin.readline()


def errno_name(e):
    if e.errno is not None:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


def read_until_eof(sock):
    total = 0
    while True:
        data = sock.recv(65536)
        if not data:
            return total
        total += len(data)


def send_bytes(sock, n, payload=b"x"):
    chunk = (payload * (min(n, 65536) // len(payload) + 1))[:min(n, 65536)]
    left = n
    while left > 0:
        sent = sock.send(chunk[: min(left, len(chunk))])
        left -= sent


def family_for(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def accept_no_addr(ls):
    """accept(fd, NULL, NULL), as some servers call it (Python's accept() always asks for the
    peer's address)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.accept(ls.fileno(), None, None)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    # Not conn.getpeername(): that would ask for the address after all. The port is unknown.
    return socket.socket(fileno=fd), ("?", 0)


def run_server(a):
    fam = family_for(a.addr)
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6 and a.addr == "::":
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.bind((a.addr, a.port))
    ls.listen(a.backlog)
    port = ls.getsockname()[1]
    out("listening %d" % port)
    if a.no_accept:
        while True:
            time.sleep(3600)
    served = 0
    while a.count == 0 or served < a.count:
        if a.accept_delay > 0:
            # Delay counted from the moment a connection is ready to accept.
            select.select([ls], [], [])
            out("pending")
            time.sleep(a.accept_delay)
        if a.accept_no_addr:
            conn, peer = accept_no_addr(ls)
        else:
            conn, peer = ls.accept()
        out("accepted %s %d" % (peer[0], peer[1]))
        try:
            got = read_until_eof(conn)
            out("received %d" % got)
            if a.reply > 0:
                send_bytes(conn, a.reply)
        except OSError as e:
            out("conn_error %d %s" % (peer[1], errno_name(e)))
        conn.close()
        out("closed %d" % peer[1])
        served += 1
    ls.close()
    out("done")
    return 0


def connect_one(a, fam):
    s = socket.socket(fam, socket.SOCK_STREAM)
    if a.syncnt:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, a.syncnt)
    if a.connect_timeout > 0:
        s.setblocking(False)
        rc = s.connect_ex((a.addr, a.port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(rc, os.strerror(rc))
        _, w, _ = select.select([], [s], [], a.connect_timeout)
        if not w:
            s.close()  # give up while still in SYN_SENT
            raise OSError(errno.ETIMEDOUT, "gave up after %gs" % a.connect_timeout)
        rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if rc:
            s.close()
            raise OSError(rc, os.strerror(rc))
        s.setblocking(True)
    else:
        try:
            s.connect((a.addr, a.port))
        except OSError:
            s.close()
            raise
    return s


def run_client(a):
    out("pid %d" % os.getpid())
    if a.wait:
        wait_stdin()
    fam = family_for(a.addr)
    failed = 0
    for i in range(a.count):
        if i and a.interval > 0:
            time.sleep(a.interval)
        try:
            s = connect_one(a, fam)
        except OSError as e:
            out("connect_error %d %s" % (a.port, errno_name(e)))
            failed += 1
            continue
        lport = s.getsockname()[1]
        out("connected %d" % lport)
        try:
            if a.send > 0:
                send_bytes(s, a.send, bytes.fromhex(a.payload_hex) if a.payload_hex else b"x")
            if a.hold > 0:
                time.sleep(a.hold)
            if a.linger0:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            elif not a.no_read:
                s.shutdown(socket.SHUT_WR)
                got = read_until_eof(s)
                out("received %d" % got)
        except OSError as e:
            out("conn_error %d %s" % (lport, errno_name(e)))
        s.close()
        out("closed %d" % lport)
    out("done")
    return 1 if failed else 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    sv = sub.add_parser("server", help="accept connections")
    sv.add_argument("--addr", default="127.0.0.1", help="address to bind ('::' = dual-stack)")
    sv.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    sv.add_argument("--count", type=int, default=0, help="connections to serve (0: forever)")
    sv.add_argument("--accept-delay", type=float, default=0.0, help="seconds to wait before each accept")
    sv.add_argument("--reply", type=int, default=0, help="bytes to send back after EOF")
    sv.add_argument("--backlog", type=int, default=128, help="listen() backlog")
    sv.add_argument("--no-accept", action="store_true", help="listen but never accept")
    sv.add_argument("--accept-no-addr", action="store_true",
                    help="accept(fd, NULL, NULL): without asking for the peer's address")
    sv.add_argument("--comm", help="set this process's comm")

    cl = sub.add_parser("client", help="make connections")
    cl.add_argument("--addr", default="127.0.0.1", help="server address")
    cl.add_argument("--port", type=int, required=True, help="server port")
    cl.add_argument("--count", type=int, default=1, help="sequential connections")
    cl.add_argument("--send", type=int, default=0, help="bytes to send on each connection")
    cl.add_argument("--payload-hex", help="bytes to send, repeated up to --send (default 'x')")
    cl.add_argument("--hold", type=float, default=0.0, help="seconds to keep each connection open")
    cl.add_argument("--linger0", action="store_true", help="close with RST (SO_LINGER 0)")
    cl.add_argument("--no-read", action="store_true", help="close right after sending (no read)")
    cl.add_argument("--interval", type=float, default=0.0, help="seconds between connections")
    cl.add_argument("--connect-timeout", type=float, default=0.0,
                    help="give up connecting after SEC (close in SYN_SENT)")
    cl.add_argument("--syncnt", type=int, default=0, help="TCP_SYNCNT (SYN retransmits before ETIMEDOUT)")
    cl.add_argument("--wait", action="store_true", help="wait for a line on stdin before starting")
    cl.add_argument("--comm", help="set this process's comm")

    a = p.parse_args(argv)
    if a.comm:
        set_comm(a.comm)
    try:
        return run_server(a) if a.mode == "server" else run_client(a)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
