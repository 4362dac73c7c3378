#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Raw HTTP/1.x clients for the integration tests (what curl cannot do).

  client.py pipeline PORT "GET /a" "HEAD /b" ...   all requests in one send()
  client.py get PORT PATH                          one request; PATH may hold \\xHH
  client.py trickle PORT PATH [DELAY_S]            one byte per send(), small sleeps
  client.py junk PORT NBYTES                       random bytes
  client.py longline PORT NBYTES                   request line of NBYTES
  client.py half PORT                              half a header, then close

Every mode reads what the server answers until it closes (or a timeout) and
prints one summary line: bytes sent, bytes received, status codes seen.
"""

import os
import re
import socket
import sys
import time

HOST = "127.0.0.1"
STATUS = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def _unescape(s: str) -> bytes:
    out = bytearray()
    i = 0
    b = s.encode("utf-8", "surrogateescape")
    while i < len(b):
        if b[i:i + 2] == b"\\x" and re.match(rb"[0-9A-Fa-f]{2}", b[i + 2:i + 4]):
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def connect(port):
    s = socket.create_connection((HOST, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s, timeout=10.0):
    s.settimeout(timeout)
    data = bytearray()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ConnectionResetError):
        pass
    return bytes(data)


def read_responses(s, methods, timeout=10.0):
    """Reads one HTTP/1.1 response per request method given, framing each by
    Content-Length / chunked / no body (HEAD, 1xx, 204, 304)."""
    s.settimeout(timeout)
    buf = bytearray()
    pos = 0
    codes = []

    def need(n):
        while len(buf) < n:
            d = s.recv(65536)
            if not d:
                raise EOFError
            buf.extend(d)

    def line_end(start):
        while True:
            i = buf.find(b"\r\n", start)
            if i >= 0:
                return i
            need(len(buf) + 1)

    try:
        for m in methods:
            while True:                       # skip 1xx interim responses
                end = buf.find(b"\r\n\r\n", pos)
                while end < 0:
                    need(len(buf) + 1)
                    end = buf.find(b"\r\n\r\n", pos)
                head = bytes(buf[pos:end]).decode("latin-1")
                pos = end + 4
                status = int(head.split(" ", 2)[1])
                if status >= 200:
                    break
            codes.append(str(status))
            hdrs = {}
            for h in head.split("\r\n")[1:]:
                k, _, v = h.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            if m == "HEAD" or status in (204, 304):
                continue
            if "chunked" in hdrs.get("transfer-encoding", "").lower():
                while True:
                    e = line_end(pos)
                    size = int(bytes(buf[pos:e]).split(b";")[0], 16)
                    pos = e + 2
                    if size == 0:
                        e = line_end(pos)             # no trailers expected
                        pos = e + 2
                        break
                    need(pos + size + 2)
                    pos += size + 2
            elif "content-length" in hdrs:
                need(pos + int(hdrs["content-length"]))
                pos += int(hdrs["content-length"])
            else:
                while True:                            # read to close
                    d = s.recv(65536)
                    if not d:
                        break
                    buf.extend(d)
                pos = len(buf)
    except (EOFError, socket.timeout, ConnectionResetError):
        pass
    return bytes(buf), codes


def summary(mode, sent, data):
    codes = [c.decode() for c in STATUS.findall(data)]
    print("client %s: sent %d bytes, received %d bytes, statuses %s" % (mode, sent, len(data), " ".join(codes) or "-"))


def req(method, path: bytes, last=False):
    return (method.encode() + b" " + path + b" HTTP/1.1\r\nHost: localhost\r\nUser-Agent: l7top-it\r\n"
            + (b"Connection: close\r\n" if last else b"") + b"\r\n")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    mode, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    s = connect(port)
    if mode == "pipeline":
        # All keep-alive: the client reads exactly the N responses and then
        # closes first, so NGINX logs each request as it completes (a
        # "Connection: close" on the last one would put NGINX into lingering
        # close and stretch its $request_time until the client's FIN).
        reqs, methods = [], []
        for a in args:
            m, p = a.split(" ", 1)
            methods.append(m)
            reqs.append(req(m, _unescape(p)))
        buf = b"".join(reqs)
        s.sendall(buf)
        data, codes = read_responses(s, methods)
        s.close()
        print("client pipeline: sent %d bytes in one send(), received %d bytes, statuses %s"
              % (len(buf), len(data), " ".join(codes)))
        if len(codes) != len(methods):
            print("client pipeline: got %d responses, want %d" % (len(codes), len(methods)), file=sys.stderr)
            return 1
        return 0
    elif mode == "get":
        buf = req("GET", _unescape(args[0]), last=True)
        s.sendall(buf)
        summary(mode, len(buf), read_all(s))
    elif mode == "trickle":
        delay = float(args[1]) if len(args) > 1 else 0.01
        buf = req("GET", _unescape(args[0]), last=True)
        for i in range(len(buf)):
            s.send(buf[i:i + 1])
            time.sleep(delay)
        summary(mode, len(buf), read_all(s))
    elif mode == "junk":
        buf = os.urandom(int(args[0]))
        try:
            s.sendall(buf)
        except (BrokenPipeError, ConnectionResetError):
            pass
        summary(mode, len(buf), read_all(s, 5))
    elif mode == "longline":
        n = int(args[0])
        path = b"/long/" + b"x" * max(0, n - 20)
        buf = b"GET " + path + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
        try:
            s.sendall(buf)
        except (BrokenPipeError, ConnectionResetError):
            pass
        summary(mode, len(buf), read_all(s, 5))
    elif mode == "half":
        buf = b"GET /half/open HTTP/1.1\r\nHost: localh"
        s.sendall(buf)
        time.sleep(0.2)
        s.close()
        print("client half: sent %d bytes, closed" % len(buf))
        return 0
    else:
        print("client.py: unknown mode %r" % mode, file=sys.stderr)
        return 2
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
