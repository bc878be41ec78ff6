# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""hstrace as a service (issue #11 part 3 and 5, issue #12 part 4): the -o file's mode and
symlink refusal, SIGHUP reopen under a real logrotate with traffic running, --quiet, bad input
(--btf, -p, `hstrace report`), the systemd unit, logrotate snippet, man page, make install and
the deployment YAML under deploy/."""

import gzip
import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import harness as H
from harness import check

DEPLOY = H.REPO / "deploy"
UNIT = DEPLOY / "hstrace.service"
LOGROTATE = DEPLOY / "hstrace.logrotate"
MAN = H.REPO / "docs" / "hstrace.8"


def _run(argv, timeout=60, **kw):
    H.log("$ " + " ".join(str(a) for a in argv))
    cp = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                        timeout=timeout, **kw)
    H.log("status %d\nstdout:\n%s\nstderr:\n%s" % (cp.returncode, cp.stdout[-3000:],
                                                   cp.stderr[-3000:]))
    return cp


def _wait_fds(hs, kind, n=1, timeout=30.0):
    """Waits until hstrace holds n fds of kind ("anon_inode:[eventpoll]", ...) in /proc/PID/fd:
    for runs with --quiet, which print no "Tracing" line."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        check(hs.proc.poll() is None, "hstrace exited with %s before attaching"
              % hs.proc.poll(), hs.stderr())
        found = 0
        try:
            fds = os.listdir("/proc/%d/fd" % hs.pid)
        except FileNotFoundError:
            fds = []
        for fd in fds:
            try:
                found += os.readlink("/proc/%d/fd/%s" % (hs.pid, fd)) == kind
            except OSError:
                pass
        if found >= n:
            return
        time.sleep(0.05)
    raise AssertionError("hstrace held no %d %s within %gs\n%s" % (n, kind, timeout,
                                                                  hs.stderr()))


def _wait_attached(hs):
    """Waits until hstrace (run without --metrics) has its ring buffer open, the last step of
    loading: every program is attached from then on. Its epoll fd shows it."""
    _wait_fds(hs, "anon_inode:[eventpoll]")


def _read_lines(path):
    """The lines of a plain or .gz file, each checked to be one whole JSON object."""
    data = gzip.open(path, "rt").read() if str(path).endswith(".gz") else Path(path).read_text()
    check(data == "" or data.endswith("\n"), "%s does not end with a newline" % path, data[-300:])
    recs = []
    for i, line in enumerate(data.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise AssertionError("%s line %d is not JSON (%s): %r" % (path, i, e, line[:300]))
        check(isinstance(obj, dict) and obj.get("schema") == H.SCHEMA,
              "%s line %d is not an hstrace record" % (path, i), line[:300])
        recs.append(obj)
    return recs


def _conn_keys(recs):
    """(role, local port, peer port) of each record."""
    return [(r["role"], r["local"]["port"], r["peer"]["port"]) for r in recs]


def _expected_keys(client, server_port):
    keys = set()
    for p in client.ports():
        keys.add(("client", p, server_port))
        keys.add(("server", server_port, p))
    return keys


def _wait_records(path, keys, timeout=15.0):
    """Waits until every (role, lport, rport) of keys is in the file at path."""
    end = time.monotonic() + timeout
    while True:
        have = set(_conn_keys(_read_lines(path))) if path.exists() else set()
        if keys <= have:
            return
        if time.monotonic() > end:
            raise AssertionError("%d of %d records still missing from %s after %gs: %s"
                                 % (len(keys - have), len(keys), path, timeout,
                                    sorted(keys - have)[:10]))
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# the output file

def test_output_file_mode():
    """-o creates the file 0600 whatever the umask; --output-mode gives exactly that mode; an
    existing file keeps its mode and is emptied (as before)."""
    d = H.make_tmpdir()
    new, asked, old = d / "new.ndjson", d / "asked.ndjson", d / "old.ndjson"
    old.write_text("line from an earlier run\n")
    os.chmod(old, 0o644)
    umask0 = ["sh", "-c", 'umask 000; exec "$0" "$@"']
    umask77 = ["sh", "-c", 'umask 077; exec "$0" "$@"']
    for prefix, args in ((umask0, ["-o", new]), (umask77, ["-o", asked, "--output-mode", "644"]),
                         (umask0, ["-o", old])):
        cp = H.run_hstrace(["--json", "--quiet", "--duration", "1", *map(str, args)],
                           prefix=prefix, timeout=30)
        check(cp.returncode == 0, "hstrace %s: status %d" % (args, cp.returncode), cp.stderr)
    modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in (new, asked, old)}
    H.log("modes: %s" % {k: oct(v) for k, v in modes.items()})
    check(modes["new.ndjson"] == 0o600, "new file mode %o, expected 600" % modes["new.ndjson"])
    check(modes["asked.ndjson"] == 0o644, "--output-mode 644 under umask 077 gave %o"
          % modes["asked.ndjson"])
    check(modes["old.ndjson"] == 0o644, "an existing file's mode changed to %o"
          % modes["old.ndjson"])
    check("earlier run" not in old.read_text(), "the existing file was not emptied",
          old.read_text())
    for bad in (["--output-mode", "999", "-o", str(d / "x")], ["--output-mode", "1644", "-o",
                str(d / "x")], ["--output-mode", "600"]):
        cp = H.run_hstrace(bad, timeout=15)
        check(cp.returncode == 2 and "Usage" in cp.stderr, "%s: status %d, expected usage + 2"
              % (bad, cp.returncode), cp.stderr)
    check(not (d / "x").exists(), "a refused --output-mode still created the file")


