# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""--otlp URL: real hstrace, real TLS peers (openssl s_server / s_client), and
tools/otlp_receiver.py, which decodes every request with Python classes protoc generated from
the official opentelemetry-proto files (an independent decoder from hstrace's protobuf-c).

Each run also writes --json -o FILE, and the receiver's spans and metrics are compared with
that file: one root span per NDJSON record, one child span per phase, parents, times, the
attribute names of docs/otlp.md and their values, metric counters equal to the record counts
(per --metrics-by value too) and to the Summary line's; the metrics, under the OTel ->
Prometheus name translation, are the families of the Prometheus endpoint of the same run and
cover every metric the Grafana dashboard queries. Then the failure cases: a receiver that is
down at the start, one that answers 503 for a while, 429 (backoff), 429 with Retry-After, 400
(the batch dropped, counted as refused), one that never answers (the exit flush gives up at
its deadline, all counted unsent), a slow one (hstrace's own output keeps flowing), and a
queue too small (drops counted in the Summary line and in the hstrace.otlp.dropped
metric)."""

import json
import os
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


def summary_counts(hs):
    """Every key=N of the Summary line (lost, unmatched, dropped, malformed, otlp_*, ...)."""
    line = [l for l in hs.stderr().splitlines() if l.startswith("Summary:")]
    check(len(line) == 1, "one Summary line expected", hs.stderr())
    return {k: int(v) for k, v in re.findall(r"\b(\w+)=(\d+)\b", line[0])}


# --metrics-by KEY: its label (docs/metrics.md), and the cap on distinct values.
BY_LABEL = {"sni": "server_name", "comm": "comm", "port": "port"}
BY_MAX_VALUES = 100


def by_values(recs, by):
    """The --metrics-by value of each record, in output order, capped as docs/metrics.md says:
    the first 100 distinct values are kept, later ones are "other"; "" (unknown) is never
    capped. ["" ...] without a KEY."""
    kept, out = set(), []
    for r in recs:
        v = ""
        if by == "sni":
            v = (r.get("tls") or {}).get("sni") or ""
        elif by == "comm":
            v = (r.get("comm") or "") if r.get("pid") else ""
        elif by == "port":
            v = str(r["local"]["port"] if r["role"] == "server" else r["peer"]["port"])
        if v and v not in kept:
            if len(kept) < BY_MAX_VALUES:
                kept.add(v)
            else:
                v = "other"
        out.append(v)
    return out


def hstrace_version():
    """The version `hstrace --version` prints ("hstrace 0.1" -> "0.1")."""
    cp = H.run_hstrace(["--version"])
    check(cp.returncode == 0 and cp.stdout.startswith("hstrace "), "hstrace --version",
          cp.stdout, cp.stderr)
    return cp.stdout.split()[1]


def one_point(m, name, kind):
    """The only data point of metric name, which must be a cumulative monotonic sum ("sum") or
    a gauge ("gauge") without attributes (but hstrace.build_info's)."""
    check(name in m, "no %s metric" % name, str(sorted(m)))
    metric = m[name]
    check(metric.WhichOneof("data") == kind, "%s: a %s, not %s" % (name, kind,
                                                                   metric.WhichOneof("data")))
    if kind == "sum":
        check(metric.sum.is_monotonic and metric.sum.aggregation_temporality == CUMULATIVE,
              "%s: a cumulative monotonic sum" % name, str(metric))
    pts = metric_points(metric)
    check(len(pts) == 1, "%s: %d points, expected 1" % (name, len(pts)), str(metric))
    return pts[0]


def check_metrics(rcv, recs, dropped=0, hs=None, by=None, t_run=None):
    """The last metrics request: counters = NDJSON counts, histograms = NDJSON phases, both
    per value of the --metrics-by label `by` when given. With hs (stopped): the record and
    exporter counters equal its Summary line, build info, CPU and memory (t_run: seconds
    hstrace ran, an upper bound of its CPU time per CPU)."""
    m = rcv.last_metrics()
    check("hstrace.connections" in m, "no hstrace.connections metric", str(list(m)))
    label = BY_LABEL.get(by)
    byv = by_values(recs, by)
    conns = m["hstrace.connections"]
    check(conns.sum.is_monotonic and conns.sum.aggregation_temporality == CUMULATIVE,
          "hstrace.connections: a cumulative monotonic sum", str(conns))
    got = {}
    for a, p in metric_points(conns):
        check(set(a) <= {"role", "result", label}, "hstrace.connections attributes %s" % a)
        check(a.get(label) != "", "hstrace.connections: an empty %s attribute" % label)
        if p.as_int:
            got[(a["role"], a["result"], a.get(label, ""))] = p.as_int
    want = {}
    for r, v in zip(recs, byv):
        want[(r["role"], r["result"], v)] = want.get((r["role"], r["result"], v), 0) + 1
    check(got == want, "hstrace.connections %s, NDJSON counts %s" % (got, want))
    # Histograms: per phase name, the counts by (role, TLS version, by value) are the
    # NDJSON's.
    want = {}
    for r, v in zip(recs, byv):
        ver = (r.get("tls") or {}).get("version")
        for p in r["phases"]:
            key = ("hstrace.%s.duration" % p["name"], r["role"], ver, v)
            want[key] = want.get(key, 0) + 1
    got = {}
    for name, metric in m.items():
        if not name.endswith(".duration"):
            continue
        check(metric.unit == "s" and metric.histogram.aggregation_temporality == CUMULATIVE,
              "%s: unit s, cumulative" % name)
        for a, p in metric_points(metric):
            check(set(a) <= {"role", "tls_version", label}, "%s attributes %s" % (name, a))
            check(len(p.explicit_bounds) == 21 and abs(p.explicit_bounds[0] - 1e-5) < 1e-12
                  and abs(p.explicit_bounds[-1] - 30) < 1e-9,
                  "%s: bounds %s" % (name, list(p.explicit_bounds)))
            check(len(p.bucket_counts) == 22 and sum(p.bucket_counts) == p.count,
                  "%s: bucket counts %s for count %d" % (name, list(p.bucket_counts), p.count))
            got[(name, a["role"], a.get("tls_version"), a.get(label, ""))] = p.count
    check(got == want, "phase histograms %s, NDJSON phases %s" % (got, want))
    # TLS alerts by description and sender (no --metrics-by label, as on /metrics).
    want = {}
    for r in recs:
        al = (r.get("tls") or {}).get("alert")
        if not al:
            continue
        other = {"client": "server", "server": "client"}.get(r["role"], "unknown")
        sender = {"out": r["role"], "in": other}.get(al.get("dir"), "unknown")
        key = (al.get("description") or "encrypted", sender)
        want[key] = want.get(key, 0) + 1
    got = {}
    if "hstrace.tls.alerts" in m:
        for a, p in metric_points(m["hstrace.tls.alerts"]):
            got[(a["description"], a["sender"])] = p.as_int
    check(got == want, "hstrace.tls.alerts %s, NDJSON alerts %s" % (got, want))
    d = metric_points(m["hstrace.otlp.dropped"])[0][1].as_int
    check(d == dropped, "hstrace.otlp.dropped %d, expected %d" % (d, dropped))
    if hs is None:
        return
    # The families the Prometheus endpoint has besides: the Summary line's record counters,
    # the exporter's counters, build info, CPU and memory.
    s = summary_counts(hs)
    for key in ("lost", "unmatched", "dropped", "malformed"):
        a, p = one_point(m, "hstrace.records.%s" % key, "sum")
        check(not a and m["hstrace.records.%s" % key].unit == "{record}"
              and p.WhichOneof("value") == "as_int" and p.as_int == s[key],
              "hstrace.records.%s = %d (attributes %s), Summary %s=%d"
              % (key, p.as_int, a, key, s[key]), hs.stderr())
    for key in ("exported", "dropped"):
        a, p = one_point(m, "hstrace.otlp.%s" % key, "sum")
        check(p.as_int == s["otlp_" + key], "hstrace.otlp.%s = %d, Summary otlp_%s=%d"
              % (key, p.as_int, key, s["otlp_" + key]), hs.stderr())
    a, p = one_point(m, "hstrace.build_info", "gauge")
    check(a == {"version": hstrace_version()} and p.as_int == 1,
          "hstrace.build_info %s = %d" % (a, p.as_int))
    a, p = one_point(m, "hstrace.process.cpu", "sum")
    check(not a and m["hstrace.process.cpu"].unit == "s" and p.as_double > 0
          and (t_run is None or p.as_double < t_run * os.cpu_count() + 1),
          "hstrace.process.cpu %r s (hstrace ran %s s)" % (p.as_double, t_run))
    a, p = one_point(m, "hstrace.process.resident_memory", "gauge")
    check(not a and m["hstrace.process.resident_memory"].unit == "By"
          and (1 << 20) < p.as_int < (4 << 30),
          "hstrace.process.resident_memory %d bytes" % p.as_int)


# The OTel -> Prometheus name translation (the Collector's prometheus and prometheusremotewrite
# exporters, pkg/translator/prometheus): characters other than [a-zA-Z0-9_:] become "_"; a unit
# in braces is dropped, a known one becomes a word appended unless the name has it already;
# a gauge of unit "1" gets "_ratio"; a monotonic sum gets "_total".
UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "By": "bytes", "1": None}


def prometheus_name(metric):
    kind = metric.WhichOneof("data")
    name = re.sub(r"[^a-zA-Z0-9_:]", "_", metric.name)
    unit = metric.unit
    word = None
    if unit == "1":
        word = "ratio" if kind == "gauge" else None
    elif unit and not (unit.startswith("{") and unit.endswith("}")):
        check(unit in UNIT_WORDS, "%s: unit %r has no known translation" % (metric.name, unit))
        word = UNIT_WORDS[unit]
    if word and word not in name.split("_"):
        name += "_" + word
    if kind == "sum" and metric.sum.is_monotonic and not name.endswith("_total"):
        name += "_total"
    return name


PROM_TYPE = {"sum": "counter", "gauge": "gauge", "histogram": "histogram"}


def prometheus_families(text):
    """{family: (type, label names with a non-empty value, all label names)} of a scrape;
    only families that have samples; and {family: type} of every family declared."""
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    out = {}
    for name, labels in re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$", text,
                                   re.M):
        fam = name
        if fam not in types:
            fam = re.sub(r"_(bucket|sum|count)$", "", name)
        check(fam in types, "sample %s of no family" % name)
        pairs = re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or "")
        _, nonempty, names = out.setdefault(fam, (types[fam], set(), set()))
        for k, v in pairs:
            if k != "le":
                names.add(k)
                if v:
                    nonempty.add(k)
    return out, types


