# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Many sequential connections: each reported exactly once, by both ends, nothing lost."""

import harness as H
from harness import check

N = 200


def test_200_sequential_connections():
    srv = H.start_server(count=N, reply=10, comm="hs_srv_many")
    hs = H.start_hstrace(["--json", "--all"])
    cl = H.start_client(srv.port, count=N, send=10, comm="hs_cli_many")
    cl.wait_exit(60)
    srv.wait_exit(30)
    H.settle(1.0)
    recs = hs.stop_ok()
    summ = hs.summary()

    ports = cl.ports()
    check(len(ports) == N and len(set(ports)) == N,
          "client made %d connections on %d distinct ports, expected %d" % (len(ports), len(set(ports)), N))

    crecs = H.select(recs, role="client", rport=srv.port)
    check(all(r["pid"] == cl.pid for r in crecs), "client records with another pid",
          [r for r in crecs if r["pid"] != cl.pid])
    got = sorted(r["local"]["port"] for r in crecs)
    check(got == sorted(ports),
          "client records: %d (distinct local ports %d), expected one per connection (%d); "
          "missing ports %s, extra/duplicate %s"
          % (len(got), len(set(got)), N, sorted(set(ports) - set(got))[:20],
             sorted(p for p in set(got) if got.count(p) > 1 or p not in ports)[:20]))
    check(len(H.select(recs, pid=cl.pid)) == N, "records with the client pid != %d" % N)

    srecs = H.select(recs, role="server", lport=srv.port)
    check(all(r["pid"] == srv.pid for r in srecs), "server records with another pid",
          [r for r in srecs if r["pid"] != srv.pid])
    sgot = sorted(r["peer"]["port"] for r in srecs)
    check(sgot == sorted(ports),
          "server records: %d (distinct peer ports %d), expected %d; missing %s"
          % (len(sgot), len(set(sgot)), N, sorted(set(ports) - set(sgot))[:20]))

    for r in crecs + srecs:
        H.check_record(r)
        check(r["result"] == "ok", "result %r, expected ok" % r["result"], r)
    check(summ["lost"] == 0, "Summary reports lost=%d records" % summ["lost"], hs.stderr())
    check(summ["connections"] >= 2 * N, "Summary connections=%d < %d" % (summ["connections"], 2 * N))
