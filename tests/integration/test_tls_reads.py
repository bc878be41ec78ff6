# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Read patterns: hstrace follows the TLS framing in the bytes of each read, however the
application slices them. A client that reads a 5-byte record header and then the record body
(OpenSSL's default, and tools/tls_peer.py --exact-reads) and one that reads 64 KiB at a time
(several records, a whole flight, in one read) produce the same TLS events, on both ends,
against the same server; `openssl s_client` does too."""

import tls_peers as T
from harness import check


def _recv_lines(p):
    """[(bytes, record headers started)] from tls_peer.py's "recv" lines."""
    return [tuple(int(x) for x in l.split()[1:3]) for l in p.lines("recv ")]


def _compare(server_args, expect_client):
    certs = T.make_certs()
    srv = T.SServer(certs, server_args, naccept=3)
    req = T.HTTP_GET.replace("\r", "\\r").replace("\n", "\\n")

    def body():
        exact = T.py_client(srv.port, ["--ca", certs.ca, "--sni", T.SNI, "--send", req,
                                       "--exact-reads"], name="exact-read client")
        exact.wait_exit(30)
        big = T.py_client(srv.port, ["--ca", certs.ca, "--sni", T.SNI, "--send", req,
                                     "--read-size", "65536"], name="64k-read client")
        big.wait_exit(30)
        sc = T.s_client(srv.port, certs)
        sc.wait_exit(30)
        srv.wait_exit(15)
        return exact, big, sc

    recs, (exact, big, sc) = T.run_traced(body)
    # The read patterns really differ.
    ex, bg = _recv_lines(exact), _recv_lines(big)
    check(ex and all(n <= 1 for _, n in ex), "exact reads took more than one record header "
          "per read: %s" % ex, exact.diag())
    check(bg and max(n for _, n in bg) >= 3, "64 KiB reads never got 3 records at once: %s"
          % bg, big.diag())
    for p in (exact, big):
        check(p.lines("received ") and int(p.lines("received ")[0].split()[1]) > 0,
              "%s got no response" % p.name, p.diag())

    ends = {}
    for p in (exact, big, sc):
        c, s = T.ends(recs, p.pid, srv.port, p.name)
        T.checked(c)
        T.checked(s)
        ends[p.name] = (c, s)
        check(c["result"] == "ok" and s["result"] == "ok", "%s results" % p.name, c, s)
        check(c["tls"].get("desync") is None and s["tls"].get("desync") is None,
              "%s: framing lost" % p.name, c, s)
        got = T.strip_closing_alerts(T.tls_seq(c))
        check(got == expect_client, "%s TLS events\n  %s\nexpected\n  %s"
              % (p.name, got, expect_client), c)
        got = T.strip_closing_alerts(T.tls_seq(s))
        check(got == T.mirror(expect_client), "server TLS events (%s)\n  %s\nexpected\n  %s"
              % (p.name, got, T.mirror(expect_client)), s)
        T.check_phases(c, ("tls_handshake", "ttfb"))
        T.check_phases(s, ("tls_handshake", "response_time"))

    # The two Python clients send the same hello and get the same answer: every event has the
    # same length (and record count) whatever the read size.
    (ce, se), (cb, sb) = ends[exact.name], ends[big.name]

    def shape(rec):
        return [(e["event"], e.get("dir"), e.get("len"), e.get("records"))
                for e in T.tls_events(rec) if e["event"] != "alert"]

    check(shape(ce) == shape(cb), "exact vs 64 KiB reads, client events differ:\n  %s\n  %s"
          % (shape(ce), shape(cb)), ce, cb)
    check(ce["tls"]["app_data"]["in"] == cb["tls"]["app_data"]["in"],
          "app_data.in differs: %s vs %s" % (ce["tls"]["app_data"]["in"],
                                             cb["tls"]["app_data"]["in"]), ce, cb)
    for k in ("version", "cipher", "group", "sni", "cert_chain", "resumed"):
        check(ce["tls"].get(k) == cb["tls"].get(k), "tls.%s differs" % k, ce, cb)
    return ends


def test_reads_tls12():
    _compare(["-tls1_2", "-no_ticket", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
             T.TLS12_ECDHE_CLIENT)


def test_reads_tls13():
    expect = [("client_hello", "out"), ("server_hello", "in"), ("change_cipher_spec", "in"),
              ("encrypted_handshake", "in"), ("change_cipher_spec", "out"),
              ("encrypted_handshake", "out"), ("app_data", "out"), ("app_data", "in")]
    _compare(["-tls1_3", "-num_tickets", "0"], expect)


def test_read_after_close():
    """A server that sends its FIN right after the handshake and reads the request only once
    the client's FIN took its socket to TCP_CLOSE (tls_peer.py server --fin-first): the
    application times of the calls noted before the close leave at the close, the read after
    it leaves at once (BPF keeps calls in the connection's state until then), so the request
    still has its app_us, read after it arrived, and every record the server read has one."""
    certs = T.make_certs()

    def body():
        srv = T.py_server(certs, ["--tls", "1.3", "--fin-first"])
        cl = T.py_client(srv.port, ["--ca", certs.ca, "--sni", T.SNI, "--send",
                                    T.HTTP_GET.replace("\r", "\\r").replace("\n", "\\n")])
        cl.wait_exit(30)
        srv.wait_exit(15)
        return srv, cl

    recs, (srv, cl) = T.run_traced(body)
    m = srv.wait_line(r"^read_after_close (\d+) (\d+) (\w+)$")
    check(m.group(2) == str(len(T.HTTP_GET)) and m.group(3) == "closed",
          "the server did not read the request from a closed socket", srv.diag())
    c, s = T.ends(recs, cl.pid, srv.port)
    T.checked(s)
    req = T.tev(s, "app_data", "in")
    fin_in = [e for e in s["events"] if e["event"] == "fin_in"]
    check(fin_in and "app_us" in req and req["app_us"] > fin_in[0]["t_us"] >= req["t_us"],
          "the request read after the close has no app_us after the peer's FIN", s)
    # The client's close_notify came after the request; the server never read it.
    read = [e for e in T.tls_events(s, dir="in") if e["event"] != "alert"]
    check([e["event"] for e in read] == ["client_hello", "change_cipher_spec",
                                         "encrypted_handshake", "app_data"]
          and all("app_us" in e for e in read),
          "the records the server read, each with its app_us", s)
