# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# TLS helpers for the integration tests, on top of lib.sh (source lib.sh first):
#
#   tls_cert                      self-signed cert for localhost: $T/cert.pem, $T/key.pem
#   tls_nginx_listen PORT         the lines that make a server block also listen with TLS
#   tls_client MODE PORT ARGS...  client.py (pipeline, get) over TLS, no cert check
#   tls_wait_probed PID... [-t S] waits for l7top's "tls: probes on ...[PID]" lines
#   tls_workers                   NGINX's worker pids, one a line
#
# l7top must run with --no-tui so its per-process TLS lines reach $T/l7top.err.

tls_cert() {
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
		-keyout "$T/key.pem" -out "$T/cert.pem" 2>"$T/openssl.err" ||
		{ it_show "openssl" "$T/openssl.err"; it_fail "cannot make a self-signed certificate"; }
	chmod 644 "$T/key.pem" "$T/cert.pem"
}

tls_nginx_listen() {
	printf '        listen 127.0.0.1:%s ssl;\n' "$1"
	printf '        ssl_certificate %s/cert.pem;\n' "$T"
	printf '        ssl_certificate_key %s/key.pem;\n' "$T"
}

# client.py's own modes, its socket wrapped in TLS: same requests, same checks.
tls_client() {
	IT_DIR="$IT_DIR" "$PY" - "$@" <<'EOF'
import os, ssl, sys
sys.path.insert(0, os.environ["IT_DIR"])
import client

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
plain_connect = client.connect

def tls_connect(port):
    return ctx.wrap_socket(plain_connect(port), server_hostname="localhost")

client.connect = tls_connect
sys.argv = ["client.py"] + sys.argv[1:]
sys.exit(client.main())
EOF
}

tls_workers() {
	pgrep -P "$NGINX_PID" | sort -n
}

# Waits until l7top has put its uprobes on every given pid (timeout 10 s).
tls_wait_probed() {
	local n=100 p missing
	while ((n-- > 0)); do
		missing=""
		for p in "$@"; do
			grep -q "tls: probes on [^ ]*\[$p\]" "$T/l7top.err" 2>/dev/null || missing+=" $p"
		done
		[[ -z $missing ]] && return 0
		sleep 0.1
	done
	it_show "l7top stderr" "$T/l7top.err"
	it_fail "l7top did not attach its TLS probes to:$missing"
}

# tls_compare LOG CSV [NO_LAT_REGEX]: l7top's CSV against the access log.
# Requests and status classes must be equal (compare.py --counts-only) and
# bytes within 1%, as in the plaintext test. Latency is held to max(10 ms,
# 25%) instead of compare.py's 1.5 ms: NGINX's $request_time reads its cached
# clock, refreshed once per event-loop turn, and over TLS a turn also holds
# the encryption and the uprobe traps, so on two busy cores the log drifts
# from what happened by up to ~6 ms either way (seen: 1.5 MB uploads over TLS
# 3-6 ms longer in l7top than in the log). A sanity bound, not a precision test. Routes matching NO_LAT_REGEX are not
# held to latency at all (say why at the call). compare.py's full table is
# printed for the record.
tls_compare() {
	local log=$1 csv=$2 nolat=${3:-'^$'} rc=0
	"$PY" "$IT_DIR/compare.py" --log "$log" --csv "$csv" >"$T/compare_full.txt" 2>&1 || true
	sed 's/^/  | /' "$T/compare_full.txt"
	"$PY" "$IT_DIR/compare.py" --log "$log" --csv "$csv" --counts-only >"$T/compare_counts.txt" 2>&1 || rc=1
	tail -2 "$T/compare_counts.txt" | sed 's/^/  /'
	"$PY" "$IT_DIR/compare.py" --log "$log" --emit-csv >"$T/want.csv" || return 1
	"$PY" - "$T/want.csv" "$csv" "$nolat" <<'EOF' || rc=1
import csv, re, sys
want = {(r["method"], r["route"]): r for r in csv.DictReader(open(sys.argv[1]))}
got = {(r["method"], r["route"]): r for r in csv.DictReader(open(sys.argv[2]))}
nolat = re.compile(sys.argv[3])
bad = 0
for k, w in sorted(want.items()):
    g = got.get(k)
    if g is None:
        continue                      # compare.py --counts-only reports it
    for f in ("bytes_in", "bytes_out"):
        a, b = int(w[f]), int(g[f])
        if abs(a - b) > 0.01 * max(a, 1):
            print("  MISMATCH %s %s: %s log %d, l7top %d" % (k[0], k[1], f, a, b)); bad += 1
    if nolat.search(k[1]):
        continue
    for f in ("p50_ms", "p99_ms"):
        a, b = float(w[f]), float(g[f])
        if abs(a - b) > max(10.0, 0.25 * a):
            print("  MISMATCH %s %s: %s log %.3f, l7top %.3f" % (k[0], k[1], f, a, b)); bad += 1
print("  tls_compare: %d endpoints, bytes within 1%%, latency within max(10 ms, 25%%): %s"
      % (len(want), "FAIL" if bad else "ok"))
sys.exit(1 if bad else 0)
EOF
	return $rc
}
