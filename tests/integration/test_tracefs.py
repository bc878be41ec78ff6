# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""hstrace must work when tracefs is not mounted (as on a freshly booted machine): classic
tracepoints need it, and the tool has to cope by itself."""

import subprocess

import harness as H
from harness import check

TRACEFS = "/sys/kernel/tracing"


def _check_traced(hs, comm):
    srv = H.start_server(count=1, reply=4, comm=comm + "s")
    cl = H.start_client(srv.port, send=4, comm=comm + "c")
    cl.wait_exit(10)
    srv.wait_exit(10)
    H.settle()
    recs = hs.stop_ok()
    c = H.one(recs, "client", role="client", lport=cl.ports()[0], rport=srv.port)
    s = H.one(recs, "server", role="server", lport=srv.port, rport=cl.ports()[0])
    for r, p in ((c, cl), (s, srv)):
        H.check_record(r)
        check(r["pid"] == p.pid and r["result"] == "ok", "%s record" % r["role"], r)
    check(H.names(c)[:2] == ["syn_sent", "established"], "client events %s" % H.names(c), c)
    check("accepted" in H.names(s), "server events %s" % H.names(s), s)


def test_tracefs_unmounted():
    orig = H.mounts_of_type("tracefs")
    debugfs = H.mounts_of_type("debugfs")
    H.log("tracefs mounted at %s; debugfs mounted at %s%s" % (
        orig or "nowhere", debugfs or "nowhere",
        " (so /sys/kernel/debug/tracing can still provide tracefs)" if debugfs else ""))

    def restore():
        now = H.mounts_of_type("tracefs")
        for mp in orig:
            if mp not in now:
                H.log("restoring tracefs at %s" % mp)
                subprocess.run(["mount", "-t", "tracefs", "nodev", mp], check=True)
        for mp in now:
            if mp not in orig:
                H.log("unmounting tracefs at %s (not mounted before the test)" % mp)
                H.umount(mp)

    H.add_cleanup(restore, "restore tracefs mounts")
    for mp in reversed(orig):
        H.log("unmounting tracefs at %s" % mp)
        H.umount(mp)
    check(TRACEFS not in H.mounts_of_type("tracefs"), "tracefs still mounted at " + TRACEFS)

    hs = H.start_hstrace(["--json", "--all"])
    _check_traced(hs, "hs_tfs_")


def test_tracefs_absent_in_private_mount_ns():
    # Same situation in a private mount namespace with tracefs and debugfs both gone; the
    # host's mounts are untouched. `exec` keeps the pid, so signals reach hstrace itself.
    script = ("umount -l %s 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; "
              "if grep -qE ' (tracefs|debugfs) ' /proc/self/mounts; then "
              "echo 'test setup: tracefs/debugfs still mounted' >&2; exit 99; fi; "
              'exec "$0" "$@"' % TRACEFS)
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
    hs = H.start_hstrace(["--json", "--all"], prefix=prefix)
    _check_traced(hs, "hs_tfn_")
