# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""harness.py - shared helpers for hstrace integration tests.

Tests run the real build/hstrace as root and drive real peers (tools/tcp_peer.py) on loopback.
Every process, temporary directory and mount change made through this module is registered
for cleanup_all(), which tests/run.py calls after each test whether it passed or not.
"""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HSTRACE = REPO / "build" / "hstrace"
PEER = REPO / "tools" / "tcp_peer.py"
PYTHON = "/usr/bin/python3"

SCHEMA = "hstrace/2"
CLIENT_EVENTS = {"syn_sent", "syn_retransmit", "established", "fin_out", "fin_in", "reset_in",
                 "reset_out", "closed"}
SERVER_EVENTS = {"syn_received", "established", "accepted", "fin_out", "fin_in", "reset_in",
                 "reset_out", "closed"}
# TLS events (docs/json.md): both roles, always with a direction.
TLS_EVENTS = {"client_hello", "server_hello", "hello_retry_request", "certificate",
              "server_key_exchange", "certificate_request", "server_hello_done",
              "client_key_exchange", "certificate_verify", "change_cipher_spec", "finished",
              "encrypted_handshake", "new_session_ticket", "alert", "app_data"}
# TLS library events (OpenSSL uprobes, docs/openssl.md): no direction.
LIB_EVENTS = {"handshake_start", "handshake_done", "cert_verify_start", "cert_verify_done"}
CLIENT_EVENTS |= TLS_EVENTS | LIB_EVENTS
SERVER_EVENTS |= TLS_EVENTS | LIB_EVENTS
RESULTS = {"ok", "refused", "timeout", "reset", "closed", "incomplete", "tls_alert",
           "tls_failed"}
# Direction an event must have when it carries one.
EVENT_DIR = {"syn_sent": "out", "syn_retransmit": "out", "fin_out": "out", "fin_in": "in",
             "reset_in": "in", "reset_out": "out"}

_T0 = time.monotonic()
_cleanups = []


# ---------------------------------------------------------------------------------------------
# logging, cleanup, assertions

def log(msg):
    print("[%7.3f] %s" % (time.monotonic() - _T0, msg), flush=True)


def add_cleanup(fn, what=""):
    """Registers fn() to run (last registered first) at cleanup_all()."""
    _cleanups.append((fn, what))


def cleanup_all():
    """Runs every registered cleanup, newest first; logs (never raises) their errors."""
    while _cleanups:
        fn, what = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # cleanup must go on
            log("cleanup %s failed: %r" % (what, e))


def make_tmpdir():
    d = tempfile.mkdtemp(prefix="hstrace-test-")
    add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True), "rmtree " + d)
    return Path(d)


def dump(obj):
    return json.dumps(obj, indent=1, sort_keys=True)


def check(cond, msg, *context):
    """Raises AssertionError(msg) with each context item (records, text) appended."""
    if cond:
        return
    parts = [msg]
    for c in context:
        parts.append(c if isinstance(c, str) else dump(c))
    raise AssertionError("\n".join(parts))


def settle(sec=0.6):
    """Waits for hstrace's close grace period (~50 ms) and ring-buffer polling."""
    time.sleep(sec)


# ---------------------------------------------------------------------------------------------
# hstrace

def hstrace_path():
    check(HSTRACE.is_file() and os.access(HSTRACE, os.X_OK),
          "%s not found or not executable: build it with `make`" % HSTRACE)
    return HSTRACE


def require_root():
    check(os.geteuid() == 0, "integration tests need root (they load BPF programs)")


def _kill_proc(proc, name):
    if proc.poll() is None:
        log("killing %s (pid %d)" % (name, proc.pid))
        proc.kill()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            log("%s (pid %d) did not die" % (name, proc.pid))


