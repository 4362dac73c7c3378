#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --write / --read round trip. While l7top watches NGINX live with
# --write, tcpdump records the same traffic on lo. Then:
#   - the --write file is mode 0600 and replays (--read) to the same
#     per-endpoint counts (method, route, requests, s1xx..s5xx) as live;
#   - tcpdump's file, read with --read --port, gives those counts too;
#   - and live saw every request NGINX logged.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl tcpdump "$PY"
it_require_l7top
it_setup

P=$(it_free_port)
mkdir -p "$T/html/static"
it_gen_text "$T/html/static/page.txt" 3000
head -c 3000000 /dev/urandom >"$T/html/static/big.bin"
chmod -R a+rX "$T/html"
head -c 400000 /dev/urandom >"$T/big.body"

it_nginx_conf "$P" <<'EOF'
        client_max_body_size 10m;
        location /users/ { return 200 'user\n'; }
        location = /health { return 204; }
        location = /boom { return 500; }
        location /static/ { }
        location = /api/events { set $l7_discard 1; return 204; }
EOF
it_nginx_start

# tcpdump first, so it sees every connection from its SYN. -Z root: it
# would otherwise drop to its own user before writing into $T; -B: a 64 MiB
# ring, as multi-MB responses on lo come in 64 KiB packets.
it_bg tcpdump -i lo -n -U -B 65536 -Z root -w "$T/tcpdump.pcap" "tcp port $P" 2>"$T/tcpdump.err"
TCPDUMP_PID=${IT_BG_PIDS[-1]}
n=100
until grep -q 'listening on' "$T/tcpdump.err" 2>/dev/null; do
	((n-- > 0)) || { it_show tcpdump "$T/tcpdump.err"; it_fail "tcpdump did not start"; }
	sleep 0.1
done
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/live.db" --write "$T/live.pcap"

# --- traffic: keep-alive, errors, big bodies (the kernel cuts them), pipelining
B=http://127.0.0.1:$P
C=(curl -sS --max-time 20)
urls=()
for i in $(seq 1 15); do urls+=("$B/users/$i"); done
urls+=("$B/health" "$B/health" "$B/boom" "$B/static/page.txt" "$B/static/missing")
"${C[@]}" "${urls[@]}" >/dev/null
"${C[@]}" "$B/static/big.bin" "$B/static/big.bin" >/dev/null
"${C[@]}" -I "$B/static/big.bin" >/dev/null
"${C[@]}" --data-binary @"$T/big.body" "$B/api/events" >/dev/null
"${C[@]}" -0 "$B/users/99" >/dev/null
"$PY" "$IT_DIR/client.py" pipeline "$P" "GET /users/7" "HEAD /users/8" "GET /health" "GET /boom" >/dev/null
it_wait_log_lines 29 10 || it_fail "NGINX logged $(wc -l <"$T/access.log") requests, want 29"
want=$(wc -l <"$T/access.log")
sleep 2.5
it_l7top_stop
kill -INT "$TCPDUMP_PID"
wait "$TCPDUMP_PID" 2>/dev/null || true
it_log "tcpdump: $(grep -h -E "captured|dropped by kernel" "$T/tcpdump.err" | tr "\n" " ")"

# --- the file --write made ------------------------------------------------------------
[[ -s $T/live.pcap ]] || it_fail "--write left no file"
mode=$(stat -c %a "$T/live.pcap")
[[ $mode == 600 ]] || it_fail "--write file has mode $mode, want 600"
tcpdump -r "$T/live.pcap" -n -c 1 >/dev/null 2>&1 || it_fail "tcpdump cannot read the --write file"

# --- replays ----------------------------------------------------------------------------------
replay() {   # replay NAME FILE [options]: DB $T/NAME.db, counts in $T/NAME.csv
	local name=$1 file=$2
	shift 2
	"$L7TOP" --read "$file" --no-tui --db "$T/$name.db" "$@" >"$T/$name.out" 2>"$T/$name.err" ||
		{ it_show "l7top --read $name" "$T/$name.err"; it_fail "l7top --read $file failed"; }
}
counts() {   # counts NAME: method,route,requests,s1xx..s5xx sorted
	"$L7TOP" query --db "$T/$1.db" --format csv >"$T/$1.full.csv" 2>"$T/$1.qerr" ||
		{ it_show "query $1" "$T/$1.qerr"; it_fail "l7top query --db $1.db failed"; }
	tail -n +2 "$T/$1.full.csv" | cut -d, -f1-8 | sort >"$T/$1.csv"
}
replay write "$T/live.pcap" --port "$P"
replay tcpdump "$T/tcpdump.pcap" --port "$P"
counts live
counts write
counts tcpdump

total=$(awk -F, '{ s += $3 } END { print s + 0 }' "$T/live.csv")
[[ $total -eq $want ]] || { cat "$T/live.csv" >&2; it_fail "live l7top counted $total requests, NGINX logged $want"; }
diff -u "$T/live.csv" "$T/write.csv" >&2 || it_fail "--read of the --write file differs from live (above)"
diff -u "$T/live.csv" "$T/tcpdump.csv" >&2 || it_fail "--read of tcpdump's file differs from live (above)"
it_log "live, --write replay and tcpdump replay agree: $(wc -l <"$T/live.csv") endpoints, $total requests;" \
	"files: $(stat -c %s "$T/live.pcap") B (--write, bodies cut), $(stat -c %s "$T/tcpdump.pcap") B (tcpdump)"
