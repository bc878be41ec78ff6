# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The failure matrix (docs/failures.md, issue #12 part 1): every way a connection set-up fails
that no other test drives, each through real peers on loopback.

Each test function runs one group of scenarios at the same time under one `hstrace --json --all`
and one `hstrace --all` (the one-line text view) — the mTLS group also under a
`hstrace --json --all --no-uprobes`, the kernel-only view — and then checks every scenario's
records, found by their ports: the result, the alert (description and which end sent it), the
events and phases that must be there and those that must not, and the text line. A scenario's
ground truth comes from the peers themselves (the alert number `openssl` reports, the errno a
client got, nftables' count of the packets it dropped), never from hstrace. Every scenario is
checked even when an earlier one failed; the test then fails with all their messages, each
prefixed by the scenario's name.

Packets are "lost" by nftables rules in an `input` chain of a table of this test's own (deleted
at cleanup): a dropped packet has left its sender (hstrace saw it go out) and never reaches the
receiver, as on a real network.

Scenarios covered elsewhere, not repeated here: refused connect (test_tcp_basic.test_refused),
a reset after the handshake (test_tcp_basic.test_reset_after_established), a connect given up
on a full listener (test_tcp_timeout), a server that resets after the ClientHello and no shared
cipher (test_tls_alert), unknown CA / self-signed certificate (test_tls_alert), a successful
HelloRetryRequest (test_tls13.test_tls13_hello_retry_request), loss and reordering during
handshakes (test_capture_loss).
"""

import os
import re
import signal
import subprocess
import time

import harness as H
from harness import check
import tls_peers as T

GET = "GET / HTTP/1.0\\r\\n\\r\\n"  # tls_peer.py --send text (backslash escapes)


# ---------------------------------------------------------------------------------------------
# packet loss with nftables (an input chain: the packet left its sender, the receiver never
# gets it)

class Nft:
    """A table of this test's own with one input chain; deleted at cleanup."""

    def __init__(self):
        self.table = "hstrace_fail_%d" % os.getpid()
        self._run("add table inet %s" % self.table)
        H.add_cleanup(lambda: subprocess.run(["nft", "delete table inet %s" % self.table],
                                             capture_output=True), "nft table " + self.table)
        self._run("add chain inet %s in { type filter hook input priority 0; }" % self.table)

    def _run(self, cmd, *opts):
        cp = subprocess.run(["nft", *opts, cmd], capture_output=True, text=True)
        check(cp.returncode == 0, "nft %s failed" % cmd, cp.stderr)
        return cp.stdout

    def drop(self, match, tag):
        """Adds `match counter drop` with comment tag."""
        self._run('add rule inet %s in %s counter drop comment "%s"' % (self.table, match, tag))

    def drop_syn(self, port, tag):
        """Drops every SYN (without ACK) to port."""
        self.drop("tcp dport %d tcp flags & (syn|ack) == syn" % port, tag)

    def drop_port(self, port, tag):
        """Drops every TCP packet from or to port: the two ends stop hearing each other."""
        self.drop("tcp sport %d" % port, tag + "-a")
        self.drop("tcp dport %d" % port, tag + "-b")

    def _rule(self, tag):
        out = self._run("list chain inet %s in" % self.table, "-a")
        for line in out.splitlines():
            if '"%s"' % tag in line:
                m = re.search(r"counter packets (\d+) .*# handle (\d+)", line)
                check(m, "cannot read nft rule %s" % tag, out)
                return int(m.group(1)), m.group(2)
        raise AssertionError("nft rule %s not found\n%s" % (tag, out))

    def packets(self, tag):
        """Packets the rule tagged tag has dropped so far."""
        return self._rule(tag)[0]

    def delete(self, tag):
        self._run("delete rule inet %s in handle %s" % (self.table, self._rule(tag)[1]))

    def wait_packets(self, tag, n=1, timeout=10.0):
        end = time.monotonic() + timeout
        while self.packets(tag) < n:
            check(time.monotonic() < end, "nft rule %s dropped fewer than %d packets in %gs"
                  % (tag, n, timeout))
            time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# hstrace: JSON, text and (optionally) kernel-only views of the same connections

TEXT_LINE = re.compile(
    r"^(?P<time>\d\d:\d\d:\d\d) +(?P<pid>\S+) +(?P<comm>.*?) +(?P<role>client|server) +"
    r"(?P<local>\S+:\d+) +(?P<peer>\S+:\d+) +(?P<sni>\S+) +(?P<ver>\S+) +(?P<tcp>\S+) +"
    r"(?P<accept>\S+) +(?P<tls>\S+) +(?P<ttfb>\S+) +(?P<retx>\d+) +(?P<result>\S+)$")


