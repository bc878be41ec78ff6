# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Accuracy of hstrace's timestamps against real network delay and independent clocks.

Every test builds two network namespaces joined by build/netdelay (tests/integration/netns.py),
which holds each packet DELAY_MS = 20 ms in each direction: a 40 ms round trip that hstrace
did not choose and cannot see. In the server namespace runs `openssl s_server -www`; in the
client namespace `curl` makes N_PER_VERSION full TLS 1.3 handshakes, then as many TLS 1.2
ones, each on its own connection with one GET. hstrace runs in the root namespace as usual.

* test_phases_match_imposed_delay: the TCP handshake takes one round trip on both ends, TLS 1.3
  one more and TLS 1.2 two more, once the processing time that hstrace itself measured on the
  two ends is taken out (see check_round_trips()).
* test_events_match_packet_capture: tshark captures on the TUN device of each namespace at the
  same time; every wire-visible event of both ends is paired with the packet that carries it
  and hstrace's absolute time (start + t_us) is compared with the packet's capture time. The
  distribution is printed; CAPTURE_P99_US bounds its 99th percentile (justified there).
* test_client_phases_match_curl: curl's own -w timings (time_connect, time_appconnect,
  time_starttransfer) of the same requests against the client's timeline (CURL_*_US).
* test_in_events_when_the_application_reads_late: a server that reads the ClientHello 50 ms
  late; its event keeps the packet's arrival time (against a capture) and app_us the read.
