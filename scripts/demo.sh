#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# l7top demo (`sudo make demo`): a throw-away NGINX on 127.0.0.1 (HTTP on
# port 8080 or the first free one above, HTTPS with a throw-away certificate
# on the next free one), a little traffic generator in the background (~30
# req/s, mixed routes and statuses, a quarter of it over HTTPS), and l7top
# attached in the foreground: the live view on a terminal, batch output
# otherwise. HTTPS is read in keys mode (the default, --tls auto).
# Ctrl-C (or q in the live view) ends it; everything is cleaned up, the DB is
# kept.
#
#   DEMO_RATE=50 sudo make demo                     requests per second
#   sudo bash scripts/demo.sh --interval 2          extra arguments go to l7top
set -euo pipefail
cd "$(dirname "$0")/.."

L7TOP=${L7TOP:-./l7top}
RATE=${DEMO_RATE:-30}

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: l7top needs root (BPF, packet capture): run 'sudo make demo'" >&2
	exit 1
fi
for t in nginx python3 openssl; do
	command -v "$t" >/dev/null || { echo "demo: missing $t (run 'sudo make deps')" >&2; exit 1; }
done
[[ -x $L7TOP ]] || { echo "demo: no $L7TOP binary (run 'make')" >&2; exit 1; }

T=$(mktemp -d /tmp/l7top-demo.XXXXXX)
chmod 755 "$T"
mkdir -p "$T/html/static" "$T/html/slow" "$T/tmp"
NGINX_PID=""
GEN_PID=""

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [[ -n $GEN_PID ]]; then
		kill "$GEN_PID" 2>/dev/null
		wait "$GEN_PID" 2>/dev/null
	fi
	if [[ -n $NGINX_PID ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
		kill -QUIT "$NGINX_PID"
		for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$NGINX_PID" 2>/dev/null && kill -KILL "$NGINX_PID"
	fi
	# Keep only what is worth looking at afterwards.
	rm -rf "$T/html" "$T/tmp"
	echo
	if [[ -s $T/demo.db ]]; then
		echo "demo: the DB is $T/demo.db; for example:"
		echo "  sudo $L7TOP query --db $T/demo.db --sort p99 --limit 10"
		echo "  sudo $L7TOP query --db $T/demo.db --since 10m --format csv"
	else
		echo "demo: no DB was written ($T/demo.db)"
	fi
	echo "demo: NGINX logs in $T (access.log, error.log)"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() {
	python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}
PORT="" TLS_PORT=""
for p in $(seq 8080 8180); do
	port_free "$p" || continue
	if [[ -z $PORT ]]; then PORT=$p; else TLS_PORT=$p; break; fi
done
[[ -n $TLS_PORT ]] || { echo "demo: no two free ports in 8080-8180" >&2; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
chmod 600 "$T/key.pem"

head -c 50000 /dev/urandom >"$T/html/static/logo.png"
head -c 150000 /dev/urandom | base64 >"$T/html/slow/report.csv"
chmod -R a+rX "$T/html"

cat >"$T/nginx.conf" <<EOF
# l7top demo: throw-away NGINX, everything under $T
worker_processes 2;
pid $T/nginx.pid;
error_log $T/error.log;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $T/tmp/body;
    proxy_temp_path $T/tmp/proxy;
    fastcgi_temp_path $T/tmp/fastcgi;
    uwsgi_temp_path $T/tmp/uwsgi;
    scgi_temp_path $T/tmp/scgi;
    access_log $T/access.log;
    sendfile on;
    keepalive_timeout 30s;
    server {
        listen 127.0.0.1:$PORT;
        listen 127.0.0.1:$TLS_PORT ssl;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        root $T/html;
        location ~ ^/api/users/[0-9]+$ { return 200 '{"id":1,"name":"ada"}\n'; }
        location = /api/orders {
            if (\$request_method = POST) { return 201 '{"created":true}\n'; }
            return 200 '[{"id":1},{"id":2}]\n';
        }
        location = /api/fail { return 500; }
        location /static/ { }
        location /slow/ { limit_rate 100k; }
        location = / { return 200 'l7top demo\n'; }
        location / { return 404; }
    }
}
EOF
nginx -t -q -e "$T/error.log" -c "$T/nginx.conf" -p "$T"
nginx -e "$T/error.log" -c "$T/nginx.conf" -p "$T" -g 'daemon on;'
for _ in $(seq 50); do [[ -s $T/nginx.pid ]] && break; sleep 0.1; done
NGINX_PID=$(cat "$T/nginx.pid")
echo "demo: NGINX (master $NGINX_PID) on http://127.0.0.1:$PORT and https://127.0.0.1:$TLS_PORT, files in $T"

# The generator: ~RATE req/s, new connection per request, mixed statuses;
# the slow download runs on its own thread now and then.
python3 - "$PORT" "$TLS_PORT" "$RATE" <<'EOF' >"$T/generator.log" 2>&1 &
import http.client, random, ssl, sys, threading, time
port, tls_port, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
insecure = ssl._create_unverified_context()  # the demo's own throw-away certificate
routes = [
    (30, "GET", lambda: "/api/users/%d" % random.randint(1, 5000)),
    (15, "GET", lambda: "/api/orders?page=%d" % random.randint(1, 9)),
    (8, "POST", lambda: "/api/orders"),
    (15, "GET", lambda: "/static/logo.png"),
    (8, "GET", lambda: "/"),
    (6, "GET", lambda: "/nope/%d" % random.randint(1, 50)),
    (3, "GET", lambda: "/api/fail"),
    (1, "GET", lambda: "/slow/report.csv"),
]
weights = [r[0] for r in routes]

def one(method, path):
    try:
        if random.random() < 0.25:
            c = http.client.HTTPSConnection("127.0.0.1", tls_port, timeout=10, context=insecure)
        else:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = '{"item":%d}' % random.randint(1, 99) if method == "POST" else None
        hdr = {"Content-Type": "application/json"} if body else {}
        c.request(method, path, body=body, headers=hdr)
        c.getresponse().read()
        c.close()
    except Exception as e:
        print("generator:", e, flush=True)

while True:
    _, method, path = random.choices(routes, weights)[0]
    p = path()
    if p.startswith("/slow/"):
        threading.Thread(target=one, args=(method, p), daemon=True).start()
    else:
        one(method, p)
    time.sleep(random.expovariate(rate))
EOF
GEN_PID=$!

echo "demo: traffic generator running (~$RATE req/s); starting l7top (Ctrl-C to stop)"
sleep 0.5
# In the foreground: l7top handles Ctrl-C itself (flushes the last interval,
# exits 0); the EXIT trap then cleans up.
trap ':' INT
rc=0
"$L7TOP" --pid "$NGINX_PID" --db "$T/demo.db" "$@" || rc=$?
if [[ $rc -ne 0 && $rc -ne 130 ]]; then
	echo "demo: l7top exited $rc" >&2
fi
exit 0