class Views:
    """One `hstrace --json --all`, one `hstrace --all` (text) and, with kernel_only, one
    `hstrace --json --all --no-uprobes`, all started before the scenarios."""

    def __init__(self, kernel_only=False):
        self.hs_json = H.start_hstrace(["--json", "--all"])
        self.hs_text = H.start_hstrace(["--all"])
        self.hs_kernel = H.start_hstrace(["--json", "--all", "--no-uprobes"]) \
            if kernel_only else None

    def stop(self):
        H.settle()
        self.recs = self.hs_json.stop_ok()
        self.kernel_recs = self.hs_kernel.stop_ok() if self.hs_kernel else []
        rc = self.hs_text.stop()
        check(rc == 0, "text hstrace exit status %d" % rc, self.hs_text.stderr())
        self.text = self.hs_text.stdout()
        self.lines = []
        for line in self.text.splitlines():
            m = TEXT_LINE.match(line)
            if m:
                self.lines.append(m.groupdict())

    def ends(self, server_port, client_port=None):
        """(client record, server record) of the connection to server_port (from
        client_port when given); either is None when hstrace wrote none."""
        cs = H.select(self.recs, role="client", rport=server_port, lport=client_port)
        check(len(cs) <= 1, "%d client records to port %d" % (len(cs), server_port), cs)
        c = cs[0] if cs else None
        lport = client_port or (c["local"]["port"] if c else None)
        ss = H.select(self.recs, role="server", lport=server_port, rport=lport) \
            if lport else []
        check(len(ss) <= 1, "%d server records for port %d" % (len(ss), server_port), ss)
        return c, (ss[0] if ss else None)

    def kernel_view(self, rec):
        """The --no-uprobes record of the same end as rec."""
        return H.one(self.kernel_recs, "kernel-only %s" % rec["role"], role=rec["role"],
                     lport=rec["local"]["port"], rport=rec["peer"]["port"])

    def text_line(self, rec):
        """The text view's line for rec's end, checked against the record: the same owner,
        ends, server name, version, SYN retransmissions and result (with the alert), and a
        duration in each phase column exactly when the record has that phase. (The two
        hstrace instances time events with their own BPF programs: durations may differ by a
        few µs, so only their presence is compared.)"""
        loc = "%s:%d" % (rec["local"]["addr"], rec["local"]["port"])
        peer = "%s:%d" % (rec["peer"]["addr"], rec["peer"]["port"])
        got = [l for l in self.lines if l["role"] == rec["role"] and l["local"] == loc
               and l["peer"] == peer]
        check(len(got) == 1, "%d text lines for the %s %s -> %s, expected 1"
              % (len(got), rec["role"], loc, peer), self.text)
        line = got[0]
        t = rec.get("tls") or {}
        ph = rec["phases_us"]
        result = rec["result"]
        al = t.get("alert")
        if al and result in ("tls_alert", "tls_failed"):
            result += ":" + (al["description"] if al["level"] is not None else "encrypted")
        want = {
            "pid": str(rec["pid"]) if rec["pid"] else "-",
            "comm": rec["comm"] if rec["pid"] else "?",
            "sni": t.get("sni") or "-",
            "ver": t.get("version") or "-",
            "retx": str(rec["tcp"]["syn_retransmits"]),
            "result": result,
        }
        for k, v in want.items():
            check(line[k] == v, "text %s %r, expected %r (from the JSON record)"
                  % (k.upper(), line[k], v), rec, self.text)
        ttfb = "ttfb" if rec["role"] == "client" else "response_time"
        for col, phase in (("tcp", "tcp_handshake"), ("accept", "accept_wait"),
                           ("tls", "tls_handshake"), ("ttfb", ttfb)):
            check((line[col] != "-") == (phase in ph),
                  "text column %s is %r but the record %s phase %s"
                  % (col, line[col], "has" if phase in ph else "has no", phase), rec, self.text)
            if line[col] != "-":
                check(re.fullmatch(r"\d+\.\d{3}", line[col]), "text %s %r" % (col, line[col]))
        return line


class Scenarios:
    """Runs each scenario's checks, collecting failures so that every scenario is checked;
    done() fails with all of them."""

    def __init__(self):
        self.failures = []
        self.passed = []

    def check(self, name, fn, *args):
        try:
            fn(*args)
            self.passed.append(name)
            H.log("scenario %s: as expected" % name)
        except AssertionError as e:
            H.log("scenario %s: FAILED" % name)
            self.failures.append("[%s] %s" % (name, e))

    def done(self):
        check(not self.failures, "%d of %d scenarios failed:\n\n%s" % (
            len(self.failures), len(self.failures) + len(self.passed),
            "\n\n".join(self.failures)))


# ---------------------------------------------------------------------------------------------
# record checks

def need(rec, cond, msg, *more):
    check(cond, "%s: %s" % (rec["role"], msg), rec, *more)


def expect(rec, result, present=(), absent=(), phases=(), no_phases=()):
    """rec is well-formed, has result `result`, the events in present, none in absent, the
    phases in phases, none in no_phases, and its phases match their events."""
    check(rec is not None, "hstrace wrote no record for this end")
    T.checked(rec)
    need(rec, rec["result"] == result, "result %r, expected %r" % (rec["result"], result))
    names = H.names(rec)
    for e in present:
        need(rec, e in names, "no %s event" % e)
    for e in absent:
        need(rec, e not in names, "unexpected %s event" % e)
    for p in phases:
        need(rec, p in rec["phases_us"], "no %s phase" % p)
    for p in no_phases:
        need(rec, p not in rec["phases_us"], "unexpected %s phase" % p)
    if "tls" in rec:
        T.check_phases(rec)


def expect_alert(rec, description, sender, level="fatal"):
    """tls.alert is {level, description, dir} with dir seen from rec's end: "out" when
    rec's end is the sender ("client"/"server")."""
    d = "out" if rec["role"] == sender else "in"
    al = rec.get("tls", {}).get("alert")
    want = {"level": level, "description": description, "dir": d}
    need(rec, al == want, "tls.alert %r, expected %r" % (al, want))
    need(rec, T.tls_events(rec, "alert", d), "no alert %s event" % d)


def expect_no_alert(rec):
    need(rec, "alert" not in rec.get("tls", {}), "tls.alert %r" % rec["tls"].get("alert"))
    need(rec, not T.tls_events(rec, "alert"), "an alert event")


def expect_tls_seq(rec, seq):
    """The TLS events of rec (change_cipher_spec left out) are exactly seq, [(event, dir)]."""
    got = [x for x in T.tls_seq(rec) if x[0] != "change_cipher_spec"]
    need(rec, got == seq, "TLS events (change_cipher_spec left out)\n  %s\nexpected\n  %s"
         % (got, seq))


def mirrored(c, s):
    """Both ends of the same connection, and owners set."""
    check(c is not None and s is not None, "missing record: client %s, server %s"
          % (c is not None, s is not None), c or s or {})
    check(c["local"]["port"] == s["peer"]["port"] and c["peer"]["port"] == s["local"]["port"],
          "the two ends' ports do not mirror each other", c, s)


def peer_alert_number(proc):
    """The alert number an openssl peer says it received ("SSL alert number 48")."""
    m = re.search(r"SSL alert number (\d+)", proc.stderr())
    check(m, "%s reported no received alert" % proc.name, proc.diag())
    return int(m.group(1))


def sent_alert(proc):
    """The alert description `openssl ... -msg` says it sent (">>> ... Alert ..., fatal x")."""
    m = re.search(r">>> [^\n]*Alert \[length 0002\], fatal (\w+)", proc.stdout())
    check(m, "%s sent no fatal alert (its -msg trace)" % proc.name, proc.diag())
    return m.group(1)


