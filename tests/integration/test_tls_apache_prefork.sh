#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Forked children and TLS: Apache httpd with mpm_prefork over HTTPS under wrk.
# Children are forked as load grows and retired after a few connections, and
# keep-alive is capped (MaxKeepAliveRequests 100), so many TLS connections are
# served by a child forked after l7top attached. Both modes must count exactly
# the access log, endpoint by endpoint. Keys mode's key probe sits on the
# library and keeps to the target through a tgid map the fork hook extends in
# the kernel before the child runs. Calls mode starts on the library too for
# a server of several processes: on per-process uprobes, moved to the library
# at the first fork, that first child lost its first requests in most runs
# (it served within the 6-12 ms the move took).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"
source "$(dirname "$0")/apache_lib.sh"

it_require_tools apache2 wrk curl openssl "$PY"
[[ -e $APACHE_MODS/mod_mpm_prefork.so && -e $APACHE_MODS/mod_ssl.so ]] ||
	it_fail "no mod_mpm_prefork/mod_ssl in $APACHE_MODS (run 'sudo make deps')"
it_require_l7top
it_setup
trap 'rc=$?; apache_stop; it__on_exit $rc' EXIT
tls_cert

PT=$(it_free_port)
apache_conf prefork "$PT" <<EOF
StartServers 1
MinSpareServers 1
MaxSpareServers 2
MaxRequestWorkers 12
ServerLimit 12
MaxConnectionsPerChild 30
KeepAlive On
MaxKeepAliveRequests 100
EOF
for i in $(seq 1 20); do echo "user $i" >"$T/apache/html/users/$i"; done
echo ok >"$T/apache/html/health"
chmod -R a+rX "$T/apache/html"

run_mode() {
	local mode=$1 before got logged mark
	apache_start
	it_l7top_start --pid "$APACHE_PID" --no-tui --interval 1 --db "$T/$mode.db" --tls "$mode"
	mapfile -t kids < <(apache_children)
	tls_wait_probed "$APACHE_PID" "${kids[@]}"
	grep -q "mode $mode" "$T/l7top.err" || it_fail "l7top is not in $mode mode"
	before=$(wc -l <"$T/apache/access.log" 2>/dev/null || echo 0)
	cat >"$T/paths.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then return wrk.format("GET", "/health") end
  return wrk.format("GET", "/users/" .. (n % 20 + 1))
end
LUA
	# Three bursts with pauses: children are forked, retired and forked again.
	for b in 1 2 3; do
		wrk -t2 -c8 -d2s -s "$T/paths.lua" "https://127.0.0.1:$PT/" | grep 'requests in' | sed "s/^/  wrk $mode burst $b: /"
		sleep 1.5
	done
	sleep 2
	it_l7top_stop
	apache_stop
	logged=$(($(wc -l <"$T/apache/access.log") - before))
	"$L7TOP" query --db "$T/$mode.db" --format csv >"$T/$mode.csv" 2>"$T/query.err" ||
		it_fail "l7top query failed"
	got=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/$mode.csv")
	forks=$(grep -c "tls: probes on" "$T/l7top.err")
	# What l7top counted as not read: connections, records, processes, and
	# what either ring dropped ("drops", "tls drops").
	unread=$(awk '{for (i = 1; i < NF; i++) if ($i == "undecryptable" || $i == "unprobed" || $i == "drops" || ($i == "lost" && $(i-1) == "tls")) n += $(i+1)} END {print n + 0}' "$T/l7top.out")
	it_log "$mode: l7top $got requests, access log $logged (processes probed: $forks; TLS not read, as counted: $unread)"
	tail -n +$((before + 1)) "$T/apache/access.log" >"$T/$mode.log"
	((got <= logged)) || it_fail "$mode: l7top counted $got requests, more than the $logged logged"
	if ((got < logged)); then
		# Not lost silently is the floor: a shortfall passes only when l7top
		# counted what it could not read, and the reason is printed (keys
		# mode lost one keep-alive connection, 101 requests, as "no keys" in
		# two CI runs; never reproduced in 96 runs alone).
		((unread > 0)) || it_fail "$mode: l7top $got requests, access log $logged, and nothing counted as not read"
		it_log "$mode: $((logged - got)) requests short, counted as not read ($unread): $(grep -o 'tls: [0-9]* sessions given up.*' "$T/l7top.err" || echo 'no session given up')"
		cp "$T/l7top.err" "$T/$mode.err"; cp "$T/l7top.out" "$T/$mode.out"
		return
	fi
	"$PY" "$IT_DIR/compare.py" --log "$T/$mode.log" --csv "$T/$mode.csv" --counts-only \
		--client-abort-field 7 >"$T/cmp.txt" 2>&1 ||
		{ sed 's/^/  | /' "$T/cmp.txt"; it_fail "$mode: per-endpoint counts differ"; }
	# wrk leaves mid-request at the end of each burst; Apache logs 200 for
	# a request it never got to answer (%X "X"), l7top counts it aborted.
	grep -o '[0-9]* logged with a status, the client gone[^)]*' "$T/cmp.txt" | sed "s/^/  $mode: /" || true
	# wrk stopped mid-connect sends a TLS alert before any ClientHello: not HTTP.
	perr=$(sqlite3 "$T/$mode.db" "select coalesce(sum(parse_errors), 0) + coalesce(sum(unpaired), 0) from intervals")
	((perr == 0)) || it_fail "$mode: $perr parse errors + unpaired on a server that answered every request"
	[[ $mode == keys ]] || grep -q "runs [0-9]* processes: calls probes on the library" "$T/l7top.err" ||
		it_fail "calls mode did not start on the library for a server of several processes"
	cp "$T/l7top.err" "$T/$mode.err"; cp "$T/l7top.out" "$T/$mode.out"
}

for m in ${IT_APACHE_MODES:-keys calls}; do   # one of them, when chasing a failure
	run_mode "$m"
done
