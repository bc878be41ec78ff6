# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Privacy: application data never leaves hstrace. A unique random secret goes both ways
through TLS (s_client -> an echo server) and another through plain TCP while hstrace runs
with --json -o FILE --all (and a second one in text mode): neither secret, nor its hex form,
appears on hstrace's stdout, stderr or in the output file."""

import secrets

import harness as H
import tls_peers as T
from harness import check


def _forms(secret):
    b = secret.encode()
    return [b, b.hex().encode(), b.hex().upper().encode(), b[::-1]]


def test_secrets_stay_out_of_the_output():
    certs = T.make_certs()
    tls_secret = "hsTLS" + secrets.token_hex(16)
    tcp_secret = "hsTCP" + secrets.token_hex(16)
    out_file = H.make_tmpdir() / "out.ndjson"
    hs_json = H.start_hstrace(["--json", "--all", "-o", str(out_file)])
    hs_text = H.start_hstrace(["--all"])

    srv = T.py_server(certs, ["--echo", "--expect", str(len(tls_secret))])
    tcl = T.s_client(srv.port, certs, stdin=tls_secret)
    tcl.wait_exit(30)
    srv.wait_exit(15)
    check(tls_secret in tcl.stdout(), "the secret did not come back through TLS", tcl.diag(),
          srv.diag())

    psrv = T.plain_server()
    pcl = T.plain_client(psrv.port, ["--send", tcp_secret])
    pcl.wait_exit(15)
    psrv.wait_exit(15)
    check(pcl.lines("received ") == ["received %d" % len(tcp_secret)],
          "the plain secret did not come back", pcl.diag())

    H.settle(0.8)
    recs = hs_json.stop_ok(path=out_file)
    check(hs_text.stop() == 0, "text hstrace exit status", hs_text.stderr())

    # The connections were seen (so the check below is about real output).
    c, s = T.ends(recs, tcl.pid, srv.port, "TLS")
    for r in (c, s):
        T.checked(r)
        check(r["tls"]["app_data"]["out"]["bytes"] > 0 and r["tls"]["app_data"]["in"]["bytes"]
              > 0, "%s: no application data counted" % r["role"], r)
    pc, ps = T.ends(recs, pcl.pid, psrv.port, "plain")
    check(pc["tcp"]["bytes_sent"] == len(tcp_secret) and "tls" not in pc,
          "plain client record", pc)

    outputs = {"json file": out_file.read_bytes(),
               "json stdout": hs_json.out_path.read_bytes(),
               "json stderr": hs_json.err_path.read_bytes(),
               "text stdout": hs_text.out_path.read_bytes(),
               "text stderr": hs_text.err_path.read_bytes()}
    check(outputs["json file"] and outputs["text stdout"], "empty hstrace output", outputs)
    leaks = []
    for where, data in outputs.items():
        for secret in (tls_secret, tcp_secret):
            for form in _forms(secret):
                if form in data:
                    leaks.append("%s contains %r" % (where, form))
    check(not leaks, "application data leaked:\n" + "\n".join(leaks))
