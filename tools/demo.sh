#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# demo.sh - watch hstrace trace a few TLS handshakes on loopback (`make demo`, as root).
#
#   tools/demo.sh
#
# Makes throwaway certificates (tools/tls_certs.sh), starts build/hstrace --json, makes TLS 1.2
# and TLS 1.3 connections between local peers (openssl s_server, curl, openssl s_client), stops
# hstrace and prints every traced connection of the demo as a timeline: one line per event
# with its time since the connection's first event, its direction (--> sent by this end,
# <-- received), its name and its length. Everything runs on 127.0.0.1 and is removed at the
# end, whatever happens. HSTRACE=path overrides the binary.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
HSTRACE=${HSTRACE:-$ROOT/build/hstrace}
PYTHON=${PYTHON:-/usr/bin/python3}
SNI=hstrace.test

die() {
	echo "demo.sh: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root: hstrace loads BPF programs (sudo make demo)"
[ -x "$HSTRACE" ] || die "$HSTRACE not found: build it with make"
for cmd in openssl curl "$PYTHON"; do
	command -v "$cmd" >/dev/null 2>&1 || die "$cmd is missing: run make deps"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hstrace-demo.XXXXXX")
pids=""

cleanup() {
	trap - EXIT INT TERM
	for p in $pids; do
		kill "$p" 2>/dev/null || true
	done
	for p in $pids; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 20 s for a line matching regex $2 in file $1.
wait_for() {
	i=0
	until grep -Eq "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 200 ] || die "timed out waiting for '$2' in $1: $(cat "$1" 2>/dev/null)"
		sleep 0.1
	done
}

echo "Making throwaway certificates..."
sh "$ROOT/tools/tls_certs.sh" "$tmp"

echo "Starting hstrace..."
"$HSTRACE" --json -o "$tmp/conns.ndjson" 2>"$tmp/hstrace.err" &
hs=$!
pids="$hs"
wait_for "$tmp/hstrace.err" '^Tracing'

# start_server NAME ARGS...: openssl s_server for two connections on a free port; sets $port.
start_server() {
	name=$1
	shift
	openssl s_server -accept 127.0.0.1:0 -cert "$tmp/server.pem" -key "$tmp/server.key" \
		-cert_chain "$tmp/ca.pem" -www -naccept 2 "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
	pids="$pids $!"
	wait_for "$tmp/$name.out" '^ACCEPT '
	port=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\)$/\1/p' "$tmp/$name.out")
}

# clients PORT: curl (SNI $SNI) and openssl s_client, one connection each.
clients() {
	curl -sS --max-time 20 --cacert "$tmp/ca.pem" --resolve "$SNI:$1:127.0.0.1" \
		-o /dev/null "https://$SNI:$1/" || die "curl to port $1 failed"
	printf 'GET / HTTP/1.0\r\n\r\n' | openssl s_client -connect "127.0.0.1:$1" \
		-servername "$SNI" -CAfile "$tmp/ca.pem" -verify_return_error -ign_eof \
		>"$tmp/s_client.out" 2>&1 || die "openssl s_client to port $1 failed"
}

start_server tls12 -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
port12=$port
echo "TLS 1.2 server (openssl s_server) on 127.0.0.1:$port12: curl, then openssl s_client"
clients "$port12"

start_server tls13 -tls1_3
port13=$port
echo "TLS 1.3 server (openssl s_server) on 127.0.0.1:$port13: curl, then openssl s_client"
clients "$port13"

sleep 0.5 # hstrace's grace period for late records
kill -INT "$hs"
wait "$hs" || die "hstrace failed: $(cat "$tmp/hstrace.err")"
pids=$(echo "$pids" | sed "s/^$hs//")
grep '^Summary:' "$tmp/hstrace.err" || true
echo

"$PYTHON" - "$tmp/conns.ndjson" "$port12" "$port13" <<'EOF'
import json
import sys

path, ports = sys.argv[1], {int(p) for p in sys.argv[2:]}
ARROW = {"out": "-->", "in": "<--"}
recs = []
with open(path) as f:
    for line in f:
        r = json.loads(line)
        if r["local"]["port"] in ports or r["peer"]["port"] in ports:
            recs.append(r)
if not recs:
    sys.exit("demo.sh: hstrace showed none of the demo's connections")
# Connections in order of start; for each, the client end first, then the server end.
def conn(r):
    ends = (r["local"]["port"], r["peer"]["port"])
    return ends if r["role"] == "client" else ends[::-1]
first = {}
for r in recs:
    first[conn(r)] = min(first.get(conn(r), r["start"]), r["start"])
recs.sort(key=lambda r: (first[conn(r)], conn(r), r["role"] != "client"))
for r in recs:
    t = r.get("tls") or {}
    head = "%s %s (pid %s)  %s:%d -> %s:%d" % (
        r["role"], r["comm"], r["pid"], r["local"]["addr"], r["local"]["port"],
        r["peer"]["addr"], r["peer"]["port"])
    tls = "  TLS %s %s %s sni=%s%s" % (
        t.get("version", "?"), t.get("cipher", "?"), t.get("group", "-"), t.get("sni", "-"),
        "  resumed" if t.get("resumed") else "")
    print(head)
    print(tls + "  result=" + r["result"])
    for e in r["events"]:
        extra = ""
        if "len" in e:
            extra += "%6d B" % e["len"]
        if "records" in e:
            extra += "  (%d record%s)" % (e["records"], "s" if e["records"] != 1 else "")
        if e.get("estimated"):
            extra += "  (estimated)"
        if e.get("derived"):
            extra += "  (derived)"
        print(("  +%9.3f ms  %3s  %-22s%s" % (e["t_us"] / 1000.0, ARROW.get(e.get("dir"), ""),
                                             e["event"], extra)).rstrip())
    print("  phases (ms): " + ", ".join("%s %.3f" % (k, v / 1000.0)
                                         for k, v in r["phases_us"].items()))
    print()
EOF
