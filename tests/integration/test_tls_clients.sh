#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HTTPS clients are never lost, in either TLS mode:
#   1. --tls calls: the client address the accept tracepoints give reaches
#      the request log (`query --requests --errors`) and the detail view's
#      "Top clients" (the live view under tmux, as in test_tui.sh).
#   2. --tls keys: a keep-alive TLS connection opened before l7top attached
#      (its secrets went by unseen) and then used is counted undecryptable,
#      connections and bytes, in the batch header, the DB and /metrics,
#      instead of being silently absent.
set -euo pipefail
export LC_ALL=C.UTF-8
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"
source "$(dirname "$0")/tmux_lib.sh"

it_require_tools nginx curl tmux sqlite3 openssl "$PY"
it_require_l7top
it_setup
tls_cert

tmux_setup tlscli

P=$(it_free_port)
PT=$(it_free_port)
BT=https://127.0.0.1:$PT
it_nginx_conf "$P" <<EOF
$(tls_nginx_listen "$PT")
        location = /boom { return 500; }
        location /api/ { return 200 'api\n'; }
EOF
it_nginx_start

# ---- 1. calls mode: the client in the request log and in Top clients ------
traffic() {
	while :; do
		curl -sk --max-time 5 "$BT/boom" "$BT/api/x" "$BT/api/y" >/dev/null 2>&1 || true
		sleep 0.1
	done
}
tm new-session -d -s "$SESSION" -x 120 -y 40 \
	"LANG=C.UTF-8 TERM=tmux-256color '$L7TOP' --pid $NGINX_PID --tls calls --db '$T/calls.db' \
	 --interval 1 2>'$T/l7top.err'; echo \$? >'$T/rc'; sleep 30"
tm set-option -t "$SESSION" window-size manual >/dev/null 2>&1 || true
wait_screen 'METHOD +ROUTE' 150 || { shot; fail_screen "the live view did not open"; }
it_bg traffic
wait_screen '/boom' 150 || { shot; fail_screen "/boom not on screen"; }
keys / b o o m
keys Enter
wait_screen 'filter boom' 20 || { shot; fail_screen "filter not applied"; }
keys Home Enter
wait_screen 'Top clients' 30 || { shot; fail_screen "Enter did not open the detail"; }
n=60
while ((n-- > 0)); do
	shot
	grep -A4 'Top clients' "$SHOT_F" | grep -q '127\.0\.0\.1' && break
	sleep 0.2
done
grep -A4 'Top clients' "$SHOT_F" | grep -q '127\.0\.0\.1' ||
	fail_screen "calls mode: the detail's Top clients has no 127.0.0.1"
grep -A4 'Top clients' "$SHOT_F" | sed 's/^/  | /'
keys Escape q
n=100
while ((n-- > 0)) && [[ ! -s $T/rc ]]; do sleep 0.1; done
[[ $(cat "$T/rc" 2>/dev/null) == 0 ]] || { it_show "l7top stderr" "$T/l7top.err"; it_fail "l7top did not exit 0 after q"; }
kill "${IT_BG_PIDS[@]}" 2>/dev/null || true
wait "${IT_BG_PIDS[@]}" 2>/dev/null || true
IT_BG_PIDS=()

"$L7TOP" query --db "$T/calls.db" --requests --errors --format csv >"$T/errors.csv" 2>"$T/query.err" ||
	{ it_show "query" "$T/query.err"; it_fail "query --requests --errors failed"; }
col=$(head -1 "$T/errors.csv" | tr ',' '\n' | grep -nx client | cut -d: -f1)
[[ -n $col ]] || it_fail "query --requests has no client column: $(head -1 "$T/errors.csv")"
rows=$(tail -n +2 "$T/errors.csv" | grep -c '/boom' || true)
[[ $rows -gt 0 ]] || it_fail "the request log has no /boom error"
bad=$(tail -n +2 "$T/errors.csv" | awk -F, -v c="$col" '$c !~ /^"?127\.0\.0\.1:[0-9]+"?$/' | head -3)
[[ -z $bad ]] || it_fail "request-log rows without the client address: $bad"
it_log "calls mode: $rows /boom errors logged, each with its client ($(tail -n +2 "$T/errors.csv" | head -1 | cut -d, -f"$col"))"

