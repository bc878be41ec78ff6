# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""`hstrace report --html` (docs/report.md): real TLS traffic on loopback (openssl s_client
TLS 1.3 and 1.2, curl, a client that rejects the server's CA, a refused connect, and a Python
client whose comm and SNI carry `<script>`, quotes and `&`) traced to NDJSON, then the page
opened in headless Chromium (Debian `chromium`): its DOM holds the same numbers as
`hstrace report --json` for the same file, one waterfall row per event of exactly the
connections the documented rule chooses, the hostile strings as text and no script element;
Chromium logs no console message (the page's Content-Security-Policy would report any
blocked request or script there) with every request pointed at a closed proxy port. The
header's count of connections marked with lost events (tcp.close_lost, tls.desync) is that of
`report --json` and of the records. `report --html -` reads standard input (the traced file,
and fixtures with known marks, plain and gzip): the page says so and is the page of the file
but for its name. The
screenshot is kept as build/report.png, with the page and its NDJSON (build/report.html,
build/report.ndjson; docs/report-html.png and tests/golden/html.ndjson were made from them)."""

import gzip
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import harness as H
import tls_peers as TP
from harness import check

CHROMIUM = shutil.which("chromium")
SCREENSHOT = H.REPO / "build" / "report.png"
ARTEFACT_HTML = H.REPO / "build" / "report.html"
ARTEFACT_NDJSON = H.REPO / "build" / "report.ndjson"

# The hostile strings: a comm fits in 15 bytes; an SNI must pass Python's IDNA check (one
# label under 64 bytes) and hstrace keeps printable ASCII.
EVIL_COMM = "<script>\"'&x"
EVIL_SNI = "<script>alert(1)</script>\"'&</style>"

EVIL_CLIENT = r"""
import socket, ssl, sys
with open("/proc/self/comm", "w") as f:
    f.write(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname=sys.argv[3])
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
while s.recv(65536):
    pass
