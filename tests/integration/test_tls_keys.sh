#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Keys mode against a real NGINX: l7top catches the session secrets with one
# uprobe on libcrypto's EVP_KDF_derive and decrypts the records the socket
# filter captures. The mix: TLS 1.3 and TLS 1.2, AES-GCM and ChaCha20-Poly1305
# suites, resumed sessions (curl's session cache across connections, and
# openssl s_client -sess_out/-sess_in), keep-alive, pipelining, big bodies both
# ways, wrk, and an `nginx -s reload` in the middle. Checked:
#  - query --format csv equals the access log (requests, status classes exactly,
#    bytes within 1%), before and after the reload;
#  - every secret curl wrote to SSLKEYLOGFILE is in l7top's --keylog (same
#    client_random, same secret): the probe's secrets are the real ones;
#  - the routes /v12/ and /v13/ answer 421 unless the connection really is
#    TLS 1.2 / TLS 1.3, so the per-version counts below are ground truth.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools nginx curl wrk openssl "$PY"
it_require_l7top
it_setup
tls_cert

P1=$(it_free_port)     # plain HTTP
PT=$(it_free_port)     # HTTPS
BT=https://127.0.0.1:$PT

mkdir -p "$T/html/static"
it_gen_text "$T/html/static/page.txt" 2048
head -c 1000000 /dev/urandom >"$T/html/static/big.bin"
chmod -R a+rX "$T/html"
head -c 300 /dev/urandom | base64 -w0 >"$T/small.body"
head -c 700000 /dev/urandom >"$T/big.body"

# NGINX 1.22 leaves TLS 1.3 out of its default ssl_protocols: ask for both.
it_nginx_conf "$P1" <<EOF
$(tls_nginx_listen "$PT")
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:l7keys:1m;
        client_max_body_size 20m;
        location /v12/ { if (\$ssl_protocol != "TLSv1.2") { return 421; } return 200 'twelve\n'; }
        location /v13/ { if (\$ssl_protocol != "TLSv1.3") { return 421; } return 200 'thirteen\n'; }
        location /v12/resume/ {
            if (\$ssl_protocol != "TLSv1.2") { return 421; }
            if (\$ssl_session_reused = "r") { return 200 'resumed\n'; }
            return 200 'fresh\n';
        }
        location /v13/resume/ {
            if (\$ssl_protocol != "TLSv1.3") { return 421; }
            if (\$ssl_session_reused = "r") { return 200 'resumed\n'; }
            return 200 'fresh\n';
        }
        location /users/ { return 200 '{"user":"x","ok":true}\n'; }
        location = /health { return 204; }
        location = /old { return 301 /new; }
        location /static/ { }
        location = /boom { return 500; }
        location = /api/events { set \$l7_discard 1; return 204; }
EOF
it_nginx_start
it_log "nginx master $NGINX_PID: http :$P1, https :$PT (TLS 1.2 + 1.3)"
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db" --tls keys \
	--keylog "$T/l7.keys" --write "$T/w.pcap"
mapfile -t W0 < <(tls_workers)
tls_wait_probed "$NGINX_PID" "${W0[@]}"
grep -c "tls: probes on .*libcrypto.*, mode keys" "$T/l7top.err" >/dev/null ||
	it_fail "l7top did not attach in keys mode to libcrypto"
[[ $(stat -c %a "$T/l7.keys") == 600 ]] || it_fail "--keylog file is not mode 0600"

export SSLKEYLOGFILE=$T/client.keys    # curl and Python's ssl write it; wrk does not
C=(curl -sS --max-time 20)
K=(curl -sSk --max-time 20 --http1.1)
K13=("${K[@]}" --tlsv1.3)
K12=("${K[@]}" --tls-max 1.2)