# ---------------------------------------------------------------------------------------------

def test_otlp_traces_and_metrics():
    certs = T.make_certs()
    rcv = start_receiver()
    t0 = time.monotonic()
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
    check_metrics(rcv, recs, hs=hs, t_run=time.monotonic() - t0)
    check(all(st == 200 for st in rcv.statuses()), "statuses %s" % rcv.statuses())
    # The attributes that only some connections have, seen at least once.
    seen = set()
    for s_ in rcv.conn_spans():
        seen |= set(R.attrs(s_.attributes))
    for name in ("server.address", "tls.next_protocol", "error.type", "tls.cipher"):
        check(name in seen, "no span has %s" % name)


def test_otlp_metrics_as_prometheus():
    """The OTLP metrics are the Prometheus endpoint's families. With --metrics and
    --metrics-by sni in the same run: every family /metrics has samples of is, under the
    OTel -> Prometheus translation of its name, an OTLP metric of the same type and labels,
    and every OTLP metric is a declared family; each metric the Grafana dashboard queries
    (its phases: those the run had) and the labels it selects on (instance from
    service.instance.id, server_name) are there; the counts equal the NDJSON and the Summary
    line's (records, exporter), build info is --version's."""
    certs = T.make_certs()
    rcv = start_receiver()
    t0 = time.monotonic()
    hs = start_hstrace(rcv.url(), ["--metrics", "127.0.0.1:0", "--metrics-by", "sni"])
    m = re.search(r"metrics on (http://\S+/metrics)", hs.stderr())
    check(m, "no metrics URL line", hs.stderr())
    prom_url = m.group(1)
    tls_traffic(certs, 2)
    srv = T.SServer(certs, ["-tls1_2"])  # and a connection without SNI
    T.s_client(srv.port, certs, sni=None, name="s_client no SNI").wait_exit(30)
    srv.wait_exit(15)
    # A client that rejects the server's certificate: a TLS alert (hstrace_tls_alerts_total).
    srv = T.SServer(certs, ["-tls1_2"])
    T.s_client(srv.port, certs, ca=certs.other_ca, name="s_client other CA").wait_exit(
        30, expect=1)
    srv.wait_exit(15)
    refused_connect()
    H.settle(0.8)
    text = urllib.request.urlopen(prom_url, timeout=10).read().decode()
    hs.stop_ok(path=hs.ndjson)
    t_run = time.monotonic() - t0
    recs = file_records(hs)
    check(sum(1 for v in by_values(recs, "sni") if v) >= 6 and "" in by_values(recs, "sni"),
          "expected records with and without SNI", recs)
    check(any((r.get("tls") or {}).get("alert") for r in recs), "no record with an alert",
          recs)
    check_metrics(rcv, recs, hs=hs, by="sni", t_run=t_run)

    last = rcv.accepted("/v1/metrics")[-1]
    res = R.attrs(last.resource_metrics[0].resource.attributes)
    check(res.get("service.name") == "hstrace"
          and res.get("service.instance.id") == socket.gethostname(),
          "resource: service.name makes `job`, service.instance.id `instance`", str(res))
    otlp = {}
    for x in rcv.last_metrics().values():
        name = prometheus_name(x)
        check(name not in otlp, "two OTLP metrics translate to %s" % name)
        otlp[name] = x
    prom, types = prometheus_families(text)
    check(len(prom) >= 12, "only %d families with samples on /metrics" % len(prom), text)
    for fam, (typ, nonempty, names) in sorted(prom.items()):
        check(fam in otlp, "/metrics family %s has no OTLP metric (OTLP, translated: %s)"
              % (fam, sorted(otlp)))
        x = otlp[fam]
        check(PROM_TYPE[x.WhichOneof("data")] == typ, "%s: a %s on /metrics, OTLP %s %s"
              % (fam, typ, x.name, x.WhichOneof("data")))
        keys = set()
        for a, _ in metric_points(x):
            keys |= set(a)
        check(nonempty <= keys <= names, "%s: labels %s on /metrics (%s with values), OTLP "
              "%s attributes %s" % (fam, sorted(names), sorted(nonempty), x.name,
                                     sorted(keys)))
    for fam, x in otlp.items():
        check(fam in types and types[fam] == PROM_TYPE[x.WhichOneof("data")],
              "OTLP %s (%s) translates to %s, not a %s family of /metrics"
              % (x.name, x.WhichOneof("data"), fam, PROM_TYPE[x.WhichOneof("data")]))
    # The dashboard's metric names (a histogram's _bucket/_count/_sum series included) and
    # the labels it selects on.
    dash = (H.REPO / "deploy" / "grafana" / "hstrace-dashboard.json").read_text()
    phases = {p["name"] for r in recs for p in r["phases"]}
    refs = set(re.findall(r"hstrace_(?:[a-zA-Z0-9_]|\$\{phase\})+", dash))
    check(len(refs) >= 10, "dashboard metric names %s" % sorted(refs))
    for ref in sorted(refs):
        for n in ([ref.replace("${phase}", ph) for ph in phases] if "${phase}" in ref
                  else [ref]):
            base = n if n in otlp else re.sub(r"_(bucket|count|sum)$", "", n)
            check(base in otlp and (base == n or otlp[base].WhichOneof("data") == "histogram"),
                  "the dashboard queries %s: no OTLP metric translates to it" % n,
                  sorted(otlp))
    for fam in ("hstrace_connections_total", "hstrace_tls_handshake_duration_seconds"):
        check(any(a.get("server_name") for a, _ in metric_points(otlp[fam])),
              "%s: no server_name attribute (the dashboard's server_name panels)" % fam)


