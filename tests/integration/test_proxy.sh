#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reverse proxy view: a frontend NGINX proxying to a backend NGINX, a
# Python backend (fast, slow and hanging handlers) and a port nobody listens
# on; keep-alive to upstreams on (/ka/) and off (/nka/), a proxy_next_upstream
# retry (/retry/: the down port first or second, then NGINX; /r502/: the
# NGINX backend answers 502, then the Python one is tried), a 502 (/down/),
# a 504 (/hang/: proxy_read_timeout 1s), a slow route (/slow/) and a local
# one (/local), and /tls/: proxy_pass https:// to the NGINX backend's TLS port,
# read in keys mode (the frontend is the TLS client there), and /unix/: a
# backend on a unix socket, which packet capture cannot see: the view must
# say so and show nothing wrong. l7top watches the frontend only. Ground truth: the
# frontend's access log with $upstream_addr $upstream_status
# $upstream_response_time; compare_proxy.py checks per-upstream counts and
# status classes, per-route upstream p50/p99, and that every call was linked.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"
it_require_tools nginx curl
it_setup

FE=$(it_free_port)
B1=$(it_free_port)
B2=$(it_free_port)
B1S=$(it_free_port)       # backend 1 over TLS (proxy_pass https://, keys mode)
DOWN=$(it_free_port)      # nothing listens here: connects are refused

# Backend 1: NGINX, one worker, its own prefix; plaintext and TLS.
mkdir -p "$T/b1/tmp"
tls_cert
cat >"$T/b1/nginx.conf" <<CONF
worker_processes 1;
pid $T/b1/nginx.pid;
error_log $T/b1/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $T/b1/tmp/body;
    proxy_temp_path $T/b1/tmp/proxy;
    fastcgi_temp_path $T/b1/tmp/fastcgi;
    uwsgi_temp_path $T/b1/tmp/uwsgi;
    scgi_temp_path $T/b1/tmp/scgi;
    keepalive_requests 10000;
    server {
        listen 127.0.0.1:$B1;
        listen 127.0.0.1:$B1S ssl;
        listen unix:$T/b1.sock;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        location /r502/ { return 502 "b1 busy\n"; }
        location / { return 200 "b1 \$request_uri\n"; }
    }
}
CONF
nginx -c "$T/b1/nginx.conf" -p "$T/b1" -e "$T/b1/error.log" -g 'daemon on;' || it_fail "backend nginx did not start"
B1_PID=""
for _ in $(seq 50); do [[ -s $T/b1/nginx.pid ]] && B1_PID=$(cat "$T/b1/nginx.pid") && break; sleep 0.1; done
[[ -n $B1_PID ]] || it_fail "backend nginx wrote no pid file"
stop_b1() { kill -QUIT "$B1_PID" 2>/dev/null || true; }

it_bg /usr/bin/python3 "$IT_DIR/proxy_backend.py" "$B2"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$B2/x" && break; sleep 0.1; done

