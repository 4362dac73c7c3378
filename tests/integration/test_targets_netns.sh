#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Targets across network namespaces: two containers (namespaces made here,
# veth pairs) each run NGINX on :80, and the host runs a third NGINX; one
# l7top watches all three (--pid A,B,HOST). Each container's port 80 is
# told apart by its namespace (its own packet socket, and the connection key
# holds the namespace: clients inside both use 127.0.0.1:80 at once), and
# the host's packet socket, which sees the containers' veth traffic too, must
# not count it a second time. Per target, every endpoint's count equals that
# server's own access log.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns_lib.sh"

it_require_tools nginx curl ip "$PY"
it_require_l7top
it_setup
ns_setup

A=l7t16ta B=l7t16tb
ns_add "$A" 10.226.1
ns_add "$B" 10.226.2
body='        location /users/ { return 200 "user\n"; }
        location = /health { return 204; }
        location = /boom { return 500; }'
ns_nginx "$A" "$T/a" 80 <<<"$body"
PA=$NS_LAST_PID
ns_nginx "$B" "$T/b" 80 <<<"$body
        location /only-b/ { return 200 \"b\n\"; }"
PB=$NS_LAST_PID
HP=$(it_free_port)
it_nginx_conf "$HP" <<'EOF'
        location /users/ { return 200 'host user\n'; }
        location = /host-only { return 200 'h\n'; }
EOF
it_nginx_start
PH=$NGINX_PID
it_log "nginx $PA in $A (10.226.1.2:80), nginx $PB in $B (10.226.2.2:80), nginx $PH on the host (:$HP)"

it_l7top_start --pid "$PA,$PB,$PH" --no-tui --interval 1 --db "$T/l7.db"
NA="nginx[$PA]" NB="nginx[$PB]" NH="nginx[$PH]"
grep -qF "watching $NA,$NB,$NH " "$T/l7top.err" || it_fail "the watching line does not name the three targets"

C=(curl -sS --max-time 10)
users() { local i; for i in $(seq 1 "$2"); do echo "$1/users/$((RANDOM % 500))"; done; }
for r in 1 2 3; do
	# From the host, through the veths (the host's socket sees these too).
	"${C[@]}" $(users http://10.226.1.2 10) http://10.226.1.2/health http://10.226.1.2/boom >/dev/null
	"${C[@]}" $(users http://10.226.2.2 12) http://10.226.2.2/only-b/x http://10.226.2.2/health >/dev/null
	# Inside each namespace on its own loopback, both at once: the same tuples.
	ip netns exec "$A" "${C[@]}" $(users http://127.0.0.1 8) http://127.0.0.1/health >/dev/null &
	ca=$!
	ip netns exec "$B" "${C[@]}" $(users http://127.0.0.1 9) http://127.0.0.1/boom >/dev/null &
	cb=$!
	wait "$ca" "$cb"            # (not every job: l7top is one)
	"${C[@]}" $(users "http://127.0.0.1:$HP" 5) "http://127.0.0.1:$HP/host-only" >/dev/null
done
sleep 2.5
it_l7top_stop

fail=0
for who in a b h; do
	case $who in
	a) name=$NA log=$T/a/access.log ;;
	b) name=$NB log=$T/b/access.log ;;
	h) name=$NH log=$T/access.log ;;
	esac
	"$L7TOP" query --db "$T/l7.db" --target "$name" --format csv >"$T/$who.csv" 2>"$T/query.err" ||
		{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query --target $name failed"; }
	got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/$who.csv")
	if "$PY" "$IT_DIR/compare.py" --log "$log" --csv "$T/$who.csv" --counts-only >"$T/cmp.$who" 2>&1; then
		it_log "$name: l7top $got requests = its access log ($(wc -l <"$log") lines)"
	else
		sed 's/^/  | /' "$T/cmp.$who"
		echo "  $name: l7top $got requests, its access log $(wc -l <"$log")"
		fail=1
	fi
done
((fail == 0)) || it_fail "per-target counts differ from the servers' logs"
grep -q "only-b" "$T/a.csv" "$T/h.csv" && it_fail "a request of $B was counted for another target"
"$L7TOP" query --db "$T/l7.db" --by-target --format csv >"$T/by_target.csv" || it_fail "query --by-target failed"
for name in "$NA" "$NB" "$NH"; do
	grep -qF "$name,GET,/users/{id}," "$T/by_target.csv" || { cat "$T/by_target.csv"; it_fail "--by-target has no row of $name"; }
done
it_log "query --by-target: GET /users/{id} one row per target"
