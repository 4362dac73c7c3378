#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Many servers, one Prometheus. Three "hosts" made here: network namespaces
# l7t20a/b/c, each joined to the root namespace by a veth pair
# (10.220.N.1 outside, 10.220.N.2 inside), each with its own NGINX on
# 10.220.N.2:8080 (plus a small backend for GET /slow), and its own l7top
# started inside the namespace (`ip netns exec`, so it captures that host's
# traffic only) serving /metrics on 10.220.N.2:9464. One real Prometheus in
# the root namespace scrapes the three (host a from a static target, b and c
# from file_sd) with the shipped rules of packaging/prometheus/ — the same
# files, with the alerts' `for:` shortened to seconds and 1 s scrapes.
# Clients in the root namespace send Host: shop.example to all three.
#
# Checked:
#   - sum by (method, route) of l7top_http_requests_total == the three
#     access logs per route (and per server per route);
#   - the recorded fleet p99 of GET /slow (merged buckets) is within its
#     bucket of the p99 of the three logs' $request_time merged;
#   - host c answers 500 on /api/items/: L7topHostErrorRatio fires for c
#     only, L7topRouteErrorRatio for that route only; GET /slow over its
#     test objective fires L7topRouteSlow for /slow only; no loss alert;
#   - l7top on c stopped: L7topDown fires for c only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl jq promtool prometheus ip "$PY"
it_require_l7top
it_setup
PYSYS=/usr/bin/python3
PKG=$IT_ROOT/packaging/prometheus
HOSTS=(a b c)
declare -A NET NGX BACK L7
for i in 0 1 2; do NET[${HOSTS[$i]}]=$((i + 1)); done
addr() { echo "10.220.${NET[$1]}.2"; }
inst() { echo "$(addr "$1"):9464"; }

fleet_cleanup() {
	set +e
	local h p
	for h in "${HOSTS[@]}"; do
		p=${L7[$h]:-}
		if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p"
			it__wait_gone "$p" 100 || kill -KILL "$p"
		fi
		p=${BACK[$h]:-}
		[[ -n $p ]] && kill "$p" 2>/dev/null
		p=${NGX[$h]:-}
		if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then
			kill -QUIT "$p"
			it__wait_gone "$p" 50 || kill -KILL "$p"
		fi
		ip netns del "l7t20$h" 2>/dev/null
		ip link del "l7t20${h}r" 2>/dev/null
	done
}
fleet_on_exit() {
	local rc=$1
	fleet_cleanup
	if [[ $rc -ne 0 && -n $T ]]; then
		for h in "${HOSTS[@]}"; do
			it_show "l7top $h stderr" "$T/$h/l7top.err" 10
			it_show "nginx $h error.log" "$T/$h/error.log" 5
		done
		it_show "prometheus log" "$T/prometheus.log" 15
	fi
	it__on_exit "$rc"
}
trap 'fleet_on_exit $?' EXIT

# The namespace names and 10.220.0.0/16 exist once per machine, and every
# checkout has this test: a run elsewhere (another worktree's make test)
# is waited for, never torn down. fd 9 holds the lock; the servers started
# below get it closed (9>&-) so none of them can keep it.
LOCK=/tmp/l7top-test-prom-fleet.lock
exec 9>>"$LOCK"
if ! flock -n 9; then
	it_log "another test_prom_fleet runs (lock $LOCK): waiting"
	flock -w 240 9 || it_fail "test_prom_fleet is still running elsewhere after 240 s (lock $LOCK)"
fi

# ---- three hosts ---------------------------------------------------------------
for h in "${HOSTS[@]}"; do
	ns=l7t20$h n=${NET[$h]}
	if ip netns list | grep -qw "$ns"; then        # we hold the lock: a killed run's
		it_log "removing namespace $ns left by an earlier run"
		ip netns del "$ns"
	fi
	ip link del "l7t20${h}r" 2>/dev/null || true
	ip netns add "$ns"
	ip link add "l7t20${h}r" type veth peer name "l7t20${h}n"
	ip link set "l7t20${h}n" netns "$ns"
	ip addr add "10.220.$n.1/24" dev "l7t20${h}r"
	ip link set "l7t20${h}r" up
	ip -n "$ns" addr add "10.220.$n.2/24" dev "l7t20${h}n"
	ip -n "$ns" link set "l7t20${h}n" up
	ip -n "$ns" link set lo up
done