"""

import json
import statistics

import harness as H
from harness import check
import netns as N
import tls_peers as T

DELAY_MS = 20.0
RTT_US = int(2 * DELAY_MS * 1000)
N_PER_VERSION = 4
PORT = 4433

# A round trip measured by hstrace, less the processing that hstrace measured on the two ends,
# must lie within RTT_US +- ROUND_TRIP_TOL_US (the "40 ms +- 2 ms"), RTT_US being the
# imposed round trip plus what the delay line itself added for those packets: netdelay counts
# each packet's delay from the kernel's time of its sending and writes down when it wrote the
# packet into the receiving namespace (whose stack takes it during that write), so a delay line
# held up by a busy or paused CPU is taken out, and a write held up itself widens the bound by
# its own length (netns.Pair.extra_us()). The line's remaining lag (waking up, copying) is 0.1-
# 0.4 ms per round trip. That holds for every tcp_handshake (kernel timestamps on both ends).
# TLS events are packet times too (hstrace/2), and the processing taken out of the TLS phases
# is measured between them: 0.5-1.4 ms observed on a quiet machine, up to ~2.5 ms for a TLS 1.2
# handshake (two round trips) when other work loads the 2 CPUs. They must lie within
# -ROUND_TRIP_TOL_US .. +TLS_RT_LATE_US (a phase that counted one round trip too many or too few
# is 40 ms off and still fails). With two real-time CPU hogs stalling both CPUs 8 ms out of
# every 30, raw round trips reached 51 ms; less what the delay line added, 40.03-40.22 ms.
ROUND_TRIP_TOL_US = 2000
TLS_RT_LATE_US = 5000

# hstrace time - capture time of the same packet, per class of event (both clocks are
# CLOCK_REALTIME-based and read by the same kernel; hstrace converts its CLOCK_MONOTONIC stamps):
#   * "kernel" events, the TCP state changes (syn_sent, syn_received, established, fin_*,
#     reset_*), are taken in the kernel on the packet's own path, a few microseconds before
#     the packet reaches the capture tap (out) or after it (in): observed -103 .. +101 µs;
#   * TLS "out" events are taken by the cgroup egress program as the packet that completes
#     the record leaves the socket, before the tap: observed -50 .. -2 µs;
#   * TLS "in" events by the cgroup ingress program as that packet reaches the socket, after
#     the tap: observed -68 .. +45 µs (hstrace/1 gave the application's read time here, up to
#     5.6 ms later on a loaded machine; that time is now app_us).
# Every class has p99 <= KERNEL_P99_US = 500 µs: room for one scheduling delay of the busy VM
# (the relay, two tsharks, hstrace and both peers share 2 CPUs), and still 40x below a real
# error (a wrong packet or event is a round trip, >= 20 ms, off; a wrong clock conversion
# seconds). For an "in" event, what is bounded is the difference less the time netdelay's
# write of that packet took: the capture stamps a packet as the write queues it for the
# receiving namespace's stack, hstrace as that stack takes it, later in the same write; a CPU
# held up in between (a paused VM) delays hstrace's time by as much, which netdelay's trace
# shows (netns.Pair.extra_us()). The tighter targets (50 / 100 µs) are measured by make
# bench, not here.
KERNEL_P99_US = 500
CAPTURE_P99_US = KERNEL_P99_US
KERNEL_EVENTS = {"syn_sent", "syn_received", "established", "fin_out", "fin_in", "reset_in",
                 "reset_out"}

# curl's -w timings against the client's timeline, both relative to the start of the connect
# (curl: time_namelookup, read just before it creates the socket; hstrace: the SYN). curl reads
# its clock in user space after its event loop noticed the event (and, for time_appconnect,
# after checking the server's Finished), so it can only be later than the kernel: each
# difference curl - hstrace must lie in [-CURL_EARLY_US, CURL_LATE_US], and its median per
# timing must be <= CURL_MEDIAN_US. Observed on an idle machine: every difference 66-381 µs;
# with other test suites loading the 2 CPUs, single wake-ups of curl up to 6.9 ms late, hence
# 10 ms (a quarter of the round trip) for single values, or, for time_connect and
# time_appconnect, up to curl's next write (the ClientHello, the request) as hstrace saw it in
# the kernel, when that came later: curl reads its clock before it, so a curl held up in
# between (a stalled CPU: up to 11 ms seen) moves both.
CURL_EARLY_US = 500
CURL_LATE_US = 10000
CURL_MEDIAN_US = 1000
# The peers (curl, s_server) run at this nice value so that other work on the machine delays
# their reads less; hstrace itself runs as usual.
PEER_NICE = -10

HS_TYPE = {"client_hello": 1, "server_hello": 2, "new_session_ticket": 4, "certificate": 11,
           "server_key_exchange": 12, "certificate_request": 13, "server_hello_done": 14,
           "certificate_verify": 15, "client_key_exchange": 16}


# ---------------------------------------------------------------------------------------------
# the scenario shared by the tests

class Run:
    pass


def scenario(capture=False):
    """Sets up the pair, hstrace, (captures), the server, and runs the curl requests of both
    TLS versions. Returns a Run with .recs, .curl ({local port: (version, -w json)}),
    .pair, .frames ({"c": [...], "s": [...]} when capture)."""
    run = Run()
    run.pair = pair = N.Pair(DELAY_MS, trace=True)
    certs = T.make_certs()
    caps = {}
    if capture:
        caps = {side: N.Capture(pair, side, PORT) for side in ("c", "s")}
    hs = H.start_hstrace(["--json"])
    run.curl = {}
    for ver in ("1.3", "1.2"):
        srv = pair.proc("s", "s_server %s" % ver, [
            "nice", "-n", PEER_NICE, "openssl", "s_server",
            "-accept", "%s:%d" % (pair.server_addr, PORT),
            "-cert", certs.server, "-key", certs.server_key, "-cert_chain", certs.ca, "-www",
            "-naccept", N_PER_VERSION, "-tls1_3" if ver == "1.3" else "-tls1_2"])
        srv.wait_line(r"^ACCEPT")
        for i in range(N_PER_VERSION):
            c = pair.proc("c", "curl %s #%d" % (ver, i), [
                "nice", "-n", PEER_NICE, "curl", "-sS", "--max-time", "10",
                "--cacert", certs.ca, "--resolve",
                "%s:%d:%s" % (T.SNI, PORT, pair.server_addr),
                *(["--tlsv1.3"] if ver == "1.3" else ["--tlsv1.2", "--tls-max", "1.2"]),
                "-o", "/dev/null", "-w", "%{json}", "https://%s:%d/" % (T.SNI, PORT)])
            c.wait_exit(20)
            w = json.loads(c.stdout())
            run.curl[w["local_port"]] = (ver, w)
        srv.wait_exit(20)
    H.settle(1.0)
    recs = hs.stop_ok()
    for cap in caps.values():
        cap.stop()
    run.frames = {side: cap.frames() for side, cap in caps.items()}
    pair.down()  # netdelay's trace is complete once it has stopped
    # Only this test's connections: the ones to the server in the pair.
    run.recs = [T.checked(r) for r in recs if r["ip_version"] == 4 and (
        (r["role"] == "client" and r["peer"] == {"addr": pair.server_addr, "port": PORT}) or
        (r["role"] == "server" and r["local"] == {"addr": pair.server_addr, "port": PORT}))]
    run.pairs = []
    for port, (ver, w) in sorted(run.curl.items()):
        c = H.one(run.recs, "client (curl port %d)" % port, role="client", lport=port)
        s = H.one(run.recs, "server (curl port %d)" % port, role="server", rport=port)
        check(c.get("comm") == "curl" and c["tls"].get("version") == ver
              and s["tls"].get("version") == ver and c["result"] == "ok" and s["result"] == "ok",
              "expected an ok TLS %s connection on both ends" % ver, c, s)
        run.pairs.append((ver, w, c, s))
    check(len(run.pairs) == 2 * N_PER_VERSION, "curl made %d connections" % len(run.pairs))
    return run


def ev(rec, name, dir=None, n=1):
    found = [e for e in rec["events"]
             if e["event"] == name and (dir is None or e.get("dir") == dir)]
    check(len(found) >= n, "no %s%s event #%d" % (name, " " + dir if dir else "", n), rec)
    return found[n - 1]


def t(rec, name, dir=None, n=1):
    return ev(rec, name, dir, n)["t_us"]


def dist(values):
    """min/p50/p90/p99/max of a list of numbers, as text."""
    v = sorted(values)

    def pct(p):
        return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]

    return "n=%d min=%d p50=%d p90=%d p99=%d max=%d" % (len(v), v[0], pct(50), pct(90),
                                                        pct(99), v[-1])


def p99(values):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(0.99 * (len(v) - 1))))]


# ---------------------------------------------------------------------------------------------
# 1. phases against the imposed delay

def at(rec, name, dir=None):
    """Event name's time in rec, in seconds since the epoch."""
    return start_epoch(rec) + t(rec, name, dir) / 1e6


