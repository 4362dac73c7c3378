#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Junk on the wire: random bytes, a 64 KB request line, a client that leaves
# mid-request, a request trickled one byte at a time, then good requests.
# l7top must survive, count the good requests like the access log does, and
# report parse errors.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl "$PY"
[[ ${IT_NO_L7TOP:-0} == 1 ]] || it_require_l7top
it_setup

P=$(it_free_port)
B=http://127.0.0.1:$P
it_nginx_conf "$P" <<'EOF'
        location /good/ { return 200 'good\n'; }
        location / { return 404; }
EOF
it_nginx_start
it_log "nginx master $NGINX_PID on 127.0.0.1:$P"

if [[ ${IT_NO_L7TOP:-0} != 1 ]]; then
	it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db"
fi
alive() {
	[[ ${IT_NO_L7TOP:-0} == 1 ]] && return 0
	kill -0 "$L7_PID" 2>/dev/null || it_fail "l7top died after: $1"
}

C=(curl -sS --max-time 10)
"${C[@]}" "$B/good/before/1" "$B/good/before/2" >/dev/null

for i in 1 2 3; do
	"$PY" "$IT_DIR/client.py" junk "$P" 4096
done
alive "random bytes"
"$PY" "$IT_DIR/client.py" longline "$P" 65536
alive "a 64 KB request line"
"$PY" "$IT_DIR/client.py" half "$P"
"$PY" "$IT_DIR/client.py" half "$P"
alive "clients leaving mid-request"
# ~100 bytes, one per send(), 10 ms apart.
"$PY" "$IT_DIR/client.py" trickle "$P" '/good/trickle?slowly=yes&pad=xxxxxxxxxx' 0.01
alive "a trickled request"
# Random bytes once more, now in parallel with good traffic.
"$PY" "$IT_DIR/client.py" junk "$P" 4096 &
junk_pid=$!
"${C[@]}" "$B/good/after/1" "$B/good/after/2" "$B/good/after/3?q=1" >/dev/null
"${C[@]}" -H 'Connection: close' "$B/good/once" >/dev/null
"$PY" "$IT_DIR/client.py" pipeline "$P" "GET /good/pipe/1" "GET /good/pipe/2" "HEAD /good/pipe/3"
wait "$junk_pid" || true
alive "the good requests"

it_log "access log: $(wc -l <"$T/access.log") lines; statuses: $(cut -f3 "$T/access.log" | sort | uniq -c | tr -s ' \n' ' ')"
good=$(awk -F'\t' '$2 ~ /^\/good\//' "$T/access.log" | wc -l)
[[ $good -eq 10 ]] || it_fail "expected 10 good requests in the access log, found $good"

if [[ ${IT_NO_L7TOP:-0} == 1 ]]; then
	"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --emit-csv >"$T/got.csv"
	"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv" --routes '^/good/' --counts-only
	exit
fi

sleep 2.5
stop_ok=1
it_l7top_stop soft || stop_ok=0
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
rc=0
"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv" --routes '^/good/' --counts-only || rc=$?

# Parse errors: from the DB when intervals.parse_errors exists, else from the
# batch output's text summary.
pe_db=$(sqlite3 "$T/l7.db" 'SELECT COALESCE(SUM(parse_errors), 0) FROM intervals;' 2>/dev/null || true)
pe_out=$(grep -ioE 'parse[ _-]?err[a-z]*[^0-9]{0,3}[0-9]+' "$T/l7top.out" | grep -oE '[0-9]+$' |
	awk '{s += $1} END {print s + 0}')
it_log "parse errors: DB intervals.parse_errors sum = ${pe_db:-n/a}, batch output sum = $pe_out"

[[ $stop_ok -eq 1 ]] || it_fail "$IT_STOP_ERR"
[[ $rc -eq 0 ]] || it_fail "good requests are not counted like the access log"
if [[ ${pe_db:-0} =~ ^[0-9]+$ && ${pe_db:-0} -gt 0 ]] || [[ $pe_out -gt 0 ]]; then
	exit 0
fi
it_show "l7top batch output" "$T/l7top.out" 30
it_fail "no parse errors reported (neither intervals.parse_errors nor the batch header)"
