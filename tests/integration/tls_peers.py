# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""tls_peers.py - real TLS peers and TLS checks for hstrace's integration tests.

Peers are real programs on loopback: `openssl s_server` / `s_client`, `curl`, `gnutls-cli`,
`nginx` (its own config, pid file, logs and certificate in a temporary folder, in the
foreground) and tools/tls_peer.py (Python's ssl module, with a chosen socket read pattern).
Keys and certificates are made at test time by tools/tls_certs.sh in a temporary folder.
Every process and folder is registered with harness.add_cleanup(), so harness.cleanup_all()
(run by tests/run.py after each test) removes them whether the test passed or not.
"""

import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import harness as H
from harness import check

CERTS_SH = H.REPO / "tools" / "tls_certs.sh"
TLS_PEER = H.REPO / "tools" / "tls_peer.py"
SNI = "hstrace.test"
HTTP_GET = "GET / HTTP/1.0\r\n\r\n"

# TLS 1.2 full handshake with (EC)DHE key exchange, client view, TLS events only.
TLS12_ECDHE_CLIENT = [
    ("client_hello", "out"), ("server_hello", "in"), ("certificate", "in"),
    ("server_key_exchange", "in"), ("server_hello_done", "in"), ("client_key_exchange", "out"),
    ("change_cipher_spec", "out"), ("finished", "out"), ("change_cipher_spec", "in"),
    ("finished", "in"), ("app_data", "out"), ("app_data", "in")]
FLIP = {"in": "out", "out": "in"}


def mirror(seq):
    """The other end's view of a sequence of (event, dir)."""
    return [(e, FLIP[d]) for e, d in seq]


# ---------------------------------------------------------------------------------------------
# certificates

class Certs:
    """The files made by tools/tls_certs.sh (see there), as Paths."""

    def __init__(self, d):
        self.dir = Path(d)
        self.ca = self.dir / "ca.pem"
        self.other_ca = self.dir / "other-ca.pem"
        self.server = self.dir / "server.pem"
        self.server_key = self.dir / "server.key"
        self.chain = self.dir / "chain.pem"
        self.untrusted = self.dir / "untrusted.pem"
        self.untrusted_key = self.dir / "untrusted.key"
        self.expired = self.dir / "expired.pem"
        self.expired_key = self.dir / "expired.key"
        self.client_other = self.dir / "client-other.pem"
        self.client_other_key = self.dir / "client-other.key"

    def der_len(self, pem):
        cp = subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER"],
                            capture_output=True, check=True)
        return len(cp.stdout)

    def cert_msg_len(self, *pems):
        """Body length of a TLS 1.2 Certificate message carrying these certificates: a 3-byte
        list length, then a 3-byte length before each DER certificate."""
        return 3 + sum(3 + self.der_len(p) for p in pems)


def make_certs():
    d = H.make_tmpdir()
    cp = subprocess.run(["sh", str(CERTS_SH), str(d)], capture_output=True, text=True,
                        timeout=60)
    check(cp.returncode == 0, "tools/tls_certs.sh failed (%d)" % cp.returncode, cp.stderr)
    c = Certs(d)
    for p in (c.ca, c.server, c.server_key, c.chain, c.other_ca, c.untrusted):
        check(p.is_file(), "tools/tls_certs.sh made no %s" % p)
    return c


# ---------------------------------------------------------------------------------------------
# processes