def test_output_symlink_refused():
    """A symlink planted at the -o path is refused (one line, status 1); the file it points to
    keeps its content and time, and a dangling link's target is not created."""
    d = H.make_tmpdir()
    target, link = d / "victim", d / "out.ndjson"
    target.write_text("precious\n")
    os.utime(target, (1_000_000_000, 1_000_000_000))
    link.symlink_to(target)
    dangling_target, dangling = d / "not-there", d / "dangling.ndjson"
    dangling.symlink_to(dangling_target)
    for path in (link, dangling):
        cp = H.run_hstrace(["--json", "-o", str(path), "--duration", "1"], timeout=20)
        lines = cp.stderr.splitlines()
        check(cp.returncode == 1, "-o symlink: status %d, expected 1" % cp.returncode, cp.stderr)
        check(len(lines) == 1 and str(path) in lines[0] and "symbolic link" in lines[0],
              "-o symlink: expected one line naming the path and 'symbolic link'", cp.stderr)
        check("Tracing" not in cp.stderr and cp.stdout == "", "-o symlink: tracing started")
    st = os.stat(target)
    check(target.read_text() == "precious\n" and st.st_mtime == 1_000_000_000,
          "the symlink's target was changed (mtime %s)" % st.st_mtime, target.read_text())
    check(not dangling_target.exists(), "the dangling symlink's target was created")


def _logrotate_conf(d, pid):
    """deploy/hstrace.logrotate for the log in d, its postrotate sending SIGHUP to pid (the
    systemctl of the shipped snippet needs systemd as init)."""
    text = LOGROTATE.read_text()
    check(text.count("/var/log/hstrace/*.ndjson") == 1, "snippet: no /var/log/hstrace/*.ndjson")
    post = re.search(r"^\s*systemctl kill -s HUP .*hstrace.*$", text, re.M)
    check(post, "snippet: postrotate does not run `systemctl kill -s HUP ... hstrace`", text)
    text = text.replace("/var/log/hstrace/*.ndjson", "%s/*.ndjson" % d)
    text = text.replace(post.group(0), "\t\tkill -HUP %d" % pid)
    conf = d.parent / ("%s.logrotate" % d.name)
    conf.write_text(text)
    os.chmod(conf, 0o644)
    return conf


