#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A mix of plain-HTTP traffic against a throw-away NGINX with l7top attached;
# l7top's per-endpoint totals must match NGINX's access log (compare.py).
#
# IT_NO_L7TOP=1 runs the same traffic without l7top and compares the log with
# itself (checks the harness, not l7top).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl wrk "$PY"
[[ ${IT_NO_L7TOP:-0} == 1 ]] || it_require_l7top
it_setup

P1=$(it_free_port)
P2=$(it_free_port)
B1=http://127.0.0.1:$P1
B2=http://127.0.0.1:$P2

# --- content ---------------------------------------------------------------
mkdir -p "$T/html/static" "$T/html/gz" "$T/html/slow"
it_gen_text "$T/html/static/page.txt" 2048
it_gen_text "$T/html/gz/text.txt" 24000
it_gen_text "$T/html/slow/file.txt" 400000
head -c 5000000 /dev/urandom >"$T/html/static/big.bin"
chmod 644 "$T/html/static/big.bin"
chmod -R a+rX "$T/html"
head -c 300 /dev/urandom | base64 -w0 >"$T/small.body"
head -c 1500000 /dev/urandom >"$T/big.body"

it_nginx_conf "$P1" "$P2" <<EOF
        client_max_body_size 20m;
        location /users/ { return 200 '{"user":"x","ok":true}\n'; }
        location /api/items/ { return 200 'item\n'; }
        location = /health { return 204; }
        location = /old { return 301 /new; }
        location = /new { return 200 'the new place\n'; }
        location /static/ { }
        location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 1; }
        location /slow/ { limit_rate 200k; }
        location = /boom { return 500; }
        # Reads the whole body (so \$request_length counts it), then asks
        # /sink on the second port without a body.
        location = /api/upload {
            proxy_pass http://127.0.0.1:$P2/sink;
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Expect "";
        }
        location = /sink { return 200 'stored\n'; }
        # Discards the body: NGINX leaves it out of \$request_length.
        location = /api/events { set \$l7_discard 1; return 204; }
        location /search { return 200 'results\n'; }
        location /q/ { return 200 'q\n'; }
        location /long/ { return 200 'long\n'; }
EOF
it_nginx_start
it_log "nginx master $NGINX_PID on 127.0.0.1:$P1 and :$P2, files in $T"

if [[ ${IT_NO_L7TOP:-0} != 1 ]]; then
	it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db"
fi

# --- traffic -----------------------------------------------------------------
UUID1=3f2504e0-4f89-11d3-9a0c-0305e82c3301
UUID2=6ba7b810-9dad-11d1-80b4-00c04fd430c8
C=(curl -sS --max-time 20)   # output always to /dev/null: -o covers only the first URL
t0=$(date +%s.%N)

# The slow response runs alongside everything else.
"${C[@]}" "$B1/slow/file.txt" >/dev/null &
slow_pid=$!

# Keep-alive: many URLs on one command line reuse one connection.
urls=()
for i in $(seq 1 25); do urls+=("$B1/users/$((RANDOM % 1000 + 1))"); done
urls+=("$B1/users/$UUID1/orders" "$B1/users/$UUID2/orders" "$B1/users/$UUID1/orders?page=2")
urls+=("$B1/api/items/deadbeefdeadbeef0123" "$B1/api/items/deadbeef" "$B1/api/items/0123456789abcdef")
urls+=("$B1/users/5?expand=1&x=2" "$B1/search?q=hello+world" "$B1/search" "$B1/users/17/")
urls+=("$B1/health" "$B1/health" "$B1/old" "$B1/new" "$B1/static/page.txt")
urls+=("$B1/static/missing.txt" "$B1/static/missing.txt?v=1" "$B1/boom" "$B1/boom")
"${C[@]}" "${urls[@]}" >/dev/null
# Same on the second port.
"${C[@]}" "$B2/users/1" "$B2/users/2" "$B2/health" "$B2/api/items/feedfacefeedface0001" >/dev/null

# HEAD (the big file's Content-Length announces 5 MB that never come).
"${C[@]}" -I "$B1/static/page.txt" "$B1/users/42" >/dev/null
"${C[@]}" -I "$B1/static/big.bin" >/dev/null
"${C[@]}" -X DELETE "$B1/users/77" >/dev/null

# 304: If-Modified-Since equal to the file's mtime.
for i in 1 2 3; do
	"${C[@]}" -z "$T/html/static/page.txt" "$B1/static/page.txt" >/dev/null
done

# POST bodies that NGINX reads, with and without Expect: 100-continue.
"${C[@]}" --data-binary @"$T/small.body" -H 'Expect: 100-continue' "$B1/api/upload" >/dev/null
"${C[@]}" --data-binary @"$T/small.body" "$B1/api/upload" >/dev/null
"${C[@]}" --data-binary @"$T/big.body" "$B1/api/upload" >/dev/null  # curl adds Expect (> 1 MB)
"${C[@]}" --data-binary @"$T/big.body" -H 'Expect:' "$B1/api/upload" >/dev/null
# POST bodies that NGINX discards (return 204).
"${C[@]}" --data-binary @"$T/small.body" "$B1/api/events" >/dev/null
"${C[@]}" --data-binary @"$T/small.body" -H 'Expect: 100-continue' "$B1/api/events" >/dev/null
"${C[@]}" --data-binary @"$T/big.body" "$B1/api/events" >/dev/null

