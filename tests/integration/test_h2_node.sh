#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HTTP/2 from a server nobody here wrote: node's http2.createSecureServer
# (OpenSSL 3 linked into /usr/bin/node, ALPN h2 with HTTP/1.1 fallback), with
# l7top's default --tls auto (keys mode for node). Known requests from
# h2load (concurrent streams), curl --http2 and curl --http1.1; the server
# counts what it answered per route, status and protocol (its own log, the
# ground truth here): l7top's query --protocol h2 and http/1.1 must equal it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

it_require_tools node curl h2load openssl "$PY"
it_require_l7top
it_setup
tls_cert

PORT=$(it_free_port)
cat >"$T/server.js" <<'EOF'
// One log line per answered request: method, path, status, protocol.
const http2 = require('http2');
const fs = require('fs');
const [key, cert, port, logPath] = [process.argv[2], process.argv[3], Number(process.argv[4]), process.argv[5]];
const log = fs.createWriteStream(logPath);
const big = Buffer.alloc(200000, 'x');
const server = http2.createSecureServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert),
                                          allowHTTP1: true }, (req, res) => {
  let status = 200, body = 'ok\n';
  if (req.url.startsWith('/api/users/')) body = '{"ok":true}\n';
  else if (req.url === '/health') { status = 204; body = ''; }
  else if (req.url === '/big') body = big;
  else if (req.url === '/fail') status = 500;
  else status = 404;
  const finish = () => {
    res.writeHead(status);
    res.end(body);
    log.write([req.method, req.url, status, req.httpVersion === '2.0' ? 'h2' : 'http/1.1'].join('\t') + '\n');
  };
  if (req.method === 'POST') { req.on('data', () => {}); req.on('end', finish); } else finish();
});
server.listen(port, '127.0.0.1', () => console.log('listening ' + port));
EOF
node "$T/server.js" "$T/key.pem" "$T/cert.pem" "$PORT" "$T/node.log" >"$T/node.out" 2>&1 &
NODE_PID=$!
IT_BG_PIDS+=("$NODE_PID")
n=50
until grep -q listening "$T/node.out" 2>/dev/null; do
	((n-- > 0)) || { it_show node "$T/node.out"; it_fail "node did not start"; }
	sleep 0.1
done
it_log "node $(node --version) http2 secure server pid $NODE_PID on :$PORT"

it_l7top_start --pid "$NODE_PID" --no-tui --interval 1 --db "$T/l7.db"
tls_wait_probed "$NODE_PID"
grep "tls: probes on" "$T/l7top.err" | sed 's/^/  /'

B=https://127.0.0.1:$PORT
h2load -c 2 -m 10 -n 400 -t 1 "$B/api/users/1" "$B/api/users/2" "$B/health" "$B/fail" "$B/nope" \
	>"$T/h2load.out" 2>&1 || { it_show h2load "$T/h2load.out"; it_fail "h2load failed"; }
grep -E '^requests:' "$T/h2load.out" | sed 's/^/  h2load: /'
curl -sSk --http2 --max-time 20 "$B/big" "$B/api/users/7" -o /dev/null -o /dev/null
curl -sSk --http2 --max-time 20 --data-binary @"$T/cert.pem" "$B/api/users/8" >/dev/null
curl -sSk --http1.1 --max-time 20 "$B/api/users/9" "$B/health" "$B/fail" >/dev/null
sleep 2.5
it_l7top_stop

rc=0
for proto in h2 http/1.1; do
	"$L7TOP" query --db "$T/l7.db" --format csv --protocol "$proto" >"$T/got.csv"
	"$PY" - "$T/node.log" "$T/got.csv" "$proto" <<'PYEOF' || rc=1
import csv, re, sys
log, got_csv, proto = sys.argv[1:4]
fold = lambda p: "/".join("{id}" if s.isdigit() else s for s in p.split("?")[0].split("/"))
want = {}
for line in open(log):
    m, path, status, p = line.rstrip("\n").split("\t")
    if p != proto:
        continue
    row = want.setdefault((m, fold(path)), [0] * 5)
    row[int(status) // 100 - 1] += 1
got = {(r["method"], r["route"]): [int(r["s%dxx" % k]) for k in range(1, 6)]
       for r in csv.DictReader(open(got_csv))}
print("  %s: node answered %d, l7top counted %d" % (proto, sum(map(sum, want.values())),
                                                  sum(map(sum, got.values()))))
bad = {k for k in set(want) | set(got) if want.get(k) != got.get(k)}
for k in sorted(bad):
    print("  MISMATCH %s %s: node %s, l7top %s" % (k[0], k[1], want.get(k), got.get(k)))
sys.exit(1 if bad or not want else 0)
PYEOF
done
[[ $rc -eq 0 ]] || it_fail "l7top's h2 / http/1.1 counts differ from what node answered"
