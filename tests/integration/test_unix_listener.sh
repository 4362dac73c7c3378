#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A unix-socket listener beside a TCP one (`listen unix:...`, common behind a
# local proxy): packet capture cannot see it, so l7top must say so, naming it
# in the start line, the batch header and the DB session row, while the TCP
# requests are counted exactly. A server listening on unix sockets only gets
# one line naming them and exit 2.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl "$PY"
it_require_l7top
it_setup

P1=$(it_free_port)
SOCK=$T/app.sock
it_nginx_conf "$P1" <<EOF
        listen unix:$SOCK;
        location /users/ { return 200 "user\n"; }
        location = /health { return 204; }
        location /via-unix/ { return 200 "u\n"; }
EOF
it_nginx_start
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db"
grep -q "unix listeners not captured.*$SOCK" "$T/l7top.err" || it_fail "the start line does not name $SOCK"

for r in 1 2 3; do
	curl -sS --max-time 10 $(for i in $(seq 1 10); do echo "http://127.0.0.1:$P1/users/$i"; done) \
		"http://127.0.0.1:$P1/health" >/dev/null
	curl -sS --max-time 10 --unix-socket "$SOCK" \
		$(for i in $(seq 1 5); do echo "http://localhost/via-unix/$i"; done) >/dev/null
done
sleep 2.5
it_l7top_stop
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" || it_fail "l7top query failed"
"$L7TOP" query --db "$T/l7.db" --sessions --format csv >"$T/sessions.csv" 2>>"$T/query.err" ||
	it_fail "l7top query --sessions failed"
grep -q "unix_not_captured=$SOCK" "$T/sessions.csv" || { cat "$T/sessions.csv"; it_fail "the session row does not name $SOCK"; }
grep -q "unix not captured $SOCK" "$T/l7top.out" || it_fail "the batch header does not name $SOCK"
tcp=$(grep -vc $'\t/via-unix/' "$T/access.log" || true)
unix=$(grep -c $'\t/via-unix/' "$T/access.log" || true)
got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/got.csv")
it_log "TCP: l7top $got, access log $tcp; over $SOCK (named, not counted): $unix"
"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv" --counts-only \
	--routes '^/(users|health)' >"$T/cmp.txt" 2>&1 || { cat "$T/cmp.txt"; it_fail "TCP counts differ"; }
[[ $got -eq $tcp ]] || it_fail "l7top $got requests, the log has $tcp over TCP"

# Unix only: one line naming the socket, exit 2.
it_nginx_stop || true   # (its last pkill finds nothing: not an error)
it_nginx_conf <<EOF
        listen unix:$SOCK;
        location / { return 200 "u\n"; }
EOF
it_nginx_start
rc=0
"$L7TOP" --pid "$NGINX_PID" --no-tui --no-db --duration 2 >/dev/null 2>"$T/only.err" || rc=$?
[[ $rc -eq 2 ]] || { cat "$T/only.err"; it_fail "unix-only server: exit $rc, want 2"; }
grep -q "unix sockets only ($SOCK)" "$T/only.err" || { cat "$T/only.err"; it_fail "the line does not name $SOCK"; }
it_log "unix only: exit 2, $(head -1 "$T/only.err")"