def wait_closed(port, timeout=10.0):
    """Waits until the closed IPv4 socket with local port port has gone to TCP_CLOSE: it is
    gone from /proc/net/tcp or a time-wait socket took its place (timer kind 3). Returns
    False when it stays a full socket in FIN_WAIT2 (state 05, its FIN_WAIT2 timer, kind 2):
    the ACK of its FIN reached it while close() still held it, and the kernel keeps it for
    tcp_fin_timeout (60 s)."""
    want = ":%04X" % port
    end = time.monotonic() + timeout
    while True:
        entry = None
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1].endswith(want):
                    entry = (parts[3], parts[5][:2])
        if entry is None or entry[1] == "03":
            return True
        if entry == ("05", "02"):
            return False
        check(time.monotonic() < end, "the socket of port %d did not close: %r" % (port, entry))
        time.sleep(0.01)


def rx_queue(port):
    """Bytes waiting unread in the receive queue of the IPv4 socket with local port port."""
    want = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1].endswith(want) and parts[3] == "01":  # ESTABLISHED
                return int(parts[4].split(":")[1], 16)
    return 0


# ---------------------------------------------------------------------------------------------
# 1. SYNs lost

def test_failures_syn():
    """SYN never answered until connect() gives up (TCP_SYNCNT=1); one SYN lost then
    answered; a full listen backlog that drops SYNs until the server accepts."""
    nft = Nft()
    v = Views()

    # Never answered: every SYN to a port is dropped (nothing would answer anyway).
    bport, _held = H.free_port()
    nft.drop_syn(bport, "blackhole")
    bh = H.start_client(bport, syncnt=1, comm="hs_f_blackhole", name="blackhole client")

    # One SYN lost: the rule goes once it has dropped the first SYN; the retransmission
    # (1 s later) gets through.
    lost_srv = H.start_server(count=1, reply=10, comm="hs_f_lost_srv", name="lost server")
    nft.drop_syn(lost_srv.port, "lost")
    lost = H.start_client(lost_srv.port, send=10, comm="hs_f_lost_cli", name="lost client")
    nft.wait_packets("lost")
    nft.delete("lost")

    # Full backlog: backlog 0 holds one connection; the server accepts only 1.2 s after a
    # connection is pending, so the second client's SYNs are dropped until then.
    full_srv = H.start_server(count=2, backlog=0, accept_delay=1.2, reply=3,
                              comm="hs_f_full_srv", name="backlog server")
    filler = H.start_client(full_srv.port, send=3, comm="hs_f_filler", name="filler client")
    filler.wait_line("connected ")
    extra = H.start_client(full_srv.port, send=3, comm="hs_f_extra", name="extra client")

    bh.wait_exit(15, expect=1)
    for p in (lost, filler, extra):
        p.wait_exit(15)
    full_srv.wait_exit(10)
    lost_srv.wait_exit(10)
    bh_dropped = nft.packets("blackhole")
    v.stop()
    sc = Scenarios()

    def blackhole():
        check(bh.lines("connect_error ") == ["connect_error %d ETIMEDOUT" % bport],
              "the client's connect() did not time out", bh.diag())
        c, s = v.ends(bport)
        check(s is None, "a server record for a port nobody answered on", s)
        expect(c, "timeout", present=("syn_sent", "syn_retransmit", "closed"),
               absent=("established", "reset_in"))
        check(c["pid"] == bh.pid and c["comm"] == "hs_f_blackhole", "owner", c)
        n = c["tcp"]["syn_retransmits"]
        need(c, n >= 1 and H.names(c) == ["syn_sent"] + ["syn_retransmit"] * n + ["closed"],
             "events %s, expected syn_sent, syn_retransmit x%d, closed" % (H.names(c), n))
        need(c, bh_dropped == n + 1, "syn_retransmits %d, but the kernel sent %d SYNs (nft "
             "dropped them all)" % (n, bh_dropped))
        need(c, c["tcp"].get("error") == "ETIMEDOUT", "tcp.error %r" % c["tcp"].get("error"))
        need(c, c["phases_us"] == {}, "phases %s" % c["phases_us"])
        line = v.text_line(c)
        check(line["tcp"] == "-" and line["result"] == "timeout", "text line", line)

    def one_syn_lost():
        c, s = v.ends(lost_srv.port, lost.ports()[0])
        mirrored(c, s)
        expect(c, "ok", present=("syn_sent", "syn_retransmit", "established", "closed"),
               phases=("tcp_handshake",))
        need(c, c["tcp"]["syn_retransmits"] == 1 and len(T.tls_events(c)) == 0
             and [n for n in H.names(c) if n == "syn_retransmit"] == ["syn_retransmit"],
             "expected exactly 1 SYN retransmission (nft dropped 1 SYN)")
        need(c, H.names(c)[:3] == ["syn_sent", "syn_retransmit", "established"],
             "events %s" % H.names(c))
        # tcp_handshake includes the wait for the retransmission.
        H.check_phase(c, "tcp_handshake", "syn_sent", "established")
        check(c["pid"] == lost.pid and s["pid"] == lost_srv.pid, "owners", c, s)
        # The server never saw the lost SYN: one connection, no retransmission of its own.
        expect(s, "ok", present=("syn_received", "established", "accepted", "closed"),
               phases=("tcp_handshake", "accept_wait"))
        need(s, s["tcp"]["syn_retransmits"] == 0, "syn_retransmits on a server")
        check(len(H.by_port(v.recs, lost_srv.port)) == 2, "more than one connection",
              H.by_port(v.recs, lost_srv.port))
        check(v.text_line(c)["retx"] == "1", "text RETX")
        v.text_line(s)

    def backlog_full():
        c, s = v.ends(full_srv.port, extra.ports()[0])
        mirrored(c, s)
        n = c["tcp"]["syn_retransmits"]
        expect(c, "ok", present=("syn_sent", "syn_retransmit", "established"),
               phases=("tcp_handshake",))
        need(c, n >= 1 and H.names(c)[:n + 2] == ["syn_sent"] + ["syn_retransmit"] * n
             + ["established"], "events %s: the SYNs the full queue dropped are not "
             "retransmissions before established" % H.names(c))
        H.check_phase(c, "tcp_handshake", "syn_sent", "established")
        # The server shows the connection only from the SYN it answered: the dropped SYNs left
        # no trace on its side, and it waited in the accept queue.
        expect(s, "ok", present=("syn_received", "established", "accepted"),
               phases=("tcp_handshake", "accept_wait"))
        need(s, s["tcp"]["syn_retransmits"] == 0, "syn_retransmits on a server")
        check(s["pid"] == full_srv.pid and s["comm"] == "hs_f_full_srv", "server owner", s)
        H.check_phase(s, "accept_wait", "established", "accepted")
        # The filler sat in the queue too.
        fc, fs = v.ends(full_srv.port, filler.ports()[0])
        mirrored(fc, fs)
        expect(fc, "ok", absent=("syn_retransmit",))
        expect(fs, "ok", phases=("accept_wait",))
        check(v.text_line(c)["retx"] == str(n), "text RETX")
        check(v.text_line(s)["accept"] != "-", "text ACCEPT(ms)")

    sc.check("syn never answered (TCP_SYNCNT=1)", blackhole)
    sc.check("one SYN lost, then answered", one_syn_lost)
    sc.check("listen backlog full", backlog_full)
    sc.done()


