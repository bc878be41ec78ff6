# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""TLS 1.2 full handshakes between real peers on loopback: `openssl s_server` with ECDHE-RSA and
with RSA key exchange, curl (SNI through --resolve) and `openssl s_client` as clients. The
order of the TLS events is checked exactly on both ends, and so are the tls fields, the pids
and the phases."""

import tls_peers as T
from harness import check

ECDHE_CIPHER = ("ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
RSA_CIPHER = ("AES128-GCM-SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256")
CLIENT_PHASES = ("tcp_handshake", "idle_before_hello", "server_hello_rtt", "tls_handshake",
                 "ttfb", "total")
SERVER_PHASES = ("tcp_handshake", "accept_wait", "server_think",
                 "tls_handshake", "response_time", "total")


def _check_pair(c, s, certs, cl_pid, cl_comm, srv, cipher_iana, expect_client_seq,
                group=None, alpn_offered=None, alpn_selected=None):
    T.checked(c)
    T.checked(s)
    check(c["pid"] == cl_pid and c["comm"] == cl_comm,
          "client pid/comm %r/%r, expected %d/%s" % (c["pid"], c["comm"], cl_pid, cl_comm), c)
    check(s["pid"] == srv.pid and s["comm"] == "openssl",
          "server pid/comm %r/%r, expected %d/openssl" % (s["pid"], s["comm"], srv.pid), s)
    for r in (c, s):
        check(r["result"] == "ok", "%s result %r, expected ok" % (r["role"], r["result"]), r)

    # The TLS events, in order (the close_notify alerts at the very end aside).
    check(T.strip_closing_alerts(T.tls_seq(c)) == expect_client_seq,
          "client TLS events\n  %s\nexpected\n  %s" % (T.tls_seq(c), expect_client_seq), c)
    check(T.strip_closing_alerts(T.tls_seq(s)) == T.mirror(expect_client_seq),
          "server TLS events\n  %s\nexpected\n  %s"
          % (T.tls_seq(s), T.mirror(expect_client_seq)), s)

    chain_len = certs.cert_msg_len(certs.server, certs.ca)
    for r in (c, s):
        t = r["tls"]
        who = r["role"]
        check(t.get("sni") == T.SNI, "%s tls.sni %r, expected %s" % (who, t.get("sni"), T.SNI),
              r)
        check(t.get("version") == "1.2", "%s tls.version %r" % (who, t.get("version")), r)
        check(t["offered_versions"][:2] == ["1.3", "1.2"],
              "%s offered_versions %r: the clients offer 1.3 then 1.2"
              % (who, t["offered_versions"]), r)
        check(t.get("cipher") == cipher_iana,
              "%s tls.cipher %r, expected %s" % (who, t.get("cipher"), cipher_iana), r)
        if group:
            check(t.get("group") == group, "%s tls.group %r, expected %s"
                  % (who, t.get("group"), group), r)
        else:
            check("group" not in t, "%s: RSA key exchange has no group, got %r"
                  % (who, t.get("group")), r)
        check(t.get("resumed") is False, "%s tls.resumed %r, expected false"
              % (who, t.get("resumed")), r)
        check(t.get("cert_chain") == {"count": 2, "bytes": chain_len},
              "%s tls.cert_chain %r, expected 2 certificates in %d bytes"
              % (who, t.get("cert_chain"), chain_len), r)
        check(T.tev(r, "certificate").get("len") == chain_len,
              "%s certificate event len != %d" % (who, chain_len), r)
        check(t["handshake_done"] is True, "%s handshake_done is not true" % who, r)
        check(T.tev(r, "finished").get("len") == 40 and T.tev(r, "finished", n=2).get("len") == 40,
              "%s: an AES-GCM Finished record body is 40 bytes (8 nonce + 16 + 16 tag)" % who, r)
        for ccs in T.tls_events(r, "change_cipher_spec"):
            check(ccs.get("len") == 1, "%s change_cipher_spec len %r" % (who, ccs.get("len")), r)
        if alpn_offered is not None:
            check(t.get("alpn", {}).get("offered") == alpn_offered,
                  "%s alpn.offered %r, expected %r" % (who, t.get("alpn"), alpn_offered), r)
        if alpn_selected is not None:
            check(t.get("alpn", {}).get("selected") == alpn_selected,
                  "%s alpn.selected %r, expected %r" % (who, t.get("alpn"), alpn_selected), r)

    # Both ends saw the same records.
    for name in ("client_hello", "server_hello", "client_key_exchange"):
        check(T.tev(c, name)["len"] == T.tev(s, name)["len"],
              "%s len differs between the ends" % name, c, s)
    if group:
        check(T.tev(c, "server_key_exchange")["len"] == T.tev(s, "server_key_exchange")["len"],
              "server_key_exchange len differs between the ends", c, s)
    ca, sa = c["tls"]["app_data"], s["tls"]["app_data"]
    check(ca["out"] == sa["in"] and ca["in"] == sa["out"],
          "app_data counters do not mirror: client %s, server %s" % (ca, sa), c, s)
    check(ca["out"]["records"] >= 1 and ca["in"]["records"] >= 1, "no app data counted", c)
    check(T.tev(c, "app_data", "out")["len"] == T.tev(s, "app_data", "in")["len"]
          and T.tev(c, "app_data", "in")["len"] == T.tev(s, "app_data", "out")["len"],
          "first app_data record lengths differ between the ends", c, s)

    T.check_phases(c, CLIENT_PHASES)
    T.check_phases(s, SERVER_PHASES)
    # The server answers a request it has read.
    check(T.tev(s, "app_data", "in")["t_us"] <= T.tev(s, "app_data", "out")["t_us"],
          "server wrote its response before reading the request", s)


def _tls12(client, server_cipher, kx_group, server_args=(), alpn_server=None):
    certs = T.make_certs()
    args = ["-tls1_2", "-no_ticket", "-cipher", server_cipher[0]]
    if kx_group:
        args += ["-groups", kx_group[0]]
    if alpn_server:
        args += ["-alpn", alpn_server]
    srv = T.SServer(certs, args + list(server_args))

    def body():
        if client == "curl":
            cl = T.curl(srv.port, certs)
        else:
            cl = T.s_client(srv.port, certs)
        cl.wait_exit(30)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    c, s = T.ends(recs, cl.pid, srv.port)
    seq = list(T.TLS12_ECDHE_CLIENT)
    if not kx_group:
        seq.remove(("server_key_exchange", "in"))
    return certs, srv, cl, c, s, seq


def test_tls12_ecdhe_curl():
    # curl offers h2 and http/1.1; the server picks http/1.1 (in the plaintext ServerHello).
    certs, srv, cl, c, s, seq = _tls12("curl", ECDHE_CIPHER, ("secp384r1",),
                                       alpn_server="http/1.1")
    _check_pair(c, s, certs, cl.pid, "curl", srv, ECDHE_CIPHER[1], seq, group="secp384r1",
                alpn_offered=["h2", "http/1.1"], alpn_selected="http/1.1")


def test_tls12_ecdhe_s_client():
    certs, srv, cl, c, s, seq = _tls12("s_client", ECDHE_CIPHER, ("X25519",))
    check("<HTML>" in cl.stdout() or "Ciphers supported" in cl.stdout(),
          "s_client did not get the s_server status page", cl.diag())
    _check_pair(c, s, certs, cl.pid, "openssl", srv, ECDHE_CIPHER[1], seq, group="x25519")
    check("alpn" not in c["tls"], "s_client offered no ALPN, yet tls.alpn is %r"
          % c["tls"].get("alpn"), c)


def test_tls12_rsa_kx_curl():
    certs, srv, cl, c, s, seq = _tls12("curl", RSA_CIPHER, None)
    check(("server_key_exchange", "in") not in seq, "test bug: RSA sequence")
    _check_pair(c, s, certs, cl.pid, "curl", srv, RSA_CIPHER[1], seq,
                alpn_offered=["h2", "http/1.1"])
    check("selected" not in c["tls"]["alpn"], "the server selected no ALPN protocol", c)


def test_tls12_rsa_kx_s_client():
    certs, srv, cl, c, s, seq = _tls12("s_client", RSA_CIPHER, None)
    _check_pair(c, s, certs, cl.pid, "openssl", srv, RSA_CIPHER[1], seq)


def test_tls12_session_ticket_plaintext():
    # With tickets (the default), the TLS 1.2 server sends a plaintext NewSessionTicket
    # between the client's Finished and its own ChangeCipherSpec.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_2", "-cipher", ECDHE_CIPHER[0]])

    def body():
        cl = T.s_client(srv.port, certs)
        cl.wait_exit(30)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    c, s = T.ends(recs, cl.pid, srv.port)
    T.checked(c)
    T.checked(s)
    seq = list(T.TLS12_ECDHE_CLIENT)
    seq.insert(seq.index(("change_cipher_spec", "in")), ("new_session_ticket", "in"))
    check(T.strip_closing_alerts(T.tls_seq(c)) == seq,
          "client TLS events\n  %s\nexpected\n  %s" % (T.tls_seq(c), seq), c)
    check(T.strip_closing_alerts(T.tls_seq(s)) == T.mirror(seq),
          "server TLS events\n  %s\nexpected\n  %s" % (T.tls_seq(s), T.mirror(seq)), s)
    for r in (c, s):
        nst = T.tev(r, "new_session_ticket")
        check(not nst.get("estimated"), "a plaintext TLS 1.2 ticket is seen, not estimated", r)
        check(nst.get("len", 0) > 0, "new_session_ticket without len", r)
        check(r["result"] == "ok", "%s result %r" % (r["role"], r["result"]), r)
    T.check_phases(c, CLIENT_PHASES)
    T.check_phases(s, SERVER_PHASES)


def test_tls12_ipv6():
    # The same over ::1: addresses, ip_version and the TLS timeline on both ends.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_2", "-no_ticket", "-cipher", ECDHE_CIPHER[0]], addr="::1")

    def body():
        cl = T.s_client(srv.port, certs, addr="::1")
        cl.wait_exit(30)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    c, s = T.ends(recs, cl.pid, srv.port)
    for r in (c, s):
        T.checked(r)
        check(r["ip_version"] == 6 and r["local"]["addr"] == "::1"
              and r["peer"]["addr"] == "::1", "%s is not ::1 <-> ::1" % r["role"], r)
        check(r["tls"].get("version") == "1.2" and r["tls"].get("sni") == T.SNI,
              "%s tls fields" % r["role"], r)
    check(T.strip_closing_alerts(T.tls_seq(c)) == T.TLS12_ECDHE_CLIENT,
          "client TLS events %s" % T.tls_seq(c), c)
    check(T.strip_closing_alerts(T.tls_seq(s)) == T.mirror(T.TLS12_ECDHE_CLIENT),
          "server TLS events %s" % T.tls_seq(s), s)
