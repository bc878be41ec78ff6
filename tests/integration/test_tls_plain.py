# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Which connections are shown: a plain-text TCP connection (tools/tcp_peer.py) appears with
--all, without TLS events or a tls object, and not at all by default; a TLS connection made at
the same time appears in both. Three hstrace instances watch the same connections: --json
--all, --json, and the default text view."""

import harness as H
import tls_peers as T
from harness import check


def test_plain_tcp_only_with_all():
    certs = T.make_certs()
    hs_all = H.start_hstrace(["--json", "--all"])
    hs_def = H.start_hstrace(["--json"])
    hs_txt = H.start_hstrace([])

    srv = H.start_server(count=1, reply=300, comm="hs_plain_s")
    cl = H.start_client(srv.port, send=500, comm="hs_plain_c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    tsrv = T.SServer(certs, ["-tls1_3"])
    tcl = T.s_client(tsrv.port, certs)
    tcl.wait_exit(30)
    tsrv.wait_exit(15)
    H.settle(0.8)
    rec_all = hs_all.stop_ok()
    rec_def = hs_def.stop_ok()
    check(hs_txt.stop() == 0, "text hstrace exit status", hs_txt.stderr())

    lport = cl.ports()[0]
    # --all: the plain connection, both ends, with no trace of TLS.
    c = H.check_record(H.one(rec_all, "plain client", role="client", lport=lport,
                             rport=srv.port))
    s = H.check_record(H.one(rec_all, "plain server", role="server", lport=srv.port,
                             rport=lport))
    for r, p in ((c, cl), (s, srv)):
        check(r["pid"] == p.pid and r["result"] == "ok", "%s pid/result" % r["role"], r)
        check("tls" not in r, "a plain TCP connection has a tls object", r)
        check(not T.tls_events(r), "a plain TCP connection has TLS events", r)
        check(not any(k in r["phases_us"] for k in ("tls_handshake", "ttfb", "response_time",
                                                     "server_hello_rtt", "server_think")),
              "a plain TCP connection has TLS phases", r)
    check(c["tcp"]["bytes_sent"] == 500 and c["tcp"]["bytes_received"] == 300, "bytes", c)

    # Default: not shown, while the TLS connection is.
    check(H.by_port(rec_def, srv.port) == [], "a plain TCP connection was shown without --all",
          H.by_port(rec_def, srv.port))
    for recs, what in ((rec_all, "--all"), (rec_def, "default")):
        tc, ts = T.ends(recs, tcl.pid, tsrv.port, "TLS (%s)" % what)
        for r in (tc, ts):
            T.checked(r)
            check(r["tls"].get("version") == "1.3" and r["result"] == "ok",
                  "%s: TLS %s record" % (what, r["role"]), r)
    # The text view follows the same rule.
    out = hs_txt.stdout()
    rows = [l.split() for l in out.splitlines()]
    check(not any(str(cl.pid) in r or str(srv.pid) in r for r in rows),
          "default text view shows the plain connection (pids %d, %d)" % (cl.pid, srv.pid), out)
    check(any(str(tcl.pid) in r for r in rows), "default text view lacks the TLS client "
          "(pid %d)" % tcl.pid, out)
