#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --tls auto measures keys mode and chooses per target: on a keep-alive load
# (almost no handshakes per request) it stays on keys; on a Connection: close
# load (a TLS 1.3 handshake per request, ~21 derivation traps each) it moves
# new connections to the calls probes, and the keys probe leaves a second
# later. One keep-alive connection stays open from before the first load to
# after the switch: it must stay on the keys path (decrypted from the wire)
# while new connections are read by calls. Checked:
#  - the choice is said (stderr, the session row's notes) with its measures:
#    keys after the keep-alive load, calls after the close load;
#  - query --format csv equals the access log exactly (requests and status
#    classes per route, bytes within 1%), for the whole run: no request is
#    lost or counted twice across the switch, TLS 1.3 and TLS 1.2 alike;
#  - nothing counted undecryptable, no TLS ring drops;
#  - a request NGINX logged but never answered ($bytes_sent 0: the client had
#    closed) is in l7top's unpaired counter, one for one.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools nginx curl wrk openssl "$PY"
it_require_l7top
it_setup
tls_cert

P1=$(it_free_port)
PT=$(it_free_port)
BT=https://127.0.0.1:$PT

it_nginx_conf "$P1" <<EOF
$(tls_nginx_listen "$PT")
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /keep { return 200 'kept\n'; }
        location = /close { return 200 'closed\n'; }
        location = /ka { return 200 'long-lived\n'; }
        location = /v12 { if (\$ssl_protocol != "TLSv1.2") { return 421; } return 200 'twelve\n'; }
        location = /v13 { if (\$ssl_protocol != "TLSv1.3") { return 421; } return 200 'thirteen\n'; }
EOF
it_nginx_start
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db" --tls auto
mapfile -t W < <(tls_workers)
tls_wait_probed "$NGINX_PID" "${W[@]}"

# One connection, a request every 100 ms, open across both loads and the switch
# (a file: a background job's stdin is /dev/null).
cat >"$T/ka.py" <<'EOF'
import http.client, ssl, sys, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ctx, timeout=30)
n = 0
end = time.time() + 30
while time.time() < end:
    try:
        c.request("GET", "/ka?n=%d" % n)
        r = c.getresponse()
        r.read()
    except Exception as e:       # said, so a failure here is not a mystery
        sys.exit("long-lived client: request %d: %r" % (n, e))
    n += 1
    time.sleep(0.1)
    try:
        open(sys.argv[2] + ".stop").close()
        break
    except OSError:
        pass
c.close()
open(sys.argv[2], "w").write("%d\n" % n)
EOF
it_bg "$PY" "$T/ka.py" "$PT" "$T/ka.out"
KA_PID=${IT_BG_PIDS[-1]}

wait_line() {   # regex seconds
	local n=$(($2 * 10))
	while ((n-- > 0)); do
		grep -q "$1" "$T/l7top.err" && return 0
		sleep 0.1
	done
	return 1
}

wrk -t1 -c4 -d7s "$BT/keep" | grep -E 'requests in' | sed 's/^/  keep-alive: /'
wait_line 'tls auto: keys for' 10 || { it_show "l7top stderr" "$T/l7top.err"; it_fail "auto said no choice after the keep-alive load"; }
grep -q 'tls auto: calls' "$T/l7top.err" && it_fail "auto chose calls on a keep-alive load"
it_log "$(grep -m1 'tls auto: keys' "$T/l7top.err")"

wrk -t1 -c4 -d8s -H 'Connection: close' "$BT/close" | grep -E 'requests in' | sed 's/^/  close: /'
wait_line 'tls auto: calls for new connections' 10 ||
	{ it_show "l7top stderr" "$T/l7top.err"; it_fail "auto did not choose calls on a Connection: close load"; }
it_log "$(grep -m1 'tls auto: calls' "$T/l7top.err")"
sleep 1.5     # past the grace second: the keys probe is gone

# After the switch: new connections of both versions, read by calls.
for i in 1 2 3 4 5; do
	curl -sSk --max-time 10 --http1.1 --tlsv1.3 "$BT/v13" -o /dev/null
	curl -sSk --max-time 10 --http1.1 --tls-max 1.2 "$BT/v12" "$BT/v12" -o /dev/null -o /dev/null