def check_round_trips(run, ver, c, s):
    """Returns {name: (µs, lo, hi)} of the network round trips in one connection, each found by
    taking out of a client phase the processing time measured by hstrace on the two ends; lo..hi
    is how much longer than the imposed delay the delay line really held the packets of that
    round trip (netdelay's trace, see netns.Pair.extra_us())."""
    ph_c, ph_s = c["phases_us"], s["phases_us"]
    extra = run.pair.extra_us

    def legs(rec, *pairs):
        """(lo, hi) summed over the packets of each (sent, received) pair of rec's events:
        the packet that left rec at the first event and the one that reached it at the
        second"""
        mine, theirs = ("c>s", "s>c") if rec["role"] == "client" else ("s>c", "c>s")
        lo = hi = 0
        for o, i in pairs:
            for d, ev_, k in ((mine, o, "sent"), (theirs, i, "written")):
                x = extra(d, at(rec, *ev_), k)
                lo, hi = lo + x[0], hi + x[1]
        return lo, hi

    hello = (("client_hello", "out"), ("server_hello", "in"))
    out = {"client tcp_handshake": (ph_c["tcp_handshake"],
                                    *legs(c, (("syn_sent",), ("established",)))),
           # the server's SYN-ACK leaves as the SYN comes in
           "server tcp_handshake": (ph_s["tcp_handshake"],
                                    *legs(s, (("syn_received",), ("established",))))}
    check(ph_c["server_hello_rtt"] >= RTT_US,
          "server_hello_rtt %d µs is shorter than the round trip" % ph_c["server_hello_rtt"], c)
    # ClientHello out -> ServerHello in, less the server's ClientHello in -> ServerHello out.
    out["server_hello_rtt - server_think"] = (ph_c["server_hello_rtt"] - ph_s["server_think"],
                                              *legs(c, hello))
    if ver == "1.3":
        # client_hello -> client's Finished flight = 1 RTT + server_think + the client's own
        # work between the server's flight (in) and its Finished (out).
        client_work = t(c, "encrypted_handshake", "out") - t(c, "server_hello", "in")
        out["tls1.3 handshake - processing (1 RTT)"] = (
            ph_c["tls_handshake"] - ph_s["server_think"] - client_work, *legs(c, hello))
    else:
        # client_hello -> server's Finished = 2 RTT + server_think + the client's work
        # (ServerHello in -> ClientKeyExchange out) + the server's (ClientKeyExchange in ->
        # its Finished out).
        client_work = t(c, "client_key_exchange", "out") - t(c, "server_hello", "in")
        server_work = t(s, "finished", "out") - t(s, "client_key_exchange", "in")
        lo, hi = legs(c, hello, (("client_key_exchange", "out"), ("finished", "in")))
        out["tls1.2 (handshake - processing) / 2"] = (
            (ph_c["tls_handshake"] - ph_s["server_think"] - client_work - server_work) / 2,
            lo / 2, hi / 2)
    return out