class Hstrace:
    """One running build/hstrace; stdout and stderr go to files in a temporary directory."""

    def __init__(self, args, prefix=(), env=None):
        require_root()
        self.args = list(args)
        self.dir = make_tmpdir()
        self.out_path = self.dir / "stdout"
        self.err_path = self.dir / "stderr"
        self.cmd = [*prefix, str(hstrace_path()), *self.args]
        log("$ " + " ".join(self.cmd))
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, cwd=REPO, env=env)
        self.pid = self.proc.pid
        self.t_start = time.monotonic()
        self.t_tracing = None
        self.rc = None
        add_cleanup(lambda: _kill_proc(self.proc, "hstrace"), "hstrace")

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")

    def wait_tracing(self, timeout=30.0):
        """Waits for a stderr line starting with "Tracing"; fails if hstrace exits first."""
        end = time.monotonic() + timeout
        while True:
            if any(l.startswith("Tracing") for l in self.stderr().splitlines()):
                self.t_tracing = time.monotonic()
                log("hstrace ready after %.2fs" % (self.t_tracing - self.t_start))
                return
            rc = self.proc.poll()
            if rc is not None:
                self.rc = rc
                raise AssertionError("hstrace exited with status %d before printing "
                                     "'Tracing'; stderr:\n%s" % (rc, self.stderr()))
            if time.monotonic() > end:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("hstrace printed no 'Tracing' line within %gs; "
                                     "stderr:\n%s" % (timeout, self.stderr()))
            time.sleep(0.05)

    def wait_exit(self, timeout):
        """Waits for hstrace to exit by itself; returns its status (fails on timeout)."""
        try:
            self.rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("hstrace did not exit within %gs; stderr:\n%s"
                                 % (timeout, self.stderr()))
        log("hstrace exited with status %d; stderr:\n%s" % (self.rc, self.stderr().rstrip()))
        return self.rc

    def stop(self, sig=signal.SIGINT, timeout=20.0):
        """Sends sig (SIGINT) and waits for the exit; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def summary(self):
        """Returns {"connections": N, "events": N, "lost": N, "unmatched": N, "dropped": N}
        from the "Summary:" stderr line (fails when missing)."""
        lines = [l for l in self.stderr().splitlines() if l.startswith("Summary:")]
        check(len(lines) == 1, "expected exactly one 'Summary:' line on stderr",
              self.stderr())
        res = {}
        for key in ("connections", "events", "lost", "unmatched", "dropped"):
            m = re.search(r"\b%s=(\d+)\b" % key, lines[0])
            check(m, "Summary line lacks %s=N: %r" % (key, lines[0]))
            res[key] = int(m.group(1))
        return res

    def records(self, path=None):
        """Parses NDJSON from stdout (or path): every non-empty line must be a JSON object."""
        text = Path(path).read_text() if path else self.stdout()
        recs = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise AssertionError("line %d of %s is not JSON (%s): %r"
                                     % (i, path or "stdout", e, line))
            check(isinstance(obj, dict), "line %d is not a JSON object: %r" % (i, line))
            recs.append(obj)
        return recs

    def stop_ok(self, sig=signal.SIGINT, path=None):
        """Stops hstrace; checks status 0 and the Summary line; returns the records."""
        rc = self.stop(sig)
        check(rc == 0, "hstrace exit status %d after %s, expected 0" % (rc, sig.name),
              self.stderr())
        summ = self.summary()
        recs = self.records(path) if "--json" in self.args else []
        check(summ["connections"] >= len(recs),
              "Summary connections=%d but %d records were written"
              % (summ["connections"], len(recs)))
        check(summ["dropped"] == 0, "Summary dropped=%d: records not applied" % summ["dropped"],
              self.stderr())
        log("%d records, summary %s" % (len(recs), summ))
        return recs


def start_hstrace(args, prefix=(), env=None, timeout=30.0):
    """Starts build/hstrace with args and waits for its "Tracing" line."""
    hs = Hstrace(args, prefix=prefix, env=env)
    hs.wait_tracing(timeout)
    return hs


def run_hstrace(args, prefix=(), timeout=20.0):
    """Runs build/hstrace to completion; returns the CompletedProcess (text)."""
    cmd = [*prefix, str(hstrace_path()), *args]
    log("$ " + " ".join(cmd))
    try:
        cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s did not exit within %gs; stderr:\n%s"
                             % (" ".join(cmd), timeout, e.stderr))
    log("status %d\nstdout:\n%s\nstderr:\n%s" % (cp.returncode, cp.stdout, cp.stderr))
    return cp


# ---------------------------------------------------------------------------------------------
# peers (tools/tcp_peer.py, one process each)

class Peer:
    """A tcp_peer.py process; its stdout lines are collected by a thread."""

    def __init__(self, name, argv, stdin_pipe=False):
        self.name = name
        self.dir = make_tmpdir()
        self.err_path = self.dir / "stderr"
        self.cmd = [PYTHON, str(PEER), *argv]
        log("%s: $ %s" % (name, " ".join(self.cmd)))
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                self.cmd, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1, cwd=REPO)
        self.pid = self.proc.pid
        self._lines = []
        self._eof = False
        self._cv = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()
        add_cleanup(lambda: _kill_proc(self.proc, name), name)

    def _reader(self):
        for line in self.proc.stdout:
            with self._cv:
                self._lines.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def output(self):
        with self._cv:
            return "\n".join(self._lines)

    def diag(self):
        return "%s (pid %d) stdout:\n%s\nstderr:\n%s" % (
            self.name, self.pid, self.output(), self.err_path.read_text(errors="replace"))

    def lines(self, prefix=""):
        with self._cv:
            return [l for l in self._lines if l.startswith(prefix)]

    def wait_line(self, prefix, timeout=10.0, n=1):
        """Returns the n-th stdout line starting with prefix, waiting up to timeout."""
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                found = [l for l in self._lines if l.startswith(prefix)]
                if len(found) >= n:
                    return found[n - 1]
                left = end - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._cv.wait(min(left, 0.2))
        raise AssertionError("%s: no line %r (#%d) within %gs\n%s"
                             % (self.name, prefix, n, timeout, self.diag()))

    def release(self):
        """Lets a client started with wait=True begin."""
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        self.proc.stdin.close()

    def wait_exit(self, timeout=30.0, expect=0):
        """Waits for the peer to exit; checks its status when expect is not None."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %gs\n%s"
                                 % (self.name, timeout, self.diag()))
        with self._cv:  # let the reader drain the pipe
            self._cv.wait_for(lambda: self._eof, 5)
        check(expect is None or rc == expect,
              "%s exited with %d, expected %s\n%s" % (self.name, rc, expect, self.diag()))
        return rc

    def kill(self):
        _kill_proc(self.proc, self.name)

    def ports(self, prefix="connected "):
        """Ports from lines like "connected <port>" (client) or "closed <port>"."""
        return [int(l.split()[1]) for l in self.lines(prefix)]


