# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The Prometheus endpoint (--metrics, --metrics-by; docs/metrics.md).

A real Prometheus (Debian's `prometheus`, a temporary config and storage) scrapes hstrace every
second while real TLS traffic runs (nginx, curl); read back through Prometheus's HTTP API, the
connection counters equal the NDJSON the same hstrace run wrote, per role, result and server
name; histogram_quantile's p50 of tls_handshake lies within one bucket of `hstrace report`'s;
every PromQL expression of deploy/grafana/hstrace-dashboard.json returns data; and
`promtool check metrics` finds nothing to say about a scrape. The endpoint under bad input:
unknown paths (404), other methods (405), 20 concurrent scrapes, clients that connect and
send nothing or half a request (the others are served; the idle ones are dropped). Bad
--metrics values are usage errors (status 2); a port in use is an error (status 1)."""

import collections
import http.client
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import harness as H
import tls_peers as T
from harness import check

DASHBOARD = H.REPO / "deploy" / "grafana" / "hstrace-dashboard.json"
PHASES = ["tcp_handshake", "accept_wait", "idle_before_hello", "server_hello_rtt",
          "server_think", "tls_handshake", "ttfb", "response_time", "cert_verify", "total",
          "hello_read_wait", "app_think", "peer_think"]
# Upper bounds of the duration buckets (seconds): 1-2-5 per decade, 10 µs to 30 s.
BOUNDS = [m * 10.0 ** e for e in range(-5, 2) for m in (1, 2, 5)][:-1] + [30.0]
CONTENT_TYPE = "text/plain; version=0.0.4"


def metrics_url(hs, timeout=10.0):
    """The URL of the `hstrace: metrics on http://ADDR:PORT/metrics` stderr line."""
    end = time.monotonic() + timeout
    while True:
        m = re.search(r"^hstrace: metrics on (http://\S+/metrics)$", hs.stderr(), re.M)
        if m:
            return m.group(1)
        check(time.monotonic() < end and hs.proc.poll() is None,
              "hstrace printed no 'metrics on' line", hs.stderr())
        time.sleep(0.05)


def request(url, method="GET", path=None, timeout=20.0):
    """(status, content type, body) of one request."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, path or u.path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode()
    finally:
        conn.close()


def promtool_check(text):
    """`promtool check metrics` on text: nothing to report, status 0."""
    cp = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                        text=True, timeout=30)
    check(cp.returncode == 0 and not cp.stdout.strip() and not cp.stderr.strip(),
          "promtool check metrics: status %d\n%s%s" % (cp.returncode, cp.stdout, cp.stderr),
          text[:3000])


class Prometheus(T.Proc):
    """A real Prometheus scraping `target` (host:port) every second, with its own config and
    storage in a temporary folder, its API on a free loopback port."""

    def __init__(self, target):
        d = H.make_tmpdir()
        port, held = T._free_port()
        conf = d / "prometheus.yml"
        conf.write_text("""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hstrace
    metrics_path: /metrics
    static_configs:
      - targets: ['%s']
""" % target)
        held.close()
        self.api = "http://127.0.0.1:%d" % port
        super().__init__("prometheus", [
            "prometheus", "--config.file=%s" % conf, "--storage.tsdb.path=%s" % (d / "data"),
            "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"])
        end = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.api + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            check(self.proc.poll() is None and time.monotonic() < end,
                  "prometheus did not get ready", self.diag())
            time.sleep(0.1)

    def query(self, expr):
        """The result list of an instant query (fails on an API error)."""
        url = self.api + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            res = json.load(r)
        check(res.get("status") == "success", "query %r failed" % expr, res)
        return res["data"]["result"]

    def wait(self, expr, cond, what, timeout=20.0):
        """Polls expr until cond(result) holds; returns that result."""
        end = time.monotonic() + timeout
        while True:
            res = self.query(expr)
            if cond(res):
                return res
            check(time.monotonic() < end, "prometheus: %s (%s) within %gs; last result: %s"
                  % (what, expr, timeout, json.dumps(res)), self.diag())
            time.sleep(0.25)


