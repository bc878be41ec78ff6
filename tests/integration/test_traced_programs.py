# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The traced programs never suffer (issue #12, part 3; docs/openssl.md, "Traced programs").

Real programs run under the real build/hstrace (uprobes attached as hstrace decides), and each
test checks two things: the program behaves exactly as it would untraced (exit status, the
bytes it prints, no crash signal, no seccomp kill), and hstrace still reports its connections
sensibly. Programs: a Go crypto/tls client and server (built here with Debian's Go, standard
library only, also linking OpenSSL statically through cgo), a C executable with OpenSSL linked
in statically, an OpenSSL client under a strict seccomp filter (tools/seccomp_tls_client.c),
clients that die inside SSL_do_handshake() (SIGKILL, and _exit() from another thread), a
client that dlclose()s libssl and loads it again (tools/traced_dlopen_client.c), and a
private libssl replaced on disk by rename, as a package upgrade does.

The peers give fixed answers (nginx, the Go server), so "unchanged" is checked against the
exact bytes the programs must print.
"""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

import harness as H
import tls_peers as T
from harness import check

BUILD = H.REPO / "build"
TLS_CLIENT = BUILD / "traced_tls_client"
TLS_STATIC = BUILD / "traced_tls_static"
SECCOMP_CLIENT = BUILD / "seccomp_tls_client"
DLOPEN_CLIENT = BUILD / "traced_dlopen_client"
GO_SRC = H.REPO / "tools" / "traced_go_tls.go"

NGINX_BODY = "hello from nginx\n"
GO_BODY = "hello from go crypto/tls\n"
DF_1_NODELETE = 0x8
DT_FLAGS_1 = 0x6ffffffb


def body_line(text):
    """The line a helper prints for an answer body: "body <len> <hex>"."""
    b = text.encode()
    return "body %d %s" % (len(b), b.hex())


def tool(path):
    check(path.is_file() and os.access(path, os.X_OK),
          "%s not found: build it with `make` (tools section)" % path)
    return path


class Prog(T.Proc):
    """A T.Proc whose stdin stays open, for programs that wait for a line ("go") from the
    test before each step."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.dir = H.make_tmpdir()
        self.out_path = self.dir / "stdout"
        self.err_path = self.dir / "stderr"
        self.argv = [str(a) for a in argv]
        self.rc = None
        H.log("%s: $ %s%s" % (name, "".join("%s=%s " % kv for kv in (env or {}).items()),
                              " ".join(self.argv)))
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=out,
                                         stderr=err, cwd=str(self.dir),
                                         env=dict(os.environ, **(env or {})))
        self.pid = self.proc.pid
        H.add_cleanup(self.kill, name)

    def go(self):
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def count(self, pattern):
        return len(re.findall(pattern, self.stdout(), re.M))

    def wait_count(self, pattern, n, timeout=15.0):
        """Waits until stdout has n matches of pattern (fails when the program exits first)."""
        end = time.monotonic() + timeout
        while self.count(pattern) < n:
            check(self.proc.poll() is None and time.monotonic() < end,
                  "%s: fewer than %d lines matching %r" % (self.name, n, pattern), self.diag())
            time.sleep(0.02)


def wait_stderr(hs, pattern, n=1, timeout=10.0):
    """Waits until hstrace's stderr has n matches of regex pattern; returns them. hstrace
    scans a new process 5 ms, 50 ms and 1 s after its exec (user/ssl_probes.c): 10 s is only
    an upper bound for a loaded machine."""
    end = time.monotonic() + timeout
    while True:
        found = re.findall(pattern, hs.stderr(), re.M)
        if len(found) >= n:
            return found
        check(hs.proc.poll() is None, "hstrace exited", hs.stderr())
        check(time.monotonic() < end, "hstrace stderr: fewer than %d lines matching %r within "
              "%gs" % (n, pattern, timeout), hs.stderr())
        time.sleep(0.05)


def probing_lines(hs, path_part):
    return [l for l in hs.stderr().splitlines()
            if l.startswith("hstrace: probing ") and path_part in l]


def client_records(recs, pid, port, n):
    cs = H.select(recs, role="client", pid=pid, rport=port)
    check(len(cs) == n, "expected %d client records of pid %d to port %d, got %d"
          % (n, pid, port, len(cs)), recs)
    for r in cs:
        T.checked(r)
    return sorted(cs, key=lambda r: r["start"])


