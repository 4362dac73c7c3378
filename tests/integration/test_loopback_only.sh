#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Loopback-only capture. NGINX listens on 127.0.0.1 only and its clients
# are local, so all its packets cross lo: l7top's packet socket ignores
# packets on their way out (each comes back in) and must still count exactly
# its access log, with not one outgoing copy reaching the filter. Then NGINX proxies to a backend in a network namespace
# made here (veth, 10.219.1.2): its first connect off loopback turns the
# mode off, said on stderr with the connections that may miss their first
# packets; from then on every request is counted, upstream calls included,
# and outgoing copies reach the filter again.
# Last, a target listening on every address: the mode is never on.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns_lib.sh"

it_require_tools nginx curl ip "$PY"
it_require_l7top
it_setup
ns_setup

NS=l7t19a
ns_add "$NS" 10.219.1
ns_nginx "$NS" "$T/b" 80 <<<'        location /ext/ { return 200 "backend\n"; }'
BACKEND=$NS_LAST_PID

FE=$(it_free_port)
it_nginx_conf "$FE" <<CONF
        location /users/ { return 200 "user\n"; }
        location = /boom { return 500; }
        location /ext/ {
            proxy_pass http://10.219.1.2:80;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
CONF
it_nginx_start

C=(curl -sS --max-time 10)
users() { local i; for i in $(seq 1 "$1"); do echo "http://127.0.0.1:$FE/users/$((RANDOM % 300))"; done; }
# l7top's counts against the access log since it was reopened; $1: the DB.
compare_log() {
	"$L7TOP" query --db "$1" --format csv >"$T/got.csv" 2>"$T/query.err" ||
		{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
	"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv" --counts-only >"$T/cmp.txt" 2>&1 ||
		{ sed 's/^/  | /' "$T/cmp.txt"; it_fail "l7top's counts differ from the access log"; }
	tail -1 "$T/cmp.txt" | sed 's/^/  /'
}
new_log() { mv "$T/access.log" "$T/access.$1.log"; kill -USR1 "$NGINX_PID"; sleep 0.3; }
lo_copies() { sed -n 's/.*, \([0-9]*\) loopback copies dropped leaving.*/\1/p' "$T/l7top.err"; }

# 1: loopback traffic only, keep-alive (one curl, many URLs) and one
# connection per request: not one outgoing copy reaches the filter.
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7a.db"
grep -q '^l7top: watching.*; loopback only' "$T/l7top.err" ||
	it_fail "listening on 127.0.0.1 only, the watching line does not say loopback only"
"${C[@]}" $(users 60) "http://127.0.0.1:$FE/boom" >/dev/null
for i in $(seq 1 10); do "${C[@]}" -o /dev/null "http://127.0.0.1:$FE/users/c$i"; done
sleep 2.5
it_l7top_stop
it_log "$(grep -m1 'packets captured' "$T/l7top.err")"
[[ $(lo_copies) == 0 ]] || it_fail "loopback only, yet $(lo_copies) outgoing copies reached the filter"
compare_log "$T/l7a.db"
new_log 1

# 2: the first connect off loopback turns the mode off; after it, every
# request is counted, upstream calls included, and outgoing copies are
# made again (and dropped by the filter).
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db"
"${C[@]}" $(users 20) >/dev/null
"${C[@]}" -o /dev/null "http://127.0.0.1:$FE/ext/first"
for _ in $(seq 50); do
	grep -q 'connected to a peer off loopback' "$T/l7top.err" && break
	sleep 0.1
done
grep -q 'connected to a peer off loopback (1 connection may miss its first packets): packets are read on their way out too' \
	"$T/l7top.err" || { it_show "l7top stderr" "$T/l7top.err"; it_fail "the connect off loopback did not turn the mode off"; }
it_log "$(grep -m1 'off loopback' "$T/l7top.err")"

EXT=40
ext=()
for i in $(seq 1 $EXT); do ext+=("http://127.0.0.1:$FE/ext/$i"); done
"${C[@]}" "${ext[@]}" $(users 20) >/dev/null
for i in $(seq 1 5); do "${C[@]}" -o /dev/null "http://127.0.0.1:$FE/ext/c$i"; done
sleep 2.5
it_l7top_stop
it_log "$(grep -m1 'packets captured' "$T/l7top.err")"
(($(lo_copies) > 0)) || it_fail "the mode off, no outgoing loopback copy reached the filter"
compare_log "$T/l7.db"

"$L7TOP" query --db "$T/l7.db" --upstreams --format csv >"$T/up.csv" || it_fail "query --upstreams failed"
calls=$(awk -F, '$1 == "10.219.1.2:80" {n += $2} END {print n + 0}' "$T/up.csv")
want=$((EXT + 5))
it_log "upstream 10.219.1.2:80: l7top $calls calls; $want after the switch, 1 before it"
((calls >= want && calls <= want + 1)) ||
	{ cat "$T/up.csv"; it_fail "upstream calls: $calls, want $want (or one more)"; }

# Listening on every address: its clients may come from anywhere.
it_l7top_start --pid "$BACKEND" --no-tui --interval 1 --db "$T/backend.db"
grep -q 'loopback only' "$T/l7top.err" &&
	it_fail "a target listening on every address was put in loopback-only mode"
it_l7top_stop
it_log "PASS"