# ---------------------------------------------------------------------------------------------
# 2. the TLS handshake refused by a peer

def test_failures_tls_refused():
    """Protocol version mismatch, expired certificate and host name mismatch (TLS 1.2 and
    1.3), no common key-exchange group (no HelloRetryRequest can help)."""
    import test_tls_alert as A  # its _check_rejected(): a client that rejects the certificate
    certs = T.make_certs()
    v = Views()
    # Every server listens before any client connects: a server that has done its one
    # accept frees its port, which the kernel may give to the next one, and the scenarios
    # are told apart by server port.
    srvs = {"version": T.SServer(certs, ["-tls1_3"], name="s_server tls1.3 only")}
    for ver in ("1.2", "1.3"):
        srvs["expired " + ver] = T.SServer(certs, ["-tls" + ver.replace(".", "_")],
                                           cert=certs.expired, key=certs.expired_key,
                                           name="s_server expired " + ver)
        srvs["hostname " + ver] = T.SServer(certs, ["-tls" + ver.replace(".", "_")],
                                            name="s_server name " + ver)
    # HelloRetryRequest, then a rejected certificate: the client's x25519 key share is not
    # accepted, its second ClientHello carries secp384r1, then it rejects the expired
    # certificate.
    srvs["hrr"] = T.SServer(certs, ["-tls1_3", "-groups", "secp384r1"], cert=certs.expired,
                            key=certs.expired_key, name="s_server secp384r1 expired")
    srvs["group"] = T.SServer(certs, ["-tls1_3", "-groups", "secp384r1"],
                              name="s_server secp384r1")
    runs = {}
    runs["version"] = (srvs["version"], T.s_client(srvs["version"].port, certs, ["-tls1_2"],
                                                   name="s_client tls1.2"))
    for ver in ("1.2", "1.3"):
        srv = srvs["expired " + ver]
        runs["expired " + ver] = (srv, T.s_client(srv.port, certs, name="s_client exp " + ver))
        srv = srvs["hostname " + ver]
        runs["hostname " + ver] = (srv, T.s_client(
            srv.port, certs, ["-verify_hostname", "wrong.example"], sni="wrong.example",
            name="s_client name " + ver))
    runs["hrr"] = (srvs["hrr"], T.s_client(srvs["hrr"].port, certs,
                                           ["-groups", "X25519:secp384r1"], name="s_client hrr"))
    runs["group"] = (srvs["group"], T.s_client(srvs["group"].port, certs, ["-groups", "X25519"],
                                               name="s_client x25519"))
    for srv, cl in runs.values():
        cl.wait_exit(30, expect=1)
        srv.wait_exit(15)
    v.stop()
    sc = Scenarios()

    def version_mismatch():
        srv, cl = runs["version"]
        check(peer_alert_number(cl) == 70, "s_client did not get protocol_version", cl.diag())
        c, s = v.ends(srv.port)
        mirrored(c, s)
        for r in (c, s):
            expect(r, "tls_alert", phases=("tcp_handshake",),
                   no_phases=("server_hello_rtt", "server_think", "tls_handshake"))
            expect_alert(r, "protocol_version", "server")
            need(r, "version" not in r["tls"] and r["tls"]["offered_versions"] == ["1.2"],
                 "tls.version / offered_versions")
            need(r, r["tls"]["handshake_done"] is False, "handshake_done")
            v.text_line(r)
        expect_tls_seq(c, [("client_hello", "out"), ("alert", "in")])
        expect_tls_seq(s, [("client_hello", "in"), ("alert", "out")])

    def rejected(name, version, number):
        srv, cl = runs[name]
        got = peer_alert_number(srv)
        check(got == number, "s_server got alert %d, expected %d" % (got, number), srv.diag())
        c, s = v.ends(srv.port)
        mirrored(c, s)
        A._check_rejected(c, s, version, T.ALERT_NAMES[number])
        # The library view (uprobes): the client's verification ran and failed.
        need(c, c["tls"].get("verify") == "failed" and "cert_verify" in c["phases_us"],
             "tls.verify %r / cert_verify phase" % c["tls"].get("verify"))
        need(s, "verify" not in s["tls"], "the server verified nothing")
        for r in (c, s):
            expect(r, "tls_alert")
            v.text_line(r)

    def hrr_then_rejected():
        srv, cl = runs["hrr"]
        check(peer_alert_number(srv) == 45, "s_server got another alert", srv.diag())
        c, s = v.ends(srv.port)
        mirrored(c, s)
        seq = [("client_hello", "out"), ("hello_retry_request", "in"), ("client_hello", "out"),
               ("server_hello", "in"), ("encrypted_handshake", "in"), ("alert", "out")]
        expect_tls_seq(c, seq)
        expect_tls_seq(s, T.mirror(seq))
        for r in (c, s):
            expect(r, "tls_alert", no_phases=("tls_handshake",))
            expect_alert(r, "certificate_expired", "client")
            need(r, r["tls"].get("group") == "secp384r1" and r["tls"].get("version") == "1.3",
                 "group/version")
            v.text_line(r)
        # server_hello_rtt / server_think end at the HelloRetryRequest, the first answer
        # (T.check_phases() in expect() checked their spans).
        need(c, "server_hello_rtt" in c["phases_us"], "no server_hello_rtt")
        need(s, "server_think" in s["phases_us"], "no server_think")

    def no_common_group():
        srv, cl = runs["group"]
        check(peer_alert_number(cl) == 40, "s_client did not get handshake_failure", cl.diag())
        c, s = v.ends(srv.port)
        mirrored(c, s)
        for r in (c, s):
            expect(r, "tls_alert", absent=("hello_retry_request", "server_hello"))
            expect_alert(r, "handshake_failure", "server")
            v.text_line(r)
        expect_tls_seq(c, [("client_hello", "out"), ("alert", "in")])
        expect_tls_seq(s, [("client_hello", "in"), ("alert", "out")])

    sc.check("protocol version mismatch", version_mismatch)
    sc.check("expired certificate, TLS 1.2", rejected, "expired 1.2", "1.2", 45)
    sc.check("expired certificate, TLS 1.3", rejected, "expired 1.3", "1.3", 45)
    sc.check("host name mismatch, TLS 1.2", rejected, "hostname 1.2", "1.2", 42)
    sc.check("host name mismatch, TLS 1.3", rejected, "hostname 1.3", "1.3", 42)
    sc.check("HelloRetryRequest, then an expired certificate", hrr_then_rejected)
    sc.check("no common group (no HelloRetryRequest possible)", no_common_group)
    sc.done()


