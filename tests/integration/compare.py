#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare `l7top query --format csv` with NGINX's access log (the truth).

The access log is the tab-separated format lib.sh configures:

    method  request_uri  status  bytes_sent  request_length  request_time
    [msec  connection  connection_requests  discard  content_length
     server_protocol  server_port]

NGINX writes '"', '\\' and bytes outside 0x20-0x7e as \\xHH (its default log
escaping); they are decoded back to raw bytes here. `discard` is "1" in
locations whose request body NGINX discards (e.g. `return 204;`): NGINX does
not count a discarded body in $request_length although the body crossed the
wire, so for those requests the truth for bytes_in is
request_length + content_length.

The log is folded exactly like l7top's route contract: query string
stripped, each path segment that is all digits, a UUID (8-4-4-4-12 hex) or a
hex string of 16+ chars replaced by {id}, bytes outside 0x21-0x7e written as
%XX (uppercase hex), and so is "%" itself, routes longer than 255 bytes cut (l7top may cut to 255
bytes or to 252 bytes + "..."; both are accepted). Rows are grouped by
(method, route).

A 400 or 499 line with nothing sent ($bytes_sent 0) is a client that left
before the answer: l7top counts it as `aborted` (in requests, in no status
class, no latency). A 400 line without a method ("-") is a client that left
inside the request line: l7top names no endpoint for it but counts it in
`partial_reqs`; such lines are counted (--partial prints how many) and kept
out of the endpoints. Apache logs the status it meant to send even when the
client had gone before any of it left (%X "X"): with --client-abort-field,
such lines may be counted aborted by l7top instead, and only those.

Per endpoint: requests, aborted and every status class must be equal, bytes_in and
bytes_out within 1%, p50 and p99 within max(5 ms, 10%) of the log's
$request_time percentiles (the ceil(q*n)-th smallest value), 20 ms more
above where one request decides the quantile (LAT_ONE_REQUEST_MS). Endpoints
present on one side only are failures.

Usage:
  compare.py --log access.log --csv got.csv [--routes REGEX] [--counts-only]
  compare.py --log access.log --emit-csv          # the log as l7top's CSV
Exit status: 0 match, 1 mismatch, 2 usage/input error.
"""

import argparse
import csv
import io
import math
import re
import sys

CSV_HEADER = ["method", "route", "requests", "s1xx", "s2xx", "s3xx", "s4xx", "s5xx", "aborted",
              "bytes_in", "bytes_out", "p50_ms", "p90_ms", "p99_ms", "max_ms"]
ROUTE_MAX = 255
CUT_SUFFIX = "..."

BYTES_TOL = 0.01          # 1 %
# l7top times a request on the wire (first request byte to last response
# byte); NGINX's $request_time starts when its worker has woken and read the
# request, on a clock cached per event-loop turn, in whole ms. On this 2-core
# VM a worker woken from idle for a single curl request takes 1.5-3.6 ms to
# read it (logged 0.000, seen by l7top and by the session-start binary alike),
# so the allowance is 5 ms, not the 1.5 ms that held on a busier machine.
LAT_ABS_MS = 5.0
LAT_REL = 0.10
# A quantile that one request decides (p99 of fewer than 100, p50 of one or
# two) carries that request's wake-up whole: CI's machine, busier than this
# one, logged 0.000 for a /users/ request l7top saw take 6.1 ms, the worst of
# 33 and so their p99. Such a quantile may be later by this much more.
LAT_ONE_REQUEST_MS = 20.0
DRAIN_BYTES_PER_MS = 1024 * 1024 / 20  # 20 ms per MB: see lat_limits()
DRAIN_MIN_BYTES = 256 * 1024

_HEX_ESC = re.compile(rb"\\x([0-9A-Fa-f]{2})")
_DIGITS = re.compile(rb"^[0-9]+$")
_UUID = re.compile(rb"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
_HEX16 = re.compile(rb"^[0-9A-Fa-f]{16,}$")


def unescape_nginx(field: bytes) -> bytes:
    """Undo NGINX's default access-log escaping (\\xHH)."""
    return _HEX_ESC.sub(lambda m: bytes([int(m.group(1), 16)]), field)


