#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The live view, for real: l7top attached to NGINX inside a tmux pane
# (120x40), driven with send-keys and read back with capture-pane.
#   - it opens the live view (alternate screen), not the batch output
#   - the expected routes are on screen
#   - a sort key (E: errors) changes the order
#   - '/' filters the rows
#   - Enter opens the detail (latency bars, status codes), Esc goes back
#   - resize to 80x24 and back redraws within bounds
#   - 'q' exits 0 and the DB holds the data
set -euo pipefail
export LC_ALL=C.UTF-8
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tmux_lib.sh"

it_require_tools tmux sqlite3 nginx curl
it_require_l7top
it_setup

tmux_setup tui
# Route column of the table rows in the last shot (lines 7.. to the footer).
routes() { sed -n '7,$p' "$SHOT_F" | awk '$2 ~ /^\// { print $2 }'; }

PORT=$(it_free_port)
it_nginx_conf "$PORT" <<'EOF2'
        location = /api/users { return 200 "users\n"; }
        location = /api/orders { return 201 "created\n"; }
        location = /missing { return 404; }
        location = /static/app.js { return 200 "console.log(1)\n"; }
EOF2
it_nginx_start

# Traffic with clear ratios: users >> static > orders > missing (all 404).
traffic() {
	local base="http://127.0.0.1:$PORT"
	while :; do
		curl -s "$base/api/users" "$base/api/users" "$base/api/users" "$base/api/users" \
			"$base/static/app.js" "$base/static/app.js" "$base/api/orders" "$base/missing" \
			>/dev/null 2>&1 || true
		sleep 0.05
	done
}
it_bg traffic

# l7top in a detached 120x40 pane; its stderr and exit status go to files.
tm new-session -d -s "$SESSION" -x 120 -y 40 \
	"LANG=C.UTF-8 TERM=tmux-256color '$L7TOP' --pid $NGINX_PID --db '$T/t.db' --interval 1 \
	 2>'$T/l7top.err'; echo \$? >'$T/rc'; sleep 30"
tm set-option -t "$SESSION" window-size manual >/dev/null 2>&1 || true

# 1. The live view: the alternate screen is on and the table is drawn.
n=150
while ((n-- > 0)); do
	[[ $(tm display -p -t "$SESSION" '#{alternate_on}') == 1 ]] && break
	if [[ -s $T/rc ]]; then
		shot
		fail_screen "l7top exited ($(cat "$T/rc")) before opening the live view"
	fi
	sleep 0.1
done
if [[ $(tm display -p -t "$SESSION" '#{alternate_on}') != 1 ]]; then
	shot
	it_show "l7top stderr" "$T/l7top.err"
	fail_screen "l7top did not open the live view within 15 s (no alternate screen: batch output on a terminal?). Until src/main.c calls tui_start() (issue 5) this is expected to fail."
fi
it_log "live view open"

# 2. Expected routes on screen.
wait_screen '/api/users' 100 || { shot; fail_screen "route /api/users not on screen"; }
wait_screen '/missing' 50 || { shot; fail_screen "route /missing not on screen"; }
wait_screen 'METHOD +ROUTE +REQ/S +TOTAL +2XX +3XX +4XX +5XX +ERR% +P50 +P90 +P99 +MAX +IN/S +OUT/S' 20 ||
	{ shot; fail_screen "column titles missing at 120x40"; }
shot
sed -n '1,12p' "$SHOT_F" | sed 's/^/  | /'
# Since start: steadier numbers for the order checks.
keys w w w
wait_screen 'window since start' 20 || { shot; fail_screen "'w' did not reach 'since start'"; }
sleep 1.2
shot
first=$(routes | head -1)
[[ $first == /api/users ]] || fail_screen "busiest first: want /api/users on top, got '$first'"

# 3. Sort by errors: the 404-only route goes to the top.
keys E
wait_screen 'sort ERR% desc' 20 || { shot; fail_screen "E did not sort by ERR%"; }
shot
first=$(routes | head -1)
[[ $first == /missing ]] || fail_screen "after E: want /missing on top, got '$first'"
it_log "sort: E puts /missing first"
keys R

