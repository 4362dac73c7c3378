# SPDX-License-Identifier: MIT
"""Checks a real Prometheus scraping several l7top instances against the
NGINX access logs of the servers they watch (tests/integration/test_prom_fleet.sh).

    fleet_check.py counts PROM INSTANCE=LOG...     request counters == logs
    fleet_check.py p99 PROM ROUTE INSTANCE=LOG...  recorded fleet p99 vs merged logs
    fleet_check.py alerts PROM ALERT LABEL VALUE... wait until ALERT fires for
                                                    exactly these LABEL values
    fleet_check.py config IN OUT TARGET            the shipped prometheus.yml with
                                                    1 s timings and TARGET as its
                                                    only static target

Routes in the logs are named the way l7top folds them (ROUTES below): the
test owns both the URLs and this table. Log lines whose query has warm=1
were sent before the measured mix (see p99). Exit 0 when the check holds.
"""
import json
import math
import sys
import time
import urllib.parse
import urllib.request

# How the test's URLs fold into l7top routes (prefix -> route).
ROUTES = [("/api/items/", "/api/items/{id}"), ("/slow", "/slow"), ("/health", "/health"),
          ("/boom", "/boom")]

# l7top's le bounds (export/prom.c), seconds.
LE = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]


def route_of(uri):
    path = uri.split("?", 1)[0]
    for prefix, route in ROUTES:
        if path.startswith(prefix):
            return route
    raise SystemExit(f"fleet_check: no route for {uri!r}: add it to ROUTES")


def read_log(path):
    """(method, route, status, request_time_s, warm) per line."""
    rows = []
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            method, uri, status, rtime = fields[0], fields[1], fields[2], fields[5]
            rows.append((method, route_of(uri), status, float(rtime), "warm=1" in uri))
    return rows


def parse_logs(args):
    logs = {}
    for a in args:
        inst, path = a.split("=", 1)
        logs[inst] = read_log(path)
    return logs


def query(prom, q):
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{q}: {body}")
    return body["data"]["result"]


def counts(prom, logs):
    want_inst, want_fleet = {}, {}
    for inst, rows in logs.items():
        for method, route, _status, _t, _warm in rows:
            want_inst[(inst, method, route)] = want_inst.get((inst, method, route), 0) + 1
            want_fleet[(method, route)] = want_fleet.get((method, route), 0) + 1
    got_inst, got_fleet = {}, {}
    deadline = time.time() + 30
    while True:
        got_inst = {(r["metric"]["instance"], r["metric"]["method"], r["metric"]["route"]):
                    int(float(r["value"][1])) for r in
                    query(prom, 'sum by (instance, method, route) (l7top_http_requests_total{job="l7top"})')}
        got_fleet = {(r["metric"]["method"], r["metric"]["route"]): int(float(r["value"][1]))
                     for r in query(prom, 'sum by (method, route) (l7top_http_requests_total{job="l7top"})')}
        if (got_inst, got_fleet) == (want_inst, want_fleet) or time.time() > deadline:
            break
        time.sleep(1)
    print("  fleet: sum by (method, route) (l7top_http_requests_total) vs the three access logs")
    for key in sorted(set(want_fleet) | set(got_fleet)):
        per = "  ".join(f"{inst}: {got_inst.get((inst,) + key, 0)}/{want_inst.get((inst,) + key, 0)}"
                        for inst in sorted(logs))
        mark = "" if got_fleet.get(key) == want_fleet.get(key) else "   <-- differs"
        print(f"    {key[0]} {key[1]:<18} prometheus {got_fleet.get(key, 0):>5}  logs "
              f"{want_fleet.get(key, 0):>5}   ({per}){mark}")
    ok = got_inst == want_inst and got_fleet == want_fleet
    print(f"    total: prometheus {sum(got_fleet.values())}, logs {sum(want_fleet.values())}")
    return ok