def start_server(addr="127.0.0.1", port=0, count=1, accept_delay=0.0, reply=0, backlog=None,
                 no_accept=False, comm=None, name="server", accept_no_addr=False):
    """Starts a tcp_peer server and waits until it listens; .port is its port."""
    argv = ["server", "--addr", addr, "--port", str(port), "--count", str(count)]
    if accept_delay:
        argv += ["--accept-delay", str(accept_delay)]
    if reply:
        argv += ["--reply", str(reply)]
    if backlog is not None:
        argv += ["--backlog", str(backlog)]
    if no_accept:
        argv += ["--no-accept"]
    if accept_no_addr:
        argv += ["--accept-no-addr"]
    if comm:
        argv += ["--comm", comm]
    p = Peer(name, argv)
    p.port = int(p.wait_line("listening ").split()[1])
    p.addr = addr
    return p


def start_client(port, addr="127.0.0.1", count=1, send=0, hold=0.0, linger0=False,
                 no_read=False, connect_timeout=0.0, syncnt=0, interval=0.0, wait=False,
                 comm=None, name="client", payload_hex=None):
    """Starts a tcp_peer client; returns once it printed its pid (with wait=True it then
    blocks until .release())."""
    argv = ["client", "--addr", addr, "--port", str(port), "--count", str(count)]
    if send:
        argv += ["--send", str(send)]
    if hold:
        argv += ["--hold", str(hold)]
    if linger0:
        argv += ["--linger0"]
    if no_read:
        argv += ["--no-read"]
    if connect_timeout:
        argv += ["--connect-timeout", str(connect_timeout)]
    if syncnt:
        argv += ["--syncnt", str(syncnt)]
    if interval:
        argv += ["--interval", str(interval)]
    if wait:
        argv += ["--wait"]
    if comm:
        argv += ["--comm", comm]
    if payload_hex:
        argv += ["--payload-hex", payload_hex]
    p = Peer(name, argv, stdin_pipe=wait)
    line = p.wait_line("pid ")
    check(int(line.split()[1]) == p.pid, "%s printed %r but its pid is %d" % (name, line, p.pid))
    return p