# ---- 2. keys mode: a connection older than l7top is counted undecryptable --
# The client opens one keep-alive connection, does one request, waits for
# $T/go, then does five more on the same connection.
"$PY" - "$PT" "$T" >"$T/client.out" 2>&1 <<'EOF' &
import os, socket, ssl, sys, time
port, t = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
def get(path):
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    head, body = buf.split(b"\r\n\r\n", 1)
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        body += s.recv(4096)
    return head.split(b" ")[1].decode()
print("first", get("/api/before"), flush=True)
open(os.path.join(t, "ready"), "w").close()
for _ in range(300):
    if os.path.exists(os.path.join(t, "go")):
        break
    time.sleep(0.1)
else:
    sys.exit("no go")
for i in range(5):
    print("after", get(f"/api/after{i}"), flush=True)
    time.sleep(0.2)
open(os.path.join(t, "done"), "w").close()
time.sleep(1)
EOF
CLIENT=$!
IT_BG_PIDS+=("$CLIENT")
n=100
while ((n-- > 0)) && [[ ! -e $T/ready ]]; do sleep 0.1; done
[[ -e $T/ready ]] || { it_show "client" "$T/client.out"; it_fail "the TLS client did not connect"; }

PP=$(it_free_port)
it_l7top_start --pid "$NGINX_PID" --tls keys --no-tui --interval 1 --db "$T/keys.db" \
	--prometheus "$PP"
mapfile -t W < <(tls_workers)
tls_wait_probed "$NGINX_PID" "${W[@]}"
touch "$T/go"
n=100
while ((n-- > 0)) && [[ ! -e $T/done ]]; do sleep 0.1; done
[[ -e $T/done ]] || { it_show "client" "$T/client.out"; it_fail "the TLS client did not finish"; }
[[ $(grep -c '^after 200' "$T/client.out") -eq 5 ]] || { it_show "client" "$T/client.out"; it_fail "the client's requests failed"; }
sleep 2.5
curl -s "http://127.0.0.1:$PP/metrics" >"$T/metrics"
it_l7top_stop

m_conns=$(awk '$1 == "l7top_tls_undecryptable_total" { print $2 }' "$T/metrics")
m_bytes=$(awk '$1 == "l7top_tls_undecryptable_bytes_total" { print $2 }' "$T/metrics")
[[ ${m_conns:-0} -ge 1 ]] || it_fail "/metrics: l7top_tls_undecryptable_total = '${m_conns}', want >= 1"
[[ ${m_bytes:-0} -gt 500 ]] || it_fail "/metrics: l7top_tls_undecryptable_bytes_total = '${m_bytes}', want the 5 requests' bytes"
grep -Eq '(^| )undecryptable [1-9]' "$T/l7top.out" ||
	{ it_show "batch" "$T/l7top.out" 10; it_fail "no 'undecryptable N' in the batch header"; }
grep -Eq 'undecryptable bytes [1-9]' "$T/l7top.out" || it_fail "no 'undecryptable bytes N' in the batch header"
db_conns=$(sqlite3 "$T/keys.db" 'SELECT coalesce(sum(tls_undecryptable), 0) FROM intervals')
db_bytes=$(sqlite3 "$T/keys.db" 'SELECT coalesce(sum(tls_undecryptable_bytes), 0) FROM intervals')
[[ $db_conns -ge 1 && $db_bytes -eq $m_bytes ]] ||
	it_fail "DB: tls_undecryptable $db_conns, tls_undecryptable_bytes $db_bytes (/metrics: $m_conns, $m_bytes)"
it_log "keys mode: connection opened before l7top: undecryptable $m_conns conn, $m_bytes bytes (/metrics = DB = batch)"