# ---------------------------------------------------------------------------------------------
# 3. mutual TLS

def test_failures_mtls():
    """A server that requires a client certificate (s_server -Verify 1 -verify_return_error):
    the client sends none, or one signed by a CA the server does not trust; TLS 1.2 and 1.3.
    Also run with --no-uprobes: what the library view adds."""
    certs = T.make_certs()
    v = Views(kernel_only=True)
    verify = ["-Verify", "1", "-CAfile", certs.ca, "-verify_return_error"]
    client_cert = ["-cert", certs.client_other, "-key", certs.client_other_key]
    runs = {}
    cases = [(what, args, ver) for ver in ("1.2", "1.3")
             for what, args in (("none", []), ("rejected", client_cert))]
    # every server listens before any client connects (ports are not reused: see above)
    srvs = {(what, ver): T.SServer(certs, ["-tls" + ver.replace(".", "_")] + verify,
                                   name="s_server mtls %s" % ver) for what, _, ver in cases}
    for what, args, ver in cases:
        srv = srvs[(what, ver)]
        cl = T.s_client(srv.port, certs, args, name="s_client %s %s" % (what, ver))
        runs[(what, ver)] = (srv, cl)
    for srv, cl in runs.values():
        cl.wait_exit(30, expect=(0, 1))
        srv.wait_exit(15)
    v.stop()
    sc = Scenarios()

    def library_adds(r, verified):
        """What the uprobe view has over the kernel-only one: cert_verify on the end that
        verified a chain, and the same timeline otherwise."""
        k = v.kernel_view(r)
        T.checked(k)
        need(k, "verify" not in k.get("tls", {}) and "cert_verify" not in k["phases_us"]
             and "openssl" not in k["sources"], "the --no-uprobes record has library data")
        lib = [e for e in H.names(r) if e in H.LIB_EVENTS]
        if verified:
            need(r, lib == ["cert_verify_start", "cert_verify_done"]
                 and "cert_verify" in r["phases_us"], "library events %s" % lib)
        else:
            need(r, lib == [] and "verify" not in r["tls"], "library events %s" % lib)
        # The same events; in the same order within each direction (a stream's order). Two
        # hstraces time a packet each with its own program, a few µs apart, so two events of
        # opposite directions less than that apart (the client's first data and the server's
        # alert) may come in either order in the two views.
        same = [(e["event"], e.get("dir")) for e in r["events"]
                if e["event"] not in H.LIB_EVENTS]
        kern = [(e["event"], e.get("dir")) for e in k["events"]]
        need(k, sorted(kern, key=str) == sorted(same, key=str)
             and all([x for x in kern if x[1] == d] == [x for x in same if x[1] == d]
                     for d in ("out", "in", None))
             and k["result"] == r["result"] and k["tls"].get("alert") == r["tls"].get("alert"),
             "the kernel-only view differs from the uprobe view beyond the library's events",
             r)

    def tls12(what, number):
        srv, cl = runs[(what, "1.2")]
        check(peer_alert_number(cl) == number, "s_client got another alert", cl.diag())
        c, s = v.ends(srv.port)
        mirrored(c, s)
        desc = T.ALERT_NAMES[number]
        cert_msg = 3 if what == "none" else None  # an empty Certificate message is 3 bytes
        for r in (c, s):
            expect(r, "tls_alert", absent=("app_data",), no_phases=("tls_handshake",))
            expect_alert(r, desc, "server")
            need(r, r["tls"]["handshake_done"] is False, "handshake_done")
            # cert_chain is the server's chain (2 certificates), never the client's.
            need(r, r["tls"].get("cert_chain", {}).get("count") == 2,
                 "cert_chain %r is not the server's 2 certificates" % r["tls"].get("cert_chain"))
            v.text_line(r)
        need(c, c["tls"]["cert_chain"] == s["tls"]["cert_chain"], "cert_chain differs", s)
        flight = [("certificate", "out"), ("client_key_exchange", "out")]
        if what != "none":
            flight.append(("certificate_verify", "out"))
        flight.append(("finished", "out"))
        seq = [("client_hello", "out"), ("server_hello", "in"), ("certificate", "in"),
               ("server_key_exchange", "in"), ("certificate_request", "in"),
               ("server_hello_done", "in")] + flight + [("alert", "in")]
        expect_tls_seq(c, seq)
        expect_tls_seq(s, T.mirror(seq))
        got = T.tev(c, "certificate", "out")
        if cert_msg:
            need(c, got.get("len") == cert_msg, "empty client Certificate len %r" % got.get("len"))
        else:
            need(c, got.get("len", 0) > 3, "client Certificate len %r" % got.get("len"))
        library_adds(c, True)            # the client verified the server's chain
        library_adds(s, what != "none")  # the server verified the client's, when it got one
        if what != "none":
            need(s, s["tls"].get("verify") == "failed", "tls.verify %r" % s["tls"].get("verify"))

    def tls13_flight(what, number):
        # The client's flight: Certificate (empty, or the certificate), [CertificateVerify],
        # Finished; both ends must see it as one flight of that many records, and nothing of
        # it as application data.
        srv, cl = runs[(what, "1.3")]
        check(peer_alert_number(cl) == number, "s_client got another alert", cl.diag())
        c, s = v.ends(srv.port)
        mirrored(c, s)
        n = 2 if what == "none" else 3
        cf = T.tev(c, "encrypted_handshake", "out")
        sf = T.tev(s, "encrypted_handshake", "in")
        need(c, cf.get("records") == n, "the client's flight is %r records, expected %d"
             % (cf.get("records"), n))
        need(s, (sf.get("records"), sf.get("len")) == (cf.get("records"), cf.get("len")),
             "the server took %r records (%r bytes) for the client's flight of %r (%r bytes): "
             "the rest counted as application data" % (sf.get("records"), sf.get("len"),
                                                         cf.get("records"), cf.get("len")), c)
        need(s, s["tls"]["app_data"]["in"] == c["tls"]["app_data"]["out"],
             "app_data.in %s != the client's app_data.out %s"
             % (s["tls"]["app_data"]["in"], c["tls"]["app_data"]["out"]), c)
        library_adds(c, True)
        library_adds(s, what != "none")
        if what != "none":
            need(s, s["tls"].get("verify") == "failed", "tls.verify %r" % s["tls"].get("verify"))

    def tls13_alert(what, number):
        # The server's alert comes after its handshake keys are in use: an encrypted record of
        # an alert's size (19 bytes: 2 + the inner content type + the 16-byte tag), after the
        # client sent its whole flight and its request (a TLS 1.3 client is done once it has
        # sent its Finished). The server's only record after its flight is that alert: not
        # application data, and the connection failed; the description is encrypted.
        srv, cl = runs[(what, "1.3")]
        check(peer_alert_number(cl) == number, "s_client got another alert", cl.diag())
        c, s = v.ends(srv.port)
        mirrored(c, s)
        for r in (c, s):
            d = "out" if r["role"] == "server" else "in"
            need(r, r["tls"]["app_data"][d]["records"] == 0 and not T.tls_events(r, "app_data", d),
                 "the server's 19-byte encrypted alert was counted as application data")
            need(r, [e.get("len") for e in T.tls_events(r, "alert", d)] == [19],
                 "no alert %s event of 19 bytes" % d)
            expect(r, "tls_alert", no_phases=("ttfb", "response_time"))
            al = r["tls"].get("alert")
            need(r, al == {"level": None, "description": None, "dir": d},
                 "tls.alert %r, expected an encrypted alert (level and description null), "
                 "dir %s" % (al, d))
            check(v.text_line(r)["result"] == "tls_alert:encrypted", "text RESULT")

    sc.check("mTLS, no client certificate, TLS 1.2", tls12, "none", 40)
    sc.check("mTLS, rejected client certificate, TLS 1.2", tls12, "rejected", 48)
    sc.check("mTLS, no client certificate, TLS 1.3: the client's flight", tls13_flight,
             "none", 116)
    sc.check("mTLS, no client certificate, TLS 1.3: the server's alert", tls13_alert,
             "none", 116)
    sc.check("mTLS, rejected client certificate, TLS 1.3: the client's flight", tls13_flight,
             "rejected", 48)
    sc.check("mTLS, rejected client certificate, TLS 1.3: the server's alert", tls13_alert,
             "rejected", 48)
    sc.done()


