# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Failed TLS handshakes: a client that rejects the server's certificate (result tls_alert, with
the alert's description as the peers themselves report it) and a server that hangs up after
the ClientHello without an alert (result tls_failed)."""

import re

import harness as H
import tls_peers as T
from harness import check


def _peer_alert_number(srv):
    """The alert number s_server says it received ("... SSL alert number 48")."""
    m = re.search(r"SSL alert number (\d+)", srv.stderr())
    check(m, "s_server reported no received alert", srv.diag())
    return int(m.group(1))


def _check_rejected(c, s, version, description):
    """Both ends of a handshake that the client ended with a fatal plaintext alert after
    reading the server's certificate."""
    for r in (c, s):
        T.checked(r)
        t = r["tls"]
        who = r["role"]
        check(r["result"] == "tls_alert", "%s result %r, expected tls_alert" % (who, r["result"]),
              r)
        check(t.get("version") == version, "%s version %r" % (who, t.get("version")), r)
        check(t["handshake_done"] is False, "%s handshake_done is not false" % who, r)
        check(t["app_data"]["out"]["records"] == 0 and t["app_data"]["in"]["records"] == 0,
              "%s: application data counted on a rejected handshake" % who, r)
        al = t.get("alert")
        want_dir = "out" if who == "client" else "in"
        check(al == {"level": "fatal", "description": description, "dir": want_dir},
              "%s tls.alert %r, expected fatal %s %s" % (who, al, description, want_dir), r)
        check(T.tev(r, "alert", want_dir).get("len") == 2,
              "%s: a plaintext alert record body is 2 bytes" % who, r)
        check("tls_handshake" not in r["phases_us"], "%s: a rejected handshake has a "
              "tls_handshake phase" % who, r)
        T.check_phases(r)
    # Events are in the order the packets passed each end's TCP stack: the server's whole
    # flight arrived before the client's alert left, even though OpenSSL checks the certificate
    # as soon as it has read the Certificate message and alerts before reading the rest (the
    # records it never read have no app_us).
    if version == "1.2":
        expect = [("client_hello", "out"), ("server_hello", "in"), ("certificate", "in"),
                  ("server_key_exchange", "in"), ("server_hello_done", "in"), ("alert", "out")]
    else:
        expect = [("client_hello", "out"), ("server_hello", "in"), ("change_cipher_spec", "in"),
                  ("encrypted_handshake", "in"), ("alert", "out")]
    cseq = T.tls_seq(c)
    check(cseq == expect, "client TLS events\n  %s\nexpected\n  %s" % (cseq, expect), c)
    check(T.tls_seq(s) == T.mirror(expect), "server TLS events\n  %s\nexpected\n  %s"
          % (T.tls_seq(s), T.mirror(expect)), s)


def test_curl_rejects_self_signed_tls12():
    # The server shows a self-signed certificate that the client's CA file does not know.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_2"], cert=certs.untrusted, key=certs.untrusted_key,
                    chain=False)

    def body():
        cl = T.curl(srv.port, certs)
        cl.wait_exit(30, expect=60)  # CURLE_PEER_FAILED_VERIFICATION
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    desc = T.ALERT_NAMES[_peer_alert_number(srv)]
    c, s = T.ends(recs, cl.pid, srv.port)
    check(c["comm"] == "curl" and s["pid"] == srv.pid, "pids/comms", c, s)
    _check_rejected(c, s, "1.2", desc)
    check(c["tls"]["cert_chain"]["count"] == 1, "self-signed: a chain of 1", c)


def test_s_client_rejects_other_ca_tls12():
    # The server's chain is signed by the test CA; the client trusts only another CA.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_2"])

    def body():
        cl = T.s_client(srv.port, certs, ["-msg"], ca=certs.other_ca)
        cl.wait_exit(30, expect=1)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    # s_client -msg traces the alert it sends: ">>> TLS 1.2, Alert [length 0002], fatal x".
    m = re.search(r">>> TLS 1\.2, Alert \[length 0002\], fatal (\w+)", cl.stdout())
    check(m, "s_client sent no fatal alert", cl.diag())
    check(T.ALERT_NAMES[_peer_alert_number(srv)] == m.group(1), "the peers disagree on the "
          "alert", cl.diag(), srv.diag())
    c, s = T.ends(recs, cl.pid, srv.port)
    _check_rejected(c, s, "1.2", m.group(1))
    check(c["tls"]["cert_chain"]["count"] == 2, "the server sent its 2-certificate chain", c)