def traced_tcp_pair(hs, comm):
    """One plain TCP connection with data both ways (tcp_peer, comm prefix `comm`) while hs
    runs with --json --all; stops hs and checks both ends' records (owner, ok). Returns
    (client record, server record)."""
    srv = start_server(count=1, reply=4, comm=comm + "s")
    cl = start_client(srv.port, send=4, comm=comm + "c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    settle()
    recs = hs.stop_ok()
    c = one(recs, "client", role="client", lport=cl.ports()[0], rport=srv.port)
    s = one(recs, "server", role="server", lport=srv.port, rport=cl.ports()[0])
    for r, p in ((c, cl), (s, srv)):
        check_record(r)
        check(r["pid"] == p.pid and r["result"] == "ok", "%s record" % r["role"], r)
    return c, s


def free_port(family="4"):
    """Returns (port, socket): a loopback port bound but not listening, so a connect to it is
    refused while the socket is held. The socket is closed at cleanup."""
    import socket
    fam, addr = (socket.AF_INET, "127.0.0.1") if family == "4" else (socket.AF_INET6, "::1")
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((addr, 0))
    add_cleanup(s.close, "close bound socket")
    return s.getsockname()[1], s


# ---------------------------------------------------------------------------------------------
# records

def select(recs, role=None, pid=None, lport=None, rport=None, ip_version=None):
    """Records matching every given criterion (local port lport, peer port rport)."""
    out = []
    for r in recs:
        if role is not None and r.get("role") != role:
            continue
        if pid is not None and r.get("pid") != pid:
            continue
        if lport is not None and (r.get("local") or {}).get("port") != lport:
            continue
        if rport is not None and (r.get("peer") or {}).get("port") != rport:
            continue
        if ip_version is not None and r.get("ip_version") != ip_version:
            continue
        out.append(r)
    return out


def by_port(recs, port):
    """Records whose local or peer port is port."""
    return [r for r in recs
            if (r.get("local") or {}).get("port") == port or (r.get("peer") or {}).get("port") == port]


def one(recs, what, all_recs=None, **crit):
    """The single record of recs matching crit; fails with the candidates otherwise."""
    got = select(recs, **crit)
    check(len(got) == 1, "expected exactly 1 %s record (%s), got %d" % (what, crit, len(got)),
          "matching: " + dump(got) if got else "all records: " + dump(all_recs or recs))
    return got[0]


def names(rec):
    return [e.get("event") for e in rec.get("events", [])]


def event(rec, name):
    """The first event called name, or None."""
    for e in rec.get("events", []):
        if e.get("event") == name:
            return e
    return None


def t_us(rec, name):
    e = event(rec, name)
    check(e is not None, "record has no %s event" % name, rec)
    return e["t_us"]


def parse_start(s):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})(Z|\+00:00)", s or "")
    check(m, "start %r is not RFC3339 UTC with microseconds" % s)
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc)