# TLS 1.3, then a resumed TLS 1.3 session through s_client's saved session.
s_client_resume() {
	local r=$1 req
	req=$'GET /v13/sclient/'"$r"$' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'
	{ printf '%s' "$req"; sleep 0.5; } | openssl s_client -connect "127.0.0.1:$PT" -tls1_3 \
		-sess_out "$T/sess.pem" -ign_eof >"$T/s1.out" 2>&1 || true
	{ printf '%s' "$req"; sleep 0.5; } | openssl s_client -connect "127.0.0.1:$PT" -tls1_3 \
		-sess_in "$T/sess.pem" -ign_eof >"$T/s2.out" 2>&1 || true
	grep -q '^Reused, TLSv1.3' "$T/s2.out" || { it_show s_client "$T/s2.out"; it_fail "s_client did not resume"; }
}

round() {
	local r=$1 urls=() i
	# TLS 1.3: the default suite (AES-256-GCM), AES-128-GCM, ChaCha20-Poly1305.
	for i in $(seq 1 15); do urls+=("$BT/v13/items/$((RANDOM % 1000 + 1))"); done
	"${K13[@]}" "${urls[@]}" "$BT/health" "$BT/old" "$BT/boom" "$BT/static/page.txt" >/dev/null
	"${K13[@]}" --tls13-ciphers TLS_AES_128_GCM_SHA256 "$BT/v13/aes128/$r" "$BT/users/1" >/dev/null
	"${K13[@]}" --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 "$BT/v13/chacha/$r" \
		"$BT/users/2" "$BT/static/missing.txt" >/dev/null
	# TLS 1.2: ECDHE-RSA-AES256-GCM (the default) and ChaCha20-Poly1305.
	urls=()
	for i in $(seq 1 10); do urls+=("$BT/v12/items/$((RANDOM % 1000 + 1))"); done
	"${K12[@]}" "${urls[@]}" "$BT/health" >/dev/null
	"${K12[@]}" --ciphers ECDHE-RSA-CHACHA20-POLY1305 "$BT/v12/chacha/$r" "$BT/users/3" >/dev/null
	"${K12[@]}" --ciphers ECDHE-RSA-AES128-GCM-SHA256 "$BT/v12/aes128/$r" >/dev/null
	# Resumption: one curl, a new connection per URL, the session reused
	# (TLS 1.3 tickets, TLS 1.2 tickets / session cache). Four connections
	# for two resumed ones: a TLS 1.3 ticket may come after curl is done
	# with the connection that got it (seen once: fresh fresh resumed).
	local v out
	for v in 13 12; do
		if [[ $v == 13 ]]; then
			out=$("${K13[@]}" -H 'Connection: close' "$BT/v13/resume/"{1,2,3,4})
		else
			out=$("${K12[@]}" -H 'Connection: close' "$BT/v12/resume/"{1,2,3,4})
		fi
		[[ $(grep -c resumed <<<"$out") -ge 2 ]] ||
			it_fail "TLS 1.${v#1}: curl did not resume its session: $(tr '\n' ' ' <<<"$out")"
	done
	s_client_resume "$r"
	# Plain HTTP on the same server, HEAD, -0, pipelining over TLS 1.3.
	"${C[@]}" "http://127.0.0.1:$P1/users/$r" "http://127.0.0.1:$P1/health" >/dev/null
	"${K13[@]}" -I "$BT/static/page.txt" >/dev/null
	"${K12[@]}" -0 "$BT/v12/http10/$r" >/dev/null
	tls_client pipeline "$PT" "GET /v13/pipe/1" "GET /v13/pipe/2?x=1" "HEAD /users/9" \
		"GET /health" | sed 's/^/  /'
	# Bodies much larger than a record, both directions and both versions.
	"${K13[@]}" "$BT/static/big.bin" "$BT/static/big.bin" -o /dev/null -o /dev/null
	"${K12[@]}" "$BT/static/big.bin" -o /dev/null
	"${K13[@]}" --data-binary @"$T/small.body" "$BT/api/events" >/dev/null
	"${K13[@]}" --data-binary @"$T/big.body" "$BT/api/events" >/dev/null
	"${K12[@]}" --data-binary @"$T/big.body" "$BT/api/events" >/dev/null
	wrk -t1 -c2 -d1s "$BT/v13/wrk" | grep -E 'requests in' | sed 's/^/  wrk https (TLS 1.3): /'
}

