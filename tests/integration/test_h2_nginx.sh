#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HTTP/2 against a real NGINX 1.22: `listen ... ssl http2` (h2 through ALPN)
# and a cleartext `listen ... http2` port (h2c with prior knowledge), beside
# an HTTP/1.1 port. Driven by h2load (many concurrent streams per
# connection) and curl --http2 / --http2-prior-knowledge. Run twice: TLS read
# in keys mode, then in calls mode; each phase has its own access log.
# Checked per phase: `l7top query --format csv` equals the access log per
# endpoint and status class (compare.py --counts-only), in total and per
# protocol (query --protocol against the log's $server_protocol).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools nginx curl h2load openssl "$PY"
it_require_l7top
it_setup
tls_cert

P1=$(it_free_port)     # HTTP/1.1
PC=$(it_free_port)     # h2c, prior knowledge
PT=$(it_free_port)     # h2 over TLS (and HTTP/1.1 over TLS for clients without ALPN h2)

mkdir -p "$T/html/static"
it_gen_text "$T/html/static/page.txt" 30000
head -c 300000 /dev/urandom >"$T/html/static/big.bin"
chmod -R a+rX "$T/html"

it_nginx_conf "$P1" <<EOF
        listen 127.0.0.1:$PC http2;
        listen 127.0.0.1:$PT ssl http2;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        http2_max_concurrent_streams 128;
        location /users/ { return 200 '{"user":"x"}\n'; }
        location = /health { return 204; }
        location = /old { return 301 /new; }
        location = /boom { return 503; }
        location /static/ { }
        location = /upload { set \$l7_discard 1; return 201 'ok\n'; }
EOF
it_nginx_start
it_log "nginx master $NGINX_PID: http/1.1 :$P1, h2c :$PC, h2 (TLS) :$PT"

H2LOAD=(h2load -c 4 -m 20 -n 2000 -t 1)

traffic() {
	local base
	for base in "https://127.0.0.1:$PT" "http://127.0.0.1:$PC"; do
		"${H2LOAD[@]}" "$base/users/1" "$base/users/22" "$base/health" "$base/old" \
			"$base/boom" "$base/static/page.txt" "$base/nothing/here" >"$T/h2load.out" 2>&1 ||
			{ it_show h2load "$T/h2load.out"; it_fail "h2load failed on $base"; }
		grep -E '^requests:' "$T/h2load.out" | sed "s|^|  h2load $base: |"
	done
	# uploads: DATA frames under flow control, body discarded by NGINX
	h2load -c 2 -m 4 -n 40 -t 1 -d "$T/html/static/big.bin" "https://127.0.0.1:$PT/upload" \
		>"$T/h2load.up" 2>&1 || { it_show h2load "$T/h2load.up"; it_fail "h2load upload failed"; }
	grep -E '^requests:' "$T/h2load.up" | sed 's|^|  h2load upload: |'
	curl -sSk --http2 --max-time 20 "https://127.0.0.1:$PT/users/5" "https://127.0.0.1:$PT/static/big.bin" \
		"https://127.0.0.1:$PT/health" -o /dev/null -o /dev/null -o /dev/null
	curl -sS --http2-prior-knowledge --max-time 20 "http://127.0.0.1:$PC/static/big.bin" -o /dev/null
	curl -sS --max-time 20 "http://127.0.0.1:$P1/users/7" "http://127.0.0.1:$P1/boom" >/dev/null
	curl -sSk --http1.1 --max-time 20 "https://127.0.0.1:$PT/users/8" >/dev/null
}

