#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# History durability (issue 6), a real l7top against a real NGINX:
#   1. a reader (sqlite3 and l7top query in a loop) runs while l7top writes;
#      kill -9 of l7top mid-run; then `l7top query` works and has the data
#      (at most the interval in flight lost), the DB passes integrity_check
#      and the session reads as not ended;
#   2. a corrupt DB file: l7top and l7top query each exit non-zero with one line;
#   3. a full disk (a 300k tmpfs this test mounts): l7top keeps running and
#      printing, the batch header shows the DB error, SIGTERM exits 0.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl sqlite3 mount umount "$PY"
it_require_l7top
it_setup

FULL_MNT=""
cleanup_mount() {
	if [[ -n $FULL_MNT ]] && mountpoint -q "$FULL_MNT"; then
		umount -l "$FULL_MNT" 2>/dev/null || true
	fi
}
trap 'rc=$?; cleanup_mount; it__on_exit $rc' EXIT

P=$(it_free_port)
B=http://127.0.0.1:$P
it_nginx_conf "$P" <<'EOF'
        location /users/ { return 200 'user\n'; }
        location = /fail { return 500 'no\n'; }
        location / { return 200 'hi\n'; }
EOF
it_nginx_start

# Sends n requests on one keep-alive connection per call of curl (fast).
traffic() {
	local n=$1 path=${2:-/users/1} urls=() i
	for ((i = 0; i < n; i++)); do urls+=("$B$path"); done
	curl -s "${urls[@]}" >/dev/null
}