# 4. Filter.
keys / a p i
wait_screen 'Filter route: api_' 20 || { shot; fail_screen "the filter prompt did not show"; }
keys Enter
wait_screen 'filter api' 20 || { shot; fail_screen "filter not applied"; }
shot
mapfile -t rows < <(routes)
[[ ${#rows[@]} -eq 2 ]] || fail_screen "filter 'api': want 2 rows, got ${#rows[@]}: ${rows[*]}"
for r in "${rows[@]}"; do
	[[ $r == *api* ]] || fail_screen "filter 'api' shows $r"
done
it_log "filter: ${rows[*]}"
keys / Escape
wait_screen '/static/app.js' 20 || { shot; fail_screen "Esc did not clear the filter"; }

# 5. Detail of the selected (top) row, and back.
keys Home Enter
wait_screen 'Latency \(' 20 || { shot; fail_screen "Enter did not open the detail"; }
wait_screen 'Status codes +200 ' 30 || { shot; fail_screen "detail: no status codes"; }
shot
sed -n '6,24p' "$SHOT_F" | sed 's/^/  | /'
grep -q '█\|#' "$SHOT_F" || fail_screen "detail: no histogram bar"
keys Escape
wait_screen 'METHOD +ROUTE' 20 || { shot; fail_screen "Esc did not go back to the table"; }

# 6. Resize to 80x24 and back.
check_bounds() {
	local w=$1 h=$2 f
	local lines
	f=$SHOT_F
	lines=$(wc -l <"$f")
	[[ $lines -eq $h ]] || fail_screen "at ${w}x${h}: $lines lines captured"
	local l
	while IFS= read -r l; do            # ${#l}: characters (UTF-8 locale)
		((${#l} <= w)) || fail_screen "at ${w}x${h}: a line is wider than $w: $l"
	done <"$f"
	sed -n '6p' "$f" | grep -q '^METHOD' || fail_screen "at ${w}x${h}: column titles not on line 6"
	tail -1 "$f" | grep -q 'q Quit' || fail_screen "at ${w}x${h}: footer not on the last line"
}
tm resize-window -t "$SESSION" -x 80 -y 24
sleep 1.5
shot
check_bounds 80 24
grep -q 'OUT/S' "$SHOT_F" && fail_screen "80 columns: OUT/S should have been dropped"
grep -q '/api/users' "$SHOT_F" || fail_screen "80 columns: /api/users gone"
it_log "80x24 ok"
tm resize-window -t "$SESSION" -x 120 -y 40
sleep 1.5
shot
check_bounds 120 40
grep -q 'OUT/S' "$SHOT_F" || fail_screen "back at 120 columns: OUT/S missing"
it_log "120x40 ok"

# 7. q quits with 0 and the DB has the data.
keys q
n=100
while ((n-- > 0)) && [[ ! -s $T/rc ]]; do sleep 0.1; done
[[ -s $T/rc ]] || { shot; fail_screen "l7top still running 10 s after q"; }
rc=$(cat "$T/rc")
[[ $rc == 0 ]] || { it_show "l7top stderr" "$T/l7top.err"; it_fail "l7top exited $rc after q (want 0)"; }
[[ $(tm display -p -t "$SESSION" '#{alternate_on}') == 0 ]] || it_fail "terminal left in the alternate screen"
rows=$(sqlite3 "$T/t.db" 'SELECT count(*) FROM endpoint_stats')
it_log "endpoint_stats rows: $rows"
[[ $rows -gt 0 ]] || it_fail "no endpoint_stats rows in $T/t.db"
users=$(sqlite3 "$T/t.db" "SELECT coalesce(sum(s.requests), 0) FROM endpoint_stats s JOIN endpoints e ON e.id = s.endpoint_id WHERE e.route = '/api/users'")
[[ $users -gt 0 ]] || it_fail "no /api/users requests in the DB"
it_log "PASS: live view under tmux; /api/users requests stored: $users"
