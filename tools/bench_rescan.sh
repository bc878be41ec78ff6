#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# bench_rescan.sh - the periodic /proc rescan (every 30 s, ssl_probes.c) against the thread that
# drains the ring buffer, on a host with many processes: starts N sleeping processes (default
# 5000), runs `hstrace -v` for 40 s (one full rescan) with a few connections a second, and
# prints a Markdown section with hstrace's own figures: the longest pass between two reads of
# the ring buffer and the longest rescan (which runs on its own thread). As root.
set -eu
cd "$(dirname "$0")/.."
N=${1:-5000}
SECS=40
sleepers=$(mktemp -d)
trap 'kill $(cat "$sleepers"/pids 2>/dev/null) 2>/dev/null || true; rm -rf "$sleepers"' EXIT
i=0
while [ $i -lt "$N" ]; do
	sleep $((SECS + 60)) &
	echo $! >> "$sleepers/pids"
	i=$((i + 1))
done
procs=$(ls /proc | grep -c '^[0-9]')
# a few TCP connections a second, so records keep arriving
python3 - "$SECS" <<'PY' &
import socket, sys, threading, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(64)
def serve():
    while True:
        c, _ = srv.accept(); c.recv(16); c.close()
threading.Thread(target=serve, daemon=True).start()
end = time.time() + float(sys.argv[1])
while time.time() < end:
    s = socket.create_connection(srv.getsockname()); s.send(b"x"); s.close(); time.sleep(0.1)
PY
load=$!
line=$(build/hstrace -v --all --json -o /dev/null --duration "$SECS" 2>&1 |
	grep 'longest pass between two ring-buffer reads')
wait $load || true
pass=$(echo "$line" | sed -n 's/.*reads \([0-9.]*\) ms.*/\1/p')
scans=$(echo "$line" | sed -n 's/.*own thread) \([0-9]*\),.*/\1/p')
scan=$(echo "$line" | sed -n 's/.*longest \([0-9.]*\) ms$/\1/p')
echo "## Library rescans vs the ring-buffer thread, $procs processes"
echo
echo "Command: \`tools/bench_rescan.sh $N\`: $N extra sleeping processes ($procs in /proc),"
echo "\`hstrace -v --all\` for $SECS s with 10 loopback connections a second. Every 30 s hstrace"
echo "rescans every process's mappings for TLS libraries; that scan runs on its own thread, so the"
echo "thread that drains the ring buffer never waits for it (target: no read delayed by more than"
echo "50 ms)."
echo
echo "| full rescans | longest rescan (ms, scanner thread) | longest pass between two ring-buffer reads (ms) |"
echo "|---|---|---|"
echo "| $scans | $scan | $pass |"
