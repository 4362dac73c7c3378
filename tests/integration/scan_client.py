#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Clients for test_url_scan.sh: a hostile scan, a well-behaved client, and
clients that leave before the answer. All bounded in count.

  scan_client.py scan PORT N SEED          N requests, random paths and Host headers,
                                           keep-alive, 20 pipelined at a time
  scan_client.py repeat PORT PATH N GAP_S  N keep-alive GETs of PATH, GAP_S apart
  scan_client.py half PORT N               N clients: a request line and half a header, close
  scan_client.py halfline PORT N           N clients: half a request line, close
  scan_client.py abandon PORT PATH N       N clients: a whole request, close before the answer
  scan_client.py blackhole PORT SECONDS    listen, accept nothing (an upstream that never answers)

Each prints one summary line.
"""

import os
import random
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import connect, read_responses  # noqa: E402

BATCH = 20
PER_CONN = 500          # well under NGINX's keepalive_requests 1000


def scan(port, n, seed):
    rnd = random.Random(seed)
    sent = got = 0
    s, on_conn = connect(port), 0
    while sent < n:
        k = min(BATCH, n - sent)
        reqs = []
        for _ in range(k):
            host = "h%08x.scan.example" % rnd.getrandbits(32)
            if rnd.random() < 0.3:
                path = "/wp-content/%08x.php" % rnd.getrandbits(32)
            else:
                path = "/%012x" % rnd.getrandbits(48)
            reqs.append(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: scan\r\n\r\n" % (path, host)).encode())
        s.sendall(b"".join(reqs))
        _, codes = read_responses(s, ["GET"] * k)
        got += len(codes)
        sent += k
        on_conn += k
        if len(codes) < k:
            raise SystemExit("scan: %d of %d answers on a connection" % (len(codes), k))
        if on_conn >= PER_CONN:
            s.close()
            s, on_conn = connect(port), 0
    s.close()
    print("scan: %d requests, %d answers" % (sent, got))


def repeat(port, path, n, gap):
    s, on_conn, ok = connect(port), 0, 0
    for _ in range(n):
        s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path).encode())
        _, codes = read_responses(s, ["GET"])
        ok += codes == ["200"]
        on_conn += 1
        if on_conn >= PER_CONN:
            s.close()
            s, on_conn = connect(port), 0
        time.sleep(gap)
    s.close()
    print("repeat %s: %d requests, %d answered 200" % (path, n, ok))


def leave_many(port, n, data, wait):
    """n connections send data; after wait seconds all close."""
    socks = []
    for i in range(n):
        s = connect(port)
        s.sendall(data)
        socks.append(s)
        if len(socks) >= 200:          # bounded descriptors
            time.sleep(wait)
            for x in socks:
                x.close()
            socks = []
    time.sleep(wait)
    for x in socks:
        x.close()
    print("%d clients sent %d bytes each and left" % (n, len(data)))


def blackhole(port, secs):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    print("blackhole listening on %d" % port, flush=True)
    time.sleep(secs)
    s.close()


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode, port, a = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if mode == "scan":
        scan(port, int(a[0]), int(a[1]))
    elif mode == "repeat":
        repeat(port, a[0], int(a[1]), float(a[2]))
    elif mode == "half":
        leave_many(port, int(a[0]), b"GET /half/open HTTP/1.1\r\nHost: localh", 0.2)
    elif mode == "halfline":
        leave_many(port, int(a[0]), b"GET /half-li", 0.2)
    elif mode == "abandon":
        leave_many(port, int(a[1]), ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % a[0]).encode(), 0.5)
    elif mode == "blackhole":
        blackhole(port, float(a[0]))
    else:
        print("scan_client.py: unknown mode %r" % mode, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
