#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Self-checks of compare.py: the route folding contract, percentiles, and
that a CSV made from the log passes while doctored ones fail. Run by run.sh
before the integration tests; needs no root, NGINX or l7top."""

import contextlib
import csv
import io
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  not ok: " + what)


def fold(s):
    return compare.fold_target(s.encode("latin-1") if isinstance(s, str) else s)


# --- route folding ---------------------------------------------------------
cases = [
    ("/users/17", "/users/{id}"),
    ("/users/17?x=1&y=2", "/users/{id}"),
    ("/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders", "/users/{id}/orders"),
    ("/users/3F2504E0-4F89-11D3-9A0C-0305E82C3301", "/users/{id}"),
    ("/api/items/deadbeefdeadbeef0123", "/api/items/{id}"),
    ("/api/items/0123456789abcdef", "/api/items/{id}"),       # 16 hex
    ("/api/items/0123456789abcde", "/api/items/0123456789abcde"),  # 15 hex
    ("/api/items/deadbeef", "/api/items/deadbeef"),
    ("/api/v2/items", "/api/v2/items"),
    ("/12/34/x", "/{id}/{id}/x"),
    ("/", "/"),
    ("/users/17/", "/users/{id}/"),
    ("/a//b", "/a//b"),
    ("/search?q=/users/17", "/search"),
    ("/?q=1", "/"),
    ("/caf\xc3\xa9/menu", "/caf%C3%A9/menu"),
    ("/a b", "/a%20b"),
    ("/tab\there", "/tab%09here"),
    ("/x\x7f", "/x%7F"),
    ("/%41%20", "/%2541%2520"),                             # a literal % is escaped too: never the same route as a raw byte
    ("/q/a,b", "/q/a,b"),
    ('/q/say"hi"', '/q/say"hi"'),
    ("/3f2504e0-4f89-11d3-9a0c-0305e82c330", "/3f2504e0-4f89-11d3-9a0c-0305e82c330"),  # short uuid
    ("/12a", "/12a"),
]
for raw, want in cases:
    got = fold(raw)
    check(got == want, "fold(%r) = %r, want %r" % (raw, got, want))

long = "/long/" + "segment-" * 40 + "/end"
got = fold(long)
check(len(got) == 255 and got.endswith("..."), "long route cut to 255 bytes: %d %r" % (len(got), got[-10:]))
check(compare.canon_got_route(long[:255]) == got, "l7top cutting to exactly 255 bytes is accepted")
check(compare.canon_got_route(long[:252] + "...") == got, "l7top cutting to 252 + '...' is accepted")
check(compare.canon_got_route("/short") == "/short", "short routes unchanged")

# NGINX's log escaping.
check(compare.unescape_nginx(b"/caf\\xC3\\xA9/say\\x22hi\\x22") == b'/caf\xc3\xa9/say"hi"', "unescape \\xHH")
check(compare.unescape_nginx(b"/a\\x5Cb") == b"/a\\b", "unescape backslash")

# --- percentiles: the ceil(q*n)-th smallest ---------------------------------
v = list(range(1, 101))
check(compare.percentile(v, 0.50) == 50, "p50 of 1..100 = 50")
check(compare.percentile(v, 0.99) == 99, "p99 of 1..100 = 99")
check(compare.percentile(v, 0.90) == 90, "p90 of 1..100 = 90")
check(compare.percentile([5], 0.99) == 5, "p99 of one value")
check(compare.percentile([1, 2, 3], 0.5) == 2, "p50 of 3 values = 2nd")
check(compare.percentile([1, 2], 0.5) == 1, "p50 of 2 values = 1st")
check(compare.percentile(list(range(1, 201)), 0.99) == 198, "p99 of 1..200 = 198")

# --- whole-file comparisons --------------------------------------------------
LOG = []


def logline(method, target, status, sent, reqlen, rtime, discard="0", clen="-"):
    LOG.append("\t".join([method, target, str(status), str(sent), str(reqlen), "%.3f" % rtime,
                          "1700000000.000", "1", "1", discard, clen]))


for i in range(200):
    logline("GET", "/users/%d?x=%d" % (i, i), 200 if i % 10 else 404, 180 + i % 7, 80, (i % 20) / 1000.0)
for i in range(30):
    logline("GET", "/static/big.bin", 200, 5000253, 92, 0.010 + i / 1000.0)
logline("HEAD", "/static/big.bin", 200, 253, 93, 0.0)
logline("GET", "/q/caf\\xC3\\xA9/menu", 200, 151, 88, 0.0)
logline("GET", "/q/a,b", 200, 151, 81, 0.0)
logline("GET", "/q/say\\x22hi\\x22?x=\\x22y\\x22", 200, 151, 91, 0.0)
logline("GET", long, 200, 154, 400, 0.0)
logline("POST", "/api/events", 204, 120, 150, 0.001, discard="1", clen="1000")
logline("POST", "/api/upload", 200, 182, 1150, 0.002)
for i in range(5):
    logline("GET", "/slow/file.txt", 200, 400237, 90, 1.0 + i * 0.1)
logline("GET", "/boom", 500, 300, 70, 0.0)
logline("GET", "/old", 301, 350, 70, 0.0)
logline("GET", "/static/page.txt", 304, 180, 120, 0.0)
logline("GET", "/x", 101, 130, 70, 0.0)
# Clients that left: before the answer (499), with headers cut (400), and
# inside the request line (400 without a method).
logline("GET", "/gone", 499, 0, 60, 0.5)
logline("GET", "/gone", 400, 0, 25, 0.1)
logline("-", "-", 400, 0, 0, 0.1)

tmp = tempfile.mkdtemp(prefix="l7top-compare-selftest.")
log_path = os.path.join(tmp, "access.log")
with open(log_path, "w", encoding="latin-1") as f:
    f.write("\n".join(LOG) + "\n")

eps, skipped = compare.read_log(log_path)
check(not skipped, "no skipped log lines")
check(eps[("POST", "/api/events")].bytes_in == 1150, "discarded body added to bytes_in")
check(eps[("GET", "/users/{id}")].status == [0, 180, 0, 20, 0], "status classes counted")
check(eps[("GET", "/x")].status[0] == 1, "1xx class counted")
check(eps[("GET", "/gone")].aborted == 2 and eps[("GET", "/gone")].requests == 2
      and eps[("GET", "/gone")].status == [0] * 5 and not eps[("GET", "/gone")].lat_ms,
      "400/499 with nothing sent are aborted requests")
check(compare.read_log.partial == 1 and ("-", "-") not in eps, "a 400 without a request line is partial")

buf = io.StringIO()
compare.emit_csv(eps, buf)
base_csv = buf.getvalue()
rows = list(csv.reader(io.StringIO(base_csv)))
header, body = rows[0], rows[1:]
check(header == compare.CSV_HEADER, "emitted header")
check(any(r[1] == "/q/a,b" for r in body) and '"/q/a,b"' in base_csv, "comma route quoted in CSV")
check('"/q/say""hi"""' in base_csv, "quote route quoted in CSV")