class Proc:
    """One peer process. stdout and stderr go to files in its own temporary folder; stdin is
    the given bytes/str (then EOF), or nothing (/dev/null)."""

    def __init__(self, name, argv, stdin=None, cwd=None):
        self.name = name
        self.dir = H.make_tmpdir()
        self.out_path = self.dir / "stdout"
        self.err_path = self.dir / "stderr"
        self.argv = [str(a) for a in argv]
        self.rc = None
        inp = subprocess.DEVNULL
        if stdin is not None:
            p = self.dir / "stdin"
            p.write_bytes(stdin.encode() if isinstance(stdin, str) else stdin)
            inp = open(p, "rb")
        H.log("%s: $ %s" % (name, " ".join(self.argv)))
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=inp, stdout=out, stderr=err,
                                         cwd=str(cwd or self.dir))
        if inp is not subprocess.DEVNULL:
            inp.close()
        self.pid = self.proc.pid
        H.add_cleanup(self.kill, name)

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def diag(self):
        return "%s (pid %d, status %s): %s\nstdout:\n%s\nstderr:\n%s" % (
            self.name, self.pid, self.proc.poll(), " ".join(self.argv), self.stdout()[-4000:],
            self.stderr()[-4000:])

    def lines(self, prefix=""):
        return [l for l in self.stdout().splitlines() if l.startswith(prefix)]

    def wait_line(self, pattern, timeout=15.0):
        """Returns the first match of regex pattern in stdout, waiting up to timeout."""
        end = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.stdout(), re.M)
            if m:
                return m
            if self.proc.poll() is not None or time.monotonic() > end:
                m = re.search(pattern, self.stdout(), re.M)
                if m:
                    return m
                raise AssertionError("%s: no output matching %r\n%s"
                                     % (self.name, pattern, self.diag()))
            time.sleep(0.05)

    def wait_exit(self, timeout=30.0, expect=0):
        """Waits for the exit; checks the status when expect is not None (a collection of
        statuses is allowed too)."""
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %gs\n%s"
                                 % (self.name, timeout, self.diag()))
        ok = (expect is None or self.rc == expect
              or (isinstance(expect, (tuple, list, set)) and self.rc in expect))
        check(ok, "%s exited with %d, expected %s\n%s" % (self.name, self.rc, expect,
                                                         self.diag()))
        return self.rc

    def terminate(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        if self.proc.poll() is None:
            H.log("killing %s (pid %d)" % (self.name, self.pid))
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                H.log("%s (pid %d) did not die" % (self.name, self.pid))


class SServer(Proc):
    """`openssl s_server` on 127.0.0.1 (or ::1), any free port (.port). By default it serves
    `-www` (a status page for "GET /") with server.pem + the CA as its chain and exits after
    naccept connections."""

    def __init__(self, certs, args=(), naccept=1, addr="127.0.0.1", www=True, cert=None,
                 key=None, chain=True, name="s_server"):
        cert = cert or certs.server
        key = key or certs.server_key
        host = "[%s]" % addr if ":" in addr else addr
        argv = ["openssl", "s_server", "-accept", "%s:0" % host, "-cert", cert, "-key", key,
                "-naccept", str(naccept)]
        if chain:
            argv += ["-cert_chain", certs.ca]
        if www:
            argv += ["-www"]
        argv += list(args)
        super().__init__(name, argv)
        m = self.wait_line(r"^ACCEPT .*:(\d+)$")
        self.port = int(m.group(1))
        self.addr = addr


def s_client(port, certs, args=(), stdin=HTTP_GET, sni=SNI, ca=None, addr="127.0.0.1",
             name="s_client", start_only=False):
    """`openssl s_client` to addr:port with SNI sni, verifying against ca (default: the test
    CA) and failing on a verification error. Sends stdin, then waits for the server to close
    (-ign_eof). Returns the Proc (started; call wait_exit)."""
    host = "[%s]" % addr if ":" in addr else addr
    argv = ["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-CAfile",
            ca or certs.ca, "-verify_return_error", "-ign_eof"]
    argv += ["-servername", sni] if sni else ["-noservername"]
    argv += list(args)
    return Proc(name, argv, stdin=stdin)


def curl(port, certs, args=(), sni=SNI, ca=None, path="/", name="curl"):
    """curl https://<sni>:<port>/ with the name resolved to 127.0.0.1 (so the ClientHello
    carries SNI sni), verifying against ca (default: the test CA). Returns the Proc."""
    out = H.make_tmpdir() / "body"
    argv = ["curl", "-sS", "--max-time", "20", "--cacert", ca or certs.ca, "--resolve",
            "%s:%d:127.0.0.1" % (sni, port), "-o", out, *args,
            "https://%s:%d%s" % (sni, port, path)]
    p = Proc(name, argv)
    p.body = lambda: out.read_text(errors="replace") if out.exists() else None
    return p


def gnutls_cli(port, certs, args=(), sni=SNI, stdin=HTTP_GET, name="gnutls-cli"):
    """gnutls-cli to 127.0.0.1:port, SNI sni, verifying the server against the test CA (the
    certificate's name checked against sni); sends stdin and waits for the server to close."""
    argv = ["gnutls-cli", "-p", str(port), "--x509cafile", certs.ca, "--sni-hostname", sni,
            "--verify-hostname", sni, *args, "127.0.0.1"]
    return Proc(name, argv, stdin=stdin)


def py_client(port, args=(), name="tls_peer client"):
    """tools/tls_peer.py client (see there). Returns the Proc."""
    return Proc(name, [H.PYTHON, TLS_PEER, "client", "--port", str(port), *args])


def py_server(certs, args=(), name="tls_peer server"):
    """tools/tls_peer.py server on 127.0.0.1, any free port (.port)."""
    p = Proc(name, [H.PYTHON, TLS_PEER, "server", "--cert", certs.server, "--key",
                    certs.server_key, *args])
    p.port = int(p.wait_line(r"^listening (\d+)$").group(1))
    return p


def plain_server(args=(), name="plain server"):
    """tools/tls_peer.py plain-server on 127.0.0.1, any free port (.port)."""
    p = Proc(name, [H.PYTHON, TLS_PEER, "plain-server", *args])
    p.port = int(p.wait_line(r"^listening (\d+)$").group(1))
    return p


def plain_client(port, args=(), name="plain client"):
    """tools/tls_peer.py plain-client to 127.0.0.1:port."""
    return Proc(name, [H.PYTHON, TLS_PEER, "plain-client", "--port", str(port), *args])


# IANA TLS alert descriptions (RFC 8446 6, RFC 5246 7.2), to read a peer's own report.
ALERT_NAMES = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
               40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
               44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
               47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied",
               50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
               71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback",
               90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
               112: "unrecognized_name", 116: "certificate_required",
               120: "no_application_protocol"}


