# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Capture at the socket and packet layer: which hooks hstrace uses (no system-call tracepoint),
that they go away with it (even on kill -9), that traffic passes unchanged, who owns a server
connection whose accept() did not ask for the peer's address, the fallback for kernels without
the socket-call tracepoints, and a plain stream that happens to start with the byte 0x16."""

import json
import os
import re
import signal
import subprocess
import time

import harness as H
import tls_peers as T
from harness import check

OUR_PROGS = {"handle_egress", "handle_ingress", "handle_getpeername4", "handle_getpeername6"}


def _progs_of(pid):
    """{prog id: (type, name)} of the BPF programs process pid holds (a program's or link's fd
    shows its prog_id in /proc/PID/fdinfo)."""
    ids = set()
    d = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(d):
        try:
            text = open(os.path.join(d, fd)).read()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True, capture_output=True,
                         text=True).stdout
    return {p["id"]: (p["type"], p.get("name", "")) for p in json.loads(out) if p["id"] in ids}


def _cgroup2_root():
    for mp in H.mounts_of_type("cgroup2"):
        return mp
    raise AssertionError("no cgroup2 mount")


def _cgroup_prog_names():
    out = subprocess.run(["bpftool", "cgroup", "show", _cgroup2_root(), "-j"], check=True,
                         capture_output=True, text=True).stdout
    return [p.get("name") for p in json.loads(out.strip() or "[]")]


def test_hooks_no_syscall_tracepoint():
    hs = H.start_hstrace(["--json", "--all"])
    progs = _progs_of(hs.pid)
    H.log("hstrace's programs: %s" % sorted(progs.values()))
    types = {t for t, n in progs.values()}
    # tp_btf programs show as "tracing", uprobes as "kprobe"; a classic (syscall) tracepoint
    # would be "tracepoint", a raw one "raw_tracepoint".
    check(not types & {"tracepoint", "raw_tracepoint"},
          "a tracepoint-type program is loaded: %s" % sorted(progs.values()))
    check({"cgroup_skb", "cgroup_sock_addr", "tracing"} <= types,
          "packet, getpeername or tp_btf programs missing: %s" % sorted(progs.values()))
    attached = _cgroup_prog_names()
    check(OUR_PROGS <= set(attached), "not attached to the cgroup v2 root: %s" % attached)
    H.traced_tcp_pair(hs, "hs_hk_")


def test_kill_9_leaves_nothing_attached():
    hs = H.start_hstrace(["--json"])
    ids = set(_progs_of(hs.pid))
    check(ids, "hstrace holds no BPF program")
    before = _cgroup_prog_names().count("handle_egress")
    hs.proc.send_signal(signal.SIGKILL)
    hs.proc.wait(10)
    end = time.monotonic() + 5
    while True:
        out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True,
                             capture_output=True, text=True).stdout
        left = ids & {p["id"] for p in json.loads(out)}
        if not left or time.monotonic() > end:
            break
        time.sleep(0.1)
    check(not left, "BPF programs left after kill -9: %s" % sorted(left))
    check(_cgroup_prog_names().count("handle_egress") == before - 1,
          "the packet programs are still attached to the cgroup root: %s" % _cgroup_prog_names())
    # And a new instance works.
    hs2 = H.start_hstrace(["--json", "--all"])
    H.traced_tcp_pair(hs2, "hs_k9_")


def test_two_instances():
    hs1 = H.start_hstrace(["--json", "--all"])
    hs2 = H.start_hstrace(["--json", "--all"])
    srv = H.start_server(count=1, reply=4, comm="hs_2i_s")
    cl = H.start_client(srv.port, send=4, comm="hs_2i_c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    H.settle()
    for hs in (hs1, hs2):
        recs = hs.stop_ok()
        c = H.one(recs, "client", role="client", lport=cl.ports()[0], rport=srv.port)
        check(c["result"] == "ok" and c["pid"] == cl.pid, "client record", c)


# A TLS server and client that check every byte: the client sends SIZE bytes and the server
# answers with their SHA-256, so a changed or lost byte fails the transfer.
ECHO_SERVER = r"""
import hashlib, socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(64)
print("listening %d" % ls.getsockname()[1], flush=True)
for _ in range(int(sys.argv[3])):
    c, _ = ls.accept()
    with ctx.wrap_socket(c, server_side=True) as t:
        h, n, size = hashlib.sha256(), 0, int(sys.argv[4])
        while n < size:
            b = t.recv(65536)
            if not b:
                break
            h.update(b)
            n += len(b)
        t.sendall(h.hexdigest().encode())
