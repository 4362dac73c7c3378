#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Keys mode cuts TLS response bodies in the kernel (tls_conns in
# probes/sockfilter.h): NGINX over HTTPS serves a 5 MB and a 100 KB file
# with keep-alive, small requests between the downloads on the same
# connections, downloads alone on their connection (the permission comes in
# the middle of the first response), TLS 1.3 and TLS 1.2 (AES-GCM, ChaCha20).
# Two l7top runs, one per file size. Checked for each:
#  - requests and status classes equal the access log exactly, and bytes_out
#    of the file routes equal the sum of NGINX's $bytes_sent exactly, but
#    for responses the client reset mid-body (wrk stopping), which NGINX's
#    error log names: l7top may be short by at most a body for each;
#  - no cut run failed to add up (tls lost 0, tls cut unframed 0 but for
#    those resets);
#  - the bytes copied to user space (the capture summary's figure) are a
#    small share of the body bytes of the responses after the first on each
#    connection (the first one is copied until user space has read its
#    headers and said so): < 1% for 5 MB bodies, of which the kernel cut
#    > 95%; for 100 KB bodies, whose head record passes its first 4 KB
#    (NGINX puts the headers and the body's first 16 KB in it), < 10%, and
#    > 90% cut. IT_CUT_DEBUG=1 also writes each run's pcap and key log.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools nginx curl wrk openssl "$PY"
it_require_l7top
it_setup
tls_cert

P1=$(it_free_port)
PT=$(it_free_port)
BT=https://127.0.0.1:$PT
head -c 5242880 /dev/urandom >"$T/html/5m.bin"
head -c 102400 /dev/urandom >"$T/html/100k.bin"
chmod -R a+rX "$T/html"

it_nginx_conf "$P1" <<EOF
$(tls_nginx_listen "$PT")
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /small { return 200 'ok\n'; }
        location = /health { return 204; }
        location / { }
EOF
it_nginx_start
K=(curl -sSk --max-time 30 --http1.1)

# run NAME TRAFFIC-FUNCTION: one l7top run; leaves $T/NAME.csv, $T/NAME.err
# and $T/NAME.log (the access log lines of the run).
run() {
	local name=$1 fn=$2 before ebefore
	before=$(wc -l <"$T/access.log")
	ebefore=$(wc -l <"$T/error.log")
	it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/$name.db" --tls keys ${IT_CUT_DEBUG:+--write "$T/$name.pcap" --keylog "$T/$name.keys"}
	mapfile -t W < <(tls_workers)
	tls_wait_probed "${W[@]}"
	"$fn"
	sleep 2
	it_l7top_stop
	tail -n +"$((before + 1))" "$T/access.log" >"$T/$name.log"
	tail -n +"$((ebefore + 1))" "$T/error.log" >"$T/$name.errlog"
	cp "$T/l7top.err" "$T/$name.err"
	cp "$T/l7top.out" "$T/$name.out"
	"$L7TOP" query --db "$T/$name.db" --format csv >"$T/$name.csv"
}

traffic_5m() {
	local urls=() i
	# 10 on one keep-alive connection, a small request before each.
	for i in $(seq 1 5); do urls+=("$BT/small" "$BT/5m.bin"); done
	"${K[@]}" --tlsv1.3 "${urls[@]}" -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
		-o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null
	"${K[@]}" --tls-max 1.2 "$BT/5m.bin" "$BT/health" "$BT/5m.bin" "$BT/small" \
		-o /dev/null -o /dev/null -o /dev/null -o /dev/null
	"${K[@]}" --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305 "$BT/5m.bin" "$BT/5m.bin" \
		"$BT/small" -o /dev/null -o /dev/null -o /dev/null
	# 6 alone on their connection.
	for i in $(seq 1 6); do "${K[@]}" "$BT/5m.bin" -o /dev/null; done
	"${K[@]}" -I "$BT/5m.bin" "$BT/small" >/dev/null
}

traffic_100k() {
	local urls=() i
	for i in $(seq 1 30); do urls+=("$BT/100k.bin" "$BT/small"); done
	"${K[@]}" --tlsv1.3 "${urls[@]}" >/dev/null
	"${K[@]}" --tls-max 1.2 "${urls[@]}" >/dev/null
	"${K[@]}" --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305 "${urls[@]}" >/dev/null
	wrk -t1 -c2 -d2s "$BT/100k.bin" | grep -E 'requests in' | sed 's/^/  wrk: /'
}

