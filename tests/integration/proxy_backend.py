#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A backend for test_proxy.sh: HTTP/1.1 with keep-alive, one thread per
connection. /slow/... sleeps SLOW_MS before answering, /hang/... sleeps
HANG_S (longer than the proxy's read timeout: the frontend answers 504);
anything else answers at once. Every answer has a Content-Length."""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_MS = 40
HANG_S = 3


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(SLOW_MS / 1000.0)
        elif self.path.startswith("/hang/"):
            time.sleep(HANG_S)
        body = ("py %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        pass


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