def write_csv(rows_):
    s = io.StringIO()
    w = csv.writer(s, lineterminator="\n")
    for r in rows_:
        w.writerow(r)
    return s.getvalue()


def run_compare(csv_text, *extra):
    p = os.path.join(tmp, "got.csv")
    with open(p, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(csv_text)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = compare.main(["--log", log_path, "--csv", p] + list(extra))
    return rc, out.getvalue()


def doctored(route, col, fn, method="GET"):
    rs = [list(r) for r in body]
    hit = False
    for r in rs:
        if r[0] == method and r[1] == route:
            i = compare.CSV_HEADER.index(col)
            r[i] = str(fn(r[i]))
            hit = True
    assert hit, (method, route)
    return write_csv([header] + rs)


rc, out = run_compare(base_csv)
check(rc == 0, "the log's own CSV passes (rc %d):\n%s" % (rc, out))

# Rows in another order, numbers formatted differently, \n line ends: still passes.
rs = [list(r) for r in body][::-1]
for r in rs:
    for i in range(11, 15):
        r[i] = "%.1f" % float(r[i])
rc, out = run_compare(write_csv([header] + rs))
check(rc == 0, "reordered rows / other float format pass (rc %d):\n%s" % (rc, out))

# Within tolerance: bytes +0.9%, p99 +1.4 ms on a fast route (+4.9 too), +9% on a slow one.
t = doctored("/static/big.bin", "bytes_out", lambda x: int(int(x) * 1.009))
rc, out = run_compare(t)
check(rc == 0, "bytes_out +0.9%% passes:\n%s" % out)
t = doctored("/users/{id}", "p99_ms", lambda x: float(x) + 1.4)
check(run_compare(t)[0] == 0, "p99 +1.4 ms on a fast route passes")
t = doctored("/users/{id}", "p99_ms", lambda x: float(x) + 4.9)
check(run_compare(t)[0] == 0, "p99 +4.9 ms on a fast route passes (5 ms allowance)")
t = doctored("/slow/file.txt", "p50_ms", lambda x: float(x) * 1.09)
check(run_compare(t)[0] == 0, "p50 +9% on a slow route passes")

# 5 MB responses: l7top may be later by the drain time (20 ms per MB).
t = doctored("/static/big.bin", "p50_ms", lambda x: float(x) + 7.0)
check(run_compare(t)[0] == 0, "big response +7 ms (10% + 5 ms drain) passes")
# Discarded bodies: latency is not compared.
t = doctored("/api/events", "p99_ms", lambda x: float(x) + 50, method="POST")
check(run_compare(t)[0] == 0, "latency of a discarded-body endpoint is not compared")

# Long route cut either way passes.
for cut in (long[:255], long[:252] + "..."):
    rs = [list(r) for r in body]
    for r in rs:
        if r[1].startswith("/long/"):
            r[1] = cut
    check(run_compare(write_csv([header] + rs))[0] == 0, "long route cut as %r passes" % cut[-6:])

# Each of these must fail.
bad = {
    "requests -1": doctored("/users/{id}", "requests", lambda x: int(x) - 1),
    "requests +1": doctored("/slow/file.txt", "requests", lambda x: int(x) + 1),
    "s4xx moved to s2xx": doctored("/users/{id}", "s2xx", lambda x: int(x) + 1),
    "s1xx": doctored("/x", "s1xx", lambda x: 0),
    "bytes_in +2%": doctored("/users/{id}", "bytes_in", lambda x: int(int(x) * 1.02)),
    "bytes_out -1.5%": doctored("/static/big.bin", "bytes_out", lambda x: int(int(x) * 0.985)),
    "bytes_out of HEAD with a body": doctored("/static/big.bin", "bytes_out", lambda x: int(x) + 5000000,
                                              method="HEAD"),
    "discarded body missing from bytes_in": doctored("/api/events", "bytes_in", lambda x: int(x) - 1000,
                                                     method="POST"),
    "p50 +5.2 ms": doctored("/users/{id}", "p50_ms", lambda x: float(x) + 5.2),
    "p99 -12% slow": doctored("/slow/file.txt", "p99_ms", lambda x: float(x) * 0.88),
    "p50 -25% big (no drain allowance below)": doctored("/static/big.bin", "p50_ms",
                                                       lambda x: float(x) * 0.75),
    "p50 big beyond tolerance + drain": doctored("/static/big.bin", "p50_ms", lambda x: float(x) + 150.0),
    "p99 of a discarded-body endpoint's neighbour": doctored("/api/upload", "p99_ms", lambda x: float(x) + 25.5,
                                                             method="POST"),
    "route not folded": write_csv([header] + [r if r[1] != "/users/{id}" else [r[0], "/users/17"] + r[2:]
                                              for r in body]),
    "query kept": write_csv([header] + [r if r[1] != "/q/a,b" else [r[0], "/q/a,b?x=1"] + r[2:]
                                        for r in body]),
    "encoding lowercase": write_csv([header] + [r if r[1] != "/q/caf%C3%A9/menu" else
                                                [r[0], "/q/caf%c3%a9/menu"] + r[2:] for r in body]),
    "endpoint missing": write_csv([header] + [r for r in body if r[1] != "/boom"]),
    "extra endpoint": write_csv([header] + body + [["GET", "/ghost"] + ["1", "0", "1", "0", "0", "0",
                                                                        "10", "10", "0", "0", "0", "0"]]),
    "duplicate endpoint": write_csv([header] + body + [body[0]]),
    "wrong header": write_csv([["method", "route", "count"] + header[3:]] + body),
    "empty output": "",
    "header only": write_csv([header]),
    "method case": write_csv([header] + [r if r[0] != "HEAD" else ["head"] + r[1:] for r in body]),
}
for name, text in bad.items():
    rc, out = run_compare(text)
    check(rc != 0, "doctored CSV (%s) must fail, got rc %d:\n%s" % (name, rc, out))

# --routes / --counts-only
t = doctored("/slow/file.txt", "bytes_out", lambda x: int(x) * 2)
check(run_compare(t, "--counts-only")[0] == 0, "--counts-only ignores bytes")
check(run_compare(t, "--routes", "^/users/")[0] == 0, "--routes filters both sides")
t2 = doctored("/users/{id}", "requests", lambda x: int(x) - 1)
check(run_compare(t2, "--routes", "^/users/", "--counts-only")[0] != 0, "--routes still checks what it keeps")

# Apache logs the status it meant to send when the client had already gone
# (%X "X", field 7 of apache_lib.sh's format): l7top, which saw no response on
# the wire, counts such a request aborted. Only those lines may move.
apache_log = os.path.join(tmp, "apache.log")
with open(apache_log, "w") as f:
    for i in range(20):
        f.write("GET\t/health\t200\t2155\t33\t120\t%s\n" % ("X" if i < 2 else "+"))
    f.write("GET\t/gone\t404\t300\t33\t120\tX\n")


def apache_compare(rows_, *extra):
    p = os.path.join(tmp, "apache.csv")
    with open(p, "w") as f:
        f.write(write_csv([header] + [["GET", r, str(n), "0", str(s2), "0", str(s4), "0", str(ab),
                                       "0", "0", "0", "0", "0", "0"] for r, n, s2, s4, ab in rows_]))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return compare.main(["--log", apache_log, "--csv", p, "--counts-only"] + list(extra))


exact = [("/health", 20, 20, 0, 0), ("/gone", 1, 0, 1, 0)]
check(apache_compare(exact, "--client-abort-field", "7") == 0, "Apache: exact counts pass")
check(apache_compare([("/health", 20, 18, 0, 2), ("/gone", 1, 0, 0, 1)], "--client-abort-field", "7") == 0,
      "Apache: every X line counted aborted passes")
check(apache_compare([("/health", 20, 19, 0, 1), ("/gone", 1, 0, 1, 0)], "--client-abort-field", "7") == 0,
      "Apache: some X lines counted aborted pass")
apache_bad = {
    "without --client-abort-field": ([("/health", 20, 19, 0, 1), ("/gone", 1, 0, 1, 0)], ()),
    "more aborted than X lines": ([("/health", 20, 17, 0, 3), ("/gone", 1, 0, 1, 0)], None),
    "aborted without a class short": ([("/health", 20, 20, 0, 1), ("/gone", 1, 0, 1, 0)], None),
    "class short, aborted not up": ([("/health", 20, 19, 0, 0), ("/gone", 1, 0, 1, 0)], None),
    "class moved to another class": ([("/health", 20, 19, 1, 0), ("/gone", 1, 0, 1, 0)], None),
}
for name, (rows_, extra) in apache_bad.items():
    extra = ("--client-abort-field", "7") if extra is None else extra
    check(apache_compare(rows_, *extra) != 0, "Apache: doctored counts (%s) must fail" % name)

# --- latency allowance: one late request moves only a quantile it decides ---
check(compare.lat_ok(0.0, 6.1, 0, compare.one_request_decides("p99_ms", 33)),
      "p99 of 33 requests: one request 6.1 ms late passes")
check(not compare.lat_ok(0.0, 6.1, 0, compare.one_request_decides("p99_ms", 500)),
      "p99 of 500 requests 6.1 ms late must fail")
check(not compare.lat_ok(0.0, 6.1, 0, compare.one_request_decides("p50_ms", 33)),
      "p50 of 33 requests 6.1 ms late must fail")
check(compare.lat_ok(0.0, 6.1, 0, compare.one_request_decides("p50_ms", 1)),
      "p50 of 1 request 6.1 ms late passes")
check(not compare.lat_ok(0.0, 30.0, 0, True), "one request 30 ms late must fail")
check(not compare.lat_ok(10.0, 4.0, 0, True), "6 ms early must fail, alone or not")

for f in os.listdir(tmp):
    os.unlink(os.path.join(tmp, f))
os.rmdir(tmp)

if failures:
    print("compare_selftest: %d check(s) failed" % len(failures))
    sys.exit(1)
print("compare_selftest: all checks passed (%d folding cases, %d doctored CSVs rejected)"
      % (len(cases), len(bad) + len(apache_bad)))
