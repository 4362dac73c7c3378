#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# History through main (issue 6): virtual hosts, the request log and the
# new options, end to end — l7top --retention/--slow-ms/--log-status against
# a real NGINX, read back with `l7top query --by-host`, `--requests`,
# `--sessions`; and a read-only DB directory must leave the live view running.
#
# These need src/main.c to hand the store the collector's snapshot as is
# (per-host rows and request log, not snapshot_fold_hosts()'s copy) and to
# accept the options; until it does, this test fails saying which part is
# missing, rather than passing on an empty DB.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl sqlite3 mount umount "$PY"
it_require_l7top
it_setup

RO_MNT=""
trap 'rc=$?; [[ -n $RO_MNT ]] && umount -l "$RO_MNT" 2>/dev/null; it__on_exit $rc' EXIT

help=$("$L7TOP" --help 2>&1 || true)
missing=()
for opt in --retention --slow-ms --log-status; do
	grep -q -- "$opt" <<<"$help" || missing+=("$opt")
done
[[ ${#missing[@]} -eq 0 ]] ||
	it_fail "l7top --help lacks ${missing[*]}: src/main.c must parse them and call store_set_retention() / the collector's request-log settings (issue 6)"

P=$(it_free_port)
B=http://127.0.0.1:$P
it_nginx_conf "$P" <<'EOF'
        location /users/ { return 200 'user\n'; }
        location = /fail { return 500 'no\n'; }
        location = /missing { return 404 'gone\n'; }
        location / { return 200 'hi\n'; }
EOF
it_nginx_start

DB=$T/h.db
it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$DB" \
	--retention 7d --slow-ms 100 --log-status 400

# 30 + 20 requests to GET /users/{id} under two hosts, 3 errors, 2 404s.
for i in $(seq 1 30); do curl -s -H 'Host: a.example' "$B/users/$i" >/dev/null; done
for i in $(seq 1 20); do curl -s -H 'Host: B.Example:8080' "$B/users/$i" >/dev/null; done
for i in 1 2 3; do curl -s -H 'Host: a.example' "$B/fail?token=secret$i" >/dev/null; done
for i in 1 2; do curl -s -H 'Host: b.example' "$B/missing" >/dev/null; done
sleep 2.5
it_l7top_stop

q() { "$L7TOP" query --db "$DB" "$@"; }

# Totals without --by-host: one row for GET /users/{id}, summed across hosts.
tot=$(q --format csv)
users=$(awk -F, '$1 == "GET" && $2 == "/users/{id}" { print $3 }' <<<"$tot")
[[ $users == 50 ]] || { echo "$tot"; it_fail "GET /users/{id}: '$users' requests summed across hosts, want 50"; }

# --by-host: host first, lower-cased, port dropped; the rows sum to the total.
byh=$(q --by-host --format csv)
head -1 <<<"$byh" | grep -q '^host,method,route,requests,' || it_fail "--by-host csv header: $(head -1 <<<"$byh")"
a=$(awk -F, '$1 == "a.example" && $3 == "/users/{id}" { print $4 }' <<<"$byh")
b=$(awk -F, '$1 == "b.example" && $3 == "/users/{id}" { print $4 }' <<<"$byh")
[[ $a == 30 && $b == 20 ]] ||
	{ echo "$byh"; it_fail "--by-host: a.example=$a b.example=$b, want 30 and 20 (is main pushing the per-host snapshot, not snapshot_fold_hosts()?)"; }

# The request log: 3 errors (5xx) and 2 404s (--log-status 400), no query string.
errs=$(q --requests --errors --by-host --format csv)
head -1 <<<"$errs" | grep -qx 'host,ts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid' ||
	it_fail "--requests csv header: $(head -1 <<<"$errs")"
n500=$(awk -F, '$6 == 500 && $5 == "/fail" && $1 == "a.example"' <<<"$errs" | wc -l)
n404=$(awk -F, '$6 == 404 && $5 == "/missing"' <<<"$errs" | wc -l)
[[ $n500 -eq 3 && $n404 -eq 2 ]] ||
	{ echo "$errs"; it_fail "request log: $n500 x 500 and $n404 x 404, want 3 and 2 (main must push s->reqs and pass --log-status)"; }
grep -q 'secret' <<<"$errs" && it_fail "a query string reached the DB"
sqlite3 "$DB" "select count(*) from requests where path like '%?%' or path like '%secret%'" | grep -qx 0 ||
	it_fail "a query string reached the requests table"
awk -F, 'NR > 1 && ($10 == "" || $11 == 0)' <<<"$errs" | grep -q . &&
	it_log "note: some request-log rows lack client or pid"
q --requests --slowest 2 --format csv | head -1 |
	grep -qx 'ts,method,route,path,status,latency_ms,bytes_in,bytes_out,client,pid' || it_fail "--slowest csv header"

# The session records target, pids, version and the capture settings.
sess=$(q --sessions --format csv)
line=$(tail -1 <<<"$sess")
grep -q 'nginx' <<<"$line" || it_fail "session target lacks the command line: $line"
grep -q 'slow_ms=100' <<<"$line" && grep -q 'log_status=400' <<<"$line" && grep -q 'retention' <<<"$line" ||
	it_fail "session settings lack slow_ms/log_status/retention: $line"
cap=$(sqlite3 "$DB" "select coalesce(capture, '') from sessions order by id desc limit 1")
[[ -n $cap ]] || it_fail "sessions.capture is empty: main must set store_session.capture"
it_log "hosts, request log and session: ok (capture=$cap)"

# A read-only DB directory: one line on stderr, the live view keeps going.
RO_MNT=$T/ro
mkdir -p "$RO_MNT"
mount -t tmpfs -o ro,size=64k tmpfs "$RO_MNT" || it_fail "cannot mount a read-only tmpfs"
"$L7TOP" --pid "$NGINX_PID" --no-tui --interval 1 --db "$RO_MNT/x.db" >"$T/ro.out" 2>"$T/ro.err" &
L7_PID=$!
sleep 3
curl -s "$B/users/1" >/dev/null
sleep 1.5
kill -0 "$L7_PID" 2>/dev/null ||
	{ it_show "stderr" "$T/ro.err"; L7_PID=""; it_fail "l7top exited on a read-only DB directory (want: one-line error, live view keeps going)"; }
n=$(grep -c 'ro/x\.db' "$T/ro.err" || true)
[[ $n -eq 1 ]] || { it_show "stderr" "$T/ro.err"; it_fail "read-only directory: $n lines about the DB, want 1"; }
grep -q '^l7top ' "$T/ro.out" || it_fail "no batch output with a read-only DB directory"
it_l7top_stop
it_log "read-only directory: ok ($(grep 'ro/x\.db' "$T/ro.err"))"
