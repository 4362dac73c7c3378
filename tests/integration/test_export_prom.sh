#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --prometheus: a real scrape of l7top's /metrics passes `promtool check
# metrics`, carries the request counts NGINX logged, and a real Prometheus
# server (Debian's `prometheus`, on loopback, 1 s scrapes) scraping l7top
# answers sum(l7top_http_requests_total) with the number of requests sent.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

it_require_tools nginx curl jq promtool prometheus "$PY"
it_require_l7top
it_setup

P=$(it_free_port)
MP=$(it_free_port)    # l7top's /metrics
PP=$(it_free_port)    # Prometheus' own HTTP API
M=http://127.0.0.1:$MP/metrics

it_nginx_conf "$P" <<'EOF'
        location = /health { return 204; }
        location /users/ { return 200 'user\n'; }
        location = /boom { return 500; }
        location /q/ { return 200 'q\n'; }
EOF
it_nginx_start
it_l7top_start --pid "$NGINX_PID" --no-tui --no-db --interval 1 --prometheus "127.0.0.1:$MP"

# Before any traffic: valid, and l7top_build_info is there.
curl -sS --max-time 5 -o "$T/empty.prom" -D "$T/empty.hdr" "$M" || it_fail "no answer on $M"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/empty.hdr" || it_fail "wrong Content-Type: $(cat "$T/empty.hdr")"
promtool check metrics <"$T/empty.prom" || it_fail "promtool rejects the scrape before traffic"
grep -q '^l7top_build_info{version="[^"]*"} 1$' "$T/empty.prom" || it_fail "no l7top_build_info"
# Only /metrics is served.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MP/nope") || true
[[ $code == 404 ]] || it_fail "/nope answered $code, want 404"

cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: l7top
    static_configs:
      - targets: ['127.0.0.1:$MP']
EOF
promtool check config "$T/prometheus.yml" >/dev/null || it_fail "promtool rejects the test's prometheus.yml"
it_bg prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$PP" >"$T/prometheus.log" 2>&1
n=150
until curl -sf "http://127.0.0.1:$PP/-/ready" >/dev/null 2>&1; do
	((n-- > 0)) || { it_show "prometheus log" "$T/prometheus.log"; it_fail "prometheus not ready in 15 s"; }
	sleep 0.1
done
it_log "prometheus ready on 127.0.0.1:$PP"

# --- traffic ------------------------------------------------------------------
C=(curl -sS --max-time 10)
urls=()
for i in $(seq 1 20); do urls+=("http://127.0.0.1:$P/users/$i"); done
for i in 1 2 3 4 5; do urls+=("http://127.0.0.1:$P/health"); done
for i in 1 2 3; do urls+=("http://127.0.0.1:$P/boom"); done
"${C[@]}" "${urls[@]}" >/dev/null
"${C[@]}" "http://127.0.0.1:$P/users/404/missing" >/dev/null
# Label values that need escaping in the exposition format.
"$PY" "$IT_DIR/client.py" get "$P" '/q/say"hi"' >/dev/null
"$PY" "$IT_DIR/client.py" get "$P" '/q/back\x5cslash' >/dev/null
it_wait_log_lines 31 10 || it_fail "NGINX logged $(wc -l <"$T/access.log") requests, want 31"
want=$(wc -l <"$T/access.log")
sleep 2.5   # at least one interval closes after the last request

# --- a real scrape --------------------------------------------------------------
curl -sS --max-time 5 "$M" >"$T/scrape.prom" || it_fail "scrape failed"
promtool check metrics <"$T/scrape.prom" || { it_show "scrape" "$T/scrape.prom" 60; it_fail "promtool rejects the scrape"; }
sum_metric() {
	awk -v re="^$1[{ ]" '$0 ~ re { s += $NF } END { printf "%d\n", s }' "$T/scrape.prom"
}
got=$(sum_metric l7top_http_requests_total)
[[ $got -eq $want ]] || it_fail "sum of l7top_http_requests_total is $got, NGINX logged $want"
got=$(sum_metric l7top_http_request_duration_seconds_count)
[[ $got -eq $want ]] || it_fail "sum of the histogram _count is $got, want $want"
# target: the watched process, one constant; host: the virtual host (no port).
L="target=\"nginx\\[$NGINX_PID\\]\",host=\"127.0.0.1\""
grep -q "^l7top_http_requests_total{$L,method=\"GET\",route=\"/boom\",status=\"500\"} 3\$" "$T/scrape.prom" ||
	it_fail "no 3 x 500 for GET /boom with $L: $(grep boom "$T/scrape.prom" || true)"
grep -q "^l7top_http_requests_total{$L,method=\"GET\",route=\"/health\",status=\"204\"} 5\$" "$T/scrape.prom" ||
	it_fail "no 5 x 204 for GET /health"
grep -q 'route="/q/say\\"hi\\""' "$T/scrape.prom" || it_fail "the quote in /q/say\"hi\" is not escaped"
grep -q 'le="+Inf"' "$T/scrape.prom" || it_fail "no +Inf bucket"
for m in l7top_capture_drops_total l7top_parse_errors_total l7top_http_request_bytes_total \
	l7top_http_response_bytes_total l7top_tls_ring_drops_total l7top_tls_undecryptable_total \
	l7top_tls_records_lost_total; do
	grep -q "^# TYPE $m counter$" "$T/scrape.prom" || it_fail "no counter $m"
done
it_log "scrape: $(wc -l <"$T/scrape.prom") lines, promtool ok, $want requests"

# --- Prometheus' own view -----------------------------------------------------------
q='sum(l7top_http_requests_total)'
n=30 val=""
while ((n-- > 0)); do
	val=$(curl -sS --max-time 5 -G "http://127.0.0.1:$PP/api/v1/query" --data-urlencode "query=$q" |
		jq -r '.data.result[0].value[1] // empty') || true
	[[ $val == "$want" ]] && break
	sleep 1
done
if [[ $val != "$want" ]]; then
	curl -sS -G "http://127.0.0.1:$PP/api/v1/targets" | jq -c '.data.activeTargets[] | {health, lastError}' >&2 || true
	it_show "prometheus log" "$T/prometheus.log" 15
	it_fail "Prometheus says $q = '${val}', want $want"
fi
it_log "Prometheus: $q = $val"
it_l7top_stop