def by_labels(res, *labels):
    """{(label values...): value} of a vector result."""
    return {tuple(r["metric"].get(l, "") for l in labels): float(r["value"][1]) for r in res}


def bucket(v):
    """Index of the duration bucket holding v seconds (len(BOUNDS): +Inf)."""
    for i, b in enumerate(BOUNDS):
        if v <= b * (1 + 1e-9):
            return i
    return len(BOUNDS)


def dashboard_exprs():
    """Every PromQL expression of the dashboard with its variables replaced by concrete
    values (Grafana's "All" regex, each phase of a repeated panel, a 1-minute rate window)."""
    dash = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    phases = [o["value"] for o in variables["phase"]["options"] if o["value"] != "$__all"]
    check(sorted(phases) == sorted(PHASES), "dashboard phase variable lists %s" % phases)

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    out = []
    for p in panels(dash["panels"]):
        for t in p.get("targets", []):
            expr = t["expr"].replace("$__rate_interval", "1m")
            expr = expr.replace('"$instance"', '".*"').replace('"$server_name"', '".*"')
            for e in ([expr.replace("${phase}", ph) for ph in phases] if "${phase}" in expr
                      else [expr]):
                check("$" not in e, "panel %r: a variable left in %r" % (p["title"], e))
                out.append((p["title"], e))
    check(len(out) >= 10, "the dashboard has only %d expressions" % len(out))
    return out