def test_sighup_logrotate():
    """Real logrotate with the shipped snippet rotates the output twice while a client makes
    connections: every connection end is in exactly one file, once, each line whole JSON; the
    new files are hstrace's (0600); records written before a rotation are in the older file."""
    root = H.make_tmpdir()
    d = root / "log"
    d.mkdir(mode=0o750)
    out = d / "hstrace.ndjson"
    srv = H.start_server(count=0, reply=2, comm="hs_rot_s")
    hs = H.start_hstrace(["--json", "--all", "--port", str(srv.port), "-o", str(out)])
    conf = _logrotate_conf(d, hs.pid)
    state = root / "logrotate.state"

    def rotate():
        cp = _run(["logrotate", "-f", "-s", state, conf])
        check(cp.returncode == 0, "logrotate failed (%d)" % cp.returncode, cp.stderr)

    # Before any rotation: 8 connections, all written, so they must end up in the oldest file.
    first = H.start_client(srv.port, count=8, send=2, comm="hs_rot_a")
    first.wait_exit(20)
    first_keys = _expected_keys(first, srv.port)
    _wait_records(out, first_keys)
    # Then a client that keeps connecting while logrotate renames and hstrace reopens, twice.
    busy = H.start_client(srv.port, count=120, send=2, interval=0.02, comm="hs_rot_b")
    busy.wait_line("connected ", n=20, timeout=20)
    rotate()
    busy.wait_line("connected ", n=60, timeout=20)
    rotate()
    busy.wait_exit(40)
    last = H.start_client(srv.port, count=4, send=2, comm="hs_rot_c")
    last.wait_exit(20)
    expected = first_keys | _expected_keys(busy, srv.port) | _expected_keys(last, srv.port)
    _wait_records(out, _expected_keys(last, srv.port))
    H.settle()
    hs.stop(signal.SIGTERM)
    check(hs.rc == 0, "hstrace status %s" % hs.rc, hs.stderr())
    check("reopen" not in hs.stderr(), "hstrace could not reopen its output", hs.stderr())

    files = sorted(p.name for p in d.iterdir())
    H.log("files after two rotations: %s" % files)
    check(files == ["hstrace.ndjson", "hstrace.ndjson.1", "hstrace.ndjson.2.gz"],
          "unexpected files after two rotations (delaycompress): %s" % files)
    recs_per_file = {name: _read_lines(d / name) for name in files}
    per_file = {name: _conn_keys(recs) for name, recs in recs_per_file.items()}
    for name, keys in per_file.items():
        H.log("%s: %d records" % (name, len(keys)))
    # A connection end is its ports and its start: the kernel may give a later connection a
    # local port an earlier one had (seen: 10 of 132 within 3 s).
    ends = {}
    for name, recs in recs_per_file.items():
        for r in recs:
            ends.setdefault(_conn_keys([r])[0] + (r["start"],), []).append(name)
    dup = {k: v for k, v in ends.items() if len(v) > 1}
    check(not dup, "%d connection ends written more than once: %s" % (len(dup),
                                                                     list(dup.items())[:5]))
    seen = {k[:3] for k in ends}
    missing = expected - set(seen)
    check(not missing, "%d of %d connection ends in no file: %s"
          % (len(missing), len(expected), sorted(missing)[:10]))
    check(seen == expected, "records of other connections: %s"
          % sorted(seen - expected)[:10])
    check(first_keys <= set(per_file["hstrace.ndjson.2.gz"]),
          "records written before the first rotation are not in the oldest file")
    for name in ("hstrace.ndjson", "hstrace.ndjson.1"):
        mode = stat.S_IMODE(os.stat(d / name).st_mode)
        check(mode == 0o600, "%s (created by hstrace after SIGHUP) has mode %o" % (name, mode))


