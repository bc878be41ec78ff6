# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""hstrace must work when tracefs is not mounted (as on a freshly booted machine). It attaches
no classic tracepoint, so it needs no tracefs, and it must not mount it either."""

import subprocess

import harness as H
from harness import check

TRACEFS = "/sys/kernel/tracing"


def _check_traced(hs, comm, host_ns=False):
    c, s = H.traced_tcp_pair(hs, comm)
    check(H.names(c)[:2] == ["syn_sent", "established"], "client events %s" % H.names(c), c)
    check("accepted" in H.names(s), "server events %s" % H.names(s), s)
    if host_ns:  # hstrace ran in this mount namespace, where tracefs was unmounted
        check(TRACEFS not in H.mounts_of_type("tracefs"),
              "hstrace mounted tracefs, which it does not need", H.mounts_of_type("tracefs"))


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
    _check_traced(hs, "hs_tfs_", host_ns=True)


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