def check_ok_tls(rec):
    """A completed TLS handshake and exchange, seen by the kernel layers."""
    check(rec["result"] == "ok", "result %r, expected ok" % rec["result"], rec)
    check(rec["tls"]["handshake_done"] is True, "handshake not done", rec)
    check(rec["tls"].get("version") in ("1.2", "1.3"), "tls.version", rec)
    for s in ("kernel-tcp", "kernel-tls"):
        check(s in rec["sources"], "sources %s lack %s" % (rec["sources"], s), rec)
    check(rec["tls"]["app_data"]["in"]["records"] >= 1, "no application data received", rec)


def check_probed(rec, lib_part, ssl_calls=True):
    """The OpenSSL layer saw this end: verification, and with --ssl-calls the handshake call
    (one call, returning 1); tls.library.file names lib_part."""
    check("openssl" in rec["sources"], "sources %s lack openssl" % rec["sources"], rec)
    check(rec["tls"].get("verify") == "ok", "tls.verify %r" % rec["tls"].get("verify"), rec)
    check("cert_verify" in rec["phases_us"], "no cert_verify phase", rec)
    n = H.names(rec)
    check(n.count("cert_verify_start") == 1 and n.count("cert_verify_done") == 1,
          "cert_verify_start/done not once each: %s" % n, rec)
    if ssl_calls:
        api = rec.get("tls_api")
        check(api is not None and api["calls"] == 1 and api["result"] == 1,
              "tls_api %r, expected 1 call returning 1" % api, rec)
        check(n.count("handshake_start") == 1 and n.count("handshake_done") == 1,
              "handshake_start/done not once each: %s" % n, rec)
    lib = rec["tls"].get("library") or {}
    check(lib_part in lib.get("file", ""), "tls.library.file %r lacks %s"
          % (lib.get("file"), lib_part), rec)


def check_not_probed(rec):
    check("openssl" not in rec["sources"], "sources %s: uprobe data from an unprobed program"
          % rec["sources"], rec)
    check("tls_api" not in rec and "cert_verify_start" not in H.names(rec),
          "uprobe events from an unprobed program", rec)


def check_healthy(hs):
    """Stops hstrace (exit 0, Summary line, nothing dropped: harness) and checks nothing was
    lost; returns the records."""
    recs = hs.stop_ok()
    summ = hs.summary()
    check(summ["lost"] == 0, "Summary lost=%d" % summ["lost"], hs.stderr())
    return recs


def system_lib(name):
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    src = [l.split("=>")[1].strip() for l in out.splitlines()
           if l.strip().startswith(name + " ")]
    check(src, "ldconfig -p lists no %s" % name, out)
    return src[0]


# ---------------------------------------------------------------------------------------------
# 1. Go