# The frontend: it_nginx_conf's server block plus upstream blocks (http level,
# written before the server through an include in the body is not allowed, so
# the conf is patched after).
it_nginx_conf "$FE" <<CONF
        location /ka/ {
            proxy_pass http://pool_ka;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /nka/ { proxy_pass http://pool_nka; }
        location /retry/ {
            proxy_pass http://pool_retry;
            proxy_next_upstream error timeout;
        }
        location /r502/ {
            proxy_pass http://pool_r502;
            proxy_next_upstream error http_502;
        }
        location /down/ { proxy_pass http://127.0.0.1:$DOWN; }
        location /slow/ { proxy_pass http://127.0.0.1:$B2; }
        location /hang/ {
            proxy_pass http://127.0.0.1:$B2;
            proxy_read_timeout 1s;
            proxy_next_upstream off;
        }
        location /tls/ {
            proxy_pass https://127.0.0.1:$B1S;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /unix/ {
            proxy_pass http://pool_unix;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /local { return 200 "local\n"; }
CONF
UPSTREAMS="    upstream pool_ka { server 127.0.0.1:$B1; server 127.0.0.1:$B2; keepalive 8; }
    upstream pool_nka { server 127.0.0.1:$B1; server 127.0.0.1:$B2; }
    upstream pool_retry { server 127.0.0.1:$DOWN max_fails=0; server 127.0.0.1:$B1; }
    upstream pool_unix { server unix:$T/b1.sock; keepalive 4; }
    upstream pool_r502 { server 127.0.0.1:$B1 max_fails=0; server 127.0.0.1:$B2; }
    log_format l7proxy '\$request_method\t\$request_uri\t\$status\t\$upstream_addr\t\$upstream_status\t\$upstream_response_time\t\$upstream_connect_time\t\$request_time';
    access_log $T/access.log l7proxy;"
"$PY" - "$T/nginx.conf" "$UPSTREAMS" <<'PYEOF'
import sys
p, ups = sys.argv[1], sys.argv[2]
s = open(p).read()
s = s.replace("    access_log %s/access.log l7tsv;" % p.rsplit("/", 1)[0], "")
s = s.replace("    server {", ups + "\n\n    server {", 1)
open(p, "w").write(s)
PYEOF
trap 'stop_b1; it__on_exit $?' EXIT
it_nginx_start

# One connection to the backend open before l7top starts: found through /proc.
curl -s -o /dev/null "http://127.0.0.1:$FE/ka/warm"
sleep 0.3
: >"$T/access.log"
kill -USR1 "$NGINX_PID"     # reopen the log: the warm-up request is not counted
sleep 0.3

it_l7top_start --pid "$NGINX_PID" --no-tui --db "$T/l7.db" --json --interval 600 --duration 30

urls=()
for i in $(seq 1 60); do urls+=("http://127.0.0.1:$FE/ka/a" "http://127.0.0.1:$FE/nka/b"); done
for i in $(seq 1 10); do
	urls+=("http://127.0.0.1:$FE/slow/s" "http://127.0.0.1:$FE/local" "http://127.0.0.1:$FE/retry/r"
	       "http://127.0.0.1:$FE/r502/x" "http://127.0.0.1:$FE/tls/t" "http://127.0.0.1:$FE/unix/u")
done
for i in $(seq 1 5); do urls+=("http://127.0.0.1:$FE/down/d"); done
# Sequential keep-alive from one curl, then a few concurrent clients.
curl -s "${urls[@]}" >/dev/null
clients=()
for c in 1 2 3; do
	curl -s "${urls[@]:0:80}" >/dev/null &
	clients+=($!)
done
curl -s -o /dev/null "http://127.0.0.1:$FE/hang/h"
curl -s -o /dev/null "http://127.0.0.1:$FE/hang/h"
wait "${clients[@]}"
sleep 2.5     # a /proc rescan sees the keep-alive connection to the unix socket
it_log "access log: $(wc -l <"$T/access.log") requests"
it_l7top_stop

grep '"upstream' "$T/l7top.out" >"$T/upstreams.json" || it_fail "l7top printed no upstream lines"
it_log "l7top stderr tail: $(tail -1 "$T/l7top.err")"
"$L7TOP" query --db "$T/l7.db" --upstreams --format csv >"$T/up.csv" || it_fail "query --upstreams failed"
"$L7TOP" query --db "$T/l7.db" --upstreams --by-route --format csv >"$T/up_routes.csv" ||
	it_fail "query --upstreams --by-route failed"
"$L7TOP" query --db "$T/l7.db" --upstreams --by-route --endpoint 'GET /r502/x' --format json \
	>"$T/up_r502.json" || it_fail "query --upstreams --by-route --endpoint failed"
[[ $(head -1 "$T/up.csv") == upstream,requests,s1xx,s2xx,s3xx,s4xx,s5xx,p50_ms,p90_ms,p99_ms,max_ms,* ]] ||
	it_fail "query --upstreams csv header: $(head -1 "$T/up.csv")"
[[ $(head -1 "$T/up_routes.csv") == upstream,method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,p50_ms,p90_ms,p99_ms,max_ms,* ]] ||
	it_fail "query --upstreams --by-route csv header: $(head -1 "$T/up_routes.csv")"
it_show "l7top query --upstreams --by-route" "$T/up_routes.csv"
"$PY" "$IT_DIR/compare_proxy.py" "$T/access.log" "$T/upstreams.json" "127.0.0.1:$DOWN" \
	"$T/up.csv" "$T/up_routes.csv" "$T/up_r502.json" ||
	it_fail "l7top's upstream view differs from the access log"
it_log "PASS"
