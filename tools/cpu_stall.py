#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""cpu_stall.py - stall every CPU the way a busy or paused VM does, to try timing tests.

  tools/cpu_stall.py [--busy-ms MS] [--period-ms MS] [--priority N]   (root)

One process per CPU, pinned to it, at SCHED_FIFO priority N (default 50, above build/netdelay's
10), spins for MS milliseconds out of every period (default 8 of 30), so that every ordinary
task and netdelay wait up to that long, again and again, until SIGINT/SIGTERM. Used by hand to
check that the accuracy tests (tests/integration/test_accuracy.py, test_conn_id.py) judge hstrace
and not the machine (docs/testing.md):

  tools/cpu_stall.py & /usr/bin/python3 tests/run.py -t test_accuracy; kill %1
"""

import argparse
import os
import signal
import sys
import time


def stall(cpu, busy, period, prio):
    os.sched_setaffinity(0, {cpu})
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(prio))
    while True:
        t = time.monotonic()
        while time.monotonic() - t < busy:
            pass
        time.sleep(max(0.0, period - busy))


def main():
    ap = argparse.ArgumentParser(description="Stall every CPU MS out of every period.")
    ap.add_argument("--busy-ms", type=float, default=8.0)
    ap.add_argument("--period-ms", type=float, default=30.0)
    ap.add_argument("--priority", type=int, default=50)
    a = ap.parse_args()
    if not 0 < a.busy_ms < a.period_ms or not 1 <= a.priority <= 99:
        ap.error("need 0 < --busy-ms < --period-ms and 1 <= --priority <= 99")
    kids = []
    for cpu in sorted(os.sched_getaffinity(0)):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                stall(cpu, a.busy_ms / 1000, a.period_ms / 1000, a.priority)
            except PermissionError:
                print("cpu_stall.py: SCHED_FIFO needs root", file=sys.stderr)
                os._exit(1)
            os._exit(0)
        kids.append(pid)

    def stop(*_):
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        pid, status = os.wait()
        if os.WIFEXITED(status) and os.WEXITSTATUS(status):
            stop()


if __name__ == "__main__":
    main()