def test_curl_rejects_self_signed_tls13():
    # OpenSSL's TLS 1.3 client rejects the certificate before it has switched its own writes
    # to the handshake keys (it does so just before its Finished), so its alert goes out as a
    # plaintext record: level and description are visible.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_3"], cert=certs.untrusted, key=certs.untrusted_key,
                    chain=False)

    def body():
        cl = T.curl(srv.port, certs)
        cl.wait_exit(30, expect=60)
        srv.wait_exit(15)
        return cl

    recs, cl = T.run_traced(body)
    desc = T.ALERT_NAMES[_peer_alert_number(srv)]
    c, s = T.ends(recs, cl.pid, srv.port)
    _check_rejected(c, s, "1.3", desc)
    # The client read the server's flight only up to the Certificate record, but the whole
    # flight had arrived: the same records and bytes at both ends.
    fin, fout = T.tev(c, "encrypted_handshake", "in"), T.tev(s, "encrypted_handshake", "out")
    check((fin["records"], fin["len"]) == (fout["records"], fout["len"]),
          "the server's flight as sent and as arrived differ", c, s)


def test_server_resets_tls_failed():
    # A plain TCP server reads the ClientHello and resets the connection: no ServerHello and
    # no alert either way (OpenSSL's own alert after the reset cannot be written).
    certs = T.make_certs()
    srv = T.plain_server(["--reset"])

    def body():
        cl = T.s_client(srv.port, certs)
        cl.wait_exit(30, expect=1)
        srv.wait_line(r"^hangup \d+ after [1-9]\d* bytes$")
        return cl

    recs, cl = T.run_traced(body)
    c, s = T.ends(recs, cl.pid, srv.port)
    for r in (c, s):
        T.checked(r)
        who = r["role"]
        check(r["result"] == "tls_failed", "%s result %r, expected tls_failed"
              % (who, r["result"]), r)
        check("alert" not in r["tls"], "%s: an alert was reported" % who, r)
        check(r["tls"]["handshake_done"] is False and "version" not in r["tls"],
              "%s tls fields" % who, r)
        check(r["tls"].get("sni") == T.SNI, "%s sni" % who, r)
        T.check_phases(r)
    check(T.tls_seq(c) == [("client_hello", "out")], "client TLS events %s" % T.tls_seq(c), c)
    check("reset_in" in H.names(c), "client saw no RST", c)
    # The server end (python3, reading plain bytes) saw the ClientHello come in.
    check(s["pid"] == srv.pid, "server pid", s)
    check(T.tls_seq(s) == [("client_hello", "in")], "server TLS events %s" % T.tls_seq(s), s)
    check(T.tev(c, "client_hello")["len"] == T.tev(s, "client_hello")["len"],
          "client_hello len differs", c, s)


def test_server_alert_no_shared_cipher():
    # The server only takes RSA key exchange, the TLS 1.2 client only ECDHE: the server
    # refuses the ClientHello with a plaintext fatal alert. Two clients read it, one with a
    # 5-byte header read then a body read, one with a single 64 KiB read; both ends must name
    # the alert the server says it sent.
    certs = T.make_certs()
    srv = T.SServer(certs, ["-tls1_2", "-cipher", "AES128-GCM-SHA256", "-msg"], naccept=2)

    def body():
        out = []
        for mode in (["--exact-reads"], ["--read-size", "65536"]):
            p = T.py_client(srv.port, ["--ca", certs.ca, "--sni", T.SNI, "--tls", "1.2",
                                       "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256", *mode],
                            name="client " + mode[0])
            p.wait_exit(30, expect=1)
            check(p.lines("handshake_error "), "%s: no handshake error" % p.name, p.diag())
            out.append(p)
        srv.wait_exit(15)
        return out

    recs, clients = T.run_traced(body)
    m = re.search(r">>> TLS 1\.2, Alert \[length 0002\], fatal (\w+)", srv.stdout())
    check(m, "s_server sent no fatal alert", srv.diag())
    desc = m.group(1)
    for p in clients:
        c, s = T.ends(recs, p.pid, srv.port, p.name)
        for r in (c, s):
            T.checked(r)
            want_dir = "in" if r["role"] == "client" else "out"
            check(r["result"] == "tls_alert", "%s (%s) result %r" % (r["role"], p.name,
                                                                     r["result"]), r)
            check(r["tls"].get("alert") == {"level": "fatal", "description": desc,
                                            "dir": want_dir},
                  "%s (%s) tls.alert %r, expected fatal %s %s"
                  % (r["role"], p.name, r["tls"].get("alert"), desc, want_dir), r)
            check("version" not in r["tls"] and r["tls"]["handshake_done"] is False,
                  "%s (%s): no ServerHello, no handshake" % (r["role"], p.name), r)
            T.check_phases(r)
        check(T.tls_seq(c) == [("client_hello", "out"), ("alert", "in")],
              "%s TLS events %s" % (p.name, T.tls_seq(c)), c)
        check(T.tls_seq(s) == [("client_hello", "in"), ("alert", "out")],
              "server TLS events (%s) %s" % (p.name, T.tls_seq(s)), s)