def check_record(rec, wall_from=None, wall_to=None):
    """Validates one hstrace/2 record's shape and internal consistency; with wall_from/
    wall_to (time.time() values) also that "start" lies in that window (±2 s)."""
    def need(cond, msg):
        check(cond, "record: " + msg, rec)

    need(rec.get("schema") == SCHEMA, "schema is not %r" % SCHEMA)
    start = parse_start(rec.get("start"))
    if wall_from is not None:
        ts = start.timestamp()
        need(wall_from - 2 <= ts <= (wall_to or time.time()) + 2,
             "start %s is outside the test's run" % rec.get("start"))
    role = rec.get("role")
    need(role in ("client", "server"), "role %r" % role)
    need(rec.get("pid") is None or (isinstance(rec["pid"], int) and rec["pid"] > 0),
         "pid must be a positive int or null")
    # An owner that is unknown (a server connection never accepted) has pid and comm null.
    need(isinstance(rec.get("comm"), str) or (rec.get("pid") is None and rec.get("comm") is None),
         "comm must be a string, or null with pid null")
    for side in ("local", "peer"):
        ep = rec.get(side)
        need(isinstance(ep, dict) and isinstance(ep.get("addr"), str)
             and isinstance(ep.get("port"), int) and 0 <= ep["port"] <= 65535,
             "%s must be {addr: str, port: 0..65535}" % side)
    need(rec.get("ip_version") in (4, 6), "ip_version must be 4 or 6")
    need(rec.get("result") in RESULTS, "result %r" % rec.get("result"))
    evs = rec.get("events")
    need(isinstance(evs, list) and evs, "events must be a non-empty list")
    allowed = CLIENT_EVENTS if role == "client" else SERVER_EVENTS
    last = None
    for e in evs:
        need(isinstance(e, dict) and isinstance(e.get("t_us"), int) and e["t_us"] >= 0,
             "event without integer t_us >= 0: %r" % (e,))
        need(e.get("event") in allowed, "unknown %s event %r" % (role, e.get("event")))
        if "dir" in e:
            need(e["dir"] in ("in", "out"), "dir %r" % e["dir"])
            if e["event"] in EVENT_DIR:
                need(e["dir"] == EVENT_DIR[e["event"]],
                     "%s has dir %r" % (e["event"], e["dir"]))
        if "len" in e:
            need(isinstance(e["len"], int) and e["len"] >= 0, "len %r" % e["len"])
        if "derived" in e:
            need(isinstance(e["derived"], bool), "derived must be a bool")
        if e["event"] in TLS_EVENTS:
            need(e.get("dir") in ("in", "out"), "TLS event %s without a dir" % e["event"])
            need("tls" in rec, "TLS event %s but no tls object" % e["event"])
        if e["event"] in LIB_EVENTS:
            need("dir" not in e, "library event %s with a dir" % e["event"])
            need("openssl" in rec.get("sources", []), "library event %s but no openssl source"
                 % e["event"])
        if "records" in e:
            need(isinstance(e["records"], int) and e["records"] > 0, "records %r" % e["records"])
        if "estimated" in e:
            need(e["estimated"] is True, "estimated must be true when present")
        need(last is None or e["t_us"] >= last, "events not sorted by t_us")
        last = e["t_us"]
    ph = rec.get("phases_us")
    need(isinstance(ph, dict) and all(isinstance(v, int) and v >= 0 for v in ph.values()),
         "phases_us must map names to ints >= 0")
    # "phases": each phase of phases_us with its start and end at its events' times.
    spans = rec.get("phases")
    need(isinstance(spans, list), "phases must be a list")
    need(sorted(p.get("name") for p in spans) == sorted(ph),
         "phases and phases_us name different phases")
    for p in spans:
        need(isinstance(p.get("start_us"), int) and isinstance(p.get("end_us"), int)
             and p["end_us"] >= p["start_us"], "phase %r: bad start/end" % (p,))
        need(abs((p["end_us"] - p["start_us"]) - ph[p["name"]]) <= 1,
             "phase %s: end - start != phases_us" % p["name"])
        if p.get("estimated"):
            need(p["estimated"] is True and "from" not in p, "estimated phase %r" % (p,))
            continue
        for end, key in (("from", "start_us"), ("to", "end_us")):
            i, at = p.get(end), p.get(end + "_at")
            need(isinstance(i, int) and 0 <= i < len(evs) and at in ("wire", "app"),
                 "phase %s: bad %s" % (p["name"], end))
            t = evs[i].get("t_us" if at == "wire" else "app_us")
            need(t == p[key], "phase %s: %s is not %s's %s time" % (p["name"], key,
                                                                      evs[i]["event"], at))
    tcp = rec.get("tcp")
    need(isinstance(tcp, dict), "tcp must be an object")
    for k in ("syn_retransmits", "srtt_us", "bytes_sent", "bytes_received"):
        need(isinstance(tcp.get(k), int) and tcp[k] >= 0, "tcp.%s must be an int >= 0" % k)
    need("cookie" in rec and rec["cookie"] not in (None, 0, ""), "cookie missing")
    # Closed connections end with "closed"; incomplete ones have none.
    if rec["result"] == "incomplete":
        need("closed" not in names(rec), "incomplete record has a closed event")
    else:
        need(names(rec)[-1] == "closed", "last event of a finished connection is not closed")
    return rec


def check_phase(rec, phase, ev_from, ev_to):
    """phases_us[phase] exists and equals t(ev_to) - t(ev_from) (±1 µs of rounding)."""
    ph = rec["phases_us"]
    check(phase in ph, "phase %s missing" % phase, rec)
    span = t_us(rec, ev_to) - t_us(rec, ev_from)
    check(abs(ph[phase] - span) <= 1,
          "phase %s = %d µs but %s -> %s spans %d µs" % (phase, ph[phase], ev_from, ev_to, span),
          rec)
    spans = [p for p in rec["phases"] if p["name"] == phase]
    check(spans and not spans[0].get("estimated")
          and rec["events"][spans[0]["from"]]["event"] == ev_from
          and rec["events"][spans[0]["to"]]["event"] == ev_to,
          "phase %s does not run from %s to %s" % (phase, ev_from, ev_to), rec)
    return ph[phase]


# ---------------------------------------------------------------------------------------------
# mounts

def mounts_of_type(fstype):
    """Mount points (from /proc/self/mountinfo) whose filesystem type is fstype."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[0] == fstype:
                out.append(pre.split()[4].replace("\\040", " "))
    return out


def umount(path):
    """Unmounts path; retries when busy and falls back to a lazy unmount."""
    for _ in range(5):
        cp = subprocess.run(["umount", path], capture_output=True, text=True)
        if cp.returncode == 0:
            return
        log("umount %s: %s" % (path, cp.stderr.strip()))
        time.sleep(0.2)
    cp = subprocess.run(["umount", "-l", path], capture_output=True, text=True)
    check(cp.returncode == 0, "umount -l %s failed: %s" % (path, cp.stderr))
