# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""test_conn_id.py - conn_id: both ends of a connection compute the same id from the
handshake's initial sequence numbers, on one host or two, through NAT, and `hstrace report
--join` pairs them and says where the time went (docs/json.md conn_id, docs/report.md)."""

import json
import re
import subprocess

import harness as H
import netns as N
import tls_peers as T
from harness import check

HS_LOAD = H.REPO / "build" / "hs_load"
PORT = 4433
N_CONNS = 20000


def _join(paths, *args):
    cp = H.run_hstrace(["report", "--join", *args, *map(str, paths)], timeout=120)
    check(cp.returncode == 0, "report --join exit %d" % cp.returncode, cp.stderr)
    return cp.stdout


def test_conn_id_same_on_both_ends_20000():
    """20,000 TLS handshakes on loopback (hs_load -> nginx): every connection's two ends carry
    the same conn_id, and no two connections share one."""
    certs = T.make_certs()
    ngx = T.Nginx(certs, protocols="TLSv1.3")
    out = H.make_tmpdir() / "conns.ndjson"
    hs = H.start_hstrace(["--json", "-o", str(out), "--port", str(ngx.port),
                          "--ringbuf-kb", "65536"])
    cp = subprocess.run([str(HS_LOAD), "--port", str(ngx.port), "--tls", "1.3",
                         "--count", str(N_CONNS), "--concurrency", "16", "--threads", "2"],
                        capture_output=True, text=True, timeout=300)
    check(cp.returncode == 0, "hs_load failed", cp.stdout + cp.stderr)
    load = json.loads(cp.stdout)
    check(load["handshakes"] == N_CONNS and load["errors"] == 0, "hs_load result", load)
    H.settle(1.0)
    recs = hs.stop_ok(path=out)
    summ = hs.summary()
    check(summ["lost"] == 0, "records lost: the check below needs every end", summ)
    clients = [r for r in recs if r["role"] == "client" and r["peer"]["port"] == ngx.port]
    servers = [r for r in recs if r["role"] == "server" and r["local"]["port"] == ngx.port]
    check(len(clients) == N_CONNS and len(servers) == N_CONNS,
          "%d client and %d server ends for %d connections" % (len(clients), len(servers),
                                                             N_CONNS))
    by_port = {}
    for r in clients:
        check(re.fullmatch(r"[0-9a-f]{16}", r.get("conn_id", "")), "client conn_id", r)
        by_port.setdefault(r["local"]["port"], []).append(r)
    ids = [r["conn_id"] for r in clients]
    check(len(set(ids)) == N_CONNS, "%d distinct conn_ids among %d connections"
          % (len(set(ids)), N_CONNS))
    sids = {r.get("conn_id") for r in servers}
    check(sids == set(ids), "server ends' conn_ids differ from the clients': %d unmatched"
          % len(sids ^ set(ids)))
    # Same connection, same id: a client's id is on the server end with its port (a port is
    # reused across 20,000 connections, so several ends may share one; the id tells them apart).
    srv_by_id = {r["conn_id"]: r for r in servers}
    for c in clients:
        s = srv_by_id[c["conn_id"]]
        check(s["peer"]["port"] == c["local"]["port"], "conn_id joins two different "
              "connections", [c, s])
    # report --join pairs them all.
    j = json.loads(_join([out], "--json"))["join"]
    check(j["pairs"] == N_CONNS and j["unpaired_clients"] == 0 and j["unpaired_servers"] == 0,
          "report --join", j)


def _pair_run(pair, nat=False, count=3, hs_args=(), hstraces=None):
    """TLS 1.3 connections from the client namespace to s_server in the server namespace,
    traced by two hstrace instances (the server's end and the client's end, as two hosts
    would), and with nat the client connecting to an address and port that nftables in its
    namespace rewrites. hs_args are added to both hstraces' arguments; a dict hstraces gets
    them as "client" and "server". Returns (client file, server file, both hstraces'
    records)."""
    certs = T.make_certs()
    srv = pair.proc("s", "s_server", [
        "openssl", "s_server", "-accept", "%s:%d" % (pair.server_addr, PORT),
        "-cert", certs.server, "-key", certs.server_key, "-cert_chain", certs.ca, "-www",
        "-naccept", count, "-tls1_3"])
    srv.wait_line(r"^ACCEPT")
    target, tport = pair.server_addr, PORT
    if nat:
        target, tport = "10.213.0.99", 8443
        script = ("add table ip hsnat\n"
                  "add chain ip hsnat out { type nat hook output priority -100; }\n"
                  "add rule ip hsnat out ip daddr %s tcp dport %d dnat to %s:%d\n"
                  "add chain ip hsnat post { type nat hook postrouting priority 100; }\n"
                  "add rule ip hsnat post oif hsdelay0 masquerade random\n"
                  % (target, tport, pair.server_addr, PORT))
        cp = subprocess.run(pair.exec_argv("c", ["nft", "-f", "-"]), input=script, text=True,
                            capture_output=True, timeout=30)
        check(cp.returncode == 0, "nft DNAT rules", cp.stderr)
        cp = subprocess.run(pair.exec_argv("c", ["ip", "route", "add", target + "/32", "dev",
                                                 "hsdelay0"]),
                            capture_output=True, text=True, timeout=30)
        check(cp.returncode == 0, "route to the NAT address", cp.stderr)
    d = H.make_tmpdir()
    sfile, cfile = d / "server.ndjson", d / "client.ndjson"
    hs_s = H.start_hstrace(["--json", "-o", str(sfile), "-p", str(srv.pid), *hs_args])
    hs_c = H.start_hstrace(["--json", "-o", str(cfile), "--comm", "curl", *hs_args])
    if hstraces is not None:
        hstraces.update(client=hs_c, server=hs_s)
    for i in range(count):
        c = pair.proc("c", "curl #%d" % i, [
            "curl", "-sS", "--max-time", "10", "--cacert", certs.ca, "--tlsv1.3",
            "--resolve", "%s:%d:%s" % (T.SNI, tport, target), "-o", "/dev/null",
            "https://%s:%d/" % (T.SNI, tport)])
        c.wait_exit(20)
    srv.wait_exit(20)
    H.settle(1.0)
    srecs, crecs = hs_s.stop_ok(path=sfile), hs_c.stop_ok(path=cfile)
    return cfile, sfile, crecs, srecs


def test_join_two_hosts_20ms():
    """Client and server in two namespaces 20 ms apart each way, each end traced by its own
    hstrace into its own file: report --join pairs every connection, attributes about 40 ms
    per hello round trip to the network (the rest to the server), and the timeline aligns the
    server's clock within the bound it states. The round trip is 40 ms plus what the delay
    line added (its trace says how much, per packet: netns.Pair.extra_us())."""
    import test_accuracy as A
    pair = N.Pair(20.0, trace=True)
    cfile, sfile, crecs, srecs = _pair_run(pair)
    pair.down()
    cl = [r for r in crecs if r["role"] == "client" and r["peer"]["port"] == PORT]
    sv = [r for r in srecs if r["role"] == "server" and r["local"]["port"] == PORT]
    check(len(cl) == 3 and len(sv) == 3 and not [r for r in crecs if r["role"] == "server"],
          "each hstrace saw its own ends", crecs + srecs)
    check({r["conn_id"] for r in cl} == {r["conn_id"] for r in sv}, "conn_ids", cl + sv)
    # What the delay line added to each hello round trip (µs): lo..hi, see extra_us().
    extra = {}
    for r in cl:
        ch = pair.extra_us("c>s", A.at(r, "client_hello", "out"), "sent")
        sh = pair.extra_us("s>c", A.at(r, "server_hello", "in"), "written")
        extra[r["conn_id"]] = (ch[0] + sh[0], ch[1] + sh[1])
    H.log("delay line's extra per hello round trip (µs): %s" % sorted(extra.values()))
    rep = json.loads(_join([cfile, sfile], "--json"))
    check(rep["join"]["pairs"] == 3 and rep["connections"] == 3, "pairs", rep)
    net = rep["phases"]["network_hello_rtt"]
    # 2 x 20 ms of delay line, plus the loopback-fast kernels: within the accuracy tests' 2 ms
    lo = min(v[0] for v in extra.values())
    hi = max(v[1] for v in extra.values())
    check(40000 + lo <= net["min_us"] and net["max_us"] <= 42000 + hi,
          "network share of the hello round trip (the delay line added %d..%d µs)" % (lo, hi),
          net)
    rtt = rep["phases"]["client_server_hello_rtt"]
    think = rep["phases"]["server_think"]
    # Per pair server_hello_rtt = network + server_think, so over the pairs (exact values):
    check(rtt["min_us"] + 2 >= net["min_us"] + think["min_us"]
          and net["max_us"] + think["min_us"] <= rtt["max_us"] + 2
          and rtt["max_us"] <= net["max_us"] + think["max_us"] + 2,
          "server_hello_rtt = network + server_think", rep["phases"])
    text = _join([cfile, sfile], "--timeline", "--top", "3")
    offsets = re.findall(r"offset ([+-][0-9.]+) ms, \u00b1 ([0-9.]+) ms", text)
    check(len(offsets) == 3, "3 aligned pairs drawn", text)
    for off, bound in offsets:
        # one host in truth: the true offset is 0; the stated bound must hold it
        check(abs(float(off)) <= float(bound) + 0.1, "offset %s beyond its bound %s"
              % (off, bound), text)
    # On one axis the server receives the ClientHello ~20 ms after the client sent it: half
    # the round trip, as the alignment takes both ways to be equally long, so plus half of
    # what the delay line added to the two packets.
    blocks = text.split("conn_id ")[1:]
    for b in blocks:
        cid = b.split()[0].rstrip(":")
        check(cid in extra, "a joined block of an unknown conn_id", b)
        lo, hi = extra[cid]
        rows = re.findall(r"^\s+(-?[0-9.]+)\s+([CS])\s+(\S)\s+(\w+)", b, re.M)
        t = {(side, ev): float(ts) for ts, side, _, ev in reversed(rows)}
        d = t[("S", "client_hello")] - t[("C", "client_hello")]
        check(18.0 + lo / 2000.0 <= d <= 22.0 + hi / 2000.0, "ClientHello one-way %.3f ms on "
              "the joined axis (the delay line added %d..%d µs to the round trip)"
              % (d, lo, hi), b)


def test_join_through_nat():
    """The client connects to 10.213.0.99:8443, which nftables in its namespace rewrites to the
    server's address and port (DNAT) and its own source port (masquerade random): the two
    ends see different addresses and ports, and still carry one conn_id and are joined."""
    pair = N.Pair(2.0)
    cfile, sfile, crecs, srecs = _pair_run(pair, nat=True)
    cl = [r for r in crecs if r["role"] == "client" and r["peer"]["port"] == 8443]
    sv = [r for r in srecs if r["role"] == "server" and r["local"]["port"] == PORT]
    check(len(cl) == 3 and len(sv) == 3, "3 client ends to the NAT address, 3 server ends",
          crecs + srecs)
    check(all(r["peer"]["addr"] == "10.213.0.99" for r in cl), "client sees the NAT address", cl)
    check({r["conn_id"] for r in cl} == {r["conn_id"] for r in sv}, "conn_ids through NAT",
          cl + sv)
    rep = json.loads(_join([cfile, sfile], "--json"))
    check(rep["join"]["pairs"] == 3, "pairs through NAT", rep)



def _tcp_ext(pair, side):
    """The TcpExt counters of the client ("c") or server ("s") namespace of pair, from its own
    /proc/net/netstat (the counters are per network namespace)."""
    cp = subprocess.run(pair.exec_argv(side, ["cat", "/proc/net/netstat"]), capture_output=True,
                        text=True, timeout=30)
    check(cp.returncode == 0, "reading /proc/net/netstat in the namespace", cp.stderr)
    lines = cp.stdout.splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            return dict(zip(names.split()[1:], map(int, values.split()[1:])))
    raise AssertionError("no TcpExt counters in /proc/net/netstat\n" + cp.stdout)


def _ns_sysctl(pair, side, key, value=None):
    """Sets (with value) and reads back a sysctl inside one namespace of pair."""
    if value is not None:
        cp = subprocess.run(pair.exec_argv(side, ["sysctl", "-qw", "%s=%s" % (key, value)]),
                            capture_output=True, text=True, timeout=30)
        check(cp.returncode == 0, "sysctl -w %s=%s" % (key, value), cp.stderr)
    cp = subprocess.run(pair.exec_argv(side, ["sysctl", "-n", key]), capture_output=True,
                        text=True, timeout=30)
    check(cp.returncode == 0, "sysctl -n %s" % key, cp.stderr)
    return cp.stdout.strip()


def test_conn_id_syn_cookies():
    """The server's namespace answers every SYN with a SYN cookie (net.ipv4.tcp_syncookies=2):
    its ISN is the cookie, which the client sees as well, so both ends (each traced by its own
    hstrace) still carry one conn_id, distinct per connection, and report --join pairs them.
    The kernel's own counters prove that the connections were made through cookies: one cookie
    sent per SYN and one valid cookie received per connection (docs/json.md conn_id)."""
    n = 5
    pair = N.Pair(2.0, trace=True)
    check(_ns_sysctl(pair, "s", "net.ipv4.tcp_syncookies", 2) == "2",
          "tcp_syncookies=2 in the server's namespace")
    before = _tcp_ext(pair, "s")
    cfile, sfile, crecs, srecs = _pair_run(pair, count=n)
    after = _tcp_ext(pair, "s")
    delta = {k: after[k] - before.get(k, 0) for k in ("SyncookiesSent", "SyncookiesRecv",
                                                       "SyncookiesFailed")}
    H.log("server namespace TcpExt: %s" % delta)
    # Every SYN was answered with a cookie (a SYN retransmission would get one more) and every
    # connection was established by checking one: with tcp_syncookies=2 the listener keeps no
    # request socket, so no connection can be made otherwise.
    check(delta["SyncookiesSent"] >= n and delta["SyncookiesRecv"] == n
          and delta["SyncookiesFailed"] == 0,
          "the server's kernel did not make the %d connections through SYN cookies" % n, delta)
    cl = [r for r in crecs if r["role"] == "client" and r["peer"]["port"] == PORT]
    sv = [r for r in srecs if r["role"] == "server" and r["local"]["port"] == PORT]
    check(len(cl) == n and len(sv) == n, "%d client and %d server ends for %d connections"
          % (len(cl), len(sv), n), crecs + srecs)
    for r in cl + sv:
        check(r["result"] == "ok" and (r.get("tls") or {}).get("handshake_done") is True,
              "a TLS handshake that did not complete", r)
        check(re.fullmatch(r"[0-9a-f]{16}", r.get("conn_id", "")), "%s conn_id" % r["role"], r)
    ids = [r["conn_id"] for r in cl]
    check(len(set(ids)) == n, "%d distinct conn_ids among %d connections" % (len(set(ids)), n),
          cl)
    check({r["conn_id"] for r in sv} == set(ids), "server ends' conn_ids differ from the "
          "clients'", cl + sv)
    srv_by_id = {r["conn_id"]: r for r in sv}
    for c in cl:
        s = srv_by_id[c["conn_id"]]
        check(s["peer"]["port"] == c["local"]["port"], "conn_id joins two different "
              "connections", [c, s])
    j = json.loads(_join([cfile, sfile], "--json"))["join"]
    check(j["pairs"] == n and j["unpaired_clients"] == 0 and j["unpaired_servers"] == 0,
          "report --join", j)
    # The server's SYN time is the SYN's arrival as hstrace saw it on the listening socket,
    # not derived from the kernel's first RTT sample, which under cookies comes from the
    # echoed timestamp and was up to 63 ms too long: its tcp_handshake is one round trip (the
    # SYN-ACK out, the ACK in) as the delay line held those two packets, within the accuracy
    # tests' tolerance (test_accuracy.ROUND_TRIP_TOL_US).
    pair.down()
    for s in sv:
        syn = H.event(s, "syn_received")
        check("derived" not in syn, "syn_received derived under SYN cookies", s)
        t0 = H.parse_start(s["start"]).timestamp()
        synack = pair.extra_us("s>c", t0 + syn["t_us"] / 1e6, "sent")
        ack = pair.extra_us("c>s", t0 + H.event(s, "established")["t_us"] / 1e6, "written")
        lo, hi = 4000 + synack[0] + ack[0], 4000 + synack[1] + ack[1]
        v = s["phases_us"]["tcp_handshake"]
        H.log("server tcp_handshake %d µs under SYN cookies; its packets held %d..%d µs"
              % (v, lo, hi))
        check(lo - 2000 <= v <= hi + 2000, "server tcp_handshake %d µs under SYN cookies, its "
              "SYN-ACK and ACK held %d..%d µs" % (v, lo, hi), s)


def test_otlp_two_hosts():
    """Client and server in two namespaces 5 ms apart, each end traced by its own hstrace,
    both exporting with --otlp to one receiver (tools/otlp_receiver.py), as two hosts
    reporting to one backend would: each connection's two connection spans, computed apart
    from conn_id alone, land in one trace, the server's a child of the client's, with each
    end's phase spans under its own connection span (docs/otlp.md Traces)."""
    import test_otlp as O
    n = 3
    rcv = O.start_receiver()
    pair = N.Pair(5.0)
    hs = {}
    cfile, sfile, crecs, srecs = _pair_run(pair, count=n, hs_args=["--otlp", rcv.url()],
                                           hstraces=hs)
    cl = [r for r in crecs if r["role"] == "client" and r["peer"]["port"] == PORT]
    sv = [r for r in srecs if r["role"] == "server" and r["local"]["port"] == PORT]
    check(len(cl) == n and len(sv) == n and len(crecs) == n and len(srecs) == n,
          "each hstrace saw its own %d ends and nothing else" % n, crecs + srecs)
    check({r["conn_id"] for r in cl} == {r["conn_id"] for r in sv}
          and len({r["conn_id"] for r in cl}) == n, "conn_ids", cl + sv)
    # Each process delivered its own ends, nothing dropped (counted by each, after its flush
    # at exit).
    for role, recs in (("client", crecs), ("server", srecs)):
        s = O.otlp_summary(hs[role])
        check(s["otlp_dropped"] == 0 and s["otlp_exported"] == len(recs),
              "%s hstrace: Summary %s for %d records" % (role, s, len(recs)),
              hs[role].stderr())
    # The receiver's spans are exactly both files' records, each with its phase spans, and
    # both ends of every connection in one trace, the server's connection span a child of
    # the client's (check_against_ndjson() checks those links for every paired conn_id).
    check(O.check_against_ndjson(rcv, crecs + srecs) == 2 * n,
          "not every connection's two ends were found in one trace")
    roots = O.roots_by_cookie(rcv)
    spans = rcv.spans()
    for c in cl:
        s = [r for r in sv if r["conn_id"] == c["conn_id"]][0]
        cs, ss = roots[str(c["cookie"])], roots[str(s["cookie"])]
        check(cs.trace_id == ss.trace_id and not cs.parent_span_id
              and ss.parent_span_id == cs.span_id and cs.kind == O.CLIENT
              and ss.kind == O.SERVER,
              "conn_id %s: the server's connection span is not a child of the client's in "
              "one trace" % c["conn_id"], str(cs), str(ss))
        trace = [sp for _, sp in spans if sp.trace_id == cs.trace_id]
        check(len(trace) == 2 + len(c["phases"]) + len(s["phases"]),
              "conn_id %s: %d spans in its trace, expected both connection spans and their "
              "%d + %d phase spans" % (c["conn_id"], len(trace), len(c["phases"]),
                                       len(s["phases"])), [str(sp) for sp in trace])
    rep = json.loads(_join([cfile, sfile], "--json"))
    check(rep["join"]["pairs"] == n, "pairs", rep)
