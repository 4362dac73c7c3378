#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Containers: two network namespaces made here (veth pairs, addresses inside),
# NGINX in each on :80. l7top attached to the first must count exactly its
# access log: clients from the host (through the veth) and from inside the
# namespace (its own loopback, and its veth address) included, and nothing
# of the second namespace's traffic on the same port. Both namespaces serve
# the same routes, and the second also /only-b/, which must never show up.
# Then one target whose processes live in both namespaces: both counted.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/netns_lib.sh"

it_require_tools nginx curl ip "$PY"
it_require_l7top
it_setup
ns_setup

A=l7t16a B=l7t16b
ns_add "$A" 10.216.1
ns_add "$B" 10.216.2
body='        location /users/ { return 200 "user\n"; }
        location = /health { return 204; }
        location = /boom { return 500; }
        location /only-b/ { return 200 "b\n"; }'
ns_nginx "$A" "$T/a" 80 <<<"$body"
PA=$NS_LAST_PID
ns_nginx "$B" "$T/b" 80 <<<"$body"
PB=$NS_LAST_PID
it_log "nginx $PA in $A (10.216.1.2:80), nginx $PB in $B (10.216.2.2:80)"

it_l7top_start --pid "$PA" --no-tui --interval 1 --db "$T/l7.db"
grep -q "netns $A," "$T/l7top.err" || it_fail "the watching line does not name netns $A"

C=(curl -sS --max-time 10)
users() { local i; for i in $(seq 1 "$2"); do echo "$1/users/$((RANDOM % 500))"; done; }
traffic() {
	local r
	for r in 1 2 3; do
	# From the host, through the veths: same port, both namespaces.
	"${C[@]}" $(users http://10.216.1.2 10) http://10.216.1.2/health http://10.216.1.2/boom >/dev/null
	"${C[@]}" $(users http://10.216.2.2 12) http://10.216.2.2/only-b/x http://10.216.2.2/health >/dev/null
	# From inside each namespace: its own loopback (sidecars, health checks) and veth address.
	ip netns exec "$A" "${C[@]}" $(users http://127.0.0.1 8) \
		http://127.0.0.1/health http://10.216.1.2/boom >/dev/null
	ip netns exec "$B" "${C[@]}" $(users http://127.0.0.1 9) \
		http://127.0.0.1/only-b/y http://127.0.0.1/boom >/dev/null
	"${C[@]}" -H 'Connection: close' "http://10.216.1.2/users/$r" >/dev/null
	done
}
traffic
sleep 2.5
it_l7top_stop
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
"$L7TOP" query --db "$T/l7.db" --sessions --format csv >"$T/sessions.csv" 2>>"$T/query.err" ||
	it_fail "l7top query --sessions failed"
got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/got.csv")
na=$(wc -l <"$T/a/access.log") nb=$(wc -l <"$T/b/access.log")
it_log "netns $A: l7top $got requests, its access log $na (30 of them from inside $A; the other namespace's log: $nb)"
grep -q "only-b" "$T/got.csv" && it_fail "requests of netns $B were counted"
"$PY" "$IT_DIR/compare.py" --log "$T/a/access.log" --csv "$T/got.csv" --counts-only >"$T/cmp.txt" 2>&1 ||
	{ sed 's/^/  | /' "$T/cmp.txt"; it_fail "l7top's counts differ from netns $A's access log"; }
tail -1 "$T/cmp.txt" | sed 's/^/  /'
[[ $got -eq $na ]] || it_fail "totals differ: l7top $got, access log $na"
grep -q "netns=$A" "$T/sessions.csv" || { cat "$T/sessions.csv"; it_fail "the session row does not name netns $A"; }
grep -q " netns $A " "$T/l7top.out" || it_fail "the batch header does not name netns $A"

# One target across both namespaces: a supervisor in the host's namespace
# whose servers run in the two containers (as with a container runtime's
# shim). l7top captures in A and B, where it listens, and not in the host's
# namespace (whose veth ends would show every packet a second time).
for p in "${NS_NGINX_PIDS[@]}"; do
	kill -QUIT "$p"
	it__wait_gone "$p" 50 || it_fail "nginx $p did not stop"
done
NS_NGINX_PIDS=()
mv "$T/a/access.log" "$T/a/access1.log"
mv "$T/b/access.log" "$T/b/access1.log"
bash -c "ip netns exec $A nginx -c $T/a/nginx.conf -p $T/a -g 'daemon off;' &
	ip netns exec $B nginx -c $T/b/nginx.conf -p $T/b -g 'daemon off;' &
	wait" &
SUP=$!
IT_BG_PIDS+=("$SUP")
n=50
until [[ $(pgrep -P "$SUP" | wc -l) -ge 2 && -s $T/a/nginx.pid && -s $T/b/nginx.pid ]]; do
	((n-- > 0)) || it_fail "the supervisor's nginx did not start"
	sleep 0.1
done
NS_NGINX_PIDS=("$(cat "$T/a/nginx.pid")" "$(cat "$T/b/nginx.pid")")
sleep 0.5
it_l7top_start --pid "$SUP" --no-tui --interval 1 --db "$T/l7-both.db"
grep -Eq "netns ($A,$B|$B,$A)," "$T/l7top.err" ||
	{ grep -m1 watching "$T/l7top.err"; it_fail "the watching line does not name exactly $A and $B"; }
traffic
sleep 2.5
it_l7top_stop
"$L7TOP" query --db "$T/l7-both.db" --format csv >"$T/got-both.csv" 2>"$T/query.err" ||
	it_fail "l7top query failed"
cat "$T/a/access.log" "$T/b/access.log" >"$T/both.log"
got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/got-both.csv")
want=$(wc -l <"$T/both.log")
it_log "one target in $A and $B: l7top $got requests, the two access logs $want"
"$PY" "$IT_DIR/compare.py" --log "$T/both.log" --csv "$T/got-both.csv" --counts-only >"$T/cmp.txt" 2>&1 ||
	{ sed 's/^/  | /' "$T/cmp.txt"; it_fail "l7top's counts differ from the two logs"; }
[[ $got -eq $want ]] || it_fail "totals differ: l7top $got, access logs $want"