def fold_segment(seg: bytes) -> bytes:
    if _DIGITS.match(seg) or _UUID.match(seg) or _HEX16.match(seg):
        return b"{id}"
    return seg


def percent_encode(raw: bytes) -> str:
    out = []
    for b in raw:
        if 0x21 <= b <= 0x7E and b != 0x25:   # '%' is always escaped, as l7top does
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def cut_route(route: str) -> str:
    """Canonical form of a long route, whichever way l7top cut it."""
    if len(route) <= ROUTE_MAX:
        return route
    return route[:ROUTE_MAX - len(CUT_SUFFIX)] + CUT_SUFFIX


def canon_got_route(route: str) -> str:
    """l7top's route in the same canonical form as cut_route()."""
    if len(route) > ROUTE_MAX:
        return cut_route(route)          # should not happen; compared anyway
    if len(route) == ROUTE_MAX and not route.endswith(CUT_SUFFIX):
        return route[:ROUTE_MAX - len(CUT_SUFFIX)] + CUT_SUFFIX
    return route


def fold_target(target: bytes) -> str:
    """Request target (raw bytes, as on the request line) -> l7top route."""
    path = target.split(b"?", 1)[0].split(b"#", 1)[0]
    # path parameters (";jsessionid=...") are dropped with each segment
    segs = [seg.split(b";", 1)[0] for seg in path.split(b"/")]
    return cut_route(percent_encode(b"/".join(fold_segment(s) for s in segs)))


LEARNED = []   # prefixes l7top folded by learning (--db): the next segment is {*}


def apply_learned(route: str) -> str:
    """The folds l7top learned, as `l7top query` applies them: after a
    matching parent the segment is {*}, never the first segment, placeholders
    kept."""
    if not LEARNED:
        return route
    segs = route.split("/")
    out = segs[0] + "/" + segs[1] if len(segs) > 1 else segs[0]
    for seg in segs[2:]:
        parent = out + "/"
        if seg and not (seg.startswith("{") and seg.endswith("}")) and parent in LEARNED:
            seg = "{*}"
        out = parent + seg
    return out


def percentile(sorted_vals, q):
    """The ceil(q*n)-th smallest value."""
    if not sorted_vals:
        return 0.0
    k = max(1, math.ceil(q * len(sorted_vals) - 1e-9))
    return sorted_vals[min(k, len(sorted_vals)) - 1]


class Agg:
    __slots__ = ("requests", "status", "aborted", "left_late", "bytes_in", "bytes_out", "lat_ms",
                 "discarded")

    def __init__(self):
        self.requests = 0
        self.aborted = 0
        self.status = [0, 0, 0, 0, 0]
        self.left_late = [0, 0, 0, 0, 0]   # of status: the client left before it completed
        self.bytes_in = 0
        self.bytes_out = 0
        self.lat_ms = []
        self.discarded = 0