def test_quiet():
    """--quiet: a clean run with connections writes nothing on stderr, and the records."""
    out = H.make_tmpdir() / "q.ndjson"
    srv = H.start_server(count=3, reply=2, comm="hs_quiet_s")
    hs = H.Hstrace(["--json", "--all", "--quiet", "--port", str(srv.port), "-o", str(out)])
    _wait_attached(hs)
    cl = H.start_client(srv.port, count=3, send=2, comm="hs_quiet_c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    _wait_records(out, _expected_keys(cl, srv.port))
    rc = hs.stop(signal.SIGINT)
    check(rc == 0, "--quiet: status %d" % rc, hs.stderr())
    check(hs.stderr() == "", "--quiet: stderr is not empty", hs.stderr())
    check(len(_read_lines(out)) == 6, "--quiet: expected 6 records", out.read_text())


# ---------------------------------------------------------------------------------------------
# bad input

def test_btf_not_btf():
    """--btf with a file that is not BTF (text, random bytes, an ELF file without .BTF):
    one line naming the file, status 1, no libbpf "Unknown error"."""
    d = H.make_tmpdir()
    text, rnd = d / "text", d / "random"
    text.write_text("this is not BTF\n")
    rnd.write_bytes(os.urandom(4096))
    for path in (text, rnd, Path("/bin/true")):
        cp = H.run_hstrace(["--btf", str(path), "--duration", "1"], timeout=20)
        lines = cp.stderr.splitlines()
        check(cp.returncode == 1, "--btf %s: status %d, expected 1" % (path, cp.returncode),
              cp.stderr)
        check(len(lines) == 1, "--btf %s: expected one stderr line" % path, cp.stderr)
        check(str(path) in lines[0] and "not a BTF file" in lines[0]
              and "Unknown error" not in lines[0], "--btf %s: unclear message" % path, cp.stderr)


def test_pid_above_pid_max():
    """-p at or above /proc/sys/kernel/pid_max: usage error, status 2."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    for v in (pid_max, pid_max + 1, 2**31 - 1):
        cp = H.run_hstrace(["-p", str(v)], timeout=15)
        check(cp.returncode == 2, "-p %d (pid_max %d): status %d, expected 2"
              % (v, pid_max, cp.returncode), cp.stderr)
        check("Usage" in cp.stderr and "pid_max" in cp.stderr,
              "-p %d: no usage or no mention of pid_max" % v, cp.stderr)


def test_report_not_hstrace():
    """`hstrace report` on files without any hstrace record: one clear line, nothing on
    stdout, status 1 (text and --json, plain and gzip); a file with some records still gives
    its report (tests/golden/malformed.ndjson), and an empty file an empty report."""
    d = H.make_tmpdir()
    other = d / "other.ndjson"
    other.write_text('{"level":"info","msg":"an application log"}\n{"schema":"hstrace/9"}\n'
                     "plain text\n")
    gz = d / "passwd.gz"
    with gzip.open(gz, "wt") as f:
        f.write(Path("/etc/passwd").read_text())
    for path in (other, gz):
        for extra in ([], ["--json"]):
            cp = H.run_hstrace(["report", *extra, str(path)], timeout=30)
            lines = cp.stderr.splitlines()
            check(cp.returncode == 1, "report %s: status %d, expected 1" % (path, cp.returncode))
            check(cp.stdout == "", "report %s: wrote a report" % path, cp.stdout)
            check(len(lines) == 1 and str(path) in lines[0] and "no hstrace record" in lines[0],
                  "report %s: expected one line saying there is no hstrace record" % path,
                  cp.stderr)
    # (relative: the golden text names the file as given)
    cp = H.run_hstrace(["report", "tests/golden/malformed.ndjson"], timeout=30)
    check(cp.returncode == 0 and cp.stdout == (H.REPO / "tests/golden/malformed.txt").read_text(),
          "report on malformed.ndjson (some records) changed", cp.stdout, cp.stderr)
    empty = d / "empty.ndjson"
    empty.write_text("")
    cp = H.run_hstrace(["report", str(empty)], timeout=30)
    check(cp.returncode == 0 and "0 records" in cp.stdout, "report on an empty file",
          cp.stdout, cp.stderr)


# ---------------------------------------------------------------------------------------------
# unit, logrotate, man page, install, YAML

def _unit_values(key):
    vals = []
    for line in UNIT.read_text().splitlines():
        if line.startswith(key + "="):
            vals += line.split("=", 1)[1].split()
    return vals


def test_systemd_unit_verify():
    """systemd-analyze verify accepts the unit (as make install writes it) without a word; it is
    Type=simple, restarts on failure and runs --json -o /var/log/hstrace/... --metrics."""
    d = H.make_tmpdir()
    cp = _run(["make", "-s", "install", "DESTDIR=%s" % d, "PREFIX=/usr/local"], cwd=H.REPO,
              timeout=300)
    check(cp.returncode == 0, "make install failed", cp.stderr)
    installed = d / "usr/local/lib/systemd/system/hstrace.service"
    # Verify a copy whose ExecStart names the binary in DESTDIR; MANPATH finds hstrace(8) for
    # Documentation=man:hstrace(8).
    unit = H.make_tmpdir() / "hstrace.service"
    text = installed.read_text()
    check("ExecStart=/usr/local/sbin/hstrace " in text, "installed ExecStart", text)
    unit.write_text(text.replace("/usr/local/sbin/hstrace", str(d / "usr/local/sbin/hstrace")))
    env = dict(os.environ, MANPATH=str(d / "usr/local/share/man"), SYSTEMD_LOG_LEVEL="notice")
    cp = _run(["systemd-analyze", "verify", unit], env=env)
    check(cp.returncode == 0 and cp.stdout.strip() == "" and cp.stderr.strip() == "",
          "systemd-analyze verify complained", cp.stdout, cp.stderr)
    check(_unit_values("Type") == ["simple"] and _unit_values("Restart") == ["on-failure"],
          "Type=simple and Restart=on-failure expected")
    start = " ".join(_unit_values("ExecStart"))
    for part in ("--json", "-o /var/log/hstrace/hstrace.ndjson", "--metrics 127.0.0.1:9464"):
        check(part in start, "ExecStart lacks %r: %s" % (part, start))
    caps = set(_unit_values("CapabilityBoundingSet"))
    check(caps == set(_unit_values("AmbientCapabilities")),
          "CapabilityBoundingSet and AmbientCapabilities differ")
    for c in ("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_RESOURCE"):
        check(c in caps, "the unit lacks %s" % c)


def test_unit_capabilities_suffice():
    """hstrace as the unit runs it: ExecStart's options (its -o in a temporary folder, its
    --metrics on a free port) and only the unit's capabilities (as root, the bounding set cut
    to them, as systemd does). A TLS handshake is written to the file with the OpenSSL probes'
    cert_verify events, the metrics endpoint counts it, and stderr stays quiet."""
    import urllib.request
    import tls_peers as T
    have = int(re.search(r"^CapEff:\s*([0-9a-f]+)", Path("/proc/self/status").read_text(),
                         re.M).group(1), 16)
    names = {"CAP_BPF": 39, "CAP_PERFMON": 38, "CAP_NET_ADMIN": 12, "CAP_SYS_RESOURCE": 24,
             "CAP_SYS_PTRACE": 19, "CAP_DAC_READ_SEARCH": 2, "CAP_SYS_ADMIN": 21,
             "CAP_CHECKPOINT_RESTORE": 40}
    unit_caps = _unit_values("CapabilityBoundingSet")
    check(set(unit_caps) <= set(names), "unknown capability in the unit: %s" % unit_caps)
    # The test process may itself lack one (CAP_SYS_RESOURCE in some sandboxes): a subset of
    # the unit's set that still works proves the unit's set works.
    usable = [c for c in unit_caps if have & (1 << names[c])]
    H.log("unit capabilities %s; this test process lacks %s" %
          (unit_caps, sorted(set(unit_caps) - set(usable))))
    for c in ("CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"):
        check(c in usable, "this test process lacks %s" % c)
    spec = "-all," + ",".join("+" + c[4:].lower() for c in usable)
    prefix = ["setpriv", "--inh-caps=" + spec, "--bounding-set=" + spec, "--"]

    argv = _unit_values("ExecStart")
    check(argv[0] == "/usr/local/sbin/hstrace", "ExecStart runs %s" % argv[0])
    out = H.make_tmpdir() / "hstrace.ndjson"
    args = []
    for i, a in enumerate(argv[1:], 1):
        prev = argv[i - 1]
        args.append(str(out) if prev == "-o" else "127.0.0.1:0" if prev == "--metrics" else a)
    check(str(out) in args and "127.0.0.1:0" in args, "ExecStart has no -o or --metrics", argv)
    certs = T.make_certs()
    srv = T.SServer(certs, naccept=1)
    hs = H.Hstrace(args, prefix=prefix)
    # Loaded and attached once the OpenSSL probes' perf events exist (they come after the
    # ring buffer); X509_verify_cert's entry and return make two.
    _wait_fds(hs, "anon_inode:[perf_event]", n=2)
    url = re.search(r"metrics on (http://\S+)", hs.stderr())
    check(url, "no 'metrics on URL' line for --metrics port 0", hs.stderr())
    cl = T.s_client(srv.port, certs)
    cl.wait_exit(20)
    srv.wait_exit(20)
    end = time.monotonic() + 15
    while True:
        recs = _read_lines(out) if out.exists() else []
        if len(H.by_port(recs, srv.port)) >= 2 or time.monotonic() > end:
            break
        time.sleep(0.1)
    with urllib.request.urlopen(url.group(1), timeout=10) as r:
        metrics = r.read().decode()
    rc = hs.stop(signal.SIGTERM)
    check(rc == 0, "hstrace status %d" % rc, hs.stderr())
    c, s = T.ends(_read_lines(out), cl.pid, srv.port)
    check(c["result"] == "ok" and s["result"] == "ok", "TLS connection not ok", c, s)
    check("cert_verify_done" in H.names(c), "no cert_verify_done event from the uprobes", c)
    check(re.search(r'^hstrace_connections_total\{[^}]*result="ok"[^}]*\} [1-9]', metrics, re.M),
          "the metrics endpoint counted no ok connection", metrics[:3000])
    quiet_err = [l for l in hs.stderr().splitlines() if not l.startswith("hstrace: metrics on")]
    check(not quiet_err, "the unit's --quiet run wrote to stderr", hs.stderr())


def test_logrotate_snippet_parses():
    """logrotate reads the shipped snippet without an error (debug mode: nothing is done)."""
    cp = _run(["logrotate", "-d", "-s", H.make_tmpdir() / "state", LOGROTATE])
    check(cp.returncode == 0, "logrotate -d failed", cp.stderr)
    check(not re.search(r"^error:", cp.stderr, re.M), "logrotate -d reported errors", cp.stderr)


def _help_options(args):
    """Options listed by `hstrace ARGS --help`: '-x' and '--long' strings."""
    cp = H.run_hstrace([*args, "--help"], timeout=15)
    check(cp.returncode == 0, "%s --help: status %d" % (args, cp.returncode))
    opts = set()
    for line in cp.stdout.splitlines():
        m = re.match(r"^\s+(?:-([A-Za-z0-9]), )?--([a-z0-9][a-z0-9-]*)", line)
        if m:
            opts.add("--" + m.group(2))
            if m.group(1):
                opts.add("-" + m.group(1))
    check(len(opts) > 5, "%s --help: found only %s" % (args, sorted(opts)), cp.stdout)
    return opts


def test_man_page():
    """docs/hstrace.8 renders without a warning (groff -ww, man -l), has the sections a man
    page needs, and documents every option of `hstrace --help` and `hstrace report --help` as
    an item of its own (so the two cannot drift apart)."""
    cp = _run(["groff", "-man", "-ww", "-z", MAN])
    check(cp.returncode == 0 and cp.stderr == "", "groff -man -ww -z warned", cp.stderr)
    cp = _run(["man", "--warnings", "-l", MAN], env=dict(os.environ, MANWIDTH="80"))
    check(cp.returncode == 0 and cp.stderr == "", "man -l warned", cp.stderr)
    cp = _run(["groff", "-man", "-Tascii", "-rLL=300n", "-rHY=0", "-P-cbou", MAN])
    check(cp.returncode == 0, "groff -Tascii failed", cp.stderr)
    text = cp.stdout
    for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "REPORT COMMAND", "EXIT STATUS",
                "SIGNALS", "FILES", "SEE ALSO"):
        check(re.search(r"^%s$" % sec, text, re.M), "man page has no %s section" % sec)
    report_at = text.index("\nREPORT COMMAND\n")
    exit_at = text.index("\nEXIT STATUS\n")

    def items(part):
        # Tagged paragraph headings: "       -p PID, --pid=PID", "       --all"
        found = set()
        for line in part.splitlines():
            if re.match(r"^ {7}-", line):
                found.update(re.findall(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)", line))
        return found

    main_items = items(text[:report_at])
    report_items = items(text[report_at:exit_at])
    missing = sorted(_help_options([]) - main_items)
    check(not missing, "options of hstrace --help without an item in the man page: %s"
          % missing)
    missing = sorted(_help_options(["report"]) - report_items)
    check(not missing, "options of hstrace report --help without an item under REPORT "
          "COMMAND: %s" % missing)


def test_make_install_destdir():
    """make install DESTDIR=... PREFIX=/usr puts the binary, unit, logrotate snippet and man
    page where they belong, with their modes, and nothing else; make uninstall removes them."""
    d = H.make_tmpdir()
    cp = _run(["make", "-s", "install", "DESTDIR=%s" % d, "PREFIX=/usr"], cwd=H.REPO,
              timeout=300)
    check(cp.returncode == 0, "make install failed", cp.stderr)
    files = {str(p.relative_to(d)): stat.S_IMODE(os.stat(p).st_mode)
             for p in d.rglob("*") if p.is_file()}
    H.log("installed: %s" % {k: oct(v) for k, v in files.items()})
    want = {"usr/sbin/hstrace": 0o755, "usr/lib/systemd/system/hstrace.service": 0o644,
            "etc/logrotate.d/hstrace": 0o644, "usr/share/man/man8/hstrace.8": 0o644}
    check(files == want, "installed files %s, expected %s" % (files, want))
    unit = (d / "usr/lib/systemd/system/hstrace.service").read_text()
    check(re.search(r"^ExecStart=/usr/sbin/hstrace ", unit, re.M),
          "ExecStart does not name PREFIX/sbin/hstrace", unit)
    check((d / "etc/logrotate.d/hstrace").read_bytes() == LOGROTATE.read_bytes(),
          "installed logrotate snippet differs")
    check((d / "usr/share/man/man8/hstrace.8").read_bytes() == MAN.read_bytes(),
          "installed man page differs")
    check((d / "usr/sbin/hstrace").read_bytes() == H.hstrace_path().read_bytes(),
          "installed binary differs from build/hstrace")
    cp = _run(["make", "-s", "uninstall", "DESTDIR=%s" % d, "PREFIX=/usr"], cwd=H.REPO)
    check(cp.returncode == 0, "make uninstall failed", cp.stderr)
    left = [str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()]
    check(not left, "make uninstall left %s" % left)


def test_deploy_yaml():
    """Every YAML file under deploy/ parses; the OpenTelemetry Collector pipelines use only
    components they define; the DaemonSet has what hstrace needs (host PID namespace, the
    unit's capabilities, the host's cgroup v2 root and BTF) and every volume it mounts;
    promtool accepts the Prometheus configuration."""
    import yaml
    files = sorted(DEPLOY.rglob("*.yaml")) + sorted(DEPLOY.rglob("*.yml"))
    check(len(files) >= 4, "expected the k8s, prometheus and otel YAML files: %s" % files)
    docs = {}
    for f in files:
        try:
            docs[f.relative_to(DEPLOY).as_posix()] = list(yaml.safe_load_all(f.read_text()))
        except yaml.YAMLError as e:
            raise AssertionError("%s: %s" % (f, e))
    for name in ("otel/agent.yaml", "otel/gateway.yaml"):
        check(name in docs, "deploy/%s missing" % name)
        cfg = docs[name][0]
        pipes = cfg["service"]["pipelines"]
        check({"traces", "metrics"} <= set(pipes), "%s: traces and metrics pipelines" % name)
        for pname, p in pipes.items():
            for kind in ("receivers", "processors", "exporters"):
                for comp in p.get(kind, []):
                    check(comp in (cfg.get(kind) or {}), "%s: pipeline %s uses %s %s, not "
                          "defined" % (name, pname, kind[:-1], comp))
        for ext in cfg["service"].get("extensions", []):
            check(ext in (cfg.get("extensions") or {}), "%s: extension %s undefined" % (name, ext))
    agent, gateway = docs["otel/agent.yaml"][0], docs["otel/gateway.yaml"][0]
    check(agent["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318"),
          "agent: no OTLP/HTTP receiver on 4318 for hstrace --otlp")
    gx = gateway["service"]["pipelines"]
    check(any(e.startswith("otlp") for e in gx["traces"]["exporters"]),
          "gateway: traces are not exported over OTLP (Tempo/Jaeger)")
    check("prometheusremotewrite" in gx["metrics"]["exporters"],
          "gateway: metrics are not sent by prometheusremotewrite")

    k8s = {d["kind"]: d for d in docs["k8s/hstrace-daemonset.yaml"] if d}
    ds = k8s.get("DaemonSet")
    check(ds, "no DaemonSet in deploy/k8s/hstrace-daemonset.yaml")
    pod = ds["spec"]["template"]["spec"]
    check(pod.get("hostPID") is True and pod.get("hostNetwork") is True,
          "DaemonSet: hostPID and hostNetwork expected")
    (ctr,) = pod["containers"]
    caps = set(ctr["securityContext"]["capabilities"]["add"])
    unit_caps = {c[4:] for c in _unit_values("CapabilityBoundingSet")}
    check(caps == unit_caps, "DaemonSet capabilities %s differ from the unit's %s"
          % (sorted(caps), sorted(unit_caps)))
    vols = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]}
    for m in mounts.values():
        check(m in vols, "DaemonSet mounts undefined volume %s" % m)
    for path in ("/sys/fs/cgroup", "/sys/kernel/btf"):
        check(path in mounts and vols[mounts[path]].get("hostPath", {}).get("path") == path,
              "DaemonSet: the host's %s is not mounted at %s" % (path, path))
    args = " ".join(ctr["args"])
    check("--metrics" in args and "--otlp" in args, "DaemonSet args: --metrics and --otlp", args)

    prom = DEPLOY / "prometheus" / "prometheus.yaml"
    cp = _run(["promtool", "check", "config", prom])
    check(cp.returncode == 0, "promtool check config failed", cp.stdout, cp.stderr)


def test_sighup_without_output_ends_run():
    """Without -o, SIGHUP (the terminal went away) ends the run cleanly, as SIGTERM does."""
    hs = H.start_hstrace(["--json"])
    rc = hs.stop(signal.SIGHUP)
    check(rc == 0, "SIGHUP without -o: status %s, expected a clean exit 0" % rc, hs.stderr())
    hs.summary()


def test_sighup_reopen_fails_keeps_old_file():
    """SIGHUP when the path cannot be opened (its folder was moved away): one line says so and
    records keep going to the file already open; after the folder is back, the next SIGHUP
    opens a new file there."""
    root = H.make_tmpdir()
    d, moved = root / "log", root / "log.moved"
    d.mkdir()
    out = d / "out.ndjson"
    srv = H.start_server(count=0, reply=2, comm="hs_rof_s")
    hs = H.start_hstrace(["--json", "--all", "--port", str(srv.port), "-o", str(out)])
    d.rename(moved)
    hs.proc.send_signal(signal.SIGHUP)
    end = time.monotonic() + 10
    while "cannot reopen" not in hs.stderr():
        check(time.monotonic() < end, "no 'cannot reopen' line after SIGHUP", hs.stderr())
        time.sleep(0.05)
    cl1 = H.start_client(srv.port, count=3, send=2, comm="hs_rof_a")
    cl1.wait_exit(10)
    _wait_records(moved / "out.ndjson", _expected_keys(cl1, srv.port))
    d.mkdir()
    hs.proc.send_signal(signal.SIGHUP)
    end = time.monotonic() + 10
    while not out.exists():
        check(time.monotonic() < end, "no new file after the second SIGHUP", hs.stderr())
        time.sleep(0.05)
    cl2 = H.start_client(srv.port, count=3, send=2, comm="hs_rof_b")
    cl2.wait_exit(10)
    _wait_records(out, _expected_keys(cl2, srv.port))
    rc = hs.stop(signal.SIGTERM)
    check(rc == 0, "status %d" % rc, hs.stderr())
    lines = [l for l in hs.stderr().splitlines() if "reopen" in l]
    check(len(lines) == 1 and str(out) in lines[0], "expected one 'cannot reopen' line naming "
          "the file", hs.stderr())
    old_keys = set(_conn_keys(_read_lines(moved / "out.ndjson")))
    new_keys = set(_conn_keys(_read_lines(out)))
    check(not (old_keys & new_keys), "records in both files", sorted(old_keys & new_keys))
    check(_expected_keys(cl2, srv.port) <= new_keys
          and not (_expected_keys(cl2, srv.port) & old_keys),
          "records after the second SIGHUP are not (only) in the new file")
