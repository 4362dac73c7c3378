#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A scripted HTTP/2 client (Debian's python3-h2) for the edges of l7top's
HTTP/2 reader, against a real NGINX:

  interleave  100 concurrent streams on one connection, fast and rate-limited
              responses mixed, so they finish out of order
  headers     a request header block over 16 KB (HEADERS + CONTINUATION)
  padded      a PUT whose DATA frames are padded
  reqtrailers a PUT ending with request trailers
  bigput      a 1 MB PUT under flow control (waits for WINDOW_UPDATEs)
  reset       reads the headers of a slow response, then RST_STREAM (CANCEL)
  trailers    a response with trailers (NGINX add_trailer)
  goaway      more requests than keepalive_requests: NGINX sends GOAWAY and
              refuses the streams past its last stream id

Usage: h2_client.py [--tls] PORT SCENARIO...
Prints one line per scenario and, last, a JSON summary:
{"answered": N, "reset_by_client": N, "goaway_sent": N}.
"""

import json
import random
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


class Conn:
    def __init__(self, port, tls):
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
            if sock.selected_alpn_protocol() != "h2":
                raise SystemExit("h2_client: the server did not choose h2 through ALPN")
        self.sock = sock
        self.scheme = "https" if tls else "http"
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.h2.update_settings({h2.settings.SettingCodes.MAX_FRAME_SIZE: 16384})
        self.flush()
        self.streams = {}        # id -> {"status", "done", "reset", "refused", "trailers"}
        self.goaway_last = None
        self.ended = []          # stream ids in the order they ended

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, path, extra=(), end_stream=True, flush=True):
        sid = self.h2.get_next_available_stream_id()
        headers = [(":method", method), (":scheme", self.scheme), (":path", path),
                   (":authority", "localhost")] + list(extra)
        self.h2.send_headers(sid, headers, end_stream=end_stream)
        self.streams[sid] = {"status": None, "done": False, "reset": False, "refused": False,
                             "trailers": None}
        if flush:
            self.flush()
        return sid

    def pump(self, until):
        """Reads and handles events until until() is true."""
        while not until():
            data = self.sock.recv(65536)
            if not data:
                break
            for ev in self.h2.receive_data(data):
                self.handle(ev)
            self.flush()

    def handle(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            st["status"] = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.TrailersReceived):
            st["trailers"] = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            st["done"] = True
            self.ended.append(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None and not st["done"]:
                st["reset"] = True
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway_last = ev.last_stream_id
            for sid, s in self.streams.items():
                if sid > ev.last_stream_id and not s["done"]:
                    s["refused"] = True

    def settled(self, sids):
        return lambda: all(self.streams[s]["done"] or self.streams[s]["reset"] or
                           self.streams[s]["refused"] for s in sids)

    def send_body(self, sid, body, pad=None, trailers=None):
        """Sends body under flow control, then trailers or END_STREAM."""
        off = 0
        while off < len(body):
            window = min(self.h2.local_flow_control_window(sid), self.h2.max_outbound_frame_size)
            room = window - (pad + 1 if pad else 0)
            if room <= 0:
                self.pump(lambda: self.h2.local_flow_control_window(sid) > (pad or 0) + 1)
                continue
            chunk = body[off:off + room]
            off += len(chunk)
            last = off == len(body) and trailers is None
            self.h2.send_data(sid, chunk, end_stream=last, pad_length=pad)
            self.flush()
        if trailers is not None:
            self.h2.send_headers(sid, trailers, end_stream=True)
            self.flush()

    def close(self):
        self.h2.close_connection()
        self.flush()
        self.sock.close()


def interleave(c):
    sids = []
    for i in range(100):
        path = "/slow/%d" % i if i % 3 == 0 else "/users/%d" % i
        sids.append(c.request("GET", path))
    c.pump(c.settled(sids))
    ended = [s for s in c.ended if s in sids]
    if ended == sorted(ended):
        raise SystemExit("h2_client: interleave: the streams finished in order")
    return "100 concurrent streams, %d answered, out of order" % sum(c.streams[s]["done"] for s in sids)


def big_headers(c):
    rnd = random.Random(15)
    value = lambda n: "".join(rnd.choice("!#$%&*+-.^_|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))
    extra = [("x-big-%d" % i, value(6000)) for i in range(3)]
    sid = c.request("GET", "/users/big", extra)
    c.pump(c.settled([sid]))
    return "header block > 16 KB: status %s" % c.streams[sid]["status"]


def padded(c):
    sid = c.request("PUT", "/dav/padded.txt", [("content-length", "40000")], end_stream=False)
    c.send_body(sid, b"x" * 40000, pad=200)
    c.pump(c.settled([sid]))
    return "padded DATA: status %s" % c.streams[sid]["status"]


def reqtrailers(c):
    sid = c.request("PUT", "/dav/trailers.txt", [("te", "trailers")], end_stream=False)
    c.send_body(sid, b"y" * 3000, trailers=[("x-trailer", "done")])
    c.pump(c.settled([sid]))
    return "request trailers: status %s" % c.streams[sid]["status"]


def bigput(c):
    sid = c.request("PUT", "/dav/big.bin", [("content-length", str(1 << 20))], end_stream=False)
    c.send_body(sid, bytes(1 << 20))
    c.pump(c.settled([sid]))
    return "1 MB PUT under flow control: status %s" % c.streams[sid]["status"]


def reset(c):
    sid = c.request("GET", "/slow/reset")
    c.pump(lambda: c.streams[sid]["status"] is not None)
    c.h2.reset_stream(sid, error_code=8)      # CANCEL
    c.flush()
    c.streams[sid]["reset"] = True
    c.streams[sid]["by_client"] = True
    # a request after it on the same connection, to see the connection go on
    after = c.request("GET", "/users/after-reset")
    c.pump(c.settled([after]))
    return "client RST_STREAM after status %s" % c.streams[sid]["status"]


def trailers(c):
    sid = c.request("GET", "/trailer/x")
    c.pump(c.settled([sid]))
    t = c.streams[sid]["trailers"] or {}
    return "response trailers: status %s, trailers %s" % (c.streams[sid]["status"], sorted(t))


def goaway(c):
    """170 requests where NGINX allows 150: it answers up to its GOAWAY's last
    stream id and never the rest. python3-h2 refuses frames after a GOAWAY
    (ProtocolError), so the client stops reading there; how many NGINX did
    answer is in its access log (the test counts /users/g* there)."""
    sids = [c.request("GET", "/users/g%d" % i) for i in range(100)]
    c.pump(c.settled(sids))
    more = []
    try:
        # in one write, so all 70 are on the wire before NGINX's GOAWAY:
        # sent one by one, the ones after it would stay in the client's
        # socket (Nagle) when the connection closes, and never be streams
        for i in range(70):
            more.append(c.request("GET", "/users/g%d" % (100 + i), flush=False))
        c.flush()
        c.pump(c.settled(more))
    except h2.exceptions.ProtocolError:
        pass                    # frames after the GOAWAY
    c.goaway_sent = len(sids) + len(more)
    return "%d requests sent, GOAWAY last stream id %s" % (c.goaway_sent, c.goaway_last)


SCENARIOS = {"interleave": interleave, "headers": big_headers, "padded": padded, "reqtrailers": reqtrailers, "bigput": bigput,
             "reset": reset, "trailers": trailers, "goaway": goaway}


def main():
    args = sys.argv[1:]
    tls = bool(args) and args[0] == "--tls"
    if tls:
        args = args[1:]
    port = int(args[0])
    total = {"answered": 0, "reset_by_client": 0, "goaway_sent": 0}
    for name in args[1:]:
        c = Conn(port, tls)
        print("  %s: %s" % (name, SCENARIOS[name](c)))
        for s in c.streams.values():
            total["answered"] += bool(s["done"])
            total["reset_by_client"] += bool(s.get("by_client"))
        total["goaway_sent"] += getattr(c, "goaway_sent", 0)
        try:
            c.close()
        except h2.exceptions.ProtocolError:
            c.sock.close()      # already closed by the GOAWAY
    print(json.dumps(total))


if __name__ == "__main__":
    main()
