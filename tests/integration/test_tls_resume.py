# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Session resumption with `openssl s_client -sess_out` then `-sess_in` against one
`openssl s_server`: TLS 1.2 (session id) and TLS 1.3 (PSK from a ticket). tls.resumed is false
on the first connection and true on the second, on both ends."""

import harness as H
import tls_peers as T
from harness import check


def _two_connections(server_args, client_args):
    certs = T.make_certs()
    sess = H.make_tmpdir() / "session.pem"
    srv = T.SServer(certs, server_args, naccept=2)

    def body():
        first = T.s_client(srv.port, certs, client_args + ["-sess_out", sess], name="s_client 1")
        first.wait_exit(30)
        check(sess.is_file() and sess.stat().st_size > 0, "s_client wrote no session",
              first.diag())
        second = T.s_client(srv.port, certs, client_args + ["-sess_in", sess],
                            name="s_client 2")
        second.wait_exit(30)
        srv.wait_exit(15)
        return first, second

    recs, (first, second) = T.run_traced(body)
    # s_client's own account: a new session, then the same one reused.
    check("New, TLSv1" in first.stdout(), "first s_client did not make a new session",
          first.diag())
    check("Reused, TLSv1" in second.stdout(), "second s_client did not resume", second.diag())
    c1, s1 = T.ends(recs, first.pid, srv.port, "first")
    c2, s2 = T.ends(recs, second.pid, srv.port, "second")
    for r in (c1, s1, c2, s2):
        T.checked(r)
        check(r["result"] == "ok", "%s result %r" % (r["role"], r["result"]), r)
        check(r["tls"]["handshake_done"] is True, "handshake_done", r)
    for r in (c1, s1):
        check(r["tls"].get("resumed") is False, "first connection: %s tls.resumed %r, expected "
              "false" % (r["role"], r["tls"].get("resumed")), r)
    for r in (c2, s2):
        check(r["tls"].get("resumed") is True, "second connection: %s tls.resumed %r, expected "
              "true" % (r["role"], r["tls"].get("resumed")), r)
    for r in (c1, c2):
        check(r["pid"] in (first.pid, second.pid) and r["comm"] == "openssl", "client pid", r)
    for r in (s1, s2):
        check(r["pid"] == srv.pid, "server pid %r, expected %d" % (r["pid"], srv.pid), r)
    return certs, c1, s1, c2, s2


def test_resume_tls12_session_id():
    # -no_ticket: resumption by session id from the server's cache.
    certs, c1, s1, c2, s2 = _two_connections(
        ["-tls1_2", "-no_ticket", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], [])
    check(T.strip_closing_alerts(T.tls_seq(c1)) == T.TLS12_ECDHE_CLIENT,
          "first client TLS events %s" % T.tls_seq(c1), c1)
    # Abbreviated handshake: no certificate, no key exchange; the server finishes first.
    expect = [("client_hello", "out"), ("server_hello", "in"), ("change_cipher_spec", "in"),
              ("finished", "in"), ("change_cipher_spec", "out"), ("finished", "out"),
              ("app_data", "out"), ("app_data", "in")]
    got = T.strip_closing_alerts(T.tls_seq(c2))
    check(got == expect, "resumed client TLS events\n  %s\nexpected\n  %s" % (got, expect), c2)
    got = T.strip_closing_alerts(T.tls_seq(s2))
    check(got == T.mirror(expect), "resumed server TLS events\n  %s\nexpected\n  %s"
          % (got, T.mirror(expect)), s2)
    for r in (c2, s2):
        check(r["tls"].get("version") == "1.2", "version", r)
        check("cert_chain" not in r["tls"], "a resumed handshake has no certificate", r)
        T.check_phases(r, ("tls_handshake", "total"))
    # tls_handshake ends with the second Finished: the client's own here.
    span = T.tev(c2, "finished", "out")["t_us"] - T.tev(c2, "client_hello")["t_us"]
    check(abs(c2["phases_us"]["tls_handshake"] - span) <= 1,
          "resumed tls_handshake is not client_hello -> finished out", c2)


def test_resume_tls12_ticket():
    # With tickets (the default) the session rides in a ticket.
    certs, c1, s1, c2, s2 = _two_connections(
        ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], [])
    check(T.tls_events(c1, "new_session_ticket", "in"), "no ticket on the first connection", c1)
    for r in (c2, s2):
        check(not T.tls_events(r, "certificate"), "a resumed handshake has no certificate", r)
        T.check_phases(r, ("tls_handshake",))


def test_resume_tls13_psk():
    certs, c1, s1, c2, s2 = _two_connections(["-tls1_3"], [])
    for r in (c1, s1, c2, s2):
        check(r["tls"].get("version") == "1.3", "version", r)
        T.check_phases(r, ("tls_handshake",))
    # The resumed server flight carries no certificate: it is smaller.
    full = T.tev(c1, "encrypted_handshake", "in")
    resumed = T.tev(c2, "encrypted_handshake", "in")
    check(resumed["len"] < full["len"], "resumed server flight (%d bytes) is not smaller than "
          "the full one (%d bytes)" % (resumed["len"], full["len"]), c1, c2)
