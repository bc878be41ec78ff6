# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Reports and the timeline view: -i during real traffic (every interval report well-formed,
counts adding up to the connections made), --report, --timeline with --slow, and
`hstrace report` on files: usage errors, a missing file, gzip and stdin input, and its
numbers checked against an independent computation over the golden fixture."""

import gzip
import json
import math
import re
import signal
import subprocess
import time

import harness as H
from harness import check

FIXTURE = H.REPO / "tests" / "golden" / "mixed.ndjson"


def _check_phase(name, ph, conns, where):
    check(isinstance(ph.get("count"), int) and 0 < ph["count"] <= conns,
          "%s: phase %s count %r (connections %d)" % (where, name, ph.get("count"), conns), ph)
    vals = [ph[k] for k in ("min_us", "p50_us", "p90_us", "p99_us", "max_us")]
    check(all(isinstance(v, int) and v >= 0 for v in vals) and vals == sorted(vals),
          "%s: phase %s: min <= p50 <= p90 <= p99 <= max fails" % (where, name), ph)
    if "log2_hist" in ph:
        total = 0
        for slot in ph["log2_hist"]:
            low, high = slot["low"], slot["high"]
            check((low == 0 and high == 1) or (low & (low - 1) == 0 and high == 2 * low - 1),
                  "%s: phase %s: bad log2 slot %r" % (where, name, slot), ph)
            total += slot["count"]
        check(total == ph["count"], "%s: phase %s: histogram holds %d of %d values"
              % (where, name, total, ph["count"]), ph)


def check_report(rep, where):
    """One JSON report (schema hstrace-report/1) is well-formed and adds up."""
    check(rep.get("schema") == "hstrace-report/1", "%s: schema" % where, rep)
    conns = rep["connections"]
    check(sum(rep["results"].values()) == conns, "%s: results do not add up" % where, rep)
    check(rep["failed"] == conns - rep["results"].get("ok", 0), "%s: failed" % where, rep)
    for name, ph in rep["phases"].items():
        _check_phase(name, ph, conns, where)
    if rep.get("by") is not None:
        groups = rep["groups"]
        in_groups = sum(g["connections"] for g in groups) + rep.get("other", {}).get(
            "connections", 0)
        check(in_groups == conns, "%s: groups hold %d of %d connections"
              % (where, in_groups, conns), rep)
        for g in groups:
            check(sum(g["results"].values()) == g["connections"],
                  "%s: group %s results" % (where, g["key"]), rep)
            for name, ph in g["phases"].items():
                _check_phase(name, ph, g["connections"], "%s group %s" % (where, g["key"]))
    return rep




def test_interval_reports_add_up():
    n = 14
    srv = H.start_server(count=n, reply=5, comm="hs_iv_s")
    hs = H.start_hstrace(["-i", "1", "--json", "--all", "--by", "role", "--port", str(srv.port)])
    cl = H.start_client(srv.port, count=n, send=5, interval=0.25, comm="hs_iv_c")
    cl.wait_exit(30)
    srv.wait_exit(10)
    H.settle(1.2)  # at least one more interval report after the last connection
    check(hs.stop(signal.SIGINT) == 0, "hstrace exit status", hs.stderr())
    lines = [l for l in hs.stdout().splitlines() if l.strip()]
    check(len(lines) >= 4, "expected >= 4 interval reports (>= 3.5 s of traffic), got %d"
          % len(lines), hs.stdout())
    reps = []
    for i, line in enumerate(lines, 1):
        try:
            rep = json.loads(line)
        except ValueError as e:
            raise AssertionError("report line %d is not JSON (%s): %r" % (i, e, line))
        reps.append(check_report(rep, "report %d" % i))
    seqs = [r["interval"]["seq"] for r in reps]
    check(seqs == list(range(1, len(reps) + 1)), "interval seq numbers %r" % seqs)
    check([r["interval"]["final"] for r in reps] == [False] * (len(reps) - 1) + [True],
          "only the last report is final", lines)
    for r in reps[:-1]:
        check(0.5 <= r["interval"]["seconds"] <= 2.5, "interval of %r s for -i 1"
              % r["interval"]["seconds"], r)
    check(sum(1 for r in reps if r["connections"]) >= 2,
          "the connections all fell in one interval: not a test of adding up", lines)

    def role_total(role, what="connections", phase=None):
        tot = 0
        for r in reps:
            for g in r.get("groups", []):
                if g["key"] != role:
                    continue
                tot += g["phases"].get(phase, {}).get("count", 0) if phase else g[what]
        return tot

    total = sum(r["connections"] for r in reps)
    check(total == 2 * n, "interval reports count %d connections, expected %d (%d clients, "
          "%d servers)" % (total, 2 * n, n, n), lines)
    check(role_total("client") == n and role_total("server") == n,
          "per role: client %d, server %d, expected %d each"
          % (role_total("client"), role_total("server"), n), lines)
    check(role_total("client", phase="tcp_handshake") == n,
          "client tcp_handshake values %d, expected %d" % (role_total("client", phase="tcp_handshake"), n))
    check(role_total("server", phase="accept_wait") == n,
          "server accept_wait values %d, expected %d" % (role_total("server", phase="accept_wait"), n))
    m = re.search(r"shown=(\d+)", hs.stderr())
    check(m and int(m.group(1)) == total, "Summary shown= differs from the reports", hs.stderr())


def test_interval_text_reports():
    n = 6
    srv = H.start_server(count=n, reply=5, comm="hs_it_s")
    hs = H.start_hstrace(["-i", "1", "--all", "--port", str(srv.port)])
    cl = H.start_client(srv.port, count=n, send=5, interval=0.3, comm="hs_it_c")
    cl.wait_exit(30)
    srv.wait_exit(10)
    H.settle(1.2)
    check(hs.stop(signal.SIGINT) == 0, "hstrace exit status", hs.stderr())
    out = hs.stdout()
    heads = re.findall(r"^Report #(\d+): \S+ - \S+ \([\d.]+ s\)(, final)?$", out, re.M)
    check(len(heads) >= 2, "expected >= 2 'Report #N' headers", out)
    check([int(h[0]) for h in heads] == list(range(1, len(heads) + 1)), "report numbers", out)
    check([h[1] for h in heads] == [""] * (len(heads) - 1) + [", final"], "final marker", out)
    counts = [int(c) for c in re.findall(r"^Connections: (\d+) \(ok \d+, failed \d+\)$", out,
                                         re.M)]
    check(len(counts) == len(heads), "one Connections line per report", out)
    check(sum(counts) == 2 * n, "reports count %d connections, expected %d" % (sum(counts), 2 * n),
          out)
    check("TIME     PID" not in out, "-i printed the per-connection header", out)
    check(re.search(r"^tcp_handshake:\n +usecs +: count +distribution$", out, re.M),
          "no log2 histogram of tcp_handshake", out)


def test_final_report_only():
    n = 4
    srv = H.start_server(count=n, reply=5, comm="hs_fr_s")
    hs = H.start_hstrace(["--report", "--json", "--all", "--by", "port", "--port",
                          str(srv.port)])
    cl = H.start_client(srv.port, count=n, send=5, comm="hs_fr_c")
    cl.wait_exit(20)
    srv.wait_exit(10)
    H.settle()
    check(hs.stop(signal.SIGINT) == 0, "hstrace exit status", hs.stderr())
    lines = [l for l in hs.stdout().splitlines() if l.strip()]
    check(len(lines) == 1, "--report printed %d lines, expected one report" % len(lines),
          hs.stdout())
    rep = check_report(json.loads(lines[0]), "final report")
    check(rep["interval"]["final"] is True and rep["connections"] == 2 * n,
          "final report counts %d connections, expected %d" % (rep["connections"], 2 * n), rep)
    keys = {g["key"]: g["connections"] for g in rep["groups"]}
    check(keys == {str(srv.port): 2 * n}, "--by port: both ends group under the service port",
          rep)


def test_timeline_slow():
    srv = H.start_server(count=1, reply=5, comm="hs_tl_s")
    refused_port, _held = H.free_port()
    # --slow 100000: nothing on loopback takes 100 s, so only the failed connect is shown
    hs = H.start_hstrace(["--timeline", "--all", "--slow", "100000", "--color", "always"])
    hs_all = H.start_hstrace(["--timeline", "--all", "--port", str(srv.port)])
    cl = H.start_client(srv.port, send=5, comm="hs_tl_c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    bad = H.start_client(refused_port, comm="hs_tl_r")
    bad.wait_exit(10, expect=1)
    H.settle()
    check(hs.stop() == 0 and hs_all.stop() == 0, "hstrace exit status",
          hs.stderr(), hs_all.stderr())
    out, out_all = hs.stdout(), hs_all.stdout()
    check("hs_tl_r[%d]" % bad.pid in out, "--slow: the refused connect is not shown", out)
    check("refused" in out and "\033[31m" in out, "--slow: no red 'refused' result", out)
    check("hs_tl_c[%d]" % cl.pid not in out, "--slow: a fast ok connection was shown", out)
    check("\033[" not in out_all, "--color=auto coloured a file", out_all)
    head = "hs_tl_c[%d] client 127.0.0.1:%d \u2192 127.0.0.1:%d" % (cl.pid, cl.ports()[0],
                                                                  srv.port)
    check(head in out_all, "no timeline header %r" % head, out_all)
    block = out_all[out_all.index(head):].split("\n\n")[0].splitlines()
    check(re.search(r"T\(ms\)", block[1]), "no column header", block)
    check(re.match(r"^ +0\.000 +0\.000 +\u2192 +syn_sent +\|", block[2]), "first event line",
          block)
    check(any("\u252c" in l and "tcp_handshake" in l for l in block), "tcp_handshake lane", block)
    check(any(re.search(r"\u2190 +established", l) for l in block), "established line", block)
    check("closed" in block[-1] or any("closed" in l for l in block), "closed line", block)


def test_report_cli():
    problems = []
    for args in (["report"], ["report", "--by", "nope", str(FIXTURE)],
                 ["report", "--top", "0", str(FIXTURE)], ["report", "--bogus", str(FIXTURE)],
                 ["report", str(FIXTURE), str(FIXTURE)], ["--timeline", "--json"],
                 ["-i", "1", "--report"], ["--by", "sni"], ["-i", "0"], ["--color", "maybe"],
                 ["--slow", "abc"]):
        cp = H.run_hstrace(args, timeout=15)
        if cp.returncode != 2 or "Usage" not in cp.stderr:
            problems.append("%s: status %d, stderr %r" % (args, cp.returncode, cp.stderr))
    check(not problems, "usage errors:\n" + "\n".join(problems))

    cp = H.run_hstrace(["report", "/nonexistent/conns.ndjson"], timeout=15)
    check(cp.returncode == 1 and len(cp.stderr.splitlines()) == 1
          and "/nonexistent/conns.ndjson" in cp.stderr and cp.stdout == "",
          "missing file: expected status 1 and one stderr line", cp.stderr)

    d = H.make_tmpdir()
    gz = d / "mixed.ndjson.gz"
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    plain = H.run_hstrace(["report", "--json", "--by", "sni", str(FIXTURE)], timeout=15)
    zipped = H.run_hstrace(["report", "--json", "--by", "sni", str(gz)], timeout=15)
    cmd = [str(H.hstrace_path()), "report", "--json", "--by", "sni", "-"]
    with open(FIXTURE, "rb") as f:
        stdin = subprocess.run(cmd, stdin=f, capture_output=True, text=True, timeout=15)
    reps = []
    for cp in (plain, zipped, stdin):
        check(cp.returncode == 0, "report failed", cp.stderr)
        rep = json.loads(cp.stdout)
        del rep["input"]["file"]
        reps.append(rep)
    check(reps[0] == reps[1] == reps[2], "plain, gzip and stdin reports differ", *reps)

    # truncated gzip: an error, not a shorter report
    gz.write_bytes(gzip.compress(FIXTURE.read_bytes())[:3000])
    cp = H.run_hstrace(["report", str(gz)], timeout=15)
    check(cp.returncode == 1 and len(cp.stderr.splitlines()) == 1, "truncated gzip", cp.stderr)


def _nearest_rank(sorted_vals, p):
    rank = max(1, math.ceil(p / 100.0 * len(sorted_vals)))
    return sorted_vals[rank - 1]


def test_report_numbers_independent():
    """hstrace report --json on the golden fixture against Python's exact computation."""
    recs = [json.loads(l) for l in FIXTURE.read_text().splitlines() if l.strip()]
    cp = H.run_hstrace(["report", "--json", "--by", "sni", "--top", "3", str(FIXTURE)],
                       timeout=15)
    check(cp.returncode == 0, "report failed", cp.stderr)
    rep = check_report(json.loads(cp.stdout), "fixture report")
    check(rep["connections"] == len(recs), "connections", rep)
    results = {}
    for r in recs:
        results[r["result"]] = results.get(r["result"], 0) + 1
    check(rep["results"] == results, "results %r, expected %r" % (rep["results"], results))

    def check_phases(got, subset, where):
        vals = {}
        for r in subset:
            for k, v in r["phases_us"].items():
                vals.setdefault(k, []).append(v)
        check(set(got) == set(vals), "%s: phases %s, expected %s" % (where, sorted(got),
                                                                    sorted(vals)))
        for k, vs in vals.items():
            vs.sort()
            g = got[k]
            check(g["count"] == len(vs) and g["min_us"] == vs[0] and g["max_us"] == vs[-1],
                  "%s: %s count/min/max" % (where, k), g)
            for p in (50, 90, 99):
                exact = _nearest_rank(vs, p)
                est = g["p%d_us" % p]
                check(abs(est - exact) * 128 <= exact,
                      "%s: %s p%d = %d, exact %d: beyond the 1/128 bound"
                      % (where, k, p, est, exact))
            if "log2_hist" in g:
                for slot in g["log2_hist"]:
                    n = sum(1 for v in vs if slot["low"] <= v <= slot["high"])
                    check(n == slot["count"], "%s: %s slot %r holds %d values"
                          % (where, k, slot, n))

    check_phases(rep["phases"], recs, "all")
    by_sni = {}
    for r in recs:
        by_sni.setdefault((r.get("tls") or {}).get("sni") or "-", []).append(r)
    ranked = sorted(by_sni.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    check([g["key"] for g in rep["groups"]] == [k for k, _ in ranked[:3]],
          "top 3 groups %r, expected %r" % ([g["key"] for g in rep["groups"]],
                                            [k for k, _ in ranked[:3]]))
    for g, (key, subset) in zip(rep["groups"], ranked):
        check(g["connections"] == len(subset), "group %s connections" % key, g)
        check_phases(g["phases"], subset, "group " + key)
    rest = [r for _, s in ranked[3:] for r in s]
    check(rep["other"]["connections"] == len(rest) and rep["other"]["groups"] == len(ranked) - 3,
          "other row", rep["other"])
    check_phases(rep["other"]["phases"], rest, "other")