s.close()
print("done")
"""

RANK_PHASES = ("total", "tls_handshake", "tcp_handshake")
FAILED_ORDER = ("refused", "timeout", "reset", "tls_alert", "tls_failed")


# ---------------------------------------------------------------------------------------------
# a small DOM from html.parser

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children = []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def find_all(self, tag=None, cls=None, **attrs):
        out = []
        for n in self.walk():
            if tag and n.tag != tag:
                continue
            if cls and cls not in n.classes():
                continue
            if any(n.attrs.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(n)
        return out

    def find(self, *a, **kw):
        found = self.find_all(*a, **kw)
        check(len(found) == 1, "expected one <%s %s %s>, found %d" % (a, kw, "", len(found)))
        return found[0]


class DomBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root
        self.starts = {}

    def handle_starttag(self, tag, attrs):
        self.starts[tag] = self.starts.get(tag, 0) + 1
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.starts[tag] = self.starts.get(tag, 0) + 1
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse_dom(text):
    b = DomBuilder()
    b.feed(text)
    b.close()
    return b.root, b.starts


# ---------------------------------------------------------------------------------------------
# helpers

def chromium(args, timeout=60):
    """Runs headless Chromium (no sandbox: we are root) with every request sent to a closed
    proxy port and every name resolving to nothing; returns (stdout, stderr)."""
    check(CHROMIUM, "chromium not installed (make deps installs it)")
    prof = H.make_tmpdir()
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
           "--user-data-dir=%s" % prof, "--proxy-server=127.0.0.1:9",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0",
           "--log-level=0", "--hide-scrollbars", *args]
    H.log("$ " + " ".join(cmd))
    cp = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                        timeout=timeout, cwd=prof)
    check(cp.returncode == 0, "chromium exited with %d" % cp.returncode, cp.stderr[-4000:])
    return cp.stdout, cp.stderr


def console_lines(stderr):
    return [l for l in stderr.splitlines() if "CONSOLE" in l or "net::ERR" in l]


def rank(rec):
    for p in RANK_PHASES:
        if p in rec["phases_us"]:
            return rec["phases_us"][p]
    return None


def chosen(recs, n):
    """The records (1-based numbers) the page must draw, computed here from the NDJSON: the n
    slowest by total, else tls_handshake, else tcp_handshake; then up to n failed ones not
    among them, taken in turn from each failure result (in FAILED_ORDER), the slowest of each
    first (by the same phases, else by the last event); ties to the earlier record."""
    slow = sorted(((rank(r), i) for i, r in enumerate(recs, 1) if rank(r) is not None),
                  key=lambda x: (-x[0], x[1]))[:n]
    slow_ids = [i for _, i in slow]
    lists = []
    for result in FAILED_ORDER:
        kind = []
        for i, r in enumerate(recs, 1):
            if r["result"] == result:
                k = rank(r)
                kind.append((k if k is not None else (r["events"][-1]["t_us"] if r["events"]
                                                      else 0), i))
        # each kind keeps its n slowest, then those already drawn are left out
        lists.append([i for _, i in sorted(kind, key=lambda x: (-x[0], x[1]))[:n]
                      if i not in slow_ids])
    failed = []
    while len(failed) < n and any(lists):
        for lst in lists:
            if lst and len(failed) < n:
                failed.append(lst.pop(0))
    return slow_ids, failed


def phase_rows(table):
    """{phase: [count, min, p50, p90, p99, max]} from a percentile table."""
    rows = {}
    for tr in table.find_all("tr"):
        if "data-phase" not in tr.attrs:
            continue
        tds = tr.find_all("td")
        vals = [int(tds[0].attrs["data-n"])] + [int(td.attrs["data-us"]) for td in tds[1:]]
        # the text is the same number in ms
        for td in tds[1:]:
            us = int(td.attrs["data-us"])
            check(td.text() == "%d.%03d" % (us // 1000, us % 1000), "cell text %r for %d µs"
                  % (td.text(), us))
        rows[tr.attrs["data-phase"]] = vals
    return rows


def json_rows(phases):
    return {name: [p["count"], p["min_us"], p["p50_us"], p["p90_us"], p["p99_us"], p["max_us"]]
            for name, p in phases.items()}


def check_static(html):
    """Nothing in the page can load anything or run anything: no URL, no element that loads
    or runs, no src/on* attribute, links only to the page's own fragments, one style block."""
    low = html.lower()
    for bad in ("http://", "https://", "//:"):
        check(bad not in low, "the page contains %r" % bad)
    for tag in re.findall(r"<[a-z][^>]*>", low):
        name = re.match(r"<([a-z0-9]+)", tag).group(1)
        check(name not in ("script", "link", "iframe", "object", "embed", "img", "image",
                           "use", "base", "form", "frame", "audio", "video", "source"),
              "the page has a <%s> element" % name)
        names = re.sub(r'"[^"]*"', '""', tag)  # attribute names only (values are escaped)
        check(not re.search(r"\s(src|srcset|action|xlink:href|on[a-z]+)\s*=", names),
              "attribute that loads or runs in %r" % tag)
        for href in re.findall(r"\shref\s*=\s*\"([^\"]*)\"", tag):
            check(href.startswith("#"), "link out of the page: %r" % href)
    style = low[low.index("<style>"):low.index("</style>")]
    check("url(" not in style and "@import" not in style, "the style loads something")
    check(low.count("</style>") == 1 and low.count("<style") == 1,
          "one style block expected (an input string closed it?)")
    check("content-security-policy" in low and "default-src 'none'" in html,
          "the page has no Content-Security-Policy default-src 'none'")


def lost_marks(recs):
    """The marks of lost events the records carry (docs/json.md: tcp.close_lost, tls.desync,
    written only when true), counted here: {"connections", "close_lost", "desync"}."""
    close = [(r.get("tcp") or {}).get("close_lost") is True for r in recs]
    desync = [(r.get("tls") or {}).get("desync") is True for r in recs]
    return {"connections": sum(c or d for c, d in zip(close, desync)),
            "close_lost": sum(close), "desync": sum(desync)}


def check_lost_row(dom, rep, recs):
    """The header's lost-events row holds the counts of `report --json` (lost_marks) and of the
    records themselves, and says where records lost whole are counted."""
    td = dom.find("td", id="lost")
    got = {"connections": int(td.attrs["data-n"]), "close_lost": int(td.attrs["data-close-lost"]),
           "desync": int(td.attrs["data-desync"])}
    check(got == rep["lost_marks"] == lost_marks(recs),
          "lost events: page %s, report --json %s, the records %s"
          % (got, rep["lost_marks"], lost_marks(recs)))
    text = td.text()
    check(text.startswith("%d connection" % got["connections"]), "lost row text %r" % text)
    for words in ("lost=", "Summary:", "hstrace_records_lost_total", "not in the file"):
        check(words in text, "the lost row does not say %r" % words, text)