def test_prometheus_agrees_with_ndjson():
    certs = T.make_certs()
    nginx = T.Nginx(certs)
    out = H.make_tmpdir() / "conns.ndjson"
    hs = H.start_hstrace(["--json", "-o", str(out), "--port", str(nginx.port),
                          "--metrics", "127.0.0.1:0", "--metrics-by", "sni"])
    url = metrics_url(hs)
    prom = Prometheus(urllib.parse.urlsplit(url).netloc)
    prom.wait('up{job="hstrace"} == 1', lambda r: len(r) == 1, "a first scrape of hstrace")

    def wait_records(n):
        end = time.monotonic() + 20
        while True:
            text = out.read_text() if out.exists() else ""
            recs = [json.loads(l) for l in text[:text.rfind("\n") + 1].splitlines() if l]
            if len(recs) >= n:
                return recs
            check(time.monotonic() < end, "%d of %d records written" % (len(recs), n),
                  hs.stderr())
            time.sleep(0.1)

    # A first wave, scraped before the second, so that rates over the window see increases
    # on every series (a series' first sample counts from zero only from then on).
    n_conns = 0

    def wave(ok13, ok12, rejected):
        nonlocal n_conns
        for _ in range(ok13):
            T.curl(nginx.port, certs).wait_exit(30)
        for _ in range(ok12):
            T.curl(nginx.port, certs, args=["--tls-max", "1.2"]).wait_exit(30)
        for _ in range(rejected):  # the client rejects the server's CA: alert unknown_ca
            T.curl(nginx.port, certs, ca=certs.other_ca).wait_exit(30, expect=60)
        n_conns += ok13 + ok12 + rejected
        return wait_records(2 * n_conns)

    wave(2, 1, 1)
    prom.wait('sum(hstrace_connections_total)', lambda r: r and float(r[0]["value"][1]) == 4 * 2,
              "the first wave's 8 connection ends")
    recs = wave(10, 4, 2)
    check(len(recs) == 2 * n_conns, "%d records for %d connections (2 ends each)"
          % (len(recs), n_conns), recs)

    # Exactly the NDJSON's counts, once a scrape after the last record has been stored.
    prom.wait('sum(hstrace_connections_total)',
              lambda r: r and float(r[0]["value"][1]) == len(recs),
              "sum of hstrace_connections_total == %d NDJSON records" % len(recs))
    want = collections.Counter((r["role"], r["result"]) for r in recs)
    got = by_labels(prom.query('sum by (role, result) (hstrace_connections_total)'),
                    "role", "result")
    check({k: v for k, v in got.items() if v} == {k: float(v) for k, v in want.items()},
          "per role and result: prometheus %s, NDJSON %s" % (got, dict(want)))
    want = collections.Counter(r.get("tls", {}).get("sni", "") for r in recs)
    got = by_labels(prom.query('sum by (server_name) (hstrace_connections_total)'),
                    "server_name")
    check({k[0]: v for k, v in got.items()} == {k: float(v) for k, v in want.items()},
          "per server_name: prometheus %s, NDJSON %s" % (got, dict(want)))
    check(set(want) == {T.SNI}, "every record has SNI %s" % T.SNI, dict(want))
    alerts = collections.Counter((r["tls"]["alert"]["description"], r["role"] if
                                  r["tls"]["alert"]["dir"] == "out" else
                                  {"client": "server", "server": "client"}[r["role"]])
                                 for r in recs if "alert" in r.get("tls", {}))
    got = by_labels(prom.query('hstrace_tls_alerts_total'), "description", "sender")
    check(got == {k: float(v) for k, v in alerts.items()} and ("unknown_ca", "client") in got,
          "alerts: prometheus %s, NDJSON %s" % (got, dict(alerts)))
    n_phase = {ph: sum(1 for r in recs if ph in r["phases_us"]) for ph in PHASES}
    for ph, n in n_phase.items():
        res = prom.query('sum(hstrace_%s_duration_seconds_count)' % ph)
        got = float(res[0]["value"][1]) if res else 0.0
        check(got == n, "%s: %g observations in prometheus, %d in NDJSON" % (ph, got, n))
    versions = collections.Counter((r["role"], r["tls"]["version"]) for r in recs
                                   if "tls_handshake" in r["phases_us"])
    got = by_labels(prom.query('sum by (role, tls_version) '
                               '(hstrace_tls_handshake_duration_seconds_count)'),
                    "role", "tls_version")
    check(got == {k: float(v) for k, v in versions.items()},
          "tls_handshake by role and version: prometheus %s, NDJSON %s" % (got, dict(versions)))

    # The dashboard's expressions, with the second wave inside their 1-minute window.
    for title, expr in dashboard_exprs():
        prom.wait(expr, lambda r: len(r) > 0, "dashboard panel %r returns data" % title,
                  timeout=10)

    status, ctype, text = request(url)
    check(status == 200 and ctype.startswith(CONTENT_TYPE), "scrape: %d %r" % (status, ctype))
    promtool_check(text)

    p50 = prom.query('histogram_quantile(0.5, sum by (le) '
                     '(hstrace_tls_handshake_duration_seconds_bucket))')
    check(len(p50) == 1, "histogram_quantile gave %s" % p50)
    prom_p50 = float(p50[0]["value"][1])

    recs_before = len(recs)
    recs = hs.stop_ok(path=out)
    check(len(recs) == recs_before, "hstrace wrote %d more records at exit"
          % (len(recs) - recs_before), recs)
    cp = subprocess.run([str(H.HSTRACE), "report", "--json", str(out)], capture_output=True,
                        text=True, timeout=30)
    check(cp.returncode == 0, "hstrace report failed", cp.stderr)
    rep_p50 = json.loads(cp.stdout)["phases"]["tls_handshake"]["p50_us"] / 1e6
    H.log("tls_handshake p50: prometheus %.6f s (bucket %d), report %.6f s (bucket %d)"
          % (prom_p50, bucket(prom_p50), rep_p50, bucket(rep_p50)))
    check(abs(bucket(prom_p50) - bucket(rep_p50)) <= 1,
          "tls_handshake p50: prometheus %g s, hstrace report %g s: more than one bucket apart"
          % (prom_p50, rep_p50))


