#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A server nobody here wrote, with OpenSSL linked into its executable: node's
# https module (no libssl is mapped; SSL_read is a symbol of /usr/bin/node).
# Known requests with curl; l7top's per-endpoint counts must be exactly them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools node curl openssl "$PY"
it_require_l7top
it_setup
tls_cert

PORT=$(it_free_port)
cat >"$T/server.js" <<'EOF'
// Routes with known answers; the Content-Length / chunked choice is node's own.
const https = require('https');
const fs = require('fs');
const [key, cert, port] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const big = Buffer.alloc(100000, 'x');
https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
  if (req.method === 'POST') {
    let n = 0;
    req.on('data', (d) => { n += d.length; });
    req.on('end', () => { res.writeHead(201); res.end('got ' + n + '\n'); });
  } else if (req.url.startsWith('/api/users/')) {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{"ok":true}\n');
  } else if (req.url === '/health') {
    res.writeHead(204);
    res.end();
  } else if (req.url === '/big') {
    res.end(big);
  } else if (req.url === '/stream') {
    res.write('part one\n');                       // chunked: no length known up front
    setTimeout(() => res.end('part two\n'), 20);
  } else {
    res.writeHead(404);
    res.end('nope\n');
  }
}).listen(port, '127.0.0.1', () => console.log('listening ' + port));
EOF
node "$T/server.js" "$T/key.pem" "$T/cert.pem" "$PORT" >"$T/node.out" 2>&1 &
NODE_PID=$!
IT_BG_PIDS+=("$NODE_PID")
n=50
until grep -q listening "$T/node.out" 2>/dev/null; do
	((n-- > 0)) || { it_show node "$T/node.out"; it_fail "node did not start"; }
	sleep 0.1
done
grep -q libssl "/proc/$NODE_PID/maps" && it_log "note: this node maps a libssl"
it_log "node $(node --version) https server pid $NODE_PID on :$PORT"

# calls by default; test_tls_keys_node.sh runs this same test with auto,
# where node's static OpenSSL 3 must be read in keys mode.
MODE=${L7_TLS_MODE:-calls}
it_l7top_start --pid "$NODE_PID" --no-tui --interval 1 --db "$T/l7.db" --tls "$MODE"
tls_wait_probed "$NODE_PID"
grep "tls: probes on" "$T/l7top.err" | sed 's/^/  /'
want_mode=$([[ $MODE == calls ]] && echo calls || echo keys)
grep -q "tls: probes on .*\[$NODE_PID\] in .*, mode $want_mode\$" "$T/l7top.err" ||
	it_fail "--tls $MODE: node is not in $want_mode mode"

B=https://127.0.0.1:$PORT
K=(curl -sSk --http1.1 --max-time 20)
urls=()
for i in $(seq 1 30); do urls+=("$B/api/users/$i"); done
"${K[@]}" "${urls[@]}" >/dev/null                     # 30 on one keep-alive connection
for i in 1 2 3 4 5; do "${K[@]}" "$B/health" >/dev/null; done
"${K[@]}" "$B/big" "$B/big" "$B/big" -o /dev/null -o /dev/null -o /dev/null
for i in 1 2 3 4; do "${K[@]}" --data-binary "payload number $i" "$B/upload" >/dev/null; done
"${K[@]}" "$B/stream" "$B/stream" >/dev/null
"${K[@]}" "$B/missing" "$B/missing" >/dev/null
tls_client pipeline "$PORT" "GET /api/users/31" "GET /api/users/32" "GET /health" | sed 's/^/  /'

sleep 2.5
stop_ok=1
it_l7top_stop soft || stop_ok=0
"$L7TOP" query --db "$T/l7.db" --format csv >"$T/got.csv" 2>"$T/query.err" ||
	{ it_show "l7top query stderr" "$T/query.err"; it_fail "l7top query failed"; }
sed 's/^/  | /' "$T/got.csv"

# method,route -> requests s2xx s4xx, as sent above.
want="GET,/api/users/{id} 32 32 0
GET,/health 6 6 0
GET,/big 3 3 0
POST,/upload 4 4 0
GET,/stream 2 2 0
GET,/missing 2 0 2"
rc=0
while read -r key reqs s2 s4; do
	got=$(awk -F, -v k="$key" '$1 "," $2 == k {print $3, $5, $7}' "$T/got.csv")
	if [[ $got != "$reqs $s2 $s4" ]]; then
		echo "  MISMATCH $key: want requests/2xx/4xx '$reqs $s2 $s4', got '${got:-nothing}'" >&2
		rc=1
	fi
done <<<"$want"
total=$(awk -F, 'NR > 1 {n += $3} END {print n + 0}' "$T/got.csv")
[[ $total -eq 49 ]] || { echo "  MISMATCH total: want 49, got $total" >&2; rc=1; }
# /big's 100000-byte bodies are far over the capture size: counted by length.
big_out=$(awk -F, '$1 == "GET" && $2 == "/big" {print $11}' "$T/got.csv")
it_log "requests: l7top $total, sent 49; GET /big bytes_out $big_out (3 x 100000 body + headers)"
((big_out > 300000 && big_out < 301000)) || { echo "  MISMATCH /big bytes_out $big_out" >&2; rc=1; }
[[ $stop_ok -eq 1 ]] || it_fail "$IT_STOP_ERR"
[[ $rc -eq 0 ]] || it_fail "l7top's counts for node differ from the requests sent"
it_log "node (--tls $MODE, mode $want_mode): all 49 requests seen, per endpoint and status class"
