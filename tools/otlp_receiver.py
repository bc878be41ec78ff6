#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""otlp_receiver.py - a small OTLP/HTTP receiver for hstrace's tests (and a quick look by hand).

Accepts POST /v1/traces and /v1/metrics with Content-Type application/x-protobuf and decodes
the bodies with the official opentelemetry-proto definitions, through the Python classes that
`protoc --python_out` made from them (build/otlp-py/, `make`): an independent decoder from the
protobuf-c encoder hstrace uses. Anything else is answered 404 (path), 405 (method), 415
(content type) or 400 (a body that does not decode).

It can be told to misbehave: answer the next N requests with a status (503, 429, ...) and an
optional Retry-After, hold every request for a while before answering (a slow receiver), or
not run at all (a receiver that is down: start it later on the same port).

As a module (tests): Receiver(port).start(), .fail(503, 3), .set_delay(5), .roots(), ...
By hand:  tools/otlp_receiver.py [--port 4318] [--fail-status 503 --fail-count 3] [--delay S]
prints each decoded request as one JSON line.
"""

import argparse
import http.server
import json
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "build" / "otlp-py"))

try:
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
except ImportError as e:  # explained, not a bare traceback
    raise SystemExit("otlp_receiver.py: %s: needs python3-protobuf and build/otlp-py/ "
                     "(`make deps && make`)" % e)

PATHS = {
    "/v1/traces": (trace_service_pb2.ExportTraceServiceRequest,
                   trace_service_pb2.ExportTraceServiceResponse),
    "/v1/metrics": (metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
}


def any_value(v):
    """An AnyValue as a Python value (arrays as lists)."""
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def attrs(kvs):
    """A repeated KeyValue as a dict; fails on a duplicate key (OTLP forbids them)."""
    out = {}
    for kv in kvs:
        if kv.key in out:
            raise ValueError("duplicate attribute %r" % kv.key)
        out[kv.key] = any_value(kv.value)
    return out


class Request:
    """One POST as received: path, status answered, decoded message (None unless 200)."""

    def __init__(self, path, status, msg, t0, t1):
        self.path = path
        self.status = status
        self.msg = msg
        self.t_start = t0
        self.t_end = t1


class Receiver:
    """The receiver in a thread of the calling process. Thread-safe accessors."""

    def __init__(self, port=0, addr="127.0.0.1"):
        self.addr = addr
        self.port = port
        self.requests = []
        self.in_flight = 0
        self._fail_status = None
        self._fail_left = 0
        self._retry_after = None
        self._delay = 0.0
        self._cv = threading.Condition()
        self._server = None
        self._thread = None

    # -- control

    def start(self):
        """Listens (on self.port; 0: any free port, then self.port tells)."""
        rcv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                self._answer(405, b"")

            def do_POST(self):
                rcv._handle(self)

            def _answer(self, status, body, ctype="text/plain", extra=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((self.addr, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops listening (held requests are still answered by their threads)."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self):
        return "http://%s:%d" % (self.addr, self.port)

    def fail(self, status, count, retry_after=None):
        """Answers the next count requests with status (and Retry-After when given)."""
        with self._cv:
            self._fail_status, self._fail_left = status, count
            self._retry_after = retry_after

    def set_delay(self, sec):
        """Holds every request sec seconds before answering (0: answer at once)."""
        with self._cv:
            self._delay = sec
            self._cv.notify_all()

    # -- the handler

    def _handle(self, h):
        t0 = time.monotonic()
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        with self._cv:
            self.in_flight += 1
            self._cv.notify_all()
        try:
            # Held while the delay lasts; set_delay(0) releases a held request early.
            with self._cv:
                end = t0 + self._delay
                while self._delay and time.monotonic() < end:
                    self._cv.wait(min(0.05, max(0.0, end - time.monotonic())))
                    end = t0 + self._delay
                fail = None
                if self._fail_left > 0:
                    self._fail_left -= 1
                    fail = (self._fail_status, self._retry_after)
            path = h.path.split("?")[0]
            status, msg, out = 200, None, b""
            extra = []
            if path not in PATHS:
                status = 404
            elif (h.headers.get("Content-Type") or "").split(";")[0].strip() != \
                    "application/x-protobuf":
                status = 415
            elif fail:
                status = fail[0]
                if fail[1] is not None:
                    extra.append(("Retry-After", str(fail[1])))
            else:
                req_cls, resp_cls = PATHS[path]
                try:
                    msg = req_cls.FromString(body)
                    out = resp_cls().SerializeToString()
                except Exception as e:  # a body that does not decode
                    status, out = 400, str(e).encode()
            with self._cv:
                self.requests.append(Request(path, status, msg, t0, time.monotonic()))
                self._cv.notify_all()
            h._answer(status, out, "application/x-protobuf" if status == 200 else "text/plain",
                      extra)
        finally:
            with self._cv:
                self.in_flight -= 1
                self._cv.notify_all()

    # -- what was received

    def accepted(self, path):
        """Decoded messages of the requests answered 200 on path, in arrival order."""
        with self._cv:
            return [r.msg for r in self.requests if r.path == path and r.status == 200]

    def history(self):
        """Every request answered so far as (path, status, t_start, t_end), in the order they
        were answered; times are time.monotonic() when the request's headers had been read and when
        its answer was about to be sent."""
        with self._cv:
            return [(r.path, r.status, r.t_start, r.t_end) for r in self.requests]

    def statuses(self, path=None):
        with self._cv:
            return [r.status for r in self.requests if path is None or r.path == path]

    def spans(self):
        """Every accepted span as (resource attributes, span)."""
        out = []
        for req in self.accepted("/v1/traces"):
            for rs in req.resource_spans:
                res = attrs(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append((res, s))
        return out

    def roots(self):
        """Accepted root spans (no parent)."""
        return [s for _, s in self.spans() if not s.parent_span_id]

    def conn_spans(self):
        """Accepted connection spans: those with an hstrace.cookie attribute."""
        return [s for _, s in self.spans()
                if any(kv.key == "hstrace.cookie" for kv in s.attributes)]

    def last_metrics(self):
        """The newest accepted metrics request as {name: Metric}, or {}."""
        reqs = self.accepted("/v1/metrics")
        if not reqs:
            return {}
        out = {}
        for rm in reqs[-1].resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out[m.name] = m
        return out

    def wait(self, cond, timeout):
        """Waits until cond() (called with no lock held) is true; returns its last value."""
        end = time.monotonic() + timeout
        while True:
            v = cond()
            if v or time.monotonic() >= end:
                return v
            with self._cv:
                self._cv.wait(0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=4318)
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--fail-count", type=int, default=0)
    ap.add_argument("--retry-after", type=int)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    rcv = Receiver(args.port, args.addr)
    if args.fail_count:
        rcv.fail(args.fail_status, args.fail_count, args.retry_after)
    rcv.set_delay(args.delay)
    rcv.start()
    print("listening %d" % rcv.port, flush=True)
    seen = 0
    try:
        while True:
            with rcv._cv:
                rcv._cv.wait(0.5)
                new = rcv.requests[seen:]
                seen = len(rcv.requests)
            for r in new:
                line = {"path": r.path, "status": r.status}
                if r.msg is not None:
                    line["request"] = json_format.MessageToDict(
                        r.msg, preserving_proto_field_name=True)
                print(json.dumps(line), flush=True)
    except KeyboardInterrupt:
        rcv.stop()


if __name__ == "__main__":
    main()