def test_endpoint_bad_input():
    hs = H.start_hstrace(["--json", "--metrics", "0", "--port", "1"])
    url = metrics_url(hs)
    u = urllib.parse.urlsplit(url)
    check(u.hostname == "127.0.0.1", "default address: %s" % url)
    # Two clients that never finish a request: one connects and sends nothing, one sends
    # half a request line.
    silent = socket.create_connection((u.hostname, u.port), timeout=30)
    half = socket.create_connection((u.hostname, u.port), timeout=30)
    half.sendall(b"GET /metr")
    H.add_cleanup(silent.close, "close silent client")
    H.add_cleanup(half.close, "close half-request client")

    status, ctype, text = request(url)
    check(status == 200 and ctype.startswith(CONTENT_TYPE), "GET /metrics: %d %r"
          % (status, ctype), text)
    check('hstrace_build_info{version="' in text, "no build_info", text)
    promtool_check(text)
    for path in ("/", "/metricsx", "/metrics/", "/favicon.ico", "/metrics?x=1/../"):
        status, _, body = request(url, path=path)
        want = 200 if path.startswith("/metrics?") else 404
        check(status == want, "GET %s: status %d, expected %d" % (path, status, want), body)
    for method in ("POST", "PUT", "DELETE"):
        status, _, _ = request(url, method=method)
        check(status == 405, "%s /metrics: status %d, expected 405" % (method, status))
    status, _, body = request(url, method="HEAD")
    check(status == 200 and body == "", "HEAD /metrics: %d, body %r" % (status, body[:100]))

    results = []

    def scrape():
        try:
            s, c, body = request(url)
            results.append((s, c, "# TYPE hstrace_connections_total counter" in body))
        except OSError as e:
            results.append(("error", repr(e), False))

    threads = [threading.Thread(target=scrape) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(len(results) == 20 and all(r[0] == 200 and r[1].startswith(CONTENT_TYPE) and r[2]
                                     for r in results),
          "20 concurrent scrapes: %s" % results)

    # The idle clients are dropped by the server's connection timeout (10 s): their reads
    # end (EOF or reset) instead of hanging until our 30 s socket timeout.
    for name, sock in (("silent", silent), ("half-request", half)):
        try:
            data = sock.recv(4096)
            check(data == b"" or data.startswith(b"HTTP/1.1 4"),
                  "%s client got %r" % (name, data[:200]))
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("%s client still connected after 30 s" % name)
    status, _, _ = request(url)
    check(status == 200, "a scrape after the idle clients: %d" % status)
    check(hs.stop() == 0, "hstrace exit status", hs.stderr())


def test_metrics_cli():
    for args in (["--metrics", "abc"], ["--metrics", "70000"], ["--metrics", "localhost:9464"],
                 ["--metrics", "::1:9464"], ["--metrics", "1.2.3.4:"], ["--metrics", ""],
                 ["--metrics-by", "sni"], ["--metrics", "0", "--metrics-by", "peer"]):
        cp = H.run_hstrace(args)
        check(cp.returncode == 2, "%s: status %d, expected 2" % (args, cp.returncode),
              cp.stderr)
        check("Usage:" in cp.stderr, "%s: no usage line" % args, cp.stderr)
    # A port in use: an error before tracing starts.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    H.add_cleanup(busy.close, "close busy socket")
    cp = H.run_hstrace(["--metrics", "127.0.0.1:%d" % busy.getsockname()[1]])
    check(cp.returncode == 1 and "cannot serve metrics on 127.0.0.1:%d"
          % busy.getsockname()[1] in cp.stderr, "port in use: status %d" % cp.returncode,
          cp.stderr)
    # IPv6 loopback, in brackets.
    hs = H.start_hstrace(["--metrics", "[::1]:0", "--port", "1"])
    url = metrics_url(hs)
    check(url.startswith("http://[::1]:"), "IPv6 URL %s" % url)
    status, ctype, text = request(url)
    check(status == 200 and ctype.startswith(CONTENT_TYPE), "GET %s: %d" % (url, status))
    check(hs.stop() == 0, "hstrace exit status", hs.stderr())