t0=$(date +%s.%N)
round 1
it_log "round 1: $(wc -l <"$T/access.log") requests in the access log"

nginx -s reload -c "$T/nginx.conf" -p "$T" 2>"$T/reload.err" ||
	{ it_show reload "$T/reload.err"; it_fail "nginx -s reload failed"; }
n=100
while ((n-- > 0)); do
	mapfile -t W1 < <(tls_workers)
	new=0
	for w in "${W1[@]}"; do [[ " ${W0[*]} " == *" $w "* ]] || new=$((new + 1)); done
	((new >= 2)) && break
	sleep 0.1
done
((new >= 2)) || it_fail "no new workers after the reload"
mapfile -t W1 < <(for w in "${W1[@]}"; do [[ " ${W0[*]} " == *" $w "* ]] || echo "$w"; done)
tls_wait_probed "${W1[@]}"
it_log "reload: new workers ${W1[*]} probed (old: ${W0[*]})"
# Round 2's resumption needs the new workers' ticket keys on every
# connection: the old workers finish their connections first.
for w in "${W0[@]}"; do it__wait_gone "$w" 50 || it_fail "old worker $w still running 5 s after the reload"; done
before=$(wc -l <"$T/access.log")

round 2
t1=$(date +%s.%N)
it_log "traffic done in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s, $(wc -l <"$T/access.log") requests in the access log"

sleep 2.5
stop_ok=1
it_l7top_stop soft || stop_ok=0
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }

rc=0
# Latency not held for big bodies: NGINX's cached clock (see tls_compare).
tls_compare "$T/access.log" "$T/got.csv" '^(/static/big\.bin|/api/events)$' || rc=$?

# Records inside a Content-Length body are counted, not decrypted (body_skip
# in collector/tls_session.c): the 1 MB downloads and 700 KB uploads must
# have had some, and their bytes still equal NGINX's to the byte.
line=$(grep -m1 'tls records:' "$T/l7top.err") || it_fail "no 'tls records:' line at l7top's exit"
it_log "$line"
skipped=$(sed -n 's/.* \([0-9]*\) body records counted without decrypting.*/\1/p' <<<"$line")
((skipped > 0)) || it_fail "no body record was counted without decrypting"
log_out=$(awk -F'\t' '$2 == "/static/big.bin" {s += $4} END {print s + 0}' "$T/access.log")
got_out=$(awk -F, 'NR > 1 && $2 == "/static/big.bin" {s += $11} END {print s + 0}' "$T/got.csv")
# NGINX answers /api/events without reading the body ($request_length leaves
# it out): the uploads' bodies are their Content-Length, and what l7top counts
# beyond that is request lines and headers, under 1 KB a request.
read -r body_in n_in < <(awk -F'\t' '$2 == "/api/events" {s += $11; n++} END {print s + 0, n + 0}' "$T/access.log")
got_in=$(awk -F, 'NR > 1 && $2 == "/api/events" {s += $10} END {print s + 0}' "$T/got.csv")
it_log "/static/big.bin bytes out: l7top $got_out, access log \$bytes_sent $log_out;" \
	"/api/events bytes in: l7top $got_in for $n_in requests whose bodies are $body_in bytes"
[[ $log_out -gt 3000000 && $got_out -eq $log_out ]] || rc=1
((body_in > 1400000 && got_in >= body_in && got_in - body_in < n_in * 1024)) || rc=1

# Per TLS version: requests in the access log vs l7top, by route prefix.
awk -F'\t' '$3 == 421 {bad++} END {exit bad > 0}' "$T/access.log" ||
	it_fail "a /v12/ or /v13/ request did not arrive over its TLS version (421 in the access log)"
