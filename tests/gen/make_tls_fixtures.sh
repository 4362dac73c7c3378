#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Regenerates tests/fixtures/tls/: real TLS conversations between curl (or
# openssl s_client) and a throw-away NGINX on 127.0.0.1, captured with
# tcpdump on lo, with the client's SSLKEYLOGFILE. The record layer's unit test
# (tests/unit/test_tls_session.c) decrypts each capture from its key log
# alone and compares with what the client itself says it sent and received
# (curl --trace, turned into <name>.c2s / <name>.s2c by trace2bin.py).
#
# Per fixture <name>: <name>.pcap, <name>.keys, and for curl runs
# <name>.c2s / <name>.s2c (the plaintext of every connection, concatenated
# in connection order, as curl logged it).
#
#   sudo bash tests/gen/make_tls_fixtures.sh [outdir]
#
# Needs root (tcpdump), nginx, curl, openssl, python3.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/tests/fixtures/tls}
T=$(mktemp -d /tmp/tlsfix.XXXXXX)
PORT=${PORT:-18443}
HRR_PORT=$((PORT + 1))
NGINX_PID=""

cleanup() {
	[[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$OUT" "$T/www" "$T/logs"
chmod 755 "$T"   # NGINX workers drop root
# Bodies: a small page, one larger than a TLS record (16 KB) so a response
# spans several records, and NGINX's own 404 page.
printf 'hello over tls\n' > "$T/www/index.html"
python3 -c 'import sys
sys.stdout.write("".join("line %05d of the big body, deterministic text\n" % i for i in range(450)))' \
	> "$T/www/big.txt"

openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 3650 \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null

cat > "$T/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/logs/error.log;
events { worker_connections 64; }
http {
	access_log $T/logs/access.log;
	client_body_temp_path $T/logs;
	proxy_temp_path $T/logs;
	fastcgi_temp_path $T/logs;
	uwsgi_temp_path $T/logs;
	scgi_temp_path $T/logs;
	ssl_certificate $T/cert.pem;
	ssl_certificate_key $T/key.pem;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_ciphers HIGH:!aNULL:!MD5;
	ssl_session_cache shared:S:1m;
	server {
		listen 127.0.0.1:$PORT ssl;
		root $T/www;
	}
	# Only P-256 here: curl's x25519 key share is refused, the server
	# answers with a HelloRetryRequest.
	server {
		listen 127.0.0.1:$HRR_PORT ssl;
		ssl_ecdh_curve prime256v1;
		root $T/www;
	}
}
CONF
nginx -c "$T/nginx.conf" -p "$T" &
NGINX_PID=$!
for _ in $(seq 50); do
	curl -sk -o /dev/null "https://127.0.0.1:$PORT/" && break
	sleep 0.1
done

# capture NAME PORT CMD...: runs CMD with SSLKEYLOGFILE under tcpdump.
capture() {
	local name=$1 port=$2
	shift 2
	rm -f "$T/$name.keys"
	tcpdump -i lo --immediate-mode -U -s 0 -w "$T/$name.pcap" "tcp port $port" 2>/dev/null &
	local tp=$!
	sleep 1
	SSLKEYLOGFILE="$T/$name.keys" "$@"
	sleep 1
	kill "$tp"
	wait "$tp" 2>/dev/null || true
	cp "$T/$name.pcap" "$T/$name.keys" "$OUT/"
}

# curl_fix NAME PORT [curl options...]: three keep-alive requests on one
# connection (curl reuses it for URLs given together).
curl_fix() {
	local name=$1 port=$2
	shift 2
	local u="https://127.0.0.1:$port"
	capture "$name" "$port" curl -sk --http1.1 --trace "$T/$name.trace" "$@" \
		-o /dev/null "$u/index.html" -o /dev/null "$u/big.txt" -o /dev/null "$u/missing"
	python3 "$HERE/trace2bin.py" "$T/$name.trace" "$OUT/$name"
}

curl_fix tls13_aes256 "$PORT" --tlsv1.3 --tls13-ciphers TLS_AES_256_GCM_SHA384
curl_fix tls13_chacha "$PORT" --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256
curl_fix tls13_aes128 "$PORT" --tlsv1.3 --tls13-ciphers TLS_AES_128_GCM_SHA256
curl_fix tls12_aes256 "$PORT" --tls-max 1.2 --ciphers ECDHE-RSA-AES256-GCM-SHA384
curl_fix tls12_aes128 "$PORT" --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256
curl_fix tls12_chacha "$PORT" --tls-max 1.2 --ciphers ECDHE-RSA-CHACHA20-POLY1305
curl_fix tls13_hrr "$HRR_PORT" --tlsv1.3
# Two connections in one curl run (Connection: close): the second resumes
# the first one's session (PSK in TLS 1.3, session ticket/ID in TLS 1.2).
curl_fix tls13_resume "$PORT" --tlsv1.3 -H 'Connection: close'
curl_fix tls12_resume "$PORT" --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 -H 'Connection: close'

# TLS 1.3 KeyUpdate: openssl s_client's "K" command line (a command only
# without -quiet/-ign_eof) sends a KeyUpdate
# that asks the peer to update too; a request before and two after.
req() { printf 'GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'; }
ku_client() {
	{
		req; sleep 0.3
		printf 'K\n'; sleep 0.3
		req; sleep 0.3
		req; sleep 0.3
	} | openssl s_client -connect "127.0.0.1:$PORT" -tls1_3 -keylogfile "$T/tls13_keyupdate.keys" \
		>/dev/null 2>&1 || true
}
# s_client takes the key log path itself; SSLKEYLOGFILE is ignored.
capture tls13_keyupdate "$PORT" bash -c "$(declare -f req ku_client); T=$T PORT=$PORT ku_client"
ls -l "$OUT"
