#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""soak.py - hstrace left on under a steady mix of good and failing connections (make soak).

  /usr/bin/python3 tools/soak.py [--minutes 30] [--rate 500] [--fail-pct 10] [--warmup 3]

nginx (2 workers) serves TLS on loopback; build/hs_load asks for RATE TLS 1.3 handshakes/s in
all: (100 - FAIL_PCT) % with the right CA (one GET each), FAIL_PCT % with a CA that does not
match (the client rejects the certificate: tls_alert), plus 20 connects/s to a closed port
(refused). hstrace runs the whole time with --json -o /dev/null --metrics 127.0.0.1:0
--metrics-by sni. Every 10 s: hstrace's RSS (/proc/PID/status VmRSS), CPU, and the /metrics
connection counter. At the end: RSS after the warm-up must stay within 5 % (max vs min), the
Summary must show lost=0, and the handshakes/s reached. Prints a Markdown section for
docs/benchmarks.md; exit status 1 when a target is missed. Root, and `make` first.
"""

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_tls as B  # noqa: E402  (nginx, hstrace and hs_load helpers)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M)
    return int(m.group(1)) if m else 0


def refuser(stop, per_s):
    """Connects to a closed port per_s times a second until stop is set."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    while not stop.is_set():
        c = socket.socket()
        try:
            c.connect(("127.0.0.1", port))
        except OSError:
            pass
        c.close()
        stop.wait(1.0 / per_s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--fail-pct", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=3, help="minutes left out of the RSS check")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak.py: run as root")
    secs = a.minutes * 60
    ng = B.Nginx(workers=2)
    other = B.Nginx(workers=1)  # its CA is the wrong one for ng
    hs = B.Hstrace(["--metrics", "127.0.0.1:0", "--metrics-by", "sni"])
    m = None
    end = time.time() + 30
    while not m and time.time() < end:
        m = re.search(r"metrics on (http://\S+/metrics)", open(hs.err).read())
        time.sleep(0.1)
    if not m:
        sys.exit("soak.py: hstrace printed no metrics URL")
    url = m.group(1)
    good_rate = a.rate * (100 - a.fail_pct) / 100
    bad_rate = a.rate - good_rate
    loads = [
        B.P.start([B.HS_LOAD, "--port", ng.port, "--sni", B.SNI, "--cafile", ng.ca, "--tls",
                   "1.3", "--concurrency", 32, "--threads", 2, "--duration", secs, "--rate",
                   good_rate, "--request", "/"],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        B.P.start([B.HS_LOAD, "--port", ng.port, "--sni", B.SNI, "--cafile", other.ca,
                   "--tls", "1.3", "--concurrency", 8, "--threads", 1, "--duration", secs,
                   "--rate", bad_rate],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    ]
    stop = threading.Event()
    th = threading.Thread(target=refuser, args=(stop, 20), daemon=True)
    th.start()
    t0 = time.time()
    samples = []  # (seconds, rss KiB, hstrace CPU s, connections counted)
    tick = os.sysconf("SC_CLK_TCK")
    while any(p.poll() is None for p in loads):
        time.sleep(10)
        try:
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            conns = sum(float(v) for v in re.findall(
                r"^hstrace_connections_total\{[^}]*\} (\S+)$", text, re.M))
        except OSError:
            conns = -1
        samples.append((time.time() - t0, rss_kib(hs.pid), B.cpu_ticks(hs.pid) / tick, conns))
        B.log("soak: %6.0f s rss %d KiB cpu %.1f s conns %.0f" % samples[-1])
    stop.set()
    results = []
    for p in loads:
        o, e = p.communicate()
        results.append(json.loads(o) if o.strip() else {"error": e})
    summ = hs.stop()
    warm = [s for s in samples if s[0] >= a.warmup * 60]
    rss = [s[1] for s in warm] or [0]
    spread = (max(rss) - min(rss)) / max(min(rss), 1) * 100
    dur = samples[-1][0] if samples else 1
    hs_rate = sum(r.get("handshakes", 0) + r.get("errors", 0) for r in results) / max(dur, 1)
    cpu_per_1000 = (samples[-1][2] - samples[0][2]) / max(
        (samples[-1][3] - samples[0][3]) / 2, 1) * 1000 * 1000 if len(samples) > 1 else 0
    ok = spread <= 5 and summ.get("lost", 1) == 0 and hs_rate >= a.rate * 0.9
    print("## Soak: %g minutes at %g handshakes/s, good and failing" % (a.minutes, a.rate))
    print()
    print("Command: `make soak` (`tools/soak.py --minutes %g --rate %g --fail-pct %g`): nginx "
          "(2 workers) on loopback; hs_load at %g TLS 1.3 handshakes/s with one GET each and "
          "%g/s whose client rejects the server's certificate (tls_alert); 20 refused connects/s; "
          "hstrace with `--json -o /dev/null --metrics 127.0.0.1:0 --metrics-by sni`, scraped "
          "every 10 s. Targets: RSS flat within 5 %% after %g minutes of warm-up, 0 records "
          "lost." % (a.minutes, a.rate, a.fail_pct, good_rate, bad_rate, a.warmup))
    print()
    print("| what | measured | target |")
    print("|---|---|---|")
    print("| handshakes/s reached (good + failing) | %.0f | %g |" % (hs_rate, a.rate))
    print("| connection ends hstrace reported | %d | |" % summ.get("connections", 0))
    print("| records lost | %d | 0 |" % summ.get("lost", -1))
    print("| hstrace RSS after warm-up, min-max (KiB) | %d-%d (%.1f %%) | within 5 %% |"
          % (min(rss), max(rss), spread))
    print("| hstrace CPU per 1,000 handshakes (whole run) | %.0f ms | |" % cpu_per_1000)
    print()
    print("RSS every 10 s (KiB): " + " ".join(str(s[1]) for s in samples[::6]) +
          " (every minute)")
    print()
    B.P.stop_all()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