class Nginx(Proc):
    """A real nginx serving HTTPS on 127.0.0.1, any free port, from its own temporary folder
    (config, pid file, error and access logs, temp paths, certificate chain and key), in the
    foreground as one process (daemon off, master_process off): .pid is the worker."""

    def __init__(self, certs, body="hello from nginx\n", protocols="TLSv1.2 TLSv1.3",
                 name="nginx"):
        d = H.make_tmpdir()
        shutil.copy(certs.chain, d / "chain.pem")
        shutil.copy(certs.server_key, d / "server.key")
        self.port, held = _free_port()
        conf = d / "nginx.conf"
        conf.write_text("""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {sni};
        ssl_certificate {d}/chain.pem;
        ssl_certificate_key {d}/server.key;
        ssl_protocols {protocols};
        location / {{ return 200 "{body}"; }}
    }}
}}
""".format(d=d, port=self.port, sni=SNI, protocols=protocols,
           body=body.replace("\n", "\\n")))
        held.close()
        self.conf_dir = d
        super().__init__(name, ["nginx", "-p", d, "-c", conf, "-e", d / "error.log"])
        H.add_cleanup(self.terminate, "stop nginx")
        end = time.monotonic() + 15
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > end:
                err = (d / "error.log").read_text(errors="replace") \
                    if (d / "error.log").exists() else ""
                raise AssertionError("nginx is not listening on %d\n%s\nerror.log:\n%s"
                                     % (self.port, self.diag(), err))
            time.sleep(0.05)

    def error_log(self):
        p = self.conf_dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""


def _free_port():
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1], s


def _listening(port):
    # /proc/net/tcp: local address 0100007F:<port hex>, state 0A (LISTEN)
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                return True
    return False


# ---------------------------------------------------------------------------------------------
# records

def tls_seq(rec):
    """The TLS events of a record as [(event, dir)], in timeline order."""
    return [(e["event"], e.get("dir")) for e in rec["events"] if e["event"] in H.TLS_EVENTS]


def tls_events(rec, name=None, dir=None):
    return [e for e in rec["events"] if e["event"] in H.TLS_EVENTS
            and (name is None or e["event"] == name) and (dir is None or e.get("dir") == dir)]