def check_stdin_page(path, args=()):
    """`hstrace report --html [args] -` with path on standard input: the page says it came from
    standard input, holds the connections (and records, lost marks) of `report --json` on the
    same file, and is the page `report --html [args] PATH` makes but for the file's name.
    Returns the page's DOM."""
    recs = [json.loads(l) for l in open(path) if l.strip()]
    cmd = [str(H.hstrace_path()), "report", "--html", *args, "-"]
    H.log("$ %s < %s" % (" ".join(cmd), path))
    with open(path, "rb") as f:
        cp = subprocess.run(cmd, stdin=f, capture_output=True, text=True, timeout=30)
    check(cp.returncode == 0 and cp.stderr == "", "report --html -: status %d" % cp.returncode,
          cp.stderr)
    html = cp.stdout
    check_static(html)
    by_path = H.run_hstrace(["report", "--html", *args, str(path)])
    check(by_path.returncode == 0, "report --html %s: status %d" % (path, by_path.returncode),
          by_path.stderr)
    check(html.count("standard input") == 2 and
          html.replace("standard input", str(path)) == by_path.stdout,
          "the page of standard input differs from the page of %s beyond its name" % path)
    cp = H.run_hstrace(["report", "--json", str(path)])
    check(cp.returncode == 0, "report --json status %d" % cp.returncode, cp.stderr)
    rep = json.loads(cp.stdout)

    dom, _ = parse_dom(html)
    check(dom.find("td", id="file").text() == "standard input", "the page does not say "
          "standard input: %r" % dom.find("td", id="file").text())
    title = dom.find("head").find_all("title")  # the others are SVG tooltips
    check(len(title) == 1 and title[0].text() == "hstrace report: standard input",
          "the page's title is not of standard input")
    conns = dom.find("td", id="conns")
    check(int(conns.attrs["data-n"]) == rep["connections"] == len(recs),
          "connections: page %s, report --json %d, file %d"
          % (conns.attrs["data-n"], rep["connections"], len(recs)))
    check(int(conns.attrs["data-failed"]) == rep["failed"], "failed connections differ")
    lines = dom.find("td", id="lines")
    check(int(lines.attrs["data-records"]) == rep["input"]["records"] == len(recs) and
          int(lines.attrs["data-skipped"]) == rep["input"]["skipped"],
          "records/skipped: page %s, report --json %s" % (lines.attrs, rep["input"]))
    check_lost_row(dom, rep, recs)
    return dom


def run_traffic(tmp):
    """Real traffic to one s_server port, traced with --port; returns (ndjson path, records)."""
    certs = TP.make_certs()
    n_tls = 5
    srv = TP.SServer(certs, naccept=n_tls)
    ndjson = tmp / "conns.ndjson"
    hs = H.start_hstrace(["--json", "--port", str(srv.port), "-o", str(ndjson)])
    TP.s_client(srv.port, certs, name="s_client tls1.3").wait_exit(30)
    TP.s_client(srv.port, certs, args=["-tls1_2"], name="s_client tls1.2").wait_exit(30)
    TP.curl(srv.port, certs).wait_exit(30)
    # the test CA is not the server's: the client rejects the certificate with an alert
    TP.s_client(srv.port, certs, ca=certs.other_ca, name="s_client other CA").wait_exit(
        30, expect=None)
    evil = TP.Proc("evil client", [H.PYTHON, "-c", EVIL_CLIENT, str(srv.port), EVIL_COMM,
                                   EVIL_SNI])
    evil.wait_exit(30)
    srv.wait_exit(30)
    # nothing listens there any more: refused
    TP.plain_client(srv.port, name="refused client").wait_exit(30, expect=None)
    H.settle(0.8)
    recs = hs.stop_ok(path=ndjson)
    return ndjson, recs


# ---------------------------------------------------------------------------------------------
# tests