class GoBuild:
    """Builds tools/traced_go_tls.go with Debian's Go in a temporary folder (module, GOPATH and
    build cache there; no network: GOPROXY=off, standard library only), in the background;
    .wait() returns the binary."""

    def __init__(self):
        go = shutil.which("go")
        check(go, "go not found: `make deps` installs golang-go")
        d = H.make_tmpdir()
        shutil.copy(GO_SRC, d / "main.go")
        (d / "go.mod").write_text("module traced_go_tls\n\ngo 1.19\n")
        env = dict(os.environ, GOFLAGS="-mod=mod", GOCACHE=str(d / "cache"),
                   GOPATH=str(d / "gopath"), GOPROXY="off", GOTOOLCHAIN="local",
                   CGO_ENABLED="1")
        self.bin = d / "traced_go_tls"
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([go, "build", "-o", str(self.bin), "."], cwd=d, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        H.add_cleanup(lambda: self.proc.poll() is None and self.proc.kill(), "go build")

    def wait(self):
        out, _ = self.proc.communicate(timeout=120)
        check(self.proc.returncode == 0, "go build failed (%d)" % self.proc.returncode, out)
        H.log("go build: %.1fs" % (time.monotonic() - self.t0))
        return self.bin


def test_go_program_not_probed():
    """A Go crypto/tls server and client (stacks grown and moved during each handshake), and
    the same Go executable's statically linked OpenSSL (cgo) making one connection, with
    --ssl-calls (the most return probes): hstrace refuses to probe the Go executable (one
    stderr line), every program exits 0 and prints exactly the expected bytes, and every
    connection is still reported from the kernel: ok, TLS complete, no uprobe data."""
    build = GoBuild()
    certs = T.make_certs()
    gobin = build.wait()
    hs = H.start_hstrace(["--json", "--ssl-calls", "-v"])
    srv = T.Proc("go server", [gobin, "server", certs.server, certs.server_key, 3])
    port = int(srv.wait_line(r"^listening (\d+)$").group(1))
    refusal = r"^hstrace: not probing Go executable %s\b" % re.escape(str(gobin))
    # The refusal comes from the scan after the server's exec: before any connection.
    wait_stderr(hs, refusal)
    cl = T.Proc("go client", [gobin, "client", port, certs.ca, T.SNI, 2])
    cl.wait_exit(15)
    ossl = T.Proc("go openssl", [gobin, "openssl", port, certs.ca, T.SNI])
    ossl.wait_exit(15)
    srv.wait_exit(15)
    check(cl.lines("body ") == [body_line(GO_BODY)] * 2, "Go client output changed",
          cl.diag())
    check(ossl.lines("body ") == [body_line(GO_BODY)], "cgo OpenSSL output changed",
          ossl.diag())
    H.settle()
    recs = check_healthy(hs)
    err = hs.stderr()
    check(len(re.findall(refusal, err, re.M)) == 1, "the refusal is not printed exactly once",
          err)
    check(not probing_lines(hs, str(gobin)), "hstrace probes the Go executable", err)
    for pid, n in ((cl.pid, 2), (ossl.pid, 1)):
        for c in client_records(recs, pid, port, n):
            check(c["comm"] == "traced_go_tls", "comm %r" % c["comm"], c)
            check_ok_tls(c)
            check_not_probed(c)
            s = H.one(recs, "Go server end", all_recs=recs, role="server", lport=port,
                      rport=c["local"]["port"])
            T.checked(s)
            check(s["pid"] == srv.pid, "server end owned by pid %r" % s["pid"], s)
            check_ok_tls(s)
            check_not_probed(s)


def test_static_openssl_executable():
    """A C executable with OpenSSL linked in statically is found after its exec and probed
    (SSL_do_handshake and X509_verify_cert in the executable itself); it runs as untraced."""
    certs = T.make_certs()
    ngx = T.Nginx(certs, body=NGINX_BODY)
    hs = H.start_hstrace(["--json", "--ssl-calls", "-v"])
    cl = Prog("static client", [tool(TLS_STATIC), "--wait", ngx.port, certs.ca, T.SNI])
    found = wait_stderr(hs, r"^hstrace: probing (\S*traced_tls_static) \(OpenSSL[^)]*\)$")
    H.log("hstrace probed %s" % found)
    cl.go()
    cl.wait_exit(15)
    check(cl.lines("body ") == [body_line(NGINX_BODY)], "output changed", cl.diag())
    H.settle()
    recs = check_healthy(hs)
    c = client_records(recs, cl.pid, ngx.port, 1)[0]
    check_ok_tls(c)
    check_probed(c, "traced_tls_static")


# ---------------------------------------------------------------------------------------------
# 2. seccomp

def seccomp_run(port, certs, forbidden=False):
    argv = [tool(SECCOMP_CLIENT)] + (["--forbidden"] if forbidden else []) + [
        port, certs.ca, T.SNI]
    p = T.Proc("seccomp client", argv)
    p.wait_exit(15, expect=None)
    return p


def test_seccomp_strict_filter():
    """An OpenSSL client whose seccomp filter kills the process on any system call outside a
    short allow-list does its handshake with hstrace's uprobes in it — default options
    (X509_verify_cert entry + return) and --ssl-calls (SSL_do_handshake too) — and exits 0 with
    the exact answer; its record shows the probes fired. A --forbidden run (one getppid())
    is killed by SIGSYS: the filter is in force."""
    certs = T.make_certs()
    ngx = T.Nginx(certs, body=NGINX_BODY)
    for args in (["--json"], ["--json", "--ssl-calls"]):
        hs = H.start_hstrace(args)
        cl = seccomp_run(ngx.port, certs)
        check(cl.rc == 0, "seccomp client under hstrace %s: exit status %d (%s)"
              % (" ".join(args), cl.rc, "killed by " + signal.Signals(-cl.rc).name
                 if cl.rc < 0 else "exit"), cl.diag())
        check(cl.lines("filtered") and cl.lines("body ") == [body_line(NGINX_BODY)],
              "output changed", cl.diag())
        bad = seccomp_run(ngx.port, certs, forbidden=True)
        check(bad.rc == -signal.SIGSYS, "a forbidden system call did not kill the client "
              "(status %d): the filter is not in force" % bad.rc, bad.diag())
        H.settle()
        recs = check_healthy(hs)
        c = client_records(recs, cl.pid, ngx.port, 1)[0]
        check(c["comm"] == "seccomp_tls_cli", "comm %r" % c["comm"], c)
        check_ok_tls(c)
        check_probed(c, "libssl" if "--ssl-calls" in args else "libcrypto",
                     ssl_calls="--ssl-calls" in args)


# ---------------------------------------------------------------------------------------------
# 3. exits inside SSL_do_handshake

def _recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def _recv_record(s):
    hdr = _recv_exact(s, 5)
    return hdr + _recv_exact(s, struct.unpack(">H", hdr[3:5])[0])


class StallAfterServerHello:
    """A TCP relay on 127.0.0.1 (.port) to a real TLS server: it passes the client's first
    TLS record (the ClientHello) on, then only the server's first record (the ServerHello)
    back, and stops there. The client is left inside its handshake call, reading. .stalled
    is set then; the relay closes both connections when the client's goes away."""

    def __init__(self, upstream_port):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.upstream_port = upstream_port
        self.stalled = threading.Event()
        self.error = None
        H.add_cleanup(self.ls.close, "relay listener")
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            c, _ = self.ls.accept()
            u = socket.create_connection(("127.0.0.1", self.upstream_port))
            H.add_cleanup(c.close, "relay client socket")
            H.add_cleanup(u.close, "relay upstream socket")
            u.sendall(_recv_record(c))
            sh = _recv_record(u)
            check(sh[0] == 22 and sh[5] == 2, "the server's first record is not a "
                  "ServerHello: %r" % sh[:6])
            c.sendall(sh)
            self.stalled.set()
            while c.recv(65536):  # until the client is gone
                pass
            c.close()
            u.close()
        except Exception as e:
            self.error = e
            self.stalled.set()

    def wait_stalled(self, timeout=15.0):
        check(self.stalled.wait(timeout), "the relay saw no ServerHello within %gs" % timeout)
        check(self.error is None, "relay: %r" % self.error)


def blocked_in_read(pid):
    """True when the thread making the connection (the only one, or any but the main thread
    when there are several) is blocked in read(2) (x86-64 number 0, aarch64 63)."""
    nr_read = 0 if os.uname().machine == "x86_64" else 63
    tids = os.listdir("/proc/%d/task" % pid)
    for tid in tids:
        if len(tids) > 1 and tid == str(pid):
            continue  # the main thread of --thread-exit waits on stdin
        try:
            first = open("/proc/%d/task/%s/syscall" % (pid, tid)).read().split()[0]
        except (OSError, IndexError):
            continue
        if first.isdigit() and int(first) == nr_read:
            return True
    return False


def check_aborted(recs, pid, port):
    """The record of a client that died after the ServerHello: finished, handshake not done,
    no uprobe return seen, result tls_failed."""
    c = client_records(recs, pid, port, 1)[0]
    n = H.names(c)
    check(n[-1] == "closed", "the dead client's connection is not finished", c)
    check("server_hello" in n, "the ServerHello it received is missing", c)
    check(c["tls"]["handshake_done"] is False and "handshake_done" not in n,
          "a handshake that never finished reported done", c)
    # docs/json.md: "The TLS handshake started but never completed, and no alert was seen".
    check(c["result"] == "tls_failed", "result %r, expected tls_failed" % c["result"], c)
    check("tls_api" not in c, "tls_api for a call that never returned", c)
    return c


def _exit_inside_handshake(how):
    certs = T.make_certs()
    ngx = T.Nginx(certs, body=NGINX_BODY)
    hs = H.start_hstrace(["--json", "--ssl-calls"])
    relay = StallAfterServerHello(ngx.port)
    argv = [tool(TLS_CLIENT)] + (["--thread-exit", "7"] if how == "thread_exit" else []) + [
        relay.port, certs.ca, T.SNI]
    cl = Prog("client (%s)" % how, argv)
    cl.wait_count(r"^connected \d+$", 1)
    relay.wait_stalled()
    end = time.monotonic() + 10
    while not blocked_in_read(cl.pid):  # inside SSL_do_handshake(), waiting for the server
        check(time.monotonic() < end, "the client is not blocked reading", cl.diag())
        time.sleep(0.02)
    if how == "sigkill":
        cl.proc.send_signal(signal.SIGKILL)
        rc = cl.wait_exit(10, expect=-signal.SIGKILL)
    else:
        cl.go()  # the main thread calls _exit(7)
        rc = cl.wait_exit(10, expect=7)
    check(not cl.lines("body "), "the client got an answer", cl.diag())
    H.log("client ended with status %d inside its handshake" % rc)
    # hstrace goes on: the next handshakes are traced in full.
    nxt = Prog("next client", [tool(TLS_CLIENT), "--count", "2", ngx.port, certs.ca, T.SNI])
    nxt.wait_exit(15)
    check(nxt.lines("body ") == [body_line(NGINX_BODY)] * 2, "output changed", nxt.diag())
    H.settle()
    recs = check_healthy(hs)
    c = check_aborted(recs, cl.pid, relay.port)
    H.log("dead client: result %s, events %s" % (c["result"], H.names(c)))
    for r in client_records(recs, nxt.pid, ngx.port, 2):
        check_ok_tls(r)
        check_probed(r, "libssl")


def test_sigkill_inside_handshake():
    """A client blocked in SSL_do_handshake() (its peer stalls after the ServerHello) is
    killed with SIGKILL, with --ssl-calls: its connection is finished and not ok, with no
    tls_api (the call never returned); hstrace stays healthy and traces the next
    handshakes in full."""
    _exit_inside_handshake("sigkill")


def test_thread_exit_inside_handshake():
    """The main thread calls _exit(7) while another is blocked in SSL_do_handshake(): the
    process exits 7, as untraced; the same checks as for SIGKILL."""
    _exit_inside_handshake("thread_exit")


# ---------------------------------------------------------------------------------------------
# 4. dlclose

def clear_nodelete(path):
    """Clears DF_1_NODELETE in the DT_FLAGS_1 of the ELF64 little-endian shared object at
    path (Debian's libssl and libcrypto are linked -z nodelete: dlclose() would never unmap
    them). Returns True when the flag was set."""
    data = bytearray(path.read_bytes())
    check(data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1,
          "%s is not a 64-bit little-endian ELF file" % path)
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data,
                                                                 phoff + i * phentsize)
        if p_type != 2:  # PT_DYNAMIC
            continue
        for off in range(p_offset, p_offset + p_filesz, 16):
            tag, val = struct.unpack_from("<qQ", data, off)
            if tag == 0:
                break
            if tag == DT_FLAGS_1 and val & DF_1_NODELETE:
                struct.pack_into("<qQ", data, off, tag, val & ~DF_1_NODELETE)
                path.write_bytes(bytes(data))
                return True
    return False