def test_otlp_metrics_by_port_capped():
    """--metrics-by port with --otlp alone: a client end's value is its peer's port, a server
    end's its own; the first 100 distinct ports get their own series, the rest "other", every
    count equal to the NDJSON's (105 refused connects to distinct ports, and TLS both ends)."""
    certs = T.make_certs()
    rcv = start_receiver()
    hs = start_hstrace(rcv.url(), ["--metrics-by", "port"])
    tls_traffic(certs, 1)
    ports = [refused_connect() for _ in range(105)]
    H.settle(0.8)
    hs.stop_ok(path=hs.ndjson)
    recs = file_records(hs)
    refused = [r for r in recs if r["result"] == "refused" and r["peer"]["port"] in ports]
    check(len(refused) == 105, "%d records of the 105 refused connects" % len(refused))
    check(by_values(recs, "port").count("other") >= 5, "the cap of 100 ports was not reached",
          by_values(recs, "port"))
    check_metrics(rcv, recs, hs=hs, by="port")


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
    check_metrics(rcv, recs, hs=hs)


def run_through_failures(status, n, **fail):
    """A receiver that answers its first n requests with HTTP status (rcv.fail(), **fail
    passed on), hstrace exporting 2 TLS connections to it until all are delivered, then
    stopped. Returns (receiver, hstrace, its NDJSON records, its Summary's otlp counters)."""
    certs = T.make_certs()
    rcv = start_receiver()
    rcv.fail(status, n, **fail)
    hs = start_hstrace(rcv.url())
    tls_traffic(certs, 2)
    wait_delivered(rcv, hs)
    H.settle(0.5)
    hs.stop_ok(path=hs.ndjson)
    return rcv, hs, file_records(hs), otlp_summary(hs)


