#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# SIGKILL l7top while HTTPS traffic runs: NGINX must answer every request,
# before, during and after, and the uprobe breakpoints must be gone from its
# workers (the kernel removes them with the process that held them).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools nginx curl openssl nm "$PY"
it_require_l7top
it_setup
tls_cert

P1=$(it_free_port)
PT=$(it_free_port)
it_nginx_conf "$P1" <<EOF
$(tls_nginx_listen "$PT")
        location / { return 200 'pong\n'; }
EOF
it_nginx_start
mapfile -t W < <(tls_workers)

# 1 when the first byte of SSL_read in PID's libssl is an int3 (0xcc), else 0.
ssl_read_trapped() {
	"$PY" - "$1" <<'EOF'
import re, subprocess, sys
pid = sys.argv[1]
maps = open(f"/proc/{pid}/maps").read().splitlines()
lib = next(l.split()[-1] for l in maps if re.search(r"/libssl\.so[.0-9]*$", l))
sym = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True).stdout
off = next(int(l.split()[0], 16) for l in sym.splitlines()
           if len(l.split()) == 3 and l.split()[2].split("@")[0] == "SSL_read")
for l in maps:
    f = l.split()
    if f[-1] == lib and "x" in f[1]:
        start, end = (int(x, 16) for x in f[0].split("-"))
        pgoff = int(f[2], 16)
        if pgoff <= off < pgoff + (end - start):
            with open(f"/proc/{pid}/mem", "rb") as m:
                m.seek(start + off - pgoff)
                print(1 if m.read(1) == b"\xcc" else 0)
            sys.exit(0)
sys.exit("SSL_read not in an executable mapping")
EOF
}

for w in "${W[@]}"; do
	[[ $(ssl_read_trapped "$w") == 0 ]] || it_fail "worker $w has a breakpoint before l7top ran"
done
# Calls mode: the breakpoint checked is SSL_read's (auto would pick keys here).
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db" --tls calls
tls_wait_probed "${W[@]}"
for w in "${W[@]}"; do
	[[ $(ssl_read_trapped "$w") == 1 ]] || it_fail "no uprobe breakpoint in worker $w while l7top runs"
done
it_log "uprobes in workers ${W[*]}: SSL_read starts with int3"

# Load until $T/stop exists: new connections one after another, and
# keep-alive connections of 50 requests each; every answer's code is kept.
(
	i=0
	while [[ ! -e $T/stop ]]; do
		i=$((i + 1))
		curl -sk --max-time 5 -o /dev/null -w '%{http_code}\n' "https://127.0.0.1:$PT/ping/$i" || echo "000"
	done >"$T/codes.txt"
) &
loop=$!
IT_BG_PIDS+=("$loop")
(
	while [[ ! -e $T/stop ]]; do
		urls=()
		for i in $(seq 1 50); do urls+=("https://127.0.0.1:$PT/ka/$i" -o /dev/null); done
		curl -sk --max-time 10 -w '%{http_code}\n' "${urls[@]}" || echo "000"
	done >"$T/ka_codes.txt"
) &
ka=$!
IT_BG_PIDS+=("$ka")

sleep 1
before_kill=$(cat "$T/codes.txt" "$T/ka_codes.txt" | wc -l)
t0=$(date +%s.%N)
kill -KILL "$L7_PID"
wait "$L7_PID" 2>/dev/null || true
t1=$(date +%s.%N)
L7_PID=""
it_log "l7top SIGKILLed under load ($before_kill answers so far); gone after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s"
sleep 2
touch "$T/stop"
wait "$loop" || it_fail "the curl loop failed"
wait "$ka" || it_fail "the keep-alive curl loop failed"
n=$(wc -l <"$T/codes.txt")
ok=$(grep -c '^200$' "$T/codes.txt" || true)
kan=$(wc -l <"$T/ka_codes.txt")
ka_ok=$(grep -c '^200$' "$T/ka_codes.txt" || true)
for w in "${W[@]}"; do
	[[ $(ssl_read_trapped "$w") == 0 ]] || it_fail "worker $w still has a breakpoint after l7top died"
done
after=$(curl -sk --max-time 5 "https://127.0.0.1:$PT/after")
logged=$(wc -l <"$T/access.log")
it_log "answers: $ok/$n new-connection requests 200, $ka_ok/$kan keep-alive 200, after: '$after'; access log $logged lines"
[[ $ok -eq $n && $n -gt 0 ]] || it_fail "NGINX failed $((n - ok)) of $n requests around the SIGKILL"
[[ $ka_ok -eq $kan && $kan -gt 0 ]] || it_fail "NGINX failed $((kan - ka_ok)) of $kan keep-alive requests around the SIGKILL"
[[ $after == pong ]] || it_fail "NGINX does not answer after the SIGKILL"
want=$((n + kan + 1))
[[ $logged -eq $want ]] || it_fail "access log has $logged lines, want $want"
it_log "breakpoints gone from every worker; NGINX answered all $want requests"