# NGINX per host: the same server on each, except that c fails /api/items/.
nginx_conf() {
	local h=$1 d=$T/$1 items='return 200 "{\"id\":1}\n";'
	[[ $h == c ]] && items='return 500;'
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<EOF
worker_processes 2;
pid $d/nginx.pid;
error_log $d/error.log info;
lock_file $d/nginx.lock;
events { worker_connections 256; }
http {
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    log_format l7tsv '\$request_method\t\$request_uri\t\$status\t\$bytes_sent\t\$request_length\t\$request_time\t\$msec';
    access_log $d/access.log l7tsv;
    keepalive_requests 10000;
    server_tokens off;
    server {
        listen $(addr "$h"):8080;
        server_name shop.example;
        location /api/items/ { default_type application/json; $items }
        location = /health { return 204; }
        location = /boom { return 500; }
        location = /slow {
            proxy_pass http://127.0.0.1:9000;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

for h in "${HOSTS[@]}"; do
	ns=l7t20$h
	nginx_conf "$h"
	ip netns exec "$ns" "$PYSYS" "$IT_DIR/fleet_backend.py" 127.0.0.1 9000 9>&- &
	BACK[$h]=$!
	ip netns exec "$ns" nginx -t -q -c "$T/$h/nginx.conf" -p "$T/$h" 2>"$T/$h/nginx.start.err" ||
		{ it_show "nginx -t" "$T/$h/nginx.start.err"; it_fail "nginx -t failed for host $h"; }
	ip netns exec "$ns" nginx -c "$T/$h/nginx.conf" -p "$T/$h" -g 'daemon on;' 9>&- ||
		it_fail "nginx did not start in $ns"
	n=50
	until [[ -s $T/$h/nginx.pid ]]; do ((n-- > 0)) || it_fail "no nginx pid file for $h"; sleep 0.1; done
	NGX[$h]=$(cat "$T/$h/nginx.pid")
done
for h in "${HOSTS[@]}"; do
	n=50
	until curl -s -o /dev/null "http://$(addr "$h"):8080/health"; do
		((n-- > 0)) || it_fail "NGINX on host $h does not answer"
		sleep 0.1
	done
	n=50
	until ip netns exec "l7t20$h" curl -s -o /dev/null "http://127.0.0.1:9000/slow?ms=0"; do
		((n-- > 0)) || it_fail "the /slow backend on host $h does not answer"
		sleep 0.1
	done
done
: >"$T/a/access.log"; : >"$T/b/access.log"; : >"$T/c/access.log"   # readiness probes out
sleep 0.3

# ---- one l7top per host, inside its namespace --------------------------------------
# (--tls off: these servers speak plaintext only; the default works in a
# namespace too, it only loads more BPF programs.)
for h in "${HOSTS[@]}"; do
	ip netns exec "l7t20$h" "$L7TOP" --pid "${NGX[$h]}" --no-tui --no-db --interval 1 --tls off \
		--prometheus "$(inst "$h")" >"$T/$h/l7top.out" 2>"$T/$h/l7top.err" 9>&- &
	L7[$h]=$!
done
for h in "${HOSTS[@]}"; do
	n=200
	until grep -q '^l7top: watching' "$T/$h/l7top.err" 2>/dev/null; do
		kill -0 "${L7[$h]}" 2>/dev/null || { it_show "l7top $h" "$T/$h/l7top.err"; it_fail "l7top on $h exited"; }
		((n-- > 0)) || it_fail "l7top on $h did not start"
		sleep 0.1
	done
	it_log "host $h: $(grep -m1 '^l7top: watching' "$T/$h/l7top.err"), /metrics on $(inst "$h")"
done

# ---- Prometheus: the shipped rules, test timings ---------------------------------------
PP=$(it_free_port)
PROM=http://127.0.0.1:$PP
mkdir -p "$T/prom/targets"
cp "$PKG/l7top.rules.yml" "$T/prom/"
# Alerts as shipped, but `for:` in seconds so the test does not wait minutes.
sed -E 's/^( *for: ).*/\15s/' "$PKG/l7top.alerts.yml" >"$T/prom/l7top.alerts.yml"
cmp -s <(grep -v '^ *for:' "$PKG/l7top.alerts.yml") <(grep -v '^ *for:' "$T/prom/l7top.alerts.yml") ||
	it_fail "the test's alert rules differ from the shipped ones beyond for:"
# Objectives for this test's routes: /slow (2-80 ms) is over 50 ms; /api/items is well under.
cat >"$T/prom/l7top-slo.rules.yml" <<'EOF'
groups:
  - name: l7top-slo
    rules:
      - record: l7top:route_p99_objective_seconds
        expr: vector(0.05)
        labels: { method: GET, route: /slow }
      - record: l7top:route_p99_objective_seconds
        expr: vector(0.25)
        labels: { method: GET, route: "/api/items/{id}" }
EOF
# The shipped prometheus.yml: 1 s timings, host a as its static target.
"$PYSYS" "$IT_DIR/fleet_check.py" config "$PKG/prometheus.yml" "$T/prom/prometheus.yml" "$(inst a)" ||
	it_fail "cannot rewrite $PKG/prometheus.yml for the test"
cat >"$T/prom/targets/fleet.yml" <<EOF
- targets: ['$(inst b)', '$(inst c)']
EOF
promtool check config "$T/prom/prometheus.yml" >/dev/null || it_fail "promtool rejects the test's prometheus.yml"
it_bg prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PP" >"$T/prometheus.log" 2>&1 9>&-
n=200
until curl -sf "$PROM/-/ready" >/dev/null 2>&1; do
	((n-- > 0)) || it_fail "prometheus not ready in 20 s"
	sleep 0.1
done
n=30
until [[ $(curl -sS "$PROM/api/v1/targets" | jq '[.data.activeTargets[] | select(.health == "up")] | length') == 3 ]]; do
	((n-- > 0)) || { curl -sS "$PROM/api/v1/targets" | jq -c '.data.activeTargets[] | {scrapeUrl, health, lastError}' >&2; it_fail "Prometheus does not see 3 l7top targets up"; }
	sleep 1
done
it_log "prometheus on $PROM: 3 targets up (1 static, 2 from file_sd)"

# ---- traffic -------------------------------------------------------------------------
# curl config: one connection per host, keep-alive, Host: shop.example.
curl_cfg() {
	local h=$1 out=$2
	shift 2
	{
		echo 'header = "Host: shop.example"'
		local u
		for u in "$@"; do
			printf 'url = "http://%s:8080%s"\noutput = "/dev/null"\n' "$(addr "$h")" "$u"
		done
	} >"$out"
}
# Warm-up: every route once per host, so each series exists (and rate() has a
# first sample) before the measured mix.
for h in "${HOSTS[@]}"; do
	curl_cfg "$h" "$T/$h/warm.cfg" "/api/items/0?warm=1" "/health?warm=1" "/boom?warm=1" "/slow?ms=1&warm=1"
	curl -sS --max-time 20 -K "$T/$h/warm.cfg" || it_fail "warm-up requests to $h failed"
done
sleep 3

# The mix, per host: 200 x /api/items/N, 40 x /health, 60 x /slow with a
# spread of delays that differs per host (a 2-20 ms, b 5-40, c 10-80), and
# one /boom on a and b (0.3 % 5xx: under the alert's 5 %).
"$PYSYS" - "$T" <<'EOF'
import random, sys
T = sys.argv[1]
spread = {"a": (2, 20), "b": (5, 40), "c": (10, 80)}
for h, (lo, hi) in spread.items():
    rnd = random.Random(20 + ord(h))
    urls = [f"/api/items/{i}" for i in range(1, 201)] + ["/health"] * 40
    urls += [f"/slow?ms={rnd.randint(lo, hi)}" for _ in range(60)]
    if h != "c":
        urls.append("/boom")
    rnd.shuffle(urls)
    open(f"{T}/{h}/mix.urls", "w").write("\n".join(urls) + "\n")
EOF
pids=()
for h in "${HOSTS[@]}"; do
	mapfile -t urls <"$T/$h/mix.urls"
	curl_cfg "$h" "$T/$h/mix.cfg" "${urls[@]}"
	curl -sS --max-time 60 -K "$T/$h/mix.cfg" 9>&- &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || it_fail "a mix client failed"; done
mix_end=$(date +%s.%N)
for h in "${HOSTS[@]}"; do
	want=$(($(wc -l <"$T/$h/mix.urls") + 4))
	n=50
	until [[ $(wc -l <"$T/$h/access.log") -ge $want ]]; do
		((n-- > 0)) || it_fail "host $h logged $(wc -l <"$T/$h/access.log") requests, want $want"
		sleep 0.1
	done
	it_log "host $h: $(wc -l <"$T/$h/access.log") requests in its access log"
done
LOGS=("$(inst a)=$T/a/access.log" "$(inst b)=$T/b/access.log" "$(inst c)=$T/c/access.log")

# ---- fleet sums, p99 ------------------------------------------------------------------
"$PYSYS" "$IT_DIR/fleet_check.py" counts "$PROM" "${LOGS[@]}" ||
	it_fail "Prometheus' sums per route differ from the access logs"
sleep 3   # the recording rules run on the final counters
"$PYSYS" "$IT_DIR/fleet_check.py" p99 "$PROM" /slow "${LOGS[@]}" ||
	it_fail "the recorded fleet p99 of /slow is off the logs' p99 by more than its bucket"

# ---- alerts -----------------------------------------------------------------------------
waited() { awk -v a="$mix_end" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
chk() { "$PYSYS" "$IT_DIR/fleet_check.py" alerts "$PROM" "$@"; }
chk L7topHostErrorRatio instance "$(inst c)" || it_fail "L7topHostErrorRatio is not firing for c alone"
it_log "L7topHostErrorRatio firing for c $(waited) s after the mix ended"
chk L7topRouteErrorRatio route "/api/items/{id}" || it_fail "L7topRouteErrorRatio is not firing for /api/items/{id} alone"
chk L7topRouteSlow route /slow || it_fail "L7topRouteSlow is not firing for /slow alone"
it_log "L7topRouteErrorRatio and L7topRouteSlow firing $(waited) s after the mix ended"
chk L7topRouteSlowDefault route || it_fail "L7topRouteSlowDefault fires"
chk L7topLosingRequests instance || it_fail "l7top reports losing requests"
chk L7topDown instance || it_fail "L7topDown fires with every l7top up"

# The README's three questions, as users would ask them.
q() { curl -sS --max-time 5 -G "$PROM/api/v1/query" --data-urlencode "query=$1"; }
slowest='topk(3, route:l7top_http_request_duration_seconds:p99_5m)'
failing='sort_desc(instance:l7top_http_errors:ratio_rate5m)'
lost='{job="l7top",__name__=~"l7top_(capture_drops|reassembly_gaps|conn_overflow|pending_overflow|tls_ring_drops|tls_undecryptable|tls_records_lost)_total"} > 0'
it_log "$slowest"
q "$slowest" | jq -r '.data.result[] | "    \(.metric.method) \(.metric.route) (\(.metric.host)) p99 \(.value[1] | tonumber * 10000 | round / 10) ms"' | tee "$T/slowest.txt"
[[ $(head -1 "$T/slowest.txt") == *" /slow "* ]] || it_fail "the slowest route fleet-wide is not /slow"
it_log "$failing"
q "$failing" | jq -r '.data.result[] | "    \(.metric.instance) \(.value[1] | tonumber * 1000 | round / 10)% 5xx"' | tee "$T/failing.txt"
[[ $(head -1 "$T/failing.txt") == *"$(inst c) "* ]] || it_fail "the most failing host is not c"
# Where: the 5xx per second of each server's routes (a ratio alone would put
# the single /boom of a and b first).
where='topk(3, sum by (instance, method, route) (rate(l7top_http_requests_total{status=~"5.."}[5m])))'
it_log "$where"
q "$where" | jq -r '.data.result[] | "    \(.metric.instance) \(.metric.method) \(.metric.route) \(.value[1] | tonumber * 1000 | round / 1000) 5xx/s"' | tee "$T/where.txt"
[[ $(head -1 "$T/where.txt") == *"$(inst c) GET /api/items/{id} "* ]] || it_fail "c's failing route is not first"
it_log "$lost"
# Empty must mean zero, not missing: the 7 counters of 3 servers exist.
nseries=$(q "count(${lost% > 0})" | jq -r '.data.result[0].value[1]')
[[ $nseries == 21 ]] || it_fail "want 21 loss counter series (7 x 3 servers), Prometheus has $nseries"
nlost=$(q "$lost" | jq '.data.result | length')
[[ $nlost == 0 ]] || { q "$lost" | jq -c '.data.result[]' >&2; it_fail "l7top lost data"; }
echo "    (empty: nothing lost)"

# l7top on c stops: its target goes down.
kill -TERM "${L7[c]}"
it__wait_gone "${L7[c]}" 100 || it_fail "l7top on c did not exit on SIGTERM"
rc=0; wait "${L7[c]}" || rc=$?
[[ $rc -eq 0 ]] || it_fail "l7top on c exited $rc"
L7[c]=""
down_at=$(date +%s.%N)
chk L7topDown instance "$(inst c)" || it_fail "L7topDown is not firing for c alone"
it_log "L7topDown firing for c $(awk -v a="$down_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after its l7top stopped"
for h in a b; do
	kill -TERM "${L7[$h]}"
	it__wait_gone "${L7[$h]}" 100 || it_fail "l7top on $h did not exit on SIGTERM"
	rc=0; wait "${L7[$h]}" || rc=$?
	[[ $rc -eq 0 ]] || it_fail "l7top on $h exited $rc"
	L7[$h]=""
done