def tls_extra_us(run, ver, c):
    """How much longer than the imposed delay (µs) the delay line held the packets of the
    round trips of c's TLS handshake: (lo, hi) as in check_round_trips()."""
    extra = run.pair.extra_us
    flights = [(("client_hello", "out"), ("server_hello", "in"))]
    if ver != "1.3":
        flights.append((("client_key_exchange", "out"), ("finished", "in")))
    lo = hi = 0
    for o, i in flights:
        for d, ev_, k in (("c>s", o, "sent"), ("s>c", i, "written")):
            x = extra(d, at(c, *ev_), k)
            lo, hi = lo + x[0], hi + x[1]
    return lo, hi


def round_trip_rows(run):
    """({name: [µs per connection, less the delay line's extra delay lo]}, [(name, µs, lo, hi,
    port) outside RTT_US + lo - ROUND_TRIP_TOL_US .. RTT_US + hi + its late bound])"""
    bad = []
    rows = {}
    for ver, w, c, s in run.pairs:
        for name, (v, lo, hi) in check_round_trips(run, ver, c, s).items():
            rows.setdefault(name, []).append(int(v - lo))
            late = ROUND_TRIP_TOL_US if name.endswith("tcp_handshake") else TLS_RT_LATE_US
            if not RTT_US + lo - ROUND_TRIP_TOL_US <= v <= RTT_US + hi + late:
                bad.append((name, int(v), int(lo), int(hi), c["local"]["port"]))
    return rows, bad


def test_phases_match_imposed_delay():
    run = scenario()
    for ver, w, c, s in run.pairs:
        H.log("TLS %s port %d: client %s | server %s" % (
            ver, c["local"]["port"], c["phases_us"], s["phases_us"]))
    H.log("netdelay: %s" % {k: v for k, v in run.pair.stats().items() if "late" in k
                            or k == "untimed"})
    rows, bad = round_trip_rows(run)
    for name, vals in rows.items():
        H.log("%-40s %s (µs, less what the delay line added; the imposed round trip is %d)"
              % (name, dist(vals), RTT_US))
    check(not bad, "round trips outside their bounds (%d µs + the delay line's extra "
          "-%d/+%d, TLS +%d): %s" % (RTT_US, ROUND_TRIP_TOL_US, ROUND_TRIP_TOL_US,
                                     TLS_RT_LATE_US, bad))
    # The rows above count the version's round trips exactly (TLS 1.3: one after the
    # ClientHello, TLS 1.2: two), each less the processing hstrace measured on the two ends.
    # The raw phase shows the count too, while the ends' processing stays under half a round
    # trip (not so when the CPUs stall: that is why it is logged, not asserted).
    for ver, w, c, s in run.pairs:
        lo, hi = tls_extra_us(run, ver, c)
        H.log("TLS %s port %d: tls_handshake less the delay line's extra = %.2f RTT"
              % (ver, c["local"]["port"], (c["phases_us"]["tls_handshake"] - lo) / RTT_US))


# ---------------------------------------------------------------------------------------------
# 2. events against a packet capture

def conn_frames(frames, client_port):
    return [f for f in frames if client_port in (f["sport"], f["dport"])]


def records_in(frames, from_client):
    """[(frame time, content type)] of every TLS record one side sent, in order; the types of
    a frame come from its content_type (TLS <= 1.2, TLS 1.3 plaintext) and opaque_type
    (TLS 1.3 encrypted) fields."""
    out = []
    for f in frames:
        if (f["src"] == N.CLIENT_ADDR) == from_client:
            for ct in f["ctypes"]:
                out.append((f["t"], ct))
    return out


def on_the_wire(e):
    """Is event e one that a packet carries? TCP events with a direction and TLS record
    events, except those hstrace infers by a rule ("estimated"). Events of other sources
    (closed, accepted, OpenSSL probes...) have no packet."""
    return (e.get("dir") in ("in", "out") and not e.get("estimated")
            and (e["event"] in KERNEL_EVENTS or e["event"] in H.TLS_EVENTS))