def test_otlp_receiver_503_then_ok():
    rcv, hs, recs, s = run_through_failures(503, 3)
    sts = rcv.statuses()
    check(sts[:3] == [503, 503, 503] and 200 in sts[3:], "statuses %s" % sts)
    check(s["otlp_retries"] >= 3 and s["otlp_dropped"] == 0, "Summary %s" % s, hs.stderr())
    check_against_ndjson(rcv, recs)
    check_metrics(rcv, recs, hs=hs)


def test_otlp_receiver_429_backoff():
    """HTTP 429 is retried with the documented backoff (200 ms, then doubling: each wait at
    least that long, measured from the receiver's answer to the next request), logged once,
    then delivered: nothing dropped."""
    rcv, hs, recs, s = run_through_failures(429, 3)
    h = rcv.history()
    check([x[1] for x in h[:4]] == [429, 429, 429, 200] and h[3][0] == "/v1/traces",
          "requests %s" % [(x[0], x[1]) for x in h])
    for i, step in enumerate((0.2, 0.4, 0.8)):
        gap = h[i + 1][2] - h[i][3]
        check(gap >= step * 0.95, "retry %d came %.3f s after the 429, backoff %.1f s"
              % (i + 1, gap, step), [(x[0], x[1], round(x[2] - h[0][2], 3)) for x in h])
    check(s["otlp_retries"] >= 3 and s["otlp_dropped"] == 0
          and s["otlp_exported"] == len(recs), "Summary %s for %d records" % (s, len(recs)),
          hs.stderr())
    err = hs.stderr()
    check(err.count("HTTP 429 (retrying)") == 1 and "works again" in err,
          "one failure line, then one 'works again'", err)
    check_against_ndjson(rcv, recs)
    check_metrics(rcv, recs, hs=hs)


