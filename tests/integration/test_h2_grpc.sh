#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# gRPC over h2c: a python3-grpcio service (generic handlers, raw bytes),
# unary, server-streaming, client-streaming and bidi methods, some calls
# ending with non-OK codes (in trailers after DATA, or trailers-only), an
# unknown method (UNIMPLEMENTED). Checked against what the client saw: per
# method, the calls (`query --format csv`, route = the :path as is, never
# folded) and the calls per gRPC code (--json rows' "grpc" map); failed
# calls count as errors (grpc_errors) and reach the request log
# (`query --requests --errors`, grpc_status kept next to the HTTP status).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

GPY=/usr/bin/python3           # Debian's python3-grpcio lives there (PLATFORM_NOTES)
"$GPY" -c 'import grpc' 2>/dev/null || it_fail "python3-grpcio is missing (run 'sudo make deps')"
it_require_l7top
it_setup

PG=$(it_free_port)
it_bg "$GPY" "$IT_DIR/grpc_echo.py" serve "$PG" >"$T/server.out" 2>&1
SRV=${IT_BG_PIDS[-1]}
n=100
while ((n-- > 0)) && ! grep -q serving "$T/server.out"; do sleep 0.1; done
grep -q serving "$T/server.out" || { it_show server "$T/server.out"; it_fail "the gRPC server did not start"; }
it_log "gRPC server pid $SRV on :$PG"

it_l7top_start --pid "$SRV" --json --interval 1 --db "$T/l7.db"
"$GPY" "$IT_DIR/grpc_echo.py" call "$PG" 6 >"$T/client.json" 2>"$T/client.err" ||
	{ it_show client "$T/client.err"; it_fail "the gRPC client failed"; }
sleep 2.5
it_l7top_stop

"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv"
"$L7TOP" query --db "$T/l7.db" --requests --errors --format csv >"$T/errors.csv"
sqlite3 "$T/l7.db" "SELECT route, grpc_status, count(*) FROM requests_v WHERE grpc_status IS NOT NULL GROUP BY 1, 2" >"$T/errors_by_code.txt"
sqlite3 "$T/l7.db" "SELECT DISTINCT protocol FROM endpoints" >"$T/protocols.txt"
skipped=$(sqlite3 "$T/l7.db" "SELECT total(reqs_skipped) FROM intervals")
"$PY" - "$T/client.json" "$T/got.csv" "$T/l7top.out" "$T/errors_by_code.txt" "$T/protocols.txt" \
	"${skipped%.*}" <<'EOF'
import csv, json, sys
client = json.load(open(sys.argv[1]))
rows = {r["route"]: r for r in csv.DictReader(open(sys.argv[2]))}
codes = {}
for line in open(sys.argv[3]):
    o = json.loads(line)
    if "counters" in o:            # the interval's counters line, not an endpoint
        continue
    per = codes.setdefault(o["route"], {})
    for k, v in o.get("grpc", {}).items():
        per[k] = per.get(k, 0) + v
logged = {}
for line in open(sys.argv[4]):
    route, st, n = line.strip().split("|")
    logged[(route, int(st))] = int(n)
names = {"OK": 0, "INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "UNIMPLEMENTED": 12, "INTERNAL": 13,
         "UNAVAILABLE": 14}
bad = 0
for method, seen in sorted(client.items()):
    calls = sum(seen.values())
    got = int(rows[method]["requests"]) if method in rows else 0
    print("  %-24s calls: client %3d, l7top %3d; codes: client %s, l7top %s"
          % (method, calls, got, json.dumps(seen, sort_keys=True), json.dumps(codes.get(method, {}), sort_keys=True)))
    if got != calls or codes.get(method, {}) != seen:
        bad += 1
    for name, n in seen.items():
        if name != "OK" and logged.get((method, names[name]), 0) > n:
            print("  MISMATCH request log %s %s: %d, client %d" % (method, name, logged.get((method, names[name]), 0), n))
            bad += 1
# The request log keeps 100 rows per interval and counts the rest
# (reqs_skipped): rows + skipped = the failed calls.
failed = sum(n for seen in client.values() for k, n in seen.items() if k != "OK")
rows_logged = sum(logged.values())
skipped = int(sys.argv[6])
print("  request log: %d rows with a grpc_status + %d over the cap = %d failed calls (client)"
      % (rows_logged, skipped, failed))
if rows_logged + skipped != failed:
    bad += 1
protos = open(sys.argv[5]).read().split()
print("  protocols in the DB: %s" % protos)
if protos != ["h2c"]:
    bad += 1
sys.exit(1 if bad else 0)
EOF