def test_report_html_real_traffic():
    tmp = H.make_tmpdir()
    ndjson, recs = run_traffic(tmp)
    results = sorted(r["result"] for r in recs)
    check("tls_alert" in results and "refused" in results and results.count("ok") >= 6,
          "expected ok, tls_alert and refused connections, got %s" % results, recs)
    evil = [r for r in recs if r.get("tls", {}).get("sni") == EVIL_SNI]
    check(len(evil) == 2, "expected both ends of the connection with SNI %r" % EVIL_SNI, recs)
    check(any(r["comm"] == EVIL_COMM for r in evil), "no record with comm %r" % EVIL_COMM, recs)

    page = tmp / "report.html"
    cp = H.run_hstrace(["report", "--html", "--by", "sni", "-o", str(page), str(ndjson)])
    check(cp.returncode == 0 and cp.stdout == "", "report --html -o: status %d" % cp.returncode,
          cp.stderr)
    check(oct(page.stat().st_mode & 0o777) == oct(0o600), "-o file mode %o" % page.stat().st_mode)
    html = page.read_text()
    shutil.copy(page, ARTEFACT_HTML)
    shutil.copy(ndjson, ARTEFACT_NDJSON)
    check_static(html)
    cp = H.run_hstrace(["report", "--json", "--by", "sni", str(ndjson)])
    check(cp.returncode == 0, "report --json status %d" % cp.returncode, cp.stderr)
    rep = json.loads(cp.stdout)

    dom_text, err = chromium(["--dump-dom", page.as_uri()])
    check(not console_lines(err), "Chromium logged console or network messages",
          "\n".join(console_lines(err)))
    dom, starts = parse_dom(dom_text)
    check(starts.get("script", 0) == 0, "the rendered DOM has a <script> element", dom_text)
    check(dom.find("td", id="conns").attrs["data-n"] == str(len(recs)) == str(rep["connections"]),
          "connections in the header")
    check_lost_row(dom, rep, recs)

    # the same numbers as --json: totals, groups, histograms, results and alerts
    check(phase_rows(dom.find("table", id="phases")) == json_rows(rep["phases"]),
          "percentile table differs from report --json", rep["phases"])
    groups = {s.attrs["data-key"]: s for s in dom.find_all("section", cls="group")}
    want = {g["key"]: g for g in rep["groups"]}
    if "other" in rep:
        want[[k for k, s in groups.items() if s.attrs.get("data-other")][0]] = rep["other"]
    check(set(groups) == set(want), "groups %s, --json has %s" % (sorted(groups), sorted(want)))
    check(EVIL_SNI in groups, "no group keyed by the hostile SNI")
    for key, g in want.items():
        tables = groups[key].find_all("table")  # none for a group without phases
        check((phase_rows(tables[0]) if tables else {}) == json_rows(g["phases"]),
              "group %r differs from report --json" % key, g)
    for fig in dom.find_all("figure", cls="hist"):
        buckets = [{"low": int(b.attrs["data-low"]), "high": int(b.attrs["data-high"]),
                    "count": int(b.attrs["data-count"])} for b in fig.find_all("g", cls="bucket")]
        check(buckets == rep["phases"][fig.attrs["data-phase"]]["log2_hist"],
              "histogram of %s differs" % fig.attrs["data-phase"], buckets)
    check(len(dom.find_all("figure", cls="hist")) == len(rep["phases"]), "one histogram a phase")
    for tid, key in (("results", "results"), ("alerts", "alerts")):
        got = {tr.attrs["data-name"]: int(tr.find_all("td")[0].attrs["data-n"])
               for tr in dom.find("table", id=tid).find_all("tr") if "data-name" in tr.attrs}
        check(got == rep[key], "%s table %s, --json %s" % (tid, got, rep[key]))

    # waterfalls: exactly the chosen connections, one row per event, one per phase
    slow_ids, failed_ids = chosen(recs, 20)
    wfs = dom.find_all("section", cls="wf")
    check([int(s.attrs["data-record"]) for s in wfs] == slow_ids + failed_ids,
          "waterfalls of records %s, expected %s then %s"
          % ([s.attrs["data-record"] for s in wfs], slow_ids, failed_ids))
    n_rows = sum(len(s.find_all("tr", cls="ev")) for s in wfs)
    check(n_rows == sum(len(recs[i - 1]["events"]) for i in slow_ids + failed_ids),
          "%d waterfall event rows for the chosen connections' events" % n_rows)
    for s in wfs:
        rec = recs[int(s.attrs["data-record"]) - 1]
        evs = [tr.find_all("td")[3].text() for tr in s.find_all("tr", cls="ev")]
        check([e.split(" ")[0] for e in evs] == [e["event"] for e in rec["events"]],
              "waterfall events differ from the record", evs, rec)
        check([tr.attrs["data-phase"] for tr in s.find_all("tr", cls="ph")] ==
              [p["name"] for p in rec["phases"]], "waterfall phases differ", rec)
        if rec.get("tls", {}).get("sni"):
            check(s.find("td", data_key="sni").text() == rec["tls"]["sni"], "SNI cell", rec)
    # the hostile strings are text in the page, never markup
    heads = [s.find("h3").text() for s in wfs]
    check(any(EVIL_COMM + "[" in h for h in heads), "the hostile comm is not shown as text",
          heads)

    # the same file on standard input
    check_stdin_page(ndjson, ["--by", "sni"])

    # fewer waterfalls: the choice follows the documented rule
    cp = H.run_hstrace(["report", "--html", "--waterfalls", "2", str(ndjson)])
    check(cp.returncode == 0, "--waterfalls 2 status %d" % cp.returncode, cp.stderr)
    dom2, _ = parse_dom(cp.stdout)
    slow_ids, failed_ids = chosen(recs, 2)
    check([int(s.attrs["data-record"]) for s in dom2.find_all("section", cls="wf")] ==
          slow_ids + failed_ids, "--waterfalls 2 drew other records")

    # the screenshot, a build artefact
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    _, err = chromium(["--screenshot=%s" % SCREENSHOT, "--window-size=1400,3000",
                       page.as_uri()])
    check(SCREENSHOT.is_file() and SCREENSHOT.stat().st_size > 20000 and
          SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "no screenshot at %s" % SCREENSHOT)
    check(not console_lines(err), "console messages while taking the screenshot", err[-3000:])


