#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""bench_io.py - the host I/O cost of running hstrace (part of `make bench`, as root).

Two measurements, each printed as a Markdown table on stdout (progress on stderr):

1. File I/O: `dd if=/dev/zero of=/dev/null bs=512 count=N` (N read()+write() pairs, no
   network), untraced and while `build/hstrace --json -o /dev/null` runs (started before dd,
   after its "Tracing" line; stopped with SIGINT after dd). R rounds; the order of the two
   runs alternates from round to round (odd rounds untraced first, even rounds traced
   first), so that drift of the shared VM does not always favour the same one. In a round,
   each mode runs dd --reps times back to back and keeps its fastest run (the VM only adds
   time). Per round: dd's elapsed time and CPU time (user + system) for each, and the ratios
   untraced / traced (= traced throughput / untraced throughput; 1.0 = no cost). Then the
   median ratios with their min and max.
   Target: median ratio >= 0.95.

2. BPF cost per call (kernel.bpf_stats_enabled=1 for this part only, restored after):
   run_time_ns / run_cnt of hstrace's per-packet programs (cgroup_skb handle_egress,
   handle_ingress) and per-socket-call programs (tp_btf sock_send_length / sock_recv_length:
   handle_sock_send, handle_sock_recv), while one hstrace runs, under three workloads, R
   rounds in alternating order:
     dd              the dd above (file I/O: these programs should not run at all)
     untracked TCP   small send/recv ping-pongs on a loopback TCP connection opened BEFORE
                     hstrace started (no per-socket state: one storage lookup per call/packet)
     TLS, past hs    small ping-pongs on a loopback TLS connection (Python ssl, a throwaway
                     self-signed certificate) opened AFTER hstrace started, measured after its
                     handshake and a warm-up: the steady state of a followed connection
   Prints, per workload and program: calls per round trip (or per dd block; machine-
   independent) and ns per call (medians over rounds, with min/max), and BPF ns per round trip.
   Counts are machine-wide: other processes' packets and socket calls in the same window count
   too (on a quiet machine they are few next to the workload's).

Everything runs on 127.0.0.1 only, with bounded counts, and stops by itself.

Usage: tools/bench_io.py [--rounds 7] [--count 1000000] [--reps 3] [--pingpongs 10000]
                         [--only dd|calls] [--hstrace PATH]
"""

import argparse
import json
import os
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HSTRACE = os.path.join(ROOT, "build", "hstrace")
PROGS = ("handle_egress", "handle_ingress", "handle_sock_send", "handle_sock_recv")
STATS = "/proc/sys/kernel/bpf_stats_enabled"
MSG = 64  # bytes per ping and per pong

CHILDREN = []  # pids of the echo servers forked here
TMPDIRS = []


def log(msg):
    print("bench_io.py: " + msg, file=sys.stderr, flush=True)


def out(line=""):
    print(line, flush=True)


def med(xs):
    return statistics.median(xs) if xs else 0.0


# ---------------------------------------------------------------------------------------------
# hstrace

class Hstrace:
    """build/hstrace --json -o /dev/null, started and ready ("Tracing" on stderr)."""

    def __init__(self, path, tries=4):
        d = tempfile.mkdtemp(prefix="hstrace-bench-io-")
        TMPDIRS.append(d)
        self.err = os.path.join(d, "stderr")
        for attempt in range(tries):
            # Another hstrace unmounting tracefs, or build/hstrace being rebuilt at this
            # moment, can make a start fail: retry a few times.
            with open(self.err, "w") as f:
                try:
                    self.proc = subprocess.Popen([path, "--json", "-o", "/dev/null"],
                                                 stdout=subprocess.DEVNULL, stderr=f)
                except OSError as e:
                    self.proc = None
                    log("cannot run %s: %s" % (path, e))
            if self.proc:
                end = time.time() + 30
                while "Tracing" not in open(self.err).read():
                    if self.proc.poll() is not None or time.time() > end:
                        break
                    time.sleep(0.02)
                else:
                    return
                self._end(signal.SIGTERM)
                log("hstrace did not start (try %d): %s" % (attempt + 1,
                                                           open(self.err).read().strip()))
            time.sleep(5 * (attempt + 1))
        sys.exit("bench_io.py: hstrace did not start")

    def _end(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        """SIGINT; returns the counters of its Summary line."""
        self._end(signal.SIGINT)
        res = {}
        for line in open(self.err).read().splitlines():
            if line.startswith("Summary:"):
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    if v.isdigit():
                        res[k] = int(v)
        return res


def foreign_tracers(mine=()):
    """hstrace and bpftrace processes not started here, as "comm pid"."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) not in mine:
            try:
                with open("/proc/%s/comm" % d) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in ("hstrace", "bpftrace"):
                found.append("%s %s" % (comm, d))
    return found


def cpu_ticks(pid):
    """utime + stime of a process (all threads), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# ---------------------------------------------------------------------------------------------
# 1. dd, untraced vs traced

def run_dd(count):
    """Runs dd; returns (its own elapsed time in s (the copy, not process start-up), its CPU
    time in s (user + system, from wait4()))."""
    t0 = time.perf_counter()
    p = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=512", "count=%d" % count],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, LC_ALL="C"))
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit("bench_io.py: dd failed: " + err)
    m = re.search(r"copied, ([0-9.e+-]+) s", err)
    return (float(m.group(1)) if m else wall), ru.ru_utime + ru.ru_stime


def best_dd(count, reps):
    """The fastest of reps dd runs back to back: (elapsed s, CPU s), each the minimum. The
    shared VM only ever adds time (other guests, interrupts), so the minimum is the run it
    disturbed least, for both modes alike."""
    runs = [run_dd(count) for _ in range(reps)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def bench_dd(a):
    log("dd: %d rounds of %d x %d blocks, untraced and traced" % (a.rounds, a.reps, a.count))
    run_dd(a.count)  # warm-up (page cache, CPU frequency)
    rows = []
    seen = set()
    for r in range(a.rounds):
        order = ("untraced", "traced") if r % 2 == 0 else ("traced", "untraced")
        t = {}
        for mode in order:
            seen.update(foreign_tracers())
            if mode == "untraced":
                time.sleep(a.settle)
                t[mode] = best_dd(a.count, a.reps)
            else:
                hs = Hstrace(a.hstrace)
                time.sleep(a.settle)  # let it finish scanning processes for TLS libraries
                seen.update(foreign_tracers([hs.proc.pid]))
                c0 = cpu_ticks(hs.proc.pid)
                t[mode] = best_dd(a.count, a.reps)
                hs_ms = (cpu_ticks(hs.proc.pid) - c0) * 1e3 / os.sysconf("SC_CLK_TCK")
                hs.stop()
        u, tr = t["untraced"], t["traced"]
        rows.append((r + 1, order[0], u[0], tr[0], u[0] / tr[0], hs_ms, u[1], tr[1],
                     u[1] / tr[1] if tr[1] else float("nan")))
        log("dd round %d: untraced %.3f s, traced %.3f s, ratio %.3f; CPU ratio %.3f"
            % (r + 1, u[0], tr[0], u[0] / tr[0], rows[-1][8]))
    out("`dd if=/dev/zero of=/dev/null bs=512 count=%d` (%d read()+write() pairs, no network), "
        "untraced vs while `build/hstrace --json -o /dev/null` runs; %d rounds, the order "
        "alternating (odd rounds untraced first); in each round each mode runs dd %d times "
        "back to back and keeps its fastest run (this shared VM only ever adds time); time is "
        "dd's own elapsed time, CPU its user + system time (wait4()); ratio = untraced / "
        "traced (1 = no cost); hstrace CPU: its own user + system time while dd ran "
        "(/proc/PID/stat, 10 ms ticks). Target: median ratio >= 0.95."
        % (a.count, a.count, a.rounds, a.reps))
    out()
    out("| round | first | untraced s | traced s | ratio | untraced CPU s | traced CPU s | "
        "CPU ratio | hstrace CPU ms during dd |")
    out("|---|---|---|---|---|---|---|---|---|")
    for r, first, u, t, q, c, uc, tc, qc in rows:
        out("| %d | %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.0f |"
            % (r, first, u, t, q, uc, tc, qc, c))
    ratios = [row[4] for row in rows]
    cratios = [row[8] for row in rows]
    mu, mt = med([row[2] for row in rows]), med([row[3] for row in rows])
    out("| **median** | | %.3f | %.3f | **%.3f** (min %.3f, max %.3f) | %.3f | %.3f | "
        "**%.3f** (min %.3f, max %.3f) | |"
        % (mu, mt, med(ratios), min(ratios), max(ratios), med([row[6] for row in rows]),
           med([row[7] for row in rows]), med(cratios), min(cratios), max(cratios)))
    out()
    if seen:
        out("**Not a clean run:** other tracers were running during these runs: %s." %
            ", ".join(sorted(seen)))
        out()
    return med(ratios), min(ratios), max(ratios)


# ---------------------------------------------------------------------------------------------
# 2. BPF ns per call

def all_progs():
    o = subprocess.run(["bpftool", "prog", "show", "-j"], check=True, capture_output=True,
                       text=True).stdout
    return {p["id"]: p for p in json.loads(o)}


def find_mine(before):
    """Ids of PROGS loaded since `before` (a set of program ids): name -> id. With two
    hstrace instances loaded meanwhile, the newest program of each name."""
    mine = {}
    for i, p in all_progs().items():
        name = p.get("name", "")
        if i in before:
            continue
        for want in PROGS:
            # bpftool prints the full name from BTF; without BTF, 15 characters of it.
            if name == want or (len(name) == 15 and want.startswith(name)):
                if want in mine:
                    log("more than one %s loaded since hstrace started: taking the newest"
                        % want)
                mine[want] = max(mine.get(want, 0), i)
    missing = [n for n in PROGS if n not in mine]
    if missing:
        sys.exit("bench_io.py: hstrace loaded no program named %s" % ", ".join(missing))
    return mine


def snapshot(mine):
    progs = all_progs()
    return {n: (progs[i].get("run_cnt", 0), progs[i].get("run_time_ns", 0))
            for n, i in mine.items()}


def echo_child(sock, tls_ctx=None, listener=None):
    """Forks a process that echoes on sock (or accepts one connection on listener and does a
    TLS handshake with tls_ctx first) until EOF, then exits."""
    pid = os.fork()
    if pid:
        CHILDREN.append(pid)
        return pid
    code = 1
    try:
        if listener is not None:
            listener.settimeout(60)
            sock, _ = listener.accept()
            listener.close()
            if tls_ctx is not None:
                sock = tls_ctx.wrap_socket(sock, server_side=True)
        sock.settimeout(300)
        while True:
            b = sock.recv(65536)
            if not b:
                break
            sock.sendall(b)
        code = 0
    except Exception as e:  # noqa: BLE001 - report and end, whatever it was
        print("bench_io.py: echo server: %s" % e, file=sys.stderr)
    finally:
        os._exit(code)


def ping_pong(sock, n):
    msg = b"p" * MSG
    for _ in range(n):
        sock.sendall(msg)
        got = 0
        while got < MSG:
            b = sock.recv(MSG - got)
            if not b:
                sys.exit("bench_io.py: echo server closed the connection")
            got += len(b)


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    cp = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj",
                         "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                         "-keyout", key, "-out", cert], capture_output=True, text=True)
    if cp.returncode:
        sys.exit("bench_io.py: openssl req failed: " + cp.stderr)
    return cert, key


def bench_calls(a):
    d = tempfile.mkdtemp(prefix="hstrace-bench-io-")
    TMPDIRS.append(d)
    cert, key = make_cert(d)
    old = open(STATS).read().strip()
    hs = None
    socks = []
    try:
        # The untracked connection: opened (both ends) before hstrace starts.
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        plain = socket.create_connection(ls.getsockname())
        srv, _ = ls.accept()
        ls.close()
        echo_child(srv)
        srv.close()
        socks.append(plain)
        ping_pong(plain, 10)

        with open(STATS, "w") as f:
            f.write("1")
        before = set(all_progs())
        hs = Hstrace(a.hstrace)
        mine = find_mine(before)
        time.sleep(a.settle)

        # The TLS connection: opened after hstrace started, so it is followed.
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        echo_child(None, sctx, ls)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(cert)
        tls = cctx.wrap_socket(socket.create_connection(ls.getsockname()),
                               server_hostname="localhost")
        ls.close()
        socks.append(tls)
        tls_version = tls.version()
        ping_pong(tls, 200)  # past the handshake, session tickets, first data each way
        time.sleep(0.2)

        workloads = [
            ("dd", "dd blocks (read+write)", lambda: run_dd(a.count), a.count),
            ("untracked TCP", "round trips", lambda: ping_pong(plain, a.pingpongs),
             a.pingpongs),
            ("TLS, past handshake", "round trips", lambda: ping_pong(tls, a.pingpongs),
             a.pingpongs),
        ]
        res = {}  # (workload, prog) -> list of (calls per op, ns per call)
        tot = {}  # workload -> list of BPF ns per op (the four programs together)
        log("BPF cost per call: %d rounds (dd %d blocks, %d round trips per connection)"
            % (a.rounds, a.count, a.pingpongs))
        for r in range(a.rounds):
            order = workloads if r % 2 == 0 else workloads[::-1]
            for name, _, fn, ops in order:
                s0 = snapshot(mine)
                fn()
                s1 = snapshot(mine)
                ns_all = 0
                for p in PROGS:
                    calls = s1[p][0] - s0[p][0]
                    ns = s1[p][1] - s0[p][1]
                    ns_all += ns
                    res.setdefault((name, p), []).append(
                        (calls / ops, ns / calls if calls else None))
                tot.setdefault(name, []).append(ns_all / ops)
        summ = hs.stop()
        hs = None
    finally:
        if hs:
            hs.stop()
        with open(STATS, "w") as f:
            f.write(old)
        for s in socks:
            s.close()  # the echo servers read EOF and exit
        reap()

    out("Kernel BPF statistics (`kernel.bpf_stats_enabled=1` during this part only): "
        "run_cnt and run_time_ns of hstrace's packet programs (cgroup_skb on the root cgroup: "
        "every packet of every socket) and socket-call programs (tp_btf "
        "`sock_send_length`/`sock_recv_length`: every socket send/receive), one hstrace "
        "running, %d rounds in alternating order: `dd` as above (%d blocks); `untracked TCP`: "
        "%d ping-pongs of %d bytes each way on a loopback TCP connection opened before hstrace "
        "started (hstrace has no state for it); `TLS, past handshake`: %d ping-pongs of %d "
        "bytes on a loopback %s connection (Python ssl, self-signed P-256 certificate) opened "
        "after hstrace started, measured after its handshake and 200 warm-up round trips. "
        "Calls per operation (machine-independent) and ns per call: median over rounds "
        "(min-max); each round trip has two sends and two receives (client and echo server). "
        "Counts are machine-wide: other processes' packets and socket calls in the same "
        "time count too. hstrace's summary: %s."
        % (a.rounds, a.count, a.pingpongs, MSG, a.pingpongs, MSG, tls_version,
           " ".join("%s=%d" % kv for kv in sorted(summ.items())
                    if kv[0] in ("connections", "lost", "unmatched", "dropped"))))
    out()
    out("| workload | per | program | calls per op | ns per call |")
    out("|---|---|---|---|---|")

    def rng(xs, fmt):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "-"
        return (fmt + " (" + fmt + "-" + fmt + ")") % (med(xs), min(xs), max(xs))

    for name, per, _, _ in workloads:
        for p in PROGS:
            v = res[name, p]
            out("| %s | %s | %s | %s | %s |" % (name, per, p, rng([c for c, _ in v], "%.3g"),
                                                rng([n for _, n in v], "%.0f")))
        out("| %s | %s | **all four: BPF ns per op** | | **%s** |" % (
            name, per, rng(tot[name], "%.1f")))
    out()
    return res, tot


def reap():
    for pid in CHILDREN:
        for _ in range(50):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    del CHILDREN[:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--count", type=int, default=1000000, help="dd blocks of 512 bytes")
    ap.add_argument("--reps", type=int, default=3,
                    help="dd runs per mode and round, the fastest kept")
    ap.add_argument("--pingpongs", type=int, default=10000,
                    help="round trips per connection per round (BPF cost per call)")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="seconds to wait after hstrace is ready (and before untraced runs)")
    ap.add_argument("--only", choices=("dd", "calls"))
    ap.add_argument("--hstrace", default=HSTRACE)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_io.py: run as root")
    if a.rounds < 1 or a.count < 1 or a.pingpongs < 1 or a.reps < 1:
        sys.exit("bench_io.py: --rounds, --count, --pingpongs and --reps must be >= 1")
    try:
        if a.only != "calls":
            bench_dd(a)
        if a.only != "dd":
            bench_calls(a)
    finally:
        for pid in CHILDREN:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for d in TMPDIRS:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