for v in 12 13; do
	log_n=$(awk -F'\t' -v p="/v$v/" 'index($2, p) == 1 {n++} END {print n + 0}' "$T/access.log")
	got_n=$(awk -F, -v p="/v$v/" 'NR > 1 && index($2, p) == 1 {n += $3} END {print n + 0}' "$T/got.csv")
	it_log "TLS 1.${v#1}: /v$v/ requests: l7top $got_n, access log $log_n"
	[[ $log_n -gt 0 && $got_n -eq $log_n ]] || rc=1
done
total_log=$(wc -l <"$T/access.log")
got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/got.csv")
it_log "requests: l7top $got, access log $total_log (after the reload: $((total_log - before)))"

# Ground truth for the secrets: curl's own key log, line for line (less the
# exporter secret, which decryption does not use).
grep -v '^EXPORTER_SECRET\|^#' "$T/client.keys" | sort -u >"$T/client.sorted"
sort -u "$T/l7.keys" >"$T/l7.sorted"
missing=$(comm -23 "$T/client.sorted" "$T/l7.sorted" | wc -l)
it_log "secrets: curl/python wrote $(wc -l <"$T/client.sorted"), l7top's --keylog holds $(wc -l <"$T/l7.sorted"), $missing of the client's missing"
for l in CLIENT_RANDOM CLIENT_HANDSHAKE_TRAFFIC_SECRET SERVER_HANDSHAKE_TRAFFIC_SECRET \
	CLIENT_TRAFFIC_SECRET_0 SERVER_TRAFFIC_SECRET_0; do
	grep -q "^$l " "$T/client.sorted" || it_fail "the clients never wrote a $l line: the mix lacks a case"
done
[[ $missing -eq 0 ]] || { comm -23 "$T/client.sorted" "$T/l7.sorted" | cut -c1-80 | head >&2; rc=1; }

# Secrets stay out of the DB and the output: no 64/96-hex-digit secret there.
while read -r _ _ secret; do
	if grep -qi "$secret" "$T/l7top.out" "$T/l7top.err" || sqlite3 "$T/l7.db" .dump | grep -qi "$secret"; then
		it_fail "a secret reached l7top's output or DB"
	fi
done < <(head -5 "$T/l7.sorted")
# Offline: the saved capture (ciphertext only) plus the key log give the same requests.
"$L7TOP" --read "$T/w.pcap" --port "$PT" --keylog-in "$T/l7.keys" --db "$T/off.db" \
	>"$T/off.out" 2>"$T/off.err" || { it_show offline "$T/off.err"; it_fail "l7top --read --keylog-in failed"; }
"$L7TOP" query --db "$T/off.db" --format csv >"$T/off.csv"
off_n=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/off.csv")
https_n=$((total_log - 4))           # round() sends 2 plain HTTP requests, twice
it_log "offline: --read of the --write pcap with --keylog-in: $off_n requests, HTTPS in the access log $https_n"
[[ $off_n -eq $https_n ]] || rc=1
"$PY" - "$T/w.pcap" "$T/l7.sorted" <<'EOF' || it_fail "a secret is in the pcap"
import sys
pcap = open(sys.argv[1], "rb").read()
sys.exit(any(bytes.fromhex(l.split()[2]) in pcap for l in open(sys.argv[2])))
EOF
grep -q 'tls keys' "$T/l7top.out" || it_fail "the batch header does not name the TLS mode"
sqlite3 "$T/l7.db" "select settings from sessions" 2>/dev/null | grep -q 'tls=keys' ||
	it_fail "the DB session settings do not say tls=keys"
grep -q 'tls drops [1-9]' "$T/l7top.out" && it_fail "the TLS rings dropped records"
[[ $stop_ok -eq 1 ]] || it_fail "$IT_STOP_ERR"
[[ $rc -eq 0 ]] || it_fail "l7top's totals do not match the access log / the client key log"