def read_log(path, route_filter=None, protocol=None, port=None, abort_field=None):
    """Returns ({(method, route): Agg}, skipped_lines). protocol and port keep
    only lines whose $server_protocol (field 12) and $server_port (field 13)
    are those."""
    eps = {}
    skipped = []
    read_log.partial = 0
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            fields = line.split(b"\t")
            if len(fields) < 6:
                skipped.append((lineno, line[:80]))
                continue
            method = unescape_nginx(fields[0])
            target = unescape_nginx(fields[1])
            try:
                status = int(fields[2])
                sent = int(fields[3])
                reqlen = int(fields[4])
                rtime = float(fields[5])
            except ValueError:
                skipped.append((lineno, line[:80]))
                continue
            if protocol is not None and (len(fields) < 12 or fields[11].decode() != protocol):
                continue
            if port is not None and (len(fields) < 13 or fields[12].decode() != port):
                continue
            left = status in (400, 499) and sent == 0
            if left and fields[0] == b"-":
                read_log.partial += 1
                continue
            discard = len(fields) > 9 and fields[9] == b"1"
            if discard and len(fields) > 10 and fields[10].isdigit():
                reqlen += int(fields[10])
            m = percent_encode(method)
            r = apply_learned(fold_target(target))
            if route_filter is not None and not route_filter.search(r):
                continue
            a = eps.setdefault((m, r), Agg())
            a.requests += 1
            a.bytes_in += reqlen
            a.bytes_out += sent
            if left:
                a.aborted += 1
                continue
            if 100 <= status <= 599:
                a.status[status // 100 - 1] += 1
                if (abort_field is not None and len(fields) >= abort_field
                        and fields[abort_field - 1] == b"X"):
                    a.left_late[status // 100 - 1] += 1
            a.lat_ms.append(rtime * 1000.0)
            if discard:
                a.discarded += 1
    for a in eps.values():
        a.lat_ms.sort()
    return eps, skipped


def log_row(key, a):
    lat = a.lat_ms
    return {
        "method": key[0], "route": key[1], "requests": a.requests,
        "s1xx": a.status[0], "s2xx": a.status[1], "s3xx": a.status[2],
        "s4xx": a.status[3], "s5xx": a.status[4], "aborted": a.aborted,
        "bytes_in": a.bytes_in, "bytes_out": a.bytes_out,
        "p50_ms": percentile(lat, 0.50), "p90_ms": percentile(lat, 0.90),
        "p99_ms": percentile(lat, 0.99), "max_ms": lat[-1] if lat else 0.0,
    }


def emit_csv(eps, out):
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for key in sorted(eps, key=lambda k: (-eps[k].requests, k)):
        row = log_row(key, eps[key])
        w.writerow([row[c] if not c.endswith("_ms") else "%.3f" % row[c] for c in CSV_HEADER])


class InputError(Exception):
    pass


def read_csv(path, route_filter=None):
    with open(path, "r", newline="", encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputError("%s: empty (no CSV header)" % path)
    if rows[0] != CSV_HEADER:
        raise InputError("%s: CSV header is\n    %s\n  want\n    %s"
                         % (path, ",".join(rows[0]), ",".join(CSV_HEADER)))
    got = {}
    problems = []
    for n, row in enumerate(rows[1:], 2):
        if not row:
            continue
        if len(row) != len(CSV_HEADER):
            problems.append("CSV line %d has %d fields, want %d: %r" % (n, len(row), len(CSV_HEADER), row))
            continue
        d = dict(zip(CSV_HEADER, row))
        try:
            rec = {"method": d["method"], "route": d["route"]}
            for c in CSV_HEADER[2:11]:
                rec[c] = int(d[c])
            for c in CSV_HEADER[11:]:
                rec[c] = float(d[c])
        except ValueError as e:
            problems.append("CSV line %d: bad number (%s): %r" % (n, e, row))
            continue
        key = (rec["method"], canon_got_route(rec["route"]))
        if route_filter is not None and not route_filter.search(key[1]):
            continue
        if key in got:
            problems.append("CSV line %d: endpoint %s %s appears twice" % (n, key[0], key[1]))
            continue
        got[key] = rec
    return got, problems


def one_request_decides(quantile, n):
    """True when the quantile of n requests is (about) a single request."""
    return n < 3 if quantile == "p50_ms" else n < 100


def lat_limits(want, mean_bytes_out, alone=False):
    """Allowed (below, above) deviation of l7top's latency from the log's.

    NGINX stops $request_time when the last byte is handed to the kernel; on
    loopback several MB can then still sit in socket buffers until the client
    has read them, and l7top sees the last byte when it crosses the wire. For
    large responses l7top may therefore be later than the log by the drain
    time, which depends on how fast the client reads: allowed here as 20 ms
    per MB of average response. Measured on this 2-core machine: 5 MB
    sendfile responses logged 1-4 ms while curl's own time_total was
    6.8-58 ms, and l7top (kernel timestamps of the last segment) 7-52 ms."""
    tol = max(LAT_ABS_MS, LAT_REL * want)
    drain = mean_bytes_out / DRAIN_BYTES_PER_MS if mean_bytes_out > DRAIN_MIN_BYTES else 0.0
    return tol, tol + drain + (LAT_ONE_REQUEST_MS if alone else 0.0)


def lat_ok(want, got, mean_bytes_out=0, alone=False):
    below, above = lat_limits(want, mean_bytes_out, alone)
    return -below <= got - want <= above


def bytes_ok(want, got):
    if want == 0:
        return got == 0
    return abs(got - want) <= BYTES_TOL * want


def left_late_counted_aborted(ws, gs, w_aborted, g_aborted, left_late):
    """How many lines logged with a status l7top rightly counts as aborted, or 0.

    Apache logs the status it meant to send even when the client had gone
    before a byte of the response left (%X is "X", %O counts what was handed
    to the socket, not what crossed it): on the wire that is a request never
    answered. Only such lines may move from their status class to aborted,
    and only all together: every class short by at most its own such lines,
    aborted up by exactly the lines moved."""
    moved = [w - g for w, g in zip(ws, gs)]
    if not any(moved) or any(m < 0 or m > late for m, late in zip(moved, left_late)):
        return 0
    return sum(moved) if g_aborted - w_aborted == sum(moved) else 0


def compare(eps, got, counts_only=False, out=None):
    """Prints the table; returns a list of failure strings."""
    if out is None:
        out = sys.stdout
    fails = []
    keys = sorted(set(eps) | set(got), key=lambda k: (k[1], k[0]))
    rw = max([len(k[0]) + 1 + len(k[1]) for k in keys] + [16])
    rw = min(rw, 60)
    hdr = ("%-*s %13s %-27s %21s %25s %15s %15s  %s"
           % (rw, "endpoint", "requests", "status 1xx-5xx (log|l7top)", "bytes_in",
              "bytes_out", "p50 ms", "p99 ms", "verdict"))
    print(hdr, file=out)
    print("%-*s %13s %-27s %21s %25s %15s %15s" % (rw, "", "log/l7top", "", "log/l7top",
                                                     "log/l7top", "log/l7top", "log/l7top"), file=out)
    tot_log = tot_got = 0
    for k in keys:
        name = (k[0] + " " + k[1])
        shown = name if len(name) <= rw else name[:rw - 3] + "..."
        a = eps.get(k)
        g = got.get(k)
        if a is None:
            fails.append("%s: reported by l7top (%d requests) but not in the access log" % (name, g["requests"]))
            print("%-*s %13s  %s" % (rw, shown, "-/%d" % g["requests"], "ONLY IN L7TOP"), file=out)
            tot_got += g["requests"]
            continue
        w = log_row(k, a)
        tot_log += w["requests"]
        if g is None:
            fails.append("%s: %d requests in the access log, missing from l7top" % (name, w["requests"]))
            print("%-*s %13s  %s" % (rw, shown, "%d/-" % w["requests"], "MISSING IN L7TOP"), file=out)
            continue
        tot_got += g["requests"]
        bad = []
        notes = []
        if w["requests"] != g["requests"]:
            bad.append("requests %d != %d" % (w["requests"], g["requests"]))
        ws = [w["s%dxx" % i] for i in range(1, 6)]
        gs = [g["s%dxx" % i] for i in range(1, 6)]
        late = left_late_counted_aborted(ws, gs, w["aborted"], g["aborted"], a.left_late)
        if late:
            notes.append("%d logged with a status, the client gone before any of it: aborted" % late)
        elif ws != gs:
            bad.append("status classes %s != %s" % (ws, gs))
        if not late and w["aborted"] != g["aborted"]:
            bad.append("aborted %d != %d" % (w["aborted"], g["aborted"]))
        if w["aborted"]:
            # NGINX's $request_length of a cut request is what it parsed;
            # l7top counts every byte the client sent.
            notes.append("%d aborted" % w["aborted"])
        if not counts_only:
            for c in ("bytes_in", "bytes_out"):
                if c == "bytes_in" and w["aborted"]:
                    continue
                if not bytes_ok(w[c], g[c]):
                    bad.append("%s %d vs %d (%+.2f%%, limit 1%%)"
                               % (c, w[c], g[c], 100.0 * (g[c] - w[c]) / w[c] if w[c] else float("inf")))
            mean_out = w["bytes_out"] / w["requests"] if w["requests"] else 0
            for c in ("p50_ms", "p99_ms"):
                if a.discarded:
                    # NGINX answers, then reads and drops the body and only
                    # then logs: $request_time includes the upload, the wire
                    # latency (last response byte) does not.
                    notes.append("latency not compared: body discarded by NGINX")
                    break
                alone = one_request_decides(c, w["requests"])
                if not lat_ok(w[c], g[c], mean_out, alone):
                    below, above = lat_limits(w[c], mean_out, alone)
                    bad.append("%s %.3f vs %.3f (allowed -%.3f/+%.3f)" % (c, w[c], g[c], below, above))
        for b in bad:
            fails.append("%s: %s" % (name, b))
        st = "%s|%s" % ("/".join(map(str, ws)), "/".join(map(str, gs)))
        print("%-*s %13s %-27s %21s %25s %15s %15s  %s" % (
            rw, shown, "%d/%d" % (w["requests"], g["requests"]), st,
            "%d/%d" % (w["bytes_in"], g["bytes_in"]),
            "%d/%d" % (w["bytes_out"], g["bytes_out"]),
            "%.1f/%.1f" % (w["p50_ms"], g["p50_ms"]),
            "%.1f/%.1f" % (w["p99_ms"], g["p99_ms"]),
            ("ok" if not bad else "MISMATCH") + "".join(" (%s)" % n for n in notes)), file=out)
    print("total requests: access log %d, l7top %d; endpoints: access log %d, l7top %d"
          % (tot_log, tot_got, len(eps), len(got)), file=out)
    return fails


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", required=True, help="NGINX access log (lib.sh's TSV format)")
    ap.add_argument("--csv", help="output of `l7top query --format csv`")
    ap.add_argument("--emit-csv", action="store_true",
                    help="print the log folded into l7top's CSV format and exit")
    ap.add_argument("--routes", help="compare only routes matching this regex (both sides)")
    ap.add_argument("--counts-only", action="store_true",
                    help="compare requests and status classes only")
    ap.add_argument("--db", help="l7top's DB: fold the log's routes with the folds it learned")
    ap.add_argument("--partial", action="store_true",
                    help="print the number of 400 lines without a request line and exit")
    ap.add_argument("--log-protocol", help="only log lines with this $server_protocol (HTTP/2.0)")
    ap.add_argument("--log-port", help="only log lines with this $server_port")
    ap.add_argument("--client-abort-field", type=int, metavar="N",
                    help="field N (from 1) is Apache's %%X: an X line may be counted aborted")
    args = ap.parse_args(argv)

    rf = re.compile(args.routes) if args.routes else None
    if args.db:
        import sqlite3
        con = sqlite3.connect("file:%s?mode=ro" % args.db, uri=True)
        LEARNED[:] = [r[0] for r in con.execute("SELECT prefix FROM folds")]
        con.close()
    try:
        eps, skipped = read_log(args.log, rf, args.log_protocol, args.log_port,
                               args.client_abort_field)
    except OSError as e:
        print("compare: %s" % e, file=sys.stderr)
        return 2
    for lineno, line in skipped:
        print("compare: %s:%d: unparsable log line skipped: %r" % (args.log, lineno, line), file=sys.stderr)
    if args.partial:
        print(read_log.partial)
        return 0
    if args.emit_csv:
        emit_csv(eps, sys.stdout)
        return 0
    if not args.csv:
        ap.error("--csv or --emit-csv is required")
    try:
        got, problems = read_csv(args.csv, rf)
    except (OSError, InputError) as e:
        print("compare: FAIL: %s" % e, file=sys.stderr)
        return 1
    if not eps:
        print("compare: FAIL: the access log has no requests%s" % (" matching --routes" if rf else ""),
              file=sys.stderr)
        return 1
    fails = problems + compare(eps, got, args.counts_only)
    if fails:
        print("compare: FAIL: %d mismatch(es):" % len(fails))
        for f in fails:
            print("  - " + f)
        return 1
    print("compare: OK: %d endpoints match (%s)"
          % (len(eps), "requests and status classes" if args.counts_only else
             "requests, status classes, bytes within 1%%, p50/p99 within max(5 ms, 10%%)"
             ", +%.0f ms where one request decides it" % LAT_ONE_REQUEST_MS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
