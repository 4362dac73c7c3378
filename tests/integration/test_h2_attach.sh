#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Calls mode attached to an NGINX whose h2 connections are already open and
# busy (h2load over TLS, started before l7top, running through its start):
# their HPACK dynamic tables are unknown to l7top. Every stream is still
# counted: the ones whose request headers need the unknown table in the
# h2 unreadable counter, their paths only when readable without it (else the
# row "(h2: attached mid-connection)"), never a guessed route. Checked
# against the access log: every request NGINX finished after l7top's probes
# were in is counted, nothing more than what finished from a second before;
# every route l7top shows is one NGINX logged (or the honest row); the
# status classes of each route are no more than the log's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools nginx h2load openssl "$PY"
it_require_l7top
it_setup
tls_cert

P1=$(it_free_port)
PT=$(it_free_port)
it_nginx_conf "$P1" <<EOF
        listen 127.0.0.1:$PT ssl http2;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        keepalive_requests 100000;
        location /users/ { return 200 '{"user":"x"}\n'; }
        location = /boom { return 503; }
        location /gone/ { return 404; }
EOF
it_nginx_start

B=https://127.0.0.1:$PT
# Bounded: 4 connections, 10 streams each, 50 requests/s each, 12 s.
it_bg h2load -c 4 -m 10 -t 1 -D 12 --rps 50 "$B/users/1" "$B/users/22" \
	"$B/boom" "$B/gone/x" >"$T/h2load.out" 2>&1
LOAD=${IT_BG_PIDS[-1]}
sleep 2                                   # connections open, tables filled
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db" --tls calls
mapfile -t W < <(tls_workers)
tls_wait_probed "$NGINX_PID" "${W[@]}"
t_att=$(date +%s.%N)
it_log "probes in at $t_att; h2load keeps its connections"
wait "$LOAD" || true
grep -E '^requests:' "$T/h2load.out" | sed 's/^/  h2load: /'
sleep 2.5
it_l7top_stop

"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv"
rc=0
"$PY" - "$T/access.log" "$T/got.csv" "$t_att" "$T/l7top.out" <<'EOF' || rc=1
import csv, re, sys
sys.path.insert(0, __import__("os").path.dirname(sys.argv[0]) or ".")
log, got_csv, t_att, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
HONEST = "(h2: attached mid-connection)"
def fold(t):
    return "/".join("{id}" if s.isdigit() else s for s in t.split("?")[0].split("/"))
after, around = {}, {}
for line in open(log):
    f = line.rstrip("\n").split("\t")
    msec = float(f[6])
    key = (f[0], fold(f[1]))
    cls = int(f[2]) // 100 - 1
    if msec >= t_att - 1.0:
        around.setdefault(key, [0] * 5)[cls] += 1
    if msec >= t_att + 0.3:
        after.setdefault(key, [0] * 5)[cls] += 1
got = {(r["method"], r["route"]): [int(r["s%dxx" % k]) for k in range(1, 6)] for r in csv.DictReader(open(got_csv))}
n_after = sum(map(sum, after.values()))
n_around = sum(map(sum, around.values()))
n_got = sum(map(sum, got.values()))
honest = sum(sum(v) for k, v in got.items() if k[1] == HONEST)
unreadable = sum(int(x) for x in re.findall(r"h2 unreadable headers (\d+)", open(out).read()))
print("  requests: l7top %d (%d under the honest row); access log: %d finished after the probes,"
      " %d from a second before" % (n_got, honest, n_after, n_around))
print("  h2 unreadable headers: %d" % unreadable)
bad = 0
if not (n_after <= n_got <= n_around):
    print("  MISMATCH: l7top's count is outside the access log's bounds"); bad += 1
if unreadable == 0:
    print("  MISMATCH: no stream counted unreadable: l7top did not join mid-connection"); bad += 1
for k, v in got.items():
    if k[1] == HONEST:
        continue
    if k not in around:
        print("  MISMATCH: route %s %s is not in the access log" % k); bad += 1
    elif any(a > b for a, b in zip(v, around[k])):
        print("  MISMATCH: %s %s status classes %s > log %s" % (k[0], k[1], v, around[k])); bad += 1
    elif any(a < b for a, b in zip(v, after.get(k, [0] * 5))):
        print("  MISMATCH: %s %s status classes %s < log after the probes %s" % (k[0], k[1], v, after[k])); bad += 1
sys.exit(1 if bad else 0)
EOF
[[ $rc -eq 0 ]] || it_fail "attached mid-connection: l7top's counts do not fit the access log"