def tev(rec, name, dir=None, n=1):
    """The n-th (1-based) TLS event called name (with direction dir); fails when missing."""
    found = tls_events(rec, name, dir)
    check(len(found) >= n, "record has no %s%s event #%d" % (
        name, " " + dir if dir else "", n), rec)
    return found[n - 1]


def strip_closing_alerts(seq):
    """seq without the alerts that follow the last app_data (close_notify at the end of a
    connection); other alerts stay."""
    last = max((i for i, (e, _) in enumerate(seq) if e == "app_data"), default=-1)
    return seq[:last + 1] + [x for x in seq[last + 1:] if x[0] != "alert"]


def check_tls_object(rec):
    """Validates the shape of rec["tls"] (docs/json.md); returns it."""
    t = rec.get("tls")
    check(isinstance(t, dict), "record has no tls object", rec)

    def need(cond, msg):
        check(cond, "tls: " + msg, rec)

    for k in ("sni", "version", "cipher", "group"):
        if k in t:
            need(isinstance(t[k], str) and t[k], "%s must be a non-empty string" % k)
    if "version" in t:
        need(t["version"] in ("1.3", "1.2", "1.1", "1.0", "ssl3")
             or re.fullmatch(r"0x[0-9A-F]{4}", t["version"]), "version %r" % t["version"])
    need(isinstance(t.get("offered_versions"), list)
         and all(isinstance(v, str) for v in t["offered_versions"]), "offered_versions")
    if "alpn" in t:
        a = t["alpn"]
        need(isinstance(a, dict) and isinstance(a.get("offered"), list), "alpn.offered")
        need("selected" not in a or isinstance(a["selected"], str), "alpn.selected")
    if "resumed" in t:
        need(isinstance(t["resumed"], bool), "resumed must be a bool")
    if "cert_chain" in t:
        cc = t["cert_chain"]
        need(isinstance(cc, dict) and isinstance(cc.get("count"), int)
             and isinstance(cc.get("bytes"), int), "cert_chain {count, bytes}")
    if "alert" in t:
        al = t["alert"]
        need(isinstance(al, dict) and set(al) == {"level", "description", "dir"},
             "alert must be {level, description, dir}")
        need(al["level"] in (None, "warning", "fatal") or str(al["level"]).isdigit(),
             "alert.level %r" % al["level"])
        need(al["dir"] in (None, "in", "out"), "alert.dir %r" % al["dir"])
    ad = t.get("app_data")
    need(isinstance(ad, dict) and set(ad) >= {"out", "in"}, "app_data {out, in}")
    for d in ("out", "in"):
        need(isinstance(ad[d].get("bytes"), int) and isinstance(ad[d].get("records"), int)
             and ad[d]["bytes"] >= 0 and ad[d]["records"] >= 0, "app_data.%s" % d)
        first = tls_events(rec, "app_data", d)
        need(len(first) <= 1, "more than one app_data %s event" % d)
        if first:
            need(ad[d]["records"] >= 1 and ad[d]["bytes"] >= first[0].get("len", 0),
                 "app_data %s event but app_data.%s counts %s" % (d, d, ad[d]))
        else:
            need(ad[d]["records"] == 0, "app_data.%s counts records but no event" % d)
    need(isinstance(t.get("handshake_done"), bool), "handshake_done must be a bool")
    for k in ("ttfb_estimated", "desync"):
        if k in t:
            need(t[k] is True, "%s must be true when present" % k)
    return t


def _span(rec, a, b):
    return None if a is None or b is None else b["t_us"] - a["t_us"]


def _app_span(a, b):
    """Application time from event a to event b (app_us), None when either is unknown."""
    if a is None or b is None or "app_us" not in a or "app_us" not in b:
        return None
    return b["app_us"] - a["app_us"]


def _first(rec, name, dir=None):
    f = [e for e in rec["events"] if e["event"] == name and (dir is None or e.get("dir") == dir)]
    return f[0] if f else None


