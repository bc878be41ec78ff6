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


def _pair_run(pair, nat=False, count=3):
    """TLS 1.3 connections from the client namespace to s_server in the server namespace,
    traced by two hstrace instances (the server's end and the client's end, as two hosts
    would), and with nat the client connecting to an address and port that nftables in its
    namespace rewrites. Returns (client file, server file, both hstraces' records)."""
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
    hs_s = H.start_hstrace(["--json", "-o", str(sfile), "-p", str(srv.pid)])
    hs_c = H.start_hstrace(["--json", "-o", str(cfile), "--comm", "curl"])
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

