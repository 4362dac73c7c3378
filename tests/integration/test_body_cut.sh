#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Plaintext response bodies are cut in the kernel, and counted to the byte.
# /files/ sends its headers in a segment of their own (sendfile): the
# socket filter reads the Content-Length there and cuts the body itself;
# l7top does not tell it again (collector.c announce_skip). /padded/ sends
# 700 bytes of headers, more than the filter scans (SOCKFILTER_HDR_SCAN):
# the filter cannot find the length, so l7top tells it after the body's
# first segment. Both ways, bytes_out must equal NGINX's $bytes_sent and
# the kernel must cut the bodies: all but 16 KB a response where it cut
# alone, and at least 30 % of the 4 MB where l7top told it (what goes by
# while l7top reads the headers is copied: 37-54 % of a 1 MB body on
# loopback was).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl "$PY"
it_require_l7top
it_setup

PAD=$(head -c 700 /dev/zero | tr '\0' 'p')
PORT=$(it_free_port)
it_nginx_conf "$PORT" <<CONF
        location /files/ { }
        location /padded/ { alias $T/html/files/; add_header X-Pad "$PAD"; }
CONF
mkdir -p "$T/html/files"
head -c 4194304 /dev/urandom >"$T/html/files/4m.bin"
it_nginx_start

N=10
SIZE=4194304
# One l7top run per route (its exit line's bytes are that route's); sets
# PER, the bytes copied per response.
run_route() {   # name path
	local name=$1 path=$2 line bytes cut
	it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/$name.db"
	: >"$T/access.log"
	for _ in $(seq "$N"); do
		curl -s -o /dev/null "http://127.0.0.1:$PORT$path" || it_fail "$name: curl failed"
	done
	sleep 1.5
	it_l7top_stop
	line=$(grep -m1 'packets captured' "$T/l7top.err") || it_fail "$name: no capture summary line"
	it_log "$name: $line"
	"$L7TOP" query --db "$T/$name.db" --format csv >"$T/$name.csv" 2>"$T/query.err" ||
		{ it_show "l7top query stderr" "$T/query.err"; it_fail "$name: l7top query failed"; }
	"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/$name.csv" >"$T/cmp.txt" 2>&1 ||
		{ sed 's/^/  | /' "$T/cmp.txt"; it_fail "$name: l7top differs from the access log"; }
	tail -1 "$T/cmp.txt" | sed 's/^/  /'
	bytes=$(sed -n 's/.*packets captured (\([0-9]*\) bytes).*/\1/p' <<<"$line")
	cut=$(sed -n 's/.*(\([0-9]*\) payload bytes not copied).*/\1/p' <<<"$line")
	[[ -n $bytes && -n $cut ]] || it_fail "$name: cannot read the capture summary"
	CUT_PCT=$((cut * 100 / (N * SIZE)))
	PER=$((bytes / N))
}

run_route kernel /files/4m.bin
it_log "kernel cut alone: $PER bytes copied per response, $CUT_PCT % of the bodies cut"
((PER <= 16384 && CUT_PCT >= 99)) || it_fail "sendfile responses: the kernel's cut did not hold"
run_route told /padded/4m.bin
it_log "cut once l7top told the kernel: $PER bytes copied per response, $CUT_PCT % of the bodies cut"
# untold, nothing would be cut: the filter never finds these lengths
((CUT_PCT >= 30)) || it_fail "padded responses: l7top did not tell the kernel in time"
it_log "PASS"