def quantile(values, q):
    """Nearest-rank quantile of a sorted list."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


def bucket_of(v):
    lo = 0.0
    for hi in LE:
        if v <= hi:
            return lo, hi
        lo = hi
    return lo, math.inf


def p99(prom, route, logs):
    measured = {inst: sorted(t for _m, r, _s, t, warm in rows if r == route and not warm)
                for inst, rows in logs.items()}
    merged = sorted(t for ts in measured.values() for t in ts)
    if not merged:
        print(f"  no {route} lines in the logs")
        return False
    log_p99 = quantile(merged, 0.99)
    got = query(prom, f'route:l7top_http_request_duration_seconds:p99_5m{{route="{route}"}}')
    if len(got) != 1:
        print(f"  route:l7top_http_request_duration_seconds:p99_5m{{route=\"{route}\"}}: {got}")
        return False
    fleet = float(got[0]["value"][1])
    per = {r["metric"]["instance"]: float(r["value"][1]) for r in query(
        prom, f'histogram_quantile(0.99, sum by (instance, le) '
              f'(rate(l7top_http_request_duration_seconds_bucket{{route="{route}"}}[5m])))')}
    lo, hi = bucket_of(fleet)
    # The histogram knows only that p99 lies in (lo, hi]; NGINX logs whole
    # milliseconds and starts its clock after l7top sees the first byte
    # (by up to a few ms on this shared 2-core machine): 5 ms either side.
    slack = 0.005
    ok = lo - slack <= log_p99 <= hi + slack
    print(f"  {route}: {len(merged)} measured requests "
          f"({', '.join(f'{i}: {len(t)}' for i, t in sorted(measured.items()))})")
    print(f"    recorded fleet p99 (merged buckets): {fleet * 1000:.1f} ms, bucket "
          f"({lo * 1000:g}, {hi * 1000:g}] ms")
    print(f"    p99 of the merged access logs:        {log_p99 * 1000:.1f} ms "
          f"(difference {abs(fleet - log_p99) * 1000:.1f} ms, bucket width {(hi - lo) * 1000:g} ms)")
    print("    per server: " + ", ".join(
        f"{i} hist {per.get(i, float('nan')) * 1000:.1f} ms / log {quantile(t, 0.99) * 1000:.1f} ms"
        for i, t in sorted(measured.items()) if t))
    if per:
        print(f"    (the mean of the per-server p99s would say {sum(per.values()) / len(per) * 1000:.1f} ms)")
    if not ok:
        print(f"    FAIL: the logs' p99 is outside the histogram's bucket ({lo}, {hi}] +- {slack}")
    return buckets(prom, route, logs) and ok


def scraped_buckets(instance, route):
    """le -> count of one route's histogram in one l7top's own /metrics."""
    with urllib.request.urlopen(f"http://{instance}/metrics", timeout=5) as r:
        text = r.read().decode()
    out, tag = {}, f'route="{route}",le="'
    for line in text.splitlines():
        if line.startswith("l7top_http_request_duration_seconds_bucket{") and tag in line:
            le = line.split(tag, 1)[1].split('"', 1)[0]
            out[le] = out.get(le, 0) + int(line.rsplit(" ", 1)[1])
    return out


def buckets(prom, route, logs):
    """The merged buckets themselves. Exact: Prometheus' fleet sum by (le)
    == the three l7tops' own /metrics added up. Against the logs: requests
    at or under each bound, but for those logged within 5 ms of it (NGINX's
    ms clock starts later than l7top's wire clock, more so under load)."""
    times = sorted(t for rows in logs.values() for _m, r, _s, t, _w in rows if r == route)
    got = {r["metric"]["le"]: int(float(r["value"][1])) for r in query(
        prom, f'sum by (le) (l7top_http_request_duration_seconds_bucket{{job="l7top",route="{route}"}})')}
    scraped = {}
    for inst in logs:
        for le, n in scraped_buckets(inst, route).items():
            scraped[le] = scraped.get(le, 0) + n
    ok = got == scraped and len(got) == len(LE) + 1
    print(f"    merged buckets, {route}: Prometheus sum by (le) "
          f"{'==' if got == scraped else '!='} the sum of the three /metrics "
          f"({len(got)} bounds, the same on every host)")
    print("    le: prometheus / logs (logged within 5 ms of the bound)")
    cells = []
    for le in LE + [math.inf]:
        key = "+Inf" if le == math.inf else f"{le:g}"
        want = sum(1 for t in times if t <= le)
        near = sum(1 for t in times if abs(t - le) <= 0.005)
        have = got.get(key)
        good = have is not None and abs(have - want) <= near
        ok = ok and good
        cells.append(f"{key}: {have}/{want}" + (f" ({near})" if near else "") + ("" if good else " <--"))
    print("      " + ", ".join(cells))
    if not ok:
        print("    FAIL: merged buckets differ from the scrapes or the logs")
    return ok


def alerts(prom, name, label, values, timeout=60):
    """Waits until `name` fires for exactly `values` of `label`; prints when."""
    want = set(values)
    start = time.time()
    firing = pending = set()
    while time.time() - start < timeout:
        url = prom + "/api/v1/alerts"
        with urllib.request.urlopen(url, timeout=5) as r:
            data = json.load(r)["data"]["alerts"]
        mine = [a for a in data if a["labels"].get("alertname") == name]
        firing = {a["labels"].get(label, "") for a in mine if a["state"] == "firing"}
        pending = {a["labels"].get(label, "") for a in mine if a["state"] == "pending"}
        if firing == want and not (pending - want):
            if not want:
                print(f"  {name}: not firing, not pending")
                return True
            since = [a.get("activeAt", "?") for a in mine if a["state"] == "firing"]
            print(f"  {name} firing for {label}={sorted(firing)} after {time.time() - start:.1f} s "
                  f"of waiting (pending since {', '.join(since)})")
            return True
        if firing - want:
            break
        time.sleep(0.5)
    print(f"  FAIL: {name}: firing for {sorted(firing)}, pending {sorted(pending)}, "
          f"want firing for exactly {sorted(want)} ({label})")
    return False


def config(src, dst, target):
    """The shipped config, changed only where a test must: timings, and the
    example static targets replaced by one of the test's hosts (file_sd
    lists the others)."""
    import yaml   # python3-yaml
    with open(src) as f:
        cfg = yaml.safe_load(f)
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "l7top"]
    job["static_configs"] = [{"targets": [target]}]
    for sd in job["file_sd_configs"]:
        sd["refresh_interval"] = "1s"
    with open(dst, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    return True


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    cmd, prom = argv[1], argv[2].rstrip("/")
    if cmd == "counts":
        ok = counts(prom, parse_logs(argv[3:]))
    elif cmd == "p99":
        ok = p99(prom, argv[3], parse_logs(argv[4:]))
    elif cmd == "config":
        ok = config(argv[2], argv[3], argv[4])
    elif cmd == "alerts":
        ok = alerts(prom, argv[3], argv[4], argv[5:])
    else:
        raise SystemExit(__doc__)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