def test_report_html_stdin():
    """`hstrace report --html -` reads standard input: recorded real traffic
    (tests/golden/html.ndjson) and a file whose records carry known marks of lost events
    (tests/golden/lost.ndjson: tcp.close_lost on 2 records, tls.desync on 2, 3 connections
    marked); gzip data on standard input too."""
    golden = H.REPO / "tests" / "golden"
    dom = check_stdin_page(golden / "html.ndjson")
    check(dom.find("td", id="lost").attrs["data-n"] == "0", "marks in html.ndjson?")
    dom = check_stdin_page(golden / "lost.ndjson", ["--waterfalls", "3"])
    td = dom.find("td", id="lost")
    check((td.attrs["data-n"], td.attrs["data-close-lost"], td.attrs["data-desync"]) ==
          ("3", "2", "2"), "lost.ndjson: expected 3 connections marked (2 close_lost, "
          "2 desync), the page says %s" % td.attrs)

    tmp = H.make_tmpdir()
    gz = tmp / "lost.ndjson.gz"
    gz.write_bytes(gzip.compress((golden / "lost.ndjson").read_bytes()))
    with open(gz, "rb") as f:
        cp = subprocess.run([str(H.hstrace_path()), "report", "--html", "-"], stdin=f,
                            capture_output=True, text=True, timeout=30)
    check(cp.returncode == 0, "report --html - (gzip): status %d" % cp.returncode, cp.stderr)
    dom, _ = parse_dom(cp.stdout)
    check(dom.find("td", id="file").text() == "standard input" and
          dom.find("td", id="conns").attrs["data-n"] == "5" and
          dom.find("td", id="lost").attrs["data-n"] == "3", "gzip on standard input")


