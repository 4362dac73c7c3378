#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Thousands of connections at once: l7top hands packets to the collector in
# batches whose connection entries it fetches ahead (src/main.c, from 2,048
# connections on). wrk holds 4,000 keep-alive connections for 3 s over 12
# routes (fewer than the 16 values past which a segment is folded); l7top's
# per-endpoint counts must equal NGINX's access log, every connection must
# have been seen (new conns >= 4,000), and packets must have gone through
# the batches (the exit line counts them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx wrk "$PY"
it_require_l7top
it_setup
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= 9000)) || it_fail "open files limited to $(ulimit -n): 4,000 connections need 9,000"

PORT=$(it_free_port)
it_nginx_conf "$PORT" <<'CONF'
        location /items/ { return 200 "item\n"; }
CONF
sed -i 's/worker_connections 512;/worker_connections 6000;/; s/^worker_processes 2;/worker_processes 2;\nworker_rlimit_nofile 12000;/' \
	"$T/nginx.conf"
it_nginx_start

it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db"
cat >"$T/routes.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/items/r" .. (n % 12) .. "/x")
end
LUA
wrk -t2 -c4000 -d3s -s "$T/routes.lua" "http://127.0.0.1:$PORT/" >"$T/wrk.out" 2>&1 ||
	{ cat "$T/wrk.out"; it_fail "wrk failed"; }
it_log "wrk: $(grep -E 'requests in' "$T/wrk.out" | sed 's/^ *//')"
sleep 2.5
it_l7top_stop

"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
exit_line=$(grep -m1 'packets captured' "$T/l7top.err")
it_log "$exit_line"
drops=$(sed -n 's/.* \([0-9]*\) dropped by the kernel.*/\1/p' <<<"$exit_line")
[[ $drops == 0 ]] || it_fail "the capture ring dropped $drops packets: counts cannot match"
batched=$(sed -n 's/.*, \([0-9]*\) in prefetched batches.*/\1/p' <<<"$exit_line")
((${batched:-0} > 0)) || it_fail "no packet went through a prefetched batch"
"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --csv "$T/got.csv" --counts-only >"$T/cmp.txt" 2>&1 ||
	{ sed 's/^/  | /' "$T/cmp.txt"; it_fail "l7top's counts differ from the access log"; }
tail -1 "$T/cmp.txt" | sed 's/^/  /'
conns=$("$PY" -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT coalesce(sum(conns_new), 0) FROM intervals").fetchone()[0])' "$T/l7.db")
it_log "new connections l7top counted: $conns"
((conns >= 4000)) || it_fail "l7top counted $conns new connections, wrk opened 4,000"
it_log "PASS"
