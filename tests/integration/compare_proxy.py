#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_proxy.sh's checker: l7top's --json upstream lines against the
frontend NGINX's access log.

Log lines (tab-separated): method uri status upstream_addr upstream_status
upstream_response_time upstream_connect_time request_time. One inbound
request lists every upstream attempt, comma-separated (proxy_next_upstream).

Per upstream address, NGINX's attempts must equal l7top's: its answered
calls by status class, plus the calls l7top saw unanswered (the connection
closed: NGINX logs 504) and the connects refused (SYN answered by RST:
NGINX logs 502). DOWN (argv[3]) is the address that refuses connects:
requests that only tried it have nothing to link. Per (upstream, route), the calls' p50/p99 must lie within
max(1.5 ms, 10%) of $upstream_response_time - $upstream_connect_time (ms
resolution each; NGINX's connect time includes a TLS handshake); below the log's by more is accepted, and said so, when the
log's value is within l7top's call time plus its p99 "before" and "after"
times: NGINX reads its clock once per event-loop turn, so on a loaded machine
its value includes the worker's own waits, which the wire shows as time
before or after the call. Prints the link rate. Exit 1 on any mismatch."""
import json
import sys
from collections import defaultdict


def pct(vals, q):
    s = sorted(vals)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))
    return s[k]


by_route = defaultdict(int)   # (method, uri) -> inbound requests that reached a backend


def read_log(path, down):
    attempts = defaultdict(lambda: defaultdict(int))   # addr -> class -> n
    times = defaultdict(list)                         # (addr, uri path) -> [ms]
    inbound_proxied = 0
    by_route.clear()
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 8 or f[3] == "-":
            continue
        method, uri = f[0], f[1].split("?")[0]
        addrs = [a.strip() for a in f[3].replace(" : ", ", ").split(",")]
        codes = [c.strip() for c in f[4].replace(" : ", ", ").split(",")]
        rts = [r.strip() for r in f[5].replace(" : ", ", ").split(",")]
        cts = [r.strip() for r in f[6].replace(" : ", ", ").split(",")]
        reached = any(a != down and not a.startswith("unix:") for a in addrs)
        inbound_proxied += reached
        by_route[(method, uri)] += reached
        for a, c, r, ct in zip(addrs, codes, rts, cts):
            attempts[a][c[0] + "xx"] += 1
            if c not in ("502", "504") and r not in ("-", "") and not a.startswith("unix:"):
                # The call as the wire shows it starts after the connect
                # (and, over TLS, the handshake): NGINX's time minus both.
                connect = float(ct) if ct not in ("-", "") else 0.0
                times[(a, method, uri)].append((float(r) - connect) * 1000.0)
    return attempts, times, inbound_proxied


def read_l7(path):
    ups = defaultdict(lambda: defaultdict(int))
    routes = {}
    links = defaultdict(int)
    unix = {}
    for line in open(path):
        o = json.loads(line)
        if "upstream_unix" in o:
            unix = o["upstream_unix"]
        elif "upstream_links" in o:
            for k, v in o["upstream_links"].items():
                links[k] += v
        elif "upstream" in o and "calls" in o:
            routes[(o["upstream"], o["method"], o["route"])] = o
        elif "upstream" in o:
            u = ups[o["upstream"]]
            for k in ("requests", "s1xx", "s2xx", "s3xx", "s4xx", "s5xx", "no_answer",
                      "connect_failed", "connects", "connects_unseen", "reused"):
                u[k] += o[k]
    return ups, routes, links, unix


def check_db(up_csv, routes_csv, r502_json, ups, routes):
    """`l7top query --upstreams` reads back from the DB what --json printed."""
    import csv
    bad = 0
    keys = ("requests", "s1xx", "s2xx", "s3xx", "s4xx", "s5xx", "no_answer", "connect_failed")
    rows = list(csv.DictReader(open(up_csv)))
    for r in rows:
        want = ups.get(r["upstream"], {})
        got = {k: int(r[k]) for k in keys}
        ok = all(got[k] == want.get(k, 0) for k in keys)
        bad += not ok
        print("  db upstream %-18s requests %4d  no_answer %d  connect_failed %d  %s" %
              (r["upstream"], got["requests"], got["no_answer"], got["connect_failed"],
               "ok" if ok else "MISMATCH (json: %s)" % dict(want)))
    if len(rows) != len(ups):
        print("  db: %d upstream rows, json %d MISMATCH" % (len(rows), len(ups)))
        bad += 1
    rrows = list(csv.DictReader(open(routes_csv)))
    for r in rrows:
        j = routes.get((r["upstream"], r["method"], r["route"]))
        ok = j is not None and int(r["requests"]) == j["calls"] and int(r["inbound"]) == j["inbound"]
        bad += not ok
        if not ok:
            print("  db route %s %s %s: %s calls, json %s MISMATCH" %
                  (r["upstream"], r["method"], r["route"], r["requests"], j and j["calls"]))
    if len(rrows) != len(routes):
        print("  db: %d route rows, json %d MISMATCH" % (len(rrows), len(routes)))
        bad += 1
    only = json.load(open(r502_json))
    ok = only and all(o["route"] == "/r502/x" for o in only) and \
        sum(o["requests"] for o in only) == sum(j["calls"] for k, j in routes.items() if k[2] == "/r502/x")
    bad += not ok
    print("  db --by-route --endpoint 'GET /r502/x': %d rows, %d calls %s" %
          (len(only), sum(o["requests"] for o in only), "ok" if ok else "MISMATCH"))
    return bad


def main():
    log, l7, down = sys.argv[1], sys.argv[2], sys.argv[3]
    attempts, times, inbound = read_log(log, down)
    ups, routes, links, unix = read_l7(l7)
    bad = 0
    # A unix-socket backend: no row (capture cannot see it), but said.
    for addr in [a for a in attempts if a.startswith("unix:")]:
        ok = addr not in ups and unix.get("conns", 0) >= 1 and unix.get("path") == addr[5:]
        bad += not ok
        print("  %s: %d calls in the log, l7top: no row, says %s %s" %
              (addr, sum(attempts.pop(addr).values()), unix or "nothing", "ok" if ok else "MISMATCH"))
    print("  %-18s %28s   %s" % ("upstream", "log 2xx/3xx/4xx/5xx", "l7top 2xx/3xx/4xx/5xx (noans->504, cfail->502) new/reused"))
    for addr in sorted(set(attempts) | set(ups)):
        want = attempts.get(addr, {})
        u = ups.get(addr, defaultdict(int))
        got = {"2xx": u["s2xx"], "3xx": u["s3xx"], "4xx": u["s4xx"],
               "5xx": u["s5xx"] + u["no_answer"] + u["connect_failed"], "1xx": u["s1xx"]}
        w = [want.get(k, 0) for k in ("1xx", "2xx", "3xx", "4xx", "5xx")]
        g = [got[k] for k in ("1xx", "2xx", "3xx", "4xx", "5xx")]
        ok = w == g
        bad += not ok
        print("  %-18s %28s   %-28s %d/%d %s" % (addr, "/".join(map(str, w[1:])), "/".join(map(str, g[1:])),
                                            u["connects"] + u["connects_unseen"], u["reused"],
                                            "ok" if ok else "MISMATCH"))
    for (addr, method, uri), vals in sorted(times.items()):
        r = routes.get((addr, method, uri))
        if r is None:
            print("  route %s %s %s: no l7top row (%d calls in the log) MISMATCH" % (addr, method, uri, len(vals)))
            bad += 1
            continue
        for q, key in ((0.5, "p50_ms"), (0.99, "p99_ms")):
            want, got = pct(vals, q), r[key]
            tol = max(1.5, 0.1 * want)
            ok = abs(want - got) <= tol
            # NGINX's clock is read once per event-loop turn: a worker that
            # was not running when it should have sent the request or read
            # the answer logs that wait too. So $upstream_response_time lies
            # between the wire's call time and the call plus what NGINX took
            # around it (l7top's "before" and "after" splits).
            slack = r["before_p99_ms"] + r["after_p99_ms"]
            late = not ok and got < want <= got + slack + tol
            bad += not ok and not late
            verdict = "ok" if ok else ("ok: NGINX's own wait, within before+after p99 %.2f ms" %
                                       slack) if late else "MISMATCH"
            print("  route %-16s %-3s %-14s %s log %7.2f ms  l7top %7.2f ms  %s" %
                  (addr, method, uri, key[:3], want, got, verdict))
    if len(sys.argv) > 4:
        bad += check_db(sys.argv[4], sys.argv[5], sys.argv[6], ups, routes)
    total = links["linked"] + links["unlinked"]
    rate = 100.0 * links["linked"] / total if total else 0.0
    print("  link rule: %d of %d upstream calls linked (%.1f%%), %d by order, %d unlinked; "
          "%d inbound requests linked of %d that reached a backend (log)" %
          (links["linked"], total, rate, links["by_order"], links["unlinked"],
           links["inbound_linked"], inbound))
    if links["unlinked"] or links["inbound_linked"] != inbound:
        print("  link rule: not every proxied request was linked MISMATCH")
        bad += 1
        # Which route: inbound requests the log sent to a backend vs linked.
        got = defaultdict(int)
        for (a, m, r), o in routes.items():
            got[(m, r)] += o["inbound"]
        for key, n in sorted(by_route.items()):
            if got.get(key, 0) != n:
                print("  link rule: %s %s: %d reached a backend, %d linked" % (key[0], key[1], n, got.get(key, 0)))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