def test_otlp_receiver_retry_after():
    """A 429 with Retry-After: 2 delays the next request by those 2 s (the backoff alone would
    wait 200 ms); then delivered, nothing dropped."""
    rcv, hs, recs, s = run_through_failures(429, 1, retry_after=2)
    h = rcv.history()
    check([x[1] for x in h[:2]] == [429, 200], "requests %s" % [(x[0], x[1]) for x in h])
    gap = h[1][2] - h[0][3]
    check(gap >= 2 * 0.95, "the retry came %.3f s after a 429 with Retry-After: 2" % gap)
    check(s["otlp_retries"] >= 1 and s["otlp_dropped"] == 0
          and s["otlp_exported"] == len(recs), "Summary %s for %d records" % (s, len(recs)),
          hs.stderr())
    check_against_ndjson(rcv, recs)
    check_metrics(rcv, recs, hs=hs)


def test_otlp_receiver_400_drops_batch():
    """A 400 is not retried: that trace batch is dropped and counted as refused by the
    receiver (Summary otlp_dropped, the warning line, hstrace.otlp.dropped); the batches after
    it are delivered; the metrics still count every connection."""
    certs = T.make_certs()
    rcv = start_receiver()
    rcv.fail(400, 1)
    hs = start_hstrace(rcv.url())
    tls_traffic(certs, 2)
    check(rcv.wait(lambda: rcv.history(), 15), "no request reached the receiver", hs.stderr())
    check(rcv.history()[0][:2] == ("/v1/traces", 400),
          "the first request (refused) was not a trace batch", rcv.history())
    srv = tls_traffic(certs, 1)  # after the refused batch: delivered
    ok = rcv.wait(lambda: len(H.by_port(file_records(hs), srv.port)) == 2 and all(
        str(r["cookie"]) in roots_by_cookie(rcv)
        for r in H.by_port(file_records(hs), srv.port)), 15)
    check(ok, "the connections after the refused batch were not delivered", hs.stderr())
    H.settle(0.5)
    hs.stop_ok(path=hs.ndjson)
    recs = file_records(hs)
    s = otlp_summary(hs)
    roots = roots_by_cookie(rcv)
    check(s["otlp_retries"] == 0, "a 400 was retried: Summary %s" % s, hs.stderr())
    check(s["otlp_dropped"] > 0 and len(roots) == s["otlp_exported"]
          and s["otlp_exported"] + s["otlp_dropped"] == len(recs),
          "Summary %s, %d delivered, %d records" % (s, len(roots), len(recs)), hs.stderr())
    # The refused batch was the first: the dropped connections are the first ones shown.
    missing = [str(r["cookie"]) for r in recs if str(r["cookie"]) not in roots]
    check(missing == [str(r["cookie"]) for r in recs[:s["otlp_dropped"]]],
          "the dropped connections are not the first batch", missing)
    check(rcv.statuses("/v1/traces").count(400) == 1, "the refused batch was sent again",
          rcv.statuses())
    err = hs.stderr()
    check("HTTP 400 (dropped)" in err, "no failure line for the 400", err)
    check("%d connections were not exported over OTLP (queue full: 0, refused by the receiver:"
          " %d, unsent at exit: 0)" % (s["otlp_dropped"], s["otlp_dropped"]) in err,
          "no drop line counting the refused batch", err)
    check_metrics(rcv, recs, dropped=s["otlp_dropped"], hs=hs)


