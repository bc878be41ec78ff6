# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""TLS 1.3 between real peers on loopback: encrypted handshake flights, session tickets sent by
`openssl s_server` right after the handshake (the server's response_time must not be fooled by
them), a HelloRetryRequest, and version/cipher/group fields."""

import re

import harness as H
import tls_peers as T
from harness import check

# The part of a TLS 1.3 full handshake that every OpenSSL client/server pair shows (middlebox
# compatibility mode: both ends send a change_cipher_spec), client view.
TLS13_HANDSHAKE_CLIENT = [
    ("client_hello", "out"), ("server_hello", "in"), ("change_cipher_spec", "in"),
    ("encrypted_handshake", "in"), ("change_cipher_spec", "out"), ("encrypted_handshake", "out")]
CLIENT_PHASES = ("tcp_handshake", "idle_before_hello", "server_hello_rtt", "tls_handshake",
                 "ttfb", "total")
SERVER_PHASES = ("tcp_handshake", "accept_wait", "server_think",
                 "tls_handshake", "response_time", "total")


def _common(c, s, cl_pid, cl_comm, srv, cipher, group):
    for r in (c, s):
        T.checked(r)
        t = r["tls"]
        who = r["role"]
        check(r["result"] == "ok", "%s result %r, expected ok" % (who, r["result"]), r)
        check(t.get("version") == "1.3", "%s tls.version %r" % (who, t.get("version")), r)
        check("1.3" in t["offered_versions"], "%s offered_versions lacks 1.3" % who, r)
        check(t.get("cipher") == cipher, "%s cipher %r, expected %s" % (who, t.get("cipher"),
                                                                       cipher), r)
        check(t.get("group") == group, "%s group %r, expected %s" % (who, t.get("group"), group),
              r)
        check(t.get("sni") == T.SNI, "%s sni %r" % (who, t.get("sni")), r)
        check(t.get("resumed") is False, "%s resumed %r" % (who, t.get("resumed")), r)
        check("cert_chain" not in t, "%s: TLS 1.3 encrypts the certificate, yet cert_chain %r"
              % (who, t.get("cert_chain")), r)
        check(T.tls_events(r, "certificate") == [] and T.tls_events(r, "finished") == [],
              "%s: TLS 1.3 shows no plaintext certificate/finished" % who, r)
        check(t["handshake_done"] is True, "%s handshake_done" % who, r)
    check(c["pid"] == cl_pid and c["comm"] == cl_comm, "client pid/comm %r/%r, expected %d/%s"
          % (c["pid"], c["comm"], cl_pid, cl_comm), c)
    check(s["pid"] == srv.pid and s["comm"] == "openssl", "server pid/comm", s)
    # Both ends saw the same flights.
    for name, d in (("encrypted_handshake", "in"), ("encrypted_handshake", "out")):
        ce, se = T.tev(c, name, d), T.tev(s, name, T.FLIP[d])
        check(ce.get("len") == se.get("len") and ce.get("records") == se.get("records"),
              "client %s %s (len %s, records %s) != server's (len %s, records %s)"
              % (name, d, ce.get("len"), ce.get("records"), se.get("len"), se.get("records")),
              c, s)
    # The server's flight is EncryptedExtensions, Certificate, CertificateVerify, Finished;
    # the client's is its Finished alone.
    check(T.tev(c, "encrypted_handshake", "in").get("records", 0) >= 2,
          "the server's encrypted flight has fewer than 2 records", c)
    check(T.tev(c, "encrypted_handshake", "out").get("records") == 1,
          "the client's encrypted flight is not 1 record", c)
    ca, sa = c["tls"]["app_data"], s["tls"]["app_data"]
    check(ca["out"] == sa["in"], "client app_data.out %s != server app_data.in %s"
          % (ca["out"], sa["in"]), c, s)


def test_tls13_curl_server_tickets():
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_3", "-num_tickets", "2", "-groups", "X25519",
                            "-ciphersuites", "TLS_AES_128_GCM_SHA256"])

    def body():
        cl = T.curl(srv.port, certs)
        cl.wait_exit(30)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    c, s = T.ends(recs, cl.pid, srv.port)
    _common(c, s, cl.pid, "curl", srv, "TLS_AES_128_GCM_SHA256", "x25519")

    # Server view: s_server writes its two tickets right after it read the client's Finished,
    # before it reads the request; they are tickets (estimated), not the response. Events are
    # in wire order, and on loopback the request may arrive before the tickets leave: the
    # application's own order shows in app_us.
    expect = T.mirror(TLS13_HANDSHAKE_CLIENT)
    got = T.strip_closing_alerts(T.tls_seq(s))
    check(got[:len(expect)] == expect and sorted(got[len(expect):]) == sorted([
        ("new_session_ticket", "out"), ("new_session_ticket", "out"), ("app_data", "in"),
        ("app_data", "out")]) and got[-1] == ("app_data", "out"),
          "server TLS events\n  %s\nexpected\n  %s, then 2 tickets out and app_data in, then "
          "app_data out" % (got, expect), s)
    for e in T.tls_events(s, "new_session_ticket"):
        check(e.get("estimated") is True, "TLS 1.3 ticket not marked estimated", s)
    a_in, a_out = T.tev(s, "app_data", "in"), T.tev(s, "app_data", "out")
    check(a_out["t_us"] >= a_in["t_us"], "server app_data out before app_data in", s)
    rt = s["phases_us"].get("response_time")
    check(rt is not None and abs(rt - (a_out["t_us"] - a_in["t_us"])) <= 1,
          "response_time %r is not app_data in -> app_data out" % rt, s)
    for e in T.tls_events(s, "new_session_ticket"):
        check("app_us" in e and e["app_us"] < a_in["app_us"],
              "a ticket written after the request was read", s)
    # Every TLS event has both times: the application's read never precedes the arrival
    # (1 µs of rounding), and it wrote each record before it was sent (the write call returns
    # after the packet went out on loopback, so app_us may be a little later).
    for e in T.tls_events(s) + T.tls_events(c):
        check("app_us" in e, "TLS event without app_us", e)
        if e["dir"] == "in":
            check(e["app_us"] >= e["t_us"] - 1, "read before it arrived", e)

    # Client view: the handshake, then its request and, among the records it reads, two
    # tickets and the response (told apart by a rule: estimated).
    cseq = T.strip_closing_alerts(T.tls_seq(c))
    check(cseq[:6] == TLS13_HANDSHAKE_CLIENT,
          "client handshake events\n  %s\nexpected\n  %s" % (cseq[:6], TLS13_HANDSHAKE_CLIENT), c)
    check(sorted(cseq[6:]) == sorted([("app_data", "out"), ("new_session_ticket", "in"),
                                      ("new_session_ticket", "in"), ("app_data", "in")]),
          "client events after the handshake: %s" % cseq[6:], c)
    check(cseq[-1] == ("app_data", "in"), "the response is not the last record read", c)
    check(c["tls"].get("ttfb_estimated") is True, "TLS 1.3 client ttfb not marked estimated", c)
    nst_c = T.tls_events(c, "new_session_ticket")
    nst_s = T.tls_events(s, "new_session_ticket")
    check([e.get("len") for e in nst_c] == [e.get("len") for e in nst_s],
          "ticket record lengths differ between the ends", c, s)
    check(T.tev(c, "app_data", "in")["len"] == a_out["len"],
          "client's first response record != server's", c, s)
    T.check_phases(c, CLIENT_PHASES)
    T.check_phases(s, SERVER_PHASES)


def test_tls13_s_client_no_tickets():
    # -num_tickets 0: after the handshake only the request and the response.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_3", "-num_tickets", "0", "-groups", "secp256r1",
                            "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"])

    def body():
        cl = T.s_client(srv.port, certs, ["-groups", "P-256"])
        cl.wait_exit(30)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    c, s = T.ends(recs, cl.pid, srv.port)
    _common(c, s, cl.pid, "openssl", srv, "TLS_CHACHA20_POLY1305_SHA256", "secp256r1")
    expect = TLS13_HANDSHAKE_CLIENT + [("app_data", "out"), ("app_data", "in")]
    got = T.strip_closing_alerts(T.tls_seq(c))
    check(got == expect, "client TLS events\n  %s\nexpected\n  %s" % (got, expect), c)
    got = T.strip_closing_alerts(T.tls_seq(s))
    check(got == T.mirror(expect), "server TLS events\n  %s\nexpected\n  %s"
          % (got, T.mirror(expect)), s)
    check("alpn" not in c["tls"], "s_client offered no ALPN", c)
    T.check_phases(c, CLIENT_PHASES)
    T.check_phases(s, SERVER_PHASES)


def test_tls13_hello_retry_request():
    # The server accepts only secp384r1; the client's one key share is for x25519, so the
    # server must answer with a HelloRetryRequest and the client sends a second ClientHello.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_3", "-num_tickets", "0", "-groups", "secp384r1"])

    def body():
        cl = T.s_client(srv.port, certs, ["-groups", "X25519:secp384r1"])
        cl.wait_exit(30)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    check(re.search(r"Server Temp Key: ECDH, secp384r1", cl.stdout()),
          "s_client did not end up with a secp384r1 key", cl.diag())
    c, s = T.ends(recs, cl.pid, srv.port)
    for r in (c, s):
        T.checked(r)
        t = r["tls"]
        check(r["result"] == "ok", "%s result %r" % (r["role"], r["result"]), r)
        check(t.get("version") == "1.3" and t.get("group") == "secp384r1",
              "%s version/group %r/%r, expected 1.3/secp384r1"
              % (r["role"], t.get("version"), t.get("group")), r)
        check(t.get("sni") == T.SNI, "%s sni" % r["role"], r)
    cseq = [x for x in T.tls_seq(c) if x[0] != "change_cipher_spec"]
    expect = [("client_hello", "out"), ("hello_retry_request", "in"), ("client_hello", "out"),
              ("server_hello", "in"), ("encrypted_handshake", "in"),
              ("encrypted_handshake", "out"), ("app_data", "out"), ("app_data", "in")]
    got = T.strip_closing_alerts(cseq)
    check(got == expect, "client TLS events (change_cipher_spec left out)\n  %s\nexpected\n  %s"
          % (got, expect), c)
    sseq = T.strip_closing_alerts([x for x in T.tls_seq(s) if x[0] != "change_cipher_spec"])
    check(sseq == T.mirror(expect), "server TLS events (change_cipher_spec left out)\n  %s\n"
          "expected\n  %s" % (sseq, T.mirror(expect)), s)
    ch1, ch2 = T.tev(c, "client_hello", n=1), T.tev(c, "client_hello", n=2)
    hrr = T.tev(c, "hello_retry_request")
    check(ch1["t_us"] <= hrr["t_us"] <= ch2["t_us"], "HRR not between the two hellos", c)
    for r in (c, s):
        check(r["tls"].get("handshake_done") is True, "%s handshake_done" % r["role"], r)
    # tls_handshake runs from the first ClientHello.
    hs = c["phases_us"].get("tls_handshake")
    check(hs is not None and abs(hs - (T.tev(c, "encrypted_handshake", "out")["t_us"]
                                       - ch1["t_us"])) <= 1,
          "client tls_handshake %r is not first client_hello -> client's flight" % hs, c)
    T.check_phases(c)
    T.check_phases(s)