def test_dlclose_and_reopen():
    """A client dlopen()s a private libssl (and, through it, libcrypto), makes a connection,
    dlclose()s it — the libraries are really unmapped — then loads them again and makes
    another, with --ssl-calls: both connections work and print the exact answer, the process
    exits 0, and hstrace reports both with the library's view (the probes are per file, so
    they apply to the new mapping too)."""
    certs = T.make_certs()
    ngx = T.Nginx(certs, body=NGINX_BODY)
    libdir = H.make_tmpdir() / "unloadable"
    libdir.mkdir()
    for name in ("libssl.so.3", "libcrypto.so.3"):
        shutil.copy(system_lib(name), libdir / name)
        H.log("%s: nodelete flag cleared: %s" % (name, clear_nodelete(libdir / name)))
    hs = H.start_hstrace(["--json", "--ssl-calls", "-v"])
    cl = Prog("dlopen client", [tool(DLOPEN_CLIENT), libdir / "libssl.so.3", 2, ngx.port,
                                certs.ca, T.SNI], env={"LD_LIBRARY_PATH": str(libdir)})
    cl.wait_count(r"^loaded$", 1)
    for name in ("libssl.so.3", "libcrypto.so.3"):
        wait_stderr(hs, r"^hstrace: probing %s " % re.escape(str(libdir / name)))
    cl.go()
    cl.wait_count(r"^unmapped ", 1)
    check(cl.lines("unmapped ") == ["unmapped yes"],
          "dlclose() left libssl or libcrypto mapped: nothing was unloaded", cl.diag())
    cl.wait_count(r"^loaded$", 2)
    cl.go()
    cl.wait_exit(15)
    check(cl.lines("body ") == [body_line(NGINX_BODY)] * 2, "output changed", cl.diag())
    check(cl.lines("unmapped ") == ["unmapped yes"] * 2, "second dlclose", cl.diag())
    H.settle()
    recs = check_healthy(hs)
    for r in client_records(recs, cl.pid, ngx.port, 2):
        check_ok_tls(r)
        check_probed(r, str(libdir))


