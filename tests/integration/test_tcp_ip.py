# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""IPv6 over ::1, and IPv4 / IPv6 clients of a dual-stack (::, IPV6_V6ONLY=0) server."""

import harness as H
from harness import check


def _ends(recs, cl, srv, lport):
    c = H.one(recs, "client", role="client", lport=lport, rport=srv.port)
    s = H.one(recs, "server", role="server", lport=srv.port, rport=lport)
    H.check_record(c)
    H.check_record(s)
    check(c["pid"] == cl.pid, "client pid %r, expected %d" % (c["pid"], cl.pid), c)
    check(s["pid"] == srv.pid, "server pid %r, expected %d" % (s["pid"], srv.pid), s)
    check(c["result"] == "ok" and s["result"] == "ok", "results are not ok", c, s)
    return c, s


def test_ipv6_loopback():
    srv = H.start_server(addr="::1", count=1, reply=20, comm="hs_srv_v6")
    hs = H.start_hstrace(["--json", "--all"])
    cl = H.start_client(srv.port, addr="::1", send=30, comm="hs_cli_v6")
    cl.wait_exit(10)
    srv.wait_exit(10)
    H.settle()
    recs = hs.stop_ok()
    c, s = _ends(recs, cl, srv, cl.ports()[0])
    for r in (c, s):
        check(r["ip_version"] == 6, "%s ip_version %r, expected 6" % (r["role"], r["ip_version"]), r)
        check(r["local"]["addr"] == "::1" and r["peer"]["addr"] == "::1",
              "%s addresses are not ::1" % r["role"], r)
    check(H.names(c)[:2] == ["syn_sent", "established"], "client events %s" % H.names(c), c)
    check("accepted" in H.names(s), "server has no accepted event", s)
    check(c["tcp"]["bytes_sent"] == 30 and c["tcp"]["bytes_received"] == 20, "client bytes", c)


def test_dual_stack_server():
    srv = H.start_server(addr="::", count=2, reply=5, comm="hs_srv_ds")
    hs = H.start_hstrace(["--json", "--all"])
    cl4 = H.start_client(srv.port, addr="127.0.0.1", send=5, comm="hs_cli_ds4", name="client4")
    cl4.wait_exit(10)
    cl6 = H.start_client(srv.port, addr="::1", send=5, comm="hs_cli_ds6", name="client6")
    cl6.wait_exit(10)
    srv.wait_exit(10)
    H.settle()
    recs = hs.stop_ok()

    c4, s4 = _ends(recs, cl4, srv, cl4.ports()[0])
    check(s4["ip_version"] == 4, "server end of an IPv4 client on a dual-stack socket has "
          "ip_version %r, expected 4" % s4["ip_version"], s4)
    check(s4["peer"]["addr"] == "127.0.0.1", "server peer addr %r, expected 127.0.0.1"
          % s4["peer"]["addr"], s4)
    check(s4["local"]["addr"] == "127.0.0.1", "server local addr %r, expected 127.0.0.1"
          % s4["local"]["addr"], s4)
    check(c4["ip_version"] == 4 and c4["local"]["addr"] == "127.0.0.1", "IPv4 client end", c4)

    c6, s6 = _ends(recs, cl6, srv, cl6.ports()[0])
    check(s6["ip_version"] == 6 and s6["peer"]["addr"] == "::1" and s6["local"]["addr"] == "::1",
          "server end of the IPv6 client", s6)
    check(c6["ip_version"] == 6, "IPv6 client end", c6)
