#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""bench_tls.py - hstrace's TLS handshake benchmarks (part of `make bench`, as root).

Every TLS workload is build/hs_load (full TLS handshakes with OpenSSL, no resumption) against
a real nginx on loopback (`uprobes` also uses gnutls-serv and gnutls-cli as one end; `http`
is wrk against nginx over plain HTTP), with its own configuration, certificate
(tools/tls_certs.sh: RSA 2048, a 2-certificate chain; `lost` uses an ECDSA P-256 certificate
sent alone and 2 nginx workers to reach its rate) and temporary folder. Traced runs start
build/hstrace --json -o FILE in the root namespace, as a user would; untraced runs have no
BPF program loaded by it.

  tools/bench_tls.py throughput [--rounds 3] [--seconds 10] [--concurrency 32] [--request]
                                [--variant="HSTRACE OPTIONS"]...
  tools/bench_tls.py http       [--rounds 7] [--seconds 5] [--connections 32]
                                [--variant="HSTRACE OPTIONS"]...
                                plain HTTP keep-alive (wrk -> nginx), no TLS
  tools/bench_tls.py bulk       [--mib 1024] [--rounds 6]
  tools/bench_tls.py bpfstats   [--seconds 10]
  tools/bench_tls.py cpu        [--rate 500] [--seconds 6] [--rounds 3]
                                [--hits-count 200] [--gnutls-conns 20]
                                CPU per handshake (untraced, hstrace, --ssl-calls,
                                --no-uprobes), then what `uprobes` prints
  tools/bench_tls.py uprobes    [--hits-count 200] [--gnutls-conns 20]
                                uprobe hits per handshake per connection end, default
                                probes and --ssl-calls (OpenSSL against GnuTLS peers)
  tools/bench_tls.py lost       [--rate 2000] [--seconds 60] [--key ec|rsa] [--chain]
                                [--workers 2] [--threads 2] [--concurrency 64]
  tools/bench_tls.py rss        [--conns 100000] [--rate 5000] [--burst 20000]
                                [--burst-ring-kb 65536]
  tools/bench_tls.py bpftrace   [--rounds 2] [--seconds 10]
  tools/bench_tls.py accuracy   [--conns 10]  the numbers behind tests/integration/test_accuracy
  tools/bench_tls.py all        [--quick]     every one above, then one summary table
  tools/bench_tls.py --hstrace-args "..." SUBCOMMAND ...   (options for every traced run)

Each subcommand prints a Markdown section (what was run, under which conditions, the numbers)
on stdout; `all` ends with one summary table. Nothing is left running or mounted afterwards.

Untraced and traced runs alternate (untraced, traced, untraced, traced, ...) so that drift of
the shared VM hits both alike; `throughput` and `http` reverse the order of their
configurations every second round, and report the median, min and max of the per-round
ratios (each traced run / the untraced run of its own round).
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
HSTRACE = os.environ.get("HSTRACE_BIN", os.path.join(BUILD, "hstrace"))  # HSTRACE_BIN: compare builds
HS_LOAD = os.path.join(BUILD, "hs_load")
PROBE_COST = os.path.join(BUILD, "probe_cost")
SNI = "hstrace.test"
LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3"

SUMMARY = []  # (what, value, target) rows for the final table
DISTURBED = {}  # tracers not started here ("comm pid") -> load runs during which they ran
LOAD_RUNS = [0, 0]  # hs_load runs: all, those during which such a tracer ran
HSTRACE_ARGS = []  # --hstrace-args: added to every traced run (e.g. a later --no-uprobes)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def out(line=""):
    print(line, flush=True)


def summary(what, value, target=""):
    SUMMARY.append((what, value, target))


# ---------------------------------------------------------------------------------------------
# processes that are always stopped

class Procs:
    """Every process started here; stop_all() ends them (SIGTERM, then SIGKILL)."""

    def __init__(self):
        self.procs = []
        self.dirs = []

    def start(self, argv, **kw):
        p = subprocess.Popen([str(a) for a in argv], **kw)
        self.procs.append(p)
        return p

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="hstrace-bench-")
        self.dirs.append(d)
        return d

    def stop(self, p, sig=signal.SIGTERM, timeout=20):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p, timeout=5)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


P = Procs()


# ---------------------------------------------------------------------------------------------
# nginx, hstrace, hs_load

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    """nginx on 127.0.0.1:port serving "/" (a small body) and "/big" (a sparse file of
    big_mib MiB, read from the page cache), HTTPS only, one request per connection, access
    log off. plain=True: plain HTTP instead, keep-alive without a request limit, and
    "/small.html" (a 600-byte static file)."""

    def __init__(self, workers=1, big_mib=0, master="on", key="rsa", chain=True, plain=False):
        d = P.tmpdir()
        cp = subprocess.run(["sh", os.path.join(ROOT, "tools", "tls_certs.sh"), d, key],
                            capture_output=True, text=True)
        if cp.returncode:
            sys.exit("bench_tls.py: tools/tls_certs.sh failed: " + cp.stderr)
        self.dir = d
        self.ca = os.path.join(d, "ca.pem")
        if big_mib:
            with open(os.path.join(d, "big"), "wb") as f:
                f.truncate(big_mib << 20)
            # The workers run as nobody: let them read the file (and nothing else).
            os.chmod(d, 0o711)
            os.chmod(os.path.join(d, "big"), 0o644)
        if plain:
            # A small static page (the size of nginx's default index.html), read by the
            # workers (nobody) from the page cache.
            with open(os.path.join(d, "small.html"), "w") as f:
                f.write("<!DOCTYPE html>\n<html><head><title>hstrace</title></head><body>\n" +
                        "<p>%s</p>\n" % ("x" * 520) + "</body></html>\n")
            os.chmod(d, 0o711)
            os.chmod(os.path.join(d, "small.html"), 0o644)
        self.port = free_port()
        # plain: HTTP only, keep-alive with no request limit, so that one connection carries
        # every request of a load run. Otherwise HTTPS only, one request per connection.
        if plain:
            listen = "listen 127.0.0.1:%d backlog=4096;" % self.port
            tls = ""
            keepalive = "keepalive_timeout 65;\n    keepalive_requests 100000000;"
        else:
            listen = "listen 127.0.0.1:%d ssl backlog=4096;" % self.port
            tls = """ssl_certificate {d}/{cert};
        ssl_certificate_key {d}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;""".format(d=d, cert="chain.pem" if chain else "server.pem")
            keepalive = "keepalive_timeout 0;"
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""
daemon off;
master_process {master};
worker_processes {workers};
worker_rlimit_nofile 65536;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    {keepalive}
    server {{
        {listen}
        server_name {sni};
        {tls}
        root {d};
        location = / {{ return 200 "hello\\n"; }}
        location = /big {{ }}
        location = /small.html {{ }}
    }}
}}
""".format(workers=workers, d=d, sni=SNI, master=master, listen=listen, tls=tls,
           keepalive=keepalive))
        self.proc = P.start(["nginx", "-p", d, "-c", conf, "-e", os.path.join(d, "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.time() > end:
                    sys.exit("bench_tls.py: nginx did not start: " +
                             open(os.path.join(d, "error.log")).read())
                time.sleep(0.05)

    def stop(self):
        P.stop(self.proc, signal.SIGQUIT)


def cpu_ticks(pid):
    """utime + stime of a process (all threads), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


class Hstrace:
    """build/hstrace --json -o FILE [args]; stop() returns its Summary counters."""

    def __init__(self, args=(), progs=False):
        # Up to 3 tries: while another hstrace on the machine unmounts the tracefs it had
        # mounted, attaching can fail with ENOENT (seen when tests run at the same time).
        # progs: note the BPF programs loaded before, for progs().
        for attempt in range(3):
            self.before = set(bpf_progs()) if progs else None
            d = P.tmpdir()
            self.out = os.path.join(d, "out.ndjson")
            self.err = os.path.join(d, "stderr")
            self.errf = open(self.err, "w")
            self.proc = P.start([HSTRACE, "--json", "-o", self.out, *HSTRACE_ARGS, *args],
                                stdout=subprocess.DEVNULL, stderr=self.errf)
            end = time.time() + 30
            while "Tracing" not in open(self.err).read():
                if self.proc.poll() is not None or time.time() > end:
                    break
                time.sleep(0.05)
            else:
                break
            P.stop(self.proc)
            self.errf.close()
            log("bench_tls.py: hstrace did not start (try %d): %s"
                % (attempt + 1, open(self.err).read().strip()))
            time.sleep(1)
        else:
            sys.exit("bench_tls.py: hstrace did not start")
        self.pid = self.proc.pid

    def stop(self):
        P.stop(self.proc, signal.SIGINT, timeout=60)
        self.errf.close()
        text = open(self.err).read()
        res = {}
        for line in text.splitlines():
            if line.startswith("Summary:"):
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    if v.isdigit():
                        res[k] = int(v)
        if not res:
            sys.exit("bench_tls.py: hstrace printed no Summary line: " + text)
        return res

    def progs(self):
        """This hstrace's BPF programs (started with progs=True): id -> bpftool's entry."""
        return hstrace_progs(self.before)

    def records(self):
        with open(self.out) as f:
            return sum(1 for line in f if line.strip())


def hs_load(port, ca, tls, seconds=None, count=None, concurrency=32, threads=1, rate=None,
            request=None, ciphersuites=None):
    argv = [HS_LOAD, "--port", port, "--sni", SNI, "--cafile", ca, "--tls", tls,
            "--concurrency", concurrency, "--threads", threads]
    if seconds:
        argv += ["--duration", seconds]
    if count:
        argv += ["--count", count]
    if rate:
        argv += ["--rate", rate]
    if request:
        argv += ["--request", request]
    if ciphersuites:
        argv += ["--ciphersuites", ciphersuites]
    o, e, rc = run_load(argv)
    if rc:
        sys.exit("bench_tls.py: hs_load failed (%d): %s" % (rc, e))
    res = json.loads(o)
    res["stderr"] = e.strip()
    return res