# ---------------------------------------------------------------------------------------------
# 4. an end that goes away in the middle of the handshake, or never reads

def test_failures_handshake_aborted():
    """Server killed right after it read the ClientHello; client killed in the middle of the
    handshake; server closing (FIN) or resetting right after its ServerHello flight; a server
    that accepts but never reads, and one that never accepts."""
    certs = T.make_certs()
    v = Views()
    ca = ["--ca", str(certs.ca), "--sni", T.SNI]

    # Every server listens before any client connects: one that is done frees its port, which
    # the kernel may give to the next, and the scenarios are told apart by server port.
    killed_srv = T.plain_server(["--stall"], name="server to kill")
    srv13 = T.SServer(certs, ["-tls1_3"], name="s_server (client killed)")
    hang_srvs = {}
    for how, ver in (("close", "1.2"), ("reset", "1.2"), ("reset", "1.3")):
        hang_srvs[(how, ver)] = T.py_server(certs, ["--tls", ver, "--after-hello", how],
                                            name="server %s after hello %s" % (how, ver))
    noread_srv = T.py_server(certs, ["--no-read"], name="server never reads")
    noacc_srv = H.start_server(no_accept=True, comm="hs_f_noaccept", name="server never accepts")

    # Server killed after reading the ClientHello (a plain TCP server that reads once).
    killed_srv_cl = T.s_client(killed_srv.port, certs, ["-msg"], name="s_client (server killed)")

    # Client killed with the server's flight unread in its socket.
    killed_cl = T.py_client(srv13.port, ca + ["--stall-after-hello"], name="client to kill")

    # Server sends its first flight, then a FIN (TLS 1.2) / a RST (TLS 1.2 and 1.3).
    hang = {}
    for (how, ver), srv in hang_srvs.items():
        hang[(how, ver)] = (srv, T.s_client(srv.port, certs, ["-msg"],
                                            name="s_client (%s %s)" % (how, ver)))

    # Accepts but never reads / never accepts; the clients give up after 1 s.
    noread_cl = T.py_client(noread_srv.port, ca + ["--timeout", "1"], name="client (no read)")
    noacc_cl = T.py_client(noacc_srv.port, ca + ["--timeout", "1"], name="client (no accept)")

    killed_srv.wait_line(r"^read \d+ [1-9]\d*$")
    os.kill(killed_srv.pid, signal.SIGKILL)
    killed_cl.wait_line(r"^stalled$")
    lport = int(killed_cl.wait_line(r"^connected (\d+)$").group(1))
    end = time.monotonic() + 10
    while rx_queue(lport) == 0:  # the server's flight has arrived, unread
        check(time.monotonic() < end, "the server's flight never reached the client")
        time.sleep(0.01)
    os.kill(killed_cl.pid, signal.SIGKILL)

    killed_srv_cl.wait_exit(30, expect=1)
    killed_cl.wait_exit(10, expect=-signal.SIGKILL)
    srv13.terminate()
    for srv, cl in hang.values():
        cl.wait_exit(30, expect=(1, 104))  # 104: ECONNRESET on a write after the handshake
        srv.wait_exit(15)
    for cl in (noread_cl, noacc_cl):
        cl.wait_exit(15, expect=1)
        check(cl.lines("handshake_error timeout"), "%s did not time out" % cl.name, cl.diag())
    noread_srv.kill()  # closes the unread connection: a RST
    # The client that gave up on the server that never accepts closed its socket; the
    # server's socket, in pingpong mode, delays the ACK of that FIN (tens of ms, more on a busy
    # machine), and only then does the client's go to CLOSE: wait for it.
    noacc_lport = int(noacc_cl.wait_line(r"^connected (\d+)$").group(1))
    noacc_closed = wait_closed(noacc_lport)
    v.stop()
    sc = Scenarios()

    def server_killed():
        desc = sent_alert(killed_srv_cl)  # OpenSSL 3 answers an unexpected EOF with an alert
        c, s = v.ends(killed_srv.port)
        mirrored(c, s)
        check(s["pid"] == killed_srv.pid, "server owner", s)
        expect(c, "tls_alert", present=("fin_in",), absent=("server_hello",),
               no_phases=("tls_handshake",))
        expect_alert(c, desc, "client")
        expect_tls_seq(c, [("client_hello", "out"), ("alert", "out")])
        v.text_line(c)
        # The server's socket, orphaned by the kill, is gone as soon as the client has
        # acknowledged its FIN (a time-wait mini socket takes over, which hstrace does not
        # follow); the client's alert reaches it only when it comes before that. Both are
        # right; which one happened depends on the timing.
        if T.tls_events(s, "alert"):
            expect(s, "tls_alert", present=("fin_out",), no_phases=("tls_handshake",))
            expect_alert(s, desc, "client")
            expect_tls_seq(s, [("client_hello", "in"), ("alert", "in")])
        else:
            expect(s, "tls_failed", present=("fin_out",), no_phases=("tls_handshake",))
            expect_no_alert(s)
            expect_tls_seq(s, [("client_hello", "in")])
        v.text_line(s)
        # The FIN (the kernel closing the killed process's socket) came before the alert.
        need(c, H.t_us(c, "fin_in") <= T.tev(c, "alert", "out")["t_us"], "fin_in after alert")

    def client_killed():
        c, s = v.ends(srv13.port)
        mirrored(c, s)
        check(c["pid"] == killed_cl.pid, "client owner", c)
        expect(c, "tls_failed", present=("reset_out",), absent=("fin_out",),
               no_phases=("tls_handshake",))
        expect(s, "tls_failed", present=("reset_in",), no_phases=("tls_handshake",))
        for r in (c, s):
            expect_no_alert(r)
            need(r, r["tls"]["handshake_done"] is False, "handshake_done")
            v.text_line(r)
        seq = [("client_hello", "out"), ("server_hello", "in"), ("encrypted_handshake", "in")]
        expect_tls_seq(c, seq)
        expect_tls_seq(s, T.mirror(seq))
        # The client never read the flight: its records have no read time.
        for e in T.tls_events(c, dir="in"):
            need(c, "app_us" not in e, "%s has an app_us, but the client never read it"
                 % e["event"])
        need(s, s["tcp"].get("error") == "ECONNRESET", "server tcp.error %r"
             % s["tcp"].get("error"))

    def server_fin_after_hello():
        srv, cl = hang[("close", "1.2")]
        # The client answers the EOF (no server Finished) with an alert; it has already sent
        # its ChangeCipherSpec, so the alert is encrypted: 2 bytes + 8 (explicit nonce) + 16
        # (tag) with the AES-GCM suite, its description unknown on the wire.
        sent_alert(cl)
        c, s = v.ends(srv.port)
        mirrored(c, s)
        seq = [("client_hello", "out"), ("server_hello", "in"), ("certificate", "in"),
               ("server_key_exchange", "in"), ("server_hello_done", "in"),
               ("client_key_exchange", "out"), ("finished", "out"), ("alert", "out")]
        expect_tls_seq(c, seq)
        expect_tls_seq(s, T.mirror(seq))
        expect(c, "tls_alert", present=("fin_in",), absent=("reset_in",),
               no_phases=("tls_handshake",))
        expect(s, "tls_alert", present=("fin_out",), absent=("reset_out",))
        for r in (c, s):
            d = "out" if r["role"] == "client" else "in"
            al = r["tls"].get("alert")
            need(r, al == {"level": None, "description": None, "dir": d},
                 "tls.alert %r, expected an encrypted alert, dir %s" % (al, d))
            need(r, T.tev(r, "alert", d).get("len") == 26, "alert record len")
            need(r, r["tls"]["handshake_done"] is False, "handshake_done")
            check(v.text_line(r)["result"] == "tls_alert:encrypted", "text RESULT")

    def server_rst_after_hello(ver):
        # The RST follows the flight at once, but the client may still have answered it
        # (TLS 1.2: ClientKeyExchange ... Finished; TLS 1.3: its Finished flight, then its
        # request) if it ran before the RST came: whatever it wrote after the RST never left.
        srv, cl = hang[("reset", ver)]
        c, s = v.ends(srv.port)
        mirrored(c, s)
        if ver == "1.2":
            flight = [("server_hello", "in"), ("certificate", "in"), ("server_key_exchange", "in"),
                      ("server_hello_done", "in")]
            answer = [("client_key_exchange", "out"), ("finished", "out")]
        else:
            flight = [("server_hello", "in"), ("encrypted_handshake", "in")]
            answer = [("encrypted_handshake", "out"), ("app_data", "out")]
        head = [("client_hello", "out")] + flight
        cseq = [x for x in T.tls_seq(c) if x[0] != "change_cipher_spec"]
        sseq = [x for x in T.tls_seq(s) if x[0] != "change_cipher_spec"]
        need(c, cseq[:len(head)] == head and cseq[len(head):] == answer[:len(cseq) - len(head)],
             "TLS events %s, expected %s then a prefix of %s" % (cseq, head, answer))
        need(s, T.mirror(sseq) == cseq[:len(sseq)] and len(sseq) >= len(head),
             "TLS events %s: not the mirror of the client's %s (or a prefix of it)"
             % (sseq, cseq))
        for r, seq in ((c, cseq), (s, T.mirror(sseq))):
            # A TLS 1.3 end whose view has the client's Finished flight considers the handshake
            # done: then the RST is what ended the connection.
            done = ver == "1.3" and ("encrypted_handshake", "out") in seq
            need(r, r["tls"]["handshake_done"] is done, "handshake_done, expected %s" % done)
            expect(r, "reset" if done else "tls_failed",
                   present=("reset_in" if r is c else "reset_out",))
            expect_no_alert(r)
            v.text_line(r)
        need(c, c["tcp"].get("error") == "ECONNRESET", "client tcp.error %r"
             % c["tcp"].get("error"))

    def never_reads():
        c, s = v.ends(noread_srv.port)
        mirrored(c, s)
        check(s["pid"] == noread_srv.pid, "server owner", s)
        # accept() returned (accept_wait), but the ClientHello was never read (no app_us, no
        # hello_read_wait); the client gave up (FIN), the server's close found it unread (RST).
        expect(s, "tls_failed", present=("accepted", "fin_in", "reset_out"),
               phases=("accept_wait",), no_phases=("hello_read_wait", "server_think"))
        need(s, "app_us" not in T.tev(s, "client_hello", "in"), "the ClientHello has an app_us")
        expect(c, "tls_failed", present=("fin_out",), no_phases=("server_hello_rtt",))
        expect_tls_seq(c, [("client_hello", "out")])
        expect_tls_seq(s, [("client_hello", "in")])
        for r in (c, s):
            expect_no_alert(r)
            line = v.text_line(r)
        check(line["accept"] != "-", "server text ACCEPT(ms) is -", line)

    def never_accepted():
        c, s = v.ends(noacc_srv.port)
        mirrored(c, s)
        # Never accepted: no owner, no accepted event, no accept_wait; still open in the
        # accept queue when hstrace stopped.
        expect(s, "incomplete", present=("established", "fin_in"), absent=("accepted",),
               no_phases=("accept_wait", "hello_read_wait"))
        need(s, s["pid"] is None and s["comm"] is None, "owner of a never-accepted connection")
        need(s, "app_us" not in T.tev(s, "client_hello", "in"), "the ClientHello has an app_us")
        expect(c, "tls_failed" if noacc_closed else "incomplete", present=("fin_out",))
        line = v.text_line(s)
        check(line["accept"] == "-" and line["pid"] == "-", "server text line", line)
        v.text_line(c)

    sc.check("server killed after reading the ClientHello", server_killed)
    sc.check("client killed mid-handshake", client_killed)
    sc.check("server closes (FIN) after its ServerHello flight, TLS 1.2", server_fin_after_hello)
    sc.check("server resets after its ServerHello flight, TLS 1.2", server_rst_after_hello, "1.2")
    sc.check("server resets after its ServerHello flight, TLS 1.3", server_rst_after_hello, "1.3")
    sc.check("server accepts but never reads", never_reads)
    sc.check("server never accepts", never_accepted)
    sc.done()


