#!/bin/sh
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
# bench_report.sh - `hstrace report` on 1,000,000 NDJSON records (text, --by sni, --json, and
# the --html page, plain and --by sni), side by side with jq computing just the p50 of one phase
# on the same file. Prints a markdown section (time and peak RSS from /usr/bin/time -v, and the
# size of each output) on stdout; `make bench-report` runs it.
#
#   tools/bench_report.sh [RECORDS]        (default 1000000; no root needed)
#   BENCH_REPORT_FILE=/var/tmp/r.ndjson tools/bench_report.sh   keep and reuse the input
#   tools/bench_report.sh --gen N SEED     only write N generated records to stdout
#
# The records are realistic hstrace/2 lines (TLS 1.3 / 1.2 clients, servers, refused,
# timeouts, alerts; 6 server names with their own latency profiles), made by a fixed-seed
# generator, so every run reads the same file.
set -e
cd "$(dirname "$0")/.."

gen() {
	/usr/bin/python3 - "$1" "$2" <<'EOF'
import json, random, sys

n, seed = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(seed)
HOSTS = [  # sni, peer, median tcp rtt µs, server think µs, weight
    ("api.example.com", "203.0.113.5", 24000, 3000, 40),
    ("cdn.example.net", "198.51.100.7", 9000, 800, 25),
    ("login.example.org", "192.0.2.44", 61000, 9000, 12),
    ("localhost", "127.0.0.1", 60, 400, 10),
    ("db.internal", "10.1.2.3", 350, 1500, 8),
    ("slow.example.com", "203.0.113.99", 180000, 250000, 5),
]
WEIGHTS = [h[4] for h in HOSTS]
COMMS = ["curl", "python3", "java", "node", "wget"]
ALERTS = ["bad_certificate", "unknown_ca", "handshake_failure", "certificate_expired"]
out = sys.stdout
w = out.write
start = 1795764905_000000


def lg(m, s=0.35):
    return max(1, int(rnd.lognormvariate(0, s) * m))


def stamp(t_us):
    secs, us = divmod(t_us, 1000000)
    d, secs = divmod(secs, 86400)
    h, secs = divmod(secs, 3600)
    mi, se = divmod(secs, 60)
    return "2026-11-%02dT%02d:%02d:%02d.%06dZ" % (27 + d % 3, h, mi, se, us)


def ev(t, name, d=None, ln=None, **kw):
    e = {"t_us": t, "event": name}
    if d:
        e["dir"] = d
    if ln:
        e["len"] = ln
    e.update(kw)
    return e


def tls_obj(sni, ver, alert=None):
    t = {"sni": sni, "alpn": {"offered": ["h2", "http/1.1"]}, "version": ver,
         "offered_versions": ["1.3", "1.2"],
         "cipher": "TLS_AES_128_GCM_SHA256" if ver == "1.3" else "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
         "group": "x25519", "resumed": False}
    if alert:
        t["alert"] = alert
    t["app_data"] = {"out": {"bytes": rnd.randint(80, 900), "records": 1},
                     "in": {"bytes": rnd.randint(500, 90000), "records": rnd.randint(1, 9)}}
    t["handshake_done"] = alert is None
    return t


for i in range(n):
    now = start + i * 1700 + rnd.randint(0, 900)
    sni, peer, rtt_m, think_m, _ = rnd.choices(HOSTS, WEIGHTS)[0]
    kind = rnd.random()
    lport = rnd.randint(32768, 60999)
    rtt = lg(rtt_m)
    rec = {"schema": "hstrace/2", "start": stamp(now)}
    if kind < 0.20:  # server side (nginx)
        comm, pid = "nginx", 812
        acc = lg(40, 1.0)
        idle = lg(300)
        think = lg(think_m)
        hs = think + lg(rtt_m) + lg(200)
        resp = lg(2500, 0.8)
        t_est = rtt
        events = [ev(0, "syn_received", "in", derived=True), ev(t_est, "established", "in"),
                  ev(t_est + acc, "accepted"),
                  ev(t_est + idle, "client_hello", "in", 517),
                  ev(t_est + idle + think, "server_hello", "out", 122),
                  ev(t_est + idle + think + 5, "change_cipher_spec", "out", 1),
                  ev(t_est + idle + think + 9, "encrypted_handshake", "out", 2310, records=4),
                  ev(t_est + idle + hs, "encrypted_handshake", "in", 74, records=1),
                  ev(t_est + idle + hs + 20, "app_data", "in", 93),
                  ev(t_est + idle + hs + 20 + resp, "app_data", "out", 1402)]
        total = t_est + idle + hs + 20 + resp + lg(900)
        events += [ev(total - 60, "fin_in", "in"), ev(total - 30, "fin_out", "out"),
                   ev(total, "closed")]
        rec.update(role="server", pid=pid, comm=comm,
                   local={"addr": "192.0.2.10", "port": 443},
                   peer={"addr": peer, "port": lport}, ip_version=4, result="ok",
                   events=events,
                   phases_us={"tcp_handshake": rtt, "accept_wait": acc, "idle_before_hello": idle,
                              "server_think": think, "tls_handshake": hs,
                              "response_time": resp, "total": total})
        rec["tcp"] = {"syn_retransmits": 0, "srtt_us": rtt, "bytes_sent": 5630,
                      "bytes_received": 871}
        rec["tls"] = tls_obj(sni, "1.3")
    else:
        comm = rnd.choice(COMMS)
        rec.update(role="client", pid=rnd.randint(1000, 99999), comm=comm,
                   local={"addr": "192.0.2.10", "port": lport},
                   peer={"addr": peer, "port": 443}, ip_version=4)
        tcp = {"syn_retransmits": 0, "srtt_us": rtt, "bytes_sent": 871, "bytes_received": 5630}
        if kind < 0.24:  # refused
            rec.update(result="refused",
                       events=[ev(0, "syn_sent", "out"), ev(rtt, "reset_in", "in"),
                               ev(rtt + 2, "closed")], phases_us={})
            tcp.update(srtt_us=0, bytes_sent=0, bytes_received=0, error="ECONNREFUSED")
            rec["tcp"] = tcp
        elif kind < 0.26:  # timeout
            rec.update(result="timeout",
                       events=[ev(0, "syn_sent", "out"), ev(1000000, "syn_retransmit", "out"),
                               ev(3000000, "syn_retransmit", "out"),
                               ev(7000000, "closed")], phases_us={})
            tcp.update(syn_retransmits=2, srtt_us=0, bytes_sent=0, bytes_received=0,
                       error="ETIMEDOUT")
            rec["tcp"] = tcp
        else:
            ver = "1.3" if kind < 0.80 else "1.2"
            idle = lg(400)
            sh = rtt + lg(think_m)
            hs = sh + lg(rtt_m) + lg(300)
            ttfb = lg(rtt_m) + lg(think_m * 2)
            alert = None
            result = "ok"
            if kind > 0.96:
                result = "tls_alert"
                if rnd.random() < 0.3:
                    alert = {"level": None, "description": None, "dir": "out"}
                else:
                    alert = {"level": "fatal", "description": rnd.choice(ALERTS), "dir": "out"}
            ch = rtt + idle
            events = [ev(0, "syn_sent", "out"), ev(rtt, "established", "in"),
                      ev(ch, "client_hello", "out", 508), ev(ch + sh, "server_hello", "in", 90)]
            phases = {"tcp_handshake": rtt, "idle_before_hello": idle, "server_hello_rtt": sh}
            if ver == "1.2":
                events += [ev(ch + sh + 5, "certificate", "in", 4330),
                           ev(ch + sh + 10, "server_key_exchange", "in", 329),
                           ev(ch + sh + 11, "server_hello_done", "in")]
            else:
                events += [ev(ch + sh + 4, "change_cipher_spec", "in", 1),
                           ev(ch + sh + 8, "encrypted_handshake", "in", 3398, records=4)]
            if alert:
                t = ch + sh + 400
                events += [ev(t, "alert", "out", 2), ev(t + 40, "fin_out", "out"),
                           ev(t + 90, "fin_in", "in"), ev(t + 120, "closed")]
                phases["total"] = t + 120
            else:
                events.append(ev(ch + hs, "finished" if ver == "1.2" else "encrypted_handshake",
                                 "out", 74, **({} if ver == "1.2" else {"records": 1})))
                t = ch + hs + 30
                events += [ev(t, "app_data", "out", 93), ev(t + ttfb, "app_data", "in", 1402)]
                end = t + ttfb + lg(20000, 1.0)
                events += [ev(end - 50, "fin_out", "out"), ev(end - 20, "fin_in", "in"),
                           ev(end, "closed")]
                phases.update(tls_handshake=hs, ttfb=ttfb, total=end)
            rec.update(result=result, events=events, phases_us=phases, tcp=tcp)
            rec["tls"] = tls_obj(sni, ver, alert)
    rec["cookie"] = 8000 + i
    w(json.dumps(rec, separators=(",", ":")))
    w("\n")
EOF
}

