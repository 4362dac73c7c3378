#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The DB's disk fills during a live run (a 512 KB tmpfs in the test's temp
# dir, filled by a file of zeros), then frees again:
#   - one stderr line when writes start failing, one when they work again;
#   - capture goes on: the JSON lines count every request NGINX logged;
#   - after exit the session row's notes record the outage.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl sqlite3 mount umount
it_require_l7top
it_setup
MNT=$T/dbfs
mkdir -p "$MNT"
mount -t tmpfs -o size=512k,mode=0700 l7t13db "$MNT"
cleanup_mnt() { umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; }
trap 'rc=$?; cleanup_mnt; it__on_exit $rc' EXIT

P=$(it_free_port)
it_nginx_conf "$P" <<'EOF'
        location /users/ { return 200 'user\n'; }
        location = /boom { return 500; }
EOF
it_nginx_start
it_l7top_start --pid "$NGINX_PID" --no-tui --json --interval 0.5 --db "$MNT/l7.db"

traffic() {   # traffic N: N requests over keep-alive connections of 10
	local i urls=()
	for ((i = 0; i < $1; i++)); do
		urls+=("http://127.0.0.1:$P/users/$i")
		if ((${#urls[@]} == 10)); then curl -sS --max-time 10 "${urls[@]}" >/dev/null; urls=(); fi
	done
	((${#urls[@]} == 0)) || curl -sS --max-time 10 "${urls[@]}" >/dev/null
}

traffic 50
sleep 1.2
it_log "filling $MNT"
dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
t0=$(date +%s%N)
n=0
until grep -q 'write failed' "$T/l7top.err"; do
	traffic 20                # new endpoints rows need pages; so do requests
	((n++ < 40)) || { it_show "l7top stderr" "$T/l7top.err"; it_fail "no 'write failed' line on stderr"; }
	sleep 0.25
done
it_log "line after $((($(date +%s%N) - t0) / 1000000)) ms: $(grep 'write failed' "$T/l7top.err")"
traffic 100
sleep 1
rm -f "$MNT/filler"
t0=$(date +%s%N)
n=0
until grep -q 'writes work again' "$T/l7top.err"; do
	((n++ < 40)) || { it_show "l7top stderr" "$T/l7top.err"; it_fail "no 'writes work again' line"; }
	sleep 0.25
done
it_log "line after $((($(date +%s%N) - t0) / 1000000)) ms: $(grep 'writes work again' "$T/l7top.err")"
traffic 30
it_wait_log_lines 180 10 || true
want=$(wc -l <"$T/access.log")
sleep 1.2
it_l7top_stop

got=$(sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$T/l7top.out" | awk '{s += $1} END {print s + 0}')
it_log "access log $want requests, l7top (JSON lines, in memory) $got"
[[ $got -eq $want ]] || it_fail "l7top counted $got requests, NGINX logged $want"
fails=$(grep -c 'write failed' "$T/l7top.err")
backs=$(grep -c 'writes work again' "$T/l7top.err")
[[ $fails -eq 1 && $backs -eq 1 ]] ||
	{ it_show "l7top stderr" "$T/l7top.err"; it_fail "want one failure line and one recovery line, got $fails and $backs"; }
notes=$(sqlite3 "$MNT/l7.db" "SELECT notes FROM sessions ORDER BY id DESC LIMIT 1")
it_log "session notes: $notes"
[[ $notes == *"DB writes failed from "*"intervals not stored"* ]] || it_fail "session notes do not record the outage: '$notes'"
stored=$(sqlite3 "$MNT/l7.db" "SELECT coalesce(sum(requests), 0) FROM intervals")
it_log "DB holds $stored of $want requests (the outage's intervals are not stored)"
((stored < want && stored > 0)) || it_fail "DB holds $stored requests: want some, fewer than $want"
echo "PASS"
