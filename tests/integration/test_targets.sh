#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Targets: an NGINX reverse proxy (frontend) and its NGINX backend watched
# by one l7top (--pid front,back). The proxy passes /api/ to the backend,
# serves /static/ itself; the backend is also called directly (/internal/).
# Before targets, both servers' rows merged and a proxied route counted
# twice. Per target, every endpoint's count and status classes must equal
# that server's own access log exactly, in the --json lines, in the DB
# (query --target, and query --by-target splitting them) and in /metrics
# (its target label). Then one l7top on the frontend alone: its output
# carries no target of its own (as before targets) and counts its log.
set -euo pipefail
export LC_ALL=C.UTF-8
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tmux_lib.sh"

it_require_tools nginx curl jq tmux "$PY"
it_require_l7top
it_setup
tmux_setup targets

FE=$(it_free_port)
BE=$(it_free_port)
MP=$(it_free_port)    # l7top's /metrics
ROOT=$T

# Two NGINX instances, each with its own prefix, log and port: lib.sh's
# config writer puts everything under $T, so $T points at each in turn.
mkdir -p "$ROOT/back/html" "$ROOT/back/tmp"
chmod 755 "$ROOT/back"
T=$ROOT/back
it_nginx_conf "$BE" <<'EOF'
        location /api/users/ { return 200 'user\n'; }
        location = /api/orders { return 201 'created\n'; }
        location = /api/boom { return 503; }
        location = /internal/health { return 204; }
        location /late/ { return 200 'late\n'; }
EOF
T=$ROOT
# In the foreground, so the test's exit kills it (it_bg); its master is the pid.
it_bg nginx -e "$ROOT/back/error.log" -c "$ROOT/back/nginx.conf" -p "$ROOT/back" -g 'daemon off;'
BACK_PID=${IT_BG_PIDS[-1]}

