# SPDX-License-Identifier: MIT
"""A backend that answers GET /slow?ms=N after N milliseconds, for the fleet
test's NGINX to proxy to: it gives a route a known spread of latencies.

    fleet_backend.py ADDR PORT
"""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query)
        try:
            ms = min(max(int(query.get("ms", ["0"])[0]), 0), 2000)
        except ValueError:
            ms = 0
        time.sleep(ms / 1000)
        body = b"slow\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Slow).serve_forever()
