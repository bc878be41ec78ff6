# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""OpenSSL uprobes: the library's view of the handshake (tls_api, handshake_start/done),
certificate verification (cert_verify), the sources list, finding a private libssl copy in a
process started after hstrace, and the probe budget (uprobe hits per handshake)."""

import json
import os
import re
import shutil
import subprocess
import time

import harness as H
import tls_peers as T
from harness import check

# A verifying Python client using the system libssl through a plain socket (socket BIO):
# prints its pid, waits `delay` seconds, then makes `n` handshakes + one request each.
PY_CLIENT = r"""
import os, socket, ssl, sys, time
port, ca, sni, delay, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5])
print("pid", os.getpid(), flush=True)
time.sleep(delay)
ctx = ssl.create_default_context(cafile=ca)
for _ in range(n):
    with socket.create_connection(("127.0.0.1", port)) as s:
        try:
            with ctx.wrap_socket(s, server_hostname=sni) as t:
                print("local", t.getsockname()[1], flush=True)
                t.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while t.recv(65536):
                    pass
                print("ok", flush=True)
        except ssl.SSLCertVerificationError as e:
            print("verify_failed", e.verify_code, flush=True)
"""


def py_client(port, certs, ca=None, delay=0.0, n=1, env=None, sni=T.SNI):
    path = H.make_tmpdir() / "client.py"
    path.write_text(PY_CLIENT)
    argv = [H.PYTHON, str(path), str(port), str(ca or certs.ca), sni, str(delay), str(n)]
    if env:
        argv = ["env"] + ["%s=%s" % kv for kv in env.items()] + argv
    return T.Proc("py-client", argv)


def client_pid(proc):
    return int(proc.wait_line(r"^pid (\d+)$").group(1))


def client_record(recs, pid, port):
    cs = H.select(recs, role="client", pid=pid, rport=port)
    check(len(cs) == 1, "expected 1 client record of pid %d to port %d, got %d"
          % (pid, port, len(cs)), recs)
    return T.checked(cs[0])


def names(rec):
    return [e["event"] for e in rec["events"]]


def check_library(rec, file_part="libssl.so"):
    lib = rec["tls"].get("library")
    check(lib is not None, "no tls.library", rec)
    check(lib["name"].startswith("OpenSSL 3."), "tls.library.name %r" % lib["name"], rec)
    check(file_part in lib["file"], "tls.library.file %r lacks %s" % (lib["file"], file_part),
          rec)


def check_api(rec, min_calls=1):
    api = rec.get("tls_api")
    check(api is not None, "no tls_api", rec)
    check(api["calls"] >= min_calls, "tls_api.calls %d < %d" % (api["calls"], min_calls), rec)
    check(api["result"] == 1, "tls_api.result %r, expected 1" % api["result"], rec)
    check(api["inside_us"] > 0, "tls_api.inside_us is 0", rec)
    n = names(rec)
    check(n.count("handshake_start") == 1 and n.count("handshake_done") == 1,
          "handshake_start/done not once each: %s" % n, rec)
    ev = {e["event"]: e["t_us"] for e in rec["events"]}
    # The library call spans the handshake messages it sent and received.
    check(ev["handshake_start"] <= ev["client_hello"] if rec["role"] == "client" else True,
          "handshake_start after client_hello", rec)
    check(ev["handshake_done"] >= ev["server_hello"], "handshake_done before server_hello", rec)
    check("openssl" in rec["sources"], "sources %s lacks openssl" % rec["sources"], rec)


def check_verify(rec, want="ok"):
    check(rec["tls"].get("verify") == want, "tls.verify %r, expected %r"
          % (rec["tls"].get("verify"), want), rec)
    n = names(rec)
    check("cert_verify_start" in n and "cert_verify_done" in n, "no cert_verify events", rec)
    check("cert_verify" in rec["phases_us"], "no cert_verify phase", rec)
    ev = {e["event"]: e["t_us"] for e in rec["events"]}
    check(ev["cert_verify_start"] >= ev["server_hello"],
          "verification started before the server_hello", rec)
    check(rec["phases_us"]["cert_verify"] == ev["cert_verify_done"] - ev["cert_verify_start"]
          or abs(rec["phases_us"]["cert_verify"] - (ev["cert_verify_done"]
                                                    - ev["cert_verify_start"])) <= 1,
          "cert_verify phase != its events' difference", rec)


def test_python_verifying_client():
    certs = T.make_certs()
    srv = T.SServer(certs)
    hs = H.start_hstrace(["--json", "--ssl-calls"])
    cl = py_client(srv.port, certs)
    pid = client_pid(cl)
    cl.wait_exit(30)
    H.settle()
    recs = hs.stop_ok()
    c = client_record(recs, pid, srv.port)
    check(c["result"] == "ok", "result %r" % c["result"], c)
    check_api(c)
    check_verify(c, "ok")
    check_library(c)
    check(c["sources"] == ["kernel-tcp", "kernel-tls", "openssl"], "sources %s" % c["sources"],
          c)
    # openssl s_server -www runs its handshake inside SSL_read (implicit): no tls_api there,
    # yet a complete kernel-observed timeline.
    s = H.one(recs, "server", all_recs=recs, role="server", lport=srv.port,
              rport=c["local"]["port"])
    T.checked(s)
    check(s["result"] == "ok" and s["tls"]["handshake_done"], "server record", s)
    check("tls_api" not in s, "s_server never calls SSL_do_handshake, yet tls_api", s)


def test_curl_nonblocking():
    certs = T.make_certs()
    srv = T.SServer(certs)
    hs = H.start_hstrace(["--json", "--ssl-calls"])
    cl = T.curl(srv.port, certs)
    cl.wait_exit(30)
    H.settle()
    recs = hs.stop_ok()
    c = client_record(recs, cl.pid, srv.port)
    check(c["comm"] == "curl", "comm %r" % c["comm"], c)
    # curl's socket is non-blocking: SSL_connect may return WANT_READ and be called again; the
    # calls are counted and their time inside summed, whatever their number.
    check_api(c)
    ev = {e["event"]: e["t_us"] for e in c["events"]}
    check(c["tls_api"]["inside_us"] <= ev["handshake_done"] - ev["handshake_start"] + 1,
          "more time inside SSL calls than between first entry and success", c)
    check_verify(c, "ok")
    check_library(c)


def test_s_client_implicit_handshake():
    certs = T.make_certs()
    srv = T.SServer(certs)
    hs = H.start_hstrace(["--json"])
    cl = T.s_client(srv.port, certs)
    cl.wait_exit(30)
    H.settle()
    recs = hs.stop_ok()
    c = client_record(recs, cl.pid, srv.port)
    check(c["result"] == "ok", "result %r" % c["result"], c)
    # The handshake ran inside SSL_read/SSL_write (not probed: probe budget), so there is no
    # tls_api; the kernel-observed phases are complete and verification is still seen.
    check("tls_api" not in c, "unexpected tls_api", c)
    for ph in ("tcp_handshake", "tls_handshake", "server_hello_rtt", "ttfb"):
        check(ph in c["phases_us"], "phase %s missing" % ph, c)
    check_verify(c, "ok")


def test_nginx_server():
    certs = T.make_certs()
    ngx = T.Nginx(certs)
    hs = H.start_hstrace(["--json", "--ssl-calls"])
    cl = T.curl(ngx.port, certs)
    cl.wait_exit(30)
    H.settle()
    recs = hs.stop_ok()
    c = client_record(recs, cl.pid, ngx.port)
    s = H.one(recs, "nginx server", all_recs=recs, role="server", lport=ngx.port,
              rport=c["local"]["port"])
    T.checked(s)
    check(s["comm"] == "nginx", "server comm %r" % s["comm"], s)
    check_api(s)
    check_library(s)


def test_verify_failure_tls13():
    certs = T.make_certs()
    srv = T.SServer(certs, args=["-tls1_3"])
    hs = H.start_hstrace(["--json", "--ssl-calls"])
    cl = py_client(srv.port, certs, ca=certs.other_ca)
    pid = client_pid(cl)
    cl.wait_line(r"^verify_failed")
    cl.wait_exit(30)
    H.settle()
    recs = hs.stop_ok()
    c = client_record(recs, pid, srv.port)
    check(c["tls"]["version"] == "1.3", "version", c)
    check(c["tls"].get("verify") == "failed", "tls.verify %r" % c["tls"].get("verify"), c)
    check(c["result"] == "tls_alert", "result %r, expected tls_alert" % c["result"], c)
    check(c["tls_api"]["result"] != 1, "tls_api.result 1 on a failed handshake", c)


def test_private_libssl_started_later():
    """A process started after hstrace, loading a private copy of libssl from an unusual
    folder, is found (exec-triggered scan) and probed."""
    certs = T.make_certs()
    srv = T.SServer(certs)
    libdir = H.make_tmpdir() / "weird-lib-dir"
    libdir.mkdir()
    found = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for name in ("libssl.so.3", "libcrypto.so.3"):
        src = [l.split("=>")[1].strip() for l in found.splitlines()
               if l.strip().startswith(name + " ")]
        check(src, "ldconfig -p lists no %s" % name, found)
        shutil.copy(src[0], libdir / name)
    hs = H.start_hstrace(["--json", "-v", "--ssl-calls"])
    # The client sleeps 2 s before its handshake: time for the scan after its exec.
    cl = py_client(srv.port, certs, delay=2.0, env={"LD_LIBRARY_PATH": str(libdir)})
    pid = client_pid(cl)
    cl.wait_exit(30)
    maps = ""
    H.settle()
    recs = hs.stop_ok()
    c = client_record(recs, pid, srv.port)
    check_api(c)
    check(str(libdir) in c["tls"]["library"]["file"],
          "tls.library.file %r is not the private copy in %s"
          % (c["tls"]["library"]["file"], libdir), c, maps)
    check(str(libdir) in hs.stderr(), "hstrace -v did not report probing the copy",
          hs.stderr())
    # -v counts the records read by kind, the batches they came in (the TLS records of one
    # packet: a server flight is several records in one packet; the application calls of one
    # connection), and the later departure times (SYNs and FINs that left TCP 3 µs or more
    # after their state change).
    m = re.search(r"records read (\d+) \(tcp (\d+), tls (\d+), io (\d+), ssl (\d+); "
                  r"(\d+) batches, (\d+) later departure times\)", hs.stderr())
    check(m, "hstrace -v printed no records-read line", hs.stderr())
    total, tcp, tls, io, ssl, batches, sent = map(int, m.groups())
    check(tcp > 0 and tls > 0 and io > 0 and ssl > 0 and batches > 0 and sent < tls
          and tcp + tls + io + ssl <= total, "records read by kind: %s" % m.group(0))


def _uprobe_runs():
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True, capture_output=True,
                         text=True).stdout
    return sum(p.get("run_cnt", 0) for p in json.loads(out)
               if p.get("name", "").startswith(("handle_ssl_", "handle_verify_")))


def test_probe_budget():
    """Default probes: over 50 handshakes, the verifying end (the client) is hit twice per
    handshake (X509_verify_cert entry + return) and the server, which verifies nothing, not
    at all: SSL_do_handshake is probed only with --ssl-calls."""
    n = 50
    certs = T.make_certs()
    ngx = T.Nginx(certs)
    old = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
    H.add_cleanup(lambda: open("/proc/sys/kernel/bpf_stats_enabled", "w").write(old),
                  "bpf_stats_enabled")
    hs = H.start_hstrace(["--json"])
    before = _uprobe_runs()
    cl = py_client(ngx.port, certs, n=n)
    pid = client_pid(cl)
    cl.wait_exit(120)
    hits = _uprobe_runs() - before
    H.settle()
    recs = hs.stop_ok()
    cs = H.select(recs, role="client", pid=pid, rport=ngx.port)
    ss = H.select(recs, role="server", lport=ngx.port)
    check(len(cs) == n, "%d client records, expected %d" % (len(cs), n), recs)
    H.log("uprobe hits: %d over %d handshakes = %.2f per handshake (both ends)"
          % (hits, n, hits / n))
    for r in cs:
        check("tls_api" not in r and "handshake_start" not in H.names(r),
              "client: SSL_do_handshake probed without --ssl-calls", r)
        check("cert_verify" in r["phases_us"], "client: verification not seen", r)
    for r in ss:
        check("tls_api" not in r and "openssl" not in r.get("sources", []),
              "server (verifies nothing): uprobe data without --ssl-calls", r)
    # Machine-wide counts include any other TLS process running meanwhile: they bound the
    # hits from below only (the per-end structure is checked on the records above).
    check(hits >= 2 * n, "only %d uprobe hits for %d verifying handshakes: probes not hit"
          % (hits, n))
    # (No upper bound here: another TLS process running meanwhile would break it. `make bench`
    # measures hits per handshake against an idle window, tools/bench_tls.py uprobes.)
