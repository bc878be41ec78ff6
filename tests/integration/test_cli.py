# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""The command line: usage errors, non-root, --btf, --help, -o, --duration, SIGTERM and the
default text output."""

import re
import signal
import time

import harness as H
from harness import check


def _one_conn(comm, send=5):
    srv = H.start_server(count=1, reply=5, comm=comm + "s")
    cl = H.start_client(srv.port, send=send, comm=comm + "c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    return srv, cl


def test_usage_errors():
    problems = []
    for args in (["--no-such-flag"], ["-p", "abc"], ["--port", "70000"], ["--duration", "-1"]):
        cp = H.run_hstrace(args, timeout=15)
        if cp.returncode != 2:
            problems.append("%s: exit status %d, expected 2" % (args, cp.returncode))
        if "Usage" not in cp.stderr:
            problems.append("%s: no 'Usage' in stderr: %r" % (args, cp.stderr))
        if "Tracing" in cp.stderr:
            problems.append("%s: started tracing" % args)
    check(not problems, "\n".join(problems))


def test_not_root():
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    cp = H.run_hstrace(["--json"], prefix=prefix, timeout=15)
    lines = cp.stderr.splitlines()
    check(cp.returncode == 1, "non-root exit status %d, expected 1" % cp.returncode, cp.stderr)
    check(len(lines) == 1, "non-root: expected exactly one stderr line, got %d" % len(lines),
          cp.stderr)
    check(re.search(r"root|CAP_BPF", lines[0], re.I),
          "non-root message does not mention root or CAP_BPF: %r" % lines[0])
    check(cp.stdout == "", "non-root wrote to stdout: %r" % cp.stdout)


def test_capabilities_named():
    """Without one of the capabilities the BPF programs need, one line names it and exit 1;
    with them but without CAP_SYS_ADMIN, which this kernel wants for uprobes, tracing starts
    and the line about each library it cannot probe says which capability would help."""
    cases = [("-bpf", "CAP_BPF"), ("-perfmon", "CAP_PERFMON"), ("-net_admin", "CAP_NET_ADMIN")]
    for drop, name in cases:
        spec = "-sys_admin,%s" % drop
        prefix = ["setpriv", "--inh-caps=" + spec, "--bounding-set=" + spec, "--"]
        cp = H.run_hstrace(["--json"], prefix=prefix, timeout=15)
        check(cp.returncode == 1 and name in cp.stderr and len(cp.stderr.splitlines()) == 1,
              "without %s: exit %d" % (name, cp.returncode), cp.stderr)
    prefix = ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", "--"]
    cp = H.run_hstrace(["--json", "-o", "/dev/null", "--duration", "1"], prefix=prefix,
                       timeout=30)
    check(cp.returncode == 0 and "Tracing" in cp.stderr, "without CAP_SYS_ADMIN", cp.stderr)
    probed = re.search(r"probed in (\d+) librar", cp.stderr)
    if probed and probed.group(1) == "0":
        check("CAP_SYS_ADMIN" in cp.stderr and "--no-uprobes" in cp.stderr,
              "uprobes refused without a word on the capability", cp.stderr)


def test_btf_missing():
    cp = H.run_hstrace(["--btf", "/nonexistent/file"], timeout=15)
    lines = cp.stderr.splitlines()
    check(cp.returncode == 1, "--btf /nonexistent/file: exit status %d, expected 1"
          % cp.returncode, cp.stderr)
    check(len(lines) == 1, "expected exactly one stderr line, got %d" % len(lines), cp.stderr)
    check("/nonexistent/file" in lines[0], "message does not name the file: %r" % lines[0])


def test_help():
    cp = H.run_hstrace(["--help"], timeout=15)
    check(cp.returncode == 0, "--help exit status %d, expected 0" % cp.returncode)
    check("EXAMPLES" in cp.stdout, "--help shows no EXAMPLES on stdout", cp.stdout, cp.stderr)
    check("Tracing" not in cp.stderr, "--help started tracing")


def test_output_file():
    out = H.make_tmpdir() / "out.ndjson"
    hs = H.start_hstrace(["--json", "--all", "-o", str(out)])
    srv, cl = _one_conn("hs_of_")
    H.settle()
    recs = hs.stop_ok(path=out)
    c = H.one(recs, "client", role="client", lport=cl.ports()[0], rport=srv.port)
    s = H.one(recs, "server", role="server", lport=srv.port, rport=cl.ports()[0])
    for r, p in ((c, cl), (s, srv)):
        H.check_record(r)
        check(r["pid"] == p.pid and r["result"] == "ok", "%s record" % r["role"], r)
    check(not any(l.startswith("{") for l in hs.stdout().splitlines()),
          "-o FILE: records also went to stdout", hs.stdout())


def test_duration_exits_by_itself():
    hs = H.start_hstrace(["--json", "--all", "--duration", "2"])
    srv, cl = _one_conn("hs_du_")
    rc = hs.wait_exit(15)
    t_exit = time.monotonic()
    check(rc == 0, "--duration 2: exit status %d, expected 0" % rc, hs.stderr())
    check(t_exit - hs.t_start >= 1.9, "--duration 2 exited after %.2fs" % (t_exit - hs.t_start))
    check(t_exit - hs.t_tracing <= 5.0, "--duration 2 ran %.2fs after 'Tracing'"
          % (t_exit - hs.t_tracing))
    summ = hs.summary()
    recs = hs.records()
    check(summ["connections"] >= len(recs), "Summary connections < records", hs.stderr())
    c = H.one(recs, "client", role="client", lport=cl.ports()[0], rport=srv.port)
    H.check_record(c)
    check(c["pid"] == cl.pid and c["result"] == "ok", "client record", c)


def test_sigterm_flushes_incomplete():
    srv = H.start_server(count=1, comm="hs_term_s")
    hs = H.start_hstrace(["--json", "--all"])
    cl = H.start_client(srv.port, send=3, hold=60, comm="hs_term_c")
    lport = int(cl.wait_line("connected ").split()[1])
    srv.wait_line("accepted ")
    H.settle(0.5)
    recs = hs.stop_ok(sig=signal.SIGTERM)
    c = H.one(recs, "client", role="client", lport=lport, rport=srv.port)
    H.check_record(c)
    check(c["pid"] == cl.pid and c["result"] == "incomplete", "client record after SIGTERM", c)
    check(hs.summary()["connections"] >= 2, "Summary counts fewer than our 2 open connections",
          hs.stderr())


def test_text_output():
    srv = H.start_server(count=2, reply=5, comm="hs_txt_s")
    hs = H.start_hstrace(["--all"])
    cl = H.start_client(srv.port, count=2, send=5, comm="hs_txt_c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    H.settle()
    check(hs.stop() == 0, "exit status is not 0", hs.stderr())
    hs.summary()
    lines = [l for l in hs.stdout().splitlines() if l.strip()]
    check(lines, "no output at all", hs.stderr())
    header = lines[0]
    check("PID" in header.upper() and str(cl.pid) not in header,
          "first line is not a column header: %r" % header, hs.stdout())
    check(lines.count(header) == 1, "header printed %d times" % lines.count(header), hs.stdout())
    check(not any(l.lstrip().startswith("{") for l in lines), "text mode printed JSON",
          hs.stdout())

    def rows(pid, role):
        return [l for l in lines[1:] if str(pid) in l.split() and role in l.split()]

    crows = rows(cl.pid, "client")
    check(len(crows) == 2, "expected 2 lines with the client pid %d and 'client', got %d"
          % (cl.pid, len(crows)), hs.stdout())
    for port in cl.ports():
        check(any(re.search(r"\b%d\b" % port, l) for l in crows),
              "no client line shows local port %d" % port, hs.stdout())
    srows = rows(srv.pid, "server")
    check(len(srows) == 2, "expected 2 lines with the server pid %d and 'server', got %d"
          % (srv.pid, len(srows)), hs.stdout())