# One-shot connections.
for i in 1 2 3; do
	"${C[@]}" -H 'Connection: close' "$B1/users/$i" >/dev/null
	"${C[@]}" -0 "$B1/api/items/deadbeefdeadbeef0123?ref=$i" >/dev/null
done
"${C[@]}" -0 "$B1/static/missing.txt" >/dev/null

# Gzip: chunked over HTTP/1.1, plain (connection close) over HTTP/1.0.
"${C[@]}" --compressed "$B1/gz/text.txt" "$B1/gz/text.txt" >/dev/null
"${C[@]}" --compressed "$B1/gz/text.txt" >/dev/null
"${C[@]}" -0 --compressed "$B1/gz/text.txt" >/dev/null

# Multi-MB static files (sendfile), twice on one connection.
"${C[@]}" "$B1/static/big.bin" "$B1/static/big.bin" >/dev/null

# Pipelined requests: all in one send().
"$PY" "$IT_DIR/client.py" pipeline "$P1" "GET /users/7" "GET /users/8?x=1" "HEAD /users/9" \
	"GET /health" "GET /api/items/0123456789abcdef0123"
"$PY" "$IT_DIR/client.py" pipeline "$P2" "GET /static/page.txt" "GET /boom/../static/page.txt" "GET /static/missing.txt"

# Paths that need folding care: percent-encoding, CSV quoting, cutting.
"$PY" "$IT_DIR/client.py" get "$P1" '/q/caf\xc3\xa9/menu'
"$PY" "$IT_DIR/client.py" get "$P1" '/q/a,b'
"$PY" "$IT_DIR/client.py" get "$P1" '/q/say"hi"?x="y"'
"$PY" "$IT_DIR/client.py" get "$P1" '/q/%41%20x/123'
"$PY" "$IT_DIR/client.py" get "$P1" "/long/$(printf 'segment-%.0s' $(seq 1 40))/end"

# Load: wrk on two routes, moderate.
wrk ${IT_WRK_ARGS:--t1 -c4 -d2s} "$B2/api/items/feedfacefeedface0001" | sed -n 's/^/  wrk: /p' | grep -E 'Requests/sec|requests in' || true
wrk ${IT_WRK_ARGS2:--t1 -c2 -d1s} "$B1/static/page.txt" | sed -n 's/^/  wrk: /p' | grep -E 'Requests/sec|requests in' || true

wait "$slow_pid" || it_fail "the slow download failed"
t1=$(date +%s.%N)
it_log "traffic done in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s, $(wc -l <"$T/access.log") requests in the access log"

# --- the traffic did what we meant ------------------------------------------
for st in 200 204 301 304 404 500; do
	awk -F'\t' -v s="$st" '$3 == s {f=1} END {exit !f}' "$T/access.log" || it_fail "no $st in the access log"
done
for m in HEAD POST DELETE; do
	awk -F'\t' -v m="$m" '$1 == m {f=1} END {exit !f}' "$T/access.log" || it_fail "no $m request in the access log"
done
awk -F'\t' '$4 > 5000000 {f=1} END {exit !f}' "$T/access.log" || it_fail "no multi-MB response in the access log"
awk -F'\t' '$2 ~ /^\/slow\// && $6 >= 0.5 {f=1} END {exit !f}' "$T/access.log" || it_fail "the slow response was not slow"
awk -F'\t' '$1 == "POST" && $5 > 1500000 {f=1} END {exit !f}' "$T/access.log" || it_fail "no large POST body in \$request_length"
# NGINX counts its "HTTP/1.1 100 Continue" (25 bytes) in $bytes_sent: the
# /api/upload answers differ by exactly that much with and without Expect.
awk -F'\t' '$1 == "POST" && $2 == "/api/upload" {if (!mn || $4 < mn) mn = $4; if ($4 > mx) mx = $4}
	END {exit !(mx - mn == 25)}' "$T/access.log" || it_fail "no 100 Continue seen in \$bytes_sent of /api/upload"

# --- compare -------------------------------------------------------------------
if [[ ${IT_NO_L7TOP:-0} == 1 ]]; then
	it_log "IT_NO_L7TOP=1: comparing the access log with itself"
	"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --emit-csv >"$T/got.csv"
	"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv"
	exit
fi

sleep 2.5
stop_ok=1
it_l7top_stop soft || stop_ok=0
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
reqs=$(wc -l <"$T/access.log")
rc=0
"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv" || rc=$?
it_log "l7top CPU: ${IT_L7_CPU}s (utime+stime) for $reqs requests over the run; RSS ${IT_L7_RSS} KB"
[[ $stop_ok -eq 1 ]] || it_fail "$IT_STOP_ERR"
[[ -s $T/l7top.out ]] || it_fail "l7top printed no batch output on stdout"
[[ $rc -eq 0 ]] || it_fail "l7top's totals do not match the access log (files kept in $T)"