# NGINX's $bytes_sent for an h2 stream is its frames as l7top counts them
# (frame headers + payloads of HEADERS and DATA): equal within 1% per
# endpoint. ($request_length is the header block and body without frame
# headers, so bytes_in is not compared.) Not /upload: NGINX answers before
# reading the body, then ends the upload with a RST_STREAM (13 bytes on the
# stream that $bytes_sent leaves out).
bytes_out_check() {
	"$PY" "$IT_DIR/compare.py" --log "$1" --emit-csv --log-protocol "$3" --log-port "$4" >"$T/want_bo.csv"
	"$PY" - "$T/want_bo.csv" "$2" <<'PYEOF'
import csv, sys
want = {(r["method"], r["route"]): int(r["bytes_out"]) for r in csv.DictReader(open(sys.argv[1]))}
got = {(r["method"], r["route"]): int(r["bytes_out"]) for r in csv.DictReader(open(sys.argv[2]))}
bad = [k for k in want if k[1] != "/upload" and abs(want[k] - got.get(k, -1)) > 0.01 * max(want[k], 1)]
print("  bytes_out: %d endpoints within 1%% of $bytes_sent (/upload aside)" % (len(want) - ("/upload" in [k[1] for k in want])))
for k in bad:
    print("  MISMATCH bytes_out %s %s: log %d, l7top %d" % (k[0], k[1], want[k], got.get(k, -1)))
sys.exit(1 if bad else 0)
PYEOF
}

# phase MODE: l7top with --tls MODE, the traffic, the comparison.
phase() {
	local mode=$1 rc=0 proto lproto lport spec log_n got_n
	: >"$T/access.log"
	it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/$mode.db" --tls "$mode"
	mapfile -t W < <(tls_workers)
	tls_wait_probed "$NGINX_PID" "${W[@]}"
	traffic
	sleep 2.5
	it_l7top_stop
	cp "$T/access.log" "$T/$mode.log"
	"$L7TOP" query --db "$T/$mode.db" --format csv >"$T/$mode.csv" 2>"$T/query.err" ||
		{ it_show "query" "$T/query.err"; it_fail "l7top query failed"; }
	"$PY" "$IT_DIR/compare.py" --log "$T/$mode.log" --csv "$T/$mode.csv" --counts-only \
		>"$T/compare_$mode.txt" 2>&1 || rc=1
	sed 's/^/  | /' "$T/compare_$mode.txt" | tail -12
	# per protocol: h2 = HTTP/2.0 on the TLS port, h2c = on the cleartext one
	for spec in "h2 HTTP/2.0 $PT" "h2c HTTP/2.0 $PC" "http/1.1 HTTP/1.1 $P1" "http/1.1 HTTP/1.1 $PT"; do
		read -r proto lproto lport <<<"$spec"
		[[ $proto == http/1.1 && $lport == "$PT" ]] && continue   # folded into the next check
		"$L7TOP" query --db "$T/$mode.db" --format csv --protocol "$proto" >"$T/$mode.$lport.csv"
		if [[ $proto == http/1.1 ]]; then
			# HTTP/1.1 came on two ports: the log filtered by protocol only
			"$PY" "$IT_DIR/compare.py" --log "$T/$mode.log" --csv "$T/$mode.$lport.csv" \
				--counts-only --log-protocol "$lproto" >"$T/cmp.txt" 2>&1 || rc=1
		else
			"$PY" "$IT_DIR/compare.py" --log "$T/$mode.log" --csv "$T/$mode.$lport.csv" \
				--counts-only --log-protocol "$lproto" --log-port "$lport" >"$T/cmp.txt" 2>&1 || rc=1
		fi
		[[ $proto == http/1.1 ]] || bytes_out_check "$T/$mode.log" "$T/$mode.$lport.csv" "$lproto" "$lport" || rc=1
		it_log "$mode mode, --protocol $proto: $(grep -E '^  \| total|total requests' "$T/cmp.txt" | sed 's/.*total/total/') $(tail -1 "$T/cmp.txt" | cut -c1-60)"
	done
	log_n=$(wc -l <"$T/$mode.log")
	got_n=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/$mode.csv")
	it_log "$mode mode: requests l7top $got_n, access log $log_n"
	# every connection was seen from its start: nothing unreadable, nothing reset
	local bad
	bad=$(grep -oE 'h2 (unreadable headers|reset) [0-9]+' "$T/l7top.out" | awk '{ n += $NF } END { print n + 0 }')
	it_log "$mode mode: h2 unreadable headers + h2 reset streams over the run: $bad"
	[[ $bad -eq 0 ]] || rc=1
	[[ $rc -eq 0 && $got_n -eq $log_n ]] || it_fail "$mode mode: l7top's counts differ from the access log"
	# stop nginx's log from being reopened by the next phase mid-write
	kill -USR1 "$NGINX_PID"
	sleep 0.3
}

phase keys
phase calls