if [ "$1" = "--gen" ]; then
	gen "$2" "$3"
	exit 0
fi

n=${1:-1000000}
hstrace=build/hstrace
phase=tls_handshake
[ -x $hstrace ] || { echo "bench_report.sh: build $hstrace first (make)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench_report.sh: jq is missing (apt-get install jq)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_report.sh: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# BENCH_REPORT_FILE=path keeps the generated file there (and reuses it when it exists)
file=${BENCH_REPORT_FILE:-$dir/records.ndjson}
if [ ! -s "$file" ] || [ "$(wc -l < "$file")" != "$n" ]; then
	gen "$n" 1 > "$file.tmp" && mv "$file.tmp" "$file"
fi
size=$(du -m "$file" | cut -f1)

# measure NAME CMD...: runs CMD with stdout to $dir/NAME.out, prints "seconds kib"
measure() {
	name=$1
	shift
	/usr/bin/time -v -o "$dir/$name.time" "$@" > "$dir/$name.out"
	awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
			for (i = 1; i <= n; i++) s = s * 60 + p[i]; secs = s }
		/Maximum resident set size/ { kib = $2 }
		END { printf "%.2f %d\n", secs, kib }' "$dir/$name.time"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# kib NAME: size of $dir/NAME.out in KiB
kib() { awk -v b="$(wc -c < "$dir/$1.out")" 'BEGIN { printf "%.1f", b / 1024 }'; }

# warm the page cache so both read the file from memory
cat "$file" > /dev/null
set -- $(measure report $hstrace report "$file")
r_s=$1 r_kib=$2
set -- $(measure report_by $hstrace report --by sni "$file")
rb_s=$1 rb_kib=$2
set -- $(measure report_json $hstrace report --json "$file")
rj_s=$1 rj_kib=$2
# the page: one thread (it keeps the slowest records' JSON), default 20 + 20 waterfalls
set -- $(measure report_html $hstrace report --html "$file")
rh_s=$1 rh_kib=$2
set -- $(measure report_html_by $hstrace report --html --by sni "$file")
rhb_s=$1 rhb_kib=$2
# the page of the file's first 1,000 records, for its size: it should not grow with the file
head -n 1000 "$file" > "$dir/small.ndjson"
$hstrace report --html "$dir/small.ndjson" > "$dir/small_html.out"
$hstrace report --html --by sni "$dir/small.ndjson" > "$dir/small_html_by.out"
# jq, streaming (not slurping): keep only the phase values, sort, take the middle one
set -- $(measure jq jq -n "[inputs | .phases_us.$phase // empty] | sort | .[length / 2 | floor]" "$file")
j_s=$1 j_kib=$2

p50_report=$(jq -r ".phases.$phase.p50_us" "$dir/report_json.out")
p50_jq=$(cat "$dir/jq.out")

echo "## hstrace report on $n NDJSON records"
echo
echo "Command: \`tools/bench_report.sh $n\` (\`make bench-report\`). Input: $n generated"
echo "hstrace/2 records ($size MiB, plain NDJSON, in the page cache). Wall time and peak RSS"
echo "from \`/usr/bin/time -v\`. jq computes only the p50 of \`$phase\`, streaming"
echo "(\`jq -n '[inputs | .phases_us.$phase // empty] | sort | .[length / 2 | floor]'\`)."
echo
echo "| command | wall time (s) | peak RSS (MiB) | output (KiB) |"
echo "|---|---:|---:|---:|"
printf '| `hstrace report FILE` | %s | %s | %s |\n' "$r_s" "$(mib $r_kib)" "$(kib report)"
printf '| `hstrace report --by sni FILE` | %s | %s | %s |\n' "$rb_s" "$(mib $rb_kib)" \
	"$(kib report_by)"
printf '| `hstrace report --json FILE` | %s | %s | %s |\n' "$rj_s" "$(mib $rj_kib)" \
	"$(kib report_json)"
printf '| `hstrace report --html FILE` | %s | %s | %s |\n' "$rh_s" "$(mib $rh_kib)" \
	"$(kib report_html)"
printf '| `hstrace report --html --by sni FILE` | %s | %s | %s |\n' "$rhb_s" \
	"$(mib $rhb_kib)" "$(kib report_html_by)"
printf '| `jq` p50 of one phase | %s | %s | %s |\n' "$j_s" "$(mib $j_kib)" "$(kib jq)"
echo
echo "The page of the same file's first 1,000 records: $(kib small_html) KiB"
echo "($(kib small_html_by) KiB with \`--by sni\`)."
echo
echo "p50 of \`$phase\`: hstrace $p50_report µs, jq (exact) $p50_jq µs. Load average at the end:"
echo "$(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (other work on the machine slows both sides)."