done
wrk -t1 -c2 -d2s "$BT/keep" | grep -E 'requests in' | sed 's/^/  keep-alive after the switch: /'
sleep 1
touch "$T/ka.out.stop"
wait "$KA_PID" || it_fail "the long-lived client failed"
it_log "long-lived connection: $(cat "$T/ka.out") requests"

sleep 2.5
stop_ok=1
it_l7top_stop soft || stop_ok=0
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }

rc=0
# Latency not held on /close and /ka: NGINX logs 0 ms for a `return` (its
# cached clock), while a saturated Connection: close load on two cores keeps
# a request (the long-lived client's too) waiting for NGINX's turn for more
# than tls_compare's 10 ms at p99 (seen: 16-18 ms).
# A request NGINX logs with $bytes_sent 0 was never answered on the wire:
# wrk closed its connection first, at the end of a run, and NGINX's
# SSL_write failed. The calls probes see the request and no response (no
# FIN either, as a capture would), so l7top counts it unpaired, not as a
# request. Those lines are compared with the unpaired counter instead.
awk -F'\t' '$4 != 0' "$T/access.log" >"$T/access.sent.log"
unsent=$(awk -F'\t' '$4 == 0 {n++} END {print n + 0}' "$T/access.log")
unpaired=$(sqlite3 "$T/l7.db" "select coalesce(sum(unpaired), 0) from intervals")
it_log "never sent (\$bytes_sent 0): $unsent in the log; l7top unpaired: $unpaired"
[[ $unpaired -eq $unsent ]] || rc=1
# Nor on /v12 and /v13: five curl requests each, read by the calls probes
# after the switch; the p99 of five is their slowest, and one of them was
# timed 12 ms by l7top against NGINX's 0.000 in a CI run (not chased).
tls_compare "$T/access.sent.log" "$T/got.csv" '^/(close|ka|v12|v13)$' || rc=$?
awk -F'\t' '$3 == 421 {bad++} END {exit bad > 0}' "$T/access.log" ||
	it_fail "a /v12 or /v13 request did not arrive over its TLS version"
total_log=$(wc -l <"$T/access.sent.log")
got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/got.csv")
ka_log=$(awk -F'\t' '$2 ~ /^\/ka/ {n++} END {print n + 0}' "$T/access.log")
ka_got=$(awk -F, 'NR > 1 && $2 == "/ka" {n += $3} END {print n + 0}' "$T/got.csv")
it_log "requests: l7top $got, access log $total_log; long-lived connection: l7top $ka_got, log $ka_log"
[[ $got -eq $total_log && $ka_log -gt 100 && $ka_got -eq $ka_log ]] || rc=1
notes=$(sqlite3 "$T/l7.db" "select notes from sessions" 2>/dev/null || true)
grep -q 'tls auto: keys for' <<<"$notes" || it_fail "the session notes do not say auto chose keys"
grep -q 'tls auto: calls for new connections' <<<"$notes" || it_fail "the session notes do not say auto chose calls"
# Said on every run: when a check below fails, these tell which path lost it.
it_log "counters: $(sqlite3 "$T/l7.db" "select 'tls drops ' || coalesce(sum(tls_drops), 0) ||
	', undecryptable ' || coalesce(sum(tls_undecryptable), 0) || ', handoffs lost ' ||
	coalesce(sum(tls_handoff_lost), 0) || ', tls lost ' || coalesce(sum(tls_lost), 0) ||
	', parse errors ' || coalesce(sum(parse_errors), 0) from intervals")"
grep -q 'tls drops [1-9]' "$T/l7top.out" && it_fail "the TLS rings dropped records"
undec=$(sqlite3 "$T/l7.db" "select coalesce(sum(tls_undecryptable), 0) from intervals")
[[ $undec -eq 0 ]] || it_fail "$undec connections were counted undecryptable (a new connection the calls path reads kept its ciphertext session)"
[[ $stop_ok -eq 1 ]] || it_fail "$IT_STOP_ERR"
[[ $rc -eq 0 ]] || it_fail "l7top's totals do not match the access log across the auto switch"
