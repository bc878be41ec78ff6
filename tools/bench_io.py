#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""BPF cost per write() system call while hstrace runs, from the kernel's own BPF run-time
statistics (kernel.bpf_stats_enabled: run_time_ns / run_cnt per program).

Three workloads, measured one after the other in the same run:
  untracked  write() to /dev/null: the fd is not a tracked socket (one map lookup at entry,
             one at exit)
  tracked    write() on a loopback TCP socket hstrace follows, carrying TLS-framed records
             (a handshake record, then application-data records): the framing code runs
  plain      write() on a loopback TCP socket whose first bytes are not TLS: hstrace stops
             following it after the first write, so later writes cost as untracked

Usage: tools/bench_io.py [--writes N] [--conns N] [--hstrace PATH]   (as root)
Prints one line per workload: BPF ns per write() (entry + exit programs together).
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROGS = ("handle_enter_write", "handle_exit_write")


def prog_stats():
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True,
                         capture_output=True, text=True).stdout
    stats = {}
    for p in json.loads(out):
        name = p.get("name", "")
        if name in PROGS:
            s = stats.setdefault(name, [0, 0])
            s[0] += p.get("run_time_ns", 0)
            s[1] += p.get("run_cnt", 0)
    return stats


def measure(label, fn, calls):
    before = prog_stats()
    fn()
    after = prog_stats()
    ns = sum(after[n][0] - before.get(n, [0, 0])[0] for n in after)
    runs = {n: after[n][1] - before.get(n, [0, 0])[1] for n in after}
    # Both programs run once per write() system call, ours and any other process's.
    n_calls = runs.get(PROGS[0], 0) or 1
    per_call = ns / n_calls
    print("| %-10s | %9d | %9d | %7.1f |" % (label, calls, runs.get(PROGS[0], 0), per_call))
    return per_call


def tls_stream(n_records):
    """A TLS-framed byte stream: one handshake record then application-data records."""
    hs_body = bytes([1, 0, 0, 40]) + bytes(40)  # a 40-byte "ClientHello" (never parsed deeper)
    recs = [bytes([22, 3, 1, 0, len(hs_body)]) + hs_body]
    for _ in range(n_records - 1):
        body = bytes(64)
        recs.append(bytes([23, 3, 3, 0, len(body)]) + body)
    return recs


def server(lsock, stop):
    lsock.settimeout(0.5)
    while not stop.is_set():
        try:
            c, _ = lsock.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        threading.Thread(target=drain, args=(c,), daemon=True).start()


def drain(c):
    with c:
        while c.recv(65536):
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writes", type=int, default=200000)
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--hstrace", default=os.path.join(ROOT, "build", "hstrace"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_io.py: run as root")

    old = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
    hs = subprocess.Popen([args.hstrace, "--json", "-o", "/dev/null"],
                          stderr=subprocess.PIPE, text=True)
    lsock = socket.socket()
    stop = threading.Event()
    try:
        deadline = time.time() + 30
        line = ""
        while "Tracing" not in line:
            line = hs.stderr.readline()
            if not line and (hs.poll() is not None or time.time() > deadline):
                sys.exit("bench_io.py: hstrace did not start")

        lsock.bind(("127.0.0.1", 0))
        lsock.listen(512)
        port = lsock.getsockname()[1]
        threading.Thread(target=server, args=(lsock, stop), daemon=True).start()

        fd = os.open("/dev/null", os.O_WRONLY)
        buf = b"x" * 64

        def untracked():
            for _ in range(args.writes):
                os.write(fd, buf)

        recs = tls_stream(16)

        def tracked():
            for _ in range(args.conns):
                s = socket.create_connection(("127.0.0.1", port))
                for r in recs:
                    os.write(s.fileno(), r)
                s.close()

        def plain():
            for _ in range(args.conns):
                s = socket.create_connection(("127.0.0.1", port))
                for _ in range(len(recs)):
                    os.write(s.fileno(), b"GET / HTTP/1.0\r\n\r\n" + bytes(50))
                s.close()

        print("| workload   | our writes | all write() calls | BPF ns per write() |")
        print("|---|---|---|---|")
        measure("untracked", untracked, args.writes)
        measure("tracked", tracked, args.conns * len(recs))
        measure("plain-tcp", plain, args.conns * len(recs))
        os.close(fd)
    finally:
        stop.set()
        lsock.close()
        hs.send_signal(signal.SIGINT)
        try:
            hs.wait(20)
        except subprocess.TimeoutExpired:
            hs.kill()
        open("/proc/sys/kernel/bpf_stats_enabled", "w").write(old)


if __name__ == "__main__":
    main()