"""

ECHO_CLIENT = r"""
import hashlib, os, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
data = os.urandom(int(sys.argv[4]))
for i in range(int(sys.argv[3])):
    with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s:
        with ctx.wrap_socket(s, server_hostname="hstrace.test") as t:
            t.sendall(data)
            got = b""
            while len(got) < 64:
                b = t.recv(64)
                if not b:
                    break
                got += b
    if got.decode() != hashlib.sha256(data).hexdigest():
        print("MISMATCH %d" % i, flush=True)
        sys.exit(1)
print("all ok", flush=True)
"""


def test_traffic_unchanged_with_ring_buffer_full():
    """A 4 KiB ring buffer overflows under 40 TLS connections of 1 MiB each plus 200 plain
    ones: records are lost (counted), and every byte still arrives unchanged: the packet
    programs never drop or alter a packet."""
    certs = T.make_certs()
    d = H.make_tmpdir()
    (d / "srv.py").write_text(ECHO_SERVER)
    (d / "cli.py").write_text(ECHO_CLIENT)
    n, size = 40, 1 << 20
    hs = H.start_hstrace(["--json", "--all", "--ringbuf-kb", "4", "-o", str(d / "out.ndjson")])
    srv = T.Proc("echo server", [H.PYTHON, d / "srv.py", certs.server, certs.server_key, n,
                                 size])
    port = int(srv.wait_line(r"^listening (\d+)$").group(1))
    plain = H.start_server(count=200, reply=1000, name="plain server")
    pcl = H.start_client(plain.port, count=200, send=1000, name="plain client")
    cl = T.Proc("echo client", [H.PYTHON, d / "cli.py", port, certs.ca, n, size])
    cl.wait_exit(120)
    check("all ok" in cl.stdout(), "the TLS transfer changed", cl.diag())
    srv.wait_exit(30)
    pcl.wait_exit(60)
    plain.wait_exit(30)
    check(len(plain.lines("received 1000")) == 200 and
          len(pcl.lines("received 1000")) == 200, "plain transfers lost bytes",
          plain.diag(), pcl.diag())
    H.settle()
    hs.stop(signal.SIGINT)
    check(hs.rc == 0, "hstrace failed", hs.stderr())
    lost = int(next(l for l in hs.stderr().splitlines() if l.startswith("Summary:"))
               .split("lost=")[1].split()[0])
    H.log("records lost with a 4 KiB ring buffer: %d" % lost)
    check(lost > 0, "a 4 KiB ring buffer lost nothing: the test did not fill it")


def test_accept_without_address():
    """accept(fd, NULL, NULL) runs no getpeername hook: the server connection's owner is the
    first process that receives or sends on it, and there is no accepted event (nor
    accept_wait). Without the socket-call tracepoints the owner stays unknown."""
    for env_off in (False, True):
        env = dict(os.environ, HSTRACE_NO_SOCKET_CALLS="1") if env_off else None
        hs = H.start_hstrace(["--json", "--all"], env=env)
        srv = H.start_server(count=1, reply=4, comm="hs_nad_s", accept_no_addr=True)
        cl = H.start_client(srv.port, send=4, comm="hs_nad_c")
        cl.wait_exit(10)
        srv.wait_exit(10)
        H.settle()
        recs = hs.stop_ok()
        s = H.one(recs, "server", role="server", lport=srv.port, rport=cl.ports()[0])
        H.check_record(s)
        check("accepted" not in H.names(s) and "accept_wait" not in s["phases_us"],
              "accepted without a getpeername hook", s)
        if env_off:
            check(s["pid"] is None and s["comm"] is None, "owner without any owner hook", s)
            check("Linux < 6.3" in hs.stderr(), "no message about the missing tracepoints",
                  hs.stderr())
        else:
            check(s["pid"] == srv.pid and s["comm"] == "hs_nad_s",
                  "owner is not the server process", s)


def test_no_socket_calls_tls():
    """The fallback for kernels without sock_send_length/sock_recv_length (Linux < 6.3),
    forced: TLS events keep their wire times and have no app_us; a TLS 1.2 handshake is
    followed exactly as with them."""
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_2"])
    env = dict(os.environ, HSTRACE_NO_SOCKET_CALLS="1")
    hs = H.start_hstrace(["--json"], env=env)
    cl = T.curl(srv.port, certs)
    cl.wait_exit(30)
    srv.wait_exit(15)
    H.settle()
    recs = hs.stop_ok()
    c, s = T.ends(recs, cl.pid, srv.port)
    want = [("client_hello", "out"), ("server_hello", "in"), ("certificate", "in"),
            ("server_key_exchange", "in"), ("server_hello_done", "in"),
            ("client_key_exchange", "out"), ("change_cipher_spec", "out"), ("finished", "out"),
            ("change_cipher_spec", "in"), ("finished", "in"), ("app_data", "out"),
            ("app_data", "in")]
    for r, w in ((c, want), (s, T.mirror(want))):
        T.checked(r)
        check(r["result"] == "ok" and T.strip_closing_alerts(T.tls_seq(r)) == w,
              "%s TLS events %s" % (r["role"], T.tls_seq(r)), r)
        check(not any("app_us" in e for e in r["events"]), "app_us without socket calls", r)
    check(s["pid"] == srv.pid and "accepted" in H.names(s), "server owner from accept()", s)
    # Verification is still bound to the connection (the thread that connected it).
    check("cert_verify" in c["phases_us"], "cert_verify not bound without socket calls", c)


def test_plain_stream_starting_with_0x16():
    """A plain TCP stream whose first byte is 0x16 (a TLS handshake record's type) but that
    is not TLS: no TLS object, no TLS event."""
    srv = H.start_server(count=1, reply=100, comm="hs_x16_s")
    hs = H.start_hstrace(["--json", "--all"])
    cl = H.start_client(srv.port, send=300, payload_hex="16" + "68656c6c6f20776f726c64",
                        comm="hs_x16_c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    H.settle()
    recs = hs.stop_ok()
    for r in H.by_port(recs, srv.port):
        H.check_record(r)
        check("tls" not in r and r["result"] == "ok", "a 0x16 plain stream taken for TLS", r)
    check(len(H.by_port(recs, srv.port)) == 2, "expected both ends", recs)


def test_clienthello_completes_tcp_handshake():
    """With TCP_DEFER_ACCEPT the server's kernel ignores the bare ACK and creates the
    connection for the ClientHello's segment, which therefore reaches the listening socket's
    filter, not the new connection's (as when the bare ACK is lost or overtaken): hstrace still
    follows the server's incoming stream from its first byte."""
    certs = T.make_certs()
    srv = T.py_server(certs, ["--defer-accept", "--tls", "1.3"])
    hs = H.start_hstrace(["--json"])
    cl = T.py_client(srv.port, ["--ca", certs.ca, "--sni", T.SNI, "--send",
                                "GET / HTTP/1.0\\r\\n\\r\\n"])
    cl.wait_exit(30)
    srv.wait_exit(15)
    H.settle()
    recs = hs.stop_ok()
    c, s = T.ends(recs, cl.pid, srv.port)
    for r in (c, s):
        T.checked(r)
        check(r["result"] == "ok" and not r["tls"].get("desync") and r["tls"]["handshake_done"],
              "%s end" % r["role"], r)
    check(T.tls_seq(s)[:1] == [("client_hello", "in")] and s["tls"].get("sni") == T.SNI,
          "the server did not see the ClientHello", s)


def test_tls_dual_stack_server():
    """A TLS server on a dual-stack socket ("::") reached over IPv4: its packets are IPv4 on
    an AF_INET6 socket (IPv4-mapped addresses); both ends are followed and shown as IPv4."""
    certs = T.make_certs()
    srv = T.py_server(certs, ["--addr", "::", "--tls", "1.2"])
    hs = H.start_hstrace(["--json"])
    cl = T.py_client(srv.port, ["--ca", certs.ca, "--sni", T.SNI, "--send",
                                "GET / HTTP/1.0\\r\\n\\r\\n"])
    cl.wait_exit(30)
    srv.wait_exit(15)
    H.settle()
    recs = hs.stop_ok()
    c, s = T.ends(recs, cl.pid, srv.port)
    for r in (c, s):
        T.checked(r)
        check(r["ip_version"] == 4 and r["result"] == "ok" and r["tls"]["handshake_done"]
              and not r["tls"].get("desync"), "%s end" % r["role"], r)
        check(T.tls_seq(r)[0][0] == "client_hello" and
              all("app_us" in e for e in T.tls_events(r)), "%s TLS events" % r["role"], r)
    check(s["local"]["addr"] == "127.0.0.1" and s["pid"] == srv.pid, "server end", s)


def test_tcp_fast_open():
    """TCP Fast Open: the second curl connection sends its ClientHello on the SYN. The client
    end follows it from the SYN; the server end queues it before its socket is established,
    which hstrace cannot follow: it says so (desync) and judges nothing it did not see (the
    result is TCP's, not tls_failed)."""
    path = "/proc/sys/net/ipv4/tcp_fastopen"
    old = open(path).read().strip()
    open(path, "w").write("3")
    H.add_cleanup(lambda: open(path, "w").write(old), "tcp_fastopen")
    certs = T.make_certs()
    srv = T.py_server(certs, ["--fastopen", "--tls", "1.3", "--count", "2"])
    hs = H.start_hstrace(["--json"])
    curls = []
    for i in range(2):
        cl = T.curl(srv.port, certs, args=["--tcp-fastopen", "-H", "Connection: close"],
                    name="curl #%d" % i)
        cl.wait_exit(30)
        curls.append(cl)
    srv.wait_exit(15)
    H.settle()
    recs = hs.stop_ok()
    c, s = T.ends(recs, curls[1].pid, srv.port)
    for r in (c, s):
        T.checked(r)
    # The ClientHello left with the SYN (curl connects with TCP_FASTOPEN_CONNECT: the SYN
    # leaves with its first write), before the handshake completed.
    ch = T.tev(c, "client_hello", "out")
    check(ch["t_us"] < H.t_us(c, "established") and c["result"] == "ok"
          and c["tls"]["handshake_done"] and not c["tls"].get("desync"),
          "client end of a Fast Open connection", c)
    check(s["tls"].get("desync") is True and s["result"] != "tls_failed",
          "server end of a Fast Open connection", s)
    # The data on the SYN moved both ends' sequence numbers past their ISNs; the connection
    # id takes it out (docs/json.md, conn_id): the same on both ends.
    check(c.get("conn_id") and c["conn_id"] == s.get("conn_id"), "Fast Open conn_id", [c, s])


def test_lost_close_finishes_connection():
    """With a 4 KiB ring buffer, a burst of short connections loses records, some of them a
    connection's `closed`. The kernel notes those closes aside (lost_closes map) and hstrace
    finishes the connections from the note, as `close_lost`, counted in closes_lost: none of
    them stays open until hstrace stops (none is `incomplete`), and each ends with `closed`."""
    for attempt in range(3):
        d = H.make_tmpdir()
        out = d / "out.ndjson"
        hs = H.start_hstrace(["--json", "--all", "--ringbuf-kb", "4", "-o", str(out)])
        srv = H.start_server(count=400, reply=10, name="burst server")
        cl = H.start_client(srv.port, count=400, send=10, name="burst client")
        cl.wait_exit(60)
        srv.wait_exit(30)
        H.settle(1.0)
        recs = hs.stop_ok(path=out)
        summ = hs.summary()
        m = re.search(r"\bcloses_lost=(\d+)", hs.stderr())
        check(m, "Summary has no closes_lost=N", hs.stderr())
        burst = [r for r in recs if srv.port in (r["local"]["port"], r["peer"]["port"])]
        check(not [r for r in burst if r["result"] == "incomplete"],
              "a burst connection is still open at the end although every socket closed",
              [r for r in burst if r["result"] == "incomplete"][:3])
        lost_close = [r for r in burst if r["tcp"].get("close_lost")]
        for r in lost_close:
            H.check_record(r)
        H.log("attempt %d: lost=%d closes_lost=%s, %d records with close_lost"
              % (attempt, summ["lost"], m.group(1), len(lost_close)))
        check(summ["lost"] > 0, "a 4 KiB ring buffer lost nothing: the test did not fill it")
        if lost_close:
            check(int(m.group(1)) >= len(lost_close), "closes_lost below the records", summ)
            return
    check(False, "no closed record was lost in 3 bursts: the path was not exercised")


def test_idle_hstrace_sleeps():
    """With nothing to trace, every thread of hstrace sleeps (the main loop in its poll, the
    library scanner and the exporters on their condition variables): over 3 s it uses far less
    than the 3 s of CPU a thread that never sleeps would. A correctness check (a busy loop),
    not a speed target: the bound is 10 times what an idle hstrace uses here."""
    hs = H.start_hstrace(["--json", "--port", "1", "--metrics", "127.0.0.1:0", "--otlp",
                          "http://127.0.0.1:9"])
    def cpu_s():
        with open("/proc/%d/stat" % hs.pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
    c0 = cpu_s()
    time.sleep(3.0)
    used = cpu_s() - c0
    hs.stop_ok()
    H.log("idle hstrace: %.2f s of CPU in 3 s" % used)
    check(used < 0.3, "idle hstrace used %.2f s of CPU in 3 s: a thread does not sleep" % used)