it_nginx_conf "$FE" <<EOF
        location /api/ { proxy_pass http://127.0.0.1:$BE; }
        location /static/ { return 200 'front\n'; }
EOF
it_nginx_start
FRONT_PID=$NGINX_PID
n=50
until [[ $(pgrep -P "$BACK_PID" | wc -l) -ge 2 ]]; do
	((n-- > 0)) || { it_show "backend error.log" "$ROOT/back/error.log"; it_fail "backend nginx did not start"; }
	sleep 0.1
done
FN="nginx[$FRONT_PID]" BN="nginx[$BACK_PID]"
it_log "frontend $FN on :$FE proxies /api/ to backend $BN on :$BE"

it_l7top_start --pid "$FRONT_PID,$BACK_PID" --json --interval 1 --db "$T/l7.db" \
	--prometheus "127.0.0.1:$MP"
grep -qF "watching $FN,$BN " "$T/l7top.err" || it_fail "the watching line does not name both targets"

# --- bounded traffic, distinct routes ----------------------------------------
C=(curl -sS --max-time 10)
urls() { local base=$1 path=$2 n=$3 i; for i in $(seq 1 "$n"); do echo "$base$path${4:+$((RANDOM % 900 + 1))}"; done; }
traffic() {
	local r
	for r in 1 2 3; do
		"${C[@]}" $(urls "http://127.0.0.1:$FE" /api/users/ 20 id) $(urls "http://127.0.0.1:$FE" /api/orders 6) \
			$(urls "http://127.0.0.1:$FE" /static/app.css 10) >/dev/null
		"${C[@]}" $(urls "http://127.0.0.1:$FE" /api/boom 2) >/dev/null || true
		"${C[@]}" $(urls "http://127.0.0.1:$BE" /internal/health 4) $(urls "http://127.0.0.1:$BE" /api/users/ 3 id) >/dev/null
	done
	local fe_want=$(( 3 * (20 + 6 + 10 + 2) )) be_want=$(( 3 * (20 + 6 + 2 + 4 + 3) ))
	T=$ROOT/back it_wait_log_lines "$be_want" 10 || it_fail "the backend logged $(wc -l <"$ROOT/back/access.log"), want $be_want"
	it_wait_log_lines "$fe_want" 10 || it_fail "the frontend logged $(wc -l <"$T/access.log"), want $fe_want"
	sleep 2.5   # an interval closes after the last request
}
# Starts each server's access log afresh (NGINX reopens it on USR1).
rotate() {
	local dir pid n
	for dir in "$@"; do
		pid=$FRONT_PID; [[ $dir == "$ROOT/back" ]] && pid=$BACK_PID
		mv "$dir/access.log" "$dir/access.$SECONDS.log"
		kill -USR1 "$pid"
		n=50
		until [[ -e $dir/access.log ]]; do ((n-- > 0)) || it_fail "nginx $pid did not reopen its log"; sleep 0.1; done
	done
}
traffic
curl -sS --max-time 5 "http://127.0.0.1:$MP/metrics" >"$T/scrape.prom" || it_fail "scrape failed"
it_l7top_stop

"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --emit-csv >"$T/front.want.csv"
"$PY" "$IT_DIR/compare.py" --log "$ROOT/back/access.log" --emit-csv >"$T/back.want.csv"
for who in front back; do
	name=$FN; [[ $who == back ]] && name=$BN
	"$L7TOP" query --db "$T/l7.db" --target "$name" --format csv >"$T/$who.db.csv" 2>"$T/query.err" ||
		{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query --target $name failed"; }
done
"$L7TOP" query --db "$T/l7.db" --by-target --format csv >"$T/by_target.csv" ||
	it_fail "l7top query --by-target failed"
"$L7TOP" query --db "$T/l7.db" --sessions --format csv >"$T/sessions.csv" || it_fail "query --sessions failed"

# One checker for the three outputs: per target and endpoint (method,
# route), requests and every status class equal the log's.
cat >"$T/check.py" <<'PY'
import csv, json, re, sys

def rows(path, target_col=False):
    out = {}
    with open(path, newline="") as f:
        for d in csv.DictReader(f):
            key = ((d["target"],) if target_col else ()) + (d["method"], d["route"])
            out[key] = tuple(int(d[c]) for c in ("requests", "s1xx", "s2xx", "s3xx", "s4xx", "s5xx"))
    return out

def add(m, key, v):
    old = m.get(key, (0,) * len(v))
    m[key] = tuple(a + b for a, b in zip(old, v))

def same(what, got, want):
    if got == want:
        print("  %s: %d endpoints, %d requests: equal to the access log" %
              (what, len(want), sum(v[0] for v in want.values())))
        return True
    print("  %s differs from the access log:" % what)
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            print("    %s: l7top %s, log %s" % (" ".join(k), got.get(k), want.get(k)))
    return False

root, fn, bn = sys.argv[1:4]
want = {fn: rows(root + "/front.want.csv"), bn: rows(root + "/back.want.csv")}
ok = True
# the DB, one target at a time and split by --by-target
for who, name in (("front", fn), ("back", bn)):
    ok &= same("DB %s" % name, rows("%s/%s.db.csv" % (root, who)), want[name])
split = rows(root + "/by_target.csv", True)
for name in (fn, bn):
    ok &= same("query --by-target %s" % name,
               {k[1:]: v for k, v in split.items() if k[0] == name}, want[name])
extra = {k for k in split if k[0] not in (fn, bn)}
if extra:
    print("  query --by-target has rows of no target: %s" % sorted(extra)); ok = False
# --json: every endpoint line names its target; sums over the intervals
js = {fn: {}, bn: {}}
for line in open(root + "/l7top.out"):
    o = json.loads(line)
    if "route" not in o:
        continue
    if o.get("target") not in js:
        print("  a --json line without a known target: %s" % line.strip()); ok = False; continue
    add(js[o["target"]], (o["method"], o["route"]),
        (o["requests"], o["s1xx"], o["s2xx"], o["s3xx"], o["s4xx"], o["s5xx"]))
for name in (fn, bn):
    ok &= same("--json %s" % name, js[name], want[name])
# /metrics: requests per target label (statuses summed into classes)
pm = {fn: {}, bn: {}}
pat = re.compile(r'^l7top_http_requests_total\{target="([^"]*)",host="[^"]*",method="([^"]*)",'
                 r'route="([^"]*)",status="([^"]*)"\} (\d+)$')
for line in open(root + "/scrape.prom"):
    m = pat.match(line.strip())
    if not m:
        continue
    t, method, route, st, n = m.groups()
    if t not in pm:
        print("  /metrics series of target %r" % t); ok = False; continue
    v = [int(n), 0, 0, 0, 0, 0]
    if st.isdigit() and 100 <= int(st) < 600:
        v[int(st) // 100] = int(n)
    add(pm[t], (method, route), tuple(v))
for name in (fn, bn):
    ok &= same("/metrics target=%s" % name, pm[name], want[name])
sys.exit(0 if ok else 1)
PY
"$PY" "$T/check.py" "$T" "$FN" "$BN" || it_fail "per-target counts differ from the servers' logs"
fe_api=$(grep -c $'^GET\t/api/users/' "$T/access.log") be_api=$(grep -c $'^GET\t/api/users/' "$ROOT/back/access.log")
it_log "GET /api/users/{id}: frontend log $fe_api, backend log $be_api (each its own row, not $((fe_api + be_api)))"
grep -qF "targets=$FN,$BN" "$T/sessions.csv" || { cat "$T/sessions.csv"; it_fail "the session row does not name both targets"; }

# --- the live view: a TARGET column, rows per target, `t` folds them ----------
rotate "$ROOT" "$ROOT/back"
tm new-session -d -s "$SESSION" -x 160 -y 40 \
	"LANG=C.UTF-8 TERM=tmux-256color '$L7TOP' --pid $FRONT_PID,$BACK_PID --no-db --interval 1 \
	 2>'$T/tui.err'; echo \$? >'$T/rc'; sleep 30"
tm set-option -t "$SESSION" window-size manual >/dev/null 2>&1 || true
wait_screen 'TARGET +METHOD +ROUTE' 150 || { shot; fail_screen "no TARGET column in the live view"; }
traffic
keys w; keys w; keys w                      # window: since start
wait_screen 'window since start' || { shot; fail_screen "the window did not change to since start"; }
sleep 1.5
shot
# TARGET METHOD ROUTE REQ/S TOTAL ...: TOTAL per target and endpoint, as a CSV for check.py's rows()
tui_csv() {
	echo "target,method,route,requests,s1xx,s2xx,s3xx,s4xx,s5xx"
	awk '$1 ~ /^nginx\[/ && $3 ~ /^\// { print $1 "," $2 "," $3 "," $5 ",0,0,0,0,0" }' "$SHOT_F"
}
tui_csv >"$T/tui.csv"
"$PY" "$IT_DIR/compare.py" --log "$T/access.log" --emit-csv >"$T/front2.want.csv"
"$PY" "$IT_DIR/compare.py" --log "$ROOT/back/access.log" --emit-csv >"$T/back2.want.csv"
"$PY" - "$T" "$FN" "$BN" <<'PY' || fail_screen "live view counts per target differ from the servers' logs"
import csv, sys
root, fn, bn = sys.argv[1:4]
def req(path, key):
    return {key(d): int(d["requests"]) for d in csv.DictReader(open(path))}
got = req(root + "/tui.csv", lambda d: (d["target"], d["method"], d["route"]))
want = {}
for name, f in ((fn, "front2"), (bn, "back2")):
    for (m, r), n in req("%s/%s.want.csv" % (root, f), lambda d: (d["method"], d["route"])).items():
        want[(name, m, r)] = n
if got != want:
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            print("  live view %s: TOTAL %s, log %s" % (" ".join(k), got.get(k), want.get(k)))
    sys.exit(1)
print("  live view: %d rows (target, endpoint), TOTAL equal to each server's log" % len(want))
PY
keys t
wait_screen '^ *METHOD +ROUTE' || { shot; fail_screen "t did not fold the targets (TARGET column still there)"; }
shot
folded=$(awk '$1 == "GET" && $2 == "/api/users/{id}" { print $4 }' "$SHOT_F")
fe_api=$(grep -c $'^GET\t/api/users/' "$T/access.log") be_api=$(grep -c $'^GET\t/api/users/' "$ROOT/back/access.log")
[[ $folded == $((fe_api + be_api)) ]] ||
	fail_screen "folded GET /api/users/{id} shows TOTAL '$folded', the two logs $((fe_api + be_api))"
it_log "live view: t folds GET /api/users/{id} into one row of $folded = $fe_api + $be_api"
keys q
n=50
until [[ -s $T/rc ]]; do ((n-- > 0)) || { shot; fail_screen "q did not quit"; }; sleep 0.1; done
[[ $(cat "$T/rc") == 0 ]] || it_fail "the live view exited $(cat "$T/rc")"

# --- one target: output as before targets -------------------------------------
rotate "$ROOT"
it_l7top_start --pid "$FRONT_PID" --json --no-db --interval 1
"${C[@]}" $(urls "http://127.0.0.1:$FE" /static/one.css 7) >/dev/null
it_wait_log_lines 7 10 || it_fail "the frontend logged $(wc -l <"$T/access.log"), want 7"
sleep 2.5
it_l7top_stop
grep -q '"target"' "$T/l7top.out" && it_fail "one target: --json lines carry a target key"
got=$(jq -s '[.[] | select(.route == "/static/one.css") | .requests] | add' "$T/l7top.out")
[[ $got -eq 7 ]] || it_fail "one target: /static/one.css counted $got, the log has 7"
grep -qF "l7top: watching $FN (" "$T/l7top.err" || it_fail "one target: the watching line changed"
it_log "one target: no target key, /static/one.css 7 = the log"

# --- a root killed with -9: its workers stay its target -----------------------
it_l7top_start --pid "$FRONT_PID,$BACK_PID" --json --no-db --interval 1
workers=$(pgrep -P "$BACK_PID" | tr '\n' ' ')
kill -KILL "$BACK_PID"
# The orphaned workers are ours to end (the exit trap knows only the master).
trap 'rc=$?; kill $workers 2>/dev/null; tmux -L "$SOCK" kill-server 2>/dev/null || true; it__on_exit $rc' EXIT
sleep 3          # a rescan (every 2 s) adopts them
"${C[@]}" $(urls "http://127.0.0.1:$BE" /late/x 9) >/dev/null
"${C[@]}" $(urls "http://127.0.0.1:$FE" /static/late.css 4) >/dev/null
sleep 2.5
it_l7top_stop
late() { jq -s --arg t "$1" --arg r "$2" '[.[] | select(.route == $r and .target == $t) | .requests] | add // 0' "$T/l7top.out"; }
[[ $(late "$BN" /late/x) -eq 9 ]] ||
	it_fail "after kill -9 of $BN, its workers' /late/x counted $(late "$BN" /late/x) under $BN, want 9 ($(jq -c 'select(.route == "/late/x")' "$T/l7top.out"))"
[[ $(late "$FN" /static/late.css) -eq 4 ]] || it_fail "$FN's /static/late.css counted $(late "$FN" /static/late.css), want 4"
it_log "kill -9 of the backend's master: its workers ($workers) still count as $BN (/late/x 9 of 9)"