# ---------------------------------------------------------------------------------------------
# 5. a peer that goes silent after the handshake

def test_failures_silent_peer():
    """After a TLS 1.2 handshake the network drops everything between the two ends: the
    client's TCP keepalive (1 s idle, 1 s interval, 2 probes) ends the connection; or its
    request is never acknowledged and TCP_USER_TIMEOUT (1 s) ends it. Both with ETIMEDOUT."""
    certs = T.make_certs()
    nft = Nft()
    v = Views()
    base = ["--ca", str(certs.ca), "--sni", T.SNI, "--tls", "1.2"]
    ka_srv = T.py_server(certs, ["--tls", "1.2"], name="server (keepalive)")
    ka_cl = T.py_client(ka_srv.port, base + ["--keepalive", "1,1,2"], name="client keepalive")
    ut_srv = T.py_server(certs, ["--tls", "1.2"], name="server (user timeout)")
    ut_cl = T.py_client(ut_srv.port, base + ["--user-timeout", "1000", "--send-delay", "0.3",
                                             "--send", GET], name="client user timeout")
    ka_cl.wait_line(r"^handshake ")
    nft.drop_port(ka_srv.port, "keepalive")
    ut_cl.wait_line(r"^handshake ")
    nft.drop_port(ut_srv.port, "usertimeout")
    for cl in (ka_cl, ut_cl):
        cl.wait_exit(15, expect=1)
        check(cl.lines("conn_error ETIMEDOUT"), "%s: no ETIMEDOUT" % cl.name, cl.diag())
    v.stop()
    sc = Scenarios()

    def silent(srv, request):
        c, s = v.ends(srv.port)
        mirrored(c, s)
        # The handshake completed; then the kernel gave up on the silent peer.
        expect(c, "timeout", absent=("fin_in", "reset_in"),
               phases=("tls_handshake",), no_phases=("ttfb", "total"))
        need(c, not T.tls_events(c, "app_data", "in"), "no answer arrived")
        need(c, c["tls"]["handshake_done"] is True, "handshake_done")
        need(c, c["tcp"].get("error") == "ETIMEDOUT", "tcp.error %r" % c["tcp"].get("error"))
        need(c, bool(T.tls_events(c, "app_data", "out")) == request,
             "app_data out %s, expected %s" % (T.tls_events(c, "app_data", "out"), request))
        expect_no_alert(c)
        v.text_line(c)
        # The server heard nothing more: still open when hstrace stopped.
        expect(s, "incomplete", absent=("app_data", "fin_in", "reset_in"))
        need(s, s["tls"]["handshake_done"] is True, "handshake_done")
        v.text_line(s)

    sc.check("silent peer, keepalive ends it", silent, ka_srv, False)
    sc.check("silent peer, TCP_USER_TIMEOUT ends it", silent, ut_srv, True)
    sc.done()
