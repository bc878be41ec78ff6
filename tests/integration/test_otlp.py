# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""--otlp URL: real hstrace, real TLS peers (openssl s_server / s_client), and
tools/otlp_receiver.py, which decodes every request with Python classes protoc generated from
the official opentelemetry-proto files (an independent decoder from hstrace's protobuf-c).

Each run also writes --json -o FILE, and the receiver's spans and metrics are compared with
that file: one root span per NDJSON record, one child span per phase, parents, times, the
attribute names of docs/otlp.md and their values, metric counters equal to the record counts.
Then the failure cases: a receiver that is down at the start, one that answers 503 for a
while, a slow one (hstrace's own output keeps flowing), and a queue too small (drops counted in
the Summary line and in the hstrace.otlp.dropped metric)."""

import json
import re
import socket
import sys
import time
import urllib.request

import harness as H
import tls_peers as T
from harness import check

sys.path.insert(0, str(H.REPO / "tools"))
import otlp_receiver as R  # noqa: E402

CLIENT = 3  # Span.SpanKind
SERVER = 2
INTERNAL = 1
STATUS_ERROR = 2
CUMULATIVE = 2

# Attributes every connection span has; TLS ones when the handshake was seen (docs/otlp.md).
CONN_ATTRS = {"network.peer.address", "network.peer.port", "network.local.address",
              "network.local.port", "network.transport", "network.type", "hstrace.result",
              "hstrace.role", "hstrace.cookie", "hstrace.sources"}
TLS_ATTRS = {"tls.protocol.version", "tls.cipher", "tls.curve", "tls.resumed",
             "tls.established"}
OWNER_ATTRS = {"process.pid", "hstrace.comm"}


def free_tcp_port():
    """A loopback port nothing listens on (bound and closed again)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_receiver(port=0):
    rcv = R.Receiver(port).start()
    H.add_cleanup(rcv.stop, "otlp receiver")
    H.log("otlp receiver on %s" % rcv.url())
    return rcv


def start_hstrace(url, extra=()):
    out = H.make_tmpdir() / "conns.ndjson"
    hs = H.start_hstrace(["--json", "-o", str(out), "--otlp", url, *extra])
    hs.ndjson = out
    return hs


def file_records(hs):
    """The records hstrace has written so far: complete lines only (it may be writing one)."""
    if not hs.ndjson.exists():
        return []
    text = hs.ndjson.read_text(errors="replace")
    recs = []
    for line in text.split("\n")[:-1]:
        if line.strip():
            recs.append(json.loads(line))
    return recs


def otlp_summary(hs):
    """{"otlp_exported": N, "otlp_dropped": N, "otlp_retries": N} from the Summary line."""
    line = [l for l in hs.stderr().splitlines() if l.startswith("Summary:")]
    check(len(line) == 1, "one Summary line expected", hs.stderr())
    out = {}
    for k in ("otlp_exported", "otlp_dropped", "otlp_retries"):
        m = re.search(r"\b%s=(\d+)\b" % k, line[0])
        check(m, "Summary line lacks %s=N" % k, line[0])
        out[k] = int(m.group(1))
    return out


def tls_traffic(certs, n, server_args=(), client_args=()):
    """n openssl s_client connections, one after the other, to one s_server."""
    srv = T.SServer(certs, list(server_args), naccept=n)
    for i in range(n):
        T.s_client(srv.port, certs, list(client_args), name="s_client %d" % i).wait_exit(30)
    srv.wait_exit(15)
    return srv


def refused_connect():
    """A connect() answered by RST (a failed connection: shown by default)."""
    port, _ = H.free_port()
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        pass
    finally:
        s.close()
    return port


def roots_by_cookie(rcv):
    """Connection spans by their hstrace.cookie (phase spans have none). A client's has no
    parent; a server's has one (the client's connection span) exactly when it has a conn_id."""
    out = {}
    for s in rcv.conn_spans():
        a = R.attrs(s.attributes)
        cookie = a["hstrace.cookie"]
        check(cookie not in out, "two connection spans for cookie %s" % cookie)
        check(bool(s.parent_span_id) == (a.get("hstrace.role") == "server"
                                         and "hstrace.conn_id" in a),
              "a connection span's parent", str(s))
        out[cookie] = s
    return out


def wait_export_failed(hs, timeout=10.0):
    """Waits for hstrace's line saying an export failed and will be retried."""
    end = time.monotonic() + timeout
    while "(retrying)" not in hs.stderr():
        check(time.monotonic() < end, "no failed export reported within %gs" % timeout,
              hs.stderr())
        time.sleep(0.1)


def wait_delivered(rcv, hs, timeout=15.0):
    """Waits until every record hstrace has written so far has its root span at the
    receiver."""
    def done():
        recs = file_records(hs)
        have = roots_by_cookie(rcv)
        return recs and all(str(r["cookie"]) in have for r in recs)
    ok = rcv.wait(done, timeout)
    check(ok, "the receiver did not get a root span for every record within %gs "
          "(%d roots, %d records)" % (timeout, len(rcv.conn_spans()), len(file_records(hs))),
          hs.stderr())


def check_against_ndjson(rcv, recs):
    """Every record has exactly its spans at the receiver, and the receiver nothing else."""
    spans = rcv.spans()
    roots = roots_by_cookie(rcv)
    check(len(roots) == len(recs), "%d root spans for %d NDJSON records"
          % (len(roots), len(recs)))
    children = {}
    ids = set()
    root_ids = {r.span_id for r in roots.values()}
    for res, s in spans:
        check(res.get("service.name") == "hstrace", "resource service.name", str(res))
        check(res.get("host.name") == socket.gethostname(), "resource host.name", str(res))
        check(len(s.trace_id) == 16 and len(s.span_id) == 8, "id lengths", str(s))
        check(s.span_id not in ids, "span id used twice", str(s))
        ids.add(s.span_id)
        if s.parent_span_id and s.span_id not in root_ids:
            children.setdefault(s.parent_span_id, []).append(s)
    # One trace per connection: its two ends' connection spans (both traced here, on
    # loopback) share it, the server's a child of the client's, through conn_id alone.
    by_trace = {}
    for r in roots.values():
        by_trace.setdefault(r.trace_id, []).append(r)
    for tid, rs in by_trace.items():
        check(len(rs) <= 2, "%d connection spans in one trace" % len(rs), [str(r) for r in rs])
        if len(rs) == 2:
            a0, a1 = (R.attrs(r.attributes) for r in rs)
            c, sv = (rs[0], rs[1]) if a0["hstrace.role"] == "client" else (rs[1], rs[0])
            check({a0["hstrace.role"], a1["hstrace.role"]} == {"client", "server"}
                  and a0.get("hstrace.conn_id") == a1.get("hstrace.conn_id")
                  and sv.parent_span_id == c.span_id and c.kind == CLIENT
                  and sv.kind == SERVER,
                  "a trace shared by other than the two ends of one connection",
                  [str(r) for r in rs])
    paired = [rec for rec in recs if rec.get("conn_id")
              and sum(1 for x in recs if x.get("conn_id") == rec["conn_id"]) == 2]
    for rec in paired:
        check(len(by_trace[roots[str(rec["cookie"])].trace_id]) == 2,
              "both ends of a connection traced here, not in one trace", rec)
    n_phase_spans = sum(len(v) for v in children.values())
    n_phases = sum(len(r["phases"]) for r in recs)
    check(n_phase_spans == n_phases, "%d phase spans for %d NDJSON phases"
          % (n_phase_spans, n_phases))
    check(len(spans) == len(roots) + n_phases, "spans other than roots and phases")

    for rec in recs:
        root = roots.get(str(rec["cookie"]))
        check(root is not None, "no root span for record", rec)
        a = R.attrs(root.attributes)
        what = "root span of %s %s" % (rec["role"], rec["cookie"])
        check(root.name == ("tls connection" if "tls" in rec else "tcp connection"),
              what + ": name %r" % root.name, rec)
        check(root.kind == (CLIENT if rec["role"] == "client" else SERVER),
              what + ": kind %d" % root.kind, rec)
        need = set(CONN_ATTRS)
        if rec.get("pid"):
            need |= OWNER_ATTRS
        if "tls" in rec and rec["tls"].get("version"):
            need |= TLS_ATTRS
        if (rec.get("tls") or {}).get("sni"):
            need.add("server.address")
        if ((rec.get("tls") or {}).get("alpn") or {}).get("selected"):
            need.add("tls.next_protocol")
        failed = rec["result"] in ("refused", "timeout", "reset", "tls_alert", "tls_failed")
        if failed:
            need.add("error.type")
        check(need <= set(a), what + ": missing attributes %s" % sorted(need - set(a)),
              rec, str(a))
        # Values agree with the NDJSON record.
        check(a["network.peer.address"] == rec["peer"]["addr"]
              and a["network.peer.port"] == rec["peer"]["port"]
              and a["network.local.address"] == rec["local"]["addr"]
              and a["network.local.port"] == rec["local"]["port"]
              and a["network.type"] == "ipv%d" % rec["ip_version"]
              and a["network.transport"] == "tcp"
              and a["hstrace.result"] == rec["result"] and a["hstrace.role"] == rec["role"],
              what + ": endpoint or result attributes differ from the record", rec, str(a))
        if rec.get("pid"):
            check(a["process.pid"] == rec["pid"] and a["hstrace.comm"] == rec["comm"],
                  what + ": owner", rec, str(a))
        check(a.get("hstrace.conn_id") == rec.get("conn_id"),
              what + ": hstrace.conn_id %r" % a.get("hstrace.conn_id"), rec)
        t = rec.get("tls") or {}
        for key, field in (("server.address", "sni"), ("tls.protocol.version", "version"),
                           ("tls.cipher", "cipher"), ("tls.curve", "group"),
                           ("tls.resumed", "resumed")):
            if field in t:
                check(a.get(key) == t[field], what + ": %s %r, record %s %r"
                      % (key, a.get(key), field, t[field]), rec)
        if t:
            check(a["tls.established"] == t["handshake_done"], what + ": tls.established", rec)
        if "tls.next_protocol" in need:
            check(a["tls.next_protocol"] == t["alpn"]["selected"], what + ": ALPN", rec)
        check((root.status.code == STATUS_ERROR) == failed,
              what + ": status %d for result %s" % (root.status.code, rec["result"]), rec)
        if failed:
            check(a["error.type"] == rec["result"], what + ": error.type", rec)
        # One span event per timeline event, in order, at the events' times.
        check([e.name for e in root.events] == [e["event"] for e in rec["events"]],
              what + ": span events %s" % [e.name for e in root.events], rec)
        t0 = root.events[0].time_unix_nano
        for se, e in zip(root.events, rec["events"]):
            check(abs((se.time_unix_nano - t0) // 1000 - e["t_us"]) <= 1,
                  what + ": event %s time" % e["event"], rec)
            ea = R.attrs(se.attributes)
            check(ea.get("dir") == e.get("dir") and ea.get("len", 0) == e.get("len", 0),
                  what + ": event %s dir/len %s" % (e["event"], ea), rec)
        check(root.start_time_unix_nano <= t0
              and root.end_time_unix_nano >= root.events[-1].time_unix_nano,
              what + ": the root does not span its events", rec)
        # Phase spans: children of this root, in its trace, inside it, at the phases' times.
        kids = children.get(root.span_id, [])
        got = sorted((k.name, (k.start_time_unix_nano - t0) // 1000,
                      (k.end_time_unix_nano - t0) // 1000) for k in kids)
        want = sorted((p["name"], p["start_us"], p["end_us"]) for p in rec["phases"])
        check(len(got) == len(want) and all(
            g[0] == w[0] and abs(g[1] - w[1]) <= 1 and abs(g[2] - w[2]) <= 1
            for g, w in zip(got, want)),
            what + ": phase spans %s, NDJSON phases %s" % (got, want), rec)
        for k in kids:
            check(k.trace_id == root.trace_id and k.kind == INTERNAL, what + ": child", rec)
            check(root.start_time_unix_nano <= k.start_time_unix_nano
                  <= k.end_time_unix_nano <= root.end_time_unix_nano,
                  what + ": phase span %s outside its root" % k.name, rec)
    return len(paired)


def metric_points(metric):
    kind = metric.WhichOneof("data")
    return [(R.attrs(p.attributes), p) for p in getattr(metric, kind).data_points]


def check_metrics(rcv, recs, dropped=0):
    """The last metrics request: counters = NDJSON counts, histograms = NDJSON phases."""
    m = rcv.last_metrics()
    check("hstrace.connections" in m, "no hstrace.connections metric", str(list(m)))
    conns = m["hstrace.connections"]
    check(conns.sum.is_monotonic and conns.sum.aggregation_temporality == CUMULATIVE,
          "hstrace.connections: a cumulative monotonic sum", str(conns))
    got = {}
    for a, p in metric_points(conns):
        if p.as_int:
            got[(a["role"], a["result"])] = p.as_int
    want = {}
    for r in recs:
        want[(r["role"], r["result"])] = want.get((r["role"], r["result"]), 0) + 1
    check(got == want, "hstrace.connections %s, NDJSON counts %s" % (got, want))
    # Histograms: per phase name, the counts by (role, TLS version) are the NDJSON's.
    want = {}
    for r in recs:
        ver = (r.get("tls") or {}).get("version")
        for p in r["phases"]:
            key = ("hstrace.%s.duration" % p["name"], r["role"], ver)
            want[key] = want.get(key, 0) + 1
    got = {}
    for name, metric in m.items():
        if not name.endswith(".duration"):
            continue
        check(metric.unit == "s" and metric.histogram.aggregation_temporality == CUMULATIVE,
              "%s: unit s, cumulative" % name)
        for a, p in metric_points(metric):
            check(len(p.explicit_bounds) == 21 and abs(p.explicit_bounds[0] - 1e-5) < 1e-12
                  and abs(p.explicit_bounds[-1] - 30) < 1e-9,
                  "%s: bounds %s" % (name, list(p.explicit_bounds)))
            check(len(p.bucket_counts) == 22 and sum(p.bucket_counts) == p.count,
                  "%s: bucket counts %s for count %d" % (name, list(p.bucket_counts), p.count))
            got[(name, a["role"], a.get("tls_version"))] = p.count
    check(got == want, "phase histograms %s, NDJSON phases %s" % (got, want))
    d = metric_points(m["hstrace.otlp.dropped"])[0][1].as_int
    check(d == dropped, "hstrace.otlp.dropped %d, expected %d" % (d, dropped))


# ---------------------------------------------------------------------------------------------

def test_otlp_traces_and_metrics():
    certs = T.make_certs()
    rcv = start_receiver()
    hs = start_hstrace(rcv.url())
    # TLS 1.3 (openssl's default) and TLS 1.2 with ALPN, both ends traced; one refused connect.
    tls_traffic(certs, 2)
    tls_traffic(certs, 2, ["-tls1_2", "-alpn", "http/1.1"], ["-alpn", "http/1.1"])
    refused_connect()
    H.settle(0.8)
    hs.stop_ok(path=hs.ndjson)
    recs = file_records(hs)
    s = otlp_summary(hs)
    check(len(recs) >= 9, "expected at least 4 TLS connections x 2 ends + 1 refused, got %d "
          "records" % len(recs))
    check(s["otlp_dropped"] == 0 and s["otlp_exported"] == len(recs),
          "Summary %s for %d records" % (s, len(recs)), hs.stderr())
    check(not [r for r in recs if r.get("pid") == hs.pid],
          "hstrace's own export connections were shown", recs)
    check(check_against_ndjson(rcv, recs) >= 8,
          "the 4 TLS connections' two ends are not each in one trace")
    check_metrics(rcv, recs)
    check(all(st == 200 for st in rcv.statuses()), "statuses %s" % rcv.statuses())
    # The attributes that only some connections have, seen at least once.
    seen = set()
    for s_ in rcv.conn_spans():
        seen |= set(R.attrs(s_.attributes))
    for name in ("server.address", "tls.next_protocol", "error.type", "tls.cipher"):
        check(name in seen, "no span has %s" % name)


def test_otlp_receiver_down_then_up():
    certs = T.make_certs()
    port = free_tcp_port()
    hs = start_hstrace("http://127.0.0.1:%d" % port)
    tls_traffic(certs, 3)
    # Nothing listens: the exporter says so and retries, while the output goes on.
    wait_export_failed(hs)
    check(len(file_records(hs)) >= 6, "records not written while the receiver is down",
          file_records(hs))
    rcv = start_receiver(port)
    wait_delivered(rcv, hs)
    tls_traffic(certs, 1)
    H.settle(0.5)
    hs.stop_ok(path=hs.ndjson)
    recs = file_records(hs)
    s = otlp_summary(hs)
    check(s["otlp_retries"] >= 1, "no retry counted while the receiver was down", hs.stderr())
    check(s["otlp_dropped"] == 0, "connections dropped: %s" % s, hs.stderr())
    check_against_ndjson(rcv, recs)
    check_metrics(rcv, recs)


def test_otlp_receiver_503_then_ok():
    certs = T.make_certs()
    rcv = start_receiver()
    rcv.fail(503, 3)
    hs = start_hstrace(rcv.url())
    tls_traffic(certs, 2)
    wait_delivered(rcv, hs)
    H.settle(0.5)
    hs.stop_ok(path=hs.ndjson)
    recs = file_records(hs)
    s = otlp_summary(hs)
    sts = rcv.statuses()
    check(sts[:3] == [503, 503, 503] and 200 in sts[3:], "statuses %s" % sts)
    check(s["otlp_retries"] >= 3 and s["otlp_dropped"] == 0, "Summary %s" % s, hs.stderr())
    check_against_ndjson(rcv, recs)
    check_metrics(rcv, recs)


def test_otlp_slow_receiver_output_flows():
    certs = T.make_certs()
    rcv = start_receiver()
    rcv.set_delay(30)  # held until released below
    hs = start_hstrace(rcv.url())
    tls_traffic(certs, 1)
    check(rcv.wait(lambda: rcv.in_flight > 0, 10), "no request reached the receiver")
    before = len(file_records(hs))
    # While the exporter waits for its answer, new connections are still written at once.
    srv = tls_traffic(certs, 2)
    ok = rcv.wait(lambda: len(H.by_port(file_records(hs), srv.port)) == 4, 5)
    check(ok, "records not written while the OTLP receiver stalls", file_records(hs))
    check(rcv.in_flight > 0 and not rcv.accepted("/v1/traces"),
          "the receiver answered before the check: it did not stall")
    check(len(file_records(hs)) >= before + 4, "records written meanwhile")
    rcv.set_delay(0)  # release it
    wait_delivered(rcv, hs)
    hs.stop_ok(path=hs.ndjson)
    recs = file_records(hs)
    check(otlp_summary(hs)["otlp_dropped"] == 0, "dropped", hs.stderr())
    check_against_ndjson(rcv, recs)


def test_otlp_queue_overflow_counted():
    certs = T.make_certs()
    port = free_tcp_port()
    hs = start_hstrace("http://127.0.0.1:%d" % port, ["--otlp-queue", "2", "--metrics",
                                                      "127.0.0.1:0"])
    tls_traffic(certs, 5)  # 10 ends or more while nothing listens: the queue overflows
    wait_export_failed(hs)
    rcv = start_receiver(port)
    H.settle(0.5)
    # The Prometheus endpoint counts the drops too (hstrace_otlp_dropped_total).
    m = re.search(r"metrics on (http://\S+/metrics)", hs.stderr())
    check(m, "no metrics URL line", hs.stderr())
    text = urllib.request.urlopen(m.group(1), timeout=10).read().decode()
    dm = re.search(r"^hstrace_otlp_dropped_total (\S+)$", text, re.M)
    check(dm and float(dm.group(1)) > 0, "hstrace_otlp_dropped_total on /metrics", text)
    dropped_scraped = float(dm.group(1))
    hs.stop_ok(path=hs.ndjson)
    recs = file_records(hs)
    s = otlp_summary(hs)
    check(s["otlp_dropped"] > 0, "no drop counted with a queue of 2", hs.stderr())
    check(dropped_scraped <= s["otlp_dropped"], "scraped drops above the Summary's", s)
    check("connections were not exported over OTLP (queue full: %d" % s["otlp_dropped"]
          in hs.stderr(), "no drop warning", hs.stderr())
    roots = roots_by_cookie(rcv)
    check(len(roots) == len(recs) - s["otlp_dropped"] == s["otlp_exported"],
          "%d roots delivered, %d records, Summary %s" % (len(roots), len(recs), s))
    # The metrics still count every connection, and the drops.
    check_metrics(rcv, recs, dropped=s["otlp_dropped"])


def test_otlp_bad_options():
    for args in (["--otlp", "ftp://127.0.0.1:4318"], ["--otlp", "127.0.0.1:4318"],
                 ["--otlp", "http://"], ["--otlp", "http://h:4318/?q=1"],
                 ["--otlp-queue", "4"], ["--otlp", "http://127.0.0.1:4318", "--otlp-queue", "0"],
                 ["--otlp", "http://127.0.0.1:4318", "--otlp-queue", "x"]):
        cp = H.run_hstrace(args)
        check(cp.returncode == 2, "%s: exit status %d, expected 2" % (args, cp.returncode))
        check("Usage:" in cp.stderr, "%s: no usage line" % args, cp.stderr)