def test_otlp_exit_flush_deadline():
    """A receiver that never answers: at exit hstrace gives up after its flush deadline (5 s,
    docs/otlp.md) and exits (checked loosely: within the deadline plus 15 s), every connection
    counted as unsent at exit, none as exported; its output is complete meanwhile."""
    certs = T.make_certs()
    rcv = start_receiver()
    rcv.set_delay(600)  # holds every request, longer than the test
    hs = start_hstrace(rcv.url())
    tls_traffic(certs, 1)
    check(rcv.wait(lambda: rcv.in_flight > 0, 15), "no request reached the receiver")
    srv = tls_traffic(certs, 1)  # queued behind the held request
    check(rcv.wait(lambda: len(H.by_port(file_records(hs), srv.port)) == 2, 10),
          "records not written while the receiver holds the export", file_records(hs))
    t0 = time.monotonic()
    rc = hs.stop(timeout=120)
    took = time.monotonic() - t0
    check(rc == 0, "exit status %d" % rc, hs.stderr())
    check(took < 5 + 15, "hstrace took %.1f s to exit; its flush deadline is 5 s" % took,
          hs.stderr())
    hs.summary()
    recs = hs.records(hs.ndjson)
    s = otlp_summary(hs)
    check(len(recs) >= 4 and s["otlp_exported"] == 0 and s["otlp_dropped"] == len(recs),
          "Summary %s for %d records" % (s, len(recs)), hs.stderr())
    check("%d connections were not exported over OTLP (queue full: 0, refused by the receiver:"
          " 0, unsent at exit: %d)" % (len(recs), len(recs)) in hs.stderr(),
          "no drop line counting the unsent connections", hs.stderr())
    check(not rcv.accepted("/v1/traces") and not rcv.accepted("/v1/metrics"),
          "a held request was answered", rcv.history())


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
    check_metrics(rcv, recs, dropped=s["otlp_dropped"], hs=hs)


def test_otlp_bad_options():
    for args in (["--otlp", "ftp://127.0.0.1:4318"], ["--otlp", "127.0.0.1:4318"],
                 ["--otlp", "http://"], ["--otlp", "http://h:4318/?q=1"],
                 ["--otlp-queue", "4"], ["--otlp", "http://127.0.0.1:4318", "--otlp-queue", "0"],
                 ["--otlp", "http://127.0.0.1:4318", "--otlp-queue", "x"],
                 ["--otlp", "http://127.0.0.1:4318", "--metrics-by", "peer"]):
        cp = H.run_hstrace(args)
        check(cp.returncode == 2, "%s: exit status %d, expected 2" % (args, cp.returncode))
        check("Usage:" in cp.stderr, "%s: no usage line" % args, cp.stderr)
