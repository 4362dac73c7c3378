#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A server of one process that forks a child per connection: Python's
# http.server with socketserver.ForkingMixIn, TLS wrapped in the child
# (accept in the parent, handshake and request in the child, then exit).
# 100 connections, one request each, so 100 children of a few ms.
#
#   keys:  the key probe is on the library from the start, filtered on the
#          target's processes: every request equals the server's log.
#   calls: the uprobes start on the one process; its first fork moves them
#          to the library. A child that ran before they were in place (forked
#          before the move or during it) may go unread, but never silently:
#          the shortfall must be at most the processes l7top counted as
#          probed too late (one request each).
# Both: at most 64 per-process lines (children that live a few ms are mostly
# gone before a rescan, which forks ask for at most every 50 ms).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools curl openssl "$PY"
it_require_l7top
it_setup
tls_cert

PORT=$(it_free_port)
cat >"$T/server.py" <<'EOF'
import http.server, socketserver, ssl, sys
port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(404 if self.path.startswith("/missing") else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with open(log, "a") as f:       # one line per request answered, O_APPEND
            f.write("%s %s\n" % (self.command, self.path))
    def log_message(self, fmt, *args):
        pass
class Server(socketserver.ForkingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    def finish_request(self, request, client_address):   # runs in the child
        self.RequestHandlerClass(ctx.wrap_socket(request, server_side=True), client_address, self)
srv = Server(("127.0.0.1", port), Handler)
print("listening", flush=True)
srv.serve_forever()
EOF
"$PY" "$T/server.py" "$PORT" "$T/cert.pem" "$T/key.pem" "$T/served.log" >"$T/server.out" 2>&1 &
SRV_PID=$!
IT_BG_PIDS+=("$SRV_PID")
n=50
until grep -q listening "$T/server.out" 2>/dev/null; do
	((n-- > 0)) || { it_show server "$T/server.out"; it_fail "the Python server did not start"; }
	sleep 0.1
done
it_log "$("$PY" --version) forking HTTPS server pid $SRV_PID on :$PORT"

urls=()
for i in $(seq 1 50); do urls+=("https://127.0.0.1:$PORT/a/$i" "https://127.0.0.1:$PORT/missing"); done

# count ROUTE_REGEX FILE: requests of the server's log whose path matches
served() { grep -cE "^GET $1" "$T/served.log" || true; }
# sum of an intervals column over the run
db_sum() { "$PY" -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("select coalesce(sum(" + sys.argv[2] + "), 0) from intervals").fetchone()[0])' "$T/l7.db" "$1"; }

rc=0
for mode in keys calls; do
	rm -f "$T/l7.db" "$T/served.log"
	it_l7top_start --pid "$SRV_PID" --no-tui --interval 1 --db "$T/l7.db" --tls "$mode"
	tls_wait_probed "$SRV_PID"
	# 100 URLs, one connection each: the server answers HTTP/1.0 and closes
	curl -sSk --http1.1 --max-time 60 "${urls[@]}" -o /dev/null >"$T/curl.out" 2>&1 ||
		{ it_show curl "$T/curl.out"; it_fail "curl failed"; }
	sleep 2.5
	stop_ok=1
	it_l7top_stop soft || stop_ok=0
	[[ $stop_ok -eq 1 ]] || { it_show "l7top stderr" "$T/l7top.err"; it_fail "$IT_STOP_ERR"; }
	"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
		{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
	got_a=$(awk -F, '$1 == "GET" && $2 == "/a/{id}" {print $3}' "$T/got.csv")
	got_m=$(awk -F, '$1 == "GET" && $2 == "/missing" && $7 == $3 {print $3}' "$T/got.csv")
	want_a=$(served '/a/') want_m=$(served '/missing')
	late=$(db_sum tls_unprobed) perr=$(db_sum parse_errors)
	short=$((want_a + want_m - ${got_a:-0} - ${got_m:-0}))
	it_log "--tls $mode: server answered /a/{id} $want_a, /missing $want_m; l7top ${got_a:-0} and ${got_m:-0}; processes probed too late $late; parse errors $perr; cpu ${IT_L7_CPU}s"
	grep -E "forks:|ran while|before its probes|forked while|processes listed" "$T/l7top.err" | sed 's/^/  /' || true
	if ((want_a + want_m != 100)); then
		echo "  the server answered $((want_a + want_m)) of 100 requests" >&2
		rc=1
	fi
	if [[ $mode == keys ]] && ((short != 0 || late != 0)); then
		echo "  MISMATCH keys: $short requests short, $late processes counted late (want 0 and 0)" >&2
		rc=1
	fi
	if [[ $mode == calls ]]; then
		grep -q "forks: calls probes now on the library" "$T/l7top.err" || {
			echo "  calls: no line says the probes moved to the library" >&2
			rc=1
		}
		if ((short < 0 || short > late)); then
			echo "  MISMATCH calls: $short requests short but only $late processes counted late" >&2
			rc=1
		fi
	fi
	if ((perr != 0)); then
		echo "  --tls $mode: $perr parse errors" >&2
		rc=1
	fi
	lines=$(grep -c "probes on python" "$T/l7top.err" || true)
	if ((lines > 64)) || [[ $(grep -c "64 processes listed" "$T/l7top.err") -gt 1 ]]; then
		echo "  --tls $mode: $lines per-process lines; want at most 64, then one line saying the rest are not listed" >&2
		rc=1
	fi
	((rc == 0)) || { it_show "l7top stderr" "$T/l7top.err"; it_fail "--tls $mode against a server forking per connection"; }
done
it_log "a child per connection: keys mode saw all 100 requests; calls mode's shortfall is counted"