rc=0
# check NAME FILE MAX_COPY_PERCENT MIN_CUT_PERCENT: the percentages are of
# the body bytes of the responses after the first on each connection (the
# permission to cut comes while the first one is on its way: how much of it
# was copied depends on how soon user space read the ring, and is printed).
check() {
	local name=$1 file=$2 maxpct=$3 mincut=$4 line copied cut size n first log_out got_out later
	local log_n got_n lossy=0 resets short unframed
	log_n=$(wc -l <"$T/$name.log")
	got_n=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/$name.csv")
	# Only packets the kernel dropped (a full capture ring: l7top starved of
	# CPU under wrk, counted) may lose requests, and never more than the log.
	# CI once saw 4 of 6,432 lost without a drop; the stress runs that did
	# the same lost records that waited for keys past their bound while the
	# secrets' ring was read late (fixed in e6ce471).
	if ((got_n < log_n)) && grep -Eq ' [1-9][0-9]* dropped by the kernel' "$T/$name.err"; then
		lossy=1
		it_log "$name: the capture ring dropped packets: $((log_n - got_n)) of $log_n requests lost, counted:" \
			"$(grep -Eo '(drops|gaps|tls lost) [1-9][0-9]*' "$T/$name.out" | sort | uniq -c | tr '\n' ' ')"
	else
		tls_compare "$T/$name.log" "$T/$name.csv" "^/$file\$" || rc=1
	fi
	((got_n <= log_n)) || { it_log "$name: l7top $got_n requests, more than the log's $log_n"; rc=1; }
	log_out=$(awk -F'\t' -v u="/$file" '$2 == u {s += $4} END {print s + 0}' "$T/$name.log")
	got_out=$(awk -F, -v u="/$file" 'NR > 1 && $2 == u {s += $11} END {print s + 0}' "$T/$name.csv")
	size=$(stat -c %s "$T/html/$file")
	n=$(awk -F'\t' -v u="/$file" '$2 == u && $1 == "GET" {n++} END {print n + 0}' "$T/$name.log")
	first=$(awk -F'\t' -v u="/$file" '$2 == u && $1 == "GET" {c[$8] = 1} END {print length(c)}' "$T/$name.log")
	later=$(((n - first) * size))
	line=$(grep -m1 'packets captured' "$T/$name.err") || it_fail "$name: no capture summary line"
	copied=$(sed -n 's/.*captured (\([0-9]*\) bytes).*/\1/p' <<<"$line")
	cut=$(sed -n 's/.*cut to headers (\([0-9]*\) payload bytes.*/\1/p' <<<"$line")
	it_log "$name: $line"
	it_log "$name: /$file bytes_out: l7top $got_out, access log $log_out; $n bodies on $first connections," \
		"$later body bytes after the first on each; copied $copied bytes in all, cut $cut"
	# wrk ends mid-download: a client that resets its connection inside a
	# body leaves NGINX logging the bytes it handed to SSL ($bytes_sent),
	# which the wire never carried, and the cut stream's last record
	# unframed (counted). NGINX's error log names each such response; only
	# those may make l7top short, by at most one body each.
	resets=$(grep -c 'while sending response to client' "$T/$name.errlog" || true)
	short=$((log_out - got_out))
	unframed=$(grep -Eo 'tls cut unframed [0-9]+' "$T/$name.out" | awk '{s += $4} END {print s + 0}')
	if ((short > 0 && resets > 0 && short <= resets * size && unframed <= resets && !lossy)); then
		it_log "$name: $resets response(s) reset by the client mid-body (NGINX error log):" \
			"l7top $short bytes short of \$bytes_sent, tls cut unframed $unframed"
		short=0
	fi
	[[ ($short -eq 0 || $lossy -eq 1) && $log_out -gt 0 ]] || { it_log "$name: bytes_out differ"; rc=1; }
	((later > 0)) || it_fail "$name: no second download on a connection: the mix lacks its case"
	awk -v a="$copied" -v f="$((first * size))" -v b="$later" -v m="$maxpct" 'BEGIN {
		printf "  %s: copied beyond the first bodies: %.2f%% of the later ones (bound %s%%)\n",
			"'"$name"'", 100 * (a - f) / b, m
		exit !(a < f + b * m / 100) }' || rc=1
	awk -v a="$cut" -v b="$later" -v m="$mincut" 'BEGIN {
		printf "  %s: cut in the kernel: %.1f%% of the later bodies (bound > %s%%)\n", "'"$name"'", 100 * a / b, m
		exit !(a > b * m / 100) }' || rc=1
	grep -q 'TLS: [1-9][0-9]* bodies cut' <<<"$line" || { it_log "$name: no TLS records cut"; rc=1; }
	if ((!lossy)) && { ((unframed > resets)) || grep -Eq 'tls lost [1-9]|tls undecryptable [1-9]' "$T/$name.out"; }; then
		it_log "$name: $(grep -Eo 'tls (cut unframed|lost|undecryptable) [1-9][0-9]*' "$T/$name.out" | sort | uniq -c | tr '\n' ' ')"
		rc=1
	fi
}

run big traffic_5m
check big 5m.bin 1 95
run mid traffic_100k
check mid 100k.bin 10 90
[[ $rc -eq 0 ]] || it_fail "keys mode with bodies cut in the kernel: see the lines above"
