#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Targets that go away:
#   1. --pid, then `nginx -s stop`: l7top flushes, prints
#      "l7top: nginx[PID] exited; stopping" and exits 0 within 3 s, having
#      counted every request NGINX logged.
#   2. --pidfile, then `nginx -s stop` and a new NGINX on the same config:
#      l7top says it waits, then that it watches the new master; requests
#      after the restart are counted (JSON lines = access log), and the
#      session row's notes record the exit and the gap.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl sqlite3
it_require_l7top
it_setup

P=$(it_free_port)
it_nginx_conf "$P" <<'EOF'
        location /users/ { return 200 'user\n'; }
        location = /boom { return 500; }
EOF

traffic() {   # traffic N TAG: N requests over keep-alive connections of 10
	local i urls=()
	for ((i = 0; i < $1; i++)); do
		urls+=("http://127.0.0.1:$P/users/$2$i")
		if ((${#urls[@]} == 10)); then curl -sS --max-time 10 "${urls[@]}" >/dev/null; urls=(); fi
	done
	((${#urls[@]} == 0)) || curl -sS --max-time 10 "${urls[@]}" >/dev/null
}
json_requests() { sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$1" | awk '{s += $1} END {print s + 0}'; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
wait_line() {   # wait_line PATTERN SECONDS
	local n=$(($2 * 20))
	until grep -q "$1" "$T/l7top.err"; do
		((n-- > 0)) || { it_show "l7top stderr" "$T/l7top.err"; it_fail "no line matching '$1' within $2 s"; }
		sleep 0.05
	done
}

# --- 1. the target stops -------------------------------------------------------
it_nginx_start
old=$NGINX_PID
it_l7top_start --pid "$NGINX_PID" --no-tui --json --interval 1 --db "$T/a.db"
traffic 40 1
"$PY" "$IT_DIR/client.py" pipeline "$P" "GET /users/71" "GET /boom" >/dev/null
it_wait_log_lines 42 10 || it_fail "NGINX logged $(wc -l <"$T/access.log") requests, want 42"
want=$(wc -l <"$T/access.log")
t0=$(date +%s%N)
nginx -c "$T/nginx.conf" -p "$T" -e "$T/error.log" -s stop
rc=0
n=100
while kill -0 "$L7_PID" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$L7_PID/stat" 2>/dev/null) != Z ]]; do
	((n-- > 0)) || it_fail "l7top still runs 5 s after nginx -s stop"
	sleep 0.05
done
wait "$L7_PID" || rc=$?
took=$(ms_since "$t0")
L7_PID=""
NGINX_PID=""
line=$(grep 'exited' "$T/l7top.err" || true)
it_log "nginx -s stop -> l7top exit $rc after $took ms: $line"
[[ $rc -eq 0 ]] || it_fail "l7top exited $rc, want 0"
[[ $line == "l7top: nginx[$old] exited; stopping" ]] || { it_show "l7top stderr" "$T/l7top.err"; it_fail "want 'l7top: nginx[$old] exited; stopping'"; }
((took <= 3000)) || it_fail "l7top took $took ms to stop (want <= 3000)"
got=$(json_requests "$T/l7top.out")
it_log "access log $want requests, l7top $got"
[[ $got -eq $want ]] || it_fail "l7top counted $got, NGINX logged $want (last interval not flushed?)"
notes=$(sqlite3 "$T/a.db" "SELECT notes FROM sessions")
[[ $notes == *"nginx[$old] exited; stopping"* ]] || it_fail "session notes: '$notes'"

# --- 2. --pidfile across stop + start -------------------------------------------
: >"$T/access.log"
# A fresh stderr file: it_l7top_start must not find part 1's "watching" line.
rm -f "$T/l7top.err" "$T/l7top.out"
it_nginx_start
first=$NGINX_PID
it_l7top_start --pidfile "$T/nginx.pid" --no-tui --json --interval 1 --db "$T/b.db"
traffic 30 2
it_wait_log_lines 30 10 || it_fail "NGINX logged $(wc -l <"$T/access.log") requests, want 30"
t0=$(date +%s%N)
nginx -c "$T/nginx.conf" -p "$T" -e "$T/error.log" -s stop
wait_line "nginx\[$first\] exited; waiting for a new PID in $T/nginx.pid" 3
it_log "after $(ms_since "$t0") ms: $(grep 'waiting for' "$T/l7top.err")"
it__wait_gone "$first" 50 || it_fail "nginx did not stop"
sleep 0.5
t0=$(date +%s%N)
it_nginx_start
second=$NGINX_PID
[[ $second != "$first" ]] || it_fail "the new NGINX has the old PID"
wait_line "names nginx\[$second\]: watching it" 3
it_log "after $(ms_since "$t0") ms: $(grep 'names nginx' "$T/l7top.err")"
before=$(wc -l <"$T/access.log")
traffic 50 3
"$PY" "$IT_DIR/client.py" pipeline "$P" "GET /users/72" "HEAD /users/73" "GET /boom" >/dev/null
it_wait_log_lines $((before + 53)) 10 || it_fail "NGINX logged $(wc -l <"$T/access.log") requests, want $((before + 53))"
want=$(wc -l <"$T/access.log")
after=$((want - before))
sleep 1.5
it_l7top_stop
got=$(json_requests "$T/l7top.out")
it_log "access log $want requests ($before before the restart, $after after), l7top $got"
[[ $got -eq $want ]] || it_fail "l7top counted $got, NGINX logged $want"
grep -q "\"route\":\"/users/{id}\"" "$T/l7top.out" || it_fail "no /users/{id} row"
notes=$(sqlite3 "$T/b.db" "SELECT notes FROM sessions")
it_log "session notes: $notes"
[[ $notes == *"nginx[$first] exited; waiting"*"names nginx[$second]: watching it ("*" ms after nginx[$first] exited)"* ]] ||
	it_fail "session notes do not record the restart and its gap"
echo "PASS"