# ---------------------------------------------------------------------------------------------
# 5. a libssl replaced on disk

def test_libssl_replaced_on_disk():
    """A private libssl/libcrypto (LD_LIBRARY_PATH) probed while a client uses it is replaced
    by rename(), as dpkg does: the running client (still mapping the deleted files) makes
    another connection, a client started afterwards maps the new files; both work and print
    the exact answers. hstrace probes the new files (new inodes) after the new client's exec,
    and reports the library's view for all three connections."""
    certs = T.make_certs()
    ngx = T.Nginx(certs, body=NGINX_BODY)
    libdir = H.make_tmpdir() / "upgraded"
    libdir.mkdir()
    names = ("libssl.so.3", "libcrypto.so.3")
    for name in names:
        shutil.copy(system_lib(name), libdir / name)
    env = {"LD_LIBRARY_PATH": str(libdir)}
    ssl_probe = r"^hstrace: probing %s " % re.escape(str(libdir / "libssl.so.3"))
    hs = H.start_hstrace(["--json", "--ssl-calls", "-v"])
    old = Prog("client before", [tool(TLS_CLIENT), "--wait", "--count", 2, ngx.port,
                                 certs.ca, T.SNI], env=env)
    wait_stderr(hs, ssl_probe)
    old.go()
    old.wait_count(r"^body ", 1)
    inodes = {}
    for name in names:  # the upgrade: a new file renamed over the old one
        tmp = libdir / (name + ".dpkg-new")
        shutil.copy(system_lib(name), tmp)
        inodes[name] = (os.stat(libdir / name).st_ino, os.stat(tmp).st_ino)
        os.rename(tmp, libdir / name)
    H.log("replaced (old inode, new inode): %s" % inodes)
    maps = open("/proc/%d/maps" % old.pid).read()
    check("%s (deleted)" % (libdir / "libssl.so.3") in maps,
          "the running client does not map the replaced (deleted) libssl", maps)
    old.go()
    old.wait_exit(15)
    new = Prog("client after", [tool(TLS_CLIENT), "--wait", ngx.port, certs.ca, T.SNI], env=env)
    wait_stderr(hs, ssl_probe, n=2)
    H.log("hstrace probes after the replacement:\n" + "\n".join(probing_lines(hs, str(libdir))))
    new.go()
    new.wait_exit(15)
    check(old.lines("body ") == [body_line(NGINX_BODY)] * 2, "output changed", old.diag())
    check(new.lines("body ") == [body_line(NGINX_BODY)], "output changed", new.diag())
    H.settle()
    recs = check_healthy(hs)
    for pid, n in ((old.pid, 2), (new.pid, 1)):
        for r in client_records(recs, pid, ngx.port, n):
            check_ok_tls(r)
            check_probed(r, str(libdir))
    check(len(probing_lines(hs, str(libdir / "libssl.so.3"))) == 2
          and len(probing_lines(hs, str(libdir / "libcrypto.so.3"))) == 2,
          "expected the old and the new libssl and libcrypto probed once each", hs.stderr())
