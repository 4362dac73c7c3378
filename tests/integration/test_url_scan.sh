#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A URL scan (issue 18): one client sends SCAN requests with random paths and
# random Host headers while a well-behaved one calls GET /good/wb GOOD times.
# Then clients that leave: HALF send a request line and half a header
# (NGINX logs 400), HALFLINE half a request line (400, no method), ABANDON a
# whole request to an upstream that never answers and close (499).
# l7top must give GET /good/wb its own row with exactly GOOD requests, its
# rows + OTHER must equal the access log, aborted and partial requests must
# equal the log's 400/499 lines, and memory must stay bounded (peak RSS
# reported).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SCAN=${SCAN:-30000}
GOOD=${GOOD:-1000}
HALF=${HALF:-1000}
HALFLINE=${HALFLINE:-200}
ABANDON=${ABANDON:-100}

it_require_tools nginx sqlite3 "$PY"
it_require_l7top
it_setup

P=$(it_free_port)
UP=$(it_free_port)
it_bg "$PY" "$IT_DIR/scan_client.py" blackhole "$UP" 120
it_nginx_conf "$P" <<CONF
        location = /good/wb { return 200 'good\n'; }
        location /wait/ { proxy_pass http://127.0.0.1:$UP; proxy_read_timeout 60s; }
        location / { return 404; }
CONF
it_nginx_start
it_log "nginx master $NGINX_PID on 127.0.0.1:$P (blackhole upstream on $UP)"

it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db"

t0=$(date +%s.%N)
# The good client comes a second into the scan, when every row is taken.
(sleep 1; exec "$PY" "$IT_DIR/scan_client.py" repeat "$P" /good/wb "$GOOD" 0.003) >"$T/good.out" &
good_pid=$!
"$PY" "$IT_DIR/scan_client.py" scan "$P" "$SCAN" 18 >"$T/scan.out"
wait "$good_pid"
t1=$(date +%s.%N)
it_log "$(cat "$T/scan.out"); $(cat "$T/good.out"); $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f s", b - a}')"
rss_scan=$(awk '/^VmRSS:/ {print $2}' "/proc/$L7_PID/status")

"$PY" "$IT_DIR/scan_client.py" half "$P" "$HALF"
"$PY" "$IT_DIR/scan_client.py" halfline "$P" "$HALFLINE"
"$PY" "$IT_DIR/scan_client.py" abandon "$P" /wait/x "$ABANDON"
kill -0 "$L7_PID" || it_fail "l7top died during the test"

# NGINX logs a request when it is done with it: wait for every line.
want_lines=$((SCAN + GOOD + HALF + HALFLINE + ABANDON))
it_wait_log_lines "$want_lines" 30 ||
	it_fail "access log has $(wc -l <"$T/access.log") lines, want $want_lines"
sleep 3          # closed connections linger 2 s in l7top before they are released
peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$L7_PID/status")
stop_ok=1
it_l7top_stop soft || stop_ok=0

L=$T/access.log
log_total=$(wc -l <"$L")
log_good=$(awk -F'\t' '$1 == "GET" && $2 == "/good/wb"' "$L" | wc -l)
log_aborted=$(awk -F'\t' '($3 == 400 || $3 == 499) && $4 == 0 && $1 != "-"' "$L" | wc -l)
log_400=$(awk -F'\t' '$3 == 400 && $4 == 0 && $1 != "-"' "$L" | wc -l)
log_499=$(awk -F'\t' '$3 == 499 && $4 == 0' "$L" | wc -l)
log_partial=$(awk -F'\t' '$3 == 400 && $1 == "-"' "$L" | wc -l)
it_log "access log: $log_total lines: GET /good/wb $log_good, aborted $log_aborted (400: $log_400, 499: $log_499), partial request lines $log_partial"

q() { sqlite3 "$T/l7.db" "$1"; }
"$L7TOP" query --db "$T/l7.db" --format csv --limit 100000 >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "query" "$T/query.err"; it_fail "l7top query failed"; }
db_total=$(q "SELECT coalesce(sum(requests), 0) FROM endpoint_stats")
db_good=$(q "SELECT coalesce(sum(s.requests), 0) FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id
	     WHERE e.method = 'GET' AND e.route = '/good/wb'")
db_good_rows=$(q "SELECT count(DISTINCT s.endpoint_id) FROM endpoint_stats s JOIN endpoints e
		  ON e.id = s.endpoint_id WHERE e.route = '/good/wb'")
db_other=$(q "SELECT coalesce(sum(s.requests), 0) FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id
	      WHERE e.route = 'OTHER'")
db_aborted=$(q "SELECT coalesce(sum(aborted), 0) FROM endpoint_stats")
db_half=$(q "SELECT coalesce(sum(s.aborted), 0) FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id
	     WHERE e.route = '/half/open'")
db_wait=$(q "SELECT coalesce(sum(s.aborted), 0) FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id
	     WHERE e.route = '/wait/x'")
db_partial=$(q "SELECT coalesce(sum(partial_reqs), 0) FROM intervals")
db_names=$(q "SELECT count(*) FROM endpoints")
db_folds=$(q "SELECT group_concat(prefix, ' ') FROM folds")
query_good=$(awk -F, '$1 == "GET" && $2 == "/good/wb" {print $3}' "$T/got.csv")
it_log "l7top: $db_total requests; GET /good/wb $db_good (query: ${query_good:-none}); OTHER $db_other;" \
	"aborted $db_aborted (/half/open $db_half, /wait/x $db_wait); partial $db_partial"
it_log "l7top: $db_names endpoint names in the DB for $log_total requests; learned folds: ${db_folds:-none}"
it_log "l7top memory: RSS after the scan $rss_scan KB, peak (VmHWM) $peak_kb KB"

[[ $stop_ok -eq 1 ]] || it_fail "$IT_STOP_ERR"
[[ $log_good -eq $GOOD ]] || it_fail "the access log has $log_good GET /good/wb, the client sent $GOOD"
[[ $db_good -eq $GOOD && ${query_good:-0} -eq $GOOD ]] ||
	it_fail "GET /good/wb: l7top $db_good (query ${query_good:-none}), access log $GOOD"
[[ $db_good_rows -eq 1 ]] || it_fail "GET /good/wb is $db_good_rows endpoints, want 1"
[[ $((db_total + db_partial)) -eq $log_total ]] ||
	it_fail "rows + OTHER = $db_total requests (+ $db_partial partial), the access log has $log_total"
[[ $db_aborted -eq $log_aborted ]] || it_fail "aborted: l7top $db_aborted, access log $log_aborted"
[[ $db_half -eq $log_400 && $db_wait -eq $log_499 ]] ||
	it_fail "aborted by endpoint: /half/open $db_half vs 400 $log_400, /wait/x $db_wait vs 499 $log_499"
[[ $db_partial -eq $log_partial ]] || it_fail "partial request lines: l7top $db_partial, access log $log_partial"
[[ $db_other -gt 0 ]] || it_fail "the scan left nothing in OTHER"
(( db_names < 2 * 2000 + 100 )) || it_fail "$db_names endpoint names stored: the scan leaked into the DB"
(( peak_kb < 200000 )) || it_fail "peak RSS $peak_kb KB"
it_log "ok"
