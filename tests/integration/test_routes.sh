#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Route naming against real NGINX (issue 18).
#  1. Learned folding: a mix of slugs (/blog/...), names (/u/NAME/posts) and
#     SKUs (/products/SKU-n) gives one row per template in `l7top query`
#     (rows stored before a fold was learned are folded by query), and the
#     same traffic after a restart, on the same DB, gives the same rows from
#     its first request.
#  2. --route/--routes: every request of the mix lands on the named route.
# Every count is compared with the access log, folded the same way here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl sqlite3 "$PY"
it_require_l7top
it_setup

P=$(it_free_port)
it_nginx_conf "$P" <<'CONF'
        location / { return 200 'ok\n'; }
CONF
it_nginx_start
it_log "nginx master $NGINX_PID on 127.0.0.1:$P"

# 40 slugs, 30 names, 25 SKUs, 20 versioned item paths, 5 static files, /search
"$PY" - "$T/urls" <<'PY'
import sys
urls = ["/blog/post-about-thing-%d" % i for i in range(40)]
urls += ["/u/user%s%d/posts" % (chr(97 + i % 26), i) for i in range(30)]
urls += ["/products/SKU-%04d" % (i * 37) for i in range(25)]
urls += ["/api/v%d/items/item-%d" % (1 + i % 2, i) for i in range(20)]
urls += ["/static/css/site%d.css" % i for i in range(5)] + ["/search?q=x"] * 3
open(sys.argv[1], "w").write("".join("url = \"http://127.0.0.1:%s%s\"\n" % ("PORT", u) for u in urls))
PY
sed -i "s/PORT/$P/" "$T/urls"
nurls=$(wc -l <"$T/urls")

run_mix() {   # run_mix NAME ARGS...: l7top with ARGS while curl sends the mix once
	local name=$1
	shift
	it_l7top_start --pid "$NGINX_PID" --no-tui --interval 1 --db "$T/l7.db" "$@"
	# Right after a restart l7top has been seen to miss the first 100 ms or
	# so of traffic: start the mix once it has shown a warm-up request.
	local n=50
	until grep -q ' /warmup ' "$T/l7top.out"; do
		((n-- > 0)) || it_fail "$name: l7top never showed GET /warmup"
		curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$P/warmup"
		sleep 0.3
	done
	: >"$T/access.log"
	curl -sS --max-time 20 -o /dev/null -K "$T/urls"
	it_wait_log_lines "$nurls" 10 || it_fail "$name: access log has $(wc -l <"$T/access.log") lines"
	cp "$T/access.log" "$T/$name.log"
	sleep 1.5
	it_l7top_stop
	cp "$T/l7top.err" "$T/$name.err"
}

# The templates the log's paths should land on; awk folds like l7top would.
expect() {   # expect LOG MODE: "requests method route" per template, sorted
	awk -F'\t' -v mode="$2" '{
		p = $2; sub(/\?.*/, "", p)
		if (mode == "learn") {
			if (p ~ /^\/blog\//) p = "/blog/{*}"
			else if (p ~ /^\/u\/[^\/]+\/posts$/) p = "/u/{*}/posts"
			else if (p ~ /^\/products\//) p = "/products/{*}"
		} else {
			if (p ~ /^\/api\/v[^\/]+\/items\/[^\/]+$/) p = "/api/v{version}/items/{sku}"
			else if (p ~ /^\/u\/[^\/]+\/posts$/) p = "/u/{user}/posts"
			else if (p ~ /^\/static\//) p = "/static/*"
			else if (p ~ /^\/blog\/[^\/]+$/) p = "/blog/{slug}"
			else if (p ~ /^\/products\/SKU-[^\/]+$/) p = "/products/SKU-{n}"
		}
		n[$1 " " p]++
	} END { for (k in n) print n[k], k }' "$1" | sort -k3
}
got() {   # got [QUERY ARGS]: "requests method route" per row, sorted
	"$L7TOP" query --db "$T/l7.db" --format csv --limit 1000 "$@" |
		awk -F, 'NR > 1 && $2 != "/warmup" { print $3, $1, $2 }' | sort -k3
}
check() {   # check WHAT WANT_FILE GOT_FILE
	if ! diff -u "$2" "$3" >"$T/diff"; then
		it_show "$1: access log (-) vs l7top (+)" "$T/diff" 40
		it_fail "$1: rows differ from the access log"
	fi
	it_log "$1: $(wc -l <"$3") rows equal to the access log ($(awk '{s += $1} END {print s}' "$3") requests)"
}

run_mix first
expect "$T/first.log" learn >"$T/want1"
got >"$T/got1"
check "learned folding, first run (query folds the early rows)" "$T/want1" "$T/got1"
folds=$(sqlite3 "$T/l7.db" "SELECT group_concat(prefix, ' ') FROM (SELECT prefix FROM folds ORDER BY prefix)")
it_log "folds in the DB: $folds; stderr: $(grep -c 'learned fold' "$T/first.err") 'learned fold' lines"
[[ $folds == "/blog/ /products/ /u/" ]] || it_fail "learned folds '$folds', want '/blog/ /products/ /u/'"
# /api/v1 and /api/v2 have 10 items each: under the bound, no fold, their own rows
[[ $(grep -c '^1 GET /api/v' "$T/got1") -eq 20 ]] || it_fail "the 20 item paths should keep their rows"

run_mix second
expect "$T/second.log" learn >"$T/want2"
got --session 2 >"$T/got2"
check "after a restart (session 2 alone)" "$T/want2" "$T/got2"
# Raw rows of session 2: one per template from its first request, no early rows.
raw=$(sqlite3 "$T/l7.db" "SELECT count(DISTINCT e.route) FROM endpoint_stats s JOIN endpoints e
	ON e.id = s.endpoint_id WHERE s.session_id = 2 AND e.route LIKE '/blog/%'")
[[ $raw -eq 1 ]] || it_fail "session 2 stored $raw /blog/ routes, want 1 (/blog/{*})"

printf '%s\n' '# routes for the mix' '/u/{user}/posts' '/static/*   # every static file' \
	'/blog/{slug}' >"$T/routes"
rm -f "$T/l7.db"
run_mix named --route '/api/v{version}/items/{sku}' --routes "$T/routes" \
	--route '/products/SKU-{n}' --route /search
expect "$T/named.log" named >"$T/want3"
got >"$T/got3"
check "--route/--routes" "$T/want3" "$T/got3"
[[ $(wc -l <"$T/got3") -eq 6 ]] || it_fail "want 6 named routes, got $(wc -l <"$T/got3")"

# A pattern file that does not parse: one line naming the line, exit 2.
printf '/ok\n# comment\n/bad{\n' >"$T/bad.routes"
rc=0
"$L7TOP" --pid "$NGINX_PID" --no-db --routes "$T/bad.routes" >/dev/null 2>"$T/bad.err" || rc=$?
[[ $rc -eq 2 && $(wc -l <"$T/bad.err") -eq 1 ]] && grep -q 'bad.routes:3:' "$T/bad.err" ||
	{ it_show "stderr" "$T/bad.err"; it_fail "bad pattern file: exit $rc, want 2 and one line naming line 3"; }
it_log "bad pattern file: $(cat "$T/bad.err")"