def wire_time(ver, rec, e, frames):
    """Capture time of the packet that carries event e of rec (on_the_wire(e)), or None."""
    client = rec["role"] == "client"
    name, d = e["event"], e.get("dir")
    sent_by_client = (d == "out") == client
    mine = [f for f in frames if (f["src"] == N.CLIENT_ADDR) == sent_by_client]

    def first(pred):
        for f in mine:
            if pred(f):
                return f["t"]
        return None

    if name == "syn_sent" or name == "syn_received":
        return first(lambda f: f["syn"] and not f["ack"])
    if name == "established":
        if client:
            return first(lambda f: f["syn"] and f["ack"])
        return first(lambda f: f["ack"] and not f["syn"])
    if name in ("fin_out", "fin_in"):
        return first(lambda f: f["fin"])
    if name in ("reset_in", "reset_out"):
        return first(lambda f: f["rst"])
    if name in HS_TYPE and not (ver == "1.3" and name == "new_session_ticket"):
        return first(lambda f: HS_TYPE[name] in f["hstypes"])
    recs = records_in(frames, sent_by_client)
    if name == "change_cipher_spec":
        return next((ft for ft, ct in recs if ct == 20), None)
    if name == "alert":
        return next((ft for ft, ct in recs if ct == 21), None)
    if name == "finished" and ver != "1.3":
        after = [i for i, (ft, ct) in enumerate(recs) if ct == 20]
        return next((ft for ft, ct in recs[after[0] + 1:] if ct == 22), None) if after else None
    enc = [ft for ft, ct in recs if ct == 23]
    if name == "app_data" and ver != "1.3":
        return enc[0] if enc else None
    if name == "encrypted_handshake" and ver == "1.3":
        return enc[0] if enc else None
    if name == "app_data" and ver == "1.3":
        # The sender's first record after its handshake flight and, for the server, after
        # the tickets it wrote before reading the request (both counted in its timeline).
        if sent_by_client:
            skip = 1  # the client's Finished
        else:
            srv = rec
            skip = ev(srv, "encrypted_handshake", "out").get("records", 1) + len(
                [x for x in srv["events"] if x["event"] == "new_session_ticket"])
        return enc[skip] if len(enc) > skip else None
    return None


def start_epoch(rec):
    return H.parse_start(rec["start"]).timestamp()


def capture_rows(run):
    """hstrace time - capture time (µs) of every wire-visible event, first of each kind per
    connection end: ({"<role> <event> <dir>": [µs]}, {class: [µs]}, worst 5, [events that
    found no packet], {class: [|µs| less how long netdelay's write of an "in" packet took]})."""
    excesses = {}
    diffs = {}  # event name -> [µs]
    worst = []
    missing = []
    classes = {}  # "kernel", "tls out", "tls in" -> [µs]
    for ver, w, c, s in run.pairs:
        port = c["local"]["port"]
        for rec, side in ((c, "c"), (s, "s")):
            frames = conn_frames(run.frames[side], port)
            t0 = start_epoch(rec)
            seen = set()
            for e in rec["events"]:
                key = (e["event"], e.get("dir"))
                if key in seen or not on_the_wire(e):
                    continue  # the first of each kind: that is the one the capture pairs up
                seen.add(key)
                wt = wire_time(ver, rec, e, frames)
                if wt is None:
                    missing.append((rec["role"], ver, port, e["event"], e.get("dir")))
                    continue
                d_us = (t0 + e["t_us"] / 1e6 - wt) * 1e6
                label = "%s %s %s" % (rec["role"], e["event"], e.get("dir", ""))
                diffs.setdefault(label.strip(), []).append(d_us)
                held = 0  # how long netdelay's write of an incoming packet took
                if e.get("dir") == "in":
                    lo, hi = run.pair.extra_us("s>c" if side == "c" else "c>s", wt, "written")
                    held = hi - lo
                excess = max(0.0, abs(d_us) - held)
                worst.append((excess, abs(d_us), label, ver, port))
                cls = ("kernel" if e["event"] in KERNEL_EVENTS else
                       "tls out" if e.get("dir") == "out" else "tls in")
                classes.setdefault(cls, []).append(d_us)
                excesses.setdefault(cls, []).append(excess)
    worst.sort(reverse=True)
    return diffs, classes, worst[:5], missing, excesses