def run_load(argv):
    """Runs a load generator to its end: (stdout, stderr, exit status). Another hstrace (or
    bpftrace) on the machine, e.g. tests run at the same time, traces this load too: note it
    for the report. The load generators write only a few lines, so the pipes cannot fill
    while it is polled."""
    p = P.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = set(foreign_tracers())
    while True:
        try:
            p.wait(0.5)
            break
        except subprocess.TimeoutExpired:
            seen.update(foreign_tracers())
    o, e = p.communicate()
    LOAD_RUNS[0] += 1
    for t in seen:
        DISTURBED[t] = DISTURBED.get(t, 0) + 1
    if seen:
        LOAD_RUNS[1] += 1
        log("bench_tls.py: other tracers ran during this load: " + ", ".join(sorted(seen)))
    return o, e, p.returncode


def wrk(port, path, seconds, connections=32, threads=1):
    """wrk (HTTP/1.1 keep-alive: each connection sends its requests one after the other on
    one TCP connection) against http://127.0.0.1:port/path; returns requests, req/s, latency
    p50/p99 in µs, errors (socket errors and non-2xx/3xx answers)."""
    argv = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%gs" % seconds, "--latency",
            "http://127.0.0.1:%d%s" % (port, path)]
    o, e, rc = run_load(argv)
    if rc:
        sys.exit("bench_tls.py: wrk failed (%d): %s %s" % (rc, o, e))

    def us(v):
        m = re.match(r"([0-9.]+)(us|ms|s)$", v)
        return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else -1

    res = {"errors": 0, "p50_us": -1, "p99_us": -1}
    for line in o.splitlines():
        w = line.split()
        if line.startswith("Requests/sec:"):
            res["req_per_s"] = float(w[1])
        elif len(w) >= 3 and w[1] == "requests" and w[2] == "in":
            res["requests"] = int(w[0])
        elif len(w) == 2 and w[0] in ("50%", "99%"):
            res["p%s_us" % w[0][:2]] = us(w[1])
        elif line.strip().startswith("Socket errors:"):
            res["errors"] += sum(int(x) for x in re.findall(r"\d+", line))
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            res["errors"] += int(w[-1])
    if "req_per_s" not in res or "requests" not in res:
        sys.exit("bench_tls.py: cannot read wrk's output: " + o)
    return res


def foreign_tracers():
    """hstrace and bpftrace processes this script did not start, as "comm pid"."""
    mine = {p.pid for p in P.procs}
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


def med(xs):
    return statistics.median(xs) if xs else 0.0


# ---------------------------------------------------------------------------------------------
# throughput

def bench_throughput(a):
    ng = Nginx(workers=1)
    req = "/" if a.request else None
    # The configurations compared in each round: untraced, hstrace with its default probes,
    # then each variant (hstrace options) given with --variant; every second round runs them
    # in the reverse order, so that drift of the shared VM within a round does not always
    # favour the same configuration.
    modes = [("untraced", None), ("hstrace", [])] + [("hstrace " + v, v.split())
                                                     for v in a.variant]
    out("## TLS handshake throughput, traced vs untraced%s" % (
        ", one GET per connection" if a.request else ""))
    out()
    out("Command: `tools/bench_tls.py throughput --rounds %d --seconds %g --concurrency %d%s%s`."
        % (a.rounds, a.seconds, a.concurrency, " --request" if a.request else "",
           "".join(" --variant='%s'" % v for v in a.variant)))
    out("build/hs_load (1 thread, %d connections in flight, certificate verified, no "
        "resumption%s) against nginx (1 worker, RSA 2048 chain, session cache and tickets off) "
        "on loopback: the two of them keep both CPUs busy, so any CPU hstrace takes shows. "
        "Each round runs %s, %g s each (`hstrace --json -o FILE [options]`); even rounds run "
        "them in the reverse order, so drift of the shared VM does not always favour the same "
        "one. A run's ratio is its hs/s divided by the untraced run of its own round. "
        "Latency: connect() to handshake done, in ms."
        % (a.concurrency, ", one GET / each" if a.request else ", no request",
           ", ".join("`%s`" % m for m, _ in modes), a.seconds))
    out()
    out("| TLS | round | run | hs/s | ratio | p50 / p99 ms | hstrace CPU % | records | lost |")
    out("|---|---|---|---|---|---|---|---|---|")
    rates = {}   # (tls, mode) -> hs/s of each round
    ratios = {}  # (tls, mode) -> hs/s / untraced hs/s of the same round, each round
    for tls in ("1.3", "1.2"):
        for m, _ in modes:
            rates[tls, m], ratios[tls, m] = [], []
        for r in range(a.rounds):
            rows = []
            for m, args in (modes if r % 2 == 0 else modes[::-1]):
                hs = Hstrace(args) if args is not None else None
                if hs:
                    c0, t0 = cpu_ticks(hs.pid), time.time()
                x = hs_load(ng.port, ng.ca, tls, seconds=a.seconds, concurrency=a.concurrency,
                            request=req)
                cpu, n, lost = "", "", ""
                if hs:
                    cpu = "%.1f" % (100 * (cpu_ticks(hs.pid) - c0) / os.sysconf("SC_CLK_TCK")
                                    / (time.time() - t0))
                    lost = hs.stop().get("lost", -1)
                    n = hs.records()
                rows.append((m, x, cpu, n, lost))
            base = [x["hs_per_s"] for m, x, *_ in rows if m == "untraced"][0]
            for m, x, cpu, n, lost in rows:
                rates[tls, m].append(x["hs_per_s"])
                ratios[tls, m].append(x["hs_per_s"] / base)
                out("| %s | %d | %s | %.0f | %.3f | %.2f / %.2f | %s | %s | %s |" % (
                    tls, r + 1, m, x["hs_per_s"], x["hs_per_s"] / base,
                    x["hs_lat_us"]["p50"] / 1e3, x["hs_lat_us"]["p99"] / 1e3, cpu, n, lost))
    out()
    out("Per TLS version and configuration over the %d rounds: the median of the per-round "
        "ratios (the headline number), their smallest and largest (the spread shows this "
        "VM's noise), and for comparison the ratio of the median hs/s." % a.rounds)
    out()
    out("| TLS | run | median hs/s | median ratio | min ratio | max ratio | "
        "ratio of medians |")
    out("|---|---|---|---|---|---|---|")
    for tls in ("1.3", "1.2"):
        b = med(rates[tls, "untraced"])
        for m, _ in modes:
            q = ratios[tls, m]
            if m == "untraced":
                out("| %s | %s | %.0f | **1** | | | |" % (tls, m, b))
                continue
            out("| %s | %s | %.0f | **%.3f** | %.3f | %.3f | %.3f |" % (
                tls, m, med(rates[tls, m]), med(q), min(q), max(q), med(rates[tls, m]) / b))
            summary("handshakes/s TLS %s%s, %s / untraced" % (
                tls, " + GET" if a.request else "", m),
                "%.3f (rounds %.3f-%.3f; median %.0f / %.0f hs/s)" % (
                    med(q), min(q), max(q), med(rates[tls, m]), b),
                ">= 0.97" if m == "hstrace" else "")
    out()
    ng.stop()


# ---------------------------------------------------------------------------------------------
# bulk transfer

def bench_bulk(a):
    ng = Nginx(workers=1, big_mib=a.mib)
    out("## Bulk transfer over one TLS connection, traced vs untraced")
    out()
    out("Command: `tools/bench_tls.py bulk --mib %d --rounds %d`. One hs_load connection "
        "(TLS 1.3) GETs a %d MiB file (sparse, served from the page cache after one warm-up "
        "read) from nginx on loopback and reads it to the end. Each round runs it untraced "
        "and traced (hstrace started 1 s before), in the reverse order every other round." %
        (a.mib, a.rounds, a.mib))
    out()
    out("| round | untraced MiB/s | traced MiB/s | ratio |")
    out("|---|---|---|---|")
    base, traced, ratios = [], [], []
    hs_load(ng.port, ng.ca, "1.3", count=1, concurrency=1, request="/big")  # page cache

    def one(mode):
        hs = None
        if mode == "traced":
            hs = Hstrace()
            time.sleep(1)
        x = hs_load(ng.port, ng.ca, "1.3", count=1, concurrency=1, request="/big")
        if hs:
            hs.stop()
        if x["bytes_in"] < a.mib << 20:
            sys.exit("bench_tls.py: bulk read only %d bytes" % x["bytes_in"])
        return x["mib_per_s"]

    for r in range(a.rounds):
        res = {}
        for mode in (("untraced", "traced") if r % 2 == 0 else ("traced", "untraced")):
            res[mode] = one(mode)
        base.append(res["untraced"])
        traced.append(res["traced"])
        ratios.append(res["traced"] / res["untraced"])
        out("| %d | %.0f | %.0f | %.3f |" % (r + 1, res["untraced"], res["traced"], ratios[-1]))
    ratio = med(ratios)
    out("| median | %.0f | %.0f | **%.3f** (rounds %.3f-%.3f) |" %
        (med(base), med(traced), ratio, min(ratios), max(ratios)))
    out()

    # What hstrace's programs cost during one traced transfer: the ratio their CPU time
    # allows, free of the VM's noise (run_time_ns counts the programs, not their dispatch).
    with BpfStats():
        hs = Hstrace(progs=True)
        time.sleep(1)
        before = bpf_progs()
        t0 = time.time()
        x = hs_load(ng.port, ng.ca, "1.3", count=1, concurrency=1, request="/big")
        elapsed = time.time() - t0
        after = bpf_progs()
        mine = hs.progs()
        hs.stop()
    out("BPF during one more traced transfer (`kernel.bpf_stats_enabled=1`, %.0f MiB/s, "
        "%.2f s; machine-wide counts):" % (x["mib_per_s"], elapsed))
    out()
    out("| program | runs | ns per run | ms of BPF |")
    out("|---|---|---|---|")
    total_ns = 0
    for pid in sorted(mine, key=lambda i: mine[i]["name"]):
        p0, p1 = before.get(pid, {}), after.get(pid, {})
        runs = p1.get("run_cnt", 0) - p0.get("run_cnt", 0)
        ns = p1.get("run_time_ns", 0) - p0.get("run_time_ns", 0)
        if not runs:
            continue
        total_ns += ns
        out("| %s | %d | %.0f | %.1f |" % (mine[pid]["name"], runs, ns / runs, ns / 1e6))
    share = total_ns / 1e9 / (elapsed * os.cpu_count())
    out("| **all** | | | **%.1f** |" % (total_ns / 1e6))
    out()
    out("That is %.2f %% of the machine's %d CPUs over the transfer, which both ends keep "
        "busy: the programs alone allow a ratio of at most %.3f here." %
        (share * 100, os.cpu_count(), 1 - share))
    out()
    summary("bulk %d MiB over TLS, traced / untraced MiB/s" % a.mib,
            "%.3f (rounds %.3f-%.3f; median %.0f / %.0f MiB/s)" %
            (ratio, min(ratios), max(ratios), med(traced), med(base)), ">= 0.99")
    summary("bulk: BPF share of the machine's CPU during a transfer",
            "%.2f %% (%.1f ms in %.2f s)" % (share * 100, total_ns / 1e6, elapsed), "")
    ng.stop()