def phase_spans(rec):
    """For each phase the docs define, the span (µs) between its two events in this record,
    or None when an event is missing (docs/json.md, Phases)."""
    client = rec["role"] == "client"
    own = "out" if client else "in"  # direction of the client's flight, as seen here
    ch = _first(rec, "client_hello")
    t = rec.get("tls") or {}
    if t.get("version") == "1.3":
        last_hs = _first(rec, "encrypted_handshake", own)
    else:
        fins = tls_events(rec, "finished")
        last_hs = fins[1] if len(fins) >= 2 else None
    app_in = _first(rec, "app_data", "in")
    # The answer to the (first) ClientHello: a HelloRetryRequest when there is one.
    answer = _first(rec, "hello_retry_request") or _first(rec, "server_hello")
    spans = {
        "tcp_handshake": _span(rec, _first(rec, "syn_sent" if client else "syn_received"),
                               _first(rec, "established")),
        "accept_wait": None if client else _span(rec, _first(rec, "established"),
                                                 _first(rec, "accepted")),
        "tls_handshake": _span(rec, ch, last_hs),
        "total": app_in["t_us"] if app_in else None,  # from the first event (t_us 0)
    }
    if client:
        spans["idle_before_hello"] = _span(rec, _first(rec, "established"), ch)
        spans["server_hello_rtt"] = _span(rec, ch, answer)
        spans["ttfb"] = _span(rec, _first(rec, "app_data", "out"), _first(rec, "app_data", "in"))
        if t.get("version") == "1.3":
            spans["app_think"] = _app_span(_first(rec, "encrypted_handshake", "in"),
                                           _first(rec, "encrypted_handshake", "out"))
        else:
            spans["app_think"] = _app_span(_first(rec, "server_hello_done", "in"),
                                           _first(rec, "client_key_exchange", "out"))
        # (from the phases themselves: each is rounded from nanoseconds)
        tcp = rec["phases_us"].get("tcp_handshake") if spans["tcp_handshake"] is not None else None
        rtt = (rec["phases_us"].get("server_hello_rtt")
               if spans["server_hello_rtt"] is not None else None)
        spans["peer_think"] = (None if tcp is None or rtt is None
                               or rec["tcp"]["syn_retransmits"] else max(rtt - tcp, 0))
    else:
        spans["server_think"] = _span(rec, ch, answer)
        spans["response_time"] = _span(rec, _first(rec, "app_data", "in"),
                                       _first(rec, "app_data", "out"))
        spans["hello_read_wait"] = (ch["app_us"] - ch["t_us"] if ch and "app_us" in ch
                                    else None)
        spans["app_think"] = _app_span(ch, answer)
    return spans


def check_phases(rec, required=()):
    """Every phase in phases_us that the docs define matches its events' t_us (±1 µs of
    rounding); the required ones are present; a phase is present exactly when its events
    are."""
    ph = rec["phases_us"]
    spans = phase_spans(rec)
    for name in required:
        check(name in ph, "phase %s missing" % name, rec)
    for name, span in spans.items():
        check(span is None or span < 0 or name in ph,
              "phase %s missing although its events are there" % name, rec)
    for name, v in ph.items():
        if name not in spans:
            continue  # a phase these tests do not know: informational
        check(spans[name] is not None, "phase %s present but its events are not" % name, rec)
        check(abs(v - spans[name]) <= 1, "phase %s = %d µs but its events span %d µs"
              % (name, v, spans[name]), rec)
    return ph


def ends(recs, client_pid, server_port, what="connection"):
    """(client record, server record) of the one connection client_pid made to server_port."""
    cs = H.select(recs, role="client", pid=client_pid, rport=server_port)
    check(len(cs) == 1, "expected 1 client record of pid %d to port %d, got %d"
          % (client_pid, server_port, len(cs)), recs)
    c = cs[0]
    s = H.one(recs, "server (%s)" % what, all_recs=recs, role="server", lport=server_port,
              rport=c["local"]["port"])
    return c, s


def run_traced(body, args=("--json",), settle=0.8):
    """Starts hstrace with args, runs body() (which drives the peers and waits for them), lets
    late records arrive and stops hstrace. Returns (records, body's return value)."""
    hs = H.start_hstrace(list(args))
    ret = body()
    H.settle(settle)
    return hs.stop_ok(), ret


def checked(rec):
    """harness.check_record() plus, when the record has one, check_tls_object(); returns rec."""
    H.check_record(rec)
    if "tls" in rec:
        check_tls_object(rec)
    return rec
