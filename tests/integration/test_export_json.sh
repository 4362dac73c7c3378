#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --json: stdout is nothing but JSON lines, one object per endpoint per
# interval with the csv contract's keys plus ts, that jq reads without
# choking (awkward routes included) and whose request counts add up to
# NGINX's access log, and one counters object per interval holding every
# counter of the snapshot table.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl jq "$PY"
it_require_l7top
it_setup

P=$(it_free_port)
it_nginx_conf "$P" <<'EOF'
        location /users/ { return 200 'user\n'; }
        location = /boom { return 500; }
        location /q/ { return 200 'q\n'; }
        location / { return 404; }
EOF
it_nginx_start
it_l7top_start --pid "$NGINX_PID" --json --no-db --interval 1

C=(curl -sS --max-time 10)
for round in 1 2 3; do
	"${C[@]}" "http://127.0.0.1:$P/users/$round" "http://127.0.0.1:$P/users/$((round + 10))" \
		"http://127.0.0.1:$P/boom" >/dev/null
	sleep 1.1   # spread over intervals: several lines per endpoint
done
# Routes with quotes, backslashes, non-UTF-8 bytes, commas. (Control bytes
# in a request target are a 400 for NGINX and a parse error for l7top: the
# unit test covers them in routes.)
for path in '/q/say"hi"?x="y"' '/q/back\x5cslash' '/q/caf\xc3\xa9' '/q/bad\xff\xfe' \
	'/q/a,b' '/missing/%22%5c'; do
	"$PY" "$IT_DIR/client.py" get "$P" "$path" >/dev/null
done
it_wait_log_lines 15 10 || it_fail "NGINX logged $(wc -l <"$T/access.log") requests, want 15"
want=$(wc -l <"$T/access.log")
sleep 2.5
it_l7top_stop

out=$T/l7top.out
[[ -s $out ]] || it_fail "no output on stdout"
jq -c . "$out" >"$T/jq.out" 2>"$T/jq.err" || { it_show "jq" "$T/jq.err"; it_fail "jq choked on l7top --json"; }
lines=$(wc -l <"$out")
objs=$(wc -l <"$T/jq.out")
[[ $lines -eq $objs ]] || it_fail "$lines lines on stdout but $objs JSON values"
# The interval lines: ts, dur_ms and the counters, and nothing else.
jq -c 'select(has("counters"))' "$out" >"$T/counters.out"
ivs=$(wc -l <"$T/counters.out")
[[ $ivs -ge 3 ]] || it_fail "$ivs counters lines, want one per interval (>= 3)"
bad=$(jq -c 'select((keys_unsorted != ["ts","dur_ms","counters"]) or
	(.counters.packets | type) != "number" or (.counters.conns_new | type) != "number")' \
	"$T/counters.out" | head -3)
[[ -z $bad ]] || it_fail "counters lines without ts, dur_ms and the counters: $bad"
pk=$(jq -s 'map(.counters.packets) | add' "$T/counters.out")
[[ $pk -gt 0 ]] || it_fail "the counters lines say no packet reached l7top"
jq -c 'select(has("counters") | not)' "$out" >"$T/eps.out"
out=$T/eps.out
lines=$(wc -l <"$out")
keys='["ts","method","route","requests","s1xx","s2xx","s3xx","s4xx","s5xx","aborted","bytes_in","bytes_out","p50_ms","p90_ms","p99_ms","max_ms","protocol"]'
bad=$(jq -c --argjson k "$keys" 'select((keys_unsorted != $k) or
	(.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$") | not))' "$out" | head -3)
[[ -z $bad ]] || it_fail "objects without the contract's keys or an ISO 8601 ts: $bad"
got=$(jq -s 'map(.requests) | add' "$out")
[[ $got -eq $want ]] || it_fail "requests add up to $got, NGINX logged $want"
five=$(jq -s 'map(select(.route == "/boom") | .s5xx) | add' "$out")
[[ $five -eq 3 ]] || it_fail "/boom: $five 5xx, want 3"
ts_n=$(jq -r 'select(.route == "/boom") | .ts' "$out" | sort -u | wc -l)
[[ $ts_n -ge 2 ]] || it_fail "/boom appears in $ts_n interval(s), want several lines over time"
jq -e -s 'any(.[]; .route | test("say\"hi"))' "$out" >/dev/null || it_fail "the quoted route did not round-trip"
it_log "$lines JSON lines, jq ok, $got requests (NGINX: $want), routes: $(jq -r .route "$out" | sort -u | tr '\n' ' ')"