# ---------------------------------------------------------------------------------------------
# CPU per handshake at a fixed rate

def machine_busy_ticks():
    """CPU time the whole machine spent busy (user, nice, system, irq, softirq; not idle,
    iowait or steal), in clock ticks, all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6]


def bench_cpu(a):
    """Throughput on this shared VM swings by 10-20 % from run to run; CPU time per handshake
    at a rate the machine sustains with room to spare is steadier, and says directly what
    tracing costs: untraced vs traced, the difference split into hstrace's own process and
    the rest (BPF programs and uprobe traps, which run in the traced processes' context).
    Then the uprobe hits per handshake of each probing mode (bench_uprobe_hits)."""
    ng = Nginx(workers=1)
    modes = [("untraced", None), ("hstrace", []), ("hstrace --ssl-calls", ["--ssl-calls"]),
             ("hstrace --no-uprobes", ["--no-uprobes"])]
    res = {m: [] for m, _ in modes}
    hs_cpu = {m: [] for m, _ in modes}
    out("## CPU per handshake at a fixed rate")
    out()
    out("Command: `tools/bench_tls.py cpu --rate %g --seconds %g --rounds %d`. hs_load asks for "
        "%g TLS 1.3 handshakes/s (one GET each, certificate verified, RSA 2048 chain) against "
        "nginx (1 worker) on loopback, well below what the machine sustains, so every mode "
        "completes the same work. Busy CPU of the whole machine (/proc/stat: user, nice, "
        "system, irq, softirq; steal excluded) divided by handshakes completed; hstrace's own "
        "share from /proc/PID/stat (µs per handshake = ms per 1,000 handshakes; each "
        "handshake is 2 connection ends). Modes alternate within each round (order reversed "
        "every other round); medians over rounds. The last column is what that CPU cost means "
        "for a machine saturated by handshakes: untraced CPU / traced CPU per handshake. On "
        "this shared VM the same work takes ±10 %% more or less CPU from one run to the next "
        "(see the rounds): hstrace's own share is the steady number here." %
        (a.rate, a.seconds, a.rounds, a.rate))
    out()
    out("| round | mode | hs/s | machine CPU µs per handshake | of which hstrace process µs |")
    out("|---|---|---|---|---|")
    for r in range(a.rounds):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for m, args in order:
            hs = Hstrace(list(args)) if args is not None else None
            if hs:
                h0 = cpu_ticks(hs.pid)
            b0 = machine_busy_ticks()
            t = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=16,
                        rate=a.rate, request="/")
            busy = machine_busy_ticks() - b0
            hticks = cpu_ticks(hs.pid) - h0 if hs else 0
            if hs:
                hs.stop()
            tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
            n = max(t["handshakes"], 1)
            res[m].append(busy * tick_us / n)
            hs_cpu[m].append(hticks * tick_us / n)
            out("| %d | %s | %.0f | %.0f | %s |" % (r + 1, m, t["hs_per_s"], res[m][-1],
                                                  "%.0f" % hs_cpu[m][-1] if hs else ""))
    out()
    out("| mode | CPU µs per handshake (median) | overhead µs | hstrace process: ms per 1,000 "
        "handshakes (median, min-max) | equivalent saturated throughput ratio |")
    out("|---|---|---|---|---|")
    base = med(res["untraced"])
    for m, args in modes:
        c = med(res[m])
        h = hs_cpu[m]
        out("| %s | %.0f | %s | %s | %s |" % (
            m, c, "" if args is None else "%.0f" % (c - base),
            "" if args is None else "%.0f (%.0f-%.0f)" % (med(h), min(h), max(h)),
            "" if args is None else "**%.3f**" % (base / c)))
        if args is not None:
            summary("CPU per handshake, %s vs untraced (at %g hs/s)" % (m, a.rate),
                    "%.0f vs %.0f µs: %+.0f µs; saturated ratio %.3f" % (
                        c, base, c - base, base / c))
            summary("hstrace's own CPU per 1,000 handshakes, %s (at %g hs/s, 2 ends each)"
                    % (m, a.rate), "%.0f ms (rounds %.0f-%.0f)" % (med(h), min(h), max(h)))
    out()
    ng.stop()
    bench_uprobe_hits(a)


# ---------------------------------------------------------------------------------------------
# kernel BPF statistics

STATS = "/proc/sys/kernel/bpf_stats_enabled"


class BpfStats:
    """kernel.bpf_stats_enabled=1 inside the with block (the old value restored after): the
    kernel then keeps run_cnt and run_time_ns for every BPF program."""

    def __enter__(self):
        with open(STATS) as f:
            self.old = f.read().strip()
        with open(STATS, "w") as f:
            f.write("1")
        return self

    def __exit__(self, *exc):
        with open(STATS, "w") as f:
            f.write(self.old)


def bpf_progs():
    o = subprocess.run(["bpftool", "prog", "show", "-j"], check=True, capture_output=True,
                       text=True).stdout
    return {p["id"]: p for p in json.loads(o)}


def hstrace_progs(before):
    """The programs of the hstrace started last: those loaded since `before` (a set of
    program ids) that share a map with the newest of them, directly or through another one.
    Each hstrace has its own maps, so the programs of another hstrace started meanwhile (e.g.
    by tests running at the same time) are left out. id -> bpftool's entry."""
    new = {i: p for i, p in bpf_progs().items()
           if i not in before and p.get("name", "").startswith("handle_")}
    if not new:
        return {}
    group = {max(new)}
    maps = set(new[max(new)].get("map_ids", []))
    grew = True
    while grew:
        grew = False
        for i, p in new.items():
            if i not in group and maps & set(p.get("map_ids", [])):
                group.add(i)
                maps |= set(p.get("map_ids", []))
                grew = True
    if len(group) < len(new):
        log("bench_tls.py: %d BPF programs of another hstrace left out of the counts"
            % (len(new) - len(group)))
    return {i: new[i] for i in group}


def prog_deltas(progs, s0, s1):
    """name -> (runs, run ns) between snapshots s0 and s1 (bpf_progs()) of the programs
    progs (id -> entry); programs of the same name are added up."""
    d = {}
    for i, p in progs.items():
        a, b = s0.get(i, p), s1.get(i, p)
        r = d.setdefault(p.get("name", "?"), [0, 0])
        r[0] += b.get("run_cnt", 0) - a.get("run_cnt", 0)
        r[1] += b.get("run_time_ns", 0) - a.get("run_time_ns", 0)
    return d


# ---------------------------------------------------------------------------------------------
# uprobe hits per handshake, per connection end

VERIFY_PROGS = ("handle_verify_enter", "handle_verify_exit")
HANDSHAKE_PROGS = ("handle_ssl_handshake_enter", "handle_ssl_handshake_exit")


def gnutls_clients(port, ca, n):
    """n sequential gnutls-cli connections (TLS 1.3, one GET each); returns how many
    completed their handshake."""
    ok = 0
    for _ in range(n):
        cp = subprocess.run(["gnutls-cli", "--x509cafile", ca, "--sni-hostname", SNI,
                             "--verify-hostname", SNI, "-p", str(port), "127.0.0.1"],
                            input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True,
                            timeout=30)
        ok += cp.returncode == 0 and "Handshake was completed" in cp.stdout
    return ok


def bench_uprobe_hits(a):
    """Uprobe hits per handshake, by connection end: OpenSSL at both ends, then OpenSSL at
    only one of them (GnuTLS, which hstrace does not probe, at the other), so that each end's
    hits are counted alone. hstrace's uprobes are per library file, for every process."""
    for tool in ("gnutls-serv", "gnutls-cli"):
        if not shutil.which(tool):
            sys.exit("bench_tls.py: %s is not installed (apt-get install gnutls-bin)" % tool)
    ng = Nginx(workers=1)
    gport = free_port()
    gs = P.start(["gnutls-serv", "--x509certfile", os.path.join(ng.dir, "chain.pem"),
                  "--x509keyfile", os.path.join(ng.dir, "server.key"),
                  "--disable-client-cert", "-p", gport],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", gport), 1).close()
            break
        except OSError:
            if gs.poll() is not None or time.time() > end:
                sys.exit("bench_tls.py: gnutls-serv did not start")
            time.sleep(0.05)
    n, g = a.hits_count, a.gnutls_conns
    workloads = [
        ("both ends OpenSSL: hs_load -> nginx", "client verifies, server does not",
         lambda: hs_load(ng.port, ng.ca, "1.3", count=n, concurrency=8,
                         request="/")["handshakes"]),
        ("client end only: hs_load (OpenSSL) -> gnutls-serv", "verifying end",
         lambda: hs_load(gport, ng.ca, "1.3", count=n, concurrency=8)["handshakes"]),
        ("server end only: gnutls-cli -> nginx (OpenSSL)",
         "non-verifying end (no client certificate)",
         lambda: gnutls_clients(ng.port, ng.ca, g)),
    ]
    modes = [("hstrace", []), ("hstrace --ssl-calls", ["--ssl-calls"])]
    rows = []
    with BpfStats():
        for m, args in modes:
            hs = Hstrace(args, progs=True)
            progs = {i: p for i, p in hs.progs().items()
                     if p.get("name") in VERIFY_PROGS + HANDSHAKE_PROGS}
            time.sleep(0.5)
            for w, end_what, fn in workloads:
                s0 = bpf_progs()
                t0 = time.time()
                done = fn()
                secs = time.time() - t0
                s1 = bpf_progs()
                d = prog_deltas(progs, s0, s1)
                v = sum(d.get(x, [0, 0])[0] for x in VERIFY_PROGS)
                h = sum(d.get(x, [0, 0])[0] for x in HANDSHAKE_PROGS)
                # Other processes' OpenSSL calls count too: show how many hits as long a
                # time with no workload gets, right after.
                time.sleep(min(secs, 5))
                idle = sum(r for r, _ in prog_deltas(progs, s1, bpf_progs()).values())
                rows.append((m, w, end_what, done, v, h, idle))
            hs.stop()
    P.stop(gs)
    ng.stop()
    out("## Uprobe hits per handshake, per connection end")
    out()
    out("Command: `tools/bench_tls.py uprobes --hits-count %d --gnutls-conns %d` (also run by "
        "`cpu`). Kernel BPF statistics (`kernel.bpf_stats_enabled=1`, run_cnt) of hstrace's "
        "uprobe programs: X509_verify_cert (`handle_verify_enter`/`_exit`, attached by "
        "default) and SSL_do_handshake (`handle_ssl_handshake_enter`/`_exit`, only with "
        "`--ssl-calls`); entry and return each count one hit. Full TLS 1.3 handshakes on "
        "loopback: %d by hs_load (OpenSSL, certificate verified) against nginx (OpenSSL; it "
        "asks for no client certificate) and against gnutls-serv (GnuTLS, not probed), and %d "
        "by gnutls-cli (one process each) against nginx, so that each end's hits are counted "
        "alone. Each hit costs a trap that bpf_stats does not count (measured below, \"Cost "
        "of one probed call\"); the hit counts do not depend on the machine. Counts are "
        "machine-wide: OpenSSL calls of other processes in the same time count too." %
        (n, g, n, g))
    out()
    out("The last column is the uprobe hits (all four programs) in as long a time with no "
        "workload, right after each one: other processes' share, if it is not 0.")
    out()
    out("| hstrace | workload | end | handshakes | X509_verify_cert hits per handshake | "
        "SSL_do_handshake hits per handshake | uprobe hits per handshake | hits in as long "
        "an idle time |")
    out("|---|---|---|---|---|---|---|---|")
    for m, w, end_what, done, v, h, idle in rows:
        k = max(done, 1)
        out("| %s | %s | %s | %d | %.2f | %.2f | **%.2f** | %d |" % (
            m, w, end_what, done, v / k, h / k, (v + h) / k, idle))
    out()
    for m, w, end_what, done, v, h, idle in rows:
        if w.startswith("both"):
            continue
        target = ""
        if m == "hstrace":
            target = "<= 2" if "client" in w else "0"
        summary("uprobe hits per handshake, %s, %s (%s)" % (m, end_what, w),
                "%.2f (%d handshakes; %d hits in as long an idle time)" % (
                    (v + h) / max(done, 1), done, idle), target)
    bench_probe_cost(a)


def probe_cost_ns(calls):
    o, e, rc = run_load([PROBE_COST, calls])
    if rc:
        sys.exit("bench_tls.py: probe_cost failed (%d): %s" % (rc, e))
    return float(o.split("ns_per_call=")[1])


def bench_probe_cost(a, calls=100000, rounds=5):
    """What one probed call costs its caller: build/probe_cost calls X509_verify_cert(NULL)
    in a loop, untraced and while hstrace runs (alternating), and the difference per call is
    the two uprobe hits (entry and return) with hstrace's two programs."""
    modes = [("untraced", None), ("hstrace", [])]
    res = {m: [] for m, _ in modes}
    for r in range(rounds):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for m, args in order:
            hs = Hstrace(list(args)) if args is not None else None
            res[m].append(probe_cost_ns(calls))
            if hs:
                hs.stop()
    base, traced = med(res["untraced"]), med(res["hstrace"])
    out("### Cost of one probed call")
    out()
    out("Command: part of `tools/bench_tls.py uprobes`. `build/probe_cost %d` calls "
        "X509_verify_cert(NULL) %d times (OpenSSL raises an error and returns at once), "
        "untraced and while `hstrace --json` runs, %d rounds in alternating order; ns per "
        "call, median (min-max). The difference is what one probed call costs the process "
        "that makes it: the uprobe on its entry, the one on its return (a uretprobe) and "
        "hstrace's two programs. The kernel executes the first instruction of a probed "
        "function in place when it can emulate it, else it single-steps it out of line, a "
        "second trap: the first instruction of X509_verify_cert and of SSL_do_handshake in "
        "Debian 12's OpenSSL 3.0 is a `push`, which Linux 6.x emulates. On this VM a probe on "
        "an instruction that must be single-stepped costs 13-15 µs per hit instead (measured "
        "with bpftrace on `endbr64` and `lea`: 13.6 and 15.2 µs; on `push`: 1.2 µs)." %
        (calls, calls, rounds))
    out()
    out("| run | ns per call (median) | min | max |")
    out("|---|---|---|---|")
    for m, _ in modes:
        out("| %s | %.0f | %.0f | %.0f |" % (m, med(res[m]), min(res[m]), max(res[m])))
    out("| **probed call, hstrace - untraced** | **%.0f** | | |" % (traced - base))
    out()
    summary("cost of one probed X509_verify_cert call (2 uprobe hits + programs)",
            "%.2f µs" % ((traced - base) / 1000.0))


# ---------------------------------------------------------------------------------------------
# Where the machine's CPU goes under a handshake load (perf samples)

# A sample is hstrace's when its process is hstrace, or its kernel stack passes through what
# runs hstrace's BPF programs: the frame names are Linux's (6.x); a frame below them is the
# program itself or a helper it called.
SHARE_CLASSES = [
    ("BPF: socket-call and TCP-state programs (tp_btf), with their dispatch",
     ("bpf_trace_run",)),
    ("BPF: packet programs (cgroup_skb), with their dispatch", ("__cgroup_bpf_run_filter_skb",)),
    ("BPF: accept hook (cgroup getpeername)", ("__cgroup_bpf_run_filter_sock_addr",)),
    ("uprobes: traps and programs (X509_verify_cert)",
     ("asm_exc_int3", "uprobe_notify_resume", "uretprobe", "uprobe_handle_trampoline")),
]


SHARE_WORKLOAD = ("hs_load", "nginx")


def perf_samples(path):
    """perf script of a perf.data file: yields (comm, pid, [frame symbols, leaf first])."""
    p = subprocess.run(["perf", "script", "-i", path, "-F", "comm,pid,ip,sym"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    head, stack = None, []
    for line in p.stdout.splitlines() + [""]:
        if line.startswith("\t"):
            parts = line.split(None, 1)
            stack.append(parts[1] if len(parts) > 1 else "")
            continue
        if head is not None:
            comm, _, pid = head.rpartition(" ")
            yield comm.strip(), int(pid), stack
        head, stack = (line.strip() or None), []


def bench_share(a):
    """The CPU that tracing takes from a machine saturated by TLS handshakes, counted where it
    is spent rather than from throughput, which moves 10-20 % between rounds here: perf
    samples every CPU at a fixed rate while hs_load and nginx keep both busy; each sample is
    hstrace's (its process, its BPF programs, its uprobes: SHARE_CLASSES) or not. Busy
    samples exclude the idle task. The share of busy samples that are hstrace's is throughput
    the workload lost to it: the equivalent ratio is 1 - that share."""
    if not shutil.which("perf"):
        sys.exit("bench_tls.py: perf is not installed (apt-get install linux-perf)")
    ng = Nginx(workers=1)
    rows = []
    for r in range(a.rounds):
        hs = Hstrace([])
        data = os.path.join(P.tmpdir(), "perf.data")
        perf = P.start(["perf", "record", "-a", "-g", "-F", str(a.freq), "-o", data],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        t = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=32, request="/")
        P.stop(perf, signal.SIGINT, timeout=60)
        hs.stop()
        total = other = mine_proc = busy = 0
        cls = [0] * len(SHARE_CLASSES)
        for comm, pid, stack in perf_samples(data):
            total += 1
            if pid == hs.pid:
                mine_proc += 1
                busy += 1
                continue
            # The workload: its processes, and the packets the idle task's softirqs handle
            # for it. Anything else (perf itself, other processes) is left out.
            if pid == 0:
                if not any("softirq" in f for f in stack):
                    continue
            elif comm not in SHARE_WORKLOAD:
                other += 1
                continue
            busy += 1
            for i, (_, marks) in enumerate(SHARE_CLASSES):
                if any(m in f for f in stack for m in marks):
                    cls[i] += 1
                    break
        busy = max(busy, 1)
        rows.append((t["handshakes"], t["hs_per_s"], total, busy, mine_proc, cls, other))
    ng.stop()
    out("## Where the CPU goes under a handshake load (perf samples)")
    out()
    out("Command: `tools/bench_tls.py share --seconds %g --rounds %d --freq %d`. hs_load (1 "
        "thread, 32 connections in flight, TLS 1.3, certificate verified, one GET each) "
        "against nginx (1 worker) on loopback keeps both CPUs busy while `hstrace --json` "
        "runs and `perf record -a -g -F %d` samples every CPU. Busy samples are those of "
        "hs_load, nginx and hstrace, and the idle task's while it handles softirqs (packets). "
        "A sample counts as hstrace's "
        "when it is in hstrace's process, or when its kernel stack passes through what runs "
        "hstrace's BPF programs (`bpf_trace_run*` for the tp_btf programs, "
        "`__cgroup_bpf_run_filter_skb` for the packet programs, "
        "`__cgroup_bpf_run_filter_sock_addr` for the accept hook; the dispatch, the program "
        "and its helpers) or through a uprobe trap. Shares are of busy samples (the idle task "
        "otherwise excluded; so are other processes, perf among them: their samples were %s of all). On a machine saturated by the workload, that share is throughput it lost: "
        "equivalent ratio = 1 - share. Unlike a throughput ratio it does not depend on how "
        "fast the VM happens to run in that minute. µs per handshake = share x busy CPU time "
        "/ handshakes (both ends)." % (a.seconds, a.rounds, a.freq, a.freq,
                                       ", ".join("%.1f %%" % (100.0 * r[6] / max(r[2], 1))
                                                 for r in rows)))
    out()
    names = ["hstrace process"] + [n for n, _ in SHARE_CLASSES]
    out("| round | hs/s | busy samples | " + " | ".join(names) +
        " | all of hstrace | equivalent ratio |")
    out("|---|---|---|" + "---|" * (len(names) + 2))
    shares = []
    per_hs = []
    for i, (n, rate, total, busy, proc, cls, other) in enumerate(rows):
        parts = [proc] + cls
        share = sum(parts) / busy
        shares.append(share)
        busy_us = busy / a.freq * 1e6  # CPU time the busy samples stand for
        per_hs.append([x / busy * busy_us / max(n, 1) for x in parts])
        out("| %d | %.0f | %d | %s | **%.2f %%** | **%.3f** |" % (
            i + 1, rate, busy, " | ".join("%.2f %%" % (100.0 * x / busy) for x in parts),
            100 * share, 1 - share))
    out()
    out("Median over the rounds, in µs of CPU per handshake (client and server ends):")
    out()
    out("| " + " | ".join(names) + " | all of hstrace |")
    out("|" + "---|" * (len(names) + 1))
    cols = [med([r[k] for r in per_hs]) for k in range(len(names))]
    out("| " + " | ".join("%.1f" % c for c in cols) + " | **%.1f** |" %
        med([sum(r) for r in per_hs]))
    out()
    summary("hstrace's share of a handshake-saturated machine's CPU (perf), equivalent ratio",
            "%.2f %% -> %.3f (rounds %.3f-%.3f)" % (100 * med(shares), 1 - med(shares),
                                                    1 - max(shares), 1 - min(shares)),
            ">= 0.97")


# ---------------------------------------------------------------------------------------------
# BPF cost per program

def bench_bpfstats(a):
    ng = Nginx(workers=1)
    with BpfStats():
        hs = Hstrace(progs=True)
        mine = hs.progs()
        before = bpf_progs()
        t = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=32, request="/")
        after = bpf_progs()
        hs.stop()
    n = t["handshakes"]
    out("## BPF cost per program during a handshake load")
    out()
    out("Command: `tools/bench_tls.py bpfstats --seconds %g`. Kernel BPF statistics "
        "(`kernel.bpf_stats_enabled=1`, `bpftool prog show`: run_time_ns / run_cnt) of every "
        "program hstrace loaded, over %g s of TLS 1.3 handshakes with one GET each "
        "(hs_load, 32 in flight, against nginx on loopback): %d handshakes, %.0f/s. Both ends "
        "of each connection are on this machine, so per handshake means client + server. "
        "Counts are machine-wide: the packet programs (cgroup_skb) run for every packet and "
        "the socket-call programs (sock_send_length / sock_recv_length) for every socket "
        "send and receive of every process in that time." %
        (a.seconds, a.seconds, n, t["hs_per_s"]))
    out()
    out("| program | type | runs | runs per handshake | ns per run | µs of BPF per handshake |")
    out("|---|---|---|---|---|---|")
    total_ns = 0
    d = prog_deltas(mine, before, after)
    types = {p.get("name", "?"): p.get("type", "?") for p in mine.values()}
    for name in sorted(d):
        runs, ns = d[name]
        total_ns += ns
        out("| %s | %s | %d | %.1f | %.0f | %.2f |" % (
            name, types[name], runs, runs / max(n, 1), ns / runs if runs else 0,
            ns / 1e3 / max(n, 1)))
    out("| **all** | | | | | **%.2f** |" % (total_ns / 1e3 / max(n, 1)))
    out()
    uprobe_runs = sum(d[x][0] for x in d if types[x] == "kprobe")
    out("Programs of type kprobe are uprobes/uretprobes (OpenSSL: %s): %.1f hits per "
        "handshake. run_time_ns counts only the program itself, not the trap into the kernel "
        "that each hit costs (see \"Cost of one probed call\" under the uprobe hits)."
        % (", ".join(sorted(x for x in d if types[x] == "kprobe" and d[x][0])) or "none hit",
           uprobe_runs / max(n, 1)))
    out()
    summary("BPF time per handshake (client + server ends)",
            "%.2f µs" % (total_ns / 1e3 / max(n, 1)))
    summary("uprobe hits per handshake (client + server ends, default probes)",
            "%.1f" % (uprobe_runs / max(n, 1)))
    ng.stop()


# ---------------------------------------------------------------------------------------------
# plain HTTP keep-alive

def bench_http(a):
    if not shutil.which("wrk"):
        sys.exit("bench_tls.py: wrk is not installed (apt-get install wrk)")
    ng = Nginx(workers=1, plain=True)
    path = "/small.html"
    modes = [("untraced", None), ("hstrace", [])] + [("hstrace " + v, v.split())
                                                     for v in a.variant]
    wrk(ng.port, path, 1, a.connections)  # warm-up: page cache, nginx worker
    out("## Plain HTTP keep-alive, traced vs untraced")
    out()
    out("Command: `tools/bench_tls.py http --rounds %d --seconds %g --connections %d%s`. wrk "
        "(1 thread, %d keep-alive connections, HTTP/1.1, each connection sending its "
        "requests one after the other) GETs a 600-byte static file from nginx (1 worker, "
        "plain HTTP, keep-alive without a request limit, access log off) on loopback; the two "
        "keep both CPUs busy. No TLS: what hstrace costs here is its per-packet and "
        "per-socket-call programs on connections that are not TLS. Each round runs %s, %g s "
        "each, wrk's connections opened after hstrace started; even rounds run them in the "
        "reverse order. A run's ratio is its requests/s divided by the untraced run of its own "
        "round. Latency: wrk's, per request, in ms." %
        (a.rounds, a.seconds, a.connections, "".join(" --variant='%s'" % v for v in a.variant),
         a.connections, ", ".join("`%s`" % m for m, _ in modes), a.seconds))
    out()
    out("| round | run | requests/s | ratio | p50 / p99 ms | errors | hstrace CPU % | lost |")
    out("|---|---|---|---|---|---|---|---|")
    rates = {m: [] for m, _ in modes}
    ratios = {m: [] for m, _ in modes}
    for r in range(a.rounds):
        rows = []
        for m, args in (modes if r % 2 == 0 else modes[::-1]):
            hs = Hstrace(args) if args is not None else None
            if hs:
                c0, t0 = cpu_ticks(hs.pid), time.time()
            x = wrk(ng.port, path, a.seconds, a.connections)
            cpu, lost = "", ""
            if hs:
                cpu = "%.1f" % (100 * (cpu_ticks(hs.pid) - c0) / os.sysconf("SC_CLK_TCK")
                                / (time.time() - t0))
                lost = hs.stop().get("lost", -1)
            rows.append((m, x, cpu, lost))
        base = [x["req_per_s"] for m, x, *_ in rows if m == "untraced"][0]
        for m, x, cpu, lost in rows:
            rates[m].append(x["req_per_s"])
            ratios[m].append(x["req_per_s"] / base)
            out("| %d | %s | %.0f | %.3f | %.2f / %.2f | %d | %s | %s |" % (
                r + 1, m, x["req_per_s"], x["req_per_s"] / base, x["p50_us"] / 1e3,
                x["p99_us"] / 1e3, x["errors"], cpu, lost))
    out()
    # Machine-independent counts beside the ratio: one more traced run, with the kernel's BPF
    # statistics on (not during the timed runs: they add a little to every program run).
    secs = min(a.seconds, 3)
    with BpfStats():
        hs = Hstrace(progs=True)
        mine = hs.progs()
        s0 = bpf_progs()
        x = wrk(ng.port, path, secs, a.connections)
        s1 = bpf_progs()
        hs.stop()
    d = prog_deltas(mine, s0, s1)
    nreq = max(x["requests"], 1)
    bpf_ns = sum(ns for _, ns in d.values())
    calls = sum(runs for runs, _ in d.values())
    out("Over the %d rounds: the median of the per-round ratios, their smallest and largest "
        "(this VM's noise), and the BPF work per request from one more traced run of %g s "
        "with `kernel.bpf_stats_enabled=1` (%d requests; machine-wide counts)." %
        (a.rounds, secs, x["requests"]))
    out()
    out("| run | median requests/s | median ratio | min ratio | max ratio |")
    out("|---|---|---|---|---|")
    b = med(rates["untraced"])
    for m, args in modes:
        q = ratios[m]
        if args is None:
            out("| %s | %.0f | **1** | | |" % (m, b))
            continue
        out("| %s | %.0f | **%.3f** | %.3f | %.3f |" % (m, med(rates[m]), med(q), min(q),
                                                        max(q)))
        summary("plain HTTP keep-alive requests/s, %s / untraced" % m,
                "%.3f (rounds %.3f-%.3f; median %.0f / %.0f req/s)" % (
                    med(q), min(q), max(q), med(rates[m]), b))
    out()
    out("| program | calls per request | ns per call | ns per request |")
    out("|---|---|---|---|")
    for name in sorted(d):
        runs, ns = d[name]
        if runs:
            out("| %s | %.2f | %.0f | %.0f |" % (name, runs / nreq, ns / runs, ns / nreq))
    out("| **all** | **%.2f** | | **%.0f** |" % (calls / nreq, bpf_ns / nreq))
    out()
    summary("plain HTTP keep-alive: BPF per request (hstrace)",
            "%.2f program calls, %.0f ns" % (calls / nreq, bpf_ns / nreq))
    ng.stop()


# ---------------------------------------------------------------------------------------------
# lost events at a fixed rate, collector CPU

def bench_lost(a):
    # The default RSA 2048 chain with 1 nginx worker and 1 hs_load thread tops out near
    # 1,000 full handshakes/s on the 2-CPU VM. What is cheaper here: an ECDSA P-256 server
    # key (signing ~10x cheaper than RSA 2048), nginx sending only its leaf certificate (the
    # client trusts the CA; with OpenSSL 3.0 decoding each received certificate's public key
    # costs the client more than the signature checks), 2 nginx workers and 2 hs_load threads
    # (one client thread takes ~0.7 ms of CPU per verified handshake), and the client offering
    # TLS_AES_128_GCM_SHA256 (as browsers do first) rather than OpenSSL's default
    # TLS_AES_256_GCM_SHA384 (a few % less CPU). Every handshake is still a full TLS 1.3 one
    # with a verified certificate (no session cache, no tickets; hs_load counts resumed ones).
    ng = Nginx(workers=a.workers, key=a.key, chain=a.chain)
    certs = "%s server certificate, %s" % (
        {"ec": "ECDSA P-256", "rsa": "RSA 2048"}[a.key],
        "sent with its CA (2-certificate chain)" if a.chain else
        "sent alone (the client has the CA)")

    def load(seconds):
        return hs_load(ng.port, ng.ca, "1.3", seconds=seconds, concurrency=a.concurrency,
                       threads=a.threads, rate=a.rate, request="/",
                       ciphersuites=a.ciphersuites)

    # The same asked rate without hstrace, shorter: what the machine reaches by itself.
    u_secs = min(a.seconds, 10)
    u = load(u_secs)
    hs = Hstrace()
    c0 = cpu_ticks(hs.pid)
    t = load(a.seconds)
    ticks = cpu_ticks(hs.pid) - c0
    rss = proc_status(hs.pid, "VmHWM")
    s = hs.stop()
    n = hs.records()
    cpu_s = ticks / os.sysconf("SC_CLK_TCK")
    per_k = cpu_s / max(t["handshakes"], 1) * 1000 * 1000  # ms per 1000 handshakes
    out("## Events lost at a fixed handshake rate; collector CPU")
    out()
    out("Command: `tools/bench_tls.py lost --rate %g --seconds %g --key %s%s --workers %d "
        "--threads %d --concurrency %d --ciphersuites %s`. hs_load (%d threads, up to %d "
        "connections in flight, certificate verified, no resumption, cipher suite %s) asks for "
        "%g full TLS 1.3 handshakes/s with one GET each, against nginx on loopback (%d "
        "workers, %s; session cache and tickets off), "
        "for %g s traced by `hstrace --json -o FILE`, after %g s untraced at the same asked "
        "rate to show what the machine reaches without hstrace. `lost` is hstrace's own count "
        "of ring-buffer records it could not get (Summary line); CPU is hstrace's user + "
        "system time (/proc/PID/stat), i.e. the collector and renderer, not the BPF programs "
        "(those run in the traced processes' context: see the BPF cost table). `resumed` "
        "counts handshakes OpenSSL reported as resumed (0: all were full handshakes)." %
        (a.rate, a.seconds, a.key, " --chain" if a.chain else "", a.workers, a.threads,
         a.concurrency, a.ciphersuites or "''", a.threads, a.concurrency,
         t.get("cipher") or "?", a.rate, a.workers, certs, a.seconds, u_secs))
    out()
    out("| run | s | asked hs/s | reached hs/s | handshakes | errors | resumed | "
        "p50 / p99 ms | records written | lost | hstrace CPU s | CPU ms per 1,000 handshakes "
        "| hstrace peak RSS MiB |")
    out("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, x, secs in (("untraced", u, u_secs), ("hstrace", t, a.seconds)):
        tail = "| | | | | |"
        if x is t:
            tail = "| %d | %d | %.2f | %.1f | %.1f |" % (n, s.get("lost", -1), cpu_s, per_k,
                                                      rss / 1024)
        out("| %s | %g | %g | %.0f | %d | %d | %d | %.2f / %.2f %s" % (
            name, secs, a.rate, x["hs_per_s"], x["handshakes"], x["errors"],
            x.get("resumed", -1), x["conn_lat_us"]["p50"] / 1e3,
            x["conn_lat_us"]["p99"] / 1e3, tail))
    out()
    out("Latency: connect() to the end of the response. Reached %.0f of the asked %g "
        "handshakes/s traced (%.0f untraced)." % (t["hs_per_s"], a.rate, u["hs_per_s"]))
    out()
    summary("lost records at %.0f hs/s for %g s (asked %g; %s, %d nginx workers)" % (
        t["hs_per_s"], a.seconds, a.rate, "ECDSA P-256" if a.key == "ec" else "RSA 2048",
        a.workers), "%d" % s.get("lost", -1), "0 at 2,000/s")
    summary("collector CPU per 1,000 handshakes (2 connection ends each)", "%.1f ms" % per_k)
    ng.stop()


# ---------------------------------------------------------------------------------------------
# RSS with many connections open

PER_PROC = 9000  # connections per holder process: both ends' fds fit in RLIMIT_NOFILE 20000


def hold_conns(n, rate, close_rate, ready_w, go_r):
    """Child: opens n loopback TCP connections to its own listener, rate per second at most,
    keeps both ends open, writes "ready <n>" to ready_w and waits for go_r to close. Then
    closes them, client end then server end of one connection after the other, close_rate
    connections per second at most, or with close_rate 0 all at once (by exiting), and exits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4096)
    ls.setblocking(False)
    clients, servers = [], []
    t0 = time.time()
    for i in range(n):
        ahead = i / rate - (time.time() - t0)
        if ahead > 0:
            time.sleep(ahead)
        c = socket.socket()
        c.connect(ls.getsockname())
        clients.append(c)
        if len(clients) - len(servers) >= 1024 or i == n - 1:
            while len(servers) < len(clients):
                try:
                    servers.append(ls.accept()[0])
                except BlockingIOError:
                    time.sleep(0.001)
    os.write(ready_w, b"ready %d\n" % len(servers))
    os.read(go_r, 1)
    if close_rate > 0:
        t0 = time.time()
        for i, (c, s) in enumerate(zip(clients, servers)):
            ahead = i / close_rate - (time.time() - t0)
            if ahead > 0:
                time.sleep(ahead)
            c.close()
            s.close()
    os._exit(0)


def hold_phase(hs, conns, rate, close_rate):
    """While hs runs: holder processes open conns connections, rate per second in all, and
    keep them open; hs's RSS is taken with all of them open; then the holders close them,
    close_rate per second in all (0: all at once) and exit. Returns what was measured."""
    kids = []
    go_r, go_w = os.pipe()
    left = conns
    nkids = (conns + PER_PROC - 1) // PER_PROC
    res = {"kids": nkids, "rss0": proc_status(hs.pid, "VmRSS"),
           "anon0": proc_status(hs.pid, "RssAnon")}
    t0 = time.time()
    try:
        while left > 0:
            n = min(PER_PROC, left)
            left -= n
            ready_r, ready_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(go_w)
                    hold_conns(n, rate / nkids, close_rate / nkids, ready_w, go_r)
                finally:
                    os._exit(1)
            os.close(ready_w)
            kids.append((pid, ready_r))
        ends = 0
        for pid, r in kids:
            line = os.read(r, 64).decode()
            if not line.startswith("ready"):
                sys.exit("bench_tls.py: a connection holder failed")
            ends += int(line.split()[1])
        res["open_s"] = time.time() - t0
        res["server_ends"] = ends
        time.sleep(2.0)  # let hstrace drain its ring buffer
        res["rss_open"] = proc_status(hs.pid, "VmRSS")
        res["anon_open"] = proc_status(hs.pid, "RssAnon")
        res["hwm_open"] = proc_status(hs.pid, "VmHWM")
    finally:
        t1 = time.time()
        os.close(go_w)  # every holder reads EOF, closes its sockets and exits
        for pid, r in kids:
            os.close(r)
            os.waitpid(pid, 0)
        os.close(go_r)
        res["close_s"] = time.time() - t1
    time.sleep(1.0)
    res["hwm"] = proc_status(hs.pid, "VmHWM")
    return res


def bench_rss(a):
    # The hard limit on open files is 20000 here and cannot be raised (no CAP_SYS_RESOURCE),
    # so several processes hold the connections, PER_PROC each.
    hs = Hstrace(["--all"])
    x = hold_phase(hs, a.conns, a.rate, a.rate)
    s = hs.stop()
    ends = a.conns + x["server_ends"]
    out("## hstrace memory with many connections open at once")
    out()
    out("Command: `tools/bench_tls.py rss --conns %d --rate %g --burst %d --burst-ring-kb %d`. "
        "`hstrace --all --json -o FILE` runs while %d processes open %d plain TCP connections "
        "on loopback, %g per second in all, and keep them all open (%d client + %d server "
        "sockets, both ends tracked: %d open connection ends); then they close them at the "
        "same rate (client end, then server end). RSS from /proc/PID/status: VmRSS counts the "
        "ring buffer's pages (4 MiB by default) twice from the start, as the kernel maps them "
        "twice in a row (so that a record never wraps), i.e. 8 MiB that are kernel memory "
        "shared with the BPF programs; RssAnon is hstrace's own heap and stacks, which the "
        "connections grow. Lost (ring-buffer records hstrace could not get, over the whole "
        "run: opening and closing) and evicted from hstrace's Summary line." %
        (a.conns, a.rate, a.burst, a.burst_ring_kb, x["kids"], a.conns, a.rate, a.conns,
         x["server_ends"], ends))
    out()
    out("| connections open | RSS before MiB | RSS with all open MiB | peak RSS (VmHWM) MiB | "
        "RssAnon before MiB | RssAnon with all open MiB | bytes of RssAnon per open end | "
        "opened in s | closed in s | lost | evicted |")
    out("|---|---|---|---|---|---|---|---|---|---|---|")
    out("| %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f | %d | %d |" % (
        a.conns, x["rss0"] / 1024, x["rss_open"] / 1024, x["hwm"] / 1024, x["anon0"] / 1024,
        x["anon_open"] / 1024, (x["anon_open"] - x["anon0"]) * 1024.0 / max(ends, 1),
        x["open_s"], x["close_s"], s.get("lost", -1), s.get("evicted", -1)))
    out()
    summary("hstrace RSS with %d connections open (%d ends tracked)" % (a.conns, ends),
            "%.1f MiB (peak %.1f; 8 MiB of it the default ring buffer, mapped twice; "
            "RssAnon %.1f MiB)" % (x["rss_open"] / 1024, x["hwm"] / 1024,
                                   x["anon_open"] / 1024), "<= 64 MiB")
    summary("lost records, %d connections opened and closed at %g/s" % (a.conns, a.rate),
            "%d" % s.get("lost", -1))
    if not a.burst:
        return
    rows = []
    for kb in (None, a.burst_ring_kb):
        hs = Hstrace(["--all"] + (["--ringbuf-kb", str(kb)] if kb else []))
        x = hold_phase(hs, a.burst, a.rate, 0)
        s = hs.stop()
        rows.append((kb, x, s))
    out("Close burst: the same with %d connections (opened at %g/s), which the holder "
        "processes then close all at once by exiting, once with hstrace's default ring "
        "buffer and once with `--ringbuf-kb %d`; a fresh hstrace each time. The ring "
        "buffer's pages count twice in hstrace's RSS from the start (see above)." %
        (a.burst, a.rate, a.burst_ring_kb))
    out()
    out("| connections closed at once | ring buffer | closed in s | lost | evicted | "
        "peak RSS (VmHWM) MiB |")
    out("|---|---|---|---|---|---|")
    for kb, x, s in rows:
        ring = "%d MiB%s" % ((kb or 4096) // 1024, "" if kb else " (default)")
        out("| %d | %s | %.2f | %d | %d | %.1f |" % (
            a.burst, ring, x["close_s"], s.get("lost", -1), s.get("evicted", -1),
            x["hwm"] / 1024))
        summary("lost records, %d connections closed at once, %s ring buffer" % (a.burst, ring),
                "%d" % s.get("lost", -1))
    out()


# ---------------------------------------------------------------------------------------------
# bpftrace on the same workload

BT_SCRIPT = r"""
tracepoint:sock:inet_sock_set_state /args->protocol == IPPROTO_TCP/ {
    @states[args->oldstate, args->newstate] = count();
    if (args->newstate == 2) { @syn_sent[args->skaddr] = nsecs; }
    if (args->oldstate == 2 && args->newstate == 1 && @syn_sent[args->skaddr]) {
        @tcp_connect_us = hist((nsecs - @syn_sent[args->skaddr]) / 1000);
        delete(@syn_sent[args->skaddr]);
    }
}
uprobe:LIBSSL:SSL_do_handshake { @hs_start[tid] = nsecs; @ssl_do_handshake_calls = count(); }
uretprobe:LIBSSL:SSL_do_handshake /@hs_start[tid]/ {
    if (retval == 1) { @ssl_handshake_done = count(); }
    @ssl_do_handshake_call_us = hist((nsecs - @hs_start[tid]) / 1000);
    delete(@hs_start[tid]);
}
END { clear(@syn_sent); clear(@hs_start); }
"""


def bench_bpftrace(a):
    if not shutil.which("bpftrace"):
        sys.exit("bench_tls.py: bpftrace is not installed (apt-get install bpftrace)")
    ng = Nginx(workers=1)
    d = P.tmpdir()
    script = os.path.join(d, "hs.bt")
    with open(script, "w") as f:
        f.write(BT_SCRIPT.replace("LIBSSL", LIBSSL))
    out("## The same workload traced by bpftrace")
    out()
    out("Command: `tools/bench_tls.py bpftrace --rounds %d --seconds %g`. TLS 1.3 handshakes "
        "with one GET (hs_load, 32 in flight, nginx on loopback), %g s per run, untraced / "
        "hstrace / bpftrace in turn. The bpftrace script traces the same TCP tracepoint "
        "(`sock:inet_sock_set_state`: a histogram of SYN_SENT -> ESTABLISHED) and "
        "`SSL_do_handshake` in libssl with a uprobe + uretprobe (calls, completed handshakes "
        "and a histogram of time per call); it is in tools/bench_tls.py (BT_SCRIPT)." %
        (a.rounds, a.seconds, a.seconds))
    out()
    out("| round | untraced hs/s | hstrace hs/s | bpftrace hs/s | hstrace ratio | "
        "bpftrace ratio |")
    out("|---|---|---|---|---|---|")
    u_l, h_l, b_l = [], [], []
    bt_out = ""
    for r in range(a.rounds):
        u = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=32, request="/")
        hs = Hstrace()
        h = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=32, request="/")
        hs.stop()
        btf = open(os.path.join(d, "bt.out"), "w")
        # bpftrace needs tracefs for the classic tracepoint: mount one for bpftrace's run if
        # none is there (hstrace leaves the one it mounted in place, but do not count on it).
        mounted = False
        if not os.path.exists("/sys/kernel/tracing/available_events"):
            mounted = subprocess.run(["mount", "-t", "tracefs", "nodev",
                                      "/sys/kernel/tracing"]).returncode == 0
        bt = P.start(["bpftrace", script], stdout=btf, stderr=subprocess.STDOUT)
        end = time.time() + 60
        while "Attaching" not in open(os.path.join(d, "bt.out")).read():
            if bt.poll() is not None or time.time() > end:
                sys.exit("bench_tls.py: bpftrace did not start: " +
                         open(os.path.join(d, "bt.out")).read())
            time.sleep(0.1)
        time.sleep(1.0)  # "Attaching N probes..." comes before the probes are attached
        b = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=32, request="/")
        P.stop(bt, signal.SIGINT, timeout=60)
        btf.close()
        if mounted:
            subprocess.run(["umount", "/sys/kernel/tracing"])
        bt_out = open(os.path.join(d, "bt.out")).read()
        u_l.append(u["hs_per_s"])
        h_l.append(h["hs_per_s"])
        b_l.append(b["hs_per_s"])
        out("| %d | %.0f | %.0f | %.0f | %.3f | %.3f |" % (
            r + 1, u["hs_per_s"], h["hs_per_s"], b["hs_per_s"], h["hs_per_s"] / u["hs_per_s"],
            b["hs_per_s"] / u["hs_per_s"]))
    out("| median | %.0f | %.0f | %.0f | **%.3f** | **%.3f** |" % (
        med(u_l), med(h_l), med(b_l), med(h_l) / med(u_l), med(b_l) / med(u_l)))
    out()
    out("What bpftrace reported in the last round (its own output, unedited):")
    out()
    out("```")
    out(bt_out.strip())
    out("```")
    out()
    summary("handshakes/s under bpftrace (TCP tracepoint + SSL_do_handshake uprobes) / untraced",
            "%.0f / %.0f = %.3f" % (med(b_l), med(u_l), med(b_l) / med(u_l)))
    summary("handshakes/s under hstrace / untraced (same runs)",
            "%.0f / %.0f = %.3f" % (med(h_l), med(u_l), med(h_l) / med(u_l)))
    ng.stop()


# ---------------------------------------------------------------------------------------------
# accuracy (the measurement of tests/integration/test_accuracy.py, reported in full)

def bench_accuracy(a):
    import contextlib
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness as H
    import test_accuracy as A
    A.N_PER_VERSION = a.conns
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the harness logs on stdout
            run = A.scenario(capture=True)
            rt, _ = A.round_trip_rows(run)
            cap, classes, worst, missing, _ = A.capture_rows(run)
            cu, _ = A.curl_rows(run)
    finally:
        with contextlib.redirect_stdout(sys.stderr):
            H.cleanup_all()

    def row(label, vals):
        v = sorted(vals)

        def pct(p):
            return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]

        out("| %s | %d | %d | %d | %d | %d | %d |" % (label, len(v), v[0], pct(50), pct(90),
                                                      pct(99), v[-1]))

    head = "| | n | min | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|---|"
    out("## Accuracy against imposed delay, a packet capture and curl")
    out()
    out("Command: `tools/bench_tls.py accuracy --conns %d` (the measurement that "
        "tests/integration/test_accuracy.py makes, with every number). Two network namespaces "
        "joined by build/netdelay (tools/netns_pair.sh), %g ms each way = %d µs round trip; "
        "`openssl s_server -www` in one, %d curl requests per TLS version (full handshakes, "
        "TLS 1.3 then 1.2) from the other; hstrace in the root namespace; tshark on the TUN "
        "device of each namespace. All values in µs." %
        (a.conns, A.DELAY_MS, A.RTT_US, a.conns))
    out()
    out("Round trips found by hstrace (a phase less the processing time hstrace measured on "
        "the two ends and less what netdelay added to its packets' delay; the imposed round "
        "trip is %d µs, the tests allow +-%d):" %
        (A.RTT_US, A.ROUND_TRIP_TOL_US))
    out()
    out(head)
    for label in sorted(rt):
        row(label, rt[label])
    out()
    out("hstrace time - capture time of the packet that carries the event (+ = hstrace "
        "later), per class and per event (the tests bound the p99 of every class by %d µs, "
        "of all events by %d µs, less for `in` events how long netdelay's write of the "
        "packet took):" % (A.KERNEL_P99_US, A.CAPTURE_P99_US))
    out()
    out(head)
    for cls in sorted(classes):
        row("**class: %s**" % cls, classes[cls])
        row("**class: %s, abs**" % cls, [abs(x) for x in classes[cls]])
    row("**all events**", [x for v in cap.values() for x in v])
    row("**all events, abs**", [abs(x) for v in cap.values() for x in v])
    for label in sorted(cap):
        row(label, cap[label])
    out()
    if missing:
        out("Events with no matching packet: %s" % missing)
        out()
    out("curl's own `-w` timings - hstrace's client timeline, both from the start of the "
        "connect (+ = curl later; the tests allow -%d..+%d µs each, median <= %d):" %
        (A.CURL_EARLY_US, A.CURL_LATE_US, A.CURL_MEDIAN_US))
    out()
    out(head)
    for label in sorted(cu):
        row(label, cu[label])
    out()
    allabs = sorted(abs(x) for v in cap.values() for x in v)
    summary("p99 abs(hstrace - capture), all wire events (n=%d)" % len(allabs),
            "%d µs" % allabs[min(len(allabs) - 1, int(round(0.99 * (len(allabs) - 1))))],
            "<= %d µs" % A.CAPTURE_P99_US)
    kern = sorted(abs(x) for c in ("kernel", "tls out") for x in classes.get(c, []))
    summary("p99 abs(hstrace - capture), kernel + tls-out events",
            "%d µs" % kern[min(len(kern) - 1, int(round(0.99 * (len(kern) - 1))))],
            "<= %d µs" % A.KERNEL_P99_US)
    for cls, target in (("tls out", 50), ("tls in", 100)):
        v = sorted(abs(x) for x in classes.get(cls, []))
        if v:
            summary("p99 abs(hstrace - capture), %s events (n=%d)" % (cls, len(v)),
                    "%d µs" % v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))],
                    "<= %d µs (issue 10)" % target)
    # Every event with a direction, TCP ones (syn_sent, fin_out; established, fin_in, ...)
    # included, by direction.
    for d in ("out", "in"):
        v = sorted(abs(x) for label, vals in cap.items() if label.endswith(" " + d)
                   for x in vals)
        if v:
            summary("p99 abs(hstrace - capture), every %s event, TCP and TLS (n=%d)"
                    % (d, len(v)), "%d µs" % v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))],
                    "")
    tcp = rt.get("client tcp_handshake", [0])
    summary("client tcp_handshake at %d µs RTT (median)" % A.RTT_US,
            "%d µs" % statistics.median(tcp), "%d +- %d µs" % (A.RTT_US, A.ROUND_TRIP_TOL_US))


# ---------------------------------------------------------------------------------------------

def print_summary():
    out("## Summary")
    out()
    out("| what | measured | target |")
    out("|---|---|---|")
    for what, value, target in SUMMARY:
        out("| %s | %s | %s |" % (what, value, target))
    out()
    if DISTURBED:
        out("**Not a clean run:** tracers that the benchmark did not start were running during "
            "%d of its %d load runs (hs_load, wrk), which they traced as well, untraced ones "
            "included (process name and pid: runs during which it ran): %s." %
            (LOAD_RUNS[1], LOAD_RUNS[0],
             ", ".join("%s: %d" % kv for kv in sorted(DISTURBED.items()))))
        out()


def uprobe_opts(p):
    p.add_argument("--hits-count", type=int, default=200,
                   help="hs_load handshakes per workload for the uprobe hit counts")
    p.add_argument("--gnutls-conns", type=int, default=20,
                   help="gnutls-cli connections (one process each) for the server-end count")


# ---------------------------------------------------------------------------------------------
# exports: --metrics and --otlp

def bench_exports(a):
    """What the exports cost hstrace: its own CPU per 1,000 handshakes with --json alone, with
    --metrics, and with --metrics and --otlp (a local receiver that decodes every request,
    tools/otlp_receiver.py, in this process), at a fixed rate, modes alternating per round.
    Then, at the highest rate hs_load reaches, exported connection spans / NDJSON records
    (target 1.000)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import otlp_receiver as R
    ng = Nginx(workers=1)
    rcv = R.Receiver(0).start()
    modes = [("--json", []), ("--json --metrics", ["--metrics", "127.0.0.1:0"]),
             ("--json --metrics --otlp", ["--metrics", "127.0.0.1:0", "--otlp", rcv.url()])]
    cpu = {m: [] for m, _ in modes}
    out("## Exports: hstrace CPU with --metrics and --otlp")
    out()
    out("Command: `tools/bench_tls.py exports --rate %g --seconds %g --rounds %d`. hs_load asks "
        "for %g TLS 1.3 handshakes/s (one GET each) against nginx (1 worker) on loopback; "
        "hstrace runs with `--json -o FILE` alone, plus `--metrics 127.0.0.1:0`, plus `--otlp` "
        "to a receiver on loopback that decodes every request (its CPU is not hstrace's). "
        "hstrace's own CPU from /proc/PID/stat, in ms per 1,000 handshakes (2 connection ends "
        "each); modes alternate within each round, medians over rounds." %
        (a.rate, a.seconds, a.rounds, a.rate))
    out()
    out("| round | mode | hs/s | hstrace ms per 1,000 handshakes |")
    out("|---|---|---|---|")
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    for r in range(a.rounds):
        order = modes if r % 2 == 0 else list(reversed(modes))
        for m, args in order:
            hs = Hstrace(list(args))
            h0 = cpu_ticks(hs.pid)
            t = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=16,
                        rate=a.rate, request="/")
            ticks = cpu_ticks(hs.pid) - h0
            hs.stop()
            cpu[m].append(ticks * tick_us / max(t["handshakes"], 1))
            out("| %d | %s | %.0f | %.1f |" % (r + 1, m, t["hs_per_s"], cpu[m][-1]))
    out()
    out("| mode | hstrace ms per 1,000 handshakes (median, min-max) | vs --json |")
    out("|---|---|---|")
    base = med(cpu["--json"])
    for m, _ in modes:
        c = cpu[m]
        out("| %s | %.1f (%.1f-%.1f) | %s |" % (m, med(c), min(c), max(c),
                                               "" if m == "--json" else "%+.1f" % (med(c) - base)))
        summary("hstrace CPU per 1,000 handshakes, %s (at %g hs/s)" % (m, a.rate),
                "%.1f ms (rounds %.1f-%.1f)" % (med(c), min(c), max(c)))
    out()
    # The highest rate: no --rate, 2 threads.
    before = len(rcv.conn_spans())
    hs = Hstrace(["--metrics", "127.0.0.1:0", "--otlp", rcv.url()])
    t = hs_load(ng.port, ng.ca, "1.3", seconds=a.seconds, concurrency=32, threads=2,
                request="/")
    res = hs.stop()
    recs = hs.records()
    spans = len(rcv.conn_spans()) - before
    out("At the highest rate (hs_load, 2 threads, 32 in flight, %g s): %.0f handshakes/s, %d "
        "NDJSON records, %d connection spans received, Summary otlp_exported=%s "
        "otlp_dropped=%s lost=%s: **exported / records = %.3f**." % (
            a.seconds, t["hs_per_s"], recs, spans, res.get("otlp_exported"),
            res.get("otlp_dropped"), res.get("lost"), spans / max(recs, 1)))
    summary("OTLP connection spans / NDJSON records at %.0f hs/s" % t["hs_per_s"],
            "%.3f (%d / %d)" % (spans / max(recs, 1), spans, recs), "1.000")
    out()
    rcv.stop()
    ng.stop()



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hstrace-args", default="", metavar="ARGS",
                    help="extra options for every traced run, e.g. to compare hstrace "
                         "configurations (one word list, split on blanks)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("throughput")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--request", action="store_true", help="one small GET per connection")
    p.add_argument("--variant", action="append", default=[], metavar="OPTIONS",
                   help="also run hstrace with these options each round (repeatable), "
                        "e.g. --variant=--no-uprobes")
    p = sub.add_parser("cpu")
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--seconds", type=float, default=6)
    p.add_argument("--rounds", type=int, default=3)
    uprobe_opts(p)
    p = sub.add_parser("uprobes", help="only the uprobe hits per handshake (part of cpu)")
    uprobe_opts(p)
    p = sub.add_parser("http")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections")
    p.add_argument("--variant", action="append", default=[], metavar="OPTIONS",
                   help="also run hstrace with these options each round (repeatable)")
    p = sub.add_parser("bulk")
    p.add_argument("--mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=6)
    p = sub.add_parser("share", help="hstrace's share of the CPU under a handshake load, "
                       "from perf samples")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--freq", type=int, default=4999, help="perf samples per second per CPU")
    p = sub.add_parser("bpfstats")
    p.add_argument("--seconds", type=float, default=10)
    p = sub.add_parser("lost")
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--key", choices=("ec", "rsa"), default="ec",
                   help="server key type (tools/tls_certs.sh): ec = ECDSA P-256 (default)")
    p.add_argument("--chain", action="store_true",
                   help="nginx sends the 2-certificate chain (server + CA) as in the other "
                        "benchmarks; default: the server certificate alone")
    p.add_argument("--workers", type=int, default=2, help="nginx worker processes")
    p.add_argument("--threads", type=int, default=2, help="hs_load threads")
    p.add_argument("--concurrency", type=int, default=64, help="hs_load connections in flight")
    p.add_argument("--ciphersuites", default="TLS_AES_128_GCM_SHA256",
                   help="TLS 1.3 cipher suites hs_load offers ('' = OpenSSL's default)")
    p = sub.add_parser("rss")
    p.add_argument("--conns", type=int, default=100000)
    p.add_argument("--rate", type=float, default=5000,
                   help="connections opened (and then closed) per second")
    p.add_argument("--burst", type=int, default=20000,
                   help="then that many connections closed at once, with the default ring "
                        "buffer and with --burst-ring-kb (0: skip)")
    p.add_argument("--burst-ring-kb", type=int, default=65536)
    p = sub.add_parser("bpftrace")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10)
    p = sub.add_parser("exports")
    p.add_argument("--rate", type=float, default=500)
    p.add_argument("--seconds", type=float, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p = sub.add_parser("accuracy")
    p.add_argument("--conns", type=int, default=10, help="connections per TLS version")
    p = sub.add_parser("all")
    p.add_argument("--quick", action="store_true",
                   help="shorter runs (about 7 minutes in all instead of about 14)")
    a = ap.parse_args()
    HSTRACE_ARGS.extend(a.hstrace_args.split())
    if os.geteuid() != 0:
        sys.exit("bench_tls.py: run as root")
    for f in (HSTRACE, HS_LOAD):
        if not os.access(f, os.X_OK):
            sys.exit("bench_tls.py: %s missing: run make all" % f)

    def ns(**kw):
        return argparse.Namespace(**kw)

    try:
        if a.cmd == "all":
            q = a.quick
            bench_accuracy(ns(conns=5 if q else 10))
            # More, shorter rounds than one long run each: the medians and the spread of the
            # per-round ratios say more on this noisy shared VM.
            bench_throughput(ns(rounds=3 if q else 5, seconds=4 if q else 6, concurrency=32,
                                request=False, variant=["--no-uprobes"]))
            bench_throughput(ns(rounds=3 if q else 5, seconds=4 if q else 6, concurrency=32,
                                request=True, variant=["--no-uprobes"]))
            bench_http(ns(rounds=3 if q else 7, seconds=3 if q else 5, connections=32,
                          variant=[]))
            bench_cpu(ns(rate=500, seconds=5 if q else 6, rounds=3 if q else 5,
                         hits_count=200, gnutls_conns=10 if q else 20))
            bench_exports(ns(rate=500, seconds=5 if q else 6, rounds=3))
            bench_bulk(ns(mib=1024, rounds=2 if q else 6))
            bench_bpfstats(ns(seconds=5 if q else 10))
            bench_share(ns(seconds=5 if q else 10, rounds=2 if q else 3, freq=4999))
            bench_lost(ns(rate=2000, seconds=10 if q else 60, key="ec", chain=False, workers=2,
                          threads=2, concurrency=64, ciphersuites="TLS_AES_128_GCM_SHA256"))
            bench_rss(ns(conns=100000, rate=5000, burst=20000, burst_ring_kb=65536))
            bench_bpftrace(ns(rounds=1 if q else 2, seconds=5 if q else 10))
        else:
            {"accuracy": bench_accuracy, "throughput": bench_throughput, "bulk": bench_bulk,
             "bpfstats": bench_bpfstats, "share": bench_share, "cpu": bench_cpu, "uprobes": bench_uprobe_hits,
             "http": bench_http, "exports": bench_exports,
             "lost": bench_lost, "rss": bench_rss, "bpftrace": bench_bpftrace}[a.cmd](a)
        print_summary()
    finally:
        P.stop_all()


if __name__ == "__main__":
    main()