def test_report_html_injection():
    """Crafted records put markup in every input string (comm, SNI, addresses, ALPN, cipher,
    phase and event names, the file name): the page shows them as text and Chromium runs
    nothing; a control page with the same policy and one real inline script shows that the
    console check would see it."""
    tmp = H.make_tmpdir()
    evil = "</style><script>alert(1)</script><img src=x onerror=alert(2)>\"'&amp;"
    rec = {"schema": "hstrace/2", "start": "2026-12-03T10:00:00.000000Z", "role": "client",
           "pid": 7, "comm": evil[:15], "local": {"addr": evil, "port": 1},
           "peer": {"addr": "127.0.0.1", "port": 443}, "ip_version": 4, "result": "tls_alert",
           "events": [{"t_us": 0, "event": "syn_sent", "dir": "out"},
                      {"t_us": 10, "event": "established", "dir": "in"},
                      {"t_us": 20, "event": evil, "dir": "out", "app_us": 15}],
           "phases_us": {"tcp_handshake": 10, evil: 10},
           "phases": [{"name": "tcp_handshake", "start_us": 0, "end_us": 10, "from": 0,
                       "from_at": "wire", "to": 1, "to_at": "wire"},
                      {"name": evil, "start_us": 10, "end_us": 20, "from": 1,
                       "from_at": "wire", "to": 2, "to_at": "app"}],
           "tcp": {"syn_retransmits": 0, "srtt_us": 5, "bytes_sent": 0, "bytes_received": 0},
           "tls": {"sni": evil, "version": evil, "cipher": evil,
                   "alpn": {"offered": [evil], "selected": evil},
                   "alert": {"level": evil, "description": evil, "dir": "in"}}}
    name = tmp / "<script>alert(3)&'\"<b>.ndjson"
    name.write_text(json.dumps(rec) + "\n")
    page = tmp / "evil.html"
    cp = H.run_hstrace(["report", "--html", "--by", "comm", "-o", str(page), str(name)])
    check(cp.returncode == 0, "status %d" % cp.returncode, cp.stderr)
    html = page.read_text()
    check_static(html)
    dom_text, err = chromium(["--dump-dom", page.as_uri()])
    check(not console_lines(err), "Chromium logged console messages",
          "\n".join(console_lines(err)))
    dom, starts = parse_dom(dom_text)
    for tag in ("script", "img"):
        check(starts.get(tag, 0) == 0, "the DOM has a <%s> element" % tag, dom_text)
    check(dom.find("td", id="file").text() == str(name), "file name not shown as text")
    wf = dom.find("section", cls="wf")
    check(wf.find("td", data_key="sni").text() == evil, "SNI not shown as text")
    check(evil[:15] + "[7]" in wf.find("h3").text(), "comm not shown as text")
    check(dom.find("section", cls="group").attrs["data-key"] == evil[:15], "group key")
    check(len(dom.find_all("figure", cls="hist")) == 2, "the page stopped rendering early")

    control = tmp / "control.html"
    control.write_text(html.replace("</body>", "<script>console.log('ran')</script></body>"))
    _, err = chromium(["--dump-dom", control.as_uri()])
    check(console_lines(err), "control: Chromium logged nothing for a blocked inline script, "
          "so the console check above proves nothing", err[-3000:])


def test_report_html_cli():
    """Options: --waterfalls needs --html, --html excludes --json and --join, bad numbers;
    all with the usage and exit status 2. -o refuses a symlink."""
    fixture = str(H.REPO / "tests" / "golden" / "mixed.ndjson")
    for args in (["--waterfalls", "3"], ["--html", "--json"], ["--html", "--join"],
                 ["--html", "--waterfalls", "-1"], ["--html", "--waterfalls", "1001"],
                 ["--html", "--waterfalls", "x"], ["--html", "-o", ""]):
        cp = H.run_hstrace(["report", *args, fixture])
        check(cp.returncode == 2 and "Usage:" in cp.stderr and cp.stdout == "",
              "report %s: status %d, expected 2 with the usage" % (args, cp.returncode),
              cp.stderr)
    tmp = H.make_tmpdir()
    target = tmp / "target"
    target.write_text("keep")
    link = tmp / "link.html"
    os.symlink(target, link)
    cp = H.run_hstrace(["report", "--html", "-o", str(link), fixture])
    check(cp.returncode == 1 and target.read_text() == "keep", "-o followed a symlink",
          cp.stderr)
    cp = H.run_hstrace(["report", "--html", "--waterfalls", "0", fixture])
    check(cp.returncode == 0 and "class=\"wf\"" not in cp.stdout and "id=\"phases\"" in
          cp.stdout, "--waterfalls 0: tables, no waterfall", cp.stderr)