def test_events_match_packet_capture():
    run = scenario(capture=True)
    for side in ("c", "s"):
        check(run.frames[side], "tshark captured nothing in namespace %s" % side)
    diffs, classes, worst, missing, excesses = capture_rows(run)
    everything = [v for vals in diffs.values() for v in vals]
    H.log("hstrace time - capture time, µs (+ = hstrace later), per event:")
    for label in sorted(diffs):
        H.log("  %-36s %s" % (label, dist(diffs[label])))
    for cls in sorted(classes):
        H.log("  %-36s %s" % ("class: " + cls, dist(classes[cls])))
    H.log("  %-36s %s" % ("ALL", dist(everything)))
    H.log("  %-36s %s" % ("ALL |diff|", dist([abs(v) for v in everything])))
    H.log("largest (|diff| less netdelay's write, |diff|, event): %s" % worst)
    check(not missing, "events with no matching packet in the capture: %s" % missing)
    kinds = {l.split()[1] for l in diffs}
    for want in ("syn_sent", "syn_received", "established", "client_hello", "server_hello",
                 "certificate", "finished", "encrypted_handshake", "app_data", "fin_out"):
        check(want in kinds, "no %s event was compared with the capture" % want, sorted(diffs))
    for cls in ("kernel", "tls out", "tls in"):
        q = p99(excesses[cls])
        check(q <= KERNEL_P99_US, "%s events: p99 |hstrace - capture| = %d µs > %d µs"
              % (cls, q, KERNEL_P99_US))
    q = p99([v for vals in excesses.values() for v in vals])
    check(q <= CAPTURE_P99_US, "p99 |hstrace - capture| = %d µs > %d µs" % (q, CAPTURE_P99_US))
    # A record is taken when its packet arrived, never much before the capture saw it.
    check(min(classes["tls in"]) >= -KERNEL_P99_US, "a TLS in event is %d µs earlier than its "
          "packet" % -min(classes["tls in"]))
    # A record's time is its last byte's: sent, when the segment carrying it reached the
    # device; received, when the packet carrying it arrived. Two cases that took an earlier
    # packet's time before (µs, hstrace - capture, medians seen then): a TLS 1.2 server's
    # ServerHelloDone, in the third segment its GSO packet was cut into for the TUN device
    # (-34), and the response's first record at the client, whose header came first (-76);
    # and a client's syn_sent, the state change in connect() before the SYN is built (-29).
    for label in ("server server_hello_done out", "client app_data in", "client syn_sent out"):
        m = sorted(diffs[label])[len(diffs[label]) // 2]
        check(m >= -20, "%s: median hstrace - capture = %d µs: the time of a packet before "
              "the one with the record's last byte" % (label, m), sorted(diffs[label]))
    # TCP in events take the time their packet passed the ingress program, not that of the
    # state change, which comes tens of µs later here (medians seen before, µs: a server's
    # established +60, a client's fin_in +57).
    for label in ("server established in", "client fin_in in"):
        m = sorted(diffs[label])[len(diffs[label]) // 2]
        check(m <= 40, "%s: median hstrace - capture = %d µs: the state change's time, not "
              "the packet's" % (label, m), sorted(diffs[label]))
    # The application read each record after it arrived.
    for ver, w, c, s in run.pairs:
        for rec in (c, s):
            for e in rec["events"]:
                if e.get("dir") == "in" and "app_us" in e:
                    check(e["app_us"] >= e["t_us"] - 1, "%s read before it arrived"
                          % e["event"], rec)


# ---------------------------------------------------------------------------------------------
# 3. client phases against curl's own timings

def curl_rows(run):
    """curl - hstrace (µs) per timing: ({label: [µs]}, [values outside the bounds])."""
    rows = {}
    bad = []
    for ver, w, c, s in run.pairs:
        zero = w["time_namelookup"]  # curl's clock at the start of the connect

        def curl_us(key):
            return int(round((w[key] - zero) * 1e6))

        # curl's TLS timings are taken by curl itself: compare them with when curl wrote or
        # read the record (app_us), not with when its packet passed the stack (t_us).
        done = (ev(c, "encrypted_handshake", "out") if ver == "1.3"
                else ev(c, "finished", "in", 1))
        first = ev(c, "app_data", "in")
        hello, request = ev(c, "client_hello", "out"), ev(c, "app_data", "out")
        # (curl, hstrace, curl's next write as hstrace saw it: curl read its clock before it)
        pairs = {"time_connect ~ established": (curl_us("time_connect"), t(c, "established"),
                                                hello.get("app_us")),
                 "time_appconnect ~ handshake done": (curl_us("time_appconnect"),
                                                      done.get("app_us", done["t_us"]),
                                                      request.get("app_us")),
                 "time_starttransfer ~ app_data in": (curl_us("time_starttransfer"),
                                                      first.get("app_us", first["t_us"]), None)}
        for name, (cu, hs, nxt) in pairs.items():
            label = "TLS %s %s" % (ver, name)
            rows.setdefault(label, []).append(cu - hs)
            # A curl held up before it read its clock also wrote its next record that much
            # later, which hstrace saw in the kernel: the bound follows it.
            late = CURL_LATE_US if nxt is None else max(CURL_LATE_US,
                                                        nxt - hs + CURL_EARLY_US)
            if not -CURL_EARLY_US <= cu - hs <= late:
                bad.append((label, c["local"]["port"], cu, hs, nxt))
    return rows, bad


def test_client_phases_match_curl():
    run = scenario()
    rows, bad = curl_rows(run)
    H.log("curl - hstrace, µs (+ = curl later), relative to the start of the connect:")
    for label in sorted(rows):
        H.log("  %-50s %s" % (label, dist(rows[label])))
    check(not bad, "curl - hstrace outside [-%d, %d] µs: %s" % (CURL_EARLY_US, CURL_LATE_US,
                                                                 bad))
    for label, vals in rows.items():
        check(statistics.median(vals) <= CURL_MEDIAN_US, "%s: median curl - hstrace %d µs > %d"
              % (label, statistics.median(vals), CURL_MEDIAN_US))


# ---------------------------------------------------------------------------------------------
# 4. the delay line's jitter and loss, as hstrace sees them

def tcp_run(pair, count, send=100, parallel=1):
    """count plain TCP connections (tools/tcp_peer.py) from the client namespace to the server
    namespace, by `parallel` clients at once, traced with --all; returns the client records."""
    srv = pair.proc("s", "tcp server", [H.PYTHON, H.PEER, "server", "--addr", pair.server_addr,
                                        "--port", 0, "--count", count, "--reply", 10])
    port = int(srv.wait_line(r"^listening (\d+)$").group(1))
    hs = H.start_hstrace(["--json", "--all", "--port", str(port)])
    clis = [pair.proc("c", "tcp client %d" % i, [
        H.PYTHON, H.PEER, "client", "--addr", pair.server_addr, "--port", port, "--count",
        count // parallel, "--send", send]) for i in range(parallel)]
    for cli in clis:
        cli.wait_exit(60)
    srv.wait_exit(30)
    H.settle(0.8)
    recs = [T.checked(r) for r in hs.stop_ok()]
    return [r for r in recs if r["role"] == "client" and r["peer"]["port"] == port]


def test_netdelay_jitter_and_loss():
    # Jitter: 10 ms +- 5 ms each way, so each handshake takes 10..30 ms (two one-way trips)
    # plus the line's own overhead, and they differ. netdelay's trace gives each packet's
    # real delay: every tcp_handshake must match the two of its SYN and SYN-ACK within
    # ROUND_TRIP_TOL_US, as in test_phases_match_imposed_delay.
    pair = N.Pair(10.0, jitter_ms=5.0, trace=True)
    recs = tcp_run(pair, 12)
    pair.down()
    check(len(recs) == 12, "expected 12 client records, got %d" % len(recs), recs)
    hs = sorted(r["phases_us"]["tcp_handshake"] for r in recs)
    H.log("tcp_handshake with 10 +- 5 ms each way: %s" % hs)
    check(hs[-1] - hs[0] >= 2000, "jitter of +-5 ms left the handshakes within 2 ms: %s" % hs)
    bad = []
    for r in recs:
        syn = pair.extra_us("c>s", at(r, "syn_sent"), "sent")
        synack = pair.extra_us("s>c", at(r, "established"), "written")
        lo, hi = 20000 + syn[0] + synack[0], 20000 + syn[1] + synack[1]
        v = r["phases_us"]["tcp_handshake"]
        H.log("tcp_handshake %d µs, its SYN and SYN-ACK held %d..%d µs" % (v, lo, hi))
        check(10000 - 1 <= lo, "netdelay held a SYN and SYN-ACK %d µs with 10 +- 5 ms each way"
              % lo)
        if not lo - ROUND_TRIP_TOL_US <= v <= hi + ROUND_TRIP_TOL_US:
            bad.append((v, int(lo), int(hi)))
    check(not bad, "tcp_handshake (µs) apart from the delays netdelay gave its packets: %s"
          % bad)

    # Loss: a third of the packets each way are dropped. A lost SYN or SYN-ACK costs the
    # client a SYN retransmission after the kernel's initial 1 s timeout, which hstrace
    # reports; netdelay counts what it dropped. With 10 connections the chance that no SYN
    # and no SYN-ACK is lost at all is (2/3)^20 < 0.03 %. They run side by side, so the
    # retransmission timeouts (1 s, 2 s, ...) overlap.
    pair = N.Pair(5.0, loss_pct=33.3)
    recs = tcp_run(pair, 10, send=0, parallel=10)
    pair.down()
    dropped = sum(int(w.split("=")[1]) for w in pair.final_log.split() if w.startswith("lost="))
    check(dropped > 0, "netdelay dropped nothing at 33%% loss: %r" % pair.final_log)
    retx = [r for r in recs if r["tcp"]["syn_retransmits"] > 0]
    H.log("connections with SYN retransmissions: %d of %d" % (len(retx), len(recs)))
    check(retx, "no SYN retransmission in 10 connections at 33% loss", recs)
    for r in retx:
        check("syn_retransmit" in H.names(r), "syn_retransmits > 0 without the event", r)
        check(r["phases_us"].get("tcp_handshake", 0) >= 1000000 or r["result"] != "ok",
              "a retransmitted SYN but tcp_handshake < 1 s", r)


# ---------------------------------------------------------------------------------------------
# 5. a server that reads late: arrival times stay arrival times

SLOW_READ_S = 0.05


def test_in_events_when_the_application_reads_late():
    """The server accepts at once but waits SLOW_READ_S before its handshake (a busy event
    loop): the ClientHello sits unread that long. Its event keeps its arrival time (within
    KERNEL_P99_US of the capture, as test_events_match_packet_capture counts it), its app_us is
    the late read, and hello_read_wait shows the wait; the client's timeline does not change."""
    pair = N.Pair(DELAY_MS, trace=True)
    certs = T.make_certs()
    cap = N.Capture(pair, "s", PORT)
    hs = H.start_hstrace(["--json"])
    n = 3
    srv = pair.proc("s", "slow tls server", [
        "nice", "-n", PEER_NICE, H.PYTHON, T.TLS_PEER, "server", "--addr", pair.server_addr,
        "--port", PORT, "--cert", certs.server, "--key", certs.server_key, "--count", n,
        "--read-delay", SLOW_READ_S])
    srv.wait_line(r"^listening")
    for i in range(n):
        c = pair.proc("c", "curl #%d" % i, [
            "nice", "-n", PEER_NICE, "curl", "-sS", "--max-time", "10", "--cacert", certs.ca,
            "--resolve", "%s:%d:%s" % (T.SNI, PORT, pair.server_addr), "-o", "/dev/null",
            "https://%s:%d/" % (T.SNI, PORT)])
        c.wait_exit(20)
    srv.wait_exit(20)
    H.settle(1.0)
    recs = hs.stop_ok()
    cap.stop()
    frames = cap.frames()
    pair.down()
    servers = [T.checked(r) for r in recs if r["role"] == "server"
               and r["local"] == {"addr": pair.server_addr, "port": PORT}]
    check(len(servers) == n, "expected %d server records" % n, recs)
    for s in servers:
        ch = ev(s, "client_hello", "in")
        frame = next((f["t"] for f in conn_frames(frames, s["peer"]["port"])
                      if f["src"] == N.CLIENT_ADDR and 1 in f["hstypes"]), None)
        check(frame is not None, "no ClientHello in the capture", s)
        d_us = (start_epoch(s) + ch["t_us"] / 1e6 - frame) * 1e6
        wait = s["phases_us"].get("hello_read_wait")
        H.log("server port %d: client_hello t_us - capture = %d µs; read %s µs later"
              % (s["peer"]["port"], d_us, wait))
        lo, hi = pair.extra_us("c>s", frame, "written")
        check(abs(d_us) - (hi - lo) <= KERNEL_P99_US, "client_hello %d µs from its packet "
              "(netdelay's write of it took %d µs)" % (d_us, hi - lo), s)
        # The server read the ClientHello SLOW_READ_S after accept() returned, and the wait
        # is from its arrival to that read: SLOW_READ_S less the time from the accept to the
        # ClientHello's arrival (curl's own work after the TCP handshake, ~1.5 ms here, more
        # when the CPUs are busy).
        after_accept = ch["t_us"] - t(s, "accepted")
        check(wait is not None and ch["app_us"] - t(s, "accepted") >= SLOW_READ_S * 1e6 - 500
              and SLOW_READ_S * 1e6 - after_accept - 500 <= wait <= SLOW_READ_S * 1e6 + 20000
              and abs(ch["app_us"] - ch["t_us"] - wait) <= 1,
              "hello_read_wait %r for a %g s late read" % (wait, SLOW_READ_S), s)
