# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Filters: -p PID, --port N, -4, -6, --comm NAME. Every record printed must pass the filter
(whatever else runs on the machine), and our matching connections must be there."""

import harness as H
from harness import check


def _finish(*peers):
    for p in peers:
        p.wait_exit(15)
    H.settle()


def test_filter_pid_client():
    srv = H.start_server(count=2, reply=1, comm="hs_flt_srv")
    a = H.start_client(srv.port, send=1, wait=True, comm="hs_flt_pa", name="clientA")
    b = H.start_client(srv.port, send=1, wait=True, comm="hs_flt_pb", name="clientB")
    hs = H.start_hstrace(["--json", "--all", "-p", str(a.pid)])
    a.release()
    a.wait_exit(10)
    b.release()
    _finish(b, srv)
    recs = hs.stop_ok()
    bad = [r for r in recs if r.get("pid") != a.pid]
    check(not bad, "-p %d printed records of other pids" % a.pid, bad)
    c = H.one(recs, "client A", role="client", lport=a.ports()[0], rport=srv.port)
    H.check_record(c)
    check(len(recs) == 1, "expected only client A's connection, got %d records" % len(recs), recs)


def test_filter_pid_server():
    srv = H.start_server(count=2, reply=1, comm="hs_flt_srv")
    hs = H.start_hstrace(["--json", "--all", "-p", str(srv.pid)])
    a = H.start_client(srv.port, send=1, comm="hs_flt_pa", name="clientA")
    a.wait_exit(10)
    b = H.start_client(srv.port, send=1, comm="hs_flt_pb", name="clientB")
    _finish(b, srv)
    recs = hs.stop_ok()
    bad = [r for r in recs if r.get("pid") != srv.pid]
    check(not bad, "-p %d printed records of other pids" % srv.pid, bad)
    for cl in (a, b):
        s = H.one(recs, "server end of %s" % cl.name, role="server", lport=srv.port,
                  rport=cl.ports()[0])
        H.check_record(s)
    check(len(recs) == 2, "expected the server's 2 connections, got %d records" % len(recs), recs)


def test_filter_port():
    s1 = H.start_server(count=1, reply=1, comm="hs_flt_s1", name="server1")
    s2 = H.start_server(count=1, reply=1, comm="hs_flt_s2", name="server2")
    hs = H.start_hstrace(["--json", "--all", "--port", str(s1.port)])
    c1 = H.start_client(s1.port, send=1, comm="hs_flt_c1", name="client1")
    c2 = H.start_client(s2.port, send=1, comm="hs_flt_c2", name="client2")
    _finish(c1, c2, s1, s2)
    recs = hs.stop_ok()
    bad = [r for r in recs if r not in H.by_port(recs, s1.port)]
    check(not bad, "--port %d printed records of other ports" % s1.port, bad)
    check(not H.by_port(recs, s2.port), "records of port %d shown" % s2.port, recs)
    c = H.one(recs, "client1", role="client", lport=c1.ports()[0], rport=s1.port)
    s = H.one(recs, "server1", role="server", lport=s1.port, rport=c1.ports()[0])
    check(c["pid"] == c1.pid and s["pid"] == s1.pid, "pids", c, s)


def _v4_and_v6(args):
    s4 = H.start_server(addr="127.0.0.1", count=1, reply=1, comm="hs_flt_s4", name="server4")
    s6 = H.start_server(addr="::1", count=1, reply=1, comm="hs_flt_s6", name="server6")
    hs = H.start_hstrace(["--json", "--all", *args])
    c4 = H.start_client(s4.port, addr="127.0.0.1", send=1, comm="hs_flt_c4", name="client4")
    c6 = H.start_client(s6.port, addr="::1", send=1, comm="hs_flt_c6", name="client6")
    _finish(c4, c6, s4, s6)
    return hs.stop_ok(), (s4, c4), (s6, c6)


def test_filter_ipv4_only():
    recs, (s4, c4), (s6, c6) = _v4_and_v6(["-4"])
    bad = [r for r in recs if r.get("ip_version") != 4]
    check(not bad, "-4 printed non-IPv4 records", bad)
    check(not H.by_port(recs, s6.port), "-4 printed the IPv6 connection", H.by_port(recs, s6.port))
    H.one(recs, "IPv4 client", role="client", pid=c4.pid, lport=c4.ports()[0], rport=s4.port)
    H.one(recs, "IPv4 server", role="server", pid=s4.pid, lport=s4.port, rport=c4.ports()[0])


def test_filter_ipv6_only():
    recs, (s4, c4), (s6, c6) = _v4_and_v6(["-6"])
    bad = [r for r in recs if r.get("ip_version") != 6]
    check(not bad, "-6 printed non-IPv6 records", bad)
    check(not H.by_port(recs, s4.port), "-6 printed the IPv4 connection", H.by_port(recs, s4.port))
    H.one(recs, "IPv6 client", role="client", pid=c6.pid, lport=c6.ports()[0], rport=s6.port)
    H.one(recs, "IPv6 server", role="server", pid=s6.pid, lport=s6.port, rport=c6.ports()[0])


def test_filter_comm():
    srv = H.start_server(count=2, reply=1, comm="hs_flt_srv")
    hs = H.start_hstrace(["--json", "--all", "--comm", "hs_flt_ca"])
    a = H.start_client(srv.port, send=1, comm="hs_flt_ca", name="clientA")
    a.wait_exit(10)
    b = H.start_client(srv.port, send=1, comm="hs_flt_cb", name="clientB")
    _finish(b, srv)
    recs = hs.stop_ok()
    bad = [r for r in recs if r.get("comm") != "hs_flt_ca"]
    check(not bad, "--comm hs_flt_ca printed records of other comms", bad)
    c = H.one(recs, "client A", role="client", lport=a.ports()[0], rport=srv.port)
    check(c["pid"] == a.pid, "pid", c)
    check(len(recs) == 1, "expected only client A's connection, got %d" % len(recs), recs)
