# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Other TLS stacks: nginx as a real server (curl as its client; the server record names
nginx), and gnutls-cli as a client that is not OpenSSL (against `openssl s_server`)."""

import tls_peers as T
from harness import check


def test_nginx_server_curl_client():
    certs = T.make_certs()
    ngx = T.Nginx(certs, body="hello from nginx\n")

    def body():
        c13 = T.curl(ngx.port, certs, name="curl 1.3")
        c13.wait_exit(30)
        c12 = T.curl(ngx.port, certs, ["--tlsv1.2", "--tls-max", "1.2"], name="curl 1.2")
        c12.wait_exit(30)
        return c13, c12

    recs, (c13, c12) = T.run_traced(body)
    for cl in (c13, c12):
        check(cl.body() == "hello from nginx\n", "%s got %r from nginx" % (cl.name, cl.body()),
              cl.diag(), ngx.error_log())
    c1, s1 = T.ends(recs, c13.pid, ngx.port, "TLS 1.3")
    c2, s2 = T.ends(recs, c12.pid, ngx.port, "TLS 1.2")
    for r in (c1, s1, c2, s2):
        T.checked(r)
        t = r["tls"]
        check(r["result"] == "ok", "%s result %r" % (r["role"], r["result"]), r)
        check(t.get("sni") == T.SNI, "%s sni %r" % (r["role"], t.get("sni")), r)
        check(t.get("alpn", {}).get("offered") == ["h2", "http/1.1"], "alpn offered", r)
        check(t["handshake_done"] is True, "handshake_done", r)
    for s in (s1, s2):
        check(s["comm"] == "nginx" and s["pid"] == ngx.pid,
              "server comm/pid %r/%r, expected nginx/%d" % (s["comm"], s["pid"], ngx.pid), s)
    for c, cl in ((c1, c13), (c2, c12)):
        check(c["comm"] == "curl" and c["pid"] == cl.pid, "client comm/pid", c)
    check(c1["tls"].get("version") == "1.3" and s1["tls"].get("version") == "1.3",
          "first connection is not TLS 1.3", c1, s1)
    check(c2["tls"].get("version") == "1.2" and s2["tls"].get("version") == "1.2",
          "second connection is not TLS 1.2", c2, s2)
    check(c2["tls"]["offered_versions"] == ["1.2"],
          "curl --tls-max 1.2 offered %r" % c2["tls"]["offered_versions"], c2)

    # TLS 1.2: nginx picks http/1.1 (no http2 configured) in the plaintext ServerHello, and
    # sends the 2-certificate chain from its ssl_certificate file.
    chain_len = certs.cert_msg_len(certs.server, certs.ca)
    for r in (c2, s2):
        check(r["tls"]["alpn"].get("selected") == "http/1.1",
              "%s alpn.selected %r" % (r["role"], r["tls"]["alpn"].get("selected")), r)
        check(r["tls"].get("cert_chain") == {"count": 2, "bytes": chain_len},
              "%s cert_chain %r" % (r["role"], r["tls"].get("cert_chain")), r)
    seq12 = [x for x in T.strip_closing_alerts(T.tls_seq(c2)) if x[0] != "new_session_ticket"]
    check(seq12 == T.TLS12_ECDHE_CLIENT, "TLS 1.2 client events %s" % T.tls_seq(c2), c2)

    # TLS 1.3: nginx's tickets (OpenSSL sends them right after the handshake) do not count as
    # its response: app_data out follows app_data in and the tickets. (nginx may read curl's
    # Finished and request in one call: then the request comes before the tickets.)
    a_in, a_out = T.tev(s1, "app_data", "in"), T.tev(s1, "app_data", "out")
    check(a_in["t_us"] <= a_out["t_us"], "nginx app_data out before app_data in", s1)
    tickets = T.tls_events(s1, "new_session_ticket")
    check(len(tickets) == 2, "nginx sent %d tickets, expected 2" % len(tickets), s1)
    for e in tickets:
        check(e.get("dir") == "out" and e["t_us"] <= a_out["t_us"],
              "nginx ticket after its response", s1)
    for c in (c1, c2):
        T.check_phases(c, ("tcp_handshake", "idle_before_hello", "server_hello_rtt",
                           "tls_handshake", "ttfb", "total"))
    for s in (s1, s2):
        T.check_phases(s, ("tcp_handshake", "accept_wait", "server_think",
                           "tls_handshake", "response_time", "total"))


def _gnutls(version_args, server_args):
    certs = T.make_certs()
    srv = T.SServer(certs, server_args)

    def body():
        cl = T.gnutls_cli(srv.port, certs, version_args)
        cl.wait_exit(30)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    check("Ciphers supported" in cl.stdout() or "<HTML>" in cl.stdout(),
          "gnutls-cli did not get the s_server status page", cl.diag())
    c, s = T.ends(recs, cl.pid, srv.port)
    for r in (c, s):
        T.checked(r)
        check(r["result"] == "ok", "%s result %r" % (r["role"], r["result"]), r)
        check(r["tls"].get("sni") == T.SNI, "%s sni %r" % (r["role"], r["tls"].get("sni")), r)
        check(r["tls"]["handshake_done"] is True, "handshake_done", r)
    check(c["comm"] == "gnutls-cli" and c["pid"] == cl.pid,
          "client comm/pid %r/%r, expected gnutls-cli/%d" % (c["comm"], c["pid"], cl.pid), c)
    check(s["comm"] == "openssl" and s["pid"] == srv.pid, "server comm/pid", s)
    check(T.tev(c, "client_hello")["len"] == T.tev(s, "client_hello")["len"],
          "client_hello len differs between the ends", c, s)
    T.check_phases(c, ("tcp_handshake", "server_hello_rtt", "tls_handshake", "ttfb", "total"))
    T.check_phases(s, ("tcp_handshake", "server_think", "tls_handshake", "response_time",
                       "total"))
    return c, s


def test_gnutls_client_tls13():
    c, s = _gnutls(["--alpn", "http/1.1"], ["-tls1_3", "-num_tickets", "0"])
    for r in (c, s):
        t = r["tls"]
        check(t.get("version") == "1.3", "%s version %r" % (r["role"], t.get("version")), r)
        check(t["offered_versions"][0] == "1.3" and "1.2" in t["offered_versions"],
              "gnutls offered %r" % t["offered_versions"], r)
        check(t.get("alpn", {}).get("offered") == ["http/1.1"], "alpn offered %r"
              % t.get("alpn"), r)
        check(t.get("cipher", "").startswith("TLS_") and "group" in t, "cipher/group", r)
    seq = T.strip_closing_alerts([x for x in T.tls_seq(c) if x[0] != "change_cipher_spec"])
    expect = [("client_hello", "out"), ("server_hello", "in"), ("encrypted_handshake", "in"),
              ("encrypted_handshake", "out"), ("app_data", "out"), ("app_data", "in")]
    check(seq == expect, "gnutls-cli TLS events (change_cipher_spec left out)\n  %s\n"
          "expected\n  %s" % (seq, expect), c)


def test_gnutls_client_tls12():
    c, s = _gnutls(["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"],
                   ["-tls1_2", "-no_ticket", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"])
    for r in (c, s):
        t = r["tls"]
        check(t.get("version") == "1.2", "%s version %r" % (r["role"], t.get("version")), r)
        check(t["offered_versions"] == ["1.2"], "gnutls (1.2 only) offered %r"
              % t["offered_versions"], r)
        check(t.get("cipher") == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "cipher %r"
              % t.get("cipher"), r)
        check(t.get("cert_chain", {}).get("count") == 2, "cert_chain %r" % t.get("cert_chain"),
              r)
    seq = T.strip_closing_alerts(T.tls_seq(c))
    check(seq == T.TLS12_ECDHE_CLIENT, "gnutls-cli TLS events\n  %s\nexpected\n  %s"
          % (seq, T.TLS12_ECDHE_CLIENT), c)
    check(T.strip_closing_alerts(T.tls_seq(s)) == T.mirror(T.TLS12_ECDHE_CLIENT),
          "server TLS events %s" % T.tls_seq(s), s)
