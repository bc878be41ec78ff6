# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""netns.py - two network namespaces with real delay between them, and packet captures, for
hstrace's accuracy tests.

Pair() runs tools/netns_pair.sh up: namespaces <name>-c (client, 10.213.0.1) and <name>-s
(server, 10.213.0.2) joined by build/netdelay, a user-space delay line over TUN devices (this
kernel has no netem). Every pair, process and capture made here is registered with
harness.add_cleanup(), so harness.cleanup_all() (run by tests/run.py after each test, passed or
not) stops them and removes the namespaces. Names are unique per test process.
"""

import itertools
import os
import signal
import subprocess
import time

import harness as H
from harness import check
import tls_peers as T

PAIR_SH = H.REPO / "tools" / "netns_pair.sh"
NETDELAY = H.REPO / "build" / "netdelay"
DEV = "hsdelay0"
CLIENT_ADDR = "10.213.0.1"
SERVER_ADDR = "10.213.0.2"

_seq = itertools.count()


def _sh(*args, timeout=30):
    cp = subprocess.run(["sh", str(PAIR_SH), *map(str, args)], capture_output=True, text=True,
                        timeout=timeout)
    return cp


class Pair:
    """A client and a server namespace, delay_ms apart each way (RTT = 2 * delay_ms), with
    optional jitter, random loss, and reordering (netdelay --reorder reorder_pct, each held
    packet reorder_ms later: None for netdelay's default, a quarter of delay_ms); mtu, when
    given, is the MTU of both devices (default 1500). With trace=True netdelay writes down
    each packet it relays (netdelay --trace), and after down() extra_us() tells how much longer
    than delay_ms a given packet really took: a delay line that runs late (a stalled or
    paused CPU) makes the imposed delay longer, and the accuracy tests take that out."""

    def __init__(self, delay_ms=20.0, jitter_ms=0.0, loss_pct=0.0, reorder_pct=0.0,
                 reorder_ms=None, mtu=None, trace=False):
        H.require_root()
        check(NETDELAY.is_file(), "%s not found: build it with `make tools`" % NETDELAY)
        self.name = "hst%d-%d" % (os.getpid(), next(_seq))
        self.delay_ms = delay_ms
        self.mtu = mtu or 1500
        self.client_ns = self.name + "-c"
        self.server_ns = self.name + "-s"
        self.final_log = ""
        self.trace_path = H.make_tmpdir() / "netdelay.trace" if trace else None
        self._trace = None
        self.client_addr = CLIENT_ADDR
        self.server_addr = SERVER_ADDR
        _sh("gc")  # pairs left by a test process that was killed outright
        H.add_cleanup(self.down, "netns pair " + self.name)
        args = ["up", self.name, "--delay-ms", delay_ms]
        if jitter_ms:
            args += ["--jitter-ms", jitter_ms]
        if loss_pct:
            args += ["--loss", loss_pct]
        if reorder_pct:
            args += ["--reorder", reorder_pct]
        if reorder_ms is not None:
            args += ["--reorder-ms", reorder_ms]
        if mtu is not None:
            args += ["--mtu", mtu]
        if self.trace_path:
            args += ["--trace", self.trace_path]
        cp = _sh(*args)
        check(cp.returncode == 0, "netns_pair.sh up %s failed (%d)" % (self.name, cp.returncode),
              cp.stdout + cp.stderr)
        H.log(cp.stdout.strip())

    def netdelay_log(self):
        try:
            return open("/run/hstrace-netns/%s/netdelay.log" % self.name).read()
        except OSError:
            return ""

    def down(self):
        """Stops the pair (idempotent). netdelay's final statistics stay in .final_log."""
        cp = _sh("down", self.name)
        if cp.stdout.strip():
            self.final_log = cp.stdout
            H.log("netdelay: " + " | ".join(cp.stdout.strip().splitlines()))
        check(cp.returncode == 0, "netns_pair.sh down %s failed" % self.name, cp.stderr)
        left = [n for n in (self.client_ns, self.server_ns) if os.path.exists("/run/netns/" + n)]
        check(not left, "namespaces left behind: %s" % left)

    def stats(self):
        """netdelay's final counters (after down()), summed over both directions, and per
        direction: {"relayed": N, "lost": N, "held": N, "reordered": N, ..., "a->b": {...},
        "b->a": {...}} (a is the client namespace)."""
        out = {}
        for line in self.final_log.splitlines():
            words = line.split()
            if not words or words[0] not in ("a->b", "b->a"):
                continue
            d = {k: int(v) for k, v in (w.split("=", 1) for w in words[1:] if "=" in w)}
            out[words[0]] = d
            for k, v in d.items():
                out[k] = out.get(k, 0) + v
        check("a->b" in out and "b->a" in out, "no netdelay statistics for pair %s" % self.name,
              self.final_log)
        return out

    def packets(self):
        """The packets netdelay relayed (trace=True, after down()): [(direction, sent_s,
        written_s, done_s, length)], direction "c>s" or "s>c", times in seconds since the
        epoch: when the packet entered the sender's device (the kernel's time), when netdelay
        began and ended writing it into the receiver's (whose stack took it in between)."""
        check(self.trace_path is not None, "pair %s was made without trace=True" % self.name)
        if self._trace is None:
            check(self.final_log, "packets() before down()")
            self._trace = []
            for line in self.trace_path.read_text().splitlines():
                d, sent, written, done, length = line.split()
                self._trace.append(("c>s" if d == "a->b" else "s>c", int(sent) / 1e9,
                                    int(written) / 1e9, int(done) / 1e9, int(length)))
        return self._trace

    def extra_us(self, direction, t, at="sent", window_us=3000):
        """(lo, hi): how much longer than delay_ms (µs) the packet of direction ("c>s",
        "s>c") really took from its sender's device to the receiving stack, which took it
        between netdelay's start (lo) and end (hi) of writing it. The packet is the one whose
        time at="sent" (entering the sender's device) or at="written" (netdelay's write) is
        nearest to t (seconds since the epoch); a check fails when none is within window_us.
        A delay line that runs late (a stalled or paused CPU) makes lo > 0; a receiving stack
        held up inside the write makes hi > lo."""
        k = 1 if at == "sent" else 2
        best = min((p for p in self.packets() if p[0] == direction),
                   key=lambda p: abs(p[k] - t), default=None)
        check(best is not None and abs(best[k] - t) * 1e6 <= window_us,
              "netdelay relayed no %s packet %s within %d µs of %.6f" % (direction, at,
                                                                         window_us, t))
        d = self.delay_ms * 1000
        return (best[2] - best[1]) * 1e6 - d, (best[3] - best[1]) * 1e6 - d

    def exec_argv(self, side, argv):
        """argv run inside the client ("c") or server ("s") namespace."""
        ns = self.client_ns if side == "c" else self.server_ns
        return ["ip", "netns", "exec", ns, *map(str, argv)]

    def proc(self, side, name, argv, stdin=None):
        """A tls_peers.Proc running argv in a namespace (`ip netns exec` execs argv itself, so
        .pid is the program's own pid)."""
        return T.Proc(name, self.exec_argv(side, argv), stdin=stdin)


class Capture:
    """tshark capturing on the delay line's TUN device in one namespace of a pair, into a pcap
    file in a temporary folder. stop() ends it; frames() reads the capture back."""

    FIELDS = ("frame.time_epoch", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
              "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset", "tcp.len",
              "tls.record.content_type", "tls.record.opaque_type", "tls.handshake.type")

    def __init__(self, pair, side, port):
        d = H.make_tmpdir()
        self.path = d / ("capture-%s.pcap" % side)
        self.err_path = d / "tshark.err"
        argv = pair.exec_argv(side, ["tshark", "-n", "-i", DEV, "-f", "tcp port %d" % port,
                                     "-w", self.path])
        H.log("capture: $ " + " ".join(map(str, argv)))
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        H.add_cleanup(self._kill, "tshark")
        end = time.monotonic() + 20
        while "Capturing on" not in self.err_path.read_text(errors="replace"):
            check(self.proc.poll() is None and time.monotonic() < end,
                  "tshark did not start capturing", self.err_path.read_text(errors="replace"))
            time.sleep(0.05)

    def _kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self._kill()
        check(self.path.is_file(), "tshark wrote no capture",
              self.err_path.read_text(errors="replace"))

    def frames(self):
        """Every captured frame as a dict: t (epoch seconds, float), src, sport, dst, dport,
        syn, ack, fin, rst (bools), len (TCP payload), ctypes (TLS record types in the frame:
        the plaintext content types, then the TLS 1.3 encrypted records' opaque types, which
        always follow them), hstypes (TLS handshake message types)."""
        argv = ["tshark", "-n", "-r", str(self.path), "-T", "fields", "-E", "separator=/t",
                "-E", "occurrence=a", "-E", "aggregator=,"]
        for f in self.FIELDS:
            argv += ["-e", f]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        check(cp.returncode == 0, "tshark -r failed", cp.stderr)
        out = []
        for line in cp.stdout.splitlines():
            v = line.split("\t")
            if len(v) < len(self.FIELDS) or not v[0]:
                continue

            def ints(s):
                return [int(x, 0) for x in s.split(",") if x]

            out.append({"t": float(v[0]), "src": v[1], "sport": int(v[2]), "dst": v[3],
                        "dport": int(v[4]), "syn": v[5] in ("1", "True"),
                        "ack": v[6] in ("1", "True"), "fin": v[7] in ("1", "True"),
                        "rst": v[8] in ("1", "True"), "len": int(v[9] or 0),
                        "ctypes": ints(v[10]) + ints(v[11]), "hstypes": ints(v[12])})
        return out