# Waits (up to $3 s) until sqlite3 query $2 on DB $1 prints a number >= $4.
wait_sql_ge() {
	local db=$1 sql=$2 secs=$3 want=$4 v n
	n=$((secs * 10))
	while ((n-- > 0)); do
		v=$(sqlite3 -cmd '.timeout 2000' "$db" "$sql" 2>/dev/null || echo 0)
		[[ ${v:-0} -ge $want ]] && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1. concurrent reader, kill -9, query ---------------------------------
DB=$T/h.db
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$DB"

# Readers in a loop for the whole write phase; every failure is logged.
reader() {
	local i=0
	while :; do
		if ! sqlite3 -cmd '.timeout 2000' "$DB" \
			'select count(*) from endpoint_stats; select count(*) from intervals;' \
			>/dev/null 2>>"$T/reader.err"; then
			echo "sqlite3 failed at round $i" >>"$T/reader.err"
		fi
		if ! "$L7TOP" query --db "$DB" --since 1h --format csv >/dev/null 2>>"$T/reader.err"; then
			echo "l7top query failed at round $i" >>"$T/reader.err"
		fi
		i=$((i + 1))
		echo "$i" >>"$T/reader.rounds"
	done
}
: >"$T/reader.err"
reader &
READER=$!
IT_BG_PIDS+=("$READER")

sent=0
for round in 1 2 3 4 5; do
	traffic 40 "/users/$round"
	traffic 5 /fail
	sent=$((sent + 45))
	sleep 0.6
done
# At least 3 intervals with requests committed before the kill.
wait_sql_ge "$DB" "select count(*) from endpoint_stats" 15 3 ||
	it_fail "fewer than 3 endpoint rows committed after 15 s"
sleep 2
kill "$READER" 2>/dev/null || true
wait "$READER" 2>/dev/null || true
rounds=$(wc -l <"$T/reader.rounds" 2>/dev/null || echo 0)
it_log "reader: $rounds rounds of sqlite3 + l7top query while l7top wrote"
[[ $rounds -ge 3 ]] || it_fail "the reader ran only $rounds rounds"
if [[ -s $T/reader.err ]]; then
	it_show "reader errors" "$T/reader.err"
	it_fail "a concurrent reader failed while l7top was writing"
fi
grep -q 'DB write failed' "$T/l7top.out" &&
	{ grep 'DB write failed' "$T/l7top.out" | head -3; it_fail "l7top reported DB write failures with a reader running"; }

committed=$(sqlite3 "$DB" 'select coalesce(sum(requests),0) from intervals')
kill -KILL "$L7_PID"
wait "$L7_PID" 2>/dev/null || true
L7_PID=""
it_log "kill -9 after $sent requests sent; $committed committed before the kill"

out=$("$L7TOP" query --db "$DB" --format csv 2>"$T/q.err") ||
	{ it_show "query stderr" "$T/q.err"; it_fail "l7top query failed after kill -9"; }
head -1 <<<"$out" | grep -qx 'method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx,aborted,bytes_in,bytes_out,p50_ms,p90_ms,p99_ms,max_ms' ||
	it_fail "unexpected csv header: $(head -1 <<<"$out")"
total=$(tail -n +2 <<<"$out" | awk -F, '{ s += $3 } END { print s + 0 }')
fails=$(awk -F, '$2 == "/fail" { print $8 }' <<<"$out")
it_log "after kill -9: query has $total requests ($sent sent), /fail 5xx = ${fails:-none}"
[[ $total -ge $committed ]] || it_fail "query shows $total requests, fewer than the $committed committed"
[[ $total -le $sent ]] || it_fail "query shows $total requests, more than the $sent sent"
# Everything but the last (in-flight) second: all traffic ended >= 1.2 s before the kill.
[[ $total -eq $sent ]] || it_fail "lost $((sent - total)) of $sent requests that ended 2 s before kill -9 (want 0)"
[[ ${fails:-0} -eq 25 ]] || it_fail "/fail: ${fails:-0} 5xx in the DB, want 25"
ic=$(sqlite3 "$DB" 'pragma integrity_check')
[[ $ic == ok ]] || it_fail "integrity_check after kill -9: $ic"
ended=$(sqlite3 "$DB" 'select count(*) from sessions where ended_ms is null')
[[ $ended -eq 1 ]] || it_fail "the killed session should read as not ended"
steps=$("$L7TOP" query --db "$DB" --step 1s --format csv | tail -n +2 | wc -l)
[[ $steps -ge 3 ]] || it_fail "--step 1s gave $steps rows, want >= 3"
"$L7TOP" query --db "$DB" --sessions --format csv | head -1 |
	grep -qx 'id,start,end,target,pids,version,capture,settings,notes' || it_fail "--sessions csv header"
it_log "kill -9: ok (integrity ok, $steps step rows, session left open)"

# ---- 2. corrupt file ---------------------------------------------------------
cp "$DB" "$T/bad.db"
rm -f "$T/bad.db-wal" "$T/bad.db-shm"
printf 'this is not the SQLite header, it is garbage........................................\n' |
	dd of="$T/bad.db" bs=1 seek=0 conv=notrunc status=none
# The DB error is one line, names the file, starts with "l7top" and is the
# last thing said (l7top may log progress lines such as "l7top: tls: probes
# on ..." before it opens the DB; those are not about the DB).
expect_one_line() {
	local what=$1 rc=$2 err=$3 lines
	lines=$(grep -c 'bad\.db' "$err" || true)
	it_log "$what: exit $rc, stderr: $(tail -1 "$err" | head -c 200)"
	[[ $rc -ne 0 && $rc -ne 124 ]] || it_fail "$what: exit $rc, want non-zero (and not a hang)"
	[[ $lines -eq 1 ]] || { it_show "stderr" "$err"; it_fail "$what: $lines lines about the DB on stderr, want 1"; }
	tail -1 "$err" | grep -q '^l7top.*bad\.db' ||
		{ it_show "stderr" "$err"; it_fail "$what: the last line is not an l7top message naming the file"; }
}
rc=0
timeout 10 "$L7TOP" --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/bad.db" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
expect_one_line "l7top on a corrupt DB" "$rc" "$T/bad.err"
rc=0
timeout 10 "$L7TOP" query --db "$T/bad.db" >"$T/badq.out" 2>"$T/badq.err" || rc=$?
expect_one_line "l7top query on a corrupt DB" "$rc" "$T/badq.err"

# ---- 3. full disk ------------------------------------------------------------
FULL_MNT=$T/full
mkdir -p "$FULL_MNT"
mount -t tmpfs -o size=300k tmpfs "$FULL_MNT" || it_fail "cannot mount a tmpfs (need root)"
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$FULL_MNT/h.db"
traffic 20
wait_sql_ge "$FULL_MNT/h.db" "select count(*) from intervals" 10 1 ||
	it_fail "nothing written to the tmpfs DB"
# Fill what is left, then keep the traffic going so every interval writes.
dd if=/dev/zero of="$FULL_MNT/filler" bs=4k status=none 2>/dev/null || true
it_log "tmpfs full: $(df -k "$FULL_MNT" | awk 'NR == 2 { print $3 "k used, " $4 "k free" }')"
seen=""
for i in $(seq 1 20); do
	traffic 30 "/users/$i"
	sleep 0.5
	if grep -q 'DB write failed' "$T/l7top.out"; then
		seen=$(grep -m1 'DB write failed' "$T/l7top.out")
		break
	fi
done
[[ -n $seen ]] || { tail -3 "$T/l7top.out"; it_fail "the batch header never showed a DB error on a full disk"; }
it_log "batch header: ...${seen##*| }"
grep -q 'full' <<<"$seen" || it_fail "the DB error does not say the disk is full: ${seen##*| }"
before=$(grep -c '^l7top ' "$T/l7top.out")
traffic 20
sleep 2.5
after=$(grep -c '^l7top ' "$T/l7top.out")
kill -0 "$L7_PID" 2>/dev/null || it_fail "l7top died on a full disk"
[[ $after -gt $before ]] || it_fail "l7top stopped printing on a full disk ($before → $after headers)"
tail -1 "$T/l7top.out" >/dev/null
it_log "still printing on a full disk: $before → $after batch headers"
it_l7top_stop
cleanup_mount
FULL_MNT=""
it_log "full disk: ok"
